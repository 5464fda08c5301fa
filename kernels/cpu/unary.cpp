// CPU kernels for unary elementwise ops: floating math, activations,
// rounding, predicates, nan_to_num and clamp.
#include <algorithm>
#include <bit>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"

namespace tessel::cpu {
namespace {

// nan_to_num of one value: selects, no branch, so the loops vectorize; three compares
// and three blends (the |x| == inf form took twice the mask operations: 15.8 us for
// 1e5 float32 against 10.4 in PyTorch).
template <class C>
inline C nan_to_num_one(C x, C nan, C pos, C neg) {
  constexpr C inf = std::numeric_limits<C>::infinity();
  C r = x == inf ? pos : x;
  r = x == -inf ? neg : r;
  return x != x ? nan : r;
}

// Over a contiguous run, with AVX2 and AVX-512 clones. float and double compare
// their bit patterns as integers (+inf, -inf, and NaN as |bits| above +inf's):
// the floating compares of nan_to_num_one kept GCC to twice the mask operations
// (-ftrapping-math), 15.8 us for 1e5 float32 against PyTorch's 10.4. 32-byte
// vectors: GCC lowered compares of 64-byte ones to a scalar loop in the AVX2 clone
// (93 us against PyTorch's 15.5). Signed integers, as AVX2 has no unsigned
// compare (with the sign bit cleared the answer is the same). float16/bfloat16 the same on
// their 16-bit patterns (bfloat16 of 10^5 through float ran 1.9x PyTorch's time).
template <class T, class C>
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void nan_to_num_run(T* __restrict o, const T* __restrict a, int64_t n, C nan, C pos, C neg) {
  int64_t i = 0;
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || is_reduced_float_v<T>) {
    using U = std::conditional_t<sizeof(T) == 2, int16_t, std::conditional_t<sizeof(T) == 4, int32_t, int64_t>>;
    typedef U VU __attribute__((vector_size(32)));
    constexpr int64_t W = 32 / sizeof(T);
    constexpr U sign = std::numeric_limits<U>::min();
    const U pinf = std::bit_cast<U>(static_cast<T>(std::numeric_limits<C>::infinity())), ninf = pinf | sign;
    const U un = std::bit_cast<U>(static_cast<T>(nan)), up = std::bit_cast<U>(static_cast<T>(pos)),
            ug = std::bit_cast<U>(static_cast<T>(neg));
    for (; i + W <= n; i += W) {
      VU u;
      __builtin_memcpy(&u, a + i, sizeof(VU));
      VU r = u == pinf ? up : u;
      r = u == ninf ? ug : r;
      r = (u & ~sign) > pinf ? un : r;
      __builtin_memcpy(static_cast<void*>(o + i), &r, sizeof(VU));
    }
  }
  for (; i < n; ++i) o[i] = static_cast<T>(nan_to_num_one(C(a[i]), nan, pos, neg));
}

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

// ---- the gamma family, in double (float32 rounds the double result) ----
// lgamma: glibc's lgamma_r (std::lgamma writes the global signgam: a data race in
// the parallel loops). Poles (0, negative integers) and -inf give +inf.
double lgamma_d(double x) {
  int sign;
  return ::lgamma_r(x, &sign);
}
// digamma: psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series
// ln x - 1/(2x) - sum B_2k / (2k x^2k) to B_16 (its next term is below 4e-18 there);
// x < 0: the reflection psi(1 - x) - pi / tan(pi x), with tan reduced by the nearest
// integer. As PyTorch: +-0 give -+inf, negative integers NaN.
double digamma_d(double x) {
  if (std::isnan(x) || x == std::numeric_limits<double>::infinity()) return x;
  if (x == 0) return std::copysign(std::numeric_limits<double>::infinity(), -x);
  if (x < 0) {
    if (x == std::floor(x)) return std::numeric_limits<double>::quiet_NaN();  // poles; -inf too
    const double r = x - std::nearbyint(x);  // tan(pi x) = tan(pi r), |r| <= 1/2
    return digamma_d(1.0 - x) - M_PI / std::tan(M_PI * r);
  }
  double acc = 0;
  while (x < 10) acc -= 1 / x, x += 1;
  const double z = 1 / (x * x);
  const double s = z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 - z * (1.0 / 132 -
                   z * (691.0 / 32760 - z * (1.0 / 12 - z * 3617.0 / 8160)))))));
  return acc + std::log(x) - 0.5 / x - s;
}
// polygamma(n >= 1, x) = (-1)^(n+1) n! zeta(n + 1, x), Hurwitz zeta as the sum of
// (x + k)^-s until x + k >= 16 + n, then Euler-Maclaurin to B_16 from there. The same
// sum serves negative x; at poles a term is 1/0: +-inf.
double polygamma_d(int64_t n, double x) {
  if (n == 0) return digamma_d(x);
  if (std::isnan(x)) return x;
  const double s = static_cast<double>(n + 1);
  double fact = 1;
  for (int64_t k = 2; k <= n; ++k) fact *= static_cast<double>(k);
  const double sign = (n % 2) ? 1.0 : -1.0;
  if (x == std::numeric_limits<double>::infinity()) return sign * 0.0;
  if (x == -std::numeric_limits<double>::infinity()) return std::numeric_limits<double>::quiet_NaN();
  double zeta = 0, a = x;
  const double start = 16.0 + static_cast<double>(n);
  if (a < start) {
    const double steps = std::ceil(start - a);
    if (steps > 1e7) return std::numeric_limits<double>::quiet_NaN();  // x below -10^7: no useful double result
    for (double k = 0; k < steps; ++k, a += 1) zeta += std::pow(a, -s);
  }
  // Euler-Maclaurin tail at a: a^(1-s)/(s-1) + a^-s/2 + sum_j B_2j/(2j)! (s)_(2j-1) a^(-s-2j+1)
  static constexpr double kB[] = {1.0 / 12, -1.0 / 720, 1.0 / 30240, -1.0 / 1209600, 1.0 / 47900160,
                                  -691.0 / 1307674368000, 1.0 / 74724249600, -3617.0 / 10670622842880000};
  const double ia2 = 1 / (a * a);
  double tail = std::pow(a, 1 - s) / (s - 1) + 0.5 * std::pow(a, -s);
  double poch = s, pw = std::pow(a, -s - 1);  // (s)_(2j-1) and a^(-s-2j+1) for j = 1
  for (int j = 0; j < 8; ++j) {
    tail += kB[j] * poch * pw;
    poch *= (s + 2 * j + 1) * (s + 2 * j + 2);
    pw *= ia2;
  }
  return sign * fact * (zeta + tail);
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

// neg and abs of float16/bfloat16 on the bit pattern ((bits & keep) ^ flip), the
// float result's bits without widening and narrowing (neg of 10^5 bfloat16: 4.4x
// PyTorch's time through float); other dtypes take `maker`'s kernel.
template <class Maker>
auto sign_bit(Maker maker, uint16_t flip, uint16_t keep) {
  return [maker, flip, keep]<class T>(std::type_identity<T> t) -> Kernel {
    if constexpr (is_reduced_float_v<T>) {
      return [flip, keep](const KernelCall& c) {
        unary_loop<uint16_t, uint16_t>(c,
                                       [flip, keep](uint16_t b) { return static_cast<uint16_t>((b & keep) ^ flip); });
      };
    } else {
      return maker(t);
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

// An output for a two-input kernel by name: in a's memory order when a is a
// dense permutation (a transposed view: the three operands then run in memory
// order, as PyTorch's outputs do), else contiguous.
Tensor output_like(const Tensor& a) {
  const TensorOptions opts(a.dtype(), a.device());
  const int64_t nd = a.dim();
  if (nd < 2 || a.is_contiguous()) return empty(a.shape(), opts);
  Shape perm(static_cast<size_t>(nd));
  for (int64_t k = 0; k < nd; ++k) perm[k] = k;
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t i, int64_t j) { return a.strides()[i] > a.strides()[j]; });
  int64_t expect = 1;  // dense: the sorted strides are the contiguous ones of the permuted shape
  for (int64_t k = nd - 1; k >= 0; --k) {
    if (a.shape()[perm[k]] != 1 && a.strides()[perm[k]] != expect) return empty(a.shape(), opts);
    expect *= a.shape()[perm[k]];
  }
  Shape ps(static_cast<size_t>(nd)), inv(static_cast<size_t>(nd));
  for (int64_t k = 0; k < nd; ++k) ps[k] = a.shape()[perm[k]], inv[perm[k]] = k;
  return empty(ps, opts).permute(inv);
}

// hypot and copysign, registered by name ("hypot", "hypot_backward",
// "copysign"; called through call_op from python/tessel/_array_api_ops.py, which
// broadcasts the two inputs to one shape and dtype first). The kernel allocates
// its output in a's shape. float32/half types: sqrt(x^2 + y^2) in double, where
// the squares are exact and nothing overflows (within 1 ulp of the true value);
// double: big * sqrt(1 + (small / big)^2), no overflow or underflow in between.
// An infinite input gives inf even with a NaN in the other (C99 hypot).
template <class T>
void hypot_kernel(const KernelCall& c) {
  const Tensor &a = c.in[0], &b = c.in[1];
  if (!c.out[0].defined()) c.out[0] = output_like(a);
  const auto f = [](T xt, T yt) -> T {
    if constexpr (std::is_same_v<T, double>) {
      const double x = std::fabs(xt), y = std::fabs(yt);
      const double big = x > y ? x : y, small = x > y ? y : x;
      const double q = small / (big == 0 ? 1.0 : big);
      double r = big * std::sqrt(1.0 + q * q);
      if (x != x || y != y) r = NAN;
      if (x == INFINITY || y == INFINITY) r = INFINITY;
      return r;
    } else {
      const double x = static_cast<double>(static_cast<float>(xt)), y = static_cast<double>(static_cast<float>(yt));
      double r = std::sqrt(x * x + y * y);
      if (std::fabs(x) == INFINITY || std::fabs(y) == INFINITY) r = INFINITY;
      return static_cast<T>(static_cast<float>(r));
    }
  };
  Tensor& out = c.out[0];
  // std::sqrt keeps errno (a branch per element, no SIMD): float32 takes vecmath's
  // hypot, contiguous float64 runs its vector sqrt on a block of sums.
  const vecmath::Table* vt = std::is_floating_point_v<T> || is_reduced_float_v<T> ? vecmath::table() : nullptr;
  for_each<3>({&out, &a, &b}, [f, vt](char** p, const int64_t* s, int64_t n) {
    constexpr int64_t z = sizeof(T);
    if constexpr (std::is_same_v<T, float> || is_reduced_float_v<T>) {
      if (vt) {  // vecmath's one-pass kernel; reduced floats, strided or broadcast runs through blocks
        float bx[kReducedBlock], by[kReducedBlock], bo[kReducedBlock];
        for (int64_t i0 = 0; i0 < n; i0 += kReducedBlock) {
          const int64_t m = std::min(kReducedBlock, n - i0);
          const auto in = [&](int k, float* buf) {
            const char* q = p[k] + i0 * s[k];
            if (std::is_same_v<T, float> && s[k] == z) return reinterpret_cast<const float*>(q);
            load_block<T>(buf, q, s[k], m);
            return static_cast<const float*>(buf);
          };
          const bool direct = std::is_same_v<T, float> && s[0] == z;
          float* o = direct ? reinterpret_cast<float*>(p[0] + i0 * s[0]) : bo;
          vt->bin_f32[vecmath::Hypot](o, in(1, bx), in(2, by), m);
          if (!direct) store_block<T>(p[0] + i0 * s[0], s[0], bo, m);
        }
        return;
      }
    }
    if (s[0] == z && s[1] == z && s[2] == z) {
      T* o = reinterpret_cast<T*>(p[0]);
      const T *x = reinterpret_cast<const T*>(p[1]), *y = reinterpret_cast<const T*>(p[2]);
      if constexpr (std::is_same_v<T, double>) {
        if (vt) {
          constexpr int64_t kBlock = 512;
          double t[kBlock];
          for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
            const int64_t m = std::min(kBlock, n - i0);
            const T *xb = x + i0, *yb = y + i0;
            T* ob = o + i0;
            {
              for (int64_t i = 0; i < m; ++i) {
                const double u = std::fabs(xb[i]), v = std::fabs(yb[i]);
                const double big = u > v ? u : v, small = u > v ? v : u;
                const double q = small / (big == 0 ? 1.0 : big);
                t[i] = 1.0 + q * q;
              }
              vt->f64[vecmath::Sqrt](t, t, m, {});
              for (int64_t i = 0; i < m; ++i) {
                const double u = std::fabs(xb[i]), v = std::fabs(yb[i]);
                const double big = u > v ? u : v;
                double r = big * t[i];
                r = (u != u || v != v) ? NAN : r;
                ob[i] = (u == INFINITY || v == INFINITY) ? INFINITY : r;
              }
            }
          }
          return;
        }
      }
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
      return;
    }
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<T*>(p[0] + i * s[0]) =
          f(*reinterpret_cast<const T*>(p[1] + i * s[1]), *reinterpret_cast<const T*>(p[2] + i * s[2]));
  });
}

// d hypot(x, y) / dx = x / r (0 where r = 0, as the earlier composite gave):
// in g, x, r (one shape); out g * x / r.
template <class T>
void hypot_backward_kernel(const KernelCall& c) {
  const Tensor &g = c.in[0], &x = c.in[1], &r = c.in[2];
  if (!c.out[0].defined()) c.out[0] = output_like(x);
  Tensor& out = c.out[0];
  for_each<4>({&out, &g, &x, &r}, [](char** p, const int64_t* s, int64_t n) {
    constexpr int64_t z = sizeof(T);
    if (s[0] == z && s[1] == z && s[2] == z && s[3] == z) {  // a loop the compiler vectorizes
      using A = acc_t<T>;
      T* o = reinterpret_cast<T*>(p[0]);
      const T *gp = reinterpret_cast<const T*>(p[1]), *xp = reinterpret_cast<const T*>(p[2]),
              *rp = reinterpret_cast<const T*>(p[3]);
      for (int64_t i = 0; i < n; ++i) {
        const A rv = A(rp[i]);
        o[i] = static_cast<T>(rv == 0 ? A(0) : A(gp[i]) * A(xp[i]) / (rv == 0 ? A(1) : rv));
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      using A = acc_t<T>;
      const A rv = A(*reinterpret_cast<const T*>(p[3] + i * s[3]));
      const A v = A(*reinterpret_cast<const T*>(p[1] + i * s[1])) * A(*reinterpret_cast<const T*>(p[2] + i * s[2]));
      *reinterpret_cast<T*>(p[0] + i * s[0]) = static_cast<T>(rv == 0 ? A(0) : v / rv);
    }
  });
}

// copysign(x, y): x's magnitude bits with y's sign bit (also for -0.0 and NaNs).
template <class T>
void copysign_kernel(const KernelCall& c) {
  if (!c.out[0].defined()) c.out[0] = output_like(c.in[0]);
  using U = std::conditional_t<sizeof(T) == 8, uint64_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint16_t>>;
  // elementwise.h's runs on the bits: contiguous and one-value operands vectorized (a
  // broadcast bfloat16 operand went a memcpy per element, 1.35x PyTorch's time at 10^5)
  constexpr U sign = U(1) << (8 * sizeof(U) - 1);
  binary_loop<U, U>(c, [](U x, U y) { return static_cast<U>((x & U(~sign)) | (y & sign)); });
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
  register_for(Floats{}, op::lgamma, vec(vecmath::Lgamma, [](auto a) { return decltype(a)(lgamma_d(double(a))); }));
  register_for(Floats{}, op::digamma, vec(vecmath::Digamma, [](auto a) { return decltype(a)(digamma_d(double(a))); }));
  register_for(Floats{}, op::polygamma, unary_with<UnaryParams>([](auto a, const UnaryParams& p) {
                 return decltype(a)(polygamma_d(static_cast<int64_t>(p.a), double(a)));
               }));

  register_for(NumberTypes{}, op::neg, sign_bit(unary([](auto a) { return -a; }), 0x8000, 0xffff));
  // abs: integers wrap like C (abs(-128) stays -128 for int8); complex gives the real magnitude;
  // floats clear the sign bit, so abs(-0.) is +0. (a compare-and-negate keeps -0.).
  register_for(RealTypes{}, op::abs,
               sign_bit(unary([](auto a) {
                          using T = decltype(a);
                          if constexpr (std::is_unsigned_v<T>)
                            return a;
                          else if constexpr (std::is_floating_point_v<T>)
                            return std::fabs(a);
                          else
                            return a < T(0) ? T(-a) : a;
                        }),
                        0, 0x7fff));
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
  // PyTorch's formulas and order of rounding: relu6(x + 3) / 6 and x * relu6(x + 3) / 6
  // (NaN stays NaN through the max/min); one pass instead of nn.functional's 3-4 ops.
  register_for(Floats{}, op::hardsigmoid, vec(vecmath::Hardsigmoid, [](auto a) {
                 using C = decltype(a);
                 return C(std::min(std::max(a + C(3), C(0)), C(6)) / C(6));
               }));
  register_for(Floats{}, op::hardswish, vec(vecmath::Hardswish, [](auto a) {
                 using C = decltype(a);
                 return C(a * std::min(std::max(a + C(3), C(0)), C(6)) / C(6));
               }));

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
  // nan_to_num: the replacements converted to the compute type once, then selects, no
  // branch (the loop vectorizes).
  register_for(Floats{}, op::nan_to_num, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      const auto& p = *static_cast<const UnaryParams*>(c.params);
      using C = acc_t<T>;
      const C nan0 = C(p.a), pos0 = C(p.b), neg0 = C(p.c);
      for_each<2>({&c.out[0], &c.in[0]}, [nan0, pos0, neg0](char** q, const int64_t* s, int64_t n) {
        const C nan = nan0, pos = pos0, neg = neg0;  // locals: not aliased
        if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
          nan_to_num_run(reinterpret_cast<T*>(q[0]), reinterpret_cast<const T*>(q[1]), n, nan, pos, neg);
        } else {
          for (int64_t i = 0; i < n; ++i) {
            *reinterpret_cast<T*>(q[0] + i * s[0]) =
                static_cast<T>(nan_to_num_one(C(*reinterpret_cast<const T*>(q[1] + i * s[1])), nan, pos, neg));
          }
        }
      });
    };
  });
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
  auto& reg = Registry::get();  // by name: registry.h's builtin op list stays as it is
  const OpId hy = reg.op_id("hypot"), hyb = reg.op_id("hypot_backward"), cs = reg.op_id("copysign");
  // frac = x - trunc(x) in one pass (called by name from python/tessel/_port.py)
  register_for(Floats{}, reg.op_id("frac"), []<class T>(std::type_identity<T> t) -> Kernel {
    Kernel k = vec(vecmath::Frac, [](auto a) { return decltype(a)(a - std::trunc(a)); })(t);
    return [k](const KernelCall& c) {
      if (!c.out[0].defined()) c.out[0] = output_like(c.in[0]);
      k(c);
    };
  });
  register_for(Floats{}, hy, []<class T>(std::type_identity<T>) -> Kernel { return &hypot_kernel<T>; });
  register_for(Floats{}, hyb, []<class T>(std::type_identity<T>) -> Kernel { return &hypot_backward_kernel<T>; });
  register_for(Floats{}, cs, []<class T>(std::type_identity<T>) -> Kernel { return &copysign_kernel<T>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
