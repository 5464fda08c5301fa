"""ts.automation.airflow: a pipeline as an Airflow 3 DAG, run with dag.test().

Airflow 3 cannot live in tessel's environment: apache-airflow-core 3.3 needs
fastapi>=0.129,<0.137 and Prefect 3.9 needs fastapi>=0.139,<0.151. So this
test runs in a separate environment that has Airflow (and NumPy, PyYAML):
scripts/setup.sh makes it at .venv-airflow; $TESSEL_AIRFLOW_PYTHON names
another interpreter, e.g.

    python3.11 -m venv /opt/airflow-venv
    /opt/airflow-venv/bin/pip install 'apache-airflow>=3,<4' numpy pyyaml
    TESSEL_AIRFLOW_PYTHON=/opt/airflow-venv/bin/python pytest tests/python/test_automation_airflow.py

The DAG's steps run as subprocesses in *this* interpreter (tessel's
environment), which is the design: Airflow's workers need only Airflow."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

import tessel

_SETUP_VENV = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           ".venv-airflow", "bin", "python")
AIRFLOW_PYTHON = os.environ.get("TESSEL_AIRFLOW_PYTHON") or (_SETUP_VENV if os.path.exists(_SETUP_VENV) else None)
pytestmark = pytest.mark.skipif(not AIRFLOW_PYTHON, reason="needs .venv-airflow (made by scripts/setup.sh) or "
                                                           "$TESSEL_AIRFLOW_PYTHON: a separate environment with "
                                                           "apache-airflow>=3 (it conflicts with Prefect 3)")

# The DAG file, as a user puts one in Airflow's dags folder (dag.test() syncs the DAG from there).
DAG_FILE = textwrap.dedent("""
    import os
    from tessel.automation.airflow import build_dag
    dag = build_dag(os.environ["TESSEL_PIPELINE"])   # python: $TESSEL_PYTHON
""")
SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("tessel_dag", sys.argv[1])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    dag = mod.dag
    edges = {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}
    dr = dag.test()
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    xcom = {ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in dr.get_task_instances()}
    print("RESULT " + json.dumps({"dag_id": dag.dag_id, "edges": edges, "state": str(dr.state), "states": states,
                                  "xcom": xcom, "schedule": str(dag.schedule)}))
""")


def run_in_airflow(tmp_path, pipeline, python=sys.executable, env_extra=None):
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "tessel_dag.py").write_text(DAG_FILE)
    # Only the tessel package goes onto Airflow's path (a folder with a link to it): the
    # folder tessel is installed in is .venv's site-packages, whose fastapi/pydantic would
    # shadow Airflow's own and break its task runner.
    (tmp_path / "pkgs").mkdir()
    os.symlink(os.path.dirname(tessel.__file__), tmp_path / "pkgs" / "tessel")
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path / "dags"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", TESSEL_PIPELINE=str(path), TESSEL_PYTHON=python,
               PYTHONPATH=str(tmp_path / "pkgs"), TESSEL_STORE=str(tmp_path / "default-store"), **(env_extra or {}))
    subprocess.run([AIRFLOW_PYTHON, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=300)
    script = tmp_path / "dag_test.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([AIRFLOW_PYTHON, str(script), str(tmp_path / "dags" / "tessel_dag.py")], env=env,
                          capture_output=True, text=True, timeout=600)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(line[-1][len("RESULT "):])


def test_dag_runs_steps_as_subprocesses_with_paths_in_xcom(tmp_path):
    store = str(tmp_path / "store")
    r = run_in_airflow(tmp_path, {"name": "af", "store": store, "schedule": "0 3 * * *", "steps": {
        "train": {"task": "train", "retries": 1, "args": {"config": {
            "data": {"path": "sklearn:iris"}, "model": {"name": "mlp", "hidden": [8]},
            "train": {"epochs": 1, "verbose": False}, "output": {"dir": str(tmp_path / "out" / "m-{time}")}}}},
        "evaluate": {"task": "evaluate", "needs": ["train"], "args": {"model": "${steps.train.output_dir}"}},
        "register": {"task": "register", "needs": ["evaluate"],
                     "args": {"model": "${steps.train.output_dir}", "name": "iris", "alias": "champion"}},
    }})
    assert r["dag_id"] == "tessel_af" and r["state"].endswith("success"), r
    assert r["edges"] == {"tessel.start": [], "train": ["tessel.start"], "evaluate": ["tessel.start", "train"],
                          "register": ["evaluate", "tessel.start", "train"],
                          "tessel.finish": ["evaluate", "register", "tessel.start", "train"]}
    assert all(s.endswith("success") for s in r["states"].values()), r["states"]
    out = r["xcom"]["train"]
    assert os.path.isfile(os.path.join(out["output_dir"], "model.onnx"))  # XCom holds paths, not tensors
    assert r["xcom"]["evaluate"]["samples"] == 150  # no val_path: all of sklearn iris
    assert r["xcom"]["register"]["aliases"] == ["champion"]
    assert "0 3 * * *" in r["schedule"]
    # The DAG run is recorded in the tessel store as a local run is, and the UI lists it.
    run = r["xcom"]["tessel.start"]
    assert run["store"] == store and r["xcom"]["tessel.finish"] == {"state": "FINISHED"}
    st, steps = recorded(run)
    tags = st.get_tags(run["run_id"])
    assert (tags["engine"], tags["state"], tags["airflow_dag_id"]) == ("airflow", "FINISHED", "tessel_af")
    assert tags["airflow_run_id"]
    assert {n: (t["state"], t["attempts"], t["airflow_task_id"]) for n, (_, t) in steps.items()} == {
        n: ("FINISHED", "1", n) for n in ("train", "evaluate", "register")}
    run_obj, _ = steps["evaluate"]
    assert json.load(open(st.artifact_file(run_obj.id, "output.json")))["samples"] == 150
    assert "attempt 1 of 1" in open(st.artifact_file(run_obj.id, "log.txt")).read()
    pytest.importorskip("flask")
    from tessel.ui import create_app
    c = create_app(store=st).test_client()
    html = c.get(f"/pipelines/{run['run_id']}").get_data(as_text=True)
    assert 'data-step="register" data-state="FINISHED"' in html and "airflow_run_id" in html


