#pragma once
// Internal helpers shared by the core and the ops.
#include <cstdint>

#include "tessel/error.h"
#include "tessel/tensor.h"

namespace tessel {

// Wraps a possibly negative dim into [0, ndim); IndexError names the op.
inline int64_t wrap_dim(const char* op, int64_t d, int64_t ndim) {
  const int64_t n = ndim == 0 ? 1 : ndim;  // a 0-d tensor accepts dim 0 and -1, as in PyTorch
  if (d < -n || d >= n) {
    fail<IndexError>(op, "dim ", d, " out of range for a tensor with ", ndim, " dims (expected [", -n, ", ",
                     n - 1, "])");
  }
  return d < 0 ? d + n : d;
}

}  // namespace tessel
