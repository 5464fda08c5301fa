// The autograd graph: grad mode, nodes, saved tensors, recording, and the
// autograd methods of Tensor.
#include "src/autograd/graph.h"

#include <string_view>

#include "tessel/ops.h"

namespace tessel::autograd {

namespace {
thread_local bool t_grad_enabled = true;
thread_local Node* t_current_node = nullptr;
std::atomic<uint64_t> g_sequence{0};

Tensor shallow_alias(const Tensor& t) {  // same elements, a fresh handle without history
  Tensor a = make_tensor(t.storage(), t.shape(), t.strides(), t.offset(), t.dtype());
  a.impl()->is_view = t.impl()->is_view;
  return a;
}

// Rules that hold for complex tensors. Linear ones with real coefficients
// (views, sums, copies, cat, indexing) hold as written; the others take the
// conjugate of their derivative (a holomorphic f: grad_x = g * conj(f'(x))), or
// were derived for complex numbers (abs, norms, view_as_real/complex).
constexpr std::string_view kComplexRules[] = {
    // arithmetic and holomorphic functions
    "AddBackward", "SubBackward", "NegBackward", "MulBackward", "DivBackward", "PowBackward", "WhereBackward",
    "ConjBackward", "ExpBackward", "Exp2Backward", "Expm1Backward", "LogBackward", "Log2Backward", "Log10Backward",
    "Log1pBackward", "SqrtBackward", "RsqrtBackward", "ReciprocalBackward", "SquareBackward", "SinBackward",
    "CosBackward", "TanBackward", "SinhBackward", "CoshBackward", "TanhBackward", "SigmoidBackward", "LerpBackward",
    "AsinBackward", "AcosBackward", "AtanBackward", "AsinhBackward", "AcoshBackward", "AtanhBackward",
    // complex -> real
    "AbsBackward", "NormBackward", "ViewAsRealBackward", "ViewAsComplexBackward",
    // reductions, products, transforms
    "SumBackward", "MeanBackward", "CumsumBackward", "ProdBackward", "CumprodBackward", "MatmulBackward",
    "LinearBackward", "FftC2cBackward",
    // linear algebra (conjugate transposes where the real rule transposes)
    "LinalgEigBackward", "LinalgSolveBackward", "LinalgSolveTriangularBackward", "LinalgDetBackward",
    "LinalgSlogdetBackward", "LinalgCholeskyBackward", "LinalgQrBackward", "LinalgEighBackward", "LinalgSvdBackward",
    "LinalgLuFactorBackward",
    // shape ops, views, copies and indexing
    "ReshapeBackward", "ViewBackward", "PermuteBackward", "ExpandBackward", "SliceBackward", "SelectBackward",
    "SqueezeBackward", "UnsqueezeBackward", "FlipBackward", "DiagonalBackward", "AsStridedBackward", "UnfoldBackward",
    "CatBackward", "PadBackward", "CloneBackward", "AliasBackward", "ToCopyBackward", "IndexBackward",
    "IndexSelectBackward", "GatherBackward", "ScatterBackward", "ScatterAddBackward", "IndexPutBackward",
    "IndexAddBackward"};

bool complex_ready(std::string_view name) {
  for (std::string_view r : kComplexRules)
    if (r == name) return true;
  return false;
}

// "MulBackward" -> "mul", the op a user called, for the error message.
std::string op_of(std::string_view node) {
  std::string op(node.substr(0, node.rfind("Backward")));
  std::string out;
  for (size_t i = 0; i < op.size(); ++i) {
    const char c = op[i];
    if (c >= 'A' && c <= 'Z') {
      if (i) out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

bool differentiable(DType d) { return is_floating(d) || is_complex(d); }

std::atomic<int64_t> g_live_nodes{0};
int64_t live_nodes() { return g_live_nodes.load(); }

bool GradMode::enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool on) { t_grad_enabled = on; }
Node* current_node() { return t_current_node; }
void set_current_node(Node* n) { t_current_node = n; }

bool needs_grad_any(const Tensors& ts) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& t : ts)
    if (t.requires_grad()) return true;
  return false;
}

Node::Node() : sequence_nr(g_sequence.fetch_add(1, std::memory_order_relaxed)) { ++g_live_nodes; }

// A long chain would otherwise free itself recursively (node -> edge -> node ...)
// and overflow the stack: unlink the nodes only we keep alive, one at a time.
Node::~Node() {
  --g_live_nodes;
  std::vector<std::shared_ptr<Node>> stack;
  for (Edge& e : next_edges)
    if (e.node) stack.push_back(std::move(e.node));
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1) {
      for (Edge& e : n->next_edges)
        if (e.node) stack.push_back(std::move(e.node));
      n->next_edges.clear();
    }
  }
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> l) : leaf(std::move(l)) {
  inputs.push_back({leaf->sizes, leaf->dtype, leaf->storage->device()});
}

