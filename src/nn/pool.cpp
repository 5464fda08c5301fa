// Pooling: max_pool2d, avg_pool2d and adaptive_avg_pool2d over sliding windows.
#include <cmath>
#include <limits>

#include "src/autograd/rules.h"
#include "src/nn/nn_util.h"
#include "src/ops/float_compute.h"
#include "tessel/autograd.h"
#include "tessel/kernel.h"
#include "tessel/nn/functional.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel::nn::functional {

using detail::per_dim;

namespace {

struct PoolGeometry {
  Shape k, s, p, d;
  int64_t out[2] = {0, 0};
  int64_t extra[2] = {0, 0};  // ceil_mode: padding past the right/bottom edge
};

PoolGeometry pool_geometry(const char* op, const Tensor& x, const Shape& kernel, const Shape& stride,
                           const Shape& padding, const Shape& dilation, bool ceil_mode) {
  PoolGeometry g;
  g.k = per_dim(op, "kernel_size", kernel, 2);
  g.s = stride.empty() ? g.k : per_dim(op, "stride", stride, 2);
  g.p = per_dim(op, "padding", padding, 2);
  g.d = per_dim(op, "dilation", dilation, 2);
  for (int i = 0; i < 2; ++i) {
    TS_CHECK(g.k[i] > 0 && g.s[i] > 0 && g.d[i] > 0, ValueError, op,
             "kernel_size, stride and dilation must be positive, got ", kernel, ", ", stride, ", ", dilation);
    TS_CHECK(g.p[i] >= 0 && 2 * g.p[i] <= g.k[i], ValueError, op,
             "padding should be at most half of the kernel size, got padding ", padding, " for kernel ", kernel);
    const int64_t n = x.shape()[x.dim() - 2 + i];
    const int64_t span = n + 2 * g.p[i] - g.d[i] * (g.k[i] - 1) - 1;
    TS_CHECK(span >= 0, ValueError, op, "the input of size ", n, " (padding ", g.p[i], ") is smaller than the kernel ",
             g.k[i], " with dilation ", g.d[i]);
    int64_t o = (ceil_mode ? (span + g.s[i] - 1) / g.s[i] : span / g.s[i]) + 1;
    // A last window that would start in the right padding is dropped, as in PyTorch.
    if (ceil_mode && (o - 1) * g.s[i] >= n + g.p[i]) --o;
    g.out[i] = o;
    g.extra[i] = std::max<int64_t>((o - 1) * g.s[i] + g.d[i] * (g.k[i] - 1) + 1 - (n + 2 * g.p[i]), 0);
  }
  return g;
}

// Windows [N, C, Ho, Wo, kH, kW] of x padded with `value`.
Tensor pool_windows(const Tensor& x, const PoolGeometry& g, double value) {
  const Tensor xp = pad(x, {g.p[1], g.p[1] + g.extra[1], g.p[0], g.p[0] + g.extra[0]}, "constant", value);
  const int64_t eh = g.d[0] * (g.k[0] - 1) + 1, ew = g.d[1] * (g.k[1] - 1) + 1;
  Tensor w = xp.unfold(2, eh, g.s[0]).unfold(3, ew, g.s[1]);
  if (g.d[0] > 1 || g.d[1] > 1) w = w.slice(4, 0, eh, g.d[0]).slice(5, 0, ew, g.d[1]);
  return w;
}

Tensor as_4d(const char* op, const Tensor& input, bool& unbatched) {
  unbatched = detail::add_batch(op, input, 2);
  TS_CHECK(is_floating(input.dtype()), TypeError, op, "expects a floating tensor, got ", input.dtype());
  return unbatched ? input.unsqueeze(0) : input;
}

bool has_pool_kernel(const Tensor& x) {
  return x.numel() > 0 && Registry::get().has(op::max_pool2d, x.device().type, x.dtype());
}

// The registered kernel: one pass over each window, indices kept for backward.
std::tuple<Tensor, Tensor> max_pool_kernel(const Tensor& x, const PoolGeometry& g) {
  PoolParams p;
  for (int i = 0; i < 2; ++i) {
    p.kernel[i] = g.k[i], p.stride[i] = g.s[i], p.pad[i] = g.p[i], p.dilation[i] = g.d[i];
  }
  const TensorOptions opts(x.dtype(), x.device());
  Tensor idx = empty({x.shape()[0], x.shape()[1], g.out[0], g.out[1]}, TensorOptions(DType::Int64, x.device()));
  Tensor y = autograd::recorded(
      autograd::needs_grad(x),
      [&] {
        const Tensor xc = x.contiguous();
        Tensor outs[2] = {empty(idx.shape(), opts), idx};
        dispatch(op::max_pool2d, x.dtype(), {&xc, 1}, outs, &p);
        return outs[0];
      },
      [&](const Tensor& out) { autograd::rules::max_pool2d(x, idx, out); });
  return {y, idx};
}

}  // namespace

