"""tessel-serve over a real socket on loopback: the Open Inference Protocol v2
(JSON and the binary tensor data extension), TF-Serving's REST API as its docs
show it, errors, hostile input, slow clients, auth/CORS, graceful shutdown, and
Triton's own Python client (tritonclient[http]).

Expected model outputs come from onnxruntime running the same .onnx file.
Every socket has a timeout and every wait is bounded, so no test can hang.
"""
import base64
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from tessel.cli.serve import find_server  # noqa: E402

TIMEOUT = 10  # seconds, for every socket and wait

try:
    SERVER = find_server()
except FileNotFoundError:  # built with -DTESSEL_WITH_SERVE=OFF
    SERVER = None
pytestmark = pytest.mark.skipif(SERVER is None, reason="tessel-serve was not built (TESSEL_WITH_SERVE=OFF)")

IDENT_TYPES = {"BOOL": (TensorProto.BOOL, np.bool_), "UINT8": (TensorProto.UINT8, np.uint8),
               "UINT16": (TensorProto.UINT16, np.uint16), "UINT32": (TensorProto.UINT32, np.uint32),
               "UINT64": (TensorProto.UINT64, np.uint64),
               "INT8": (TensorProto.INT8, np.int8), "INT16": (TensorProto.INT16, np.int16),
               "INT32": (TensorProto.INT32, np.int32), "INT64": (TensorProto.INT64, np.int64),
               "FP16": (TensorProto.FLOAT16, np.float16), "BF16": (TensorProto.BFLOAT16, None),
               "FP32": (TensorProto.FLOAT, np.float32), "FP64": (TensorProto.DOUBLE, np.float64)}


# ---------------------------------------------------------------- fixtures

def _mlp_model(path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ts.manual_seed(0)
    m = ts.nn.Sequential(ts.nn.Linear(16, 8), ts.nn.ReLU(), ts.nn.Linear(8, 4))
    ts.onnx.export(m, (ts.randn(2, 16),), str(path), input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})


