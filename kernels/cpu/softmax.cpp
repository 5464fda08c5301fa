// CPU kernels for softmax and log_softmax along one dim.
// Contract: in a (floating T); out same shape and dtype; params ReduceDimParams.
#include <algorithm>
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#endif
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/cpu/bf16_simd.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduced_float.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"

namespace tessel::cpu {
namespace {

// One contiguous float row through the vector exp (vecmath's table): max with
// 8 running maxima (the compiler keeps a serial max chain, NaN rules), x - m,
// exp in place (softmax) or into a scratch row (log_softmax), 8 partial sums.
// The row's logsumexp from its max m and m + log(sum(exp(x - m))): inf where m is (x - m was
// NaN there). LseOnly (with Log) in the row kernels stores only this, into y[0] (logsumexp's rows).
inline float row_lse(float m, float l) { return std::isinf(m) && m > 0 ? m : l; }
template <bool Log, bool LseOnly = false>
inline __attribute__((always_inline)) void softmax_row_f32_body(const vecmath::UnaryF exp_f, const float* x, float* y,
                                                                int64_t len, std::vector<float>& tmp) {
  float mv[8];
  for (float& v : mv) v = -INFINITY;
  int64_t j = 0;
  bool nan = false;
  for (; j + 8 <= len; j += 8)
    for (int k = 0; k < 8; ++k) {
      mv[k] = x[j + k] > mv[k] ? x[j + k] : mv[k];
      nan |= x[j + k] != x[j + k];
    }
  float m = -INFINITY;
  for (; j < len; ++j) {
    m = x[j] > m ? x[j] : m;
    nan |= x[j] != x[j];
  }
  for (float v : mv) m = v > m ? v : m;
  if (nan) m = NAN;  // a NaN in the row makes every output NaN, as std::max's chain did
  if (std::isinf(m) && m < 0) m = 0;
  float* e = y;
  if constexpr (Log) {
    if (static_cast<int64_t>(tmp.size()) < len) tmp.resize(static_cast<size_t>(len));
    e = tmp.data();
  }
  for (int64_t k = 0; k < len; ++k) e[k] = x[k] - m;
  exp_f(e, e, len, {});
  float sv[8] = {};
  j = 0;
  for (; j + 8 <= len; j += 8)
    for (int k = 0; k < 8; ++k) sv[k] += e[j + k];
  float sum = 0;
  for (; j < len; ++j) sum += e[j];
  for (float v : sv) sum += v;
  if constexpr (Log) {
    const float lse = m + std::log(sum);
    if constexpr (LseOnly) {
      y[0] = row_lse(m, lse);
      return;
    }
    for (int64_t k = 0; k < len; ++k) y[k] = x[k] - lse;
  } else {
    const float inv = 1.0f / sum;
    for (int64_t k = 0; k < len; ++k) y[k] *= inv;
  }
}

// The file is built for the baseline ISA: this row loop is the path on CPUs
// other than x86; x86 CPUs with vecmath's table (AVX2 + FMA) take the
// intrinsics kernel below (TESSEL_VECMATH=scalar turns both off: scalar loop).
template <bool Log, bool LseOnly = false>
void softmax_row_f32(const vecmath::UnaryF exp_f, const float* x, float* y, int64_t len, std::vector<float>& tmp) {
  softmax_row_f32_body<Log, LseOnly>(exp_f, x, y, len, tmp);
}
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define TS_SOFTMAX_AVX2 1
#endif

#ifdef TS_SOFTMAX_AVX2
// The row kernel on AVX2 + FMA (every CPU with vecmath's table has both), three
// passes over the row instead of five and no call per row: max; exp(x - m) and
// its sum in one loop (softmax stores the exps, log_softmax only sums them); the
// scale (softmax) or x - m - log(sum) (log_softmax). exp is inline: exp(z) for
// z = x - m <= 0 as 2^k e^r, k = round(z / ln2), r = z - k ln2 with ln2 split
// in two (Cody-Waite), e^r = 1 + r + r^2 Q(r) (vecmath.h's kLn2Hi/kLn2Lo and kExpQ):
// within ~1 ulp, as SLEEF's u10 exp it replaces. Results below 2^-126
// (z < -87.3) are scaled in two steps, so subnormals round once; z = -inf gives 0.
__attribute__((target("avx2,fma"))) inline __m256 exp_nonpos_avx2(__m256 z) {
  const __m256 kf = _mm256_round_ps(_mm256_mul_ps(z, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fmadd_ps(kf, _mm256_set1_ps(-vecmath::kLn2Hi), z);
  r = _mm256_fmadd_ps(kf, _mm256_set1_ps(-vecmath::kLn2Lo), r);
  const __m256 r2 = _mm256_mul_ps(r, r);
  using vecmath::kExpQ;
  const __m256 qa = _mm256_fmadd_ps(_mm256_set1_ps(kExpQ[0]), r, _mm256_set1_ps(kExpQ[1]));
  const __m256 qb = _mm256_fmadd_ps(_mm256_set1_ps(kExpQ[2]), r, _mm256_set1_ps(kExpQ[3]));
  const __m256 qc = _mm256_fmadd_ps(_mm256_set1_ps(kExpQ[4]), r, _mm256_set1_ps(kExpQ[5]));
  const __m256 q = _mm256_fmadd_ps(_mm256_fmadd_ps(qa, r2, qb), r2, qc);
  const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(r2, q, r), _mm256_set1_ps(1.0f));
  // kf is in [-151, 0] for z in [-104, 0]; below -104 (and -inf) the result is 0
  const __m256 lo = _mm256_cmp_ps(z, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
  __m256i k = _mm256_cvtps_epi32(kf);
  __m256 out;
  if (_mm256_testz_ps(lo, lo)) {
    out = _mm256_mul_ps(e, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23)));
  } else {
    k = _mm256_max_epi32(k, _mm256_set1_epi32(-160));
    const __m256i k1 = _mm256_srai_epi32(k, 1), k2 = _mm256_sub_epi32(k, k1);
    out = _mm256_mul_ps(
        _mm256_mul_ps(e, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, _mm256_set1_epi32(127)), 23))),
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, _mm256_set1_epi32(127)), 23)));
    out = _mm256_andnot_ps(_mm256_cmp_ps(z, _mm256_set1_ps(-104.0f), _CMP_LT_OQ), out);  // also -inf
  }
  return out;
}
// The first n (< 8) lanes of p, the rest `fill`.
__attribute__((target("avx2,fma"))) inline __m256 load_part(const float* p, int64_t n, float fill) {
  alignas(32) float b[8];
  for (int k = 0; k < 8; ++k) b[k] = k < n ? p[k] : fill;
  return _mm256_load_ps(b);
}
template <bool Log, bool LseOnly = false>
__attribute__((target("avx2,fma"))) void softmax_row_f32_fma(const float* x, float* y, int64_t len) {
  // max, with NaN tracked apart (vmaxps drops a NaN in its first operand)
  __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, nan = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= len; j += 16) {
    const __m256 a = _mm256_loadu_ps(x + j), b = _mm256_loadu_ps(x + j + 8);
    m0 = _mm256_max_ps(m0, a);
    m1 = _mm256_max_ps(m1, b);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, b, _CMP_UNORD_Q));
  }
  for (; j + 8 <= len; j += 8) {
    const __m256 a = _mm256_loadu_ps(x + j);
    m0 = _mm256_max_ps(m0, a);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  const int64_t tail = len - j;
  if (tail) {
    const __m256 a = load_part(x + j, tail, -INFINITY);
    m0 = _mm256_max_ps(m0, a);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(a, a, _CMP_UNORD_Q));
  }
  m0 = _mm256_max_ps(m0, m1);
  alignas(32) float mv[8];
  _mm256_store_ps(mv, m0);
  float m = mv[0];
  for (int k = 1; k < 8; ++k) m = mv[k] > m ? mv[k] : m;
  if (!_mm256_testz_ps(nan, nan)) m = NAN;  // a NaN in the row makes every output NaN
  if (std::isinf(m) && m < 0) m = 0;        // a row of -inf: exp(-inf) = 0 everywhere, sum 0
  const __m256 mb = _mm256_set1_ps(m);
  // exp(x - m) and the sum, 2 accumulators
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  j = 0;
  for (; j + 16 <= len; j += 16) {
    const __m256 e0 = exp_nonpos_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mb));
    const __m256 e1 = exp_nonpos_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), mb));
    if constexpr (!Log) {
      _mm256_storeu_ps(y + j, e0);
      _mm256_storeu_ps(y + j + 8, e1);
    }
    s0 = _mm256_add_ps(s0, e0);
    s1 = _mm256_add_ps(s1, e1);
  }
  for (; j + 8 <= len; j += 8) {
    const __m256 e0 = exp_nonpos_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mb));
    if constexpr (!Log) _mm256_storeu_ps(y + j, e0);
    s0 = _mm256_add_ps(s0, e0);
  }
  alignas(32) float et[8];
  if (tail) {
    const __m256 e0 = exp_nonpos_avx2(_mm256_sub_ps(load_part(x + j, tail, -INFINITY), mb));  // padding: exp = 0
    _mm256_store_ps(et, e0);
    if constexpr (!Log)
      for (int64_t k = 0; k < tail; ++k) y[j + k] = et[k];
    s0 = _mm256_add_ps(s0, e0);
  }
  alignas(32) float sv[8];
  _mm256_store_ps(sv, _mm256_add_ps(s0, s1));
  const float sum = ((sv[0] + sv[1]) + (sv[2] + sv[3])) + ((sv[4] + sv[5]) + (sv[6] + sv[7]));
  j = 0;
  if constexpr (Log) {
    const float l = m + std::log(sum);  // once: logf is a call (errno), not folded into one
    if constexpr (LseOnly) {
      y[0] = row_lse(m, l);
      return;
    }
    const __m256 lse = _mm256_set1_ps(l);
    for (; j + 8 <= len; j += 8) _mm256_storeu_ps(y + j, _mm256_sub_ps(_mm256_loadu_ps(x + j), lse));
    for (; j < len; ++j) y[j] = x[j] - l;
  } else {
    const float inv = 1.0f / sum;
    const __m256 ib = _mm256_set1_ps(inv);
    for (; j + 8 <= len; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), ib));
    for (; j < len; ++j) y[j] *= inv;
  }
}

