// nn::DistributedDataParallel: a Module around the shared bucket engine (src/distributed/reducer.cpp).
#include "tessel/nn/parallel.h"

#include "tessel/error.h"

namespace tessel::nn {

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<Module> module,
                                                 DistributedDataParallelOptions options)
    : module_(std::move(module)), options_(options) {
  const char* op = "DistributedDataParallel";
  TS_CHECK(module_ != nullptr, ValueError, op, "module is null");
  TS_CHECK(distributed::is_initialized(), ValueError, op,
           "the default process group has not been initialized: call distributed::init_process_group() first");
  TS_CHECK(options_.bucket_cap_mb > 0, ValueError, op, "bucket_cap_mb must be positive, got ",
           options_.bucket_cap_mb);
  register_module("module", module_);
  world_ = distributed::get_world_size();
  std::vector<Tensor> params;
  std::vector<std::string> names;
  for (auto& [name, p] : module_->named_parameters()) {
    bool dup = false;
    for (const Tensor& q : params) dup = dup || q.is_same(p);
    if (p.requires_grad() && !dup) {
      params.push_back(p);
      names.push_back(name);
    }
  }
  distributed::ReducerOptions ro;
  ro.bucket_cap_bytes = std::max<int64_t>(1, static_cast<int64_t>(options_.bucket_cap_mb * 1024 * 1024));
  ro.find_unused_parameters = options_.find_unused_parameters;
  // The Reducer checks first that every rank holds the same parameters, then the values are rank 0's.
  reducer_ = std::make_unique<distributed::Reducer>(params, names, ro);
  if (options_.init_sync && world_ > 1) {
    std::vector<Tensor> state = params;
    for (auto& [name, b] : module_->named_buffers()) state.push_back(b);
    distributed::broadcast_tensors(state, 0);
  }
}

DistributedDataParallel::~DistributedDataParallel() = default;

void DistributedDataParallel::pre_forward() {
  reducer_->check_finished();
  if (options_.broadcast_buffers && world_ > 1) {
    std::vector<Tensor> buffers;
    for (auto& [name, b] : module_->named_buffers()) buffers.push_back(b);
    if (!buffers.empty()) distributed::broadcast_tensors(buffers, 0);
  }
}

void DistributedDataParallel::post_forward(const std::vector<Tensor>& outputs) {
  if (autograd::GradMode::enabled() && sync_ && world_ > 1) {
    reducer_->prepare_for_backward(outputs);
  } else {
    reducer_->disarm();
  }
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  pre_forward();
  Tensor out = module_->forward(x);
  post_forward({out});
  return out;
}

}  // namespace tessel::nn
