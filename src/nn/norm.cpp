// Normalization: batch_norm, layer_norm and group_norm, written with ops so
// that they are differentiable to any order.
#include "src/autograd/rules.h"
#include "src/autograd/rules_norm.h"
#include "src/nn/nn_util.h"
#include "src/nn/norm_fused.h"
#include "src/ops/broadcast_block.h"
#include "src/ops/float_compute.h"
#include "tessel/amp.h"
#include "tessel/autograd.h"
#include "tessel/kernel.h"
#include "tessel/nn/functional.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel::nn::functional {

namespace {
// [C] -> [1, C, 1, ...] for a tensor of `ndim` dims.
Tensor per_channel(const Tensor& v, int64_t ndim) {
  Shape s(static_cast<size_t>(ndim), 1);
  s[1] = v.numel();
  return v.reshape(s);
}

void check_channel_vector(const char* what, const OptTensor& t, int64_t C) {
  if (!t) return;
  TS_CHECK(t->dim() == 1 && t->shape()[0] == C, ValueError, "batch_norm", what, " must have shape [", C, "], got ",
           t->shape());
}
}  // namespace

Tensor batch_norm(const Tensor& input, const OptTensor& running_mean, const OptTensor& running_var,
                  const OptTensor& weight, const OptTensor& bias, bool training, double momentum, double eps) {
  if (trace::Op t{"batch_norm"}) return t.in(input).in(running_mean).in(running_var).in(weight).in(bias).attr("training", int64_t{training}).attr("momentum", momentum).attr("eps", eps).out(batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps));
  OpScope scope_("batch_norm");
  if (amp::active()) {
    const amp::Cast c(amp::Op::batch_norm, {&input, amp::ptr(weight), amp::ptr(bias)});
    return batch_norm(c[0], running_mean, running_var, c.opt(1), c.opt(2), training, momentum, eps);
  }
  TS_CHECK(input.dim() >= 2, ValueError, "batch_norm", "expected an input with at least 2 dims [N, C, ...], got ",
           input.shape());
  TS_CHECK(is_floating(input.dtype()), TypeError, "batch_norm", "expects a floating tensor, got ", input.dtype());
  const int64_t C = input.shape()[1], nd = input.dim();
  check_channel_vector("running_mean", running_mean, C);
  check_channel_vector("running_var", running_var, C);
  check_channel_vector("weight", weight, C);
  check_channel_vector("bias", bias, C);
  Shape dims = {0};
  for (int64_t d = 2; d < nd; ++d) dims.push_back(d);
  const int64_t N = input.shape()[0];
  const int64_t S = N * C > 0 ? input.numel() / (N * C) : 0;
  TS_CHECK(!training || N * S > 1, ValueError, "batch_norm",
           "expected more than 1 value per channel when training, got input shape ", input.shape());
  // Running statistics from the batch's mean and invstd = 1 / sqrt(var + eps); the variance unbiased, as in PyTorch.
  auto update_running = [&](const Tensor& mean_c, const Tensor& invstd_c) {
    if (!running_mean && !running_var) return;
    autograd::NoGradGuard no_grad;
    if (running_mean) lerp_(*running_mean, mean_c.to(running_mean->dtype()), Scalar(momentum));
    if (running_var) {
      const double n = static_cast<double>(N * S);
      const Tensor var_c = mul(sub(reciprocal(square(invstd_c)), Scalar(eps)), Scalar(n / (n - 1)));
      lerp_(*running_var, var_c.to(running_var->dtype()), Scalar(momentum));
    }
  };
  if (tessel::detail::float_compute(input)) {  // running statistics keep their own dtype
    const bool grad =
        autograd::needs_grad(input) || (weight && weight->requires_grad()) || (bias && bias->requires_grad());
    if (training && !grad && input.numel() > 0 &&
        Registry::get().has(op::batch_norm, input.device().type, input.dtype())) {
      // Statistics without autograd: the reduced-float kernel reads and writes the input's
      // dtype and computes in float32 (weight, bias, mean and invstd in float32).
      const TensorOptions f32(DType::Float32, input.device());
      Tensor mean_c = empty({C}, f32), invstd_c = empty({C}, f32);
      const Tensor w = weight ? weight->to(DType::Float32).contiguous() : ones({C}, f32);
      const Tensor b = bias ? bias->to(DType::Float32).contiguous() : zeros({C}, f32);
      Tensor out = empty(input.shape(), TensorOptions(input.dtype(), input.device()));
      Tensor outs[3] = {out.view({N, C, S}), mean_c, invstd_c};
      const Tensor in[3] = {input.contiguous().view({N, C, S}), w, b};
      const UnaryParams p{eps};
      dispatch(op::batch_norm, input.dtype(), in, outs, &p);
      update_running(mean_c, invstd_c);
      return out;
    }
    using tessel::detail::widened;
    return batch_norm(widened(input), running_mean, running_var, widened(weight), widened(bias), training, momentum,
                      eps)
        .to(input.dtype());
  }
  if (training && input.numel() > 0 && Registry::get().has(op::batch_norm, input.device().type, input.dtype()) &&
      (!weight || weight->dtype() == input.dtype()) && (!bias || bias->dtype() == input.dtype())) {
    // One fused pass for statistics and normalization; its own backward kernel.
    const TensorOptions opts(input.dtype(), input.device());
    Tensor mean_c = empty({C}, opts), invstd_c = empty({C}, opts);
    const Tensor y = autograd::recorded(
        autograd::needs_grad(input) || (weight && weight->requires_grad()) || (bias && bias->requires_grad()),
        [&] {
          const Tensor x3 = input.contiguous().view({N, C, S});
          const Tensor w = weight ? weight->contiguous() : ones({C}, opts), b = bias ? bias->contiguous() : zeros({C}, opts);
          Tensor out = empty(input.shape(), opts);
          Tensor outs[3] = {out.view({N, C, S}), mean_c, invstd_c};
          const Tensor in[3] = {x3, w, b};
          const UnaryParams p{eps};
          dispatch(op::batch_norm, input.dtype(), in, outs, &p);
          return out;
        },
        [&](const Tensor& out) { autograd::rules::batch_norm(input, weight, bias, mean_c, invstd_c, eps, out); });
    update_running(mean_c, invstd_c);
    return y;
  }
  Tensor mu, var;
  if (training) {
    const int64_t n = N * S;
    mu = mean(input, dims, true);
    var = tessel::var(input, dims, 0, true);
    if (running_mean || running_var) {
      autograd::NoGradGuard no_grad;
      // Running statistics use the unbiased variance, as in PyTorch.
      if (running_mean) lerp_(*running_mean, mu.reshape({C}).to(running_mean->dtype()), Scalar(momentum));
      if (running_var) {
        const Tensor unbiased = mul(var.reshape({C}), Scalar(static_cast<double>(n) / static_cast<double>(n - 1)));
        lerp_(*running_var, unbiased.to(running_var->dtype()), Scalar(momentum));
      }
    }
  } else {
    TS_CHECK(running_mean && running_var, ValueError, "batch_norm",
             "running_mean and running_var are required when training=False");
    mu = per_channel(*running_mean, nd).to(input.dtype());
    var = per_channel(*running_var, nd).to(input.dtype());
  }
  Tensor y = mul(sub(input, mu), rsqrt(add(var, Scalar(eps))));
  if (weight) y = mul(y, per_channel(*weight, nd));
  if (bias) y = add(y, per_channel(*bias, nd));
  return y;
}

