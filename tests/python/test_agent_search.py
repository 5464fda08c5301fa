"""ts.agent.AutoML and `tessel agent run`: search through tessel.train, the
final model (held-out metrics, ONNX, champion), determinism with a trial
budget, failing trials, budgets, study storage. Trial budgets of 2-4 with 1-2
epochs on small data, so that each test takes seconds."""
import json
import math
import os
import sqlite3
import time

import numpy as np
import pytest

import tessel as ts
from tessel import agent
from tessel.agent import final, loop, search, trial as trial_mod

from test_agent import image_folder, sklearn_csv


@pytest.fixture
def iris(tmp_path):
    return sklearn_csv(tmp_path, "iris")


def automl(tmp_path, **kw):
    kw.setdefault("n_trials", 3)
    kw.setdefault("max_epochs", 2)
    kw.setdefault("verbose", False)
    kw.setdefault("store", str(tmp_path / "store"))
    kw.setdefault("ensemble", False)  # these tests check the retrained single model; test_agent_ensemble.py the rest
    kw.setdefault("val_repeats", 1)  # one split per trial (test_agent_trees.py checks several)
    return agent.AutoML(**kw)


def key(rows):
    """What must repeat between two seeded runs (not the seconds)."""
    return [(r["trial"], r["state"], r["family"], r["value"], r["params"], r["epochs"]) for r in rows]


# ----- the whole run --------------------------------------------------------------------------------------

def test_iris_end_to_end(tmp_path, iris):
    res = automl(tmp_path).fit(iris, target="target")
    assert len(res.leaderboard) == 3
    assert res.leaderboard[0]["rank"] == 1 and res.best is res.leaderboard[0]
    vals = [r["value"] for r in res.leaderboard if r["state"] == "COMPLETE"]
    assert vals == sorted(vals)
    # Trials 0 and 1 are the families' default points (enqueued before TPE explores): boosted trees, the mlp.
    t0 = next(r for r in res.leaderboard if r["trial"] == 0)
    t1 = next(r for r in res.leaderboard if r["trial"] == 1)
    assert t0["params"]["family"] == "boosted_trees" and t0["params"]["boosted_trees.depth"] == 6
    assert t1["params"]["mlp.width"] == 128 and t1["params"]["lr"] == 3e-3
    # The final model: held-out metrics, the train output folder, ONNX, champion.
    assert res.test_metrics["test_samples"] == 30
    assert 0.0 <= res.test_metrics["test_accuracy"] <= 1.0
    for f in ("config.yaml", "model.safetensors", "model.onnx", "signature.json", "metrics.json", "history.csv"):
        assert os.path.isfile(os.path.join(res.output_dir, f)), f
    assert res.model_version["name"] == "iris" and res.model_version["aliases"] == ["champion"]
    assert res.config["data"]["val_path"].endswith("test.csv")
    assert res.config["model"]["name"] == res.best["family"]
    if res.best["family"] == "boosted_trees":  # the trees the trial kept, x 1.25, no early stopping on the test
        assert res.config["model"]["early_stopping"] == 0
        assert res.config["model"]["trees"] == max(1, round(res.best["metrics"]["trees"] * 1.25))
    # Predictions of the exported model on the held-out split agree with the runner's accuracy.
    acc = np.mean([p["label"] == y for p, y in zip(res.predictions, res.test_labels)])
    assert acc == pytest.approx(res.test_metrics["test_accuracy"])
    assert res.predict([{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4,
                         "petal width (cm)": 0.2}])[0]["label"] in ("0", "1", "2")
    # The report: inline SVG learning curves, the confusion matrix, stage times.
    html = open(res.report_path).read()
    assert html.count("<svg") >= 2 and "Confusion matrix" in html and "Time per stage" in html
    assert "<script" not in html
    assert set(res.stages) >= {"profile", "prepare", "search", "final", "evaluate"}
    # The tracking store: the agent's run with its artifacts, a run per trial, the final run.
    st = ts.store.open(str(tmp_path / "store"))
    try:
        arts = {a["path"] for a in st.list_artifacts(res.run_id)}
        assert {"profile.json", "leaderboard.csv", "leaderboard.json", "report.html"} <= arts
        assert st.get_run(res.run_id).status == "FINISHED"
        runs = st.search_runs("agent")
        assert len(runs) == 1 + 3 + 1
        tags = [st.get_tags(r.id) for r in runs]
        assert sum(t.get("agent.role") == "final" for t in tags) == 1
        assert sorted(t["agent.trial"] for t in tags if "agent.trial" in t and "agent.role" not in t) == ["0", "1", "2"]
        assert st.get_aliases("iris") == {"champion": 1}
    finally:
        st.close()


