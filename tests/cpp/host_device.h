#pragma once
// A plugin device whose memory is host memory (malloc, memcpy), for tests that
// need a second device type without a GPU: the registry and dispatch see a
// device like any other.
#include <cstdlib>
#include <cstring>

#include "tessel/device.h"
#include "tessel/storage.h"

namespace tessel {

inline DeviceType register_host_test_device(const char* name) {
  const DeviceType dev = register_device_type(name);
  DeviceHooks h;
  h.allocate = [](size_t n, int) { return std::malloc(n ? n : 1); };
  h.deallocate = [](void* p, int) { std::free(p); };
  h.copy_to_host = [](void* d, const void* s, size_t n, int) { std::memcpy(d, s, n); };
  h.copy_from_host = h.copy_to_host;
  register_device_hooks(dev, h);
  return dev;
}

}  // namespace tessel
