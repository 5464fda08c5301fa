// The backward engine: counts dependencies with an iterative walk of the
// graph, then runs nodes once all their gradients have arrived (later nodes
// first), summing gradients that meet at one input.
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "src/autograd/graph.h"
#include "tessel/amp.h"
#include "tessel/ops.h"

namespace tessel::autograd {

namespace {

struct Capture {  // autograd.grad: where an input's gradient arrives
  Node* node;
  uint32_t input_nr;
  size_t slot;
};

Tensor seed_grad(size_t i, const Tensor& root, const Tensor& g) {
  if (!g.defined()) {
    TS_CHECK(root.numel() == 1, Error, "backward", "grad can be implicitly created only for scalar outputs; output ",
             i, " has shape ", root.shape(), " (pass a gradient)");
    TS_CHECK(!is_complex(root.dtype()), Error, "backward",
             "grad can be implicitly created only for real scalar "
             "outputs; output ",
             i, " is ", root.dtype(), " (take its real part or abs first, or pass a gradient)");
    return ones_like(root);
  }
  TS_CHECK(g.shape() == root.shape(), ValueError, "backward", "gradient ", i, " has shape ", g.shape(),
           " but output ", i, " has shape ", root.shape());
  return g;
}

// Casts and checks a gradient flowing into input `nr` of `node`.
Tensor conform(const Node& from, const Node& to, uint32_t nr, Tensor g) {
  const InputInfo& info = to.inputs[nr];
  if (g.shape() != info.shape) {
    TS_CHECK(g.numel() == shape_numel(info.shape) || info.shape.empty(), ValueError, "backward", from.name(),
             " returned a gradient of shape ", g.shape(), " for an input of shape ", info.shape);
    g = g.reshape(info.shape);
  }
  if (g.dtype() != info.dtype) g = g.to(info.dtype);
  if (g.device() != info.device) g = g.to(info.device);
  return g;
}

// A hook's replacement gradient must keep the shape of the one it replaced.
Tensor conform_hook(const Node& n, uint32_t nr, const Tensor& g) {
  const InputInfo& info = n.inputs[nr];
  TS_CHECK(g.shape() == info.shape, ValueError, "backward", "a hook on ", n.name(), " returned a gradient of shape ",
           g.shape(), " for a tensor of shape ", info.shape);
  return g;
}

Tensors run(const Tensors& roots, const Tensors& root_grads, bool keep_graph, bool create_graph,
            const Tensors& inputs, bool accumulate, bool allow_unused) {
  TS_CHECK(root_grads.empty() || root_grads.size() == roots.size(), ValueError, "backward", "got ", roots.size(),
           " outputs but ", root_grads.size(), " gradients");
  AutoGradMode mode(create_graph);
  amp::ExcludeGuard no_autocast;  // gradients keep the dtypes the forward saw
  std::vector<Edge> root_edges;
  Tensors seeds;
  for (size_t i = 0; i < roots.size(); ++i) {
    TS_CHECK(roots[i].defined() && roots[i].requires_grad(), Error, "backward", "element ", i,
             " of tensors does not require grad and does not have a grad_fn");
    root_edges.push_back(gradient_edge(roots[i]));
    seeds.push_back(seed_grad(i, roots[i], root_grads.empty() ? Tensor() : root_grads[i]));
  }

  // Dependencies: how many edges of the reachable graph point at each node.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> order;  // discovery order, to prune nodes that lead to no input
  {
    std::unordered_set<Node*> seen;
    std::vector<Node*> stack;
    for (const Edge& e : root_edges)
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      order.push_back(n);
      for (const Edge& e : n->next_edges) {
        if (!e.node) continue;
        ++deps[e.node.get()];
        if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
      }
    }
  }

  // Inputs (autograd.grad, or backward(inputs=...)): where their gradients arrive.
  std::vector<Capture> captures;
  std::unordered_set<Node*> targets;
  Tensors results(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    TS_CHECK(inputs[i].defined() && inputs[i].requires_grad(), Error, accumulate ? "backward" : "grad", "input ", i,
             " does not require grad");
    const Edge e = gradient_edge(inputs[i]);
    captures.push_back({e.node.get(), e.input_nr, i});
    targets.insert(e.node.get());
  }
  // With inputs, a node runs only if one of its edges leads to an input (or to
  // a node that runs); an input's own grad_fn only receives its gradient.
  std::unordered_set<Node*> runs;
  if (!inputs.empty()) {
    // Reverse discovery order mostly visits children first; repeat until stable.
    bool changed = true;
    while (changed) {
      changed = false;
      for (auto it = order.rbegin(); it != order.rend(); ++it) {
        Node* n = *it;
        if (runs.count(n)) continue;
        bool need = false;
        for (const Edge& e : n->next_edges) {
          need = need || (e.node && (targets.count(e.node.get()) || runs.count(e.node.get())));
        }
        if (need) runs.insert(n), changed = true;
      }
    }
  }

