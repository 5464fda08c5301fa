"""Uniform(low, high): the half-open interval [low, high)."""
import tessel as ts

from .distribution import Distribution, broadcast_all


class Uniform(Distribution):
    has_rsample = True
    arg_names = ("low", "high")

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        super().__init__(self.low.shape, (), validate_args)
        self._check((self.low < self.high).all().item(), "low must be less than high")

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def variance(self):
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape=()):
        u = ts.rand(*self._extended_shape(sample_shape), dtype=self.low.dtype)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        inside = (value >= self.low) & (value < self.high)
        self._check(inside.all().item(), "value is outside the support [low, high)")
        return ts.where(inside, -(self.high - self.low).log(), ts.full_like(inside.to(self.low.dtype), float("-inf")))

    def cdf(self, value):
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def entropy(self):
        return (self.high - self.low).log()
