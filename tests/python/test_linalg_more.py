"""ts.linalg's functions built from ops (matrix_exp, tensorinv, tensorsolve, householder_product,
cholesky_inverse, vander) and PyTorch's top-level aliases (ts.det, ts.inverse, ts.svd, ...) and Tensor methods,
against NumPy/SciPy float64, with gradcheck for the differentiable ones."""
import numpy as np
import pytest
import scipy.linalg as sl

import tessel as ts

rng = np.random.default_rng(7)


def T(a):
    return ts.tensor(np.asarray(a))


def close(t, ref, tol=1e-10):
    np.testing.assert_allclose(t.numpy(), ref, rtol=tol, atol=tol * max(1.0, float(np.abs(ref).max(initial=0))))


def leaf(*shape, scale=1.0):
    return ts.tensor(rng.standard_normal(shape) * scale).requires_grad_()


def check_grad(fn, *inputs):
    assert ts.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


# ---- matrix_exp

@pytest.mark.parametrize("scale", [1e-8, 1e-3, 0.5, 3.0, 40.0])
def test_matrix_exp_matches_scipy_over_norms(scale):
    A = rng.standard_normal((3, 5, 5)) * scale
    close(ts.linalg.matrix_exp(T(A)), np.stack([sl.expm(a) for a in A]), 1e-12)


def test_matrix_exp_batch_with_different_norms_complex_float32_and_identities():
    A = np.stack([rng.standard_normal((4, 4)) * s for s in (0.01, 1.0, 25.0)])  # each its own scaling
    close(ts.linalg.matrix_exp(T(A)), np.stack([sl.expm(a) for a in A]), 1e-12)
    C = rng.standard_normal((2, 3, 3)) + 1j * rng.standard_normal((2, 3, 3))
    close(ts.linalg.matrix_exp(T(C)), np.stack([sl.expm(c) for c in C]), 1e-12)
    A32 = rng.standard_normal((4, 4)).astype(np.float32)
    r = ts.linalg.matrix_exp(T(A32))
    assert r.dtype == ts.float32
    close(r, sl.expm(A32.astype(np.float64)), 1e-5)
    # exp(0) = I; exp of a diagonal is elementwise; commuting: exp(A) exp(-A) = I
    close(ts.linalg.matrix_exp(ts.zeros(3, 3, dtype=ts.float64)), np.eye(3))
    d = rng.standard_normal(4)
    close(ts.matrix_exp(T(np.diag(d))), np.diag(np.exp(d)))
    A = T(rng.standard_normal((4, 4)))
    close(ts.linalg.matrix_exp(A) @ ts.linalg.matrix_exp(-A), np.eye(4), 1e-12)
    assert ts.linalg.matrix_exp(ts.zeros(0, 2, 2, dtype=ts.float64)).shape == (0, 2, 2)


def test_matrix_exp_grad_and_errors():
    check_grad(ts.linalg.matrix_exp, leaf(3, 3))
    check_grad(ts.linalg.matrix_exp, leaf(2, 3, 3, scale=4.0))  # scaled and squared
    with pytest.raises(ValueError, match="matrix_exp"):
        ts.linalg.matrix_exp(ts.zeros(2, 3))
    with pytest.raises(TypeError, match="matrix_exp"):
        ts.linalg.matrix_exp(ts.zeros(2, 2, dtype=ts.int64))


# ---- tensorinv, tensorsolve

def test_tensorinv_tensorsolve_match_numpy():
    A = rng.standard_normal((4, 6, 8, 3)) + 0 * np.eye(1)
    close(ts.linalg.tensorinv(T(A), ind=2), np.linalg.tensorinv(A, ind=2), 1e-9)
    A = rng.standard_normal((6, 4, 3, 2, 4))
    B = rng.standard_normal((6, 4))
    close(ts.linalg.tensorsolve(T(A), T(B)), np.linalg.tensorsolve(A, B), 1e-9)
    A2 = rng.standard_normal((3, 6, 2, 4, 4))
    close(ts.linalg.tensorsolve(T(A2), T(B), dims=(0, 2)), np.linalg.tensorsolve(A2, B, axes=(0, 2)), 1e-9)
    check_grad(lambda a: ts.linalg.tensorinv(a, ind=1), leaf(6, 2, 3))
    with pytest.raises(ValueError, match="tensorinv"):
        ts.linalg.tensorinv(ts.zeros(2, 3, 4, dtype=ts.float64), ind=1)
    with pytest.raises(ValueError, match="tensorsolve"):
        ts.linalg.tensorsolve(ts.zeros(2, 3, 4, dtype=ts.float64), ts.zeros(2, 3, dtype=ts.float64))


