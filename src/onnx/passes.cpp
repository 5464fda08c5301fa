// Graph passes run once after loading: constant folding, Conv+BatchNormalization
// folding, GELU and LayerNorm pattern fusion, MatMul as 2-D, dead-node elimination. Every pass keeps the graph's results (within
// float rounding of the folded weights); TESSEL_ONNX_PASSES=0 turns them off,
// TESSEL_ONNX_PASSES_VERBOSE=1 prints what they did (stderr) at load.
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
#include "kernels/cpu/conv_fused.h"
#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

bool passes_enabled() {
  const char* e = std::getenv("TESSEL_ONNX_PASSES");
  return !(e && std::string(e) == "0");
}

// The attribute kinds up to list-of-strings are plain values; any later
// alternative of Attr (GRAPH, GRAPHS) carries a subgraph.
constexpr size_t kPlainAttrKinds = 7;

bool has_subgraph(const Node& n) {
  if (n.op_type == "If" || n.op_type == "Loop" || n.op_type == "Scan") return true;
  for (const auto& [k, a] : n.attrs)
    if (a.index() >= kPlainAttrKinds) return true;
  return false;
}

bool default_domain(const Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }

// Ops whose result is not a function of their inputs.
bool nondeterministic(const std::string& op) {
  return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" || op == "RandomUniformLike" ||
         op == "Multinomial" || op == "Bernoulli" || op == "Dropout";
}

struct Ctx {
  Model::Impl& m;
  int folded = 0, conv_bn = 0, gelu = 0, layer_norm = 0, matmul2d = 0, dead = 0, conv_fused = 0, matmul_fused = 0,
      blocked = 0, attention = 0;  // what each pass did (TESSEL_ONNX_PASSES_VERBOSE)
  std::unordered_set<std::string> graph_inputs;  // fed at run time: never constant
  std::unordered_set<std::string> names;         // every value name, to make fresh ones
  bool subgraphs = false;

  explicit Ctx(Model::Impl& g) : m(g) {
    for (const auto& v : m.inputs) graph_inputs.insert(v.name);
    for (const auto& [n, t] : m.initializers) names.insert(n);
    for (const auto& n : m.nodes) {
      subgraphs = subgraphs || has_subgraph(n);
      for (const auto& o : n.outputs) names.insert(o);
    }
  }
  bool constant(const std::string& name) const {
    return m.initializers.count(name) && !graph_inputs.count(name);
  }
  std::string fresh(const std::string& base) {
    std::string s = base;
    for (int k = 1; names.count(s); ++k) s = base + "_" + std::to_string(k);
    names.insert(s);
    return s;
  }
};

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

// The value of a one-element float constant, if `name` is one.
std::optional<double> scalar_const(const Ctx& c, const std::string& name) {
  if (name.empty() || !c.constant(name)) return std::nullopt;
  const Tensor& t = c.m.initializers.at(name);
  if (!is_floating(t.dtype()) || t.numel() != 1) return std::nullopt;
  return t.to(DType::Float64).contiguous().data<double>()[0];
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

// Use counts, consumers and a drop mask over the nodes, shared by the fusions.
struct Chains {
  Model::Impl& m;
  std::unordered_map<std::string, int> uses;
  std::unordered_multimap<std::string, size_t> consumers;
  std::vector<bool> drop;
  explicit Chains(Model::Impl& model) : m(model), uses(use_counts(model)), drop(model.nodes.size(), false) {
    for (size_t k = 0; k < m.nodes.size(); ++k)
      for (const auto& i : m.nodes[k].inputs) consumers.emplace(i, k);
  }
  // The only consumer of `v`, unless a fused chain already took it (Add(conv1, conv2): only one conv takes it).
  std::optional<size_t> sole(const std::string& v) {
    if (uses[v] != 1) return std::nullopt;
    auto it = consumers.find(v);
    if (it == consumers.end() || drop[it->second] || m.nodes[it->second].domain == kFusedDomain) return std::nullopt;
    return it->second;
  }
  bool plain(size_t k, const char* op) const {
    const Node& n = m.nodes[k];
    return n.op_type == op && default_domain(n) && n.outputs.size() == 1 && !n.outputs[0].empty();
  }
  void compact() {  // removes the dropped nodes
    std::vector<Node> kept;
    for (size_t k = 0; k < m.nodes.size(); ++k)
      if (!drop[k]) kept.push_back(std::move(m.nodes[k]));
    m.nodes = std::move(kept);
  }
};

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
}

}  // namespace tessel::onnx
