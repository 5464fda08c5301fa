#pragma once
#include <cmath>
#include <limits>
#include <type_traits>

#include "tessel/dtype.h"

namespace tessel {

// Value conversion with tessel's documented cast semantics (docs/tensors.md):
// float -> int truncates toward zero, saturates out-of-range values and maps
// NaN to 0; int -> narrower int wraps (two's complement); complex -> real drops
// the imaginary part; anything -> bool is "!= 0"; float16/bfloat16 round to
// nearest even. The cast-only dtypes (tessel/float8.h) go through float or int:
// small floats round to nearest even (too large: inf or NaN, as ml_dtypes and
// PyTorch; float4 saturates; e8m0 rounds to nearest as PyTorch), small ints truncate
// and wrap (through int32, as ml_dtypes).
template <class To, class From>
inline To cast_value(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (is_small_float_v<From>) {
    return cast_value<To>(static_cast<float>(v));
  } else if constexpr (is_small_int_v<From>) {
    return cast_value<To>(static_cast<int>(v));
  } else if constexpr (is_cast_only_v<To>) {
    if constexpr (is_complex_v<From>) {
      return cast_value<To>(v.real());
    } else if constexpr (is_small_int_v<To>) {
      if constexpr (is_float_v<From>) {  // through int32 as ml_dtypes: NaN and what int32 cannot hold give 0
        const double x = static_cast<double>(static_cast<std::conditional_t<is_reduced_float_v<From>, float, From>>(v));
        return (x > -2147483649.0 && x < 2147483648.0) ? To(static_cast<int64_t>(x)) : To(0);
      }
      else return To(static_cast<int64_t>(v));
    } else if constexpr (is_reduced_float_v<From>) {
      return To(static_cast<double>(static_cast<float>(v)));
    } else {
      return To(static_cast<double>(v));
    }
  } else if constexpr (is_complex_v<From> && !is_complex_v<To>) {
    if constexpr (std::is_same_v<To, bool>) return v.real() != 0 || v.imag() != 0;
    else return cast_value<To>(v.real());
  } else if constexpr (is_complex_v<To>) {
    using R = typename To::value_type;
    if constexpr (is_complex_v<From>) return To(static_cast<R>(v.real()), static_cast<R>(v.imag()));
    else return To(cast_value<R>(v), R(0));
  } else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (is_reduced_float_v<From>) return static_cast<float>(v) != 0.0f;
    else return v != From(0);
  } else if constexpr (std::is_integral_v<To>) {
    if constexpr (is_float_v<From>) {
      using W = std::conditional_t<std::is_same_v<From, double>, double, float>;
      const W x = static_cast<W>(v);
      if (std::isnan(x)) return To(0);
      // Bounds are exact powers of two, so the comparisons are exact.
      constexpr W lo = static_cast<W>(std::numeric_limits<To>::min());
      const W top = std::is_signed_v<To> ? -lo : static_cast<W>(2) * static_cast<W>(std::numeric_limits<To>::max() / 2 + 1);
      if (x <= lo) return std::numeric_limits<To>::min();
      if (x >= top) return std::numeric_limits<To>::max();
      return static_cast<To>(x);
    } else {
      return static_cast<To>(v);
    }
  } else if constexpr (is_reduced_float_v<To>) {
    if constexpr (is_reduced_float_v<From>) return To(static_cast<float>(v));
    else return To(static_cast<float>(v));
  } else {  // float or double from real
    if constexpr (is_reduced_float_v<From>) return static_cast<To>(static_cast<float>(v));
    else return static_cast<To>(v);
  }
}

}  // namespace tessel
