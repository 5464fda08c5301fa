"""lgamma, digamma and polygamma (kernels/cpu/unary.cpp) against SciPy in float64: the
whole real line away from the poles, negative non-integers through the reflection,
float32 as the rounded double result, PyTorch's values at the poles and infinities,
and their derivatives (lgamma' = digamma, digamma' = polygamma(1), polygamma(n)' =
polygamma(n + 1))."""
import numpy as np
import pytest
import scipy.special as sp

import tessel as ts
from tessel.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(21)


def _points(gap=1e-3):
    x = np.concatenate([RNG.uniform(-40, 40, 4000), RNG.uniform(1e-8, 3, 1000), 10 ** RNG.uniform(-300, 300, 1000)])
    return x[(np.abs(x - np.round(x)) > gap) | (x > 0)]  # away from the poles at 0, -1, -2, ...


@pytest.mark.parametrize("name,fn,ref", [("lgamma", ts.lgamma, sp.gammaln), ("digamma", ts.digamma, sp.digamma)])
def test_lgamma_and_digamma_match_scipy(name, fn, ref):
    x = _points()
    got, want = fn(ts.tensor(x)).numpy(), ref(x)
    # absolute near their zeros (lgamma at 1, 2, -2.46, ...; digamma at 1.46, -0.50, ...), relative elsewhere
    err = np.abs(got - want) / np.maximum(np.abs(want), 1.0)
    assert err.max() < 1e-13, (name, x[np.argmax(err)], err.max())
    # Close to a pole the value is ill-conditioned (~|x| / distance): a looser bound there.
    x = RNG.uniform(-40, -1e-3, 4000)
    x = x[(np.abs(x - np.round(x)) > 1e-7) & (np.abs(x - np.round(x)) < 1e-3)]
    got, want = fn(ts.tensor(x)).numpy(), ref(x)
    assert (np.abs(got - want) / np.maximum(np.abs(want), 1.0)).max() < 1e-9


@pytest.mark.parametrize("n", [1, 2, 3, 6, 12])
def test_polygamma_matches_scipy(n):
    x = _points()
    x = x[np.abs(x) < 1e6]
    got, want = ts.polygamma(n, ts.tensor(x)).numpy(), sp.polygamma(n, x)
    ok = np.isfinite(want) & (np.abs(want) < 1e300)
    err = np.abs(got[ok] - want[ok]) / np.abs(want[ok])
    assert err.max() < 1e-13, (n, x[ok][np.argmax(err)], err.max())
    assert np.array_equal(ts.tensor(x).polygamma(n).numpy(), got)  # the method


def test_float32_rounds_the_double_result():
    x = RNG.uniform(0.1, 30, 999).astype(np.float32)
    t = ts.tensor(x)
    for fn, ref in ((ts.lgamma, sp.gammaln), (ts.digamma, sp.digamma), (lambda a: ts.polygamma(3, a),
                                                                      lambda a: sp.polygamma(3, a))):
        got = fn(t)
        assert got.dtype == ts.float32
        assert np.array_equal(got.numpy(), ref(x.astype(np.float64)).astype(np.float32))


