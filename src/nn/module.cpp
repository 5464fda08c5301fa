// C++ modules: registration, state dicts and the common layers.
#include "tessel/nn/module.h"

#include <cmath>
#include <set>
#include <sstream>
#include <typeinfo>

namespace tessel::nn {

Tensor Module::forward(const Tensor&) {
  fail<NotImplementedError>("Module.forward", "this module (", typeid(*this).name(),
                            ") has no forward(const Tensor&): call the forward(...) it defines");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  if (t.defined()) t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return t;
}

void Module::collect(const std::string& prefix, bool recurse, bool params, NamedTensors& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_)
    if (t.defined()) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", true, params, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", recurse, true, out);
  return out;
}

Tensors Module::parameters(bool recurse) const {
  Tensors out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", recurse, false, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out = named_parameters();
  for (auto& nt : named_buffers()) out.push_back(nt);
  for (auto& [n, t] : out) t = t.detach();
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  const NamedTensors mine = state_dict();
  std::set<std::string> given, have;
  for (const auto& [n, t] : state) given.insert(n);
  for (const auto& [n, t] : mine) have.insert(n);
  if (strict) {
    std::ostringstream missing, unexpected;
    for (const auto& n : have)
      if (!given.count(n)) missing << " " << n;
    for (const auto& n : given)
      if (!have.count(n)) unexpected << " " << n;
    TS_CHECK(missing.str().empty() && unexpected.str().empty(), ValueError, "load_state_dict",
             "keys do not match; missing:", missing.str().empty() ? " none" : missing.str(),
             "; unexpected:", unexpected.str().empty() ? " none" : unexpected.str());
  }
  autograd::NoGradGuard no_grad;
  for (const auto& [n, dst] : mine) {
    for (const auto& [m, src] : state) {
      if (m != n) continue;
      TS_CHECK(src.shape() == dst.shape(), ValueError, "load_state_dict", "size mismatch for ", n, ": the file has ",
               src.shape(), ", the model ", dst.shape());
      Tensor(dst).copy_(src);
    }
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (const Tensor& p : parameters()) p.set_grad(Tensor());
}

void Module::to(DType dtype) {
  autograd::NoGradGuard no_grad;
  for (auto* list : {&params_, &buffers_})
    for (auto& [n, t] : *list)
      if (t.defined() && is_floating(t.dtype())) t.set_data(t.to(dtype));
  for (auto& [n, child] : children_) child->to(dtype);
}

namespace {
// PyTorch's default: kaiming_uniform(a = sqrt(5)) weights and U(+-1/sqrt(fan_in)) biases.
void init_default(const Tensor& weight, const Tensor& bias, int64_t fan_in) {
  autograd::NoGradGuard no_grad;
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  uniform_(weight, -bound, bound);
  if (bias.defined()) uniform_(bias, -bound, bound);
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool with_bias) {
  TS_CHECK(in > 0 && out > 0, ValueError, "Linear", "in_features and out_features must be positive, got ", in, " and ",
           out);
  weight = register_parameter("weight", empty({out, in}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  init_default(weight, bias, in);
}

Tensor Linear::forward(const Tensor& x) {
  return linear(x, weight, bias.defined() ? std::optional<Tensor>(bias) : std::nullopt);
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, functional::ConvOptions opts, bool with_bias) : options(opts) {
  TS_CHECK(in > 0 && out > 0 && k > 0 && in % opts.groups == 0 && out % opts.groups == 0, ValueError, "Conv2d",
           "invalid channels ", in, " -> ", out, ", kernel ", k, " or groups ", opts.groups);
  weight = register_parameter("weight", empty({out, in / opts.groups, k, k}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  init_default(weight, bias, in / opts.groups * k * k);
}

Tensor Conv2d::forward(const Tensor& x) {
  return functional::conv2d(x, weight, bias.defined() ? std::optional<Tensor>(bias) : std::nullopt, options);
}

BatchNorm2d::BatchNorm2d(int64_t n, double eps_, double momentum_) : eps(eps_), momentum(momentum_) {
  weight = register_parameter("weight", ones({n}));
  bias = register_parameter("bias", zeros({n}));
  running_mean = register_buffer("running_mean", zeros({n}));
  running_var = register_buffer("running_var", ones({n}));
  num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::Int64));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  TS_CHECK(x.dim() == 4, ValueError, "BatchNorm2d", "expected a 4-D input [N, C, H, W], got ", x.shape());
  if (is_training()) {
    autograd::NoGradGuard no_grad;
    add_(num_batches_tracked, Scalar(int64_t{1}));
  }
  return functional::batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum, eps);
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (auto& f : layers_) y = f(y);
  return y;
}

}  // namespace tessel::nn
