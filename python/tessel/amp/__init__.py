"""Automatic mixed precision: ``ts.amp.autocast`` (same as ``ts.autocast``) and ``ts.amp.GradScaler``."""
from .autocast_mode import (autocast, is_autocast_enabled, get_autocast_dtype, set_autocast_enabled,  # noqa: F401
                            set_autocast_dtype, is_autocast_cache_enabled, set_autocast_cache_enabled,
                            clear_autocast_cache, autocast_ops)
from .grad_scaler import GradScaler  # noqa: F401,E402
