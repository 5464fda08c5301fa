"""schemathesis fuzzes every route of a running tessel-serve against the OpenAPI
document the server publishes at /v2/openapi.json: no 5xx, responses as the
document describes them, the process alive at the end and its memory flat.

Bounded: a fixed number of examples per route, a per-example deadline, a
per-request socket timeout and a wall-clock budget for the whole fuzz (about
60 s); once the budget is spent the remaining examples are generated but not
sent.
"""
import json
import time
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    negative_data_rejection, not_a_server_error, positive_data_acceptance)

# The server fixture and models of the protocol tests (tests/python is on sys.path under pytest).
from test_serve import SERVER, Server, _ident_model, _mlp_model, _two_output_model  # noqa: E402

pytestmark = pytest.mark.skipif(SERVER is None, reason="tessel-serve was not built (TESSEL_WITH_SERVE=OFF)")

MODELS = ["mlp", "two", "ident"]
BUDGET_S = 60.0          # wall clock for the whole fuzz, all routes together
MAX_EXAMPLES = 250       # per route (23 routes; routes without parameters stop after one)
DEADLINE_MS = 5000       # per example; generous: the machine is shared
REQUEST_TIMEOUT = 10     # seconds, every request
RSS_GROWTH_KB = 4 * 1024  # "memory flat": at most 4 MB more after the fuzz than after the warm-up


def _rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _warm(s, rounds=200):
    """Valid and invalid traffic on every model, so allocator pools and per-model state exist
    before the first RSS reading and the same traffic can be replayed after the fuzz."""
    for i in range(rounds):
        for m in MODELS:
            s.request("GET", f"/v2/models/{m}")
        s.request("POST", "/v2/models/mlp/infer",
                  {"inputs": [{"name": "x", "shape": [2, 16], "datatype": "FP32", "data": [0.5 * i] * 32}]})
        s.request("POST", "/v1/models/two:predict", {"instances": [[1.0, 2.0], [3.0, float(i)]]})
        s.request("POST", "/v2/models/mlp/infer", "{\"inputs\": [")
        s.request("GET", "/metrics")


@pytest.fixture(scope="module")
def fuzz_repo(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzzrepo")
    _mlp_model(d / "mlp" / "1" / "model.onnx")
    _two_output_model(d / "two" / "1" / "model.onnx")
    _ident_model(d / "ident" / "1" / "model.onnx")
    return d


@pytest.fixture(scope="module")
def fuzz_server(fuzz_repo, tmp_path_factory):
    # explicit model control so that load/unload are live routes and get fuzzed too
    args = ["--model-repository", str(fuzz_repo), "--model-control", "explicit",
            "--read-timeout-secs", "2", "--idle-timeout-secs", "5", "--max-body-bytes", str(1 << 20),
            "--log-format", "none"]
    for m in MODELS:
        args += ["--load-model", m]
    s = Server(args, tmp_path_factory.mktemp("fuzzsrv"))
    _warm(s)
    s.rss_before_kb = _rss_kb(s.proc.pid)
    s.fuzz_start = None
    s.sent = 0
    s.statuses = {}
    yield s
    assert s.stop() == 0, s.log_text()[-2000:]


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{fuzz_server.port}/v2/openapi.json",
                                           timeout=REQUEST_TIMEOUT)

    # Names that match the document's pattern are almost never real models; send a real
    # model name half of the time so the inference and metadata handlers are reached.
    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if "model" not in (path_parameters or {}):
            return st.just(path_parameters)
        real = dict(path_parameters)
        if "version" in real:
            real["version"] = "1"
        return st.sampled_from(MODELS).map(lambda m: {**real, "model": m}) | st.just(path_parameters)

    return schema


# One test per route of the document in the source tree (collection needs no server); each test
# fuzzes that route as described by the document the running server publishes.
_DOC = json.loads((Path(__file__).resolve().parents[2] / "src" / "serve" / "openapi.json").read_text())
ROUTES = [(m.upper(), p) for p, item in _DOC["paths"].items() for m in item if m != "parameters"]


def test_served_document_is_the_source_one(fuzz_server):
    status, doc = fuzz_server.json("GET", "/v2/openapi.json")
    assert status == 200 and sorted(doc["paths"]) == sorted(_DOC["paths"])


@pytest.mark.parametrize("method,path", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_fuzz_route(method, path, api_schema, fuzz_server):
    s = fuzz_server
    if s.fuzz_start is None:
        s.fuzz_start = time.monotonic()
    op = api_schema[path][method]
    # valid requests (positive) and requests that break the document (negative)
    cases = (op.as_strategy(GenerationMode.POSITIVE, hooks=api_schema.hooks)
             | op.as_strategy(GenerationMode.NEGATIVE, hooks=api_schema.hooks))
    base_url = f"http://127.0.0.1:{s.port}"

    @given(case=cases)
    @settings(max_examples=MAX_EXAMPLES, deadline=DEADLINE_MS, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)
    def fuzz(case):
        if time.monotonic() - s.fuzz_start > BUDGET_S:
            return  # budget spent: generate, do not send
        assert s.proc.poll() is None, f"tessel-serve died (exit {s.proc.returncode}): {s.log_text()[-2000:]}"
        # not_a_server_error plus schemathesis's default checks on the responses (status code,
        # content type, headers and body as documented). The two request-strictness checks are off:
        # the document cannot say which shapes a given model takes ({"inputs": []} is schema-valid
        # but a 400 for every model), and the load/unload routes ignore their optional body.
        r = case.call_and_validate(base_url=base_url, timeout=REQUEST_TIMEOUT,
                                   additional_checks=[not_a_server_error],
                                   excluded_checks=[positive_data_acceptance, negative_data_rejection])
        s.sent += 1
        s.statuses[r.status_code] = s.statuses.get(r.status_code, 0) + 1

    fuzz()


def test_alive_and_memory_flat_after_fuzz(fuzz_server):
    s = fuzz_server
    assert s.sent > 0, "the fuzz test did not run first"
    assert s.proc.poll() is None, s.log_text()[-2000:]
    assert not any(code >= 500 for code in s.statuses), s.statuses
    # the fuzz may have unloaded models: load them back, then they must serve again
    for m in MODELS:
        status, body = s.json("POST", f"/v2/repository/models/{m}/load")
        assert status == 200, (m, body)
    assert s.json("GET", "/v2/health/ready") == (200, {"ready": True})
    _warm(s)
    after = _rss_kb(s.proc.pid)
    growth = after - s.rss_before_kb
    print(f"fuzz: {s.sent} requests, statuses {dict(sorted(s.statuses.items()))}, "
          f"RSS {s.rss_before_kb} kB -> {after} kB ({growth:+d} kB)")
    assert growth < RSS_GROWTH_KB, f"RSS grew {growth} kB over the fuzz ({s.rss_before_kb} -> {after} kB)"
    status, out = s.json("POST", "/v2/models/mlp/infer",
                         {"inputs": [{"name": "x", "shape": [1, 16], "datatype": "FP32", "data": [1.0] * 16}]})
    assert status == 200 and out["outputs"][0]["shape"] == [1, 4]
