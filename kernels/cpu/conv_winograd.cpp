// Winograd F(2x2, 3x3) for blocked 3x3 convolutions on AVX2 (conv_winograd.h): the
// weight, input and output transforms, and the 16 products per chunk of tiles.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/cpu/conv_winograd.h"
#include "kernels/cpu/loops.h"

namespace tessel::cpu {
using namespace conv_dnnl;

namespace {
using v8 = float __attribute__((vector_size(32)));

// One 32-byte load or store: GCC expanded a 32-byte memcpy into two 16-byte
// moves, and a 32-byte load of a value just stored that way stalls on store
// forwarding (the transforms spent most of their time there).
__attribute__((target("avx2"))) inline v8 ld8(const float* p) { return _mm256_loadu_ps(p); }
__attribute__((target("avx2"))) inline void st8(float* p, v8 v) { _mm256_storeu_ps(p, v); }

bool winograd_cpu() {
  static const bool v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return v;
}

bool winograd_on() {
  static const bool on = [] {
    const char* e = std::getenv("TESSEL_ONNX_WINOGRAD");
    return !(e && std::string(e) == "0");
  }();
  return on;
}

// Whether the 16 products run in our register-blocked kernel (winograd_products)
// rather than oneDNN's sgemm: below 128 channels sgemm's per-call packing costs
// more than the products of a chunk (the digits CNN's 16 -> 32 at 8x8, batch 32:
// ~360 us through sgemm against ~200 for the direct kernel).
bool winograd_small(int64_t c, int64_t o) { return c < 128 || o < 128; }

struct WinoShape {
  int64_t n, cb, h, w, kb, ho, wo, pt, pl, th, tw;
};

// V for tiles [p0, p1): v[e][p - p0][cb * 8 + lane], row stride cp.
__attribute__((target("avx2,fma"))) void winograd_input(const float* x, const WinoShape& s, int64_t p0, int64_t p1,
                                                        float* v) {
  const int64_t cp = s.cb * 8, plane = (p1 - p0) * cp;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / (s.th * s.tw), ty = p / s.tw % s.th, tx = p % s.tw;
    const int64_t y0 = 2 * ty - s.pt, x0 = 2 * tx - s.pl;
    const bool inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= s.h && x0 + 4 <= s.w;
    for (int64_t cb = 0; cb < s.cb; ++cb) {
      const float* xb = x + ((n * s.cb + cb) * s.h) * s.w * 8;
      v8 d[4][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          const int64_t yy = y0 + i, xx = x0 + j;
          if (inside || (yy >= 0 && yy < s.h && xx >= 0 && xx < s.w))
            d[i][j] = ld8(xb + (yy * s.w + xx) * 8);
          else
            d[i][j] = v8{};
        }
      v8 t[4][4];  // B^T d
      for (int j = 0; j < 4; ++j) {
        t[0][j] = d[0][j] - d[2][j];
        t[1][j] = d[1][j] + d[2][j];
        t[2][j] = d[2][j] - d[1][j];
        t[3][j] = d[1][j] - d[3][j];
      }
      float* out = v + (p - p0) * cp + cb * 8;
      for (int i = 0; i < 4; ++i) {  // (B^T d) B
        const v8 r[4] = {t[i][0] - t[i][2], t[i][1] + t[i][2], t[i][2] - t[i][1], t[i][1] - t[i][3]};
        for (int j = 0; j < 4; ++j) st8(out + (i * 4 + j) * plane, r[j]);
      }
    }
  }
}

// y (blocked) from M for tiles [p0, p1): A^T M A + bias [+ residual], activation.
// bias and keep: op floats each (bias zero-padded; keep 1 for real channels and 0
// for the padding, which stays zero whatever the activation).
template <ConvAct Act>
__attribute__((target("avx2,fma"))) void winograd_output(const float* m, const WinoShape& s, int64_t p0, int64_t p1,
                                                         const float* bias, const float* keep, const float* res,
                                                         const ConvPost& post, float* y) {
  const int64_t op = s.kb * 8, plane = (p1 - p0) * op;
  const v8 zero{}, lo = zero + post.alpha, hi = zero + post.beta;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / (s.th * s.tw), ty = p / s.tw % s.th, tx = p % s.tw;
    const int64_t rows = std::min<int64_t>(2, s.ho - 2 * ty), cols = std::min<int64_t>(2, s.wo - 2 * tx);
    for (int64_t kb = 0; kb < s.kb; ++kb) {
      const int64_t yb0 = (n * s.kb + kb) * s.ho * s.wo * 8;
      const v8 b = ld8(bias + kb * 8), kp = ld8(keep + kb * 8);
      const float* in = m + (p - p0) * op + kb * 8;
      v8 t[2][4];  // A^T M
      for (int j = 0; j < 4; ++j) {
        v8 r[4];
        for (int i = 0; i < 4; ++i) r[i] = ld8(in + (i * 4 + j) * plane);
        t[0][j] = r[0] + r[1] + r[2];
        t[1][j] = r[1] - r[2] - r[3];
      }
      for (int i = 0; i < rows; ++i) {
        const v8 r[2] = {t[i][0] + t[i][1] + t[i][2] + b, t[i][1] - t[i][2] - t[i][3] + b};
        for (int j = 0; j < cols; ++j) {
          v8 val = r[j];
          const int64_t at = yb0 + ((2 * ty + i) * s.wo + 2 * tx + j) * 8;
          if (res) val += ld8(res + at);
          if constexpr (Act == ConvAct::relu) val = val > zero ? val : zero;
          if constexpr (Act == ConvAct::leaky_relu) val = val > zero ? val : val * lo;
          if constexpr (Act == ConvAct::clip) val = val < lo ? lo : (val > hi ? hi : val);
          st8(y + at, val * kp);
        }
      }
    }
  }
}

