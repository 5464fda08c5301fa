"""ts.as_tensor, ts.is_tensor, ts.randn_like and ts.rand_like."""
from . import _C
from ._C import Tensor


def is_tensor(obj):
    """True if `obj` is a tessel Tensor."""
    return isinstance(obj, Tensor)


def as_tensor(data, dtype=None, device=None):
    """`data` as a tensor, sharing memory when it can.

    A tensor with the requested dtype and device is returned as is (autograd
    history included); a NumPy array of a supported dtype on the CPU shares its
    memory (as ts.from_numpy); anything else is copied as by ts.tensor.
    """
    if isinstance(data, Tensor):
        same_dtype = dtype is None or data.dtype == dtype
        same_device = device is None or data.device == device
        return data if same_dtype and same_device else data.to(dtype=dtype, device=device)
    if _is_ndarray(data) and (device is None or _C.device("cpu") == device):
        try:
            shared = _C.from_numpy(data)
        except (TypeError, ValueError):  # dtype or layout from_numpy cannot view: copy below
            shared = None
        if shared is not None and (dtype is None or shared.dtype == dtype):
            return shared
    return _C.tensor(data, dtype=dtype, device=device)


def _is_ndarray(x):
    return type(x).__module__ == "numpy" and type(x).__name__ == "ndarray"


def _random_like(fn, input, generator, dtype, device, requires_grad):
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn.__name__}_like(): input must be a Tensor, got {type(input).__name__}")
    kwargs = dict(dtype=input.dtype if dtype is None else dtype,
                  device=input.device if device is None else device, requires_grad=requires_grad)
    if generator is not None:  # only passed when given, so the plain call matches any rand/randn binding
        kwargs["generator"] = generator
    return fn(tuple(input.shape), **kwargs)


def randn_like(input, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples with the shape (and, unless given, dtype and device) of `input`."""
    return _random_like(_C.randn, input, generator, dtype, device, requires_grad)


def rand_like(input, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples in [0, 1) with the shape (and, unless given, dtype and device) of `input`."""
    return _random_like(_C.rand, input, generator, dtype, device, requires_grad)
