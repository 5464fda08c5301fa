#pragma once
// Transforms: per-item work (decode, resize, augment, feature extraction) that
// the data loader runs on its C++ worker threads. A transform is immutable after
// construction, so one instance serves every thread at once.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessel/tensor.h"

namespace tessel::data {

// Per-item randomness (splitmix64). The loader seeds one Rng per item from
// (seed, epoch, index), so augmentations do not depend on the thread count.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi).
  double uniform(double lo = 0.0, double hi = 1.0) {
    return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53;
  }
  // Uniform integer in [lo, hi] (both ends included).
  int64_t integer(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return span == 0 ? static_cast<int64_t>(next()) : lo + static_cast<int64_t>(next() % span);
  }
  bool bernoulli(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

// The seed of item `index` in `epoch` of a loader seeded with `seed`.
inline uint64_t item_seed(uint64_t seed, uint64_t epoch, uint64_t index) {
  Rng r(seed ^ (epoch * 0xD1B54A32D192ED03ull) ^ (index * 0x8CB92BA72F3D8DD7ull));
  return r.next();
}

class TESSEL_API Transform {
 public:
  virtual ~Transform() = default;
  // Must be safe to call from several threads at once.
  virtual Tensor apply(const Tensor& x, Rng& rng) const = 0;
  // "Resize(size=[224, 224], antialias=True)": shown by repr() in Python.
  virtual std::string repr() const = 0;
};
using TransformPtr = std::shared_ptr<const Transform>;

// Transforms run in order; an empty list returns x.
class TESSEL_API Compose final : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> transforms) : transforms_(std::move(transforms)) {}
  Tensor apply(const Tensor& x, Rng& rng) const override {
    Tensor y = x;
    for (const auto& t : transforms_) y = t->apply(y, rng);
    return y;
  }
  std::string repr() const override {
    std::string s = "Compose([";
    for (size_t i = 0; i < transforms_.size(); ++i) {
      if (i) s += ", ";  // two appends: g++ 12 warns (-Wstringop-overflow) on a temporary's operator+
      s += transforms_[i]->repr();
    }
    return s + "])";
  }
  const std::vector<TransformPtr>& transforms() const { return transforms_; }

 private:
  std::vector<TransformPtr> transforms_;
};

}  // namespace tessel::data
