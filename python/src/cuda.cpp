// Bindings for ts.cuda (python/tessel/cuda/__init__.py wraps them as PyTorch names).
#include "python/src/convert.h"
#include <cstring>

#include "tessel/cuda.h"
#include "tessel/tensor.h"

namespace tessel::python {

namespace {
// A contiguous copy of a CPU tensor in page-locked memory (tensor.pin_memory()).
Tensor pin_memory(const Tensor& t) {
  TS_CHECK(t.device().type == DeviceType::CPU, ValueError, "pin_memory", "expected a CPU tensor, got one on ",
           t.device());
  const Tensor c = t.contiguous();
  const size_t n = static_cast<size_t>(c.numel()) * itemsize(c.dtype());
  void* p = cuda::host_alloc_pinned(n);
  if (n) std::memcpy(p, c.data_ptr(), n);
  auto st = std::make_shared<StorageImpl>(p, n, Device(DeviceType::CPU),
                                          [](void*, void* d) { cuda::host_free_pinned(d); }, nullptr);
  return make_tensor(std::move(st), c.shape(), contiguous_strides(c.shape()), 0, c.dtype());
}
}  // namespace

void init_cuda(py::module_& m) {
  py::module_ c = m.def_submodule("_cuda", "the CUDA runtime: devices and the caching allocator");
  c.def("is_compiled", &cuda::is_compiled, "Whether this build has the CUDA backend (TESSEL_WITH_CUDA).");
  c.def("version", &cuda::version, "The CUDA toolkit version this build was compiled with ('' without CUDA).");
  c.def("is_available", &cuda::is_available, "Whether a CUDA device is usable.");
  c.def("device_count", &cuda::device_count);
  c.def("unavailable_reason", &cuda::unavailable_reason, "Why no device is usable ('' when one is).");
  c.def("current_device", &cuda::current_device);
  c.def("set_device", &cuda::set_device, py::arg("device"));
  c.def("synchronize", &cuda::synchronize, py::arg("device") = -1, py::call_guard<py::gil_scoped_release>());
  c.def("get_device_name", &cuda::device_name, py::arg("device") = -1);
  c.def("memory_allocated", &cuda::memory_allocated, py::arg("device") = -1);
  c.def("max_memory_allocated", &cuda::max_memory_allocated, py::arg("device") = -1);
  c.def("memory_reserved", &cuda::memory_reserved, py::arg("device") = -1);
  c.def("max_memory_reserved", &cuda::max_memory_reserved, py::arg("device") = -1);
  c.def("reset_peak_memory_stats", &cuda::reset_peak_memory_stats, py::arg("device") = -1);
  c.def("empty_cache", &cuda::empty_cache);
  c.def("set_memory_cap", &cuda::set_memory_cap, py::arg("bytes"), py::arg("device") = -1);
  c.def("set_matmul_allow_tf32", &cuda::set_matmul_allow_tf32, py::arg("allow"));
  c.def("matmul_allow_tf32", &cuda::matmul_allow_tf32);
  c.def("set_cudnn_allow_tf32", &cuda::set_cudnn_allow_tf32, py::arg("allow"));
  c.def("cudnn_allow_tf32", &cuda::cudnn_allow_tf32);
  c.def("cudnn_version", &cuda::cudnn_version, "cuDNN's version once it loads, 0 when it cannot be loaded.");
  // Streams and events as integer handles; python/tessel/cuda/streams.py wraps them.
  c.def("stream_create", &cuda::stream_create, py::arg("device") = -1, py::arg("priority") = 0);
  c.def("stream_destroy", &cuda::stream_destroy, py::arg("stream"), py::arg("device"));
  c.def("current_stream", &cuda::current_stream_handle, py::arg("device") = -1);
  c.def("set_current_stream", &cuda::set_current_stream, py::arg("stream"), py::arg("device") = -1);
  c.def("stream_synchronize", &cuda::stream_synchronize, py::arg("stream"), py::arg("device"),
        py::call_guard<py::gil_scoped_release>());
  c.def("stream_query", &cuda::stream_query, py::arg("stream"), py::arg("device"));
  c.def("stream_wait_event", &cuda::stream_wait_event, py::arg("stream"), py::arg("event"), py::arg("device"));
  c.def("stream_priority_range", &cuda::stream_priority_range, py::arg("device") = -1);
  c.def("event_create", &cuda::event_create, py::arg("device"), py::arg("enable_timing"), py::arg("blocking"));
  c.def("event_destroy", &cuda::event_destroy, py::arg("event"), py::arg("device"));
  c.def("event_record", &cuda::event_record, py::arg("event"), py::arg("stream"), py::arg("device"));
  c.def("event_synchronize", &cuda::event_synchronize, py::arg("event"), py::arg("device"),
        py::call_guard<py::gil_scoped_release>());
  c.def("event_query", &cuda::event_query, py::arg("event"), py::arg("device"));
  c.def("event_elapsed_ms", &cuda::event_elapsed_ms, py::arg("start"), py::arg("end"), py::arg("device"));
  c.def("record_stream", [](const Tensor& t, cuda::StreamHandle s) {
    TS_CHECK(t.device().type == DeviceType::CUDA, ValueError, "record_stream", "expected a CUDA tensor, got one on ",
             t.device());
    cuda::record_stream(t.storage()->data(), s, t.device().index);
  }, py::arg("tensor"), py::arg("stream"));
  c.def("pin_memory", &pin_memory, py::arg("tensor"));
  c.def("is_pinned", [](const Tensor& t) {
    return t.device().type == DeviceType::CPU && t.storage() && cuda::is_pinned(t.storage()->data());
  }, py::arg("tensor"));
}

}  // namespace tessel::python
