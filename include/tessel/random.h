#pragma once
// Random number generators: a Philox counter-based stream per Generator.
// Element i of a draw is a function of (seed, offset + i) only, so values do
// not depend on threads or devices. The ops of ops.h (rand, randn, dropout,
// ...) draw from default_generator(); the overloads below take a Generator.
// See docs/random.md.
#include <cstdint>
#include <mutex>

#include "tessel/device.h"
#include "tessel/export.h"
#include "tessel/ops.h"  // TensorOptions
#include "tessel/tensor.h"

namespace tessel {

class TESSEL_API Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 67280421310721ull;
  // The number of bytes of get_state(): seed then offset, each 8 bytes little-endian.
  static constexpr int64_t kStateBytes = 16;

  explicit Generator(uint64_t seed = kDefaultSeed, Device device = Device(DeviceType::CPU))
      : seed_(seed), device_(device) {}
  Generator(const Generator& other);
  Generator& operator=(const Generator& other);

  // Restarts the stream from `seed`.
  void manual_seed(uint64_t seed);
  // Restarts the stream from a non-deterministic seed and returns it.
  uint64_t seed();
  uint64_t initial_seed() const;
  // How many counters have been drawn since the last seeding.
  uint64_t offset() const;
  // The device named at construction (torch.Generator's device). The stream is
  // the same on every device, so a generator serves tensors on any of them.
  Device device() const { return device_; }

  // A uint8 CPU tensor of kStateBytes bytes; set_state takes one back
  // (TypeError for another dtype, ValueError for another size).
  Tensor get_state() const;
  void set_state(const Tensor& state);

  // Reserves `n` counters: returns the seed and the first of them, so
  // consecutive draws never reuse a counter.
  std::pair<uint64_t, uint64_t> reserve(uint64_t n);

 private:
  mutable std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
  Device device_;
};

// The generator behind ts.manual_seed / ts.get_rng_state and every op without one.
TESSEL_API Generator& default_generator();

// The random ops of ops.h, drawing from `gen`.
TESSEL_API Tensor rand(const Shape& shape, TensorOptions opts, Generator& gen);
TESSEL_API Tensor randn(const Shape& shape, TensorOptions opts, Generator& gen);
TESSEL_API Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts, Generator& gen);
TESSEL_API const Tensor& uniform_(const Tensor& t, double from, double to, Generator& gen);
TESSEL_API const Tensor& normal_(const Tensor& t, double mean, double std, Generator& gen);
TESSEL_API Tensor bernoulli(const Tensor& p, Generator& gen);
TESSEL_API const Tensor& bernoulli_(const Tensor& t, double p, Generator& gen);
TESSEL_API Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator& gen);
TESSEL_API Tensor randperm(int64_t n, TensorOptions opts, Generator& gen);

}  // namespace tessel
