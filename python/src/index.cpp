// Bindings for t[...] and t[...] = v (see src/ops/index.cpp for the semantics).
#include "python/src/convert.h"

namespace tessel::python {

namespace {

TensorIndex to_index(py::handle o, const Device& device) {
  PyObject* p = o.ptr();
  if (PyBool_Check(p)) return TensorIndex::with(scalar_tensor(Scalar(p == Py_True), TensorOptions(DType::Bool, device)));
  if (PyLong_Check(p)) return TensorIndex::integer(py::cast<int64_t>(o));
  if (PySlice_Check(p)) {
    auto* s = reinterpret_cast<PySliceObject*>(p);
    auto opt = [](PyObject* v) -> std::optional<int64_t> {
      if (v == Py_None) return std::nullopt;
      PyObject* idx = PyNumber_Index(v);
      if (!idx) throw py::error_already_set();
      return py::cast<int64_t>(py::reinterpret_steal<py::object>(idx));
    };
    if (s->start != Py_None && !PyIndex_Check(s->start)) throw py::type_error("slice indices must be integers or None");
    if (s->stop != Py_None && !PyIndex_Check(s->stop)) throw py::type_error("slice indices must be integers or None");
    if (s->step != Py_None && !PyIndex_Check(s->step)) throw py::type_error("slice indices must be integers or None");
    return TensorIndex::slice(opt(s->start), opt(s->stop), opt(s->step));
  }
  if (p == Py_None) return TensorIndex::none();
  if (p == Py_Ellipsis) return TensorIndex::ellipsis();
  if (const Tensor* t = as_tensor_ptr(o)) return TensorIndex::with(*t);
  if (PyIndex_Check(p)) {  // NumPy integers; arrays refuse __index__ and index like tensors below
    if (PyObject* idx = PyNumber_Index(p)) return TensorIndex::integer(py::cast<int64_t>(py::reinterpret_steal<py::object>(idx)));
    PyErr_Clear();
  }
  if (PySequence_Check(p) || PyObject_CheckBuffer(p)) {  // lists and arrays index like tensors
    return TensorIndex::with(tensor_from_data(o, std::nullopt, device));
  }
  throw py::type_error("only integers, slices, None, Ellipsis, bool/int tensors and sequences are valid indices, got " +
                       type_name(o));
}

std::vector<TensorIndex> to_indices(py::handle key, const Device& device) {
  std::vector<TensorIndex> out;
  if (PyTuple_Check(key.ptr())) {
    for (py::handle k : py::reinterpret_borrow<py::tuple>(key)) out.push_back(to_index(k, device));
  } else {
    out.push_back(to_index(key, device));
  }
  return out;
}

}  // namespace

void init_index(py::module_& m) {
  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  c.def("__getitem__", [](const Tensor& t, py::handle key) {
    // Fast path: t[i].
    if (PyLong_Check(key.ptr()) && !PyBool_Check(key.ptr())) {
      if (t.dim() == 0) throw py::index_error("invalid index of a 0-dim tensor");
      return t.select(0, py::cast<int64_t>(key));
    }
    return index(t, to_indices(key, t.device()));
  });
  c.def("__setitem__", [](Tensor& t, py::handle key, py::handle value) {
    Tensor v;
    Scalar s;
    if (const Tensor* vt = as_tensor_ptr(value)) v = *vt;
    else if (to_scalar(value, s)) v = scalar_tensor(s, TensorOptions(t.dtype(), t.device()));
    else v = tensor_from_data(value, t.dtype(), t.device());
    index_put_(t, to_indices(key, t.device()), v);
  });
}

}  // namespace tessel::python
