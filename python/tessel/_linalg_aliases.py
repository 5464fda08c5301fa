"""PyTorch's top-level linear-algebra names (torch.det, torch.inverse, torch.svd, ...) and their Tensor methods,
as thin forwards to ts.linalg (installed on the tessel namespace and ts.Tensor by tessel/__init__.py). Where
PyTorch's old names differ from torch.linalg (svd returns V, not Vh; triangular_solve takes B first), they
follow PyTorch's old names.
"""
from . import _C, linalg, return_types
from ._C import Tensor
from ._linalg_matfn import cholesky_solve, matrix_exp  # noqa: F401  (re-exported)

__all__ = ["det", "logdet", "slogdet", "inverse", "pinverse", "cholesky", "cholesky_solve", "cholesky_inverse",
           "matrix_exp", "matrix_power", "lu", "lu_solve", "lu_unpack", "qr", "svd", "triangular_solve", "orgqr",
           "ormqr", "ger", "inner", "kron", "chain_matmul", "vander", "addmv", "addr", "addbmm"]


def det(input):  # noqa: A002  (PyTorch's argument names)
    """The determinant of each square matrix (ts.linalg.det)."""
    return linalg.det(input)


def logdet(input):  # noqa: A002
    """log(det(A)): -inf for a singular A, nan for a negative determinant (real A), as torch.logdet."""
    sign, logabs = linalg.slogdet(input)
    return logabs + _C.log(sign)  # log(-1) = nan, log(0) = -inf; a complex sign adds its angle


def slogdet(input):  # noqa: A002
    """(sign, logabsdet) of each square matrix (ts.linalg.slogdet)."""
    return return_types.slogdet(*linalg.slogdet(input))


def inverse(input):  # noqa: A002
    """The inverse of each square matrix (ts.linalg.inv)."""
    return linalg.inv(input)


def pinverse(input, rcond=1e-15):  # noqa: A002
    """The pseudo-inverse; singular values below rcond * the largest count as zero (ts.linalg.pinv)."""
    return linalg.pinv(input, rtol=rcond)


def cholesky(input, upper=False):  # noqa: A002
    """The Cholesky factor (ts.linalg.cholesky)."""
    return linalg.cholesky(input, upper=upper)


def cholesky_inverse(input, upper=False):  # noqa: A002
    """inv(A) from A's Cholesky factor (ts.linalg.cholesky_inverse)."""
    return linalg.cholesky_inverse(input, upper=upper)


def matrix_power(input, n):  # noqa: A002
    return linalg.matrix_power(input, n)


def lu(A, pivot=True, get_infos=False):
    """(LU, pivots) or (LU, pivots, infos) as torch.lu (ts.linalg.lu_factor_ex)."""
    LU, pivots, info = linalg.lu_factor_ex(A, pivot=pivot)
    return (LU, pivots, info) if get_infos else (LU, pivots)


def lu_solve(b, LU_data, LU_pivots):
    """X with A X = b from torch.lu's factors (ts.linalg.lu_solve with the arguments reordered)."""
    return linalg.lu_solve(LU_data, LU_pivots, b)


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    """(P, L, U) from packed LU factors: P a permutation, L unit lower [..., m, k], U upper [..., k, n]."""
    P, L, U = linalg._unpack(LU_data, LU_pivots, unpack_data, unpack_pivots)
    return return_types.lu_unpack(P, L, U)


def qr(input, some=True):  # noqa: A002
    """(Q, R): reduced when some, else complete (ts.linalg.qr)."""
    return return_types.qr(*linalg.qr(input, "reduced" if some else "complete"))


def svd(input, some=True, compute_uv=True):  # noqa: A002
    """(U, S, V) with A = U diag(S) V^H (V, not Vh, as torch.svd); compute_uv=False gives zero U and V."""
    if not compute_uv:
        S = linalg.svdvals(input)
        m, n = input.shape[-2], input.shape[-1]
        k = min(m, n)
        batch = tuple(input.shape[:-2])
        U = _C.zeros(batch + (m, k if some else m), dtype=input.dtype)
        V = _C.zeros(batch + (n, k if some else n), dtype=input.dtype)
        return return_types.svd(U, S, V)
    U, S, Vh = linalg.svd(input, full_matrices=not some)
    return return_types.svd(U, S, Vh.mH if input.dtype.is_complex else Vh.mT)


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """(solution, cloned_coefficient): X with A X = b (A^T X = b when transpose), A triangular."""
    if transpose:
        X = linalg.solve_triangular(A.mT, b, upper=not upper, unitriangular=unitriangular)
    else:
        X = linalg.solve_triangular(A, b, upper=upper, unitriangular=unitriangular)
    return return_types.triangular_solve(X, A.clone())


def orgqr(input, tau):  # noqa: A002
    """The Householder product (ts.linalg.householder_product)."""
    return linalg.householder_product(input, tau)


