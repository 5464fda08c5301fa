// Derivative rules of the fused layer_norm and rms_norm kernels (rules_nn.cpp); a header of
// its own so that adding it rebuilds two files, not every user of rules.h.
#pragma once
#include <optional>

#include "tessel/tensor.h"

namespace tessel::autograd::rules {
// x2: the input as [R, D] rows; mean and rstd: per row, from the forward kernel
// (constants); out: the output in the input's shape.
void layer_norm(const Tensor& x, const Tensor& x2, const std::optional<Tensor>& weight,
                const std::optional<Tensor>& bias, const Tensor& mean, const Tensor& rstd, double eps,
                const Tensor& out);
// rms_norm: x2 the input as [R, D] rows, rstd per row from the forward kernel.
void rms_norm(const Tensor& x, const Tensor& x2, const std::optional<Tensor>& weight, const Tensor& rstd, double eps,
              const Tensor& out);
}  // namespace tessel::autograd::rules
