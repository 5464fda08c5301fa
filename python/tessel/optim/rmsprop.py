"""RMSprop (centered and with momentum)."""
import tessel as ts

from .optimizer import Optimizer

# (momentum > 0, centered) -> state names
_STATE = {(m, c): ("square_avg",) + (("momentum_buffer",) if m else ()) + (("grad_avg",) if c else ())
          for m in (False, True) for c in (False, True)}


class RMSprop(Optimizer):
    """PyTorch's RMSprop: v = alpha v + (1 - alpha) g^2; centered: v - mean(g)^2;
    with momentum: buf = mu buf + g / (sqrt(v) + eps), p -= lr buf; else
    p -= lr g / (sqrt(v) + eps)."""

    _has_step = True

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if alpha < 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        if capturable or differentiable:
            raise NotImplementedError("capturable=True and differentiable=True are not supported")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return _STATE[group["momentum"] > 0, bool(group["centered"])]

    def _fused(self, group, params, grads, lists, step, first_step):
        momentum, centered = group["momentum"], group["centered"]
        bufs = lists[1] if momentum > 0 else []
        grad_avgs = lists[-1] if centered else []
        ts._C._optim.rmsprop_(params, grads, lists[0], bufs, grad_avgs, group["lr"], group["alpha"],
                              group["eps"], group["weight_decay"], momentum, centered, group["maximize"])
