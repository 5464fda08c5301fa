"""Errors of the tracking store. Each names the store, key, file or path at fault."""


class StoreError(Exception):
    """Base class of the store's errors."""


class SchemaVersionError(StoreError):
    """The store was written by a tessel with another schema version."""


class StoreLockedError(StoreError):
    """Another process held the SQLite file's write lock longer than the busy timeout."""


class StoreUnavailableError(StoreError):
    """The database server cannot be reached, or the file cannot be opened."""


class NotFoundError(StoreError, KeyError):
    """No experiment, run, model, version or alias by that name."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ArtifactPathError(StoreError, ValueError):
    """An artifact path that is absolute or leaves the run's artifact folder."""


def translate_db_error(msg, where, busy_timeout):
    """The StoreError for a database driver's OperationalError message (both writers use it)."""
    msg = msg.strip()
    if "locked" in msg or "busy" in msg:
        return StoreLockedError(f"the store {where} is locked by another process (waited {busy_timeout:g} s): {msg}")
    if "unable to open" in msg or "connect" in msg.lower() or "could not" in msg.lower():
        return StoreUnavailableError(f"cannot reach the store {where}: {msg}")
    return StoreError(f"store {where}: {msg}")