// m [r x op] = v [r x cp] x u [cp x op] for R <= 6 rows and NB 8-wide columns
// (NB <= 2): 6 x 16 accumulators, the shape of an AVX2 sgemm kernel, with the
// rows' elements broadcast and two vectors of u loaded per step. Named
// accumulators: GCC kept an array of them in memory, a store after every FMA.
template <int R, int NB>
__attribute__((target("avx2,fma"))) void products_block(const float* v, int64_t cp, const float* u, int64_t op,
                                                        float* m) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t kk = 0; kk < cp; ++kk) {
    const __m256 w0 = _mm256_loadu_ps(u + kk * op), w1 = NB > 1 ? _mm256_loadu_ps(u + kk * op + 8) : w0;
#define TS_WINO_ROW(i)                                               \
  if constexpr (R > i) {                                             \
    const __m256 a = _mm256_broadcast_ss(v + i * cp + kk);           \
    c##i##0 = _mm256_fmadd_ps(a, w0, c##i##0);                       \
    if constexpr (NB > 1) c##i##1 = _mm256_fmadd_ps(a, w1, c##i##1); \
  }
    TS_WINO_ROW(0) TS_WINO_ROW(1) TS_WINO_ROW(2) TS_WINO_ROW(3) TS_WINO_ROW(4) TS_WINO_ROW(5)
#undef TS_WINO_ROW
  }
  const __m256 out[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < NB; ++j) _mm256_storeu_ps(m + i * op + j * 8, out[i][j]);
}

template <int NB>
void products_rows(const float* v, int64_t cp, const float* u, int64_t op, float* m, int64_t r) {
  switch (r) {
    case 1:
      return products_block<1, NB>(v, cp, u, op, m);
    case 2:
      return products_block<2, NB>(v, cp, u, op, m);
    case 3:
      return products_block<3, NB>(v, cp, u, op, m);
    case 4:
      return products_block<4, NB>(v, cp, u, op, m);
    case 5:
      return products_block<5, NB>(v, cp, u, op, m);
    default:
      return products_block<6, NB>(v, cp, u, op, m);
  }
}

