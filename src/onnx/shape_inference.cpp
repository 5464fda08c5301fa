// Shape and type inference at load time, with symbolic dims: every value of
// the graph (and of its subgraphs) gets a dtype and a shape whose dims are
// fixed, named after the graph inputs' symbols, products/sums of those, or
// unknown. Small integer tensors (shapes, axes, indices) carry their contents,
// so the Shape -> Gather -> Concat -> Reshape chains of PyTorch exports resolve.
//
// Only what inference proves is reported: a rule that cannot tell gives an
// unknown dim, and an error (a bad attribute, an op it does not know) leaves
// the node's outputs unknown for run time to report. Errors raised here are
// contradictions between fixed dims or dtypes, named after the node.
#include <algorithm>
#include <array>
#include <cmath>

#include "src/onnx/shape_internal.h"

namespace tessel::onnx {

using namespace shape;

// ---- symbolic dims ----

namespace {

SymDim normalized(SymDim d) {
  for (auto it = d.terms.begin(); it != d.terms.end();) it = it->second == 0 ? d.terms.erase(it) : std::next(it);
  if (d.terms.size() > kMaxTerms) return {};
  return d;
}
}  // namespace

SymDim SymDim::of(int64_t v) {
  SymDim d;
  d.known = true;
  if (v != 0) d.terms[{}] = v;
  return d;
}

SymDim SymDim::symbol(const std::string& s) {
  if (s.empty()) return {};
  SymDim d;
  d.known = true;
  d.terms[{s}] = 1;
  return d;
}

bool SymDim::is_const(int64_t* v) const {
  if (!known) return false;
  if (terms.empty()) {
    if (v) *v = 0;
    return true;
  }
  if (terms.size() == 1 && terms.begin()->first.empty()) {
    if (v) *v = terms.begin()->second;
    return true;
  }
  return false;
}

std::string SymDim::str() const {
  if (!known) return "";
  if (terms.empty()) return "0";
  std::string s;
  // Symbolic terms first (in name order), the constant last: "seq+1", "2*batch*seq".
  std::vector<std::pair<std::vector<std::string>, int64_t>> ts(terms.begin(), terms.end());
  std::stable_sort(ts.begin(), ts.end(), [](const auto& a, const auto& b) { return !a.first.empty() && b.first.empty(); });
  for (const auto& [mono, c] : ts) {
    int64_t mag = c < 0 ? -c : c;
    if (c < 0) s += "-";
    else if (!s.empty()) s += "+";
    if (mono.empty()) {
      s += std::to_string(mag);
      continue;
    }
    if (mag != 1) s += std::to_string(mag) + "*";
    for (size_t k = 0; k < mono.size(); ++k) s += (k ? "*" : "") + mono[k];
  }
  return s;
}

Dim SymDim::to_dim() const {
  int64_t v = 0;
  if (is_const(&v)) return v;
  return str();
}

SymDim operator+(const SymDim& a, const SymDim& b) {
  if (!a.known || !b.known) return {};
  SymDim r = a;
  for (const auto& [m, c] : b.terms) {
    int64_t& t = r.terms[m];
    if (__builtin_add_overflow(t, c, &t)) return {};
  }
  return normalized(std::move(r));
}

SymDim operator-(const SymDim& a, const SymDim& b) {
  if (!a.known || !b.known) return {};
  SymDim r = a;
  for (const auto& [m, c] : b.terms) {
    int64_t& t = r.terms[m];
    if (__builtin_sub_overflow(t, c, &t)) return {};
  }
  return normalized(std::move(r));
}

SymDim operator*(const SymDim& a, const SymDim& b) {
  if (!a.known || !b.known) return {};
  SymDim r;
  r.known = true;
  for (const auto& [ma, ca] : a.terms)
    for (const auto& [mb, cb] : b.terms) {
      std::vector<std::string> m(ma);
      m.insert(m.end(), mb.begin(), mb.end());
      if (m.size() > kMaxDegree) return {};
      std::sort(m.begin(), m.end());
      int64_t c = 0;
      if (__builtin_mul_overflow(ca, cb, &c)) return {};
      int64_t& t = r.terms[m];
      if (__builtin_add_overflow(t, c, &t)) return {};
      if (r.terms.size() > 4 * kMaxTerms) return {};
    }
  return normalized(std::move(r));
}

SymDim div_exact(const SymDim& a, const SymDim& b) {
  if (!a.known || !b.known || b.terms.size() != 1) return {};
  // Division by one monomial c*s1*...*sk: each term of `a` must hold it.
  const auto& [bm, bc] = *b.terms.begin();
  if (bc == 0) return {};
  SymDim r;
  r.known = true;
  for (const auto& [m, c] : a.terms) {
    if (c % bc != 0 || (bc == -1 && c == std::numeric_limits<int64_t>::min())) return {};
    std::vector<std::string> rest(m);
    for (const auto& s : bm) {
      auto it = std::find(rest.begin(), rest.end(), s);
      if (it == rest.end()) return {};
      rest.erase(it);
    }
    r.terms[rest] += c / bc;
  }
  return normalized(std::move(r));
}

namespace shape {

// ---- values ----

VS unknown() { return {}; }

VS tensor(std::optional<DType> dt, Dims shape) {
  VS v;
  v.dtype = dt;
  if (shape.size() <= kMaxRank) {
    v.has_shape = true;
    v.shape = std::move(shape);
  }
  return v;
}

VS rank_unknown(std::optional<DType> dt) {
  VS v;
  v.dtype = dt;
  return v;
}

std::string show(const Dims& d) {
  std::string s = "[";
  for (size_t k = 0; k < d.size(); ++k) s += (k ? ", " : "") + (d[k].known ? d[k].str() : std::string("?"));
  return s + "]";
}
std::string show(const VS& v) { return v.has_shape ? show(v.shape) : std::string("(rank unknown)"); }

bool fixed(const SymDim& d, int64_t* v) { return d.is_const(v); }

// The product of the dims (unknown if one is).
SymDim numel(const Dims& d) {
  SymDim n = SymDim::of(1);
  for (const auto& x : d) n = n * x;
  return n;
}

std::optional<int64_t> const_numel(const VS& v) {
  if (!v.has_shape) return std::nullopt;
  int64_t n = 1;
  for (const auto& d : v.shape) {
    int64_t x = 0;
    if (!fixed(d, &x) || x < 0 || __builtin_mul_overflow(n, x, &n)) return std::nullopt;
  }
  return n;
}

bool is_int(std::optional<DType> d) {
  return d && is_integral(*d, /*include_bool=*/true);
}

// Known contents as constants (all of them), or nullopt.
std::optional<std::vector<int64_t>> const_ints(const VS& v) {
  if (!v.ints) return std::nullopt;
  std::vector<int64_t> r;
  for (const auto& d : *v.ints) {
    int64_t x = 0;
    if (!fixed(d, &x)) return std::nullopt;
    r.push_back(x);
  }
  return r;
}

// Attaches contents to a 0-D/1-D integer value when they are small.
void set_ints(VS& v, Dims values) {
  if (values.size() <= kMaxTrackedInts && is_int(v.dtype)) v.ints = std::move(values);
}


std::string onnx_type_name(DType d) {
  const int t = onnx_elem_type(d);
  return t ? "tensor(" + onnx_elem_name(t) + ")" : "unsupported";
}

VS from_tensor(const Tensor& t) {
  Dims shape;
  for (auto d : t.shape()) shape.push_back(SymDim::of(d));
  VS v = tensor(t.dtype(), std::move(shape));
  if (t.dim() <= 1 && t.numel() <= static_cast<int64_t>(kMaxTrackedInts) && is_int(t.dtype())) {
    Tensor c = t.to(DType::Int64).contiguous();
    Dims vals;
    for (int64_t k = 0; k < c.numel(); ++k) vals.push_back(SymDim::of(c.data<int64_t>()[k]));
    v.ints = std::move(vals);
  }
  return v;
}

VS from_info(const ValueInfo& info, const std::map<std::string, DType>& declared) {
  VS v;
  auto it = declared.find(info.name);
  if (it != declared.end()) v.dtype = it->second;
  v.string = info.is_string();
  v.sequence = info.is_sequence();
  if (info.has_shape && info.shape.size() <= kMaxRank) {
    v.has_shape = true;
    for (const auto& d : info.shape) {
      if (auto* x = std::get_if<int64_t>(&d)) v.shape.push_back(*x >= 0 ? SymDim::of(*x) : unknown_dim());
      else v.shape.push_back(SymDim::symbol(std::get<std::string>(d)));
    }
  }
  return v;
}


std::optional<int64_t> axis_of(int64_t a, size_t rank) {
  const auto r = static_cast<int64_t>(rank);
  if (a < -r || a >= r) throw Invalid{};
  return a < 0 ? a + r : a;
}

// Two dims that must be equal: the better-known one, or an error when both are fixed and differ.
SymDim unify(const In& in, const SymDim& a, const SymDim& b, const std::string& what) {
  int64_t x = 0, y = 0;
  if (fixed(a, &x) && fixed(b, &y)) {
    if (x != y) prove(in.n, what, ": ", x, " vs ", y);
    return a;
  }
  if (fixed(a, &x)) return a;
  if (fixed(b, &y)) return b;
  if (a.known) return a;
  return b;
}

// NumPy broadcasting of two shapes; fixed dims that cannot broadcast are an error.
std::optional<Dims> broadcast(const In& in, const Dims& a, const Dims& b) {
  const size_t r = std::max(a.size(), b.size());
  Dims out(r);
  for (size_t k = 0; k < r; ++k) {
    const SymDim* x = k + a.size() >= r ? &a[k + a.size() - r] : nullptr;
    const SymDim* y = k + b.size() >= r ? &b[k + b.size() - r] : nullptr;
    if (!x || !y) {
      out[k] = x ? *x : *y;
      continue;
    }
    int64_t p = 0, q = 0;
    const bool fp = fixed(*x, &p), fq = fixed(*y, &q);
    if (fp && fq) {
      if (p != q && p != 1 && q != 1)
        prove(in.n, "shapes ", show(a), " and ", show(b), " cannot broadcast (dim ", k, ": ", p, " vs ", q, ")");
      out[k] = SymDim::of(p == 1 ? q : p);
    } else if (fp) {
      out[k] = p == 1 ? *y : *x;
    } else if (fq) {
      out[k] = q == 1 ? *x : *y;
    } else if (x->same(*y)) {
      out[k] = *x;
    } else {
      out[k] = unknown_dim();
    }
  }
  return out;
}

// Elementwise broadcast of all present inputs (nullopt if a rank is unknown).
std::optional<Dims> broadcast_all(const In& in, size_t first, size_t last) {
  std::optional<Dims> out;
  for (size_t k = first; k < last && k < in.v.size(); ++k) {
    if (!in.has(k)) continue;
    if (!in[k].has_shape) return std::nullopt;
    out = out ? broadcast(in, *out, in[k].shape) : in[k].shape;
  }
  return out;
}

// Whether a - b is provably zero (1), provably nonzero (0), or unknown (-1).
int equal_dims(const SymDim& a, const SymDim& b) {
  if (!a.known || !b.known) return -1;
  SymDim d = a - b;
  int64_t c = 0;
  if (d.is_const(&c)) return c == 0 ? 1 : 0;
  // A dim from a shape (a product of symbols) is never negative.
  auto nonneg_mono = [](const SymDim& s) { return s.terms.size() == 1 && s.terms.begin()->second > 0; };
  int64_t k = 0;
  if ((nonneg_mono(a) && b.is_const(&k) && k < 0) || (nonneg_mono(b) && a.is_const(&k) && k < 0)) return 0;
  return -1;
}

std::vector<VS> one(VS v) { return {std::move(v)}; }

std::optional<DType> dtype_attr(const Node& n, const char* a, std::optional<DType> dflt) {
  if (!n.has(a)) return dflt;
  return dtype_from_onnx(n.i(a, 0));
}

// Axes given as an attribute (before `attr_until`) or as input k.
std::optional<std::vector<int64_t>> axes_of(const In& in, size_t k, int64_t attr_until, bool* given) {
  if (in.opset < attr_until) {
    *given = in.n.has("axes");
    return in.n.ints("axes");
  }
  if (in.n.has("axes")) throw Invalid{};
  *given = in.has(k);
  if (!in.has(k)) return std::vector<int64_t>{};
  return in.ints(k);
}

// ---- the walk ----


std::vector<VS> infer_if(const In& in, Ctx& cx) {
  const Node& n = in.n;
  std::vector<std::vector<VS>> branches;
  for (const char* b : {"then_branch", "else_branch"}) {
    auto it = n.attrs.find(b);
    if (it == n.attrs.end() || !std::holds_alternative<GraphPtr>(it->second)) return {};
    Env env;
    env.parent = &in.env;
    branches.push_back(infer_graph(*std::get<GraphPtr>(it->second), env, cx, in.opset));
  }
  std::vector<VS> out;
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    if (k >= branches[0].size() || k >= branches[1].size()) {
      out.push_back(unknown());
      continue;
    }
    const VS &a = branches[0][k], &b = branches[1][k];
    VS r;
    r.sequence = a.sequence && b.sequence;
    if (a.dtype && b.dtype && *a.dtype == *b.dtype) r.dtype = a.dtype;
    if (a.has_shape && b.has_shape && a.shape.size() == b.shape.size()) {
      r.has_shape = true;
      for (size_t d = 0; d < a.shape.size(); ++d) r.shape.push_back(a.shape[d].same(b.shape[d]) ? a.shape[d] : SymDim{});
    }
    out.push_back(r);
  }
  return out;
}

// Binds the node's values to a subgraph's inputs (declared info takes precedence).
void bind_inputs(const Graph& g, Env& env, const std::vector<VS>& given) {
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    VS decl = from_info(g.inputs[k], g.declared_dtype);
    if (k < given.size()) {
      const VS& v = given[k];
      if (!decl.dtype) decl.dtype = v.dtype;
      if (!decl.has_shape && v.has_shape) {
        decl.has_shape = true;
        decl.shape = v.shape;
      }
      decl.sequence = v.sequence;
    }
    env.vals[g.inputs[k].name] = decl;
  }
}

