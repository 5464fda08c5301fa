"""PyTorch's out-of-place scatters composed of tessel's scatter, scatter_add, sort and
elementwise ops: slice_scatter, select_scatter, index_copy, masked_scatter, and scatter_reduce /
index_reduce with sum, prod, mean, amax and amin. Gradients flow through the ops they are made
of; tessel/__init__.py re-exports __all__ and install() adds the Tensor methods."""
from . import _C
from ._C import Tensor
from ._shape_port import _check, _dim

__all__ = ["slice_scatter", "select_scatter", "index_copy", "masked_scatter", "scatter_reduce", "index_reduce"]

_I64 = _C.dtype.int64


def _positions(shape, d, idx, device):
    """idx (1-d positions along dim d) broadcast to `shape` as a scatter index."""
    view = [1] * len(shape)
    view[d] = idx.numel()
    return idx.to(_I64).reshape(view).expand(*shape)


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    """input with input[..., start:end:step, ...] (along dim) replaced by src; a new tensor."""
    _check(input, "slice_scatter")
    _check(src, "slice_scatter")
    d = _dim(input, dim, "slice_scatter")
    if step <= 0:
        raise ValueError(f"slice_scatter(): step must be positive, got {step}")
    lo, hi, st = slice(start, end, step).indices(input.shape[d])
    idx = _C.arange(lo, hi, st, dtype=_I64, device=input.device)
    want = list(input.shape)
    want[d] = idx.numel()
    if tuple(src.shape) != tuple(want):
        raise ValueError(f"slice_scatter(): src must have shape {want}, got {list(src.shape)}")
    return input.scatter(d, _positions(want, d, idx, input.device), src.to(input.dtype))


def select_scatter(input, src, dim, index):
    """input with input.select(dim, index) replaced by src; a new tensor."""
    _check(input, "select_scatter")
    d = _dim(input, dim, "select_scatter")
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select_scatter(): index {index} is out of range for dim {d} of size {n}")
    i = index % n
    return slice_scatter(input, src.unsqueeze(d), d, i, i + 1)


def index_copy(input, dim, index, source):
    """input with the slices at `index` along dim replaced by source's; a new tensor."""
    _check(input, "index_copy")
    _check(index, "index_copy")
    d = _dim(input, dim, "index_copy")
    if index.dim() > 1 or index.dtype.is_floating_point:
        raise TypeError("index_copy(): index must be a 1-d integer tensor")
    want = list(input.shape)
    want[d] = index.numel()
    if tuple(source.shape) != tuple(want):
        raise ValueError(f"index_copy(): source must have shape {want}, got {list(source.shape)}")
    return input.scatter(d, _positions(want, d, index.reshape(-1), input.device), source.to(input.dtype))


def masked_scatter(input, mask, source):
    """input with the positions where mask (broadcast to input) is True filled, in row-major
    order, from the first elements of source; a new tensor."""
    _check(input, "masked_scatter")
    _check(mask, "masked_scatter")
    if mask.dtype != _C.dtype.bool:
        raise TypeError(f"masked_scatter(): mask must be bool, got {mask.dtype}")
    m = mask.expand(*input.shape).reshape(-1)
    pos = _C.nonzero(m).reshape(-1)
    if pos.numel() > source.numel():
        raise ValueError(f"masked_scatter(): mask selects {pos.numel()} elements, source has {source.numel()}")
    vals = source.reshape(-1).narrow(0, 0, pos.numel()).to(input.dtype)
    return input.reshape(-1).scatter(0, pos, vals).reshape(tuple(input.shape))


_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _segment_last(values, segments, combine):
    """For values sorted by segment id: combine over each segment (an inclusive segmented scan
    by doubling, log2(n) passes), read at each segment's last element. Returns (ids, results)."""
    n = values.numel()
    v = values
    k = 1
    while k < n:
        same = segments.narrow(0, k, n - k) == segments.narrow(0, 0, n - k)
        head = v.narrow(0, 0, k)
        tail = _C.where(same, combine(v.narrow(0, k, n - k), v.narrow(0, 0, n - k)), v.narrow(0, k, n - k))
        v = _C.cat([head, tail])
        k *= 2
    last = _C.cat([segments.narrow(0, 1, n - 1) != segments.narrow(0, 0, n - 1),
                   _C.ones(1, dtype=_C.dtype.bool, device=values.device)])
    return segments[last], v[last]