// The 16 products of a chunk of t tiles: M_e [t x op] = V_e [t x cp] x U_e [cp x op].
void winograd_products(const float* v, const float* u, float* m, int64_t t, int64_t cp, int64_t op) {
  for (int e = 0; e < 16; ++e) {
    const float *ve = v + e * t * cp, *ue = u + e * cp * op;
    float* me = m + e * t * op;
    for (int64_t j = 0; j < op; j += 16)
      for (int64_t i = 0; i < t; i += 6) {
        const int64_t r = std::min<int64_t>(6, t - i);
        if (op - j >= 16)
          products_rows<2>(ve + i * cp, cp, ue + j, op, me + i * op + j, r);
        else
          products_rows<1>(ve + i * cp, cp, ue + j, op, me + i * op + j, r);
      }
  }
}
}  // namespace

// Whether conv2d_fused takes the Winograd path: float32, blocked by 8, 3x3,
// stride and dilation 1, one group, blocked input and output (and residual),
// post-ops it applies itself, at least 16 channels in and out (8 in: no gain),
// and enough tiles (AMD EPYC Zen 3, one conv in a chain, time of the chain
// against the direct kernel, 1 thread unless said: sgemm's products at 128
// channels 28x28 batch 1 22% less, 256 at 14x14 20-30%; 512 at 7x7 batch 1, 16
// tiles, 25% more; our products kernel: 16 -> 32 at 8x8 batch 32 17% less, 16
// -> 16 31%, 32 -> 32 31%, 64 -> 64 at 56x56 batch 1 13% (2 threads 39%), 64 ->
// 128 at 28x28 39%, 96 at 14x14 batch 4 34%; 8 -> 16 at 8x8 none).
bool winograd_fits(const ConvKey& k, const ConvLayout& l, const ConvPost& post) {
  if (!winograd_on() || conv_block_size() != 8 || !winograd_cpu()) return false;
  if (k.kh != 3 || k.kw != 3 || k.p.stride[0] != 1 || k.p.stride[1] != 1 || k.p.dilation[0] != 1 ||
      k.p.dilation[1] != 1 || k.p.groups != 1 || k.c < 16 || k.o < 16 || k.n * ((k.ho + 1) / 2) * ((k.wo + 1) / 2) < 32)
    return false;
  for (int64_t v : k.p.pad)
    if (v > 2) return false;
  if (!l.x || !l.y || (k.sum && !l.residual)) return false;
  return post.act == ConvAct::none || post.act == ConvAct::relu || post.act == ConvAct::clip ||
         post.act == ConvAct::leaky_relu;
}

