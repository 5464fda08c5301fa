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

namespace tessel {

Tensor bernoulli(const Tensor& p) {
  OpScope scope_("bernoulli");
  TS_CHECK(is_floating(p.dtype()), TypeError, "bernoulli", "expects floating probabilities, got ", p.dtype());
  if (p.numel() > 0) {
    TS_CHECK(amin(p).item<double>() >= 0 && amax(p).item<double>() <= 1, ValueError, "bernoulli",
             "probabilities must be in [0, 1]");
  }
  return lt(rand(p.shape(), TensorOptions(p.dtype(), p.device())), p).to(p.dtype());
}

const Tensor& bernoulli_(const Tensor& t, double p) {
  OpScope scope_("bernoulli_");
  TS_CHECK(p >= 0 && p <= 1, ValueError, "bernoulli_", "p must be in [0, 1], got ", p);
  Tensor(t).copy_(lt(rand(t.shape(), TensorOptions(DType::Float64, t.device())), Scalar(p)));
  return t;
}

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  OpScope scope_("multinomial");
  TS_CHECK(probs.dim() == 1 || probs.dim() == 2, ValueError, "multinomial", "probs must be 1-D or 2-D, got shape ",
           probs.shape());
  TS_CHECK(is_floating(probs.dtype()), TypeError, "multinomial", "expects floating weights, got ", probs.dtype());
  const Tensor w = (probs.dim() == 1 ? probs.unsqueeze(0) : probs).to(DType::Float64);
  const int64_t n = w.shape()[1];
  TS_CHECK(num_samples > 0, ValueError, "multinomial", "num_samples must be positive, got ", num_samples);
  TS_CHECK(replacement || num_samples <= n, ValueError, "multinomial", "cannot draw ", num_samples,
           " samples without replacement from ", n, " categories");
  TS_CHECK(n > 0 && all(isfinite(w)).item<bool>() && amin(w).item<double>() >= 0, ValueError, "multinomial",
           "weights must be finite and non-negative");
  const Tensor row_sum = sum(w, {1}, true);
  TS_CHECK(amin(row_sum).item<double>() > 0, ValueError, "multinomial", "every row needs a positive total weight");
  Tensor out;
  if (replacement) {
    // Inverse CDF: uniform draws located in the normalized cumulative weights.
    const Tensor cdf = div(cumsum(w, 1), row_sum);
    const Tensor u = rand({w.shape()[0], num_samples}, TensorOptions(DType::Float64, w.device()));
    out = clamp(searchsorted(cdf, u, /*right=*/true), Scalar(int64_t{0}), Scalar(n - 1));
  } else {
    // Efraimidis-Spirakis: the k largest log(u) / w are a weighted sample without replacement.
    TS_CHECK(amin(sum(gt(w, Scalar(0)), {1})).item<int64_t>() >= num_samples, ValueError, "multinomial",
             "fewer categories with positive weight than num_samples=", num_samples);
    const Tensor keys = div(log(rand(w.shape(), TensorOptions(DType::Float64, w.device()))), w);
    out = std::get<1>(topk(keys, num_samples, 1, true));
  }
  return probs.dim() == 1 ? out.squeeze(0) : out;
}

Tensor randperm(int64_t n, TensorOptions opts) {
  OpScope scope_("randperm");
  TS_CHECK(n >= 0, ValueError, "randperm", "n must be non-negative, got ", n);
  // The order of random keys: a uniform permutation that does not depend on the thread count.
  return argsort(rand({n}, TensorOptions(DType::Float64, opts.device))).to(opts.dtype);
}

Tensor dropout(const Tensor& t, double p, bool training) {
  OpScope scope_("dropout");
  TS_CHECK(p >= 0 && p <= 1, ValueError, "dropout", "p must be in [0, 1], got ", p);
  if (!training || p == 0) return t;
  TS_CHECK(is_floating(t.dtype()), TypeError, "dropout", "expects a floating tensor, got ", t.dtype());
  if (p == 1) return zeros_like(t);
  const Tensor keep = lt(rand(t.shape(), TensorOptions(t.dtype(), t.device())), Scalar(1 - p));
  return mul(where(keep, t, Scalar(0)), Scalar(1 / (1 - p)));
}

}  // namespace tessel