def test_regression_report_has_residuals(tmp_path):
    path = sklearn_csv(tmp_path, "diabetes")
    res = automl(tmp_path, n_trials=2, max_epochs=1, register=False).fit(path, target="target")
    assert res.model_version is None
    assert set(res.test_metrics) >= {"test_mae", "test_rmse", "test_r2"}
    rmse = math.sqrt(np.mean([(p["value"] - y) ** 2 for p, y in zip(res.predictions, res.test_labels)]))
    assert rmse == pytest.approx(res.test_metrics["test_rmse"], rel=1e-4)
    assert "residuals" in open(res.report_path).read()


def test_deterministic_with_seed_and_trial_budget(tmp_path, iris):
    a = automl(tmp_path / "a", n_trials=4, seed=3).fit(iris, target="target")
    b = automl(tmp_path / "b", n_trials=4, seed=3).fit(iris, target="target")
    assert key(a.leaderboard) == key(b.leaderboard)
    assert a.test_metrics == b.test_metrics
    c = automl(tmp_path / "c", n_trials=4, seed=4).fit(iris, target="target")
    assert [r["params"] for r in c.leaderboard if r["trial"] > 0] != \
        [r["params"] for r in a.leaderboard if r["trial"] > 0]


def test_crashing_and_nan_trials_are_recorded_and_the_study_goes_on(tmp_path, iris, monkeypatch):
    real = trial_mod.run_train
    calls = []

    def flaky(config, store, callbacks=()):
        calls.append(config["experiment"]["run_name"])
        if config["experiment"]["run_name"] == "trial 1":
            raise RuntimeError("boom in the model")
        if config["experiment"]["run_name"] == "trial 2":
            for cb in callbacks:  # the loss diverges in epoch 1
                cb.on_epoch_end(0, {"val_loss": float("nan")})
            return real(config, store, [])
        return real(config, store, callbacks)

    monkeypatch.setattr(trial_mod, "run_train", flaky)
    res = automl(tmp_path, n_trials=4).fit(iris, target="target")
    by = {r["trial"]: r for r in res.leaderboard}
    assert by[1]["state"] == "FAIL" and "boom in the model" in by[1]["error"]
    assert by[2]["state"] == "FAIL" and "diverged" in by[2]["error"]
    assert by[0]["state"] == "COMPLETE" and by[3]["state"] in ("COMPLETE", "PRUNED")
    assert [r["trial"] for r in res.leaderboard][-2:] == [1, 2]  # failures last
    assert "boom in the model" in open(res.report_path).read()
    # Optuna's study keeps every trial with its state.
    import optuna
    study = optuna.load_study(study_name=res.study_name, storage=res.storage)
    assert [t.state.name for t in study.trials][:3] == ["COMPLETE", "FAIL", "FAIL"]


def test_every_trial_failing_is_a_clear_error(tmp_path, iris, monkeypatch):
    def broken(config, store, callbacks=()):
        raise RuntimeError("no luck")

    monkeypatch.setattr(trial_mod, "run_train", broken)
    with pytest.raises(agent.AgentError, match=r"no trial finished.*no luck"):
        automl(tmp_path, n_trials=2).fit(iris, target="target")
    st = ts.store.open(str(tmp_path / "store"))
    try:
        assert [r.status for r in st.search_runs("agent")] == ["FAILED"]
    finally:
        st.close()


