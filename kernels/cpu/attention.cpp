// Fused scaled dot-product attention on the CPU (issue 16), registered by name:
//
//   "sdpa_flash"           in: q [B, L, E], k [B, S, E], v [B, S, Ev] (contiguous, T)
//                              [, mask [M, L, S] additive, T, M = 1 or B]
//                          out: o [B, L, Ev], lse [B, L] (log-sum-exp of each row's scaled scores)
//   "sdpa_flash_backward"  in: g [B, L, Ev], q, k, v, o, lse [, mask]
//                          out: dq [B, L, E], dk [B, S, E], dv [B, S, Ev]
//   params: UnaryParams, a = scale, b = 1 for causal (key j seen by query i iff j <= i).
//
// Flash-style: keys are visited in blocks of kBk; each query row keeps a running max,
// sum and output accumulator (online softmax), so no L x S score matrix exists; the
// backward recomputes each block's scores from q, k and lse. A row whose keys are all
// masked gets NaN (as softmax over -inf does) and no gradient.
//
// Threads: the forward splits (batch, query block) pairs; the backward splits the batch,
// each slice computed by one thread in a fixed order, so the results do not depend on
// the thread count (dk, dv sum over queries in query order).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/kernel.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TS_SDPA_AVX2 1
#define TS_AVX2_FMA __attribute__((target("avx2,fma")))
#endif

