#pragma once
// Automatic mixed precision (autocast): inside an autocast region the ops
// listed below cast their floating inputs before computing, so that matmuls
// and convolutions run in bfloat16 (or float16) while range-hungry ops stay in
// float32. The state is per thread and per device type, like grad mode, and
// lives here so that C++ callers and the C++ nn ops see it too.
//
//   {
//     tessel::amp::AutocastGuard ac(DeviceType::CPU, DType::BFloat16);
//     Tensor y = tessel::linear(x, w);  // bfloat16, whatever x and w are
//   }
//
// The casts are differentiable: a float32 weight used under autocast gets a
// float32 gradient. Backward passes run with autocast off.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

#include "tessel/device.h"
#include "tessel/dtype.h"
#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel::amp {

// The one list of autocast ops, by what autocast does to their floating
// inputs (float64 tensors and tensors of other devices are never touched):
// lower: cast to the autocast dtype (bfloat16 by default on CPU);
#define TESSEL_AUTOCAST_LOWER_OPS(X) \
  X(matmul) X(mm) X(bmm) X(baddbmm) X(addmm) X(linear) X(conv1d) X(conv2d) X(conv_transpose2d) \
  X(scaled_dot_product_attention)
// float32: compute in float32 (ops with a dtype argument keep an explicit one);
#define TESSEL_AUTOCAST_FLOAT32_OPS(X)                                                                    \
  X(exp) X(expm1) X(log) X(log2) X(log10) X(log1p) X(pow) X(reciprocal) X(rsqrt) X(sinh) X(cosh) X(tan) \
  X(asin) X(acos) X(erfinv) X(softplus) X(sum) X(prod) X(cumsum) X(cumprod) X(norm) X(logsumexp)         \
  X(softmax) X(log_softmax) X(layer_norm) X(group_norm) X(batch_norm) X(cross_entropy) X(nll_loss)       \
  X(mse_loss) X(l1_loss) X(smooth_l1_loss) X(binary_cross_entropy) X(binary_cross_entropy_with_logits)
// promote: all floating inputs to the widest floating dtype among them (for
// ops that otherwise demand equal dtypes; elementwise ops, cat and stack
// promote by themselves).
#define TESSEL_AUTOCAST_PROMOTE_OPS(X) X(dot) X(vdot) X(tensordot)

enum class Op : uint8_t {
#define TESSEL_AMP_ENUM(name) name,
  TESSEL_AUTOCAST_LOWER_OPS(TESSEL_AMP_ENUM) TESSEL_AUTOCAST_FLOAT32_OPS(TESSEL_AMP_ENUM)
      TESSEL_AUTOCAST_PROMOTE_OPS(TESSEL_AMP_ENUM)
#undef TESSEL_AMP_ENUM
};

enum class CastPolicy : uint8_t { LowerPrecision, Float32, Promote };
TESSEL_API CastPolicy policy(Op op);
TESSEL_API const char* op_name(Op op);
// The listed op that is built-in registry op `id` (registry.h), if any: for op
// families defined by one macro (the float unary ops, pow).
TESSEL_API std::optional<Op> from_registry(int32_t id);

// ---- state (per thread) ----
TESSEL_API bool is_autocast_enabled(DeviceType device);
TESSEL_API void set_autocast_enabled(DeviceType device, bool on);
// bfloat16 or float16; defaults: bfloat16 on CPU, float16 on CUDA.
TESSEL_API DType get_autocast_dtype(DeviceType device);
TESSEL_API void set_autocast_dtype(DeviceType device, DType dtype);  // TypeError for other dtypes
// Whether casts of leaf tensors that require grad (parameters) are reused
// within the outermost autocast region instead of redone at every use.
TESSEL_API bool is_autocast_cache_enabled();
TESSEL_API void set_autocast_cache_enabled(bool on);
TESSEL_API void clear_autocast_cache();
// Nesting depth of autocast regions; leaving the outermost one clears the cache.
TESSEL_API int increment_nesting();
TESSEL_API int decrement_nesting();

// True when some device has autocast on and no autocast op is running on this
// thread (an op's own inner ops are not cast again). Cheap: ops test it first.
TESSEL_API bool active();

// Enters an autocast region for a scope (enabled = false turns it off inside
// an enclosing one) and restores the previous state.
class TESSEL_API AutocastGuard {
 public:
  explicit AutocastGuard(DeviceType device, std::optional<DType> dtype = {}, bool enabled = true,
                         std::optional<bool> cache_enabled = {});
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DeviceType device_;
  bool prev_enabled_, prev_cache_;
  DType prev_dtype_;
};

// Autocast off for a scope without changing what is_autocast_enabled reports
// (the autograd engine runs backward under it).
class TESSEL_API ExcludeGuard {
 public:
  ExcludeGuard();
  ~ExcludeGuard();
  ExcludeGuard(const ExcludeGuard&) = delete;
  ExcludeGuard& operator=(const ExcludeGuard&) = delete;

 private:
  bool prev_;
};

// What a listed op does first when active(): casts its tensor arguments by the
// op's policy and runs the rest of the op (a call of itself on the cast
// arguments) with autocast excluded. Null or undefined arguments pass through.
//   if (amp::active()) { const amp::Cast c(amp::Op::matmul, {&a, &b}); return matmul(c[0], c[1]); }
class TESSEL_API Cast {
 public:
  Cast(Op op, std::initializer_list<const Tensor*> args);
  const Tensor& operator[](size_t i) const { return args_[i]; }
  std::optional<Tensor> opt(size_t i) const {
    return args_[i].defined() ? std::optional<Tensor>(args_[i]) : std::nullopt;
  }

 private:
  std::vector<Tensor> args_;
  ExcludeGuard exclude_;
};

// The pointer Cast takes for an optional argument.
inline const Tensor* ptr(const std::optional<Tensor>& t) { return t ? &*t : nullptr; }

}  // namespace tessel::amp
