// ONNX shape ops: Flatten, Reshape, Transpose, Concat, Identity, Constant,
// Shape, Size, Gather, Unsqueeze, Squeeze, Expand, Tile, Range, ConstantOfShape,
// EyeLike, DepthToSpace, SpaceToDepth.
#include <algorithm>
#include <cmath>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {




std::vector<Tensor> constant(const Node& n, const Inputs&, const OpContext&) {
  if (n.attrs.size() != 1) n.error("exactly one value attribute is required, got ", n.attrs.size());
  const auto& [name, a] = *n.attrs.begin();
  if (name == "value") {
    if (auto* t = std::get_if<Tensor>(&a)) return one(t->clone());
    n.error("attribute 'value' must be a tensor");
  }
  if (name == "value_float") return one(full({}, Scalar(n.f(name, 0)), TensorOptions(DType::Float32)));
  if (name == "value_int") return one(full({}, Scalar(n.i(name, 0)), TensorOptions(DType::Int64)));
  if (name == "value_ints") return one(from_ints(n.ints(name)));
  if (name == "value_floats") {
    auto* v = std::get_if<std::vector<double>>(&a);
    if (!v) n.error("attribute 'value_floats' must be a list of floats");
    Tensor t = empty({static_cast<int64_t>(v->size())}, TensorOptions(DType::Float32));
    std::transform(v->begin(), v->end(), t.data<float>(), [](double d) { return static_cast<float>(d); });
    return one(t);
  }
  n.error<NotImplementedError>("attribute '", name, "' is not supported");
}

std::vector<Tensor> reshape(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  Shape shape = int_values(n, input(n, in, 1), "shape");
  const bool allowzero = n.i("allowzero", 0) != 0;
  int64_t infer = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 0 && !allowzero) {
      if (static_cast<int64_t>(d) >= x.dim()) n.error("shape ", shape, ": 0 at dim ", d, " copies a dim X ", x.shape(), " lacks");
      shape[d] = x.shape()[d];
    } else if (shape[d] == -1) {
      if (infer >= 0) n.error("shape ", shape, " has more than one -1");
      infer = static_cast<int64_t>(d);
    } else if (shape[d] < 0) {
      n.error("shape ", shape, " has a negative size");
    }
  }
  return one(x.reshape(shape));
}

std::vector<Tensor> gather(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& idx = input(n, in, 1);
  if (x.dim() == 0) n.error("data must have at least one dim");
  const int64_t axis = norm_axis(n, n.i("axis", 0), x.dim(), "axis");
  std::vector<int64_t> v = int_values(n, idx.reshape({-1}), "indices");
  const int64_t size = x.shape()[axis];
  for (auto& i : v) {
    if (i < -size || i >= size) n.error<IndexError>("index ", i, " is out of range for dim ", axis, " of size ", size);
    if (i < 0) i += size;  // ONNX counts negative indices from the end
  }
  Tensor picked = index_select(x, axis, from_ints(v));
  Shape out(x.shape().begin(), x.shape().begin() + axis);
  out.insert(out.end(), idx.shape().begin(), idx.shape().end());
  out.insert(out.end(), x.shape().begin() + axis + 1, x.shape().end());
  return one(picked.reshape(out));
}

// Axes from the input (opset >= 13) or the attribute (older).
std::vector<int64_t> axes_of(const Node& n, const Inputs& in, const OpContext& c) {
  if (c.opset >= 13) {
    if (in.size() > 1 && in[1]) return int_values(n, *in[1], "axes");
    return {};
  }
  return n.ints("axes");
}

std::vector<Tensor> expand_op(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  Shape shape = int_values(n, input(n, in, 1), "shape");
  for (int64_t d : shape)
    if (d < 0) n.error("shape ", shape, " has a negative size");
  // ONNX broadcasts both ways: a 1 in `shape` keeps x's size.
  Shape out;
  try {
    out = broadcast_shapes("Expand", x.shape(), shape);
  } catch (const Error&) {
    n.error("shape ", shape, " does not broadcast with input ", x.shape());
  }
  check_size(n, out, x.dtype());
  return one(x.expand(out));
}

