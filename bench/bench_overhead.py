#!/usr/bin/env python3
"""Python per-op cost of `a + b` on tiny float32 tensors: tessel vs PyTorch vs NumPy.

For 1 and 1000 elements the time is dominated by the Python binding, argument
parsing, dispatch and output allocation, not by the arithmetic. Each sample
runs the statement many times in timeit's compiled loop (no lambda around it),
timed with time.perf_counter_ns; the figure is the median over the samples.

Goal: tessel <= PyTorch per op, aiming at NumPy.

    .venv/bin/python bench/bench_overhead.py [--quick] [--json PATH] [--threads 1]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402

SIZES = (1, 1000)


def main():
    p = common.base_parser(__doc__.splitlines()[0], default_threads="1")
    p.add_argument("--number", type=int, default=None,
                   help="statements per sample (default 20000, --quick 2000)")
    p.add_argument("--repeat", type=int, default=None,
                   help="samples, the median is reported (default 7, --quick 3)")
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    number = args.number or (2000 if args.quick else 20000)
    repeat = args.repeat or (3 if args.quick else 7)

    ts = common.import_tessel()
    torch = common.import_torch()
    rep = common.start("bench_overhead", "per-op cost of a + b (float32, 1 and 1000 elements)",
                       args, np, ts, torch)
    th = common.Threads(np, ts, torch)
    print(f"numpy threads: {th.numpy_method}")
    print(f"timing  : {number} ops per sample, median of {repeat} samples, 1 warm-up sample, "
          "time.perf_counter_ns; ratios are time ratios (<1.00x: row library faster)")
    rep.settings = {"sizes": list(SIZES), "threads": threads, "number": number, "repeat": repeat,
                    "numpy_thread_control": th.numpy_method, "dtype": "float32", "op": "a + b"}

    loop = common.measure_stmt("pass", {}, repeat=repeat, number=number)
    print(f"empty timeit loop: {loop.median_ns:.1f} ns/iteration (included in every figure below)")
    rep.settings["empty_loop_ns"] = loop.median_ns

    rng = np.random.default_rng(0)
    goal_lines = []
    for n_threads in threads:
        th.set(n_threads)
        print(th.describe(n_threads))
        rows = []
        for size in SIZES:
            a_np = rng.standard_normal(size).astype(np.float32)
            b_np = rng.standard_normal(size).astype(np.float32)
            libs = [("tessel", ts.from_numpy(a_np.copy()), ts.from_numpy(b_np.copy()))]
            if torch is not None:
                libs.append(("torch", torch.from_numpy(a_np.copy()), torch.from_numpy(b_np.copy())))
            libs.append(("numpy", a_np, b_np))

            times = {}
            for name, a, b in libs:
                common.check_close(f"{name} a + b (n={size})", np.asarray(a + b), a_np + b_np,
                                   notes=rep.notes)
                times[name] = common.measure_stmt("a + b", {"a": a, "b": b},
                                                  repeat=repeat, number=number)
            t_np = times["numpy"].median_ns
            t_torch = times["torch"].median_ns if "torch" in times else None
            for name in ("tessel", "torch", "numpy"):
                if name not in times:
                    rows.append([size, name, "n/a", "", "n/a", "n/a"])
                    continue
                t = times[name]
                r_np = common.ratio(t.median_ns, t_np)
                r_torch = common.ratio(t.median_ns, t_torch)
                rows.append([size, name, f"{t.median_ns:.1f}", f"{100 * t.spread:.0f}%",
                             common.fmt_ratio(r_np), common.fmt_ratio(r_torch)])
                rep.results.append({"size": size, "library": name, "threads": n_threads,
                                    "ns_per_op": t.median_ns, "ratio_vs_numpy": r_np,
                                    "ratio_vs_torch": r_torch, "timing": t.to_dict()})
            rows.append(None)

            t_ts = times["tessel"].median_ns
            r_torch = common.ratio(t_ts, t_torch)
            if r_torch is None:
                g = "n/a (PyTorch not installed)"
            else:
                g = f"tessel/torch = {r_torch:.2f}x -> {'MET' if r_torch <= 1.0 else 'NOT MET'}"
            goal_lines.append(f"  {n_threads} thr, n={size:<5} goal tessel <= PyTorch: {g}")
            goal_lines.append(f"  {n_threads} thr, n={size:<5} aim  tessel -> NumPy  : "
                              f"tessel/numpy = {common.ratio(t_ts, t_np):.2f}x "
                              f"({t_ts - t_np:+.0f} ns/op vs NumPy)")
        common.print_table(["size", "library", "ns/op", "spread", "vs numpy", "vs torch"],
                           rows[:-1], title=f"a + b, float32, {n_threads} thread(s)")

    print("\nGoals (tessel <= PyTorch, aiming at NumPy):")
    for g in goal_lines:
        print(g)
    rep.write(args.json)


if __name__ == "__main__":
    main()
