// CPU kernels for binary elementwise ops: arithmetic, comparisons, logical and
// bitwise ops, where and lerp.
#include "kernels/cpu/elementwise.h"

#include <cmath>
#include <complex>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/reduced_float.h"
#include "kernels/cpu/vecmath.h"

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
    if (r == C(0)) return std::copysign(C(0), b);  // a zero takes the divisor's sign too (Python, NumPy)
    if ((r < 0) != (b < 0)) r += b;
    return r;
  }
};
// C's fmod: the result takes the dividend's sign; exact for floats (std::fmod), and
// integer % truncates the same way.
const auto fmod_op = [](auto a, auto b) {
  using C = decltype(a);
  if constexpr (is_int_v<C>) {
    return b == C(-1) ? C(0) : C(a % b);  // INT_MIN % -1 traps
  } else {
    return C(std::fmod(a, b));
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
  } else if constexpr (std::is_same_v<C, float>) {
    return static_cast<float>(std::pow(double(a), double(b)));  // the rounded double: as vecmath's pow_f for integer b
  } else {
    return std::pow(a, b);
  }
};
// NaN propagates through maximum and minimum.
// NaN propagates. Three selects in a row, no branch (GCC vectorized neither an
// early return nor one select on (a != a) | (b != b)).
const auto maximum_op = [](auto a, auto b) {
  const auto m = a > b ? a : b;
  if constexpr (std::is_floating_point_v<decltype(a)>) {
    const auto r = a != a ? a : m;
    return b != b ? b : r;
  } else {
    return m;
  }
};
const auto minimum_op = [](auto a, auto b) {
  const auto m = a < b ? a : b;
  if constexpr (std::is_floating_point_v<decltype(a)>) {
    const auto r = a != a ? a : m;
    return b != b ? b : r;
  } else {
    return m;
  }
};

// Float dtypes try the vector kernels of vecmath (run-time ISA); other dtypes
// and CPUs without them keep the scalar op.
template <class Op>
auto vec_binary(vecmath::BinFn fn, Op op) {
  return [fn, op]<class T>(std::type_identity<T>) -> Kernel {
    if constexpr (std::is_floating_point_v<T> || is_reduced_float_v<T>) {
      return [fn, op](const KernelCall& c) {
        if (!vecmath::binary(c, static_cast<int>(dtype_v<T>), fn)) binary_loop<T, T>(c, op);
      };
    } else {
      return [op](const KernelCall& c) { binary_loop<T, T>(c, op); };
    }
  };
}

// lerp over contiguous runs, the weight one value (W = 0) or a run (W = 1): two
// formulas meeting at weight 0.5 so that weights 0 and 1 are exact. With one
// weight the formula is picked once per run, so the loop has no select.
template <class T, int W>
TESSEL_CLONES void lerp_run(T* __restrict o, const T* __restrict a, const T* __restrict b, const T* __restrict w,
                            int64_t n) {
  if constexpr (W == 0) {
    const T w0 = w[0], w1 = T(1) - w0;
    if (std::abs(w0) < T(0.5)) {
      for (int64_t i = 0; i < n; ++i) o[i] = a[i] + w0 * (b[i] - a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i] = b[i] - (b[i] - a[i]) * w1;
    }
  } else {
    for (int64_t i = 0; i < n; ++i)
      o[i] = std::abs(w[i]) < T(0.5) ? a[i] + w[i] * (b[i] - a[i]) : b[i] - (b[i] - a[i]) * (T(1) - w[i]);
  }
}

// where over a run with a contiguous mask and output, each value operand
// contiguous (step 1) or broadcast (step 0): fixed steps and the select done on
// the bits as unsigned integers let GCC vectorize it (through memcpy it did not).
template <class T, int SA, int SB>
TESSEL_CLONES void where_run(T* __restrict o, const bool* __restrict m, const T* __restrict a, const T* __restrict b,
                             int64_t n) {
  using U = std::conditional_t<sizeof(T) == 1, uint8_t,
                               std::conditional_t<sizeof(T) == 2, uint16_t,
                                                  std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;
  typedef U UA __attribute__((may_alias));
  auto* ou = reinterpret_cast<UA*>(o);
  const auto *au = reinterpret_cast<const UA*>(a), *bu = reinterpret_cast<const UA*>(b);
  const auto* mu = reinterpret_cast<const uint8_t*>(m);
  for (int64_t i = 0; i < n; ++i) {
    const U mk = static_cast<U>(U(0) - U(mu[i]));
    ou[i] = static_cast<U>((au[i * SA] & mk) | (bu[i * SB] & static_cast<U>(~mk)));
  }
}