std::vector<Tensor> tile_op(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  Shape reps = int_values(n, input(n, in, 1), "repeats");
  if (static_cast<int64_t>(reps.size()) != x.dim()) n.error("repeats ", reps, " must have ", x.dim(), " values");
  Shape out = x.shape();
  for (size_t d = 0; d < reps.size(); ++d) {
    if (reps[d] < 0) n.error("repeats ", reps, " must not be negative");
    if (reps[d] > 0 && out[d] > kMaxBytes / reps[d]) n.error("repeats ", reps, " are too large");
    out[d] *= reps[d];
  }
  check_size(n, out, x.dtype());
  if (x.dim() == 0) return one(x.clone());
  return one(tile(x, reps));
}

double scalar_of(const Node& n, const Tensor& t, const char* what) {
  if (t.numel() != 1) n.error(what, " must be a scalar, got shape ", t.shape());
  return t.reshape({}).item().to<double>();
}

std::vector<Tensor> range_op(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& s = input(n, in, 0);
  const Tensor& l = input(n, in, 1);
  const Tensor& d = input(n, in, 2);
  if (s.dtype() != l.dtype() || s.dtype() != d.dtype())
    n.error<TypeError>("start, limit and delta must share a dtype, got ", s.dtype(), ", ", l.dtype(), ", ", d.dtype());
  const DType dt = s.dtype();
  if (is_integral(dt)) {
    if (s.numel() != 1 || l.numel() != 1 || d.numel() != 1) n.error("start, limit and delta must be scalars");
    const int64_t a = s.reshape({}).item().to<int64_t>(), b = l.reshape({}).item().to<int64_t>();
    const int64_t st = d.reshape({}).item().to<int64_t>();
    if (st == 0) n.error("delta must not be 0");
    // In double so that extreme limits cannot overflow the count.
    const double cnt = std::ceil((static_cast<double>(b) - static_cast<double>(a)) / static_cast<double>(st));
    const int64_t count = cnt > 0 ? static_cast<int64_t>(std::min(cnt, 1e18)) : 0;
    check_size(n, {count}, dt);
    Tensor t = empty({count}, TensorOptions(DType::Int64));
    for (int64_t i = 0; i < count; ++i) t.data<int64_t>()[i] = a + i * st;
    return one(t.to(dt));
  }
  const double a = scalar_of(n, s, "start"), b = scalar_of(n, l, "limit"), st = scalar_of(n, d, "delta");
  if (st == 0 || !std::isfinite(a) || !std::isfinite(b) || !std::isfinite(st))
    n.error("start, limit and delta must be finite and delta non-zero");
  const double cnt = std::ceil((b - a) / st);
  const int64_t count = cnt > 0 ? static_cast<int64_t>(std::min(cnt, 1e18)) : 0;
  check_size(n, {count}, dt);
  Tensor t = empty({count}, TensorOptions(DType::Float64));
  for (int64_t i = 0; i < count; ++i) t.data<double>()[i] = a + static_cast<double>(i) * st;
  return one(t.to(dt));
}

std::vector<Tensor> constant_of_shape(const Node& n, const Inputs& in, const OpContext&) {
  Shape shape = int_values(n, input(n, in, 0), "shape");
  Tensor v = zeros({1}, TensorOptions(DType::Float32));
  if (auto it = n.attrs.find("value"); it != n.attrs.end()) {
    auto* t = std::get_if<Tensor>(&it->second);
    if (!t) n.error<TypeError>("attribute 'value' must be a tensor");
    if (t->numel() != 1) n.error("attribute 'value' must hold one element, got shape ", t->shape());
    v = *t;
  }
  check_size(n, shape, v.dtype());
  return one(v.reshape(Shape(shape.size(), 1)).expand(shape).contiguous());
}

