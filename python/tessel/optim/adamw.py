"""AdamW: Adam with decoupled weight decay."""
from .adam import Adam


class AdamW(Adam):
    """Adam whose weight decay multiplies the parameters by (1 - lr * wd) before
    the Adam update instead of adding wd * p to the gradient."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, capturable=capturable,
                         differentiable=differentiable)
