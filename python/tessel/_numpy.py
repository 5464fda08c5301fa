"""NumPy protocol methods of Tensor (__array__ and numpy() share memory), and `np`, the NumPy module
imported on first use: `import tessel` needs no NumPy; the few functions that compute with it import it then."""


class _LazyNumPy:
    def __getattr__(self, name):
        import numpy
        return getattr(numpy, name)


np = _LazyNumPy()

from . import _C  # noqa: E402


def _shared_array(t):
    """The NumPy array sharing a CPU tensor's memory. bfloat16 and the cast-only dtypes (float8, float4, int4,
    int2) have no buffer format: they come back as arrays of ml_dtypes' types of the same name, the same bytes."""
    import numpy as np
    if t.dtype.name != "bfloat16" and not t.dtype.is_cast_only:
        return np.asarray(memoryview(t))  # the buffer protocol: no copy
    try:
        import ml_dtypes
    except ImportError:
        raise TypeError(f"NumPy has no {t.dtype.name} type; install ml_dtypes (pip install ml_dtypes), "
                        f"or convert with .float()") from None
    raw = t.view(_C.dtype.uint16 if t.dtype.itemsize == 2 else _C.dtype.uint8)
    return np.asarray(memoryview(raw)).view(getattr(ml_dtypes, t.dtype.name))


def __array__(self, dtype=None, copy=None):
    if str(self.device) != "cpu":
        if copy is False:
            raise ValueError(f"__array__: a tensor on {self.device} needs a copy to become a NumPy array")
        self = self.cpu()
    import numpy as np
    a = _shared_array(self)
    if dtype is not None and a.dtype != np.dtype(dtype):
        if copy is False:
            raise ValueError(f"__array__: converting {self.dtype} to {np.dtype(dtype)} needs a copy, but copy=False")
        return a.astype(dtype)
    return a.copy() if copy else a


def numpy(self, *, force=False):
    """A NumPy array sharing this CPU tensor's memory (force=True copies from other devices)."""
    if str(self.device) != "cpu":
        if not force:
            raise TypeError(f"can't convert a {self.device} tensor to NumPy; use .cpu() or numpy(force=True)")
        self = self.cpu()
    return _shared_array(self)
