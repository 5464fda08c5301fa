"""Fourier transforms of real signals, with numpy.fft / torch.fft conventions.

    X = ts.fft.rfft(x)            # complex half spectrum, n // 2 + 1 bins
    x2 = ts.fft.irfft(X, n=x.shape[-1])

Complex tensors cannot carry gradients in tessel: `rfft_real` / `irfft_real`
compute the same transforms with the bins as trailing (re, im) pairs and
differentiate to any order.
"""
from . import _C

__all__ = ["rfft", "irfft", "rfft_real", "irfft_real", "rfftfreq"]

rfft = _C._fft.rfft
irfft = _C._fft.irfft
rfft_real = _C._fft.rfft_real
irfft_real = _C._fft.irfft_real


def rfftfreq(n, d=1.0, dtype=None):
    """Frequencies of the rfft bins for n samples spaced d apart (numpy.fft.rfftfreq)."""
    from . import arange, float32
    return arange(n // 2 + 1, dtype=dtype or float32) / (n * d)
