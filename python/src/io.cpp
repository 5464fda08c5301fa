// Bindings for safetensors files and bytes (tessel._C._io); the Python-facing
// functions are in python/tessel/io.py. File IO runs without the GIL.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <filesystem>

#include <cstring>

#include "python/src/convert.h"
#include "tessel/autograd.h"
#include "tessel/io.h"

namespace tessel::python {

namespace {

using Metadata = std::map<std::string, std::string>;

// UTF-8 of a str; a lone surrogate raises UnicodeEncodeError.
std::string utf8(py::handle s, const char* what) {
  if (!PyUnicode_Check(s.ptr())) throw py::type_error(std::string(what) + " must be str, got " + type_name(s));
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s.ptr(), &n);
  if (!p) throw py::error_already_set();
  return std::string(p, static_cast<size_t>(n));
}

NamedTensors to_named_tensors(const py::dict& tensors) {
  NamedTensors out;
  out.reserve(tensors.size());
  for (auto [k, v] : tensors) {
    std::string name = utf8(k, "tensor names");
    if (!py::isinstance<Tensor>(v)) {
      throw py::type_error("tensor '" + name + "' must be a tessel.Tensor, got " + type_name(v));
    }
    out.emplace_back(std::move(name), py::cast<Tensor>(v));
  }
  return out;
}

Metadata to_metadata(py::handle metadata) {
  Metadata out;
  if (metadata.is_none()) return out;
  if (!PyDict_Check(metadata.ptr())) throw py::type_error("metadata must be a dict of str -> str or None");
  for (auto [k, v] : py::reinterpret_borrow<py::dict>(metadata))
    out[utf8(k, "metadata keys")] = utf8(v, "metadata values");
  return out;
}

py::object to_python(SafetensorsFile&& f, bool return_metadata) {
  py::dict tensors;
  for (auto& [name, t] : f.tensors) tensors[py::str(name)] = py::cast(std::move(t));
  if (!return_metadata) return tensors;
  py::dict metadata;
  for (const auto& [k, v] : f.metadata) metadata[py::str(k)] = py::str(v);
  return py::make_tuple(tensors, metadata);
}

}  // namespace

void init_io(py::module_& m) {
  py::module_ io = m.def_submodule("_io", "safetensors serialization (use tessel.save / tessel.load)");

  io.def(
      "save_file",
      [](const py::dict& tensors, const std::filesystem::path& path, py::handle metadata) {
        NamedTensors named = to_named_tensors(tensors);
        Metadata md = to_metadata(metadata);
        without_gil([&] {
          save_safetensors(path.string(), named, md);
          return true;
        });
      },
      py::arg("tensors"), py::arg("path"), py::arg("metadata") = py::none(),
      "Writes a dict of str -> Tensor to a safetensors file; metadata is a dict of str -> str.");

  io.def(
      "save",
      [](const py::dict& tensors, py::handle metadata) {
        NamedTensors named = to_named_tensors(tensors);
        Metadata md = to_metadata(metadata);
        const std::string out = without_gil([&] { return serialize_safetensors(named, md); });
        return py::bytes(out.data(), out.size());
      },
      py::arg("tensors"), py::arg("metadata") = py::none(), "The safetensors bytes of a dict of str -> Tensor.");

  io.def(
      "load_file",
      [](const std::filesystem::path& path, bool return_metadata) {
        return to_python(without_gil([&] { return read_safetensors(path.string()); }), return_metadata);
      },
      py::arg("path"), py::arg("return_metadata") = false,
      "Reads a safetensors file into a dict of str -> Tensor (in header order), or (tensors, metadata).");

  io.def(
      "load",
      [](py::handle data, bool return_metadata) {
        Py_buffer view;
        if (PyObject_GetBuffer(data.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
        struct Release {
          Py_buffer* v;
          ~Release() { PyBuffer_Release(v); }
        } release{&view};
        const auto size = static_cast<size_t>(view.len);
        return to_python(without_gil([&] { return deserialize_safetensors(view.buf, size); }), return_metadata);
      },
      py::arg("data"), py::arg("return_metadata") = false,
      "Reads safetensors bytes (any contiguous buffer) into a dict of str -> Tensor, or (tensors, metadata).");

  // Raw bytes for pickling tensors (python/tessel/_pickle.py): every dtype, bfloat16 and complex128 included.
  io.def(
      "tensor_bytes",
      [](const Tensor& t) {
        autograd::NoGradGuard no_grad;
        Tensor c = t.device().is_cpu() ? t : t.cpu();
        c = c.contiguous();
        return py::bytes(static_cast<const char*>(c.data_ptr()), c.nbytes());
      },
      py::arg("tensor"), "The tensor's values as contiguous little-endian bytes.");
  io.def(
      "tensor_from_bytes",
      [](py::bytes data, DType dtype, py::handle shape) {
        const Shape s = to_shape(shape);
        Tensor t = empty(s, TensorOptions(dtype));
        char* p = nullptr;
        ssize_t n = 0;
        if (PyBytes_AsStringAndSize(data.ptr(), &p, &n) != 0) throw py::error_already_set();
        if (static_cast<size_t>(n) != t.nbytes()) {
          throw py::value_error("tensor_from_bytes(): " + std::to_string(n) + " bytes do not hold a " +
                                std::string(dtype_name(dtype)) + " tensor of " + std::to_string(t.numel()) +
                                " elements");
        }
        if (n) std::memcpy(t.data_ptr(), p, static_cast<size_t>(n));
        return t;
      },
      py::arg("data"), py::arg("dtype"), py::arg("shape"), "A new CPU tensor holding a copy of `data`.");
}

}  // namespace tessel::python
