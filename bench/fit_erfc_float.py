"""Fits the float32-lane polynomials of tessel's erfc and gelu (erf form) kernels
(kernels/cpu/vecmath_body.inc), gelu's backward, softplus, and the exp polynomial they share with
the softmax row kernel (kernels/cpu/softmax.cpp); prints the coefficients, highest
degree first.

With u = sqrt(2) a and t = 1 / (1 + u):  erfc(a) exp(a^2) = t exp(P(t)).
P is 0 at t = 1 and as t -> 0 and stays below 0.17 in magnitude between, so its
float rounding is small next to the result's. Fits as in bench/fit_erf.py (mpmath at
40 digits, reweighted least squares on Chebyshev nodes, each coefficient rounded to
float32 from the highest degree down and the rest refitted around it):
  kErfcP   P in t - 0.5,   t in [1 / (1 + sqrt(2) 10.2), 1] (every finite result)
  kErfcP3  P in t - 0.625, t in [1 / 4, 1] (u <= 3: the short form for blocks without large |x|)
  kExpQ    (e^r - 1 - r) / r^2 in r, |r| <= 0.37
gelu's backward takes Phi(-|x|) = phi(x) sqrt(pi / 2) t R(t), t = 1 / (1 + |x|), with
R(t) = erfc(a) exp(a^2) / t, a = |x| / sqrt(2) (= exp(P(t)) above, as one polynomial):
  kMillsR3 R in t - 0.625, t in [1 / 4, 1] (|x| <= 3)
  kMillsR  R in t - 0.5,   t in [1 / 15.5, 1] (|x| <= 14.5; past it phi(x) is 0 in float)
softplus takes log1p(e) = e + e Q(e) for e = exp(-|z|) in [0, 1]:
  kLog1pQ  log1p(e) / e - 1 in e - 0.5
Run: /opt/torchref/bin/python bench/fit_erfc_float.py
"""
import mpmath as mp

from fit_erf import fit_float32

mp.mp.dps = 40
SQRT2 = mp.sqrt(2)


def P(t):
    t = mp.mpf(t)
    a = (1 / t - 1) / SQRT2
    return mp.log(mp.erfc(a) / t) + a * a


def R(t):
    t = mp.mpf(t)
    a = (1 / t - 1) / SQRT2
    return mp.erfc(a) * mp.exp(a * a) / t


if __name__ == "__main__":
    fit_float32("kErfcP", P, float(1 / (1 + SQRT2 * 10.2)), 1.0, 15, shift=0.5, n=1000)
    fit_float32("kErfcP3", P, 0.25, 1.0, 9, shift=0.625)
    fit_float32("kMillsR3", R, 0.25, 1.0, 8, shift=0.625)
    fit_float32("kMillsR", R, 1 / 15.5, 1.0, 14, shift=0.5)
    fit_float32("kLog1pQ", lambda e: mp.log1p(e) / e - 1 if e != 0 else mp.mpf(0), 0.0, 1.0, 9, shift=0.5)
    fit_float32("kExpQ", lambda r: (mp.exp(r) - 1 - r) / r ** 2 if r != 0 else mp.mpf(0.5), -0.37, 0.37, 5, n=400)
