// LAPACK kernels of the linalg ops (contracts in tessel/linalg.h). Tensors are
// row-major and LAPACK column-major: each matrix is copied transposed into a
// column-major buffer (O(n^2) next to the O(n^3) factorization) except where
// reading the row-major buffer as the transpose is itself the answer (svd,
// triangular solve). Batches run in parallel over matrices; a single matrix
// leaves the threads to LAPACK (OpenBLAS runs single-threaded inside a parallel
// region, so the two never oversubscribe).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/gemm_blas.h"
#include "kernels/cpu/linalg_lapack.h"
#include "kernels/cpu/linalg_small.h"
#include "kernels/cpu/linalg_steps.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/serial.h"
#include "tessel/linalg.h"

namespace tessel::cpu {
namespace {

using linalg::LinalgParams;

template <class T>
struct RealOf {
  using type = T;
};
template <class T>
struct RealOf<std::complex<T>> {
  using type = T;
};
template <class T>
using real_t = typename RealOf<T>::type;
template <class T>
constexpr bool kComplex = !std::is_same_v<T, real_t<T>>;

// The copies between layouts go in 32 x 32 tiles, so that the strided side
// stays in L1: a 1024 x 1024 float64 matrix untiled cost qr 8-10 ms a copy.
constexpr int64_t kTile = 32;
// dst (column-major, leading dim ld >= m) <- src (row-major m x n).
template <class T>
void to_col(const T* src, int64_t m, int64_t n, T* dst, int64_t ld) {
  for (int64_t i0 = 0; i0 < m; i0 += kTile)
    for (int64_t j0 = 0; j0 < n; j0 += kTile)
      for (int64_t j = j0; j < std::min(j0 + kTile, n); ++j)
        for (int64_t i = i0; i < std::min(i0 + kTile, m); ++i) dst[j * ld + i] = src[i * n + j];
}
// dst (row-major m x n) <- src (column-major, leading dim ld).
template <class T>
void from_col(const T* src, int64_t ld, int64_t m, int64_t n, T* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += kTile)
    for (int64_t j0 = 0; j0 < n; j0 += kTile)
      for (int64_t i = i0; i < std::min(i0 + kTile, m); ++i)
        for (int64_t j = j0; j < std::min(j0 + kTile, n); ++j) dst[i * n + j] = src[j * ld + i];
}

// One thread for LAPACK on a small matrix: threads do not pay below ~n = 128
// (the OpenMP build of OpenBLAS reads this thread's omp_get_max_threads, so the
// setting is per calling thread), and on a busy machine their barriers cost
// far more than the work.
constexpr int64_t kSerialBelow = 128;
// Drivers that spend much of their time in level-2 panels and 32-column
// updates (sytrd for eigh, gebrd for svd) lose with two OpenBLAS threads
// further up. On the 2-core Zen 4 VM, one thread against two: eigh 5.4
// against 8.1-8.3 ms at 256, 13.2 against 12.0 at 384; svd 10.4 against 17.0
// at 256, 25.7 against 23.9 at 384; see docs/dev/decisions.md. qr (geqrt's
// recursive panels, 64-column blocks from 512), Intel VM, one thread against
// two: 2.1 against 2.6 ms at 256, 5.7 against 6.4-7.2 at 384, 13.8-14.0
// against 12.6-12.9 at 512, 23.8 against 20.2-21.8 at 640.
constexpr int64_t kSerialBelowQr = 512;
// Intel VM, float64, one thread against two: eigh 8.8 against 9.9 ms at 320,
// 13.4 against 14.0 at 384, 30.3 against 28.9 at 512; svd 17.3 against 20.0 at
// 320, 28.1 against 29.3 at 384, 69.7 against 68.5 at 512.
constexpr int64_t kSerialBelowEigSvd = 384;
// OpenBLAS's getrf and potrf on two threads against one, float64 (Intel VM):
// solve with 16 right-hand sides n = 256 825-861 against 713-731 us, 384 even,
// 512 3.5-3.6 against 4.2-4.3 ms; cholesky n = 128 124-153 against 82 us, 256
// 459-545 against 457-464, 384 even, 512 2.0-2.6 against 2.5 ms.
constexpr int64_t kSerialBelowTriangular = 384;

// Runs body(b) for each matrix [m, n] of the batch: in parallel when there are
// several (LAPACK then runs single-threaded inside each), else with LAPACK's
// own threads unless the matrix is small.
template <class F>
void for_batch(int64_t B, F&& body, int64_t size = kSerialBelow, int64_t serial_below = kSerialBelow) {
  if (B == 1) {
    OneThreadIf serial(size < serial_below);
    body(0);
    return;
  }
#pragma omp parallel for schedule(dynamic)
  for (int64_t b = 0; b < B; ++b) body(b);
}

// Real systems of order up to 512 with 2 to 32 right-hand sides are solved from
// the factors by lu_solve_rows (linalg_small.h; lu_solve: lu_solve_rows_nn), not getrs (one column is a
// dot product per row, and getrs' trsv stays ahead there: 1000 x 4 x 4 233
// against 285 us, 50 x 64 x 64 1519 against 1609). float64, 16 columns,
// one thread, the whole op (Intel VM, OpenBLAS 0.3.21): n = 64 51 -> 32 us, 256
// 830 -> 691, 512 4.15-4.21 -> 3.84-3.89 ms; at 1024 getrs wins (24.4-24.5
// against 25.1-25.2 ms: each row's sum reads all the rows solved before it, 64 MB
// through L2).
inline bool few_rhs(int64_t n, int64_t k) { return k >= 2 && k <= 32 && n <= 512; }

// B (n x k, row-major) copied to rows padded to whole 64-byte blocks, solved in place
// by solve(rows, ld, acc) (acc: one more padded row), then copied to X (n x k).
template <class T, class F>
void on_padded_rows(const T* bsrc, int64_t n, int64_t k, T* x, F&& solve) {
  const int64_t ld = padded<T>(k);
  std::unique_ptr<T[]> rows(new T[(n + 1) * ld]);
  for (int64_t i = 0; i < n; ++i) {
    std::copy(bsrc + i * k, bsrc + (i + 1) * k, rows.get() + i * ld);
    std::fill(rows.get() + i * ld + k, rows.get() + (i + 1) * ld, T(0));
  }
  solve(rows.get(), ld, rows.get() + n * ld);
  for (int64_t i = 0; i < n; ++i) std::copy(rows.get() + i * ld, rows.get() + i * ld + k, x + i * k);
}

template <class T>
void solve_kernel(const KernelCall& c) {
  const Tensor &A = c.in[0], &Bm = c.in[1];
  const int64_t B = A.shape()[0], n = A.shape()[1], k = Bm.shape()[2];
  const T* a = A.data<T>();
  const T* bsrc = Bm.data<T>();
  T* x = c.out[0].data<T>();
  int* info = c.out[1].data<int>();
  for_batch(
      B,
      [&](int64_t b) {
        // The row-major A is the column-major A^T: factor it as it lies (no
        // transpose) and solve with the transposed factors, A X = B.
        std::unique_ptr<T[]> ca(new T[n * n]);
        std::vector<int> piv(n);
        std::copy(a + b * n * n, a + (b + 1) * n * n, ca.get());
        info[b] = 0;
        lapack::getrf(int(n), int(n), ca.get(), piv.data(), &info[b]);
        const T* bb = bsrc + b * n * k;
        T* xb = x + b * n * k;
        if constexpr (!kComplex<T>) {
          if (few_rhs(n, k)) {
            on_padded_rows(bb, n, k, xb, [&](T* rows, int64_t ld, T* acc) {
              if (info[b] == 0) lu_solve_rows(ca.get(), piv.data(), n, rows, ld, acc);
            });
            return;
          }
        }
        std::unique_ptr<T[]> cb(new T[n * k]);
        to_col(bb, n, k, cb.get(), n);
        int solved = 0;
        if (info[b] == 0 && k > 0) lapack::getrs('T', int(n), int(k), ca.get(), piv.data(), cb.get(), &solved);
        from_col(cb.get(), n, n, k, xb);
      },
      n, kSerialBelowTriangular);
}

template <class T>
void lu_factor_kernel(const KernelCall& c) {
  const Tensor& A = c.in[0];
  const int64_t B = A.shape()[0], m = A.shape()[1], n = A.shape()[2], mn = std::min(m, n);
  const T* a = A.data<T>();
  T* lu = c.out[0].data<T>();
  int* piv = c.out[1].data<int>();
  int* info = c.out[2].data<int>();
  for_batch(
      B,
      [&](int64_t b) {
        std::vector<T> ca(m * n);
        to_col(a + b * m * n, m, n, ca.data(), m);
        info[b] = 0;
        if (mn > 0) lapack::getrf(int(m), int(n), ca.data(), piv + b * mn, &info[b]);
        from_col(ca.data(), m, m, n, lu + b * m * n);
      },
      std::max(m, n), kSerialBelowTriangular);
}

template <class T>
void lu_solve_kernel(const KernelCall& c) {
  const auto& p = *static_cast<const LinalgParams*>(c.params);
  const Tensor &LU = c.in[0], &P = c.in[1], &Bm = c.in[2];
  const int64_t B = LU.shape()[0], n = LU.shape()[1], k = Bm.shape()[2];
  const char trans = p.trans == 0 ? 'N' : (p.trans == 1 || !kComplex<T> ? 'T' : 'C');
  for_batch(
      B,
      [&](int64_t b) {
        if constexpr (!kComplex<T>) {
          if (trans == 'N' && few_rhs(n, k)) {  // the factors' rows as they lie, no copies of them
            on_padded_rows(Bm.data<T>() + b * n * k, n, k, c.out[0].data<T>() + b * n * k,
                           [&](T* rows, int64_t ld, T* acc) {
                             lu_solve_rows_nn(LU.data<T>() + b * n * n, P.data<int>() + b * n, n, rows, ld, acc);
                           });
            return;
          }
        }
        std::vector<T> ca(n * n), cb(n * k);
        to_col(LU.data<T>() + b * n * n, n, n, ca.data(), n);
        to_col(Bm.data<T>() + b * n * k, n, k, cb.data(), n);
        int info = 0;
        if (n > 0 && k > 0) lapack::getrs(trans, int(n), int(k), ca.data(), P.data<int>() + b * n, cb.data(), &info);
        from_col(cb.data(), n, n, k, c.out[0].data<T>() + b * n * k);
      },
      n);
}

template <class T>
void cholesky_kernel(const KernelCall& c) {
  const Tensor& A = c.in[0];
  const int64_t B = A.shape()[0], n = A.shape()[1];
  T* l = c.out[0].data<T>();
  int* info = c.out[1].data<int>();
  if constexpr (!kComplex<T>) {
    if (n <= kSmallCholesky) {
      for_batch(
          B,
          [&](int64_t b) {
            std::unique_ptr<T[]> w(new T[n * n]);
            info[b] = small_cholesky(A.data<T>() + b * n * n, l + b * n * n, n, w.get());
          },
          n);
      return;
    }
  }
  for_batch(
      B,
      [&](int64_t b) {
        // Column-major, the row-major A is A^T (conj(A) if complex): its upper
        // factor U^H U = A^T, read row-major, is L = U^T with L L^H = A. No transposes.
        std::unique_ptr<T[]> ca(new T[n * n]);
        std::copy(A.data<T>() + b * n * n, A.data<T>() + (b + 1) * n * n, ca.get());
        info[b] = 0;
        if (n > 0) lapack::potrf('U', int(n), ca.get(), &info[b]);
        // OpenBLAS's own potrf takes a NaN pivot for a positive one; reference
        // LAPACK (MKL, PyTorch) and the small kernel call it not positive-definite.
        for (int64_t i = 0; i < n && info[b] == 0; ++i)
          if (std::isnan(std::real(ca[i * n + i]))) info[b] = int(i + 1);
        T* o = l + b * n * n;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j) o[i * n + j] = j <= i ? ca[i * n + j] : T(0);
      },
      n, kSerialBelowTriangular);
}

