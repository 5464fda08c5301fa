"""PyTorch's shape, index and set helpers composed of tessel's views and ops: ravel,
fliplr/flipud, rot90, tensor_split/hsplit/vsplit/dsplit, take_along_dim, broadcast_tensors,
tril_indices/triu_indices, isin, bucketize, block_diag, cartesian_prod, and trapezoid/
cumulative_trapezoid, argwhere, diag_embed/diagflat, msort, unravel_index, combinations,
unique_consecutive, and gradient (numpy.gradient's differences). The scatter family is in
_scatter_port.py.
Differentiable where their parts are; tessel/__init__.py re-exports
__all__ and install() adds the Tensor methods PyTorch has."""
import numbers

from . import _C
from ._C import Tensor

__all__ = ["ravel", "fliplr", "flipud", "rot90", "tensor_split", "hsplit", "vsplit", "dsplit", "take_along_dim",
           "broadcast_tensors", "tril_indices", "triu_indices", "isin", "bucketize", "block_diag", "cartesian_prod",
           "trapezoid", "trapz", "cumulative_trapezoid", "argwhere", "diag_embed", "diagflat", "msort",
           "unravel_index", "combinations", "unique_consecutive", "gradient"]

_I64 = _C.dtype.int64


def _check(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): expected a Tensor, got {type(x).__name__}")


def _dim(x, dim, op):
    n = max(x.dim(), 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}(): dim {dim} is out of range for a {x.dim()}-d tensor")
    return dim % n


def ravel(input):
    """The elements as a 1-d tensor (a view when the layout allows)."""
    _check(input, "ravel")
    return input.reshape(-1)


def fliplr(input):
    """input with dim 1 reversed (at least 2 dims)."""
    _check(input, "fliplr")
    if input.dim() < 2:
        raise ValueError(f"fliplr(): input must have at least 2 dims, got {input.dim()}")
    return input.flip([1])


def flipud(input):
    """input with dim 0 reversed (at least 1 dim)."""
    _check(input, "flipud")
    if input.dim() < 1:
        raise ValueError("flipud(): input must have at least 1 dim")
    return input.flip([0])


def rot90(input, k=1, dims=(0, 1)):
    """Rotation by 90 degrees k times in the plane of dims, from the first toward the second."""
    _check(input, "rot90")
    dims = tuple(dims)
    if len(dims) != 2:
        raise ValueError(f"rot90(): dims must name 2 dims, got {len(dims)}")
    if input.dim() < 2:
        raise ValueError(f"rot90(): input must have at least 2 dims, got {input.dim()}")
    a, b = _dim(input, dims[0], "rot90"), _dim(input, dims[1], "rot90")
    if a == b:
        raise ValueError(f"rot90(): dims must be different, got {dims}")
    k %= 4
    if k == 1:
        return input.flip([b]).transpose(a, b)
    if k == 2:
        return input.flip([a, b])
    if k == 3:
        return input.flip([a]).transpose(a, b)
    return input.clone()


def tensor_split(input, indices_or_sections, dim=0):
    """Views of input split along dim: into n parts (the first size % n one longer) for an
    int, or at the given indices for a sequence or a tensor of them."""
    _check(input, "tensor_split")
    if input.dim() == 0:
        raise ValueError("tensor_split(): input must have at least 1 dim")
    d = _dim(input, dim, "tensor_split")
    size = input.shape[d]
    s = indices_or_sections
    if isinstance(s, Tensor):
        if s.dtype.is_floating_point or s.dtype.is_complex or s.dim() > 1:
            raise TypeError("tensor_split(): a tensor of indices or sections must be a 0-d or 1-d integer tensor")
        s = int(s) if s.dim() == 0 else [int(v) for v in s.tolist()]
    if isinstance(s, numbers.Integral) and not isinstance(s, bool):
        if s <= 0:
            raise ValueError(f"tensor_split(): number of sections must be greater than 0, got {s}")
        base, extra = divmod(size, s)
        bounds, start = [], 0
        for i in range(s):
            start += base + (1 if i < extra else 0)
            bounds.append(start)
        s = bounds[:-1]
    out, start = [], 0
    for stop in list(s) + [size]:
        lo, hi, _ = slice(start, int(stop)).indices(size)  # Python's slice rules, negatives included
        out.append(input.narrow(d, lo, max(hi - lo, 0)))
        start = int(stop)
    return tuple(out)


