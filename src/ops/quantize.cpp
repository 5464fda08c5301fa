// Affine quantization to int8/uint8: q = clamp(round(x / scale) + zero_point),
// rounding half to even (as PyTorch and NumPy's rint), per tensor or per channel.
#include <cmath>

#include "src/core/shape_util.h"
#include "tessel/ops.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel {

namespace {
struct QRange {
  int64_t lo, hi;
};

QRange qrange(const char* op, DType dtype) {
  TS_CHECK(dtype == DType::Int8 || dtype == DType::UInt8, TypeError, op, "dtype must be int8 or uint8, got ", dtype);
  return dtype == DType::Int8 ? QRange{-128, 127} : QRange{0, 255};
}

// [C] parameters shaped to broadcast along `axis` of an n-d tensor.
Tensor along(const Tensor& v, int64_t axis, int64_t ndim) {
  Shape s(static_cast<size_t>(ndim), 1);
  s[axis] = v.numel();
  return v.reshape(s);
}

void check_channels(const char* op, const Tensor& x, const Tensor& scales, const Tensor& zero_points, int64_t axis) {
  TS_CHECK(scales.dim() == 1 && zero_points.dim() == 1 && scales.numel() == x.shape()[axis] &&
               zero_points.numel() == x.shape()[axis],
           ValueError, op, "expected ", x.shape()[axis], " scales and zero points for axis ", axis, " of shape ",
           x.shape(), ", got shapes ", scales.shape(), " and ", zero_points.shape());
  TS_CHECK(is_floating(scales.dtype()), TypeError, op, "scales must be floating, got ", scales.dtype());
  TS_CHECK(is_integral(zero_points.dtype()), TypeError, op, "zero points must be integers, got ", zero_points.dtype());
  TS_CHECK(scales.numel() == 0 || amin(scales).item<double>() > 0, ValueError, op, "scales must be positive");
}
// The kernels register by name (kernels/cpu/quantize.cpp); their ids, looked up once.
const OpId kQuantize = Registry::get().op_id("quantize_affine");
const OpId kDequantize = Registry::get().op_id("dequantize_affine");

// [outer, C, inner] views of x around `axis` (C = 1 for per-tensor), the
// scales as float64 and zero points as int64, then one kernel call.
Tensor affine(OpId kernel, const Tensor& x, const Tensor& scales, const Tensor& zero_points, int64_t axis,
              DType out_dtype, DType kernel_dtype) {
  int64_t outer = 1, C = 1, inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t n = x.shape()[d];
    if (axis < 0) inner *= n;
    else if (d < axis) outer *= n;
    else if (d == axis) C = n;
    else inner *= n;
  }
  const Tensor in[3] = {x.contiguous().reshape({outer, C, inner}), scales.to(DType::Float64).contiguous(),
                        zero_points.to(DType::Int64).contiguous()};
  Tensor out = empty(x.shape(), TensorOptions(out_dtype, x.device()));
  if (x.numel() > 0) {
    Tensor flat = out.reshape({outer, C, inner});
    dispatch(kernel, kernel_dtype, in, {&flat, 1});
  }
  return out;
}

}  // namespace

Tensor quantize_per_tensor(const Tensor& x, double scale, int64_t zero_point, DType dtype) {
  if (trace::Op t{"quantize_per_tensor"})  // export: QuantizeLinear
    return t.in(x).attr("scale", scale).attr("zero_point", zero_point).attr("dtype", int64_t(dtype))
        .out(quantize_per_tensor(x, scale, zero_point, dtype));
  OpScope scope_("quantize_per_tensor");
  const QRange r = qrange("quantize_per_tensor", dtype);
  TS_CHECK(is_floating(x.dtype()), TypeError, "quantize_per_tensor", "expects a floating tensor, got ", x.dtype());
  TS_CHECK(scale > 0 && std::isfinite(scale), ValueError, "quantize_per_tensor", "scale must be positive, got ", scale);
  TS_CHECK(zero_point >= r.lo && zero_point <= r.hi, ValueError, "quantize_per_tensor", "zero_point ", zero_point,
           " is outside [", r.lo, ", ", r.hi, "] of ", dtype);
  // The scale is applied in double, as PyTorch does.
  return affine(kQuantize, x.detach(), full({1}, Scalar(scale), DType::Float64),
                full({1}, Scalar(zero_point), DType::Int64), -1, dtype, x.dtype());
}

