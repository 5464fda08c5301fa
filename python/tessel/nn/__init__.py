"""Neural-network layers, as torch.nn: ts.nn.Linear, ts.nn.Module, ts.nn.functional, ..."""
from . import functional, init, utils  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parameter import Parameter
from . import parallel  # noqa: F401,E402  (DistributedDataParallel)

__all__ = ["Parameter", "functional", "init", "utils", *_modules_all]
