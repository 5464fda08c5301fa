// Zero-copy exchange with NumPy (buffer protocol, from_numpy) and DLPack.
#include <pybind11/stl.h>

#include <cstring>

#include "python/src/convert.h"
#include "tessel/cuda.h"
#include "tessel/dlpack.h"

namespace tessel::python {

namespace {

const char* buffer_format(DType d) {
  switch (d) {
    case DType::Bool: return "?";
    case DType::UInt8: return "B";
    case DType::Int8: return "b";
    case DType::Int16: return "h";
    case DType::Int32: return "i";
    case DType::Int64: return "q";
    case DType::UInt16: return "H";
    case DType::UInt32: return "I";
    case DType::UInt64: return "Q";
    case DType::Float16: return "e";
    case DType::Float32: return "f";
    case DType::Float64: return "d";
    case DType::Complex64: return "Zf";
    case DType::Complex128: return "Zd";
    default: break;
  }
  // bfloat16 and the cast-only dtypes: .numpy() gives ml_dtypes arrays (python/tessel/_numpy.py).
  throw py::buffer_error(std::string(dtype_name(d)) + " has no buffer (PEP 3118) format; use .numpy(), DLPack or .float()");
}

// Keeps a Python object alive as long as the storage that wraps its memory.
void release_pyobject(void* ctx, void*) {
  if (!Py_IsInitialized()) return;  // at interpreter exit the object is gone already
  PyGILState_STATE s = PyGILState_Ensure();
  Py_DECREF(static_cast<PyObject*>(ctx));
  PyGILState_Release(s);
}

// numpy.ndarray (or a subclass) by type name first: hasattr(a, "__array_interface__")
// builds NumPy's interface dict, about 1 us, as long as the rest of from_numpy.
bool array_like(py::handle a) {
  for (PyTypeObject* t = Py_TYPE(a.ptr()); t != nullptr; t = t->tp_base)
    if (std::strcmp(t->tp_name, "numpy.ndarray") == 0) return true;
  return py::hasattr(a, "__array_interface__");
}

}  // namespace

Tensor from_numpy(py::handle a) {
  if (!PyObject_CheckBuffer(a.ptr()) || !array_like(a)) {
    throw py::type_error("from_numpy expects a numpy.ndarray, got " + type_name(a));
  }
  py::object owner = py::reinterpret_borrow<py::object>(a);
  py::buffer_info buf;
  DType dt = DType::Bool;
  try {
    buf = py::reinterpret_borrow<py::buffer>(a).request();
    dt = dtype_from_format(buf.format, buf.itemsize);
  } catch (py::error_already_set&) {
    // ml_dtypes' types (bfloat16, float8, float4, int4, int2) have no buffer format: their
    // bytes are read through an unsigned view of the same size and keep the dtype of that name.
    const auto name = py::str(a.attr("dtype").attr("name")).cast<std::string>();
    const std::optional<DType> named = [&]() -> std::optional<DType> {
      try {
        return dtype_from_name("from_numpy", name.c_str());
      } catch (const TypeError&) {
        return std::nullopt;
      }
    }();
    if (!named || !(is_cast_only(*named) || *named == DType::BFloat16)) throw;
    dt = *named;
    owner = a.attr("view")(itemsize(dt) == 2 ? "uint16" : "uint8");
    buf = py::reinterpret_borrow<py::buffer>(owner).request();
  }
  Shape sizes(buf.shape.begin(), buf.shape.end()), strides;
  for (ssize_t s : buf.strides) {
    if (s < 0) throw py::value_error("from_numpy: arrays with negative strides are not supported; copy it first");
    if (s % buf.itemsize) throw py::value_error("from_numpy: strides must be multiples of the item size");
    strides.push_back(s / buf.itemsize);
  }
  int64_t span = 1;
  for (size_t i = 0; i < sizes.size(); ++i) span += (sizes[i] - 1) * strides[i];
  if (shape_numel(sizes) == 0) span = 0;
  Py_INCREF(owner.ptr());
  auto st = std::make_shared<StorageImpl>(buf.ptr, static_cast<size_t>(span) * itemsize(dt), Device(DeviceType::CPU),
                                          &release_pyobject, owner.ptr());
  return make_tensor(std::move(st), sizes, strides, 0, dt);
}

namespace {

template <class Managed>
void capsule_destructor(PyObject* cap, const char* name) {
  // Only an unconsumed capsule still owns its tensor.
  if (PyCapsule_IsValid(cap, name)) {
    auto* m = static_cast<Managed*>(PyCapsule_GetPointer(cap, name));
    if (m && m->deleter) m->deleter(m);
  } else {
    PyErr_Clear();
  }
}

py::object dlpack(const Tensor& self, py::handle stream, py::handle max_version, py::handle dl_device,
                  py::handle copy) {
  Tensor t = self;
  if (t.device().type == DeviceType::CUDA) {
    // The consumer's stream (DLPack: None or 1 the legacy default stream, 2 the
    // per-thread one, -1 no synchronisation, 0 ambiguous) waits for ours.
    const int64_t s = stream.is_none() ? 1 : py::cast<int64_t>(stream);
    if (s == 0) throw py::value_error("__dlpack__: stream=0 is ambiguous for CUDA; use 1 (legacy default) or 2");
    if (s != -1) cuda::stream_wait_current(static_cast<cuda::StreamHandle>(s), t.device().index);
  }  // CPU tensors need no stream synchronisation
  uint64_t flags = 0;
  if (!dl_device.is_none()) {
    const auto want = py::cast<std::pair<int, int>>(dl_device);
    const DLDevice have = to_dl_device(t.device());
    if (want.first != have.device_type || want.second != have.device_id) {
      if (!copy.is_none() && !py::cast<bool>(copy)) {
        throw py::buffer_error("__dlpack__: a copy to another device is needed but copy=False");
      }
      if (want.first == kDLCPU) t = t.cpu();
      else if (want.first == kDLCUDA) t = t.to(Device(DeviceType::CUDA, want.second));
      else throw py::buffer_error("__dlpack__: can only copy to the CPU or a CUDA device");
      flags |= kDLFlagIsCopied;
    }
  }
  if (!copy.is_none() && py::cast<bool>(copy) && !(flags & kDLFlagIsCopied)) {
    t = t.clone();
    flags |= kDLFlagIsCopied;
  }
  bool versioned = false;
  if (!max_version.is_none()) versioned = py::cast<std::pair<int, int>>(max_version).first >= 1;
  if (versioned) {
    auto* m = to_dlpack_versioned(t, flags);
    return py::reinterpret_steal<py::object>(PyCapsule_New(m, "dltensor_versioned", [](PyObject* c) {
      capsule_destructor<DLManagedTensorVersioned>(c, "dltensor_versioned");
    }));
  }
  auto* m = to_dlpack(t);
  return py::reinterpret_steal<py::object>(
      PyCapsule_New(m, "dltensor", [](PyObject* c) { capsule_destructor<DLManagedTensor>(c, "dltensor"); }));
}

Tensor from_dlpack_obj(py::handle x) {
  py::object cap;
  if (PyCapsule_CheckExact(x.ptr())) {
    cap = py::reinterpret_borrow<py::object>(x);
  } else if (py::hasattr(x, "__dlpack__")) {
    // A CUDA producer is asked to order its work before our current stream
    // (1: the legacy default stream); without a runtime, refuse before asking.
    py::object stream = py::none();
    if (py::hasattr(x, "__dlpack_device__")) {
      const auto dev = py::cast<std::pair<int, int>>(x.attr("__dlpack_device__")());
      if (dev.first == kDLCUDA || dev.first == kDLCUDAManaged) {
        (void)from_dl_device(DLDevice{static_cast<DLDeviceType>(dev.first), dev.second});  // clear error if none
        const cuda::StreamHandle cur = cuda::current_stream_handle(dev.second);
        stream = py::int_(cur == 0 ? 1 : cur);
      }
    }
    try {
      cap = x.attr("__dlpack__")(py::arg("stream") = stream, py::arg("max_version") = py::make_tuple(1, 0));
    } catch (const py::error_already_set& e) {
      if (!e.matches(PyExc_TypeError)) throw;
      cap = stream.is_none() ? x.attr("__dlpack__")()  // a producer that predates max_version
                             : x.attr("__dlpack__")(py::arg("stream") = stream);
    }
  } else {
    throw py::type_error("from_dlpack expects an object with __dlpack__ or a DLPack capsule, got " + type_name(x));
  }
  if (PyCapsule_IsValid(cap.ptr(), "dltensor_versioned")) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap.ptr(), "dltensor_versioned"));
    Tensor t = from_dlpack(m);  // throws before taking ownership on bad input
    PyCapsule_SetName(cap.ptr(), "used_dltensor_versioned");
    return t;
  }
  if (PyCapsule_IsValid(cap.ptr(), "dltensor")) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
    Tensor t = from_dlpack(m);
    PyCapsule_SetName(cap.ptr(), "used_dltensor");
    return t;
  }
  throw py::value_error("from_dlpack: the capsule is not an unconsumed DLPack tensor");
}

}  // namespace

