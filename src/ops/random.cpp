// Random ops: Philox counter-based streams, one per Generator (seed + running offset).
#include "tessel/trace.h"
#include "tessel/random.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

Generator::Generator(const Generator& other) : device_(other.device_) {
  std::lock_guard lock(other.mutex_);
  seed_ = other.seed_;
  offset_ = other.offset_;
}

Generator& Generator::operator=(const Generator& other) {
  if (this == &other) return *this;
  std::scoped_lock lock(mutex_, other.mutex_);
  seed_ = other.seed_;
  offset_ = other.offset_;
  device_ = other.device_;
  return *this;
}

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard lock(mutex_);
  seed_ = seed;
  offset_ = 0;
}

uint64_t Generator::seed() {
  std::random_device device;
  const uint64_t s = (static_cast<uint64_t>(device()) << 32) ^ device();
  manual_seed(s);
  return s;
}

uint64_t Generator::initial_seed() const {
  std::lock_guard lock(mutex_);
  return seed_;
}

uint64_t Generator::offset() const {
  std::lock_guard lock(mutex_);
  return offset_;
}

Tensor Generator::get_state() const {
  Tensor state = empty({kStateBytes}, TensorOptions(DType::UInt8));
  auto* out = static_cast<unsigned char*>(state.data_ptr());
  std::lock_guard lock(mutex_);
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<unsigned char>(seed_ >> (8 * i));
    out[8 + i] = static_cast<unsigned char>(offset_ >> (8 * i));
  }
  return state;
}

void Generator::set_state(const Tensor& state) {
  TS_CHECK(state.defined(), ValueError, "set_state", "the RNG state is undefined");
  TS_CHECK(state.dtype() == DType::UInt8, TypeError, "set_state", "the RNG state must be a uint8 tensor, got ",
           state.dtype());
  TS_CHECK(state.numel() == kStateBytes, ValueError, "set_state", "the RNG state must hold ", kStateBytes,
           " bytes (seed and offset, as get_state() returns), got ", state.numel());
  const Tensor bytes = state.cpu().contiguous();
  const auto* in = static_cast<const unsigned char*>(bytes.data_ptr());
  uint64_t seed = 0, offset = 0;
  for (int i = 7; i >= 0; --i) {
    seed = (seed << 8) | in[i];
    offset = (offset << 8) | in[8 + i];
  }
  std::lock_guard lock(mutex_);
  seed_ = seed;
  offset_ = offset;
}

std::pair<uint64_t, uint64_t> Generator::reserve(uint64_t n) {
  std::lock_guard lock(mutex_);
  const uint64_t first = offset_;
  offset_ += n;
  return {seed_, first};
}

Generator& default_generator() {
  static Generator g;
  return g;
}

namespace {

RandomParams next(Generator& gen, int64_t n, double a, double b) {
  const auto [seed, offset] = gen.reserve(static_cast<uint64_t>(n));
  return RandomParams{seed, offset, a, b};
}

const Tensor& random_fill(const char* op, OpId id, const Tensor& t, double a, double b, Generator& gen) {
  TS_CHECK(is_floating(t.dtype()), TypeError, op, "expects a floating tensor, got ", t.dtype());
  if (t.numel() == 0) return t;
  // Kernels write contiguous memory; a strided target gets a copy.
  Tensor dst = t.is_contiguous() ? t : empty(t.shape(), TensorOptions(t.dtype(), t.device()));
  const RandomParams p = next(gen, t.numel(), a, b);
  dispatch(id, t.dtype(), {}, {&dst, 1}, &p);
  if (!dst.is_same(t)) Tensor(t).copy_(dst);
  t.bump_version();
  return t;
}
}  // namespace

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }
uint64_t initial_seed() { return default_generator().initial_seed(); }

// Traced for export as ONNX's random ops (their draws, not tessel's stream: export_random.cpp).
const Tensor& uniform_(const Tensor& t, double from, double to, Generator& gen) {
  if (trace::Op r{"uniform_"}) {
    r.in(t).attr("low", from).attr("high", to).inplace();
    uniform_(t, from, to, gen);
    r.out(t);
    return t;
  }
  TS_CHECK(from <= to, ValueError, "uniform_", "expects from <= to, got from=", from, " to=", to);
  return random_fill("uniform_", op::uniform, t, from, to, gen);
}
const Tensor& uniform_(const Tensor& t, double from, double to) { return uniform_(t, from, to, default_generator()); }

