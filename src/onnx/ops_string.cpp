// ONNX ops over string tensors (tensor(string)). tessel's Tensor has no string
// dtype, so these run on StringTensor values (shape + row-major std::string).
// The shape ops do not re-implement ONNX's shape rules: they run the tensor op
// on an int64 tensor of element positions (0 .. numel-1, the strings' shape)
// and pick the strings at the positions it returns, so Reshape, Slice, Gather,
// ... keep exactly the semantics (and errors) of their numeric versions.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <regex>
#include <set>
#include <unordered_map>

#include "src/onnx/internal.h"

namespace tessel::onnx {

// Element positions of `s` as an int64 tensor of its shape.
Tensor string_positions(const StringTensor& s, int64_t offset) {
  Tensor t = empty(s.shape, TensorOptions(DType::Int64));
  int64_t* p = t.data<int64_t>();
  for (int64_t k = 0; k < s.numel(); ++k) p[k] = offset + k;
  return t;
}

// The strings of `pool` at the positions held by `idx`, in idx's shape.
StringTensor pick_strings(const std::vector<const std::string*>& pool, const Tensor& idx) {
  StringTensor out;
  out.shape = idx.shape();
  Tensor c = idx.contiguous();
  const int64_t* p = c.data<int64_t>();
  out.data.reserve(static_cast<size_t>(c.numel()));
  for (int64_t k = 0; k < c.numel(); ++k) out.data.push_back(*pool[static_cast<size_t>(p[k])]);
  return out;
}

namespace {

StringPtr str_in(const Node& n, const ValueInputs& in, size_t k) {
  if (k >= in.size() || !in[k]) n.error("input ", k, " is required but missing");
  if (auto* s = std::get_if<StringPtr>(&*in[k])) return *s;
  n.error<TypeError>("input ", k, " must be a string tensor, got ",
                     std::holds_alternative<Tensor>(*in[k]) ? "a numeric tensor" : "a sequence");
}

// Input k as a tensor (nullopt when omitted); a string there is an error.
std::optional<Tensor> num_in(const Node& n, const ValueInputs& in, size_t k) {
  if (k >= in.size() || !in[k]) return std::nullopt;
  if (auto* t = std::get_if<Tensor>(&*in[k])) return *t;
  n.error<TypeError>("input ", k, " must be a numeric tensor, got ",
                     std::holds_alternative<StringPtr>(*in[k]) ? "strings" : "a sequence");
}

bool is_str(const ValueInputs& in, size_t k) {
  return k < in.size() && in[k] && std::holds_alternative<StringPtr>(*in[k]);
}

std::vector<Value> one_str(StringTensor s) { return {string_value(std::move(s))}; }


// A shape op over strings: the inputs that may hold strings (`str_input`)
// become position tensors for the tensor op `op`, and each of its outputs picks
// the strings at the positions it holds; `numeric_out` ops (Shape, Size) return
// the tensor op's result as it is.
std::vector<Value> via_positions(const Node& n, const ValueInputs& in, const OpContext& ctx, const std::string& op,
                                 const std::function<bool(size_t)>& str_input, bool numeric_out) {
  const auto& table = op_table();
  auto it = table.find(op);
  if (it == table.end()) n.error<NotImplementedError>("op has no tensor version");
  Inputs tin;
  std::vector<const std::string*> pool;
  for (size_t k = 0; k < in.size(); ++k) {
    if (!in[k]) {
      tin.emplace_back(std::nullopt);
      continue;
    }
    if (auto* s = std::get_if<StringPtr>(&*in[k])) {
      if (!str_input(k)) n.error<TypeError>("input ", k, " must be a numeric tensor, got strings");
      tin.emplace_back(string_positions(**s, static_cast<int64_t>(pool.size())));
      for (const auto& x : (*s)->data) pool.push_back(&x);
    } else if (auto* t = std::get_if<Tensor>(&*in[k])) {
      if (str_input(k)) n.error<TypeError>("input ", k, " is numeric but the op's other data inputs are strings");
      tin.emplace_back(*t);
    } else {
      n.error<TypeError>("input ", k, " is a sequence; this op takes tensors");
    }
  }
  std::vector<Tensor> out = it->second(n, tin, ctx);
  std::vector<Value> res;
  for (auto& t : out) {
    if (numeric_out) res.emplace_back(std::move(t));
    else res.push_back(string_value(pick_strings(pool, t)));
  }
  return res;
}

// ---- Broadcasting of two string tensors (Equal, StringConcat) ----

Shape broadcast(const Node& n, const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t k = 0; k < r; ++k) {
    const int64_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    const int64_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da != db && da != 1 && db != 1) n.error("shapes ", a, " and ", b, " do not broadcast");
    out[k] = da == 1 ? db : da;
  }
  return out;
}