// Householder QR as LAPACK's geqrt, whose recursive panels leave each block's
// triangular factor T, then Q by dorgqr's backward accumulation from those T
// (dorgqr forms each again with dlarft, 32 columns at a time). Against
// geqrf + orgqr, OpenBLAS 0.3.21, float64 n = 1024, Intel VM: 1 thread 84 ->
// 80 ms, 2 threads 69 -> 58; n = 256 2.3 -> 1.85 ms (docs/dev/decisions.md).
inline int qr_block(int64_t k) { return int(std::min<int64_t>(k, k >= 512 ? 64 : 32)); }

// Q (m x nc, nc >= k) in place over the k reflectors geqrt left in a (lda m),
// t holding each block's T (nb x k), work at least nc * nb. With two threads
// each block's larfb splits the columns right of it in two (the block's
// reflectors and T are only read; its own columns come after, by org2r).
template <class T>
void q_from_blocks(int m, int nc, int k, T* a, const T* tau, const T* t, int nb, T* work, int threads) {
  const int64_t lda = m, kk = (k - 1) / nb * nb;  // the last block's first column
  for (int64_t j = kk; j < nc; ++j) std::fill(a + j * lda, a + j * lda + kk, T(0));
  int info = 0;
  lapack::org2r(int(m - kk), int(nc - kk), int(k - kk), a + kk * lda + kk, m, tau + kk, work, &info);
  for (int64_t i = kk - nb; i >= 0; i -= nb) {
    T* panel = a + i * lda + i;
    const int cols = int(nc - i - nb), parts = threads > 1 && cols >= 64 ? 2 : 1;
#pragma omp parallel num_threads(parts) if (parts > 1)
    {
      const int q = omp_get_thread_num(), nq = omp_get_num_threads();
      const int c0 = cols * q / nq, c1 = cols * (q + 1) / nq;
      if (c1 > c0)  // work: nb rows per column, each thread past the other's
        lapack::larfb_left(int(m - i), c1 - c0, nb, panel, m, t + i * nb, panel + (nb + c0) * lda, m,
                           work + int64_t(c0) * nb);
    }
    lapack::org2r(int(m - i), nb, nb, panel, m, tau + i, work, &info);
    for (int64_t j = i; j < i + nb; ++j) std::fill(a + j * lda, a + j * lda + i, T(0));
  }
}

