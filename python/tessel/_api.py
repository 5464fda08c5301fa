"""The PyTorch-style names a ported script reaches for first (ts.Size, ts.cuda,
ts.backends, ts.testing, ts.meshgrid, ts.cdist, Tensor.new_zeros, ...), built on
the ops of _C. tessel/__init__.py re-exports everything in __all__."""
from . import _C
from ._C import Tensor
from . import backends, cuda, return_types, testing  # noqa: F401
from . import _tensor_methods
from ._compare import allclose, isclose
from ._creation import as_tensor, is_tensor, rand_like, randn_like
from ._distance import cdist
from ._grid import diag, meshgrid
from ._repr import get_printoptions, set_printoptions
from ._size import Size
from ._stats import bincount, median, mode
from ._tensor_methods import addcdiv, addcmul, clamp_max, clamp_min, moveaxis, movedim, swapaxes, swapdims

__all__ = [
    "Size", "backends", "cuda", "return_types", "testing", "allclose", "isclose", "as_tensor", "is_tensor",
    "rand_like", "randn_like", "cdist", "diag", "meshgrid", "get_printoptions", "set_printoptions",
    "bincount", "median", "mode", "addcdiv", "addcmul", "clamp_max", "clamp_min", "moveaxis", "movedim",
    "swapaxes", "swapdims", "broadcast_shapes",
]


def broadcast_shapes(*shapes):
    """The shape that tensors of the given shapes broadcast to (a ts.Size)."""
    return Size(_C.broadcast_shapes(*shapes))


_tensor_methods.install()
for _name, _fn in (("median", median), ("mode", mode), ("bincount", bincount), ("diag", diag),
                   ("isclose", isclose), ("allclose", allclose)):
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _fn)
del _name, _fn

# x.shape and x.size() return ts.Size once _C knows the type.
if hasattr(_C, "_set_size_type"):
    _C._set_size_type(Size)

# pybind11 keeps the enum's own __repr__ ahead of the one bound in dtype.cpp: replace it here.
_C.dtype.__repr__ = lambda self: f"tessel.{self.name}"
