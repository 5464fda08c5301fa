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
#include <limits>
#include <set>

#include "src/onnx/internal.h"

namespace tessel::onnx {

// ---- symbolic dims ----

namespace {
constexpr size_t kMaxTerms = 8;    // polynomials larger than this become unknown
constexpr size_t kMaxDegree = 6;   // so do monomials of higher degree
constexpr size_t kMaxRank = 64;    // shapes of higher rank are treated as unknown
constexpr int64_t kBig = std::numeric_limits<int64_t>::max();

SymDim unknown_dim() { return {}; }

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

namespace {

// ---- values ----

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
  throw Proven(detail::cat("[onnx.", n.op_type, "] node '", n.name, "': ", args...), false);
}
template <class... Args>
[[noreturn]] void prove_type(const Node& n, const Args&... args) {
  throw Proven(detail::cat("[onnx.", n.op_type, "] node '", n.name, "': ", args...), true);
}

// A node that run time will refuse (an axis out of range, an attribute of the
// wrong opset): its outputs stay unknown and run time reports the error.
struct Invalid : std::exception {};

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
  return d && (*d == DType::Int64 || *d == DType::Int32 || *d == DType::Int16 || *d == DType::Int8 ||
               *d == DType::UInt8 || *d == DType::Bool);
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
  switch (d) {
    case DType::Float32: return "tensor(float)";
    case DType::UInt8: return "tensor(uint8)";
    case DType::Int8: return "tensor(int8)";
    case DType::Int16: return "tensor(int16)";
    case DType::Int32: return "tensor(int32)";
    case DType::Int64: return "tensor(int64)";
    case DType::Bool: return "tensor(bool)";
    case DType::Float16: return "tensor(float16)";
    case DType::Float64: return "tensor(double)";
    case DType::Complex64: return "tensor(complex64)";
    case DType::Complex128: return "tensor(complex128)";
    case DType::BFloat16: return "tensor(bfloat16)";
    default: return "unsupported";
  }
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
  if (info.has_shape && info.shape.size() <= kMaxRank) {
    v.has_shape = true;
    for (const auto& d : info.shape) {
      if (auto* x = std::get_if<int64_t>(&d)) v.shape.push_back(*x >= 0 ? SymDim::of(*x) : unknown_dim());
      else v.shape.push_back(SymDim::symbol(std::get<std::string>(d)));
    }
  }
  return v;
}

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

// Output size of a sliding window along one dim.
SymDim window(const SymDim& in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, const std::string& pad,
              bool ceil_mode) {
  if (s <= 0 || d <= 0 || k <= 0) return {};
  int64_t dk = 0;
  if (__builtin_mul_overflow(k - 1, d, &dk)) return {};
  dk += 1;
  int64_t x = 0;
  if (pad == "SAME_UPPER" || pad == "SAME_LOWER") {
    if (fixed(in, &x)) return SymDim::of(x / s + (x % s != 0));
    return s == 1 ? in : unknown_dim();
  }
  if (pad == "VALID") pb = pe = 0;
  if (fixed(in, &x)) {
    int64_t span = 0;
    if (__builtin_add_overflow(x, pb, &span) || __builtin_add_overflow(span, pe, &span)) return {};
    span -= dk;
    if (span < 0) return {};
    int64_t o = span / s + (ceil_mode && span % s != 0 ? 1 : 0) + 1;
    // In ceil mode the last window must start inside the input or the left padding.
    if (ceil_mode && (o - 1) * s >= x + pb) --o;
    return SymDim::of(o);
  }
  if (s != 1) return {};
  return in + SymDim::of(pb + pe - dk + 1);
}

// Conv, pooling: [N, C_out, spatial...].
std::optional<Dims> spatial(const In& in, const Dims& x, const std::vector<int64_t>& kernel, bool ceil_mode) {
  const size_t nsp = x.size() - 2;
  if (kernel.size() != nsp) return std::nullopt;
  const Node& n = in.n;
  auto strides = n.ints("strides", std::vector<int64_t>(nsp, 1));
  auto dil = n.ints("dilations", std::vector<int64_t>(nsp, 1));
  auto pads = n.ints("pads", std::vector<int64_t>(2 * nsp, 0));
  const std::string pad = n.s("auto_pad", "NOTSET");
  if (strides.size() != nsp || dil.size() != nsp || pads.size() != 2 * nsp) return std::nullopt;
  Dims out{x[0], {}};
  for (size_t i = 0; i < nsp; ++i)
    out.push_back(window(x[2 + i], kernel[i], strides[i], dil[i], pads[i], pads[nsp + i], pad, ceil_mode));
  return out;
}

std::vector<VS> infer_conv(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  const VS& w = in[1];
  if (!x.has_shape || x.shape.size() < 3) return one(rank_unknown(x.dtype));
  std::vector<int64_t> kernel = n.ints("kernel_shape");
  if (kernel.empty() && w.has_shape && w.shape.size() == x.shape.size())
    for (size_t i = 2; i < w.shape.size(); ++i) {
      int64_t k = 0;
      if (!fixed(w.shape[i], &k)) return one(tensor(x.dtype, Dims(x.shape.size())));
      kernel.push_back(k);
    }
  if (w.has_shape && w.shape.size() != x.shape.size())
    prove(n, "weight '", in.name(1), "' has rank ", w.shape.size(), " but input '", in.name(0), "' has rank ",
          x.shape.size());
  const int64_t group = n.i("group", 1);
  int64_t c = 0, wc = 0;
  if (w.has_shape && group > 0 && fixed(x.shape[1], &c) && fixed(w.shape[1], &wc) && c != wc * group)
    prove(n, "input '", in.name(0), "' has ", c, " channels but weight '", in.name(1), "' ", show(w), " with group ",
          group, " expects ", wc * group);
  auto out = spatial(in, x.shape, kernel, false);
  if (!out) return one(rank_unknown(x.dtype));
  (*out)[1] = w.has_shape ? w.shape[0] : unknown_dim();
  return one(tensor(x.dtype, *out));
}

std::vector<VS> infer_conv_transpose(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  const VS& w = in[1];
  if (!x.has_shape || x.shape.size() < 3) return one(rank_unknown(x.dtype));
  const size_t nsp = x.shape.size() - 2;
  const int64_t group = n.i("group", 1);
  Dims out{x.shape[0], w.has_shape && w.shape.size() == x.shape.size() ? w.shape[1] * SymDim::of(group) : SymDim{}};
  auto output_shape = n.ints("output_shape");
  std::vector<int64_t> kernel = n.ints("kernel_shape");
  if (kernel.empty() && w.has_shape && w.shape.size() == x.shape.size())
    for (size_t i = 2; i < w.shape.size(); ++i) {
      int64_t k = 0;
      kernel.push_back(fixed(w.shape[i], &k) ? k : -1);
    }
  auto strides = n.ints("strides", std::vector<int64_t>(nsp, 1));
  auto dil = n.ints("dilations", std::vector<int64_t>(nsp, 1));
  auto pads = n.ints("pads", std::vector<int64_t>(2 * nsp, 0));
  auto opad = n.ints("output_padding", std::vector<int64_t>(nsp, 0));
  const std::string pad = n.s("auto_pad", "NOTSET");
  for (size_t i = 0; i < nsp; ++i) {
    if (output_shape.size() == nsp) {
      out.push_back(SymDim::of(output_shape[i]));
      continue;
    }
    if (kernel.size() != nsp || strides.size() != nsp || dil.size() != nsp || pads.size() != 2 * nsp ||
        opad.size() != nsp || kernel[i] < 0) {
      out.push_back({});
      continue;
    }
    const SymDim s = SymDim::of(strides[i]);
    if (pad == "SAME_UPPER" || pad == "SAME_LOWER") {
      out.push_back(x.shape[2 + i] * s);
      continue;
    }
    const int64_t dk = (kernel[i] - 1) * dil[i] + 1;
    SymDim o = s * (x.shape[2 + i] - SymDim::of(1)) + SymDim::of(opad[i] + dk);
    if (pad != "VALID") o = o - SymDim::of(pads[i] + pads[nsp + i]);
    out.push_back(o);
  }
  return one(tensor(x.dtype, out));
}

std::vector<VS> infer_pool(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  VS idx = rank_unknown(DType::Int64);
  if (!x.has_shape || x.shape.size() < 3) return {rank_unknown(x.dtype), idx};
  auto out = spatial(in, x.shape, n.ints("kernel_shape"), n.i("ceil_mode", 0) != 0);
  if (!out) return {rank_unknown(x.dtype), idx};
  (*out)[1] = x.shape[1];
  return {tensor(x.dtype, *out), tensor(DType::Int64, *out)};
}

std::vector<VS> infer_matmul(const In& in, std::optional<DType> out_dt) {
  const VS &a = in[0], &b = in[1];
  if (!a.has_shape || !b.has_shape || a.shape.empty() || b.shape.empty()) return one(rank_unknown(out_dt));
  Dims x = a.shape, y = b.shape;
  const bool va = x.size() == 1, vb = y.size() == 1;
  if (va) x.insert(x.begin(), SymDim::of(1));
  if (vb) y.push_back(SymDim::of(1));
  int64_t p = 0, q = 0;
  if (fixed(x.back(), &p) && fixed(y[y.size() - 2], &q) && p != q)
    prove(in.n, "inner dims differ: '", in.name(0), "' has shape ", show(a), " and '", in.name(1), "' has shape ",
          show(b));
  Dims bx(x.begin(), x.end() - 2), by(y.begin(), y.end() - 2);
  Dims out = *broadcast(in, bx, by);
  if (!va) out.push_back(x[x.size() - 2]);
  if (!vb) out.push_back(y.back());
  return one(tensor(out_dt, out));
}

std::vector<VS> infer_gemm(const In& in) {
  const Node& n = in.n;
  const VS &a = in[0], &b = in[1];
  if (!a.has_shape || !b.has_shape || a.shape.size() != 2 || b.shape.size() != 2)
    return one(tensor(a.dtype, Dims(2)));
  const bool ta = n.i("transA", 0) != 0, tb = n.i("transB", 0) != 0;
  const SymDim m = a.shape[ta ? 1 : 0], ka = a.shape[ta ? 0 : 1];
  const SymDim kb = b.shape[tb ? 1 : 0], nn = b.shape[tb ? 0 : 1];
  int64_t p = 0, q = 0;
  if (fixed(ka, &p) && fixed(kb, &q) && p != q)
    prove(n, "inner dims differ: A '", in.name(0), "' ", show(a), (ta ? " (transposed)" : ""), " and B '",
          in.name(1), "' ", show(b), (tb ? " (transposed)" : ""));
  return one(tensor(a.dtype, {m, nn}));
}

std::vector<VS> infer_reshape(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  std::optional<Dims> target;
  if (in.opset < 5) {
    auto s = n.ints("shape");
    Dims d;
    for (auto v : s) d.push_back(SymDim::of(v));
    target = d;
  } else if (in.has(1) && in[1].ints) {
    target = *in[1].ints;
  } else if (in.has(1) && in[1].has_shape && in[1].shape.size() == 1) {
    int64_t r = 0;
    if (fixed(in[1].shape[0], &r) && r >= 0 && static_cast<size_t>(r) <= kMaxRank)
      return one(tensor(x.dtype, Dims(static_cast<size_t>(r))));
  }
  if (!target) return one(rank_unknown(x.dtype));
  const bool allowzero = in.opset >= 14 && n.i("allowzero", 0) != 0;
  Dims out;
  int minus = -1;
  for (size_t k = 0; k < target->size(); ++k) {
    const SymDim& d = (*target)[k];
    int64_t v = 0;
    if (fixed(d, &v) && v == 0 && !allowzero) {
      out.push_back(x.has_shape && k < x.shape.size() ? x.shape[k] : SymDim{});
    } else if (fixed(d, &v) && v == -1) {
      if (minus >= 0) return one(rank_unknown(x.dtype));
      minus = static_cast<int>(k);
      out.push_back({});
    } else if (fixed(d, &v) && v < -1) {
      return one(rank_unknown(x.dtype));
    } else {
      out.push_back(d);
    }
  }
  auto total = const_numel(x);
  if (minus >= 0) {
    Dims rest(out);
    rest.erase(rest.begin() + minus);
    const SymDim others = numel(rest);
    int64_t o = 0;
    if (total && fixed(others, &o)) {
      if (o != 0 && *total % o != 0)
        prove(n, "cannot reshape '", in.name(0), "' ", show(x), " (", *total, " elements) to ", show(*target));
      out[static_cast<size_t>(minus)] = o != 0 ? SymDim::of(*total / o) : SymDim{};
    } else if (x.has_shape) {
      out[static_cast<size_t>(minus)] = div_exact(numel(x.shape), others);
    }
  } else if (auto want = const_numel(tensor(x.dtype, out)); want && total && *want != *total) {
    prove(n, "cannot reshape '", in.name(0), "' ", show(x), " (", *total, " elements) to ", show(out), " (", *want,
          " elements)");
  }
  VS r = tensor(x.dtype, out);
  if (x.ints && out.size() <= 1) set_ints(r, *x.ints);
  return one(r);
}

std::vector<VS> infer_concat(const In& in) {
  const Node& n = in.n;
  std::optional<DType> dt;
  const VS* ref = nullptr;
  size_t ref_k = 0;
  for (size_t k = 0; k < in.v.size(); ++k) {
    if (!in.has(k)) continue;
    if (!dt) dt = in[k].dtype;
    if (in[k].dtype && dt && *in[k].dtype != *dt)
      prove_type(n, "inputs must have the same dtype, got '", in.name(ref_k), "' ", *dt, " and '", in.name(k), "' ",
                 *in[k].dtype);
    if (!in[k].has_shape) continue;
    if (ref && ref->shape.size() != in[k].shape.size())
      prove(n, "inputs have different ranks: '", in.name(ref_k), "' ", show(*ref), " and '", in.name(k), "' ",
            show(in[k]));
    if (!ref) ref = &in[k], ref_k = k;
  }
  if (!ref) return one(rank_unknown(dt));
  auto axis = axis_of(n.i("axis", 0), ref->shape.size());
  if (!axis) return one(rank_unknown(dt));
  Dims out = ref->shape;
  out[*axis] = SymDim::of(0);
  bool all_shapes = true;
  for (size_t k = 0; k < in.v.size(); ++k) {
    if (!in.has(k)) continue;
    if (!in[k].has_shape) {
      all_shapes = false;
      continue;
    }
    for (size_t d = 0; d < out.size(); ++d) {
      if (d == *axis) out[d] = out[d] + in[k].shape[d];
      else out[d] = unify(in, out[d], in[k].shape[d], "inputs '" + in.name(ref_k) + "' and '" + in.name(k) + "' differ in dim " + std::to_string(d));
    }
  }
  if (!all_shapes) out[*axis] = unknown_dim();
  VS r = tensor(dt, out);
  if (out.size() == 1 && all_shapes) {
    Dims vals;
    bool ok = true;
    for (size_t k = 0; k < in.v.size() && ok; ++k) {
      if (!in.has(k)) continue;
      ok = in[k].ints.has_value();
      if (ok) vals.insert(vals.end(), in[k].ints->begin(), in[k].ints->end());
    }
    if (ok) set_ints(r, vals);
  }
  return one(r);
}

std::vector<VS> infer_gather(const In& in) {
  const VS &x = in[0], &idx = in[1];
  if (!x.has_shape || !idx.has_shape) return one(rank_unknown(x.dtype));
  auto axis = axis_of(in.n.i("axis", 0), x.shape.size());
  if (!axis) return one(rank_unknown(x.dtype));
  Dims out(x.shape.begin(), x.shape.begin() + static_cast<long>(*axis));
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), x.shape.begin() + static_cast<long>(*axis) + 1, x.shape.end());
  VS r = tensor(x.dtype, out);
  if (x.ints && x.shape.size() == 1 && idx.ints && idx.shape.size() <= 1) {
    Dims vals;
    const auto len = static_cast<int64_t>(x.ints->size());
    for (const auto& i : *idx.ints) {
      int64_t k = 0;
      if (!fixed(i, &k) || k < -len || k >= len) return one(r);
      vals.push_back((*x.ints)[static_cast<size_t>(k < 0 ? k + len : k)]);
    }
    set_ints(r, vals);
  }
  return one(r);
}