// Real QR up to ~100 KB by small_qr (linalg_small.h), not much taller than
// wide: there the unblocked reflectors stream the matrix from L2 once each.
// float64, one thread, against geqrt through the same op (Intel VM): 64 x 64 39
// against 92 us, 112 x 112 270 against 352, 128 x 128 569 against 373 (float32
// 146 against 266), 40 x 200 49 against 94, 300 x 30 168 against 106.
template <class T>
bool use_small_qr(int64_t m, int64_t n) {
  return m * n * int64_t(sizeof(T)) <= 100 * 1024 && m <= 2 * n + 16;
}

template <class T>
void qr_kernel(const KernelCall& c) {
  const auto& p = *static_cast<const LinalgParams*>(c.params);
  const Tensor& A = c.in[0];
  const int64_t B = A.shape()[0], m = A.shape()[1], n = A.shape()[2], k = std::min(m, n);
  const int64_t kr = c.out[1].shape()[1], mq = c.out[0].shape()[2];
  if constexpr (!kComplex<T>) {
    if (k > 0 && use_small_qr<T>(m, n)) {
      std::vector<char> done(B);
      for_batch(
          B,
          [&](int64_t b) {
            std::unique_ptr<T[]> w(new T[small_qr_scratch<T>(m, n, mq)]);
            T* qo = p.mode == 2 ? nullptr : c.out[0].data<T>() + b * m * mq;
            done[b] = small_qr(A.data<T>() + b * m * n, m, n, c.out[1].data<T>() + b * kr * n, kr, qo, mq, w.get());
          },
          std::max(m, n));
      if (std::all_of(done.begin(), done.end(), [](char d) { return d; })) return;
    }
  }
  const int threads = omp_get_max_threads();  // the caller's: for_batch may hold small ones to one
  for_batch(
      B,
      [&](int64_t b) {
        const int nb = qr_block(k);
        std::unique_ptr<T[]> ca(new T[m * std::max(n, m)]), t(new T[std::max<int64_t>(nb * k, 1)]),
            tau(new T[std::max<int64_t>(k, 1)]), work(new T[std::max<int64_t>(nb * std::max(n, mq), 1)]);
        to_col(A.data<T>() + b * m * n, m, n, ca.get(), std::max<int64_t>(m, 1));
        int info = 0;
        if (k > 0) lapack::geqrt(int(m), int(n), nb, ca.get(), int(m), t.get(), work.get(), &info);
        for (int64_t i = 0; i < k; ++i) tau[i] = t[i * nb + i % nb];  // the diagonal of each block's T
        T* r = c.out[1].data<T>() + b * kr * n;
        from_col(ca.get(), std::max<int64_t>(m, 1), kr, n, r);  // kr <= m rows
        for (int64_t i = 0; i < kr; ++i) std::fill(r + i * n, r + i * n + std::min(i, n), T(0));
        if (p.mode == 2) return;
        T* qo = c.out[0].data<T>() + b * m * mq;
        if (k == 0) {  // no reflectors: Q is the identity
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < mq; ++j) qo[i * mq + j] = T(i == j ? 1 : 0);
          return;
        }
        q_from_blocks(int(m), int(mq), int(k), ca.get(), tau.get(), t.get(), nb, work.get(),
                      omp_in_parallel() ? 1 : threads);
        from_col(ca.get(), m, m, mq, qo);
      },
      std::max(m, n), kSerialBelowQr);
}