Tensor AccumulateGrad::run_hooks(Tensor g) const {
  for (const Hook& h : leaf->autograd->hooks) {
    Tensor r = h(g);
    if (!r.defined()) continue;
    TS_CHECK(r.shape() == leaf->sizes, ValueError, "backward", "a hook returned a gradient of shape ", r.shape(),
             " for a leaf of shape ", leaf->sizes);
    g = r;
  }
  return g;
}

Tensors AccumulateGrad::apply(Tensors&& grads) {
  if (!grads[0].defined()) return {};
  Tensor g = run_hooks(std::move(grads[0]));
  AutogradMeta& m = *leaf->autograd;
  if (GradMode::enabled()) {  // create_graph: .grad keeps its own history (a copy: g may be shared)
    m.grad = m.grad.defined() ? add(m.grad, g) : g.clone();
  } else if (!m.grad.defined()) {
    // Keep g only when nothing else can see or write its memory.
    const bool own = g.impl().use_count() == 1 && g.storage().use_count() == 1 && g.is_contiguous() &&
                     g.numel() * static_cast<int64_t>(g.itemsize()) == static_cast<int64_t>(g.storage()->nbytes());
    m.grad = own ? g.detach() : g.detach().clone();
  } else if (m.grad.requires_grad()) {
    m.grad = add(m.grad.detach(), g);
  } else {
    add_(m.grad, g);
  }
  return {};
}

Tensors FunctionNode::apply(Tensors&& grads) {
  TS_CHECK(fn_ != nullptr, Error, "backward", "trying to backward through the graph a second time (", name_,
           " was already run and its saved tensors freed); pass retain_graph=True to the first backward");
  return fn_(grads);
}

// ---- saved tensors ----

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  version_ = t.version();
  requires_grad_ = t.requires_grad();
  if (t.requires_grad() && !t.is_leaf()) {
    data_ = shallow_alias(t);
    grad_fn_ = t.grad_fn();
    output_nr_ = t.output_nr();
  } else {
    data_ = t;  // a leaf or a constant: holding it creates no cycle
  }
}

SavedTensor SavedTensor::output(const Tensor& t, uint32_t output_nr) {
  SavedTensor s;
  if (!t.defined()) return s;
  s.version_ = t.version();
  s.requires_grad_ = differentiable(t.dtype());
  s.is_output_ = true;
  s.output_nr_ = output_nr;
  s.data_ = shallow_alias(t);
  return s;
}

Tensor SavedTensor::unpack() const {
  TS_CHECK(!freed_, Error, "backward", "saved tensors were freed after a backward; pass retain_graph=True to keep them");
  if (!data_.defined()) return {};
  TS_CHECK(data_.version() == version_, Error, "backward",
           "one of the tensors needed for gradient computation has been modified by an in-place operation: a ",
           data_.dtype(), " tensor of shape ", data_.shape(), " is at version ", data_.version(), "; expected version ",
           version_);
  if (!requires_grad_ || !GradMode::enabled()) return data_;
  if (!is_output_ && data_.is_leaf() && data_.requires_grad()) return data_;
  // create_graph: give the alias its history back so that gradients flow through it.
  std::shared_ptr<Node> fn = is_output_ ? (current_node() ? current_node()->shared_from_this() : nullptr)
                                        : grad_fn_.lock();
  if (!fn) return data_;
  Tensor t = shallow_alias(data_);
  AutogradMeta& m = t.autograd_meta();
  m.grad_fn = std::move(fn);
  m.output_nr = output_nr_;
  t.impl()->requires_grad = true;
  return t;
}

// ---- recording ----

