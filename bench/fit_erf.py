"""Fits the polynomials of tessel's own float32 erf, erfc, gelu and erfinv kernels
(kernels/cpu/vecmath_body.inc, issue 16) and prints their coefficients, highest degree first.

Reference: mpmath at 40 digits. Least squares on Chebyshev nodes, reweighted a few
times toward the largest errors (near-minimax). Needs mpmath and NumPy, e.g.
    /opt/torchref/bin/python bench/fit_erf.py

Double-evaluated sets (a fit error of ~1e-9 is far below float's 6e-8 spacing), in a
variable scaled to [-1, 1] (kErfSmall and kErfcTail served a double-lane float32 erfc
that has since moved to float lanes, bench/fit_erfc_float.py):
  kErfSmall       erf(a) / a in a^2, a <= 0.75
  kErfcTail       log(erfc(a) / t) + a^2 in t = 1 / (1 + a/2), 0.75 <= a <= 10.1
  kErfinvCentral  erfinv(y) / y in w = -log(1 - y^2), w <= 5
  kErfinvTail     erfinv(y) in sqrt(w), 5 <= w <= 4.1^2
Float-evaluated sets (erf for float32), each coefficient rounded to float32 from the
highest degree down and the lower ones refitted around it:
  kErfP           erf(a) / a - 1 in a^2, a <= 1
  kLogErfc        log erfc(a) in a - 1, 1 <= a <= 3.92
(A float-lane erfinv with float32 coefficients was tried: 2-2.8 ulp, from w's rounding
and the evaluation, against 0.51 in double lanes and PyTorch's 0.50; not taken.)
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40


def nodes(lo, hi, n):
    return (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (np.arange(n) + 0.5) / n)


def values(f, v):
    return np.array([float(f(mp.mpf(float(x)))) for x in v])


def reweighted_lstsq(A, y, w0, rounds=30):
    w = w0.copy()
    for _ in range(rounds):
        c, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
        e = np.abs(A @ c - y) * w0
        w = w * (e / e.max() + 1e-2) ** 0.3
    return c, (np.abs(A @ c - y) * w0).max()


def fit_scaled(name, f, lo, hi, deg, rel, n=600):
    """Polynomial in u = v * scale + shift, u in [-1, 1]."""
    v = nodes(lo, hi, n)
    y = values(f, v)
    scale, shift = 2 / (hi - lo), -(hi + lo) / (hi - lo)
    u = v * scale + shift
    c, err = reweighted_lstsq(np.vander(u, deg + 1), y, 1 / np.abs(y) if rel else np.ones_like(y))
    print(f"{name}: max {'relative' if rel else 'absolute'} error {err:.2g}; u = v * {scale!r} + {shift!r}")
    print("  {" + ", ".join(repr(float(x)) for x in c) + "}")


def fit_float32(name, f, lo, hi, deg, shift=0.0, n=800, weight=None, verbose=True):
    """Polynomial in u = v - shift with float32 coefficients, each rounded from the highest
    degree down and the lower ones refitted around it; absolute error, or weight(u) times it.
    Returns the coefficients (highest degree first) and that error."""
    v = nodes(lo, hi, n)
    y = values(f, v)
    u = v - shift
    w0 = np.ones_like(y) if weight is None else weight(u)
    fixed = []
    for _ in range(deg + 1):
        d = deg - len(fixed)
        rest = y - sum(c * u ** (deg - i) for i, c in enumerate(fixed))
        c, err = reweighted_lstsq(np.vander(u, d + 1), rest, w0)
        fixed.append(float(np.float32(c[0])))
    if verbose:
        kind = "absolute" if weight is None else "weighted"
        print(f"{name}: max {kind} error {err:.3g} (float32 coefficients)" + (f"; u = v - {shift}" if shift else ""))
        print("  {" + ", ".join(repr(x) + "f" for x in fixed) + "}")
    return fixed, err


def erf_over_a(z):
    return mp.erf(mp.sqrt(z)) / mp.sqrt(z) if z > 0 else 2 / mp.sqrt(mp.pi)


def y_of_w(w):
    return mp.sqrt(1 - mp.exp(-w))


if __name__ == "__main__":
    fit_scaled("kErfSmall", erf_over_a, 0, 0.75 ** 2, 6, rel=True)
    fit_scaled("kErfcTail", lambda t: mp.log(mp.erfc(2 / t - 2) / t) + (2 / t - 2) ** 2,
               1 / (1 + 0.5 * 10.1), 1 / (1 + 0.5 * 0.75), 9, rel=False)
    fit_scaled("kErfinvCentral", lambda w: mp.erfinv(y_of_w(w)) / y_of_w(w) if w > 0 else mp.sqrt(mp.pi) / 2,
               0, 5, 11, rel=True, n=300)
    fit_scaled("kErfinvTail", lambda s: mp.erfinv(y_of_w(s * s)), float(mp.sqrt(5)), 4.1, 9, rel=True, n=300)
    fit_float32("kErfP", lambda z: erf_over_a(z) - 1, 0, 1.0, 6)
    fit_float32("kLogErfc", lambda a: mp.log(mp.erfc(a)), 1.0, 3.92, 9, shift=1.0)
