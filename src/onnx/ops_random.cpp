// ONNX random ops: RandomNormal(Like), RandomUniform(Like), Bernoulli, Multinomial,
// drawn from tessel's generators. A node with a `seed` draws from a generator
// seeded with it on every run (the same values each run, as a seeded program
// would); without one, from the default generator (ts.manual_seed). The load-time
// passes never fold these (passes.cpp, nondeterministic()).
#include <cmath>

#include "src/onnx/internal.h"
#include "tessel/random.h"

namespace tessel::onnx {
namespace {

// The `dtype` attribute (a TensorProto element type), or `dflt` when absent.
DType dtype_attr(const Node& n, DType dflt) {
  if (!n.has("dtype")) return dflt;
  const int64_t code = n.i("dtype", 1);
  const std::optional<DType> d = dtype_from_onnx(code);
  if (!d) n.error<TypeError>("dtype ", code, " is not a tensor type tessel has");
  return *d;
}

// Runs `draw` with the node's generator.
template <class F>
Tensor with_generator(const Node& n, F&& draw) {
  if (!n.has("seed")) return draw(default_generator());
  const double seed = n.f("seed", 0.0);
  if (!std::isfinite(seed)) n.error("seed must be finite, got ", seed);
  Generator gen(static_cast<uint64_t>(static_cast<int64_t>(seed)));
  return draw(gen);
}

Shape shape_attr(const Node& n) {
  if (!n.has("shape")) n.error("attribute 'shape' is required");
  const std::vector<int64_t> s = n.ints("shape");
  int64_t total = 1;
  for (int64_t d : s) {
    if (d < 0) n.error("shape must not have negative dims, got ", Shape(s));
    total = d == 0 ? 0 : (total > (int64_t{1} << 40) / d ? (int64_t{1} << 41) : total * d);
  }
  if (total > (int64_t{1} << 40)) n.error("shape ", Shape(s), " is too large");
  return Shape(s);
}

void check_floating(const Node& n, DType d) {
  if (!is_floating(d)) n.error<TypeError>("dtype must be a floating type, got ", d);
}

// normal: mean + scale * N(0, 1); uniform: low + (high - low) * U[0, 1), drawn in float64 for a float64 output.
Tensor draw(const Node& n, const Shape& shape, DType dt, bool normal) {
  check_floating(n, dt);
  const DType work = dt == DType::Float64 ? DType::Float64 : DType::Float32;
  Tensor r = with_generator(n, [&](Generator& g) {
    return normal ? randn(shape, TensorOptions(work), g) : rand(shape, TensorOptions(work), g);
  });
  if (normal) r = add(mul(r, Scalar(n.f("scale", 1.0))), Scalar(n.f("mean", 0.0)));
  else r = add(mul(r, Scalar(n.f("high", 1.0) - n.f("low", 0.0))), Scalar(n.f("low", 0.0)));
  return r.to(dt);
}

template <bool Normal>
std::vector<Tensor> random_op(const Node& n, const Inputs&, const OpContext&) {
  return one(draw(n, shape_attr(n), dtype_attr(n, DType::Float32), Normal));
}

template <bool Normal>
std::vector<Tensor> random_like(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  return one(draw(n, x.shape(), dtype_attr(n, x.dtype()), Normal));
}

std::vector<Tensor> bernoulli_op(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& p = input(n, in, 0);
  if (!is_floating(p.dtype())) n.error<TypeError>("input must be floating, got ", p.dtype());
  const Tensor probs = p.to(p.dtype() == DType::Float64 ? DType::Float64 : DType::Float32);
  Tensor r = with_generator(n, [&](Generator& g) { return bernoulli(probs, g); });
  return one(r.to(dtype_attr(n, p.dtype())));
}

// Multinomial: input [batch, classes] of unnormalized log-probabilities; sample_size draws
// per row with replacement; int32 (the default) or int64 class indices.
std::vector<Tensor> multinomial_op(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dim() != 2) n.error("input must be [batch, classes], got shape ", x.shape());
  if (!is_floating(x.dtype())) n.error<TypeError>("input must be floating, got ", x.dtype());
  const int64_t k = n.i("sample_size", 1);
  if (k < 1) n.error("sample_size must be positive, got ", k);
  const DType dt = dtype_attr(n, DType::Int32);
  if (dt != DType::Int32 && dt != DType::Int64) n.error<TypeError>("dtype must be int32 or int64, got ", dt);
  const Tensor probs = softmax(x.to(DType::Float64), 1);
  Tensor r = with_generator(n, [&](Generator& g) { return multinomial(probs, k, true, g); });
  return one(r.to(dt));
}

}  // namespace

void register_random_ops(std::map<std::string, OpFn>& t) {
  t["RandomNormal"] = random_op<true>;
  t["RandomUniform"] = random_op<false>;
  t["RandomNormalLike"] = random_like<true>;
  t["RandomUniformLike"] = random_like<false>;
  t["Bernoulli"] = bernoulli_op;
  t["Multinomial"] = multinomial_op;
}

}  // namespace tessel::onnx
