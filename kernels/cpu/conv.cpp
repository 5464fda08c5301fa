// CPU convolution kernels on oneDNN (float32, bfloat16, float16): forward,
// backward to the input and backward to the weight (the ONNX runtime's fused
// and blocked-layout calls are in conv_blocked.cpp). Primitives pick their own
// memory layouts (blocked formats are much faster than plain NCHW); tensors are
// reordered in and out around each call. Primitive descriptors are cached by
// shape and dtype. Reduced-precision primitives accumulate in float32 inside
// oneDNN; where oneDNN has only its reference implementation for a dtype (no
// bf16/fp16 instructions or emulation for this CPU), the kernel computes in
// float32 and rounds the result instead, which is far faster.
#include <omp.h>

#include <atomic>
#include <bit>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "kernels/cpu/const_weights.h"
#include "kernels/cpu/conv_dnnl.h"
#include "kernels/cpu/conv_fused.h"
#include "kernels/cpu/lru_cache.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/serial.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"

namespace tessel::cpu {
namespace conv_dnnl {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static thread_local dnnl::stream s(engine());
  return s;
}

void add_scratchpad(std::unordered_map<int, memory>& args, const ConvPrim& p) {
  if (p.scratch.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = memory(p.scratch, engine());  // this call's own
}

memory::data_type dnnl_type(DType d) {
  return d == DType::BFloat16 ? memory::data_type::bf16
         : d == DType::Float16 ? memory::data_type::f16
                               : memory::data_type::f32;
}

Dims dims_of(const ConvKey& k) {
  Dims d;
  const int64_t g = k.p.groups;
  d.src = {k.n, k.c, k.h, k.w};
  d.dst = {k.n, k.o, k.ho, k.wo};
  d.wei = g == 1 ? memory::dims{k.o, k.c, k.kh, k.kw} : memory::dims{g, k.o / g, k.c / g, k.kh, k.kw};
  d.wei_tag = g == 1 ? tag::oihw : tag::goihw;
  d.bias = {k.o};
  d.strides = {k.p.stride[0], k.p.stride[1]};
  d.dilates = {k.p.dilation[0] - 1, k.p.dilation[1] - 1};  // oneDNN counts the gaps
  d.pad_l = {k.p.pad[0], k.p.pad[2]};
  d.pad_r = {k.p.pad[1], k.p.pad[3]};
  return d;
}

}  // namespace conv_dnnl

namespace {
using namespace conv_dnnl;

LruCache<ConvKey, std::shared_ptr<ConvPrim>>& cache() {
  static LruCache<ConvKey, std::shared_ptr<ConvPrim>> c(128);
  return c;
}

dnnl::primitive_attr post_attr(const ConvKey& k) {
  dnnl::post_ops ops;
  if (k.sum) ops.append_sum(1.0f);
  const float a = std::bit_cast<float>(k.act_a), b = std::bit_cast<float>(k.act_b);
  switch (static_cast<ConvAct>(k.act)) {
    case ConvAct::none: break;
    case ConvAct::relu: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f); break;
    case ConvAct::leaky_relu: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, a, 0.0f); break;
    case ConvAct::clip: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, a, b); break;
    case ConvAct::sigmoid: ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_logistic, 0.0f, 0.0f); break;
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  // The cached primitives run from any thread, several at once; oneDNN's library scratchpad is shared and
  // bound to the creating thread (dnnl_types.h, scratchpad_mode): each call brings its own (ConvPrim::scratch).
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Winograd F(2x2, 3x3) for the fused (inference-only) forward of float32 3x3
// stride-1 convolutions: oneDNN's jit_fp32_wino_2x3 takes 1.3-5x less time than
// its direct kernel on ResNet's 3x3 layers at batch 1 (2.25x fewer multiplies;
// errors stay at float32 rounding level). TESSEL_ONNX_WINOGRAD=0 turns it off.
//
// Its transformed weights are 16/9 the size of the direct kernel's and are read
// once per call, while its GEMMs have one row per 2x2 output tile: with few tiles
// the weight traffic dominates. ResNet-50 at batch 1, 1 thread, in the model
// (TESSEL_ONNX_PROFILE=node, first calls left out): at 7x7 (16 tiles, 512
// channels) 1.86 ms with Winograd against 1.61 direct; at 14x14 (49 tiles, 256
// channels) 1.14-1.26 against 1.22-1.29. Whole model 45.1-45.4 ms with Winograd
// everywhere, 44.3-44.6 from 32 tiles up.
int64_t winograd_tiles(const ConvKey& k) { return k.n * ((k.ho + 1) / 2) * ((k.wo + 1) / 2); }

