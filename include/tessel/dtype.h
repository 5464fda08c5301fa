#pragma once
#include <complex>
#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <type_traits>

#include "tessel/export.h"
#include "tessel/float8.h"

namespace tessel {

// Order matters only for the registry table index; promotion does not rely on it.
enum class DType : uint8_t {
  Bool,
  UInt8,
  Int8,
  Int16,
  Int32,
  Int64,
  Float16,
  BFloat16,
  Float32,
  Float64,
  Complex64,
  Complex128,
  // Appended so the numbers above keep their meaning (registry tables, files).
  UInt16,
  UInt32,
  UInt64,
  // Cast-only (tessel/float8.h): storage, copies, views and casts, no arithmetic.
  Float8E4M3FN,
  Float8E4M3FNUZ,
  Float8E5M2,
  Float8E5M2FNUZ,
  Float8E8M0FNU,
  Float4E2M1FN,
  Int4,
  UInt4,
  Int2,
  UInt2,
};
inline constexpr int kNumDTypes = 25;
inline constexpr DType kFirstCastOnly = DType::Float8E4M3FN;

// IEEE binary16 with round-to-nearest-even conversion from float.
struct Half {
  uint16_t bits = 0;
  Half() = default;
  Half(float f) : bits(from_float(f)) {}  // NOLINT: implicit like a builtin float type
  operator float() const { return to_float(bits); }
  static constexpr Half from_bits(uint16_t b) {
    Half h;
    h.bits = b;
    return h;
  }
  static uint16_t from_float(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {  // inf or nan; keep nan quiet
      return static_cast<uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
    }
    if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
    if (ax < 0x38800000u) {                                             // subnormal half or zero
      // Scale into the subnormal range; the float adder rounds to nearest even for us.
      float a;
      std::memcpy(&a, &ax, 4);
      a += 0.5f;  // 0.5 has the exponent that aligns the half subnormal ulp (2^-24) at bit 0
      uint32_t r;
      std::memcpy(&r, &a, 4);
      return static_cast<uint16_t>(sign | (r - 0x3f000000u));
    }
    // Normal: rebias exponent (127 -> 15) and round the 13 dropped bits to nearest even.
    const uint32_t odd = (ax >> 13) & 1u;
    const uint32_t r = ax + 0xc8000fffu + odd;  // -(112 << 23) + 0xfff
    return static_cast<uint16_t>(sign | (r >> 13));
  }
  static float to_float(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
      bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
      if (man == 0) {
        bits = sign;
      } else {  // subnormal: value = man * 2^-24
        float f = static_cast<float>(man) * 5.9604644775390625e-08f;
        std::memcpy(&bits, &f, 4);
        bits |= sign;
      }
    } else {
      bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

// bfloat16: the top half of a float32, rounded to nearest even.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  BFloat16(float f) : bits(from_float(f)) {}  // NOLINT
  operator float() const {
    uint32_t x = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &x, 4);
    return f;
  }
  static constexpr BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }
  // Round to nearest even; NaN stays a quiet NaN. Branch-free, so cast loops vectorize.
  static uint16_t from_float(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (x >> 16) | 0x40u;
    return static_cast<uint16_t>((x & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
  }
};

using complex64 = std::complex<float>;
using complex128 = std::complex<double>;

template <class T>
struct dtype_of;
#define TESSEL_DTYPE_OF(T, D) \
  template <>                 \
  struct dtype_of<T> {        \
    static constexpr DType value = DType::D; \
  };
TESSEL_DTYPE_OF(bool, Bool)
TESSEL_DTYPE_OF(uint8_t, UInt8)
TESSEL_DTYPE_OF(int8_t, Int8)
TESSEL_DTYPE_OF(int16_t, Int16)
TESSEL_DTYPE_OF(int32_t, Int32)
TESSEL_DTYPE_OF(int64_t, Int64)
TESSEL_DTYPE_OF(Half, Float16)
TESSEL_DTYPE_OF(BFloat16, BFloat16)
TESSEL_DTYPE_OF(float, Float32)
TESSEL_DTYPE_OF(double, Float64)
TESSEL_DTYPE_OF(complex64, Complex64)
TESSEL_DTYPE_OF(complex128, Complex128)
TESSEL_DTYPE_OF(uint16_t, UInt16)
TESSEL_DTYPE_OF(uint32_t, UInt32)
TESSEL_DTYPE_OF(uint64_t, UInt64)
TESSEL_DTYPE_OF(Float8E4M3FN, Float8E4M3FN)
TESSEL_DTYPE_OF(Float8E4M3FNUZ, Float8E4M3FNUZ)
TESSEL_DTYPE_OF(Float8E5M2, Float8E5M2)
TESSEL_DTYPE_OF(Float8E5M2FNUZ, Float8E5M2FNUZ)
TESSEL_DTYPE_OF(Float8E8M0FNU, Float8E8M0FNU)
TESSEL_DTYPE_OF(Float4E2M1FN, Float4E2M1FN)
TESSEL_DTYPE_OF(Int4, Int4)
TESSEL_DTYPE_OF(UInt4, UInt4)
TESSEL_DTYPE_OF(Int2, Int2)
TESSEL_DTYPE_OF(UInt2, UInt2)
#undef TESSEL_DTYPE_OF
template <class T>
inline constexpr DType dtype_v = dtype_of<T>::value;

// Whether a dtype only stores and casts (float8, float4, int4, int2).
inline constexpr bool is_cast_only(DType d) { return d >= kFirstCastOnly; }
// TypeError naming `op`: a cast-only dtype reached an op that computes.
[[noreturn]] TESSEL_API void fail_cast_only(const char* op, DType d);

// Calls f(std::type_identity<T>{}) with the C++ type of `d`, for every dtype
// (the cast-only ones included). The one switch on dtypes in the code base:
// everything else goes through this or visit_dtype.
template <class F>
decltype(auto) visit_any_dtype(DType d, F&& f) {
  switch (d) {
    case DType::Bool: return f(std::type_identity<bool>{});
    case DType::UInt8: return f(std::type_identity<uint8_t>{});
    case DType::Int8: return f(std::type_identity<int8_t>{});
    case DType::Int16: return f(std::type_identity<int16_t>{});
    case DType::Int32: return f(std::type_identity<int32_t>{});
    case DType::Int64: return f(std::type_identity<int64_t>{});
    case DType::Float16: return f(std::type_identity<Half>{});
    case DType::BFloat16: return f(std::type_identity<BFloat16>{});
    case DType::Float32: return f(std::type_identity<float>{});
    case DType::Float64: return f(std::type_identity<double>{});
    case DType::Complex64: return f(std::type_identity<complex64>{});
    case DType::UInt16: return f(std::type_identity<uint16_t>{});
    case DType::UInt32: return f(std::type_identity<uint32_t>{});
    case DType::UInt64: return f(std::type_identity<uint64_t>{});
    case DType::Float8E4M3FN: return f(std::type_identity<Float8E4M3FN>{});
    case DType::Float8E4M3FNUZ: return f(std::type_identity<Float8E4M3FNUZ>{});
    case DType::Float8E5M2: return f(std::type_identity<Float8E5M2>{});
    case DType::Float8E5M2FNUZ: return f(std::type_identity<Float8E5M2FNUZ>{});
    case DType::Float8E8M0FNU: return f(std::type_identity<Float8E8M0FNU>{});
    case DType::Float4E2M1FN: return f(std::type_identity<Float4E2M1FN>{});
    case DType::Int4: return f(std::type_identity<Int4>{});
    case DType::UInt4: return f(std::type_identity<UInt4>{});
    case DType::Int2: return f(std::type_identity<Int2>{});
    case DType::UInt2: return f(std::type_identity<UInt2>{});
    case DType::Complex128: break;
  }
  return f(std::type_identity<complex128>{});
}

// visit_any_dtype over the dtypes that compute: a cast-only one is a TypeError.
template <class F>
decltype(auto) visit_dtype(DType d, F&& f) {
  return visit_any_dtype(d, [&]<class T>(std::type_identity<T> t) -> decltype(auto) {
    if constexpr (is_cast_only_v<T>) {
      fail_cast_only("tessel", d);
      return f(std::type_identity<float>{});  // not reached; gives this branch f's return type
    } else {
      return f(t);
    }
  });
}

template <class T>
inline constexpr bool is_complex_v = std::is_same_v<T, complex64> || std::is_same_v<T, complex128>;
template <class T>
inline constexpr bool is_reduced_float_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
template <class T>
inline constexpr bool is_float_v = std::is_floating_point_v<T> || is_reduced_float_v<T>;

TESSEL_API const char* dtype_name(DType d);  // "float32"
TESSEL_API size_t itemsize(DType d);
TESSEL_API bool is_floating(DType d);  // float16 .. float64
TESSEL_API bool is_complex(DType d);
TESSEL_API bool is_integral(DType d, bool include_bool = false);
TESSEL_API bool is_signed(DType d);
TESSEL_API bool is_unsigned(DType d);  // uint8 .. uint64
TESSEL_API DType to_complex(DType d);  // float32 -> complex64, float64 -> complex128
TESSEL_API DType to_real(DType d);     // complex64 -> float32
TESSEL_API DType dtype_from_name(const char* op, const char* name);  // throws TypeError

// PyTorch's promotion lattice for two dtypes (documented in docs/tensors.md).
TESSEL_API DType promote_types(DType a, DType b);
// Whether an in-place op may write a `from` result into a `to` tensor
// (no downgrade across categories: float -> int, complex -> float, ... -> bool).
TESSEL_API bool can_cast(DType from, DType to);

TESSEL_API DType default_float_dtype();
TESSEL_API void set_default_float_dtype(DType d);

TESSEL_API std::ostream& operator<<(std::ostream& os, DType d);

}  // namespace tessel
