"""Dropout, and channel-wise Dropout1d/2d/3d."""
from .. import functional as F
from .module import Module


class _DropoutNd(Module):
    """p and inplace, checked once; subclasses set _fn (the functional form)."""
    _fn = None

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(input, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability p in training mode and scales the
    rest by 1/(1-p); the identity in eval mode."""

    def forward(self, input):
        if not self.training or self.p == 0.0:
            return input  # saves a call per layer at inference
        return F.dropout(input, self.p, True, self.inplace)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) input in training mode."""
    _fn = staticmethod(F.dropout1d)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) input in training mode, scaling the rest by 1/(1-p)."""
    _fn = staticmethod(F.dropout2d)


class Dropout3d(_DropoutNd):
    _fn = staticmethod(F.dropout3d)
