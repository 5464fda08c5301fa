#pragma once
// Convolution with oneDNN post-ops, for the ONNX runtime's fused nodes
// (src/onnx/passes_fused.cpp): y = act(conv(x, w) + b [+ residual]), the sum
// and the activation applied while the output tile is still in cache.
#include "tessel/kernel.h"
#include "tessel/tensor.h"

namespace tessel::cpu {

enum class ConvAct : int { none = 0, relu, clip, sigmoid, leaky_relu };

struct ConvPost {
  ConvAct act = ConvAct::none;
  float alpha = 0, beta = 0;  // clip: [alpha, beta]; leaky_relu: slope alpha
};

// Whether conv2d_fused takes these operands: float32 CPU tensors, x [N,C,H,W],
// w [O, C/groups, kh, kw]; otherwise callers compose the unfused ops.
bool conv2d_fused_supported(const Tensor& x, const Tensor& w);

// y = act(conv2d(x, w, bias) + residual); bias and residual may be undefined.
// residual has y's shape [N, O, Ho, Wo] (from params and x, w).
Tensor conv2d_fused(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& residual,
                    const ConvParams& p, const ConvPost& post);

}  // namespace tessel::cpu
