// The ONNX runtime's convolution calls (conv_fused.h): oneDNN post-ops, channel-
// blocked activations kept between consecutive convolutions and pools, reused
// output buffers, and per-node sites that keep their primitives and memory
// objects between calls. The eager kernels and the shared primitive cache are
// in conv.cpp (conv_dnnl.h).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/const_weights.h"
#include "kernels/cpu/conv_dnnl.h"
#include "kernels/cpu/conv_fused.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/pool_blocked.h"
#include "tessel/ops.h"

namespace tessel::cpu {
using namespace conv_dnnl;

namespace {
// Outputs of the ONNX runtime's convolutions and pools reuse large buffers that
// their previous tensors released: a fresh allocation of this size is an mmap
// whose pages the kernel zeroes on first touch, as costly as writing them
// (MobileNetV2 at batch 32 writes a few GB of activations per run). The pool
// keeps a bounded set of buffers; one whose only owner is the pool is free.
// TESSEL_ONNX_REUSE=0 turns it off.
class BufferPool {
 public:
  static constexpr size_t kMinBytes = size_t{256} << 10;  // smaller ones come from the heap without faults
  static constexpr size_t kMaxBytes = size_t{1} << 30;    // all buffers held, free or in use
  static constexpr size_t kMaxBuffers = 32;

  Tensor empty_f32(const Shape& shape) {
    const size_t nbytes = static_cast<size_t>(shape_numel(shape)) * sizeof(float);
    if (!on_ || nbytes < kMinBytes) return empty(shape, TensorOptions(DType::Float32));
    std::lock_guard<std::mutex> lock(mu_);
    Storage found;
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if ((*it)->nbytes() == nbytes && it->use_count() == 1) {  // nobody else holds it
        found = *it;
        items_.splice(items_.begin(), items_, it);  // most recently used first
        break;
      }
    if (!found) {
      found = allocate(nbytes, Device{});
      items_.push_front(found);
      held_ += nbytes;
      // Over the bounds: drop the least recently used free buffers.
      for (auto it = items_.end(); (held_ > kMaxBytes || items_.size() > kMaxBuffers) && it != items_.begin();) {
        --it;
        if (it->use_count() == 1 && *it != found) {
          held_ -= (*it)->nbytes();
          it = items_.erase(it);
        }
      }
    }
    Shape strides(shape.size(), 1);
    for (size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
    return make_tensor(found, shape, strides, 0, DType::Float32);
  }

  // Whether the pool is the only other owner of `s` (besides `owners` handles).
  bool holds(const Storage& s) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& it : items_)
      if (it == s) return true;
    return false;
  }

 private:
  const bool on_ = [] {
    const char* e = std::getenv("TESSEL_ONNX_REUSE");
    return !(e && std::string(e) == "0");
  }();
  std::mutex mu_;
  std::list<Storage> items_;
  size_t held_ = 0;
};
BufferPool& buffer_pool() {
  static BufferPool p;
  return p;
}

tag blocked_tag(int64_t b) { return b == 16 ? tag::nChw16c : tag::nChw8c; }

// The oneDNN desc of a blocked activation with `c` channels.
memory::desc blocked_desc(int64_t n, int64_t c, int64_t h, int64_t w) {
  return memory::desc({n, c, h, w}, memory::data_type::f32, blocked_tag(conv_block_size()));
}

// The tensor holding a blocked activation: [N, ceil(C/b), H, W, b].
Shape blocked_shape(int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t b = conv_block_size();
  return {n, (c + b - 1) / b, h, w, b};
}
}  // namespace

