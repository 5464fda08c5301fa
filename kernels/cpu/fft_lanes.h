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

template <int Odd, class V, std::size_t... K>
inline V deinterleave(V a, V b, std::index_sequence<K...>) {
  return __builtin_shufflevector(a, b, (2 * int(K) + Odd)...);
}
template <int W, int Half, class V, std::size_t... K>
inline V interleave(V re, V im, std::index_sequence<K...>) {
  return __builtin_shufflevector(re, im, ((K % 2) ? W + Half * W / 2 + int(K) / 2 : Half * W / 2 + int(K) / 2)...);
}

// re/im[j * L + l] = from[l][2 j], sign * from[l][2 j + 1] for l < L, j in [j0, j1).
template <class T, int L>
TESSEL_CLONES void gather(const T* const* from, int64_t j0, int64_t j1, T sign, T* re, T* im) {
  using V = typename Vec<T>::V;
  constexpr int W = Vec<T>::W;
  constexpr auto idx = std::make_index_sequence<W>{};
  int64_t j = j0;
  if constexpr (L % W == 0) {
    for (; j + W <= j1; j += W)
      for (int l0 = 0; l0 < L; l0 += W) {
        V r[W], i[W];
        for (int l = 0; l < W; ++l) {
          const T* f = from[l0 + l] + 2 * j;
          const V a = load<T>(f), b = load<T>(f + W);
          r[l] = deinterleave<0>(a, b, idx);
          i[l] = deinterleave<1>(a, b, idx) * sign;
        }
        transpose<T>(r);
        transpose<T>(i);
        for (int k = 0; k < W; ++k) {
          store<T>(re + (j + k) * L + l0, r[k]);
          store<T>(im + (j + k) * L + l0, i[k]);
        }
      }
  }
  for (; j < j1; ++j)
    for (int l = 0; l < L; ++l) re[j * L + l] = from[l][2 * j], im[j * L + l] = sign * from[l][2 * j + 1];
}

// to[l][2 k], to[l][2 k + 1] = scale * zr[k * L + l], iscale * zi[k * L + l]
// for l < nq, k in [k0, k1).
template <class T, int L>
TESSEL_CLONES void scatter(const T* zr, const T* zi, int64_t k0, int64_t k1, int64_t nq, T scale, T iscale,
                           T* const* to) {
  using V = typename Vec<T>::V;
  constexpr int W = Vec<T>::W;
  constexpr auto idx = std::make_index_sequence<W>{};
  int64_t k = k0;
  if constexpr (L % W == 0) {
    const int64_t full = nq / W * W;
    for (; k + W <= k1; k += W) {
      for (int64_t l0 = 0; l0 < full; l0 += W) {
        V r[W], i[W];
        for (int j = 0; j < W; ++j) {
          r[j] = load<T>(zr + (k + j) * L + l0) * scale;
          i[j] = load<T>(zi + (k + j) * L + l0) * iscale;
        }
        transpose<T>(r);
        transpose<T>(i);
        for (int l = 0; l < W; ++l) {
          T* o = to[l0 + l] + 2 * k;
          store<T>(o, interleave<W, 0>(r[l], i[l], idx));
          store<T>(o + W, interleave<W, 1>(r[l], i[l], idx));
        }
      }
      for (int64_t l = full; l < nq; ++l)
        for (int64_t kk = k; kk < k + W; ++kk)
          to[l][2 * kk] = zr[kk * L + l] * scale, to[l][2 * kk + 1] = zi[kk * L + l] * iscale;
    }
  }
  for (; k < k1; ++k)
    for (int64_t l = 0; l < nq; ++l) to[l][2 * k] = zr[k * L + l] * scale, to[l][2 * k + 1] = zi[k * L + l] * iscale;
}

}  // namespace tessel::cpu::fft_lanes
