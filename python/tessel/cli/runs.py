"""`tessel runs list|show`: the runs of the tracking store."""
import click

from ._base import TesselGroup, emit_json, json_option, open_store, table, when


@click.group("runs", cls=TesselGroup)
def runs():
    """Runs recorded in the tracking store (--store / TESSEL_STORE)."""


@runs.command("list")
@click.option("-e", "--experiment", help="Only the runs of this experiment.")
@click.option("--status", type=click.Choice(["RUNNING", "FINISHED", "FAILED", "KILLED"]), help="Only runs in this state.")
@click.option("-n", "--limit", type=click.IntRange(1, 100_000), default=20, show_default=True, help="How many runs.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Skip this many runs first.")
@click.option("--sort", type=click.Choice(["start_time", "end_time", "name", "status"]), default="start_time",
              show_default=True, help="Sort key.")
@click.option("--asc", is_flag=True, help="Ascending order (default: newest/greatest first).")
@click.option("-m", "--metric", "metrics", multiple=True, metavar="KEY",
              help="Add a column with the last value of this metric (repeatable).")
@json_option
@click.pass_context
def list_runs(ctx, experiment, status, limit, offset, sort, asc, metrics, as_json):
    """List runs, newest first."""
    store = open_store(ctx)
    found = store.search_runs(experiment, status, limit, offset, sort, not asc)
    summary = store.metric_summary([r.id for r in found])
    if as_json:
        emit_json([dict(r.to_dict(), metrics={k: v for k, v in summary[r.id].items()}) for r in found])
        return
    if not found:
        click.echo("no runs", err=True)
        return
    rows = []
    for r in found:
        row = {"id": r.id[:12], "experiment": r.experiment, "name": r.name, "status": r.status,
               "start": when(r.start_time), "duration": None if r.duration is None else f"{r.duration:.1f}s"}
        for m in metrics:
            row[m] = summary[r.id].get(m, {}).get("last")
        rows.append(row)
    cols = [("id", "ID"), ("experiment", "EXPERIMENT"), ("name", "NAME"), ("status", "STATUS"), ("start", "STARTED"),
            ("duration", "DURATION")] + [(m, m.upper()) for m in metrics]
    table(rows, cols)


@runs.command("show")
@click.argument("run_id")
@json_option
@click.pass_context
def show_run(ctx, run_id, as_json):
    """Show one run: RUN_ID or a unique prefix of it."""
    store = open_store(ctx)
    info = store.get_run(run_id)
    data = dict(info.to_dict(), params=store.get_params(info.id), tags=store.get_tags(info.id),
                metrics=store.metric_summary([info.id])[info.id], artifacts=store.list_artifacts(info.id))
    if as_json:
        emit_json(data)
        return
    click.echo(f"run {info.id}")
    for k in ("experiment", "name", "status"):
        click.echo(f"  {k + ':':<12}{data[k] if data[k] is not None else '-'}")
    click.echo(f"  {'started:':<12}{when(info.start_time)}")
    click.echo(f"  {'ended:':<12}{when(info.end_time) or '-'}"
               + ("" if info.duration is None else f" ({info.duration:.1f}s)"))
    for title, items in (("params", data["params"]), ("tags", data["tags"])):
        if items:
            click.echo(f"{title}:")
            for k, v in items.items():
                v = v if len(v) <= 80 else v[:77].replace("\n", " ") + "..."
                click.echo(f"  {k} = {v}")
    if data["metrics"]:
        click.echo("metrics:")
        table([dict(s, key=k) for k, s in data["metrics"].items()],
              [("key", "KEY"), ("last", "LAST"), ("min", "MIN"), ("max", "MAX"), ("step", "STEP"), ("count", "POINTS")])
    if data["artifacts"]:
        click.echo("artifacts:")
        for a in data["artifacts"]:
            click.echo(f"  {a['path']} ({a['size']:,} bytes)")
