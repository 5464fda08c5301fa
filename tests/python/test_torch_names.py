"""PyTorch's top-level names composed in Python (_math_port.py, _shape_port.py, _stats.py):
each against NumPy/SciPy in float64 (their own definitions of the same functions), with
the edge cases PyTorch documents, the Tensor methods, and gradients where they flow."""
import itertools
import warnings

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.special

import tessel as ts

rng = np.random.default_rng(42)


def _np(t):
    return t.detach().numpy()


# ---- elementwise ----

@pytest.mark.parametrize("name,ref,lo,hi", [
    ("arcsin", np.arcsin, -1, 1), ("arccos", np.arccos, -1, 1), ("arctan", np.arctan, -5, 5),
    ("arcsinh", np.arcsinh, -5, 5), ("arccosh", np.arccosh, 1, 5), ("arctanh", np.arctanh, -0.99, 0.99),
    ("fix", np.fix, -5, 5), ("deg2rad", np.deg2rad, -360, 360), ("rad2deg", np.rad2deg, -7, 7),
    ("logit", scipy.special.logit, 0.01, 0.99), ("sinc", np.sinc, -4, 4), ("sgn", np.sign, -3, 3)])
def test_unary_names_match_numpy(name, ref, lo, hi):
    a = rng.uniform(lo, hi, (7, 9))
    a[0, 0] = 0 if name in ("sinc", "sgn", "fix", "deg2rad") else a[0, 0]
    x = ts.tensor(a)
    np.testing.assert_allclose(_np(getattr(ts, name)(x)), ref(a), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_np(getattr(x, name)()), ref(a), rtol=1e-12, atol=1e-15)  # the method


def test_binary_names_match_numpy():
    a, b = rng.standard_normal((2, 6, 5))
    a[0, :3] = [np.nan, 1.0, np.nan]
    b[0, :3] = [2.0, np.nan, np.nan]
    x, y = ts.tensor(a), ts.tensor(b)
    for name, ref in (("fmax", np.fmax), ("fmin", np.fmin), ("logaddexp2", np.logaddexp2),
                      ("arctan2", np.arctan2)):
        np.testing.assert_allclose(_np(getattr(ts, name)(x, y)), ref(a, b), rtol=1e-12, equal_nan=True)
    p = np.abs(a[1:]) + 0.5
    np.testing.assert_allclose(_np(ts.float_power(ts.tensor(p), ts.tensor(b[1:]))), np.float_power(p, b[1:]),
                               rtol=1e-12)
    assert ts.float_power(ts.tensor([2], dtype=ts.int32), 3).dtype == ts.float64
    h = np.array([-1.5, 0.0, 2.0, 0.0])
    np.testing.assert_array_equal(_np(ts.heaviside(ts.tensor(h), ts.tensor([0.5, 0.5, 0.5, 7.0]))),
                                  np.heaviside(h, [0.5, 0.5, 0.5, 7.0]))


def test_xlogy_is_scipys():
    x = np.array([0.0, 0.0, 1.5, 2.0, 0.0, 3.0])
    y = np.array([0.0, np.nan, 2.0, 0.0, np.inf, 0.5])
    np.testing.assert_array_equal(_np(ts.xlogy(ts.tensor(x), ts.tensor(y))), scipy.special.xlogy(x, y))
    np.testing.assert_allclose(_np(ts.xlogy(2, ts.tensor([3.0]))), [2 * np.log(3.0)], rtol=1e-6)


def test_infinity_and_reality_tests():
    a = np.array([-np.inf, np.inf, np.nan, 0.0, -1.0])
    x = ts.tensor(a)
    np.testing.assert_array_equal(_np(ts.isneginf(x)), np.isneginf(a))
    np.testing.assert_array_equal(_np(ts.isposinf(x)), np.isposinf(a))
    c = np.array([1 + 0j, 2 + 1j, -3j, 0j])
    np.testing.assert_array_equal(_np(ts.isreal(ts.tensor(c))), np.isreal(c))
    assert _np(ts.isreal(x)).all()


def test_integer_input_computes_in_float32_and_complex_sgn():
    assert ts.deg2rad(ts.tensor([180], dtype=ts.int64)).dtype == ts.float32
    c = np.array([3 + 4j, 0j, -2j])
    np.testing.assert_allclose(_np(ts.sgn(ts.tensor(c))), [0.6 + 0.8j, 0, -1j])


