// CPU kernels for unary elementwise ops: floating math, activations,
// rounding, predicates, nan_to_num and clamp.
#include <cmath>
#include <complex>
#include <limits>
#include <utility>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

// erfinv: a rational first guess (Giles, "Approximating the erfinv function",
// 2012, single-precision branch) refined by two Newton steps on erf, which
// brings it to full double precision.
template <class F>
F erfinv(F y) {
  if (std::isnan(y) || y < F(-1) || y > F(1)) return std::numeric_limits<F>::quiet_NaN();
  if (y == F(1)) return std::numeric_limits<F>::infinity();
  if (y == F(-1)) return -std::numeric_limits<F>::infinity();
  const double yd = static_cast<double>(y);
  double w = -std::log((1.0 - yd) * (1.0 + yd)), x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
    x = p * yd;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
    x = p * yd;
  }
  for (int i = 0; i < 2; ++i) {  // Newton: erf'(x) = 2/sqrt(pi) exp(-x^2)
    const double err = std::erf(x) - yd;
    x -= err / (1.1283791670955126 * std::exp(-x * x));
  }
  return static_cast<F>(x);
}

template <class C>
C sigmoid(C x) {
  if constexpr (is_complex_v<C>) {
    return C(1) / (C(1) + std::exp(-x));
  } else {
    // Two branches so that exp never overflows.
    if (x >= 0) return C(1) / (C(1) + std::exp(-x));
    const C e = std::exp(x);
    return e / (C(1) + e);
  }
}

// Float dtypes take the vector kernels of vecmath (SLEEF, AVX-512 or AVX2,
// chosen at run time) when this CPU has them; other dtypes, and CPUs without
// AVX2, keep the scalar op.
template <class T>
constexpr bool vec_float_v = std::is_floating_point_v<T> || is_reduced_float_v<T>;

template <class Op>
auto vec(vecmath::Fn fn, Op op) {
  return [fn, op]<class T>(std::type_identity<T>) -> Kernel {
    if constexpr (vec_float_v<T>) {
      return [fn, op](const KernelCall& c) {
        if (!vecmath::unary(c, static_cast<int>(dtype_v<T>), fn, {})) unary_loop<T, T>(c, op);
      };
    } else {
      return [op](const KernelCall& c) { unary_loop<T, T>(c, op); };
    }
  };
}

// Same for ops with UnaryParams: pick(params) -> (fn, vecmath params).
template <class Pick, class Op>
auto vec_with(Pick pick, Op op) {
  return [pick, op]<class T>(std::type_identity<T>) -> Kernel {
    return [pick, op](const KernelCall& c) {
      const auto& p = *static_cast<const UnaryParams*>(c.params);
      if constexpr (vec_float_v<T>) {
        const auto [fn, vp] = pick(p);
        if (fn != vecmath::kNumUnary && vecmath::unary(c, static_cast<int>(dtype_v<T>), fn, vp)) return;
      }
      unary_loop<T, T>(c, [&](auto x) { return op(x, p); });
    };
  };
}

using Floats = FloatTypes;
using FloatsComplex = decltype(FloatTypes{} + ComplexTypes{});
// float32 log, log2 and log10 have their own vectorized kernels (kernels/cpu/log.cpp).
using LogTypes = TypeList<Half, BFloat16, double, complex64, complex128>;

