"""Fits the polynomial of tessel's AVX-512 float32 log, log2 and log10
(kernels/cpu/vecmath_float.inc, k_log_table_f, issue 16) and prints it, highest degree first.

m in [0.75, 1.5) falls in one of 16 intervals (its exponent bit and top three fraction bits):
[1 + i/16, 1 + (i+1)/16) for i < 8, [0.5 + i/32, 0.5 + (i+1)/32) above; r = m/c - 1 with c
the interval's centre rounded as the kernel's table does (1/c to float), c = 1 on the two
intervals around 1. Over the union of the r ranges, log(1 + r) = r + r^2 P(r), P's error
weighted by |r| (its share of log(1 + r) / r). Reference: mpmath at 40 digits; coefficients
rounded to float32 from the highest degree down, the rest refitted (bench/fit_erf.py).
    /opt/torchref/bin/python bench/fit_log.py
"""
import mpmath as mp
import numpy as np

from fit_erf import fit_float32

mp.mp.dps = 40


def r_range():
    lo, hi = 0.0, 0.0
    for i in range(16):
        a, w = (1 + i / 16, 1 / 16) if i < 8 else (0.5 + i / 32, 1 / 32)
        invc = 1.0 if i in (0, 15) else float(np.float32(1 / (a + w / 2)))
        lo, hi = min(lo, a * invc - 1), max(hi, (a + w) * invc - 1)
    return lo, hi


if __name__ == "__main__":
    lo, hi = r_range()
    fit_float32(f"kLogP on r in [{lo}, {hi}]",
                lambda t: (mp.log1p(t) - t) / t ** 2 if t != 0 else -mp.mpf(1) / 2, lo, hi, 3, n=1000,
                weight=np.abs)
