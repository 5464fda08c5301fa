// Optimizer steps: validate the lists, then one kernel call per parameter.
#include "tessel/optim.h"

#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel::optim {

namespace {

void check_list(const char* op, const char* what, const Tensors& ts, const Tensors& params, bool needed) {
  if (!needed) return;
  TS_CHECK(ts.size() == params.size(), ValueError, op, "expected ", params.size(), " ", what, ", got ", ts.size());
}

// Runs the kernel on contiguous tensors: non-contiguous ones are updated
// through contiguous copies written back afterwards.
void run(const char* op, OpId id, const Tensor& grad, const Tensors& state, const OptimParams& o) {
  const Tensor& p = state[0];
  TS_CHECK(grad.defined() && grad.shape() == p.shape(), ValueError, op, "gradient of shape ",
           grad.defined() ? grad.shape() : Shape{}, " for a parameter of shape ", p.shape());
  TS_CHECK(is_floating(p.dtype()), TypeError, op, "parameters must be floating, got ", p.dtype());
  for (const Tensor& s : state) {
    TS_CHECK(s.shape() == p.shape() && s.dtype() == p.dtype() && s.device() == p.device(), ValueError, op,
             "state of shape ", s.shape(), ", ", s.dtype(), " does not match its parameter of shape ", p.shape(),
             ", ", p.dtype());
  }
  const Tensor g = grad.to(p.dtype()).contiguous();
  Tensors work;
  for (const Tensor& s : state) work.push_back(s.is_contiguous() ? s : s.clone());
  dispatch(id, p.dtype(), {&g, 1}, {work.data(), work.size()}, &o);
  for (size_t i = 0; i < state.size(); ++i) {
    if (!work[i].is_same(state[i])) Tensor(state[i]).copy_(work[i]);
    state[i].bump_version();
  }
}

}  // namespace

void sgd_step(const Tensors& params, const Tensors& grads, const Tensors& bufs, const OptimParams& o) {
  autograd::NoGradGuard no_grad;
  check_list("sgd_step", "gradients", grads, params, true);
  check_list("sgd_step", "momentum buffers", bufs, params, o.momentum != 0);
  for (size_t i = 0; i < params.size(); ++i) {
    Tensors state = {params[i]};
    if (o.momentum != 0) state.push_back(bufs[i]);
    run("sgd_step", op::sgd_step, grads[i], state, o);
  }
}

void adam_step(const Tensors& params, const Tensors& grads, const Tensors& m, const Tensors& v, const Tensors& vmax,
               const OptimParams& o) {
  autograd::NoGradGuard no_grad;
  TS_CHECK(o.step >= 1, ValueError, "adam_step", "step must be >= 1, got ", o.step);
  check_list("adam_step", "gradients", grads, params, true);
  check_list("adam_step", "exp_avgs", m, params, true);
  check_list("adam_step", "exp_avg_sqs", v, params, true);
  check_list("adam_step", "max_exp_avg_sqs", vmax, params, o.amsgrad);
  for (size_t i = 0; i < params.size(); ++i) {
    Tensors state = {params[i], m[i], v[i]};
    if (o.amsgrad) state.push_back(vmax[i]);
    run("adam_step", op::adam_step, grads[i], state, o);
  }
}

void rmsprop_step(const Tensors& params, const Tensors& grads, const Tensors& sq, const Tensors& bufs,
                  const Tensors& gavg, const OptimParams& o) {
  autograd::NoGradGuard no_grad;
  check_list("rmsprop_step", "gradients", grads, params, true);
  check_list("rmsprop_step", "square_avgs", sq, params, true);
  check_list("rmsprop_step", "momentum buffers", bufs, params, o.momentum > 0);
  check_list("rmsprop_step", "grad_avgs", gavg, params, o.centered);
  for (size_t i = 0; i < params.size(); ++i) {
    Tensors state = {params[i], sq[i]};
    if (o.momentum > 0) state.push_back(bufs[i]);
    if (o.centered) state.push_back(gavg[i]);
    run("rmsprop_step", op::rmsprop_step, grads[i], state, o);
  }
}