bool winograd_wanted(const ConvKey& k) {
  static const bool on = [] {
    const char* e = std::getenv("TESSEL_ONNX_WINOGRAD");
    return !(e && std::string(e) == "0");
  }();
  return on && (k.act || k.sum) && static_cast<DType>(k.dtype) == DType::Float32 && k.kh == 3 && k.kw == 3 &&
         k.p.stride[0] == 1 && k.p.stride[1] == 1 && k.p.dilation[0] == 1 && k.p.dilation[1] == 1 && k.p.groups == 1 &&
         k.c >= 32 && k.o >= 32 &&  // narrower convs: its transforms cost more than the multiplies saved (digits
                                    // CNN b1 1.15x onnxruntime's time with it, 1.01x without)
         winograd_tiles(k) >= 32;
}

dnnl::convolution_forward::primitive_desc forward_pd(const ConvKey& k, const Dims& d) {
  const auto f32 = dnnl_type(static_cast<DType>(k.dtype));
  const memory::desc src(d.src, f32, tag::any), wei(d.wei, f32, tag::any), dst(d.dst, f32, tag::any);
  if (winograd_wanted(k)) {
    try {
      const auto alg = dnnl::algorithm::convolution_winograd;
      const auto kind = dnnl::prop_kind::forward_inference;
      const auto desc = k.bias ? dnnl::convolution_forward::desc(kind, alg, src, wei, memory::desc(d.bias, f32, tag::x),
                                                                  dst, d.strides, d.dilates, d.pad_l, d.pad_r)
                               : dnnl::convolution_forward::desc(kind, alg, src, wei, dst, d.strides, d.dilates,
                                                                  d.pad_l, d.pad_r);
      return {desc, post_attr(k), engine()};
    } catch (const dnnl::error&) {  // no Winograd kernel for these shapes or this CPU: the direct one below
    }
  }
  if (k.act || k.sum) {  // the fused forward
    // forward_training, as the plain forward: for forward_inference oneDNN 2.6 picks
    // brgconv on NHWC, and the NCHW <-> NHWC reorders around it cost more than the
    // conv gains (ResNet-50 batch 8 measured 15% slower than unfused that way).
    const auto kind = dnnl::prop_kind::forward_training;
    const auto desc = k.bias ? dnnl::convolution_forward::desc(kind, dnnl::algorithm::convolution_direct, src, wei,
                                                                memory::desc(d.bias, f32, tag::x), dst, d.strides,
                                                                d.dilates, d.pad_l, d.pad_r)
                             : dnnl::convolution_forward::desc(kind, dnnl::algorithm::convolution_direct, src, wei,
                                                                dst, d.strides, d.dilates, d.pad_l, d.pad_r);
    return {desc, post_attr(k), engine()};
  }
  if (k.bias) {
    return {dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                            src, wei, memory::desc(d.bias, f32, tag::x), dst, d.strides, d.dilates,
                                            d.pad_l, d.pad_r),
            post_attr(k), engine()};
  }
  return {dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src,
                                          wei, dst, d.strides, d.dilates, d.pad_l, d.pad_r),
          post_attr(k), engine()};
}

