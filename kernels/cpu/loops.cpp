// The strided iterator behind CPU elementwise and reduction kernels.
#include "kernels/cpu/loops.h"
#include "kernels/cpu/strided_layout.h"

namespace tessel::cpu {
namespace {

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
