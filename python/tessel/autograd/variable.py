"""Variable: the pre-0.4 PyTorch wrapper, kept so old scripts port. As in
PyTorch today it is no type of its own: Variable(t) is a tensor (a new leaf
sharing t's data) and every tensor is an instance of Variable."""
from .._C import Tensor


class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    def __new__(cls, data, requires_grad=False, volatile=False):
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable(): data must be a Tensor, got {type(data).__name__}")
        out = data.detach()
        return out.requires_grad_() if requires_grad else out
