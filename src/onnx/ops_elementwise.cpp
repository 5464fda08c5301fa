// ONNX elementwise ops: unary math, activations, comparisons, logic, bitwise, Cast, Clip, Where.
// ONNX never promotes: binary ops check that their inputs share a dtype, and
// each op accepts the type classes its schema lists.
#include <cmath>
#include <limits>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {


// Type classes of the ONNX schemas' constraints.
enum : unsigned { kFloat = 1, kSigned = 2, kUnsigned = 4, kBool = 8, kInt = kSigned | kUnsigned, kNum = kFloat | kInt };

unsigned type_class(DType d) {
  if (d == DType::Bool) return kBool;
  if (is_unsigned(d)) return kUnsigned;
  if (is_integral(d)) return kSigned;
  if (is_floating(d)) return kFloat;
  return 0;  // complex: no op of this family takes it
}

const Tensor& typed(const Node& n, const Tensor& t, unsigned allowed, const char* what = "input") {
  if (!(type_class(t.dtype()) & allowed)) n.error<TypeError>(what, " has dtype ", t.dtype(), ", which ", n.op_type, " does not accept");
  return t;
}

const Tensor& in_typed(const Node& n, const Inputs& in, size_t k, unsigned allowed) {
  return typed(n, input(n, in, k), allowed, k == 0 ? "input 0" : k == 1 ? "input 1" : "an input");
}

void same_dtype(const Node& n, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    n.error<TypeError>("inputs must have the same dtype (ONNX does not promote), got ", a.dtype(), " and ", b.dtype());
}

using Unary = Tensor (*)(const Tensor&);
void unary(std::map<std::string, OpFn>& t, const char* name, unsigned allowed, Unary f) {
  t[name] = [allowed, f](const Node& n, const Inputs& in, const OpContext&) { return one(f(in_typed(n, in, 0, allowed))); };
}

using Binary = Tensor (*)(const Tensor&, const Tensor&);
void binary(std::map<std::string, OpFn>& t, const char* name, unsigned allowed, Binary f) {
  t[name] = [allowed, f](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& a = in_typed(n, in, 0, allowed);
    const Tensor& b = in_typed(n, in, 1, allowed);
    same_dtype(n, a, b);
    return one(f(a, b));
  };
}


Tensor cast_to(const Tensor& x, DType to) {
  if (x.dtype() == to) return x;
  return x.to(to);
}

// Cast and CastLike: tessel's casts, plus ONNX's `saturate` (float8 targets:
// what is out of range, infinities included, becomes the largest finite value;
// tessel's own cast gives inf or NaN, as ml_dtypes and PyTorch do) and
// `round_mode` (float8e8m0 targets: "up", "down" or "nearest").
Tensor onnx_cast(const Node& n, const Tensor& x, DType to) {
  if (x.dtype() == to) return x;
  const bool saturate = n.i("saturate", 1) != 0;
  if (to == DType::Float8E8M0FNU) {
    const std::string mode = n.s("round_mode", "up");
    using R = Float8E8M0FNU::Round;
    if (mode != "up" && mode != "down" && mode != "nearest")
      n.error("attribute 'round_mode' must be \"up\", \"down\" or \"nearest\", got \"", mode, "\"");
    const R r = mode == "up" ? R::Up : mode == "down" ? R::Down : R::Nearest;
    const Tensor f = x.to(DType::Float32).cpu().contiguous();
    Tensor out = empty(f.shape(), TensorOptions(to));
    const float* src = f.data<float>();
    auto* dst = static_cast<uint8_t*>(out.data_ptr());
    for (int64_t k = 0; k < f.numel(); ++k) dst[k] = Float8E8M0FNU::encode(src[k], saturate, r);
    return out.to(x.device());
  }
  return saturate_cast(x, to, saturate);
}

Tensor onnx_pow(const Node& n, const Tensor& x, const Tensor& y) {
  typed(n, x, kNum, "X");
  typed(n, y, kNum, "Y");
  // The result has X's dtype whatever Y's is.
  if (is_floating(x.dtype())) return pow(x, cast_to(y, x.dtype()));
  if (is_integral(y.dtype())) return pow(x, cast_to(y, x.dtype()));
  return pow(x.to(DType::Float64), y.to(DType::Float64)).to(x.dtype());
}

// ONNX BitShift: the core's shifts (a count < 0 or >= the width gives 0; RIGHT
// is arithmetic, so -1 for a negative signed value shifted out).
Tensor bit_shift(const Node& n, const Tensor& x, const Tensor& y) {
  typed(n, x, kInt, "X");
  same_dtype(n, x, y);
  const std::string dir = n.s("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") n.error("attribute 'direction' must be \"LEFT\" or \"RIGHT\", got \"", dir, "\"");
  return dir == "LEFT" ? bitwise_left_shift(x, y) : bitwise_right_shift(x, y);
}

