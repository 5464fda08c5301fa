// CPU kernels for layer and RMS normalization (statistics fused with the normalization,
// and fused backwards): single passes where the op-by-op forms make eight. batch_norm and
// var are in moments.cpp, pooling in pool.cpp, the activations' backwards in
// activation_backward.cpp.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/bf16_simd.h"
#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduced_float.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

// layer_norm and rms_norm over rows [R, D]. Row sums are accumulated in double in
// 16 explicit partial sums (the lanes of the vector loop); each row is computed by
// one thread in a fixed order and dweight/dbias by column blocks that sum the rows
// in order, so no result depends on the thread count.
//
// The file is built for the baseline ISA (2 double lanes). The row loops are also
// compiled for AVX2 through a target attribute (no FMA: a contraction would change
// the rounding), picked at run time when vecmath has its vector table
// (TESSEL_VECMATH=scalar turns it off); both clones round alike, since the partial
// sums are written out.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define TS_NORM_AVX2 1
#define TS_NORM_TARGET_AVX2 __attribute__((target("avx2")))
#define TS_NORM_TARGET_AVX512 __attribute__((target("avx512f")))
#endif
#define TS_NORM_INLINE inline __attribute__((always_inline))

constexpr int kLanes = 16;

bool norm_use_avx2() {
#ifdef TS_NORM_AVX2
  static const bool v = vecmath::table() != nullptr && __builtin_cpu_supports("avx2");
  return v;
#else
  return false;
#endif
}

// 4-lane vectors (GCC/Clang vector extensions): 2 SSE registers on the baseline ISA, one
// AVX register in the AVX2 clones; lane-wise IEEE arithmetic either way.
typedef double Vec4d __attribute__((vector_size(32)));
template <class T>
struct Vec4;
template <>
struct Vec4<float> {
  typedef float type __attribute__((vector_size(16)));
};
template <>
struct Vec4<double> {
  typedef double type __attribute__((vector_size(32)));
};

template <class T>
struct NormArgs {
  const T *x = nullptr, *g = nullptr, *w = nullptr, *b = nullptr, *mean = nullptr, *rstd = nullptr;
  T *y = nullptr, *mean_out = nullptr, *rstd_out = nullptr, *gx = nullptr, *gw = nullptr, *gb = nullptr;
  int64_t R = 0, D = 0;
  double eps = 0;
  double *sw = nullptr, *sb = nullptr;  // dweight/dbias sums, when the row pass accumulates them
};