// Length of a slice of a fixed dim (ONNX's clamping rules).
int64_t slice_len(int64_t dim, int64_t start, int64_t end, int64_t step) {
  auto clampi = [](int64_t v, int64_t lo, int64_t hi) { return std::max(lo, std::min(v, hi)); };
  if (start < 0) start = start < -dim ? 0 : start + dim;
  if (end < 0) end = end < -dim ? (step < 0 ? -1 : 0) : end + dim;
  if (step > 0) {
    start = clampi(start, 0, dim);
    end = clampi(end, 0, dim);
    return end > start ? (end - start - 1) / step + 1 : 0;
  }
  start = clampi(start, 0, dim - 1);
  end = clampi(end, -1, dim - 1);
  return start > end ? (start - end - 1) / -step + 1 : 0;
}

std::vector<VS> infer_slice(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  if (!x.has_shape) return one(rank_unknown(x.dtype));
  std::optional<std::vector<int64_t>> starts, ends, axes, steps;
  if (in.opset < 10) {
    starts = n.ints("starts");
    ends = n.ints("ends");
    axes = n.ints("axes");
  } else {
    starts = in.ints(1);
    ends = in.ints(2);
    axes = in.has(3) ? in.ints(3) : std::vector<int64_t>{};
    steps = in.has(4) ? in.ints(4) : std::vector<int64_t>{};
  }
  if (!starts || !ends || !axes || (in.opset >= 10 && !steps) || starts->size() != ends->size()) {
    // Unknown bounds: only the sliced axes (when known) lose their dims.
    Dims out(x.shape.size());
    int64_t cnt = 0;
    if (axes && !axes->empty()) {
      out = x.shape;
      for (auto a : *axes) {
        auto ax = axis_of(a, x.shape.size());
        if (!ax) return one(rank_unknown(x.dtype));
        out[*ax] = {};
      }
    } else if (axes && in.opset >= 10 && in[1].has_shape && in[1].shape.size() == 1 && fixed(in[1].shape[0], &cnt) &&
               cnt >= 0 && static_cast<size_t>(cnt) <= out.size()) {
      out = x.shape;  // default axes: the first len(starts) dims
      for (int64_t k = 0; k < cnt; ++k) out[static_cast<size_t>(k)] = {};
    }
    return one(tensor(x.dtype, out));
  }
  if (axes->empty())
    for (size_t k = 0; k < starts->size(); ++k) axes->push_back(static_cast<int64_t>(k));
  if (!steps || steps->empty()) steps = std::vector<int64_t>(starts->size(), 1);
  if (axes->size() != starts->size() || steps->size() != starts->size()) return one(rank_unknown(x.dtype));
  Dims out = x.shape;
  std::vector<std::array<int64_t, 3>> sl(x.shape.size(), {0, kBig, 1});
  for (size_t k = 0; k < axes->size(); ++k) {
    auto a = axis_of((*axes)[k], x.shape.size());
    if (!a || (*steps)[k] == 0) return one(rank_unknown(x.dtype));
    sl[*a] = {(*starts)[k], (*ends)[k], (*steps)[k]};
    int64_t dim = 0;
    if (fixed(x.shape[*a], &dim)) out[*a] = SymDim::of(slice_len(dim, (*starts)[k], (*ends)[k], (*steps)[k]));
    else if ((*starts)[k] == 0 && (*ends)[k] >= std::numeric_limits<int32_t>::max() && (*steps)[k] == 1)
      out[*a] = x.shape[*a];
    else out[*a] = unknown_dim();
  }
  VS r = tensor(x.dtype, out);
  if (x.ints && x.shape.size() == 1) {
    const auto len = static_cast<int64_t>(x.ints->size());
    auto [s, e, st] = sl[0];
    Dims vals;
    const int64_t cnt = slice_len(len, s, e, st);
    int64_t i = s < 0 ? std::max<int64_t>(s + len, st > 0 ? 0 : -1) : std::min(s, st > 0 ? len : len - 1);
    for (int64_t c = 0; c < cnt; ++c, i += st) vals.push_back((*x.ints)[static_cast<size_t>(i)]);
    set_ints(r, vals);
  }
  return one(r);
}

