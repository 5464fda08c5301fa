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

from fit_erf import nodes, reweighted_lstsq

mp.mp.dps = 40


def fit_float32_weighted(name, f, hi, deg, weight, n=800):
    z = nodes(0.0, hi, n)
    y = np.array([float(f(mp.mpf(float(t)))) for t in z])
    fixed = []
    for _ in range(deg + 1):
        d = deg - len(fixed)
        rest = y - sum(c * z ** (deg - i) for i, c in enumerate(fixed))
        c, err = reweighted_lstsq(np.vander(z, d + 1), rest, weight(z))
        fixed.append(float(np.float32(c[0])))
    print(f"{name}: max weighted error {err:.3g} (float32 coefficients)")
    print("  {" + ", ".join(repr(x) + "f" for x in fixed) + "}")


if __name__ == "__main__":
    hi = (float(mp.pi / 4) * 1.0001) ** 2
    fit_float32_weighted("kSinP", lambda z: (mp.sin(mp.sqrt(z)) - mp.sqrt(z)) / z ** 1.5 if z > 0 else -mp.mpf(1) / 6,
                         hi, 2, lambda z: z)
    fit_float32_weighted("kCosQ", lambda z: (mp.cos(mp.sqrt(z)) - 1 + z / 2) / z ** 2 if z > 0 else mp.mpf(1) / 24,
                         hi, 2, lambda z: z * z)
    fit_float32_weighted("kAtanP", lambda z: (mp.atan(mp.sqrt(z)) - mp.sqrt(z)) / z ** 1.5 if z > 0 else -mp.mpf(1) / 3,
                         1.0, 8, lambda z: z * np.sqrt(z) / np.arctan(np.sqrt(np.maximum(z, 1e-30))))
    fit_float32_weighted("kAsinP", lambda z: (mp.asin(mp.sqrt(z)) - mp.sqrt(z)) / z ** 1.5 if z > 0 else mp.mpf(1) / 6,
                         0.25, 5, lambda z: z * np.sqrt(z) / np.arcsin(np.sqrt(np.maximum(z, 1e-30))))
