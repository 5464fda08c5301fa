#pragma once
// Argument helpers shared by the nn ops.
#include <string>

#include "tessel/error.h"
#include "tessel/tensor.h"

namespace tessel::nn::functional::detail {

// One value for every spatial dim, or one per dim: expanded to `n` values.
inline Shape per_dim(const char* op, const char* what, const Shape& v, size_t n) {
  if (v.size() == 1) return Shape(n, v[0]);
  TS_CHECK(v.size() == n, ValueError, op, what, " must have 1 or ", n, " values, got ", v);
  return v;
}

// Optional spatial inputs: a missing batch dim is added (and removed from the result).
inline bool add_batch(const char* op, const Tensor& t, int64_t spatial) {
  TS_CHECK(t.dim() == spatial + 1 || t.dim() == spatial + 2, ValueError, op, "expected a ", spatial + 1, "-D or ",
           spatial + 2, "-D input, got shape ", t.shape());
  return t.dim() == spatial + 1;
}

inline void check_reduction(const char* op, const std::string& r) {
  TS_CHECK(r == "mean" || r == "sum" || r == "none", ValueError, op, "reduction must be 'mean', 'sum' or 'none', got '",
           r, "'");
}

}  // namespace tessel::nn::functional::detail
