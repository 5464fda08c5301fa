#pragma once
// Internal helpers shared by the core and the ops.
#include <algorithm>
#include <cstdint>
#include <numeric>

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

// t's dims from the largest stride to the smallest (ties keep dim order): its
// memory order, outermost first. permute() by it makes a transposed (permuted
// dense) tensor contiguous.
inline Shape memory_order(const Tensor& t) {
  Shape perm(static_cast<size_t>(t.dim()));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return t.strides()[a] > t.strides()[b]; });
  return perm;
}

// The permutation that undoes `perm` (t.permute(perm).permute(inverse_permutation(perm)) is t).
inline Shape inverse_permutation(const Shape& perm) {
  Shape inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  return inv;
}

// In-place writes to a tensor whose elements share memory (expand) would
// write some of them twice: refuse, as PyTorch does.
inline void check_writable(const char* op, const Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.strides()[d] == 0 && t.shape()[d] > 1) {
      fail<Error>(op, "unsupported operation: more than one element of the written-to tensor refers to a single "
                      "memory location (shape ", t.shape(), ", strides ", t.strides(), "); clone() it first");
    }
  }
}

}  // namespace tessel