template <class T>
TS_NORM_INLINE double lanes_sum(const T* x, int64_t D) {
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= D; j += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(x[j + k]);
  double s = 0;
  for (; j < D; ++j) s += static_cast<double>(x[j]);
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

// sum((x - m)^2); m = 0 gives the sum of squares.
template <class T>
TS_NORM_INLINE double lanes_centered_sq(const T* x, double m, int64_t D) {
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= D; j += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      const double d = static_cast<double>(x[j + k]) - m;
      acc[k] += d * d;
    }
  double s = 0;
  for (; j < D; ++j) {
    const double d = static_cast<double>(x[j]) - m;
    s += d * d;
  }
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

template <class T>
TS_NORM_INLINE void ln_forward_rows(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  const int64_t D = a.D;
  for (int64_t r = lo; r < hi; ++r) {
    const T* row = a.x + r * D;
    const double m = lanes_sum(row, D) / static_cast<double>(D);
    const double is = 1.0 / __builtin_sqrt(lanes_centered_sq(row, m, D) / static_cast<double>(D) + a.eps);
    a.mean_out[r] = static_cast<T>(m);
    a.rstd_out[r] = static_cast<T>(is);
    const T tm = static_cast<T>(m), ts = static_cast<T>(is);
    const T *w = a.w, *b = a.b;
    T* out = a.y + r * D;
    for (int64_t j = 0; j < D; ++j) out[j] = (row[j] - tm) * ts * w[j] + b[j];
  }
}

#ifdef TS_NORM_AVX2
// bfloat16 rows x, y with float32 weight, bias and statistics on AVX2 or AVX-512:
// ln_forward_rows<float> on the widened values, widened in registers (exactly) and each
// output rounded once as it is stored; the same 16 double lanes (partial sum k takes x[j + k]
// whatever the register width), so the bits of the float32 kernel on a float32 copy. Through
// a float32 copy of each block, widening and narrowing were a third of the time (10^7: 1.3x
// PyTorch's); on AVX2 lanes on an AVX-512 CPU, 1.3-1.8x.
inline double lanes_bf16_finish(const uint16_t* x, int64_t j, int64_t D, bool centered, double m,
                                const double (&lanes)[kLanes]) {
  double s = 0;
  for (; j < D; ++j) {
    const double d = static_cast<double>(static_cast<float>(BFloat16::from_bits(x[j]))) - m;
    s += centered ? d * d : d;
  }
  for (int k = 0; k < kLanes; ++k) s += lanes[k];
  return s;
}
inline uint16_t ln_affine1(uint16_t x, float m, float s, float w, float b) {
  return BFloat16((static_cast<float>(BFloat16::from_bits(x)) - m) * s * w + b).bits;
}

TS_NORM_TARGET_AVX2 double lanes_bf16_avx2(const uint16_t* x, int64_t D, bool centered, double m) {
  __m256d a[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  const __m256d mv = _mm256_set1_pd(m);
  int64_t j = 0;
  for (; j + kLanes <= D; j += kLanes) {
    const __m256 f0 = bf16_load8(x + j), f1 = bf16_load8(x + j + 8);
    const __m256d v[4] = {_mm256_cvtps_pd(_mm256_castps256_ps128(f0)), _mm256_cvtps_pd(_mm256_extractf128_ps(f0, 1)),
                          _mm256_cvtps_pd(_mm256_castps256_ps128(f1)), _mm256_cvtps_pd(_mm256_extractf128_ps(f1, 1))};
    for (int q = 0; q < 4; ++q) {
      if (centered) {
        const __m256d d = _mm256_sub_pd(v[q], mv);
        a[q] = _mm256_add_pd(a[q], _mm256_mul_pd(d, d));
      } else {
        a[q] = _mm256_add_pd(a[q], v[q]);
      }
    }
  }
  alignas(32) double lanes[kLanes];
  for (int q = 0; q < 4; ++q) _mm256_store_pd(lanes + 4 * q, a[q]);
  return lanes_bf16_finish(x, j, D, centered, m, lanes);
}
TS_NORM_TARGET_AVX512 double lanes_bf16_avx512(const uint16_t* x, int64_t D, bool centered, double m) {
  __m512d a[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  const __m512d mv = _mm512_set1_pd(m);
  int64_t j = 0;
  for (; j + kLanes <= D; j += kLanes) {
    const __m512 f = bf16_load16_512(x + j);
    const __m512d v[2] = {_mm512_cvtps_pd(_mm512_castps512_ps256(f)),
                          _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)))};
    for (int q = 0; q < 2; ++q) {
      if (centered) {
        const __m512d d = _mm512_sub_pd(v[q], mv);
        a[q] = _mm512_add_pd(a[q], _mm512_mul_pd(d, d));
      } else {
        a[q] = _mm512_add_pd(a[q], v[q]);
      }
    }
  }
  alignas(64) double lanes[kLanes];
  for (int q = 0; q < 2; ++q) _mm512_store_pd(lanes + 8 * q, a[q]);
  return lanes_bf16_finish(x, j, D, centered, m, lanes);
}