// Real eigh with vectors up to this order by small_eigh (linalg_small.h), one
// thread, against Debian OpenBLAS dsyevd through the same op (Intel VM): float64
// n = 64 191 against 279 us, 96 642 against 784, 112 1033 against 1047, 128 1622
// against 1349; float32 n = 96 319 against 451, 128 778 against 916, 160 1328
// against 1444, 192 2369 against 2070.
template <class T>
constexpr int64_t kSmallEigh = sizeof(T) == 8 ? 112 : 160;
template <class T>
void eigh_kernel(const KernelCall& c) {
  using R = real_t<T>;
  const auto& p = *static_cast<const LinalgParams*>(c.params);
  const Tensor& A = c.in[0];
  const int64_t B = A.shape()[0], n = A.shape()[1];
  // Column-major, the row-major A is A^T = conj(A): its other triangle is A's
  // chosen one, and its eigenvectors are the conjugates of A's.
  const char jobz = p.compute_v ? 'V' : 'N', uplo = p.upper ? 'L' : 'U';
  int* info = c.out[2].data<int>();
  const int threads = omp_get_max_threads();  // the caller's: for_batch may hold small ones to one
  for_batch(
      B,
      [&](int64_t b) {
        R* w = c.out[0].data<R>() + b * n;
        info[b] = 0;
        if (n == 0) return;
        if constexpr (!kComplex<T>) {
          if (p.compute_v && n <= kSmallEigh<T>) {
            std::unique_ptr<T[]> scratch(new T[small_eigh_scratch<T>(n)]);
            if (small_eigh(A.data<T>() + b * n * n, p.upper, n, w, c.out[1].data<T>() + b * n * n, scratch.get()))
              return;
          }
        }
        std::vector<T> ca(A.data<T>() + b * n * n, A.data<T>() + (b + 1) * n * n);
        const int ni = int(n);
        T wq;
        int iq = 0, li = -1;
        if constexpr (kComplex<T>) {
          R rq;
          auto call = [&](T* wk, int lw, R* rw, int lrw, int* iw, int liw) {
            if constexpr (std::is_same_v<T, lapack::c64>)
              lapack::cheevd_(&jobz, &uplo, &ni, ca.data(), &ni, w, wk, &lw, rw, &lrw, iw, &liw, &info[b], 1, 1);
            else
              lapack::zheevd_(&jobz, &uplo, &ni, ca.data(), &ni, w, wk, &lw, rw, &lrw, iw, &liw, &info[b], 1, 1);
          };
          call(&wq, -1, &rq, -1, &iq, li);
          std::vector<T> work(lwork_of(wq));
          std::vector<R> rwork(std::max(1, int(rq)));
          std::vector<int> iwork(std::max(1, iq));
          call(work.data(), int(work.size()), rwork.data(), int(rwork.size()), iwork.data(), int(iwork.size()));
        } else if (!(p.compute_v && threads > 1 && !omp_in_parallel() &&
                     syevd_split(uplo, ni, ca.data(), w, &info[b]))) {
          auto call = [&](T* wk, int lw, int* iw, int liw) {
            if constexpr (std::is_same_v<T, float>)
              lapack::ssyevd_(&jobz, &uplo, &ni, ca.data(), &ni, w, wk, &lw, iw, &liw, &info[b], 1, 1);
            else
              lapack::dsyevd_(&jobz, &uplo, &ni, ca.data(), &ni, w, wk, &lw, iw, &liw, &info[b], 1, 1);
          };
          call(&wq, -1, &iq, li);
          std::vector<T> work(lwork_of(wq));
          std::vector<int> iwork(std::max(1, iq));
          call(work.data(), int(work.size()), iwork.data(), int(iwork.size()));
        }
        if (!p.compute_v) return;
        T* v = c.out[1].data<T>() + b * n * n;
        from_col(ca.data(), n, n, n, v);
        if constexpr (kComplex<T>)
          for (int64_t i = 0; i < n * n; ++i) v[i] = std::conj(v[i]);
      },
      n, kSerialBelowEigSvd);
}

