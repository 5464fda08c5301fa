"""tessel-serve with ONNX string tensors over a real socket: OIP BYTES in JSON
and in the binary extension, TF-Serving string values and {"b64": ...},
batching of string inputs, and 400s for mismatched string feeds. Expected
outputs come from onnxruntime on the same file."""
import base64
import json
import struct

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from test_serve import SERVER, Server, _split_binary_response  # noqa: E402,F401

pytestmark = pytest.mark.skipif(SERVER is None, reason="tessel-serve was not built (TESSEL_WITH_SERVE=OFF)")

WORDS = ["cat", "dog", "bird"]


def _save(nodes, ins, outs, path, inits=()):
    g = helper.make_graph(nodes, "g", ins, outs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("ai.onnx.ml", 3)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))


def _words_model(path):
    """words [n, 2] (strings) -> lower-cased: ids [n, 2] int64 (LabelEncoder),
    tags [n, 2] (the strings) and is_cat [n, 2] (Equal to a string constant)."""
    nodes = [
        helper.make_node("Reshape", ["words", "flat"], ["w1"]),
        helper.make_node("StringNormalizer", ["w1"], ["low"], case_change_action="LOWER", locale="C"),
        helper.make_node("Reshape", ["low", "back"], ["w2"]),
        helper.make_node("LabelEncoder", ["w2"], ["ids"], domain="ai.onnx.ml", keys_strings=WORDS,
                         values_int64s=[0, 1, 2], default_int64=-1),
        helper.make_node("Equal", ["w2", "catk"], ["is_cat"]),
        helper.make_node("Identity", ["w2"], ["tags"]),
    ]
    inits = [helper.make_tensor("flat", TensorProto.INT64, [1], [-1]),
             helper.make_tensor("back", TensorProto.INT64, [2], [-1, 2]),
             helper.make_tensor("catk", TensorProto.STRING, [], [b"cat"])]
    _save(nodes, [helper.make_tensor_value_info("words", TensorProto.STRING, ["n", 2])],
          [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n", 2]),
           helper.make_tensor_value_info("tags", TensorProto.STRING, ["n", 2]),
           helper.make_tensor_value_info("is_cat", TensorProto.BOOL, ["n", 2])], path, inits)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("repo")
    _words_model(d / "words" / "1" / "model.onnx")
    _words_model(d / "wordsb" / "1" / "model.onnx")
    _save([helper.make_node("Identity", ["s"], ["echo_bytes"])],
          [helper.make_tensor_value_info("s", TensorProto.STRING, ["n"])],
          [helper.make_tensor_value_info("echo_bytes", TensorProto.STRING, ["n"])], d / "echo" / "1" / "model.onnx")
    (d / "wordsb" / "config.pbtxt").write_text(
        "max_batch_size: 8\ndynamic_batching { preferred_batch_size: [8] max_queue_delay_microseconds: 300000 }\n")
    return d


