#pragma once
// Small real matrices without LAPACK, where its calls, level-2 panels and
// divide-and-conquer cost more than the work: kernels written on contiguous
// rows, built for AVX2 too (TESSEL_CLONES). Only linalg_lapack.cpp includes this.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/cpu/clones.h"

// GCC notes that 32-byte vectors passed to the inlined load/store lambdas would
// change the ABI without AVX; none crosses a call boundary.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace tessel::cpu {
namespace {

// Small real matrices skip LAPACK: a right-looking factorization whose updates
// are contiguous row axpys beats Debian's OpenBLAS potrf up to n ~ 96 (double,
// one thread: 9.5 against 13.8 us at n = 64, 0.17 against 0.19 at n = 8; a /tmp
// program), where its call and level-2 panel dominate. w (n * n scratch) holds
// U = L^T row-major, so row k of U scales and row k's outer product updates the
// rows below it. Returns LAPACK's info: k + 1 when the leading minor of order
// k + 1 is not positive-definite (a NaN included), leaving the partial factor.
constexpr int64_t kSmallCholesky = 64;
template <class T>
TESSEL_CLONES int small_cholesky(const T* a, T* l, int64_t n, T* w) {
  for (int64_t i = 0; i < n; ++i)  // A's lower triangle, transposed: only it is read
    for (int64_t j = i; j < n; ++j) w[i * n + j] = a[j * n + i];
  int info = 0;
  for (int64_t k = 0; k < n; ++k) {
    T* uk = w + k * n;
    if (!(uk[k] > T(0))) {
      info = int(k + 1);
      break;
    }
    uk[k] = std::sqrt(uk[k]);
    const T r = T(1) / uk[k];
    for (int64_t j = k + 1; j < n; ++j) uk[j] *= r;
    for (int64_t i = k + 1; i < n; ++i) {
      const T s = uk[i];
      T* wi = w + i * n;
#pragma GCC ivdep
      for (int64_t j = i; j < n; ++j) wi[j] -= s * uk[j];
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) l[i * n + j] = j <= i ? w[j * n + i] : T(0);
  return info;
}

// sum a[i] b[i] in vector lanes: eight partial sums per 32 bytes, the same order
// in every ISA clone.
template <class T>
inline T lane_dot(const T* a, const T* b, int64_t n) {
  typedef T V __attribute__((vector_size(32)));
  constexpr int64_t W = 32 / sizeof(T);
  V s0 = {}, s1 = {};
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    V a0, b0, a1, b1;
    std::memcpy(&a0, a + i, 32), std::memcpy(&b0, b + i, 32);
    std::memcpy(&a1, a + i + W, 32), std::memcpy(&b1, b + i + W, 32);
    s0 += a0 * b0, s1 += a1 * b1;
  }
  s0 += s1;
  T s = 0;
  for (int64_t k = 0; k < W; ++k) s += s0[k];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Rows lo..hi of the row-major P (n columns) <- G_k^T applied for k = lo..hi-1 in
// turn, G_k the rotation (c[k], s[k]) on rows k, k + 1: a column's running row k + 1
// stays in a register down the sweep, so each element is loaded and stored once
// per sweep, not twice per rotation (LAPACK's dlasr does the same).
template <class T>
[[gnu::always_inline]] inline void rotate_rows(T* P, int64_t n, int64_t lo, int64_t hi, const T* c, const T* s) {
  typedef T V __attribute__((vector_size(64)));
  constexpr int64_t W = 64 / sizeof(T);
  const auto ld = [](const T* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  };
  const auto st = [](T* p, V v) { std::memcpy(p, &v, sizeof(V)); };
  int64_t j = 0;
  for (; j + 4 * W <= n; j += 4 * W) {
    T* p = P + lo * n + j;
    V a0 = ld(p), a1 = ld(p + W), a2 = ld(p + 2 * W), a3 = ld(p + 3 * W);
    for (int64_t k = lo; k < hi; ++k, p += n) {
      const T ck = c[k], sk = s[k];
      const V b0 = ld(p + n), b1 = ld(p + n + W), b2 = ld(p + n + 2 * W), b3 = ld(p + n + 3 * W);
      st(p, ck * a0 - sk * b0), st(p + W, ck * a1 - sk * b1);
      st(p + 2 * W, ck * a2 - sk * b2), st(p + 3 * W, ck * a3 - sk * b3);
      a0 = sk * a0 + ck * b0, a1 = sk * a1 + ck * b1, a2 = sk * a2 + ck * b2, a3 = sk * a3 + ck * b3;
    }
    st(p, a0), st(p + W, a1), st(p + 2 * W, a2), st(p + 3 * W, a3);
  }
  for (; j + W <= n; j += W) {
    T* p = P + lo * n + j;
    V a = ld(p);
    for (int64_t k = lo; k < hi; ++k, p += n) {
      const V b = ld(p + n);
      st(p, c[k] * a - s[k] * b);
      a = s[k] * a + c[k] * b;
    }
    st(p, a);
  }
  for (; j < n; ++j) {
    T* p = P + lo * n + j;
    T a = *p;
    for (int64_t k = lo; k < hi; ++k, p += n) {
      const T b = p[n];
      *p = c[k] * a - s[k] * b;
      a = s[k] * a + c[k] * b;
    }
    *p = a;
  }
}

// Lanes of a 64-byte block: the padded rows of the kernels below hold whole blocks.
template <class T>
constexpr int64_t kLanes = 64 / sizeof(T);
template <class T>
constexpr int64_t padded(int64_t n) {
  return (n + kLanes<T> - 1) / kLanes<T> * kLanes<T>;
}
// w[0, L NB) += sum over i < cnt of v[i] x_i[0, L NB), rows x_i ld apart: the
// NB blocks of w stay in registers down the rows (summed through memory, each
// row waited on store-to-load forwarding), in four chains at least (U rows a
// step, each into its own sums), so that the adds do not wait on each other.
template <class T, int NB>
[[gnu::always_inline]] inline void add_rows_nb(T* w, const T* x, int64_t ld, const T* v, int64_t cnt) {
  typedef T V __attribute__((vector_size(64)));
  constexpr int64_t L = kLanes<T>;
  constexpr int U = NB >= 4 ? 1 : 4 / NB;
  V acc[U][NB] = {};
  for (int b = 0; b < NB; ++b) std::memcpy(&acc[0][b], w + b * L, 64);
  int64_t i = 0;
  for (; i + U <= cnt; i += U)
    for (int u = 0; u < U; ++u)
      for (int b = 0; b < NB; ++b) {
        V xb;
        std::memcpy(&xb, x + (i + u) * ld + b * L, 64);
        acc[u][b] += v[i + u] * xb;
      }
  for (; i < cnt; ++i)
    for (int b = 0; b < NB; ++b) {
      V xb;
      std::memcpy(&xb, x + i * ld + b * L, 64);
      acc[0][b] += v[i] * xb;
    }
  for (int u = 1; u < U; ++u)
    for (int b = 0; b < NB; ++b) acc[0][b] += acc[u][b];
  for (int b = 0; b < NB; ++b) std::memcpy(w + b * L, &acc[0][b], 64);
}
// x_i[0, L NB) -= a[i] wa (+ b[i] wb when Two) for i < cnt, wa and wb held in
// registers (reloaded each row, they could wait on the stores to x).
template <class T, int NB, bool Two>
[[gnu::always_inline]] inline void sub_rows_nb(T* x, int64_t ld, const T* a, const T* wa, const T* b, const T* wb,
                                               int64_t cnt) {
  typedef T V __attribute__((vector_size(64)));
  constexpr int64_t L = kLanes<T>;
  V ra[NB], rb[NB];
  for (int k = 0; k < NB; ++k) {
    std::memcpy(&ra[k], wa + k * L, 64);
    if constexpr (Two) std::memcpy(&rb[k], wb + k * L, 64);
  }
  for (int64_t i = 0; i < cnt; ++i)
    for (int k = 0; k < NB; ++k) {
      V xb;
      std::memcpy(&xb, x + i * ld + k * L, 64);
      xb -= a[i] * ra[k];
      if constexpr (Two) xb -= b[i] * rb[k];
      std::memcpy(x + i * ld + k * L, &xb, 64);
    }
}
// The two over nw columns (whole blocks), four blocks at a time.
template <class T>
[[gnu::always_inline]] inline void add_rows(T* w, const T* x, int64_t ld, const T* v, int64_t cnt, int64_t nw) {
  constexpr int64_t L = kLanes<T>;
  int64_t c = 0;
  for (; c + 4 * L <= nw; c += 4 * L) add_rows_nb<T, 4>(w + c, x + c, ld, v, cnt);
  if (nw - c == 3 * L) add_rows_nb<T, 3>(w + c, x + c, ld, v, cnt);
  if (nw - c == 2 * L) add_rows_nb<T, 2>(w + c, x + c, ld, v, cnt);
  if (nw - c == L) add_rows_nb<T, 1>(w + c, x + c, ld, v, cnt);
}
template <class T, bool Two>
[[gnu::always_inline]] inline void sub_rows(T* x, int64_t ld, const T* a, const T* wa, const T* b, const T* wb,
                                            int64_t cnt, int64_t nw) {
  constexpr int64_t L = kLanes<T>;
  int64_t c = 0;
  for (; c + 4 * L <= nw; c += 4 * L) sub_rows_nb<T, 4, Two>(x + c, ld, a, wa + c, b, Two ? wb + c : wb, cnt);
  if (nw - c == 3 * L) sub_rows_nb<T, 3, Two>(x + c, ld, a, wa + c, b, Two ? wb + c : wb, cnt);
  if (nw - c == 2 * L) sub_rows_nb<T, 2, Two>(x + c, ld, a, wa + c, b, Two ? wb + c : wb, cnt);
  if (nw - c == L) sub_rows_nb<T, 1, Two>(x + c, ld, a, wa + c, b, Two ? wb + c : wb, cnt);
}
// H = I - t v v^T on the rows top, x_0, ..., x_{cnt-1} (ld apart, nw columns in
// whole blocks): v is 1 for top, v[i] for x_i. w: nw scratch.
template <class T>
[[gnu::always_inline]] inline void reflect_rows(T* top, int64_t ld, const T* v, T t, int64_t cnt, int64_t nw, T* w) {
  std::copy(top, top + nw, w);
  add_rows(w, top + ld, ld, v, cnt, nw);
  for (int64_t c = 0; c < nw; ++c) w[c] *= t, top[c] -= w[c];
  sub_rows<T, false>(top + ld, ld, v, w, nullptr, nullptr, cnt, nw);
}

// One row of a triangular solve on rows ld apart (whole blocks): x_i <- (x_i - sum over
// j < cnt of v[j] x_{j0 + j}) r, the sum in registers (add_rows); acc: ld scratch.
template <class T>
[[gnu::always_inline]] inline void substitute_row(T* x, int64_t ld, int64_t i, int64_t j0, const T* v, int64_t cnt, T r,
                                                  T* acc) {
  std::fill(acc, acc + ld, T(0));
  add_rows(acc, x + j0 * ld, ld, v, cnt, ld);
  for (int64_t c = 0; c < ld; ++c) x[i * ld + c] = (x[i * ld + c] - acc[c]) * r;
}

// X = A^{-1} B for few right-hand sides, from LAPACK's getrf of A^T (the
// row-major A read column-major: A^T = P L U, so A = U^T L^T P^T): X <- B, then
// U^T and L^T solved row by row and P's swaps in reverse, as getrs('T') does.
// Row i of X needs U's column i (lu[i n..]) and L's, both contiguous in the
// column-major factors, against the rows of X already solved, where getrs' trsm
// with 16 columns ran at a third of the speed. x: n rows of k, ld apart (ld a
// whole number of blocks, padding zero); acc: ld scratch.
template <class T>
TESSEL_CLONES_WIDE void lu_solve_rows(const T* lu, const int* piv, int64_t n, T* x, int64_t ld, T* acc) {
  for (int64_t i = 0; i < n; ++i)  // U^T y = b: y_i = (b_i - sum_j<i U(j, i) y_j) / U(i, i)
    substitute_row(x, ld, i, 0, lu + i * n, i, T(1) / lu[i * n + i], acc);
  for (int64_t i = n - 1; i >= 0; --i)  // L^T z = y, L unit lower: z_i = y_i - sum_j>i L(j, i) z_j
    substitute_row(x, ld, i, i + 1, lu + i * n + i + 1, n - i - 1, T(1), acc);
  for (int64_t i = n - 1; i >= 0; --i)
    if (piv[i] - 1 != i) std::swap_ranges(x + i * ld, x + (i + 1) * ld, x + (piv[i] - 1) * ld);
}

// X = A^{-1} B from lu_factor's row-major factors of A = P L U (LAPACK's pivots),
// for few right-hand sides: P's swaps in order, then L (unit lower) and U solved
// row by row; here row i of each factor is contiguous. x and acc as above.
template <class T>
TESSEL_CLONES_WIDE void lu_solve_rows_nn(const T* lu, const int* piv, int64_t n, T* x, int64_t ld, T* acc) {
  for (int64_t i = 0; i < n; ++i)
    if (piv[i] - 1 != i) std::swap_ranges(x + i * ld, x + (i + 1) * ld, x + (piv[i] - 1) * ld);
  for (int64_t i = 1; i < n; ++i)  // L y = P^T b: y_i = b_i - sum_j<i L(i, j) y_j
    substitute_row(x, ld, i, 0, lu + i * n, i, T(1), acc);
  for (int64_t i = n - 1; i >= 0; --i)  // U x = y: x_i = (y_i - sum_j>i U(i, j) x_j) / U(i, i)
    substitute_row(x, ld, i, i + 1, lu + i * n + i + 1, n - i - 1, T(1) / lu[i * n + i], acc);
}

// Eigenvalues (ascending, into w) and eigenvectors (the columns of the row-major
// v) of the symmetric n x n matrix whose upper (else lower) triangle is read from
// the row-major a. Householder tridiagonalization on the full symmetric matrix
// (p = B x as a sum of B's rows, then a rank-2 update of whole rows), Q formed by
// backward accumulation, then the implicit symmetric QR iteration with Wilkinson
// shifts, its rotations applied to the rows of Q^T. Rows are padded to whole
// 64-byte blocks, and each step runs from the block holding its first column
// (the entries left of it are zero in Q; in M they are multiplied by zeros). The
// matrix is scaled by a power of two first (exact), so that no square
// overflows. scratch: small_eigh_scratch(n). Returns false, having written
// nothing usable, for a non-finite input or when the iteration does not converge
// in 30 n steps: the caller runs LAPACK then. Timings: kSmallEigh.
template <class T>
int64_t small_eigh_scratch(int64_t n) {
  return 2 * n * padded<T>(n) + 3 * padded<T>(n) + 5 * n;
}
template <class T>
TESSEL_CLONES_WIDE bool small_eigh(const T* a, bool upper, int64_t n, T* w, T* v, T* scratch) {
  constexpr int64_t L = kLanes<T>;
  const int64_t ld = padded<T>(n);
  T* M = scratch;                                    // the working matrix; row k keeps reflector k past its diagonal
  T* P = M + n * ld;                                 // Q, then Q^T: row j ends as eigenvector j
  T *xb = P + n * ld, *ub = xb + ld, *wb = ub + ld;  // reflector, update, scratch rows
  T *d = wb + ld, *e = d + n, *tau = e + n, *cs = tau + n, *sn = cs + n;
  T amax = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const T x = (upper ? i <= j : i >= j) ? a[i * n + j] : a[j * n + i];
      M[i * ld + j] = x;
      if (!(std::abs(x) <= amax)) amax = std::abs(x);  // NaN stays: the test below
    }
    std::fill(M + i * ld + n, M + (i + 1) * ld, T(0));
  }
  if (!std::isfinite(amax) || (amax > 0 && amax < std::numeric_limits<T>::min())) return false;
  const int ex = amax > 0 ? std::ilogb(amax) : 0;
  const T down = std::ldexp(T(1), -ex), up = std::ldexp(T(1), ex);
  for (int64_t i = 0; i < n * ld; ++i) M[i] *= down;

