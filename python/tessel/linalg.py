"""ts.linalg: torch.linalg on tessel tensors. The factorizations and solvers
(solve, inv, det, slogdet, cholesky, lu*, qr, eigh, svd, eig, solve_triangular)
run in C++ through LAPACK (tessel._C._linalg, src/ops/linalg_lapack.cpp), batched
over leading dims; the rest (lstsq, pinv, matrix_rank, cond, cross, norms, ...)
is built here from those and tessel ops, so real inputs are differentiable
wherever the building blocks are (conditions in docs/linalg.md). Also the names
of the array API's linalg extension (matrix_transpose, outer, tensordot, trace,
diagonal, matmul, and axis=/keepdims= spellings).
"""
import functools
import math
import numbers

from . import _C, return_types
from ._C import Tensor
from ._linalg_matfn import matrix_exp, tensorinv, tensorsolve, householder_product, cholesky_inverse, vander  # noqa

_L = _C._linalg

__all__ = ["norm", "vector_norm", "matrix_norm", "matrix_power", "vecdot", "multi_dot", "solve", "solve_ex", "inv",
           "inv_ex", "det", "slogdet", "cholesky", "cholesky_ex", "lu_factor", "lu_factor_ex", "lu_solve", "lu",
           "solve_triangular", "qr", "eigh", "eigvalsh", "svd", "svdvals", "eig", "eigvals", "lstsq", "pinv",
           "matrix_rank", "cond", "cross", "matmul", "diagonal", "matrix_transpose", "outer", "tensordot", "trace",
           "matrix_exp", "tensorinv", "tensorsolve", "householder_product", "cholesky_inverse", "vander",
           "ldl_factor", "ldl_factor_ex", "ldl_solve", "LinAlgError"]


class LinAlgError(RuntimeError):
    """Raised when a factorization or solve fails on its input (singular, not positive-definite, no
    convergence), as torch.linalg.LinAlgError; the message names the op and the batch element."""


def _lapack(fn):
    # the C++ ops raise RuntimeError for failed factorizations: re-raise as LinAlgError (a RuntimeError)
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RuntimeError as e:
            if type(e) is RuntimeError and str(e).startswith("[linalg.") and (
                    "singular" in str(e) or "positive-definite" in str(e) or "converge" in str(e)):
                raise LinAlgError(str(e)) from None
            raise
    return wrapper


