// Export of the FFTs and of complex values. ONNX's operators have no complex
// arithmetic (DFT itself reads and writes (re, im) pairs in a trailing dim of 2),
// so export carries every complex value as such a pair of its real dtype, graph
// inputs and outputs included (export.cpp marks them; Builder::is_pair). The
// emitters here are the ones that take or give complex values: the transforms
// (which also run on real values), and what a spectrum usually meets next.
#include <cmath>

#include "src/onnx/export_internal.h"

namespace tessel::onnx::exporter {
namespace {

// Input k for DFT, or to broadcast against pairs: its pairs when complex, else [..., 1] in `rt`.
std::string signal(Builder& b, const Site& s, size_t k, DType rt) {
  if (b.is_pair(s.in[k])) return b.cast(s.in[k], to_real(s.in_dtype(k)), rt);
  return b.op("Unsqueeze", {in_as(b, s, k, rt), b.const_ints({-1})});
}

// Input k as pairs [..., 2] in `rt` (zero imaginary parts for a real one).
std::string pairs(Builder& b, const Site& s, size_t k, DType rt) {
  if (b.is_pair(s.in[k])) return b.cast(s.in[k], to_real(s.in_dtype(k)), rt);
  const std::string v = signal(b, s, k, rt);
  const int64_t r = s.input(k).dim() + 1;
  std::vector<int64_t> pads(2 * r, 0);
  pads.back() = 1;  // one zero after the real part, along the last dim
  return b.op("Pad", {v, b.const_ints(pads)}, "pairs");
}

std::string part(Builder& b, const std::string& v, int64_t k) {  // [..., 1]: re (0) or im (1)
  return b.op("Slice", {v, b.const_ints({k}), b.const_ints({k + 1}), b.const_ints({-1})}, k ? "im" : "re");
}

std::string concat_last(Builder& b, const std::string& re, const std::string& im, const std::string& out = "") {
  const std::string o = out.empty() ? b.fresh("pairs") : out;
  auto* n = b.node("Concat", {re, im}, {o});
  Builder::attr(n, "axis", int64_t{-1});
  return o;
}

std::string conj_of(Builder& b, const std::string& v, DType rt, const std::string& out = "") {
  const Tensor sign = stack({scalar_tensor(Scalar(1.0), TensorOptions(rt)), scalar_tensor(Scalar(-1.0), TensorOptions(rt))}, 0);
  const std::string o = out.empty() ? b.fresh("conj") : out;
  b.node("Mul", {v, b.const_tensor(sign, "conj_sign")}, {o});
  return o;
}

std::string cmul(Builder& b, const std::string& x, const std::string& y, const std::string& out = "") {
  const std::string xr = part(b, x, 0), xi = part(b, x, 1), yr = part(b, y, 0), yi = part(b, y, 1);
  const std::string re = b.op("Sub", {b.op("Mul", {xr, yr}), b.op("Mul", {xi, yi})});
  const std::string im = b.op("Add", {b.op("Mul", {xr, yi}), b.op("Mul", {xi, yr})});
  return concat_last(b, re, im, out);
}

// One ONNX DFT along `axis` (of the signal dims; the pair dim is last), length
// n (<= 0: the input's, or 2 * (m - 1) for the inverse one-sided one).
std::string dft(Builder& b, const std::string& v, int64_t axis, int64_t n, bool inverse, bool onesided) {
  std::vector<std::string> in{v};
  if (n > 0 || b.opset() >= 20) in.push_back(n > 0 ? b.const_int(n) : std::string());
  if (b.opset() >= 20) in.push_back(b.const_int(axis));
  auto* node = b.node("DFT", in, {b.fresh("dft")});
  if (b.opset() < 20) Builder::attr(node, "axis", axis);
  Builder::attr(node, "inverse", int64_t{inverse});
  Builder::attr(node, "onesided", int64_t{onesided});
  return node->output(0);
}

// tessel's factor on a transform of length n over ONNX's (none forward, 1/n inverse).
double factor(const Site& s, const std::string& norm, int64_t n, bool inverse) {
  double want;
  if (norm == "backward") want = inverse ? 1.0 / double(n) : 1.0;
  else if (norm == "ortho") want = 1.0 / std::sqrt(double(n));
  else if (norm == "forward") want = inverse ? 1.0 : 1.0 / double(n);
  else s.unsupported(detail::cat("norm \"", norm, "\""));
  return inverse ? want * double(n) : want;
}

std::string swapped(const std::string& norm) {
  return norm == "backward" ? "forward" : norm == "forward" ? "backward" : norm;
}

// The length of the transform along complex dim d: the `sizes` entry, or the
// default from the input (dflt_of maps the input's size to it). A default that
// depends on a dynamic axis is -1 (DFT's own default then), which the norm's
// factor cannot use.
struct Length {
  int64_t n;        // the length in trace A
  bool given;       // from `sizes` (the DFT gets it as dft_length)
  bool dynamic;     // differs between the traces
};
Length length(const Site& s, size_t i, int64_t d, int64_t (*dflt_of)(int64_t)) {
  const int64_t sz = s.a.ints("sizes").at(i);
  if (sz > 0) return {sz, true, false};
  const int64_t na = s.input(0).shape()[d], nb = s.b ? s.b->inputs[0]->shape()[d] : na;
  return {dflt_of(na), false, na != nb};
}
int64_t same(int64_t m) { return m; }
int64_t irfft_default(int64_t m) { return 2 * (m - 1); }

std::string scaled(Builder& b, const Site& s, const std::string& v, const std::string& norm, const Length& len,
                   bool inverse, DType rt) {
  if (norm == "backward") return v;  // ONNX's own scaling
  if (len.dynamic) s.unsupported(detail::cat("norm \"", norm, "\" over a dim whose size depends on a dynamic axis"));
  return b.op("Mul", {v, b.const_scalar(factor(s, norm, len.n, inverse), rt)}, "scaled");
}

void check_opset(Builder& b, const Site& s) {
  if (b.opset() < 17) s.unsupported(detail::cat("FFTs need opset_version >= 17 (ONNX DFT), got ", b.opset()));
}

DType real_dtype(const Site& s) { return is_complex(s.out_dtype()) ? to_real(s.out_dtype()) : s.out_dtype(); }

// fft, ifft, fftn, ifftn: complex transforms of a real or complex input.
void emit_c2c(Builder& b, const Site& s) {
  check_opset(b, s);
  const bool inverse = s.a.op[0] == 'i';
  const DType rt = real_dtype(s);
  const auto& dims = s.a.ints("dims");
  const std::string& norm = s.a.s("norm");
  std::string v = dims.empty() || inverse ? pairs(b, s, 0, rt) : signal(b, s, 0, rt);
  for (size_t i = 0; i < dims.size(); ++i) {
    const Length len = length(s, i, dims[i], same);
    v = dft(b, v, dims[i], len.given ? len.n : -1, inverse, false);
    v = scaled(b, s, v, norm, len, inverse, rt);
  }
  b.node("Identity", {v}, {s.out[0]});
}

// rfft, rfftn: the one-sided transform along the last of dims, then complex ones.
void emit_rfft_n(Builder& b, const Site& s, const std::string& norm, const std::string& out) {
  check_opset(b, s);
  const DType rt = real_dtype(s);
  const auto& dims = s.a.ints("dims");
  if (dims.empty()) s.unsupported("no dim to transform");
  const size_t last = dims.size() - 1;
  const Length ll = length(s, last, dims[last], same);
  std::string v = dft(b, signal(b, s, 0, rt), dims[last], ll.given ? ll.n : -1, false, true);
  v = scaled(b, s, v, norm, ll, false, rt);
  for (size_t i = 0; i < last; ++i) {
    const Length len = length(s, i, dims[i], same);
    v = dft(b, v, dims[i], len.given ? len.n : -1, false, false);
    v = scaled(b, s, v, norm, len, false, rt);
  }
  b.node("Identity", {v}, {out});
}
void emit_rfft(Builder& b, const Site& s) { emit_rfft_n(b, s, s.a.s("norm"), s.out[0]); }
void emit_ihfft(Builder& b, const Site& s) {  // conj(rfft) with the norm's direction swapped
  const std::string v = b.fresh("rfft");
  emit_rfft_n(b, s, swapped(s.a.s("norm")), v);
  conj_of(b, v, real_dtype(s), s.out[0]);
}

// The half spectrum `v` (pairs) along `axis` cut or zero-padded to `bins`, as
// numpy's irfft does (known sizes only).
std::string half_spectrum(Builder& b, const Site& s, const std::string& v, const Shape& shape, int64_t axis,
                          int64_t bins) {
  const int64_t m = shape[axis];
  if (s.b && s.b->inputs[0]->shape()[axis] != m) s.unsupported("irfft with n along a dynamic axis");
  if (m == bins) return v;
  if (m > bins) return b.op("Slice", {v, b.const_ints({0}), b.const_ints({bins}), b.const_ints({axis})}, "half");
  std::vector<int64_t> pads(2 * (shape.size() + 1), 0);
  pads[shape.size() + 1 + axis] = bins - m;
  return b.op("Pad", {v, b.const_ints(pads)}, "half");
}

// irfft, irfftn, hfft: complex inverses along the others, then the one-sided
// inverse along the last of dims (hfft: of the conjugate, its norm swapped).
void emit_irfft(Builder& b, const Site& s) {
  check_opset(b, s);
  const DType rt = real_dtype(s);
  const auto& dims = s.a.ints("dims");
  if (dims.empty()) s.unsupported("no dim to transform");
  const bool hermitian = s.a.op == "hfft";
  const std::string& norm = s.a.s("norm");
  std::string v = pairs(b, s, 0, rt);
  if (hermitian) v = conj_of(b, v, rt);
  Shape shape = s.input(0).shape();
  const size_t last = dims.size() - 1;
  for (size_t i = 0; i < last; ++i) {
    const Length len = length(s, i, dims[i], same);
    v = dft(b, v, dims[i], len.given ? len.n : -1, true, false);
    v = scaled(b, s, v, norm, len, true, rt);
    shape[dims[i]] = len.n;
  }
  const int64_t dl = dims[last];
  const Length ll = length(s, last, dl, irfft_default);
  if (ll.given) v = half_spectrum(b, s, v, shape, dl, ll.n / 2 + 1);
  v = dft(b, v, dl, ll.given ? ll.n : -1, true, true);
  v = scaled(b, s, v, hermitian ? swapped(norm) : norm, ll, true, rt);
  b.node("Squeeze", {v, b.const_ints({-1})}, {s.out[0]});
}

// fft_real, ifft_real: [..., 2] real tensors both ways (not marked as pairs).
void emit_c2c_real(Builder& b, const Site& s) {
  check_opset(b, s);
  const bool inverse = s.a.op == "ifft_real";
  const DType rt = s.out_dtype();
  const int64_t d = s.a.ints("dims").at(0);
  const Length len = length(s, 0, d, same);
  std::string v = dft(b, in_as(b, s, 0, rt), d, len.given ? len.n : -1, inverse, false);
  b.node("Identity", {scaled(b, s, v, s.a.s("norm"), len, inverse, rt)}, {s.out[0]});
}

// rfft_real: [..., n] -> [..., n / 2 + 1, 2]; irfft_real: the way back.
void emit_rfft_real(Builder& b, const Site& s) {
  check_opset(b, s);
  const DType rt = s.out_dtype();
  const int64_t d = s.input(0).dim() - 1, n = s.a.i("n");
  const int64_t na = s.input(0).shape()[d], nb = s.b ? s.b->inputs[0]->shape()[d] : na;
  const Length len = n > 0 ? Length{n, true, false} : Length{na, false, na != nb};
  std::string v = b.op("Unsqueeze", {in_as(b, s, 0, rt), b.const_ints({-1})});
  v = dft(b, v, d, len.given ? len.n : -1, false, true);
  b.node("Identity", {scaled(b, s, v, s.a.s("norm"), len, false, rt)}, {s.out[0]});
}
void emit_irfft_real(Builder& b, const Site& s) {
  check_opset(b, s);
  const DType rt = s.out_dtype();
  const Shape& shape = s.input(0).shape();
  const int64_t r = static_cast<int64_t>(shape.size()), d = r - 2, n = s.a.i("n");
  const Shape cshape(shape.begin(), shape.end() - 1);
  std::string v = half_spectrum(b, s, in_as(b, s, 0, rt), cshape, d, n / 2 + 1);
  v = dft(b, v, d, n, true, true);
  v = scaled(b, s, v, s.a.s("norm"), Length{n, true, false}, true, rt);
  b.node("Squeeze", {v, b.const_ints({-1})}, {s.out[0]});
}

// ---- complex values ----

void emit_view_as(Builder& b, const Site& s) { b.node("Identity", {s.in[0]}, {s.out[0]}); }

void emit_conj(Builder& b, const Site& s) {
  if (!b.is_pair(s.in[0])) return emit_view_as(b, s);
  conj_of(b, s.in[0], to_real(s.in_dtype(0)), s.out[0]);
}

void emit_cast(Builder& b, const Site& s) {  // to a complex dtype (from one: refused, as the parts are not a value)
  if (!is_complex(s.out_dtype())) s.unsupported("a complex value cast to a real dtype (take .real or .abs() first)");
  b.node("Identity", {pairs(b, s, 0, to_real(s.out_dtype()))}, {s.out[0]});
}

void emit_neg(Builder& b, const Site& s) { b.node("Neg", {s.in[0]}, {s.out[0]}); }

void emit_abs(Builder& b, const Site& s) {  // |z| = the L2 norm of its pair
  const std::string axes = b.const_ints({s.input(0).dim()});
  auto* n = b.opset() >= 18 ? b.node("ReduceL2", {s.in[0], axes}, {s.out[0]}) : b.node("ReduceL2", {s.in[0]}, {s.out[0]});
  if (b.opset() < 18) Builder::attr(n, "axes", std::vector<int64_t>{s.input(0).dim()});
  Builder::attr(n, "keepdims", int64_t{0});
}

template <bool Sub>
void emit_add_sub(Builder& b, const Site& s) {
  const DType rt = to_real(s.out_dtype());
  b.node(Sub ? "Sub" : "Add", {pairs(b, s, 0, rt), pairs(b, s, 1, rt)}, {s.out[0]});
}

void emit_mul(Builder& b, const Site& s) {
  const DType rt = to_real(s.out_dtype());
  if (b.is_pair(s.in[0]) && b.is_pair(s.in[1])) {
    cmul(b, signal(b, s, 0, rt), signal(b, s, 1, rt), s.out[0]);
    return;
  }
  b.node("Mul", {signal(b, s, 0, rt), signal(b, s, 1, rt)}, {s.out[0]});  // a real factor scales both parts
}

void emit_div(Builder& b, const Site& s) {
  const DType rt = to_real(s.out_dtype());
  if (!b.is_pair(s.in[1])) {
    b.node("Div", {signal(b, s, 0, rt), signal(b, s, 1, rt)}, {s.out[0]});
    return;
  }
  // x / y = x conj(y) / |y|^2
  const std::string y = signal(b, s, 1, rt);
  const std::string num = cmul(b, pairs(b, s, 0, rt), conj_of(b, y, rt));
  auto* sq = b.opset() >= 18 ? b.node("ReduceSumSquare", {y, b.const_ints({-1})}, {b.fresh("abs2")})
                             : b.node("ReduceSumSquare", {y}, {b.fresh("abs2")});
  if (b.opset() < 18) Builder::attr(sq, "axes", std::vector<int64_t>{-1});
  Builder::attr(sq, "keepdims", int64_t{1});
  b.node("Div", {num, sq->output(0)}, {s.out[0]});
}

// Ops whose ONNX nodes do not depend on the last dim or the dtype work on pairs as they are.
template <const char* Op>
void emit_as_is(Builder& b, const Site& s) {
  emitters().at(Op)(b, s);
}
constexpr char kSlice[] = "slice", kSelect[] = "select", kFlip[] = "flip", kConstant[] = "constant";

// Shape ops on pairs: the pair dim rides along as the last one.
std::string with_pair_dim(Builder& b, const std::string& shape) {
  auto* n = b.node("Concat", {shape, b.const_ints({2})}, {b.fresh("pair_shape")});
  Builder::attr(n, "axis", int64_t{0});
  return n->output(0);
}

void emit_reshape(Builder& b, const Site& s) {  // squeeze, unsqueeze and flatten trace as reshape too
  const std::string shape = b.shape(s.out_shape_a(), s.out_shape_b(), s.in[0], true);
  b.node("Reshape", {s.in[0], with_pair_dim(b, shape)}, {s.out[0]});
}

void emit_expand(Builder& b, const Site& s) {
  auto [sa, sb] = expand_target(s);
  sa.push_back(2);
  sb.push_back(2);
  b.node("Expand", {s.in[0], b.shape(sa, sb, s.in[0], false)}, {s.out[0]});
}

void transpose_pairs(Builder& b, const Site& s, std::vector<int64_t> perm) {
  perm.push_back(static_cast<int64_t>(perm.size()));
  auto* n = b.node("Transpose", {s.in[0]}, {s.out[0]});
  Builder::attr(n, "perm", perm);
}
void emit_permute(Builder& b, const Site& s) { transpose_pairs(b, s, permute_perm(s)); }
void emit_transpose(Builder& b, const Site& s) { transpose_pairs(b, s, transpose_perm(s)); }

template <bool Mean>
void emit_sum_mean(Builder& b, const Site& s) {  // over the complex dims (all of them when none are named)
  std::vector<int64_t> dims = attr_ints(s.a, "dims");
  if (dims.empty())
    for (int64_t d = 0; d < s.input(0).dim(); ++d) dims.push_back(d);
  if (dims.empty()) return void(b.node("Identity", {s.in[0]}, {s.out[0]}));  // a 0-d value
  reduce(b, s, Mean ? "ReduceMean" : "ReduceSum", pairs(b, s, 0, to_real(s.out_dtype())), dims,
         attr_i(s.a, "keepdim", 0), s.out[0]);
}

void emit_cat(Builder& b, const Site& s) {
  for (size_t k = 0; k < s.in.size(); ++k)
    if (!b.is_pair(s.in[k]) || s.in_dtype(k) != s.out_dtype())
      s.unsupported("cat of complex values with real ones or other dtypes (cast them first)");
  const int64_t r = static_cast<int64_t>(s.out_shape_a().size());
  auto* n = b.node("Concat", s.in, {s.out[0]});
  Builder::attr(n, "axis", wrap(s.a.i("dim"), r));
}

}  // namespace

void add_fft_emitters(std::map<std::string, Emitter>& t) {
  for (const char* op : {"fft", "ifft", "fftn", "ifftn"}) t[op] = emit_c2c;
  for (const char* op : {"rfft", "rfftn"}) t[op] = emit_rfft;
  for (const char* op : {"irfft", "irfftn", "hfft"}) t[op] = emit_irfft;
  t["ihfft"] = emit_ihfft;
  t["fft_real"] = t["ifft_real"] = emit_c2c_real;
  t["rfft_real"] = emit_rfft_real;
  t["irfft_real"] = emit_irfft_real;
  t["view_as_real"] = t["view_as_complex"] = emit_view_as;
}

const std::map<std::string, Emitter>& complex_emitters() {
  static const std::map<std::string, Emitter> table = [] {
    std::map<std::string, Emitter> t;
    add_fft_emitters(t);
    t["conj"] = emit_conj;
    t["neg"] = emit_neg;
    t["cast"] = emit_cast;
    t["abs"] = emit_abs;
    t["add"] = emit_add_sub<false>;
    t["sub"] = emit_add_sub<true>;
    t["mul"] = emit_mul;
    t["div"] = emit_div;
    t["identity"] = emit_view_as;
    t["slice"] = emit_as_is<kSlice>;
    t["select"] = emit_as_is<kSelect>;
    t["flip"] = emit_as_is<kFlip>;
    t["constant"] = emit_as_is<kConstant>;  // fill_tensor writes complex values as pairs
    t["cat"] = emit_cat;
    t["reshape"] = emit_reshape;
    t["expand"] = emit_expand;
    t["permute"] = emit_permute;
    t["transpose"] = emit_transpose;
    t["sum"] = emit_sum_mean<false>;
    t["mean"] = emit_sum_mean<true>;
    return t;
  }();
  return table;
}

}  // namespace tessel::onnx::exporter
