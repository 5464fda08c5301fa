"""`tessel train`, `tessel evaluate`, `tessel predict`, `tessel export`: declarative
training from a config (docs/config.md) and the commands that read what it writes.

MODEL arguments: a train output folder, a registry version folder, or
models:/NAME (latest), models:/NAME/VERSION, models:/NAME@ALIAS.
"""
import csv
import io
import json
import os
import sys

import click

from ..config import ConfigError
from ._base import emit_json, json_option, log, open_store


def _store_arg(ctx):
    """The root --store (flag or TESSEL_STORE), which wins over the config's experiment.store."""
    params = ctx.find_root().params or {}
    return params.get("store") or None


def resolve_model(ctx, ref):
    """The folder of a MODEL argument."""
    if ref.startswith("models:/"):
        rest = ref[len("models:/"):]
        if "@" in rest:
            name, version = rest.split("@", 1)
        elif "/" in rest:
            name, version = rest.split("/", 1)
        else:
            name, version = rest, None
        if not name:
            raise click.UsageError(f"model {ref!r}: expected models:/NAME, models:/NAME/VERSION or models:/NAME@ALIAS")
        return open_store(ctx).get_model_version(name, version or None)["folder"]
    if not os.path.isdir(ref):
        raise click.UsageError(f"model {ref!r}: no such folder (give a `tessel train` output folder, a registry "
                               f"version folder or models:/NAME[/VERSION|@ALIAS])")
    return ref


# ----- tessel train ---------------------------------------------------------------------------------------

@click.command("train")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key (a YAML scalar): --set optimizer.lr=0.01. Repeatable.")
@click.option("--dry-run", is_flag=True, help="Validate and print the resolved config (YAML) without training.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines (same as --set train.verbose=false).")
@json_option
@click.pass_context
def train(ctx, config, overrides, dry_run, quiet, as_json):
    """Train what CONFIG (YAML/JSON/TOML, see docs/config.md) describes: the
    run is tracked in the store, the output folder gets config.yaml,
    model.safetensors, model.onnx, signature.json, metrics.json and
    history.csv, and output.register adds a registry version."""
    from ..config.schema import TrainConfig
    try:
        tc = TrainConfig.from_file(config, list(overrides) + (["train.verbose=false"] if quiet else []))
    except ConfigError as e:
        raise click.UsageError(str(e), ctx) from None
    if dry_run:
        if as_json:
            emit_json(tc.resolve())
        else:
            click.echo(tc.to_yaml(), nl=False)
        return
    from ..train import run
    from ..train.sources import DataError
    try:
        result = run(tc, store=_store_arg(ctx))
    except DataError as e:  # a file or column of the data: failure (1), named
        raise click.ClickException(str(e)) from None
    except ConfigError as e:  # found once the data is known (model keys, output folder): usage (2)
        raise click.UsageError(str(e), ctx) from None
    if result.output_dir is None:
        return  # a rank other than 0 under `tessel launch`: rank 0 reports the run
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(f"run:     {result.run_id or '-'}")
    click.echo(f"output:  {result.output_dir}")
    if result.model_version:
        mv = result.model_version
        click.echo(f"model:   {mv['name']} version {mv['version']}"
                   + (f" ({', '.join(mv['aliases'])})" if mv["aliases"] else ""))
    for k, v in result.metrics.items():
        if isinstance(v, float):
            click.echo(f"{k + ':':<22} {v:.6g}")


# ----- tessel evaluate --------------------------------------------------------------------------------------

@click.command("evaluate")
@click.argument("model")
@click.option("--data", "data_path", metavar="PATH", help="Labeled data (same kind as the training data). "
              "Default: the config's data.val_path, else its data.path (all of it).")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="A corrupt file: stop, or skip it.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@json_option
