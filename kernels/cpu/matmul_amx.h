// bfloat16 matmul on Intel AMX tiles (matmul_amx.cpp).
#pragma once

#include "tessel/tensor.h"

namespace tessel::cpu {

// out [B, M, N] (contiguous) = a [B, M, K] @ b [B, K, N] (+ bias [N], contiguous, added in
// float32 before the one rounding), all bfloat16; a's rows contiguous, b's rows or columns. False, having done nothing,
// where the CPU lacks AMX-BF16, TESSEL_AMX=0 is set, or the product is one oneDNN measured as fast on (below 2^28
// multiply-adds or a side under 256).
bool amx_bf16_matmul(const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& bias = Tensor());

}  // namespace tessel::cpu
