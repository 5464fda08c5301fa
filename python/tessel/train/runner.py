"""The runner of `tessel train`: config -> data -> model -> fit (tracked) ->
output folder (config.yaml, model.safetensors, model.onnx, signature.json,
metrics.json, history.csv) -> registry version (output.register).
"""
import csv
import datetime
import json
import math
import os
import sys
import time

import numpy as np

import tessel as ts

from ..config import ConfigError
from ..config.schema import TrainConfig, flatten
from ..training import Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint, Trainer
from .metrics import classification_metrics, regression_metrics, scalar_metrics
from .sources import load_data
from ..utils.jsonable import jsonable as _jsonable

__all__ = ["run", "register", "TrainResult", "build_optimizer", "build_scheduler", "write_signature", "evaluate_arrays"]

_DTYPES = {"float32": "FP32", "int64": "INT64"}


class TrainResult:
    """What run() returns: output_dir, run_id, metrics, config, model_version (a dict or None), model."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def to_dict(self):
        return {"run_id": self.run_id, "output_dir": self.output_dir, "metrics": self.metrics,
                "model_version": None if self.model_version is None else
                {k: self.model_version[k] for k in ("name", "version", "folder", "aliases")}}


# ----- pieces -------------------------------------------------------------------------------------------

def build_optimizer(cfg, params):
    o = cfg["optimizer"]
    name, lr, wd = o["name"], o["lr"], o["weight_decay"]
    if name == "sgd":
        return ts.optim.SGD(params, lr=lr, momentum=o["momentum"], weight_decay=wd, nesterov=o["nesterov"])
    if name == "adam":
        return ts.optim.Adam(params, lr=lr, betas=tuple(o["betas"]), weight_decay=wd)
    if name == "adamw":
        return ts.optim.AdamW(params, lr=lr, betas=tuple(o["betas"]), weight_decay=wd)
    if name == "rmsprop":
        return ts.optim.RMSprop(params, lr=lr, momentum=o["momentum"], weight_decay=wd)
    raise ConfigError(f"optimizer.name: unknown optimizer {name!r}")


def build_scheduler(cfg, opt, steps_per_epoch):
    """(scheduler or None, interval 'epoch'|'batch', callback or None)."""
    s, epochs = cfg["schedule"], cfg["train"]["epochs"]
    lrs = ts.optim.lr_scheduler
    name = s["name"]
    if name == "none":
        return None, "epoch", None
    if name == "step":
        return lrs.StepLR(opt, step_size=s["step_size"], gamma=s["gamma"]), "epoch", None
    if name == "exponential":
        return lrs.ExponentialLR(opt, gamma=s["gamma"]), "epoch", None
    if name == "cosine":
        return lrs.CosineAnnealingLR(opt, T_max=epochs, eta_min=s["min_lr"]), "epoch", None
    if name == "onecycle":
        max_lr = s["max_lr"] or cfg["optimizer"]["lr"] * 10
        return lrs.OneCycleLR(opt, max_lr=max_lr, total_steps=max(1, epochs * steps_per_epoch)), "batch", None
    if name == "plateau":
        mode = "max" if any(t in s["monitor"] for t in ("acc", "f1", "r2")) else "min"
        sched = lrs.ReduceLROnPlateau(opt, mode=mode, factor=s["factor"], patience=s["patience"], min_lr=s["min_lr"])
        return None, "epoch", LearningRateScheduler(sched, monitor=s["monitor"])
    raise ConfigError(f"schedule.name: unknown schedule {name!r}")


class _EpochLog(Callback):
    """Progress on stderr: a bar over the batches on a terminal (tessel.utils.progress),
    and one plain line per epoch in any case."""

    def __init__(self, epochs, steps, stream=None):
        super().__init__()
        self.epochs, self.steps = epochs, steps
        self.stream = stream or sys.stderr
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()
        if self.tty:
            from ..utils.progress import Progress
            self.bar = Progress(total=self.steps, desc=f"epoch {epoch + 1}/{self.epochs}", unit="batch",
                                file=self.stream)

    def on_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix(loss=float((logs or {}).get("loss", float("nan"))))
            self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        parts = [f"{k}={v:.4g}" for k, v in (logs or {}).items() if isinstance(v, (int, float))]
        print(f"epoch {epoch + 1}/{self.epochs} ({time.perf_counter() - self.t0:.1f}s): {' '.join(parts)}",
              file=self.stream, flush=True)


class _ScaledMAE:
    """Per-epoch MAE of a regression in the label's units (the model sees standardized labels)."""

    def __init__(self, std):
        self.std = std
        self.__name__ = "mae"

    def __call__(self, out, target):
        return (out - target).abs().mean() * self.std