def _check(op, A, min_dim):
    if not isinstance(A, Tensor):
        raise TypeError(f"[linalg.{op}] expects a Tensor, got {type(A).__name__}")
    if A.dim() < min_dim:
        raise ValueError(f"[linalg.{op}] expects a tensor with at least {min_dim} dims, got shape {list(A.shape)}")
    if not (A.dtype.is_floating_point or A.dtype.is_complex):
        raise TypeError(f"[linalg.{op}] expects a floating-point or complex tensor, got {A.dtype}")


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):  # noqa: A002
    """The vector ord-norm over `dim` (all elements when None): sum(|x|**ord)**(1/ord); inf/-inf: max/min |x|;
    0: the number of non-zeros. axis/keepdims: the array API's spellings of dim/keepdim."""
    _check("vector_norm", x, 0)
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    if isinstance(ord, str) or not isinstance(ord, numbers.Real):
        raise ValueError(f"[linalg.vector_norm] ord must be a number, got {ord!r}")
    if dtype is not None:
        x = x.to(dtype)
    if dim is None and x.dim() > 0:  # every dim, without reshape(-1)'s copy of a non-contiguous x
        dim = tuple(range(x.dim()))
    return _C.norm(x, float(ord), dim, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, keepdims=None):  # noqa: A002
    """The matrix norm over the two dims `dim`: 'fro'; 'nuc' (sum of singular values); 2/-2 (largest/smallest
    singular value); 1/-1 (max/min column abs sum); inf/-inf (max/min row abs sum). keepdims: the array API's
    spelling of keepdim."""
    _check("matrix_norm", A, 2)
    if keepdims is not None:
        keepdim = keepdims
    if dtype is not None:
        A = A.to(dtype)
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ValueError(f"[linalg.matrix_norm] dim must be a pair of dims, got {dim!r}")
    r, c = (d + A.dim() if d < 0 else d for d in dim)
    if not (0 <= r < A.dim() and 0 <= c < A.dim()) or r == c:
        raise IndexError(f"[linalg.matrix_norm] dims {tuple(dim)} are not two different dims of a "
                         f"{A.dim()}-d tensor")
    if ord == "fro":
        out = A.abs().pow(2).sum((r, c), keepdim=True).sqrt()
    elif ord in (1, -1, math.inf, -math.inf):
        # sum over the other dim first, then max/min over the remaining one
        summed, over = (r, c) if ord in (1, -1) else (c, r)
        s = A.abs().sum(summed, keepdim=True)
        out = s.amax(over, keepdim=True) if ord > 0 else s.amin(over, keepdim=True)
    elif ord in ("nuc", 2, -2):
        # singular values of the [..., r, c] matrices, with the two dims moved last
        rest = [d for d in range(A.dim()) if d not in (r, c)]
        sv = svdvals(A.permute(rest + [r, c]))
        out = sv.sum(-1) if ord == "nuc" else (sv.amax(-1) if ord == 2 else sv.amin(-1))
        return out.unsqueeze(min(r, c)).unsqueeze(max(r, c)) if keepdim else out
    else:
        raise ValueError(f"[linalg.matrix_norm] ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, got {ord!r}")
    if not keepdim:
        out = out.squeeze(max(r, c)).squeeze(min(r, c))
    return out


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """torch.linalg.norm: a vector norm when `dim` is an int (or A is 1-d), a matrix norm when `dim` is a pair
    (or A is 2-d); ord=None with dim=None is the 2-norm of all elements."""
    _check("norm", A, 0)
    if isinstance(dim, numbers.Integral):
        dim = (dim,)
    if ord is None:
        if dim is not None and len(dim) == 2:
            return matrix_norm(A, "fro", dim, keepdim, dtype=dtype)
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.dim() == 1:
            return vector_norm(A, ord, None, keepdim, dtype=dtype)
        if A.dim() == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
        raise ValueError(f"[linalg.norm] with ord={ord!r} and dim=None the input must be 1-d or 2-d, "
                         f"got shape {list(A.shape)}")
    if len(dim) == 1:
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, ord, dim, keepdim, dtype=dtype)
    raise ValueError(f"[linalg.norm] dim must be an int or a pair, got {dim!r}")


def matrix_power(A, n):
    """A @ A @ ... (n times) by repeated squaring; n = 0 gives the identity; negative n powers inv(A)."""
    if not isinstance(A, Tensor):
        raise TypeError(f"[linalg.matrix_power] expects a Tensor, got {type(A).__name__}")
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"[linalg.matrix_power] expects square matrices [..., n, n], got shape {list(A.shape)}")
    if not isinstance(n, numbers.Integral):
        raise TypeError(f"[linalg.matrix_power] n must be an int, got {type(n).__name__}")
    if n < 0:
        A, n = inv(A), -n
    result = _C.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand(*A.shape) if n == 0 else None
    base = A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result.clone() if result is A else result


def vecdot(x, y, *, dim=-1, axis=None):
    """sum(conj(x) * y) over `dim` (broadcast, dtypes promoted as the standard says); axis: the array API's
    spelling. The top-level ts.vecdot."""
    from . import _array_api_ops
    return _array_api_ops.vecdot(x, y, axis=dim if axis is None else axis)


def multi_dot(tensors):
    """The product of a chain of matrices (the first may be 1-d, a row; the last 1-d, a column)."""
    if not isinstance(tensors, (list, tuple)) or len(tensors) < 2:
        raise ValueError("[linalg.multi_dot] expects a list of at least two tensors")
    return functools.reduce(lambda a, b: a @ b, tensors)