def _two_output_model(path):
    """y = x + 1 and z = x * 2 (two outputs, for requested outputs and TF's multi-output formats)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 2])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["y"]), helper.make_node("Mul", ["x", "two"], ["z"])],
                          "two", [x], [y, z], initializer=[one, two])
    _save(g, path)


def _ident_model(path):
    """One Identity per OIP datatype that tessel holds: in_T -> out_T, shape [n, 3]."""
    ins, outs, nodes = [], [], []
    for k, (t, _) in IDENT_TYPES.items():
        ins.append(helper.make_tensor_value_info("in_" + k, t, ["n", 3]))
        outs.append(helper.make_tensor_value_info("out_" + k, t, ["n", 3]))
        nodes.append(helper.make_node("Identity", ["in_" + k], ["out_" + k]))
    _save(helper.make_graph(nodes, "ident", ins, outs), path)


def _save(graph, path):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))


class Server:
    def __init__(self, args, tmp):
        self.port_file = tmp / f"port-{time.monotonic_ns()}"
        self.log = open(tmp / f"log-{time.monotonic_ns()}", "w+")
        self.proc = subprocess.Popen([SERVER, "--http-port", "0", "--port-file", str(self.port_file), "--threads", "2"]
                                     + args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not self.port_file.exists():
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"tessel-serve exited with {self.proc.returncode}: {self.log.read()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("tessel-serve did not start within 30 s")
            time.sleep(0.02)
        self.port = int(self.port_file.read_text())

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)

    def request(self, method, path, body=None, headers=None):
        c = self.conn()
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request(method, path, body, headers)
        return status, json.loads(data) if data else None

    def wait_metric(self, name, labels, value, deadline_s=30.0):
        """Polls /metrics until the sample `name{labels...}` equals `value`: what a
        test waits on instead of sleeping (a loaded machine makes sleeps short)."""
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        t0 = time.monotonic()
        while True:
            for line in self.request("GET", "/metrics")[2].decode().splitlines():
                if line.startswith(name + "{") and want in line and float(line.rsplit(" ", 1)[1]) == value:
                    return
            assert time.monotonic() - t0 < deadline_s, f"{name}{{{want}}} never reached {value}"
            time.sleep(0.01)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
        self.log.close()
        return self.proc.returncode

    def log_text(self):
        self.log.flush()
        return Path(self.log.name).read_text()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("repo")
    _mlp_model(d / "mlp" / "1" / "model.onnx")
    _two_output_model(d / "two" / "1" / "model.onnx")
    _ident_model(d / "ident" / "1" / "model.onnx")
    return d


@pytest.fixture(scope="module")
def server(repo, tmp_path_factory):
    s = Server(["--model-repository", str(repo), "--read-timeout-secs", "1.5", "--idle-timeout-secs", "5",
                "--max-body-bytes", str(1 << 20), "--log-format", "json"], tmp_path_factory.mktemp("srv"))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def mlp_ref(repo):
    return ort.InferenceSession(str(repo / "mlp" / "1" / "model.onnx"))


def _x(n=1, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 16)).astype(np.float32)


def _oip_body(x, name="x"):
    return {"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}


def _alive(server):
    status, body = server.json("POST", "/v2/models/mlp/infer", _oip_body(_x()))
    assert status == 200 and body["outputs"][0]["shape"] == [1, 4]


# ---------------------------------------------------------------- OIP: health and metadata

def test_health_and_server_metadata(server):
    assert server.json("GET", "/v2/health/live") == (200, {"live": True})
    assert server.json("GET", "/v2/health/ready") == (200, {"ready": True})
    status, meta = server.json("GET", "/v2")
    assert status == 200 and meta["name"] == "tessel" and "binary_tensor_data" in meta["extensions"]


def test_model_metadata_and_ready(server):
    status, meta = server.json("GET", "/v2/models/mlp")
    assert status == 200
    assert meta["name"] == "mlp" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 16]}]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}]
    assert server.json("GET", "/v2/models/mlp/versions/1")[1]["name"] == "mlp"
    assert server.json("GET", "/v2/models/mlp/ready") == (200, {"name": "mlp", "ready": True})
    assert server.json("GET", "/v2/models/mlp/versions/1/ready")[0] == 200
    status, cfg = server.json("GET", "/v2/models/mlp/config")
    assert status == 200 and cfg["name"] == "mlp"


def test_unknown_model_and_version_404(server):
    for path in ["/v2/models/nope", "/v2/models/nope/ready", "/v2/models/mlp/versions/7",
                 "/v2/models/mlp/versions/7/ready", "/v1/models/nope", "/v1/models/nope/metadata"]:
        status, body = server.json("GET", path)
        assert status == 404, path
        assert "nope" in body["error"] or "7" in body["error"]
    status, body = server.json("POST", "/v2/models/nope/infer", _oip_body(_x()))
    assert status == 404 and body["error"] == "unknown model 'nope'"
    status, body = server.json("GET", "/v2/no/such/route")
    assert status == 404 and "no route" in body["error"]


def test_bad_model_names_refused(server):
    for path in ["/v2/models/..", "/v2/models/a%2F..%2Fb", "/v2/models/%2e%2e/infer", "/v1/models/..:predict"]:
        status, hdrs, body = server.request("GET" if "infer" not in path and "predict" not in path else "POST", path,
                                            "{}")
        assert status in (400, 404), path
        assert "error" in json.loads(body)


# ---------------------------------------------------------------- OIP: inference

def test_infer_json_matches_onnxruntime(server, mlp_ref):
    x = _x(3)
    body = _oip_body(x)
    body["id"] = "req-42"
    body["parameters"] = {"custom": {"a": [1, 2]}, "flag": True}
    status, out = server.json("POST", "/v2/models/mlp/infer", body)
    assert status == 200
    assert out["model_name"] == "mlp" and out["model_version"] == "1" and out["id"] == "req-42"
    (y,) = out["outputs"]
    assert y["name"] == "y" and y["datatype"] == "FP32" and y["shape"] == [3, 4]
    np.testing.assert_allclose(np.array(y["data"], np.float32).reshape(3, 4), mlp_ref.run(None, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_infer_nested_data_and_version_route(server, mlp_ref):
    x = _x(2, seed=1)
    body = {"inputs": [{"name": "x", "shape": [2, 16], "datatype": "FP32", "data": x.tolist()}]}
    status, out = server.json("POST", "/v2/models/mlp/versions/1/infer", body)
    assert status == 200
    np.testing.assert_allclose(np.array(out["outputs"][0]["data"]).reshape(2, 4), mlp_ref.run(None, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_requested_outputs(server):
    x = [[1.0, 2.0], [3.0, 4.0]]
    body = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": x}], "outputs": [{"name": "z"}]}
    status, out = server.json("POST", "/v2/models/two/infer", body)
    assert status == 200
    assert [o["name"] for o in out["outputs"]] == ["z"]
    assert out["outputs"][0]["data"] == [2, 4, 6, 8]
    del body["outputs"]
    status, out = server.json("POST", "/v2/models/two/infer", body)
    assert sorted(o["name"] for o in out["outputs"]) == ["y", "z"]
    body["outputs"] = [{"name": "nope"}]
    status, out = server.json("POST", "/v2/models/two/infer", body)
    assert status == 400 and "no output 'nope'" in out["error"]


def _binary_request(tensors, outputs=None, params=None):
    """The binary tensor data extension: JSON header, then each input's raw bytes."""
    header = {"inputs": [], **({"outputs": outputs} if outputs is not None else {}),
              **({"parameters": params} if params else {})}
    raw = b""
    for name, datatype, arr in tensors:
        b = arr.tobytes()
        header["inputs"].append({"name": name, "shape": list(arr.shape), "datatype": datatype,
                                 "parameters": {"binary_data_size": len(b)}})
        raw += b
    h = json.dumps(header).encode()
    return h + raw, {"Inference-Header-Content-Length": str(len(h)), "Content-Type": "application/octet-stream"}


def _split_binary_response(hdrs, data):
    n = int(hdrs["inference-header-content-length"])
    header = json.loads(data[:n])
    out, pos = {}, n
    for o in header["outputs"]:
        size = o.get("parameters", {}).get("binary_data_size")
        if size is not None:
            out[o["name"]] = data[pos:pos + size]
            pos += size
    assert pos == len(data)
    return header, out