Edge gradient_edge(const Tensor& t) {
  const auto& meta = t.impl()->autograd;
  if (meta && meta->grad_fn) return {meta->grad_fn, meta->output_nr};
  if (!t.requires_grad()) return {};
  AutogradMeta& m = t.autograd_meta();
  std::shared_ptr<Node> acc = m.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl());
    m.grad_accumulator = acc;
  }
  return {acc, 0};
}

std::shared_ptr<Node> record(const char* name, const Tensors& inputs, const Tensors& outputs, BackwardFn fn) {
  if (!needs_grad_any(inputs)) return nullptr;
  bool complex_involved = false;
  for (const Tensor& t : inputs) complex_involved |= t.defined() && t.requires_grad() && is_complex(t.dtype());
  for (const Tensor& t : outputs) complex_involved |= t.defined() && is_complex(t.dtype());
  if (complex_involved && !complex_ready(name)) {
    fail<NotImplementedError>(op_of(name).c_str(), "the derivative for complex tensors is not implemented (", name,
                              "); detach() the complex input, or compute it on (re, im) pairs through "
                              "view_as_real");
  }
  return record_node(name, inputs, outputs, std::move(fn));
}

std::shared_ptr<Node> record_node(const char* name, const Tensors& inputs, const Tensors& outputs, BackwardFn fn) {
  auto node = std::make_shared<FunctionNode>(name, std::move(fn));
  node->next_edges.reserve(inputs.size());
  for (const Tensor& t : inputs) node->next_edges.push_back(t.defined() ? gradient_edge(t) : Edge{});
  node->inputs.reserve(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    if (!out.defined()) {
      node->inputs.push_back({});
      continue;
    }
    node->inputs.push_back({out.shape(), out.dtype(), out.device()});
    if (!differentiable(out.dtype())) continue;  // indices and masks carry no gradient
    AutogradMeta& m = out.autograd_meta();
    m.grad_fn = node;
    m.output_nr = static_cast<uint32_t>(i);
    out.impl()->requires_grad = true;
  }
  return node;
}

// ---- custom functions ----

Tensors FunctionCtx::saved_tensors() const {
  Tensors out;
  out.reserve(saved.size());
  for (const SavedTensor& s : saved) out.push_back(s.unpack());
  return out;
}

Tensors apply_function(const std::string& name, const Tensors& inputs, const CustomForward& forward,
                       const CustomBackward& backward) {
  auto ctx = std::make_shared<FunctionCtx>();
  const bool rec = needs_grad_any(inputs);
  for (const Tensor& t : inputs) ctx->needs_input_grad.push_back(rec && t.requires_grad());
  Tensors outs;
  {
    NoGradGuard guard;
    outs = forward(*ctx, inputs);
  }
  for (Tensor& o : outs) {
    bool dirty = false;
    for (const Tensor& d : ctx->dirty) dirty |= d.is_same(o);
    if (dirty) {
      TS_CHECK(!(o.is_leaf() && o.requires_grad() && rec), Error, name.c_str(),
               "a leaf tensor that requires grad was modified in place by a custom function");
      continue;
    }
    for (const Tensor& in : inputs) {
      if (in.is_same(o)) {  // an input returned as is: a new handle, so the input keeps its history
        o = make_tensor(o.storage(), o.shape(), o.strides(), o.offset(), o.dtype());
        break;
      }
    }
  }
  if (rec) {
    // A custom function's backward is its author's: complex tensors pass unchecked, as in PyTorch.
    auto node =
        record_node(name.c_str(), inputs, outs, [ctx, backward](const Tensors& g) { return backward(*ctx, g); });
    if (node) node->materialize_grads = ctx->materialize_grads;
  }
  ctx->dirty.clear();  // dirty inputs are outputs: holding them would keep the graph alive
  // Saved tensors are packed after recording so that saved outputs hold no cycle.
  for (const Tensor& t : ctx->to_save) {
    int64_t out_nr = -1;
    for (size_t i = 0; i < outs.size(); ++i)
      if (outs[i].is_same(t)) out_nr = static_cast<int64_t>(i);
    ctx->saved.push_back(out_nr >= 0 ? SavedTensor::output(t, static_cast<uint32_t>(out_nr)) : SavedTensor(t));
  }
  ctx->to_save.clear();
  return outs;
}

}  // namespace tessel::autograd