namespace tessel::cpu {
namespace {

constexpr int64_t kBk = 64;  // keys per block (the width of one row of scores)
constexpr int64_t kBq = 64;  // query rows per forward task and backward tile

// The inner loops, portable version (double, and float without AVX2). Rows of scores are
// kBk wide; keys past the block's end or a row's causal limit hold -inf, so exp gives 0.
template <class T>
struct PlainOps {
  // s[0:kBk] = sum_e q[e] * kt[e, 0:kBk]  (kt: the key block transposed, zero-padded);
  // entries from nv on are not needed (the AVX2 version may leave them 0)
  static void scores(const T* q, const T* kt, int64_t E, T* s, int64_t /*nv*/) {
    for (int64_t j = 0; j < kBk; ++j) s[j] = 0;
    for (int64_t e = 0; e < E; ++e) {
      const T a = q[e];
      const T* r = kt + e * kBk;
      for (int64_t j = 0; j < kBk; ++j) s[j] += a * r[j];
    }
  }
  // s = s * scale (+ mask[j]) for j < nv, -inf beyond; returns the max
  static T prep(T* s, T scale, const T* mask, int64_t nv) {
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < kBk; ++j) {
      T x = j < nv ? s[j] * scale + (mask ? mask[j] : T(0)) : -std::numeric_limits<T>::infinity();
      s[j] = x;
      m = std::max(m, x);
    }
    return m;
  }
  // s = exp(s - shift); returns the sum (entries from nv on are -inf: 0)
  static T exp_sum(T* s, T shift, int64_t /*nv*/) {
    T sum = 0;
    for (int64_t j = 0; j < kBk; ++j) sum += (s[j] = std::exp(s[j] - shift));
    return sum;
  }
  // ds = p * (dp - d) * scale
  static void dsoft(T* ds, const T* p, T d, T scale) {
    for (int64_t j = 0; j < kBk; ++j) ds[j] = p[j] * (ds[j] - d) * scale;
  }
  // acc[0:D] += sum_{j < n} p[j * ps] * x[j, 0:D]
  static void gemv_t(const T* p, int64_t ps, const T* x, int64_t n, int64_t D, T* acc) {
    for (int64_t j = 0; j < n; ++j) {
      const T a = p[j * ps];
      const T* r = x + j * D;
      for (int64_t d = 0; d < D; ++d) acc[d] += a * r[d];
    }
  }
};

#ifdef TS_SDPA_AVX2
struct Avx2Ops {
  static_assert(kBk == 64, "a row of scores is eight AVX2 registers");
  static TS_AVX2_FMA void scores(const float* q, const float* kt, int64_t E, float* s, int64_t nv) {
    if (nv <= 32) {  // causal rows near the diagonal: half the block
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t e = 0; e < E; ++e) {
        const __m256 b = _mm256_broadcast_ss(q + e);
        const float* r = kt + e * kBk;
        a0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r), a0);
        a1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 8), a1);
        a2 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 16), a2);
        a3 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 24), a3);
      }
      const __m256 z = _mm256_setzero_ps();
      _mm256_storeu_ps(s, a0), _mm256_storeu_ps(s + 8, a1), _mm256_storeu_ps(s + 16, a2);
      _mm256_storeu_ps(s + 24, a3), _mm256_storeu_ps(s + 32, z), _mm256_storeu_ps(s + 40, z);
      _mm256_storeu_ps(s + 48, z), _mm256_storeu_ps(s + 56, z);
      return;
    }
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int64_t e = 0; e < E; ++e) {
      const __m256 b = _mm256_broadcast_ss(q + e);
      const float* r = kt + e * kBk;
      a0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r), a0);
      a1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 8), a1);
      a2 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 16), a2);
      a3 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 24), a3);
      a4 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 32), a4);
      a5 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 40), a5);
      a6 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 48), a6);
      a7 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 56), a7);
    }
    _mm256_storeu_ps(s, a0), _mm256_storeu_ps(s + 8, a1), _mm256_storeu_ps(s + 16, a2);
    _mm256_storeu_ps(s + 24, a3), _mm256_storeu_ps(s + 32, a4), _mm256_storeu_ps(s + 40, a5);
    _mm256_storeu_ps(s + 48, a6), _mm256_storeu_ps(s + 56, a7);
  }
  static TS_AVX2_FMA float hmax(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
  }
  static TS_AVX2_FMA float hsum(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
  }
  static TS_AVX2_FMA float prep(float* s, float scale, const float* mask, int64_t nv) {
    const __m256 sc = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 m = ninf;
    for (int64_t j = 0; j < kBk; j += 8) {
      __m256 x = _mm256_mul_ps(_mm256_loadu_ps(s + j), sc);
      if (mask && j < nv) {  // the mask row has nv readable entries past j0
        if (j + 8 <= nv) {
          x = _mm256_add_ps(x, _mm256_loadu_ps(mask + j));
        } else {
          alignas(32) float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
          for (int64_t t = j; t < nv; ++t) tmp[t - j] = mask[t];
          x = _mm256_add_ps(x, _mm256_load_ps(tmp));
        }
      }
      const __m256i idx = _mm256_add_epi32(lane, _mm256_set1_epi32(static_cast<int>(j)));
      const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nv)), idx));
      x = _mm256_blendv_ps(ninf, x, keep);
      _mm256_storeu_ps(s + j, x);
      m = _mm256_max_ps(m, x);
    }
    return hmax(m);
  }
  static TS_AVX2_FMA float exp_sum(float* s, float shift, int64_t nv) {
    const int64_t n8 = (nv + 7) / 8 * 8;
    const __m256 sh = _mm256_set1_ps(shift);
    for (int64_t j = 0; j < n8; j += 8) _mm256_storeu_ps(s + j, _mm256_sub_ps(_mm256_loadu_ps(s + j), sh));
    vexp()(s, s, n8, vecmath::Params{});
    for (int64_t j = n8; j < kBk; j += 8) _mm256_storeu_ps(s + j, _mm256_setzero_ps());
    __m256 a = _mm256_setzero_ps();
    for (int64_t j = 0; j < n8; j += 8) a = _mm256_add_ps(a, _mm256_loadu_ps(s + j));
    return hsum(a);
  }
  static TS_AVX2_FMA void dsoft(float* ds, const float* p, float d, float scale) {
    const __m256 dv = _mm256_set1_ps(d), sc = _mm256_set1_ps(scale);
    for (int64_t j = 0; j < kBk; j += 8)
      _mm256_storeu_ps(ds + j, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(p + j), sc),
                                             _mm256_sub_ps(_mm256_loadu_ps(ds + j), dv)));
  }
  static TS_AVX2_FMA void gemv_t(const float* p, int64_t ps, const float* x, int64_t n, int64_t D, float* acc) {
    int64_t d = 0;
    for (; d + 32 <= D; d += 32) {  // four registers of acc held across the j loop
      __m256 a0 = _mm256_loadu_ps(acc + d), a1 = _mm256_loadu_ps(acc + d + 8);
      __m256 a2 = _mm256_loadu_ps(acc + d + 16), a3 = _mm256_loadu_ps(acc + d + 24);
      for (int64_t j = 0; j < n; ++j) {
        const __m256 b = _mm256_broadcast_ss(p + j * ps);
        const float* r = x + j * D + d;
        a0 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r), a0);
        a1 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 8), a1);
        a2 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 16), a2);
        a3 = _mm256_fmadd_ps(b, _mm256_loadu_ps(r + 24), a3);
      }
      _mm256_storeu_ps(acc + d, a0), _mm256_storeu_ps(acc + d + 8, a1);
      _mm256_storeu_ps(acc + d + 16, a2), _mm256_storeu_ps(acc + d + 24, a3);
    }
    for (; d + 8 <= D; d += 8) {
      __m256 a0 = _mm256_loadu_ps(acc + d);
      for (int64_t j = 0; j < n; ++j)
        a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j * ps), _mm256_loadu_ps(x + j * D + d), a0);
      _mm256_storeu_ps(acc + d, a0);
    }
    for (; d < D; ++d) {
      float a = acc[d];
      for (int64_t j = 0; j < n; ++j) a += p[j * ps] * x[j * D + d];
      acc[d] = a;
    }
  }
  static vecmath::UnaryF vexp() {
    static const vecmath::UnaryF f = vecmath::table()->f32[vecmath::Exp];
    return f;
  }
  static bool usable() {
    static const bool ok = vecmath::table() != nullptr && __builtin_cpu_supports("avx2") &&
                           __builtin_cpu_supports("fma");
    return ok;
  }
};
#endif

