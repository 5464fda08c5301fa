"""The web UI (tessel.ui) through Flask's test client: the runs table (filter,
sort, pages, CSV), the run page (charts downsampled in SQL, smoothing, log
axis), artifacts (no path traversal), compare, the registry pages (promote and
roll back with CSRF), the auth token, the upload limit, the serving page
against the real tessel-serve binary, and try-a-model (outputs checked
against onnxruntime on the same input).

Expected numbers come from NumPy on the data the test logged, or from
onnxruntime running the same .onnx file.
"""
import csv
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import tessel as ts
import tessel.store  # noqa: F401

flask = pytest.importorskip("flask")
from tessel.ui import charts, create_app, prom, queries  # noqa: E402

TIMEOUT = 10
N_RUNS = 5
STEPS = 20


def _losses(i):
    return [1.0 / (s + 1 + i) for s in range(STEPS)]


def _export_cnn(path):
    ts.manual_seed(0)
    m = ts.nn.Sequential(ts.nn.Conv2d(3, 4, 3, padding=1), ts.nn.ReLU(), ts.nn.Flatten(), ts.nn.Linear(4 * 8 * 8, 5))
    ts.onnx.export(m, (ts.randn(2, 3, 8, 8),), str(path), input_names=["image"], output_names=["logits"],
                   dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})


def _export_mlp(path):
    ts.manual_seed(1)
    m = ts.nn.Sequential(ts.nn.Linear(16, 8), ts.nn.ReLU(), ts.nn.Linear(8, 4))
    ts.onnx.export(m, (ts.randn(2, 16),), str(path), input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    st = ts.store.open(tmp / "store")
    runs = []
    for i in range(N_RUNS):
        params = {"lr": 0.001 * (i + 1), "batch_size": 32, "model": "cnn" if i % 2 else "mlp"}
        with st.run("exp-a", name=f"r{i}", params=params) as rid:
            pts = [("loss", s, v) for s, v in enumerate(_losses(i))]
            pts += [("val_accuracy", s, 0.5 + 0.02 * s + 0.01 * i) for s in range(STEPS)]
            pts += [("system/rss_mb", s, 100.0 + s) for s in range(3)]
            st.log_metrics(rid, pts)
        runs.append(rid)
        time.sleep(0.01)  # distinct start times
    rid_fail = st.start_run("exp-b", name="broken", params={"lr": 0.5})
    st.log_metrics(rid_fail, [("loss", 0, 3.0)])
    st.end_run(rid_fail, "FAILED")
    (tmp / "notes.txt").write_text("hello artifact")
    st.log_artifact(runs[0], tmp / "notes.txt", "reports/notes.txt")
    # a long series: 10^5 points with one spike
    big = st.start_run("exp-big", name="long")
    rng = np.random.default_rng(0)
    vals = rng.normal(size=100_000)
    vals[54_321] = 100.0
    st.log_metrics(big, [("step/loss", s, float(v)) for s, v in enumerate(vals)])
    st.end_run(big)

    _export_cnn(tmp / "cnn.onnx")
    _export_mlp(tmp / "mlp.onnx")
    st.register_model("cnn", onnx=tmp / "cnn.onnx", config={"classes": ["ant", "bee", "cat", "dog", "eel"]},
                      metrics={"accuracy": 0.9}, run_id=runs[1], data=["folder:/data/pets"])
    st.register_model("cnn", onnx=tmp / "cnn.onnx", metrics={"accuracy": 0.95}, alias="champion")
    st.register_model("mlp", onnx=tmp / "mlp.onnx")
    st.record_deployment("cnn", 1, "http://127.0.0.1:9999")
    return {"store": st, "runs": runs, "failed": rid_fail, "big": big, "big_values": vals, "tmp": tmp}


@pytest.fixture()
def client(world):
    app = create_app(store=world["store"])
    app.config["TESTING"] = True
    return app.test_client()


def _csrf(client, url):
    html = client.get(url).get_data(as_text=True)
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "the page has no CSRF field"
    return m.group(1)


def _text(resp):
    return resp.get_data(as_text=True)


# ------------------------------------------------------------------ runs table

def test_table_lists_runs_with_min_max_last(client, world):
    r = client.get("/runs?experiment=exp-a")
    assert r.status_code == 200
    html = _text(r)
    assert "5 match" in html
    for i in range(N_RUNS):
        assert f">r{i}</a>" in html
    # min / max / last of loss for r2 (values logged above)
    loss = _losses(2)
    row = html[html.index(">r2</a>"):]
    row = row[:row.index("</tr>")]
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)
    assert f"{min(loss):.4g}" in cells and f"{max(loss):.4g}" in cells
    assert re.search(rf'class="num last">{re.escape(f"{loss[-1]:.4g}")}<', row)


def test_table_sort_by_metric_and_param(client):
    html = _text(client.get("/runs?experiment=exp-a&sort=metric:loss&dir=asc"))
    order = re.findall(r'class="run-link">(r\d)<', html)
    # last loss = 1/(20+i): smallest for the largest i
    assert order == ["r4", "r3", "r2", "r1", "r0"]
    html = _text(client.get("/runs?experiment=exp-a&sort=metric:loss&dir=desc"))
    assert re.findall(r'class="run-link">(r\d)<', html) == ["r0", "r1", "r2", "r3", "r4"]
    html = _text(client.get("/runs?experiment=exp-a&sort=param:lr&dir=asc"))
    assert re.findall(r'class="run-link">(r\d)<', html) == ["r0", "r1", "r2", "r3", "r4"]
    html = _text(client.get("/runs?experiment=exp-a&sort=name&dir=desc"))
    assert re.findall(r'class="run-link">(r\d)<', html) == ["r4", "r3", "r2", "r1", "r0"]


