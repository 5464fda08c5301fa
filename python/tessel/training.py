"""A Keras-style training loop on top of ts.nn and ts.optim.

    trainer = ts.Trainer(model, ts.optim.Adam(model.parameters()), ts.nn.CrossEntropyLoss())
    history = trainer.fit(x, y, batch_size=32, epochs=10, validation_split=0.1)
    trainer.evaluate(x_test, y_test)          # {'loss': ..., 'accuracy': ...}

or `model.compile(optimizer="adam", loss="cross_entropy")` then model.fit / evaluate / predict.
x and y are tessel tensors or NumPy arrays, or x is any iterable of (inputs, targets)
batches (a data loader), re-iterated every epoch.
"""
import inspect
import math
import sys
import time
import warnings

import tessel as ts

from . import nn, optim
from .nn import functional as F
from .nn.modules.module import Module
from .distributed._fit import data_parallel as _data_parallel

__all__ = ["Trainer", "History", "Callback", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler"]

_FLOAT = None


def _float_dtypes():
    global _FLOAT
    if _FLOAT is None:
        _FLOAT = (ts.float16, ts.bfloat16, ts.float32, ts.float64)
    return _FLOAT


# ----- callbacks -------------------------------------------------------------

class Callback:
    """Base class of callbacks: override the hooks you need. `self.trainer` and
    `self.model` are set before training begins; setting
    `self.trainer.stop_training = True` ends training after the current epoch."""

    def __init__(self):
        self.trainer = None
        self.model = None

    def set_trainer(self, trainer):
        self.trainer = trainer
        self.model = trainer.model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


class History(Callback):
    """Records every epoch's logs: history.history['loss'], ['val_accuracy'], ..."""

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.history = {}
        self.params = {}

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _resolve_mode(mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if any(s in monitor for s in ("acc", "auc", "precision", "recall", "f1")) else "min"


class EarlyStopping(Callback):
    """Stop when `monitor` hasn't improved by more than min_delta for `patience`
    epochs; restore_best_weights reloads the best epoch's weights at the end (as Keras 3)."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = _resolve_mode(mode, monitor)
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def _improved(self, current, reference):
        if reference is None:
            return True
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _snapshot(self.model)  # until something improves, this epoch is the best
            self.best_epoch = epoch
        self.wait += 1
        if self._improved(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.model)
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


class ModelCheckpoint(Callback):
    """Save model.state_dict() with ts.save (safetensors) after each epoch, or
    only when `monitor` improves (save_best_only). filepath may use {epoch} and
    any log key, e.g. "ckpt-{epoch:02d}-{val_loss:.3f}.safetensors"."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, mode="auto",
                 save_weights_only=True):
        super().__init__()
        self.filepath = str(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.mode = _resolve_mode(mode, monitor)
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.", stacklevel=2)
                return
            better = self.best is None or (current < self.best if self.mode == "min" else current > self.best)
            if not better:
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best} to {current}, saving to {path}")
            self.best = current
        ts.save(dict(self.model.state_dict()), path)


class LearningRateScheduler(Callback):
    """Set the learning rate every epoch: `schedule(epoch, lr) -> new lr` (or
    schedule(epoch)) at the start of the epoch, or a ts.optim.lr_scheduler
    object stepped at its end (ReduceLROnPlateau gets val_loss, else loss)."""

    def __init__(self, schedule, verbose=0, monitor="val_loss"):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose
        self.monitor = monitor
        self._is_scheduler = hasattr(schedule, "step") and hasattr(schedule, "optimizer")
        if not self._is_scheduler:
            try:
                self._nargs = len(inspect.signature(schedule).parameters)
            except (TypeError, ValueError):
                self._nargs = 2

    def on_epoch_begin(self, epoch, logs=None):
        if self._is_scheduler:
            return
        groups = self.trainer.optimizer.param_groups
        lr = self.schedule(epoch, groups[0]["lr"]) if self._nargs >= 2 else self.schedule(epoch)
        if not isinstance(lr, (int, float)):
            raise ValueError(f'The output of the "schedule" function should be a float, got {lr!r}')
        for group in groups:
            group["lr"] = float(lr)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self.trainer.optimizer.param_groups[0]["lr"]
        if self._is_scheduler:
            _step_scheduler(self.schedule, logs or {}, self.monitor)


def _step_scheduler(scheduler, logs, monitor="val_loss"):
    if isinstance(scheduler, optim.lr_scheduler.ReduceLROnPlateau):
        value = logs.get(monitor, logs.get("loss"))
        if value is not None:
            scheduler.step(value)
    else:
        scheduler.step()


# ----- losses, optimizers and metrics by name -----------------------------

_LOSSES = {
    "cross_entropy": nn.CrossEntropyLoss, "categorical_crossentropy": nn.CrossEntropyLoss,
    "sparse_categorical_crossentropy": nn.CrossEntropyLoss, "nll": nn.NLLLoss,
    "mse": nn.MSELoss, "mean_squared_error": nn.MSELoss, "mae": nn.L1Loss, "l1": nn.L1Loss,
    "mean_absolute_error": nn.L1Loss, "smooth_l1": nn.SmoothL1Loss,
    "bce": nn.BCELoss, "binary_crossentropy": nn.BCELoss, "bce_with_logits": nn.BCEWithLogitsLoss,
}
_OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}


