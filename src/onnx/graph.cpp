// Runs a loaded ONNX graph: nodes in topological order, each through the op
// table (ops_*.cpp) built on tessel's own ops; values freed after their last use.
// The main graph and the subgraphs of control-flow ops share one executor; a
// subgraph reads the values of its enclosing graphs through a chain of scopes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <tuple>
#include <unordered_set>

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

std::vector<double> Node::floats(const std::string& a, std::vector<double> dflt) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<std::vector<double>>(&it->second)) return *v;
  error("attribute '", a, "' must be a list of floats");
}
std::vector<std::string> Node::strings(const std::string& a, std::vector<std::string> dflt) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) return dflt;
  if (auto* v = std::get_if<std::vector<std::string>>(&it->second)) return *v;
  error("attribute '", a, "' must be a list of strings");
}
const Graph& Node::graph(const std::string& a) const {
  auto it = attrs.find(a);
  if (it == attrs.end()) error("attribute '", a, "' (a graph) is required");
  if (auto* v = std::get_if<GraphPtr>(&it->second)) return **v;
  error("attribute '", a, "' must be a graph");
}

const Tensor& input(const Node& n, const Inputs& in, size_t k) {
  if (k >= in.size() || !in[k]) n.error("input ", k, " is required but missing");
  return *in[k];
}

std::optional<Tensor> opt(const Inputs& in, size_t k) {
  if (k < in.size() && in[k]) return in[k];
  return std::nullopt;
}

int64_t norm_axis(const Node& n, int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank) n.error(what, " ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

Tensor from_ints(const std::vector<int64_t>& v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, TensorOptions(DType::Int64));
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

std::vector<double> host_doubles(const Tensor& t) {
  Tensor c = t.to(DType::Float64).contiguous();
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.numel());
}

void check_size(const Node& n, const Shape& s, DType dt) {
  int64_t total = static_cast<int64_t>(itemsize(dt));
  for (int64_t d : s) {
    if (d < 0) n.error("negative size in output shape ", s);
    if (d != 0 && total > kMaxBytes / d) n.error("output shape ", s, " is too large (over 16 GiB)");
    total *= d;
  }
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
    register_attention_ops(t);
    register_loss_ops(t);
    register_quant_ops(t);
    register_signal_ops(t);
    register_random_ops(t);
    register_text_ops(t);
    register_image_ops(t);
    register_ml_ops(t);
    register_fused_ops(t);
    return t;
  }();
  return table;
}

const std::map<std::string, ValueOpFn>& string_op_table() {
  static const std::map<std::string, ValueOpFn> table = [] {
    std::map<std::string, ValueOpFn> t;
    register_string_ops(t);
    return t;
  }();
  return table;
}

const std::map<std::string, ValueOpFn>& value_op_table() {
  static const std::map<std::string, ValueOpFn> table = [] {
    std::map<std::string, ValueOpFn> t;
    register_control_ops(t);
    register_sequence_ops(t);
    register_ml_value_ops(t);
    return t;
  }();
  return table;
}

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent) {
    auto it = s->values.find(name);
    if (it != s->values.end()) return &it->second;
    if (s->constants) {
      auto c = s->constants->find(name);
      if (c != s->constants->end()) return &c->second;
    }
  }
  return nullptr;
}

