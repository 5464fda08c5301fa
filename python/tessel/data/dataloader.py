"""DataLoader: batches of a dataset, with torch.utils.data's arguments.

FileDataset (and Subsets of one) load on C++ worker threads without the GIL;
any other dataset is read in Python, on worker threads when num_workers > 0.
"""
import math
import numbers
import queue
import threading
import time
import weakref

from .. import _C
from ._seed import draw_seed
from .collate import default_collate, default_convert
from .dataset import IterableDataset, Subset
from .files import FileDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler
from .worker import WorkerInfo, _set_worker_info, _worker_copy

__all__ = ["DataLoader"]

_d = _C._data
_END = object()


def _fail(e, message):
    """`message` as an exception of e's kind (RuntimeError if that kind cannot be built from a message)."""
    try:
        new = type(e)(message)
    except Exception:
        new = RuntimeError(message)
    return new


def _native_source(dataset):
    """(FileDataset, index map or None) when the items come from a FileDataset, else None."""
    index_map = None
    while isinstance(dataset, Subset):
        inner = [int(i) for i in dataset.indices]
        index_map = inner if index_map is None else [inner[i] for i in index_map]
        dataset = dataset.dataset
    if isinstance(dataset, FileDataset):
        return dataset, index_map
    return None


def _positive_int(value, message):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(message)
    return int(value)