// The same row kernel on 512-bit registers, with the AVX2 kernel's lanes: lanes 0-7 of each
// register are its first accumulator (m0, s0) and lanes 8-15 its second, and the rows' last
// 8 and fewer values go into lanes 0-7 alone, so the max, the sums and every output have the
// AVX2 kernel's bits. (log_softmax of 10^5 bfloat16 on AVX2 lanes on an AVX-512 CPU: 1.3x
// PyTorch's time.)
#define TS_SOFTMAX_512 __attribute__((target("avx512f")))
TS_SOFTMAX_512 inline __m512 exp_nonpos_512(__m512 z) {
  const __m512 kf = _mm512_roundscale_ps(_mm512_mul_ps(z, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(kf, _mm512_set1_ps(-vecmath::kLn2Hi), z);
  r = _mm512_fmadd_ps(kf, _mm512_set1_ps(-vecmath::kLn2Lo), r);
  const __m512 r2 = _mm512_mul_ps(r, r);
  using vecmath::kExpQ;
  const __m512 qa = _mm512_fmadd_ps(_mm512_set1_ps(kExpQ[0]), r, _mm512_set1_ps(kExpQ[1]));
  const __m512 qb = _mm512_fmadd_ps(_mm512_set1_ps(kExpQ[2]), r, _mm512_set1_ps(kExpQ[3]));
  const __m512 qc = _mm512_fmadd_ps(_mm512_set1_ps(kExpQ[4]), r, _mm512_set1_ps(kExpQ[5]));
  const __m512 q = _mm512_fmadd_ps(_mm512_fmadd_ps(qa, r2, qb), r2, qc);
  const __m512 e = _mm512_add_ps(_mm512_fmadd_ps(r2, q, r), _mm512_set1_ps(1.0f));
  const __mmask16 lo = _mm512_cmp_ps_mask(z, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
  __m512i k = _mm512_cvtps_epi32(kf);
  if (lo == 0)
    return _mm512_mul_ps(e, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23)));
  k = _mm512_max_epi32(k, _mm512_set1_epi32(-160));
  const __m512i k1 = _mm512_srai_epi32(k, 1), k2 = _mm512_sub_epi32(k, k1);
  const __m512 out = _mm512_mul_ps(
      _mm512_mul_ps(e, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k1, _mm512_set1_epi32(127)), 23))),
      _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k2, _mm512_set1_epi32(127)), 23)));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~_mm512_cmp_ps_mask(z, _mm512_set1_ps(-104.0f), _CMP_LT_OQ)),
                             out);  // 0 below -104, also for -inf
}
// The row's values from j on, in lanes 0-7 (eight at most), the other lanes -inf; sets the count.
TS_SOFTMAX_512 inline __m512 load_low(const float* p, int64_t left, int64_t& n) {
  n = left < 8 ? left : 8;
  return _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), static_cast<__mmask16>((1u << n) - 1), p);
}
template <bool Log, bool LseOnly = false>
TS_SOFTMAX_512 void softmax_row_f32_512(const float* x, float* y, int64_t len) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  __mmask16 nan = 0;
  int64_t j = 0;
  for (; j + 16 <= len; j += 16) {
    const __m512 a = _mm512_loadu_ps(x + j);
    mx = _mm512_max_ps(mx, a);
    nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
  }
  for (int64_t n = 0; j < len; j += n) {  // the last 15 or fewer: lanes 0-7 only
    const __m512 a = load_low(x + j, len - j, n);
    mx = _mm512_mask_max_ps(mx, 0x00ff, mx, a);
    nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
  }
  const __m256 m01 =
      _mm256_max_ps(_mm512_castps512_ps256(mx), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(mx), 1)));
  alignas(32) float mv[8];
  _mm256_store_ps(mv, m01);
  float m = mv[0];
  for (int k = 1; k < 8; ++k) m = mv[k] > m ? mv[k] : m;
  if (nan) m = NAN;                   // a NaN in the row makes every output NaN
  if (std::isinf(m) && m < 0) m = 0;  // a row of -inf: exp(-inf) = 0 everywhere, sum 0
  const __m512 mb = _mm512_set1_ps(m);
  __m512 sum = _mm512_setzero_ps();
  j = 0;
  for (; j + 16 <= len; j += 16) {
    const __m512 e = exp_nonpos_512(_mm512_sub_ps(_mm512_loadu_ps(x + j), mb));
    if constexpr (!Log) _mm512_storeu_ps(y + j, e);
    sum = _mm512_add_ps(sum, e);
  }
  for (int64_t n = 0; j < len; j += n) {
    const __m512 e = exp_nonpos_512(_mm512_sub_ps(load_low(x + j, len - j, n), mb));  // padding: exp = 0
    if constexpr (!Log) _mm512_mask_storeu_ps(y + j, static_cast<__mmask16>((1u << n) - 1), e);
    sum = _mm512_mask_add_ps(sum, 0x00ff, sum, e);
  }
  alignas(32) float sv[8];
  _mm256_store_ps(sv, _mm256_add_ps(_mm512_castps512_ps256(sum),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sum), 1))));
  const float total = ((sv[0] + sv[1]) + (sv[2] + sv[3])) + ((sv[4] + sv[5]) + (sv[6] + sv[7]));
  j = 0;
  if constexpr (Log) {
    const float l = m + std::log(total);
    if constexpr (LseOnly) {
      y[0] = row_lse(m, l);
      return;
    }
    const __m512 lse = _mm512_set1_ps(l);
    for (; j + 16 <= len; j += 16) _mm512_storeu_ps(y + j, _mm512_sub_ps(_mm512_loadu_ps(x + j), lse));
    for (; j < len; ++j) y[j] = x[j] - l;
  } else {
    const float inv = 1.0f / total;
    const __m512 ib = _mm512_set1_ps(inv);
    for (; j + 16 <= len; j += 16) _mm512_storeu_ps(y + j, _mm512_mul_ps(_mm512_loadu_ps(y + j), ib));
    for (; j < len; ++j) y[j] *= inv;
  }
}
#endif

