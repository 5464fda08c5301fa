#pragma once
// LAPACK drivers run a step at a time, where tessel splits a step over the
// caller's threads or replaces one: syevd's phases for eigh (sytrd, stedc torn
// in two, ormtr split by columns) and gesdd's path on gebrd_fused's bidiagonal
// form for svd. Each declines (returns false, its input untouched) where the
// driver would take another path, so the caller runs the driver itself. Only
// linalg_lapack.cpp includes this.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <omp.h>

#include "kernels/cpu/linalg_bidiag.h"
#include "kernels/cpu/linalg_lapack.h"

namespace tessel::cpu {
namespace {

// Optimal workspace size from a LAPACK query (lwork = -1 writes it to work[0]).
template <class T>
int lwork_of(const T& w) {
  return std::max(1, static_cast<int>(std::real(w)));
}

// True unless every entry is finite and the largest is in [lo, 1 / lo], lo =
// sqrt(safmin) / eps for gesdd, sqrt(safmin / eps) for syevd: the ranges where
// LAPACK's drivers scale the matrix first (or give up), which the split drivers
// below leave to them. Column-major n columns of rows [lo(j), hi(j)).
template <class T, class Rows>
bool needs_scaling(const T* a, int64_t ld, int64_t n, T lo, Rows rows) {
  T amax = 0;
  bool finite = true;
  for (int64_t j = 0; j < n; ++j) {
    const auto [r0, r1] = rows(j);
    for (int64_t i = r0; i < r1; ++i) {
      const T v = std::abs(a[j * ld + i]);
      amax = v > amax ? v : amax;
      finite = finite && v <= std::numeric_limits<T>::max();
    }
  }
  return !finite || !(amax >= lo && amax <= T(1) / lo);
}

// stedc('I') of the tridiagonal (d, e) on two threads: torn in two as stedc's
// divide and conquer tears it (d[h - 1] and d[h] less |e[h - 1]|), each half
// solved on a thread of its own, then LAPACK's rank-one merge (laed1) and the
// eigenvalues sorted. Scaled first by a power of two (exact; stedc scales by
// the norm itself). An exact zero at the tear (the matrix already splits
// there) goes to stedc whole. Eigenvalues in d, ascending; vectors in z.
// float64 n = 256 2.11 -> 1.54 ms, 1024 35.1 -> 32.4 (a /tmp C program).
template <class T>
void stedc_torn(int n, T* d, T* e, T* z, int* info) {
  const int h = n / 2;
  T norm = 0;
  for (int i = 0; i < n; ++i) norm = std::max(norm, std::abs(d[i]));
  for (int i = 0; i + 1 < n; ++i) norm = std::max(norm, std::abs(e[i]));
  if (n < 4 || e[h - 1] == T(0) || !(norm > T(0))) {
    std::vector<T> wk(1 + 4 * int64_t(n) + int64_t(n) * n);
    std::vector<int> iw(3 + 5 * int64_t(n));
    lapack::stedc('I', n, d, e, z, n, wk.data(), int(wk.size()), iw.data(), int(iw.size()), info);
    return;
  }
  const int ex = std::ilogb(norm);
  for (int i = 0; i < n; ++i) d[i] = std::ldexp(d[i], -ex);
  for (int i = 0; i + 1 < n; ++i) e[i] = std::ldexp(e[i], -ex);
  const T rho = e[h - 1];
  d[h - 1] -= std::abs(rho), d[h] -= std::abs(rho);
  std::vector<T> q(int64_t(n) * n, T(0));
  int part_info[2] = {0, 0};
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    for (int part = t; part < 2; part += nt) {
      const int off = part ? h : 0, len = part ? n - h : h;
      std::vector<T> wk(1 + 4 * int64_t(len) + int64_t(len) * len);
      std::vector<int> iw(3 + 5 * int64_t(len));
      lapack::stedc('I', len, d + off, e + off, q.data() + off + int64_t(off) * n, n, wk.data(), int(wk.size()),
                    iw.data(), int(iw.size()), &part_info[part]);
    }
  }
  if ((*info = part_info[0] ? part_info[0] : part_info[1]) != 0) return;
  std::vector<int> indxq(n), iw(4 * int64_t(n));  // each half sorted: 1-based within it
  for (int i = 0; i < n; ++i) indxq[i] = i < h ? i + 1 : i - h + 1;
  std::vector<T> wk(4 * int64_t(n) + int64_t(n) * n);
  lapack::laed1(n, d, q.data(), n, indxq.data(), rho, h, wk.data(), iw.data(), info);
  if (*info != 0) return;
  std::vector<T> sorted(n);
  for (int i = 0; i < n; ++i) {
    const int j = indxq[i] - 1;
    sorted[i] = std::ldexp(d[j], ex);
    std::copy(q.data() + int64_t(j) * n, q.data() + int64_t(j + 1) * n, z + int64_t(i) * n);
  }
  std::copy(sorted.begin(), sorted.end(), d);
}

// syevd's three phases (sytrd, stedc torn in two, ormtr) with the
// back-transformation, 2 n^3 flops that Debian's OpenBLAS runs no faster on two
// threads than on one, split by columns of Z over two threads, each on its own
// copy of the reflectors (ormtr's unblocked steps write a 1 into them and
// restore it). False, a untouched, where syevd would scale the matrix first.
template <class T>
bool syevd_split(char uplo, int n, T* a, T* w, int* info) {
  const T lo = std::sqrt(std::numeric_limits<T>::min() / std::numeric_limits<T>::epsilon());
  if (needs_scaling(a, n, n, lo, [&](int64_t j) {
        return uplo == 'L' ? std::pair<int64_t, int64_t>{j, n} : std::pair<int64_t, int64_t>{0, j + 1};
      }))
    return false;
  std::vector<T> d(n), e(n), tau(n);
  int q = 0;
  T wq;
  lapack::sytrd(uplo, n, a, d.data(), e.data(), tau.data(), &wq, -1, &q);
  std::vector<T> work(lwork_of(wq));
  lapack::sytrd(uplo, n, a, d.data(), e.data(), tau.data(), work.data(), int(work.size()), &q);
  std::vector<T> z(int64_t(n) * n);
  stedc_torn(n, d.data(), e.data(), z.data(), info);
  if (*info != 0) return true;
  std::vector<T> copy(a, a + int64_t(n) * n);
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num(), parts = omp_get_num_threads();
    const int c0 = n * t / parts, c1 = n * (t + 1) / parts, lw = n * 64;
    std::vector<T> wt(lw);
    int qt = 0;
    if (c1 > c0)
      lapack::ormtr(uplo, n, c1 - c0, t == 0 ? a : copy.data(), tau.data(), z.data() + int64_t(c0) * n, wt.data(), lw,
                    &qt);
  }
  std::copy(z.begin(), z.end(), a);
  std::copy(d.begin(), d.end(), w);
  return true;
}

