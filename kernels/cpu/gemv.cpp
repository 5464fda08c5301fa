// float32 products of a few rows (gemv.h): one pass over the weight matrix, no
// packing. oneDNN 2.6 on an unpacked weight took 1.7-3.5x NumPy's (OpenBLAS
// sgemv, 2 threads) time for 1 x K @ K x N: the product streams the weights
// once, and any copy of them costs as much again. AMD EPYC, 1 thread, 1 x 4096 @
// 4096 x 4096: 6.98 ms -> 2.84 (row-major) and 2.72 (transposed view); 2 threads
// 2.32 / 2.23 against NumPy's 2.07 / 2.34 (bench/bench_ops.py's gemv rows).
#include "kernels/cpu/gemv.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "kernels/cpu/bf16_simd.h"
#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduced_float.h"

namespace tessel::cpu {
namespace {
constexpr int64_t kMaxRows = 4;
// Columns per pass, M of them: the M rows of y stay in L1 while whole rows of b
// stream through (512 columns: 4096 x 4096 at 14 GB/s, strided 2 KiB pieces).
constexpr int64_t kChunkFloats = 8192;

// A weight as float: float32 as is, bfloat16 (its bits) as the high half of a float32,
// widened in registers, so a bfloat16 weight is streamed once at 2 bytes a value.
inline float wide(float x) { return x; }
inline float wide(uint16_t x) { return std::bit_cast<float>(static_cast<uint32_t>(x) << 16); }

// y[m, n0:n1] = sum_k a[m, k] * b[k, n0:n1], b row-major (its rows `ldb` apart).
template <class W>
TESSEL_CLONES_WIDE void rows_nn(const float* a, int64_t lda, const W* b, int64_t ldb, float* y, int64_t ldy, int64_t m,
                                int64_t k, int64_t n0, int64_t n1) {
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
      const W *b0 = b + i * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
      for (int64_t r = 0; r < m; ++r) {
        const float* ar = a + r * lda + i;
        const float s0 = ar[0], s1 = ar[1], s2 = ar[2], s3 = ar[3];
        float* yr = y + r * ldy;
#pragma omp simd
        for (int64_t j = c0; j < c1; ++j)
          yr[j] += s0 * wide(b0[j]) + s1 * wide(b1[j]) + s2 * wide(b2[j]) + s3 * wide(b3[j]);
      }
    }
    for (; i < k; ++i) {
      const W* bi = b + i * ldb;
      for (int64_t r = 0; r < m; ++r) {
        const float s = a[r * lda + i];
        float* yr = y + r * ldy;
#pragma omp simd
        for (int64_t j = c0; j < c1; ++j) yr[j] += s * wide(bi[j]);
      }
    }
  }
}

