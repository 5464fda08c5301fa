// Elementwise ops: add sub mul div, comparisons, neg abs exp log sqrt, where.
// Every op: validate -> promote -> broadcast -> dispatch.
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

namespace {

enum class Kind { Arith, TrueDiv, Compare };

const Tensor* tensor_of(const Operand& o) {
  const Tensor* const* t = std::get_if<const Tensor*>(&o);
  return t ? *t : nullptr;
}

Device common_device(const char* op, std::initializer_list<Operand> ops) {
  const Tensor* first = nullptr;
  for (const Operand& o : ops) {
    const Tensor* t = tensor_of(o);
    if (!t) continue;
    TS_CHECK(t->defined(), ValueError, op, "got an undefined tensor");
    if (!first) first = t;
    TS_CHECK(t->device() == first->device(), ValueError, op, "expected all tensors on one device, got ",
             first->device(), " and ", t->device());
  }
  return first->device();
}

// The operand as a tensor of `dtype` (scalars become 0-d tensors).
Tensor as_tensor(const Operand& o, DType dtype, Device device) {
  if (const Tensor* t = tensor_of(o)) return t->to(dtype);
  return scalar_tensor(std::get<Scalar>(o), TensorOptions(dtype, device));
}

const Shape& shape_of(const Operand& o) {
  static const Shape scalar_shape;
  const Tensor* t = tensor_of(o);
  return t ? t->shape() : scalar_shape;
}

DType compute_dtype(const char* name, Kind kind, DType dt, OpId id) {
  if (kind == Kind::TrueDiv && !is_floating(dt) && !is_complex(dt)) return default_float_dtype();
  if (id == op::sub && dt == DType::Bool) {
    fail<TypeError>(name, "subtraction of bool tensors is not supported; use logical_xor or ~ instead");
  }
  return dt;
}

Tensor binary(const char* name, OpId id, Kind kind, const Operand& a, const Operand& b) {
  const Device dev = common_device(name, {a, b});
  const DType dt = compute_dtype(name, kind, result_type({a, b}), id);
  const Shape shape = broadcast_shapes(name, shape_of(a), shape_of(b));
  const Tensor in[2] = {broadcast_to(as_tensor(a, dt, dev), shape), broadcast_to(as_tensor(b, dt, dev), shape)};
  Tensor out = empty(shape, TensorOptions(kind == Kind::Compare ? DType::Bool : dt, dev));
  dispatch(id, dt, in, {&out, 1});
  return out;
}

// Does writing into `self` while reading `other` need a snapshot of `other`?
bool partial_overlap(const Tensor& self, const Tensor& other) {
  return self.storage() == other.storage() &&
         !(self.offset() == other.offset() && self.strides() == other.strides() && self.shape() == other.shape());
}

const Tensor& binary_(const char* name, OpId id, Kind kind, const Tensor& self_ref, const Operand& b) {
  Tensor self = self_ref;
  const Device dev = common_device(name, {&self, b});
  const DType dt = compute_dtype(name, kind, result_type({&self, b}), id);
  TS_CHECK(kind == Kind::Compare || can_cast(dt, self.dtype()), TypeError, name, "result type ", dt,
           " can't be cast to the desired output type ", self.dtype());
  const Shape shape = broadcast_shapes(name, self.shape(), shape_of(b));
  TS_CHECK(shape == self.shape(), ValueError, name, "output with shape ", self.shape(),
           " doesn't match the broadcast shape ", shape);
  if (dt != self.dtype() || kind == Kind::Compare) {  // compute, then cast into self
    self.copy_(binary(name, id, kind, &self, b));
    return self_ref;
  }
  Tensor other = as_tensor(b, dt, dev);
  if (partial_overlap(self, other)) other = other.clone();
  const Tensor in[2] = {self, broadcast_to(other, shape)};
  dispatch(id, dt, in, {&self, 1});
  self.bump_version();
  return self_ref;
}

Tensor unary(const char* name, OpId id, const Tensor& a, bool to_float) {
  TS_CHECK(a.defined(), ValueError, name, "got an undefined tensor");
  DType dt = a.dtype();
  if (to_float && !is_floating(dt) && !is_complex(dt)) dt = default_float_dtype();
  const Tensor x = a.to(dt);
  Tensor out = empty(a.shape(), TensorOptions(id == op::abs ? to_real(dt) : dt, a.device()));
  dispatch(id, dt, {&x, 1}, {&out, 1});
  return out;
}

const Tensor& unary_(const char* name, OpId id, const Tensor& a_ref, bool to_float) {
  Tensor a = a_ref;
  if (to_float && !is_floating(a.dtype()) && !is_complex(a.dtype())) {
    fail<TypeError>(name, "result type ", default_float_dtype(), " can't be cast to the desired output type ",
                    a.dtype());
  }
  TS_CHECK(!(id == op::abs && is_complex(a.dtype())), TypeError, name,
           "in-place abs is not supported for complex tensors");
  dispatch(id, a.dtype(), {&a, 1}, {&a, 1});
  a.bump_version();
  return a_ref;
}

void check_neg(const Tensor& a) {
  TS_CHECK(a.dtype() != DType::Bool, TypeError, "neg",
           "negation of a bool tensor is not supported; use logical_not or ~ instead");
}
void check_abs(const Tensor& a) {
  TS_CHECK(a.dtype() != DType::Bool, TypeError, "abs", "not supported for bool tensors");
}

}  // namespace

