"""pickle and copy support for tensors (and so for modules holding them).

This is pickle of tessel's own objects, for users who ask for it
(multiprocessing, copy.deepcopy, caching). ts.save/ts.load never use pickle.

A tensor pickles as (raw contiguous bytes, dtype name, shape, requires_grad,
device); views pickle as their values (they do not keep sharing memory), and
.grad is not pickled, as in PyTorch. Subclasses (nn.Parameter) come back as
their class with their __dict__.
"""
import copy

from . import _C

_Tensor = _C.Tensor
_io = _C._io


def _rebuild_tensor(data, dtype, shape, requires_grad, device):
    if dtype not in _C.dtype.__members__:
        raise ValueError(f"cannot unpickle a tensor of unknown dtype {dtype!r}")
    t = _io.tensor_from_bytes(data, _C.dtype.__members__[dtype], shape)
    if device != "cpu":
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _as_subclass(cls, t, state):
    obj = cls.__new__(cls)
    _Tensor.__init__(obj, t)  # a handle on t's data, without cls.__init__'s arguments
    if state:
        obj.__dict__.update(state)
    return obj


def _rebuild_subclass(cls, args, state):
    return _as_subclass(cls, _rebuild_tensor(*args), state)


def _reduce_ex(self, protocol):
    args = (_io.tensor_bytes(self), self.dtype.name, tuple(self.shape), self.requires_grad, str(self.device))
    if type(self) is _Tensor:
        return (_rebuild_tensor, args)
    return (_rebuild_subclass, (type(self), args, getattr(self, "__dict__", None)))


def _deepcopy(self, memo):
    if not self.is_leaf:
        raise RuntimeError("Only tensors created explicitly by the user (graph leaves) support the deepcopy "
                           "protocol; deepcopy t.detach() instead")
    data = self.detach().clone()
    if type(self) is _Tensor:
        new = data
    else:
        new = _as_subclass(type(self), data, None)
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
    new.requires_grad_(self.requires_grad)
    memo[id(self)] = new
    if self.grad is not None:
        new.grad = copy.deepcopy(self.grad, memo)
    return new


def _copy(self):
    # As PyTorch: a new leaf handle on the same memory.
    data = self.detach()
    new = data if type(self) is _Tensor else _as_subclass(type(self), data, getattr(self, "__dict__", None))
    new.requires_grad_(self.requires_grad)
    return new


def install():
    _Tensor.__reduce_ex__ = _reduce_ex
    _Tensor.__deepcopy__ = _deepcopy
    _Tensor.__copy__ = _copy


install()
