#pragma once
// Moves between interleaved complex rows (one signal each) and the FFT's lane
// layout (split re and im arrays, [row][L], lane innermost) in tiles of W lanes
// x W samples, W the values in a 32-byte vector: W pairs of loads, a W x W
// transpose in registers (log2 W rounds of two-vector shuffles) and W stores
// per array, where a scalar loop moved one number per load and store. Vector
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

// Complex pairs <-> split re and im vectors with in-lane shuffles only (one
// shufps or unpck each, where the order-keeping cross-lane version took three):
// position e of the split vectors holds pair kPerm[e] (the same order both
// ways, an involution). The transposes make that order a choice of which row
// is stored or loaded where, so it costs nothing.
template <class T>
constexpr int kPerm[8] = {0, 1, 4, 5, 2, 3, 6, 7};
template <>
constexpr int kPerm<double>[8] = {0, 2, 1, 3};

template <int Odd, class V>
[[gnu::always_inline]] inline V deinterleave(V a, V b) {
  if constexpr (sizeof(a[0]) == 4)
    return __builtin_shufflevector(a, b, 0 + Odd, 2 + Odd, 8 + Odd, 10 + Odd, 4 + Odd, 6 + Odd, 12 + Odd, 14 + Odd);
  else
    return __builtin_shufflevector(a, b, 0 + Odd, 4 + Odd, 2 + Odd, 6 + Odd);
}
template <int Half, class V>
[[gnu::always_inline]] inline V interleave(V re, V im) {
  if constexpr (sizeof(re[0]) == 4)
    return __builtin_shufflevector(re, im, 0 + 2 * Half, 8 + 2 * Half, 1 + 2 * Half, 9 + 2 * Half, 4 + 2 * Half,
                                   12 + 2 * Half, 5 + 2 * Half, 13 + 2 * Half);
  else
    return __builtin_shufflevector(re, im, 0 + Half, 4 + Half, 2 + Half, 6 + Half);
}

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
      for (j = j0; j < jend; j += W) {
        V r[W], i[W];
        for (int l = 0; l < W; ++l) {
          const T* f = from[l0 + l] + 2 * j;
          const V a = load<T>(f), b = load<T>(f + W);
          r[l] = deinterleave<0>(a, b);
          i[l] = deinterleave<1>(a, b) * sign;
        }
        transpose<T>(r);
        transpose<T>(i);
        for (int k = 0; k < W; ++k) {
          store<T>(re + (j + kPerm<T>[k]) * L + l0, r[k]);
          store<T>(im + (j + kPerm<T>[k]) * L + l0, i[k]);
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
      for (k = k0; k < kend; k += W) {
        V r[W], i[W];
        for (int j = 0; j < W; ++j) {
          r[j] = load<T>(zr + (k + kPerm<T>[j]) * L + l0) * scale;
          i[j] = load<T>(zi + (k + kPerm<T>[j]) * L + l0) * iscale;
        }
        transpose<T>(r);
        transpose<T>(i);
        for (int l = 0; l < W; ++l) {
          T* o = to[l0 + l] + 2 * k;
          store<T>(o, interleave<0>(r[l], i[l]));
          store<T>(o + W, interleave<1>(r[l], i[l]));
        }
      }
    for (int64_t l = full; l < nq; ++l)
      for (k = k0; k < kend; ++k) to[l][2 * k] = zr[k * L + l] * scale, to[l][2 * k + 1] = zi[k * L + l] * iscale;
    k = kend;
  }
  for (; k < k1; ++k)
    for (int64_t l = 0; l < nq; ++l) to[l][2 * k] = zr[k * L + l] * scale, to[l][2 * k + 1] = zi[k * L + l] * iscale;
}

}  // namespace tessel::cpu::fft_lanes
