#pragma once
// Modules for C++ users (src/nn/module.cpp): parameters, buffers and children
// registered by name, train/eval, state dicts, and the common layers. Python's
// tessel.nn mirrors this API (and adds many more layers).
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessel/autograd.h"
#include "tessel/nn/functional.h"

namespace tessel::nn {

// A module's forward may take and return anything: a subclass declares the
// forward it needs (forward(x, mask), forward(tokens, state) -> std::tuple, ...)
// and callers call it directly. The one-tensor form below is what Sequential
// chains and operator() calls; a module that does not define it raises there.
class TESSEL_API Module {
 public:
  virtual ~Module() = default;
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  NamedTensors named_parameters(bool recurse = true) const;  // "0.weight", "fc.bias", ...
  Tensors parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  NamedTensors state_dict() const;  // parameters and buffers
  // Copies values in place; strict: the names must match exactly (else a clear error listing them).
  void load_state_dict(const NamedTensors& state, bool strict = true);
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();
  void to(DType dtype);  // floating parameters and buffers

 protected:
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, bool recurse, bool params, NamedTensors& out) const;
  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// y = x W^T + b, W [out, in]; PyTorch's default initialization.
class TESSEL_API Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
};

class TESSEL_API Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, functional::ConvOptions opts = {},
         bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;
  functional::ConvOptions options;
};

class TESSEL_API BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;
};

class TESSEL_API ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class TESSEL_API MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0) : k_(kernel_size), s_(stride ? stride : kernel_size) {}
  Tensor forward(const Tensor& x) override { return functional::max_pool2d(x, {k_}, {s_}); }

 private:
  int64_t k_, s_;
};

class TESSEL_API Flatten : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x.flatten(1); }
};

class TESSEL_API Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5) : p_(p) {}
  Tensor forward(const Tensor& x) override { return dropout(x, p_, is_training()); }

 private:
  double p_;
};

// Runs its children in order; children are named "0", "1", ... as in PyTorch.
class TESSEL_API Sequential : public Module {
 public:
  Sequential() = default;
  // M needs a forward(const Tensor&) (virtual or not); it is called through M's own type.
  template <class M>
  Sequential& add(std::shared_ptr<M> m) {
    register_module(std::to_string(layers_.size()), m);
    layers_.push_back([m](const Tensor& x) -> Tensor { return m->forward(x); });
    return *this;
  }
  Tensor forward(const Tensor& x) override;

 private:
  std::vector<std::function<Tensor(const Tensor&)>> layers_;
};

}  // namespace tessel::nn
