#pragma once
#include <complex>
#include <cstdint>
#include <type_traits>

#include "tessel/cast.h"
#include "tessel/dtype.h"

namespace tessel {

// A host number as it comes from Python or C++ literals. In promotion it is
// "weak": it picks a category (bool < int < float < complex) but never widens
// a tensor's dtype within that category.
class Scalar {
 public:
  enum class Kind : uint8_t { Bool, Int, Float, Complex };

  Scalar() : kind_(Kind::Int), i_(0) {}
  Scalar(bool v) : kind_(Kind::Bool), i_(v) {}  // NOLINT
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T v) : kind_(Kind::Int), u64_(above_int64(v)), i_(static_cast<int64_t>(v)) {}  // NOLINT
  template <class T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T v) : kind_(Kind::Float), d_(static_cast<double>(v)) {}  // NOLINT
  Scalar(Half v) : Scalar(static_cast<float>(v)) {}      // NOLINT
  Scalar(BFloat16 v) : Scalar(static_cast<float>(v)) {}  // NOLINT
  template <class T, std::enable_if_t<is_cast_only_v<T>, int> = 0>
  Scalar(T v) : Scalar(cast_value<std::conditional_t<is_small_float_v<T>, float, int64_t>>(v)) {}  // NOLINT
  template <class T>
  Scalar(std::complex<T> v) : kind_(Kind::Complex), c_(v.real(), v.imag()) {}  // NOLINT

  Kind kind() const { return kind_; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_complex() const { return kind_ == Kind::Complex; }
  // An int above int64's range (a uint64 value): stands alone as uint64.
  bool is_big_uint() const { return u64_; }

  // The dtype a scalar has when it stands alone (ts.tensor(1.5) is float32).
  DType dtype() const {
    switch (kind_) {
      case Kind::Bool: return DType::Bool;
      case Kind::Int: return u64_ ? DType::UInt64 : DType::Int64;
      case Kind::Float: return default_float_dtype();
      case Kind::Complex: break;
    }
    return default_float_dtype() == DType::Float64 ? DType::Complex128 : DType::Complex64;
  }

  template <class T>
  T to() const {
    switch (kind_) {
      case Kind::Bool: return cast_value<T>(i_ != 0);
      case Kind::Int: return u64_ ? cast_value<T>(static_cast<uint64_t>(i_)) : cast_value<T>(i_);
      case Kind::Float: return cast_value<T>(d_);
      case Kind::Complex: break;
    }
    return cast_value<T>(c_);
  }

 private:
  template <class T>
  static constexpr bool above_int64(T v) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) == 8) return v > static_cast<T>(INT64_MAX);
    else return false;
  }

  Kind kind_;
  bool u64_ = false;
  union {
    int64_t i_;
    double d_;
    std::complex<double> c_;
  };
};

}  // namespace tessel