// The row-major A [m, n] is the column-major A^T [n, m]; its SVD V S U^T (A^T =
// conj(V) S U^T for complex) hands back, read row-major, Vh where LAPACK writes
// "U" and U where it writes "VT": no transposes at all.
template <class T>
void svd_kernel(const KernelCall& c) {
  using R = real_t<T>;
  const auto& p = *static_cast<const LinalgParams*>(c.params);
  const Tensor& A = c.in[0];
  const int64_t B = A.shape()[0], m = A.shape()[1], n = A.shape()[2], k = std::min(m, n);
  const char jobz = !p.compute_v ? 'N' : (p.full ? 'A' : 'S');
  const int64_t ku = p.compute_v ? (p.full ? m : k) : 0, kv = p.compute_v ? (p.full ? n : k) : 0;
  int* info = c.out[3].data<int>();
  const int threads = omp_get_max_threads();  // the caller's: for_batch may hold small ones to one
  for_batch(
      B,
      [&](int64_t b) {
        info[b] = 0;
        if (k == 0) return;
        std::vector<T> ca(A.data<T>() + b * m * n, A.data<T>() + (b + 1) * m * n);
        T dummy[1];
        T* vh = p.compute_v ? c.out[2].data<T>() + b * kv * n : dummy;
        T* u = p.compute_v ? c.out[0].data<T>() + b * m * ku : dummy;
        R* s = c.out[1].data<R>() + b * k;
        const int M = int(n), N = int(m), ldu = int(n), ldvt = std::max(1, int(ku));
        if constexpr (!kComplex<T>) {
          if (svd_bidiag(jobz, M, N, ca.data(), s, vh, ldu, u, ldvt, &info[b], threads)) return;
          // A tall A is a wide A^T to LAPACK: reduce A itself, copied to columns.
          if (svd_bidiag_shape(jobz, m, n)) {
            std::vector<T> col(m * n), u2(p.compute_v ? m * k : 0), v2(p.compute_v ? k * n : 0);
            to_col(A.data<T>() + b * m * n, m, n, col.data(), m);
            if (svd_bidiag(jobz, int(m), int(n), col.data(), s, u2.data(), int(m), v2.data(), int(k), &info[b],
                           threads)) {
              if (p.compute_v && info[b] == 0) from_col(u2.data(), m, m, k, u), from_col(v2.data(), k, k, n, vh);
              return;
            }
          }
        }
        std::vector<int> iwork(8 * k);
        T wq;
        int lw = -1;
        if constexpr (kComplex<T>) {
          const int64_t mx = std::max(m, n);
          std::vector<R> rwork(p.compute_v ? k * std::max(5 * k + 7, 2 * mx + 2 * k + 1) : 7 * k);
          auto call = [&](T* wk) {
            if constexpr (std::is_same_v<T, lapack::c64>)
              lapack::cgesdd_(&jobz, &M, &N, ca.data(), &M, s, vh, &ldu, u, &ldvt, wk, &lw, rwork.data(), iwork.data(),
                              &info[b], 1);
            else
              lapack::zgesdd_(&jobz, &M, &N, ca.data(), &M, s, vh, &ldu, u, &ldvt, wk, &lw, rwork.data(), iwork.data(),
                              &info[b], 1);
          };
          call(&wq);
          std::vector<T> work(lwork_of(wq));
          lw = int(work.size());
          call(work.data());
        } else {
          auto call = [&](T* wk) {
            if constexpr (std::is_same_v<T, float>)
              lapack::sgesdd_(&jobz, &M, &N, ca.data(), &M, s, vh, &ldu, u, &ldvt, wk, &lw, iwork.data(), &info[b], 1);
            else
              lapack::dgesdd_(&jobz, &M, &N, ca.data(), &M, s, vh, &ldu, u, &ldvt, wk, &lw, iwork.data(), &info[b], 1);
          };
          call(&wq);
          std::vector<T> work(lwork_of(wq));
          lw = int(work.size());
          call(work.data());
        }
      },
      std::max(m, n), kSerialBelowEigSvd);
}

