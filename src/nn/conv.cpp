// Convolutions: conv1d, conv2d and conv_transpose2d.
//
// The reference path lowers to matmul over sliding windows (unfold), so it
// is differentiable to any order and serves every dtype.
#include "tessel/trace.h"
#include "src/autograd/rules.h"
#include "src/nn/nn_util.h"
#include "tessel/amp.h"
#include "tessel/autograd.h"
#include "tessel/kernel.h"
#include "tessel/nn/functional.h"
#include "tessel/registry.h"

namespace tessel::nn::functional {

using detail::per_dim;

namespace {

struct Conv2dGeometry {
  Shape stride, dilation, pad;  // pad: left, right, top, bottom (as pad() takes them)
};

Conv2dGeometry geometry(const char* op, const Tensor& w, const ConvOptions& o) {
  Conv2dGeometry g;
  g.stride = per_dim(op, "stride", o.stride, 2);
  g.dilation = per_dim(op, "dilation", o.dilation, 2);
  for (int64_t v : g.stride) TS_CHECK(v > 0, ValueError, op, "stride must be positive, got ", o.stride);
  for (int64_t v : g.dilation) TS_CHECK(v > 0, ValueError, op, "dilation must be positive, got ", o.dilation);
  const int64_t kh = w.shape()[2], kw = w.shape()[3];
  if (o.padding_mode == "same") {
    TS_CHECK(g.stride[0] == 1 && g.stride[1] == 1, ValueError, op, "padding='same' needs stride 1, got ", o.stride);
    // Odd total padding puts the extra row/column at the bottom/right, as PyTorch does.
    const int64_t th = g.dilation[0] * (kh - 1), tw = g.dilation[1] * (kw - 1);
    g.pad = {tw / 2, tw - tw / 2, th / 2, th - th / 2};
  } else if (o.padding_mode == "valid") {
    g.pad = {0, 0, 0, 0};
  } else {
    TS_CHECK(o.padding_mode.empty(), ValueError, op, "padding must be 'same', 'valid' or numbers, got '",
             o.padding_mode, "'");
    const Shape p = per_dim(op, "padding", o.padding, 2);
    for (int64_t v : p) TS_CHECK(v >= 0, ValueError, op, "padding must be non-negative, got ", o.padding);
    g.pad = {p[1], p[1], p[0], p[0]};
  }
  return g;
}

void check_conv(const char* op, const Tensor& x, const Tensor& w, const OptTensor& bias, int64_t groups) {
  TS_CHECK(x.dim() == 4 && w.dim() == 4, ValueError, op, "expected input [N, C, H, W] and weight [O, C/groups, kH, kW], got ",
           x.shape(), " and ", w.shape());
  TS_CHECK(x.dtype() == w.dtype(), TypeError, op, "input and weight must have the same dtype, got ", x.dtype(),
           " and ", w.dtype());
  TS_CHECK(w.shape()[2] > 0 && w.shape()[3] > 0, ValueError, op, "the kernel must be at least 1x1, got weight ",
           w.shape());
  TS_CHECK(is_floating(x.dtype()), TypeError, op, "expects floating tensors, got ", x.dtype());
  TS_CHECK(x.device() == w.device(), ValueError, op, "input on ", x.device(), " and weight on ", w.device());
  TS_CHECK(groups > 0 && w.shape()[0] % groups == 0, ValueError, op, "out channels ", w.shape()[0],
           " must be divisible by groups=", groups);
  TS_CHECK(x.shape()[1] == w.shape()[1] * groups, ValueError, op, "input of shape ", x.shape(), " has ",
           x.shape()[1], " channels, but weight of shape ", w.shape(), " with groups=", groups, " expects ",
           w.shape()[1] * groups);
  if (bias) {
    TS_CHECK(bias->dim() == 1 && bias->shape()[0] == w.shape()[0], ValueError, op, "bias must have shape [",
             w.shape()[0], "], got ", bias->shape());
    TS_CHECK(bias->dtype() == x.dtype() && bias->device() == x.device(), TypeError, op, "bias must be ", x.dtype(),
             " on ", x.device(), " like the input, got ", bias->dtype(), " on ", bias->device());
  }
}

// Sliding windows [N, C, Ho, Wo, kH, kW] of an already padded input.
Tensor windows(const char* op, const Tensor& xp, int64_t kh, int64_t kw, const Conv2dGeometry& g) {
  const int64_t eh = g.dilation[0] * (kh - 1) + 1, ew = g.dilation[1] * (kw - 1) + 1;
  TS_CHECK(xp.shape()[2] >= eh && xp.shape()[3] >= ew, ValueError, op, "kernel of ", kh, "x", kw, " (dilation ",
           g.dilation, ") is larger than the padded input of ", xp.shape()[2], "x", xp.shape()[3]);
  Tensor win = xp.unfold(2, eh, g.stride[0]).unfold(3, ew, g.stride[1]);
  if (g.dilation[0] > 1 || g.dilation[1] > 1) {
    win = win.slice(4, 0, eh, g.dilation[0]).slice(5, 0, ew, g.dilation[1]);
  }
  return win;
}

Tensor conv2d_reference(const Tensor& x, const Tensor& w, const OptTensor& bias, const Conv2dGeometry& g,
                        int64_t groups) {
  const int64_t N = x.shape()[0], C = x.shape()[1], O = w.shape()[0], kh = w.shape()[2], kw = w.shape()[3];
  const Tensor xp = pad(x, g.pad);
  const Tensor win = windows("conv2d", xp, kh, kw, g);
  const int64_t Ho = win.shape()[2], Wo = win.shape()[3];
  Tensor out;
  if (groups == 1) {
    const Tensor cols = win.permute({0, 2, 3, 1, 4, 5}).reshape({N * Ho * Wo, C * kh * kw});
    out = matmul(cols, w.reshape({O, C * kh * kw}).t()).reshape({N, Ho, Wo, O}).permute({0, 3, 1, 2});
  } else {
    const int64_t G = groups;
    const Tensor wg = w.reshape({G, O / G, C / G, kh, kw});
    const Tensor xg = win.reshape({N, G, C / G, Ho, Wo, kh, kw});
    out = einsum("ngchwij,gocij->ngohw", {xg, wg}).reshape({N, O, Ho, Wo});
  }
  out = out.contiguous();
  if (bias) out = add(out, bias->reshape({1, O, 1, 1}));
  return out;
}

// The registered kernel (oneDNN on CPU for float32), with its own backward.
Tensor conv2d_kernel(const Tensor& x_in, const Tensor& w_in, const OptTensor& bias, const Conv2dGeometry& g,
                     int64_t groups) {
  ConvParams p;
  for (int i = 0; i < 2; ++i) p.stride[i] = g.stride[i], p.dilation[i] = g.dilation[i];
  p.pad[0] = g.pad[2], p.pad[1] = g.pad[3], p.pad[2] = g.pad[0], p.pad[3] = g.pad[1];
  p.groups = groups;
  const int64_t kh = w_in.shape()[2], kw = w_in.shape()[3];
  const int64_t Hp = x_in.shape()[2] + p.pad[0] + p.pad[1], Wp = x_in.shape()[3] + p.pad[2] + p.pad[3];
  const int64_t eh = g.dilation[0] * (kh - 1) + 1, ew = g.dilation[1] * (kw - 1) + 1;
  TS_CHECK(Hp >= eh && Wp >= ew, ValueError, "conv2d", "kernel of ", kh, "x", kw, " (dilation ", g.dilation,
           ") is larger than the padded input of ", Hp, "x", Wp);
  const int64_t Ho = (Hp - eh) / g.stride[0] + 1, Wo = (Wp - ew) / g.stride[1] + 1;
  auto reference = [g, groups](const Tensor& x, const Tensor& w, const OptTensor& b) {
    return conv2d_reference(x, w, b, g, groups);
  };
  return autograd::recorded(
      autograd::needs_grad(x_in, w_in) || (bias && autograd::needs_grad(*bias)),
      [&] {
        const Tensor x = x_in.contiguous(), w = w_in.contiguous();
        Tensor y = empty({x.shape()[0], w.shape()[0], Ho, Wo}, TensorOptions(x.dtype(), x.device()));
        if (y.numel() == 0) return y.fill_(Scalar(0.0));
        std::vector<Tensor> in = {x, w};
        if (bias) in.push_back(bias->contiguous());
        dispatch(op::conv2d, x.dtype(), in, {&y, 1}, &p);
        return y;
      },
      [&](const Tensor& out) { autograd::rules::conv2d(x_in, w_in, bias, p, out, reference); });
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const ConvOptions& opts) {
  if (trace::Op t{"conv2d"}) return t.in(input).in(weight).in(bias).attr("stride", opts.stride).attr("padding", opts.padding).attr("dilation", opts.dilation).attr("groups", opts.groups).attr("padding_mode", opts.padding_mode).out(conv2d(input, weight, bias, opts));
  OpScope scope_("conv2d");
  if (amp::active()) {
    const amp::Cast c(amp::Op::conv2d, {&input, &weight, amp::ptr(bias)});
    return conv2d(c[0], c[1], c.opt(2), opts);
  }
  const bool unbatched = detail::add_batch("conv2d", input, 2);
  const Tensor x = unbatched ? input.unsqueeze(0) : input;
  check_conv("conv2d", x, weight, bias, opts.groups);
  const Conv2dGeometry g = geometry("conv2d", weight, opts);
  const bool kernel = Registry::get().has(op::conv2d, x.device().type, x.dtype()) && x.numel() > 0;
  Tensor out = kernel ? conv2d_kernel(x, weight, bias, g, opts.groups) : conv2d_reference(x, weight, bias, g, opts.groups);
  return unbatched ? out.squeeze(0) : out;
}

Tensor conv1d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const ConvOptions& opts) {
  if (trace::Op t{"conv1d"}) return t.in(input).in(weight).in(bias).attr("stride", opts.stride).attr("padding", opts.padding).attr("dilation", opts.dilation).attr("groups", opts.groups).attr("padding_mode", opts.padding_mode).out(conv1d(input, weight, bias, opts));
  OpScope scope_("conv1d");
  if (amp::active()) {
    const amp::Cast c(amp::Op::conv1d, {&input, &weight, amp::ptr(bias)});
    return conv1d(c[0], c[1], c.opt(2), opts);
  }
  const bool unbatched = detail::add_batch("conv1d", input, 1);
  const Tensor x = unbatched ? input.unsqueeze(0) : input;
  TS_CHECK(weight.dim() == 3, ValueError, "conv1d", "expected weight [O, C/groups, K], got ", weight.shape());
  ConvOptions o2 = opts;
  o2.stride = {1, per_dim("conv1d", "stride", opts.stride, 1)[0]};
  o2.dilation = {1, per_dim("conv1d", "dilation", opts.dilation, 1)[0]};
  o2.padding = {0, per_dim("conv1d", "padding", opts.padding, 1)[0]};
  Tensor out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, o2).squeeze(2);
  return unbatched ? out.squeeze(0) : out;
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const OptTensor& bias, const Shape& stride_in,
                        const Shape& padding_in, const Shape& output_padding_in, int64_t groups,
                        const Shape& dilation_in) {
  if (trace::Op t{"conv_transpose2d"}) return t.in(input).in(weight).in(bias).attr("stride", stride_in).attr("padding", padding_in).attr("output_padding", output_padding_in).attr("groups", groups).attr("dilation", dilation_in).out(conv_transpose2d(input, weight, bias, stride_in, padding_in, output_padding_in, groups, dilation_in));
  OpScope scope_("conv_transpose2d");
  if (amp::active()) {
    const amp::Cast c(amp::Op::conv_transpose2d, {&input, &weight, amp::ptr(bias)});
    return conv_transpose2d(c[0], c[1], c.opt(2), stride_in, padding_in, output_padding_in, groups, dilation_in);
  }
  const char* op = "conv_transpose2d";
  const bool unbatched = detail::add_batch(op, input, 2);
  const Tensor x = unbatched ? input.unsqueeze(0) : input;
  TS_CHECK(weight.dim() == 4, ValueError, op, "expected weight [C, O/groups, kH, kW], got ", weight.shape());
  TS_CHECK(groups > 0 && weight.shape()[0] % groups == 0 && x.shape()[1] == weight.shape()[0], ValueError, op,
           "input of shape ", x.shape(), " does not match weight of shape ", weight.shape(), " with groups=", groups);
  const Shape s = per_dim(op, "stride", stride_in, 2), p = per_dim(op, "padding", padding_in, 2);
  const Shape op_ = per_dim(op, "output_padding", output_padding_in, 2), d = per_dim(op, "dilation", dilation_in, 2);
  for (int i = 0; i < 2; ++i) {
    TS_CHECK(s[i] > 0 && d[i] > 0 && p[i] >= 0, ValueError, op, "stride and dilation must be positive and padding "
             "non-negative, got stride ", stride_in, ", padding ", padding_in, ", dilation ", dilation_in);
    TS_CHECK(op_[i] >= 0 && (op_[i] < s[i] || op_[i] < d[i]), ValueError, op, "output_padding ", output_padding_in,
             " must be smaller than stride or dilation");
  }
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t kh = weight.shape()[2], kw = weight.shape()[3], G = groups, Og = weight.shape()[1];
  // The transposed convolution is a stride-1 convolution of the input with
  // stride-1 zeros between its pixels, padded by d (k - 1) - p, and the
  // weight flipped with in/out channels swapped.
  Tensor up = x;
  if (s[0] > 1 || s[1] > 1) {
    up = pad(x.reshape({N, C, H, 1, W, 1}), {0, s[1] - 1, 0, 0, 0, s[0] - 1})
             .reshape({N, C, H * s[0], W * s[1]})
             .narrow(2, 0, (H - 1) * s[0] + 1)
             .narrow(3, 0, (W - 1) * s[1] + 1);
  }
  const int64_t ph = d[0] * (kh - 1) - p[0], pw = d[1] * (kw - 1) - p[1];
  up = pad(up, {pw, pw + op_[1], ph, ph + op_[0]});
  const Tensor w2 = flip(weight.reshape({G, C / G, Og, kh, kw}).transpose(1, 2), {3, 4}).reshape({G * Og, C / G, kh, kw});
  ConvOptions o;
  o.dilation = d;
  o.groups = G;
  Tensor out = conv2d(up, w2, bias, o);
  return unbatched ? out.squeeze(0) : out;
}

}  // namespace tessel::nn::functional
