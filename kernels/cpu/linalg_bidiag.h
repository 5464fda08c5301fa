#pragma once
// svd's reduction to bidiagonal form, B = Q^T A P, stored as LAPACK's gebrd
// stores it (so bdsdc and ormbr take it as is). LAPACK's gebrd (dlabrd's
// panels) reads the trailing matrix twice for every column: A^T u for the row
// update, then A v for the next column's; with the matrix past L2 both are
// memory-bound, and half of gebrd's time. Here the two products share one read:
// v is the row reflector of r = (row i updated with A^T u), so
// A v = (A r - a_{i+1} alpha) / (alpha - beta) + a_{i+1}, and A r accumulates
// column by column as each r_j is known, while the column is still in L1.
// Only linalg_lapack.cpp includes this.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <omp.h>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/linalg_lapack.h"
#include "kernels/cpu/linalg_small.h"  // lane_dot

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace tessel::cpu {
namespace {

// Step i's pass over columns [j0, j1) of a panel's block a (column-major, lda, rows
// [0, mm)): for each column c = a[:, j]
//   y[j] = tauq (c . u1 - gy[j])        u1: -q above row i, the reflector u from row i
//   r[j] = c[i] - cy[j] - c[0:i] . xi - y[j]
//   w   += c r[j]                       (every row; row i is not used)
// Four columns at a time: their dot products share u1's loads, and the update
// reads them back from L1 and w once.
template <class T>
TESSEL_CLONES_WIDE void bidiag_pass(const T* a, int64_t lda, int64_t mm, int64_t i, int64_t j0, int64_t j1, const T* u1,
                                    const T* xi, const T* gy, const T* cy, T tauq, T* y, T* r, T* w) {
  typedef T V __attribute__((vector_size(64)));
  constexpr int64_t W = 64 / sizeof(T);
  const auto ld = [](const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  const auto hsum = [](V v) {
    T s = 0;
    for (int64_t l = 0; l < W; ++l) s += v[l];
    return s;
  };
  const auto finish = [&](int64_t j, T z) {
    const T* c = a + j * lda;
    T t = 0;
    for (int64_t l = 0; l < i; ++l) t += c[l] * xi[l];
    const T yj = tauq * (z - gy[j]);
    y[j] = yj;
    return r[j] = c[i] - cy[j] - t - yj;
  };
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const T *c0 = a + j * lda, *c1 = c0 + lda, *c2 = c1 + lda, *c3 = c2 + lda;
    V s0 = {}, s1 = {}, s2 = {}, s3 = {};
    int64_t k = 0;
    for (; k + W <= mm; k += W) {
      const V u = ld(u1 + k);
      s0 += ld(c0 + k) * u, s1 += ld(c1 + k) * u, s2 += ld(c2 + k) * u, s3 += ld(c3 + k) * u;
    }
    T z0 = hsum(s0), z1 = hsum(s1), z2 = hsum(s2), z3 = hsum(s3);
    for (; k < mm; ++k) z0 += c0[k] * u1[k], z1 += c1[k] * u1[k], z2 += c2[k] * u1[k], z3 += c3[k] * u1[k];
    const T r0 = finish(j, z0), r1 = finish(j + 1, z1), r2 = finish(j + 2, z2), r3 = finish(j + 3, z3);
    const V v0 = V{} + r0, v1 = V{} + r1, v2 = V{} + r2, v3 = V{} + r3;
    for (k = 0; k + W <= mm; k += W) {
      const V s = ld(w + k) + ld(c0 + k) * v0 + ld(c1 + k) * v1 + ld(c2 + k) * v2 + ld(c3 + k) * v3;
      std::memcpy(w + k, &s, sizeof s);
    }
    for (; k < mm; ++k) w[k] += c0[k] * r0 + c1[k] * r1 + c2[k] * r2 + c3[k] * r3;
  }
  for (; j < j1; ++j) {
    const T* c = a + j * lda;
    V s = {};
    int64_t k = 0;
    for (; k + W <= mm; k += W) s += ld(c + k) * ld(u1 + k);
    T z = hsum(s);
    for (; k < mm; ++k) z += c[k] * u1[k];
    const T rj = finish(j, z);
    const V v = V{} + rj;
    for (k = 0; k + W <= mm; k += W) {
      const V o = ld(w + k) + ld(c + k) * v;
      std::memcpy(w + k, &o, sizeof o);
    }
    for (; k < mm; ++k) w[k] += c[k] * rj;
  }
}

// Panels of kBidiagBlock columns down to kBidiagTail columns, which LAPACK's
// gebrd finishes (unblocked there, as in its own crossover).
constexpr int kBidiagBlock = 32;
constexpr int kBidiagTail = 128;
constexpr int64_t kBidiagSplit = 64 * 1024;

// A (m x n, column-major, lda, m >= n) to upper bidiagonal form: d (n), e (n - 1),
// tauq and taup (n) and the reflectors in A, exactly as LAPACK's gebrd leaves them.
template <class T>
TESSEL_CLONES_WIDE void gebrd_fused(int m, int n, T* A, int lda, T* d, T* e, T* tauq, T* taup) {
  constexpr int nb = kBidiagBlock;
  const int64_t L = lda;
  const int threads = omp_get_max_threads();
  std::vector<T> X(int64_t(m) * nb), Y(int64_t(n) * nb), u1(m), w(m), w2(threads > 1 ? m : 0), av(m), r(n), gy(n),
      cy(n), p(nb), q(nb), xi(nb), t1(nb);
  int k = 0;
  for (; n - k > kBidiagTail; k += nb) {
    const int mm = m - k, nn = n - k;
    T* a = A + k + k * L;
    const auto at = [&](int64_t row, int64_t col) -> T& { return a[row + col * L]; };
    const auto x = [&](int64_t row, int64_t col) -> T& { return X[row + col * mm]; };
    const auto y = [&](int64_t row, int64_t col) -> T& { return Y[row + col * nn]; };
    for (int i = 0; i < nb; ++i) {
      // Column i with the panel's earlier steps applied: -= A Y(i, :)^T + X A(:, i).
      for (int l = 0; l < i; ++l) {
        const T yl = y(i, l), al = at(l, i);
        const T *ac = &at(0, l), *xc = &x(0, l);
        T* ci = &at(0, i);
        for (int row = i; row < mm; ++row) ci[row] -= ac[row] * yl + xc[row] * al;
      }
      lapack::larfg(mm - i, &at(i, i), &at(std::min(i + 1, mm - 1), i), &tauq[k + i]);
      d[k + i] = at(i, i);
      at(i, i) = T(1);
      const T* u = &at(i, i);
      // The panel-wide terms of Y(:, i) and of the row update, then the pass.
      for (int l = 0; l < i; ++l) {
        p[l] = lane_dot(&at(i, l), u, mm - i), q[l] = lane_dot(&x(i, l), u, mm - i), xi[l] = x(i, l);
        u1[l] = -q[l];
      }
      std::copy(u, u + (mm - i), u1.begin() + i);
      std::fill(gy.begin() + i + 1, gy.begin() + nn, T(0));
      std::fill(cy.begin() + i + 1, cy.begin() + nn, T(0));
      for (int l = 0; l < i; ++l) {
        const T pl = p[l], al = at(i, l);
        const T* yc = &y(0, l);
        for (int j = i + 1; j < nn; ++j) gy[j] += yc[j] * pl, cy[j] += yc[j] * al;
      }
      // Two threads split the columns, each with its own sum A r (the pass is
      // bound by each core's bandwidth from L3; below kBidiagSplit entries the
      // fork costs more than half the pass).
      const int64_t cols = nn - i - 1;
      const bool split = threads > 1 && int64_t(mm) * cols >= kBidiagSplit;
      const int64_t half = i + 1 + cols / 2;
      std::fill(w.begin(), w.begin() + mm, T(0));
      if (split) std::fill(w2.begin(), w2.begin() + mm, T(0));
#pragma omp parallel num_threads(2) if (split)
      {
        // A team of one (inside another parallel region) takes every column.
        const bool two = omp_get_num_threads() == 2, second = two && omp_get_thread_num() == 1;
        bidiag_pass(a, L, int64_t(mm), int64_t(i), second ? half : int64_t(i + 1), two && !second ? half : nn,
                    u1.data(), xi.data(), gy.data(), cy.data(), tauq[k + i], &y(0, i), r.data(),
                    second ? w2.data() : w.data());
      }
      if (split)
        for (int row = 0; row < mm; ++row) w[row] += w2[row];
      // The row reflector from r, then X(:, i) = taup (A v - A Y^T v - X A v) below row i.
      const T alpha = r[i + 1];
      lapack::larfg(nn - i - 1, &r[i + 1], &r[std::min(i + 2, nn - 1)], &taup[k + i]);
      const T beta = r[i + 1];
      e[k + i] = beta;
      at(i, i + 1) = T(1);
      for (int j = i + 2; j < nn; ++j) at(i, j) = r[j];
      T* xc = &x(0, i);
      if (taup[k + i] == T(0)) {
        std::fill(xc + i + 1, xc + mm, T(0));
        continue;
      }
      const T sc = T(1) / (alpha - beta);
      const T* a1 = &at(0, i + 1);
      for (int row = 0; row < mm; ++row) av[row] = (w[row] - a1[row] * alpha) * sc + a1[row];
      for (int l = 0; l <= i; ++l) t1[l] = y(i + 1, l) + lane_dot(&y(i + 2, l), &r[i + 2], nn - i - 2);
      for (int row = i + 1; row < mm; ++row) xc[row] = av[row];
      for (int l = 0; l <= i; ++l) {
        const T tl = t1[l];
        const T* ac = &at(0, l);
        for (int row = i + 1; row < mm; ++row) xc[row] -= ac[row] * tl;
      }
      for (int l = 0; l < i; ++l) {
        const T tl = av[l];
        const T* xl = &x(0, l);
        for (int row = i + 1; row < mm; ++row) xc[row] -= xl[row] * tl;
      }
      const T tp = taup[k + i];
      for (int row = i + 1; row < mm; ++row) xc[row] *= tp;
    }
    // The trailing block -= V Y^T + X U^T, then B's entries back on the diagonals.
    const int mr = mm - nb, nr = nn - nb;
    lapack::gemm('N', 'T', mr, nr, nb, T(-1), &at(nb, 0), lda, &y(nb, 0), nn, T(1), &at(nb, nb), lda);
    lapack::gemm('N', 'N', mr, nr, nb, T(-1), &x(nb, 0), mm, &at(0, nb), lda, T(1), &at(nb, nb), lda);
    for (int i = 0; i < nb; ++i) at(i, i) = d[k + i], at(i, i + 1) = e[k + i];
  }
  if (k == n) return;
  T* a = A + k + k * L;
  int info = 0;
  T wq;
  lapack::gebrd(m - k, n - k, a, lda, d + k, e + k, tauq + k, taup + k, &wq, -1, &info);
  std::vector<T> work(std::max<int64_t>(1, int64_t(wq)));
  lapack::gebrd(m - k, n - k, a, lda, d + k, e + k, tauq + k, taup + k, work.data(), int(work.size()), &info);
}

}  // namespace
}  // namespace tessel::cpu

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
