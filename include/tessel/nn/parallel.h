#pragma once
// Data-parallel training from C++ (docs/distributed.md): the C++ form of
// ts.nn.parallel.DistributedDataParallel, on the same bucket engine
// (tessel::distributed::Reducer).
//
//   tessel::distributed::init_process_group();          // under mpirun / tessel launch
//   auto ddp = std::make_shared<nn::DistributedDataParallel>(model);
//   optim::SGD opt(ddp->parameters(), 0.1);
//   for (...) { opt.zero_grad(); loss_fn((*ddp)(x_local), y_local).backward(); opt.step(); }
//
// Construction broadcasts rank 0's parameters and buffers; every backward after a
// forward through the wrapper leaves the average over ranks in each .grad.
#include <memory>

#include "tessel/distributed.h"
#include "tessel/nn/module.h"

namespace tessel::nn {

struct DistributedDataParallelOptions {
  double bucket_cap_mb = 25;            // bucket size in MiB (PyTorch's default)
  bool find_unused_parameters = false;  // let a forward leave parameters out of the graph
  bool broadcast_buffers = true;        // rank 0's buffers (BatchNorm statistics) before each forward
  bool init_sync = true;                // rank 0's parameters and buffers at construction
};

class TESSEL_API DistributedDataParallel : public Module {
 public:
  // The default process group must exist (distributed::init_process_group()); every rank constructs.
  explicit DistributedDataParallel(std::shared_ptr<Module> module, DistributedDataParallelOptions options = {});
  ~DistributedDataParallel() override;

  // The wrapped module's forward, followed by the set-up of the gradient averaging.
  Tensor forward(const Tensor& x) override;
  // For a module whose forward takes or returns something else: call pre_forward(), the
  // module's own forward, then post_forward(outputs) with the tensors backward starts from.
  void pre_forward();
  void post_forward(const std::vector<Tensor>& outputs);

  // Gradient accumulation: while the guard lives, backward adds the local gradients to
  // .grad; the first synchronized backward after it averages the accumulated sum.
  class TESSEL_API NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp) : ddp_(&ddp), prev_(ddp.sync_) { ddp.sync_ = false; }
    ~NoSync() {
      if (ddp_) ddp_->sync_ = prev_;
    }
    NoSync(NoSync&& o) noexcept : ddp_(o.ddp_), prev_(o.prev_) { o.ddp_ = nullptr; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;
    NoSync& operator=(NoSync&&) = delete;

   private:
    DistributedDataParallel* ddp_;
    bool prev_;
  };
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

  const std::shared_ptr<Module>& module() const { return module_; }
  distributed::Reducer& reducer() { return *reducer_; }

 private:
  std::shared_ptr<Module> module_;
  DistributedDataParallelOptions options_;
  std::unique_ptr<distributed::Reducer> reducer_;
  int world_ = 1;
  bool sync_ = true;
};

}  // namespace tessel::nn
