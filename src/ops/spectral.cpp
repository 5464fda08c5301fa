// Real FFTs: validate, move the transformed dim last, flatten the rest, then
// one kernel call (kernels/cpu/fft.cpp). rfft_real and irfft_real are each
// other's gradient (scaled per bin), so both differentiate to any order.
#include <cmath>

#include "src/autograd/rules.h"
#include "tessel/fft.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

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
Tensor pair_weights(int64_t n, DType dt) {
  const int64_t bins = n / 2 + 1;
  Tensor w = full({bins, 1}, Scalar(2.0), dt);
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

}  // namespace

namespace fft {

Tensor rfft_real(const Tensor& input, std::optional<int64_t> n_opt, const std::string& norm) {
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
  TS_CHECK(x.dim() >= 1, ValueError, "rfft", "expects at least 1 dimension, got a 0-d tensor");
  TS_CHECK(!autograd::needs_grad(x), NotImplementedError, "rfft",
           "complex results cannot carry gradients in tessel: use fft.rfft_real, which returns (re, im) pairs");
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  TS_CHECK(d >= 0 && d < x.dim(), IndexError, "rfft", "dim ", dim, " out of range for a ", x.dim(), "-d tensor");
  Tensor r = rfft_real(moved(x, d, -1), n, norm).contiguous();
  return moved(view_as_complex(r), -1, d);
}

Tensor irfft(const Tensor& X, std::optional<int64_t> n, int64_t dim, const std::string& norm) {
  TS_CHECK(X.dim() >= 1, ValueError, "irfft", "expects at least 1 dimension, got a 0-d tensor");
  TS_CHECK(is_complex(X.dtype()), TypeError, "irfft", "expects a complex tensor, got ", X.dtype());
  const int64_t d = dim < 0 ? dim + X.dim() : dim;
  TS_CHECK(d >= 0 && d < X.dim(), IndexError, "irfft", "dim ", dim, " out of range for a ", X.dim(), "-d tensor");
  const int64_t len = n.value_or(2 * (X.size(d) - 1));
  TS_CHECK(len >= 1, ValueError, "irfft", "invalid number of data points n=", len, " (must be at least 1)");
  Tensor y = irfft_real(view_as_real(moved(X, d, -1).contiguous()), len, norm);
  return moved(y, -1, d);
}

}  // namespace fft

Tensor view_as_real(const Tensor& z) {
  TS_CHECK(is_complex(z.dtype()), TypeError, "view_as_real", "expects a complex tensor, got ", z.dtype());
  Shape sizes = z.shape(), strides = z.strides();
  for (auto& s : strides) s *= 2;
  sizes.push_back(2);
  strides.push_back(1);
  Tensor v = make_tensor(z.storage(), sizes, strides, z.offset() * 2, to_real(z.dtype()));
  v.impl()->is_view = true;
  return v;
}

Tensor view_as_complex(const Tensor& x) {
  TS_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64, TypeError, "view_as_complex",
           "expects a float32 or float64 tensor, got ", x.dtype());
  TS_CHECK(x.dim() >= 1 && x.size(-1) == 2 && x.stride(-1) == 1, ValueError, "view_as_complex",
           "expects a last dim of size 2 and stride 1, got shape ", x.shape(), " and strides ", x.strides());
  TS_CHECK(!autograd::needs_grad(x), NotImplementedError, "view_as_complex",
           "complex results cannot carry gradients in tessel");
  Shape sizes(x.shape().begin(), x.shape().end() - 1), strides(x.strides().begin(), x.strides().end() - 1);
  for (auto& s : strides) {
    TS_CHECK(s % 2 == 0, ValueError, "view_as_complex", "expects even strides, got ", x.strides());
    s /= 2;
  }
  TS_CHECK(x.offset() % 2 == 0, ValueError, "view_as_complex", "expects an even storage offset, got ", x.offset());
  Tensor v = make_tensor(x.storage(), sizes, strides, x.offset() / 2,
                         x.dtype() == DType::Float32 ? DType::Complex64 : DType::Complex128);
  v.impl()->is_view = true;
  return v;
}

}  // namespace tessel