std::tuple<Tensor, Tensor> max_pool2d_with_indices(const Tensor& input, const Shape& kernel_size, const Shape& stride,
                                                   const Shape& padding, const Shape& dilation, bool ceil_mode) {
  if (trace::Op t{"max_pool2d_with_indices"}) return t.in(input).attr("kernel_size", kernel_size).attr("stride", stride).attr("padding", padding).attr("dilation", dilation).attr("ceil_mode", int64_t{ceil_mode}).out(max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode));
  OpScope scope_("max_pool2d");
  bool unbatched;
  const Tensor x = as_4d("max_pool2d", input, unbatched);
  const PoolGeometry g = pool_geometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode);
  if (has_pool_kernel(x)) {
    auto [v, i] = max_pool_kernel(x, g);
    if (unbatched) return {v.squeeze(0), i.squeeze(0)};
    return {v, i};
  }
  const int64_t N = x.shape()[0], C = x.shape()[1], W = x.shape()[3];
  const int64_t Ho = g.out[0], Wo = g.out[1], K = g.k[0] * g.k[1];
  const Tensor win = pool_windows(x, g, -std::numeric_limits<double>::infinity());
  auto [values, arg] = max(win.reshape({N, C, Ho, Wo, K}), 4);
  // Position in the input plane: window origin plus the offset of the max inside it.
  Tensor idx;
  {
    autograd::NoGradGuard no_grad;
    const Tensor oh = mul(arange(Scalar(0), Scalar(Ho), Scalar(1), DType::Int64, x.device()), Scalar(g.s[0]))
                          .reshape({Ho, 1});
    const Tensor ow = mul(arange(Scalar(0), Scalar(Wo), Scalar(1), DType::Int64, x.device()), Scalar(g.s[1]))
                          .reshape({1, Wo});
    const Tensor h = add(sub(oh, Scalar(g.p[0])), mul(floor_divide(arg, Scalar(g.k[1])), Scalar(g.d[0])));
    const Tensor w = add(sub(ow, Scalar(g.p[1])), mul(remainder(arg, Scalar(g.k[1])), Scalar(g.d[1])));
    idx = add(mul(h, Scalar(W)), w);
  }
  if (unbatched) return {values.squeeze(0), idx.squeeze(0)};
  return {values, idx};
}