int64_t conv_block_size() {
  // What oneDNN picks for a typical float32 convolution on this CPU (16 channels
  // per block with AVX-512, 8 with AVX2); 0 when it picks no channel blocking,
  // and on an AVX2 CPU without FMA, which our 8-wide kernels use (pool_blocked_avx2.cpp).
  static const int64_t b = [] {
    if (!__builtin_cpu_supports("avx512f") && !__builtin_cpu_supports("fma")) return int64_t{0};
    try {
      const memory::dims src{1, 64, 28, 28}, wei{64, 64, 3, 3}, dst{1, 64, 28, 28};
      const auto f32 = memory::data_type::f32;
      dnnl::convolution_forward::primitive_desc pd(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                          memory::desc(src, f32, tag::any), memory::desc(wei, f32, tag::any),
                                          memory::desc(dst, f32, tag::any), {1, 1}, {0, 0}, {1, 1}, {1, 1}),
          engine());
      for (int64_t blk : {16, 8})
        if (pd.dst_desc() == memory::desc(dst, f32, blocked_tag(blk))) return blk;
    } catch (const dnnl::error&) {
    }
    return int64_t{0};
  }();
  return b;
}

bool conv_sole_owner(const Tensor& t) {
  if (!t.defined() || t.impl().use_count() != 1) return false;
  const long n = t.storage().use_count();
  return n == 1 || (n == 2 && buffer_pool().holds(t.storage()));
}

namespace {
// The parts of a ConvSite (conv_fused.h), one per kernel a node may call.
// Memory objects are created once per shape; later calls only set their data
// handles (what creating them does too, padding included).
struct UnblockSlot {
  bool ready = false;
  int64_t n = 0, c = 0, h = 0, w = 0, threads = 0;
  memory src, dst;
  dnnl::reorder reorder;
};
struct ConvSlot {
  bool ready = false;
  ConvKey key{};
  bool x_blocked = false, y_blocked = false, r_blocked = false;
  const void* w_data = nullptr;
  std::weak_ptr<StorageImpl> w_owner;  // the constant weight the reordered copy was made from
  std::shared_ptr<ConvPrim> prim;
  Tensor w_holder;
  Tensor src_holder, dst_holder;  // the slot's buffers in the primitive's layouts (when the operands' differ)
  memory src_user, src_mem, dst_user, dst_mem, res_user, bias;
  bool src_reorders = false, dst_reorders = false;
  dnnl::reorder src_reorder, dst_reorder, res_reorder;  // src/dst when the layouts differ; res with a residual
  std::unordered_map<int, memory> args;
};

// Locks `site` for this call, or returns an empty lock when it is busy (or null).
std::unique_lock<std::mutex> claim(ConvSite* site);
}  // namespace