namespace {
bool fixed(const Dim& d, int64_t* v) {
  if (auto* p = std::get_if<int64_t>(&d)) {
    *v = *p;
    return true;
  }
  return false;
}

const Value& lookup(const Node& n, const Scope& scope, const std::string& name) {
  const Value* v = scope.find(name);
  if (!v) n.error("value '", name, "' is not defined at run time");  // the loader rules this out
  return *v;
}

// The op table entry of a node: default-domain ops are keyed by op type,
// ai.onnx.ml ones as "ai.onnx.ml.<op type>", the fused nodes that graph passes
// create (domain ai.tessel) as "ai.tessel.<op type>"; both null when none.
std::pair<const OpFn*, const ValueOpFn*> resolve(const Node& n) {
  const bool ml = n.domain == "ai.onnx.ml";
  const bool fused = n.domain == kFusedDomain;
  if (!n.domain.empty() && n.domain != "ai.onnx" && !ml && !fused) return {nullptr, nullptr};
  const std::string key = ml ? "ai.onnx.ml." + n.op_type : fused ? std::string(kFusedDomain) + "." + n.op_type : n.op_type;
  const auto& vtable = value_op_table();
  if (auto vit = vtable.find(key); vit != vtable.end()) return {nullptr, &vit->second};
  const auto& table = op_table();
  if (auto it = table.find(key); it != table.end()) return {&it->second, nullptr};
  return {nullptr, nullptr};
}

// Runs node k of the plan, storing its outputs in `scope`. The tensors that
// die at this node and that it reads once (plan.movable) are moved out of the
// scope into its inputs: an op then holds their only reference and may write
// its result into one of them (FusedConv's residual).
void run_node(const Node& n, Scope& scope, const OpContext& ctx, const Plan& plan, size_t k) {
  const OpFn* fn = plan.fn[k];
  const ValueOpFn* vfn = plan.vfn[k];
  const ValueOpFn* sfn = plan.sfn[k];
  if (!fn && !vfn && !sfn) {
    const bool ml = n.domain == "ai.onnx.ml";
    if (!n.domain.empty() && n.domain != "ai.onnx" && !ml && n.domain != kFusedDomain)
      throw NotImplementedError(detail::cat("[onnx.run] node '", n.name, "': op ", n.domain, "::", n.op_type,
                                            " of a custom domain is not supported"));
    throw NotImplementedError(detail::cat("[onnx.run] node '", n.name, "': op '", ml ? "ai.onnx.ml::" : "",
                                          n.op_type, "' is not supported by tessel yet"));
  }
  const std::vector<char>& movable = plan.movable[k];
  std::vector<Value> out;
  auto value_inputs = [&] {
    ValueInputs in;
    for (const auto& name : n.inputs) {
      if (name.empty()) in.emplace_back(std::nullopt);
      else in.emplace_back(lookup(n, scope, name));
    }
    return in;
  };
  auto not_tensor = [&](size_t i, const std::string& name, const Value& v) {
    if (std::holds_alternative<StringPtr>(v))
      n.error<TypeError>("input ", i, " ('", name, "') is a string tensor; op ", n.op_type,
                         " takes numeric tensors only");
    n.error<TypeError>("input ", i, " ('", name, "') is ", value_kind(v), "; this op takes tensors");
  };
  try {
    // The string version runs when the op has no tensor one, when an input is a
    // string, or when the node makes strings from numbers (Cast to string).
    bool strings = sfn && (!fn || string_output(n));
    if (sfn && !strings)
      for (const auto& name : n.inputs)
        if (!name.empty() && std::holds_alternative<StringPtr>(lookup(n, scope, name))) strings = true;
    if (strings) {
      out = (*sfn)(n, value_inputs(), ctx);
    } else if (vfn) {
      out = (*vfn)(n, value_inputs(), ctx);
    } else {
      Inputs in;
      in.reserve(n.inputs.size());
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const auto& name = n.inputs[i];
        if (name.empty()) {
          in.emplace_back(std::nullopt);
          continue;
        }
        if (movable[i]) {  // only a value of this scope (not a constant or an enclosing graph's) moves
          auto own = scope.values.find(name);
          if (own != scope.values.end()) {
            Tensor* t = std::get_if<Tensor>(&own->second);
            if (!t) not_tensor(i, name, own->second);
            in.emplace_back(std::move(*t));  // erased after the node anyway
            continue;
          }
        }
        const Value& v = lookup(n, scope, name);
        const Tensor* t = std::get_if<Tensor>(&v);
        if (!t) not_tensor(i, name, v);
        in.emplace_back(*t);
      }
      out.reserve(n.outputs.size());
      for (auto& t : (*fn)(n, in, ctx)) out.emplace_back(std::move(t));
    }
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
    scope.values[n.outputs[j]] = std::move(out[j]);
  }
}

