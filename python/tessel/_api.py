"""The PyTorch-style names a ported script reaches for first (ts.Size, ts.cuda,
ts.backends, ts.testing, ts.meshgrid, ts.cdist, Tensor.new_zeros, ...), built on
the ops of _C. tessel/__init__.py re-exports everything in __all__."""
from . import _C
from ._C import Tensor
from . import backends, cuda, return_types, testing  # noqa: F401
from . import _tensor_methods
from ._compare import allclose, isclose
from ._creation import as_tensor, is_tensor, rand_like, randn_like
from ._distance import cdist, dist
from ._grid import diag, meshgrid
from ._repr import get_printoptions, set_printoptions
from ._size import Size
from ._stats import (aminmax, bincount, corrcoef, cov, cummax, cummin, histc, histogram, logcumsumexp, median,
                     mode, nanmean, nanmedian, nanquantile, nansum, quantile)
from ._math_port import *  # noqa: F401,F403  (arcsin, xlogy, sinc, fmax, ...: _math_port.py)
from ._shape_port import *  # noqa: F401,F403  (rot90, tensor_split, isin, trapezoid, ...: _shape_port.py)
from ._scatter_port import *  # noqa: F401,F403  (slice_scatter, scatter_reduce, ...: _scatter_port.py)
from . import _math_port, _scatter_port, _shape_port
from ._tensor_methods import addcdiv, addcmul, clamp_max, clamp_min, moveaxis, movedim, swapaxes, swapdims

__all__ = [
    "Size", "backends", "cuda", "return_types", "testing", "allclose", "isclose", "as_tensor", "is_tensor",
    "rand_like", "randn_like", "cdist", "diag", "meshgrid", "get_printoptions", "set_printoptions",
    "bincount", "median", "mode", "addcdiv", "addcmul", "clamp_max", "clamp_min", "moveaxis", "movedim",
    "swapaxes", "swapdims", "broadcast_shapes", "aminmax", "corrcoef", "cov", "cummax", "cummin", "logcumsumexp",
    "nanmean", "nanquantile", "nansum", "quantile", "dist", "histc", "histogram", "nanmedian",
] + _math_port.__all__ + _shape_port.__all__ + _scatter_port.__all__


def broadcast_shapes(*shapes):
    """The shape that tensors of the given shapes broadcast to (a ts.Size)."""
    return Size(_C.broadcast_shapes(*shapes))


_tensor_methods.install()
_math_port.install()
_shape_port.install()
_scatter_port.install()
for _name, _fn in (("median", median), ("mode", mode), ("bincount", bincount), ("diag", diag),
                   ("isclose", isclose), ("allclose", allclose), ("aminmax", aminmax), ("corrcoef", corrcoef),
                   ("cov", cov), ("cummax", cummax), ("cummin", cummin), ("logcumsumexp", logcumsumexp),
                   ("nanmean", nanmean), ("nanquantile", nanquantile), ("nansum", nansum), ("quantile", quantile),
                   ("dist", dist), ("histc", histc), ("histogram", histogram), ("nanmedian", nanmedian)):
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _fn)
del _name, _fn

# x.shape and x.size() return ts.Size once _C knows the type.
if hasattr(_C, "_set_size_type"):
    _C._set_size_type(Size)

# pybind11 keeps the enum's own __repr__ ahead of the one bound in dtype.cpp: replace it here.
_C.dtype.__repr__ = lambda self: f"tessel.{self.name}"