// y[m, n] = dot(a[m, :], bt[n, :]) for n in [n0, n1), bt's rows `ldb` apart
// (b is the transposed view of a row-major [N, K]: a Linear layer's weight).
template <class W>
TESSEL_CLONES_WIDE void rows_nt(const float* a, int64_t lda, const W* bt, int64_t ldb, float* y, int64_t ldy, int64_t m,
                                int64_t k, int64_t n0, int64_t n1) {
  int64_t j = n0;
  for (; j + 4 <= n1; j += 4) {  // four rows of bt at once: four streams, four sums in flight
    const W *b0 = bt + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    for (int64_t r = 0; r < m; ++r) {
      const float* ar = a + r * lda;
      float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
      for (int64_t i = 0; i < k; ++i) {
        s0 += ar[i] * wide(b0[i]);
        s1 += ar[i] * wide(b1[i]);
        s2 += ar[i] * wide(b2[i]);
        s3 += ar[i] * wide(b3[i]);
      }
      float* yr = y + r * ldy + j;
      yr[0] = s0, yr[1] = s1, yr[2] = s2, yr[3] = s3;
    }
  }
  for (; j < n1; ++j) {
    const W* bj = bt + j * ldb;
    for (int64_t r = 0; r < m; ++r) {
      const float* ar = a + r * lda;
      float s = 0.0f;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < k; ++i) s += ar[i] * wide(bj[i]);
      y[r * ldy + j] = s;
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TESSEL_DPBF16 1
// bfloat16 rows against a Linear weight's rows on AVX512-BF16: vdpbf16ps multiplies 32
// bfloat16 pairs exactly and adds them pairwise into 16 float sums, so neither operand is
// widened (F.linear of one row, 10^7 bfloat16 weights: 642 us on float lanes, PyTorch 327).
// The instruction reads subnormal inputs as zero and rounds its sums to nearest even.
#define TESSEL_DPBF16_FN __attribute__((target("avx512f,avx512bw,avx512bf16")))
TESSEL_DPBF16_FN inline __m512bh ld(const uint16_t* p) { return reinterpret_cast<__m512bh>(_mm512_loadu_si512(p)); }
TESSEL_DPBF16_FN inline __m512bh ld_tail(const uint16_t* p, __mmask32 m) {
  return reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(m, p));
}
TESSEL_DPBF16_FN void rows_nt_dpbf16(const uint16_t* a, int64_t lda, const uint16_t* bt, int64_t ldb, float* y,
                                     int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
  const int64_t kv = k / 32 * 32;
  const __mmask32 tail = static_cast<__mmask32>((uint64_t{1} << (k - kv)) - 1);
  int64_t j = n0;
  for (; j + 4 <= n1; j += 4) {  // four weight rows per pass over a's row, as rows_nt
    const uint16_t *b0 = bt + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
    for (int64_t r = 0; r < m; ++r) {
      const uint16_t* ar = a + r * lda;
      __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
      for (int64_t i = 0; i < kv; i += 32) {
        const __m512bh x = ld(ar + i);
        s0 = _mm512_dpbf16_ps(s0, x, ld(b0 + i));
        s1 = _mm512_dpbf16_ps(s1, x, ld(b1 + i));
        s2 = _mm512_dpbf16_ps(s2, x, ld(b2 + i));
        s3 = _mm512_dpbf16_ps(s3, x, ld(b3 + i));
      }
      if (kv < k) {
        const __m512bh x = ld_tail(ar + kv, tail);
        s0 = _mm512_dpbf16_ps(s0, x, ld_tail(b0 + kv, tail));
        s1 = _mm512_dpbf16_ps(s1, x, ld_tail(b1 + kv, tail));
        s2 = _mm512_dpbf16_ps(s2, x, ld_tail(b2 + kv, tail));
        s3 = _mm512_dpbf16_ps(s3, x, ld_tail(b3 + kv, tail));
      }
      float* yr = y + r * ldy + j;
      yr[0] = _mm512_reduce_add_ps(s0), yr[1] = _mm512_reduce_add_ps(s1);
      yr[2] = _mm512_reduce_add_ps(s2), yr[3] = _mm512_reduce_add_ps(s3);
    }
  }
  for (; j < n1; ++j) {
    const uint16_t* bj = bt + j * ldb;
    for (int64_t r = 0; r < m; ++r) {
      const uint16_t* ar = a + r * lda;
      __m512 s = _mm512_setzero_ps();
      for (int64_t i = 0; i < kv; i += 32) s = _mm512_dpbf16_ps(s, ld(ar + i), ld(bj + i));
      if (kv < k) s = _mm512_dpbf16_ps(s, ld_tail(ar + kv, tail), ld_tail(bj + kv, tail));
      y[r * ldy + j] = _mm512_reduce_add_ps(s);
    }
  }
}

bool has_dpbf16() {  // off under TESSEL_VECMATH=avx2, with has_avx512
  static const bool yes = [] {
    __builtin_cpu_init();
    return has_avx512() && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
  }();
  return yes;
}
#endif

// The operands' layout: which pass (nn or nt) and b's row stride; false when neither fits.
bool gemv_layout(const Tensor& a, const Tensor& b, const Tensor& out, bool& nn, int64_t& ldb) {
  // a [B, M, K], b [B, K, N] (batch stride 0 when shared), out [B, M, N] contiguous.
  const int64_t m = a.shape()[1], k = a.shape()[2], n = b.shape()[2];
  if (m < 1 || m > kMaxRows || k < 16 || n < 16 || a.strides()[2] != 1 || !out.is_contiguous()) return false;
  // Row-major b for one row only: with 2-4 rows, oneDNN's cached-weight product was
  // faster while b sat in cache (4 x 1280 @ 1280 x 1000, 1 thread: 124 against 175
  // us); a transposed view (a Linear weight) for all four (179 against 234).
  nn = m == 1 && b.strides()[2] == 1 && b.strides()[1] >= n;
  const bool nt = !nn && b.strides()[1] == 1 && b.strides()[2] >= k;
  ldb = nn ? b.strides()[1] : b.strides()[2];
  return nn || nt;
}

// One batch entry: y [m, n] (ldy n) from a's rows (float, lda apart) and b.
template <class W>
void gemv_rows(const float* a, int64_t lda, const W* b, int64_t ldb, bool nn, float* y, int64_t m, int64_t k,
               int64_t n) {
  // Columns over the threads in 16-wide pieces (whole cache lines of y).
  const int64_t pieces = (n + 15) / 16;
  parallel_for(pieces, 16 * k * m, [&](int64_t p0, int64_t p1) {
    const int64_t n0 = p0 * 16, n1 = std::min(n, p1 * 16);
    if (nn)
      rows_nn<W>(a, lda, b, ldb, y, n, m, k, n0, n1);
    else
      rows_nt<W>(a, lda, b, ldb, y, n, m, k, n0, n1);
  });
}
}  // namespace

