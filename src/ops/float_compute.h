#pragma once
// float16/bfloat16 on the CPU: ops whose kernels are written for float32 and
// float64 only (softmax, log_softmax, logsumexp, the norms) run on float32
// copies and round once at the end, as PyTorch computes them. The casts are
// recorded, so gradients flow through and come back in the input's dtype.
// (Op by op on the reduced dtype they were scalar loops at 3-7x PyTorch's time
// and rounded every intermediate.)
#include <optional>

#include "tessel/tensor.h"

namespace tessel::detail {

inline bool is_reduced_float(DType d) { return d == DType::BFloat16 || d == DType::Float16; }
inline bool float_compute(const Tensor& x) { return is_reduced_float(x.dtype()) && x.device().is_cpu(); }
// x in float32 to be read, not written: a broadcast view (an expanded dim, stride 0) has only its
// distinct elements converted and is expanded back, so logsumexp of a row expanded to 10^7
// elements converts one row, not 10^7 (bfloat16, 2 threads: 11.0 -> 4.4-5.2 ms, 1.43-1.55x -> 0.70x PyTorch's).
inline Tensor widened_view(const Tensor& x) {
  Tensor base = x;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (x.strides()[d] == 0 && x.shape()[d] > 1) base = base.narrow(d, 0, 1);
  const Tensor w = base.to(DType::Float32);
  return base.numel() == x.numel() ? w : w.expand(x.shape());
}
// x in float32 when it is a reduced float; other dtypes (a float32 weight) as they are.
inline Tensor widened(const Tensor& x) { return is_reduced_float(x.dtype()) ? x.to(DType::Float32) : x; }
inline std::optional<Tensor> widened(const std::optional<Tensor>& x) {
  return x ? std::optional<Tensor>(widened(*x)) : std::nullopt;
}

}  // namespace tessel::detail
