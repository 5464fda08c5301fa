"""tessel-serve vs onnxruntime behind Flask+gunicorn vs MLServer (scikit-learn runtime), on loopback.

The server under test is pinned to one core (taskset), the load generator (wrk, Debian's `wrk`
package) to another. Every server gets the same Open Inference Protocol v2 JSON body (a POST from a
small Lua script). Per point: a warm-up, then a timed run at 1, 8, 64 and 256 connections; reported:
req/s, p50 and p99 latency (wrk --latency), errors (socket errors + non-2xx), and the server's
CPU-seconds over the timed run (utime + stime of the server and its worker processes, from /proc).
Then ResNet-18 at 64 connections with tessel-serve's dynamic batching off and on, and the model's own
batching ceiling: its per-sample time at batch 1 and 32 in this process, on one thread pinned to the
server's CPU (no server, no HTTP), which bounds what batching can gain on this CPU. With
--batching-only both servers run at once and the off/on points alternate for --rounds rounds, so that
both see the same load from other processes; the summary gives medians and the paired per-round ratios.

Flask+gunicorn and MLServer are bench-only: they run from a separate venv (--bench-venv, default
/opt/benchvenv), never .venv:
    python3 -m venv /opt/benchvenv
    /opt/benchvenv/bin/pip install flask gunicorn onnxruntime numpy mlserver mlserver-sklearn scikit-learn
A server whose venv or package is missing is skipped with the reason printed.
Everything is bounded: server start (60 s), each wrk run (duration + 15 s), the whole run.

    .venv/bin/python bench/bench_serve.py            # 3 s warm-up, 20 s per point
    .venv/bin/python bench/bench_serve.py --quick    # 3 s points
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CONNECTIONS = [1, 8, 64, 256]
START_TIMEOUT = 60

FLASK_APP = r'''
import os, numpy as np, onnxruntime as ort
from flask import Flask, request, jsonify
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
SESS = {n: ort.InferenceSession(os.path.join(os.environ["BENCH_MODELS"], n + ".onnx"), so,
                                providers=["CPUExecutionProvider"])
        for n in os.environ["BENCH_MODEL_NAMES"].split(",")}
app = Flask(__name__)

@app.get("/v2/health/ready")
def ready():
    return jsonify(ready=True)

@app.post("/v2/models/<name>/infer")
def infer(name):
    s = SESS.get(name)
    if s is None:
        return jsonify(error="unknown model"), 404
    req = request.get_json()
    feeds = {i["name"]: np.asarray(i["data"], np.float32).reshape(i["shape"]) for i in req["inputs"]}
    outs = s.run(None, feeds)
    return jsonify(model_name=name, outputs=[
        {"name": o.name, "datatype": "FP32", "shape": list(v.shape), "data": v.ravel().tolist()}
        for o, v in zip(s.get_outputs(), outs)])
'''

MLSERVER_MODEL = r'''
import sys, json, warnings, joblib, numpy as np
warnings.simplefilter("ignore")  # ConvergenceWarning: the weights only need the right shapes
from sklearn.neural_network import MLPRegressor
# Same architecture as the ONNX MLP (16 -> 32 -> relu -> 4); weights from a short fit on noise.
rng = np.random.default_rng(0)
m = MLPRegressor(hidden_layer_sizes=(32,), activation="relu", max_iter=5)
m.fit(rng.standard_normal((64, 16)), rng.standard_normal((64, 4)))
joblib.dump(m, sys.argv[1] + "/model.joblib")
json.dump({"name": "mlp", "implementation": "mlserver_sklearn.SKLearnModel",
           "parameters": {"uri": "./model.joblib"}}, open(sys.argv[1] + "/model-settings.json", "w"))
json.dump({"http_port": int(sys.argv[2]), "grpc_port": int(sys.argv[3]), "metrics_port": int(sys.argv[4]),
           "parallel_workers": 0, "debug": False, "logging_level": "WARNING"},
          open(sys.argv[1] + "/settings.json", "w"))
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(root_pid):
    """utime + stime of root_pid and all its descendants (workers), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                txt = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            f = txt[txt.rindex(")") + 2:].split()
            stats[int(d)] = (int(f[1]), int(f[11]) + int(f[12]))  # ppid, utime + stime
    keep, total, frontier = {root_pid}, 0, [root_pid]
    while frontier:
        p = frontier.pop()
        total += stats.get(p, (0, 0))[1]
        for c, (ppid, _) in stats.items():
            if ppid == p and c not in keep:
                keep.add(c)
                frontier.append(c)
    return total / tick


