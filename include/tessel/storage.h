#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tessel/device.h"
#include "tessel/export.h"

namespace tessel {

// Memory of one device. The deleter lets storage wrap foreign memory (NumPy,
// DLPack) without copying; the version counter is shared by all views.
class TESSEL_API StorageImpl {
 public:
  using Deleter = void (*)(void* ctx, void* data);

  StorageImpl(void* data, size_t nbytes, Device device, Deleter deleter, void* ctx)
      : data_(data), nbytes_(nbytes), device_(device), deleter_(deleter), ctx_(ctx) {}
  ~StorageImpl();
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_;
  size_t nbytes_;
  Device device_;
  Deleter deleter_;
  void* ctx_;
  std::atomic<uint32_t> version_{0};
};
using Storage = std::shared_ptr<StorageImpl>;

// Per-device-type memory hooks; CPU is built in. A plugin device registers its
// own (host memory is fine for a test device).
struct TESSEL_API DeviceHooks {
  void* (*allocate)(size_t nbytes, int index) = nullptr;
  void (*deallocate)(void* ptr, int index) = nullptr;
  // Contiguous byte copies between this device and the host.
  void (*copy_to_host)(void* dst, const void* src, size_t nbytes, int index) = nullptr;
  void (*copy_from_host)(void* dst, const void* src, size_t nbytes, int index) = nullptr;
};
TESSEL_API void register_device_hooks(DeviceType type, const DeviceHooks& hooks);
TESSEL_API const DeviceHooks& device_hooks(DeviceType type);  // throws if none

inline constexpr size_t kAlignment = 64;
// Allocates `nbytes` on `device` (64-byte aligned on CPU).
TESSEL_API Storage allocate(size_t nbytes, Device device);

}  // namespace tessel