// out = (x - mean) * rstd * w + b, in this order, rounded once.
TS_NORM_TARGET_AVX2 inline __m256 ln_affine8(const uint16_t* x, __m256 m, __m256 s, const float* w, const float* b) {
  return _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(bf16_load8(x), m), s), _mm256_loadu_ps(w)),
                       _mm256_loadu_ps(b));
}
TS_NORM_TARGET_AVX2 void ln_affine_bf16_avx2(const uint16_t* x, uint16_t* out, int64_t D, float m, float s,
                                             const float* w, const float* b) {
  const __m256 mv = _mm256_set1_ps(m), sv = _mm256_set1_ps(s);
  int64_t j = 0;
  for (; j + 16 <= D; j += 16)
    bf16_store16(out + j, ln_affine8(x + j, mv, sv, w + j, b + j), ln_affine8(x + j + 8, mv, sv, w + j + 8, b + j + 8));
  for (; j < D; ++j) out[j] = ln_affine1(x[j], m, s, w[j], b[j]);
}
TS_NORM_TARGET_AVX512 void ln_affine_bf16_avx512(const uint16_t* x, uint16_t* out, int64_t D, float m, float s,
                                                 const float* w, const float* b) {
  const __m512 mv = _mm512_set1_ps(m), sv = _mm512_set1_ps(s);
  int64_t j = 0;
  for (; j + 16 <= D; j += 16)
    bf16_store16_512(out + j, _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(bf16_load16_512(x + j), mv), sv),
                                                          _mm512_loadu_ps(w + j)),
                                            _mm512_loadu_ps(b + j)));
  for (; j < D; ++j) out[j] = ln_affine1(x[j], m, s, w[j], b[j]);
}

void ln_forward_rows_bf16(const NormArgs<float>& a, const uint16_t* x, uint16_t* y, int64_t lo, int64_t hi) {
  const bool wide = has_avx512();
  const auto lanes = wide ? lanes_bf16_avx512 : lanes_bf16_avx2;
  const auto affine = wide ? ln_affine_bf16_avx512 : ln_affine_bf16_avx2;
  const int64_t D = a.D;
  for (int64_t r = lo; r < hi; ++r) {
    const uint16_t* row = x + r * D;
    const double m = lanes(row, D, false, 0.0) / static_cast<double>(D);
    const double is = 1.0 / __builtin_sqrt(lanes(row, D, true, m) / static_cast<double>(D) + a.eps);
    a.mean_out[r] = static_cast<float>(m);
    a.rstd_out[r] = static_cast<float>(is);
    affine(row, y + r * D, D, static_cast<float>(m), static_cast<float>(is), a.w, a.b);
  }
}
#endif

// dx per row: dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w,
// xhat = (x - mean) * rstd.
template <class T, bool Acc>
TS_NORM_INLINE void ln_backward_rows_impl(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  const int64_t D = a.D;
  const T* w = a.w;
  for (int64_t r = lo; r < hi; ++r) {
    const T *gr = a.g + r * D, *xr = a.x + r * D;
    const T m = a.mean[r], is = a.rstd[r];
    // sum(g * w) and sum(g * w * xhat) in 16 double lanes, written with vector types:
    // GCC left this two-sum loop scalar. Lane k of a[q] is partial sum 4 q + k.
    using V = typename Vec4<T>::type;
    Vec4d a1[4] = {}, a2[4] = {};
    int64_t j = 0;
    for (; j + kLanes <= D; j += kLanes)
      for (int q = 0; q < 4; ++q) {
        V gv, wv, xv;
        __builtin_memcpy(&gv, gr + j + 4 * q, sizeof(V));
        __builtin_memcpy(&wv, w + j + 4 * q, sizeof(V));
        __builtin_memcpy(&xv, xr + j + 4 * q, sizeof(V));
        const Vec4d gwd = __builtin_convertvector(gv * wv, Vec4d);
        a1[q] += gwd;
        a2[q] += gwd * __builtin_convertvector((xv - m) * is, Vec4d);
      }
    double s1 = 0, s2 = 0;
    for (; j < D; ++j) {
      const double gwj = static_cast<double>(gr[j] * w[j]);
      s1 += gwj;
      s2 += gwj * static_cast<double>((xr[j] - m) * is);
    }
    for (int k = 0; k < kLanes; ++k) s1 += a1[k / 4][k % 4], s2 += a2[k / 4][k % 4];
    const T mg = static_cast<T>(s1 / static_cast<double>(D)), mgx = static_cast<T>(s2 / static_cast<double>(D));
    T* out = a.gx + r * D;
    if constexpr (Acc) {  // dweight/dbias in the same pass, the rows in order (as the column pass sums them)
      double *sw = a.sw, *sb = a.sb;
      for (int64_t jj = 0; jj < D; ++jj) {
        const T xh = (xr[jj] - m) * is;
        out[jj] = is * (gr[jj] * w[jj] - mg - xh * mgx);
        sb[jj] += static_cast<double>(gr[jj]);
        sw[jj] += static_cast<double>(gr[jj] * xh);
      }
    } else {
      for (int64_t jj = 0; jj < D; ++jj) out[jj] = is * (gr[jj] * w[jj] - mg - (xr[jj] - m) * is * mgx);
    }
  }
}
template <class T>
TS_NORM_INLINE void ln_backward_rows(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  ln_backward_rows_impl<T, false>(a, lo, hi);
}
template <class T>
TS_NORM_INLINE void ln_backward_rows_acc(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  ln_backward_rows_impl<T, true>(a, lo, hi);
}