# ---- factorizations and solvers (LAPACK, in C++) ----

@_lapack
def solve(A, B, *, left=True):
    """X with A X = B (left) or X A = B; B may be a batch of vectors [..., n]. Raises LinAlgError naming the
    batch element when A is singular."""
    return _L.solve(A, B, left)


@_lapack
def solve_ex(A, B, *, left=True, check_errors=False):
    """solve that returns (result, info) instead of raising: info > 0 where A is singular."""
    return return_types.linalg_solve_ex(*_L.solve_ex(A, B, left, check_errors))


@_lapack
def inv(A):
    """The inverse of each square matrix of A [..., n, n]; LinAlgError when one is singular."""
    return _L.inv(A)


@_lapack
def inv_ex(A, *, check_errors=False):
    """(inverse, info): info > 0 where A is singular (the inverse is then not meaningful)."""
    return return_types.linalg_inv_ex(*_L.inv_ex(A, check_errors))


def det(A):
    """The determinant of each square matrix (from its LU factorization)."""
    return _L.det(A)


def slogdet(A):
    """(sign, logabsdet) with det = sign * exp(logabsdet); a singular matrix gives (0, -inf)."""
    return return_types.linalg_slogdet(*_L.slogdet(A))


@_lapack
def cholesky(A, *, upper=False):
    """L lower with L L^H = A (or U upper with U^H U = A) for Hermitian positive-definite A; only A's lower
    triangle is read. LinAlgError names the leading minor that is not positive-definite."""
    return _L.cholesky(A, upper)


@_lapack
def cholesky_ex(A, *, upper=False, check_errors=False):
    """(L, info): info > 0 is the order of the leading minor that is not positive-definite."""
    return return_types.linalg_cholesky_ex(*_L.cholesky_ex(A, upper, check_errors))


@_lapack
def lu_factor_ex(A, *, pivot=True, check_errors=False):
    """(LU, pivots, info): LU packs L (unit lower) and U; pivots (int32, 1-based) says row i was swapped with
    row pivots[i] - 1 in turn; info > 0 when U[info - 1, info - 1] is zero."""
    return return_types.linalg_lu_factor_ex(*_L.lu_factor_ex(A, pivot, check_errors))


def lu_factor(A, *, pivot=True):
    """(LU, pivots) of A = P L U (see lu_factor_ex); a singular A still factors (U has a zero pivot)."""
    LU, pivots, _ = lu_factor_ex(A, pivot=pivot)
    return return_types.linalg_lu_factor(LU, pivots)


def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """Solves A X = B from lu_factor's (LU, pivots); adjoint solves with A^H, left=False solves X A = B."""
    return _L.lu_solve(LU, pivots, B, left, adjoint)


def _unpack(LU, pivots, unpack_data=True, unpack_pivots=True):
    # packed factors -> (P, L, U); empty tensors for the parts not asked for, as torch.lu_unpack
    m, n = LU.shape[-2], LU.shape[-1]
    k = min(m, n)
    none = _C.empty([0], dtype=LU.dtype)
    L = LU[..., :, :k].tril(-1) + _C.eye(m, k, dtype=LU.dtype) if unpack_data else none
    U = LU[..., :k, :].triu() if unpack_data else none
    P = _L.lu_pivots_to_permutation(pivots, m, LU.dtype) if unpack_pivots else none
    return P, L, U


def lu(A, *, pivot=True):
    """(P, L, U) with A = P L U: P a permutation, L [..., m, k] unit lower, U [..., k, n] upper, k = min(m, n)."""
    LU, pivots = lu_factor(A, pivot=pivot)
    return return_types.linalg_lu(*_unpack(LU, pivots))


