// FFTs. The real pair: validate, move the transformed dim last, flatten the
// rest, then one kernel call (kernels/cpu/fft.cpp); rfft_real and irfft_real
// are each other's gradient (scaled per bin), so both differentiate to any
// order. Complex transforms run on (re, im) pairs, one dim at a time, in place
// along the dim (the kernel strides over it); n-d transforms chain 1-d ones.
#include <algorithm>
#include <cmath>

#include "src/autograd/rules.h"
#include "src/core/shape_util.h"
#include "tessel/fft.h"
#include "tessel/ops.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel {
namespace {

// The factor on the forward (inverse = false) or inverse transform of length n.
double norm_scale(const char* op, const std::string& norm, int64_t n, bool inverse) {
  if (norm == "backward") return 1.0;  // the kernel's irfft includes 1/n
  if (norm == "ortho") return inverse ? std::sqrt(double(n)) : 1.0 / std::sqrt(double(n));
  if (norm == "forward") return inverse ? double(n) : 1.0 / double(n);
  fail<ValueError>(op, "norm must be \"backward\", \"ortho\" or \"forward\", got \"", norm, "\"");
}

// Floating dtype for the kernels: float32 or float64 (halves and integers compute in float32).
Tensor as_fft_input(const char* op, const Tensor& x) {
  TS_CHECK(!is_complex(x.dtype()), TypeError, op, "expects a real tensor, got ", x.dtype(),
           " (use view_as_real for complex input)");
  TS_CHECK(x.dtype() != DType::Bool, TypeError, op, "expects a real number tensor, got bool");
  return x.dtype() == DType::Float64 ? x : x.to(DType::Float32);
}

// Per-bin weights of the real transforms' adjoints: 1 for DC (and Nyquist
// when n is even), 2 elsewhere (the bins that stand for a conjugate pair too).
// [bins, 2], not [bins, 1]: a broadcast along the (re, im) dim left elementwise
// ops runs of two values (div of a [390, 129, 2] gradient took 394 us, 10 us now).
Tensor pair_weights(int64_t n, DType dt) {
  const int64_t bins = n / 2 + 1;
  Tensor w = full({bins, 2}, Scalar(2.0), dt);
  w.narrow(0, 0, 1).fill_(Scalar(1.0));
  if (n % 2 == 0) w.narrow(0, bins - 1, 1).fill_(Scalar(1.0));
  return w;
}

Tensor run(OpId id, const Tensor& in, const Shape& out_tail, int64_t in_tail_dims) {
  const Shape& s = in.shape();
  Shape lead(s.begin(), s.end() - in_tail_dims);
  int64_t rows = 1;
  for (int64_t d : lead) rows *= d;
  Shape flat_in{rows};
  for (int64_t i = s.size() - in_tail_dims; i < static_cast<int64_t>(s.size()); ++i) flat_in.push_back(s[i]);
  Shape flat_out{rows};
  flat_out.insert(flat_out.end(), out_tail.begin(), out_tail.end());
  Tensor x = in.reshape(flat_in).contiguous();
  Tensor out = empty(flat_out, TensorOptions(in.dtype(), in.device()));
  if (rows > 0) {
    dispatch(id, in.dtype(), {&x, 1}, {&out, 1});
  }
  lead.insert(lead.end(), out_tail.begin(), out_tail.end());
  return out.reshape(lead);
}

// t with dim `from` moved to position `to` (both non-negative or -1 for last).
Tensor moved(const Tensor& t, int64_t from, int64_t to) {
  const int64_t nd = t.dim();
  if (from < 0) from += nd;
  if (to < 0) to += nd;
  Shape perm;
  for (int64_t i = 0; i < nd; ++i)
    if (i != from) perm.push_back(i);
  perm.insert(perm.begin() + to, from);
  return t.permute(perm);
}

// The kernels register by name (kernels/cpu/fft.cpp); their ids, looked up once.
const OpId kRfft = Registry::get().op_id("rfft_real");
const OpId kIrfft = Registry::get().op_id("irfft_real");
const OpId kC2c = Registry::get().op_id("fft_c2c");

// The factor on a complex transform of length n (the kernel applies none).
double c2c_scale(const char* op, const std::string& norm, int64_t n, bool inverse) {
  if (norm == "backward") return inverse ? 1.0 / double(n) : 1.0;
  if (norm == "ortho") return 1.0 / std::sqrt(double(n));
  if (norm == "forward") return inverse ? 1.0 : 1.0 / double(n);
  fail<ValueError>(op, "norm must be \"backward\", \"ortho\" or \"forward\", got \"", norm, "\"");
}

// hfft / ihfft are irfft / rfft with the scaling's direction swapped.
std::string swapped(const char* op, const std::string& norm) {
  if (norm == "backward") return "forward";
  if (norm == "forward") return "backward";
  if (norm == "ortho") return norm;
  fail<ValueError>(op, "norm must be \"backward\", \"ortho\" or \"forward\", got \"", norm, "\"");
}

int64_t fft_dim(const char* op, int64_t dim, int64_t nd) {
  TS_CHECK(dim >= -nd && dim < nd, IndexError, op, "dim ", dim, " out of range for a ", nd, "-d tensor");
  return dim < 0 ? dim + nd : dim;
}

int64_t checked_n(const char* op, int64_t n) {
  TS_CHECK(n >= 1, ValueError, op, "invalid number of data points n=", n, " (must be at least 1)");
  return n;
}

// The input of a complex transform as a real tensor: (re, im) pairs of a
// complex one, or (real_in) a real signal in float32/float64.
Tensor real_view(const char* op, const Tensor& x, bool& real_in) {
  real_in = !is_complex(x.dtype());
  if (!real_in) return view_as_real(x);
  TS_CHECK(x.dtype() != DType::Bool, TypeError, op, "expects a number tensor, got bool");
  return x.dtype() == DType::Float64 ? x : x.to(DType::Float32);
}

// Real pairs (zero imaginary parts) for a real signal.
Tensor as_pairs(const Tensor& v, bool real_in) { return real_in ? stack({v, zeros_like(v)}, -1) : v; }

// One complex transform of length n along dim d (of the complex shape) of x:
// (re, im) pairs [..., 2], or a real signal when real_in; returns pairs.
// x's dims from outermost to innermost in memory when x is a permuted dense CPU
// tensor (a transpose) that is not contiguous; empty otherwise.
Shape permuted_dense_order(const Tensor& x) {
  if (x.dim() < 2 || x.is_contiguous() || !x.device().is_cpu()) return {};
  Shape order = memory_order(x);
  return x.permute(order).is_contiguous() ? order : Shape{};
}

// Differentiable: the adjoint of scale * DFT is scale * the other direction,
// then the input's cut / zero-padding undone (and the real part for a real x).
Tensor c2c(const Tensor& x, bool real_in, int64_t n, int64_t d, bool inverse, double scale) {
  // A permuted dense input (a transpose) runs in its memory order, the result
  // permuted back: the kernel strides over the dims after d, where a copy to
  // the logical order would cost more than the transform. Except a real signal
  // along the last dim: copied to rows, it takes the real kernel (half the work
  // of the complex one the strides need; [390, 256] transposed float32, 1
  // thread: 215 -> 87 us).
  if (Shape order = permuted_dense_order(x);
      !order.empty() && (real_in || order.back() == x.dim() - 1) && !(real_in && d == x.dim() - 1)) {
    const auto at = std::find(order.begin(), order.end(), d) - order.begin();
    const Tensor xp = x.permute(order);
    if (real_in) order.push_back(x.dim());  // the result's (re, im) dim
    return c2c(xp, real_in, n, at, inverse, scale).permute(inverse_permutation(order));
  }
  const int64_t cd = x.dim() - (real_in ? 0 : 1);
  const Shape& xs = x.shape();
  const int64_t n_in = xs[d];
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= xs[i];
  for (int64_t i = d + 1; i < cd; ++i) inner *= xs[i];
  Shape out_shape(xs.begin(), xs.begin() + cd);
  out_shape[d] = n;
  out_shape.push_back(2);
  return autograd::recorded(
      autograd::needs_grad(x),
      [&] {
        Tensor out = empty(out_shape, TensorOptions(x.dtype(), x.device()));
        if (out.numel() > 0) {
          Tensor in = x.contiguous().reshape(real_in ? Shape{outer, n_in, inner} : Shape{outer, n_in, inner, 2});
          Tensor o = out.view({outer, n, inner, 2});
          const fft::C2cParams p{inverse, real_in, scale};
          dispatch(kC2c, x.dtype(), {&in, 1}, {&o, 1}, &p);
        }
        return out;
      },
      [&](const Tensor& y) {
        autograd::record("FftC2cBackward", {x}, {y}, [=](const Tensors& g) {
          Tensor gx = c2c(g[0], false, n, d, !inverse, scale);
          if (n_in < n) gx = gx.narrow(d, 0, n_in);
          if (n_in > n) {
            Shape pads(static_cast<size_t>(2 * (gx.dim() - d)), 0);
            pads.back() = n_in - n;  // after dim d's elements
            gx = pad(gx, pads);
          }
          return Tensors{real_in ? gx.select(-1, 0) : gx};
        });
      });
}

// The dims and output sizes (-1: the default) of an n-d transform.
struct Axes {
  Shape dims, sizes;
};

Axes resolve(const char* op, int64_t nd, const std::optional<Shape>& s, const std::optional<Shape>& dim) {
  Axes a;
  if (dim) {
    for (int64_t d : *dim) a.dims.push_back(fft_dim(op, d, nd));
    TS_CHECK(!s || s->size() == dim->size(), ValueError, op, "s and dim must have the same length, got ", s->size(),
             " and ", dim->size());
  } else if (s) {
    TS_CHECK(static_cast<int64_t>(s->size()) <= nd, ValueError, op, "s has ", s->size(), " sizes for a ", nd,
             "-d tensor");
    for (size_t i = 0; i < s->size(); ++i) a.dims.push_back(nd - static_cast<int64_t>(s->size()) + int64_t(i));
  } else {
    for (int64_t i = 0; i < nd; ++i) a.dims.push_back(i);
  }
  for (size_t i = 0; i < a.dims.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      TS_CHECK(a.dims[i] != a.dims[j], ValueError, op, "dims must be unique, got dim ", a.dims[i], " twice");
  a.sizes = s ? *s : Shape(a.dims.size(), -1);
  for (int64_t n : a.sizes)
    TS_CHECK(n == -1 || n >= 1, ValueError, op, "invalid number of data points ", n, " in s (must be at least 1)");
  return a;
}

// Each transform records itself for export with its resolved dims and sizes
// (-1: the default), whatever the public spelling (fft, fftn, ...).
trace::Op& traced(trace::Op& t, const Tensor& x, const Axes& a, const std::string& norm) {
  return t.in(x).attr("dims", a.dims).attr("sizes", a.sizes).attr("norm", norm);
}

Tensor fftn_impl(const char* op, const Tensor& x, const Axes& a, const std::string& norm, bool inverse) {
  if (trace::Op t{op}) return traced(t, x, a, norm).out(fftn_impl(op, x, a, norm, inverse));
  OpScope scope_(op);
  bool real_in = false;
  Tensor v = real_view(op, x, real_in);
  if (a.dims.empty()) return view_as_complex(real_in ? as_pairs(v, true) : v.clone().contiguous());
  for (size_t i = 0; i < a.dims.size(); ++i) {
    const int64_t d = a.dims[i], n = checked_n(op, a.sizes[i] == -1 ? v.size(d) : a.sizes[i]);
    v = c2c(v, real_in, n, d, inverse, c2c_scale(op, norm, n, inverse));
    real_in = false;
  }
  return view_as_complex(v);
}

Tensor rfftn_impl(const char* op, const Tensor& x, const Axes& a, const std::string& norm) {
  if (trace::Op t{op}) return traced(t, x, a, norm).out(rfftn_impl(op, x, a, norm));
  OpScope scope_(op);
  TS_CHECK(!is_complex(x.dtype()), TypeError, op, "expects a real tensor, got ", x.dtype());
  TS_CHECK(!a.dims.empty(), ValueError, op, "needs at least one dim to transform");
  const int64_t dl = a.dims.back();
  const int64_t nl = checked_n(op, a.sizes.back() == -1 ? x.size(dl) : a.sizes.back());
  Tensor v = moved(fft::rfft_real(moved(x, dl, -1), nl, norm), -2, dl);
  for (size_t i = 0; i + 1 < a.dims.size(); ++i) {
    const int64_t d = a.dims[i], n = checked_n(op, a.sizes[i] == -1 ? v.size(d) : a.sizes[i]);
    v = c2c(v, false, n, d, false, c2c_scale(op, norm, n, false));
  }
  return view_as_complex(v);
}

// irfftn, irfft and (conj first, norm swapped) hfft. Real input counts as
// complex with zero imaginary parts, so a real input differentiates.
Tensor irfftn_impl(const char* op, const Tensor& X, const Axes& a, const std::string& norm, bool conj_first) {
  if (trace::Op t{op}) return traced(t, X, a, norm).out(irfftn_impl(op, X, a, norm, conj_first));
  OpScope scope_(op);
  TS_CHECK(!a.dims.empty(), ValueError, op, "needs at least one dim to transform");
  bool real_in = false;
  Tensor v = real_view(op, conj_first && is_complex(X.dtype()) ? conj(X) : X, real_in);
  for (size_t i = 0; i + 1 < a.dims.size(); ++i) {
    const int64_t d = a.dims[i], n = checked_n(op, a.sizes[i] == -1 ? v.size(d) : a.sizes[i]);
    v = c2c(v, real_in, n, d, true, c2c_scale(op, norm, n, true));
    real_in = false;
  }
  v = as_pairs(v, real_in);
  const int64_t dl = a.dims.back();
  const int64_t nl = checked_n(op, a.sizes.back() == -1 ? 2 * (v.size(dl) - 1) : a.sizes.back());
  return moved(fft::irfft_real(moved(v, dl, -2), nl, conj_first ? swapped(op, norm) : norm), -1, dl);
}

Axes one_dim(const char* op, const Tensor& x, std::optional<int64_t> n, int64_t dim) {
  TS_CHECK(x.dim() >= 1, ValueError, op, "expects at least 1 dimension, got a 0-d tensor");
  return Axes{{fft_dim(op, dim, x.dim())}, {n.value_or(-1)}};
}

}  // namespace

namespace fft {

Tensor rfft_real(const Tensor& input, std::optional<int64_t> n_opt, const std::string& norm) {
  if (trace::Op t{"rfft_real"})
    return t.in(input).attr("n", n_opt.value_or(-1)).attr("norm", norm).out(rfft_real(input, n_opt, norm));
  OpScope scope_("rfft");
  TS_CHECK(input.dim() >= 1, ValueError, "rfft", "expects at least 1 dimension, got a 0-d tensor");
  Tensor x = as_fft_input("rfft", input);
  const int64_t len = x.size(-1), n = n_opt.value_or(len);
  TS_CHECK(n >= 1, ValueError, "rfft", "invalid number of data points n=", n, " (must be at least 1)");
  if (n < len) x = x.narrow(-1, 0, n);
  if (n > len) x = pad(x, {0, n - len});
  const double scale = norm_scale("rfft", norm, n, false);
  Tensor out = autograd::recorded(
      autograd::needs_grad(x), [&] { return run(kRfft, x, {n / 2 + 1, 2}, 1); },
      [&](const Tensor& y) {
        // x_j -> sum_k Re(X_k e^{+2 pi i jk/n}) is n * irfft of the bins halved where they stand for a pair.
        autograd::record("RfftBackward", {x}, {y}, [n, dt = x.dtype()](const Tensors& g) {
          return Tensors{mul(irfft_real(div(g[0], pair_weights(n, dt)), n), Scalar(double(n)))};
        });
      });
  return scale == 1.0 ? out : mul(out, Scalar(scale));
}

Tensor irfft_real(const Tensor& input, int64_t n, const std::string& norm) {
  if (trace::Op t{"irfft_real"}) return t.in(input).attr("n", n).attr("norm", norm).out(irfft_real(input, n, norm));
  OpScope scope_("irfft");
  TS_CHECK(input.dim() >= 2 && input.size(-1) == 2, ValueError, "irfft",
           "expects bins as [..., bins, 2] (re, im), got shape ", input.shape());
  TS_CHECK(n >= 1, ValueError, "irfft", "invalid number of data points n=", n, " (must be at least 1)");
  Tensor X = as_fft_input("irfft", input);
  const int64_t bins = n / 2 + 1, have = X.size(-2);
  if (have > bins) X = X.narrow(-2, 0, bins);
  if (have < bins) X = pad(X, {0, 0, 0, bins - have});
  const double scale = norm_scale("irfft", norm, n, true);
  Tensor out = autograd::recorded(
      autograd::needs_grad(X), [&] { return run(kIrfft, X, {n}, 2); },
      [&](const Tensor& y) {
        // y_j = (1/n) sum_k c_k Re(X_k e^{+2 pi i jk/n}): the gradient is (c_k / n) rfft(g)_k.
        autograd::record("IrfftBackward", {X}, {y}, [n, dt = X.dtype()](const Tensors& g) {
          return Tensors{mul(rfft_real(g[0], n), div(pair_weights(n, dt), Scalar(double(n))))};
        });
      });
  return scale == 1.0 ? out : mul(out, Scalar(scale));
}

Tensor rfft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  TS_CHECK(!n || *n >= 1, ValueError, "rfft", "invalid number of data points n=", *n, " (must be at least 1)");
  return rfftn_impl("rfft", x, one_dim("rfft", x, n, dim), norm);
}

Tensor irfft(const Tensor& X, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  TS_CHECK(!n || *n >= 1, ValueError, "irfft", "invalid number of data points n=", *n, " (must be at least 1)");
  return irfftn_impl("irfft", X, one_dim("irfft", X, n, dim), norm, false);
}

Tensor fft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  TS_CHECK(!n || *n >= 1, ValueError, "fft", "invalid number of data points n=", *n, " (must be at least 1)");
  return fftn_impl("fft", x, one_dim("fft", x, n, dim), norm, false);
}