// dweight = sum_r g * xhat (and dbias = sum_r g when Bias) for the column blocks
// [lo, hi) of kColBlock columns, the rows summed in order.
constexpr int64_t kColBlock = 256;
template <class T, bool Centered, bool Bias>
TS_NORM_INLINE void norm_backward_cols(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  double sw[kColBlock], sb[kColBlock];
  for (int64_t blk = lo; blk < hi; ++blk) {
    const int64_t j0 = blk * kColBlock, n = a.D - j0 < kColBlock ? a.D - j0 : kColBlock;
    for (int64_t j = 0; j < n; ++j) sw[j] = 0, sb[j] = 0;
    for (int64_t r = 0; r < a.R; ++r) {
      const T *gr = a.g + r * a.D + j0, *xr = a.x + r * a.D + j0;
      const T m = Centered ? a.mean[r] : T(0), is = a.rstd[r];
      for (int64_t j = 0; j < n; ++j) {
        if constexpr (Bias) sb[j] += static_cast<double>(gr[j]);
        if constexpr (Centered) sw[j] += static_cast<double>(gr[j] * ((xr[j] - m) * is));
        else sw[j] += static_cast<double>(gr[j] * (xr[j] * is));
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      a.gw[j0 + j] = static_cast<T>(sw[j]);
      if constexpr (Bias) a.gb[j0 + j] = static_cast<T>(sb[j]);
    }
  }
}
template <class T>
TS_NORM_INLINE void ln_backward_cols(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  norm_backward_cols<T, true, true>(a, lo, hi);
}

// rms_norm: y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps).
template <class T>
TS_NORM_INLINE void rms_forward_rows(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  const int64_t D = a.D;
  for (int64_t r = lo; r < hi; ++r) {
    const T* row = a.x + r * D;
    const double is = 1.0 / __builtin_sqrt(lanes_centered_sq(row, 0.0, D) / static_cast<double>(D) + a.eps);
    a.rstd_out[r] = static_cast<T>(is);
    const T ts = static_cast<T>(is);
    const T* w = a.w;
    T* out = a.y + r * D;
    for (int64_t j = 0; j < D; ++j) out[j] = row[j] * ts * w[j];
  }
}

// dx = rstd * g * w - x * rstd^3 * mean(g * w * x) per row.
template <class T, bool Acc>
TS_NORM_INLINE void rms_backward_rows_impl(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  const int64_t D = a.D;
  const T* w = a.w;
  for (int64_t r = lo; r < hi; ++r) {
    const T *gr = a.g + r * D, *xr = a.x + r * D;
    const T is = a.rstd[r];
    double acc[kLanes] = {};
    int64_t j = 0;
    for (; j + kLanes <= D; j += kLanes)
      for (int k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(gr[j + k] * w[j + k]) * static_cast<double>(xr[j + k]);
    double s = 0;
    for (; j < D; ++j) s += static_cast<double>(gr[j] * w[j]) * static_cast<double>(xr[j]);
    for (int k = 0; k < kLanes; ++k) s += acc[k];
    const double isd = static_cast<double>(is);
    const T coef = static_cast<T>(isd * isd * isd * (s / static_cast<double>(D)));
    T* out = a.gx + r * D;
    if constexpr (Acc) {
      double* sw = a.sw;
      for (int64_t jj = 0; jj < D; ++jj) {
        out[jj] = is * (gr[jj] * w[jj]) - xr[jj] * coef;
        sw[jj] += static_cast<double>(gr[jj] * (xr[jj] * is));
      }
    } else {
      for (int64_t jj = 0; jj < D; ++jj) out[jj] = is * (gr[jj] * w[jj]) - xr[jj] * coef;
    }
  }
}
template <class T>
TS_NORM_INLINE void rms_backward_rows(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  rms_backward_rows_impl<T, false>(a, lo, hi);
}
template <class T>
TS_NORM_INLINE void rms_backward_rows_acc(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  rms_backward_rows_impl<T, true>(a, lo, hi);
}
template <class T>
TS_NORM_INLINE void rms_backward_cols(const NormArgs<T>& a, int64_t lo, int64_t hi) {
  norm_backward_cols<T, false, false>(a, lo, hi);
}

// A baseline and an AVX2 clone of each row function, and a runner that picks one.
#ifdef TS_NORM_AVX2
#define TS_NORM_CLONES(fn)                                                                      \
  template <class T>                                                                            \
  TS_NORM_TARGET_AVX2 void fn##_avx2(const NormArgs<T>& a, int64_t lo, int64_t hi) {            \
    fn<T>(a, lo, hi);                                                                           \
  }                                                                                             \
  template <class T>                                                                            \
  void fn##_base(const NormArgs<T>& a, int64_t lo, int64_t hi) {                                \
    fn<T>(a, lo, hi);                                                                           \
  }                                                                                             \
  template <class T>                                                                            \
  void fn##_run(const NormArgs<T>& a, int64_t lo, int64_t hi) {                                 \
    if (norm_use_avx2()) fn##_avx2<T>(a, lo, hi);                                               \
    else fn##_base<T>(a, lo, hi);                                                               \
  }
