// Bindings for the free functions: creation, random, elementwise, reductions, linalg, shape.
#include <pybind11/stl.h>

#include "python/src/convert.h"

namespace tessel::python {

void init_ops(py::module_& m) {
  // ---- creation ----
  m.def("tensor", [](py::handle data, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    return with_grad_flag(tensor_from_data(data, dtype, to_device(device)), requires_grad);
  }, py::arg("data"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
  "A new tensor copied from data: nested lists, NumPy arrays, numbers or tensors.", py::arg("requires_grad") = false);
  m.def("zeros", [](py::args size, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    return with_grad_flag(zeros(shape_from_args(size, "zeros"), opts(dtype, device, default_float_dtype())), requires_grad);
  }, py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("ones", [](py::args size, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    return with_grad_flag(ones(shape_from_args(size, "ones"), opts(dtype, device, default_float_dtype())), requires_grad);
  }, py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("empty", [](py::args size, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    return with_grad_flag(empty(shape_from_args(size, "empty"), opts(dtype, device, default_float_dtype())), requires_grad);
  }, py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("full", [](py::handle size, py::handle value, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    Scalar s;
    if (!to_scalar(value, s)) throw py::type_error("full(): fill_value must be a number");
    return with_grad_flag(full(to_shape(size), s, opts(dtype, device, s.dtype())), requires_grad);
  }, py::arg("size"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
  py::arg("device") = py::none(), py::arg("requires_grad") = false);
  auto like = [](const Tensor& t, std::optional<DType> dtype, py::handle device) {
    return TensorOptions(dtype.value_or(t.dtype()), device.is_none() ? t.device() : to_device(device));
  };
  m.def("zeros_like", [like](const Tensor& t, std::optional<DType> d, py::handle dev, bool requires_grad) {
    return with_grad_flag(zeros(t.shape(), like(t, d, dev)), requires_grad);
  }, py::arg("input"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("ones_like", [like](const Tensor& t, std::optional<DType> d, py::handle dev, bool requires_grad) {
    return with_grad_flag(ones(t.shape(), like(t, d, dev)), requires_grad);
  }, py::arg("input"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("empty_like", [like](const Tensor& t, std::optional<DType> d, py::handle dev, bool requires_grad) {
    return with_grad_flag(empty(t.shape(), like(t, d, dev)), requires_grad);
  }, py::arg("input"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("full_like", [like](const Tensor& t, py::handle value, std::optional<DType> d, py::handle dev, bool requires_grad) {
    Scalar s;
    if (!to_scalar(value, s)) throw py::type_error("full_like(): fill_value must be a number");
    return with_grad_flag(full(t.shape(), s, like(t, d, dev)), requires_grad);
  }, py::arg("input"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
  py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("arange", [](py::handle start, py::handle end, py::handle step, std::optional<DType> dtype,
                     py::handle device, bool requires_grad) {
    Scalar a, b, s(int64_t{1});
    if (!to_scalar(start, a) || (!end.is_none() && !to_scalar(end, b)) || (!step.is_none() && !to_scalar(step, s))) {
      throw py::type_error("arange(): start, end and step must be numbers");
    }
    if (end.is_none()) return with_grad_flag(arange(Scalar(int64_t{0}), a, s, dtype, to_device(device)), requires_grad);
    return with_grad_flag(arange(a, b, s, dtype, to_device(device)), requires_grad);
  }, py::arg("start"), py::arg("end") = py::none(), py::arg("step") = py::none(), py::kw_only(),
  py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("linspace", [](double start, double end, int64_t steps, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    return with_grad_flag(linspace(start, end, steps, opts(dtype, device, default_float_dtype())), requires_grad);
  }, py::arg("start"), py::arg("end"), py::arg("steps"), py::kw_only(), py::arg("dtype") = py::none(),
  py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("eye", [](int64_t n, std::optional<int64_t> mm, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    return with_grad_flag(eye(n, mm, opts(dtype, device, default_float_dtype())), requires_grad);
  }, py::arg("n"), py::arg("m") = py::none(), py::kw_only(), py::arg("dtype") = py::none(),
  py::arg("device") = py::none(), py::arg("requires_grad") = false);

  // ---- random: python/src/random.cpp ----

  // ---- quantization ----
  m.def("quantize_per_tensor", [](const Tensor& x, double scale, int64_t zp, DType dtype) {
    return quantize_per_tensor(x, scale, zp, dtype);
  }, py::arg("input"), py::arg("scale"), py::arg("zero_point"), py::arg("dtype") = DType::Int8,
  "int8/uint8 values clamp(round(x / scale) + zero_point), rounding half to even.");
  m.def("dequantize", [](const Tensor& q, double scale, int64_t zp, DType dtype) {
    return dequantize(q, scale, zp, dtype);
  }, py::arg("input"), py::arg("scale"), py::arg("zero_point"), py::kw_only(), py::arg("dtype") = DType::Float32);
  m.def("quantize_per_channel", [](const Tensor& x, const Tensor& s, const Tensor& z, int64_t axis, DType dtype) {
    return quantize_per_channel(x, s, z, axis, dtype);
  }, py::arg("input"), py::arg("scales"), py::arg("zero_points"), py::arg("axis"), py::arg("dtype") = DType::Int8);
  m.def("dequantize_per_channel", [](const Tensor& q, const Tensor& s, const Tensor& z, int64_t axis, DType dtype) {
    return dequantize_per_channel(q, s, z, axis, dtype);
  }, py::arg("input"), py::arg("scales"), py::arg("zero_points"), py::arg("axis"), py::kw_only(),
     py::arg("dtype") = DType::Float32);

  // ---- runtime ----
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &get_num_threads);
}

}  // namespace tessel::python
