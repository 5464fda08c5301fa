// Graph passes run once after loading: constant folding, Conv+BatchNormalization
// folding, GELU and LayerNorm pattern fusion, MatMul as 2-D, dead-node
// elimination, and the fusions into ai.tessel nodes (passes_fusion.cpp). Every
// pass keeps the graph's results (within float rounding of the folded weights);
// TESSEL_ONNX_PASSES=0 turns them off, TESSEL_ONNX_PASSES_VERBOSE=1 prints what
// they did (stderr) at load.
//
// TESSEL_ONNX_FUSE=0 keeps the passes but not the ai.tessel fused nodes (to measure them).
//
// Subgraphs (If/Loop/Scan bodies) read values of the enclosing graph by name,
// invisible in the node's inputs: when a graph holds such a node, only
// constant folding runs (it keeps every value name alive, as an initializer),
// and nodes with subgraph attributes are never touched.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "kernels/cpu/const_weights.h"
#include "src/onnx/passes_internal.h"

namespace tessel::onnx {
namespace passes {

bool has_subgraph(const Node& n) {
  if (n.op_type == "If" || n.op_type == "Loop" || n.op_type == "Scan") return true;
  for (const auto& [k, a] : n.attrs)
    if (std::holds_alternative<GraphPtr>(a) || std::holds_alternative<std::vector<GraphPtr>>(a)) return true;
  return false;
}

std::unordered_map<std::string, int> use_counts(const Model::Impl& m) {
  std::unordered_map<std::string, int> uses;
  for (const auto& n : m.nodes)
    for (const auto& i : n.inputs)
      if (!i.empty()) ++uses[i];
  for (const auto& o : m.outputs) ++uses[o.name];
  return uses;
}

const Tensor* const_f32(const Ctx& c, const std::string& name, int64_t numel) {
  if (name.empty() || !c.constant(name)) return nullptr;
  const Tensor& t = c.m.initializers.at(name);
  if (t.dtype() != DType::Float32 || (numel >= 0 && (t.dim() != 1 || t.numel() != numel))) return nullptr;
  return &t;
}

// The value of a one-element float constant, if `name` is one.
std::optional<double> scalar_const(const Ctx& c, const std::string& name) {
  if (name.empty() || !c.constant(name)) return std::nullopt;
  const Tensor& t = c.m.initializers.at(name);
  if (!is_floating(t.dtype()) || t.numel() != 1) return std::nullopt;
  return t.to(DType::Float64).contiguous().data<double>()[0];
}

}  // namespace passes

namespace {
using namespace passes;

bool passes_enabled() {
  const char* e = std::getenv("TESSEL_ONNX_PASSES");
  return !(e && std::string(e) == "0");
}

// Ops whose result is not a function of their inputs.
bool nondeterministic(const std::string& op) {
  return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" || op == "RandomUniformLike" ||
         op == "Multinomial" || op == "Bernoulli" || op == "Dropout";
}

// Nodes whose inputs are all constants run once now; their outputs become
// initializers. A node that fails here is left for run time to report.
void fold_constants(Ctx& c) {
  const auto& table = op_table();
  const OpContext octx{c.m.opset};
  std::vector<Node> kept;
  kept.reserve(c.m.nodes.size());
  for (auto& n : c.m.nodes) {
    bool fold = default_domain(n) && !has_subgraph(n) && !nondeterministic(n.op_type) &&
                (!n.inputs.empty() || n.op_type == "Constant");
    for (const auto& i : n.inputs) fold = fold && (i.empty() || c.constant(i));
    auto it = table.find(n.op_type);
    if (fold && it != table.end()) {
      Inputs in;
      for (const auto& i : n.inputs) {
        if (i.empty()) in.emplace_back(std::nullopt);
        else in.emplace_back(c.m.initializers.at(i));
      }
      try {
        std::vector<Tensor> out = it->second(n, in, octx);
        bool ok = out.size() >= n.outputs.size();
        for (const auto& o : n.outputs) ok = ok && !c.graph_inputs.count(o);
        if (ok) {
          for (size_t j = 0; j < n.outputs.size(); ++j)
            if (!n.outputs[j].empty()) c.m.initializers[n.outputs[j]] = out[j];
          ++c.folded;
          continue;
        }
      } catch (const std::exception&) {  // bad attributes or inputs: run() raises the error with its context
      }
    }
    kept.push_back(std::move(n));
  }
  c.m.nodes = std::move(kept);
}



// Conv -> BatchNormalization (inference) becomes one Conv with scaled weights
// and a shifted bias: W' = W * s, B' = (B - mean) * s + beta, s = gamma / sqrt(var + eps),
// computed in float64 and rounded once.
void fold_conv_bn(Ctx& c) {
  auto uses = use_counts(c.m);
  std::unordered_map<std::string, size_t> producer;
  for (size_t k = 0; k < c.m.nodes.size(); ++k)
    for (const auto& o : c.m.nodes[k].outputs) producer[o] = k;
  std::vector<bool> drop(c.m.nodes.size(), false);
  for (size_t k = 0; k < c.m.nodes.size(); ++k) {
    const Node& bn = c.m.nodes[k];
    if (bn.op_type != "BatchNormalization" || !default_domain(bn) || bn.inputs.size() != 5) continue;
    if (bn.i("training_mode", 0) != 0 || bn.i("spatial", 1) != 1) continue;
    bool extra_out = false;
    for (size_t j = 1; j < bn.outputs.size(); ++j) extra_out = extra_out || !bn.outputs[j].empty();
    if (extra_out || bn.outputs.empty()) continue;
    auto p = producer.find(bn.inputs[0]);
    if (p == producer.end() || drop[p->second]) continue;
    Node& conv = c.m.nodes[p->second];
    if (conv.op_type != "Conv" || !default_domain(conv) || conv.outputs.size() != 1 || uses[conv.outputs[0]] != 1)
      continue;
    const Tensor* w = conv.inputs.size() > 1 ? const_f32(c, conv.inputs[1], -1) : nullptr;
    if (!w || w->dim() < 3) continue;
    const int64_t ch = w->shape()[0];
    const Tensor* b = conv.inputs.size() > 2 && !conv.inputs[2].empty() ? const_f32(c, conv.inputs[2], ch) : nullptr;
    if (conv.inputs.size() > 2 && !conv.inputs[2].empty() && !b) continue;
    const Tensor *gamma = const_f32(c, bn.inputs[1], ch), *beta = const_f32(c, bn.inputs[2], ch),
                 *mean = const_f32(c, bn.inputs[3], ch), *var = const_f32(c, bn.inputs[4], ch);
    if (!gamma || !beta || !mean || !var) continue;
    const double eps = bn.f("epsilon", 1e-5);
    const Tensor s = gamma->to(DType::Float64) / sqrt(var->to(DType::Float64) + Scalar(eps));
    Shape bshape(static_cast<size_t>(w->dim()), 1);
    bshape[0] = ch;
    const Tensor w2 = (w->to(DType::Float64) * s.reshape(bshape)).to(DType::Float32).contiguous();
    const Tensor b0 = b ? b->to(DType::Float64) : zeros({ch}, TensorOptions(DType::Float64));
    const Tensor b2 = ((b0 - mean->to(DType::Float64)) * s + beta->to(DType::Float64)).to(DType::Float32).contiguous();
    const std::string wn = c.fresh(conv.name + "/bn_folded_W"), bname = c.fresh(conv.name + "/bn_folded_B");
    c.m.initializers[wn] = w2;
    c.m.initializers[bname] = b2;
    conv.inputs.resize(3);
    conv.inputs[1] = wn;
    conv.inputs[2] = bname;
    conv.outputs[0] = bn.outputs[0];
    drop[k] = true;
    ++c.conv_bn;
  }
  std::vector<Node> kept;
  for (size_t k = 0; k < c.m.nodes.size(); ++k)
    if (!drop[k]) kept.push_back(std::move(c.m.nodes[k]));
  c.m.nodes = std::move(kept);
}


bool near(std::optional<double> v, double want) { return v && std::abs(*v - want) <= 1e-6 * std::abs(want); }

// For a binary node with constant operand: the other operand when the constant
// is `want` (either side for commutative ops, the right side otherwise).
std::optional<std::string> other_operand(const Ctx& c, const Node& n, double want, bool commutative) {
  if (n.inputs.size() != 2) return std::nullopt;
  if (near(scalar_const(c, n.inputs[1]), want)) return n.inputs[0];
  if (commutative && near(scalar_const(c, n.inputs[0]), want)) return n.inputs[1];
  return std::nullopt;
}

// GELU written out with Erf, as exporters emit it before opset 20:
//   x * 0.5 * (1 + erf(x / sqrt(2)))   (any association of the products, x * (1/sqrt(2)) too)
// becomes one Gelu node (tessel's gelu; the op table runs it whatever the model's opset).
void fuse_gelu(Ctx& c) {
  if (!op_table().count("Gelu")) return;
  auto uses = use_counts(c.m);
  std::unordered_map<std::string, size_t> producer;
  std::unordered_multimap<std::string, size_t> consumers;
  for (size_t k = 0; k < c.m.nodes.size(); ++k) {
    for (const auto& o : c.m.nodes[k].outputs) producer[o] = k;
    for (const auto& i : c.m.nodes[k].inputs) consumers.emplace(i, k);
  }
  auto plain = [&](size_t k, const char* op) {
    const Node& n = c.m.nodes[k];
    return n.op_type == op && default_domain(n) && n.outputs.size() == 1;
  };
  // The only consumer of value v, when v has exactly one use.
  auto sole = [&](const std::string& v) -> std::optional<size_t> {
    if (uses[v] != 1) return std::nullopt;
    auto it = consumers.find(v);
    return it == consumers.end() ? std::nullopt : std::optional<size_t>(it->second);
  };
  auto is_mul = [&](size_t k) { return plain(k, "Mul") && c.m.nodes[k].inputs.size() == 2; };
  std::vector<bool> drop(c.m.nodes.size(), false);
  for (size_t ke = 0; ke < c.m.nodes.size(); ++ke) {
    if (!plain(ke, "Erf") || c.m.nodes[ke].inputs.size() != 1) continue;
    const Node& erf_n = c.m.nodes[ke];
    auto pd = producer.find(erf_n.inputs[0]);
    if (pd == producer.end() || drop[pd->second] || uses[erf_n.inputs[0]] != 1) continue;
    const Node& d = c.m.nodes[pd->second];
    std::optional<std::string> x;
    if (plain(pd->second, "Div")) x = other_operand(c, d, std::sqrt(2.0), false);
    else if (plain(pd->second, "Mul")) x = other_operand(c, d, std::sqrt(0.5), true);
    if (!x) continue;
    auto ka = sole(erf_n.outputs[0]);
    if (!ka || !plain(*ka, "Add") || other_operand(c, c.m.nodes[*ka], 1.0, true) != erf_n.outputs[0]) continue;
    const std::string a = c.m.nodes[*ka].outputs[0];
    // Either (x * a) * 0.5, (x * 0.5) * a, or x * (a * 0.5): three Mul nodes, two of them ours.
    auto k1 = sole(a);
    if (!k1 || !is_mul(*k1)) continue;
    const Node& m1 = c.m.nodes[*k1];
    const std::string o1 = m1.inputs[0] == a ? m1.inputs[1] : m1.inputs[0];
    std::optional<size_t> kh, klast;  // the Mul by 0.5 (when separate) and the last Mul
    if (o1 == *x) {  // m1 = x * a, then * 0.5
      auto k2 = sole(m1.outputs[0]);
      if (!k2 || !is_mul(*k2) || other_operand(c, c.m.nodes[*k2], 0.5, true) != m1.outputs[0]) continue;
      klast = k2;
    } else if (near(scalar_const(c, o1), 0.5)) {  // m1 = a * 0.5, then * x
      auto k2 = sole(m1.outputs[0]);
      if (!k2 || !is_mul(*k2)) continue;
      const Node& m2 = c.m.nodes[*k2];
      if (!((m2.inputs[0] == m1.outputs[0] && m2.inputs[1] == *x) || (m2.inputs[1] == m1.outputs[0] && m2.inputs[0] == *x)))
        continue;
      klast = k2;
    } else {  // m1 = (x * 0.5) * a, the half computed by its own Mul
      auto ph = producer.find(o1);
      if (ph == producer.end() || !is_mul(ph->second) || uses[o1] != 1 ||
          other_operand(c, c.m.nodes[ph->second], 0.5, true) != *x)
        continue;
      kh = ph->second;
      klast = k1;
    }
    Node& last = c.m.nodes[*klast];
    for (size_t k : {pd->second, ke, *ka}) drop[k] = true;
    if (*klast != *k1) drop[*k1] = true;
    if (kh) drop[*kh] = true;
    last.op_type = "Gelu";
    last.domain.clear();
    last.inputs = {*x};
    last.attrs = {{"approximate", std::string("none")}};
    ++c.gelu;
  }
  std::vector<Node> kept;
  for (size_t k = 0; k < c.m.nodes.size(); ++k)
    if (!drop[k]) kept.push_back(std::move(c.m.nodes[k]));
  c.m.nodes = std::move(kept);
}

// Whether a ReduceMean reduces exactly the last axis, keeping it (axes as an
// attribute before opset 18, as input 1 since).
bool mean_over_last(const Ctx& c, const Node& n) {
  if (n.op_type != "ReduceMean" || !default_domain(n) || n.outputs.size() != 1 || n.i("keepdims", 1) != 1)
    return false;
  std::vector<int64_t> axes;
  if (c.m.opset < 18) {
    if (n.inputs.size() != 1) return false;
    axes = n.ints("axes");
  } else {
    if (n.inputs.size() != 2 || !c.constant(n.inputs[1])) return false;
    const Tensor& t = c.m.initializers.at(n.inputs[1]);
    if (t.dtype() != DType::Int64 || t.numel() != 1) return false;
    axes = {t.contiguous().data<int64_t>()[0]};
  }
  return axes == std::vector<int64_t>{-1};
}

// LayerNorm written out over the last axis, as exporters emit it before opset 17:
//   d = x - ReduceMean(x); y = d / Sqrt(ReduceMean(d^2) + eps) * gamma + beta
// becomes one LayerNormalization node (tessel's layer_norm).
void fuse_layer_norm(Ctx& c) {
  if (!op_table().count("LayerNormalization")) return;
  auto uses = use_counts(c.m);
  std::unordered_map<std::string, size_t> producer;
  std::unordered_multimap<std::string, size_t> consumers;
  for (size_t k = 0; k < c.m.nodes.size(); ++k) {
    for (const auto& o : c.m.nodes[k].outputs) producer[o] = k;
    for (const auto& i : c.m.nodes[k].inputs) consumers.emplace(i, k);
  }
  auto op_is = [&](size_t k, const char* op) {
    const Node& n = c.m.nodes[k];
    return n.op_type == op && default_domain(n) && n.outputs.size() == 1;
  };
  // Every node reading v (a node reading it twice is listed twice).
  auto users = [&](const std::string& v) {
    std::vector<size_t> r;
    auto range = consumers.equal_range(v);
    for (auto it = range.first; it != range.second; ++it) r.push_back(it->second);
    return r;
  };
  auto sole = [&](const std::string& v) -> std::optional<size_t> {
    auto r = users(v);
    if (uses[v] != 1 || r.size() != 1) return std::nullopt;
    return r[0];
  };
  auto vec_const = [&](const std::string& name) { return !name.empty() && const_f32(c, name, -1) && c.m.initializers.at(name).dim() == 1; };
  std::vector<bool> drop(c.m.nodes.size(), false);
  for (size_t k0 = 0; k0 < c.m.nodes.size(); ++k0) {
    const Node& mean1 = c.m.nodes[k0];
    if (drop[k0] || !mean_over_last(c, mean1)) continue;
    const std::string x = mean1.inputs[0], mu = mean1.outputs[0];
    auto ksub = sole(mu);
    if (!ksub || !op_is(*ksub, "Sub") || c.m.nodes[*ksub].inputs != std::vector<std::string>{x, mu}) continue;
    const std::string d = c.m.nodes[*ksub].outputs[0];
    // d feeds the square (Pow(d, 2) or Mul(d, d)) and the Div.
    std::optional<size_t> ksq, kdiv;
    for (size_t u : users(d)) {
      const Node& n = c.m.nodes[u];
      if (op_is(u, "Pow") && n.inputs.size() == 2 && n.inputs[0] == d && near(scalar_const(c, n.inputs[1]), 2.0)) ksq = u;
      else if (op_is(u, "Mul") && n.inputs == std::vector<std::string>{d, d}) ksq = u;
      else if (op_is(u, "Div") && n.inputs.size() == 2 && n.inputs[0] == d) kdiv = u;
    }
    const int want_uses = ksq && c.m.nodes[*ksq].op_type == "Mul" ? 3 : 2;
    if (!ksq || !kdiv || uses[d] != want_uses) continue;
    auto kmean2 = sole(c.m.nodes[*ksq].outputs[0]);
    if (!kmean2 || !mean_over_last(c, c.m.nodes[*kmean2])) continue;
    auto kadd = sole(c.m.nodes[*kmean2].outputs[0]);
    if (!kadd || !op_is(*kadd, "Add") || c.m.nodes[*kadd].inputs.size() != 2) continue;
    const Node& add_eps = c.m.nodes[*kadd];
    const std::string var = c.m.nodes[*kmean2].outputs[0];
    const std::string eps_name = add_eps.inputs[0] == var ? add_eps.inputs[1] : add_eps.inputs[0];
    const auto eps = scalar_const(c, eps_name);
    if (!eps || *eps < 0) continue;
    auto ksqrt = sole(add_eps.outputs[0]);
    if (!ksqrt || !op_is(*ksqrt, "Sqrt")) continue;
    if (sole(c.m.nodes[*ksqrt].outputs[0]) != kdiv || c.m.nodes[*kdiv].inputs[1] != c.m.nodes[*ksqrt].outputs[0]) continue;
    // Then * gamma and + beta (1-D constants).
    auto kmul = sole(c.m.nodes[*kdiv].outputs[0]);
    if (!kmul || !op_is(*kmul, "Mul") || c.m.nodes[*kmul].inputs.size() != 2) continue;
    const Node& mul_g = c.m.nodes[*kmul];
    const std::string normed = c.m.nodes[*kdiv].outputs[0];
    const std::string gamma = mul_g.inputs[0] == normed ? mul_g.inputs[1] : mul_g.inputs[0];
    auto kb = sole(mul_g.outputs[0]);
    if (!vec_const(gamma) || !kb || !op_is(*kb, "Add") || c.m.nodes[*kb].inputs.size() != 2) continue;
    Node& add_b = c.m.nodes[*kb];
    const std::string beta = add_b.inputs[0] == mul_g.outputs[0] ? add_b.inputs[1] : add_b.inputs[0];
    if (!vec_const(beta) || c.m.initializers.at(beta).numel() != c.m.initializers.at(gamma).numel()) continue;
    for (size_t k : {k0, *ksub, *ksq, *kmean2, *kadd, *ksqrt, *kdiv, *kmul}) drop[k] = true;
    add_b.op_type = "LayerNormalization";
    add_b.inputs = {x, gamma, beta};
    add_b.attrs = {{"axis", int64_t{-1}}, {"epsilon", *eps}};
    ++c.layer_norm;
  }
  std::vector<Node> kept;
  for (size_t k = 0; k < c.m.nodes.size(); ++k)
    if (!drop[k]) kept.push_back(std::move(c.m.nodes[k]));
  c.m.nodes = std::move(kept);
}

// MatMul of an activation X [..., K] by a constant 2-D weight W [K, N] runs as one
// 2-D product: Flatten(X, axis=-1) @ W, reshaped back to [..., N]. tessel's
// matmul would otherwise broadcast W over X's batch dims (one copy of W per
// batch item); the 2-D product also lets the CPU kernel keep W packed.
void flatten_matmul(Ctx& c) {
  std::vector<Node> out;
  out.reserve(c.m.nodes.size());
  for (auto& n : c.m.nodes) {
    const bool match = n.op_type == "MatMul" && default_domain(n) && n.inputs.size() == 2 && n.outputs.size() == 1 &&
                       !n.inputs[0].empty() && !c.constant(n.inputs[0]) && c.constant(n.inputs[1]) &&
                       c.m.initializers.at(n.inputs[1]).dim() == 2 &&
                       is_floating(c.m.initializers.at(n.inputs[1]).dtype());
    // A 2-D X (rank known from shape inference) already makes a 2-D product.
    auto sh = match ? c.m.shapes.find(n.inputs[0]) : c.m.shapes.end();
    if (!match || (sh != c.m.shapes.end() && sh->second.has_shape && sh->second.shape.size() == 2)) {
      out.push_back(std::move(n));
      continue;
    }
    const int64_t cols = c.m.initializers.at(n.inputs[1]).shape()[1];
    const std::string x = n.inputs[0], y = n.outputs[0], base = n.name;
    const std::string flat = c.fresh(base + "/flat"), prod = c.fresh(base + "/2d"), lead = c.fresh(base + "/lead"),
                      ncol = c.fresh(base + "/N"), shape = c.fresh(base + "/shape");
    c.m.initializers[ncol] = from_vector(std::vector<int64_t>{cols}, {1});
    auto node = [&](const char* op, std::vector<std::string> in, std::string o, std::map<std::string, Attr> attrs) {
      Node k;
      k.name = c.fresh(base + "/" + op);
      k.op_type = op;
      k.inputs = std::move(in);
      k.outputs = {std::move(o)};
      k.attrs = std::move(attrs);
      out.push_back(std::move(k));
    };
    node("Flatten", {x}, flat, {{"axis", int64_t{-1}}});
    n.inputs[0] = flat;
    n.outputs[0] = prod;
    out.push_back(std::move(n));
    node("Shape", {x}, lead, {{"end", int64_t{-1}}});
    node("Concat", {lead, ncol}, shape, {{"axis", int64_t{0}}});
    node("Reshape", {prod, shape}, y, {{"allowzero", int64_t{1}}});
    ++c.matmul2d;
  }
  c.m.nodes = std::move(out);
}

// Nodes none of whose outputs is used (ONNX ops have no side effects), then the
// initializers nothing reads any more.
void eliminate_dead(Ctx& c) {
  auto uses = use_counts(c.m);
  for (size_t k = c.m.nodes.size(); k-- > 0;) {
    Node& n = c.m.nodes[k];
    bool used = false;
    for (const auto& o : n.outputs) used = used || (!o.empty() && uses[o] > 0);
    if (used) continue;
    for (const auto& i : n.inputs)
      if (!i.empty()) --uses[i];
    n.op_type.clear();  // marks it dropped
    ++c.dead;
  }
  std::vector<Node> kept;
  for (auto& n : c.m.nodes)
    if (!n.op_type.empty()) kept.push_back(std::move(n));
  c.m.nodes = std::move(kept);
  // Graph inputs with a default value stay even when unused (they can be fed).
  for (auto it = c.m.initializers.begin(); it != c.m.initializers.end();) {
    if (!c.graph_inputs.count(it->first) && uses[it->first] == 0) it = c.m.initializers.erase(it);
    else ++it;
  }
}

}  // namespace

namespace {
using namespace passes;
// The weights of Conv, MatMul and Gemm never change after loading: the CPU
// kernels keep them in the layout their primitive prefers (not a graph
// rewrite: always on).
void mark_constant_weights(const Model::Impl& m) {
  std::unordered_set<std::string> fed;
  for (const auto& v : m.inputs) fed.insert(v.name);
  for (const auto& n : m.nodes) {
    const bool fused = n.domain == kFusedDomain && (n.op_type == "FusedConv" || n.op_type == "FusedMatMul");
    if (((n.op_type != "Conv" && n.op_type != "MatMul" && n.op_type != "Gemm") || !default_domain(n)) && !fused) continue;
    if (n.inputs.size() < 2 || fed.count(n.inputs[1]))
      continue;
    auto it = m.initializers.find(n.inputs[1]);
    if (it != m.initializers.end() && it->second.device().type == DeviceType::CPU)
      cpu::mark_constant_weight(it->second);
  }
}

void run_passes(Model::Impl& m) {
  if (!passes_enabled()) return;
  Ctx c(m);
  fold_constants(c);
  if (!c.subgraphs) {
    fold_conv_bn(c);
    fuse_gelu(c);
    fuse_layer_norm(c);
    eliminate_dead(c);
    const char* fuse = std::getenv("TESSEL_ONNX_FUSE");
    const bool fused_ops = !(fuse && std::string(fuse) == "0");
    if (fused_ops) fuse_attention(c);
    if (fused_ops) fuse_matmul(c);
    flatten_matmul(c);
    if (fused_ops) fuse_conv(c);
    if (fused_ops) block_conv_chains(c);
  }
  const char* v = std::getenv("TESSEL_ONNX_PASSES_VERBOSE");
  if (v && std::string(v) == "1")
    std::fprintf(stderr, "[onnx.passes] %s: %d constant nodes folded, %d Conv+BatchNormalization folded, %d GELU fused, %d LayerNorm fused, %d dead nodes removed, %d MatMul as 2-D, %d Conv+Add/activation fused, %d MatMul/Gemm+bias/activation fused, %d values kept blocked, %d attention fused%s\n",
                 m.source.c_str(), c.folded, c.conv_bn, c.gelu, c.layer_norm, c.dead, c.matmul2d, c.conv_fused, c.matmul_fused,
                 c.blocked, c.attention, c.subgraphs ? " (graph has subgraphs: only constant folding)" : "");
}
}  // namespace

void optimize(Model::Impl& m) {
  run_passes(m);
  mark_constant_weights(m);
  prepare_fused_nodes(m);
  prepare_tree_nodes(m.nodes);
  prepare_svm_nodes(m.nodes);
  prepare_run(m);
}

}  // namespace tessel::onnx
