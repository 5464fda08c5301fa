// Derivative rules of the LAPACK-backed linalg ops (declared in
// rules_linalg_lapack.h; formulas and their conditions in docs/linalg.md).
// Written with tessel ops, so double backward works.
#include "src/autograd/rules_linalg_lapack.h"

#include "tessel/elementwise.h"
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

Tensor skew(const Tensor& X) { return sub(X, X.mT()); }

}  // namespace

void linalg_solve(const Tensor& A, const Tensor& B, const Tensor& X) {
  const bool na = A.requires_grad();
  record("LinalgSolveBackward", {A, B}, {X},
         [SA = SavedTensor(A), SX = na ? SavedTensor::output(X, 0) : SavedTensor(), na](const Tensors& g) {
           // X = A^-1 B: gB = A^-T g, gA = -gB X^T.
           const Tensor gB = linalg::solve(SA.unpack().mT(), g[0]);
           Tensors r{Tensor(), gB};
           if (na) r[0] = neg(matmul(gB, SX.unpack().mT()));
           return r;
         });
}

void linalg_det(const Tensor& A, const Tensor& d) {
  record("LinalgDetBackward", {A}, {d}, [SA = SavedTensor(A), SD = SavedTensor::output(d, 0)](const Tensors& g) {
    // d det = det tr(A^-1 dA): gA = g det A^-T (A invertible).
    const Tensor A = SA.unpack();
    const Tensor inv_t = linalg::solve(A.mT(), eye_like(A, A.size(-1)));
    return Tensors{mul(mul(g[0], SD.unpack()).unsqueeze(-1).unsqueeze(-1), inv_t)};
  });
}

void linalg_slogdet(const Tensor& A, const Tensor& sign, const Tensor& logabsdet) {
  record("LinalgSlogdetBackward", {A}, {sign, logabsdet}, [SA = SavedTensor(A)](const Tensors& g) {
    const Tensor A = SA.unpack();
    const Tensor inv_t = linalg::solve(A.mT(), eye_like(A, A.size(-1)));
    return Tensors{mul(g[1].unsqueeze(-1).unsqueeze(-1), inv_t)};
  });
}

void linalg_cholesky(const Tensor& A, const Tensor& L) {
  record("LinalgCholeskyBackward", {A}, {L}, [SL = SavedTensor::output(L, 0)](const Tensors& g) {
    // dL = L Phi(L^-1 dA L^-T), Phi = lower triangle with the diagonal halved:
    // gA = L^-T Phi(L^T gL) L^-1, symmetrized (A is symmetric).
    const Tensor L = SL.unpack();
    const int64_t n = L.size(-1);
    Tensor P = matmul(L.mT(), g[0]);
    P = sub(tril(P), mul(P, mul(eye_like(L, n), Scalar(0.5))));
    const Tensor S = linalg::solve_triangular(L.mT(), P, /*upper=*/true);                // L^-T P
    const Tensor G = linalg::solve_triangular(L, S, /*upper=*/false, /*left=*/false);   // ... L^-1
    return Tensors{mul(add(G, G.mT()), Scalar(0.5))};
  });
}

void linalg_qr(const Tensor& A, const Tensor& Q, const Tensor& R) {
  const int64_t m = A.size(-2), n = A.size(-1), kq = Q.size(-1);
  record("LinalgQrBackward", {A}, {Q, R},
         [SQ = SavedTensor::output(Q, 0), SR = SavedTensor::output(R, 1), m, n, kq](const Tensors& g) {
           TS_CHECK(m >= n && kq == n, NotImplementedError, "linalg.qr",
                    "the derivative is implemented for reduced QR of tall or square inputs (m >= n), got ", m,
                    " x ", n);
           // gA = (gQ + Q copyltu(M)) R^-T, M = R gR^T - gQ^T Q, copyltu(M) = tril(M) + tril(M, -1)^T.
           const Tensor Q = SQ.unpack(), R = SR.unpack();
           const Tensor M = sub(matmul(R, g[1].mT()), matmul(g[0].mT(), Q));
           const Tensor sym = add(tril(M), tril(M, -1).mT());
           const Tensor b = add(g[0], matmul(Q, sym));
           return Tensors{linalg::solve_triangular(R.mT(), b, /*upper=*/false, /*left=*/false)};
         });
}