// DCR: depth is split as [block, block, C]; CRD: as [C, block, block].
std::vector<Tensor> depth_to_space(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dim() != 4) n.error("input must be 4-D [N, C, H, W], got shape ", x.shape());
  const int64_t b = n.i("blocksize", 0);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  if (b < 1 || b > C || C % (b * b) != 0)
    n.error("blocksize ", b, " must be positive with blocksize^2 dividing C (", C, ")");
  const int64_t c = C / (b * b);
  const std::string mode = n.s("mode", "DCR");
  Tensor y;
  if (mode == "DCR") y = x.reshape({N, b, b, c, H, W}).permute({0, 3, 4, 1, 5, 2});
  else if (mode == "CRD") y = x.reshape({N, c, b, b, H, W}).permute({0, 1, 4, 2, 5, 3});
  else n.error("mode '", mode, "' must be DCR or CRD");
  return one(y.reshape({N, c, H * b, W * b}));
}

std::vector<Tensor> space_to_depth(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dim() != 4) n.error("input must be 4-D [N, C, H, W], got shape ", x.shape());
  const int64_t b = n.i("blocksize", 0);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  if (b < 1 || H % b != 0 || W % b != 0) n.error("blocksize ", b, " must be positive and divide H and W (", H, ", ", W, ")");
  // DCR (the default) orders the new channels [block, block, C]; CRD (opset 28) [C, block, block].
  const std::string mode = n.s("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") n.error("mode '", mode, "' must be DCR or CRD");
  Tensor y = x.reshape({N, C, H / b, b, W / b, b});
  y = mode == "DCR" ? y.permute({0, 3, 5, 1, 2, 4}) : y.permute({0, 1, 3, 5, 2, 4});
  return one(y.reshape({N, C * b * b, H / b, W / b}));
}

std::vector<Tensor> eye_like(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dim() != 2) n.error("input must be 2-D, got shape ", x.shape());
  DType dt = x.dtype();
  if (n.has("dtype")) {
    const int64_t code = n.i("dtype", 0);
    // TensorProto.DataType codes for the dtypes tessel has.
    static const std::map<int64_t, DType> codes = {
        {1, DType::Float32}, {2, DType::UInt8}, {3, DType::Int8},    {5, DType::Int16},   {6, DType::Int32},
        {7, DType::Int64},   {9, DType::Bool},  {10, DType::Float16}, {11, DType::Float64}, {16, DType::BFloat16},
        {4, DType::UInt16},  {12, DType::UInt32}, {13, DType::UInt64}};
    auto it = codes.find(code);
    if (it == codes.end()) n.error<TypeError>("dtype ", code, " is not supported");
    dt = it->second;
  }
  const int64_t rows = x.shape()[0], cols = x.shape()[1], k = n.i("k", 0);
  Tensor i = arange(Scalar(0), Scalar(rows), Scalar(1), DType::Int64).reshape({rows, 1});
  Tensor j = arange(Scalar(0), Scalar(cols), Scalar(1), DType::Int64).reshape({1, cols});
  return one(eq(sub(j, i), Scalar(k)).to(dt));
}

// Crops or zero-pads each axis to `shape`, centred (the odd cell goes to the end).
std::vector<Tensor> center_crop_pad(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Shape target = int_values(n, input(n, in, 1), "shape");
  const int64_t r = x.dim();
  Shape axes = n.ints("axes");
  if (axes.empty())
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  if (axes.size() != target.size()) n.error("shape ", target, " must have one value per axis (", axes.size(), ")");
  Shape begin(r, 0), end(r, 0), out = x.shape();
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = norm_axis(n, axes[i], r, "axis");
    if (seen[a]) n.error("axes ", axes, " repeat axis ", a);
    seen[a] = true;
    if (target[i] < 0) n.error("shape ", target, " has a negative size");
    const int64_t diff = target[i] - x.shape()[a];
    begin[a] = diff >= 0 ? diff / 2 : -((-diff) / 2);  // negative pads crop
    end[a] = diff - begin[a];
    out[a] = target[i];
  }
  check_size(n, out, x.dtype());
  Shape spec;
  for (int64_t d = r - 1; d >= 0; --d) {
    spec.push_back(begin[d]);
    spec.push_back(end[d]);
  }
  return one(r == 0 ? x.clone() : pad(x, spec, "constant", 0.0));
}

}  // namespace

