"""kl_divergence(p, q) for the pairs with a closed form, and register_kl for more."""
import math

import tessel as ts

from .bernoulli import Bernoulli
from .categorical import Categorical
from .normal import Normal
from .uniform import Uniform

_KL = {}


def register_kl(type_p, type_q):
    """Decorator registering fn(p, q) as KL(p || q) for these two distribution types."""
    def decorate(fn):
        _KL[(type_p, type_q)] = fn
        return fn
    return decorate


def kl_divergence(p, q):
    for tp in type(p).__mro__:
        for tq in type(q).__mro__:
            fn = _KL.get((tp, tq))
            if fn is not None:
                return fn(p, q)
    raise NotImplementedError(f"kl_divergence: no closed form registered for {type(p).__name__} and "
                              f"{type(q).__name__}")


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(Categorical, Categorical)
def _kl_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    t = ts.where(p.probs == 0, ts.zeros_like(t), t)  # 0 * log(0 / q) = 0
    return t.sum(-1)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli(p, q):
    import tessel.nn.functional as F
    # cross entropy minus entropy, both through logits
    return (F.binary_cross_entropy_with_logits(q.logits, p.probs, reduction="none")
            - F.binary_cross_entropy_with_logits(p.logits, p.probs, reduction="none"))


@register_kl(Uniform, Uniform)
def _kl_uniform(p, q):
    inside = (q.low <= p.low) & (p.high <= q.high)
    kl = ((q.high - q.low) / (p.high - p.low)).log()
    return ts.where(inside, kl, ts.full_like(kl, math.inf))
