"""Discrete Fourier transforms, with torch.fft / numpy.fft names and conventions.

    X = ts.fft.fft(x)                    # complex spectrum along the last dim
    Y = ts.fft.rfft2(img, norm="ortho")  # half spectrum of a real image
    y = ts.fft.irfftn(Y, s=img.shape[-2:], norm="ortho")

Every transform takes `norm` ("backward", the default, "ortho" or "forward"),
sizes `n` / `s` (zero-padding or cutting the input) and `dim`; `axis` / `axes`
are accepted as aliases of `dim` (the array API's names).

Every transform differentiates, complex inputs and results included (PyTorch's
convention for complex gradients, docs/autograd.md); the `*_real` functions take
and return complex numbers as a trailing (re, im) dim of 2 and differentiate to
any order.
"""
from . import _C

__all__ = [
    "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn",
    "rfft", "irfft", "rfft2", "irfft2", "rfftn", "irfftn",
    "hfft", "ihfft", "hfft2", "ihfft2", "hfftn", "ihfftn",
    "fftfreq", "rfftfreq", "fftshift", "ifftshift",
    "fft_real", "ifft_real", "rfft_real", "irfft_real",
]

_f = _C._fft
rfft_real = _f.rfft_real
irfft_real = _f.irfft_real

_SWAP = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _norm(norm):
    return "backward" if norm is None else norm


def _alias(name, dim, default, alias, alias_name):
    """`dim`, or its array-API alias `axis` / `axes` when that was given instead."""
    if alias is None:
        return dim
    if dim != default:
        raise TypeError(f"{name}() got both 'dim' and '{alias_name}' (an alias of dim)")
    return alias


def _seq(v):
    if v is None or isinstance(v, (list, tuple)):
        return None if v is None else [int(i) for i in v]
    if hasattr(v, "__len__") and not hasattr(v, "dtype"):  # ts.Size
        return [int(i) for i in v]
    return [int(v)]


def _one(name, impl):
    def f(input, n=None, dim=-1, norm=None, *, axis=None):
        return impl(input, n, _alias(name, dim, -1, axis, "axis"), _norm(norm))
    f.__name__ = f.__qualname__ = name
    return f


def _many(name, impl, default_dim=None):
    def f(input, s=None, dim=default_dim, norm=None, *, axes=None):
        return impl(input, _seq(s), _seq(_alias(name, dim, default_dim, axes, "axes")), _norm(norm))
    f.__name__ = f.__qualname__ = name
    return f


fft = _one("fft", _f.fft)
ifft = _one("ifft", _f.ifft)
rfft = _one("rfft", _f.rfft)
irfft = _one("irfft", _f.irfft)
hfft = _one("hfft", _f.hfft)
ihfft = _one("ihfft", _f.ihfft)
fft.__doc__ = "Complex DFT along `dim` (numpy.fft.fft); real input counts as complex."
ifft.__doc__ = "Inverse of fft (numpy.fft.ifft)."
rfft.__doc__ = "Half spectrum (n // 2 + 1 bins) of a real signal along `dim` (numpy.fft.rfft)."
irfft.__doc__ = "Real signal of length n (default 2 * (bins - 1)) with half spectrum `input` (numpy.fft.irfft)."
hfft.__doc__ = "Real spectrum of a Hermitian signal given by its first half (numpy.fft.hfft)."
ihfft.__doc__ = "Inverse of hfft: half of the Hermitian signal of a real spectrum (numpy.fft.ihfft)."

fftn = _many("fftn", _f.fftn)
ifftn = _many("ifftn", _f.ifftn)
rfftn = _many("rfftn", _f.rfftn)
irfftn = _many("irfftn", _f.irfftn)
fft2 = _many("fft2", _f.fftn, (-2, -1))
ifft2 = _many("ifft2", _f.ifftn, (-2, -1))
rfft2 = _many("rfft2", _f.rfftn, (-2, -1))
irfft2 = _many("irfft2", _f.irfftn, (-2, -1))
for _g, _doc in [(fftn, "n-d DFT over `dim` (default: the last len(s) dims, or all)."),
                 (ifftn, "Inverse of fftn."),
                 (rfftn, "n-d DFT of a real tensor, halving the last of `dim`."),
                 (irfftn, "Inverse of rfftn; the last of `s` defaults to 2 * (bins - 1)."),
                 (fft2, "fftn over the last two dims."), (ifft2, "ifftn over the last two dims."),
                 (rfft2, "rfftn over the last two dims."), (irfft2, "irfftn over the last two dims.")]:
    _g.__doc__ = _doc


