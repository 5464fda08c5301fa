"""NumPy protocol methods of Tensor (__array__ and numpy() share memory), and `np`, the NumPy module
imported on first use: `import tessel` needs no NumPy; the few functions that compute with it import it then."""


class _LazyNumPy:
    def __getattr__(self, name):
        import numpy
        return getattr(numpy, name)


np = _LazyNumPy()


def __array__(self, dtype=None, copy=None):
    import numpy as np
    if str(self.device) != "cpu":
        if copy is False:
            raise ValueError(f"__array__: a tensor on {self.device} needs a copy to become a NumPy array")
        self = self.cpu()
    a = np.asarray(memoryview(self))  # the buffer protocol: no copy
    if dtype is not None and a.dtype != np.dtype(dtype):
        if copy is False:
            raise ValueError(f"__array__: converting {self.dtype} to {np.dtype(dtype)} needs a copy, but copy=False")
        return a.astype(dtype)
    return a.copy() if copy else a


def numpy(self, *, force=False):
    """A NumPy array sharing this CPU tensor's memory (force=True copies from other devices)."""
    import numpy as np
    if str(self.device) != "cpu":
        if not force:
            raise TypeError(f"can't convert a {self.device} tensor to NumPy; use .cpu() or numpy(force=True)")
        self = self.cpu()
    return np.asarray(memoryview(self))
