"""ts.isclose and ts.allclose: |input - other| <= atol + rtol * |other|, elementwise."""
from . import _C
from ._C import Tensor


def _as_operand(x, name):
    if isinstance(x, Tensor):
        return x
    raise TypeError(f"isclose(): {name} must be a Tensor, got {type(x).__name__}")


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise closeness (a bool tensor, broadcast).

    Equal values (infinities included) are close; NaN is close to NaN only with
    equal_nan=True. Mixed dtypes are promoted first (PyTorch requires equal dtypes).
    """
    a, b = _as_operand(input, "input"), _as_operand(other, "other")
    if rtol < 0:
        raise ValueError(f"isclose(): rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise ValueError(f"isclose(): atol must be greater than or equal to zero, but got {atol}")
    dt = _C.promote_types(a.dtype, b.dtype)
    if not (dt.is_floating_point or dt.is_complex):
        # integers and bools: compare exactly, then within tolerance in float64
        close = _C.eq(a, b)
        if rtol == 0 and atol == 0:
            return close
        a, b = a.to(_C.dtype.float64), b.to(_C.dtype.float64)
    else:
        a, b = a.to(dt), b.to(dt)
        close = _C.eq(a, b)  # infinities of the same sign
    diff = _C.abs(a - b)
    within = _C.logical_and(_C.isfinite(diff), diff <= atol + rtol * _C.abs(b))
    close = _C.logical_or(close, within)
    if equal_nan:
        close = _C.logical_or(close, _C.logical_and(_C.isnan(a), _C.isnan(b)))
    return close


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True if every element of `input` is close to `other` (see isclose)."""
    return bool(isclose(input, other, rtol=rtol, atol=atol, equal_nan=equal_nan).all())
