"""The `tessel` command: every command through click's CliRunner and once as a
real process (python -m tessel, which is what the console script runs)."""
import json
import os
import subprocess
import sys
import tomllib
import types

import click
import pytest
from click.testing import CliRunner

import tessel as ts
from tessel import store as tstore
from tessel.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean environment: no TESSEL_* variables, no user settings file, cwd in tmp."""
    for k in list(os.environ):
        if k.startswith("TESSEL_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(args, **kw):
    result = CliRunner().invoke(main, args, prog_name="tessel", catch_exceptions=False, **kw)
    return result


def proc(args, cwd, env_extra=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("TESSEL_")}
    e["XDG_CONFIG_HOME"] = str(cwd / "xdg")
    e.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "tessel", *args], capture_output=True, text=True, cwd=cwd, env=e,
                          timeout=120)


def _fill(path, experiment="exp", runs=2):
    s = tstore.open(path)
    ids = []
    for i in range(runs):
        r = s.start_run(experiment, name=f"run{i}", params={"lr": 0.1 * (i + 1)})
        s.log_metrics(r, [("loss", e, 1.0 / (e + 1 + i)) for e in range(3)])
        s.end_run(r)
        ids.append(r)
    s.close()
    return ids


def _onnx(tmp_path):
    m = ts.nn.Sequential(ts.nn.Linear(3, 2))
    p = tmp_path / "m.onnx"
    ts.onnx.export(m, (ts.randn(1, 3),), str(p), input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "b"}, "y": {0: "b"}})
    return p


# ----- structure: help, exit codes, entry points -------------------------------------------------------

def _all_commands(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _all_commands(sub, path + (name,))


def test_help_on_every_command(env):
    seen = []
    for path, cmd in _all_commands(main):
        if path == ("serve",):
            continue  # its --help is the server's (test_serve_passes_everything_through)
        r = run([*path, "--help"])
        assert r.exit_code == 0, (path, r.output)
        assert r.output.startswith(f"Usage: tessel {' '.join(path)}".rstrip()), r.output
        seen.append(" ".join(path))
    assert {"info", "runs list", "runs show", "models list", "models show", "models register", "models alias",
            "completion"} <= set(seen)
    assert run(["-h"]).exit_code == 0


def test_exit_codes(env):
    assert run(["no-such-command"]).exit_code == 2
    assert run(["runs", "list", "--limit", "zero"]).exit_code == 2
    assert run(["runs", "list", "--status", "DONE"]).exit_code == 2
    r = run(["runs", "show", "abc"])
    assert r.exit_code == 1 and "Error: no run 'abc'" in r.stderr and r.stdout == ""


def test_console_script_entry_point():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    module, func = scripts["tessel"].split(":")
    assert module == "tessel.cli" and getattr(__import__(module, fromlist=[func]), func) is main


def test_python_dash_m_keeps_the_build_flags(env):
    r = proc(["--cmake-dir"], env)
    assert r.returncode == 0 and r.stdout.strip() == ts.cmake_dir()
    assert proc(["--version"], env).stdout.strip() == ts.__version__
    assert run(["--include-dir"]).output.strip() == ts.include_dir()
    r = proc(["nope"], env)
    assert r.returncode == 2 and "No such command 'nope'" in r.stderr


def test_completion_script(env):
    r = run(["completion", "bash"])
    assert r.exit_code == 0 and "_TESSEL_COMPLETE=bash_complete" in r.output
    assert "compdef" in run(["completion", "zsh"]).output
    assert run(["completion", "tcsh"]).exit_code == 2


# ----- precedence: flag > environment > settings file > default --------------------------------------

def test_store_precedence(env, monkeypatch):
    flag, envs, cfg, default = (_fill(env / n, experiment=n) for n in ("flag", "env", "cfg", "tessel-store"))
    (env / "settings.yaml").write_text(f"store: {env / 'cfg'}\n")

    def experiments(args):
        r = run([*args, "runs", "list", "--json"])
        assert r.exit_code == 0, r.output
        return {x["experiment"] for x in json.loads(r.stdout)}

    assert experiments([]) == {"tessel-store"}
    assert experiments(["--config", "settings.yaml"]) == {"cfg"}
    monkeypatch.setenv("TESSEL_STORE", str(env / "env"))
    assert experiments(["--config", "settings.yaml"]) == {"env"}
    assert experiments(["--config", "settings.yaml", "--store", str(env / "flag")]) == {"flag"}
    monkeypatch.delenv("TESSEL_STORE")
    monkeypatch.setenv("TESSEL_CONFIG", str(env / "settings.yaml"))
    assert experiments([]) == {"cfg"}


def test_subcommand_option_precedence(env, monkeypatch):
    _fill(env / "tessel-store", runs=4)
    (env / "xdg" / "tessel").mkdir(parents=True)
    (env / "xdg" / "tessel" / "config.yaml").write_text("runs:\n  list:\n    limit: 1\n")  # the default location

    def count(args):
        return len(json.loads(run(["runs", "list", "--json", *args]).stdout))

    assert count([]) == 1
    monkeypatch.setenv("TESSEL_RUNS_LIST_LIMIT", "2")
    assert count([]) == 2
    assert count(["-n", "3"]) == 3


def test_settings_file_errors_name_the_key(env):
    (env / "bad.yaml").write_text("runs:\n  list:\n    limt: 3\n")
    r = run(["--config", "bad.yaml", "runs", "list"])
    assert r.exit_code == 2 and "unknown key 'runs.list.limt'" in r.stderr and "bad.yaml" in r.stderr
    (env / "bad2.yaml").write_text("[1, 2]\n")
    r = run(["--config", "bad2.yaml", "info"])
    assert r.exit_code == 2 and "must hold a mapping" in r.stderr
    (env / "bad3.json").write_text("{nope")
    r = run(["--config", "bad3.json", "info"])
    assert r.exit_code == 2 and "is not valid json" in r.stderr
    r = run(["--config", "missing.yaml", "info"])
    assert r.exit_code == 2


# ----- tessel info ------------------------------------------------------------------------------------

def test_info(env):
    r = run(["info", "--json"])
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["tessel"]["version"] == ts.__version__
    assert set(data["build"]) >= {"oneDNN", "OpenCV", "ICU", "libsndfile", "CUDA", "cuDNN", "MPI", "ONNX"}
    assert data["build"]["OpenCV"]["enabled"] == ts.image.available()
    assert data["build"]["CUDA"]["available"] is False or ts.cuda.is_available()
    assert data["threads"]["intra_op"] == ts.get_num_threads()
    assert data["cpu"]["logical_cores"] == os.cpu_count()
    assert data["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    import numpy
    assert data["packages"]["numpy"] == numpy.__version__
    if sys.platform == "linux":
        assert data["build"]["oneDNN"]["version"] and data["build"]["oneDNN"]["isa"]


def test_info_environment_hides_secrets(env, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("TESSEL_API_TOKEN", "hunter2")
    data = json.loads(run(["info", "--json"]).stdout)
    assert data["environment"]["OMP_NUM_THREADS"] == "3"
    assert data["environment"]["TESSEL_API_TOKEN"] == "***"


def test_info_process(env):
    r = proc(["info"], env, {"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert f"tessel {ts.__version__}" in r.stdout and "oneDNN:" in r.stdout and "OMP_NUM_THREADS:" in r.stdout


# ----- tessel runs --------------------------------------------------------------------------------------

def test_runs_list_and_show(env):
    ids = _fill(env / "st", runs=3)
    s = tstore.open(env / "st")
    f = env / "a.txt"
    f.write_text("x")
    s.log_artifact(ids[0], f)
    s.set_tags(ids[0], {"k": "v"})
    s.close()
    r = run(["--store", str(env / "st"), "runs", "list", "-m", "loss"])
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "EXPERIMENT", "NAME", "STATUS", "STARTED", "DURATION", "LOSS"]
    assert [ln.split()[2] for ln in lines[2:]] == ["run2", "run1", "run0"]  # newest first
    assert lines[2].split()[-1] == "0.2"  # last loss of run2 = 1 / (2 + 1 + 2)
    data = json.loads(run(["--store", str(env / "st"), "runs", "list", "--json", "--asc", "-n", "2"]).stdout)
    assert [d["name"] for d in data] == ["run0", "run1"] and data[0]["metrics"]["loss"]["min"] == pytest.approx(1 / 3)
    r = run(["--store", str(env / "st"), "runs", "show", ids[0][:8]])
    assert r.exit_code == 0 and f"run {ids[0]}" in r.stdout and "lr = 0.1" in r.stdout and "a.txt (1 bytes)" in r.stdout
    d = json.loads(run(["--store", str(env / "st"), "runs", "show", ids[0], "--json"]).stdout)
    assert d["params"] == {"lr": "0.1"} and d["tags"] == {"k": "v"} and d["metrics"]["loss"]["count"] == 3
    assert run(["--store", str(env / "st"), "runs", "list", "-e", "nope"]).exit_code == 1
    r = run(["--store", str(env / "empty"), "runs", "list"])
    assert r.exit_code == 0 and r.stdout == "" and "no runs" in r.stderr


def test_runs_process(env):
    ids = _fill(env / "st", runs=1)
    r = proc(["runs", "list", "--json"], env, {"TESSEL_STORE": str(env / "st")})
    assert r.returncode == 0, r.stderr
    assert [d["id"] for d in json.loads(r.stdout)] == ids
    r = proc(["runs", "show", ids[0]], env, {"TESSEL_STORE": str(env / "st")})
    assert r.returncode == 0 and "FINISHED" in r.stdout


def test_locked_or_bad_store_is_exit_1(env):
    (env / "afile").write_text("x")
    r = run(["--store", str(env / "afile"), "runs", "list"])
    assert r.exit_code == 1 and "is a file" in r.stderr
    r = run(["--store", "postgresql+psycopg://u:pw@127.0.0.1:1/x", "runs", "list"])
    assert r.exit_code == 1 and "cannot reach the store" in r.stderr and "pw" not in r.stderr


# ----- tessel models --------------------------------------------------------------------------------------

def test_models_register_list_show_alias(env):
    onnx = _onnx(env)
    run_id = _fill(env / "tessel-store", runs=1)[0]
    (env / "cfg.yaml").write_text("model: mlp\nepochs: 3\n")
    r = run(["models", "register", "clf", "--onnx", str(onnx), "--config", "cfg.yaml", "--run", run_id[:6],
             "--metric", "accuracy=0.9", "--data", "/data/x.csv", "--alias", "staging", "-d", "first"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "clf version 1 (staging)" and "files in" in r.stderr
    v2 = json.loads(run(["models", "register", "clf", "--onnx", str(onnx), "--json"]).stdout)
    assert v2["version"] == 2 and os.path.isfile(os.path.join(v2["folder"], "model.onnx"))
    assert os.path.relpath(v2["folder"], env / "tessel-store" / "registry") == os.path.join("clf", "2")
    r = run(["models", "list"])
    assert r.exit_code == 0 and r.stdout.splitlines()[2].split()[:4] == ["clf", "2", "2", "staging=1"]
    r = run(["models", "show", "clf"])
    assert r.exit_code == 0 and "accuracy=0.9" in r.stdout
    r = run(["models", "show", "clf", "staging"])
    assert r.exit_code == 0 and "model clf version 1" in r.stdout and "input     x: FP32 [-1, 3]" in r.stdout
    assert "data      /data/x.csv" in r.stdout and run_id in r.stdout
    d = json.loads(run(["models", "show", "clf", "1", "--json"]).stdout)
    assert d["config"] == {"model": "mlp", "epochs": 3} and d["lineage"]["run"] == run_id
    assert run(["models", "alias", "clf", "champion", "1"]).stdout.strip() == "clf@champion -> 1"
    assert run(["models", "alias", "clf", "champion", "2"]).stdout.strip() == "clf@champion -> 2"
    assert json.loads(run(["models", "alias", "clf", "champion", "--json"]).stdout)["version"] == 2
    assert run(["models", "alias", "clf", "champion", "--rollback"]).stdout.strip() == "clf@champion -> 1"
    r = run(["models", "alias", "clf", "champion", "--rollback"])
    assert r.exit_code == 1 and "no earlier version to roll back to" in r.stderr
    assert run(["models", "alias", "clf", "staging", "--delete"]).exit_code == 0
    assert json.loads(run(["models", "list", "--json"]).stdout)[0]["aliases"] == {"champion": 1}
    assert run(["models", "alias", "clf", "champion", "1", "--delete"]).exit_code == 2


def test_models_errors(env):
    onnx = _onnx(env)
    r = run(["models", "register", "../evil", "--onnx", str(onnx)])
    assert r.exit_code == 1 and "model name '../evil' is not valid" in r.stderr
    assert run(["models", "register", "m"]).exit_code == 2
    r = run(["models", "register", "m", "--onnx", str(onnx), "--metric", "acc"])
    assert r.exit_code == 2 and "'acc' is not KEY=NUMBER" in r.stderr
    assert run(["models", "register", "m", "--onnx", "missing.onnx"]).exit_code == 2
    r = run(["models", "show", "ghost"])
    assert r.exit_code == 1 and "no model named 'ghost'" in r.stderr
    r = run(["models", "list"])
    assert r.exit_code == 0 and "no models" in r.stderr


def test_models_process(env):
    onnx = _onnx(env)
    r = proc(["models", "register", "m", "--onnx", str(onnx), "--alias", "champion"], env)
    assert r.returncode == 0, r.stderr
    r = proc(["models", "show", "m", "champion", "--json"], env)
    assert r.returncode == 0 and json.loads(r.stdout)["version"] == 1
    r = proc(["models", "alias", "m", "champion"], env)
    assert r.stdout.strip() == "m@champion -> 1"


# ----- tessel serve ---------------------------------------------------------------------------------------

def test_serve_passes_everything_through(env, monkeypatch):
    got = []
    fake = types.ModuleType("tessel.cli.serve")
    fake.serve = lambda args: got.append(args) or 0
    monkeypatch.setitem(sys.modules, "tessel.cli.serve", fake)
    r = run(["serve", "--model-repository", "reg", "--help", "-p", "8000"])
    assert r.exit_code == 0 and got == [["--model-repository", "reg", "--help", "-p", "8000"]]
    fake.serve = lambda args: 3
    assert run(["serve"]).exit_code == 3


def test_serve_without_the_server_module(env, monkeypatch):
    import importlib

    real_import = importlib.import_module

    def no_serve(name, *a, **k):
        if name == "tessel.cli.serve":
            raise ImportError("No module named 'tessel.cli.serve'")
        return real_import(name, *a, **k)

    monkeypatch.delitem(sys.modules, "tessel.cli.serve", raising=False)
    monkeypatch.setattr(importlib, "import_module", no_serve)
    r = run(["serve", "--help"])
    assert r.exit_code == 1 and "tessel serve is not available" in r.stderr


def test_serve_process_help(env):
    # The real module (written with tessel-serve): --help reaches the server or says why it cannot run.
    r = proc(["serve", "--help"], env)
    assert r.returncode in (0, 1, 2), r.stderr
    assert (r.stdout + r.stderr).strip()
