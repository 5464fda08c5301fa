#pragma once
// Launch functions of kernels/cuda/norm.cu (layer_norm and its backward over
// contiguous rows [R, D]), apart from launch.h as launch_pool.h is.
#include <cstdint>

#include "kernels/cuda/launch.h"

namespace tessel::cuda {

// y = (x - mean) * rstd * w + b per row; mean and rstd [R] out (rstd = 1 / sqrt(var + eps)).
bool launch_layer_norm(int dtype, int64_t R, int64_t D, double eps, const void* x, const void* w, const void* b,
                       void* y, void* mean, void* rstd, cudaStream_t s);
// Rows of the column partial sums the backward needs: scratch holds 2 * rows * D values.
int64_t layer_norm_backward_chunks(int64_t R);
// dx from g, x, mean, rstd, w; dw and db (both or neither) as column sums through `scratch`.
bool launch_layer_norm_backward(int dtype, int64_t R, int64_t D, const void* g, const void* x, const void* mean,
                                const void* rstd, const void* w, void* dx, void* dw, void* db, void* scratch,
                                cudaStream_t s);

}  // namespace tessel::cuda