def _format_dir(pattern, cfg):
    now = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        return pattern.format(experiment=cfg["experiment"]["name"], time=now,
                              run_name=cfg["experiment"]["run_name"] or now)
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(f"output.dir: {pattern!r} has an unknown placeholder ({e}); use {{experiment}}, {{time}}, "
                          f"{{run_name}}") from None


def _prepare_output(cfg):
    """(folder, claimed). A pattern with {time} means a new folder per run: it is
    claimed now (mkdir), with -2, -3, ... when two runs start in the same second."""
    pattern = cfg["output"]["dir"]
    out = os.path.abspath(_format_dir(pattern, cfg))
    if "{time}" in pattern:
        base, n = out, 1
        while True:
            try:
                os.makedirs(out)
                return out, True
            except FileExistsError:
                n += 1
                out = f"{base}-{n}"
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"output.dir: {out} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not cfg["output"]["overwrite"]:
        raise ConfigError(f"output.dir: {out} is not empty (set output.overwrite: true or choose another folder)")
    return out, False


def _model_keys(cfg, data):
    from ..models import model_keys
    return model_keys(cfg["model"], data.modality, data.preprocess)


def evaluate_arrays(model, x, y, task, classes, target=None, batch_size=256):
    """Metrics of a tessel model on tensors (labels as load_data encodes them)."""
    out = _outputs(model, x, batch_size)
    y = y.numpy()
    if task == "classification":
        return classification_metrics(out, y, classes)
    t = target or {"mean": 0.0, "std": 1.0}
    return regression_metrics(out[:, 0] * t["std"] + t["mean"], y.reshape(-1) * t["std"] + t["mean"])


def _outputs(model, x, batch_size):
    model.eval()
    outs = []
    with ts.no_grad():
        for s in range(0, x.shape[0], batch_size):
            outs.append(model(x[s:s + batch_size]).float().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)


def signature_of(data, num_outputs):
    dtype = data.input_dtype
    return {"format": 1, "task": data.task, "modality": data.modality,
            "inputs": [{"name": "input", "dtype": dtype, "datatype": _DTYPES[dtype],
                        "shape": [-1, *[int(s) for s in data.input_shape]]}],
            "outputs": [{"name": "output", "dtype": "float32", "datatype": "FP32", "shape": [-1, num_outputs]}],
            "classes": data.classes if data.task == "classification" else None,
            "output_kind": "logits" if data.task == "classification" else "value",
            "preprocess": data.preprocess}


def write_signature(path, sig):
    with open(path, "w") as f:
        json.dump(sig, f, indent=1)


def export_onnx(model, example, path, opset=17):
    model.eval()
    ts.onnx.export(model, (example,), path, input_names=["input"], output_names=["output"],
                   dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=opset)


def _write_history(path, history):
    keys = list(history.history)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch"] + keys)
        for i, e in enumerate(history.epoch):
            w.writerow([e + 1] + [history.history[k][i] if i < len(history.history[k]) else "" for k in keys])




# ----- the run ------------------------------------------------------------------------------------------

def _as_config(config, overrides):
    if isinstance(config, TrainConfig):
        if overrides:
            return TrainConfig(config.raw, overrides, base_dir=config.base_dir, source=config.source)
        return config
    if isinstance(config, dict):
        return TrainConfig(config, overrides)
    return TrainConfig.from_file(config, overrides)