std::vector<VS> infer_squeeze(const In& in) {
  const VS& x = in[0];
  bool given = false;
  auto axes = axes_of(in, 1, 13, &given);
  if (!x.has_shape || !axes) return one(rank_unknown(x.dtype));
  std::set<size_t> drop;
  if (!given) {
    for (size_t k = 0; k < x.shape.size(); ++k) {
      int64_t v = 0;
      if (!fixed(x.shape[k], &v)) return one(rank_unknown(x.dtype));
      if (v == 1) drop.insert(k);
    }
  }
  for (auto a : *axes) {
    auto ax = axis_of(a, x.shape.size());
    if (!ax) return one(rank_unknown(x.dtype));
    int64_t v = 0;
    if (fixed(x.shape[*ax], &v) && v != 1)
      prove(in.n, "cannot squeeze dim ", *ax, " of size ", v, " of '", in.name(0), "' ", show(x));
    drop.insert(*ax);
  }
  Dims out;
  for (size_t k = 0; k < x.shape.size(); ++k)
    if (!drop.count(k)) out.push_back(x.shape[k]);
  VS r = tensor(x.dtype, out);
  if (x.ints && out.empty()) set_ints(r, *x.ints);
  return one(r);
}

std::vector<VS> infer_unsqueeze(const In& in) {
  const VS& x = in[0];
  bool given = false;
  auto axes = axes_of(in, 1, 13, &given);
  if (!x.has_shape || !axes || axes->size() > kMaxRank) return one(rank_unknown(x.dtype));
  const size_t r = x.shape.size() + axes->size();
  std::vector<bool> ins(r, false);
  for (auto a : *axes) {
    auto ax = axis_of(a, r);
    if (!ax || ins[*ax]) return one(rank_unknown(x.dtype));
    ins[*ax] = true;
  }
  Dims out;
  size_t j = 0;
  for (size_t k = 0; k < r; ++k) out.push_back(ins[k] ? SymDim::of(1) : x.shape[j++]);
  VS v = tensor(x.dtype, out);
  if (x.ints && out.size() <= 1) set_ints(v, *x.ints);
  return one(v);
}

