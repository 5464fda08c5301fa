// Binary elementwise ops: arithmetic, comparisons, logical and bitwise ops,
// where and lerp. Every op: validate -> promote -> broadcast -> dispatch.
#include <cstdint>

#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "src/ops/elementwise_util.h"
#include "tessel/amp.h"
#include "tessel/trace.h"

namespace tessel {
namespace detail {

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

Tensor as_tensor(const Operand& o, DType dtype, Device device) {
  if (const Tensor* t = tensor_of(o)) return t->to(dtype);
  return scalar_tensor(std::get<Scalar>(o), TensorOptions(dtype, device));
}

const Shape& shape_of(const Operand& o) {
  static const Shape scalar_shape;
  const Tensor* t = tensor_of(o);
  return t ? t->shape() : scalar_shape;
}

DType compute_dtype(const char* op, Kind kind, DType dt) {
  if (kind == Kind::ToFloat && !is_floating(dt) && !is_complex(dt)) return default_float_dtype();
  if (kind == Kind::Bitwise) {
    TS_CHECK(is_integral(dt, true), TypeError, op, "expects integer or bool tensors, got ", dt);
  }
  return dt;
}

namespace {
// x's strides when it is a permuted dense tensor (walking the dims from the
// smallest stride, each stride is the product of the sizes inside it; size-1
// dims take any stride); empty when it is not (gaps, broadcast, overlap).
Shape dense_strides(const Tensor& x) {
  const Shape perm = memory_order(x);
  Shape strides(perm.size());
  int64_t next = 1;
  for (size_t i = perm.size(); i-- > 0;) {
    const auto d = static_cast<size_t>(perm[i]);
    if (x.shape()[d] != 1 && x.strides()[d] != next) return {};
    strides[d] = next;
    next *= x.shape()[d];
  }
  return strides;
}
}  // namespace

Tensor empty_same_layout(const Tensor& x, TensorOptions opts) {
  if (x.dim() < 2 || x.is_contiguous() || !x.device().is_cpu() || x.numel() == 0) return empty(x.shape(), opts);
  const Shape strides = dense_strides(x);
  if (strides.empty()) return empty(x.shape(), opts);
  // Not a view (no base for autograd, no permute in a trace): fresh storage, strided.
  const Tensor base = empty({x.numel()}, opts);
  return make_tensor(base.storage(), x.shape(), strides, 0, base.dtype());
}

namespace {
// A binary op's output takes a permuted dense operand's layout when the other
// operand walks memory in the same dim order, skipping its broadcast dims (the
// same strides, one broadcast value, or a reduction's keepdim result: x.t() * 2,
// x.t() - tanh(x.t()), x.t() - amax(x.t(), 1, true)): all three then run in
// memory order. Other mixes keep a contiguous output.
bool same_dim_order(const Tensor& t, const Tensor& u) {
  int64_t prev = INT64_MAX;
  for (int64_t d : memory_order(t)) {
    const int64_t st = u.strides()[static_cast<size_t>(d)];
    if (u.shape()[static_cast<size_t>(d)] == 1 || st == 0) continue;
    if (st > prev) return false;
    prev = st;
  }
  return true;
}
Tensor empty_binary_out(const Tensor (&in)[2], TensorOptions opts) {
  for (int k = 0; k < 2; ++k) {
    const Tensor &t = in[k], &u = in[1 - k];
    // t must be dense: a broadcast first operand (b.t() / x with b a keepdim row) leaves
    // the choice to the other one.
    if (t.dim() < 2 || t.is_contiguous() || !t.device().is_cpu() || t.numel() == 0 || dense_strides(t).empty())
      continue;
    if (same_dim_order(t, u)) return empty_same_layout(t, opts);
  }
  return empty(in[0].shape(), opts);
}
}  // namespace

namespace {
// An operand broadcast along a short last dim but not along the dims before it
// (g / w, g [390, 129, 2] and w [129, 1]) hands the kernel's loop runs of that
// many values, each a call: 394 us where contiguous operands take 10. A small
// such operand is materialized over its trailing dims, which then merge with
// the output's into one long run (the leading dims stay broadcast).
Tensor widen_short_broadcast(const Tensor& t) {
  const int64_t nd = t.dim();
  if (nd < 2 || !t.device().is_cpu() || t.strides()[nd - 1] != 0 || t.shape()[nd - 1] > 16) return t;
  int64_t k = nd - 1, block = t.shape()[nd - 1];
  while (k > 0 && (t.shape()[k - 1] == 1 || t.strides()[k - 1] != 0)) block *= t.shape()[--k];
  if (block == t.shape()[nd - 1] || block > (int64_t{1} << 16) || 4 * block > t.numel()) return t;
  for (int64_t d = 0; d < k; ++d)  // the block repeats only along broadcast dims
    if (t.shape()[d] != 1 && t.strides()[d] != 0) return t;
  const Shape shape(t.shape().begin() + k, t.shape().end()), strides(t.strides().begin() + k, t.strides().end());
  // Detached: the callers' derivative rules see the operands as given.
  return t.detach().as_strided(shape, strides, t.offset()).contiguous().expand(t.shape());
}

// An operand that walks memory across the output's order (x.t() + y with y and the
// output contiguous) is copied into the output's layout first: copy's blocked
// transpose (kernels/cpu/copy.cpp) then an elementwise pass in memory order, instead
// of one strided read per element (add of [4096, 4096], 1 thread: 125.6 -> 39.1 ms, PyTorch 174).
// Dense operands of at least 2^15 elements only: a broadcast one is never copied.
Tensor in_layout_of(const Tensor& t, const Tensor& out) {
  if (t.numel() < (int64_t{1} << 15) || t.dim() < 2 || !t.device().is_cpu() || dense_strides(t).empty() ||
      same_dim_order(out, t))
    return t;
  Tensor c = empty_same_layout(out, TensorOptions(t.dtype(), t.device()));
  c.copy_(t.detach());
  return c;
}
}  // namespace

bool partial_overlap(const Tensor& self, const Tensor& other) {
  return self.storage() == other.storage() &&
         !(self.offset() == other.offset() && self.strides() == other.strides() && self.shape() == other.shape());
}

Tensor binary(const char* name, OpId id, Kind kind, const Operand& a, const Operand& b) {
  const Device dev = common_device(name, {a, b});
  const DType dt = compute_dtype(name, kind, result_type({a, b}));
  const Shape shape = broadcast_shapes(name, shape_of(a), shape_of(b));
  const Tensor in[2] = {widen_short_broadcast(broadcast_to(as_tensor(a, dt, dev), shape)),
                        widen_short_broadcast(broadcast_to(as_tensor(b, dt, dev), shape))};
  Tensor out = empty_binary_out(in, TensorOptions(kind == Kind::Compare ? DType::Bool : dt, dev));
  const Tensor ordered[2] = {in_layout_of(in[0], out), in_layout_of(in[1], out)};
  dispatch(id, dt, ordered, {&out, 1});
  return out;
}

const Tensor& binary_(const char* name, OpId id, Kind kind, const Tensor& self_ref, const Operand& b) {
  check_writable(name, self_ref);
  Tensor self = self_ref;
  const Device dev = common_device(name, {&self, b});
  const DType dt = compute_dtype(name, kind, result_type({&self, b}));
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
  const Tensor in[2] = {self, in_layout_of(widen_short_broadcast(broadcast_to(other, shape)), self)};
  dispatch(id, dt, in, {&self, 1});
  self.bump_version();
  return self_ref;
}

}  // namespace detail

using detail::Kind;

namespace {
// Integer floor_divide/remainder/fmod by zero would trap the CPU: refuse it first.
void check_int_divisor(const char* name, const Operand& a, const Operand& b) {
  const DType dt = result_type({a, b});
  if (!is_integral(dt, true)) return;
  bool zero;
  if (const Tensor* t = detail::tensor_of(b)) zero = t->numel() > 0 && sum(eq(*t, Scalar(0))).item<int64_t>() > 0;
  else zero = std::get<Scalar>(b).to<int64_t>() == 0;
  TS_CHECK(!zero, Error, name, "integer division by zero");
}

// Integers to negative integer powers are not representable, as in PyTorch.
void check_int_pow(const Operand& a, const Operand& b) {
  const Scalar* e = std::get_if<Scalar>(&b);
  if (!e || !e->is_int() || e->to<int64_t>() >= 0) return;
  TS_CHECK(!is_integral(result_type({a, b}), true), ValueError, "pow",
           "integers to negative integer powers are not allowed (exponent ", e->to<int64_t>(), ")");
}

void check_operands(OpId id, const char* name, const Operand& a, const Operand& b) {
  if (id == op::floor_divide || id == op::remainder || id == op::fmod) check_int_divisor(name, a, b);
  if (id == op::pow) check_int_pow(a, b);
  if (id == op::sub) {
    TS_CHECK(result_type({a, b}) != DType::Bool, TypeError, name,
             "subtraction of bool tensors is not supported; use logical_xor or ~ instead");
  }
  if (id == op::bitwise_left_shift || id == op::bitwise_right_shift) {
    TS_CHECK(is_integral(result_type({a, b})), TypeError, name, "expects integer tensors, got ", result_type({a, b}));
  }
  if (id == op::maximum || id == op::minimum) {
    TS_CHECK(!is_complex(result_type({a, b})), TypeError, name, "not supported for complex tensors");
  }
}

Kind kind_of(OpId id) {
  if (id == op::div || id == op::atan2) return Kind::ToFloat;
  if (id >= op::eq && id <= op::ge) return Kind::Compare;
  if (id == op::logical_and || id == op::logical_or || id == op::logical_xor) return Kind::Compare;
  if (id == op::bitwise_and || id == op::bitwise_or || id == op::bitwise_xor) return Kind::Bitwise;
  if (id == op::bitwise_left_shift || id == op::bitwise_right_shift) return Kind::Bitwise;
  return Kind::Arith;
}

bool wants_grad(const Operand& o) {
  const Tensor* t = detail::tensor_of(o);
  return t && t->requires_grad();
}

// A binary op's operands; a Scalar is recorded as a 0-d tensor of the op's dtype.
trace::Op& operands(trace::Op& t, const Operand& a, const Operand& b) {
  const DType dt = result_type({a, b});
  for (const Operand* o : {&a, &b}) {
    if (const Tensor* x = detail::tensor_of(*o)) t.in(*x);
    else t.scalar(std::get<Scalar>(*o), dt);
  }
  return t;
}

Tensor run(const char* name, OpId id, const Operand& a, const Operand& b) {
  if (trace::Op t{name}) return operands(t, a, b).out(run(name, id, a, b));
  if (amp::active()) {
    if (const auto o = amp::from_registry(id)) {  // pow (amp.h)
      const Tensor *ta = detail::tensor_of(a), *tb = detail::tensor_of(b);
      const amp::Cast c(*o, {ta, tb});
      return run(name, id, ta ? Operand(&c[0]) : a, tb ? Operand(&c[1]) : b);
    }
  }
  check_operands(id, name, a, b);
  return autograd::recorded(
      autograd::GradMode::enabled() && (wants_grad(a) || wants_grad(b)),
      [&] { return detail::binary(name, id, kind_of(id), a, b); },
      [&](const Tensor& out) { autograd::rules::binary(id, a, b, out); });
}
const Tensor& run_(const char* name, OpId id, const Tensor& a, const Operand& b) {
  if (trace::Op t{name}) {
    operands(t, &a, b).inplace();
    run_(name, id, a, b);
    t.out(a);
    return a;
  }
  check_operands(id, name, &a, b);
  if (autograd::GradMode::enabled() && (a.requires_grad() || wants_grad(b))) {
    return autograd::inplace(name, a, true, [&](const Tensor& self) { return run(name, id, &self, b); });
  }
  return detail::binary_(name, id, kind_of(id), a, b);
}
}  // namespace

#define TESSEL_BINARY_DEF(name)                                                                                 \
  Tensor name(const Tensor& a, const Tensor& b) { return run(#name, op::name, &a, &b); }                       \
  Tensor name(const Tensor& a, const Scalar& b) { return run(#name, op::name, &a, b); }                        \
  Tensor name(const Scalar& a, const Tensor& b) { return run(#name, op::name, a, &b); }                        \
  const Tensor& name##_(const Tensor& a, const Tensor& b) { return run_(#name "_", op::name, a, &b); }         \
  const Tensor& name##_(const Tensor& a, const Scalar& b) { return run_(#name "_", op::name, a, b); }
TESSEL_BINARY_OPS(TESSEL_BINARY_DEF)
TESSEL_COMPARE_OPS(TESSEL_BINARY_DEF)
TESSEL_BITWISE_OPS(TESSEL_BINARY_DEF)
#undef TESSEL_BINARY_DEF

// Tensor's in-place methods (C++ users write x.add_(y) or x += y as in PyTorch).
namespace {
bool is_one(const Scalar& s) { return !s.is_complex() && s.to<double>() == 1.0; }
}  // namespace
Tensor& Tensor::add_(const Tensor& other, const Scalar& alpha) {
  tessel::add_(*this, is_one(alpha) ? other : mul(other, alpha));
  return *this;
}
Tensor& Tensor::add_(const Scalar& other) { tessel::add_(*this, other); return *this; }
Tensor& Tensor::sub_(const Tensor& other, const Scalar& alpha) {
  tessel::sub_(*this, is_one(alpha) ? other : mul(other, alpha));
  return *this;
}
Tensor& Tensor::sub_(const Scalar& other) { tessel::sub_(*this, other); return *this; }
Tensor& Tensor::mul_(const Tensor& other) { tessel::mul_(*this, other); return *this; }
Tensor& Tensor::mul_(const Scalar& other) { tessel::mul_(*this, other); return *this; }
Tensor& Tensor::div_(const Tensor& other) { tessel::div_(*this, other); return *this; }
Tensor& Tensor::div_(const Scalar& other) { tessel::div_(*this, other); return *this; }

namespace {
Tensor where_impl(const Tensor& cond, const Operand& a, const Operand& b) {
  TS_CHECK(cond.dtype() == DType::Bool, TypeError, "where", "condition must be a bool tensor, got ", cond.dtype());
  const Device dev = detail::common_device("where", {&cond, a, b});
  const DType dt = result_type({a, b});
  const Shape shape = broadcast_shapes("where", cond.shape(),
                                       broadcast_shapes("where", detail::shape_of(a), detail::shape_of(b)));
  const auto wide = [&](const Tensor& t) { return detail::widen_short_broadcast(broadcast_to(t, shape)); };
  const Tensor in[3] = {wide(cond), wide(detail::as_tensor(a, dt, dev)), wide(detail::as_tensor(b, dt, dev))};
  Tensor out = empty(shape, TensorOptions(dt, dev));
  const Tensor ordered[3] = {detail::in_layout_of(in[0], out), detail::in_layout_of(in[1], out),
                             detail::in_layout_of(in[2], out)};
  dispatch(op::where, dt, ordered, {&out, 1});
  return out;
}

Tensor lerp_impl(const Tensor& start, const Tensor& end, const Operand& w) {
  const Device dev = detail::common_device("lerp", {&start, &end, w});
  TS_CHECK(start.dtype() == end.dtype(), TypeError, "lerp", "expected start and end of one dtype, got ",
           start.dtype(), " and ", end.dtype());
  const DType dt = start.dtype();
  TS_CHECK(is_floating(dt) || is_complex(dt), TypeError, "lerp", "expects floating tensors, got ", dt);
  const Shape shape = broadcast_shapes("lerp", broadcast_shapes("lerp", start.shape(), end.shape()),
                                       detail::shape_of(w));
  const auto wide = [&](const Tensor& t) { return detail::widen_short_broadcast(broadcast_to(t, shape)); };
  const Tensor in[3] = {wide(start), wide(end), wide(detail::as_tensor(w, dt, dev))};
  // Transposed operands of one layout give an output in it (as the binary ops): the kernel
  // then walks all three in memory order.
  Tensor out = detail::empty_binary_out({in[0], in[1]}, TensorOptions(dt, dev));
  const Tensor ordered[3] = {detail::in_layout_of(in[0], out), detail::in_layout_of(in[1], out),
                             detail::in_layout_of(in[2], out)};
  dispatch(op::lerp, dt, ordered, {&out, 1});
  return out;
}
}  // namespace

namespace {
Tensor where_op(const Tensor& c, const Operand& a, const Operand& b) {
  if (trace::Op t{"where"}) return operands(t.in(c), a, b).out(where_op(c, a, b));
  return autograd::recorded(
      autograd::GradMode::enabled() && (wants_grad(a) || wants_grad(b)), [&] { return where_impl(c, a, b); },
      [&](const Tensor& out) { autograd::rules::where(c, a, b, out); });
}
Tensor lerp_op(const Tensor& start, const Tensor& end, const Operand& w) {
  if (trace::Op t{"lerp"}) return operands(t.in(start), &end, w).out(lerp_op(start, end, w));
  return autograd::recorded(
      autograd::GradMode::enabled() && (start.requires_grad() || end.requires_grad() || wants_grad(w)),
      [&] { return lerp_impl(start, end, w); }, [&](const Tensor& out) { autograd::rules::lerp(start, end, w, out); });
}
}  // namespace

Tensor where(const Tensor& c, const Tensor& a, const Tensor& b) { return where_op(c, &a, &b); }
Tensor where(const Tensor& c, const Scalar& a, const Tensor& b) { return where_op(c, a, &b); }
Tensor where(const Tensor& c, const Tensor& a, const Scalar& b) { return where_op(c, &a, b); }
Tensor where(const Tensor& c, const Scalar& a, const Scalar& b) { return where_op(c, a, b); }

Tensor lerp(const Tensor& start, const Tensor& end, const Scalar& weight) { return lerp_op(start, end, weight); }
Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight) { return lerp_op(start, end, &weight); }
const Tensor& lerp_(const Tensor& start, const Tensor& end, const Scalar& weight) {
  if (autograd::needs_grad(start, end)) {
    return autograd::inplace("lerp_", start, true, [&](const Tensor& self) { return lerp_op(self, end, weight); });
  }
  Tensor r = lerp_op(start, end, weight);
  TS_CHECK(r.shape() == start.shape(), ValueError, "lerp_", "output with shape ", start.shape(),
           " doesn't match the broadcast shape ", r.shape());
  Tensor(start).copy_(r);
  return start;
}

}  // namespace tessel
