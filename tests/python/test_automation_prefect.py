"""ts.automation.prefect: pipelines as Prefect 3 flows, run against Prefect's own
test harness (an ephemeral local API; no server started by hand): tasks with
retries, the convert step cached by its input hash, the markdown artifact
linking the agent's report, the scheduled deployment object, and
`tessel pipeline run --engine prefect`. Small data (iris, 1 epoch)."""
import json
import os
import tempfile

import pytest
import yaml

# Prefect keeps its database, results and settings under PREFECT_HOME: a
# throwaway one for this module, and no telemetry.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="tessel-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
prefect = pytest.importorskip("prefect", minversion="3", reason="Prefect 3 is a dev dependency (pip install 'prefect>=3')")

from prefect.testing.utilities import prefect_test_harness  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from tessel import automation  # noqa: E402
from tessel.automation import prefect as tp  # noqa: E402
from tessel.cli import main  # noqa: E402

from test_automation import iris_tables, train_config  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def default_store(tmp_path, monkeypatch):
    # Every flow run is recorded in the tessel store: pipelines without `store:` use $TESSEL_STORE.
    monkeypatch.setenv("TESSEL_STORE", str(tmp_path / "default-store"))


def test_flow_runs_the_agent_and_links_its_report(tmp_path):
    train, test, _ = iris_tables(tmp_path)
    store = str(tmp_path / "store")
    spec = {"name": "Iris Agent", "store": store, "params": {"data": train, "trials": 1}, "steps": {
        "profile": {"task": "profile", "args": {"data": "${params.data}", "target": "target"}},
        "tune": {"task": "tune", "needs": ["profile"],
                 "args": {"data": "${params.data}", "target": "target", "n_trials": "${params.trials}",
                          "max_epochs": 1, "storage": "memory", "register": "iris"}},
        "evaluate": {"task": "evaluate", "needs": ["tune"],
                     "args": {"model": "${steps.tune.output_dir}", "data": test}},
    }}
    r = tp.run(spec)
    assert r["state"] == "FINISHED", r["steps"]
    assert [s["attempts"] for s in r["steps"].values()] == [1, 1, 1]
    report = r["steps"]["tune"]["output"]["report_path"]
    assert os.path.isfile(report)
    assert r["steps"]["evaluate"]["output"]["samples"] == 30
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["tessel-iris-agent"])))
    assert arts and arts[0].type == "markdown"
    md = arts[0].data
    assert f"[agent report](file://{report})" in md and "| tune | tune | FINISHED | 1 |" in md
    assert "registered `iris` version 1" in md


def test_retries_and_skipped_steps(tmp_path, monkeypatch):
    calls = []

    def flaky(data, target=None, task="auto", out=None):
        calls.append(data)
        if len(calls) < 3:
            raise RuntimeError(f"flaky {len(calls)}")
        return {"ok": data}

    monkeypatch.setitem(automation.TASKS, "profile", flaky)
    spec = {"name": "retry", "steps": {
        "a": {"task": "profile", "retries": 2, "args": {"data": "x"}},
        "b": {"task": "profile", "needs": ["a"], "args": {"data": "${steps.a.ok}"}}}}
    r = tp.run(spec)
    assert r["state"] == "FINISHED" and r["steps"]["a"]["attempts"] == 3 and calls == ["x"] * 4
    calls.clear()
    spec["steps"]["a"]["retries"] = 0
    r = tp.run(spec)
    assert r["state"] == "FAILED" and r["steps"]["a"]["state"] == "FAILED"
    assert "flaky 1" in r["steps"]["a"]["error"] and r["steps"]["b"]["state"] == "SKIPPED"