def test_table_filters(client):
    html = _text(client.get("/runs?status=FAILED"))
    assert "broken" in html and "1 match" in html
    html = _text(client.get("/runs?param=model%3Dcnn"))
    assert sorted(re.findall(r'class="run-link">(r\d)<', html)) == ["r1", "r3"]
    html = _text(client.get("/runs?param=lr%3E0.0025"))  # numeric comparison
    assert sorted(re.findall(r'class="run-link">(r\d|broken)<', html)) == ["broken", "r2", "r3", "r4"]
    html = _text(client.get("/runs?metric=val_accuracy%3E%3D0.9%2C+loss%3C0.045"))
    # last val_accuracy = 0.88 + 0.01 i >= 0.9 -> i >= 2; last loss 1/(20+i) < 0.045 -> i >= 3
    assert sorted(re.findall(r'class="run-link">(r\d)<', html)) == ["r3", "r4"]


def test_table_bad_filter_and_sort_are_400_naming_them(client):
    r = client.get("/runs?metric=loss%3Eabc")
    assert r.status_code == 400 and "loss&gt;abc" in _text(r)
    r = client.get("/runs?param=lr")
    assert r.status_code == 400 and "KEY OP VALUE" in _text(r)
    r = client.get("/runs?sort=bogus")
    assert r.status_code == 400 and "bogus" in _text(r)
    r = client.get("/runs?status=DONE")
    assert r.status_code == 400 and "DONE" in _text(r)
    r = client.get("/runs?page=0")
    assert r.status_code == 400


def test_table_pages(client):
    seen = []
    for page in (1, 2, 3):
        html = _text(client.get(f"/runs?experiment=exp-a&per_page=2&page={page}&sort=name&dir=asc"))
        assert f"page {page} of 3" in html
        seen += re.findall(r'class="run-link">(r\d)<', html)
    assert seen == ["r0", "r1", "r2", "r3", "r4"]


def test_csv_export_matches_the_store(client, world):
    r = client.get("/runs.csv?experiment=exp-a&sort=name&dir=asc")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(_text(r))))
    assert [row["name"] for row in rows] == [f"r{i}" for i in range(N_RUNS)]
    for i, row in enumerate(rows):
        loss = _losses(i)
        assert float(row["metric.loss.min"]) == pytest.approx(min(loss), rel=1e-12)
        assert float(row["metric.loss.max"]) == pytest.approx(max(loss), rel=1e-12)
        assert float(row["metric.loss.last"]) == pytest.approx(loss[-1], rel=1e-12)
        assert float(row["param.lr"]) == pytest.approx(0.001 * (i + 1))
        assert row["status"] == "FINISHED" and row["run_id"] == world["runs"][i]


# ------------------------------------------------------------------ run page, charts

def test_run_page(client, world):
    rid = world["runs"][0]
    html = _text(client.get(f"/runs/{rid[:10]}"))  # a unique prefix works
    assert rid in html and "batch_size" in html and "reports/notes.txt" in html
    assert html.count("<svg") == 3  # loss, val_accuracy, system/rss_mb
    assert 'id="system"' in html and 'data-key="system/rss_mb"' in html
    r = client.get(f"/runs/{rid}/artifacts/reports/notes.txt")
    assert r.status_code == 200 and r.data == b"hello artifact"
    assert "attachment" in r.headers["Content-Disposition"]
    # never inline, not even when asked (an HTML artifact would run in the UI's origin)
    assert "attachment" in client.get(f"/runs/{rid}/artifacts/reports/notes.txt?view=1").headers["Content-Disposition"]


def test_run_page_unknown_and_bad_options(client, world):
    assert client.get("/runs/ffffffffffff").status_code == 404
    rid = world["runs"][0]
    assert client.get(f"/runs/{rid}?smooth=2").status_code == 400
    assert client.get(f"/runs/{rid}?points=3").status_code == 400


def test_artifact_traversal_is_refused(client, world, tmp_path):
    rid = world["runs"][0]
    for bad in ("..%2F..%2Ftessel.db", "%2E%2E/%2E%2E/tessel.db", "reports/..%2F..%2F..%2Ftessel.db",
                "%2Fetc%2Fpasswd"):
        r = client.get(f"/runs/{rid}/artifacts/{bad}", follow_redirects=True)  # '//' is merged by a redirect
        assert r.status_code in (400, 404), bad
        assert b"SQLite" not in r.data and b"root:" not in r.data
    r = client.get(f"/runs/{rid}/artifacts/..%2F..%2Ftessel.db")
    assert r.status_code == 400 and "leaves the run" in _text(r)
    assert client.get(f"/runs/{rid}/artifacts/reports/missing.txt").status_code == 404
    # a link inside the run folder pointing out of it is refused even when recorded
    st = world["store"]
    link_dir = Path(st.artifact_root) / "artifacts" / rid / "reports"
    os.symlink(Path(st.artifact_root) / "tessel.db", link_dir / "db-link")
    try:
        r = client.get(f"/runs/{rid}/artifacts/reports/db-link")
        assert r.status_code == 400 and "outside" in _text(r)
    finally:
        os.unlink(link_dir / "db-link")


