#pragma once
// The order sort and unique use for floating values: NaN after every number and
// equal to NaN; -0.0 equal to 0.0. A strict weak order for std::sort.
#include <cmath>
#include <type_traits>

namespace tessel::detail {

template <class T>
bool less_nan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

template <class T>
bool equal_nan(T a, T b) {
  if constexpr (std::is_floating_point_v<T>)
    if (std::isnan(a) && std::isnan(b)) return true;
  return a == b;
}

}  // namespace tessel::detail
