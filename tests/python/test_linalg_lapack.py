"""ts.linalg factorizations and solvers against NumPy/SciPy in float64 (and float32/complex within their
precision): values, batching and broadcasting, dtypes, named results and errors."""
import numpy as np
import pytest
import scipy.linalg as sla

import tessel as ts

rng = np.random.default_rng(0)
DTYPES = [(np.float64, 1e-10), (np.float32, 2e-4), (np.complex128, 1e-10), (np.complex64, 2e-4)]


def rand(*shape, dtype=np.float64):
    a = rng.standard_normal(shape)
    if np.issubdtype(dtype, np.complexfloating):
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)


def spd(*shape, dtype=np.float64):
    a = rand(*shape, dtype=dtype)
    n = shape[-1]
    return (a @ np.conj(np.swapaxes(a, -1, -2)) + n * np.eye(n)).astype(dtype)


def t(a):
    return ts.tensor(a)


def close(x, ref, tol):
    x = x.numpy() if isinstance(x, ts.Tensor) else x
    scale = max(1.0, float(np.abs(ref).max())) if np.size(ref) else 1.0
    assert x.shape == np.shape(ref), (x.shape, np.shape(ref))
    assert np.abs(x - ref).max(initial=0) <= tol * scale, np.abs(x - ref).max()


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_solve_batched_matrix_and_vector(dtype, tol):
    A, B, b = rand(2, 3, 4, 4, dtype=dtype), rand(2, 3, 4, 2, dtype=dtype), rand(2, 3, 4, dtype=dtype)
    close(ts.linalg.solve(t(A), t(B)), np.linalg.solve(A, B), tol)
    close(ts.linalg.solve(t(A), t(b)), np.linalg.solve(A, b[..., None])[..., 0], tol)
    assert ts.linalg.solve(t(A), t(B)).dtype == t(A).dtype


# Real systems up to order 512 with 2 to 32 right-hand sides are solved from the
# factors by tessel's rows kernel (kernels/cpu/linalg_small.h), others by getrs.
@pytest.mark.parametrize("n,k", [(1, 1), (1, 2), (40, 1), (7, 3), (40, 9), (40, 16), (40, 32), (40, 33), (300, 17), (512, 8),
                                 (513, 8)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-3)])
def test_solve_sizes_around_the_rows_kernel(n, k, dtype, tol):
    A = rand(2, n, n) + n ** 0.5 * np.eye(n)  # well conditioned, pivots still taken
    B = rand(2, n, k)
    X = ts.linalg.solve(t(A.astype(dtype)), t(B.astype(dtype))).numpy()
    ref = np.linalg.solve(A.astype(dtype).astype(np.float64), B.astype(dtype).astype(np.float64))
    assert np.abs(X - ref).max() <= tol * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize("n,k", [(1, 2), (40, 1), (40, 9), (40, 32), (40, 33), (300, 17), (512, 8), (513, 8)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-3)])
def test_lu_solve_sizes_around_the_rows_kernel(n, k, dtype, tol):
    # lu_factor's row-major factors solved row by row in place (lu_solve_rows_nn) for the
    # same sizes as solve's; the adjoint and other sizes through getrs.
    A = (rand(2, n, n) + n ** 0.5 * np.eye(n)).astype(dtype)
    B = rand(2, n, k).astype(dtype)
    LU, piv = ts.linalg.lu_factor(t(A))
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    for adjoint, ref in ((False, np.linalg.solve(A64, B64)), (True, np.linalg.solve(np.swapaxes(A64, -1, -2), B64))):
        X = ts.linalg.lu_solve(LU, piv, t(B), adjoint=adjoint).numpy()
        assert np.abs(X - ref).max() <= tol * max(1.0, np.abs(ref).max())


def test_solve_broadcasts_batch_dims_and_left_false():
    A, B = rand(4, 4), rand(5, 4, 3)
    close(ts.linalg.solve(t(A), t(B)), np.linalg.solve(A, B), 1e-10)
    A2, B2 = rand(3, 1, 4, 4), rand(2, 4, 1)
    close(ts.linalg.solve(t(A2), t(B2)), np.linalg.solve(A2, B2), 1e-10)
    # X A = B
    B3 = rand(2, 4)
    close(ts.linalg.solve(t(A), t(B3), left=False), B3 @ np.linalg.inv(A), 1e-10)
    # a 1-d B is a vector whichever the batch
    assert list(ts.linalg.solve(t(rand(3, 4, 4)), t(np.ones(4))).shape) == [3, 4]


def test_solve_promotes_mixed_dtypes():
    A, B = rand(3, 3).astype(np.float32), rand(3, 2)
    x = ts.linalg.solve(t(A), t(B))
    assert x.dtype == ts.float64
    close(x, np.linalg.solve(A.astype(np.float64), B), 1e-6)