const bool registered = [] {
  register_for(FloatsComplex{}, op::exp, vec(vecmath::Exp, [](auto a) { return std::exp(a); }));
  register_for(LogTypes{}, op::log, vec(vecmath::Log, [](auto a) { return std::log(a); }));
  register_for(FloatsComplex{}, op::sqrt, vec(vecmath::Sqrt, [](auto a) { return std::sqrt(a); }));
  register_for(Floats{}, op::exp2, vec(vecmath::Exp2, [](auto a) { return std::exp2(a); }));
  register_for(Floats{}, op::expm1, vec(vecmath::Expm1, [](auto a) { return std::expm1(a); }));
  register_for(TypeList<Half, BFloat16, double>{}, op::log2, vec(vecmath::Log2, [](auto a) { return std::log2(a); }));
  register_for(LogTypes{}, op::log10, vec(vecmath::Log10, [](auto a) { return std::log10(a); }));
  register_for(Floats{}, op::log1p, vec(vecmath::Log1p, [](auto a) { return std::log1p(a); }));
  register_for(FloatsComplex{}, op::rsqrt, vec(vecmath::Rsqrt, [](auto a) { return decltype(a)(1) / std::sqrt(a); }));
  register_for(FloatsComplex{}, op::reciprocal, unary([](auto a) { return decltype(a)(1) / a; }));
  register_for(FloatsComplex{}, op::sin, vec(vecmath::Sin, [](auto a) { return std::sin(a); }));
  register_for(FloatsComplex{}, op::cos, vec(vecmath::Cos, [](auto a) { return std::cos(a); }));
  register_for(FloatsComplex{}, op::tan, vec(vecmath::Tan, [](auto a) { return std::tan(a); }));
  register_for(FloatsComplex{}, op::asin, vec(vecmath::Asin, [](auto a) { return std::asin(a); }));
  register_for(FloatsComplex{}, op::acos, vec(vecmath::Acos, [](auto a) { return std::acos(a); }));
  register_for(FloatsComplex{}, op::atan, vec(vecmath::Atan, [](auto a) { return std::atan(a); }));
  register_for(FloatsComplex{}, op::sinh, vec(vecmath::Sinh, [](auto a) { return std::sinh(a); }));
  register_for(FloatsComplex{}, op::cosh, vec(vecmath::Cosh, [](auto a) { return std::cosh(a); }));
  register_for(FloatsComplex{}, op::tanh, vec(vecmath::Tanh, [](auto a) { return std::tanh(a); }));
  register_for(FloatsComplex{}, op::asinh, vec(vecmath::Asinh, [](auto a) { return std::asinh(a); }));
  register_for(FloatsComplex{}, op::acosh, vec(vecmath::Acosh, [](auto a) { return std::acosh(a); }));
  register_for(FloatsComplex{}, op::atanh, vec(vecmath::Atanh, [](auto a) { return std::atanh(a); }));
  register_for(FloatsComplex{}, op::sigmoid, vec(vecmath::Sigmoid, [](auto a) { return sigmoid(a); }));
  register_for(Floats{}, op::erf, vec(vecmath::Erf, [](auto a) { return std::erf(a); }));
  register_for(Floats{}, op::erfc, vec(vecmath::Erfc, [](auto a) { return std::erfc(a); }));
  register_for(Floats{}, op::erfinv, vec(vecmath::Erfinv, [](auto a) { return erfinv(a); }));

  register_for(NumberTypes{}, op::neg, unary([](auto a) { return -a; }));
  // abs: integers wrap like C (abs(-128) stays -128 for int8); complex gives the real magnitude;
  // floats clear the sign bit, so abs(-0.) is +0. (a compare-and-negate keeps -0.).
  register_for(RealTypes{}, op::abs, unary([](auto a) {
                 using T = decltype(a);
                 if constexpr (std::is_unsigned_v<T>) return a;
                 else if constexpr (std::is_floating_point_v<T>) return std::fabs(a);
                 else if constexpr (std::is_integral_v<T>) return a < T(0) ? T(-a) : a;
                 else return a < T(0) ? T(-a) : (a == T(0) ? T(0) : a);  // float16/bfloat16
               }));
  register_for(ComplexTypes{}, op::abs, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) { unary_loop<T, typename T::value_type>(c, [](T a) { return std::abs(a); }); };
  });
  register_for(ComplexTypes{}, op::conj, unary([](auto a) { return std::conj(a); }));
  register_for(NumberTypes{}, op::square, unary([](auto a) { return a * a; }));
  register_for(RealTypes{}, op::relu, unary([](auto a) {
                 // NaN stays NaN: it is not > 0, so pick a, not 0.
                 return a > decltype(a)(0) || a != a ? a : decltype(a)(0);
               }));
  register_for(BoolType{} + RealTypes{}, op::sign, vec(vecmath::Sign, [](auto a) {
                 using C = decltype(a);
                 if constexpr (std::is_same_v<C, bool>) return a;
                 else if constexpr (std::is_floating_point_v<C>) return std::isnan(a) ? a : C((C(0) < a) - (a < C(0)));
                 else return C((C(0) < a) - (a < C(0)));
               }));
  register_for(Floats{}, op::floor, vec(vecmath::Floor, [](auto a) { return std::floor(a); }));
  register_for(Floats{}, op::ceil, vec(vecmath::Ceil, [](auto a) { return std::ceil(a); }));
  register_for(Floats{}, op::trunc, vec(vecmath::Trunc, [](auto a) { return std::trunc(a); }));
  register_for(BoolType{} + IntTypes{}, op::bitwise_not, unary([](auto a) {
                 if constexpr (std::is_same_v<decltype(a), bool>) return !a;
                 else return decltype(a)(~a);
               }));
  register_for(AllTypes{}, op::logical_not, predicate([](auto a) { return a == decltype(a)(0); }));
  register_for(Floats{}, op::silu, vec(vecmath::Silu, [](auto a) { return a * sigmoid(a); }));

  register_for(Floats{}, op::leaky_relu, vec_with([](const UnaryParams& p) { return std::pair{vecmath::LeakyRelu, vecmath::Params{p.a, 0}}; },
                                                 [](auto a, const UnaryParams& p) {
                 using C = decltype(a);
                 return a > C(0) ? a : C(a * C(p.a));
               }));
  register_for(Floats{}, op::elu, vec_with([](const UnaryParams& p) { return std::pair{vecmath::Elu, vecmath::Params{p.a, 0}}; },
                                          [](auto a, const UnaryParams& p) {
                 using C = decltype(a);
                 return a > C(0) ? a : C(C(p.a) * std::expm1(a));
               }));
  register_for(Floats{}, op::gelu, vec_with([](const UnaryParams& p) {
                 return std::pair{p.a != 0 ? vecmath::GeluTanh : vecmath::GeluErf, vecmath::Params{}};
               },
                                           [](auto a, const UnaryParams& p) {
                 using C = decltype(a);
                 if (p.a != 0) {  // tanh approximation, as x * sigmoid(2u): 1 + tanh(u) cancels for u << 0
                   const C u = C(0.7978845608028654) * (a + C(0.044715) * a * a * a);  // sqrt(2/pi) (...)
                   return C(a * sigmoid(C(2) * u));  // stable sigmoid: the far negative tail does not flush to -0
                 }
                 // erfc form: 1 + erf(x) cancels for negative x. float in double, as the vector kernel:
                 // the rounding of -x/sqrt(2) would be magnified ~x^2 times by erfc's tail.
                 if constexpr (std::is_same_v<C, float>)
                   return C(0.5 * double(a) * std::erfc(-double(a) * 0.70710678118654752440));
                 else
                   return C(0.5) * a * std::erfc(-a * C(0.7071067811865476));
               }));
  register_for(Floats{}, op::softplus, vec_with([](const UnaryParams& p) {
                 return std::pair{vecmath::Softplus, vecmath::Params{p.a, p.b}};
               },
                                               [](auto a, const UnaryParams& p) {
                 using C = decltype(a);
                 const C bx = C(p.a) * a;
                 return bx > C(p.b) ? a : C(std::log1p(std::exp(bx)) / C(p.a));
               }));
  // round to decimals (p.a != 0) keeps the scalar loop: kNumUnary means no vector kernel.
  register_for(Floats{}, op::round, vec_with([](const UnaryParams& p) {
                 return std::pair{p.a == 0 ? vecmath::Round : vecmath::kNumUnary, vecmath::Params{}};
               },
                                             [](auto a, const UnaryParams& p) {
                 using C = decltype(a);
                 if (p.a == 0) return std::nearbyint(a);  // ties to even
                 const C scale = C(std::pow(10.0, p.a));
                 return C(std::nearbyint(a * scale) / scale);
               }));
  register_for(Floats{}, op::nan_to_num, unary_with<UnaryParams>([](auto a, const UnaryParams& p) {
                 using C = decltype(a);
                 if (std::isnan(a)) return C(p.a);
                 if (std::isinf(a)) return a > 0 ? C(p.b) : C(p.c);
                 return a;
               }));
  register_for(Floats{}, op::isnan, predicate([](auto a) { return std::isnan(a); }));
  register_for(Floats{}, op::isinf, predicate([](auto a) { return std::isinf(a); }));
  register_for(Floats{}, op::isfinite, predicate([](auto a) { return std::isfinite(a); }));
  register_for(ComplexTypes{}, op::isnan, predicate([](auto a) { return std::isnan(a.real()) || std::isnan(a.imag()); }));
  register_for(ComplexTypes{}, op::isinf, predicate([](auto a) { return std::isinf(a.real()) || std::isinf(a.imag()); }));
  register_for(ComplexTypes{}, op::isfinite,
               predicate([](auto a) { return std::isfinite(a.real()) && std::isfinite(a.imag()); }));

  // clamp: bounds converted to T once; NaN passes through.
  register_for(RealTypes{}, op::clamp, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      const auto& p = *static_cast<const ClampParams*>(c.params);
      using C = acc_t<T>;
      const C lo = p.has_min ? C(p.min.to<T>()) : C(0), hi = p.has_max ? C(p.max.to<T>()) : C(0);
      const bool has_lo = p.has_min, has_hi = p.has_max;
      unary_loop<T, T>(c, [=](C x) {
        if (has_lo && x < lo) x = lo;
        if (has_hi && x > hi) x = hi;
        return x;
      });
    };
  });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
