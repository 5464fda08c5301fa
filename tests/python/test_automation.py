"""ts.automation: the task functions, pipeline.yaml validation, the local engine
(order, retries, skipped steps, tracking), `tessel pipeline`. Small data only
(scikit-learn's iris, 1 epoch)."""
import csv
import json
import os

import pytest
import yaml
from click.testing import CliRunner

from tessel import automation, store as tstore
from tessel.automation import tasks
from tessel.cli import main
from tessel.config import ConfigError


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def iris_tables(tmp_path, shift=0.0):
    """train.csv / test.csv of iris (every 5th row held out); `shift` moves the features of new.csv."""
    from sklearn.datasets import load_iris
    d = load_iris()
    cols = ["a", "b", "c", "d", "target"]
    rows = [list(map(float, x)) + [int(y)] for x, y in zip(d.data, d.target)]
    train = [r for i, r in enumerate(rows) if i % 5]
    test = [r for i, r in enumerate(rows) if not i % 5]
    new = [[v + shift for v in r[:4]] + [r[4]] for r in train]
    return (write_csv(tmp_path / "train.csv", cols, train), write_csv(tmp_path / "test.csv", cols, test),
            write_csv(tmp_path / "new.csv", cols, new))


def train_config(tmp_path, data, val=None, epochs=1, hidden=(16,)):
    return {"experiment": {"name": "auto"}, "data": {"path": data, "val_path": val, "label": "target"},
            "model": {"name": "mlp", "hidden": list(hidden)}, "optimizer": {"lr": 0.01},
            "train": {"epochs": epochs, "verbose": False, "batch_size": 16},
            "output": {"dir": str(tmp_path / "runs" / "m-{time}")}}


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "store")


# ----- tasks ----------------------------------------------------------------------------------------------

