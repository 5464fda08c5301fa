"""Pipelines as Prefect 3 flows (needs `prefect>=3`).

    from tessel.automation import prefect as tp
    result = tp.run("pipeline.yaml")                       # one flow run, each step a Prefect task
    dep = tp.build_deployment("pipeline.yaml", cron="0 3 * * *")   # a scheduled retraining deployment
    dep.apply()                                            # (against your Prefect server; not done here)

Each step becomes a task with the step's retries and retry delay. The
convert step is cached by a hash of its source's files (names, sizes,
modification times) and options, so an unchanged dataset is not converted
again; `cache: true` caches any other step by its inputs. The flow's
parameters are the pipeline (a file path or a mapping), `params` (merged
into the pipeline's params) and `overrides` (--set lines). At the end the
flow writes a markdown artifact: the steps' states and durations, and links
to the agent's HTML report and the model folders.
"""
import contextlib
import io
import logging
import os
import sys
import time
import traceback

try:
    from prefect import flow, task
    from prefect.artifacts import create_markdown_artifact
    from prefect.cache_policies import NO_CACHE
    from prefect.tasks import task_input_hash
except ModuleNotFoundError as e:  # pragma: no cover  (depends on the install)
    raise ModuleNotFoundError(f"tessel.automation.prefect needs Prefect 3 (pip install 'prefect>=3'): {e}") from None

from .pipeline import Pipeline, _Tee, load
from .record import RunRecorder
from .tasks import TASKS, input_hash

__all__ = ["pipeline_flow", "build_flow", "run", "build_deployment", "convert_cache_key", "report_markdown"]


def convert_cache_key(context, parameters):
    """Cache key of a convert step: its source's file hash plus the other arguments."""
    args = dict(parameters["args"])
    src = args.pop("src")
    return "tessel-convert-" + input_hash(src, args)


def _step_task(p, name, rec, tries, logs):
    s = p.steps[name]
    fn = TASKS[s["task"]]
    cache = s["cache"] if s["cache"] is not None else s["task"] == "convert"

    def call(args):
        n = tries[name] = tries.get(name, 0) + 1  # Prefect's retries call this again
        if n > 1:
            rec.transition(name, "RETRYING")
        log = logs.setdefault(name, io.StringIO())
        log.write(f"--- {name} ({s['task']}) attempt {n} of {s['retries'] + 1}\n")
        # print() in a task goes to Prefect's run logger (log_prints), other writes to stdout/stderr:
        # the step's log.txt gets both, as the local engine's does.
        handler = _LogCapture(log)
        logger = logging.getLogger("prefect.task_runs")
        logger.addHandler(handler)
        try:
            with contextlib.redirect_stdout(_Tee(log, sys.stdout)), contextlib.redirect_stderr(_Tee(log, sys.stderr)):
                return fn(**args)
        except Exception:
            log.write(traceback.format_exc())
            rec.transition(name, "FAILED")
            raise
        finally:
            logger.removeHandler(handler)

    call.__name__ = call.__qualname__ = f"tessel_{s['task']}"
    opts = {"name": f"{name} ({s['task']})", "task_run_name": name, "retries": s["retries"],
            "retry_delay_seconds": s["retry_delay"]}
    if cache:
        opts.update(cache_key_fn=convert_cache_key if s["task"] == "convert" else task_input_hash,
                    persist_result=True)
    else:
        opts["cache_policy"] = NO_CACHE
    return task(call, **opts)


class _LogCapture(logging.Handler):
    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))

    def emit(self, record):
        self.stream.write(self.format(record) + "\n")


def report_markdown(p, steps):
    """The flow's summary artifact: a table of the steps and links to what they wrote."""
    lines = [f"# Pipeline `{p.name}`", "", "| step | task | state | tries | seconds |", "|---|---|---|---|---|"]
    for n in p.order:
        s = steps[n]
        secs = "-" if s["duration_s"] is None else f"{s['duration_s']:.2f}"
        lines.append(f"| {n} | {s['task']} | {s['state']} | {s['attempts']} | {secs} |")
    links = []
    for n in p.order:
        out = steps[n].get("output")
        if not isinstance(out, dict):
            continue
        if out.get("report_path"):
            links.append(f"- {n}: [agent report](file://{os.path.abspath(out['report_path'])})")
        if out.get("output_dir"):
            links.append(f"- {n}: model folder `{out['output_dir']}`")
        mv = out.get("model_version")
        if isinstance(mv, dict) and mv.get("name"):
            links.append(f"- {n}: registered `{mv['name']}` version {mv['version']} {mv.get('aliases') or ''}")
        if out.get("url"):
            links.append(f"- {n}: served at {out['url']}")
    errors = [f"- {n}: {steps[n]['error']}" for n in p.order if steps[n].get("error")]
    if links:
        lines += ["", "## Outputs", ""] + links
    if errors:
        lines += ["", "## Errors", ""] + errors
    return "\n".join(lines) + "\n"


