#!/usr/bin/env python3
"""float32 square matmul: tessel (a @ b) vs NumPy vs PyTorch vs oneDNN direct.

Sizes n = 256, 1024, 2048 (2048 skipped with --quick), with 1 and 2 threads.
Reports ms per call, GFLOP/s (2 n^3 / t), time ratios against each reference,
and % of the machine's FMA peak. The peak is *measured* in the same run by
bench/fma_peak.cpp (compiled on the fly with g++ -O3 -march=native -fopenmp
into a temp dir), at the same thread count as the row.

"oneDNN direct" is a separate C++ program, bench/cpp/matmul_dnnl (provided
separately): called as `matmul_dnnl N THREADS`, it prints the time per call
in ms. Until it is built its column reads "n/a (build bench/cpp)".

    .venv/bin/python bench/bench_matmul.py [--quick] [--json PATH] [--threads 1,2]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FMA_SRC = os.path.join(HERE, "fma_peak.cpp")
# PLACEHOLDER: oneDNN direct reference, built from bench/cpp by another engineer.
# Built by `cmake -DTESSEL_BUILD_BENCH=ON` (make bench) into build/bench/.
DNNL_EXE = os.environ.get("TESSEL_DNNL_BENCH", os.path.join(HERE, "..", "build", "bench", "matmul_dnnl"))
DNNL_MISSING = "n/a (build bench/cpp)"


# --------------------------------------------------------------------------
# FMA peak


def print_fma_peak(peaks, peak_info, thread_counts):
    for t in thread_counts:
        if t in peaks:
            print(f"FMA peak: {peaks[t]:.1f} GFLOP/s with {t} thread(s), measured now by "
                  f"bench/fma_peak.cpp ({peak_info['width_floats']}-float vectors, "
                  f"{peak_info['accumulators']} chains)")


def measure_fma_peak(thread_counts, seconds, notes):
    """{threads: GFLOP/s} measured by fma_peak.cpp; missing entries mean unknown."""
    peaks = {}
    gxx = shutil.which("g++")
    if gxx is None:
        notes.append("g++ not found: FMA peak not measured, % of peak skipped")
        print(notes[-1])
        return peaks, None
    with tempfile.TemporaryDirectory(prefix="tessel_fma_") as tmp:
        exe = os.path.join(tmp, "fma_peak")
        cmd = None
        for flags in (["-fopenmp"], []):
            c = [gxx, "-O3", "-march=native", *flags, "-o", exe, FMA_SRC]
            r = subprocess.run(c, capture_output=True, text=True)
            if r.returncode == 0:
                cmd = " ".join(c[1:-3])
                if not flags:
                    notes.append("fma_peak built without OpenMP: peak known for 1 thread only")
                    print(notes[-1])
                break
        else:
            notes.append(f"fma_peak.cpp failed to compile: {r.stderr.strip()[:300]}")
            print(notes[-1])
            return peaks, None
        info = None
        for t in thread_counts:
            try:
                r = subprocess.run([exe, str(t), str(seconds), "3"], capture_output=True,
                                   text=True, timeout=120)
            except subprocess.TimeoutExpired:
                notes.append(f"fma_peak {t} thread(s): timed out")
                print(notes[-1])
                continue
            m = re.search(r"gflops=([0-9.]+)", r.stdout)
            if r.returncode != 0 or not m:
                notes.append(f"fma_peak {t} thread(s) failed: {(r.stderr or r.stdout).strip()[:200]}")
                print(notes[-1])
                continue
            peaks[t] = float(m.group(1))
            w = re.search(r"width=(\d+) accumulators=(\d+)", r.stdout)
            info = {"compile": f"g++ {cmd}", "width_floats": int(w.group(1)) if w else None,
                    "accumulators": int(w.group(2)) if w else None}
    return peaks, info


# --------------------------------------------------------------------------
# oneDNN direct (placeholder until bench/cpp exists)


def dnnl_ms(n, threads):
    """ms per call from bench/cpp/matmul_dnnl, or a string saying why not."""
    if not (os.path.isfile(DNNL_EXE) and os.access(DNNL_EXE, os.X_OK)):
        return DNNL_MISSING
    try:
        r = subprocess.run([DNNL_EXE, str(n), str(threads)], capture_output=True, text=True,
                           timeout=600)
    except subprocess.TimeoutExpired:
        return "error (timeout)"
    nums = re.findall(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?", r.stdout)
    if r.returncode != 0 or not nums:
        return f"error (rc={r.returncode})"
    return float(nums[-1])  # the program prints the time per call in ms


# --------------------------------------------------------------------------


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=None,
                   help="comma-separated n (default 256,1024,2048; --quick 256,1024)")
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    sizes = ([int(s) for s in args.sizes.split(",") if s.strip()] if args.sizes
             else ([256, 1024] if args.quick else [256, 1024, 2048]))

    ts = common.import_tessel()
    torch = common.import_torch()
    rep = common.start("bench_matmul", "float32 square matmul, a @ b", args, np, ts, torch)
    th = common.Threads(np, ts, torch)
    print(f"numpy threads: {th.numpy_method}")
    target_s = 0.03 if args.quick else 0.1

    def repeats(n):
        return 3 if args.quick else (7 if n <= 256 else 5)

    reps = "3 samples" if args.quick else "7 samples (n <= 256) or 5 (larger n)"
    print(f"timing  : median of {reps} (~{target_s} s each, calls per sample calibrated), "
          "1 warm-up sample, time.perf_counter_ns")
    print("ratios  : time ratios, row library / reference (<1.00x: row library faster); "
          "GFLOP/s = 2 n^3 / t")

    peaks, peak_info = measure_fma_peak(threads, 0.1 if args.quick else 0.2, rep.notes)
    print_fma_peak(peaks, peak_info, threads)
    dnnl_present = os.path.isfile(DNNL_EXE) and os.access(DNNL_EXE, os.X_OK)
    print(f"oneDNN  : {'build/bench/matmul_dnnl found' if dnnl_present else DNNL_MISSING}")
    rep.settings = {"sizes": sizes, "threads": threads, "dtype": "float32", "op": "a @ b",
                    "numpy_thread_control": th.numpy_method, "fma_peak_gflops": peaks,
                    "fma_peak_build": peak_info, "dnnl_exe": DNNL_EXE if dnnl_present else None}

    rng = np.random.default_rng(0)
    rows = []
    for n in sizes:
        a_np = rng.standard_normal((n, n), dtype=np.float32)
        b_np = rng.standard_normal((n, n), dtype=np.float32)
        ref = a_np @ b_np
        libs = [("tessel", ts.from_numpy(a_np), ts.from_numpy(b_np))]
        if torch is not None:
            libs.append(("torch", torch.from_numpy(a_np), torch.from_numpy(b_np)))
        libs.append(("numpy", a_np, b_np))
        flop = 2.0 * n ** 3
        for t in threads:
            th.set(t)
            print(f"n={n}: " + th.describe(t))
            ms = {}
            timings = {}
            for name, a, b in libs:
                common.check_close(f"{name} matmul n={n}", np.asarray(a @ b), ref,
                                   rtol=1e-3, atol=1e-3 * n ** 0.5, notes=rep.notes)
                tm = common.measure(lambda a=a, b=b: a @ b, repeat=repeats(n), target_s=target_s)
                timings[name] = tm
                ms[name] = tm.median_ns / 1e6
            d = dnnl_ms(n, t)
            if not isinstance(d, str):
                ms["oneDNN"] = d
            order = ["tessel", "torch", "numpy", "oneDNN"]
            for name in order:
                if name not in ms:
                    why = d if name == "oneDNN" else "n/a (not installed)"
                    rows.append([n, t, name, "n/a", "", "", "", "", "", why])
                    rep.results.append({"n": n, "threads": t, "library": name, "ms": None,
                                        "note": why})
                    continue
                v = ms[name]
                gf = flop / (v * 1e-3) / 1e9
                pk = 100.0 * gf / peaks[t] if t in peaks else None
                r_np = common.ratio(v, ms.get("numpy"))
                r_torch = common.ratio(v, ms.get("torch"))
                r_dnnl = common.ratio(v, ms.get("oneDNN"))
                rows.append([n, t, name, f"{v:.3f}", f"{gf:.1f}", common.fmt(pk, ".1f"),
                             common.fmt_ratio(r_np), common.fmt_ratio(r_torch),
                             common.fmt_ratio(r_dnnl), ""])
                rep.results.append({"n": n, "threads": t, "library": name, "ms": v, "gflops": gf,
                                    "pct_of_fma_peak": pk, "ratio_vs_numpy": r_np,
                                    "ratio_vs_torch": r_torch, "ratio_vs_onednn": r_dnnl,
                                    "timing": timings[name].to_dict() if name in timings else None})
            rows.append(None)

    common.print_table(["n", "thr", "library", "ms/call", "GFLOP/s", "%peak",
                        "vs numpy", "vs torch", "vs oneDNN", "note"], rows[:-1],
                       title="float32 matmul a @ b (%peak: of the FMA peak measured above at the "
                             "same thread count)")
    rep.write(args.json)


if __name__ == "__main__":
    main()
