// The tessel._C extension: one init function per area, mirroring src/.
#include "python/src/convert.h"
#include "tessel/build_info.h"

namespace tessel::python {
void init_dtype(py::module_& m);
void init_tensor(py::module_& m);
void init_index(py::module_& m);
void init_ops(py::module_& m);
void init_random(py::module_& m);
void init_registry(py::module_& m);
void init_interop(py::module_& m);
void init_elementwise(py::module_& m);
void init_reduce(py::module_& m);
void init_linalg(py::module_& m);
void init_shape(py::module_& m);
void init_sort(py::module_& m);
void init_autograd(py::module_& m);
void init_nn(py::module_& m);
void init_optim(py::module_& m);
void init_io(py::module_& m);
void init_text(py::module_& m);
void init_image(py::module_& m);
void init_audio(py::module_& m);
void init_data(py::module_& m);
void init_fft(py::module_& m);
void init_linalg_lapack(py::module_& m);
void init_amp(py::module_& m);
void init_onnx(py::module_& m);
void init_distributed(py::module_& m);
void init_cuda(py::module_& m);
void init_trees(py::module_& m);
}  // namespace tessel::python

PYBIND11_MODULE(_C, m) {
  using namespace tessel;
  m.doc() = "tessel's C++ core";
  // tessel's exception kinds become the Python exceptions users expect.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileError& e) {
      // The OSError subclass that matches errno (FileNotFoundError, PermissionError, ...).
      PyObject* exc = PyObject_CallFunction(PyExc_OSError, "is", e.error_number(), e.what());
      if (exc) {
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc);
        Py_DECREF(exc);
      }
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  python::init_dtype(m);
  python::init_tensor(m);
  python::init_index(m);
  python::init_elementwise(m);
  python::init_reduce(m);
  python::init_linalg(m);
  python::init_shape(m);
  python::init_sort(m);
  python::init_ops(m);
  python::init_random(m);
  python::init_registry(m);
  python::init_interop(m);
  python::init_autograd(m);
  python::init_nn(m);
  python::init_optim(m);
  python::init_io(m);
  python::init_data(m);  // first: the Transform base class the image and audio transforms derive from
  python::init_text(m);
  python::init_image(m);
  python::init_audio(m);
  python::init_fft(m);
  python::init_linalg_lapack(m);
  python::init_amp(m);
  python::init_onnx(m);
  python::init_distributed(m);
  python::init_cuda(m);
  python::init_trees(m);
  m.attr("__version__") = version();
  m.def(
      "_build_info",
      [] {
        py::list out;
        for (const BuildComponent& c : build_info()) {
          py::dict details;
          for (const auto& [k, v] : c.details) details[py::str(k)] = v;
          out.append(py::make_tuple(c.name, c.enabled, c.version, details));
        }
        return out;
      },
      "[(name, enabled, version, {detail: value})] of tessel::build_info(): what this build holds.");
}
