// The fused nodes that graph passes create (domain ai.tessel, never read from a
// file: the loader refuses the domain). Each runs as one oneDNN primitive with
// post-ops when its operands allow, and otherwise as the ops it replaced, so a
// fused node always computes what the original nodes did.
//
//   ai.tessel.FusedConv(X, W, B?, R?) -> act(Conv(X, W, B) + R)
//     the Conv's attributes, plus activation ("" | Relu | Clip | Sigmoid | LeakyRelu)
//     and its float parameters alpha, beta (Clip bounds, LeakyRelu slope);
//     blocked_x, blocked_r, blocked_out (ints, passes.cpp's layout pass): X, R and
//     the output may be in oneDNN's blocked layout (kernels/cpu/conv_fused.h).
//   ai.tessel.BlockedPool(X) -> MaxPool / AveragePool / GlobalAveragePool (source) of
//     X, which may be blocked (blocked_x; channels: its channel count), on oneDNN;
//     blocked_out as FusedConv's.
//   ai.tessel.Attention(Q, Kt, V, mask?, scale?) -> Softmax(Q @ Kt [scale_op scale] [+ mask]) @ V
//     (scale_op: "Mul", "Div" or ""), the first product, scale, mask and softmax on oneDNN.
//   ai.tessel.FusedMatMul(X, W, B?) -> act(X @ W + B), or act(Gemm(X, W, B)) with transB
//     source ("MatMul" or "Gemm": the op it replaced, with its attributes),
//     activation ("" | Relu | Gelu) and Gelu's approximate.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "kernels/cpu/conv_fused.h"
#include "kernels/cpu/matmul_fused.h"
#include "kernels/cpu/serial.h"
#include "src/onnx/internal.h"
#include "tessel/ops.h"

