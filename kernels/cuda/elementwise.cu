// Elementwise binary (add sub mul div maximum minimum), unary (neg exp log
// relu tanh sigmoid reciprocal square sqrt rsqrt abs erf gelu silu, the trigonometric, hyperbolic, log/exp
// variants, erfc, floor, ceil, trunc), gelu's backward and lerp kernels on CUDA. Dense operands take 16-byte vector loads;
// broadcast or strided ones walk the Layout's offsets.
#include "kernels/cuda/device/common.cuh"

namespace tessel::cuda {
namespace {

template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

template <class T>
__device__ __forceinline__ bool isnan_(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}

template <Binary Op>
struct BinaryFn {
  template <class C>
  __device__ __forceinline__ C operator()(C a, C b) const {
    if constexpr (Op == Binary::add) return a + b;
    else if constexpr (Op == Binary::sub) return a - b;
    else if constexpr (Op == Binary::mul) return a * b;
    else if constexpr (Op == Binary::div) return a / b;
    // Python's floor division and remainder (the divisor's sign), as the CPU's
    // (kernels/cpu/elementwise.cpp); integer division by zero is refused before launch.
    else if constexpr (Op == Binary::remainder) {
      if constexpr (std::is_integral_v<C>) {
        if (b == C(-1)) return C(0);
        const C r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? C(r + b) : r;
      } else {
        C r = fmod(a, b);
        if (r == C(0)) return copysign(C(0), b);
        if ((r < 0) != (b < 0)) r += b;
        return r;
      }
    } else if constexpr (Op == Binary::fmod) {  // C's: the dividend's sign, as the CPU's
      if constexpr (std::is_integral_v<C>) return b == C(-1) ? C(0) : C(a % b);
      else return fmod(a, b);
    } else if constexpr (Op == Binary::floor_divide) {
      if constexpr (std::is_integral_v<C>) {
        if (b == C(-1)) return C(C(0) - a);  // INT_MIN / -1 wraps, as on the CPU
        const C q = a / b;
        return (a % b != 0 && ((a < 0) != (b < 0))) ? C(q - 1) : q;
      } else {
        if (b == C(0)) return a / b;
        const C mod = fmod(a, b);
        C d = (a - mod) / b;
        if (mod != C(0) && ((b < C(0)) != (mod < C(0)))) d -= C(1);
        if (d == C(0)) return copysign(C(0), a / b);
        C fl = floor(d);
        if (d - fl > C(0.5)) fl += C(1);
        return fl;
      }
    }
    // NaN propagates, as on the CPU (kernels/cpu/elementwise.cpp).
    else if constexpr (Op == Binary::maximum) return isnan_(a) || isnan_(b) ? a + b : (a > b ? a : b);
    else if constexpr (Op == Binary::minimum) return isnan_(a) || isnan_(b) ? a + b : (a < b ? a : b);
    else if constexpr (Op == Binary::bit_and) return C(a & b);
    else if constexpr (Op == Binary::bit_or) return C(a | b);
    else if constexpr (Op == Binary::bit_xor) return C(a ^ b);
    else if constexpr (Op == Binary::shl || Op == Binary::shr) {
      // Every count defined, as the CPU's (kernels/cpu/elementwise.cpp): out of range gives 0
      // (a right shift of a negative value: -1).
      using U = std::make_unsigned_t<C>;
      bool out = false;
      if constexpr (std::is_signed_v<C>) out = b < 0;
      out = out || static_cast<unsigned long long>(b) >= 8 * sizeof(C);
      if constexpr (Op == Binary::shl) return out ? C(0) : static_cast<C>(static_cast<U>(static_cast<U>(a) << b));
      else if (out) return std::is_signed_v<C> && a < 0 ? C(-1) : C(0);
      else return static_cast<C>(a >> b);
    } else if constexpr (Op == Binary::pow) return std::is_same_v<C, float> ? powf(a, b) : pow(a, b);
    else if constexpr (Op == Binary::atan2) return std::is_same_v<C, float> ? atan2f(a, b) : atan2(a, b);
    else if constexpr (Op == Binary::hypot) return std::is_same_v<C, float> ? hypotf(a, b) : hypot(a, b);
    else if constexpr (Op == Binary::copysign) return std::is_same_v<C, float> ? copysignf(a, b) : copysign(a, b);
    else if constexpr (Op == Binary::gelu_backward) {  // g * (Phi(x) + x phi(x))
      const C cdf = C(0.5) * (C(1) + erf_(b * C(0.70710678118654752440)));
      const C pdf = exp_(C(-0.5) * b * b) * C(0.39894228040143267794);
      return a * (cdf + b * pdf);
    } else if constexpr (Op == Binary::gelu_tanh_backward) {
      const C k = C(0.79788456080286535588), c = C(0.044715);
      const C t = tanh_(k * (b + c * b * b * b));
      return a * (C(0.5) * (C(1) + t) + C(0.5) * b * (C(1) - t * t) * k * (C(1) + C(3) * c * b * b));
    } else return b > C(0) ? a : C(0);  // relu_backward: a = grad, b = relu's output
  }
  template <class C>
  __device__ __forceinline__ static C erf_(C a) {
    if constexpr (std::is_same_v<C, float>) return erff(a);
    else return erf(a);
  }
  template <class C>
  __device__ __forceinline__ static C exp_(C a) {
    if constexpr (std::is_same_v<C, float>) return expf(a);
    else return exp(a);
  }
  template <class C>
  __device__ __forceinline__ static C tanh_(C a) {
    if constexpr (std::is_same_v<C, float>) return tanhf(a);
    else return tanh(a);
  }
};

// fn's float32 form (fnf) for float, fn for double.
#define TS_LIBM(fn) (std::is_same_v<C, float> ? fn##f(a) : fn(a))

template <Unary Op>
struct UnaryFn {
  UnaryArgs p;
  template <class C>
  __device__ __forceinline__ C operator()(C a) const {
    if constexpr (Op == Unary::neg) return -a;
    // The CPU's formulas (kernels/cpu/unary.cpp).
    else if constexpr (Op == Unary::leaky_relu) return a > C(0) ? a : C(a * C(p.a));
    else if constexpr (Op == Unary::elu) return a > C(0) ? a : C(C(p.a) * TS_LIBM(expm1));
    else if constexpr (Op == Unary::softplus) {
      const C bx = C(p.a) * a;
      return bx > C(p.b) ? a : C((std::is_same_v<C, float> ? log1pf(expf(bx)) : log1p(exp(bx))) / C(p.a));
    } else if constexpr (Op == Unary::hardsigmoid || Op == Unary::hardswish) {
      C u = a + C(3);  // std::min/std::max's comparisons, so NaN stays NaN as on the CPU
      u = u < C(0) ? C(0) : u;
      u = C(6) < u ? C(6) : u;
      return Op == Unary::hardsigmoid ? C(u / C(6)) : C(a * u / C(6));
    }
    else if constexpr (Op == Unary::round) {
      if (p.a == 0) return TS_LIBM(rint);  // ties to even
      const C scale = C(::pow(10.0, p.a));
      return std::is_same_v<C, float> ? C(rintf(a * scale) / scale) : C(rint(a * scale) / scale);
    } else if constexpr (Op == Unary::nan_to_num) {
      if (a != a) return C(p.a);
      if (isinf(a)) return a > C(0) ? C(p.b) : C(p.c);
      return a;
    } else if constexpr (Op == Unary::sign) {
      if constexpr (std::is_floating_point_v<C>)
        if (a != a) return a;
      return C((C(0) < a) - (a < C(0)));
    } else if constexpr (Op == Unary::clamp) {  // NaN stays NaN
      if constexpr (std::is_integral_v<C>) {
        if (p.has_lo && a < C(p.ilo)) a = C(p.ilo);
        if (p.has_hi && a > C(p.ihi)) a = C(p.ihi);
      } else {
        if (p.has_lo && a < C(p.lo)) a = C(p.lo);
        if (p.has_hi && a > C(p.hi)) a = C(p.hi);
      }
      return a;
    }
    else if constexpr (Op == Unary::relu) return a > C(0) || a != a ? a : C(0);
    else if constexpr (Op == Unary::exp) return exp_(a);
    else if constexpr (Op == Unary::log) return std::is_same_v<C, float> ? logf(a) : log(a);
    else if constexpr (Op == Unary::tanh) return std::is_same_v<C, float> ? tanhf(a) : tanh(a);
    else if constexpr (Op == Unary::reciprocal) return C(1) / a;
    else if constexpr (Op == Unary::square) return a * a;
    else if constexpr (Op == Unary::sqrt) return std::is_same_v<C, float> ? sqrtf(a) : sqrt(a);
    else if constexpr (Op == Unary::rsqrt) return C(1) / (std::is_same_v<C, float> ? sqrtf(a) : sqrt(a));  // the CPU's
    else if constexpr (Op == Unary::erf) return std::is_same_v<C, float> ? erff(a) : erf(a);
    else if constexpr (Op == Unary::silu) return a / (C(1) + exp_(-a));
    else if constexpr (Op == Unary::erfinv) return TS_LIBM(erfinv);
    else if constexpr (Op == Unary::bit_not) {
      if constexpr (std::is_same_v<C, bool>) return !a;
      else return C(~a);
    }
    else if constexpr (Op == Unary::sin) return TS_LIBM(sin);
    else if constexpr (Op == Unary::cos) return TS_LIBM(cos);
    else if constexpr (Op == Unary::tan) return TS_LIBM(tan);
    else if constexpr (Op == Unary::asin) return TS_LIBM(asin);
    else if constexpr (Op == Unary::acos) return TS_LIBM(acos);
    else if constexpr (Op == Unary::atan) return TS_LIBM(atan);
    else if constexpr (Op == Unary::sinh) return TS_LIBM(sinh);
    else if constexpr (Op == Unary::cosh) return TS_LIBM(cosh);
    else if constexpr (Op == Unary::asinh) return TS_LIBM(asinh);
    else if constexpr (Op == Unary::acosh) return TS_LIBM(acosh);
    else if constexpr (Op == Unary::atanh) return TS_LIBM(atanh);
    else if constexpr (Op == Unary::log2) return TS_LIBM(log2);
    else if constexpr (Op == Unary::log10) return TS_LIBM(log10);
    else if constexpr (Op == Unary::log1p) return TS_LIBM(log1p);
    else if constexpr (Op == Unary::expm1) return TS_LIBM(expm1);
    else if constexpr (Op == Unary::exp2) return TS_LIBM(exp2);
    else if constexpr (Op == Unary::erfc) return TS_LIBM(erfc);
    else if constexpr (Op == Unary::floor) return TS_LIBM(floor);
    else if constexpr (Op == Unary::ceil) return TS_LIBM(ceil);
    else if constexpr (Op == Unary::trunc) return TS_LIBM(trunc);
    else if constexpr (Op == Unary::gelu)  // x Phi(x), as the CPU's exact form
      return C(0.5) * a * (C(1) + (std::is_same_v<C, float> ? erff(a * C(0.70710678118654752440))
                                                             : erf(a * C(0.70710678118654752440))));
    else if constexpr (Op == Unary::gelu_tanh) {
      const C u = C(0.79788456080286535588) * (a + C(0.044715) * a * a * a);
      return C(0.5) * a * (C(1) + (std::is_same_v<C, float> ? tanhf(u) : tanh(u)));
    } else if constexpr (Op == Unary::abs) {
      if constexpr (std::is_floating_point_v<C>) return std::is_same_v<C, float> ? fabsf(a) : fabs(a);
      else return a < C(0) ? C(-a) : a;
    } else return C(1) / (C(1) + exp_(-a));
  }
  template <class C>
  __device__ __forceinline__ static C exp_(C a) {
    if constexpr (std::is_same_v<C, float>) return expf(a);
    else return exp(a);
  }
};

// 16 bytes per load; the tail past the last full vector goes element by element.
template <class T, class F, int NIN>
__global__ void map_contiguous(T* out, const T* a, const T* b, int64_t n, F f) {
  using C = acc_t<T>;
  constexpr int V = 16 / sizeof(T);
  const int64_t stride = (int64_t{gridDim.x} * blockDim.x) * V;
  for (int64_t i = (int64_t{blockIdx.x} * blockDim.x + threadIdx.x) * V; i < n; i += stride) {
    if (i + V <= n) {
      const Vec<T, V> va = *reinterpret_cast<const Vec<T, V>*>(a + i);
      Vec<T, V> vb;
      if constexpr (NIN == 2) vb = *reinterpret_cast<const Vec<T, V>*>(b + i);
      Vec<T, V> vo;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        if constexpr (NIN == 2) vo.v[j] = convert<T>(f(convert<C>(va.v[j]), convert<C>(vb.v[j])));
        else vo.v[j] = convert<T>(f(convert<C>(va.v[j])));
      }
      *reinterpret_cast<Vec<T, V>*>(out + i) = vo;
    } else {
      for (int64_t j = i; j < n; ++j) {
        if constexpr (NIN == 2) out[j] = convert<T>(f(convert<C>(a[j]), convert<C>(b[j])));
        else out[j] = convert<T>(f(convert<C>(a[j])));
      }
    }
  }
}

template <class T, class F, int N>
__global__ void map_strided(Layout<N> L, F f) {
  using C = acc_t<T>;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < L.numel; i += stride) {
    int64_t off[N];
    offsets_of(L, i, off);
    const C a = convert<C>(*reinterpret_cast<const T*>(L.ptrs[1] + off[1]));
    T* o = reinterpret_cast<T*>(L.ptrs[0] + off[0]);
    if constexpr (N == 3) *o = convert<T>(f(a, convert<C>(*reinterpret_cast<const T*>(L.ptrs[2] + off[2]))));
    else *o = convert<T>(f(a));
  }
}