// ---- stateful optimizers ----

void Optimizer::zero_grad() {
  for (const Tensor& p : params_) p.set_grad(Tensor());
}

void Optimizer::collect(Tensors& ps, Tensors& gs, std::vector<size_t>& idx) const {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor g = params_[i].grad();
    if (!g.defined()) continue;
    ps.push_back(params_[i]);
    gs.push_back(g);
    idx.push_back(i);
  }
}

SGD::SGD(Tensors params, double lr, double momentum, double dampening, double weight_decay, bool nesterov)
    : Optimizer(std::move(params), {}) {
  TS_CHECK(lr >= 0 && momentum >= 0 && weight_decay >= 0, ValueError, "SGD", "invalid lr ", lr, ", momentum ",
           momentum, " or weight_decay ", weight_decay);
  TS_CHECK(!nesterov || (momentum > 0 && dampening == 0), ValueError, "SGD",
           "nesterov momentum needs momentum > 0 and zero dampening");
  options_.lr = lr;
  options_.momentum = momentum;
  options_.dampening = dampening;
  options_.weight_decay = weight_decay;
  options_.nesterov = nesterov;
  for (const Tensor& p : params_) bufs_.push_back(momentum != 0 ? zeros_like(p) : Tensor());
  started_.assign(params_.size(), false);
}

void SGD::step() {
  Tensors ps, gs;
  std::vector<size_t> idx;
  collect(ps, gs, idx);
  // First steps initialise their buffers from the gradient: group them apart.
  for (bool first : {true, false}) {
    Tensors p2, g2, b2;
    for (size_t k = 0; k < idx.size(); ++k) {
      if (options_.momentum != 0 && started_[idx[k]] == first) continue;
      if (options_.momentum == 0 && first) continue;
      p2.push_back(ps[k]);
      g2.push_back(gs[k]);
      if (options_.momentum != 0) b2.push_back(bufs_[idx[k]]);
    }
    OptimParams o = options_;
    o.first_step = first;
    sgd_step(p2, g2, b2, o);
  }
  for (size_t i : idx) started_[i] = true;
}

Adam::Adam(Tensors params, double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad,
           bool decoupled)
    : Optimizer(std::move(params), {}) {
  TS_CHECK(lr >= 0 && eps >= 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && weight_decay >= 0,
           ValueError, decoupled ? "AdamW" : "Adam", "invalid hyperparameters: lr ", lr, ", betas (", beta1, ", ",
           beta2, "), eps ", eps, ", weight_decay ", weight_decay);
  options_.lr = lr;
  options_.beta1 = beta1;
  options_.beta2 = beta2;
  options_.eps = eps;
  options_.weight_decay = weight_decay;
  options_.amsgrad = amsgrad;
  options_.decoupled_weight_decay = decoupled;
  for (const Tensor& p : params_) {
    m_.push_back(zeros_like(p));
    v_.push_back(zeros_like(p));
    vmax_.push_back(amsgrad ? zeros_like(p) : Tensor());
  }
  steps_.assign(params_.size(), 0);
}

void Adam::step() {
  Tensors ps, gs;
  std::vector<size_t> idx;
  collect(ps, gs, idx);
  // Parameters with the same step count update together (usually all of them).
  std::map<int64_t, std::vector<size_t>> by_step;
  for (size_t k = 0; k < idx.size(); ++k) by_step[++steps_[idx[k]]].push_back(k);
  for (auto& [t, ks] : by_step) {
    Tensors p2, g2, m2, v2, x2;
    for (size_t k : ks) {
      p2.push_back(ps[k]);
      g2.push_back(gs[k]);
      m2.push_back(m_[idx[k]]);
      v2.push_back(v_[idx[k]]);
      if (options_.amsgrad) x2.push_back(vmax_[idx[k]]);
    }
    OptimParams o = options_;
    o.step = t;
    adam_step(p2, g2, m2, v2, x2, o);
  }
}

}  // namespace tessel::optim
