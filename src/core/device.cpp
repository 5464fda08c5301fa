#include "tessel/device.h"

#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "tessel/error.h"

namespace tessel {

namespace {
struct DeviceNames {
  std::mutex mu;
  std::vector<std::string> names{"cpu", "cuda"};
};
DeviceNames& names() {
  static DeviceNames n;
  return n;
}
}  // namespace

DeviceType register_device_type(std::string_view name) {
  auto& n = names();
  std::lock_guard<std::mutex> lock(n.mu);
  for (size_t i = 0; i < n.names.size(); ++i)
    if (n.names[i] == name) return static_cast<DeviceType>(i);
  TS_CHECK(n.names.size() < static_cast<size_t>(kMaxDeviceTypes), ValueError, "register_device_type",
           "at most ", kMaxDeviceTypes, " device types, cannot add '", name, "'");
  TS_CHECK(!name.empty() && name.find(':') == std::string_view::npos, ValueError, "register_device_type",
           "invalid device type name '", name, "'");
  n.names.emplace_back(name);
  return static_cast<DeviceType>(n.names.size() - 1);
}

std::string device_type_name(DeviceType t) {
  auto& n = names();
  std::lock_guard<std::mutex> lock(n.mu);
  const auto i = static_cast<size_t>(t);
  return i < n.names.size() ? n.names[i] : "device" + std::to_string(i);
}

int num_device_types() {
  auto& n = names();
  std::lock_guard<std::mutex> lock(n.mu);
  return static_cast<int>(n.names.size());
}

Device::Device(std::string_view spec) {
  const auto colon = spec.find(':');
  const std::string_view type_name = spec.substr(0, colon);
  int idx = 0;
  if (colon != std::string_view::npos) {
    const std::string_view num = spec.substr(colon + 1);
    bool ok = !num.empty() && num.size() < 6;
    for (char c : num) ok = ok && c >= '0' && c <= '9';
    TS_CHECK(ok, ValueError, "device", "invalid device string '", spec, "'");
    idx = std::stoi(std::string(num));
  }
  auto& n = names();
  std::lock_guard<std::mutex> lock(n.mu);
  for (size_t i = 0; i < n.names.size(); ++i) {
    if (n.names[i] == type_name) {
      type = static_cast<DeviceType>(i);
      index = static_cast<int16_t>(idx);
      return;
    }
  }
  fail<ValueError>("device", "unknown device type '", type_name, "' in '", spec, "'");
}

std::string Device::str() const {
  std::string s = device_type_name(type);
  if (type != DeviceType::CPU) s += ":" + std::to_string(index);
  return s;
}

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace tessel
