"""The array API standard's functions (2024.12) on the tessel namespace, by family.

Each wrapper takes the standard's spelling and PyTorch's (`axis`/`dim`, `keepdims`/`keepdim`,
`k`/`diagonal`, `shift`/`shifts`, `shape`/`size`, `stop`/`end`, `num`/`steps`, `axes`/`dims`) with
PyTorch's defaults, and composes tessel's own ops. docs/array-api.md lists the deviations.
"""
import builtins
import math

from . import _C
from ._C import Tensor
from ._array_api import _integral, _D
from . import _port

__all__ = [
    # constants
    "e", "inf", "nan", "newaxis", "pi",
    # creation
    "arange", "empty", "empty_like", "full", "ones", "zeros", "tril", "triu",
    # elementwise
    "bitwise_invert", "bitwise_left_shift", "bitwise_right_shift", "copysign", "greater", "greater_equal",
    "less", "less_equal", "equal", "not_equal", "hypot", "imag", "real", "logaddexp", "nextafter", "positive",
    "signbit", "clip", "expm1", "log1p", "sign",
    # statistical
    "max", "min", "sum", "prod", "mean", "std", "var", "cumulative_sum", "cumulative_prod",
    # manipulation
    "broadcast_arrays", "broadcast_to", "concat", "expand_dims", "flip", "permute_dims", "repeat", "reshape", "roll",
    "squeeze", "stack", "unstack",
    # searching, sorting, sets, utility
    "argmax", "argmin", "count_nonzero", "searchsorted", "sort", "argsort", "unique_all", "unique_counts",
    "unique_inverse", "unique_values", "all", "any", "diff",
    # linear algebra, indexing
    "matrix_transpose", "tensordot", "vecdot", "take", "take_along_axis",
]

e = math.e
inf = math.inf
nan = math.nan
newaxis = None
pi = math.pi

_UNSET = object()


def _pick(op, std_name, std, torch_name, torch, default):
    """The value given under the standard's name or PyTorch's (not both)."""
    if std is not _UNSET and torch is not _UNSET:
        raise TypeError(f"[{op}] got both {std_name}= and {torch_name}= (the same argument)")
    if std is not _UNSET:
        return std
    return default if torch is _UNSET else torch


def _tensor(x, op, name="x"):
    if not isinstance(x, Tensor):
        raise TypeError(f"[{op}] {name} must be a Tensor, got {type(x).__name__}")
    return x