void linalg_eigh(const Tensor& A, const Tensor& w, const Tensor& V) {
  record("LinalgEighBackward", {A}, {w, V},
         [Sw = SavedTensor::output(w, 0), SV = SavedTensor::output(V, 1)](const Tensors& g) {
           // gA = V (diag(gw) + F o (V^T gV)) V^T, F_ij = 1 / (w_j - w_i): distinct eigenvalues.
           const Tensor w = Sw.unpack(), V = SV.unpack();
           Tensor inner = mul(inv_gaps(w), matmul(V.mT(), g[1]));
           inner = add(inner, mul(g[0].unsqueeze(-1), eye_like(w, w.size(-1))));
           return Tensors{matmul(matmul(V, inner), V.mT())};
         });
}

void linalg_svd(const Tensor& A, const Tensor& U, const Tensor& S, const Tensor& Vh) {
  const int64_t m = A.size(-2), n = A.size(-1);
  record("LinalgSvdBackward", {A}, {U, S, Vh},
         [SU = SavedTensor::output(U, 0), SS = SavedTensor::output(S, 1), SVh = SavedTensor::output(Vh, 2), m,
          n](const Tensors& g) {
           const Tensor U = SU.unpack(), S = SS.unpack(), V = SVh.unpack().mT();
           const int64_t k = S.size(-1);
           const Tensor gU = g[0].narrow(-1, 0, k), gV = g[2].narrow(-2, 0, k).mT();
           // gA = U [diag(gS) + (F o skew(U^T gU)) S + S (F o skew(V^T gV))] V^T, F_ij = 1 / (s_j^2 - s_i^2),
           // plus the parts of gU, gV outside the spans of U, V (non-square A): needs distinct, non-zero s.
           const Tensor UtgU = matmul(U.mT(), gU), VtgV = matmul(V.mT(), gV);
           const Tensor F = inv_gaps(mul(S, S));
           Tensor inner = mul(mul(F, skew(UtgU)), S.unsqueeze(-2));
           inner = add(inner, mul(mul(F, skew(VtgV)), S.unsqueeze(-1)));
           inner = add(inner, mul(g[1].unsqueeze(-1), eye_like(S, k)));
           Tensor gA = matmul(matmul(U, inner), V.mT());
           if (m > k) gA = add(gA, matmul(div(sub(gU, matmul(U, UtgU)), S.unsqueeze(-2)), V.mT()));
           if (n > k) gA = add(gA, matmul(U, div(sub(gV, matmul(V, VtgV)), S.unsqueeze(-2)).mT()));
           return Tensors{gA};
         });
}

void linalg_solve_triangular(const Tensor& A, const Tensor& B, const Tensor& X, bool upper, bool unit) {
  const bool na = A.requires_grad();
  record("LinalgSolveTriangularBackward", {A, B}, {X},
         [SA = SavedTensor(A), SX = na ? SavedTensor::output(X, 0) : SavedTensor(), upper, unit,
          na](const Tensors& g) {
           // X = A^-1 B: gB = A^-T g; gA = -gB X^T on A's triangle (without the diagonal when unit).
           const Tensor A = SA.unpack();
           const Tensor gB = linalg::solve_triangular(A.mT(), g[0], !upper, true, unit);
           Tensors r{Tensor(), gB};
           if (na) {
             const Tensor gA = neg(matmul(gB, SX.unpack().mT()));
             r[0] = upper ? triu(gA, unit ? 1 : 0) : tril(gA, unit ? -1 : 0);
           }
           return r;
         });
}

}  // namespace tessel::autograd::rules