def test_flow_runs_are_recorded_in_the_store_and_shown_by_the_ui(tmp_path, monkeypatch):
    import re

    import tessel.store as tstore
    calls = []

    def flaky(data, target=None, task="auto", out=None):
        calls.append(data)
        print(f"try {len(calls)} of {data}")
        if len(calls) < 3:
            raise RuntimeError(f"flaky {len(calls)}")
        return {"ok": data}

    monkeypatch.setitem(automation.TASKS, "profile", flaky)
    store = str(tmp_path / "store")
    spec = {"name": "recorded", "store": store, "steps": {
        "a": {"task": "profile", "retries": 2, "args": {"data": "x"}},
        "b": {"task": "profile", "needs": ["a"], "args": {"data": "${steps.a.ok}"}},
        "bad": {"task": "evaluate", "args": {"model": str(tmp_path / "missing")}},
        "after_bad": {"task": "profile", "needs": ["bad"], "args": {"data": "y"}}}}
    r = tp.run(spec)
    assert r["state"] == "FAILED" and r["run_id"]
    st = tstore.open(store)
    tags = st.get_tags(r["run_id"])
    assert (tags["kind"], tags["engine"], tags["state"]) == ("pipeline", "prefect", "FAILED")
    assert st.get_run(r["run_id"]).status == "FAILED"
    # The Prefect flow run the tessel run points at exists, with its task runs.
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        fr = client.read_flow_run(tags["prefect_flow_run_id"])
    assert fr.name == tags["prefect_flow_run"] and fr.state.is_completed()
    # One step run per step, with the same records as the local engine writes.
    runs = {st.get_tags(x.id)["step"]: x for x in st.search_runs("pipeline:recorded", limit=50)
            if st.get_tags(x.id).get("kind") == "pipeline_step" and st.get_tags(x.id)["pipeline_run"] == r["run_id"]}
    assert set(runs) == {"a", "b", "bad", "after_bad"}
    step_tags = {n: st.get_tags(x.id) for n, x in runs.items()}
    assert {n: t["state"] for n, t in step_tags.items()} == {"a": "FINISHED", "b": "FINISHED", "bad": "FAILED",
                                                            "after_bad": "SKIPPED"}
    assert step_tags["a"]["attempts"] == "3" and step_tags["b"]["attempts"] == "1"
    assert "missing" in step_tags["bad"]["error"] and "upstream failed: bad" in step_tags["after_bad"]["error"]
    assert all(len(step_tags[n]["prefect_task_run_id"]) == 36 for n in ("a", "b", "bad"))
    assert {n: x.status for n, x in runs.items()} == {"a": "FINISHED", "b": "FINISHED", "bad": "FAILED",
                                                      "after_bad": "KILLED"}
    assert st.metric_history(runs["a"].id, "attempts")[-1][1] == 3.0
    log = open(st.artifact_file(runs["a"].id, "log.txt")).read()
    assert "attempt 1 of 3" in log and "attempt 3 of 3" in log and "RuntimeError: flaky 2" in log
    assert "try 3 of x" in log  # print() in the task, through Prefect's run logger
    assert json.load(open(st.artifact_file(runs["b"].id, "output.json"))) == {"ok": "x"}
    state = json.load(open(st.artifact_file(r["run_id"], "state.json")))
    assert [t[0] for t in state["steps"]["a"]["transitions"]] == ["RUNNING", "FAILED", "RETRYING", "FAILED",
                                                                 "RETRYING", "FINISHED"]
    assert state["steps"]["a"]["duration_s"] > 0
    # The UI's pipelines page lists the run and draws its DAG, as for a local run.
    pytest.importorskip("flask")
    from tessel.ui import create_app
    app = create_app(store=st)
    app.config["TESTING"] = True
    c = app.test_client()
    html = c.get("/pipelines").get_data(as_text=True)
    assert f"/pipelines/{r['run_id']}" in html and "recorded" in html and "prefect" in html
    html = c.get(f"/pipelines/{r['run_id']}").get_data(as_text=True)
    nodes = dict(re.findall(r'data-step="([^"]+)" data-state="([^"]+)"', html))
    assert nodes == {"a": "FINISHED", "b": "FINISHED", "bad": "FAILED", "after_bad": "SKIPPED"}
    assert "3 tries" in html and tags["prefect_flow_run_id"] in html
    assert 'title="RUNNING → FAILED → RETRYING → FAILED → RETRYING → FINISHED"' in html  # a's transitions
    assert c.get(f"/runs/{runs['a'].id}/artifacts/log.txt").status_code == 200


def test_convert_is_cached_by_input_hash(tmp_path):
    import numpy as np
    from PIL import Image
    for c in ("cat", "dog"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((6, 6, 3), 50 * i, np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    spec = {"name": "conv", "steps": {"convert": {"task": "convert", "args": {
        "src": str(tmp_path / "imgs"), "out": str(tmp_path / "shards"), "kind": "image", "options": {"size": "4"}}}}}
    first = tp.run(spec)["steps"]["convert"]
    assert (first["state"], first["cached"], first["attempts"], first["output"]["count"]) == ("FINISHED", False, 1, 4)
    again = tp.run(spec)["steps"]["convert"]
    assert again["cached"] and again["attempts"] == 0 and again["output"] == first["output"]
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(tmp_path / "imgs" / "dog" / "2.png")
    changed = tp.run(spec)["steps"]["convert"]
    assert not changed["cached"] and changed["output"]["count"] == 5


def test_parameters_override_the_pipeline(tmp_path):
    spec = {"name": "params", "params": {"data": "nope.csv"}, "steps": {
        "p": {"task": "profile", "args": {"data": "${params.data}", "target": "target"}}}}
    train, _, _ = iris_tables(tmp_path)
    r = tp.run(spec, params={"data": train})
    assert r["state"] == "FINISHED" and r["steps"]["p"]["output"]["n_samples"] == 120
    r = tp.run(spec)  # the pipeline's own value: a missing file, named in the error
    assert r["state"] == "FAILED" and "nope.csv" in r["steps"]["p"]["error"]


def test_scheduled_deployment_is_built_and_checked(tmp_path):
    path = tmp_path / "retrain.yaml"
    path.write_text(yaml.safe_dump({"name": "retrain", "schedule": "0 3 * * 1", "steps": {
        "p": {"task": "profile", "args": {"data": "x.csv"}}}}))
    dep = tp.build_deployment(str(path))
    assert dep.name == "retrain-scheduled" and dep.entrypoint.endswith("tessel/automation/prefect.py:pipeline_flow")
    assert [s.schedule.cron for s in dep.schedules] == ["0 3 * * 1"]
    assert dep.parameters["pipeline"] == str(path) and "pipeline:retrain" in dep.tags
    assert [s.schedule.cron for s in tp.build_deployment(str(path), cron="*/5 * * * *").schedules] == ["*/5 * * * *"]
    with pytest.raises(ValueError, match="not a valid cron line"):
        tp.build_deployment(str(path), cron="every day")
    path.write_text(yaml.safe_dump({"name": "r", "steps": {"p": {"task": "profile", "args": {"data": "x"}}}}))
    with pytest.raises(ValueError, match="has no schedule"):
        tp.build_deployment(str(path))


def test_cli_engine_prefect(tmp_path):
    train, test, _ = iris_tables(tmp_path)
    store = str(tmp_path / "store")
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"name": "cli", "store": store, "steps": {
        "train": {"task": "train", "args": {"config": train_config(tmp_path, train, test)}},
        "evaluate": {"task": "evaluate", "needs": ["train"], "args": {"model": "${steps.train.output_dir}"}}}}))
    r = CliRunner().invoke(main, ["pipeline", "run", str(path), "--engine", "prefect", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["state"] == "FINISHED" and d["steps"]["evaluate"]["output"]["samples"] == 30