// For each element of the broadcast shape `out`, the flat index into a tensor of shape `s`.
std::vector<int64_t> source_index(const Shape& s, const Shape& out) {
  const size_t r = out.size(), off = r - s.size();
  std::vector<int64_t> stride(r, 0);
  int64_t st = 1;
  for (size_t k = r; k-- > off;) {
    stride[k] = s[k - off] == 1 ? 0 : st;
    st *= s[k - off];
  }
  int64_t total = 1;
  for (auto d : out) total *= d;
  std::vector<int64_t> idx(static_cast<size_t>(total));
  std::vector<int64_t> pos(r, 0);
  for (int64_t k = 0; k < total; ++k) {
    int64_t f = 0;
    for (size_t d = 0; d < r; ++d) f += pos[d] * stride[d];
    idx[static_cast<size_t>(k)] = f;
    for (size_t d = r; d-- > 0;)
      if (++pos[d] < out[d]) break;
      else pos[d] = 0;
  }
  return idx;
}

template <class F>
void binary_strings(const Node& n, const StringTensor& a, const StringTensor& b, Shape& shape, F&& f) {
  shape = broadcast(n, a.shape, b.shape);
  auto ia = source_index(a.shape, shape), ib = source_index(b.shape, shape);
  for (size_t k = 0; k < ia.size(); ++k) f(k, a.data[static_cast<size_t>(ia[k])], b.data[static_cast<size_t>(ib[k])]);
}

// Opset in which an op first takes strings (the file declares an older one: refused, as ONNX's checker does).
void need_opset(const Node& n, const OpContext& ctx, int64_t since) {
  if (ctx.opset < since)
    n.error<TypeError>("string tensors need opset ", since, " or later for this op; the model imports opset ", ctx.opset);
}

std::vector<Value> equal(const Node& n, const ValueInputs& in, const OpContext& ctx) {
  need_opset(n, ctx, 19);
  if (!is_str(in, 0) || !is_str(in, 1)) n.error<TypeError>("Equal over strings needs two string tensors");
  auto a = str_in(n, in, 0), b = str_in(n, in, 1);
  Shape shape;
  std::vector<char> eq;
  binary_strings(n, *a, *b, shape, [&](size_t, const std::string& x, const std::string& y) { eq.push_back(x == y); });
  Tensor t = empty(shape, TensorOptions(DType::Bool));
  std::copy(eq.begin(), eq.end(), reinterpret_cast<char*>(t.data_ptr()));
  return {t};
}

std::vector<Value> string_concat(const Node& n, const ValueInputs& in, const OpContext& ctx) {
  need_opset(n, ctx, 20);
  auto a = str_in(n, in, 0), b = str_in(n, in, 1);
  StringTensor out;
  binary_strings(n, *a, *b, out.shape,
                 [&](size_t, const std::string& x, const std::string& y) { out.data.push_back(x + y); });
  return one_str(std::move(out));
}

// ---- Cast ----

