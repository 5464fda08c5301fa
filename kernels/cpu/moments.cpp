// CPU kernels for the moments of a reduction: batch_norm's per-channel statistics with the
// normalization (and its backward), and var/std ("var_fused"). Sums in double, two passes
// over pieces that stay in cache, the pieces joined by Chan's update: no cancellation, and
// no result depends on the thread count.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/bf16_simd.h"
#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduced_float.h"
#include "kernels/cpu/register.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

// sum(x) (Sq: sum((x - m)^2)) over a run, in double: four vector accumulators of
// four lanes, so the adds overlap (one double chain waited on the add's latency:
// batch_norm of [32, 16, 195] float32 in 220 us, PyTorch's bfloat16 one in 60).
// The order depends on n only.
template <bool Sq, class T>
TESSEL_CLONES double run_sum_d(const T* x, int64_t n, double m = 0) {
  typedef double D __attribute__((vector_size(32)));
  typedef T V __attribute__((vector_size(4 * sizeof(T))));
  D acc[4] = {};
  const D mv = {m, m, m, m};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 4; ++j) {
      V v;
      std::memcpy(&v, x + i + 4 * j, sizeof(V));
      D d = __builtin_convertvector(v, D);
      if constexpr (Sq) d = (d - mv) * (d - mv);
      acc[j] += d;
    }
  const D t = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  double r = (t[0] + t[1]) + (t[2] + t[3]);
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]);
    r += Sq ? (d - m) * (d - m) : d;
  }
  return r;
}

#if defined(__GNUC__) && defined(__x86_64__)
// run_sum_d's AVX2 form in intrinsics: GCC lowers the generic one's float -> double
// conversion to two 128-bit converts and an insert per four values (60% of batch_norm's
// time). Same lanes, same order, no FMA: the same bits. The bfloat16 form widens in
// registers, as a float32 copy would be widened.
template <bool Sq>
TESSEL_AVX2 inline void sum_d_step(__m256d& acc, __m128 v, __m256d mv) {
  __m256d d = _mm256_cvtps_pd(v);
  if constexpr (Sq) {
    d = _mm256_sub_pd(d, mv);
    d = _mm256_mul_pd(d, d);
  }
  acc = _mm256_add_pd(acc, d);
}

template <bool Sq, class T>  // T: float or BFloat16
TESSEL_AVX2 double sum_d_avx2(const T* x, int64_t n, double m) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  const __m256d mv = _mm256_set1_pd(m);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 lo, hi;
    if constexpr (std::is_same_v<T, float>) {
      lo = _mm256_loadu_ps(x + i), hi = _mm256_loadu_ps(x + i + 8);
    } else {
      lo = bf16_load8(reinterpret_cast<const uint16_t*>(x + i));
      hi = bf16_load8(reinterpret_cast<const uint16_t*>(x + i + 8));
    }
    sum_d_step<Sq>(a0, _mm256_castps256_ps128(lo), mv);
    sum_d_step<Sq>(a1, _mm256_extractf128_ps(lo, 1), mv);
    sum_d_step<Sq>(a2, _mm256_castps256_ps128(hi), mv);
    sum_d_step<Sq>(a3, _mm256_extractf128_ps(hi, 1), mv);
  }
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
  double r = (t[0] + t[1]) + (t[2] + t[3]);
  for (; i < n; ++i) {
    const double d = static_cast<double>(static_cast<float>(x[i]));
    r += Sq ? (d - m) * (d - m) : d;
  }
  return r;
}

// sum_d_avx2 on 512-bit registers: a0 holds the AVX2 form's accumulators 0 and 1, a1 its 2
// and 3, joined in the same order: the same bits.
template <bool Sq>
TESSEL_AVX512 inline void sum_d_step512(__m512d& acc, __m256 v, __m512d mv) {
  __m512d d = _mm512_cvtps_pd(v);
  if constexpr (Sq) {
    d = _mm512_sub_pd(d, mv);
    d = _mm512_mul_pd(d, d);
  }
  acc = _mm512_add_pd(acc, d);
}