# ---- householder_product, ormqr

def test_householder_product_matches_lapack_orgqr_and_grad():
    A = rng.standard_normal((6, 4))
    (qr, tau), _ = sl.qr(A, mode="raw")
    for k in (4, 2, 0):
        ref = sl.lapack.dorgqr(qr, np.concatenate([tau[:k], np.zeros(4 - k)]))[0]
        close(ts.linalg.householder_product(T(qr), T(tau[:k])), ref, 1e-12)
    Q = sl.qr(A, mode="economic")[0]
    close(ts.orgqr(T(qr), T(tau)), Q, 1e-12)
    C = rng.standard_normal((5, 3)) + 1j * rng.standard_normal((5, 3))
    (qc, tc), _ = sl.qr(C, mode="raw")
    close(ts.linalg.householder_product(T(qc), T(tc)), sl.lapack.zungqr(qc, tc)[0], 1e-12)
    # ormqr: the complete Q (m x m) times other, from either side, transposed or not
    other = rng.standard_normal((6, 2))
    Qf = sl.qr(A)[0]
    close(ts.ormqr(T(qr), T(tau), T(other)), Qf @ other, 1e-12)
    close(ts.ormqr(T(qr), T(tau), T(other), transpose=True), Qf.T @ other, 1e-12)
    close(ts.ormqr(T(qr), T(tau), T(other.T), left=False), other.T @ Qf, 1e-12)
    check_grad(lambda a, t: ts.linalg.householder_product(a, t), leaf(2, 5, 3), leaf(2, 2))
    with pytest.raises(ValueError, match="householder_product"):
        ts.linalg.householder_product(ts.zeros(3, 4, dtype=ts.float64), ts.zeros(2, dtype=ts.float64))


# ---- cholesky_solve / cholesky_inverse, vander

def test_cholesky_solve_inverse_and_grad():
    X = rng.standard_normal((2, 4, 4))
    A = X @ X.transpose(0, 2, 1) + 4 * np.eye(4)
    B = rng.standard_normal((2, 4, 3))
    L = ts.linalg.cholesky(T(A))
    close(ts.cholesky_solve(T(B), L), np.linalg.solve(A, B), 1e-10)
    close(ts.cholesky_solve(T(B), L.mT, upper=True), np.linalg.solve(A, B), 1e-10)
    close(ts.linalg.cholesky_inverse(L), np.linalg.inv(A), 1e-10)
    close(ts.cholesky_inverse(L.mT, upper=True), np.linalg.inv(A), 1e-10)
    close(T(B).cholesky_solve(L), np.linalg.solve(A, B), 1e-10)
    check_grad(lambda b, x: ts.cholesky_solve(b, ts.linalg.cholesky(x @ x.mT + 3 * ts.eye(3, dtype=x.dtype))),
               leaf(3, 2), leaf(3, 3))


def test_vander_linalg_and_top_level():
    x = np.array([1.5, -2.0, 0.5, 3.0])
    close(ts.linalg.vander(T(x)), np.vander(x, increasing=True))
    close(ts.linalg.vander(T(x), N=6), np.vander(x, 6, increasing=True))
    close(ts.vander(T(x)), np.vander(x))
    close(ts.vander(T(x), N=3, increasing=True), np.vander(x, 3, increasing=True))
    assert ts.linalg.vander(ts.tensor([[1, 2], [3, 4]]), N=3).tolist() == [[[1, 1, 1], [1, 2, 4]],
                                                                        [[1, 3, 9], [1, 4, 16]]]
    check_grad(lambda v: ts.linalg.vander(v, N=4), leaf(3))
    with pytest.raises(ValueError, match="vander"):
        ts.linalg.vander(T(x), N=1)


def test_vecdot_tensordot_promote_as_the_standard():
    assert ts.linalg.tensordot(ts.ones(2, 2, dtype=ts.int8), ts.ones(2, 2, dtype=ts.int16)).dtype == ts.int16
    r = ts.linalg.vecdot(ts.ones(3, dtype=ts.uint8), ts.ones(3, dtype=ts.uint8))
    assert r.dtype == ts.uint8 and int(r) == 3
    with pytest.raises(ValueError, match="vecdot"):
        ts.linalg.vecdot(ts.ones(2, 3), ts.ones(2, 4))
    a, b = rng.standard_normal((2, 3)) + 1j, rng.standard_normal((2, 3))
    close(ts.linalg.vecdot(T(a), T(b), dim=1), np.sum(a.conj() * b, axis=1))


