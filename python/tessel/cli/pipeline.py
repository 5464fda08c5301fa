"""`tessel pipeline run|check|show`: declared pipelines (tessel.automation)."""
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
    """Run the pipeline PATH (local engine: each step is tracked as a run of
    experiment pipeline:NAME). Exit 1 when a step failed."""
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


@pipeline.command("step")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.argument("name")
@click.option("--upstream", metavar="JSON|@FILE", help="Outputs of the steps it reads: {step: output}, as JSON "
                                                      "text or @file.json.")
@_set
@click.pass_context
def step_command(ctx, path, name, upstream, overrides):
    """Run step NAME of PATH alone and print its output as JSON (one line):
    how engines that run each step in its own process (Airflow) call a step."""
    import json
    from ..automation import run_step
    ups = {}
    if upstream:
        text = open(upstream[1:]).read() if upstream.startswith("@") else upstream
        try:
            ups = json.loads(text)
        except ValueError as e:
            raise click.BadParameter(f"not JSON: {e}", ctx, param_hint="--upstream") from None
        if not isinstance(ups, dict):
            raise click.BadParameter("expected a JSON object {step: output}", ctx, param_hint="--upstream")
    p = _load(ctx, path, overrides)
    import contextlib
    import sys
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the output line
            out = run_step(p, name, ups)
    except ConfigError as e:
        raise click.UsageError(str(e), ctx) from None
    click.echo(json.dumps(out))