def test_sinc_gradient_is_finite_at_zero():
    x = ts.tensor([0.0, 0.25, -1.5], dtype=ts.float64, requires_grad=True)
    ts.sinc(x).sum().backward()
    a = np.array([0.0, 0.25, -1.5])
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(a == 0, 0.0, (np.cos(np.pi * a) * np.pi * a - np.sin(np.pi * a)) / (np.pi * a ** 2))
    np.testing.assert_allclose(_np(x.grad), want, rtol=1e-12, atol=1e-15)


# ---- statistics ----

@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (0, True), ((0, 2), False), (-1, True)])
def test_nansum_and_nanmean(dim, keepdim):
    a = rng.standard_normal((4, 5, 6))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[1, :, 2] = np.nan  # an all-NaN slice along dim 1
    x = ts.tensor(a)
    axis = dim if not isinstance(dim, list) else tuple(dim)
    np.testing.assert_allclose(_np(ts.nansum(x, dim, keepdim)), np.nansum(a, axis=axis, keepdims=keepdim),
                               rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy warns on the all-NaN slice
        want = np.nanmean(a, axis=axis, keepdims=keepdim) if dim is not None else np.nanmean(a)
    got = ts.nanmean(x, dim, keepdim) if dim is not None else ts.nanmean(x)
    np.testing.assert_allclose(_np(got), want, rtol=1e-12, equal_nan=True)
    assert int(ts.nansum(ts.tensor([1, 2, 3]))) == 6  # integers: sum


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (0, True), (None, True)])
def test_quantile_and_nanquantile_match_numpy(method, dim, keepdim):
    a = rng.standard_normal((5, 8))
    x = ts.tensor(a)
    q = [0.0, 0.1, 0.25, 0.5, 0.9, 1.0]
    want = np.quantile(a, q, axis=dim, keepdims=keepdim, method=method)
    qt = ts.tensor(q, dtype=ts.float64)
    np.testing.assert_allclose(_np(ts.quantile(x, qt, dim, keepdim, interpolation=method)), want,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(_np(x.quantile(0.3, dim, keepdim, interpolation=method)),
                               np.quantile(a, 0.3, axis=dim, keepdims=keepdim, method=method), rtol=1e-12)
    b = a.copy()
    b[0, 1] = b[2, 5] = np.nan
    b[3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy warns on the all-NaN slice
        want = np.nanquantile(b, q, axis=dim, keepdims=keepdim, method=method)
    np.testing.assert_allclose(_np(ts.nanquantile(ts.tensor(b), qt, dim, keepdim, interpolation=method)),
                               want, rtol=1e-12, atol=1e-15, equal_nan=True)
    got = _np(ts.quantile(ts.tensor(b), 0.5, dim, keepdim, interpolation=method))  # NaN in a slice: NaN
    np.testing.assert_array_equal(np.isnan(got), np.isnan(np.quantile(b, 0.5, axis=dim, keepdims=keepdim)))


def test_quantile_errors_and_gradient():
    x = ts.tensor([1.0, 2.0, 4.0], requires_grad=True)
    ts.quantile(x, 0.75).backward()  # rank 1.5: half of each neighbour
    np.testing.assert_allclose(_np(x.grad), [0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="q values"):
        ts.quantile(x, 1.5)
    with pytest.raises(ValueError, match="interpolation"):
        ts.quantile(x, 0.5, interpolation="cubic")
    with pytest.raises(TypeError, match="float32 or float64"):
        ts.quantile(ts.tensor([1, 2]), 0.5)
    with pytest.raises(TypeError, match="dtype"):
        ts.quantile(x, ts.tensor([0.5], dtype=ts.float64))


def test_cov_and_corrcoef_match_numpy():
    a = rng.standard_normal((3, 10))
    fw = rng.integers(0, 4, 10)
    aw = rng.uniform(0.1, 2, 10)
    x = ts.tensor(a)
    np.testing.assert_allclose(_np(ts.cov(x)), np.cov(a), rtol=1e-12)
    np.testing.assert_allclose(_np(x.cov(correction=0)), np.cov(a, ddof=0), rtol=1e-12)
    np.testing.assert_allclose(_np(ts.cov(x, fweights=ts.tensor(fw), aweights=ts.tensor(aw))),
                               np.cov(a, fweights=fw, aweights=aw), rtol=1e-12)
    np.testing.assert_allclose(_np(ts.cov(x, correction=2, aweights=ts.tensor(aw))), np.cov(a, ddof=2, aweights=aw),
                               rtol=1e-12)
    np.testing.assert_allclose(_np(ts.cov(ts.tensor(a[0]))), np.cov(a[0]), rtol=1e-12)
    np.testing.assert_allclose(_np(ts.corrcoef(x)), np.corrcoef(a), rtol=1e-12)
    c = a + 1j * rng.standard_normal((3, 10))
    np.testing.assert_allclose(_np(ts.cov(ts.tensor(c))), np.cov(c), rtol=1e-12)
    with pytest.raises(ValueError, match="fweights"):
        ts.cov(x, fweights=ts.tensor(aw))


def test_aminmax():
    a = rng.standard_normal((4, 6))
    x = ts.tensor(a)
    r = ts.aminmax(x)
    assert float(r.min) == a.min() and float(r.max) == a.max()
    mn, mx = x.aminmax(dim=1, keepdim=True)
    np.testing.assert_array_equal(_np(mn), a.min(1, keepdims=True))
    np.testing.assert_array_equal(_np(mx), a.max(1, keepdims=True))


def _cum_ref(a, axis, is_max):
    """values and the last index attaining each running extreme (NaN: the last NaN so far)."""
    a = np.moveaxis(a, axis, -1)
    vals, idx = np.empty_like(a), np.zeros(a.shape, np.int64)
    for pos in np.ndindex(a.shape[:-1]):
        best, bi = None, 0
        for j, v in enumerate(a[pos]):
            if best is None or np.isnan(v) or (not np.isnan(best) and (v >= best if is_max else v <= best)):
                best, bi = v, j
            vals[pos + (j,)], idx[pos + (j,)] = best, bi
    return np.moveaxis(vals, -1, axis), np.moveaxis(idx, -1, axis)


@pytest.mark.parametrize("is_max", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cummax_cummin(is_max, dim):
    a = rng.integers(0, 5, (6, 9)).astype(np.float64)  # ties
    a[2, 4] = a[4, 1] = np.nan
    fn = ts.cummax if is_max else ts.cummin
    values, indices = fn(ts.tensor(a), dim)
    want_v, want_i = _cum_ref(a, dim, is_max)
    np.testing.assert_array_equal(_np(values), want_v)
    np.testing.assert_array_equal(_np(indices), want_i)
    ints = rng.integers(-50, 50, (5, 7))
    v, i = getattr(ts.tensor(ints), "cummax" if is_max else "cummin")(dim)
    want_v, want_i = _cum_ref(ints, dim, is_max)
    np.testing.assert_array_equal(_np(v), want_v)
    np.testing.assert_array_equal(_np(i), want_i)


def test_logcumsumexp_far_apart_values():
    a = np.array([[-1000.0, 0.0, 3.0, -np.inf, 700.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    got = _np(ts.logcumsumexp(ts.tensor(a), 1))
    np.testing.assert_allclose(got, np.logaddexp.accumulate(a, axis=1), rtol=1e-12)
    x = ts.tensor(rng.standard_normal(12), requires_grad=True)
    assert ts.autograd.gradcheck(lambda t: ts.logcumsumexp(t, 0), (x,))


# ---- shapes, indices, sets ----

def test_flips_rot90_and_ravel():
    a = rng.standard_normal((3, 4, 5))
    x = ts.tensor(a)
    np.testing.assert_array_equal(_np(ts.fliplr(x)), np.fliplr(a))
    np.testing.assert_array_equal(_np(x.flipud()), np.flipud(a))
    np.testing.assert_array_equal(_np(ts.ravel(x.permute(2, 0, 1))), a.transpose(2, 0, 1).ravel())
    for k in range(-2, 6):
        for dims in ((0, 1), (1, 2), (2, 0), (-1, -3)):
            np.testing.assert_array_equal(_np(ts.rot90(x, k, dims)), np.rot90(a, k, dims))
    with pytest.raises(ValueError, match="different"):
        ts.rot90(x, 1, (1, 1))


@pytest.mark.parametrize("spec", [3, 5, 7, 1, [1, 4], [2, 2, 9], [-1, 3], [4, 1]])
def test_tensor_split_matches_array_split(spec):
    a = np.arange(7 * 3).reshape(7, 3)
    for d in (0, 1):
        got = ts.tensor_split(ts.tensor(a), spec, d)
        want = np.array_split(a, spec, axis=d)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(_np(g), w)
    assert len(ts.tensor_split(ts.tensor(a), ts.tensor([2, 5]))) == 3


def test_hsplit_vsplit_dsplit():
    a = np.arange(4 * 6 * 8).reshape(4, 6, 8)
    x = ts.tensor(a)
    for fn, ref, s in ((ts.hsplit, np.hsplit, 3), (ts.vsplit, np.vsplit, 2), (ts.dsplit, np.dsplit, [3, 5])):
        for g, w in zip(fn(x, s), ref(a, s)):
            np.testing.assert_array_equal(_np(g), w)
    with pytest.raises(ValueError, match="divisible"):
        ts.hsplit(x, 4)


def test_take_along_dim_and_broadcast_tensors():
    a = rng.standard_normal((4, 5))
    idx = np.argsort(a, axis=1)
    x = ts.tensor(a)
    np.testing.assert_array_equal(_np(ts.take_along_dim(x, ts.tensor(idx), 1)), np.take_along_axis(a, idx, 1))
    np.testing.assert_array_equal(_np(x.take_along_dim(ts.tensor([[0], [2], [4], [1]]), 1)),
                                  np.take_along_axis(a, np.array([[0], [2], [4], [1]]), 1))
    row = np.array([[3, 0]])  # broadcast over the rows
    np.testing.assert_array_equal(_np(ts.take_along_dim(x, ts.tensor(row), 1)),
                                  np.take_along_axis(a, np.broadcast_to(row, (4, 2)), 1))
    np.testing.assert_array_equal(_np(ts.take_along_dim(x, ts.tensor([7, 0]))), a.ravel()[[7, 0]])
    p, q = ts.broadcast_tensors(ts.tensor(a[:1]), ts.tensor(a[:, :1]))
    wp, wq = np.broadcast_arrays(a[:1], a[:, :1])
    np.testing.assert_array_equal(_np(p), wp)
    np.testing.assert_array_equal(_np(q), wq)


@pytest.mark.parametrize("n,m,k", [(4, 4, 0), (3, 5, 1), (5, 3, -2), (4, 6, -7), (2, 2, 5)])
def test_tril_triu_indices(n, m, k):
    np.testing.assert_array_equal(_np(ts.tril_indices(n, m, k)), np.stack(np.tril_indices(n, k, m)))
    np.testing.assert_array_equal(_np(ts.triu_indices(n, m, k)), np.stack(np.triu_indices(n, k, m)))


def test_isin_and_bucketize():
    e = rng.integers(0, 20, (5, 6))
    t = rng.integers(0, 20, 9)
    np.testing.assert_array_equal(_np(ts.isin(ts.tensor(e), ts.tensor(t))), np.isin(e, t))
    np.testing.assert_array_equal(_np(ts.isin(ts.tensor(e), ts.tensor(t), invert=True)), np.isin(e, t, invert=True))
    np.testing.assert_array_equal(_np(ts.isin(ts.tensor(e), 3)), np.isin(e, 3))
    np.testing.assert_array_equal(_np(ts.isin(ts.tensor(e), ts.tensor([], dtype=ts.int64))), np.zeros(e.shape, bool))
    b = np.array([1.0, 3.0, 5.0, 7.0])
    v = np.array([0.0, 1.0, 2.0, 5.0, 7.0, 9.0])
    np.testing.assert_array_equal(_np(ts.bucketize(ts.tensor(v), ts.tensor(b))), np.searchsorted(b, v, "left"))
    np.testing.assert_array_equal(_np(ts.bucketize(ts.tensor(v), ts.tensor(b), right=True)),
                                  np.searchsorted(b, v, "right"))
    assert ts.bucketize(ts.tensor(v), ts.tensor(b), out_int32=True).dtype == ts.int32


def test_block_diag_and_cartesian_prod():
    a, b, c = rng.standard_normal((2, 3)), np.array([4.0, 5.0]), np.array(7.0)
    got = ts.block_diag(ts.tensor(a), ts.tensor(b), ts.tensor(c), ts.tensor(np.ones((1, 0))))
    np.testing.assert_array_equal(_np(got), scipy.linalg.block_diag(a, b, c, np.ones((1, 0))))
    assert ts.block_diag(ts.tensor([[1]], dtype=ts.int32), ts.tensor([[2.5]])).dtype == ts.float32
    xs = [np.array([1, 2]), np.array([3, 4, 5]), np.array([6])]
    np.testing.assert_array_equal(_np(ts.cartesian_prod(*map(ts.tensor, xs))), np.array(list(itertools.product(*xs))))


def test_trapezoid_family():
    y = rng.standard_normal((3, 7))
    x = np.sort(rng.uniform(0, 5, 7))
    np.testing.assert_allclose(_np(ts.trapezoid(ts.tensor(y))), np.trapezoid(y), rtol=1e-12)
    np.testing.assert_allclose(_np(ts.trapezoid(ts.tensor(y), ts.tensor(x))), np.trapezoid(y, x), rtol=1e-12)
    np.testing.assert_allclose(_np(ts.trapz(ts.tensor(y), dx=0.5, dim=0)), np.trapezoid(y, dx=0.5, axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(_np(ts.cumulative_trapezoid(ts.tensor(y), ts.tensor(x))),
                               scipy.integrate.cumulative_trapezoid(y, x), rtol=1e-12)
    with pytest.raises(ValueError, match="points"):
        ts.trapezoid(ts.tensor(y), ts.tensor(x[:5]))


def test_errors_name_the_function():
    with pytest.raises(TypeError, match="ravel"):
        ts.ravel([1, 2])
    with pytest.raises(ValueError, match="fliplr"):
        ts.fliplr(ts.tensor([1.0]))
    with pytest.raises(ValueError, match="cov"):
        ts.cov(ts.zeros((2, 2, 2)))
    with pytest.raises(IndexError, match="cummax"):
        ts.cummax(ts.zeros((2, 3)), 2)
    with pytest.raises(TypeError, match="take_along_dim"):
        ts.take_along_dim(ts.zeros(3), ts.tensor([0.5]))


# ---- second batch: products with beta/alpha, integer math, more shapes and statistics ----

def test_products_with_beta_and_alpha():
    a, v, w = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    b1, b2 = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 2, 4))
    A = ts.tensor(a)
    np.testing.assert_allclose(_np(ts.addmv(ts.tensor(w), A, ts.tensor(v), beta=0.5, alpha=2)), 0.5 * w + 2 * a @ v,
                               rtol=1e-12)
    np.testing.assert_allclose(_np(A.addr(ts.tensor(w), ts.tensor(v), alpha=3)), a + 3 * np.outer(w, v), rtol=1e-12)
    np.testing.assert_allclose(_np(ts.addbmm(A, ts.tensor(b1), ts.tensor(b2), beta=2)), 2 * a + (b1 @ b2).sum(0),
                               rtol=1e-12)
    nan = np.full((3, 4), np.nan)  # beta = 0: input ignored, NaN included
    np.testing.assert_allclose(_np(ts.addr(ts.tensor(nan), ts.tensor(w), ts.tensor(v), beta=0)), np.outer(w, v),
                               rtol=1e-12)


@pytest.mark.parametrize("p", [2, 1, 0, np.inf, 3.5])
def test_dist(p):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    d = (a - b).ravel()
    want = np.count_nonzero(d) if p == 0 else np.abs(d).max() if p == np.inf else (np.abs(d) ** p).sum() ** (1 / p)
    np.testing.assert_allclose(float(ts.dist(ts.tensor(a), ts.tensor(b), p)), want, rtol=1e-12)


def test_gcd_lcm_ldexp_logspace():
    i, j = rng.integers(-60, 60, (2, 40))
    i[:3], j[:3] = [0, 0, 7], [0, 5, 0]
    np.testing.assert_array_equal(_np(ts.gcd(ts.tensor(i), ts.tensor(j))), np.gcd(i, j))
    np.testing.assert_array_equal(_np(ts.tensor(i).lcm(ts.tensor(j))), np.lcm(i, j))
    np.testing.assert_array_equal(_np(ts.gcd(ts.tensor(i).reshape(5, 8), ts.tensor([12]))), np.gcd(i.reshape(5, 8), 12))
    with pytest.raises(TypeError, match="gcd"):
        ts.gcd(ts.tensor([1.5]), ts.tensor([2]))
    a = rng.standard_normal(4)
    np.testing.assert_array_equal(_np(ts.ldexp(ts.tensor(a), ts.tensor([1, 2, -3, 0]))), np.ldexp(a, [1, 2, -3, 0]))
    np.testing.assert_allclose(_np(ts.logspace(-2, 3, 6, dtype=ts.float64)), np.logspace(-2, 3, 6), rtol=1e-12)
    np.testing.assert_allclose(_np(ts.logspace(0, 4, 5, base=2, dtype=ts.float64)), np.logspace(0, 4, 5, base=2))


@pytest.mark.parametrize("offset", [0, 2, -1])
def test_diag_embed_and_diagflat(offset):
    x = rng.standard_normal((2, 3))
    want = np.zeros((2, 3 + abs(offset), 3 + abs(offset)))
    for b in range(2):
        want[b] = np.diag(x[b], offset)
    np.testing.assert_array_equal(_np(ts.diag_embed(ts.tensor(x), offset)), want)
    np.testing.assert_array_equal(_np(ts.diag_embed(ts.tensor(x), offset, 0, 2)), want.transpose(1, 0, 2))
    np.testing.assert_array_equal(_np(ts.diagflat(ts.tensor(x), offset)), np.diagflat(x, offset))


def test_argwhere_msort_unravel_index_combinations():
    a = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(_np(ts.argwhere(ts.tensor(a > 0))), np.argwhere(a > 0))
    np.testing.assert_array_equal(_np(ts.tensor(a).msort()), np.sort(a, axis=0))
    flat = np.array([0, 7, 19, -1, -20])
    for got, want in zip(ts.unravel_index(ts.tensor(flat), (4, 5)), np.unravel_index(flat % 20, (4, 5))):
        np.testing.assert_array_equal(_np(got), want)
    with pytest.raises(ValueError, match="out of bounds"):
        ts.unravel_index(ts.tensor([20]), (4, 5))
    e = np.array([3, 1, 4, 1, 5])
    for r, rep in ((2, False), (3, False), (2, True)):
        pick = itertools.combinations_with_replacement if rep else itertools.combinations
        np.testing.assert_array_equal(_np(ts.combinations(ts.tensor(e), r, rep)), np.array(list(pick(e, r))))


def test_histc_and_nanmedian():
    h = rng.standard_normal(2000)
    lo, hi = h.min(), h.max()
    np.testing.assert_array_equal(_np(ts.histc(ts.tensor(h), 13)), np.histogram(h, 13, (lo, hi))[0])
    inside = h[(h >= -1) & (h <= 1.5)]
    np.testing.assert_array_equal(_np(ts.histc(ts.tensor(h), 7, -1, 1.5)), np.histogram(inside, 7, (-1, 1.5))[0])
    m = rng.standard_normal((5, 6))
    m[0, 1] = m[3, 4] = np.nan
    m[2] = np.nan
    v, i = ts.nanmedian(ts.tensor(m), 1)
    s = np.sort(m, 1)  # the lower median of the non-NaN values
    k = (~np.isnan(m)).sum(1)
    want = np.array([s[r, (k[r] - 1) // 2] if k[r] else np.nan for r in range(5)])
    np.testing.assert_array_equal(_np(v), want)
    ok = k > 0
    np.testing.assert_array_equal(m[np.arange(5), _np(i)][ok], want[ok])  # indices point at the values
    assert float(ts.nanmedian(ts.tensor(m))) == np.sort(m[~np.isnan(m)])[(np.count_nonzero(~np.isnan(m)) - 1) // 2]


# ---- third batch: out-of-place scatters, unique_consecutive, histogram ----

def test_slice_select_index_and_masked_scatter():
    a, src = rng.standard_normal((4, 6)), rng.standard_normal((4, 2))
    want = a.copy()
    want[:, 1:5:2] = src
    np.testing.assert_array_equal(_np(ts.slice_scatter(ts.tensor(a), ts.tensor(src), 1, 1, 5, 2)), want)
    want = a.copy()
    want[-1] = 9.0
    np.testing.assert_array_equal(_np(ts.tensor(a).select_scatter(ts.full((6,), 9.0, dtype=ts.float64), 0, -1)), want)
    want = a.copy()
    want[:, [4, 0]] = src
    np.testing.assert_array_equal(_np(ts.index_copy(ts.tensor(a), 1, ts.tensor([4, 0]), ts.tensor(src))), want)
    mask, s = a > 0.3, rng.standard_normal(30)
    want = a.copy()
    want[mask] = s[:mask.sum()]
    np.testing.assert_array_equal(_np(ts.tensor(a).masked_scatter(ts.tensor(mask), ts.tensor(s))), want)
    row = rng.random((1, 6)) > 0.5  # broadcast over the rows
    want = a.copy()
    full = np.broadcast_to(row, a.shape)
    want[full] = s[:full.sum()]
    np.testing.assert_array_equal(_np(ts.masked_scatter(ts.tensor(a), ts.tensor(row), ts.tensor(s))), want)
    with pytest.raises(ValueError, match="source has"):
        ts.masked_scatter(ts.tensor(a), ts.tensor(mask), ts.tensor(s[:2]))
    x = ts.tensor(a, requires_grad=True)
    ts.slice_scatter(x, ts.tensor(src), 1, 1, 5, 2).sum().backward()  # the replaced entries get no gradient
    g = np.ones_like(a)
    g[:, 1:5:2] = 0
    np.testing.assert_array_equal(_np(x.grad), g)


def test_unique_consecutive():
    u = np.array([1, 1, 2, 2, 3, 1, 1, 2])
    values, inverse, counts = ts.unique_consecutive(ts.tensor(u), return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(_np(values), [1, 2, 3, 1, 2])
    np.testing.assert_array_equal(_np(inverse), [0, 0, 1, 1, 2, 3, 3, 4])
    np.testing.assert_array_equal(_np(counts), [2, 2, 1, 2, 1])
    m = np.array([[1, 2], [1, 2], [3, 4], [3, 4], [1, 2]])
    values, counts = ts.unique_consecutive(ts.tensor(m), return_counts=True, dim=0)
    np.testing.assert_array_equal(_np(values), [[1, 2], [3, 4], [1, 2]])
    np.testing.assert_array_equal(_np(counts), [2, 2, 1])
    np.testing.assert_array_equal(_np(ts.tensor(m.T).unique_consecutive(dim=1)), [[1, 3, 1], [2, 4, 2]])


def test_histogram_matches_numpy():
    h = rng.standard_normal(1000)
    w = rng.random(1000)
    for bins, kw in ((12, {}), (5, {"range": (-1.0, 1.0)}), (np.array([-2.0, -1, 0, 0.5, 3]), {})):
        tb = ts.tensor(bins) if isinstance(bins, np.ndarray) else bins
        for weight, density in ((None, False), (w, True)):
            got = ts.histogram(ts.tensor(h), tb, weight=None if weight is None else ts.tensor(weight), density=density,
                               **kw)
            want, edges = np.histogram(h, bins, weights=weight, density=density, **kw)
            np.testing.assert_allclose(_np(got.hist), want, rtol=1e-12)
            np.testing.assert_allclose(_np(got.bin_edges), edges, rtol=1e-12)
    with pytest.raises(ValueError, match="increase"):
        ts.histogram(ts.tensor(h), ts.tensor([0.0, 2.0, 1.0]))


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_matches_numpy(edge_order):
    a = rng.standard_normal((5, 7, 4))
    x = ts.tensor(a)
    for got, want in zip(ts.gradient(x, edge_order=edge_order), np.gradient(a, edge_order=edge_order)):
        np.testing.assert_allclose(_np(got), want, rtol=1e-12, atol=1e-14)
    got = ts.gradient(x, spacing=[0.5, 2.0], dim=(0, 2), edge_order=edge_order)
    want = np.gradient(a, 0.5, 2.0, axis=(0, 2), edge_order=edge_order)
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), w, rtol=1e-12, atol=1e-14)
    c = np.cumsum(rng.uniform(0.1, 1.0, 7))  # uneven coordinates
    (g,) = ts.gradient(x, spacing=[ts.tensor(c)], dim=1, edge_order=edge_order)
    np.testing.assert_allclose(_np(g), np.gradient(a, c, axis=1, edge_order=edge_order), rtol=1e-11, atol=1e-13)
    two = rng.standard_normal(2)
    if edge_order == 1:
        np.testing.assert_allclose(_np(ts.gradient(ts.tensor(two))[0]), np.gradient(two), rtol=1e-12)
    else:
        with pytest.raises(ValueError, match="edge_order"):
            ts.gradient(ts.tensor(two), edge_order=2)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_frexp_matches_numpy(dtype):
    fi = np.finfo(dtype)
    x = np.concatenate([rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200).clip(fi.minexp // 4, fi.maxexp // 4),
                        [0.0, -0.0, fi.tiny, fi.tiny / 3, fi.smallest_subnormal, -fi.smallest_subnormal * 5,
                         fi.max, -fi.max, np.inf, -np.inf, np.nan]]).astype(dtype)
    m, e = ts.frexp(ts.tensor(x))
    wm, we = np.frexp(x)
    np.testing.assert_array_equal(_np(m), wm)
    np.testing.assert_array_equal(_np(e), we)
    assert e.dtype == ts.int32 and m.dtype == getattr(ts, dtype)
    np.testing.assert_array_equal(np.signbit(_np(m)), np.signbit(wm))


def _scatter_reduce_ref(inp, dim, idx, src, reduce, include_self):
    """A loop over index's elements (numpy's ufunc.at), PyTorch's definition."""
    out = inp.astype(np.float64 if inp.dtype.kind == "f" else np.int64).copy()
    pos = [tuple(c[:dim]) + (idx[c],) + tuple(c[dim + 1:]) for c in np.ndindex(*idx.shape)]
    vals = [src[c] for c in np.ndindex(*idx.shape)]
    hit = sorted(set(pos))
    if not include_self:
        for p in hit:
            out[p] = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}[reduce] \
                if inp.dtype.kind == "f" or reduce in ("sum", "mean", "prod") else \
                (np.iinfo(np.int64).min if reduce == "amax" else np.iinfo(np.int64).max)
    count = {p: (1 if include_self else 0) for p in hit}
    for p, v in zip(pos, vals):
        if reduce in ("sum", "mean"):
            out[p] += v
        elif reduce == "prod":
            out[p] *= v
        elif reduce == "amax":
            out[p] = np.nan if np.isnan(out[p]) or np.isnan(v) else max(out[p], v)
        else:
            out[p] = np.nan if np.isnan(out[p]) or np.isnan(v) else min(out[p], v)
        count[p] += 1
    if reduce == "mean":
        for p in hit:
            out[p] = out[p] / count[p] if inp.dtype.kind == "f" else out[p] // count[p]
    return out


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_scatter_reduce_matches_a_loop(reduce, include_self, dtype):
    for shape, dim, ishape in (((5, 4), 0, (7, 4)), ((5, 4), 1, (5, 9)), ((3, 4, 5), 1, (3, 6, 5)),
                               ((3, 4, 5), 2, (2, 3, 8))):
        inp = (rng.standard_normal(shape) * 5).astype(dtype)
        src = (rng.standard_normal(tuple(s + 1 for s in ishape)) * 5).astype(dtype)  # larger than index
        idx = rng.integers(0, shape[dim], ishape)
        if dtype == "float64":
            src.flat[3] = np.nan  # NaN propagates through amax/amin, sums and products
        got = ts.tensor(inp).scatter_reduce(dim, ts.tensor(idx), ts.tensor(src), reduce, include_self=include_self)
        want = _scatter_reduce_ref(inp, dim, idx, src[tuple(slice(0, s) for s in ishape)], reduce, include_self)
        np.testing.assert_allclose(_np(got), want, rtol=1e-12, equal_nan=True)


def test_index_reduce_and_errors():
    inp, src = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    idx = np.array([0, 4, 0, 2])
    for reduce in ("prod", "mean", "amax", "amin"):
        got = ts.index_reduce(ts.tensor(inp), 0, ts.tensor(idx), ts.tensor(src), reduce, include_self=False)
        full = np.broadcast_to(idx[:, None], (4, 3))
        np.testing.assert_allclose(_np(got), _scatter_reduce_ref(inp, 0, full, src, reduce, False), rtol=1e-12)
    with pytest.raises(ValueError, match="reduce"):
        ts.scatter_reduce(ts.tensor(inp), 0, ts.tensor(full), ts.tensor(src), "median")
    with pytest.raises(IndexError, match="out of range"):
        ts.scatter_reduce(ts.tensor(inp), 0, ts.tensor(full + 5), ts.tensor(src), "sum")
    x = ts.tensor(inp, requires_grad=True)  # gradients flow to input through the composite
    ts.scatter_reduce(x, 0, ts.tensor(full), ts.tensor(src), "sum").sum().backward()
    np.testing.assert_array_equal(_np(x.grad), np.ones_like(inp))


@pytest.mark.parametrize("rate", [0.0, 0.3, 3.0, 9.9, 10.0, 30.0, 1000.0])  # both sides of the switch at 10
def test_poisson_draws_follow_the_pmf(rate):
    import scipy.stats
    g = ts.Generator().manual_seed(1234)
    x = _np(ts.poisson(ts.full((100000,), rate, dtype=ts.float64), generator=g))
    assert np.all(x == np.floor(x)) and x.min() >= 0
    ks = np.arange(max(0, int(rate - 6 * np.sqrt(rate + 1))), int(rate + 6 * np.sqrt(rate + 1)) + 2)
    expected = scipy.stats.poisson.pmf(ks, rate) * x.size
    keep = expected > 5
    if keep.sum() > 1:  # a chi-square test over the bulk of the pmf (fixed seed: deterministic)
        observed = np.array([(x == k).sum() for k in ks])
        chi = ((observed[keep] - expected[keep]) ** 2 / expected[keep]).sum()
        assert scipy.stats.chi2.sf(chi, keep.sum() - 1) > 1e-3
    else:
        assert np.all(x == 0)


def test_poisson_is_reproducible_and_checks_rates():
    rates = ts.tensor(rng.uniform(0, 40, (3, 50)).astype(np.float32))
    a = ts.poisson(rates, generator=ts.Generator().manual_seed(7))
    b = ts.poisson(rates, generator=ts.Generator().manual_seed(7))
    assert a.dtype == ts.float32 and tuple(a.shape) == (3, 50)
    np.testing.assert_array_equal(_np(a), _np(b))
    with pytest.raises(ValueError, match="non-negative"):
        ts.poisson(ts.tensor([1.0, -2.0]))
    with pytest.raises(TypeError, match="floating"):
        ts.poisson(ts.tensor([1, 2]))