// TESSEL_ONNX_PROFILE=1: time per op type over every run of every model in the
// process, printed to stderr at exit (a node running a subgraph includes its body);
// TESSEL_ONNX_PROFILE=node: the same per node ("#index op_type name"), to compare
// layer by layer with onnxruntime's profiler. "ms/call" leaves out each key's
// first call (primitive creation, weight reorders and transforms), shown apart.
struct OpProfile {
  const int mode = [] {
    const char* e = std::getenv("TESSEL_ONNX_PROFILE");
    const std::string v = e ? e : "";
    return v == "1" ? 1 : v == "node" ? 2 : 0;
  }();
  const bool on = mode != 0;
  struct Entry {
    double sec = 0, first = 0;
    int64_t calls = 0;
  };
  std::mutex mu;
  std::map<std::string, Entry> by_op;
  void add(const std::string& key, double sec) {
    std::lock_guard<std::mutex> lock(mu);
    Entry& e = by_op[key];
    if (e.calls++ == 0) e.first = sec;
    e.sec += sec;
  }
  ~OpProfile() {
    if (by_op.empty()) return;
    std::vector<std::pair<double, std::string>> rows;
    double total = 0;
    for (const auto& [op, e] : by_op) rows.emplace_back(e.sec, op), total += e.sec;
    std::sort(rows.rbegin(), rows.rend());
    std::fprintf(stderr, "[onnx.profile] time per %s (all runs):\n%-28s %12s %8s %10s %10s %6s\n",
                 mode == 2 ? "node" : "op type", "op", "total ms", "calls", "ms/call", "first ms", "%");
    for (const auto& [sec, op] : rows) {
      const Entry& e = by_op[op];
      const double per_call = e.calls > 1 ? (e.sec - e.first) / static_cast<double>(e.calls - 1) : e.sec;
      std::fprintf(stderr, "%-28s %12.3f %8lld %10.4f %10.4f %6.1f\n", op.c_str(), sec * 1e3,
                   static_cast<long long>(e.calls), per_call * 1e3, e.first * 1e3, total > 0 ? 100 * sec / total : 0.0);
    }
  }
};
OpProfile& op_profile() {
  static OpProfile p;
  return p;
}

// The shared executor: `scope` holds the graph's initializers and bound inputs.
std::vector<Value> execute(const Graph& g, const Plan& plan, Scope& scope, int64_t opset) {
  const OpContext ctx{opset, &scope};
  OpProfile& prof = op_profile();
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    if (prof.on) {
      const auto t0 = std::chrono::steady_clock::now();
      run_node(g.nodes[k], scope, ctx, plan, k);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const Node& n = g.nodes[k];
      std::string key = n.domain.empty() || n.domain == "ai.onnx" ? n.op_type : n.domain + "." + n.op_type;
      if (prof.mode == 2) key = detail::cat("#", k, " ", key, " ", n.name);
      prof.add(key, sec);
    } else {
      run_node(g.nodes[k], scope, ctx, plan, k);
    }
    for (const auto& name : plan.release[k]) scope.values.erase(name);
  }
  std::vector<Value> result;
  for (const auto& o : g.outputs) {
    const Value* v = scope.find(o.name);
    if (!v) throw ValueError(detail::cat("[onnx.run] graph '", g.name, "' output '", o.name, "' was not computed"));
    result.push_back(*v);
  }
  return result;
}

// The storages of the weights of `g` and of its subgraphs, at any depth.
void weight_storages(const Graph& g, std::set<const void*>& out) {
  for (const auto& [name, t] : g.initializers) out.insert(t.storage().get());
  for (const auto& n : g.nodes)
    for (const auto& [name, a] : n.attrs) {
      if (auto* sg = std::get_if<GraphPtr>(&a)) weight_storages(**sg, out);
      if (auto* sgs = std::get_if<std::vector<GraphPtr>>(&a))
        for (const auto& sg2 : *sgs) weight_storages(*sg2, out);
    }
}

Scope make_scope(const Graph& g, const Scope* parent) {
  Scope s;
  s.graph = &g;
  s.parent = parent;
  for (const auto& [name, t] : g.initializers) s.values.emplace(name, t);
  for (const auto& [name, t] : g.string_initializers) s.values.emplace(name, string_value(t));
  return s;
}
}  // namespace