template <class T>
struct Args {
  int64_t B, L, S, E, Ev, M;
  T scale;
  bool causal;
  const T *q, *k, *v, *mask;
  T *o, *lse;
  const T *g, *oin, *lsein;  // backward
  T *dq, *dk, *dv;
  const T* mask_row(int64_t b, int64_t i, int64_t j0) const {
    return mask ? mask + ((M == 1 ? 0 : b) * L + i) * S + j0 : nullptr;
  }
};

// Transposes keys [j0, j0 + n) of x [S, D] into xt [D, kBk], zero-padding columns n..kBk.
// x is read row by row (the prefetcher follows; xt is small and stays in L1).
template <class T>
void transpose_block(const T* x, int64_t j0, int64_t n, int64_t D, T* xt) {
  for (int64_t j = 0; j < n; ++j) {
    const T* r = x + (j0 + j) * D;
    for (int64_t d = 0; d < D; ++d) xt[d * kBk + j] = r[d];
  }
  if (n < kBk)
    for (int64_t d = 0; d < D; ++d) std::fill(xt + d * kBk + n, xt + (d + 1) * kBk, T(0));
}

// One row's scaled, masked scores for keys [j0, j0 + n) into s[0:kBk] (-inf past the keys
// the row may see: causal rows see a prefix); returns the number seen, their max in *mx.
template <class T, class Ops>
int64_t row_scores(const Args<T>& a, int64_t b, int64_t i, const T* qi, const T* kt, int64_t j0, int64_t n,
                   T* s, T* mx) {
  const int64_t nv = a.causal ? std::min(n, i - j0 + 1) : n;
  Ops::scores(qi, kt, a.E, s, nv);
  *mx = Ops::prep(s, a.scale, a.mask_row(b, i, j0), nv);
  return nv;
}

template <class T, class Ops>
void forward_task(const Args<T>& a, int64_t b, int64_t i0, int64_t i1, std::vector<T>& kt, std::vector<T>& s,
                  std::vector<T>& mrow, std::vector<T>& lrow) {
  const T ninf = -std::numeric_limits<T>::infinity();
  const int64_t E = a.E, Ev = a.Ev;
  const T *q = a.q + b * a.L * E, *k = a.k + b * a.S * E, *v = a.v + b * a.S * Ev;
  T* o = a.o + b * a.L * Ev;
  for (int64_t i = i0; i < i1; ++i) {
    mrow[i - i0] = ninf, lrow[i - i0] = 0;
    std::fill(o + i * Ev, o + (i + 1) * Ev, T(0));
  }
  const int64_t s_end = a.causal ? std::min(a.S, i1) : a.S;  // keys past the last row's diagonal: unseen
  for (int64_t j0 = 0; j0 < s_end; j0 += kBk) {
    const int64_t n = std::min(kBk, a.S - j0);
    transpose_block(k, j0, n, E, kt.data());
    for (int64_t i = std::max(i0, a.causal ? j0 : i0); i < i1; ++i) {
      T mx;
      const int64_t nv = row_scores<T, Ops>(a, b, i, q + i * E, kt.data(), j0, n, s.data(), &mx);
      T& m = mrow[i - i0];
      const T m_new = std::max(m, mx);
      if (m_new == ninf) continue;  // everything so far masked
      const T sum = Ops::exp_sum(s.data(), m_new, nv);
      T* oi = o + i * Ev;
      if (m != m_new) {
        const T alpha = std::exp(m - m_new);  // 0 for the first block the row sees
        for (int64_t d = 0; d < Ev; ++d) oi[d] *= alpha;
        lrow[i - i0] *= alpha;
        m = m_new;
      }
      lrow[i - i0] += sum;
      Ops::gemv_t(s.data(), 1, v + j0 * Ev, nv, Ev, oi);
    }
  }
  for (int64_t i = i0; i < i1; ++i) {
    const T l = lrow[i - i0];
    T* oi = o + i * Ev;
    if (l == 0) {  // no key visible
      std::fill(oi, oi + Ev, std::numeric_limits<T>::quiet_NaN());
      a.lse[b * a.L + i] = std::numeric_limits<T>::infinity();  // backward: p = 0
      continue;
    }
    const T inv = T(1) / l;
    for (int64_t d = 0; d < Ev; ++d) oi[d] *= inv;
    a.lse[b * a.L + i] = mrow[i - i0] + std::log(l);
  }
}