  for (int64_t k = 0; k + 2 < n; ++k) {  // H_k (I - tau v v^T) zeroes row k past k + 1
    T* x = M + k * ld + k + 1;
    const int64_t m = n - k - 1;
    d[k] = M[k * ld + k];
    const T sigma = lane_dot(x + 1, x + 1, m - 1);
    if (sigma == 0) {
      tau[k] = 0, e[k] = x[0];
      continue;
    }
    const T alpha = x[0], norm = std::sqrt(alpha * alpha + sigma);
    const T beta = alpha >= 0 ? -norm : norm;
    const T t = (beta - alpha) / beta, r = T(1) / (alpha - beta);
    tau[k] = t, e[k] = beta;
    for (int64_t i = 1; i < m; ++i) x[i] *= r;
    x[0] = 1;
    // The trailing block B <- H B H = B - x q^T - q x^T, q = p - (t/2)(p.x) x, p = t B x,
    // on columns c0.. of rows k + 1..: xb and ub are zero outside columns k + 1..n - 1.
    const int64_t c0 = (k + 1) / L * L, nw = ld - c0;
    std::fill(xb + c0, xb + ld, T(0));
    std::copy(x, x + m, xb + k + 1);
    std::fill(ub + c0, ub + ld, T(0));
    T* B = M + (k + 1) * ld + c0;
    add_rows(ub + c0, B, ld, xb + k + 1, m, nw);  // B symmetric: B x = sum of x_i B_i
    std::fill(ub + c0, ub + k + 1, T(0));
    for (int64_t j = k + 1; j < n; ++j) ub[j] *= t;
    const T K = T(0.5) * t * lane_dot(ub + k + 1, x, m);
    for (int64_t j = k + 1; j < n; ++j) ub[j] -= K * xb[j];
    sub_rows<T, true>(B, ld, xb + k + 1, ub + c0, ub + k + 1, xb + c0, m, nw);
  }
  if (n >= 2) d[n - 2] = M[(n - 2) * ld + n - 2], e[n - 2] = M[(n - 2) * ld + n - 1];
  d[n - 1] = M[(n - 1) * ld + n - 1];