@_lapack
def ldl_factor_ex(A, *, hermitian=False, check_errors=False):
    """(LD, pivots, info): the Bunch-Kaufman factorization A = P L D L^T P^T (L D L^H when hermitian) of a
    symmetric (Hermitian) A read from its lower triangle, packed as LAPACK's ?sytrf/?hetrf (pivots 1-based,
    negative for a 2x2 block of D); info > 0 when D[info - 1, info - 1] is zero. Not differentiable."""
    return return_types.linalg_ldl_factor_ex(*_L.ldl_factor_ex(A, hermitian, check_errors))


def ldl_factor(A, *, hermitian=False):
    """(LD, pivots) of ldl_factor_ex; LinAlgError when D is singular."""
    LD, pivots, _ = ldl_factor_ex(A, hermitian=hermitian, check_errors=True)
    return return_types.linalg_ldl_factor(LD, pivots)


def ldl_solve(LD, pivots, B, *, hermitian=False):
    """X with A X = B from ldl_factor's (LD, pivots) (batch dims broadcast). Not differentiable."""
    return _L.ldl_solve(LD, pivots, B, hermitian)


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """X with A X = B (or X A = B) for triangular A, reading only its upper or lower triangle (and taking its
    diagonal as ones when unitriangular). A singular A gives inf/nan, as in LAPACK's trsm, not an error."""
    return _L.solve_triangular(A, B, upper=upper, left=left, unitriangular=unitriangular)


def qr(A, mode="reduced"):
    """(Q, R) with A = Q R: mode 'reduced' (Q [..., m, k]), 'complete' (Q [..., m, m]) or 'r' (R only; Q is an
    empty tensor)."""
    return return_types.linalg_qr(*_L.qr(A, mode))


@_lapack
def eigh(A, UPLO="L"):
    """(eigenvalues ascending, eigenvectors as columns) of symmetric/Hermitian A, read from its lower ('L') or
    upper ('U') triangle."""
    return return_types.linalg_eigh(*_L.eigh(A, UPLO))


@_lapack
def eigvalsh(A, UPLO="L"):
    """The eigenvalues (ascending, real) of symmetric/Hermitian A."""
    return _L.eigvalsh(A, UPLO)


@_lapack
def svd(A, full_matrices=True, *, driver=None):
    """(U, S, Vh) with A = U diag(S) Vh, S descending (LAPACK gesdd). full_matrices=False gives the reduced
    factors U [..., m, k], Vh [..., k, n]. driver is accepted for torch compatibility (CUDA-only there)."""
    _no_driver("svd", driver)
    return return_types.linalg_svd(*_L.svd(A, full_matrices))


@_lapack
def svdvals(A, *, driver=None):
    """The singular values of A, descending (real)."""
    _no_driver("svdvals", driver)
    return _L.svdvals(A)


@_lapack
def eig(A):
    """(eigenvalues, eigenvectors) of a general square A, both complex; eigenvectors are columns of unit norm.
    Differentiable (distinct eigenvalues; the loss must not depend on the eigenvectors' phases)."""
    return return_types.linalg_eig(*_L.eig(A))


@_lapack
def eigvals(A):
    """The (complex) eigenvalues of a general square A."""
    return _L.eigvals(A)


def _no_driver(op, driver):
    if driver is not None:
        raise ValueError(f"[linalg.{op}] driver= selects a cuSOLVER algorithm on CUDA; tessel's CPU path takes "
                         f"none, got {driver!r}")


# ---- built from the factorizations ----

def _eps(dtype):
    return 1.1920928955078125e-07 if dtype in (_C.dtype.float32, _C.dtype.complex64) else 2.220446049250313e-16


def _real_dtype(dtype):
    return {_C.dtype.complex64: _C.dtype.float32, _C.dtype.complex128: _C.dtype.float64}.get(dtype, dtype)