def run(config, overrides=(), store=None, log=None, callbacks=()):
    """Trains what `config` (a path, a dict or a TrainConfig) describes; returns a TrainResult.
    store: a ts.store.Store or a folder/URL overriding experiment.store. log: a stream
    for progress (default stderr; verbose false prints nothing). callbacks: extra
    ts.Callback objects for fit (e.g. a tuner's pruning callback that reads val_loss
    each epoch and sets trainer.stop_training, or raises to abandon the trial)."""
    tc = _as_config(config, overrides)
    cfg = tc.resolve()
    tr = cfg["train"]
    stream = log or sys.stderr
    ts.manual_seed(tr["seed"])
    np.random.seed(tr["seed"] % 2**32)
    t_start = time.perf_counter()

    # Under a launcher (tessel launch / mpirun) every rank trains, through DDP
    # inside fit; only rank 0 owns the output folder, the tracked run and the
    # registry version, and prints.
    if _launch_rank() != 0:
        cfg["experiment"]["track"] = False
        tr["verbose"] = False
        out, claimed = None, False
    else:
        out, claimed = _prepare_output(cfg)  # checked before the data is read
    opened = []
    try:
        return _run(tc, cfg, out, store, stream, callbacks, t_start, opened)
    except BaseException:
        if claimed and out and os.path.isdir(out) and not os.listdir(out):
            os.rmdir(out)  # a failure before anything was written gives the claimed folder back
        raise
    finally:
        for st in opened:
            st.close()


