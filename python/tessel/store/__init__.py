"""tessel.store: experiment tracking and the model registry, behind SQLAlchemy.

    store = ts.store.open()                     # $TESSEL_STORE or ./tessel-store (SQLite, WAL)
    with store.run("digits", params={"lr": 3e-3}) as run_id:
        store.log_metrics(run_id, [("loss", 0, 0.9), ("loss", 1, 0.5)])
        store.log_artifact(run_id, "model.onnx")
    store.register_model("digits", onnx="model.onnx", run_id=run_id, alias="champion")
    store.rollback_alias("digits", "champion")

One SQLite file by default (readers never block the writer); any SQLAlchemy
URL otherwise ("postgresql+psycopg://user@host/db"). See docs/tracking.md.
"""
import os

from ._engine import Engine, resolve
from .errors import (ArtifactPathError, NotFoundError, SchemaVersionError, StoreError, StoreLockedError,
                     StoreUnavailableError)
from .registry import RegistryMixin, check_alias, check_model_name, onnx_signature
from .schema import SCHEMA_VERSION
from .tracking import RUN_STATUSES, RunInfo, TrackingMixin

__all__ = ["Store", "open", "RunInfo", "RUN_STATUSES", "SCHEMA_VERSION", "StoreError", "SchemaVersionError",
           "StoreLockedError", "StoreUnavailableError", "NotFoundError", "ArtifactPathError", "onnx_signature",
           "check_model_name", "check_alias"]


class Store(TrackingMixin, RegistryMixin):
    """A tracking store and model registry.

    location: a folder (holds tessel.db, artifacts/ and registry/), a SQLAlchemy
    URL, or None for $TESSEL_STORE, then ./tessel-store. artifact_root: where
    artifacts and the registry folder live for a URL store ($TESSEL_ARTIFACT_ROOT).
    busy_timeout: seconds a SQLite writer waits for the lock before
    StoreLockedError. The schema is created on first use; a store of another
    schema version raises SchemaVersionError.
    """

    def __init__(self, location=None, artifact_root=None, busy_timeout=30.0):
        self.url, self.artifact_root = resolve(location, artifact_root)
        self.registry_root = os.path.join(self.artifact_root, "registry")
        self._db = Engine(self.url, busy_timeout)
        try:
            self._db.ensure_schema()
        except BaseException:
            self._db.dispose()
            raise

    def describe(self):
        """The database (file or URL without password) for messages."""
        return self._db.describe()

    def close(self):
        self._db.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Store({self.describe()!r}, artifact_root={self.artifact_root!r})"


def open(location=None, artifact_root=None, busy_timeout=30.0):  # noqa: A001  (as ts.onnx.load / io.open)
    """Store(location, artifact_root, busy_timeout)."""
    return Store(location, artifact_root, busy_timeout)
