"""Pipelines as Airflow 3 DAGs (needs `apache-airflow>=3`, in its own
environment: Airflow 3.3 pins fastapi<0.137 while Prefect 3.9 needs
fastapi>=0.139, so the two cannot share one; see docs/automation.md).

    from tessel.automation.airflow import build_dag
    dag = build_dag("/pipelines/houses.yaml", python="/opt/tessel/bin/python")   # in a file of the dags folder

One TaskFlow task per step (the step's retries and retry delay). The heavy
work runs as a subprocess, `PYTHON -m tessel pipeline step PIPELINE STEP
--upstream JSON --run RUN --attempt N`, in tessel's own environment (`python=`, default
$TESSEL_PYTHON, else this interpreter): Airflow's workers need only
Airflow, and XCom carries each step's JSON output (paths, run ids,
metrics), never tensors. Dependencies follow `needs:`. Every DAG run is
recorded in the tessel store as the local engine records a run (`tessel
pipeline start`, `step --run`, `finish`: tessel.automation.record), so the
web UI's pipelines page shows it.
"""
import datetime
import json
import os
import subprocess
import sys

from .pipeline import Pipeline, load

__all__ = ["build_dag", "run_step_subprocess"]


def _tessel(python, args, what, timeout=None, store=None):
    """Runs `PYTHON -m tessel [--store STORE] pipeline ARGS` (tessel's environment); returns its last stdout
    line as JSON."""
    cmd = [python, "-m", "tessel"] + (["--store", store] if store else []) + ["pipeline", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    sys.stderr.write(proc.stderr)  # the step's log goes to the Airflow task's log
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {tail}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{what} printed no output")
    return json.loads(lines[-1])


def _sets(overrides):
    return [a for o in overrides for a in ("--set", o)]


def run_step_subprocess(python, pipeline_path, name, upstream, run, attempt=1, overrides=(), tags=None,
                        timeout=None):
    """Runs one try of a step in `python`'s tessel, recorded in the tessel
    store's pipeline run `run` ({run_id, store}); returns its output."""
    args = ["step", pipeline_path, name, "--run", json.dumps(run), "--upstream", json.dumps(upstream),
            "--attempt", str(attempt), *_sets(overrides)]
    for k, v in (tags or {}).items():
        args += ["--tag", f"{k}={v}"]
    return _tessel(python, args, f"step {name}", timeout)


def build_dag(pipeline, dag_id=None, schedule=None, python=None, start_date=None, overrides=(), tags=None,
              timeout=None, store=None):
    """An Airflow DAG of the pipeline file (validated now). schedule: a cron
    line or None (default: the pipeline's `schedule:`). Each DAG run is
    recorded in the tessel store (`store`, else the pipeline's `store:`,
    else $TESSEL_STORE of the first task) as the local engine records it: a
    task `tessel.start` opens the pipeline's run and hands its id and the
    store's location to every step through XCom, each step records its tries,
    and `tessel.finish` (after all of them, whatever their state) records the
    steps that never ran as SKIPPED, ends the run, and fails when a step
    failed, so the DAG run's state is the pipeline's."""
    from airflow.sdk import dag, get_current_context, task  # Airflow 3's TaskFlow API

    p = pipeline if isinstance(pipeline, Pipeline) else load(pipeline, overrides)
    if not p.source:
        raise ValueError("build_dag: the pipeline must come from a file (each step's subprocess reads it)")
    path = os.path.abspath(p.source)
    python = python or os.environ.get("TESSEL_PYTHON") or sys.executable
    overrides = list(overrides)

    @dag(dag_id=dag_id or f"tessel_{p.name}".replace(" ", "_"), schedule=schedule or p.schedule,
         start_date=start_date or datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc), catchup=False,
         tags=list(tags or ["tessel", f"pipeline:{p.name}"]), description=p.description)
    def pipeline_dag():
        # Task ids with a dot cannot clash with step names (letters, digits, '_' and '-').
        @task(task_id="tessel.start")
        def start():
            ctx = get_current_context()
            args = ["start", path, "--tag", f"airflow_dag_id={ctx['dag'].dag_id}", "--tag",
                    f"airflow_run_id={ctx['run_id']}", *_sets(overrides)]
            return _tessel(python, args, "tessel.start", timeout, store)

        run = start()
        results = {}
        for name in p.order:
            s = p.steps[name]

            @task(task_id=name, retries=s["retries"], retry_delay=datetime.timedelta(seconds=s["retry_delay"]))
            def step(upstream, run, _name=name):
                ti = get_current_context()["ti"]
                return run_step_subprocess(python, path, _name, upstream, run, ti.try_number, overrides,
                                           {"airflow_task_id": ti.task_id}, timeout)

            reads = sorted(Pipeline._upstream(name, p.steps))
            results[name] = step({n: results[n] for n in reads}, run)
            for n in s["needs"]:  # explicit edges (a need whose output is not read still orders the steps)
                results[n] >> results[name]

        @task(task_id="tessel.finish", trigger_rule="all_done")
        def finish(run):
            return _tessel(python, ["finish", path, "--run", json.dumps(run), *_sets(overrides)], "tessel.finish",
                           timeout)

        end = finish(run)
        for r in results.values():
            r >> end
        return results

    return pipeline_dag()
