// ONNX export of the nn ops: convolution, pooling, normalization, embedding,
// attention and the recurrent layers (the rest is in export_ops.cpp).
#include <cmath>

#include "src/onnx/export_internal.h"

namespace tessel::onnx::exporter {
namespace {

using NodeP = ::onnx::NodeProto*;

std::vector<int64_t> per_dim(const std::vector<int64_t>& v, size_t n, int64_t dflt) {
  if (v.empty()) return std::vector<int64_t>(n, dflt);
  if (v.size() == 1) return std::vector<int64_t>(n, v[0]);
  return v;
}
std::vector<int64_t> sym_pads(const std::vector<int64_t>& p) {
  std::vector<int64_t> out = p;
  out.insert(out.end(), p.begin(), p.end());
  return out;
}

void emit_conv(Builder& b, const Site& s, size_t nd) {
  const Tensor& w = s.input(1);
  if (s.input(0).dim() != static_cast<int64_t>(nd) + 2) s.unsupported("an unbatched input (add the batch dim)");
  auto stride = per_dim(s.a.ints("stride"), nd, 1), dil = per_dim(s.a.ints("dilation"), nd, 1);
  auto pad = per_dim(s.a.ints("padding"), nd, 0);
  const std::string& mode = s.a.s("padding_mode");
  std::vector<int64_t> pads;
  if (mode == "valid") {
    pads.assign(2 * nd, 0);
  } else if (mode == "same") {  // total = dilation * (k - 1), the extra one at the end (PyTorch's choice)
    pads.assign(2 * nd, 0);
    for (size_t d = 0; d < nd; ++d) {
      const int64_t total = dil[d] * (w.shape()[2 + d] - 1);
      pads[d] = total / 2;
      pads[d + nd] = total - total / 2;
    }
  } else {
    pads = sym_pads(pad);
  }
  std::vector<std::string> ins{s.in[0], s.in[1]};
  if (s.has_input(2)) ins.push_back(s.in[2]);
  auto* n = b.node("Conv", ins, {s.out[0]});
  Builder::attr(n, "strides", stride);
  Builder::attr(n, "dilations", dil);
  Builder::attr(n, "pads", pads);
  Builder::attr(n, "group", s.a.i("groups"));
  std::vector<int64_t> ks(w.shape().begin() + 2, w.shape().end());
  Builder::attr(n, "kernel_shape", ks);
}
void emit_conv1d(Builder& b, const Site& s) { emit_conv(b, s, 1); }
void emit_conv2d(Builder& b, const Site& s) { emit_conv(b, s, 2); }
void emit_conv_transpose2d(Builder& b, const Site& s) {
  if (s.input(0).dim() != 4) s.unsupported("an unbatched input (add the batch dim)");
  std::vector<std::string> ins{s.in[0], s.in[1]};
  if (s.has_input(2)) ins.push_back(s.in[2]);
  auto* n = b.node("ConvTranspose", ins, {s.out[0]});
  Builder::attr(n, "strides", per_dim(s.a.ints("stride"), 2, 1));
  Builder::attr(n, "dilations", per_dim(s.a.ints("dilation"), 2, 1));
  Builder::attr(n, "pads", sym_pads(per_dim(s.a.ints("padding"), 2, 0)));
  Builder::attr(n, "output_padding", per_dim(s.a.ints("output_padding"), 2, 0));
  Builder::attr(n, "group", s.a.i("groups"));
  const Tensor& w = s.input(1);
  Builder::attr(n, "kernel_shape", std::vector<int64_t>(w.shape().begin() + 2, w.shape().end()));
}
void pool_common(const Site& s, NodeP n, bool dilation) {
  auto ks = per_dim(s.a.ints("kernel_size"), 2, 1);
  auto st = s.a.ints("stride").empty() ? ks : per_dim(s.a.ints("stride"), 2, 1);
  Builder::attr(n, "kernel_shape", ks);
  Builder::attr(n, "strides", st);
  Builder::attr(n, "pads", sym_pads(per_dim(s.a.ints("padding"), 2, 0)));
  Builder::attr(n, "ceil_mode", s.a.i("ceil_mode"));
  if (dilation) Builder::attr(n, "dilations", per_dim(s.a.ints("dilation"), 2, 1));
}
void emit_max_pool2d(Builder& b, const Site& s) {
  if (s.input(0).dim() != 4) s.unsupported("an unbatched input (add the batch dim)");
  pool_common(s, b.node("MaxPool", {s.in[0]}, {s.out[0]}), true);
}
void emit_avg_pool2d(Builder& b, const Site& s) {
  if (s.input(0).dim() != 4) s.unsupported("an unbatched input (add the batch dim)");
  if (s.a.find("divisor_override")) s.unsupported("divisor_override");
  auto* n = b.node("AveragePool", {s.in[0]}, {s.out[0]});
  pool_common(s, n, false);
  Builder::attr(n, "count_include_pad", s.a.i("count_include_pad"));
}
void emit_adaptive_avg_pool2d(Builder& b, const Site& s) {
  const Tensor& x = s.input(0);
  if (x.dim() != 4) s.unsupported("an unbatched input (add the batch dim)");
  const Shape& o = s.out_shape_a();
  if (o[2] == 1 && o[3] == 1) {
    b.node("GlobalAveragePool", {s.in[0]}, {s.out[0]});
    return;
  }
  const int64_t H = x.shape()[2], W = x.shape()[3];
  if (s.b && (s.b->inputs[0]->shape()[2] != H || s.b->inputs[0]->shape()[3] != W))
    s.unsupported("adaptive pooling of a dynamic spatial size to a size other than 1x1");
  if (H % o[2] || W % o[3]) s.unsupported("adaptive pooling where the output size does not divide the input size");
  auto* n = b.node("AveragePool", {s.in[0]}, {s.out[0]});
  Builder::attr(n, "kernel_shape", std::vector<int64_t>{H / o[2], W / o[3]});
  Builder::attr(n, "strides", std::vector<int64_t>{H / o[2], W / o[3]});
}
std::string or_const(Builder& b, const Site& s, size_t k, int64_t channels, double v) {
  if (s.has_input(k)) return s.in[k];
  return b.const_tensor(full({channels}, Scalar(v), TensorOptions(s.in_dtype(0))), v == 1 ? "ones" : "zeros");
}
void emit_batch_norm(Builder& b, const Site& s) {
  if (s.a.i("training")) s.unsupported("batch_norm in training mode (export records eval semantics: call eval())");
  if (!s.has_input(1) || !s.has_input(2)) s.unsupported("batch_norm without running statistics");
  const int64_t C = s.input(0).dim() > 1 ? s.input(0).shape()[1] : 1;
  auto* n = b.node("BatchNormalization",
                   {s.in[0], or_const(b, s, 3, C, 1), or_const(b, s, 4, C, 0), s.in[1], s.in[2]}, {s.out[0]});
  Builder::attr(n, "epsilon", attr_f(s.a, "eps", 1e-5));
}
void emit_layer_norm(Builder& b, const Site& s) {
  const auto& ns = s.a.ints("normalized_shape");
  const int64_t r = s.input(0).dim(), k = static_cast<int64_t>(ns.size());
  const double eps = attr_f(s.a, "eps", 1e-5);
  if (b.opset() >= 17) {
    std::string scale = s.has_input(1) ? s.in[1] : b.const_tensor(ones(ns, TensorOptions(s.in_dtype(0))), "ones");
    std::vector<std::string> ins{s.in[0], scale};
    if (s.has_input(2)) ins.push_back(s.in[2]);
    auto* n = b.node("LayerNormalization", ins, {s.out[0]});
    Builder::attr(n, "axis", r - k);
    Builder::attr(n, "epsilon", eps);
    return;
  }
  std::vector<int64_t> axes;
  for (int64_t d = r - k; d < r; ++d) axes.push_back(d);
  std::string x = s.in[0];
  std::string mean = reduce(b, s, "ReduceMean", x, axes, true);
  std::string d = b.op("Sub", {x, mean});
  std::string var = reduce(b, s, "ReduceMean", b.op("Mul", {d, d}), axes, true);
  std::string y = b.op("Div", {d, b.op("Sqrt", {b.op("Add", {var, c(b, s, eps)})})});
  if (s.has_input(1)) y = b.op("Mul", {y, s.in[1]});
  if (s.has_input(2)) y = b.op("Add", {y, s.in[2]});
  b.node("Identity", {y}, {s.out[0]});
}
void emit_group_norm(Builder& b, const Site& s) {
  const Tensor& x0 = s.input(0);
  const int64_t G = s.a.i("num_groups"), C = x0.shape()[1], r = x0.dim();
  const double eps = attr_f(s.a, "eps", 1e-5);
  std::string x = s.in[0];
  // [N, G, rest]: statistics per group, then back to the input's shape.
  std::string grouped = b.op("Reshape", {x, b.const_ints({0, G, -1})});
  std::string mean = reduce(b, s, "ReduceMean", grouped, {2}, true);
  std::string d = b.op("Sub", {grouped, mean});
  std::string var = reduce(b, s, "ReduceMean", b.op("Mul", {d, d}), {2}, true);
  std::string y = b.op("Div", {d, b.op("Sqrt", {b.op("Add", {var, c(b, s, eps)})})});
  y = b.op("Reshape", {y, b.op("Shape", {x})});
  Shape per_channel{C};
  for (int64_t k = 2; k < r; ++k) per_channel.push_back(1);
  if (s.has_input(1)) y = b.op("Mul", {y, b.op("Reshape", {s.in[1], b.const_ints(per_channel)})});
  if (s.has_input(2)) y = b.op("Add", {y, b.op("Reshape", {s.in[2], b.const_ints(per_channel)})});
  b.node("Identity", {y}, {s.out[0]});
}
void emit_embedding(Builder& b, const Site& s) {
  auto* n = b.node("Gather", {s.in[1], s.in[0]}, {s.out[0]});
  Builder::attr(n, "axis", int64_t{0});
}
void emit_sdpa(Builder& b, const Site& s) {
  if (attr_f(s.a, "dropout_p", 0) != 0) s.unsupported("attention dropout (export records eval semantics)");
  const Tensor& q = s.input(0);
  const int64_t E = q.shape().back();
  const double scale = s.a.find("scale") ? attr_f(s.a, "scale", 1) : 1.0 / std::sqrt(static_cast<double>(E));
  const int64_t r = s.input(1).dim();
  std::vector<int64_t> perm(r);
  for (int64_t i = 0; i < r; ++i) perm[i] = i;
  std::swap(perm[r - 1], perm[r - 2]);
  auto* kt = b.node("Transpose", {s.in[1]}, {b.fresh("k_t")});
  Builder::attr(kt, "perm", perm);
  std::string scores = b.op("Mul", {b.op("MatMul", {s.in[0], kt->output(0)}), c(b, s, scale)});
  const std::string ninf = b.const_scalar(-INFINITY, s.out_dtype());
  if (s.a.i("is_causal")) {
    // Lower-triangular [L, S] mask built at run time (L and S may be dynamic).
    std::string qs = b.op("Shape", {s.in[0]}), ks = b.op("Shape", {s.in[1]});
    std::string L = b.op("Gather", {qs, b.const_ints({-2})}), S = b.op("Gather", {ks, b.const_ints({-2})});
    auto* lsn = b.node("Concat", {L, S}, {b.fresh("ls")});
    Builder::attr(lsn, "axis", int64_t{0});
    auto* ones_n = b.node("ConstantOfShape", {lsn->output(0)}, {b.fresh("ones")});
    Builder::attr_tensor(ones_n, "value", ones({1}, TensorOptions(DType::Int64)));
    auto* tri = b.node("Trilu", {ones_n->output(0)}, {b.fresh("tri")});
    Builder::attr(tri, "upper", int64_t{0});
    std::string keep = b.cast(tri->output(0), DType::Int64, DType::Bool);
    scores = b.op("Where", {keep, scores, ninf});
  }
  if (s.has_input(3)) {
    if (s.in_dtype(3) == DType::Bool) scores = b.op("Where", {s.in[3], scores, ninf});
    else scores = b.op("Add", {scores, b.cast(s.in[3], s.in_dtype(3), s.out_dtype())});
  }
  auto* sm = b.node("Softmax", {scores}, {b.fresh("attn")});
  Builder::attr(sm, "axis", int64_t{-1});
  b.node("MatMul", {sm->output(0), s.in[2]}, {s.out[0]});
}
// A stacked (bi)directional RNN/LSTM/GRU recorded by nn.RNNBase as one call:
// inputs x [T, N, In], h0 [L*D, N, H], (c0), then per layer and direction
// w_ih, w_hh, (b_ih, b_hh). One ONNX node per layer; gates reordered from
// PyTorch's (LSTM i,f,g,o; GRU r,z,n) to ONNX's (i,o,f,c; z,r,h).
void emit_rnn(Builder& b, const Site& s) {
  const std::string mode = s.a.s("mode");
  const int64_t L = s.a.i("num_layers"), D = s.a.i("bidirectional") ? 2 : 1, H = s.a.i("hidden_size");
  const bool bias = s.a.i("has_bias"), cell = s.a.i("has_cell");
  const char* op = mode == "LSTM" ? "LSTM" : mode == "GRU" ? "GRU" : "RNN";
  const std::vector<int64_t> order = mode == "LSTM" ? std::vector<int64_t>{0, 3, 1, 2}
                                     : mode == "GRU" ? std::vector<int64_t>{1, 0, 2}
                                                     : std::vector<int64_t>{0};
  auto reorder = [&](const Tensor& w) {
    std::vector<Tensor> parts = chunk(w, static_cast<int64_t>(order.size()), 0), picked;
    for (int64_t k : order) picked.push_back(parts[k]);
    return cat(picked, 0);
  };
  size_t k = cell ? 3 : 2;
  const size_t per = bias ? 4 : 2;
  std::string x = s.in[0];
  std::vector<std::string> hs, cs;
  for (int64_t l = 0; l < L; ++l) {
    std::vector<Tensor> W, R, B;
    for (int64_t d = 0; d < D; ++d, k += per) {
      W.push_back(reorder(s.input(k)).unsqueeze(0));
      R.push_back(reorder(s.input(k + 1)).unsqueeze(0));
      if (bias) B.push_back(cat({reorder(s.input(k + 2)), reorder(s.input(k + 3))}, 0).unsqueeze(0));
    }
    auto slice0 = [&](const std::string& v) {
      return b.op("Slice", {v, b.const_ints({l * D}), b.const_ints({(l + 1) * D}), b.const_ints({0})});
    };
    std::vector<std::string> ins{x, b.const_tensor(cat(W, 0), "W"), b.const_tensor(cat(R, 0), "R"),
                                 bias ? b.const_tensor(cat(B, 0), "B") : "", "", slice0(s.in[1])};
    if (cell) ins.push_back(slice0(s.in[2]));
    std::vector<std::string> outs{b.fresh("Y"), b.fresh("Y_h")};
    if (cell) outs.push_back(b.fresh("Y_c"));
    auto* n = b.node(op, ins, outs);
    Builder::attr(n, "hidden_size", H);
    Builder::attr(n, "direction", std::string(D == 2 ? "bidirectional" : "forward"));
    if (mode == "GRU") Builder::attr(n, "linear_before_reset", int64_t{1});
    if (mode == "RNN_RELU") {
      auto* a = n->add_attribute();
      a->set_name("activations");
      a->set_type(::onnx::AttributeProto::STRINGS);
      for (int64_t d = 0; d < D; ++d) a->add_strings("Relu");
    }
    // Y [T, D, N, H] -> [T, N, D*H], the next layer's input.
    auto* t = b.node("Transpose", {outs[0]}, {b.fresh("Y_t")});
    Builder::attr(t, "perm", std::vector<int64_t>{0, 2, 1, 3});
    x = b.op("Reshape", {t->output(0), b.const_ints({0, 0, -1})});
    hs.push_back(outs[1]);
    if (cell) cs.push_back(outs[2]);
  }
  b.node("Identity", {x}, {s.out[0]});
  auto* hn = b.node("Concat", hs, {s.out[1]});
  Builder::attr(hn, "axis", int64_t{0});
  if (cell) {
    auto* cn = b.node("Concat", cs, {s.out[2]});
    Builder::attr(cn, "axis", int64_t{0});
  }
}

void emit_max_pool2d_with_indices(Builder& b, const Site& s) {
  const Tensor& x = s.input(0);
  if (x.dim() != 4) s.unsupported("an unbatched input (add the batch dim)");
  if (s.b && (s.b->inputs[0]->shape()[2] != x.shape()[2] || s.b->inputs[0]->shape()[3] != x.shape()[3]))
    s.unsupported("pooling indices with dynamic spatial sizes");
  std::string flat = b.fresh("indices");
  pool_common(s, b.node("MaxPool", {s.in[0]}, {s.out[0], flat}), true);
  // ONNX counts over the whole N*C*H*W tensor, tessel (like PyTorch) within each H*W plane.
  auto* m = b.node("Mod", {flat, b.const_int(x.shape()[2] * x.shape()[3])}, {s.out[1]});
  Builder::attr(m, "fmod", int64_t{0});
}

void emit_dropout(Builder&, const Site& s) {
  s.unsupported("dropout in training mode (export records eval semantics: call eval())");
}

}  // namespace

void add_nn_emitters(std::map<std::string, Emitter>& t) {
  for (const auto& [name, fn] : std::map<std::string, Emitter>{
      {"conv1d", emit_conv1d},
      {"conv2d", emit_conv2d},
      {"conv_transpose2d", emit_conv_transpose2d},
      {"max_pool2d", emit_max_pool2d},
      {"avg_pool2d", emit_avg_pool2d},
      {"adaptive_avg_pool2d", emit_adaptive_avg_pool2d},
      {"batch_norm", emit_batch_norm},
      {"layer_norm", emit_layer_norm},
      {"group_norm", emit_group_norm},
      {"embedding", emit_embedding},
      {"scaled_dot_product_attention", emit_sdpa},
      {"dropout", emit_dropout},
      {"rnn", emit_rnn},
      {"max_pool2d_with_indices", emit_max_pool2d_with_indices}})
    t[name] = fn;
}

}  // namespace tessel::onnx::exporter
