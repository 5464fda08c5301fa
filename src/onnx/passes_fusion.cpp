// The graph fusions that create ai.tessel nodes (run by passes.cpp's
// run_passes; passes_fused.cpp runs the nodes): Conv and MatMul/Gemm with
// their post-ops, the attention pattern, and the blocked layout kept along
// chains of convolutions.
#include <cmath>
#include <cstdlib>
#include <map>

#include "kernels/cpu/conv_fused.h"
#include "src/onnx/passes_internal.h"

namespace tessel::onnx::passes {

// Conv(+bias) followed by a residual Add and/or an activation (Relu, Clip with
// constant bounds, Sigmoid, LeakyRelu) becomes one ai.tessel.FusedConv node:
// oneDNN applies the sum and the activation as post-ops while the output tile is
// in cache, instead of two more passes over memory. Only 2-D float32 Convs with
// constant weights and explicit pads; each intermediate value must have no other use.
void fuse_conv(Ctx& c) {
  Chains ch(c.m);
  auto& drop = ch.drop;
  auto sole = [&](const std::string& v) { return ch.sole(v); };
  auto plain = [&](size_t k, const char* op) { return ch.plain(k, op); };
  for (size_t k0 = 0; k0 < c.m.nodes.size(); ++k0) {
    const Node& conv = c.m.nodes[k0];
    if (drop[k0] || !plain(k0, "Conv") || conv.inputs.size() < 2 || conv.inputs.size() > 3 || conv.inputs[0].empty())
      continue;
    const Tensor* w = const_f32(c, conv.inputs[1], -1);
    if (!w || w->dim() != 4 || conv.s("auto_pad", "NOTSET") != "NOTSET") continue;
    const bool has_b = conv.inputs.size() == 3 && !conv.inputs[2].empty();
    if (has_b && !const_f32(c, conv.inputs[2], w->shape()[0])) continue;
    std::string cur = conv.outputs[0], residual;
    size_t last = k0;
    std::vector<size_t> chain;
    auto next = sole(cur);
    if (next && plain(*next, "Add") && c.m.nodes[*next].inputs.size() == 2) {
      const Node& a = c.m.nodes[*next];
      const std::string other = a.inputs[0] == cur ? a.inputs[1] : a.inputs[0];
      if (other != cur && !other.empty()) {
        residual = other;
        chain.push_back(*next);
        last = *next;
        cur = a.outputs[0];
        next = sole(cur);
      }
    }
    std::map<std::string, Attr> act;
    if (next) {
      const Node& a = c.m.nodes[*next];
      if (plain(*next, "Relu") && a.inputs.size() == 1) {
        act = {{"activation", std::string("Relu")}};
      } else if (plain(*next, "Sigmoid") && a.inputs.size() == 1) {
        act = {{"activation", std::string("Sigmoid")}};
      } else if (plain(*next, "LeakyRelu") && a.inputs.size() == 1) {
        act = {{"activation", std::string("LeakyRelu")}, {"alpha", a.f("alpha", 0.01)}};
      } else if (plain(*next, "Clip") && a.inputs[0] == cur) {
        std::optional<double> lo, hi;
        if (c.m.opset < 11) {
          if (a.inputs.size() == 1) lo = a.f("min", -INFINITY), hi = a.f("max", INFINITY);
        } else {
          lo = a.inputs.size() > 1 && !a.inputs[1].empty() ? scalar_const(c, a.inputs[1]) : std::optional<double>(-INFINITY);
          hi = a.inputs.size() > 2 && !a.inputs[2].empty() ? scalar_const(c, a.inputs[2]) : std::optional<double>(INFINITY);
        }
        // Bounds oneDNN's clip takes as given (min <= max, not NaN).
        if (lo && hi && *lo <= *hi && std::isfinite(*lo) && std::isfinite(*hi))
          act = {{"activation", std::string("Clip")}, {"alpha", *lo}, {"beta", *hi}};
      }
      if (!act.empty()) {
        chain.push_back(*next);
        last = *next;
        cur = a.outputs[0];
      }
    }
    if (chain.empty()) continue;
    Node& out = c.m.nodes[last];
    Node fused;
    fused.name = conv.name + "/fused";
    fused.op_type = "FusedConv";
    fused.domain = kFusedDomain;
    fused.inputs = {conv.inputs[0], conv.inputs[1], has_b ? conv.inputs[2] : std::string(), residual};
    fused.outputs = {cur};
    fused.attrs = conv.attrs;
    for (auto& [k, v] : act) fused.attrs[k] = v;
    drop[k0] = true;
    for (size_t k : chain) drop[k] = true;
    drop[last] = false;
    out = std::move(fused);
    ++c.conv_fused;
  }
  ch.compact();
}

// Attention: MatMul(Q, Kt) [* or / a constant scalar] [+ mask] -> Softmax over
// the last axis -> MatMul(., V) becomes one ai.tessel.Attention node: the
// scale and the mask become post-ops of the first product and oneDNN's softmax
// runs in place on it (passes_fused.cpp), instead of three more passes over
// the [B, H, L, S] scores. Each intermediate value must have no other use.
// TESSEL_ONNX_ATTENTION=0 turns this off.
void fuse_attention(Ctx& c) {
  const char* e = std::getenv("TESSEL_ONNX_ATTENTION");
  if (e && std::string(e) == "0") return;  // to measure it
  if (c.m.opset < 13) return;  // Softmax flattened its input before opset 13
  Chains ch(c.m);
  auto& nodes = c.m.nodes;
  for (size_t k0 = 0; k0 < nodes.size(); ++k0) {
    const Node& mm = nodes[k0];
    if (ch.drop[k0] || !ch.plain(k0, "MatMul") || mm.inputs.size() != 2 || mm.inputs[0].empty() ||
        mm.inputs[1].empty() || c.constant(mm.inputs[0]) || c.constant(mm.inputs[1]))
      continue;
    std::string cur = mm.outputs[0], scale, scale_op, mask;
    std::vector<size_t> chain;
    auto next = ch.sole(cur);
    if (next && (ch.plain(*next, "Mul") || ch.plain(*next, "Div")) && nodes[*next].inputs.size() == 2) {
      const Node& a = nodes[*next];
      std::string other;
      if (a.inputs[0] == cur) other = a.inputs[1];
      else if (a.op_type == "Mul" && a.inputs[1] == cur) other = a.inputs[0];
      if (!other.empty() && other != cur && scalar_const(c, other) &&
          c.m.initializers.at(other).dtype() == DType::Float32) {
        scale = other, scale_op = a.op_type;
        chain.push_back(*next);
        cur = a.outputs[0];
        next = ch.sole(cur);
      }
    }
    if (next && ch.plain(*next, "Add") && nodes[*next].inputs.size() == 2) {
      const Node& a = nodes[*next];
      const std::string other = a.inputs[0] == cur ? a.inputs[1] : a.inputs[0];
      if (!other.empty() && other != cur) {
        mask = other;
        chain.push_back(*next);
        cur = a.outputs[0];
        next = ch.sole(cur);
      }
    }
    if (!next || !ch.plain(*next, "Softmax") || nodes[*next].inputs.size() != 1 || nodes[*next].i("axis", -1) != -1)
      continue;
    chain.push_back(*next);
    cur = nodes[*next].outputs[0];
    next = ch.sole(cur);
    if (!next || !ch.plain(*next, "MatMul") || nodes[*next].inputs.size() != 2 || nodes[*next].inputs[0] != cur ||
        nodes[*next].inputs[1].empty() || nodes[*next].inputs[1] == cur)
      continue;
    const size_t last = *next;
    Node fused;
    fused.name = mm.name + "/attention";
    fused.op_type = "Attention";
    fused.domain = kFusedDomain;
    fused.inputs = {mm.inputs[0], mm.inputs[1], nodes[last].inputs[1], mask, scale};
    fused.outputs = {nodes[last].outputs[0]};
    fused.attrs["scale_op"] = scale_op;
    ch.drop[k0] = true;
    for (size_t k : chain) ch.drop[k] = true;
    nodes[last] = std::move(fused);
    ++c.attention;
  }
  ch.compact();
}

// Chains of convolutions keep oneDNN's blocked layout (conv_fused.h) between
// them: the output of a convolution or pooling node is blocked when it is not a
// graph output and every consumer is a convolution reading it as its input X
// or residual R, or a pooling node; no other op ever sees a blocked value. Bare
// Convs on such values become FusedConv nodes without post-ops, the pooling
// nodes (MaxPool, AveragePool without ceil_mode or dilations, GlobalAveragePool;
// 4-D float32 input of known channel count) ai.tessel.BlockedPool.
// TESSEL_ONNX_BLOCKED=0 turns this off.
void block_conv_chains(Ctx& c) {
  const char* e = std::getenv("TESSEL_ONNX_BLOCKED");
  if ((e && std::string(e) == "0") || cpu::conv_block_size() == 0) return;
  auto& nodes = c.m.nodes;
  enum Kind { none = 0, conv, pool };
  std::vector<Kind> kind(nodes.size(), none);
  std::vector<int64_t> channels(nodes.size(), 0);  // a pooling node's input channels
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    if (n.domain == kFusedDomain && n.op_type == "FusedConv") {
      kind[k] = conv;
    } else if (default_domain(n) && n.op_type == "Conv" && n.outputs.size() == 1 && !n.outputs[0].empty() &&
               n.inputs.size() >= 2 && n.inputs.size() <= 3 && !n.inputs[0].empty() &&
               n.s("auto_pad", "NOTSET") == "NOTSET") {  // the conditions of fuse_conv
      const Tensor* w = const_f32(c, n.inputs[1], -1);
      const bool has_b = n.inputs.size() == 3 && !n.inputs[2].empty();
      if (w && w->dim() == 4 && (!has_b || const_f32(c, n.inputs[2], w->shape()[0]))) kind[k] = conv;
    } else if (default_domain(n) && (n.op_type == "MaxPool" || n.op_type == "AveragePool" ||
                                     n.op_type == "GlobalAveragePool") &&
               n.inputs.size() == 1 && !n.inputs[0].empty() && n.outputs.size() == 1 && !n.outputs[0].empty()) {
      auto it = c.m.shapes.find(n.inputs[0]);
      int64_t ch = 0;
      if (it == c.m.shapes.end() || it->second.dtype != DType::Float32 || !it->second.has_shape ||
          it->second.shape.size() != 4 || !it->second.shape[1].is_const(&ch) || ch < 1)
        continue;
      if (n.op_type != "GlobalAveragePool") {  // what the kernel takes (blocked_pool checks again)
        const auto dil = n.ints("dilations", {1, 1});
        if (n.ints("kernel_shape").size() != 2 || n.i("ceil_mode", 0) != 0 || n.s("auto_pad", "NOTSET") != "NOTSET" ||
            n.i("storage_order", 0) != 0 || (dil != std::vector<int64_t>{1, 1}))
          continue;
      }
      kind[k] = pool;
      channels[k] = ch;
    }
  }
  std::unordered_set<std::string> outputs;
  for (const auto& o : c.m.outputs) outputs.insert(o.name);
  std::unordered_map<std::string, size_t> producer;
  for (size_t k = 0; k < nodes.size(); ++k)
    if (kind[k] != none) producer[nodes[k].outputs[0]] = k;
  // A value fails when any consumer takes no blocked input there.
  std::unordered_set<std::string> fails;
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& n = nodes[k];
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (kind[k] == none || (kind[k] == conv && i != 0 && i != 3) || (kind[k] == pool && i != 0))
        fails.insert(n.inputs[i]);
    for (const auto& v : n.captures) fails.insert(v);
  }
  auto uses = use_counts(c.m);
  auto convert = [&](size_t k) {
    Node& n = nodes[k];
    if (n.domain == kFusedDomain) return;
    if (kind[k] == pool) {
      n.attrs["source"] = n.op_type;
      n.attrs["channels"] = channels[k];
      n.op_type = "BlockedPool";
    } else {
      n.op_type = "FusedConv";
      n.inputs.resize(4);  // X, W, B ("" when absent), R ("")
    }
    n.domain = kFusedDomain;
  };
  for (const auto& [v, k] : producer) {
    if (outputs.count(v) || fails.count(v) || uses[v] == 0) continue;
    convert(k);
    nodes[k].attrs["blocked_out"] = int64_t{1};
    ++c.blocked;
    for (size_t j = 0; j < nodes.size(); ++j) {
      Node& n = nodes[j];
      if (kind[j] == none) continue;
      if (n.inputs[0] == v) convert(j), n.attrs["blocked_x"] = int64_t{1};
      if (kind[j] == conv && n.inputs.size() > 3 && n.inputs[3] == v) convert(j), n.attrs["blocked_r"] = int64_t{1};
    }
  }
}

