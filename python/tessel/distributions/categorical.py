"""Categorical(probs=None, logits=None): K classes along the last dim."""
import tessel as ts

from .distribution import Distribution


def _probs_or_logits(cls, probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError(f"{cls}: pass either probs or logits, not both and not neither")
    t = probs if probs is not None else logits
    if not isinstance(t, ts.Tensor):
        raise TypeError(f"{cls}: {'probs' if probs is not None else 'logits'} must be a tensor, got "
                        f"{type(t).__name__}")
    return t


class Categorical(Distribution):
    arg_names = ("probs",)

    def __init__(self, probs=None, logits=None, validate_args=None):
        t = _probs_or_logits("Categorical", probs, logits)
        if t.dim() < 1:
            raise ValueError("Categorical: probs or logits need at least 1 dim (the classes)")
        super().__init__(t.shape[:-1], (), validate_args)
        if probs is not None:
            self._check(((probs >= 0).all() & probs.isfinite().all()).item() and (probs.sum(-1) > 0).all().item(),
                        "probs must be non-negative, finite and sum to a positive value")
            self.probs = probs / probs.sum(-1, keepdim=True)
            eps = ts.finfo(probs.dtype).eps  # PyTorch's clamp_probs: a zero class gets log(eps)
            self.logits = self.probs.clamp(eps, 1 - eps).log()
        else:
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            self.probs = ts.softmax(logits, -1)
        self._num_events = t.shape[-1]

    @property
    def param_shape(self):
        return self.probs.shape

    @property
    def mean(self):
        return ts.full(tuple(self.batch_shape), float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self):
        return self.probs.argmax(-1)

    @property
    def variance(self):
        return ts.full(tuple(self.batch_shape), float("nan"), dtype=self.probs.dtype)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        n = 1
        for s in tuple(sample_shape):
            n *= s
        with ts.no_grad():
            flat = self.probs.reshape(-1, self._num_events)
            draws = ts.multinomial(flat, n, replacement=True)  # [batch, n]
            return draws.t().reshape(*shape)

    def log_prob(self, value):
        value = value.long() if isinstance(value, ts.Tensor) else ts.tensor(value)
        self._check(((value >= 0) & (value < self._num_events)).all().item(),
                    f"value must be a class index in [0, {self._num_events})")
        shape = ts.broadcast_shapes(tuple(value.shape), tuple(self.batch_shape))
        logits = self.logits.expand(*shape, self._num_events)
        return logits.gather(-1, value.expand(*shape).unsqueeze(-1)).squeeze(-1)

    def entropy(self):
        logits = self.logits.clamp(min=ts.finfo(self.logits.dtype).min)
        return -(logits * self.probs).sum(-1)
