"""ts.linalg: the torch.linalg functions tessel can build from its own ops (norms,
matrix_power, vecdot, multi_dot). The factorizations and solvers (inv, solve,
det, svd, qr, eigh, cholesky, lstsq, ...) need a LAPACK backend that tessel does
not have yet: asking for one raises NotImplementedError naming it.
"""
import functools
import math
import numbers

from . import _C
from ._C import Tensor

__all__ = ["norm", "vector_norm", "matrix_norm", "matrix_power", "vecdot", "multi_dot"]

# torch.linalg names that need LAPACK (factorizations, solvers, spectra)
_LAPACK = {
    "inv", "inv_ex", "pinv", "solve", "solve_ex", "solve_triangular", "det", "slogdet", "svd", "svdvals", "qr",
    "eig", "eigvals", "eigh", "eigvalsh", "cholesky", "cholesky_ex", "lstsq", "matrix_rank", "lu", "lu_factor",
    "lu_factor_ex", "lu_solve", "ldl_factor", "ldl_solve", "matrix_exp", "cond", "tensorinv", "tensorsolve",
    "householder_product",
}


def __getattr__(name):
    if name in _LAPACK:
        raise NotImplementedError(f"[linalg.{name}] is not implemented: tessel has no LAPACK backend yet "
                                  "(factorizations and solvers); compute it with NumPy on x.numpy() meanwhile")
    raise AttributeError(f"module 'tessel.linalg' has no attribute {name!r}")


def _check(op, A, min_dim):
    if not isinstance(A, Tensor):
        raise TypeError(f"[linalg.{op}] expects a Tensor, got {type(A).__name__}")
    if A.dim() < min_dim:
        raise ValueError(f"[linalg.{op}] expects a tensor with at least {min_dim} dims, got shape {list(A.shape)}")
    if not (A.dtype.is_floating_point or A.dtype.is_complex):
        raise TypeError(f"[linalg.{op}] expects a floating-point or complex tensor, got {A.dtype}")


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):  # noqa: A002  (PyTorch's argument name)
    """The vector ord-norm over `dim` (all elements when None): sum(|x|**ord)**(1/ord); inf/-inf: max/min |x|;
    0: the number of non-zeros."""
    _check("vector_norm", x, 0)
    if isinstance(ord, str) or not isinstance(ord, numbers.Real):
        raise ValueError(f"[linalg.vector_norm] ord must be a number, got {ord!r}")
    if dtype is not None:
        x = x.to(dtype)
    if dim is None and x.dim() > 0:
        r = _C.norm(x.reshape(-1), float(ord), 0, False)
        return r.reshape((1,) * x.dim()) if keepdim else r
    return _C.norm(x, float(ord), dim, keepdim)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):  # noqa: A002
    """The matrix norm over the two dims `dim`: 'fro'; 1/-1 (max/min column abs sum); inf/-inf (max/min row abs
    sum). 'nuc', 2 and -2 need singular values (NotImplementedError)."""
    _check("matrix_norm", A, 2)
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
        raise NotImplementedError(f"[linalg.matrix_norm] ord={ord!r} needs singular values; tessel has no SVD yet")
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
    """A @ A @ ... (n times) by repeated squaring; n = 0 gives the identity. Negative n needs an inverse
    (NotImplementedError)."""
    if not isinstance(A, Tensor):
        raise TypeError(f"[linalg.matrix_power] expects a Tensor, got {type(A).__name__}")
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"[linalg.matrix_power] expects square matrices [..., n, n], got shape {list(A.shape)}")
    if not isinstance(n, numbers.Integral):
        raise TypeError(f"[linalg.matrix_power] n must be an int, got {type(n).__name__}")
    if n < 0:
        raise NotImplementedError("[linalg.matrix_power] negative powers need an inverse; tessel has no LAPACK "
                                  "backend yet")
    result = _C.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand(*A.shape) if n == 0 else None
    base = A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result.clone() if result is A else result


def vecdot(x, y, *, dim=-1):
    """sum(conj(x) * y) over `dim` (broadcast)."""
    return (x.conj() * y).sum(dim) if x.dtype.is_complex else (x * y).sum(dim)


def multi_dot(tensors):
    """The product of a chain of matrices (the first may be 1-d, a row; the last 1-d, a column)."""
    if not isinstance(tensors, (list, tuple)) or len(tensors) < 2:
        raise ValueError("[linalg.multi_dot] expects a list of at least two tensors")
    return functools.reduce(lambda a, b: a @ b, tensors)
