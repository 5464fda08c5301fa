"""Accuracy of the vectorized CPU math (kernels/cpu/vecmath*, issue 16) in ulps.

float32: every 251st float32 bit pattern (all magnitudes, both signs, the
subnormals included) plus a dense grid over each function's busy range, against
NumPy/SciPy float64 (whose own error, ~1e-16, is far below a float32 ulp).
float64: a few thousand points per function against mpmath at 40 digits.
Non-finite results must match the reference exactly (NaN for NaN, inf for inf).

Run with a Python that has tessel, scipy and mpmath, e.g. the bench-only one:
    PYTHONPATH=<overlay> /opt/torchref/bin/python bench/vecmath_accuracy.py [--isa avx2]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def _sigmoid64(x):
    from scipy.special import expit
    return expit(x)


def _refs64():
    from scipy import special as sp
    s2 = np.sqrt(2.0)
    return {
        "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log1p": np.log1p,
        "log2": np.log2, "log10": np.log10, "sin": np.sin, "cos": np.cos, "tan": np.tan,
        "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
        "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
        "erf": sp.erf, "erfc": sp.erfc, "erfinv": sp.erfinv, "sigmoid": _sigmoid64,
        "silu": lambda x: x * _sigmoid64(x),
        "gelu": lambda x: 0.5 * x * sp.erfc(-x / s2),
        "gelu_tanh": lambda x: x * _sigmoid64(2 * np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)),
        "softplus": lambda x: np.logaddexp(0.0, x),
        "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    }


# Busy range of each function for the dense grid.
RANGES = {"erfinv": (-1, 1), "asin": (-1, 1), "acos": (-1, 1), "atanh": (-1, 1), "acosh": (1, 100),
          "log": (0, 100), "log2": (0, 100), "log10": (0, 100), "log1p": (-1, 100),
          "sin": (-100, 100), "cos": (-100, 100), "tan": (-100, 100), "exp": (-104, 89), "exp2": (-150, 128),
          "sinh": (-90, 90), "cosh": (-90, 90)}


def _tessel_fn(ts, name):
    F = ts.nn.functional
    return {"gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu,
            "softplus": F.softplus, "elu": F.elu, "sigmoid": ts.sigmoid}.get(name) or getattr(ts, name)


def ulp_errors32(got, ref):
    """Max ulp error of float32 results against float64 references where the reference is a
    normal float32, the max absolute error in units of 2^-149 (the subnormal spacing) where it
    is subnormal, and the count of non-finite mismatches."""
    ref32 = ref.astype(np.float32)
    fin = np.isfinite(ref32)
    bad = int(np.count_nonzero(~fin & ~((got == ref32) | (np.isnan(got) & np.isnan(ref32)))))
    g, r = got[fin].astype(np.float64), ref[fin]
    ok = np.isfinite(g)
    bad += int(np.count_nonzero(~ok))
    g, r = g[ok], r[ok]
    normal = np.abs(r) >= np.finfo(np.float32).tiny
    ulp = np.spacing(np.abs(r[normal]).astype(np.float32)).astype(np.float64)
    err = np.abs(g[normal] - r[normal]) / ulp
    i = int(np.argmax(err)) if err.size else None
    sub = np.abs(g[~normal] - r[~normal]) / 2.0 ** -149
    return (float(err[i]) if i is not None else 0.0, float(r[normal][i]) if i is not None else None,
            float(sub.max()) if sub.size else 0.0, bad)


def float32_grid(name):
    bits = np.arange(0, 2 ** 32, 251, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    lo, hi = RANGES.get(name, (-12, 12))
    dense = np.linspace(lo, hi, 2_000_001, dtype=np.float64).astype(np.float32)
    return np.concatenate([x, dense])


def sweep32(ts, fn, ref, hi):
    """ulp_errors32 over every float32 bit pattern from +0 to hi, in chunks."""
    end = int(np.array([hi], np.float32).view(np.uint32)[0]) + 1
    worst, at, sub, bad = 0.0, None, 0.0, 0
    for start in range(0, end, 1 << 24):
        x = np.arange(start, min(start + (1 << 24), end), dtype=np.uint32).view(np.float32)
        e, a, s, b = ulp_errors32(fn(ts.from_numpy(x)).numpy(), ref(x.astype(np.float64)))
        if e > worst:
            worst, at = e, a
        sub, bad = max(sub, s), bad + b
    return worst, at, sub, bad


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--isa", default="", help="TESSEL_VECMATH: avx2 or scalar (default: the widest)")
    p.add_argument("--fns", default="", help="comma-separated subset")
    p.add_argument("--no-f64", action="store_true")
    p.add_argument("--sweep", default="", metavar="HI",
                   help="every float32 x with 0 <= x <= HI (the functions' own odd/even symmetry covers -x), "
                        "float32 only, e.g. --fns sin,cos --sweep 65536 (~1 min per function)")
    args = p.parse_args()
    if args.isa:
        os.environ["TESSEL_VECMATH"] = args.isa
    import tessel as ts
    refs = _refs64()
    names = [n for n in refs if not args.fns or n in args.fns.split(",")]
    print(f"vecmath accuracy, capability {ts.backends.cpu.get_cpu_capability()}")
    print(f"{'fn':10} {'f32 max ulp':>12} {'at ref':>12} {'subnormal err':>14} {'nonfinite bad':>14} {'f64 max ulp':>12}")
    with np.errstate(all="ignore"):
        for name in names:
            fn = _tessel_fn(ts, name)
            if args.sweep:
                e32, at, esub, bad = sweep32(ts, fn, refs[name], float(args.sweep))
                print(f"{name:10} {e32:12.3f} {at if at is not None else float('nan'):12.4g} {esub:14.1f} {bad:14d}"
                      f"   (every float32 in [0, {args.sweep}])")
                continue
            x = float32_grid(name)
            got = fn(ts.from_numpy(x)).numpy()
            ref = refs[name](x.astype(np.float64))
            e32, at, esub, bad = ulp_errors32(got, ref)
            e64 = float("nan") if args.no_f64 else ulp_error64(ts, name, fn)
            print(f"{name:10} {e32:12.3f} {at if at is not None else float('nan'):12.4g} {esub:14.1f} {bad:14d} {e64:12.3f}")
            sys.stdout.flush()


def ulp_error64(ts, name, fn):
    import mpmath as mp
    mp.mp.dps = 40
    f = {"exp": mp.exp, "exp2": lambda v: mp.power(2, v), "expm1": mp.expm1, "log": mp.log,
         "log1p": mp.log1p, "log2": lambda v: mp.log(v, 2), "log10": mp.log10, "sin": mp.sin, "cos": mp.cos,
         "tan": mp.tan, "asin": mp.asin, "acos": mp.acos, "atan": mp.atan, "sinh": mp.sinh, "cosh": mp.cosh,
         "tanh": mp.tanh, "asinh": mp.asinh, "acosh": mp.acosh, "atanh": mp.atanh, "erf": mp.erf,
         "erfc": mp.erfc, "erfinv": mp.erfinv, "sigmoid": lambda v: 1 / (1 + mp.exp(-v)),
         "silu": lambda v: v / (1 + mp.exp(-v)), "gelu": lambda v: v * mp.erfc(-v / mp.sqrt(2)) / 2,
         "gelu_tanh": lambda v: v / (1 + mp.exp(-2 * mp.sqrt(2 / mp.pi) * (v + mp.mpf("0.044715") * v ** 3))),
         "softplus": lambda v: mp.log1p(mp.exp(v)), "elu": lambda v: v if v > 0 else mp.expm1(v)}[name]
    rng = np.random.default_rng(0)
    lo, hi = RANGES.get(name, (-12, 12))
    x = np.concatenate([rng.uniform(lo, hi, 3000), np.sign(rng.uniform(-1, 1, 1000)) * 10.0 ** rng.uniform(-300, 2, 1000)])
    if name == "erfinv":  # the tails near +-1
        x = np.concatenate([x, 1 - 10.0 ** rng.uniform(-16, -1, 500), -1 + 10.0 ** rng.uniform(-16, -1, 500)])
    got = fn(ts.from_numpy(x)).numpy()
    worst = 0.0
    for xi, gi in zip(x, got):
        try:
            r = f(mp.mpf(float(xi)))
        except (ValueError, ZeroDivisionError):
            continue
        if isinstance(r, mp.mpc) or not mp.isfinite(r):
            continue
        rf = float(r)
        if not np.isfinite(rf) or not np.isfinite(gi):
            continue
        u = np.spacing(abs(rf)) if rf != 0 else np.spacing(0.0)
        worst = max(worst, float(abs(mp.mpf(float(gi)) - r) / u))
    return worst


if __name__ == "__main__":
    main()
