// Derivative rules of elementwise ops: arithmetic, where, lerp, unary math,
// activations and clamp; and the in-place path shared by all in-place ops.
#include <cmath>

#include "src/autograd/rules.h"
#include "tessel/kernel.h"

namespace tessel::autograd {

SavedOperand::SavedOperand(const Operand& o) {
  if (const Tensor* const* t = std::get_if<const Tensor*>(&o)) {
    tensor = SavedTensor(**t);
    is_tensor = true;
  } else {
    scalar = std::get<Scalar>(o);
  }
}

Tensor SavedOperand::get(DType dtype, Device device) const {
  return is_tensor ? tensor.unpack() : scalar_tensor(scalar, TensorOptions(dtype, device));
}

const Tensor& inplace(const char* name, const Tensor& self, bool reads_self,
                      const std::function<Tensor(const Tensor&)>& f) {
  TS_CHECK(!(self.is_leaf() && self.requires_grad()), Error, name,
           "a leaf tensor that requires grad is used in an in-place operation; wrap it in no_grad() or use the "
           "out-of-place op");
  TS_CHECK(!self.impl()->is_view, NotImplementedError, name,
           "in-place operations on views are not differentiable yet (a view of shape ", self.shape(),
           " with a gradient flowing through it); use the out-of-place op, or cat/stack/where to build the result");
  const Tensor r = f(reads_self ? self.clone() : self.detach());
  {
    NoGradGuard guard;
    Tensor(self).copy_(r);
  }
  AutogradMeta& m = self.autograd_meta();
  if (r.requires_grad() && r.grad_fn()) {
    m.grad_fn = r.grad_fn();
    m.output_nr = r.output_nr();
    self.impl()->requires_grad = true;
    if (m.retains_grad) {  // retain_grad follows the tensor to its new history
      m.retains_grad = false;
      self.retain_grad();
    }
  } else {  // the new value does not depend on anything that requires grad
    m.grad_fn.reset();
    self.impl()->requires_grad = false;
  }
  return self;
}

namespace rules {

namespace {
bool wants_grad(const Operand& o) {
  const Tensor* const* t = std::get_if<const Tensor*>(&o);
  return t && (*t)->requires_grad();
}
Tensor as_input(const Operand& o) {
  const Tensor* const* t = std::get_if<const Tensor*>(&o);
  return t ? **t : Tensor();
}
Shape shape_of(const Operand& o) {
  const Tensor* const* t = std::get_if<const Tensor*>(&o);
  return t ? (*t)->shape() : Shape{};
}
// A first-order backward kernel registered by name, (g, x) -> dx of x's shape; undefined
// when it cannot run (create_graph records the ops instead, other dtypes or devices).
Tensor by_name_backward(OpId id, const Tensor& g, const Tensor& x, const void* params = nullptr) {
  if (GradMode::enabled() || g.dtype() != x.dtype() || g.device() != x.device() || g.shape() != x.shape() ||
      !Registry::get().has(id, x.device().type, x.dtype()))
    return Tensor();
  Tensor r = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  const Tensor in[2] = {g, x};
  dispatch(id, x.dtype(), in, {&r, 1}, params);
  return r;
}
Tensor zero_like(const Tensor& g) { return scalar_tensor(Scalar(0.0), TensorOptions(g.dtype(), g.device())); }
}  // namespace

void binary(OpId id, const Operand& a, const Operand& b, const Tensor& out) {
  if (!differentiable(out.dtype())) return;
  const Tensors inputs = {as_input(a), as_input(b)};
  const bool na = wants_grad(a), nb = wants_grad(b);
  const Shape sa = shape_of(a), sb = shape_of(b);
  auto rec = [&](const char* name, auto fn) {
    record(name, inputs, {out}, [na, nb, sa, sb, fn](const Tensors& g) {
      auto [ga, gb] = fn(g[0], na, nb);
      return Tensors{na && ga.defined() ? sum_to(ga, sa) : Tensor(), nb && gb.defined() ? sum_to(gb, sb) : Tensor()};
    });
  };
  const DType dt = out.dtype();
  const Device dev = out.device();
  if (id == op::add) {
    rec("AddBackward", [](const Tensor& g, bool, bool) { return std::pair{g, g}; });
  } else if (id == op::sub) {
    rec("SubBackward", [](const Tensor& g, bool, bool nb) { return std::pair{g, nb ? neg(g) : Tensor()}; });
  } else if (id == op::mul) {
    rec("MulBackward", [A = SavedOperand(a), B = SavedOperand(b), dt, dev](const Tensor& g, bool na, bool nb) {
      return std::pair{na ? mul(g, conj(B.get(dt, dev))) : Tensor(), nb ? mul(g, conj(A.get(dt, dev))) : Tensor()};
    });
  } else if (id == op::div) {
    rec("DivBackward", [A = SavedOperand(a), B = SavedOperand(b), dt, dev](const Tensor& g, bool na, bool nb) {
      const Tensor bv = conj(B.get(dt, dev));  // conj: the identity on real tensors
      return std::pair{na ? div(g, bv) : Tensor(), nb ? neg(div(mul(g, conj(A.get(dt, dev))), mul(bv, bv))) : Tensor()};
    });
  } else if (id == op::pow) {
    rec("PowBackward", [A = SavedOperand(a), B = SavedOperand(b), O = SavedTensor::output(out, 0), dt,
                        dev](const Tensor& g, bool na, bool nb) {
      const Tensor av = A.get(dt, dev), bv = B.get(dt, dev);
      Tensor ga, gb;
      if (is_complex(dt)) {  // the conjugates of b a^(b-1) and a^b log a; 0 at b = 0 and at a = 0 for the latter
        if (na)
          ga = tessel::where(eq(bv, Scalar(0.0)), zero_like(g), mul(g, conj(mul(bv, pow(av, sub(bv, Scalar(1.0)))))));
        if (nb) gb = tessel::where(eq(av, Scalar(0.0)), zero_like(g), mul(g, conj(mul(O.unpack(), log(av)))));
        return std::pair{ga, gb};
      }
      // x^0 has derivative 0 everywhere (also at x = 0, where b * x^(b-1) would be NaN).
      if (na) ga = tessel::where(eq(bv, Scalar(0.0)), zero_like(g), mul(g, mul(bv, pow(av, sub(bv, Scalar(1.0))))));
      // d/db a^b = a^b log a, taken as 0 where a = 0 and b >= 0 (PyTorch's convention).
      if (nb) {
        gb = tessel::where(logical_and(eq(av, Scalar(0.0)), ge(bv, Scalar(0.0))), zero_like(g),
                   mul(g, mul(O.unpack(), log(av))));
      }
      return std::pair{ga, gb};
    });
  } else if (id == op::atan2) {
    rec("Atan2Backward", [A = SavedOperand(a), B = SavedOperand(b), dt, dev](const Tensor& g, bool na, bool nb) {
      const Tensor av = A.get(dt, dev), bv = B.get(dt, dev);
      const Tensor scale = div(g, add(mul(av, av), mul(bv, bv)));
      return std::pair{na ? mul(scale, bv) : Tensor(), nb ? neg(mul(scale, av)) : Tensor()};
    });
  } else if (id == op::maximum || id == op::minimum) {
    // Ties split the gradient evenly, as in PyTorch.
    const bool is_max = id == op::maximum;
    rec(is_max ? "MaximumBackward" : "MinimumBackward",
        [A = SavedOperand(a), B = SavedOperand(b), dt, dev, is_max](const Tensor& g, bool na, bool nb) {
          const Tensor av = A.get(dt, dev), bv = B.get(dt, dev);
          const Tensor wins = is_max ? gt(av, bv) : lt(av, bv);
          const Tensor w = tessel::where(wins, Scalar(1.0), tessel::where(eq(av, bv), Scalar(0.5), Scalar(0.0))).to(g.dtype());
          return std::pair{na ? mul(g, w) : Tensor(), nb ? mul(g, rsub_one(w)) : Tensor()};
        });
  } else if (id == op::remainder) {
    rec("RemainderBackward", [A = SavedOperand(a), B = SavedOperand(b), dt, dev](const Tensor& g, bool, bool nb) {
      return std::pair{g, nb ? neg(mul(g, floor_divide(A.get(dt, dev), B.get(dt, dev)))) : Tensor()};
    });
  } else if (id == op::fmod) {  // a - trunc(a / b) b
    rec("FmodBackward", [A = SavedOperand(a), B = SavedOperand(b), dt, dev](const Tensor& g, bool, bool nb) {
      return std::pair{g, nb ? neg(mul(g, tessel::trunc(div(A.get(dt, dev), B.get(dt, dev))))) : Tensor()};
    });
  } else if (id == op::floor_divide) {
    rec("FloorDivideBackward", [](const Tensor&, bool, bool) { return std::pair{Tensor(), Tensor()}; });
  }
}

void where(const Tensor& cond, const Operand& a, const Operand& b, const Tensor& out) {
  if (!differentiable(out.dtype())) return;
  const Tensors inputs = {as_input(a), as_input(b)};
  const bool na = wants_grad(a), nb = wants_grad(b);
  const Shape sa = shape_of(a), sb = shape_of(b);
  record("WhereBackward", inputs, {out}, [cond, na, nb, sa, sb](const Tensors& g) {
    const Tensor z = zero_like(g[0]);
    return Tensors{na ? sum_to(tessel::where(cond, g[0], z), sa) : Tensor(), nb ? sum_to(tessel::where(cond, z, g[0]), sb) : Tensor()};
  });
}

void lerp(const Tensor& start, const Tensor& end, const Operand& weight, const Tensor& out) {
  const bool ns = start.requires_grad(), ne_ = end.requires_grad(), nw = wants_grad(weight);
  const Shape ss = start.shape(), se = end.shape(), sw = shape_of(weight);
  record("LerpBackward", {start, end, as_input(weight)}, {out},
         [S = SavedTensor(start), E = SavedTensor(end), W = SavedOperand(weight), ns, ne_, nw, ss, se,
          sw](const Tensors& g) {
           const Tensor w = W.get(g[0].dtype(), g[0].device());
           Tensors r(3);
           if (ns) r[0] = sum_to(mul(g[0], conj(rsub_one(w))), ss);
           if (ne_) r[1] = sum_to(mul(g[0], conj(w)), se);
           if (nw) r[2] = sum_to(mul(g[0], conj(sub(E.unpack(), S.unpack()))), sw);
           return r;
         });
}

void clamp(const Tensor& a, const std::optional<Scalar>& min, const std::optional<Scalar>& max, const Tensor& out) {
  if (!is_floating(out.dtype())) return;
  record("ClampBackward", {a}, {out}, [A = SavedTensor(a), min, max](const Tensors& g) {
    const Tensor x = A.unpack();
    Tensor keep;
    if (min) keep = ge(x, *min);
    if (max) keep = keep.defined() ? logical_and(keep, le(x, *max)) : le(x, *max);
    return Tensors{tessel::where(keep, g[0], zero_like(g[0]))};
  });
}

void unary(OpId id, const Tensor& a, const Tensor& out, const void* params) {
  if (!differentiable(out.dtype())) return;
  const UnaryParams p = params ? *static_cast<const UnaryParams*>(params) : UnaryParams{};
  // rule(g, x, y): the gradient from the output gradient, the input x and the output y.
  auto rec = [&](const char* name, bool uses_x, bool uses_y, auto rule) {
    record(name, {a}, {out},
           [X = uses_x ? SavedTensor(a) : SavedTensor(), Y = uses_y ? SavedTensor::output(out, 0) : SavedTensor(),
            rule](const Tensors& g) { return Tensors{rule(g[0], X.unpack(), Y.unpack())}; });
  };
  constexpr double kLn2 = 0.69314718055994530942, kLn10 = 2.30258509299404568402;
  constexpr double kTwoOverSqrtPi = 1.12837916709551257390, kSqrtPiOverTwo = 0.88622692545275801365;
  constexpr double kInvSqrt2 = 0.70710678118654752440, kInvSqrt2Pi = 0.39894228040143267794;
  using T = const Tensor&;
  switch (id) {
    case op::exp:
      rec("ExpBackward", false, true, [](T g, T, T y) { return mul(g, conj(y)); });
      break;
    case op::log:
      rec("LogBackward", true, false, [](T g, T x, T) { return div(g, conj(x)); });
      break;
    case op::sqrt:
      rec("SqrtBackward", false, true, [](T g, T, T y) { return div(g, conj(mul(y, Scalar(2.0)))); });
      break;
    case op::exp2:
      rec("Exp2Backward", false, true, [=](T g, T, T y) { return mul(g, conj(mul(y, Scalar(kLn2)))); });
      break;
    case op::expm1:
      rec("Expm1Backward", false, true, [](T g, T, T y) { return mul(g, conj(add(y, Scalar(1.0)))); });
      break;
    case op::log2:
      rec("Log2Backward", true, false, [=](T g, T x, T) { return div(g, conj(mul(x, Scalar(kLn2)))); });
      break;
    case op::log10:
      rec("Log10Backward", true, false, [=](T g, T x, T) { return div(g, conj(mul(x, Scalar(kLn10)))); });
      break;
    case op::log1p:
      rec("Log1pBackward", true, false, [](T g, T x, T) { return div(g, conj(add(x, Scalar(1.0)))); });
      break;
    case op::rsqrt:
      // -y^3 / 2 as products: pow costs a transcendental call per element
      rec("RsqrtBackward", false, true, [](T g, T, T y) { return mul(g, conj(mul(mul(y, y), mul(y, Scalar(-0.5))))); });
      break;
    case op::reciprocal:
      rec("ReciprocalBackward", false, true, [](T g, T, T y) { return neg(mul(g, conj(mul(y, y)))); });
      break;
    case op::sin:
      rec("SinBackward", true, false, [](T g, T x, T) { return mul(g, conj(cos(x))); });
      break;
    case op::cos:
      rec("CosBackward", true, false, [](T g, T x, T) { return neg(mul(g, conj(sin(x)))); });
      break;
    case op::tan:
      rec("TanBackward", false, true, [](T g, T, T y) { return mul(g, conj(add(mul(y, y), Scalar(1.0)))); });
      break;
    case op::asin:
      rec("AsinBackward", true, false, [](T g, T x, T) { return mul(g, conj(rsqrt(rsub_one(mul(x, x))))); });
      break;
    case op::acos:
      rec("AcosBackward", true, false, [](T g, T x, T) { return neg(mul(g, conj(rsqrt(rsub_one(mul(x, x)))))); });
      break;
    case op::atan:
      rec("AtanBackward", true, false, [](T g, T x, T) { return div(g, conj(add(mul(x, x), Scalar(1.0)))); });
      break;
    case op::sinh:
      rec("SinhBackward", true, false, [](T g, T x, T) { return mul(g, conj(cosh(x))); });
      break;
    case op::cosh:
      rec("CoshBackward", true, false, [](T g, T x, T) { return mul(g, conj(sinh(x))); });
      break;
    case op::tanh:
      rec("TanhBackward", false, true, [](T g, T, T y) { return mul(g, conj(rsub_one(mul(y, y)))); });
      break;
    case op::asinh:
      rec("AsinhBackward", true, false, [](T g, T x, T) { return mul(g, conj(rsqrt(add(mul(x, x), Scalar(1.0))))); });
      break;
    case op::acosh:
      rec("AcoshBackward", true, false, [](T g, T x, T) { return mul(g, conj(rsqrt(sub(mul(x, x), Scalar(1.0))))); });
      break;
    case op::atanh:
      rec("AtanhBackward", true, false, [](T g, T x, T) { return div(g, conj(rsub_one(mul(x, x)))); });
      break;
    case op::sigmoid:
      rec("SigmoidBackward", false, true, [](T g, T, T y) { return mul(g, conj(mul(y, rsub_one(y)))); });
      break;
    case op::erf:
      rec("ErfBackward", true, false,
          [=](T g, T x, T) { return mul(g, mul(exp(neg(mul(x, x))), Scalar(kTwoOverSqrtPi))); });
      break;
    case op::erfc:
      rec("ErfcBackward", true, false,
          [=](T g, T x, T) { return mul(g, mul(exp(neg(mul(x, x))), Scalar(-kTwoOverSqrtPi))); });
      break;
    case op::erfinv:
      rec("ErfinvBackward", false, true,
          [=](T g, T, T y) { return mul(g, mul(exp(mul(y, y)), Scalar(kSqrtPiOverTwo))); });
      break;
    case op::lgamma: rec("LgammaBackward", true, false, [](T g, T x, T) { return mul(g, digamma(x)); }); break;
    case op::digamma:
      rec("DigammaBackward", true, false, [](T g, T x, T) { return mul(g, polygamma(1, x)); });
      break;
    case op::polygamma:
      rec("PolygammaBackward", true, false,
          [n = static_cast<int64_t>(p.a)](T g, T x, T) { return mul(g, polygamma(n + 1, x)); });
      break;
    case op::neg: rec("NegBackward", false, false, [](T g, T, T) { return neg(g); }); break;
    case op::conj:
      rec("ConjBackward", false, false, [](T g, T, T) { return conj(g); });
      break;
    case op::abs:
      rec("AbsBackward", true, false, [](T g, T x, T) {
        if (!is_complex(x.dtype())) return mul(g, sign(x));
        // |z| grows along z / |z| (taken as 0 at 0, as PyTorch's sgn)
        const Tensor r = abs(x);
        return mul(g, tessel::where(eq(r, Scalar(0.0)), zero_like(x), div(x, r)));
      });
      break;
    case op::square:
      rec("SquareBackward", true, false, [](T g, T x, T) { return mul(g, conj(mul(x, Scalar(2.0)))); });
      break;
    case op::relu:
      rec("ReluBackward", false, true, [](T g, T, T y) {
        // First order: one fused pass where the kernel exists; create_graph: a differentiable where.
        if (!GradMode::enabled() && g.device() == y.device() && g.dtype() == y.dtype() &&
            Registry::get().has(op::relu_backward, g.device().type, g.dtype())) {
          Tensor r = empty(g.shape(), TensorOptions(g.dtype(), g.device()));
          const Tensor in[2] = {g, y};
          dispatch(op::relu_backward, g.dtype(), in, {&r, 1});
          return r;
        }
        return tessel::where(gt(y, Scalar(0.0)), g, zero_like(g));
      });
      break;
    case op::silu:
      rec("SiluBackward", true, false, [](T g, T x, T) {  // first order on float CPU tensors: one kernel
        static const OpId kFused = Registry::get().op_id("silu_backward_fused");
        if (Tensor r = by_name_backward(kFused, g, x); r.defined()) return r;
        const Tensor s = sigmoid(x);
        return mul(g, mul(s, add(mul(x, rsub_one(s)), Scalar(1.0))));
      });
      break;
    case op::hardsigmoid:  // 1/6 inside (-3, 3), as PyTorch; first order on float CPU tensors: one kernel
      rec("HardsigmoidBackward", true, false, [](T g, T x, T) {
        static const OpId kFused = Registry::get().op_id("hardsigmoid_backward_fused");
        if (Tensor r = by_name_backward(kFused, g, x); r.defined()) return r;
        return tessel::where(logical_and(gt(x, Scalar(-3.0)), lt(x, Scalar(3.0))), div(g, Scalar(6.0)), zero_like(g));
      });
      break;
    case op::hardswish:  // 0 below -3, x / 3 + 1/2 up to 3, 1 above, as PyTorch
      rec("HardswishBackward", true, false, [](T g, T x, T) {
        static const OpId kFused = Registry::get().op_id("hardswish_backward_fused");
        if (Tensor r = by_name_backward(kFused, g, x); r.defined()) return r;
        const Tensor mid = mul(g, add(div(x, Scalar(3.0)), Scalar(0.5)));
        return tessel::where(lt(x, Scalar(-3.0)), zero_like(g), tessel::where(le(x, Scalar(3.0)), mid, g));
      });
      break;
    case op::leaky_relu:
      rec("LeakyReluBackward", true, false,
          [slope = p.a](T g, T x, T) { return tessel::where(gt(x, Scalar(0.0)), g, mul(g, Scalar(slope))); });
      break;
    case op::elu:
      rec("EluBackward", true, true, [alpha = p.a](T g, T x, T y) {
        return tessel::where(gt(x, Scalar(0.0)), g, mul(g, add(y, Scalar(alpha))));
      });
      break;
    case op::gelu: {
      // First order on float32/64 CPU tensors: one kernel (vecmath's tanh, or erf and exp);
      // create_graph and other dtypes: the ops below.
      const auto fused = [approx = p.a](T g, T x) -> Tensor {
        static const OpId kFused = Registry::get().op_id("gelu_backward_fused");
        const UnaryParams up{approx};
        return by_name_backward(kFused, g, x, &up);
      };
      if (p.a == 0) {  // exact: x * Phi(x)
        rec("GeluBackward", true, false, [=](T g, T x, T) {
          if (Tensor r = fused(g, x); r.defined()) return r;
          const Tensor cdf = mul(add(erf(mul(x, Scalar(kInvSqrt2))), Scalar(1.0)), Scalar(0.5));
          const Tensor pdf = mul(exp(mul(mul(x, x), Scalar(-0.5))), Scalar(kInvSqrt2Pi));
          return mul(g, add(cdf, mul(x, pdf)));
        });
      } else {  // 0.5 x (1 + tanh(k (x + 0.044715 x^3)))
        rec("GeluBackward", true, false, [=](T g, T x, T) {
          if (Tensor r = fused(g, x); r.defined()) return r;
          const double k = 0.79788456080286535588, c = 0.044715;
          const Tensor x2 = mul(x, x);
          const Tensor t = tanh(mul(mul(x, add(mul(x2, Scalar(c)), Scalar(1.0))), Scalar(k)));
          const Tensor dinner = mul(add(mul(x2, Scalar(3 * c)), Scalar(1.0)), Scalar(k));
          const Tensor d = add(mul(add(t, Scalar(1.0)), Scalar(0.5)),
                               mul(mul(mul(x, Scalar(0.5)), rsub_one(mul(t, t))), dinner));
          return mul(g, d);
        });
      }
      break;
    }
    case op::softplus:
      rec("SoftplusBackward", true, false, [beta = p.a, threshold = p.b](T g, T x, T) {
        static const OpId kFused = Registry::get().op_id("softplus_backward_fused");
        const UnaryParams up{beta, threshold};
        if (Tensor r = by_name_backward(kFused, g, x, &up); r.defined()) return r;
        const Tensor z = mul(x, Scalar(beta));
        return tessel::where(gt(z, Scalar(threshold)), g, mul(g, sigmoid(z)));
      });
      break;
    case op::nan_to_num:
      rec("NanToNumBackward", true, false, [](T g, T x, T) { return tessel::where(isfinite(x), g, zero_like(g)); });
      break;
    case op::sign: case op::floor: case op::ceil: case op::trunc: case op::round:
      // Piecewise constant: zero gradient, as in PyTorch.
      rec("ZeroGradBackward", false, false, [](T g, T, T) { return zeros_like(g); });
      break;
    default:
      break;
  }
}

}  // namespace rules
}  // namespace tessel::autograd
