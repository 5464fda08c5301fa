"""Pipelines as Airflow 3 DAGs (needs `apache-airflow>=3`, in its own
environment: Airflow 3.3 pins fastapi<0.137 while Prefect 3.9 needs
fastapi>=0.139, so the two cannot share one; see docs/automation.md).

    from tessel.automation.airflow import build_dag
    dag = build_dag("/pipelines/houses.yaml", python="/opt/tessel/bin/python")   # in a file of the dags folder

One TaskFlow task per step (the step's retries and retry delay). The heavy
work runs as a subprocess, `PYTHON -m tessel pipeline step PIPELINE STEP
--upstream JSON`, in tessel's own environment (`python=`, default
$TESSEL_PYTHON, else this interpreter): Airflow's workers need only
Airflow, and XCom carries each step's JSON output (paths, run ids,
metrics), never tensors. Dependencies follow `needs:`.
"""
import datetime
import json
import os
import subprocess
import sys

from .pipeline import Pipeline, load

__all__ = ["build_dag", "run_step_subprocess"]


def run_step_subprocess(python, pipeline_path, name, upstream, overrides=(), timeout=None):
    """Runs one step in `python`'s tessel; returns its output (the last stdout line, JSON)."""
    cmd = [python, "-m", "tessel", "pipeline", "step", pipeline_path, name, "--upstream", json.dumps(upstream)]
    for o in overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    sys.stderr.write(proc.stderr)  # the step's log goes to the Airflow task's log
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-20:])
        raise RuntimeError(f"step {name} failed (exit {proc.returncode}): {tail}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"step {name} printed no output")
    return json.loads(lines[-1])


def build_dag(pipeline, dag_id=None, schedule=None, python=None, start_date=None, overrides=(), tags=None,
              timeout=None):
    """An Airflow DAG of the pipeline file (validated now). schedule: a cron
    line or None (default: the pipeline's `schedule:`)."""
    from airflow.sdk import dag, task  # Airflow 3's TaskFlow API

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
        results = {}
        for name in p.order:
            s = p.steps[name]

            @task(task_id=name, retries=s["retries"], retry_delay=datetime.timedelta(seconds=s["retry_delay"]))
            def step(upstream, _name=name):
                return run_step_subprocess(python, path, _name, upstream, overrides, timeout)

            reads = sorted(Pipeline._upstream(name, p.steps))
            results[name] = step({n: results[n] for n in reads})
            for n in s["needs"]:  # explicit edges (a need whose output is not read still orders the steps)
                results[n] >> results[name]
        return results

    return pipeline_dag()
