"""The lean SQLite writer (tessel.store._sqlite.SQLiteWriter, Python's sqlite3)
that ts.callbacks.Tracker writes through: the same schema and rows as the
SQLAlchemy Store, read back by it, safe with a reader, nothing lost on a crash."""
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import numpy as np
import pytest

import tessel as ts
from tessel import nn
from tessel import store as tstore
from tessel.store import _ddl, _location
from tessel.store._sqlite import SQLiteWriter
from tessel.store.errors import (ArtifactPathError, NotFoundError, SchemaVersionError, StoreError,
                                 StoreLockedError)
from test_store import pg_server  # noqa: F401,F811  (the real PostgreSQL server fixture)


def _writer(folder, **kw):
    return SQLiteWriter(os.path.join(folder, "tessel.db"), folder, **kw)


def _master(db):
    with sqlite3.connect(db) as c:
        return sorted(c.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(),
                      key=lambda r: (r[0], r[1]))


# ----- one schema ------------------------------------------------------------------------------------

def test_checked_in_ddl_is_what_sqlalchemy_compiles_from_schema_py():
    # Fails after a change to schema.py until `python -m tessel.store._ddl --write` is run.
    assert _ddl.SQLITE_DDL == _ddl.generate()
    assert tstore.SCHEMA_VERSION == _ddl.SCHEMA_VERSION


def test_both_paths_and_create_all_make_the_same_schema(tmp_path):
    from sqlalchemy import create_engine
    from tessel.store import schema
    _writer(str(tmp_path / "lean")).close()
    tstore.open(tmp_path / "full").close()
    # A store created the way earlier versions did (metadata.create_all) reads the same too.
    engine = create_engine(f"sqlite:///{tmp_path / 'create_all.db'}")
    schema.Base.metadata.create_all(engine)
    engine.dispose()
    lean = _master(tmp_path / "lean" / "tessel.db")
    assert lean == _master(tmp_path / "full" / "tessel.db") == _master(tmp_path / "create_all.db")
    assert {r[1] for r in lean if r[0] == "table"} == set(schema.Base.metadata.tables)
    with sqlite3.connect(tmp_path / "lean" / "tessel.db") as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("SELECT version FROM tessel_schema").fetchone()[0] == tstore.SCHEMA_VERSION


def test_store_of_another_version_is_refused(tmp_path):
    _writer(str(tmp_path)).close()
    with sqlite3.connect(tmp_path / "tessel.db") as c:
        c.execute("UPDATE tessel_schema SET version = 99")
    with pytest.raises(SchemaVersionError, match=r"tessel.db has schema version 99, this tessel reads version 1"):
        _writer(str(tmp_path))


def test_plain_sqlite_urls_resolve_as_sqlalchemy_reads_them(tmp_path):
    from sqlalchemy.engine import make_url
    for url in ("sqlite:///runs.db", f"sqlite:///{tmp_path}/runs.db", "sqlite+pysqlite:///a/b.db"):
        assert _location.sqlite_file(url) == make_url(url).database
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///runs.db?timeout=5", "postgresql://h/db",
                "sqlite:///a%20b.db"):
        assert _location.sqlite_file(url) is None  # these go through SQLAlchemy
    assert _location.resolve(f"sqlite:///{tmp_path}/x/runs.db") == (f"sqlite:///{tmp_path}/x/runs.db",
                                                                    str(tmp_path / "x"))


# ----- the rows -----------------------------------------------------------------------------------------

def _record(w, src):
    """The same calls through either writer."""
    run = w.start_run("exp", "r1", params={"lr": 0.1, "betas": (0.9, 0.99), "name": "x"}, tags={"team": "a"})
    w.log_params(run, {"epochs": 3, "lr": 0.1})  # the same value again is fine
    w.set_tags(run, {"team": "b", "note": "hi"})
    w.log_metrics(run, [("loss", 0, 1.5), ("loss", 1, float("nan")), ("loss", 2, float("inf")),
                        ("step/loss", 7, np.float32(0.25)), ("acc", 1, 0.5, 123.0)])
    w.log_metrics(run, {"final": 2.0})
    w.log_artifact(run, src / "a.txt", "files/a.txt")
    w.log_artifact(run, src / "d")
    w.end_run(run, "FAILED")
    return run