template <class T>
void eig_kernel(const KernelCall& c) {
  using R = real_t<T>;
  using C = std::complex<R>;
  const auto& p = *static_cast<const LinalgParams*>(c.params);
  const Tensor& A = c.in[0];
  const int64_t B = A.shape()[0], n = A.shape()[1];
  const char jl = 'N', jr = p.compute_v ? 'V' : 'N';
  int* info = c.out[2].data<int>();
  for_batch(B, [&](int64_t b) {
    info[b] = 0;
    if (n == 0) return;
    std::vector<T> ca(n * n), vr(p.compute_v ? n * n : 1);
    to_col(A.data<T>() + b * n * n, n, n, ca.data(), n);
    C* w = c.out[0].data<C>() + b * n;
    C* v = p.compute_v ? c.out[1].data<C>() + b * n * n : nullptr;
    const int ni = int(n), ldv = p.compute_v ? ni : 1, one = 1;
    T wq, dummy[1];
    int lw = -1;
    if constexpr (kComplex<T>) {
      std::vector<R> rwork(2 * n);
      auto call = [&](T* wk) {
        if constexpr (std::is_same_v<T, lapack::c64>)
          lapack::cgeev_(&jl, &jr, &ni, ca.data(), &ni, w, dummy, &one, vr.data(), &ldv, wk, &lw, rwork.data(),
                         &info[b], 1, 1);
        else
          lapack::zgeev_(&jl, &jr, &ni, ca.data(), &ni, w, dummy, &one, vr.data(), &ldv, wk, &lw, rwork.data(),
                         &info[b], 1, 1);
      };
      call(&wq);
      std::vector<T> work(lwork_of(wq));
      lw = int(work.size());
      call(work.data());
      if (v) from_col(vr.data(), n, n, n, v);
    } else {
      std::vector<T> wr(n), wi(n);
      auto call = [&](T* wk) {
        if constexpr (std::is_same_v<T, float>)
          lapack::sgeev_(&jl, &jr, &ni, ca.data(), &ni, wr.data(), wi.data(), dummy, &one, vr.data(), &ldv, wk, &lw,
                         &info[b], 1, 1);
        else
          lapack::dgeev_(&jl, &jr, &ni, ca.data(), &ni, wr.data(), wi.data(), dummy, &one, vr.data(), &ldv, wk, &lw,
                         &info[b], 1, 1);
      };
      call(&wq);
      std::vector<T> work(lwork_of(wq));
      lw = int(work.size());
      call(work.data());
      for (int64_t j = 0; j < n; ++j) w[j] = C(wr[j], wi[j]);
      if (!v) return;
      // A complex pair j, j + 1 shares columns: v_j = re + i im, v_{j+1} = its conjugate.
      for (int64_t j = 0; j < n; ++j) {
        if (wi[j] != 0 && j + 1 < n) {
          for (int64_t i = 0; i < n; ++i) {
            const R re = vr[j * n + i], im = vr[(j + 1) * n + i];
            v[i * n + j] = C(re, im);
            v[i * n + j + 1] = C(re, -im);
          }
          ++j;
        } else {
          for (int64_t i = 0; i < n; ++i) v[i * n + j] = C(vr[j * n + i], 0);
        }
      }
    }
  }, n);
}

