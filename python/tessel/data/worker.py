"""Loader workers. tessel's workers are threads, not processes: a FileDataset
loader's are C++ threads; a Python dataset's are Python threads, each with its
own shallow copy of the dataset. get_worker_info() tells code running in a
worker which one it is (None outside workers)."""
import copy
import threading

__all__ = ["WorkerInfo", "get_worker_info"]

_local = threading.local()


class WorkerInfo:
    """id, num_workers, seed (the loader's base seed + id) and dataset (this
    worker's copy). Read-only."""

    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, id, num_workers, seed, dataset):
        for k, v in (("id", id), ("num_workers", num_workers), ("seed", seed), ("dataset", dataset)):
            object.__setattr__(self, k, v)

    def __setattr__(self, name, value):
        raise AttributeError(f"WorkerInfo is read-only: cannot set {name!r}")

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, dataset={self.dataset!r})"


def get_worker_info():
    """The WorkerInfo of the calling loader worker, or None outside one."""
    return getattr(_local, "info", None)


def _set_worker_info(info):
    _local.info = info


def _worker_copy(dataset):
    # Processes in PyTorch each hold a copy; a shallow copy lets worker_init_fn
    # reassign attributes of its worker's dataset (e.g. a shard's range) as there.
    try:
        return copy.copy(dataset)
    except Exception:
        return dataset
