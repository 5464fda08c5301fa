// Built instead of linalg_lapack.cpp when CMake finds no LAPACK: the linalg
// ops are registered and raise a clear error instead of "not implemented".
#include "kernels/cpu/gemm_blas.h"
#include "tessel/error.h"
#include "tessel/registry.h"

namespace tessel::cpu {
namespace {

const bool registered = [] {
  auto& reg = Registry::get();
  for (const char* name : {"linalg_solve", "linalg_lu_factor", "linalg_lu_solve", "linalg_cholesky", "linalg_qr",
                           "linalg_eigh", "linalg_svd", "linalg_eig", "linalg_solve_triangular",
                           "linalg_ldl_factor", "linalg_ldl_solve"}) {
    const OpId id = reg.op_id(name);
    for (DType d : {DType::Float32, DType::Float64, DType::Complex64, DType::Complex128}) {
      reg.add(id, DeviceType::CPU, d, [name](const KernelCall&) {
        fail<NotImplementedError>(name, "tessel was built without LAPACK (TESSEL_WITH_LAPACK=OFF): install "
                                        "libopenblas-openmp-dev (or liblapack-dev) and reconfigure");
      });
    }
  }
  return true;
}();

}  // namespace
bool blas_sgemm(char, char, int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t) {
  return false;
}

}  // namespace tessel::cpu
