// rms_norm's fused CPU path, called by tessel.nn.functional.rms_norm (Python) through
// the _C._nn binding; a header of its own so that adding it rebuilds two files.
#pragma once
#include <cstdint>
#include <optional>

#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel::nn::functional {
// y = x * rsqrt(mean(x^2 over the last k dims) + eps) * weight in one kernel, with its
// own backward kernel (rms_norm_fused, rms_norm_fused_backward). nullopt where those
// do not apply (a dtype or device without the kernel, autocast, an export trace):
// the caller then composes the ops.
TESSEL_API std::optional<Tensor> rms_norm_fused(const Tensor& input, int64_t k, const std::optional<Tensor>& weight,
                                                double eps);
}  // namespace tessel::nn::functional
