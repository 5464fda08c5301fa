"""CPU-specific helpers: ``ts.cpu.amp.autocast``."""
from . import amp  # noqa: F401