def _resolve_loss(loss):
    if isinstance(loss, str):
        try:
            return _LOSSES[loss.lower()]()
        except KeyError:
            raise ValueError(f"unknown loss {loss!r}; known: {sorted(_LOSSES)}") from None
    if not callable(loss):
        raise TypeError(f"loss must be a callable (a loss module or function) or a name, got {type(loss).__name__}")
    return loss


def _resolve_optimizer(optimizer, model):
    if isinstance(optimizer, str):
        try:
            return _OPTIMIZERS[optimizer.lower()](model.parameters())
        except KeyError:
            raise ValueError(f"unknown optimizer {optimizer!r}; known: {sorted(_OPTIMIZERS)}") from None
    if isinstance(optimizer, type):
        return optimizer(model.parameters())
    return optimizer


def _outputs_probabilities(loss, model):
    """True when the model's outputs are probabilities (threshold 0.5), False for logits (threshold 0)."""
    if isinstance(loss, nn.BCELoss) or loss is F.binary_cross_entropy:
        return True
    if isinstance(loss, nn.BCEWithLogitsLoss) or loss is F.binary_cross_entropy_with_logits:
        return False
    last = model
    while isinstance(last, nn.Sequential) and len(last):
        last = last[-1]
    return isinstance(last, (nn.Sigmoid, nn.Softmax))


class _Accuracy:
    """Counts correct predictions: argmax over the class dimension (dim 1) for
    multi-class outputs, a threshold for a single output per sample."""

    name = "accuracy"

    def __init__(self, threshold):
        self.threshold = threshold

    def __call__(self, output, target):
        if output.dim() >= 2 and output.shape[1] > 1:
            pred = output.argmax(1)
            if target.dtype in _float_dtypes() and tuple(target.shape) == tuple(output.shape):
                target = target.argmax(1)  # one-hot or probability targets
            return (pred == target).sum()
        pred = output.reshape(-1) > self.threshold
        return (pred == (target.reshape(-1) > 0.5)).sum()


class _MeanMetric:
    """A user metric fn(output, target) -> batch mean, weighted by batch size."""

    def __init__(self, fn, name):
        self.fn = fn
        self.name = name

    def __call__(self, output, target):
        value = self.fn(output, target)
        return value * target.shape[0] if isinstance(value, ts.Tensor) else float(value) * target.shape[0]


# ----- data ----------------------------------------------------------------------

def _is_array(a):
    return isinstance(a, ts.Tensor) or type(a).__module__ == "numpy"