def test_tasks_compose_through_json(tmp_path, store):
    train, test, _ = iris_tables(tmp_path)
    prof = tasks.profile(train, "target", out=str(tmp_path / "profile.json"))
    assert prof["task"] == "classification" and os.path.isfile(prof["path"])
    res = tasks.train(train_config(tmp_path, train, test), store=store)
    assert json.loads(json.dumps(res)) == res  # plain JSON, no tensors
    assert os.path.isfile(os.path.join(res["output_dir"], "model.onnx")) and res["run_id"]
    m = tasks.evaluate(res["output_dir"], test, store=store)
    assert m["samples"] == 30 and 0.0 <= m["accuracy"] <= 1.0
    # The same numbers as `tessel evaluate` on the same model and data.
    cli = CliRunner().invoke(main, ["--store", store, "evaluate", res["output_dir"], "--data", test, "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["accuracy"] == pytest.approx(m["accuracy"])
    exp = tasks.export(res["output_dir"], str(tmp_path / "x" / "model.onnx"))
    assert os.path.getsize(exp["onnx"]) > 0
    mv = tasks.register(res["output_dir"], "iris", alias="champion", store=store)
    assert (mv["name"], mv["version"], mv["aliases"]) == ("iris", 1, ["champion"])
    assert tasks.resolve_model("models:/iris@champion", store) == mv["folder"]
    with tstore.open(store) as st:
        assert st.lineage("iris", 1)["run"] == res["run_id"]  # linked to the training run
    assert tasks.evaluate("models:/iris/1", test, store=store)["accuracy"] == pytest.approx(m["accuracy"])


def test_task_errors_name_the_problem(tmp_path, store):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        tasks.evaluate(str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tasks.convert(str(tmp_path / "nope"), str(tmp_path / "out"))
    (tmp_path / "imgs").mkdir()
    with pytest.raises(ValueError, match="unknown option 'sizes' .*'size'"):
        tasks.convert(str(tmp_path / "imgs"), str(tmp_path / "out"), kind="image", options={"sizes": 8})


def test_convert_writes_shards_and_hash_follows_the_files(tmp_path):
    from PIL import Image
    import numpy as np
    import tessel as ts
    for c in ("cat", "dog"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((10, 12, 3), 40 * i, np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    src = str(tmp_path / "imgs")
    out = tasks.convert(src, str(tmp_path / "shards"), kind="image", shard_size=4, options={"size": "8"})
    assert (out["count"], out["shards"], out["classes"]) == (6, 2, ["cat", "dog"])
    ds = ts.data.ShardDataset(out["out"])
    assert len(ds) == 6
    h1 = tasks.input_hash(src, {"size": "8"})
    assert h1 == tasks.input_hash(src, {"size": "8"}) and h1 != tasks.input_hash(src, {"size": "16"})
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "imgs" / "cat" / "new.png")
    assert tasks.input_hash(src, {"size": "8"}) != h1


def test_watch_retrains_and_promotes_only_a_better_model(tmp_path, store):
    train, test, _ = iris_tables(tmp_path)
    cfg = {**train_config(tmp_path, train, test, epochs=1, hidden=(2,)), "optimizer": {"lr": 0.0001}}
    assert cfg["data"].get("task", "auto") == "auto"  # watch takes the task from the version's signature
    weak = tasks.train(cfg, store=store)
    tasks.register(weak["output_dir"], "iris", alias="champion", store=store)
    # No drift (the training data again): nothing retrained.
    same = tasks.watch("models:/iris@champion", train, store=store, work_dir=str(tmp_path / "w1"))
    assert json.loads(json.dumps(same)) == same
    assert (same["drifted"], same["retrained"], same["promoted"]) == (False, False, False)
    # Shifted features: drift, a retrain, and the alias moves only if the new version scores better.
    _, _, new = iris_tables(tmp_path, shift=3.0)
    out = tasks.watch("models:/iris@champion", new, store=store, work_dir=str(tmp_path / "w2"))
    assert out["drifted"] and out["retrained"] and out["metric"] == "accuracy"
    assert out["promoted"] == (out["new_metric"] > out["old_metric"])
    with tstore.open(store) as st:
        assert st.get_aliases("iris") == {"champion": out["new_version"] if out["promoted"] else 1}


def test_deploy_serves_the_registry_on_loopback(tmp_path, store):
    import urllib.request
    train, test, _ = iris_tables(tmp_path)
    res = tasks.train(train_config(tmp_path, train, test), store=store)
    tasks.register(res["output_dir"], "iris", alias="champion", store=store)
    state = str(tmp_path / "serve")
    try:
        d = tasks.deploy(store=store, state_dir=state, model="iris", version="champion")
        assert d["started"] and d["url"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(d["url"] + "/v2/models/iris/ready", timeout=5) as r:
            assert r.status == 200
        again = tasks.deploy(store=store, state_dir=state)  # the running server is kept (it polls the registry)
        assert not again["started"] and again["pid"] == d["pid"]
        with tstore.open(store) as st:
            assert st.lineage("iris", 1)["deployments"]
    finally:
        assert tasks.stop(state)


# ----- pipeline.yaml ----------------------------------------------------------------------------------------

def pipeline_spec(tmp_path, train, test, store):
    return {"name": "iris", "store": store, "params": {"data": train, "test": test, "epochs": 1},
            "steps": {
                "profile": {"task": "profile", "args": {"data": "${params.data}", "target": "target"}},
                "train": {"task": "train", "needs": ["profile"],
                          "args": {"config": {**train_config(tmp_path, train, test),
                                              "train": {"epochs": "${params.epochs}", "verbose": False}}}},
                "evaluate": {"task": "evaluate", "needs": ["train"],
                             "args": {"model": "${steps.train.output_dir}", "data": "${params.test}"}},
                "register": {"task": "register", "needs": ["evaluate"],
                             "args": {"model": "${steps.train.output_dir}", "name": "iris", "alias": "champion"}},
            }}


def test_validation_reports_every_problem_with_its_key(tmp_path):
    bad = {"name": "x", "parms": {}, "params": {"data": "d.csv"}, "steps": {
        "a": {"task": "trian", "args": {}},
        "b": {"task": "evaluate", "needs": ["c"], "args": {"modle": "m"}},
        "c": {"task": "profile", "needs": ["d"], "args": {"data": "${params.dat}"}, "retries": -1},
        "d": {"task": "profile", "needs": ["c"], "args": {"data": "${steps.a.out}"}},
        "e": {"task": "evaluate", "args": {"model": "${steps.b.x}", "foo": 1}},
        "f": {"task": "tune", "args": {"data": "d.csv", "max_epoch": 1, "workers": 2}},
    }}
    with pytest.raises(ConfigError) as e:
        automation.load(bad)
    errs = e.value.errors
    expected = ["parms: unknown key (did you mean 'params'?)",
                "steps.a.task: 'trian' is not one of",
                "steps.b.args.modle: evaluate has no argument 'modle' (did you mean 'model'?)",
                "steps.b.args.model: required argument of evaluate is missing",
                "steps.c.retries: must be >= 0",
                "steps.c.args.data: ${params.dat}: no params.dat (did you mean 'data'?)",
                "steps.d.args.data: ${steps.a.out}: step 'a' is not in this step's needs",
                "steps.e.args.foo: evaluate has no argument 'foo'",
                "steps.e.args.model: ${steps.b.x}: step 'b' is not in this step's needs",
                "steps.f.args.max_epoch: tune has no argument 'max_epoch' (did you mean 'max_epochs'?)",
                "steps: the needs form a cycle through"]
    for x in expected:
        assert any(err.startswith(x) for err in errs), (x, errs)
    with pytest.raises(ConfigError, match=r"steps.a.needs: unknown step 'trian' \(did you mean 'train'\?\)"):
        automation.load({"name": "x", "steps": {"train": {"task": "profile", "args": {"data": "x"}},
                                                "a": {"task": "profile", "needs": ["trian"], "args": {"data": "x"}}}})
    # A train step's config is checked as `tessel train` checks it, naming the key under the step.
    with pytest.raises(ConfigError) as e:
        automation.load({"name": "x", "steps": {"t": {"task": "train", "args": {"config": {
            "data": {"path": "sklearn:iris"}, "optimizer": {"lrr": 0.1}}}}}})
    assert "steps.t.args.config.optimizer.lrr: unknown key (did you mean 'lr'?)" in e.value.errors
    with pytest.raises(ConfigError, match=r"steps.t.args.config \(nope.yaml\): config file nope.yaml does not exist"):
        automation.load({"name": "x", "steps": {"t": {"task": "train", "args": {"config": "nope.yaml"}}}})
    with pytest.raises(ConfigError, match="steps: the pipeline has no step"):
        automation.load({"name": "x", "steps": {}})
    with pytest.raises(ConfigError, match="steps: required key is missing"):
        automation.load({"name": "x"})


def test_order_and_overrides(tmp_path):
    p = automation.load({"name": "x", "params": {"n": 1}, "steps": {
        "c": {"task": "profile", "needs": ["b", "a"], "args": {"data": "x"}},
        "a": {"task": "profile", "args": {"data": "x"}},
        "b": {"task": "profile", "needs": ["a"], "args": {"data": "x"}}}},
        ["params.n=5", "steps.b.retries=2"])
    assert p.order == ["a", "b", "c"]
    assert p.params == {"n": 5} and p.steps["b"]["retries"] == 2


def test_local_engine_runs_and_tracks(tmp_path, store):
    train, test, _ = iris_tables(tmp_path)
    spec = pipeline_spec(tmp_path, train, test, store)
    r = automation.run_local(spec)
    assert r.state == "FINISHED", r.steps
    assert [s["state"] for s in r.steps.values()] == ["FINISHED"] * 4
    assert r.outputs["register"]["aliases"] == ["champion"]
    assert r.outputs["evaluate"]["samples"] == 30
    with tstore.open(store) as st:
        runs = st.search_runs(experiment="pipeline:iris")
        steps = {x.name: x for x in runs if st.get_tags(x.id).get("kind") == "pipeline_step"}
        assert set(steps) == {"profile", "train", "evaluate", "register"}
        tags = st.get_tags(steps["train"].id)
        assert tags["pipeline_run"] == r.run_id and tags["state"] == "FINISHED" and tags["needs"] == "profile"
        assert st.metric_history(steps["train"].id, "duration_s")[0]
        assert "log.txt" in {a["path"] for a in st.list_artifacts(steps["train"].id)}
        with open(st.artifact_file(r.run_id, "state.json")) as f:
            state = json.load(f)
        assert state["order"] == ["profile", "train", "evaluate", "register"]
        assert st.get_run(r.run_id).status == "FINISHED"


def test_local_engine_retries_then_skips_downstream(tmp_path, store, monkeypatch):
    calls = []

    def flaky(data, target=None, task="auto", out=None):
        calls.append(data)
        if len(calls) < 3:
            raise RuntimeError(f"flaky {len(calls)}")
        return {"ok": data}

    monkeypatch.setitem(automation.TASKS, "profile", flaky)
    spec = {"name": "retry", "store": store, "steps": {
        "a": {"task": "profile", "retries": 2, "args": {"data": "x"}},
        "b": {"task": "profile", "needs": ["a"], "args": {"data": "${steps.a.ok}"}},
    }}
    r = automation.run_local(spec, sleep=lambda s: None)
    assert r.state == "FINISHED" and r.steps["a"]["attempts"] == 3 and calls == ["x", "x", "x", "x"]
    calls.clear()
    spec["steps"]["a"]["retries"] = 1
    spec["steps"]["c"] = {"task": "profile", "args": {"data": "y"}}
    r = automation.run_local(spec, sleep=lambda s: None)
    assert r.state == "FAILED"
    assert (r.steps["a"]["state"], r.steps["a"]["attempts"]) == ("FAILED", 2)
    assert "RuntimeError: flaky 2" in r.steps["a"]["error"]
    assert r.steps["b"]["state"] == "SKIPPED" and r.steps["c"]["state"] == "FINISHED"  # independent steps still run
    with tstore.open(store) as st:
        assert st.get_run(r.run_id).status == "FAILED"
        log = open(st.artifact_file(r.steps["a"]["run_id"], "log.txt")).read()
        assert "attempt 2 of 2" in log and "flaky 2" in log


def test_cli_pipeline_run_and_check(tmp_path, store):
    train, test, _ = iris_tables(tmp_path)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline_spec(tmp_path, train, test, store)))
    runner = CliRunner()
    r = runner.invoke(main, ["pipeline", "check", str(path)])
    assert r.exit_code == 0 and "register (register) after evaluate" in r.output
    r = runner.invoke(main, ["pipeline", "run", str(path), "-q", "--json", "--set", "params.epochs=2"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["state"] == "FINISHED" and d["steps"]["train"]["output"]["metrics"]["epochs_run"] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "steps": {"a": {"task": "profil", "args": {}}}}))
    r = runner.invoke(main, ["pipeline", "run", str(bad)])
    assert r.exit_code == 2 and "steps.a.task: 'profil' is not one of" in r.output and "did you mean 'profile'" \
        in r.output
    failing = tmp_path / "fail.yaml"
    failing.write_text(yaml.safe_dump({"name": "f", "store": store, "steps": {
        "a": {"task": "evaluate", "args": {"model": str(tmp_path / "missing")}}}}))
    r = runner.invoke(main, ["pipeline", "run", str(failing), "-q"])
    assert r.exit_code == 1 and "FAILED" in r.output and "no such folder" in r.output


def test_cli_pipeline_step_runs_one_step_with_upstream(tmp_path, store):
    train, test, _ = iris_tables(tmp_path)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline_spec(tmp_path, train, test, store)))
    runner = CliRunner()
    r = runner.invoke(main, ["pipeline", "step", str(path), "train"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert os.path.isfile(os.path.join(out["output_dir"], "model.onnx"))
    r = runner.invoke(main, ["pipeline", "step", str(path), "evaluate", "--upstream", json.dumps({"train": out})])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["samples"] == 30
    r = runner.invoke(main, ["pipeline", "step", str(path), "evaluate"])  # the train output is missing
    assert r.exit_code == 1 and "no output of step 'train'" in r.output
    r = runner.invoke(main, ["pipeline", "step", str(path), "evalute"])
    assert r.exit_code == 2 and "did you mean 'evaluate'" in r.output


def test_step_processes_record_like_the_local_engine(tmp_path, store, monkeypatch):
    """What the Airflow DAG's tasks run (tessel pipeline start, step --run,
    finish), called here as Airflow would call them, try by try: the run and
    steps land in the store as the local engine writes them (tests/python/
    test_automation_airflow.py runs the real DAG)."""
    monkeypatch.delenv("TESSEL_STORE", raising=False)  # an earlier `tessel --store` in this process set it
    calls = []

    def flaky(data, target=None, task="auto", out=None):
        calls.append(data)
        print(f"try {len(calls)}")
        if data == "x" and len(calls) < 2:
            raise RuntimeError(f"flaky {len(calls)}")
        if data == "bad":
            raise ValueError("bad data")
        return {"ok": data}

    monkeypatch.setitem(automation.TASKS, "profile", flaky)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": "proc", "store": store, "steps": {
        "a": {"task": "profile", "retries": 1, "args": {"data": "x"}},
        "b": {"task": "profile", "needs": ["a"], "args": {"data": "${steps.a.ok}"}},
        "c": {"task": "profile", "args": {"data": "bad"}},
        "d": {"task": "profile", "needs": ["c"], "args": {"data": "z"}}}}))

    def call(*args):
        r = CliRunner().invoke(main, ["pipeline", *args])
        assert r.exit_code in (0, 1), r.output
        return r.exit_code, json.loads(r.stdout.strip().splitlines()[-1]) if r.exit_code == 0 else None

    rc, run = call("start", str(path), "--tag", "airflow_run_id=manual__1")
    assert rc == 0 and run["store"] == os.path.abspath(store)
    r = json.dumps(run)
    assert call("step", str(path), "a", "--run", r, "--attempt", "1")[0] == 1  # Airflow retries it
    with tstore.open(store) as st:
        sid = [x.id for x in st.search_runs("pipeline:proc") if st.get_tags(x.id).get("step") == "a"]
        assert len(sid) == 1 and st.get_run(sid[0]).status == "RUNNING"  # a retry is coming
    assert call("step", str(path), "a", "--run", r, "--attempt", "2") == (0, {"ok": "x"})
    assert call("step", str(path), "b", "--run", r, "--upstream", json.dumps({"a": {"ok": "x"}}))[1] \
        == {"ok": "x"}
    assert call("step", str(path), "c", "--run", r)[0] == 1  # no retries: its last try
    assert call("finish", str(path), "--run", r)[0] == 1  # d never ran: the pipeline FAILED
    with tstore.open(store) as st:
        tags = st.get_tags(run["run_id"])
        assert (tags["engine"], tags["state"], tags["airflow_run_id"]) == ("airflow", "FAILED", "manual__1")
        steps = {st.get_tags(x.id)["step"]: x for x in st.search_runs("pipeline:proc")
                 if st.get_tags(x.id).get("kind") == "pipeline_step"}
        t = {n: st.get_tags(x.id) for n, x in steps.items()}
        assert {n: (v["state"], v["attempts"]) for n, v in t.items()} == {
            "a": ("FINISHED", "2"), "b": ("FINISHED", "1"), "c": ("FAILED", "1"), "d": ("SKIPPED", "0")}
        assert [steps[n].status for n in "abcd"] == ["FINISHED", "FINISHED", "FAILED", "KILLED"]
        log = open(st.artifact_file(steps["a"].id, "log.txt")).read()
        assert "attempt 1 of 2" in log and "RuntimeError: flaky 1" in log and "attempt 2 of 2" in log
        assert "ValueError: bad data" in t["c"]["error"] and t["d"]["error"] == "upstream failed: c"
        state = json.load(open(st.artifact_file(run["run_id"], "state.json")))
        assert [x[0] for x in state["steps"]["a"]["transitions"]] == ["RUNNING", "FAILED", "RETRYING", "FINISHED"]
        assert {n: s["state"] for n, s in state["steps"].items()} == {
            "a": "FINISHED", "b": "FINISHED", "c": "FAILED", "d": "SKIPPED"}
