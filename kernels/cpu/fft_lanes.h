#pragma once
// Moves between interleaved complex rows (one signal each) and the FFT's lane
// layout (split re and im arrays, [row][L], lane innermost) in tiles of W lanes
// x W samples, W the values in a 32-byte vector: W pairs of loads, a W x W
// transpose in registers (log2 W rounds of two-vector shuffles) and W stores
// per array, where a scalar loop moved one number per load and store. GCC
// vector extensions, so the baseline build stays portable and the AVX2 clone
// gets real shuffles. Only kernels/cpu/fft.cpp includes this.
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/cpu/clones.h"

// The masks are built by constexpr functions returning 32-byte vectors, which
// GCC warns change the ABI without AVX; they only ever run at compile time.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace tessel::cpu::fft_lanes {

template <class T>
struct Vec;
template <>
struct Vec<float> {
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t M __attribute__((vector_size(32)));
  static constexpr int W = 8;
};
template <>
struct Vec<double> {
  typedef double V __attribute__((vector_size(32)));
  typedef int64_t M __attribute__((vector_size(32)));
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
template <class M, int W, int H, bool First, std::size_t... K>
constexpr M swap_mask(std::index_sequence<K...>) {
  return M{(First ? ((K & H) ? W + (K ^ H) : K) : ((K & H) ? W + K : (K ^ H)))...};
}
template <class T, int H>
inline void transpose_round(typename Vec<T>::V* r) {
  using M = typename Vec<T>::M;
  constexpr int W = Vec<T>::W;
  constexpr M lo = swap_mask<M, W, H, true>(std::make_index_sequence<W>{});
  constexpr M hi = swap_mask<M, W, H, false>(std::make_index_sequence<W>{});
  for (int i = 0; i < W; ++i)
    if (!(i & H)) {
      const auto x = r[i], y = r[i + H];
      r[i] = __builtin_shuffle(x, y, lo);
      r[i + H] = __builtin_shuffle(x, y, hi);
    }
}
template <class T>
inline void transpose(typename Vec<T>::V* r) {
  transpose_round<T, 1>(r);
  transpose_round<T, 2>(r);
  if constexpr (Vec<T>::W == 8) transpose_round<T, 4>(r);
}

template <class M, int W, int Odd, std::size_t... K>
constexpr M deinterleave_mask(std::index_sequence<K...>) {
  return M{(2 * int(K) + Odd)...};
}
template <class M, int W, int Half, std::size_t... K>
constexpr M interleave_mask(std::index_sequence<K...>) {
  return M{((K % 2) ? W + Half * W / 2 + int(K) / 2 : Half * W / 2 + int(K) / 2)...};
}

// re/im[j * L + l] = from[l][2 j], sign * from[l][2 j + 1] for l < L, j in [j0, j1).
template <class T, int L>
TESSEL_CLONES void gather(const T* const* from, int64_t j0, int64_t j1, T sign, T* re, T* im) {
  using V = typename Vec<T>::V;
  using M = typename Vec<T>::M;
  constexpr int W = Vec<T>::W;
  int64_t j = j0;
  if constexpr (L % W == 0) {
    constexpr M even = deinterleave_mask<M, W, 0>(std::make_index_sequence<W>{});
    constexpr M odd = deinterleave_mask<M, W, 1>(std::make_index_sequence<W>{});
    for (; j + W <= j1; j += W)
      for (int l0 = 0; l0 < L; l0 += W) {
        V r[W], i[W];
        for (int l = 0; l < W; ++l) {
          const T* f = from[l0 + l] + 2 * j;
          const V a = load<T>(f), b = load<T>(f + W);
          r[l] = __builtin_shuffle(a, b, even);
          i[l] = __builtin_shuffle(a, b, odd) * sign;
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
  using M = typename Vec<T>::M;
  constexpr int W = Vec<T>::W;
  int64_t k = k0;
  if constexpr (L % W == 0) {
    constexpr M first = interleave_mask<M, W, 0>(std::make_index_sequence<W>{});
    constexpr M second = interleave_mask<M, W, 1>(std::make_index_sequence<W>{});
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
          store<T>(o, __builtin_shuffle(r[l], i[l], first));
          store<T>(o + W, __builtin_shuffle(r[l], i[l], second));
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

#pragma GCC diagnostic pop