def test_series_downsampled_in_sql_keeps_spikes(world):
    st, vals = world["store"], world["big_values"]
    s = queries.series(st, world["big"], "step/loss", buckets=500)
    assert s.bucketed and s.total == 100_000
    assert len(s.x) <= 500
    assert max(s.hi) == 100.0 and min(s.lo) == pytest.approx(vals.min())
    assert sum(s.n) == 100_000
    # the bucket means average back to the series mean
    assert np.average(s.y, weights=s.n) == pytest.approx(vals.mean(), rel=1e-9)
    small = queries.series(st, world["runs"][0], "loss", buckets=500)
    assert not small.bucketed and small.y == pytest.approx(_losses(0))


def test_long_run_page_draws_buckets(client, world):
    html = _text(client.get(f"/runs/{world['big']}?points=200"))
    assert "100000 points, drawn as 200 buckets" in html
    poly = re.search(r'<polyline points="([^"]+)"[^>]*class="series"', html).group(1)
    assert len(poly.split()) <= 200
    assert "<polygon" in html  # the min-max band


def test_smoothing_is_a_debiased_ema():
    s = queries.Series("k", 4, False)
    ys = [1.0, 3.0, 2.0, 6.0]
    s.x, s.y, s.lo, s.hi, s.n = [0, 1, 2, 3], ys, ys, ys, [1] * 4
    w = 0.6
    expect, last = [], 0.0
    for i, y in enumerate(ys):
        last = w * last + (1 - w) * y
        expect.append(last / (1 - w ** (i + 1)))
    assert charts.smooth(s, w) == pytest.approx(expect)
    assert charts.smooth(s, 0) == ys
    # a bucket of n equal points smooths like those n points
    b = queries.Series("k", 6, True)
    b.x, b.y, b.lo, b.hi, b.n = [0, 1], [2.0, 5.0], [2.0, 5.0], [2.0, 5.0], [3, 3]
    raw = queries.Series("k", 6, False)
    raw.y, raw.n = [2.0] * 3 + [5.0] * 3, [1] * 6
    assert charts.smooth(b, w)[-1] == pytest.approx(charts.smooth(raw, w)[-1])
    with pytest.raises(ValueError):
        charts.smooth(s, 1.5)


def test_log_axis_drops_non_positive_points(client, world):
    html = _text(client.get(f"/runs/{world['big']}?log=1"))
    assert "not shown (log axis)" in html  # normal noise has negative values
    s = queries.Series("k", 3, False)
    s.x, s.y, s.lo, s.hi, s.n = [0, 1, 2], [1.0, 10.0, 100.0], [1.0, 10.0, 100.0], [1.0, 10.0, 100.0], [1, 1, 1]
    svg = str(charts.chart([s], "k", log_y=True))
    ys = [float(p.split(",")[1]) for p in re.search(r'<polyline points="([^"]+)"', svg).group(1).split()]
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.2)  # equal steps per decade


def test_chart_handles_nan_and_empty():
    s = queries.Series("k", 3, False)
    s.x, s.y, s.lo, s.hi, s.n = [0, 1, 2], [1.0, math.nan, 2.0], [1.0, math.nan, 2.0], [1.0, math.nan, 2.0], [1] * 3
    assert str(charts.chart([s], "k")).count(",") == 2
    e = queries.Series("k", 0, False)
    assert "no points" in str(charts.chart([e], "k"))


def test_compare_shows_only_differing_params(client, world):
    a, b = world["runs"][0], world["runs"][2]
    html = _text(client.get(f"/compare?run={a}&run={b}"))
    table = html[html.index('id="compare-params"'):]
    table = table[:table.index("</table>")]
    assert ">lr<" in table and "batch_size" not in table and ">model<" not in table  # r0, r2 are both mlp
    assert "that differ (1 of 3)" in html
    html_all = _text(client.get(f"/compare?run={a}&run={b}&all_params=1"))
    assert "batch_size" in html_all[html_all.index('id="compare-params"'):]
    chart = html[html.index('data-key="loss"'):]
    chart = chart[:chart.index("</svg>")]
    assert chart.count('class="series"') == 2 and ">r0<" in chart and ">r2<" in chart
    assert client.get(f"/compare?run={a}").status_code == 400


# ------------------------------------------------------------------ models

def test_models_pages(client):
    html = _text(client.get("/models"))
    assert "cnn" in html and "mlp" in html and "champion → v2" in html
    html = _text(client.get("/models/cnn"))
    assert "v1" in html and "v2" in html and 'id="alias-champion">v2<' in html
    html = _text(client.get("/models/cnn/versions/1"))
    assert "folder:/data/pets" in html and "http://127.0.0.1:9999" in html
    assert "image" in html and "[-1, 3, 8, 8]" in html and "accuracy" in html
    assert client.get("/models/nope").status_code == 404
    assert client.get("/models/cnn/versions/7").status_code == 404