@click.pass_context
def evaluate(ctx, model, data_path, on_error, batch_size, as_json):
    """Evaluate MODEL on labeled data through its model.onnx: accuracy, macro
    precision/recall/F1 and the confusion matrix (classification), or MAE,
    RMSE and R^2 (regression)."""
    from ..train import evaluate as evaluate_folder
    from ..train.sources import DataError
    folder = resolve_model(ctx, model)
    try:
        m = evaluate_folder(folder, data_path, on_error=on_error, batch_size=batch_size)
    except DataError as e:
        raise click.ClickException(str(e)) from None
    m.pop("task")
    path = m["data"]
    if as_json:
        emit_json(m)
        return
    click.echo(f"model: {folder}")
    click.echo(f"data:  {path} ({m['samples']} samples)")
    for k, v in m.items():
        if isinstance(v, float):
            click.echo(f"{k + ':':<17} {v:.6g}")
    if "confusion_matrix" in m:
        classes = m["classes"]
        w = max(5, *(len(c) for c in classes))
        click.echo("confusion matrix (rows: true, columns: predicted):")
        click.echo(" " * (w + 1) + " ".join(c[:w].rjust(w) for c in classes))
        for c, row in zip(classes, m["confusion_matrix"]):
            click.echo(c[:w].rjust(w) + " " + " ".join(str(v).rjust(w) for v in row))


# ----- tessel predict ----------------------------------------------------------------------------------------

@click.command("predict")
@click.argument("model")
@click.argument("inputs", nargs=-1)
@click.option("--text", "texts", multiple=True, metavar="TEXT", help="A text to classify (text models). Repeatable.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.pass_context
def predict(ctx, model, inputs, texts, fmt, output, batch_size):
    """Predict with MODEL on INPUTS (files or folders: images or audio files,
    .txt files or .csv/.jsonl rows for text and tables, .npy arrays), through
    its model.onnx. Output: one record per input with the label and the class
    probabilities, or the value."""
    from ..train.predictor import Predictor, read_config
    from ..train.inputs import expand_inputs
    from ..train.sources import DataError
    folder = resolve_model(ctx, model)
    p = Predictor.load(folder)
    if texts and p.modality != "text":
        raise click.UsageError(f"--text: model {model} takes {p.modality} inputs, not text")
    if not inputs and not texts:
        raise click.UsageError("give input files or folders" + (" or --text" if p.modality == "text" else ""))
    items, names = [], []
    try:
        if inputs:
            cfg = read_config(folder)
            shape = p.signature["preprocess"].get("shape")
            items, names = expand_inputs(inputs, p.modality, cfg.get("data"), shape)
        for i, t in enumerate(texts):
            items.append(t)
            names.append(f"text:{i + 1}")
        preds = p.predict(items, batch_size=batch_size)
    except DataError as e:
        raise click.ClickException(str(e)) from None
    records = [{"input": n, **r} for n, r in zip(names, preds)]
    if fmt == "json":
        text = json.dumps(records, indent=2) + "\n"
    else:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if p.task == "classification":
            w.writerow(["input", "label"] + [f"p_{c}" for c in p.classes])
            for r in records:
                w.writerow([r["input"], r["label"]] + [f"{r['probabilities'][c]:.6g}" for c in p.classes])
        else:
            w.writerow(["input", "value"])
            for r in records:
                w.writerow([r["input"], f"{r['value']:.8g}"])
        text = buf.getvalue()
    if output:
        with open(output, "w") as f:
            f.write(text)
        log(f"{len(records)} predictions written to {output}")
    else:
        sys.stdout.write(text)


# ----- tessel export ------------------------------------------------------------------------------------------

@click.command("export")
@click.argument("model")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The ONNX file to write.")
@click.option("--opset", type=click.IntRange(13, 21), default=None, help="ONNX opset (default: the config's "
              "output.opset).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Run the exported file on one sample and compare with the model.")
@json_option
@click.pass_context
def export(ctx, model, out, opset, check, as_json):
    """Export MODEL (its model.safetensors and config) to ONNX, batch dimension dynamic."""
    from ..train import export as export_folder
    folder = resolve_model(ctx, model)
    try:
        result = export_folder(folder, out, opset=opset, check=check)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    opset = result["opset"]
    if as_json:
        emit_json(result)
    else:
        click.echo(f"exported {folder} to {result['onnx']} (opset {opset})"
                   + (f", check max |diff| {result['max_abs_diff']:.2g}" if check else ""))
