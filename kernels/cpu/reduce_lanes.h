#pragma once
// The lane-level folds of reduce.cpp (its only includer; internal linkage, as there):
// pairwise sum leaves in vector lanes, bfloat16 read in place into float lanes, the
// max/min/prod/add lane ops, and the folds along a run (fold_lanes) and down rows
// (fold_rows).
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/reduce_util.h"
#include "kernels/cpu/reduced_float.h"
#include "tessel/dtype.h"

namespace tessel::cpu {
namespace {

// The leaf of the pairwise trees below: 32 independent accumulators (four AVX2
// registers of float: one register's chain of adds waited on the add's latency,
// 1e5 floats in ~6 us), folded to 8 for the rest of the groups of 8, then to one
// as a balanced tree, then the last < 8 elements in order.
constexpr int kSumLanes = 32;
constexpr int64_t kSumLeaf = 1024;

template <class A, class T, class Term>
inline A leaf_sum(const T* x, int64_t n, Term term) {
  A acc[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int k = 0; k < kSumLanes; ++k) acc[k] += term(x[i + k]);
  for (int k = 0; k < 16; ++k) acc[k] += acc[k + 16];
  for (int k = 0; k < 8; ++k) acc[k] += acc[k + 8];
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += term(x[i + k]);
  A s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += term(x[i]);
  return s;
}

// leaf_sum's float and double case on GCC vectors, the same lanes in the same
// order (lane k of the 32 takes x[i + k]): an array of 32 accumulators was zeroed
// with rep stos and kept partly on the stack, which short rows (sum over the last
// dim of a [390, 256] matrix) paid for on every row.
template <class T, bool Sq>
inline T leaf_sum_vec(const T* x, int64_t n) {
  typedef T V __attribute__((vector_size(32)));
  constexpr int64_t W = sizeof(V) / sizeof(T), NV = kSumLanes / W;  // NV vectors of lanes
  V acc[NV] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int64_t j = 0; j < NV; ++j) {
      V v;
      std::memcpy(&v, x + i + j * W, sizeof(V));
      acc[j] += Sq ? v * v : v;
    }
  for (int64_t j = 0; j < NV / 2; ++j) acc[j] += acc[j + NV / 2];  // lanes k += k + 16
  for (int64_t j = 0; j < NV / 4; ++j) acc[j] += acc[j + NV / 4];  // lanes k += k + 8
  for (; i + 8 <= n; i += 8)
    for (int64_t j = 0; j < 8 / W; ++j) {
      V v;
      std::memcpy(&v, x + i + j * W, sizeof(V));
      acc[j] += Sq ? v * v : v;
    }
  T a[8];
  std::memcpy(a, acc, sizeof(a));
  T s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  for (; i < n; ++i) s += Sq ? x[i] * x[i] : x[i];
  return s;
}

// Eight bfloat16 as a float vector (each is float's top half), for the folds that
// read bfloat16 in place: each value under a zero half (AVX2: two unpacks and a lane
// permute; zero-extend and shift through __builtin_convertvector took six instructions).
// (Inlined into the AVX2 clones; -Wpsabi is off for the file, see the folds below.)
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float F8 __attribute__((vector_size(32)));
typedef uint16_t H8 __attribute__((vector_size(16)));
typedef uint16_t H16 __attribute__((vector_size(32)));
inline F8 load_bf16x8(const BFloat16* x) {
  H8 h;
  std::memcpy(&h, x, sizeof(H8));
  const H8 z = {};
  const H16 w = __builtin_shufflevector(z, h, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
  F8 v;
  std::memcpy(&v, &w, sizeof(F8));
  return v;
}
// Sixteen bfloat16 as two float vectors in the order of AVX2's in-lane unpacks, one
// instruction each: lo holds values {0-3, 8-11}, hi {4-7, 12-15}. Sums kept in that
// order go back with unzip16.
inline void load_bf16x16(const BFloat16* x, F8& lo, F8& hi) {
  H16 h;
  std::memcpy(&h, x, sizeof(H16));
  const H16 z = {};
  const H16 a = __builtin_shufflevector(z, h, 0, 16, 1, 17, 2, 18, 3, 19, 8, 24, 9, 25, 10, 26, 11, 27);
  const H16 b = __builtin_shufflevector(z, h, 4, 20, 5, 21, 6, 22, 7, 23, 12, 28, 13, 29, 14, 30, 15, 31);
  std::memcpy(&lo, &a, sizeof(F8));
  std::memcpy(&hi, &b, sizeof(F8));
}
inline void zip16(const float* x, F8& lo, F8& hi) {  // x[0, 16) into load_bf16x16's order
  F8 p, q;
  std::memcpy(&p, x, sizeof(F8));
  std::memcpy(&q, x + 8, sizeof(F8));
  lo = __builtin_shufflevector(p, q, 0, 1, 2, 3, 8, 9, 10, 11);
  hi = __builtin_shufflevector(p, q, 4, 5, 6, 7, 12, 13, 14, 15);
}
inline void unzip16(float* x, F8 lo, F8 hi) {
  const F8 p = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 8, 9, 10, 11);
  const F8 q = __builtin_shufflevector(lo, hi, 4, 5, 6, 7, 12, 13, 14, 15);
  std::memcpy(x, &p, sizeof(F8));
  std::memcpy(x + 8, &q, sizeof(F8));
}

// leaf_sum_vec<float, Sq>'s lanes and order over bfloat16 read in place.
template <bool Sq = false>
inline float leaf_sum_bf16(const BFloat16* x, int64_t n) {
  constexpr int64_t NV = kSumLanes / 8;
  F8 acc[NV] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int64_t j = 0; j < NV; ++j) {
      const F8 v = load_bf16x8(x + i + j * 8);
      acc[j] += Sq ? v * v : v;
    }
  for (int64_t j = 0; j < NV / 2; ++j) acc[j] += acc[j + NV / 2];
  for (int64_t j = 0; j < NV / 4; ++j) acc[j] += acc[j + NV / 4];
  for (; i + 8 <= n; i += 8) {
    const F8 v = load_bf16x8(x + i);
    acc[0] += Sq ? v * v : v;
  }
  float a[8];
  std::memcpy(a, acc, sizeof(a));
  float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  for (; i < n; ++i) {
    const float v = static_cast<float>(x[i]);
    s += Sq ? v * v : v;
  }
  return s;
}

