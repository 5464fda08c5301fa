#pragma once
// 2-D float32 matmul with a bias and an activation as oneDNN post-ops, for the
// ONNX runtime's fused MatMul/Gemm nodes (src/onnx/passes_fused.cpp):
// y = act(a @ w + bias), one pass over the output instead of three.
#include "tessel/tensor.h"

namespace tessel::cpu {

enum class MatmulAct : int { none = 0, relu, gelu_erf, gelu_tanh };

// a [M, K] and w [K, N] (any strides) float32 on the CPU; bias [N] float32 or
// undefined. Constant weights (const_weights.h) are packed once.
bool matmul_fused_supported(const Tensor& a, const Tensor& w, const Tensor& bias);
Tensor matmul_fused(const Tensor& a, const Tensor& w, const Tensor& bias, MatmulAct act);

}  // namespace tessel::cpu