bool softmax_use_avx2() {
#ifdef TS_SOFTMAX_AVX2
  static const bool v = vecmath::table() != nullptr && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return v;
#else
  return false;
#endif
}
bool softmax_use_avx512() { return softmax_use_avx2() && has_avx512(); }  // off under TESSEL_VECMATH=avx2

// One contiguous float row through the vector path (the AVX2 + FMA kernel where the CPU has it).
template <bool Log, bool LseOnly = false>
void run_row_f32(const vecmath::Table* vt, const float* in, float* o, int64_t len, std::vector<float>& tmp) {
#ifdef TS_SOFTMAX_AVX2
  if (softmax_use_avx512()) return softmax_row_f32_512<Log, LseOnly>(in, o, len);
  if (softmax_use_avx2()) return softmax_row_f32_fma<Log, LseOnly>(in, o, len);
#endif
  softmax_row_f32<Log, LseOnly>(vt->f32[vecmath::Exp], in, o, len, tmp);
}

// logsumexp over the last dim of [R, L] rows with stride 1 along them (by name, "logsumexp_rows";
// the op's caller: logsumexp over the last dim, src/ops/reduce.cpp): out [R] = m + log(sum(exp(x -
// m))), the log_softmax row kernel's max and sum, two reads of the row and no stores (the composite
// of amax, sub, exp, sum and log wrote two full-size temporaries). float16/bfloat16 rows widened
// into a float row, the result rounded once; without vecmath's table a loop of std::exp.
template <class T>
void logsumexp_rows_kernel(const KernelCall& c) {
  const Tensor &a = c.in[0], &out = c.out[0];
  const int64_t R = a.shape()[0], L = a.shape()[1], sr = a.strides()[0];
  const T* x = static_cast<const T*>(a.data_ptr());
  T* o = static_cast<T*>(out.data_ptr());
  const vecmath::Table* vt = vecmath::table();
  parallel_for(R, L * 4, [&](int64_t r0, int64_t r1) {
    std::vector<float> tmp, row(is_reduced_float_v<T> ? static_cast<size_t>(L) : 0);
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * sr;
      const float* in;
      if constexpr (is_reduced_float_v<T>) {
        widen(row.data(), xr, L);
        in = row.data();
      } else {
        in = xr;
      }
      float l;
      if (vt) {
        run_row_f32<true, true>(vt, in, &l, L, tmp);
      } else {
        float m = -INFINITY;
        bool nan = false;
        for (int64_t j = 0; j < L; ++j) m = in[j] > m ? in[j] : m, nan |= in[j] != in[j];
        if (std::isinf(m)) m = 0;  // -inf: every term 0; inf: the sum is inf
        double sum = 0;
        for (int64_t j = 0; j < L; ++j) sum += std::exp(double(in[j]) - m);
        l = nan ? NAN : float(m + std::log(sum));
      }
      o[r] = static_cast<T>(l);
    }
  });
}

