#pragma once
// The one strided iterator behind CPU elementwise and reduction kernels.
// It drops size-1 dims, orders dims by the first operand's strides, merges
// dims that are contiguous for every operand, and hands the innermost run to
// `f(char** ptrs, const int64_t* strides, int64_t n)` (byte strides).
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>

#include "tessel/tensor.h"

namespace tessel::cpu {

// Below this many elements a loop runs on the calling thread: thread start-up
// costs more than the work.
inline constexpr int64_t kGrainSize = 32768;

template <int N>
struct StridedLayout {
  int ndim = 0;
  int64_t numel = 1;
  std::array<int64_t, 16> sizes{};  // innermost last
  std::array<std::array<int64_t, 16>, N> strides{};
};

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
  // Outermost first: descending by |stride| of operand 0 (the output), stable.
  std::stable_sort(order.begin(), order.begin() + kept, [&](int a, int b) {
    const int64_t sa = std::llabs(t0.strides()[a]), sb = std::llabs(t0.strides()[b]);
    return sa > sb;
  });
  int n = 0;
  for (int k = 0; k < kept; ++k) {
    const int d = order[k];
    const int64_t size = t0.shape()[d];
    bool merge = n > 0;
    for (int i = 0; i < N && merge; ++i) {
      const int64_t s = ts[i]->strides()[d] * static_cast<int64_t>(ts[i]->itemsize());
      merge = L.strides[i][n - 1] == s * size;
    }
    if (merge) {
      L.sizes[n - 1] *= size;
      for (int i = 0; i < N; ++i) L.strides[i][n - 1] = ts[i]->strides()[d] * static_cast<int64_t>(ts[i]->itemsize());
    } else {
      if (n == 16) fail<Error>("iterator", "more than 16 non-mergeable dims are not supported");
      L.sizes[n] = size;
      for (int i = 0; i < N; ++i) L.strides[i][n] = ts[i]->strides()[d] * static_cast<int64_t>(ts[i]->itemsize());
      ++n;
    }
  }
  L.ndim = n;
  L.numel = t0.numel();
  return L;
}

// Runs f over linear positions [begin, end) of the layout.
template <int N, class F>
void run_range(const StridedLayout<N>& L, char* const* base, int64_t begin, int64_t end, F& f) {
  std::array<int64_t, N> inner{};
  if (L.ndim == 0) {  // a single element
    std::array<char*, N> p;
    for (int i = 0; i < N; ++i) p[i] = base[i];
    f(p.data(), inner.data(), int64_t{1});
    return;
  }
  const int last = L.ndim - 1;
  for (int i = 0; i < N; ++i) inner[i] = L.strides[i][last];
  const int64_t inner_n = L.sizes[last];
  std::array<int64_t, 16> idx{};
  int64_t rem = begin / inner_n;
  for (int d = last - 1; d >= 0; --d) {
    idx[d] = rem % L.sizes[d];
    rem /= L.sizes[d];
  }
  int64_t pos = begin;
  int64_t j = begin % inner_n;
  while (pos < end) {
    std::array<char*, N> p;
    for (int i = 0; i < N; ++i) {
      int64_t off = j * inner[i];
      for (int d = 0; d < last; ++d) off += idx[d] * L.strides[i][d];
      p[i] = base[i] + off;
    }
    const int64_t n = std::min(inner_n - j, end - pos);
    f(p.data(), inner.data(), n);
    pos += n;
    j = 0;
    for (int d = last - 1; d >= 0; --d) {
      if (++idx[d] < L.sizes[d]) break;
      idx[d] = 0;
    }
  }
}

inline int threads_for(int64_t work) {
  if (work < kGrainSize) return 1;
  return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), work / kGrainSize));
}

// Elementwise loop over tensors of one shape (operand 0 is the output).
template <int N, class F>
void for_each(const std::array<const Tensor*, N>& ts, F&& f) {
  const StridedLayout<N> L = make_layout<N>(ts);
  if (L.numel == 0) return;
  std::array<char*, N> base;
  for (int i = 0; i < N; ++i) base[i] = static_cast<char*>(ts[i]->data_ptr());
  const int nt = threads_for(L.numel);
  if (nt <= 1) {
    run_range<N>(L, base.data(), 0, L.numel, f);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t b = L.numel * t / T, e = L.numel * (t + 1) / T;
    run_range<N>(L, base.data(), b, e, f);
  }
}

// Same, always on the calling thread (reductions that accumulate into out).
template <int N, class F>
void for_each_serial(const std::array<const Tensor*, N>& ts, F&& f) {
  const StridedLayout<N> L = make_layout<N>(ts);
  if (L.numel == 0) return;
  std::array<char*, N> base;
  for (int i = 0; i < N; ++i) base[i] = static_cast<char*>(ts[i]->data_ptr());
  run_range<N>(L, base.data(), 0, L.numel, f);
}

// parallel_for over [0, n) in contiguous chunks, serial for small n.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  const int nt = threads_for(n * std::max<int64_t>(cost_per_item, 1));
  if (nt <= 1 || n < 2) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(std::min<int64_t>(nt, n))
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    f(n * t / T, n * (t + 1) / T);
  }
}

}  // namespace tessel::cpu
