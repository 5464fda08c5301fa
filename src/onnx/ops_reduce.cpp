// ONNX reductions: Reduce*, ArgMax/ArgMin, CumSum/CumProd, Hardmax.
#include <algorithm>
#include <cmath>
#include <limits>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {


// As norm_axis, with a 0-d input reduced as if it had one dim.
int64_t reduce_axis(const Node& n, int64_t a, int64_t rank, const char* what = "axis") {
  const int64_t r = std::max<int64_t>(rank, 1);
  if (a < -r || a >= r) n.error(what, " ", a, " is out of range for rank ", rank);
  return a < 0 ? a + r : a;
}

enum class Red { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

struct ReduceSpec {
  Red kind;
  int64_t axes_input_since;  // opset from which axes is an input instead of an attribute
  bool float_only;
};

// The reduced axes: sorted and unique; nullopt when nothing is reduced (noop_with_empty_axes).
std::optional<Shape> reduce_axes(const Node& n, const Inputs& in, const OpContext& c, int64_t since, int64_t rank) {
  std::vector<int64_t> axes;
  if (c.opset >= since) {
    if (n.has("axes")) n.error("axes is an input since opset ", since, ", not an attribute");
    if (in.size() > 1 && in[1]) axes = int_values(n, *in[1], "axes");
  } else {
    axes = n.ints("axes");
  }
  if (axes.empty()) {
    if (n.i("noop_with_empty_axes", 0) != 0) return std::nullopt;
    Shape all(static_cast<size_t>(rank));
    for (int64_t d = 0; d < rank; ++d) all[static_cast<size_t>(d)] = d;
    return all;
  }
  for (auto& a : axes) a = reduce_axis(n, a, rank, "axes entry");
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) n.error("axes has a repeated axis");
  return axes;
}

// The value of a reduction over no elements.
double empty_value(Red k) {
  const double inf = std::numeric_limits<double>::infinity();
  switch (k) {
    case Red::Prod: return 1.0;
    case Red::Max:
    case Red::LogSum:
    case Red::LogSumExp: return -inf;
    case Red::Min: return inf;
    case Red::Mean: return std::nan("");
    default: return 0.0;
  }
}

// The elementwise part alone, for noop_with_empty_axes.
Tensor no_reduce(Red k, const Tensor& x) {
  switch (k) {
    case Red::L1:
    case Red::L2: return abs(x);
    case Red::LogSum: return log(x);
    case Red::SumSquare: return mul(x, x);
    default: return x;
  }
}

Tensor reduce(const Node& n, const Inputs& in, const OpContext& c, const ReduceSpec& spec) {
  const Tensor& x = input(n, in, 0);
  const DType dt = x.dtype();
  if (is_complex(dt)) n.error<TypeError>("complex input (", dt, ") is not supported");
  if (spec.float_only && !is_floating(dt)) n.error<TypeError>("input has dtype ", dt, ", which ", n.op_type, " does not accept");
  if (dt == DType::Bool && spec.kind != Red::Max && spec.kind != Red::Min)
    n.error<TypeError>("input has dtype bool, which ", n.op_type, " does not accept");
  const bool keep = n.i("keepdims", 1) != 0;
  auto axes = reduce_axes(n, in, c, spec.axes_input_since, x.dim());
  if (!axes) return no_reduce(spec.kind, x).to(dt);
  if (axes->empty()) return no_reduce(spec.kind, x).to(dt);  // a 0-d input: nothing to reduce

  Shape out_shape;
  bool empty = false;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool red = std::binary_search(axes->begin(), axes->end(), d);
    if (red && x.shape()[d] == 0) empty = true;
    if (!red) out_shape.push_back(x.shape()[d]);
    else if (keep) out_shape.push_back(1);
  }
  if (empty) {
    double v = empty_value(spec.kind);
    // bool: max of nothing is false, min of nothing is true.
    if (dt == DType::Bool) return full(out_shape, Scalar(spec.kind == Red::Min), dt);
    // Integers have no NaN or infinity to stand for a mean, max or min of nothing.
    if (!is_floating(dt) && (std::isnan(v) || std::isinf(v)))
      n.error("an integer ", n.op_type, " over an empty set has no value");
    return full(out_shape, Scalar(v), dt);
  }

  const Shape& dims = *axes;
  Tensor y;
  switch (spec.kind) {
    case Red::Sum: y = sum(x, dims, keep); break;
    case Red::Mean: y = is_floating(dt) ? mean(x, dims, keep) : mean(x.to(DType::Float64), dims, keep); break;
    case Red::Max: y = dt == DType::Bool ? amax(x.to(DType::UInt8), dims, keep) : amax(x, dims, keep); break;
    case Red::Min: y = dt == DType::Bool ? amin(x.to(DType::UInt8), dims, keep) : amin(x, dims, keep); break;
    case Red::Prod: y = prod(x, dims, keep); break;
    case Red::L1: y = sum(abs(x), dims, keep); break;
    case Red::L2: y = sqrt(sum(is_floating(dt) ? mul(x, x) : mul(x, x).to(DType::Float64), dims, keep)); break;
    case Red::LogSum: y = log(sum(x, dims, keep)); break;
    case Red::LogSumExp: y = logsumexp(x, dims, keep); break;
    case Red::SumSquare: y = sum(mul(x, x), dims, keep); break;
  }
  // tessel widens integer sums and products (as PyTorch); ONNX keeps the input's dtype.
  return y.to(dt);
}