Tensor ifft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  TS_CHECK(!n || *n >= 1, ValueError, "ifft", "invalid number of data points n=", *n, " (must be at least 1)");
  return fftn_impl("ifft", x, one_dim("ifft", x, n, dim), norm, true);
}

Tensor hfft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  TS_CHECK(!n || *n >= 1, ValueError, "hfft", "invalid number of data points n=", *n, " (must be at least 1)");
  return irfftn_impl("hfft", x, one_dim("hfft", x, n, dim), norm, true);
}

Tensor ihfft(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  TS_CHECK(!n || *n >= 1, ValueError, "ihfft", "invalid number of data points n=", *n, " (must be at least 1)");
  if (trace::Op t{"ihfft"}) return traced(t, x, one_dim("ihfft", x, n, dim), norm).out(ihfft(x, n, dim, norm));
  return conj(rfftn_impl("ihfft", x, one_dim("ihfft", x, n, dim), swapped("ihfft", norm)));
}

Tensor fftn(const Tensor& x, std::optional<Shape> s, std::optional<Shape> dim, const std::string& norm) {
  return fftn_impl("fftn", x, resolve("fftn", x.dim(), s, dim), norm, false);
}

Tensor ifftn(const Tensor& x, std::optional<Shape> s, std::optional<Shape> dim, const std::string& norm) {
  return fftn_impl("ifftn", x, resolve("ifftn", x.dim(), s, dim), norm, true);
}

