"""ts.bincount, histc, histogram, median, nanmedian, mode, quantile/nanquantile, nansum/nanmean, cov/corrcoef, aminmax,
cummax/cummin and logcumsumexp, composed of sort, gather, scatter and elementwise ops."""
import math

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


def _dims(x, dim):
    """dim (None, an int or a sequence) as a tuple of dims, () for all."""
    if dim is None:
        return ()
    return (dim,) if isinstance(dim, int) else tuple(dim)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """sum treating NaN as 0."""
    _check_tensor(input, "nansum")
    x = input
    if x.dtype.is_floating_point or x.dtype.is_complex:
        x = _C.where(_C.isnan(x), _C.zeros_like(x), x)
    dims = _dims(x, dim) or tuple(range(x.dim()))
    return x.sum(dims, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """mean over the values that are not NaN (NaN where a slice has none)."""
    _check_tensor(input, "nanmean")
    if not (input.dtype.is_floating_point or input.dtype.is_complex):
        raise TypeError(f"nanmean(): expected a floating input, got {input.dtype}")
    count = nansum(_C.logical_not(_C.isnan(input)).to(input.dtype if dtype is None else dtype), dim, keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def _quantile(op, input, q, dim, keepdim, interpolation, ignore_nan):
    _check_tensor(input, op)
    if not input.dtype.is_floating_point:
        raise TypeError(f"{op}(): input must be float32 or float64, got {input.dtype}")
    modes = ("linear", "lower", "higher", "midpoint", "nearest")
    if interpolation not in modes:
        raise ValueError(f"{op}(): interpolation must be one of {', '.join(modes)}, got {interpolation!r}")
    scalar_q = not isinstance(q, Tensor)
    if not scalar_q and q.dtype != input.dtype:
        raise TypeError(f"{op}(): q must have the input's dtype {input.dtype}, got {q.dtype}")
    qt = _C.tensor([float(q)] if scalar_q else q.tolist(), dtype=input.dtype, device=input.device)
    if not scalar_q and q.dim() > 1:
        raise ValueError(f"{op}(): q must be a scalar or a 1-d tensor, got shape {list(q.shape)}")
    if qt.numel() and (float(qt.min()) < 0 or float(qt.max()) > 1):
        raise ValueError(f"{op}(): q values must be in the range [0, 1]")
    if dim is None:
        x, d = input.reshape(-1), 0
    else:
        x = input.reshape(1) if input.dim() == 0 else input
        d = _reduction_dim(input, dim, op)
    if x.numel() == 0:
        raise ValueError(f"{op}(): input tensor is empty")
    s = x.movedim(d, -1).sort(-1).values  # NaN last
    n = s.shape[-1]
    nan = _C.isnan(s)
    valid = (n - nan.to(_I64).sum(-1, keepdim=True)) if ignore_nan else _C.full(s.shape[:-1] + (1,), n, dtype=_I64,
                                                                             device=s.device)
    # the rank of each q in each slice: q (n_valid - 1), q's dim last
    rank = qt * (valid.to(s.dtype) - 1).clamp(min=0)  # [..., nq]
    if interpolation == "lower":
        rank = rank.floor()
    elif interpolation == "higher":
        rank = rank.ceil()
    elif interpolation == "nearest":
        rank = rank.round()  # half to even, as PyTorch
    lo = rank.floor().to(_I64).clamp(0, n - 1)
    hi = rank.ceil().to(_I64).clamp(0, n - 1)
    a, b = s.gather(-1, lo), s.gather(-1, hi)
    if interpolation == "midpoint":
        out = _C.where(lo == hi, a, (a + b) / 2)
    else:
        out = _C.lerp(a, b, rank - lo.to(s.dtype))
    bad = (valid == 0) if ignore_nan else nan.any(-1, keepdim=True)  # all NaN / any NaN: NaN
    out = _C.where(bad.expand(out.shape), _C.full_like(out, float("nan")), out)
    out = out.movedim(-1, 0)  # q's dim first, as PyTorch
    if keepdim:
        out = out.unsqueeze(d + 1) if dim is not None else out.reshape((qt.numel(),) + (1,) * input.dim())
    return out.squeeze(0) if scalar_q else out


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles along dim (all values when None); NaN in a slice gives NaN. A 1-d q
    adds a leading dim, one entry per q."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """quantile over the values that are not NaN (NaN where a slice has none)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)


def cov(input, *, correction=1, fweights=None, aweights=None):
    """Covariance of the rows of a 1-d or 2-d input (variables as rows, observations as columns),
    with integer frequency and float observation weights, as numpy.cov."""
    _check_tensor(input, "cov")
    if input.dim() > 2:
        raise ValueError(f"cov(): expected input with at most 2 dims, got {input.dim()}")
    x = input.reshape(1, -1) if input.dim() < 2 else input
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = x.to(_C.dtype.float32)
    n = x.shape[1]
    w = None
    if fweights is not None:
        if fweights.dim() > 1 or fweights.numel() != n or fweights.dtype.is_floating_point:
            raise ValueError(f"cov(): fweights must be a 1-d integer tensor of {n} observations")
        if n and int(fweights.min()) < 0:
            raise ValueError("cov(): fweights cannot be negative")
        w = fweights.to(x.dtype)
    if aweights is not None:
        if aweights.dim() > 1 or aweights.numel() != n or not aweights.dtype.is_floating_point:
            raise ValueError(f"cov(): aweights must be a 1-d float tensor of {n} observations")
        if n and float(aweights.min()) < 0:
            raise ValueError("cov(): aweights cannot be negative")
        w = aweights.to(x.dtype) if w is None else w * aweights.to(x.dtype)
    if w is None:
        w = _C.ones(n, dtype=x.real.dtype if x.dtype.is_complex else x.dtype, device=x.device)
    w = w.to(x.real.dtype) if x.dtype.is_complex else w
    wsum = w.sum()
    avg = (x * w).sum(1, keepdim=True) / wsum
    if correction == 0:
        norm = wsum
    elif aweights is None:
        norm = wsum - correction
    else:
        norm = wsum - correction * (w * aweights.to(w.dtype)).sum() / wsum
    norm = norm.clamp(min=0)
    xc = x - avg
    c = (xc * w) @ xc.conj().mT / norm
    return c.squeeze() if input.dim() < 2 else c


def corrcoef(input):
    """Pearson correlation coefficients of the rows (numpy.corrcoef), clipped to [-1, 1]."""
    c = cov(input)
    if c.dim() == 0:
        return c / c
    d = _C.diagonal(c).real if c.dtype.is_complex else _C.diagonal(c)
    sd = _C.sqrt(d)
    c = c / sd.unsqueeze(1) / sd.unsqueeze(0)
    return c if c.dtype.is_complex else c.clamp(-1, 1)


def aminmax(input, *, dim=None, keepdim=False):
    """(min, max) over dim (all values when None)."""
    _check_tensor(input, "aminmax")
    if input.numel() == 0:
        raise ValueError("aminmax(): cannot compute on an empty tensor")
    if dim is None:
        mn, mx = input.amin(), input.amax()
        if keepdim:
            mn, mx = mn.reshape((1,) * input.dim()), mx.reshape((1,) * input.dim())
        return return_types.aminmax(mn, mx)
    return return_types.aminmax(input.amin(dim, keepdim), input.amax(dim, keepdim))


def _scan(x, d, combine, pad):
    """Inclusive scan of combine along dim d by doubling: log2(n) passes of whole tensors."""
    n = x.shape[d]
    k = 1
    while k < n:
        head = _C.full(x.shape[:d] + (k,) + x.shape[d + 1:], pad, dtype=x.dtype, device=x.device)
        x = combine(x, _C.cat([head, x.narrow(d, 0, n - k)], d))
        k *= 2
    return x


def _cumextreme(op, input, dim, is_max):
    _check_tensor(input, op)
    x = input.reshape(1) if input.dim() == 0 else input
    d = _reduction_dim(input, dim, op) if x.numel() else dim % max(x.dim(), 1)
    if x.numel() == 0:
        kind = return_types.cummax if is_max else return_types.cummin
        return kind(input.clone(), _C.zeros(input.shape, dtype=_I64, device=input.device))
    floating = x.dtype.is_floating_point
    if x.dtype == _C.dtype.bool:
        pad = not is_max
    elif floating:
        pad = -math.inf if is_max else math.inf
    else:
        from ._port import iinfo
        info = iinfo(x.dtype)
        pad = info.min if is_max else info.max
    values = _scan(x, d, _C.maximum if is_max else _C.minimum, pad)  # NaN propagates through both
    # the index: the last position j <= i where x_j set or tied the running extreme (or is NaN)
    hit = x == values
    if floating:
        hit = _C.logical_or(hit, _C.isnan(x))
    shape = [1] * x.dim()
    shape[d] = x.shape[d]
    pos = _C.where(hit, _C.arange(x.shape[d], device=x.device).reshape(shape).expand(x.shape),
                   _C.full(x.shape, -1, dtype=_I64, device=x.device))
    idx = _scan(pos, d, _C.maximum, -1)
    kind = return_types.cummax if is_max else return_types.cummin
    if input.dim() == 0:
        return kind(values.reshape(()), idx.reshape(()))
    return kind(values, idx)


def cummax(input, dim):
    """Running maximum along dim and the index where each was attained (the last one on ties;
    NaN propagates)."""
    return _cumextreme("cummax", input, dim, True)


def cummin(input, dim):
    """Running minimum along dim and the index where each was attained (the last one on ties;
    NaN propagates)."""
    return _cumextreme("cummin", input, dim, False)


def logcumsumexp(input, dim):
    """log(cumsum(exp(input))) along dim as a running logaddexp: exact for values far apart
    (no shift by the maximum that would underflow the small ones to -inf)."""
    _check_tensor(input, "logcumsumexp")
    if not (input.dtype.is_floating_point or input.dtype.is_complex):
        raise TypeError(f"logcumsumexp(): expected a floating input, got {input.dtype}")
    x = input.reshape(1) if input.dim() == 0 else input
    if x.numel() == 0:
        return input.clone()
    d = _reduction_dim(input, dim, "logcumsumexp")
    from ._array_api_ops import logaddexp
    out = _scan(x, d, logaddexp, -math.inf)
    return out.reshape(()) if input.dim() == 0 else out


def histc(input, bins=100, min=0, max=0):  # noqa: A002  (PyTorch's argument names)
    """Counts of the values in `bins` equal bins over [min, max] (the data's range when both are
    0), in input's dtype; values outside are left out, max itself falls in the last bin."""
    _check_tensor(input, "histc")
    if not input.dtype.is_floating_point:
        raise TypeError(f"histc(): expected a floating input, got {input.dtype}")
    if bins <= 0:
        raise ValueError(f"histc(): bins must be > 0, got {bins}")
    flat = input.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and flat.numel():
        lo, hi = float(flat.amin()), float(flat.amax())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise ValueError(f"histc(): max must be larger than min, got min {lo} and max {hi}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"histc(): range of [{lo}, {hi}] is not finite")
    keep = _C.logical_and(flat >= lo, flat <= hi)
    v = flat[keep].to(_C.dtype.float64)
    b = ((v - lo) * (bins / (hi - lo))).floor().to(_I64).clamp(0, bins - 1)
    counts = _C.zeros(bins, dtype=_I64, device=input.device).index_add(0, b, _C.ones(b.numel(), dtype=_I64,
                                                                                        device=input.device))
    return counts.to(input.dtype)


def nanmedian(input, dim=None, keepdim=False):
    """The lower median of the values that are not NaN (NaN where a slice has none): with dim
    None a 0-d tensor, otherwise (values, indices) along dim."""
    _check_tensor(input, "nanmedian")
    if not input.dtype.is_floating_point:
        return median(input, dim, keepdim) if dim is not None else median(input)
    if dim is None:
        flat = input.reshape(-1)
        if flat.numel() == 0:
            return _C.full((), float("nan"), dtype=input.dtype, device=input.device)
        return nanmedian(flat, 0).values
    x = input.reshape(1) if input.dim() == 0 else input
    d = _reduction_dim(input, dim, "nanmedian")
    xt = x.movedim(d, -1)
    order = xt.argsort(-1)  # stable, NaN last
    valid = _C.logical_not(_C.isnan(xt)).to(_I64).sum(-1, keepdim=True)
    pos = order.gather(-1, ((valid - 1).clamp(min=0)) // 2)  # all NaN: the first element (NaN)
    return _finish(input, x, pos, d, keepdim, return_types.nanmedian)


def histogram(input, bins=100, *, range=None, weight=None, density=False):  # noqa: A002
    """(hist, bin_edges) as numpy.histogram: `bins` equal bins over `range` (the data's range by
    default) or the given increasing edges; the last bin includes its right edge."""
    _check_tensor(input, "histogram")
    if not input.dtype.is_floating_point:
        raise TypeError(f"histogram(): expected a floating input, got {input.dtype}")
    flat = input.reshape(-1)
    dt = input.dtype
    if isinstance(bins, Tensor):
        edges = bins.to(dt)
        if edges.dim() != 1 or edges.numel() < 2:
            raise ValueError("histogram(): bins as a tensor must be 1-d with at least 2 edges")
        if bool((edges.narrow(0, 1, edges.numel() - 1) < edges.narrow(0, 0, edges.numel() - 1)).any()):
            raise ValueError("histogram(): bin edges must increase")
    else:
        if bins <= 0:
            raise ValueError(f"histogram(): bins must be > 0, got {bins}")
        if range is not None:
            lo, hi = float(range[0]), float(range[1])
        elif flat.numel():
            lo, hi = float(flat.amin()), float(flat.amax())
        else:
            lo, hi = 0.0, 1.0
        if lo > hi:
            raise ValueError(f"histogram(): range must be increasing, got ({lo}, {hi})")
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = _C.linspace(lo, hi, bins + 1, dtype=dt, device=input.device)
    nb = edges.numel() - 1
    inside = _C.logical_and(flat >= edges[0], flat <= edges[-1])
    v = flat[inside]
    b = _C.searchsorted(edges, v, right=True) - 1
    b = b.clamp(0, nb - 1)  # the last edge itself: the last bin
    w = _C.ones(v.numel(), dtype=dt, device=input.device) if weight is None else weight.reshape(-1)[inside].to(dt)
    hist = _C.zeros(nb, dtype=dt, device=input.device).index_add(0, b, w)
    if density:
        hist = hist / (hist.sum() * (edges.narrow(0, 1, nb) - edges.narrow(0, 0, nb)))
    return return_types.histogram(hist, edges)
