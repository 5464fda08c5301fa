#pragma once
// The shared steps of elementwise ops: device check, promotion of tensor and
// scalar operands, broadcasting, output allocation and in-place rules.
#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel::detail {

// How an op's compute and output dtypes follow from result_type.
enum class Kind {
  Arith,    // compute and output in the promoted dtype
  ToFloat,  // integers and bool compute in the default float dtype (div, atan2)
  Compare,  // compute in the promoted dtype, output bool
  Bitwise,  // integers and bool only
};

inline const Tensor* tensor_of(const Operand& o) {
  const Tensor* const* t = std::get_if<const Tensor*>(&o);
  return t ? *t : nullptr;
}

Device common_device(const char* op, std::initializer_list<Operand> ops);
// The operand as a tensor of `dtype` (scalars become 0-d tensors).
Tensor as_tensor(const Operand& o, DType dtype, Device device);
const Shape& shape_of(const Operand& o);
DType compute_dtype(const char* op, Kind kind, DType promoted);
// An uninitialized output of x's shape: in x's layout when x is a permuted dense
// CPU tensor (a transpose), as PyTorch does, so that the kernel runs over both in
// memory order instead of gathering x across rows; contiguous otherwise.
Tensor empty_same_layout(const Tensor& x, TensorOptions opts);
// Whether writing into `self` while reading `other` needs a snapshot of `other`.
bool partial_overlap(const Tensor& self, const Tensor& other);

Tensor binary(const char* name, OpId id, Kind kind, const Operand& a, const Operand& b);
const Tensor& binary_(const char* name, OpId id, Kind kind, const Tensor& self, const Operand& b);

// Unary op: `to_float` computes integers in the default float dtype; `out`
// overrides the output dtype (bool predicates); `params` goes to the kernel.
Tensor unary(const char* name, OpId id, const Tensor& a, bool to_float, const void* params = nullptr,
             std::optional<DType> out = {});
const Tensor& unary_(const char* name, OpId id, const Tensor& a, bool to_float, const void* params = nullptr);

}  // namespace tessel::detail
