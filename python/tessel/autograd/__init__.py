"""Reverse-mode automatic differentiation, as PyTorch users know it.

    x = ts.randn(3, requires_grad=True)
    y = (x * x).sum()
    y.backward()          # x.grad == 2 * x
"""
from .grad_mode import no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode  # noqa: F401
from .function import Function, FunctionCtx  # noqa: F401
from .gradcheck import gradcheck, gradgradcheck  # noqa: F401
from .variable import Variable  # noqa: F401  (legacy: Variable(t) is a tensor)
from .. import _C

_ag = _C._autograd


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates gradients of `tensors` into the .grad of the leaves of their graph."""
    _ag.backward(tensors, grad_tensors, retain_graph, create_graph, inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Returns the gradients of `outputs` with respect to `inputs` (a tuple), leaving .grad untouched."""
    single = isinstance(inputs, _C.Tensor)
    return _ag.grad(outputs, [inputs] if single else list(inputs), grad_outputs, retain_graph, create_graph,
                    allow_unused)
