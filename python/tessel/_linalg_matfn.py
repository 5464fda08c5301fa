"""ts.linalg functions built from tessel ops (so they are differentiable wherever their building blocks are):
matrix_exp, tensorinv, tensorsolve, householder_product, cholesky_solve, cholesky_inverse, vander.
linalg.py re-exports them.
"""
import math
import numbers

from . import _C
from ._C import Tensor

# Higham (2005), "The scaling and squaring method for the matrix exponential revisited": the [13/13] Pade
# approximant's coefficients, and the largest 1-norm for which it is accurate to double precision.
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def _square(op, A):
    if not isinstance(A, Tensor):
        raise TypeError(f"[linalg.{op}] expects a Tensor, got {type(A).__name__}")
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"[linalg.{op}] expects square matrices [..., n, n], got shape {list(A.shape)}")
    if not (A.dtype.is_floating_point or A.dtype.is_complex):
        raise TypeError(f"[linalg.{op}] expects a floating-point or complex tensor, got {A.dtype}")


def _mH(x):
    return x.mH if x.dtype.is_complex else x.mT


def matrix_exp(A):
    """exp(A) of each square matrix [..., n, n] by scaling and squaring with the [13/13] Pade approximant
    (Higham 2005): each matrix is scaled by 2^-s (s from its own 1-norm), approximated, and squared s times."""
    from . import linalg
    _square("matrix_exp", A)
    n = A.shape[-1]
    if n == 0 or A.numel() == 0:
        return A.clone()
    from .autograd import no_grad
    with no_grad():
        norm1 = A.abs().sum(-2).amax(-1).to(_C.dtype.float64)  # [...] one per matrix
        s = _C.clamp(_C.ceil(_C.log2(norm1 / _THETA13)), min=0).nan_to_num(0.0)
        steps = int(s.amax()) if s.numel() else 0
        scale = _C.pow(2.0, -s).to(A.dtype)
    X = A * scale.unsqueeze(-1).unsqueeze(-1)
    b = _PADE13
    I = _C.eye(n, dtype=A.dtype, device=A.device).expand(*A.shape)
    X2 = X @ X
    X4 = X2 @ X2
    X6 = X4 @ X2
    U = X @ (X6 @ (b[13] * X6 + b[11] * X4 + b[9] * X2) + b[7] * X6 + b[5] * X4 + b[3] * X2 + b[1] * I)
    V = X6 @ (b[12] * X6 + b[10] * X4 + b[8] * X2) + b[6] * X6 + b[4] * X4 + b[2] * X2 + b[0] * I
    R = linalg.solve(V - U, V + U)
    for i in range(steps):  # matrices with a smaller s stop squaring earlier
        more = (s > i).unsqueeze(-1).unsqueeze(-1)
        R = _C.where(more, R @ R, R)
    return R


def _prod(dims):
    return math.prod(int(d) for d in dims)


def tensorinv(A, ind=2):
    """The inverse of A for tensordot over its first `ind` dims: A reshaped to [prod(shape[:ind]),
    prod(shape[ind:])] (square), inverted, and shaped shape[ind:] + shape[:ind]."""
    from . import linalg
    if not isinstance(A, Tensor):
        raise TypeError(f"[linalg.tensorinv] expects a Tensor, got {type(A).__name__}")
    if not isinstance(ind, numbers.Integral) or ind <= 0:
        raise ValueError(f"[linalg.tensorinv] ind must be a positive int, got {ind!r}")
    left, right = tuple(A.shape[:ind]), tuple(A.shape[ind:])
    if _prod(left) != _prod(right):
        raise ValueError(f"[linalg.tensorinv] the product of the first {ind} dims of A {list(A.shape)} must equal "
                         f"the product of the rest ({_prod(left)} != {_prod(right)})")
    return linalg.inv(A.reshape(_prod(left), _prod(right))).reshape(right + left)


