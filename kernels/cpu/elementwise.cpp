// CPU kernels for binary elementwise ops: arithmetic, comparisons, logical and
// bitwise ops, where and lerp.
#include "kernels/cpu/elementwise.h"

#include <cmath>
#include <complex>

namespace tessel::cpu {
namespace {

template <class T>
constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// Floor division and Python-style remainder (the result takes the divisor's
// sign). The op function has already refused integer division by zero.
const auto floor_divide_op = [](auto a, auto b) {
  using C = decltype(a);
  if constexpr (is_int_v<C>) {
    if (b == C(-1)) return C(-a);  // INT_MIN / -1 traps; the wrapped negation is the answer
    const C q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? C(q - 1) : q;
  } else {
    // Python's (and NumPy's) float floor division, derived from fmod so that
    // a == b * q + remainder(a, b) holds; plain floor(a / b) can be off by one.
    if (b == C(0)) return a / b;
    const C mod = std::fmod(a, b);
    C div = (a - mod) / b;
    if (mod != C(0) && ((b < C(0)) != (mod < C(0)))) div -= C(1);
    if (div == C(0)) return std::copysign(C(0), a / b);
    C fl = std::floor(div);
    if (div - fl > C(0.5)) fl += C(1);
    return fl;
  }
};
const auto remainder_op = [](auto a, auto b) {
  using C = decltype(a);
  if constexpr (is_int_v<C>) {
    if (b == C(-1)) return C(0);
    const C r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? C(r + b) : r;
  } else {
    C r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  }
};
const auto pow_op = [](auto a, auto b) {
  using C = decltype(a);
  if constexpr (std::is_same_v<C, bool>) {
    return a || !b;
  } else if constexpr (is_int_v<C>) {
    // Square-and-multiply; negative exponents give 1/a rounded toward zero.
    if (b < 0) return a == 1 ? C(1) : a == C(-1) ? C((b % 2) ? -1 : 1) : C(0);
    C r = 1, base = a;
    for (auto e = b; e > 0; e >>= 1) {
      if (e & 1) r = C(r * base);
      base = C(base * base);
    }
    return r;
  } else {
    return std::pow(a, b);
  }
};
// NaN propagates through maximum and minimum.
const auto maximum_op = [](auto a, auto b) {
  if constexpr (std::is_floating_point_v<decltype(a)>) {
    if (std::isnan(a) || std::isnan(b)) return a + b;
  }
  return a > b ? a : b;
};
const auto minimum_op = [](auto a, auto b) {
  if constexpr (std::is_floating_point_v<decltype(a)>) {
    if (std::isnan(a) || std::isnan(b)) return a + b;
  }
  return a < b ? a : b;
};

template <class T>
bool truthy(T v) {
  return v != T(0);
}

const bool registered = [] {
  register_for(AllTypes{}, op::add, binary([](auto a, auto b) { return a + b; }));  // bool: logical or
  register_for(NumberTypes{}, op::sub, binary([](auto a, auto b) { return a - b; }));
  register_for(AllTypes{}, op::mul, binary([](auto a, auto b) {
                 if constexpr (std::is_same_v<decltype(a), bool>) return a && b;
                 else return a * b;
               }));
  register_for(FloatTypes{} + ComplexTypes{}, op::div, binary([](auto a, auto b) { return a / b; }));
  register_for(RealTypes{}, op::floor_divide, binary(floor_divide_op));
  register_for(RealTypes{}, op::remainder, binary(remainder_op));
  register_for(AllTypes{}, op::pow, binary(pow_op));
  register_for(FloatTypes{}, op::atan2, binary([](auto a, auto b) { return std::atan2(a, b); }));
  register_for(BoolType{} + RealTypes{}, op::maximum, binary(maximum_op));
  register_for(BoolType{} + RealTypes{}, op::minimum, binary(minimum_op));

  register_for(AllTypes{}, op::eq, compare([](auto a, auto b) { return a == b; }));
  register_for(AllTypes{}, op::ne, compare([](auto a, auto b) { return a != b; }));
  register_for(BoolType{} + RealTypes{}, op::lt, compare([](auto a, auto b) { return a < b; }));
  register_for(BoolType{} + RealTypes{}, op::le, compare([](auto a, auto b) { return a <= b; }));
  register_for(BoolType{} + RealTypes{}, op::gt, compare([](auto a, auto b) { return a > b; }));
  register_for(BoolType{} + RealTypes{}, op::ge, compare([](auto a, auto b) { return a >= b; }));
  register_for(AllTypes{}, op::logical_and, compare([](auto a, auto b) { return truthy(a) && truthy(b); }));
  register_for(AllTypes{}, op::logical_or, compare([](auto a, auto b) { return truthy(a) || truthy(b); }));
  register_for(AllTypes{}, op::logical_xor, compare([](auto a, auto b) { return truthy(a) != truthy(b); }));

  register_for(BoolType{} + IntTypes{}, op::bitwise_and, binary([](auto a, auto b) { return a & b; }));
  register_for(BoolType{} + IntTypes{}, op::bitwise_or, binary([](auto a, auto b) { return a | b; }));
  register_for(BoolType{} + IntTypes{}, op::bitwise_xor, binary([](auto a, auto b) { return a ^ b; }));

  register_for(AllTypes{}, op::where, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      for_each<4>({&c.out[0], &c.in[0], &c.in[1], &c.in[2]}, [](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          // Both loads, then a select: a branch on random masks mispredicts half the time.
          const bool m = *reinterpret_cast<const bool*>(p[1] + i * s[1]);
          const T a = *reinterpret_cast<const T*>(p[2] + i * s[2]), b = *reinterpret_cast<const T*>(p[3] + i * s[3]);
          *reinterpret_cast<T*>(p[0] + i * s[0]) = select(m, a, b);
        }
      });
    };
  });
  // lerp: two formulas meeting at weight 0.5 so that weight 0 and 1 are exact.
  register_for(FloatTypes{} + ComplexTypes{}, op::lerp, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      for_each<4>({&c.out[0], &c.in[0], &c.in[1], &c.in[2]}, [](char** p, const int64_t* s, int64_t n) {
        using C = acc_t<T>;
        for (int64_t i = 0; i < n; ++i) {
          const C a = C(*reinterpret_cast<const T*>(p[1] + i * s[1]));
          const C b = C(*reinterpret_cast<const T*>(p[2] + i * s[2]));
          const C w = C(*reinterpret_cast<const T*>(p[3] + i * s[3]));
          const C r = std::abs(w) < 0.5 ? a + w * (b - a) : b - (b - a) * (C(1) - w);
          *reinterpret_cast<T*>(p[0] + i * s[0]) = static_cast<T>(r);
        }
      });
    };
  });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
