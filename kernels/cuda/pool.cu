// max_pool2d on CUDA: a thread per output scans its window in the CPU's order
// (rows, then columns), so ties and NaN pick the CPU's index; the backward
// scatters with atomics (overlapping windows may share an input).
#include "kernels/cuda/device/common.cuh"
#include "kernels/cuda/launch_pool.h"

namespace tessel::cuda {
namespace {

template <class T>
__global__ void max_pool_kernel(PoolGeom g, const T* x, T* y, int64_t* idx) {
  const int64_t n = g.planes * g.Ho * g.Wo, step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t o = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; o < n; o += step) {
    const int64_t ow = o % g.Wo, oh = (o / g.Wo) % g.Ho, pl = o / (g.Wo * g.Ho);
    const T* in = x + pl * g.H * g.W;
    T best = T(0);
    int64_t at = -1;
    for (int64_t i = 0; i < g.k[0]; ++i) {
      const int64_t h = oh * g.s[0] - g.p[0] + i * g.d[0];
      if (h < 0 || h >= g.H) continue;
      for (int64_t j = 0; j < g.k[1]; ++j) {
        const int64_t w = ow * g.s[1] - g.p[1] + j * g.d[1];
        if (w < 0 || w >= g.W) continue;
        const T v = in[h * g.W + w];
        // The first maximum wins ties; NaN wins over numbers (the first NaN stays).
        if (at < 0 || ((v > best || v != v) && best == best)) best = v, at = h * g.W + w;
      }
    }
    y[o] = best;
    idx[o] = at;
  }
}

template <class T>
__global__ void max_pool_backward_kernel(PoolGeom g, const T* gy, const int64_t* idx, T* gx) {
  const int64_t n = g.planes * g.Ho * g.Wo, step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t o = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; o < n; o += step) {
    const int64_t pl = o / (g.Ho * g.Wo);
    if (idx[o] >= 0) atomicAdd(gx + pl * g.H * g.W + idx[o], gy[o]);
  }
}

}  // namespace

bool launch_max_pool2d(int dtype, const PoolGeom& g, const void* x, void* y, int64_t* idx, cudaStream_t s) {
  const int64_t n = g.planes * g.Ho * g.Wo;
  return for_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    max_pool_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(g, static_cast<const T*>(x), static_cast<T*>(y), idx);
  });
}

bool launch_max_pool2d_backward(int dtype, const PoolGeom& g, const void* gy, const int64_t* idx, void* gx,
                                cudaStream_t s) {
  const int64_t n = g.planes * g.Ho * g.Wo;
  return for_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    cudaMemsetAsync(gx, 0, static_cast<size_t>(g.planes * g.H * g.W) * sizeof(T), s);
    max_pool_backward_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(g, static_cast<const T*>(gy), idx,
                                                                   static_cast<T*>(gx));
  });
}

}  // namespace tessel::cuda