def test_promote_and_rollback_need_csrf(client, world):
    st = world["store"]
    st.register_model("promo", onnx=world["tmp"] / "mlp.onnx")
    st.register_model("promo", onnx=world["tmp"] / "mlp.onnx")
    r = client.post("/models/promo/alias", data={"alias": "staging", "version": "1"})
    assert r.status_code == 400 and "CSRF" in _text(r)
    assert st.get_aliases("promo") == {}
    r = client.post("/models/promo/alias", data={"alias": "staging", "version": "1", "csrf_token": "forged"})
    assert r.status_code == 400 and st.get_aliases("promo") == {}
    tok = _csrf(client, "/models/promo")
    r = client.post("/models/promo/alias", data={"alias": "staging", "version": "1", "csrf_token": tok})
    assert r.status_code == 302 and st.get_aliases("promo") == {"staging": 1}
    client.post("/models/promo/alias", data={"alias": "staging", "version": "2", "csrf_token": tok})
    assert st.get_aliases("promo") == {"staging": 2}
    html = _text(client.get("/models/promo"))
    assert "set v1, set v2" in html
    r = client.post("/models/promo/alias/staging/rollback", data={"csrf_token": tok}, follow_redirects=True)
    assert "rolled back to version 1" in _text(r) and st.get_aliases("promo") == {"staging": 1}
    r = client.post("/models/promo/alias/staging/rollback", data={"csrf_token": tok})
    assert r.status_code == 400 and "no earlier version" in _text(r)
    r = client.post("/models/promo/alias", data={"alias": "bad alias!", "version": "1", "csrf_token": tok})
    assert r.status_code == 400 and "not valid" in _text(r)


# ------------------------------------------------------------------ auth, limits, headers

def test_token_login_and_header(world):
    app = create_app(store=world["store"], token="s3cret")
    c = app.test_client()
    r = c.get("/runs?experiment=exp-a")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    tok = _csrf(c, "/login")
    r = c.post("/login", data={"token": "wrong", "csrf_token": tok, "next": "/models"})
    assert r.status_code == 401 and "Wrong token" in _text(r)
    r = c.post("/login", data={"token": "s3cret", "next": "/models"})  # no CSRF token
    assert r.status_code == 400
    r = c.post("/login", data={"token": "s3cret", "csrf_token": tok, "next": "//evil.example/x"})
    assert r.status_code == 302 and r.headers["Location"] == "/"  # never another host
    assert c.get("/models").status_code == 200
    c2 = app.test_client()
    assert c2.get("/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c2.get("/models", headers={"X-Tessel-Token": "s3cret"}).status_code == 200
    assert c2.get("/models", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c2.post("/models/cnn/alias", data={"alias": "x", "version": "1"}).status_code == 401


def test_security_headers_and_cookie(client):
    r = client.get("/runs")
    assert r.headers["X-Frame-Options"] == "DENY"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp  # no inline script
    assert "<script>" not in _text(r) and " oninput=" not in _text(r)
    assert client.get("/static/tessel-ui.js").status_code == 200
    _csrf(client, "/models/cnn")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_upload_limit_is_a_413_page(world):
    app = create_app(store=world["store"], max_upload=1000)
    c = app.test_client()
    tok = _csrf(c, "/try/cnn/1")
    r = c.post("/try/cnn/1", data={"csrf_token": tok, "file:image": (io.BytesIO(b"x" * 5000), "big.png")},
               content_type="multipart/form-data")
    assert r.status_code == 413 and "larger than this UI accepts (1000 B)" in _text(r)


def test_create_app_checks_arguments(world):
    with pytest.raises(ValueError, match="serve_url"):
        create_app(store=world["store"], serve_url="localhost:8000")
    with pytest.raises(ValueError, match="max_upload"):
        create_app(store=world["store"], max_upload=0)
    with pytest.raises(ValueError, match="token"):
        create_app(store=world["store"], token="")


# ------------------------------------------------------------------ prometheus parsing

def test_prometheus_parse_and_quantile():
    text = ('# HELP x y\n# TYPE tessel_inference_requests_total counter\n'
            'tessel_inference_requests_total{model="m",version="1",status="200"} 90\n'
            'tessel_inference_requests_total{model="m",version="1",status="400"} 10\n'
            'tessel_inference_request_duration_seconds_bucket{model="m",version="1",le="0.01"} 50\n'
            'tessel_inference_request_duration_seconds_bucket{model="m",version="1",le="0.1"} 100\n'
            'tessel_inference_request_duration_seconds_bucket{model="m",version="1",le="+Inf"} 100\n'
            'tessel_inference_request_duration_seconds_sum{model="m",version="1"} 2.5\n'
            'tessel_inference_request_duration_seconds_count{model="m",version="1"} 100\n'
            'tessel_inference_queue_depth{model="m",version="1"} 3\n'
            'odd_label{a="x\\"y"} 1\n')
    parsed = prom.parse(text)
    assert parsed["odd_label"][0][0] == {"a": 'x"y'}
    m = prom.per_model(parsed)[("m", "1")]
    assert m["requests"] == 100 and m["errors"] == 10 and m["queue_depth"] == 3
    b = sorted(m["latency"].items())
    # rank 50 ends the first bucket; rank 99 is 49/50 of the way through (0.01, 0.1]
    assert prom.quantile(0.5, b) == pytest.approx(0.01)
    assert prom.quantile(0.99, b) == pytest.approx(0.01 + 0.09 * 49 / 50)
    assert prom.quantile(0.5, []) is None
    assert prom.quantile(0.99, [(0.1, 1), (math.inf, 10)]) == 0.1  # in +Inf: the highest finite bound


# ------------------------------------------------------------------ serving (real tessel-serve)

def _server_binary():
    from tessel.cli.serve import find_server
    try:
        return find_server()
    except FileNotFoundError:
        return None


SERVER = _server_binary()
needs_server = pytest.mark.skipif(SERVER is None, reason="tessel-serve was not built (TESSEL_WITH_SERVE=OFF)")


@pytest.fixture(scope="module")
def served(world):
    tmp = world["tmp"]
    port_file = tmp / "serve.port"
    log = open(tmp / "serve.log", "w+")
    proc = subprocess.Popen([SERVER, "--http-port", "0", "--port-file", str(port_file), "--threads", "2",
                             "--model-repository", world["store"].registry_root], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"tessel-serve did not start: {log.read()}")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{int(port_file.read_text())}"
    # wait until the models are READY
    while time.monotonic() < deadline:
        req = urllib.request.Request(url + "/v2/repository/index", data=b"{}", method="POST")
        idx = json.loads(urllib.request.urlopen(req, timeout=TIMEOUT).read())
        if sum(m.get("state") == "READY" for m in idx) >= 3:
            break
        time.sleep(0.05)
    yield url
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _infer(url, model, version, x):
    body = json.dumps({"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32",
                                   "data": x.reshape(-1).tolist()}]}).encode()
    req = urllib.request.Request(f"{url}/v2/models/{model}/versions/{version}/infer", data=body,
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=TIMEOUT).read())


