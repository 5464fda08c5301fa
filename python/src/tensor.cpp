// Bindings for the Tensor class: properties, views, conversions and operators.
#include <pybind11/complex.h>
#include <pybind11/stl.h>

#include "python/src/convert.h"

namespace tessel::python {

namespace {



Tensor to_impl(const Tensor& t, const py::args& args, const py::kwargs& kwargs) {
  std::optional<DType> dtype;
  std::optional<Device> device;
  bool copy = false;
  for (py::handle a : args) {
    if (py::isinstance<DType>(a)) dtype = py::cast<DType>(a);
    else if (const Tensor* o = as_tensor_ptr(a)) dtype = o->dtype(), device = o->device();
    else device = to_device(a);
  }
  for (auto [k, v] : kwargs) {
    const std::string key = py::cast<std::string>(k);
    if (key == "dtype") {
      if (!v.is_none()) dtype = py::cast<DType>(v);
    } else if (key == "device") {
      if (!v.is_none()) device = to_device(v);
    } else if (key == "copy") {
      copy = py::cast<bool>(v);
    } else if (key != "non_blocking") {
      throw py::type_error("to() got an unexpected keyword argument '" + key + "'");
    }
  }
  Tensor r = device ? t.to(*device) : t;
  r = dtype ? r.to(*dtype) : r;
  if (copy && r.is_same(t)) r = t.clone();
  return r;
}

// tessel.Size (python/tessel/_size.py), registered by the package at import; plain tuples before that.
PyObject* size_type = nullptr;

py::object to_size(const Shape& shape) {
  if (!size_type) return to_tuple(shape);
  // tuple's own tp_new builds the subclass from the items without running Size.__new__, a Python
  // function that checks arbitrary input (~0.5 us per x.shape); shapes are ints already.
  py::tuple args = py::make_tuple(to_tuple(shape));
  PyObject* r = PyTuple_Type.tp_new(reinterpret_cast<PyTypeObject*>(size_type), args.ptr(), nullptr);
  if (!r) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(r);
}

// torch.as_strided: the offset defaults to the tensor's own; negative strides are refused, as PyTorch does.
Tensor as_strided_py(const Tensor& t, py::handle size, py::handle stride, std::optional<int64_t> offset) {
  const Shape st = to_shape(stride);
  for (int64_t s : st)
    if (s < 0) throw py::value_error(detail::cat("[as_strided] strides must be >= 0, got ", st));
  return t.as_strided(to_shape(size), st, offset.value_or(t.offset()));
}

Tensor squeeze_dims(const Tensor& t, py::handle dim) {
  if (dim.is_none()) return t.squeeze();
  Shape dims = to_shape(dim);
  std::sort(dims.begin(), dims.end(), [&](int64_t a, int64_t b) {  // drop from the back so indices stay valid
    return (a < 0 ? a + t.dim() : a) > (b < 0 ? b + t.dim() : b);
  });
  Tensor r = t;
  for (int64_t d : dims) r = r.squeeze(d < 0 ? d + t.dim() : d);
  return r;
}

}  // namespace

void init_tensor(py::module_& m) {
  py::class_<Tensor> c(m, "Tensor", py::buffer_protocol(), "An n-dimensional array on one device.");
  m.def("_set_size_type", [](py::handle type) {
    if (!PyType_Check(type.ptr()) || !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(type.ptr()), &PyTuple_Type)) {
      throw py::type_error("_set_size_type expects a tuple subclass");
    }
    Py_XDECREF(size_type);
    size_type = type.inc_ref().ptr();  // kept for the process, like the module
  }, py::arg("type"));
  c.def_property_readonly("shape", [](const Tensor& t) { return to_size(t.shape()); })
      .def("size", [](const Tensor& t, py::handle dim) -> py::object {
        if (dim.is_none()) return to_size(t.shape());
        return py::int_(t.size(py::cast<int64_t>(dim)));
      }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& t, py::handle dim) -> py::object {
        if (dim.is_none()) return to_tuple(t.strides());
        return py::int_(t.stride(py::cast<int64_t>(dim)));
      }, py::arg("dim") = py::none())
      .def_property_readonly("dtype", [](const Tensor& t) { return py::reinterpret_borrow<py::object>(dtype_object(t.dtype())); })
      .def_property_readonly("device", &Tensor::device)
      .def_property_readonly("ndim", &Tensor::dim)
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def("element_size", &Tensor::itemsize)
      .def_property_readonly("itemsize", &Tensor::itemsize)
      .def_property_readonly("nbytes", &Tensor::nbytes)
      .def("storage_offset", &Tensor::offset)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def_property_readonly("is_cpu", [](const Tensor& t) { return t.device().is_cpu(); })
      .def("item", [](const Tensor& t) { return from_scalar(t.item()); })
      .def("tolist", &to_list)
      .def("__len__", [](const Tensor& t) {
        if (t.dim() == 0) throw py::type_error("len() of a 0-d tensor");
        return t.shape()[0];
      })
      .def("__iter__", [](const Tensor& t) {
        if (t.dim() == 0) throw py::type_error("iteration over a 0-d tensor");
        py::list parts(t.shape()[0]);
        for (int64_t i = 0; i < t.shape()[0]; ++i) parts[i] = py::cast(t.select(0, i));
        return py::iter(parts);
      })
      .def("__bool__", [](const Tensor& t) {
        if (t.numel() != 1) {
          throw py::value_error("Boolean value of Tensor with " + std::to_string(t.numel()) +
                                " values is ambiguous; use .any() or .all()");
        }
        return t.item<bool>();
      })
      .def("__int__", [](const Tensor& t) { return t.item<int64_t>(); })
      .def("__float__", [](const Tensor& t) { return t.item<double>(); })
      .def("__complex__", [](const Tensor& t) { return t.item<complex128>(); })
      .def("__index__", [](const Tensor& t) {
        if (!is_integral(t.dtype(), true) || t.numel() != 1) {
          throw py::type_error("only integer tensors of a single element can be converted to an index");
        }
        return t.item<int64_t>();
      })
      .def("__hash__", [](py::handle self) { return py::hash(py::int_(reinterpret_cast<uintptr_t>(self.ptr()))); });

  // ---- views ----
  c.def("view", [](const Tensor& t, py::args s) {
    if (s.size() == 1 && py::isinstance<DType>(s[0])) return t.view(s[0].cast<DType>());  // view(dtype)
    return t.view(shape_from_args(s, "view"));
  })
      .def("reshape", [](const Tensor& t, py::args s) { return t.reshape(shape_from_args(s, "reshape")); })
      .def("permute", [](const Tensor& t, py::args s) { return t.permute(shape_from_args(s, "permute")); })
      .def("expand", [](const Tensor& t, py::args s) { return t.expand(shape_from_args(s, "expand")); })
      .def("broadcast_to", [](const Tensor& t, py::handle s) { return broadcast_to(t, to_shape(s)); }, py::arg("size"))
      .def("expand_as", [](const Tensor& t, const Tensor& o) { return t.expand(o.shape()); }, py::arg("other"))
      .def("view_as", [](const Tensor& t, const Tensor& o) { return t.view(o.shape()); }, py::arg("other"))
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return t.reshape(o.shape()); }, py::arg("other"))
      .def("transpose", &Tensor::transpose, py::arg("dim0"), py::arg("dim1"))
      .def("t", &Tensor::t)
      .def_property_readonly("mT", &Tensor::mT)
      .def_property_readonly("T", [](const Tensor& t) {
        Shape dims(t.dim());
        for (int64_t i = 0; i < t.dim(); ++i) dims[i] = t.dim() - 1 - i;
        return t.permute(dims);
      })
      .def("squeeze", &squeeze_dims, py::arg("dim") = py::none())
      .def("unsqueeze", &Tensor::unsqueeze, py::arg("dim"))
      .def("flatten", &Tensor::flatten, py::arg("start_dim") = 0, py::arg("end_dim") = -1)
      .def("unflatten", [](const Tensor& t, int64_t d, py::handle s) { return t.unflatten(d, to_shape(s)); },
           py::arg("dim"), py::arg("sizes"))
      .def("select", &Tensor::select, py::arg("dim"), py::arg("index"))
      .def("narrow", &Tensor::narrow, py::arg("dim"), py::arg("start"), py::arg("length"))
      .def("diagonal", &Tensor::diagonal, py::arg("offset") = 0, py::arg("dim1") = 0, py::arg("dim2") = 1)
      .def("unfold", &Tensor::unfold, py::arg("dimension"), py::arg("size"), py::arg("step"))
      .def("as_strided", &as_strided_py, py::arg("size"), py::arg("stride"), py::arg("storage_offset") = py::none())
      .def("contiguous", &Tensor::contiguous)
      .def("clone", &Tensor::clone);

  // Functional forms of the views, as torch.reshape(input, shape) etc.
  m.def("reshape", [](const Tensor& t, py::handle s) { return t.reshape(to_shape(s)); }, py::arg("input"),
        py::arg("shape"));
  m.def("permute", [](const Tensor& t, py::handle d) { return t.permute(to_shape(d)); }, py::arg("input"),
        py::arg("dims"));
  // (lambdas taking const Tensor&: a member pointer would let None through as a null `this`)
  m.def("flatten", [](const Tensor& t, int64_t s, int64_t e) { return t.flatten(s, e); }, py::arg("input"),
        py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  m.def("transpose", [](const Tensor& t, int64_t a, int64_t b) { return t.transpose(a, b); }, py::arg("input"),
        py::arg("dim0"), py::arg("dim1"));
  m.def("squeeze", &squeeze_dims, py::arg("input"), py::arg("dim") = py::none());
  m.def("unsqueeze", [](const Tensor& t, int64_t d) { return t.unsqueeze(d); }, py::arg("input"), py::arg("dim"));
  m.def("narrow", [](const Tensor& t, int64_t d, int64_t start, int64_t len) { return t.narrow(d, start, len); },
        py::arg("input"), py::arg("dim"), py::arg("start"), py::arg("length"));
  m.def("diagonal", [](const Tensor& t, int64_t off, int64_t d1, int64_t d2) { return t.diagonal(off, d1, d2); },
        py::arg("input"), py::arg("offset") = 0, py::arg("dim1") = 0, py::arg("dim2") = 1);
  m.def("as_strided", &as_strided_py, py::arg("input"), py::arg("size"), py::arg("stride"),
        py::arg("storage_offset") = py::none());
  m.def("numel", [](const Tensor& t) { return t.numel(); }, py::arg("input"));

  // ---- conversions and copies ----
  c.def("to", &to_impl)
      .def("cpu", &Tensor::cpu)
      .def("float", [](const Tensor& t) { return t.to(DType::Float32); })
      .def("double", [](const Tensor& t) { return t.to(DType::Float64); })
      .def("half", [](const Tensor& t) { return t.to(DType::Float16); })
      .def("bfloat16", [](const Tensor& t) { return t.to(DType::BFloat16); })
      .def("int", [](const Tensor& t) { return t.to(DType::Int32); })
      .def("long", [](const Tensor& t) { return t.to(DType::Int64); })
      .def("short", [](const Tensor& t) { return t.to(DType::Int16); })
      .def("byte", [](const Tensor& t) { return t.to(DType::UInt8); })
      .def("char", [](const Tensor& t) { return t.to(DType::Int8); })
      .def("bool", [](const Tensor& t) { return t.to(DType::Bool); })
      .def("type", [](const Tensor& t, DType d) { return t.to(d); }, py::arg("dtype"))
      .def("copy_", [](Tensor& t, const Tensor& src) { t.copy_(src); return self_of(t); }, py::arg("src"))
      .def("fill_", [](Tensor& t, py::handle v) {
        Scalar s;
        if (const Tensor* o = as_tensor_ptr(v)) s = o->item();
        else if (!to_scalar(v, s)) throw py::type_error("fill_ expects a number, got " + type_name(v));
        t.fill_(s);
        return self_of(t);
      }, py::arg("value"))
      .def("zero_", [](Tensor& t) { t.fill_(Scalar(0)); return self_of(t); });
  // uniform_ and normal_ are bound with the other random ops (python/src/random.cpp).



}

}  // namespace tessel::python