Tensor dequantize(const Tensor& q, double scale, int64_t zero_point, DType dtype) {
  if (trace::Op t{"dequantize"})  // export: DequantizeLinear
    return t.in(q).attr("scale", scale).attr("zero_point", zero_point).out(dequantize(q, scale, zero_point, dtype));
  OpScope scope_("dequantize");
  TS_CHECK(is_integral(q.dtype()), TypeError, "dequantize", "expects an integer tensor, got ", q.dtype());
  TS_CHECK(scale > 0 && std::isfinite(scale), ValueError, "dequantize", "scale must be positive, got ", scale);
  if ((q.dtype() == DType::Int8 || q.dtype() == DType::UInt8) && is_floating(dtype))
    return affine(kDequantize, q, full({1}, Scalar(scale), DType::Float64),
                  full({1}, Scalar(zero_point), DType::Int64), -1, dtype, dtype);
  return mul(sub(q.to(DType::Float64), Scalar(zero_point)), Scalar(scale)).to(dtype);
}

Tensor quantize_per_channel(const Tensor& x, const Tensor& scales, const Tensor& zero_points, int64_t axis,
                            DType dtype) {
  if (trace::Op t{"quantize_per_channel"})
    return t.in(x).in(scales).in(zero_points).attr("axis", axis).attr("dtype", int64_t(dtype))
        .out(quantize_per_channel(x, scales, zero_points, axis, dtype));
  OpScope scope_("quantize_per_channel");
  const QRange r = qrange("quantize_per_channel", dtype);
  TS_CHECK(is_floating(x.dtype()), TypeError, "quantize_per_channel", "expects a floating tensor, got ", x.dtype());
  TS_CHECK(x.dim() > 0, ValueError, "quantize_per_channel", "expects at least one dim, got a 0-d tensor");
  const int64_t ax = wrap_dim("quantize_per_channel", axis, x.dim());
  check_channels("quantize_per_channel", x, scales, zero_points, ax);
  if (zero_points.numel() > 0) {
    TS_CHECK(amin(zero_points).item<int64_t>() >= r.lo && amax(zero_points).item<int64_t>() <= r.hi, ValueError,
             "quantize_per_channel", "zero points must lie in [", r.lo, ", ", r.hi, "] of ", dtype);
  }
  return affine(kQuantize, x.detach(), scales, zero_points, ax, dtype, x.dtype());
}

Tensor dequantize_per_channel(const Tensor& q, const Tensor& scales, const Tensor& zero_points, int64_t axis,
                              DType dtype) {
  if (trace::Op t{"dequantize_per_channel"})
    return t.in(q).in(scales).in(zero_points).attr("axis", axis).out(dequantize_per_channel(q, scales, zero_points, axis, dtype));
  OpScope scope_("dequantize_per_channel");
  TS_CHECK(is_integral(q.dtype()), TypeError, "dequantize_per_channel", "expects an integer tensor, got ", q.dtype());
  TS_CHECK(q.dim() > 0, ValueError, "dequantize_per_channel", "expects at least one dim, got a 0-d tensor");
  const int64_t ax = wrap_dim("dequantize_per_channel", axis, q.dim());
  check_channels("dequantize_per_channel", q, scales, zero_points, ax);
  if ((q.dtype() == DType::Int8 || q.dtype() == DType::UInt8) && is_floating(dtype))
    return affine(kDequantize, q, scales, zero_points, ax, dtype, dtype);
  const Tensor s = along(scales.to(DType::Float64), ax, q.dim());
  const Tensor z = along(zero_points.to(DType::Float64), ax, q.dim());
  return mul(sub(q.to(DType::Float64), z), s).to(dtype);
}

}  // namespace tessel