template <class T, bool Log>
void softmax_reduced(const KernelCall& c);

template <class T, bool Log>
void softmax_kernel(const KernelCall& c) {
  if constexpr (is_reduced_float_v<T>) return softmax_reduced<T, Log>(c);
  using A = acc_t<T>;
  const Tensor &a = c.in[0], &out = c.out[0];
  const int64_t dim = static_cast<const ReduceDimParams*>(c.params)->dim;
  const int64_t len = a.shape()[dim];
  const int64_t sa = a.strides()[dim], so = out.strides()[dim];
  const Tensor a0 = a.narrow(dim, 0, 1), o0 = out.narrow(dim, 0, 1);
  [[maybe_unused]] const vecmath::Table* vt = vecmath::table();
  for_each<2>({&o0, &a0}, [&](char** p, const int64_t* s, int64_t n) {
    if constexpr (std::is_same_v<T, float>) {
      if (vt && sa == 1 && so == 1) {
        std::vector<float> tmp;
#ifdef TS_SOFTMAX_AVX2
        if (softmax_use_avx512() || softmax_use_avx2()) {
          const auto row = softmax_use_avx512() ? softmax_row_f32_512<Log> : softmax_row_f32_fma<Log>;
          for (int64_t i = 0; i < n; ++i)
            row(reinterpret_cast<const float*>(p[1] + i * s[1]), reinterpret_cast<float*>(p[0] + i * s[0]), len);
          return;
        }
#endif
        for (int64_t i = 0; i < n; ++i)
          softmax_row_f32<Log>(vt->f32[vecmath::Exp], reinterpret_cast<const float*>(p[1] + i * s[1]),
                               reinterpret_cast<float*>(p[0] + i * s[0]), len, tmp);
        return;
      }
      if (vt) {
        // Strided rows (a transposed view): copied into contiguous rows, through the
        // vector path, and back; the scalar loop below would take std::exp per element.
        // Rows that lie side by side in memory (the other dim's stride 1) go kTile at a
        // time, so that each step of the copies moves a whole cache line (one row at a
        // time read one value per line: softmax over the columns of [2500, 4000], 57 ms).
        constexpr int64_t kTile = 16;
        const bool tiled = s[1] == sizeof(float) && n >= kTile;
        const size_t rows_len = static_cast<size_t>((tiled ? kTile : 1) * len);
        std::vector<float> tmp, row(rows_len), res(rows_len);
        auto run_row = [&](const float* in, float* o) { run_row_f32<Log>(vt, in, o, len, tmp); };
        int64_t i = 0;
        for (; tiled && i + kTile <= n; i += kTile) {
          const float* x = reinterpret_cast<const float*>(p[1] + i * s[1]);
          for (int64_t j = 0; j < len; ++j)
            for (int64_t b = 0; b < kTile; ++b) row[b * len + j] = x[j * sa + b];
          for (int64_t b = 0; b < kTile; ++b) run_row(row.data() + b * len, res.data() + b * len);
          if (s[0] == sizeof(float)) {
            float* y = reinterpret_cast<float*>(p[0] + i * s[0]);
            for (int64_t j = 0; j < len; ++j)
              for (int64_t b = 0; b < kTile; ++b) y[j * so + b] = res[b * len + j];
          } else {
            for (int64_t b = 0; b < kTile; ++b) {
              float* y = reinterpret_cast<float*>(p[0] + (i + b) * s[0]);
              for (int64_t j = 0; j < len; ++j) y[j * so] = res[b * len + j];
            }
          }
        }
        for (; i < n; ++i) {
          const float* x = reinterpret_cast<const float*>(p[1] + i * s[1]);
          float* y = reinterpret_cast<float*>(p[0] + i * s[0]);
          for (int64_t j = 0; j < len; ++j) row[j] = x[j * sa];
          run_row(row.data(), res.data());
          for (int64_t j = 0; j < len; ++j) y[j * so] = res[j];
        }
        return;
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const T* x = reinterpret_cast<const T*>(p[1] + i * s[1]);
      T* y = reinterpret_cast<T*>(p[0] + i * s[0]);
      // Max first, so that exp never overflows; -inf rows stay NaN-free below.
      A m = -INFINITY;
      for (int64_t j = 0; j < len; ++j) m = std::max(m, A(x[j * sa]));
      if (std::isinf(m) && m < 0) m = 0;
      A sum = 0;
      if (sa == 1 && so == 1 && !Log && std::is_floating_point_v<T>) {  // one exp per element
        for (int64_t j = 0; j < len; ++j) {
          const A e = std::exp(A(x[j]) - m);
          y[j] = static_cast<T>(e);
          sum += e;
        }
        const A inv = A(1) / sum;
        for (int64_t j = 0; j < len; ++j) y[j] = static_cast<T>(A(y[j]) * inv);
        continue;
      }
      for (int64_t j = 0; j < len; ++j) sum += std::exp(A(x[j * sa]) - m);
      if constexpr (Log) {
        const A lse = m + std::log(sum);
        for (int64_t j = 0; j < len; ++j) y[j * so] = static_cast<T>(A(x[j * sa]) - lse);
      } else {
        const A inv = A(1) / sum;
        for (int64_t j = 0; j < len; ++j) y[j * so] = static_cast<T>(std::exp(A(x[j * sa]) - m) * inv);
      }
    }
  }, len * 4);
}

// float16/bfloat16 (without autograd: the op sends them here then, and through float32
// copies otherwise): contiguous rows widened into a float row, float32's row kernel,
// narrowed once; other layouts through float32 copies and float32's kernel (its tiles).
// Either way the float32 path's bits (10^7 bfloat16 through the copies: 1.1-1.3x
// PyTorch's time).
template <class T, bool Log>
void softmax_reduced(const KernelCall& c) {
  const Tensor &a = c.in[0], &out = c.out[0];
  const int64_t dim = static_cast<const ReduceDimParams*>(c.params)->dim;
  const int64_t len = a.shape()[dim];
  const vecmath::Table* vt = vecmath::table();
  if (vt && a.strides()[dim] == 1 && out.strides()[dim] == 1) {
    const Tensor a0 = a.narrow(dim, 0, 1), o0 = out.narrow(dim, 0, 1);
    for_each<2>(
        {&o0, &a0},
        [&](char** p, const int64_t* s, int64_t n) {
          std::vector<float> tmp, row(static_cast<size_t>(len)), res(static_cast<size_t>(len));
          for (int64_t i = 0; i < n; ++i) {
            widen(row.data(), reinterpret_cast<const T*>(p[1] + i * s[1]), len);
            run_row_f32<Log>(vt, row.data(), res.data(), len, tmp);
            narrow(reinterpret_cast<T*>(p[0] + i * s[0]), res.data(), len);
          }
        },
        len * 4);
    return;
  }
  const Tensor a32 = a.to(DType::Float32);  // keeps a transpose's layout
  Tensor o32 = empty(out.shape(), TensorOptions(DType::Float32));
  softmax_kernel<float, Log>(KernelCall{std::span<const Tensor>(&a32, 1), std::span<Tensor>(&o32, 1), c.params});
  Tensor o = out;
  o.copy_(o32);
}

// softmax's backward along the last dim of contiguous [R, D] rows (by name,
// "softmax_backward_fused"): dx = y * (g - sum(g * y)), one row per task, the
// sum in 8 partial sums of double: independent of the thread count.
template <class T>
void softmax_backward_kernel(const KernelCall& c) {
  const Tensor &g = c.in[0], &y = c.in[1];
  const int64_t R = y.shape()[0], D = y.shape()[1];
  const T *pg = static_cast<const T*>(g.data_ptr()), *py = static_cast<const T*>(y.data_ptr());
  T* px = static_cast<T*>(c.out[0].data_ptr());
  parallel_for(R, D * 4, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T *gr = pg + r * D, *yr = py + r * D;
      double acc[8] = {};
      int64_t j = 0;
      for (; j + 8 <= D; j += 8)
        for (int k = 0; k < 8; ++k) acc[k] += static_cast<double>(gr[j + k] * yr[j + k]);
      double s = 0;
      for (; j < D; ++j) s += static_cast<double>(gr[j] * yr[j]);
      for (int k = 0; k < 8; ++k) s += acc[k];
      const T ts = static_cast<T>(s);
      T* out = px + r * D;
      for (int64_t jj = 0; jj < D; ++jj) out[jj] = yr[jj] * (gr[jj] - ts);
    }
  });
}

