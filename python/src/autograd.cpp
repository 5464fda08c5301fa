// Bindings for autograd: Tensor's grad attributes, graph nodes, the engine,
// grad mode and custom functions (tessel.autograd builds on these).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/autograd.h"

namespace tessel::python {

namespace {

Tensors tensor_list(py::handle seq) {
  Tensors out;
  if (const Tensor* t = py::isinstance<Tensor>(seq) ? seq.cast<const Tensor*>() : nullptr) return {*t};
  for (py::handle h : seq) out.push_back(h.is_none() ? Tensor() : h.cast<Tensor>());
  return out;
}

py::object maybe_tensor(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

// A Python callable kept by the graph: freed under the GIL, since the engine
// may drop it from a thread that does not hold it.
std::shared_ptr<py::function> keep(py::function fn) {
  return std::shared_ptr<py::function>(new py::function(std::move(fn)), [](py::function* f) {
    py::gil_scoped_acquire gil;
    delete f;
  });
}

// Wraps a Python hook: the engine runs without the GIL.
autograd::Hook python_hook(py::function fn, std::shared_ptr<bool> active) {
  auto holder = keep(std::move(fn));
  return [holder, active](const Tensor& g) -> Tensor {
    if (!*active) return {};
    py::gil_scoped_acquire gil;
    py::object r = (*holder)(g);
    return r.is_none() ? Tensor() : r.cast<Tensor>();
  };
}

}  // namespace

void init_autograd(py::module_& m) {
  auto ag = m.def_submodule("_autograd", "autograd engine bindings");

  py::class_<autograd::Node, std::shared_ptr<autograd::Node>>(ag, "Node", "A step of the backward graph.")
      .def("name", &autograd::Node::name)
      .def_property_readonly("next_functions", [](const autograd::Node& n) {
        py::list out;
        for (const autograd::Edge& e : n.next_edges) {
          out.append(py::make_tuple(e.node ? py::cast(e.node) : py::none(), e.input_nr));
        }
        return py::tuple(out);
      })
      .def("__repr__", [](const autograd::Node& n) { return "<" + n.name() + ">"; });

  class RemovableHandle {
   public:
    explicit RemovableHandle(std::shared_ptr<bool> a) : active(std::move(a)) {}
    void remove() { *active = false; }
    std::shared_ptr<bool> active;
  };
  py::class_<RemovableHandle>(ag, "RemovableHandle").def("remove", &RemovableHandle::remove);

  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  c.def(py::init([](const Tensor& t) { return t; }), py::arg("data"),
        "A new handle on t's data and history (subclasses such as nn.Parameter build on it).")
      .def_property("requires_grad", &Tensor::requires_grad,
                    [](const Tensor& t, bool on) { t.set_requires_grad(on); })
      .def("requires_grad_", [](const Tensor& t, bool on) { t.set_requires_grad(on); return self_of(t); },
           py::arg("requires_grad") = true)
      .def_property("grad", [](const Tensor& t) { return maybe_tensor(t.grad()); },
                    [](const Tensor& t, py::handle g) { t.set_grad(g.is_none() ? Tensor() : g.cast<Tensor>()); })
      .def_property_readonly("grad_fn", &Tensor::grad_fn)
      .def_property_readonly("is_leaf", &Tensor::is_leaf)
      .def_property_readonly("_version", &Tensor::version)
      .def_property_readonly("output_nr", &Tensor::output_nr)
      .def("detach", &Tensor::detach)
      .def("detach_", [](const Tensor& t) { t.detach_(); return self_of(t); })
      .def("retain_grad", &Tensor::retain_grad)
      .def_property_readonly("retains_grad", &Tensor::retains_grad)
      .def_property("data", &Tensor::detach, [](const Tensor& t, const Tensor& d) { t.set_data(d); })
      .def("register_hook", [](const Tensor& t, py::function fn) {
        auto active = std::make_shared<bool>(true);
        t.register_hook(python_hook(std::move(fn), active));
        return RemovableHandle(active);
      }, py::arg("hook"), "hook(grad) -> Tensor or None, called when this tensor's gradient is computed.")
      .def("backward", [](const Tensor& t, py::handle gradient, std::optional<bool> retain_graph, bool create_graph,
                          py::handle inputs) {
        const Tensor g = gradient.is_none() ? Tensor() : gradient.cast<Tensor>();
        const Tensors in = inputs.is_none() ? Tensors{} : tensor_list(inputs);
        if (!inputs.is_none() && in.empty()) throw std::runtime_error("[backward] inputs must not be empty");
        py::gil_scoped_release nogil;
        autograd::backward({t}, {g}, retain_graph, create_graph, in);
      }, py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(), py::arg("create_graph") = false,
         py::arg("inputs") = py::none());

  ag.def("is_grad_enabled", &autograd::GradMode::enabled);
  ag.def("set_grad_enabled", &autograd::GradMode::set_enabled, py::arg("mode"));
  ag.def("backward", [](py::handle tensors, py::handle grads, std::optional<bool> retain_graph, bool create_graph,
                        py::handle inputs) {
    const Tensors roots = tensor_list(tensors);
    Tensors gs = grads.is_none() ? Tensors{} : tensor_list(grads);
    const Tensors in = inputs.is_none() ? Tensors{} : tensor_list(inputs);
    if (!inputs.is_none() && in.empty()) throw std::runtime_error("[backward] inputs must not be empty");
    py::gil_scoped_release nogil;
    autograd::backward(roots, gs, retain_graph, create_graph, in);
  }, py::arg("tensors"), py::arg("grad_tensors") = py::none(), py::arg("retain_graph") = py::none(),
     py::arg("create_graph") = false, py::arg("inputs") = py::none());
  ag.def("grad", [](py::handle outputs, py::handle inputs, py::handle grad_outputs, std::optional<bool> retain_graph,
                    bool create_graph, bool allow_unused) {
    const Tensors outs = tensor_list(outputs), in = tensor_list(inputs);
    const Tensors gs = grad_outputs.is_none() ? Tensors{} : tensor_list(grad_outputs);
    Tensors r;
    {
      py::gil_scoped_release nogil;
      r = autograd::grad(outs, in, gs, retain_graph, create_graph, allow_unused);
    }
    py::list res;
    for (const Tensor& t : r) res.append(maybe_tensor(t));
    return py::tuple(res);
  }, py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs") = py::none(), py::arg("retain_graph") = py::none(),
     py::arg("create_graph") = false, py::arg("allow_unused") = false);
  ag.def("live_nodes", &autograd::live_nodes, "Nodes alive in this process (leak tests).");

  // Custom functions: forward(inputs) -> outputs runs without recording; backward(ctx, grads) -> input grads.
  py::class_<autograd::FunctionCtx>(ag, "_FunctionCtx")
      .def("saved_tensors", &autograd::FunctionCtx::saved_tensors);
  ag.def("apply_function", [](const std::string& name, py::handle inputs, py::function forward, py::function backward,
                              py::function on_forward_done) {
    const Tensors in = tensor_list(inputs);
    auto fwd = [forward, on_forward_done](autograd::FunctionCtx& ctx, const Tensors&) {
      py::object r = forward();
      Tensors outs = tensor_list(r);
      py::tuple extra = on_forward_done();  // (to_save, dirty, materialize_grads)
      ctx.to_save = tensor_list(extra[0]);
      ctx.dirty = tensor_list(extra[1]);
      ctx.materialize_grads = extra[2].cast<bool>();
      return outs;
    };
    auto holder = keep(backward);
    auto bwd = [holder](autograd::FunctionCtx& ctx, const Tensors& grads) {
      py::gil_scoped_acquire gil;
      py::list gl;
      for (const Tensor& g : grads) gl.append(maybe_tensor(g));
      py::object r = (*holder)(py::cast(&ctx, py::return_value_policy::reference), py::tuple(gl));
      return tensor_list(r);
    };
    const Tensors outs = autograd::apply_function(name, in, fwd, bwd);
    py::list res;
    for (const Tensor& t : outs) res.append(py::cast(t));
    return py::tuple(res);
  }, py::arg("name"), py::arg("inputs"), py::arg("forward"), py::arg("backward"), py::arg("on_forward_done"));
}

}  // namespace tessel::python
