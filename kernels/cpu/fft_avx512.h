#pragma once
// rfft of float32 rows of 256 samples on AVX-512, two rows at a time in registers.
// fft.cpp's lanes (16 signals through work arrays, transposes in and out) ran
// these rows, the common short-frame case, at 2x MKL's time (PyTorch's): each
// of the four passes over memory cost about what MKL spends on a whole row.
// Here a row's 128 complex points z_j = x[2j] + i x[2j+1] (j = 16 v + e) stay
// in 16 registers: 8-point DFTs over v in vertical ops (lane e), twiddles
// w_128^{e k_v}, a 16 x 16 transpose of two rows' results (lane 8 row + k_v),
// 16-point DFTs over e, so Z_{k_v + 8 k_e} is lane k_v of register k_e, then
// the split step to the 129 bins and interleaved stores. Only fft.cpp includes
// this; the caller checks has_avx512(). Complex rows of 256 points likewise, below.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <utility>

#include "kernels/cpu/bf16_simd.h"  // TESSEL_AVX512, has_avx512

// 64-byte vectors passed between always-inline helpers of AVX-512 functions.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace tessel::cpu::fft_avx512 {

typedef float V __attribute__((vector_size(64)));
struct C {
  V r, i;
};
#define TS_AVX512_INLINE TESSEL_AVX512 [[gnu::always_inline]] inline