def _norm_axes(axis, ndim, op):
    """A tuple of non-negative axes (None: all)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, builtins.int) else tuple(axis)
    out = []
    for a in axes:
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            raise IndexError(f"[{op}] axis {a} is out of range for a {ndim}-d tensor")
        out.append(a % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"[{op}] repeated axis in {axis}")
    return tuple(out)


# ---------------------------------------------------------------- creation

def arange(start=0, stop=None, step=None, *, dtype=None, device=None, requires_grad=False, end=None):
    """Values from start (or 0) up to stop, step apart (torch.arange; `end` is PyTorch's name for stop)."""
    stop = end if stop is None else stop
    if step is None:
        step = 1
    if stop is None:
        start, stop = 0, start
    return _C.arange(start, stop, step, dtype=dtype, device=device, requires_grad=requires_grad)


def _shape_args(op, shape, more, size):
    if size is not None:
        if shape is not None:
            raise TypeError(f"[{op}] got both shape and size")
        shape = size
    if shape is None:
        raise TypeError(f"[{op}] missing the shape")
    if more:
        return (shape,) + tuple(more)
    return (shape,) if isinstance(shape, builtins.int) else tuple(shape)


def empty(shape=None, *more, dtype=None, device=None, requires_grad=False, size=None):
    """An uninitialised tensor: empty((2, 3)) or empty(2, 3)."""
    return _C.empty(_shape_args("empty", shape, more, size), dtype=dtype, device=device, requires_grad=requires_grad)


def zeros(shape=None, *more, dtype=None, device=None, requires_grad=False, size=None):
    """A tensor of zeros: zeros((2, 3)) or zeros(2, 3)."""
    return _C.zeros(_shape_args("zeros", shape, more, size), dtype=dtype, device=device, requires_grad=requires_grad)


def ones(shape=None, *more, dtype=None, device=None, requires_grad=False, size=None):
    """A tensor of ones: ones((2, 3)) or ones(2, 3)."""
    return _C.ones(_shape_args("ones", shape, more, size), dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False):
    return _C.empty_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full(shape=None, fill_value=None, *, dtype=None, device=None, requires_grad=False, size=None):
    """A tensor filled with fill_value (a bool gives bool, an int int64, a float the default float)."""
    shape = _shape_args("full", shape, (), size)
    if fill_value is None:
        raise TypeError("[full] missing fill_value")
    if dtype is None and isinstance(fill_value, builtins.complex):
        dtype = _D.complex128 if _C.get_default_dtype() == _D.float64 else _D.complex64
    return _C.full(shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def tril(input, diagonal=_UNSET, *, k=_UNSET):
    """The lower triangle (at and below diagonal k) of the last two dims."""
    return _C.tril(_tensor(input, "tril"), _pick("tril", "k", k, "diagonal", diagonal, 0))


def triu(input, diagonal=_UNSET, *, k=_UNSET):
    """The upper triangle (at and above diagonal k) of the last two dims."""
    return _C.triu(_tensor(input, "triu"), _pick("triu", "k", k, "diagonal", diagonal, 0))


# ---------------------------------------------------------------- elementwise

def _pair(op, x1, x2):
    """Both operands as tensors: a Python scalar takes the other operand's dtype when its kind fits."""
    if isinstance(x1, Tensor) and isinstance(x2, Tensor):
        return x1, x2
    if not isinstance(x1, Tensor) and not isinstance(x2, Tensor):
        raise TypeError(f"[{op}] expects at least one Tensor, got {type(x1).__name__} and {type(x2).__name__}")
    t = x1 if isinstance(x1, Tensor) else x2
    s = x2 if t is x1 else x1
    from ._array_api import _scalar_result
    st = _C.tensor(s, dtype=_scalar_result(t.dtype, s))
    return (t, st) if t is x1 else (st, t)


def _promote(x1, x2):
    if x1.dtype != x2.dtype:
        dt = _C.promote_types(x1.dtype, x2.dtype)
        x1, x2 = x1.to(dt), x2.to(dt)
    return x1, x2


def _compare(name, fn):
    def f(x1, x2, /):
        return fn(*_pair(name, x1, x2))
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise {name} (the standard's name for ts.{fn.__name__})."
    return f


greater = _compare("greater", _C.gt)
greater_equal = _compare("greater_equal", _C.ge)
less = _compare("less", _C.lt)
less_equal = _compare("less_equal", _C.le)
not_equal = _compare("not_equal", _C.ne)
# The standard's (and NumPy's) elementwise equal, not torch.equal's one bool:
# ts.array_equal and Tensor.equal keep that meaning (docs/array-api.md).
equal = _compare("equal", _C.eq)


def bitwise_invert(x, /):
    """~x for bool and integer tensors (ts.bitwise_not)."""
    return _C.bitwise_not(x)


def bitwise_left_shift(x1, x2, /):
    """x1 << x2 for integer tensors (a shift of the width or more gives 0)."""
    return _C.bitwise_left_shift(*_pair("bitwise_left_shift", x1, x2))


def bitwise_right_shift(x1, x2, /):
    """x1 >> x2 (arithmetic) for integer tensors."""
    return _C.bitwise_right_shift(*_pair("bitwise_right_shift", x1, x2))


def _float_pair(op, x1, x2):
    a, b = _promote(*_pair(op, x1, x2))
    if not (a.dtype.is_floating_point):
        raise TypeError(f"[{op}] expects real floating-point tensors, got {a.dtype}")
    return a, b


def _signbit_f(x):
    # the sign bit of -0.0 and of negative NaNs too: 1/x is -inf for -0.0
    return _C.logical_or(x < 0, _C.logical_and(x == 0, _C.reciprocal(x) < 0))


def signbit(x, /):
    """Whether the sign bit of each element is set (True for -0.0)."""
    _tensor(x, "signbit")
    if not x.dtype.is_floating_point:
        if x.dtype.is_complex:
            raise TypeError("[signbit] expects a real tensor")
        return x < 0
    if _C._onnx.tracing():  # with ops, so that export records them (NaN signs are not seen)
        return _signbit_f(x)
    bits = x.to(_D.float64).numpy().view("int64") < 0 if x.numel() else None
    if bits is None:
        return _C.zeros(x.shape, dtype=_D.bool)
    from ._array_api import asarray
    return asarray(bits.copy()).reshape(x.shape)


def _same_shape(op, a, b):
    """a and b broadcast to one shape (views), for the two-input kernels called by name."""
    try:
        shape = _C.broadcast_shapes(a.shape, b.shape)
    except ValueError as e:
        raise ValueError(f"[{op}] {e}") from None
    return (a if a.shape == shape else _C.broadcast_to(a, shape)), (b if b.shape == shape else _C.broadcast_to(b, shape))


def _needs_grad(*ts):
    return _C._autograd.is_grad_enabled() and builtins.any(t.requires_grad for t in ts)


def copysign(x1, x2, /):
    """|x1| with the sign bit of x2."""
    r = _C._call_plain("copysign", x1, x2)  # two CPU tensors of one shape and float dtype, no gradient
    if r is not None:
        return r
    a, b = _float_pair("copysign", x1, x2)
    if a.device.type == "cpu" and not _needs_grad(a, b) and not _C._onnx.tracing():
        # One pass over the bits (kernels/cpu/unary.cpp, "copysign"); export traces the ops below.
        return _C.call_op("copysign", list(_same_shape("copysign", a, b)))
    mag = _C.abs(a)
    return _C.where(signbit(b), -mag, mag)


def _hypot_function():
    from .autograd import Function

    class _Hypot(Function):
        """hypot through the "hypot" kernel; the backward through "hypot_backward" (g * x / r,
        0 where r = 0), or with ops under create_graph, so that it differentiates again."""

        @staticmethod
        def forward(ctx, a, b):
            r = _C.call_op("hypot", [a, b])
            ctx.save_for_backward(a, b, r)
            return r

        @staticmethod
        def backward(ctx, g):
            a, b, r = ctx.saved_tensors
            if _C._autograd.is_grad_enabled():
                inv = _C.where(r == 0, _C.zeros_like(r), g / _C.where(r == 0, _C.ones_like(r), r))
                return (inv * a if ctx.needs_input_grad[0] else None), (inv * b if ctx.needs_input_grad[1] else None)
            ga = _C.call_op("hypot_backward", [g, a, r]) if ctx.needs_input_grad[0] else None
            gb = _C.call_op("hypot_backward", [g, b, r]) if ctx.needs_input_grad[1] else None
            return ga, gb

    return _Hypot


_HYPOT = []


def hypot(x1, x2, /):
    """sqrt(x1**2 + x2**2) without overflow or underflow in between; inf if either is inf."""
    r = _C._call_plain("hypot", x1, x2)
    if r is not None:
        return r
    a, b = _float_pair("hypot", x1, x2)
    if a.device.type == "cpu" and not _C._onnx.tracing():
        # One pass (kernels/cpu/unary.cpp, "hypot"): broadcast views in, gradients summed back by autograd;
        # export traces the ops below.
        a, b = _same_shape("hypot", a, b)
        if not _needs_grad(a, b):
            return _C.call_op("hypot", [a, b])
        if not _HYPOT:
            _HYPOT.append(_hypot_function())
        return _HYPOT[0].apply(a, b)
    a, b = _C.abs(a), _C.abs(b)
    big, small = _C.maximum(a, b), _C.minimum(a, b)
    safe = _C.where(big == 0, _C.ones_like(big), big)
    r = big * _C.sqrt(1 + (small / safe) ** 2)
    r = _C.where(big == 0, _C.zeros_like(r), r)
    return _C.where(_C.logical_or(_C.isinf(a), _C.isinf(b)), _C.full_like(r, math.inf), r)


def logaddexp(x1, x2, /):
    """log(exp(x1) + exp(x2)) without overflow."""
    a, b = _float_pair("logaddexp", x1, x2)
    m = _C.maximum(a, b)
    finite_m = _C.where(_C.isinf(m), _C.zeros_like(m), m)
    r = finite_m + _C.log(_C.exp(a - finite_m) + _C.exp(b - finite_m))
    return _C.where(_C.logical_and(_C.isinf(m), m > 0), m, r)


def nextafter(x1, x2, /):
    """The next representable value after x1 towards x2 (in x1's dtype)."""
    import numpy as np
    a, b = _float_pair("nextafter", x1, x2)
    from ._array_api import asarray
    return asarray(np.array(np.nextafter(a.numpy(), b.numpy()), dtype=a.dtype.name, ndmin=0))


def expm1(input):
    """exp(x) - 1, accurate near 0 (complex too: expm1(a) cos(b) - 2 sin(b/2)**2 + i exp(a) sin(b))."""
    if not input.dtype.is_complex:
        return _C.expm1(input)
    a, b = real(input), imag(input)
    re = _C.expm1(a) * _C.cos(b) - 2 * _C.sin(b / 2) ** 2 + 0.0  # + 0.0: expm1(-0 + 0j) is +0 + 0j
    im = _C.exp(a) * _C.sin(b)
    out = _C.view_as_complex(_C.stack([re, im], -1).contiguous())
    # infinities and NaNs: exp(z) - 1 carries C99's special values through
    special = _C.logical_not(_C.logical_and(_C.isfinite(a), _C.isfinite(b)))
    return _C.where(special, _C.exp(input) - 1, out)


def log1p(input):
    """log(1 + x), accurate near 0 (complex too: log1p(2a + a**2 + b**2) / 2 + i atan2(b, 1 + a))."""
    if not input.dtype.is_complex:
        return _C.log1p(input)
    a, b = real(input), imag(input)
    re = 0.5 * _C.log1p(2 * a + a * a + b * b)
    im = _C.atan2(b, 1 + a)
    out = _C.view_as_complex(_C.stack([re, im], -1).contiguous())
    special = _C.logical_not(_C.logical_and(_C.isfinite(a), _C.isfinite(b)))
    return _C.where(_C.logical_or(special, _C.abs(input) > 0.5), _C.log(input + 1), out)


def sign(input):
    """-1, 0 or 1 (complex: x / |x|, 0 at 0)."""
    if not input.dtype.is_complex:
        return _C.sign(input)
    mag = _C.abs(input)
    out = input / _C.where(mag == 0, _C.ones_like(mag), mag).to(input.dtype)
    return _C.where(mag == 0, _C.zeros_like(input), out)


def real(x, /):
    """The real part (a real tensor is returned as it is)."""
    _tensor(x, "real")
    if not x.dtype.is_complex:
        return x
    return _C.view_as_real(x)[..., 0].clone()


def imag(x, /):
    """The imaginary part (zeros for a real tensor)."""
    _tensor(x, "imag")
    if not x.dtype.is_complex:
        return _C.zeros_like(x)
    return _C.view_as_real(x)[..., 1].clone()


def positive(x, /):
    """+x (a copy)."""
    return +_tensor(x, "positive")


def clip(input, min=None, max=None):  # noqa: A002  (the standard's and PyTorch's names)
    """x limited to [min, max]; min and max (scalars or tensors) do not change x's dtype."""
    x = _tensor(input, "clip")
    if min is None and max is None:
        return x.clone()
    out = x
    if _integral(x.dtype):
        info = __import__("numpy").iinfo(x.dtype.name)
        if isinstance(min, (builtins.int, builtins.float)) and min < info.min:
            min = None
        if isinstance(max, (builtins.int, builtins.float)) and max > info.max:
            max = None
    if min is not None:
        lo = min.to(x.dtype) if isinstance(min, Tensor) else _C.tensor(min, dtype=x.dtype)
        out = _C.where(_C.logical_or(out < lo, _C.isnan(lo) if lo.dtype.is_floating_point else out != out),
                       lo, out)
    if max is not None:
        hi = max.to(x.dtype) if isinstance(max, Tensor) else _C.tensor(max, dtype=x.dtype)
        out = _C.where(_C.logical_or(out > hi, _C.isnan(hi) if hi.dtype.is_floating_point else out != out),
                       hi, out)
    if out is x:
        return x.clone()
    return out.to(x.dtype)


# ---------------------------------------------------------------- statistical

def _axis_kw(op, dim, axis, keepdim, keepdims):
    return _pick(op, "axis", axis, "dim", dim, None), builtins.bool(_pick(op, "keepdims", keepdims, "keepdim",
                                                                          keepdim, False))


def _torch_form(dim, keepdim, axis, keepdims):
    """PyTorch's plain call (an int dim or none, a bool keepdim, none of the standard's keywords):
    the reductions hand it to the C++ op as is, which checks the dim; the general path costs a few
    microseconds, more than a small reduction itself."""
    return (axis is _UNSET and keepdims is _UNSET and (dim is _UNSET or type(dim) is int)
            and (keepdim is _UNSET or type(keepdim) is builtins.bool))


def _reduce_axis(x, axis, op):
    """None, or a dim list the C++ reductions take."""
    if axis is None:
        return None
    return list(_norm_axes(axis, x.dim(), op))


def _no_axes(axis):
    return axis is not None and not isinstance(axis, builtins.int) and len(tuple(axis)) == 0


def max(input, dim=_UNSET, keepdim=_UNSET, *, axis=_UNSET, keepdims=_UNSET):  # noqa: A001
    """PyTorch's max (max(x), max(x, dim) -> (values, indices), max(x, other)) and the standard's
    max(x, axis=..., keepdims=...) -> values."""
    if axis is _UNSET and keepdims is _UNSET:
        return _port.max(input, None if dim is _UNSET else dim, False if keepdim is _UNSET else keepdim)
    ax, kd = _axis_kw("max", dim, axis, keepdim, keepdims)
    return _C.amax(input, _reduce_axis(input, ax, "max"), kd)


def min(input, dim=_UNSET, keepdim=_UNSET, *, axis=_UNSET, keepdims=_UNSET):  # noqa: A001
    """PyTorch's min and the standard's min(x, axis=..., keepdims=...) -> values."""
    if axis is _UNSET and keepdims is _UNSET:
        return _port.min(input, None if dim is _UNSET else dim, False if keepdim is _UNSET else keepdim)
    ax, kd = _axis_kw("min", dim, axis, keepdim, keepdims)
    return _C.amin(input, _reduce_axis(input, ax, "min"), kd)


def _reduction(name, fn):
    unsigned_sum = name in ("sum", "prod")

    def f(input, dim=_UNSET, keepdim=_UNSET, *, axis=_UNSET, keepdims=_UNSET, dtype=None):
        if (_torch_form(dim, keepdim, axis, keepdims) and dtype is None
                and not (unsigned_sum and input.dtype is _D.uint8)):
            return fn(input, None if dim is _UNSET else [dim], keepdim is True)
        ax, kd = _axis_kw(name, dim, axis, keepdim, keepdims)
        if dtype is None and name in ("sum", "prod") and input.dtype == _D.uint8:
            dtype = _D.uint64  # the standard: unsigned sums in the default unsigned type (PyTorch's gives int64)
        if _no_axes(ax):  # reducing over no axis: each element on its own
            return _noop_reduce(name, fn, input, dtype)
        return fn(input, _reduce_axis(input, ax, name), kd, dtype=dtype)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = fn.__doc__
    return f


def _noop_reduce(name, fn, x, dtype):
    if name == "mean":
        return x.to(dtype).clone() if dtype is not None else x.clone()
    # the dtype a full reduction would give, applied element by element
    dt = dtype or fn(x.reshape(-1)[:0], None, False).dtype
    return x.to(dt).clone() if x.dtype == dt else x.to(dt)


sum = _reduction("sum", _C.sum)  # noqa: A001
prod = _reduction("prod", _C.prod)
mean = _reduction("mean", _C.mean)


def _spread(name, fn):
    def f(input, dim=_UNSET, unbiased=None, keepdim=_UNSET, *, axis=_UNSET, correction=None, keepdims=_UNSET):
        if isinstance(dim, builtins.bool):  # PyTorch's std(x, unbiased) over all dims
            dim, unbiased = _UNSET, dim
        if _torch_form(dim, keepdim, axis, keepdims):
            return fn(input, None if dim is _UNSET else [dim], unbiased, correction=correction, keepdim=keepdim is True)
        ax, kd = _axis_kw(name, dim, axis, keepdim, keepdims)
        if _no_axes(ax):  # one sample per element: spread 0, or NaN when correction >= 1
            c = 1 if correction is None and unbiased is not False else (correction or 0)
            return _C.zeros_like(input) if c < 1 else _C.full_like(input, math.nan)
        return fn(input, _reduce_axis(input, ax, name), unbiased, correction=correction, keepdim=kd)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"{name} over dim/axis; correction (or PyTorch's unbiased) defaults to 1 as in PyTorch "
                 "(the standard's default is 0: pass correction=0).")
    return f


std = _spread("std", _C.std)
var = _spread("var", _C.var)


def _cumulative(name, fn, initial):
    def f(x, /, *, axis=None, dtype=None, include_initial=False):
        _tensor(x, name)
        if axis is None:
            if x.dim() > 1:
                raise ValueError(f"[{name}] axis is required for a tensor of more than one dimension")
            axis = 0
        if x.dim() == 0:
            raise ValueError(f"[{name}] expects a tensor with at least one dimension")
        ax = _norm_axes(axis, x.dim(), name)[0]
        if dtype is None and x.dtype == _D.uint8:
            dtype = _D.uint64
        out = fn(x, ax, dtype=dtype) if x.shape[ax] else x.to(dtype or _C.sum(x[..., :0]).dtype)
        if include_initial:
            shape = list(out.shape)
            shape[ax] = 1
            out = _C.cat([_C.full(shape, initial, dtype=out.dtype), out], ax)
        return out
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"The cumulative {name.split('_')[1]} along axis (include_initial: start with {initial})."
    return f


cumulative_sum = _cumulative("cumulative_sum", _C.cumsum, 0)
cumulative_prod = _cumulative("cumulative_prod", _C.cumprod, 1)


# ---------------------------------------------------------------- manipulation

def broadcast_arrays(*arrays):
    """The tensors broadcast to one shape (views)."""
    shape = _C.broadcast_shapes(*[a.shape for a in arrays])
    return [_C.broadcast_to(a, shape) for a in arrays]


def broadcast_to(input, shape=None, *, size=None):
    """x broadcast to shape (PyTorch's name for it: size)."""
    if (shape is None) == (size is None):
        raise TypeError("[broadcast_to] pass the shape once (shape, or size as in PyTorch)")
    return _C.broadcast_to(_tensor(input, "broadcast_to"), shape if size is None else size)


def _promoted(op, tensors):
    """The tensors (at least one) converted to their common promoted dtype."""
    arrays = list(tensors)
    if not arrays:
        raise ValueError(f"[{op}] expects at least one tensor")
    dt = arrays[0].dtype
    for a in arrays[1:]:
        dt = _C.promote_types(dt, a.dtype)
    return [a.to(dt) for a in arrays]


def concat(tensors, dim=_UNSET, *, axis=_UNSET):
    """The tensors joined along axis (axis=None: flattened first); dtypes promote."""
    ax = _pick("concat", "axis", axis, "dim", dim, 0)
    arrays = _promoted("concat", tensors)
    if ax is None:
        return _C.cat([a.reshape(-1) for a in arrays], 0)
    return _C.cat(arrays, ax)


def expand_dims(x, /, axis=0):
    """x with a size-1 dim inserted at axis (negative counts from the end of the result)."""
    _tensor(x, "expand_dims")
    n = x.dim() + 1
    if not -n <= axis < n:
        raise IndexError(f"[expand_dims] axis {axis} is out of range for a {x.dim()}-d tensor")
    return _C.unsqueeze(x, axis % n)


def flip(input, dims=_UNSET, *, axis=_UNSET):
    """x reversed along axis/dims (all of them when None)."""
    ax = _pick("flip", "axis", axis, "dims", dims, None)
    return _C.flip(input, list(_norm_axes(ax, input.dim(), "flip")))


def permute_dims(x, /, axes):
    """x with its dims reordered (ts.permute)."""
    return _C.permute(_tensor(x, "permute_dims"), list(axes))


def repeat(x, repeats, /, *, axis=None):
    """Each element repeated `repeats` times along axis (flattened when None): ts.repeat_interleave."""
    _tensor(x, "repeat")
    if axis is None:
        x, axis = x.reshape(-1), 0
    return _C.repeat_interleave(x, repeats, axis)


def reshape(input, shape, *, copy=None):
    """x with a new shape (copy=True: always a copy; False: raises if a view is impossible)."""
    x = _tensor(input, "reshape")
    shape = (shape,) if isinstance(shape, builtins.int) else tuple(shape)
    if copy is False:
        try:
            return x.view(shape)
        except Exception as exc:
            raise ValueError(f"[reshape] copy=False but {list(x.shape)} -> {list(shape)} needs a copy") from exc
    out = _C.reshape(x, shape)
    return out.clone() if copy else out


def roll(input, shift=_UNSET, dims=_UNSET, *, shifts=_UNSET, axis=_UNSET):
    """x rolled by shift along axis (flattened when None); PyTorch's shifts/dims too."""
    s = _pick("roll", "shift", shift, "shifts", shifts, _UNSET)
    if s is _UNSET:
        raise TypeError("[roll] missing shift")
    ax = _pick("roll", "axis", axis, "dims", dims, None)
    if ax is None:
        return _C.roll(input.reshape(-1), s, 0).reshape(input.shape)
    return _C.roll(input, s, ax)


def squeeze(input, axis=None, *, dim=_UNSET):
    """x without the size-1 dims in axis (all size-1 dims when None); a named dim whose size is not 1 is
    left, as PyTorch does (the standard asks for an error)."""
    ax = _pick("squeeze", "axis", _UNSET if axis is None else axis, "dim", dim, None)
    return _C.squeeze(input) if ax is None else _C.squeeze(input, ax)


def stack(tensors, dim=_UNSET, *, axis=_UNSET):
    """The tensors stacked along a new axis; dtypes promote."""
    ax = _pick("stack", "axis", axis, "dim", dim, 0)
    return _C.stack(_promoted("stack", tensors), ax)


def unstack(x, /, *, axis=0):
    """The slices of x along axis, as a tuple (ts.unbind)."""
    _tensor(x, "unstack")
    return tuple(_C.unbind(x, _norm_axes(axis, x.dim(), "unstack")[0]))


# ---------------------------------------------------------------- linear algebra, indexing

def matrix_transpose(x, /):
    """x with its last two dims swapped (x.mT)."""
    _tensor(x, "matrix_transpose")
    if x.dim() < 2:
        raise ValueError(f"[matrix_transpose] expects at least 2 dims, got shape {list(x.shape)}")
    return x.mT


def tensordot(a, b, dims=_UNSET, *, axes=_UNSET):
    """Contraction over the last `axes` dims of x1 and first of x2, or over the given pairs of dims."""
    ax = _pick("tensordot", "axes", axes, "dims", dims, 2)
    a, b = _promote(a, b)
    if not isinstance(ax, builtins.int):
        ax = [list(ax[0]) if not isinstance(ax[0], builtins.int) else [ax[0]],
              list(ax[1]) if not isinstance(ax[1], builtins.int) else [ax[1]]]
    return _C.tensordot(a, b, ax)


def vecdot(x1, x2, /, *, axis=-1, dim=_UNSET):
    """sum(conj(x1) * x2) along axis, broadcasting the other dims."""
    ax = _pick("vecdot", "axis", axis if axis != -1 else _UNSET, "dim", dim, -1)
    a, b = _promote(x1, x2)
    if a.dtype.is_complex:
        a = _C.conj(a)
    n = builtins.max(a.dim(), b.dim())
    if not -n <= ax < 0 and not (0 <= ax < builtins.min(a.dim(), b.dim())):
        raise IndexError(f"[vecdot] axis {ax} is out of range")
    if a.shape[ax] != b.shape[ax]:
        raise ValueError(f"[vecdot] sizes along axis differ: {a.shape[ax]} and {b.shape[ax]}")
    return _C.sum(a * b, [ax if ax < 0 else ax - builtins.min(a.dim(), b.dim())], False, dtype=a.dtype)


def take(input, index, *, axis=None):
    """Elements of x at indices along axis (x flattened when None, as torch.take)."""
    x, indices = _tensor(input, "take"), index
    if axis is None:  # flattened, as torch.take (the standard allows it only for 1-d x)
        return _C.take(x, indices)
    return _C.index_select(x, _norm_axes(axis, x.dim(), "take")[0], indices)


def take_along_axis(x, indices, /, axis=-1):
    """Elements of x at the per-position indices along axis (ts.gather)."""
    _tensor(x, "take_along_axis")
    return _C.gather(x, _norm_axes(axis, x.dim(), "take_along_axis")[0], indices)


# The searching, sorting, set and utility family (its own module; it uses the helpers above).
from ._array_api_search import (  # noqa: E402
    all, any, argmax, argmin, argsort, count_nonzero, diff, searchsorted, sort, unique_all,  # noqa: A004
    unique_counts, unique_inverse, unique_values)