// One batch entry's gradients. Per key block and tile of kBq query rows: P and dS rows
// ([kBq, kBk] each) are formed row by row (dq_i += dS_i K), then dv_j += P[:, j]^T G and
// dk_j += dS[:, j]^T Q with the key's accumulator held in registers.
template <class T, class Ops>
void backward_slice(const Args<T>& a, int64_t b, std::vector<T>& kt, std::vector<T>& vt, std::vector<T>& pt,
                    std::vector<T>& dst, std::vector<T>& drow) {
  const int64_t L = a.L, S = a.S, E = a.E, Ev = a.Ev;
  const T *q = a.q + b * L * E, *k = a.k + b * S * E, *v = a.v + b * S * Ev;
  const T *g = a.g + b * L * Ev, *o = a.oin + b * L * Ev, *lse = a.lsein + b * L;
  T *dq = a.dq + b * L * E, *dk = a.dk + b * S * E, *dv = a.dv + b * S * Ev;
  std::fill(dq, dq + L * E, T(0));
  std::fill(dk, dk + S * E, T(0));
  std::fill(dv, dv + S * Ev, T(0));
  for (int64_t i = 0; i < L; ++i) {  // D_i = g_i . o_i
    T acc = 0;
    for (int64_t d = 0; d < Ev; ++d) acc += g[i * Ev + d] * o[i * Ev + d];
    drow[i] = acc;
  }
  for (int64_t j0 = 0; j0 < S; j0 += kBk) {
    const int64_t n = std::min(kBk, S - j0);
    if (a.causal && j0 >= L) break;
    transpose_block(k, j0, n, E, kt.data());
    transpose_block(v, j0, n, Ev, vt.data());
    for (int64_t i0 = a.causal ? j0 : 0; i0 < L; i0 += kBq) {
      const int64_t nr = std::min(kBq, L - i0);
      for (int64_t r = 0; r < nr; ++r) {
        const int64_t i = i0 + r;
        T* p = pt.data() + r * kBk;
        T* ds = dst.data() + r * kBk;
        T mx;
        const int64_t nv = row_scores<T, Ops>(a, b, i, q + i * E, kt.data(), j0, n, p, &mx);
        if (std::isinf(lse[i]) && lse[i] > 0) {  // no key visible: no gradient
          std::fill(p, p + kBk, T(0));
          std::fill(ds, ds + kBk, T(0));
          continue;
        }
        Ops::exp_sum(p, lse[i], nv);                     // p (0 from nv on)
        Ops::scores(g + i * Ev, vt.data(), Ev, ds, nv);  // dp_j = g_i . v_j
        Ops::dsoft(ds, p, drow[i], a.scale);             // ds
        Ops::gemv_t(ds, 1, k + j0 * E, nv, E, dq + i * E);  // dq_i += ds_j k_j
      }
      for (int64_t j = 0; j < n; ++j) {
        // causal: key j0 + j has p = ds = 0 in the rows above it
        const int64_t r0 = a.causal ? std::clamp<int64_t>(j0 + j - i0, 0, nr) : 0;
        Ops::gemv_t(pt.data() + r0 * kBk + j, kBk, g + (i0 + r0) * Ev, nr - r0, Ev, dv + (j0 + j) * Ev);
        Ops::gemv_t(dst.data() + r0 * kBk + j, kBk, q + (i0 + r0) * E, nr - r0, E, dk + (j0 + j) * E);
      }
    }
  }
}

