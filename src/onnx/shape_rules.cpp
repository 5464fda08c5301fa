// Shape inference rules: tensor and shape ops, elementwise ops with
// broadcasting, and the dispatch of one node by op type (infer_node).
#include <algorithm>
#include <array>
#include <cmath>

#include "src/onnx/shape_internal.h"

namespace tessel::onnx::shape {

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

// ai.onnx.ml ops (ops_ml.cpp, ops_ml_tree.cpp): the classifiers' labels are
// int64 here (mark_strings makes string ones strings), scores are float32.
static std::vector<VS> infer_ml(const In& in) {
  const Node& n = in.n;
  const std::string& op = n.op_type;
  if (in.v.empty() || !in.v[0]) return {};
  const VS& x = *in.v[0];
  if (op == "ArrayFeatureExtractor") {
    // X [..., C] indexed by Y along the last axis: [..., numel(Y)] ([1, numel(Y)] for a 1-D X).
    const VS& y = in[1];
    if (!x.has_shape || !y.has_shape || x.shape.empty()) return one(rank_unknown(x.dtype));
    Dims s(x.shape.begin(), x.shape.end() - 1);
    if (s.empty()) s.push_back(SymDim::of(1));
    s.push_back(numel(y.shape));
    return one(tensor(x.dtype, s));
  }
  if (op == "Scaler" || op == "Normalizer" || op == "Imputer") {
    const std::optional<DType> dt = op == "Imputer" ? x.dtype : std::optional<DType>(DType::Float32);
    return one(x.has_shape ? tensor(dt, x.shape) : rank_unknown(dt));
  }
  if (op == "ZipMap") {
    VS v;
    v.sequence = true;
    v.dtype = DType::Float32;
    return one(v);
  }
  if (op == "DictVectorizer") {  // X is the map: its dtype is the values'
    const int64_t v = static_cast<int64_t>(std::max(n.ints("int64_vocabulary").size(), n.strings("string_vocabulary").size()));
    return one(tensor(x.dtype, {SymDim::of(1), SymDim::of(v)}));
  }
  if (op == "CastMap") {
    const std::string to = n.s("cast_to", "TO_FLOAT");
    const SymDim len = n.s("map_form", "DENSE") == "SPARSE" ? SymDim::of(n.i("max_map", 1)) : SymDim{};
    if (to == "TO_STRING") {
      VS v = tensor(std::nullopt, {SymDim::of(1), len});
      v.string = true;
      return one(v);
    }
    return one(tensor(to == "TO_INT64" ? DType::Int64 : DType::Float32, {SymDim::of(1), len}));
  }
  if (op == "OneHotEncoder") {
    const int64_t c = static_cast<int64_t>(std::max(n.ints("cats_int64s").size(), n.strings("cats_strings").size()));
    if (!x.has_shape) return one(rank_unknown(DType::Float32));
    Dims s = x.shape;
    s.push_back(SymDim::of(c));
    return one(tensor(DType::Float32, s));
  }
  // Rows of a [N, F] (or one [F]) input.
  const SymDim rows = !x.has_shape || x.shape.empty() ? SymDim{} : x.shape.size() == 1 ? SymDim::of(1) : x.shape[0];
  auto count = [&](const char* ints, const char* strs) {
    return static_cast<int64_t>(std::max(n.ints(ints).size(), n.strings(strs).size()));
  };
  if (op == "LinearRegressor") return one(tensor(DType::Float32, {rows, SymDim::of(n.i("targets", 1))}));
  if (op == "TreeEnsembleRegressor") return one(tensor(DType::Float32, {rows, SymDim::of(n.i("n_targets", 1))}));
  if (op == "TreeEnsemble") {
    const std::optional<DType> dt = x.dtype && is_floating(*x.dtype) ? x.dtype : std::optional<DType>(DType::Float32);
    return one(tensor(dt, {rows, SymDim::of(n.i("n_targets", 1))}));
  }
  if (op == "SVMRegressor") return one(tensor(DType::Float32, {rows, SymDim::of(1)}));
  if (op == "SVMClassifier") {
    const int64_t c = count("classlabels_ints", "classlabels_strings");
    int64_t vectors = 0;
    for (auto v : n.ints("vectors_per_class")) vectors += v;
    const int64_t cols = vectors == 0 || !n.floats("prob_a").empty() ? c : c > 2 ? c * (c - 1) / 2 : 2;
    return {tensor(DType::Int64, {rows}), tensor(DType::Float32, {rows, SymDim::of(cols)})};
  }
  if (op == "LinearClassifier" || op == "TreeEnsembleClassifier") {
    const int64_t c = op == "LinearClassifier" ? count("classlabels_ints", "classlabels_strings")
                                               : count("classlabels_int64s", "classlabels_strings");
    return {tensor(DType::Int64, {rows}), tensor(DType::Float32, {rows, SymDim::of(c)})};
  }
  return {};
}

std::vector<VS> infer_node(const In& in, Ctx& cx, Env& env) {
  const Node& n = in.n;
  const std::string& op = n.op_type;
  if (n.domain == "ai.onnx.ml") return infer_ml(in);
  if (!n.domain.empty() && n.domain != "ai.onnx") return {};
  const VS& x = in[0];
  if (op == "Constant") return infer_constant(in, env);
  if (op == "If") return infer_if(in, cx);
  if (op == "Loop") return infer_loop(in, cx);
  if (op == "Scan") return infer_scan(in, cx);
  // Sequences and optionals (ops_sequence.cpp): which outputs are sequences; the
  // element type carries through, element shapes are not tracked.
  if (op == "SequenceEmpty" || op == "SequenceConstruct" || op == "SequenceInsert" || op == "SequenceErase" ||
      op == "SplitToSequence" || op == "SequenceMap") {
    VS s;
    s.sequence = true;
    if (op == "SequenceEmpty") s.dtype = dtype_attr(n, "dtype", DType::Float32);
    else if (op != "SequenceMap" && in.has(op == "SequenceInsert" ? 1 : 0)) s.dtype = in[op == "SequenceInsert" ? 1 : 0].dtype;
    return std::vector<VS>(op == "SequenceMap" ? n.outputs.size() : 1, s);
  }
  if (op == "SequenceLength") return one(tensor(DType::Int64, {}));
  if (op == "OptionalHasElement") return one(tensor(DType::Bool, {}));
  if (op == "SequenceAt" || op == "ConcatFromSequence") return one(rank_unknown(x.dtype));
  if (op == "Optional" || op == "OptionalGetElement") return in.has(0) ? one(x) : std::vector<VS>{};
  if (x.sequence) return op == "Identity" ? one(x) : std::vector<VS>{};
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

}  // namespace tessel::onnx::shape