def rss_kb(root_pid):
    try:
        for line in open(f"/proc/{root_pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None


class Proc:
    def __init__(self, name, cmd, port, env=None, log=None):
        self.name, self.port = name, port
        self.log = open(log, "w+")
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.p.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.p.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} not ready within {START_TIMEOUT} s: {self.tail()}")
            time.sleep(0.2)

    def tail(self):
        self.log.flush()
        return Path(self.log.name).read_text()[-1500:]

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=15)
        self.log.close()


def wrk(url, body_file, conns, secs, lua_dir, cpu, headers=None, delay_ms=None):
    """One wrk run. `headers`: extra request headers; `delay_ms`: each connection waits that long between its
    requests (wrk's Lua delay()), which paces the load at about conns * 1000 / delay_ms req/s."""
    tag = Path(body_file).stem + (f"_d{delay_ms}" if delay_ms else "")
    lua = Path(lua_dir) / f"post_{tag}.lua"
    if not lua.exists():
        hdr = {"Content-Type": "application/json", **(headers or {})}
        lua.write_text('wrk.method = "POST"\n' + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in hdr.items())
                       + f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
                       + (f"function delay() return {int(delay_ms)} end\n" if delay_ms else ""))
    cmd = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--timeout", "10s",
           "--latency", "-s", str(lua), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 15).stdout
    return parse_wrk(out)


