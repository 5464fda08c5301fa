// The ONNX runtime's convolution calls (conv_fused.h): oneDNN post-ops, channel-
// blocked activations kept between consecutive convolutions and pools, reused
// output buffers, and per-node sites that keep their primitives and memory
// objects between calls. The eager kernels and the shared primitive cache are
// in conv.cpp (conv_dnnl.h).
#include <omp.h>

#include <bit>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kernels/cpu/const_weights.h"
#include "kernels/cpu/conv_dnnl.h"
#include "kernels/cpu/conv_fused.h"
#include "kernels/cpu/lru_cache.h"
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
  // per block with AVX-512, 8 with AVX2); 0 when it picks no channel blocking.
  static const int64_t b = [] {
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
struct PoolKey {
  int64_t n, c, h, w, ho, wo, kernel[2], stride[2], pad_l[2], pad_r[2];
  int64_t kind, threads;
  bool operator==(const PoolKey& k) const { return std::memcmp(this, &k, sizeof(PoolKey)) == 0; }
};
static_assert(std::has_unique_object_representations_v<PoolKey>, "PoolKey must have no padding bytes");
struct PoolPrim {
  dnnl::pooling_forward prim;
  memory::desc dst;
};
LruCache<PoolKey, std::shared_ptr<PoolPrim>>& pool_cache() {
  static LruCache<PoolKey, std::shared_ptr<PoolPrim>> c(64);
  return c;
}

// The parts of a ConvSite (conv_fused.h), one per kernel a node may call.
// Memory objects are created once per shape; later calls only set their data
// handles (what creating them does too, padding included).
struct UnblockSlot {
  bool ready = false;
  int64_t n = 0, c = 0, h = 0, w = 0, threads = 0;
  memory src, dst;
  dnnl::reorder reorder;
};
struct PoolSlot {
  bool ready = false;
  PoolKey key{};
  std::shared_ptr<PoolPrim> prim;
  memory src, dst;
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

struct ConvSite {
  std::mutex mu;
  ConvSlot conv;
  PoolSlot pool;
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
// The pooling primitive of `k` through the shared cache; fills `slot` when given.
void pool_execute(const PoolKey& k, const PoolParams& p, const Tensor& xb, const Tensor& yb, PoolSlot* slot) {
  const memory::desc src = blocked_desc(k.n, k.c, k.h, k.w), dst = blocked_desc(k.n, k.c, k.ho, k.wo);
  const auto prim = pool_cache().get(k, [&] {
    const auto alg = p.kind == PoolKind::max               ? dnnl::algorithm::pooling_max
                     : p.kind == PoolKind::avg_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                           : dnnl::algorithm::pooling_avg_exclude_padding;
    dnnl::pooling_forward::primitive_desc pd(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, alg, src, dst, {k.stride[0], k.stride[1]},
                                    {k.kernel[0], k.kernel[1]}, {k.pad_l[0], k.pad_l[1]}, {k.pad_r[0], k.pad_r[1]}),
        engine());
    auto r = std::make_shared<PoolPrim>();
    r->prim = dnnl::pooling_forward(pd);
    r->dst = pd.dst_desc();
    return r;
  });
  memory ms(src, engine(), xb.data_ptr()), md(prim->dst, engine(), yb.data_ptr());
  prim->prim.execute(stream(), {{DNNL_ARG_SRC, ms}, {DNNL_ARG_DST, md}});
  if (slot) {
    slot->key = k;
    slot->prim = prim;
    slot->src = ms, slot->dst = md;
    slot->ready = true;
  }
}
}  // namespace

Tensor pool2d_blocked(const Tensor& xb0, int64_t channels, const PoolParams& p, bool out_blocked, ConvSite* site) {
  const int64_t b = conv_block_size();
  TS_CHECK(b > 0 && xb0.dim() == 5 && xb0.dtype() == DType::Float32 && xb0.shape()[4] == b && channels > 0 &&
               (channels + b - 1) / b == xb0.shape()[1],
           ValueError, "pool2d_blocked", "not a blocked activation of ", channels, " channels: shape ", xb0.shape());
  const Tensor xb = xb0.contiguous();
  PoolKey k{};
  k.n = xb.shape()[0], k.c = channels, k.h = xb.shape()[2], k.w = xb.shape()[3];
  for (int d = 0; d < 2; ++d) {
    TS_CHECK(p.kernel[d] >= 1 && p.stride[d] >= 1 && p.pad_begin[d] >= 0 && p.pad_end[d] >= 0 &&
                 p.pad_begin[d] < p.kernel[d] && p.pad_end[d] < p.kernel[d],
             ValueError, "pool2d_blocked", "bad kernel, stride or pads");
    k.kernel[d] = p.kernel[d], k.stride[d] = p.stride[d], k.pad_l[d] = p.pad_begin[d], k.pad_r[d] = p.pad_end[d];
  }
  const int64_t hp = k.h + k.pad_l[0] + k.pad_r[0] - k.kernel[0], wp = k.w + k.pad_l[1] + k.pad_r[1] - k.kernel[1];
  TS_CHECK(hp >= 0 && wp >= 0, ValueError, "pool2d_blocked", "kernel larger than the padded input");
  k.ho = hp / k.stride[0] + 1, k.wo = wp / k.stride[1] + 1;
  k.kind = static_cast<int64_t>(p.kind);
  k.threads = omp_get_max_threads();
  Tensor yb = buffer_pool().empty_f32(blocked_shape(k.n, k.c, k.ho, k.wo));
  auto lock = claim(site);
  if (lock.owns_lock() && site->pool.ready && site->pool.key == k) {
    PoolSlot& sl = site->pool;
    sl.src.set_data_handle(xb.data_ptr());
    sl.dst.set_data_handle(yb.data_ptr());
    sl.prim->prim.execute(stream(), {{DNNL_ARG_SRC, sl.src}, {DNNL_ARG_DST, sl.dst}});
  } else {
    pool_execute(k, p, xb, yb, lock.owns_lock() ? &site->pool : nullptr);
  }
  if (out_blocked) {
    stream().wait();
    return yb;
  }
  Tensor y = buffer_pool().empty_f32({k.n, k.c, k.ho, k.wo});
  if (y.numel() > 0) unblock_into(yb, y, k.c, lock.owns_lock() ? &site->unblock : nullptr);
  stream().wait();
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
