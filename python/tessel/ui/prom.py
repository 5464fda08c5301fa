"""Reading tessel-serve's Prometheus text (/metrics) into per-model figures.

Metric names are those of src/serve/batcher.cpp: tessel_inference_requests_total
{model,version,status}, tessel_inference_rejected_total{model,version,reason},
tessel_inference_request_duration_seconds (histogram), tessel_inference_batch_size
(histogram), tessel_inference_queue_depth, tessel_inference_in_flight_requests,
tessel_model_ready, tessel_model_load_duration_seconds, tessel_inference_count_total.
"""
import math
import re

_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def _unescape(s):
    return s.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def parse(text):
    """{metric name: [(labels dict, value)]} of the exposition format (comments skipped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        name, _, body, value = m.group(1), m.group(2), m.group(3), m.group(4)
        labels = {k: _unescape(v) for k, v in _LABEL.findall(body or "")}
        try:
            v = float(value)
        except ValueError:
            continue
        out.setdefault(name, []).append((labels, v))
    return out


def quantile(q, buckets):
    """The q-quantile from cumulative histogram buckets [(upper bound, count)]
    (Prometheus' histogram_quantile: linear inside the bucket). None when empty."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound  # the highest finite bound, as Prometheus does
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


def _key(labels):
    return labels.get("model", ""), labels.get("version", "")


def per_model(metrics):
    """{(model, version): figures} from parse(): requests, errors (non-200 and
    rejected), status counts, latency buckets, batch size sum/count/buckets,
    queue depth, in flight, ready, load time, inferences."""
    out = {}

    def rec(labels):
        return out.setdefault(_key(labels), {"requests": 0.0, "errors": 0.0, "status": {}, "rejected": {},
                                             "latency": {}, "latency_sum": 0.0, "latency_count": 0.0,
                                             "batch": {}, "batch_sum": 0.0, "batch_count": 0.0,
                                             "queue_depth": None, "in_flight": None, "ready": None,
                                             "load_seconds": None, "inferences": 0.0})

    for labels, v in metrics.get("tessel_inference_requests_total", ()):
        r = rec(labels)
        st = labels.get("status", "")
        r["requests"] += v
        r["status"][st] = r["status"].get(st, 0.0) + v
        if st != "200":
            r["errors"] += v
    for labels, v in metrics.get("tessel_inference_rejected_total", ()):
        r = rec(labels)
        r["rejected"][labels.get("reason", "")] = v
    for base, field in (("tessel_inference_request_duration_seconds", "latency"),
                        ("tessel_inference_batch_size", "batch")):
        for labels, v in metrics.get(base + "_bucket", ()):
            le = labels.get("le")
            bound = math.inf if le in ("+Inf", "Inf", "inf") else float(le)
            h = rec(labels)[field]
            h[bound] = h.get(bound, 0.0) + v
        for labels, v in metrics.get(base + "_sum", ()):
            rec(labels)[field + "_sum"] += v
        for labels, v in metrics.get(base + "_count", ()):
            rec(labels)[field + "_count"] += v
    for name, field in (("tessel_inference_queue_depth", "queue_depth"),
                        ("tessel_inference_in_flight_requests", "in_flight"), ("tessel_model_ready", "ready"),
                        ("tessel_model_load_duration_seconds", "load_seconds")):
        for labels, v in metrics.get(name, ()):
            rec(labels)[field] = v
    for labels, v in metrics.get("tessel_inference_count_total", ()):
        rec(labels)["inferences"] += v
    return out


def delta_buckets(now, before):
    """Bucket counts of `now` minus `before` (both {bound: cumulative count})."""
    return {b: c - before.get(b, 0.0) for b, c in now.items()}