// Pairwise summation of a contiguous run: error O(log n * eps) as in NumPy,
// whose leaves are smaller (128 elements, 8 accumulators); the order depends on n only.
template <class A, class T>
TESSEL_CLONES A pairwise_sum(const T* x, int64_t n) {
  if constexpr (std::is_integral_v<A>) {
    A s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<A>(x[i]);
    return s;
  } else {
    if constexpr (std::is_same_v<A, T> && (std::is_same_v<T, float> || std::is_same_v<T, double>))
      if (n <= kSumLeaf) return leaf_sum_vec<T, false>(x, n);
    if constexpr (std::is_same_v<T, BFloat16>)
      if (n <= kSumLeaf) return leaf_sum_bf16(x, n);
    if constexpr (std::is_same_v<T, Half>) {  // a leaf widened to float in L1, then float's lanes
      if (n <= kSumLeaf) {
        float buf[kSumLeaf];
        widen(buf, x, n);
        return leaf_sum_vec<float, false>(buf, n);
      }
    }
    if (n <= kSumLeaf) return leaf_sum<A>(x, n, [](T v) { return A(v); });
    int64_t h = n / 2;
    h -= h % kSumLanes;
    return pairwise_sum<A>(x, h) + pairwise_sum<A>(x + h, n - h);
  }
}

