"""What every `tessel` command shares: the settings file, error handling and
exit codes, and output (tables for people, --json for programs).

Precedence of a setting: command-line flag > TESSEL_* environment variable >
settings file > default. Click gives the first two and the last; the settings
file becomes click's default_map, which sits between environment and default.
"""
import json
import math
import os
import sys
import traceback

import click

from ..config import ConfigError, load_file


def default_settings_path():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "tessel", "config.yaml")


def _normalize(mapping, command, path, where):
    """The settings for `command` with keys checked against its options and
    subcommands (dashes allowed for underscores); ConfigError names a wrong key."""
    out = {}
    params = {p.name: p for p in command.params if p.name}
    subs = getattr(command, "commands", {})
    for key, value in mapping.items():
        name = str(key).replace("-", "_")
        full = f"{where}.{key}" if where else str(key)
        if str(key) in subs:
            if not isinstance(value, dict):
                raise ConfigError(f"settings file {path}: {full!r} must be a mapping of that command's options")
            out[str(key)] = _normalize(value, subs[str(key)], path, full)
        elif name in params and name not in ("config", "help"):
            out[name] = value
        else:
            known = sorted([n.replace("_", "-") for n in params if n not in ("config", "help")] + list(subs))
            raise ConfigError(f"settings file {path}: unknown key {full!r} (known here: {', '.join(known)})")
    return out


def load_settings(ctx, _param, value):
    """Eager callback of --config: reads the settings file into ctx.default_map."""
    explicit = value is not None
    path = value or default_settings_path()
    if not explicit and not os.path.exists(path):
        return value
    try:
        data = load_file(path)
        ctx.default_map = _normalize(data, ctx.command, path, "")
    except ConfigError as e:
        raise click.UsageError(str(e), ctx) from None
    return path


class TesselGroup(click.Group):
    """A group whose commands turn tessel's own errors into one line on stderr and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001  (every failure becomes exit 1 with a message)
            root = ctx.find_root()
            if (root.params or {}).get("debug"):
                traceback.print_exc()
            raise click.ClickException(_message(e)) from None


def _message(e):
    from ..store import StoreError
    text = str(e) or type(e).__name__
    if isinstance(e, (StoreError, ConfigError, ValueError, FileNotFoundError, KeyError, TypeError,
                      NotImplementedError, PermissionError)):
        return text
    return f"{type(e).__name__}: {text} (run with --debug for the traceback)"


# ----- output ---------------------------------------------------------------------------------------------

def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")(f)


def _jsonable(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None if math.isnan(o) else ("inf" if o > 0 else "-inf")
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if hasattr(o, "to_dict"):
        return _jsonable(o.to_dict())
    return o


def emit_json(data):
    click.echo(json.dumps(_jsonable(data), indent=2, sort_keys=False, default=str))


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v)


def table(rows, columns):
    """A plain aligned table: rows are dicts, columns (key, header) pairs."""
    cells = [[h for _, h in columns]] + [[fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    for i, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))


def when(t):
    if t is None:
        return None
    import datetime
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def log(msg):
    """Progress and notes go to stderr so that stdout stays data."""
    click.echo(msg, err=True)


def open_store(ctx):
    from .. import store as tstore
    root = ctx.find_root()
    cached = root.meta.get("tessel.store")
    if cached is None:
        params = root.params or {}
        cached = tstore.open(params.get("store"), params.get("artifact_root"))
        root.meta["tessel.store"] = cached
        root.call_on_close(cached.close)
    return cached


def is_tty(stream=None):
    try:
        return (stream or sys.stdout).isatty()
    except (AttributeError, ValueError):
        return False