Tensor layer_norm(const Tensor& input, const Shape& normalized_shape, const OptTensor& weight, const OptTensor& bias,
                  double eps) {
  if (trace::Op t{"layer_norm"}) return t.in(input).in(weight).in(bias).attr("normalized_shape", normalized_shape).attr("eps", eps).out(layer_norm(input, normalized_shape, weight, bias, eps));
  OpScope scope_("layer_norm");
  if (amp::active()) {
    const amp::Cast c(amp::Op::layer_norm, {&input, amp::ptr(weight), amp::ptr(bias)});
    return layer_norm(c[0], normalized_shape, c.opt(1), c.opt(2), eps);
  }
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  TS_CHECK(k >= 1 && input.dim() >= k &&
               Shape(input.shape().end() - k, input.shape().end()) == normalized_shape,
           ValueError, "layer_norm", "normalized_shape ", normalized_shape, " does not match the trailing dims of input ",
           input.shape());
  TS_CHECK(is_floating(input.dtype()), TypeError, "layer_norm", "expects a floating tensor, got ", input.dtype());
  for (const OptTensor* p : {&weight, &bias}) {
    if (*p) TS_CHECK((*p)->shape() == normalized_shape, ValueError, "layer_norm", "weight and bias must have shape ",
                     normalized_shape, ", got ", (*p)->shape());
  }
  static const OpId kFused = Registry::get().op_id("layer_norm_fused");
  if (tessel::detail::float_compute(input)) {
    using tessel::detail::widened;
    const bool grad =
        autograd::needs_grad(input) || (weight && weight->requires_grad()) || (bias && bias->requires_grad());
    if (!grad && input.numel() > 0 && Registry::get().has(kFused, input.device().type, input.dtype())) {
      // Inference: the reduced-float kernel reads and writes the input's dtype, computes in
      // float32 (float32 weight, bias and statistics) and rounds once, as the copies below do.
      int64_t D = 1;
      for (const int64_t s : normalized_shape) D *= s;
      const int64_t R = input.numel() / D;
      const TensorOptions f32(DType::Float32, input.device());
      const Tensor w = weight ? widened(*weight).contiguous().view({D}) : ones({D}, f32);
      const Tensor b = bias ? widened(*bias).contiguous().view({D}) : zeros({D}, f32);
      Tensor out = empty(input.shape(), TensorOptions(input.dtype(), input.device()));
      const UnaryParams p{eps};
      if (const auto bb = tessel::detail::broadcast_block(input); bb && bb->first_dim <= input.dim() - k) {
        // Rows repeated over the leading dims: normalize the distinct ones, copy the rest.
        const int64_t Rb = bb->block.numel() / D;
        Tensor outs[3] = {tessel::detail::first_block(out, bb->block.shape()).view({Rb, D}), empty({Rb}, f32),
                          empty({Rb}, f32)};
        const Tensor in[3] = {bb->block.contiguous().view({Rb, D}), w, b};
        dispatch(kFused, input.dtype(), in, outs, &p);
        tessel::detail::repeat_first_block(out, bb->outer);
        return out;
      }
      Tensor outs[3] = {out.view({R, D}), empty({R}, f32), empty({R}, f32)};
      const Tensor in[3] = {input.contiguous().view({R, D}), w, b};
      dispatch(kFused, input.dtype(), in, outs, &p);
      return out;
    }
    return layer_norm(widened(input), normalized_shape, widened(weight), widened(bias), eps).to(input.dtype());
  }
  if (input.numel() > 0 && Registry::get().has(kFused, input.device().type, input.dtype()) &&
      (!weight || weight->dtype() == input.dtype()) && (!bias || bias->dtype() == input.dtype())) {
    // One kernel for the row statistics and the output; its own backward kernel.
    const TensorOptions opts(input.dtype(), input.device());
    int64_t D = 1;
    for (const int64_t s : normalized_shape) D *= s;
    const int64_t R = input.numel() / D;
    const Tensor x2 = input.contiguous().view({R, D});
    Tensor mean_r = empty({R}, opts), rstd_r = empty({R}, opts);
    return autograd::recorded(
        autograd::needs_grad(input) || (weight && weight->requires_grad()) || (bias && bias->requires_grad()),
        [&] {
          const Tensor w = weight ? weight->contiguous().view({D}) : ones({D}, opts);
          const Tensor b = bias ? bias->contiguous().view({D}) : zeros({D}, opts);
          Tensor out = empty(input.shape(), opts);
          Tensor outs[3] = {out.view({R, D}), mean_r, rstd_r};
          const Tensor in[3] = {x2, w, b};
          const UnaryParams p{eps};
          dispatch(kFused, input.dtype(), in, outs, &p);
          return out;
        },
        [&](const Tensor& out) { autograd::rules::layer_norm(input, x2, weight, bias, mean_r, rstd_r, eps, out); });
  }
  Shape dims;
  for (int64_t i = input.dim() - k; i < input.dim(); ++i) dims.push_back(i);
  const Tensor mu = mean(input, dims, true);
  const Tensor var = tessel::var(input, dims, 0, true);
  Tensor y = mul(sub(input, mu), rsqrt(add(var, Scalar(eps))));
  if (weight) y = mul(y, *weight);
  if (bias) y = add(y, *bias);
  return y;
}

