"""Derivative rules of ts.linalg, checked with finite differences (ts.autograd.gradcheck, float64). Symmetric
inputs (cholesky, eigh) are built as X X^T + c I from a free X, so the perturbations stay symmetric; eigh/svd
use outputs that do not depend on the eigenvector signs (the usual conditions: distinct values)."""
import numpy as np
import pytest

import tessel as ts

rng = np.random.default_rng(1)


def leaf(*shape, shift=0.0):
    a = rng.standard_normal(shape)
    if shift:
        a = a + shift * np.eye(shape[-1])
    return ts.tensor(a).requires_grad_()


def check(fn, *inputs):
    assert ts.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_solve_grad_matrix_vector_left_right_broadcast():
    check(lambda A, B: ts.linalg.solve(A, B), leaf(2, 3, 3, shift=3), leaf(2, 3, 2))
    check(lambda A, b: ts.linalg.solve(A, b), leaf(3, 3, shift=3), leaf(3))
    check(lambda A, B: ts.linalg.solve(A, B, left=False), leaf(3, 3, shift=3), leaf(4, 3))
    check(lambda A, B: ts.linalg.solve(A, B), leaf(3, 3, shift=3), leaf(2, 3, 2))  # A broadcast over B's batch


def test_inv_det_slogdet_grad():
    check(ts.linalg.inv, leaf(2, 3, 3, shift=3))
    check(ts.linalg.det, leaf(2, 4, 4, shift=1))
    check(lambda A: ts.linalg.slogdet(A).logabsdet, leaf(3, 3, shift=2))
    check(lambda A: ts.linalg.matrix_power(A, -2), leaf(3, 3, shift=3))


def test_cholesky_grad():
    def f(X, upper):
        A = X @ X.mT + 3 * ts.eye(X.shape[-1], dtype=X.dtype)
        return ts.linalg.cholesky(A, upper=upper)
    check(lambda X: f(X, False), leaf(2, 4, 4))
    check(lambda X: f(X, True), leaf(3, 3))


def test_qr_grad():
    check(lambda A: ts.linalg.qr(A).Q, leaf(5, 3))
    check(lambda A: ts.linalg.qr(A).R, leaf(2, 4, 4))
    check(lambda A: ts.linalg.qr(A)[0] * 2 + ts.linalg.qr(A)[1].sum(), leaf(4, 3))


def test_qr_grad_of_wide_input():
    check(lambda A: ts.linalg.qr(A).Q, leaf(2, 4))
    check(lambda A: ts.linalg.qr(A).R, leaf(2, 3, 5))
    check(lambda A: ts.linalg.qr(A, mode="complete").R.sum(-1), leaf(3, 4))  # complete is reduced when m <= n
    Q, R = ts.linalg.qr(leaf(4, 2), mode="complete")
    with pytest.raises(NotImplementedError, match=r"linalg.qr.*complete"):
        (Q.sum() + R.sum()).backward()


def test_lu_factor_grad_square_tall_wide_batched():
    for shape in [(4, 4), (2, 3, 3), (5, 3), (3, 5), (2, 4, 2), (2, 2, 4)]:
        check(lambda A: ts.linalg.lu_factor(A).LU, leaf(*shape))
    check(lambda A: (lambda P, L, U: L.sum(-1) + U.sum(-2)[..., :1])(*ts.linalg.lu(A)), leaf(5, 3))
    check(lambda A: ts.linalg.lu(A).U, leaf(3, 6))


def test_lu_solve_grad_wrt_both_arguments():
    for left in (True, False):
        for adjoint in (False, True):
            B = leaf(3, 2) if left else leaf(2, 3)
            check(lambda A, B: ts.linalg.lu_solve(*ts.linalg.lu_factor(A), B, left=left, adjoint=adjoint),
                  leaf(3, 3, shift=2), B)
    # LU factors as leaves (the gradient reaches LU itself), batch broadcast against B
    LU, piv = ts.linalg.lu_factor(ts.tensor(rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)))
    check(lambda lu, B: ts.linalg.lu_solve(lu, piv, B), LU.detach().requires_grad_(), leaf(3, 1))
    # agrees with solve's gradient
    A, B = leaf(3, 3, shift=2), leaf(3, 2)
    (g1,) = ts.autograd.grad(ts.linalg.lu_solve(*ts.linalg.lu_factor(A), B).pow(2).sum(), [A])
    (g2,) = ts.autograd.grad(ts.linalg.solve(A, B).pow(2).sum(), [A])
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-10, atol=1e-12)