std::vector<VS> infer_reduce(const In& in, bool arg) {
  const Node& n = in.n;
  const VS& x = in[0];
  const std::optional<DType> dt = arg ? std::optional<DType>(DType::Int64) : x.dtype;
  if (!x.has_shape) return one(rank_unknown(dt));
  const bool keep = n.i("keepdims", 1) != 0;
  std::vector<int64_t> axes;
  bool given = false;
  if (arg) {
    axes = {n.i("axis", 0)};
    given = true;
  } else {
    // ReduceSum took axes as an input from opset 13, the others from 18.
    auto a = axes_of(in, 1, n.op_type == "ReduceSum" ? 13 : 18, &given);
    if (!a) return one(keep ? tensor(dt, Dims(x.shape.size())) : rank_unknown(dt));
    axes = *a;
    given = given && !axes.empty();
  }
  std::vector<bool> red(x.shape.size(), false);
  if (!given) {
    if (n.i("noop_with_empty_axes", 0) != 0) return one(tensor(dt, x.shape));
    red.assign(x.shape.size(), true);
  }
  for (auto a : axes) {
    auto ax = axis_of(a, x.shape.size());
    if (!ax) return one(rank_unknown(dt));
    red[*ax] = true;
  }
  Dims out;
  for (size_t k = 0; k < x.shape.size(); ++k) {
    if (!red[k]) out.push_back(x.shape[k]);
    else if (keep) out.push_back(SymDim::of(1));
  }
  return one(tensor(dt, out));
}

std::vector<VS> infer_split(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  const size_t nout = n.outputs.size();
  std::vector<VS> out(nout, rank_unknown(x.dtype));
  if (!x.has_shape) return out;
  auto axis = axis_of(n.i("axis", 0), x.shape.size());
  if (!axis) return out;
  std::optional<std::vector<int64_t>> sizes;
  if (in.opset < 13) {
    if (n.has("split")) sizes = n.ints("split");
  } else if (in.has(1)) {
    sizes = in.ints(1);
    if (!sizes) {
      for (auto& o : out) o = tensor(x.dtype, [&] { Dims d = x.shape; d[*axis] = {}; return d; }());
      return out;
    }
  }
  int64_t dim = 0;
  const bool fd = fixed(x.shape[*axis], &dim);
  if (!sizes && fd && nout > 0) {
    // Equal parts; from opset 18 the last part may be smaller (ceil division).
    const auto parts = static_cast<int64_t>(nout);
    const int64_t each = in.opset >= 18 ? (dim + parts - 1) / parts : dim / parts;
    sizes = std::vector<int64_t>(nout, each);
    if (in.opset >= 18) sizes->back() = dim - each * (parts - 1);
  }
  for (size_t k = 0; k < nout; ++k) {
    Dims d = x.shape;
    if (sizes && sizes->size() == nout) d[*axis] = SymDim::of((*sizes)[k]);
    else if (!sizes && nout > 0) d[*axis] = div_exact(x.shape[*axis], SymDim::of(static_cast<int64_t>(nout)));
    else d[*axis] = {};
    out[k] = tensor(x.dtype, d);
  }
  if (sizes && sizes->size() == nout && fd) {
    int64_t s = 0;
    for (auto v : *sizes) s += v;
    if (s != dim) prove(n, "split sizes sum to ", s, " but dim ", *axis, " of '", in.name(0), "' is ", dim);
  }
  return out;
}