def _even_split(op, input, s, d, need):
    _check(input, op)
    if input.dim() < need:
        raise ValueError(f"{op}(): input must have at least {need} dims, got {input.dim()}")
    if isinstance(s, numbers.Integral) and input.shape[d] % s:
        raise ValueError(f"{op}(): dim {d} of size {input.shape[d]} is not divisible by the split size {s}")
    return tensor_split(input, s, d)


def hsplit(input, indices_or_sections):
    """tensor_split along dim 1 (dim 0 of a 1-d input); an int must divide the size."""
    _check(input, "hsplit")
    return _even_split("hsplit", input, indices_or_sections, 1 if input.dim() > 1 else 0, 1)


def vsplit(input, indices_or_sections):
    """tensor_split along dim 0 of an input of 2 or more dims; an int must divide the size."""
    return _even_split("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    """tensor_split along dim 2 of an input of 3 or more dims; an int must divide the size."""
    return _even_split("dsplit", input, indices_or_sections, 2, 3)


def take_along_dim(input, indices, dim=None):
    """Values of input at `indices` along dim, the other dims broadcast (numpy's
    take_along_axis); dim None indexes the flattened input."""
    _check(input, "take_along_dim")
    _check(indices, "take_along_dim")
    if indices.dtype.is_floating_point or indices.dtype.is_complex or indices.dtype == _C.dtype.bool:
        raise TypeError(f"take_along_dim(): indices must be an integer tensor, got {indices.dtype}")
    if dim is None:
        return input.reshape(-1).gather(0, indices.reshape(-1).to(_I64))
    if input.dim() != indices.dim():
        raise ValueError(f"take_along_dim(): input and indices must have the same number of dims, got "
                         f"{input.dim()} and {indices.dim()}")
    d = _dim(input, dim, "take_along_dim")
    a, b = list(input.shape), list(indices.shape)
    a[d] = b[d] = 1  # every dim but `dim` broadcasts
    shape = list(_C.broadcast_shapes(tuple(a), tuple(b)))
    xs, js = list(shape), list(shape)
    xs[d], js[d] = input.shape[d], indices.shape[d]
    return input.expand(*xs).gather(d, indices.to(_I64).expand(*js))


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (views)."""
    for t in tensors:
        _check(t, "broadcast_tensors")
    shape = _C.broadcast_shapes(*(tuple(t.shape) for t in tensors)) if tensors else ()
    return tuple(t.expand(*shape) for t in tensors)


def _tri_indices(op, row, col, offset, dtype, device, keep):
    if row < 0 or col < 0:
        raise ValueError(f"{op}(): row and col must be non-negative, got {row} and {col}")
    r = _C.arange(row, dtype=_I64, device=device).reshape(row, 1)
    c = _C.arange(col, dtype=_I64, device=device).reshape(1, col)
    mask = keep(c - r, offset)
    rows = r.expand(row, col)[mask]
    cols = c.expand(row, col)[mask]
    return _C.stack([rows, cols]).to(dtype)


def tril_indices(row, col, offset=0, *, dtype=_I64, device="cpu"):
    """The [2, N] coordinates of the lower triangle of a row x col matrix (row-major order);
    offset moves the diagonal up (> 0) or down."""
    return _tri_indices("tril_indices", row, col, offset, dtype, device, lambda k, o: k <= o)


def triu_indices(row, col, offset=0, *, dtype=_I64, device="cpu"):
    """The [2, N] coordinates of the upper triangle of a row x col matrix (row-major order)."""
    return _tri_indices("triu_indices", row, col, offset, dtype, device, lambda k, o: k >= o)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """True where an element of `elements` occurs in `test_elements` (either may be a number)."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin(): elements or test_elements must be a Tensor")
    like = elements if isinstance(elements, Tensor) else test_elements
    e = elements if isinstance(elements, Tensor) else _C.tensor(elements, device=like.device)
    t = test_elements if isinstance(test_elements, Tensor) else _C.tensor(test_elements, device=like.device)
    if e.dtype.is_complex or t.dtype.is_complex:
        raise TypeError("isin(): complex tensors are not supported")
    flat = t.reshape(-1)
    if flat.numel() == 0:
        hit = _C.zeros(e.shape, dtype=_C.dtype.bool, device=e.device)
    else:
        dt = _C.promote_types(e.dtype, t.dtype)
        s = flat.to(dt).sort().values
        pos = _C.searchsorted(s, e.to(dt).reshape(-1)).clamp(max=s.numel() - 1)
        hit = (s.gather(0, pos) == e.to(dt).reshape(-1)).reshape(e.shape)
    return _C.logical_not(hit) if invert else hit


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """For each value, the index of its bucket in sorted 1-d `boundaries`: i such that
    boundaries[i-1] < x <= boundaries[i] (right=False) or boundaries[i-1] <= x < boundaries[i]."""
    _check(boundaries, "bucketize")
    if boundaries.dim() != 1:
        raise ValueError(f"bucketize(): boundaries must be 1-d, got {boundaries.dim()} dims")
    x = input if isinstance(input, Tensor) else _C.tensor(input, device=boundaries.device)
    out = _C.searchsorted(boundaries, x, right=right)
    return out.to(_C.dtype.int32) if out_int32 else out


def block_diag(*tensors):
    """The tensors (0-d, 1-d as one row, or 2-d) placed along the diagonal of a zero matrix."""
    if not tensors:
        return _C.zeros((0, 0))
    mats = []
    for i, t in enumerate(tensors):
        _check(t, "block_diag")
        if t.dim() > 2:
            raise ValueError(f"block_diag(): input {i} has {t.dim()} dims; expected 0, 1 or 2")
        mats.append(t.reshape(1, 1) if t.dim() == 0 else t.reshape(1, -1) if t.dim() == 1 else t)
    dt = mats[0].dtype
    for m in mats[1:]:
        dt = _C.promote_types(dt, m.dtype)
    total = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        r, c = m.shape
        parts = [_C.zeros((r, left), dtype=dt, device=m.device), m.to(dt),
                 _C.zeros((r, total - left - c), dtype=dt, device=m.device)]
        rows.append(_C.cat(parts, 1))
        left += c
    return _C.cat(rows, 0)


def cartesian_prod(*tensors):
    """Every combination of the 1-d tensors' elements, as rows [N, len(tensors)] (the first
    tensor varying slowest); one tensor is returned as it is."""
    for t in tensors:
        _check(t, "cartesian_prod")
        if t.dim() != 1:
            raise ValueError(f"cartesian_prod(): expected 1-d tensors, got {t.dim()} dims")
    if len(tensors) == 1:
        return tensors[0]
    from ._grid import meshgrid
    grids = meshgrid(*tensors, indexing="ij")
    return _C.stack([g.reshape(-1) for g in grids], 1)


def _spacing(op, y, x, dx, d):
    if x is not None and dx is not None:
        raise ValueError(f"{op}(): give x or dx, not both")
    if x is None:
        return 1.0 if dx is None else dx
    if isinstance(x, Tensor):
        if x.dim() == 1:
            if x.shape[0] != y.shape[d]:
                raise ValueError(f"{op}(): x has {x.shape[0]} points, y has {y.shape[d]} along dim {d}")
            shape = [1] * y.dim()
            shape[d] = x.shape[0] - 1
            return (x.narrow(0, 1, x.shape[0] - 1) - x.narrow(0, 0, x.shape[0] - 1)).reshape(shape)
        if x.shape[d] != y.shape[d]:
            raise ValueError(f"{op}(): x has {x.shape[d]} points, y has {y.shape[d]} along dim {d}")
        return x.narrow(d, 1, x.shape[d] - 1) - x.narrow(d, 0, x.shape[d] - 1)
    return float(x)


def _trapezoid_terms(op, y, x, dx, dim):
    """(y[i + 1] + y[i]) * spacing along dim (None for an empty dim), and the dim."""
    _check(y, op)
    if y.dim() == 0:
        raise ValueError(f"{op}(): y must have at least 1 dim")
    d = _dim(y, dim, op)
    n = y.shape[d]
    if n == 0:
        return None, d
    return (y.narrow(d, 1, n - 1) + y.narrow(d, 0, n - 1)) * _spacing(op, y, x, dx, d), d


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The integral of y along dim by the trapezoidal rule, over sample points x (a tensor)
    or a constant spacing (x as a number, or dx; 1 by default)."""
    terms, d = _trapezoid_terms("trapezoid", y, x, dx, dim)
    if terms is None:
        return _C.zeros(tuple(s for i, s in enumerate(y.shape) if i != d), dtype=y.dtype, device=y.device)
    return terms.sum(d) / 2