#else
#define TS_NORM_CLONES(fn)                                                                      \
  template <class T>                                                                            \
  void fn##_run(const NormArgs<T>& a, int64_t lo, int64_t hi) {                                 \
    fn<T>(a, lo, hi);                                                                           \
  }
#endif
TS_NORM_CLONES(ln_forward_rows)
TS_NORM_CLONES(ln_backward_rows)
TS_NORM_CLONES(ln_backward_rows_acc)
TS_NORM_CLONES(ln_backward_cols)
TS_NORM_CLONES(rms_forward_rows)
TS_NORM_CLONES(rms_backward_rows)
TS_NORM_CLONES(rms_backward_rows_acc)
TS_NORM_CLONES(rms_backward_cols)
#undef TS_NORM_CLONES

// "layer_norm_fused": in x [R, D], weight [D], bias [D] (contiguous, T); out y [R, D],
// mean [R], rstd [R]; params UnaryParams (a = eps).
template <class T>
void layer_norm_kernel(const KernelCall& c) {
  NormArgs<T> a;
  a.R = c.in[0].shape()[0], a.D = c.in[0].shape()[1];
  a.eps = static_cast<const UnaryParams*>(c.params)->a;
  a.x = cptr<T>(c.in[0]), a.w = cptr<T>(c.in[1]), a.b = cptr<T>(c.in[2]);
  a.y = mptr<T>(c.out[0]), a.mean_out = mptr<T>(c.out[1]), a.rstd_out = mptr<T>(c.out[2]);
  parallel_for(a.R, a.D * 4, [&](int64_t lo, int64_t hi) { ln_forward_rows_run<T>(a, lo, hi); });
}

