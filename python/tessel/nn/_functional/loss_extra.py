"""Ranking, embedding and likelihood losses composed from ops: margin_ranking,
hinge_embedding, soft_margin, multilabel_soft_margin, cosine_embedding,
triplet_margin, gaussian_nll and poisson_nll."""
import math

import tessel as ts
from tessel import _C

from ._util import check_reduction
from ._util import reduce as _reduce


def _shape_check(op, **tensors):
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    first = next(iter(shapes.values()))
    if any(s != first for s in shapes.values()):
        raise ValueError(f"{op}: inputs must have the same shape, got " +
                         ", ".join(f"{k} {list(s)}" for k, s in shapes.items()))


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target * (input1 - input2) + margin); target is 1 or -1."""
    check_reduction(reduction, "margin_ranking_loss")
    _shape_check("margin_ranking_loss", input1=input1, input2=input2, target=target)
    return _reduce(_C.clamp(-target * (input1 - input2) + margin, 0.0, None), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """input where target == 1, max(0, margin - input) where target == -1."""
    check_reduction(reduction, "hinge_embedding_loss")
    zeros = ts.zeros_like(input)
    pos = _C.where(target == 1, input, zeros)
    neg = _C.where(target == -1, _C.clamp(margin - input, 0.0, None), zeros)
    return _reduce(pos + neg, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)), through softplus so large margins do not overflow."""
    check_reduction(reduction, "soft_margin_loss")
    return _reduce(_C.softplus(-target * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-mean over classes of target * log(sigmoid(x)) + (1 - target) * log(sigmoid(-x)), per sample."""
    check_reduction(reduction, "multilabel_soft_margin_loss")
    loss = target * _C.softplus(-input) + (1 - target) * _C.softplus(input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss.mean(-1), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1 (cos over the last
    dim, with 1e-12 added to each squared norm as PyTorch does)."""
    check_reduction(reduction, "cosine_embedding_loss")
    if input1.dim() not in (1, 2) or tuple(input1.shape) != tuple(input2.shape):
        raise ValueError(f"cosine_embedding_loss: expected two 1-D or 2-D inputs of the same shape, got "
                         f"{list(input1.shape)} and {list(input2.shape)}")
    if target.dim() != input1.dim() - 1:
        raise ValueError(f"cosine_embedding_loss: a {target.dim()}-D target needs {target.dim() + 1}-D inputs, got "
                         f"{input1.dim()}-D")
    eps = 1e-12
    prod = (input1 * input2).sum(-1)
    cos = prod / _C.sqrt(((input1 * input1).sum(-1) + eps) * ((input2 * input2).sum(-1) + eps))
    zeros = ts.zeros_like(cos)
    loss = _C.where(target == 1, 1 - cos, zeros) + _C.where(target == -1, _C.clamp(cos - margin, 0.0, None), zeros)
    return _reduce(loss, reduction)


def _distance(a, b, p, eps):
    from .. import functional as F
    return F.pairwise_distance(a, b, p, eps)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0), d the p-norm pairwise distance; swap uses min(d(a, n), d(p, n))."""
    check_reduction(reduction, "triplet_margin_loss")
    if margin <= 0:
        raise ValueError(f"triplet_margin_loss: margin must be greater than 0, got {margin}")
    d_ap = _distance(anchor, positive, p, eps)
    d_an = _distance(anchor, negative, p, eps)
    if swap:
        d_an = _C.minimum(d_an, _distance(positive, negative, p, eps))
    return _reduce(_C.clamp(d_ap - d_an + margin, 0.0, None), reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 * (log(var) + (input - target)^2 / var) (+ 0.5 * log(2 pi) with full); var is clamped to eps without
    a gradient through the clamp, as PyTorch does. var may lack input's last dim or have size 1 there."""
    check_reduction(reduction, "gaussian_nll_loss")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)  # one variance per sample, homoscedastic over the last dim
        elif not (tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1):
            raise ValueError(f"gaussian_nll_loss: var of shape {list(var.shape)} does not match input "
                             f"{list(input.shape)}")
    if bool((var < 0).any().item()):
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    # var + (clamped - var).detach(): the clamped value forward, var's own gradient backward
    var = var + (_C.clamp(var, eps, None) - var).detach()
    loss = 0.5 * (_C.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """exp(input) - target * input (log_input) or input - target * log(input + eps); full adds Stirling's
    approximation of log(target!) where target > 1."""
    check_reduction(reduction, "poisson_nll_loss")
    if log_input:
        loss = _C.exp(input) - target * input
    else:
        loss = input - target * _C.log(input + eps)
    if full:
        safe = _C.where(target > 1, target, ts.ones_like(target))
        stirling = safe * _C.log(safe) - safe + 0.5 * _C.log(2 * math.pi * safe)
        loss = loss + _C.where(target > 1, stirling, ts.zeros_like(stirling))
    return _reduce(loss, reduction)