def _rows(db):
    with sqlite3.connect(db) as c:
        return {t: c.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
                for t in ("experiments", "runs", "params", "tags", "metrics", "artifacts")}


def test_both_paths_write_identical_rows(tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "d" / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("hello")
    (src / "d" / "sub" / "b.bin").write_bytes(b"\x00\x01" * 1000)
    monkeypatch.setattr(time, "time", lambda: 1000.0)
    for name, make in (("lean", lambda: _writer(str(tmp_path / "lean"))), ("full", lambda: tstore.open(tmp_path / "full"))):
        ids = iter([uuid.UUID(int=1), uuid.UUID(int=2)])
        monkeypatch.setattr(uuid, "uuid4", lambda: next(ids))
        with make() as w:
            assert _record(w, src) == uuid.UUID(int=1).hex
    lean, full = _rows(tmp_path / "lean" / "tessel.db"), _rows(tmp_path / "full" / "tessel.db")
    assert lean == full
    assert len(lean["metrics"]) == 6 and lean["metrics"][1][4] is None  # NaN stored as NULL
    for rel in ("files/a.txt", "d/sub/b.bin"):
        a = (tmp_path / "lean" / "artifacts" / uuid.UUID(int=1).hex / rel).read_bytes()
        assert a == (tmp_path / "full" / "artifacts" / uuid.UUID(int=1).hex / rel).read_bytes()


def test_round_trip_read_by_the_store(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "a.txt").write_text("hello")
    (src / "d" / "b.txt").write_text("b")
    with _writer(str(tmp_path / "s")) as w:
        run = _record(w, src)
        # A file written where the artifact lives is recorded without a copy.
        dst = w.artifact_destination(run, "model/weights.bin")
        with open(dst, "wb") as f:
            f.write(b"w" * 10)
        assert w.log_artifact(run, dst, "model/weights.bin") == ["model/weights.bin"]
    s = tstore.open(tmp_path / "s")
    info = s.get_run(run)
    assert (info.experiment, info.name, info.status) == ("exp", "r1", "FAILED") and info.end_time >= info.start_time
    assert s.get_params(run) == {"betas": "[0.9, 0.99]", "epochs": "3", "lr": "0.1", "name": "x"}
    assert s.get_tags(run) == {"note": "hi", "team": "b"}
    loss = s.metric_history(run, "loss")
    assert loss[0][:2] == (0, 1.5) and math.isnan(loss[1][1]) and loss[2][1] == math.inf
    assert s.metric_history(run, "acc") == [(1, 0.5, 123.0)]
    assert s.metric_summary([run])[run]["step/loss"]["last"] == 0.25
    arts = {a["path"]: a for a in s.list_artifacts(run)}
    assert set(arts) == {"files/a.txt", "d/b.txt", "model/weights.bin"} and arts["model/weights.bin"]["size"] == 10
    with open(s.artifact_file(run, "files/a.txt")) as f:
        assert f.read() == "hello"
    s.close()


def test_writer_errors_match_the_store(tmp_path):
    w = _writer(str(tmp_path / "s"), busy_timeout=0.05)
    run = w.start_run("e")
    with pytest.raises(ValueError, match="parameter 'lr' of run .* is already '0.1'"):
        w.log_params(run, {"lr": 0.1})
        w.log_params(run, {"lr": 0.2})
    with pytest.raises(NotFoundError, match="no run 'nope'"):
        w.log_metrics("nope", [("loss", 0, 1.0)])
    with pytest.raises(NotFoundError, match="no run 'nope'"):
        w.end_run("nope")
    with pytest.raises(ValueError, match="metric name must be a non-empty string"):
        w.log_metrics(run, [("", 0, 1.0)])
    with pytest.raises(ValueError, match="end_run: status must be one of"):
        w.end_run(run, "DONE")
    with pytest.raises(ValueError, match="experiment name must be a non-empty string"):
        w.start_run("")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ArtifactPathError, match="leaves the run's artifact folder"):
        w.log_artifact(run, tmp_path / "f.txt", "../../escape.txt")
    with pytest.raises(ArtifactPathError, match="is absolute"):
        w.artifact_destination(run, "/etc/passwd")
    holder = sqlite3.connect(tmp_path / "s" / "tessel.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreLockedError, match=r"tessel.db is locked by another process \(waited 0.05 s\)"):
            w.log_metrics(run, [("loss", 0, 1.0)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    w.log_metrics(run, [("loss", 0, 1.0)])  # nothing half-written: the retry writes it once
    w.close()
    with pytest.raises(StoreError, match="is closed"):
        w.log_metrics(run, [("loss", 1, 1.0)])
    with tstore.open(tmp_path / "s") as s:
        assert s.metric_history(run, "loss") == [(0, 1.0, pytest.approx(time.time(), abs=60))]


def test_unopenable_file_names_it(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "tessel.db").mkdir()  # a folder where the database file should be
    with pytest.raises(StoreError, match=r"ro/tessel.db"):
        _writer(str(tmp_path / "ro"))


# ----- concurrency and crashes ---------------------------------------------------------------------------

def test_reader_reads_while_the_writer_writes(tmp_path):
    w = _writer(str(tmp_path / "s"))
    run = w.start_run("c")
    s = tstore.open(tmp_path / "s", busy_timeout=5)
    # A reader inside a long read transaction does not block the writer under WAL.
    reader = sqlite3.connect(tmp_path / "s" / "tessel.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM metrics").fetchone()[0] == 0
    errors, counts = [], []

    def write():
        try:
            for i in range(50):
                w.log_metrics(run, [("step/loss", i * 20 + j, float(j)) for j in range(20)])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=write)
    t.start()
    while t.is_alive():
        counts.append(len(s.metric_history(run, "step/loss")))
    t.join()
    assert not errors
    assert reader.execute("SELECT count(*) FROM metrics").fetchone()[0] == 0  # its snapshot
    reader.execute("COMMIT")
    reader.close()
    assert counts == sorted(counts) and all(c % 20 == 0 for c in counts)  # whole transactions only
    assert len(s.metric_history(run, "step/loss")) == 1000
    w.close()
    s.close()


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


_CRASH = textwrap.dedent("""
    import os, sqlite3, sys, time, numpy as np, tessel as ts
    from tessel import nn
    x = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
    m = nn.Sequential(nn.Linear(6, 2)); m.compile(optimizer="sgd", loss="cross_entropy")
    how = sys.argv[2]
    class Crash(ts.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 0:
                t.run_id  # waits for the store: the epoch ends below are flushed (not left for the end)
            if epoch == 2:
                print(t.run_id, flush=True)
                if how == "kill":
                    # The writer thread commits epochs 0 and 1 on its own (no end of training needed) ...
                    db = sqlite3.connect(os.path.join(sys.argv[1], "tessel.db"))
                    deadline = time.time() + 60
                    while db.execute("SELECT count(*) FROM metrics WHERE key = 'loss'").fetchone()[0] < 2:
                        assert time.time() < deadline
                        time.sleep(0.01)
                    os._exit(3)  # ... and a kill (no exit handler, no flush) keeps what was committed
                raise KeyboardInterrupt
    t = ts.callbacks.Tracker("e", store=sys.argv[1], flush_every=0)
    m.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[t, Crash()])
""")


@pytest.mark.parametrize("how", ["interrupt", "kill"])
def test_crash_mid_fit_keeps_the_rows(tmp_path, how):
    out = subprocess.run([sys.executable, "-c", _CRASH, str(tmp_path / "s"), how], capture_output=True, text=True,
                         timeout=120)
    # An uncaught KeyboardInterrupt ends Python by SIGINT (-2).
    assert out.returncode == (3 if how == "kill" else -signal.SIGINT), out.stderr
    if how == "interrupt":
        assert "KeyboardInterrupt" in out.stderr
    run_id = out.stdout.strip()
    with sqlite3.connect(tmp_path / "s" / "tessel.db") as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    s = tstore.open(tmp_path / "s")
    loss = [st for st, _, _ in s.metric_history(run_id, "loss")]
    steps = len(s.metric_history(run_id, "step/loss"))
    if how == "interrupt":  # the exit handler wrote everything and ended the run
        assert s.get_run(run_id).status == "FAILED" and loss == [0, 1] and steps == 8
    else:  # killed: every epoch end flushed (flush_every=0) was committed; the run stays RUNNING
        assert s.get_run(run_id).status == "RUNNING" and loss == [0, 1] and steps == 8
    s.close()


# ----- the Tracker on it ------------------------------------------------------------------------------------

def test_tracker_on_a_folder_never_imports_sqlalchemy(tmp_path):
    code = textwrap.dedent("""
        import sys, numpy as np, tessel as ts
        from tessel import nn
        x = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
        m = nn.Sequential(nn.Linear(6, 2)); m.compile(optimizer="sgd", loss="cross_entropy")
        t = ts.callbacks.Tracker("e", store=sys.argv[1])
        m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[t])
        print(t.run_id, any(k.split(".")[0] == "sqlalchemy" for k in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    run_id, imported = out.stdout.split()
    assert imported == "False"
    with tstore.open(tmp_path / "s") as s:
        assert s.get_run(run_id).status == "FINISHED"
        assert {a["path"] for a in s.list_artifacts(run_id)} == {"model/weights.safetensors", "model/model.onnx"}
        assert len(s.metric_history(run_id, "step/loss")) == 8


def test_fit_returns_committed_and_close_waits_for_the_writer(tmp_path):
    x, y = _data()
    ts.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 2))
    m.compile(optimizer="sgd", loss="cross_entropy")
    tracker = ts.callbacks.Tracker("e", store=tmp_path / "s")
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tracker])
    # Committed when fit returns: another connection sees the finished run.
    c = sqlite3.connect(tmp_path / "s" / "tessel.db")
    assert c.execute("SELECT status FROM runs").fetchall() == [("FINISHED",)]
    assert c.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 2
    c.close()
    writer = tracker._closing
    tracker.close()
    assert writer is not None and not writer.is_alive()
    # The last connection closed: the WAL was checkpointed into the database file and removed.
    assert not os.path.exists(tmp_path / "s" / "tessel.db-wal")
    tracker.close()  # twice is fine


def test_tracker_writer_waits_out_a_lock_without_stopping_training(tmp_path):
    x, y = _data()
    _writer(str(tmp_path / "s")).close()
    holder = sqlite3.connect(tmp_path / "s" / "tessel.db", isolation_level=None)
    stamps = []

    class LockDuringEpoch1(ts.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            stamps.append(time.perf_counter())
            if epoch == 1:
                holder.execute("BEGIN IMMEDIATE")
            elif epoch == 3:
                holder.execute("ROLLBACK")

    ts.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 2))
    m.compile(optimizer="sgd", loss="cross_entropy")
    tracker = ts.callbacks.Tracker("e", store=tmp_path / "s", log_model=False, flush_every=0)
    m.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[LockDuringEpoch1(), tracker])
    holder.close()
    with tstore.open(tmp_path / "s") as s:
        assert s.get_run(tracker.run_id).status == "FINISHED"
        assert [st for st, _, _ in s.metric_history(tracker.run_id, "loss")] == [0, 1, 2, 3]
        assert len(s.metric_history(tracker.run_id, "step/loss")) == 16


def test_tracker_on_postgresql_goes_through_the_store(tmp_path, monkeypatch, pg_server):  # noqa: F811
    url = pg_server()
    x, y = _data()
    ts.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 2))
    m.compile(optimizer="sgd", loss="cross_entropy")
    monkeypatch.setenv("TESSEL_ARTIFACT_ROOT", str(tmp_path / "art"))
    tracker = ts.callbacks.Tracker("pg", store=url, register_as="pgmodel")
    m.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tracker])
    with tstore.open(url, artifact_root=tmp_path / "art") as s:
        assert s.get_run(tracker.run_id).status == "FINISHED"
        assert [st for st, _, _ in s.metric_history(tracker.run_id, "loss")] == [0, 1]
        assert {a["path"] for a in s.list_artifacts(tracker.run_id)} == {"model/weights.safetensors",
                                                                          "model/model.onnx"}
        assert s.get_model_version("pgmodel")["run_id"] == tracker.run_id
