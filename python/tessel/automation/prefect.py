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
import os
import time

try:
    from prefect import flow, task
    from prefect.artifacts import create_markdown_artifact
    from prefect.cache_policies import NO_CACHE
    from prefect.tasks import task_input_hash
except ModuleNotFoundError as e:  # pragma: no cover  (depends on the install)
    raise ModuleNotFoundError(f"tessel.automation.prefect needs Prefect 3 (pip install 'prefect>=3'): {e}") from None

from .pipeline import Pipeline, load
from .tasks import TASKS, input_hash

__all__ = ["pipeline_flow", "build_flow", "run", "build_deployment", "convert_cache_key", "report_markdown"]


def convert_cache_key(context, parameters):
    """Cache key of a convert step: its source's file hash plus the other arguments."""
    args = dict(parameters["args"])
    src = args.pop("src")
    return "tessel-convert-" + input_hash(src, args)


def _step_task(p, name, tries):
    s = p.steps[name]
    fn = TASKS[s["task"]]
    cache = s["cache"] if s["cache"] is not None else s["task"] == "convert"

    def call(args):
        tries[name] = tries.get(name, 0) + 1  # Prefect's retries call this again
        return fn(**args)

    call.__name__ = call.__qualname__ = f"tessel_{s['task']}"
    opts = {"name": f"{name} ({s['task']})", "task_run_name": name, "retries": s["retries"],
            "retry_delay_seconds": s["retry_delay"]}
    if cache:
        opts.update(cache_key_fn=convert_cache_key if s["task"] == "convert" else task_input_hash,
                    persist_result=True)
    else:
        opts["cache_policy"] = NO_CACHE
    return task(call, **opts)


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


def _run_steps(p):
    steps = {n: {"task": s["task"], "needs": list(s["needs"]), "state": "PENDING", "attempts": 0,
                 "duration_s": None, "output": None, "error": None} for n, s in p.steps.items()}
    outputs, tries = {}, {}
    for name in p.order:
        info = steps[name]
        if any(steps[d]["state"] != "FINISHED" for d in info["needs"]):
            info["state"] = "SKIPPED"
            info["error"] = "upstream failed: " + ", ".join(d for d in info["needs"] if steps[d]["state"] != "FINISHED")
            continue
        t0 = time.perf_counter()
        try:
            args = p.resolve_args(name, outputs)
        except KeyError as e:
            info.update(state="FAILED", error=str(e))
            continue
        state = _step_task(p, name, tries)(args, return_state=True)
        info["duration_s"] = time.perf_counter() - t0
        info["attempts"] = tries.get(name, 0)  # 0: a cached result
        if state.is_completed():
            info["state"] = "FINISHED"
            info["cached"] = state.name == "Cached"
            info["output"] = outputs[name] = state.result()
        else:
            info["state"] = "FAILED"
            try:
                state.result()
            except Exception as e:  # noqa: BLE001  (the task's own error, for the summary)
                info["error"] = f"{type(e).__name__}: {e}"
    return steps


@flow(name="tessel-pipeline", log_prints=True)
def pipeline_flow(pipeline, params=None, overrides=None, store=None):
    """Runs a tessel pipeline (a file path or a mapping) as Prefect tasks; returns {name, state, steps, artifact}."""
    sets = list(overrides or [])
    import json
    for k, v in (params or {}).items():
        sets.append(f"params.{k}={json.dumps(v)}")
    if store:
        sets.append(f"store={store}")
    p = load(pipeline, sets)
    steps = _run_steps(p)
    state = "FINISHED" if all(s["state"] == "FINISHED" for s in steps.values()) else "FAILED"
    artifact = create_markdown_artifact(markdown=report_markdown(p, steps), key=_artifact_key(p.name),
                                        description=f"tessel pipeline {p.name}: {state}")
    return {"name": p.name, "state": state, "steps": steps, "run_id": None, "artifact_id": str(artifact)}


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
