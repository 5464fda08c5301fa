"""Shared helpers for the tessel benchmarks in bench/.

Every benchmark script compares tessel against named references (NumPy,
PyTorch, ...) measured side by side in the same process, and reports ratios.
This module holds what the scripts share:

* machine description (CPU model from /proc/cpuinfo, core counts, versions);
* thread control applied consistently to tessel, PyTorch and NumPy's BLAS;
* timing with time.perf_counter_ns, warm-up runs and the median of repeats;
* a compact text table and the optional JSON dump (--json PATH).

Ratios are always *time* ratios, ``time(row library) / time(reference)``:
below 1.00 means the row's library is faster than the reference.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
import statistics
import sys
import time
import timeit
from dataclasses import dataclass, field

# --------------------------------------------------------------------------
# command line


def base_parser(description: str, default_threads: str = "1,2") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats and sizes (smoke test; figures not meaningful)")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write the results as JSON to PATH")
    p.add_argument("--threads", default=default_threads,
                   help=f"comma-separated thread counts (default: {default_threads})")
    return p


def parse_threads(text: str) -> list[int]:
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        n = int(part)
        if n < 1:
            raise SystemExit(f"--threads: thread counts must be >= 1, got {n}")
        if n not in out:
            out.append(n)
    if not out:
        raise SystemExit("--threads: no thread count given")
    return out


# --------------------------------------------------------------------------
# libraries


def import_tessel():
    try:
        import tessel as ts
    except Exception as e:  # the library under test: without it there is nothing to do
        raise SystemExit(f"cannot import tessel ({type(e).__name__}: {e}); "
                         "install it into .venv first (see README.md)")
    return ts


def worker_env(numpy_is_helper: bool) -> dict:
    """The environment for a child process that times one library (bench_linalg.py's workers).

    numpy_is_helper: NumPy only makes inputs and checks results there, so its OpenBLAS starts no pool
    (OPENBLAS_NUM_THREADS=1). Its pool of pthreads spins after NumPy's import and after each of its calls,
    on the cores the library under test needs: tessel's 2-thread qr at n = 1024 took 118-125 ms in the
    half second after NumPy's import or a NumPy call and 75 ms two seconds later, or at once with
    OPENBLAS_NUM_THREADS=1 (a /tmp script, one process)."""
    env = dict(os.environ)
    if numpy_is_helper:
        env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def import_torch():
    """PyTorch is an optional, bench-only dependency: return None when missing."""
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install (OSError on a .so)
        print(f"PyTorch is not installed ({type(e).__name__}: {e}): "
              "its columns are skipped (.venv/bin/pip install torch to enable)")
        return None
    return torch


# --------------------------------------------------------------------------
# machine description


def _cpuinfo() -> dict:
    info = {"model": None, "physical_cores": None, "flags": set()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return info
    cores = set()
    phys = core = None
    for line in text.splitlines():
        if ":" not in line:
            if phys is not None or core is not None:
                cores.add((phys, core))
            phys = core = None
            continue
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key == "model name" and info["model"] is None:
            info["model"] = val
        elif key == "physical id":
            phys = val
        elif key == "core id":
            core = val
        elif key == "flags" and not info["flags"]:
            info["flags"] = set(val.split())
    if phys is not None or core is not None:
        cores.add((phys, core))
    if cores:
        info["physical_cores"] = len(cores)
    return info


def numpy_blas_name(np) -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown"


def machine_info(np=None, ts=None, torch=None) -> dict:
    cpu = _cpuinfo()
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    simd = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
            if f in cpu["flags"]]
    try:
        load = tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        load = None
    m = {
        "cpu_model": cpu["model"] or platform.processor() or "unknown",
        "logical_cpus": os.cpu_count(),
        "physical_cores": cpu["physical_cores"],
        "cpus_in_affinity": affinity,
        "simd": simd,
        "loadavg": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    if np is not None:
        m["numpy"] = np.__version__
        m["numpy_blas"] = numpy_blas_name(np)
    if ts is not None:
        m["tessel"] = getattr(ts, "__version__", "unknown")
        m["tessel_path"] = os.path.dirname(getattr(ts, "__file__", "") or "")
    m["torch"] = getattr(torch, "__version__", None) if torch is not None else None
    return m


def print_machine(m: dict) -> None:
    print(f"machine : {m['cpu_model']}, {m['logical_cpus']} logical CPUs, "
          f"{m['physical_cores'] or '?'} physical cores, "
          f"{m['cpus_in_affinity'] or '?'} usable (affinity); SIMD: {' '.join(m['simd']) or '?'}")
    if m.get("loadavg") is not None:
        print(f"load    : {m['loadavg'][0]} {m['loadavg'][1]} {m['loadavg'][2]} "
              "(1/5/15 min; a busy machine makes figures noisy)")
    print(f"software: Python {m['python']}, tessel {m.get('tessel')}, "
          f"NumPy {m.get('numpy')} ({m.get('numpy_blas')}), "
          f"PyTorch {m['torch'] if m['torch'] else 'not installed'}")


# --------------------------------------------------------------------------
# threads


class _OpenBLASCtypes:
    """Fallback for NumPy's BLAS thread count when threadpoolctl is missing:
    call OpenBLAS's own set/get functions in every OpenBLAS loaded (NumPy's and
    SciPy's wheels each bring one; setting only NumPy's left SciPy's qr at
    n = 1024 on 2 threads in a "1 thread" row, 82 ms against 124 on one)."""

    _SET = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
    _GET = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")

    def __init__(self):
        self.set_fn = self.get_fn = None
        self.path = None
        try:
            with open("/proc/self/maps") as f:
                paths = sorted({line.split()[-1] for line in f
                                if "openblas" in line.lower() and line.split()[-1].startswith("/")})
        except OSError:
            return
        found = []
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for s, g in zip(self._SET, self._GET):
                if hasattr(lib, s) and hasattr(lib, g):
                    set_fn, get_fn = getattr(lib, s), getattr(lib, g)
                    set_fn.argtypes, set_fn.restype = [ctypes.c_int], None
                    get_fn.argtypes, get_fn.restype = [], ctypes.c_int
                    found.append((path, set_fn, get_fn))
                    break
        if found:
            self.path = ", ".join(os.path.basename(p) for p, _, _ in found)

            def set_all(n):
                for _, set_one, _ in found:
                    set_one(n)
            self.set_fn = set_all
            self.get_fn = lambda: min(g() for _, _, g in found)

    @property
    def ok(self) -> bool:
        return self.set_fn is not None


class Threads:
    """Sets the same thread count on tessel, PyTorch and NumPy's BLAS.

    NumPy's own ufuncs and reductions are single-threaded whatever the
    setting: the thread count only reaches its BLAS (matmul)."""

    def __init__(self, np, ts, torch=None, numpy_blas=True):
        """numpy_blas=False: NumPy only makes inputs and checks results in this process (a worker
        timing another library, started with OPENBLAS_NUM_THREADS=1): its BLAS is left alone."""
        self.np, self.ts, self.torch = np, ts, torch
        self._limits = None
        self._tpc = None
        self._ctypes = None
        if not numpy_blas:
            self.numpy_method = "NumPy's BLAS is a helper here and left at its start-up setting"
            return
        try:
            import threadpoolctl
            self._tpc = threadpoolctl
            self.numpy_method = "threadpoolctl"
        except Exception:
            self._ctypes = _OpenBLASCtypes()
            if self._ctypes.ok:
                self.numpy_method = ("threadpoolctl not installed; OpenBLAS set_num_threads via "
                                     f"ctypes ({self._ctypes.path})")
            else:
                self._ctypes = None
                self.numpy_method = ("threadpoolctl not installed and no OpenBLAS found: NumPy's "
                                     "BLAS threads are NOT controlled (set OPENBLAS_NUM_THREADS/"
                                     "OMP_NUM_THREADS before starting Python)")

    def set(self, n: int) -> None:
        if self.ts is not None:  # None: a process that times other libraries only
            self.ts.set_num_threads(n)
        if self.torch is not None:
            self.torch.set_num_threads(n)
        if self._tpc is not None:
            # BLAS only: leave the OpenMP runtimes to tessel's and torch's own setters
            self._limits = self._tpc.threadpool_limits(limits=n, user_api="blas")
        elif self._ctypes is not None:
            self._ctypes.set_fn(n)

    def numpy_threads(self):
        if self._tpc is not None:
            counts = sorted({d["num_threads"] for d in self._tpc.threadpool_info()
                             if d.get("user_api") == "blas"})
            return counts[0] if len(counts) == 1 else (counts or None)
        if self._ctypes is not None:
            return int(self._ctypes.get_fn())
        return None

    def report(self) -> dict:
        return {
            "tessel": self.ts.get_num_threads(),
            "torch": self.torch.get_num_threads() if self.torch is not None else None,
            "numpy_blas": self.numpy_threads(),
        }

    def describe(self, n: int) -> str:
        r = self.report()
        torch_s = r["torch"] if r["torch"] is not None else "n/a"
        np_s = r["numpy_blas"] if r["numpy_blas"] is not None else "uncontrolled"
        return (f"threads : requested {n} -> tessel {r['tessel']}, PyTorch {torch_s}, "
                f"NumPy BLAS {np_s} (NumPy ufuncs/reductions always 1)")


# --------------------------------------------------------------------------
# timing


@dataclass
class Timing:
    """Per-call times in ns, one entry per sample (each sample averages `number` calls)."""
    samples_ns: list
    number: int
    warmup: int

    @property
    def median_ns(self) -> float:
        return statistics.median(self.samples_ns)

    @property
    def min_ns(self) -> float:
        return min(self.samples_ns)

    @property
    def spread(self) -> float:
        """(max - min) / median: a rough noise indicator."""
        m = self.median_ns
        return (max(self.samples_ns) - min(self.samples_ns)) / m if m else 0.0

    def to_dict(self) -> dict:
        return {"median_ns": self.median_ns, "min_ns": self.min_ns, "spread": self.spread,
                "repeats": len(self.samples_ns), "number": self.number, "warmup": self.warmup,
                "samples_ns": list(self.samples_ns)}


def _sample(fn, number: int) -> int:
    t0 = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return time.perf_counter_ns() - t0


def autonumber(fn, target_s: float, max_number: int = 1_000_000) -> int:
    """Calls per sample so that one sample takes about target_s (at least 1)."""
    number = 1
    while number < max_number:
        dt = _sample(fn, number)
        if dt >= target_s * 1e9:
            break
        per_call = max(dt / number, 1.0)
        want = int(1.1 * target_s * 1e9 / per_call) + 1
        number = min(max_number, max(2 * number, min(want, 100 * number)))
    return number


def measure(fn, *, repeat: int, number: int | None = None, warmup: int = 1,
            target_s: float = 0.05) -> Timing:
    """Median-of-repeats timing of fn() with time.perf_counter_ns.

    warmup whole samples are run and discarded first; number (calls per
    sample) is calibrated to about target_s per sample when not given."""
    if number is None:
        fn()  # first call: allocation, lazy init, page faults
        number = autonumber(fn, target_s)
    for _ in range(warmup):
        _sample(fn, number)
    samples = [_sample(fn, number) / number for _ in range(repeat)]
    return Timing(samples, number, warmup)


def measure_stmt(stmt: str, env: dict, *, repeat: int, number: int, warmup: int = 1) -> Timing:
    """Like measure() for tiny statements: timeit's compiled loop, no Python
    call wrapper around the statement; the timer is time.perf_counter_ns."""
    timer = timeit.Timer(stmt, globals=dict(env), timer=time.perf_counter_ns)
    if warmup:
        timer.repeat(repeat=warmup, number=number)
    samples = [t / number for t in timer.repeat(repeat=repeat, number=number)]
    return Timing(samples, number, warmup)


# --------------------------------------------------------------------------
# output


def ratio(t, ref):
    """time ratio t/ref, or None when either is missing."""
    if t is None or ref is None or ref == 0:
        return None
    return t / ref


def fmt(x, spec: str = ".2f", none: str = "n/a") -> str:
    if x is None:
        return none
    if isinstance(x, str):
        return x
    return format(x, spec)


def fmt_ratio(x) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def print_table(headers: list, rows: list, title: str | None = None) -> None:
    """Compact text table: first column left-aligned, the others right-aligned.
    A row that is None prints as a blank separator line."""
    cells = [[str(c) for c in r] for r in rows if r is not None]
    widths = [len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))

    def line(r):
        return "  ".join((c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]))
                         for i, c in enumerate(r)).rstrip()

    if title:
        print()
        print(title)
    print(line([str(h) for h in headers]))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("" if r is None else line([str(c) for c in r]))


def check_close(label: str, got, ref, *, rtol: float = 1e-3, atol: float = 1e-4, notes=None) -> bool:
    """Sanity check that a benchmarked result is right; prints and records a failure."""
    import numpy as np
    g = np.asarray(got, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    ok = g.shape == r.shape and bool(np.allclose(g, r, rtol=rtol, atol=atol))
    if not ok:
        err = float(np.max(np.abs(g - r))) if g.shape == r.shape else f"shape {g.shape} vs {r.shape}"
        msg = f"CHECK FAILED: {label} differs from the reference (max abs err {err})"
        print(msg)
        if notes is not None:
            notes.append(msg)
    return ok


@dataclass
class Report:
    """Collects what goes to --json: machine, settings, result rows, notes."""
    script: str
    quick: bool
    machine: dict
    settings: dict = field(default_factory=dict)
    results: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def note(self, msg: str, echo: bool = True) -> None:
        self.notes.append(msg)
        if echo:
            print(msg)

    def finish(self, path: str | None) -> None:
        """Says whether any correctness check failed (the figures are then not comparable) and writes --json."""
        failed = [n for n in self.notes if n.startswith("CHECK FAILED")]
        if failed:
            print(f"\n{len(failed)} correctness check(s) FAILED: the figures above are not comparable")
        self.write(path)

    def write(self, path: str | None) -> None:
        if not path:
            return
        payload = {
            "script": self.script,
            "argv": sys.argv[1:],
            "quick": self.quick,
            "timestamp": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": self.machine,
            "settings": self.settings,
            "results": self.results,
            "notes": self.notes,
        }
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            json.dump(payload, f, indent=2, default=str)
            f.write("\n")
        print(f"\nJSON written to {path}")


def start(script: str, description: str, args, np, ts, torch) -> Report:
    """Prints the common header and returns the Report to fill."""
    m = machine_info(np=np, ts=ts, torch=torch)
    print(f"== {script}: {description}")
    print_machine(m)
    if args.quick:
        print("mode    : --quick (smoke test: few repeats, figures are not meaningful)")
    return Report(script=script, quick=bool(args.quick), machine=m)