  std::fill(P, P + n * ld, T(0));
  for (int64_t i = 0; i < n; ++i) P[i * ld + i] = 1;
  for (int64_t k = n - 3; k >= 0; --k) {  // Q = H_0 H_1 ... from the right end
    if (tau[k] == 0) continue;
    const int64_t c0 = (k + 1) / L * L;
    reflect_rows(P + (k + 1) * ld + c0, ld, M + k * ld + k + 2, tau[k], n - k - 2, ld - c0, wb);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) std::swap(P[i * ld + j], P[j * ld + i]);
  // T = G T' G^T for each rotation G on (k, k + 1): T' = G^T T G chases the bulge
  // down, and the eigenvectors Q G are the rows of G^T Q^T. The scaled entries stay
  // below ~2n, so sqrt(x^2 + z^2) needs no hypot (glibc's took 29% of the time); a
  // pair that underflows to r = 0 is below eps * |A| and is left alone.
  const T eps = std::numeric_limits<T>::epsilon(), tiny = std::numeric_limits<T>::min();
  int64_t hi = n - 1, steps = 0;
  while (hi > 0) {
    for (int64_t i = 0; i < hi; ++i)
      if (std::abs(e[i]) <= eps * (std::abs(d[i]) + std::abs(d[i + 1])) || std::abs(e[i]) < tiny) e[i] = 0;
    while (hi > 0 && e[hi - 1] == 0) --hi;
    if (hi == 0) break;
    int64_t lo = hi - 1;
    while (lo > 0 && e[lo - 1] != 0) --lo;
    if (++steps > 30 * n) return false;
    // Wilkinson's shift: the trailing 2 x 2 block's eigenvalue nearer d[hi].
    const T delta = (d[hi - 1] - d[hi]) / 2, b = e[hi - 1];
    const T mu = d[hi] - b / (delta + std::copysign(std::sqrt(delta * delta + b * b), delta)) * b;
    T x = d[lo] - mu, z = e[lo];
    for (int64_t k = lo; k < hi; ++k) {
      const T r = std::sqrt(x * x + z * z), inv = r > 0 ? T(1) / r : T(0);
      const T c = r > 0 ? x * inv : T(1), s = -z * inv;  // G^T (x, z) = (r, 0)
      if (k > lo) e[k - 1] = r;
      const T dk = d[k], ek = e[k], dk1 = d[k + 1];
      const T p = s * dk + c * ek, q = s * ek + c * dk1;
      d[k] = c * (c * dk - s * ek) - s * (c * ek - s * dk1);
      d[k + 1] = s * p + c * q;
      e[k] = c * p - s * q;
      if (k + 1 < hi) x = e[k], z = -s * e[k + 1], e[k + 1] *= c;
      cs[k] = c, sn[k] = s;
    }
    rotate_rows(P, ld, lo, hi, cs, sn);
  }

