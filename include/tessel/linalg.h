#pragma once
// Factorizations and solvers of torch.linalg (src/ops/linalg_lapack.cpp), on
// batches of matrices [..., m, n] in float32/float64/complex64/complex128,
// computed by LAPACK (kernels/cpu/linalg_lapack.cpp). Real inputs carry
// gradients (src/autograd/rules_linalg_lapack.cpp); the python module
// tessel.linalg builds the rest (inv, pinv, lstsq, svdvals, ...) from these.
#include <string>
#include <tuple>
#include <utility>

#include "tessel/tensor.h"

namespace tessel::linalg {

// A X = B (left) or X A = B (right), A [..., n, n] and B [..., n, k] (or [..., n]
// for a vector), batch dims broadcast. solve raises on a singular A naming the
// batch index; solve_ex returns info (0, or i > 0 when U[i-1, i-1] == 0) instead.
TESSEL_API Tensor solve(const Tensor& A, const Tensor& B, bool left = true);
TESSEL_API std::pair<Tensor, Tensor> solve_ex(const Tensor& A, const Tensor& B, bool left = true,
                                              bool check_errors = false);
// A^-1 (solve against the identity); inv_ex returns info instead of raising.
TESSEL_API Tensor inv(const Tensor& A);
TESSEL_API std::pair<Tensor, Tensor> inv_ex(const Tensor& A, bool check_errors = false);
// P L U of A [..., m, n]: LU packed (L unit lower, U upper), pivots int32 1-based
// (row i was swapped with pivots[i] - 1, in order), info int32 [...].
TESSEL_API std::tuple<Tensor, Tensor, Tensor> lu_factor_ex(const Tensor& A, bool pivot = true,
                                                           bool check_errors = false);
// Solves with the factorization of lu_factor: A X = B, or A^T X = B (adjoint; A^H for complex).
TESSEL_API Tensor lu_solve(const Tensor& LU, const Tensor& pivots, const Tensor& B, bool left = true,
                           bool adjoint = false);
TESSEL_API Tensor det(const Tensor& A);
// sign (+-1, or a unit complex) and log|det|; a singular A gives (0, -inf).
TESSEL_API std::pair<Tensor, Tensor> slogdet(const Tensor& A);
// L L^H = A (or U^H U with upper); info > 0 is the order of the leading minor that is not positive definite.
TESSEL_API std::pair<Tensor, Tensor> cholesky_ex(const Tensor& A, bool upper = false, bool check_errors = false);
TESSEL_API Tensor cholesky(const Tensor& A, bool upper = false);
// mode: "reduced", "complete" or "r" (Q is then an empty tensor).
TESSEL_API std::pair<Tensor, Tensor> qr(const Tensor& A, const std::string& mode = "reduced");
// Eigenvalues ascending (real) and orthonormal eigenvectors of a symmetric/Hermitian A,
// read from its lower ("L") or upper ("U") triangle.
TESSEL_API std::pair<Tensor, Tensor> eigh(const Tensor& A, const std::string& UPLO = "L");
TESSEL_API Tensor eigvalsh(const Tensor& A, const std::string& UPLO = "L");
// A = U diag(S) Vh, S descending; full_matrices gives square U and Vh.
TESSEL_API std::tuple<Tensor, Tensor, Tensor> svd(const Tensor& A, bool full_matrices = true);
TESSEL_API Tensor svdvals(const Tensor& A);
// Eigen-decomposition of a general square A: complex eigenvalues and eigenvectors (columns, unit norm).
TESSEL_API std::pair<Tensor, Tensor> eig(const Tensor& A);
TESSEL_API Tensor eigvals(const Tensor& A);
// A triangular; solves A X = B (left) or X A = B; unitriangular ignores A's diagonal (taken as ones).
TESSEL_API Tensor solve_triangular(const Tensor& A, const Tensor& B, bool upper, bool left = true,
                                   bool unitriangular = false);
// Bunch-Kaufman A = P L D L^T P^T (L D L^H when hermitian) of a symmetric (Hermitian) A, read from its
// lower triangle: LD packs L and D, and pivots (int32 [..., n]) are LAPACK's ?sytrf/?hetrf ipiv (1-based,
// negative for a 2x2 block of D); info > 0 when D[info-1, info-1] is zero. Not differentiable.
TESSEL_API std::tuple<Tensor, Tensor, Tensor> ldl_factor_ex(const Tensor& A, bool hermitian = false,
                                                            bool check_errors = false);
// Solves A X = B from ldl_factor's (LD, pivots); B [..., n, k], batch dims broadcast.
TESSEL_API Tensor ldl_solve(const Tensor& LD, const Tensor& pivots, const Tensor& B, bool hermitian = false);
// The permutation matrices P [..., m, m] of dtype `dtype` with A = P L U, from lu_factor's pivots [..., k].
TESSEL_API Tensor lu_pivots_to_permutation(const Tensor& pivots, int64_t m, DType dtype);

// Kernel contracts (ops linalg_*, batch flattened to one leading dim, inputs contiguous):
// linalg_solve: in A [B,n,n], B [B,n,k] -> out X [B,n,k], info int32 [B]
// linalg_lu_factor: in A [B,m,n] -> out LU [B,m,n], pivots int32 [B,min(m,n)], info int32 [B]
// linalg_lu_solve: in LU [B,n,n], pivots [B,n], B [B,n,k] -> out X [B,n,k]; params LinalgParams::trans
// linalg_cholesky: in A [B,n,n] -> out L [B,n,n] (lower, zeros above), info int32 [B]
// linalg_qr: in A [B,m,n] -> out Q [B,m,mq], R [B,kr,n]; params mode (0 reduced, 1 complete, 2 r: Q untouched)
// linalg_eigh: in A [B,n,n] (lower triangle read) -> out w real [B,n], V [B,n,n], info; params compute_v
// linalg_svd: in A [B,m,n] -> out U [B,m,ku], S real [B,k], Vh [B,kv,n], info; params full, compute_v
// linalg_eig: in A [B,n,n] -> out w complex [B,n], V complex [B,n,n], info; params compute_v
// linalg_solve_triangular: in A [B,n,n], B [B,n,k] -> out X [B,n,k]; params upper, unit
// linalg_ldl_factor: in A [B,n,n] -> out LD [B,n,n], pivots int32 [B,n], info int32 [B]; params mode (1: hermitian)
// linalg_ldl_solve: in LD [B,n,n], pivots [B,n], B [B,n,k] -> out X [B,n,k]; params mode (1: hermitian)
struct LinalgParams {
  int trans = 0;  // 0: A, 1: A^T, 2: A^H
  int mode = 0;
  bool compute_v = true;
  bool full = false;
  bool upper = false;
  bool unit = false;
};

}  // namespace tessel::linalg