def trapz(y, x=None, *, dx=None, dim=-1):
    """trapezoid's older name."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoidal integral of y along dim (one fewer entry than y there)."""
    terms, d = _trapezoid_terms("cumulative_trapezoid", y, x, dx, dim)
    return y.clone() if terms is None else _C.cumsum(terms / 2, d)


def argwhere(input):
    """The [N, input.dim()] coordinates of the nonzero elements, in row-major order."""
    _check(input, "argwhere")
    return _C.nonzero(input)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Matrices whose diagonal `offset` (in the plane of dim1, dim2 of the result) holds the
    last dim of input; zeros elsewhere."""
    _check(input, "diag_embed")
    if input.dim() == 0:
        raise ValueError("diag_embed(): input must have at least 1 dim")
    n = input.shape[-1]
    m = n + abs(offset)
    nd = input.dim() + 1
    d1, d2 = dim1 % nd, dim2 % nd
    if d1 == d2:
        raise ValueError(f"diag_embed(): dim1 and dim2 must differ, got {dim1} and {dim2}")
    eye = _C.eye(n, dtype=input.dtype, device=input.device)
    square = input.unsqueeze(-1) * eye  # [..., n, n], input on the diagonal
    lead = input.dim() - 1
    if offset:
        zr = _C.zeros(tuple(input.shape[:-1]) + (abs(offset), n), dtype=input.dtype, device=input.device)
        square = _C.cat([square, zr] if offset > 0 else [zr, square], lead)
        zc = _C.zeros(tuple(input.shape[:-1]) + (m, abs(offset)), dtype=input.dtype, device=input.device)
        square = _C.cat([zc, square] if offset > 0 else [square, zc], lead + 1)
    # the matrix dims are the last two; move them to dim1 and dim2 of the result
    return square.movedim((lead, lead + 1), (d1, d2))


def diagflat(input, offset=0):
    """A 2-d matrix with the flattened input on its diagonal `offset`."""
    _check(input, "diagflat")
    return diag_embed(input.reshape(-1), offset)


def msort(input):
    """input sorted along dim 0."""
    _check(input, "msort")
    return input.sort(0).values


def unravel_index(indices, shape):
    """The coordinates, one tensor per dim of `shape`, of flat (row-major) indices."""
    x = indices if isinstance(indices, Tensor) else _C.tensor(indices)
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == _C.dtype.bool:
        raise TypeError(f"unravel_index(): indices must be integers, got {x.dtype}")
    shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(s) for s in shape)
    total = 1
    for s in shape:
        if s < 0:
            raise ValueError(f"unravel_index(): shape must be non-negative, got {shape}")
        total *= s
    x = x.to(_I64)
    if x.numel() and (int(x.min()) < -total or int(x.max()) >= total):
        raise ValueError(f"unravel_index(): an index is out of bounds for shape {shape} ({total} elements)")
    x = _C.where(x < 0, x + total, x)
    out = []
    for s in reversed(shape):
        out.append(x % s if s else x)
        x = x // s if s else x
    return tuple(reversed(out))


def combinations(input, r=2, with_replacement=False):
    """The r-length combinations of a 1-d tensor's elements, as rows [N, r] (itertools order)."""
    import itertools
    _check(input, "combinations")
    if input.dim() != 1:
        raise ValueError(f"combinations(): expected a 1-d tensor, got {input.dim()} dims")
    if r < 0:
        raise ValueError(f"combinations(): r must be non-negative, got {r}")
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = list(pick(range(input.shape[0]), r))
    if not idx or r == 0:
        return _C.empty((0,) if r == 0 else (0, r), dtype=input.dtype, device=input.device)
    index = _C.tensor(idx, dtype=_I64, device=input.device)
    return input[index.reshape(-1)].reshape(len(idx), r)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """The first element of each run of equal consecutive elements (of slices along dim when
    given; of the flattened input otherwise), with each element's run number and the run lengths
    when asked."""
    _check(input, "unique_consecutive")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else _dim(input, dim, "unique_consecutive")
    n = x.shape[d] if x.dim() else 1
    if n == 0:
        empty = _C.zeros(0, dtype=_I64, device=input.device)
        out = (x,) + ((empty,) if return_inverse else ()) + ((empty,) if return_counts else ())
        return out if len(out) > 1 else x
    step = x.narrow(d, 1, n - 1) != x.narrow(d, 0, n - 1)
    if x.dim() > 1:
        step = step.movedim(d, 0).reshape(n - 1, -1).any(1)
    starts = _C.cat([_C.ones(1, dtype=_C.dtype.bool, device=x.device), step.reshape(-1)])
    first = _C.nonzero(starts).reshape(-1)
    values = x.index_select(d, first)
    out = (values,)
    if return_inverse:
        inv = _C.cumsum(starts.to(_I64), 0) - 1
        out += (inv.reshape(tuple(input.shape)) if dim is None else inv,)
    if return_counts:
        ends = _C.cat([first.narrow(0, 1, first.numel() - 1), _C.full((1,), n, dtype=_I64, device=x.device)])
        out += (ends - first,)
    return out if len(out) > 1 else values


