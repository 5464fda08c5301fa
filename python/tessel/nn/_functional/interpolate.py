"""F.interpolate: separable resampling, one dim at a time, as a weighted sum of index_selects.

Each output position along a dim reads 1 (nearest), 2 (linear) or 4 (cubic)
input positions; the (index, weight) tables are built in NumPy float64 with
PyTorch's coordinate rules, so the cost is O(taps * output) and autograd comes
from index_select (its backward is an index_add)."""
import math
import numbers

from ..._numpy import np

import tessel as ts
from tessel import _C

_LINEAR_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_CUBIC_A = -0.75


def _source_scale(n_in, n_out, align_corners, scale):
    """Input step per output step; scale (the user's scale_factor) wins unless align_corners."""
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else n_in / n_out


def _nearest_index(n_in, n_out, scale, exact):
    # float32 arithmetic, as PyTorch's nearest kernels, so the picked rows agree
    s = np.float32(_source_scale(n_in, n_out, False, scale))
    dst = np.arange(n_out, dtype=np.float32)
    src = np.floor((dst + np.float32(0.5)) * s) if exact else np.floor(dst * s)
    return np.minimum(src, n_in - 1).astype(np.int64)


def _linear_taps(n_in, n_out, align_corners, scale):
    s = _source_scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out, dtype=np.float64)
    src = dst * s if align_corners else np.maximum((dst + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    return [(i0, 1.0 - lam), (i1, lam)]


def _cubic_weights(t):
    """Keys' cubic convolution weights (a = -0.75, as PyTorch) of the 4 taps at offsets -1, 0, 1, 2."""
    a = _CUBIC_A

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _cubic_taps(n_in, n_out, align_corners, scale):
    s = _source_scale(n_in, n_out, align_corners, scale)
    dst = np.arange(n_out, dtype=np.float64)
    src = dst * s if align_corners else (dst + 0.5) * s - 0.5  # no clamp at 0 for cubic
    i = np.floor(src).astype(np.int64)
    t = src - i
    return [(np.clip(i + off, 0, n_in - 1), w) for off, w in zip((-1, 0, 1, 2), _cubic_weights(t))]


def _area_taps(n_in, n_out):
    """Adaptive average pooling bins [floor(i * n / m), ceil((i + 1) * n / m)); padding taps weigh 0."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    length = end - start
    return [(np.minimum(start + j, n_in - 1), np.where(j < length, 1.0 / length, 0.0))
            for j in range(int(length.max()))]


def _phase_stencils(n_in, n_out, scale, cubic):
    """For an integer upscale s without align_corners, output i * s + p reads input i + offset_p
    for every i, so each phase p is a fixed stencil [(shift, weight)] on the edge-replicated
    input (replication is the index clamping). None when the scale is not such an integer."""
    if n_out % n_in or (scale is not None and scale * n_in != n_out):
        return None
    s = n_out // n_in
    phases = []
    for p in range(s):
        offset = (p + 0.5) / s - 0.5
        base = math.floor(offset)
        t = offset - base
        if cubic:
            phases.append(list(zip((base - 1, base, base + 1, base + 2), _cubic_weights(t))))
        else:
            phases.append([(base, 1.0 - t), (base + 1, t)])
    return phases


def _replicate(x, dim, pad):
    """x with its first and last rows along dim repeated pad times (the index clamping)."""
    n = x.shape[dim]
    return ts.cat([x.narrow(dim, 0, 1)] * pad + [x] + [x.narrow(dim, n - 1, 1)] * pad, dim)


def _resample_phases(x, dim, phases, pad):
    """Phase stencils on x padded by `pad` replicated rows at each end of dim, interleaved."""
    n = x.shape[dim]
    xp = _replicate(x, dim, pad)
    outs = []
    for stencil in phases:
        out = None
        for shift, w in stencil:
            if w == 0.0:
                continue
            term = xp.narrow(dim, pad + shift, n)
            term = term if w == 1.0 else term * w
            out = term if out is None else out + term
        outs.append(out)
    shape = list(x.shape)
    shape[dim] = n * len(phases)
    return ts.stack(outs, dim + 1).reshape(*shape)


def _repeat_each(x, dim, s):
    shape = list(x.shape)
    expanded = x.unsqueeze(dim + 1).expand(*shape[:dim + 1], s, *shape[dim + 1:])
    shape[dim] *= s
    return expanded.reshape(*shape)


def _resample_phases_2d(x, phases_h, phases_w, pad):
    """Both dims of (N, C, H, W) at once: every (row phase, column phase) pair is one output
    channel of a single conv2d over the edge-replicated planes, then one permute interleaves them."""
    N, C, H, W = x.shape
    sh, sw, k = len(phases_h), len(phases_w), 2 * pad + 1
    weight = np.zeros((sh * sw, 1, k, k))
    for a, stencil_h in enumerate(phases_h):
        for b, stencil_w in enumerate(phases_w):
            for dy, wy in stencil_h:
                for dx, wx in stencil_w:
                    weight[a * sw + b, 0, pad + dy, pad + dx] += wy * wx
    xp = _replicate(_replicate(x.reshape(N * C, 1, H, W), 2, pad), 3, pad)
    y = _C._nn.conv2d(xp, ts.tensor(weight, dtype=x.dtype, device=x.device))
    return y.reshape(N, C, sh, sw, H, W).permute(0, 1, 4, 2, 5, 3).reshape(N, C, H * sh, W * sw)


def _resample(x, dim, taps):
    """sum_k index_select(x, dim, idx_k) * w_k, with w_k broadcast along dim."""
    out = None
    shape = [1] * x.dim()
    shape[dim] = -1
    for idx, w in taps:
        term = x.index_select(dim, ts.tensor(idx, device=x.device))
        if w is not None:
            term = term * ts.tensor(w, dtype=x.dtype, device=x.device).reshape(*shape)
        out = term if out is None else out + term
    return out


def _output_size(input, size, scale_factor, recompute_scale_factor, nd):
    spatial = tuple(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("interpolate: only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("interpolate: either size or scale_factor should be defined")
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * nd
        if len(sizes) != nd:
            raise ValueError(f"interpolate: input with spatial dims {spatial} needs a size of {nd} values, "
                             f"got {tuple(sizes)}")
        sizes = [int(s) for s in sizes]
        if any(s <= 0 for s in sizes):
            raise ValueError(f"interpolate: output size must be positive, got {tuple(sizes)}")
        return sizes, [None] * nd
    scales = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor] * nd
    if len(scales) != nd:
        raise ValueError(f"interpolate: input with spatial dims {spatial} needs a scale_factor of {nd} values, "
                         f"got {tuple(scales)}")
    if any(not isinstance(s, numbers.Real) or s <= 0 for s in scales):
        raise ValueError(f"interpolate: scale_factor must be positive, got {tuple(scales)}")
    sizes = [int(math.floor(n * float(s))) for n, s in zip(spatial, scales)]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"interpolate: scale_factor {tuple(scales)} gives an empty output for {spatial}")
    # recompute_scale_factor: the coordinate map then uses in/out sizes, not the given factor
    return sizes, ([None] * nd if recompute_scale_factor else [float(s) for s in scales])


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resizes the spatial dims of (N, C, *spatial) input: nearest, nearest-exact, (bi/tri)linear,
    bicubic or area, with PyTorch's coordinate conventions."""
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {list(_MODES)}, got {mode!r}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if input.dim() < 3:
        raise ValueError(f"interpolate: expected input of shape (N, C, *spatial) with at least 3 dims, "
                         f"got {input.dim()}D")
    nd = input.dim() - 2
    if mode in _LINEAR_DIMS:
        if _LINEAR_DIMS[mode] != nd:
            raise ValueError(f"interpolate: mode {mode!r} expects {_LINEAR_DIMS[mode] + 2}D input, "
                             f"got {input.dim()}D")
        align_corners = bool(align_corners)
    elif align_corners is not None:
        raise ValueError("interpolate: align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if mode in ("nearest", "nearest-exact", "area") and nd > 3:
        raise ValueError(f"interpolate: mode {mode!r} supports 3D, 4D and 5D input, got {input.dim()}D")
    if not input.dtype.is_floating_point and mode not in ("nearest", "nearest-exact"):
        raise TypeError(f"interpolate: mode {mode!r} needs a floating point input, got {input.dtype}")
    sizes, scales = _output_size(input, size, scale_factor, recompute_scale_factor, nd)
    out = input
    # float32 2-D integer upscales: one oneDNN conv2d (other dtypes take the separable path)
    if mode in ("bilinear", "bicubic") and not align_corners and input.dtype == ts.float32:
        cubic = mode == "bicubic"
        ph = _phase_stencils(input.shape[2], sizes[0], scales[0], cubic)
        pw = _phase_stencils(input.shape[3], sizes[1], scales[1], cubic)
        if ph is not None and pw is not None:
            return _resample_phases_2d(input, ph, pw, 2 if cubic else 1)
    for d in range(nd):
        n_in, n_out, scale = input.shape[2 + d], sizes[d], scales[d]
        if mode in ("nearest", "nearest-exact"):
            idx = _nearest_index(n_in, n_out, scale, mode == "nearest-exact")
            if np.array_equal(idx, np.arange(n_in)):
                continue
            if n_out % n_in == 0 and np.array_equal(idx, np.repeat(np.arange(n_in), n_out // n_in)):
                out = _repeat_each(out, 2 + d, n_out // n_in)  # integer upscale: one expand + copy
                continue
            taps = [(idx, None)]
        elif mode in ("linear", "bilinear", "trilinear", "bicubic") and not align_corners and \
                (phases := _phase_stencils(n_in, n_out, scale, mode == "bicubic")) is not None:
            out = _resample_phases(out, 2 + d, phases, 2 if mode == "bicubic" else 1)
            continue
        elif mode == "area":
            taps = _area_taps(n_in, n_out)
        elif mode == "bicubic":
            taps = _cubic_taps(n_in, n_out, align_corners, scale)
        else:
            taps = _linear_taps(n_in, n_out, align_corners, scale)
        out = _resample(out, 2 + d, taps)
    return out


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of interpolate, kept as PyTorch keeps it."""
    return interpolate(input, size, scale_factor, mode, align_corners)
