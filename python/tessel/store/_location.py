"""Where a store lives: its URL and artifact root. Folders and plain SQLite
URLs are resolved without SQLAlchemy (the lean writer's path); other URLs
are checked with SQLAlchemy's URL parser."""
import os

from .errors import StoreError

DEFAULT_LOCATION = "tessel-store"
DB_FILE = "tessel.db"
_SQLITE_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")


def is_url(location):
    return "://" in location


def sqlite_file(url):
    """The database file of a plain SQLite URL ("sqlite:///runs.db",
    "sqlite:////abs/runs.db"), else None: a server, an in-memory database, or
    a URL with options or escapes (SQLAlchemy parses those)."""
    for prefix in _SQLITE_PREFIXES:
        if url.startswith(prefix):
            path = url[len(prefix):]
            if not path or path == ":memory:" or any(c in path for c in "?%") or path.startswith("file:"):
                return None
            return path
    return None


def resolve(location=None, artifact_root=None):
    """(SQLAlchemy URL, artifact root folder) for `location`: None reads
    $TESSEL_STORE, then ./tessel-store. A folder holds tessel.db, artifacts/
    and registry/; a URL ("sqlite:///runs.db", "postgresql+psycopg://...")
    keeps artifacts in `artifact_root`, $TESSEL_ARTIFACT_ROOT, the SQLite
    file's folder, or ./tessel-store, in that order."""
    if location is None:
        location = os.environ.get("TESSEL_STORE") or DEFAULT_LOCATION
    location = os.fspath(location)
    if artifact_root is None:
        artifact_root = os.environ.get("TESSEL_ARTIFACT_ROOT") or None
    if not is_url(location):
        folder = os.path.abspath(os.path.expanduser(location))
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise StoreError(f"store location {folder} is a file, not a folder (give a folder or a URL)")
        return f"sqlite:///{os.path.join(folder, DB_FILE)}", os.path.abspath(artifact_root or folder)
    path = sqlite_file(location)
    if path is None:
        from sqlalchemy import exc as sa_exc
        from sqlalchemy.engine import make_url
        try:
            url = make_url(location)
        except sa_exc.ArgumentError as e:
            raise StoreError(f"store URL {location!r} is not a valid SQLAlchemy URL: {e}") from None
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            path = url.database
    if artifact_root is None:
        artifact_root = os.path.dirname(os.path.abspath(path)) if path else DEFAULT_LOCATION
    return location, os.path.abspath(os.path.expanduser(artifact_root))