template <bool Sq, class T>  // T: float or BFloat16
TESSEL_AVX512 double sum_d_avx512(const T* x, int64_t n, double m) {
  __m512d a0 = _mm512_setzero_pd(), a1 = a0;
  const __m512d mv = _mm512_set1_pd(m);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 f;
    if constexpr (std::is_same_v<T, float>)
      f = _mm512_loadu_ps(x + i);
    else
      f = bf16_load16_512(reinterpret_cast<const uint16_t*>(x + i));
    sum_d_step512<Sq>(a0, _mm512_castps512_ps256(f), mv);
    sum_d_step512<Sq>(a1, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1)), mv);
  }
  const __m256d lo = _mm256_add_pd(_mm512_castpd512_pd256(a0), _mm512_extractf64x4_pd(a0, 1));
  const __m256d hi = _mm256_add_pd(_mm512_castpd512_pd256(a1), _mm512_extractf64x4_pd(a1, 1));
  alignas(32) double t[4];
  _mm256_store_pd(t, _mm256_add_pd(lo, hi));
  double r = (t[0] + t[1]) + (t[2] + t[3]);
  for (; i < n; ++i) {
    const double d = static_cast<double>(static_cast<float>(x[i]));
    r += Sq ? (d - m) * (d - m) : d;
  }
  return r;
}
#endif

// sum(x) / sum((x - m)^2) of a float32 or bfloat16 run in double (run_sum_d's order and bits).
template <bool Sq, class T>
double sum_d(const T* x, int64_t n, double m = 0) {
#if defined(__GNUC__) && defined(__x86_64__)
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, BFloat16>) {
    if (has_avx512()) return sum_d_avx512<Sq>(x, n, m);
    if (has_avx2()) return sum_d_avx2<Sq>(x, n, m);
  }
#endif
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    return run_sum_d<Sq>(x, n, m);
  } else {  // no AVX2: the run widened whole, so that its sum has the float32 run's order
    std::vector<float> buf(static_cast<size_t>(n));
    widen(buf.data(), x, n);
    return run_sum_d<Sq>(buf.data(), n, m);
  }
}

#if defined(__GNUC__) && defined(__x86_64__)
// y = x * scale + shift on bfloat16, in float32 lanes (multiply, then add: no FMA),
// rounded once.
TESSEL_AVX2 void scale_shift_bf16_avx2(const uint16_t* x, uint16_t* y, int64_t n, float scale, float shift) {
  const __m256 sc = _mm256_set1_ps(scale), sh = _mm256_set1_ps(shift);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 lo = _mm256_add_ps(_mm256_mul_ps(bf16_load8(x + i), sc), sh);
    const __m256 hi = _mm256_add_ps(_mm256_mul_ps(bf16_load8(x + i + 8), sc), sh);
    bf16_store16(y + i, lo, hi);
  }
  for (; i < n; ++i) {
    const float v = std::bit_cast<float>(static_cast<uint32_t>(x[i]) << 16) * scale + shift;
    y[i] = std::bit_cast<uint16_t>(BFloat16(v));
  }
}
TESSEL_AVX512 void scale_shift_bf16_avx512(const uint16_t* x, uint16_t* y, int64_t n, float scale, float shift) {
  const __m512 sc = _mm512_set1_ps(scale), sh = _mm512_set1_ps(shift);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) bf16_store16_512(y + i, _mm512_add_ps(_mm512_mul_ps(bf16_load16_512(x + i), sc), sh));
  for (; i < n; ++i) {
    const float v = std::bit_cast<float>(static_cast<uint32_t>(x[i]) << 16) * scale + shift;
    y[i] = std::bit_cast<uint16_t>(BFloat16(v));
  }
}
#endif

// Channel ch's mean and sum of squared deviations (of N rows of S values, C * S apart), in
// double: two passes (no cancellation in the variance) over pieces of up to kStatPiece values,
// so that the second pass reads from L2; the pieces' results combined by Chan, Golub and
// LeVeque's formula. A channel that fits in one piece (rows summed in order) gets the plain
// two-pass result. (Two passes over a 10^7-value channel read it from memory twice: 1.4x
// PyTorch's bfloat16 batch_norm, which sums once.) The pieces depend on N and S only.
constexpr int64_t kStatPiece = int64_t{1} << 15;

// (count, mean, m2) of the values so far joined with a piece's (k, m, sq): Chan, Golub and
// LeVeque's update, which adds delta^2 terms and never subtracts.
inline void chan_combine(double& count, double& mean, double& m2, double k, double m, double sq) {
  if (count == 0) {
    count = k, mean = m, m2 = sq;
    return;
  }
  const double total = count + k, delta = m - mean;
  mean += delta * (k / total);
  m2 += sq + delta * delta * (count * k / total);
  count = total;
}

