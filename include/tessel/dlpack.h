#pragma once
// DLPack exchange (https://dmlc.github.io/dlpack): the C ABI structs, written
// from the spec, and conversions to and from tessel tensors without copies.
#include <cstdint>

#include "tessel/export.h"
#include "tessel/tensor.h"

extern "C" {
struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};
enum DLDeviceType : int32_t { kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3, kDLCUDAManaged = 13 };
struct DLDevice {
  DLDeviceType device_type;
  int32_t device_id;
};
enum DLDataTypeCode : uint8_t { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLOpaqueHandle = 3, kDLBfloat = 4,
                                kDLComplex = 5, kDLBool = 6 };
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; null means row-major contiguous
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;
  DLTensor dl_tensor;
};
}

namespace tessel {

inline constexpr uint64_t kDLFlagReadOnly = 1ull << 0;
inline constexpr uint64_t kDLFlagIsCopied = 1ull << 1;

// Exports a view of `t` (shares memory; the result keeps it alive until its deleter runs).
TESSEL_API DLManagedTensorVersioned* to_dlpack_versioned(const Tensor& t, uint64_t flags = 0);
TESSEL_API DLManagedTensor* to_dlpack(const Tensor& t);
// Takes ownership: the managed tensor's deleter runs when the last view of the result dies.
TESSEL_API Tensor from_dlpack(DLManagedTensorVersioned* m);
TESSEL_API Tensor from_dlpack(DLManagedTensor* m);

TESSEL_API DLDataType to_dl_dtype(DType d);
TESSEL_API DType from_dl_dtype(DLDataType t);  // throws TypeError for unsupported types
TESSEL_API DLDevice to_dl_device(Device d);
TESSEL_API Device from_dl_device(DLDevice d);

}  // namespace tessel