def test_repeated_identical_failures_stop_a_time_budget_search(tmp_path, iris, monkeypatch):
    calls = []

    def broken(config, store, callbacks=()):
        calls.append(1)
        raise RuntimeError("no luck")

    monkeypatch.setattr(trial_mod, "run_train", broken)
    t0 = time.monotonic()
    with pytest.raises(agent.AgentError, match=r"no trial finished.*no luck"):
        automl(tmp_path, budget="60s", n_trials=None).fit(iris, target="target")
    # Stopped after MAX_SAME_FAILURES trials, not hundreds until the budget ran out.
    assert len(calls) == loop.MAX_SAME_FAILURES and time.monotonic() - t0 < 30


def test_final_epochs_fit_the_time_left():
    best = {"epochs": 10, "seconds": 20.0}          # 2 s per epoch in the trial, 2.5 s on 1.25x the rows
    assert final.final_epochs(best, None, 1.25) == 10
    assert final.final_epochs(best, 100.0, 1.25) == 10
    assert final.final_epochs(best, 12.6, 1.25) == 5
    assert final.final_epochs(best, 0.5, 1.25) == 1  # always at least one epoch
    assert final.final_epochs({"epochs": 0, "seconds": 0.0}, 5.0, 1.25) == 1
    # 20 s of which 10 s in 10 epochs: 1.25 s per final epoch after 12.5 s of fixed cost.
    split = {"epochs": 10, "seconds": 20.0, "epoch_seconds": 10.0}
    assert final.final_epochs(split, 100.0, 1.25) == 10
    assert final.final_epochs(split, 20.0, 1.25) == 6   # (20 - 12.5) // 1.25
    assert final.final_epochs(split, 10.0, 1.25) == 1   # the fixed cost alone does not fit: still one epoch


def test_missing_target_and_no_target(tmp_path, iris):
    with pytest.raises(agent.DataError, match="did you mean 'target'"):
        automl(tmp_path).fit(iris, target="traget")
    with pytest.raises(agent.DataError, match="needs something to predict"):
        automl(tmp_path).fit(iris)


# ----- budgets ---------------------------------------------------------------------------------------------

def test_parse_budget():
    assert search.parse_budget("90s") == 90
    assert search.parse_budget("10m") == 600
    assert search.parse_budget("1h30m") == 5400
    assert search.parse_budget("2.5m") == 150
    assert search.parse_budget(" 45 ") == 45
    assert search.parse_budget(12) == 12
    assert search.parse_budget(None) is None
    for bad in ("ten minutes", "10x", "m", "10m5", True, [1]):
        with pytest.raises(agent.BudgetError):
            search.parse_budget(bad)
    with pytest.raises(agent.BudgetError, match="too small"):
        search.parse_budget("0.2s")
    with pytest.raises(agent.BudgetError, match="n_trials"):
        agent.AutoML(n_trials=0)


def test_schedule_adapts_to_measured_cost():
    now = [100.0]
    s = search.Schedule(budget_s=60, max_epochs=10, min_epochs=1, target_trials=10, clock=lambda: now[0])
    assert s.next_epochs("mlp") == 10           # nothing measured: the first trial finds the cost
    assert s.trial_deadline() == 124.0          # at most 0.4 of the budget for the first trial
    s.record("mlp", 6.0, 10, best=True, epoch_seconds=[0.5] * 10)  # 1 s fixed + 0.5 s per epoch
    now[0] += 6
    assert s.fixed_cost() == 1.0 and s.cost_per_epoch("mlp") == 0.5
    # 54 s left; reserve for the final retrain 1 + 1.5 * 0.5 * 10 + 1 = 9.5 s; 1 s fixed per trial:
    # 43.5 s / (10 trials * 0.5 s) -> 8 epochs
    assert s.reserve() == 9.5 and s.next_epochs("mlp") == 8
    assert s.trial_deadline() == 160.0 - 9.5
    now[0] += 40                                # 14 s left - 9.5 - 1 = 3.5 s
    assert s.next_epochs("mlp") == 1
    assert s.next_epochs("cnn") == 1            # an unmeasured family: the median of all
    now[0] += 3.4                               # less than one epoch fits
    assert s.next_epochs("mlp") is None
    t = search.Schedule(n_trials=2, max_epochs=3)
    assert t.next_epochs("mlp") == 3 and t.trial_deadline() is None
    t.record("mlp", 1.0, 3)
    t.record("mlp", 1.0, 3)
    assert t.next_epochs("mlp") is None


