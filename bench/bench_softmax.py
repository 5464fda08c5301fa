#!/usr/bin/env python3
"""softmax and logsumexp over the last dim of a [4096, 1024] float32 tensor.

tessel: ts.softmax(x, dim=-1), ts.logsumexp(x, dim=-1)
PyTorch: torch.softmax(x, dim=-1), torch.logsumexp(x, dim=-1)
NumPy (written out, max-subtracted):
    e = np.exp(x - x.max(-1, keepdims=True)); e / e.sum(-1, keepdims=True)
    m = x.max(-1, keepdims=True); np.log(np.exp(x - m).sum(-1)) + m[..., 0]

An extra row "tessel composed" runs NumPy's written-out formula with tessel
ops (amax, exp, sum, log, broadcasting): it shows what the fused kernels gain
over tessel's own elementwise ops, and stands in while the fused ops are
missing. When ts.softmax / ts.logsumexp are missing from the installed build
the "tessel" rows say so and are skipped.

    .venv/bin/python bench/bench_softmax.py [--quick] [--json PATH] [--threads 1,2]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402

SHAPE = (4096, 1024)


def np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_logsumexp(x):
    m = x.max(-1, keepdims=True)
    return np.log(np.exp(x - m).sum(-1)) + m[..., 0]


def composed(ts):
    """NumPy's written-out formulas with tessel ops, or None if an op is missing."""
    needed = ("amax", "exp", "sum", "log")
    if not all(hasattr(ts, f) for f in needed):
        return None

    def softmax(x):
        e = ts.exp(x - ts.amax(x, dim=-1, keepdim=True))
        return e / ts.sum(e, dim=-1, keepdim=True)

    def logsumexp(x):
        m = ts.amax(x, dim=-1, keepdim=True)
        return ts.log(ts.sum(ts.exp(x - m), dim=-1)) + ts.amax(x, dim=-1)

    return {"softmax": softmax, "logsumexp": logsumexp}


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    repeat = 3 if args.quick else 9
    target_s = 0.03 if args.quick else 0.1

    ts = common.import_tessel()
    torch = common.import_torch()
    rep = common.start("bench_softmax", f"softmax / logsumexp over dim -1 of {list(SHAPE)} float32",
                       args, np, ts, torch)
    th = common.Threads(np, ts, torch)
    print(f"numpy threads: {th.numpy_method}")
    print(f"timing  : median of {repeat} samples (~{target_s} s each, calls per sample "
          "calibrated), 1 warm-up sample, time.perf_counter_ns")
    print("ratios  : time ratios, row library / reference (<1.00x: row library faster)")

    native = {}
    for op in ("softmax", "logsumexp"):
        fn = getattr(ts, op, None)
        if fn is None:
            rep.note(f"ts.{op} is missing in the installed tessel build: its tessel row is skipped")
        else:
            native[op] = fn
    comp = composed(ts)
    if comp is None:
        rep.note("tessel lacks amax/exp/sum/log: the 'tessel composed' rows are skipped")

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(SHAPE, dtype=np.float32)
    x_ts = ts.from_numpy(x_np)  # zero-copy: same memory
    x_t = torch.from_numpy(x_np) if torch is not None else None
    refs = {"softmax": np_softmax(x_np.astype(np.float64)),
            "logsumexp": np_logsumexp(x_np.astype(np.float64))}
    rep.settings = {"shape": list(SHAPE), "dim": -1, "dtype": "float32", "threads": threads,
                    "repeat": repeat, "numpy_thread_control": th.numpy_method,
                    "tessel_native": sorted(native), "tessel_composed": comp is not None}

    cases = []  # (op, library, fn or None, note)
    for op in ("softmax", "logsumexp"):
        if op in native:
            f = native[op]
            cases.append((op, "tessel", lambda f=f: f(x_ts, dim=-1), ""))
        else:
            cases.append((op, "tessel", None, f"ts.{op} missing in this build"))
        if comp is not None:
            f = comp[op]
            cases.append((op, "tessel composed", lambda f=f: f(x_ts), "NumPy's formula, tessel ops"))
        if torch is not None:
            f = getattr(torch, op)
            cases.append((op, "torch", lambda f=f: f(x_t, dim=-1), ""))
        else:
            cases.append((op, "torch", None, "PyTorch not installed"))
        f = np_softmax if op == "softmax" else np_logsumexp
        cases.append((op, "numpy", lambda f=f: f(x_np), "written out"))

    for op, lib, fn, _ in cases:
        if fn is not None:
            common.check_close(f"{lib} {op}", np.asarray(fn()), refs[op], rtol=1e-4, atol=1e-6,
                               notes=rep.notes)

    rows = []
    for t in threads:
        th.set(t)
        print(th.describe(t))
        ms = {}
        timings = {}
        for op, lib, fn, _ in cases:
            if fn is None:
                continue
            tm = common.measure(fn, repeat=repeat, target_s=target_s)
            timings[(op, lib)] = tm
            ms[(op, lib)] = tm.median_ns / 1e6
        for op, lib, fn, note in cases:
            if fn is None:
                rows.append([op, lib, t, "n/a", "", "", "", note])
                rep.results.append({"op": op, "library": lib, "threads": t, "ms": None,
                                    "note": note})
                continue
            v = ms[(op, lib)]
            r_np = common.ratio(v, ms.get((op, "numpy")))
            r_torch = common.ratio(v, ms.get((op, "torch")))
            tm = timings[(op, lib)]
            rows.append([op, lib, t, f"{v:.2f}", f"{100 * tm.spread:.0f}%",
                         common.fmt_ratio(r_np), common.fmt_ratio(r_torch), note])
            rep.results.append({"op": op, "library": lib, "threads": t, "ms": v,
                                "ratio_vs_numpy": r_np, "ratio_vs_torch": r_torch,
                                "note": note, "timing": tm.to_dict()})
        rows.append(None)

    common.print_table(["op", "library", "thr", "ms", "spread", "vs numpy", "vs torch", "note"],
                       rows[:-1],
                       title=f"x: {list(SHAPE)} float32, reduce over dim -1 (NumPy runs on 1 "
                             "thread whatever the setting)")
    rep.write(args.json)


if __name__ == "__main__":
    main()