def test_infer_binary_extension(server, mlp_ref):
    x = _x(4, seed=2)
    body, headers = _binary_request([("x", "FP32", x)], outputs=[{"name": "y", "parameters": {"binary_data": True}}])
    status, hdrs, data = server.request("POST", "/v2/models/mlp/infer", body, headers)
    assert status == 200 and hdrs["content-type"] == "application/octet-stream"
    header, raw = _split_binary_response(hdrs, data)
    assert header["outputs"][0]["shape"] == [4, 4] and header["outputs"][0]["parameters"]["binary_data_size"] == 64
    y = np.frombuffer(raw["y"], np.float32).reshape(4, 4)
    np.testing.assert_allclose(y, mlp_ref.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)
    # binary input, JSON output (no binary_data requested)
    body, headers = _binary_request([("x", "FP32", x)])
    status, hdrs, data = server.request("POST", "/v2/models/mlp/infer", body, headers)
    assert status == 200 and "inference-header-content-length" not in hdrs
    np.testing.assert_allclose(np.array(json.loads(data)["outputs"][0]["data"]).reshape(4, 4),
                               mlp_ref.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)
    # JSON input, every output binary through the request-level parameter
    status, hdrs, data = server.request("POST", "/v2/models/mlp/infer",
                                        json.dumps({**_oip_body(x), "parameters": {"binary_data_output": True}}))
    header, raw = _split_binary_response(hdrs, data)
    np.testing.assert_allclose(np.frombuffer(raw["y"], np.float32).reshape(4, 4), mlp_ref.run(None, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


def _ident_values(k, n=2):
    rng = np.random.default_rng(3)
    if k == "BOOL":
        return rng.integers(0, 2, (n, 3)).astype(bool)
    if k in ("FP16", "FP32", "FP64"):
        return rng.standard_normal((n, 3)).astype(IDENT_TYPES[k][1])
    if k == "BF16":  # values exact in bfloat16
        return np.array([[0.5, -2.0, 1.0], [3.0, -0.25, 128.0]][:n], np.float32)
    info = np.iinfo(IDENT_TYPES[k][1])
    v = rng.integers(info.min, info.max, (n, 3), dtype=IDENT_TYPES[k][1], endpoint=True)
    v[0, 0], v[0, 1] = info.min, info.max
    return v


def test_every_datatype_json_round_trip(server):
    vals = {k: _ident_values(k) for k in IDENT_TYPES}
    body = {"inputs": [{"name": "in_" + k, "shape": [2, 3], "datatype": k, "data": v.ravel().tolist()}
                       for k, v in vals.items()]}
    status, out = server.json("POST", "/v2/models/ident/infer", body)
    assert status == 200, out
    got = {o["name"]: o for o in out["outputs"]}
    for k, v in vals.items():
        o = got["out_" + k]
        assert o["datatype"] == k and o["shape"] == [2, 3]
        if k in ("BOOL", "BF16") or k.startswith(("INT", "UINT")):
            assert o["data"] == v.ravel().tolist(), k
        else:  # shortest round-trip text of the value in its own precision
            np.testing.assert_array_equal(np.array(o["data"], v.dtype), v.ravel(), err_msg=k)


def test_every_datatype_binary_round_trip(server):
    vals = {k: _ident_values(k) for k in IDENT_TYPES}
    tensors = []
    for k, v in vals.items():
        if k == "BF16":  # the top half of each float32
            raw = (v.view(np.uint32) >> 16).astype(np.uint16)
            tensors.append(("in_" + k, k, raw))
        else:
            tensors.append(("in_" + k, k, v))
    body, headers = _binary_request(tensors, params={"binary_data_output": True})
    status, hdrs, data = server.request("POST", "/v2/models/ident/infer", body, headers)
    assert status == 200, data[:200]
    header, raw = _split_binary_response(hdrs, data)
    for name, k, arr in tensors:
        assert raw["out_" + k] == arr.tobytes(), k


def test_binary_extension_errors(server):
    x = _x(1)
    body, headers = _binary_request([("x", "FP32", x)])
    cases = [
        (body[:-4], headers, "runs past the end"),                            # truncated tensor bytes
        (body + b"xx", headers, "bytes after"),                              # trailing garbage
        (body, {**headers, "Inference-Header-Content-Length": "99999"}, "Inference-Header-Content-Length"),
        (body, {**headers, "Inference-Header-Content-Length": "-1"}, "Inference-Header-Content-Length"),
    ]
    for b, h, msg in cases:
        status, hdrs, data = server.request("POST", "/v2/models/mlp/infer", b, h)
        assert status == 400 and msg in json.loads(data)["error"], (msg, data)
    # binary_data_size that disagrees with the shape
    h = json.dumps({"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32",
                                "parameters": {"binary_data_size": 60}}]}).encode()
    status, _, data = server.request("POST", "/v2/models/mlp/infer", h + b"\0" * 60,
                                     {"Inference-Header-Content-Length": str(len(h))})
    assert status == 400 and "binary_data_size is 60" in json.loads(data)["error"]
    _alive(server)


# ---------------------------------------------------------------- OIP: bad requests

@pytest.mark.parametrize("body,msg", [
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [NaN' + ", 0" * 15 + "]}]}",
     "invalid JSON"),
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [Infinity' + ", 0" * 15 + "]}]}",
     "invalid JSON"),
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [1e999' + ", 0" * 15 + "]}]}",
     "invalid JSON"),
    ("[" * 100000 + "]" * 100000, "nesting deeper"),
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "da', "invalid JSON"),
    ("", "invalid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"inputs": 3}', '"inputs" array'),
    ('{"inputs": [{"name": "x", "shape": [1, 15], "datatype": "FP32", "data": [' + "0," * 14 + "0]}]}",
     "does not match the model's [-1, 16]"),
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [1, 2]}]}',
     "shape has 16 elements but data has 2"),
    # more values than the shape holds, nested: the exact count is reported
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [[' + "0," * 16 + "0], [1, 2]]}]}",
     "shape has 16 elements but data has 19"),
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP64", "data": [' + "0," * 15 + "0]}]}",
     "datatype FP64 but the model expects FP32"),
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP99", "data": [' + "0," * 15 + "0]}]}",
     "unknown datatype 'FP99'"),
    ('{"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": ["a"' + ", 0" * 15 + "]}]}",
     "element 0 is not a valid FP32 value"),
    ('{"inputs": [{"name": "x", "shape": [4611686018427387904, 4], "datatype": "FP32", "data": [1]}]}',
     "too many elements"),
    ('{"inputs": [{"name": "x", "shape": [-1, 16], "datatype": "FP32", "data": [1]}]}', "integers >= 0"),
    ('{"inputs": [{"name": "q", "shape": [1], "datatype": "FP32", "data": [1]}]}', "has no input 'q'"),
    ('{"inputs": []}', "missing input 'x'"),
    ('{"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}', 'missing "name"'),
])
def test_malformed_infer_is_400_and_server_keeps_serving(server, body, msg):
    status, hdrs, data = server.request("POST", "/v2/models/mlp/infer", body)
    assert status == 400, data[:300]
    assert msg in json.loads(data)["error"]
    _alive(server)


