"""The leaderboard: one row per trial of a study, best first, as text and CSV."""
import csv
import math

__all__ = ["leaderboard_rows", "leaderboard_text", "write_leaderboard_csv"]


def leaderboard_rows(study, repeats=1):
    """One dict per trial of the study: complete trials by validation loss,
    then pruned ones (by their last value), then failed ones, then STOPPED
    ones: trials the time budget ended before their first validation (Optuna
    holds them as FAIL, so the sampler learns nothing from them, but they are
    not failures of their parameters).

    repeats: the train/validation splits each trial was to run (val_repeats).
    A complete trial the budget cut before its last split ranks after every
    trial that ran them all (`splits_cut` True): its mean is over fewer splits,
    a noisier figure that wins by luck more often, and its final model could
    not be the bag of all its split models."""
    from optuna.trial import TrialState
    rows = []
    for t in study.trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue
        a = t.user_attrs
        hist = a.get("history") or []
        value = t.value if t.state == TrialState.COMPLETE else (hist[-1] if hist and hist[-1] is not None else None)
        m = a.get("metrics") or {}
        metric_name = "val_accuracy" if "val_accuracy" in m else ("val_rmse" if "val_rmse" in m else None)
        state = "STOPPED" if t.state == TrialState.FAIL and a.get("over_budget") else t.state.name
        rows.append({"trial": t.number, "state": state, "family": a.get("family", t.params.get("family")),
                     "value": value, "val_metric_name": metric_name,
                     "val_metric": m.get(metric_name) if metric_name else None, "epochs": a.get("epochs", 0),
                     "seconds": a.get("seconds"), "epoch_seconds": a.get("epoch_seconds"), "params": a.get("params") or dict(t.params),
                     "metrics": m, "history": hist, "error": a.get("error"), "output_dir": a.get("output_dir"),
                     "split_dirs": a.get("split_dirs") or [],
                     "splits_cut": t.state == TrialState.COMPLETE and repeats > 1
                     and int(m.get("splits", 1)) < repeats,
                     "run_id": a.get("run_id"), "worker": a.get("worker", 0)})
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "STOPPED": 3}

    def key(r):
        v = r["value"]
        return (order[r["state"]], r["splits_cut"], v if v is not None and math.isfinite(v) else math.inf,
                r["trial"])

    rows.sort(key=key)
    rank = 0
    for r in rows:
        if r["state"] == "COMPLETE":
            rank += 1
            r["rank"] = rank
        else:
            r["rank"] = None
    return rows


def leaderboard_text(rows):
    cols = ("rank", "trial", "family", "state", "val_loss", "metric", "epochs", "seconds")
    cells = [cols]
    for r in rows:
        m = r.get("val_metric")
        cells.append((str(r.get("rank") or "-"), str(r["trial"]), r["family"], r["state"], fmt(r.get("value")),
                      "-" if m is None else f"{r.get('val_metric_name')}={fmt(m)}", str(r.get("epochs", "")),
                      fmt(r.get("seconds"))))
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = []
    for i, c in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(v):
    """A number for the log and the tables: 4 significant digits, '-' for None."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def write_leaderboard_csv(path, rows):
    keys = sorted({k for r in rows for k in r["params"]})
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "trial", "state", "family", "val_loss", "val_metric_name", "val_metric", "epochs",
                    "seconds", "error"] + keys)
        for r in rows:
            w.writerow([r["rank"] or "", r["trial"], r["state"], r["family"], _csv(r["value"]),
                        r["val_metric_name"] or "", _csv(r["val_metric"]), r["epochs"], _csv(r["seconds"]),
                        r["error"] or ""] + [_csv(r["params"].get(k)) for k in keys])


def _csv(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)
