"""ts.distributed: collectives across the processes of a data-parallel job,
named after torch.distributed (docs/distributed.md).

    mpirun -np 2 python train.py          # or: tessel launch -n 2 train.py

    import tessel as ts
    import tessel.distributed as dist
    dist.init_process_group()             # "auto": MPI under mpirun, else one process
    t = ts.ones(4) * dist.get_rank()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)

Ranks meet through the launcher: init_process_group("auto") reads mpirun's,
PMI's, torchrun's or Slurm's environment, joins MPI only when an MPI launcher
started the process, meets over TCP at MASTER_ADDR:MASTER_PORT when torchrun (or
any launcher setting its variables) did, and otherwise runs a single-process group.
Collectives take contiguous CPU tensors and write them in place; they run on
the communicator's own thread, so async_op=True overlaps them with compute.
"""
import atexit
import pickle
import sys

import tessel as _ts

from .. import _C
from .._C import Tensor

_d = _C._distributed
ReduceOp = _d.ReduceOp
Work = _d.Work

__all__ = ["ReduceOp", "Work", "Backend", "is_available", "is_mpi_available", "is_nccl_available", "is_initialized",
           "init_process_group", "destroy_process_group", "get_backend", "get_rank", "get_world_size",
           "get_node_local_rank", "get_local_rank", "all_reduce", "broadcast", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "barrier", "launch_info",
           "all_gather_object", "broadcast_object_list"]


class Backend:
    """Backend names accepted by init_process_group."""
    AUTO = "auto"
    MPI = "mpi"
    TCP = "tcp"
    SINGLE = "single"
    NCCL = "nccl"


def is_available():
    """True: the package is always built (the MPI backend may not be: see is_mpi_available)."""
    return True


def is_mpi_available():
    """Whether tessel was built with the MPI backend (TESSEL_WITH_MPI)."""
    return _d.is_mpi_available()


def is_nccl_available():
    """Whether tessel was built with the NCCL backend (TESSEL_WITH_NCCL)."""
    return _d.is_nccl_available()


def is_initialized():
    """Whether the default process group exists."""
    return _d.is_initialized()


def launch_info():
    """What the launcher's environment says about this process: a dict with launcher
    ("mpirun", "pmi", "torchrun", "slurm" or ""), rank, world_size, local_rank,
    local_world_size and mpi (started by an MPI launcher)."""
    return _d.detect_launch()


_hooks_installed = False


def _excepthook(kind, value, tb):
    """An uncaught error on one rank ends the whole job (MPI_Abort) instead of
    leaving the other ranks blocked in their next collective."""
    _previous_excepthook(kind, value, tb)
    if _d.is_initialized() and _d.get_world_size() > 1:
        rank, size = _d.get_rank(), _d.get_world_size()
        sys.stderr.write(f"tessel.distributed: rank {rank} of {size} failed with {kind.__name__}: {value}; "
                         f"aborting the job\n")
        sys.stderr.flush()
        sys.stdout.flush()
        _d.abort(1)


_previous_excepthook = sys.excepthook


def _at_exit():
    if _d.is_initialized():
        _d.destroy_process_group()