def test_invalid_utf8_is_400(server):
    body = b'{"id": "\xff\xfe", "inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [' + \
        b"0," * 15 + b"0]}]}"
    status, _, data = server.request("POST", "/v2/models/mlp/infer", body)
    assert status == 400 and "not valid UTF-8" in json.loads(data)["error"]
    _alive(server)


def test_integer_ranges_checked(server):
    for k, bad in [("UINT8", 256), ("INT8", -129), ("INT16", 40000), ("INT32", 2**31), ("INT64", 2**63),
                   ("UINT16", 65536), ("UINT32", -1), ("UINT64", -5), ("UINT8", 1.5), ("BOOL", 1)]:
        inputs = [{"name": "in_" + t, "shape": [1, 3], "datatype": t, "data": [0, 0, 0] if t != "BOOL" else
                   [False] * 3} for t in IDENT_TYPES]
        for i in inputs:
            if i["datatype"] == k:
                i["data"] = [bad, 0, 0] if k != "BOOL" else [bad, False, False]
        status, out = server.json("POST", "/v2/models/ident/infer", {"inputs": inputs})
        assert status == 400 and f"not a valid {k} value" in out["error"], (k, out)


def test_wrong_method_405(server):
    status, hdrs, _ = server.request("GET", "/v2/models/mlp/infer")
    assert status == 405 and hdrs["allow"] == "POST"
    status, hdrs, _ = server.request("POST", "/v2/health/live", "{}")
    assert status == 405 and hdrs["allow"] == "GET"


# ---------------------------------------------------------------- TF-Serving REST

