"""Adagrad."""
import tessel as ts

from ._checks import check_nonneg, check_unsupported
from .optimizer import Optimizer, _decayed_grad, _state_dtype

_STATE = ("sum",)


class Adagrad(Optimizer):
    """PyTorch's Adagrad: g += wd * p; clr = lr / (1 + (t - 1) * lr_decay);
    sum += g^2; p -= clr * g / (sqrt(sum) + eps). The state (step 0 and sum =
    initial_accumulator_value) exists from construction, as in PyTorch."""

    _has_step = True

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_nonneg(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                     initial_accumulator_value=initial_accumulator_value, eps=eps)
        check_unsupported(differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {"step": 0, "sum": self._new_state(p, "sum", group)}
        self._invalidate()

    def _state_names(self, group):
        return _STATE

    def _new_state(self, p, name, group=None):
        if group is None:
            group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
        return ts.full(p.shape, float(group["initial_accumulator_value"]), dtype=_state_dtype(p), device=p.device)

    def _fused(self, group, params, grads, lists, step, first_step):
        lr, eps = group["lr"], group["eps"]
        clr = lr / (1 + (step - 1) * group["lr_decay"])
        with ts.no_grad():
            for p, g, acc in zip(params, grads, lists[0]):
                g = _decayed_grad(p, g, group)
                acc.add_(g * g)
                p.sub_(g / (acc.sqrt() + eps) * clr)
