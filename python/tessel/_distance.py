"""ts.cdist: p-norm distances between the rows of two (batched) point sets; ts.dist: the p-norm of
the difference of two tensors."""
import math

from . import _C
from ._C import Tensor

_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def _safe_root(s, power):
    # s ** power with a zero (not NaN) gradient where s == 0: distance 0 is not differentiable,
    # and PyTorch returns a zero subgradient there.
    pos = s > 0
    ones = _C.ones((), dtype=s.dtype, device=s.device)
    root = _C.where(pos, s, ones) ** power
    return _C.where(pos, root, _C.zeros((), dtype=s.dtype, device=s.device))


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Distances between each row of x1 [B..., P, M] and each row of x2 [B..., R, M]: [B..., P, R].

    p=0 counts differing coordinates, p=inf takes the largest one. For p=2 the
    matrix-product form |a|^2 + |b|^2 - 2 a.b is used when compute_mode asks for
    it (by default when P or R exceeds 25), as in PyTorch; it is faster and less
    exact for nearly equal points.
    """
    for name, x in (("x1", x1), ("x2", x2)):
        if not isinstance(x, Tensor):
            raise TypeError(f"cdist(): {name} must be a Tensor, got {type(x).__name__}")
        if x.dim() < 2:
            raise ValueError(f"cdist(): {name} must have at least 2 dims, got {x.dim()}-d")
        if not x.dtype.is_floating_point:
            raise TypeError(f"cdist(): only floating-point dtypes are supported, {name} is {x.dtype}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError("cdist(): x1 and x2 must have the same number of columns, "
                         f"got {x1.shape[-1]} and {x2.shape[-1]}")
    p = float(p)
    if math.isnan(p) or p < 0:
        raise ValueError(f"cdist(): p must be non-negative, got {p}")
    if compute_mode not in _MODES:
        raise ValueError(f"cdist(): compute_mode must be one of {', '.join(_MODES)}, got {compute_mode!r}")
    rows1, rows2 = x1.shape[-2], x2.shape[-2]
    use_mm = p == 2.0 and (compute_mode == "use_mm_for_euclid_dist"
                           or (compute_mode == _MODES[0] and (rows1 > 25 or rows2 > 25)))
    if use_mm:
        sq1 = (x1 * x1).sum(-1, keepdim=True)  # [..., P, 1]
        sq2 = (x2 * x2).sum(-1).unsqueeze(-2)  # [..., 1, R]
        d2 = sq1 + sq2 - 2.0 * _C.matmul(x1, x2.mT)
        return _safe_root(_C.clamp(d2, min=0.0), 0.5)
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # [..., P, R, M]
    if p == 0.0:
        return (diff != 0).sum(-1).to(diff.dtype)
    if math.isinf(p):
        return _C.abs(diff).amax(-1) if diff.shape[-1] > 0 else _C.zeros(diff.shape[:-1], dtype=diff.dtype)
    if p == 2.0:
        return _safe_root((diff * diff).sum(-1), 0.5)
    if p == 1.0:
        return _C.abs(diff).sum(-1)
    return _safe_root(_safe_root(_C.abs(diff), p).sum(-1), 1.0 / p)


def dist(input, other, p=2):  # noqa: A002
    """The p-norm of input - other (broadcast) over all elements (p = 0 counts the nonzeros,
    inf takes the largest magnitude)."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("dist(): input and other must be Tensors")
    from . import linalg
    return linalg.vector_norm(input - other, float(p))