#define TESSEL_BINARY_DEF(name, kind)                                                                  \
  Tensor name(const Tensor& a, const Tensor& b) { return binary(#name, op::name, kind, &a, &b); }     \
  Tensor name(const Tensor& a, const Scalar& b) { return binary(#name, op::name, kind, &a, b); }      \
  Tensor name(const Scalar& a, const Tensor& b) { return binary(#name, op::name, kind, a, &b); }      \
  const Tensor& name##_(const Tensor& a, const Tensor& b) { return binary_(#name "_", op::name, kind, a, &b); }   \
  const Tensor& name##_(const Tensor& a, const Scalar& b) { return binary_(#name "_", op::name, kind, a, b); }
TESSEL_BINARY_DEF(add, Kind::Arith)
TESSEL_BINARY_DEF(sub, Kind::Arith)
TESSEL_BINARY_DEF(mul, Kind::Arith)
TESSEL_BINARY_DEF(div, Kind::TrueDiv)
TESSEL_BINARY_DEF(eq, Kind::Compare)
TESSEL_BINARY_DEF(ne, Kind::Compare)
TESSEL_BINARY_DEF(lt, Kind::Compare)
TESSEL_BINARY_DEF(le, Kind::Compare)
TESSEL_BINARY_DEF(gt, Kind::Compare)
TESSEL_BINARY_DEF(ge, Kind::Compare)
#undef TESSEL_BINARY_DEF

Tensor neg(const Tensor& a) {
  check_neg(a);
  return unary("neg", op::neg, a, false);
}
const Tensor& neg_(const Tensor& a) {
  check_neg(a);
  return unary_("neg_", op::neg, a, false);
}
Tensor abs(const Tensor& a) {
  check_abs(a);
  return unary("abs", op::abs, a, false);
}
const Tensor& abs_(const Tensor& a) {
  check_abs(a);
  return unary_("abs_", op::abs, a, false);
}
Tensor exp(const Tensor& a) { return unary("exp", op::exp, a, true); }
const Tensor& exp_(const Tensor& a) { return unary_("exp_", op::exp, a, true); }
Tensor log(const Tensor& a) { return unary("log", op::log, a, true); }
const Tensor& log_(const Tensor& a) { return unary_("log_", op::log, a, true); }
Tensor sqrt(const Tensor& a) { return unary("sqrt", op::sqrt, a, true); }
const Tensor& sqrt_(const Tensor& a) { return unary_("sqrt_", op::sqrt, a, true); }

namespace {
Tensor where_impl(const Tensor& cond, const Operand& a, const Operand& b) {
  TS_CHECK(cond.dtype() == DType::Bool, TypeError, "where", "condition must be a bool tensor, got ", cond.dtype());
  const Device dev = common_device("where", {&cond, a, b});
  const DType dt = result_type({a, b});
  const Shape shape = broadcast_shapes("where", cond.shape(), broadcast_shapes("where", shape_of(a), shape_of(b)));
  const Tensor in[3] = {broadcast_to(cond, shape), broadcast_to(as_tensor(a, dt, dev), shape),
                        broadcast_to(as_tensor(b, dt, dev), shape)};
  Tensor out = empty(shape, TensorOptions(dt, dev));
  dispatch(op::where, dt, in, {&out, 1});
  return out;
}
}  // namespace

Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) { return where_impl(c, &a, &b); }
Tensor where(const Tensor& c, const Scalar& a, const Tensor& b) { return where_impl(c, a, &b); }
Tensor where(const Tensor& c, const Tensor& a, const Scalar& b) { return where_impl(c, &a, b); }
Tensor where(const Tensor& c, const Scalar& a, const Scalar& b) { return where_impl(c, a, b); }

}  // namespace tessel
