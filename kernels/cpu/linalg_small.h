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
inline void rotate_rows(T* P, int64_t n, int64_t lo, int64_t hi, const T* c, const T* s) {
  typedef T V __attribute__((vector_size(32)));
  constexpr int64_t W = 32 / sizeof(T);
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

// Eigenvalues (ascending, into w) and eigenvectors (the columns of the row-major
// v) of the symmetric n x n matrix whose upper (else lower) triangle is read from
// the row-major a. Householder tridiagonalization on the full symmetric matrix
// (rank-2 updates of whole rows), Q formed by backward accumulation, then the
// implicit symmetric QR iteration with Wilkinson shifts, its rotations applied to
// the rows of Q^T. The matrix is scaled by a power of two first (exact), so that
// no square overflows. scratch: 2 n^2 + 6 n. Returns false, having written
// nothing usable, for a non-finite input or when the iteration does not converge
// in 30 n steps: the caller runs LAPACK then. Timings: kSmallEigh.
template <class T>
TESSEL_CLONES bool small_eigh(const T* a, bool upper, int64_t n, T* w, T* v, T* scratch) {
  T* M = scratch;    // the working matrix; row k keeps reflector k past its diagonal
  T* P = M + n * n;  // Q, then Q^T: row j ends as eigenvector j
  T *d = P + n * n, *e = d + n, *tau = e + n, *u = tau + n, *cs = u + n, *sn = cs + n;
  T amax = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const T x = (upper ? i <= j : i >= j) ? a[i * n + j] : a[j * n + i];
      M[i * n + j] = x;
      if (!(std::abs(x) <= amax)) amax = std::abs(x);  // NaN stays: the test below
    }
  if (!std::isfinite(amax) || (amax > 0 && amax < std::numeric_limits<T>::min())) return false;
  const int ex = amax > 0 ? std::ilogb(amax) : 0;
  const T down = std::ldexp(T(1), -ex), up = std::ldexp(T(1), ex);
  for (int64_t i = 0; i < n * n; ++i) M[i] *= down;

  for (int64_t k = 0; k + 2 < n; ++k) {  // H_k (I - tau v v^T) zeroes row k past k + 1
    T* x = M + k * n + k + 1;
    const int64_t m = n - k - 1;
    d[k] = M[k * n + k];
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
    // The trailing block B <- H B H = B - x q^T - q x^T, q = p - (t/2)(p.x) x, p = t B x.
    T* B = M + (k + 1) * n + k + 1;
    for (int64_t i = 0; i < m; ++i) u[i] = t * lane_dot(B + i * n, x, m);
    const T K = T(0.5) * t * lane_dot(u, x, m);
    for (int64_t i = 0; i < m; ++i) u[i] -= K * x[i];
    for (int64_t i = 0; i < m; ++i) {
      T* bi = B + i * n;
      const T xi = x[i], ui = u[i];
      for (int64_t j = 0; j < m; ++j) bi[j] -= xi * u[j] + ui * x[j];
    }
  }
  if (n >= 2) d[n - 2] = M[(n - 2) * n + n - 2], e[n - 2] = M[(n - 2) * n + n - 1];
  d[n - 1] = M[n * n - 1];

  std::fill(P, P + n * n, T(0));
  for (int64_t i = 0; i < n; ++i) P[i * n + i] = 1;
  for (int64_t k = n - 3; k >= 0; --k) {  // Q = H_0 H_1 ... from the right end
    if (tau[k] == 0) continue;
    const T* x = M + k * n + k + 1;
    const int64_t m = n - k - 1;
    T* Q = P + (k + 1) * n + k + 1;
    std::fill(u, u + m, T(0));
    for (int64_t i = 0; i < m; ++i) {
      const T xi = x[i];
      for (int64_t j = 0; j < m; ++j) u[j] += xi * Q[i * n + j];
    }
    for (int64_t i = 0; i < m; ++i) {
      const T c = tau[k] * x[i];
      for (int64_t j = 0; j < m; ++j) Q[i * n + j] -= c * u[j];
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) std::swap(P[i * n + j], P[j * n + i]);

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
    rotate_rows(P, n, lo, hi, cs, sn);
  }

  for (int64_t i = 0; i < n; ++i) {  // ascending, by selection: n row swaps at most
    int64_t best = i;
    for (int64_t j = i + 1; j < n; ++j)
      if (d[j] < d[best]) best = j;
    if (best != i) std::swap(d[i], d[best]), std::swap_ranges(P + i * n, P + (i + 1) * n, P + best * n);
  }
  for (int64_t j = 0; j < n; ++j) w[j] = d[j] * up;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) v[i * n + j] = P[j * n + i];
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
constexpr int64_t kQrLanes = 64 / sizeof(T);
template <class T>
int64_t small_qr_scratch(int64_t m, int64_t n, int64_t mq) {
  constexpr int64_t L = kQrLanes<T>;
  const int64_t ld = (n + L - 1) / L * L, ldq = (mq + L - 1) / L * L;
  return m * ld + m * ldq + std::min(m, n) * (m + 1) + 4 * L;
}

