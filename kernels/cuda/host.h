#pragma once
// Host-side helpers shared by the files that register CUDA kernels: the
// device iterator's metadata from the CPU iterator's, and launching on the
// tensor's device and current stream with launch errors turned into exceptions.
#include <array>

#include "kernels/cpu/strided_layout.h"
#include "kernels/cuda/launch.h"
#include "src/cuda/runtime.h"
#include "tessel/error.h"

namespace tessel::cuda {

template <int N>
Layout<N> layout_of(const std::array<const Tensor*, N>& ts) {
  const cpu::StridedLayout<N> c = cpu::make_layout<N>(ts);
  Layout<N> L;
  L.ndim = c.ndim;
  L.numel = c.numel;
  bool dense = c.ndim <= 1;
  for (int d = 0; d < c.ndim; ++d) L.sizes[d] = c.sizes[d];
  for (int k = 0; k < N; ++k) {
    for (int d = 0; d < c.ndim; ++d) L.strides[k][d] = c.strides[k][d];
    L.ptrs[k] = static_cast<char*>(ts[k]->data_ptr());
    if (c.ndim == 1) dense = dense && c.strides[k][0] == static_cast<int64_t>(ts[k]->itemsize());
  }
  L.contiguous = dense;
  return L;
}

// Runs `launch(stream)` for the device of `t`; false from it means no kernel was compiled for t's dtype.
template <class F>
void on_device(const char* op, const Tensor& t, F&& launch) {
  const int dev = t.device().index;
  DeviceGuard g(dev);
  const bool ok = launch(current_stream(dev));
  TS_CHECK(ok, NotImplementedError, op, "no CUDA kernel compiled for ", t.dtype());
  check(cudaGetLastError(), op);
}

// The dtype code the launchers take (kernels/cuda/launch.h).
inline int code(DType t) { return static_cast<int>(t); }

}  // namespace tessel::cuda