// Bunch-Kaufman LDL^T (LDL^H when p.mode == 1) from the lower triangle, as
// LAPACK's ?sytrf/?hetrf lay it out: LD packs D's blocks and L's multipliers.
template <class T>
void ldl_factor_kernel(const KernelCall& c) {
  const auto& p = *static_cast<const LinalgParams*>(c.params);
  const Tensor& A = c.in[0];
  const int64_t B = A.shape()[0], n = A.shape()[1];
  int* info = c.out[2].data<int>();
  for_batch(B, [&](int64_t b) {
    std::vector<T> ca(n * n);
    to_col(A.data<T>() + b * n * n, n, n, ca.data(), n);
    info[b] = 0;
    if (n > 0) {
      int* piv = c.out[1].data<int>() + b * n;
      T q;
      lapack::ldl_factor(p.mode == 1, int(n), ca.data(), piv, &q, -1, &info[b]);
      std::vector<T> work(lwork_of(q));
      lapack::ldl_factor(p.mode == 1, int(n), ca.data(), piv, work.data(), int(work.size()), &info[b]);
    }
    T* ld = c.out[0].data<T>() + b * n * n;
    from_col(ca.data(), n, n, n, ld);
    for (int64_t i = 0; i < n; ++i)  // the upper triangle still holds A's: clear it
      for (int64_t j = i + 1; j < n; ++j) ld[i * n + j] = T(0);
  }, n);
}