template <class T>
void channel_stats(const T* px, int64_t N, int64_t C, int64_t S, int64_t ch, double& mean, double& m2) {
  // fn(run, len) over the runs of the piece that starts at row n, offset s; returns its size
  // and moves (n, s) past it.
  auto piece = [&](int64_t& n, int64_t& s, auto&& fn) {
    int64_t left = kStatPiece;
    while (n < N && left > 0) {
      const int64_t len = std::min(S - s, left);
      fn(px + (n * C + ch) * S + s, len);
      left -= len;
      s += len;
      if (s == S) ++n, s = 0;
    }
    return kStatPiece - left;
  };
  double count = 0;
  mean = 0, m2 = 0;
  for (int64_t n = 0, s = 0; n < N;) {
    int64_t n1 = n, s1 = s;
    double sum = 0;
    const double k = static_cast<double>(piece(n1, s1, [&](const T* x, int64_t len) { sum += sum_d<false>(x, len); }));
    const double m = sum / k;
    double sq = 0;
    piece(n, s, [&](const T* x, int64_t len) { sq += sum_d<true>(x, len, m); });
    chan_combine(count, mean, m2, k, m, sq);
  }
}

// A channel's statistics and the affine map they give: y = x * scale + shift.
struct ChannelAffine {
  double mean, invstd, scale, shift;
};
template <class T>
ChannelAffine channel_affine(const T* px, int64_t N, int64_t C, int64_t S, int64_t ch, double eps, double w, double b) {
  double m, sq;
  channel_stats(px, N, C, S, ch, m, sq);
  const double is = 1.0 / std::sqrt(sq / static_cast<double>(N * S) + eps);
  return {m, is, is * w, b - m * is * w};
}

// Channels run in parallel; each channel's sums are accumulated in double.
template <class T>
void batch_norm_kernel(const KernelCall& c) {
  const Tensor& x = c.in[0];
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2];
  const double eps = static_cast<const UnaryParams*>(c.params)->a;
  const T *px = cptr<T>(x), *w = cptr<T>(c.in[1]), *b = cptr<T>(c.in[2]);
  T *y = mptr<T>(c.out[0]), *mean = mptr<T>(c.out[1]), *invstd = mptr<T>(c.out[2]);
  parallel_for(C, N * S * 4, [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const ChannelAffine f = channel_affine(px, N, C, S, ch, eps, w[ch], b[ch]);
      mean[ch] = static_cast<T>(f.mean);
      invstd[ch] = static_cast<T>(f.invstd);
      const T scale = static_cast<T>(f.scale), shift = static_cast<T>(f.shift);
      for (int64_t n = 0; n < N; ++n) {
        const T* row = px + (n * C + ch) * S;
        T* out = y + (n * C + ch) * S;
        for (int64_t s = 0; s < S; ++s) out[s] = row[s] * scale + shift;
      }
    }
  });
}

// float16/bfloat16 without autograd (the op passes float32 weight and bias and takes float32
// mean and invstd): the float32 kernel's sums, in its order, on the rows as they are
// (bfloat16 widened in registers; float16 and CPUs without AVX2 widen row pieces into L1),
// the output narrowed once: the bits of the float32 kernel on a float32 copy, without the
// two copies (10^5 bfloat16 through them: 1.4-1.7x PyTorch's time).
template <class T>
void batch_norm_reduced_kernel(const KernelCall& c) {
  const Tensor& x = c.in[0];
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2];
  const double eps = static_cast<const UnaryParams*>(c.params)->a;
  const T* px = cptr<T>(x);
  const float *w = cptr<float>(c.in[1]), *b = cptr<float>(c.in[2]);
  T* y = mptr<T>(c.out[0]);
  float *mean = mptr<float>(c.out[1]), *invstd = mptr<float>(c.out[2]);
  constexpr int64_t kPiece = 4096;  // 16 KiB of float
#if defined(__GNUC__) && defined(__x86_64__)
  const bool in_registers = std::is_same_v<T, BFloat16> && has_avx2();
#else
  const bool in_registers = false;