def _run(tc, cfg, out, store, stream, callbacks, t_start, opened):
    tr = cfg["train"]
    data = load_data(cfg)
    if out is not None:
        os.makedirs(out, exist_ok=True)
        cfg["output"]["dir"] = out
    if tr["verbose"]:
        n_val = 0 if data.x_val is None else data.x_val.shape[0]
        print(f"data: {data.modality} {data.task}, {data.x_train.shape[0]} train / {n_val} val samples, input "
              f"{list(data.input_shape)}" + (f", {len(data.classes)} classes" if data.classes else "")
              + (f", {len(data.skipped)} files skipped" if data.skipped else ""), file=stream, flush=True)

    from ..models import build_model
    model = build_model(_model_keys(cfg, data), data.input_shape, data.num_outputs, data.task, data.modality,
                        search_path=tc.base_dir)
    from ..models import BoostedTrees, solver_trainer
    solved = solver_trainer(model, data.task)  # boosted_trees, linear: fit by a solver, not by gradient steps
    if solved is not None and tr["device"] != "cpu":
        raise ConfigError(f"train.device: {cfg['model']['name']} trains on the cpu, got {tr['device']!r}")
    if tr["device"] != "cpu":
        model = model.to(tr["device"])
    n_params = sum(p.numel() for p in model.parameters())
    steps = (len(data.train_loader) if data.train_loader is not None
             else math.ceil(data.x_train.shape[0] / tr["batch_size"]))
    if solved is not None:  # no optimizer, no schedule; the trees or solver iterations as "steps"
        opt = scheduler = sched_cb = None
        steps = model.settings.get("trees") or model.settings["iterations"]
    else:
        opt = build_optimizer(cfg, model.parameters())
        scheduler, interval, sched_cb = build_scheduler(cfg, opt, steps)

    if data.task == "classification":
        loss = ts.nn.CrossEntropyLoss(label_smoothing=tr["label_smoothing"])
        metrics = ("accuracy",)
    else:
        loss = {"auto": ts.nn.MSELoss, "mse": ts.nn.MSELoss, "mae": ts.nn.L1Loss, "smooth_l1": ts.nn.SmoothL1Loss,
                "cross_entropy": None}[tr["loss"]]
        if loss is None:
            raise ConfigError("train.loss: cross_entropy needs a classification task (data.task)")
        loss = loss()
        metrics = (_ScaledMAE(data.preprocess["target"]["std"]),)
    if data.task == "classification" and tr["loss"] not in ("auto", "cross_entropy"):
        raise ConfigError(f"train.loss: {tr['loss']} needs a regression task; classification uses cross_entropy")
    if solved is not None:
        # the solvers fit squared error or log loss, nothing else
        if tr["loss"] not in ("auto", "mse", "cross_entropy") or tr["label_smoothing"]:
            what = f"train.loss {tr['loss']}" if tr["loss"] not in ("auto", "mse", "cross_entropy") else \
                "train.label_smoothing"
            raise ConfigError(f"{what}: {cfg['model']['name']} fits squared error (regression) or log loss "
                              f"(classification) only")
        trainer = solved
    else:
        trainer = Trainer(model, opt, loss, metrics=metrics, scheduler=scheduler, scheduler_interval=interval)

    has_val = data.x_val is not None
    extra = list(callbacks)
    callbacks = []
    if tr["verbose"]:
        callbacks.append(_EpochLog(tr["epochs"], steps, stream))
    if sched_cb is not None:
        callbacks.append(sched_cb)

    def monitor(name):
        return name if has_val or not name.startswith("val_") else name[4:]

    es = tr["callbacks"]["early_stopping"]
    early = None
    if es["enabled"]:
        early = EarlyStopping(monitor=monitor(es["monitor"]), patience=es["patience"], min_delta=es["min_delta"],
                              restore_best_weights=es["restore_best_weights"])
        callbacks.append(early)
    ck = tr["callbacks"]["checkpoint"]
    if ck["enabled"] and out is not None:
        os.makedirs(os.path.join(out, "checkpoints"), exist_ok=True)
        callbacks.append(ModelCheckpoint(os.path.join(out, "checkpoints", "epoch-{epoch:03d}.safetensors"),
                                         monitor=monitor(ck["monitor"]), save_best_only=ck["save_best_only"]))
    tracker = None
    st = None
    if cfg["experiment"]["track"]:
        from .. import store as tstore
        from ..callbacks import Tracker
        # A folder or SQLite location goes to the Tracker as is: its lean writer
        # records the training without SQLAlchemy; the Store for the output's
        # records and the registry is opened after fit.
        location = None
        if store is None or isinstance(store, (str, os.PathLike)):
            location = store or cfg["experiment"]["store"]
        else:
            st = store
        params = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in flatten(cfg).items()}
        tracker = Tracker(experiment=cfg["experiment"]["name"], store=location if st is None else st,
                          run_name=cfg["experiment"]["run_name"], log_model=False, params=params,
                          tags={"source": "tessel train", "config": tc.source or "", **cfg["experiment"]["tags"]})
        callbacks.append(tracker)
    callbacks += extra  # after the tracker, so that a callback that raises still leaves the epoch recorded

    validation = (data.x_val, data.y_val) if has_val else None
    if callable(getattr(model, "adapt", None)) and data.x_train is not None:
        model.adapt(data.x_train)  # statistics of the training inputs (Keras's adapt): text_tf's idf
    try:
        if data.train_loader is not None:
            history = trainer.fit(data.train_loader, epochs=tr["epochs"], validation_data=validation,
                                  seed=tr["seed"], callbacks=callbacks, verbose=0, batch_size=tr["batch_size"])
        else:
            history = trainer.fit(data.x_train, data.y_train, batch_size=tr["batch_size"], epochs=tr["epochs"],
                                  validation_data=validation, shuffle=True, seed=tr["seed"], callbacks=callbacks,
                                  verbose=0)
    except BaseException:
        if tracker is not None and not tracker._finished:
            try:  # ends the run as FAILED/KILLED with what was recorded
                tracker.close("KILLED" if isinstance(sys.exc_info()[1], KeyboardInterrupt) else "FAILED")
            except Exception:  # noqa: BLE001  (the training error is the one to report)
                pass
        raise
    train_time = time.perf_counter() - t_start
    model.eval()

    # ----- final metrics (validation data, else training data), in the label's units
    ex, ey = (data.x_val, data.y_val) if has_val else (data.x_train, data.y_train)
    final = evaluate_arrays(model, ex, ey, data.task, data.classes, data.preprocess.get("target"))
    prefix = "val_" if has_val else "train_"
    metrics_out = {prefix + k: v for k, v in final.items() if k not in ("classes",)}
    if data.task == "classification" and has_val:
        tr_m = evaluate_arrays(model, data.x_train, data.y_train, data.task, data.classes)
        metrics_out["train_accuracy"] = tr_m["accuracy"]
    metrics_out.update({"epochs_run": len(history.epoch), "train_time_s": train_time, "num_parameters": n_params,
                        "train_samples": int(data.x_train.shape[0]), "skipped": data.skipped})
    if early is not None and early.stopped_epoch:
        metrics_out["stopped_epoch"] = early.stopped_epoch + 1
    if isinstance(model, BoostedTrees):
        metrics_out["trees"] = model.num_trees

    if out is None:  # a rank other than 0: rank 0 writes the same model
        return TrainResult(output_dir=None, run_id=None, metrics=metrics_out, config=cfg, model_version=None,
                           model=model, data=data, history=history)

    # ----- the output folder
    import yaml
    with open(os.path.join(out, "config.yaml"), "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    ts.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            os.path.join(out, "model.safetensors"))
    model_cpu = model.to("cpu") if tr["device"] != "cpu" else model
    sig = signature_of(data, data.num_outputs)
    write_signature(os.path.join(out, "signature.json"), sig)
    onnx_path = None
    if cfg["output"]["export_onnx"]:
        onnx_path = os.path.join(out, "model.onnx")
        export_onnx(model_cpu, data.x_train[:1].cpu(), onnx_path, cfg["output"]["opset"])
    _write_history(os.path.join(out, "history.csv"), history)
    run_id = tracker.run_id if tracker is not None else None
    metrics_out["run_id"] = run_id
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(_jsonable(metrics_out), f, indent=1)

    # ----- tracking: final metrics and the output files as artifacts; lineage; registry
    version = None
    if tracker is not None and st is None:
        st = tstore.open(location)
        opened.append(st)
    if st is not None:
        final_points = [(f"final/{k}", len(history.epoch), float(v)) for k, v in scalar_metrics(metrics_out).items()
                        if isinstance(v, (int, float)) and math.isfinite(float(v))]
        st.log_metrics(run_id, final_points)
        for fname in ("config.yaml", "model.safetensors", "model.onnx", "signature.json", "metrics.json",
                      "history.csv"):
            p = os.path.join(out, fname)
            if os.path.exists(p):
                st.log_artifact(run_id, p, f"output/{fname}")
        st.set_tags(run_id, {"output_dir": out})
        for src in data.sources:
            st.log_data(run_id, src)
        reg = cfg["output"]["register"]
        if reg:
            version = register(out, reg, store=st, alias=cfg["output"]["alias"], run_id=run_id)
    if tr["verbose"]:
        shown = " ".join(f"{k}={v:.4g}" for k, v in metrics_out.items()
                         if isinstance(v, float) and k.startswith(("val_", "train_")) and "time" not in k)
        print(f"done in {train_time:.1f}s: {shown}; output {out}"
              + (f"; registered {version['name']} version {version['version']}" if version else ""),
              file=stream, flush=True)
    return TrainResult(output_dir=out, run_id=run_id, metrics=metrics_out, config=cfg, model_version=version,
                       model=model, data=data, history=history)


def _launch_rank():
    """This process's rank as its launcher's environment gives it (0 when not launched)."""
    from .. import distributed
    if distributed.is_initialized():
        return distributed.get_rank()
    return int(distributed.launch_info().get("rank", 0) or 0)


def register(output_dir, name, store=None, alias=None, run_id=None, description=None):
    """Registers a train output folder as a new version of model `name` (the
    ONNX file, the weights, the resolved config, signature.json, the scalar
    metrics, the run that produced it) and returns the version's dict. The
    version folder gets config.yaml, metrics.json and history.csv too, so
    Predictor.load and `tessel serve --model-repository` work on it. store: a
    ts.store.Store, a folder or a URL (default $TESSEL_STORE / ./tessel-store);
    run_id: default the run recorded in metrics.json when it is in this store."""
    import shutil
    import yaml
    from .. import store as tstore
    from .predictor import read_signature
    out = os.fspath(output_dir)
    for fname in ("config.yaml", "model.safetensors", "signature.json", "metrics.json"):
        if not os.path.isfile(os.path.join(out, fname)):
            raise FileNotFoundError(f"{out} is not a tessel train output folder: it has no {fname}")
    with open(os.path.join(out, "config.yaml")) as f:
        cfg = yaml.safe_load(f)
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    onnx_path = os.path.join(out, "model.onnx")
    st = store if isinstance(store, tstore.Store) else tstore.open(store)
    try:
        if run_id is None and metrics.get("run_id"):
            # The run that trained it, when it is in this store (a model trained
            # against another store registers without a lineage link).
            try:
                run_id = st.resolve_run(metrics["run_id"])
            except Exception:  # noqa: BLE001
                run_id = None
        version = st.register_model(name, onnx=onnx_path if os.path.isfile(onnx_path) else None,
                                    weights=os.path.join(out, "model.safetensors"), config=cfg,
                                    signature=read_signature(out), run_id=run_id,
                                    metrics={k: float(v) for k, v in scalar_metrics(metrics).items()},
                                    alias=alias, description=description)
        for fname in ("config.yaml", "metrics.json", "history.csv"):
            if os.path.isfile(os.path.join(out, fname)):
                shutil.copyfile(os.path.join(out, fname), os.path.join(version["folder"], fname))
    finally:
        if st is not store:
            st.close()
    return version
