"""Tracker: record a model.fit run in the tracking store with no other code.

    model.fit(x, y, epochs=10, callbacks=[ts.callbacks.Tracker(experiment="digits")])

Points are buffered in memory and handed to a writer thread at the first
epoch end after `flush_every` seconds (and at the end of training), so
tracking costs a list append per step. The writer thread opens the store,
starts the run and writes each batch of points in one transaction while
training goes on. A folder or plain SQLite file is written through Python's
sqlite3 (ts.store._sqlite.SQLiteWriter): importing SQLAlchemy and building
its engine would cost more CPU than the whole run's writes, taken from the
training it records. Other URLs (PostgreSQL...) go through ts.store.Store.
See docs/tracking.md.
"""
import atexit
import math
import os
import queue
import threading
import time
import warnings
import weakref

from ..training import Callback

__all__ = ["Tracker"]

_MAX_BUFFER = 1_000_000  # points kept in memory while the store cannot be written


_statm = {}  # pid -> (fd, page size) of /proc/self/statm kept open, or () where there is none


def _statm_of_this_process():
    pid = os.getpid()  # a forked child opens its own (/proc/self is resolved when opened)
    if pid not in _statm:
        try:
            _statm[pid] = (os.open(f"/proc/{pid}/statm", os.O_RDONLY), os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            _statm[pid] = ()
    return _statm[pid]


class _SystemSampler:
    """CPU % of this process (CPU time over wall time since the last sample,
    100 per busy core) and its resident memory: /proc/PID/statm on Linux
    (one pread, no import), else psutil, else getrusage's peak."""

    def __init__(self):
        self._statm = _statm_of_this_process()
        self._proc = None
        if not self._statm:
            try:
                import psutil
                self._proc = psutil.Process()
            except ModuleNotFoundError:  # getrusage instead
                pass
        self._last = (time.perf_counter(), self._cpu_time())

    @staticmethod
    def _cpu_time():
        t = os.times()
        return t.user + t.system

    def _rss(self):
        if self._statm:
            try:
                return int(os.pread(self._statm[0], 128, 0).split()[1]) * self._statm[1]
            except (OSError, ValueError, IndexError):
                pass
        if self._proc is not None:
            return self._proc.memory_info().rss
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def sample(self):
        now, cpu = time.perf_counter(), self._cpu_time()
        wall = now - self._last[0]
        pct = 100.0 * (cpu - self._last[1]) / wall if wall > 0 else 0.0
        self._last = (now, cpu)
        return {"system/cpu_percent": pct, "system/rss_mb": self._rss() / 2**20}


def _number(v):
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v.item())  # 0-d tensors and NumPy scalars
    except (AttributeError, TypeError, ValueError, RuntimeError):
        return None


def _open_sink(location):
    """What the writer thread writes through: the lean sqlite3 writer for a
    folder or plain SQLite file, else a ts.store.Store (SQLAlchemy)."""
    from ..store import _location
    url, artifact_root = _location.resolve(location)
    db_file = _location.sqlite_file(url)
    if db_file is not None:
        from ..store._sqlite import SQLiteWriter
        return SQLiteWriter(db_file, artifact_root)
    from .. import store as tstore
    return tstore.open(location)


