// Bindings for elementwise ops: ts.add(...) functions, Tensor methods
// (t.add, t.add_) and Python operators, from the op lists in elementwise.h.
#include <pybind11/stl.h>

#include "python/src/convert.h"

namespace tessel::python {

namespace {

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

Operand operand(py::handle o, Scalar& storage, const char* op) {
  if (const Tensor* t = as_tensor_ptr(o)) return t;
  if (to_scalar(o, storage)) return storage;
  throw py::type_error(std::string(op) + "(): expected a Tensor or a number, got " + type_name(o));
}

// ts.add(a, b), where either side may be a number.
#define TESSEL_FREE_BINARY(name)                                                        \
  m.def(#name, [](py::handle a, py::handle b) -> Tensor {                               \
    Scalar sa, sb;                                                                      \
    const Operand oa = operand(a, sa, #name), ob = operand(b, sb, #name);               \
    const Tensor* ta = std::holds_alternative<const Tensor*>(oa) ? std::get<0>(oa) : nullptr; \
    const Tensor* tb = std::holds_alternative<const Tensor*>(ob) ? std::get<0>(ob) : nullptr; \
    if (ta && tb) return name(*ta, *tb);                                                \
    if (ta) return name(*ta, sb);                                                       \
    if (tb) return name(sa, *tb);                                                       \
    return name(scalar_tensor(sa, TensorOptions(sa.dtype())), sb);                      \
  }, py::arg("input"), py::arg("other"));

// Methods and operators take any object: tensors and numbers are ours, anything
// else returns NotImplemented so that Python can try the other operand.
#define TESSEL_BINOP(fn)                                                     \
  [](const Tensor& a, py::handle b) -> py::object {                          \
    if (const Tensor* t = as_tensor_ptr(b)) return py::cast(fn(a, *t));      \
    Scalar s;                                                                \
    if (to_scalar(b, s)) return py::cast(fn(a, s));                          \
    return not_implemented();                                                \
  }
#define TESSEL_RBINOP(fn)                                                    \
  [](const Tensor& a, py::handle b) -> py::object {                          \
    Scalar s;                                                                \
    if (to_scalar(b, s)) return py::cast(fn(s, a));                          \
    return not_implemented();                                                \
  }
#define TESSEL_IBINOP(fn)                                                    \
  [](const Tensor& a, py::handle b) -> py::object {                          \
    if (const Tensor* t = as_tensor_ptr(b)) {                                \
      fn(a, *t);                                                             \
      return self_of(a);                                                     \
    }                                                                        \
    Scalar s;                                                                \
    if (to_scalar(b, s)) {                                                   \
      fn(a, s);                                                              \
      return self_of(a);                                                     \
    }                                                                        \
    return not_implemented();                                                \
  }
#define TESSEL_METHODS_BINARY(name) \
  c.def(#name, TESSEL_BINOP(name), py::arg("other")).def(#name "_", TESSEL_IBINOP(name##_), py::arg("other"));

std::optional<Scalar> opt_scalar(py::handle o) {
  if (o.is_none()) return std::nullopt;
  Scalar s;
  if (const Tensor* t = as_tensor_ptr(o)) return t->item();
  if (!to_scalar(o, s)) throw py::type_error("expected a number, got " + type_name(o));
  return s;
}

Tensor clamp_any(const Tensor& t, py::handle min, py::handle max) {
  const Tensor* tmin = as_tensor_ptr(min);
  const Tensor* tmax = as_tensor_ptr(max);
  if ((tmin && tmin->dim() > 0) || (tmax && tmax->dim() > 0)) {  // tensor bounds broadcast
    std::optional<Tensor> lo, hi;
    if (tmin) lo = *tmin;
    else if (!min.is_none()) lo = scalar_tensor(*opt_scalar(min), TensorOptions(t.dtype(), t.device()));
    if (tmax) hi = *tmax;
    else if (!max.is_none()) hi = scalar_tensor(*opt_scalar(max), TensorOptions(t.dtype(), t.device()));
    return clamp(t, lo, hi);
  }
  return clamp(t, opt_scalar(min), opt_scalar(max));
}

}  // namespace

void init_elementwise(py::module_& m) {
  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));

  TESSEL_BINARY_OPS(TESSEL_FREE_BINARY)
  TESSEL_COMPARE_OPS(TESSEL_FREE_BINARY)
  TESSEL_BITWISE_OPS(TESSEL_FREE_BINARY)
  TESSEL_BINARY_OPS(TESSEL_METHODS_BINARY)
  TESSEL_COMPARE_OPS(TESSEL_METHODS_BINARY)
  TESSEL_BITWISE_OPS(TESSEL_METHODS_BINARY)
  m.attr("true_divide") = m.attr("div");

