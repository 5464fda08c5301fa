// CPU kernels for add sub mul div, comparisons, neg abs exp log sqrt, where.
#include <cmath>
#include <complex>

#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"

namespace tessel::cpu {
namespace {

// Binary loop with fast paths for contiguous and scalar (stride 0) operands;
// the plain loops let the compiler vectorize.
template <class T, class R, class Op>
void binary_loop(const KernelCall& c, Op op) {
  for_each<3>({&c.out[0], &c.in[0], &c.in[1]}, [op](char** p, const int64_t* s, int64_t n) {
    using C = acc_t<T>;
    auto* o = reinterpret_cast<R*>(p[0]);
    const auto* a = reinterpret_cast<const T*>(p[1]);
    const auto* b = reinterpret_cast<const T*>(p[2]);
    constexpr int64_t st = sizeof(T), so = sizeof(R);
    if (s[0] == so && s[1] == st && s[2] == st) {
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<R>(op(C(a[i]), C(b[i])));
    } else if (s[0] == so && s[1] == st && s[2] == 0) {
      const C bv = C(b[0]);
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<R>(op(C(a[i]), bv));
    } else if (s[0] == so && s[1] == 0 && s[2] == st) {
      const C av = C(a[0]);
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<R>(op(av, C(b[i])));
    } else {
      for (int64_t i = 0; i < n; ++i) {
        *reinterpret_cast<R*>(p[0] + i * s[0]) = static_cast<R>(
            op(C(*reinterpret_cast<const T*>(p[1] + i * s[1])), C(*reinterpret_cast<const T*>(p[2] + i * s[2]))));
      }
    }
  });
}

template <class T, class R, class Op>
void unary_loop(const KernelCall& c, Op op) {
  for_each<2>({&c.out[0], &c.in[0]}, [op](char** p, const int64_t* s, int64_t n) {
    using C = acc_t<T>;
    auto* o = reinterpret_cast<R*>(p[0]);
    const auto* a = reinterpret_cast<const T*>(p[1]);
    if (s[0] == sizeof(R) && s[1] == sizeof(T)) {
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<R>(op(C(a[i])));
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<R*>(p[0] + i * s[0]) = static_cast<R>(op(C(*reinterpret_cast<const T*>(p[1] + i * s[1]))));
    }
  });
}

// Each maker returns a kernel for T; the op functions guarantee the dtypes.
template <class Op>
auto binary(Op op) {
  return [op]<class T>(std::type_identity<T>) -> Kernel {
    return [op](const KernelCall& c) { binary_loop<T, T>(c, op); };
  };
}
template <class Op>
auto compare(Op op) {
  return [op]<class T>(std::type_identity<T>) -> Kernel {
    return [op](const KernelCall& c) { binary_loop<T, bool>(c, op); };
  };
}
template <class Op>
auto unary(Op op) {
  return [op]<class T>(std::type_identity<T>) -> Kernel {
    return [op](const KernelCall& c) { unary_loop<T, T>(c, op); };
  };
}

// bool arithmetic is logical (True + True is True), as in PyTorch.
const auto add_op = [](auto a, auto b) { return a + b; };
const auto sub_op = [](auto a, auto b) { return a - b; };
const auto mul_op = [](auto a, auto b) {
  if constexpr (std::is_same_v<decltype(a), bool>) return a && b;
  else return a * b;
};
const auto div_op = [](auto a, auto b) { return a / b; };

const auto neg_op = [](auto a) { return -a; };
const auto exp_op = [](auto a) { return std::exp(a); };
const auto log_op = [](auto a) { return std::log(a); };
const auto sqrt_op = [](auto a) { return std::sqrt(a); };

const bool registered = [] {
  register_for(AllTypes{}, op::add, binary(add_op));
  register_for(NumberTypes{}, op::sub, binary(sub_op));
  register_for(AllTypes{}, op::mul, binary(mul_op));
  register_for(FloatTypes{} + ComplexTypes{}, op::div, binary(div_op));

  register_for(AllTypes{}, op::eq, compare([](auto a, auto b) { return a == b; }));
  register_for(AllTypes{}, op::ne, compare([](auto a, auto b) { return a != b; }));
  register_for(BoolType{} + RealTypes{}, op::lt, compare([](auto a, auto b) { return a < b; }));
  register_for(BoolType{} + RealTypes{}, op::le, compare([](auto a, auto b) { return a <= b; }));
  register_for(BoolType{} + RealTypes{}, op::gt, compare([](auto a, auto b) { return a > b; }));
  register_for(BoolType{} + RealTypes{}, op::ge, compare([](auto a, auto b) { return a >= b; }));

  register_for(NumberTypes{}, op::neg, unary(neg_op));
  register_for(FloatTypes{} + ComplexTypes{}, op::exp, unary(exp_op));
  register_for(FloatTypes{} + ComplexTypes{}, op::log, unary(log_op));
  register_for(FloatTypes{} + ComplexTypes{}, op::sqrt, unary(sqrt_op));

  // abs: integers wrap like C (abs(-128) stays -128 for int8); complex gives the real magnitude.
  register_for(RealTypes{}, op::abs, unary([](auto a) {
                 if constexpr (std::is_unsigned_v<decltype(a)>) return a;
                 else return a < decltype(a)(0) ? decltype(a)(-a) : a;
               }));
  register_for(ComplexTypes{}, op::abs, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) { unary_loop<T, typename T::value_type>(c, [](T a) { return std::abs(a); }); };
  });

  register_for(AllTypes{}, op::where, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      for_each<4>({&c.out[0], &c.in[0], &c.in[1], &c.in[2]}, [](char** p, const int64_t* s, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          const bool m = *reinterpret_cast<const bool*>(p[1] + i * s[1]);
          *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const T*>(p[m ? 2 : 3] + i * s[m ? 2 : 3]);
        }
      });
    };
  });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