TS_AVX512_INLINE V ld(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
TS_AVX512_INLINE void st(float* p, V v) { std::memcpy(p, &v, sizeof v); }
// Interleaved (re, im) pairs <-> split vectors: even and odd values of a, b (16 pairs),
// and re, im back to the pairs of their first (lo) and last (hi) 8 lanes.
TS_AVX512_INLINE V even(V a, V b) {
  return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
TS_AVX512_INLINE V odd(V a, V b) {
  return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
TS_AVX512_INLINE V lo_pairs(V re, V im) {
  return __builtin_shufflevector(re, im, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
TS_AVX512_INLINE V hi_pairs(V re, V im) {
  return __builtin_shufflevector(re, im, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
TS_AVX512_INLINE C add(C a, C b) { return {a.r + b.r, a.i + b.i}; }
TS_AVX512_INLINE C sub(C a, C b) { return {a.r - b.r, a.i - b.i}; }
TS_AVX512_INLINE C mul(C a, V wr, V wi) { return {a.r * wr - a.i * wi, a.r * wi + a.i * wr}; }
TS_AVX512_INLINE C mul(C a, float wr, float wi) { return {a.r * wr - a.i * wi, a.r * wi + a.i * wr}; }
TS_AVX512_INLINE C neg_i(C a) { return {a.i, -a.r}; }  // a (-i)

// In place: (a0, a1, a2, a3) -> their 4-point DFT (w_4 = -i).
TS_AVX512_INLINE void dft4(C& a0, C& a1, C& a2, C& a3) {
  const C t0 = add(a0, a2), t1 = sub(a0, a2), t2 = add(a1, a3), t3 = neg_i(sub(a1, a3));
  a0 = add(t0, t2), a1 = add(t1, t3), a2 = sub(t0, t2), a3 = sub(t1, t3);
}

// y_k = sum_r z_r w_8^{rk}, as 2 x 4: radix-2 pairs (r, r + 4), w_8^r on the differences.
TS_AVX512_INLINE void dft8(const C* z, C* y) {
  constexpr float h = std::numbers::sqrt2_v<float> / 2;
  C b0[4], b1[4];
  for (int r = 0; r < 4; ++r) b0[r] = add(z[r], z[r + 4]), b1[r] = sub(z[r], z[r + 4]);
  b1[1] = mul(b1[1], h, -h);
  b1[2] = neg_i(b1[2]);
  b1[3] = mul(b1[3], -h, -h);
  dft4(b0[0], b0[1], b0[2], b0[3]);
  dft4(b1[0], b1[1], b1[2], b1[3]);
  for (int k = 0; k < 4; ++k) y[2 * k] = b0[k], y[2 * k + 1] = b1[k];
}

struct Tables {
  alignas(64) float w16r[16], w16i[16];              // w_16^q, q = r2 k1
  alignas(64) float splitr[16][16], spliti[16][16];  // e^{-2 pi i k / 256} / 2, k = k_v + 8 k_e, [k_e][8 row + k_v]
};
inline const Tables& tables() {
  static const Tables t = [] {
    Tables t{};
    const double tau = 2 * std::numbers::pi;
    for (int q = 0; q < 16; ++q) t.w16r[q] = float(std::cos(tau * q / 16)), t.w16i[q] = float(-std::sin(tau * q / 16));
    for (int ke = 0; ke < 16; ++ke)
      for (int l = 0; l < 16; ++l) {
        const int k = l % 8 + 8 * ke;
        t.splitr[ke][l] = float(std::cos(tau * k / 256) / 2), t.spliti[ke][l] = float(-std::sin(tau * k / 256) / 2);
      }
    return t;
  }();
  return t;
}

// X_{k1 + 4 k2} = sum_r2 w_16^{r2 k1} w_4^{r2 k2} sum_r1 a_{4 r1 + r2} w_4^{r1 k1}, in place.
TS_AVX512_INLINE void dft16(C* a, const Tables& t) {
  for (int r2 = 0; r2 < 4; ++r2) {
    dft4(a[r2], a[4 + r2], a[8 + r2], a[12 + r2]);  // -> B[r2][k1] at a[4 k1 + r2]
    for (int k1 = 1; k1 < 4; ++k1)
      if (r2 > 0) a[4 * k1 + r2] = mul(a[4 * k1 + r2], t.w16r[r2 * k1], t.w16i[r2 * k1]);
  }
  C x[16];
  for (int k1 = 0; k1 < 4; ++k1) {
    C b0 = a[4 * k1], b1 = a[4 * k1 + 1], b2 = a[4 * k1 + 2], b3 = a[4 * k1 + 3];
    dft4(b0, b1, b2, b3);
    x[k1] = b0, x[k1 + 4] = b1, x[k1 + 8] = b2, x[k1 + 12] = b3;
  }
  for (int k = 0; k < 16; ++k) a[k] = x[k];
}

// Rows i and i + H (bit H of i clear) trade the elements that make a 16 x 16
// transpose after the rounds H = 1, 2, 4, 8 (as fft_lanes.h's, 16 wide).
template <int H, std::size_t... K>
TS_AVX512_INLINE void swap_rows(V& x, V& y, std::index_sequence<K...>) {
  const V a = x, b = y;
  x = __builtin_shufflevector(a, b, ((K & H) ? 16 + (K ^ H) : K)...);
  y = __builtin_shufflevector(a, b, ((K & H) ? 16 + K : (K ^ H))...);
}
template <int H>
TS_AVX512_INLINE void transpose_round(V* r) {
  for (int i = 0; i < 16; ++i)
    if (!(i & H)) swap_rows<H>(r[i], r[i + H], std::make_index_sequence<16>{});
}
TS_AVX512_INLINE void transpose(V* r) {
  transpose_round<1>(r);
  transpose_round<2>(r);
  transpose_round<4>(r);
  transpose_round<8>(r);
}

// Rows x0 and x1 (256 samples each) -> bins o0 and o1 (129 (re, im) pairs each,
// times sr and si); tw: w_128^{e k_v} as cos [8][16] then -sin [8][16] (fft.cpp's rows_twiddles(128)).
TESSEL_AVX512 inline void rfft256_pair(const float* x0, const float* x1, float* o0, float* o1, float sr, float si,
                                       const Tables& t, const float* tw) {
  V rr[16], ri[16];  // row 8 s + k_v: signal s's Y_{k_v}, lane e
  for (int s = 0; s < 2; ++s) {
    const float* x = s == 0 ? x0 : x1;
    C z[8], y[8];
    for (int v = 0; v < 8; ++v) {
      const V a = ld(x + 32 * v), b = ld(x + 32 * v + 16);
      z[v].r = even(a, b);
      z[v].i = odd(a, b);
    }
    dft8(z, y);
    rr[8 * s] = y[0].r, ri[8 * s] = y[0].i;
    for (int kv = 1; kv < 8; ++kv) {
      const C w = mul(y[kv], ld(tw + 16 * kv), ld(tw + 128 + 16 * kv));
      rr[8 * s + kv] = w.r, ri[8 * s + kv] = w.i;
    }
  }
  transpose(rr);
  transpose(ri);
  C u[16];  // row e: lane 8 s + k_v
  for (int e = 0; e < 16; ++e) u[e] = {rr[e], ri[e]};
  dft16(u, t);  // row k_e: lane 8 s + k_v holds Z_{k_v + 8 k_e} of signal s
  // X_k = E_k + w_k O_k, E = (Z_k + conj Z_{128-k}) / 2, O = (Z_k - conj Z_{128-k}) / 2i. Z_{128-k}
  // is lane 8 s + 8 - k_v of row 15 - k_e, or for k_v = 0 lane 8 s of row (16 - k_e) % 16.
#pragma GCC unroll 16
  for (int ke = 0; ke < 16; ++ke) {
    const C p = u[15 - ke], q = u[(16 - ke) % 16];
#define TS_PARTNER(v, w) __builtin_shufflevector(v, w, 16, 7, 6, 5, 4, 3, 2, 1, 24, 15, 14, 13, 12, 11, 10, 9)
    const V br = TS_PARTNER(p.r, q.r), bi = TS_PARTNER(p.i, q.i);
#undef TS_PARTNER
    const V ar = u[ke].r, ai = u[ke].i;
    const V wr = ld(t.splitr[ke]), wi = ld(t.spliti[ke]);  // halved
    const V er = ar + br, ei = ai - bi, odr = ai + bi, odi = br - ar;
    const V xr = (er * 0.5f + wr * odr - wi * odi) * sr, xi = (ei * 0.5f + wr * odi + wi * odr) * si;
    st(o0 + 16 * ke, lo_pairs(xr, xi));
    st(o1 + 16 * ke, hi_pairs(xr, xi));
  }
  // X_128 = Re Z_0 - Im Z_0 (real).
  o0[256] = (u[0].r[0] - u[0].i[0]) * sr, o0[257] = 0.0f;
  o1[256] = (u[0].r[8] - u[0].i[8]) * sr, o1[257] = 0.0f;
}

// rows [0, count) of x (row stride 256) -> out (row stride out_stride >= 258).
TESSEL_AVX512 inline void rfft256_rows(const float* x, int64_t count, float* out, int64_t out_stride, float sr,
                                       float si, const float* tw) {
  const Tables& t = tables();
  int64_t r = 0;
  for (; r + 2 <= count; r += 2)
    rfft256_pair(x + r * 256, x + (r + 1) * 256, out + r * out_stride, out + (r + 1) * out_stride, sr, si, t, tw);
  if (r < count) {
    float spare[258];
    rfft256_pair(x + r * 256, x + r * 256, out + r * out_stride, spare, sr, si, t, tw);
  }
}

// One radix-16 stage of fft_plan.h's Stockham engine over 16 float lanes (one
// register a row), each butterfly in registers: y[q + s (16 j + k)] = w_N^{jk}
// sum_r x[q + s (j + r len)] w_16^{rk}, tw the stage's w_N^{jk} as (re, im)
// pairs at [16 j + k]. The portable butterfly went through a buffer and pointer
// tables (fft_plan.h's stage calls this instead: fft2 [16, 256, 256], 1 thread, 3.16 -> 2.77 ms).
TESSEL_AVX512 inline void stage16(const float* xr, const float* xi, float* yr, float* yi, int64_t len, int64_t s,
                                  const float* tw) {
  const Tables& t = tables();
  for (int64_t j = 0; j < len; ++j)
    for (int64_t q = 0; q < s; ++q) {
      C a[16];
      for (int r = 0; r < 16; ++r) {
        const int64_t at = (q + s * (j + r * len)) * 16;
        a[r] = {ld(xr + at), ld(xi + at)};
      }
      dft16(a, t);
      for (int k = 0; k < 16; ++k) {
        const int64_t at = (q + s * (16 * j + k)) * 16;
        const C y = j == 0 || k == 0 ? a[k] : mul(a[k], tw[2 * (16 * j + k)], tw[2 * (16 * j + k) + 1]);
        st(yr + at, y.r);
        st(yi + at, y.i);
      }
    }
}

// Complex rows of 256 points, one at a time: z_j (j = 16 v + e) is lane e of
// register v, so 16-point DFTs over v, twiddles w_256^{e k_v}, one 16 x 16
// transpose and 16-point DFTs over e leave X_{k_v + 16 k_e} in lane k_v of
// register k_e: the natural order, stored as it is. The inverse runs forward on
// conjugates (sign -1: the input's and the output's imaginary parts negated).
// rows [0, count) of x and out, 256 (re, im) pairs each, contiguous; out = scale * DFT (sign -1: the inverse's);
// tw: w_256^{e k_v} as cos [16][16] then -sin [16][16] (fft.cpp's rows_twiddles(256)).
TESSEL_AVX512 inline void c2c256_rows(const float* x, int64_t count, float* out, float sign, float scale,
                                      const float* tw) {
  const Tables& t = tables();
  for (int64_t row = 0; row < count; ++row) {
    const float* xr = x + row * 512;
    C z[16];
    for (int v = 0; v < 16; ++v) {
      const V a = ld(xr + 32 * v), b = ld(xr + 32 * v + 16);
      z[v].r = even(a, b);
      z[v].i = odd(a, b) * sign;
    }
    dft16(z, t);  // register k_v: Y_{k_v}, lane e
    V rr[16], ri[16];
    rr[0] = z[0].r, ri[0] = z[0].i;
    for (int kv = 1; kv < 16; ++kv) {
      const C w = mul(z[kv], ld(tw + 16 * kv), ld(tw + 256 + 16 * kv));
      rr[kv] = w.r, ri[kv] = w.i;
    }
    transpose(rr);
    transpose(ri);
    for (int e = 0; e < 16; ++e) z[e] = {rr[e], ri[e]};
    dft16(z, t);
    float* o = out + row * 512;
    const float iscale = sign * scale;
    for (int ke = 0; ke < 16; ++ke) {
      const V re = z[ke].r * scale, im = z[ke].i * iscale;
      st(o + 32 * ke, lo_pairs(re, im));
      st(o + 32 * ke + 16, hi_pairs(re, im));
    }
  }
}

// Complex rows of n = 16 R points, R a multiple of 16: z_j (j = 16 v + e) as R
// rows of 16 lanes (re, im) in work arrays; row_dft(re, im) runs the R-point
// DFTs over v in those lanes (fft_plan.h's engine, in L1) and returns where Y
// [k_v][e] ended; then each 16 rows of k_v get twiddles w_n^{e k_v} (tw [R][16]),
// a transpose and 16-point DFTs over e: X_{k_v + R k_e} is lane k_v - 16 b of
// register k_e, 16 neighbouring outputs stored at once.
template <class RowDft>
TESSEL_AVX512 inline void c2c_rows(const float* x, int64_t count, int64_t n, float* out, float sign, float scale,
                                   const float* twr, const float* twi, float* re, float* im, RowDft&& row_dft) {
  const Tables& t = tables();
  const int64_t R = n / 16;
  const float iscale = sign * scale;
  for (int64_t row = 0; row < count; ++row) {
    const float* xr = x + row * 2 * n;
    for (int64_t v = 0; v < R; ++v) {
      const V a = ld(xr + 32 * v), b = ld(xr + 32 * v + 16);
      st(re + 16 * v, even(a, b));
      st(im + 16 * v, odd(a, b) * sign);
    }
    const auto [yr, yi] = row_dft(re, im);
    float* o = out + row * 2 * n;
    for (int64_t b = 0; b < R / 16; ++b) {
      V rr[16], ri[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t kv = 16 * b + i;
        const C y = mul(C{ld(yr + 16 * kv), ld(yi + 16 * kv)}, ld(twr + 16 * kv), ld(twi + 16 * kv));
        rr[i] = y.r, ri[i] = y.i;
      }
      transpose(rr);
      transpose(ri);
      C z[16];
      for (int e = 0; e < 16; ++e) z[e] = {rr[e], ri[e]};
      dft16(z, t);
      for (int ke = 0; ke < 16; ++ke) {
        const V zr = z[ke].r * scale, zi = z[ke].i * iscale;
        float* to = o + 2 * (16 * b + R * ke);
        st(to, lo_pairs(zr, zi));
        st(to + 16, hi_pairs(zr, zi));
      }
    }
  }
}

// Bins k = 1, 17, .. while k + 16 <= m, 16 at a time: A_k and its mirror A_{m-k} as split
// vectors (the mirror's run, m - k - 15 .. m - k, read once and reversed in registers) and
// w_k go to f, whose two results are stored interleaved at out + 2 k. Returns the first k
// left (the caller's scalar loop does the rest and k = 0).
template <class F>
TS_AVX512_INLINE int64_t mirrored_blocks(const float* A, int64_t m, const float* w, float* out, F&& f) {
  int64_t k = 1;
  for (; k + 16 <= m; k += 16) {
    const float* ab = A + 2 * (m - k - 15);
    const V a0 = ld(A + 2 * k), a1 = ld(A + 2 * k + 16), b0 = ld(ab), b1 = ld(ab + 16);
    const V w0 = ld(w + 2 * k), w1 = ld(w + 2 * k + 16);
#define TS_REVERSED(v) __builtin_shufflevector(v, v, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
    const V br = TS_REVERSED(even(b0, b1)), bi = TS_REVERSED(odd(b0, b1));
#undef TS_REVERSED
    V xr, xi;
    f(even(a0, a1), odd(a0, a1), br, bi, even(w0, w1), odd(w0, w1), xr, xi);
    st(out + 2 * k, lo_pairs(xr, xi));
    st(out + 2 * k + 16, hi_pairs(xr, xi));
  }
  return k;
}

// The split step of a real transform of n = 2 m samples from Z, the m-point DFT of
// the row read as complex pairs (interleaved): X_k = E_k + w_k O_k with E = (Z_k +
// conj Z_{m-k}) / 2, O = (Z_k - conj Z_{m-k}) / 2i (indices mod m), k = 0..m, w_k =
// e^{-2 pi i k / n} as (re, im) pairs; X's real parts times sr, imaginary parts si.
TESSEL_AVX512 inline void split_row(const float* Z, int64_t m, const float* w, float* X, float sr, float si) {
  auto one = [&](int64_t k) {
    const int64_t a = k == m ? 0 : k, b = k == 0 ? 0 : m - k;
    const float er = (Z[2 * a] + Z[2 * b]) / 2, ei = (Z[2 * a + 1] - Z[2 * b + 1]) / 2;
    const float odr = (Z[2 * a + 1] + Z[2 * b + 1]) / 2, odi = (Z[2 * b] - Z[2 * a]) / 2;
    X[2 * k] = (er + w[2 * k] * odr - w[2 * k + 1] * odi) * sr;
    X[2 * k + 1] = (ei + w[2 * k] * odi + w[2 * k + 1] * odr) * si;
  };
  one(0);
  const float hr = 0.5f * sr, hi = 0.5f * si;
  int64_t k = mirrored_blocks(
      Z, m, w, X, [&](V ar, V ai, V br, V bi, V wr, V wi, V & xr, V & xi) __attribute__((always_inline)) {
        const V er = ar + br, ei = ai - bi, odr = ai + bi, odi = br - ar;  // each twice its value
        xr = (er + wr * odr - wi * odi) * hr, xi = (ei + wr * odi + wi * odr) * hi;
      });
  for (; k <= m; ++k) one(k);
}

// Its inverse, from the m + 1 bins X (interleaved; the imaginary parts of X_0 and
// X_m ignored, as numpy.fft.irfft does): Z_k = E_k + i O_k with E = (X_k + conj
// X_{m-k}) / 2 and O = (X_k - conj X_{m-k}) / 2 * conj(w_k), k = 0..m-1.
TESSEL_AVX512 inline void unsplit_row(const float* X, int64_t m, const float* w, float* Z) {
  auto one = [&](int64_t k) {
    const float ar = X[2 * k], ai = k == 0 ? 0.0f : X[2 * k + 1];
    const float br = X[2 * (m - k)], bi = k == 0 ? 0.0f : X[2 * (m - k) + 1];
    const float er = (ar + br) / 2, ei = (ai - bi) / 2, dr = (ar - br) / 2, di = (ai + bi) / 2;
    const float wr = w[2 * k], wi = w[2 * k + 1];
    Z[2 * k] = er - (di * wr - dr * wi);
    Z[2 * k + 1] = ei + (dr * wr + di * wi);
  };
  one(0);
  int64_t k = mirrored_blocks(
      X, m, w, Z, [&](V ar, V ai, V br, V bi, V wr, V wi, V & zr, V & zi) __attribute__((always_inline)) {
        const V er = ar + br, ei = ai - bi, dr = ar - br, di = ai + bi;  // each twice its value
        zr = (er - (di * wr - dr * wi)) * 0.5f, zi = (ei + (dr * wr + di * wi)) * 0.5f;
      });
  for (; k < m; ++k) one(k);
}

#undef TS_AVX512_INLINE

}  // namespace tessel::cpu::fft_avx512