def _reduce_into(op, base, lin, src, reduce, include_self):
    """base (flat) with the src values reduced into positions lin (flat, same length as src)."""
    if reduce not in _REDUCES:
        raise ValueError(f"{op}(): reduce must be one of {', '.join(_REDUCES)}, got {reduce!r}")
    src = src.to(base.dtype)
    if lin.numel() == 0:
        return base
    if reduce in ("sum", "mean"):
        start = base
        if not include_self:  # the receiving positions start from 0
            start = base.scatter(0, lin, _C.zeros(lin.shape, dtype=base.dtype, device=base.device))
        total = start.scatter_add(0, lin, src)
        if reduce == "sum":
            return total
        ones = _C.ones(lin.shape, dtype=_I64, device=base.device)
        count = _C.zeros(base.shape, dtype=_I64, device=base.device).scatter_add(0, lin, ones)
        if include_self:
            count = count + 1
        count = _C.where(count == 0, _C.ones_like(count), count)
        if base.dtype.is_floating_point or base.dtype.is_complex:
            return total / count.to(base.dtype)
        return total // count.to(base.dtype)  # floor division, as PyTorch for integers
    combine = {"prod": _C.mul, "amax": _C.maximum, "amin": _C.minimum}[reduce]
    order = _C.argsort(lin, stable=True)  # segments in order; within one, src's order
    ids, vals = _segment_last(src[order], lin[order], combine)
    if include_self:
        vals = combine(vals, base[ids])
    return base.scatter(0, ids, vals)


def _flat_positions(out_shape, d, index):
    """The flat (row-major) positions in out of each element of index along dim d."""
    strides = [1] * len(out_shape)
    for k in range(len(out_shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * out_shape[k + 1]
    lin = _C.zeros(tuple(index.shape), dtype=_I64, device=index.device)
    for k in range(len(out_shape)):
        if k == d:
            coord = index.to(_I64)
        else:
            view = [1] * index.dim()
            view[k] = index.shape[k]
            coord = _C.arange(index.shape[k], dtype=_I64, device=index.device).reshape(view).expand(*index.shape)
        lin = lin + coord * strides[k]
    return lin.reshape(-1)


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """input with each src[i...] reduced ("sum", "prod", "mean", "amax", "amin") into the
    position index[i...] names along dim (the other coordinates i's own); include_self=False
    leaves input's values out of the positions that receive any. A new tensor."""
    _check(input, "scatter_reduce")
    _check(index, "scatter_reduce")
    _check(src, "scatter_reduce")
    d = _dim(input, dim, "scatter_reduce")
    if index.dtype.is_floating_point or index.dtype.is_complex or index.dtype == _C.dtype.bool:
        raise TypeError(f"scatter_reduce(): index must be an integer tensor, got {index.dtype}")
    if index.dim() != input.dim() or src.dim() != input.dim():
        raise ValueError("scatter_reduce(): input, index and src must have the same number of dims")
    for k in range(input.dim()):
        if index.shape[k] > src.shape[k] or (k != d and index.shape[k] > input.shape[k]):
            raise ValueError(f"scatter_reduce(): index shape {list(index.shape)} exceeds src {list(src.shape)} or "
                             f"input {list(input.shape)} at dim {k}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= input.shape[d]):
        raise IndexError(f"scatter_reduce(): index out of range for dim {d} of size {input.shape[d]}")
    s = src
    for k in range(src.dim()):
        s = s.narrow(k, 0, index.shape[k])
    lin = _flat_positions(tuple(input.shape), d, index)
    out = _reduce_into("scatter_reduce", input.reshape(-1), lin, s.reshape(-1), reduce, include_self)
    return out.reshape(tuple(input.shape))


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """input with the slices of source reduced ("prod", "mean", "amax", "amin") into the slices
    at index along dim; include_self=False leaves input's values out of the slices that receive
    any. A new tensor."""
    _check(input, "index_reduce")
    _check(index, "index_reduce")
    d = _dim(input, dim, "index_reduce")
    if index.dim() > 1 or index.dtype.is_floating_point:
        raise TypeError("index_reduce(): index must be a 1-d integer tensor")
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise ValueError(f"index_reduce(): reduce must be prod, mean, amax or amin, got {reduce!r}")
    want = list(input.shape)
    want[d] = index.numel()
    if tuple(source.shape) != tuple(want):
        raise ValueError(f"index_reduce(): source must have shape {want}, got {list(source.shape)}")
    view = [1] * input.dim()
    view[d] = index.numel()
    full = index.reshape(-1).to(_I64).reshape(view).expand(*want)
    return scatter_reduce(input, d, full, source, reduce, include_self=include_self)


_METHODS = ["slice_scatter", "select_scatter", "index_copy", "masked_scatter", "scatter_reduce", "index_reduce"]


def install():
    g = globals()
    for name in _METHODS:
        if not hasattr(Tensor, name):  # never shadow a C++ binding
            setattr(Tensor, name, g[name])
