"""Ensemble selection (tessel.agent.ensemble): greedy selection with
replacement on validation predictions, the one-graph ONNX export checked with
onnxruntime against the weighted sum of its members, and the agent using the
ensemble when it beats the best single model on the shared validation split."""
import json
import re
import os

import numpy as np
import pytest

import tessel as ts
from tessel import agent
from tessel.agent import ensemble as E

from test_agent import sklearn_csv


# ----- selection --------------------------------------------------------------------------------------

def test_select_mixes_complementary_members():
    # Two regressors with opposite biases: their mean is exact, each alone is off by 1.
    y = np.linspace(-1, 1, 20)
    preds = np.stack([y + 1.0, y - 1.0, y + 3.0])
    w, loss = E.select(preds, y, "regression", n_iter=10)
    assert w.tolist() == [0.5, 0.5, 0.0]
    assert loss == pytest.approx(0.0, abs=1e-12)


def test_select_keeps_one_member_when_it_is_best():
    y = np.array([0, 1, 2, 1])
    good = np.eye(3)[y] * 0.9 + 0.1 / 3
    bad = np.full((4, 3), 1 / 3)
    w, loss = E.select(np.stack([bad, good]), y, "classification", n_iter=5)
    assert w.tolist() == [0.0, 1.0]
    assert loss == pytest.approx(-np.log(0.9 + 0.1 / 3))


def test_select_weights_sum_to_one_and_repeat():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 50)
    preds = rng.dirichlet(np.ones(3), size=(4, 50))
    w1, l1 = E.select(preds, y, "classification", n_iter=15)
    w2, l2 = E.select(preds, y, "classification", n_iter=15)
    assert w1.sum() == pytest.approx(1.0) and (w1 == w2).all() and l1 == l2
    # The selected average is no worse than the best member alone.
    assert l1 <= min(E.loss_of(p, y, "classification") for p in preds) + 1e-12


def test_select_bad_input():
    with pytest.raises(ValueError, match="n_iter"):
        E.select(np.zeros((2, 3)), np.zeros(3), "regression", n_iter=0)
    with pytest.raises(ValueError, match="at least one member"):
        E.select(np.zeros((0, 3)), np.zeros(3), "regression")


# ----- one ONNX graph ----------------------------------------------------------------------------------

def _linear_onnx(path, w, b):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    g = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["h"], name="mm"),
         helper.make_node("Add", ["h", "B"], ["output"], name="add")], "lin",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", w.shape[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", w.shape[1]])],
        initializer=[numpy_helper.from_array(w.astype(np.float32), "W"),
                     numpy_helper.from_array(b.astype(np.float32), "B")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_export_onnx_equals_weighted_sum(tmp_path, task):
    import onnxruntime as ort
    rng = np.random.default_rng(1)
    k = 3 if task == "classification" else 1
    # The members share node and tensor names ("mm", "W", ...): the prefixes keep them apart.
    members = [_linear_onnx(tmp_path / f"m{i}.onnx", rng.normal(size=(4, k)), rng.normal(size=k)) for i in range(3)]
    weights = [0.5, 0.0, 0.5] if task == "regression" else [0.2, 0.3, 0.5]
    path = E.export_onnx(members, weights, task, tmp_path / "ens.onnx")
    x = rng.normal(size=(7, 4)).astype(np.float32)
    outs = [ort.InferenceSession(m).run(None, {"input": x})[0] for m in members]
    got = ort.InferenceSession(path).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, E.ensemble_onnx_outputs(outs, weights, task), rtol=1e-5, atol=1e-5)
    # The same graph in tessel's own runtime (what serving uses).
    mine = ts.onnx.load(path).run({"input": ts.from_numpy(x)})
    np.testing.assert_allclose(list(mine.values())[0].numpy(), got, rtol=1e-5, atol=1e-5)
    if task == "classification":  # softmax of the output gives the averaged probabilities back
        p = np.exp(got) / np.exp(got).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    else:  # a member with weight 0 is left out of the graph
        import onnx
        prefixes = {n.name.split("_")[0] for n in onnx.load(path).graph.node if n.name.startswith("m")}
        assert prefixes == {"m0", "m1"}