  for (int64_t i = 0; i < n; ++i) {  // ascending, by selection: n row swaps at most
    int64_t best = i;
    for (int64_t j = i + 1; j < n; ++j)
      if (d[j] < d[best]) best = j;
    if (best != i) std::swap(d[i], d[best]), std::swap_ranges(P + i * ld, P + (i + 1) * ld, P + best * ld);
  }
  for (int64_t j = 0; j < n; ++j) w[j] = d[j] * up;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) v[i * n + j] = P[j * ld + i];
  return true;
}

// Householder QR of the row-major m x n a (k = min(m, n) reflectors, as LAPACK's
// dgeqr2 + dorg2r): R's first kr rows into r (kr x n) and, unless q is null, Q's
// first mq columns into q (m x mq). Row-major suits reflectors applied from the
// left: w = v^T B sums B's rows scaled by v's entries, then each row of B loses
// its v entry times w, both contiguous axpys. The reflectors are kept apart (V),
// so the entries left of the diagonal are free: each update starts at the
// 64-byte block that holds its first column and runs whole blocks of padded rows
// (those entries, zero in exact arithmetic, stay at rounding level). The matrix
// is scaled by a power of two first (exact), so that no square overflows, and a
// column whose norm underflows is left as it is (below eps |A|). Returns false
// for a non-finite input (the caller runs LAPACK then).
template <class T>
int64_t small_qr_scratch(int64_t m, int64_t n, int64_t mq) {
  constexpr int64_t L = kLanes<T>;
  const int64_t ld = (n + L - 1) / L * L, ldq = (mq + L - 1) / L * L;
  return m * ld + m * ldq + std::min(m, n) * (m + 1) + std::max(ld, ldq);
}

