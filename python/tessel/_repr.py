"""repr(tensor) in PyTorch's style: one width for all elements, 4 decimals or
scientific notation chosen from the nonzero finite values, '...' summaries
past 1000 elements, rows wrapped at 80 columns (ts.set_printoptions changes these)."""
import math

_DEFAULT_DTYPES = ("float32", "int64", "bool", "complex64")


class _PrintOptions:
    precision = 4
    threshold = 1000
    edgeitems = 3
    linewidth = 80
    sci_mode = None  # None: chosen from the values


_OPTS = _PrintOptions()
_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """Sets how tensors print, as torch.set_printoptions.

    precision: decimals of floats (4); threshold: element count past which the
    repr is summarized with '...' (1000); edgeitems: items kept at each end of a
    summarized dim (3); linewidth: characters per line (80); profile: 'default',
    'short' or 'full' sets all four at once (the other arguments then override);
    sci_mode: True/False forces scientific notation on/off, None (the default)
    chooses it from the values. Arguments left as None keep their current value,
    except sci_mode, which every call sets.
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions(): profile must be one of {', '.join(_PROFILES)}, got {profile!r}")
        for k, v in _PROFILES[profile].items():
            setattr(_OPTS, k, v)
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"set_printoptions(): {name} must be a non-negative number, got {value!r}")
        if name != "threshold" and value != int(value):
            raise ValueError(f"set_printoptions(): {name} must be an integer, got {value!r}")
        setattr(_OPTS, name, value if name == "threshold" else int(value))
    if sci_mode is not None and not isinstance(sci_mode, bool):
        raise ValueError(f"set_printoptions(): sci_mode must be True, False or None, got {sci_mode!r}")
    _OPTS.sci_mode = sci_mode


def get_printoptions():
    """The current print options as a dict (the keywords of set_printoptions)."""
    return {k: getattr(_OPTS, k) for k in ("precision", "threshold", "edgeitems", "linewidth", "sci_mode")}


class _FloatFormat:
    def __init__(self, vals):
        finite = [v for v in vals if math.isfinite(v)]
        nonzero = [v for v in finite if v != 0]
        self.int_mode = all(v == math.ceil(v) for v in finite)
        self.sci = False
        if _OPTS.sci_mode is not None:
            self.sci = _OPTS.sci_mode
        elif nonzero:
            lo, hi = min(map(abs, nonzero)), max(map(abs, nonzero))
            self.sci = hi / lo > 1000.0 or hi > 1.0e8 or (not self.int_mode and lo < 1.0e-4)
        self.width = max((len(self._fmt(v)) for v in nonzero), default=1)  # signs count

    def _fmt(self, v):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if self.sci:
            return f"{v:.{_OPTS.precision}e}"
        if self.int_mode:
            return f"{v:.0f}."
        return f"{v:.{_OPTS.precision}f}"

    def __call__(self, v):
        return self._fmt(v).rjust(self.width)


class _PlainFormat:
    def __init__(self, vals, to_str):
        self.to_str = to_str
        self.width = max((len(to_str(v)) for v in vals), default=1)

    def __call__(self, v):
        return self.to_str(v).rjust(self.width)


class _ComplexFormat:
    def __init__(self, vals):
        self.re = _FloatFormat([v.real for v in vals])
        self.im = _FloatFormat([v.imag for v in vals])
        self.width = self.re.width + self.im.width + 2

    def __call__(self, v):
        sign = "-" if v.imag < 0 or (v.imag == 0 and math.copysign(1, v.imag) < 0) else "+"
        return f"{self.re(v.real)}{sign}{self.im(abs(v.imag)).lstrip()}j"


def _formatter(dt, vals):
    if dt == "bool":
        return _PlainFormat(vals, lambda v: "True" if v else "False")
    if dt.startswith("int") or dt.startswith("uint"):
        return _PlainFormat(vals, str)
    if dt.startswith("complex"):
        return _ComplexFormat(vals)
    return _FloatFormat(vals)


def _edges(values, shape):
    """Nested lists with only the edge items along dims longer than 2*edgeitems (None marks the cut)."""
    if not shape:
        return values
    n = shape[0]
    e = _OPTS.edgeitems
    idx = list(range(e)) + [None] + list(range(n - e, n)) if n > 2 * e else list(range(n))
    return [None if i is None else _edges(values[i], shape[1:]) for i in idx]


def _leaves(nested, depth):
    if depth == 0:
        yield nested
        return
    for x in nested:
        if x is not None:
            yield from _leaves(x, depth - 1)


def _vector(items, fmt, indent):
    data = [" ..." if x is None else fmt(x) for x in items]
    per_line = max(1, int((_OPTS.linewidth - indent) // (fmt.width + 2)))
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _render(nested, depth, fmt, indent):
    if depth == 1:
        return _vector(nested, fmt, indent)
    parts = ["..." if x is None else _render(x, depth - 1, fmt, indent + 1) for x in nested]
    return "[" + ("," + "\n" * (depth - 1) + " " * (indent + 1)).join(parts) + "]"


def _full_values(t):
    """t.tolist(), fetching only the edge items of large tensors (the rest become None)."""
    shape = tuple(t.shape)
    if t.numel() <= _OPTS.threshold:
        return t.tolist(), False
    from . import _C
    src = t
    e = _OPTS.edgeitems
    for d, n in enumerate(shape):
        if n > 2 * e:
            idx = _C.tensor(list(range(e)) + list(range(n - e, n)), dtype=_C.dtype.int64)
            src = src[(slice(None),) * d + (idx,)]
    return src.tolist(), True


def _inflate(values, shape):
    """Edge-only lists back to full length so that _edges picks the same items."""
    if not shape:
        return values
    inner = [_inflate(v, shape[1:]) for v in values]
    e = _OPTS.edgeitems
    if shape[0] > 2 * e:
        return inner[:e] + [None] * (shape[0] - 2 * e) + inner[e:]
    return inner


def tensor_repr(t):
    dt = t.dtype.name
    shape = tuple(t.shape)
    prefix = "tensor("
    suffix = []
    if t.numel() == 0:
        body = "[]"
        if len(shape) != 1:
            suffix.append(f"size={shape}")
        if dt != "float32":  # no elements to show the dtype by
            suffix.append(f"dtype=tessel.{dt}")
    else:
        values, summarized = _full_values(t)
        nested = _edges(_inflate(values, shape), shape) if summarized else values
        fmt = _formatter(dt, list(_leaves(nested, len(shape))))
        body = fmt(nested).strip() if not shape else _render(nested, len(shape), fmt, len(prefix))
        if dt not in _DEFAULT_DTYPES:
            suffix.append(f"dtype=tessel.{dt}")
    if str(t.device) != "cpu":
        suffix.append(f"device='{t.device}'")
    if t.requires_grad:  # as PyTorch: the history of a result, or the flag of a leaf
        fn = t.grad_fn
        suffix.append(f"grad_fn=<{fn.name()}>" if fn is not None else "requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffix) + ")"