def _conj(x):
    return x.conj() if x.is_complex() else x


def hfftn(input, s=None, dim=None, norm=None, *, axes=None):
    """n-d hfft: the real spectrum of a Hermitian signal given by its half along the last of `dim`."""
    dim = _alias("hfftn", dim, None, axes, "axes")
    return _f.irfftn(_conj(input), _seq(s), _seq(dim), _SWAP.get(_norm(norm), norm))


def ihfftn(input, s=None, dim=None, norm=None, *, axes=None):
    """Inverse of hfftn: conj(rfftn(x)) with the norm's direction swapped."""
    dim = _alias("ihfftn", dim, None, axes, "axes")
    return _f.rfftn(input, _seq(s), _seq(dim), _SWAP.get(_norm(norm), norm)).conj()


def hfft2(input, s=None, dim=(-2, -1), norm=None, *, axes=None):
    """hfftn over the last two dims."""
    return hfftn(input, s, _alias("hfft2", dim, (-2, -1), axes, "axes"), norm)


def ihfft2(input, s=None, dim=(-2, -1), norm=None, *, axes=None):
    """ihfftn over the last two dims."""
    return ihfftn(input, s, _alias("ihfft2", dim, (-2, -1), axes, "axes"), norm)


def fft_real(input, n=None, dim=-1, norm=None):
    """fft of complex numbers stored as a trailing (re, im) dim: [..., 2] -> [..., 2]; differentiable."""
    return _f.fft_real(input, n, dim, _norm(norm))


def ifft_real(input, n=None, dim=-1, norm=None):
    """ifft of complex numbers stored as a trailing (re, im) dim: [..., 2] -> [..., 2]; differentiable."""
    return _f.ifft_real(input, n, dim, _norm(norm))


def _freq_count(name, n):
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"{name}() expects an integer n, got {type(n).__name__}")
    n = n.__index__()
    if n < 0:
        raise ValueError(f"{name}() expects n >= 0, got {n}")
    return n


def _freqs(k, scale, dtype, device, requires_grad):
    from . import float64, get_default_dtype
    dtype = dtype or get_default_dtype()
    if not dtype.is_floating_point:
        raise TypeError(f"fftfreq/rfftfreq need a floating dtype, got {dtype}")
    out = (k.to(float64) * scale).to(dtype)  # exact in float64, then rounded once
    if device is not None:
        out = out.to(device)
    return out.requires_grad_() if requires_grad else out


def fftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """Sample frequencies of the fft bins for n samples spaced d apart: [0, 1, ..., -1] / (d n)."""
    from . import arange, cat, int64
    n = _freq_count("fftfreq", n)
    k = cat([arange(0, (n - 1) // 2 + 1, dtype=int64), arange(-(n // 2), 0, dtype=int64)])
    return _freqs(k, 1.0 / (n * d) if n else 0.0, dtype, device, requires_grad)


def rfftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False):
    """Sample frequencies of the rfft bins for n samples spaced d apart: [0, 1, ..., n // 2] / (d n)."""
    from . import arange, int64
    n = _freq_count("rfftfreq", n)
    return _freqs(arange(0, n // 2 + 1 if n else 0, dtype=int64), 1.0 / (n * d) if n else 0.0, dtype, device,
                  requires_grad)


def _shift(name, input, dim, sign):
    from . import roll
    dims = list(range(input.dim())) if dim is None else _seq(dim)
    if not dims:
        return input.clone()
    return roll(input, [sign * (input.shape[d] // 2) for d in dims], dims)


def fftshift(input, dim=None, *, axes=None):
    """Moves the zero-frequency bin to the middle: rolls each of `dim` (default all) by size // 2."""
    return _shift("fftshift", input, _alias("fftshift", dim, None, axes, "axes"), 1)


def ifftshift(input, dim=None, *, axes=None):
    """Inverse of fftshift: rolls each of `dim` (default all) by -(size // 2)."""
    return _shift("ifftshift", input, _alias("ifftshift", dim, None, axes, "axes"), -1)