class _Writer(threading.Thread):
    """Owns the store of a Tracker given a location: opens it and starts the
    run, then runs what the training thread submits, in order (points are
    written in one transaction per flush). Failures to open are kept in
    `error` and raised on the training thread; a metric write that fails
    (a locked store) keeps its points for the next one."""

    def __init__(self, location, experiment, run_name, tags, params):
        super().__init__(name="tessel-tracker-writer", daemon=True)
        self.location, self.experiment, self.run_name, self.tags, self.params = (location, experiment, run_name,
                                                                                tags, params)
        self.sink = self.run_id = self.error = None
        self.ready = threading.Event()
        self.pending = []  # points not written yet
        self.write_error = None  # the StoreError of the last failed metric write, None once written
        self._jobs = queue.SimpleQueue()
        self._warned = False
        self._closing = False

    def run(self):
        try:
            sink = _open_sink(self.location)
            try:
                self.run_id = sink.start_run(self.experiment, self.run_name, params=self.params, tags=self.tags)
            except BaseException:
                sink.close()
                raise
            self.sink = sink
        except BaseException as e:  # noqa: BLE001  (raised again on the training thread)
            self.error = e
        finally:
            self.ready.set()
        while True:
            job = self._jobs.get()
            if job is None:
                break
            job()
        if self.sink is not None:
            self.sink.close()

    def submit(self, fn):
        """Runs fn() on this thread after what was submitted before; returns
        a function that waits for it and returns its result or raises its error."""
        done, out = threading.Event(), {}

        def job():
            try:
                if self.sink is not None:
                    out["result"] = fn()
            except BaseException as e:  # noqa: BLE001  (handed to the waiter)
                out["error"] = e
            finally:
                done.set()

        self._jobs.put(job)

        def wait():
            done.wait()
            if "error" in out:
                raise out["error"]
            return out.get("result")
        return wait

    def write_points(self, points):
        """Queues points; they are written with any left over from a failed write."""
        def write():
            from ..store import StoreError
            self.pending += points
            try:
                self.sink.log_metrics(self.run_id, self.pending)
            except StoreError as e:
                # Keep the points and try again at the next flush: a locked store must not lose them.
                self.write_error = e
                del self.pending[:-_MAX_BUFFER]
                if not self._warned:
                    warnings.warn(f"Tracker: could not write to the store, will retry: {e}", stacklevel=2)
                    self._warned = True
                return
            self.pending = []
            self.write_error = None
        return self.submit(write)

    def close(self, wait=True):
        """Ends the thread after what was submitted: it closes the store (for
        SQLite the last connection's close checkpoints the WAL into the
        database file); wait: until it has."""
        if not self._closing:
            self._closing = True
            self._jobs.put(None)
            _closing_writers.add(self)
        if wait and self.is_alive():
            self.join()


# Writer threads closing their store after their run ended; waited for at exit.
_closing_writers = weakref.WeakSet()


def _is_location(store):
    return store is None or isinstance(store, (str, bytes, os.PathLike))


