"""Fits the polynomials of tessel's own float32 sin and cos (kernels/cpu/vecmath_float.inc,
issue 16) and prints their coefficients, highest degree first.

On |r| <= pi/4 (a hair past it: k = round(x 2/pi) is taken from a rounded product),
z = r^2:
  kSinP   sin r = r + r^3 P(z)          (P's error weighted by z: its share of sin r / r)
  kCosQ   cos r = 1 - z/2 + z^2 Q(z)    (Q's error weighted by z^2)
and atan on 0 <= t <= 1, asin on 0 <= t <= 1/2 (z = t^2):
  kAtanP  atan t = t + t^3 P(z)         (P's error weighted by z t / atan t)
  kAsinP  asin t = t + t^3 P(z)         (P's error weighted by z t / asin t)
Reference: mpmath at 40 digits. Each coefficient is rounded to float32 from the highest
degree down and the lower ones refitted around it (bench/fit_erf.py's fit_float32, in z).
    /opt/torchref/bin/python bench/fit_trig.py
"""
import mpmath as mp
import numpy as np

from fit_erf import fit_float32

mp.mp.dps = 40


if __name__ == "__main__":
    hi = (float(mp.pi / 4) * 1.0001) ** 2
    fit_float32("kSinP", lambda z: (mp.sin(mp.sqrt(z)) - mp.sqrt(z)) / z ** 1.5 if z > 0 else -mp.mpf(1) / 6,
                0.0, hi, 2, weight=lambda z: z)
    fit_float32("kCosQ", lambda z: (mp.cos(mp.sqrt(z)) - 1 + z / 2) / z ** 2 if z > 0 else mp.mpf(1) / 24,
                0.0, hi, 2, weight=lambda z: z * z)
    fit_float32("kAtanP", lambda z: (mp.atan(mp.sqrt(z)) - mp.sqrt(z)) / z ** 1.5 if z > 0 else -mp.mpf(1) / 3,
                0.0, 1.0, 8, weight=lambda z: z * np.sqrt(z) / np.arctan(np.sqrt(np.maximum(z, 1e-30))))
    fit_float32("kAsinP", lambda z: (mp.asin(mp.sqrt(z)) - mp.sqrt(z)) / z ** 1.5 if z > 0 else mp.mpf(1) / 6,
                0.0, 0.25, 5, weight=lambda z: z * np.sqrt(z) / np.arcsin(np.sqrt(np.maximum(z, 1e-30))))
