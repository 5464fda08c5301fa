"""PyTorch's elementwise spellings that _C has no kernel name for, composed of its ops:
the arc* aliases, fix, deg2rad/rad2deg, logit, xlogy, sinc, sgn, float_power, fmax/fmin,
heaviside, logaddexp2, isneginf/isposinf/isreal, gcd/lcm, ldexp, logspace, frexp. Each is
differentiable where its parts are; tessel/__init__.py re-exports __all__ and install() adds the Tensor methods."""
import math

from . import _C
from ._C import Tensor

__all__ = ["arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "arctan2", "fix", "deg2rad", "rad2deg",
           "logit", "xlogy", "sinc", "sgn", "float_power", "fmax", "fmin", "heaviside", "logaddexp2", "isneginf",
           "isposinf", "isreal", "gcd", "lcm", "ldexp", "logspace", "frexp"]

_F32, _F64, _C128 = _C.dtype.float32, _C.dtype.float64, _C.dtype.complex128


def _tensor(x, op, like=None):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, int, float, complex)):
        return _C.tensor(x, device=like.device) if isinstance(like, Tensor) else _C.tensor(x)
    raise TypeError(f"{op}(): expected a Tensor or a number, got {type(x).__name__}")


def _floating(x):
    """x itself when floating or complex, else x in float32 (PyTorch's default float dtype)."""
    return x if x.dtype.is_floating_point or x.dtype.is_complex else x.to(_F32)


def _alias(name, op):
    def fn(*args, **kwargs):  # a Python function, so that it binds as a Tensor method
        return op(*args, **kwargs)
    fn.__name__, fn.__qualname__ = name, name
    fn.__doc__ = f"{op.__name__} under PyTorch's (NumPy's) name {name}."
    return fn


arcsin, arccos, arctan = _alias("arcsin", _C.asin), _alias("arccos", _C.acos), _alias("arctan", _C.atan)
arcsinh, arccosh, arctanh = _alias("arcsinh", _C.asinh), _alias("arccosh", _C.acosh), _alias("arctanh", _C.atanh)
arctan2, fix = _alias("arctan2", _C.atan2), _alias("fix", _C.trunc)


def deg2rad(input):
    """Degrees to radians (integers give float32)."""
    return _floating(_tensor(input, "deg2rad")) * (math.pi / 180)


def rad2deg(input):
    """Radians to degrees (integers give float32)."""
    return _floating(_tensor(input, "rad2deg")) * (180 / math.pi)