Tensor rfftn(const Tensor& x, std::optional<Shape> s, std::optional<Shape> dim, const std::string& norm) {
  return rfftn_impl("rfftn", x, resolve("rfftn", x.dim(), s, dim), norm);
}

Tensor irfftn(const Tensor& x, std::optional<Shape> s, std::optional<Shape> dim, const std::string& norm) {
  return irfftn_impl("irfftn", x, resolve("irfftn", x.dim(), s, dim), norm, false);
}

namespace {
Tensor c2c_pairs(const char* op, const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm,
                 bool inverse) {
  OpScope scope_(op);
  TS_CHECK(x.dim() >= 2 && x.size(-1) == 2, ValueError, op, "expects complex numbers as [..., 2] (re, im), got shape ",
           x.shape());
  const int64_t d = fft_dim(op, dim, x.dim() - 1);
  if (trace::Op t{op}) return traced(t, x, Axes{{d}, {n.value_or(-1)}}, norm).out(c2c_pairs(op, x, n, dim, norm, inverse));
  Tensor v = as_fft_input(op, x);
  const int64_t len = checked_n(op, n.value_or(v.size(d)));
  return c2c(v, false, len, d, inverse, c2c_scale(op, norm, len, inverse));
}
}  // namespace

Tensor fft_real(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  return c2c_pairs("fft_real", x, n, dim, norm, false);
}