template <class T>
void ldl_solve_kernel(const KernelCall& c) {
  const auto& p = *static_cast<const LinalgParams*>(c.params);
  const Tensor &LD = c.in[0], &P = c.in[1], &Bm = c.in[2];
  const int64_t B = LD.shape()[0], n = LD.shape()[1], k = Bm.shape()[2];
  for_batch(B, [&](int64_t b) {
    std::vector<T> ca(n * n), cb(n * k);
    to_col(LD.data<T>() + b * n * n, n, n, ca.data(), n);
    to_col(Bm.data<T>() + b * n * k, n, k, cb.data(), n);
    int info = 0;
    if (n > 0 && k > 0)
      lapack::ldl_solve(p.mode == 1, int(n), int(k), ca.data(), P.data<int>() + b * n, cb.data(), &info);
    from_col(cb.data(), n, n, k, c.out[0].data<T>() + b * n * k);
  }, n);
}

// Row-major A X = B is column-major X^T A^T = B^T: a right-side trsm on the
// buffers as they are, with the triangle flipped.
template <class T>
void solve_triangular_kernel(const KernelCall& c) {
  const auto& p = *static_cast<const LinalgParams*>(c.params);
  const Tensor &A = c.in[0], &Bm = c.in[1];
  const int64_t B = A.shape()[0], n = A.shape()[1], k = Bm.shape()[2];
  T* x = c.out[0].data<T>();
  std::memcpy(x, Bm.data<T>(), sizeof(T) * B * n * k);
  if (n == 0 || k == 0) return;
  for_batch(B, [&](int64_t b) {
    lapack::trsm('R', p.upper ? 'L' : 'U', p.unit ? 'U' : 'N', int(k), int(n), A.data<T>() + b * n * n, int(n),
                 x + b * n * k, int(k));
  }, n);
}

template <template <class> class K>
void register_all(const char* name) {
  auto& reg = Registry::get();
  const OpId id = reg.op_id(name);
  reg.add(id, DeviceType::CPU, DType::Float32, &K<float>::run);
  reg.add(id, DeviceType::CPU, DType::Float64, &K<double>::run);
  reg.add(id, DeviceType::CPU, DType::Complex64, &K<complex64>::run);
  reg.add(id, DeviceType::CPU, DType::Complex128, &K<complex128>::run);
}

#define TS_LINALG_KERNEL(name)                        \
  template <class T>                                  \
  struct name##_k {                                   \
    static void run(const KernelCall& c) { name##_kernel<T>(c); } \
  };
TS_LINALG_KERNEL(solve)
TS_LINALG_KERNEL(lu_factor)
TS_LINALG_KERNEL(lu_solve)
TS_LINALG_KERNEL(cholesky)
TS_LINALG_KERNEL(qr)
TS_LINALG_KERNEL(eigh)
TS_LINALG_KERNEL(svd)
TS_LINALG_KERNEL(eig)
TS_LINALG_KERNEL(solve_triangular)
TS_LINALG_KERNEL(ldl_factor)
TS_LINALG_KERNEL(ldl_solve)
#undef TS_LINALG_KERNEL

const bool registered = [] {
  register_all<solve_k>("linalg_solve");
  register_all<lu_factor_k>("linalg_lu_factor");
  register_all<lu_solve_k>("linalg_lu_solve");
  register_all<cholesky_k>("linalg_cholesky");
  register_all<qr_k>("linalg_qr");
  register_all<eigh_k>("linalg_eigh");
  register_all<svd_k>("linalg_svd");
  register_all<eig_k>("linalg_eig");
  register_all<solve_triangular_k>("linalg_solve_triangular");
  register_all<ldl_factor_k>("linalg_ldl_factor");
  register_all<ldl_solve_k>("linalg_ldl_solve");
  return true;
}();

}  // namespace

bool blas_sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b,
                int64_t ldb, float* c, int64_t ldc) {
#ifdef TESSEL_OPENBLAS
  constexpr int64_t kMax = (int64_t{1} << 31) - 1;
  if (std::max({M, N, K, lda, ldb, ldc}) > kMax) return false;
  // column-major: c^T [N, M] = op(b)^T op(a)^T
  const int m = int(N), n = int(M), k = int(K), la = int(ldb), lb = int(lda), lc = int(ldc);
  const float one = 1.0f, zero = 0.0f;
  lapack::sgemm_(&tb, &ta, &m, &n, &k, &one, b, &la, a, &lb, &zero, c, &lc, 1, 1);
  return true;
#else
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc;
  return false;
#endif
}

}  // namespace tessel::cpu