std::optional<Tensor> scalar_bound(const Node& n, const Inputs& in, size_t k, const Tensor& x) {
  if (k >= in.size() || !in[k]) return std::nullopt;
  const Tensor& b = *in[k];
  if (b.numel() != 1) n.error(k == 1 ? "min" : "max", " must be a scalar, got shape ", b.shape());
  if (b.dtype() != x.dtype())
    n.error<TypeError>(k == 1 ? "min" : "max", " must have the input's dtype ", x.dtype(), ", got ", b.dtype());
  return b.reshape({});
}

Tensor clip(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  typed(n, x, kNum);
  std::optional<Tensor> lo, hi;
  if (c.opset < 11) {
    // Bounds were float attributes before opset 11.
    if (n.has("min")) lo = full({}, Scalar(n.f("min", 0.0)), x.dtype());
    if (n.has("max")) hi = full({}, Scalar(n.f("max", 0.0)), x.dtype());
  } else {
    lo = scalar_bound(n, in, 1, x);
    hi = scalar_bound(n, in, 2, x);
  }
  if (!lo && !hi) return x;
  // min > max gives max everywhere, as clamp does. Scalar bounds run one fused
  // pass; 0-d tensor bounds would go through maximum then minimum with broadcasting
  // (4x slower: MobileNetV2's ReLU6). The bounds are one-element CPU tensors here.
  if (x.device().type == DeviceType::CPU) {
    auto as_scalar = [](const std::optional<Tensor>& b) -> std::optional<Scalar> {
      if (!b) return std::nullopt;
      return b->item();
    };
    return clamp(x, as_scalar(lo), as_scalar(hi));
  }
  return clamp(x, lo, hi);
}

// Fold of a variadic op (Max, Min, Sum, Mean) over inputs of one dtype.
Tensor variadic(const Node& n, const Inputs& in, unsigned allowed, Binary f) {
  if (in.empty()) n.error("needs at least one input");
  Tensor acc = in_typed(n, in, 0, allowed);
  for (size_t k = 1; k < in.size(); ++k) {
    const Tensor& b = in_typed(n, in, k, allowed);
    same_dtype(n, acc, b);
    acc = f(acc, b);
  }
  return acc;
}

Tensor hard_sigmoid(const Tensor& x, double alpha, double beta) {
  return clamp(add(mul(x, Scalar(alpha)), Scalar(beta)), Scalar(0.0), Scalar(1.0));
}

}  // namespace

Tensor saturate_cast(const Tensor& x, DType to, bool saturate) {
  if (!saturate || !is_float8(to) || is_cast_only(x.dtype()) || is_complex(x.dtype())) return x.to(to);
  const double top = visit_any_dtype(to, []<class T>(std::type_identity<T>) -> double {
    if constexpr (is_small_float_v<T> && !std::is_same_v<T, Float8E8M0FNU>) return T::max();
    else return 0;
  });
  const Tensor y = is_floating(x.dtype()) ? x : x.to(DType::Float64);
  return clamp(y, Scalar(-top), Scalar(top)).to(to);  // NaN stays NaN
}