namespace {
// Winograd F(2x2, 3x3) for blocked 3x3 stride-1 convolutions where oneDNN has
// none (its Winograd kernels are AVX-512 only, so on AVX2 CPUs it runs the
// direct jit:avx2 kernel): each 4x4 input tile and each 3x3 filter go to the
// Winograd domain (U = G g G^T, V = B^T d B), the 16 elementwise products summed
// over input channels are 16 GEMMs [tiles x C] x [C x O] (oneDNN's sgemm, or
// our register-blocked kernel below 128 channels: winograd_small), and
// A^T M A gives 2x2 outputs: 2.25x fewer multiplies than the direct kernel.
// Channels are blocked by 8 (nChw8c): one tile row of one channel block is one
// AVX2 register. Errors stay at float32 rounding level (the transforms are
// additions and halvings). TESSEL_ONNX_WINOGRAD=0 turns it off.
struct WinoSlot {
  const void* w_data = nullptr;
  std::weak_ptr<StorageImpl> w_owner;
  int64_t c = 0, o = 0;
  bool rows = false;     // u's layout: [16][Cp][Op] for the small kernel, else [16][Op][Cp]
  std::vector<float> u;  // U_e (Cp, Op: channels padded to 8); [Op][Cp] is transposed, for sgemm's transB
};

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

// Whether the 16 products run in our register-blocked kernel (winograd_products)
// rather than oneDNN's sgemm: below 128 channels sgemm's per-call packing costs
// more than the products of a chunk (the digits CNN's 16 -> 32 at 8x8, batch 32:
// ~360 us through sgemm against ~200 for the direct kernel).
bool winograd_small(int64_t c, int64_t o) { return c < 128 || o < 128; }

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

struct WinoShape {
  int64_t n, cb, h, w, kb, ho, wo, pt, pl, th, tw;
};

// V for tiles [p0, p1): v[e][p - p0][cb * 8 + lane], row stride cp.
__attribute__((target("avx2,fma"))) void winograd_input(const float* x, const WinoShape& s, int64_t p0,
                                                        int64_t p1, float* v) {
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
}  // namespace

// Depthwise convolutions on blocked activations (MobileNet's 3x3 layers): ours
// rather than oneDNN's jit_dw, which split its work by groups of four channel
// blocks and did not scale to two threads: MobileNetV2 batch 1, the 96-channel
// stride-2 layer at 112x112 took 228 us on one thread and 213 on two (onnxruntime
// 245 and 102). Rows of every channel block are spread evenly over the threads.
struct DwSlot {
  const void* w_data = nullptr;
  std::weak_ptr<StorageImpl> w_owner;
  std::vector<float> w;  // [cb][kh * kw][b], channels past c zero
};

bool depthwise_fits(const ConvKey& k, const ConvLayout& l, const ConvPost& post) {
  static const bool on = [] {  // TESSEL_ONNX_DEPTHWISE=0: oneDNN's, to compare
    const char* e = std::getenv("TESSEL_ONNX_DEPTHWISE");
    return !(e && std::string(e) == "0");
  }();
  const int64_t b = conv_block_size();  // 16 only with AVX-512, 8 with AVX2 (the kernel's two copies)
  if (!on || (b != 16 && b != 8)) return false;
  if (k.p.groups != k.c || k.o != k.c || k.sum || !l.x || !l.y || k.p.dilation[0] != 1 || k.p.dilation[1] != 1)
    return false;
  if (k.p.pad[0] >= k.kh || k.p.pad[1] >= k.kh || k.p.pad[2] >= k.kw || k.p.pad[3] >= k.kw) return false;
  // The padded channels of a blocked value stay zero (zero weights and bias, then an
  // activation that keeps 0 at 0): a clip whose range leaves out 0 takes oneDNN's.
  if (post.act == ConvAct::clip) return post.alpha <= 0.0f && post.beta >= 0.0f;
  return post.act == ConvAct::none || post.act == ConvAct::relu || post.act == ConvAct::leaky_relu;
}

void depthwise_weights(const Tensor& w, int64_t b, DwSlot& s) {
  const int64_t c = w.shape()[0], taps = w.shape()[2] * w.shape()[3], cb = (c + b - 1) / b;
  s.w.assign(static_cast<size_t>(cb * taps * b), 0.0f);
  const float* src = w.data<float>();
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t t = 0; t < taps; ++t) s.w[static_cast<size_t>(((ch / b) * taps + t) * b + ch % b)] = src[ch * taps + t];
}