std::vector<VS> infer_rnn(const In& in, size_t nstate) {
  const Node& n = in.n;
  const VS& x = in[0];
  const int64_t hidden = n.i("hidden_size", -1);
  const int64_t dirs = n.s("direction", "forward") == "bidirectional" ? 2 : 1;
  const bool batch_first = n.i("layout", 0) != 0;
  const SymDim h = hidden > 0 ? SymDim::of(hidden) : SymDim{};
  SymDim seq, batch;
  if (x.has_shape && x.shape.size() == 3) {
    seq = x.shape[batch_first ? 1 : 0];
    batch = x.shape[batch_first ? 0 : 1];
  }
  const SymDim d = SymDim::of(dirs);
  std::vector<VS> out;
  out.push_back(tensor(x.dtype, batch_first ? Dims{batch, seq, d, h} : Dims{seq, d, batch, h}));
  for (size_t k = 0; k < nstate; ++k) out.push_back(tensor(x.dtype, batch_first ? Dims{batch, d, h} : Dims{d, batch, h}));
  return out;
}

std::vector<VS> infer_resize(const In& in) {
  const Node& n = in.n;
  const VS& x = in[0];
  if (!x.has_shape) return one(rank_unknown(x.dtype));
  const size_t r = x.shape.size();
  // Upsample and Resize-10 take scales as input 1; Resize-11+ has roi, scales, sizes.
  const size_t scales_k = (n.op_type == "Upsample" || in.opset < 11) ? 1 : 2;
  std::vector<int64_t> axes = n.ints("axes");
  if (axes.empty())
    for (size_t k = 0; k < r; ++k) axes.push_back(static_cast<int64_t>(k));
  Dims out = x.shape;
  if (in.has(3) && scales_k == 2) {
    auto sizes = in.ints(3);
    if (!sizes || sizes->size() != axes.size() || n.s("keep_aspect_ratio_policy", "stretch") != "stretch")
      return one(tensor(x.dtype, Dims(r)));
    for (size_t k = 0; k < axes.size(); ++k) {
      auto a = axis_of(axes[k], r);
      if (!a) return one(rank_unknown(x.dtype));
      out[*a] = SymDim::of((*sizes)[k]);
    }
    return one(tensor(x.dtype, out));
  }
  const std::vector<double>* scales = n.op_type == "Upsample" && in.opset < 9 ? nullptr : in.floats(scales_k);
  std::vector<double> attr_scales;
  if (n.op_type == "Upsample" && in.opset < 9) {
    attr_scales = n.floats("scales");
    scales = &attr_scales;
  }
  if (!scales || scales->size() != axes.size()) return one(tensor(x.dtype, Dims(r)));
  for (size_t k = 0; k < axes.size(); ++k) {
    auto a = axis_of(axes[k], r);
    if (!a) return one(rank_unknown(x.dtype));
    const double s = (*scales)[k];
    int64_t d = 0;
    if (fixed(x.shape[*a], &d)) {
      const double o = std::floor(static_cast<double>(d) * s);
      out[*a] = o >= 0 && o < 9e15 ? SymDim::of(static_cast<int64_t>(o)) : SymDim{};
    } else if (s == std::floor(s) && s >= 0 && s < 1e6) {
      out[*a] = x.shape[*a] * SymDim::of(static_cast<int64_t>(s));
    } else {
      out[*a] = {};
    }
  }
  return one(tensor(x.dtype, out));
}

// Ops whose output 0 has the shape and dtype of input 0.
const std::set<std::string>& same_as_input() {
  static const std::set<std::string> s = {
      "Identity", "Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Neg", "Abs", "Sqrt", "Reciprocal", "Floor",
      "Ceil", "Round", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
      "Sign", "Clip", "LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus", "Softsign",
      "Gelu", "Swish", "Mish", "ThresholdedRelu", "Shrink", "Softmax", "LogSoftmax", "Hardmax", "LRN",
      "BatchNormalization", "InstanceNormalization", "LpNormalization", "MeanVarianceNormalization", "CumSum",
      "CumProd", "Trilu", "ReverseSequence", "Scatter", "ScatterElements", "ScatterND", "BitwiseNot",
      "GroupNormalization", "RMSNormalization", "Not", "DequantizeLinear", "QuantizeLinear", "Bernoulli",
      "RotaryEmbedding", "Dropout"};
  return s;
}

const std::set<std::string>& broadcasting() {
  static const std::set<std::string> s = {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "And", "Or", "Xor",
                                          "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Max", "Min",
                                          "Sum", "Mean", "PRelu", "BitwiseAnd", "BitwiseOr", "BitwiseXor"};
  return s;
}

bool comparison(const std::string& op) {
  return op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" || op == "GreaterOrEqual" ||
         op == "And" || op == "Or" || op == "Xor";
}

