"""Fits the polynomial of tessel's AVX-512 float32 exp2 (kernels/cpu/vecmath_float.inc,
k_exp2_f, issue 16) and prints it, highest degree first.

x = k + r with k = round(x) and |r| <= 1/2 exact; 2^r = 1 + r P(r), P's error weighted by
|r| / 2^r (its share of the result, relative). Reference: mpmath at 40 digits; coefficients
rounded to float32 from the highest degree down, the rest refitted (bench/fit_erf.py).
    /opt/torchref/bin/python bench/fit_exp2.py
"""
import mpmath as mp
import numpy as np

from fit_erf import fit_float32

mp.mp.dps = 40

if __name__ == "__main__":
    fit_float32("kExp2P on r in [-0.5, 0.5]", lambda r: (mp.power(2, r) - 1) / r if r != 0 else mp.log(2),
                -0.5, 0.5, 6, n=1000, weight=lambda r: np.abs(r) / np.exp2(r) * 2.0 ** 24)
