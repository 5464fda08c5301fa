"""SGD with momentum, dampening, Nesterov momentum and weight decay."""
import tessel as ts

from .optimizer import Optimizer

_MOMENTUM_STATE = ("momentum_buffer",)


class SGD(Optimizer):
    """PyTorch's SGD: g += wd * p; buf = mu * buf + (1 - dampening) * g (buf = g at
    the first step); g = g + mu * buf (nesterov) or buf; p -= lr * g."""

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, fused=None, differentiable=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if differentiable:
            raise NotImplementedError("differentiable=True is not supported")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return _MOMENTUM_STATE if group["momentum"] != 0 else ()

    def _fused(self, group, params, grads, lists, step, first_step):
        ts._C._optim.sgd_(params, grads, lists[0] if lists else [], group["lr"], group["momentum"],
                          group["dampening"], group["weight_decay"], group["nesterov"], group["maximize"],
                          first_step)