def test_singular_solve_and_inv_name_op_and_batch_element():
    A = rand(3, 3, 3)
    A[1] = 0
    with pytest.raises(ts.linalg.LinAlgError, match=r"\[linalg.solve\] \(Batch element 1\).*singular"):
        ts.linalg.solve(t(A), t(rand(3, 3, 1)))
    with pytest.raises(RuntimeError, match=r"\[linalg.inv\] \(Batch element 1\).*singular"):
        ts.linalg.inv(t(A))
    with pytest.raises(RuntimeError, match=r"\[linalg.inv\] The solver failed.*singular"):
        ts.linalg.inv(t(np.zeros((2, 2))))
    inv, info = ts.linalg.inv_ex(t(A))
    assert info.tolist() == [0, 1, 0]
    close(inv[0], np.linalg.inv(A[0]), 1e-10)
    res = ts.linalg.solve_ex(t(A), t(rand(3, 3, 2)))
    assert res.info.tolist() == [0, 1, 0] and list(res.result.shape) == [3, 3, 2]


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_inv_det_slogdet(dtype, tol):
    A = rand(2, 5, 5, dtype=dtype)
    close(ts.linalg.inv(t(A)), np.linalg.inv(A), tol * 10)
    close(ts.linalg.det(t(A)), np.linalg.det(A), tol * 10)
    sign, logabs = ts.linalg.slogdet(t(A))
    s_ref, l_ref = np.linalg.slogdet(A)
    close(sign, s_ref, tol)
    close(logabs, l_ref, tol)
    assert logabs.dtype == (ts.float32 if dtype in (np.float32, np.complex64) else ts.float64)


def test_det_of_singular_is_zero_and_slogdet_minus_inf():
    A = np.array([[1.0, 2.0], [2.0, 4.0]])
    A[1] = 2 * A[0]
    assert ts.linalg.det(t(np.zeros((3, 3)))).item() == 0
    sign, logabs = ts.linalg.slogdet(t(np.zeros((2, 2))))
    assert sign.item() == 0 and logabs.item() == -np.inf
    # a permutation's sign comes from the pivots
    P = np.eye(3)[[1, 0, 2]]
    assert ts.linalg.det(t(P)).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_cholesky(dtype, tol):
    A = spd(3, 4, 4, dtype=dtype)
    L = ts.linalg.cholesky(t(A))
    close(L, np.linalg.cholesky(A), tol * 10)
    U = ts.linalg.cholesky(t(A), upper=True)
    close(U, np.conj(np.swapaxes(np.linalg.cholesky(A), -1, -2)), tol * 10)
    # only the lower triangle is read
    junk = A.copy()
    junk[..., 0, 3] = 1e6
    close(ts.linalg.cholesky(t(junk)), np.linalg.cholesky(A), tol * 10)


@pytest.mark.parametrize("n", [1, 2, 7, 33, 64, 65, 100])  # up to 64 real matrices skip LAPACK (own kernel)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_cholesky_sizes_around_the_small_kernel(n, dtype, tol):
    A = spd(5, n, n)  # float64 SPD, rounded to dtype below
    A32 = A.astype(dtype)
    junk = A32.copy()
    junk[..., np.triu_indices(n, 1)[0], np.triu_indices(n, 1)[1]] = np.nan  # only the lower triangle is read
    L = ts.linalg.cholesky(t(junk))
    ref = np.linalg.cholesky(A32.astype(np.float64))
    close(L, ref, tol * max(1.0, float(np.abs(ref).max())))
    assert np.all(np.triu(L.numpy(), 1) == 0)
    L1 = ts.linalg.cholesky(t(A32[2]))  # one matrix (no batch) goes the same way
    close(L1, ref[2], tol * max(1.0, float(np.abs(ref).max())))


@pytest.mark.parametrize("n", [10, 64, 80])
def test_cholesky_info_names_the_first_failing_minor_at_every_size(n):
    A = spd(3, n, n)
    A[1, 4, 4] = -1e6  # the leading minor of order 5 is the first not positive-definite
    A[2, 6, 6] = np.nan  # NaN counts as not positive-definite, as in LAPACK
    L, info = ts.linalg.cholesky_ex(t(A))
    assert info.tolist() == [0, 5, 7]
    assert np.all(np.isfinite(L.numpy()[0]))
    close(L[0], np.linalg.cholesky(A[0]), 1e-10 * n)
    with pytest.raises(ts.linalg.LinAlgError, match=r"\(Batch element 1\).*leading minor of order 5"):
        ts.linalg.cholesky(t(A))


def test_cholesky_not_positive_definite_names_minor_and_ex_returns_info():
    A = np.stack([np.eye(3), np.diag([1.0, -1.0, 1.0])])
    with pytest.raises(ts.linalg.LinAlgError, match=r"\(Batch element 1\).*leading minor of order 2 is not "
                                                    r"positive-definite"):
        ts.linalg.cholesky(t(A))
    L, info = ts.linalg.cholesky_ex(t(A))
    assert info.tolist() == [0, 2]
    with pytest.raises(RuntimeError, match="leading minor of order 1"):
        ts.linalg.cholesky_ex(t(-np.eye(2)), check_errors=True)


