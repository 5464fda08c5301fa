"""repr(tensor) in PyTorch's style: aligned columns, 4 decimals or scientific
notation chosen from the values, '...' summaries past 1000 elements."""
import math

_DEFAULT_DTYPES = ("float32", "int64", "bool", "complex64")
_EDGE = 3
_THRESHOLD = 1000


def _summarize(values, shape):
    """Nested lists with only the edge items along dims longer than 2*_EDGE."""
    if not shape:
        return values
    n = shape[0]
    if n > 2 * _EDGE:
        idx = list(range(_EDGE)) + [None] + list(range(n - _EDGE, n))
    else:
        idx = list(range(n))
    return [None if i is None else _summarize(values[i], shape[1:]) for i in idx]


def _leaves(nested, depth):
    if depth == 0:
        if nested is not None:
            yield nested
        return
    for x in nested:
        if x is not None:
            yield from _leaves(x, depth - 1)


def _float_formatter(vals):
    finite = [abs(v) for v in vals if math.isfinite(v)]
    ints = all(v == int(v) for v in vals if math.isfinite(v))
    if not finite:
        return lambda v: _special(v) or f"{v}"
    lo, hi = min(finite), max(finite)
    nz = [v for v in finite if v != 0]
    lo_nz = min(nz) if nz else 0.0
    sci = hi > 1e8 or (nz and (hi / lo_nz > 1000.0 or lo_nz < 1e-4))
    if ints and not (hi > 1e8):
        return lambda v: _special(v) or f"{v:.0f}."
    if sci:
        return lambda v: _special(v) or f"{v:.4e}"
    return lambda v: _special(v) or f"{v:.4f}"


def _special(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def _formatter(dt, vals):
    if dt == "bool":
        return lambda v: "True" if v else "False"
    if dt.startswith("int") or dt == "uint8":
        return str
    if dt.startswith("complex"):
        fr = _float_formatter([v.real for v in vals] or [0.0])
        fi = _float_formatter([v.imag for v in vals] or [0.0])
        return lambda v: f"{fr(v.real)}{'+' if v.imag >= 0 or math.isnan(v.imag) else '-'}{fi(abs(v.imag))}j"
    return _float_formatter(vals or [0.0])


def _render(nested, depth, fmt, width, indent):
    if depth == 0:
        return fmt(nested).rjust(width)
    parts = []
    for x in nested:
        parts.append("..." if x is None else _render(x, depth - 1, fmt, width, indent + 1))
    if depth == 1:
        return "[" + ", ".join(parts) + "]"
    sep = "," + "\n" * (depth - 1) + " " * (indent + 1)
    return "[" + sep.join(parts) + "]"


def tensor_repr(t):
    dt = t.dtype.name
    shape = tuple(t.shape)
    suffix = []
    prefix = "tensor("
    if t.numel() == 0:
        body = "[]"
        if len(shape) != 1:
            suffix.append(f"size={shape}")
    else:
        src = t
        if t.numel() > _THRESHOLD:
            # Only the edge items are fetched: slice each long dim to its ends.
            from . import _C
            for d, n in enumerate(shape):
                if n > 2 * _EDGE:
                    idx = _C.tensor(list(range(_EDGE)) + list(range(n - _EDGE, n)))
                    src = src[(slice(None),) * d + (idx,)]
            values = src.tolist()
            summarized = _summarize(_expand_marks(values, shape), shape)
        else:
            summarized = src.tolist()
        vals = list(_leaves(summarized, len(shape)))
        fmt = _formatter(dt, vals)
        width = max((len(fmt(v)) for v in vals), default=1)
        body = _render(summarized, len(shape), fmt, width, len(prefix))
    if dt not in _DEFAULT_DTYPES:
        suffix.append(f"dtype=tessel.{dt}")
    if str(t.device) != "cpu":
        suffix.append(f"device='{t.device}'")
    return prefix + body + "".join(", " + s for s in suffix) + ")"


def _expand_marks(values, shape):
    """Re-inflates edge-only lists to full length (placeholders in the middle) so
    _summarize can pick the same edges again."""
    if not shape:
        return values
    n = shape[0]
    inner = [_expand_marks(v, shape[1:]) for v in values]
    if n > 2 * _EDGE:
        return inner[:_EDGE] + [None] * (n - 2 * _EDGE) + inner[_EDGE:]
    return inner