def test_schedule_counts_a_repeated_trial_per_split():
    # Digits at 60 s on 5 splits: the first trial (5 x 4.8 s = 24 s) used to count its other four
    # splits as fixed cost (19.2 s), so the reserve (19.2 + 1.5 x 0.4 x 10 + 1 = 26.2 s) plus that
    # fixed cost outgrew the 36 s left and the search stopped after one trial.
    now = [0.0]
    s = search.Schedule(budget_s=60, max_epochs=10, min_epochs=1, target_trials=10, clock=lambda: now[0],
                        repeats=5)
    s.record("boosted_trees", 4.8, 10, best=True, epoch_seconds=[0.4] * 10)  # the first split's seconds
    now[0] = 24.0
    assert s.fixed_cost() == pytest.approx(0.8) and s.reserve() == pytest.approx(0.8 + 6.0 + 1.0)
    # 36 - 7.8 reserve - 0.8 fixed = 27.4 s; a trial's epochs run on 5 splits: 27.4 / (0.4 x 10 x 5) -> 1
    assert s.next_epochs("boosted_trees") == 1
    one = search.Schedule(budget_s=60, max_epochs=10, min_epochs=1, target_trials=10, clock=lambda: now[0],
                          start=0.0)
    one.record("boosted_trees", 4.8, 10, best=True, epoch_seconds=[0.4] * 10)
    assert one.next_epochs("boosted_trees") == 6  # the same trial without repeats: 27.4 / (0.4 x 10)


def test_schedule_reserves_the_measured_ensemble_cost():
    now = [0.0]
    s = search.Schedule(budget_s=100, max_epochs=10, clock=lambda: now[0])
    s.record("mlp", 2.0, 2, best=True, epoch_seconds=[0.5, 0.5])  # 1 s fixed + 0.5 s per epoch
    before = s.reserve()
    assert before == pytest.approx(1.0 + 1.5 * 0.5 * 10 + 1.0)
    s.set_ensemble_cost(12.5)
    assert s.reserve() == pytest.approx(before + 12.5)
    assert s.trial_deadline() == pytest.approx(100 - before - 12.5)
    now[0] = 100 - before - 12.5 - 1.0 - 0.4  # the fixed part and less than one epoch fit before the reserve
    assert s.next_epochs("mlp") is None


def test_schedule_reserves_the_refit_unless_it_would_starve_the_search():
    now = [0.0]
    s = search.Schedule(budget_s=100, max_epochs=10, clock=lambda: now[0], repeats=5, refit_factor=1.25,
                        refit_members=2)
    s.record("linear", 0.2, 1, best=True, epoch_seconds=[0.1])
    base = s.reserve()
    for total, value in ((1.0, 0.5), (2.0, 0.3), (9.0, 0.9), (4.0, 0.2)):  # all 5 splits' time, val loss
        s.record_complete(total, value)
    s.set_ensemble_cost(0.5)
    # the two best trials (the ensemble's likely members: 0.2 and 0.3) again, with 1.25x the rows
    assert s.refit_reserve() == pytest.approx(1.25 * (4.0 + 2.0) + 0.5)
    assert s.reserve() == pytest.approx(base + 0.5 + 1.25 * 6.0 + 0.5)
    s.record_complete(40.0, 0.1)  # a slow best trial: 1.25 x 44 + 0.5 is above 40% of the budget
    assert s.refit_reserve() == 0.0
    off = search.Schedule(budget_s=100, max_epochs=10, clock=lambda: now[0], repeats=5)
    off.record_complete(2.0, 0.1)
    assert off.refit_reserve() == 0.0  # no refit will follow (refit_factor 0)


