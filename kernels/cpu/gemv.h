#pragma once
// float32 and bfloat16 matmuls of 1 to 4 rows (a decoding step, a batch-1 Linear layer)
// without oneDNN: a plain pass over the weights (gemv.cpp says why).
#include "tessel/tensor.h"

namespace tessel::cpu {

// out = a @ b (+ bias [N], float32 contiguous, when defined; then ReLU when relu)
// for a [B, M, K] with unit stride along K, b [B, K, N] with unit stride along N
// or along K (a transposed view), out [B, M, N] contiguous. False, touching
// nothing, when the operands do not fit (M > 4, other dtypes or strides, tiny
// sizes): the caller takes oneDNN's path.
bool gemv_f32(const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& bias = Tensor(), bool relu = false);
// The same for bfloat16 a, b and out: b read in place (2 bytes a weight), the
// products summed in float32 and rounded once; a bfloat16 bias [N] (contiguous, or
// undefined) is added to every row's sums before that rounding.
bool gemv_bf16(const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& bias = Tensor());
// y [m, n] += bias [n] (float32 or bfloat16, contiguous; undefined: none), then ReLU
// when asked (NaN stays NaN): the epilogue of both gemvs (before bfloat16's one
// rounding) and of F.linear's small sgemm (matmul.cpp).
void bias_relu(float* y, const Tensor& bias, bool relu, int64_t m, int64_t n);

}  // namespace tessel::cpu
