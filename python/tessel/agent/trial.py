"""One trial: a train config run through tessel.train's runner with the
agent's callbacks, and what came out of it (state, value, metrics, time)."""
import dataclasses
import math
import time
import traceback

from .search import PruningCallback, TrialOverBudget

__all__ = ["TrialOutcome", "run_train", "run_trial"]


@dataclasses.dataclass
class TrialOutcome:
    state: str                 # COMPLETE, PRUNED, FAIL
    value: float = None        # the last validation loss
    epochs: int = 0
    seconds: float = 0.0
    metrics: dict = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)
    output_dir: str = None
    run_id: str = None
    error: str = None
    over_budget: bool = False
    epoch_seconds: list = dataclasses.field(default_factory=list)
    split_dirs: list = dataclasses.field(default_factory=list)  # the other splits' models (val_repeats)


def run_train(config, store, callbacks=()):
    """tessel.train.run(config) with extra fit callbacks (the pruning callback)."""
    from ..train import runner
    return runner.run(config, store=store, callbacks=list(callbacks))


def _short_error(e):
    text = str(e).strip() or type(e).__name__
    line = text.splitlines()[0]
    return f"{type(e).__name__}: {line}"[:500]


def run_trial(config, store, trial, deadline=None, train_fn=None, repeats=1):
    """Runs one trial; never raises for a failure of the training itself
    (the outcome says FAIL with the error), only for KeyboardInterrupt.
    repeats > 1: a trial that completes is trained again on repeats - 1 other
    train/validation splits (data.seed + r), and its value is the mean
    validation loss over the splits (pruning reads the first split only)."""
    out = _run_one(config, store, trial, deadline, train_fn, report=True)
    if repeats > 1 and out.state == "COMPLETE":
        _repeat(out, config, store, trial, deadline, train_fn, repeats)
    return out


def _repeat(out, config, store, trial, deadline, train_fn, repeats):
    import copy
    import shutil
    values, trees = [out.value], [out.metrics.get("trees")]
    out.metrics["first_split_s"] = out.seconds  # what the final retrain (one split) is timed by
    for r in range(1, repeats):
        if deadline is not None and time.monotonic() > deadline:
            break
        cfg = copy.deepcopy(config)
        cfg["data"]["seed"] = int(cfg["data"].get("seed") or 0) + r
        if cfg.get("experiment", {}).get("run_name"):
            cfg["experiment"]["run_name"] += f" split {r + 1}"
        cfg["output"] = dict(cfg.get("output") or {}, dir=cfg["output"]["dir"] + f"-split{r + 1}")
        o = _run_one(cfg, store, trial, deadline, train_fn, report=False)
        out.seconds += o.seconds
        if o.state != "COMPLETE":
            shutil.rmtree(cfg["output"]["dir"], ignore_errors=True)
            if not o.over_budget:  # a split that fails fails the trial
                out.state, out.error = "FAIL", f"split {r + 1}: {o.error}"
            break
        # Kept: the final model of a trial judged on several splits is the average of its split models (a bag).
        out.split_dirs.append(o.output_dir)
        values.append(o.value)
        trees.append(o.metrics.get("trees"))
    out.metrics["split_val_losses"] = values
    out.metrics["splits"] = len(values)
    out.value = sum(values) / len(values)
    if all(isinstance(t, (int, float)) for t in trees):
        out.metrics["trees"] = round(sum(trees) / len(trees))


def _run_one(config, store, trial, deadline, train_fn, report):
    cb = PruningCallback(trial, "val_loss", deadline, report=report)
    t0 = time.perf_counter()
    fn = train_fn or run_train
    try:
        res = fn(config, store, [cb])
    except TrialOverBudget as e:
        seconds = time.perf_counter() - t0
        values = [v for v in cb.values if math.isfinite(v)]
        state = "PRUNED" if values else "FAIL"
        return TrialOutcome(state, values[-1] if values else None, len(cb.values), seconds,
                            history=list(cb.values), error=str(e), over_budget=True,
                            epoch_seconds=list(cb.epoch_times))
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001  (a crashing trial is recorded and the study goes on)
        return TrialOutcome("FAIL", None, len(cb.values), time.perf_counter() - t0, history=list(cb.values),
                            error=_short_error(e), metrics={"traceback": traceback.format_exc(limit=6)})
    seconds = time.perf_counter() - t0
    metrics = dict(getattr(res, "metrics", None) or {})
    out = TrialOutcome("COMPLETE", None, len(cb.values), seconds, metrics=metrics, history=list(cb.values),
                       output_dir=getattr(res, "output_dir", None), run_id=getattr(res, "run_id", None),
                       epoch_seconds=list(cb.epoch_times))
    if not cb.values:
        v = metrics.get("val_loss")
        out.value = float(v) if isinstance(v, (int, float)) else None
    else:
        out.value = cb.values[-1]
    if out.value is None or not math.isfinite(out.value):
        out.state = "FAIL"
        out.error = f"validation loss is {out.value} (the training diverged)" if out.value is not None else \
            "the run reported no validation loss"
    elif cb.pruned:
        out.state = "PRUNED"
    return out