void depthwise_conv(const Tensor& x, const DwSlot& ws, const Tensor& bias, const ConvKey& k, const ConvPost& post,
                    const Tensor& y) {
  const int64_t b = conv_block_size(), cb = x.shape()[1], planes = k.n * cb, taps = k.kh * k.kw;
  PoolGeom g{};
  g.h = k.h, g.w = k.w, g.ho = k.ho, g.wo = k.wo;
  g.kernel[0] = k.kh, g.kernel[1] = k.kw, g.stride[0] = k.p.stride[0], g.stride[1] = k.p.stride[1];
  g.pad[0] = k.p.pad[0], g.pad[1] = k.p.pad[2];
  std::vector<float> bvec(static_cast<size_t>(cb * b), 0.0f);
  if (bias.defined()) std::memcpy(bvec.data(), bias.data<float>(), static_cast<size_t>(k.c) * sizeof(float));
  const float* xd = x.data<float>();
  float* yd = y.data<float>();
  if (k.ho >= 28) {
    // Large maps: output rows over the threads, every plane in each piece. On 2
    // threads this ran MobileNetV2's 96-channel stride-2 layer at 112x112 in 117
    // us against 172 with whole planes per thread (and the model 2.6% faster,
    // paired runs); at 14x14 and 7x7 a thread's few rows per plane ran slower.
    parallel_for(k.ho, planes * k.wo * taps * b, [&](int64_t o0, int64_t o1) {
      for (int64_t pl = 0; pl < planes; ++pl) {
        const int64_t cblk = pl % cb;
        const float* xp = xd + pl * k.h * k.w * b;
        float* yp = yd + pl * k.ho * k.wo * b;
        const float* wp = ws.w.data() + cblk * taps * b;
        const float* bp = bvec.data() + cblk * b;
        if (b == 16)
          dw_blocked_rows_avx512(xp, wp, bp, yp, g, post, o0, o1);
        else
          dw_blocked_rows_avx2(xp, wp, bp, yp, g, post, o0, o1);
      }
    });
    return;
  }
  // (plane, output row) pairs in one range, contiguous pieces per thread.
  const int64_t rows = planes * k.ho;
  parallel_for(rows, k.wo * taps * b, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1;) {
      const int64_t pl = r / k.ho, oh0 = r % k.ho, oh1 = std::min(k.ho, oh0 + (r1 - r));
      const int64_t cblk = pl % cb;
      const float* xp = xd + pl * k.h * k.w * b;
      float* yp = yd + pl * k.ho * k.wo * b;
      const float* wp = ws.w.data() + cblk * taps * b;
      const float* bp = bvec.data() + cblk * b;
      if (b == 16) dw_blocked_rows_avx512(xp, wp, bp, yp, g, post, oh0, oh1);
      else dw_blocked_rows_avx2(xp, wp, bp, yp, g, post, oh0, oh1);
      r += oh1 - oh0;
    }
  });
}

struct ConvSite {
  std::mutex mu;
  ConvSlot conv;
  WinoSlot wino;
  DwSlot dw;
  UnblockSlot unblock;
};

std::shared_ptr<ConvSite> make_conv_site() { return std::make_shared<ConvSite>(); }

namespace {
std::unique_lock<std::mutex> claim(ConvSite* site) {
  if (!site) return {};
  return std::unique_lock<std::mutex>(site->mu, std::try_to_lock);
}

// Blocked xb -> NCHW y through the slot's reorder (a fresh one without a slot).
void unblock_into(const Tensor& xb, const Tensor& y, int64_t channels, UnblockSlot* s) {
  const int64_t n = xb.shape()[0], h = xb.shape()[2], w = xb.shape()[3];
  if (y.numel() <= (int64_t{1} << 14)) {
    // Small (the digits CNN's last pool: 1 us of its 12): a strided copy costs less
    // than the reorder's call.
    const int64_t b = xb.shape()[4], cb = xb.shape()[1], hw = h * w;
    const float* src = xb.data<float>();
    float* dst = y.data<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < channels; ++c) {
        const float* p = src + (i * cb + c / b) * hw * b + c % b;
        float* q = dst + (i * channels + c) * hw;
        for (int64_t k = 0; k < hw; ++k) q[k] = p[k * b];
      }
    return;
  }
  if (!s) {
    memory src(blocked_desc(n, channels, h, w), engine(), xb.data_ptr());
    memory dst(memory::desc({n, channels, h, w}, memory::data_type::f32, tag::nchw), engine(), y.data_ptr());
    dnnl::reorder(src, dst).execute(stream(), src, dst);
    return;
  }
  const int64_t threads = omp_get_max_threads();
  if (!s->ready || s->n != n || s->c != channels || s->h != h || s->w != w || s->threads != threads) {
    s->ready = false;
    s->src = memory(blocked_desc(n, channels, h, w), engine(), xb.data_ptr());
    s->dst = memory(memory::desc({n, channels, h, w}, memory::data_type::f32, tag::nchw), engine(), y.data_ptr());
    s->reorder = dnnl::reorder(s->src, s->dst);
    s->n = n, s->c = channels, s->h = h, s->w = w, s->threads = threads;
    s->ready = true;
  } else {
    s->src.set_data_handle(xb.data_ptr());
    s->dst.set_data_handle(y.data_ptr());
  }
  s->reorder.execute(stream(), s->src, s->dst);
}
}  // namespace

