// Bindings for tessel::fft (tessel._C._fft) and the complex <-> real views.
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/fft.h"

namespace tessel::python {

void init_fft(py::module_& m) {
  auto f = m.def_submodule("_fft", "tessel::fft: discrete Fourier transforms");
  f.def("rfft", &fft::rfft, py::arg("input"), py::arg("n") = py::none(), py::arg("dim") = -1,
        py::arg("norm") = "backward");
  f.def("irfft", &fft::irfft, py::arg("input"), py::arg("n") = py::none(), py::arg("dim") = -1,
        py::arg("norm") = "backward");
  for (auto [name, fn] : {std::pair{"fft", &fft::fft}, {"ifft", &fft::ifft}, {"hfft", &fft::hfft},
                          {"ihfft", &fft::ihfft}, {"fft_real", &fft::fft_real}, {"ifft_real", &fft::ifft_real}})
    f.def(name, fn, py::arg("input"), py::arg("n") = py::none(), py::arg("dim") = -1, py::arg("norm") = "backward");
  for (auto [name, fn] : {std::pair{"fftn", &fft::fftn}, {"ifftn", &fft::ifftn}, {"rfftn", &fft::rfftn},
                          {"irfftn", &fft::irfftn}})
    f.def(name, fn, py::arg("input"), py::arg("s") = py::none(), py::arg("dim") = py::none(),
          py::arg("norm") = "backward");
  f.def("rfft_real", &fft::rfft_real, py::arg("input"), py::arg("n") = py::none(), py::arg("norm") = "backward");
  f.def("irfft_real", &fft::irfft_real, py::arg("input"), py::arg("n"), py::arg("norm") = "backward");
  m.def("view_as_real", &view_as_real, py::arg("input"));
  m.def("view_as_complex", &view_as_complex, py::arg("input"));
  m.def("complex", &tessel::complex, py::arg("real"), py::arg("imag"));
}

}  // namespace tessel::python
