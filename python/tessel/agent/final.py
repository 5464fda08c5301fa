"""The final stage when no ensemble wins: the best trial's config retrained
on all the training data, evaluated on the held-out split, exported and
registered."""
import math
import os

from . import plan
from . import trial as trial_mod
from .leaderboard import fmt

__all__ = ["retrain_best", "held_out_metrics", "predict_test"]


def final_epochs(best, seconds_left, data_factor):
    """The best trial's epochs, or fewer when a time budget has only
    `seconds_left` (None: no time budget), and at least one epoch. The trial's
    wall time splits into its epochs (`epoch_seconds`, when recorded) and a
    fixed part (decoding the data, building the model, the last evaluation);
    both scale by `data_factor` (the final run's rows over the trial's), and
    the fixed part is paid before the first epoch."""
    epochs = max(1, int(best["epochs"]))
    # one training run's time (a trial validated on several splits ran several)
    seconds = (best.get("metrics") or {}).get("first_split_s") or best.get("seconds") or 0.0
    in_epochs = best.get("epoch_seconds") or seconds
    per_epoch = in_epochs / epochs * data_factor
    fixed = max(0.0, seconds - in_epochs) * data_factor
    if seconds_left is None or per_epoch <= 0:
        return epochs
    return max(1, min(epochs, int((seconds_left - fixed) // per_epoch)))


def final_trees(best, epochs, data_factor):
    """Boosted trees: the trees the best trial kept (early stopping on its
    validation split) times `data_factor`, as many fewer as `epochs` is below
    the trial's; no early stopping, since the final run's validation data is the
    held-out split, which must not choose the model."""
    kept = int((best.get("metrics") or {}).get("trees") or plan.TREES_PER_EPOCH * int(best["epochs"]))
    n = max(1, round(kept * data_factor))
    if epochs < int(best["epochs"]):
        n = max(1, n * epochs // int(best["epochs"]))
    return {"trees": n, "early_stopping": 0}


def retrain_best(store, run_id, base, best, prep, work, name, register, export, alias, log, stage,
                 seconds_left=None, data_factor=1.25):
    """tessel.train on the whole training split with the best trial's
    parameters and epochs (fewer if a time budget's `seconds_left` cannot
    hold them), validated on the held-out split (register: True for `name`,
    a registry name, or False; stage: the fit's timer). Returns (the run's
    result, test metrics, predictions on the held-out split or None)."""
    with stage("final"):
        epochs = final_epochs(best, seconds_left, data_factor)
        if epochs < best["epochs"]:
            log(f"final: {epochs} of the best trial's {best['epochs']} epochs fit in the {seconds_left:.1f} s left")
        cfg = plan.to_config(base, best["params"], epochs)
        if best["params"]["family"] == "boosted_trees":
            cfg["model"].update(final_trees(best, epochs, data_factor))
        cfg["data"]["val_path"] = prep.test_path
        cfg["experiment"]["run_name"] = f"agent {name} final"
        cfg["experiment"]["tags"] = {"agent.run": run_id, "agent.role": "final", "agent.trial": str(best["trial"])}
        cfg["output"] = {"dir": os.path.join(work, "final"), "export_onnx": bool(export)}
        if register and export:
            cfg["output"]["register"] = name if register is True else register
            cfg["output"]["alias"] = alias
        res = trial_mod.run_train(cfg, store)
    test_metrics = {("test_" + k[4:] if k.startswith("val_") else k): v for k, v in res.metrics.items()
                    if k.startswith("val_")}
    log("final: " + ", ".join(f"{k}={fmt(v)}" for k, v in test_metrics.items() if isinstance(v, float)))
    predictions = None
    if export:
        with stage("evaluate"):
            predictions = predict_test(res.output_dir, prep, log)
    return res, test_metrics, predictions


def predict_test(output_dir, prep, log):
    from ..train import Predictor
    try:
        return Predictor.load(output_dir).predict(prep.test_inputs)
    except Exception as e:  # noqa: BLE001  (the report goes without plots of predictions)
        log(f"warning: predictions on the held-out split failed: {e}")
        return None


def held_out_metrics(predictions, labels, task):
    """test_accuracy/test_loss (log loss), or test_rmse/test_mae/test_r2, of
    Predictor-style predictions against the held-out labels."""
    if task == "classification":
        labels = [str(y) for y in labels]
        acc = sum(p["label"] == y for p, y in zip(predictions, labels)) / len(labels)
        ll = -sum(math.log(max(p["probabilities"].get(y, 0.0), 1e-12)) for p, y in zip(predictions, labels))
        return {"test_accuracy": float(acc), "test_loss": float(ll / len(labels))}
    ys = [float(y) for y in labels]
    ps = [float(p["value"]) for p in predictions]
    err = [a - b for a, b in zip(ps, ys)]
    mean = sum(ys) / len(ys)
    sst = sum((y - mean) ** 2 for y in ys)
    sse = sum(e * e for e in err)
    return {"test_rmse": math.sqrt(sse / len(ys)), "test_mae": sum(abs(e) for e in err) / len(ys),
            "test_r2": 1.0 - sse / sst if sst > 0 else 0.0}
