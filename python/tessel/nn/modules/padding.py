"""Padding layers: constant, zero, reflection, replication and circular, in 1-3 spatial dims (F.pad)."""
from .. import functional as F
from .module import Module


def _padding(padding, n, name):
    if isinstance(padding, int):
        return (padding,) * (2 * n)
    padding = tuple(int(p) for p in padding)
    if len(padding) != 2 * n:
        raise ValueError(f"{name}: padding must be an int or {2 * n} ints, got {padding}")
    return padding


class _PadNd(Module):
    _n = 1
    _mode = "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = _padding(padding, self._n, type(self).__name__)
        self.value = value

    def forward(self, input):
        if input.dim() not in (self._n + 1, self._n + 2):
            raise ValueError(f"{type(self).__name__}: expected a {self._n + 1}D or {self._n + 2}D input, "
                             f"got {input.dim()}D")
        return F.pad(input, self.padding, self._mode, self.value)

    def extra_repr(self):
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


def _layer(name, n, mode, doc):
    if mode == "constant":
        def __init__(self, padding, value):
            _PadNd.__init__(self, padding, value)
    else:
        def __init__(self, padding):
            _PadNd.__init__(self, padding)
    return type(name, (_PadNd,), {"_n": n, "_mode": mode, "__init__": __init__, "__doc__": doc})


ConstantPad1d = _layer("ConstantPad1d", 1, "constant", "Pads the last dim with `value`.")
ConstantPad2d = _layer("ConstantPad2d", 2, "constant", "Pads the last 2 dims with `value`.")
ConstantPad3d = _layer("ConstantPad3d", 3, "constant", "Pads the last 3 dims with `value`.")
ReflectionPad1d = _layer("ReflectionPad1d", 1, "reflect", "Pads the last dim by reflection (edge excluded).")
ReflectionPad2d = _layer("ReflectionPad2d", 2, "reflect", "Pads the last 2 dims by reflection (edge excluded).")
ReflectionPad3d = _layer("ReflectionPad3d", 3, "reflect", "Pads the last 3 dims by reflection (edge excluded).")
ReplicationPad1d = _layer("ReplicationPad1d", 1, "replicate", "Pads the last dim by repeating the edge.")
ReplicationPad2d = _layer("ReplicationPad2d", 2, "replicate", "Pads the last 2 dims by repeating the edge.")
ReplicationPad3d = _layer("ReplicationPad3d", 3, "replicate", "Pads the last 3 dims by repeating the edge.")
CircularPad1d = _layer("CircularPad1d", 1, "circular", "Pads the last dim by wrapping around.")
CircularPad2d = _layer("CircularPad2d", 2, "circular", "Pads the last 2 dims by wrapping around.")
CircularPad3d = _layer("CircularPad3d", 3, "circular", "Pads the last 3 dims by wrapping around.")


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)


class ZeroPad3d(ConstantPad3d):
    def __init__(self, padding):
        super().__init__(padding, 0.0)
