"""tessel-serve --input-log: the inputs of answered requests (JSON and binary bodies, OIP and TF-Serving)
as JSON lines that tessel.agent.input_log reads back exactly; failed requests are not logged; rotation
keeps the newest files; sampling logs its share; bad flags are usage errors."""
import json
import subprocess

import numpy as np
import pytest

from tessel.agent.input_log import log_files, read_input_log
from test_serve import SERVER, Server, _binary_request, _mlp_model, _oip_body, _x  # noqa: F401

pytestmark = pytest.mark.skipif(SERVER is None, reason="tessel-serve was not built (TESSEL_WITH_SERVE=OFF)")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("repo")
    _mlp_model(d / "mlp" / "1" / "model.onnx")
    return d


def _serve(repo, tmp_path, *extra):
    return Server(["--model-repository", str(repo), "--log-format", "none", "--input-log", str(tmp_path / "log"),
                   *extra], tmp_path)


def test_logged_inputs_read_back_exactly(repo, tmp_path):
    s = _serve(repo, tmp_path)
    try:
        a, b, c = _x(3, seed=1), _x(2, seed=2), _x(4, seed=3)
        body = _oip_body(a)
        body["id"] = "req-7"
        assert s.json("POST", "/v2/models/mlp/infer", body)[0] == 200
        data, hdrs = _binary_request([("x", "FP32", b)])
        assert s.request("POST", "/v2/models/mlp/versions/1/infer", data, hdrs)[0] == 200
        assert s.json("POST", "/v1/models/mlp:predict", {"instances": c.tolist()})[0] == 200
        # Refused requests (a wrong shape, an unknown model) are not logged.
        assert s.json("POST", "/v2/models/mlp/infer", _oip_body(np.zeros((2, 3), np.float32)))[0] == 400
        assert s.json("POST", "/v2/models/nope/infer", _oip_body(a))[0] == 404
    finally:
        assert s.stop() == 0
    files = log_files(tmp_path / "log")
    assert [str(f) for f in files] == [str(tmp_path / "log" / "mlp" / "1" / "inputs.jsonl")]
    recs = [json.loads(line) for line in open(files[0])]
    assert [r["id"] for r in recs] == ["req-7", None, None] and {r["model"] for r in recs} == {"mlp"}
    assert all(r["version"] == "1" and r["time"].endswith("Z") for r in recs)
    x, info = read_input_log(tmp_path / "log", model="mlp")
    assert info["requests"] == 3
    # float32 values are written in their shortest form, which reads back to the same float32
    np.testing.assert_array_equal(x.astype(np.float32), np.concatenate([a, b, c]))


def test_rotation_keeps_the_newest_files(repo, tmp_path):
    # One record of a [1, 16] input is ~400 bytes: 1 KB files rotate every few requests.
    s = _serve(repo, tmp_path, "--input-log-max-mb", "0.001", "--input-log-keep", "2")
    rows = [_x(1, seed=i) for i in range(12)]
    try:
        for r in rows:
            assert s.json("POST", "/v2/models/mlp/infer", _oip_body(r))[0] == 200
    finally:
        assert s.stop() == 0
    files = log_files(tmp_path / "log")
    names = [f.rsplit("/", 1)[1] for f in map(str, files)]
    assert len(names) == 3 and names[-1] == "inputs.jsonl", names  # 2 rotated + the current one
    assert all(len(n) == len("inputs-20261203T033000Z-000001.jsonl") for n in names[:-1]), names
    for f in files:
        assert 0 < len(open(f).read()) <= 1048
    x, info = read_input_log(tmp_path / "log")
    # The newest requests survive, in order, and none is cut.
    np.testing.assert_array_equal(x.astype(np.float32), np.concatenate(rows[-len(x):]))
    assert 2 <= len(x) < len(rows)


def test_sampling_logs_its_share(repo, tmp_path):
    s = _serve(repo, tmp_path, "--input-log-sample", "0.25")
    try:
        for i in range(20):
            assert s.json("POST", "/v2/models/mlp/infer", _oip_body(_x(1, seed=i)))[0] == 200
    finally:
        assert s.stop() == 0
    _, info = read_input_log(tmp_path / "log")
    assert info["requests"] == 5


@pytest.mark.parametrize("flags, message", [
    (["--input-log-sample", "0"], "--input-log-sample expects a number"),
    (["--input-log-keep", "0"], "--input-log-keep expects an integer"),
    (["--input-log-max-mb", "abc"], "--input-log-max-mb expects a number"),
])
def test_bad_flags_are_usage_errors(repo, tmp_path, flags, message):
    r = subprocess.run([SERVER, "--model-repository", str(repo), "--input-log", str(tmp_path / "log"), *flags],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_unwritable_folder_is_a_usage_error(repo, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = subprocess.run([SERVER, "--model-repository", str(repo), "--input-log", str(blocker / "log")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--input-log folder" in r.stderr and "cannot be created" in r.stderr, r.stderr


def test_watch_detects_drift_in_what_the_server_logged(tmp_path):
    """End to end: an agent model served from the registry with --input-log; requests of unshifted rows
    leave watch quiet, requests with x1 moved by 3 standard deviations make it report x1 (not retrain)."""
    from tessel import agent
    from test_agent_drift_inputs import _logged_rows, _table

    store = str(tmp_path / "store")
    res = agent.AutoML(n_trials=1, max_epochs=2, seed=0, verbose=False, store=store, ensemble=False,
                       report=False, register="tab").fit(_table(tmp_path / "old.csv", 300, 0), target="y")
    folder = res.model_version["folder"]

    def serve_and_send(name, rows):
        s = Server(["--model-repository", str(tmp_path / "store" / "registry"), "--log-format", "none",
                    "--input-log", str(tmp_path / name)], tmp_path)
        try:
            for i in range(0, len(rows), 25):
                part = rows[i:i + 25]
                body = {"inputs": [{"name": "input", "shape": list(part.shape), "datatype": "FP32",
                                    "data": part.ravel().tolist()}]}
                status, out = s.json("POST", "/v2/models/tab/infer", body)
                assert status == 200, out
        finally:
            assert s.stop() == 0
        return str(tmp_path / name)

    same = serve_and_send("same", _logged_rows(folder, _table(tmp_path / "s.csv", 200, 1)).astype(np.float32))
    r = agent.watch("tab", same, store=store)
    assert r.drift["source"] == "input log" and r.drift["n_current"] == 200 and not r.drifted
    moved = serve_and_send("moved", _logged_rows(folder, _table(tmp_path / "m.csv", 200, 2, shift=3.0))
                           .astype(np.float32))
    r = agent.watch("tab", moved, store=store)
    assert r.drifted and [f["name"] for f in r.drift["features"] if f["drifted"]] == ["x1"]
    assert not r.retrained and "carry no labels" in r.reason
