// Bindings for the kernel registry: listing, plugins, Python kernels, calling ops by name.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "kernels/cpu/vecmath.h"
#include "python/src/convert.h"
#include "src/ops/broadcast_block.h"
#include "tessel/trace.h"

namespace tessel::python {

void init_registry(py::module_& m) {
  m.def("_cpu_capability", [] { return std::string(cpu::vecmath::isa_name()); });  // vecmath's SIMD level
  m.def("_registry_list", [] {
    py::list out;
    for (const KernelInfo& k : Registry::get().list()) out.append(py::make_tuple(k.op, k.device, k.dtype, k.source));
    return out;
  });
  m.def("load_library", &load_library, py::arg("path"),
        "Loads a shared library whose static initializers register ops, kernels or devices.");
  m.def("register_device_type", [](const std::string& name) { return device_type_name(register_device_type(name)); },
        py::arg("name"));
  m.def(
      "register_kernel",
      [](const std::string& op, const std::string& device, DType dtype, py::function fn) {
        // Registry entries live for the process; the callable is kept alive with them
        // (never released, so interpreter shutdown never runs Python code without the GIL).
        auto* f = new py::function(std::move(fn));
        Kernel k = [f](const KernelCall& call) {
          py::gil_scoped_acquire gil;
          py::list ins, outs;
          for (const Tensor& t : call.in) ins.append(py::cast(t));
          for (const Tensor& t : call.out) outs.append(t.defined() ? py::cast(t) : py::none());
          py::object r = (*f)(ins, outs);
          // A kernel for a new op may return its outputs instead of filling them.
          if (!r.is_none()) {
            std::vector<Tensor> rs;
            if (py::isinstance<Tensor>(r)) rs.push_back(py::cast<Tensor>(r));
            else rs = py::cast<std::vector<Tensor>>(r);
            for (size_t i = 0; i < rs.size() && i < call.out.size(); ++i) {
              if (call.out[i].defined()) call.out[i].copy_(rs[i]);
              else call.out[i] = rs[i];
            }
          }
        };
        Registry::get().add(op, device, dtype, std::move(k), "python");
      },
      py::arg("op"), py::arg("device"), py::arg("dtype"), py::arg("fn"),
      "Registers fn(inputs, outputs) as the kernel for (op, device, dtype).");
  m.def(
      "call_op",
      [](const std::string& op, const std::vector<Tensor>& inputs, int num_outputs) -> py::object {
        std::vector<Tensor> outs = call_op(op, inputs, num_outputs);
        if (outs.size() == 1) return py::cast(outs[0]);
        return py::cast(outs);
      },
      py::arg("op"), py::arg("inputs"), py::arg("num_outputs") = 1);
  // The plain call of an elementwise kernel registered by name (hypot, copysign, frac): the
  // kernel's output when every input is a CPU tensor of one floating dtype and shape, no
  // gradient is wanted and no export is tracing; else None, and the Python wrapper takes its
  // general path. In C++ so that a small call costs what an op's binding does.
  m.def("_call_plain", [](const char* op, py::args args) -> py::object {
    std::vector<Tensor> in;
    in.reserve(args.size());
    for (py::handle h : args) {
      const Tensor* t = as_tensor_ptr(h);
      if (!t || !t->device().is_cpu() || !is_floating(t->dtype())) return py::none();
      if (!in.empty() && (t->dtype() != in[0].dtype() || t->shape() != in[0].shape())) return py::none();
      in.push_back(*t);
    }
    if (in.empty() || trace::active()) return py::none();
    if (autograd::GradMode::enabled())
      for (const Tensor& t : in)
        if (t.requires_grad()) return py::none();
    if (in.size() == 1) {  // elementwise: one input broadcast over its leading dims runs on its distinct block
      if (const auto b = detail::broadcast_block(in[0])) {
        const Tensor head = call_op(op, {b->block})[0];
        Tensor out = empty(in[0].shape(), TensorOptions(head.dtype(), head.device()));
        detail::first_block(out, head.shape()).copy_(head);
        detail::repeat_first_block(out, b->outer);
        return py::cast(std::move(out));
      }
    }
    return py::cast(std::move(call_op(op, in)[0]));
  });
}

}  // namespace tessel::python
