"""`tessel bench`: in process through ts.onnx.load, and against a real
tessel-serve on loopback (Open Inference Protocol v2, binary tensors)."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from click.testing import CliRunner

import tessel as ts
from tessel.cli import bench as B
from tessel.cli import main

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    for k in list(os.environ):
        if k.startswith("TESSEL_") and k not in ("TESSEL_BUILD_DIR", "TESSEL_SERVE_BIN"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TESSEL_PROGRESS", "0")
    monkeypatch.chdir(tmp_path)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="tessel", catch_exceptions=False)


def _mlp(path):
    ts.manual_seed(0)
    m = ts.nn.Sequential(ts.nn.Linear(16, 8), ts.nn.ReLU(), ts.nn.Linear(8, 4))
    path.parent.mkdir(parents=True, exist_ok=True)
    ts.onnx.export(m, (ts.randn(2, 16),), str(path), input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return path


def _seq_model(path):
    """ids int64 [batch, seq] and a float mask [batch, seq]: Cast and Add."""
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "seq"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq"])
    g = helper.make_graph([helper.make_node("Cast", ["ids"], ["f"], to=TensorProto.FLOAT),
                           helper.make_node("Add", ["f", "mask"], ["y"])], "seq", [ids, mask], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 9
    onnx.save(m, str(path))
    return path


def test_percentile_matches_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        v = rng.standard_normal(n).tolist()
        for q in (0, 50, 90, 99, 100):
            assert B.percentile(v, q) == pytest.approx(np.percentile(v, q))
    with pytest.raises(ValueError):
        B.percentile([], 50)


def test_in_process_json(tmp_path):
    p = _mlp(tmp_path / "m.onnx")
    r = run("bench", p, "--batch-size", 4, "--iterations", 25, "--duration", 30, "--threads", 1, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["iterations"] == 25 and out["batch_size"] == 4 and out["mode"] == "in-process"
    assert out["inputs"] == {"x": {"shape": [4, 16], "dtype": "float32"}}
    assert out["threads"] == 1
    lat = out["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert out["samples_per_s"] == pytest.approx(4 * 25 / out["wall_s"])
    assert "benchmarking" in r.stderr


def test_duration_bounds_the_run(tmp_path):
    p = _mlp(tmp_path / "m.onnx")
    t0 = time.monotonic()
    r = run("bench", p, "--duration", 0.3, "--warmup", 0, "--json")
    assert r.exit_code == 0, r.output
    assert time.monotonic() - t0 < 5
    out = json.loads(r.stdout)
    assert out["iterations"] >= 1 and 0.3 <= out["wall_s"] < 2


def test_human_output(tmp_path):
    p = _mlp(tmp_path / "m.onnx")
    r = run("bench", p, "--iterations", 5, "--warmup")
    assert r.exit_code == 0, r.output
    assert "p50" in r.stdout and "p99" in r.stdout and "samples/s" in r.stdout and "x float32[1, 16]" in r.stdout


def test_symbolic_dims(tmp_path):
    p = _seq_model(tmp_path / "s.onnx")
    r = run("bench", p, "--iterations", 3)
    assert r.exit_code == 2 and "dim 1 is symbolic ('seq')" in r.stderr and "--dim seq=VALUE" in r.stderr
    r = run("bench", p, "--iterations", 3, "--dim", "seq=7", "--batch-size", 2, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["inputs"] == {"ids": {"shape": [2, 7], "dtype": "int64"},
                                              "mask": {"shape": [2, 7], "dtype": "float32"}}
    r = run("bench", p, "--dim", "seq")
    assert r.exit_code == 2 and "NAME=POSITIVE_INT" in r.stderr


def test_usage_errors(tmp_path):
    p = _mlp(tmp_path / "m.onnx")
    assert run("bench").exit_code == 2
    r = run("bench", p, "--model", "x")
    assert r.exit_code == 2 and "--url" in r.stderr
    r = run("bench", "--url", "http://127.0.0.1:9")
    assert r.exit_code == 2 and "--model" in r.stderr
    for url in ("http://10.1.2.3:8000", "http://example.com", "ftp://127.0.0.1:1"):
        r = run("bench", "--url", url, "--model", "m")
        assert r.exit_code == 2, url
    assert "not a loopback" in run("bench", "--url", "http://10.1.2.3:8000", "--model", "m").stderr
    r = run("bench", "--url", "http://127.0.0.1:9", "--model", "m", "--timeout", 2)
    assert r.exit_code == 1 and "127.0.0.1:9" in r.stderr  # nothing listens on port 9


# ----- against a real tessel-serve ---------------------------------------------------------------------------

def _server_binary():
    from tessel.cli.serve import find_server
    try:
        return find_server()
    except FileNotFoundError:
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    binary = _server_binary()
    if binary is None:
        pytest.skip("tessel-serve was not built (TESSEL_WITH_SERVE=OFF)")
    d = tmp_path_factory.mktemp("repo")
    _mlp(d / "repo" / "mlp" / "1" / "model.onnx")
    port_file = d / "port"
    log = open(d / "log", "w+")
    proc = subprocess.Popen([binary, "--http-port", "0", "--port-file", str(port_file), "--threads", "1",
                             "--model-repository", str(d / "repo")], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            raise RuntimeError(f"tessel-serve did not start: {log.read()}")
        time.sleep(0.02)
    yield int(port_file.read_text()), d / "repo" / "mlp" / "1" / "model.onnx"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _infer_count(port):
    """tessel_inference_requests_total of model mlp with status 200, from the server's /metrics."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("tessel_inference_requests_total{") and 'model="mlp"' in line and '"200"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_against_server(server):
    port, _ = server
    before = _infer_count(port)
    r = run("bench", "--url", f"http://127.0.0.1:{port}", "--model", "mlp", "--batch-size", 3,
            "--iterations", 20, "--warmup", 2, "--duration", 30, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["mode"] == "server" and out["iterations"] == 20 and out["batch_size"] == 3
    assert out["inputs"] == {"x": {"shape": [3, 16], "dtype": "float32"}}
    assert out["target"] == f"http://127.0.0.1:{port}/v2/models/mlp"
    assert out["latency_ms"]["p50"] > 0 and out["samples_per_s"] > 0
    assert _infer_count(port) - before == 22  # 2 warm-up + 20 timed requests, no more


def test_server_errors(server):
    port, _ = server
    r = run("bench", "--url", f"http://localhost:{port}", "--model", "nope", "--iterations", 1)
    assert r.exit_code == 1 and "nope" in r.stderr and "HTTP 404" in r.stderr
    r = run("bench", "--url", f"http://127.0.0.1:{port}", "--model", "mlp", "--threads", 2)
    assert r.exit_code == 2 and "--threads" in r.stderr