template <class T>
Args<T> make_args(const KernelCall& c, bool backward) {
  const int off = backward ? 1 : 0;  // backward: g comes first
  const Tensor &q = c.in[off], &k = c.in[off + 1], &v = c.in[off + 2];
  Args<T> a{};
  a.B = q.shape()[0], a.L = q.shape()[1], a.E = q.shape()[2], a.S = k.shape()[1], a.Ev = v.shape()[2];
  const auto* p = static_cast<const UnaryParams*>(c.params);
  a.scale = static_cast<T>(p->a);
  a.causal = p->b != 0;
  a.q = cptr<T>(q), a.k = cptr<T>(k), a.v = cptr<T>(v);
  const size_t mask_at = backward ? 6 : 3;
  if (c.in.size() > mask_at) {
    a.mask = cptr<T>(c.in[mask_at]);
    a.M = c.in[mask_at].shape()[0];
  }
  return a;
}

template <class T, class Ops>
void forward_run(const Args<T>& a) {
  const int64_t nqb = (a.L + kBq - 1) / kBq;
  const int64_t cost = kBq * (a.causal ? (a.S + 1) / 2 : a.S) * (a.E + a.Ev) * 2;
  parallel_for(a.B * nqb, cost, [&](int64_t lo, int64_t hi) {
    std::vector<T> kt(static_cast<size_t>(std::max<int64_t>(a.E, 1) * kBk)), s(kBk), mrow(kBq), lrow(kBq);
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t b = t / nqb, i0 = (t % nqb) * kBq;
      forward_task<T, Ops>(a, b, i0, std::min(a.L, i0 + kBq), kt, s, mrow, lrow);
    }
  });
}

template <class T, class Ops>
void backward_run(const Args<T>& a) {
  const int64_t cost = a.L * (a.causal ? (a.S + 1) / 2 : a.S) * (3 * a.E + 2 * a.Ev) * 2;
  parallel_for(a.B, cost, [&](int64_t lo, int64_t hi) {
    std::vector<T> kt(static_cast<size_t>(std::max<int64_t>(a.E, 1) * kBk)),
        vt(static_cast<size_t>(std::max<int64_t>(a.Ev, 1) * kBk)), pt(kBq * kBk), dst(kBq * kBk), drow(a.L);
    for (int64_t b = lo; b < hi; ++b) backward_slice<T, Ops>(a, b, kt, vt, pt, dst, drow);
  });
}

template <class T>
void sdpa_forward_kernel(const KernelCall& c) {
  Args<T> a = make_args<T>(c, false);
  a.o = mptr<T>(c.out[0]), a.lse = mptr<T>(c.out[1]);
#ifdef TS_SDPA_AVX2
  if constexpr (std::is_same_v<T, float>) {
    if (Avx2Ops::usable()) return forward_run<T, Avx2Ops>(a);
  }
#endif
  forward_run<T, PlainOps<T>>(a);
}

template <class T>
void sdpa_backward_kernel(const KernelCall& c) {
  Args<T> a = make_args<T>(c, true);
  a.g = cptr<T>(c.in[0]), a.oin = cptr<T>(c.in[4]), a.lsein = cptr<T>(c.in[5]);
  a.dq = mptr<T>(c.out[0]), a.dk = mptr<T>(c.out[1]), a.dv = mptr<T>(c.out[2]);
#ifdef TS_SDPA_AVX2
  if constexpr (std::is_same_v<T, float>) {
    if (Avx2Ops::usable()) return backward_run<T, Avx2Ops>(a);
  }
#endif
  backward_run<T, PlainOps<T>>(a);
}

const bool registered = [] {
  // By name (as plugins do), so the builtin op list in registry.h stays as it is.
  auto& reg = Registry::get();
  const OpId f = reg.op_id("sdpa_flash"), fb = reg.op_id("sdpa_flash_backward");
  reg.add(f, DeviceType::CPU, DType::Float32, &sdpa_forward_kernel<float>);
  reg.add(f, DeviceType::CPU, DType::Float64, &sdpa_forward_kernel<double>);
  reg.add(fb, DeviceType::CPU, DType::Float32, &sdpa_backward_kernel<float>);
  reg.add(fb, DeviceType::CPU, DType::Float64, &sdpa_backward_kernel<double>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
