"""DistributedDataParallel: data-parallel training over the default process group
(ts.nn.parallel.DistributedDataParallel), after PyTorch's design note.

At construction rank 0's parameters and buffers are broadcast to every rank.
The gradient buckets are the C++ engine shared with tessel::nn::DistributedDataParallel
(tessel::distributed::Reducer, src/distributed/reducer.cpp): gradients are packed
into buckets of about bucket_cap_mb (25 MB) in reverse registration order, one
dtype per bucket, by C++ hooks on the parameters; a full bucket is averaged
(all_reduce AVG) on the communicator's thread while backward goes on. Buckets are
always issued in index order, so ranks whose gradients become ready in different
orders still issue the same sequence of collectives. When the last gradient
arrives its hook waits for the buckets and writes the averaged values into every
parameter's .grad.
"""
import contextlib

from .. import _C
from ..autograd import is_grad_enabled
from ..nn.modules.module import Module
from . import get_world_size, is_initialized

__all__ = ["DistributedDataParallel"]

_d = _C._distributed


def _output_tensors(out, found):
    if isinstance(out, _C.Tensor):
        found.append(out)
    elif isinstance(out, (list, tuple)):
        for o in out:
            _output_tensors(o, found)
    elif isinstance(out, dict):
        for o in out.values():
            _output_tensors(o, found)
    return found


class DistributedDataParallel(Module):
    """Wraps `module` for data-parallel training: call it as the module, then
    backward averages the gradients of all ranks into each parameter's .grad.
    CPU modules only (device_ids must be None). find_unused_parameters=True
    lets a forward leave some parameters out of the graph (found by walking it
    after each forward); no_sync() skips the averaging for gradient accumulation.
    dim, gradient_as_bucket_view, static_graph and check_reduction are accepted for
    PyTorch compatibility; the gradients are the same with or without them."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, init_sync=True):
        super().__init__()
        name = "[DistributedDataParallel]"
        if not is_initialized():
            raise ValueError(f"{name} the default process group has not been initialized: call "
                             "ts.distributed.init_process_group() first")
        if not isinstance(module, Module):
            raise TypeError(f"{name} module must be a ts.nn.Module, got {type(module).__name__}")
        if process_group is not None:
            raise ValueError(f"{name} tessel has only the default process group: pass process_group=None")
        if device_ids is not None or output_device is not None:
            raise ValueError(f"{name} device_ids and output_device are for single-device GPU modules; "
                             "leave them None for CPU modules")
        cap = 25 if bucket_cap_mb is None else bucket_cap_mb
        if not isinstance(cap, (int, float)) or cap <= 0:
            raise ValueError(f"{name} bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self.module = module
        self.dim = dim
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.static_graph = bool(static_graph)
        self.bucket_cap_mb = cap
        self.require_backward_grad_sync = True
        seen, names, params = set(), [], []
        for n, p in module.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                names.append(n)
                params.append(p)
        if not params:
            raise RuntimeError(f"{name} DistributedDataParallel is not needed when a module doesn't have any "
                               "parameter that requires a gradient")
        self._params, self._param_names = params, names
        self._world = get_world_size()
        # Checks first that every rank holds the same parameters (a collective), then hooks them.
        self._reducer = _d.Reducer(params, names, max(1, int(cap * 1024 * 1024)), self.find_unused_parameters)
        if init_sync and self._world > 1:
            _d.broadcast_tensors(params + list(module.buffers()), 0)

    @property
    def _buckets(self):
        """Parameter indices of each bucket, in the order the buckets are issued."""
        return self._reducer.buckets()

    @property
    def _overlap_stats(self):
        """Seconds summed over the synchronized backwards (bench/bench_ddp.py reads them):
        comm_s the buckets' all-reduces took on the communication thread, hidden_s the part
        that ran before the last gradient arrived (covered by backward)."""
        return self._reducer.stats()

    def _reset_overlap_stats(self):
        self._reducer.reset_stats()

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, backward accumulates into .grad locally; the first backward after it averages the sum."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def forward(self, *inputs, **kwargs):
        self._reducer.check_finished()
        if self.broadcast_buffers and self._world > 1:
            bufs = list(self.module.buffers())
            if bufs:
                _d.broadcast_tensors(bufs, 0)
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync and self._world > 1:
            self._reducer.prepare_for_backward(_output_tensors(out, []))
        else:
            self._reducer.disarm()
        return out
