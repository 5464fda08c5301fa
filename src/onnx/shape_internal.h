// Shared by the shape-inference files: the inferred value (VS), the walk's
// environment, a node's inferred inputs (In), and the helpers the per-op rules
// use. shape_inference.cpp holds the walk, control flow and the public API;
// shape_rules.cpp the tensor, shape and elementwise rules and the dispatch by
// op type; shape_rules_nn.cpp conv, pooling, matmul, RNN and resize.
#pragma once

#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/onnx/internal.h"

namespace tessel::onnx::shape {

constexpr size_t kMaxTerms = 8;    // polynomials larger than this become unknown
constexpr size_t kMaxDegree = 6;   // so do monomials of higher degree
constexpr size_t kMaxRank = 64;    // shapes of higher rank are treated as unknown
constexpr int64_t kBig = std::numeric_limits<int64_t>::max();

inline SymDim unknown_dim() { return {}; }

using VS = ValueShape;
using Dims = std::vector<SymDim>;

// A contradiction that inference proves: raised to the user (as a TypeError
// when about dtypes, a ValueError otherwise).
struct Proven : std::runtime_error {
  bool type_error = false;
  Proven(const std::string& msg, bool type) : std::runtime_error(msg), type_error(type) {}
};

template <class... Args>
[[noreturn]] void prove(const Node& n, const Args&... args) {
  throw Proven(printable_utf8(detail::cat("[onnx.", n.op_type, "] node '", n.name, "': ", args...)), false);
}
template <class... Args>
[[noreturn]] void prove_type(const Node& n, const Args&... args) {
  throw Proven(printable_utf8(detail::cat("[onnx.", n.op_type, "] node '", n.name, "': ", args...)), true);
}

// A node that run time will refuse (an axis out of range, an attribute of the
// wrong opset): its outputs stay unknown and run time reports the error.
struct Invalid : std::exception {};


VS unknown();
VS tensor(std::optional<DType> dt, Dims shape);
VS rank_unknown(std::optional<DType> dt);
std::string show(const Dims& d);
std::string show(const VS& v);
bool fixed(const SymDim& d, int64_t* v);
SymDim numel(const Dims& d);
std::optional<int64_t> const_numel(const VS& v);
bool is_int(std::optional<DType> d);
std::optional<std::vector<int64_t>> const_ints(const VS& v);
void set_ints(VS& v, Dims values);
std::string onnx_type_name(DType d);
VS from_tensor(const Tensor& t);
VS from_info(const ValueInfo& info, const std::map<std::string, DType>& declared);

// ---- the inference walk ----

struct Env {
  const Env* parent = nullptr;
  std::unordered_map<std::string, VS> vals;
  std::unordered_map<std::string, std::vector<double>> floats;  // small float constants (Resize scales)
  const VS* find(const std::string& name) const {
    for (const Env* e = this; e; e = e->parent) {
      auto it = e->vals.find(name);
      if (it != e->vals.end()) return &it->second;
    }
    return nullptr;
  }
  const std::vector<double>* find_floats(const std::string& name) const {
    for (const Env* e = this; e; e = e->parent) {
      auto it = e->floats.find(name);
      if (it != e->floats.end()) return &it->second;
    }
    return nullptr;
  }
};

struct Ctx {
  int64_t opset;
  std::unordered_map<std::string, VS>& all;  // every value inferred (first definition wins)
};

struct In {
  const Node& n;
  std::vector<const VS*> v;  // nullptr: omitted
  const Env& env;
  int64_t opset;
  bool has(size_t k) const { return k < v.size() && v[k]; }
  const VS& operator[](size_t k) const {
    static const VS none;
    return has(k) ? *v[k] : none;
  }
  std::optional<std::vector<int64_t>> ints(size_t k) const { return has(k) ? const_ints(*v[k]) : std::nullopt; }
  const std::vector<double>* floats(size_t k) const {
    return k < n.inputs.size() && !n.inputs[k].empty() ? env.find_floats(n.inputs[k]) : nullptr;
  }
  const std::string& name(size_t k) const { return n.inputs[k]; }
};

std::optional<int64_t> axis_of(int64_t a, size_t rank);
SymDim unify(const In& in, const SymDim& a, const SymDim& b, const std::string& what);
std::optional<Dims> broadcast(const In& in, const Dims& a, const Dims& b);
std::optional<Dims> broadcast_all(const In& in, size_t first, size_t last);

// Contents of a broadcasting binary op on small integer values.
template <class F>
std::optional<Dims> ints_binary(const VS& a, const VS& b, F f) {
  if (!a.ints || !b.ints) return std::nullopt;
  const Dims &x = *a.ints, &y = *b.ints;
  if (x.size() != y.size() && x.size() != 1 && y.size() != 1) return std::nullopt;
  if (a.has_shape && b.has_shape && a.shape.size() > 1) return std::nullopt;
  const size_t m = std::max(x.size(), y.size());
  Dims r;
  for (size_t k = 0; k < m; ++k) r.push_back(f(x[x.size() == 1 ? 0 : k], y[y.size() == 1 ? 0 : k]));
  return r;
}

int equal_dims(const SymDim& a, const SymDim& b);
std::vector<VS> one(VS v);
std::optional<DType> dtype_attr(const Node& n, const char* a, std::optional<DType> dflt);
std::optional<std::vector<int64_t>> axes_of(const In& in, size_t k, int64_t attr_until, bool* given);

// shape_rules_nn.cpp
std::vector<VS> infer_conv(const In& in);
std::vector<VS> infer_conv_transpose(const In& in);
std::vector<VS> infer_pool(const In& in);
std::vector<VS> infer_matmul(const In& in, std::optional<DType> out_dt);
std::vector<VS> infer_gemm(const In& in);
std::vector<VS> infer_rnn(const In& in, size_t nstate);
std::vector<VS> infer_resize(const In& in);

// shape_rules.cpp: one node, dispatched by op type
std::vector<VS> infer_node(const In& in, Ctx& cx, Env& env);

// shape_inference.cpp: subgraphs (control flow) and constants
std::vector<VS> infer_graph(const Graph& g, Env& env, Ctx& cx, int64_t opset);
std::vector<VS> infer_if(const In& in, Ctx& cx);
std::vector<VS> infer_loop(const In& in, Ctx& cx);
std::vector<VS> infer_scan(const In& in, Ctx& cx);
std::vector<VS> infer_constant(const In& in, Env& env);

}  // namespace tessel::onnx::shape
