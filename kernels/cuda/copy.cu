// copy (with a cast between any two dtypes but the cast-only ones) and fill on CUDA.
#include "kernels/cuda/device/common.cuh"

namespace tessel::cuda {
namespace {

// std::complex's layout; only copies see these.
struct alignas(8) c64 { float re, im; };
struct alignas(16) c128 { double re, im; };
template <class T>
inline constexpr bool is_cplx = std::is_same_v<T, c64> || std::is_same_v<T, c128>;

// The CPU's complex rules (tessel/cast.h): the real part alone, except bool (either part).
template <class To, class From>
__device__ __forceinline__ To cast(From x) {
  if constexpr (is_cplx<To> && is_cplx<From>) {
    using R = decltype(To::re);
    return To{static_cast<R>(x.re), static_cast<R>(x.im)};
  } else if constexpr (is_cplx<To>) {
    using R = decltype(To::re);
    return To{convert<R>(x), R(0)};
  } else if constexpr (is_cplx<From>) {
    if constexpr (std::is_same_v<To, bool>) return x.re != 0 || x.im != 0;
    else return convert<To>(x.re);
  } else {
    return convert<To>(x);
  }
}

template <class F>
bool visit_copy_code(int code, F&& f) {
  switch (code) {
    case kComplex64: f(c64{}); return true;
    case kComplex128: f(c128{}); return true;
    case kUInt16: f(uint16_t{}); return true;
    case kUInt32: f(uint32_t{}); return true;
    case kUInt64: f(uint64_t{}); return true;
    default: return visit_code(code, f);
  }
}

template <class To, class From>
__global__ void cast_contiguous(To* out, const From* in, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = cast<To>(in[i]);
}

template <class To, class From>
__global__ void cast_strided(Layout<2> L) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < L.numel; i += stride) {
    int64_t off[2];
    offsets_of(L, i, off);
    *reinterpret_cast<To*>(L.ptrs[0] + off[0]) = cast<To>(*reinterpret_cast<const From*>(L.ptrs[1] + off[1]));
  }
}

template <class U>
__global__ void fill_strided(Layout<1> L, U value) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < L.numel; i += stride) {
    int64_t off[1];
    offsets_of(L, i, off);
    *reinterpret_cast<U*>(L.ptrs[0] + off[0]) = value;
  }
}

template <class U>
__global__ void fill_contiguous(U* out, int64_t n, U value) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = value;
}

struct alignas(16) bytes16 { uint64_t lo, hi; };

template <class U>
void fill_as(const Layout<1>& L, const void* value, cudaStream_t s) {
  U v;
  __builtin_memcpy(&v, value, sizeof(U));
  if (L.contiguous) fill_contiguous<U><<<blocks_for(L.numel), kThreads, 0, s>>>(reinterpret_cast<U*>(L.ptrs[0]), L.numel, v);
  else fill_strided<U><<<blocks_for(L.numel), kThreads, 0, s>>>(L, v);
}

}  // namespace

bool launch_copy(int src, int dst, const Layout<2>& L, cudaStream_t s) {
  bool ok = false;
  visit_copy_code(src, [&](auto from) {
    ok = visit_copy_code(dst, [&](auto to) {
      using From = decltype(from);
      using To = decltype(to);
      if (L.contiguous)
        cast_contiguous<To, From><<<blocks_for(L.numel), kThreads, 0, s>>>(reinterpret_cast<To*>(L.ptrs[0]),
                                                                          reinterpret_cast<const From*>(L.ptrs[1]), L.numel);
      else
        cast_strided<To, From><<<blocks_for(L.numel), kThreads, 0, s>>>(L);
    });
  });
  return ok;
}

bool launch_fill(int itemsize, const void* value, const Layout<1>& L, cudaStream_t s) {
  switch (itemsize) {
    case 1: fill_as<uint8_t>(L, value, s); return true;
    case 2: fill_as<uint16_t>(L, value, s); return true;
    case 4: fill_as<uint32_t>(L, value, s); return true;
    case 8: fill_as<uint64_t>(L, value, s); return true;
    case 16: fill_as<bytes16>(L, value, s); return true;
    default: return false;
  }
}

}  // namespace tessel::cuda