class Tracker(Callback):
    """Records the run of `fit` in a tracking store (ts.store).

    experiment: the experiment's name (created if new). store: a ts.store.Store,
    a folder or SQLAlchemy URL, or None for $TESSEL_STORE / ./tessel-store.
    run_name, params, tags: extra things to record. log_model: save the final
    weights (safetensors) and the ONNX export (batch dim dynamic) as artifacts
    model/weights.safetensors and model/model.onnx. register_as: also add the
    model to the registry under that name (a version linked to this run).
    log_every_n_steps: keep one per-step point out of n. system_every: seconds
    between system samples (CPU %, RSS). flush_every: seconds between writes
    to the store (at an epoch end, or within a long epoch; 0: every epoch).

    Recorded: params (optimizer and its hyper-parameters, lr, batch size,
    epochs, samples, loss, metrics, scheduler, model class, parameter count,
    model summary), epoch metrics under Keras' names ("loss", "val_accuracy",
    step = epoch), per-step "step/loss" (step = global step), "system/cpu_percent"
    and "system/rss_mb", and the artifacts above. `run_id` is set once training starts.
    When fit returns, everything is in the store (written and committed);
    the writer thread then closes the store, and close() waits for that.
    """

    def __init__(self, experiment="default", store=None, run_name=None, log_model=True, register_as=None,
                 params=None, tags=None, log_every_n_steps=1, system_every=10.0, flush_every=2.0):
        super().__init__()
        if not isinstance(experiment, str) or not experiment:
            raise ValueError(f"Tracker: experiment must be a non-empty string, got {experiment!r}")
        if not isinstance(log_every_n_steps, int) or log_every_n_steps < 1:
            raise ValueError(f"Tracker: log_every_n_steps must be a positive int, got {log_every_n_steps!r}")
        if register_as is not None:
            from ..store import check_model_name
            check_model_name(register_as)
        self.experiment = experiment
        self.store = store
        self.run_name = run_name
        self.log_model = log_model
        self.register_as = register_as
        self.extra_params = dict(params or {})
        self.extra_tags = dict(tags or {})
        self.log_every_n_steps = log_every_n_steps
        self.system_every = system_every
        self.flush_every = flush_every
        self._run_id = None
        self._writer = None  # the writer thread, when the store is a location
        self._closing = None  # the writer thread of the last run, closing the store
        self._sink = None  # what the run is written through (a Store, or the writer thread's sink)
        self.model_version = None
        self._buffer = []
        self._example = None
        self._hook = None
        self._warned = False
        self._finished = True
        self._last_flush = 0.0

    # ----- store plumbing ---------------------------------------------------------------------------

    @property
    def run_id(self):
        """The run's id once training has started (waits for the writer thread's start if it is still going)."""
        if self._writer is not None and self._run_id is None:
            self._wait_started()
        return self._run_id

    @run_id.setter
    def run_id(self, value):
        self._run_id = value

    def _wait_started(self):
        """Waits for the writer thread's start; its failure (store unreachable,
        locked, of another schema) is raised here."""
        writer = self._writer
        if writer is None:
            return
        writer.ready.wait()
        if writer.error is not None:
            self._writer = None
            self._finished = True
            _open_trackers.discard(self)
            writer.close()
            raise writer.error
        self._sink, self._run_id = writer.sink, writer.run_id

    def _started(self):
        """True when the run exists in the store (without waiting); a failed start is raised."""
        if self._writer is not None and self._run_id is None:
            if not self._writer.ready.is_set():
                return False
            self._wait_started()
        return True

    def _flush(self, final=False):
        """Writes the buffered points: handed to the writer thread (final:
        and waits until they are written), or written at once to a Store given
        to the tracker. A store that cannot be written keeps them for the next
        flush; the final one raises StoreError."""
        from ..store import StoreError
        if self._writer is not None:
            self._wait_started()
            points, self._buffer = self._buffer, []
            wait = self._writer.write_points(points)
            self._last_flush = time.perf_counter()
            if final:
                wait()
                err = self._writer.write_error
                if err is not None:  # the points stay with the writer: close() or the exit tries again
                    raise StoreError(f"Tracker: {len(self._writer.pending)} metric points of run {self._run_id} "
                                     f"could not be written: {err}") from err
            return
        if not self._buffer:
            return
        try:
            self._sink.log_metrics(self.run_id, self._buffer)
        except StoreError as e:
            # Keep the points and try again at the next flush: a locked store must not lose them.
            if final:
                raise StoreError(f"Tracker: {len(self._buffer)} metric points of run {self.run_id} could not be "
                                 f"written: {e}") from e
            if not self._warned:
                warnings.warn(f"Tracker: could not write to the store, will retry: {e}", stacklevel=3)
                self._warned = True
            del self._buffer[:-_MAX_BUFFER]
            return
        self._buffer = []
        self._last_flush = time.perf_counter()

    def _call(self, fn, wait=True):
        """fn(sink, run_id) after the points handed over so far: its result,
        or (wait=False) a function that waits for it and returns it."""
        if self._writer is not None:
            waiter = self._writer.submit(lambda: fn(self._sink, self._run_id))
            return waiter() if wait else waiter
        result = fn(self._sink, self._run_id)
        return result if wait else (lambda: result)

    def _end(self, status, waits=()):
        """Writes what is buffered and ends the run with `status`: all of it
        committed when this returns (after `waits`, the artifact records). The
        writer thread then closes the store on its own; close() waits for that."""
        from ..store import StoreError
        writer = self._writer
        if writer is None:
            self._flush(final=True)
            for wait in waits:
                wait()
            self._sink.end_run(self._run_id, status)
        else:
            self._flush()

            def finish():
                if writer.write_error is not None:  # the points stay with the writer: close() or the exit retries
                    raise StoreError(f"Tracker: {len(writer.pending)} metric points of run {self._run_id} could not "
                                     f"be written: {writer.write_error}") from writer.write_error
                self._sink.end_run(self._run_id, status)
            done = writer.submit(finish)
            for wait in waits:
                wait()
            done()
            self._writer = None
            writer.close(wait=False)
            self._closing = writer
        self._finished = True
        _open_trackers.discard(self)

    # ----- what is recorded at the start -----------------------------------------------------------------

    def _params(self):
        trainer, model = self.trainer, self.model
        opt = getattr(trainer, "optimizer", None)  # None: a model not trained by gradient steps (boosted trees)
        p = {"optimizer": type(opt).__name__} if opt is not None else {}
        group = opt.param_groups[0] if getattr(opt, "param_groups", None) else {}
        for k, v in group.items():
            if k == "params":
                continue
            if isinstance(v, (int, float, str, bool)) or v is None or (isinstance(v, tuple) and
                                                                        all(isinstance(x, (int, float)) for x in v)):
                p[f"optimizer.{k}"] = v
        if "lr" in group:
            p["lr"] = group["lr"]
        hp = getattr(trainer.history, "params", {}) or {}
        for k in ("batch_size", "epochs", "samples", "steps"):
            if hp.get(k) is not None:
                p[k] = hp[k]
        loss = trainer.loss_fn
        p["loss"] = type(loss).__name__ if not hasattr(loss, "__name__") else loss.__name__
        p["metrics"] = [m.name for m in trainer.metrics]
        if getattr(trainer, "scheduler", None) is not None:
            p["scheduler"] = type(trainer.scheduler).__name__
        p["model"] = type(model).__name__
        p["num_parameters"] = sum(t.numel() for t in model.parameters())
        p["model_summary"] = repr(model)
        p.update(self.extra_params)
        return p

    def _capture_example(self, module, args):
        # The first batch's inputs, one sample each, are the ONNX export's example.
        if self._example is None and args:
            try:
                self._example = tuple(a[:1].detach().clone() for a in args)
            except (AttributeError, TypeError, IndexError):
                self._example = ()
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    # ----- callback hooks -------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if not self._finished:  # the previous fit with this tracker raised before it ended
            self._wait_started()
            self._end("FAILED")
        tags = {"source": "ts.callbacks.Tracker", **self.extra_tags}
        params = self._params()
        self._run_id = None
        if _is_location(self.store):
            # The store opens and the run starts on the writer thread while training starts.
            self._sink = None
            self._writer = _Writer(self.store, self.experiment, self.run_name, tags, params)
            self._writer.start()
        else:
            self._sink = self.store
            self._run_id = self.store.start_run(self.experiment, self.run_name, tags=tags)
            self.store.log_params(self._run_id, params)
        self._finished = False
        _open_trackers.add(self)
        self._step = 0
        self._buffer = []
        self._last_flush = self._last_system = time.perf_counter()
        self._sampler = _SystemSampler()
        self._example = None
        if self.log_model:
            self._hook = self.model.register_forward_pre_hook(self._capture_example)

    def on_batch_end(self, batch, logs=None):
        step = self._step
        self._step += 1
        if step % self.log_every_n_steps == 0 and logs and "loss" in logs:
            self._buffer.append(("step/loss", step, logs["loss"]))
        now = time.perf_counter()
        if now - self._last_system >= self.system_every:
            self._last_system = now
            self._buffer += [(k, step, v) for k, v in self._sampler.sample().items()]
        if now - self._last_flush >= self.flush_every and self._started():
            self._flush()

    def on_epoch_end(self, epoch, logs=None):
        for k, v in (logs or {}).items():
            x = _number(v)
            if x is not None:
                self._buffer.append((k, epoch, x))
        self._buffer += [(k, self._step, v) for k, v in self._sampler.sample().items()]
        self._last_system = now = time.perf_counter()
        if now - self._last_flush >= self.flush_every and self._started():
            self._flush()

    def on_train_end(self, logs=None):
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self._wait_started()
        # The last points go to the writer thread while the model is saved here; one wait at the end.
        self._flush(final=self._writer is None)
        self._end("FINISHED", self._log_model() if self.log_model else ())

    def close(self, status="FAILED"):
        """Ends an unfinished run with `status` (FAILED or KILLED; what was
        recorded is kept), and waits until the writer thread has closed the
        store. After fit the run is already complete and committed; this only
        waits for the close (for SQLite, the WAL checkpoint into the database file)."""
        if status not in ("FAILED", "KILLED"):
            raise ValueError(f"Tracker.close: status must be 'FAILED' or 'KILLED', got {status!r}")
        if not self._finished:
            self._wait_started()
            self._end(status)
        closing, self._closing = self._closing, None
        if closing is not None:
            closing.close()

    def _log_model(self):
        """The final weights and the ONNX export, written straight into the
        run's artifact folder (no temporary copy) and recorded on the writer
        thread (sizes and SHA-256 there too)."""
        from .. import save
        from ..onnx import export
        run_id, sink = self._run_id, self._sink
        weights = sink.artifact_destination(run_id, "model/weights.safetensors")
        save(dict(self.model.state_dict()), weights)
        # Hashed and recorded on the writer thread while the export runs here.
        waits = [self._call(lambda s_, r: s_.log_artifact(r, weights, "model/weights.safetensors"), wait=False)]
        onnx_path = None
        if self._example:
            onnx_path = sink.artifact_destination(run_id, "model/model.onnx")
            n = len(self._example)
            names = ["input"] if n == 1 else [f"input_{i}" for i in range(n)]
            axes = {name: {0: "batch"} for name in names}
            try:
                export(self.model, self._example, onnx_path, input_names=names, dynamic_axes=axes)
            except Exception as e:  # noqa: BLE001  (a model the exporter cannot trace still keeps its weights)
                if os.path.exists(onnx_path):
                    os.remove(onnx_path)
                onnx_path = None
                why = f"{type(e).__name__}: {e}"
                waits.append(self._call(lambda s_, r: s_.set_tags(r, {"onnx_export_error": why}), wait=False))
                warnings.warn(f"Tracker: the ONNX export failed, only the weights were recorded: {e}",
                              stacklevel=3)
            else:
                waits.append(self._call(lambda s_, r: s_.log_artifact(r, onnx_path, "model/model.onnx"), wait=False))
        if self.register_as is not None:
            history = getattr(self.trainer, "history", None)
            final = {}
            if history is not None:
                final = {k: v[-1] for k, v in history.history.items() if v and _number(v[-1]) is not None}
            registry = sink
            if not hasattr(registry, "register_model"):  # the lean writer: the registry needs the full Store
                from .. import store as tstore
                registry = tstore.open(self.store)
            try:
                self.model_version = registry.register_model(
                    self.register_as, onnx=onnx_path, weights=weights, run_id=run_id,
                    metrics={k: v for k, v in final.items() if not math.isnan(_number(v))})
            finally:
                if registry is not sink:
                    registry.close()
        return waits


# Runs still open when the interpreter exits (fit raised, or the process was
# interrupted) keep what was buffered and end as FAILED instead of RUNNING forever.
_open_trackers = weakref.WeakSet()


@atexit.register
def _close_open_runs():
    for tracker in list(_open_trackers):
        if tracker._finished:
            continue
        try:
            tracker.close()
        except Exception:  # noqa: BLE001  (nothing to report to at exit)
            pass
    for writer in list(_closing_writers):
        writer.join(timeout=60)