def _check_group(op, group):
    if group is not None:
        raise ValueError(f"[{op}] tessel has only the default process group: pass group=None")


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Creates the default process group. backend: "auto" (or None), "mpi", "tcp",
    "single" or "nccl" (CUDA buffers, bootstrapped over MPI; built with TESSEL_WITH_NCCL).
    "auto" picks MPI when an MPI launcher (mpirun, PMI, srun --mpi=pmix) started this
    process, TCP when torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
    say several processes, and a single-process group when no launcher did. The TCP
    backend meets at MASTER_ADDR:MASTER_PORT (127.0.0.1:29500 by default) and never
    starts MPI. world_size and rank, when given, must agree with the launcher's.
    init_method may only be None or "env://" and store None: the launcher's environment
    is the rendezvous. timeout (a datetime.timedelta or seconds) bounds the TCP
    rendezvous and every wait of a TCP collective (default: TESSEL_DIST_TIMEOUT or
    600 s); bound an MPI job's time with `mpirun --timeout` (tessel launch --timeout)."""
    global _hooks_installed, _previous_excepthook
    if backend is None:
        backend = "auto"
    if not isinstance(backend, str):
        raise TypeError(f"[init_process_group] backend must be a str, got {type(backend).__name__}")
    if init_method not in (None, "env://"):
        raise ValueError(f"[init_process_group] init_method={init_method!r} is not supported: ranks meet through "
                         "the launcher (mpirun); pass init_method=None")
    if store is not None:
        raise ValueError("[init_process_group] store= is not supported: ranks meet through the launcher (mpirun)")
    seconds = 0.0
    if timeout is not None:
        seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout
        if not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"[init_process_group] timeout must be a positive timedelta or number of seconds, "
                             f"got {timeout!r}")
    _d.init_process_group(backend.lower(), float(seconds))
    for name, given, actual in (("world_size", world_size, _d.get_world_size()), ("rank", rank, _d.get_rank())):
        if given is not None and given != -1 and given != actual:
            _d.destroy_process_group()
            raise ValueError(f"[init_process_group] {name}={given} but the launcher started this process with "
                             f"{name} {actual}")
    if not _hooks_installed:
        _hooks_installed = True
        _previous_excepthook = sys.excepthook
        sys.excepthook = _excepthook
        atexit.register(_at_exit)


def destroy_process_group(group=None):
    """Ends the default group (finalizing MPI: it cannot be initialized again in this process)."""
    _check_group("destroy_process_group", group)
    _d.destroy_process_group()


def get_backend(group=None):
    """The default group's backend: "mpi", "tcp", "nccl" or "single"."""
    _check_group("get_backend", group)
    return _d.get_backend()


def get_rank(group=None):
    """This process's rank in the default group (0 .. world_size - 1)."""
    _check_group("get_rank", group)
    return _d.get_rank()


def get_world_size(group=None):
    """The number of processes in the default group."""
    _check_group("get_world_size", group)
    return _d.get_world_size()


def get_node_local_rank(fallback_rank=None):
    """This process's rank among the processes on its machine: from the process group
    when initialized (MPI's shared-memory split), else from the launcher's environment
    (OMPI_COMM_WORLD_LOCAL_RANK, LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID), else
    fallback_rank; RuntimeError when none of them is there."""
    if _d.is_initialized():
        return _d.get_local_rank()
    info = _d.detect_launch()
    if info["launcher"]:
        return info["local_rank"]
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("[get_node_local_rank] no launcher set a local rank (LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK, "
                       "...) and no fallback_rank was given")


def get_local_rank():
    """Horovod-style short form of get_node_local_rank() (the default group must exist)."""
    return _d.get_local_rank()


def _tensor(op, name, t):
    if not isinstance(t, Tensor):
        raise TypeError(f"[{op}] {name} must be a Tensor, got {type(t).__name__}")


def _tensors(op, name, ts):
    if not isinstance(ts, (list, tuple)):
        raise TypeError(f"[{op}] {name} must be a list of Tensors, got {type(ts).__name__}")
    for t in ts:
        _tensor(op, f"an element of {name}", t)
    return list(ts)


def _op(name, op):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"[{name}] op must be a ReduceOp (ReduceOp.SUM, AVG, PRODUCT, MIN, MAX), got {op!r}")
    return op