namespace tessel::onnx {
namespace {

const Tensor* opt(const Inputs& in, size_t k) { return k < in.size() && in[k] ? &*in[k] : nullptr; }

// Multiply-adds x 2 of x [..., K] times a 2-D weight of K x N elements (either order).
double matmul_flops(const Tensor& x, const Tensor& w) {
  const int64_t k = x.dim() ? x.shape()[x.dim() - 1] : 0;
  if (w.dim() != 2 || k <= 0) return 0;
  return 2.0 * static_cast<double>(x.numel()) * static_cast<double>(w.numel() / k);
}

// Multiply-adds x 2 of a convolution of x (NCHW or blocked [N, C/b, H, W, b])
// by w [O, C/group, kh, kw]; 0 when the shapes are not those.
double conv_flops(const Tensor* x, const Tensor* w, const std::vector<int64_t>& strides) {
  if (!x || !w || x->dim() < 4 || w->dim() != 4) return 0;
  const int64_t sh = strides.size() == 2 && strides[0] > 0 ? strides[0] : 1;
  const int64_t sw = strides.size() == 2 && strides[1] > 0 ? strides[1] : 1;
  return 2.0 * static_cast<double>(x->shape()[0]) * static_cast<double>(w->numel()) *
         static_cast<double>(x->shape()[2] / sh) * static_cast<double>(x->shape()[3] / sw);
}

// What FusedConv and BlockedPool read from their attributes, resolved once at
// load (prepare_fused_nodes), and the node's kernel site (conv_fused.h).
struct ConvPrep : NodePrep {
  std::string activation;
  cpu::ConvPost post;
  bool blocked_x = false, blocked_r = false, blocked_out = false;
  // Conv attributes, when the one-primitive path can take them (plain: explicit pads, 2-D).
  bool plain = false;
  int64_t group = 1;
  std::vector<int64_t> pads, strides, dil;
  std::optional<std::vector<int64_t>> kernel_shape;
  // BlockedPool
  std::string source;
  int64_t channels = 0;
  std::shared_ptr<cpu::ConvSite> site = cpu::make_conv_site();
};

Tensor activate(const Node& n, const Tensor& y) {
  const std::string act = n.s("activation", "");
  if (act.empty()) return y;
  if (act == "Relu") return relu(y);
  if (act == "Sigmoid") return sigmoid(y);
  if (act == "LeakyRelu") return leaky_relu(y, n.f("alpha", 0.01));
  if (act == "Clip") return clamp(y, std::optional<Scalar>(n.f("alpha", 0.0)), std::optional<Scalar>(n.f("beta", 0.0)));
  n.error("unknown fused activation '", act, "'");
}

cpu::ConvPost post_of(const Node& n);

ConvPrep conv_prep_of(const Node& n) {
  ConvPrep p;
  p.activation = n.s("activation", "");
  p.post = post_of(n);
  p.blocked_x = n.i("blocked_x", 0) != 0;
  p.blocked_r = n.i("blocked_r", 0) != 0;
  p.blocked_out = n.i("blocked_out", 0) != 0;
  p.group = n.i("group", 1);
  p.pads = n.ints("pads", {0, 0, 0, 0}), p.strides = n.ints("strides", {1, 1}), p.dil = n.ints("dilations", {1, 1});
  if (n.has("kernel_shape")) p.kernel_shape = n.ints("kernel_shape");
  p.plain = n.s("auto_pad", "NOTSET") == "NOTSET";
  p.source = n.s("source", "MaxPool");
  p.channels = n.i("channels", 0);
  return p;
}

// The node's prepared state, or one resolved now (a node made after load).
const ConvPrep& conv_prep(const Node& n, std::optional<ConvPrep>& local) {
  if (auto* p = dynamic_cast<const ConvPrep*>(n.prep.get())) return *p;
  local = conv_prep_of(n);
  local->site.reset();
  return *local;
}

cpu::ConvPost post_of(const Node& n) {
  const std::string act = n.s("activation", "");
  cpu::ConvPost p;
  p.act = act == "Relu"        ? cpu::ConvAct::relu
          : act == "Sigmoid"   ? cpu::ConvAct::sigmoid
          : act == "LeakyRelu" ? cpu::ConvAct::leaky_relu
          : act == "Clip"      ? cpu::ConvAct::clip
                               : cpu::ConvAct::none;
  p.alpha = static_cast<float>(n.f("alpha", act == "LeakyRelu" ? 0.01 : 0.0));
  p.beta = static_cast<float>(n.f("beta", 0.0));
  return p;
}

// Which operands are in the blocked layout (conv_fused.h): the layout pass
// (passes.cpp) marks the inputs that may arrive blocked (blocked_x, blocked_r)
// and the nodes whose output every consumer takes blocked (blocked_out). A
// producer that ran the composed ops hands over NCHW (rank 4) instead, so an
// input counts as blocked only when it also has the blocked rank 5.
cpu::ConvLayout layout_of(const ConvPrep& n, const Tensor* x, const Tensor* r) {
  cpu::ConvLayout l;
  l.x = x && x->dim() == 5 && n.blocked_x;
  l.residual = r && r->dim() == 5 && n.blocked_r;
  l.y = n.blocked_out && cpu::conv_block_size() > 0;
  // The executor moves a value that dies at this node into the inputs: a sole
  // owner of the residual lets the kernel accumulate into its buffer.
  l.reuse_residual = l.residual && cpu::conv_sole_owner(*r);
  return l;
}

// The oneDNN path: float32 2-D convolution with explicit pads and operands of
// the shapes a valid Conv has (anything else goes through the Conv op, which
// checks and reports).
std::optional<Tensor> conv_one_primitive(const ConvPrep& n, const Tensor& x, const Tensor& w, const Tensor* b,
                                         const Tensor* r, const cpu::ConvLayout& layout) {
  if (!cpu::conv2d_fused_supported(x, w) && !(layout.x && x.dim() == 5 && w.dim() == 4)) return std::nullopt;
  const int64_t g = n.group;
  const auto &pads = n.pads, &strides = n.strides, &dil = n.dil;
  if (!n.plain || pads.size() != 4 || strides.size() != 2 || dil.size() != 2 || g < 1 ||
      w.shape()[0] % g != 0 || x.dtype() != DType::Float32 || w.dtype() != DType::Float32)
    return std::nullopt;
  const int64_t blk = cpu::conv_block_size();
  if (layout.x ? x.shape()[1] != (w.shape()[1] * g + blk - 1) / blk || x.shape()[4] != blk
               : x.shape()[1] != w.shape()[1] * g)
    return std::nullopt;
  for (int64_t v : pads) if (v < 0) return std::nullopt;
  for (int64_t v : strides) if (v < 1) return std::nullopt;
  for (int64_t v : dil) if (v < 1) return std::nullopt;
  if (n.kernel_shape && *n.kernel_shape != std::vector<int64_t>{w.shape()[2], w.shape()[3]})
    return std::nullopt;
  ConvParams p;
  p.stride[0] = strides[0], p.stride[1] = strides[1];
  p.dilation[0] = dil[0], p.dilation[1] = dil[1];
  p.pad[0] = pads[0], p.pad[1] = pads[2], p.pad[2] = pads[1], p.pad[3] = pads[3];  // ONNX: begins, then ends
  p.groups = g;
  const int64_t ho = x.shape()[2] + pads[0] + pads[2] - dil[0] * (w.shape()[2] - 1) - 1;
  const int64_t wo = x.shape()[3] + pads[1] + pads[3] - dil[1] * (w.shape()[3] - 1) - 1;
  if (ho < 0 || wo < 0 || x.shape()[0] == 0) return std::nullopt;
  const int64_t o = w.shape()[0];
  const Shape out{x.shape()[0], o, ho / strides[0] + 1, wo / strides[1] + 1};
  if (b && (b->dtype() != DType::Float32 || b->dim() != 1 || b->shape()[0] != o)) return std::nullopt;
  const Shape rshape = layout.residual ? Shape{out[0], (o + blk - 1) / blk, out[2], out[3], blk} : out;
  if (r && (r->dtype() != DType::Float32 || r->shape() != rshape || r->device().type != DeviceType::CPU))
    return std::nullopt;  // a broadcasting residual: the composed ops handle it
  return cpu::conv2d_fused(x, w, b ? *b : Tensor(), r ? *r : Tensor(), p, n.post, layout, n.site.get());
}

std::vector<Tensor> fused_conv(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor* x = opt(in, 0);
  const Tensor* w = opt(in, 1);
  const Tensor *b = opt(in, 2), *r = opt(in, 3);
  std::optional<ConvPrep> local;
  const ConvPrep& prep = conv_prep(n, local);
  const cpu::ConvLayout layout = layout_of(prep, x, r);
  cpu::OneThreadIf serial(cpu::small_work(conv_flops(x, w, prep.strides)));  // small nodes: serial.h
  if (x && w) {
    if (auto y = conv_one_primitive(prep, *x, *w, b, r, layout)) return {*y};
  }
  // The ops the pass replaced, in their order, on NCHW operands (the output
  // then stays NCHW: the consumers take either).
  Inputs cin(in.begin(), in.begin() + std::min<size_t>(in.size(), 3));
  std::optional<Tensor> res = r ? std::optional<Tensor>(*r) : std::nullopt;
  if ((layout.x || layout.residual) && (!w || w->dim() != 4))
    n.error("blocked operands need a 4-D weight, got ", w ? w->shape() : Shape{});
  if (layout.x) cin[0] = cpu::conv_unblock(*x, w->shape()[1] * prep.group);
  if (layout.residual) res = cpu::conv_unblock(*r, w->shape()[0]);
  Node conv = n;
  conv.op_type = "Conv";
  conv.domain.clear();
  conv.prep.reset();
  for (const char* a : {"activation", "alpha", "beta", "blocked_x", "blocked_r", "blocked_out"}) conv.attrs.erase(a);
  Tensor y = op_table().at("Conv")(conv, cin, c).at(0);
  if (res) y = add(y, *res);
  return {activate(n, y)};
}

// ai.tessel.BlockedPool(X): the pooling node `source` (MaxPool, AveragePool or
// GlobalAveragePool, its attributes kept) on an input that may arrive blocked
// (blocked_x; `channels` channels), its output blocked with blocked_out.
std::optional<cpu::PoolParams> pool_params(const Node& n, const std::string& source, const Tensor& xb) {
  cpu::PoolParams p;
  if (source == "GlobalAveragePool") {
    p.kind = cpu::PoolKind::avg_exclude_pad;
    p.kernel[0] = xb.shape()[2], p.kernel[1] = xb.shape()[3];
    return p.kernel[0] > 0 && p.kernel[1] > 0 ? std::optional(p) : std::nullopt;
  }
  const auto k = n.ints("kernel_shape"), s = n.ints("strides", {1, 1}), pads = n.ints("pads", {0, 0, 0, 0}),
             dil = n.ints("dilations", {1, 1});
  if (k.size() != 2 || s.size() != 2 || pads.size() != 4 || dil != std::vector<int64_t>{1, 1} ||
      n.i("ceil_mode", 0) != 0 || n.s("auto_pad", "NOTSET") != "NOTSET" || n.i("storage_order", 0) != 0)
    return std::nullopt;
  for (int d = 0; d < 2; ++d) {
    if (k[d] < 1 || s[d] < 1 || pads[d] < 0 || pads[d + 2] < 0 || pads[d] >= k[d] || pads[d + 2] >= k[d])
      return std::nullopt;
    p.kernel[d] = k[d], p.stride[d] = s[d], p.pad_begin[d] = pads[d], p.pad_end[d] = pads[d + 2];
    if (xb.shape()[2 + d] + pads[d] + pads[d + 2] < k[d]) return std::nullopt;
  }
  p.kind = source == "MaxPool"                   ? cpu::PoolKind::max
           : n.i("count_include_pad", 0) != 0 ? cpu::PoolKind::avg_include_pad
                                                  : cpu::PoolKind::avg_exclude_pad;
  return p;
}

std::vector<Tensor> blocked_pool(const Node& n, const Inputs& in, const OpContext& c) {
  std::optional<ConvPrep> local;
  const ConvPrep& prep = conv_prep(n, local);
  const std::string& source = prep.source;
  const int64_t channels = prep.channels;
  Inputs args = in;
  const Tensor* x = opt(in, 0);
  cpu::OneThreadIf serial(
      cpu::small_work(x ? 32.0 * static_cast<double>(x->numel()) : 0.0));  // pooling: 32 FLOPs an input element
  if (x && x->dim() == 5 && prep.blocked_x) {
    if (channels < 1) n.error("a blocked input needs the channel count (attribute 'channels')");
    if (auto p = pool_params(n, source, *x)) return {cpu::pool2d_blocked(*x, channels, *p, prep.blocked_out, prep.site.get())};
    args[0] = cpu::conv_unblock(*x, channels, prep.site.get());
  }
  Node orig = n;
  orig.prep.reset();
  orig.op_type = source;
  orig.domain.clear();
  for (const char* a : {"source", "channels", "blocked_x", "blocked_out"}) orig.attrs.erase(a);
  return op_table().at(source)(orig, args, c);
}

// ai.tessel.Attention(Q, Kt, V, mask?, scale?) -> MatMul(Softmax(MatMul(Q, Kt)
// [scale_op scale] [+ mask], axis -1), V); scale_op is "Mul", "Div" or "".
std::vector<Tensor> fused_attention(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& q = input(n, in, 0);
  const Tensor& kt = input(n, in, 1);
  const Tensor& v = input(n, in, 2);
  const Tensor *mask = opt(in, 3), *sc = opt(in, 4);
  const std::string scale_op = n.s("scale_op", "");
  auto run = [&](const char* op, Inputs args, std::map<std::string, Attr> attrs = {}) {
    Node m = n;
    m.op_type = op;
    m.domain.clear();
    m.attrs = std::move(attrs);
    return op_table().at(op)(m, args, c).at(0);
  };
  if (sc && !scale_op.empty() && sc->numel() == 1 && sc->dtype() == DType::Float32 && v.dim() == 4 &&
      cpu::attention_probs_supported(q, kt, mask ? *mask : Tensor()) && v.dtype() == DType::Float32 &&
      v.shape()[0] == q.shape()[0] && v.shape()[1] == q.shape()[1] && v.shape()[2] == kt.shape()[3]) {
    const float s = sc->contiguous().data<float>()[0];
    const float scale = scale_op == "Div" ? 1.0f / s : s;
    if (std::isfinite(scale)) {
      Tensor p = cpu::attention_probs(q, kt, mask ? *mask : Tensor(), scale);
      if (p.defined()) return {run("MatMul", {p, v})};
    }
  }
  // The ops the pass replaced.
  Tensor y = run("MatMul", {q, kt});
  if (sc && !scale_op.empty()) y = run(scale_op.c_str(), {y, *sc});
  if (mask) y = run("Add", {y, *mask});
  y = run("Softmax", {y}, {{"axis", int64_t{-1}}});
  return {run("MatMul", {y, v})};
}

// What FusedMatMul reads from its attributes, resolved once at load, and the
// node's kernel site (matmul_fused.h).
struct MatmulPrep : NodePrep {
  std::string source, act;
  bool trans_b = false;
  bool known_act = false;  // "", Relu or Gelu: what the oneDNN path applies
  cpu::MatmulAct kernel_act = cpu::MatmulAct::none;
  std::shared_ptr<cpu::MatmulSite> site = cpu::make_matmul_site();
};

MatmulPrep matmul_prep_of(const Node& n) {
  MatmulPrep p;
  p.source = n.s("source", "MatMul"), p.act = n.s("activation", "");
  p.trans_b = n.i("transB", 0) != 0;
  const bool gelu_tanh = n.s("approximate", "none") == "tanh";
  p.kernel_act = p.act == "Relu"   ? cpu::MatmulAct::relu
                 : p.act == "Gelu" ? (gelu_tanh ? cpu::MatmulAct::gelu_tanh : cpu::MatmulAct::gelu_erf)
                                   : cpu::MatmulAct::none;
  p.known_act = p.act.empty() || p.act == "Relu" || p.act == "Gelu";
  return p;
}

std::vector<Tensor> fused_matmul(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor* x = opt(in, 0);
  const Tensor* w = opt(in, 1);
  const Tensor* b = opt(in, 2);
  std::optional<MatmulPrep> local;
  const MatmulPrep* prep = dynamic_cast<const MatmulPrep*>(n.prep.get());
  if (!prep) {  // a node made after load
    local = matmul_prep_of(n);
    local->site.reset();
    prep = &*local;
  }
  const std::string &source = prep->source, &act = prep->act;
  cpu::OneThreadIf serial(cpu::small_work(x && w ? matmul_flops(*x, *w) : 0.0));
  if (x && w && x->dim() >= 2 && w->dim() == 2 && (source == "MatMul" || x->dim() == 2)) {
    const Tensor w2 = prep->trans_b ? w->t() : *w;
    const int64_t K = w2.shape()[0];
    if (x->shape()[x->dim() - 1] == K && x->numel() > 0) {
      const Tensor x2 = x->dim() == 2 ? *x : x->reshape({x->numel() / K, K});
      const Tensor bias = b ? *b : Tensor();
      if (prep->known_act && cpu::matmul_fused_supported(x2, w2, bias)) {
        Tensor y = cpu::matmul_fused(x2, w2, bias, prep->kernel_act, prep->site.get());
        if (x->dim() == 2) return {y};
        Shape shape(x->shape().begin(), x->shape().end() - 1);
        shape.push_back(w2.shape()[1]);
        return {y.reshape(shape)};
      }
    }
  }
  // The ops the pass replaced.
  Node orig = n;
  orig.op_type = source;
  orig.domain.clear();
  orig.prep.reset();
  for (const char* k : {"source", "activation", "approximate"}) orig.attrs.erase(k);
  Tensor y;
  if (source == "Gemm") {
    y = op_table().at("Gemm")(orig, in, c).at(0);
  } else {
    y = op_table().at("MatMul")(orig, Inputs(in.begin(), in.begin() + std::min<size_t>(in.size(), 2)), c).at(0);
    if (b) y = add(y, *b);
  }
  if (act.empty()) return {y};
  Node a = n;
  a.op_type = act;
  a.domain.clear();
  a.prep.reset();
  a.attrs.clear();
  if (act == "Gelu") a.attrs["approximate"] = n.s("approximate", "none");
  return op_table().at(act)(a, Inputs{y}, c);
}

}  // namespace

void prepare_fused_nodes(Model::Impl& m) {
  for (auto& n : m.nodes)
    if (n.domain == kFusedDomain) {
      try {
        if (n.op_type == "FusedConv" || n.op_type == "BlockedPool") n.prep = std::make_shared<ConvPrep>(conv_prep_of(n));
        if (n.op_type == "FusedMatMul") n.prep = std::make_shared<MatmulPrep>(matmul_prep_of(n));
      } catch (const Error&) {  // attributes of the wrong type: the run reports them with its context
      }
    }
}

void register_fused_ops(std::map<std::string, OpFn>& t) {
  t[std::string(kFusedDomain) + ".FusedConv"] = fused_conv;
  t[std::string(kFusedDomain) + ".FusedMatMul"] = fused_matmul;
  t[std::string(kFusedDomain) + ".BlockedPool"] = blocked_pool;
  t[std::string(kFusedDomain) + ".Attention"] = fused_attention;
}

}  // namespace tessel::onnx
