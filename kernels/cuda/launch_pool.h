#pragma once
// Launch functions of kernels/cuda/pool.cu (max_pool2d and its backward),
// apart from launch.h so that adding them recompiled no other .cu file.
#include <cstdint>

#include "kernels/cuda/launch.h"

namespace tessel::cuda {

// x [planes, H, W] contiguous -> y, idx [planes, Ho, Wo] (h * W + w of the first
// maximum, NaN wins); geometry as PoolParams (kernel, stride, pad, dilation: h then w).
struct PoolGeom {
  int64_t planes, H, W, Ho, Wo, k[2], s[2], p[2], d[2];
};
bool launch_max_pool2d(int dtype, const PoolGeom& g, const void* x, void* y, int64_t* idx, cudaStream_t s);
// grad_x (zeroed here) += grad_y at idx, plane by plane (atomics: windows overlap).
bool launch_max_pool2d_backward(int dtype, const PoolGeom& g, const void* gy, const int64_t* idx, void* gx,
                                cudaStream_t s);

}  // namespace tessel::cuda