Tensor conv_unblock(const Tensor& xb0, int64_t channels, ConvSite* site) {
  const int64_t b = conv_block_size();
  TS_CHECK(b > 0 && xb0.dim() == 5 && xb0.dtype() == DType::Float32 && xb0.shape()[4] == b && channels > 0 &&
               (channels + b - 1) / b == xb0.shape()[1],
           ValueError, "conv_unblock", "not a blocked activation of ", channels, " channels: shape ", xb0.shape());
  const Tensor xb = xb0.contiguous();
  const int64_t n = xb.shape()[0], h = xb.shape()[2], w = xb.shape()[3];
  Tensor y = buffer_pool().empty_f32({n, channels, h, w});
  if (y.numel() == 0) return y;
  auto lock = claim(site);
  unblock_into(xb, y, channels, lock.owns_lock() ? &site->unblock : nullptr);
  stream().wait();
  return y;
}

namespace {
// src [p1 - p0 positions][8 lanes] -> lane c's row dst + c * stride, positions p0..p1:
// 8 x 8 register transposes (the scalar strided copy took about as long as the
// pool itself on the digits CNN's last pool), the tail element by element.
__attribute__((target("avx2"))) void unblock8(const float* src, float* dst, int64_t stride, int64_t lanes, int64_t p0,
                                              int64_t p1) {
  int64_t k = p0;
  if (lanes == 8)
    for (; k + 8 <= p1; k += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (k - p0 + i) * 8);
      __m256 t[8];
      for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
      }
      __m256 u[8];
      for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; ++j) {
          u[i + j] = _mm256_shuffle_ps(t[i + j], t[i + j + 2], 0x44);
          u[i + j + 2] = _mm256_shuffle_ps(t[i + j], t[i + j + 2], 0xEE);
        }
      // u[0..3]: lanes 0, 2, 1, 3 of positions k..k+3 (low half) and 4..7 of them in the
      // high half; u[4..7] the same for positions k+4..k+7.
      const int order[4] = {0, 2, 1, 3};
      for (int c = 0; c < 4; ++c) {
        const __m256 a = u[order[c]], b = u[4 + order[c]];
        _mm256_storeu_ps(dst + c * stride + k, _mm256_permute2f128_ps(a, b, 0x20));
        _mm256_storeu_ps(dst + (c + 4) * stride + k, _mm256_permute2f128_ps(a, b, 0x31));
      }
    }
  for (int64_t c = 0; c < lanes; ++c)
    for (int64_t q = k; q < p1; ++q) dst[c * stride + q] = src[(q - p0) * 8 + c];
}