std::vector<VS> infer_broadcasting(const In& in) {
  const Node& n = in.n;
  const std::string& op = n.op_type;
  std::optional<DType> dt;
  for (size_t k = 0; k < in.v.size() && !dt; ++k) dt = in[k].dtype;
  if (op != "Pow" && op != "BitShift" && op != "PRelu")
    for (size_t k = 1; k < in.v.size(); ++k)
      if (in[0].dtype && in[k].dtype && *in[0].dtype != *in[k].dtype)
        prove_type(n, "inputs must have the same dtype (ONNX does not promote), got '", in.name(0), "' ", *in[0].dtype,
                   " and '", in.name(k), "' ", *in[k].dtype);
  if (op == "Pow") dt = in[0].dtype;
  if (comparison(op)) dt = DType::Bool;
  auto shape = broadcast_all(in, 0, in.v.size());
  VS r = shape ? tensor(dt, *shape) : rank_unknown(dt);
  if (in.v.size() == 2 && in.has(0) && in.has(1) && shape && shape->size() <= 1) {
    std::optional<Dims> vals;
    if (op == "Add") vals = ints_binary(in[0], in[1], [](const SymDim& a, const SymDim& b) { return a + b; });
    else if (op == "Sub") vals = ints_binary(in[0], in[1], [](const SymDim& a, const SymDim& b) { return a - b; });
    else if (op == "Mul") vals = ints_binary(in[0], in[1], [](const SymDim& a, const SymDim& b) { return a * b; });
    else if (op == "Div")
      vals = ints_binary(in[0], in[1], [](const SymDim& a, const SymDim& b) {
        int64_t x = 0, y = 0;
        if (fixed(a, &x) && fixed(b, &y)) return y > 0 && x >= 0 ? SymDim::of(x / y) : SymDim{};
        return div_exact(a, b);
      });
    else if (op == "Equal")
      vals = ints_binary(in[0], in[1], [](const SymDim& a, const SymDim& b) {
        int e = equal_dims(a, b);
        return e < 0 ? SymDim{} : SymDim::of(e);
      });
    else if (op == "Max" || op == "Min") {
      const bool mx = op == "Max";
      vals = ints_binary(in[0], in[1], [mx](const SymDim& a, const SymDim& b) {
        int64_t x = 0, y = 0;
        if (fixed(a, &x) && fixed(b, &y)) return SymDim::of(mx ? std::max(x, y) : std::min(x, y));
        return a.same(b) ? a : SymDim{};
      });
    }
    if (vals) set_ints(r, *vals);
  }
  return one(r);
}

std::vector<VS> infer_where(const In& in) {
  const VS &c = in[0], &x = in[1], &y = in[2];
  if (x.dtype && y.dtype && *x.dtype != *y.dtype)
    prove_type(in.n, "X and Y must have the same dtype, got '", in.name(1), "' ", *x.dtype, " and '", in.name(2), "' ",
               *y.dtype);
  auto shape = broadcast_all(in, 0, 3);
  VS r = shape ? tensor(x.dtype ? x.dtype : y.dtype, *shape) : rank_unknown(x.dtype ? x.dtype : y.dtype);
  if (shape && shape->size() <= 1 && c.ints && x.ints && y.ints) {
    const size_t m = std::max({c.ints->size(), x.ints->size(), y.ints->size()});
    auto at = [m](const Dims& d, size_t k) -> const SymDim* {
      return d.size() == m ? &d[k] : d.size() == 1 ? &d[0] : nullptr;
    };
    Dims vals;
    for (size_t k = 0; k < m; ++k) {
      const SymDim *cc = at(*c.ints, k), *a = at(*x.ints, k), *b = at(*y.ints, k);
      int64_t v = 0;
      if (!cc || !a || !b) return one(r);
      vals.push_back(fixed(*cc, &v) ? (v ? *a : *b) : SymDim{});
    }
    set_ints(r, vals);
  }
  return one(r);
}

// Infers a subgraph with the given input infos; returns its outputs.
std::vector<VS> infer_graph(const Graph& g, Env& env, Ctx& cx, int64_t opset);

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

