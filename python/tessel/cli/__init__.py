"""The `tessel` command (also `python -m tessel`): one click group, one module
per command group (info.py, runs.py, models.py, serve.py, ...). A later
command registers itself with `main.add_command(...)` here.

    tessel info [--json]
    tessel runs list|show
    tessel models list|show|register|alias
    tessel serve ...            (the tessel-serve model server)
    tessel completion bash|zsh|fish

Settings: flags > TESSEL_* environment > settings file (--config,
$TESSEL_CONFIG, ~/.config/tessel/config.yaml) > defaults. Exit codes: 0
success, 1 failure, 2 usage error. See docs/cli.md.
"""
import os

import click

from ._base import TesselGroup, load_settings

CONTEXT = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "TESSEL", "max_content_width": 100}


def _print_and_exit(what):
    def callback(ctx, _param, value):
        if not value or ctx.resilient_parsing:
            return
        import tessel
        click.echo({"version": tessel.__version__, "cmake": tessel.cmake_dir(), "include": tessel.include_dir()}[what])
        ctx.exit(0)
    return callback


@click.group(cls=TesselGroup, context_settings=CONTEXT)
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False, envvar="TESSEL_CONFIG",
              callback=load_settings, help="Settings file (YAML, JSON or TOML) whose keys are option and command "
                                           "names. [env: TESSEL_CONFIG; default: ~/.config/tessel/config.yaml]")
@click.option("--store", metavar="FOLDER|URL", help="Tracking store: a folder or a SQLAlchemy URL. "
                                                    "[env: TESSEL_STORE; default: ./tessel-store]")
@click.option("--artifact-root", metavar="FOLDER", help="Artifacts and registry folder of a URL store. "
                                                        "[env: TESSEL_ARTIFACT_ROOT]")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure. [env: TESSEL_DEBUG]")
@click.option("--version", is_flag=True, is_eager=True, expose_value=False, callback=_print_and_exit("version"),
              help="Print tessel's version and exit.")
@click.option("--cmake-dir", is_flag=True, is_eager=True, expose_value=False, callback=_print_and_exit("cmake"),
              help="Print the folder of tesselConfig.cmake (for -Dtessel_DIR) and exit.")
@click.option("--include-dir", is_flag=True, is_eager=True, expose_value=False, callback=_print_and_exit("include"),
              help="Print the C++ include folder and exit.")
@click.pass_context
def main(ctx, store, artifact_root, debug):
    """tessel: train, track, register and serve models."""
    # The Python API (ts.store.open()) reads the same variables: keep them in step with the flags.
    if store:
        os.environ["TESSEL_STORE"] = store
    if artifact_root:
        os.environ["TESSEL_ARTIFACT_ROOT"] = artifact_root


@main.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell):
    """Print the shell completion script: eval "$(tessel completion bash)"."""
    from click.shell_completion import get_completion_class
    cls = get_completion_class(shell)
    click.echo(cls(main, {}, "tessel", "_TESSEL_COMPLETE").source())


from . import info, models, runs  # noqa: E402  (each adds its commands to main)

main.add_command(info.info)
main.add_command(runs.runs)
main.add_command(models.models)
from .ui import ui as _ui; main.add_command(_ui)  # noqa: E402,E702  (tessel ui: the web UI)
from .convert import convert as _convert  # noqa: E402
main.add_command(_convert)
from .bench import bench as _bench; main.add_command(_bench)  # noqa: E402,E702
from . import train as _train; [main.add_command(c) for c in (_train.train, _train.evaluate, _train.predict, _train.export)]  # noqa: E402


# `tessel serve`: servehttp's python/tessel/cli/serve.py holds the function
# that execs the tessel-serve binary with the command line's arguments. Every
# argument (--help included) goes to the server as given.
_SERVE_ENTRIES = ("main", "serve", "exec_serve", "run")


def _serve_entry():
    import importlib
    try:
        mod = importlib.import_module(__name__ + ".serve")
    except ImportError as e:
        raise click.ClickException(f"tessel serve is not available in this install ({e})") from None
    for name in _SERVE_ENTRIES:
        fn = getattr(mod, name, None)
        if isinstance(fn, click.Command):
            return lambda args, _cmd=fn: _cmd.main(args=args, prog_name="tessel serve", standalone_mode=True)
        if callable(fn):
            return fn
    raise click.ClickException("tessel serve: tessel/cli/serve.py has no entry function "
                               f"(expected one of {', '.join(_SERVE_ENTRIES)})")


@main.command("serve", add_help_option=False,
              context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def serve_command(args):
    """Run the model server, tessel-serve (`tessel serve --help` lists its options):
    tessel serve --model-repository ./tessel-store/registry"""
    result = _serve_entry()(list(args))
    if isinstance(result, int) and result:
        raise SystemExit(result)
from .agent import agent as _agent; main.add_command(_agent)  # noqa: E402,E702  (tessel agent: the ML agent)
from .launch import launch as _launch; main.add_command(_launch)  # noqa: E402,E702  (tessel launch: mpirun)
from .k8s import k8s as _k8s; main.add_command(_k8s)  # noqa: E402,E702  (tessel k8s render: MPIJob, TrainJob)
from .pipeline import pipeline as _pipeline; main.add_command(_pipeline)  # noqa: E402,E702  (tessel pipeline)
