// Joining ops: cat and stack.
#include "src/core/shape_util.h"
#include "tessel/ops.h"

namespace tessel {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TS_CHECK(!tensors.empty(), ValueError, "cat", "expected a non-empty list of tensors");
  // Like PyTorch, 1-D empty tensors are skipped (a legacy convention for accumulating lists).
  std::vector<const Tensor*> parts;
  for (const Tensor& t : tensors) {
    TS_CHECK(t.defined(), ValueError, "cat", "got an undefined tensor");
    if (!(t.dim() == 1 && t.numel() == 0)) parts.push_back(&t);
  }
  if (parts.empty()) return tensors[0].clone();
  const Tensor& ref = *parts[0];
  TS_CHECK(ref.dim() > 0, ValueError, "cat", "zero-dimensional tensor cannot be concatenated");
  const int64_t d = wrap_dim("cat", dim, ref.dim());
  DType dt = ref.dtype();
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = *parts[i];
    TS_CHECK(t.dim() == ref.dim(), ValueError, "cat", "tensors must have the same number of dims: tensor 0 has ",
             ref.dim(), ", tensor ", i, " has ", t.dim());
    TS_CHECK(t.device() == ref.device(), ValueError, "cat", "expected all tensors on one device, got ", ref.device(),
             " and ", t.device());
    for (int64_t k = 0; k < ref.dim(); ++k) {
      TS_CHECK(k == d || t.shape()[k] == ref.shape()[k], ValueError, "cat", "sizes must match except in dim ", d,
               ": tensor 0 has shape ", ref.shape(), ", tensor ", i, " has shape ", t.shape());
    }
    dt = promote_types(dt, t.dtype());
    total += t.shape()[d];
  }
  Shape shape = ref.shape();
  shape[d] = total;
  Tensor out = empty(shape, TensorOptions(dt, ref.device()));
  int64_t off = 0;
  for (const Tensor* t : parts) {
    out.narrow(d, off, t->shape()[d]).copy_(*t);
    off += t->shape()[d];
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TS_CHECK(!tensors.empty(), ValueError, "stack", "expected a non-empty list of tensors");
  const int64_t d = wrap_dim("stack", dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  parts.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    TS_CHECK(tensors[i].defined() && tensors[i].shape() == tensors[0].shape(), ValueError, "stack",
             "expects each tensor to be equal size, but got ", tensors[0].shape(), " at entry 0 and ",
             tensors[i].shape(), " at entry ", i);
    parts.push_back(tensors[i].unsqueeze(d));
  }
  return cat(parts, d);
}

}  // namespace tessel