def test_search_budget_counts_from_when_it_was_measured(tmp_path):
    # Waiting for worker processes to start is spent budget: a loop entered after the whole
    # budget went by (spec['start'] + budget_s in the past) runs no trial.
    from tessel.agent import automl as A
    study, _, _ = search.open_study("s", "memory", str(tmp_path), 0)
    spec = {"families": ["mlp"], "base": {}, "work": str(tmp_path), "workers": 1, "n_trials": None, "budget_s": 5.0,
            "max_epochs": 2, "min_epochs": 1, "worker": 0, "start": time.monotonic() - 5.5}
    assert A.search_loop(study, lambda fn: fn(), None, spec, lambda m: None) == 0
    assert study.trials == []


def test_time_budget_is_kept(tmp_path, iris):
    t0 = time.monotonic()
    res = automl(tmp_path, n_trials=None, budget="6s", max_epochs=2).fit(iris, target="target")
    took = time.monotonic() - t0
    assert len(res.leaderboard) >= 1 and all(r["epochs"] <= 2 for r in res.leaderboard)
    assert took < 6 * 1.05 + 3  # the bound: 1.05 x budget + a few seconds


def test_budget_too_small_for_one_trial(tmp_path, iris, monkeypatch):
    def slow(config, store, callbacks=()):
        cb = callbacks[0]
        while time.monotonic() <= cb.deadline:  # the first batch outlasts the first trial's share
            time.sleep(0.05)
        cb.on_batch_end(0)
        raise AssertionError("the deadline should have stopped the trial")

    monkeypatch.setattr(trial_mod, "run_train", slow)
    with pytest.raises(agent.BudgetError, match=r"too small for one trial.*did not finish one epoch"):
        automl(tmp_path, n_trials=None, budget=3).fit(iris, target="target")


def test_every_trial_stopped_by_the_budget_retrains_the_best_stopped(tmp_path, iris, monkeypatch):
    real = trial_mod.run_train

    def stopped(config, store, callbacks=()):
        if not callbacks:  # the final retrain
            return real(config, store)
        n = int(config["experiment"]["run_name"].split()[-1])
        callbacks[0].on_epoch_end(0, {"val_loss": 0.9 - 0.1 * n})  # trial 1 is the better one
        raise search.TrialOverBudget("over the time budget in epoch 2")

    monkeypatch.setattr(trial_mod, "run_train", stopped)
    res = automl(tmp_path, n_trials=2).fit(iris, target="target")
    assert [r["state"] for r in res.leaderboard] == ["PRUNED", "PRUNED"]
    assert res.best["trial"] == 1 and res.config["train"]["epochs"] == 1
    assert 0.0 <= res.test_metrics["test_accuracy"] <= 1.0


# ----- study storage -------------------------------------------------------------------------------------

