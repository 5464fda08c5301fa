// copy (with a cast between any two real dtypes) and fill on CUDA.
#include "kernels/cuda/device/common.cuh"

namespace tessel::cuda {
namespace {

template <class To, class From>
__global__ void cast_contiguous(To* out, const From* in, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = convert<To>(in[i]);
}

template <class To, class From>
__global__ void cast_strided(Layout<2> L) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < L.numel; i += stride) {
    int64_t off[2];
    offsets_of(L, i, off);
    *reinterpret_cast<To*>(L.ptrs[0] + off[0]) = convert<To>(*reinterpret_cast<const From*>(L.ptrs[1] + off[1]));
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

template <class U>
void fill_as(const Layout<1>& L, uint64_t bits, cudaStream_t s) {
  U v;
  __builtin_memcpy(&v, &bits, sizeof(U));
  if (L.contiguous) fill_contiguous<U><<<blocks_for(L.numel), kThreads, 0, s>>>(reinterpret_cast<U*>(L.ptrs[0]), L.numel, v);
  else fill_strided<U><<<blocks_for(L.numel), kThreads, 0, s>>>(L, v);
}

}  // namespace

bool launch_copy(int src, int dst, const Layout<2>& L, cudaStream_t s) {
  bool ok = false;
  visit_code(src, [&](auto from) {
    ok = visit_code(dst, [&](auto to) {
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

bool launch_fill(int itemsize, uint64_t bits, const Layout<1>& L, cudaStream_t s) {
  switch (itemsize) {
    case 1: fill_as<uint8_t>(L, bits, s); return true;
    case 2: fill_as<uint16_t>(L, bits, s); return true;
    case 4: fill_as<uint32_t>(L, bits, s); return true;
    case 8: fill_as<uint64_t>(L, bits, s); return true;
    default: return false;
  }
}

}  // namespace tessel::cuda
