"""The SQLAlchemy engine of a store, its transactions and the schema-version
check (where a store lives: _location.py)."""
import contextlib
import os
import time

from sqlalchemy import create_engine, event, inspect, insert, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from . import schema
from ._ddl import ensure_sqlite_schema
from ._location import DB_FILE, DEFAULT_LOCATION, resolve  # noqa: F401  (resolve was defined here)
from .errors import SchemaVersionError, StoreUnavailableError, translate_db_error


def safe_url(url):
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001  (a message helper must not fail)
        return "<store URL>"


def make_engine(url, busy_timeout):
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as e:
            raise StoreUnavailableError(f"store {safe_url(url)}: the database driver is not installed ({e})") \
                from None
    if u.database and u.database != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(u.database)) or ".", exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # We emit BEGIN ourselves (below): pysqlite's implicit transactions
        # start as readers and can fail to upgrade to writers under WAL.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # WAL: readers (the UI) never block the writer (a trainer) and vice versa.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the lock up front (and wait busy_timeout for it).
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("tessel_write") else "BEGIN")

    return engine


class Engine:
    """The engine of one store plus error translation."""

    def __init__(self, url, busy_timeout=30.0):
        self.url = url
        self.busy_timeout = busy_timeout
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self.engine = make_engine(url, busy_timeout)

    def describe(self):
        if self.is_sqlite:
            return make_url(self.url).database or self.url
        return safe_url(self.url)

    @contextlib.contextmanager
    def tx(self, write=False):
        """A Core connection inside one transaction (committed at exit)."""
        try:
            with self.engine.connect() as conn:
                if write:
                    conn = conn.execution_options(tessel_write=True)
                with conn.begin():
                    yield conn
        except sa_exc.OperationalError as e:
            raise self._translate(e) from e

    def _translate(self, e):
        return translate_db_error(str(getattr(e, "orig", e)), self.describe(), self.busy_timeout)

    def ensure_schema(self):
        """Creates the tables of an empty store; refuses one of another schema version."""
        if self.is_sqlite:
            # The same DDL as the lean writer (_ddl.py), so both create identical stores.
            import sqlite3
            try:
                raw = self.engine.raw_connection()
                try:
                    ensure_sqlite_schema(raw.driver_connection, self.describe())
                finally:
                    raw.close()
            except (sa_exc.OperationalError, sqlite3.OperationalError) as e:
                raise self._translate(e) from e
            return
        try:
            with self.engine.connect() as conn:
                present = inspect(conn).has_table(schema.SchemaInfo.__tablename__)
        except sa_exc.OperationalError as e:
            raise self._translate(e) from e
        if not present:
            try:
                with self.tx(write=True) as conn:
                    if not inspect(conn).has_table(schema.SchemaInfo.__tablename__):
                        schema.Base.metadata.create_all(conn)
                        conn.execute(insert(schema.SchemaInfo).values(id=1, version=schema.SCHEMA_VERSION,
                                                                      created_at=time.time()))
            except (sa_exc.IntegrityError, sa_exc.ProgrammingError):
                pass  # another process created it at the same moment: checked below
        with self.tx() as conn:
            version = conn.execute(select(schema.SchemaInfo.version)).scalar()
        if version != schema.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the store {self.describe()} has schema version {version}, this tessel reads version "
                f"{schema.SCHEMA_VERSION}; open it with a matching tessel, or point TESSEL_STORE at another store")

    def dispose(self):
        self.engine.dispose()
