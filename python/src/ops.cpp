// Bindings for the free functions: creation, random, elementwise, reductions, linalg, shape.
#include <pybind11/stl.h>

#include "python/src/convert.h"

namespace tessel::python {

namespace {

TensorOptions opts(std::optional<DType> dtype, py::handle device, DType fallback) {
  return TensorOptions(dtype.value_or(fallback), to_device(device));
}

// Creation functions take requires_grad=, as in PyTorch.
Tensor with_grad_flag(Tensor t, bool requires_grad) {
  if (requires_grad) t.set_requires_grad(true);
  return t;
}


}  // namespace

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

  // ---- random ----
  m.def("manual_seed", [](uint64_t s) { manual_seed(s); }, py::arg("seed"));
  m.def("initial_seed", &initial_seed);
  m.def("rand", [](py::args size, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    return with_grad_flag(rand(shape_from_args(size, "rand"), opts(dtype, device, default_float_dtype())), requires_grad);
  }, py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("randn", [](py::args size, std::optional<DType> dtype, py::handle device, bool requires_grad) {
    return with_grad_flag(randn(shape_from_args(size, "randn"), opts(dtype, device, default_float_dtype())), requires_grad);
  }, py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("randint", [](py::args args, std::optional<DType> dtype, py::handle device) {
    // randint(high, size) or randint(low, high, size), as in PyTorch.
    if (args.size() != 2 && args.size() != 3) throw py::type_error("randint(low=0, high, size)");
    const int64_t low = args.size() == 3 ? py::cast<int64_t>(args[0]) : 0;
    const int64_t high = py::cast<int64_t>(args[args.size() - 2]);
    return randint(low, high, to_shape(args[args.size() - 1]), opts(dtype, device, DType::Int64));
  }, py::arg("dtype") = py::none(), py::arg("device") = py::none());
  m.def("uniform_", [](const Tensor& t, double a, double b) { return uniform_(t, a, b); }, py::arg("tensor"),
        py::arg("a") = 0.0, py::arg("b") = 1.0);
  m.def("normal_", [](const Tensor& t, double mean, double std) { return normal_(t, mean, std); },
        py::arg("tensor"), py::arg("mean") = 0.0, py::arg("std") = 1.0);
  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  def_both(m, c, "bernoulli", [](const Tensor& p) { return bernoulli(p); });
  c.def("bernoulli_", [](const Tensor& t, double p) { bernoulli_(t, p); return self_of(t); }, py::arg("p") = 0.5);
  def_both(m, c, "multinomial", [](const Tensor& p, int64_t n, bool r) { return multinomial(p, n, r); },
           py::arg("num_samples"), py::arg("replacement") = false);
  m.def("randperm", [](int64_t n, std::optional<DType> dtype, py::handle device) {
    return randperm(n, opts(dtype, device, DType::Int64));
  }, py::arg("n"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none());
  m.def("dropout", [](const Tensor& t, double p, bool training) { return dropout(t, p, training); },
        py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true);

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
