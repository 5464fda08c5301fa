#pragma once
// Launch functions of kernels/cuda/norm.cu (layer_norm and its backward over
// contiguous rows [R, D]; scans along a dim), apart from launch.h as launch_pool.h is.
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

// cumsum (prod = false) or cumprod along a dim: `rows` walks out/in with that dim at size 1,
// so = out's and sa = in's byte stride along it. dtype: the input's; out is int64 for
// bool and the integers (the CPU's accumulate dtype), the input's for floats (16-bit ones
// accumulate in float32).
bool launch_scan(bool prod, int dtype, const Layout<2>& rows, int64_t len, int64_t so, int64_t sa, cudaStream_t s);

}  // namespace tessel::cuda