// oneDNN's reference convolutions are "ref:any"; the jit, brgemm and gemm ones are not.
bool is_reference(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

std::shared_ptr<ConvPrim> make_prim(const ConvKey& k) {
  const Dims d = dims_of(k);
  const auto f32 = dnnl_type(static_cast<DType>(k.dtype));  // the tensors' type (f32, bf16 or f16)
  auto fwd = forward_pd(k, d);
  auto r = std::make_shared<ConvPrim>();
  if (k.kind == 0) {
    r->prim = dnnl::convolution_forward(fwd);
    r->src = fwd.src_desc(), r->wei = fwd.weights_desc(), r->dst = fwd.dst_desc();
    r->impl = fwd.impl_info_str();
    r->scratch = fwd.scratchpad_desc();
  } else if (k.kind == 1) {
    dnnl::convolution_backward_data::primitive_desc pd(
        dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, memory::desc(d.src, f32, tag::any),
                                              memory::desc(d.wei, f32, tag::any), memory::desc(d.dst, f32, tag::any),
                                              d.strides, d.dilates, d.pad_l, d.pad_r),
        post_attr(ConvKey{}), engine(), fwd);
    r->prim = dnnl::convolution_backward_data(pd);
    r->scratch = pd.scratchpad_desc();
    r->src = pd.diff_src_desc(), r->wei = pd.weights_desc(), r->dst = pd.diff_dst_desc();
    r->impl = pd.impl_info_str();
  } else {
    const memory::desc src(d.src, f32, tag::any), wei(d.wei, f32, tag::any), dst(d.dst, f32, tag::any);
    auto desc = k.bias ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src, wei,
                                                                  memory::desc(d.bias, f32, tag::x), dst, d.strides,
                                                                  d.dilates, d.pad_l, d.pad_r)
                       : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src, wei, dst,
                                                                  d.strides, d.dilates, d.pad_l, d.pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, post_attr(ConvKey{}), engine(), fwd);
    r->prim = dnnl::convolution_backward_weights(pd);
    r->scratch = pd.scratchpad_desc();
    r->src = pd.src_desc(), r->wei = pd.diff_weights_desc(), r->dst = pd.diff_dst_desc();
    r->impl = pd.impl_info_str();
    if (k.bias) r->bias = pd.diff_bias_desc();
  }
  return r;
}

// bf16 primitives only pay off with the CPU's bf16 instructions (AVX512-BF16,
// AMX): oneDNN's emulation on plain AVX-512 measured 4-5x slower than float32
// (bench/README.md), so without them bf16 computes through float32.
bool native_bf16() {
  static const bool v = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto want = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
    return (isa & want) == want;
  }();
  return v;
}

std::shared_ptr<ConvPrim> make(const ConvKey& k) {
  const DType dt = static_cast<DType>(k.dtype);
  if (dt == DType::Float32) {
    try {
      return make_prim(k);
    } catch (const dnnl::error& e) {  // geometry oneDNN refuses (found by fuzzing ONNX files): a tessel error
      const auto& p = k.p;
      fail<ValueError>("conv2d", "no convolution for input [", k.n, ", ", k.c, ", ", k.h, ", ", k.w, "], weight [", k.o,
                       ", ", k.c / std::max<int64_t>(p.groups, 1), ", ", k.kh, ", ", k.kw, "], output [", k.ho, ", ",
                       k.wo, "], stride (", p.stride[0], ", ", p.stride[1], "), dilation (", p.dilation[0], ", ",
                       p.dilation[1], "), padding (", p.pad[0], ", ", p.pad[1], ", ", p.pad[2], ", ", p.pad[3],
                       "), groups ", p.groups, ": ", e.what());
    }
  }
  if (dt == DType::BFloat16 && !native_bf16()) {
    auto r = std::make_shared<ConvPrim>();
    r->usable = false;
    return r;
  }
  try {
    auto r = make_prim(k);
    r->usable = !is_reference(r->impl);
    return r;
  } catch (const dnnl::error&) {  // unimplemented for this dtype
    auto r = std::make_shared<ConvPrim>();
    r->usable = false;
    return r;
  }
}

ConvKey key_of(const Tensor& x, const Tensor& w, const Tensor& y, const ConvParams& p, int kind, bool bias) {
  ConvKey k{};
  k.n = x.shape()[0], k.c = x.shape()[1], k.h = x.shape()[2], k.w = x.shape()[3];
  k.o = w.shape()[0], k.kh = w.shape()[2], k.kw = w.shape()[3], k.ho = y.shape()[2], k.wo = y.shape()[3];
  k.p = p;
  k.kind = kind;
  k.bias = bias;
  k.threads = omp_get_max_threads();
  k.dtype = static_cast<int>(x.dtype());
  return k;
}

// A reduced-precision call computed by the float32 kernel: inputs widened
// (exactly), outputs rounded once at the end.
void via_float32(const KernelCall& c, void (*kernel)(const KernelCall&)) {
  std::vector<Tensor> in, out;
  for (const Tensor& t : c.in) in.push_back(t.to(DType::Float32).contiguous());
  for (const Tensor& t : c.out) out.push_back(empty(t.shape(), TensorOptions(DType::Float32, t.device())));
  kernel(KernelCall{in, out, c.params});
  for (size_t i = 0; i < out.size(); ++i) {
    Tensor o = c.out[i];
    o.copy_(out[i]);
  }
}

