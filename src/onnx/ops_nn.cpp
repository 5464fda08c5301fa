// ONNX neural-network ops: Conv (1-D to 3-D), ConvTranspose, pooling (Max with
// Indices, Average, Lp, Global*), normalizations (Batch, Layer, Instance, Group,
// Lp, LRN, MeanVariance), inference Dropout, MaxUnpool, Col2Im and DeformConv.
#include <algorithm>
#include <cmath>
#include <limits>

#include "src/onnx/internal.h"
#include "tessel/nn/functional.h"

namespace tessel::onnx {
namespace F = tessel::nn::functional;
namespace {


struct Pads {
  Shape begin, end;
  bool symmetric() const { return begin == end; }
};

// Per-spatial-dim padding from `pads` or `auto_pad` (ONNX's SAME_UPPER puts the odd cell at the end).
Pads spatial_pads(const Node& n, const Shape& in, const Shape& kernel, const Shape& stride, const Shape& dilation) {
  const size_t k = kernel.size();
  if (in.size() != k) n.error("kernel_shape ", kernel, " must have ", in.size(), " values, one per spatial dim");
  // Zero strides would divide by zero below (and in the kernels); ONNX requires them positive.
  constexpr int64_t kMaxGeom = int64_t{1} << 30;  // keeps window arithmetic far from overflow
  for (size_t d = 0; d < k; ++d) {
    if (kernel[d] > kMaxGeom || stride[d] > kMaxGeom || dilation[d] > kMaxGeom)
      n.error("kernel_shape ", kernel, ", strides ", stride, " or dilations ", dilation, " are absurdly large");
    if (kernel[d] < 1) n.error("kernel_shape ", kernel, " must be positive");
    if (stride[d] < 1) n.error("strides ", stride, " must be positive");
    if (dilation[d] < 1) n.error("dilations ", dilation, " must be positive");
  }
  Pads p{Shape(k, 0), Shape(k, 0)};
  const std::string autopad = n.s("auto_pad", "NOTSET");
  if (autopad == "NOTSET") {
    Shape pads = n.ints("pads", Shape(2 * k, 0));
    if (pads.size() != 2 * k) n.error("pads must have ", 2 * k, " values, got ", pads);
    for (size_t d = 0; d < k; ++d) {
      if (pads[d] < 0 || pads[d + k] < 0) n.error("negative pads ", pads, " are not supported");
      p.begin[d] = pads[d];
      p.end[d] = pads[d + k];
    }
  } else if (autopad == "SAME_UPPER" || autopad == "SAME_LOWER") {
    for (size_t d = 0; d < k; ++d) {
      int64_t out = (in[d] + stride[d] - 1) / stride[d];
      int64_t total = std::max<int64_t>(0, (out - 1) * stride[d] + (kernel[d] - 1) * dilation[d] + 1 - in[d]);
      p.begin[d] = autopad == "SAME_UPPER" ? total / 2 : total - total / 2;
      p.end[d] = total - p.begin[d];
    }
  } else if (autopad != "VALID") {
    // An attribute string is raw bytes in ONNX: echo it only when printable (messages reach Python as str).
    const bool printable = std::all_of(autopad.begin(), autopad.end(), [](char ch) { return ch >= 0x20 && ch < 0x7F; });
    n.error("auto_pad ", printable ? "'" + autopad + "'" : std::string("(not text)"),
            " must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  return p;
}

// Pads the spatial dims explicitly (tessel::pad takes the last dim first).
Tensor pad_explicit(const Tensor& x, const Pads& p, double value) {
  Shape spec;
  for (size_t d = p.begin.size(); d-- > 0;) {
    spec.push_back(p.begin[d]);
    spec.push_back(p.end[d]);
  }
  return pad(x, spec, "constant", value);
}


Shape attr_or(const Node& n, const char* name, size_t k, int64_t dflt) {
  Shape v = n.ints(name, Shape(k, dflt));
  if (v.size() != k) n.error(name, " must have ", k, " values, got ", v);
  return v;
}

// 3-D convolution from 2-D ones: each kernel depth tap kd convolves the depth
// slices it reads (strided along D, folded into the batch) with W[:, :, kd].
Tensor conv3d(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias, const Shape& stride,
              const Shape& dilation, int64_t groups) {
  const int64_t N = x.shape()[0], D = x.shape()[2], kd = w.shape()[2];
  const int64_t eff = (kd - 1) * dilation[0] + 1;
  const int64_t Dout = D >= eff ? (D - eff) / stride[0] + 1 : 0;
  F::ConvOptions o;
  o.stride = {stride[1], stride[2]};
  o.dilation = {dilation[1], dilation[2]};
  o.groups = groups;
  Tensor y;
  for (int64_t t = 0; t < kd; ++t) {
    const int64_t start = t * dilation[0];
    Tensor xs = x.slice(2, start, start + (Dout - 1) * stride[0] + 1, stride[0]);  // [N, C, Dout, H, W]
    xs = xs.permute({0, 2, 1, 3, 4}).reshape({N * Dout, x.shape()[1], x.shape()[3], x.shape()[4]});
    Tensor part = F::conv2d(xs, w.select(2, t).contiguous(), {}, o);
    y = t == 0 ? part : add(y, part);
  }
  y = y.reshape({N, Dout, y.shape()[1], y.shape()[2], y.shape()[3]}).permute({0, 2, 1, 3, 4}).contiguous();
  if (bias) y = add(y, bias->reshape({1, -1, 1, 1, 1}));
  return y;
}

std::vector<Tensor> conv(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& w = input(n, in, 1);
  if (x.dim() < 3 || x.dim() > 5) n.error("only 1-D, 2-D and 3-D convolution (3-D to 5-D X) are supported, got X ", x.shape());
  if (w.dim() != x.dim()) n.error("W ", w.shape(), " must have the rank of X ", x.shape());
  const size_t k = static_cast<size_t>(x.dim() - 2);
  const Shape wk(w.shape().begin() + 2, w.shape().end());
  Shape kernel = n.ints("kernel_shape", wk);
  if (kernel != wk) n.error("kernel_shape ", kernel, " differs from the spatial dims of W ", w.shape());
  Shape stride = attr_or(n, "strides", k, 1), dilation = attr_or(n, "dilations", k, 1);
  Pads p = spatial_pads(n, spatial(x), kernel, stride, dilation);
  const int64_t groups = n.i("group", 1);
  if (groups < 1 || x.shape()[1] != w.shape()[1] * groups || w.shape()[0] % groups != 0)
    n.error("X ", x.shape(), " and W ", w.shape(), " do not match group=", groups);
  std::optional<Tensor> bias;
  if (in.size() > 2 && in[2]) bias = *in[2];
  Tensor xi = x;
  F::ConvOptions o;
  o.stride = stride;
  o.dilation = dilation;
  o.groups = groups;
  if (p.symmetric() && k < 3) {
    o.padding = p.begin;
  } else {
    xi = pad_explicit(x, p, 0.0);
    o.padding = Shape(k, 0);
  }
  if (k == 3) return one(conv3d(xi, w, bias, stride, dilation, groups));
  return one(k == 1 ? F::conv1d(xi, w, bias, o) : F::conv2d(xi, w, bias, o));
}

// 3-D transposed convolution from 2-D ones: depth tap t of input slice i lands on
// output depth i * stride + t * dilation.
Tensor conv_transpose3d_full(const Tensor& x, const Tensor& w, const Shape& stride, const Shape& dilation,
                             int64_t groups) {
  const int64_t N = x.shape()[0], C = x.shape()[1], D = x.shape()[2], kd = w.shape()[2];
  const int64_t full_d = stride[0] * (D - 1) + (kd - 1) * dilation[0] + 1;
  Tensor xs = x.permute({0, 2, 1, 3, 4}).reshape({N * D, C, x.shape()[3], x.shape()[4]});
  Tensor y;
  for (int64_t t = 0; t < kd; ++t) {
    Tensor part = F::conv_transpose2d(xs, w.select(2, t).contiguous(), {}, {stride[1], stride[2]}, {0}, {0}, groups,
                                      {dilation[1], dilation[2]});
    const int64_t O = part.shape()[1], H = part.shape()[2], W = part.shape()[3];
    part = part.reshape({N, D, O, H, W}).permute({0, 2, 1, 3, 4});
    if (!y.defined()) y = zeros({N, O, full_d, H, W}, TensorOptions(x.dtype()));
    Tensor view = y.slice(2, t * dilation[0], t * dilation[0] + (D - 1) * stride[0] + 1, stride[0]);
    view.add_(part);
  }
  return y;
}

// ConvTranspose: the full transposed convolution (no padding), then cropped
// (or zero-extended) to ONNX's pads / output_shape / output_padding.
std::vector<Tensor> conv_transpose(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& w = input(n, in, 1);
  if (x.dim() < 3 || x.dim() > 5) n.error("only 1-D to 3-D ConvTranspose (3-D to 5-D X) are supported, got X ", x.shape());
  if (w.dim() != x.dim()) n.error("W ", w.shape(), " must have the rank of X ", x.shape());
  const size_t k = static_cast<size_t>(x.dim() - 2);
  const int64_t groups = n.i("group", 1);
  if (groups < 1 || x.shape()[1] != w.shape()[0] || w.shape()[0] % groups != 0)
    n.error("X ", x.shape(), " and W ", w.shape(), " do not match group=", groups);
  const Shape wk(w.shape().begin() + 2, w.shape().end());
  Shape kernel = n.ints("kernel_shape", wk);
  if (kernel != wk) n.error("kernel_shape ", kernel, " differs from the spatial dims of W ", w.shape());
  Shape stride = attr_or(n, "strides", k, 1), dilation = attr_or(n, "dilations", k, 1);
  Shape outpad = attr_or(n, "output_padding", k, 0);
  for (size_t d = 0; d < k; ++d) {
    if (stride[d] < 1) n.error("strides ", stride, " must be positive");
    if (dilation[d] < 1) n.error("dilations ", dilation, " must be positive");
    if (outpad[d] < 0 || (outpad[d] >= stride[d] && outpad[d] >= dilation[d]))
      n.error("output_padding ", outpad, " must be smaller than the stride or the dilation");
  }
  const Shape sp = spatial(x);
  for (size_t d = 0; d < k; ++d)
    if (stride[d] > (int64_t{1} << 20) || dilation[d] > (int64_t{1} << 20) || kernel[d] > (int64_t{1} << 20))
      n.error("strides ", stride, ", dilations ", dilation, " or kernel ", kernel, " are absurdly large");
  Shape full(k), pb(k, 0), pe(k, 0);
  for (size_t d = 0; d < k; ++d) full[d] = stride[d] * (sp[d] - 1) + (kernel[d] - 1) * dilation[d] + 1;
  const std::string autopad = n.s("auto_pad", "NOTSET");
  Shape out_shape = n.ints("output_shape");
  if (out_shape.size() == k + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (!out_shape.empty() && out_shape.size() != k) n.error("output_shape must have ", k, " values, got ", out_shape);
  if (out_shape.empty() && (autopad == "SAME_UPPER" || autopad == "SAME_LOWER"))
    for (size_t d = 0; d < k; ++d) out_shape.push_back(sp[d] * stride[d]);
  if (!out_shape.empty()) {
    for (size_t d = 0; d < k; ++d) {
      const int64_t total = full[d] + outpad[d] - out_shape[d];
      // SAME_UPPER puts the odd padding cell at the end, the others at the start (as in the spec);
      // a larger output_shape extends the end with zeros (bias only), as onnxruntime does.
      pb[d] = total < 0 ? 0 : autopad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[d] = total - pb[d];
    }
  } else if (autopad == "NOTSET") {
    Shape pads = n.ints("pads", Shape(2 * k, 0));
    if (pads.size() != 2 * k) n.error("pads must have ", 2 * k, " values, got ", pads);
    for (size_t d = 0; d < k; ++d) {
      if (pads[d] < 0 || pads[d + k] < 0) n.error("negative pads ", pads, " are not supported");
      pb[d] = pads[d];
      pe[d] = pads[d + k];
    }
  } else if (autopad != "VALID") {
    n.error("auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  int64_t cells = x.shape()[0] * w.shape()[1] * groups;  // N * output channels
  for (size_t d = 0; d < k; ++d) {
    const int64_t len = std::max(full[d] + outpad[d], full[d] + outpad[d] - pb[d] - pe[d]);
    if (len > 0 && cells > (int64_t{1} << 32) / len) n.error("the output would be too large");
    cells *= std::max<int64_t>(len, 1);
  }
  Tensor xi = k == 1 ? x.unsqueeze(2) : x, wi = k == 1 ? w.unsqueeze(2) : w;
  const Shape s2 = k == 1 ? Shape{1, stride[0]} : stride, d2 = k == 1 ? Shape{1, dilation[0]} : dilation;
  Tensor y = k == 3 ? conv_transpose3d_full(x, w, stride, dilation, groups)
                    : F::conv_transpose2d(xi, wi, {}, s2, {0}, {0}, groups, d2);
  // Output position o reads full position o + pb: a negative pad spec crops.
  Shape spec;
  for (size_t d = k; d-- > 0;) {
    const int64_t len = full[d] + outpad[d] - pb[d] - pe[d];
    if (len < 0) n.error("pads/output_shape give a negative output size along spatial dim ", d);
    spec.push_back(-pb[d]);
    spec.push_back(len - (full[d] - pb[d]));
  }
  if (k == 1) y = y.squeeze(2);
  y = pad(y, spec, "constant", 0.0);
  if (in.size() > 2 && in[2]) {
    Shape bs(y.dim(), 1);
    bs[1] = -1;
    y = add(y, in[2]->reshape(bs));
  }
  return one(y);
}

// Generic N-D pooling over unfolded windows, for what tessel's 2-D kernels do
// not take (3-D, dilated average/Lp pooling, integer data, wide pads).
enum class PoolKind { Max, Avg, LpSum };

struct NdPool {
  Shape kernel, stride, dilation, pb, pe;
  bool ceil = false;
};

NdPool nd_pool_attrs(const Node& n, const Tensor& x) {
  if (x.dim() < 3) n.error("X must be [N, C, spatial...], got ", x.shape());
  if (!n.has("kernel_shape")) n.error("attribute kernel_shape is required");
  const size_t k = static_cast<size_t>(x.dim() - 2);
  NdPool g;
  g.kernel = n.ints("kernel_shape");
  if (g.kernel.size() != k) n.error("kernel_shape must have ", k, " values, got ", g.kernel);
  g.stride = attr_or(n, "strides", k, 1);
  g.dilation = attr_or(n, "dilations", k, 1);
  Pads p = spatial_pads(n, spatial(x), g.kernel, g.stride, g.dilation);
  g.pb = p.begin;
  g.pe = p.end;
  g.ceil = n.i("ceil_mode", 0) != 0;
  return g;
}

// Pads x (value `v`) so that every output window fits, and returns the window view
// [N, C, out..., k...] (dilated taps only).
Tensor windows(const Node& n, const Tensor& x, const NdPool& g, double v, Shape* pb_out = nullptr) {
  const size_t k = g.kernel.size();
  Pads p{g.pb, g.pe};
  for (size_t d = 0; d < k; ++d) {
    const int64_t in = x.shape()[2 + d], eff = (g.kernel[d] - 1) * g.dilation[d] + 1;
    const int64_t span = in + g.pb[d] + g.pe[d] - eff;
    if (span < 0) n.error("the window (", eff, ") is larger than the padded input (", in + g.pb[d] + g.pe[d], ")");
    int64_t out = (g.ceil ? (span + g.stride[d] - 1) / g.stride[d] : span / g.stride[d]) + 1;
    if (g.ceil && (out - 1) * g.stride[d] >= in + g.pb[d]) --out;  // no window starts in the end padding
    p.end[d] += std::max<int64_t>(0, (out - 1) * g.stride[d] + eff - (in + g.pb[d] + g.pe[d]));
  }
  if (pb_out) *pb_out = p.begin;
  Tensor w = pad_explicit(x, p, v);
  for (size_t d = 0; d < k; ++d) w = w.unfold(static_cast<int64_t>(2 + d), (g.kernel[d] - 1) * g.dilation[d] + 1, g.stride[d]);
  for (size_t d = 0; d < k; ++d) w = w.slice(w.dim() - static_cast<int64_t>(k) + static_cast<int64_t>(d), 0, w.shape()[w.dim() - k + d], g.dilation[d]);
  return w;
}

Shape window_dims(const Tensor& w, size_t k) {
  Shape dims;
  for (size_t d = 0; d < k; ++d) dims.push_back(w.dim() - static_cast<int64_t>(k) + static_cast<int64_t>(d));
  return dims;
}

Tensor pool_nd(const Node& n, const Tensor& x, const NdPool& g, PoolKind kind, bool include_pad) {
  const size_t k = g.kernel.size();
  if (kind == PoolKind::Max) {
    // Integer data pads with its lowest value; floats with -inf.
    double lo = -std::numeric_limits<double>::infinity();
    if (x.dtype() == DType::UInt8) lo = 0;
    else if (x.dtype() == DType::Int8) lo = -128;
    else if (!is_floating(x.dtype())) n.error<TypeError>("MaxPool of ", x.dtype(), " data is not supported");
    Tensor w = windows(n, x, g, lo);
    return amax(w, window_dims(w, k)).contiguous();
  }
  Tensor w = windows(n, x, g, 0.0);
  Tensor total = sum(w, window_dims(w, k));
  if (kind == PoolKind::LpSum) return total;
  // The divisor counts the real cells (and the explicit pads when include_pad), never the ceil overhang.
  Shape one_shape(x.dim(), 1);
  for (size_t d = 0; d < k; ++d) one_shape[2 + d] = x.shape()[2 + d];
  Tensor cells = ones(one_shape, TensorOptions(x.dtype()));
  Tensor cw;
  if (include_pad) {
    Tensor padded = pad_explicit(cells, Pads{g.pb, g.pe}, 1.0);
    NdPool g0 = g;
    g0.pb.assign(k, 0);
    g0.pe.assign(k, 0);
    cw = windows(n, padded, g0, 0.0);
  } else {
    cw = windows(n, cells, g, 0.0);
  }
  return div(total, sum(cw, window_dims(cw, k)));
}

// Pooling geometry; 1-D pooling runs as 2-D with a height-1 window.
struct PoolGeom {
  Tensor x;  // [N, C, H, W]
  bool one_d = false;
  Shape kernel, stride, dilation;
  Pads p;
  bool ceil = false;
};

PoolGeom pool_geom(const Node& n, const Tensor& x0, bool has_dilation) {
  if (x0.dim() != 3 && x0.dim() != 4)
    n.error("only 1-D and 2-D pooling (3-D or 4-D X) are supported, got X ", x0.shape());
  if (!n.has("kernel_shape")) n.error("attribute kernel_shape is required");
  const size_t k = static_cast<size_t>(x0.dim() - 2);
  PoolGeom g;
  g.kernel = n.ints("kernel_shape");
  if (g.kernel.size() != k) n.error("kernel_shape must have ", k, " values, got ", g.kernel);
  g.stride = attr_or(n, "strides", k, 1);
  g.dilation = has_dilation ? attr_or(n, "dilations", k, 1) : Shape(k, 1);
  g.p = spatial_pads(n, spatial(x0), g.kernel, g.stride, g.dilation);
  g.ceil = n.i("ceil_mode", 0) != 0;
  g.x = x0;
  if (k == 1) {
    g.one_d = true;
    g.x = x0.unsqueeze(2);
    g.kernel.insert(g.kernel.begin(), 1);
    g.stride.insert(g.stride.begin(), 1);
    g.dilation.insert(g.dilation.begin(), 1);
    g.p.begin.insert(g.p.begin.begin(), 0);
    g.p.end.insert(g.p.end.begin(), 0);
  }
  return g;
}

Tensor unpool(const PoolGeom& g, const Tensor& y) { return g.one_d ? y.squeeze(2) : y; }

// tessel's 2-D pooling takes symmetric pads of at most half the kernel.
bool pads_fit(const PoolGeom& g) {
  if (!g.p.symmetric()) return false;
  for (size_t d = 0; d < g.kernel.size(); ++d)
    if (2 * g.p.begin[d] > g.kernel[d]) return false;
  return true;
}

bool needs_generic(const Node& n, const Tensor& x) {
  const Shape dil = n.ints("dilations");
  const bool dilated = std::any_of(dil.begin(), dil.end(), [](int64_t d) { return d != 1; });
  return x.dim() > 4 || (x.dim() >= 3 && !is_floating(x.dtype())) || (dilated && n.op_type != "MaxPool");
}

std::vector<Tensor> max_pool(const Node& n, const Inputs& in, const OpContext&) {
  const int64_t order = n.i("storage_order", 0);
  if (order != 0 && order != 1) n.error("storage_order ", order, " must be 0 or 1");
  const bool want_idx = n.outputs.size() > 1 && !n.outputs[1].empty();
  if (needs_generic(n, input(n, in, 0))) {
    if (want_idx) n.error<NotImplementedError>("the Indices output is supported for 1-D and 2-D float pooling only");
    return one(pool_nd(n, input(n, in, 0), nd_pool_attrs(n, input(n, in, 0)), PoolKind::Max, false));
  }
  PoolGeom g = pool_geom(n, input(n, in, 0), true);
  const Tensor& x = g.x;
  if (!want_idx) {
    if (pads_fit(g)) return one(unpool(g, F::max_pool2d(x, g.kernel, g.stride, g.p.begin, g.dilation, g.ceil)));
    Tensor xp = pad_explicit(x, g.p, -std::numeric_limits<double>::infinity());
    return one(unpool(g, F::max_pool2d(xp, g.kernel, g.stride, {0, 0}, g.dilation, g.ceil)));
  }
  // Indices: tessel gives h * W + w within the (padded) plane; ONNX flattens the
  // whole unpadded tensor, row-major (storage_order 0) or column-major per plane (1).
  const bool sym = pads_fit(g);
  Tensor xp = sym ? x : pad_explicit(x, g.p, -std::numeric_limits<double>::infinity());
  auto [y, idx] = F::max_pool2d_with_indices(xp, g.kernel, g.stride, sym ? g.p.begin : Shape{0, 0}, g.dilation, g.ceil);
  const int64_t H = x.shape()[2], W = x.shape()[3], Wp = xp.shape()[3];
  const int64_t planes = x.shape()[0] * x.shape()[1];
  Tensor h = floor_divide(idx, Scalar(Wp)), w = remainder(idx, Scalar(Wp));
  if (!sym) {
    h = sub(h, Scalar(g.p.begin[0]));
    w = sub(w, Scalar(g.p.begin[1]));
  }
  Tensor plane = arange(Scalar(0), Scalar(planes), Scalar(1), DType::Int64).reshape({x.shape()[0], x.shape()[1], 1, 1});
  Tensor local = order == 0 ? add(mul(h, Scalar(W)), w) : add(mul(w, Scalar(H)), h);
  Tensor flat = add(mul(plane, Scalar(H * W)), local);
  return {unpool(g, y), unpool(g, flat)};
}

// Windowed sums (no averaging): avg_pool2d with a divisor of 1 over zero padding.
Tensor window_sum(const Tensor& x, const PoolGeom& g) {
  return F::avg_pool2d(pad_explicit(x, g.p, 0.0), g.kernel, g.stride, {0, 0}, g.ceil, true, 1);
}

std::vector<Tensor> avg_pool(const Node& n, const Inputs& in, const OpContext&) {
  const bool include_pad = n.i("count_include_pad", 0) != 0;  // ONNX's default excludes the padding
  if (needs_generic(n, input(n, in, 0)))
    return one(pool_nd(n, input(n, in, 0), nd_pool_attrs(n, input(n, in, 0)), PoolKind::Avg, include_pad));
  PoolGeom g = pool_geom(n, input(n, in, 0), true);
  const Tensor& x = g.x;
  if (pads_fit(g)) return one(unpool(g, F::avg_pool2d(x, g.kernel, g.stride, g.p.begin, g.ceil, include_pad)));
  if (include_pad) return one(unpool(g, F::avg_pool2d(pad_explicit(x, g.p, 0.0), g.kernel, g.stride, {0, 0}, g.ceil, true)));
  // Asymmetric pads without counting them: window sums over the count of real cells.
  Tensor cells = ones({1, 1, x.shape()[2], x.shape()[3]}, TensorOptions(x.dtype()));
  return one(unpool(g, div(window_sum(x, g), window_sum(cells, g))));
}

int64_t lp_p(const Node& n) {
  const int64_t p = n.i("p", 2);
  if (p < 1) n.error("p ", p, " must be a positive integer");
  return p;
}

// |x|^p without pow for the common p = 1, 2.
Tensor abs_pow(const Tensor& x, int64_t p) {
  if (p == 1) return abs(x);
  if (p == 2) return square(x);
  return pow(abs(x), Scalar(static_cast<double>(p)));
}

Tensor root(const Tensor& x, int64_t p) {
  if (p == 1) return x;
  if (p == 2) return sqrt(x);
  return pow(x, Scalar(1.0 / static_cast<double>(p)));
}

std::vector<Tensor> lp_pool(const Node& n, const Inputs& in, const OpContext&) {
  const int64_t p = lp_p(n);
  const Tensor& x = input(n, in, 0);
  if (needs_generic(n, x)) return one(root(pool_nd(n, abs_pow(x, p), nd_pool_attrs(n, x), PoolKind::LpSum, true), p));
  PoolGeom g = pool_geom(n, x, true);
  return one(unpool(g, root(window_sum(abs_pow(g.x, p), g), p)));
}

Shape spatial_dims(const Node& n, const Tensor& x) {
  if (x.dim() < 3) n.error("X must have spatial dims [N, C, ...], got ", x.shape());
  Shape dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// ---- normalizations ----

// Float16/BFloat16 inputs compute in float32 (stash_type 1, onnxruntime's default).
Tensor to_compute(const Tensor& x) { return x.dtype() == DType::Float64 ? x : x.to(DType::Float32); }

std::vector<Tensor> layer_norm(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& scale = input(n, in, 1);
  std::optional<Tensor> bias;
  if (in.size() > 2 && in[2]) bias = *in[2];
  const int64_t r = x.dim();
  if (r == 0) n.error("X must have at least one dim");
  int64_t axis = n.i("axis", -1);
  if (axis < -r || axis >= r) n.error("axis ", axis, " is out of range for rank ", r);
  if (axis < 0) axis += r;
  const double eps = n.f("epsilon", 1e-5);
  if (!is_floating(x.dtype())) n.error<TypeError>("X must be a float tensor, got ", x.dtype());
  const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  const bool stats = n.outputs.size() > 1;
  if (!stats && scale.shape() == norm_shape && (!bias || bias->shape() == norm_shape) &&
      (x.dtype() == DType::Float32 || x.dtype() == DType::Float64) && scale.dtype() == x.dtype() &&
      (!bias || bias->dtype() == x.dtype()))
    return one(F::layer_norm(x, norm_shape, scale, bias, eps));
  Shape dims;
  for (int64_t d = axis; d < r; ++d) dims.push_back(d);
  Tensor xf = to_compute(x);
  Tensor mu = mean(xf, dims, true);
  Tensor centered = sub(xf, mu);
  Tensor inv = rsqrt(add(mean(square(centered), dims, true), Scalar(eps)));
  Tensor y = mul(mul(centered, inv), to_compute(scale));
  if (bias) y = add(y, to_compute(*bias));
  return {y.to(x.dtype()), mu, inv};
}

std::vector<Tensor> group_norm(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  Tensor scale = input(n, in, 1), bias = input(n, in, 2);
  if (x.dim() < 3) n.error("X must be [N, C, ...] with spatial dims, got ", x.shape());
  if (!n.has("num_groups")) n.error("attribute num_groups is required");
  const int64_t G = n.i("num_groups", 0), C = x.shape()[1];
  if (G < 1 || C % G != 0) n.error("num_groups ", G, " must divide the channels (", C, ")");
  // GroupNormalization-18 scales per group; -21 per channel.
  const int64_t want = c.opset >= 21 ? C : G;
  if (scale.numel() != want || bias.numel() != want || scale.dim() != 1 || bias.dim() != 1)
    n.error("scale ", scale.shape(), " and bias ", bias.shape(), " must be [", want, "] at opset ", c.opset);
  if (c.opset < 21) {
    scale = repeat_interleave(scale, C / G, 0);
    bias = repeat_interleave(bias, C / G, 0);
  }
  Tensor xf = to_compute(x);
  return one(F::group_norm(xf, G, scale.to(xf.dtype()), bias.to(xf.dtype()), n.f("epsilon", 1e-5)).to(x.dtype()));
}

std::vector<Tensor> lrn(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dim() < 3) n.error("X must be [N, C, ...] with spatial dims, got ", x.shape());
  if (!n.has("size")) n.error("attribute size is required");
  const int64_t size = n.i("size", 1);
  const int64_t C = x.shape()[1];
  if (size < 1 || size > 2 * C + 1) n.error("size ", size, " must be in [1, 2 * C + 1]");
  const double alpha = n.f("alpha", 1e-4), beta = n.f("beta", 0.75), bias = n.f("bias", 1.0);
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  // Channel-window sums of squares: pad the channel dim, then add `size` shifted views.
  Shape spec(2 * (x.dim() - 1), 0);
  spec[spec.size() - 2] = before;
  spec[spec.size() - 1] = after;
  Tensor sq = pad(square(x), spec, "constant", 0.0);
  Tensor sum = sq.narrow(1, 0, C);
  for (int64_t k = 1; k < size; ++k) sum = add(sum, sq.narrow(1, k, C));
  return one(div(x, pow(add(mul(sum, Scalar(alpha / static_cast<double>(size))), Scalar(bias)), Scalar(beta))));
}

std::vector<Tensor> dropout(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  bool training = false;
  double ratio = 0.5;
  if (c.opset >= 12) {
    if (in.size() > 2 && in[2]) {
      if (in[2]->numel() != 1 || in[2]->dtype() != DType::Bool) n.error<TypeError>("training_mode must be a bool scalar");
      training = in[2]->reshape({}).item().to<bool>();
    }
    if (in.size() > 1 && in[1]) {
      if (in[1]->numel() != 1 || !is_floating(in[1]->dtype())) n.error("ratio must be a float scalar");
      ratio = in[1]->reshape({}).item().to<double>();
    }
  }
  if (training && ratio != 0) n.error<NotImplementedError>("training_mode=true with a non-zero ratio is not supported (inference only)");
  // Inference: Y is X and the mask keeps everything (bool from opset 10, X's dtype before).
  Tensor mask = ones(x.shape(), TensorOptions(c.opset >= 10 ? DType::Bool : x.dtype()));
  return {x, mask};
}

// ---- MaxUnpool, Col2Im, DeformConv (AffineGrid, GridSample, RoiAlign: ops_image.cpp) ----

std::vector<Tensor> max_unpool(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& idx = input(n, in, 1);
  if (x.dim() < 3) n.error("X must be [N, C, spatial...], got ", x.shape());
  if (idx.shape() != x.shape()) n.error("I ", idx.shape(), " must have the shape of X ", x.shape());
  if (!n.has("kernel_shape")) n.error("attribute kernel_shape is required");
  const size_t k = static_cast<size_t>(x.dim() - 2);
  const Shape kernel = n.ints("kernel_shape");
  if (kernel.size() != k) n.error("kernel_shape must have ", k, " values, got ", kernel);
  const Shape stride = attr_or(n, "strides", k, 1);
  const Shape pads = n.ints("pads", Shape(2 * k, 0));
  if (pads.size() != 2 * k) n.error("pads must have ", 2 * k, " values, got ", pads);
  // Indices address the shape MaxPool saw (inferred); output_shape places that in its corner.
  Shape inferred = x.shape();
  for (size_t d = 0; d < k; ++d)
    inferred[2 + d] = (x.shape()[2 + d] - 1) * stride[d] + kernel[d] - pads[d] - pads[d + k];
  Shape out = inferred;
  if (in.size() > 2 && in[2]) {
    out = int_values(n, *in[2], "output_shape");
    if (out.size() != static_cast<size_t>(x.dim())) n.error("output_shape must have ", x.dim(), " values, got ", out);
  }
  for (const Shape* s : {&inferred, &out})
    for (int64_t d : *s)
      if (d < 0 || d > (int64_t{1} << 34)) n.error("output shape ", *s, " is invalid or too large");
  int64_t total = 1, out_total = 1;
  for (size_t d = 0; d < out.size(); ++d) {
    if (inferred[d] > 0 && total > (int64_t{1} << 34) / inferred[d]) n.error("output shape ", inferred, " is too large");
    if (out[d] > 0 && out_total > (int64_t{1} << 34) / out[d]) n.error("output_shape ", out, " is too large");
    total *= inferred[d];
    out_total *= out[d];
  }
  if (out[0] != inferred[0] || out[1] != inferred[1]) n.error("output_shape ", out, " must keep N and C of X");
  if (!is_integral(idx.dtype())) n.error<TypeError>("I must be int64, got ", idx.dtype());
  Tensor flat_idx = idx.to(DType::Int64).reshape({-1});
  if (flat_idx.numel() > 0) {
    const int64_t lo = min(flat_idx).item().to<int64_t>(), hi = max(flat_idx).item().to<int64_t>();
    if (lo < 0 || hi >= total) n.error<IndexError>("index ", lo < 0 ? lo : hi, " is outside the output (", total, " elements)");
  }
  Tensor y = zeros({total}, TensorOptions(x.dtype()));
  y = scatter(y, 0, flat_idx, x.reshape({-1}).contiguous()).reshape(inferred);
  if (out == inferred) return one(y);
  Shape spec;
  for (size_t d = k; d-- > 0;) {
    spec.push_back(0);
    spec.push_back(out[2 + d] - inferred[2 + d]);
  }
  return one(pad(y, spec, "constant", 0.0));
}

// Col2Im: sums the column blocks back onto the (padded) image, one kernel offset at a time.
std::vector<Tensor> col2im(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Shape image = int_values(n, input(n, in, 1), "image_shape");
  const Shape block = int_values(n, input(n, in, 2), "block_shape");
  const size_t k = image.size();
  if (k == 0 || block.size() != k) n.error("image_shape and block_shape must have the same, non-zero length");
  if (x.dim() != 3) n.error("input must be [N, C * prod(block_shape), L], got ", x.shape());
  const Shape dil = attr_or(n, "dilations", k, 1), stride = attr_or(n, "strides", k, 1);
  const Shape pads = n.ints("pads", Shape(2 * k, 0));
  if (pads.size() != 2 * k) n.error("pads must have ", 2 * k, " values, got ", pads);
  int64_t kprod = 1, L = 1;
  Shape blocks(k), padded(k);
  for (size_t d = 0; d < k; ++d) {
    if (block[d] < 1 || image[d] < 1 || dil[d] < 1 || stride[d] < 1 || pads[d] < 0 || pads[d + k] < 0)
      n.error("image_shape, block_shape, dilations and strides must be positive, pads non-negative");
    padded[d] = image[d] + pads[d] + pads[d + k];
    const int64_t eff = (block[d] - 1) * dil[d] + 1;
    if (padded[d] < eff) n.error("block ", block, " does not fit the padded image");
    blocks[d] = (padded[d] - eff) / stride[d] + 1;
    kprod *= block[d];
    L *= blocks[d];
  }
  const int64_t N = x.shape()[0];
  if (x.shape()[1] % kprod != 0 || x.shape()[2] != L)
    n.error("input ", x.shape(), " must be [N, C * ", kprod, ", ", L, "] for these shapes");
  const int64_t C = x.shape()[1] / kprod;
  Shape yshape{N, C};
  yshape.insert(yshape.end(), padded.begin(), padded.end());
  Tensor y = zeros(yshape, TensorOptions(x.dtype()));
  Shape cols{N, C, kprod};
  cols.insert(cols.end(), blocks.begin(), blocks.end());
  Tensor xc = x.reshape(cols);
  for (int64_t kk = 0; kk < kprod; ++kk) {
    Tensor view = y;
    int64_t rem = kk;
    for (size_t d = k; d-- > 0;) {
      const int64_t off = rem % block[d];
      rem /= block[d];
      const int64_t start = off * dil[d];
      view = view.slice(static_cast<int64_t>(2 + d), start, start + (blocks[d] - 1) * stride[d] + 1, stride[d]);
    }
    view.add_(xc.select(2, kk));
  }
  for (size_t d = 0; d < k; ++d) y = y.narrow(static_cast<int64_t>(2 + d), pads[d], image[d]);
  return one(y.contiguous());
}

// DeformConv (2-D): bilinear samples at the kernel taps moved by `offset` (zeros
// outside X), scaled by `mask`, gathered into columns; then one matmul per group.
std::vector<Tensor> deform_conv(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& w = input(n, in, 1);
  const Tensor& offset = input(n, in, 2);
  auto opt_in = [&](size_t i) -> std::optional<Tensor> { return i < in.size() ? in[i] : std::nullopt; };
  const std::optional<Tensor> bias = opt_in(3), mask = opt_in(4);
  if (x.dim() != 4 || w.dim() != 4) n.error("only 2-D DeformConv (4-D X and W) is supported, got X ", x.shape());
  if (!is_floating(x.dtype())) n.error<TypeError>("X must be a float tensor, got ", x.dtype());
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3], O = w.shape()[0];
  const int64_t groups = n.i("group", 1), og = n.i("offset_group", 1);
  if (groups < 1 || C != w.shape()[1] * groups || O % groups != 0)
    n.error("X ", x.shape(), " and W ", w.shape(), " do not match group=", groups);
  if (og < 1 || C % og != 0) n.error("offset_group ", og, " must divide the channels (", C, ")");
  const Shape kernel{w.shape()[2], w.shape()[3]};
  if (n.ints("kernel_shape", kernel) != kernel) n.error("kernel_shape differs from W ", w.shape());
  const Shape stride = attr_or(n, "strides", 2, 1), dil = attr_or(n, "dilations", 2, 1);
  const Pads pd = spatial_pads(n, spatial(x), kernel, stride, dil);
  const int64_t K = kernel[0] * kernel[1];
  const int64_t oh = (H + pd.begin[0] + pd.end[0] - ((kernel[0] - 1) * dil[0] + 1)) / stride[0] + 1;
  const int64_t ow = (W + pd.begin[1] + pd.end[1] - ((kernel[1] - 1) * dil[1] + 1)) / stride[1] + 1;
  if (oh < 1 || ow < 1) n.error("the kernel does not fit the padded input");
  if (offset.shape() != Shape{N, og * 2 * K, oh, ow})
    n.error("offset ", offset.shape(), " must be [", N, ", ", og * 2 * K, ", ", oh, ", ", ow, "]");
  if (mask && mask->shape() != Shape{N, og * K, oh, ow})
    n.error("mask ", mask->shape(), " must be [", N, ", ", og * K, ", ", oh, ", ", ow, "]");
  const int64_t P = oh * ow;
  if (N * og * K * P * 4 > (int64_t{1} << 30)) n.error("the sampling grid is too large");
  const std::vector<double> off = host_doubles(offset);
  const std::vector<double> msk = mask ? host_doubles(*mask) : std::vector<double>();
  // Per (n, offset group): index [K * P * 4] into the H * W plane and weights (mask folded in).
  Tensor index = empty({N, og, K * P * 4}, TensorOptions(DType::Int64));
  Tensor weight = empty({N, og, K, P, 4}, TensorOptions(DType::Float64));
  int64_t* ip = index.data<int64_t>();
  double* wp = weight.data<double>();
  for (int64_t b = 0; b < N; ++b)
    for (int64_t g = 0; g < og; ++g)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t p = 0; p < P; ++p) {
          const int64_t i = p / ow, j = p % ow, kh = k / kernel[1], kw = k % kernel[1];
          const int64_t obase = ((b * og + g) * 2 * K + 2 * k) * P + p;
          const double h = static_cast<double>(i * stride[0] - pd.begin[0] + kh * dil[0]) + off[obase];
          const double v = static_cast<double>(j * stride[1] - pd.begin[1] + kw * dil[1]) + off[obase + P];
          const double m = mask ? msk[((b * og + g) * K + k) * P + p] : 1.0;
          const int64_t h0 = static_cast<int64_t>(std::floor(h)), w0 = static_cast<int64_t>(std::floor(v));
          const double th = h - h0, tw = v - w0;
          const int64_t at = (((b * og + g) * K + k) * P + p) * 4;
          for (int q = 0; q < 4; ++q) {
            const int64_t hh = h0 + (q >> 1), ww = w0 + (q & 1);
            const bool inside = hh >= 0 && hh < H && ww >= 0 && ww < W;
            ip[at + q] = inside ? hh * W + ww : 0;
            wp[at + q] = inside ? m * ((q >> 1) ? th : 1 - th) * ((q & 1) ? tw : 1 - tw) : 0.0;
          }
        }
  const int64_t cpg = C / og;  // channels per offset group
  std::vector<Tensor> cols;
  for (int64_t g = 0; g < og; ++g) {
    Tensor xs = x.narrow(1, g * cpg, cpg).reshape({N, cpg, H * W});
    Tensor idx = index.select(1, g).unsqueeze(1).expand({N, cpg, K * P * 4}).contiguous();
    Tensor picked = gather(xs, 2, idx).reshape({N, cpg, K, P, 4});
    cols.push_back(sum(mul(picked, weight.select(1, g).unsqueeze(1).to(x.dtype())), {4}));  // [N, cpg, K, P]
  }
  Tensor col = cat(cols, 1).reshape({N, C * K, P});
  const int64_t cg = C / groups, ogp = O / groups;
  std::vector<Tensor> outs;
  for (int64_t g = 0; g < groups; ++g) {
    Tensor wg = w.narrow(0, g * ogp, ogp).reshape({ogp, cg * K});
    outs.push_back(matmul(wg, col.narrow(1, g * cg * K, cg * K)));  // [N, ogp, P]
  }
  Tensor y = cat(outs, 1).reshape({N, O, oh, ow});
  if (bias) y = add(y, bias->reshape({1, O, 1, 1}));
  return one(y);
}

}  // namespace

void register_nn_ops(std::map<std::string, OpFn>& t) {
  t["Conv"] = conv;
  t["ConvTranspose"] = conv_transpose;
  t["MaxPool"] = max_pool;
  t["AveragePool"] = avg_pool;
  t["LpPool"] = lp_pool;
  t["GlobalAveragePool"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    return one(mean(x, spatial_dims(n, x), true));
  };
  t["GlobalMaxPool"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    return one(amax(x, spatial_dims(n, x), true));
  };
  t["GlobalLpPool"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    const int64_t p = lp_p(n);
    return one(root(sum(abs_pow(x, p), spatial_dims(n, x), true), p));
  };
  t["LayerNormalization"] = layer_norm;
  t["GroupNormalization"] = group_norm;
  t["InstanceNormalization"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    if (x.dim() < 3) n.error("X must be [N, C, ...] with spatial dims, got ", x.shape());
    const Tensor& scale = input(n, in, 1);
    const Tensor& bias = input(n, in, 2);
    const int64_t C = x.shape()[1];
    if (scale.numel() != C || bias.numel() != C) n.error("scale and B must have ", C, " values (one per channel)");
    Tensor xf = to_compute(x);
    return one(F::group_norm(xf, C, scale.reshape({C}).to(xf.dtype()), bias.reshape({C}).to(xf.dtype()),
                             n.f("epsilon", 1e-5)).to(x.dtype()));
  };
  t["LpNormalization"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    const int64_t r = x.dim();
    int64_t axis = n.i("axis", -1);
    if (axis < -r || axis >= r) n.error("axis ", axis, " is out of range for rank ", r);
    const int64_t p = n.i("p", 2);
    if (p != 1 && p != 2) n.error("p ", p, " must be 1 or 2");
    Tensor nrm = norm(x, static_cast<double>(p), {axis < 0 ? axis + r : axis}, true);
    // A zero norm gives zeros (0 / 0 = 0), as the reference implementation says.
    return one(where(eq(nrm, Scalar(0)), zeros_like(x), div(x, nrm)));
  };
  t["LRN"] = lrn;
  t["MeanVarianceNormalization"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    Shape axes = n.ints("axes", {0, 2, 3});
    for (auto& a : axes) {
      if (a < -x.dim() || a >= x.dim()) n.error("axis ", a, " is out of range for rank ", x.dim());
      if (a < 0) a += x.dim();
    }
    Tensor mu = mean(x, axes, true);
    // The ONNX function: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9).
    Tensor sd = sqrt(sub(mean(square(x), axes, true), square(mu)));
    return one(div(sub(x, mu), add(sd, Scalar(1e-9))));
  };
  t["Dropout"] = dropout;
  t["MaxUnpool"] = max_unpool;
  t["Col2Im"] = col2im;
  t["DeformConv"] = deform_conv;
  t["BatchNormalization"] = [](const Node& n, const Inputs& in, const OpContext&) {
    const Tensor& x = input(n, in, 0);
    if (x.dim() < 2) n.error("X must be at least 2-D [N, C, ...], got ", x.shape());
    const double eps = n.f("epsilon", 1e-5);
    if (n.i("training_mode", 0) == 0)
      return one(F::batch_norm(x, input(n, in, 3), input(n, in, 4), input(n, in, 1), input(n, in, 2), false, 0.0, eps));
    // Training mode (opset 14+): Y from the batch's mean and biased variance over all
    // dims but C; running_mean/var outputs blend the inputs with them by `momentum`.
    const Tensor &mean_in = input(n, in, 3), &var_in = input(n, in, 4);
    Shape axes{0}, bshape(static_cast<size_t>(x.dim()), 1);
    for (int64_t d = 2; d < x.dim(); ++d) axes.push_back(d);
    bshape[1] = x.shape()[1];
    const Tensor mu = mean(x, axes, false);
    const Tensor var = mean(square(sub(x, mu.reshape(bshape))), axes, false);
    const double m = n.f("momentum", 0.9);
    Tensor y = F::batch_norm(x, mu, var, input(n, in, 1), input(n, in, 2), false, 0.0, eps);
    Tensor run_mean = add(mul(mean_in, Scalar(m)), mul(mu.to(mean_in.dtype()), Scalar(1 - m)));
    Tensor run_var = add(mul(var_in, Scalar(m)), mul(var.to(var_in.dtype()), Scalar(1 - m)));
    return std::vector<Tensor>{y, run_mean, run_var};
  };
}

}  // namespace tessel::onnx