@needs_server
def test_serving_page_reads_the_real_server(world, served):
    app = create_app(store=world["store"], serve_url=served)
    c = app.test_client()
    for _ in range(7):
        _infer(served, "mlp", 1, np.ones((1, 16), np.float32))
    bad = urllib.request.Request(f"{served}/v2/models/mlp/versions/1/infer", data=b'{"inputs": 3}')
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(bad, timeout=TIMEOUT)
    html = _text(c.get("/serving"))
    idx = html[html.index('id="serve-index"'):]
    assert "mlp" in idx and "READY" in idx and "cnn" in idx
    table = html[html.index('id="serve-metrics"'):]
    row = table[table.index("<td>mlp</td>"):]
    row = row[:row.index("</tr>")]
    assert '<td class="num requests">8</td>' in row  # 7 good + 1 bad
    assert re.search(r'class="num errors">1 <span class="muted">400: 1', row)
    assert " ms</td>" in row  # p50/p99 from the histogram
    assert "— (reload)" in row  # no rate before a second look
    for _ in range(5):
        _infer(served, "mlp", 1, np.ones((2, 16), np.float32))
    time.sleep(0.05)
    html = _text(c.get("/serving"))
    row = html[html.index('id="serve-metrics"'):]
    row = row[row.index("<td>mlp</td>"):]
    row = row[:row.index("</tr>")]
    assert '<td class="num requests">13</td>' in row and "— (reload)" not in row
    sect = html[html.index('id="batch-sizes"'):]
    sect = sect[sect.index("<td>mlp</td>"):sect.index("</tr>", sect.index("<td>mlp</td>"))]
    # one execution per request here (no config.pbtxt: max_batch_size 0, so no merging)
    assert sum(int(n) for n in re.findall(r'class="pill">[^:]+: (\d+)<', sect)) == 12


def test_serving_page_without_or_with_a_dead_server(world):
    c = create_app(store=world["store"]).test_client()
    assert "No model server configured" in _text(c.get("/serving"))
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = create_app(store=world["store"], serve_url=f"http://127.0.0.1:{port}").test_client()
    html = _text(c.get("/serving"))
    assert f"cannot reach tessel-serve at http://127.0.0.1:{port}" in html


# ------------------------------------------------------------------ try a model

def _png(arr):
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _ort(path, name, x):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {name: x})[0]


def _try(client, url, data):
    tok = _csrf(client, url)
    return client.post(url, data=dict(data, csrf_token=tok), content_type="multipart/form-data")


def test_try_form_is_generated_from_the_inputs(client):
    html = _text(client.get("/try/cnn/1"))
    assert 'name="file:image"' in html and "resized to 8×8" in html and 'data-kind="image"' in html
    html = _text(client.get("/try/mlp/1"))
    assert 'name="text:x"' in html and "16 numbers" in html
    html = _text(client.get("/try"))
    assert "/try/cnn/2" in html and "/try/cnn/champion" in html


