// A test plugin: registers (a) a kernel for a new op, `plugin_square`, and
// (b) a test-only device, `plugdev` (host memory underneath), with kernels
// for the existing ops fill, copy and add. Loaded with ts.load_library().
#include <tessel/tessel.h>

#include <cstdlib>
#include <cstring>

using namespace tessel;

namespace {

// A CPU tensor over the same memory: plugdev memory is host memory.
Tensor host_view(const Tensor& t) {
  auto st = std::make_shared<StorageImpl>(t.storage()->data(), t.storage()->nbytes(), Device(DeviceType::CPU),
                                          nullptr, nullptr);
  return make_tensor(st, t.shape(), t.strides(), t.offset(), t.dtype());
}

template <class T>
void square(const KernelCall& c) {
  const Tensor x = c.in[0].contiguous();
  Tensor out = empty(x.shape(), TensorOptions(x.dtype(), x.device()));
  const T* p = x.data<T>();
  T* o = out.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) o[i] = p[i] * p[i];
  c.out[0] = out;  // a new op's kernel creates its outputs
}

const bool registered = [] {
  Registry::get().add("plugin_square", "cpu", DType::Float32, &square<float>, "test_plugin");
  Registry::get().add("plugin_square", "cpu", DType::Float64, &square<double>, "test_plugin");

  const DeviceType dev = register_device_type("plugdev");
  DeviceHooks h;
  h.allocate = [](size_t n, int) { return std::malloc(n ? n : 1); };
  h.deallocate = [](void* p, int) { std::free(p); };
  h.copy_to_host = [](void* d, const void* s, size_t n, int) { std::memcpy(d, s, n); };
  h.copy_from_host = [](void* d, const void* s, size_t n, int) { std::memcpy(d, s, n); };
  register_device_hooks(dev, h);

  auto& r = Registry::get();
  r.add(op::fill, dev, DType::Float32, [](const KernelCall& c) {
    host_view(c.out[0]).fill_(*static_cast<const Scalar*>(c.params));
  }, "test_plugin");
  r.add(op::copy, dev, DType::Float32, [](const KernelCall& c) {
    host_view(c.out[0]).copy_(host_view(c.in[0]));
  }, "test_plugin");
  r.add(op::add, dev, DType::Float32, [](const KernelCall& c) {
    host_view(c.out[0]).copy_(add(host_view(c.in[0]), host_view(c.in[1])));
  }, "test_plugin");
  return true;
}();

}  // namespace