// log_softmax's backward along the last dim of contiguous [R, D] rows (by name,
// "log_softmax_backward_fused"): dx = g - exp(y) * sum(g), one row per task, the
// sum in 8 partial sums of double (independent of the thread count). exp(y) goes
// through vecmath's vector exp into the output, a block at a time so that the
// second pass reads it from L1.
template <class T>
void log_softmax_backward_kernel(const KernelCall& c) {
  const Tensor &g = c.in[0], &y = c.in[1];
  const int64_t R = y.shape()[0], D = y.shape()[1];
  const T *pg = static_cast<const T*>(g.data_ptr()), *py = static_cast<const T*>(y.data_ptr());
  T* px = static_cast<T*>(c.out[0].data_ptr());
  const vecmath::Table* vt = vecmath::table();
  void (*vexp)(T*, const T*, int64_t, vecmath::Params) = nullptr;
  if (vt) {
    if constexpr (std::is_same_v<T, float>) vexp = vt->f32[vecmath::Exp];
    else vexp = vt->f64[vecmath::Exp];
  }
  constexpr int64_t kBlock = 1024;
  parallel_for(R, D * 6, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T *gr = pg + r * D, *yr = py + r * D;
      double acc[8] = {};
      int64_t j = 0;
      for (; j + 8 <= D; j += 8)
        for (int k = 0; k < 8; ++k) acc[k] += static_cast<double>(gr[j + k]);
      double s = 0;
      for (; j < D; ++j) s += static_cast<double>(gr[j]);
      for (int k = 0; k < 8; ++k) s += acc[k];
      const T ts = static_cast<T>(s);
      T* out = px + r * D;
      for (int64_t j0 = 0; j0 < D; j0 += kBlock) {
        const int64_t n = std::min(kBlock, D - j0);
        T* o = out + j0;
        const T* gb = gr + j0;
        if (vexp) vexp(o, yr + j0, n, {});
        else
          for (int64_t k = 0; k < n; ++k) o[k] = std::exp(yr[j0 + k]);
        for (int64_t k = 0; k < n; ++k) o[k] = gb[k] - o[k] * ts;
      }
    }
  });
}

