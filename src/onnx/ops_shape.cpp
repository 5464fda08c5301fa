// ONNX shape ops: Flatten, Reshape, Transpose, Concat, Identity, Constant,
// Shape, Gather, Unsqueeze, Squeeze.
#include <algorithm>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

std::vector<Tensor> one(Tensor t) { return {std::move(t)}; }

int64_t norm_axis(const Node& n, int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank) n.error(what, " ", axis, " is out of range for rank ", rank);
  return axis < 0 ? axis + rank : axis;
}

Tensor from_ints(const std::vector<int64_t>& v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, TensorOptions(DType::Int64));
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

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