def _to_tensor(a, float_dtype, device):
    """A tessel tensor from a tensor, NumPy array or nested list; floating data
    takes the model's dtype (NumPy defaults to float64) and integers int64."""
    if not isinstance(a, ts.Tensor):
        if type(a).__module__ == "numpy":
            import numpy as np
            a = np.ascontiguousarray(a)
            if a.dtype.kind in "iu" and a.dtype != np.int64:
                a = a.astype(np.int64)
            t = ts.from_numpy(a)
        else:
            t = ts.tensor(a)
    else:
        t = a
    if float_dtype is not None and t.dtype in _float_dtypes() and t.dtype != float_dtype:
        t = t.to(float_dtype)
    if device is not None and str(t.device) != device:
        t = t.to(device)
    return t


def _as_inputs(x):
    return tuple(x) if isinstance(x, (tuple, list)) and x and all(_is_array(v) for v in x) else (x,)


class _Arrays:
    """In-memory data: input tensors and a target tensor with the same first dimension."""

    def __init__(self, xs, y, float_dtype, device):
        self.xs = tuple(_to_tensor(x, float_dtype, device) for x in xs)
        self.y = None if y is None else _to_tensor(y, float_dtype, device)
        self.n = self.xs[0].shape[0]
        for t in self.xs + (() if self.y is None else (self.y,)):
            if t.shape[0] != self.n:
                raise ValueError(f"inputs and targets must have the same number of samples, got "
                                 f"{[t.shape[0] for t in self.xs]} and {None if self.y is None else self.y.shape[0]}")

    def split(self, fraction):
        """(train, validation), the validation part being the last `fraction` of the samples (as Keras)."""
        at = int(self.n * (1.0 - fraction))
        if at <= 0 or at >= self.n:
            raise ValueError(f"validation_split={fraction} leaves no training or no validation samples")
        head, tail = _Arrays.__new__(_Arrays), _Arrays.__new__(_Arrays)
        head.xs, tail.xs = tuple(x[:at] for x in self.xs), tuple(x[at:] for x in self.xs)
        head.y, tail.y = (None, None) if self.y is None else (self.y[:at], self.y[at:])
        head.n, tail.n = at, self.n - at
        return head, tail

    def num_batches(self, batch_size):
        return math.ceil(self.n / batch_size)

    def batches(self, batch_size, shuffle):
        n, xs, y = self.n, self.xs, self.y
        if shuffle:
            perm = ts.randperm(n, device=xs[0].device)
            for s in range(0, n, batch_size):
                idx = perm[s:s + batch_size]
                yield (tuple(x.index_select(0, idx) for x in xs),
                       None if y is None else y.index_select(0, idx), idx.shape[0])
        else:
            for s in range(0, n, batch_size):
                e = min(n, s + batch_size)
                yield tuple(x[s:e] for x in xs), None if y is None else y[s:e], e - s


class _Loader:
    """An iterable of (inputs, targets) batches; inputs may be a tuple for multi-input models."""

    def __init__(self, loader, float_dtype, device):
        self.loader = loader
        self.float_dtype = float_dtype
        self.device = device
        self.n = None
        self._used = False

    def num_batches(self, batch_size):
        try:
            return len(self.loader)
        except TypeError:
            return None

    def batches(self, batch_size, shuffle):
        if iter(self.loader) is self.loader:
            if self._used:
                raise ValueError("the data iterator is exhausted: pass a re-iterable loader (or a list of "
                                 "batches) to train for more than one epoch")
            self._used = True
        for item in self.loader:
            if isinstance(item, (tuple, list)) and len(item) == 2:
                x, y = item
            else:
                x, y = item, None
            xs = tuple(_to_tensor(v, self.float_dtype, self.device) for v in _as_inputs(x))
            yt = None if y is None else _to_tensor(y, self.float_dtype, self.device)
            yield xs, yt, xs[0].shape[0]


# ----- progress display ------------------------------------------------------------