Plan make_plan(const Graph& g) {
  // Last use of each value (a subgraph's reads count as reads of its node), so
  // intermediates are released early; the graph's outputs stay.
  std::unordered_map<std::string, size_t> last_use;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    for (const auto& i : g.nodes[k].inputs)
      if (!i.empty()) last_use[i] = k;
    for (const auto& i : g.nodes[k].captures) last_use[i] = k;
  }
  std::unordered_set<std::string> keep;
  for (const auto& o : g.outputs) keep.insert(o.name);
  Plan p;
  p.release.resize(g.nodes.size());
  for (const auto& [name, k] : last_use)
    if (!keep.count(name)) p.release[k].push_back(name);
  p.fn.resize(g.nodes.size());
  p.vfn.resize(g.nodes.size());
  p.sfn.resize(g.nodes.size(), nullptr);
  p.movable.resize(g.nodes.size());
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const Node& n = g.nodes[k];
    std::tie(p.fn[k], p.vfn[k]) = resolve(n);
    if (n.domain.empty() || n.domain == "ai.onnx" || n.domain == "ai.onnx.ml") {
      const auto& st = string_op_table();
      auto it = st.find(n.domain == "ai.onnx.ml" ? "ai.onnx.ml." + n.op_type : n.op_type);
      if (it != st.end()) p.sfn[k] = &it->second;
    }
    p.movable[k].assign(n.inputs.size(), 0);
    const auto& dying = p.release[k];
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const auto& name = n.inputs[i];
      p.movable[k][i] = !name.empty() && n.captures.empty() &&
                        std::find(dying.begin(), dying.end(), name) != dying.end() &&
                        std::count(n.inputs.begin(), n.inputs.end(), name) == 1;
    }
  }
  return p;
}

std::vector<Value> run_subgraph(const Node& owner, const std::string& attr, const Graph& g, const Plan& plan,
                                std::vector<Value> inputs, const OpContext& ctx) {
  if (inputs.size() != g.inputs.size())
    owner.error("subgraph '", attr, "' declares ", g.inputs.size(), " inputs but is given ", inputs.size());
  Scope scope = make_scope(g, ctx.scope);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const auto& want = g.input_dtypes[k];
    if (const Tensor* t = std::get_if<Tensor>(&inputs[k]); t && want && t->dtype() != *want)
      owner.error<TypeError>("subgraph '", attr, "' input '", g.inputs[k].name, "' must be ", g.inputs[k].onnx_type,
                             ", got ", t->dtype());
    scope.values[g.inputs[k].name] = std::move(inputs[k]);
  }
  return execute(g, plan, scope, ctx.opset);
}

void prepare_run(Model::Impl& m) {
  m.plan = make_plan(m);
  m.constants.clear();
  for (const auto& [name, t] : m.initializers) m.constants.emplace(name, t);
  for (const auto& [name, t] : m.string_initializers) m.constants.emplace(name, string_value(t));
  m.weight_storages.clear();
  weight_storages(m, m.weight_storages);
}