def test_try_image_matches_onnxruntime(client, world):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)  # already 8x8: no resampling involved
    r = _try(client, "/try/cnn/1", {"file:image": (io.BytesIO(_png(img)), "pic.png")})
    html = _text(r)
    assert r.status_code == 200, html
    x = (img.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    logits = _ort(world["tmp"] / "cnn.onnx", "image", x)[0]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    best = int(np.argmax(p))
    labels = re.findall(r'<td class="label">([^<]+)</td><td class="num">([0-9.]+)</td>', html)
    assert labels[0][0] == ["ant", "bee", "cat", "dog", "eel"][best]
    assert float(labels[0][1]) == pytest.approx(p[best], abs=1e-4)
    assert "Latency:" in html and "this process (ts.onnx)" in html
    import html as html_mod
    shown = html_mod.unescape(re.search(r'id="request-json">(.*?)</pre>', html, re.S).group(1))
    rid = re.search(r'/try/request/([^".]+)\.json', html).group(1)
    full = json.loads(client.get(f"/try/request/{rid}.json").data)
    assert json.loads(shown) == full  # a small input is shown whole: the exact request
    assert full["inputs"][0]["shape"] == [1, 3, 8, 8] and full["inputs"][0]["datatype"] == "FP32"
    np.testing.assert_allclose(np.asarray(full["inputs"][0]["data"], np.float32).reshape(1, 3, 8, 8), x, atol=1e-7)


def test_try_image_is_resized(client):
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    html = _text(_try(client, "/try/cnn/champion", {"file:image": (io.BytesIO(_png(img)), "big.png")}))
    assert "image [1, 3, 8, 8]" in html and 'class="top-class"' in html


def test_try_text_and_audio_without_preprocessing(client):
    r = _try(client, "/try/cnn/1", {"file:image": (io.BytesIO(b"a cat on a mat"), "note.txt")})
    assert r.status_code == 400 and "this model has no text preprocessing recorded" in _text(r)
    r = _try(client, "/try/cnn/1", {"file:image": (io.BytesIO(b"RIFF...."), "clip.wav")})
    assert r.status_code == 400 and "no audio preprocessing recorded" in _text(r)
    r = _try(client, "/try/cnn/1", {"file:image": (io.BytesIO(b"not an image"), "x.png")})
    assert r.status_code == 400 and "not an image tessel can decode" in _text(r)
    r = _try(client, "/try/mlp/1", {"text:x": "1 2 3"})
    assert r.status_code == 400 and "takes 16 numbers" in _text(r)


def test_try_numbers_matches_onnxruntime(client, world):
    x = np.linspace(-1, 1, 16, dtype=np.float32)[None]
    html = _text(_try(client, "/try/mlp/1", {"text:x": ", ".join(repr(float(v)) for v in x[0])}))
    y = _ort(world["tmp"] / "mlp.onnx", "x", x)[0]
    scores = [float(s) for s in re.findall(r'<td class="num">[0-9.]+</td><td class="num">([-0-9.e]+)</td>', html)]
    assert scores[0] == pytest.approx(float(y.max()), rel=1e-3, abs=1e-4)


@needs_server
def test_try_through_the_server(world, served):
    c = create_app(store=world["store"], serve_url=served).test_client()
    html = _text(c.get("/try/mlp/1"))
    assert 'id="where"' in html
    x = np.linspace(-1, 1, 16, dtype=np.float32)[None]
    html = _text(_try(c, "/try/mlp/1", {"text:x": " ".join(repr(float(v)) for v in x[0]), "where": "server"}))
    assert f"tessel-serve at {served}" in html
    y = _ort(world["tmp"] / "mlp.onnx", "x", x)[0]
    scores = [float(s) for s in re.findall(r'<td class="num">[0-9.]+</td><td class="num">([-0-9.e]+)</td>', html)]
    assert scores[0] == pytest.approx(float(y.max()), rel=1e-3, abs=1e-4)


# ------------------------------------------------------------------ the command

def test_tessel_ui_command_serves(world, tmp_path):
    port_file = tmp_path / "port"
    env = dict(os.environ, TESSEL_STORE=str(Path(world["store"].artifact_root)))
    proc = subprocess.Popen([sys.executable, "-m", "tessel", "ui", "--port", "0", "--port-file", str(port_file)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        port = int(port_file.read_text())
        html = urllib.request.urlopen(f"http://127.0.0.1:{port}/runs", timeout=TIMEOUT).read().decode()
        assert "r0" in html and "exp-a" in html
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
    err = proc.stderr.read().decode()
    assert "tessel ui on http://127.0.0.1:" in err


def test_tessel_ui_command_usage_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tessel", "--store", str(tmp_path / "s"), "ui", "--serve-url", "nope"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "serve_url must start with http://" in r.stderr
    r = subprocess.run([sys.executable, "-m", "tessel", "--store", str(tmp_path / "s"), "ui", "--max-upload", "lots"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a size" in r.stderr


def test_long_request_is_cut_with_a_note():
    from tessel.ui import try_model
    req = {"inputs": [{"name": "x", "shape": [1, 5000], "datatype": "FP32", "data": [0.5] * 5000}]}
    text = try_model.shown_json(req)
    assert "x: 4096 of 5000 values shown" in text and text.count("0.5") == 4096
    small = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}]}
    assert json.loads(try_model.shown_json(small)) == small


def test_table_leaves_per_step_series_out_unless_asked(client, world):
    html = _text(client.get("/runs?experiment=exp-big"))
    assert "step/loss" not in html[html.index('id="runs-table"'):]
    html = _text(client.get("/runs?experiment=exp-big&step_metrics=1"))
    table = html[html.index('id="runs-table"'):]
    assert "step/loss" in table and f"{100.0:.4g}" in table  # the spike is the max
    st = world["store"]
    ids = [r.id for r in st.search_runs(limit=None)]
    full = queries.summaries(st, ids)
    assert full == {r: s for r, s in st.metric_summary(ids).items()}
    cut = queries.summaries(st, ids, per_step=False)
    for r in ids:
        want = {k: v for k, v in full[r].items() if not k.startswith("step/")}
        assert cut[r].keys() == want.keys()
        for k in want:
            assert cut[r][k] == pytest.approx(want[k], nan_ok=True)


# ------------------------------------------------------------------ try a model trained by `tessel train`

def _write_reviews(path, n=40):
    rng = np.random.default_rng(2)
    pos, neg = ["great", "wonderful", "loved", "excellent", "happy"], ["awful", "terrible", "hated", "boring", "sad"]
    rows = ["text,label"]
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(pos if label == "pos" else neg, 3)) + list(rng.choice(["the", "movie", "was"], 3))
        rng.shuffle(words)
        rows.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A text classifier and an image classifier trained and registered by tessel.train (signature.json
    records their preprocessing)."""
    train = pytest.importorskip("tessel.train")
    from PIL import Image
    tmp = tmp_path_factory.mktemp("uitrain")
    store_dir = tmp / "store"
    base = {"experiment": {"name": "t", "store": str(store_dir)}, "train": {"epochs": 12, "batch_size": 16,
                                                                              "verbose": False}}
    cfg = dict(base, data={"path": str(_write_reviews(tmp / "reviews.csv")), "tokenizer": {"max_length": 12}},
               model={"name": "text_bag", "dim": 16}, optimizer={"lr": 0.01},
               output={"dir": str(tmp / "text-out"), "register": "reviews"})
    train.run(cfg)
    rng = np.random.default_rng(0)
    for c, level in (("dark", 40), ("bright", 210)):
        (tmp / "imgs" / c).mkdir(parents=True)
        for i in range(12):
            a = np.clip(level + rng.normal(0, 20, (12, 14, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(tmp / "imgs" / c / f"{i}.png")
    cfg = dict(base, data={"path": str(tmp / "imgs"), "image": {"size": [12, 12]}},
               model={"name": "cnn", "channels": [8]}, optimizer={"lr": 0.01},
               train=dict(base["train"], epochs=6), output={"dir": str(tmp / "img-out"), "register": "brightness"})
    train.run(cfg)
    import soundfile as sf
    for c, f0 in (("low", 300.0), ("high", 2500.0)):
        (tmp / "wavs" / c).mkdir(parents=True)
        for i in range(10):
            t = np.arange(4000) / 8000
            w = 0.5 * np.sin(2 * np.pi * (f0 + rng.normal(0, 20)) * t) + rng.normal(0, 0.01, t.shape)
            sf.write(str(tmp / "wavs" / c / f"{i}.wav"), w.astype(np.float32), 8000)
    cfg = dict(base, data={"path": str(tmp / "wavs"), "audio": {"sample_rate": 8000, "duration": 0.5, "n_mels": 20,
                                                               "n_fft": 256, "hop_length": 128}},
               model={"name": "audio_cnn", "channels": [8]}, optimizer={"lr": 0.01},
               train=dict(base["train"], epochs=6, batch_size=8), output={"dir": str(tmp / "wav-out"),
                                                                          "register": "tones"})
    train.run(cfg)
    st = ts.store.open(store_dir)
    return {"store": st, "tmp": tmp}


def test_try_text_with_recorded_preprocessing(trained):
    from tessel.train import Predictor
    c = create_app(store=trained["store"]).test_client()
    html = _text(c.get("/try/reviews/1"))
    assert "records its preprocessing (text, classification: neg, pos)" in html and 'name="text"' in html
    r = _try(c, "/try/reviews/1", {"text": "great happy loved"})
    html = _text(r)
    assert r.status_code == 200, html
    labels = re.findall(r'<td class="label">([^<]+)</td><td class="num">([0-9.]+)</td>', html)
    p = Predictor.load(trained["store"].get_model_version("reviews", 1)["folder"])
    want = p.predict(["great happy loved"])[0]
    assert labels[0][0] == want["label"] == "pos"
    assert float(labels[0][1]) == pytest.approx(want["probabilities"]["pos"], abs=1e-4)
    # the request carries the token ids the recorded tokenizer made
    rid = re.search(r'/try/request/([^".]+)\.json', html).group(1)
    full = json.loads(c.get(f"/try/request/{rid}.json").data)
    ids = np.asarray(p.preprocess(["great happy loved"]).numpy())
    assert full["inputs"][0]["datatype"] == "INT64" and full["inputs"][0]["data"] == ids.reshape(-1).tolist()
    # a .txt upload works the same
    r = _try(c, "/try/reviews/1", {"file": (io.BytesIO(b"awful sad hated"), "review.txt")})
    assert re.findall(r'<td class="label">([^<]+)</td>', _text(r))[0] == "neg"
    r = _try(c, "/try/reviews/1", {})
    assert r.status_code == 400 and "give a text" in _text(r)


def test_try_image_with_recorded_preprocessing(trained):
    c = create_app(store=trained["store"]).test_client()
    html = _text(c.get("/try/brightness/1"))
    assert "records its preprocessing (image" in html and 'accept="image/*"' in html
    bright = np.full((20, 20, 3), 220, np.uint8)
    r = _try(c, "/try/brightness/1", {"file": (io.BytesIO(_png(bright)), "b.png")})
    html = _text(r)
    assert r.status_code == 200, html
    assert re.findall(r'<td class="label">([^<]+)</td>', html)[0] == "bright"
    assert "image [1, 3, 12, 12]" in html or "[1, 3, 12, 12]" in html
    r = _try(c, "/try/brightness/1", {"file": (io.BytesIO(b"not a picture"), "x.png")})
    assert r.status_code == 400 and "cannot be made into this model" in _text(r) and "not JPEG, PNG" in _text(r)


def test_summary_from_the_series_equals_the_store(world):
    st = world["store"]
    for rid in world["runs"][:2] + [world["big"], world["failed"]]:
        want = st.metric_summary([rid])[rid]
        for k in st.metric_keys(rid):
            got = queries.summary_of(st, rid, queries.series(st, rid, k, buckets=100))
            assert got == pytest.approx(want[k], nan_ok=True), (rid, k)


def test_downsampling_paths_agree(world, monkeypatch):
    """The sqlite3 fast path and the SQLAlchemy path (other databases) give the same buckets."""
    st = world["store"]
    fast = queries.series(st, world["big"], "step/loss", buckets=300)
    monkeypatch.setattr(st._db, "is_sqlite", False)
    slow = queries.series(st, world["big"], "step/loss", buckets=300)
    assert fast.bucketed and len(fast.x) == len(slow.x) == 300
    for a in ("x", "y", "lo", "hi", "n"):
        assert getattr(fast, a) == pytest.approx(getattr(slow, a)), a


# ------------------------------------------------------------------ the same pages on PostgreSQL

from test_store import pg_server  # noqa: E402,F401  (the throwaway PostgreSQL server of the store tests)


def test_pages_on_postgresql(pg_server, tmp_path):  # noqa: F811
    st = ts.store.open(pg_server(), artifact_root=tmp_path / "artifacts")
    try:
        ids = []
        for i in range(3):
            with st.run("pg", name=f"p{i}", params={"lr": 0.01 * (i + 1), "model": "a" if i else "b"}) as rid:
                st.log_metrics(rid, [("loss", s, 1.0 / (s + 1 + i)) for s in range(5)])
                st.log_metrics(rid, [("step/loss", s, float(np.sin(s / 50.0)) + (7.0 if s == 1234 else 0.0))
                                     for s in range(3000)])
            ids.append(rid)
        c = create_app(store=st).test_client()
        html = _text(c.get("/runs?sort=metric:loss&dir=asc"))
        assert re.findall(r'class="run-link">(p\d)<', html) == ["p2", "p1", "p0"]
        html = _text(c.get("/runs?param=lr%3E0.015&metric=loss%3C0.2"))
        assert sorted(re.findall(r'class="run-link">(p\d)<', html)) == ["p1", "p2"]
        html = _text(c.get("/runs?param=model%3Db&step_metrics=1"))
        assert re.findall(r'class="run-link">(p\d)<', html) == ["p0"] and "step/loss" in html
        rows = list(csv.DictReader(io.StringIO(_text(c.get("/runs.csv?sort=name&dir=asc")))))
        assert [float(r["metric.loss.last"]) for r in rows] == pytest.approx([1 / 5, 1 / 6, 1 / 7])
        s = queries.series(st, ids[0], "step/loss", buckets=100)
        assert s.bucketed and sum(s.n) == 3000 and max(s.hi) == pytest.approx(7.0 + np.sin(1234 / 50.0))
        assert queries.summary_of(st, ids[0], s) == pytest.approx(st.metric_summary([ids[0]])[ids[0]]["step/loss"])
        html = _text(c.get(f"/runs/{ids[0]}?points=100"))
        assert "3000 points, drawn as 100 buckets" in html
        assert c.get(f"/compare?run={ids[0]}&run={ids[1]}").status_code == 200
    finally:
        st.close()


def test_try_audio_with_recorded_preprocessing(trained):
    from tessel.train import Predictor
    c = create_app(store=trained["store"]).test_client()
    html = _text(c.get("/try/tones/1"))
    assert "records its preprocessing (audio" in html and 'accept="audio/*"' in html
    clip = (trained["tmp"] / "wavs" / "high" / "3.wav").read_bytes()
    r = _try(c, "/try/tones/1", {"file": (io.BytesIO(clip), "clip.wav")})
    html = _text(r)
    assert r.status_code == 200, html
    want = Predictor.load(trained["store"].get_model_version("tones", 1)["folder"]).predict([clip])[0]
    labels = re.findall(r'<td class="label">([^<]+)</td><td class="num">([0-9.]+)</td>', html)
    assert labels[0][0] == want["label"]
    assert float(labels[0][1]) == pytest.approx(want["probabilities"][want["label"]], abs=1e-4)
    assert "[1, 1, 20," in html  # the log-mel input made by the recorded conversion


def test_locked_or_unreachable_store_is_a_clear_503(world, monkeypatch):
    from tessel.store import StoreLockedError, StoreUnavailableError
    c = create_app(store=world["store"]).test_client()

    def locked(*a, **k):
        raise StoreLockedError("the store /x/tessel.db is locked by another process (waited 30 s)")
    monkeypatch.setattr(queries, "search", locked)
    r = c.get("/runs")
    assert r.status_code == 503 and "/x/tessel.db is locked by another process" in _text(r)

    def gone(*a, **k):
        raise StoreUnavailableError("cannot reach the store postgresql+psycopg://u:***@db/x: refused")
    monkeypatch.setattr(world["store"], "list_models", gone)
    r = c.get("/models")
    assert r.status_code == 503 and "cannot reach the store" in _text(r)
    assert c.get("/favicon.ico").status_code == 204


@needs_server
def test_serving_page_with_a_server_token(world, tmp_path):
    (tmp_path / "tok").write_text("serve-secret\n")
    port_file = tmp_path / "port"
    proc = subprocess.Popen([SERVER, "--http-port", "0", "--port-file", str(port_file), "--threads", "1",
                             "--auth-token-file", str(tmp_path / "tok"), "--model-repository",
                             world["store"].registry_root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        html = _text(create_app(store=world["store"], serve_url=url).test_client().get("/serving"))
        assert "answered 401" in html and "bearer token" in html
        html = _text(create_app(store=world["store"], serve_url=url, serve_token="serve-secret")
                     .test_client().get("/serving"))
        assert 'id="serve-index"' in html and "answered 401" not in html
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
