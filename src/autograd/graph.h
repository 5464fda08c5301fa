#pragma once
// Internals of the autograd graph shared by graph.cpp, engine.cpp and the rules.
#include <atomic>

#include "tessel/autograd.h"

namespace tessel::autograd {

// The node of a leaf: adds incoming gradients into the leaf's .grad.
struct AccumulateGrad final : Node {
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  Tensors apply(Tensors&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  Tensor run_hooks(Tensor g) const;  // the leaf's tensor hooks (shape-checked)
  std::shared_ptr<TensorImpl> leaf;
};

// A node whose backward is a function (every built-in rule and custom function).
struct FunctionNode final : Node {
  FunctionNode(std::string name, BackwardFn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  Tensors apply(Tensors&& grads) override;
  std::string name() const override { return name_; }
  void release_saved() override { fn_ = nullptr; }

 private:
  std::string name_;
  BackwardFn fn_;
};

// record() without the complex check (custom functions, whose rules are their authors'), for inputs
// that the caller has seen need grad.
std::shared_ptr<Node> record_node(const char* name, const Tensors& inputs, const Tensors& outputs, BackwardFn fn);

// The node whose backward is running on this thread (restores saved outputs' history).
Node* current_node();
void set_current_node(Node* n);

extern std::atomic<int64_t> g_live_nodes;

}  // namespace tessel::autograd