std::optional<Tensor> rms_norm_fused(const Tensor& input, int64_t k, const OptTensor& weight, double eps) {
  TS_CHECK(k >= 1 && k <= input.dim(), ValueError, "rms_norm", "normalized_shape has ", k,
           " dims, more than the input's ", input.shape());
  static const OpId kFused = Registry::get().op_id("rms_norm_fused");
  if (tessel::detail::float_compute(input) && input.numel() > 0 && !amp::active() && !trace::active()) {
    const auto y = rms_norm_fused(tessel::detail::widened(input), k, tessel::detail::widened(weight), eps);
    return y ? std::optional<Tensor>(y->to(input.dtype())) : std::nullopt;
  }
  if (input.numel() == 0 || amp::active() || trace::active() ||
      !Registry::get().has(kFused, input.device().type, input.dtype()) ||
      (weight && (weight->dtype() != input.dtype() || weight->device() != input.device())))
    return std::nullopt;
  int64_t D = 1;
  for (int64_t i = input.dim() - k; i < input.dim(); ++i) D *= input.shape()[i];
  if (weight) TS_CHECK(weight->numel() == D, ValueError, "rms_norm", "weight must have ", D, " elements, got ",
                       weight->shape());
  OpScope scope_("rms_norm");
  const TensorOptions opts(input.dtype(), input.device());
  const bool grad = autograd::needs_grad(input) || (weight && autograd::needs_grad(*weight));
  if (const auto b = grad ? std::nullopt : tessel::detail::broadcast_block(input);
      b && b->first_dim <= input.dim() - k) {
    // Rows repeated over the leading dims: normalize the distinct ones, copy the rest.
    const int64_t Rb = b->block.numel() / D;
    Tensor out = empty(input.shape(), opts);
    Tensor outs[2] = {tessel::detail::first_block(out, b->block.shape()).view({Rb, D}), empty({Rb}, opts)};
    const Tensor in[2] = {b->block.contiguous().view({Rb, D}),
                          weight ? weight->contiguous().view({D}) : ones({D}, opts)};
    const UnaryParams p{eps};
    dispatch(kFused, input.dtype(), in, outs, &p);
    tessel::detail::repeat_first_block(out, b->outer);
    return out;
  }
  const int64_t R = input.numel() / D;
  const Tensor x2 = input.contiguous().view({R, D});
  Tensor rstd_r = empty({R}, opts);
  return autograd::recorded(
      grad,
      [&] {
        const Tensor w = weight ? weight->contiguous().view({D}) : ones({D}, opts);
        Tensor out = empty(input.shape(), opts);
        Tensor outs[2] = {out.view({R, D}), rstd_r};
        const Tensor in[2] = {x2, w};
        const UnaryParams p{eps};
        dispatch(kFused, input.dtype(), in, outs, &p);
        return out;
      },
      [&](const Tensor& out) { autograd::rules::rms_norm(input, x2, weight, rstd_r, eps, out); });
}