def _gradient_1d(f, d, h, edge_order):
    """numpy.gradient along dim d of f: central differences inside (second order, also for
    uneven coordinates), one-sided ones of order edge_order at the two ends."""
    n = f.shape[d]

    def at(i, k=1):  # f's slices [i, i + k) along d
        return f.narrow(d, i, k)

    def shaped(t):  # a 1-d tensor along d
        view = [1] * f.dim()
        view[d] = t.numel()
        return t.reshape(view)

    if isinstance(h, Tensor):  # coordinates
        dx = h.narrow(0, 1, n - 1) - h.narrow(0, 0, n - 1)
    else:
        dx = None
    if dx is None:
        inner = (at(2, n - 2) - at(0, n - 2)) / (2 * h)
    else:
        hs, hd = shaped(dx.narrow(0, 0, n - 2)), shaped(dx.narrow(0, 1, n - 2))
        inner = (hs * hs * at(2, n - 2) + (hd * hd - hs * hs) * at(1, n - 2) - hd * hd * at(0, n - 2)) / \
            (hs * hd * (hd + hs))
    if edge_order == 1:
        h0 = h if dx is None else shaped(dx.narrow(0, 0, 1))
        h1 = h if dx is None else shaped(dx.narrow(0, n - 2, 1))
        first, last = (at(1) - at(0)) / h0, (at(n - 1) - at(n - 2)) / h1
    else:
        if dx is None:
            first = (-3 * at(0) + 4 * at(1) - at(2)) / (2 * h)
            last = (3 * at(n - 1) - 4 * at(n - 2) + at(n - 3)) / (2 * h)
        else:
            d1, d2 = shaped(dx.narrow(0, 0, 1)), shaped(dx.narrow(0, 1, 1))
            first = (-(2 * d1 + d2) / (d1 * (d1 + d2)) * at(0) + (d1 + d2) / (d1 * d2) * at(1)
                     - d1 / (d2 * (d1 + d2)) * at(2))
            d1, d2 = shaped(dx.narrow(0, n - 3, 1)), shaped(dx.narrow(0, n - 2, 1))
            last = (d2 / (d1 * (d1 + d2)) * at(n - 3) - (d2 + d1) / (d1 * d2) * at(n - 2)
                    + (2 * d2 + d1) / (d2 * (d1 + d2)) * at(n - 1))
    return _C.cat([first, inner, last], d)


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """The derivative estimates of numpy.gradient along each dim in `dim` (every dim when None),
    as a tuple: spacing a number, one number per dim, or one 1-d coordinate tensor per dim."""
    _check(input, "gradient")
    if edge_order not in (1, 2):
        raise ValueError(f"gradient(): edge_order must be 1 or 2, got {edge_order}")
    dims = list(range(input.dim())) if dim is None else [dim] if isinstance(dim, numbers.Integral) else list(dim)
    dims = [_dim(input, d, "gradient") for d in dims]
    if isinstance(spacing, (list, tuple)):
        if len(spacing) != len(dims):
            raise ValueError(f"gradient(): {len(spacing)} spacings for {len(dims)} dims")
        steps = list(spacing)
    else:
        steps = [spacing] * len(dims)
    f = input if input.dtype.is_floating_point or input.dtype.is_complex else input.to(_C.dtype.float32)
    out = []
    for d, h in zip(dims, steps):
        n = input.shape[d]
        if n < edge_order + 1:
            raise ValueError(f"gradient(): dim {d} has {n} points; edge_order {edge_order} needs {edge_order + 1}")
        if isinstance(h, Tensor):
            if h.dim() != 1 or h.numel() != n:
                raise ValueError(f"gradient(): coordinates for dim {d} must be 1-d with {n} points")
            h = h.to(f.dtype)
        out.append(_gradient_1d(f, d, h, edge_order))
    return tuple(out)


_METHODS = ["ravel", "fliplr", "flipud", "rot90", "tensor_split", "hsplit", "vsplit", "dsplit", "take_along_dim",
            "argwhere", "diag_embed", "msort", "unique_consecutive"]


def install():
    g = globals()
    for name in _METHODS:
        if not hasattr(Tensor, name):  # never shadow a C++ binding
            setattr(Tensor, name, g[name])