// Constant weights (see const_weights.h): the storages marked, held weakly so
// that a freed storage whose address is reused is not taken for the old one.
struct Marked {
  std::mutex mu;
  std::unordered_map<const StorageImpl*, std::weak_ptr<StorageImpl>> set;
  std::atomic<bool> any{false};  // nothing marked yet: eager calls skip the lock
};
Marked& marked() {
  static Marked m;
  return m;
}

// A constant weight reordered for one primitive: keyed by the primitive's key
// and the weight's address, checked against the storage it was made from.
struct WeiKey {
  ConvKey k;
  uint64_t data;
  bool operator==(const WeiKey& o) const { return std::memcmp(this, &o, sizeof(WeiKey)) == 0; }
};
static_assert(std::has_unique_object_representations_v<WeiKey>, "WeiKey must have no padding bytes");
struct WeiEntry {
  std::mutex mu;
  std::weak_ptr<StorageImpl> owner;
  Tensor holder;
  memory mem;
};
LruCache<WeiKey, std::shared_ptr<WeiEntry>>& wei_cache() {
  static LruCache<WeiKey, std::shared_ptr<WeiEntry>> c(256);
  return c;
}
}  // namespace

namespace conv_dnnl {

std::shared_ptr<ConvPrim> primitive(const ConvKey& k) {
  return cache().get(k, [&] { return make(k); });
}

Arg arg(const Tensor& t, const memory::desc& user, const memory::desc& want, bool fill) {
  Arg a;
  a.user = memory(user, engine(), t.data_ptr());
  if (a.user.get_desc() == want) {
    a.mem = a.user;
    return a;
  }
  a.holder = empty({static_cast<int64_t>(want.get_size()) + 64}, DType::UInt8);
  a.mem = memory(want, engine(), a.holder.data_ptr());
  if (fill) dnnl::reorder(a.user, a.mem).execute(stream(), a.user, a.mem);
  return a;
}

Arg arg(const Tensor& t, const memory::dims& dims, tag plain, const memory::desc& want, bool fill) {
  return arg(t, memory::desc(dims, dnnl_type(t.dtype()), plain), want, fill);
}

void finish(Arg& a) {
  if (a.mem != a.user) dnnl::reorder(a.mem, a.user).execute(stream(), a.mem, a.user);
}

Arg weight_arg(const Tensor& w, const Dims& d, const ConvKey& k, const ConvPrim& prim) {
  if (!is_constant_weight(w)) return arg(w, d.wei, d.wei_tag, prim.wei, true);
  WeiKey key{};
  key.k = k;
  key.data = reinterpret_cast<uint64_t>(w.data_ptr());
  auto e = wei_cache().get(key, [] { return std::make_shared<WeiEntry>(); });
  std::lock_guard<std::mutex> lock(e->mu);
  if (e->owner.lock() != w.storage()) {  // first use, or a new storage at a reused address
    Arg a = arg(w, d.wei, d.wei_tag, prim.wei, true);
    e->owner = w.storage();
    e->holder = a.holder;
    e->mem = a.mem;
  }
  Arg a;
  a.user = a.mem = e->mem;  // never copied back: weights are inputs
  a.holder = e->holder;
  return a;
}

}  // namespace conv_dnnl

namespace {
using namespace conv_dnnl;

// Multiply-adds x 2 of a convolution of x [N, C, ...] by w [O, C/groups, kh, kw]
// into y [N, O, Ho, Wo]: small ones run on one thread (serial.h).
bool small_conv(const Tensor& x, const Tensor& w, const Tensor& y) {
  return small_work(2.0 * static_cast<double>(x.shape()[0]) * static_cast<double>(w.numel()) *
                    static_cast<double>(y.shape()[2]) * static_cast<double>(y.shape()[3]));
}

void conv2d_forward(const KernelCall& c) {
  const ConvParams& p = *static_cast<const ConvParams*>(c.params);
  const Tensor &x = c.in[0], &w = c.in[1], &y = c.out[0];
  const OneThreadIf serial(small_conv(x, w, y));  // before key_of: primitives are keyed by the thread count
  const bool bias = c.in.size() > 2;
  const ConvKey k = key_of(x, w, y, p, 0, bias);
  const auto prim = primitive(k);
  if (!prim->usable) return via_float32(c, &conv2d_forward);
  const Dims d = dims_of(k);
  Arg src = arg(x, d.src, tag::nchw, prim->src, true), wei = weight_arg(w, d, k, *prim);
  Arg dst = arg(y, d.dst, tag::nchw, prim->dst, false);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src.mem}, {DNNL_ARG_WEIGHTS, wei.mem}, {DNNL_ARG_DST, dst.mem}};
  if (bias) args[DNNL_ARG_BIAS] = memory({d.bias, dnnl_type(c.in[2].dtype()), tag::x}, engine(), c.in[2].data_ptr());
  add_scratchpad(args, *prim);
  prim->prim.execute(stream(), args);
  finish(dst);
  stream().wait();
}

