#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <vector>

#include "tessel/device.h"
#include "tessel/dtype.h"
#include "tessel/error.h"
#include "tessel/export.h"
#include "tessel/scalar.h"
#include "tessel/storage.h"

namespace tessel {

namespace autograd {
struct AutogradMeta;
struct Node;
}  // namespace autograd

using Shape = std::vector<int64_t>;  // sizes and strides (strides in elements)

// What a Tensor points to. Views share `storage`; sizes/strides/offset say
// which elements of it they see.
struct TensorImpl {
  Storage storage;
  Shape sizes;
  Shape strides;
  int64_t offset = 0;  // in elements
  int64_t numel = 1;
  DType dtype = DType::Float32;
  bool requires_grad = false;  // a leaf that asked for it, or a result of a recorded op
  bool is_view = false;        // made by a view method (shares another tensor's elements)
  std::shared_ptr<autograd::AutogradMeta> autograd;  // only for tensors in a graph
};

// A cheap, ref-counted handle. Copying a Tensor copies the handle, not data.
class TESSEL_API Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

  const Shape& shape() const { return impl_->sizes; }
  const Shape& strides() const { return impl_->strides; }
  int64_t dim() const { return static_cast<int64_t>(impl_->sizes.size()); }
  int64_t size(int64_t d) const;    // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const { return impl_->numel; }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device(); }
  size_t itemsize() const { return tessel::itemsize(impl_->dtype); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * itemsize(); }
  const Storage& storage() const { return impl_->storage; }
  bool is_contiguous() const;
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // Address of element [0, 0, ...]; valid only on the tensor's device.
  void* data_ptr() const {
    return static_cast<char*>(impl_->storage->data()) + impl_->offset * static_cast<int64_t>(itemsize());
  }
  template <class T>
  T* data() const {
    if (dtype_v<T> != dtype()) fail<TypeError>("data", "requested ", dtype_v<T>, " from a ", dtype(), " tensor");
    return static_cast<T*>(data_ptr());
  }

  // ---- views: share storage with *this ----
  Tensor view(const Shape& shape) const;     // -1 infers one size; needs compatible strides
  Tensor view(DType dtype) const;            // the same bytes as a dtype of the same size (no autograd)
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor permute(const Shape& dims) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;   // 0-D, 1-D unchanged; 2-D transposed
  Tensor mT() const;  // transposes the last two dims
  Tensor squeeze() const;
  Tensor squeeze(int64_t d) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a size
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor unflatten(int64_t d, const Shape& sizes) const;
  Tensor slice(int64_t d, int64_t start, int64_t stop, int64_t step = 1) const;  // Python slice rules
  Tensor select(int64_t d, int64_t index) const;
  Tensor narrow(int64_t d, int64_t start, int64_t length) const;
  Tensor diagonal(int64_t offset = 0, int64_t d0 = 0, int64_t d1 = 1) const;
  Tensor unfold(int64_t d, int64_t size, int64_t step) const;
  Tensor as_strided(const Shape& sizes, const Shape& strides, int64_t offset) const;
  Tensor alias() const;  // a new handle on the same view

  // ---- copies ----
  Tensor contiguous() const;  // *this when already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;  // *this when the dtype already matches
  Tensor to(Device device) const;
  Tensor cpu() const { return to(Device(DeviceType::CPU)); }
  Tensor& copy_(const Tensor& src);  // broadcasting, casting copy into *this
  Tensor& fill_(const Scalar& value);
  Tensor& zero_() { return fill_(0); }
  // In-place arithmetic, as the free add_/sub_/mul_/div_ (src/ops/elementwise.cpp): broadcasts `other`
  // to this tensor's shape and keeps this tensor's dtype; `alpha` scales `other` as in PyTorch.
  Tensor& add_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& add_(const Scalar& other);
  Tensor& sub_(const Tensor& other, const Scalar& alpha = 1);
  Tensor& sub_(const Scalar& other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor& div_(const Tensor& other);
  Tensor& div_(const Scalar& other);

  Scalar item() const;
  template <class T>
  T item() const {
    return item().to<T>();
  }

  // Marks the storage as written (in-place ops call this).
  void bump_version() const { impl_->storage->bump_version(); }
  uint32_t version() const { return impl_->storage->version(); }

  // ---- autograd (src/autograd/graph.cpp) ----
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  // Leaves only; floating and complex dtypes only.
  const Tensor& set_requires_grad(bool on = true) const;
  bool is_leaf() const;
  Tensor grad() const;  // undefined when there is none
  void set_grad(const Tensor& g) const;
  std::shared_ptr<autograd::Node> grad_fn() const;
  uint32_t output_nr() const;
  // Gradient of this tensor (ones for a scalar when `gradient` is undefined) into the leaves' .grad.
  void backward(const Tensor& gradient = {}, std::optional<bool> retain_graph = {}, bool create_graph = false) const;
  Tensor detach() const;  // shares data, no history
  const Tensor& detach_() const;
  void retain_grad() const;  // keeps .grad of a non-leaf
  bool retains_grad() const;
  // hook(grad) runs when this tensor's gradient is computed; a defined result replaces it.
  void register_hook(std::function<Tensor(const Tensor&)> hook) const;
  // Replaces data, shape and dtype in place, keeping identity and autograd state (Python's `t.data = x`).
  void set_data(const Tensor& other) const;
  autograd::AutogradMeta& autograd_meta() const;  // created on first use

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Creates a tensor handle over existing storage.
TESSEL_API Tensor make_tensor(Storage storage, Shape sizes, Shape strides, int64_t offset, DType dtype);
TESSEL_API Shape contiguous_strides(const Shape& sizes);
TESSEL_API int64_t shape_numel(const Shape& sizes);

TESSEL_API std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Named tensors in order: state dicts, safetensors files.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace tessel
