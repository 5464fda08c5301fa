// Bindings for linear algebra: matmul and @, mm, bmm, mv, dot, vdot, outer,
// addmm, baddbmm, linear, tensordot, einsum.
#include <pybind11/stl.h>

#include "python/src/convert.h"

namespace tessel::python {

namespace {
Scalar number(py::handle o, const char* what) {
  Scalar s;
  if (!to_scalar(o, s)) throw py::type_error(std::string(what) + " must be a number");
  return s;
}
}  // namespace

void init_linalg(py::module_& m) {
  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  // Large products release the GIL; tiny ones are not worth the switch.
  auto mat = [](const Tensor& a, const Tensor& b) {
    if (a.numel() + b.numel() < 65536) return matmul(a, b);
    py::gil_scoped_release nogil;
    return matmul(a, b);
  };
  m.def("matmul", mat, py::arg("input"), py::arg("other"));
  c.def("matmul", mat, py::arg("other"));
  c.def("__matmul__", mat);
  c.def("__rmatmul__", [](const Tensor& a, const Tensor& b) { return matmul(b, a); });
  def_both(m, c, "mm", [](const Tensor& a, const Tensor& b) { return mm(a, b); }, py::arg("mat2"));
  def_both(m, c, "bmm", [](const Tensor& a, const Tensor& b) { return bmm(a, b); }, py::arg("mat2"));
  def_both(m, c, "mv", [](const Tensor& a, const Tensor& b) { return mv(a, b); }, py::arg("vec"));
  def_both(m, c, "dot", [](const Tensor& a, const Tensor& b) { return dot(a, b); }, py::arg("other"));
  def_both(m, c, "vdot", [](const Tensor& a, const Tensor& b) { return vdot(a, b); }, py::arg("other"));
  def_both(m, c, "outer", [](const Tensor& a, const Tensor& b) { return outer(a, b); }, py::arg("vec2"));
  def_both(m, c, "conj", [](const Tensor& a) { return conj(a); });
  def_both(m, c, "addmm", [](const Tensor& in, const Tensor& m1, const Tensor& m2, py::handle beta,
                             py::handle alpha) {
    return addmm(in, m1, m2, number(beta, "beta"), number(alpha, "alpha"));
  }, py::arg("mat1"), py::arg("mat2"), py::kw_only(), py::arg("beta") = 1, py::arg("alpha") = 1);
  def_both(m, c, "baddbmm", [](const Tensor& in, const Tensor& b1, const Tensor& b2, py::handle beta,
                               py::handle alpha) {
    return baddbmm(in, b1, b2, number(beta, "beta"), number(alpha, "alpha"));
  }, py::arg("batch1"), py::arg("batch2"), py::kw_only(), py::arg("beta") = 1, py::arg("alpha") = 1);
  m.def("linear", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b) { return linear(x, w, b); },
        py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());
  m.def("tensordot", [](const Tensor& a, const Tensor& b, py::handle dims) {
    if (PyLong_Check(dims.ptr())) return tensordot(a, b, py::cast<int64_t>(dims));
    auto pair = py::reinterpret_borrow<py::sequence>(dims);
    if (py::len(pair) != 2) throw py::value_error("[tensordot] dims must be an int or a pair of dim lists");
    return tensordot(a, b, to_shape(pair[0]), to_shape(pair[1]));
  }, py::arg("a"), py::arg("b"), py::arg("dims") = 2);
  m.def("einsum", [](const std::string& eq, py::args operands) {
    std::vector<Tensor> ts;
    // einsum(eq, a, b) or einsum(eq, [a, b])
    if (operands.size() == 1 && !py::isinstance<Tensor>(operands[0])) ts = py::cast<std::vector<Tensor>>(operands[0]);
    else ts = py::cast<std::vector<Tensor>>(operands);
    return einsum(eq, ts);
  }, py::arg("equation"));
}

}  // namespace tessel::python
