"""`tessel agent run|profile|drift|watch`: the ML agent (tessel.agent) from the command line."""
import click

from ._base import TesselGroup, emit_json, json_option, log

__all__ = ["agent"]


def _budget(ctx, param, value):
    if value is None:
        return None
    from ..agent.errors import BudgetError
    from ..agent.search import parse_budget
    try:
        parse_budget(value)
    except BudgetError as e:
        raise click.BadParameter(str(e), ctx, param) from None
    return value


@click.group("agent", cls=TesselGroup)
def agent():
    """The ML agent: profile data, search models under a budget, register the best."""


@agent.command("profile")
@click.argument("data", type=click.Path(exists=True))
@click.option("-t", "--target", metavar="COL", help="The column to predict (tables).")
@click.option("--task", type=click.Choice(["auto", "classification", "regression"]), default="auto",
              show_default=True)
@json_option
def profile_command(data, target, task, as_json):
    """Profile DATA (a CSV/TSV/JSONL table, a folder of class folders, .npy/.npz)."""
    from ..agent import profile
    p = profile(data, target, task)
    if as_json:
        emit_json(p.to_dict())
    else:
        click.echo(str(p))


@agent.command("drift")
@click.argument("reference", type=click.Path(exists=True, dir_okay=False))
@click.argument("current", type=click.Path(exists=True, dir_okay=False))
@click.option("-t", "--target", metavar="COL", help="The label column (left out of the comparison).")
@click.option("--threshold", type=click.FloatRange(0, min_open=True), default=0.2, show_default=True,
              help="A feature drifts when its PSI is over this.")
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when any feature drifted.")
@json_option
def drift_command(reference, current, target, threshold, fail_on_drift, as_json):
    """Per-feature drift (PSI, Kolmogorov-Smirnov) of table CURRENT against REFERENCE."""
    from ..agent.monitor import drift
    report = drift(reference, current, target, threshold)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(str(report))
    if fail_on_drift and report.drifted:
        raise SystemExit(1)


@agent.command("watch")
@click.argument("model")
@click.argument("data", type=click.Path(exists=True))
@click.option("--threshold", type=click.FloatRange(0, min_open=True), default=0.2, show_default=True,
              help="A feature drifts when its PSI is over this.")
@click.option("--alias", default="champion", show_default=True, help="Alias of a bare MODEL name; promoted.")
@click.option("--no-retrain", is_flag=True, help="Only report the drift.")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Share of the new labelled data held out to compare the models on.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-e", "--experiment", default="agent-watch", show_default=True, help="Experiment of the decision run.")
@click.option("--fail-on-drift", is_flag=True, help="Exit 1 when the data drifted (after retraining).")
@json_option
@click.pass_context
def watch_command(ctx, model, data, threshold, alias, no_retrain, holdout, seed, experiment, fail_on_drift, as_json):
    """Compare new DATA with the training data of MODEL (models:/NAME@champion,
    models:/NAME/3 or NAME); above the threshold retrain on old + new labelled
    data and promote the new version only if it scores better on held-out data.
    DATA may also be the server's input log (a folder of inputs*.jsonl files,
    or one such file): drift is then reported (logged inputs have no labels).

    \b
        tessel agent watch models:/houses@champion this_week.csv --threshold 0.2
        tessel agent watch models:/houses@champion /var/log/tessel-inputs/houses
    """
    from ..agent import watch
    params = ctx.find_root().params or {}
    res = watch(model, data, threshold=threshold, store=params.get("store"), alias=alias, retrain=not no_retrain,
                holdout=holdout, seed=seed, experiment=experiment)
    if as_json:
        emit_json(res.to_dict())
    else:
        for f in res.drift["features"]:
            score = f"psi {f['psi']:.4f}" if f.get("psi") is not None else \
                f"mmd2 {f['mmd2']:.4g} (p {f['p_value']:.3g})"
            click.echo(f"  {f['name']:<24} {score}" + ("  DRIFT" if f["drifted"] else ""))
        click.echo(str(res))
    if fail_on_drift and res.drifted:
        raise SystemExit(1)


@agent.command("run")
@click.argument("data", type=click.Path(exists=True))
@click.option("-t", "--target", metavar="COL", help="The column to predict (tables; class folders need none).")
@click.option("-b", "--budget", callback=_budget, metavar="DURATION",
              help="Wall-clock budget: 90s, 10m, 1h30m. [default: 10m, or none with --trials]")
@click.option("-n", "--trials", "n_trials", type=click.IntRange(1), help="Most trials (with a seed: reproducible).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampler, splits and training.")
@click.option("--task", type=click.Choice(["auto", "classification", "regression"]), default="auto",
              show_default=True)
