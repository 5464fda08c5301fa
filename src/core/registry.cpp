#include "tessel/registry.h"

#include <dlfcn.h>

#include <mutex>

#include "tessel/error.h"

namespace tessel {

namespace {
std::mutex& registry_mutex() {
  static std::mutex mu;
  return mu;
}
}  // namespace

Registry::Registry()
    : table_(new Row[kMaxOps]), sources_(new std::string[kMaxOps * kMaxDeviceTypes * kNumDTypes]) {
  names_.reserve(kMaxOps);  // find_op reads names_ without the lock: never reallocate
#define TESSEL_OP_NAME(name) names_.emplace_back(#name);
  TESSEL_BUILTIN_OPS(TESSEL_OP_NAME)
#undef TESSEL_OP_NAME
  num_ops_ = static_cast<int>(names_.size());
}

Registry& Registry::get() {
  static Registry r;
  return r;
}

OpId Registry::find_op(std::string_view name) const {
  for (int i = 0; i < num_ops_; ++i)
    if (names_[i] == name) return i;
  return -1;
}

OpId Registry::op_id(std::string_view name) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  if (OpId id = find_op(name); id >= 0) return id;
  TS_CHECK(num_ops_ < kMaxOps, Error, "registry", "too many ops (max ", kMaxOps, "), cannot add '", name, "'");
  TS_CHECK(!name.empty(), ValueError, "registry", "op name must be non-empty");
  names_.emplace_back(name);
  return num_ops_++;
}

const std::string& Registry::op_name(OpId id) const {
  static const std::string unknown = "<unknown op>";
  return id >= 0 && id < num_ops_ ? names_[id] : unknown;
}

int Registry::num_ops() const { return num_ops_; }

void Registry::add(OpId op, DeviceType device, DType dtype, Kernel kernel, std::string source) {
  TS_CHECK(op >= 0 && op < num_ops_, ValueError, "registry", "unknown op id ", op);
  TS_CHECK(static_cast<int>(device) < kMaxDeviceTypes, ValueError, "registry", "bad device type");
  TS_CHECK(static_cast<bool>(kernel), ValueError, "registry", "empty kernel for ", op_name(op));
  std::lock_guard<std::mutex> lock(registry_mutex());
  const int s = slot(device, dtype);
  table_[op][s] = std::move(kernel);
  sources_[op * kMaxDeviceTypes * kNumDTypes + s] = std::move(source);
}

void Registry::add(std::string_view op, std::string_view device, DType dtype, Kernel kernel, std::string source) {
  add(op_id(op), register_device_type(device), dtype, std::move(kernel), std::move(source));
}

bool Registry::has(OpId op, DeviceType device, DType dtype) const {
  return op >= 0 && op < num_ops_ && static_cast<bool>(table_[op][slot(device, dtype)]);
}

void Registry::missing(OpId op, DeviceType device, DType dtype) const {
  if (is_cast_only(dtype)) fail_cast_only(op_name(op).c_str(), dtype);
  // Inside a composite op the error carries its name; say which op it lacks.
  const char* scope = op_scope();
  if (scope && op_name(op) != scope)
    fail<NotImplementedError>(scope, "needs '", op_name(op), "', not implemented for ", device_type_name(device), "/",
                              dtype_name(dtype));
  fail<NotImplementedError>(op_name(op).c_str(), "not implemented for ", device_type_name(device), "/",
                            dtype_name(dtype));
}

std::vector<KernelInfo> Registry::list() const {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<KernelInfo> out;
  for (int op = 0; op < num_ops_; ++op) {
    for (int d = 0; d < kMaxDeviceTypes; ++d) {
      for (int t = 0; t < kNumDTypes; ++t) {
        const int s = d * kNumDTypes + t;
        if (!table_[op][s]) continue;
        out.push_back(KernelInfo{names_[op], device_type_name(static_cast<DeviceType>(d)), static_cast<DType>(t),
                                 sources_[op * kMaxDeviceTypes * kNumDTypes + s]});
      }
    }
  }
  return out;
}

KernelRegistrar::KernelRegistrar(std::string_view op, std::string_view device, DType dtype, Kernel kernel,
                                 std::string source) {
  Registry::get().add(op, device, dtype, std::move(kernel), std::move(source));
}

std::vector<Tensor> call_op(std::string_view op, const std::vector<Tensor>& inputs, int num_outputs) {
  const std::string name(op);
  const OpId id = Registry::get().find_op(op);
  TS_CHECK(id >= 0, NotImplementedError, name.c_str(), "no such op (is its plugin loaded?)");
  TS_CHECK(!inputs.empty(), ValueError, name.c_str(), "call_op needs at least one input");
  TS_CHECK(num_outputs >= 0 && num_outputs < 64, ValueError, name.c_str(), "bad number of outputs ", num_outputs);
  const Device dev = inputs[0].device();
  for (const Tensor& t : inputs) {
    TS_CHECK(t.device() == dev, ValueError, name.c_str(), "inputs are on different devices: ", dev, " and ",
             t.device());
  }
  std::vector<Tensor> outputs(num_outputs);
  Registry::get().lookup(id, dev.type, inputs[0].dtype())(KernelCall{inputs, outputs, nullptr});
  for (int i = 0; i < num_outputs; ++i) {
    TS_CHECK(outputs[i].defined(), Error, name.c_str(), "kernel left output ", i, " unset");
  }
  return outputs;
}

void load_library(const std::string& path) {
  // RTLD_GLOBAL is not needed: the plugin links libtessel and registers itself.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) fail<Error>("load_library", "cannot load '", path, "': ", dlerror());
}

}  // namespace tessel
