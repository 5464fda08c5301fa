#pragma once
// Optimizers (src/optim/): fused updates over lists of parameters, and
// stateful SGD / Adam / AdamW / RMSprop classes for C++ users. The update
// equations are PyTorch's (torch.optim), so results match step for step.
#include <map>
#include <memory>
#include <vector>

#include "tessel/autograd.h"
#include "tessel/kernel.h"

namespace tessel::optim {

// One update of every parameter in place; states are per-parameter tensors
// (zeros to start), lists of equal length (empty where an option is off).
TESSEL_API void sgd_step(const Tensors& params, const Tensors& grads, const Tensors& momentum_buffers,
                         const OptimParams& o);
TESSEL_API void adam_step(const Tensors& params, const Tensors& grads, const Tensors& exp_avgs,
                          const Tensors& exp_avg_sqs, const Tensors& max_exp_avg_sqs, const OptimParams& o);
TESSEL_API void rmsprop_step(const Tensors& params, const Tensors& grads, const Tensors& square_avgs,
                             const Tensors& momentum_buffers, const Tensors& grad_avgs, const OptimParams& o);

// Stateful optimizers over a fixed list of parameters; step() skips
// parameters without a gradient.
class TESSEL_API Optimizer {
 public:
  explicit Optimizer(Tensors params, OptimParams options) : params_(std::move(params)), options_(options) {}
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();  // sets every .grad to undefined (set_to_none, as PyTorch's default)
  OptimParams& options() { return options_; }
  const Tensors& params() const { return params_; }

 protected:
  // Parameters that have a gradient, their gradients, and their positions.
  void collect(Tensors& ps, Tensors& gs, std::vector<size_t>& idx) const;
  Tensors params_;
  OptimParams options_;
};

class TESSEL_API SGD : public Optimizer {
 public:
  SGD(Tensors params, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0,
      bool nesterov = false);
  void step() override;

 private:
  Tensors bufs_;
  std::vector<bool> started_;
};

class TESSEL_API Adam : public Optimizer {
 public:
  // decoupled_weight_decay = true gives AdamW.
  Adam(Tensors params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0, bool amsgrad = false, bool decoupled_weight_decay = false);
  void step() override;

 private:
  Tensors m_, v_, vmax_;
  std::vector<int64_t> steps_;
};

class TESSEL_API AdamW : public Adam {
 public:
  AdamW(Tensors params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2, bool amsgrad = false)
      : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, amsgrad, true) {}
};

}  // namespace tessel::optim
