#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "tessel/export.h"

namespace tessel {

// Built-in device types; plugins add more with register_device_type().
enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };
inline constexpr int kMaxDeviceTypes = 8;

struct TESSEL_API Device {
  DeviceType type = DeviceType::CPU;
  int16_t index = 0;

  Device() = default;
  Device(DeviceType t, int i = 0) : type(t), index(static_cast<int16_t>(i)) {}  // NOLINT
  // "cpu", "cuda", "cuda:1", or a registered plugin device name.
  Device(std::string_view spec);  // NOLINT
  Device(const char* spec) : Device(std::string_view(spec)) {}  // NOLINT

  bool is_cpu() const { return type == DeviceType::CPU; }
  std::string str() const;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// Registers a new device type name (idempotent) and returns its id.
TESSEL_API DeviceType register_device_type(std::string_view name);
TESSEL_API std::string device_type_name(DeviceType t);
// Device types that have kernels or an allocator registered.
TESSEL_API int num_device_types();

TESSEL_API std::ostream& operator<<(std::ostream& os, const Device& d);

}  // namespace tessel
