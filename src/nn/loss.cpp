// Losses, written with ops (so they are differentiable to any order).
#include <cmath>
#include <optional>

#include "src/autograd/rules.h"
#include "src/nn/nn_util.h"
#include "tessel/amp.h"
#include "tessel/autograd.h"
#include "tessel/kernel.h"
#include "tessel/nn/functional.h"
#include "tessel/registry.h"
#include "tessel/trace.h"

namespace tessel::nn::functional {

namespace {
Tensor reduce(const Tensor& loss, const std::string& reduction) {
  if (reduction == "mean") return mean(loss);
  if (reduction == "sum") return sum(loss);
  return loss;
}

void check_same_shape(const char* op, const Tensor& input, const Tensor& target) {
  TS_CHECK(input.shape() == target.shape(), ValueError, op, "target of shape ", target.shape(),
           " does not match input of shape ", input.shape());
  TS_CHECK(is_floating(input.dtype()), TypeError, op, "expects a floating input, got ", input.dtype());
}

// [N, C, d...] -> [N, 1, d...]-shaped class weights picked by target.
Tensor class_dim_last(const Tensor& t) {  // [N, C, d...] -> [N, d..., C]
  if (t.dim() <= 2) return t;
  Shape perm = {0};
  for (int64_t d = 2; d < t.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return t.permute(perm);
}
}  // namespace

namespace {
// The mean or sum of [N, C] scores in one pass (kernels/cpu/loss.cpp), when the
// kernel is there and nothing needs the ops: an export trace records the
// composite below, and a weight that needs a gradient goes through it.
std::optional<Tensor> nll_loss_fused(const Tensor& x, const Tensor& t, const OptTensor& weight, int64_t ignore_index,
                                     const std::string& reduction) {
  static const OpId kFused = Registry::get().op_id("nll_loss_fused");
  if (reduction == "none" || x.dim() != 2 || x.shape()[0] == 0 || trace::active() ||
      (t.dtype() != DType::Int64 && t.dtype() != DType::Int32) || t.device() != x.device() ||
      !Registry::get().has(kFused, x.device().type, x.dtype()))
    return std::nullopt;
  if (weight && (weight->dtype() != x.dtype() || weight->device() != x.device() || autograd::needs_grad(*weight)))
    return std::nullopt;
  const TensorOptions opts(x.dtype(), x.device());
  const Tensor xc = x.stride(1) == 1 ? x : x.contiguous(), w = weight ? weight->contiguous() : empty({0}, opts);
  const bool mean = reduction == "mean";
  Tensor wsum = empty({}, opts);
  return autograd::recorded(
      autograd::needs_grad(x),
      [&] {
        Tensor loss = empty({}, opts);
        Tensor outs[2] = {loss, wsum};
        const Tensor in[3] = {xc, t, w};
        const NllLossParams p{ignore_index, mean};
        dispatch(kFused, x.dtype(), in, outs, &p);
        return loss;
      },
      [&](const Tensor& out) {
        autograd::rules::nll_loss(x, t, weight ? std::optional<Tensor>(w) : std::nullopt, ignore_index, mean, wsum,
                                  out);
      });
}
}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, const OptTensor& weight, int64_t ignore_index,
                const std::string& reduction) {
  OpScope scope_("nll_loss");
  if (amp::active()) {
    const amp::Cast c(amp::Op::nll_loss, {&input, &target, amp::ptr(weight)});
    return nll_loss(c[0], c[1], c.opt(2), ignore_index, reduction);
  }
  detail::check_reduction("nll_loss", reduction);
  TS_CHECK(input.dim() >= 1, ValueError, "nll_loss", "expected input [N, C] or [C], got a 0-d tensor");
  TS_CHECK(is_integral(target.dtype()), TypeError, "nll_loss", "target must hold class indices (integers), got ",
           target.dtype());
  const bool unbatched = input.dim() == 1;
  const Tensor x = unbatched ? input.unsqueeze(0) : input;
  const Tensor t = unbatched ? target.unsqueeze(0) : target;
  const int64_t C = x.shape()[1];
  Shape expect = x.shape();
  expect.erase(expect.begin() + 1);
  TS_CHECK(t.shape() == expect, ValueError, "nll_loss", "target of shape ", target.shape(),
           " does not match input of shape ", input.shape(), " (expected ", expect, ")");
  if (weight) {
    TS_CHECK(weight->dim() == 1 && weight->shape()[0] == C, ValueError, "nll_loss", "weight must have shape [", C,
             "], got ", weight->shape());
  }
  if (auto fused = nll_loss_fused(x, t, weight, ignore_index, reduction)) return *fused;
  const Tensor valid = ne(t, Scalar(ignore_index));
  // gather checks the class range (its IndexError is reported under nll_loss).
  const Tensor safe = where(valid, t.to(DType::Int64), Scalar(int64_t{0}));
  const Tensor picked = gather(class_dim_last(x), -1, safe.unsqueeze(-1)).squeeze(-1);
  Tensor w = valid.to(x.dtype());
  if (weight) w = mul(w, index_select(*weight, 0, safe.reshape({-1})).reshape(safe.shape()).to(x.dtype()));
  Tensor loss = neg(mul(picked, w));
  if (reduction == "none") return unbatched ? loss.squeeze(0) : loss;
  if (reduction == "sum") return sum(loss);
  return div(sum(loss), sum(w));  // weighted mean over the non-ignored targets
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const OptTensor& weight, int64_t ignore_index,
                     const std::string& reduction, double label_smoothing) {
  OpScope scope_("cross_entropy");
  if (amp::active()) {
    const amp::Cast c(amp::Op::cross_entropy, {&input, &target, amp::ptr(weight)});
    return cross_entropy(c[0], c[1], c.opt(2), ignore_index, reduction, label_smoothing);
  }
  detail::check_reduction("cross_entropy", reduction);
  TS_CHECK(is_floating(input.dtype()), TypeError, "cross_entropy", "expects floating logits, got ", input.dtype());
  TS_CHECK(label_smoothing >= 0 && label_smoothing <= 1, ValueError, "cross_entropy",
           "label_smoothing must be in [0, 1], got ", label_smoothing);
  TS_CHECK(input.dim() >= 1, ValueError, "cross_entropy", "expected input [N, C] or [C], got a 0-d tensor");
  const int64_t cdim = input.dim() == 1 ? 0 : 1;
  const int64_t C = input.shape()[cdim];
  const Tensor logp = log_softmax(input, cdim);
  Shape wshape(static_cast<size_t>(input.dim()), 1);
  wshape[cdim] = C;
  if (is_floating(target.dtype())) {  // class probabilities
    TS_CHECK(target.shape() == input.shape(), ValueError, "cross_entropy", "probability target of shape ",
             target.shape(), " does not match input of shape ", input.shape());
    Tensor t = target;
    if (label_smoothing > 0) t = add(mul(t, Scalar(1 - label_smoothing)), Scalar(label_smoothing / C));
    Tensor lp = weight ? mul(logp, weight->reshape(wshape)) : logp;
    const Tensor loss = neg(sum(mul(lp, t), {cdim}));
    if (reduction == "mean") return div(sum(loss), Scalar(static_cast<double>(input.numel() / C)));
    return reduce(loss, reduction);
  }
  const Tensor nll = nll_loss(logp, target, weight, ignore_index, reduction);
  if (label_smoothing == 0) return nll;
  // Smoothing mixes in the (weighted) mean of -log p over all classes.
  Tensor lp = weight ? mul(logp, weight->reshape(wshape)) : logp;
  const Tensor valid = ne(target, Scalar(ignore_index)).to(input.dtype());
  Tensor smooth = mul(neg(sum(lp, {cdim})), valid);
  if (reduction == "mean") {
    Tensor denom;
    if (weight) {
      const Tensor safe = where(ne(target, Scalar(ignore_index)), target.to(DType::Int64), Scalar(int64_t{0}));
      denom = sum(mul(index_select(*weight, 0, safe.reshape({-1})).reshape(safe.shape()).to(input.dtype()), valid));
    } else {
      denom = sum(valid);
    }
    smooth = div(sum(smooth), denom);
  } else {
    smooth = reduce(smooth, reduction);
  }
  return add(mul(nll, Scalar(1 - label_smoothing)), mul(smooth, Scalar(label_smoothing / C)));
}

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  OpScope scope_("mse_loss");
  if (amp::active()) {
    const amp::Cast c(amp::Op::mse_loss, {&input, &target});
    return mse_loss(c[0], c[1], reduction);
  }
  detail::check_reduction("mse_loss", reduction);
  check_same_shape("mse_loss", input, target);
  return reduce(square(sub(input, target)), reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  OpScope scope_("l1_loss");
  if (amp::active()) {
    const amp::Cast c(amp::Op::l1_loss, {&input, &target});
    return l1_loss(c[0], c[1], reduction);
  }
  detail::check_reduction("l1_loss", reduction);
  check_same_shape("l1_loss", input, target);
  return reduce(abs(sub(input, target)), reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction, double beta) {
  OpScope scope_("smooth_l1_loss");
  if (amp::active()) {
    const amp::Cast c(amp::Op::smooth_l1_loss, {&input, &target});
    return smooth_l1_loss(c[0], c[1], reduction, beta);
  }
  detail::check_reduction("smooth_l1_loss", reduction);
  check_same_shape("smooth_l1_loss", input, target);
  TS_CHECK(beta >= 0, ValueError, "smooth_l1_loss", "beta must be non-negative, got ", beta);
  const Tensor d = abs(sub(input, target));
  if (beta == 0) return reduce(d, reduction);
  const Tensor quad = div(mul(square(d), Scalar(0.5)), Scalar(beta));
  return reduce(where(lt(d, Scalar(beta)), quad, sub(d, Scalar(0.5 * beta))), reduction);
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const OptTensor& weight,
                            const std::string& reduction) {
  OpScope scope_("binary_cross_entropy");
  if (amp::active()) {
    const amp::Cast c(amp::Op::binary_cross_entropy, {&input, &target, amp::ptr(weight)});
    return binary_cross_entropy(c[0], c[1], c.opt(2), reduction);
  }
  detail::check_reduction("binary_cross_entropy", reduction);
  check_same_shape("binary_cross_entropy", input, target);
  if (input.numel() > 0) {
    TS_CHECK(amin(input.detach()).item<double>() >= 0 && amax(input.detach()).item<double>() <= 1, ValueError,
             "binary_cross_entropy", "input values must be probabilities in [0, 1]");
  }
  // log is clamped at -100 so that certain wrong answers give a finite loss, as in PyTorch.
  const Tensor lx = clamp(log(input), Scalar(-100.0), std::nullopt);
  const Tensor l1x = clamp(log(sub(Scalar(1.0), input)), Scalar(-100.0), std::nullopt);
  Tensor loss = neg(add(mul(target, lx), mul(sub(Scalar(1.0), target), l1x)));
  if (weight) loss = mul(loss, *weight);
  return reduce(loss, reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const OptTensor& weight,
                                        const OptTensor& pos_weight, const std::string& reduction) {
  OpScope scope_("binary_cross_entropy_with_logits");
  if (amp::active()) {
    const amp::Cast c(amp::Op::binary_cross_entropy_with_logits, {&input, &target, amp::ptr(weight), amp::ptr(pos_weight)});
    return binary_cross_entropy_with_logits(c[0], c[1], c.opt(2), c.opt(3), reduction);
  }
  detail::check_reduction("binary_cross_entropy_with_logits", reduction);
  check_same_shape("binary_cross_entropy_with_logits", input, target);
  // log(1 + exp(-|x|)) + max(-x, 0) = -log(sigmoid(x)), without overflow.
  const Tensor log_sig_neg = add(log1p(exp(neg(abs(input)))), clamp(neg(input), Scalar(0.0), std::nullopt));
  Tensor loss;
  if (pos_weight) {
    const Tensor lw = add(mul(sub(*pos_weight, Scalar(1.0)), target), Scalar(1.0));
    loss = add(mul(sub(Scalar(1.0), target), input), mul(lw, log_sig_neg));
  } else {
    loss = add(mul(sub(Scalar(1.0), target), input), log_sig_neg);
  }
  if (weight) loss = mul(loss, *weight);
  return reduce(loss, reduction);
}

}  // namespace tessel::nn::functional
