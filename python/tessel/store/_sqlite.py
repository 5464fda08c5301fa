"""A lean writer for SQLite stores on Python's sqlite3 (no SQLAlchemy).

ts.callbacks.Tracker records a run through it when its store is a folder or
a plain SQLite file: importing SQLAlchemy and building its engine take a few
hundred milliseconds of CPU, more than a whole run's writes, and it would
compete with the training it records. It writes the same rows into the same
file as Store (same schema, created by the same DDL, _ddl.py; same
checks and conversions, _common.py), which Store, the UI and the CLI read.

    w = SQLiteWriter("runs/tessel.db", "runs")
    run_id = w.start_run("digits", params={"lr": 0.1}, tags={"source": "me"})
    w.log_metrics(run_id, [("loss", 0, 0.9), ("loss", 1, 0.5)])   # one transaction, executemany
    w.end_run(run_id)
    w.close()

WAL mode as Store uses it: readers (the UI) never block it; a write that
cannot get the lock within busy_timeout raises StoreLockedError. Each call
is one transaction, committed before it returns (what was written survives
a crash of the process).
"""
import contextlib
import os
import sqlite3
import threading
import time
import uuid

from ._common import (artifact_destination, check_end_status, check_name, copy_artifacts, metric_rows, param_rows,
                      params_conflict, tag_rows)
from ._ddl import ensure_sqlite_schema
from .errors import NotFoundError, StoreError, translate_db_error

__all__ = ["SQLiteWriter"]


