#pragma once
// 2-D float32 matmul with a bias and an activation as oneDNN post-ops, for the
// ONNX runtime's fused MatMul/Gemm nodes (src/onnx/passes_fused.cpp):
// y = act(a @ w + bias), one pass over the output instead of three.
#include <memory>

#include "tessel/tensor.h"

namespace tessel::cpu {

enum class MatmulAct : int { none = 0, relu, gelu_erf, gelu_tanh };

// a [M, K] and w [K, N] (any strides) float32 on the CPU; bias [N] float32 or
// undefined. Constant weights (const_weights.h) are packed once. matmul_fused also takes
// bfloat16 a, w and bias where the CPU has native bfloat16 (linear_bias's kernel).
bool matmul_fused_supported(const Tensor& a, const Tensor& w, const Tensor& bias);
// What one call site (an ONNX node) keeps between calls, as ConvSite
// (conv_fused.h): the primitive, the weight's memory and the memory objects of
// the last shapes. One call at a time; a concurrent call takes the shared cache.
struct MatmulSite;
std::shared_ptr<MatmulSite> make_matmul_site();
// out: a contiguous [M, N] of a's dtype to write into, or undefined for a new one.
Tensor matmul_fused(const Tensor& a, const Tensor& w, const Tensor& bias, MatmulAct act, MatmulSite* site = nullptr,
                    const Tensor& out = Tensor());

// Attention probabilities softmax(a @ b * scale + mask) over the last dim, for
// the ONNX runtime's fused attention nodes: float32 a [B, H, L, D] and
// b [B, H, D, S] (any strides), mask float32 with 4 dims each 1 or the
// product's ([B, 1, 1, S]: a padding mask) or undefined. One matmul with the
// scale and the mask as post-ops, then oneDNN's softmax in place. Returns an
// undefined tensor when oneDNN has no fast kernel for these operands (the
// caller composes the ops).
bool attention_probs_supported(const Tensor& a, const Tensor& b, const Tensor& mask);
Tensor attention_probs(const Tensor& a, const Tensor& b, const Tensor& mask, float scale);

}  // namespace tessel::cpu