Tensor ifft_real(const Tensor& x, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  return c2c_pairs("ifft_real", x, n, dim, norm, true);
}

}  // namespace fft

Tensor view_as_real(const Tensor& z) {
  if (trace::Op t{"view_as_real"}) return t.in(z).out(view_as_real(z));
  TS_CHECK(is_complex(z.dtype()), TypeError, "view_as_real", "expects a complex tensor, got ", z.dtype());
  Shape sizes = z.shape(), strides = z.strides();
  for (auto& s : strides) s *= 2;
  sizes.push_back(2);
  strides.push_back(1);
  Tensor v = make_tensor(z.storage(), sizes, strides, z.offset() * 2, to_real(z.dtype()));
  v.impl()->is_view = true;
  // The (re, im) pairs' gradient is the complex gradient's pairs: dL/dRe + i dL/dIm.
  if (autograd::needs_grad(z)) {
    autograd::record("ViewAsRealBackward", {z}, {v},
                     [](const Tensors& g) { return Tensors{view_as_complex(g[0].contiguous())}; });
  }
  return v;
}

Tensor view_as_complex(const Tensor& x) {
  if (trace::Op t{"view_as_complex"}) return t.in(x).out(view_as_complex(x));
  TS_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, TypeError, "view_as_complex",
           "expects a float32 or float64 tensor, got ", x.dtype());
  TS_CHECK(x.dim() >= 1 && x.size(-1) == 2 && x.stride(-1) == 1, ValueError, "view_as_complex",
           "expects a last dim of size 2 and stride 1, got shape ", x.shape(), " and strides ", x.strides());
  Shape sizes(x.shape().begin(), x.shape().end() - 1), strides(x.strides().begin(), x.strides().end() - 1);
  for (auto& s : strides) {
    TS_CHECK(s % 2 == 0, ValueError, "view_as_complex", "expects even strides, got ", x.strides());
    s /= 2;
  }
  TS_CHECK(x.offset() % 2 == 0, ValueError, "view_as_complex", "expects an even storage offset, got ", x.offset());
  Tensor v = make_tensor(x.storage(), sizes, strides, x.offset() / 2,
                         x.dtype() == DType::Float32 ? DType::Complex64 : DType::Complex128);
  v.impl()->is_view = true;
  if (autograd::needs_grad(x)) {
    autograd::record("ViewAsComplexBackward", {x}, {v}, [](const Tensors& g) { return Tensors{view_as_real(g[0])}; });
  }
  return v;
}

Tensor complex(const Tensor& real, const Tensor& imag) {
  TS_CHECK(real.dtype() == imag.dtype() && (real.dtype() == DType::Float32 || real.dtype() == DType::Float64),
           TypeError, "complex", "expects real and imag of the same dtype, float32 or float64; got ", real.dtype(),
           " and ", imag.dtype());
  // Parts of one permuted dense layout (both transposed): paired in memory order
  // and the result permuted back, as PyTorch's result takes their layout; an fft
  // along a dim of it then reads neighbouring columns as runs.
  if (real.shape() == imag.shape() && real.strides() == imag.strides()) {
    if (const Shape order = permuted_dense_order(real); !order.empty())
      return complex(real.permute(order), imag.permute(order)).permute(inverse_permutation(order));
  }
  const Shape shape = broadcast_shapes("complex", real.shape(), imag.shape());
  // Contiguous parts first: stack interleaves those in one vectorized pass, where
  // strided parts were copied an element at a time (60 -> 26 us for [390, 256]
  // parts, one of them broadcast).
  return view_as_complex(stack({broadcast_to(real, shape).contiguous(), broadcast_to(imag, shape).contiguous()}, -1));
}

}  // namespace tessel
