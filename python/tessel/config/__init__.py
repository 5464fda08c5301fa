"""tessel.config: the one place where tessel's configuration files are read.

The file reader shared by the CLI's settings file and the registry (JSON,
YAML or TOML, with errors naming the file), and the training config schema
that `tessel train`, the ML agent and the pipelines share (schema.py,
documented in docs/config.md).
"""
import json
import os

__all__ = ["load_file", "ConfigError", "TrainConfig", "resolve_config", "SCHEMA", "MODEL_FAMILIES"]


class ConfigError(ValueError):
    """A configuration file or key that cannot be used; the message names it.
    `errors` lists the single problems (each 'key.path: message') when a
    validation found several."""

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = list(errors) if errors else [message]


def load_file(path):
    """A mapping from a .json, .yaml/.yml or .toml file. ConfigError names the
    file (and line, when the parser says) when it cannot be read or is not a mapping."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    try:
        if ext == ".json":
            data = json.loads(raw.decode("utf-8"))
        elif ext == ".toml":
            import tomllib
            data = tomllib.loads(raw.decode("utf-8"))
        elif ext in (".yaml", ".yml", ""):
            try:
                import yaml
            except ModuleNotFoundError:
                raise ConfigError(f"config file {path}: reading YAML needs PyYAML (pip install pyyaml)") from None
            data = yaml.safe_load(raw.decode("utf-8"))
        else:
            raise ConfigError(f"config file {path}: unknown extension {ext!r} (use .yaml, .yml, .json or .toml)")
    except ConfigError:
        raise
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text: {e}") from None
    except Exception as e:  # noqa: BLE001  (each parser has its own error type)
        raise ConfigError(f"config file {path} is not valid {ext.lstrip('.') or 'YAML'}: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values, got {type(data).__name__}")
    return data


from .schema import MODEL_FAMILIES, SCHEMA, TrainConfig, resolve_config  # noqa: E402