def test_a_trial_the_budget_ends_before_its_first_epoch_is_stopped_not_failed(tmp_path, iris, monkeypatch):
    real = trial_mod.run_train

    def second_stopped(config, store, callbacks=()):
        if callbacks and config["experiment"]["run_name"] == "trial 1":
            raise search.TrialOverBudget("over the time budget in epoch 1")
        return real(config, store, callbacks)

    monkeypatch.setattr(trial_mod, "run_train", second_stopped)
    res = automl(tmp_path, n_trials=3).fit(iris, target="target")
    states = {r["trial"]: r["state"] for r in res.leaderboard}
    assert states == {0: "COMPLETE", 1: "STOPPED", 2: "COMPLETE"}, states
    assert [r["state"] for r in res.leaderboard][-1] == "STOPPED"  # listed after the failed ones
    # Optuna holds it as FAIL (the sampler learns nothing from it); the studies page shows it as stopped,
    # read from the study database as from the leaderboard.
    import optuna
    from tessel.ui.studies import read_study, trials_from_leaderboard
    assert [t["state"] for t in trials_from_leaderboard(res.leaderboard)] == ["COMPLETE", "STOPPED", "COMPLETE"]
    assert [t["state"] for t in read_study(res.study_name, res.storage)] == ["COMPLETE", "STOPPED", "COMPLETE"]
    raw = optuna.load_study(study_name=res.study_name, storage=res.storage).trials[1]
    assert raw.state == optuna.trial.TrialState.FAIL and raw.user_attrs["over_budget"] is True


def test_journal_storage_and_resume(tmp_path, iris):
    a = automl(tmp_path, n_trials=2, storage="journal", study_name="shared").fit(iris, target="target")
    assert os.path.isfile(tmp_path / "store" / "studies.journal")
    assert a.storage.endswith("studies.journal")
    b = automl(tmp_path, n_trials=2, storage="journal", study_name="shared").fit(iris, target="target")
    assert sorted(r["trial"] for r in b.leaderboard) == [0, 1, 2, 3]  # the study went on


