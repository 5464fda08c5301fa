// Bindings for t[...] and t[...] = v (see src/ops/index.cpp for the semantics).
#include <pybind11/stl.h>

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

  def_both(m, c, "nonzero", [](const Tensor& t, bool as_tuple) -> py::object {
    const Tensor nz = nonzero(t);
    if (!as_tuple) return py::cast(nz);
    if (t.dim() == 0) return py::make_tuple(nz.reshape({-1}));
    return py::tuple(py::cast(unbind(nz, 1)));
  }, py::kw_only(), py::arg("as_tuple") = false);
  def_both(m, c, "gather", [](const Tensor& t, int64_t d, const Tensor& i) { return gather(t, d, i); }, py::arg("dim"),
           py::arg("index"));
  auto scatter_fn = [](bool inplace) {
    return [inplace](const Tensor& t, int64_t d, const Tensor& i, py::handle src, py::handle value) -> Tensor {
      const Tensor* s = as_tensor_ptr(src);
      Scalar v;
      const bool have_value = !value.is_none() && to_scalar(value, v);
      if (!s && !have_value && !src.is_none() && to_scalar(src, v)) {
        return inplace ? Tensor(scatter_(t, d, i, v)) : scatter(t, d, i, v);
      }
      if (s) return inplace ? Tensor(scatter_(t, d, i, *s)) : scatter(t, d, i, *s);
      if (!have_value) throw py::type_error("[scatter] needs src (a tensor) or value (a number)");
      return inplace ? Tensor(scatter_(t, d, i, v)) : scatter(t, d, i, v);
    };
  };
  def_both(m, c, "scatter", scatter_fn(false), py::arg("dim"), py::arg("index"), py::arg("src") = py::none(),
           py::kw_only(), py::arg("value") = py::none());
  c.def("scatter_", [scatter_fn](const Tensor& t, int64_t d, const Tensor& i, py::handle src, py::handle value) {
    scatter_fn(true)(t, d, i, src, value);
    return self_of(t);
  }, py::arg("dim"), py::arg("index"), py::arg("src") = py::none(), py::kw_only(),
        py::arg("value") = py::none());
  def_both(m, c, "scatter_add", [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s) {
    return scatter_add(t, d, i, s);
  }, py::arg("dim"), py::arg("index"), py::arg("src"));
  c.def("scatter_add_", [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s) {
    scatter_add_(t, d, i, s);
    return self_of(t);
  }, py::arg("dim"), py::arg("index"), py::arg("src"));
  def_both(m, c, "index_select", [](const Tensor& t, int64_t d, const Tensor& i) { return index_select(t, d, i); },
           py::arg("dim"), py::arg("index"));
  auto number = [](py::handle o) {
    Scalar s;
    if (!to_scalar(o, s)) throw py::type_error("expected a number, got " + type_name(o));
    return s;
  };
  def_both(m, c, "index_add", [number](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s, py::handle a) {
    return index_add(t, d, i, s, number(a));
  }, py::arg("dim"), py::arg("index"), py::arg("source"), py::kw_only(), py::arg("alpha") = 1);
  c.def("index_add_", [number](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s, py::handle a) {
    index_add_(t, d, i, s, number(a));
    return self_of(t);
  }, py::arg("dim"), py::arg("index"), py::arg("source"), py::kw_only(), py::arg("alpha") = 1);
  auto fill_value = [](const Tensor& v_or_t, py::handle value) {
    if (const Tensor* vt = as_tensor_ptr(value)) return vt->item();
    Scalar s;
    if (!to_scalar(value, s)) throw py::type_error("[masked_fill] value must be a number, got " + type_name(value));
    (void)v_or_t;
    return s;
  };
  def_both(m, c, "masked_fill", [fill_value](const Tensor& t, const Tensor& mask, py::handle v) {
    return masked_fill(t, mask, fill_value(t, v));
  }, py::arg("mask"), py::arg("value"));
  c.def("masked_fill_", [fill_value](const Tensor& t, const Tensor& mask, py::handle v) {
    masked_fill_(t, mask, fill_value(t, v));
    return self_of(t);
  }, py::arg("mask"), py::arg("value"));
  def_both(m, c, "masked_select", [](const Tensor& t, const Tensor& mask) { return masked_select(t, mask); },
           py::arg("mask"));
  def_both(m, c, "take", [](const Tensor& t, const Tensor& i) { return take(t, i); }, py::arg("index"));
}

}  // namespace tessel::python
