// Bindings for tessel::linalg (tessel._C._linalg): the LAPACK-backed
// factorizations and solvers. tessel/linalg.py gives them torch.linalg's
// names, defaults and return namedtuples. Each call releases the GIL.
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/linalg.h"

namespace tessel::python {

void init_linalg_lapack(py::module_& m) {
  auto l = m.def_submodule("_linalg", "tessel::linalg: LAPACK factorizations and solvers");
  const auto nogil = py::call_guard<py::gil_scoped_release>();
  l.def("solve", &linalg::solve, py::arg("A"), py::arg("B"), py::arg("left") = true, nogil);
  l.def("solve_ex", &linalg::solve_ex, py::arg("A"), py::arg("B"), py::arg("left") = true,
        py::arg("check_errors") = false, nogil);
  l.def("inv", &linalg::inv, py::arg("A"), nogil);
  l.def("inv_ex", &linalg::inv_ex, py::arg("A"), py::arg("check_errors") = false, nogil);
  l.def("lu_factor_ex", &linalg::lu_factor_ex, py::arg("A"), py::arg("pivot") = true,
        py::arg("check_errors") = false, nogil);
  l.def("lu_solve", &linalg::lu_solve, py::arg("LU"), py::arg("pivots"), py::arg("B"), py::arg("left") = true,
        py::arg("adjoint") = false, nogil);
  l.def("det", &linalg::det, py::arg("A"), nogil);
  l.def("slogdet", &linalg::slogdet, py::arg("A"), nogil);
  l.def("cholesky_ex", &linalg::cholesky_ex, py::arg("A"), py::arg("upper") = false,
        py::arg("check_errors") = false, nogil);
  l.def("cholesky", &linalg::cholesky, py::arg("A"), py::arg("upper") = false, nogil);
  l.def("qr", &linalg::qr, py::arg("A"), py::arg("mode") = "reduced", nogil);
  l.def("eigh", &linalg::eigh, py::arg("A"), py::arg("UPLO") = "L", nogil);
  l.def("eigvalsh", &linalg::eigvalsh, py::arg("A"), py::arg("UPLO") = "L", nogil);
  l.def("svd", &linalg::svd, py::arg("A"), py::arg("full_matrices") = true, nogil);
  l.def("svdvals", &linalg::svdvals, py::arg("A"), nogil);
  l.def("eig", &linalg::eig, py::arg("A"), nogil);
  l.def("eigvals", &linalg::eigvals, py::arg("A"), nogil);
  l.def("solve_triangular", &linalg::solve_triangular, py::arg("A"), py::arg("B"), py::kw_only(), py::arg("upper"),
        py::arg("left") = true, py::arg("unitriangular") = false, nogil);
  l.def("ldl_factor_ex", &linalg::ldl_factor_ex, py::arg("A"), py::arg("hermitian") = false,
        py::arg("check_errors") = false, nogil);
  l.def("ldl_solve", &linalg::ldl_solve, py::arg("LD"), py::arg("pivots"), py::arg("B"), py::arg("hermitian") = false,
        nogil);
  l.def("lu_pivots_to_permutation", &linalg::lu_pivots_to_permutation, py::arg("pivots"), py::arg("m"),
        py::arg("dtype"), nogil);
}

}  // namespace tessel::python
