// Memory estimate by liveness: with the dims inferred at load (shape_inference.cpp)
// evaluated for one feed's shapes, the bytes of intermediates alive at each step
// of the graph as it runs now (each value freed after its last use, make_plan).
// It reports; it does not change how ops allocate.
#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

// The value of a symbolic dim for the bound symbols, or -1 (unknown or overflow).
int64_t evaluate(const SymDim& d, const std::map<std::string, int64_t>& syms) {
  if (!d.known) return -1;
  int64_t total = 0;
  for (const auto& [mono, c] : d.terms) {
    int64_t v = c;
    for (const auto& s : mono) {
      auto it = syms.find(s);
      if (it == syms.end() || __builtin_mul_overflow(v, it->second, &v)) return -1;
    }
    if (__builtin_add_overflow(total, v, &total)) return -1;
  }
  return total < 0 ? -1 : total;
}

}  // namespace

MemoryStats Model::memory_stats() const {
  const auto s = impl_->pool->stats();
  return {s.hits, s.misses, s.free_bytes};
}

MemoryEstimate Model::memory_estimate(const NamedShapes& input_shapes) const {
  const Impl& m = *impl_;
  // Symbols bound by the declared inputs' named dims.
  std::map<std::string, int64_t> syms;
  for (const auto& [name, shape] : input_shapes) {
    const ValueInfo* info = nullptr;
    for (const auto& v : m.inputs)
      if (v.name == name) info = &v;
    if (!info) fail<ValueError>("onnx.memory_estimate", "'", name, "' is not an input of the model");
    if (!info->has_shape) continue;
    if (info->shape.size() != shape.size())
      fail<ValueError>("onnx.memory_estimate", "input '", name, "' has ", info->shape.size(), " dims, got shape ",
                       shape);
    for (size_t k = 0; k < shape.size(); ++k) {
      if (shape[k] < 0) fail<ValueError>("onnx.memory_estimate", "input '", name, "' has a negative dim: ", shape);
      const auto* s = std::get_if<std::string>(&info->shape[k]);
      if (!s || s->empty()) continue;
      auto [it, fresh] = syms.emplace(*s, shape[k]);
      if (!fresh && it->second != shape[k])
        fail<ValueError>("onnx.memory_estimate", "dim '", *s, "' is ", it->second, " in one input and ", shape[k],
                         " in input '", name, "'");
    }
  }
  auto bytes_of = [&](const std::string& name) -> int64_t {
    auto it = m.shapes.find(name);
    if (it == m.shapes.end() || !it->second.dtype || !it->second.has_shape || it->second.sequence) return -1;
    int64_t n = static_cast<int64_t>(itemsize(*it->second.dtype));
    for (const auto& d : it->second.shape) {
      const int64_t v = evaluate(d, syms);
      if (v < 0 || __builtin_mul_overflow(n, v, &n)) return -1;
    }
    return n;
  };
  MemoryEstimate est;
  const Plan plan = make_plan(m);
  std::unordered_map<std::string, int64_t> live;
  int64_t now = 0;
  for (size_t k = 0; k < m.nodes.size(); ++k) {
    // A node's outputs are allocated while its inputs are still alive.
    for (const auto& o : m.nodes[k].outputs) {
      if (o.empty()) continue;
      const int64_t b = bytes_of(o);
      if (b < 0) {
        est.unknown.push_back(o);
        continue;
      }
      live[o] = b;
      now += b;
      est.total_bytes += b;
    }
    if (now > est.peak_bytes) {
      est.peak_bytes = now;
      est.peak_node = m.nodes[k].name;
    }
    for (const auto& name : plan.release[k]) {
      auto it = live.find(name);
      if (it == live.end()) continue;
      now -= it->second;
      live.erase(it);
    }
  }
  return est;
}

}  // namespace tessel::onnx