namespace {
std::string shape_str(const Shape& s) { return detail::cat(s); }

std::string run_kind(const RunValue& v) {
  if (auto* t = std::get_if<Tensor>(&v)) return detail::cat("a ", t->dtype(), " tensor");
  if (std::holds_alternative<StringTensor>(v)) return "strings";
  if (std::holds_alternative<TensorSequence>(v)) return "a sequence";
  if (std::holds_alternative<ValueMap>(v)) return "a map";
  return "no value (an empty optional)";
}

// A feed of a sequence or optional input as a runtime value; nullopt when it is a
// plain tensor or string tensor for an optional(tensor(...)) input (checked as one).
std::optional<Value> feed_value(const ValueInfo& info, const RunValue& fv) {
  const std::string& name = info.name;
  if (std::holds_alternative<NoValue>(fv)) {
    if (!info.is_optional())
      fail<TypeError>("onnx.run", "input '", name, "' is ", info.onnx_type, " and must have a value");
    return Value{NoValue{}};
  }
  if (info.is_map()) {  // map(int64 | string, tensor(T)): keys of the declared kind, values of T
    const auto* mv = std::get_if<ValueMap>(&fv);
    if (!mv) fail<TypeError>("onnx.run", "input '", name, "' must be ", info.onnx_type, ", got ", run_kind(fv));
    const bool string_keys = info.onnx_type.rfind("map(string,", 0) == 0;
    if (mv->by_string != string_keys)
      fail<TypeError>("onnx.run", "input '", name, "' is ", info.onnx_type, " but the map has ",
                      mv->by_string ? "string" : "int64", " keys");
    const size_t n = mv->by_string ? mv->string_keys.size() : mv->int_keys.size();
    if (!mv->values.defined() || mv->values.dim() != 1 || static_cast<size_t>(mv->values.numel()) != n)
      fail<ValueError>("onnx.run", "input '", name, "': the map's values must be 1-D, one per key (", n, " keys)");
    if (mv->values.dtype() != info.dtype)
      fail<TypeError>("onnx.run", "input '", name, "' is ", info.onnx_type, " but the map's values are ",
                      mv->values.dtype());
    return Value{std::make_shared<const ValueMap>(*mv)};
  }
  if (std::holds_alternative<ValueMap>(fv))
    fail<TypeError>("onnx.run", "input '", name, "' must be ", info.onnx_type, ", got a map");
  const bool want_seq = info.is_sequence() || info.onnx_type.rfind("optional(seq(", 0) == 0;
  const auto* ts = std::get_if<TensorSequence>(&fv);
  if (want_seq != (ts != nullptr))
    fail<TypeError>("onnx.run", "input '", name, "' must be ", info.onnx_type, ", got ", run_kind(fv));
  if (!ts) return std::nullopt;
  Sequence s;
  s.strings = info.onnx_type.find("tensor(string)") != std::string::npos;
  s.elem = info.dtype;
  for (size_t k = 0; k < ts->items.size(); ++k) {
    const auto& item = ts->items[k];
    if (std::holds_alternative<ValueMap>(item))
      fail<NotImplementedError>("onnx.run", "input '", name, "' item ", k, " is a map; maps are outputs only (ZipMap)");
    if (auto* t = std::get_if<Tensor>(&item)) {
      if (s.strings || t->dtype() != s.elem)
        fail<TypeError>("onnx.run", "input '", name, "' item ", k, " is a ", t->dtype(), " tensor; the input is ",
                        info.onnx_type);
      s.items.emplace_back(*t);
    } else {
      const auto& st = std::get<StringTensor>(item);
      if (!s.strings)
        fail<TypeError>("onnx.run", "input '", name, "' item ", k, " holds strings; the input is ", info.onnx_type);
      if (static_cast<int64_t>(st.data.size()) != st.numel())
        fail<ValueError>("onnx.run", "input '", name, "' item ", k, " has shape ", shape_str(st.shape), " but ",
                         st.data.size(), " strings");
      s.items.emplace_back(string_value(st));
    }
  }
  return Value{std::make_shared<const Sequence>(std::move(s))};
}
}  // namespace

