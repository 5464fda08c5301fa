#!/usr/bin/env python3
"""ts.fft vs NumPy (pocketfft), SciPy (pocketfft, workers=1) and PyTorch, side by side.

Workloads (complex64 / float32 unless named; each at every thread count of --threads, default 1,2):

  fft      [256, 1024]           batched power of two along the last dim
  fft      [64, 1000]            mixed radix (2^3 5^3)
  fft      [64, 1009]            prime length (Bluestein in tessel)
  fft      [1, 65536]            one long signal
  fft c128 [256, 1024]           complex128
  fft dim0 [1024, 256]           along the first dim (strided)
  ifft     [256, 1024]
  rfft     [256, 1024] float32,  irfft back; rfft / irfft of one 2^20-sample signal
  fft2     [16, 256, 256],       rfft2 float32 [16, 256, 256]
  fftn     [64, 64, 64]

NumPy and SciPy run single-threaded whatever the setting (pocketfft; NumPy 2
computes float32 natively). "speed" = time(reference) / time(tessel): above
1.00x tessel is faster. Each result is checked against numpy.fft in float64.

    .venv/bin/python bench/bench_fft.py [--quick] [--json PATH] [--threads 1,2]
    # with PyTorch (outside the project venv):
    PYTHONPATH=/tmp/tessel-dev-fft TESSEL_BUILD_DIR=build /opt/torchref/bin/python bench/bench_fft.py
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import common  # noqa: E402


def cnoise(shape, dtype=np.complex64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


def rnoise(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def workloads(quick):
    """(label, input array, tessel fn, numpy fn (also the float64 oracle), scipy fn name, torch fn)."""
    W = []

    def add(label, x, name, kw_ts=None, kw_np=None, kw_torch=None):
        W.append((label, x, name, kw_ts or {}, kw_np or {}, kw_torch or {}))

    add("fft [256, 1024]", cnoise((256, 1024)), "fft")
    add("fft [64, 1000]", cnoise((64, 1000)), "fft")
    add("fft [64, 1009] prime", cnoise((64, 1009)), "fft")
    add("fft [1, 65536]", cnoise((1, 65536)), "fft")
    add("fft c128 [256, 1024]", cnoise((256, 1024), np.complex128), "fft")
    add("fft dim0 [1024, 256]", cnoise((1024, 256)), "fft", {"dim": 0}, {"axis": 0}, {"dim": 0})
    add("ifft [256, 1024]", cnoise((256, 1024)), "ifft")
    add("rfft f32 [256, 1024]", rnoise((256, 1024)), "rfft")
    add("irfft [256, 513]", np.fft.rfft(rnoise((256, 1024))).astype(np.complex64), "irfft")
    add("rfft f32 [1, 2^20]", rnoise((1, 1 << 20)), "rfft")
    add("irfft [1, 2^19 + 1]", np.fft.rfft(rnoise((1, 1 << 20))).astype(np.complex64), "irfft")
    if not quick:
        add("fft2 [16, 256, 256]", cnoise((16, 256, 256)), "fft2")
        add("rfft2 f32 [16, 256, 256]", rnoise((16, 256, 256)), "rfft2")
        add("fftn [64, 64, 64]", cnoise((64, 64, 64)), "fftn")
    return W


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    repeat = 3 if args.quick else 7
    target_s = 0.02 if args.quick else 0.1

    ts = common.import_tessel()
    torch = common.import_torch()
    try:
        import scipy.fft as sfft
    except Exception:
        sfft = None
    rep = common.start("bench_fft", "ts.fft vs numpy.fft / scipy.fft / torch.fft", args, np, ts, torch)
    th = common.Threads(np, ts, torch)
    print(f"timing  : median of {repeat} samples (~{target_s} s each), 1 warm-up sample")
    print("ratios  : 'speed' = time(reference) / time(tessel) (>1.00x: tessel faster)")
    rep.settings = {"threads": threads, "repeat": repeat, "target_s": target_s}

    W = workloads(args.quick)
    refs = {}
    for label, x, name, _, kw_np, _ in W:  # float64 oracles, once
        wide = x.astype(np.complex128 if np.iscomplexobj(x) else np.float64)
        refs[label] = getattr(np.fft, name)(wide, **kw_np)

    rows = []
    for t in threads:
        th.set(t)
        print("\n" + th.describe(t))
        for label, x, name, kw_ts, kw_np, kw_torch in W:
            x_ts = ts.from_numpy(x)
            cases = [("tessel", lambda: getattr(ts.fft, name)(x_ts, **kw_ts)),
                     ("numpy", lambda: getattr(np.fft, name)(x, **kw_np))]
            if sfft is not None:
                cases.append(("scipy", lambda: getattr(sfft, name)(x, **kw_np)))
            if torch is not None:
                x_t = torch.from_numpy(x)
                cases.append(("torch", lambda: getattr(torch.fft, name)(x_t, **kw_torch)))
            ms = {}
            for lib, fn in cases:
                got = np.asarray(fn())
                ref = refs[label]
                common.check_close(f"{label}/{lib}", np.stack([got.real, got.imag]), np.stack([ref.real, ref.imag]),
                                   rtol=1e-3, atol=1e-3 * float(np.abs(ref).max()), notes=rep.notes)
                ms[lib] = common.measure(fn, repeat=repeat, target_s=target_s).median_ns / 1e6
            fastest = min((v, k) for k, v in ms.items() if k != "tessel")
            row = [label, t, f"{ms['tessel']:.3f}"]
            for lib in ("numpy", "scipy", "torch"):
                row.append(f"{ms[lib]:.3f} ({ms[lib] / ms['tessel']:.2f}x)" if lib in ms else "n/a")
            row.append(f"{fastest[0] / ms['tessel']:.2f}x {fastest[1]}")
            rows.append(row)
            rep.results.append({"workload": label, "threads": t, "ms": ms})
        rows.append(None)
    common.print_table(["workload", "thr", "tessel ms", "numpy ms (speed)", "scipy ms (speed)", "torch ms (speed)",
                        "vs fastest"], rows, title="ts.fft (speed = reference time / tessel time)")
    rep.write(args.json)


if __name__ == "__main__":
    main()
