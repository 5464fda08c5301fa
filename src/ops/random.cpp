// Random ops: one global Philox generator (seed + running offset).
#include <atomic>

#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

namespace {
struct Generator {
  std::atomic<uint64_t> seed{67280421310721ull};
  std::atomic<uint64_t> offset{0};
};
Generator& gen() {
  static Generator g;
  return g;
}

// Reserves `n` counters so that consecutive calls never reuse one.
RandomParams next(int64_t n, double a, double b) {
  return RandomParams{gen().seed.load(), gen().offset.fetch_add(static_cast<uint64_t>(n)), a, b};
}

const Tensor& random_fill(const char* op, OpId id, const Tensor& t, double a, double b) {
  TS_CHECK(is_floating(t.dtype()), TypeError, op, "expects a floating tensor, got ", t.dtype());
  if (t.numel() == 0) return t;
  // Kernels write contiguous memory; a strided target gets a copy.
  Tensor dst = t.is_contiguous() ? t : empty(t.shape(), TensorOptions(t.dtype(), t.device()));
  const RandomParams p = next(t.numel(), a, b);
  dispatch(id, t.dtype(), {}, {&dst, 1}, &p);
  if (!dst.is_same(t)) Tensor(t).copy_(dst);
  t.bump_version();
  return t;
}
}  // namespace

void manual_seed(uint64_t seed) {
  gen().seed = seed;
  gen().offset = 0;
}
uint64_t initial_seed() { return gen().seed.load(); }

const Tensor& uniform_(const Tensor& t, double from, double to) {
  TS_CHECK(from <= to, ValueError, "uniform_", "expects from <= to, got from=", from, " to=", to);
  return random_fill("uniform_", op::uniform, t, from, to);
}

const Tensor& normal_(const Tensor& t, double mean, double std) {
  TS_CHECK(std >= 0, ValueError, "normal_", "expects std >= 0, got ", std);
  return random_fill("normal_", op::normal, t, mean, std);
}

Tensor rand(const Shape& shape, TensorOptions opts) {
  Tensor t = empty(shape, opts);
  uniform_(t, 0.0, 1.0);
  return t;
}

Tensor randn(const Shape& shape, TensorOptions opts) {
  Tensor t = empty(shape, opts);
  normal_(t, 0.0, 1.0);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts) {
  TS_CHECK(low < high, ValueError, "randint", "expects low < high, got low=", low, " high=", high);
  TS_CHECK(!is_complex(opts.dtype) && opts.dtype != DType::Bool, TypeError, "randint", "unsupported dtype ",
           opts.dtype);
  Tensor t = empty(shape, opts);
  if (t.numel() == 0) return t;
  RandomParams p = next(t.numel(), 0.0, 0.0);
  p.low = low;
  p.high = high;
  dispatch(op::randint, opts.dtype, {}, {&t, 1}, &p);
  return t;
}

}  // namespace tessel