# Past 32 columns the reflectors come in blocks (a partial last one at 45 and
# 520), and from 512 in blocks of 64; Q is formed block by block from them.
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 6, 4), (70, 45), (45, 70), (2, 64, 64), (600, 520)])
@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_qr_modes(shape, dtype, tol):
    A = rand(*shape, dtype=dtype)
    for mode in ("reduced", "complete"):
        Q, R = ts.linalg.qr(t(A), mode=mode)
        Qr, Rr = np.linalg.qr(A, mode=mode)
        assert list(Q.shape) == list(Qr.shape) and list(R.shape) == list(Rr.shape)
        # unique up to the signs of R's diagonal: compare with the signs fixed
        d = np.sign(np.diagonal(R.numpy(), 0, -2, -1)) / np.sign(np.diagonal(Rr, 0, -2, -1))
        k = d.shape[-1]
        close(Q.numpy()[..., :k] * np.conj(d[..., None, :]), Qr[..., :k], tol * 10)
        close(Q @ R, A, tol * 10)
        close(np.triu(R.numpy()), R.numpy(), 0)
        Qn = Q.numpy()  # every column orthonormal, the complete mode's extra ones too
        close(np.conj(np.swapaxes(Qn, -1, -2)) @ Qn, np.broadcast_to(np.eye(Qn.shape[-1]), Qn.shape[:-2] + (Qn.shape[-1],) * 2), tol * 10)
    Q, R = ts.linalg.qr(t(A), mode="r")
    assert Q.numel() == 0
    close(np.abs(R.numpy()), np.abs(np.linalg.qr(A, mode="r")), tol * 10)


# With two threads each block's update of the columns right of it is split in two (q_from_blocks).
@pytest.mark.parametrize("shape", [(200, 150), (150, 200), (2, 180, 180), (600, 520)])
@pytest.mark.parametrize("threads", [1, 2])
def test_qr_q_formed_on_two_threads(shape, threads):
    A = rand(*shape)
    saved = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        for mode in ("reduced", "complete"):
            Q, R = (x.numpy() for x in ts.linalg.qr(t(A), mode=mode))
            close(Q @ R, A, 1e-12)
            close(np.swapaxes(Q, -1, -2) @ Q, np.broadcast_to(np.eye(Q.shape[-1]), Q.shape[:-2] + (Q.shape[-1],) * 2),
                  1e-12)
    finally:
        ts.set_num_threads(saved)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_qr_small_kernel_edge_cases(dtype):
    # Real matrices up to ~100 KB run on tessel's own kernel (linalg_small.h): it scales
    # by a power of two, skips reflectors of zero columns, and leaves NaN to LAPACK.
    tol = 1e-12 if dtype == np.float64 else 2e-5
    big = np.finfo(dtype).max / 8
    tiny = np.finfo(dtype).tiny * 16
    cases = [rand(20, 12) * big, rand(12, 20) * tiny, np.zeros((6, 4)), rand(16, 16)]
    cases[3][:, 5] = 0  # a zero column: its reflector is the identity
    cases[3][:, -1] = cases[3][:, 2]  # rank-deficient (last, so that R stays unique up to signs)
    for A in cases:
        A = A.astype(dtype)
        Q, R = ts.linalg.qr(t(A))
        Qn, Rn = Q.numpy().astype(np.float64), R.numpy().astype(np.float64)
        assert np.isfinite(Qn).all() and np.isfinite(Rn).all()
        scale = max(np.abs(A).max(), np.finfo(dtype).tiny)
        assert np.abs(Qn @ Rn - A).max() <= tol * 10 * scale * A.shape[0]
        assert np.abs(Qn.T @ Qn - np.eye(Qn.shape[1])).max() <= tol * 10
        assert (np.tril(Rn, -1) == 0).all()
        np.testing.assert_allclose(np.abs(np.diag(Rn)), np.abs(np.diag(np.linalg.qr(A.astype(np.float64))[1])),
                                   rtol=tol * 1e3, atol=tol * 10 * scale)
    A = rand(8, 8).astype(dtype)
    A[3, 2] = np.nan
    Q, R = ts.linalg.qr(t(A))
    assert np.isnan(R.numpy()).any()