std::vector<VS> infer_loop(const In& in, Ctx& cx) {
  const Node& n = in.n;
  auto it = n.attrs.find("body");
  if (it == n.attrs.end() || !std::holds_alternative<GraphPtr>(it->second)) return {};
  const Graph& body = *std::get<GraphPtr>(it->second);
  std::vector<VS> given{tensor(DType::Int64, {}), tensor(DType::Bool, {})};
  const size_t ncarried = in.v.size() > 2 ? in.v.size() - 2 : 0;
  // A body that does not match the node is run time's error to report.
  if (body.inputs.size() != 2 + ncarried || body.outputs.size() != 1 + n.outputs.size() ||
      n.outputs.size() < ncarried)
    return {};
  for (size_t k = 0; k < ncarried; ++k) {
    // A carried value may change shape between iterations: keep its rank only.
    VS v = in[2 + k];
    v.ints.reset();
    for (auto& d : v.shape) d = {};
    given.push_back(v);
  }
  Env env;
  env.parent = &in.env;
  bind_inputs(body, env, given);
  auto res = infer_graph(body, env, cx, in.opset);
  std::vector<VS> out;
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    const size_t b = k + 1;  // body outputs: cond, carried..., scan outputs...
    if (b >= res.size()) {
      out.push_back(unknown());
      continue;
    }
    VS v = res[b];
    v.ints.reset();
    if (k < ncarried) {
      // The final value: same as the initial one where the body keeps the dim.
      const VS& init = in[2 + k];
      if (v.has_shape && init.has_shape && v.shape.size() == init.shape.size())
        for (size_t d = 0; d < v.shape.size(); ++d) v.shape[d] = v.shape[d].same(init.shape[d]) ? v.shape[d] : SymDim{};
      else if (!(v.has_shape && init.has_shape)) v.has_shape = false, v.shape.clear();
      else v.has_shape = false, v.shape.clear();
    } else if (v.has_shape && v.shape.size() < kMaxRank) {
      v.shape.insert(v.shape.begin(), SymDim{});  // the iteration count
    } else {
      v.has_shape = false;
      v.shape.clear();
    }
    out.push_back(v);
  }
  return out;
}