const bool registered = [] {
  register_for(FloatTypes{}, op::softmax, []<class T>(std::type_identity<T>) -> Kernel {
    return &softmax_kernel<T, false>;
  });
  register_for(FloatTypes{}, op::log_softmax, []<class T>(std::type_identity<T>) -> Kernel {
    return &softmax_kernel<T, true>;
  });
  auto& reg = Registry::get();  // by name: registry.h's builtin list stays as it is
  const OpId sb = reg.op_id("softmax_backward_fused");
  reg.add(sb, DeviceType::CPU, DType::Float32, &softmax_backward_kernel<float>);
  reg.add(sb, DeviceType::CPU, DType::Float64, &softmax_backward_kernel<double>);
  const OpId lr = reg.op_id("logsumexp_rows");
  reg.add(lr, DeviceType::CPU, DType::Float32, &logsumexp_rows_kernel<float>);
  reg.add(lr, DeviceType::CPU, DType::BFloat16, &logsumexp_rows_kernel<BFloat16>);
  reg.add(lr, DeviceType::CPU, DType::Float16, &logsumexp_rows_kernel<Half>);
  const OpId lb = reg.op_id("log_softmax_backward_fused");
  reg.add(lb, DeviceType::CPU, DType::Float32, &log_softmax_backward_kernel<float>);
  reg.add(lb, DeviceType::CPU, DType::Float64, &log_softmax_backward_kernel<double>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
