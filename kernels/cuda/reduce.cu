// sum, prod, amax and amin on CUDA. A full reduction runs in two passes (per-block
// partials, then one block), so its result does not depend on timing; other
// reductions give each output a block, or a thread when neighbouring outputs
// are neighbours in memory (reductions over leading dims read coalesced).
#include <algorithm>
#include <cfloat>
#include <climits>

#include "kernels/cuda/device/common.cuh"

namespace tessel::cuda {
namespace {

inline constexpr int kMaxPartials = 1024;

template <Reduce Op, class T>
struct Traits {
  // sum and prod of integers accumulate and answer in int64 (the CPU's accumulate dtype).
  static constexpr bool kWide = (Op == Reduce::sum || Op == Reduce::prod) && std::is_integral_v<T>;
  using Acc = std::conditional_t<kWide, int64_t, acc_t<T>>;
  using Out = std::conditional_t<kWide, int64_t, T>;
  __device__ static Acc identity() {
    if constexpr (Op == Reduce::sum) return Acc(0);
    else if constexpr (Op == Reduce::prod) return Acc(1);
    else if constexpr (std::is_floating_point_v<Acc>) return Op == Reduce::amax ? Acc(-INFINITY) : Acc(INFINITY);
    else if constexpr (Op == Reduce::amax) return std::is_same_v<Acc, int64_t> ? Acc(LLONG_MIN) : Acc(INT_MIN);
    else return std::is_same_v<Acc, int64_t> ? Acc(LLONG_MAX) : Acc(INT_MAX);
  }
  // NaN wins in amax/amin, as on the CPU.
  __device__ __forceinline__ static Acc combine(Acc a, Acc b) {
    if constexpr (Op == Reduce::sum) {
      return a + b;
    } else if constexpr (Op == Reduce::prod) {
      return a * b;
    } else {
      if constexpr (std::is_floating_point_v<Acc>) {
        if (a != a) return a;
        if (b != b) return b;
      }
      return Op == Reduce::amax ? (a > b ? a : b) : (a < b ? a : b);
    }
  }
};

template <class Tr, class Acc>
__device__ Acc block_reduce(Acc v) {
  __shared__ Acc warps[32];
  for (int o = 16; o > 0; o /= 2) v = Tr::combine(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warps[warp] = v;
  __syncthreads();
  const int nwarps = (blockDim.x + 31) / 32;
  v = threadIdx.x < nwarps ? warps[threadIdx.x] : Tr::identity();
  if (warp == 0)
    for (int o = 16; o > 0; o /= 2) v = Tr::combine(v, __shfl_down_sync(0xffffffffu, v, o));
  return v;  // valid in thread 0
}

template <class T>
__device__ __forceinline__ const T* inner_at(const Layout<1>& in, const char* base, int64_t j) {
  if (in.contiguous) return reinterpret_cast<const T*>(base) + j;
  int64_t off[1];
  offsets_of(in, j, off);
  return reinterpret_cast<const T*>(base + off[0]);
}

template <Reduce Op, class T>
__global__ void reduce_block_per_output(Layout<2> outer, Layout<1> inner) {
  using Tr = Traits<Op, T>;
  using Acc = typename Tr::Acc;
  for (int64_t o = blockIdx.x; o < outer.numel; o += gridDim.x) {
    int64_t off[2];
    offsets_of(outer, o, off);
    const char* base = outer.ptrs[1] + off[1];
    Acc acc = Tr::identity();
    for (int64_t j = threadIdx.x; j < inner.numel; j += blockDim.x)
      acc = Tr::combine(acc, convert<Acc>(*inner_at<T>(inner, base, j)));
    acc = block_reduce<Tr>(acc);
    if (threadIdx.x == 0) *reinterpret_cast<typename Tr::Out*>(outer.ptrs[0] + off[0]) = convert<typename Tr::Out>(acc);
    __syncthreads();  // warps[] is reused by the next output
  }
}

template <Reduce Op, class T>
__global__ void reduce_thread_per_output(Layout<2> outer, Layout<1> inner) {
  using Tr = Traits<Op, T>;
  using Acc = typename Tr::Acc;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t o = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; o < outer.numel; o += stride) {
    int64_t off[2];
    offsets_of(outer, o, off);
    const char* base = outer.ptrs[1] + off[1];
    Acc acc = Tr::identity();
    for (int64_t j = 0; j < inner.numel; ++j) acc = Tr::combine(acc, convert<Acc>(*inner_at<T>(inner, base, j)));
    *reinterpret_cast<typename Tr::Out*>(outer.ptrs[0] + off[0]) = convert<typename Tr::Out>(acc);
  }
}

template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

// Pass 1 of a full reduction: one partial per block.
template <Reduce Op, class T, bool Vectorized>
__global__ void reduce_partials(const char* base, Layout<1> inner, typename Traits<Op, T>::Acc* partials) {
  using Tr = Traits<Op, T>;
  using Acc = typename Tr::Acc;
  Acc acc = Tr::identity();
  const int64_t n = inner.numel;
  if constexpr (Vectorized) {
    constexpr int V = 16 / sizeof(T);
    const T* p = reinterpret_cast<const T*>(base);
    const int64_t stride = int64_t{gridDim.x} * blockDim.x * V;
    for (int64_t i = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) * V; i < n; i += stride) {
      if (i + V <= n) {
        const Vec<T, V> v = *reinterpret_cast<const Vec<T, V>*>(p + i);
#pragma unroll
        for (int k = 0; k < V; ++k) acc = Tr::combine(acc, convert<Acc>(v.v[k]));
      } else {
        for (int64_t k = i; k < n; ++k) acc = Tr::combine(acc, convert<Acc>(p[k]));
      }
    }
  } else {
    const int64_t stride = int64_t{gridDim.x} * blockDim.x;
    for (int64_t j = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; j < n; j += stride)
      acc = Tr::combine(acc, convert<Acc>(*inner_at<T>(inner, base, j)));
  }
  acc = block_reduce<Tr>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Pass 2: one block over the partials.
template <Reduce Op, class T>
__global__ void reduce_finish(const typename Traits<Op, T>::Acc* partials, int n, typename Traits<Op, T>::Out* out) {
  using Tr = Traits<Op, T>;
  typename Tr::Acc acc = Tr::identity();
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc = Tr::combine(acc, partials[i]);
  acc = block_reduce<Tr>(acc);
  if (threadIdx.x == 0) *out = convert<typename Tr::Out>(acc);
}

template <Reduce Op, class T>
void run_reduce(const Layout<2>& outer, const Layout<1>& inner, void* scratch, cudaStream_t s) {
  using Acc = typename Traits<Op, T>::Acc;
  const int64_t M = outer.numel, R = inner.numel;
  if (M == 1 && R >= int64_t{kThreads} * 16) {
    constexpr int V = 16 / sizeof(T);
    const int64_t per_block = int64_t{kThreads} * V * 4;
    const int blocks = static_cast<int>(std::min<int64_t>(kMaxPartials, (R + per_block - 1) / per_block));
    auto* partials = static_cast<Acc*>(scratch);
    const char* base = outer.ptrs[1];
    if (inner.contiguous && reinterpret_cast<uintptr_t>(base) % 16 == 0)
      reduce_partials<Op, T, true><<<blocks, kThreads, 0, s>>>(base, inner, partials);
    else
      reduce_partials<Op, T, false><<<blocks, kThreads, 0, s>>>(base, inner, partials);
    reduce_finish<Op, T><<<1, kThreads, 0, s>>>(partials, blocks,
                                                reinterpret_cast<typename Traits<Op, T>::Out*>(outer.ptrs[0]));
    return;
  }
  // Neighbouring outputs read neighbouring inputs: a thread each keeps the reads coalesced.
  const bool coalesced_outputs = outer.ndim > 0 && outer.strides[1][outer.ndim - 1] == int64_t{sizeof(T)};
  if (R <= 32 || (coalesced_outputs && M >= 1024)) {
    reduce_thread_per_output<Op, T><<<blocks_for(M), kThreads, 0, s>>>(outer, inner);
  } else {
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(M, int64_t{1} << 20));
    reduce_block_per_output<Op, T><<<blocks, kThreads, 0, s>>>(outer, inner);
  }
}

template <Reduce Op>
bool reduce_for(int dtype, const Layout<2>& outer, const Layout<1>& inner, void* scratch, cudaStream_t s) {
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    // bool only for sum (counting, as `(pred == y).sum()`), into int64
    if constexpr (std::is_floating_point_v<T> || is_lowp<T> || std::is_same_v<T, int32_t> ||
                  std::is_same_v<T, int64_t> || (Op == Reduce::sum && std::is_same_v<T, bool>)) {
      run_reduce<Op, T>(outer, inner, scratch, s);
      ok = true;
    }
  });
  return ok;
}

}  // namespace

size_t reduce_scratch_bytes() { return kMaxPartials * sizeof(double); }

bool launch_reduce(Reduce op, int dtype, const Layout<2>& outer, const Layout<1>& inner, void* scratch,
                   cudaStream_t s) {
  switch (op) {
    case Reduce::sum: return reduce_for<Reduce::sum>(dtype, outer, inner, scratch, s);
    case Reduce::amax: return reduce_for<Reduce::amax>(dtype, outer, inner, scratch, s);
    case Reduce::amin: return reduce_for<Reduce::amin>(dtype, outer, inner, scratch, s);
    case Reduce::prod: return reduce_for<Reduce::prod>(dtype, outer, inner, scratch, s);
  }
  return false;
}

}  // namespace tessel::cuda
