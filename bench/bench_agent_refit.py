"""The agent's refit (tessel.agent.refit) with the search held fixed: a trial
budget (deterministic), then the evaluated final model and the refit one both
scored on the benchmark's test split of bench_agent.py's tables (AUC, log loss
or RMSE). The time-budgeted benchmark mixes the refit's effect with the
search's run-to-run spread; this isolates it.

    .venv/bin/python bench/bench_agent_refit.py --trials 40 --tables wine,iris,diabetes --seeds 0,1,2

Needs the tables bench_agent.py writes (run it once, or --smoke) under
$TMPDIR/tessel-bench-agent/data.
"""
import argparse
import csv
import math
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _score(folder, items, labels, task):
    from sklearn.metrics import roc_auc_score

    from tessel.train import Predictor
    p = Predictor.load(folder).predict(items)
    if task == "regression":
        return math.sqrt(float(np.mean([(q["value"] - float(v)) ** 2 for q, v in zip(p, labels)])))
    if task == "binary":
        pos = sorted(p[0]["probabilities"])[1]
        return float(roc_auc_score([v == pos for v in labels], [q["probabilities"][pos] for q in p]))
    return float(-np.mean([math.log(max(q["probabilities"].get(v, 0.0), 1e-15)) for q, v in zip(p, labels)]))


def run(table, seed, trials, data_root):
    from bench_agent import TABLES

    from tessel import agent
    _, _, target, task = TABLES[table]
    d = os.path.join(data_root, table, f"seed{seed}")
    res = agent.AutoML(n_trials=trials, seed=seed, store=tempfile.mkdtemp(), register=False, report=False,
                       verbose=False).fit(os.path.join(d, "train.csv"), target,
                                          "regression" if task == "regression" else "classification")
    with open(os.path.join(d, "test.csv")) as f:
        rows = list(csv.DictReader(f))
    cols = {c.name: c for c in res.profile.columns}
    items = []
    for r in rows:
        item = {}
        for k, v in r.items():
            if k == target or k not in cols or cols[k].modality not in ("numeric", "categorical"):
                continue
            v = v.strip()
            item[k] = None if v in ("", "NA", "nan", "NaN") else (float(v) if cols[k].modality == "numeric" else v)
        items.append(item)
    labels = [r[target] for r in rows]
    evaluated = os.path.join(res.work_dir, "ensemble" if res.ensemble and res.ensemble["used"] else "final")
    refit = res.output_dir if res.refit and res.refit["used"] else None
    return task, _score(evaluated, items, labels, task), (None if refit is None else
                                                          _score(refit, items, labels, task))


def main():
    from bench_agent import TABLES
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--tables", default="wine,iris,diabetes,boston,penguins,attrition")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--data-root", default=os.path.join(tempfile.gettempdir(), "tessel-bench-agent", "data"))
    a = p.parse_args()
    better = total = 0
    print(f"bench_agent_refit.py --trials {a.trials} --tables {a.tables} --seeds {a.seeds}")
    print("| table | seed | metric | evaluated | refit |\n|---|---|---|---|---|")
    for t in a.tables.split(","):
        if t not in TABLES:
            p.error(f"unknown table {t!r}")
        for s in (int(x) for x in a.seeds.split(",")):
            task, ev, rf = run(t, s, a.trials, a.data_root)
            metric = {"binary": "auc", "multiclass": "log_loss", "regression": "rmse"}[task]
            print(f"| {t} | {s} | {metric} | {ev:.5g} | {'-' if rf is None else f'{rf:.5g}'} |", flush=True)
            if rf is not None:
                total += 1
                better += (rf > ev) if metric == "auc" else (rf < ev)
    print(f"\nrefit better than the evaluated model in {better} of {total} runs")


if __name__ == "__main__":
    main()
