"""Grad mode: per thread, as context managers and decorators."""
import functools

from .. import _C

_ag = _C._autograd
is_grad_enabled = _ag.is_grad_enabled


class _GradModeBase:
    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args):
                return fn(*args, **kwargs)
        return wrapper

    def __enter__(self):
        self._prev = _ag.is_grad_enabled()
        _ag.set_grad_enabled(self._mode)

    def __exit__(self, *exc):
        _ag.set_grad_enabled(self._prev)
        return False


class no_grad(_GradModeBase):
    """Ops inside record no graph (inference, optimizer updates)."""
    _args = ()
    _mode = False


class enable_grad(_GradModeBase):
    """Re-enables recording inside a no_grad region."""
    _args = ()
    _mode = True


class inference_mode(no_grad):
    """Same as no_grad in tessel (no separate inference tensors)."""

    def __init__(self, mode=True):
        self._args = (mode,)
        self._mode = not mode


class set_grad_enabled(_GradModeBase):
    """Sets grad mode on construction (as a function) and restores it on exit (as a context manager)."""

    def __init__(self, mode):
        self._args = (mode,)
        self._mode = bool(mode)
        self._prev = _ag.is_grad_enabled()
        _ag.set_grad_enabled(self._mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _ag.set_grad_enabled(self._prev)
        return False