// ---- Tensor's autograd methods ----
namespace tessel {

using autograd::AutogradMeta;

AutogradMeta& Tensor::autograd_meta() const {
  if (!impl_->autograd) impl_->autograd = std::make_shared<AutogradMeta>();
  return *impl_->autograd;
}

const Tensor& Tensor::set_requires_grad(bool on) const {
  TS_CHECK(!on || autograd::differentiable(dtype()), TypeError, "requires_grad_",
           "only floating point or complex tensors can require gradients, got ", dtype());
  if (!is_leaf()) {
    TS_CHECK(on, Error, "requires_grad_",
             "you can only change requires_grad of leaf tensors; use detach() to get a tensor without history");
    return *this;
  }
  impl_->requires_grad = on;
  if (on) autograd_meta();
  return *this;
}

bool Tensor::is_leaf() const { return !impl_->autograd || !impl_->autograd->grad_fn; }
Tensor Tensor::grad() const { return impl_->autograd ? impl_->autograd->grad : Tensor(); }

void Tensor::set_grad(const Tensor& g) const {
  if (g.defined()) {
    TS_CHECK(g.shape() == shape() && g.dtype() == dtype() && g.device() == device(), ValueError, "grad",
             "assigned grad of shape ", g.shape(), ", ", g.dtype(), " on ", g.device(), " to a tensor of shape ",
             shape(), ", ", dtype(), " on ", device());
  }
  if (!g.defined() && !impl_->autograd) return;
  autograd_meta().grad = g;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  return impl_->autograd ? impl_->autograd->grad_fn : nullptr;
}
uint32_t Tensor::output_nr() const { return impl_->autograd ? impl_->autograd->output_nr : 0; }

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph, create_graph);
}

Tensor Tensor::detach() const { return autograd::shallow_alias(*this); }

const Tensor& Tensor::detach_() const {
  TS_CHECK(!impl_->is_view || !requires_grad(), Error, "detach_",
           "cannot detach a view in place; use detach() instead");
  impl_->requires_grad = false;
  if (impl_->autograd) impl_->autograd->grad_fn.reset();
  return *this;
}

void Tensor::retain_grad() const {
  TS_CHECK(requires_grad(), Error, "retain_grad", "can't retain_grad on a tensor that has requires_grad=False");
  if (is_leaf() || retains_grad()) return;
  AutogradMeta& m = autograd_meta();
  m.retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_;
  const autograd::Node* node = m.grad_fn.get();
  m.grad_fn->retain_hooks.emplace_back(m.output_nr, [weak, node](const Tensor& g) -> Tensor {
    std::shared_ptr<TensorImpl> self = weak.lock();
    // After an in-place op the tensor has a new grad_fn: this hook is stale.
    if (!self || !g.defined() || self->autograd->grad_fn.get() != node) return {};
    Tensor& grad = self->autograd->grad;
    if (autograd::GradMode::enabled()) grad = grad.defined() ? add(grad, g) : g.clone();
    else grad = grad.defined() ? add(grad, g) : g.detach().clone();
    return {};
  });
}

bool Tensor::retains_grad() const { return impl_->autograd && impl_->autograd->retains_grad; }

void Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  TS_CHECK(requires_grad(), Error, "register_hook",
           "cannot register a hook on a tensor that doesn't require gradient");
  AutogradMeta& m = autograd_meta();
  if (m.grad_fn) m.grad_fn->pre_hooks.emplace_back(m.output_nr, std::move(hook));
  else m.hooks.push_back(std::move(hook));
}

void Tensor::set_data(const Tensor& o) const {
  TS_CHECK(o.defined(), ValueError, "data", "cannot assign an undefined tensor");
  TS_CHECK(!requires_grad() || autograd::differentiable(o.dtype()), TypeError, "data",
           "a tensor that requires grad needs floating data, got ", o.dtype());
  impl_->storage = o.storage();
  impl_->sizes = o.shape();
  impl_->strides = o.strides();
  impl_->offset = o.offset();
  impl_->numel = o.numel();
  impl_->dtype = o.dtype();
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  TS_CHECK(lead >= 0, ValueError, "sum_to", "cannot reduce shape ", g.shape(), " to ", shape);
  Shape dims;
  for (int64_t i = 0; i < g.dim(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  }
  if (dims.empty()) return g.reshape(shape);
  return sum(g, dims, true).reshape(shape);
}

}  // namespace tessel