template <class T>
bool truthy(T v) {
  return v != T(0);
}

// Shifts defined for every count (C++ leaves counts < 0 or >= the width undefined).
template <class T>
bool shift_out_of_range(T b) {
  if constexpr (std::is_signed_v<T>) {
    if (b < 0) return true;
  }
  return static_cast<uint64_t>(b) >= 8 * sizeof(T);
}
template <class T>
T shift_left(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return shift_out_of_range(b) ? T(0) : static_cast<T>(static_cast<U>(static_cast<U>(a) << b));
}
template <class T>
T shift_right(T a, T b) {
  if (shift_out_of_range(b)) {
    if constexpr (std::is_signed_v<T>) return a < 0 ? T(-1) : T(0);
    else return T(0);
  }
  return static_cast<T>(a >> b);  // arithmetic for signed T (C++20)
}

const bool registered = [] {
  register_for(AllTypes{}, op::add, binary([](auto a, auto b) { return a + b; }));  // bool: logical or
  register_for(NumberTypes{}, op::sub, binary([](auto a, auto b) { return a - b; }));
  register_for(AllTypes{}, op::mul, binary([](auto a, auto b) {
                 if constexpr (std::is_same_v<decltype(a), bool>) return a && b;
                 else return a * b;
               }));
  register_for(FloatTypes{} + ComplexTypes{}, op::div, binary([](auto a, auto b) { return a / b; }));
  register_for(RealTypes{}, op::floor_divide, vec_binary(vecmath::FloorDivide, floor_divide_op));
  register_for(RealTypes{}, op::remainder, vec_binary(vecmath::Remainder, remainder_op));
  register_for(RealTypes{}, op::fmod, vec_binary(vecmath::Fmod, fmod_op));
  // float32 pow in double lanes (vecmath's pow_f: exact integer powers where representable);
  // float64 and the rest stay on the C library (docs/numerics.md).
  register_for(AllTypes{}, op::pow, vec_binary(vecmath::Pow, pow_op));
  register_for(FloatTypes{}, op::atan2, vec_binary(vecmath::Atan2, [](auto a, auto b) { return std::atan2(a, b); }));
  register_for(BoolType{} + RealTypes{}, op::maximum, binary(maximum_op));
  register_for(BoolType{} + RealTypes{}, op::minimum, binary(minimum_op));

  register_for(AllTypes{}, op::eq, compare([](auto a, auto b) { return a == b; }));
  register_for(AllTypes{}, op::ne, compare([](auto a, auto b) { return a != b; }));
  register_for(BoolType{} + RealTypes{}, op::lt, compare([](auto a, auto b) { return a < b; }));
  register_for(BoolType{} + RealTypes{}, op::le, compare([](auto a, auto b) { return a <= b; }));
  register_for(BoolType{} + RealTypes{}, op::gt, compare([](auto a, auto b) { return a > b; }));
  register_for(BoolType{} + RealTypes{}, op::ge, compare([](auto a, auto b) { return a >= b; }));
  // & and |, not && and ||: no short-circuit branch, so the loops vectorize.
  register_for(AllTypes{}, op::logical_and, compare([](auto a, auto b) { return truthy(a) & truthy(b); }));
  register_for(AllTypes{}, op::logical_or, compare([](auto a, auto b) { return truthy(a) | truthy(b); }));
  register_for(AllTypes{}, op::logical_xor, compare([](auto a, auto b) { return truthy(a) != truthy(b); }));

  register_for(BoolType{} + IntTypes{}, op::bitwise_and, binary([](auto a, auto b) { return a & b; }));
  register_for(BoolType{} + IntTypes{}, op::bitwise_or, binary([](auto a, auto b) { return a | b; }));
  register_for(BoolType{} + IntTypes{}, op::bitwise_xor, binary([](auto a, auto b) { return a ^ b; }));
  register_for(IntTypes{}, op::bitwise_left_shift, binary([](auto a, auto b) { return shift_left(a, b); }));
  register_for(IntTypes{}, op::bitwise_right_shift, binary([](auto a, auto b) { return shift_right(a, b); }));

  register_for(AllTypes{}, op::where, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      for_each<4>({&c.out[0], &c.in[0], &c.in[1], &c.in[2]}, [](char** p, const int64_t* s, int64_t n) {
        constexpr int64_t e = sizeof(T);
        if constexpr (sizeof(T) <= 8 && std::is_trivially_copyable_v<T>) {
          if (s[0] == e && s[1] == 1 && (s[2] == e || s[2] == 0) && (s[3] == e || s[3] == 0)) {
            auto* o = reinterpret_cast<T*>(p[0]);
            const auto* m = reinterpret_cast<const bool*>(p[1]);
            const auto *a = reinterpret_cast<const T*>(p[2]), *b = reinterpret_cast<const T*>(p[3]);
            if (s[2] && s[3]) where_run<T, 1, 1>(o, m, a, b, n);
            else if (s[2]) where_run<T, 1, 0>(o, m, a, b, n);
            else if (s[3]) where_run<T, 0, 1>(o, m, a, b, n);
            else where_run<T, 0, 0>(o, m, a, b, n);
            return;
          }
        }
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
        constexpr int64_t E = sizeof(T);
        if constexpr (std::is_floating_point_v<T>) {
          if (s[0] == E && s[1] == E && s[2] == E && (s[3] == 0 || s[3] == E)) {  // contiguous runs: vectorize
            T* o = reinterpret_cast<T*>(p[0]);
            const T *a = reinterpret_cast<const T*>(p[1]), *b = reinterpret_cast<const T*>(p[2]),
                    *w = reinterpret_cast<const T*>(p[3]);
            if (s[3] == 0)
              lerp_run<T, 0>(o, a, b, w, n);
            else
              lerp_run<T, 1>(o, a, b, w, n);
            return;
          }
        }
        if constexpr (is_reduced_float_v<T>) {
          // one weight: a binary run (in registers for bfloat16: a scalar weight's lerp of 10^5 ran
          // 1.4-1.6x PyTorch's time through float blocks), either end one value or a run
          const int sa = s[1] == E ? 1 : s[1] == 0 ? 0 : -1, sb = s[2] == E ? 1 : s[2] == 0 ? 0 : -1;
          if (s[0] == E && s[3] == 0 && sa >= 0 && sb >= 0 && sa + sb > 0) {
            const float w0 = static_cast<float>(*reinterpret_cast<const T*>(p[3])), w1 = 1.0f - w0;
            T* o = reinterpret_cast<T*>(p[0]);
            const T *a = reinterpret_cast<const T*>(p[1]), *b = reinterpret_cast<const T*>(p[2]);
            const auto run = [&](auto op) {
              if (sa == 1 && sb == 1)
                binary_any<T, T, 1, 1>(o, a, b, n, op);
              else if (sa == 1)
                binary_any<T, T, 1, 0>(o, a, b, n, op);
              else
                binary_any<T, T, 0, 1>(o, a, b, n, op);
            };
            if (std::abs(w0) < 0.5f)
              run([w0](float x, float y) { return x + w0 * (y - x); });
            else
              run([w1](float x, float y) { return y - (y - x) * w1; });
            return;
          }
          if (s[0] == E && s[1] == E && s[2] == E && s[3] == E) {  // float blocks (reduced_float.h)
            float a[kReducedBlock], b[kReducedBlock], w[kReducedBlock], r[kReducedBlock];
            const T* wp = reinterpret_cast<const T*>(p[3]);
            for (int64_t i = 0; i < n; i += kReducedBlock) {
              const int64_t m = std::min(kReducedBlock, n - i);
              widen(a, reinterpret_cast<const T*>(p[1]) + i, m);
              widen(b, reinterpret_cast<const T*>(p[2]) + i, m);
              widen(w, wp + i, m);
              lerp_run<float, 1>(r, a, b, w, m);
              narrow(reinterpret_cast<T*>(p[0]) + i, r, m);
            }
            return;
          }
        }
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
