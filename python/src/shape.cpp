// Bindings for shape ops: cat stack split chunk unbind flip roll repeat tile
// repeat_interleave tril triu pad broadcast_to broadcast_shapes.
#include <pybind11/stl.h>

#include "python/src/convert.h"

namespace tessel::python {

namespace {
py::tuple to_py_tuple(const std::vector<Tensor>& v) {
  py::tuple t(v.size());
  for (size_t i = 0; i < v.size(); ++i) t[i] = py::cast(v[i]);
  return t;
}

Shape ints_or_one(py::handle o) { return to_shape(o); }  // int -> [int], sequence -> list
}  // namespace

void init_shape(py::module_& m) {
  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  m.def("cat", [](const std::vector<Tensor>& ts, int64_t dim) { return cat(ts, dim); }, py::arg("tensors"),
        py::arg("dim") = 0);
  m.attr("concat") = m.attr("cat");
  m.attr("concatenate") = m.attr("cat");
  m.def("stack", [](const std::vector<Tensor>& ts, int64_t dim) { return stack(ts, dim); }, py::arg("tensors"),
        py::arg("dim") = 0);
  def_both(m, c, "split", [](const Tensor& t, py::handle s, int64_t dim) {
    if (PyLong_Check(s.ptr())) return to_py_tuple(split(t, py::cast<int64_t>(s), dim));
    return to_py_tuple(split(t, to_shape(s), dim));
  }, py::arg("split_size_or_sections"), py::arg("dim") = 0);
  def_both(m, c, "chunk", [](const Tensor& t, int64_t n, int64_t dim) { return to_py_tuple(chunk(t, n, dim)); },
           py::arg("chunks"), py::arg("dim") = 0);
  def_both(m, c, "unbind", [](const Tensor& t, int64_t dim) { return to_py_tuple(unbind(t, dim)); },
           py::arg("dim") = 0);
  def_both(m, c, "flip", [](const Tensor& t, py::handle dims) { return flip(t, ints_or_one(dims)); }, py::arg("dims"));
  def_both(m, c, "roll", [](const Tensor& t, py::handle shifts, py::handle dims) {
    return roll(t, ints_or_one(shifts), dims.is_none() ? Shape{} : ints_or_one(dims));
  }, py::arg("shifts"), py::arg("dims") = py::none());
  c.def("repeat", [](const Tensor& t, py::args r) { return repeat(t, shape_from_args(r, "repeat")); });
  def_both(m, c, "tile", [](const Tensor& t, py::handle dims) { return tile(t, ints_or_one(dims)); }, py::arg("dims"));
  def_both(m, c, "repeat_interleave", [](const Tensor& t, py::handle r, std::optional<int64_t> dim) {
    if (const Tensor* rt = as_tensor_ptr(r)) return repeat_interleave(t, *rt, dim);
    return repeat_interleave(t, py::cast<int64_t>(r), dim);
  }, py::arg("repeats"), py::arg("dim") = py::none());
  def_both(m, c, "tril", [](const Tensor& t, int64_t k) { return tril(t, k); }, py::arg("diagonal") = 0);
  def_both(m, c, "triu", [](const Tensor& t, int64_t k) { return triu(t, k); }, py::arg("diagonal") = 0);
  m.def("pad", [](const Tensor& t, py::handle p, const std::string& mode, py::handle value) {
    return pad(t, to_shape(p), mode, value.is_none() ? 0.0 : py::cast<double>(value));
  }, py::arg("input"), py::arg("pad"), py::arg("mode") = "constant", py::arg("value") = py::none());
  m.def("broadcast_to", [](const Tensor& t, py::handle s) { return broadcast_to(t, to_shape(s)); }, py::arg("input"),
        py::arg("size"));
  m.def("broadcast_shapes", [](py::args shapes) {
    Shape out;
    for (py::handle s : shapes) out = broadcast_shapes("broadcast_shapes", out, to_shape(s));
    return to_tuple(out);
  });
}

}  // namespace tessel::python