NamedValues Model::run_values(const NamedValues& feed) const {
  const Impl& m = *impl_;
  Scope scope;
  scope.graph = &m;
  scope.constants = &m.constants;
  std::set<std::string> fed;
  for (const auto& [name, fv] : feed) {
    const ValueInfo* info = nullptr;
    for (const auto& v : m.inputs)
      if (v.name == name) info = &v;
    const bool init_num = m.initializers.count(name) != 0, init_str = m.string_initializers.count(name) != 0;
    if (!info && !init_num && !init_str) {
      std::string names;
      for (const auto& v : m.inputs) names += (names.empty() ? "'" : ", '") + v.name + "'";
      fail<ValueError>("onnx.run", "'", name, "' is not an input of the model (inputs: ", names, ")");
    }
    if (!fed.insert(name).second) fail<ValueError>("onnx.run", "input '", name, "' is fed twice");
    if (info && (info->is_sequence() || info->is_optional() || info->is_map() || !std::holds_alternative<Tensor>(fv))) {
      if (auto v = feed_value(*info, fv)) {  // sequences, optionals (null: a tensor of an optional(tensor))
        scope.values[name] = std::move(*v);
        continue;
      }
    }
    const Tensor* t = std::get_if<Tensor>(&fv);
    const StringTensor* st = std::get_if<StringTensor>(&fv);
    const bool want_string = info ? info->is_string() : init_str;
    if (want_string && !st)
      fail<TypeError>("onnx.run", "input '", name, "' is tensor(string) and must be fed strings, got ", run_kind(fv));
    if (!want_string && !t)
      fail<TypeError>("onnx.run", "input '", name, "' must be ", info ? info->onnx_type : std::string("numeric"),
                      ", got ", run_kind(fv));
    Shape shape = t ? t->shape() : st->shape;
    if (st) {
      for (auto d : st->shape)
        if (d < 0) fail<ValueError>("onnx.run", "input '", name, "' has a negative dim in shape ", shape_str(shape));
      if (static_cast<int64_t>(st->data.size()) != st->numel())
        fail<ValueError>("onnx.run", "input '", name, "' has shape ", shape_str(shape), " (", st->numel(),
                         " elements) but ", st->data.size(), " strings");
    }
    if (info) {
      if (t && t->dtype() != info->dtype)
        fail<TypeError>("onnx.run", "input '", name, "' must be ", info->onnx_type, " (", info->dtype, "), got ",
                        t->dtype());
      if (info->has_shape) {
        if (shape.size() != info->shape.size())
          fail<ValueError>("onnx.run", "input '", name, "' must have ", info->shape.size(), " dims, got shape ",
                           shape_str(shape));
        for (size_t d = 0; d < info->shape.size(); ++d) {
          int64_t v = 0;
          if (fixed(info->shape[d], &v) && v != shape[d])
            fail<ValueError>("onnx.run", "input '", name, "' dim ", d, " must be ", v, ", got shape ",
                             shape_str(shape));
        }
      }
    }
    if (t) scope.values[name] = *t;
    else scope.values[name] = string_value(*st);
  }
  for (const auto& v : m.inputs)
    if (!fed.count(v.name)) fail<ValueError>("onnx.run", "input '", v.name, "' was not fed");

  std::vector<Value> values;
  {
    const detail::BufferPool::Scope pooled(m.pool);
    values = execute(m, m.plan, scope, m.opset);
  }
  // Outputs never alias the caller's inputs or the model's weights (Identity,
  // Reshape views): writing to a result must not change the model, as in onnxruntime.
  auto owned = [&](const Tensor& t) {
    const void* s = t.storage().get();
    if (m.weight_storages.count(s)) return true;
    for (const auto& [name, f] : feed) {
      if (auto* ft = std::get_if<Tensor>(&f); ft && ft->storage().get() == s) return true;
      if (auto* fs = std::get_if<TensorSequence>(&f))
        for (const auto& item : fs->items)
          if (auto* it = std::get_if<Tensor>(&item); it && it->storage().get() == s) return true;
    }
    return false;
  };
  NamedValues result;
  for (size_t k = 0; k < m.outputs.size(); ++k) {
    if (auto* sv = std::get_if<StringPtr>(&values[k])) {
      result.emplace_back(m.outputs[k].name, **sv);  // a copy: string values are shared
    } else if (auto* t = std::get_if<Tensor>(&values[k])) {
      result.emplace_back(m.outputs[k].name, owned(*t) ? t->clone() : *t);
    } else if (auto* seq = std::get_if<SequencePtr>(&values[k])) {
      TensorSequence out;
      for (const auto& item : (*seq)->items) {
        if (auto* it = std::get_if<Tensor>(&item)) out.items.emplace_back(owned(*it) ? it->clone() : *it);
        else if (auto* mp = std::get_if<MapPtr>(&item)) out.items.emplace_back(**mp);
        else out.items.emplace_back(*std::get<StringPtr>(item));
      }
      result.emplace_back(m.outputs[k].name, std::move(out));
    } else if (auto* mp = std::get_if<MapPtr>(&values[k])) {
      result.emplace_back(m.outputs[k].name, **mp);
    } else {
      result.emplace_back(m.outputs[k].name, NoValue{});
    }
  }
  return result;
}

NamedTensors Model::run(const NamedTensors& feed) const {
  NamedValues in;
  in.reserve(feed.size());
  for (const auto& [name, t] : feed) in.emplace_back(name, t);
  NamedTensors result;
  for (auto& [name, v] : run_values(in)) {
    Tensor* t = std::get_if<Tensor>(&v);
    if (!t)
      throw TypeError(detail::cat("[onnx.run] output '", name, "' is ", run_kind(v),
                                  "; use Model::run_values (Python: ts.onnx) to get it"));
    result.emplace_back(name, std::move(*t));
  }
  return result;
}

}  // namespace tessel::onnx
