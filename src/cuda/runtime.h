#pragma once
// Internal helpers of the CUDA backend (src/cuda, kernels/cuda): error checks,
// the current stream and a device guard. Host code only; no tessel types.
#include <cuda_runtime_api.h>

namespace tessel::cuda {

// Throws "[op] CUDA error: <message>" unless rc is cudaSuccess.
void check(cudaError_t rc, const char* op);
// The device index, -1 meaning the current one; throws a clear error when no
// device is available or the index is out of range.
int checked_device(int device, const char* op);
// The stream that work for `device` is queued on (the legacy default stream
// until streams are exposed).
cudaStream_t current_stream(int device);

// Makes `device` current on this thread for a scope.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

}  // namespace tessel::cuda