def test_tfserving_status_and_metadata(server):
    status, body = server.json("GET", "/v1/models/mlp")
    assert status == 200
    assert body == {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                              "status": {"error_code": "OK", "error_message": ""}}]}
    assert server.json("GET", "/v1/models/mlp/versions/1")[1] == body
    assert server.json("GET", "/v1/models/mlp/versions/9")[0] == 404
    status, meta = server.json("GET", "/v1/models/mlp/metadata")
    assert status == 200 and meta["model_spec"]["name"] == "mlp" and meta["model_spec"]["version"] == "1"
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    assert sig["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in sig["inputs"]["x"]["tensor_shape"]["dim"]] == ["-1", "16"]
    assert sig["outputs"]["y"]["dtype"] == "DT_FLOAT"


def test_tfserving_predict_row_format(server, mlp_ref):
    x = _x(3, seed=4)
    ref = mlp_ref.run(None, {"x": x})[0]
    # The row ("instances") format, as in TF-Serving's REST API docs: a list of inputs...
    status, body = server.json("POST", "/v1/models/mlp:predict", {"instances": x.tolist()})
    assert status == 200 and list(body) == ["predictions"]
    np.testing.assert_allclose(np.array(body["predictions"]), ref, rtol=1e-5, atol=1e-6)
    # ...or a list of objects of named inputs, with the signature named.
    status, body = server.json("POST", "/v1/models/mlp/versions/1:predict",
                               {"signature_name": "serving_default", "instances": [{"x": r} for r in x.tolist()]})
    assert status == 200
    np.testing.assert_allclose(np.array(body["predictions"]), ref, rtol=1e-5, atol=1e-6)


def test_tfserving_predict_columnar_format(server, mlp_ref):
    x = _x(2, seed=5)
    ref = mlp_ref.run(None, {"x": x})[0]
    status, body = server.json("POST", "/v1/models/mlp:predict", {"inputs": {"x": x.tolist()}})
    assert status == 200 and list(body) == ["outputs"]
    np.testing.assert_allclose(np.array(body["outputs"]), ref, rtol=1e-5, atol=1e-6)
    status, body = server.json("POST", "/v1/models/mlp:predict", {"inputs": x.tolist()})
    np.testing.assert_allclose(np.array(body["outputs"]), ref, rtol=1e-5, atol=1e-6)


def test_tfserving_multiple_outputs(server):
    x = [[1.0, 2.0], [3.0, 4.0]]
    status, body = server.json("POST", "/v1/models/two:predict", {"instances": x})
    assert status == 200
    assert body == {"predictions": [{"y": [2, 3], "z": [2, 4]}, {"y": [4, 5], "z": [6, 8]}]}
    status, body = server.json("POST", "/v1/models/two:predict", {"inputs": {"x": x}})
    assert body == {"outputs": {"y": [[2, 3], [4, 5]], "z": [[2, 4], [6, 8]]}}


def test_tfserving_errors(server):
    cases = [
        ({"instances": [[1.0] * 16], "inputs": [[1.0] * 16]}, "exactly one of"),
        ({}, "exactly one of"),
        ({"instances": []}, "non-empty"),
        ({"instances": [[1.0] * 16, [1.0] * 15]}, "same length"),
        ({"instances": [[1.0] * 15]}, "does not match"),
        ({"instances": [{"q": [1.0] * 16}]}, "lacks input 'x'"),
        ({"inputs": {"x": [[1.0] * 16], "q": [1]}}, "has no input 'q'"),
        ({"signature_name": "other", "instances": [[1.0] * 16]}, "signature_name"),
        ({"instances": [[{"b64": base64.b64encode(b"abc").decode()}] * 16]}, "not a valid FP32 value"),
        ({"instances": [["x"] * 16]}, "not a valid FP32 value"),
    ]
    for body, msg in cases:
        status, out = server.json("POST", "/v1/models/mlp:predict", body)
        assert status == 400 and msg in out["error"], (body, out)
    status, out = server.json("POST", "/v1/models/mlp:classify", {"instances": [[1.0] * 16]})
    assert status == 400 and ":predict" in out["error"]
    status, out = server.json("POST", "/v1/models/nope:predict", {"instances": [[1.0] * 16]})
    assert status == 404
    status, out = server.json("GET", "/v1/models/mlp:predict")
    assert status == 405
    _alive(server)


# ---------------------------------------------------------------- HTTP-level hostile input

def _raw(server, data, read=True, timeout=TIMEOUT):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return s
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        if read:
            s.close()


def test_oversized_body_413_before_reading_it(server):
    # Content-Length over --max-body-bytes (1 MiB): answered from the headers alone.
    head = (b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2147483648\r\n\r\n")
    t0 = time.monotonic()
    out = _raw(server, head + b"{" * 1000)
    assert out.startswith(b"HTTP/1.1 413"), out[:100]
    assert b'"error"' in out and time.monotonic() - t0 < 2
    # A chunked body that grows past the limit.
    s = _raw(server, b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", read=False)
    try:
        chunk = b"100000\r\n" + b"a" * 0x100000 + b"\r\n"
        try:
            for _ in range(3):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(TIMEOUT)
        out = s.recv(65536)
        assert out.startswith(b"HTTP/1.1 413"), out[:100]
    finally:
        s.close()
    _alive(server)


def test_headers_too_large_431(server):
    head = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Pad-%d: %s\r\n" % (i, b"a" * 100) for i in range(400)) + b"\r\n"
    out = _raw(server, head)
    assert out.startswith(b"HTTP/1.1 431"), out[:100]
    _alive(server)


def test_truncated_body_400(server):
    # The client announces 100 bytes, sends 20 and half-closes.
    s = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    try:
        s.sendall(b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b'{"inputs": [' * 2)
        s.shutdown(socket.SHUT_WR)
        out = s.recv(65536)
        assert out == b"" or out.startswith(b"HTTP/1.1 400"), out[:100]
    finally:
        s.close()
    _alive(server)


def test_garbage_request_line_400(server):
    out = _raw(server, b"\x00\x01\x02 / HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400") or out == b""
    _alive(server)


def test_keep_alive_and_pipelining(server):
    c = server.conn()
    try:
        for _ in range(5):  # one connection, several requests
            c.request("GET", "/v2/health/live")
            r = c.getresponse()
            assert r.status == 200 and r.read() == b'{"live":true}'
    finally:
        c.close()
    req = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    out = _raw(server, req * 3 + b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200") == 4


def test_slowloris_is_cut_off_without_blocking_others(server):
    # Clients that dribble their headers one byte at a time: the server's read
    # timeout (1.5 s here) closes them, and other clients are served meanwhile.
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) for _ in range(20)]
    closed = [None] * len(slow)
    start = time.monotonic()
    stop = threading.Event()

    def dribble(i, s):
        line = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        for b in line:
            if stop.is_set():
                return
            try:
                s.sendall(bytes([b]))
            except OSError:
                break
            time.sleep(0.2)
            if time.monotonic() - start > 8:
                break
        try:
            s.settimeout(5)
            data = s.recv(100)  # b"" once the server closed it
            closed[i] = (data == b"", time.monotonic() - start)
        except OSError:
            closed[i] = (True, time.monotonic() - start)

    threads = [threading.Thread(target=dribble, args=(i, s), daemon=True) for i, s in enumerate(slow)]
    for t in threads:
        t.start()
    try:
        lat, served_at = [], []
        for _ in range(10):
            t0 = time.monotonic()
            _alive(server)
            lat.append(time.monotonic() - t0)
            served_at.append(time.monotonic() - start)
            time.sleep(0.05)
        assert max(lat) < 3.0, lat
        for t in threads:
            t.join(timeout=TIMEOUT)
    finally:
        stop.set()
        for s in slow:
            s.close()
    for c in closed:
        assert c is not None and c[0], closed
        assert c[1] < 7, closed  # cut at ~1.5 s, far before the 200 bytes could arrive
    # Served while every slow client still held its connection, not after they were cut.
    assert served_at[0] < min(c[1] for c in closed), (served_at, closed)
    _alive(server)


def test_compressed_body_415(server):
    status, hdrs, data = server.request("POST", "/v2/models/mlp/infer", b"\x1f\x8b\x08\x00",
                                        {"Content-Encoding": "gzip"})
    assert status == 415 and "gzip" in json.loads(data)["error"]


def test_connection_cap_sheds_extra_connections(repo, tmp_path):
    s = Server(["--model", f"mlp={repo / 'mlp' / '1' / 'model.onnx'}", "--max-connections", "3",
                "--log-format", "none"], tmp_path)
    try:
        idle = [socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT) for _ in range(3)]
        for c in idle:  # each answered once, so the server holds all three (kept alive) before the extra one
            c.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.recv(100).startswith(b"HTTP/1.1 200")
        extra = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT)
        try:  # closed without being served (a reset when the request was already sent)
            extra.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.recv(100) == b""
        except (ConnectionResetError, BrokenPipeError):
            pass
        extra.close()
        for c in idle:
            c.close()
        deadline = time.monotonic() + TIMEOUT
        while True:  # the slots free up once the server sees the closes
            try:
                if s.request("GET", "/v2/health/live")[0] == 200:
                    break
            except (ConnectionError, http.client.RemoteDisconnected):
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        assert s.stop() == 0


