// Bindings for the fused optimizer updates (tessel.optim's classes call these).
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/optim.h"

namespace tessel::python {

void init_optim(py::module_& m) {
  auto o = m.def_submodule("_optim", "fused optimizer updates over lists of parameters");
  o.def("sgd_", [](const Tensors& params, const Tensors& grads, const Tensors& bufs, double lr, double momentum,
                   double dampening, double weight_decay, bool nesterov, bool maximize, bool first_step) {
    OptimParams p;
    p.lr = lr, p.momentum = momentum, p.dampening = dampening, p.weight_decay = weight_decay;
    p.nesterov = nesterov, p.maximize = maximize, p.first_step = first_step;
    py::gil_scoped_release nogil;
    optim::sgd_step(params, grads, bufs, p);
  }, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("lr"), py::arg("momentum"),
     py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"), py::arg("first_step"));
  o.def("adam_", [](const Tensors& params, const Tensors& grads, const Tensors& m1, const Tensors& m2,
                    const Tensors& vmax, int64_t step, double lr, double beta1, double beta2, double eps,
                    double weight_decay, bool amsgrad, bool maximize, bool decoupled) {
    OptimParams p;
    p.step = step, p.lr = lr, p.beta1 = beta1, p.beta2 = beta2, p.eps = eps, p.weight_decay = weight_decay;
    p.amsgrad = amsgrad, p.maximize = maximize, p.decoupled_weight_decay = decoupled;
    py::gil_scoped_release nogil;
    optim::adam_step(params, grads, m1, m2, vmax, p);
  }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"),
     py::arg("step"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
     py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"));
  o.def("rmsprop_", [](const Tensors& params, const Tensors& grads, const Tensors& sq, const Tensors& bufs,
                       const Tensors& gavg, double lr, double alpha, double eps, double weight_decay, double momentum,
                       bool centered, bool maximize) {
    OptimParams p;
    p.lr = lr, p.alpha = alpha, p.eps = eps, p.weight_decay = weight_decay, p.momentum = momentum;
    p.centered = centered, p.maximize = maximize;
    py::gil_scoped_release nogil;
    optim::rmsprop_step(params, grads, sq, bufs, gavg, p);
  }, py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("momentum_buffers"), py::arg("grad_avgs"),
     py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"),
     py::arg("centered"), py::arg("maximize"));
}

}  // namespace tessel::python
