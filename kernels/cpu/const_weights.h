#pragma once
// Weights that are never written after they are marked (an ONNX model's
// initializers): convolution kernels reorder them into their primitive's
// blocked layout once and reuse the copy. A mark lapses when the storage dies.
#include "tessel/tensor.h"

namespace tessel::cpu {

void mark_constant_weight(const Tensor& t);
bool is_constant_weight(const Tensor& t);

}  // namespace tessel::cpu
