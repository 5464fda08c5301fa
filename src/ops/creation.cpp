// Creation ops: empty zeros ones full arange linspace eye and the _like forms.
#include <cmath>
#include <limits>
#include <string>

#include "tessel/trace.h"
#include "src/core/shape_util.h"

#include "tessel/kernel.h"
#include "tessel/autograd.h"
#include "src/autograd/rules.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

namespace {
void check_shape(const char* op, const Shape& shape) {
  for (int64_t s : shape) TS_CHECK(s >= 0, ValueError, op, "negative dimension ", s, " in shape ", shape);
}
}  // namespace

Tensor empty(const Shape& shape, TensorOptions opts) {
  check_shape("empty", shape);
  const int64_t n = shape_numel(shape);
  int64_t nbytes;
  TS_CHECK(!__builtin_mul_overflow(n, static_cast<int64_t>(itemsize(opts.dtype)), &nbytes), ValueError, "empty",
           "storage size of shape ", shape, " in ", opts.dtype, " overflows");
  Storage st = allocate(static_cast<size_t>(nbytes), opts.device);
  return make_tensor(std::move(st), shape, contiguous_strides(shape), 0, opts.dtype);
}

Tensor full(const Shape& shape, const Scalar& value, TensorOptions opts) {
  if (trace::Op t{"full"}) return t.attr("value", value.to<double>()).out(full(shape, value, opts));
  Tensor t = empty(shape, opts);
  t.fill_(value);
  return t;
}
Tensor full(const Shape& shape, const Scalar& value) { return full(shape, value, TensorOptions(value.dtype())); }
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, Scalar(0), opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, Scalar(1), opts); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor full_like(const Tensor& t, const Scalar& value) {
  return full(t.shape(), value, TensorOptions(t.dtype(), t.device()));
}
namespace {
void fill_unchecked(Tensor& t, const Scalar& value) {
  if (t.numel() == 0) return;
  dispatch(op::fill, t.dtype(), {}, {&t, 1}, &value);
  t.bump_version();
}

// User-facing fills refuse values the dtype cannot hold (PyTorch does too);
// scalars inside arithmetic (int8_tensor + 1000) wrap like the ops themselves.
void check_fill_value(const char* op, const Scalar& v, DType d) {
  if (d == DType::Bool || is_complex(d) || v.is_bool()) return;
  const double x = v.is_complex() ? v.to<complex128>().real() : v.to<double>();
  double lo = 0, hi = 0;
  if (is_integral(d)) {
    if (v.is_int()) {
      const int64_t i = v.to<int64_t>();  // a uint64 value above int64 as its bits
      const bool ok = visit_dtype(d, [&]<class T>(std::type_identity<T>) {
        if constexpr (std::is_integral_v<T>) {
          if (v.is_big_uint()) return std::is_same_v<T, uint64_t>;
          if (i < 0) return std::is_signed_v<T> && i >= static_cast<int64_t>(std::numeric_limits<T>::min());
          return static_cast<uint64_t>(i) <= static_cast<uint64_t>(std::numeric_limits<T>::max());
        } else {
          return true;
        }
      });
      TS_CHECK(ok, ValueError, op, "value ", v.is_big_uint() ? std::to_string(v.to<uint64_t>()) : std::to_string(i),
               " cannot be converted to ", d, " without overflow");
      return;
    }
    TS_CHECK(std::isfinite(x), ValueError, op, "value ", x, " cannot be converted to ", d);
    visit_dtype(d, [&]<class T>(std::type_identity<T>) {
      if constexpr (std::is_integral_v<T>) {
        lo = static_cast<double>(std::numeric_limits<T>::min());
        hi = static_cast<double>(std::numeric_limits<T>::max());
      }
    });
  } else {
    if (!std::isfinite(x)) return;
    hi = d == DType::Float16 ? 65504.0 : d == DType::BFloat16 ? 3.3895313892515355e38
         : d == DType::Float32 ? 3.4028234663852886e38 : INFINITY;
    lo = -hi;
  }
  TS_CHECK(x >= lo - 1 && x <= hi + 1, ValueError, op, "value ", x, " cannot be converted to ", d,
           " without overflow");
}
}  // namespace