std::vector<VS> infer_scan(const In& in, Ctx& cx) {
  const Node& n = in.n;
  auto it = n.attrs.find("body");
  if (it == n.attrs.end() || !std::holds_alternative<GraphPtr>(it->second) || in.opset < 9) return {};
  const Graph& body = *std::get<GraphPtr>(it->second);
  const auto nscan = static_cast<size_t>(std::max<int64_t>(0, n.i("num_scan_inputs", 0)));
  if (nscan > in.v.size()) return {};
  const size_t nstate = in.v.size() - nscan;
  if (body.inputs.size() != in.v.size() || body.outputs.size() != n.outputs.size() || n.outputs.size() < nstate)
    return {};
  auto in_axes = n.ints("scan_input_axes", std::vector<int64_t>(nscan, 0));
  std::vector<VS> given;
  for (size_t k = 0; k < nstate; ++k) given.push_back(in[k]);
  SymDim seq;
  bool seq_set = false;
  for (size_t k = 0; k < nscan; ++k) {
    VS v = in[nstate + k];
    v.ints.reset();
    if (v.has_shape && k < in_axes.size()) {
      if (auto a = axis_of(in_axes[k], v.shape.size())) {
        if (!seq_set) seq = v.shape[*a], seq_set = true;
        v.shape.erase(v.shape.begin() + static_cast<long>(*a));
      } else {
        v.has_shape = false;
        v.shape.clear();
      }
    }
    given.push_back(v);
  }
  Env env;
  env.parent = &in.env;
  bind_inputs(body, env, given);
  auto res = infer_graph(body, env, cx, in.opset);
  std::vector<VS> out;
  const size_t nscan_out = n.outputs.size() > nstate ? n.outputs.size() - nstate : 0;
  auto out_axes = n.ints("scan_output_axes", std::vector<int64_t>(nscan_out, 0));
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    if (k >= res.size()) {
      out.push_back(unknown());
      continue;
    }
    VS v = res[k];
    v.ints.reset();
    if (k >= nstate && v.has_shape) {
      const size_t j = k - nstate;
      auto a = j < out_axes.size() ? axis_of(out_axes[j], v.shape.size() + 1) : std::nullopt;
      if (a && v.shape.size() < kMaxRank) v.shape.insert(v.shape.begin() + static_cast<long>(*a), seq);
      else v.has_shape = false, v.shape.clear();
    }
    out.push_back(v);
  }
  return out;
}

