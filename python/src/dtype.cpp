// Bindings for dtypes, devices and type promotion.
#include <pybind11/stl.h>

#include "python/src/convert.h"

namespace tessel::python {

namespace {
py::handle g_dtype_objects[kNumDTypes];  // references kept for the interpreter's life
}  // namespace

py::handle dtype_object(DType d) { return g_dtype_objects[static_cast<int>(d)]; }

void init_dtype(py::module_& m) {
  py::enum_<DType> dt(m, "dtype", "The element type of a tensor, e.g. tessel.float32.");
  for (int i = 0; i < kNumDTypes; ++i) {
    const auto d = static_cast<DType>(i);
    dt.value(dtype_name(d), d);
    g_dtype_objects[i] = py::object(dt.attr(dtype_name(d))).release();
  }
  dt.def("__repr__", [](DType d) { return std::string("tessel.") + dtype_name(d); })
      .def("__str__", [](DType d) { return std::string("tessel.") + dtype_name(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); })
      .def_property_readonly("is_floating_point",
                             [](DType d) { return is_floating(d) || (is_cast_only(d) && d <= DType::Float4E2M1FN); })
      .def_property_readonly("is_cast_only", [](DType d) { return is_cast_only(d); })
      .def_property_readonly("is_complex", [](DType d) { return is_complex(d); })
      .def_property_readonly("is_signed", [](DType d) { return is_signed(d); });

  py::class_<Device>(m, "device", "A device: 'cpu', 'cuda:0', or a plugin's device type.")
      .def(py::init([](const std::string& s) { return Device(s); }), py::arg("spec"))
      .def(py::init([](const std::string& type, int index) { return Device(Device(type).type, index); }),
           py::arg("type"), py::arg("index"))
      .def_property_readonly("type", [](const Device& d) { return device_type_name(d.type); })
      .def_property_readonly("index", [](const Device& d) -> py::object {
        return d.is_cpu() ? py::object(py::none()) : py::object(py::int_(d.index));
      })
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) {
        return d.is_cpu() ? std::string("device(type='cpu')")
                          : "device(type='" + device_type_name(d.type) + "', index=" + std::to_string(d.index) + ")";
      })
      .def("__eq__", [](const Device& a, py::handle b) {
        try {
          return a == to_device(b);
        } catch (const std::exception&) {
          return false;
        }
      })
      .def("__hash__", [](const Device& d) { return static_cast<int>(d.type) * 65536 + d.index; });

  m.def("promote_types", &promote_types, py::arg("type1"), py::arg("type2"),
        "The smallest dtype both can be cast to (PyTorch's promotion lattice).");
  m.def("can_cast", &can_cast, py::arg("from_"), py::arg("to"),
        "Whether an in-place op may write a `from_` result into a `to` tensor.");
  m.def(
      "result_type",
      [](py::handle a, py::handle b) {
        Scalar sa, sb;
        const Tensor* ta = as_tensor_ptr(a);
        const Tensor* tb = as_tensor_ptr(b);
        if (!ta && !to_scalar(a, sa)) throw py::type_error("result_type expects tensors or numbers");
        if (!tb && !to_scalar(b, sb)) throw py::type_error("result_type expects tensors or numbers");
        const Operand oa = ta ? Operand(ta) : Operand(sa);
        const Operand ob = tb ? Operand(tb) : Operand(sb);
        return result_type({oa, ob});
      },
      py::arg("tensor1"), py::arg("tensor2"), "The dtype an arithmetic op on the two operands returns.");
  m.def("get_default_dtype", &default_float_dtype);
  m.def("set_default_dtype", &set_default_float_dtype, py::arg("d"));
}

}  // namespace tessel::python