// xb [n, cb, h, w, b] -> yb [n, cb, ho, wo, b] (pool_blocked.h), planes and row
// bands over the threads. With `y` (NCHW, `channels` channels) each band is also
// unblocked there while it is in L1: a separate unblocking pass after the pool
// was a serial strided copy (digits CNN batch 32: 6 us of its 21).
void pool_blocked_into(const Tensor& xb, const Tensor& yb, const PoolGeom& g, float* y = nullptr,
                       int64_t channels = 0) {
  const int64_t b = xb.shape()[4], cb = xb.shape()[1], planes = xb.shape()[0] * cb;
  const float* xd = xb.data<float>();
  float* yd = yb.data<float>();
  const int threads = omp_get_max_threads();
  // Enough row bands for every thread even with one plane (batch 1, few channels).
  const int64_t bands = std::min<int64_t>(g.ho, std::max<int64_t>(1, (threads + planes - 1) / planes));
  const int64_t rows = (g.ho + bands - 1) / bands;
  const double work = static_cast<double>(planes * g.ho * g.wo * g.kernel[0] * g.kernel[1] * b);
  // 2e4: the digits CNN's last pool (32 channels 8x8 -> 4x4, batch 32; work 6.6e4)
  // 21 -> 15 us on two threads.
  cpu::for_each_index(planes * bands, threads > 1 && work > 2e4, [&](int64_t t) {
    const int64_t pl = t / bands, oh0 = (t % bands) * rows, oh1 = std::min(g.ho, oh0 + rows);
    const float* x = xd + pl * g.h * g.w * b;
    float* yp = yd + pl * g.ho * g.wo * b;
    if (b == 16) pool_blocked_rows_avx512(x, yp, g, oh0, oh1);
    else pool_blocked_rows_avx2(x, yp, g, oh0, oh1);
    if (!y) return;
    const int64_t i = pl / cb, c0 = (pl % cb) * b, lanes = std::min(b, channels - c0), hw = g.ho * g.wo;
    const int64_t p0 = oh0 * g.wo, p1 = oh1 * g.wo;
    if (b == 8) return unblock8(yp + p0 * b, y + (i * channels + c0) * hw, hw, lanes, p0, p1);
    for (int64_t c = 0; c < lanes; ++c) {
      float* q = y + (i * channels + c0 + c) * hw;
      for (int64_t k = p0; k < p1; ++k) q[k] = yp[k * b + c];
    }
  });
}
}  // namespace

Tensor pool2d_blocked(const Tensor& xb0, int64_t channels, const PoolParams& p, bool out_blocked, ConvSite* /*site: the unblocking is fused in*/) {
  const int64_t b = conv_block_size();
  TS_CHECK((b == 8 || b == 16) && xb0.dim() == 5 && xb0.dtype() == DType::Float32 && xb0.shape()[4] == b &&
               channels > 0 && (channels + b - 1) / b == xb0.shape()[1],
           ValueError, "pool2d_blocked", "not a blocked activation of ", channels, " channels: shape ", xb0.shape());
  const Tensor xb = xb0.contiguous();
  PoolGeom g{};
  g.h = xb.shape()[2], g.w = xb.shape()[3];
  g.kind = p.kind;
  for (int d = 0; d < 2; ++d) {
    TS_CHECK(p.kernel[d] >= 1 && p.stride[d] >= 1 && p.pad_begin[d] >= 0 && p.pad_end[d] >= 0 &&
                 p.pad_begin[d] < p.kernel[d] && p.pad_end[d] < p.kernel[d],
             ValueError, "pool2d_blocked", "bad kernel, stride or pads");
    g.kernel[d] = p.kernel[d], g.stride[d] = p.stride[d], g.pad[d] = p.pad_begin[d];
  }
  const int64_t hp = g.h + p.pad_begin[0] + p.pad_end[0] - g.kernel[0];
  const int64_t wp = g.w + p.pad_begin[1] + p.pad_end[1] - g.kernel[1];
  TS_CHECK(hp >= 0 && wp >= 0, ValueError, "pool2d_blocked", "kernel larger than the padded input");
  g.ho = hp / g.stride[0] + 1, g.wo = wp / g.stride[1] + 1;
  const int64_t n = xb.shape()[0];
  Tensor yb = buffer_pool().empty_f32(blocked_shape(n, channels, g.ho, g.wo));
  if (out_blocked) {
    if (yb.numel() > 0) pool_blocked_into(xb, yb, g);
    return yb;
  }
  Tensor y = buffer_pool().empty_f32({n, channels, g.ho, g.wo});
  if (y.numel() > 0) pool_blocked_into(xb, yb, g, y.data<float>(), channels);
  return y;
}