class SQLiteWriter:
    """The write methods of Store that a training run needs (start_run,
    log_params, set_tags, log_metrics, log_artifact, end_run), on a SQLite
    file. db_path: the database file (created with its folder and the schema
    when new); artifact_root: the folder of artifacts/ (as Store's)."""

    def __init__(self, db_path, artifact_root, busy_timeout=30.0):
        self.db_path = os.path.abspath(os.fspath(db_path))
        self.artifact_root = os.path.abspath(os.fspath(artifact_root))
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()  # one statement sequence at a time on the one connection
        self._conn = None
        try:
            os.makedirs(os.path.dirname(self.db_path), exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (a writer takes the lock up front).
            self._conn = sqlite3.connect(self.db_path, timeout=busy_timeout, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            ensure_sqlite_schema(self._conn, self.db_path)
        except sqlite3.Error as e:
            self.close()
            raise translate_db_error(str(e), self.db_path, busy_timeout) from e
        except BaseException:
            self.close()
            raise

    def describe(self):
        return self.db_path

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"SQLiteWriter({self.db_path!r}, artifact_root={self.artifact_root!r})"

    @contextlib.contextmanager
    def _tx(self):
        """One write transaction (the lock taken at BEGIN), committed at exit."""
        if self._conn is None:
            raise StoreError(f"the writer of the store {self.db_path} is closed")
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise translate_db_error(str(e), self.db_path, self.busy_timeout) from e
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.OperationalError):
                    raise translate_db_error(str(e), self.db_path, self.busy_timeout) from e
                raise

    def _read(self, fn, *args):
        """fn(connection, *args) outside a write transaction (a reader never waits for the lock under WAL)."""
        if self._conn is None:
            raise StoreError(f"the writer of the store {self.db_path} is closed")
        with self._lock:
            try:
                return fn(self._conn, *args)
            except sqlite3.OperationalError as e:
                raise translate_db_error(str(e), self.db_path, self.busy_timeout) from e

    def _require_run(self, conn, run_id):
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise NotFoundError(f"no run {run_id!r} in the store {self.db_path}")

    # ----- runs -------------------------------------------------------------------------------------

    def start_run(self, experiment="default", name=None, params=None, tags=None):
        """Starts a RUNNING run in `experiment` (created if new) with its
        params and tags, in one transaction; returns its id."""
        experiment = check_name(experiment, "experiment name")
        prows = param_rows(params or {})
        trows = tag_rows(tags or {})
        run_id = uuid.uuid4().hex
        with self._tx() as c:
            row = c.execute("SELECT id FROM experiments WHERE name = ?", (experiment,)).fetchone()
            eid = row[0] if row is not None else c.execute(
                "INSERT INTO experiments (name, created_at) VALUES (?, ?)", (experiment, time.time())).lastrowid
            c.execute("INSERT INTO runs (id, experiment_id, name, status, start_time) VALUES (?, ?, ?, ?, ?)",
                      (run_id, eid, name, "RUNNING", time.time()))
            c.executemany('INSERT INTO params (run_id, "key", value) VALUES (?, ?, ?)',
                          [(run_id, k, v) for k, v in prows.items()])
            c.executemany('INSERT INTO tags (run_id, "key", value) VALUES (?, ?, ?)',
                          [(run_id, k, v) for k, v in trows.items()])
        return run_id

    def end_run(self, run_id, status="FINISHED"):
        check_end_status(status)
        with self._tx() as c:
            n = c.execute("UPDATE runs SET status = ?, end_time = ? WHERE id = ?",
                          (status, time.time(), run_id)).rowcount
        if not n:
            raise NotFoundError(f"no run {run_id!r} in the store {self.db_path}")

    # ----- params, tags, metrics -----------------------------------------------------------------------

    def log_params(self, run_id, params):
        """As Store.log_params: written once; a different value for a key raises ValueError."""
        rows = param_rows(params)
        with self._tx() as c:
            self._require_run(c, run_id)
            keys = list(rows)
            have = {}
            for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
                chunk = keys[i:i + 500]
                have.update(c.execute(f'SELECT "key", value FROM params WHERE run_id = ? AND "key" IN '
                                      f'({",".join("?" * len(chunk))})', (run_id, *chunk)).fetchall())
            params_conflict(run_id, have, rows)
            c.executemany('INSERT INTO params (run_id, "key", value) VALUES (?, ?, ?)',
                          [(run_id, k, v) for k, v in rows.items() if k not in have])

    def set_tags(self, run_id, tags):
        """As Store.set_tags: a tag may be changed."""
        rows = tag_rows(tags)
        with self._tx() as c:
            self._require_run(c, run_id)
            c.executemany('DELETE FROM tags WHERE run_id = ? AND "key" = ?', [(run_id, k) for k in rows])
            c.executemany('INSERT INTO tags (run_id, "key", value) VALUES (?, ?, ?)',
                          [(run_id, k, v) for k, v in rows.items()])

    def log_metrics(self, run_id, points):
        """As Store.log_metrics: (key, step, value[, timestamp]) points, or a
        dict at step 0, in one transaction (one executemany)."""
        rows = metric_rows(run_id, points, time.time())
        if not rows:
            return
        with self._tx() as c:
            self._require_run(c, run_id)
            c.executemany('INSERT INTO metrics (run_id, "key", step, value, timestamp) VALUES (?, ?, ?, ?, ?)', rows)

    def log_metric(self, run_id, key, value, step=0, timestamp=None):
        self.log_metrics(run_id, [(key, step, value, timestamp)])

    # ----- artifacts ------------------------------------------------------------------------------------

    def artifact_destination(self, run_id, artifact_path):
        """As Store.artifact_destination: write there, then log_artifact without a copy."""
        return artifact_destination(self.artifact_root, run_id, artifact_path)

    def log_artifact(self, run_id, local_path, artifact_path=None):
        """As Store.log_artifact: copies a file or folder under the run's
        folder (unless it is already there) and records size and SHA-256."""
        if not os.path.exists(os.fspath(local_path)):
            raise FileNotFoundError(f"log_artifact: no file {os.fspath(local_path)}")
        self._read(self._require_run, run_id)
        rows = copy_artifacts(self.artifact_root, run_id, local_path, artifact_path, time.time)
        with self._tx() as c:
            c.executemany("DELETE FROM artifacts WHERE run_id = ? AND path = ?", [(r[0], r[1]) for r in rows])
            c.executemany("INSERT INTO artifacts (run_id, path, size, sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                          rows)
        return [r[1] for r in rows]
