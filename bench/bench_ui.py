"""Server time of the web UI's pages (tessel.ui) on large stores.

Two stores, built once and kept (--store-dir, default /tmp/tessel-bench-ui):
* "long": --runs runs (100) with one series of --points points (10^5) each,
  plus 20 epoch points of two metrics and a few parameters: the run page and
  the compare page (overlaid charts of 2, 10 and 20 runs);
* "big": one run of --big-points points (10^6): the run page;
* "wide": --table-runs runs (10,000), each with 6 parameters and 3 metrics of
  10 epochs: the runs table (default order, sorted by a metric, filtered by a
  parameter and a metric) and the CSV export of every run.

Each page is requested through Flask's test client (no network, no browser:
the time is the server's: SQL, downsampling, SVG, templates); the first call
is reported apart (cold caches), then the median of --repeat calls. The goal
of issue 13 is < 1 s for the run page and the runs table.

    .venv/bin/python bench/bench_ui.py                 # full sizes (builds ~1 GB of SQLite once)
    .venv/bin/python bench/bench_ui.py --quick         # 10 runs x 10^4, 1,000 runs
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np


def machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} logical CPUs, load average {load:.1f}"


def build_long(path, runs, points):
    import tessel.store as tstore
    marker = os.path.join(path, f"built-{runs}x{points}")
    st = tstore.open(path)
    if os.path.exists(marker):
        return st
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for i in range(runs):
        rid = st.start_run("long", name=f"long-{i}", params={"lr": 10 ** rng.uniform(-4, -1), "batch_size": 64,
                                                           "model": "resnet" if i % 2 else "mlp", "seed": i})
        steps = np.arange(points)
        vals = 2.0 * np.exp(-steps / (points / 5)) + 0.1 + rng.normal(scale=0.05, size=points) ** 2
        st.log_metrics(rid, [("step/loss", int(s), float(v)) for s, v in zip(steps, vals)])
        st.log_metrics(rid, [(k, e, float(rng.uniform())) for k in ("loss", "val_accuracy") for e in range(20)])
        st.end_run(rid)
    open(marker, "w").close()
    print(f"built the long store: {runs} runs x {points} points in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return st


def build_wide(path, runs):
    import tessel.store as tstore
    marker = os.path.join(path, f"built-{runs}")
    st = tstore.open(path)
    if os.path.exists(marker):
        return st
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    for i in range(runs):
        rid = st.start_run(f"exp-{i % 10}", name=f"run-{i}",
                           params={"lr": float(rng.choice([1e-4, 3e-4, 1e-3, 3e-3])),
                                   "batch_size": int(rng.choice([32, 64])),
                                   "model": str(rng.choice(["mlp", "cnn", "resnet"])), "epochs": 10, "seed": i,
                                   "optimizer": "adam"})
        st.log_metrics(rid, [(k, e, float(rng.uniform())) for k in ("loss", "val_loss", "val_accuracy")
                             for e in range(10)])
        st.end_run(rid, "FINISHED" if i % 13 else "FAILED")
    open(marker, "w").close()
    print(f"built the wide store: {runs} runs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return st


def timed(client, url, repeat):
    t0 = time.perf_counter()
    r = client.get(url)
    first = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"{url}: HTTP {r.status_code}: {r.get_data(as_text=True)[:500]}")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), len(r.data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--big-points", type=int, default=1_000_000, help="points of the one-run store (run page)")
    p.add_argument("--table-runs", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--store-dir", default="/tmp/tessel-bench-ui")
    p.add_argument("--quick", action="store_true", help="10 runs x 10^4 points, 1,000 table runs, 3 repeats")
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args()
    if a.quick:
        a.runs, a.points, a.big_points, a.table_runs, a.repeat = 10, 10_000, 100_000, 1000, 3

    from tessel.ui import create_app
    long_st = build_long(os.path.join(a.store_dir, f"long-{a.runs}x{a.points}"), a.runs, a.points)
    wide_st = build_wide(os.path.join(a.store_dir, f"wide-{a.table_runs}"), a.table_runs)
    big_st = build_long(os.path.join(a.store_dir, f"long-1x{a.big_points}"), 1, a.big_points)
    big_id = big_st.search_runs("long", limit=1)[0].id
    ids = [r.id for r in long_st.search_runs("long", limit=None, order_by="name", descending=False)]
    c_long = create_app(store=long_st).test_client()
    c_wide = create_app(store=wide_st).test_client()
    c_big = create_app(store=big_st).test_client()

    def cmp(n):
        return "/compare?" + "&".join(f"run={i}" for i in ids[:n])

    cases = [
        (c_long, f"run page ({a.points:,} points, 500 buckets)", f"/runs/{ids[0]}"),
        (c_long, "run page, smoothing 0.9 + log axis", f"/runs/{ids[1]}?smooth=0.9&log=1"),
        (c_big, f"run page ({a.big_points:,} points, 500 buckets)", f"/runs/{big_id}"),
        (c_long, f"compare 2 runs ({2 * a.points:,} points)", cmp(2)),
        (c_long, f"compare 10 runs ({10 * a.points:,} points)", cmp(min(10, len(ids)))),
        (c_long, f"compare 20 runs ({20 * a.points:,} points)", cmp(min(20, len(ids)))),
        (c_long, f"runs table of the long store ({a.runs} runs)", "/runs"),
        (c_wide, f"runs table, {a.table_runs:,} runs, newest first", "/runs"),
        (c_wide, "runs table, sorted by last val_accuracy", "/runs?sort=metric:val_accuracy&dir=desc"),
        (c_wide, "runs table, filter model=cnn + val_accuracy>0.5",
         "/runs?param=model%3Dcnn&metric=val_accuracy%3E0.5"),
        (c_wide, "runs table, experiment + status, page 3",
         "/runs?experiment=exp-3&status=FINISHED&page=3&per_page=20"),
        (c_wide, f"CSV export of all {a.table_runs:,} runs", "/runs.csv"),
    ]
    print(f"machine: {machine()}; python {platform.python_version()}")
    print(f"{'page':<56} {'first s':>8} {'median s':>9} {'KiB':>7}")
    results = []
    for client, name, url in cases:
        first, med, size = timed(client, url, a.repeat)
        results.append({"page": name, "url": url, "first_s": first, "median_s": med, "bytes": size})
        print(f"{name:<56} {first:8.3f} {med:9.3f} {size / 1024:7.0f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "args": vars(a), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
