"""NAdam: Adam with Nesterov momentum and a momentum schedule."""
import tessel as ts

from ._checks import check_betas, check_nonneg, check_unsupported
from .optimizer import Optimizer, _decayed_grad, _state_dtype

_STATE = ("mu_product", "exp_avg", "exp_avg_sq")


class NAdam(Optimizer):
    """PyTorch's NAdam: mu_t = b1 (1 - 0.96^(t psi) / 2) with psi = momentum_decay;
    m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2; d = sqrt(v / (1 - b2^t)) + eps;
    p -= lr (1 - mu_t) / (1 - prod mu) g / d + lr mu_{t+1} / (1 - prod mu * mu_{t+1}) m / d.
    weight_decay is L2 (added to g) or, with decoupled_weight_decay, p *= 1 - lr wd."""

    _has_step = True

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check_nonneg(lr=lr, eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay)
        check_betas(betas)
        check_unsupported(capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return _STATE

    def _new_state(self, p, name):
        if name == "mu_product":  # the running product of mu_t, a 0-d tensor as in PyTorch
            return ts.ones((), dtype=_state_dtype(p), device=p.device)
        return super()._new_state(p, name)

    def _fused(self, group, params, grads, lists, step, first_step):
        beta1, beta2 = group["betas"]
        lr, eps, psi = group["lr"], group["eps"], group["momentum_decay"]
        bc2 = 1 - beta2 ** step
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        with ts.no_grad():
            for p, g, mu_prod, m, v in zip(params, grads, *lists):
                g = _decayed_grad(p, g, group)
                mu_prod.mul_(mu)
                prod = mu_prod.item()
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).add_(g * g * (1 - beta2))
                denom = (v / bc2).sqrt() + eps
                p.add_(g / denom * (-lr * (1 - mu) / (1 - prod)))
                p.add_(m / denom * (-lr * mu_next / (1 - prod * mu_next)))
