"""`tessel pipeline check|run|step|start|finish`: declared pipelines (tessel.automation).

`start`, `step --run` and `finish` are how engines that run each step in its own process
(the Airflow DAG, tessel.automation.airflow) record a pipeline run in the store as `run` does."""
import click

from ..config import ConfigError
from ._base import TesselGroup, emit_json, json_option, table

__all__ = ["pipeline"]


def _load(ctx, path, overrides):
    from ..automation import load
    try:
        return load(path, list(overrides))
    except ConfigError as e:
        raise click.UsageError(str(e), ctx) from None


@click.group("pipeline", cls=TesselGroup)
def pipeline():
    """Run declared pipelines (pipeline.yaml): profile, convert, train, tune, evaluate, export, register, deploy, watch."""


_set = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                    help="Override a key: --set params.target=price, --set steps.tune.retries=2. Repeatable.")


@pipeline.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@_set
@click.pass_context
def check_command(ctx, path, overrides):
    """Validate PATH and print the steps in the order they run."""
    p = _load(ctx, path, overrides)
    click.echo(f"pipeline {p.name}: {len(p.order)} steps")
    for n in p.order:
        s = p.steps[n]
        click.echo(f"  {n} ({s['task']})" + (f" after {', '.join(s['needs'])}" if s["needs"] else ""))


@pipeline.command("run")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--engine", type=click.Choice(["local", "prefect"]), default="local", show_default=True,
              help="local: in this process; prefect: a Prefect 3 flow (needs prefect>=3).")
@_set
@click.option("-q", "--quiet", is_flag=True, help="Do not echo the steps' output on stderr.")
@json_option
@click.pass_context
def run_command(ctx, path, engine, overrides, quiet, as_json):
    """Run the pipeline PATH (each step is tracked as a run of experiment
    pipeline:NAME, with either engine). Exit 1 when a step failed."""
    import sys
    p = _load(ctx, path, overrides)
    store = (ctx.find_root().params or {}).get("store")
    if engine == "local":
        from ..automation import run_local
        result = run_local(p, store=store, echo=None if quiet else sys.stderr)
        d = result.to_dict()
    else:
        try:
            from ..automation import prefect as tprefect
        except ModuleNotFoundError as e:
            raise click.ClickException(str(e)) from None
        d = tprefect.run(p, store=store)
    if as_json:
        emit_json(d)
    else:
        rows = [{"step": n, **s} for n, s in d["steps"].items()]
        table(rows, [("step", "step"), ("task", "task"), ("state", "state"), ("attempts", "tries"),
                     ("duration_s", "seconds"), ("error", "error")])
        click.echo(f"pipeline {d['name']}: {d['state']}" + (f" (run {d['run_id']})" if d.get("run_id") else ""))
    if d["state"] != "FINISHED":
        raise SystemExit(1)


_tag = click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag of the recorded run. Repeatable.")


def _tags(ctx, tags):
    bad = [t for t in tags if "=" not in t]
    if bad:
        raise click.BadParameter(f"{bad[0]!r}: expected KEY=VALUE", ctx, param_hint="--tag")
    return dict(t.split("=", 1) for t in tags)


def _json_arg(ctx, text, hint):
    import json
    if text.startswith("@"):
        text = open(text[1:]).read()
    try:
        return json.loads(text)
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", ctx, param_hint=hint) from None


def _run_arg(ctx, run):
    out = _json_arg(ctx, run, "--run")
    if not isinstance(out, dict) or not {"run_id", "store"} <= set(out):
        raise click.BadParameter("expected {\"run_id\": ..., \"store\": ...} from `tessel pipeline start`", ctx,
                                 param_hint="--run")
    return out


def _quiet_stdout():
    import contextlib
    import sys
    return contextlib.redirect_stdout(sys.stderr)  # stdout carries only the result line


@pipeline.command("start")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--engine", default="airflow", show_default=True, help="The engine named in the run's tags.")
@_tag
@_set
@click.pass_context
def start_command(ctx, path, engine, tags, overrides):
    """Open a recorded run of PATH for an engine that runs each step in its
    own process; prints {"run_id", "store"} (one JSON line) for `step --run`
    and `finish --run`."""
    import json
    from ..automation import record
    from click.core import ParameterSource
    _load(ctx, path, overrides)
    root = ctx.find_root()
    # An explicit --store wins over the pipeline's `store:`, which wins over $TESSEL_STORE (record.start).
    store = root.params.get("store") if root.get_parameter_source("store") == ParameterSource.COMMANDLINE else None
    with _quiet_stdout():
        out = record.start(path, store, engine, _tags(ctx, tags), list(overrides))
    click.echo(json.dumps(out))


@pipeline.command("step")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.argument("name")
@click.option("--upstream", metavar="JSON|@FILE", help="Outputs of the steps it reads: {step: output}, as JSON "
                                                      "text or @file.json.")
@click.option("--run", "run", metavar="JSON", help="Record this try in the pipeline run that `tessel pipeline "
                                                   "start` printed.")
@click.option("--attempt", type=click.IntRange(1), default=1, show_default=True,
              help="With --run: this try's number (a failed try before the last leaves the step running).")
@_tag
@_set
@click.pass_context
def step_command(ctx, path, name, upstream, run, attempt, tags, overrides):
    """Run step NAME of PATH alone and print its output as JSON (one line):
    how engines that run each step in its own process (Airflow, Kubernetes
    jobs, cron) call a step; with --run the try is recorded. Exit 1 when it failed."""
    import json
    import sys
    ups = _json_arg(ctx, upstream, "--upstream") if upstream else {}
    if not isinstance(ups, dict):
        raise click.BadParameter("expected a JSON object {step: output}", ctx, param_hint="--upstream")
    p = _load(ctx, path, overrides)
    from ..automation.pipeline import check_step
    try:
        check_step(p, name)
    except ConfigError as e:
        raise click.UsageError(str(e), ctx) from None
    try:
        with _quiet_stdout():
            if run:
                from ..automation import record
                out = record.record_step(path, name, _run_arg(ctx, run), ups, attempt, _tags(ctx, tags),
                                         list(overrides), echo=sys.stderr)
            else:
                from ..automation import run_step
                out = run_step(p, name, ups)
    except ConfigError as e:
        raise click.UsageError(str(e), ctx) from None
    except RuntimeError as e:
        if not run:
            raise
        click.echo(str(e), err=True)
        raise SystemExit(1) from None
    click.echo(json.dumps(out))


@pipeline.command("finish")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--run", "run", metavar="JSON", required=True, help="The run that `tessel pipeline start` printed.")
@_set
@click.pass_context
def finish_command(ctx, path, run, overrides):
    """End the recorded run of PATH: steps that never ran are recorded
    SKIPPED; prints {"state"} and exits 1 unless every step finished."""
    import json
    from ..automation import record
    with _quiet_stdout():
        state = record.finish(path, _run_arg(ctx, run), list(overrides))
    click.echo(json.dumps({"state": state}))
    if state != "FINISHED":
        raise SystemExit(1)