const Tensor& normal_(const Tensor& t, double mean, double std, Generator& gen) {
  if (trace::Op r{"normal_"}) {
    r.in(t).attr("mean", mean).attr("std", std).inplace();
    normal_(t, mean, std, gen);
    r.out(t);
    return t;
  }
  TS_CHECK(std >= 0, ValueError, "normal_", "expects std >= 0, got ", std);
  return random_fill("normal_", op::normal, t, mean, std, gen);
}
const Tensor& normal_(const Tensor& t, double mean, double std) { return normal_(t, mean, std, default_generator()); }

Tensor rand(const Shape& shape, TensorOptions opts, Generator& gen) {
  if (trace::Op r{"rand"}) return r.attr("shape", shape).out(rand(shape, opts, gen));
  Tensor t = empty(shape, opts);
  uniform_(t, 0.0, 1.0, gen);
  return t;
}
Tensor rand(const Shape& shape, TensorOptions opts) { return rand(shape, opts, default_generator()); }

Tensor randn(const Shape& shape, TensorOptions opts, Generator& gen) {
  if (trace::Op r{"randn"}) return r.attr("shape", shape).out(randn(shape, opts, gen));
  Tensor t = empty(shape, opts);
  normal_(t, 0.0, 1.0, gen);
  return t;
}
Tensor randn(const Shape& shape, TensorOptions opts) { return randn(shape, opts, default_generator()); }

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts, Generator& gen) {
  if (trace::Op r{"randint"})
    return r.attr("low", low).attr("high", high).attr("shape", shape).out(randint(low, high, shape, opts, gen));
  TS_CHECK(low < high, ValueError, "randint", "expects low < high, got low=", low, " high=", high);
  // The range must fit the dtype (PyTorch refuses it too): a wrapped value would be a silent wrong draw.
  visit_dtype(opts.dtype, [&]<class T>(std::type_identity<T>) {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      const bool low_ok = std::is_signed_v<T> ? low >= static_cast<int64_t>(std::numeric_limits<T>::min()) : low >= 0;
      const bool high_ok = sizeof(T) == 8 || high - 1 <= static_cast<int64_t>(std::numeric_limits<T>::max());
      TS_CHECK(low_ok && high_ok, ValueError, "randint", "the range [", low, ", ", high, ") does not fit ",
               opts.dtype);
    }
  });
  TS_CHECK(!is_complex(opts.dtype) && opts.dtype != DType::Bool, TypeError, "randint", "unsupported dtype ",
           opts.dtype);
  Tensor t = empty(shape, opts);
  if (t.numel() == 0) return t;
  RandomParams p = next(gen, t.numel(), 0.0, 0.0);
  p.low = low;
  p.high = high;
  dispatch(op::randint, opts.dtype, {}, {&t, 1}, &p);
  return t;
}
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts) {
  return randint(low, high, shape, opts, default_generator());
}

}  // namespace tessel