void bias_relu(float* y, const Tensor& bias, bool relu, int64_t m, int64_t n) {
  if (bias.defined()) {
    if (bias.dtype() == DType::BFloat16) {
      const BFloat16* bv = bias.data<BFloat16>();
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) y[r * n + j] += static_cast<float>(bv[j]);
    } else {
      const float* bv = bias.data<float>();
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) y[r * n + j] += bv[j];
    }
  }
  if (relu)
    for (int64_t i = 0; i < m * n; ++i) y[i] = y[i] < 0.0f ? 0.0f : y[i];
}

bool gemv_f32(const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& bias, bool relu) {
  bool nn;
  int64_t ldb;
  if (a.dtype() != DType::Float32 || !gemv_layout(a, b, out, nn, ldb)) return false;
  const int64_t nb = a.shape()[0], m = a.shape()[1], k = a.shape()[2], n = b.shape()[2];
  for (int64_t p = 0; p < nb; ++p) {
    float* y = out.data<float>() + p * m * n;
    gemv_rows<float>(a.data<float>() + p * a.strides()[0], a.strides()[1], b.data<float>() + p * b.strides()[0], ldb,
                     nn, y, m, k, n);
    bias_relu(y, bias, relu, m, n);
  }
  return true;
}

bool gemv_bf16(const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& bias) {
  bool nn;
  int64_t ldb;
  if (a.dtype() != DType::BFloat16 || b.dtype() != DType::BFloat16 || out.dtype() != DType::BFloat16 ||
      !gemv_layout(a, b, out, nn, ldb))
    return false;
  const int64_t nb = a.shape()[0], m = a.shape()[1], k = a.shape()[2], n = b.shape()[2];
  // The few rows of a widened once, the products summed in float32 and rounded once.
  std::vector<float> aw(static_cast<size_t>(m * k)), y(static_cast<size_t>(m * n));
  const auto* bd = static_cast<const uint16_t*>(b.data_ptr());
  for (int64_t p = 0; p < nb; ++p) {
    const BFloat16* ap = a.data<BFloat16>() + p * a.strides()[0];
#ifdef TESSEL_DPBF16
    if (!nn && has_dpbf16()) {
      const auto* ar = reinterpret_cast<const uint16_t*>(ap);
      const uint16_t* bp = bd + p * b.strides()[0];
      parallel_for((n + 15) / 16, 16 * k * m, [&](int64_t p0, int64_t p1) {
        rows_nt_dpbf16(ar, a.strides()[1], bp, ldb, y.data(), n, m, k, p0 * 16, std::min(n, p1 * 16));
      });
      bias_relu(y.data(), bias, false, m, n);
      narrow(out.data<BFloat16>() + p * m * n, y.data(), m * n);
      continue;
    }
#endif
    for (int64_t r = 0; r < m; ++r) widen(aw.data() + r * k, ap + r * a.strides()[1], k);
    gemv_rows<uint16_t>(aw.data(), k, bd + p * b.strides()[0], ldb, nn, y.data(), m, k, n);
    bias_relu(y.data(), bias, false, m, n);
    narrow(out.data<BFloat16>() + p * m * n, y.data(), m * n);
  }
  return true;
}

}  // namespace tessel::cpu
