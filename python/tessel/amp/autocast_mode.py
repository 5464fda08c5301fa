"""Autocast: mixed precision as a context manager or decorator, as torch.autocast.

The state lives in C++ (per thread, per device type), so ops called from C++
see it too; this module only enters and leaves regions.
"""
import functools
import inspect
import warnings

from .. import _C

_amp = _C._amp
_DEVICE_TYPES = ("cpu", "cuda")


def _check_device_type(device_type):
    if not isinstance(device_type, str):
        raise TypeError(f"[autocast] device_type must be a string ('cpu' or 'cuda'), got {type(device_type).__name__}")
    if device_type not in _DEVICE_TYPES:
        raise ValueError(f"[autocast] device_type must be 'cpu' or 'cuda' (a device type, no index), "
                         f"got '{device_type}'")
    return device_type


class autocast:
    """Runs the ops of a region in mixed precision.

    ``with ts.autocast("cpu"):`` (bfloat16 by default; ``dtype=ts.float16``
    also works) casts the inputs of matmul, linear, conv and attention to the
    lower dtype, runs range-hungry ops (softmax, norms, losses, exp/log/pow,
    sums) in float32, and leaves every other op alone. ``enabled=False``
    turns autocast off inside an enclosing region. ``cache_enabled`` reuses
    the casts of parameters within the outermost region. Works as a decorator.
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        self.device = _check_device_type(device_type)
        if dtype is not None and not isinstance(dtype, _C.dtype):
            raise TypeError(f"[autocast] dtype must be a tessel dtype, got {dtype!r}")
        if not isinstance(enabled, bool):
            raise TypeError(f"[autocast] enabled must be a bool, got {type(enabled).__name__}")
        self.fast_dtype = dtype if dtype is not None else _amp.get_autocast_dtype(self.device)
        self._enabled = enabled
        if self._enabled and self.fast_dtype not in (_C.dtype.bfloat16, _C.dtype.float16):
            warnings.warn(f"In {self.device} autocast, but the target dtype {self.fast_dtype} is not supported; "
                          "disabling autocast. Autocast supports bfloat16 and float16.", UserWarning, stacklevel=2)
            self._enabled = False
        self._cache_enabled = cache_enabled

    def __enter__(self):
        self._prev = (_amp.is_autocast_enabled(self.device), _amp.get_autocast_dtype(self.device),
                      _amp.is_autocast_cache_enabled())
        if self.fast_dtype in (_C.dtype.bfloat16, _C.dtype.float16):
            _amp.set_autocast_dtype(self.device, self.fast_dtype)
        _amp.set_autocast_enabled(self.device, self._enabled)
        if self._cache_enabled is not None:
            _amp.set_autocast_cache_enabled(bool(self._cache_enabled))
        _amp.increment_nesting()
        return self

    def __exit__(self, *exc):
        _amp.decrement_nesting()  # leaving the outermost region clears the cast cache
        enabled, dtype, cache = self._prev
        _amp.set_autocast_enabled(self.device, enabled)
        _amp.set_autocast_dtype(self.device, dtype)
        _amp.set_autocast_cache_enabled(cache)
        return False

    def __call__(self, fn):
        args = (self.device, self.fast_dtype, self._enabled, self._cache_enabled)
        if inspect.isgeneratorfunction(fn):
            raise TypeError("[autocast] cannot decorate a generator function; use `with autocast(...)` inside it")

        @functools.wraps(fn)
        def wrapper(*a, **kw):
            with autocast(*args):
                return fn(*a, **kw)
        return wrapper


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for ``device_type`` ('cpu' or 'cuda'); without one, for any device.

    (PyTorch's argument-less form asks about CUDA only; tessel's asks about any.)
    """
    if device_type is None:
        return any(_amp.is_autocast_enabled(d) for d in _DEVICE_TYPES)
    return _amp.is_autocast_enabled(_check_device_type(device_type))


def get_autocast_dtype(device_type):
    """The dtype autocast casts to on ``device_type`` (bfloat16 for cpu, float16 for cuda by default)."""
    return _amp.get_autocast_dtype(_check_device_type(device_type))


def set_autocast_enabled(device_type, enabled):
    _amp.set_autocast_enabled(_check_device_type(device_type), bool(enabled))


def set_autocast_dtype(device_type, dtype):
    _amp.set_autocast_dtype(_check_device_type(device_type), dtype)


def is_autocast_cache_enabled():
    return _amp.is_autocast_cache_enabled()


def set_autocast_cache_enabled(enabled):
    _amp.set_autocast_cache_enabled(bool(enabled))


def clear_autocast_cache():
    _amp.clear_autocast_cache()


def autocast_ops():
    """The autocast op list: {op name: 'lower' | 'float32' | 'promote'}."""
    return dict(_amp.ops())
