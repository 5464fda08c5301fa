"""Thin Tensor methods composed of existing ops: new_* constructors, type_as,
is_floating_point, clamp_min/max, where, nelement, addcmul/addcdiv, swapaxes,
swapdims and movedim (installed on ts.Tensor by tessel/__init__.py).

In-place forms go through the in-place ops (add_, clamp_), so autograd checks
and version counters behave as for any other in-place op.
"""
import numbers

from . import _C
from ._C import Tensor


def _size_args(size, op):
    # new_zeros(2, 3) and new_zeros((2, 3)) are both accepted, as in PyTorch.
    if len(size) == 1 and not isinstance(size[0], numbers.Integral):
        size = size[0]
    try:
        return tuple(int(s) if isinstance(s, numbers.Integral) else _bad_size(s, op) for s in size)
    except TypeError:
        raise TypeError(f"{op}(): size must be a sequence of ints, got {type(size).__name__}") from None


def _bad_size(s, op):
    raise TypeError(f"{op}(): size must contain ints, got {type(s).__name__}")


def _like_opts(self, dtype, device):
    return dict(dtype=self.dtype if dtype is None else dtype, device=self.device if device is None else device)


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    """A zero tensor of `size` with this tensor's dtype and device (unless given)."""
    return _C.zeros(_size_args(size, "new_zeros"), requires_grad=requires_grad, **_like_opts(self, dtype, device))


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    """A tensor of ones of `size` with this tensor's dtype and device (unless given)."""
    return _C.ones(_size_args(size, "new_ones"), requires_grad=requires_grad, **_like_opts(self, dtype, device))


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    """An uninitialized tensor of `size` with this tensor's dtype and device (unless given)."""
    return _C.empty(_size_args(size, "new_empty"), requires_grad=requires_grad, **_like_opts(self, dtype, device))


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of `size` filled with `fill_value`, in this tensor's dtype (the value is cast to it)."""
    if isinstance(size, numbers.Integral):
        raise TypeError(f"new_full(): size must be a tuple of ints, not {type(size).__name__}")
    return _C.full(_size_args((size,), "new_full"), fill_value, requires_grad=requires_grad,
                   **_like_opts(self, dtype, device))


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """A new tensor copied from `data` (detached), in this tensor's dtype and device unless given."""
    if isinstance(data, Tensor):
        data = data.detach()
    return _C.tensor(data, requires_grad=requires_grad, **_like_opts(self, dtype, device))


def type_as(self, other):
    """This tensor cast to `other`'s dtype (and device)."""
    if not isinstance(other, Tensor):
        raise TypeError(f"type_as(): other must be a Tensor, got {type(other).__name__}")
    return self.to(other)


def is_floating_point(self):
    """True for float16, bfloat16, float32 and float64 tensors."""
    return self.dtype.is_floating_point


def is_complex(self):
    """True for complex64 and complex128 tensors."""
    return self.dtype.is_complex


def nelement(self):
    """The number of elements (an alias of numel())."""
    return self.numel()


def clamp_min(input, min):  # noqa: A002  (PyTorch's argument name)
    """Elementwise max(input, min); `min` is a number or a tensor."""
    return _C.clamp(input, min=min)


def clamp_max(input, max):  # noqa: A002
    """Elementwise min(input, max); `max` is a number or a tensor."""
    return _C.clamp(input, max=max)


def clamp_min_(self, min):  # noqa: A002
    return self.clamp_(min=min)


def clamp_max_(self, max):  # noqa: A002
    return self.clamp_(max=max)


def where(self, condition, y):
    """ts.where(condition, self, y): this tensor where `condition` holds, `y` elsewhere."""
    return _C.where(condition, self, y)




def _scaled(product, value, input, op):
    # value is a scalar of the result's dtype: a float value with integer tensors would
    # silently truncate in PyTorch; tessel refuses it instead.
    if isinstance(value, Tensor):
        raise TypeError(f"{op}(): value must be a number, not a Tensor")
    if not isinstance(value, numbers.Number):
        raise TypeError(f"{op}(): value must be a number, got {type(value).__name__}")
    out_dtype = _C.result_type(input, product)
    if not (out_dtype.is_floating_point or out_dtype.is_complex) and not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}(): value={value!r} is not an integer but the result is {out_dtype}")
    return product if value == 1 else product * value


