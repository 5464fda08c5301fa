#pragma once
// Conversions between Python objects and tessel values, shared by the bindings.
#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "tessel/tessel.h"

namespace py = pybind11;

namespace tessel::python {

// bool/int/float/complex (and NumPy scalars) -> Scalar; false if `o` is not a number.
bool to_scalar(py::handle o, Scalar& out);
py::object from_scalar(const Scalar& s);
// The tessel.dtype member for d: one object per dtype, so that t.dtype costs no
// allocation (pybind11 makes a new enum instance per cast) and `is` works.
py::handle dtype_object(DType d);

// A shape from (2, 3), [2, 3], or the unpacked form f(2, 3).
Shape to_shape(py::handle o);
Shape shape_from_args(const py::args& args, const char* op);
py::tuple to_tuple(const Shape& s);
std::string type_name(py::handle o);  // the Python type's name, for messages

// None, "cpu", "cuda:0" or a Device.
Device to_device(py::handle o);

// ts.tensor(data): nested sequences, buffers (NumPy arrays), scalars or tensors.
Tensor tensor_from_data(py::handle data, std::optional<DType> dtype, const Device& device);
py::object to_list(const Tensor& t);
// A view of a numpy.ndarray (kept alive by the tensor); TypeError/ValueError for what it cannot view.
Tensor from_numpy(py::handle a);
// The dtype of a PEP 3118 buffer format ("f", "<i8", "Zd", ...); TypeError if unsupported.
DType dtype_from_format(std::string fmt, ssize_t itemsize);

// A Tensor argument or a Python number as a tensor operand.
const Tensor* as_tensor_ptr(py::handle o);

// dim=None | int | tuple of ints -> dims (empty = all).
inline Shape dims_arg(py::handle dim) { return dim.is_none() ? Shape{} : to_shape(dim); }

// dtype= (fallback when None) and device= of the creation and random functions.
inline TensorOptions opts(std::optional<DType> dtype, py::handle device, DType fallback) {
  return TensorOptions(dtype.value_or(fallback), to_device(device));
}

// Creation functions take requires_grad=, as in PyTorch.
inline Tensor with_grad_flag(Tensor t, bool requires_grad) {
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

// The Python object holding `t` (in-place methods return self, as in PyTorch):
// pybind11 finds the existing instance by the address of its C++ value.
inline py::object self_of(const Tensor& t) { return py::cast(&t, py::return_value_policy::reference); }

// A seed from tessel's generator, so that ts.manual_seed reproduces a transform called without one.
inline uint64_t draw_seed() { return static_cast<uint64_t>(randint(0, int64_t(1) << 62, {1}).item<int64_t>()); }

// Runs f without the GIL (a FileError becomes the matching OSError in module.cpp's translator).
template <class F>
auto without_gil(F&& f) {
  py::gil_scoped_release release;
  return f();
}

// Binds f as ts.name(input, ...) and as the method t.name(...).
template <class F, class... Extra>
void def_both(py::module_& m, py::class_<Tensor>& c, const char* name, F&& f, const Extra&... extra) {
  m.def(name, f, py::arg("input"), extra...);
  c.def(name, f, extra...);
}

}  // namespace tessel::python