void register_elementwise_ops(std::map<std::string, OpFn>& t) {
  // Unary math.
  unary(t, "Abs", kNum, [](const Tensor& x) { return is_unsigned(x.dtype()) ? x : abs(x); });
  unary(t, "Neg", kFloat | kSigned, [](const Tensor& x) { return neg(x); });
  unary(t, "Sign", kNum, [](const Tensor& x) { return sign(x); });
  unary(t, "Exp", kFloat, [](const Tensor& x) { return exp(x); });
  unary(t, "Log", kFloat, [](const Tensor& x) { return log(x); });
  unary(t, "Sqrt", kFloat, [](const Tensor& x) { return sqrt(x); });
  unary(t, "Reciprocal", kFloat, [](const Tensor& x) { return reciprocal(x); });
  unary(t, "Floor", kFloat, [](const Tensor& x) { return floor(x); });
  unary(t, "Ceil", kFloat, [](const Tensor& x) { return ceil(x); });
  unary(t, "Round", kFloat, [](const Tensor& x) { return round(x); });  // half to even, as ONNX
  unary(t, "Sin", kFloat, [](const Tensor& x) { return sin(x); });
  unary(t, "Cos", kFloat, [](const Tensor& x) { return cos(x); });
  unary(t, "Tan", kFloat, [](const Tensor& x) { return tan(x); });
  unary(t, "Asin", kFloat, [](const Tensor& x) { return asin(x); });
  unary(t, "Acos", kFloat, [](const Tensor& x) { return acos(x); });
  unary(t, "Atan", kFloat, [](const Tensor& x) { return atan(x); });
  unary(t, "Sinh", kFloat, [](const Tensor& x) { return sinh(x); });
  unary(t, "Cosh", kFloat, [](const Tensor& x) { return cosh(x); });
  unary(t, "Asinh", kFloat, [](const Tensor& x) { return asinh(x); });
  unary(t, "Acosh", kFloat, [](const Tensor& x) { return acosh(x); });
  unary(t, "Atanh", kFloat, [](const Tensor& x) { return atanh(x); });
  unary(t, "Erf", kNum, [](const Tensor& x) { return is_floating(x.dtype()) ? erf(x) : erf(x).to(x.dtype()); });
  unary(t, "IsNaN", kFloat, [](const Tensor& x) { return isnan(x); });
  unary(t, "Not", kBool, [](const Tensor& x) { return logical_not(x); });
  unary(t, "BitwiseNot", kInt, [](const Tensor& x) { return bitwise_not(x); });
  unary(t, "Softsign", kFloat, [](const Tensor& x) { return div(x, add(abs(x), Scalar(1.0))); });
  unary(t, "Softplus", kFloat, [](const Tensor& x) { return softplus(x); });
  unary(t, "Mish", kFloat, [](const Tensor& x) { return mul(x, tanh(softplus(x))); });
  unary(t, "HardSwish", kFloat, [](const Tensor& x) { return mul(x, hard_sigmoid(x, 1.0 / 6.0, 0.5)); });
  t["IsInf"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = in_typed(n, in, 0, kFloat);
    const bool neg_inf = n.i("detect_negative", 1) != 0, pos_inf = n.i("detect_positive", 1) != 0;
    if (neg_inf && pos_inf) return one(isinf(x));
    if (!neg_inf && !pos_inf) return one(zeros(x.shape(), DType::Bool));
    return one(eq(x, Scalar(pos_inf ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity())));
  };

  // Activations with attributes.
  t["LeakyRelu"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(leaky_relu(in_typed(n, in, 0, kFloat), n.f("alpha", 0.01)));
  };
  t["Elu"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(elu(in_typed(n, in, 0, kFloat), n.f("alpha", 1.0)));
  };
  t["Selu"] = [](const Node& n, const Inputs& in, const OpContext&) {
    // Defaults are the float32 values the schema lists.
    const double alpha = n.f("alpha", 1.67326319217681884765625), gamma = n.f("gamma", 1.05070102214813232421875);
    return one(mul(elu(in_typed(n, in, 0, kFloat), alpha), Scalar(gamma)));
  };
  t["Celu"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const double alpha = n.f("alpha", 1.0);
    if (alpha == 0.0) n.error("alpha must not be 0");
    return one(mul(elu(div(in_typed(n, in, 0, kFloat), Scalar(alpha)), 1.0), Scalar(alpha)));
  };
  t["ThresholdedRelu"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = in_typed(n, in, 0, kFloat);
    return one(where(gt(x, Scalar(n.f("alpha", 1.0))), x, Scalar(0.0)));
  };
  t["HardSigmoid"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(hard_sigmoid(in_typed(n, in, 0, kFloat), n.f("alpha", 0.2), n.f("beta", 0.5)));
  };
  t["Gelu"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const std::string approx = n.s("approximate", "none");
    if (approx != "none" && approx != "tanh") n.error("attribute 'approximate' must be \"none\" or \"tanh\", got \"", approx, "\"");
    return one(gelu(in_typed(n, in, 0, kFloat), approx));
  };
  t["Swish"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = in_typed(n, in, 0, kFloat);
    const double alpha = n.f("alpha", 1.0);
    return one(mul(x, sigmoid(alpha == 1.0 ? x : mul(x, Scalar(alpha)))));
  };
  t["PRelu"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = in_typed(n, in, 0, kFloat | kSigned);
    const Tensor& slope = in_typed(n, in, 1, kFloat | kSigned);
    same_dtype(n, x, slope);
    // The slope broadcasts to X (unidirectionally).
    if (broadcast_shapes("PRelu", x.shape(), slope.shape()) != x.shape())
      n.error("slope of shape ", slope.shape(), " does not broadcast to X of shape ", x.shape());
    return one(where(lt(x, Scalar(0)), mul(x, slope), x));
  };
  t["Shrink"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = in_typed(n, in, 0, kNum);
    const double lambd = n.f("lambd", 0.5), bias = n.f("bias", 0.0);
    // An integer input keeps its dtype: the bias is applied as an integer.
    const Scalar b = is_floating(x.dtype()) ? Scalar(bias) : Scalar(static_cast<int64_t>(bias));
    Tensor zero = zeros({}, x.dtype());
    return one(where(lt(x, Scalar(-lambd)), add(x, b), where(gt(x, Scalar(lambd)), sub(x, b), zero)).to(x.dtype()));
  };

  // Binary arithmetic and comparison (one dtype on both sides).
  t["Pow"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(onnx_pow(n, input(n, in, 0), input(n, in, 1)));
  };
  t["Mod"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& a = in_typed(n, in, 0, kNum);
    const Tensor& b = in_typed(n, in, 1, kNum);
    same_dtype(n, a, b);
    const int64_t f = n.i("fmod", 0);
    if (f != 0 && f != 1) n.error("attribute 'fmod' must be 0 or 1, got ", f);
    return one(f ? fmod(a, b) : remainder(a, b));  // fmod = 1: C's (the dividend's sign)
  };
  t["BitShift"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(bit_shift(n, input(n, in, 0), input(n, in, 1)));
  };
  binary(t, "BitwiseAnd", kInt, [](const Tensor& a, const Tensor& b) { return bitwise_and(a, b); });
  binary(t, "BitwiseOr", kInt, [](const Tensor& a, const Tensor& b) { return bitwise_or(a, b); });
  binary(t, "BitwiseXor", kInt, [](const Tensor& a, const Tensor& b) { return bitwise_xor(a, b); });
  binary(t, "And", kBool, [](const Tensor& a, const Tensor& b) { return logical_and(a, b); });
  binary(t, "Or", kBool, [](const Tensor& a, const Tensor& b) { return logical_or(a, b); });
  binary(t, "Xor", kBool, [](const Tensor& a, const Tensor& b) { return logical_xor(a, b); });
  binary(t, "Equal", kNum | kBool, [](const Tensor& a, const Tensor& b) { return eq(a, b); });
  binary(t, "Less", kNum, [](const Tensor& a, const Tensor& b) { return lt(a, b); });
  binary(t, "LessOrEqual", kNum, [](const Tensor& a, const Tensor& b) { return le(a, b); });
  binary(t, "Greater", kNum, [](const Tensor& a, const Tensor& b) { return gt(a, b); });
  binary(t, "GreaterOrEqual", kNum, [](const Tensor& a, const Tensor& b) { return ge(a, b); });

  t["Where"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& cond = input(n, in, 0);
    if (cond.dtype() != DType::Bool) n.error<TypeError>("condition must be bool, got ", cond.dtype());
    const Tensor &a = input(n, in, 1), &b = input(n, in, 2);
    same_dtype(n, a, b);
    return one(where(cond, a, b));
  };
  t["Clip"] = [](const Node& n, const Inputs& in, const OpContext& c) { return one(clip(n, in, c)); };

  // Variadic folds.
  t["Max"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(variadic(n, in, kNum, [](const Tensor& a, const Tensor& b) { return maximum(a, b); }));
  };
  t["Min"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(variadic(n, in, kNum, [](const Tensor& a, const Tensor& b) { return minimum(a, b); }));
  };
  t["Sum"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(variadic(n, in, kNum, [](const Tensor& a, const Tensor& b) { return add(a, b); }));
  };
  t["Mean"] = [](const Node& n, const Inputs& in, const OpContext&) {
    Tensor s = variadic(n, in, kFloat, [](const Tensor& a, const Tensor& b) { return add(a, b); });
    return one(in.size() == 1 ? s : div(s, Scalar(static_cast<double>(in.size()))));
  };

  // Casts (strings are StringTensors, cast in ops_string.cpp).
  t["Cast"] = [](const Node& n, const Inputs& in, const OpContext&) {
    if (!n.has("to")) n.error("attribute 'to' is required");
    const int64_t to = n.i("to", 0);
    auto dt = dtype_from_onnx(to);
    if (!dt) n.error<NotImplementedError>("cast to ", onnx_elem_name(to), " (ONNX type ", to, ") is not supported");
    return one(onnx_cast(n, input(n, in, 0), *dt));
  };
  t["CastLike"] = [](const Node& n, const Inputs& in, const OpContext&) {
    return one(onnx_cast(n, input(n, in, 0), input(n, in, 1).dtype()));
  };
}

}  // namespace tessel::onnx
