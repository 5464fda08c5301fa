"""bench/bench_agent.py: the metrics, ties and ranks of the harness, and its
--smoke mode run for real (4 tables x 30 s, tessel's agent only): every run
ends within 1.05 x budget + 5 s and yields its metric."""
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("sklearn")
spec = importlib.util.spec_from_file_location("bench_agent", ROOT / "bench" / "bench_agent.py")
B = importlib.util.module_from_spec(spec)
spec.loader.exec_module(B)


def test_metrics_are_the_amlb_ones():
    from sklearn.metrics import log_loss, roc_auc_score
    labels = ["no", "yes", "yes", "no", "yes"]
    proba = [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8]]
    auc = B.score("binary", labels, {"classes": ["no", "yes"], "proba": proba})
    assert auc == pytest.approx(roc_auc_score([0, 1, 1, 0, 1], [p[1] for p in proba]))
    # Columns in another order give the same AUC; a class a system never saw has probability 0 (clipped).
    assert B.score("binary", labels, {"classes": ["yes", "no"], "proba": [p[::-1] for p in proba]}) == \
        pytest.approx(auc)
    labels3 = ["a", "b", "c", "a"]
    p3 = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.25, 0.25]]
    assert B.score("multiclass", labels3, {"classes": ["a", "b", "c"], "proba": p3}) == \
        pytest.approx(log_loss([0, 1, 2, 0], p3))
    two = B.score("multiclass", labels3, {"classes": ["a", "b"], "proba": [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5],
                                                                            [0.6, 0.4]]})
    assert math.isfinite(two) and two > 5  # class c at probability 1e-15
    assert B.score("regression", ["1", "2", "4"], {"values": [1.0, 3.0, 4.0]}) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError):
        B.score("regression", ["1", "2"], {"values": [1.0, float("nan")]})


def test_ties_failures_and_ranks():
    assert B.compare("auc", 0.9, 0.8985) == 0 and B.compare("auc", 0.9, 0.897) == 1
    assert B.compare("rmse", 10.0, 10.09) == 0 and B.compare("rmse", 10.0, 10.2) == 1
    assert B.compare("log_loss", 0.5, None) == 1 and B.compare("log_loss", None, 0.5) == -1
    r = B.ranks("rmse", {"a": 10.0, "b": 10.05, "c": 12.0})
    assert r == {"a": 1.5, "b": 1.5, "c": 3}
    r = B.ranks("auc", {"a": None, "b": 0.7, "c": None})
    assert r == {"b": 1, "a": 2.5, "c": 2.5}
    rows = [{"table": "wine", "seed": s, "system": sys_, "value": v, "fit_s": 1.0, "error": None}
            for s, vals in enumerate([(0.9, 0.8), (0.7, 0.8)]) for sys_, v in zip(("tessel", "flaml"), vals)]
    per, mean, pair = B.summarize(rows, ["tessel", "flaml"], ["wine"], [0, 1])  # log loss: lower is better
    assert mean == {"tessel": 1.5, "flaml": 1.5} and pair[("tessel", "flaml")] == 1  # one win, one loss: as good
    assert B.overrun_limit(60) == pytest.approx(68.0)


def test_merge_reads_runs_saved_one_seed_per_file(tmp_path, capsys):
    def saved(seed, vals, load):
        runs = [{"table": "wine", "seed": seed, "system": s, "metric": "log_loss", "value": v, "raw_value": v,
                 "fit_s": 50.0, "error": None} for s, v in vals.items()]
        path = tmp_path / f"s{seed}.json"
        path.write_text(json.dumps({"runs": runs, "budget": 60.0, "load": load, "versions": {"tessel": "0.1"}}))
        return str(path)
    paths = [saved(0, {"tessel": 0.9, "flaml": 0.8}, [0.1, 1.0]), saved(1, {"tessel": 0.7, "flaml": 0.8}, [0.2, 1.5])]
    assert B.main(["--merge", ",".join(paths)]) == 0
    out = capsys.readouterr().out
    assert "| wine | log_loss | 0.8 (50 s) | 0.8 (50 s) | 1.5 | 1.5 |" in out  # means over both seeds
    assert "tessel at least as good as flaml on 1 of 1 tables" in out
    assert "seed 0: mean rank tessel 2.00, flaml 1.00" in out and "seed 1: mean rank tessel 1.00, flaml 2.00" in out
    assert "before 0.10 / after 1.50" in out
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"runs": [], "budget": 30.0}))
    with pytest.raises(SystemExit, match="different budgets"):
        B.main(["--merge", f"{paths[0]},{other}"])


def test_same_split_for_every_system(tmp_path):
    tr, te, labels = B.split("wine", 1, str(tmp_path), None)
    tr2, te2, labels2 = B.split("wine", 1, str(tmp_path), None)
    assert (tr, te, labels) == (tr2, te2, labels2)
    n_test = sum(1 for _ in open(te)) - 1
    assert n_test == len(labels) == math.ceil(178 * 0.2)
    assert sorted(set(labels)) == ["0", "1", "2"]  # stratified: every class in the test split


def test_smoke_runs_within_budget(tmp_path):
    out = tmp_path / "smoke.json"
    env = dict(os.environ)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_agent.py"), "--smoke", "--systems", "tessel",
                        "--cache", str(tmp_path / "data"), "--json", str(out)], env=env, capture_output=True,
                       text=True, timeout=290)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["budget"] == 30.0 and len(res["runs"]) == 4
    assert {x["table"] for x in res["runs"]} == set(B.SMOKE_TABLES)
    for run in res["runs"]:
        assert run["ok"], run
        assert run["fit_s"] <= 1.05 * 30 + 5, run
        assert run["value"] is not None and math.isfinite(run["value"])
    assert "| breast_cancer | auc |" in r.stdout
    assert time.monotonic() - t0 < 180