#endif
  parallel_for(C, N * S * 4, [&](int64_t lo, int64_t hi) {
    std::vector<float> buf(in_registers ? 0 : static_cast<size_t>(std::min(S, kPiece)));
    for (int64_t ch = lo; ch < hi; ++ch) {
      const ChannelAffine f = channel_affine(px, N, C, S, ch, eps, w[ch], b[ch]);
      mean[ch] = static_cast<float>(f.mean);
      invstd[ch] = static_cast<float>(f.invstd);
      const float scale = static_cast<float>(f.scale), shift = static_cast<float>(f.shift);
      for (int64_t n = 0; n < N; ++n) {
        const int64_t row = (n * C + ch) * S;
#if defined(__GNUC__) && defined(__x86_64__)
        if (in_registers) {
          const auto* xr = reinterpret_cast<const uint16_t*>(px + row);
          auto* yr = reinterpret_cast<uint16_t*>(y + row);
          if (has_avx512())
            scale_shift_bf16_avx512(xr, yr, S, scale, shift);
          else
            scale_shift_bf16_avx2(xr, yr, S, scale, shift);
          continue;
        }
#endif
        for (int64_t s0 = 0; s0 < S; s0 += kPiece) {
          const int64_t len = std::min(kPiece, S - s0);
          float* v = buf.data();
          widen(v, px + row + s0, len);
          for (int64_t s = 0; s < len; ++s) v[s] = v[s] * scale + shift;
          narrow(y + row + s0, v, len);
        }
      }
    }
  });
}

template <class T>
void batch_norm_backward_kernel(const KernelCall& c) {
  const Tensor &g = c.in[0], &x = c.in[1];
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2];
  const T *pg = cptr<T>(g), *px = cptr<T>(x), *mean = cptr<T>(c.in[2]), *invstd = cptr<T>(c.in[3]);
  const T* w = cptr<T>(c.in[4]);
  T *gx = mptr<T>(c.out[0]), *gw = mptr<T>(c.out[1]), *gb = mptr<T>(c.out[2]);
  const double M = static_cast<double>(N * S);
  parallel_for(C, N * S * 6, [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const double m = mean[ch], is = invstd[ch];
      double sg = 0, sgx = 0;  // sum(g), sum(g * (x - mean))
      for (int64_t n = 0; n < N; ++n) {
        const T *gr = pg + (n * C + ch) * S, *xr = px + (n * C + ch) * S;
        for (int64_t s = 0; s < S; ++s) {
          sg += gr[s];
          sgx += gr[s] * (xr[s] - m);
        }
      }
      gb[ch] = static_cast<T>(sg);
      gw[ch] = static_cast<T>(sgx * is);
      // dx = w * is * (g - mean(g) - xhat * mean(g * xhat)), xhat = (x - m) * is
      const T a = static_cast<T>(w[ch] * is), k = static_cast<T>(sgx * is * is / M), mg = static_cast<T>(sg / M);
      const T mm = static_cast<T>(m);
      for (int64_t n = 0; n < N; ++n) {
        const T *gr = pg + (n * C + ch) * S, *xr = px + (n * C + ch) * S;
        T* out = gx + (n * C + ch) * S;
        for (int64_t s = 0; s < S; ++s) out[s] = a * (gr[s] - mg - (xr[s] - mm) * k);
      }
    }
  });
}

// "var_fused": in x [O, K, I] (contiguous, T); out var [O, I] (float32 for float16/bfloat16,
// which the op rounds once; T otherwise), the variance over K with `correction` (params a)
// subtracted from the count. Each (o, i)'s mean and squared deviations in double, two passes
// over pieces of kStatPiece values, joined in order by chan_combine: the pieces depend on K
// and I only. The op-by-op form (mean, subtract, square, sum, divide) rounded each step in the
// input's dtype: a bfloat16 variance of values near 100 was 15% off, and five passes.
template <class T, class O>
void var_rows(const T* px, int64_t K, double denom, O* out, int64_t rows) {
  // Rows of K contiguous values. Each (row, piece) is a work item, so one long row still
  // spreads over the threads; the pieces are joined afterwards, in order.
  const int64_t P = (K + kStatPiece - 1) / kStatPiece;
  std::vector<double> mean(static_cast<size_t>(rows * P)), sq(mean.size());
  parallel_for(rows * P, std::min(K, kStatPiece) * 4, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t r = t / P, k0 = (t % P) * kStatPiece, k = std::min(kStatPiece, K - k0);
      const T* x = px + r * K + k0;
      const double m = sum_d<false>(x, k) / static_cast<double>(k);
      mean[static_cast<size_t>(t)] = m;
      sq[static_cast<size_t>(t)] = sum_d<true>(x, k, m);
    }
  });
  for (int64_t r = 0; r < rows; ++r) {
    double count = 0, m = 0, m2 = 0;
    for (int64_t p = 0; p < P; ++p) {
      const auto t = static_cast<size_t>(r * P + p);
      chan_combine(count, m, m2, static_cast<double>(std::min(kStatPiece, K - p * kStatPiece)), mean[t], sq[t]);
    }
    out[r] = static_cast<O>(m2 / denom);
  }
}