def logit(input, eps=None):
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given."""
    p = _floating(_tensor(input, "logit"))
    if eps is not None:
        p = p.clamp(eps, 1 - eps)
    return _C.log(p / (1 - p))


def xlogy(input, other):
    """input * log(other), 0 where input is 0 (unless other is NaN), as scipy.special.xlogy."""
    x = _tensor(input, "xlogy", other)
    y = _tensor(other, "xlogy", x)
    out = x * _C.log(_floating(y))
    return _C.where(_C.logical_and(x == 0, _C.logical_not(_C.isnan(y))), _C.zeros_like(out), out)


def sinc(input):
    """sin(pi x) / (pi x), 1 at 0 (its derivative there 0, not NaN)."""
    x = _floating(_tensor(input, "sinc"))
    zero = x == 0
    safe = _C.where(zero, _C.ones_like(x), x) * math.pi  # the unused branch stays finite at 0
    return _C.where(zero, _C.ones_like(x), _C.sin(safe) / safe)


def sgn(input):
    """sign for real input; x / |x| (0 at 0) for complex."""
    x = _tensor(input, "sgn")
    if not x.dtype.is_complex:
        return _C.sign(x)
    mag = _C.abs(x)
    zero = mag == 0
    return _C.where(zero, _C.zeros_like(x), x / _C.where(zero, _C.ones_like(mag), mag).to(x.dtype))


def float_power(input, exponent):
    """input ** exponent in float64 (complex128 when either is complex)."""
    x = _tensor(input, "float_power", exponent)
    e = _tensor(exponent, "float_power", x)
    dt = _C128 if x.dtype.is_complex or e.dtype.is_complex else _F64
    return _C.pow(x.to(dt), e.to(dt))


def _nan_aware(name, pick):
    def fn(input, other):
        a = _tensor(input, name, other)
        b = _tensor(other, name, a)
        out = pick(a, b)
        if out.dtype.is_floating_point:
            # NaN only where both are NaN: the other operand wherever one is
            out = _C.where(_C.isnan(a), b.to(out.dtype), _C.where(_C.isnan(b), a.to(out.dtype), out))
        return out
    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name[1:]}imum that ignores NaN (NaN only where both are NaN)."
    return fn


fmax = _nan_aware("fmax", _C.maximum)
fmin = _nan_aware("fmin", _C.minimum)


def heaviside(input, values):
    """0 where input < 0, values where input == 0, 1 where input > 0."""
    x = _tensor(input, "heaviside")
    v = _tensor(values, "heaviside", x)
    if x.dtype.is_complex or v.dtype.is_complex:
        raise TypeError("heaviside(): complex input is not supported")
    step = (x > 0).to(x.dtype)
    return _C.where(x == 0, v.to(step.dtype) if v.dtype != step.dtype else v, step)


def logaddexp2(input, other):
    """log2(2**input + 2**other), without overflow."""
    a = _floating(_tensor(input, "logaddexp2", other))
    b = _floating(_tensor(other, "logaddexp2", a))
    from ._array_api_ops import logaddexp
    return logaddexp(a * math.log(2), b * math.log(2)) / math.log(2)


def isneginf(input):
    """True where input is -inf."""
    x = _tensor(input, "isneginf")
    return _C.logical_and(_C.isinf(x), x < 0) if not x.dtype.is_complex else _C.zeros_like(x, dtype=_C.dtype.bool)


def isposinf(input):
    """True where input is +inf."""
    x = _tensor(input, "isposinf")
    return _C.logical_and(_C.isinf(x), x > 0) if not x.dtype.is_complex else _C.zeros_like(x, dtype=_C.dtype.bool)


def isreal(input):
    """True where the imaginary part is 0 (everywhere for real dtypes)."""
    x = _tensor(input, "isreal")
    if not x.dtype.is_complex:
        return _C.ones_like(x, dtype=_C.dtype.bool)
    return x.imag == 0


def _integers(op, a, b):
    x, y = _tensor(a, op, b), _tensor(b, op, a)
    for t in (x, y):
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == _C.dtype.bool:
            raise TypeError(f"{op}(): expected integer tensors, got {t.dtype}")
    return x, y


def gcd(input, other):
    """The greatest common divisor of |input| and |other| (gcd(0, 0) = 0), elementwise."""
    x, y = _integers("gcd", input, other)
    shape = _C.broadcast_shapes(tuple(x.shape), tuple(y.shape))
    a, b = _C.abs(x).expand(*shape), _C.abs(y).expand(*shape)
    while bool((b != 0).any()):  # Euclid's steps on every element at once (at most ~90 for int64)
        nz = b != 0
        r = _C.where(nz, a % _C.where(nz, b, _C.ones_like(b)), _C.zeros_like(b))
        a, b = _C.where(nz, b, a), r
    return a


def lcm(input, other):
    """The least common multiple of |input| and |other| (0 where either is 0), elementwise."""
    x, y = _integers("lcm", input, other)
    g = gcd(x, y)
    return _C.where(g == 0, _C.zeros_like(g), _C.abs(x // _C.where(g == 0, _C.ones_like(g), g) * y))


def ldexp(input, other):
    """input * 2 ** other (integers give float32)."""
    x = _floating(_tensor(input, "ldexp", other))
    e = _tensor(other, "ldexp", x)
    return x * _C.pow(_C.full((), 2.0, dtype=x.dtype, device=x.device), e.to(x.dtype))


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None):
    """steps values base ** linspace(start, end, steps)."""
    kwargs = {} if device is None else {"device": device}
    exps = _C.linspace(start, end, steps, dtype=_F64, **kwargs)
    out = _C.pow(_C.full((), float(base), dtype=_F64, device=exps.device), exps)
    return out.to(dtype if dtype is not None else _F32)


# frexp's bit layout per float dtype: (int dtype of the same width, mantissa bits, exponent
# mask, bias, the power of two that lifts a subnormal into the normal range)
_LAYOUT = {"float32": ("int32", 23, 0xFF, 127, 32), "float64": ("int64", 52, 0x7FF, 1023, 64)}


def frexp(input):
    """(mantissa, exponent) with input = mantissa * 2 ** exponent, |mantissa| in [0.5, 1)
    (0, inf and NaN give themselves and exponent 0); the exponent is int32."""
    x = _tensor(input, "frexp")
    if not x.dtype.is_floating_point:
        raise TypeError(f"frexp(): expected a floating input, got {x.dtype}")
    name = str(x.dtype).rsplit(".", 1)[-1]
    w = x if name in _LAYOUT else x.to(_F32)  # float16/bfloat16: exactly through float32
    ityp, mbits, emask, bias, lift = _LAYOUT[str(w.dtype).rsplit(".", 1)[-1]]
    idt = getattr(_C.dtype, ityp)
    tiny = _C.logical_and(w != 0, _C.abs(w) < 2.0 ** (1 - bias))  # subnormal: scale up first
    v = _C.where(tiny, w * 2.0 ** lift, w)
    bits = v.view(idt)
    field = _C.bitwise_and(_C.bitwise_right_shift(bits, mbits), emask)
    special = _C.logical_or(v == 0, field == emask)  # 0, inf, NaN
    exponent = field - (bias - 1) - _C.where(tiny, _C.full_like(field, lift), _C.zeros_like(field))
    keep = ~(emask << mbits)  # every bit but the exponent field
    mant_bits = _C.bitwise_or(_C.bitwise_and(bits, keep), (bias - 1) << mbits)
    mantissa = _C.where(special, v, mant_bits.view(v.dtype))
    exponent = _C.where(special, _C.zeros_like(exponent), exponent)
    return mantissa.to(x.dtype), exponent.to(_C.dtype.int32)


_METHODS = ["arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "arctan2", "fix", "deg2rad", "rad2deg",
            "logit", "xlogy", "sinc", "sgn", "float_power", "fmax", "fmin", "heaviside", "logaddexp2", "isneginf",
            "isposinf", "isreal", "gcd", "lcm", "ldexp", "frexp"]


def install():
    g = globals()
    for name in _METHODS:
        if not hasattr(Tensor, name):  # never shadow a C++ binding
            setattr(Tensor, name, g[name])