std::vector<VS> infer_constant(const In& in, Env& env) {
  const Node& n = in.n;
  for (const auto& [k, a] : n.attrs) {
    if (k == "value" && std::holds_alternative<Tensor>(a)) {
      const Tensor& t = std::get<Tensor>(a);
      if (is_floating(t.dtype()) && t.numel() <= static_cast<int64_t>(kMaxTrackedInts) && !n.outputs.empty()) {
        Tensor c = t.to(DType::Float64).contiguous();
        env.floats[n.outputs[0]] = std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
      }
      return one(from_tensor(t));
    }
    if (k == "value_int") {
      VS v = tensor(DType::Int64, {});
      set_ints(v, {SymDim::of(n.i(k, 0))});
      return one(v);
    }
    if (k == "value_ints") {
      auto xs = n.ints(k);
      VS v = tensor(DType::Int64, {SymDim::of(static_cast<int64_t>(xs.size()))});
      Dims vals;
      for (auto x : xs) vals.push_back(SymDim::of(x));
      set_ints(v, vals);
      return one(v);
    }
    if (k == "value_float") {
      if (!n.outputs.empty()) env.floats[n.outputs[0]] = {n.f(k, 0)};
      return one(tensor(DType::Float32, {}));
    }
    if (k == "value_floats") {
      auto xs = n.floats(k);
      if (!n.outputs.empty() && xs.size() <= kMaxTrackedInts) env.floats[n.outputs[0]] = xs;
      return one(tensor(DType::Float32, {SymDim::of(static_cast<int64_t>(xs.size()))}));
    }
  }
  return {};
}

