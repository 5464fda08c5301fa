#pragma once
// What the reduction kernels share (reduce.cpp, reduce_index.cpp).
#include <cmath>
#include <type_traits>

namespace tessel::cpu {

// Floats whose folds run in GCC vector lanes.
template <class T>
constexpr bool lanes_v = std::is_same_v<T, float> || std::is_same_v<T, double>;

// v replaces best in a max (is_max) or min fold: NaN beats everything, and the first NaN stays.
template <class A>
inline bool better(A v, A best, bool is_max) {
  if constexpr (std::is_floating_point_v<A>) {
    if (std::isnan(best)) return false;
    if (std::isnan(v)) return true;
  }
  return is_max ? v > best : v < best;
}

}  // namespace tessel::cpu