template <int N>
bool aligned16(const Layout<N>& L) {
  for (int k = 0; k < N; ++k)
    if (reinterpret_cast<uintptr_t>(L.ptrs[k]) % 16 != 0) return false;
  return true;
}

template <class T, int N, class F>
void run_map(const Layout<N>& L, F f, cudaStream_t s) {
  constexpr int V = 16 / sizeof(T);
  const T* b = reinterpret_cast<const T*>(L.ptrs[N - 1]);  // unused by unary ops
  if (L.contiguous && aligned16(L))
    map_contiguous<T, F, N - 1><<<blocks_for(L.numel, V), kThreads, 0, s>>>(
        reinterpret_cast<T*>(L.ptrs[0]), reinterpret_cast<const T*>(L.ptrs[1]), b, L.numel, f);
  else
    map_strided<T, F, N><<<blocks_for(L.numel), kThreads, 0, s>>>(L, f);
}

// Which dtypes each op is compiled for (the registrations in register.cpp follow these).
template <class T>
inline constexpr bool is_float = std::is_floating_point_v<T> || is_lowp<T>;
template <class T>
inline constexpr bool is_binary_int = std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;

template <class T>
inline constexpr bool is_bitwise_int = std::is_integral_v<T>;  // visit_code's: bool, uint8 ... int64