void register_shape_ops(std::map<std::string, OpFn>& t) {
  t["Identity"] = [](const Node& n, const Inputs& in, const OpContext&) { return one(input(n, in, 0)); };
  t["Constant"] = constant;
  t["Reshape"] = reshape;
  t["Gather"] = gather;
  t["Flatten"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    const int64_t r = x.dim();
    int64_t axis = n.i("axis", 1);
    if (axis < -r || axis > r) n.error("axis ", axis, " is out of range for rank ", r);
    if (axis < 0) axis += r;
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
    int64_t inner = 1;
    for (int64_t d = axis; d < r; ++d) inner *= x.shape()[d];
    return one(x.reshape({outer, inner}));
  };
  t["Transpose"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    Shape rev;
    for (int64_t d = x.dim() - 1; d >= 0; --d) rev.push_back(d);
    Shape perm = n.ints("perm", rev);
    if (static_cast<int64_t>(perm.size()) != x.dim()) n.error("perm ", perm, " must have ", x.dim(), " values");
    return one(x.permute(perm).contiguous());
  };
  t["Concat"] = [](const Node& n, const Inputs& in, const OpContext&) {
    if (!n.has("axis")) n.error("attribute axis is required");
    std::vector<Tensor> xs;
    for (size_t k = 0; k < in.size(); ++k) xs.push_back(input(n, in, k));
    if (xs.empty()) n.error("needs at least one input");
    return one(cat(xs, norm_axis(n, n.i("axis", 0), xs[0].dim(), "axis")));
  };
  t["Shape"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    const int64_t r = x.dim();
    int64_t start = n.i("start", 0), end = n.i("end", r);
    // Shape-15 clamps start/end into [0, rank].
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = std::clamp<int64_t>(start, 0, r);
    end = std::clamp<int64_t>(end, 0, r);
    std::vector<int64_t> v;
    for (int64_t d = start; d < end; ++d) v.push_back(x.shape()[d]);
    return one(from_ints(v));
  };
  t["Size"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(full({}, Scalar(input(n, in, 0).numel()), TensorOptions(DType::Int64)));
  };
  t["Expand"] = expand_op;
  t["Tile"] = tile_op;
  t["Range"] = range_op;
  t["ConstantOfShape"] = constant_of_shape;
  t["DepthToSpace"] = depth_to_space;
  t["SpaceToDepth"] = space_to_depth;
  t["EyeLike"] = eye_like;
  t["CenterCropPad"] = center_crop_pad;
  t["Unsqueeze"] = [](const Node& n, const Inputs& in, const OpContext& c) {
    Tensor x = input(n, in, 0);
    std::vector<int64_t> axes = axes_of(n, in, c);
    if (axes.empty()) n.error("axes are required");
    const int64_t r = x.dim() + static_cast<int64_t>(axes.size());
    for (auto& a : axes) a = norm_axis(n, a, r, "axis");
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) n.error("axes repeat a dim");
    for (auto a : axes) x = x.unsqueeze(a);
    return one(x);
  };
  t["Squeeze"] = [](const Node& n, const Inputs& in, const OpContext& c) {
    const Tensor& x = input(n, in, 0);
    std::vector<int64_t> axes = axes_of(n, in, c);
    std::vector<bool> drop(x.dim(), false);
    if (axes.empty()) {
      for (int64_t d = 0; d < x.dim(); ++d) drop[d] = x.shape()[d] == 1;
    } else {
      for (auto a : axes) {
        a = norm_axis(n, a, x.dim(), "axis");
        if (x.shape()[a] != 1) n.error("cannot squeeze dim ", a, " of size ", x.shape()[a]);
        drop[a] = true;
      }
    }
    Shape out;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (!drop[d]) out.push_back(x.shape()[d]);
    return one(x.reshape(out));
  };
}

}  // namespace tessel::onnx