// float16/bfloat16 rows without autograd (the op passes float32 weight and bias and takes
// float32 mean and rstd): bfloat16 on AVX2 read and written in place (ln_forward_rows_bf16),
// otherwise rows widened a block at a time into float buffers, float's row pass, the outputs
// narrowed once; either way the bits of the float32 kernel on a float32 copy, without the
// copies (10^5 bfloat16 through them: 1.3x PyTorch's time).
template <class T>
void layer_norm_reduced_kernel(const KernelCall& c) {
  const int64_t R = c.in[0].shape()[0], D = c.in[0].shape()[1];
  const T* px = cptr<T>(c.in[0]);
  T* py = mptr<T>(c.out[0]);
  NormArgs<float> a;
  a.R = R, a.D = D, a.eps = static_cast<const UnaryParams*>(c.params)->a;
  a.w = cptr<float>(c.in[1]), a.b = cptr<float>(c.in[2]);
#ifdef TS_NORM_AVX2
  if (std::is_same_v<T, BFloat16> && norm_use_avx2()) {
    a.mean_out = mptr<float>(c.out[1]), a.rstd_out = mptr<float>(c.out[2]);
    const auto* x = reinterpret_cast<const uint16_t*>(px);
    auto* y = reinterpret_cast<uint16_t*>(py);
    return parallel_for(R, D * 4, [&](int64_t lo, int64_t hi) { ln_forward_rows_bf16(a, x, y, lo, hi); });
  }
#endif
  const int64_t rows = std::max<int64_t>(1, kReducedBlock * 16 / std::max<int64_t>(D, 1));  // ~16 KiB of float
  parallel_for(R, D * 4, [&](int64_t lo, int64_t hi) {
    std::vector<float> buf(static_cast<size_t>(std::min(rows, hi - lo) * D));
    for (int64_t r0 = lo; r0 < hi; r0 += rows) {
      const int64_t n = std::min(rows, hi - r0);
      widen(buf.data(), px + r0 * D, n * D);
      NormArgs<float> b = a;
      b.x = buf.data(), b.y = buf.data();  // row by row: each row's output after its own statistics
      b.mean_out = mptr<float>(c.out[1]) + r0, b.rstd_out = mptr<float>(c.out[2]) + r0;
      ln_forward_rows_run<float>(b, 0, n);
      narrow(py + r0 * D, buf.data(), n * D);
    }
  });
}

// "layer_norm_fused_backward": in g, x [R, D], mean, rstd [R], weight [D]; out dx [R, D]
// and, when given (3 outputs), dweight [D], dbias [D].
template <class T>
void layer_norm_backward_kernel(const KernelCall& c) {
  NormArgs<T> a;
  a.R = c.in[1].shape()[0], a.D = c.in[1].shape()[1];
  a.g = cptr<T>(c.in[0]), a.x = cptr<T>(c.in[1]), a.mean = cptr<T>(c.in[2]), a.rstd = cptr<T>(c.in[3]);
  a.w = cptr<T>(c.in[4]);
  a.gx = mptr<T>(c.out[0]);
  if (c.out.size() >= 3 && (a.R < 2 || threads_for(a.R * a.D * 6) <= 1)) {
    // One thread: the row pass sums dweight/dbias too, in the column pass's order
    // (rows in order), so the result is the same as with threads; g and x are read once.
    std::vector<double> sums(static_cast<size_t>(2 * a.D), 0.0);
    a.sw = sums.data(), a.sb = sums.data() + a.D;
    ln_backward_rows_acc_run<T>(a, 0, a.R);
    T *gw = mptr<T>(c.out[1]), *gb = mptr<T>(c.out[2]);
    for (int64_t j = 0; j < a.D; ++j) gw[j] = static_cast<T>(a.sw[j]), gb[j] = static_cast<T>(a.sb[j]);
    return;
  }
  parallel_for(a.R, a.D * 6, [&](int64_t lo, int64_t hi) { ln_backward_rows_run<T>(a, lo, hi); });
  if (c.out.size() < 3) return;  // no dweight/dbias wanted: skips a pass over g and x
  a.gw = mptr<T>(c.out[1]), a.gb = mptr<T>(c.out[2]);
  parallel_for((a.D + kColBlock - 1) / kColBlock, a.R * kColBlock * 4,
               [&](int64_t lo, int64_t hi) { ln_backward_cols_run<T>(a, lo, hi); });
}

