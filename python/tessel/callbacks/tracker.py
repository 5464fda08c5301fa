"""Tracker: record a model.fit run in the tracking store with no other code.

    model.fit(x, y, epochs=10, callbacks=[ts.callbacks.Tracker(experiment="digits")])

Points are buffered in memory and written in one transaction at the first
epoch end after `flush_every` seconds (and at the end of training), so
tracking costs a list append per step. The store is opened and the run
started on a background thread: the first use of a store (importing
SQLAlchemy, creating the engine and the schema) costs more than all of the
run's writes together, and training need not wait for it; see docs/tracking.md.
"""
import atexit
import math
import os
import tempfile
import threading
import time
import warnings
import weakref

from ..training import Callback

__all__ = ["Tracker"]

_MAX_BUFFER = 1_000_000  # points kept in memory while the store cannot be written


class _SystemSampler:
    """CPU % of this process (CPU time over wall time since the last sample,
    100 per busy core) and its resident memory."""

    def __init__(self):
        try:
            import psutil
            self._proc = psutil.Process()
        except ModuleNotFoundError:  # /proc or getrusage instead
            self._proc = None
        self._last = (time.perf_counter(), self._cpu_time())

    @staticmethod
    def _cpu_time():
        t = os.times()
        return t.user + t.system

    def _rss(self):
        if self._proc is not None:
            return self._proc.memory_info().rss
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
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


class _Starter(threading.Thread):
    """Opens the store (a folder, URL or None) and starts the run off the training thread."""

    def __init__(self, location, experiment, run_name, tags, params):
        super().__init__(name="tessel-tracker-start", daemon=True)
        self.location, self.experiment, self.run_name, self.tags, self.params = (location, experiment, run_name,
                                                                                tags, params)
        self.store = self.run_id = self.error = None

    def run(self):
        try:
            from .. import store as tstore
            store = tstore.open(self.location)
            try:
                run_id = store.start_run(self.experiment, self.run_name, tags=self.tags)
                store.log_params(run_id, self.params)
            except BaseException:
                store.close()
                raise
            self.store, self.run_id = store, run_id
        except BaseException as e:  # noqa: BLE001  (raised again on the training thread)
            self.error = e


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
        self._starter = None
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
        """The run's id once training has started (waits for the background start if it is still going)."""
        if self._starter is not None:
            self._wait_started()
        return self._run_id

    @run_id.setter
    def run_id(self, value):
        self._run_id = value

    def _wait_started(self):
        """Joins the background start; its failure (store unreachable, locked, of another schema) is raised here."""
        starter = self._starter
        if starter is None:
            return
        starter.join()
        self._starter = None
        if starter.error is not None:
            self._finished = True
            _open_trackers.discard(self)
            raise starter.error
        self.store, self._run_id = starter.store, starter.run_id

    def _started(self):
        """True when the run exists in the store (without waiting); a failed start is raised."""
        if self._starter is not None:
            if self._starter.is_alive():
                return False
            self._wait_started()
        return True

    def _flush(self, final=False):
        if not self._buffer:
            return
        from ..store import StoreError
        try:
            self.store.log_metrics(self.run_id, self._buffer)
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

    # ----- what is recorded at the start -----------------------------------------------------------------

    def _params(self):
        trainer, model = self.trainer, self.model
        opt = trainer.optimizer
        p = {"optimizer": type(opt).__name__}
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
        if trainer.scheduler is not None:
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
            self._flush(final=True)
            self.store.end_run(self._run_id, "FAILED")
        tags = {"source": "ts.callbacks.Tracker", **self.extra_tags}
        params = self._params()
        self._run_id = None
        if _is_location(self.store):
            # Opening the store is the one slow step of tracking: it runs while training starts.
            self._starter = _Starter(self.store, self.experiment, self.run_name, tags, params)
            self._starter.start()
        else:
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
        self._flush(final=True)
        if self.log_model:
            self._log_model()
        self.store.end_run(self.run_id, "FINISHED")
        self._finished = True
        _open_trackers.discard(self)

    def _log_model(self):
        from .. import save
        from ..onnx import export
        history = getattr(self.trainer, "history", None)
        final = {}
        if history is not None:
            final = {k: v[-1] for k, v in history.history.items() if v and _number(v[-1]) is not None}
        with tempfile.TemporaryDirectory(prefix="tessel-track-") as tmp:
            weights = os.path.join(tmp, "weights.safetensors")
            save(dict(self.model.state_dict()), weights)
            self.store.log_artifact(self.run_id, weights, "model/weights.safetensors")
            onnx_path = None
            if self._example:
                onnx_path = os.path.join(tmp, "model.onnx")
                n = len(self._example)
                names = ["input"] if n == 1 else [f"input_{i}" for i in range(n)]
                axes = {name: {0: "batch"} for name in names}
                try:
                    export(self.model, self._example, onnx_path, input_names=names, dynamic_axes=axes)
                    self.store.log_artifact(self.run_id, onnx_path, "model/model.onnx")
                except Exception as e:  # noqa: BLE001  (a model the exporter cannot trace still keeps its weights)
                    onnx_path = None
                    self.store.set_tags(self.run_id, {"onnx_export_error": f"{type(e).__name__}: {e}"})
                    warnings.warn(f"Tracker: the ONNX export failed, only the weights were recorded: {e}",
                                  stacklevel=3)
            if self.register_as is not None:
                self.model_version = self.store.register_model(
                    self.register_as, onnx=onnx_path, weights=weights, run_id=self.run_id,
                    metrics={k: v for k, v in final.items() if not math.isnan(_number(v))})


# Runs still open when the interpreter exits (fit raised, or the process was
# interrupted) keep what was buffered and end as FAILED instead of RUNNING forever.
_open_trackers = weakref.WeakSet()


@atexit.register
def _close_open_runs():
    for tracker in list(_open_trackers):
        if tracker._finished:
            continue
        try:
            tracker._wait_started()
            if tracker._run_id is None:
                continue
            tracker._flush(final=True)
            tracker.store.end_run(tracker.run_id, "FAILED")
        except Exception:  # noqa: BLE001  (nothing to report to at exit)
            pass
