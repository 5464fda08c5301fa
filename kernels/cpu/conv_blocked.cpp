// The ONNX runtime's convolution calls (conv_fused.h): oneDNN post-ops, channel-
// blocked activations kept between consecutive convolutions and pools, reused
// output buffers, and per-node sites that keep their primitives and memory
// objects between calls. The eager kernels and the shared primitive cache are
// in conv.cpp (conv_dnnl.h).
#include <immintrin.h>  // unblock8
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
#include "kernels/cpu/conv_winograd.h"
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
