"""tessel.store: tracking and registry on SQLite and on a real PostgreSQL server
that this file starts (initdb + pg_ctl in a temp folder, on a free port)."""
import glob
import json
import math
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid

import pytest
import sqlalchemy

import tessel as ts
from tessel import store as tstore
from tessel.store import (ArtifactPathError, NotFoundError, SchemaVersionError, StoreLockedError,
                          StoreUnavailableError)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ----- a PostgreSQL server of our own ------------------------------------------------------------------

def _pg_binary(name):
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg_server():
    """A throwaway PostgreSQL cluster; yields a function that creates a fresh
    database and returns its SQLAlchemy URL."""
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    missing = [n for n, p in (("initdb", initdb), ("pg_ctl", pg_ctl)) if p is None]
    if missing:
        pytest.skip(f"PostgreSQL is not installed: no {' or '.join(missing)} on PATH or in /usr/lib/postgresql/*/bin "
                    f"(Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the psycopg driver (pip install 'psycopg[binary]') is not installed")
    import psycopg

    base = tempfile.mkdtemp(prefix="tessel-pg-")
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as an unprivileged user
        for user in ("postgres", "nobody"):
            try:
                pw = pwd.getpwnam(user)
                break
            except KeyError:
                continue
        else:
            pytest.skip("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", user, "--"]
    data, log, port = os.path.join(base, "data"), os.path.join(base, "server.log"), _free_port()
    subprocess.run(as_user + [initdb, "-D", data, "-U", "tessel", "-A", "trust", "--no-sync", "-E", "UTF8"],
                   check=True, capture_output=True)
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    started = subprocess.run(as_user + [pg_ctl, "-D", data, "-l", log, "-w", "-t", "60", "-o", opts, "start"],
                             capture_output=True, text=True)
    if started.returncode != 0:
        text = open(log).read() if os.path.exists(log) else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{text}")
    admin = psycopg.connect(f"host=127.0.0.1 port={port} user=tessel dbname=postgres", autocommit=True)

    def new_database():
        name = "t" + uuid.uuid4().hex[:12]
        admin.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://tessel@127.0.0.1:{port}/{name}"

    try:
        yield new_database
    finally:
        admin.close()
        subprocess.run(as_user + [pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = tstore.open(tmp_path / "store")
    else:
        s = tstore.open(request.getfixturevalue("pg_server")(), artifact_root=tmp_path / "artifacts")
    yield s
    s.close()


# ----- store location and schema -------------------------------------------------------------------

def test_folder_store_layout_and_reopen(tmp_path):
    s = tstore.open(tmp_path / "st")
    run = s.start_run("e")
    s.close()
    assert (tmp_path / "st" / "tessel.db").is_file()
    s2 = tstore.open(tmp_path / "st")
    assert s2.get_run(run).experiment == "e"
    assert s2.artifact_root == str(tmp_path / "st")
    assert s2.registry_root == str(tmp_path / "st" / "registry")
    s2.close()
    con = sqlite3.connect(tmp_path / "st" / "tessel.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT version FROM tessel_schema").fetchone()[0] == tstore.SCHEMA_VERSION


def test_env_var_picks_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSEL_STORE", str(tmp_path / "from-env"))
    with tstore.open() as s:
        s.start_run()
    assert (tmp_path / "from-env" / "tessel.db").is_file()
    url = f"sqlite:///{tmp_path / 'x' / 'runs.db'}"
    monkeypatch.setenv("TESSEL_STORE", url)
    with tstore.open() as s:
        assert s.url == url and s.artifact_root == str(tmp_path / "x")


def test_store_location_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(tstore.StoreError, match="is a file"):
        tstore.open(tmp_path / "f")


def test_schema_version_mismatch_is_refused(tmp_path):
    tstore.open(tmp_path / "st").close()
    con = sqlite3.connect(tmp_path / "st" / "tessel.db")
    con.execute("UPDATE tessel_schema SET version = 99")
    con.commit()
    con.close()
    with pytest.raises(SchemaVersionError, match=r"schema version 99.*reads version 1"):
        tstore.open(tmp_path / "st")


def test_unreachable_server_names_the_store_without_password():
    with pytest.raises(StoreUnavailableError) as e:
        tstore.open(f"postgresql+psycopg://me:secret@127.0.0.1:{_free_port()}/db", artifact_root="/tmp")
    assert "127.0.0.1" in str(e.value) and "secret" not in str(e.value)


def test_bad_url():
    with pytest.raises(tstore.StoreError, match="not a valid SQLAlchemy URL"):
        tstore.open("nodriver:://x")


# ----- runs, params, tags ---------------------------------------------------------------------------

def test_runs_params_tags(store):
    r1 = store.start_run("exp", name="first", params={"lr": 0.01, "optimizer": "adam", "layers": [1, 2]},
                         tags={"user": "me"})
    time.sleep(0.01)
    r2 = store.start_run("exp", name="second")
    r3 = store.start_run("other")
    store.end_run(r1)
    store.end_run(r3, "FAILED")
    assert store.get_params(r1) == {"layers": "[1, 2]", "lr": "0.01", "optimizer": "adam"}
    store.set_tags(r1, {"user": "you", "note": "x"})
    assert store.get_tags(r1) == {"note": "x", "user": "you"}
    info = store.get_run(r1)
    assert (info.name, info.status, info.experiment) == ("first", "FINISHED", "exp")
    assert info.end_time >= info.start_time and info.duration >= 0
    assert store.get_run(r2).status == "RUNNING" and store.get_run(r2).end_time is None
    assert [r.id for r in store.search_runs("exp")] == [r2, r1]  # newest first
    assert [r.id for r in store.search_runs("exp", descending=False)] == [r1, r2]
    assert [r.id for r in store.search_runs(status="FAILED")] == [r3]
    assert [r.id for r in store.search_runs(limit=1, offset=1)] == [r2]
    assert store.count_runs() == 3 and store.count_runs("exp") == 2
    assert {e["name"]: e["runs"] for e in store.list_experiments()} == {"exp": 2, "other": 1}
    assert store.resolve_run(r1[:10]) == r1


def test_params_are_written_once(store):
    r = store.start_run(params={"lr": 0.1})
    store.log_params(r, {"lr": 0.1, "epochs": 3})  # same value again: fine
    with pytest.raises(ValueError, match="parameter 'lr'.*already '0.1'"):
        store.log_params(r, {"lr": 0.2})
    assert store.get_params(r) == {"epochs": "3", "lr": "0.1"}


def test_run_errors_name_what_is_missing(store):
    with pytest.raises(NotFoundError, match="no run 'nope'"):
        store.get_run("nope")
    with pytest.raises(NotFoundError, match="no run 'ff'"):
        store.log_metrics("ff", [("a", 0, 1.0)])
    with pytest.raises(NotFoundError, match="no experiment named 'ghost'"):
        store.search_runs("ghost")
    with pytest.raises(ValueError, match="status must be one of"):
        store.end_run(store.start_run(), "DONE")
    with pytest.raises(ValueError, match="experiment name must be a non-empty string"):
        store.start_run("")
    store.create_experiment("dup")
    with pytest.raises(ValueError, match="experiment 'dup' already exists"):
        store.create_experiment("dup")


def test_ambiguous_run_prefix(tmp_path):
    with tstore.open(tmp_path / "s") as s:
        ids = [s.start_run() for _ in range(40)]  # 40 ids over 16 first digits: two share one
        first = [i[0] for i in ids]
        dup = next(c for c in first if first.count(c) > 1)
        with pytest.raises(ValueError, match="ambiguous"):
            s.resolve_run(dup)


def test_run_context_manager_marks_failures(store):
    with store.run("e") as ok:
        pass
    with pytest.raises(RuntimeError):
        with store.run("e") as bad:
            raise RuntimeError("boom")
    assert store.get_run(ok).status == "FINISHED" and store.get_run(bad).status == "FAILED"


# ----- metrics --------------------------------------------------------------------------------------

def test_metrics_bulk_history_ranges_and_summary(store):
    r = store.start_run()
    n = 20000
    store.log_metrics(r, [("step/loss", i, 1.0 / (i + 1)) for i in range(n)])
    store.log_metrics(r, [("acc", 2, 0.5), ("acc", 0, 0.9), ("acc", 1, 0.1)])  # out of step order
    store.log_metric(r, "val", float("nan"), step=0)
    store.log_metric(r, "val", float("inf"), step=1)
    hist = store.metric_history(r, "step/loss")
    assert len(hist) == n and [h[0] for h in hist[:3]] == [0, 1, 2] and hist[9][1] == pytest.approx(0.1)
    window = store.metric_history(r, "step/loss", start=100, end=104)
    assert [s for s, _, _ in window] == [100, 101, 102, 103, 104]
    assert store.metric_history(r, "step/loss", start=n - 2, limit=5) == hist[-2:]
    assert [v for _, v, _ in store.metric_history(r, "acc")] == [0.9, 0.1, 0.5]
    vals = [v for _, v, _ in store.metric_history(r, "val")]
    assert math.isnan(vals[0]) and vals[1] == math.inf
    assert store.metric_keys(r) == ["acc", "step/loss", "val"]
    summary = store.metric_summary([r])[r]
    assert summary["acc"] == {"min": 0.1, "max": 0.9, "last": 0.5, "step": 2, "count": 3}
    assert summary["step/loss"]["last"] == pytest.approx(1.0 / n) and summary["step/loss"]["count"] == n
    with pytest.raises(ValueError, match="metric name"):
        store.log_metrics(r, [("", 0, 1.0)])


def test_metric_summary_leaves_a_prefix_out(store):
    runs = [store.start_run() for _ in range(2)]
    keys = ["a", "step", "step.x", "step/loss", "step/z", "step0", "stepz", "val_loss"]
    for r in runs:
        store.log_metrics(r, [(k, s, float(i + s)) for i, k in enumerate(keys) for s in range(3)])
    full = store.metric_summary(runs)
    cut = store.metric_summary(runs, exclude_prefix="step/")
    for r in runs:
        assert sorted(full[r]) == keys
        assert cut[r] == {k: v for k, v in full[r].items() if not k.startswith("step/")}
    assert full[runs[0]]["step0"] == {"min": 5.0, "max": 7.0, "last": 7.0, "step": 2, "count": 3}
    assert store.metric_summary([]) == {} and store.metric_summary(["nope"]) == {"nope": {}}
    with pytest.raises(ValueError, match="exclude_prefix must be a non-empty string"):
        store.metric_summary(runs, exclude_prefix="")


def test_metric_summary_of_more_runs_than_one_query_takes(tmp_path):
    with tstore.open(tmp_path / "s") as s:
        runs = [s.start_run() for _ in range(1203)]
        for i, r in enumerate(runs):
            s.log_metrics(r, [("loss", 0, float(i)), ("step/loss", 0, 1.0)])
        out = s.metric_summary(runs, exclude_prefix="step/")
        assert len(out) == 1203 and all(out[r] == {"loss": {"min": float(i), "max": float(i), "last": float(i),
                                                              "step": 0, "count": 1}} for i, r in enumerate(runs))


def test_metric_range_query_reads_the_index(tmp_path):
    # 10 series of 100k points: a step window must come from the (run, key, step)
    # index, not a scan. What SQLite's planner does with the query metric_history
    # sends is checked, not its time (speed belongs to bench/bench_tracking.py).
    from sqlalchemy.dialects import sqlite as sqlite_dialect
    with tstore.open(tmp_path / "s") as s:
        r = s.start_run()
        for k in range(10):
            s.log_metrics(r, [(f"m{k}", i, float(i)) for i in range(100_000)])
        got = s.metric_history(r, "m5", start=50_000, end=50_099)
        assert len(got) == 100 and [g[0] for g in got] == list(range(50_000, 50_100))
        statements = []
        sqlalchemy.event.listen(s._db.engine, "before_cursor_execute",
                                lambda conn, cur, stmt, params, ctx, many: statements.append((stmt, params)))
        s.metric_history(r, "m5", start=50_000, end=50_099)
    stmt, params = next((st, p) for st, p in statements if "FROM metrics" in st)
    db = sqlite3.connect(tmp_path / "s" / "tessel.db")
    try:
        plan = " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + stmt, params))
    finally:
        db.close()
    assert "USING INDEX ix_metrics_run_key_step" in plan and "step>? AND step<?" in plan, plan


# ----- artifacts ------------------------------------------------------------------------------------

def test_artifacts_files_and_folders(store, tmp_path):
    r = store.start_run()
    f = tmp_path / "w.bin"
    f.write_bytes(b"\x00\x01weights")
    d = tmp_path / "plots"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a")
    (d / "sub" / "b.txt").write_text("b")
    assert store.log_artifact(r, f) == ["w.bin"]
    assert store.log_artifact(r, d, "figs") == ["figs/a.txt", "figs/sub/b.txt"]
    arts = {a["path"]: a for a in store.list_artifacts(r)}
    assert set(arts) == {"w.bin", "figs/a.txt", "figs/sub/b.txt"} and arts["w.bin"]["size"] == 9
    import hashlib
    assert arts["w.bin"]["sha256"] == hashlib.sha256(b"\x00\x01weights").hexdigest()
    path = store.artifact_file(r, "figs/sub/b.txt")
    assert open(path).read() == "b" and path.startswith(store.artifact_root)
    with pytest.raises(NotFoundError, match="no artifact 'nothing.txt'"):
        store.artifact_file(r, "nothing.txt")
    with pytest.raises(FileNotFoundError, match="no file"):
        store.log_artifact(r, tmp_path / "missing")


@pytest.mark.parametrize("bad", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "..", "./", ""])
def test_artifact_paths_outside_the_store_are_refused(tmp_path, bad):
    with tstore.open(tmp_path / "s") as s:
        r = s.start_run()
        f = tmp_path / "x.txt"
        f.write_text("x")
        with pytest.raises(ArtifactPathError) as e:
            s.log_artifact(r, f, bad)
        assert repr(bad) in str(e.value)
        with pytest.raises(ArtifactPathError):
            s.artifact_file(r, bad)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "s" / "escape.txt").exists()