def test_export_onnx_bad_input(tmp_path):
    m = _linear_onnx(tmp_path / "m.onnx", np.ones((2, 1)), np.zeros(1))
    with pytest.raises(ValueError, match="positive weight"):
        E.export_onnx([m], [0.0], "regression", tmp_path / "e.onnx")
    with pytest.raises(ValueError, match="task"):
        E.export_onnx([m], [1.0], "ranking", tmp_path / "e.onnx")


# ----- the agent ---------------------------------------------------------------------------------------

def _fit(tmp_path, path, sub, **kw):
    # one split per trial: each member one model (test_agent_trees.py checks members that are bags of splits)
    kw = dict(dict(n_trials=4, max_epochs=3, seed=0, verbose=False, store=str(tmp_path / sub), val_repeats=1), **kw)
    return agent.AutoML(**kw).fit(path, target="target")


def test_agent_uses_a_better_ensemble(tmp_path):
    import onnxruntime as ort
    path = sklearn_csv(tmp_path, "diabetes")
    # refit=False: the evaluated ensemble is what is registered (test_agent_refit.py checks the refit one)
    res = _fit(tmp_path, path, "s1", refit=False)
    e = res.ensemble
    assert e is not None and e["used"] and e["val_loss"] < e["best_single_loss"]
    weights = [m["weight"] for m in e["members"]]
    assert sum(weights) == pytest.approx(1.0) and sum(w > 0 for w in weights) >= 2
    # The final model is the ensemble: one ONNX graph, registered as champion, evaluated on the held-out split.
    assert res.output_dir.endswith("ensemble") and res.model_version["aliases"] == ["champion"]
    assert set(res.test_metrics) == {"test_rmse", "test_mae", "test_r2"}
    ys = np.array(res.test_labels, dtype=float)
    ps = np.array([p["value"] for p in res.predictions])
    assert res.test_metrics["test_rmse"] == pytest.approx(np.sqrt(np.mean((ps - ys) ** 2)))
    # The registered graph equals the weighted sum of the exported members (onnxruntime as the oracle).
    pred = ts.train.Predictor.load(res.model_version["folder"])
    x = pred.preprocess(_rows(path)[:9]).numpy()
    # member-<trial>.onnx, in the order of e["members"] (best single first, then the other families' best)
    members = [f"member-{m['trial']:04d}.onnx" for m in e["members"] if m["weight"] > 0]
    assert sorted(members) == sorted(f for f in os.listdir(res.output_dir) if f.startswith("member-"))
    outs = [ort.InferenceSession(os.path.join(res.output_dir, f)).run(None, {"input": x})[0] for f in members]
    got = ort.InferenceSession(os.path.join(res.model_version["folder"], "model.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, E.ensemble_onnx_outputs(outs, [w for w in weights if w > 0], "regression"),
                               rtol=1e-5, atol=1e-5)
    # Its config says what it is and where its held-out data is (tessel evaluate's default data).
    cfg = ts.train.predictor.read_config(res.output_dir)
    assert cfg["data"]["val_path"].endswith("test.csv")
    assert [m["weight"] for m in cfg["ensemble"]["members"]] == [w for w in weights if w > 0]
    # Leaderboard text, report and artifacts show the ensemble and its weights.
    assert "ensemble: val_loss=" in res.leaderboard_table() and "(used)" in res.leaderboard_table()
    html = open(res.report_path).read()
    assert "<h2>Ensemble</h2>" in html and "the ensemble is the final model" in html
    assert json.load(open(os.path.join(res.work_dir, "ensemble.json")))["used"] is True
    # Deterministic with a seed and a trial budget: the same weights again.
    again = _fit(tmp_path, path, "s2", refit=False)
    assert [m["weight"] for m in again.ensemble["members"]] == weights
    assert again.test_metrics == pytest.approx(res.test_metrics)


def _rows(path):
    import csv
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [{k: float(v) for k, v in r.items() if k != "target"} for r in rows]


def test_agent_keeps_the_single_model_when_the_ensemble_is_not_better(tmp_path):
    res = _fit(tmp_path, sklearn_csv(tmp_path, "iris"), "s", n_trials=4)
    e = res.ensemble
    # On this seed the best trial alone wins (the greedy selection only picks it).
    assert e is not None and not e["used"]
    assert e["val_loss"] == pytest.approx(e["best_single_loss"])
    assert res.output_dir.endswith("final") and "test_samples" in res.test_metrics
    assert "not used" in res.leaderboard_table()


def test_ensemble_can_be_turned_off(tmp_path):
    res = _fit(tmp_path, sklearn_csv(tmp_path, "diabetes"), "s", n_trials=2, max_epochs=1, ensemble=False)
    assert res.ensemble is None and res.output_dir.endswith("final")
    with pytest.raises(ValueError, match="ensemble_size"):
        agent.AutoML(n_trials=1, ensemble_size=0)


def test_cli_no_ensemble(tmp_path):
    from click.testing import CliRunner
    from tessel.cli import main
    r = CliRunner().invoke(main, ["--store", str(tmp_path / "st"), "agent", "run", sklearn_csv(tmp_path, "diabetes"),
                                  "--target", "target", "--trials", "2", "--max-epochs", "1", "--no-ensemble",
                                  "--json", "-q"], prog_name="tessel")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["ensemble"] is None and out["output_dir"].endswith("final")


def test_agent_classification_ensemble_averages_probabilities(tmp_path):
    import onnxruntime as ort
    path = sklearn_csv(tmp_path, "breast_cancer")
    res = _fit(tmp_path, path, "s")
    e = res.ensemble
    assert e["used"] and e["task"] == "classification" and 0.0 <= e["val_accuracy"] <= 1.0
    weights = [m["weight"] for m in e["members"] if m["weight"] > 0]
    assert set(res.test_metrics) == {"test_accuracy", "test_loss"}
    acc = np.mean([p["label"] == str(y) for p, y in zip(res.predictions, res.test_labels)])
    assert res.test_metrics["test_accuracy"] == pytest.approx(acc)
    for p in res.predictions:
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    # The graph's output is log(sum_i w_i softmax(member_i)): checked with onnxruntime.
    pred = ts.train.Predictor.load(res.output_dir)
    x = pred.preprocess(_rows(path)[:16]).numpy()
    members = [f"member-{m['trial']:04d}.onnx" for m in e["members"] if m["weight"] > 0]
    outs = [ort.InferenceSession(os.path.join(res.output_dir, f)).run(None, {"input": x})[0] for f in members]
    got = ort.InferenceSession(os.path.join(res.output_dir, "model.onnx")).run(None, {"input": x})[0]
    probs = sum(w * np.exp(o) / np.exp(o).sum(axis=1, keepdims=True) for w, o in zip(weights, outs))
    np.testing.assert_allclose(np.exp(got), probs, rtol=1e-5, atol=1e-6)


def test_time_budget_measures_and_reserves_the_ensemble_stage(tmp_path):
    import io
    import time
    log = io.StringIO()
    t0 = time.monotonic()
    res = agent.AutoML(budget=20, max_epochs=2, seed=0, store=str(tmp_path / "store"), verbose=True, log=log,
                       report=False).fit(sklearn_csv(tmp_path, "diabetes"), target="target")
    took = time.monotonic() - t0
    text = log.getvalue()
    m = re.search(r"ensemble stage measured on trial \d+: about ([\d.]+) s", text)
    assert m and float(m.group(1)) > 0, text  # measured (the log rounds to 0.1 s; its size depends on the machine)
    assert took <= 1.05 * 20 + 5, text
    if res.ensemble is not None:
        assert res.ensemble["estimated_s"] == pytest.approx(float(m.group(1)), abs=0.06)
        assert "ensemble" in res.stages


def test_ensemble_skipped_when_its_measured_cost_does_not_fit(tmp_path, monkeypatch):
    import io
    from tessel.agent import automl as A, search as S
    monkeypatch.setattr(A, "measure_ensemble_cost", lambda folder, members: 1e6)
    monkeypatch.setattr(S.Schedule, "set_ensemble_cost", lambda self, s: None)  # the search itself ignores it
    log = io.StringIO()
    res = agent.AutoML(budget=60, n_trials=3, max_epochs=1, seed=0, store=str(tmp_path / "store"), verbose=True,
                       log=log, report=False, register=False).fit(sklearn_csv(tmp_path, "iris"), target="target")
    assert "no time left in the budget for an ensemble" in log.getvalue()
    assert "it needs about 1000000.0 s" in log.getvalue()
    assert res.ensemble is None and "ensemble" not in res.stages
