// Derivative rules of shape ops, views and copies.
#include "src/autograd/rules.h"
#include "src/core/shape_util.h"

namespace tessel::autograd::rules {

void cat(const Tensors& tensors, int64_t dim, const Tensor& out) {
  // Pieces skipped by cat (1-D and empty) get empty gradients.
  std::vector<int64_t> sizes;
  std::vector<Shape> shapes;
  int64_t d = 0;
  for (const Tensor& t : tensors) {
    shapes.push_back(t.shape());
    if (!(t.dim() == 1 && t.numel() == 0)) d = wrap_dim("cat", dim, t.dim());
  }
  for (const Tensor& t : tensors) sizes.push_back(t.dim() == 1 && t.numel() == 0 ? -1 : t.shape()[d]);
  record("CatBackward", tensors, {out}, [sizes, shapes, d](const Tensors& g) {
    Tensors r;
    int64_t off = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < 0) {
        r.push_back(zeros(shapes[i], TensorOptions(g[0].dtype(), g[0].device())));
        continue;
      }
      r.push_back(g[0].narrow(d, off, sizes[i]));
      off += sizes[i];
    }
    return r;
  });
}

void flip(const Tensor& a, const Shape& dims, const Tensor& out) {
  record("FlipBackward", {a}, {out}, [dims](const Tensors& g) { return Tensors{tessel::flip(g[0], dims)}; });
}

void pad(const Tensor& a, const Shape& pads, const Tensor& out) {
  Shape neg_pads;
  for (int64_t p : pads) neg_pads.push_back(-p);
  record("PadBackward", {a}, {out}, [neg_pads](const Tensors& g) { return Tensors{tessel::pad(g[0], neg_pads)}; });
}

void reshape(const char* name, const Tensor& a, const Tensor& out) {
  record(name, {a}, {out}, [in = a.shape()](const Tensors& g) { return Tensors{g[0].reshape(in)}; });
}

void permute(const Tensor& a, const Shape& dims, const Tensor& out) {
  Shape inv(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inv[wrap_dim("permute", dims[i], a.dim())] = static_cast<int64_t>(i);
  record("PermuteBackward", {a}, {out}, [inv](const Tensors& g) { return Tensors{g[0].permute(inv)}; });
}

void expand(const Tensor& a, const Tensor& out) {
  record("ExpandBackward", {a}, {out}, [in = a.shape()](const Tensors& g) { return Tensors{sum_to(g[0], in)}; });
}

void view(const char* name, const Tensor& a, const Tensor& out, std::function<Tensor(const Tensor&)> view_fn,
          bool may_overlap) {
  record(name, {a}, {out}, [in = a.shape(), view_fn = std::move(view_fn), may_overlap](const Tensors& g) {
    const TensorOptions opts(g[0].dtype(), g[0].device());
    if (!GradMode::enabled() && !may_overlap) {  // first order: write the gradient into its window of zeros
      Tensor r = zeros(in, opts);
      view_fn(r).copy_(g[0]);
      return Tensors{r};
    }
    // Overlapping windows add up, and create_graph needs a differentiable op:
    // add the gradient at the input positions each element came from.
    const Tensor pos = view_fn(arange(Scalar(0), Scalar(shape_numel(in)), Scalar(1), DType::Int64, g[0].device()).view(in));
    return Tensors{tessel::index_add(zeros({shape_numel(in)}, opts), 0, pos.reshape({-1}), g[0].reshape({-1})).view(in)};
  });
}

void copy(const char* name, const Tensor& a, const Tensor& out) {
  record(name, {a}, {out}, [dev = a.device()](const Tensors& g) { return Tensors{g[0].to(dev)}; });
}

}  // namespace tessel::autograd::rules
