#pragma once
// Derivative rules of the LAPACK-backed linalg ops (rules_linalg_lapack.cpp),
// for real inputs. Each records one node whose backward is written with
// tessel ops (solve, solve_triangular, matmul, ...), so it differentiates again.
#include "src/autograd/rules.h"

namespace tessel::autograd::rules {
// A X = B with A [..., n, n], B and X [..., n, k] (same batch dims).
void linalg_solve(const Tensor& A, const Tensor& B, const Tensor& X);
// d = det(A) [...].
void linalg_det(const Tensor& A, const Tensor& d);
// logabsdet [...] (sign is piecewise constant).
void linalg_slogdet(const Tensor& A, const Tensor& sign, const Tensor& logabsdet);
// L lower with L L^T = A.
void linalg_cholesky(const Tensor& A, const Tensor& L);
// A = Q R, reduced (Q [m, min(m, n)]).
void linalg_qr(const Tensor& A, const Tensor& Q, const Tensor& R);
// A V = V diag(w); the gradient needs distinct eigenvalues when V is used.
void linalg_eigh(const Tensor& A, const Tensor& w, const Tensor& V);
// A V = V diag(L), complex L and V with unit-norm columns; needs distinct eigenvalues. A real or complex.
void linalg_eig(const Tensor& A, const Tensor& L, const Tensor& V);
// A = U diag(S) Vh, reduced; the gradient needs distinct non-zero singular values when U or Vh is used.
void linalg_svd(const Tensor& A, const Tensor& U, const Tensor& S, const Tensor& Vh);
// A X = B, A triangular (upper/lower; unitriangular ignores its diagonal).
void linalg_solve_triangular(const Tensor& A, const Tensor& B, const Tensor& X, bool upper, bool unit);
// A = P L U packed in LU [..., m, n]; P [..., m, m] the permutation (constant).
void linalg_lu_factor(const Tensor& A, const Tensor& LU, const Tensor& P);
}  // namespace tessel::autograd::rules
