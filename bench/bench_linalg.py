#!/usr/bin/env python3
"""ts.linalg factorizations side by side: tessel vs NumPy vs SciPy (vs PyTorch when importable).

solve (A X = B with 16 right-hand sides), cholesky, qr (reduced), svd (reduced, U S Vh) and eigh (values and
vectors) on one float64 matrix of n = 64, 256, 1024 (1024 skipped with --quick), with 1 and 2 threads.
Reports the median ms per call of each library and tessel's time ratio to the fastest other one (below
1.00x: tessel is faster). Every tessel result is checked against NumPy first.

Each library runs in a process of its own (`--same-process` runs them all in this one): thread pools of
several libraries in one process disturb each other on 2 cores (an idle pool that spins takes the core the
next library's second thread needs; tessel's eigh at n = 1024 on 2 threads measured 199 ms next to PyTorch's
pool and 133 ms alone). The workers' environment (common.worker_env) keeps NumPy's BLAS pool out of
the processes of tessel and PyTorch, where NumPy only makes inputs and checks results.

    .venv/bin/python bench/bench_linalg.py [--quick] [--json PATH] [--threads 1,2] [--dtype float32]
    # with PyTorch's column: run under a Python that has torch, tessel on its path
    PYTHONPATH=/tmp/tessel-dev-linalg /opt/torchref/bin/python bench/bench_linalg.py
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402

OPS = ["solve", "cholesky", "qr", "svd", "eigh"]


def inputs(op, n, dtype, rng):
    A = rng.standard_normal((n, n))
    if op in ("cholesky", "eigh"):
        A = A @ A.T + n * np.eye(n)
    if op == "solve":
        A = A + n ** 0.5 * np.eye(n)
        return A.astype(dtype), rng.standard_normal((n, 16)).astype(dtype)
    return (A.astype(dtype),)


def linalg_fns(L):
    """The ops through a torch.linalg-style module (ts.linalg and torch.linalg share the names)."""
    return {
        "solve": lambda A, B: L.solve(A, B),
        "cholesky": lambda A: L.cholesky(A),
        "qr": lambda A: L.qr(A),
        "svd": lambda A: L.svd(A, full_matrices=False),
        "eigh": lambda A: L.eigh(A),
    }


def tessel_fns(ts):
    return linalg_fns(ts.linalg)


def numpy_fns():
    return {
        "solve": np.linalg.solve,
        "cholesky": np.linalg.cholesky,
        "qr": lambda A: np.linalg.qr(A),
        "svd": lambda A: np.linalg.svd(A, full_matrices=False),
        "eigh": np.linalg.eigh,
    }


def scipy_fns():
    try:
        import scipy.linalg as sla
    except Exception:
        return None
    return {
        "solve": lambda A, B: sla.solve(A, B, check_finite=False),
        "cholesky": lambda A: sla.cholesky(A, lower=True, check_finite=False),
        "qr": lambda A: sla.qr(A, mode="economic", check_finite=False),
        "svd": lambda A: sla.svd(A, full_matrices=False, check_finite=False),
        "eigh": lambda A: sla.eigh(A, check_finite=False),
    }


def torch_fns(torch):
    return linalg_fns(torch.linalg)


def check(op, ts_out, args, notes):
    # values that do not depend on sign/phase choices
    if op == "solve":
        got, ref = ts_out.numpy(), np.linalg.solve(*args)
    elif op == "cholesky":
        got, ref = ts_out.numpy(), np.linalg.cholesky(args[0])
    elif op == "qr":
        got, ref = (ts_out[0] @ ts_out[1]).numpy(), args[0]
    elif op == "svd":
        got, ref = ts_out[1].numpy(), np.linalg.svd(args[0], compute_uv=False)
    else:
        got, ref = ts_out[0].numpy(), np.linalg.eigvalsh(args[0])
    scale = max(1.0, float(np.abs(ref).max()))
    tol = 1e-3 if args[0].dtype == np.float32 else 1e-8
    return common.check_close(f"{op}", got / scale, ref / scale, rtol=tol, atol=tol, notes=notes)


def main():
    p = common.base_parser("ts.linalg vs NumPy/SciPy/PyTorch")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--sizes", default=None, help="comma-separated n (default 64,256,1024)")
    p.add_argument("--same-process", action="store_true",
                   help="time every library in this process (default: one process per library)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # one library, in a child process
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([64, 256] if args.quick else [64, 256, 1024])
    dtype = np.dtype(args.dtype)
    if args.worker:  # one library's times, as JSON on the last line of stdout; it alone is imported
        ts = common.import_tessel() if args.worker == "tessel" else None
        torch = common.import_torch() if args.worker == "torch" else None
        fns = {"tessel": lambda: tessel_fns(ts), "numpy": numpy_fns, "scipy": scipy_fns,
               "torch": lambda: torch_fns(torch)}[args.worker]()
        times, notes = measure_all(args, ts, torch, {args.worker: fns}, sizes, dtype,
                                   numpy_blas=args.worker in ("numpy", "scipy"))
        print(json.dumps({"times": {"|".join(map(str, k)): v for k, v in times.items()}, "notes": notes}))
        return
    ts = common.import_tessel()
    torch = common.import_torch()
    libs = {"tessel": tessel_fns(ts), "numpy": numpy_fns()}
    if (s := scipy_fns()) is not None:
        libs["scipy"] = s
    if torch is not None:
        libs["torch"] = torch_fns(torch)
    report = common.start("bench_linalg.py", "factorizations, median ms per call", args, np, ts, torch)
    report.settings = {"dtype": args.dtype, "sizes": sizes, "libraries": list(libs), "solve_rhs": 16,
                       "isolation": "same process" if args.same_process else "one process per library"}
    if args.same_process:
        times, notes = measure_all(args, ts, torch, libs, sizes, dtype)
        report.notes.extend(notes)
    else:
        times = {}
        for name in libs:
            cmd = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--worker", name]
            env = common.worker_env(numpy_is_helper=name in ("tessel", "torch"))
            out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                                 env=env).stdout.strip().splitlines()[-1]
            got = json.loads(out)
            report.notes.extend(got["notes"])
            for k, v in got["times"].items():
                nt, op, n, lib = k.split("|")
                times[(int(nt), op, int(n), lib)] = v
    threads = common.Threads(np, ts, torch)
    for nt in common.parse_threads(args.threads):
        if args.same_process:
            print(threads.describe(nt))
        rows = []
        for op in OPS:
            for n in sizes:
                t = {k: times[(nt, op, n, k)] for k in libs}
                others = {k: v for k, v in t.items() if k != "tessel"}
                best = min(others, key=others.get)
                r = common.ratio(t["tessel"], others[best])
                rows.append([f"{op} n={n}"] + [common.fmt(t[k] / 1e6, ".3f") for k in libs]
                            + [f"{common.fmt_ratio(r)} vs {best}"])
                report.results.append({"op": op, "n": n, "threads": nt, "dtype": args.dtype,
                                       "ms": {k: v / 1e6 for k, v in t.items()}, "ratio_vs_fastest": r,
                                       "fastest_other": best})
            rows.append(None)
        common.print_table(["op"] + [f"{k} ms" for k in libs] + ["tessel / fastest"], rows[:-1],
                           title=f"{args.dtype}, {nt} thread(s)"
                           + ("" if args.same_process else ", each library in a process of its own"))
    report.write(args.json)


def measure_all(args, ts, torch, libs, sizes, dtype, numpy_blas=True):
    """{(threads, op, n, library): median ns} for the given libraries; the inputs are the same in every
    process (one seeded generator, drawn in the same order)."""
    threads = common.Threads(np, ts, torch, numpy_blas=numpy_blas)
    rng = np.random.default_rng(0)
    times, notes = {}, []
    for nt in common.parse_threads(args.threads):
        threads.set(nt)
        for op in OPS:
            for n in sizes:
                args_np = inputs(op, n, dtype, rng)
                per_lib = {"tessel": lambda: tuple(ts.tensor(a) for a in args_np), "numpy": lambda: args_np,
                           "scipy": lambda: args_np, "torch": lambda: tuple(torch.from_numpy(a) for a in args_np)}
                if "tessel" in libs:
                    a = per_lib["tessel"]()
                    check(op, libs["tessel"][op](*a), args_np, notes)
                repeat = 3 if args.quick else (5 if n >= 1024 else 9)
                target = 0.02 if args.quick else (0.2 if n >= 1024 else 0.05)
                for name, fns in libs.items():
                    a = per_lib[name]()
                    f = fns[op]
                    times[(nt, op, n, name)] = common.measure(lambda: f(*a), repeat=repeat, warmup=1,
                                                              target_s=target).median_ns
    return times, notes


if __name__ == "__main__":
    main()
