"""Adamax: Adam with the infinity norm."""
import tessel as ts

from ._checks import check_betas, check_nonneg, check_unsupported
from .optimizer import Optimizer, _decayed_grad

_STATE = ("exp_avg", "exp_inf")


class Adamax(Optimizer):
    """PyTorch's Adamax: g += wd * p; m = lerp(m, g, 1 - b1);
    u = max(b2 u, |g| + eps); p -= lr / (1 - b1^t) * m / u."""

    _has_step = True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check_nonneg(lr=lr, eps=eps, weight_decay=weight_decay)
        check_betas(betas)
        check_unsupported(differentiable=differentiable, capturable=capturable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return _STATE

    def _fused(self, group, params, grads, lists, step, first_step):
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        clr = group["lr"] / (1 - beta1 ** step)
        with ts.no_grad():
            for p, g, m, u in zip(params, grads, *lists):
                g = _decayed_grad(p, g, group)
                m.lerp_(g, 1 - beta1)
                u.copy_(ts.maximum(u * beta2, g.abs() + eps))
                p.sub_(m / u * clr)