// The same pairwise tree over x[i]^2 (norm's sum of squares, one pass, no temporary).
template <class A, class T>
TESSEL_CLONES A pairwise_sumsq(const T* x, int64_t n) {
  if constexpr (std::is_same_v<A, T> && (std::is_same_v<T, float> || std::is_same_v<T, double>))
    if (n <= kSumLeaf) return leaf_sum_vec<T, true>(x, n);
  if constexpr (std::is_same_v<T, BFloat16>)
    if (n <= kSumLeaf) return leaf_sum_bf16<true>(x, n);
  if constexpr (std::is_same_v<T, Half>) {  // a leaf widened to float in L1, then float's lanes
    if (n <= kSumLeaf) {
      float buf[kSumLeaf];
      widen(buf, x, n);
      return leaf_sum_vec<float, true>(buf, n);
    }
  }
  if (n <= kSumLeaf) return leaf_sum<A>(x, n, [](T v) { return A(v) * A(v); });
  int64_t h = n / 2;
  h -= h % kSumLanes;
  return pairwise_sumsq<A>(x, h) + pairwise_sumsq<A>(x + h, n - h);
}

// max/min/prod of floats in vector lanes (GCC vector extensions; the AVX2 clone
// is picked at load time): a plain `v > m ? v : m` loop stays scalar under
// -ftrapping-math. The ops have internal linkage and are inlined into the folds
// below, so no 32-byte vector crosses an ABI boundary: GCC's note for the SSE2
// build (-Wpsabi) is off for the rest of this file, where it reports instantiations.
#pragma GCC diagnostic ignored "-Wpsabi"
// Over a run: the plain compare (one max instruction) and a separate NaN flag.
struct MaxOp {
  static constexpr bool kNanFlag = true;
  template <class V>
  V operator()(V m, V v) const {
    return v > m ? v : m;
  }
};
struct MinOp {
  static constexpr bool kNanFlag = true;
  template <class V>
  V operator()(V m, V v) const {
    return v < m ? v : m;
  }
};
// Over rows: `v != v` takes a NaN and a NaN accumulator is never replaced by a number.
struct MaxNanOp {
  template <class V>
  V operator()(V m, V v) const {
    return ((v > m) | (v != v)) ? v : m;
  }
};
struct MinNanOp {
  template <class V>
  V operator()(V m, V v) const {
    return ((v < m) | (v != v)) ? v : m;
  }
};
struct MulOp {
  static constexpr bool kNanFlag = false;
  template <class V>
  V operator()(V m, V v) const {
    return m * v;
  }
};
struct AddOp {
  template <class V>
  V operator()(V m, V v) const {
    return m + v;
  }
};

// op folded over a contiguous run from `init`: four vector accumulators, then
// their lanes in order, then the tail; the order depends on n only (not on
// threads). max/min return the run's first NaN if it has one. bfloat16 is read in
// place into float lanes (float32's lanes and order, so a product has the bits of a
// float32 copy's), with a float result.
template <class T>
using fold_t = std::conditional_t<std::is_same_v<T, BFloat16>, float, T>;