# ---------------------------------------------------------------- other routes

def test_openapi_document(server):
    for path in ["/v2/openapi.json", "/openapi.json"]:
        status, doc = server.json("GET", path)
        assert status == 200 and doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p in ["/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/{model}", "/v2/models/{model}/ready",
              "/v2/models/{model}/infer", "/v2/models/{model}/versions/{version}/infer", "/v1/models/{model}",
              "/v1/models/{model}/metadata", "/v1/models/{model}:predict", "/metrics"]:
        assert p in paths, p


def test_metrics_route(server):
    _alive(server)
    status, hdrs, data = server.request("GET", "/metrics")
    assert status == 200 and hdrs["content-type"].startswith("text/plain")
    assert b'tessel_inference_requests_total{model="mlp",version="1",status="200"}' in data

    def count(text, status):
        key = f'tessel_inference_requests_total{{model="two",version="1",status="{status}"}} '.encode()
        line = [ln for ln in text.splitlines() if ln.startswith(key)]
        return float(line[0][len(key):]) if line else 0.0

    before = count(data, 400)
    # Refused by the HTTP side (bad datatype) on both protocols: still counted for the model.
    assert server.json("POST", "/v2/models/two/infer", {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64",
                                                                    "data": [1, 2]}]})[0] == 400
    assert server.json("POST", "/v1/models/two:predict", {"instances": [[1, 2, 3]]})[0] == 400
    assert count(server.request("GET", "/metrics")[2], 400) == before + 2


def test_head_request(server):
    status, hdrs, data = server.request("HEAD", "/v2/models/mlp")
    assert status == 200 and data == b"" and int(hdrs["content-length"]) > 0


def test_access_log_lines_are_json(server):
    _alive(server)
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    infer = [x for x in lines if x["path"] == "/v2/models/mlp/infer" and x["status"] == 200]
    assert infer and {"time", "remote", "method", "status", "bytes_in", "bytes_out", "duration_ms"} <= set(infer[-1])


def test_repository_index_and_control_off(server):
    status, index = server.json("POST", "/v2/repository/index")
    assert status == 200
    assert {"name": "mlp", "version": "1", "state": "READY"} in index
    status, ready = server.json("POST", "/v2/repository/index", {"ready": True})
    assert status == 200 and {e["name"] for e in ready} == {"mlp", "two", "ident"}
    status, out = server.json("POST", "/v2/repository/index", {"ready": True, "other": 1})
    assert status == 400 and "unknown field" in out["error"]
    status, out = server.json("POST", "/v2/repository/index", '{"ready": 1e999}')
    assert status == 400 and "out of range" in out["error"]
    status, out = server.json("POST", "/v2/repository/models/mlp/unload")
    assert status == 403 and "explicit" in out["error"]


# ---------------------------------------------------------------- Triton's official client

