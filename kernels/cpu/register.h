#pragma once
// Registration helpers for CPU kernels: register_for<types...>(op, maker)
// calls maker(type_identity<T>) for each T and registers the returned kernel.
#include <type_traits>

#include "tessel/registry.h"

namespace tessel::cpu {

template <class T>
using acc_t = std::conditional_t<is_reduced_float_v<T>, float, T>;  // compute type of T

template <class... Ts>
struct TypeList {};

using IntTypes = TypeList<uint8_t, int8_t, int16_t, int32_t, int64_t, uint16_t, uint32_t, uint64_t>;
using FloatTypes = TypeList<Half, BFloat16, float, double>;
using ComplexTypes = TypeList<complex64, complex128>;

template <class... A, class... B>
constexpr TypeList<A..., B...> operator+(TypeList<A...>, TypeList<B...>) {
  return {};
}
using BoolType = TypeList<bool>;
using RealTypes = decltype(IntTypes{} + FloatTypes{});
using NumberTypes = decltype(RealTypes{} + ComplexTypes{});
using AllTypes = decltype(BoolType{} + NumberTypes{});
// Cast-only dtypes (tessel/float8.h): copy (with casts) and fill only.
using CastOnlyTypes = TypeList<Float8E4M3FN, Float8E4M3FNUZ, Float8E5M2, Float8E5M2FNUZ, Float8E8M0FNU, Float4E2M1FN,
                               Int4, UInt4, Int2, UInt2>;
using StorageTypes = decltype(AllTypes{} + CastOnlyTypes{});

template <class F, class... Ts>
void register_for(TypeList<Ts...>, OpId op, F&& make) {
  (Registry::get().add(op, DeviceType::CPU, dtype_v<Ts>, make(std::type_identity<Ts>{})), ...);
}

}  // namespace tessel::cpu