# ---- PyTorch's top-level names and Tensor methods

def test_top_level_aliases_and_methods():
    A = rng.standard_normal((3, 4, 4)) + 3 * np.eye(4)
    t = T(A)
    close(ts.det(t), np.linalg.det(A))
    close(t.det(), np.linalg.det(A))
    close(ts.inverse(t), np.linalg.inv(A))
    close(t.inverse(), np.linalg.inv(A))
    sign, logabs = np.linalg.slogdet(A)
    s = ts.slogdet(t)
    close(s.sign, sign)
    close(s.logabsdet, logabs)
    close(t.slogdet()[1], logabs)
    with np.errstate(invalid="ignore"):
        close(ts.logdet(t), np.log(np.linalg.det(A)))
    assert np.isnan(ts.logdet(T(np.diag([-1.0, 2.0]))).item())
    assert ts.logdet(T(np.zeros((2, 2)))).item() == -np.inf
    close(ts.pinverse(T(A[0, :, :3])), np.linalg.pinv(A[0, :, :3]))
    close(t[0].pinverse(), np.linalg.pinv(A[0]))
    S = A @ A.transpose(0, 2, 1)
    close(ts.cholesky(T(S)), np.linalg.cholesky(S))
    close(T(S).cholesky(upper=True), np.linalg.cholesky(S).transpose(0, 2, 1))
    Lf = np.linalg.cholesky(S)
    close(T(Lf).cholesky_inverse(), np.linalg.inv(S))
    close(ts.matrix_power(t, 3), np.linalg.matrix_power(A, 3))
    close(t.matrix_power(-1), np.linalg.inv(A))
    close(t.matrix_exp(), np.stack([sl.expm(a) for a in A]), 1e-11)
    # torch.qr / torch.svd (V, not Vh)
    M = rng.standard_normal((5, 3))
    Q, R = ts.qr(T(M))
    close(Q @ R, M)
    assert ts.qr(T(M), some=False).Q.shape == (5, 5)
    U, Sv, V = ts.svd(T(M))
    close(U @ ts.diag(Sv) @ V.mT, M)
    assert V.shape == (3, 3) and ts.svd(T(M), some=False).U.shape == (5, 5)
    z = ts.svd(T(M), compute_uv=False)
    close(z.S, np.linalg.svd(M, compute_uv=False))
    assert float(z.U.abs().sum()) == 0.0
    # torch.lu / lu_solve / lu_unpack / triangular_solve
    LU, piv = ts.lu(t)
    B = rng.standard_normal((3, 4, 2))
    close(ts.lu_solve(T(B), LU, piv), np.linalg.solve(A, B))
    close(T(B).lu_solve(LU, piv), np.linalg.solve(A, B))
    assert len(t.lu(get_infos=True)) == 3
    P, L, U = ts.lu_unpack(LU, piv)
    close(P @ L @ U, A)
    Up = np.triu(A[0])
    sol, coef = ts.triangular_solve(T(B[0]), T(Up))
    close(sol, np.linalg.solve(Up, B[0]))
    close(coef, Up)
    close(T(B[0]).triangular_solve(T(Up), transpose=True).solution, np.linalg.solve(Up.T, B[0]))
    close(T(B[0]).triangular_solve(T(Up.T), upper=False, unitriangular=True)[0],
          np.linalg.solve(np.tril(Up.T, -1) + np.eye(4), B[0]))
    # ger, inner, kron, chain_matmul
    u, v = rng.standard_normal(3), rng.standard_normal(4)
    close(ts.ger(T(u), T(v)), np.outer(u, v))
    close(T(u).ger(T(v)), np.outer(u, v))
    X, Y = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    close(ts.inner(T(X), T(Y)), np.inner(X, Y))
    close(ts.inner(T(X), T(np.array(2.0))), X * 2)
    K1, K2 = rng.standard_normal((2, 3)), rng.standard_normal((4, 1, 2))
    close(ts.kron(T(K1), T(K2)), np.kron(K1, K2))
    close(T(K2).kron(T(K1)), np.kron(K2, K1))
    Ms = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((2, 5))]
    close(ts.chain_matmul(*[T(m) for m in Ms]), Ms[0] @ Ms[1] @ Ms[2])