// Checks the inferred info of value `name` against its declaration and merges
// what the declaration adds (names of dims inference left unknown).
void reconcile(const Node* n, const std::string& name, VS& v, const ValueInfo& decl, const Graph& g) {
  const VS d = from_info(decl, g.declared_dtype);
  auto where = [&] {
    return n ? detail::cat("[onnx.", n->op_type, "] node '", n->name, "': ") : std::string("[onnx.load] ");
  };
  if (v.sequence) return;
  if ((v.string && d.dtype) || (v.dtype && d.string))
    throw Proven(detail::cat(where(), "value '", name, "' is declared ", decl.onnx_type, " but inferred ",
                             v.string ? std::string("tensor(string)") : detail::cat(*v.dtype)),
                 true);
  if (d.string) v.string = true;
  if (v.dtype && d.dtype && *v.dtype != *d.dtype)
    throw Proven(detail::cat(where(), "value '", name, "' is declared ", decl.onnx_type, " but inferred ", *v.dtype),
                 true);
  if (!v.dtype) v.dtype = d.dtype;
  // A declared rank that differs is ignored, as onnxruntime does (exporters
  // write placeholder shapes); only fixed dims of the same rank must agree.
  if (!d.has_shape || (v.has_shape && v.shape.size() != d.shape.size())) return;
  if (!v.has_shape) {
    v.has_shape = true;
    v.shape = d.shape;
    return;
  }
  for (size_t k = 0; k < d.shape.size(); ++k) {
    int64_t a = 0, b = 0;
    if (fixed(v.shape[k], &a) && fixed(d.shape[k], &b) && a != b) {
      // On a graph output the inferred dim stands, as onnxruntime runs such models with a
      // warning (skl2onnx declares a binary RidgeClassifier's [N, 1] scores as [N, 2]).
      if (std::any_of(g.outputs.begin(), g.outputs.end(), [&](const ValueInfo& o) { return o.name == name; })) continue;
      throw Proven(detail::cat(where(), "value '", name, "' is declared with shape ", show(d.shape), " but inferred ",
                               show(v.shape), " (dim ", k, ")"),
                   false);
    }
    if (!v.shape[k].known || (!fixed(v.shape[k], &a) && fixed(d.shape[k], &b))) v.shape[k] = d.shape[k];
  }
}

