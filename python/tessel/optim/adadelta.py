"""Adadelta."""
import tessel as ts

from ._checks import check_nonneg, check_unsupported
from .optimizer import Optimizer, _decayed_grad

_STATE = ("square_avg", "acc_delta")


class Adadelta(Optimizer):
    """PyTorch's Adadelta: g += wd * p; v = rho v + (1 - rho) g^2;
    d = sqrt(u + eps) / sqrt(v + eps) * g; u = rho u + (1 - rho) d^2; p -= lr * d."""

    _has_step = True

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        check_nonneg(lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_unsupported(differentiable=differentiable, capturable=capturable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return _STATE

    def _fused(self, group, params, grads, lists, step, first_step):
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        with ts.no_grad():
            for p, g, v, u in zip(params, grads, *lists):
                g = _decayed_grad(p, g, group)
                v.mul_(rho).add_(g * g * (1 - rho))
                delta = (u + eps).sqrt() / (v + eps).sqrt() * g
                u.mul_(rho).add_(delta * delta * (1 - rho))
                p.sub_(delta * lr)