@pytest.fixture(scope="module")
def server(repo, tmp_path_factory):
    s = Server(["--model-repository", str(repo)], tmp_path_factory.mktemp("srv"))
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def ref(repo):
    sess = ort.InferenceSession(str(repo / "words" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    return lambda words: dict(zip(["ids", "tags", "is_cat"], sess.run(None, {"words": np.array(words, dtype=object)})))


def _outputs(body):
    return {o["name"]: o for o in body["outputs"]}


def test_metadata_declares_bytes(server):
    status, body = server.json("GET", "/v2/models/words")
    assert status == 200
    assert body["inputs"] == [{"name": "words", "datatype": "BYTES", "shape": [-1, 2]}]
    assert {o["name"]: o["datatype"] for o in body["outputs"]} == {"ids": "INT64", "tags": "BYTES", "is_cat": "BOOL"}
    status, _ = server.json("GET", "/v2/models/words/ready")
    assert status == 200


def test_oip_json_bytes(server, ref):
    words = [["Cat", "DOG"], ["fish", "bird"], ["é", "cat"]]
    req = {"inputs": [{"name": "words", "shape": [3, 2], "datatype": "BYTES", "data": sum(words, [])}]}
    status, body = server.json("POST", "/v2/models/words/infer", req)
    assert status == 200, body
    out, want = _outputs(body), ref(words)
    assert out["ids"]["datatype"] == "INT64" and out["ids"]["data"] == want["ids"].ravel().tolist()
    assert out["tags"]["datatype"] == "BYTES" and out["tags"]["shape"] == [3, 2]
    assert out["tags"]["data"] == want["tags"].ravel().tolist()
    assert out["is_cat"]["data"] == want["is_cat"].ravel().tolist()
    # nested data works as for numbers
    req["inputs"][0]["data"] = words
    status, body2 = server.json("POST", "/v2/models/words/infer", req)
    assert status == 200 and _outputs(body2)["tags"]["data"] == out["tags"]["data"]


def _bytes_raw(strings):
    return b"".join(struct.pack("<I", len(s)) + s for s in strings)


def _bytes_parse(raw):
    out, pos = [], 0
    while pos < len(raw):
        (n,) = struct.unpack_from("<I", raw, pos)
        out.append(raw[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def test_oip_binary_bytes(server, ref):
    words = [["bird", "Cat"], ["x y", ""]]
    raw = _bytes_raw([w.encode() for w in sum(words, [])])
    header = {"inputs": [{"name": "words", "shape": [2, 2], "datatype": "BYTES",
                          "parameters": {"binary_data_size": len(raw)}}],
              "outputs": [{"name": "tags", "parameters": {"binary_data": True}}, {"name": "ids"}]}
    h = json.dumps(header).encode()
    status, hdrs, data = server.request("POST", "/v2/models/words/infer", h + raw,
                                        {"Inference-Header-Content-Length": str(len(h)),
                                         "Content-Type": "application/octet-stream"})
    assert status == 200, data
    head, bins = _split_binary_response(hdrs, data)
    want = ref(words)
    assert [b.decode() for b in _bytes_parse(bins["tags"])] == want["tags"].ravel().tolist()
    assert _outputs(head)["ids"]["data"] == want["ids"].ravel().tolist()


def test_tfserving_strings_and_b64(server, ref):
    words = [["dog", "Bird"], ["CAT", "cow"]]
    status, body = server.json("POST", "/v1/models/words:predict", {"instances": words})
    assert status == 200, body
    want = ref(words)
    assert [p["ids"] for p in body["predictions"]] == want["ids"].tolist()
    assert [p["tags"] for p in body["predictions"]] == want["tags"].tolist()
    b64 = [[{"b64": base64.b64encode(w.encode()).decode()} for w in row] for row in words]
    status, body = server.json("POST", "/v1/models/words:predict", {"inputs": {"words": b64}})
    assert status == 200, body
    assert body["outputs"]["ids"] == want["ids"].tolist() and body["outputs"]["tags"] == want["tags"].tolist()


def test_tfserving_bytes_output_as_b64(server):
    """Outputs named *_bytes come back as {"b64": ...} (TF-Serving's rule), bytes intact."""
    vals = [b"\x00\xffraw", b"plain"]
    inst = [{"b64": base64.b64encode(v).decode()} for v in vals]
    status, body = server.json("POST", "/v1/models/echo:predict", {"instances": inst})
    assert status == 200, body
    assert [base64.b64decode(p["b64"]) for p in body["predictions"]] == vals


def test_batched_string_requests(server, ref):
    """Concurrent requests to the batching model merge along dim 0; each gets its own rows back."""
    import threading

    inputs = [[["cat", "dog"]], [["bird", "x"], ["DOG", "cat"]], [["a", "b"], ["c", "d"], ["Bird", "bird"]]]
    results = [None] * len(inputs)

    def go(k):
        req = {"inputs": [{"name": "words", "shape": [len(inputs[k]), 2], "datatype": "BYTES",
                           "data": sum(inputs[k], [])}]}
        results[k] = server.json("POST", "/v2/models/wordsb/infer", req)

    threads = [threading.Thread(target=go, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    for words, (status, body) in zip(inputs, results):
        assert status == 200, body
        out, want = _outputs(body), ref(words)
        assert out["tags"]["shape"] == [len(words), 2] and out["tags"]["data"] == want["tags"].ravel().tolist()
        assert out["ids"]["data"] == want["ids"].ravel().tolist()
    status, stats = server.json("GET", "/v2/models/wordsb/stats")
    if status == 200:  # an execution ran more than one request when they merged
        s = stats["model_stats"][0]
        assert s["inference_count"] >= 6


def test_bad_string_feeds_are_400_naming_the_input(server):
    cases = [
        # element count differs from the shape (JSON and binary)
        ({"inputs": [{"name": "words", "shape": [2, 2], "datatype": "BYTES", "data": ["a", "b", "c"]}]},
         "words"),
        # a numeric feed for the string input
        ({"inputs": [{"name": "words", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}]}, "words"),
        # numbers as BYTES values
        ({"inputs": [{"name": "words", "shape": [1, 2], "datatype": "BYTES", "data": [1, 2]}]}, "words"),
    ]
    for req, name in cases:
        status, body = server.json("POST", "/v2/models/words/infer", req)
        assert status == 400 and f"'{name}'" in body["error"], (req, body)
    raw = _bytes_raw([b"a", b"b", b"c"])
    h = json.dumps({"inputs": [{"name": "words", "shape": [1, 2], "datatype": "BYTES",
                                "parameters": {"binary_data_size": len(raw)}}]}).encode()
    status, _, data = server.request("POST", "/v2/models/words/infer", h + raw,
                                     {"Inference-Header-Content-Length": str(len(h))})
    assert status == 400 and b"'words'" in data
    status, body = server.json("POST", "/v1/models/words:predict", {"instances": [[1.5, 2.5]]})
    assert status == 400 and "words" in body["error"]
    # still serving
    status, _ = server.json("POST", "/v2/models/words/infer",
                            {"inputs": [{"name": "words", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}]})
    assert status == 200


def test_numeric_model_refuses_bytes(tmp_path):
    d = tmp_path / "repo"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])
    _save([helper.make_node("Identity", ["x"], ["y"])], [x], [y], d / "num" / "1" / "model.onnx")
    s = Server(["--model-repository", str(d)], tmp_path)
    try:
        status, body = s.json("POST", "/v2/models/num/infer",
                              {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "BYTES", "data": ["a", "b"]}]})
        assert status == 400 and "'x'" in body["error"] and "BYTES" in body["error"]
    finally:
        assert s.stop() == 0