// Numbers as onnxruntime writes them: integers (bools as 1/0) in decimal,
// floats with 8 significant digits (printf %.8g), "NaN"/"INF"/"-INF".
std::vector<std::string> to_strings(const Node& n, const Tensor& x) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(x.numel()));
  const DType dt = x.dtype();
  char buf[64];
  if (dt == DType::UInt64) {
    Tensor c = x.contiguous();
    for (int64_t k = 0; k < c.numel(); ++k) out.push_back(std::to_string(c.data<uint64_t>()[k]));
    return out;
  }
  if (is_integral(dt, /*include_bool=*/true)) {
    Tensor c = x.to(DType::Int64).contiguous();
    const int64_t* p = c.data<int64_t>();
    for (int64_t k = 0; k < c.numel(); ++k) out.push_back(std::to_string(p[k]));
    return out;
  }
  if (dt == DType::Float64 || dt == DType::Float32 || dt == DType::Float16 || dt == DType::BFloat16) {
    Tensor c = x.to(DType::Float64).contiguous();
    const double* p = c.data<double>();
    for (int64_t k = 0; k < c.numel(); ++k) {
      const double v = p[k];
      if (std::isnan(v)) out.emplace_back("NaN");
      else if (std::isinf(v)) out.emplace_back(v > 0 ? "INF" : "-INF");
      else {
        std::snprintf(buf, sizeof buf, "%.8g", v);  // onnxruntime's form, for every float type
        out.emplace_back(buf);
      }
    }
    return out;
  }
  n.error<NotImplementedError>("cast of ", dt, " to string is not supported");
}

// Strings parsed as numbers: plain and scientific forms, "NaN"/"INF" (any
// case, optional sign) for floats; for integer and bool targets a value with
// a fraction is truncated ("100.5" -> 100). Anything else is an error naming it.
Tensor from_strings(const Node& n, const StringTensor& s, DType dt) {
  std::vector<double> vals;
  std::vector<int64_t> ints;
  const bool integral = is_integral(dt, /*include_bool=*/true);
  for (const auto& str : s.data) {
    const char* b = str.c_str();
    char* e = nullptr;
    if (integral) {
      errno = 0;
      // uint64 values above int64 travel as their bit pattern; the cast back restores them.
      const long long v = dt == DType::UInt64 ? static_cast<long long>(std::strtoull(b, &e, 10)) : std::strtoll(b, &e, 10);
      if (e != b && *e == '\0' && errno == 0) {
        ints.push_back(v);
        continue;
      }
    }
    errno = 0;
    double d = std::strtod(b, &e);
    if (str.empty() || e == b || *e != '\0')
      n.error("cannot cast string '", str.size() > 64 ? str.substr(0, 64) + "..." : str, "' to ", dt);
    if (integral) {
      if (!std::isfinite(d)) n.error("cannot cast string '", str, "' to ", dt, " (not finite)");
      ints.push_back(static_cast<int64_t>(std::trunc(d)));
    } else {
      vals.push_back(d);
    }
  }
  if (integral) {
    Tensor t = from_vector(ints, s.shape);
    return dt == DType::Bool ? ne(t, Scalar(int64_t{0})) : t.to(dt);
  }
  return from_vector(vals, s.shape).to(dt);
}

std::vector<Value> cast_value(const Node& n, const Value& x, std::optional<DType> to, bool to_string) {
  if (auto* s = std::get_if<StringPtr>(&x)) {
    if (to_string) return {x};
    return {from_strings(n, **s, *to)};
  }
  const Tensor* t = std::get_if<Tensor>(&x);
  if (!t) n.error<TypeError>("input 0 is a sequence; this op takes tensors");
  StringTensor out;
  out.shape = t->shape();
  out.data = to_strings(n, *t);
  return one_str(std::move(out));
}

std::vector<Value> cast(const Node& n, const ValueInputs& in, const OpContext&) {
  if (!n.has("to")) n.error("attribute 'to' is required");
  if (in.empty() || !in[0]) n.error("input 0 is required but missing");
  const int64_t to = n.i("to", 0);
  auto dt = dtype_from_onnx(to);
  if (to != 8 && !dt) n.error<NotImplementedError>("cast to ONNX type ", to, " is not supported");
  return cast_value(n, *in[0], dt, to == 8);
}

std::vector<Value> cast_like(const Node& n, const ValueInputs& in, const OpContext&) {
  if (in.size() < 2 || !in[0] || !in[1]) n.error("inputs 0 and 1 are required");
  if (is_str(in, 1)) return cast_value(n, *in[0], std::nullopt, true);
  return cast_value(n, *in[0], num_in(n, in, 1)->dtype(), false);
}