// Columns: a strip of up to kStrip columns of a [K, I] block, down its rows in pieces of
// kStrip-wide rows (whole pieces of kStatPiece values), each piece two passes from L1/L2.
constexpr int64_t kStrip = 64;

template <class T>
TESSEL_CLONES void strip_sums(const T* x, int64_t rows, int64_t I, int64_t w, const double* m, double* acc,
                              float* buf) {
  for (int64_t k = 0; k < rows; ++k) {
    const T* row = x + k * I;
    if constexpr (is_reduced_float_v<T>) {
      widen(buf, row, w);
      if (m)
        for (int64_t j = 0; j < w; ++j) {
          const double d = static_cast<double>(buf[j]) - m[j];
          acc[j] += d * d;
        }
      else
        for (int64_t j = 0; j < w; ++j) acc[j] += static_cast<double>(buf[j]);
    } else if (m) {
      for (int64_t j = 0; j < w; ++j) {
        const double d = static_cast<double>(row[j]) - m[j];
        acc[j] += d * d;
      }
    } else {
      for (int64_t j = 0; j < w; ++j) acc[j] += static_cast<double>(row[j]);
    }
  }
}

template <class T, class O>
void var_strip(const T* x, int64_t K, int64_t I, int64_t w, double denom, O* out) {
  constexpr int64_t rows_per_piece = kStatPiece / kStrip;
  double count = 0, mean[kStrip] = {}, m2[kStrip] = {};
  float buf[kStrip];
  for (int64_t k0 = 0; k0 < K; k0 += rows_per_piece) {
    const int64_t k = std::min(rows_per_piece, K - k0);
    double s[kStrip] = {}, q[kStrip] = {}, m[kStrip];
    strip_sums<T>(x + k0 * I, k, I, w, nullptr, s, buf);
    for (int64_t j = 0; j < w; ++j) m[j] = s[j] / static_cast<double>(k);
    strip_sums<T>(x + k0 * I, k, I, w, m, q, buf);
    for (int64_t j = 0; j < w; ++j) {
      double c = count;
      chan_combine(c, mean[j], m2[j], static_cast<double>(k), m[j], q[j]);
    }
    count += static_cast<double>(k);
  }
  for (int64_t j = 0; j < w; ++j) out[j] = static_cast<O>(m2[j] / denom);
}

template <class T>
void var_kernel(const KernelCall& c) {
  using O = std::conditional_t<is_reduced_float_v<T>, float, T>;
  const int64_t On = c.in[0].shape()[0], K = c.in[0].shape()[1], I = c.in[0].shape()[2];
  const double denom = std::max(static_cast<double>(K) - static_cast<const UnaryParams*>(c.params)->a, 0.0);
  const T* px = cptr<T>(c.in[0]);
  O* out = mptr<O>(c.out[0]);
  if (I == 1) return var_rows<T, O>(px, K, denom, out, On);
  const int64_t strips = (I + kStrip - 1) / kStrip;
  parallel_for(On * strips, K * kStrip * 4, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t o = t / strips, i0 = (t % strips) * kStrip;
      var_strip<T, O>(px + o * K * I + i0, K, I, std::min(kStrip, I - i0), denom, out + o * I + i0);
    }
  });
}

const bool registered = [] {
  using Types = TypeList<float, double>;
  register_for(Types{}, op::batch_norm, []<class T>(std::type_identity<T>) -> Kernel { return batch_norm_kernel<T>; });
  register_for(Types{}, op::batch_norm_backward,
               []<class T>(std::type_identity<T>) -> Kernel { return batch_norm_backward_kernel<T>; });
  // By name (as plugins do), so the builtin op list in registry.h stays as it is.
  auto& reg = Registry::get();
  // float16/bfloat16 statistics without autograd (float32 weight, bias, mean, invstd)
  reg.add(op::batch_norm, DeviceType::CPU, DType::BFloat16, &batch_norm_reduced_kernel<BFloat16>);
  reg.add(op::batch_norm, DeviceType::CPU, DType::Float16, &batch_norm_reduced_kernel<Half>);
  const OpId var = reg.op_id("var_fused");
  reg.add(var, DeviceType::CPU, DType::Float32, &var_kernel<float>);
  reg.add(var, DeviceType::CPU, DType::Float64, &var_kernel<double>);
  reg.add(var, DeviceType::CPU, DType::BFloat16, &var_kernel<BFloat16>);
  reg.add(var, DeviceType::CPU, DType::Float16, &var_kernel<Half>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