template <Binary Op>
bool binary_for(int dtype, const Layout<3>& L, cudaStream_t s) {
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr bool bitwise = Op == Binary::bit_and || Op == Binary::bit_or || Op == Binary::bit_xor ||
                             Op == Binary::shl || Op == Binary::shr;
    constexpr bool float_only = Op == Binary::div || Op == Binary::relu_backward || Op == Binary::gelu_backward ||
                                Op == Binary::gelu_tanh_backward || Op == Binary::pow || Op == Binary::atan2 ||
                                Op == Binary::hypot || Op == Binary::copysign;
    constexpr bool shift = Op == Binary::shl || Op == Binary::shr;
    if constexpr (bitwise) {
      if constexpr (is_bitwise_int<T> && !(shift && std::is_same_v<T, bool>)) {
        run_map<T, 3>(L, BinaryFn<Op>{}, s);
        ok = true;
      }
    } else if constexpr (is_float<T> || (is_binary_int<T> && !float_only)) {
      run_map<T, 3>(L, BinaryFn<Op>{}, s);
      ok = true;
    }
  });
  return ok;
}

template <Unary Op>
bool unary_for(int dtype, const Layout<2>& L, cudaStream_t s, const UnaryArgs& args) {
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr bool ints = Op == Unary::neg || Op == Unary::relu || Op == Unary::square || Op == Unary::abs ||
                          Op == Unary::sign || Op == Unary::clamp;
    if constexpr (Op == Unary::bit_not) {
      if constexpr (is_bitwise_int<T>) {
        run_map<T, 2>(L, UnaryFn<Op>{args}, s);
        ok = true;
      }
    } else if constexpr (is_float<T> || (is_binary_int<T> && ints)) {
      run_map<T, 2>(L, UnaryFn<Op>{args}, s);
      ok = true;
    }
  });
  return ok;
}