def ormqr(input, tau, other, left=True, transpose=False):  # noqa: A002
    """Q @ other (or other @ Q; Q^H with transpose) for the m x m Q of the reflectors in input [..., m, n] and
    tau, as LAPACK's ormqr."""
    m, n = input.shape[-2], input.shape[-1]
    if n < m:  # complete Q: the missing reflectors are zero (tau = 0 makes H = I)
        pad = _C.zeros(tuple(input.shape[:-1]) + (m - n,), dtype=input.dtype)
        input = _C.cat([input, pad], -1)
    k = tau.shape[-1]
    if k < m:
        tau = _C.cat([tau, _C.zeros(tuple(tau.shape[:-1]) + (m - k,), dtype=tau.dtype)], -1)
    Q = linalg.householder_product(input[..., :, :m], tau)
    if transpose:
        Q = Q.mH if Q.dtype.is_complex else Q.mT
    return Q @ other if left else other @ Q


def _beta_alpha(op, input, product, beta, alpha):
    """beta * input + alpha * product; beta 0 ignores input (its NaN and inf too), as PyTorch."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): input must be a Tensor, got {type(input).__name__}")
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        return out + _C.zeros_like(input).to(out.dtype)  # input's shape still broadcasts
    return (input if beta == 1 else input * beta) + out


def addmv(input, mat, vec, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * (mat @ vec)."""
    return _beta_alpha("addmv", input, _C.mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * outer(vec1, vec2)."""
    return _beta_alpha("addr", input, _C.outer(vec1, vec2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * the sum over the batch of batch1[i] @ batch2[i]."""
    return _beta_alpha("addbmm", input, _C.bmm(batch1, batch2).sum(0), beta, alpha)


def ger(input, vec2):  # noqa: A002
    """The outer product (ts.outer)."""
    return _C.outer(input, vec2)


def inner(input, other):  # noqa: A002
    """The sum of products over the last dims (a scalar times a tensor when either is 0-d)."""
    if input.dim() == 0 or other.dim() == 0:
        return input * other
    return _C.tensordot(input, other, [[input.dim() - 1], [other.dim() - 1]])


def kron(input, other):  # noqa: A002
    """The Kronecker product: block (i, j) is input[i, j] * other, over all dims (the fewer-dim one gets
    leading 1s)."""
    nd = max(input.dim(), other.dim())
    a = input.reshape((1,) * (nd - input.dim()) + tuple(input.shape))
    b = other.reshape((1,) * (nd - other.dim()) + tuple(other.shape))
    # a [..., i, 1] * b [..., 1, j] interleaved per dim, then merged
    a_sh = [s for d in a.shape for s in (d, 1)]
    b_sh = [s for d in b.shape for s in (1, d)]
    out = a.reshape(a_sh) * b.reshape(b_sh)
    return out.reshape([x * y for x, y in zip(a.shape, b.shape)])


def chain_matmul(*matrices):
    """The product of a chain of matrices (ts.linalg.multi_dot)."""
    if len(matrices) == 1:
        return matrices[0].clone()
    return linalg.multi_dot(list(matrices))


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-d x: columns x^(N-1) ... x^0 (x^0 ... x^(N-1) when increasing)."""
    if x.dim() != 1:
        raise ValueError(f"[vander] expects a 1-d tensor, got shape {list(x.shape)}")
    N = x.shape[0] if N is None else N
    if N < 0:
        raise ValueError(f"[vander] N must be non-negative, got {N}")
    if N == 0:
        return _C.empty([x.shape[0], 0], dtype=x.dtype)
    if N == 1:
        V = _C.ones_like(x).unsqueeze(-1)
    else:
        V = linalg.vander(x, N=N)
    return V if increasing else V.flip(-1)


_METHODS = {
    "det": det, "logdet": logdet, "slogdet": slogdet, "inverse": inverse, "pinverse": pinverse,
    "cholesky": cholesky, "cholesky_inverse": cholesky_inverse, "matrix_exp": matrix_exp,
    "matrix_power": matrix_power, "lu": lu, "qr": qr, "svd": svd, "orgqr": orgqr, "ormqr": ormqr, "ger": ger,
    "inner": inner, "kron": kron, "addmv": addmv, "addr": addr, "addbmm": addbmm,
    # the Tensor is the right-hand side in these, as in PyTorch
    "cholesky_solve": lambda self, input2, upper=False: cholesky_solve(self, input2, upper),
    "lu_solve": lambda self, LU_data, LU_pivots: lu_solve(self, LU_data, LU_pivots),
    "triangular_solve": lambda self, A, upper=True, transpose=False, unitriangular=False:
        triangular_solve(self, A, upper, transpose, unitriangular),
}


def install():
    for name, fn in _METHODS.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, fn)

