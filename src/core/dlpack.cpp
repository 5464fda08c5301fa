// DLPack export and import: shared memory, no copies.
#include "tessel/dlpack.h"

#include <vector>

#include "tessel/cuda.h"

namespace tessel {

DLDataType to_dl_dtype(DType d) {
  // DLPack 1.1's float8/float4 codes are newer than the DLPack tessel speaks (1.0); NumPy takes them through ml_dtypes.
  if (is_cast_only(d)) fail<TypeError>("to_dlpack", "dtype ", d, " has no DLPack 1.0 type; use .numpy() or cast it");
  const auto bits = static_cast<uint8_t>(itemsize(d) * 8);
  if (d == DType::Bool) return {kDLBool, 8, 1};
  if (is_unsigned(d)) return {kDLUInt, bits, 1};
  if (d == DType::BFloat16) return {kDLBfloat, 16, 1};
  if (is_integral(d)) return {kDLInt, bits, 1};
  if (is_complex(d)) return {kDLComplex, bits, 1};
  return {kDLFloat, bits, 1};
}

DType from_dl_dtype(DLDataType t) {
  TS_CHECK(t.lanes == 1, TypeError, "from_dlpack", "vector dtypes (lanes=", t.lanes, ") are not supported");
  switch (t.code) {
    case kDLBool: if (t.bits == 8) return DType::Bool; break;
    case kDLUInt:
      if (t.bits == 8) return DType::UInt8;
      if (t.bits == 16) return DType::UInt16;
      if (t.bits == 32) return DType::UInt32;
      if (t.bits == 64) return DType::UInt64;
      break;
    case kDLInt:
      if (t.bits == 8) return DType::Int8;
      if (t.bits == 16) return DType::Int16;
      if (t.bits == 32) return DType::Int32;
      if (t.bits == 64) return DType::Int64;
      break;
    case kDLFloat:
      if (t.bits == 16) return DType::Float16;
      if (t.bits == 32) return DType::Float32;
      if (t.bits == 64) return DType::Float64;
      break;
    case kDLBfloat: if (t.bits == 16) return DType::BFloat16; break;
    case kDLComplex:
      if (t.bits == 64) return DType::Complex64;
      if (t.bits == 128) return DType::Complex128;
      break;
    default: break;
  }
  fail<TypeError>("from_dlpack", "unsupported DLPack dtype (code ", int(t.code), ", bits ", int(t.bits), ")");
}

DLDevice to_dl_device(Device d) {
  if (d.type == DeviceType::CPU) return {kDLCPU, 0};
  if (d.type == DeviceType::CUDA) return {kDLCUDA, d.index};
  fail<ValueError>("to_dlpack", "device ", d, " has no DLPack device type");
}

Device from_dl_device(DLDevice d) {
  if (d.device_type == kDLCPU || d.device_type == kDLCUDAHost) return Device(DeviceType::CPU);
  if (d.device_type == kDLCUDA || d.device_type == kDLCUDAManaged) {
    // Refused here, before the capsule is consumed: a CUDA tensor without a
    // runtime would only fail later, at its first use or free.
    TS_CHECK(cuda::is_available(), Error, "from_dlpack", "the tensor is on CUDA device ", d.device_id,
             " (kDLCUDA) but no CUDA device is available here (", cuda::unavailable_reason(), ")");
    TS_CHECK(d.device_id >= 0 && d.device_id < cuda::device_count(), ValueError, "from_dlpack",
             "the tensor is on CUDA device ", d.device_id, " but ", cuda::device_count(), " device(s) are available");
    return Device(DeviceType::CUDA, d.device_id);
  }
  fail<ValueError>("from_dlpack", "unsupported DLPack device type ", int(d.device_type));
}

namespace {
// Owns what the exported DLTensor points at.
template <class Managed>
struct Holder {
  Managed managed{};
  Tensor tensor;  // keeps the storage alive
  std::vector<int64_t> shape, strides;
};

template <class Managed>
Managed* export_tensor(const Tensor& t) {
  auto* h = new Holder<Managed>();
  h->tensor = t;
  h->shape = t.shape();
  h->strides = t.strides();
  DLTensor& d = h->managed.dl_tensor;
  d.data = t.data_ptr();
  d.device = to_dl_device(t.device());
  d.ndim = static_cast<int32_t>(t.dim());
  d.dtype = to_dl_dtype(t.dtype());
  d.shape = h->shape.data();
  d.strides = h->strides.data();
  d.byte_offset = 0;
  h->managed.manager_ctx = h;
  h->managed.deleter = [](Managed* self) { delete static_cast<Holder<Managed>*>(self->manager_ctx); };
  return &h->managed;
}

template <class Managed>
Tensor import_tensor(Managed* m) {
  TS_CHECK(m != nullptr, ValueError, "from_dlpack", "got a null DLPack tensor");
  const DLTensor& d = m->dl_tensor;
  // Validate before taking ownership, so a refusal leaves the producer's object intact.
  const DType dt = from_dl_dtype(d.dtype);
  const Device dev = from_dl_device(d.device);
  TS_CHECK(d.ndim >= 0 && d.ndim <= 64, ValueError, "from_dlpack", "invalid ndim ", d.ndim);
  Shape sizes(d.shape, d.shape + d.ndim);
  for (int64_t s : sizes) TS_CHECK(s >= 0, ValueError, "from_dlpack", "negative size in shape ", sizes);
  Shape strides = d.strides ? Shape(d.strides, d.strides + d.ndim) : contiguous_strides(sizes);
  // The memory the view can reach, for the storage: negative strides reach below the
  // first element, so the storage starts at the lowest element and the tensor at an offset.
  int64_t low = 0, high = 0;
  for (int32_t i = 0; i < d.ndim; ++i) {
    if (sizes[i] == 0) continue;
    int64_t reach = 0;
    TS_CHECK(!__builtin_mul_overflow(sizes[i] - 1, strides[i], &reach), ValueError, "from_dlpack",
             "shape ", sizes, " and strides ", strides, " overflow 64-bit offsets");
    (reach < 0 ? low : high) += reach;
  }
  const bool empty_tensor = shape_numel(sizes) == 0;
  const int64_t span = empty_tensor ? 0 : high - low + 1;
  void* data = static_cast<char*>(d.data) + d.byte_offset + (empty_tensor ? 0 : low) * static_cast<int64_t>(itemsize(dt));
  auto st = std::make_shared<StorageImpl>(data, static_cast<size_t>(span) * itemsize(dt), dev,
                                          [](void* ctx, void*) {
                                            auto* mm = static_cast<Managed*>(ctx);
                                            if (mm->deleter) mm->deleter(mm);
                                          },
                                          m);
  return make_tensor(std::move(st), std::move(sizes), std::move(strides), empty_tensor ? 0 : -low, dt);
}
}  // namespace

DLManagedTensorVersioned* to_dlpack_versioned(const Tensor& t, uint64_t flags) {
  auto* m = export_tensor<DLManagedTensorVersioned>(t);
  m->version = {1, 0};
  m->flags = flags;
  return m;
}
DLManagedTensor* to_dlpack(const Tensor& t) { return export_tensor<DLManagedTensor>(t); }
Tensor from_dlpack(DLManagedTensorVersioned* m) {
  TS_CHECK(m == nullptr || m->version.major == 1, ValueError, "from_dlpack", "unsupported DLPack major version ",
           m ? m->version.major : 0);
  return import_tensor(m);
}
Tensor from_dlpack(DLManagedTensor* m) { return import_tensor(m); }

}  // namespace tessel