def _run_steps(p, rec):
    """Each step as a Prefect task, recorded in the tessel store through `rec` (as the local engine records)."""
    steps = rec.steps
    outputs, tries, logs = {}, {}, {}
    for name in p.order:
        info = steps[name]
        if rec.must_skip(name):
            rec.skip(name)
            continue
        rec.start_step(name)
        t0 = time.perf_counter()
        try:
            args = p.resolve_args(name, outputs)
        except KeyError as e:
            info.update(state="FAILED", error=str(e), duration_s=time.perf_counter() - t0)
            rec.finish_step(name, f"{e}\n")
            continue
        state = _step_task(p, name, rec, tries, logs)(args, return_state=True)
        info["duration_s"] = time.perf_counter() - t0
        info["attempts"] = tries.get(name, 0)  # 0: a cached result
        tags = {"prefect_task_run_id": str(state.state_details.task_run_id)}
        if state.is_completed():
            info["state"] = "FINISHED"
            info["cached"] = state.name == "Cached"
            info["output"] = outputs[name] = state.result()
            if info["cached"]:
                tags["cached"] = "true"
                logs.setdefault(name, io.StringIO()).write(f"--- {name}: Prefect's cached result (not run again)\n")
        else:
            info["state"] = "FAILED"
            try:
                state.result()
            except Exception as e:  # noqa: BLE001  (the task's own error, for the summary)
                info["error"] = f"{type(e).__name__}: {e}"
        rec.finish_step(name, logs[name].getvalue() if name in logs else "", tags)
    return steps


@flow(name="tessel-pipeline", log_prints=True)
def pipeline_flow(pipeline, params=None, overrides=None, store=None):
    """Runs a tessel pipeline (a file path or a mapping) as Prefect tasks,
    recorded in the tessel store as the local engine records it (engine
    prefect, tag prefect_flow_run_id); returns {name, state, steps, run_id, artifact_id}."""
    import json

    from prefect.runtime import flow_run
    sets = list(overrides or [])
    for k, v in (params or {}).items():
        sets.append(f"params.{k}={json.dumps(v)}")
    if store:
        sets.append(f"store={store}")
    p = load(pipeline, sets)
    rec = RunRecorder(p, engine="prefect", tags={"prefect_flow_run_id": str(flow_run.id),
                                                 "prefect_flow_run": str(flow_run.name or "")})
    try:
        steps = _run_steps(p, rec)
        state = rec.finish()
    except BaseException as e:
        rec.abort(e)
        raise
    finally:
        rec.close()
    artifact = create_markdown_artifact(markdown=report_markdown(p, steps), key=_artifact_key(p.name),
                                        description=f"tessel pipeline {p.name}: {state}")
    return {"name": p.name, "state": state, "steps": steps, "run_id": rec.run_id, "artifact_id": str(artifact)}


def _artifact_key(name):
    # Prefect keys: lowercase letters, digits and dashes.
    import re
    return "tessel-" + (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "pipeline")


def build_flow(pipeline):
    """The flow of one pipeline (validated now): call it with no argument, or params=/overrides=."""
    p = pipeline if isinstance(pipeline, Pipeline) else load(pipeline)
    source = os.path.abspath(p.source) if p.source else p.raw
    base = pipeline_flow.with_options(name=f"tessel-{p.name}")

    @flow(name=f"tessel-{p.name}")
    def one(params: dict = None, overrides: list = None):  # noqa: RUF013  (Prefect reads the annotations)
        return base.fn(source, params, overrides, p.store)
    return one


def run(pipeline, params=None, overrides=None, store=None):
    """Runs the pipeline as one Prefect flow run (against the configured Prefect
    API, or a temporary local one Prefect starts); returns the flow's result dict."""
    p = pipeline if isinstance(pipeline, Pipeline) else load(pipeline)
    source = os.path.abspath(p.source) if p.source else p.raw
    return pipeline_flow.with_options(name=f"tessel-{p.name}")(source, params, overrides, store or p.store)


def build_deployment(pipeline, name=None, cron=None, params=None, timezone="UTC"):
    """A scheduled deployment of the pipeline (e.g. one whose watch step
    retrains on drift): the module-level flow `pipeline_flow` with the
    pipeline's path as parameter and a cron schedule (`cron`, else the
    pipeline's `schedule`). Built and checked, not applied or served:
    `.apply()` registers it with a Prefect server, a worker runs it."""
    p = pipeline if isinstance(pipeline, Pipeline) else load(pipeline)
    if not p.source:
        raise ValueError("build_deployment: the pipeline must come from a file (its path is the flow's parameter)")
    cron = cron or p.schedule
    if not cron:
        raise ValueError(f"build_deployment: pipeline {p.name} has no schedule: give cron= or a `schedule:` key")
    from prefect.client.schemas.schedules import CronSchedule
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except Exception as e:  # noqa: BLE001  (pydantic's message says what is wrong)
        raise ValueError(f"build_deployment: schedule {cron!r} is not a valid cron line: {e}") from None
    return pipeline_flow.to_deployment(name=name or f"{p.name}-scheduled", cron=cron,
                                       parameters={"pipeline": os.path.abspath(p.source), "params": params or {}},
                                       tags=["tessel", f"pipeline:{p.name}"],
                                       description=f"tessel pipeline {p.name} on schedule {cron}")