// One reflector on rows i < cnt of x (stride ld), nw columns (whole blocks of L):
// w = w0 + sum v[i] x_i, then x_i -= (t v[i]) w. Up to four blocks of w stay in
// registers down the rows (through memory, the sum waited on store-to-load
// forwarding, and the update on loads that may alias its stores).
template <class T, int NB>
[[gnu::always_inline]] inline void qr_reflect_blocks(T* w, T* x, int64_t ld, const T* v, T t, int64_t cnt) {
  typedef T V __attribute__((vector_size(64)));
  constexpr int64_t L = kQrLanes<T>;
  V acc[NB];
  for (int b = 0; b < NB; ++b) std::memcpy(&acc[b], w + b * L, 64);
  for (int64_t i = 0; i < cnt; ++i)
    for (int b = 0; b < NB; ++b) {
      V xb;
      std::memcpy(&xb, x + i * ld + b * L, 64);
      acc[b] += v[i] * xb;
    }
  for (int b = 0; b < NB; ++b) std::memcpy(w + b * L, &acc[b], 64);
  for (int b = 0; b < NB; ++b) acc[b] *= t;
  for (int64_t i = 0; i < cnt; ++i)
    for (int b = 0; b < NB; ++b) {
      V xb;
      std::memcpy(&xb, x + i * ld + b * L, 64);
      xb -= v[i] * acc[b];
      std::memcpy(x + i * ld + b * L, &xb, 64);
    }
}
// H = I - t v v^T on the rows top, x_0, ..., x_{cnt-1} (stride ld): v is 1 for
// top, v[i] for x_i.
template <class T>
[[gnu::always_inline]] inline void qr_reflect(T* top, int64_t ld, const T* v, T t, int64_t cnt, int64_t nw, T* w) {
  constexpr int64_t L = kQrLanes<T>;
  T* x = top + ld;
  int64_t c = 0;
  for (; c + 4 * L <= nw; c += 4 * L) {
    std::copy(top + c, top + c + 4 * L, w);
    qr_reflect_blocks<T, 4>(w, x + c, ld, v, t, cnt);
    for (int64_t l = 0; l < 4 * L; ++l) top[c + l] -= t * w[l];
  }
  for (; c < nw; c += L) {
    std::copy(top + c, top + c + L, w);
    qr_reflect_blocks<T, 1>(w, x + c, ld, v, t, cnt);
    for (int64_t l = 0; l < L; ++l) top[c + l] -= t * w[l];
  }
}

template <class T>
TESSEL_CLONES_WIDE bool small_qr(const T* a, int64_t m, int64_t n, T* r, int64_t kr, T* q, int64_t mq, T* scratch) {
  constexpr int64_t L = kQrLanes<T>;
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
    const int64_t c0 = (j + 1) / L * L, nw = ld - c0;
    if (j + 1 == n) {
      M[j * ld + j] = beta;
      continue;
    }
    qr_reflect(M + j * ld + c0, ld, v + j + 1, t, m - j - 1, nw, w);
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
    qr_reflect(Q + j * ldq + c0, ldq, V + j * m + j + 1, t, m - j - 1, ldq - c0, w);
  }
  for (int64_t i = 0; i < m; ++i) std::copy(Q + i * ldq, Q + i * ldq + mq, q + i * mq);
  return true;
}

}  // namespace
}  // namespace tessel::cpu

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