// Real SVD (column-major M x N, M >= N) as gesdd's path for M < 11 N / 6, on
// gebrd_fused's bidiagonal form: bdsdc, then Q and P applied to its vectors (each
// thread half of U's columns and of VT's rows, on its own copy of the
// reflectors: ormbr's unblocked steps write a 1 into them and restore it), on
// the caller's threads also where gebrd and bdsdc run on one (below
// kSerialBelowEigSvd).
// False (ca untouched) where gesdd's own path differs: wide panels past 11/6,
// jobz 'A' with M > N, sizes where gebrd_fused has no panel, and a matrix gesdd
// would scale first.
inline bool svd_bidiag_shape(char jobz, int64_t M, int64_t N) {
  return N > kBidiagTail && M >= N && 6 * M < 11 * N && (jobz != 'A' || M == N);
}
template <class T>
bool svd_bidiag(char jobz, int M, int N, T* ca, T* s, T* u, int ldu, T* vt, int ldvt, int* info, int threads) {
  if (!svd_bidiag_shape(jobz, M, N)) return false;
  const T lo = std::sqrt(std::numeric_limits<T>::min()) / std::numeric_limits<T>::epsilon();
  if (needs_scaling(ca, M, N, lo, [&](int64_t) { return std::pair<int64_t, int64_t>{0, M}; })) return false;
  std::vector<T> d(N), e(N), tq(N), tp(N);
  gebrd_fused(M, N, ca, M, d.data(), e.data(), tq.data(), tp.data());
  std::vector<int> iw(8 * int64_t(N));
  if (jobz == 'N') {
    std::vector<T> w(4 * int64_t(N));
    lapack::bdsdc('U', 'N', N, d.data(), e.data(), nullptr, 1, nullptr, 1, w.data(), iw.data(), info);
  } else {
    for (int j = 0; j < N; ++j) std::fill(u + int64_t(j) * ldu, u + int64_t(j) * ldu + M, T(0));
    std::vector<T> w((3 * int64_t(N) + 4) * N);
    lapack::bdsdc('U', 'I', N, d.data(), e.data(), u, ldu, vt, ldvt, w.data(), iw.data(), info);
    if (*info != 0) return true;
    const int parts = threads > 1 && !omp_in_parallel() ? 2 : 1;
    std::vector<T> copy(parts > 1 ? int64_t(M) * N : 0);
    if (parts > 1) std::copy(ca, ca + int64_t(M) * N, copy.begin());
#pragma omp parallel num_threads(parts)
    {
      const int t = omp_get_thread_num();
      const int lo = N * t / parts, hi = N * (t + 1) / parts, lw = std::max(M, N) * 64;
      T* a = t == 0 ? ca : copy.data();
      std::vector<T> wk(lw);
      int q = 0;
      if (hi > lo) {
        lapack::ormbr('Q', 'L', 'N', M, hi - lo, N, a, M, tq.data(), u + int64_t(lo) * ldu, ldu, wk.data(), lw, &q);
        lapack::ormbr('P', 'R', 'T', hi - lo, N, N, a, M, tp.data(), vt + lo, ldvt, wk.data(), lw, &q);
      }
    }
  }
  std::copy(d.begin(), d.end(), s);
  return true;
}

}  // namespace
}  // namespace tessel::cpu
