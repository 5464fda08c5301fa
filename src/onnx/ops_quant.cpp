// ONNX quantization and bit-level ops: QuantizeLinear and DequantizeLinear (per
// tensor, per axis and blocked; int8/uint8/int16, and int32 for
// dequantization; int4/uint4/int2/uint2, float8 and float4 through the
// cast-only dtypes), DynamicQuantizeLinear, ConvInteger, QLinearConv and BitCast.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "src/onnx/internal.h"
#include "tessel/nn/functional.h"

namespace tessel::onnx {
namespace F = tessel::nn::functional;
namespace {

bool is_float(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}

// The dtypes QuantizeLinear produces and DequantizeLinear reads (int32: only read).
bool quantized(DType d) {
  switch (d) {
    case DType::UInt8: case DType::Int8: case DType::UInt16: case DType::Int16:
    case DType::Int4: case DType::UInt4: case DType::Int2: case DType::UInt2:
    case DType::Float8E4M3FN: case DType::Float8E4M3FNUZ: case DType::Float8E5M2: case DType::Float8E5M2FNUZ:
    case DType::Float4E2M1FN: return true;
    default: return false;
  }
}

std::pair<double, double> quant_range(DType d) {
  switch (d) {
    case DType::UInt8: return {0, 255};
    case DType::Int8: return {-128, 127};
    case DType::Int16: return {-32768, 32767};
    case DType::UInt16: return {0, 65535};
    case DType::Int4: return {Int4::kMin, Int4::kMax};
    case DType::UInt4: return {UInt4::kMin, UInt4::kMax};
    case DType::Int2: return {Int2::kMin, Int2::kMax};
    case DType::UInt2: return {UInt2::kMin, UInt2::kMax};
    default: return {-2147483648.0, 2147483647.0};
  }
}

// A scale or zero point laid out to broadcast against x: a scalar (per tensor),
// a 1-D tensor along `axis` (per axis), or x's rank with `axis` shrunk by
// block_size (blocked: each entry covers block_size consecutive elements).
Tensor layout(const Node& n, const Tensor& p, const Tensor& x, int64_t axis, int64_t block, const char* what) {
  if (p.dim() == 0 || (p.dim() == 1 && p.numel() == 1 && block == 0)) return p.reshape({});
  const int64_t r = x.dim();
  if (axis < -r || axis >= r) n.error("axis ", axis, " is out of range for rank ", r);
  if (axis < 0) axis += r;
  const int64_t len = x.shape()[axis];
  if (block == 0) {
    if (p.dim() != 1 || p.numel() != len)
      n.error(what, " ", p.shape(), " must be a scalar or 1-D with x's size ", len, " along axis ", axis);
    Shape s(r, 1);
    s[axis] = len;
    return p.reshape(s);
  }
  if (block < 0) n.error("block_size must be nonnegative, got ", block);
  Shape want = x.shape();
  want[axis] = (len + block - 1) / block;
  if (p.shape() != want) n.error(what, " ", p.shape(), " must be ", want, " for block_size ", block, " on axis ", axis);
  return repeat_interleave(p, block, axis).slice(axis, 0, len);
}

std::vector<Tensor> quantize(const Node& n, const Inputs& in, const OpContext& ctx) {
  const Tensor &x = input(n, in, 0), &scale = input(n, in, 1);
  const Tensor* zp = in.size() > 2 && in[2] ? &*in[2] : nullptr;
  if (!is_float(x.dtype()) && x.dtype() != DType::Int32)
    n.error<TypeError>("x must be floating or int32, got ", x.dtype());
  if (!is_float(scale.dtype())) n.error<TypeError>("y_scale must be floating, got ", scale.dtype());
  if (ctx.opset >= 19 && is_float(x.dtype()) && scale.dtype() != x.dtype())
    n.error<TypeError>("y_scale has dtype ", scale.dtype(), " but x has ", x.dtype(), " (ONNX does not promote)");
  DType out = DType::UInt8;
  if (n.has("output_dtype") && n.i("output_dtype", 0) != 0) {
    auto d = dtype_from_onnx(n.i("output_dtype", 0));
    if (!d || !quantized(*d))
      n.error<NotImplementedError>("output_dtype ", n.i("output_dtype", 0), " is not a quantized type (",
                                   "(u)int8/16/4/2, float8, float4e2m1)");
    out = *d;
  }
  if (zp) {
    if (!quantized(zp->dtype()))
      n.error<TypeError>("y_zero_point must be (u)int8/16/4/2, float8 or float4e2m1, got ", zp->dtype());
    if (n.has("output_dtype") && n.i("output_dtype", 0) != 0 && zp->dtype() != out)
      n.error<TypeError>("y_zero_point has dtype ", zp->dtype(), " but output_dtype asks for ", out);
    out = zp->dtype();
  }
  const int64_t axis = n.i("axis", 1), block = n.i("block_size", 0);
  // x / scale rounds like the input's dtype would (half types through float32, rounded back).
  const DType cdt = x.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  Tensor s = layout(n, scale, x, axis, block, "y_scale");
  Tensor q = div(x.to(cdt), s.to(cdt));
  if (is_float(x.dtype()) && x.dtype() != cdt) q = q.to(x.dtype()).to(cdt);
  // float8: saturated, rounded by the cast; the zero point is 0 by the spec and not added (as the reference).
  if (is_float8(out)) return {saturate_cast(q, out, n.i("saturate", 1) != 0)};
  if (out == DType::Float4E2M1FN) {  // saturating by itself
    if (zp) q = add(q, layout(n, *zp, x, axis, block, "y_zero_point").to(cdt));
    return {q.to(out)};
  }
  q = round(q);  // half to even
  if (zp) q = add(q, layout(n, *zp, x, axis, block, "y_zero_point").to(cdt));
  auto [lo, hi] = quant_range(out);
  return {clamp(q, Scalar(lo), Scalar(hi)).to(out)};
}

std::vector<Tensor> dequantize(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor &x = input(n, in, 0), &scale = input(n, in, 1);
  const Tensor* zp = in.size() > 2 && in[2] ? &*in[2] : nullptr;
  if (!quantized(x.dtype()) && x.dtype() != DType::Int32)
    n.error<TypeError>("x must be (u)int8/16/4/2, int32, float8 or float4e2m1, got ", x.dtype());
  if (!is_float(scale.dtype())) n.error<TypeError>("x_scale must be floating, got ", scale.dtype());
  if (zp && zp->dtype() != x.dtype())
    n.error<TypeError>("x_zero_point has dtype ", zp->dtype(), " but x has ", x.dtype(), " (they must match)");
  DType out = scale.dtype();
  if (n.has("output_dtype") && n.i("output_dtype", 0) != 0) {
    const int64_t od = n.i("output_dtype", 0);
    const std::optional<DType> d = od == 1 ? DType::Float32 : od == 10 ? DType::Float16 : od == 16 ? DType::BFloat16
                                 : od == 11 ? std::optional<DType>(DType::Float64) : std::nullopt;
    if (!d) n.error<NotImplementedError>("output_dtype ", od, " is not a floating type tessel has");
    out = *d;
  }
  const int64_t axis = n.i("axis", 1), block = n.i("block_size", 0);
  // float32 holds every 8/16-bit value exactly; int32 needs float64.
  const DType cdt = x.dtype() == DType::Int32 || scale.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  Tensor v = x.to(cdt);
  if (zp) v = sub(v, layout(n, *zp, x, axis, block, "x_zero_point").to(cdt));
  return {mul(v, layout(n, scale, x, axis, block, "x_scale").to(cdt)).to(out)};
}

// uint8 quantization of x over [min(x, 0), max(x, 0)]: y, y_scale, y_zero_point.
std::vector<Tensor> dynamic_quantize(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dtype() != DType::Float32) n.error<TypeError>("x must be float32, got ", x.dtype());
  if (x.numel() == 0) n.error("x must not be empty");
  const float hi = std::max(0.0f, max(x).item<float>()), lo = std::min(0.0f, min(x).item<float>());
  const float scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
  const float zp = std::nearbyint(std::clamp(0.0f - lo / scale, 0.0f, 255.0f));  // ties to even
  Tensor y = add(round(div(x, Scalar(static_cast<double>(scale)))), Scalar(static_cast<double>(zp)));
  y = clamp(y, Scalar(0.0), Scalar(255.0)).to(DType::UInt8);
  return {y, scalar_tensor(Scalar(static_cast<double>(scale)), DType::Float32),
          scalar_tensor(Scalar(static_cast<int64_t>(zp)), DType::UInt8)};
}

// An 8-bit input minus its zero point (scalar, or per output channel for W), in float64.
Tensor shifted(const Node& n, const Tensor& t, const Tensor* zp, const char* what, bool per_channel) {
  if (t.dtype() != DType::UInt8 && t.dtype() != DType::Int8) n.error<TypeError>(what, " must be uint8 or int8, got ", t.dtype());
  Tensor v = t.to(DType::Float64);
  if (!zp) return v;
  if (zp->dtype() != t.dtype())
    n.error<TypeError>(what, "'s zero point has dtype ", zp->dtype(), " but ", what, " has ", t.dtype());
  Tensor z = zp->to(DType::Float64);
  if (per_channel && z.dim() == 1 && z.numel() == t.shape()[0] && z.numel() > 1) {
    Shape s(t.dim(), 1);
    s[0] = z.numel();
    z = z.reshape(s);
  } else if (z.numel() != 1) {
    n.error(what, "'s zero point must be a scalar", per_channel ? " or one per output channel" : "", ", got ", z.shape());
  } else {
    z = z.reshape({});
  }
  return sub(v, z);
}

// Convolution of zero-shifted integer-valued tensors, exact in float64 (1-D and 2-D).
Tensor integer_conv(const Node& n, const Tensor& x, const Tensor& w) {
  if (x.dim() != 3 && x.dim() != 4) n.error("only 1-D and 2-D convolution (3-D or 4-D X) are supported, got ", x.shape());
  if (w.dim() != x.dim()) n.error("W ", w.shape(), " must have the rank of X ", x.shape());
  const size_t k = static_cast<size_t>(x.dim() - 2);
  const Shape kernel(w.shape().begin() + 2, w.shape().end());
  if (n.ints("kernel_shape", kernel) != kernel) n.error("kernel_shape differs from the spatial dims of W ", w.shape());
  const Shape stride = n.ints("strides", Shape(k, 1)), dil = n.ints("dilations", Shape(k, 1));
  if (stride.size() != k || dil.size() != k) n.error("strides and dilations need ", k, " values");
  for (size_t d = 0; d < k; ++d)
    if (stride[d] < 1 || dil[d] < 1 || kernel[d] < 1) n.error("strides, dilations and kernel sizes must be positive");
  const int64_t groups = n.i("group", 1);
  if (groups < 1 || x.shape()[1] != w.shape()[1] * groups || w.shape()[0] % groups != 0)
    n.error("X ", x.shape(), " and W ", w.shape(), " do not match group=", groups);
  Shape begin(k, 0), end(k, 0);
  const std::string autopad = n.s("auto_pad", "NOTSET");
  if (autopad == "NOTSET") {
    const Shape pads = n.ints("pads", Shape(2 * k, 0));
    if (pads.size() != 2 * k) n.error("pads must have ", 2 * k, " values");
    for (size_t d = 0; d < k; ++d) {
      if (pads[d] < 0 || pads[d + k] < 0) n.error("negative pads are not supported");
      begin[d] = pads[d];
      end[d] = pads[d + k];
    }
  } else if (autopad == "SAME_UPPER" || autopad == "SAME_LOWER") {
    for (size_t d = 0; d < k; ++d) {
      const int64_t in = x.shape()[2 + d], out = (in + stride[d] - 1) / stride[d];
      const int64_t total = std::max<int64_t>(0, (out - 1) * stride[d] + (kernel[d] - 1) * dil[d] + 1 - in);
      begin[d] = autopad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end[d] = total - begin[d];
    }
  } else if (autopad != "VALID") {
    n.error("auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  Shape spec;  // tessel::pad lists the last dim first
  for (size_t d = k; d-- > 0;) {
    spec.push_back(begin[d]);
    spec.push_back(end[d]);
  }
  Tensor xp = pad(x, spec);
  F::ConvOptions o;
  o.stride = stride;
  o.dilation = dil;
  o.groups = groups;
  return k == 1 ? F::conv1d(xp, w, {}, o) : F::conv2d(xp, w, {}, o);
}

std::vector<Tensor> conv_integer(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor* xz = in.size() > 2 && in[2] ? &*in[2] : nullptr;
  const Tensor* wz = in.size() > 3 && in[3] ? &*in[3] : nullptr;
  Tensor x = shifted(n, input(n, in, 0), xz, "x", false), w = shifted(n, input(n, in, 1), wz, "w", true);
  return {integer_conv(n, x, w).to(DType::Int32)};
}

// round((x - xz) * (w - wz) conv + B) * x_scale * w_scale / y_scale) + yz, saturated to y's type.
std::vector<Tensor> qlinear_conv(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor &xs = input(n, in, 1), &ws = input(n, in, 4), &ys = input(n, in, 6), &yz = input(n, in, 7);
  for (const Tensor* t : {&xs, &ws, &ys})
    if (t->dtype() != DType::Float32) n.error<TypeError>("scales must be float32, got ", t->dtype());
  if (yz.dtype() != DType::UInt8 && yz.dtype() != DType::Int8) n.error<TypeError>("y_zero_point must be uint8 or int8, got ", yz.dtype());
  const Tensor& w8 = input(n, in, 3);
  Tensor x = shifted(n, input(n, in, 0), &input(n, in, 2), "x", false), w = shifted(n, w8, &input(n, in, 5), "w", true);
  Tensor acc = integer_conv(n, x, w);  // [N, M, ...]
  Shape chan(acc.dim(), 1);
  chan[1] = acc.shape()[1];
  if (in.size() > 8 && in[8]) {
    if (in[8]->dtype() != DType::Int32) n.error<TypeError>("B must be int32, got ", in[8]->dtype());
    if (in[8]->numel() != acc.shape()[1]) n.error("B must have one value per output channel (", acc.shape()[1], ")");
    acc = add(acc, in[8]->to(DType::Float64).reshape(chan));
  }
  Tensor wsc = ws.numel() == 1 ? ws.reshape({}) : ws;
  if (ws.numel() != 1) {
    if (ws.dim() != 1 || ws.numel() != w8.shape()[0]) n.error("w_scale must be a scalar or one per output channel");
    wsc = ws.reshape(chan);
  }
  // The multiplier in float32, as the reference computes it.
  Tensor mult = div(mul(xs.reshape({}), wsc), ys.reshape({})).to(DType::Float64);
  Tensor y = add(mul(acc, mult), yz.to(DType::Float64).reshape({}));
  auto [lo, hi] = quant_range(yz.dtype());
  return {round(clamp(y, Scalar(lo), Scalar(hi))).to(yz.dtype())};
}


// The same bytes read as another dtype of the same size.
std::vector<Tensor> bitcast(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (!n.has("to")) n.error("attribute 'to' is required");
  const auto to = dtype_from_onnx(n.i("to", 0));
  if (!to || is_complex(*to)) n.error<NotImplementedError>("to=", n.i("to", 0), " is not a dtype tessel has");
  if (packed_bits(*to) != 8 * static_cast<int>(itemsize(*to)) || packed_bits(x.dtype()) != 8 * static_cast<int>(x.itemsize()))
    n.error<TypeError>("cannot reinterpret ", x.dtype(), " as ", *to, ": BitCast needs types of one bit width");
  if (itemsize(*to) != x.itemsize())
    n.error<TypeError>("cannot reinterpret ", x.dtype(), " (", x.itemsize(), " bytes) as ", *to, " (", itemsize(*to), " bytes)");
  Tensor src = x.contiguous();
  // Bytes meant as bools go through uint8 so that tessel's bools stay 0/1.
  Tensor out = empty(x.shape(), *to == DType::Bool ? DType::UInt8 : *to);
  if (x.numel() > 0) std::memcpy(out.data_ptr(), src.data_ptr(), src.nbytes());
  return {*to == DType::Bool ? ne(out, Scalar(int64_t(0))) : out};
}

}  // namespace

void register_quant_ops(std::map<std::string, OpFn>& t) {
  t["QuantizeLinear"] = quantize;
  t["DequantizeLinear"] = dequantize;
  t["DynamicQuantizeLinear"] = dynamic_quantize;
  t["BitCast"] = bitcast;
  t["ConvInteger"] = conv_integer;
  t["QLinearConv"] = qlinear_conv;
}

}  // namespace tessel::onnx