def recorded(run):
    """The tessel store and its step runs {step: (run, tags)} of one pipeline run."""
    import tessel.store as tstore
    st = tstore.open(run["store"])
    exp = [e["name"] for e in st.list_experiments() if e["name"].startswith("pipeline:")]
    steps = {}
    for e in exp:
        for x in st.search_runs(e, limit=100):
            t = st.get_tags(x.id)
            if t.get("pipeline_run") == run["run_id"]:
                steps[t["step"]] = (x, t)
    return st, steps


def test_failed_step_fails_the_dag_run(tmp_path):
    r = run_in_airflow(tmp_path, {"name": "bad", "steps": {
        "a": {"task": "evaluate", "args": {"model": str(tmp_path / "missing")}},
        "b": {"task": "profile", "needs": ["a"], "args": {"data": "${steps.a.model}"}}}})
    assert r["state"].endswith("failed")
    assert r["states"]["a"].endswith("failed") and r["states"]["b"].endswith("upstream_failed")
    # Recorded: a FAILED after its try, b (never run by Airflow) SKIPPED, the run FAILED; the
    # finish task fails too, so the DAG run's state is the pipeline's.
    assert r["states"]["tessel.finish"].endswith("failed")
    run = r["xcom"]["tessel.start"]
    assert run["store"] == str(tmp_path / "default-store")
    st, steps = recorded(run)
    assert st.get_tags(run["run_id"])["state"] == "FAILED" and st.get_run(run["run_id"]).status == "FAILED"
    assert {n: t["state"] for n, (_, t) in steps.items()} == {"a": "FAILED", "b": "SKIPPED"}
    assert "missing" in steps["a"][1]["error"] and steps["b"][1]["error"] == "upstream failed: a"


# tessel's interpreter with a profile task whose first try fails (a marker file says it ran): the
# real DAG, Airflow's retry and the recorder's try accounting, with only the task made flaky.
FLAKY_PYTHON = textwrap.dedent("""\
    #!{python}
    import functools, os, runpy, sys
    from tessel.automation import tasks
    real = tasks.TASKS["profile"]

    @functools.wraps(real)
    def flaky(*args, **kwargs):
        marker = os.environ["TESSEL_FLAKY_MARKER"]
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("the first try fails")
        return real(*args, **kwargs)

    tasks.TASKS["profile"] = flaky
    assert sys.argv[1] == "-m", sys.argv
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
""")


def test_retried_step_is_recorded_with_its_tries(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("x,y\n" + "".join(f"{k},{k % 2}\n" for k in range(20)))
    python = tmp_path / "flaky-python"
    python.write_text(FLAKY_PYTHON.format(python=sys.executable))
    python.chmod(0o755)
    r = run_in_airflow(tmp_path, {"name": "retry", "steps": {
        "a": {"task": "profile", "retries": 1, "args": {"data": str(table), "target": "y"}},
        "b": {"task": "evaluate", "needs": ["a"], "args": {"model": str(tmp_path / "none")}}}},
        python=str(python), env_extra={"TESSEL_FLAKY_MARKER": str(tmp_path / "tried")})
    assert r["states"]["a"].endswith("success") and r["states"]["b"].endswith("failed"), r["states"]
    assert r["xcom"]["a"]["n_samples"] == 20
    st, steps = recorded(r["xcom"]["tessel.start"])
    (a, ta), (b, tb) = steps["a"], steps["b"]
    assert (ta["state"], ta["attempts"], a.status) == ("FINISHED", "2", "FINISHED")
    assert (tb["state"], tb["attempts"], b.status) == ("FAILED", "1", "FAILED")
    log = open(st.artifact_file(a.id, "log.txt")).read()
    assert "attempt 1 of 2" in log and "RuntimeError: the first try fails" in log and "attempt 2 of 2" in log
    state = json.load(open(st.artifact_file(r["xcom"]["tessel.start"]["run_id"], "state.json")))
    assert [t[0] for t in state["steps"]["a"]["transitions"]] == ["RUNNING", "FAILED", "RETRYING", "FINISHED"]
