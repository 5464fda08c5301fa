#pragma once
// Moves between interleaved complex rows (one signal each) and the FFT's lane
// layout (split re and im arrays, [row][L], lane innermost) in tiles of W lanes
// x W values, W the values in a 32-byte vector: W loads, a W x W transpose in
// registers (log2 W rounds of two-vector shuffles) and W stores, where a
// scalar loop moved one number per load and store. Vector
// extensions (GCC 12+ and Clang), so the baseline build stays portable and
// the AVX2 clone gets real shuffles. Only kernels/cpu/fft.cpp includes this.
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/cpu/clones.h"

// The helpers pass 32-byte vectors by value, which GCC warns changes the ABI
// without AVX; they are always inlined into their callers of the same clone.
// Left off to the end of the including file (fft.cpp, the only one), where
// GCC instantiates the templates and would warn.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace tessel::cpu::fft_lanes {

template <class T>
struct Vec;
template <>
struct Vec<float> {
  typedef float V __attribute__((vector_size(32)));
  static constexpr int W = 8;
};
template <>
struct Vec<double> {
  typedef double V __attribute__((vector_size(32)));
  static constexpr int W = 4;
};

template <class T>
inline typename Vec<T>::V load(const T* p) {
  typename Vec<T>::V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void store(T* p, typename Vec<T>::V v) {
  std::memcpy(p, &v, sizeof v);
}

// One round of the transpose: rows i and i + H (bit H of i clear) swap their
// elements whose index has bit H set with the other's whose index has it clear.
// After the rounds H = 1, 2, .., W/2, row i holds what was column i.
// __builtin_shufflevector (GCC 12+, Clang) takes the lane indices as constants.
template <int W, int H, class V, std::size_t... K>
inline void swap_rows(V* x, V* y, std::index_sequence<K...>) {
  const V a = *x, b = *y;
  *x = __builtin_shufflevector(a, b, ((K & H) ? W + (K ^ H) : K)...);
  *y = __builtin_shufflevector(a, b, ((K & H) ? W + K : (K ^ H))...);
}
template <class T, int H>
inline void transpose_round(typename Vec<T>::V* r) {
  constexpr int W = Vec<T>::W;
  for (int i = 0; i < W; ++i)
    if (!(i & H)) swap_rows<W, H>(r + i, r + i + H, std::make_index_sequence<W>{});
}
template <class T>
inline void transpose(typename Vec<T>::V* r) {
  transpose_round<T, 1>(r);
  transpose_round<T, 2>(r);
  if constexpr (Vec<T>::W == 8) transpose_round<T, 4>(r);
}

// A lane's W values from pair j on are pairs j .. j + W/2 - 1, interleaved:
// the transpose of W lanes' such vectors has rows re_j, im_j, re_{j+1}, .. (row
// c: pair j + c/2, its real part for even c), so the split into re and im
// arrays is only where each row is stored, and two W x W transposes move W
// pairs of W lanes (where splitting each vector first cost 2 more shuffles a lane).

// re/im[j * L + l] = from[l][2 j], sign * from[l][2 j + 1] for l < L, j in [j0, j1).
template <class T, int L>
TESSEL_CLONES_WIDE void gather(const T* const* from, int64_t j0, int64_t j1, T sign, T* re, T* im) {
  using V = typename Vec<T>::V;
  constexpr int W = Vec<T>::W;
  int64_t j = j0;
  if constexpr (L % W == 0) {
    // W rows at a time from start to end: W streams for the prefetcher, not L.
    const int64_t jend = j0 + (j1 - j0) / W * W;
    for (int l0 = 0; l0 < L; l0 += W)
      for (j = j0; j < jend; j += W)
        for (int h = 0; h < 2; ++h) {
          V r[W];
          for (int l = 0; l < W; ++l) r[l] = load<T>(from[l0 + l] + 2 * j + h * W);
          transpose<T>(r);
          for (int c = 0; c < W; c += 2) {
            const int64_t row = (j + h * W / 2 + c / 2) * L + l0;
            store<T>(re + row, r[c]);
            store<T>(im + row, r[c + 1] * sign);
          }
        }
  }
  for (; j < j1; ++j)
    for (int l = 0; l < L; ++l) re[j * L + l] = from[l][2 * j], im[j * L + l] = sign * from[l][2 * j + 1];
}

// to[l][2 k], to[l][2 k + 1] = scale * zr[k * L + l], iscale * zi[k * L + l]
// for l < nq, k in [k0, k1).
template <class T, int L>
TESSEL_CLONES_WIDE void scatter(const T* zr, const T* zi, int64_t k0, int64_t k1, int64_t nq, T scale, T iscale,
                           T* const* to) {
  using V = typename Vec<T>::V;
  constexpr int W = Vec<T>::W;
  int64_t k = k0;
  if constexpr (L % W == 0) {
    const int64_t full = nq / W * W, kend = k0 + (k1 - k0) / W * W;
    for (int64_t l0 = 0; l0 < full; l0 += W)  // W rows at a time from start to end, as gather
      for (k = k0; k < kend; k += W)
        for (int h = 0; h < 2; ++h) {
          V r[W];
          for (int c = 0; c < W; c += 2) {
            const int64_t row = (k + h * W / 2 + c / 2) * L + l0;
            r[c] = load<T>(zr + row) * scale;
            r[c + 1] = load<T>(zi + row) * iscale;
          }
          transpose<T>(r);
          for (int l = 0; l < W; ++l) store<T>(to[l0 + l] + 2 * k + h * W, r[l]);
        }
    for (int64_t l = full; l < nq; ++l)
      for (k = k0; k < kend; ++k) to[l][2 * k] = zr[k * L + l] * scale, to[l][2 * k + 1] = zi[k * L + l] * iscale;
    k = kend;
  }
  for (; k < k1; ++k)
    for (int64_t l = 0; l < nq; ++l) to[l][2 * k] = zr[k * L + l] * scale, to[l][2 * k + 1] = zi[k * L + l] * iscale;
}

// One row of L neighbouring signals (a transform along a leading dim), interleaved
// pairs f[2 l], f[2 l + 1] <-> re[l], im[l]: whole vectors split or joined by
// two-vector shuffles (GCC left these stride-2 loops scalar).
template <class T, int L>
[[gnu::always_inline]] inline void split_run(const T* f, T sign, T* re, T* im) {
  using V = typename Vec<T>::V;
  constexpr int W = Vec<T>::W;
  static_assert(L % W == 0);
  for (int l = 0; l < L; l += W) {
    const V a = load<T>(f + 2 * l), b = load<T>(f + 2 * l + W);
    if constexpr (W == 8) {
      store<T>(re + l, __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
      store<T>(im + l, __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15) * sign);
    } else {
      store<T>(re + l, __builtin_shufflevector(a, b, 0, 2, 4, 6));
      store<T>(im + l, __builtin_shufflevector(a, b, 1, 3, 5, 7) * sign);
    }
  }
}
template <class T, int L>
[[gnu::always_inline]] inline void join_run(const T* re, const T* im, T scale, T iscale, T* o) {
  using V = typename Vec<T>::V;
  constexpr int W = Vec<T>::W;
  static_assert(L % W == 0);
  for (int l = 0; l < L; l += W) {
    const V a = load<T>(re + l) * scale, b = load<T>(im + l) * iscale;
    if constexpr (W == 8) {
      store<T>(o + 2 * l, __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
      store<T>(o + 2 * l + W, __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15));
    } else {
      store<T>(o + 2 * l, __builtin_shufflevector(a, b, 0, 4, 1, 5));
      store<T>(o + 2 * l + W, __builtin_shufflevector(a, b, 2, 6, 3, 7));
    }
  }
}

}  // namespace tessel::cpu::fft_lanes
