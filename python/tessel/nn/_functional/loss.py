"""kl_div and huber_loss."""
import warnings

import tessel as ts
from tessel import _C

from ._util import check_reduction
from ._util import reduce as _reduce


def _legacy(size_average, reduce_, reduction):
    if size_average is None and reduce_ is None:
        return reduction
    warnings.warn("size_average and reduce args are deprecated, use reduction='mean'|'sum'|'none' instead",
                  DeprecationWarning, stacklevel=3)
    if reduce_ is False:
        return "none"
    return "sum" if size_average is False else "mean"


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: target * (log(target) - input), 0 where target is 0;
    with log_target, exp(target) * (target - input). reduction 'batchmean' divides the sum by
    input.size(0)."""
    reduction = _legacy(size_average, reduce, reduction)
    check_reduction(reduction, "kl_div", ("mean", "batchmean", "sum", "none"))
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      UserWarning, stacklevel=2)
    if log_target:
        loss = _C.exp(target) * (target - input)
    else:
        # xlogy: the log of a substituted 1 keeps 0 * log(0) (and its gradient) at 0, not nan
        positive = target > 0
        safe = _C.where(positive, target, ts.ones_like(target))
        loss = _C.where(positive, target * (_C.log(safe) - input), ts.zeros_like(input))
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.dim() > 0 else 1)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta * (|d| - 0.5 delta), with d = input - target."""
    check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(f"Using a target size ({tuple(target.shape)}) that is different to the input size "
                      f"({tuple(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=2)
    d = input - target
    a = d.abs()
    loss = _C.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError("huber_loss: weights and input must have the same size.")
        loss = loss * weight
    return _reduce(loss, reduction)