Tensor max_pool2d(const Tensor& input, const Shape& kernel_size, const Shape& stride, const Shape& padding,
                  const Shape& dilation, bool ceil_mode) {
  if (trace::Op t{"max_pool2d"}) return t.in(input).attr("kernel_size", kernel_size).attr("stride", stride).attr("padding", padding).attr("dilation", dilation).attr("ceil_mode", int64_t{ceil_mode}).out(max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode));
  OpScope scope_("max_pool2d");
  bool unbatched;
  const Tensor x = as_4d("max_pool2d", input, unbatched);
  const PoolGeometry g = pool_geometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode);
  if (has_pool_kernel(x)) {
    Tensor v;
    // Only the builtin CPU kernel has the index-free form (kernels of other devices
    // may expect both outputs).
    if (autograd::needs_grad(x) || x.device().type != DeviceType::CPU) {
      v = std::get<0>(max_pool_kernel(x, g));
    } else {
      // No backward to feed: the kernel's index-free form (no int64 argmax per output).
      PoolParams p;
      for (int i = 0; i < 2; ++i) {
        p.kernel[i] = g.k[i], p.stride[i] = g.s[i], p.pad[i] = g.p[i], p.dilation[i] = g.d[i];
      }
      const Tensor xc = x.contiguous();
      v = empty({x.shape()[0], x.shape()[1], g.out[0], g.out[1]}, TensorOptions(x.dtype(), x.device()));
      dispatch(op::max_pool2d, x.dtype(), {&xc, 1}, {&v, 1}, &p);
    }
    return unbatched ? v.squeeze(0) : v;
  }
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const Tensor win = pool_windows(x, g, -std::numeric_limits<double>::infinity());
  // The gradient goes to the first maximum of each window, as in PyTorch.
  Tensor out = std::get<0>(max(win.reshape({N, C, g.out[0], g.out[1], g.k[0] * g.k[1]}), 4));
  return unbatched ? out.squeeze(0) : out;
}

Tensor avg_pool2d(const Tensor& input, const Shape& kernel_size, const Shape& stride, const Shape& padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  if (trace::Op t{"avg_pool2d"}) { if (divisor_override) t.attr("divisor_override", *divisor_override); return t.in(input).attr("kernel_size", kernel_size).attr("stride", stride).attr("padding", padding).attr("ceil_mode", int64_t{ceil_mode}).attr("count_include_pad", int64_t{count_include_pad}).out(avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)); }
  OpScope scope_("avg_pool2d");
  // float16/bfloat16: the float32 kernel, rounded once (the window-view sum ran 3.8x PyTorch's time
  // at 10^3 and rounded the sums before the division)
  if (tessel::detail::float_compute(input)) {
    // Without autograd, whole windows: one kernel widens, sums, divides and rounds
    // ("avg_pool2d_reduced", kernels/cpu/norm.cpp), the same bits as the float32 copy.
    static const OpId kReduced = Registry::get().op_id("avg_pool2d_reduced");
    if (!autograd::needs_grad(input) && !ceil_mode && count_include_pad && !divisor_override && input.numel() > 0 &&
        Registry::get().has(kReduced, input.device().type, input.dtype())) {
      bool unbatched;
      const Tensor x = as_4d("avg_pool2d", input, unbatched);
      const PoolGeometry g = pool_geometry("avg_pool2d", x, kernel_size, stride, padding, {1}, ceil_mode);
      PoolParams p;
      for (int i = 0; i < 2; ++i) p.kernel[i] = g.k[i], p.stride[i] = g.s[i], p.pad[i] = g.p[i];
      const Tensor xc = x.contiguous();
      Tensor out = empty({x.shape()[0], x.shape()[1], g.out[0], g.out[1]}, TensorOptions(x.dtype(), x.device()));
      dispatch(kReduced, x.dtype(), {&xc, 1}, {&out, 1}, &p);
      return unbatched ? out.squeeze(0) : out;
    }
    return avg_pool2d(input.to(DType::Float32), kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)
        .to(input.dtype());
  }
  bool unbatched;
  const Tensor x = as_4d("avg_pool2d", input, unbatched);
  const PoolGeometry g = pool_geometry("avg_pool2d", x, kernel_size, stride, padding, {1}, ceil_mode);
  // The window sums are one kernel pass (by name, "avg_pool2d_sums", kernels/cpu/norm.cpp)
  // and their gradient its transpose ("avg_pool2d_sums_backward"); other devices and
  // dtypes take the sum over the windows view.
  static const OpId kSums = Registry::get().op_id("avg_pool2d_sums");
  Tensor total;
  if (x.numel() > 0 && Registry::get().has(kSums, x.device().type, x.dtype())) {
    PoolParams p;
    for (int i = 0; i < 2; ++i) p.kernel[i] = g.k[i], p.stride[i] = g.s[i], p.pad[i] = g.p[i];
    total = autograd::recorded(
        autograd::needs_grad(x),
        [&] {
          const Tensor xc = x.contiguous();
          Tensor t = empty({x.shape()[0], x.shape()[1], g.out[0], g.out[1]}, TensorOptions(x.dtype(), x.device()));
          dispatch(kSums, x.dtype(), {&xc, 1}, {&t, 1}, &p);
          return t;
        },
        [&](const Tensor& out) {
          autograd::rules::avg_pool2d_sums(x, p, out, [g](const Tensor& xi) {
            return sum(pool_windows(xi, g, 0.0), {4, 5});
          });
        });
  } else {
    total = sum(pool_windows(x, g, 0.0), {4, 5});
  }
  Tensor out;
  if (divisor_override) {
    TS_CHECK(*divisor_override != 0, ValueError, "avg_pool2d", "divisor_override must be nonzero");
    out = div(total, Scalar(static_cast<double>(*divisor_override)));
  } else if (!ceil_mode && count_include_pad) {
    out = div(total, Scalar(static_cast<double>(g.k[0] * g.k[1])));
  } else {
    // Count the elements each window covers: inside the input, plus the
    // zero padding when count_include_pad (never the ceil_mode overhang).
    const int64_t H = x.shape()[2], W = x.shape()[3];
    Tensor cover = ones({1, 1, H, W}, TensorOptions(x.dtype(), x.device()));
    if (count_include_pad) cover = pad(cover, {g.p[1], g.p[1], g.p[0], g.p[0]}, "constant", 1.0);
    PoolGeometry gc = g;
    if (count_include_pad) gc.p = {0, 0};
    const Tensor count = sum(pool_windows(cover, gc, 0.0), {4, 5});
    out = div(total, count);
  }
  return unbatched ? out.squeeze(0) : out;
}

