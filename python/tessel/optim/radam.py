"""RAdam: Adam with a rectified adaptive learning rate."""
import math

import tessel as ts

from ._checks import check_betas, check_nonneg, check_unsupported
from .optimizer import Optimizer, _decayed_grad

_STATE = ("exp_avg", "exp_avg_sq")


class RAdam(Optimizer):
    """PyTorch's RAdam: m, v as Adam; rho_inf = 2 / (1 - b2) - 1,
    rho_t = rho_inf - 2 t b2^t / (1 - b2^t). While rho_t <= 5 the step is plain
    momentum p -= lr m / (1 - b1^t); after it, p -= lr m / (1 - b1^t) * r_t *
    sqrt(1 - b2^t) / (sqrt(v) + eps) with the rectification r_t.
    weight_decay is L2 or, with decoupled_weight_decay, p *= 1 - lr wd."""

    _has_step = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        check_nonneg(lr=lr, eps=eps, weight_decay=weight_decay)
        check_betas(betas)
        check_unsupported(capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return _STATE

    def _fused(self, group, params, grads, lists, step, first_step):
        beta1, beta2 = group["betas"]
        lr, eps = group["lr"], group["eps"]
        bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2 ** step / bc2
        rect = None
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        with ts.no_grad():
            for p, g, m, v in zip(params, grads, *lists):
                g = _decayed_grad(p, g, group)
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).add_(g * g * (1 - beta2))
                if rect is None:
                    p.sub_(m * (lr / bc1))
                else:
                    p.sub_(m * (lr / bc1 * rect * math.sqrt(bc2)) / (v.sqrt() + eps))