def test_aliases_keep_gradients():
    check_grad(ts.det, leaf(3, 3))
    check_grad(lambda a: ts.inverse(a + 3 * ts.eye(3, dtype=a.dtype)), leaf(3, 3))
    check_grad(lambda a: ts.kron(a, a), leaf(2, 2))
    check_grad(lambda a: ts.svd(a).S, leaf(4, 3))


# ---- ldl_factor / ldl_solve (LAPACK ?sytrf/?hetrf, ?sytrs/?hetrs)

def _sym_indefinite(n, batch=(), cplx=False, hermitian=True):
    X = rng.standard_normal(batch + (n, n))
    if cplx:
        X = X + 1j * rng.standard_normal(batch + (n, n))
    S = X + (np.conj(np.swapaxes(X, -1, -2)) if hermitian else np.swapaxes(X, -1, -2))
    return S  # indefinite: the pivots include 2x2 blocks for most draws


def test_ldl_factor_matches_lapack_and_solves():
    from scipy.linalg import lapack
    A = _sym_indefinite(6)
    LD, piv = ts.linalg.ldl_factor(T(A))
    ref, ipiv, info = lapack.dsytrf(A, lower=1)
    assert info == 0
    close(LD, np.tril(ref), 1e-12)
    np.testing.assert_array_equal(piv.numpy(), ipiv)
    assert piv.dtype == ts.int32
    B = rng.standard_normal((6, 3))
    close(ts.linalg.ldl_solve(LD, piv, T(B)), np.linalg.solve(A, B), 1e-10)
    # only the lower triangle is read
    junk = A + np.triu(rng.standard_normal((6, 6)), 1)
    close(ts.linalg.ldl_factor(T(junk)).LD, np.tril(ref), 1e-12)


def test_ldl_batched_complex_hermitian_and_symmetric_float32():
    from scipy.linalg import lapack
    A = _sym_indefinite(5, (2, 3))
    B = rng.standard_normal((2, 3, 5, 2))
    LD, piv, info = ts.linalg.ldl_factor_ex(T(A))
    assert info.shape == (2, 3) and int(info.abs().sum()) == 0
    close(ts.linalg.ldl_solve(LD, piv, T(B)), np.linalg.solve(A, B), 1e-10)
    close(ts.linalg.ldl_solve(LD, piv, T(B[0, 0])), np.linalg.solve(A, B[0, 0]), 1e-10)  # B broadcast
    H = _sym_indefinite(4, cplx=True)
    Bc = rng.standard_normal((4, 2)) + 1j * rng.standard_normal((4, 2))
    LD, piv = ts.linalg.ldl_factor(T(H), hermitian=True)
    ref, ipiv, _ = lapack.zhetrf(H, lower=1)
    close(LD, np.tril(ref), 1e-12)
    np.testing.assert_array_equal(piv.numpy(), ipiv)
    close(ts.linalg.ldl_solve(LD, piv, T(Bc), hermitian=True), np.linalg.solve(H, Bc), 1e-10)
    Sc = _sym_indefinite(4, cplx=True, hermitian=False)  # complex symmetric, A = A^T
    LD, piv = ts.linalg.ldl_factor(T(Sc))
    close(ts.linalg.ldl_solve(LD, piv, T(Bc)), np.linalg.solve(Sc, Bc), 1e-10)
    A32 = _sym_indefinite(5).astype(np.float32)
    LD, piv = ts.linalg.ldl_factor(T(A32))
    assert LD.dtype == ts.float32
    close(ts.linalg.ldl_solve(LD, piv, T(np.eye(5, dtype=np.float32))), np.linalg.inv(A32.astype(np.float64)), 1e-3)


def test_ldl_singular_raises_and_ex_reports():
    A = np.diag([1.0, 0.0, 2.0])
    with pytest.raises(ts.linalg.LinAlgError, match=r"\[linalg.ldl_factor\].*singular"):
        ts.linalg.ldl_factor(T(A))
    assert int(ts.linalg.ldl_factor_ex(T(A)).info) == 2
    with pytest.raises(ValueError, match=r"\[linalg.ldl_solve\] incompatible shapes"):
        LD, piv = ts.linalg.ldl_factor(T(np.eye(3)))
        ts.linalg.ldl_solve(LD, piv, T(np.ones((4, 1))))