// The CPU's two formulas meeting at weight 0.5, so weights 0 and 1 are exact.
template <class T>
__global__ void lerp_strided(Layout<4> L) {
  using C = acc_t<T>;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < L.numel; i += stride) {
    int64_t off[4];
    offsets_of(L, i, off);
    const C a = convert<C>(*reinterpret_cast<const T*>(L.ptrs[1] + off[1]));
    const C b = convert<C>(*reinterpret_cast<const T*>(L.ptrs[2] + off[2]));
    const C w = convert<C>(*reinterpret_cast<const T*>(L.ptrs[3] + off[3]));
    const C r = (w < C(0.5) && w > C(-0.5)) ? a + w * (b - a) : b - (b - a) * (C(1) - w);
    *reinterpret_cast<T*>(L.ptrs[0] + off[0]) = convert<T>(r);
  }
}

}  // namespace

bool launch_lerp(int dtype, const Layout<4>& L, cudaStream_t s) {
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (is_float<T>) {
      lerp_strided<T><<<blocks_for(L.numel), kThreads, 0, s>>>(L);
      ok = true;
    }
  });
  return ok;
}

bool launch_binary(Binary op, int dtype, const Layout<3>& L, cudaStream_t s) {
  switch (op) {
    case Binary::add: return binary_for<Binary::add>(dtype, L, s);
    case Binary::sub: return binary_for<Binary::sub>(dtype, L, s);
    case Binary::mul: return binary_for<Binary::mul>(dtype, L, s);
    case Binary::div: return binary_for<Binary::div>(dtype, L, s);
    case Binary::maximum: return binary_for<Binary::maximum>(dtype, L, s);
    case Binary::minimum: return binary_for<Binary::minimum>(dtype, L, s);
    case Binary::relu_backward: return binary_for<Binary::relu_backward>(dtype, L, s);
    case Binary::remainder: return binary_for<Binary::remainder>(dtype, L, s);
    case Binary::floor_divide: return binary_for<Binary::floor_divide>(dtype, L, s);
    case Binary::fmod: return binary_for<Binary::fmod>(dtype, L, s);
    case Binary::gelu_backward: return binary_for<Binary::gelu_backward>(dtype, L, s);
    case Binary::gelu_tanh_backward: return binary_for<Binary::gelu_tanh_backward>(dtype, L, s);
    case Binary::pow: return binary_for<Binary::pow>(dtype, L, s);
    case Binary::atan2: return binary_for<Binary::atan2>(dtype, L, s);
    case Binary::hypot: return binary_for<Binary::hypot>(dtype, L, s);
    case Binary::copysign: return binary_for<Binary::copysign>(dtype, L, s);
    case Binary::bit_and: return binary_for<Binary::bit_and>(dtype, L, s);
    case Binary::bit_or: return binary_for<Binary::bit_or>(dtype, L, s);
    case Binary::bit_xor: return binary_for<Binary::bit_xor>(dtype, L, s);
    case Binary::shl: return binary_for<Binary::shl>(dtype, L, s);
    case Binary::shr: return binary_for<Binary::shr>(dtype, L, s);
  }
  return false;
}