// MatMul by a constant 2-D weight followed by Add of a constant bias [N], and
// Gemm (alpha = beta = 1, no transA, constant weight, constant bias [N] or none),
// each optionally followed by Relu or Gelu, become one ai.tessel.FusedMatMul node:
// oneDNN adds the bias and applies the activation as post-ops.
void fuse_matmul(Ctx& c) {
  Chains ch(c.m);
  auto& drop = ch.drop;
  auto sole = [&](const std::string& v) { return ch.sole(v); };
  auto plain = [&](size_t k, const char* op) { return ch.plain(k, op); };
  for (size_t k0 = 0; k0 < c.m.nodes.size(); ++k0) {
    const Node& mm = c.m.nodes[k0];
    const bool gemm = plain(k0, "Gemm");
    if (drop[k0] || !(gemm || plain(k0, "MatMul")) || mm.inputs.size() < 2 || mm.inputs[0].empty() ||
        c.constant(mm.inputs[0]))
      continue;
    const Tensor* w = const_f32(c, mm.inputs[1], -1);
    if (!w || w->dim() != 2) continue;
    const int64_t trans_b = gemm ? mm.i("transB", 0) : 0;
    const int64_t n_out = w->shape()[trans_b ? 0 : 1];
    std::string cur = mm.outputs[0], bias;
    std::vector<size_t> chain;
    if (gemm) {
      if (mm.i("transA", 0) != 0 || mm.f("alpha", 1.0) != 1.0 || mm.f("beta", 1.0) != 1.0 || mm.inputs.size() > 3) continue;
      if (mm.inputs.size() == 3 && !mm.inputs[2].empty()) {
        if (!const_f32(c, mm.inputs[2], n_out)) continue;
        bias = mm.inputs[2];
      }
    } else if (auto k = sole(cur); k && plain(*k, "Add") && c.m.nodes[*k].inputs.size() == 2) {
      const Node& a = c.m.nodes[*k];
      const std::string other = a.inputs[0] == cur ? a.inputs[1] : a.inputs[0];
      if (other != cur && const_f32(c, other, n_out)) {
        bias = other;
        chain.push_back(*k);
        cur = a.outputs[0];
      }
    }
    std::map<std::string, Attr> act;
    if (auto k = sole(cur); k && c.m.nodes[*k].inputs.size() == 1) {
      const Node& a = c.m.nodes[*k];
      if (plain(*k, "Relu")) act = {{"activation", std::string("Relu")}};
      const std::string approx = a.s("approximate", "none");
      if (plain(*k, "Gelu") && (approx == "none" || approx == "tanh"))
        act = {{"activation", std::string("Gelu")}, {"approximate", approx}};
      if (!act.empty()) {
        chain.push_back(*k);
        cur = a.outputs[0];
      }
    }
    if (chain.empty() && !gemm) continue;  // a bare MatMul: flatten_matmul's 2-D product is as good
    Node fused;
    fused.name = mm.name + "/fused";
    fused.op_type = "FusedMatMul";
    fused.domain = kFusedDomain;
    fused.inputs = {mm.inputs[0], mm.inputs[1], bias};
    fused.outputs = {cur};
    if (gemm) fused.attrs = mm.attrs;
    fused.attrs["source"] = std::string(gemm ? "Gemm" : "MatMul");
    for (auto& [k, v] : act) fused.attrs[k] = v;
    const size_t last = chain.empty() ? k0 : chain.back();
    for (size_t k : chain) drop[k] = true;
    drop[k0] = true;
    drop[last] = false;
    c.m.nodes[last] = std::move(fused);
    ++c.matmul_fused;
  }
  ch.compact();
}

}  // namespace tessel::onnx::passes