Tensor conv2d_fused(const Tensor& x0, const Tensor& w0, const Tensor& bias, const Tensor& residual,
                    const ConvParams& p, const ConvPost& post, const ConvLayout& layout, ConvSite* site) {
  const Tensor x = x0.contiguous(), w = w0.contiguous();
  const int64_t n = x.shape()[0], h = x.shape()[2], wi = x.shape()[3];
  const int64_t c = layout.x ? w.shape()[1] * p.groups : x.shape()[1], o = w.shape()[0];
  const int64_t ho = (h + p.pad[0] + p.pad[1] - p.dilation[0] * (w.shape()[2] - 1) - 1) / p.stride[0] + 1;
  const int64_t wo = (wi + p.pad[2] + p.pad[3] - p.dilation[1] * (w.shape()[3] - 1) - 1) / p.stride[1] + 1;
  if (layout.x)
    TS_CHECK(x.shape() == blocked_shape(n, c, h, wi), ValueError, "conv2d_fused", "blocked input of shape ",
             x.shape(), " does not hold ", c, " channels");
  const Shape yshape = layout.y ? blocked_shape(n, o, ho, wo) : Shape{n, o, ho, wo};
  const bool in_place = layout.reuse_residual && layout.residual && layout.y && residual.defined() &&
                        residual.shape() == yshape && residual.is_contiguous() && residual.offset() == 0;
  Tensor y = in_place ? residual : buffer_pool().empty_f32(yshape);
  ConvKey k{};
  k.n = n, k.c = c, k.h = h, k.w = wi;
  k.o = o, k.kh = w.shape()[2], k.kw = w.shape()[3], k.ho = ho, k.wo = wo;
  k.p = p;
  k.kind = 0;
  k.bias = bias.defined();
  k.threads = omp_get_max_threads();
  k.dtype = static_cast<int>(DType::Float32);
  k.act = static_cast<int>(post.act);
  k.act_a = std::bit_cast<int>(post.alpha), k.act_b = std::bit_cast<int>(post.beta);
  k.sum = residual.defined();
  if (!k.act && !k.sum) k.act = -1;  // keeps the key apart from the training forward; no post-op
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  auto check_residual = [&](const Tensor& r) {
    if (layout.residual)
      TS_CHECK(r.shape() == blocked_shape(n, o, ho, wo), ValueError, "conv2d_fused",
               "blocked residual of shape ", r.shape(), " does not match the output");
  };
  if (winograd_fits(k, layout, post)) {
    auto lock = claim(site);
    WinoSlot local;
    const bool keep = lock.owns_lock() && is_constant_weight(w);  // another weight may change between calls
    WinoSlot& ws = keep ? site->wino : local;
    if (!keep || ws.u.empty() || ws.w_data != w.data_ptr() || ws.w_owner.lock() != w.storage()) {
      winograd_weights(w, ws);
      ws.w_data = w.data_ptr();
      ws.w_owner = w.storage();
    }
    Tensor r;
    if (k.sum) {
      r = residual.contiguous();
      check_residual(r);
    }
    winograd_conv(x, ws, b, r, k, post, y);
    return y;
  }
  if (depthwise_fits(k, layout, post)) {
    auto lock = claim(site);
    DwSlot local;
    const bool keep = lock.owns_lock() && is_constant_weight(w);
    DwSlot& ws = keep ? site->dw : local;
    if (!keep || ws.w.empty() || ws.w_data != w.data_ptr() || ws.w_owner.lock() != w.storage()) {
      depthwise_weights(w, conv_block_size(), ws);
      ws.w_data = w.data_ptr();
      ws.w_owner = w.storage();
    }
    depthwise_conv(x, ws, b, k, post, y);
    return y;
  }
  auto lock = claim(site);
  ConvSlot* sl = lock.owns_lock() ? &site->conv : nullptr;
  if (sl && sl->ready && sl->key == k && sl->x_blocked == layout.x && sl->y_blocked == layout.y &&
      sl->r_blocked == layout.residual && sl->w_data == w.data_ptr() && sl->w_owner.lock() == w.storage()) {
    // The site's last call had these shapes and this weight: swap the data pointers only.
    sl->src_user.set_data_handle(x.data_ptr());
    if (sl->src_reorders) sl->src_reorder.execute(stream(), sl->src_user, sl->src_mem);
    sl->dst_user.set_data_handle(y.data_ptr());
    if (k.sum && !(in_place && !sl->dst_reorders)) {
      const Tensor r = residual.contiguous();
      check_residual(r);
      sl->res_user.set_data_handle(r.data_ptr());
      sl->res_reorder.execute(stream(), sl->res_user, sl->dst_mem);
    }
    if (b.defined()) sl->bias.set_data_handle(b.data_ptr());
    sl->prim->prim.execute(stream(), sl->args);
    if (sl->dst_reorders) sl->dst_reorder.execute(stream(), sl->dst_mem, sl->dst_user);
    stream().wait();
    return y;
  }
  const auto prim = primitive(k);
  const Dims d = dims_of(k);
  const auto f32 = memory::data_type::f32;
  // Blocked operands go straight to the primitive when it wants that layout
  // (the point of keeping it between convolutions), else through a reorder.
  Arg src = arg(x, layout.x ? blocked_desc(n, c, h, wi) : memory::desc(d.src, f32, tag::nchw), prim->src, true);
  Arg wei = weight_arg(w, d, k, *prim);
  Arg dst = arg(y, layout.y ? blocked_desc(n, o, ho, wo) : memory::desc(d.dst, f32, tag::nchw), prim->dst, false);
  const memory::desc res_desc = layout.residual ? blocked_desc(n, o, ho, wo) : memory::desc(d.dst, f32, tag::nchw);
  memory rm;
  if (k.sum && !(in_place && dst.mem == dst.user)) {  // the sum post-op adds into what dst holds: the residual
    const Tensor r = residual.contiguous();
    check_residual(r);
    rm = memory(res_desc, engine(), r.data_ptr());
    dnnl::reorder(rm, dst.mem).execute(stream(), rm, dst.mem);
  }
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src.mem}, {DNNL_ARG_WEIGHTS, wei.mem}, {DNNL_ARG_DST, dst.mem}};
  if (b.defined()) args[DNNL_ARG_BIAS] = memory({d.bias, f32, tag::x}, engine(), b.data_ptr());
  add_scratchpad(args, *prim);
  prim->prim.execute(stream(), args);
  finish(dst);
  stream().wait();
  // The site keeps what this call made for the next one (constant weights only:
  // another weight would need its reorder on every call anyway).
  if (sl && is_constant_weight(w)) {
    sl->ready = false;
    sl->key = k;
    sl->x_blocked = layout.x, sl->y_blocked = layout.y, sl->r_blocked = layout.residual;
    sl->w_data = w.data_ptr();
    sl->w_owner = w.storage();
    sl->w_holder = wei.holder;
    sl->prim = prim;
    sl->src_user = src.user, sl->src_mem = src.mem, sl->src_holder = src.holder;
    sl->src_reorders = src.mem != src.user;
    if (sl->src_reorders) sl->src_reorder = dnnl::reorder(src.user, src.mem);
    sl->dst_user = dst.user, sl->dst_mem = dst.mem, sl->dst_holder = dst.holder;
    sl->dst_reorders = dst.mem != dst.user;
    if (sl->dst_reorders) sl->dst_reorder = dnnl::reorder(dst.mem, dst.user);
    if (k.sum) {
      sl->res_user = rm ? rm : memory(res_desc, engine(), y.data_ptr());  // its handle is set on each call
      sl->res_reorder = dnnl::reorder(sl->res_user, dst.mem);
    }
    sl->args = args;
    if (b.defined()) sl->bias = args[DNNL_ARG_BIAS];
    sl->args[DNNL_ARG_WEIGHTS] = wei.mem;
    sl->ready = true;
  }
  return y;
}

}  // namespace tessel::cpu