def _tolerance(op, S, m, n, atol, rtol):
    # torch's rule: rtol defaults to eps * max(m, n) when atol is not given either (else to 0)
    smax = S.amax(-1, keepdim=True) if S.shape[-1] else S.sum(-1, keepdim=True)
    if rtol is None:
        rtol = _eps(S.dtype) * max(m, n) if atol is None or (isinstance(atol, numbers.Real) and atol <= 0) else 0.0
    tol = smax * rtol if isinstance(rtol, numbers.Real) else smax * rtol.unsqueeze(-1)
    if atol is not None:
        a = atol if isinstance(atol, Tensor) else _C.full([1], float(atol), dtype=S.dtype)
        tol = _C.maximum(tol, a.unsqueeze(-1) if isinstance(atol, Tensor) else a)
    return tol


@_lapack
def lstsq(A, B, rcond=None, *, driver=None):
    """Least squares: X minimizing ||A X - B|| for A [..., m, n], B [..., m, k] (batch dims broadcast), through
    the SVD (singular values under rcond * largest count as zero; rcond defaults to eps * max(m, n)). Returns
    (solution, residuals, rank, singular_values) as torch: residuals (squared, per column) when m > n and every
    matrix has full rank, else empty; rank unless driver='gels'; singular_values for drivers 'gelsd'/'gelss'."""
    if driver not in (None, "gels", "gelsy", "gelsd", "gelss"):
        raise ValueError(f"[linalg.lstsq] driver must be one of gels, gelsy, gelsd, gelss, got {driver!r}")
    for name, t in (("A", A), ("B", B)):
        if not isinstance(t, Tensor):
            raise TypeError(f"[linalg.lstsq] expects {name} to be a Tensor, got {type(t).__name__}")
    if A.dim() < 2:
        raise ValueError(f"[linalg.lstsq] A must have at least 2 dims [..., m, n], got shape {list(A.shape)}")
    vector = B.dim() == A.dim() - 1
    if vector:
        B = B.unsqueeze(-1)
    m, n = A.shape[-2], A.shape[-1]
    if B.dim() < 2 or B.shape[-2] != m:
        raise ValueError(f"[linalg.lstsq] A {list(A.shape)} and B {list(B.shape)}: B needs {m} rows")
    dt = _C.promote_types(A.dtype, B.dtype)
    A, B = A.to(dt), B.to(dt)
    U, S, Vh = svd(A, full_matrices=False)
    if rcond is None:
        rcond = _eps(S.dtype) * max(m, n)
    smax = S[..., :1] if S.shape[-1] else S
    keep = S > smax * rcond
    inv_s = keep.to(S.dtype) / _C.where(keep, S, _C.ones_like(S))  # 0 where dropped, and no 1/0 for autograd
    UhB = U.mH @ B if dt.is_complex else U.mT @ B
    coef = inv_s.unsqueeze(-1).to(dt) * UhB
    X = (Vh.mH if dt.is_complex else Vh.mT) @ coef
    rank = keep.sum(-1)
    empty = _C.empty([0], dtype=_real_dtype(dt))
    residuals = empty
    if m > n and bool((rank == n).all()):
        residuals = (A @ X - B).abs().pow(2).sum(-2)
        if vector:
            residuals = residuals.squeeze(-1)
    if vector:
        X = X.squeeze(-1)
    rank_out = _C.empty([0], dtype=_C.dtype.int64) if driver == "gels" else rank
    sv_out = S if driver in ("gelsd", "gelss") else empty
    return return_types.linalg_lstsq(X, residuals, rank_out, sv_out)


