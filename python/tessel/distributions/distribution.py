"""The Distribution base: batch/event shapes, sample vs rsample, validation switch."""
import numbers

import tessel as ts

_validate_default = True


def _as_tensor(x, like=None):
    if isinstance(x, ts.Tensor):
        return x
    if isinstance(x, numbers.Number):
        dtype = like.dtype if isinstance(like, ts.Tensor) and like.dtype.is_floating_point else ts.get_default_dtype()
        return ts.tensor(float(x), dtype=dtype)
    raise TypeError(f"expected a tensor or a number, got {type(x).__name__}")


def broadcast_all(*values):
    """The values as tensors of one broadcast shape and floating dtype (numbers take a tensor argument's dtype)."""
    like = next((v for v in values if isinstance(v, ts.Tensor)), None)
    tensors = [_as_tensor(v, like) for v in values]
    shape = ts.broadcast_shapes(*[tuple(t.shape) for t in tensors])
    return tuple(t.expand(*shape) if tuple(t.shape) != tuple(shape) else t for t in tensors)


class Distribution:
    has_rsample = False

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = ts.Size(tuple(batch_shape))
        self._event_shape = ts.Size(tuple(event_shape))
        self._validate_args = _validate_default if validate_args is None else bool(validate_args)

    @staticmethod
    def set_default_validate_args(value):
        global _validate_default
        _validate_default = bool(value)

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    def _extended_shape(self, sample_shape=()):
        if isinstance(sample_shape, int):
            raise TypeError("sample_shape must be a tuple or torch.Size, e.g. sample((n,)), not an int")
        return ts.Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def sample(self, sample_shape=()):
        """A sample without gradient (rsample under no_grad where a reparameterization exists)."""
        with ts.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no reparameterized sampler (rsample); use sample()")

    def sample_n(self, n):
        return self.sample((n,))

    @property
    def stddev(self):
        return self.variance.sqrt()

    def perplexity(self):
        return ts.exp(self.entropy())

    def _check(self, ok, message):
        if self._validate_args and not bool(ok):
            raise ValueError(f"{type(self).__name__}: {message}")

    def __repr__(self):
        params = ", ".join(f"{k}: {tuple(getattr(self, k).shape) if getattr(self, k).dim() else getattr(self, k)}"
                           for k in self.arg_names)
        return f"{type(self).__name__}({params})"

    arg_names = ()
