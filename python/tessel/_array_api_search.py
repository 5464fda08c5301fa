"""The array API standard's searching, sorting, set and utility functions (2024.12), split from
_array_api_ops.py (which re-exports them and holds the shared argument helpers)."""
import builtins
from collections import namedtuple

from . import _C
from ._C import Tensor
from ._array_api import _D
from ._array_api_ops import _UNSET, _axis_kw, _pick, _promote, _reduce_axis, _tensor, concat

def _arg(name, fn):
    def f(input, dim=_UNSET, keepdim=_UNSET, *, axis=_UNSET, keepdims=_UNSET):
        ax, kd = _axis_kw(name, dim, axis, keepdim, keepdims)
        if ax is None and kd:
            return fn(input.reshape(-1), 0, False).reshape([1] * input.dim())
        return fn(input, ax, kd)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = fn.__doc__
    return f


argmax = _arg("argmax", _C.argmax)
argmin = _arg("argmin", _C.argmin)


def count_nonzero(input, dim=_UNSET, *, axis=_UNSET, keepdims=False):
    """The number of non-zero elements over axis/dim (all when None)."""
    ax = _pick("count_nonzero", "axis", axis, "dim", dim, None)
    return _C.sum(input != 0, _reduce_axis(input, ax, "count_nonzero"), builtins.bool(keepdims))


def searchsorted(sorted_sequence, values, *, side="left", sorter=None, right=False):
    """Insertion points of x2's values in the sorted 1-d x1 (sorter: the permutation that sorts x1)."""
    if sorter is None and isinstance(values, Tensor):  # the op promotes the two dtypes itself
        return _C.searchsorted(sorted_sequence, values, right=right, side=None if right else side)
    x1, x2 = sorted_sequence, values
    if sorter is not None:
        x1 = _C.take(x1, sorter)
    if not isinstance(x2, Tensor):
        x2 = _C.tensor(x2, dtype=x1.dtype)
    a, b = _promote(x1, x2)
    return _C.searchsorted(a, b, right=right, side=side if not right else None)


def sort(input, dim=_UNSET, descending=False, *, axis=_UNSET, stable=False):
    """PyTorch's sort: (values, indices) along dim/axis (the standard's returns the values only:
    use ts.sort(x).values)."""
    ax = _pick("sort", "axis", axis, "dim", dim, -1)
    return _C.sort(input, ax, descending, stable=stable)


def argsort(input, dim=_UNSET, descending=False, *, axis=_UNSET, stable=True):
    """Indices that sort along axis/dim (stable by default, as the standard asks; PyTorch allows it)."""
    ax = _pick("argsort", "axis", axis, "dim", dim, -1)
    if input.dim() == 0:
        return _C.zeros((), dtype=_D.int64)
    return _C.argsort(input, ax, descending, stable=True)


def _unique(x):
    """(values, first indices, inverse, counts) of x flattened; every NaN is a distinct value."""
    flat = _tensor(x, "unique").reshape(-1)
    n = flat.numel()
    if n == 0:
        z = _C.zeros(0, dtype=_D.int64)
        return flat, z, z.reshape(x.shape), z
    order = _C.argsort(flat, 0, False, stable=True)
    s = _C.take(flat, order)
    new = _C.ones(n, dtype=_D.bool)
    if n > 1:
        new[1:] = s[1:] != s[:-1]  # NaN != NaN: each NaN starts a group
    group = _C.cumsum(new.to(_D.int64), 0) - 1
    starts = _C.nonzero(new, as_tuple=True)[0]
    values = _C.take(s, starts)
    ends = _C.cat([starts[1:], _C.tensor([n])]) if starts.numel() > 1 else _C.tensor([n])
    counts = ends - starts
    first = _C.take(order, starts)
    inverse = _C.zeros(n, dtype=_D.int64)
    inverse[order] = group
    return values, first, inverse.reshape(x.shape), counts


UniqueAllResult = namedtuple("UniqueAllResult", ("values", "indices", "inverse_indices", "counts"))
UniqueCountsResult = namedtuple("UniqueCountsResult", ("values", "counts"))
UniqueInverseResult = namedtuple("UniqueInverseResult", ("values", "inverse_indices"))


def unique_all(x, /):
    """(values, indices, inverse_indices, counts) of x's unique elements (sorted)."""
    return UniqueAllResult(*_unique(x))


def unique_counts(x, /):
    """(values, counts) of x's unique elements."""
    v, _, _, c = _unique(x)
    return UniqueCountsResult(v, c)


def unique_inverse(x, /):
    """(values, inverse_indices): values[inverse_indices] == x."""
    v, _, inv, _ = _unique(x)
    return UniqueInverseResult(v, inv)


def unique_values(x, /):
    """x's unique elements (sorted)."""
    return _unique(x)[0]


def _logical(name, fn):
    def f(input, dim=_UNSET, keepdim=_UNSET, *, axis=_UNSET, keepdims=_UNSET):
        ax, kd = _axis_kw(name, dim, axis, keepdim, keepdims)
        if input.dim() == 0 and ax is not None and ax not in ((), 0, -1, (0,), (-1,)):
            raise IndexError(f"[{name}] axis {ax} is out of range for a 0-d tensor")
        if ax is not None and input.dim() == 0:
            ax = None
        return fn(input, _reduce_axis(input, ax, name), kd)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = fn.__doc__
    return f


all = _logical("all", _C.all)  # noqa: A001
any = _logical("any", _C.any)  # noqa: A001


def diff(x, /, n=1, dim=_UNSET, prepend=None, append=None, *, axis=_UNSET):
    """The n-th forward difference along axis/dim (default the last), with optional prepend/append."""
    ax = _pick("diff", "axis", axis, "dim", dim, -1)
    _tensor(x, "diff")
    parts = [t for t in (prepend, x, append) if t is not None]
    if len(parts) > 1:
        x = concat(parts, axis=ax)
    for _ in range(n):
        m = x.shape[ax]
        a, b = x.narrow(ax, 1, builtins.max(m - 1, 0)), x.narrow(ax, 0, builtins.max(m - 1, 0))
        x = _C.logical_xor(a, b) if x.dtype == _D.bool else a - b
    return x
