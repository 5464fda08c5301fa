"""The Store class: tracking (tracking.py) and registry (registry.py) on a SQLAlchemy engine."""
import os

from ._engine import Engine
from ._location import resolve
from .registry import RegistryMixin
from .tracking import TrackingMixin


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


Store.__module__ = "tessel.store"