def _result(work, async_op):
    return work if async_op else None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Combines `tensor` across ranks with `op`; every rank gets the result in place."""
    _check_group("all_reduce", group)
    _tensor("all_reduce", "tensor", tensor)
    return _result(_d.all_reduce(tensor, _op("all_reduce", op), bool(async_op)), async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copies rank `src`'s `tensor` into `tensor` on every other rank."""
    _check_group("broadcast", group)
    _tensor("broadcast", "tensor", tensor)
    if src is None:
        src = group_src
    if src is None:
        raise ValueError("[broadcast] src (the sending rank) is required")
    return _result(_d.broadcast(tensor, int(src), bool(async_op)), async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] receives rank r's `tensor` (world_size tensors of its dtype and size)."""
    _check_group("all_gather", group)
    _tensor("all_gather", "tensor", tensor)
    outs = _tensors("all_gather", "tensor_list", tensor_list)
    return _result(_d.all_gather(outs, tensor, bool(async_op)), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """The ranks' input_tensor concatenated in rank order into output_tensor (world_size times its size)."""
    _check_group("all_gather_into_tensor", group)
    _tensor("all_gather_into_tensor", "output_tensor", output_tensor)
    _tensor("all_gather_into_tensor", "input_tensor", input_tensor)
    return _result(_d.all_gather_into_tensor(output_tensor, input_tensor, bool(async_op)), async_op)


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """Rank r's output is input_list[r] combined with `op` across ranks."""
    _check_group("reduce_scatter", group)
    _tensor("reduce_scatter", "output", output)
    ins = _tensors("reduce_scatter", "input_list", input_list)
    return _result(_d.reduce_scatter(output, ins, _op("reduce_scatter", op), bool(async_op)), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """`input` (world_size times output's size) combined across ranks; rank r keeps its r-th part."""
    _check_group("reduce_scatter_tensor", group)
    _tensor("reduce_scatter_tensor", "output", output)
    _tensor("reduce_scatter_tensor", "input", input)
    return _result(_d.reduce_scatter_tensor(output, input, _op("reduce_scatter_tensor", op), bool(async_op)),
                   async_op)


def barrier(group=None, async_op=False, device_ids=None, timeout=None):
    """Returns when every rank has reached it."""
    _check_group("barrier", group)
    return _result(_d.barrier(bool(async_op)), async_op)



def _bytes_tensor(data):
    import numpy as np
    return _ts.from_numpy(np.frombuffer(bytearray(data), dtype=np.uint8)) if data else _ts.zeros(0, dtype=_ts.uint8)


def all_gather_object(object_list, obj, group=None):
    """object_list[r] receives rank r's `obj` (any picklable object); object_list must
    have world_size elements. Objects travel pickled: only use it with trusted ranks."""
    _check_group("all_gather_object", group)
    world = get_world_size()
    if not isinstance(object_list, list) or len(object_list) != world:
        raise ValueError(f"[all_gather_object] object_list must be a list of world_size ({world}) elements")
    data = pickle.dumps(obj)
    sizes = _ts.zeros(world, dtype=_ts.int64)
    all_gather_into_tensor(sizes, _ts.full((1,), len(data), dtype=_ts.int64))
    sizes = sizes.tolist()
    width = max(sizes)
    mine = _ts.zeros(width, dtype=_ts.uint8)
    if data:
        mine[:len(data)] = _bytes_tensor(data)
    every = _ts.zeros(width * world, dtype=_ts.uint8)
    all_gather_into_tensor(every, mine)
    raw = bytes(every.numpy())
    for r in range(world):
        object_list[r] = pickle.loads(raw[r * width:r * width + sizes[r]])


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Fills object_list on every rank with rank `src`'s elements (same length on
    every rank; picklable objects: only use it with trusted ranks)."""
    _check_group("broadcast_object_list", group)
    if src is None:
        src = group_src
    if src is None:
        raise ValueError("[broadcast_object_list] src (the sending rank) is required")
    if not isinstance(object_list, list):
        raise TypeError(f"[broadcast_object_list] object_list must be a list, got {type(object_list).__name__}")
    data = pickle.dumps(object_list) if get_rank() == src else b""
    size = _ts.full((1,), len(data), dtype=_ts.int64)
    broadcast(size, src)
    buf = _bytes_tensor(data) if get_rank() == src else _ts.zeros(int(size.item()), dtype=_ts.uint8)
    broadcast(buf, src)
    if get_rank() != src:
        received = pickle.loads(bytes(buf.numpy()))
        if len(received) != len(object_list):
            raise ValueError(f"[broadcast_object_list] rank {src} sent {len(received)} objects; this rank's "
                             f"object_list has {len(object_list)}")
        object_list[:] = received