Tensor group_norm(const Tensor& input, int64_t num_groups, const OptTensor& weight, const OptTensor& bias,
                  double eps) {
  if (trace::Op t{"group_norm"}) return t.in(input).in(weight).in(bias).attr("num_groups", num_groups).attr("eps", eps).out(group_norm(input, num_groups, weight, bias, eps));
  OpScope scope_("group_norm");
  if (amp::active()) {
    const amp::Cast c(amp::Op::group_norm, {&input, amp::ptr(weight), amp::ptr(bias)});
    return group_norm(c[0], num_groups, c.opt(1), c.opt(2), eps);
  }
  TS_CHECK(input.dim() >= 2, ValueError, "group_norm", "expected an input [N, C, ...], got ", input.shape());
  const int64_t N = input.shape()[0], C = input.shape()[1];
  TS_CHECK(num_groups > 0 && C % num_groups == 0, ValueError, "group_norm", "num_channels ", C,
           " must be divisible by num_groups ", num_groups);
  for (const OptTensor* p : {&weight, &bias}) {
    if (*p) TS_CHECK((*p)->dim() == 1 && (*p)->shape()[0] == C, ValueError, "group_norm",
                     "weight and bias must have shape [", C, "], got ", (*p)->shape());
  }
  if (tessel::detail::float_compute(input)) {
    // float16/bfloat16 in float32, rounded once, as PyTorch computes it: in the input's dtype the
    // rounded mean shifted every output (values near 100, spread 1: 0.11 off, PyTorch 0.008).
    using tessel::detail::widened;
    return group_norm(widened(input), num_groups, widened(weight), widened(bias), eps).to(input.dtype());
  }
  const Tensor xg = input.reshape({N, num_groups, -1});
  const Tensor mu = mean(xg, {2}, true);
  const Tensor var = tessel::var(xg, {2}, 0, true);
  Tensor y = mul(sub(xg, mu), rsqrt(add(var, Scalar(eps)))).reshape(input.shape());
  if (weight) y = mul(y, per_channel(*weight, input.dim()));
  if (bias) y = add(y, per_channel(*bias, input.dim()));
  return y;
}

}  // namespace tessel::nn::functional
