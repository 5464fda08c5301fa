// Comparisons (eq ne lt le gt ge), logical ops (and or xor not: nonzero is true, NaN
// too) and the predicates isnan isinf isfinite, all with bool out, and where on CUDA.
#include "kernels/cuda/device/common.cuh"

namespace tessel::cuda {
namespace {

template <Compare Op, class C>
__device__ __forceinline__ bool compare(C a, C b) {
  if constexpr (Op == Compare::eq) return a == b;
  else if constexpr (Op == Compare::ne) return a != b;
  else if constexpr (Op == Compare::lt) return a < b;
  else if constexpr (Op == Compare::le) return a <= b;
  else if constexpr (Op == Compare::gt) return a > b;
  else if constexpr (Op == Compare::ge) return a >= b;
  else if constexpr (Op == Compare::logical_and) return a != C(0) && b != C(0);
  else if constexpr (Op == Compare::logical_or) return a != C(0) || b != C(0);
  else if constexpr (Op == Compare::logical_xor) return (a != C(0)) != (b != C(0));
  else if constexpr (Op == Compare::logical_not) return a == C(0);
  else if constexpr (Op == Compare::isnan) return a != a;
  else if constexpr (Op == Compare::isinf) {
    if constexpr (std::is_floating_point_v<C>) return isinf(a);
    else return false;
  } else {  // isfinite
    if constexpr (std::is_floating_point_v<C>) return isfinite(a);
    else return true;
  }
}

template <Compare Op, class T>
__global__ void compare_kernel(Layout<3> L) {
  using C = acc_t<T>;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < L.numel; i += stride) {
    int64_t off[3];
    if (L.contiguous) off[0] = i, off[1] = off[2] = i * int64_t{sizeof(T)};
    else offsets_of(L, i, off);
    const C a = convert<C>(*reinterpret_cast<const T*>(L.ptrs[1] + off[1]));
    const C b = convert<C>(*reinterpret_cast<const T*>(L.ptrs[2] + off[2]));
    *reinterpret_cast<bool*>(L.ptrs[0] + off[0]) = compare<Op>(a, b);
  }
}

template <class T>
__global__ void where_kernel(Layout<4> L) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < L.numel; i += stride) {
    int64_t off[4];
    if (L.contiguous) off[0] = off[2] = off[3] = i * int64_t{sizeof(T)}, off[1] = i;
    else offsets_of(L, i, off);
    const bool c = *reinterpret_cast<const bool*>(L.ptrs[1] + off[1]);
    *reinterpret_cast<T*>(L.ptrs[0] + off[0]) = *reinterpret_cast<const T*>(L.ptrs[c ? 2 : 3] + off[c ? 2 : 3]);
  }
}

template <Compare Op>
bool compare_for(int dtype, const Layout<3>& L, cudaStream_t s) {
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr bool is_float = std::is_floating_point_v<T> || is_lowp<T>;
    constexpr bool logical = Op == Compare::logical_and || Op == Compare::logical_or ||
                             Op == Compare::logical_xor || Op == Compare::logical_not;
    constexpr bool predicate = Op == Compare::isnan || Op == Compare::isinf || Op == Compare::isfinite;
    if constexpr (logical || (predicate && is_float) ||
                  (!predicate && (is_float || std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>))) {
      compare_kernel<Op, T><<<blocks_for(L.numel), kThreads, 0, s>>>(L);
      ok = true;
    }
  });
  return ok;
}

}  // namespace

bool launch_compare(Compare op, int dtype, const Layout<3>& L, cudaStream_t s) {
  switch (op) {
    case Compare::eq: return compare_for<Compare::eq>(dtype, L, s);
    case Compare::ne: return compare_for<Compare::ne>(dtype, L, s);
    case Compare::lt: return compare_for<Compare::lt>(dtype, L, s);
    case Compare::le: return compare_for<Compare::le>(dtype, L, s);
    case Compare::gt: return compare_for<Compare::gt>(dtype, L, s);
    case Compare::ge: return compare_for<Compare::ge>(dtype, L, s);
    case Compare::logical_and: return compare_for<Compare::logical_and>(dtype, L, s);
    case Compare::logical_or: return compare_for<Compare::logical_or>(dtype, L, s);
    case Compare::logical_xor: return compare_for<Compare::logical_xor>(dtype, L, s);
    case Compare::logical_not: return compare_for<Compare::logical_not>(dtype, L, s);
    case Compare::isnan: return compare_for<Compare::isnan>(dtype, L, s);
    case Compare::isinf: return compare_for<Compare::isinf>(dtype, L, s);
    case Compare::isfinite: return compare_for<Compare::isfinite>(dtype, L, s);
  }
  return false;
}

// where moves bytes: one instantiation per item size serves every dtype.
bool launch_where(int dtype, const Layout<4>& L, cudaStream_t s) {
  int size = 0;
  visit_code(dtype, [&](auto tag) { size = static_cast<int>(sizeof(tag)); });
  switch (size) {
    case 1: where_kernel<uint8_t><<<blocks_for(L.numel), kThreads, 0, s>>>(L); return true;
    case 2: where_kernel<uint16_t><<<blocks_for(L.numel), kThreads, 0, s>>>(L); return true;
    case 4: where_kernel<uint32_t><<<blocks_for(L.numel), kThreads, 0, s>>>(L); return true;
    case 8: where_kernel<uint64_t><<<blocks_for(L.numel), kThreads, 0, s>>>(L); return true;
    default: return false;
  }
}

}  // namespace tessel::cuda