// U_e for every (o, c), stored [e][c][o] (small channel counts) or [e][o][c],
// with o, c padded to multiples of 8 (zeros).
void winograd_weights(const Tensor& w, WinoSlot& s) {
  const int64_t o = w.shape()[0], c = w.shape()[1], op = (o + 7) / 8 * 8, cp = (c + 7) / 8 * 8;
  s.rows = winograd_small(c, o);
  s.u.assign(static_cast<size_t>(16 * op * cp), 0.0f);
  const float* g0 = w.data<float>();
  for (int64_t ko = 0; ko < o; ++ko)
    for (int64_t kc = 0; kc < c; ++kc) {
      const float* g = g0 + (ko * c + kc) * 9;
      double r[4][3];  // G g
      for (int j = 0; j < 3; ++j) {
        r[0][j] = g[j];
        r[1][j] = 0.5 * (double(g[j]) + g[3 + j] + g[6 + j]);
        r[2][j] = 0.5 * (double(g[j]) - g[3 + j] + g[6 + j]);
        r[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; ++i) {  // (G g) G^T
        const double u[4] = {r[i][0], 0.5 * (r[i][0] + r[i][1] + r[i][2]), 0.5 * (r[i][0] - r[i][1] + r[i][2]),
                             r[i][2]};
        for (int j = 0; j < 4; ++j) {
          const int64_t e = i * 4 + j;
          s.u[static_cast<size_t>(s.rows ? (e * cp + kc) * op + ko : (e * op + ko) * cp + kc)] =
              static_cast<float>(u[j]);
        }
      }
    }
  s.c = c, s.o = o;
}

void winograd_conv(const Tensor& x, const WinoSlot& ws, const Tensor& bias, const Tensor& residual, const ConvKey& k,
                   const ConvPost& post, const Tensor& y) {
  WinoShape s{};
  s.n = k.n, s.cb = (k.c + 7) / 8, s.h = k.h, s.w = k.w, s.kb = (k.o + 7) / 8, s.ho = k.ho, s.wo = k.wo;
  s.pt = k.p.pad[0], s.pl = k.p.pad[2];
  s.th = (s.ho + 1) / 2, s.tw = (s.wo + 1) / 2;
  const int64_t cp = s.cb * 8, op = s.kb * 8, tiles = s.n * s.th * s.tw;
  // Tiles per chunk: V and M of a chunk (16 planes each) at most 4 MiB each, and
  // at least one chunk per thread.
  const int threads = omp_get_max_threads();
  // (Larger chunks measured faster: sgemm repacks U_e per chunk and runs better
  // on more rows; 256K floats took 20% more time at 28x28 than 1M.)
  int64_t chunk = std::max<int64_t>(16, (int64_t{1} << 20) / (16 * std::max(cp, op)));
  // Our kernel: chunks whose V and M stay in L2 (~128 KiB with 16 x t x (cp + op)
  // floats), in whole blocks of 6 rows.
  if (ws.rows) chunk = std::max<int64_t>(6, (int64_t{1} << 15) / (16 * (cp + op)) / 6 * 6);
  // Each thread's equal share of the tiles, walked in chunks (whole chunks over
  // the threads left one thread a chunk more: 13 chunks for the digits CNN).
  const int64_t share = (tiles + threads - 1) / threads;
  chunk = std::min(chunk, share);
  const int64_t per_thread = (share + chunk - 1) / chunk, chunks = threads * per_thread;
  const float* xd = x.data<float>();
  std::vector<float> pads(static_cast<size_t>(2 * op), 0.0f);  // bias, then keep (winograd_output)
  if (bias.defined()) std::copy_n(bias.data<float>(), k.o, pads.begin());
  std::fill_n(pads.begin() + op, k.o, 1.0f);
  const float *bpad = pads.data(), *kpad = pads.data() + op;
  const float* rd = residual.defined() ? residual.data<float>() : nullptr;
  float* yd = y.data<float>();
  const float* u = ws.u.data();
  cpu::for_each_index(chunks, threads > 1 && chunks > 1, [&](int64_t ci) {
    static thread_local std::vector<float> vbuf, mbuf;
    const int64_t end = std::min(tiles, (ci / per_thread + 1) * share);
    const int64_t p0 = (ci / per_thread) * share + (ci % per_thread) * chunk, p1 = std::min(end, p0 + chunk);
    if (p0 >= p1) return;
    const int64_t t = p1 - p0;
    if (vbuf.size() < static_cast<size_t>(16 * t * cp)) vbuf.resize(static_cast<size_t>(16 * t * cp));
    if (mbuf.size() < static_cast<size_t>(16 * t * op)) mbuf.resize(static_cast<size_t>(16 * t * op));
    winograd_input(xd, s, p0, p1, vbuf.data());
    if (ws.rows)
      winograd_products(vbuf.data(), u, mbuf.data(), t, cp, op);
    else
      for (int e = 0; e < 16; ++e)  // M_e [t x op] = V_e [t x cp] x U_e^T ([op x cp] stored)
        dnnl_sgemm('N', 'T', t, op, cp, 1.0f, vbuf.data() + e * t * cp, cp, u + e * op * cp, cp, 0.0f,
                   mbuf.data() + e * t * op, op);
    switch (post.act) {
      case ConvAct::relu:
        return winograd_output<ConvAct::relu>(mbuf.data(), s, p0, p1, bpad, kpad, rd, post, yd);
      case ConvAct::leaky_relu:
        return winograd_output<ConvAct::leaky_relu>(mbuf.data(), s, p0, p1, bpad, kpad, rd, post, yd);
      case ConvAct::clip:
        return winograd_output<ConvAct::clip>(mbuf.data(), s, p0, p1, bpad, kpad, rd, post, yd);
      default:
        return winograd_output<ConvAct::none>(mbuf.data(), s, p0, p1, bpad, kpad, rd, post, yd);
    }
  });
}

}  // namespace tessel::cpu