def test_eigh_grad():
    def sym(X):
        return X + X.mT
    check(lambda X: ts.linalg.eigh(sym(X)).eigenvalues, leaf(2, 4, 4))
    check(lambda X: ts.linalg.eigvalsh(sym(X)), leaf(3, 3))
    # eigenvectors up to sign: V diag(w) V^T and |V| do not depend on it
    def recon(X):
        w, V = ts.linalg.eigh(sym(X))
        return (V * w.unsqueeze(-2)) @ V.mT
    check(recon, leaf(4, 4))
    check(lambda X: ts.linalg.eigh(sym(X)).eigenvectors.abs(), leaf(3, 3))


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5), (2, 4, 3)])
def test_svd_grad(shape):
    check(ts.linalg.svdvals, leaf(*shape))
    def recon(A):
        U, S, Vh = ts.linalg.svd(A, full_matrices=False)
        return (U * S.unsqueeze(-2)) @ Vh
    check(recon, leaf(*shape))
    # sign-invariant uses of U and Vh separately
    check(lambda A: ts.linalg.svd(A, full_matrices=False).U.abs(), leaf(*shape))
    check(lambda A: ts.linalg.svd(A, full_matrices=False).Vh.abs(), leaf(*shape))
    check(lambda A: ts.linalg.matrix_norm(A, "nuc"), leaf(*shape))


def test_svd_full_matrices_under_autograd_returns_square_factors():
    A = leaf(5, 3)
    U, S, Vh = ts.linalg.svd(A, full_matrices=True)
    assert list(U.shape) == [5, 5] and list(Vh.shape) == [3, 3]
    ((U[:, :3] * S) @ Vh).sum().backward()
    np.testing.assert_allclose(A.grad.numpy(), np.ones((5, 3)), atol=1e-10)


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("unit", [True, False])
def test_solve_triangular_grad(upper, unit):
    check(lambda A, B: ts.linalg.solve_triangular(A, B, upper=upper, unitriangular=unit), leaf(3, 3, shift=3),
          leaf(3, 2))
    check(lambda A, B: ts.linalg.solve_triangular(A, B, upper=upper, left=False, unitriangular=unit),
          leaf(2, 3, 3, shift=3), leaf(2, 4, 3))


def test_solve_triangular_grad_lives_on_the_triangle():
    A, B = leaf(3, 3, shift=3), leaf(3, 2)
    ts.linalg.solve_triangular(A, B, upper=True).sum().backward()
    assert np.all(np.tril(A.grad.numpy(), -1) == 0)


def test_lstsq_pinv_grad():
    check(lambda A, B: ts.linalg.lstsq(A, B).solution, leaf(5, 3), leaf(5, 2))
    check(ts.linalg.pinv, leaf(3, 4))


def test_double_backward_through_solve_and_det():
    A = leaf(3, 3, shift=3)
    (g,) = ts.autograd.grad(ts.linalg.det(A), [A], create_graph=True)
    (gg,) = ts.autograd.grad(g.sum(), [A])
    # finite differences of the first gradient's sum
    eps, num = 1e-6, np.zeros((3, 3))
    a = A.detach().numpy()
    for i in range(3):
        for j in range(3):
            d = np.zeros((3, 3))
            d[i, j] = eps
            num[i, j] = ((np.linalg.det(a + d) * np.linalg.inv(a + d).T).sum()
                         - (np.linalg.det(a - d) * np.linalg.inv(a - d).T).sum()) / (2 * eps)
    np.testing.assert_allclose(gg.numpy(), num, rtol=1e-5, atol=1e-6)


def test_non_differentiable_ops_say_so():
    A = leaf(3, 3)
    with pytest.raises(NotImplementedError, match=r"\[linalg.ldl_factor\].*derivative"):
        ts.linalg.ldl_factor(A)
    with pytest.raises(NotImplementedError, match=r"mode='r'"):
        ts.linalg.qr(A, mode="r")
    with ts.no_grad():
        assert ts.linalg.eigvals(A).dtype == ts.complex128


def _eig_check(f, a, eps=1e-6, tol=1e-6):
    """Central differences of a real loss of eig (real or complex A: along both parts) against backward."""
    x = ts.tensor(a).requires_grad_()
    f(x).backward()
    num = np.zeros(a.shape, dtype=a.dtype)
    for idx in np.ndindex(a.shape):
        for step in ([1.0, 1j] if np.iscomplexobj(a) else [1.0]):
            hi, lo = a.copy(), a.copy()
            hi[idx] += eps * step
            lo[idx] -= eps * step
            num[idx] += step * (float(f(ts.tensor(hi))) - float(f(ts.tensor(lo)))) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=tol, atol=tol)


@pytest.mark.parametrize("complex_in", [False, True])
def test_eig_grad(complex_in):
    # Losses that do not depend on each eigenvector's phase (the usual condition), distinct eigenvalues:
    # the eigenvalues themselves, and |V| (a column times e^{i t} keeps its moduli).
    rng = np.random.default_rng(31)
    a = rng.standard_normal((4, 4)) + (1j * rng.standard_normal((4, 4)) if complex_in else 0)
    w = rng.standard_normal((4,)) + 1j * rng.standard_normal((4,))
    _eig_check(lambda A: ts.real(ts.linalg.eigvals(A) * ts.tensor(w)).sum(), a)
    _eig_check(lambda A: (ts.abs(ts.linalg.eig(A).eigenvalues) ** 3).sum(), a)
    _eig_check(lambda A: (ts.abs(ts.linalg.eig(A).eigenvectors) * ts.tensor(np.arange(16.0).reshape(4, 4))).sum(), a)
    x = ts.tensor(a).requires_grad_()
    ts.abs(ts.linalg.eigvals(x)).sum().backward()
    assert x.grad.dtype == x.dtype  # a real matrix gets a real gradient
