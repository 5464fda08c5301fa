"""Serving: what a running tessel-serve holds (repository index, server
metadata) and its request rate, latency, queue depth, batch sizes and errors
read from its Prometheus /metrics."""
import json
import time
import urllib.error
import urllib.request

from flask import Blueprint, current_app, render_template, request

from . import prom

bp = Blueprint("serving", __name__)


class ServeError(Exception):
    """tessel-serve could not be reached or answered with an error; the message names the URL."""


def call(path, body=None, timeout=None, method=None):
    """(status, bytes) of one request to the configured tessel-serve."""
    base = current_app.config["TESSEL_SERVE_URL"]
    if not base:
        raise ServeError("no tessel-serve configured: start the UI with --serve-url URL")
    url = base + path
    headers = {"Content-Type": "application/json"} if body is not None else {}
    token = current_app.config.get("TESSEL_SERVE_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers, method=method or ("POST" if body is not None else
                                                                                   "GET"))
    try:
        with urllib.request.urlopen(req, timeout=timeout or current_app.config["TESSEL_SERVE_TIMEOUT"]) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        data = e.read()
        try:
            msg = json.loads(data).get("error", data.decode(errors="replace"))
        except (ValueError, AttributeError):
            msg = data.decode(errors="replace")
        raise ServeError(f"{url} answered {e.code}: {msg}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ServeError(f"cannot reach tessel-serve at {url}: {reason}") from None


def call_json(path, body=None):
    _, data = call(path, body)
    try:
        return json.loads(data)
    except ValueError:
        raise ServeError(f"{path}: tessel-serve's answer is not JSON") from None


def repository_index():
    """[{name, version, state, reason}] of the server (Triton's repository extension)."""
    return call_json("/v2/repository/index", b"{}")


def scrape():
    _, data = call("/metrics")
    return prom.per_model(prom.parse(data.decode("utf-8", errors="replace")))


def figures(now, before, dt):
    """Rows for the page: lifetime counts, and rates / latency quantiles over the
    interval since the previous look when there is one (else over the lifetime)."""
    rows = []
    for (model, version), r in sorted(now.items()):
        b = before.get((model, version)) if before else None
        windowed = b is not None and dt > 0 and r["latency_count"] > b["latency_count"]
        lat = prom.delta_buckets(r["latency"], b["latency"]) if windowed else r["latency"]
        lat_b = sorted(lat.items())
        batch_mean = r["batch_sum"] / r["batch_count"] if r["batch_count"] else None
        rows.append({
            "model": model, "version": version or "-", "requests": r["requests"], "errors": r["errors"],
            "status": r["status"], "rejected": r["rejected"],
            "rate": (r["requests"] - b["requests"]) / dt if (b is not None and dt > 0) else None,
            "window": f"the last {dt:.0f} s" if windowed else "the server's lifetime",
            "p50": prom.quantile(0.5, lat_b), "p99": prom.quantile(0.99, lat_b),
            "mean_latency": r["latency_sum"] / r["latency_count"] if r["latency_count"] else None,
            "queue_depth": r["queue_depth"], "in_flight": r["in_flight"], "ready": r["ready"],
            "load_seconds": r["load_seconds"], "batch_mean": batch_mean, "batches": r["batch_count"],
            "batch_hist": _batch_hist(r["batch"]), "inferences": r["inferences"]})
    return rows


def _batch_hist(cum):
    """[(label, count)] of the batch-size histogram (non-cumulative, empty buckets dropped)."""
    out, prev, prev_bound = [], 0.0, 0
    for bound, c in sorted(cum.items()):
        n = c - prev
        if n > 0:
            label = f"> {prev_bound:g}" if bound == float("inf") else (
                f"{bound:g}" if bound - prev_bound <= 1 else f"{prev_bound:g}-{bound:g}")
            out.append((label, int(n)))
        prev, prev_bound = c, bound
    return out


@bp.route("/serving")
def page():
    url = current_app.config["TESSEL_SERVE_URL"]
    if not url:
        return render_template("serving.html", url=None, error=None)
    error, index, meta, rows = None, [], None, []
    try:
        meta = call_json("/v2")
        index = repository_index()
        now = scrape()
        t = time.monotonic()
        scrapes = current_app.extensions["tessel_scrapes"]
        before = scrapes.get(url)
        dt = t - before[0] if before else 0.0
        rows = figures(now, before[1] if before else None, dt)
        scrapes[url] = (t, now)
    except ServeError as e:
        error = str(e)
    refresh = request.args.get("refresh")
    refresh = int(refresh) if refresh and refresh.isdigit() and 1 <= int(refresh) <= 3600 else None
    return render_template("serving.html", url=url, error=error, meta=meta, index=index, rows=rows, refresh=refresh)