template <class T>
TESSEL_CLONES_WIDE bool small_qr(const T* a, int64_t m, int64_t n, T* r, int64_t kr, T* q, int64_t mq, T* scratch) {
  constexpr int64_t L = kLanes<T>;
  const int64_t k = std::min(m, n), ld = (n + L - 1) / L * L, ldq = (mq + L - 1) / L * L;
  T *M = scratch, *Q = M + m * ld, *tau = Q + m * ldq, *V = tau + k, *w = V + k * m;
  T amax = 0, bad = 0;  // bad: NaN when an entry is NaN or infinite
  {
    T mx[L] = {}, nan[L] = {};  // independent lanes, so that the loop vectorizes
    int64_t i = 0;
    for (; i + L <= m * n; i += L)
      for (int64_t l = 0; l < L; ++l) {
        const T x = std::abs(a[i + l]);
        mx[l] = mx[l] > x ? mx[l] : x, nan[l] += x * T(0);
      }
    for (; i < m * n; ++i) amax = std::max(amax, std::abs(a[i])), bad += a[i] * T(0);
    for (int64_t l = 0; l < L; ++l) amax = std::max(amax, mx[l]), bad += nan[l];
  }
  if (bad != 0) return false;
  const int ex = amax > 0 ? std::ilogb(amax) : 0;
  const T down = std::ldexp(T(1), -ex), up = std::ldexp(T(1), ex);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t c = 0; c < n; ++c) M[i * ld + c] = a[i * n + c] * down;
    std::fill(M + i * ld + n, M + (i + 1) * ld, T(0));
  }
  for (int64_t j = 0; j < k; ++j) {
    T* v = V + j * m;  // v[i] for the rows i > j
    T sigma = 0;
    for (int64_t i = j + 1; i < m; ++i) v[i] = M[i * ld + j], sigma += v[i] * v[i];
    const T alpha = M[j * ld + j];
    const T norm = std::sqrt(alpha * alpha + sigma), beta = alpha >= 0 ? -norm : norm;
    tau[j] = 0;
    if (sigma == 0 || norm < std::numeric_limits<T>::min()) continue;  // H_j = I (dlarfg's when sigma is 0)
    const T t = (beta - alpha) / beta, s = T(1) / (alpha - beta);
    tau[j] = t;
    for (int64_t i = j + 1; i < m; ++i) v[i] *= s;
    const int64_t c0 = (j + 1) / L * L;
    if (j + 1 < n) reflect_rows(M + j * ld + c0, ld, v + j + 1, t, m - j - 1, ld - c0, w);
    M[j * ld + j] = beta;  // exactly, as LAPACK leaves it
  }
  for (int64_t i = 0; i < kr; ++i)
    for (int64_t c = 0; c < n; ++c) r[i * n + c] = c >= i ? M[i * ld + c] * up : T(0);
  if (!q) return true;
  // Q = H_0 ... H_{k-1} I from the right end: H_j touches rows and columns j..,
  // and left of column j those rows are still zero.
  std::fill(Q, Q + m * ldq, T(0));
  for (int64_t i = 0; i < std::min(m, mq); ++i) Q[i * ldq + i] = 1;
  for (int64_t j = k - 1; j >= 0; --j) {
    const T t = tau[j];
    if (t == 0) continue;
    const int64_t c0 = j / L * L;
    reflect_rows(Q + j * ldq + c0, ldq, V + j * m + j + 1, t, m - j - 1, ldq - c0, w);
  }
  for (int64_t i = 0; i < m; ++i) std::copy(Q + i * ldq, Q + i * ldq + mq, q + i * mq);
  return true;
}

}  // namespace
}  // namespace tessel::cpu

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