// The element type of string values: the rules know numbers only, so ops that
// pass strings through (shape ops) or make them are marked here, after the rule
// (whose shape stands; any numeric dtype it guessed is dropped).
void mark_strings(const In& in, std::vector<VS>& out) {
  const Node& n = in.n;
  for (auto& v : out) v.string = false;  // a rule that copied its input's info copied the flag too
  auto str_in = [&](size_t k) { return k < in.v.size() && in.v[k] && in.v[k]->string; };
  auto set = [&](size_t k, bool str) {
    if (k >= n.outputs.size()) return;
    if (out.size() <= k) out.resize(k + 1, unknown());
    if (str) {
      out[k].string = true;
      out[k].dtype.reset();
      out[k].ints.reset();
    } else if (out[k].string) {
      out[k].string = false;
    }
  };
  static const std::set<std::string> pass = {
      "Identity", "Reshape",        "Flatten",  "Squeeze",   "Unsqueeze",       "Transpose",    "Slice",
      "Gather",   "GatherElements", "GatherND", "Compress",  "Split",           "ReverseSequence", "Expand",
      "Tile",     "Concat",         "Where",    "StringConcat", "StringNormalizer"};
  const bool ml = n.domain == "ai.onnx.ml";
  const bool dflt = n.domain.empty() || n.domain == "ai.onnx";
  if (dflt && pass.count(n.op_type)) {
    const std::string& op = n.op_type;
    bool any = false;
    for (size_t k = 0; k < in.v.size(); ++k) {
      const bool data = op == "Concat" || op == "StringConcat" ? true : op == "Where" ? (k == 1 || k == 2) : k == 0;
      any = any || (data && str_in(k));
    }
    if (any || op == "StringConcat" || op == "StringNormalizer")
      for (size_t k = 0; k < (op == "Split" ? n.outputs.size() : 1); ++k) set(k, true);
  } else if (dflt && n.op_type == "StringSplit") {
    set(0, true);
  } else if (dflt && (n.op_type == "Cast" || n.op_type == "CastLike")) {
    const bool to_str = n.op_type == "Cast" ? n.i("to", 0) == 8 : str_in(1);
    if (to_str) set(0, true);
    else if (str_in(0) && !out.empty()) out[0].ints.reset();  // the strings' numbers are not tracked
  } else if (dflt && n.op_type == "Constant") {
    if (n.has("value") && std::holds_alternative<StringTensor>(n.attrs.at("value"))) {
      const auto& st = std::get<StringTensor>(n.attrs.at("value"));
      VS v;
      v.has_shape = true;
      for (auto d : st.shape) v.shape.push_back(SymDim::of(d));
      if (out.empty()) out.push_back(v);
      set(0, true);
      out[0].has_shape = true;
      out[0].shape = v.shape;
    } else if (n.has("value_strings") || n.has("value_string")) {
      set(0, true);
    }
  } else if (ml && (n.op_type == "LinearClassifier" || n.op_type == "TreeEnsembleClassifier" ||
                    n.op_type == "SVMClassifier")) {
    set(0, n.has("classlabels_strings"));
  } else if (ml && (n.op_type == "LabelEncoder" || n.op_type == "CategoryMapper")) {
    bool to_str = n.op_type == "CategoryMapper" ? !str_in(0) : n.has("values_strings");
    if (n.op_type == "LabelEncoder" && n.has("values_tensor"))
      to_str = std::holds_alternative<StringTensor>(n.attrs.at("values_tensor"));
    if (n.op_type == "LabelEncoder" && n.has("classes_strings")) to_str = !str_in(0);
    VS v;
    if (!in.v.empty() && in.v[0]) v.has_shape = in.v[0]->has_shape, v.shape = in.v[0]->shape;
    out.assign(1, v);
    set(0, to_str);
  }
}