  c.def("__add__", TESSEL_BINOP(add)).def("__radd__", TESSEL_RBINOP(add)).def("__iadd__", TESSEL_IBINOP(add_))
      .def("__sub__", TESSEL_BINOP(sub)).def("__rsub__", TESSEL_RBINOP(sub)).def("__isub__", TESSEL_IBINOP(sub_))
      .def("__mul__", TESSEL_BINOP(mul)).def("__rmul__", TESSEL_RBINOP(mul)).def("__imul__", TESSEL_IBINOP(mul_))
      .def("__truediv__", TESSEL_BINOP(div)).def("__rtruediv__", TESSEL_RBINOP(div))
      .def("__itruediv__", TESSEL_IBINOP(div_))
      .def("__floordiv__", TESSEL_BINOP(floor_divide)).def("__rfloordiv__", TESSEL_RBINOP(floor_divide))
      .def("__ifloordiv__", TESSEL_IBINOP(floor_divide_))
      .def("__mod__", TESSEL_BINOP(remainder)).def("__rmod__", TESSEL_RBINOP(remainder))
      .def("__imod__", TESSEL_IBINOP(remainder_))
      .def("__pow__", TESSEL_BINOP(pow)).def("__rpow__", TESSEL_RBINOP(pow)).def("__ipow__", TESSEL_IBINOP(pow_))
      .def("__and__", TESSEL_BINOP(bitwise_and)).def("__rand__", TESSEL_RBINOP(bitwise_and))
      .def("__iand__", TESSEL_IBINOP(bitwise_and_))
      .def("__or__", TESSEL_BINOP(bitwise_or)).def("__ror__", TESSEL_RBINOP(bitwise_or))
      .def("__ior__", TESSEL_IBINOP(bitwise_or_))
      .def("__xor__", TESSEL_BINOP(bitwise_xor)).def("__rxor__", TESSEL_RBINOP(bitwise_xor))
      .def("__ixor__", TESSEL_IBINOP(bitwise_xor_))
      .def("__lshift__", TESSEL_BINOP(bitwise_left_shift)).def("__rlshift__", TESSEL_RBINOP(bitwise_left_shift))
      .def("__ilshift__", TESSEL_IBINOP(bitwise_left_shift_))
      .def("__rshift__", TESSEL_BINOP(bitwise_right_shift)).def("__rrshift__", TESSEL_RBINOP(bitwise_right_shift))
      .def("__irshift__", TESSEL_IBINOP(bitwise_right_shift_))
      .def("__eq__", TESSEL_BINOP(eq)).def("__ne__", TESSEL_BINOP(ne))
      .def("__lt__", TESSEL_BINOP(lt)).def("__le__", TESSEL_BINOP(le))
      .def("__gt__", TESSEL_BINOP(gt)).def("__ge__", TESSEL_BINOP(ge))
      .def("__neg__", [](const Tensor& a) { return neg(a); })
      .def("__abs__", [](const Tensor& a) { return abs(a); })
      .def("__invert__", [](const Tensor& a) { return bitwise_not(a); });

#define TESSEL_BIND_UNARY(name)                                               \
  m.def(#name, [](const Tensor& a) { return name(a); }, py::arg("input"));    \
  c.def(#name, [](const Tensor& a) { return name(a); });                      \
  c.def(#name "_", [](const Tensor& a) { name##_(a); return self_of(a); });
  TESSEL_FLOAT_UNARY_OPS(TESSEL_BIND_UNARY)
  TESSEL_SAME_UNARY_OPS(TESSEL_BIND_UNARY)
  TESSEL_BIND_UNARY(logical_not)
#undef TESSEL_BIND_UNARY
  m.attr("negative") = m.attr("neg");
  m.attr("absolute") = m.attr("abs");
  m.def("isnan", [](const Tensor& a) { return isnan(a); }, py::arg("input"));
  m.def("isinf", [](const Tensor& a) { return isinf(a); }, py::arg("input"));
  m.def("isfinite", [](const Tensor& a) { return isfinite(a); }, py::arg("input"));
  c.def("isnan", [](const Tensor& a) { return isnan(a); });
  c.def("isinf", [](const Tensor& a) { return isinf(a); });
  c.def("isfinite", [](const Tensor& a) { return isfinite(a); });

  m.def("polygamma", [](int64_t n, const Tensor& a) { return polygamma(n, a); }, py::arg("n"), py::arg("input"));
  c.def("polygamma", [](const Tensor& a, int64_t n) { return polygamma(n, a); }, py::arg("n"));
  m.def("leaky_relu", [](const Tensor& a, double s) { return leaky_relu(a, s); }, py::arg("input"),
        py::arg("negative_slope") = 0.01);
  m.def("elu", [](const Tensor& a, double alpha) { return elu(a, alpha); }, py::arg("input"), py::arg("alpha") = 1.0);
  m.def("gelu", [](const Tensor& a, const std::string& ap) { return gelu(a, ap); }, py::arg("input"),
        py::kw_only(), py::arg("approximate") = "none");
  m.def("softplus", [](const Tensor& a, double beta, double th) { return softplus(a, beta, th); }, py::arg("input"),
        py::arg("beta") = 1.0, py::arg("threshold") = 20.0);
  m.def("round", [](const Tensor& a, int64_t d) { return round(a, d); }, py::arg("input"), py::kw_only(),
        py::arg("decimals") = 0);
  c.def("round", [](const Tensor& a, int64_t d) { return round(a, d); }, py::kw_only(), py::arg("decimals") = 0);
  c.def("round_", [](const Tensor& a, int64_t d) { round_(a, d); return self_of(a); }, py::kw_only(), py::arg("decimals") = 0);
  m.def("nan_to_num", [](const Tensor& a, double nan, std::optional<double> pi, std::optional<double> ni) {
    return nan_to_num(a, nan, pi, ni);
  }, py::arg("input"), py::arg("nan") = 0.0, py::arg("posinf") = py::none(), py::arg("neginf") = py::none());
  c.def("nan_to_num", [](const Tensor& a, double nan, std::optional<double> pi, std::optional<double> ni) {
    return nan_to_num(a, nan, pi, ni);
  }, py::arg("nan") = 0.0, py::arg("posinf") = py::none(), py::arg("neginf") = py::none());
  c.def("nan_to_num_", [](const Tensor& a, double nan, std::optional<double> pi, std::optional<double> ni) {
    nan_to_num_(a, nan, pi, ni);
    return self_of(a);
  }, py::arg("nan") = 0.0, py::arg("posinf") = py::none(), py::arg("neginf") = py::none());
  m.def("clamp", &clamp_any, py::arg("input"), py::arg("min") = py::none(), py::arg("max") = py::none());
  m.attr("clip") = m.attr("clamp");
  c.def("clamp", &clamp_any, py::arg("min") = py::none(), py::arg("max") = py::none());
  c.def("clip", &clamp_any, py::arg("min") = py::none(), py::arg("max") = py::none());
  c.def("clamp_", [](const Tensor& a, py::handle min, py::handle max) {
    const Tensor* tmin = min.is_none() ? nullptr : as_tensor_ptr(min);
    const Tensor* tmax = max.is_none() ? nullptr : as_tensor_ptr(max);
    if (!tmin && !tmax) {
      clamp_(a, opt_scalar(min), opt_scalar(max));
      return self_of(a);
    }
    Tensor r = clamp_any(a, min, max);
    if (!can_cast(r.dtype(), a.dtype())) {
      throw py::type_error("clamp_: result type " + std::string(dtype_name(r.dtype())) +
                           " can't be cast to the desired output type " + dtype_name(a.dtype()));
    }
    Tensor(a).copy_(r);
    return self_of(a);
  }, py::arg("min") = py::none(), py::arg("max") = py::none());
  m.def("lerp", [](const Tensor& s, const Tensor& e, py::handle w) {
    if (const Tensor* tw = as_tensor_ptr(w)) return lerp(s, e, *tw);
    return lerp(s, e, *opt_scalar(w));
  }, py::arg("input"), py::arg("end"), py::arg("weight"));
  c.def("lerp", [](const Tensor& s, const Tensor& e, py::handle w) {
    if (const Tensor* tw = as_tensor_ptr(w)) return lerp(s, e, *tw);
    return lerp(s, e, *opt_scalar(w));
  }, py::arg("end"), py::arg("weight"));
  c.def("lerp_", [](const Tensor& s, const Tensor& e, py::handle w) {
    if (const Tensor* tw = as_tensor_ptr(w)) Tensor(s).copy_(lerp(s, e, *tw));
    else lerp_(s, e, *opt_scalar(w));
    return self_of(s);
  }, py::arg("end"), py::arg("weight"));

  m.def("where", [](const Tensor& cond, py::handle a, py::handle b) {
    Scalar sa, sb;
    const Operand oa = operand(a, sa, "where"), ob = operand(b, sb, "where");
    const Tensor* ta = std::holds_alternative<const Tensor*>(oa) ? std::get<0>(oa) : nullptr;
    const Tensor* tb = std::holds_alternative<const Tensor*>(ob) ? std::get<0>(ob) : nullptr;
    if (ta && tb) return where(cond, *ta, *tb);
    if (ta) return where(cond, *ta, sb);
    if (tb) return where(cond, sa, *tb);
    return where(cond, sa, sb);
  }, py::arg("condition"), py::arg("input"), py::arg("other"));
}

}  // namespace tessel::python