Tensor adaptive_avg_pool2d(const Tensor& input, const Shape& output_size) {
  if (trace::Op t{"adaptive_avg_pool2d"}) return t.in(input).attr("output_size", output_size).out(adaptive_avg_pool2d(input, output_size));
  OpScope scope_("adaptive_avg_pool2d");
  bool unbatched;
  const Tensor x = as_4d("adaptive_avg_pool2d", input, unbatched);
  const Shape os = per_dim("adaptive_avg_pool2d", "output_size", output_size, 2);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  TS_CHECK(os[0] > 0 && os[1] > 0, ValueError, "adaptive_avg_pool2d", "output_size must be positive, got ", output_size);
  Tensor out;
  if (H % os[0] == 0 && W % os[1] == 0) {  // equal bins: one reshape and a mean
    out = mean(x.reshape({N, C, os[0], H / os[0], os[1], W / os[1]}), {3, 5});
  } else {
    // Bin i covers [floor(i H / oh), ceil((i + 1) H / oh)), as in PyTorch.
    std::vector<Tensor> rows;
    for (int64_t i = 0; i < os[0]; ++i) {
      const int64_t h0 = i * H / os[0], h1 = ((i + 1) * H + os[0] - 1) / os[0];
      std::vector<Tensor> cells;
      for (int64_t j = 0; j < os[1]; ++j) {
        const int64_t w0 = j * W / os[1], w1 = ((j + 1) * W + os[1] - 1) / os[1];
        cells.push_back(mean(x.slice(2, h0, h1).slice(3, w0, w1), {2, 3}));
      }
      rows.push_back(stack(cells, 2));
    }
    out = stack(rows, 2);
  }
  return unbatched ? out.squeeze(0) : out;
}

}  // namespace tessel::nn::functional
