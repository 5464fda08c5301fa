#!/usr/bin/env python3
"""Memory-bound ops on 16M float32 elements: add and sum, tessel vs NumPy vs PyTorch.

GB/s counts the bytes an op must move: add 3*4*N (read a, read b, write out),
sum 4*N, copy 2*4*N. The copy reference is np.copyto(dst, src), measured in
the same run; "% copy" is the op's GB/s over that copy's GB/s.

add is measured as `a + b` for all three libraries, which allocates a fresh
64 MiB output on every call (page faults included): tessel has no out= yet, so
the comparison uses the form all three support. NumPy's and PyTorch's
preallocated add(out=) are printed as extra rows for information only.

    .venv/bin/python bench/bench_bandwidth.py [--quick] [--json PATH] [--threads 1,2]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402


def tessel_has_out(ts, a, b):
    try:
        out = ts.empty_like(a)
        ts.add(a, b, out=out)
        return True
    except TypeError:
        return False


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=16 * 2 ** 20,
                   help="elements per tensor (default 16M = 16*2^20)")
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    N = args.n
    repeat = 3 if args.quick else 9
    target_s = 0.03 if args.quick else 0.1

    ts = common.import_tessel()
    torch = common.import_torch()
    rep = common.start("bench_bandwidth", f"add and sum of {N} float32 elements", args, np, ts,
                       torch)
    th = common.Threads(np, ts, torch)
    print(f"numpy threads: {th.numpy_method}")
    print(f"timing  : median of {repeat} samples (~{target_s} s each, calls per sample "
          "calibrated), 1 warm-up sample, time.perf_counter_ns")
    print("ratios  : time ratios, row library / reference (<1.00x: row library faster)")
    print("bytes   : add 3*4*N, sum 4*N, copy (np.copyto) 2*4*N")

    rng = np.random.default_rng(0)
    a_np = rng.random(N, dtype=np.float32)
    b_np = rng.random(N, dtype=np.float32)
    dst = np.empty_like(a_np)
    out_np = np.empty_like(a_np)
    a_ts, b_ts = ts.from_numpy(a_np), ts.from_numpy(b_np)  # zero-copy: same memory
    ts_out = tessel_has_out(ts, a_ts, b_ts)
    print("add form: `a + b` for tessel, PyTorch and NumPy (allocates its output each call; "
          + ("tessel has add(out=) too: extra row" if ts_out else "tessel has no out= yet")
          + "); NumPy/PyTorch add(out=) rows are information only")
    rep.settings = {"n": N, "threads": threads, "dtype": "float32", "repeat": repeat,
                    "add_form": "a + b (fresh output each call)", "tessel_add_out": ts_out,
                    "numpy_thread_control": th.numpy_method,
                    "bytes": {"add": 12 * N, "sum": 4 * N, "copy": 8 * N}}

    # (op, library, fn, compared?) ; compared rows get ratios, info rows do not
    cases = [("copy", "numpy copyto", lambda: np.copyto(dst, a_np), False),
             ("add", "tessel", lambda: a_ts + b_ts, True)]
    if ts_out:
        ts_o = ts.empty_like(a_ts)
        cases.append(("add", "tessel out=", lambda: ts.add(a_ts, b_ts, out=ts_o), False))
    if torch is not None:
        a_t, b_t = torch.from_numpy(a_np), torch.from_numpy(b_np)
        out_t = torch.empty_like(a_t)
        cases += [("add", "torch", lambda: a_t + b_t, True),
                  ("add", "torch out=", lambda: torch.add(a_t, b_t, out=out_t), False)]
    cases += [("add", "numpy", lambda: a_np + b_np, True),
              ("add", "numpy out=", lambda: np.add(a_np, b_np, out=out_np), False),
              ("sum", "tessel", lambda: ts.sum(a_ts), True)]
    if torch is not None:
        cases.append(("sum", "torch", lambda: torch.sum(a_t), True))
    cases.append(("sum", "numpy", lambda: np.sum(a_np), True))

    # correctness of what is timed
    ref_add = a_np + b_np
    ref_sum = float(np.sum(a_np, dtype=np.float64))
    for op, lib, fn, _ in cases:
        if op == "add" and "out=" not in lib:
            common.check_close(f"{lib} add", np.asarray(fn()), ref_add, notes=rep.notes)
        elif op == "sum":
            common.check_close(f"{lib} sum", float(np.asarray(fn())), ref_sum, rtol=1e-4,
                               atol=0, notes=rep.notes)
    del ref_add

    nbytes = {"add": 12 * N, "sum": 4 * N, "copy": 8 * N}
    rows = []
    for t in threads:
        th.set(t)
        print(th.describe(t))
        ms = {}
        for op, lib, fn, _ in cases:
            tm = common.measure(fn, repeat=repeat, target_s=target_s)
            ms[(op, lib)] = (tm.median_ns / 1e6, tm)
        copy_gbs = nbytes["copy"] / (ms[("copy", "numpy copyto")][0] * 1e-3) / 1e9
        for op, lib, fn, compared in cases:
            v, tm = ms[(op, lib)]
            gbs = nbytes[op] / (v * 1e-3) / 1e9
            pct = 100.0 * gbs / copy_gbs
            r_np = common.ratio(v, ms[(op, "numpy")][0]) if compared else None
            r_torch = (common.ratio(v, ms[(op, "torch")][0])
                       if compared and (op, "torch") in ms else None)
            note = ("reference" if op == "copy" else
                    "" if compared else "preallocated out=, info only")
            rows.append([op, lib, t, f"{v:.2f}", f"{gbs:.1f}", f"{pct:.0f}%",
                         common.fmt_ratio(r_np) if compared else "",
                         common.fmt_ratio(r_torch) if compared else "", note])
            rep.results.append({"op": op, "library": lib, "threads": t, "ms": v, "gb_per_s": gbs,
                                "pct_of_copy": pct, "ratio_vs_numpy": r_np,
                                "ratio_vs_torch": r_torch, "compared": compared,
                                "timing": tm.to_dict()})
            if op in ("add", "sum") and lib == "tessel" and torch is None:
                rows.append([op, "torch", t, "n/a", "", "", "", "", "PyTorch not installed"])
        rows.append(None)

    common.print_table(["op", "library", "thr", "ms", "GB/s", "% copy", "vs numpy", "vs torch",
                        "note"], rows[:-1],
                       title=f"N = {N} float32 (NumPy's add/sum/copyto run on 1 thread whatever "
                             "the setting)")
    rep.write(args.json)


if __name__ == "__main__":
    main()