def _check_tensors(op, **tensors):
    for name, t in tensors.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): {name} must be a Tensor, got {type(t).__name__}")


def _integral(t):
    return not (t.dtype.is_floating_point or t.dtype.is_complex)


def _quotient(tensor1, tensor2, op):
    if _integral(tensor1) and _integral(tensor2):
        raise TypeError(f"{op}(): integer division is not supported; use input + value * tensor1 / tensor2 "
                        "with floating-point tensors")
    return _C.true_divide(tensor1, tensor2)


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2 (broadcast)."""
    _check_tensors("addcmul", input=input, tensor1=tensor1, tensor2=tensor2)
    return input + _scaled(tensor1 * tensor2, value, input, "addcmul")


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2 (broadcast); integer tensor1 and tensor2 are refused."""
    _check_tensors("addcdiv", input=input, tensor1=tensor1, tensor2=tensor2)
    return input + _scaled(_quotient(tensor1, tensor2, "addcdiv"), value, input, "addcdiv")


def addcmul_(self, tensor1, tensor2, *, value=1):
    _check_tensors("addcmul_", tensor1=tensor1, tensor2=tensor2)
    return self.add_(_scaled(tensor1 * tensor2, value, self, "addcmul_"))


def addcdiv_(self, tensor1, tensor2, *, value=1):
    _check_tensors("addcdiv_", tensor1=tensor1, tensor2=tensor2)
    return self.add_(_scaled(_quotient(tensor1, tensor2, "addcdiv_"), value, self, "addcdiv_"))


def swapaxes(input, axis0, axis1):
    """An alias of transpose (NumPy's name)."""
    return input.transpose(axis0, axis1)


def swapdims(input, dim0, dim1):
    """An alias of transpose."""
    return input.transpose(dim0, dim1)


def _wrap_dim(d, ndim, op):
    if not isinstance(d, numbers.Integral):
        raise TypeError(f"{op}(): dims must be ints, got {type(d).__name__}")
    lo, hi = -max(ndim, 1), max(ndim, 1) - 1
    if not lo <= d <= hi:
        raise IndexError(f"{op}(): dimension out of range (expected to be in range of [{lo}, {hi}], but got {d})")
    return d + ndim if d < 0 else d


def movedim(input, source, destination):
    """Moves dims `source` to positions `destination` (ints or sequences); the other dims keep their order."""
    src = [source] if isinstance(source, numbers.Integral) else list(source)
    dst = [destination] if isinstance(destination, numbers.Integral) else list(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim(): source ({len(src)} dims) and destination ({len(dst)} dims) "
                         "must have the same number of dims")
    n = input.dim()
    src = [_wrap_dim(d, n, "movedim") for d in src]
    dst = [_wrap_dim(d, n, "movedim") for d in dst]
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise ValueError(f"movedim(): repeated dim in {name} {dims}")
    perm = [None] * n
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(i for i in range(n) if i not in src)
    perm = [next(rest) if p is None else p for p in perm]
    return input.permute(perm)


moveaxis = movedim

# name -> function, installed as Tensor methods
METHODS = {
    "new_zeros": new_zeros, "new_ones": new_ones, "new_empty": new_empty, "new_full": new_full,
    "new_tensor": new_tensor, "type_as": type_as, "is_floating_point": is_floating_point,
    "is_complex": is_complex, "nelement": nelement, "clamp_min": clamp_min, "clamp_max": clamp_max,
    "clamp_min_": clamp_min_, "clamp_max_": clamp_max_, "where": where, "addcmul": addcmul,
    "addcdiv": addcdiv, "addcmul_": addcmul_, "addcdiv_": addcdiv_, "swapaxes": swapaxes,
    "swapdims": swapdims, "movedim": movedim, "moveaxis": moveaxis,
}
# functional forms exported as ts.<name>
FUNCTIONS = ["clamp_min", "clamp_max", "addcmul", "addcdiv", "swapaxes", "swapdims", "movedim", "moveaxis"]


def install():
    for name, fn in METHODS.items():
        if not hasattr(Tensor, name):  # never shadow a C++ binding
            setattr(Tensor, name, fn)