bool launch_unary(Unary op, int dtype, const Layout<2>& L, cudaStream_t s, const UnaryArgs& args) {
  switch (op) {
    case Unary::neg: return unary_for<Unary::neg>(dtype, L, s, args);
    case Unary::exp: return unary_for<Unary::exp>(dtype, L, s, args);
    case Unary::log: return unary_for<Unary::log>(dtype, L, s, args);
    case Unary::relu: return unary_for<Unary::relu>(dtype, L, s, args);
    case Unary::tanh: return unary_for<Unary::tanh>(dtype, L, s, args);
    case Unary::sigmoid: return unary_for<Unary::sigmoid>(dtype, L, s, args);
    case Unary::reciprocal: return unary_for<Unary::reciprocal>(dtype, L, s, args);
    case Unary::square: return unary_for<Unary::square>(dtype, L, s, args);
    case Unary::sqrt: return unary_for<Unary::sqrt>(dtype, L, s, args);
    case Unary::rsqrt: return unary_for<Unary::rsqrt>(dtype, L, s, args);
    case Unary::abs: return unary_for<Unary::abs>(dtype, L, s, args);
    case Unary::erf: return unary_for<Unary::erf>(dtype, L, s, args);
    case Unary::gelu: return unary_for<Unary::gelu>(dtype, L, s, args);
    case Unary::gelu_tanh: return unary_for<Unary::gelu_tanh>(dtype, L, s, args);
    case Unary::sin: return unary_for<Unary::sin>(dtype, L, s, args);
    case Unary::cos: return unary_for<Unary::cos>(dtype, L, s, args);
    case Unary::tan: return unary_for<Unary::tan>(dtype, L, s, args);
    case Unary::asin: return unary_for<Unary::asin>(dtype, L, s, args);
    case Unary::acos: return unary_for<Unary::acos>(dtype, L, s, args);
    case Unary::atan: return unary_for<Unary::atan>(dtype, L, s, args);
    case Unary::sinh: return unary_for<Unary::sinh>(dtype, L, s, args);
    case Unary::cosh: return unary_for<Unary::cosh>(dtype, L, s, args);
    case Unary::asinh: return unary_for<Unary::asinh>(dtype, L, s, args);
    case Unary::acosh: return unary_for<Unary::acosh>(dtype, L, s, args);
    case Unary::atanh: return unary_for<Unary::atanh>(dtype, L, s, args);
    case Unary::log2: return unary_for<Unary::log2>(dtype, L, s, args);
    case Unary::log10: return unary_for<Unary::log10>(dtype, L, s, args);
    case Unary::log1p: return unary_for<Unary::log1p>(dtype, L, s, args);
    case Unary::expm1: return unary_for<Unary::expm1>(dtype, L, s, args);
    case Unary::exp2: return unary_for<Unary::exp2>(dtype, L, s, args);
    case Unary::erfc: return unary_for<Unary::erfc>(dtype, L, s, args);
    case Unary::floor: return unary_for<Unary::floor>(dtype, L, s, args);
    case Unary::ceil: return unary_for<Unary::ceil>(dtype, L, s, args);
    case Unary::trunc: return unary_for<Unary::trunc>(dtype, L, s, args);
    case Unary::silu: return unary_for<Unary::silu>(dtype, L, s, args);
    case Unary::erfinv: return unary_for<Unary::erfinv>(dtype, L, s, args);
    case Unary::bit_not: return unary_for<Unary::bit_not>(dtype, L, s, args);
    case Unary::leaky_relu: return unary_for<Unary::leaky_relu>(dtype, L, s, args);
    case Unary::elu: return unary_for<Unary::elu>(dtype, L, s, args);
    case Unary::softplus: return unary_for<Unary::softplus>(dtype, L, s, args);
    case Unary::hardsigmoid: return unary_for<Unary::hardsigmoid>(dtype, L, s, args);
    case Unary::hardswish: return unary_for<Unary::hardswish>(dtype, L, s, args);
    case Unary::round: return unary_for<Unary::round>(dtype, L, s, args);
    case Unary::nan_to_num: return unary_for<Unary::nan_to_num>(dtype, L, s, args);
    case Unary::sign: return unary_for<Unary::sign>(dtype, L, s, args);
    case Unary::clamp: return unary_for<Unary::clamp>(dtype, L, s, args);
  }
  return false;
}

}  // namespace tessel::cuda