def test_qr_bad_mode():
    with pytest.raises(ValueError, match=r"\[linalg.qr\] mode must be"):
        ts.linalg.qr(t(rand(3, 3)), mode="full")


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_eigh_and_eigvalsh(dtype, tol):
    A = spd(2, 5, 5, dtype=dtype)
    w, V = ts.linalg.eigh(t(A))
    wr = np.linalg.eigvalsh(A)
    close(w, wr, tol * 10)
    # A V = V diag(w), V unitary
    Vn = V.numpy()
    close(A @ Vn, Vn * w.numpy()[..., None, :], tol * 50)
    close(np.conj(np.swapaxes(Vn, -1, -2)) @ Vn, np.broadcast_to(np.eye(5), (2, 5, 5)), tol * 10)
    close(ts.linalg.eigvalsh(t(A)), wr, tol * 10)
    # UPLO picks the triangle that is read
    B = np.tril(A) + np.triu(rand(5, 5, dtype=dtype) * 100, 1)
    close(ts.linalg.eigvalsh(t(B), UPLO="L"), np.linalg.eigvalsh(B, UPLO="L"), tol * 100)
    C = np.triu(A) + np.tril(rand(5, 5, dtype=dtype) * 100, -1)
    close(ts.linalg.eigh(t(C), UPLO="U").eigenvalues, np.linalg.eigvalsh(C, UPLO="U"), tol * 100)
    with pytest.raises(ValueError, match="UPLO"):
        ts.linalg.eigh(t(A), UPLO="X")


def _check_eigh(A, w, V, tol):
    """w ascending equals NumPy's float64 eigenvalues, A V = V diag(w), V orthogonal, each within
    tol * n * max|A| (the backward-stable bound)."""
    A64 = A.astype(np.float64)
    n = A.shape[-1]
    scale = tol * n * max(float(np.abs(A64).max()), np.finfo(np.float64).tiny)
    w, V = w.numpy().astype(np.float64), V.numpy().astype(np.float64)
    assert np.all(np.diff(w, axis=-1) >= 0)
    assert np.abs(w - np.linalg.eigvalsh(A64)).max(initial=0) <= scale
    assert np.abs(A64 @ V - V * w[..., None, :]).max(initial=0) <= scale
    assert np.abs(np.swapaxes(V, -1, -2) @ V - np.eye(n)).max(initial=0) <= tol * n


# real: own kernel up to 112 (float64) and 160 (float32); 8, 9, 16, 17: rows of one and two 64-byte blocks
@pytest.mark.parametrize("n", [1, 2, 3, 8, 9, 16, 17, 31, 64, 99, 112, 113, 130, 160, 161])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-14), (np.float32, 1e-6)])
def test_eigh_sizes_around_the_small_kernel(n, dtype, tol):
    A = rand(3, n, n)
    A = (A + np.swapaxes(A, -1, -2)).astype(dtype)
    for uplo in ("L", "U"):
        junk = A.copy()  # the other triangle is never read
        rows, cols = np.triu_indices(n, 1) if uplo == "L" else np.tril_indices(n, -1)
        junk[..., rows, cols] = np.nan
        w, V = ts.linalg.eigh(t(junk), UPLO=uplo)
        _check_eigh(A, w, V, tol)
        w1, V1 = ts.linalg.eigh(t(junk[1]), UPLO=uplo)  # one matrix
        _check_eigh(A[1], w1, V1, tol)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-14), (np.float32, 1e-6)])