std::vector<VS> infer_node(const In& in, Ctx& cx, Env& env) {
  const Node& n = in.n;
  const std::string& op = n.op_type;
  if (n.domain == "ai.onnx.ml" && n.op_type == "ArrayFeatureExtractor") {
    // X [..., C] indexed by Y along the last axis: [..., numel(Y)] ([1, numel(Y)] for a 1-D X).
    const VS &x = in[0], &y = in[1];
    if (!x.has_shape || !y.has_shape || x.shape.empty()) return one(rank_unknown(x.dtype));
    Dims s(x.shape.begin(), x.shape.end() - 1);
    if (s.empty()) s.push_back(SymDim::of(1));
    s.push_back(numel(y.shape));
    return one(tensor(x.dtype, s));
  }
  if (!n.domain.empty() && n.domain != "ai.onnx") return {};
  const VS& x = in[0];
  if (op == "Constant") return infer_constant(in, env);
  if (op == "If") return infer_if(in, cx);
  if (op == "Loop") return infer_loop(in, cx);
  if (op == "Scan") return infer_scan(in, cx);
  if (x.sequence) return {};
  if (same_as_input().count(op)) {
    if ((op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") && x.has_shape)
      axis_of(n.i("axis", in.opset >= 13 ? -1 : 1), x.shape.size());  // throws when out of range
    VS r = x;
    r.ints = op == "Identity" ? x.ints : std::nullopt;
    std::vector<VS> out{r};
    if (op == "Dropout") out.push_back(tensor(DType::Bool, x.shape)), out.back().has_shape = x.has_shape;
    if (op == "DequantizeLinear") out[0].dtype = in.has(1) ? in[1].dtype : std::nullopt;
    if (op == "QuantizeLinear")
      out[0].dtype = n.i("output_dtype", 0) != 0 ? dtype_from_onnx(n.i("output_dtype", 0))
                     : in.has(2)                 ? in[2].dtype
                                                 : std::optional<DType>(DType::UInt8);
    if (op == "Bernoulli") out[0].dtype = dtype_attr(n, "dtype", x.dtype);
    if (op == "BatchNormalization") out.resize(1);
    return out;
  }
  if (broadcasting().count(op)) return infer_broadcasting(in);
  if (op == "Where") return infer_where(in);
  if (op == "Cast" || op == "CastLike") {
    VS r = x;
    r.dtype = op == "Cast" ? dtype_attr(n, "to", std::nullopt) : in[1].dtype;
    if (!is_int(r.dtype) || (r.dtype == DType::Bool && !(x.dtype == DType::Bool))) r.ints.reset();
    return one(r);
  }
  if (op == "IsNaN" || op == "IsInf") {
    VS r = x;
    r.dtype = DType::Bool;
    return one(r);
  }
  if (op == "LayerNormalization") {
    VS r = x;
    std::vector<VS> out{r};
    if (x.has_shape) {
      Dims s = x.shape;
      if (auto a = axis_of(n.i("axis", -1), s.size()))
        for (size_t k = *a; k < s.size(); ++k) s[k] = SymDim::of(1);
      out.push_back(tensor(DType::Float32, s));
      out.push_back(tensor(DType::Float32, s));
    }
    return out;
  }
  if (op == "MatMul") return infer_matmul(in, x.dtype);
  if (op == "MatMulInteger") return infer_matmul(in, DType::Int32);
  if (op == "Gemm") return infer_gemm(in);
  if (op == "Conv") return infer_conv(in);
  if (op == "ConvTranspose") return infer_conv_transpose(in);
  if (op == "MaxPool" || op == "AveragePool" || op == "LpPool") return infer_pool(in);
  if (op == "GlobalAveragePool" || op == "GlobalMaxPool" || op == "GlobalLpPool") {
    if (!x.has_shape || x.shape.size() < 2) return one(rank_unknown(x.dtype));
    Dims s = x.shape;
    for (size_t k = 2; k < s.size(); ++k) s[k] = SymDim::of(1);
    return one(tensor(x.dtype, s));
  }
  if (op == "Reshape") return infer_reshape(in);
  if (op == "Flatten") {
    if (!x.has_shape) return one(tensor(x.dtype, Dims(2)));
    const auto r = static_cast<int64_t>(x.shape.size());
    int64_t a = n.i("axis", 1);
    if (a < -r || a > r) return one(tensor(x.dtype, Dims(2)));
    if (a < 0) a += r;
    Dims lo(x.shape.begin(), x.shape.begin() + a), hi(x.shape.begin() + a, x.shape.end());
    return one(tensor(x.dtype, {numel(lo), numel(hi)}));
  }
  if (op == "Transpose") {
    if (!x.has_shape) return one(rank_unknown(x.dtype));
    auto perm = n.ints("perm");
    const size_t r = x.shape.size();
    if (perm.empty())
      for (size_t k = r; k-- > 0;) perm.push_back(static_cast<int64_t>(k));
    if (perm.size() != r) {
      prove(n, "perm has ", perm.size(), " entries but '", in.name(0), "' has rank ", r);
    }
    Dims s;
    for (auto p : perm) {
      auto a = axis_of(p, r);
      if (!a) return one(rank_unknown(x.dtype));
      s.push_back(x.shape[*a]);
    }
    return one(tensor(x.dtype, s));
  }
  if (op == "Concat") return infer_concat(in);
  if (op == "Slice") return infer_slice(in);
  if (op == "Squeeze") return infer_squeeze(in);
  if (op == "Unsqueeze") return infer_unsqueeze(in);
  if (op == "Gather") return infer_gather(in);
  if (op == "GatherElements") {
    VS r = in[1];
    r.dtype = x.dtype;
    r.ints.reset();
    return one(r);
  }
  if (op == "Shape") {
    if (!x.has_shape) return one(tensor(DType::Int64, {SymDim{}}));
    const auto r = static_cast<int64_t>(x.shape.size());
    int64_t s = in.opset >= 15 ? n.i("start", 0) : 0, e = in.opset >= 15 ? n.i("end", r) : r;
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = std::clamp<int64_t>(s, 0, r);
    e = std::clamp<int64_t>(e, 0, r);
    Dims vals(x.shape.begin() + s, x.shape.begin() + std::max(s, e));
    VS v = tensor(DType::Int64, {SymDim::of(static_cast<int64_t>(vals.size()))});
    set_ints(v, vals);
    return one(v);
  }
  if (op == "Size") {
    VS v = tensor(DType::Int64, {});
    if (x.has_shape) set_ints(v, {numel(x.shape)});
    return one(v);
  }
  if (op == "Expand") {
    if (!in[1].ints || !x.has_shape) return one(rank_unknown(x.dtype));
    VS r = tensor(x.dtype, *broadcast(in, x.shape, *in[1].ints));
    if (x.ints && r.has_shape && r.shape.size() <= 1) {
      int64_t len = 0;
      if (r.shape.empty() || (fixed(r.shape[0], &len) && x.ints->size() == 1 && len >= 0 && len <= 64))
        set_ints(r, Dims(r.shape.empty() ? 1 : static_cast<size_t>(len), (*x.ints)[0]));
      if (!r.shape.empty() && x.ints->size() == static_cast<size_t>(len)) set_ints(r, *x.ints);
    }
    return one(r);
  }
  if (op == "Tile") {
    auto reps = in.ints(1);
    if (!x.has_shape) return one(rank_unknown(x.dtype));
    if (!reps || reps->size() != x.shape.size()) return one(tensor(x.dtype, Dims(x.shape.size())));
    Dims s;
    for (size_t k = 0; k < reps->size(); ++k) s.push_back(x.shape[k] * SymDim::of((*reps)[k]));
    return one(tensor(x.dtype, s));
  }
  if (op == "Pad") {
    if (!x.has_shape) return one(rank_unknown(x.dtype));
    std::optional<std::vector<int64_t>> pads = in.opset < 11 ? n.ints("pads") : in.ints(1);
    std::optional<std::vector<int64_t>> axes;
    if (in.opset >= 18 && in.has(3)) axes = in.ints(3);
    else {
      axes = std::vector<int64_t>();
      for (size_t k = 0; k < x.shape.size(); ++k) axes->push_back(static_cast<int64_t>(k));
    }
    if (!pads || !axes || pads->size() != 2 * axes->size()) return one(tensor(x.dtype, Dims(x.shape.size())));
    Dims s = x.shape;
    for (size_t k = 0; k < axes->size(); ++k) {
      auto a = axis_of((*axes)[k], s.size());
      if (!a) return one(rank_unknown(x.dtype));
      s[*a] = s[*a] + SymDim::of((*pads)[k]) + SymDim::of((*pads)[k + axes->size()]);
    }
    return one(tensor(x.dtype, s));
  }
  if (op.rfind("Reduce", 0) == 0) return infer_reduce(in, false);
  if (op == "ArgMax" || op == "ArgMin") return infer_reduce(in, true);
  if (op == "Split") return infer_split(in);
  if (op == "TopK") {
    std::optional<int64_t> k;
    if (in.opset < 10) k = n.i("k", -1);
    else if (auto kv = in.ints(1); kv && kv->size() == 1) k = (*kv)[0];
    if (!x.has_shape) return {rank_unknown(x.dtype), rank_unknown(DType::Int64)};
    Dims s = x.shape;
    auto a = axis_of(n.i("axis", -1), s.size());
    if (!a) return {rank_unknown(x.dtype), rank_unknown(DType::Int64)};
    s[*a] = k && *k >= 0 ? SymDim::of(*k) : SymDim{};
    return {tensor(x.dtype, s), tensor(DType::Int64, s)};
  }
  if (op == "Range") {
    VS r = tensor(x.dtype, {SymDim{}});
    auto s = in.ints(0), l = in.ints(1), d = in.ints(2);
    if (s && l && d && s->size() == 1 && l->size() == 1 && d->size() == 1 && (*d)[0] != 0) {
      const long double cnt = std::ceil((static_cast<long double>((*l)[0]) - (*s)[0]) / (*d)[0]);
      const int64_t len = cnt > 0 ? (cnt < 9e15L ? static_cast<int64_t>(cnt) : -1) : 0;
      if (len >= 0) {
        r.shape[0] = SymDim::of(len);
        if (static_cast<size_t>(len) <= kMaxTrackedInts) {
          Dims vals;
          for (int64_t k = 0; k < len; ++k) vals.push_back(SymDim::of((*s)[0] + k * (*d)[0]));
          set_ints(r, vals);
        }
      }
    } else if (in[0].ints && in[1].ints && in[2].ints && in[0].ints->size() == 1 && in[1].ints->size() == 1) {
      int64_t s0 = -1, d0 = 0;
      if (fixed((*in[0].ints)[0], &s0) && s0 == 0 && in[2].ints->size() == 1 && fixed((*in[2].ints)[0], &d0) && d0 == 1)
        r.shape[0] = (*in[1].ints)[0];
    }
    return one(r);
  }
  if (op == "ConstantOfShape") {
    std::optional<DType> dt = DType::Float32;
    std::optional<int64_t> fill = 0;
    auto it = n.attrs.find("value");
    if (it != n.attrs.end()) {
      if (auto* t = std::get_if<Tensor>(&it->second)) {
        dt = t->dtype();
        fill = std::nullopt;
        if (is_int(dt) && t->numel() == 1) fill = t->to(DType::Int64).contiguous().data<int64_t>()[0];
      } else {
        return {};
      }
    }
    if (!in[0].ints) {
      if (in[0].has_shape && in[0].shape.size() == 1) {
        int64_t r = 0;
        if (fixed(in[0].shape[0], &r) && r >= 0 && static_cast<size_t>(r) <= kMaxRank)
          return one(tensor(dt, Dims(static_cast<size_t>(r))));
      }
      return one(rank_unknown(dt));
    }
    VS r = tensor(dt, *in[0].ints);
    int64_t len = 0;
    if (fill && r.has_shape && r.shape.size() <= 1 && fixed(r.shape.empty() ? SymDim::of(1) : r.shape[0], &len) &&
        len >= 0 && static_cast<size_t>(len) <= kMaxTrackedInts)
      set_ints(r, Dims(static_cast<size_t>(len), SymDim::of(*fill)));
    return one(r);
  }
  if (op == "EyeLike") {
    VS r = x;
    r.ints.reset();
    r.dtype = dtype_attr(n, "dtype", x.dtype);
    return one(r);
  }
  if (op == "Resize" || op == "Upsample") return infer_resize(in);
  if (op == "LSTM") return infer_rnn(in, 2);
  if (op == "GRU" || op == "RNN") return infer_rnn(in, 1);
  if (op == "NonZero") return one(tensor(DType::Int64, {x.has_shape ? SymDim::of(static_cast<int64_t>(x.shape.size())) : SymDim{}, SymDim{}}));
  if (op == "Compress") {
    if (!n.has("axis")) return one(tensor(x.dtype, {SymDim{}}));
    if (!x.has_shape) return one(rank_unknown(x.dtype));
    Dims s = x.shape;
    auto a = axis_of(n.i("axis", 0), s.size());
    if (!a) return one(rank_unknown(x.dtype));
    s[*a] = {};
    return one(tensor(x.dtype, s));
  }
  if (op == "OneHot") {
    const VS& idx = in[0];
    if (!idx.has_shape) return one(rank_unknown(in[2].dtype));
    Dims s = idx.shape;
    auto a = axis_of(n.i("axis", -1), s.size() + 1);
    auto depth = in.ints(1);
    if (!a) return one(rank_unknown(in[2].dtype));
    s.insert(s.begin() + static_cast<long>(*a), depth && depth->size() == 1 && (*depth)[0] >= 0 ? SymDim::of((*depth)[0]) : SymDim{});
    return one(tensor(in[2].dtype, s));
  }
  if (op == "DepthToSpace" || op == "SpaceToDepth") {
    if (!x.has_shape || x.shape.size() != 4) return one(rank_unknown(x.dtype));
    const SymDim b = SymDim::of(n.i("blocksize", 1));
    if (op == "DepthToSpace")
      return one(tensor(x.dtype, {x.shape[0], div_exact(x.shape[1], b * b), x.shape[2] * b, x.shape[3] * b}));
    return one(tensor(x.dtype, {x.shape[0], x.shape[1] * b * b, div_exact(x.shape[2], b), div_exact(x.shape[3], b)}));
  }
  if (op == "RandomNormal" || op == "RandomUniform") {
    Dims s;
    for (auto d : n.ints("shape")) s.push_back(SymDim::of(d));
    return one(tensor(dtype_attr(n, "dtype", DType::Float32), s));
  }
  if (op == "RandomNormalLike" || op == "RandomUniformLike") {
    VS r = x;
    r.ints.reset();
    r.dtype = dtype_attr(n, "dtype", x.dtype);
    return one(r);
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
    if (fixed(v.shape[k], &a) && fixed(d.shape[k], &b) && a != b)
      throw Proven(detail::cat(where(), "value '", name, "' is declared with shape ", show(d.shape), " but inferred ",
                               show(v.shape), " (dim ", k, ")"),
                 false);
    if (!v.shape[k].known || (!fixed(v.shape[k], &a) && fixed(d.shape[k], &b))) v.shape[k] = d.shape[k];
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
    info.onnx_type = "sequence";
    return info;
  }
  if (v.dtype) {
    info.dtype = *v.dtype;
    info.onnx_type = onnx_type_name(*v.dtype);
  } else {
    info.onnx_type = "unknown";
  }
  info.has_shape = v.has_shape;
  for (const auto& d : v.shape) info.shape.push_back(d.to_dim());
  return info;
}

}  // namespace

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
