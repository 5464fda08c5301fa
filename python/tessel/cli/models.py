"""`tessel models list|show|register|alias`: the model registry."""
import json

import click

from ._base import TesselGroup, emit_json, json_option, log, open_store, table, when


@click.group("models", cls=TesselGroup)
def models():
    """Registered models, their versions and aliases. The registry folder
    (STORE/registry) is what `tessel serve --model-repository` loads."""


@models.command("list")
@json_option
@click.pass_context
def list_models(ctx, as_json):
    """List registered models."""
    found = open_store(ctx).list_models()
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no models", err=True)
        return
    table([dict(m, aliases=", ".join(f"{a}={v}" for a, v in m["aliases"].items()) or None,
                created=when(m["created_at"])) for m in found],
          [("name", "NAME"), ("versions", "VERSIONS"), ("latest_version", "LATEST"), ("aliases", "ALIASES"),
           ("created", "CREATED")])


@models.command("show")
@click.argument("name")
@click.argument("version", required=False)
@json_option
@click.pass_context
def show_model(ctx, name, version, as_json):
    """Show model NAME: all versions, or VERSION (a number, an alias, 'latest') in detail."""
    store = open_store(ctx)
    if version is None:
        versions = store.list_versions(name)
        if as_json:
            emit_json({"name": name, "aliases": store.get_aliases(name), "versions": versions})
            return
        click.echo(f"model {name}")
        table([dict(v, aliases=", ".join(v["aliases"]) or None, run=(v["run_id"] or "")[:12] or None,
                    created=when(v["created_at"]),
                    metrics=", ".join(f"{k}={v_:.4g}" for k, v_ in v["metrics"].items()) or None) for v in versions],
              [("version", "VERSION"), ("aliases", "ALIASES"), ("run", "RUN"), ("metrics", "METRICS"),
               ("created", "CREATED")])
        return
    v = store.get_model_version(name, version)
    v["lineage"] = store.lineage(name, v["version"])
    if as_json:
        emit_json(v)
        return
    click.echo(f"model {name} version {v['version']}")
    click.echo(f"  aliases:  {', '.join(v['aliases']) or '-'}")
    click.echo(f"  run:      {v['run_id'] or '-'}")
    click.echo(f"  folder:   {v['folder']}")
    click.echo(f"  files:    {', '.join(v['files'])}")
    click.echo(f"  created:  {when(v['created_at'])}")
    if v["description"]:
        click.echo(f"  about:    {v['description']}")
    sig = v["signature"] or {}
    for kind in ("inputs", "outputs"):
        for t in sig.get(kind, []):
            click.echo(f"  {kind[:-1]:<9} {t['name']}: {t['datatype']} {t['shape']}")
    for k, m in v["metrics"].items():
        click.echo(f"  metric    {k} = {m:.6g}")
    lin = v["lineage"]
    for d in lin["data"]:
        click.echo(f"  data      {d['uri']}")
    for d in lin["deployments"]:
        click.echo(f"  deployed  {d['target']} ({when(d['at'])})")


@models.command("register")
@click.argument("name")
@click.option("--from", "from_dir", type=click.Path(exists=True, file_okay=False),
              help="A `tessel train` output folder: its ONNX file, weights, config, signature, metrics and run.")
@click.option("--onnx", "onnx_path", type=click.Path(exists=True, dir_okay=False), help="The ONNX model file.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="The safetensors weights.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="The training config (YAML/JSON/TOML) to keep with the version.")
@click.option("--run", "run_id", help="The run that produced it (id or unique prefix).")
@click.option("--metric", "metrics", multiple=True, metavar="KEY=VALUE", help="A metric of this version (repeatable).")
@click.option("--data", multiple=True, metavar="URI", help="Data it was trained on, for lineage (repeatable).")
@click.option("--alias", help="Point this alias (e.g. staging) at the new version.")
@click.option("-d", "--description", help="A line about this version.")
@json_option
@click.pass_context
def register(ctx, name, from_dir, onnx_path, weights, config_path, run_id, metrics, data, alias, description,
             as_json):
    """Add a version of model NAME from a `tessel train` output folder (--from), or from an ONNX file
    and/or weights."""
    if from_dir:
        if onnx_path or weights or config_path or metrics or data:
            raise click.UsageError("--from takes the files from the folder: leave out --onnx/--weights/--config/"
                                   "--metric/--data")
        from ..train import register as register_folder
        v = register_folder(from_dir, name, store=open_store(ctx), alias=alias, run_id=run_id,
                            description=description)
    elif not onnx_path and not weights:
        raise click.UsageError("give --from FOLDER, or --onnx and/or --weights")
    parsed = {}
    for m in metrics:
        key, sep, value = m.partition("=")
        try:
            if not sep or not key:
                raise ValueError
            parsed[key] = float(value)
        except ValueError:
            raise click.BadParameter(f"{m!r} is not KEY=NUMBER", param_hint="--metric") from None
    if not from_dir:
        v = open_store(ctx).register_model(name, onnx=onnx_path, weights=weights, config=config_path,
                                           metrics=parsed, run_id=run_id, data=list(data), alias=alias,
                                           description=description)
    if as_json:
        emit_json(v)
    else:
        click.echo(f"{name} version {v['version']}" + (f" ({alias})" if alias else ""))
        log(f"files in {v['folder']}")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", is_flag=True, help="Remove the alias.")
@click.option("--rollback", is_flag=True, help="Move the alias back to where it pointed before its last change.")
@json_option
@click.pass_context
def alias_cmd(ctx, name, alias, version, delete, rollback, as_json):
    """Show, set (promote), roll back or delete ALIAS of model NAME.

    \b
    tessel models alias digits champion 3      point champion at version 3
    tessel models alias digits champion staging   at what staging names
    tessel models alias digits champion --rollback
    tessel models alias digits champion        print the version it names
    """
    if sum(bool(x) for x in (version, delete, rollback)) > 1:
        raise click.UsageError("give one of VERSION, --delete or --rollback")
    store = open_store(ctx)
    if delete:
        store.delete_alias(name, alias)
        result = {"name": name, "alias": alias, "version": None}
    elif rollback:
        result = {"name": name, "alias": alias, "version": store.rollback_alias(name, alias)}
    elif version is not None:
        result = {"name": name, "alias": alias, "version": store.set_alias(name, alias, version)}
    else:
        result = {"name": name, "alias": alias, "version": store.get_model_version(name, alias)["version"]}
    if as_json:
        emit_json(result)
    else:
        click.echo(f"{name}@{alias} -> {result['version'] if result['version'] is not None else '(none)'}")
