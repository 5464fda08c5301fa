"""What Trainer.fit (model.fit) does differently when a process group of several
ranks exists: the model trains through DistributedDataParallel, in-memory data
is split between the ranks (the same shuffled order on every rank, each taking
every world-th sample, padded like DistributedSampler so that all ranks run the
same number of steps), the epoch's loss and metrics are averaged over the ranks,
and only rank 0 prints progress and runs the callbacks that write files."""
import math
import warnings

import tessel as ts

from .. import _C
from . import ReduceOp, all_reduce, broadcast, get_rank, get_world_size, is_initialized

# Callbacks that write files or tracking records: rank 0 only.
_RANK_ZERO_ONLY = ("ModelCheckpoint", "Tracker")


class DataParallelFit:
    def __init__(self, trainer):
        from .ddp import DistributedDataParallel
        self.rank, self.world = get_rank(), get_world_size()
        ddp = trainer.__dict__.get("_ddp")
        if ddp is None or ddp.module is not trainer.model:
            ddp = trainer.__dict__["_ddp"] = DistributedDataParallel(trainer.model)
        self.model = ddp
        # One shuffling seed for all ranks (each rank's own generator may differ).
        seed = ts.tensor([int(ts.randint(0, 2 ** 31 - 1, (1,)).item())], dtype=ts.int64)
        broadcast(seed, 0)
        self.seed = int(seed.item())

    def shard(self, data):
        """This rank's share of the Trainer's data. In-memory arrays: every world-th sample.
        A loader whose sampler is a DistributedSampler is sharded already; another loader
        with a length gives every world-th batch (the last len % world batches are dropped,
        so that all ranks run the same number of steps); one without a length cannot be
        split safely and every rank reads all of it."""
        if hasattr(data, "xs"):
            return _Shard(data, self.rank, self.world, self.seed)
        from ..data.distributed import DistributedSampler
        if isinstance(getattr(data.loader, "sampler", None), DistributedSampler):
            return data
        if data.num_batches(1) is None:
            warnings.warn("model.fit on several ranks: the data loader has no len(), so every rank reads all of it; "
                          "use ts.data.DistributedSampler to give each rank its share", stacklevel=3)
            return data
        return _LoaderShard(data, self.rank, self.world)

    def callbacks(self, cbs):
        if self.rank == 0:
            return list(cbs)
        return [cb for cb in cbs if not any(t.__name__ in _RANK_ZERO_ONLY for t in type(cb).__mro__)]

    def verbose(self, verbose):
        return verbose if self.rank == 0 else 0

    def logs(self, sums):
        """The epoch's mean loss and metrics over all ranks' samples."""
        t = ts.tensor([float(sums.loss)] + [float(v) for v in sums.values] + [float(sums.count)], dtype=ts.float64)
        all_reduce(t, op=ReduceOp.SUM)
        total = t.tolist()
        if not total[-1]:
            return {}
        logs = {"loss": total[0] / total[-1]}
        for i, m in enumerate(sums.metrics):
            logs[m.name] = total[1 + i] / total[-1]
        return logs


class _Shard:
    def __init__(self, data, rank, world, seed):
        self.data, self.rank, self.world, self.seed, self.epoch = data, rank, world, seed, 0
        self.n = math.ceil(data.n / world)

    def num_batches(self, batch_size):
        return math.ceil(self.n / batch_size)

    def batches(self, batch_size, shuffle):
        total = self.data.n
        order = _C._data.epoch_order(total, True, self.seed + self.epoch, 0) if shuffle else list(range(total))
        self.epoch += 1
        need = self.n * self.world
        if total and need > total:
            order += (order * math.ceil((need - total) / total))[:need - total]
        mine = order[self.rank:need:self.world]
        xs, y = self.data.xs, self.data.y
        for s in range(0, len(mine), batch_size):
            idx = ts.tensor(mine[s:s + batch_size], dtype=ts.int64, device=xs[0].device)
            yield (tuple(x.index_select(0, idx) for x in xs),
                   None if y is None else y.index_select(0, idx), idx.shape[0])


class _LoaderShard:
    def __init__(self, data, rank, world):
        self.data, self.rank, self.world, self.n = data, rank, world, None

    def num_batches(self, batch_size):
        return self.data.num_batches(batch_size) // self.world

    def batches(self, batch_size, shuffle):
        keep = self.num_batches(batch_size) * self.world
        for i, batch in enumerate(self.data.batches(batch_size, shuffle)):
            if i >= keep:
                break
            if i % self.world == self.rank:
                yield batch


def data_parallel(trainer):
    """A DataParallelFit when a group of several ranks exists, else None. Under an MPI
    launcher, or torchrun's variables, with several ranks the group is created here if
    the program did not (so that `tessel launch -n 2 -- tessel train cfg.yaml` and
    `torchrun --nproc-per-node 2 --no-python tessel train cfg.yaml` train data-parallel)."""
    import os

    from . import init_process_group, is_mpi_available, launch_info
    if not is_initialized():
        info = launch_info()
        over_mpi = info["mpi"] and is_mpi_available()
        over_tcp = not info["mpi"] and (info["launcher"] == "torchrun" or bool(os.environ.get("MASTER_ADDR")))
        if info["world_size"] > 1 and (over_mpi or over_tcp):
            init_process_group("mpi" if over_mpi else "tcp")
    if is_initialized() and get_world_size() > 1:
        return DataParallelFit(trainer)
    return None
