"""DistributedDataParallel: data-parallel training over the default process group
(ts.nn.parallel.DistributedDataParallel), after PyTorch's design note.

At construction rank 0's parameters and buffers are broadcast to every rank.
Gradients are packed into buckets of about bucket_cap_mb (25 MB) in reverse
registration order, one dtype per bucket. A hook on each parameter copies its
gradient into its bucket when backward produces it; a full bucket is averaged
(all_reduce AVG, async) on the communicator's thread while backward goes on.
Buckets are always issued in index order, so ranks whose gradients become ready
in different orders still issue the same sequence of collectives. When the last
gradient arrives the hook waits for the buckets and writes the averaged values
into every parameter's .grad.
"""
import contextlib
import functools
import time

import tessel as _ts

from .. import _C
from ..autograd import enable_grad, is_grad_enabled, no_grad
from ..nn.modules.module import Module
from . import ReduceOp, all_gather_into_tensor, all_reduce, broadcast, get_rank, get_world_size, is_initialized

__all__ = ["DistributedDataParallel"]


class _Bucket:
    __slots__ = ("dtype", "members", "offsets", "numel", "nbytes", "buffer", "pending", "work")

    def __init__(self, dtype):
        self.dtype, self.members, self.offsets, self.numel, self.nbytes = dtype, [], [], 0, 0
        self.buffer, self.pending, self.work = None, 0, None


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
        self._check_same_model()
        if init_sync and self._world > 1:
            self._broadcast([p.detach() for p in params] + [b.detach() for b in module.buffers()])
        self._build_buckets(int(cap * 1024 * 1024))
        # The accumulator node of each parameter (kept alive, so the graph walk of
        # find_unused_parameters meets these very objects).
        with enable_grad():
            self._accumulators = [p.view_as(p).grad_fn.next_functions[0][0] for p in params]
        self._acc_index = {id(a): i for i, a in enumerate(self._accumulators)}
        self._armed = False
        self._seen = [False] * len(params)
        self._remaining = 0
        self._next_launch = 0
        self._local_used = [True] * len(params)
        self._hook_handles = [p.register_hook(functools.partial(self._on_grad, i)) for i, p in enumerate(params)]
        # Seconds summed over the synchronized backwards (bench/bench_ddp.py reads them):
        # comm_s the buckets' all-reduces took on the communication thread, hidden_s the
        # part that ran before the last gradient arrived (covered by backward).
        self._overlap_stats = {"steps": 0, "comm_s": 0.0, "hidden_s": 0.0}

    # ---- set-up ----

    def _check_same_model(self):
        # Every rank must hold the same parameters in the same order, or buckets would not match.
        sig = _ts.tensor([len(self._params), sum(p.numel() for p in self._params),
                         sum((i + 1) * p.numel() for i, p in enumerate(self._params))], dtype=_ts.int64)
        every = _ts.zeros(3 * self._world, dtype=_ts.int64)
        all_gather_into_tensor(every, sig)
        rows = every.reshape(self._world, 3).tolist()
        if any(r != rows[0] for r in rows):
            raise RuntimeError(f"[DistributedDataParallel] the ranks' models differ: (parameter count, elements, "
                               f"checksum) per rank = {rows}")

    @staticmethod
    def _broadcast(tensors):
        works, copies = [], []
        for t in tensors:
            c = t if t.is_contiguous() else t.contiguous()
            works.append(broadcast(c, 0, async_op=True))
            copies.append((t, c))
        for w in works:
            w.wait()
        for t, c in copies:
            if c is not t:
                t.copy_(c)

    def _build_buckets(self, cap_bytes):
        buckets, open_by_dtype, where = [], {}, [None] * len(self._params)
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            size = p.numel() * p.element_size()
            bi = open_by_dtype.get(p.dtype)
            if bi is None or (buckets[bi].members and buckets[bi].nbytes + size > cap_bytes):
                bi = open_by_dtype[p.dtype] = len(buckets)
                buckets.append(_Bucket(p.dtype))
            b = buckets[bi]
            where[i] = (bi, len(b.members))
            b.offsets.append(b.numel)
            b.members.append(i)
            b.numel += p.numel()
            b.nbytes += size
        for b in buckets:
            b.buffer = _ts.zeros(b.numel, dtype=b.dtype)
        self._buckets, self._where = buckets, where

    # ---- each iteration ----

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
        if self._armed and any(self._seen):
            missing = [self._param_names[i] for i, s in enumerate(self._seen) if not s]
            raise RuntimeError("[DistributedDataParallel] Expected to have finished reduction in the prior iteration "
                               "before starting a new one: these parameters got no gradient: "
                               f"{', '.join(missing)}. Pass find_unused_parameters=True if the forward does not use "
                               "them all")
        if self.broadcast_buffers and self._world > 1:
            bufs = [b.detach() for b in self.module.buffers()]
            if bufs:
                self._broadcast(bufs)
        out = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync and self._world > 1:
            self._prepare(out)
        else:
            self._armed = False
        return out

    def _prepare(self, out):
        n = len(self._params)
        self._seen = [False] * n
        self._remaining = n
        self._next_launch = 0
        for b in self._buckets:
            b.pending, b.work = len(b.members), None
        self._armed = True
        if not self.find_unused_parameters:
            return
        reachable, stack, visited = set(), [t.grad_fn for t in _output_tensors(out, []) if t.grad_fn], set()
        while stack:
            node = stack.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            i = self._acc_index.get(id(node))
            if i is not None:
                reachable.add(i)
            stack.extend(nxt for nxt, _ in node.next_functions if nxt is not None)
        self._local_used = [i in reachable for i in range(n)]
        for i in range(n):
            if i not in reachable:  # ready now: whatever .grad it has (zeros if none)
                p = self._params[i]
                self._mark_ready(i, p.grad if p.grad is not None else None)
        if self._remaining == 0:
            self._finalize(None)

    def _mark_ready(self, i, total):
        b_index, k = self._where[i]
        b = self._buckets[b_index]
        off, p = b.offsets[k], self._params[i]
        part = b.buffer[off:off + p.numel()]
        with no_grad():
            if total is None:
                part.zero_()
            else:
                part.copy_(total.reshape(-1))
        self._seen[i] = True
        self._remaining -= 1
        b.pending -= 1
        while self._next_launch < len(self._buckets) and self._buckets[self._next_launch].pending == 0:
            nb = self._buckets[self._next_launch]
            nb.work = all_reduce(nb.buffer, op=ReduceOp.AVG, async_op=True)
            self._next_launch += 1

    def _on_grad(self, i, grad):
        if not self._armed:
            return None
        if self._seen[i]:
            raise RuntimeError(f"[DistributedDataParallel] parameter {self._param_names[i]} got a gradient twice in "
                               "one iteration (a second backward through the same forward?)")
        p = self._params[i]
        with no_grad():
            total = grad if p.grad is None else p.grad.detach() + grad
        self._mark_ready(i, total)
        if self._remaining == 0:
            return self._finalize(i)
        return None

    def _finalize(self, last):
        """Waits for every bucket and writes the averages into .grad. The last parameter's
        gradient is returned instead (the engine stores it right after this hook)."""
        self._armed = False
        backward_done = time.monotonic()
        for b in self._buckets:
            b.work.wait()
        stats = self._overlap_stats
        stats["steps"] += 1
        for b in self._buckets:
            started, finished = b.work._timing()
            stats["comm_s"] += finished - started
            stats["hidden_s"] += max(0.0, min(finished, backward_done) - started)
        used = None
        if self.find_unused_parameters:
            flags = _ts.tensor([1 if u else 0 for u in self._local_used], dtype=_ts.uint8)
            all_reduce(flags, op=ReduceOp.MAX)
            used = flags.tolist()
        result = None
        with no_grad():
            for i, p in enumerate(self._params):
                b_index, k = self._where[i]
                b = self._buckets[b_index]
                avg = b.buffer[b.offsets[k]:b.offsets[k] + p.numel()].view(p.shape)
                if i == last:
                    p.grad = None
                    result = avg.clone()
                elif p.grad is not None:
                    p.grad.copy_(avg)
                elif used is None or used[i]:
                    p.grad = avg.clone()
        return result
