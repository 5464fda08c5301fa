// The strided iterator behind CPU elementwise and reduction kernels.
#include "kernels/cpu/loops.h"

namespace tessel::cpu {
namespace {

inline constexpr int kMaxLoopDims = 16;

template <int N>
struct StridedLayout {
  int ndim = 0;
  int64_t numel = 1;
  std::array<int64_t, kMaxLoopDims> sizes{};  // innermost last
  std::array<std::array<int64_t, kMaxLoopDims>, N> strides{};
};

// Drops size-1 dims, orders dims by operand 0's strides (outermost first) and
// merges dims that are contiguous for every operand.
template <int N>
StridedLayout<N> make_layout(const std::array<const Tensor*, N>& ts) {
  StridedLayout<N> L;
  const Tensor& t0 = *ts[0];
  const int nd = static_cast<int>(t0.dim());
  std::array<int, 64> order{};
  int kept = 0;
  for (int d = 0; d < nd; ++d) {
    if (t0.shape()[d] == 0) {
      L.numel = 0;
      return L;
    }
    if (t0.shape()[d] != 1) order[kept++] = d;
  }
  // Insertion sort (stable, no allocation: std::stable_sort allocates a buffer,
  // which showed up in the per-op cost of tiny ops).
  for (int k = 1; k < kept; ++k) {
    const int d = order[k];
    const int64_t sd = std::llabs(t0.strides()[d]);
    int j = k;
    for (; j > 0 && std::llabs(t0.strides()[order[j - 1]]) < sd; --j) order[j] = order[j - 1];
    order[j] = d;
  }
  int n = 0;
  for (int k = 0; k < kept; ++k) {
    const int d = order[k];
    const int64_t size = t0.shape()[d];
    std::array<int64_t, N> st;
    for (int i = 0; i < N; ++i) st[i] = ts[i]->strides()[d] * static_cast<int64_t>(ts[i]->itemsize());
    bool merge = n > 0;
    for (int i = 0; i < N && merge; ++i) merge = L.strides[i][n - 1] == st[i] * size;
    if (merge) {
      L.sizes[n - 1] *= size;
      for (int i = 0; i < N; ++i) L.strides[i][n - 1] = st[i];
    } else {
      if (n == kMaxLoopDims) fail<Error>("iterator", "more than ", kMaxLoopDims, " non-mergeable dims are not supported");
      L.sizes[n] = size;
      for (int i = 0; i < N; ++i) L.strides[i][n] = st[i];
      ++n;
    }
  }
  L.ndim = n;
  L.numel = t0.numel();
  return L;
}

// Runs fn over linear positions [begin, end) of the layout.
template <int N>
void run_range(const StridedLayout<N>& L, char* const* base, int64_t begin, int64_t end, LoopFn fn, void* ctx) {
  std::array<int64_t, N> inner{};
  std::array<char*, N> p;
  if (L.ndim == 0) {  // a single element
    for (int i = 0; i < N; ++i) p[i] = base[i];
    fn(ctx, p.data(), inner.data(), 1);
    return;
  }
  const int last = L.ndim - 1;
  for (int i = 0; i < N; ++i) inner[i] = L.strides[i][last];
  const int64_t inner_n = L.sizes[last];
  std::array<int64_t, kMaxLoopDims> idx{};
  int64_t rem = begin / inner_n;
  for (int d = last - 1; d >= 0; --d) {
    idx[d] = rem % L.sizes[d];
    rem /= L.sizes[d];
  }
  int64_t pos = begin;
  int64_t j = begin % inner_n;
  while (pos < end) {
    for (int i = 0; i < N; ++i) {
      int64_t off = j * inner[i];
      for (int d = 0; d < last; ++d) off += idx[d] * L.strides[i][d];
      p[i] = base[i] + off;
    }
    const int64_t n = std::min(inner_n - j, end - pos);
    fn(ctx, p.data(), inner.data(), n);
    pos += n;
    j = 0;
    for (int d = last - 1; d >= 0; --d) {
      if (++idx[d] < L.sizes[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

template <int N>
void for_each_impl(const std::array<const Tensor*, N>& ts, LoopFn fn, void* ctx, bool parallel, int64_t cost) {
  const StridedLayout<N> L = make_layout<N>(ts);
  if (L.numel == 0) return;
  std::array<char*, N> base;
  for (int i = 0; i < N; ++i) base[i] = static_cast<char*>(ts[i]->data_ptr());
  const int nt = parallel ? std::min<int64_t>(threads_for(L.numel * std::max<int64_t>(cost, 1)), L.numel) : 1;
  if (nt <= 1) {
    run_range<N>(L, base.data(), 0, L.numel, fn, ctx);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    run_range<N>(L, base.data(), L.numel * t / T, L.numel * (t + 1) / T, fn, ctx);
  }
}

template void for_each_impl<1>(const std::array<const Tensor*, 1>&, LoopFn, void*, bool, int64_t);
template void for_each_impl<2>(const std::array<const Tensor*, 2>&, LoopFn, void*, bool, int64_t);
template void for_each_impl<3>(const std::array<const Tensor*, 3>&, LoopFn, void*, bool, int64_t);
template void for_each_impl<4>(const std::array<const Tensor*, 4>&, LoopFn, void*, bool, int64_t);

}  // namespace tessel::cpu
