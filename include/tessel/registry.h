#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessel/device.h"
#include "tessel/dtype.h"
#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel {

// Built-in ops, in one list so that each gets a fixed id. The op functions in
// src/ops validate, promote, broadcast and allocate outputs; a kernel only
// computes. Kernel contracts (what arrives in KernelCall) are in kernel.h.
#define TESSEL_BUILTIN_OPS(X) \
  X(add) X(sub) X(mul) X(div) \
  X(eq) X(ne) X(lt) X(le) X(gt) X(ge) \
  X(neg) X(abs) X(exp) X(log) X(sqrt) \
  X(exp2) X(expm1) X(log2) X(log10) X(log1p) X(rsqrt) X(reciprocal) X(square) \
  X(sin) X(cos) X(tan) X(asin) X(acos) X(atan) X(sinh) X(cosh) X(tanh) X(asinh) X(acosh) X(atanh) \
  X(sigmoid) X(erf) X(erfc) X(erfinv) X(lgamma) X(digamma) X(polygamma) \
  X(relu) X(leaky_relu) X(elu) X(gelu) X(silu) X(softplus) X(hardsigmoid) X(hardswish) \
  X(floor) X(ceil) X(round) X(trunc) X(sign) X(isnan) X(isinf) X(isfinite) X(nan_to_num) X(clamp) \
  X(pow) X(atan2) X(floor_divide) X(remainder) X(fmod) X(maximum) X(minimum) X(lerp) \
  X(logical_and) X(logical_or) X(logical_xor) X(logical_not) \
  X(bitwise_and) X(bitwise_or) X(bitwise_xor) X(bitwise_not) X(bitwise_left_shift) X(bitwise_right_shift) X(conj) \
  X(where) \
  X(sum) X(prod) X(amax) X(amin) X(max_dim) X(min_dim) X(cumsum) X(cumprod) X(softmax) X(log_softmax) \
  X(matmul) \
  X(copy) X(fill) X(arange) X(take_offsets) X(put_offsets) X(put_offsets_add) X(nonzero) X(sort) X(topk) X(searchsorted) \
  X(uniform) X(normal) X(randint) \
  X(sgd_step) X(adam_step) X(rmsprop_step) \
  X(conv2d) X(conv2d_backward_input) X(conv2d_backward_weight) \
  X(batch_norm) X(batch_norm_backward) X(relu_backward) X(max_pool2d) X(max_pool2d_backward)

using OpId = int32_t;
namespace op {
enum : OpId {
#define TESSEL_OP_ENUM(name) name,
  TESSEL_BUILTIN_OPS(TESSEL_OP_ENUM)
#undef TESSEL_OP_ENUM
      kNumBuiltin
};
}  // namespace op

// Inputs, outputs and op-specific parameters handed to a kernel.
struct KernelCall {
  std::span<const Tensor> in;
  std::span<Tensor> out;
  const void* params = nullptr;  // op-specific struct from kernel.h, or null
};
using Kernel = std::function<void(const KernelCall&)>;

struct KernelInfo {
  std::string op;
  std::string device;
  DType dtype;
  std::string source;  // "builtin" or the plugin/Python name that registered it
};

// Maps (op, device type, dtype) to a kernel. Lookup is an array index.
class TESSEL_API Registry {
 public:
  static Registry& get();

  // Returns the id of `name`, creating a new op if needed (plugins use this).
  OpId op_id(std::string_view name);
  // Id of an existing op, or -1.
  OpId find_op(std::string_view name) const;
  const std::string& op_name(OpId id) const;
  int num_ops() const;

  void add(OpId op, DeviceType device, DType dtype, Kernel kernel, std::string source = "builtin");
  void add(std::string_view op, std::string_view device, DType dtype, Kernel kernel, std::string source);
  bool has(OpId op, DeviceType device, DType dtype) const;

  // The kernel, or a NotImplementedError "[op] not implemented for cpu/float16".
  const Kernel& lookup(OpId op, DeviceType device, DType dtype) const {
    if (op >= 0 && op < num_ops_) {
      const Kernel& k = table_[op][slot(device, dtype)];
      if (k) return k;
    }
    missing(op, device, dtype);
  }
  std::vector<KernelInfo> list() const;

  static constexpr int kMaxOps = 1024;

 private:
  Registry();
  static int slot(DeviceType d, DType t) {
    return static_cast<int>(d) * kNumDTypes + static_cast<int>(t);
  }
  [[noreturn]] void missing(OpId op, DeviceType device, DType dtype) const;

  using Row = Kernel[kMaxDeviceTypes * kNumDTypes];
  std::unique_ptr<Row[]> table_;
  std::unique_ptr<std::string[]> sources_;
  std::vector<std::string> names_;
  int num_ops_ = 0;
};

namespace trace::detail {
// Non-zero while some thread records a trace (trace.h): then a kernel that runs
// outside every traced op is noted, so export can name an op it cannot map.
TESSEL_API extern std::atomic<int> recordings;
TESSEL_API void kernel_ran(OpId op, std::span<Tensor> out);
}  // namespace trace::detail

// Looks up and runs the kernel for (op, device of the first output, dtype).
inline void dispatch(OpId op, DType dtype, std::span<const Tensor> in, std::span<Tensor> out,
                     const void* params = nullptr) {
  if (trace::detail::recordings.load(std::memory_order_relaxed) != 0) trace::detail::kernel_ran(op, out);
  const Device dev = out.empty() ? in[0].device() : out[0].device();
  Registry::get().lookup(op, dev.type, dtype)(KernelCall{in, out, params});
}

// Calls an op by name through the registry: for ops that plugins add. Each
// output is allocated by the kernel's caller; here the kernel gets empty
// output slots and fills them (`num_outputs` of them).
TESSEL_API std::vector<Tensor> call_op(std::string_view op, const std::vector<Tensor>& inputs, int num_outputs = 1);

// Loads a shared library whose static initializers register kernels.
TESSEL_API void load_library(const std::string& path);

// Registers a kernel at load time: TESSEL_REGISTER_KERNEL(add, cpu, Float32, fn).
struct TESSEL_API KernelRegistrar {
  KernelRegistrar(std::string_view op, std::string_view device, DType dtype, Kernel kernel,
                  std::string source = "builtin");
};

}  // namespace tessel
