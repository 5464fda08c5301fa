#pragma once
// What the graph passes share (passes.cpp: folding, patterns, planning;
// passes_fusion.cpp: the fusions that create ai.tessel nodes): the pass
// context over the model and the use/consumer bookkeeping of the fusions.
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "src/onnx/internal.h"

namespace tessel::onnx::passes {

// Whether a node carries a subgraph (If/Loop/Scan, or a GRAPH(S) attribute).
bool has_subgraph(const Node& n);
inline bool default_domain(const Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }

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

// Uses of each value by the nodes and the graph outputs.
std::unordered_map<std::string, int> use_counts(const Model::Impl& m);
// The float32 constant `name` (1-D of `numel` elements unless numel < 0), else nullptr.
const Tensor* const_f32(const Ctx& c, const std::string& name, int64_t numel);
// The value of a one-element float constant, if `name` is one.
std::optional<double> scalar_const(const Ctx& c, const std::string& name);

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

// The fusions (passes_fusion.cpp), in the order run_passes calls them.
void fuse_attention(Ctx& c);
void fuse_matmul(Ctx& c);
void fuse_conv(Ctx& c);
void block_conv_chains(Ctx& c);

}  // namespace tessel::onnx::passes
