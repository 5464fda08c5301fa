"""``ts.cpu.amp.autocast``: autocast on the CPU (bfloat16 by default), as torch.cpu.amp."""
from .. import _C
from ..amp import autocast as _autocast


class autocast(_autocast):
    """Same as ``ts.autocast("cpu", ...)``."""

    def __init__(self, enabled=True, dtype=_C.dtype.bfloat16, cache_enabled=True):
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)