void conv2d_backward_input(const KernelCall& c) {
  const ConvParams& p = *static_cast<const ConvParams*>(c.params);
  const Tensor &gy = c.in[0], &w = c.in[1], &gx = c.out[0];
  const OneThreadIf serial(small_conv(gx, w, gy));
  const ConvKey k = key_of(gx, w, gy, p, 1, false);
  const auto prim = primitive(k);
  if (!prim->usable) return via_float32(c, &conv2d_backward_input);
  const Dims d = dims_of(k);
  Arg dd = arg(gy, d.dst, tag::nchw, prim->dst, true), wei = arg(w, d.wei, d.wei_tag, prim->wei, true);
  Arg ds = arg(gx, d.src, tag::nchw, prim->src, false);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, dd.mem}, {DNNL_ARG_WEIGHTS, wei.mem},
                                       {DNNL_ARG_DIFF_SRC, ds.mem}};
  add_scratchpad(args, *prim);
  prim->prim.execute(stream(), args);
  finish(ds);
  stream().wait();
}

void conv2d_backward_weight(const KernelCall& c) {
  const ConvParams& p = *static_cast<const ConvParams*>(c.params);
  const Tensor &gy = c.in[0], &x = c.in[1], &gw = c.out[0];
  const OneThreadIf serial(small_conv(x, gw, gy));
  const bool bias = c.out.size() > 1;
  const ConvKey k = key_of(x, gw, gy, p, 2, bias);
  const auto prim = primitive(k);
  if (!prim->usable) return via_float32(c, &conv2d_backward_weight);
  const Dims d = dims_of(k);
  Arg dd = arg(gy, d.dst, tag::nchw, prim->dst, true), src = arg(x, d.src, tag::nchw, prim->src, true);
  Arg dw = arg(gw, d.wei, d.wei_tag, prim->wei, false);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, dd.mem}, {DNNL_ARG_SRC, src.mem},
                                       {DNNL_ARG_DIFF_WEIGHTS, dw.mem}};
  if (bias) {
    args[DNNL_ARG_DIFF_BIAS] = memory({d.bias, dnnl_type(c.out[1].dtype()), tag::x}, engine(), c.out[1].data_ptr());
  }
  add_scratchpad(args, *prim);
  prim->prim.execute(stream(), args);
  finish(dw);
  stream().wait();
}

const bool registered = [] {
  for (DType d : {DType::Float32, DType::BFloat16, DType::Float16}) {
    Registry::get().add(op::conv2d, DeviceType::CPU, d, &conv2d_forward);
    Registry::get().add(op::conv2d_backward_input, DeviceType::CPU, d, &conv2d_backward_input);
    Registry::get().add(op::conv2d_backward_weight, DeviceType::CPU, d, &conv2d_backward_weight);
  }
  return true;
}();

}  // namespace

bool conv2d_fused_supported(const Tensor& x, const Tensor& w) {
  return x.device().type == DeviceType::CPU && w.device().type == DeviceType::CPU && x.dtype() == DType::Float32 &&
         w.dtype() == DType::Float32 && x.dim() == 4 && w.dim() == 4;
}

void mark_constant_weight(const Tensor& t) {
  auto& m = marked();
  std::lock_guard<std::mutex> lock(m.mu);
  for (auto it = m.set.begin(); it != m.set.end();) it = it->second.expired() ? m.set.erase(it) : std::next(it);
  m.set[t.storage().get()] = t.storage();
  m.any.store(true, std::memory_order_release);
}

bool is_constant_weight(const Tensor& t) {
  auto& m = marked();
  if (!m.any.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(m.mu);
  auto it = m.set.find(t.storage().get());
  return it != m.set.end() && it->second.lock() == t.storage();
}

}  // namespace tessel::cpu
