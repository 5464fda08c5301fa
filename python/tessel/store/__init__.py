"""tessel.store: experiment tracking and the model registry, behind SQLAlchemy.

    store = ts.store.open()                     # $TESSEL_STORE or ./tessel-store (SQLite, WAL)
    with store.run("digits", params={"lr": 3e-3}) as run_id:
        store.log_metrics(run_id, [("loss", 0, 0.9), ("loss", 1, 0.5)])
        store.log_artifact(run_id, "model.onnx")
    store.register_model("digits", onnx="model.onnx", run_id=run_id, alias="champion")
    store.rollback_alias("digits", "champion")

One SQLite file by default (readers never block the writer); any SQLAlchemy
URL otherwise ("postgresql+psycopg://user@host/db"). See docs/tracking.md.

Importing this package does not import SQLAlchemy (Store and the modules
behind it load on first use), so that ts.callbacks.Tracker's lean SQLite
writer (_sqlite.py) keeps SQLAlchemy off the training's path.
"""
from ._common import RUN_STATUSES, RunInfo, check_alias, check_model_name
from ._ddl import SCHEMA_VERSION
from .errors import (ArtifactPathError, NotFoundError, SchemaVersionError, StoreError, StoreLockedError,
                     StoreUnavailableError)

__all__ = ["Store", "open", "RunInfo", "RUN_STATUSES", "SCHEMA_VERSION", "StoreError", "SchemaVersionError",
           "StoreLockedError", "StoreUnavailableError", "NotFoundError", "ArtifactPathError", "onnx_signature",
           "check_model_name", "check_alias"]


def open(location=None, artifact_root=None, busy_timeout=30.0):  # noqa: A001  (as ts.onnx.load / io.open)
    """Store(location, artifact_root, busy_timeout)."""
    from ._store import Store
    return Store(location, artifact_root, busy_timeout)


def __getattr__(name):
    if name == "Store":
        from ._store import Store as value
    elif name == "onnx_signature":
        from .registry import onnx_signature as value
    else:
        raise AttributeError(f"module 'tessel.store' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | {"Store", "onnx_signature"})