Tensor scalar_tensor(const Scalar& value, TensorOptions opts) {
  if (trace::Op t{"constant"}) return t.out(scalar_tensor(value, opts));  // a Python number: a constant
  Tensor t = empty({}, opts);
  fill_unchecked(t, value);
  return t;
}

Tensor& Tensor::fill_(const Scalar& value) {
  check_fill_value("fill_", value, dtype());
  if (trace::Op t{"fill_"}) {
    t.in(*this).scalar(value, dtype()).inplace();
    fill_(value);
    t.out(*this);
    return *this;
  }
  if (autograd::needs_grad(*this)) {  // the new value is a constant: the history ends here
    autograd::inplace("fill_", *this, false, [&](const Tensor& self) { return full_like(self, value); });
    return *this;
  }
  check_writable("fill_", *this);
  Tensor self = *this;
  fill_unchecked(self, value);
  return *this;
}

Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, std::optional<DType> dtype, Device device) {
  if (trace::Op t{"arange"}) return t.attr("start", start.to<double>()).attr("end", end.to<double>()).attr("step", step.to<double>()).out(arange(start, end, step, dtype, device));
  const bool integral = !start.is_float() && !end.is_float() && !step.is_float() && !start.is_complex();
  const DType d = dtype ? *dtype : (integral ? DType::Int64 : default_float_dtype());
  TS_CHECK(!is_complex(d) && d != DType::Bool, TypeError, "arange", "unsupported dtype ", d);
  const double a = start.to<double>(), b = end.to<double>(), s = step.to<double>();
  TS_CHECK(s != 0, ValueError, "arange", "step must be nonzero");
  TS_CHECK(std::isfinite(a) && std::isfinite(b), ValueError, "arange", "unsupported range: ", a, " -> ", b);
  TS_CHECK((s > 0 && b >= a) || (s < 0 && b <= a), ValueError, "arange",
           "upper bound and step sign are inconsistent: start=", a, " end=", b, " step=", s);
  int64_t n;
  if (integral) {
    const int64_t ia = start.to<int64_t>(), ib = end.to<int64_t>(), is = step.to<int64_t>();
    n = is > 0 ? (ib - ia + is - 1) / is : (ia - ib - is - 1) / -is;
  } else {
    n = static_cast<int64_t>(std::ceil((b - a) / s));
  }
  Tensor t = empty({n}, TensorOptions(d, device));
  if (n > 0) {
    const ArangeParams p{start, step};
    dispatch(op::arange, d, {}, {&t, 1}, &p);
  }
  return t;
}

Tensor arange(const Scalar& end) { return arange(Scalar(0), end, Scalar(1)); }

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  TS_CHECK(steps >= 0, ValueError, "linspace", "number of steps must be non-negative, got ", steps);
  TS_CHECK(!is_complex(opts.dtype) && opts.dtype != DType::Bool, TypeError, "linspace", "unsupported dtype ",
           opts.dtype);
  if (steps == 0) return empty({0}, opts);
  // Computed in float64, then cast: the end point is exact.
  Tensor t = empty({steps}, TensorOptions(DType::Float64));
  double* p = t.data<double>();
  const double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Both halves count from their own end, as PyTorch does, so the ends are exact.
  const int64_t half = steps / 2;
  for (int64_t i = 0; i < steps; ++i)
    p[i] = i < half || steps == 1 ? start + step * static_cast<double>(i) : end - step * static_cast<double>(steps - 1 - i);
  return t.to(opts.dtype).to(opts.device);
}

Tensor eye(int64_t n, std::optional<int64_t> m, TensorOptions opts) {
  const int64_t cols = m ? *m : n;
  TS_CHECK(n >= 0 && cols >= 0, ValueError, "eye", "n and m must be non-negative, got ", n, " and ", cols);
  Tensor t = zeros({n, cols}, opts);
  t.diagonal().fill_(Scalar(1));
  return t;
}

}  // namespace tessel