// "rms_norm_fused": in x [R, D], weight [D]; out y [R, D], rstd [R]; params UnaryParams (a = eps).
template <class T>
void rms_norm_kernel(const KernelCall& c) {
  NormArgs<T> a;
  a.R = c.in[0].shape()[0], a.D = c.in[0].shape()[1];
  a.eps = static_cast<const UnaryParams*>(c.params)->a;
  a.x = cptr<T>(c.in[0]), a.w = cptr<T>(c.in[1]);
  a.y = mptr<T>(c.out[0]), a.rstd_out = mptr<T>(c.out[1]);
  parallel_for(a.R, a.D * 3, [&](int64_t lo, int64_t hi) { rms_forward_rows_run<T>(a, lo, hi); });
}

// "rms_norm_fused_backward": in g, x [R, D], rstd [R], weight [D]; out dx [R, D] and,
// when given (2 outputs), dweight [D].
template <class T>
void rms_norm_backward_kernel(const KernelCall& c) {
  NormArgs<T> a;
  a.R = c.in[1].shape()[0], a.D = c.in[1].shape()[1];
  a.g = cptr<T>(c.in[0]), a.x = cptr<T>(c.in[1]), a.rstd = cptr<T>(c.in[2]), a.w = cptr<T>(c.in[3]);
  a.gx = mptr<T>(c.out[0]);
  if (c.out.size() >= 2 && (a.R < 2 || threads_for(a.R * a.D * 5) <= 1)) {  // one thread: as layer_norm's
    std::vector<double> sums(static_cast<size_t>(a.D), 0.0);
    a.sw = sums.data();
    rms_backward_rows_acc_run<T>(a, 0, a.R);
    T* gw = mptr<T>(c.out[1]);
    for (int64_t j = 0; j < a.D; ++j) gw[j] = static_cast<T>(a.sw[j]);
    return;
  }
  parallel_for(a.R, a.D * 5, [&](int64_t lo, int64_t hi) { rms_backward_rows_run<T>(a, lo, hi); });
  if (c.out.size() < 2) return;
  a.gw = mptr<T>(c.out[1]);
  parallel_for((a.D + kColBlock - 1) / kColBlock, a.R * kColBlock * 3,
               [&](int64_t lo, int64_t hi) { rms_backward_cols_run<T>(a, lo, hi); });
}

const bool registered = [] {
  // By name (as plugins do), so the builtin op list in registry.h stays as it is.
  auto& reg = Registry::get();
  const OpId ln = reg.op_id("layer_norm_fused"), lnb = reg.op_id("layer_norm_fused_backward");
  reg.add(ln, DeviceType::CPU, DType::Float32, &layer_norm_kernel<float>);
  reg.add(ln, DeviceType::CPU, DType::Float64, &layer_norm_kernel<double>);
  reg.add(ln, DeviceType::CPU, DType::BFloat16, &layer_norm_reduced_kernel<BFloat16>);
  reg.add(ln, DeviceType::CPU, DType::Float16, &layer_norm_reduced_kernel<Half>);
  reg.add(lnb, DeviceType::CPU, DType::Float32, &layer_norm_backward_kernel<float>);
  reg.add(lnb, DeviceType::CPU, DType::Float64, &layer_norm_backward_kernel<double>);
  const OpId rn = reg.op_id("rms_norm_fused"), rnb = reg.op_id("rms_norm_fused_backward");
  reg.add(rn, DeviceType::CPU, DType::Float32, &rms_norm_kernel<float>);
  reg.add(rn, DeviceType::CPU, DType::Float64, &rms_norm_kernel<double>);
  reg.add(rnb, DeviceType::CPU, DType::Float32, &rms_norm_backward_kernel<float>);
  reg.add(rnb, DeviceType::CPU, DType::Float64, &rms_norm_backward_kernel<double>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
