"""`tessel bench`: latency (p50/p90/p99) and throughput of a model, run in
process through ts.onnx.load, or against a running tessel-serve (Open
Inference Protocol v2, binary tensor extension) on loopback.

Inputs are random tensors made from the model's input metadata: a symbolic or
unknown first dimension is --batch-size, any other symbolic one needs
--dim NAME=VALUE. Every run is bounded by --duration (and --iterations)."""
import http.client
import ipaddress
import json
import math
import os
import time
import urllib.parse

import click

from ._base import emit_json, fmt, log

# OIP v2 datatypes <-> tessel dtype names
_OIP = {"BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64", "INT8": "int8",
        "INT16": "int16", "INT32": "int32", "INT64": "int64", "FP16": "float16", "BF16": "bfloat16", "FP32": "float32",
        "FP64": "float64"}
_OIP_OF = {v: k for k, v in _OIP.items()}


def percentile(values, q):
    """The q-th percentile (0..100) with linear interpolation between order statistics (NumPy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    v = sorted(values)
    pos = (len(v) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def summarize(latencies, batch_size, wall):
    """Figures of a run: latencies in seconds per call -> milliseconds and samples/s."""
    n = len(latencies)
    ms = [x * 1e3 for x in latencies]
    return {"iterations": n, "batch_size": batch_size, "wall_s": wall,
            "latency_ms": {"mean": sum(ms) / n, "min": min(ms), "p50": percentile(ms, 50), "p90": percentile(ms, 90),
                           "p99": percentile(ms, 99), "max": max(ms)},
            "samples_per_s": batch_size * n / wall if wall > 0 else None,
            "calls_per_s": n / wall if wall > 0 else None}


def _parse_dims(items):
    dims = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            v = int(value)
        except ValueError:
            v = -1
        if not sep or not name or v < 1:
            raise click.BadParameter(f"expected NAME=POSITIVE_INT, got {item!r}", param_hint="--dim")
        dims[name] = v
    return dims


def concrete_shape(name, shape, batch_size, dims):
    """The shape to feed for an input whose declared shape has symbolic (str) or unknown (None, -1) dims."""
    if shape is None:
        raise click.UsageError(f"input '{name}' has an unknown rank: this model cannot be benchmarked from its "
                               "metadata")
    out = []
    for k, d in enumerate(shape):
        if isinstance(d, int) and d >= 0:
            out.append(d)
        elif isinstance(d, str) and d in dims:
            out.append(dims[d])
        elif k == 0:
            out.append(batch_size)
        else:
            what = f"symbolic ({d!r})" if isinstance(d, str) else "unknown"
            hint = f"--dim {d}=VALUE" if isinstance(d, str) else "a model with a known shape"
            raise click.UsageError(f"input '{name}' dim {k} is {what}: pass {hint}")
    return out


def random_input(dtype_name, shape, int_high):
    import tessel as ts
    if dtype_name in ("float32", "float64", "float16", "bfloat16"):
        return ts.randn(*shape).to(getattr(ts, dtype_name))
    if dtype_name == "bool":
        return ts.randint(0, 2, shape).to(ts.bool)
    if dtype_name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        return ts.randint(0, int_high, shape).to(getattr(ts, dtype_name))
    raise click.UsageError(f"cannot make random inputs of type {dtype_name}")


def _loop(call, warmup, duration, iterations, desc):
    """Warm-up calls, then timed calls until `duration` seconds or `iterations` calls."""
    from ..utils.progress import Progress
    for _ in range(warmup):
        call()
    latencies = []
    start = time.perf_counter()
    deadline = start + duration
    with Progress(total=iterations, desc=desc, unit="call") as bar:
        while True:
            t0 = time.perf_counter()
            call()
            t1 = time.perf_counter()
            latencies.append(t1 - t0)
            bar.update()
            if (iterations is not None and len(latencies) >= iterations) or t1 >= deadline:
                break
    return latencies, time.perf_counter() - start


# ----- in process ---------------------------------------------------------------------------------------------

def bench_onnx(path, batch_size=1, threads=None, duration=5.0, warmup=3, iterations=None, dims=None, int_high=2,
               seed=0):
    import tessel as ts
    if threads is not None:
        ts.set_num_threads(threads)
    ts.manual_seed(seed)
    model = ts.onnx.load(path)
    feed, shapes = {}, {}
    for info in model.inputs:
        if info.dtype is None:
            raise click.UsageError(f"input '{info.name}' has type {info.type}, which tessel cannot generate")
        shape = concrete_shape(info.name, info.shape, batch_size, dims or {})
        dtype_name = info.dtype.name if hasattr(info.dtype, "name") else str(info.dtype).split(".")[-1]
        feed[info.name] = random_input(dtype_name, shape, int_high)
        shapes[info.name] = {"shape": shape, "dtype": dtype_name}
    latencies, wall = _loop(lambda: model.run(feed), warmup, duration, iterations, "bench")
    out = summarize(latencies, batch_size, wall)
    out.update({"target": os.path.abspath(path), "mode": "in-process", "threads": ts.get_num_threads(),
                "inputs": shapes})
    return out


# ----- against tessel-serve ----------------------------------------------------------------------------------

def _loopback(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise click.BadParameter(f"expected http://127.0.0.1:PORT, got {url!r}", param_hint="--url")
    host = u.hostname
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise click.BadParameter(f"{host} is not a loopback address: tessel bench only sends requests to this "
                                 "machine (127.0.0.1, ::1 or localhost)", param_hint="--url")
    return host, u.port or 80, u.path.rstrip("/")


class _Client:
    def __init__(self, url, timeout):
        self.host, self.port, self.base = _loopback(url)
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):  # one retry on a connection the server closed while idle
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, self.base + path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                return r.status, r.getheader("Inference-Header-Content-Length"), r.read()
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self.conn.close()
                self.conn = None
                if attempt:
                    raise click.ClickException(f"{method} http://{self.host}:{self.port}{self.base}{path}: "
                                               f"{e or type(e).__name__}") from None

    def close(self):
        if self.conn is not None:
            self.conn.close()


def bench_server(url, model_name, version=None, batch_size=1, duration=5.0, warmup=3, iterations=None, dims=None,
                 int_high=2, seed=0, timeout=30.0):
    import tessel as ts
    from .. import _C
    client = _Client(url, timeout)
    path = f"/v2/models/{urllib.parse.quote(model_name, safe='')}"
    if version:
        path += f"/versions/{urllib.parse.quote(str(version), safe='')}"
    try:
        status, _, body = client.request("GET", path)
        if status != 200:
            raise click.ClickException(f"model '{model_name}' metadata: HTTP {status}: "
                                       f"{body[:300].decode('utf-8', 'replace')}")
        meta = json.loads(body)
        ts.manual_seed(seed)
        header_inputs, raw, shapes = [], [], {}
        for i in meta.get("inputs", []):
            dtype_name = _OIP.get(i["datatype"])
            if dtype_name is None:
                raise click.UsageError(f"input '{i['name']}' has datatype {i['datatype']}, which tessel cannot "
                                       "generate")
            declared = [None if (isinstance(d, int) and d < 0) else d for d in i["shape"]]
            shape = concrete_shape(i["name"], declared, batch_size, dims or {})
            t = random_input(dtype_name, shape, int_high)
            data = _C._io.tensor_bytes(t)
            raw.append(data)
            header_inputs.append({"name": i["name"], "datatype": i["datatype"], "shape": shape,
                                  "parameters": {"binary_data_size": len(data)}})
            shapes[i["name"]] = {"shape": shape, "dtype": dtype_name}
        header = json.dumps({"inputs": header_inputs, "parameters": {"binary_data_output": True}}).encode()
        request = header + b"".join(raw)
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}

        def call():
            status, _, body = client.request("POST", path + "/infer", request, headers)
            if status != 200:
                raise click.ClickException(f"infer on model '{model_name}': HTTP {status}: "
                                           f"{body[:300].decode('utf-8', 'replace')}")

        latencies, wall = _loop(call, warmup, duration, iterations, "bench")
    finally:
        client.close()
    out = summarize(latencies, batch_size, wall)
    out.update({"target": f"http://{client.host}:{client.port}{client.base}{path}", "mode": "server",
                "inputs": shapes})
    return out


def _print(r):
    click.echo(f"target:       {r['target']} ({r['mode']})")
    click.echo("inputs:       " + ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in r["inputs"].items()))
    if "threads" in r:
        click.echo(f"threads:      {r['threads']}")
    click.echo(f"iterations:   {r['iterations']} of batch {r['batch_size']} in {r['wall_s']:.3f} s")
    lat = r["latency_ms"]
    click.echo("latency (ms): " + "  ".join(f"{k} {fmt(lat[k])}" for k in ("p50", "p90", "p99", "mean", "min", "max")))
    click.echo(f"throughput:   {fmt(r['samples_per_s'])} samples/s ({fmt(r['calls_per_s'])} calls/s)")


@click.command("bench")
@click.argument("model", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="The first dimension when it is symbolic or unknown.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=VALUE", help="The value of a symbolic dimension.")
@click.option("--threads", type=click.IntRange(min=1), help="Intra-op threads (in process). [default: all cores]")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Seconds of timed calls (at least one call).")
@click.option("--iterations", type=click.IntRange(min=1), help="Stop after this many timed calls.")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, is_flag=False, flag_value=10,
              help="Untimed calls first (--warmup alone: 10).")
@click.option("--int-high", type=click.IntRange(min=1), default=2, show_default=True,
              help="Integer inputs are drawn from [0, int-high).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--url", help="Benchmark a running tessel-serve instead: http://127.0.0.1:PORT (loopback only).")
@click.option("--model", "model_name", help="With --url: the served model's name.")
@click.option("--model-version", help="With --url: the version (default: the server's choice).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="With --url: seconds to wait for each response.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
def bench(model, batch_size, dims, threads, duration, iterations, warmup, int_high, seed, url, model_name,
          model_version, timeout, as_json):
    """Latency (p50/p90/p99) and samples/s of MODEL.onnx run in process, or
    of a model served by tessel-serve (--url ... --model NAME).

    \b
      tessel bench model.onnx --batch-size 8 --threads 4 --duration 10
      tessel bench model.onnx --dim seq=128 --json
      tessel bench --url http://127.0.0.1:8000 --model digits --batch-size 32
    """
    dims = _parse_dims(dims)
    if url:
        if threads is not None:
            raise click.UsageError("--threads sets in-process threads; the server has its own (tessel serve --threads)")
        if not model_name:
            raise click.UsageError("--url needs --model NAME (the served model)")
        log(f"benchmarking {model_name} at {url} for up to {duration:g} s")
        result = bench_server(url, model_name, model_version, batch_size, duration, warmup, iterations, dims,
                              int_high, seed, timeout)
    else:
        if model is None:
            raise click.UsageError("pass MODEL.onnx, or --url and --model for a running server")
        if model_name or model_version:
            raise click.UsageError("--model and --model-version go with --url")
        log(f"benchmarking {model} for up to {duration:g} s")
        result = bench_onnx(model, batch_size, threads, duration, warmup, iterations, dims, int_high, seed)
    if as_json:
        emit_json(result)
    else:
        _print(result)