class _Progress:
    """One line per epoch. On a terminal the line is redrawn in place ('\\r')
    at most 10 times a second; elsewhere (notebooks, logs) it is printed once
    when the epoch ends."""

    def __init__(self, verbose, epochs, total, unit, stream=None):
        self.verbose = verbose
        self.epochs = epochs
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stdout
        try:
            self.tty = verbose == 1 and self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.last_width = 0

    def begin(self, epoch):
        self.epoch = epoch
        self.start = self.last_draw = time.perf_counter()

    def _line(self, done, samples, logs):
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        head = f"Epoch {self.epoch + 1}/{self.epochs}"
        if self.total:
            width = 30
            filled = int(width * min(done, self.total) / self.total)
            bar = "=" * filled + (">" if filled < width else "") + "." * max(0, width - filled - 1)
            head += f" [{bar}] {done}/{self.total}"
        else:
            head += f" {done} {self.unit}"
        parts = [head, f"{elapsed:.1f}s", f"{samples / elapsed:,.0f} samples/s"]
        parts += [f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items()]
        return " - ".join(parts)

    def update(self, done, samples, logs_fn):
        if not self.tty:
            return
        now = time.perf_counter()
        if now - self.last_draw < 0.1:
            return
        self.last_draw = now
        self._draw(self._line(done, samples, logs_fn()))

    def _draw(self, line):
        pad = " " * max(0, self.last_width - len(line))
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self.last_width = len(line)

    def end(self, done, samples, logs):
        if self.verbose == 0:
            return
        line = self._line(done, samples, logs)
        if self.tty:
            self._draw(line)
            self.stream.write("\n")
            self.stream.flush()
            self.last_width = 0
        else:
            print(line, file=self.stream, flush=True)


# ----- the trainer ---------------------------------------------------------------