void init_interop(py::module_& m) {
  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  c.def_buffer([](const Tensor& t) -> py::buffer_info {
    if (!t.device().is_cpu()) throw py::buffer_error("only CPU tensors expose a buffer; call .cpu() first");
    std::vector<ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
    for (int64_t s : t.strides()) strides.push_back(static_cast<ssize_t>(s * static_cast<int64_t>(t.itemsize())));
    return py::buffer_info(t.data_ptr(), static_cast<ssize_t>(t.itemsize()), buffer_format(t.dtype()),
                           static_cast<ssize_t>(t.dim()), shape, strides, /*readonly=*/false);
  });
  c.def("__dlpack__", &dlpack, py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
        py::arg("dl_device") = py::none(), py::arg("copy") = py::none());
  c.def("__dlpack_device__", [](const Tensor& t) {
    const DLDevice d = to_dl_device(t.device());
    return py::make_tuple(static_cast<int>(d.device_type), d.device_id);
  });
  m.def("from_numpy", &from_numpy, py::arg("ndarray"), "A tensor sharing memory with a NumPy array.");
  m.def("from_dlpack", &from_dlpack_obj, py::arg("ext_tensor"),
        "A tensor sharing memory with any DLPack producer (NumPy, PyTorch, ...).");
}

}  // namespace tessel::python
