"""Grad mode: per thread, as context managers and decorators."""
import functools
import inspect

from .. import _C

_ag = _C._autograd
is_grad_enabled = _ag.is_grad_enabled


class _GradModeBase:
    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                gen = fn(*args, **kwargs)
                value = None
                while True:
                    try:
                        with self.__class__(*self._args):
                            item = gen.send(value)
                    except StopIteration as stop:
                        return stop.value
                    value = yield item
            return gen_wrapper

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


class _BareDecoratable(_GradModeBase):
    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)  # used as @no_grad without parentheses


class no_grad(_BareDecoratable):
    """Ops inside record no graph (inference, optimizer updates)."""
    _args = ()
    _mode = False


class enable_grad(_BareDecoratable):
    """Re-enables recording inside a no_grad region."""
    _args = ()
    _mode = True


class inference_mode(_GradModeBase):
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

    def __call__(self, fn):
        _ag.set_grad_enabled(self._prev)  # as a decorator it must not change the mode now
        return super().__call__(fn)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _ag.set_grad_enabled(self._prev)
        return False