class DataLoader:
    """Batches of `dataset` (torch.utils.data.DataLoader's arguments and errors).

    tessel differences: workers are threads (C++ threads for a FileDataset);
    pin_memory is accepted and does nothing (no pinned memory without a GPU);
    multiprocessing_context is accepted and ignored; batches always come in
    order. Extra keywords: seed=int (the shuffling and per-item randomness
    follow from it, as with generator=ts.Generator().manual_seed(seed)) and
    prefetch (the older name of prefetch_factor, allowed with num_workers=0).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True, seed=None, prefetch=None):
        if not isinstance(num_workers, numbers.Integral) or isinstance(num_workers, bool) or num_workers < 0:
            raise ValueError("[data.DataLoader] num_workers option should be non-negative; use num_workers=0 to "
                             f"disable worker threads, got {num_workers!r}")
        if not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"[data.DataLoader] timeout option should be non-negative, got {timeout!r}")
        if prefetch is not None:
            if prefetch_factor is not None:
                raise ValueError("[data.DataLoader] pass prefetch_factor or prefetch (its older name), not both")
            prefetch_factor = _positive_int(prefetch, f"[data.DataLoader] prefetch must be at least 1, got "
                                                      f"{prefetch!r}")
        elif prefetch_factor is not None:
            if num_workers == 0:
                raise ValueError("[data.DataLoader] prefetch_factor option could only be specified with worker "
                                 "threads: let num_workers > 0, otherwise set prefetch_factor to None")
            _positive_int(prefetch_factor, f"[data.DataLoader] prefetch_factor option should be a positive "
                                           f"integer, got {prefetch_factor!r}")
        if persistent_workers and num_workers == 0:
            raise ValueError("[data.DataLoader] persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError("[data.DataLoader] multiprocessing_context can only be used with worker loading "
                             f"(num_workers > 0), but got num_workers={num_workers}")
        if timeout > 0 and num_workers == 0:
            raise ValueError("[data.DataLoader] timeout bounds the wait for batches from workers: it needs "
                             "num_workers > 0")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(f"[data.DataLoader] worker_init_fn must be callable, got {type(worker_init_fn).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"[data.DataLoader] collate_fn must be callable, got {type(collate_fn).__name__}")
        if seed is not None and generator is not None:
            raise ValueError("[data.DataLoader] pass seed or generator, not both")

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (None, False):
                raise ValueError(f"[data.DataLoader] DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"[data.DataLoader] DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"[data.DataLoader] DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
            if sampler is not None and shuffle:
                raise ValueError("[data.DataLoader] sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("[data.DataLoader] batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError("[data.DataLoader] batch_size=None option disables auto-batching and is mutually "
                                 "exclusive with drop_last")
        else:
            batch_size = _positive_int(batch_size, f"[data.DataLoader] batch_size should be a positive integer "
                                                   f"value, but got batch_size={batch_size!r}")

        self.dataset, self.num_workers, self.timeout = dataset, int(num_workers), timeout
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None or num_workers == 0 else 2
        self._prefetch = self.prefetch_factor or 2
        self.pin_memory, self.pin_memory_device = bool(pin_memory), pin_memory_device
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, multiprocessing_context
        self.persistent_workers, self.in_order = bool(persistent_workers), in_order
        self.generator, self.seed = generator, seed
        self._gen = _C.Generator().manual_seed(int(seed)) if seed is not None else generator
        self.batch_size, self.drop_last = batch_size, bool(drop_last)
        if sampler is None and not iterable:
            sampler = RandomSampler(dataset, generator=self._gen) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, bool(drop_last))
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)
        self.epoch = 0
        self._pool = None
        self._inited_native_workers = False
        self._native_iters = 0

        self._native = None
        src = None if iterable else _native_source(dataset)
        if src is not None:
            fd, index_map = src
            o = _d.LoaderOptions()
            o.batch_size, o.num_workers, o.prefetch = batch_size or 1, self.num_workers, self._prefetch
            # C++ stacks the batch unless Python work (transforms, collate_fn) follows.
            o.collate = self._auto_collation and collate_fn is None and not fd._python_steps
            self._native = (fd, index_map, _d.DataLoader(fd._impl, o), o.collate)
        self._initialized = True

    _FIXED = ("dataset", "batch_size", "batch_sampler", "sampler", "drop_last", "persistent_workers")

    def __setattr__(self, name, value):
        # The sampler chain and the C++ loader are built from these in __init__.
        if name in self._FIXED and self.__dict__.get("_initialized"):
            raise ValueError(f"[data.DataLoader] {name} attribute should not be set after DataLoader is "
                             "initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (isinstance(self.dataset, IterableDataset) and
                                                  self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self):
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        base_seed = draw_seed(self._gen)  # as PyTorch's _base_seed: drawn for every iterator
        if self._native is not None:
            return self._native_iter(base_seed, epoch)
        if self.num_workers == 0:
            return self._single_iter()
        return self._threaded_iter(base_seed)

    # ---- a FileDataset: C++ worker threads ----

    def _native_iter(self, base_seed, epoch):
        fd, index_map, loader, collated = self._native
        if self._auto_collation:
            plan = [[int(i) for i in b] for b in self.batch_sampler]
        else:
            plan = [[int(i)] for i in self.sampler]
        if index_map is not None:
            try:
                plan = [[index_map[i] for i in b] for b in plan]
            except IndexError:
                bad = next(i for b in plan for i in b if not -len(index_map) <= i < len(index_map))
                raise IndexError(f"[data.DataLoader] the sampler gave index {bad} for a Subset of "
                                 f"{len(index_map)} items") from None
        n = len(fd)
        plan = [[i + n if -n <= i < 0 else i for i in b] for b in plan]  # C++ seeds items by their index
        if self.worker_init_fn is not None and not (self.persistent_workers and self._inited_native_workers):
            # C++ workers run no Python: each worker's init runs here, describing that worker.
            for w in range(self.num_workers):
                _set_worker_info(WorkerInfo(w, self.num_workers, base_seed + w, self.dataset))
                try:
                    self.worker_init_fn(w)
                finally:
                    _set_worker_info(None)
            self._inited_native_workers = True
        self._native_iters += 1
        mine = self._native_iters
        loader.begin_epoch(plan, base_seed, epoch)
        for b in range(len(plan)):
            if self._native_iters != mine:  # one C++ loader: a newer iterator restarted it
                raise RuntimeError("[data.DataLoader] this iterator was superseded by a newer iteration of the "
                                   "same loader (a FileDataset loader runs one epoch at a time)")
            if collated:
                out = loader.next(self.timeout)
                yield out if len(out) > 1 else out[0]
                continue
            fields = loader.next_items(self.timeout)
            items = [fd._finish(f, _d.item_seed(base_seed, epoch, i)) for f, i in zip(fields, plan[b])]
            yield self.collate_fn(items) if self._auto_collation else self.collate_fn(items[0])

    # ---- Python datasets ----

    def _get(self, dataset, i, b):
        try:
            return dataset[i]
        except Exception as e:
            raise _fail(e, f"[data.DataLoader] item {i} (batch {b}) failed: {e}") from e

    def _fetch(self, dataset, index, b):
        if not self._auto_collation:
            return self.collate_fn(self._get(dataset, index, b))
        getitems = getattr(dataset, "__getitems__", None)
        if callable(getitems):
            try:
                data = getitems(list(index))
            except Exception as e:
                raise _fail(e, f"[data.DataLoader] items {list(index)} (batch {b}) failed: {e}") from e
        else:
            data = [self._get(dataset, i, b) for i in index]
        return self.collate_fn(data)

    def _iterable_batches(self, dataset):
        if not self._auto_collation:
            for item in dataset:
                yield self.collate_fn(item)
            return
        batch = []
        for item in dataset:
            batch.append(item)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def _single_iter(self):
        if isinstance(self.dataset, IterableDataset):
            yield from self._iterable_batches(self.dataset)
            return
        for b, index in enumerate(self._index_sampler):
            yield self._fetch(self.dataset, index, b)

    def __del__(self):
        pool = self.__dict__.get("_pool")
        if pool is not None:
            pool.close()

    def _threaded_iter(self, base_seed):
        pool = self._pool
        if pool is None or pool.closed:
            pool = _Workers(self, base_seed)
            if self.persistent_workers:
                self._pool = pool
        token = pool.new_epoch()
        try:
            if isinstance(self.dataset, IterableDataset):
                yield from self._threaded_iterable(pool, token)
            else:
                yield from self._threaded_map(pool, token)
        finally:
            if self.persistent_workers:
                pool.cancel(token)
            else:
                pool.close()

    def _threaded_map(self, pool, token):
        index_iter = iter(self._index_sampler)
        sent, exhausted = 0, False

        def send():
            nonlocal sent, exhausted
            try:
                index = next(index_iter)
            except StopIteration:
                exhausted = True
                return
            pool.submit(sent % pool.n, (token, "batch", (sent, index)))  # round robin, as PyTorch
            sent += 1

        while not exhausted and sent < pool.n * self._prefetch:
            send()
        b = 0
        while b < sent:
            ok, value = pool.take(token, (token, b), self.timeout, f"batch {b}")
            if not exhausted:
                send()
            if not ok:
                raise value
            yield value
            b += 1

    def _threaded_iterable(self, pool, token):
        for w in range(pool.n):
            pool.submit(w, (token, "iter", None))
        active, counts, pos = list(range(pool.n)), [0] * pool.n, 0
        while active:
            w = active[pos]
            ok, value = pool.take(token, (token, w, counts[w]), self.timeout, f"a batch from worker {w}")
            if not ok:
                raise value
            if value is _END:
                active.pop(pos)
                pos = pos % len(active) if active else 0
                continue
            pool.consumed(w)
            counts[w] += 1
            pos = (pos + 1) % len(active)
            yield value


class _Workers:
    """num_workers Python threads. Worker w runs its tasks with get_worker_info()
    describing it and its own shallow copy of the dataset; results are keyed by
    (epoch token, ...) so that an abandoned epoch's late results are dropped."""

    def __init__(self, loader, base_seed):
        # A weak reference: persistent workers must not keep their loader alive (its __del__ stops them).
        self._loader, self.n, self.prefetch = weakref.ref(loader), loader.num_workers, loader._prefetch
        self.cv = threading.Condition()
        self.results, self.pending = {}, [0] * self.n
        self.token, self.closed = 0, False
        self.inboxes = [queue.SimpleQueue() for _ in range(self.n)]
        for w in range(self.n):
            threading.Thread(target=self._run, args=(w, base_seed), daemon=True,
                             name=f"tessel-data-worker-{w}").start()

    def _run(self, w, base_seed):
        loader = self._loader()
        if loader is None:
            return
        ds = _worker_copy(loader.dataset)
        _set_worker_info(WorkerInfo(w, self.n, base_seed + w, ds))
        init_error = None
        if loader.worker_init_fn is not None:
            try:
                loader.worker_init_fn(w)
            except Exception as e:
                init_error = _fail(e, f"[data.DataLoader] worker_init_fn failed in worker {w}: {e}")
                init_error.__cause__ = e
        while True:
            loader = None  # not held while waiting
            task = self.inboxes[w].get()
            loader = self._loader()
            if task is None or loader is None:
                return
            token, kind, payload = task
            if kind == "batch":
                b, index = payload
                if init_error is not None:
                    self._put(token, (token, b), (False, init_error))
                    continue
                try:
                    value = (True, loader._fetch(ds, index, b))
                except Exception as e:
                    value = (False, e)
                self._put(token, (token, b), value)
            elif init_error is not None:
                self._put(token, (token, w, 0), (False, init_error))
            else:
                self._iterate(w, token, loader._iterable_batches(ds))

    def _iterate(self, w, token, batches):
        k = 0
        try:
            for batch in batches:
                with self.cv:
                    while self.token == token and not self.closed and self.pending[w] >= self.prefetch:
                        self.cv.wait()
                    if self.token != token or self.closed:
                        return
                    self.results[(token, w, k)] = (True, batch)
                    self.pending[w] += 1
                    self.cv.notify_all()
                k += 1
            self._put(token, (token, w, k), (True, _END))
        except Exception as e:
            self._put(token, (token, w, k), (False, e))

    def _put(self, token, key, value):
        with self.cv:
            if token == self.token and not self.closed:
                self.results[key] = value
                self.cv.notify_all()

    def submit(self, w, task):
        self.inboxes[w].put(task)

    def new_epoch(self):
        with self.cv:
            self.token += 1
            self.results.clear()
            self.pending = [0] * self.n
            self.cv.notify_all()
            return self.token

    def take(self, token, key, timeout, what):
        deadline = time.monotonic() + timeout if timeout > 0 else None
        with self.cv:
            while key not in self.results:
                if self.token != token:
                    raise RuntimeError("[data.DataLoader] this iterator was superseded by a newer iteration of the "
                                       "same loader (persistent_workers=True)")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise RuntimeError(f"[data.DataLoader] timed out after {timeout} seconds waiting for {what}")
                self.cv.wait(remaining)
            return self.results.pop(key)

    def consumed(self, w):
        with self.cv:
            self.pending[w] -= 1
            self.cv.notify_all()

    def cancel(self, token):
        # Ends an epoch that was left early: iterating workers stop, late results are dropped.
        with self.cv:
            if self.token == token:
                self.token += 1
                self.results.clear()
                self.pending = [0] * self.n
                self.cv.notify_all()

    def close(self):
        with self.cv:
            self.closed = True
            self.results.clear()
            self.cv.notify_all()
        for inbox in self.inboxes:
            inbox.put(None)