std::vector<VS> infer_graph(const Graph& g, Env& env, Ctx& cx, int64_t opset) {
  for (const auto& [name, t] : g.initializers) {
    env.vals[name] = from_tensor(t);
    if (is_floating(t.dtype()) && t.numel() <= static_cast<int64_t>(kMaxTrackedInts)) {
      Tensor c = t.to(DType::Float64).contiguous();
      env.floats[name] = std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
    }
  }
  for (const auto& [name, t] : g.string_initializers) {
    VS v;
    v.string = true;
    v.has_shape = true;
    for (auto d : t.shape) v.shape.push_back(SymDim::of(d));
    env.vals[name] = std::move(v);
  }
  for (const auto& i : g.inputs)
    if (!env.vals.count(i.name)) env.vals[i.name] = from_info(i, g.declared_dtype);
  std::unordered_map<std::string, const ValueInfo*> decls;
  for (const auto& v : g.value_info) decls[v.name] = &v;
  for (const auto& v : g.outputs) decls[v.name] = &v;
  for (const auto& node : g.nodes) {
    In in{node, {}, env, opset};
    for (const auto& i : node.inputs) in.v.push_back(i.empty() ? nullptr : env.find(i));
    std::vector<VS> out;
    try {
      out = infer_node(in, cx, env);
    } catch (const Proven&) {
      throw;
    } catch (const std::exception&) {
      out.clear();  // bad attributes and the like: run time reports them
    }
    mark_strings(in, out);
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      const std::string& name = node.outputs[k];
      if (name.empty()) continue;
      VS v = k < out.size() ? std::move(out[k]) : unknown();
      if (v.has_shape && v.shape.size() > kMaxRank) v = rank_unknown(v.dtype);
      auto d = decls.find(name);
      if (d != decls.end()) reconcile(&node, name, v, *d->second, g);
      cx.all.emplace(name, v);
      env.vals[name] = std::move(v);
    }
  }
  std::vector<VS> res;
  for (const auto& o : g.outputs) {
    const VS* v = env.find(o.name);
    res.push_back(v ? *v : from_info(o, g.declared_dtype));
  }
  return res;
}

