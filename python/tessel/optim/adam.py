"""Adam (with amsgrad)."""
import tessel as ts

from .optimizer import Optimizer

_ADAM_STATE = ("exp_avg", "exp_avg_sq")
_AMSGRAD_STATE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def _check_adam_args(lr, betas, eps, weight_decay):
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """PyTorch's Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), with
    v replaced by its running maximum under amsgrad; weight_decay is L2 (added to g)."""

    _has_step = True
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None):
        _check_adam_args(lr, betas, eps, weight_decay)
        if capturable or differentiable:
            raise NotImplementedError("capturable=True and differentiable=True are not supported")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _state_names(self, group):
        return _AMSGRAD_STATE if group["amsgrad"] else _ADAM_STATE

    def _fused(self, group, params, grads, lists, step, first_step):
        beta1, beta2 = group["betas"]
        ts._C._optim.adam_(params, grads, lists[0], lists[1], lists[2] if group["amsgrad"] else [], step,
                           group["lr"], beta1, beta2, group["eps"], group["weight_decay"], group["amsgrad"],
                           group["maximize"], self._decoupled)
