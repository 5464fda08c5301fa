// Derivative rules of the LAPACK-backed linalg ops (declared in
// rules_linalg_lapack.h; formulas and their conditions in docs/linalg.md).
// Written with tessel ops, so double backward works.
#include "src/autograd/rules_linalg_lapack.h"

#include "tessel/elementwise.h"
#include "tessel/fft.h"
#include "tessel/linalg.h"

namespace tessel::autograd::rules {
namespace {

Tensor eye_like(const Tensor& t, int64_t n) { return eye(n, {}, TensorOptions(t.dtype(), t.device())); }

// 1 / (row - col) off the diagonal, 0 on it: F_ij = 1 / (v_j - v_i).
Tensor inv_gaps(const Tensor& v) {
  const int64_t n = v.size(-1);
  const Tensor I = eye_like(v, n);
  const Tensor E = add(sub(v.unsqueeze(-2), v.unsqueeze(-1)), I);  // 1 on the diagonal: no 1/0
  return mul(reciprocal(E), rsub_one(I));
}

// The conjugate transpose (the transpose of a real matrix): written with it, a rule holds for complex
// matrices too (gradients dL/dRe + i dL/dIm, autograd.h).
Tensor mH(const Tensor& X) { return conj(X).mT(); }

Tensor skew(const Tensor& X) { return sub(X, mH(X)); }

// Re(diag(X)) as a vector [..., n].
Tensor real_diag(const Tensor& X) {
  const Tensor d = X.diagonal(0, -2, -1);
  return is_complex(d.dtype()) ? view_as_real(d.contiguous()).select(-1, 0) : d;
}

}  // namespace

void linalg_solve(const Tensor& A, const Tensor& B, const Tensor& X) {
  const bool na = A.requires_grad();
  record("LinalgSolveBackward", {A, B}, {X},
         [SA = SavedTensor(A), SX = na ? SavedTensor::output(X, 0) : SavedTensor(), na](const Tensors& g) {
           // X = A^-1 B: gB = A^-H g, gA = -gB X^H.
           const Tensor gB = linalg::solve(mH(SA.unpack()), g[0]);
           Tensors r{Tensor(), gB};
           if (na) r[0] = neg(matmul(gB, mH(SX.unpack())));
           return r;
         });
}

void linalg_det(const Tensor& A, const Tensor& d) {
  record("LinalgDetBackward", {A}, {d}, [SA = SavedTensor(A), SD = SavedTensor::output(d, 0)](const Tensors& g) {
    // d det = det tr(A^-1 dA): gA = g conj(det) A^-H (A invertible).
    const Tensor A = SA.unpack();
    const Tensor inv_h = linalg::solve(mH(A), eye_like(A, A.size(-1)));
    return Tensors{mul(mul(g[0], conj(SD.unpack())).unsqueeze(-1).unsqueeze(-1), inv_h)};
  });
}

void linalg_slogdet(const Tensor& A, const Tensor& sign, const Tensor& logabsdet) {
  record("LinalgSlogdetBackward", {A}, {sign, logabsdet},
         [SA = SavedTensor(A), SS = SavedTensor::output(sign, 0)](const Tensors& g) {
           // log det = logabsdet + i arg, d log det = tr(A^-1 dA): gA = (g_logabsdet + i c) A^-H with
           // c = -Im(conj(g_sign) sign) (sign = e^{i arg}); a real A's sign is piecewise constant (c = 0).
           const Tensor A = SA.unpack();
           const Tensor inv_h = linalg::solve(mH(A), eye_like(A, A.size(-1)));
           Tensor coef = g[1];
           if (is_complex(A.dtype())) {
             const Tensor c = view_as_real(mul(conj(g[0]), SS.unpack())).select(-1, 1);
             coef = view_as_complex(tessel::stack({g[1], neg(c)}, -1));
           }
           return Tensors{mul(coef.unsqueeze(-1).unsqueeze(-1), inv_h)};
         });
}

void linalg_cholesky(const Tensor& A, const Tensor& L) {
  record("LinalgCholeskyBackward", {A}, {L}, [SL = SavedTensor::output(L, 0)](const Tensors& g) {
    // dL = L Phi(L^-1 dA L^-H), Phi = lower triangle with the diagonal halved:
    // gA = L^-H Phi(L^H gL) L^-1, made Hermitian (A is).
    const Tensor L = SL.unpack();
    const int64_t n = L.size(-1);
    Tensor P = matmul(mH(L), g[0]);
    P = sub(tril(P), mul(P, mul(eye_like(L, n), Scalar(0.5))));
    const Tensor S = linalg::solve_triangular(mH(L), P, /*upper=*/true);                // L^-H P
    const Tensor G = linalg::solve_triangular(L, S, /*upper=*/false, /*left=*/false);   // ... L^-1
    return Tensors{mul(add(G, mH(G)), Scalar(0.5))};
  });
}

namespace {
// gA of square or tall reduced QR: (gQ + Q copyltu(M)) R^-H, M = R gR^H - gQ^H Q,
// copyltu(M) = tril(M, -1) + tril(M, -1)^H + diag(Re(diag(M))) (Q^H dQ is skew-Hermitian and R's diagonal real).
Tensor qr_tall_grad(const Tensor& Q, const Tensor& R, const Tensor& gQ, const Tensor& gR) {
  const Tensor M = sub(matmul(R, mH(gR)), matmul(mH(gQ), Q));
  const Tensor low = tril(M, -1);
  const Tensor sym = add(add(low, mH(low)), mul(real_diag(M).unsqueeze(-1), eye_like(M, M.size(-1))));
  const Tensor b = add(gQ, matmul(Q, sym));
  return linalg::solve_triangular(mH(R), b, /*upper=*/false, /*left=*/false);
}
}  // namespace

void linalg_qr(const Tensor& A, const Tensor& Q, const Tensor& R) {
  const int64_t m = A.size(-2), n = A.size(-1), kq = Q.size(-1);
  record("LinalgQrBackward", {A}, {Q, R},
         [SQ = SavedTensor::output(Q, 0), SR = SavedTensor::output(R, 1), m, n, kq](const Tensors& g) {
           TS_CHECK(kq == std::min(m, n), NotImplementedError, "linalg.qr",
                    "the derivative of mode='complete' is implemented only when m <= n (Q is then the reduced "
                    "one), got ", m, " x ", n);
           const Tensor Q = SQ.unpack(), R = SR.unpack();
           if (m >= n) return Tensors{qr_tall_grad(Q, R, g[0], g[1])};
           // Wide A = [X Y] = Q [U V]: X = Q U is a square QR and V = Q^H Y, so Y's part of the loss adds
           // Y gV^H to X's gQ and gives gY = Q gV.
           const Tensor U = R.narrow(-1, 0, m), V = R.narrow(-1, m, n - m);
           const Tensor gU = g[1].narrow(-1, 0, m), gV = g[1].narrow(-1, m, n - m);
           const Tensor gQ = add(g[0], matmul(matmul(Q, V), mH(gV)));
           return Tensors{tessel::cat({qr_tall_grad(Q, U, gQ, gU), matmul(Q, gV)}, -1)};
         });
}

void linalg_lu_factor(const Tensor& A, const Tensor& LU, const Tensor& P) {
  const int64_t m = A.size(-2), n = A.size(-1);
  record("LinalgLuFactorBackward", {A}, {LU},
         [SLU = SavedTensor::output(LU, 0), SP = SavedTensor(P), m, n](const Tensors& g) {
           // A = P L U with L = [L1; L2] (m x k, L1 unit lower) and U = [U1 U2] (k x n, U1 upper), k = min(m, n).
           // From dA: L1^-1 P^T dA_11 U1^-1 = L1^-1 dL1 + dU1 U1^-1 (strictly lower + upper), and the extra
           // rows/columns follow from dA_21 = dL2 U1 + L2 dU1, dA_12 = dL1 U2 + L1 dU2. Transposed:
           //   M = tril(L1^H gL1 - gU2 U2^H, -1) + triu(gU1 U1^H - L2^H gL2),
           //   gA = P [L1^-H M U1^-H, L1^-H gU2; gL2 U1^-H, 0]   (U1 invertible; ^H the transpose of real matrices).
           const int64_t k = std::min(m, n);
           const Tensor LU = SLU.unpack(), P = SP.unpack(), gLU = g[0];
           const Tensor LU1 = LU.narrow(-2, 0, k).narrow(-1, 0, k), g1 = gLU.narrow(-2, 0, k).narrow(-1, 0, k);
           const Tensor L1 = add(tril(LU1, -1), eye_like(LU, k)), U1 = triu(LU1);
           Tensor lower = matmul(mH(L1), tril(g1, -1)), upper = matmul(triu(g1), mH(U1));
           auto right = [&](const Tensor& t) { return t.narrow(-2, 0, k).narrow(-1, k, n - k); };  // U2's block
           auto below = [&](const Tensor& t) { return t.narrow(-2, k, m - k).narrow(-1, 0, k); };  // L2's block
           if (n > k) lower = sub(lower, matmul(right(gLU), mH(right(LU))));
           if (m > k) upper = sub(upper, matmul(mH(below(LU)), below(gLU)));
           const Tensor M = add(tril(lower, -1), triu(upper));
           // L1^-H M U1^-H, with L1^H unit upper and U1^H lower
           const Tensor LtM =
               linalg::solve_triangular(mH(LU1), M, /*upper=*/true, /*left=*/true, /*unitriangular=*/true);
           Tensor gA = linalg::solve_triangular(mH(LU1), LtM, /*upper=*/false, /*left=*/false);
           if (n > k) {
             gA = tessel::cat(
                 {gA, linalg::solve_triangular(mH(LU1), right(gLU), /*upper=*/true, true, /*unitriangular=*/true)}, -1);
           }
           if (m > k) {
             gA = tessel::cat({gA, linalg::solve_triangular(mH(LU1), below(gLU), /*upper=*/false, /*left=*/false)}, -2);
           }
           return Tensors{matmul(P.to(gA.dtype()), gA)};
         });
}

void linalg_eigh(const Tensor& A, const Tensor& w, const Tensor& V) {
  record("LinalgEighBackward", {A}, {w, V},
         [Sw = SavedTensor::output(w, 0), SV = SavedTensor::output(V, 1)](const Tensors& g) {
           // gA = V (diag(gw) + F o (V^H gV)) V^H, F_ij = 1 / (w_j - w_i): distinct eigenvalues (and, for
           // complex V, a loss that does not depend on the eigenvectors' phases).
           const Tensor w = Sw.unpack(), V = SV.unpack();
           Tensor inner = mul(inv_gaps(w), matmul(mH(V), g[1]));
           inner = add(inner, mul(g[0].unsqueeze(-1), eye_like(w, w.size(-1))));
           return Tensors{matmul(matmul(V, inner), mH(V))};
         });
}

void linalg_eig(const Tensor& A, const Tensor& L, const Tensor& V) {
  record("LinalgEigBackward", {A}, {L, V},
         [SL = SavedTensor::output(L, 0), SV = SavedTensor::output(V, 1)](const Tensors& g) {
           // gA = V^-H (diag(gL) + (V^H gV - V^H V Re(diag(V^H gV))) / conj(E)) V^H, E_ij = L_j - L_i (i != j).
           // The projection drops the part of gV that would change the columns' unit norms; a loss must not
           // depend on the eigenvectors' phases (each column is defined up to one). A real A keeps the real
           // part (the engine casts the gradient to A's dtype).
           const Tensor L = SL.unpack(), V = SV.unpack();
           const Tensor Vh = mH(V);
           const Tensor I = eye_like(L, L.size(-1));
           Tensor inner = matmul(Vh, g[1]);
           const Tensor re_diag = view_as_real(inner.diagonal(0, -2, -1).contiguous()).select(-1, 0);
           inner = sub(inner, matmul(Vh, mul(V, re_diag.unsqueeze(-2))));
           const Tensor Lc = conj(L);
           inner = div(inner, add(sub(Lc.unsqueeze(-2), Lc.unsqueeze(-1)), I));  // 1 on the diagonal: no 0/0
           inner = add(mul(inner, rsub_one(I)), mul(g[0].unsqueeze(-1), I));
           return Tensors{linalg::solve(Vh, matmul(inner, Vh))};
         });
}

void linalg_svd(const Tensor& A, const Tensor& U, const Tensor& S, const Tensor& Vh) {
  const int64_t m = A.size(-2), n = A.size(-1);
  record("LinalgSvdBackward", {A}, {U, S, Vh},
         [SU = SavedTensor::output(U, 0), SS = SavedTensor::output(S, 1), SVh = SavedTensor::output(Vh, 2), m,
          n](const Tensors& g) {
           const Tensor U = SU.unpack(), S = SS.unpack(), V = mH(SVh.unpack());
           const int64_t k = S.size(-1);
           const Tensor gU = g[0].narrow(-1, 0, k), gV = mH(g[2].narrow(-2, 0, k));
           // gA = U [diag(gS) + (F o skew(U^H gU)) S + S (F o skew(V^H gV))] V^H, F_ij = 1 / (s_j^2 - s_i^2),
           // plus the parts of gU, gV outside the spans of U, V (non-square A): needs distinct, non-zero s.
           // Complex: + i Im(diag(U^H gU)) / S on the diagonal (the loss must not depend on the phases that
           // U and V share, column by column).
           const Tensor UtgU = matmul(mH(U), gU), VtgV = matmul(mH(V), gV);
           const Tensor F = inv_gaps(mul(S, S));
           Tensor inner = mul(mul(F, skew(UtgU)), S.unsqueeze(-2));
           inner = add(inner, mul(mul(F, skew(VtgV)), S.unsqueeze(-1)));
           inner = add(inner, mul(g[1].unsqueeze(-1), eye_like(S, k)));
           if (is_complex(U.dtype())) {
             const Tensor im = view_as_real(UtgU.diagonal(0, -2, -1).contiguous()).select(-1, 1);
             const Tensor d = view_as_complex(tessel::stack({zeros_like(im), div(im, S)}, -1));
             inner = add(inner, mul(d.unsqueeze(-1), eye_like(U, k)));
           }
           Tensor gA = matmul(matmul(U, inner), mH(V));
           if (m > k) gA = add(gA, matmul(div(sub(gU, matmul(U, UtgU)), S.unsqueeze(-2)), mH(V)));
           if (n > k) gA = add(gA, matmul(U, mH(div(sub(gV, matmul(V, VtgV)), S.unsqueeze(-2)))));
           return Tensors{gA};
         });
}

void linalg_solve_triangular(const Tensor& A, const Tensor& B, const Tensor& X, bool upper, bool unit) {
  const bool na = A.requires_grad();
  record("LinalgSolveTriangularBackward", {A, B}, {X},
         [SA = SavedTensor(A), SX = na ? SavedTensor::output(X, 0) : SavedTensor(), upper, unit, na](const Tensors& g) {
           // X = A^-1 B: gB = A^-H g; gA = -gB X^H on A's triangle (without the diagonal when unit).
           const Tensor A = SA.unpack();
           const Tensor gB = linalg::solve_triangular(mH(A), g[0], !upper, true, unit);
           Tensors r{Tensor(), gB};
           if (na) {
             const Tensor gA = neg(matmul(gB, mH(SX.unpack())));
             r[0] = upper ? triu(gA, unit ? 1 : 0) : tril(gA, unit ? -1 : 0);
           }
           return r;
         });
}

}  // namespace tessel::autograd::rules