@pytest.mark.parametrize("name,fn,ref", [("lgamma", ts.lgamma, sp.gammaln), ("digamma", ts.digamma, sp.digamma)])
def test_float32_vector_kernels_over_the_float_range(name, fn, ref):
    # float32 runs in double SIMD lanes (kernels/cpu/vecmath_body.inc): shifts, asymptotic
    # series, Taylor series about lgamma's zeros at 1 and 2, reflection below 0. Against
    # the float64 result rounded: within one float32 spacing, and almost always equal.
    one, two = np.float32(1), np.float32(2)
    x = np.concatenate([RNG.uniform(-40, 40, 100_000), RNG.normal(0, 1, 50_000), RNG.uniform(0, 3, 50_000),
                        10 ** RNG.uniform(-40, 38, 20_000), -(10 ** RNG.uniform(-40, 6.9, 20_000)),
                        one + np.arange(-300, 300) * np.spacing(one), two + np.arange(-300, 300) * np.spacing(two),
                        np.float32(1.4616321) + np.arange(-300, 300) * np.spacing(np.float32(1.5))]).astype(np.float32)
    got = fn(ts.tensor(x)).numpy()
    with np.errstate(over="ignore"):
        want = ref(x.astype(np.float64)).astype(np.float32)
    if name == "lgamma":
        want[np.isneginf(x)] = np.inf  # PyTorch's and glibc's lgamma(-inf); SciPy's is -inf
    fin = np.isfinite(want)
    assert np.array_equal(got[~fin], want[~fin], equal_nan=True)
    diff = np.abs(got[fin].astype(np.float64) - want[fin])
    assert np.all(diff <= np.spacing(np.abs(want[fin]))), (name, x[fin][np.argmax(diff)])
    assert np.mean(got[fin] == want[fin]) > 0.9999
    if name == "lgamma":  # +0 at 1 and 2, not -0
        z = fn(ts.tensor(np.array([1.0, 2.0], np.float32))).numpy()
        assert z.tolist() == [0.0, 0.0] and not np.signbit(z).any()


def test_poles_infinities_and_nan_as_pytorch():
    x = ts.tensor([0.0, -0.0, -1.0, -2.0, float("inf"), float("-inf"), float("nan"), 1.0, 2.0], dtype=ts.float64)
    inf, nan = float("inf"), float("nan")
    np.testing.assert_array_equal(ts.lgamma(x).numpy(), [inf, inf, inf, inf, inf, inf, nan, 0.0, 0.0])
    np.testing.assert_array_equal(ts.digamma(x).numpy()[:7], [-inf, inf, nan, nan, inf, nan, nan])
    np.testing.assert_allclose(ts.digamma(x).numpy()[7:], [-0.5772156649015329, 0.4227843350984671], rtol=1e-15)
    p1 = ts.polygamma(1, x).numpy()
    assert np.all(np.isinf(p1[:4])) and p1[4] == 0 and np.isnan(p1[5]) and np.isnan(p1[6])
    np.testing.assert_allclose(p1[7], np.pi ** 2 / 6, rtol=1e-15)


def test_integers_compute_in_the_default_float_and_bad_n_is_refused():
    assert ts.lgamma(ts.tensor([1, 2, 3])).dtype == ts.float32
    np.testing.assert_allclose(ts.digamma(ts.tensor([1, 2, 3])).numpy(), sp.digamma([1.0, 2.0, 3.0]), rtol=1e-6)
    np.testing.assert_array_equal(ts.polygamma(0, ts.tensor([2.5])).numpy(), ts.digamma(ts.tensor([2.5])).numpy())
    with pytest.raises(ValueError, match="polygamma"):
        ts.polygamma(-1, ts.tensor([1.0]))


@pytest.mark.parametrize("f", [ts.lgamma, ts.digamma, lambda a: ts.polygamma(1, a), lambda a: ts.polygamma(4, a)])
def test_derivatives_on_both_sides_of_zero(f):
    x = ts.tensor([0.3, 1.7, 6.5, -0.4, -2.6], dtype=ts.float64).requires_grad_()
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_frac_is_exact_with_the_input_sign():
    x = np.array([2.75, -2.75, 0.5, -0.0, 1e20, -3.0, np.inf, np.nan, 1e-30])
    got = ts.frac(ts.tensor(x)).numpy()
    want = x - np.trunc(x)
    np.testing.assert_array_equal(got[[0, 1, 2, 4, 5, 8]], want[[0, 1, 2, 4, 5, 8]])
    assert np.isnan(got[6]) and np.isnan(got[7])  # inf - inf, as PyTorch
    t = ts.tensor([1.25, -1.25], dtype=ts.float64).requires_grad_()
    t.frac().sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 1.0])
    u = ts.tensor([3.5, -0.25])
    u.frac_()
    np.testing.assert_array_equal(u.numpy(), [0.5, -0.25])
    with pytest.raises(TypeError, match="frac"):
        ts.frac(ts.tensor([1, 2]))