def pinv(A, *, atol=None, rtol=None, hermitian=False):
    """The Moore-Penrose pseudo-inverse through the SVD (eigh when hermitian): singular values at or below
    max(atol, rtol * largest) count as zero; rtol defaults to eps * max(m, n) when atol is not given."""
    _check("pinv", A, 2)
    m, n = A.shape[-2], A.shape[-1]
    if hermitian:
        w, V = eigh(A)
        aw = w.abs()
        keep = aw > _tolerance("pinv", aw, m, n, atol, rtol)
        inv_w = keep.to(w.dtype) / _C.where(keep, w, _C.ones_like(w))
        Vh = V.mH if A.dtype.is_complex else V.mT
        return (V * inv_w.unsqueeze(-2).to(A.dtype)) @ Vh
    U, S, Vh = svd(A, full_matrices=False)
    keep = S > _tolerance("pinv", S, m, n, atol, rtol)
    inv_s = keep.to(S.dtype) / _C.where(keep, S, _C.ones_like(S))
    V = Vh.mH if A.dtype.is_complex else Vh.mT
    Uh = U.mH if A.dtype.is_complex else U.mT
    return (V * inv_s.unsqueeze(-2).to(A.dtype)) @ Uh


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, tol=None):
    """The number of singular values (|eigenvalues| when hermitian) above max(atol, rtol * largest), int64."""
    _check("matrix_rank", A, 2)
    if tol is not None:
        atol, rtol = tol, 0.0
    m, n = A.shape[-2], A.shape[-1]
    S = eigvalsh(A).abs() if hermitian else svdvals(A)
    return (S > _tolerance("matrix_rank", S, m, n, atol, rtol)).sum(-1)


def cond(A, p=None):
    """The condition number in norm p (None/2: largest / smallest singular value; -2 its inverse; 'fro', 'nuc',
    1, -1, inf, -inf: norm(A, p) * norm(inv(A), p))."""
    _check("cond", A, 2)
    if p in (None, 2, -2):
        S = svdvals(A)
        r = S[..., 0] / S[..., -1]
        return r if p != -2 else 1 / r
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


def cross(input, other, *, dim=-1, axis=None):  # noqa: A002  (PyTorch's argument name)
    """The cross product of 3-vectors along `dim` (batch dims broadcast); axis: the array API's spelling."""
    if axis is not None:
        dim = axis
    for t in (input, other):
        if not isinstance(t, Tensor):
            raise TypeError(f"[linalg.cross] expects Tensors, got {type(t).__name__}")
    if input.dim() != other.dim():
        raise ValueError(f"[linalg.cross] inputs must have the same number of dims, got {list(input.shape)} and "
                         f"{list(other.shape)}")
    nd = input.dim()
    if not -nd <= dim < nd:
        raise IndexError(f"[linalg.cross] dim {dim} is out of range for {nd}-d inputs")
    if input.shape[dim] != 3 or other.shape[dim] != 3:
        raise ValueError(f"[linalg.cross] dim {dim} must have size 3, got {list(input.shape)} and "
                         f"{list(other.shape)}")
    a = [input.select(dim, i) for i in range(3)]
    b = [other.select(dim, i) for i in range(3)]
    return _C.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]],
                    dim if dim >= 0 else dim + nd)


# ---- the array API linalg extension's other names ----

def matmul(input, other):  # noqa: A002
    """input @ other (torch.linalg.matmul)."""
    return _C.matmul(input, other)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """The diagonals of the matrices of A (a view), as torch.linalg.diagonal."""
    return A.diagonal(offset, dim1, dim2)


def matrix_transpose(x):
    """x with its last two dims swapped (x.mT)."""
    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ValueError("[linalg.matrix_transpose] expects a tensor with at least 2 dims")
    return x.mT


def outer(x1, x2):
    """The outer product of two vectors."""
    return _C.outer(x1, x2)


def tensordot(x1, x2, *, axes=2, dims=None):
    """Contraction over `axes` (the array API's name; torch's `dims` also accepted), mixed dtypes promoted:
    the top-level ts.tensordot."""
    from . import _array_api_ops
    return _array_api_ops.tensordot(x1, x2, axes=axes if dims is None else dims)


def trace(x, *, offset=0, dtype=None):
    """The sum of the diagonal of each matrix [..., m, n] (the array API's linalg.trace)."""
    d = x.diagonal(offset, -2, -1)
    if dtype is None and d.dtype == _C.dtype.uint8:
        dtype = _C.dtype.uint64  # the standard's unsigned accumulation (wider unsigned types get it anyway)
    return d.sum(-1, dtype=dtype) if dtype is not None else d.sum(-1)