def test_eigh_special_spectra(dtype, tol):
    n = 40
    Q, _ = np.linalg.qr(rand(n, n))
    cases = {
        "zero": np.zeros((n, n)),
        "identity": np.eye(n),
        "diagonal": np.diag(np.arange(n, 0, -1.0)),
        "repeated": Q @ np.diag(np.repeat([-2.0, 0.0, 3.0, 3.0 + 1e-9], n // 4)) @ Q.T,
        "rank one": np.outer(Q[0], Q[0]) * 5,
        "tridiagonal": np.diag(np.full(n - 1, 1.0), 1) + np.diag(np.full(n - 1, 1.0), -1),
        "graded": np.diag(10.0 ** -np.arange(n, dtype=np.float64) / 2) + 1e-3 * np.ones((n, n)),
    }
    for name, A in cases.items():
        A = ((A + A.T) / 2).astype(dtype)
        w, V = ts.linalg.eigh(t(A))
        _check_eigh(A, w, V, tol)
    for s in (1e-150, 1e150) if dtype == np.float64 else (1e-17, 1e17):  # no square over- or underflows
        A = (rand(n, n) * s).astype(dtype)
        A = A + A.T
        w, V = ts.linalg.eigh(t(A))
        _check_eigh(A, w, V, tol)


# Past small_eigh, two threads run syevd's phases with the back-transformation split by columns
# (syevd_split); a batch (already parallel) and badly scaled input keep syevd.
@pytest.mark.parametrize("shape", [(113, 113), (161, 161), (300, 300), (2, 200, 200)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("upper", [False, True])
def test_eigh_split_back_transformation(shape, dtype, tol, upper):
    A = rand(*shape)
    A = (A + np.swapaxes(A, -1, -2)).astype(dtype)
    saved = ts.get_num_threads()
    try:
        for threads in (1, 2):
            ts.set_num_threads(threads)
            for s in (1.0, 1e-160 if dtype == np.float64 else 1e-20):
                As = (A * s).astype(dtype)
                Ag = As.copy()  # only the chosen triangle is read: NaN in the other
                i, j = np.triu_indices(shape[-1], 1)
                Ag[..., (j if upper else i), (i if upper else j)] = np.nan
                w, V = ts.linalg.eigh(t(Ag), UPLO="U" if upper else "L")
                _check_eigh(As, w, V, tol)
    finally:
        ts.set_num_threads(saved)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_eigh_torn_tridiagonal_special_spectra(dtype, tol):
    # stedc_torn: a tridiagonal that splits exactly at the tear (diagonal, two blocks of 100) goes to
    # stedc whole; a tear inside a block, and spectra where the rank-one merge deflates most
    # eigenvalues (I + u u^T, a cluster 1e-9 wide, a double eigenvalue), through laed1.
    n = 200
    u = rand(n, 1)
    Q, _ = np.linalg.qr(rand(n, n))
    cluster = 1 + 1e-9 * rng.standard_normal(n)
    cluster[: n // 2] += 5
    double = np.repeat(rand(n // 2), 2)
    cases = [np.diag(rand(n)), sla.block_diag(rand(100, 100), rand(100, 100)),
             sla.block_diag(rand(99, 99), rand(101, 101)), 3 * np.eye(n) + u @ u.T,
             (Q * cluster) @ Q.T, (Q * double) @ Q.T]
    saved = ts.get_num_threads()
    ts.set_num_threads(2)
    try:
        for A in cases:
            A = ((A + A.T) / 2).astype(dtype)
            w, V = ts.linalg.eigh(t(A))
            _check_eigh(A, w, V, tol)
    finally:
        ts.set_num_threads(saved)


def test_eigh_non_finite_input_is_lapacks_answer():
    # NaN or inf leaves the small kernel (it returns "not handled"): LAPACK's behaviour, as before.
    A = np.eye(6)
    A[2, 3] = A[3, 2] = np.nan
    w = ts.linalg.eigvalsh(t(A)).numpy()  # eigvalsh always runs LAPACK
    w2 = ts.linalg.eigh(t(A)).eigenvalues.numpy()
    assert np.array_equal(np.isnan(w), np.isnan(w2))


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 3, 6, 2)])
@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_svd_and_svdvals(shape, dtype, tol):
    A = rand(*shape, dtype=dtype)
    S_ref = np.linalg.svd(A, compute_uv=False)
    for full in (True, False):
        U, S, Vh = ts.linalg.svd(t(A), full_matrices=full)
        Ur, _, Vhr = np.linalg.svd(A, full_matrices=full)
        assert list(U.shape) == list(Ur.shape) and list(Vh.shape) == list(Vhr.shape)
        close(S, S_ref, tol * 10)
        k = S.shape[-1]
        close((U.numpy()[..., :k] * S.numpy()[..., None, :]) @ Vh.numpy()[..., :k, :], A, tol * 10)
        m, n = shape[-2], shape[-1]
        close(np.conj(np.swapaxes(U.numpy(), -1, -2)) @ U.numpy(), np.broadcast_to(np.eye(U.shape[-1]),
              U.numpy().shape[:-2] + (U.shape[-1],) * 2), tol * 10)
        assert (m, n) == tuple(shape[-2:])
    close(ts.linalg.svdvals(t(A)), S_ref, tol * 10)
    assert ts.linalg.svdvals(t(A)).dtype == (ts.float32 if dtype in (np.float32, np.complex64) else ts.float64)


def _check_svd(A, tol, full):
    ref = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    scale = max(ref.max(initial=0), np.finfo(A.dtype).tiny)
    U, S, Vh = (x.numpy() for x in ts.linalg.svd(t(A), full_matrices=full))
    k = S.shape[-1]
    assert np.abs(S - ref).max() <= tol * scale
    assert np.abs((U[..., :k] * S[..., None, :]) @ Vh[..., :k, :] - A).max() <= tol * scale
    for Q in (np.swapaxes(U, -1, -2) @ U, Vh @ np.swapaxes(Vh, -1, -2)):
        assert np.abs(Q - np.eye(Q.shape[-1])).max() <= tol * 10
    assert np.abs(ts.linalg.svdvals(t(A)).numpy() - ref).max() <= tol * scale


# svd's own bidiagonal reduction (linalg_bidiag.h) takes LAPACK's view M >= N > 128, M < 11 N / 6
# (tall matrices through their transpose), with the pass split over two threads from 384 rows and
# columns, and a team of one inside a batch; beyond those shapes, and for badly scaled input, gesdd.
@pytest.mark.parametrize("shape", [(129, 129), (130, 200), (200, 130), (140, 270), (270, 140), (160, 300),
                                   (300, 160), (2, 150, 140), (400, 400), (2, 390, 400)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("threads", [1, 2])
def test_svd_own_bidiagonal_reduction(shape, dtype, tol, threads):
    A = rand(*shape, dtype=dtype)
    saved = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        for full in (False, True):
            _check_svd(A, tol, full)
    finally:
        ts.set_num_threads(saved)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_svd_bidiagonal_reduction_rank_deficient_and_scaled(dtype, tol):
    # rank 3, one nonzero row and a diagonal (reflectors with nothing to annihilate: tau = 0), zero
    # columns, and entries so small or large that gesdd scales them first (these go to gesdd).
    low = (rand(200, 3) @ rand(3, 180)).astype(dtype)
    one_row = np.zeros((150, 160), dtype)
    one_row[0] = rand(160)
    blocks = sla.block_diag(rand(40, 40), np.diag(rand(150))).astype(dtype)  # tau = 0 in the second panel
    zero_cols = rand(180, 200).astype(dtype)
    zero_cols[:, 50:90] = 0
    big, tiny = (1e150, 1e-150) if dtype == np.float64 else (1e17, 1e-17)
    for A in (low, one_row, blocks, np.diag(rand(150)).astype(dtype), zero_cols, np.zeros((150, 150), dtype), (rand(150, 160) * big).astype(dtype),
              (rand(150, 160) * tiny).astype(dtype)):
        _check_svd(A, tol, False)


def test_eig_and_eigvals():
    A = rand(3, 4, 4)
    w, V = ts.linalg.eig(t(A))
    assert w.dtype == ts.complex128 and V.dtype == ts.complex128
    Vn = V.numpy()
    close(A.astype(complex) @ Vn, Vn * w.numpy()[..., None, :], 1e-10)
    close(np.linalg.norm(Vn, axis=-2), np.ones((3, 4)), 1e-12)
    ref = np.sort_complex(np.linalg.eigvals(A))
    close(np.sort_complex(ts.linalg.eigvals(t(A)).numpy()), ref, 1e-10)
    Ac = rand(4, 4, dtype=np.complex64)
    w, V = ts.linalg.eig(t(Ac))
    assert w.dtype == ts.complex64
    close(Ac @ V.numpy(), V.numpy() * w.numpy()[None, :], 1e-4)
    # a rotation: complex pair
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    close(np.sort_complex(ts.linalg.eigvals(t(R)).numpy()), np.array([-1j, 1j]), 1e-14)


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_solve_triangular(dtype, tol):
    A = rand(2, 4, 4, dtype=dtype) + 4 * np.eye(4)
    B = rand(2, 4, 3, dtype=dtype)
    for upper in (True, False):
        T = np.triu(A) if upper else np.tril(A)
        close(ts.linalg.solve_triangular(t(A), t(B), upper=upper), np.linalg.solve(T, B), tol * 10)
        Bl = rand(2, 3, 4, dtype=dtype)
        close(ts.linalg.solve_triangular(t(A), t(Bl), upper=upper, left=False), Bl @ np.linalg.inv(T), tol * 10)
        Tu = T.copy()
        idx = np.arange(4)
        Tu[..., idx, idx] = 1
        close(ts.linalg.solve_triangular(t(A), t(B), upper=upper, unitriangular=True), np.linalg.solve(Tu, B),
              tol * 10)
    # batch broadcast: one A for a batch of B
    close(ts.linalg.solve_triangular(t(np.triu(A[0])), t(B), upper=True), np.linalg.solve(np.triu(A[0]), B),
          tol * 10)


def test_lu_factor_lu_solve_and_lu():
    A = rand(2, 5, 5)
    LU, piv = ts.linalg.lu_factor(t(A))
    assert piv.dtype == ts.int32
    lu_ref, piv_ref = sla.lu_factor(A[0])
    close(LU[0], lu_ref, 1e-12)
    assert (piv[0].numpy() - 1).tolist() == piv_ref.tolist()
    B = rand(2, 5, 3)
    close(ts.linalg.lu_solve(LU, piv, t(B)), np.linalg.solve(A, B), 1e-10)
    close(ts.linalg.lu_solve(LU, piv, t(B), adjoint=True), np.linalg.solve(np.swapaxes(A, -1, -2), B), 1e-10)
    Br = rand(2, 3, 5)
    close(ts.linalg.lu_solve(LU, piv, t(Br), left=False), Br @ np.linalg.inv(A), 1e-10)
    P, L, U = ts.linalg.lu(t(A))
    close(P @ L @ U, A, 1e-12)
    Pr, Lr, Ur = sla.lu(A[1])
    close(P[1], Pr, 0)
    close(L[1], Lr, 1e-12)
    close(U[1], Ur, 1e-12)
    # rectangular
    W = rand(3, 5)
    P, L, U = ts.linalg.lu(t(W))
    assert [list(P.shape), list(L.shape), list(U.shape)] == [[3, 3], [3, 3], [3, 5]]
    close(P @ L @ U, W, 1e-12)
    _, _, info = ts.linalg.lu_factor_ex(t(np.zeros((2, 2))))
    assert info.item() == 1
    with pytest.raises(ts.linalg.LinAlgError, match=r"\[linalg.lu_factor\].*singular"):
        ts.linalg.lu_factor_ex(t(np.zeros((2, 2))), check_errors=True)
    Ac = rand(4, 4, dtype=np.complex128)
    LUc, pc = ts.linalg.lu_factor(t(Ac))
    Bc = rand(4, 2, dtype=np.complex128)
    close(ts.linalg.lu_solve(LUc, pc, t(Bc), adjoint=True), np.linalg.solve(Ac.conj().T, Bc), 1e-10)
    close(ts.linalg.lu_solve(LUc, pc, t(Bc.T), left=False, adjoint=True), Bc.T @ np.linalg.inv(Ac.conj().T), 1e-10)


@pytest.mark.parametrize("shape", [(6, 3), (3, 6), (4, 4)])
def test_lstsq_matches_numpy(shape):
    A, B = rand(*shape), rand(shape[0], 2)
    X, res, rank, sv = np.linalg.lstsq(A, B, rcond=None)
    r = ts.linalg.lstsq(t(A), t(B), driver="gelsd")
    close(r.solution, X, 1e-10)
    assert r.rank.item() == rank
    close(r.singular_values, sv, 1e-10)
    if shape[0] > shape[1]:
        close(r.residuals, res, 1e-10)
    else:
        assert r.residuals.numel() == 0
    # default driver (gelsy in torch): no singular values
    assert ts.linalg.lstsq(t(A), t(B)).singular_values.numel() == 0


def test_lstsq_rank_deficient_batched_and_vector():
    A = rand(3, 6, 4)
    A[1, :, 3] = A[1, :, 0]  # rank 3
    B = rand(3, 6, 2)
    r = ts.linalg.lstsq(t(A), t(B))
    assert r.rank.tolist() == [4, 3, 4]
    assert r.residuals.numel() == 0  # not every matrix has full rank
    for i in range(3):
        close(r.solution[i], np.linalg.lstsq(A[i], B[i], rcond=None)[0], 1e-9)
    b = rand(3, 6)
    close(ts.linalg.lstsq(t(A), t(b)).solution, np.stack([np.linalg.lstsq(A[i], b[i], rcond=None)[0]
                                                          for i in range(3)]), 1e-9)
    with pytest.raises(ValueError, match="driver"):
        ts.linalg.lstsq(t(A), t(B), driver="magic")


def test_pinv_matrix_rank_cond():
    A = rand(2, 5, 3)
    close(ts.linalg.pinv(t(A)), np.linalg.pinv(A), 1e-10)
    S = spd(4, 4)
    close(ts.linalg.pinv(t(S), hermitian=True), np.linalg.pinv(S, hermitian=True), 1e-10)
    D = np.diag([1.0, 1e-3, 1e-20])
    assert ts.linalg.matrix_rank(t(D)).item() == 2
    assert ts.linalg.matrix_rank(t(D), atol=1e-2).item() == 1
    assert ts.linalg.matrix_rank(t(D), hermitian=True).item() == 2
    assert ts.linalg.matrix_rank(t(rand(3, 4, 6))).tolist() == [4, 4, 4]
    close(ts.linalg.pinv(t(D), rtol=1e-2), np.linalg.pinv(D, rcond=1e-2), 1e-12)
    M = rand(4, 4)
    close(ts.linalg.cond(t(M)), np.linalg.cond(M), 1e-9)
    close(ts.linalg.cond(t(M), "fro"), np.linalg.cond(M, "fro"), 1e-9)
    close(ts.linalg.cond(t(M), 1), np.linalg.cond(M, 1), 1e-9)


def test_matrix_norm_spectral_and_nuclear_and_negative_power():
    A = rand(3, 4, 5)
    for ord in (2, -2, "nuc"):
        close(ts.linalg.matrix_norm(t(A), ord), np.linalg.norm(A, ord, axis=(-2, -1)), 1e-10)
        close(ts.linalg.norm(t(A[0]), ord), np.linalg.norm(A[0], ord), 1e-10)
    close(ts.linalg.matrix_norm(t(A), 2, dim=(0, 2), keepdim=True),
          np.linalg.norm(A, 2, axis=(0, 2), keepdims=True), 1e-10)
    M = rand(4, 4)
    close(ts.linalg.matrix_power(t(M), -3), np.linalg.matrix_power(M, -3), 1e-8)


def test_cross_and_array_api_names():
    a, b = rand(4, 3), rand(1, 3)
    close(ts.linalg.cross(t(a), t(b)), np.cross(a, b), 1e-14)
    c, d = rand(3, 5), rand(3, 5)
    close(ts.linalg.cross(t(c), t(d), dim=0), np.cross(c, d, axis=0), 1e-14)
    close(ts.linalg.cross(t(c), t(d), axis=0), np.cross(c, d, axis=0), 1e-14)
    with pytest.raises(ValueError, match="size 3"):
        ts.linalg.cross(t(rand(4)), t(rand(4)))
    M = rand(2, 3, 4)
    close(ts.linalg.matrix_transpose(t(M)), np.swapaxes(M, -1, -2), 0)
    close(ts.linalg.trace(t(M)), np.trace(M, axis1=-2, axis2=-1), 1e-14)
    close(ts.linalg.trace(t(M), offset=1), np.trace(M, 1, axis1=-2, axis2=-1), 1e-14)
    close(ts.linalg.diagonal(t(M), offset=-1), np.diagonal(M, -1, -2, -1), 0)
    close(ts.linalg.outer(t(a[0]), t(b[0])), np.outer(a[0], b[0]), 1e-14)
    N = rand(3, 4, 5)
    close(ts.linalg.tensordot(t(M), t(N), axes=2), np.tensordot(M, N, axes=2), 1e-12)
    K = rand(4, 2)
    close(ts.linalg.tensordot(t(M), t(K), axes=1), np.tensordot(M, K, axes=1), 1e-12)
    close(ts.linalg.matmul(t(M), t(np.swapaxes(M, -1, -2))), M @ np.swapaxes(M, -1, -2), 1e-14)
    close(ts.linalg.vector_norm(t(M), axis=-1, keepdims=True), np.linalg.norm(M, axis=-1, keepdims=True), 1e-14)
    close(ts.linalg.matrix_norm(t(M), keepdims=True), np.linalg.norm(M, axis=(-2, -1), keepdims=True), 1e-14)
    close(ts.linalg.vecdot(t(M), t(M), axis=-1), (M * M).sum(-1), 1e-14)


def test_named_results():
    A = spd(3, 3)
    r = ts.linalg.eigh(t(A))
    assert type(r).__name__ == "linalg_eigh" and r.eigenvalues is r[0]
    assert ts.linalg.svd(t(A)).Vh.shape == ts.linalg.svd(t(A))[2].shape
    assert ts.linalg.qr(t(A)).R is not None and ts.linalg.slogdet(t(A)).logabsdet.dtype == ts.float64
    assert ts.linalg.cholesky_ex(t(A)).info.item() == 0
    assert "LU=" in repr(ts.linalg.lu_factor(t(A)))


def test_input_errors():
    with pytest.raises(ValueError, match=r"\[linalg.inv\] expects square matrices"):
        ts.linalg.inv(t(rand(3, 4)))
    with pytest.raises(ValueError, match=r"\[linalg.det\] expects a tensor with at least 2 dims"):
        ts.linalg.det(t(rand(3)))
    with pytest.raises(TypeError, match=r"\[linalg.cholesky\] expects a float32, float64, complex64 or complex128"):
        ts.linalg.cholesky(ts.ones(3, 3, dtype=ts.int64))
    with pytest.raises(ValueError, match=r"\[linalg.solve\] incompatible shapes"):
        ts.linalg.solve(t(rand(3, 3)), t(rand(4, 2)))
    with pytest.raises(ValueError, match=r"\[linalg.solve\]"):
        ts.linalg.solve(t(rand(2, 3, 3)), t(rand(4, 3, 2)))
    with pytest.raises(ValueError, match=r"\[linalg.ldl_factor\] expects square"):
        ts.linalg.ldl_factor(t(rand(3, 4)))
    with pytest.raises(TypeError, match=r"\[linalg.ldl_solve\] expects pivots of dtype int32"):
        ts.linalg.ldl_solve(t(rand(3, 3)), ts.zeros(3, dtype=ts.int64), t(rand(3, 1)))
    with pytest.raises(AttributeError):
        ts.linalg.no_such_function


def test_empty_batches_and_matrices():
    assert list(ts.linalg.inv(t(np.zeros((0, 3, 3)))).shape) == [0, 3, 3]
    assert list(ts.linalg.det(t(np.zeros((0, 2, 2)))).shape) == [0]
    assert list(ts.linalg.svdvals(t(np.zeros((2, 0, 3)))).shape) == [2, 0]
    assert list(ts.linalg.eigvalsh(t(np.zeros((0, 4, 4)))).shape) == [0, 4]
    assert list(ts.linalg.solve(t(np.zeros((0, 0))), t(np.zeros((0, 2)))).shape) == [0, 2]


def test_float32_factorizations_stay_float32_and_use_lapack_precision():
    A = spd(6, 6).astype(np.float32)
    assert ts.linalg.cholesky(t(A)).dtype == ts.float32
    w = ts.linalg.eigvalsh(t(A))
    assert w.dtype == ts.float32
    close(w, np.linalg.eigvalsh(A.astype(np.float64)), 1e-4)