def test_two_worker_processes_share_the_study(tmp_path, iris):
    threads = ts.get_num_threads()
    shares = []
    real_set = ts.set_num_threads
    monkey = lambda n: (shares.append(n), real_set(n))  # noqa: E731
    ts.set_num_threads = monkey
    try:
        res = automl(tmp_path, n_trials=6, workers=2).fit(iris, target="target")
    finally:
        ts.set_num_threads = real_set
    # The main process searched on its share of the cores and got them all back after.
    assert shares == [max(1, threads // 2), threads] and ts.get_num_threads() == threads
    assert res.storage.endswith("studies.journal")  # not SQLite with parallel writers
    seen = [(r["trial"], r["worker"], r["state"], r["error"]) for r in res.leaderboard]
    assert 6 <= len(res.leaderboard) <= 7, seen  # a worker may start one trial past the budget
    assert {r["worker"] for r in res.leaderboard} == {0, 1}, seen
    assert sorted(r["trial"] for r in res.leaderboard) == list(range(len(res.leaderboard)))
    with pytest.raises(ValueError, match="not 'memory'"):
        agent.AutoML(workers=2, storage="memory")


def test_locked_study_database(tmp_path, iris):
    import optuna
    root = tmp_path / "store"
    os.makedirs(root)
    optuna.create_study(study_name="busy", storage=f"sqlite:///{root / 'studies.db'}")
    con = sqlite3.connect(str(root / "studies.db"))
    con.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    try:
        with pytest.raises(agent.StudyLockedError, match=r"studies.db is locked by another process.*journal"):
            automl(tmp_path, study_name="busy", lock_timeout=0.3).fit(iris, target="target")
    finally:
        con.rollback()
        con.close()


# ----- other modalities ------------------------------------------------------------------------------------

def test_image_folder(tmp_path):
    root = image_folder(tmp_path / "imgs", per_class=(6, 6), size=(8, 8))
    res = automl(tmp_path, n_trials=2, max_epochs=1, families=["cnn"]).fit(str(root))
    assert res.config["data"]["kind"] == "image_folder" and res.config["model"]["name"] == "cnn"
    assert res.test_metrics["test_samples"] == 2  # one of each class's 6 files (0.2 x 6 rounds to 1)
    assert len(res.predictions) == 2
    with pytest.raises(ValueError, match="does not take image data"):
        automl(tmp_path, families=["mlp"]).fit(str(root))


def test_text_folder_and_arrays(tmp_path):
    words = {"pos": "good great fine nice", "neg": "bad awful poor sad"}
    for c, ws in words.items():
        os.makedirs(tmp_path / "txt" / c)
        for i in range(6):
            (tmp_path / "txt" / c / f"{i}.txt").write_text(" ".join(ws.split()[i % 4:] + ws.split()[:i % 4]))
    res = automl(tmp_path, n_trials=2, max_epochs=1, families=["text_bag"]).fit(str(tmp_path / "txt"))
    assert res.config["data"]["kind"] == "text" and res.config["model"]["name"] == "text_bag"
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    res = automl(tmp_path, n_trials=2, max_epochs=1, register="digits").fit((x[:300], y[:300]))
    assert res.config["data"]["kind"] == "arrays" and res.model_version["name"] == "digits"
    assert res.test_metrics["test_samples"] == 60


# ----- command line ------------------------------------------------------------------------------------------

def cli(args, **kw):
    from click.testing import CliRunner
    from tessel.cli import main
    return CliRunner().invoke(main, args, prog_name="tessel", **kw)


def test_cli_agent_run(tmp_path, iris):
    r = cli(["--store", str(tmp_path / "st"), "agent", "run", iris, "--target", "target", "--trials", "2",
             "--max-epochs", "1", "--seed", "1", "--json", "-q"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert len(out["leaderboard"]) == 2 and out["model_version"]["aliases"] == ["champion"]
    assert out["profile"]["task"] == "classification" and "test_accuracy" in out["test_metrics"]
    r = cli(["--store", str(tmp_path / "st"), "agent", "run", iris, "--target", "target", "--trials", "1",
             "--max-epochs", "1", "--no-register", "--storage", "memory", "--val-repeats", "2"])
    assert r.exit_code == 0, r.output
    assert "rank  trial" in r.stdout and "report:" in r.stdout and "model:" not in r.stdout
    st = ts.store.open(str(tmp_path / "st"))
    try:  # the trial trained on two splits: two tracked runs
        names = [x.name for x in st.search_runs("agent", limit=100)]
        assert "trial 0" in names and "trial 0 split 2" in names
    finally:
        st.close()


def test_cli_agent_errors(tmp_path, iris):
    r = cli(["--store", str(tmp_path / "st"), "agent", "run", iris, "--target", "nope", "--trials", "1"])
    assert r.exit_code == 1 and "target column 'nope' is not in" in r.output
    r = cli(["agent", "run", iris, "--target", "target", "--budget", "soon"])
    assert r.exit_code == 2 and "not a duration" in r.output
    r = cli(["agent", "run", iris, "--budget", "0.1s"])
    assert r.exit_code == 2 and "too small" in r.output
    r = cli(["agent", "run", str(tmp_path / "missing.csv")])
    assert r.exit_code == 2
    r = cli(["agent", "run", iris, "--target", "target", "--val-repeats", "0"])
    assert r.exit_code == 2 and "--val-repeats" in r.output


def test_cli_agent_profile(tmp_path, iris):
    r = cli(["agent", "profile", iris, "-t", "target"])
    assert r.exit_code == 0 and "task classification" in r.stdout
    r = cli(["agent", "profile", iris, "-t", "target", "--json"])
    assert json.loads(r.stdout)["target"]["classes"] == {"0": 50, "1": 50, "2": 50}


def test_cli_agent_serve_hands_the_registry_to_tessel_serve(tmp_path, iris, monkeypatch):
    import tessel.cli as tcli
    seen = []
    monkeypatch.setattr(tcli, "_serve_entry", lambda: (lambda args: seen.append(args) or 0))
    r = cli(["--store", str(tmp_path / "st"), "agent", "run", iris, "--target", "target", "--trials", "1",
             "--max-epochs", "1", "-q", "--serve"])
    assert r.exit_code == 0, r.output
    assert seen == [["--model-repository", str(tmp_path / "st" / "registry")]]


def test_missing_tokens_in_features_are_converted(tmp_path):
    from test_agent import write_csv
    rows = [["" if i % 5 == 0 else i * 0.1, "NA" if i % 7 == 0 else i % 3, ["r", "g", "?", "None"][i % 4],
             "yes" if i % 2 else "no"] for i in range(60)]
    path = write_csv(tmp_path / "miss.csv", ["a", "b", "color", "y"], rows)
    res = automl(tmp_path, n_trials=1, max_epochs=1).fit(path, target="y")
    assert res.leaderboard[0]["state"] == "COMPLETE"
    with open(os.path.join(res.work_dir, "data", "train.csv")) as f:
        text = f.read()
    assert "NA" not in text and "?" not in text and "None" not in text
    assert len(res.predictions) == res.test_metrics["test_samples"] == 12


def test_cli_agent_drift(tmp_path, iris):
    from test_agent import write_csv
    shifted = write_csv(tmp_path / "shifted.csv", ["sepal length (cm)", "sepal width (cm)", "petal length (cm)",
                                                   "petal width (cm)", "target"],
                        [[9.0 + i * 0.01, 3.0, 1.5, 0.2, 0] for i in range(50)])
    r = cli(["agent", "drift", iris, shifted, "-t", "target", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["drifted"] and out["features"][0]["name"] == "sepal length (cm)" and out["features"][0]["drifted"]
    r = cli(["agent", "drift", iris, iris, "-t", "target", "--fail-on-drift"])
    assert r.exit_code == 0 and "0 of 4 features drifted" in r.stdout
    r = cli(["agent", "drift", iris, shifted, "-t", "target", "--fail-on-drift"])
    assert r.exit_code == 1


def test_audio_folder(tmp_path):
    import soundfile as sf
    sr = 8000
    t = np.arange(int(sr * 0.25)) / sr
    for c, f in (("low", 300), ("high", 1200)):
        os.makedirs(tmp_path / "aud" / c)
        for i in range(5):
            sf.write(str(tmp_path / "aud" / c / f"{i}.wav"), 0.5 * np.sin(2 * np.pi * (f + 20 * i) * t), sr)
    res = automl(tmp_path, n_trials=2, max_epochs=1).fit(str(tmp_path / "aud"))
    # audio_cnn is the one audio family searched; clips as long as the longest sampled one.
    assert [r["family"] for r in res.leaderboard] == ["audio_cnn", "audio_cnn"]
    assert res.config["data"]["kind"] == "audio_folder" and res.config["data"]["audio"]["duration"] == 0.25
    assert len(res.predictions) == res.test_metrics["test_samples"] == 2


def test_trials_the_budget_cut_short_of_their_splits_rank_after_the_rest():
    # A trial whose mean is over fewer splits (the budget ended its repeats) is noisier and, when lucky, would
    # win with a final model that cannot be the bag of all its splits: it ranks after every full one.
    import optuna
    from optuna.trial import TrialState, create_trial
    from tessel.agent.leaderboard import leaderboard_rows

    study = optuna.create_study()
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for value, splits in ((0.30, 3), (0.10, 1), (0.20, 3), (0.15, 2)):
        study.add_trial(create_trial(params={"x": 0.5}, distributions=dist, value=value, state=TrialState.COMPLETE,
                                     user_attrs={"metrics": {"splits": splits}, "family": "mlp"}))
    study.add_trial(create_trial(params={"x": 0.5}, distributions=dist, state=TrialState.PRUNED,
                                 user_attrs={"history": [0.05], "family": "mlp"}))
    rows = leaderboard_rows(study, repeats=3)
    assert [(r["value"], r["state"], r["splits_cut"], r["rank"]) for r in rows] == [
        (0.20, "COMPLETE", False, 1), (0.30, "COMPLETE", False, 2), (0.10, "COMPLETE", True, 3),
        (0.15, "COMPLETE", True, 4), (0.05, "PRUNED", False, None)]
    # With one split per trial (or none cut) the order is the losses'.
    assert [r["value"] for r in leaderboard_rows(study)][:4] == [0.10, 0.15, 0.20, 0.30]
