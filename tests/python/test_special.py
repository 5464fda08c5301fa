"""ts.special against scipy.special in float64: the kernels under their special-function
names, and the composed ones (erfcx and log_ndtr far into the tails, where the plain formulas
overflow or underflow; entr, xlog1py, multigammaln at their edge values)."""
from decimal import Decimal, getcontext

import numpy as np
import pytest
import scipy.special as sp

import tessel as ts
import tessel.special as S

rng = np.random.default_rng(5)


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("name,ref,lo,hi", [
    ("expit", sp.expit, -30, 30), ("logit", sp.logit, 0.001, 0.999), ("erf", sp.erf, -5, 5),
    ("erfc", sp.erfc, -5, 10), ("erfinv", sp.erfinv, -0.999, 0.999), ("ndtr", sp.ndtr, -10, 10),
    ("gammaln", sp.gammaln, 0.01, 50), ("digamma", sp.digamma, 0.1, 30), ("psi", sp.psi, 0.1, 30),
    ("entr", sp.entr, 0, 5), ("exp2", sp.exp2, -20, 20), ("expm1", sp.expm1, -1, 1), ("log1p", np.log1p, -0.9, 5),
    ("sinc", np.sinc, -3, 3)])
def test_against_scipy(name, ref, lo, hi):
    a = rng.uniform(lo, hi, 500)
    np.testing.assert_allclose(_np(getattr(S, name)(ts.tensor(a))), ref(a), rtol=1e-12, atol=1e-300)


def test_erfcx_over_its_whole_range():
    a = np.concatenate([rng.uniform(-6, 26, 400), [0.0, 25.999, 26.0, 26.001, 50, 1e3, 1e8, 1e300, np.inf, -30]])
    np.testing.assert_allclose(_np(S.erfcx(ts.tensor(a))), sp.erfcx(a), rtol=2e-14)
    # below -6, erfcx = 2 exp(x^2) to double precision; SciPy squares x in double (5e-14 off
    # at x = -23), so the reference is exact decimal arithmetic
    neg = rng.uniform(-26.5, -6, 60)
    getcontext().prec = 40
    exact = np.array([float(2 * (Decimal(float(v)) ** 2).exp()) for v in neg])
    np.testing.assert_allclose(_np(S.erfcx(ts.tensor(neg))), exact, rtol=4e-16)
    f = rng.uniform(-8, 40, 300).astype(np.float32)  # float32: computed in float64, rounded once
    np.testing.assert_array_equal(_np(S.erfcx(ts.tensor(f))), sp.erfcx(f.astype(np.float64)).astype(np.float32))


def test_log_ndtr_in_both_tails():
    a = np.concatenate([rng.uniform(-40, 40, 400), [-1e3, -38.5, -1.0, -0.999, 0.0, 8.0, 30.0, 1e3]])
    np.testing.assert_allclose(_np(S.log_ndtr(ts.tensor(a))), sp.log_ndtr(a), rtol=1e-12, atol=1e-300)


def test_polygamma_multigammaln_and_edges():
    a = rng.uniform(2, 20, 50)
    for n in (1, 2, 3):
        np.testing.assert_allclose(_np(S.polygamma(n, ts.tensor(a))), sp.polygamma(n, a), rtol=1e-10)
    for p in (1, 2, 5):
        got = _np(S.multigammaln(ts.tensor(a), p))
        np.testing.assert_allclose(got, [sp.multigammaln(v, p) for v in a], rtol=1e-12)
    with pytest.raises(ValueError, match="greater than"):
        S.multigammaln(ts.tensor([1.0]), 4)
    e = np.array([0.0, -1.0, np.nan, 1.0, np.inf])
    np.testing.assert_array_equal(_np(S.entr(ts.tensor(e))), sp.entr(e))
    x = np.array([0.0, 0.0, 2.0, 1.5])
    y = np.array([np.nan, -1.0, 0.5, -1.0])
    np.testing.assert_array_equal(_np(S.xlog1py(ts.tensor(x), ts.tensor(y))), sp.xlog1py(x, y))
    np.testing.assert_array_equal(_np(S.xlogy(ts.tensor(x), ts.tensor(y + 1))), sp.xlogy(x, y + 1))


def test_reductions_and_dtypes():
    a = rng.standard_normal((3, 7))
    x = ts.tensor(a)
    np.testing.assert_allclose(_np(S.logsumexp(x, 1)), sp.logsumexp(a, 1), rtol=1e-12)
    np.testing.assert_allclose(_np(S.softmax(x, 1)), sp.softmax(a, 1), rtol=1e-12)
    np.testing.assert_allclose(_np(S.log_softmax(x, 0)), sp.log_softmax(a, 0), rtol=1e-12)
    assert S.softmax(x.to(ts.float32), 1, dtype=ts.float64).dtype == ts.float64
    assert S.expit(ts.tensor([1, 2])).dtype == ts.float32  # integers compute in float32
    np.testing.assert_array_equal(_np(S.round(ts.tensor([0.5, 1.5, 2.5, -0.5]))), [0.0, 2.0, 2.0, -0.0])
    with pytest.raises(TypeError, match="special.erfcx"):
        S.erfcx([1.0])


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
def test_modified_bessel_functions(name):
    # both sides of the switch from the power series to the asymptotic one at |x| = 30
    x = np.concatenate([np.linspace(-45, 45, 1801), [0.0, 29.999, 30.0, 30.001, 100, 500, 700, 713]])
    np.testing.assert_allclose(_np(getattr(S, name)(ts.tensor(x))), getattr(sp, name)(x), rtol=4e-15, atol=1e-300)
    f = x.astype(np.float32)  # float32: computed in float64, rounded once
    with np.errstate(over="ignore"):
        want = getattr(sp, name)(f.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(_np(getattr(S, name)(ts.tensor(f))), want)
    assert np.isnan(_np(getattr(S, name)(ts.tensor([np.nan]))))[0]


def test_top_level_i0():
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(_np(ts.i0(ts.tensor(x))), np.i0(x), rtol=1e-14)
    np.testing.assert_allclose(_np(ts.tensor(x).i0()), np.i0(x), rtol=1e-14)