ValueInfo to_value_info(const std::string& name, const VS& v) {
  ValueInfo info;
  info.name = name;
  if (v.sequence) {
    info.onnx_type = v.string ? "seq(tensor(string))" : v.dtype ? "seq(" + onnx_type_name(*v.dtype) + ")" : "seq";
    if (v.dtype) info.dtype = *v.dtype;
    return info;
  }
  if (v.string) {
    info.onnx_type = "tensor(string)";
  } else if (v.dtype) {
    info.dtype = *v.dtype;
    info.onnx_type = onnx_type_name(*v.dtype);
  } else {
    info.onnx_type = "unknown";
  }
  info.has_shape = v.has_shape;
  for (const auto& d : v.shape) info.shape.push_back(d.to_dim());
  return info;
}

}  // namespace shape

std::vector<ValueInfo> Model::value_info() const {
  std::vector<ValueInfo> out;
  for (const auto& [name, v] : impl_->shapes) out.push_back(to_value_info(name, v));
  std::sort(out.begin(), out.end(), [](const ValueInfo& a, const ValueInfo& b) { return a.name < b.name; });
  return out;
}

std::optional<ValueInfo> Model::value_info(const std::string& name) const {
  auto it = impl_->shapes.find(name);
  if (it == impl_->shapes.end()) return std::nullopt;
  return to_value_info(name, it->second);
}

void infer_shapes(Model::Impl& m) {
  m.shapes.clear();
  Ctx cx{m.opset, m.shapes};
  Env env;
  try {
    infer_graph(m, env, cx, m.opset);
  } catch (const Proven& e) {
    if (e.type_error) throw TypeError(e.what());
    throw ValueError(e.what());
  }
  for (const auto& i : m.inputs) cx.all.emplace(i.name, env.vals[i.name]);
  // Outputs the file leaves untyped or unshaped get what inference found.
  for (auto& o : m.outputs) {
    auto it = m.shapes.find(o.name);
    if (it == m.shapes.end() || it->second.sequence) continue;
    const VS& v = it->second;
    if (o.onnx_type == "unsupported" && v.string) o.onnx_type = "tensor(string)";
    if (!m.declared_dtype.count(o.name) && o.onnx_type == "unsupported" && v.dtype) {
      o.dtype = *v.dtype;
      o.onnx_type = onnx_type_name(*v.dtype);
    }
    if (!o.has_shape && v.has_shape) {
      o.has_shape = true;
      for (const auto& d : v.shape) o.shape.push_back(d.to_dim());
    }
  }
}

}  // namespace tessel::onnx