@click.option("-f", "--family", "families", multiple=True, metavar="NAME",
              help="Model family to search (repeatable; default: per modality).")
@click.option("--max-epochs", type=click.IntRange(1), default=None,
              help="Epochs per trial at most. [default: 20 for audio, 10 for other data]")
@click.option("--min-epochs", type=click.IntRange(1), default=1, show_default=True,
              help="Epochs per trial at least (a time budget shrinks trials toward it).")
@click.option("--val-repeats", type=click.IntRange(1), default=None,
              help="Train/validation splits per trial (the mean judges it). [default: by rows, 5 for tables "
                   "under 1,500, 3 under 4,000, else 1]")
@click.option("--storage", default="sqlite", show_default=True, metavar="sqlite|journal|memory|URL",
              help="Study storage: STORE/studies.db, STORE/studies.journal (several workers), or a database URL.")
@click.option("-w", "--workers", type=click.IntRange(1), default=1, show_default=True,
              help="Processes running trials at once (> 1: journal storage unless a URL; not deterministic).")
@click.option("--study", "study_name", metavar="NAME", help="Continue (or share with other workers) this study.")
@click.option("-e", "--experiment", default="agent", show_default=True, help="Experiment of the runs.")
@click.option("--name", "model_name", metavar="MODEL", help="Registry model name (default: from DATA's name).")
@click.option("--no-register", is_flag=True, help="Do not register the model.")
@click.option("--alias", default="champion", show_default=True, help="Alias of the registered version.")
@click.option("--work-dir", type=click.Path(file_okay=False), help="Folder of the trials and the report "
                                                                   "(default: STORE/agent/RUN_ID).")
@click.option("--lock-timeout", type=click.FloatRange(0), default=10.0, show_default=True,
              help="Seconds to wait for a locked study database.")
@click.option("--no-ensemble", is_flag=True, help="Keep the best single model (no ensemble of the best trials).")
@click.option("--no-refit", is_flag=True, help="Keep the evaluated model: no refit of a small table's final model "
                                               "with the held-out rows.")
@click.option("--advisor", metavar="URL", help="OpenAI-compatible endpoint (http://HOST:PORT/v1) of the LLM advisor.")
@click.option("--advisor-model", metavar="NAME", help="Model name sent to the advisor.")
@click.option("--serve", is_flag=True, help="Serve the registry with tessel serve afterwards.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@json_option
@click.pass_context
def run_command(ctx, data, target, budget, n_trials, seed, task, families, max_epochs, min_epochs, val_repeats, storage,
                workers, study_name, experiment, model_name, no_register, alias, work_dir, lock_timeout, no_ensemble,
                no_refit, advisor, advisor_model, serve, quiet, as_json):
    """Search models for DATA under a budget; retrain the best, evaluate it on a
    held-out split, export it to ONNX and register it (alias champion).

    \b
        tessel agent run houses.csv --target price --budget 10m
        tessel agent run photos/ --trials 20 --seed 0 --json
    """
    from ..agent import AutoML
    params = ctx.find_root().params or {}
    register = False if no_register else (model_name or True)
    automl = AutoML(budget=budget, n_trials=n_trials, seed=seed, families=list(families) or None,
                    max_epochs=max_epochs, min_epochs=min_epochs, store=params.get("store"),
                    experiment=experiment, study_name=study_name, storage=storage, work_dir=work_dir,
                    register=register, alias=alias, lock_timeout=lock_timeout, workers=workers,
                    verbose=not quiet, ensemble=not no_ensemble, advisor=advisor, advisor_model=advisor_model,
                    val_repeats=val_repeats, refit=not no_refit)
    result = automl.fit(data, target, task)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.leaderboard_table())
        click.echo("")
        for k, v in result.test_metrics.items():
            if isinstance(v, float):
                click.echo(f"{k}: {v:.4g}")
        mv = result.model_version
        if mv:
            click.echo(f"model: {mv['name']} version {mv['version']} ({', '.join(mv['aliases'])}) in {mv['folder']}")
        click.echo(f"output: {result.output_dir}")
        if result.report_path:
            click.echo(f"report: {result.report_path}")
    if serve:
        if not result.model_version:
            raise click.ClickException("--serve needs a registered model (drop --no-register)")
        import os
        from . import _serve_entry
        registry = os.path.dirname(os.path.dirname(result.model_version["folder"]))
        log(f"serving {registry} (tessel serve --model-repository {registry})")
        rc = _serve_entry()(["--model-repository", registry])
        if isinstance(rc, int) and rc:
            raise SystemExit(rc)
