// Autocast state (per thread, per device type), the op list's policies and
// the argument casts the listed ops make (include/tessel/amp.h).
#include "tessel/amp.h"

#include <unordered_map>

#include "tessel/error.h"
#include "tessel/registry.h"

namespace tessel::amp {
namespace {

constexpr int kDevices = 2;  // CPU, CUDA

struct State {
  bool enabled[kDevices] = {false, false};
  DType dtype[kDevices] = {DType::BFloat16, DType::Float16};
  int any_enabled = 0;   // how many devices have it on: active() reads one int
  bool excluded = false;  // inside an autocast op or a backward pass
  bool cache_enabled = true;
  int nesting = 0;
};
thread_local State t_state;

// Casts of parameters (leaves that require grad) made in the current region,
// by source tensor and target dtype. The source is held so that its address
// is not reused while the entry lives; a changed version means a new value.
struct CacheEntry {
  Tensor source, cast;
  uint32_t version;
};
struct CacheKey {
  const TensorImpl* impl;
  DType dtype;
  bool operator==(const CacheKey& o) const { return impl == o.impl && dtype == o.dtype; }
};
struct CacheKeyHash {
  size_t operator()(const CacheKey& k) const {
    return std::hash<const void*>()(k.impl) ^ (static_cast<size_t>(k.dtype) << 1);
  }
};
thread_local std::unordered_map<CacheKey, CacheEntry, CacheKeyHash> t_cache;

int index_of(DeviceType d) {
  const int i = static_cast<int>(d);
  TS_CHECK(i >= 0 && i < kDevices, ValueError, "autocast", "unknown device type ", i);
  return i;
}

Tensor cast_to(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  const bool cacheable = t_state.cache_enabled && t.requires_grad() && t.is_leaf() && t_state.nesting > 0;
  if (!cacheable) return t.to(dtype);
  const CacheKey key{t.impl().get(), dtype};
  auto it = t_cache.find(key);
  if (it != t_cache.end() && it->second.version == t.version()) return it->second.cast;
  Tensor c = t.to(dtype);
  t_cache[key] = CacheEntry{t, c, t.version()};
  return c;
}

// Floating, not float64, on a device with autocast on: what autocast may cast.
bool eligible(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype()) || t.dtype() == DType::Float64) return false;
  const int d = static_cast<int>(t.device().type);
  return d < kDevices && t_state.enabled[d];
}

}  // namespace

CastPolicy policy(Op op) {
  switch (op) {
#define TESSEL_AMP_CASE(name) case Op::name:
    TESSEL_AUTOCAST_LOWER_OPS(TESSEL_AMP_CASE)
    return CastPolicy::LowerPrecision;
    TESSEL_AUTOCAST_FLOAT32_OPS(TESSEL_AMP_CASE)
    return CastPolicy::Float32;
    TESSEL_AUTOCAST_PROMOTE_OPS(TESSEL_AMP_CASE)
    return CastPolicy::Promote;
#undef TESSEL_AMP_CASE
  }
  return CastPolicy::Float32;
}

const char* op_name(Op op) {
  switch (op) {
#define TESSEL_AMP_NAME(name) \
  case Op::name:              \
    return #name;
    TESSEL_AUTOCAST_LOWER_OPS(TESSEL_AMP_NAME)
    TESSEL_AUTOCAST_FLOAT32_OPS(TESSEL_AMP_NAME)
    TESSEL_AUTOCAST_PROMOTE_OPS(TESSEL_AMP_NAME)
#undef TESSEL_AMP_NAME
  }
  return "?";
}

std::optional<Op> from_registry(int32_t id) {
  static const std::vector<int> table = [] {  // registry id -> Op + 1 (0: not listed)
    std::vector<int> t(op::kNumBuiltin, 0);
    auto note = [&](Op o) {
      const OpId r = Registry::get().find_op(op_name(o));
      if (r >= 0 && r < op::kNumBuiltin) t[r] = static_cast<int>(o) + 1;
    };
#define TESSEL_AMP_NOTE(name) note(Op::name);
    TESSEL_AUTOCAST_LOWER_OPS(TESSEL_AMP_NOTE)
    TESSEL_AUTOCAST_FLOAT32_OPS(TESSEL_AMP_NOTE)
    TESSEL_AUTOCAST_PROMOTE_OPS(TESSEL_AMP_NOTE)
#undef TESSEL_AMP_NOTE
    return t;
  }();
  if (id < 0 || id >= static_cast<int32_t>(table.size()) || table[id] == 0) return std::nullopt;
  return static_cast<Op>(table[id] - 1);
}

bool is_autocast_enabled(DeviceType device) { return t_state.enabled[index_of(device)]; }

void set_autocast_enabled(DeviceType device, bool on) {
  const int i = index_of(device);
  if (t_state.enabled[i] != on) t_state.any_enabled += on ? 1 : -1;
  t_state.enabled[i] = on;
}

DType get_autocast_dtype(DeviceType device) { return t_state.dtype[index_of(device)]; }

void set_autocast_dtype(DeviceType device, DType dtype) {
  TS_CHECK(dtype == DType::BFloat16 || dtype == DType::Float16, TypeError, "autocast",
           "the autocast dtype must be bfloat16 or float16, got ", dtype);
  t_state.dtype[index_of(device)] = dtype;
}

bool is_autocast_cache_enabled() { return t_state.cache_enabled; }
void set_autocast_cache_enabled(bool on) { t_state.cache_enabled = on; }
void clear_autocast_cache() { t_cache.clear(); }

int increment_nesting() { return ++t_state.nesting; }
int decrement_nesting() {
  if (t_state.nesting > 0 && --t_state.nesting == 0) clear_autocast_cache();
  return t_state.nesting;
}

bool active() { return t_state.any_enabled > 0 && !t_state.excluded; }

AutocastGuard::AutocastGuard(DeviceType device, std::optional<DType> dtype, bool enabled,
                             std::optional<bool> cache_enabled)
    : device_(device),
      prev_enabled_(is_autocast_enabled(device)),
      prev_cache_(t_state.cache_enabled),
      prev_dtype_(get_autocast_dtype(device)) {
  if (dtype) set_autocast_dtype(device, *dtype);
  set_autocast_enabled(device, enabled);
  if (cache_enabled) t_state.cache_enabled = *cache_enabled;
  increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  decrement_nesting();
  set_autocast_enabled(device_, prev_enabled_);
  t_state.dtype[static_cast<int>(device_)] = prev_dtype_;
  t_state.cache_enabled = prev_cache_;
}

ExcludeGuard::ExcludeGuard() : prev_(t_state.excluded) { t_state.excluded = true; }
ExcludeGuard::~ExcludeGuard() { t_state.excluded = prev_; }

Cast::Cast(Op op, std::initializer_list<const Tensor*> args) {
  args_.reserve(args.size());
  for (const Tensor* t : args) args_.push_back(t ? *t : Tensor());
  const CastPolicy p = policy(op);
  if (p == CastPolicy::Promote) {
    std::optional<DType> widest;
    for (const Tensor& t : args_) {
      if (eligible(t)) widest = widest ? promote_types(*widest, t.dtype()) : t.dtype();
    }
    for (Tensor& t : args_) {
      if (eligible(t)) t = t.to(*widest);
    }
    return;
  }
  for (Tensor& t : args_) {
    if (!eligible(t)) continue;
    t = p == CastPolicy::Float32 ? t.to(DType::Float32)
                                 : cast_to(t, t_state.dtype[static_cast<int>(t.device().type)]);
  }
}

}  // namespace tessel::amp
