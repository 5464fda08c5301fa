"""``ts.cuda.amp``: torch.cuda.amp's names, so `from torch.cuda.amp import
GradScaler, autocast` ports. There is no CUDA device in this build: autocast
regions for "cuda" change no CPU op, and GradScaler is disabled with a warning
(its methods pass through), as PyTorch behaves without CUDA."""
from .. import _C
from ..amp import GradScaler as _GradScaler
from ..amp import autocast as _autocast

__all__ = ["autocast", "GradScaler"]


class autocast(_autocast):
    """Same as ``ts.autocast("cuda", ...)``."""

    def __init__(self, enabled=True, dtype=_C.dtype.float16, cache_enabled=True):
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    """Same as ``ts.amp.GradScaler("cuda", ...)``: disabled in this build."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)