def _ms(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def parse_wrk(out):
    r = {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": 0, "requests": 0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        r["rps"] = float(m.group(1))
    for q, key in (("50", "p50_ms"), ("99", "p99_ms")):
        if m := re.search(rf"^\s+{q}(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M):
            r[key] = _ms(m.group(1), m.group(2))
    if m := re.search(r"(\d+) requests in", out):
        r["requests"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        r["errors"] += sum(int(x) for x in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        r["errors"] += int(m.group(1))
    return r


def run_points(srv, path, body, conns_list, warm, secs, tmp, load_cpu, delay_ms=None, label=""):
    """`body`: a JSON body file, or (file, headers) for a body that needs headers (binary tensors)."""
    body_file, headers = body if isinstance(body, tuple) else (body, None)
    url = f"http://127.0.0.1:{srv.port}{path}"
    rows = []
    # one request first: a body the server refuses would measure error replies, not inference
    req = urllib.request.Request(url, data=Path(body_file).read_bytes(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=30) as r:
        if r.status != 200 or "outputs" not in json.loads(r.read()):
            raise RuntimeError(f"{srv.name} {path}: status {r.status}")
    wrk(url, body_file, max(conns_list), warm, tmp, load_cpu, headers)  # warm-up
    for c in conns_list:
        cpu0 = cpu_seconds(srv.p.pid)
        r = wrk(url, body_file, c, secs, tmp, load_cpu, headers, delay_ms)
        r["server_cpu_s"] = cpu_seconds(srv.p.pid) - cpu0
        r["conns"] = c
        r["rss_kb"] = rss_kb(srv.p.pid)
        r["loadavg_1m"] = os.getloadavg()[0]
        rows.append(r)
        print(f"  {srv.name + label:<16} c={c:<4} {r['rps']:>9.0f} req/s  p50 {common.fmt(r['p50_ms'])} ms  "
              f"p99 {common.fmt(r['p99_ms'])} ms  errors {r['errors']}  server CPU {r['server_cpu_s']:.1f} s  "
              f"load {r['loadavg_1m']:.1f}", flush=True)
    return rows


def half_load(srv, path, body, peak_rps, secs, tmp, load_cpu, conns=256):
    """p99 at about half of `peak_rps`: `conns` connections, each pausing between requests so that
    together they send ~peak/2 req/s. wrk is closed-loop (rate = conns / (pause + latency)), so a 3 s
    calibration run measures the latency share of the cycle and the pause is set from it."""
    target = peak_rps / 2
    body_file, headers = body if isinstance(body, tuple) else (body, None)
    url = f"http://127.0.0.1:{srv.port}{path}"
    delay = max(1, round(conns * 1000 / target))
    cal = wrk(url, body_file, conns, 3, tmp, load_cpu, headers, delay)
    if cal["rps"] > 0:
        latency_ms = max(0.0, conns * 1000 / cal["rps"] - delay)
        delay = max(1, round(conns * 1000 / target - latency_ms))
    rows = run_points(srv, path, body, [conns], 1, secs, tmp, load_cpu, delay_ms=delay, label=f" @~{target:.0f}/s")
    rows[0]["target_rps"] = target
    return rows


def memory_run(srv, path, body, conns, secs, tmp, load_cpu):
    """RSS of the server sampled every second over a `secs` steady run (after the warm-up already done)."""
    body_file, headers = body if isinstance(body, tuple) else (body, None)
    url = f"http://127.0.0.1:{srv.port}{path}"
    samples = []
    p = subprocess.Popen(["taskset", "-c", str(load_cpu), "wrk", "-t1", f"-c{conns}", f"-d{int(secs)}s",
                          "--timeout", "10s", "--latency", "-s",
                          str(Path(tmp) / f"post_{Path(body_file).stem}.lua"), url],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    while p.poll() is None and time.monotonic() - t0 < secs + 15:
        samples.append((round(time.monotonic() - t0, 1), rss_kb(srv.p.pid)))
        time.sleep(1)
    out = p.communicate(timeout=30)[0]
    r = parse_wrk(out)
    kb = [k for _, k in samples if k]
    # growth: the last 10 s against the 10 s after the first 5 (start-up allocations settle first)
    first = kb[5:15] or kb[:1]
    last = kb[-10:] or kb[-1:]
    r.update(seconds=secs, conns=conns, rss_first_kb=kb[0] if kb else None, rss_max_kb=max(kb) if kb else None,
             rss_last_kb=kb[-1] if kb else None,
             rss_growth_kb=(sum(last) / len(last) - sum(first) / len(first)) if kb else None,
             loadavg_1m=os.getloadavg()[0], samples=samples)
    print(f"  memory: {secs:.0f} s at c={conns}: {r['rps']:.0f} req/s, errors {r['errors']}, RSS {r['rss_first_kb']} -> "
          f"{r['rss_last_kb']} kB (max {r['rss_max_kb']}), growth {r['rss_growth_kb']:.0f} kB "
          f"(mean of the last 10 s - mean of s 5-15)  load {r['loadavg_1m']:.1f}", flush=True)
    return r


def batch_counts(port, model):
    """(executions, rows inferred) of `model` from tessel-serve's /metrics."""
    txt = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    vals = {}
    for name in ("tessel_inference_executions_total", "tessel_inference_count_total"):
        m = re.search(rf'^{name}{{model="{model}",version="1"}} ([\d.e+]+)$', txt, re.M)
        vals[name] = float(m.group(1)) if m else 0.0
    return vals["tessel_inference_executions_total"], vals["tessel_inference_count_total"]


def model_ceiling(path, cpu, batches=(1, 32), rounds=7, target_s=0.1):
    """Per-sample CPU ms of the ONNX model at each batch size, in this process on one thread pinned to `cpu`
    (where the server runs), tessel and onnxruntime (when importable) interleaved, medians of `rounds`. The ratio
    batch-1 / batch-N bounds what dynamic batching can gain on the model's compute, before any server cost."""
    import numpy as np
    import tessel as ts
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    old_aff, old_threads = os.sched_getaffinity(0), ts.get_num_threads()
    os.sched_setaffinity(0, {cpu})
    ts.set_num_threads(1)
    try:
        runners = {"tessel": ts.onnx.load(str(path))}
        if ort is not None:
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
            runners["onnxruntime"] = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        calls = {}
        for b in batches:
            x = rng.standard_normal((b, 3, 64, 64)).astype(np.float32)
            tx = {"input": ts.tensor(x)}
            for name, r in runners.items():
                calls[(name, b)] = (lambda r=r, tx=tx: r.run(tx)) if name == "tessel" else \
                    (lambda r=r, x=x: r.run(None, {"input": x}))
        number = {}
        for k, f in calls.items():
            f()
            t0 = time.process_time()
            f()
            number[k] = max(1, int(target_s / max(time.process_time() - t0, 1e-6)))
        samples = {k: [] for k in calls}
        for _ in range(rounds):
            for k, f in calls.items():
                c0 = time.process_time()
                for _ in range(number[k]):
                    f()
                samples[k].append((time.process_time() - c0) / number[k] / k[1] * 1e3)
        out = {"cpu": cpu, "loadavg_1m": os.getloadavg()[0], "rows": []}
        for name in runners:
            per = {b: sorted(samples[(name, b)])[len(samples[(name, b)]) // 2] for b in batches}
            out["rows"].append({"runtime": name, "ms_per_sample": per, "gain": per[batches[0]] / per[batches[-1]]})
        return out
    finally:
        ts.set_num_threads(old_threads)
        os.sched_setaffinity(0, old_aff)


def print_ceiling(c):
    for r in c["rows"]:
        per = r["ms_per_sample"]
        bs = list(per)
        print(f"  model alone ({r['runtime']}, 1 thread on CPU {c['cpu']}): " +
              ", ".join(f"batch {b} {per[b]:.3f} ms/sample" for b in bs) +
              f"; batch {bs[0]} / batch {bs[-1]} = {r['gain']:.2f}x  load {c['loadavg_1m']:.1f}", flush=True)


def batching_point(srv, port, kind, body, warm, secs, tmp, load_cpu, on):
    """ResNet-18 at 64 connections, one body kind; the mean batch comes from /metrics."""
    print(f"resnet18, 64 connections, {kind} body, dynamic batching {'on' if on else 'off'}:")
    e0, n0 = batch_counts(port, "resnet18")
    rows = run_points(srv, "/v2/models/resnet18/infer", body["resnet18" if kind == "JSON" else "resnet18_bin"], [64],
                      warm, secs, tmp, load_cpu)
    e1, n1 = batch_counts(port, "resnet18")  # includes the warm-up: a mean, not this point's
    rows[0]["mean_batch"] = (n1 - n0) / (e1 - e0) if e1 > e0 else None
    print(f"  mean batch (warm-up and point) {common.fmt(rows[0]['mean_batch'])}")
    return rows


def make_models(d):
    """mlp.onnx (16 -> 32 -> relu -> 4, exported by tessel) and resnet18.onnx (the test fixture)."""
    import tessel as ts
    ts.manual_seed(0)
    m = ts.nn.Sequential(ts.nn.Linear(16, 32), ts.nn.ReLU(), ts.nn.Linear(32, 4))
    ts.onnx.export(m, (ts.randn(2, 16),), str(d / "mlp.onnx"), input_names=["x"], output_names=["y"],
                   dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    shutil.copy(ROOT / "tests" / "fixtures" / "onnx" / "resnet18.onnx", d / "resnet18.onnx")


def make_repo(d, models, batching):
    """tessel-serve repository; resnet18 with or without dynamic batching, one intra-op thread."""
    for name in ("mlp", "resnet18"):
        (d / name / "1").mkdir(parents=True)
        shutil.copy(models / f"{name}.onnx", d / name / "1" / "model.onnx")
        cfg = ['max_batch_size: 64', 'parameters { key: "intra_op_thread_count" value: { string_value: "1" } }']
        if batching and name == "resnet18":
            cfg.append("dynamic_batching { preferred_batch_size: [ 16, 32, 64 ] max_queue_delay_microseconds: 2000 }")
        (d / name / "config.pbtxt").write_text("\n".join(cfg) + "\n")


def bodies(d):
    import numpy as np
    rng = np.random.default_rng(0)
    out = {}
    for name, inp, shape in (("mlp", "x", [1, 16]), ("resnet18", "input", [1, 3, 64, 64])):
        x = rng.standard_normal(shape).astype(np.float32)
        f = d / f"{name}.json"
        f.write_text(json.dumps({"inputs": [{"name": inp, "shape": shape, "datatype": "FP32",
                                             "data": [round(float(v), 5) for v in x.ravel()]}]}))
        out[name] = f
    # the same ResNet input as binary tensor data (OIP extension; tritonclient sends tensors this way)
    x = rng.standard_normal([1, 3, 64, 64]).astype(np.float32)
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 64, 64], "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}]}).encode()
    f = d / "resnet18_bin.bin"
    f.write_bytes(header + x.tobytes())
    out["resnet18_bin"] = (f, {"Inference-Header-Content-Length": str(len(header)),
                               "Content-Type": "application/octet-stream"})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="3 s points (smoke test)")
    p.add_argument("--seconds", type=float, default=None, help="seconds per point (default 20, --quick 3)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before each series")
    p.add_argument("--connections", default=",".join(map(str, CONNECTIONS)))
    p.add_argument("--servers", default="tessel,flask,mlserver")
    p.add_argument("--bench-venv", default="/opt/benchvenv")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--load-cpu", type=int, default=1)
    p.add_argument("--json", metavar="PATH", default=None)
    p.add_argument("--batching-only", action="store_true",
                   help="only ResNet-18 at 64 connections, dynamic batching off and on (JSON and binary bodies)")
    p.add_argument("--rounds", type=int, default=3,
                   help="--batching-only: alternating off/on rounds, both servers up (default 3)")
    p.add_argument("--io-sched", choices=["normal", "batch", "both"], default="normal",
                   help="tessel-serve --io-sched (default normal: the server's default; batch: event loops under "
                        "SCHED_BATCH); both: --batching-only alternates the two as well")
    p.add_argument("--ceiling-batches", default="1,32",
                   help="batch sizes of the model-alone ceiling (per-sample time; the ratio is first / last)")
    p.add_argument("--ceiling-only", action="store_true",
                   help="only the model-alone ceiling (no server, no wrk), e.g. --ceiling-batches 1,2,4,8,16,32")
    p.add_argument("--half-load", action=argparse.BooleanOptionalAction, default=None,
                   help="p99 at about half of each server's peak MLP req/s (default: on, off with --quick)")
    p.add_argument("--memory-seconds", type=float, default=None,
                   help="tessel-serve RSS over a steady MLP run of S s at 64 connections (default 60, --quick 0)")
    a = p.parse_args()
    secs = int(a.seconds or (3 if a.quick else 20))
    warm = max(1, int(a.warmup))
    conns = [int(c) for c in a.connections.split(",")]
    servers = a.servers.split(",")
    if a.batching_only:
        servers = ["tessel"]
    half = (not a.quick) if a.half_load is None else a.half_load
    mem_secs = (0 if a.quick else 60) if a.memory_seconds is None else a.memory_seconds
    if a.batching_only:
        half, mem_secs = False, 0
    ceiling_batches = tuple(int(b) for b in a.ceiling_batches.split(","))
    if a.ceiling_only:
        import numpy as np
        import tessel as ts
        common.print_machine(common.machine_info(np=np, ts=ts))
        print(f"command : {' '.join([Path(sys.executable).name] + sys.argv)}\n")
        with tempfile.TemporaryDirectory(prefix="bench_serve_") as d:
            make_models(Path(d))
            c = model_ceiling(Path(d) / "resnet18.onnx", a.server_cpu, ceiling_batches, rounds=11)
        print("resnet18 alone:")
        print_ceiling(c)
        if a.json:
            Path(a.json).write_text(json.dumps({"ceiling": c}, indent=1))
        return
    if shutil.which("wrk") is None:
        sys.exit("bench_serve: wrk not found (Debian: apt-get install wrk)")
    import numpy as np
    import tessel as ts
    from tessel.cli.serve import find_server
    m = common.machine_info(np=np, ts=ts)
    common.print_machine(m)
    print(f"layout  : server on CPU {a.server_cpu} (one event-loop thread, one intra-op thread), "
          f"wrk -t1 on CPU {a.load_cpu}; {warm} s warm-up, {secs} s per point; connections {conns}")
    print(f"command : {' '.join([Path(sys.executable).name] + sys.argv)}\n")
    results = {"machine": m, "seconds": secs, "warmup": warm, "rows": [], "notes": []}
    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    models = tmp / "models"
    models.mkdir()
    make_models(models)
    body = bodies(tmp)
    pin = ["taskset", "-c", str(a.server_cpu)]
    venv_py = Path(a.bench_venv) / "bin" / "python"

    def record(server, model, rows, extra=""):
        for r in rows:
            results["rows"].append({"server": server, "model": model, "variant": extra, **r})

    def note(msg):
        print("  SKIP " + msg, flush=True)
        results["notes"].append(msg)

    try:
        # --- tessel-serve (dynamic batching off for the connection sweep)
        def tessel_server(batching, io_sched="normal"):
            repo = tmp / f"repo_{int(batching)}_{io_sched}"
            make_repo(repo, models, batching)
            port = free_port()
            return Proc("tessel-serve" + (" (batching)" if batching else "") + ("" if io_sched == "normal" else " io batch"),
                        pin + [find_server(), "--model-repository", str(repo), "--http-port", str(port),
                               "--threads", "1", "--log-format", "none", "--io-sched", io_sched], port,
                        log=tmp / f"tessel_{int(batching)}_{io_sched}.log")

        if "tessel" in servers:
            print("resnet18, the model's own batching ceiling:")
            results["ceiling"] = model_ceiling(models / "resnet18.onnx", a.server_cpu, ceiling_batches)
            print_ceiling(results["ceiling"])
        if "tessel" in servers and a.batching_only:
            # Both servers up; off and on alternate so that both see the same load from other processes.
            scheds = ["normal", "batch"] if a.io_sched == "both" else [a.io_sched]
            setups = [(batching, io) for io in scheds for batching in (False, True)]
            srvs = []
            try:
                for batching, io in setups:
                    srvs.append(tessel_server(batching, io))
                for rnd in range(max(1, a.rounds)):
                    print(f"round {rnd + 1} of {max(1, a.rounds)}")
                    for kind in ("JSON", "binary"):
                        for (batching, io), srv in zip(setups, srvs):
                            rows = batching_point(srv, srv.port, kind, body, warm, secs, tmp, a.load_cpu, batching)
                            rows[0]["round"] = rnd
                            record("tessel-serve", "resnet18", rows, f"batching {'on' if batching else 'off'}, {kind}"
                                   + ("" if io == "normal" else ", io batch"))
            finally:
                for srv in srvs:
                    srv.stop()
        elif "tessel" in servers:
            for batching in (False, True):
                srv = tessel_server(batching, "normal" if a.io_sched == "both" else a.io_sched)
                port = srv.port
                try:
                    if not batching and not a.batching_only:
                        for model in ("mlp", "resnet18"):
                            print(f"{model}:")
                            rows = run_points(srv, f"/v2/models/{model}/infer", body[model], conns, warm, secs, tmp,
                                              a.load_cpu)
                            record("tessel-serve", model, rows)
                            if half:
                                peak = max(r["rps"] for r in rows)
                                record("tessel-serve", model, half_load(srv, f"/v2/models/{model}/infer", body[model],
                                                                        peak, secs, tmp, a.load_cpu), "half load")
                        if mem_secs > 0:
                            results["memory"] = memory_run(srv, "/v2/models/mlp/infer", body["mlp"], 64, mem_secs,
                                                           tmp, a.load_cpu)
                    for kind in ("JSON", "binary"):
                        rows = batching_point(srv, port, kind, body, warm, secs, tmp, a.load_cpu, batching)
                        record("tessel-serve", "resnet18", rows, f"batching {'on' if batching else 'off'}, {kind}")
                finally:
                    srv.stop()
        # --- onnxruntime behind Flask + gunicorn
        if "flask" in servers:
            if not venv_py.exists() or subprocess.run([venv_py, "-c", "import flask, gunicorn, onnxruntime"],
                                                      capture_output=True).returncode:
                note(f"flask+gunicorn: {venv_py} lacks flask/gunicorn/onnxruntime")
            else:
                (tmp / "flask_app.py").write_text(FLASK_APP)
                port = free_port()
                env = dict(os.environ, BENCH_MODELS=str(models), BENCH_MODEL_NAMES="mlp,resnet18",
                           OMP_NUM_THREADS="1", PYTHONPATH=str(tmp))
                # 2 sync-style workers x 4 threads on the one core: a usual gunicorn setup for 1 CPU
                srv = Proc("flask+gunicorn", pin + [str(venv_py), "-m", "gunicorn", "-w", "2", "-k", "gthread",
                                                    "--threads", "4", "--backlog", "2048", "-b",
                                                    f"127.0.0.1:{port}", "flask_app:app"], port, env=env,
                           log=tmp / "flask.log")
                try:
                    for model in ("mlp", "resnet18"):
                        print(f"{model}:")
                        rows = run_points(srv, f"/v2/models/{model}/infer", body[model], conns, warm, secs, tmp,
                                          a.load_cpu)
                        record("flask+gunicorn", model, rows)
                        if half:
                            peak = max(r["rps"] for r in rows)
                            record("flask+gunicorn", model, half_load(srv, f"/v2/models/{model}/infer", body[model],
                                                                      peak, secs, tmp, a.load_cpu), "half load")
                finally:
                    srv.stop()
        # --- MLServer, scikit-learn runtime (the MLP only: it has no runtime for an ONNX ResNet)
        if "mlserver" in servers:
            mls = Path(a.bench_venv) / "bin" / "mlserver"
            if not mls.exists() or subprocess.run([venv_py, "-c", "import mlserver_sklearn, sklearn, joblib"],
                                                  capture_output=True).returncode:
                note(f"MLServer: {a.bench_venv} lacks mlserver / mlserver-sklearn / scikit-learn")
            else:
                d = tmp / "mlserver"
                d.mkdir()
                port = free_port()
                (tmp / "mls_model.py").write_text(MLSERVER_MODEL)
                subprocess.run([venv_py, tmp / "mls_model.py", str(d), str(port), str(free_port()),
                                str(free_port())], check=True, timeout=120)
                try:
                    srv = Proc("mlserver", pin + [str(mls), "start", str(d)], port, log=tmp / "mlserver.log")
                except RuntimeError as e:
                    note(f"MLServer did not start: {str(e)[-300:]}")
                else:
                    try:
                        print("mlp:")
                        rows = run_points(srv, "/v2/models/mlp/infer", body["mlp"], conns, warm, secs, tmp,
                                          a.load_cpu)
                        record("mlserver", "mlp", rows)
                        if half:
                            peak = max(r["rps"] for r in rows)
                            record("mlserver", "mlp", half_load(srv, "/v2/models/mlp/infer", body["mlp"], peak, secs,
                                                                tmp, a.load_cpu), "half load")
                    finally:
                        srv.stop()
                print("  resnet18 on MLServer: n/a (its scikit-learn runtime cannot run an ONNX ResNet)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # --- summary
    print()
    rows = []
    for r in results["rows"]:
        rows.append([r["model"], r["server"] + (f" [{r['variant']}]" if r["variant"] else ""), r["conns"],
                     f"{r['rps']:.0f}", common.fmt(r["p50_ms"]), common.fmt(r["p99_ms"]), r["errors"],
                     f"{r['server_cpu_s']:.1f}", f"{r['rps'] * secs / r['server_cpu_s']:.0f}"
                     if r["server_cpu_s"] > 0 else "n/a", f"{r['loadavg_1m']:.1f}"])
    common.print_table(["model", "server", "conns", "req/s", "p50 ms", "p99 ms", "errors", "server CPU s",
                        "req per CPU-s", "load 1m"], rows, title="results")
    peak = {}
    for r in results["rows"]:
        if not r["variant"]:
            peak[(r["model"], r["server"])] = max(peak.get((r["model"], r["server"]), 0), r["rps"])
    for model in ("mlp", "resnet18"):
        t = peak.get((model, "tessel-serve"))
        for other in ("flask+gunicorn", "mlserver"):
            o = peak.get((model, other))
            if t and o:
                print(f"{model}: tessel-serve peak req/s = {t / o:.1f}x {other}")
    def med(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2

    def per_cpu(r):
        return r["rps"] / r["server_cpu_s"] if r["server_cpu_s"] > 0 else None

    b = {}
    for r in results["rows"]:
        if r["variant"].startswith("batching"):
            b.setdefault(r["variant"], []).append(r)
    for kind, label in [(k + io, f"{k} body{io}") for io in ("", ", io batch") for k in ("JSON", "binary")]:
        off, on = b.get(f"batching off, {kind}", []), b.get(f"batching on, {kind}", [])
        if not off or not on or med([r["rps"] for r in off]) <= 0:
            continue
        line = f"resnet18 @64, {label}: dynamic batching on/off = {med([r['rps'] for r in on]) / med([r['rps'] for r in off]):.2f}x req/s"
        pc_off, pc_on = [x for x in map(per_cpu, off) if x], [x for x in map(per_cpu, on) if x]
        if pc_off and pc_on:
            line += f", per server CPU-second {med(pc_on) / med(pc_off):.2f}x"
        if len(off) > 1 and len(off) == len(on):  # alternated rounds: the paired ratios
            paired = [n["rps"] / f["rps"] for f, n in zip(off, on) if f["rps"] > 0]
            pc = [per_cpu(n) / per_cpu(f) for f, n in zip(off, on) if per_cpu(f) and per_cpu(n)]
            line += (f" (medians of {len(off)} alternated rounds; per round: req/s "
                     + " ".join(f"{x:.2f}" for x in paired) + ", per CPU-s " + " ".join(f"{x:.2f}" for x in pc) + ")")
        print(line)
    for kind in ("JSON", "binary"):  # --io-sched both: what the event loops' SCHED_BATCH changes, same batching
        for on in ("off", "on"):
            x, y = b.get(f"batching {on}, {kind}, io batch", []), b.get(f"batching {on}, {kind}", [])
            if x and y and len(x) == len(y):
                pc = [per_cpu(u) / per_cpu(v) for u, v in zip(x, y) if per_cpu(u) and per_cpu(v)]
                rps = [u["rps"] / v["rps"] for u, v in zip(x, y) if v["rps"] > 0]
                print(f"resnet18 @64, {kind} body, batching {on}: io SCHED_BATCH / normal = {med(rps):.2f}x req/s, "
                      f"{med(pc) if pc else float('nan'):.2f}x per server CPU-second (medians of the paired rounds)")
    for r in results.get("ceiling", {}).get("rows", []):
        bs = list(r["ms_per_sample"])
        print(f"resnet18 alone, {r['runtime']}, 1 thread: per-sample time batch {bs[0]} / batch {bs[-1]} = "
              f"{r['gain']:.2f}x (about what batching can gain on the model's compute on this CPU)")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
