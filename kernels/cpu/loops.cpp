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

// An input that walks memory across the output's order (x.t() copied into a
// contiguous tensor, x.t() + y with y contiguous) reads a new cache line, and
// past 4 KiB strides a new page, for every element of the inner run: 2048 x 1024
// floats took 10.6 ms to transpose (PyTorch 1.4; copies now take copy.cpp's
// blocked transpose, and binary ops copy such an operand first, so this is for the
// rest: hypot(x.t(), y) 2048 x 1024 15.7 -> 8.4 ms). Such a layout is walked in
// tiles instead: the dim along which that input is contiguous becomes the
// second-innermost, and both are cut into blocks (a cache line of that input along it, kTileL along
// the innermost), so each line the input touches is used for a whole line's
// worth of elements while it is in L1. Only for pure maps (no operand broadcast
// along the tiled dims, the output written once per element) of at least
// kTileMin elements; the order of visits changes, not what is computed.
constexpr int64_t kTileL = 16, kTileMin = int64_t{1} << 14;

// The dim (not the innermost) to tile with the innermost, or -1, and the input
// that asks for it: the one with the largest inner stride, when that is at least
// a cache line and the input has a unit-stride dim.
template <int N>
int tile_dim(const StridedLayout<N>& L, const std::array<const Tensor*, N>& ts, int& worst) {
  if (L.ndim < 2 || L.numel < kTileMin) return -1;
  const int last = L.ndim - 1;
  worst = -1;
  int64_t ws = 0;
  for (int i = 1; i < N; ++i) {
    const int64_t s = std::llabs(L.strides[i][last]);
    if (s >= 64 && s > ws) worst = i, ws = s;
  }
  if (worst < 0 || L.sizes[last] < 2 * kTileL) return -1;
  int k = -1;
  for (int d = 0; d < last; ++d)
    if (std::llabs(L.strides[worst][d]) == static_cast<int64_t>(ts[worst]->itemsize())) k = d;
  if (k < 0 || L.sizes[k] < 4) return -1;
  // The output contiguous along the innermost dim (an output slot with a stride, stack's,
  // ran 1.5x slower in 16-element runs), and written once per element (a pure map).
  if (L.strides[0][last] != static_cast<int64_t>(ts[0]->itemsize())) return -1;
  for (int d = 0; d < last; ++d)
    if (L.strides[0][d] == 0) return -1;
  for (int i = 1; i < N; ++i)  // and no input broadcast along the two dims
    if (L.strides[i][k] == 0 || L.strides[i][last] == 0) return -1;
  return k;
}

// The tiled walk: dim k moved to second-innermost, then rows of tiles of the
// two innermost dims, whole tile rows per thread.
template <int N>
void run_tiled(StridedLayout<N> L, int k, const std::array<char*, N>& base, LoopFn fn, void* ctx, int nt,
               int64_t item) {
  const int last = L.ndim - 1, inner2 = last - 1;
  move_to_inner2(L, k);
  const int64_t tk = std::max<int64_t>(64 / std::max<int64_t>(item, 1), 1);  // one cache line of the input
  const int64_t nk = L.sizes[inner2], nl = L.sizes[last], kblocks = (nk + tk - 1) / tk;
  int64_t outer = 1;
  for (int d = 0; d < inner2; ++d) outer *= L.sizes[d];
  const int64_t rows = outer * kblocks;
  std::array<int64_t, N> inner{};
  for (int i = 0; i < N; ++i) inner[i] = L.strides[i][last];
  const auto body = [&](int64_t r0, int64_t r1) {
    std::array<char*, N> p;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t kb = r % kblocks;
      const std::array<char*, N> row = address_at<N>(L, inner2, r / kblocks, base);
      const int64_t k0 = kb * tk, k1 = std::min(nk, k0 + tk);
      for (int64_t l0 = 0; l0 < nl; l0 += kTileL) {
        const int64_t n = std::min(kTileL, nl - l0);
        for (int64_t kk = k0; kk < k1; ++kk) {
          for (int i = 0; i < N; ++i) p[i] = row[i] + kk * L.strides[i][inner2] + l0 * inner[i];
          fn(ctx, p.data(), inner.data(), n);
        }
      }
    }
  };
  if (nt <= 1 || rows < 2) {
    body(0, rows);
    return;
  }
  const int T = static_cast<int>(std::min<int64_t>(nt, rows));
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    body(rows * t / n, rows * (t + 1) / n);
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
  int worst = -1;
  if (const int k = N > 1 ? tile_dim<N>(L, ts, worst) : -1; k >= 0) {
    run_tiled<N>(L, k, base, fn, ctx, nt, static_cast<int64_t>(ts[worst]->itemsize()));
    return;
  }
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