// ---- Text ops ----

// ASCII case mapping only: std's locale-dependent towupper would need a
// process-wide locale and UTF-8 decoding; other characters pass unchanged.
std::string ascii_case(std::string s, bool upper) {
  for (auto& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// X is [C] or [1, C]; elements equal to a stopword (ignoring ASCII case unless
// is_case_sensitive) are dropped, the rest case-mapped. All dropped: one "".
std::vector<Value> string_normalizer(const Node& n, const ValueInputs& in, const OpContext&) {
  auto x = str_in(n, in, 0);
  const std::string action = n.s("case_change_action", "NONE");
  if (action != "NONE" && action != "LOWER" && action != "UPPER")
    n.error("case_change_action must be NONE, LOWER or UPPER, got '", action, "'");
  const bool sensitive = n.i("is_case_sensitive", 0) != 0;
  const auto stop_list = n.strings("stopwords");
  const bool two_d = x->shape.size() == 2;
  if (!(x->shape.size() == 1 || (two_d && x->shape[0] == 1)))
    n.error("X must be [C] or [1, C], got shape ", x->shape);
  std::set<std::string> stops;
  for (const auto& w : stop_list) stops.insert(sensitive ? w : ascii_case(w, false));
  StringTensor out;
  for (const auto& s : x->data) {
    if (!stops.empty() && stops.count(sensitive ? s : ascii_case(s, false))) continue;
    out.data.push_back(action == "NONE" ? s : ascii_case(s, action == "UPPER"));
  }
  if (out.data.empty()) out.data.emplace_back();
  const auto c = static_cast<int64_t>(out.data.size());
  out.shape = two_d ? Shape{1, c} : Shape{c};
  return one_str(std::move(out));
}

// std::regex (ECMAScript grammar) stands in for RE2, which ONNX names: the
// common subset (classes, \w \d \s, groups, alternation, repeats) agrees.
std::vector<Value> regex_full_match(const Node& n, const ValueInputs& in, const OpContext& ctx) {
  need_opset(n, ctx, 20);
  auto x = str_in(n, in, 0);
  if (!n.has("pattern")) n.error("attribute 'pattern' is required");
  std::regex re;
  try {
    re = std::regex(n.s("pattern", ""), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    n.error("pattern '", n.s("pattern", ""), "' is not a valid regular expression: ", e.what());
  }
  Tensor t = empty(x->shape, TensorOptions(DType::Bool));
  bool* p = reinterpret_cast<bool*>(t.data_ptr());
  for (size_t k = 0; k < x->data.size(); ++k) p[k] = std::regex_match(x->data[k], re);
  return {t};
}

bool py_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Python's str.split(sep, maxsplit): with a delimiter, every occurrence
// splits (empty pieces kept); without one, runs of whitespace split and
// leading/trailing whitespace is dropped.
std::vector<std::string> split(const std::string& s, const std::string& sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (!sep.empty()) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      size_t p = s.find(sep, start);
      if (p == std::string::npos) break;
      out.push_back(s.substr(start, p - start));
      start = p + sep.size();
    }
    out.push_back(s.substr(start));
    return out;
  }
  size_t i = 0;
  while (true) {
    while (i < s.size() && py_space(s[i])) ++i;
    if (i >= s.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t e = s.size();
      while (e > i && py_space(s[e - 1])) --e;
      out.push_back(s.substr(i, e - i));
      break;
    }
    size_t j = i;
    while (j < s.size() && !py_space(s[j])) ++j;
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Y: X's shape + [most pieces], padded with ""; Z: pieces per element (int64).
std::vector<Value> string_split(const Node& n, const ValueInputs& in, const OpContext& ctx) {
  need_opset(n, ctx, 20);
  auto x = str_in(n, in, 0);
  const std::string sep = n.s("delimiter", "");
  const int64_t maxsplit = n.i("maxsplit", -1);
  std::vector<std::vector<std::string>> parts;
  size_t most = 0;
  for (const auto& s : x->data) {
    parts.push_back(split(s, sep, maxsplit));
    most = std::max(most, parts.back().size());
  }
  StringTensor y;
  y.shape = x->shape;
  y.shape.push_back(static_cast<int64_t>(most));
  Tensor z = empty(x->shape, TensorOptions(DType::Int64));
  int64_t* pz = z.data<int64_t>();
  for (size_t k = 0; k < parts.size(); ++k) {
    pz[k] = static_cast<int64_t>(parts[k].size());
    for (size_t j = 0; j < most; ++j) y.data.push_back(j < parts[k].size() ? parts[k][j] : std::string());
  }
  return {string_value(std::move(y)), z};
}

// ---- ai.onnx.ml ----

// The keys or values of a LabelEncoder: strings, int64 or floats.
struct Column {
  enum Kind { None, Str, Int, Flt } kind = None;
  std::vector<std::string> s;
  std::vector<int64_t> i;
  std::vector<double> f;
  DType dtype = DType::Float32;  // of Flt/Int columns given as tensors
  size_t size() const { return kind == Str ? s.size() : kind == Int ? i.size() : f.size(); }
};

Column column(const Node& n, const std::string& prefix) {
  Column c;
  if (n.has(prefix + "_strings")) c.kind = Column::Str, c.s = n.strings(prefix + "_strings");
  else if (n.has(prefix + "_int64s")) c.kind = Column::Int, c.i = n.ints(prefix + "_int64s"), c.dtype = DType::Int64;
  else if (n.has(prefix + "_floats")) c.kind = Column::Flt, c.f = n.floats(prefix + "_floats");
  else if (n.has(prefix + "_tensor")) {
    const Attr& a = n.attrs.at(prefix + "_tensor");
    if (auto* st = std::get_if<StringTensor>(&a)) {
      c.kind = Column::Str, c.s = st->data;
    } else if (auto* t = std::get_if<Tensor>(&a)) {
      c.dtype = t->dtype();
      if (is_integral(t->dtype())) {
        c.kind = Column::Int;
        Tensor x = t->to(DType::Int64).contiguous();
        c.i.assign(x.data<int64_t>(), x.data<int64_t>() + x.numel());
      } else {
        c.kind = Column::Flt;
        c.f = host_doubles(*t);
      }
    } else {
      n.error("attribute '", prefix, "_tensor' must be a tensor");
    }
  }
  return c;
}

// Maps each element of X through keys -> values, else the default. Opset 1
// (classes_strings) maps strings to their index and int64 indices to strings.
std::vector<Value> label_encoder(const Node& n, const ValueInputs& in, const OpContext&) {
  if (in.empty() || !in[0]) n.error("input 0 is required but missing");
  Column keys = column(n, "keys"), vals = column(n, "values");
  if (n.has("classes_strings")) {
    auto classes = n.strings("classes_strings");
    if (is_str(in, 0)) {
      keys = {Column::Str, classes, {}, {}};
      vals.kind = Column::Int, vals.dtype = DType::Int64;
      for (size_t k = 0; k < classes.size(); ++k) vals.i.push_back(static_cast<int64_t>(k));
    } else {
      keys.kind = Column::Int, keys.dtype = DType::Int64;
      for (size_t k = 0; k < classes.size(); ++k) keys.i.push_back(static_cast<int64_t>(k));
      vals = {Column::Str, classes, {}, {}};
    }
  }
  if (keys.kind == Column::None || vals.kind == Column::None) n.error("keys and values are required");
  if (keys.size() != vals.size()) n.error("keys (", keys.size(), ") and values (", vals.size(), ") differ in length");
  if (is_str(in, 0) != (keys.kind == Column::Str))
    n.error<TypeError>("input X is ", is_str(in, 0) ? "strings" : "numeric", " but the keys are ",
                       keys.kind == Column::Str ? "strings" : "numbers");
  // Defaults: default_tensor (opset 4), else the typed attribute.
  std::string dstr = n.s("default_string", "_Unused");
  int64_t dint = n.i("default_int64", -1);
  double dflt = n.f("default_float", -0.0);
  if (n.has("default_tensor")) {
    const Attr& a = n.attrs.at("default_tensor");
    if (auto* st = std::get_if<StringTensor>(&a)) {
      if (st->data.size() != 1) n.error("default_tensor must hold one value");
      dstr = st->data[0];
    } else if (auto* t = std::get_if<Tensor>(&a)) {
      if (t->numel() != 1) n.error("default_tensor must hold one value");
      const double d = host_doubles(*t)[0];
      dint = static_cast<int64_t>(d), dflt = d;
    }
  }
  // Keys as strings (exact bytes), int64 or doubles; values looked up by position.
  const int64_t count = is_str(in, 0) ? std::get<StringPtr>(*in[0])->numel() : std::get<Tensor>(*in[0]).numel();
  std::vector<int64_t> slot(static_cast<size_t>(count), -1);
  Shape shape;
  if (is_str(in, 0)) {
    auto x = std::get<StringPtr>(*in[0]);
    shape = x->shape;
    std::unordered_map<std::string, int64_t> m;
    for (size_t k = keys.s.size(); k-- > 0;) m[keys.s[k]] = static_cast<int64_t>(k);  // first key wins
    for (size_t k = 0; k < x->data.size(); ++k)
      if (auto it = m.find(x->data[k]); it != m.end()) slot[k] = it->second;
  } else {
    const Tensor x = *num_in(n, in, 0);  // a copy: the optional is a temporary
    shape = x.shape();
    auto xs = host_doubles(x);
    std::map<double, int64_t> m;
    for (size_t k = keys.size(); k-- > 0;)
      m[keys.kind == Column::Int ? static_cast<double>(keys.i[k]) : keys.f[k]] = static_cast<int64_t>(k);
    for (size_t k = 0; k < xs.size(); ++k) {
      if (std::isnan(xs[k])) {  // NaN keys match NaN
        for (size_t j = 0; j < keys.f.size(); ++j)
          if (std::isnan(keys.f[j])) slot[k] = static_cast<int64_t>(j);
        continue;
      }
      if (auto it = m.find(xs[k]); it != m.end()) slot[k] = it->second;
    }
  }
  if (vals.kind == Column::Str) {
    StringTensor out;
    out.shape = shape;
    for (auto s : slot) out.data.push_back(s < 0 ? dstr : vals.s[static_cast<size_t>(s)]);
    return one_str(std::move(out));
  }
  if (vals.kind == Column::Int) {
    std::vector<int64_t> out;
    for (auto s : slot) out.push_back(s < 0 ? dint : vals.i[static_cast<size_t>(s)]);
    return {from_vector(out, shape).to(vals.dtype)};
  }
  std::vector<double> out;
  for (auto s : slot) out.push_back(s < 0 ? dflt : vals.f[static_cast<size_t>(s)]);
  return {from_vector(out, shape).to(vals.dtype)};
}

// cats_strings[k] <-> cats_int64s[k]: strings in give int64 (default_int64),
// int64 in gives strings (default_string).
std::vector<Value> category_mapper(const Node& n, const ValueInputs& in, const OpContext&) {
  const auto strs = n.strings("cats_strings");
  const auto ints = n.ints("cats_int64s");
  if (strs.size() != ints.size())
    n.error("cats_strings (", strs.size(), ") and cats_int64s (", ints.size(), ") differ in length");
  if (is_str(in, 0)) {
    auto x = str_in(n, in, 0);
    std::unordered_map<std::string, int64_t> m;
    for (size_t k = strs.size(); k-- > 0;) m[strs[k]] = ints[k];
    const int64_t d = n.i("default_int64", -1);
    std::vector<int64_t> out;
    for (const auto& s : x->data) {
      auto it = m.find(s);
      out.push_back(it == m.end() ? d : it->second);
    }
    return {from_vector(out, x->shape)};
  }
  const Tensor x = *num_in(n, in, 0);
  if (x.dtype() != DType::Int64) n.error<TypeError>("X must be strings or int64, got ", x.dtype());
  std::unordered_map<int64_t, const std::string*> m;
  for (size_t k = ints.size(); k-- > 0;) m[ints[k]] = &strs[k];
  const std::string d = n.s("default_string", "_Unused");
  Tensor c = x.contiguous();
  StringTensor out;
  out.shape = x.shape();
  for (int64_t k = 0; k < c.numel(); ++k) {
    auto it = m.find(c.data<int64_t>()[k]);
    out.data.push_back(it == m.end() ? d : *it->second);
  }
  return one_str(std::move(out));
}

// TfIdfVectorizer over strings: pool strings and X's strings become ids (an
// X string outside the pool gets -1, which matches nothing), then the integer version.
std::vector<Value> tfidf_strings(const Node& n, const ValueInputs& in, const OpContext&) {
  auto x = str_in(n, in, 0);
  if (!n.has("pool_strings")) n.error<TypeError>("X is strings but the node has no pool_strings");
  const auto pool = n.strings("pool_strings");
  std::unordered_map<std::string, int64_t> id;
  std::vector<int64_t> pool_ids;
  for (const auto& s : pool) pool_ids.push_back(id.emplace(s, static_cast<int64_t>(id.size())).first->second);
  std::vector<int64_t> xs;
  for (const auto& s : x->data) {
    auto it = id.find(s);
    xs.push_back(it == id.end() ? -1 : it->second);
  }
  return {tfidf_ids(n, from_vector(xs, x->shape), pool_ids)};
}

// Constant with a string value.
std::vector<Value> constant(const Node& n, const ValueInputs&, const OpContext&) {
  if (n.has("value")) {
    if (auto* st = std::get_if<StringTensor>(&n.attrs.at("value"))) return one_str(*st);
  }
  if (n.has("value_string")) return one_str(StringTensor{{}, {n.s("value_string", "")}});
  if (n.has("value_strings")) {
    auto v = n.strings("value_strings");
    return one_str(StringTensor{{static_cast<int64_t>(v.size())}, v});
  }
  n.error("no string value attribute");
}

}  // namespace

bool string_output(const Node& n) {
  if (n.domain.empty() || n.domain == "ai.onnx") {
    if (n.op_type == "Cast") return n.i("to", 0) == 8;
    if (n.op_type == "Constant")
      return (n.has("value") && std::holds_alternative<StringTensor>(n.attrs.at("value"))) ||
             n.has("value_string") || n.has("value_strings");
  }
  return false;
}

void register_string_ops(std::map<std::string, ValueOpFn>& t) {
  // Identity passes strings through as any value (ops_sequence.cpp).
  // Data input 0 may be strings; the others (shapes, indices, axes) are numbers.
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Gather", "Expand", "Tile",
                         "GatherElements", "GatherND", "Compress", "Split", "ReverseSequence", "Shape", "Size"}) {
    const std::string name = op;
    const bool numeric_out = name == "Shape" || name == "Size";
    t[name] = [name, numeric_out](const Node& n, const ValueInputs& in, const OpContext& c) {
      return via_positions(n, in, c, name, [](size_t k) { return k == 0; }, numeric_out);
    };
  }
  t["Concat"] = [](const Node& n, const ValueInputs& in, const OpContext& c) {
    return via_positions(n, in, c, "Concat", [](size_t) { return true; }, false);
  };
  t["Where"] = [](const Node& n, const ValueInputs& in, const OpContext& c) {
    return via_positions(n, in, c, "Where", [](size_t k) { return k == 1 || k == 2; }, false);
  };
  t["Equal"] = equal;
  t["Cast"] = cast;
  t["CastLike"] = cast_like;
  t["Constant"] = constant;
  t["StringNormalizer"] = string_normalizer;
  t["StringConcat"] = string_concat;
  t["StringSplit"] = string_split;
  t["RegexFullMatch"] = regex_full_match;
  t["TfIdfVectorizer"] = tfidf_strings;
  t["ai.onnx.ml.LabelEncoder"] = label_encoder;
  t["ai.onnx.ml.CategoryMapper"] = category_mapper;
}

}  // namespace tessel::onnx
