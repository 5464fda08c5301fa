"""Complex numbers as PyTorch spells them: ts.complex, ts.polar, ts.angle and the
.real / .imag views. Compositions of view_as_complex / view_as_real and real ops,
so they differentiate (complex autograd, docs/autograd.md).
"""
import math

from . import _C
from ._C import Tensor

__all__ = ["complex", "polar", "angle"]


def _check_parts(op, a, b, a_name, b_name):
    for name, t in ((a_name, a), (b_name, b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"[{op}] expects tensors, got {type(t).__name__} for {name}")
    if a.dtype != b.dtype or a.dtype not in (_C.dtype.float32, _C.dtype.float64):
        raise TypeError(f"[{op}] expects {a_name} and {b_name} of the same dtype, float32 or float64; got "
                        f"{a.dtype} and {b.dtype}")


def complex(real, imag):  # noqa: A001  (PyTorch's name)
    """real + i imag (broadcast): complex64 from float32 parts, complex128 from float64."""
    if not (isinstance(real, Tensor) and isinstance(imag, Tensor)):
        _check_parts("complex", real, imag, "real", "imag")  # raises the error that names the argument
    return _C.complex(real, imag)


def polar(abs, angle):  # noqa: A002  (PyTorch's names)
    """abs * (cos(angle) + i sin(angle))."""
    _check_parts("polar", abs, angle, "abs", "angle")
    return complex(abs * _C.cos(angle), abs * _C.sin(angle))


def angle(input):
    """The argument atan2(imag, real) of a complex tensor; of a real one pi where it is negative, else 0
    (NaN stays NaN), in the default float dtype for integers, as PyTorch."""
    if not isinstance(input, Tensor):
        raise TypeError(f"[angle] expects a tensor, got {type(input).__name__}")
    if input.dtype.is_complex:
        pairs = _C.view_as_real(input)
        return _C.atan2(pairs[..., 1], pairs[..., 0])
    x = input if input.dtype.is_floating_point else input.to(_C.get_default_dtype())
    return _C.where(_C.isnan(x), x, _C.where(x < 0, _C.full_like(x, math.pi), _C.zeros_like(x)))


def _real(self):
    """The real part: a view of a complex tensor (writes go through), the tensor itself when real."""
    return _C.view_as_real(self)[..., 0] if self.dtype.is_complex else self


def _imag(self):
    """The imaginary part, a view; real tensors have none (as in PyTorch)."""
    if not self.dtype.is_complex:
        raise RuntimeError(f"[imag] is not implemented for tensors with non-complex dtypes, got {self.dtype}")
    return _C.view_as_real(self)[..., 1]


def _set_part(get):
    def setter(self, value):
        get(self).copy_(value)
    return setter


def install():
    Tensor.real = property(_real, _set_part(_real))
    Tensor.imag = property(_imag, _set_part(_imag))
    Tensor.angle = angle
