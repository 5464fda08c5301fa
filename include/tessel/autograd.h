#pragma once
// Reverse-mode autograd: a dynamic tape as PyTorch users know it.
//
// Every differentiable op that sees an input requiring grad records a Node
// whose backward is written with tessel ops (src/autograd/rules_*.cpp), so
// gradients of gradients work. The engine (src/autograd/engine.cpp) walks the
// graph iteratively; graphs of any depth neither recurse nor leak.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessel/tensor.h"

namespace tessel {

using Tensors = std::vector<Tensor>;

namespace autograd {

struct Node;

// Where a gradient goes: input `input_nr` of `node`.
struct Edge {
  std::shared_ptr<Node> node;
  uint32_t input_nr = 0;
};

// A tensor hook gets the gradient and returns a replacement (or an undefined tensor to keep it).
using Hook = std::function<Tensor(const Tensor&)>;

// Per-tensor autograd state; only tensors that take part in autograd have one.
struct TESSEL_API AutogradMeta {
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  std::weak_ptr<Node> grad_accumulator;
  std::vector<Hook> hooks;  // leaf hooks; a non-leaf's hooks live on its grad_fn
  uint32_t output_nr = 0;
  bool retains_grad = false;
};

// Shape, dtype and device of one input of a node (an output of the forward op),
// for checking and casting the gradients that arrive there.
struct InputInfo {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
};

// One step of the graph: maps gradients of a forward op's outputs to
// gradients of its inputs. Destruction is iterative (see ~Node).
struct TESSEL_API Node : std::enable_shared_from_this<Node> {
  Node();
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // grads[i] is the gradient of forward output i (zeros when it got none).
  virtual Tensors apply(Tensors&& grads) = 0;
  virtual std::string name() const = 0;
  // Frees saved tensors after a backward without retain_graph.
  virtual void release_saved() {}

  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].node != nullptr; }

  std::vector<Edge> next_edges;      // one per forward input
  std::vector<InputInfo> inputs;     // one per forward output: what this node receives
  std::vector<std::pair<uint32_t, Hook>> pre_hooks;     // hooks of non-leaf outputs, by output number
  std::vector<std::pair<uint32_t, Hook>> retain_hooks;  // retain_grad: run after the other hooks
  uint64_t sequence_nr;              // creation order: later nodes run first
  bool materialize_grads = true;     // outputs without a gradient arrive as zeros (else undefined)
};

// Grad mode is per thread, as in PyTorch.
struct TESSEL_API GradMode {
  static bool enabled();
  static void set_enabled(bool on);
};

// Sets grad mode for a scope and restores the previous one.
class TESSEL_API AutoGradMode {
 public:
  explicit AutoGradMode(bool on) : prev_(GradMode::enabled()) { GradMode::set_enabled(on); }
  ~AutoGradMode() { GradMode::set_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};
struct TESSEL_API NoGradGuard : AutoGradMode {
  NoGradGuard() : AutoGradMode(false) {}
};

// Whether an op on these tensors must record a node.
template <class... Ts>
bool needs_grad(const Ts&... ts) {
  return GradMode::enabled() && (ts.requires_grad() || ...);
}
TESSEL_API bool needs_grad_any(const Tensors& ts);

// Whether tensors of this dtype can carry gradients: floating and complex ones.
// A complex tensor's gradient is dL/dRe + i dL/dIm (PyTorch's convention: the
// conjugate Wirtinger derivative, doubled), so a gradient step moves it downhill.
TESSEL_API bool differentiable(DType d);

// A tensor saved for backward. Unpacking checks that it was not modified in
// place since; outputs are saved without a strong reference to their own
// node, so saving creates no reference cycle.
class TESSEL_API SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);  // an input of the op (or any tensor but its outputs)
  // Output `output_nr` of the op saving it, before the op is recorded.
  static SavedTensor output(const Tensor& t, uint32_t output_nr);
  Tensor unpack() const;  // throws when modified or freed
  void reset() { data_ = Tensor(); freed_ = true; }
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;                  // the leaf itself, or a meta-less alias of a non-leaf
  std::weak_ptr<Node> grad_fn_;  // a non-leaf's history, restored on unpack
  uint32_t output_nr_ = 0;
  uint32_t version_ = 0;
  bool requires_grad_ = false;
  bool is_output_ = false;
  bool freed_ = false;
};

// The gradient function of a recorded op: grads of outputs -> grads of inputs
// (undefined where an input needs none).
using BackwardFn = std::function<Tensors(const Tensors& grads)>;

// Records `outputs` as the results of a differentiable op on `inputs`: one
// node named `name`. Outputs that already have history (in-place results)
// are rebased onto the new node. Returns the node (null when nothing needs grad).
// A node with a complex input that requires grad, or a complex output, must be
// one whose rule was written for complex numbers (graph.cpp, kComplexRules);
// any other raises NotImplementedError instead of a wrong gradient.
TESSEL_API std::shared_ptr<Node> record(const char* name, const Tensors& inputs, const Tensors& outputs,
                                        BackwardFn backward);

// Computes gradients of `roots` (seeded with `grads`; undefined means ones for a
// scalar root) and accumulates them into the .grad of the leaves.
TESSEL_API void backward(const Tensors& roots, const Tensors& grads = {}, std::optional<bool> retain_graph = {},
                         bool create_graph = false, const Tensors& inputs = {});
// Returns d(outputs)/d(inputs) without touching any .grad.
TESSEL_API Tensors grad(const Tensors& outputs, const Tensors& inputs, const Tensors& grad_outputs = {},
                        std::optional<bool> retain_graph = {}, bool create_graph = false, bool allow_unused = false);

// The gradient edge of a tensor: its grad_fn, or its leaf accumulator.
TESSEL_API Edge gradient_edge(const Tensor& t);
// Nodes alive in this process (for leak tests).
TESSEL_API int64_t live_nodes();

// ---- custom functions from C++ ----
// ctx for a custom function: what forward saves for backward.
struct TESSEL_API FunctionCtx {
  void save_for_backward(const Tensors& ts) { to_save = ts; }
  Tensors saved_tensors() const;  // in backward; checks for in-place changes
  void mark_dirty(const Tensors& ts) { dirty = ts; }
  std::vector<bool> needs_input_grad;
  Tensors to_save;                 // set in forward, packed once the outputs are recorded
  bool materialize_grads = true;   // false: backward gets undefined gradients for unused outputs
  std::vector<SavedTensor> saved;
  Tensors dirty;                   // inputs that forward modified in place
};
using CustomForward = std::function<Tensors(FunctionCtx& ctx, const Tensors& inputs)>;
using CustomBackward = std::function<Tensors(FunctionCtx& ctx, const Tensors& grads)>;
// Runs `forward` without recording, then records one node that calls `backward`.
TESSEL_API Tensors apply_function(const std::string& name, const Tensors& inputs, const CustomForward& forward,
                                  const CustomBackward& backward);

}  // namespace autograd

// Reduces a broadcast gradient back to `shape` (sums the broadcast dims).
TESSEL_API Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace tessel
