// Runs a loaded ONNX graph: nodes in topological order, each through the op
// table (ops_*.cpp) built on tessel's own ops; values freed after their last use.
#include <set>

#include "src/onnx/internal.h"

namespace tessel::onnx {

int64_t Node::i(const std::string& a, int64_t dflt) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  error("attribute '", a, "' must be an int");
}
double Node::f(const std::string& a, double dflt) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<double>(&it->second)) return *v;
  error("attribute '", a, "' must be a float");
}
std::string Node::s(const std::string& a, const std::string& dflt) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<std::string>(&it->second)) return *v;
  error("attribute '", a, "' must be a string");
}
std::vector<int64_t> Node::ints(const std::string& a, std::vector<int64_t> dflt) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
  error("attribute '", a, "' must be a list of ints");
}

const Tensor& input(const Node& n, const Inputs& in, size_t k) {
  if (k >= in.size() || !in[k]) n.error("input ", k, " is required but missing");
  return *in[k];
}

std::vector<int64_t> int_values(const Node& n, const Tensor& t, const char* what) {
  if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32) n.error(what, " must be int64, got ", t.dtype());
  if (t.dim() > 1) n.error(what, " must be 1-D, got shape ", t.shape());
  Tensor c = t.to(DType::Int64).contiguous();
  const int64_t* p = c.data<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

const std::map<std::string, OpFn>& op_table() {
  static const std::map<std::string, OpFn> table = [] {
    std::map<std::string, OpFn> t;
    register_math_ops(t);
    register_nn_ops(t);
    register_shape_ops(t);
    register_elementwise_ops(t);
    register_reduce_ops(t);
    register_index_ops(t);
    register_rnn_ops(t);
    register_control_ops(t);
    return t;
  }();
  return table;
}

namespace {
bool fixed(const Dim& d, int64_t* v) {
  if (auto* p = std::get_if<int64_t>(&d)) {
    *v = *p;
    return true;
  }
  return false;
}
}  // namespace

NamedTensors Model::run(const NamedTensors& feed) const {
  const Impl& m = *impl_;
  std::map<std::string, Tensor> env(m.initializers);
  std::set<std::string> fed;
  for (const auto& [name, t] : feed) {
    const ValueInfo* info = nullptr;
    for (const auto& v : m.inputs)
      if (v.name == name) info = &v;
    if (!info && !m.initializers.count(name)) {
      std::string names;
      for (const auto& v : m.inputs) names += (names.empty() ? "'" : ", '") + v.name + "'";
      fail<ValueError>("onnx.run", "'", name, "' is not an input of the model (inputs: ", names, ")");
    }
    if (!fed.insert(name).second) fail<ValueError>("onnx.run", "input '", name, "' is fed twice");
    if (info) {
      if (t.dtype() != info->dtype)
        fail<TypeError>("onnx.run", "input '", name, "' must be ", info->onnx_type, " (", info->dtype, "), got ",
                        t.dtype());
      if (info->has_shape) {
        if (t.dim() != static_cast<int64_t>(info->shape.size()))
          fail<ValueError>("onnx.run", "input '", name, "' must have ", info->shape.size(), " dims, got shape ",
                           t.shape());
        for (size_t d = 0; d < info->shape.size(); ++d) {
          int64_t v = 0;
          if (fixed(info->shape[d], &v) && v != t.shape()[d])
            fail<ValueError>("onnx.run", "input '", name, "' dim ", d, " must be ", v, ", got shape ", t.shape());
        }
      }
    }
    env[name] = t;
  }
  for (const auto& v : m.inputs)
    if (!fed.count(v.name)) fail<ValueError>("onnx.run", "input '", v.name, "' was not fed");

  // Last use of each value, so intermediates are released early.
  std::map<std::string, size_t> last_use;
  for (size_t k = 0; k < m.nodes.size(); ++k)
    for (const auto& i : m.nodes[k].inputs) last_use[i] = k;
  std::set<std::string> keep;
  for (const auto& o : m.outputs) keep.insert(o.name);

  const auto& table = op_table();
  OpContext ctx{m.opset};
  for (size_t k = 0; k < m.nodes.size(); ++k) {
    const Node& n = m.nodes[k];
    if (!n.domain.empty() && n.domain != "ai.onnx")
      throw NotImplementedError(detail::cat("[onnx.run] node '", n.name, "': op ", n.domain, "::", n.op_type,
                                            " of a custom domain is not supported"));
    auto it = table.find(n.op_type);
    if (it == table.end())
      throw NotImplementedError(
          detail::cat("[onnx.run] node '", n.name, "': op '", n.op_type, "' is not supported by tessel yet"));
    Inputs in;
    for (const auto& name : n.inputs) {
      if (name.empty()) {
        in.emplace_back(std::nullopt);
        continue;
      }
      in.emplace_back(env.at(name));
    }
    std::vector<Tensor> out;
    try {
      out = it->second(n, in, ctx);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.rfind("[onnx.", 0) == 0) throw;
      // A tessel op's error, re-raised with the node that caused it.
      auto wrap = detail::cat("[onnx.", n.op_type, "] node '", n.name, "': ", msg);
      if (dynamic_cast<const TypeError*>(&e)) throw TypeError(wrap);
      if (dynamic_cast<const IndexError*>(&e)) throw IndexError(wrap);
      if (dynamic_cast<const NotImplementedError*>(&e)) throw NotImplementedError(wrap);
      throw ValueError(wrap);
    }
    for (size_t j = 0; j < n.outputs.size(); ++j) {
      if (n.outputs[j].empty()) continue;
      if (j >= out.size()) n.error<NotImplementedError>("output ", j, " ('", n.outputs[j], "') is not supported");
      env[n.outputs[j]] = out[j];
    }
    for (const auto& i : n.inputs) {
      auto lu = last_use.find(i);
      if (!i.empty() && lu != last_use.end() && lu->second == k && !keep.count(i) && !m.initializers.count(i))
        env.erase(i);
    }
  }
  // Outputs never alias the caller's inputs or the model's weights (Identity,
  // Reshape views): writing to a result must not change the model, as in onnxruntime.
  std::set<const void*> owned;
  for (const auto& [name, t] : feed) owned.insert(t.storage().get());
  for (const auto& [name, t] : m.initializers) owned.insert(t.storage().get());
  NamedTensors result;
  for (const auto& o : m.outputs) {
    Tensor t = env.at(o.name);
    result.emplace_back(o.name, owned.count(t.storage().get()) ? t.clone() : t);
  }
  return result;
}

}  // namespace tessel::onnx