namespace tessel {

Tensor bernoulli(const Tensor& p, Generator& gen) {
  if (trace::Op r{"bernoulli"}) return r.in(p).out(bernoulli(p, gen));
  OpScope scope_("bernoulli");
  TS_CHECK(is_floating(p.dtype()), TypeError, "bernoulli", "expects floating probabilities, got ", p.dtype());
  if (p.numel() > 0) {
    TS_CHECK(amin(p).item<double>() >= 0 && amax(p).item<double>() <= 1, ValueError, "bernoulli",
             "probabilities must be in [0, 1]");
  }
  return lt(rand(p.shape(), TensorOptions(p.dtype(), p.device()), gen), p).to(p.dtype());
}
Tensor bernoulli(const Tensor& p) { return bernoulli(p, default_generator()); }

const Tensor& bernoulli_(const Tensor& t, double p, Generator& gen) {
  OpScope scope_("bernoulli_");
  TS_CHECK(p >= 0 && p <= 1, ValueError, "bernoulli_", "p must be in [0, 1], got ", p);
  Tensor(t).copy_(lt(rand(t.shape(), TensorOptions(DType::Float64, t.device()), gen), Scalar(p)));
  return t;
}
const Tensor& bernoulli_(const Tensor& t, double p) { return bernoulli_(t, p, default_generator()); }

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator& gen) {
  if (trace::Op r{"multinomial"})
    return r.in(probs).attr("num_samples", num_samples).attr("replacement", int64_t{replacement})
        .out(multinomial(probs, num_samples, replacement, gen));
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
    const Tensor u = rand({w.shape()[0], num_samples}, TensorOptions(DType::Float64, w.device()), gen);
    out = clamp(searchsorted(cdf, u, /*right=*/true), Scalar(int64_t{0}), Scalar(n - 1));
  } else {
    // Efraimidis-Spirakis: the k largest log(u) / w are a weighted sample without replacement.
    TS_CHECK(amin(sum(gt(w, Scalar(0)), {1})).item<int64_t>() >= num_samples, ValueError, "multinomial",
             "fewer categories with positive weight than num_samples=", num_samples);
    const Tensor keys = div(log(rand(w.shape(), TensorOptions(DType::Float64, w.device()), gen)), w);
    out = std::get<1>(topk(keys, num_samples, 1, true));
  }
  return probs.dim() == 1 ? out.squeeze(0) : out;
}
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  return multinomial(probs, num_samples, replacement, default_generator());
}

Tensor randperm(int64_t n, TensorOptions opts, Generator& gen) {
  OpScope scope_("randperm");
  TS_CHECK(n >= 0, ValueError, "randperm", "n must be non-negative, got ", n);
  // Fisher-Yates on the CPU for every device (one sequential pass, so the same permutation
  // whatever the thread count or device): step i = n-1 .. 1 swaps o[i] with o[j],
  // j = floor(u_i (i + 1)) for the float64 uniform u_i of element i of a draw of n.
  const Tensor keys = rand({n}, TensorOptions(DType::Float64), gen);
  Tensor out = empty({n}, TensorOptions(DType::Int64));
  int64_t* o = out.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) o[i] = i;
  // The swap partners first (into the keys' memory), so that the swap pass can prefetch
  // o[j] some steps ahead: past the caches, a shuffle is one cache miss per step otherwise.
  auto* slot = static_cast<unsigned char*>(keys.data_ptr());
  for (int64_t i = 1; i < n; ++i) {
    double u;
    std::memcpy(&u, slot + 8 * i, 8);
    const int64_t j = std::min<int64_t>(static_cast<int64_t>(u * double(i + 1)), i);
    std::memcpy(slot + 8 * i, &j, 8);
  }
  const auto partner = [&](int64_t i) {
    int64_t j;
    std::memcpy(&j, slot + 8 * i, 8);
    return j;
  };
  constexpr int64_t kAhead = 16;
  for (int64_t i = n - 1; i >= 1; --i) {
    if (i > kAhead) __builtin_prefetch(o + partner(i - kAhead), 1);
    std::swap(o[i], o[partner(i)]);
  }
  if (opts.dtype != DType::Int64) out = out.to(opts.dtype);
  return opts.device.is_cpu() ? out : out.to(opts.device);
}
Tensor randperm(int64_t n, TensorOptions opts) { return randperm(n, opts, default_generator()); }

Tensor dropout(const Tensor& t, double p, bool training) {
  if (training && p > 0) if (trace::Op r{"dropout"}) return r.in(t).attr("p", p).out(dropout(t, p, training));
  OpScope scope_("dropout");
  TS_CHECK(p >= 0 && p <= 1, ValueError, "dropout", "p must be in [0, 1], got ", p);
  if (!training || p == 0) return t;
  TS_CHECK(is_floating(t.dtype()), TypeError, "dropout", "expects a floating tensor, got ", t.dtype());
  if (p == 1) return zeros_like(t);
  const Tensor keep = lt(rand(t.shape(), TensorOptions(t.dtype(), t.device())), Scalar(1 - p));
  return mul(where(keep, t, Scalar(0)), Scalar(1 / (1 - p)));
}

}  // namespace tessel