def tensorsolve(A, B, dims=None):
    """X with tensordot(A, X, X.ndim) = B: A's leading dims match B's shape and the rest are X's shape
    (`dims`, if given, are moved to the end of A first)."""
    from . import linalg
    for name, t in (("A", A), ("B", B)):
        if not isinstance(t, Tensor):
            raise TypeError(f"[linalg.tensorsolve] expects {name} to be a Tensor, got {type(t).__name__}")
    if dims is not None:
        nd = A.dim()
        moved = [d % nd for d in dims]
        A = A.permute([d for d in range(nd) if d not in moved] + moved)
    if tuple(A.shape[:B.dim()]) != tuple(B.shape):
        raise ValueError(f"[linalg.tensorsolve] A's leading dims {list(A.shape[:B.dim()])} must be B's shape "
                         f"{list(B.shape)}")
    xshape = tuple(A.shape[B.dim():])
    if _prod(xshape) != B.numel():
        raise ValueError(f"[linalg.tensorsolve] A {list(A.shape)} does not reshape to a square matrix against B "
                         f"{list(B.shape)} (the product of its trailing dims must be {B.numel()})")
    return linalg.solve(A.reshape(B.numel(), B.numel()), B.reshape(B.numel())).reshape(xshape)


def householder_product(A, tau):
    """The first n columns of H_1 H_2 ... H_k, H_i = I - tau_i v_i v_i^H, with v_i the i-th column of
    A [..., m, n] below the diagonal and 1 on it (LAPACK's orgqr/ungqr; k = tau.shape[-1] <= n <= m)."""
    for name, t in (("A", A), ("tau", tau)):
        if not isinstance(t, Tensor):
            raise TypeError(f"[linalg.householder_product] expects {name} to be a Tensor, got {type(t).__name__}")
    if A.dim() < 2 or tau.dim() < 1:
        raise ValueError(f"[linalg.householder_product] expects A [..., m, n] and tau [..., k], got shapes "
                         f"{list(A.shape)} and {list(tau.shape)}")
    m, n, k = A.shape[-2], A.shape[-1], tau.shape[-1]
    if not k <= n <= m:
        raise ValueError(f"[linalg.householder_product] needs k <= n <= m, got A {list(A.shape)} and tau "
                         f"{list(tau.shape)}")
    if tuple(A.shape[:-2]) != tuple(tau.shape[:-1]):
        raise ValueError(f"[linalg.householder_product] A {list(A.shape)} and tau {list(tau.shape)} must have the "
                         "same batch dims")
    if A.dtype != tau.dtype:
        raise TypeError(f"[linalg.householder_product] A and tau must have the same dtype, got {A.dtype} and "
                        f"{tau.dtype}")
    V = A.tril(-1) + _C.eye(m, n, dtype=A.dtype, device=A.device)
    Q = _C.eye(m, n, dtype=A.dtype, device=A.device).expand(*A.shape)
    for i in reversed(range(k)):  # Q <- H_i Q, from the last reflector to the first
        v = V[..., :, i:i + 1]
        Q = Q - (tau[..., i:i + 1].unsqueeze(-1) * v) @ (_mH(v) @ Q)
    return Q


def cholesky_solve(B, L, upper=False):
    """X with A X = B for A = L L^H (or U^H U when upper) given its Cholesky factor (torch.cholesky_solve's
    argument order: B first)."""
    from . import linalg
    if upper:
        return linalg.solve_triangular(L, linalg.solve_triangular(_mH(L), B, upper=False), upper=True)
    return linalg.solve_triangular(_mH(L), linalg.solve_triangular(L, B, upper=False), upper=True)


def cholesky_inverse(L, *, upper=False):
    """inv(A) for A = L L^H (or U^H U when upper) given its Cholesky factor."""
    _square("cholesky_inverse", L)
    eye = _C.eye(L.shape[-1], dtype=L.dtype, device=L.device).expand(*L.shape)
    return cholesky_solve(eye, L, upper)


def vander(x, *, N=None):
    """The Vandermonde matrices [..., n, N] of x [..., n]: columns x^0, x^1, ..., x^(N-1) (N defaults to n)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"[linalg.vander] expects a Tensor, got {type(x).__name__}")
    if x.dim() < 1:
        raise ValueError("[linalg.vander] expects a tensor with at least 1 dim [..., n]")
    if N is None:
        N = x.shape[-1]
    if not isinstance(N, numbers.Integral) or N <= 1:
        raise ValueError(f"[linalg.vander] N must be an int greater than 1, got {N!r}")
    cols = [_C.ones_like(x), x]
    for _ in range(N - 2):
        cols.append(cols[-1] * x)
    return _C.stack(cols, -1)
