"""ts.nn.parallel: DistributedDataParallel (implemented in tessel.distributed.ddp)."""
from ...distributed.ddp import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