def test_tritonclient_http_unchanged(server, mlp_ref):
    tc = pytest.importorskip("tritonclient.http")
    client = tc.InferenceServerClient(url=f"127.0.0.1:{server.port}", connection_timeout=TIMEOUT,
                                      network_timeout=TIMEOUT)
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mlp")
        meta = client.get_model_metadata("mlp")
        assert meta["inputs"][0]["name"] == "x"
        x = _x(2, seed=6)
        ref = mlp_ref.run(None, {"x": x})[0]
        for binary in (True, False):
            inp = tc.InferInput("x", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            out = tc.InferRequestedOutput("y", binary_data=binary)
            res = client.infer("mlp", [inp], outputs=[out], request_id="t1")
            np.testing.assert_allclose(res.as_numpy("y"), ref, rtol=1e-5, atol=1e-6)
            assert res.get_response()["id"] == "t1"
        res = client.infer("mlp", [inp])  # no outputs named: all of them, binary by default
        np.testing.assert_allclose(res.as_numpy("y"), ref, rtol=1e-5, atol=1e-6)
        with pytest.raises(Exception, match="unknown model"):
            client.infer("nope", [inp])
    finally:
        client.close()


# ---------------------------------------------------------------- auth and CORS

def test_bearer_auth_and_cors(repo, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    s = Server(["--model", f"mlp={repo / 'mlp' / '1' / 'model.onnx'}", "--auth-token-file", str(token),
                "--cors-origin", "https://app.example", "--log-format", "none"], tmp_path)
    try:
        assert s.request("GET", "/v2/health/live")[0] == 200  # probes stay open
        assert s.request("GET", "/v2/health/ready")[0] == 200
        status, hdrs, data = s.request("GET", "/v2/models/mlp")
        assert status == 401 and hdrs["www-authenticate"] == "Bearer"
        assert s.request("GET", "/v2/models/mlp", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert s.request("GET", "/v2/models/mlp", headers={"Authorization": "Bearer s3cret-tokenX"})[0] == 401
        ok = {"Authorization": "Bearer s3cret-token"}
        assert s.request("GET", "/v2/models/mlp", headers=ok)[0] == 200
        assert s.request("POST", "/v1/models/mlp:predict", {"instances": [[0.0] * 16]}, ok)[0] == 200
        # CORS: the configured origin is echoed; others are not.
        status, hdrs, _ = s.request("GET", "/v2/models/mlp", headers={**ok, "Origin": "https://app.example"})
        assert hdrs["access-control-allow-origin"] == "https://app.example"
        status, hdrs, _ = s.request("GET", "/v2/models/mlp", headers={**ok, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in hdrs
        status, hdrs, _ = s.request("OPTIONS", "/v2/models/mlp/infer",
                                    headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        assert status == 204 and "POST" in hdrs["access-control-allow-methods"]
        assert "Authorization" in hdrs["access-control-allow-headers"]
    finally:
        assert s.stop() == 0


def test_cors_off_by_default(server):
    status, hdrs, _ = server.request("GET", "/v2/health/live", headers={"Origin": "https://app.example"})
    assert status == 200 and "access-control-allow-origin" not in hdrs
    status, hdrs, _ = server.request("OPTIONS", "/v2/models/mlp/infer", headers={"Origin": "https://app.example"})
    assert status == 405 and hdrs["allow"] == "POST"  # each route names its own methods
    status, hdrs, _ = server.request("TRACE", "/metrics")
    assert status == 405 and hdrs["allow"] == "GET"


# ---------------------------------------------------------------- start-up, failures, shutdown

def test_model_that_fails_to_load(repo, tmp_path):
    bad = tmp_path / "repo"
    (bad / "broken" / "1").mkdir(parents=True)
    (bad / "broken" / "1" / "model.onnx").write_bytes(b"this is not an onnx file")
    _mlp_model(bad / "mlp" / "1" / "model.onnx")
    s = Server(["--model-repository", str(bad), "--log-format", "none"], tmp_path)
    try:
        assert s.json("GET", "/v2/health/ready")[0] == 503  # not every model is ready
        assert s.json("GET", "/v2/health/live")[0] == 200
        status, body = s.json("GET", "/v2/models/broken/ready")
        assert status == 503 and body["ready"] is False
        status, body = s.json("POST", "/v2/models/broken/infer", _oip_body(_x()))
        assert 400 <= status < 500 and "not ready" in body["error"]
        status, body = s.json("GET", "/v1/models/broken")
        assert status == 200 and body["model_version_status"][0]["state"] == "END"
        assert body["model_version_status"][0]["status"]["error_message"]
        _alive(s)
    finally:
        assert s.stop() == 0


def test_string_input_model_is_served(tmp_path):
    # ONNX string inputs (e.g. StringNormalizer) run as string tensors: the model is
    # READY and BYTES requests get BYTES back (more in test_serve_strings.py).
    s_in = helper.make_tensor_value_info("s", TensorProto.STRING, ["n"])
    s_out = helper.make_tensor_value_info("o", TensorProto.STRING, ["n"])
    _save(helper.make_graph([helper.make_node("StringNormalizer", ["s"], ["o"], case_change_action="LOWER")],
                            "text", [s_in], [s_out]), tmp_path / "repo" / "text" / "1" / "model.onnx")
    _mlp_model(tmp_path / "repo" / "mlp" / "1" / "model.onnx")
    s = Server(["--model-repository", str(tmp_path / "repo"), "--log-format", "none"], tmp_path)
    try:
        status, index = s.json("POST", "/v2/repository/index")
        text = [e for e in index if e["name"] == "text"][0]
        assert status == 200 and text["state"] == "READY"
        status, body = s.json("POST", "/v2/models/text/infer",
                              {"inputs": [{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["Ab", "CD"]}]})
        assert status == 200 and body["outputs"][0]["datatype"] == "BYTES"
        assert body["outputs"][0]["data"] == ["ab", "cd"]
        _alive(s)
    finally:
        assert s.stop() == 0


def test_startup_load_background(repo, tmp_path):
    # --startup-load background: listening before the models load; live at once, ready once
    # loaded (the LOADING/503 window itself is tested in C++ with a held load)
    s = Server(["--model-repository", str(repo), "--startup-load", "background", "--log-format", "none"], tmp_path)
    try:
        assert s.json("GET", "/v2/health/live") == (200, {"live": True})
        deadline = time.monotonic() + TIMEOUT
        while s.json("GET", "/v2/health/ready")[0] != 200:
            status, body = s.json("GET", "/v2/models/mlp/ready")
            assert status in (200, 503), body
            assert time.monotonic() < deadline, "not ready within the timeout"
            time.sleep(0.02)
        _alive(s)
        assert s.json("GET", "/v2/models/nope")[0] == 404
    finally:
        assert s.stop() == 0
    bad = subprocess.run([SERVER, "--model-repository", str(repo), "--startup-load", "later"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert bad.returncode == 2 and "--startup-load is wait or background" in bad.stderr


def test_sigterm_drains_in_flight_requests_and_exits_0(repo, tmp_path):
    # A queue delay of 20 s holds the request in the batcher (seen in /metrics)
    # while SIGTERM arrives; draining answers it at once.
    r = tmp_path / "repo"
    _mlp_model(r / "slow" / "1" / "model.onnx")
    (r / "slow" / "config.pbtxt").write_text(
        "max_batch_size: 8\ndynamic_batching { preferred_batch_size: [8] max_queue_delay_microseconds: 20000000 }\n")
    s = Server(["--model-repository", str(r), "--log-format", "none"], tmp_path)
    result = {}

    def call():
        result["r"] = s.json("POST", "/v2/models/slow/infer", _oip_body(_x()))

    t = threading.Thread(target=call)
    t.start()
    s.wait_metric("tessel_inference_queue_depth", {"model": "slow"}, 1)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    while True:  # no longer accepting, soon
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
        except OSError:
            break
        assert time.monotonic() - t0 < 30, "still accepting connections 30 s after SIGTERM"
        time.sleep(0.02)
    t.join(timeout=TIMEOUT)
    assert time.monotonic() - t0 < 15  # answered by the drain, not at the end of the 20 s delay
    assert result["r"][0] == 200 and result["r"][1]["outputs"][0]["shape"] == [1, 4]
    assert s.proc.wait(timeout=TIMEOUT) == 0
    s.log.close()


def test_queue_full_503_and_queue_timeout_504(tmp_path):
    # "full": one queued request at most, held 3 s by the batching delay.
    # "late": requests time out in the queue after 0.1 s, long before the 3 s delay ends.
    r = tmp_path / "repo"
    for name, policy in [("full", "max_queue_size: 1"), ("late", "default_timeout_microseconds: 100000")]:
        _mlp_model(r / name / "1" / "model.onnx")
        (r / name / "config.pbtxt").write_text(
            "max_batch_size: 8\ndynamic_batching { preferred_batch_size: [8] max_queue_delay_microseconds: 3000000 "
            "default_queue_policy { %s } }\n" % policy)
    s = Server(["--model-repository", str(r), "--log-format", "none"], tmp_path)
    try:
        first = {}
        t = threading.Thread(target=lambda: first.update(r=s.json("POST", "/v2/models/full/infer", _oip_body(_x()))))
        t.start()
        s.wait_metric("tessel_inference_queue_depth", {"model": "full"}, 1)
        status, hdrs, data = s.request("POST", "/v2/models/full/infer", json.dumps(_oip_body(_x())))
        assert status == 503 and hdrs["retry-after"] and "full" in json.loads(data)["error"]
        status, hdrs, data = s.request("POST", "/v1/models/full:predict", json.dumps({"instances": [[0.0] * 16]}))
        assert status == 503 and hdrs["retry-after"]
        t.join(timeout=TIMEOUT)
        assert first["r"][0] == 200  # the queued one was served
        t0 = time.monotonic()
        status, body = s.json("POST", "/v2/models/late/infer", _oip_body(_x()))
        assert status == 504 and "error" in body and time.monotonic() - t0 < 2.5  # at the timeout, not the delay
        _alive_model = s.json("POST", "/v2/models/full/infer", _oip_body(_x()))
        assert _alive_model[0] == 200
    finally:
        assert s.stop() == 0


def test_bad_command_lines(tmp_path):
    def run(*args):
        return subprocess.run([SERVER, *args], capture_output=True, text=True, timeout=TIMEOUT)
    assert run().returncode == 2
    r = run("--help")
    assert r.returncode == 0 and "--model-repository" in r.stdout and "--http-port" in r.stdout
    assert run("--bogus", "1").returncode == 2
    assert run("--model", "noequals").returncode == 2
    assert run("--http-port", "99999", "--model", "a=b").returncode == 2
    r = run("--model", f"m={tmp_path / 'missing.onnx'}")
    assert r.returncode == 1 and "missing.onnx" in r.stderr
    r = run("--model", "../x=/etc/passwd")
    assert r.returncode == 1 and "invalid model name" in r.stderr


def _thread_policies(pid):
    """Scheduling policy of each thread of `pid` (field 41 of /proc/PID/task/TID/stat)."""
    out = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            st = Path(f"/proc/{pid}/task/{t}/stat").read_text()
        except OSError:  # the thread ended
            continue
        out.append(int(st[st.rindex(")") + 2:].split()[38]))
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(os, "SCHED_BATCH"),
                    reason="SCHED_BATCH and /proc are Linux's")
def test_io_sched_batch_puts_the_event_loops_under_sched_batch(repo, tmp_path):
    """--io-sched batch: the 2 event loops run SCHED_BATCH and everything else (the model's worker
    threads) keeps the process's SCHED_OTHER; --io-sched normal (the default): no thread is batch."""
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        pytest.skip("the test process does not run under SCHED_OTHER")
    for args, loops in (([], 0), (["--io-sched", "batch"], 2), (["--io-sched", "normal"], 0)):
        s = Server(["--model-repository", str(repo), "--log-format", "none"] + args, tmp_path)
        try:
            assert s.json("POST", "/v2/models/mlp/infer", _oip_body(_x()))[0] == 200  # a worker has run
            deadline = time.monotonic() + TIMEOUT
            while True:  # the second loop may start its thread just after the port file is written
                pol = _thread_policies(s.proc.pid)
                if pol.count(os.SCHED_BATCH) == loops or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert pol.count(os.SCHED_BATCH) == loops, (args, pol)
            assert pol.count(os.SCHED_OTHER) == len(pol) - loops, (args, pol)
        finally:
            assert s.stop() == 0
    r = subprocess.run([SERVER, "--io-sched", "fifo"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2 and "--io-sched is batch or normal" in r.stderr


def test_python_entry_points(repo):
    env = {**os.environ}
    for cmd in ([sys.executable, "-m", "tessel", "serve", "--help"],
                [sys.executable, "-c", "import sys; from tessel.cli.serve import main; sys.exit(main(['--help']))"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 0, r.stderr
        assert "usage: tessel-serve" in r.stdout


def test_missing_binary_is_a_failure_not_a_usage_error(monkeypatch, capsys):
    import tessel.cli.serve as cli_serve

    def nowhere():
        raise FileNotFoundError("tessel-serve was not found (looked in: /nowhere)")

    monkeypatch.setattr(cli_serve, "find_server", nowhere)
    assert cli_serve.main(["--help"]) == 1
    assert "tessel-serve was not found" in capsys.readouterr().err
