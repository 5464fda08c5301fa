"""DistributedSampler: each of num_replicas processes reads its own share of a dataset."""
import math
import os

from .. import _C
from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _from_group(name, value):
    """num_replicas / rank: given, else from the default process group
    (ts.distributed), else from the WORLD_SIZE / RANK environment variables."""
    if value is not None:
        return value
    from .. import distributed
    if distributed.is_initialized():
        return distributed.get_world_size() if name == "WORLD_SIZE" else distributed.get_rank()
    if name in os.environ:
        return int(os.environ[name])
    raise ValueError("[data.DistributedSampler] num_replicas and rank are needed: pass them, call "
                     "ts.distributed.init_process_group() first, or set the WORLD_SIZE and RANK environment variables")


class DistributedSampler(Sampler):
    """Indices for replica `rank` of `num_replicas`: every epoch all replicas
    shuffle alike from (seed + epoch) (call set_epoch(e) before each epoch),
    then take every num_replicas-th index from `rank`. Without drop_last the
    list is padded with its first indices to a multiple of num_replicas; with
    it, the tail is dropped. Every replica gets len(self) indices."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        num_replicas = _from_group("WORLD_SIZE", num_replicas)
        rank = _from_group("RANK", rank)
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"[data.DistributedSampler] num_replicas must be a positive int, got {num_replicas!r}")
        if not isinstance(rank, int) or rank >= num_replicas or rank < 0:
            raise ValueError(f"[data.DistributedSampler] Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, int(seed), drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        indices = _C._data.epoch_order(n, True, self.seed + self.epoch, 0) if self.shuffle else list(range(n))
        if self.drop_last:
            indices = indices[:self.total_size]
        elif indices:
            pad = self.total_size - len(indices)
            indices += (indices * math.ceil(pad / len(indices)))[:pad]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """The epoch whose order the next iteration uses (same on every replica)."""
        self.epoch = epoch