Tensor arg_reduce(const Node& n, const Inputs& in, bool is_max) {
  const Tensor& x = input(n, in, 0);
  if (x.dtype() == DType::Bool || is_complex(x.dtype()))
    n.error<TypeError>("input has dtype ", x.dtype(), ", which ", n.op_type, " does not accept");
  const int64_t axis = reduce_axis(n, n.i("axis", 0), x.dim());
  const bool keep = n.i("keepdims", 1) != 0;
  if (x.dim() > 0 && x.shape()[axis] == 0) n.error("cannot reduce over the empty axis ", axis);
  if (n.i("select_last_index", 0) == 0) return is_max ? argmax(x, axis, keep) : argmin(x, axis, keep);
  // The last extreme index: the first one of the flipped tensor, counted from the end.
  Tensor f = flip(x, {axis});
  Tensor i = is_max ? argmax(f, axis, keep) : argmin(f, axis, keep);
  const int64_t size = x.dim() == 0 ? 1 : x.shape()[axis];
  return sub(Scalar(size - 1), i);
}

// CumSum / CumProd: inclusive or exclusive, forward or reversed, in the input's dtype.
Tensor cumulative(const Node& n, const Inputs& in, bool is_prod) {
  const Tensor& x = input(n, in, 0);
  if (x.dtype() == DType::Bool || is_complex(x.dtype()))
    n.error<TypeError>("input has dtype ", x.dtype(), ", which ", n.op_type, " does not accept");
  const Tensor& a = input(n, in, 1);
  if (a.numel() != 1 || a.dim() > 1) n.error("axis must be a scalar, got shape ", a.shape());
  if (x.dim() == 0) n.error("input must have at least one dimension");
  const int64_t axis = reduce_axis(n, int_values(n, a.reshape({1}), "axis")[0], x.dim());
  const bool exclusive = n.i("exclusive", 0) != 0, reverse = n.i("reverse", 0) != 0;
  Tensor v = reverse ? flip(x, {axis}) : x;
  const int64_t len = v.shape()[axis];
  if (exclusive && len > 0) {
    // Shift by one along the axis, the first slot holding the identity.
    Shape s = v.shape();
    s[axis] = 1;
    v = cat({full(s, Scalar(is_prod ? 1 : 0), x.dtype()), v.narrow(axis, 0, len - 1)}, axis);
  }
  Tensor y = (is_prod ? cumprod(v, axis) : cumsum(v, axis)).to(x.dtype());
  return reverse ? flip(y, {axis}) : y;
}

// Hardmax: 1 at the first maximum along the axis (opset >= 13) or of the flattened
// trailing dims (older opsets), 0 elsewhere.
Tensor hardmax(const Node& n, const Tensor& x, const OpContext& c) {
  if (!is_floating(x.dtype())) n.error<TypeError>("input has dtype ", x.dtype(), ", which Hardmax does not accept");
  const int64_t r = x.dim();
  if (r == 0) return ones({}, x.dtype());
  const int64_t axis = reduce_axis(n, n.i("axis", c.opset >= 13 ? -1 : 1), r);
  Tensor v = c.opset >= 13 ? x : x.flatten(axis);
  const int64_t d = c.opset >= 13 ? axis : std::min<int64_t>(axis, v.dim() - 1);
  if (v.shape()[d] == 0) return zeros(x.shape(), x.dtype());
  Tensor idx = argmax(v, d, true);
  Shape s(static_cast<size_t>(v.dim()), 1);
  s[d] = v.shape()[d];
  Tensor pos = arange(Scalar(int64_t{0}), Scalar(v.shape()[d]), Scalar(int64_t{1}), DType::Int64).reshape(s);
  return eq(pos, idx).to(x.dtype()).reshape(x.shape());
}

}  // namespace

void register_reduce_ops(std::map<std::string, OpFn>& t) {
  const std::pair<const char*, ReduceSpec> reductions[] = {
      {"ReduceSum", {Red::Sum, 13, false}},         {"ReduceMean", {Red::Mean, 18, false}},
      {"ReduceMax", {Red::Max, 18, false}},         {"ReduceMin", {Red::Min, 18, false}},
      {"ReduceProd", {Red::Prod, 18, false}},       {"ReduceL1", {Red::L1, 18, false}},
      {"ReduceL2", {Red::L2, 18, false}},           {"ReduceLogSum", {Red::LogSum, 18, true}},
      {"ReduceLogSumExp", {Red::LogSumExp, 18, true}}, {"ReduceSumSquare", {Red::SumSquare, 18, false}},
  };
  for (const auto& [name, spec] : reductions)
    t[name] = [spec = spec](const Node& n, const Inputs& in, const OpContext& c) { return one(reduce(n, in, c, spec)); };
  t["ArgMax"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(arg_reduce(n, in, true)); };
  t["ArgMin"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(arg_reduce(n, in, false)); };
  t["CumSum"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(cumulative(n, in, false)); };
  t["CumProd"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(cumulative(n, in, true)); };
  t["Hardmax"] = [](const Node& n, const Inputs& in, const OpContext& c) {
    return one(hardmax(n, input(n, in, 0), c));
  };
}

}  // namespace tessel::onnx
