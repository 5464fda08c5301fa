// float32 products of a few rows (gemv.h): one pass over the weight matrix, no
// packing. oneDNN 2.6 on an unpacked weight took 1.7-3.5x NumPy's (OpenBLAS
// sgemv, 2 threads) time for 1 x K @ K x N: the product streams the weights
// once, and any copy of them costs as much again. AMD EPYC, 1 thread, 1 x 4096 @
// 4096 x 4096: 6.98 ms -> 2.84 (row-major) and 2.72 (transposed view); 2 threads
// 2.32 / 2.23 against NumPy's 2.07 / 2.34 (bench/bench_ops.py's gemv rows).
#include "kernels/cpu/gemv.h"

#include <omp.h>

#include <algorithm>

#include "kernels/cpu/loops.h"

namespace tessel::cpu {
namespace {
constexpr int64_t kMaxRows = 4;
// Columns per pass, M of them: the M rows of y stay in L1 while whole rows of b
// stream through (512 columns: 4096 x 4096 at 14 GB/s, strided 2 KiB pieces).
constexpr int64_t kChunkFloats = 8192;

// y[m, n0:n1] = sum_k a[m, k] * b[k, n0:n1], b row-major (its rows `ldb` apart).
__attribute__((target_clones("avx512f", "avx2", "default"))) void rows_nn(
    const float* a, int64_t lda, const float* b, int64_t ldb, float* y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
    int64_t n1) {
  const int64_t chunk = kChunkFloats / m;
  for (int64_t c0 = n0; c0 < n1; c0 += chunk) {
    const int64_t c1 = std::min(n1, c0 + chunk);
    for (int64_t r = 0; r < m; ++r) {
      float* yr = y + r * ldy;
#pragma omp simd
      for (int64_t j = c0; j < c1; ++j) yr[j] = 0.0f;
    }
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) {  // four rows of b per pass over y: a quarter of the y traffic
      const float *b0 = b + i * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
      for (int64_t r = 0; r < m; ++r) {
        const float* ar = a + r * lda + i;
        const float s0 = ar[0], s1 = ar[1], s2 = ar[2], s3 = ar[3];
        float* yr = y + r * ldy;
#pragma omp simd
        for (int64_t j = c0; j < c1; ++j) yr[j] += s0 * b0[j] + s1 * b1[j] + s2 * b2[j] + s3 * b3[j];
      }
    }
    for (; i < k; ++i) {
      const float* bi = b + i * ldb;
      for (int64_t r = 0; r < m; ++r) {
        const float s = a[r * lda + i];
        float* yr = y + r * ldy;
#pragma omp simd
        for (int64_t j = c0; j < c1; ++j) yr[j] += s * bi[j];
      }
    }
  }
}

// y[m, n] = dot(a[m, :], bt[n, :]) for n in [n0, n1), bt's rows `ldb` apart
// (b is the transposed view of a row-major [N, K]: a Linear layer's weight).
__attribute__((target_clones("avx512f", "avx2", "default"))) void rows_nt(
    const float* a, int64_t lda, const float* bt, int64_t ldb, float* y, int64_t ldy, int64_t m, int64_t k,
    int64_t n0, int64_t n1) {
  int64_t j = n0;
  for (; j + 4 <= n1; j += 4) {  // four rows of bt at once: four streams, four sums in flight
    const float *b0 = bt + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    for (int64_t r = 0; r < m; ++r) {
      const float* ar = a + r * lda;
      float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int64_t i = 0; i < k; ++i) {
        s0 += ar[i] * b0[i];
        s1 += ar[i] * b1[i];
        s2 += ar[i] * b2[i];
        s3 += ar[i] * b3[i];
      }
      float* yr = y + r * ldy + j;
      yr[0] = s0, yr[1] = s1, yr[2] = s2, yr[3] = s3;
    }
  }
  for (; j < n1; ++j) {
    const float* bj = bt + j * ldb;
    for (int64_t r = 0; r < m; ++r) {
      const float* ar = a + r * lda;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < k; ++i) s += ar[i] * bj[i];
      y[r * ldy + j] = s;
    }
  }
}
}  // namespace

bool gemv_f32(const Tensor& a, const Tensor& b, const Tensor& out) {
  // a [B, M, K], b [B, K, N] (batch stride 0 when shared), out [B, M, N] contiguous.
  const int64_t nb = a.shape()[0], m = a.shape()[1], k = a.shape()[2], n = b.shape()[2];
  if (a.dtype() != DType::Float32 || m < 1 || m > kMaxRows || k < 16 || n < 16 || a.strides()[2] != 1 ||
      !out.is_contiguous())
    return false;
  // Row-major b for one row only: with 2-4 rows, oneDNN's cached-weight product was
  // faster while b sat in cache (4 x 1280 @ 1280 x 1000, 1 thread: 124 against 175
  // us); a transposed view (a Linear weight) for all four (179 against 234).
  const bool nn = m == 1 && b.strides()[2] == 1 && b.strides()[1] >= n;
  const bool nt = !nn && b.strides()[1] == 1 && b.strides()[2] >= k;
  if (!nn && !nt) return false;
  const float* ad = a.data<float>();
  const float* bd = b.data<float>();
  float* yd = out.data<float>();
  const int64_t ldb = nn ? b.strides()[1] : b.strides()[2];
  for (int64_t p = 0; p < nb; ++p) {
    const float* ap = ad + p * a.strides()[0];
    const float* bp = bd + p * b.strides()[0];
    float* yp = yd + p * m * n;
    // Columns over the threads in 16-wide pieces (whole cache lines of y).
    const int64_t pieces = (n + 15) / 16;
    parallel_for(pieces, 16 * k * m, [&](int64_t p0, int64_t p1) {
      const int64_t n0 = p0 * 16, n1 = std::min(n, p1 * 16);
      if (nn) rows_nn(ap, a.strides()[1], bp, ldb, yp, n, m, k, n0, n1);
      else rows_nt(ap, a.strides()[1], bp, ldb, yp, n, m, k, n0, n1);
    });
  }
  return true;
}

}  // namespace tessel::cpu