class Trainer:
    """Trains `model` with `optimizer` on `loss`. optimizer: an Optimizer, or a
    name ('adam', 'sgd', 'adamw', 'rmsprop') built with its default lr; loss: a
    loss module or function or a name ('cross_entropy', 'mse', 'bce',
    'bce_with_logits', ...); metrics: 'accuracy' and/or fn(output, target) ->
    batch mean; scheduler: a ts.optim.lr_scheduler stepped after every epoch
    (scheduler_interval="batch": after every optimizer step, as OneCycleLR wants)."""

    def __init__(self, model, optimizer, loss, metrics=("accuracy",), scheduler=None, scheduler_interval="epoch"):
        if not isinstance(model, Module):
            raise TypeError(f"model must be a ts.nn.Module, got {type(model).__name__}")
        if scheduler_interval not in ("epoch", "batch"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}")
        self.model = model
        self.optimizer = _resolve_optimizer(optimizer, model)
        self.loss_fn = _resolve_loss(loss)
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.stop_training = False
        self.history = None
        threshold = 0.5 if _outputs_probabilities(self.loss_fn, model) else 0.0
        self.metrics = []
        for m in metrics or ():
            if m in ("accuracy", "acc"):
                self.metrics.append(_Accuracy(threshold))
            elif callable(m):
                self.metrics.append(_MeanMetric(m, getattr(m, "__name__", type(m).__name__)))
            else:
                raise ValueError(f"unknown metric {m!r}: use 'accuracy' or a function (output, target) -> value")

    def _data(self, x, y):
        float_dtype, device = _placement(self.model)
        if y is None and not _is_array(x):
            if isinstance(x, (tuple, list)) and len(x) == 2 and _is_array(x[0]):
                return _Arrays(_as_inputs(x[0]), x[1], float_dtype, device)  # fit((x, y)) as Keras allows
            if not hasattr(x, "__iter__"):
                raise TypeError(f"x must be a tensor, an array or an iterable of (inputs, targets) batches, "
                                f"got {type(x).__name__}")
            return _Loader(x, float_dtype, device)
        if y is None:
            raise ValueError("y is required when x is a tensor or an array")
        return _Arrays(_as_inputs(x), y, float_dtype, device)

    def fit(self, x, y=None, batch_size=32, epochs=1, validation_data=None, validation_split=0.0, shuffle=True,
            seed=None, callbacks=(), verbose=1, initial_epoch=0):
        """Train for `epochs` epochs; returns a History (history.history['loss'], ...)."""
        data = self._data(x, y)
        if validation_split:
            if not isinstance(data, _Arrays):
                raise ValueError("validation_split needs array data; pass validation_data with a data loader")
            data, val = data.split(validation_split)
        else:
            val = None
        if validation_data is not None:
            if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2 \
                    and _is_array(validation_data[1]):
                val = self._data(validation_data[0], validation_data[1])
            else:
                val = self._data(validation_data, None)
        if seed is not None:
            ts.manual_seed(seed)
        # Several ranks (ts.distributed): DDP, this rank's share of the data, rank-0-only output.
        par = _data_parallel(self)
        if par is not None:
            data, callbacks, verbose = par.shard(data), par.callbacks(callbacks), par.verbose(verbose)

        history = History()
        cbs = [history, *callbacks]
        for cb in cbs:
            cb.set_trainer(self)
        batch_cbs = [cb for cb in cbs if type(cb).on_batch_end is not Callback.on_batch_end
                     or type(cb).on_batch_begin is not Callback.on_batch_begin]
        records_lr = self.scheduler is not None or any(isinstance(cb, LearningRateScheduler) for cb in cbs)
        history.params = {"epochs": epochs, "batch_size": batch_size, "samples": data.n,
                          "steps": data.num_batches(batch_size)}
        self.history = history
        self.stop_training = False
        if "stop_training" in self.model.__dict__:
            self.model.__dict__["stop_training"] = False
        total, unit = (data.n, "samples") if data.n is not None else (data.num_batches(batch_size), "batches")
        progress = _Progress(verbose, epochs, total, unit)

        for cb in cbs:
            cb.on_train_begin({})
        model, loss_fn, opt, metrics = self.model, self.loss_fn, self.optimizer, self.metrics
        forward = model if par is None else par.model
        batch_scheduler = self.scheduler if self.scheduler_interval == "batch" else None
        for epoch in range(initial_epoch, epochs):
            logs = {}
            for cb in cbs:
                cb.on_epoch_begin(epoch, logs)
            model.train()
            progress.begin(epoch)
            lr_used = opt.param_groups[0]["lr"]
            sums = _Sums(metrics)
            step = -1
            for step, (xs, yb, n) in enumerate(data.batches(batch_size, shuffle)):
                for cb in batch_cbs:
                    cb.on_batch_begin(step, {"batch": step, "size": n})
                out = forward(*xs)
                loss = loss_fn(out, yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if batch_scheduler is not None:
                    batch_scheduler.step()
                sums.add(loss, out, yb, n)
                if batch_cbs:
                    batch_logs = {"batch": step, "size": n, "loss": float(loss)}
                    for cb in batch_cbs:
                        cb.on_batch_end(step, batch_logs)
                progress.update(sums.count if unit == "samples" else step + 1, sums.count, sums.logs)
            logs.update(sums.logs() if par is None else par.logs(sums))
            if val is not None:
                logs.update({"val_" + k: v for k, v in self._evaluate(val, batch_size).items()})
            if records_lr:
                logs["lr"] = lr_used
            if self.scheduler is not None and batch_scheduler is None:
                _step_scheduler(self.scheduler, logs)
            progress.end(sums.count if unit == "samples" else step + 1, sums.count, logs)
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training or model.__dict__.get("stop_training"):
                break
        for cb in cbs:
            cb.on_train_end({})
        return history

    def _evaluate(self, data, batch_size):
        model = self.model
        was_training = model.training
        model.eval()
        sums = _Sums(self.metrics)
        with ts.no_grad():
            for xs, yb, n in data.batches(batch_size, False):
                out = model(*xs)
                sums.add(self.loss_fn(out, yb), out, yb, n)
        model.train(was_training)
        return sums.logs()

    def evaluate(self, x, y=None, batch_size=32, verbose=0):
        """The mean loss and metrics over the data, as a dict: {'loss': ..., 'accuracy': ...}."""
        logs = self._evaluate(self._data(x, y), batch_size)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return logs

    def predict(self, x, batch_size=32):
        """Model outputs for all of x in eval mode, concatenated along the batch."""
        return _predict(self.model, x, batch_size)


class _Sums:
    """Running sums of the loss and metrics over an epoch. CPU values are read
    at once (item() costs less than a tensor add); on other devices the sums
    stay tensors, so that no batch waits for the device."""

    def __init__(self, metrics):
        self.metrics = metrics
        self.loss = 0.0
        self.values = [0.0] * len(metrics)
        self.count = 0

    def add(self, loss, out, target, n):
        with ts.no_grad():
            on_cpu = loss.is_cpu
            self.loss = self.loss + (loss.item() * n if on_cpu else loss.detach() * n)
            for i, m in enumerate(self.metrics):
                v = m(out, target)
                if on_cpu and isinstance(v, ts.Tensor):
                    v = v.item()
                self.values[i] = self.values[i] + v
        self.count += n

    def logs(self):
        if not self.count:
            return {}
        logs = {"loss": float(self.loss) / self.count}
        for m, v in zip(self.metrics, self.values):
            logs[m.name] = float(v) / self.count
        return logs


def _placement(model):
    """Data follows the model's first floating-point parameter: (dtype, device)."""
    for p in model.parameters():
        if p.dtype in _float_dtypes():
            return p.dtype, str(p.device)
    return None, None


def _predict(model, x, batch_size=32):
    """Model outputs for all of x (tensor, array or iterable of batches), concatenated."""
    float_dtype, device = _placement(model)
    if _is_array(x) or (isinstance(x, (tuple, list)) and x and all(_is_array(v) for v in x)):
        data = _Arrays(_as_inputs(x), None, float_dtype, device)
    else:
        data = _Loader(x, float_dtype, device)
    was_training = model.training
    model.eval()
    outs = []
    with ts.no_grad():
        for xs, _, _ in data.batches(batch_size, False):
            outs.append(model(*xs))
    model.train(was_training)
    if not outs:
        raise ValueError("predict got no data")
    if isinstance(outs[0], (tuple, list)):
        return tuple(ts.cat([o[i] for o in outs]) for i in range(len(outs[0])))
    return ts.cat(outs)


# ----- Module.compile / fit / evaluate / predict ---------------------------------

def _compile(self, optimizer, loss, metrics=("accuracy",), scheduler=None, scheduler_interval="epoch"):
    """Keras-style: attach a Trainer(self, optimizer, loss, ...) for fit/evaluate/predict."""
    self.__dict__["_trainer"] = Trainer(self, optimizer, loss, metrics, scheduler, scheduler_interval)


def _trainer_of(model):
    trainer = model.__dict__.get("_trainer")
    if trainer is None:
        raise RuntimeError("call model.compile(optimizer, loss, metrics) before fit or evaluate")
    return trainer


def _fit(self, x, y=None, **kwargs):
    return _trainer_of(self).fit(x, y, **kwargs)


def _evaluate(self, x, y=None, batch_size=32, verbose=0):
    return _trainer_of(self).evaluate(x, y, batch_size, verbose)


def _predict_method(self, x, batch_size=32):
    return _predict(self, x, batch_size)


_compile.__name__ = "compile"
_fit.__name__, _fit.__doc__ = "fit", Trainer.fit.__doc__
_evaluate.__name__, _evaluate.__doc__ = "evaluate", Trainer.evaluate.__doc__
_predict_method.__name__, _predict_method.__doc__ = "predict", _predict.__doc__
Module.compile = _compile
Module.fit = _fit
Module.evaluate = _evaluate
Module.predict = _predict_method
