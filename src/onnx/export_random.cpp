// Export of the random ops as ONNX's: RandomUniform/RandomNormal for rand/randn/randint,
// RandomUniformLike/RandomNormalLike for uniform_/normal_ on a tensor, Bernoulli and
// Multinomial. The exported graph draws from its runtime's generator: the same
// distribution as tessel's, not the same numbers (and no seed: a Generator's state
// does not carry over).
#include "src/onnx/export_internal.h"

namespace tessel::onnx::exporter {
namespace {

// The dtype the random node makes: ONNX's random ops give float16/float/double.
DType drawn(DType d) { return d == DType::Float64 ? DType::Float64 : d == DType::Float16 ? DType::Float16 : DType::Float32; }

void static_shape(const Site& s) {
  if (s.b && s.a.ints("shape") != s.b->ints("shape"))
    s.unsupported("a random tensor whose shape depends on a dynamic axis (sizes are not traced); export with "
                  "fixed shapes");
}

void emit_rand(Builder& b, const Site& s) {
  static_shape(s);
  const bool normal = s.a.op == "randn";
  const DType dt = drawn(s.out_dtype());
  auto* n = b.node(normal ? "RandomNormal" : "RandomUniform", {}, {b.fresh("random")});
  Builder::attr(n, "shape", s.a.ints("shape"));
  Builder::attr(n, "dtype", static_cast<int64_t>(onnx_type(dt)));
  b.node("Identity", {b.cast(n->output(0), dt, s.out_dtype())}, {s.out[0]});
}

void emit_randint(Builder& b, const Site& s) {  // floor(U[low, high)) in the integer dtype
  static_shape(s);
  auto* n = b.node("RandomUniform", {}, {b.fresh("random")});
  Builder::attr(n, "shape", s.a.ints("shape"));
  Builder::attr(n, "dtype", static_cast<int64_t>(onnx_type(DType::Float64)));
  Builder::attr(n, "low", static_cast<double>(s.a.i("low")));
  Builder::attr(n, "high", static_cast<double>(s.a.i("high")));
  b.node("Identity", {b.cast(b.op("Floor", {n->output(0)}), DType::Float64, s.out_dtype())}, {s.out[0]});
}

void emit_fill(Builder& b, const Site& s) {  // uniform_ / normal_: a fresh draw shaped like the tensor
  const bool normal = s.a.op == "normal_";
  const DType dt = drawn(s.out_dtype());
  auto* n = b.node(normal ? "RandomNormalLike" : "RandomUniformLike", {s.in[0]}, {b.fresh("random")});
  Builder::attr(n, "dtype", static_cast<int64_t>(onnx_type(dt)));
  Builder::attr(n, normal ? "mean" : "low", s.a.f(normal ? "mean" : "low"));
  Builder::attr(n, normal ? "scale" : "high", s.a.f(normal ? "std" : "high"));
  b.node("Identity", {b.cast(n->output(0), dt, s.out_dtype())}, {s.out[0]});
}

void emit_bernoulli(Builder& b, const Site& s) {
  if (b.opset() < 15) s.unsupported(detail::cat("bernoulli needs opset_version >= 15 (ONNX Bernoulli), got ", b.opset()));
  const DType dt = drawn(s.in_dtype(0));
  b.node("Identity", {b.cast(b.op("Bernoulli", {in_as(b, s, 0, dt)}), dt, s.out_dtype())}, {s.out[0]});
}

// ONNX's Multinomial takes log-weights and draws with replacement. Without replacement
// is the Gumbel top-k draw: the k largest of log(w) + G, G = -log(-log(U)) with U
// uniform, are k categories drawn in turn without replacement with probabilities w.
void emit_multinomial(Builder& b, const Site& s) {
  const int64_t k = s.a.i("num_samples");
  const bool one_d = s.input(0).dim() == 1;
  std::string w = b.op("Log", {in_as(b, s, 0, DType::Float32)});
  if (one_d) w = b.op("Unsqueeze", {w, b.const_ints({0})});
  std::string draws;
  if (s.a.i("replacement") || k == 1) {
    auto* n = b.node("Multinomial", {w}, {b.fresh("draws")});
    Builder::attr(n, "sample_size", k);
    Builder::attr(n, "dtype", static_cast<int64_t>(::onnx::TensorProto::INT64));
    draws = n->output(0);
  } else {
    auto* u = b.node("RandomUniformLike", {w}, {b.fresh("uniform")});
    Builder::attr(u, "dtype", static_cast<int64_t>(::onnx::TensorProto::FLOAT));
    const std::string gumbel = b.op("Neg", {b.op("Log", {b.op("Neg", {b.op("Log", {u->output(0)})})})});
    auto* top = b.node("TopK", {b.op("Add", {w, gumbel}), b.const_ints({k})}, {b.fresh("keys"), b.fresh("draws")});
    Builder::attr(top, "axis", int64_t{-1});
    draws = top->output(1);
  }
  if (one_d) b.node("Squeeze", {draws, b.const_ints({0})}, {s.out[0]});
  else b.node("Identity", {draws}, {s.out[0]});
}

}  // namespace

void add_random_emitters(std::map<std::string, Emitter>& t) {
  t["rand"] = t["randn"] = emit_rand;
  t["randint"] = emit_randint;
  t["uniform"] = t["normal"] = emit_fill;  // uniform_ / normal_ (in place: the trailing _ is dropped)
  t["bernoulli"] = emit_bernoulli;
  t["multinomial"] = emit_multinomial;
}

}  // namespace tessel::onnx::exporter
