"""ts.bincount, ts.median and ts.mode, composed of sort, gather and scatter ops."""
from . import _C
from ._C import Tensor
from . import return_types

_I64 = _C.dtype.int64


def _check_tensor(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): input must be a Tensor, got {type(x).__name__}")


def _is_integral(dt):
    return not (dt.is_floating_point or dt.is_complex or dt == _C.dtype.bool)


def bincount(input, weights=None, minlength=0):
    """Counts of each value in a 1-d tensor of non-negative ints (int64), or sums of
    `weights` per value (float weights keep their dtype, others give float64)."""
    _check_tensor(input, "bincount")
    if input.dim() != 1 or not _is_integral(input.dtype):
        raise ValueError(f"bincount(): input must be a 1-d tensor of integers, got {input.dim()}-d {input.dtype}")
    if minlength < 0:
        raise ValueError(f"bincount(): minlength must be >= 0, got {minlength}")
    n = input.numel()
    if n and int(input.min()) < 0:
        raise ValueError("bincount(): input must be non-negative")
    size = max(int(input.max()) + 1 if n else 0, minlength)
    index = input.to(_I64)
    if weights is None:
        return _C.zeros(size, dtype=_I64, device=input.device).index_add(
            0, index, _C.ones(n, dtype=_I64, device=input.device))
    _check_tensor(weights, "bincount")
    if weights.dim() != 1 or weights.numel() != n:
        raise ValueError(f"bincount(): weights must be 1-d with the length of input ({n}), "
                         f"got shape {list(weights.shape)}")
    dt = weights.dtype if weights.dtype.is_floating_point else _C.dtype.float64
    return _C.zeros(size, dtype=dt, device=input.device).index_add(0, index, weights.to(dt))


def _reduction_dim(x, dim, op):
    n = max(x.dim(), 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}(): dim {dim} is out of range for a {x.dim()}-d tensor")
    d = dim % n
    if x.dim() and x.shape[d] == 0:
        raise IndexError(f"{op}(): cannot reduce over dim {dim} of size 0 (shape {list(x.shape)})")
    return d


def _finish(input, x, pos, d, keepdim, kind):
    """Values gathered from x at `pos` (dim moved last, kept), shaped as the op's results."""
    idx = pos.movedim(-1, d)
    values = x.gather(d, idx)  # gather keeps autograd history to x
    if input.dim() == 0:
        return kind(values.reshape(()), idx.reshape(()))
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return kind(values, idx)


def median(input, dim=None, keepdim=False):
    """The lower median: with dim=None the median of all elements (a 0-d tensor),
    otherwise a (values, indices) tuple along `dim`. NaN propagates: a slice holding
    NaN has median NaN at the first NaN's index."""
    _check_tensor(input, "median")
    if dim is None:
        flat = input.reshape(-1)
        if flat.numel() == 0:
            if input.dtype.is_floating_point:
                return _C.full((), float("nan"), dtype=input.dtype, device=input.device)
            raise ValueError("median(): cannot take the median of an empty integer tensor")
        return median(flat, 0).values
    x = input.reshape(1) if input.dim() == 0 else input
    d = _reduction_dim(input, dim, "median")
    xt = x.movedim(d, -1)
    n = xt.shape[-1]
    order = xt.argsort(-1)  # stable, NaN last
    pos = order.narrow(-1, (n - 1) // 2, 1)
    if input.dtype.is_floating_point:
        nan = _C.isnan(xt)
        has_nan = nan.any(-1, keepdim=True)
        first_nan = nan.to(_C.dtype.uint8).argmax(-1, keepdim=True)
        pos = _C.where(has_nan, first_nan, pos)
    return _finish(input, x, pos, d, keepdim, return_types.median)


def mode(input, dim=-1, keepdim=False):
    """The most frequent value along `dim` (the smallest one on ties) and the index of
    its last occurrence, as a (values, indices) tuple."""
    _check_tensor(input, "mode")
    x = input.reshape(1) if input.dim() == 0 else input
    d = _reduction_dim(input, dim, "mode")
    xt = x.movedim(d, -1)
    n = xt.shape[-1]
    s = xt.sort(-1).values
    # runs of equal values in the sorted slice (NaN != NaN, so each NaN is its own run)
    starts = _C.cat([_C.ones(s.shape[:-1] + (1,), dtype=_C.dtype.bool, device=s.device),
                     s.narrow(-1, 1, n - 1) != s.narrow(-1, 0, n - 1)], -1)
    run = _C.cumsum(starts.to(_I64), -1) - 1
    counts = _C.zeros(run.shape, dtype=_I64, device=s.device).scatter_add(-1, run, _C.ones_like(run))
    best = counts.gather(-1, run).argmax(-1, keepdim=True)  # first maximum: the smallest value
    value = s.gather(-1, best)
    hit = xt == value
    if input.dtype.is_floating_point:
        hit = _C.logical_or(hit, _C.logical_and(_C.isnan(xt), _C.isnan(value)))
    positions = _C.arange(n, device=s.device).expand(xt.shape)
    last = _C.where(hit, positions, -1).argmax(-1, keepdim=True)
    return _finish(input, x, last, d, keepdim, return_types.mode)
