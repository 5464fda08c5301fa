// Unary elementwise ops: floating math, activations, rounding, predicates,
// nan_to_num and clamp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "src/ops/broadcast_block.h"
#include "src/ops/elementwise_util.h"
#include "tessel/amp.h"
#include "tessel/trace.h"

namespace tessel {
namespace detail {

namespace {
// A unary op on an input broadcast over its leading dims runs on the distinct
// block once (broadcast_block.h).
bool on_broadcast_block(OpId id, DType dt, const Tensor& x, Tensor& r, const void* params) {
  if (!r.is_contiguous()) return false;
  const auto b = detail::broadcast_block(x);
  if (!b) return false;
  Tensor head = detail::first_block(r, b->block.shape());
  dispatch(id, dt, {&b->block, 1}, {&head, 1}, params);
  detail::repeat_first_block(r, b->outer);
  return true;
}

// A unary kernel from x into r (every unary op's forward, clamp's too).
void dispatch_unary(OpId id, DType dt, const Tensor& x, Tensor& r, const void* params) {
  if (!on_broadcast_block(id, dt, x, r, params)) dispatch(id, dt, {&x, 1}, {&r, 1}, params);
}

Tensor unary_forward(const char* name, OpId id, const Tensor& a, bool to_float, const void* params,
                     std::optional<DType> out) {
  TS_CHECK(a.defined(), ValueError, name, "got an undefined tensor");
  DType dt = a.dtype();
  if (is_cast_only(dt)) fail_cast_only(name, dt);  // no silent widening of float8 and int4
  if (to_float && !is_floating(dt) && !is_complex(dt)) dt = default_float_dtype();
  const Tensor x = a.to(dt);
  const DType out_dt = out ? *out : (id == op::abs ? to_real(dt) : dt);
  Tensor r = empty_same_layout(x, TensorOptions(out_dt, a.device()));
  dispatch_unary(id, dt, x, r, params);
  return r;
}
}  // namespace

namespace {
// A unary op's UnaryParams, as trace attributes p0, p1, p2 (leaky_relu's slope, gelu's mode, ...).
trace::Op& params_attrs(trace::Op& t, OpId id, const void* params) {
  if (!params || id == op::clamp) return t;
  const auto* p = static_cast<const UnaryParams*>(params);
  return t.attr("p0", p->a).attr("p1", p->b).attr("p2", p->c);
}
}  // namespace

Tensor unary(const char* name, OpId id, const Tensor& a, bool to_float, const void* params, std::optional<DType> out) {
  if (trace::Op t{name}) return params_attrs(t.in(a), id, params).out(unary(name, id, a, to_float, params, out));
  return autograd::recorded(
      autograd::needs_grad(a) && !out, [&] { return unary_forward(name, id, a, to_float, params, out); },
      [&](const Tensor& r) { autograd::rules::unary(id, a, r, params); });
}

const Tensor& unary_(const char* name, OpId id, const Tensor& a_ref, bool to_float, const void* params) {
  if (trace::Op t{name}) {
    params_attrs(t.in(a_ref).inplace(), id, params);
    unary_(name, id, a_ref, to_float, params);
    t.out(a_ref);
    return a_ref;
  }
  if (autograd::needs_grad(a_ref)) {
    return autograd::inplace(name, a_ref, true,
                             [&](const Tensor& self) { return unary(name, id, self, to_float, params); });
  }
  check_writable(name, a_ref);
  Tensor a = a_ref;
  if (to_float && !is_floating(a.dtype()) && !is_complex(a.dtype())) {
    fail<TypeError>(name, "result type ", default_float_dtype(), " can't be cast to the desired output type ",
                    a.dtype());
  }
  TS_CHECK(!(id == op::abs && is_complex(a.dtype())), TypeError, name,
           "in-place abs is not supported for complex tensors");
  dispatch(id, a.dtype(), {&a, 1}, {&a, 1}, params);
  a.bump_version();
  return a_ref;
}

}  // namespace detail

using detail::unary;
using detail::unary_;

// The float32-listed ones (amp.h) upcast their input under autocast.
#define TESSEL_FLOAT_UNARY_DEF(name)                                                          \
  Tensor name(const Tensor& a) {                                                              \
    if (amp::active()) {                                                                      \
      if (const auto o = amp::from_registry(op::name)) {                                      \
        const amp::Cast c(*o, {&a});                                                          \
        return name(c[0]);                                                                    \
      }                                                                                       \
    }                                                                                         \
    return unary(#name, op::name, a, true);                                                   \
  }                                                                                           \
  const Tensor& name##_(const Tensor& a) { return unary_(#name "_", op::name, a, true); }
TESSEL_FLOAT_UNARY_OPS(TESSEL_FLOAT_UNARY_DEF)
#undef TESSEL_FLOAT_UNARY_DEF

namespace {
// floor/ceil/trunc of integers are the identity, as in PyTorch.
bool identity_on_ints(OpId id, DType d) {
  return (id == op::floor || id == op::ceil || id == op::trunc) && is_integral(d, true);
}

void check_same(const char* name, OpId id, const Tensor& a) {
  const DType d = a.dtype();
  if (id == op::neg) {
    TS_CHECK(d != DType::Bool, TypeError, name, "negation of a bool tensor is not supported; use logical_not or ~");
  }
  if (id == op::abs || id == op::relu || id == op::square) {
    TS_CHECK(d != DType::Bool, TypeError, name, "not supported for bool tensors");
  }
  if (id == op::bitwise_not) TS_CHECK(is_integral(d, true), TypeError, name, "expects integer or bool, got ", d);
  if (id == op::sign || id == op::floor || id == op::ceil || id == op::trunc || id == op::relu) {
    TS_CHECK(!is_complex(d), TypeError, name, "not supported for complex tensors");
  }
}
}  // namespace

#define TESSEL_SAME_UNARY_DEF(name)                                           \
  Tensor name(const Tensor& a) {                                              \
    check_same(#name, op::name, a);                                           \
    if (identity_on_ints(op::name, a.dtype())) return a.clone();              \
    return unary(#name, op::name, a, false);                                  \
  }                                                                           \
  const Tensor& name##_(const Tensor& a) {                                    \
    check_same(#name "_", op::name, a);                                       \
    if (identity_on_ints(op::name, a.dtype())) return a;                      \
    return unary_(#name "_", op::name, a, false);                             \
  }
TESSEL_SAME_UNARY_OPS(TESSEL_SAME_UNARY_DEF)
#undef TESSEL_SAME_UNARY_DEF

Tensor conj(const Tensor& a) { return is_complex(a.dtype()) ? unary("conj", op::conj, a, false) : a; }

Tensor logical_not(const Tensor& a) { return unary("logical_not", op::logical_not, a, false, nullptr, DType::Bool); }
const Tensor& logical_not_(const Tensor& a) {
  Tensor(a).copy_(logical_not(a));
  return a;
}

namespace {
// Predicates are constant on integers: no kernel call.
Tensor predicate(const char* name, OpId id, const Tensor& a, bool on_ints) {
  if (!is_floating(a.dtype()) && !is_complex(a.dtype())) {
    return full(a.shape(), Scalar(on_ints), TensorOptions(DType::Bool, a.device()));
  }
  return unary(name, id, a, false, nullptr, DType::Bool);
}
}  // namespace

Tensor isnan(const Tensor& a) { return predicate("isnan", op::isnan, a, false); }
Tensor isinf(const Tensor& a) { return predicate("isinf", op::isinf, a, false); }
Tensor isfinite(const Tensor& a) { return predicate("isfinite", op::isfinite, a, true); }

namespace {
void check_float(const char* name, const Tensor& a) {
  TS_CHECK(is_floating(a.dtype()), TypeError, name, "expects a floating tensor, got ", a.dtype());
}
}  // namespace

Tensor polygamma(int64_t n, const Tensor& a) {
  TS_CHECK(n >= 0, ValueError, "polygamma", "n must be a non-negative integer, got ", n);
  if (n == 0) return digamma(a);
  const UnaryParams p{static_cast<double>(n)};
  return unary("polygamma", op::polygamma, a, true, &p);
}

Tensor leaky_relu(const Tensor& a, double slope) {
  check_float("leaky_relu", a);
  const UnaryParams p{slope};
  return unary("leaky_relu", op::leaky_relu, a, false, &p);
}
const Tensor& leaky_relu_(const Tensor& a, double slope) {
  check_float("leaky_relu_", a);
  const UnaryParams p{slope};
  return unary_("leaky_relu_", op::leaky_relu, a, false, &p);
}
Tensor elu(const Tensor& a, double alpha) {
  check_float("elu", a);
  const UnaryParams p{alpha};
  return unary("elu", op::elu, a, false, &p);
}
const Tensor& elu_(const Tensor& a, double alpha) {
  check_float("elu_", a);
  const UnaryParams p{alpha};
  return unary_("elu_", op::elu, a, false, &p);
}
Tensor gelu(const Tensor& a, const std::string& approximate) {
  check_float("gelu", a);
  TS_CHECK(approximate == "none" || approximate == "tanh", ValueError, "gelu",
           "approximate must be 'none' or 'tanh', got '", approximate, "'");
  const UnaryParams p{approximate == "tanh" ? 1.0 : 0.0};
  return unary("gelu", op::gelu, a, false, &p);
}
Tensor softplus(const Tensor& a, double beta, double threshold) {
  if (amp::active()) {
    const amp::Cast c(amp::Op::softplus, {&a});
    return softplus(c[0], beta, threshold);
  }
  check_float("softplus", a);
  TS_CHECK(beta != 0, ValueError, "softplus", "beta must be nonzero");
  const UnaryParams p{beta, threshold};
  return unary("softplus", op::softplus, a, false, &p);
}

Tensor round(const Tensor& a, int64_t decimals) {
  TS_CHECK(!is_complex(a.dtype()), TypeError, "round", "not supported for complex tensors");
  if (is_integral(a.dtype(), true) && decimals >= 0) return a.clone();
  TS_CHECK(is_floating(a.dtype()), TypeError, "round", "negative decimals need a floating tensor, got ", a.dtype());
  const UnaryParams p{static_cast<double>(decimals)};
  return unary("round", op::round, a, false, &p);
}
const Tensor& round_(const Tensor& a, int64_t decimals) {
  if (is_integral(a.dtype(), true) && decimals >= 0) return a;
  Tensor(a).copy_(round(a, decimals));
  return a;
}

namespace {
UnaryParams nan_params(DType d, double nan, std::optional<double> posinf, std::optional<double> neginf) {
  const double hi = visit_dtype(d, []<class T>(std::type_identity<T>) -> double {
    if constexpr (std::is_same_v<T, Half>) return 65504.0;
    else if constexpr (std::is_same_v<T, BFloat16>) return 3.3895313892515355e38;
    else if constexpr (std::is_floating_point_v<T>) return static_cast<double>(std::numeric_limits<T>::max());
    else return 0.0;
  });
  return UnaryParams{nan, posinf.value_or(hi), neginf.value_or(-hi)};
}
}  // namespace

Tensor nan_to_num(const Tensor& a, double nan, std::optional<double> posinf, std::optional<double> neginf) {
  TS_CHECK(!is_complex(a.dtype()), TypeError, "nan_to_num", "not supported for complex tensors");
  if (!is_floating(a.dtype())) return a.clone();
  const UnaryParams p = nan_params(a.dtype(), nan, posinf, neginf);
  return unary("nan_to_num", op::nan_to_num, a, false, &p);
}
const Tensor& nan_to_num_(const Tensor& a, double nan, std::optional<double> posinf, std::optional<double> neginf) {
  if (!is_floating(a.dtype())) return a;
  const UnaryParams p = nan_params(a.dtype(), nan, posinf, neginf);
  return unary_("nan_to_num_", op::nan_to_num, a, false, &p);
}

Tensor clamp(const Tensor& a, const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  TS_CHECK(min || max, ValueError, "clamp", "at least one of min and max must be given");
  if (trace::Op t{"clamp"}) {
    if (min) t.attr("min", min->to<double>());
    if (max) t.attr("max", max->to<double>());
    return t.in(a).out(clamp(a, min, max));
  }
  DType dt = a.dtype();
  if (min) dt = result_type({&a, *min});
  if (max) dt = promote_types(dt, result_type({&a, *max}));
  TS_CHECK(!is_complex(dt), TypeError, "clamp", "not supported for complex tensors");
  ClampParams p;
  p.has_min = min.has_value();
  p.has_max = max.has_value();
  if (min) p.min = *min;
  if (max) p.max = *max;
  return autograd::recorded(
      autograd::needs_grad(a),
      [&] {
        const Tensor x = a.to(dt);
        Tensor out = detail::empty_same_layout(x, TensorOptions(dt, a.device()));  // a transposed input stays so
        detail::dispatch_unary(op::clamp, dt, x, out, &p);
        return out;
      },
      [&](const Tensor& out) { autograd::rules::clamp(a, min, max, out); });
}

Tensor clamp(const Tensor& a, const std::optional<Tensor>& min, const std::optional<Tensor>& max) {
  TS_CHECK(min || max, ValueError, "clamp", "at least one of min and max must be given");
  Tensor r = a;
  if (min) r = maximum(r, *min);
  if (max) r = minimum(r, *max);
  return r.is_same(a) ? a.clone() : r;
}

const Tensor& clamp_(const Tensor& a, const std::optional<Scalar>& min, const std::optional<Scalar>& max) {
  if (trace::Op t{"clamp"}) {
    if (min) t.attr("min", min->to<double>());
    if (max) t.attr("max", max->to<double>());
    t.in(a).inplace();
    clamp_(a, min, max);
    t.out(a);
    return a;
  }
  if (autograd::needs_grad(a)) {
    return autograd::inplace("clamp_", a, true, [&](const Tensor& self) { return clamp(self, min, max); });
  }
  Tensor r = clamp(a, min, max);
  TS_CHECK(can_cast(r.dtype(), a.dtype()), TypeError, "clamp_", "result type ", r.dtype(),
           " can't be cast to the desired output type ", a.dtype());
  Tensor(a).copy_(r);
  return a;
}

}  // namespace tessel