template <class T, class Op>
TESSEL_CLONES fold_t<T> fold_lanes(const T* x, int64_t n, fold_t<T> init, Op op) {
  using L = fold_t<T>;
  typedef L V __attribute__((vector_size(32)));
  constexpr int64_t W = sizeof(V) / sizeof(L);
  V a0 = V{} + init, a1 = a0, a2 = a0, a3 = a0;
  decltype(V{} != V{}) bad{};
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    V u0, u1, u2, u3;  // one load each (an array of four went through the stack)
    if constexpr (std::is_same_v<T, BFloat16>) {
      u0 = load_bf16x8(x + i), u1 = load_bf16x8(x + i + W);
      u2 = load_bf16x8(x + i + 2 * W), u3 = load_bf16x8(x + i + 3 * W);
    } else {
      std::memcpy(&u0, x + i, sizeof(V));
      std::memcpy(&u1, x + i + W, sizeof(V));
      std::memcpy(&u2, x + i + 2 * W, sizeof(V));
      std::memcpy(&u3, x + i + 3 * W, sizeof(V));
    }
    a0 = op(a0, u0);
    a1 = op(a1, u1);
    a2 = op(a2, u2);
    a3 = op(a3, u3);
    if constexpr (Op::kNanFlag) bad |= (u0 != u0) | (u1 != u1) | (u2 != u2) | (u3 != u3);
  }
  const V m = op(op(a0, a1), op(a2, a3));
  L r = init;
  bool nan = false;
  for (int64_t k = 0; k < W; ++k) r = op(r, L(m[k])), nan |= bad[k] != 0;
  for (; i < n; ++i) {
    const L v = static_cast<L>(x[i]);
    r = op(r, v), nan |= v != v;
  }
  if constexpr (Op::kNanFlag) {
    if (nan)
      for (int64_t j = 0;; ++j)
        if (x[j] != x[j]) return static_cast<L>(x[j]);
  }
  return r;
}

// acc[0, width) = op(acc, row) for each of `rows` rows of x (`stride` apart),
// row after row (the order of the one-element fold, so the same bits). Eight
// vectors of columns stay in registers down all the rows: a row-at-a-time fold
// loaded and stored acc for every vector of every row (prod(dim=0) of 390 x 256:
// 1.5x PyTorch's time). bfloat16 rows fold into float acc, widened as loaded (through
// float copies of 16 rows, amax(dim=-1) of a transposed 10^7 ran 1.4x PyTorch's time).
template <class T, class Op>
TESSEL_CLONES void fold_rows(fold_t<T>* acc, const T* x, int64_t rows, int64_t width, int64_t stride, Op op) {
  using L = fold_t<T>;
  typedef L V __attribute__((vector_size(32)));
  constexpr int64_t W = sizeof(V) / sizeof(L);
  const auto ld = [](const T* p) {
    V v;
    if constexpr (std::is_same_v<T, BFloat16>)
      v = load_bf16x8(p);
    else
      std::memcpy(&v, p, sizeof(V));
    return v;
  };
  const auto lda = [](const L* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  };
  const auto st = [](L* p, V v) { std::memcpy(p, &v, sizeof(V)); };
  int64_t i = 0;
  for (; i + 8 * W <= width; i += 8 * W) {
    V a0 = lda(acc + i), a1 = lda(acc + i + W), a2 = lda(acc + i + 2 * W), a3 = lda(acc + i + 3 * W);
    V a4 = lda(acc + i + 4 * W), a5 = lda(acc + i + 5 * W), a6 = lda(acc + i + 6 * W), a7 = lda(acc + i + 7 * W);
    const T* row = x + i;
    for (int64_t r = 0; r < rows; ++r, row += stride) {
      a0 = op(a0, ld(row));
      a1 = op(a1, ld(row + W));
      a2 = op(a2, ld(row + 2 * W));
      a3 = op(a3, ld(row + 3 * W));
      a4 = op(a4, ld(row + 4 * W));
      a5 = op(a5, ld(row + 5 * W));
      a6 = op(a6, ld(row + 6 * W));
      a7 = op(a7, ld(row + 7 * W));
    }
    st(acc + i, a0), st(acc + i + W, a1), st(acc + i + 2 * W, a2), st(acc + i + 3 * W, a3);
    st(acc + i + 4 * W, a4), st(acc + i + 5 * W, a5), st(acc + i + 6 * W, a6), st(acc + i + 7 * W, a7);
  }
  for (; i + W <= width; i += W) {
    V a = lda(acc + i);
    const T* row = x + i;
    for (int64_t r = 0; r < rows; ++r, row += stride) a = op(a, ld(row));
    st(acc + i, a);
  }
  if (i < width)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = i; j < width; ++j) acc[j] = op(acc[j], static_cast<L>(x[r * stride + j]));
}

}  // namespace
}  // namespace tessel::cpu