def test_artifact_symlink_out_of_the_store_is_refused(tmp_path):
    with tstore.open(tmp_path / "s") as s:
        r = s.start_run()
        f = tmp_path / "x.txt"
        f.write_text("x")
        s.log_artifact(r, f, "ok.txt")
        outside = tmp_path / "outside"
        outside.mkdir()
        os.symlink(outside, os.path.join(s.artifact_root, "artifacts", r, "link"))
        with pytest.raises(ArtifactPathError, match="'link/y.txt' resolves to .*outside the store folder"):
            s.log_artifact(r, f, "link/y.txt")
        assert not (outside / "y.txt").exists()


# ----- registry -------------------------------------------------------------------------------------

def _export_tiny(path):
    model = ts.nn.Sequential(ts.nn.Linear(4, 3), ts.nn.ReLU(), ts.nn.Linear(3, 2))
    ts.onnx.export(model, (ts.randn(1, 4),), str(path), input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    ts.save(dict(model.state_dict()), str(path.with_suffix(".safetensors")))
    return path, path.with_suffix(".safetensors")


def test_register_versions_layout_signature(store, tmp_path):
    onnx_path, weights = _export_tiny(tmp_path / "m.onnx")
    run = store.start_run("train", params={"lr": 0.1})
    v1 = store.register_model("digits", onnx=onnx_path, weights=weights, config={"model": "mlp", "epochs": 3},
                              metrics={"accuracy": 0.97}, run_id=run, description="first")
    v2 = store.register_model("digits", onnx=onnx_path)
    assert (v1["version"], v2["version"]) == (1, 2)
    folder = os.path.join(store.registry_root, "digits", "1")
    assert v1["folder"] == folder
    assert sorted(os.listdir(folder)) == ["config.json", "model.onnx", "signature.json", "weights.safetensors"]
    assert open(os.path.join(folder, "model.onnx"), "rb").read() == onnx_path.read_bytes()
    assert json.load(open(os.path.join(folder, "config.json"))) == {"model": "mlp", "epochs": 3}
    assert v1["signature"] == {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
                               "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]}
    assert v1["metrics"] == {"accuracy": 0.97} and v1["run_id"] == run and v1["description"] == "first"
    assert store.get_model_version("digits")["version"] == 2
    assert [v["version"] for v in store.list_versions("digits")] == [1, 2]
    assert store.list_models()[0] | {"created_at": 0} == {"name": "digits", "description": None, "created_at": 0,
                                                          "versions": 2, "latest_version": 2, "aliases": {}}
    store.update_version("digits", 1, description="better", metrics={"f1": 0.5})
    got = store.get_model_version("digits", 1)
    assert got["description"] == "better" and got["metrics"] == {"accuracy": 0.97, "f1": 0.5}
    assert not os.listdir(os.path.join(store.artifact_root, ".staging"))  # nothing left half-written


def test_registry_folder_loads_as_a_model(store, tmp_path):
    onnx_path, _ = _export_tiny(tmp_path / "m.onnx")
    v = store.register_model("tiny", onnx=onnx_path)
    m = ts.onnx.load(os.path.join(v["folder"], "model.onnx"))
    assert m(ts.ones(5, 4)).shape == (5, 2)


def test_register_errors(store, tmp_path):
    onnx_path, _ = _export_tiny(tmp_path / "m.onnx")
    for bad in ("../evil", "a/b", "", ".hidden", "x" * 200):
        with pytest.raises(ValueError, match="model name"):
            store.register_model(bad, onnx=onnx_path)
    with pytest.raises(ValueError, match="give the ONNX file"):
        store.register_model("m")
    with pytest.raises(FileNotFoundError, match="onnx file .*nope.onnx does not exist"):
        store.register_model("m", onnx=tmp_path / "nope.onnx")
    with pytest.raises(NotFoundError, match="no model named 'ghost'"):
        store.get_model_version("ghost")
    store.register_model("m", onnx=onnx_path)
    with pytest.raises(NotFoundError, match="model 'm' has no version 7"):
        store.get_model_version("m", 7)
    with pytest.raises(NotFoundError, match="model 'm' has no alias 'prod'"):
        store.get_model_version("m", "prod")
    with pytest.raises(ValueError, match="alias '1x' is not valid"):
        store.set_alias("m", "1x", 1)
    with pytest.raises(NotFoundError, match="no run"):
        store.register_model("m", onnx=onnx_path, run_id="beef")


def test_aliases_promote_and_roll_back(store, tmp_path):
    onnx_path, _ = _export_tiny(tmp_path / "m.onnx")
    for _ in range(3):
        store.register_model("m", onnx=onnx_path)
    assert store.set_alias("m", "champion", 1) == 1
    store.promote("m", "champion", "2")
    store.set_alias("m", "staging", 3)
    assert store.get_aliases("m") == {"champion": 2, "staging": 3}
    assert store.get_model_version("m", "champion")["version"] == 2
    assert store.get_model_version("m", 2)["aliases"] == ["champion"]
    store.promote("m", "champion", "staging")  # an alias names a version too
    assert store.get_aliases("m")["champion"] == 3
    assert store.rollback_alias("m", "champion") == 2
    assert store.rollback_alias("m", "champion") == 1
    with pytest.raises(ValueError, match="alias 'champion' of model 'm' has no earlier version"):
        store.rollback_alias("m", "champion")
    assert store.get_aliases("m")["champion"] == 1
    store.delete_alias("m", "staging")
    assert "staging" not in store.get_aliases("m")
    with pytest.raises(NotFoundError, match="no alias 'staging'"):
        store.delete_alias("m", "staging")
    assert [e["action"] for e in store.alias_history("m", "champion")] == ["set", "set", "set", "rollback",
                                                                             "rollback"]
    assert store.list_models()[0]["aliases"] == {"champion": 1}


def test_lineage_data_run_version_deployment(store, tmp_path):
    onnx_path, _ = _export_tiny(tmp_path / "m.onnx")
    run = store.start_run()
    store.log_data(run, "/data/train.csv", {"sha256": "ab"})
    v = store.register_model("m", onnx=onnx_path, run_id=run, data=["/data/extra"], alias="champion")
    assert store.record_deployment("m", "champion", "http://127.0.0.1:8000", {"server": "tessel-serve"}) == 1
    lin = store.lineage("m", 1)
    assert lin["version"] == "m/1" and lin["run"] == run
    assert lin["data"] == [{"uri": "/data/train.csv", "info": {"sha256": "ab"}}, {"uri": "/data/extra", "info": None}]
    assert [(d["target"], d["info"]) for d in lin["deployments"]] == [("http://127.0.0.1:8000",
                                                                       {"server": "tessel-serve"})]
    assert v["aliases"] == ["champion"]
    store.delete_run(run)  # the version stays, without its run
    assert store.get_model_version("m", 1)["run_id"] is None


# ----- two processes, locks -------------------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[3])
    from tessel import store
    s = store.open(sys.argv[1])
    run = sys.argv[2]
    flags = sys.argv[4]

    def wait_for(name):  # the reader's progress, so the overlap does not depend on a loaded machine's timing
        t0 = time.time()
        while not os.path.exists(os.path.join(flags, name)):
            assert time.time() - t0 < 120, "reader never wrote " + name
            time.sleep(0.01)

    wait_for("started")
    for epoch in range(150):
        if epoch == 75:
            wait_for("saw-partial")
        s.log_metrics(run, [("step/loss", epoch * 20 + i, 1.0 / (1 + epoch * 20 + i)) for i in range(20)])
        s.log_metric(run, "loss", 1.0 / (epoch + 1), step=epoch)
    s.end_run(run)
    print("writer done")
""")

_READER = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, sys.argv[3])
    from tessel import store
    s = store.open(sys.argv[1])
    run = sys.argv[2]
    reads, last = 0, 0
    while True:
        done = s.get_run(run).status == "FINISHED"  # read once more after the writer ended
        hist = s.metric_history(run, "step/loss")
        steps = [h[0] for h in hist]
        assert steps == sorted(steps) and len(hist) >= last, (len(hist), last)  # never goes back
        last = len(hist)
        s.metric_summary([run]); s.search_runs()
        reads += 1
        if reads == 1:
            open(os.path.join(sys.argv[4], "started"), "w").close()
        if 0 < last < 3000:
            open(os.path.join(sys.argv[4], "saw-partial"), "w").close()
        if done:
            break
    print("reader done", reads, last)
""")


def test_trainer_writes_while_reader_reads(tmp_path):
    with tstore.open(tmp_path / "s") as s:
        run = s.start_run("concurrent")
    pkg = os.path.dirname(os.path.dirname(ts.__file__))
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "s"), run, pkg, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for code in (_READER, _WRITER)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert outs[1][0].strip() == "writer done"
    reads, last = map(int, outs[0][0].split()[2:])
    assert reads >= 3 and last == 3000  # one before the writer began, one mid-write (it waited), one after
    with tstore.open(tmp_path / "s") as s:
        assert len(s.metric_history(run, "step/loss")) == 3000 and len(s.metric_history(run, "loss")) == 150


def test_locked_store_gives_a_clear_error_and_loses_nothing(tmp_path):
    s = tstore.open(tmp_path / "s", busy_timeout=0.2)
    run = s.start_run()
    s.log_metrics(run, [("loss", i, float(i)) for i in range(10)])
    holder = sqlite3.connect(tmp_path / "s" / "tessel.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing for a long time
    try:
        with pytest.raises(StoreLockedError, match=r"tessel.db is locked by another process \(waited 0.2 s\)"):
            s.log_metrics(run, [("loss", 10, 10.0)])
        assert len(s.metric_history(run, "loss")) == 10  # readers still read under WAL
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    s.log_metrics(run, [("loss", 10, 10.0)])
    assert [st for st, _, _ in s.metric_history(run, "loss")] == list(range(11))
    s.close()
