// ONNX export: one emitter per traced op (the names ops record in tessel/trace.h),
// each writing the nodes that compute the op's outputs into site.out (the nn
// modules' ops are in export_nn.cpp, indexing and in-place writes in export_index.cpp).
#include <climits>
#include <algorithm>
#include <cmath>
#include <cstring>

#include "src/onnx/export_internal.h"

namespace tessel::onnx::exporter {
double attr_f(const trace::Call& c, const std::string& k, double dflt) {
  const trace::Attr* a = c.find(k);
  if (!a) return dflt;
  if (auto* d = std::get_if<double>(a)) return *d;
  if (auto* i = std::get_if<int64_t>(a)) return static_cast<double>(*i);
  return dflt;
}
int64_t attr_i(const trace::Call& c, const std::string& k, int64_t dflt) {
  const trace::Attr* a = c.find(k);
  if (!a) return dflt;
  if (auto* i = std::get_if<int64_t>(a)) return *i;
  return dflt;
}
std::vector<int64_t> attr_ints(const trace::Call& c, const std::string& k) {
  const trace::Attr* a = c.find(k);
  if (!a) return {};
  if (auto* v = std::get_if<std::vector<int64_t>>(a)) return *v;
  return {};
}

int64_t wrap(int64_t d, int64_t rank) { return d < 0 ? d + rank : d; }

// Input k cast to `to`.
std::string in_as(Builder& b, const Site& s, size_t k, DType to) { return b.cast(s.in[k], s.in_dtype(k), to); }

std::string x_as_out(Builder& b, const Site& s) { return in_as(b, s, 0, s.out_dtype()); }
std::string c(Builder& b, const Site& s, double v) { return b.const_scalar(v, s.out_dtype()); }

namespace {
std::vector<int64_t> norm_dims(const Site& s, const std::vector<int64_t>& dims) {
  const int64_t r = s.input(0).dim();
  std::vector<int64_t> out;
  for (int64_t d : dims) out.push_back(wrap(d, std::max<int64_t>(r, 1)));
  return out;
}
}  // namespace

std::pair<Shape, Shape> expand_target(const Site& s) {
  const Tensor& x = s.input(0);
  Shape sa = s.out_shape_a(), sb = s.out_shape_b();
  const size_t lead = sa.size() - static_cast<size_t>(x.dim());
  for (size_t d = lead; d < sa.size(); ++d)
    if (x.shape()[d - lead] == sa[d] && x.shape()[d - lead] != 1) sa[d] = sb[d] = 1;
  return {sa, sb};
}
std::vector<int64_t> permute_perm(const Site& s) {
  std::vector<int64_t> perm = s.a.ints("dims");
  for (auto& d : perm) d = wrap(d, s.input(0).dim());
  return perm;
}
std::vector<int64_t> transpose_perm(const Site& s) {
  const int64_t r = s.input(0).dim();
  std::vector<int64_t> perm(r);
  for (int64_t i = 0; i < r; ++i) perm[i] = i;
  if (r >= 2) {
    const auto& d = s.a.ints("dims");
    std::swap(perm[wrap(d[0], r)], perm[wrap(d[1], r)]);
  }
  return perm;
}

// ReduceX over `dims` (all when empty); axes moved from attribute to input at
// opset 13 (ReduceSum) or 18 (the others).
std::string reduce(Builder& b, const Site& s, const char* op, const std::string& x, const std::vector<int64_t>& dims,
                   bool keepdim, const std::string& out) {
  const bool axes_input = std::string(op) == "ReduceSum" ? b.opset() >= 13 : b.opset() >= 18;
  std::vector<std::string> ins{x};
  if (!dims.empty() && axes_input) ins.push_back(b.const_ints(norm_dims(s, dims)));
  std::string o = out.empty() ? b.fresh(op) : out;
  auto* n = b.node(op, ins, {o});
  if (!dims.empty() && !axes_input) Builder::attr(n, "axes", norm_dims(s, dims));
  Builder::attr(n, "keepdims", int64_t{keepdim});
  return o;
}

namespace {

// ---- elementwise ----

// A binary op computed in the output dtype (or in the promoted input dtype for comparisons).
void binary(Builder& b, const Site& s, const char* op, bool compare) {
  const DType dt = compare ? promote_types(s.in_dtype(0), s.in_dtype(1)) : s.out_dtype();
  b.node(op, {in_as(b, s, 0, dt), in_as(b, s, 1, dt)}, {s.out[0]});
}

template <const char* Op, bool Compare>
void emit_binary(Builder& b, const Site& s) {
  binary(b, s, Op, Compare);
}

constexpr char kAdd[] = "Add", kSub[] = "Sub", kMul[] = "Mul", kDiv[] = "Div", kPow[] = "Pow", kMax[] = "Max",
               kMin[] = "Min", kEq[] = "Equal", kLt[] = "Less", kLe[] = "LessOrEqual", kGt[] = "Greater",
               kGe[] = "GreaterOrEqual", kBAnd[] = "BitwiseAnd", kBOr[] = "BitwiseOr", kBXor[] = "BitwiseXor",
               kAnd[] = "And", kOr[] = "Or", kXor[] = "Xor";

void emit_div(Builder& b, const Site& s) {
  if (!is_floating(s.out_dtype())) s.unsupported("integer division (tessel's div is true division)");
  binary(b, s, "Div", false);
}
void emit_ne(Builder& b, const Site& s) {
  const DType dt = promote_types(s.in_dtype(0), s.in_dtype(1));
  std::string e = b.op("Equal", {in_as(b, s, 0, dt), in_as(b, s, 1, dt)});
  b.node("Not", {e}, {s.out[0]});
}
void logical(Builder& b, const Site& s, const char* op) {
  b.node(op, {in_as(b, s, 0, DType::Bool), in_as(b, s, 1, DType::Bool)}, {s.out[0]});
}
void emit_and(Builder& b, const Site& s) { logical(b, s, "And"); }
// Bitwise ops on bool tensors are the logical ones (ONNX's Bitwise* take integers only).
template <const char* Op, const char* Logical>
void emit_bitwise(Builder& b, const Site& s) {
  if (s.out_dtype() == DType::Bool) logical(b, s, Logical);
  else binary(b, s, Op, false);
}
// ONNX BitShift takes unsigned types only; its counts past the width are
// left to runtimes, so exported models agree with tessel for counts below it.
template <bool Left>
void emit_shift(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  if (!is_unsigned(dt)) s.unsupported("shifts of " + std::string(dtype_name(dt)) + " (ONNX BitShift takes unsigned types)");
  auto* n = b.node("BitShift", {in_as(b, s, 0, dt), in_as(b, s, 1, dt)}, {s.out[0]});
  Builder::attr(n, "direction", std::string(Left ? "LEFT" : "RIGHT"));
}
void emit_or(Builder& b, const Site& s) { logical(b, s, "Or"); }
void emit_xor(Builder& b, const Site& s) { logical(b, s, "Xor"); }
void emit_floor_divide(Builder& b, const Site& s) {
  if (!is_floating(s.out_dtype())) s.unsupported("integer floor division");
  const DType dt = s.out_dtype();
  b.node("Floor", {b.op("Div", {in_as(b, s, 0, dt), in_as(b, s, 1, dt)})}, {s.out[0]});
}
void emit_remainder(Builder& b, const Site& s) {  // Python's sign rule: a - floor(a / b) * b
  const DType dt = s.out_dtype();
  const std::string x = in_as(b, s, 0, dt), y = in_as(b, s, 1, dt);
  if (!is_floating(dt)) {
    auto* n = b.node("Mod", {x, y}, {s.out[0]});
    Builder::attr(n, "fmod", int64_t{0});
    return;
  }
  std::string q = b.op("Floor", {b.op("Div", {x, y})});
  b.node("Sub", {x, b.op("Mul", {q, y})}, {s.out[0]});
}

void emit_fmod(Builder& b, const Site& s) {  // C's sign rule: ONNX Mod with fmod = 1
  const DType dt = s.out_dtype();
  auto* n = b.node("Mod", {in_as(b, s, 0, dt), in_as(b, s, 1, dt)}, {s.out[0]});
  Builder::attr(n, "fmod", int64_t{1});
}

// ONNX has no atan2: atan(y / x), moved by +-pi where x < 0; sign(y) * pi / 2 where x == 0.
void emit_atan2(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  const std::string y = in_as(b, s, 0, dt), x = in_as(b, s, 1, dt), zero = c(b, s, 0.0), pi = c(b, s, M_PI);
  const std::string a = b.op("Atan", {b.op("Div", {y, x})});
  const std::string left = b.op("Where", {b.op("Less", {y, zero}), b.op("Sub", {a, pi}), b.op("Add", {a, pi})});
  const std::string adj = b.op("Where", {b.op("Less", {x, zero}), left, a});
  const std::string axis = b.op("Mul", {b.op("Sign", {y}), c(b, s, M_PI / 2)});
  b.node("Where", {b.op("Equal", {x, zero}), axis, adj}, {s.out[0]});
}

template <const char* Op>
void emit_unary(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  b.node(Op, {in_as(b, s, 0, dt)}, {s.out[0]});
}
constexpr char kNeg[] = "Neg", kAbs[] = "Abs", kExp[] = "Exp", kLog[] = "Log", kSqrt[] = "Sqrt",
               kRecip[] = "Reciprocal", kSin[] = "Sin", kCos[] = "Cos", kTan[] = "Tan", kAsin[] = "Asin",
               kAcos[] = "Acos", kAtan[] = "Atan", kSinh[] = "Sinh", kCosh[] = "Cosh", kTanh[] = "Tanh",
               kAsinh[] = "Asinh", kAcosh[] = "Acosh", kAtanh[] = "Atanh", kSigmoid[] = "Sigmoid", kErf[] = "Erf",
               kRelu[] = "Relu", kFloor[] = "Floor", kCeil[] = "Ceil", kSign[] = "Sign", kBNot[] = "BitwiseNot",
               kIdentity[] = "Identity";

void emit_pred(Builder& b, const Site& s, const char* op) { b.node(op, {s.in[0]}, {s.out[0]}); }
void emit_isnan(Builder& b, const Site& s) { emit_pred(b, s, "IsNaN"); }
void emit_isinf(Builder& b, const Site& s) { emit_pred(b, s, "IsInf"); }
void emit_isfinite(Builder& b, const Site& s) {  // integers are always finite: x == x
  if (!is_floating(s.in_dtype(0))) return void(b.node("Equal", {s.in[0], s.in[0]}, {s.out[0]}));
  b.node("Not", {b.op("Or", {b.op("IsNaN", {s.in[0]}), b.op("IsInf", {s.in[0]})})}, {s.out[0]});
}
void emit_not(Builder& b, const Site& s) { b.node("Not", {in_as(b, s, 0, DType::Bool)}, {s.out[0]}); }
void emit_bitwise_not(Builder& b, const Site& s) {
  b.node(s.out_dtype() == DType::Bool ? "Not" : "BitwiseNot", {s.in[0]}, {s.out[0]});
}


void emit_rsqrt(Builder& b, const Site& s) { b.node("Reciprocal", {b.op("Sqrt", {x_as_out(b, s)})}, {s.out[0]}); }
void emit_square(Builder& b, const Site& s) {
  std::string x = x_as_out(b, s);
  b.node("Mul", {x, x}, {s.out[0]});
}
void emit_exp2(Builder& b, const Site& s) { b.node("Pow", {c(b, s, 2.0), x_as_out(b, s)}, {s.out[0]}); }
void emit_expm1(Builder& b, const Site& s) { b.node("Sub", {b.op("Exp", {x_as_out(b, s)}), c(b, s, 1.0)}, {s.out[0]}); }
void emit_log1p(Builder& b, const Site& s) { b.node("Log", {b.op("Add", {x_as_out(b, s), c(b, s, 1.0)})}, {s.out[0]}); }
void emit_log2(Builder& b, const Site& s) { b.node("Div", {b.op("Log", {x_as_out(b, s)}), c(b, s, std::log(2.0))}, {s.out[0]}); }
void emit_log10(Builder& b, const Site& s) { b.node("Div", {b.op("Log", {x_as_out(b, s)}), c(b, s, std::log(10.0))}, {s.out[0]}); }
void emit_erfc(Builder& b, const Site& s) { b.node("Sub", {c(b, s, 1.0), b.op("Erf", {x_as_out(b, s)})}, {s.out[0]}); }
// erfinv, which ONNX lacks: M. Giles' single-precision approximation ("Approximating
// the erfinv function", GPU Computing Gems, 2011) as the first guess, then two Newton
// steps on erf(x) = y (ONNX has Erf), which take it to float64 accuracy; |y| = 1 gives
// +-inf, |y| > 1 and NaN give NaN (through the log).
void emit_erfinv(Builder& b, const Site& s) {
  const DType dt = s.out_dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  auto k = [&](double v) { return b.const_scalar(v, dt); };
  const std::string y = in_as(b, s, 0, dt);
  const std::string w = b.op("Neg", {b.op("Log", {b.op("Mul", {b.op("Sub", {k(1), y}), b.op("Add", {k(1), y})})})});
  auto horner = [&](const std::string& t, std::initializer_list<double> cs) {
    auto it = cs.begin();
    std::string p = k(*it++);
    for (; it != cs.end(); ++it) p = b.op("Add", {b.op("Mul", {p, t}), k(*it)});
    return p;
  };
  const std::string central = horner(b.op("Sub", {w, k(2.5)}),
                                     {2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                                      -0.00125372503, -0.00417768164, 0.246640727, 1.50140941});
  const std::string tail = horner(b.op("Sub", {b.op("Sqrt", {w}), k(3)}),
                                  {-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                                   -0.0076224613, 0.00943887047, 1.00167406, 2.83297682});
  std::string x = b.op("Mul", {b.op("Where", {b.op("Less", {w, k(5)}), central, tail}), y});
  for (int step = 0; step < 2; ++step) {  // x -= (erf(x) - y) / (2 / sqrt(pi) exp(-x^2))
    const std::string slope = b.op("Mul", {k(1.1283791670955126), b.op("Exp", {b.op("Neg", {b.op("Mul", {x, x})})})});
    x = b.op("Sub", {x, b.op("Div", {b.op("Sub", {b.op("Erf", {x}), y}), slope})});
  }
  const std::string edge = b.op("Equal", {b.op("Abs", {y}), k(1)});
  const std::string r = b.op("Where", {edge, b.op("Mul", {b.op("Sign", {y}), k(INFINITY)}), x});
  b.node("Identity", {b.cast(r, dt, s.out_dtype())}, {s.out[0]});
}
void emit_silu(Builder& b, const Site& s) {
  std::string x = x_as_out(b, s);
  b.node("Mul", {x, b.op("Sigmoid", {x})}, {s.out[0]});
}
void emit_trunc(Builder& b, const Site& s) {  // sign(x) * floor(|x|)
  std::string x = x_as_out(b, s);
  b.node("Mul", {b.op("Sign", {x}), b.op("Floor", {b.op("Abs", {x})})}, {s.out[0]});
}
void emit_round(Builder& b, const Site& s) {
  const double decimals = attr_f(s.a, "p0", 0);
  std::string x = x_as_out(b, s);
  if (decimals == 0) {
    b.node("Round", {x}, {s.out[0]});
    return;
  }
  std::string scale = c(b, s, std::pow(10.0, decimals));
  b.node("Div", {b.op("Round", {b.op("Mul", {x, scale})}), scale}, {s.out[0]});
}
// ONNX's HardSigmoid is max(0, min(1, alpha x + beta)): tessel's relu6(x + 3) / 6 to rounding.
std::string hard_sigmoid(Builder& b, const std::string& x, std::string out = "") {
  if (out.empty()) out = b.fresh("hardsigmoid");
  auto* n = b.node("HardSigmoid", {x}, {out});
  Builder::attr(n, "alpha", 1.0 / 6.0);
  Builder::attr(n, "beta", 0.5);
  return out;
}
void emit_hardsigmoid(Builder& b, const Site& s) { hard_sigmoid(b, s.in[0], s.out[0]); }
void emit_hardswish(Builder& b, const Site& s) {  // HardSwish since opset 14
  if (b.opset() >= 14) b.node("HardSwish", {s.in[0]}, {s.out[0]});
  else b.node("Mul", {s.in[0], hard_sigmoid(b, s.in[0])}, {s.out[0]});
}
void emit_leaky_relu(Builder& b, const Site& s) {
  auto* n = b.node("LeakyRelu", {s.in[0]}, {s.out[0]});
  Builder::attr(n, "alpha", attr_f(s.a, "p0", 0.01));
}
void emit_elu(Builder& b, const Site& s) {
  auto* n = b.node("Elu", {s.in[0]}, {s.out[0]});
  Builder::attr(n, "alpha", attr_f(s.a, "p0", 1.0));
}
void emit_gelu(Builder& b, const Site& s) {
  const bool tanh = attr_f(s.a, "p0", 0) != 0;
  std::string x = s.in[0];
  if (b.opset() >= 20) {
    auto* n = b.node("Gelu", {x}, {s.out[0]});
    Builder::attr(n, "approximate", std::string(tanh ? "tanh" : "none"));
    return;
  }
  std::string inner;
  if (!tanh) {
    inner = b.op("Erf", {b.op("Mul", {x, c(b, s, M_SQRT1_2)})});
  } else {  // tanh(sqrt(2/pi) * (x + 0.044715 x^3))
    std::string x3 = b.op("Mul", {x, b.op("Mul", {x, x})});
    std::string u = b.op("Add", {x, b.op("Mul", {x3, c(b, s, 0.044715)})});
    inner = b.op("Tanh", {b.op("Mul", {u, c(b, s, std::sqrt(2.0 / M_PI))})});
  }
  std::string half = b.op("Mul", {x, c(b, s, 0.5)});
  b.node("Mul", {half, b.op("Add", {inner, c(b, s, 1.0)})}, {s.out[0]});
}
void emit_softplus(Builder& b, const Site& s) {
  const double beta = attr_f(s.a, "p0", 1.0), threshold = attr_f(s.a, "p1", 20.0);
  std::string x = s.in[0];
  std::string bx = beta == 1.0 ? x : b.op("Mul", {x, c(b, s, beta)});
  std::string sp = b.op("Softplus", {bx});
  if (beta != 1.0) sp = b.op("Div", {sp, c(b, s, beta)});
  // Above the threshold softplus is the identity, as in tessel and PyTorch.
  std::string over = b.op("Greater", {bx, c(b, s, threshold)});
  b.node("Where", {over, x, sp}, {s.out[0]});
}
void emit_clamp(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  std::string lo = s.a.find("min") ? b.const_scalar(attr_f(s.a, "min", 0), dt) : "";
  std::string hi = s.a.find("max") ? b.const_scalar(attr_f(s.a, "max", 0), dt) : "";
  b.node("Clip", {x_as_out(b, s), lo, hi}, {s.out[0]});
}
void emit_where(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  b.node("Where", {in_as(b, s, 0, DType::Bool), in_as(b, s, 1, dt), in_as(b, s, 2, dt)}, {s.out[0]});
}
void emit_masked_fill(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  b.node("Where", {in_as(b, s, 1, DType::Bool), in_as(b, s, 2, dt), in_as(b, s, 0, dt)}, {s.out[0]});
}
// The opset that brought each cast-only dtype into Cast's type constraints.
int64_t first_opset(DType d) {
  switch (d) {
    case DType::Int4: case DType::UInt4: return 21;
    case DType::Float4E2M1FN: return 23;
    case DType::Float8E8M0FNU: return 24;
    case DType::Int2: case DType::UInt2: return 25;
    default: return is_cast_only(d) ? 19 : 0;  // float8
  }
}
void emit_cast(Builder& b, const Site& s) {
  const DType to = s.out_dtype();
  for (DType d : {s.in_dtype(0), to})
    if (b.opset() < first_opset(d))
      s.unsupported(detail::cat("ONNX has ", d, " from opset ", first_opset(d), " on; export with opset_version >= ",
                                first_opset(d)));
  auto* n = b.node("Cast", {s.in[0]}, {s.out[0]});
  Builder::attr(n, "to", static_cast<int64_t>(onnx_type(to)));
  // tessel's casts to float8 give inf or NaN when out of range, rounding e8m0 to nearest; ONNX's default saturates.
  if (is_float8(to) || to == DType::Float8E8M0FNU) Builder::attr(n, "saturate", int64_t{0});
  if (to == DType::Float8E8M0FNU) Builder::attr(n, "round_mode", std::string("nearest"));
}
void emit_identity(Builder& b, const Site& s) { b.node("Identity", {s.in[0]}, {s.out[0]}); }

// ---- reductions ----



template <const char* Op>
void emit_reduce(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  std::string x = in_as(b, s, 0, dt);
  reduce(b, s, Op, x, attr_ints(s.a, "dims"), attr_i(s.a, "keepdim", 0), s.out[0]);
}
constexpr char kRSum[] = "ReduceSum", kRMean[] = "ReduceMean", kRMax[] = "ReduceMax", kRMin[] = "ReduceMin",
               kRProd[] = "ReduceProd", kRLse[] = "ReduceLogSumExp";

void emit_all_any(Builder& b, const Site& s, const char* op) {
  std::string x = b.cast(s.in[0], s.in_dtype(0), DType::Bool);
  x = b.cast(x, DType::Bool, DType::Int32);
  std::string r = reduce(b, s, op, x, attr_ints(s.a, "dims"), attr_i(s.a, "keepdim", 0));
  auto* n = b.node("Cast", {r}, {s.out[0]});
  Builder::attr(n, "to", static_cast<int64_t>(::onnx::TensorProto::BOOL));
}
void emit_all(Builder& b, const Site& s) { emit_all_any(b, s, "ReduceMin"); }
void emit_any(Builder& b, const Site& s) { emit_all_any(b, s, "ReduceMax"); }

void emit_norm(Builder& b, const Site& s) {
  const double p = attr_f(s.a, "p", 2);
  const char* op = p == 2 ? "ReduceL2" : p == 1 ? "ReduceL1" : nullptr;
  if (!op) s.unsupported(detail::cat("norm with p=", p, " (only 1 and 2)"));
  reduce(b, s, op, x_as_out(b, s), attr_ints(s.a, "dims"), attr_i(s.a, "keepdim", 0), s.out[0]);
}

void emit_var_std(Builder& b, const Site& s, bool is_std) {
  const auto dims = attr_ints(s.a, "dims");
  const bool keep = attr_i(s.a, "keepdim", 0);
  const double corr = attr_f(s.a, "correction", 1);
  const Tensor& x0 = s.input(0);
  int64_t n = 1;
  std::vector<int64_t> nd = norm_dims(s, dims);
  if (nd.empty())
    for (int64_t d = 0; d < x0.dim(); ++d) nd.push_back(d);
  for (int64_t d : nd) n *= x0.shape()[d];
  if (s.b) {
    int64_t nb = 1;
    for (int64_t d : nd) nb *= s.b->inputs[0]->shape()[d];
    if (nb != n) s.unsupported("var/std over a dynamic axis");
  }
  std::string x = x_as_out(b, s);
  std::string mean = reduce(b, s, "ReduceMean", x, nd, true);
  std::string d = b.op("Sub", {x, mean});
  std::string ss = reduce(b, s, "ReduceSum", b.op("Mul", {d, d}), nd, keep);
  std::string v = b.op("Div", {ss, c(b, s, static_cast<double>(n) - corr)});
  b.node(is_std ? "Sqrt" : "Identity", {v}, {s.out[0]});
}
void emit_var(Builder& b, const Site& s) { emit_var_std(b, s, false); }
void emit_std(Builder& b, const Site& s) { emit_var_std(b, s, true); }

void emit_max_min_dim(Builder& b, const Site& s, bool is_max) {
  const int64_t dim = wrap(s.a.i("dim"), std::max<int64_t>(s.input(0).dim(), 1));
  const bool keep = s.a.i("keepdim");
  reduce(b, s, is_max ? "ReduceMax" : "ReduceMin", s.in[0], {dim}, keep, s.out[0]);
  auto* n = b.node(is_max ? "ArgMax" : "ArgMin", {s.in[0]}, {s.out[1]});
  Builder::attr(n, "axis", dim);
  Builder::attr(n, "keepdims", int64_t{keep});
  Builder::attr(n, "select_last_index", int64_t{0});
}
void emit_max_dim(Builder& b, const Site& s) { emit_max_min_dim(b, s, true); }
void emit_min_dim(Builder& b, const Site& s) { emit_max_min_dim(b, s, false); }

void emit_arg(Builder& b, const Site& s, const char* op) {
  const bool keep = attr_i(s.a, "keepdim", 0);
  if (s.a.find("dim")) {
    auto* n = b.node(op, {s.in[0]}, {s.out[0]});
    Builder::attr(n, "axis", wrap(s.a.i("dim"), std::max<int64_t>(s.input(0).dim(), 1)));
    Builder::attr(n, "keepdims", int64_t{keep});
    return;
  }
  // Over all elements: argmax of the flattened tensor (0-d, or all-ones dims with keepdim).
  std::string r = b.fresh(op);
  auto* n = b.node(op, {b.op("Reshape", {s.in[0], b.const_ints({-1})})}, {r});
  Builder::attr(n, "axis", int64_t{0});
  Builder::attr(n, "keepdims", int64_t{0});
  b.node("Reshape", {r, b.const_ints(s.out_shape_a())}, {s.out[0]});
}
void emit_argmax(Builder& b, const Site& s) { emit_arg(b, s, "ArgMax"); }
void emit_argmin(Builder& b, const Site& s) { emit_arg(b, s, "ArgMin"); }

void emit_cumsum(Builder& b, const Site& s) {
  const int64_t dim = wrap(s.a.i("dim"), std::max<int64_t>(s.input(0).dim(), 1));
  b.node("CumSum", {x_as_out(b, s), b.const_int(dim)}, {s.out[0]});
}
// ONNX has no cumulative product: y_j = prod_{i <= j} x_i is ReduceProd over i
// of Where(i <= j, x_i, 1), x broadcast to [..., n, n, ...] along `dim` (n^2
// elements per lane: fine for the short axes cumprod is used on).
void emit_cumprod(Builder& b, const Site& s) {
  const Tensor& x = s.input(0);
  const std::string xv = x_as_out(b, s);
  if (x.dim() == 0) {  // a 0-d tensor is its own cumulative product
    wrap(s.a.i("dim"), 1);
    b.node("Identity", {xv}, {s.out[0]});
    return;
  }
  const int64_t r = x.dim(), d = wrap(s.a.i("dim"), r);
  const int64_t na = x.shape()[d], nb = s.b ? s.b->inputs[0]->shape()[d] : na;
  std::string idx;
  if (na == nb) {
    std::vector<int64_t> v(static_cast<size_t>(na));
    for (int64_t k = 0; k < na; ++k) v[static_cast<size_t>(k)] = k;
    idx = b.const_ints(v);
  } else {
    const std::string n = b.op("Squeeze", {b.dim(na, nb, s.in[0]), b.const_ints({0})});
    idx = b.op("Range", {b.const_int(0), n, b.const_int(1)});
  }
  std::string mask = b.op("LessOrEqual", {b.op("Unsqueeze", {idx, b.const_ints({1})}),
                                          b.op("Unsqueeze", {idx, b.const_ints({0})})});  // [i, j]: i <= j
  if (r - d - 1 > 0) {  // trailing dims of x broadcast
    std::vector<int64_t> axes;
    for (int64_t k = 0; k < r - d - 1; ++k) axes.push_back(2 + k);
    mask = b.op("Unsqueeze", {mask, b.const_ints(axes)});
  }
  const std::string xi = b.op("Unsqueeze", {xv, b.const_ints({d + 1})});  // [..., n (i), 1, ...]
  const std::string t = b.op("Where", {mask, xi, b.const_scalar(1, s.out_dtype())});
  reduce(b, s, "ReduceProd", t, {d}, false, s.out[0]);
}
void emit_softmax_like(Builder& b, const Site& s, const char* op) {
  const int64_t dim = wrap(s.a.i("dim"), std::max<int64_t>(s.input(0).dim(), 1));
  if (b.opset() < 13 && dim != s.input(0).dim() - 1) s.unsupported("softmax over a dim other than the last before opset 13");
  auto* n = b.node(op, {x_as_out(b, s)}, {s.out[0]});
  Builder::attr(n, "axis", dim);
}
void emit_softmax(Builder& b, const Site& s) { emit_softmax_like(b, s, "Softmax"); }
void emit_log_softmax(Builder& b, const Site& s) { emit_softmax_like(b, s, "LogSoftmax"); }

// ---- linear algebra ----

void emit_matmul(Builder& b, const Site& s) { b.node("MatMul", {s.in[0], s.in[1]}, {s.out[0]}); }
void emit_linear(Builder& b, const Site& s) {
  const Tensor& x = s.input(0);
  if (x.dim() == 2 && s.input(1).dim() == 2) {
    std::vector<std::string> ins{s.in[0], s.in[1]};
    if (s.has_input(2)) ins.push_back(s.in[2]);
    auto* n = b.node("Gemm", ins, {s.out[0]});
    Builder::attr(n, "transB", int64_t{1});
    return;
  }
  auto* t = b.node("Transpose", {s.in[1]}, {b.fresh("weight_t")});
  if (s.input(1).dim() == 2) Builder::attr(t, "perm", std::vector<int64_t>{1, 0});
  std::string y = b.op("MatMul", {s.in[0], t->output(0)});
  if (s.has_input(2)) b.node("Add", {y, s.in[2]}, {s.out[0]});
  else b.node("Identity", {y}, {s.out[0]});
}

// ---- shape ----

void emit_reshape(Builder& b, const Site& s) {
  std::string shape = b.shape(s.out_shape_a(), s.out_shape_b(), s.in[0], true);
  b.node("Reshape", {s.in[0], shape}, {s.out[0]});
}
void emit_expand(Builder& b, const Site& s) {
  const auto [sa, sb] = expand_target(s);
  b.node("Expand", {s.in[0], b.shape(sa, sb, s.in[0], false)}, {s.out[0]});
}
void emit_permute(Builder& b, const Site& s) {
  auto* n = b.node("Transpose", {s.in[0]}, {s.out[0]});
  Builder::attr(n, "perm", permute_perm(s));
}
void emit_transpose(Builder& b, const Site& s) {
  if (s.input(0).dim() < 2) {
    b.node("Identity", {s.in[0]}, {s.out[0]});
    return;
  }
  auto* n = b.node("Transpose", {s.in[0]}, {s.out[0]});
  Builder::attr(n, "perm", transpose_perm(s));
}
// A start/stop index: INT64_MAX for "to the end", negative when it moves with a dynamic size.
int64_t slice_index(const Site& s, const char* name, int64_t size_a, int64_t size_b) {
  auto [va, vb] = s.int_pair(name);
  if (va == vb && size_a == size_b) return va;
  if (va == size_a && vb == size_b) return std::string(name) == "stop" ? INT64_MAX : va - size_a;
  if (va - size_a == vb - size_b) return va - size_a;
  if (va == vb) return va;
  s.unsupported(detail::cat("a slice ", name, " that depends on a dynamic axis"));
}
void emit_slice(Builder& b, const Site& s) {
  const int64_t r = s.input(0).dim();
  const int64_t dim = wrap(s.a.i("dim"), r);
  const int64_t na = s.input(0).shape()[dim], nb = s.b ? s.b->inputs[0]->shape()[dim] : na;
  const int64_t step = s.a.i("step");
  const int64_t start = slice_index(s, "start", na, nb);
  int64_t stop = slice_index(s, "stop", na, nb);
  if (stop >= na && na == nb) stop = INT64_MAX;
  b.node("Slice", {s.in[0], b.const_ints({start}), b.const_ints({stop}), b.const_ints({dim}), b.const_ints({step})},
         {s.out[0]});
}
void emit_select(Builder& b, const Site& s) {
  const int64_t r = s.input(0).dim();
  const int64_t dim = wrap(s.a.i("dim"), r);
  const int64_t na = s.input(0).shape()[dim], nb = s.b ? s.b->inputs[0]->shape()[dim] : na;
  auto [ia, ib] = s.int_pair("index");
  int64_t idx = ia;
  if (na != nb) {
    const int64_t ra = ia < 0 ? ia + na : ia, rb = ib < 0 ? ib + nb : ib;
    if (ra == rb) idx = ra;
    else if (ra - na == rb - nb) idx = ra - na;
    else s.unsupported("a select index that depends on a dynamic axis");
  }
  auto* n = b.node("Gather", {s.in[0], b.const_int(idx)}, {s.out[0]});
  Builder::attr(n, "axis", dim);
}
void emit_cat(Builder& b, const Site& s) {
  const int64_t r = s.out_shape_a().size();
  std::vector<std::string> ins;
  const DType dt = s.out_dtype();
  for (size_t k = 0; k < s.in.size(); ++k) {
    // cat skips 1-D empty tensors, as PyTorch does (legacy behaviour).
    if (s.input(k).dim() == 1 && s.input(k).numel() == 0 && r != 1) continue;
    ins.push_back(in_as(b, s, k, dt));
  }
  auto* n = b.node("Concat", ins, {s.out[0]});
  Builder::attr(n, "axis", wrap(s.a.i("dim"), r));
}
void emit_stack(Builder& b, const Site& s) {
  const int64_t r = s.out_shape_a().size();
  const int64_t dim = wrap(s.a.i("dim"), r);
  std::vector<std::string> ins;
  for (size_t k = 0; k < s.in.size(); ++k)
    ins.push_back(b.op("Unsqueeze", {in_as(b, s, k, s.out_dtype()), b.const_ints({dim})}));
  auto* n = b.node("Concat", ins, {s.out[0]});
  Builder::attr(n, "axis", dim);
}
void emit_split(Builder& b, const Site& s) {
  const int64_t dim = wrap(s.a.i("dim"), s.input(0).dim());
  if (s.b && s.b->ints("sizes") != s.a.ints("sizes")) s.unsupported("split sizes that depend on a dynamic axis");
  auto* n = b.node("Split", {s.in[0], b.const_ints(s.a.ints("sizes"))}, s.out);
  Builder::attr(n, "axis", dim);
}
void emit_unbind(Builder& b, const Site& s) {
  const int64_t dim = wrap(s.a.i("dim"), s.input(0).dim());
  if (s.b && s.b->outputs.size() != s.a.outputs.size()) s.unsupported("unbind along a dynamic axis");
  std::vector<std::string> parts;
  for (size_t k = 0; k < s.out.size(); ++k) parts.push_back(b.fresh("part"));
  auto* n = b.node("Split", {s.in[0], b.const_ints(std::vector<int64_t>(s.out.size(), 1))}, parts);
  Builder::attr(n, "axis", dim);
  for (size_t k = 0; k < s.out.size(); ++k) b.node("Squeeze", {parts[k], b.const_ints({dim})}, {s.out[k]});
}
void emit_flip(Builder& b, const Site& s) {
  std::vector<int64_t> dims = s.a.ints("dims");
  for (auto& d : dims) d = wrap(d, s.input(0).dim());
  const size_t n = dims.size();
  b.node("Slice",
         {s.in[0], b.const_ints(std::vector<int64_t>(n, -1)), b.const_ints(std::vector<int64_t>(n, INT64_MIN)),
          b.const_ints(dims), b.const_ints(std::vector<int64_t>(n, -1))},
         {s.out[0]});
}
void emit_repeat(Builder& b, const Site& s) {
  const auto& reps = s.a.ints("repeats");
  std::string x = s.in[0];
  const int64_t r = s.input(0).dim();
  if (static_cast<int64_t>(reps.size()) > r) {
    Shape lead(reps.size() - r, 1), shp = lead;
    for (int64_t d : s.input(0).shape()) shp.push_back(d);
    Shape shp_b = lead;
    for (int64_t d : (s.b ? s.b->inputs[0]->shape() : s.input(0).shape())) shp_b.push_back(d);
    x = b.op("Reshape", {x, b.shape(shp, shp_b, x, true)});
  }
  b.node("Tile", {x, b.const_ints(reps)}, {s.out[0]});
}
void emit_tri(Builder& b, const Site& s, bool upper) {
  auto* n = b.node("Trilu", {s.in[0], b.const_int(s.a.i("diagonal"))}, {s.out[0]});
  Builder::attr(n, "upper", int64_t{upper});
}
void emit_tril(Builder& b, const Site& s) { emit_tri(b, s, false); }
void emit_triu(Builder& b, const Site& s) { emit_tri(b, s, true); }
void emit_pad(Builder& b, const Site& s) {
  const auto& p = s.a.ints("pad");  // last dim first: (left, right, top, bottom, ...)
  const int64_t r = s.input(0).dim();
  std::vector<int64_t> pads(2 * r, 0);
  for (size_t k = 0; k + 1 < p.size() + 1 && k / 2 < static_cast<size_t>(r); k += 2) {
    const int64_t d = r - 1 - static_cast<int64_t>(k / 2);
    pads[d] = p[k];
    pads[d + r] = p[k + 1];
  }
  const std::string& mode = s.a.s("mode");
  std::string onnx_mode = mode == "constant" ? "constant" : mode == "reflect" ? "reflect"
                          : mode == "replicate"                   ? "edge"
                          : mode == "circular"                    ? "wrap"
                                                                  : "";
  if (onnx_mode.empty()) s.unsupported("pad mode '" + mode + "'");
  if (onnx_mode == "wrap" && b.opset() < 19) s.unsupported("circular padding needs opset 19");
  for (int64_t v : pads)
    if (v < 0 && onnx_mode != "constant") s.unsupported("negative padding with mode '" + mode + "'");
  std::vector<std::string> ins{s.in[0], b.const_ints(pads)};
  if (onnx_mode == "constant") ins.push_back(b.const_scalar(attr_f(s.a, "value", 0), s.in_dtype(0)));
  auto* n = b.node("Pad", ins, {s.out[0]});
  Builder::attr(n, "mode", onnx_mode);
}

// ---- creation ----

void emit_full(Builder& b, const Site& s) {
  Tensor v = scalar_tensor(Scalar(attr_f(s.a, "value", 0)), TensorOptions(s.out_dtype())).reshape({1});
  auto* n = b.node("ConstantOfShape", {b.shape(s.out_shape_a(), s.out_shape_b(), "", false)}, {s.out[0]});
  Builder::attr_tensor(n, "value", v);
}
void emit_arange(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  const double start = attr_f(s.a, "start", 0), step = attr_f(s.a, "step", 1);
  const double end_a = attr_f(s.a, "end", 0), end_b = s.b ? attr_f(*s.b, "end", 0) : end_a;
  std::string end;
  if (end_a == end_b) {
    end = b.const_scalar(end_a, dt);
  } else {
    if (start != 0 || step != 1) s.unsupported("an arange with a dynamic end and a start or step");
    std::string d = b.dim(static_cast<int64_t>(end_a), static_cast<int64_t>(end_b), "");
    end = b.cast(b.op("Squeeze", {d, b.const_ints({0})}), DType::Int64, dt);
  }
  b.node("Range", {b.const_scalar(start, dt), end, b.const_scalar(step, dt)}, {s.out[0]});
}

void emit_lerp(Builder& b, const Site& s) {  // start + w * (end - start)
  const DType dt = s.out_dtype();
  std::string a = in_as(b, s, 0, dt), e = in_as(b, s, 1, dt), w = in_as(b, s, 2, dt);
  b.node("Add", {a, b.op("Mul", {w, b.op("Sub", {e, a})})}, {s.out[0]});
}
void emit_nan_to_num(Builder& b, const Site& s) {
  const DType dt = s.out_dtype();
  std::string x = s.in[0];
  std::string y = b.op("Where", {b.op("IsNaN", {x}), c(b, s, attr_f(s.a, "p0", 0)), x});
  auto* pos = b.node("IsInf", {x}, {b.fresh("posinf")});
  Builder::attr(pos, "detect_negative", int64_t{0});
  y = b.op("Where", {pos->output(0), b.const_scalar(attr_f(s.a, "p1", 0), dt), y});
  auto* neg = b.node("IsInf", {x}, {b.fresh("neginf")});
  Builder::attr(neg, "detect_positive", int64_t{0});
  b.node("Where", {neg->output(0), b.const_scalar(attr_f(s.a, "p2", 0), dt), y}, {s.out[0]});
}
}  // namespace

const std::map<std::string, Emitter>& emitters() {
  static const std::map<std::string, Emitter> table = [] {
    std::map<std::string, Emitter> t = {
      {"add", emit_binary<kAdd, false>}, {"sub", emit_binary<kSub, false>}, {"mul", emit_binary<kMul, false>},
      {"div", emit_div}, {"pow", emit_binary<kPow, false>}, {"maximum", emit_binary<kMax, false>},
      {"minimum", emit_binary<kMin, false>}, {"eq", emit_binary<kEq, true>}, {"ne", emit_ne},
      {"lt", emit_binary<kLt, true>}, {"le", emit_binary<kLe, true>}, {"gt", emit_binary<kGt, true>},
      {"ge", emit_binary<kGe, true>}, {"logical_and", emit_and}, {"logical_or", emit_or},
      {"logical_xor", emit_xor}, {"bitwise_and", emit_bitwise<kBAnd, kAnd>},
      {"bitwise_or", emit_bitwise<kBOr, kOr>}, {"bitwise_xor", emit_bitwise<kBXor, kXor>},
      {"bitwise_left_shift", emit_shift<true>}, {"bitwise_right_shift", emit_shift<false>},
      {"floor_divide", emit_floor_divide}, {"atan2", emit_atan2}, {"remainder", emit_remainder}, {"fmod", emit_fmod},
      {"neg", emit_unary<kNeg>}, {"abs", emit_unary<kAbs>}, {"exp", emit_unary<kExp>}, {"log", emit_unary<kLog>},
      {"sqrt", emit_unary<kSqrt>}, {"reciprocal", emit_unary<kRecip>}, {"sin", emit_unary<kSin>},
      {"cos", emit_unary<kCos>}, {"tan", emit_unary<kTan>}, {"asin", emit_unary<kAsin>},
      {"acos", emit_unary<kAcos>}, {"atan", emit_unary<kAtan>}, {"sinh", emit_unary<kSinh>},
      {"cosh", emit_unary<kCosh>}, {"tanh", emit_unary<kTanh>}, {"asinh", emit_unary<kAsinh>},
      {"acosh", emit_unary<kAcosh>}, {"atanh", emit_unary<kAtanh>}, {"sigmoid", emit_unary<kSigmoid>},
      {"erf", emit_unary<kErf>}, {"relu", emit_unary<kRelu>}, {"floor", emit_unary<kFloor>},
      {"ceil", emit_unary<kCeil>}, {"sign", emit_unary<kSign>}, {"bitwise_not", emit_bitwise_not},
      {"isnan", emit_isnan}, {"isinf", emit_isinf}, {"isfinite", emit_isfinite}, {"logical_not", emit_not}, {"rsqrt", emit_rsqrt},
      {"square", emit_square}, {"exp2", emit_exp2}, {"expm1", emit_expm1}, {"log1p", emit_log1p},
      {"log2", emit_log2}, {"log10", emit_log10}, {"erfc", emit_erfc}, {"erfinv", emit_erfinv}, {"silu", emit_silu},
      {"hardsigmoid", emit_hardsigmoid}, {"hardswish", emit_hardswish},
      {"trunc", emit_trunc}, {"round", emit_round}, {"leaky_relu", emit_leaky_relu}, {"elu", emit_elu},
      {"gelu", emit_gelu}, {"softplus", emit_softplus}, {"clamp", emit_clamp}, {"where", emit_where},
      {"masked_fill", emit_masked_fill}, {"cast", emit_cast}, {"identity", emit_identity},
      {"sum", emit_reduce<kRSum>}, {"mean", emit_reduce<kRMean>}, {"amax", emit_reduce<kRMax>},
      {"amin", emit_reduce<kRMin>}, {"prod", emit_reduce<kRProd>}, {"logsumexp", emit_reduce<kRLse>},
      {"all", emit_all}, {"any", emit_any}, {"norm", emit_norm}, {"var", emit_var}, {"std", emit_std},
      {"max_dim", emit_max_dim}, {"min_dim", emit_min_dim}, {"argmax", emit_argmax}, {"argmin", emit_argmin},
      {"cumsum", emit_cumsum}, {"cumprod", emit_cumprod}, {"softmax", emit_softmax}, {"log_softmax", emit_log_softmax},
      {"matmul", emit_matmul}, {"linear", emit_linear}, {"reshape", emit_reshape}, {"expand", emit_expand},
      {"permute", emit_permute}, {"transpose", emit_transpose}, {"slice", emit_slice}, {"select", emit_select},
      {"cat", emit_cat}, {"stack", emit_stack}, {"split", emit_split}, {"unbind", emit_unbind},
      {"flip", emit_flip}, {"repeat", emit_repeat}, {"tril", emit_tril}, {"triu", emit_triu}, {"pad", emit_pad},
      {"full", emit_full}, {"arange", emit_arange}, {"lerp", emit_lerp},
      {"nan_to_num", emit_nan_to_num},
    };
    add_nn_emitters(t);
    add_index_emitters(t);
    add_fft_emitters(t);
    add_random_emitters(t);
    return t;
  }();
  return table;
}

}  // namespace tessel::onnx::exporter
