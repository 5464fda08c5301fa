"""Bernoulli(probs=None, logits=None)."""
import tessel as ts
import tessel.nn.functional as F

from .distribution import Distribution, broadcast_all


class Bernoulli(Distribution):
    arg_names = ("probs",)

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: pass either probs or logits, not both and not neither")
        (t,) = broadcast_all(probs if probs is not None else logits)
        super().__init__(t.shape, (), validate_args)
        if probs is not None:
            self._check(((t >= 0) & (t <= 1)).all().item(), "probs must be in [0, 1]")
            self.probs = t
            eps = ts.finfo(t.dtype).eps
            p = t.clamp(eps, 1 - eps)
            self.logits = p.log() - (-p).log1p()
        else:
            self.logits = t
            self.probs = ts.sigmoid(t)

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        return (self.probs >= 0.5).to(self.probs.dtype)

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        with ts.no_grad():
            return ts.bernoulli(self.probs.expand(*self._extended_shape(sample_shape)))

    def log_prob(self, value):
        self._check(((value == 0) | (value == 1)).all().item(), "value must be 0 or 1")
        logits, value = broadcast_all(self.logits, value.to(self.logits.dtype))
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")
