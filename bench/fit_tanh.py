"""Fits the table of tessel's AVX-512 float32 tanh (kernels/cpu/vecmath_float.inc,
k_tanh_table_f, issue 16) and prints it as C++.

|x| (clamped to 16) picks one of 30 intervals from its exponent and top two fraction bits:
[0, 1/8), then [2^e (1 + m/4), 2^e (1 + (m+1)/4)) for e = -3..3, m = 0..3, then 16 itself.
Each has a point c (0 on the first; elsewhere a float near the middle whose tanh is within
0.5% of an ulp of a float, so that a0 = float(tanh(c)) adds almost no error) and
    tanh(c + t) = base + t q(t),  t = |x| - c (exact: same binade as c),
base = t on the first interval (tanh(t) = t + t q(t), q = O(t^2): no error from rounding 1 + q)
and a0 elsewhere (not a0 + t + t q: near 1, q = -1 + small loses the small part to rounding);
q of degree at most DEG (the lowest within 0.01 ulp, zeros above) with float32 coefficients
fitted to the error in ulps of the result (weight |t| / ulp(tanh)); mpmath at 40 digits is the
reference (bench/fit_erf.py's fit_float32). Prints each interval's fitted error and the
emulated float32 evaluation's error over its floats, in ulps, then the table rows: c, a0,
q's coefficients from the highest degree down.
    /opt/torchref/bin/python bench/fit_tanh.py [--deg 5]
"""
import argparse

import mpmath as mp
import numpy as np

from fit_erf import fit_float32

mp.mp.dps = 40


def intervals():
    out = [(0.0, 0.125)]
    for e in range(-3, 4):
        for m in range(4):
            out.append((2.0 ** e * (1 + m / 4), 2.0 ** e * (1 + (m + 1) / 4)))
    return out


def ulp(y):
    return np.spacing(np.abs(np.float32(y))).astype(np.float64)


def pick_c(lo, hi):
    """c = float(atanh(a)) for a float a near tanh((lo + hi) / 2), the one of 4000 whose tanh
    is nearest a float (near 1, where tanh is flat, stepping c itself would not get there)."""
    a_mid = np.float32(np.tanh((lo + hi) / 2))
    best, best_d = None, 1.0
    for k in range(4000):
        a = np.float32(a_mid + (k + 1) // 2 * (1 if k % 2 else -1) * np.spacing(a_mid))
        if not 0 < a < 1:
            continue
        c = np.float32(float(mp.atanh(mp.mpf(float(a)))))
        if not lo <= c < hi:
            continue
        y = mp.tanh(mp.mpf(float(c)))
        d = abs(float((y - mp.mpf(float(np.float32(float(y))))) / mp.mpf(float(ulp(float(y))))))
        if d < best_d:
            best, best_d = c, d
            if d < 0.005:
                break
    return float(np.float32((lo + hi) / 2)) if best is None else float(best)  # None: tanh rounds to 1


def fma32(a, b, c):
    return (a.astype(np.float64) * b + c).astype(np.float32)


def evaluate(row, x):
    """The kernel's float32 arithmetic (fma as one rounding, up to double rounding)."""
    c, a0, *q = (np.float32(v) for v in row)
    t = (x - c).astype(np.float32)
    p = np.full_like(x, q[0])
    for b in q[1:]:
        p = fma32(p, t, b)
    return fma32(t, p, t if c == 0 else a0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deg", type=int, default=5, help="degree of q (the result's polynomial: one more)")
    args = ap.parse_args()
    rows, worst = [], 0.0
    for i, (lo, hi) in enumerate(intervals()):
        c = 0.0 if i == 0 else pick_c(lo, hi)
        a0 = float(np.float32(float(mp.tanh(mp.mpf(c)))))

        def q(v, c=c, a0=a0):
            t = v - mp.mpf(c)
            if t == 0:
                return mp.mpf(0) if c == 0 else 1 / mp.cosh(mp.mpf(c)) ** 2
            return (mp.tanh(v) - (t if c == 0 else a0)) / t

        for deg in range(1, args.deg + 1):
            coef, err = fit_float32(f"[{lo}, {hi})", q, lo, hi, deg, shift=c, n=600, verbose=False,
                                    weight=lambda u, c=c: np.abs(u) / ulp(np.tanh(c + u)))
            if err < 0.01:
                break
        row = [c, a0] + [0.0] * (args.deg - deg) + coef
        x = np.linspace(lo, hi, 20001, endpoint=False).astype(np.float32)
        want = np.array([float(mp.tanh(mp.mpf(float(v)))) for v in x[::20]])
        got = evaluate(row, x[::20]).astype(np.float64)
        e = float(np.max(np.abs(got - want) / ulp(want)))
        worst = max(worst, e)
        print(f"interval {i:2d} [{lo:g}, {hi:g}): c = {c!r}, degree {deg}, fitted {err:.3f} ulp, "
              f"evaluated {e:.3f} ulp")
        rows.append(row)
    rows.append([16.0, 1.0] + [0.0] * (args.deg + 1))  # 16 (|x| clamped): 1 + 0 t
    print(f"worst evaluated error {worst:.3f} ulp (every 20th float of a 20001-point grid per interval)")
    cols = list(zip(*rows))
    print(f"alignas(64) constexpr float kTanhTab[{len(cols)}][32] = {{")
    for col in cols:
        vals = [repr(float(np.float32(v))) + "f" for v in col] + ["0.0f"] * (32 - len(col))
        print("    {" + ", ".join(vals) + "},")
    print("};")


if __name__ == "__main__":
    main()