  std::unordered_map<Node*, Tensors> buffers;
  auto add_grad = [&](Node* n, uint32_t nr, Tensor g) {
    Tensors& buf = buffers[n];
    if (buf.empty()) buf.resize(n->inputs.size());
    Tensor& slot = buf[nr];
    slot = slot.defined() ? add(slot, g) : std::move(g);
  };
  using Item = std::pair<uint64_t, Node*>;
  std::priority_queue<Item> ready;
  // Newest node first, except that a leaf's accumulator runs as soon as its gradient is
  // complete (as PyTorch's engine does): its hooks, DDP's bucket hooks among them, then
  // fire while the rest of backward goes on instead of all at the end.
  auto priority = [](Node* n) -> uint64_t {
    return dynamic_cast<AccumulateGrad*>(n) ? UINT64_MAX : n->sequence_nr;
  };
  for (size_t i = 0; i < root_edges.size(); ++i) {
    Node* n = root_edges[i].node.get();
    add_grad(n, root_edges[i].input_nr, conform(*n, *n, root_edges[i].input_nr, seeds[i]));
  }
  {
    std::unordered_set<Node*> pushed;
    for (const Edge& e : root_edges)
      if (!deps.count(e.node.get()) && pushed.insert(e.node.get()).second) ready.emplace(priority(e.node.get()), e.node.get());
  }

  while (!ready.empty()) {
    Node* n = ready.top().second;
    ready.pop();
    Tensors grads = std::move(buffers[n]);
    buffers.erase(n);
    if (grads.empty()) grads.resize(n->inputs.size());
    const bool is_target = targets.count(n) > 0;
    const bool run_node = inputs.empty() || runs.count(n);
    if (!run_node && !is_target) continue;
    auto* acc = dynamic_cast<AccumulateGrad*>(n);
    for (auto* hooks : {&n->pre_hooks, &n->retain_hooks}) {
      for (auto& [nr, hook] : *hooks) {
        if (nr >= grads.size() || !grads[nr].defined()) continue;
        Tensor r = hook(grads[nr]);
        if (r.defined()) grads[nr] = conform_hook(*n, nr, r);
      }
    }
    if (is_target) {
      for (const Capture& c : captures) {
        if (c.node != n || !grads[c.input_nr].defined()) continue;
        // A leaf's hooks live on its accumulator, which grad() does not run.
        results[c.slot] = acc && !accumulate ? acc->run_hooks(grads[c.input_nr]) : grads[c.input_nr];
      }
    }
    if (acc) {
      if (accumulate) acc->apply(std::move(grads));
      continue;
    }
    if (!run_node) continue;
    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();
    for (size_t i = 0; any && n->materialize_grads && i < grads.size(); ++i) {
      // Outputs that got no gradient count as zeros (rules may assume all are present).
      const InputInfo& info = n->inputs[i];
      if (!grads[i].defined() && differentiable(info.dtype)) {
        grads[i] = zeros(info.shape, TensorOptions(info.dtype, info.device));
      }
    }
    Tensors outs;
    if (any) {
      Node* const outer = current_node();  // a rule may run a nested backward (grad inside grad)
      set_current_node(n);
      try {
        outs = n->apply(std::move(grads));
      } catch (...) {
        set_current_node(outer);
        throw;
      }
      set_current_node(outer);
    }
    if (!keep_graph) n->release_saved();
    TS_CHECK(outs.empty() || outs.size() == n->next_edges.size(), Error, "backward", n->name(), " returned ",
             outs.size(), " gradients for ", n->next_edges.size(), " inputs");
    for (size_t i = 0; i < n->next_edges.size(); ++i) {
      const Edge& e = n->next_edges[i];
      if (!e.node) continue;
      if (i < outs.size() && outs[i].defined()) add_grad(e.node.get(), e.input_nr, conform(*n, *e.node, e.input_nr, outs[i]));
      if (--deps[e.node.get()] == 0) ready.emplace(priority(e.node.get()), e.node.get());
    }
  }

  if (accumulate) {  // backward(inputs=...): non-leaf inputs keep their gradient in .grad, as in PyTorch
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].is_leaf() || !results[i].defined()) continue;
      const Tensor old = inputs[i].grad();
      AutogradMeta& m = inputs[i].autograd_meta();
      m.grad = old.defined() ? add(old, results[i]) : (create_graph ? results[i].clone() : results[i].detach().clone());
    }
  } else {
    for (size_t i = 0; i < results.size(); ++i) {
      TS_CHECK(results[i].defined() || allow_unused, Error, "grad", "one of the differentiated tensors (input ", i,
               ") appears to not have been used in the graph; pass allow_unused=True if this is intended");
    }
  }
  return results;
}

}  // namespace

void backward(const Tensors& roots, const Tensors& grads, std::optional<bool> retain_graph, bool create_graph,
              const Tensors& inputs) {
  TS_CHECK(!roots.empty(), ValueError, "backward", "no tensors to differentiate");
  run(roots, grads, retain_graph.value_or(create_graph), create_graph, inputs, /*accumulate=*/true, true);
}

Tensors grad(const Tensors& outputs, const Tensors& inputs, const Tensors& grad_outputs,
             std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  TS_CHECK(!inputs.empty(), ValueError, "grad", "inputs must not be empty");
  return run(outputs, grad_outputs, retain_graph.value_or(create_graph), create_graph, inputs, false, allow_unused);
}

}  // namespace tessel::autograd
