#pragma once
// The iterator metadata behind elementwise and reduction loops: the CPU
// iterator (loops.cpp) walks it on threads, the CUDA kernels
// (kernels/cuda/) ship it to the device, so both coalesce dims the same way.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "tessel/error.h"
#include "tessel/tensor.h"

namespace tessel::cpu {

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

// Moves dim k to second-innermost, where the blocked walks (loops.cpp's run_tiled,
// copy.cpp's transpose_copy) cut it into tiles together with the innermost.
template <int N>
void move_to_inner2(StridedLayout<N>& L, int k) {
  const int j = L.ndim - 2;
  std::swap(L.sizes[k], L.sizes[j]);
  for (int i = 0; i < N; ++i) std::swap(L.strides[i][k], L.strides[i][j]);
}

// Each operand's address at index o of dims [0, nd), counted row-major.
template <int N>
std::array<char*, N> address_at(const StridedLayout<N>& L, int nd, int64_t o, const std::array<char*, N>& base) {
  std::array<char*, N> p = base;
  for (int d = nd - 1; d >= 0; --d) {
    const int64_t id = o % L.sizes[d];
    o /= L.sizes[d];
    for (int i = 0; i < N; ++i) p[i] += id * L.strides[i][d];
  }
  return p;
}

}  // namespace tessel::cpu
