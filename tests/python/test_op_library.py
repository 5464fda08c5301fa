"""The op library against NumPy (float64 as the oracle): reductions, linear algebra,
shape and indexing ops, random ops (properties and seeding), and results that do
not depend on the thread count. PyTorch semantics throughout."""
import warnings

import numpy as np
import pytest

import tessel as ts
from conftest import NP, to_numpy

F32, F64, I32, I64, BOOL = ts.float32, ts.float64, ts.int32, ts.int64, ts.bool
U8 = ts.uint8
FLOATS = [F32, F64]
INTS = [I32, I64]
INF = float("inf")

# (rtol, atol) by result dtype; everything else is compared exactly
TOL = {
    ts.float32: (1e-5, 1e-5), ts.complex64: (1e-5, 1e-5),
    ts.float64: (1e-12, 1e-12), ts.complex128: (1e-12, 1e-12),
}
MATMUL_TOL = {ts.float32: (1e-5, 1e-4), ts.float64: (1e-12, 1e-11)}


def ids(v):
    return str(v).replace("tessel.", "")


# ---------------------------------------------------------------- helpers

def make(shape, dtype, seed=0, low=-3.0, high=3.0):
    """A NumPy array of `shape` with values for `dtype` (bool: about half True)."""
    r = np.random.default_rng(seed)
    shape = tuple(shape)
    if dtype == BOOL:
        return np.asarray(r.random(shape) < 0.5)
    if dtype in (ts.float32, ts.float64):
        return np.asarray(r.uniform(low, high, shape)).astype(NP[dtype])
    if dtype in (ts.complex64, ts.complex128):
        return np.asarray(r.uniform(low, high, shape) + 1j * r.uniform(low, high, shape)).astype(NP[dtype])
    return np.asarray(r.integers(int(low), int(high) + 1, shape)).astype(NP[dtype])


LAYOUTS = ["contiguous", "transposed", "strided"]


def laid_out(a, layout):
    """(NumPy view, tessel tensor) holding the same logical values as `a`, the tensor laid out
    contiguously, as a permuted (transposed) view, or as a view with a step in the last dim."""
    a = np.asarray(a)
    if layout == "contiguous":
        return a, ts.tensor(a)
    if layout == "transposed":
        perm = list(reversed(range(a.ndim)))
        base = np.ascontiguousarray(a.transpose(perm))
        t = ts.tensor(base).permute(*perm)
        if a.ndim >= 2 and sum(s > 1 for s in a.shape) >= 2:
            assert not t.is_contiguous()
        return a, t
    if layout == "strided":
        base = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        base[..., ::2] = a
        t = ts.tensor(base)[..., ::2]
        if a.shape[-1] > 1:
            assert not t.is_contiguous()
        return a, t
    raise AssertionError(layout)


def f64(a):
    a = np.asarray(a)
    if np.iscomplexobj(a):
        return a.astype(np.complex128)
    return a.astype(np.float64)


def check(t, expected, dtype=None, tol=None):
    """`t` is a tessel tensor equal to the NumPy `expected`: same shape; values to the
    tolerance of t's dtype (`tol`: (rtol, atol) or a dict by dtype), ints/bools/indices
    exactly; optionally of dtype `dtype`."""
    assert isinstance(t, ts.Tensor), type(t)
    expected = np.asarray(expected)
    if dtype is not None:
        assert t.dtype == dtype, (t.dtype, dtype)
    got = to_numpy(t)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if isinstance(tol, dict):
        tol = tol.get(t.dtype)
    tol = tol or TOL.get(t.dtype)
    if tol is not None:
        np.testing.assert_allclose(got, expected, rtol=tol[0], atol=tol[1], equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


def raises(exc, fn, name):
    """fn() raises exc and the message names the op as "[name"."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    assert f"[{name}" in msg, msg
    return msg


def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return fn(*args, **kw)


def sum_dtype(dtype):
    """Result dtype of sum-like ops (prod, cumsum, cumprod): ints and bool widen to int64."""
    return I64 if dtype in (BOOL, ts.uint8, ts.int8, ts.int16, I32, I64) else dtype


RED_SHAPE = (3, 4, 5)


# ================================================================ reductions
# ---------------------------------------------------------------- prod

def prod_input(dtype, shape=RED_SHAPE, seed=1):
    r = np.random.default_rng(seed)
    if dtype == BOOL:
        return r.random(shape) < 0.8
    if dtype in FLOATS:
        return (r.uniform(0.5, 1.5, shape) * r.choice([-1, 1], shape)).astype(NP[dtype])
    return r.choice([-2, -1, 1, 2], shape).astype(NP[dtype])  # |product of 60| <= 2**60


@pytest.mark.parametrize("dtype", [F32, F64, I32, I64, BOOL], ids=ids)
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, -3])
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod(dtype, dim, keepdim):
    a = prod_input(dtype)
    t = ts.tensor(a)
    ref = a.astype(np.int64) if dtype not in FLOATS else f64(a)
    expected = np.prod(ref, axis=dim, keepdims=keepdim)
    check(ts.prod(t, dim=dim, keepdim=keepdim), expected, sum_dtype(dtype))
    check(t.prod(dim=dim, keepdim=keepdim), expected, sum_dtype(dtype))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [None, 0, -1])
def test_prod_layouts(layout, dim):
    a, t = laid_out(prod_input(F64, (4, 6)), layout)
    check(ts.prod(t, dim), np.prod(a, axis=dim), F64)


def test_prod_positional_and_dtype_arg():
    a = prod_input(I32)
    t = ts.tensor(a)
    check(ts.prod(t, 1), np.prod(a.astype(np.int64), 1), I64)
    check(ts.prod(t, 1, True), np.prod(a.astype(np.int64), 1, keepdims=True), I64)
    check(ts.prod(t, dtype=F64), np.prod(f64(a)), F64)
    check(ts.prod(t, dim=2, dtype=F64), np.prod(f64(a), axis=2), F64)
    check(ts.prod(t, dim=2, dtype=I32), np.prod(a.astype(np.int64), axis=2), I32)
    b = prod_input(F32)
    check(ts.prod(ts.tensor(b), dim=0, dtype=F64), np.prod(f64(b), axis=0), F64)
    check(ts.tensor(b).prod(0, dtype=F64), np.prod(f64(b), axis=0), F64)


def test_prod_empty_and_zero():
    e = np.zeros((0, 3))
    check(ts.prod(ts.tensor(e)), np.prod(e), F64)           # 1
    check(ts.prod(ts.tensor(e), 0), np.prod(e, 0), F64)     # ones(3)
    check(ts.prod(ts.tensor(e), 1), np.prod(e, 1), F64)     # shape (0,)
    check(ts.prod(ts.tensor(np.zeros((0,), np.int32))), np.prod(np.zeros(0, np.int64)), I64)
    a = np.array([[1.5, 0.0, 2.0], [-1.0, 2.0, 4.0]])
    check(ts.prod(ts.tensor(a), 1), np.prod(a, 1), F64)
    s = np.array(2.5)
    check(ts.prod(ts.tensor(s)), np.prod(s), F64)


# ---------------------------------------------------------------- argmax / argmin

def arg_input(dtype, shape=RED_SHAPE, seed=2):
    r = np.random.default_rng(seed)
    if dtype in FLOATS:  # few distinct values -> many ties (first occurrence wins)
        return (r.integers(-3, 4, shape) / 2).astype(NP[dtype])
    return r.integers(-3, 4, shape).astype(NP[dtype])


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", [F32, F64, I32, I64], ids=ids)
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, -2])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin(op, dtype, dim, keepdim):
    a = arg_input(dtype)
    t = ts.tensor(a)
    expected = getattr(np, op)(a, axis=dim, keepdims=keepdim)
    check(getattr(ts, op)(t, dim=dim, keepdim=keepdim), expected, I64)
    check(getattr(t, op)(dim=dim, keepdim=keepdim), expected, I64)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_argmax_argmin_layouts(op, layout, dim):
    a, t = laid_out(arg_input(F64, (5, 6)), layout)
    check(getattr(ts, op)(t, dim), getattr(np, op)(a, axis=dim), I64)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin_nan_and_ties(op):
    a = np.array([1.0, np.nan, 3.0, np.nan, -2.0])  # NaN wins (propagates), first one
    check(getattr(ts, op)(ts.tensor(a)), getattr(np, op)(a), I64)
    b = np.array([[2.0, 5.0, 5.0, 1.0], [7.0, 7.0, 7.0, 7.0], [0.0, -1.0, np.nan, -1.0]])
    check(getattr(ts, op)(ts.tensor(b), 1), getattr(np, op)(b, axis=1), I64)
    c = np.array([4, 4, 4], dtype=np.int64)
    check(getattr(ts, op)(ts.tensor(c)), getattr(np, op)(c), I64)


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin_empty(op):
    e = np.zeros((0, 3))
    check(getattr(ts, op)(ts.tensor(e), 1), np.zeros((0,), np.int64), I64)
    with pytest.raises((ValueError, RuntimeError, IndexError)) as info:
        getattr(ts, op)(ts.zeros(0))
    assert f"[{op}]" in str(info.value)
    with pytest.raises((ValueError, RuntimeError, IndexError)) as info:
        getattr(ts, op)(ts.tensor(e), 0)
    assert f"[{op}]" in str(info.value)


def test_max_min_dim_existing():
    a = arg_input(F64, (4, 6), seed=3)
    t = ts.tensor(a)
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            r = t.max(dim, keepdim=keepdim)
            values, indices = r
            check(values, np.max(a, axis=dim, keepdims=keepdim), F64)
            check(indices, np.argmax(a, axis=dim, keepdims=keepdim), I64)
            check(r.values, np.max(a, axis=dim, keepdims=keepdim), F64)
            check(r.indices, np.argmax(a, axis=dim, keepdims=keepdim), I64)
            r = t.min(dim, keepdim=keepdim)
            check(r.values, np.min(a, axis=dim, keepdims=keepdim), F64)
            check(r.indices, np.argmin(a, axis=dim, keepdims=keepdim), I64)


# ---------------------------------------------------------------- var / std

VAR_DIMS = [None, 0, 1, 2, -1, (0, 2), (-1, 0), (0, 1, 2)]


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
@pytest.mark.parametrize("dim", VAR_DIMS)
@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("keepdim", [False, True])
def test_var_std(op, dtype, dim, correction, keepdim):
    a = make(RED_SHAPE, dtype, seed=4)
    t = ts.tensor(a)
    expected = getattr(np, op)(f64(a), axis=dim, ddof=correction, keepdims=keepdim)
    check(getattr(ts, op)(t, dim, correction=correction, keepdim=keepdim), expected, dtype)
    check(getattr(t, op)(dim, correction=correction, keepdim=keepdim), expected, dtype)


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_defaults(op):
    a = make(RED_SHAPE, F64, seed=5)
    t = ts.tensor(a)
    check(getattr(ts, op)(t), getattr(np, op)(a, ddof=1), F64)          # correction=1
    check(getattr(ts, op)(t, 1), getattr(np, op)(a, axis=1, ddof=1), F64)
    check(getattr(ts, op)(t, dim=(0, 1)), getattr(np, op)(a, axis=(0, 1), ddof=1), F64)
    check(getattr(t, op)(), getattr(np, op)(a, ddof=1), F64)


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_var_std_layouts(op, layout, dim):
    a, t = laid_out(make((5, 6), F64, seed=6), layout)
    check(getattr(ts, op)(t, dim), getattr(np, op)(a, axis=dim, ddof=1), F64)


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_numerically_stable(op):
    # a naive sum-of-squares formula loses every digit here
    a = 1e9 + np.array([1.0, 2.0, 3.0, 4.0])
    check(getattr(ts, op)(ts.tensor(a)), getattr(np, op)(a, ddof=1), F64, tol=(1e-9, 0))
    b = (1e4 + np.arange(6, dtype=np.float32)).astype(np.float32)
    check(getattr(ts, op)(ts.tensor(b), correction=0), getattr(np, op)(f64(b)), F32, tol=(1e-4, 0))


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_degenerate(op):
    # one element with correction=1 and an empty tensor give NaN (PyTorch, NumPy)
    one = np.array([5.0])
    check(getattr(ts, op)(ts.tensor(one)), quiet(getattr(np, op), one, ddof=1), F64)
    check(getattr(ts, op)(ts.tensor(one), correction=0), getattr(np, op)(one), F64)
    e = np.zeros((0,))
    check(getattr(ts, op)(ts.tensor(e)), quiet(getattr(np, op), e, ddof=1), F64)
    e2 = np.zeros((2, 0))
    check(getattr(ts, op)(ts.tensor(e2), 1), quiet(getattr(np, op), e2, axis=1, ddof=1), F64)
    check(getattr(ts, op)(ts.tensor(e2), 0), quiet(getattr(np, op), e2, axis=0, ddof=1), F64)
    c = np.full((3, 4), 7.25)
    check(getattr(ts, op)(ts.tensor(c), 1), getattr(np, op)(c, axis=1, ddof=1), F64)


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("dtype", [I32, I64], ids=ids)
def test_var_std_int_type_error(op, dtype):
    t = ts.tensor(np.arange(6, dtype=NP[dtype]).reshape(2, 3))
    raises(TypeError, lambda: getattr(ts, op)(t), op)
    raises(TypeError, lambda: getattr(ts, op)(t, 1), op)
    raises(TypeError, lambda: getattr(t, op)(), op)


# ---------------------------------------------------------------- norm

def vector_norm(a, p, axis=None, keepdims=False):
    x = np.abs(f64(a))
    if p in ("fro", 2):
        return np.sqrt((x * x).sum(axis=axis, keepdims=keepdims))
    if p == INF:
        return x.max(axis=axis, keepdims=keepdims)
    if p == -INF:
        return x.min(axis=axis, keepdims=keepdims)
    if p == 0:
        return (x != 0).sum(axis=axis, keepdims=keepdims).astype(np.float64)
    return (x ** p).sum(axis=axis, keepdims=keepdims) ** (1.0 / p)


def norm_input(dtype, shape=RED_SHAPE, seed=7):
    a = make(shape, dtype, seed=seed)
    a[np.random.default_rng(seed + 1).random(shape) < 0.2] = 0  # zeros matter for p=0 and -inf
    return a


NORM_PS = ["fro", 1, 2, 3, INF, -INF, 0]


@pytest.mark.parametrize("p", NORM_PS, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
@pytest.mark.parametrize("dim", [None, 0, 2, -1, (0, 2), (-1, -2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_norm(p, dtype, dim, keepdim):
    a = norm_input(dtype)
    t = ts.tensor(a)
    expected = vector_norm(a, p, dim, keepdim)
    check(ts.norm(t, p, dim, keepdim), expected, dtype)
    check(ts.norm(t, p=p, dim=dim, keepdim=keepdim), expected, dtype)
    check(t.norm(p, dim=dim, keepdim=keepdim), expected, dtype)


def test_norm_default_is_frobenius():
    a = norm_input(F64, (4, 5))
    t = ts.tensor(a)
    check(ts.norm(t), np.sqrt((a * a).sum()), F64)
    check(t.norm(), np.sqrt((a * a).sum()), F64)
    check(ts.norm(t, dim=1), np.sqrt((a * a).sum(axis=1)), F64)


@pytest.mark.parametrize("p", NORM_PS, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_norm_layouts(p, layout):
    a, t = laid_out(norm_input(F64, (5, 6)), layout)
    check(ts.norm(t, p), vector_norm(a, p), F64)
    check(ts.norm(t, p, 0), vector_norm(a, p, 0), F64)


@pytest.mark.parametrize("p", ["fro", 1, 2, 3, 0], ids=str)
def test_norm_empty_is_zero(p):
    e = np.zeros((0, 3))
    check(ts.norm(ts.tensor(e), p), vector_norm(e, p), F64)
    check(ts.norm(ts.tensor(e), p, 0), vector_norm(e, p, 0), F64)


# ---------------------------------------------------------------- logsumexp

def logsumexp_ref(a, axis, keepdims=False):
    a = f64(a)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        r = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return r if keepdims else np.squeeze(r, axis=axis)


@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, (0, 2), (2, -2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp(dtype, dim, keepdim):
    a = make(RED_SHAPE, dtype, seed=8, low=-5, high=5)
    t = ts.tensor(a)
    expected = logsumexp_ref(a, dim, keepdim)
    check(ts.logsumexp(t, dim, keepdim), expected, dtype)
    check(ts.logsumexp(t, dim=dim, keepdim=keepdim), expected, dtype)
    check(t.logsumexp(dim, keepdim=keepdim), expected, dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
def test_logsumexp_stable_and_infinite(dtype):
    a = np.array([[1000.0, 1000.0, 999.0],
                  [-INF, -INF, -INF],
                  [-INF, 0.0, -INF],
                  [1000.0, -1000.0, -INF],
                  [-1000.0, -1000.5, -999.0],
                  [INF, 1.0, -INF]], dtype=NP[dtype])
    expected = np.logaddexp.reduce(f64(a), axis=1)
    assert np.isfinite(expected[0]) and expected[1] == -INF and expected[5] == INF
    check(ts.logsumexp(ts.tensor(a), 1), expected, dtype, tol=(1e-6 if dtype == F32 else 1e-12, 0))
    check(ts.logsumexp(ts.tensor(a), -1, True), expected[:, None], dtype,
          tol=(1e-6 if dtype == F32 else 1e-12, 0))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_logsumexp_layouts(layout):
    a, t = laid_out(make((5, 6), F64, seed=9), layout)
    check(ts.logsumexp(t, 0), logsumexp_ref(a, 0), F64)
    check(ts.logsumexp(t, 1), logsumexp_ref(a, 1), F64)


def test_logsumexp_empty_dim_is_minus_inf():
    e = np.zeros((2, 0))
    check(ts.logsumexp(ts.tensor(e), 1), np.full(2, -INF), F64)
    check(ts.logsumexp(ts.tensor(e), 0), np.zeros((0,)), F64)


# ---------------------------------------------------------------- all / any

def bool_like_input(dtype, p_true, shape=RED_SHAPE, seed=10):
    r = np.random.default_rng(seed)
    truth = r.random(shape) < p_true
    if dtype == BOOL:
        return truth
    vals = make(shape, dtype, seed=seed + 1, low=1, high=3)
    if dtype in FLOATS:
        vals = np.where(r.random(shape) < 0.1, np.nan, vals).astype(NP[dtype])  # NaN is true
        vals = np.where(r.random(shape) < 0.5, -vals, vals).astype(NP[dtype])
    return np.where(truth, vals, np.zeros_like(vals))


ALL_ANY_DTYPES = [BOOL, I32, I64, F32, F64]


@pytest.mark.parametrize("op, p_true", [("all", 0.85), ("any", 0.15)])
@pytest.mark.parametrize("dtype", ALL_ANY_DTYPES, ids=ids)
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_all_any(op, p_true, dtype, dim, keepdim):
    a = bool_like_input(dtype, p_true)
    t = ts.tensor(a)
    expected = getattr(np, op)(a, axis=dim, keepdims=keepdim)
    if isinstance(dim, int):  # the input makes both outcomes appear
        assert expected.any() and not expected.all()
    check(getattr(ts, op)(t, dim=dim, keepdim=keepdim), expected, BOOL)
    check(getattr(t, op)(dim=dim, keepdim=keepdim), expected, BOOL)


@pytest.mark.parametrize("op", ["all", "any"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_all_any_layouts(op, layout):
    a, t = laid_out(bool_like_input(F64, 0.8 if op == "all" else 0.2, (5, 6)), layout)
    for dim in (None, 0, 1):
        check(getattr(ts, op)(t, dim), getattr(np, op)(a, axis=dim), BOOL)


@pytest.mark.parametrize("op", ["all", "any"])
def test_all_any_empty_and_whole(op):
    e = np.zeros((0, 3))
    check(getattr(ts, op)(ts.tensor(e)), getattr(np, op)(e), BOOL)     # all: True, any: False
    check(getattr(ts, op)(ts.tensor(e), 0), getattr(np, op)(e, axis=0), BOOL)
    check(getattr(ts, op)(ts.tensor(e), 1), getattr(np, op)(e, axis=1), BOOL)
    for a in (np.ones((2, 3)), np.zeros((2, 3), np.int64), np.array([0.0, -0.0]), np.array([np.nan]),
              np.array([True, False])):
        check(getattr(ts, op)(ts.tensor(a)), getattr(np, op)(a), BOOL)


# ---------------------------------------------------------------- cumsum / cumprod

def cum_input(op, dtype, shape=RED_SHAPE, seed=11):
    return prod_input(dtype, shape, seed) if op == "cumprod" else make(shape, dtype, seed=seed)


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", [F32, F64, I32, I64, BOOL], ids=ids)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_cumsum_cumprod(op, dtype, dim):
    a = cum_input(op, dtype)
    t = ts.tensor(a)
    ref = a.astype(np.int64) if dtype not in FLOATS else f64(a)
    expected = getattr(np, op)(ref, axis=dim)
    check(getattr(ts, op)(t, dim), expected, sum_dtype(dtype))
    check(getattr(ts, op)(t, dim=dim), expected, sum_dtype(dtype))
    check(getattr(t, op)(dim), expected, sum_dtype(dtype))


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_cumsum_cumprod_dtype_arg(op):
    a = cum_input(op, I32)
    check(getattr(ts, op)(ts.tensor(a), 1, dtype=F64), getattr(np, op)(f64(a), axis=1), F64)
    b = cum_input(op, F32)
    check(getattr(ts, op)(ts.tensor(b), 0, dtype=F64), getattr(np, op)(f64(b), axis=0), F64)
    check(getattr(ts.tensor(b), op)(0, dtype=F64), getattr(np, op)(f64(b), axis=0), F64)
    c = cum_input(op, BOOL)
    check(getattr(ts, op)(ts.tensor(c), -1, dtype=I32), getattr(np, op)(c.astype(np.int64), axis=-1), I32)


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1])
def test_cumsum_cumprod_layouts(op, layout, dim):
    a, t = laid_out(cum_input(op, F64, (5, 6)), layout)
    check(getattr(ts, op)(t, dim), getattr(np, op)(a, axis=dim), F64)


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
def test_cumsum_cumprod_empty_scalar_long(op):
    e = np.zeros((0, 3))
    check(getattr(ts, op)(ts.tensor(e), 0), getattr(np, op)(e, axis=0), F64)
    check(getattr(ts, op)(ts.tensor(e), 1), getattr(np, op)(e, axis=1), F64)
    s = np.array(2.5)
    check(getattr(ts, op)(ts.tensor(s), 0), s, F64)  # 0-d stays 0-d
    # a long 1-D scan (positive values: no cancellation, so the tolerance can stay tight)
    r = np.random.default_rng(12)
    a = r.uniform(0.5, 1.0, 20000) if op == "cumsum" else r.uniform(0.9999, 1.0001, 20000)
    check(getattr(ts, op)(ts.tensor(a), 0), getattr(np, op)(a), F64, tol=(1e-10, 0))
    i = r.integers(-1000, 1000, 20000)
    if op == "cumsum":
        check(ts.cumsum(ts.tensor(i), 0), np.cumsum(i), I64)


# ---------------------------------------------------------------- count_nonzero

@pytest.mark.parametrize("dtype", ALL_ANY_DTYPES, ids=ids)
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, (0, 2), (-1, -3)])
def test_count_nonzero(dtype, dim):
    a = bool_like_input(dtype, 0.5)
    if dtype in FLOATS:
        a.flat[0] = -0.0  # negative zero is zero
    t = ts.tensor(a)
    expected = np.count_nonzero(a, axis=dim)
    check(ts.count_nonzero(t, dim), np.asarray(expected), I64)
    check(ts.count_nonzero(t, dim=dim), np.asarray(expected), I64)
    check(t.count_nonzero(dim=dim), np.asarray(expected), I64)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_count_nonzero_layouts_and_empty(layout):
    a, t = laid_out(bool_like_input(F64, 0.5, (5, 6)), layout)
    for dim in (None, 0, 1):
        check(ts.count_nonzero(t, dim), np.asarray(np.count_nonzero(a, axis=dim)), I64)
    e = np.zeros((0, 3))
    check(ts.count_nonzero(ts.tensor(e)), np.asarray(0), I64)
    check(ts.count_nonzero(ts.tensor(e), 0), np.zeros(3, np.int64), I64)


# ---------------------------------------------------------------- bad dims

@pytest.mark.parametrize("name, fn", [
    ("prod", lambda t: ts.prod(t, 2)), ("prod", lambda t: t.prod(-3)),
    ("argmax", lambda t: ts.argmax(t, 2)), ("argmin", lambda t: ts.argmin(t, -3)),
    ("var", lambda t: ts.var(t, 2)), ("var", lambda t: ts.var(t, (0, 2))), ("std", lambda t: ts.std(t, -3)),
    ("norm", lambda t: ts.norm(t, 2, 2)), ("logsumexp", lambda t: ts.logsumexp(t, 2)),
    ("all", lambda t: ts.all(t, 2)), ("any", lambda t: ts.any(t, -3)),
    ("cumsum", lambda t: ts.cumsum(t, 2)), ("cumprod", lambda t: ts.cumprod(t, -3)),
    ("count_nonzero", lambda t: ts.count_nonzero(t, 2)),
    ("sort", lambda t: ts.sort(t, 2)), ("argsort", lambda t: ts.argsort(t, -3)),
    ("topk", lambda t: ts.topk(t, 1, 2)), ("kthvalue", lambda t: ts.kthvalue(t, 1, 2)),
    ("flip", lambda t: ts.flip(t, (2,))), ("roll", lambda t: ts.roll(t, 1, 2)),
    ("split", lambda t: ts.split(t, 1, 2)), ("chunk", lambda t: ts.chunk(t, 2, 2)),
    ("unbind", lambda t: ts.unbind(t, 2)), ("index_select", lambda t: ts.index_select(t, 2, ts.tensor([0]))),
    ("gather", lambda t: ts.gather(t, 2, ts.zeros(2, 3, dtype=ts.int64))),
    ("repeat_interleave", lambda t: ts.repeat_interleave(t, 2, 2)),
])
def test_dim_out_of_range(name, fn):
    raises(IndexError, lambda: fn(ts.ones(2, 3)), name)


# ================================================================ linear algebra

def mat(shape, dtype, seed):
    if dtype in INTS:
        return make(shape, dtype, seed, low=-4, high=4)
    return make(shape, dtype, seed)


LINALG_DTYPES = [F32, F64, I64]


@pytest.mark.parametrize("dtype", LINALG_DTYPES, ids=ids)
@pytest.mark.parametrize("layout_a", ["contiguous", "transposed", "strided"])
@pytest.mark.parametrize("layout_b", ["contiguous", "transposed"])
def test_bmm(dtype, layout_a, layout_b):
    a = mat((3, 4, 5), dtype, 1)
    b = mat((3, 5, 6), dtype, 2)

    def lay(x, layout):  # "transposed": only the matrix dims swapped in memory
        if layout == "transposed":
            return ts.tensor(np.ascontiguousarray(x.transpose(0, 2, 1))).transpose(1, 2)
        return laid_out(x, layout)[1]

    ta, tb = lay(a, layout_a), lay(b, layout_b)
    assert (layout_a == "contiguous") == ta.is_contiguous()
    expected = np.matmul(a, b) if dtype == I64 else np.matmul(f64(a), f64(b))
    check(ts.bmm(ta, tb), expected, dtype, tol=MATMUL_TOL.get(dtype))
    check(ta.bmm(tb), expected, dtype, tol=MATMUL_TOL.get(dtype))


def test_bmm_empty():
    for sa, sb in [((0, 2, 3), (0, 3, 4)), ((2, 0, 3), (2, 3, 4)), ((2, 3, 0), (2, 0, 4)), ((2, 3, 4), (2, 4, 0))]:
        a, b = np.ones(sa), np.ones(sb)
        check(ts.bmm(ts.tensor(a), ts.tensor(b)), np.matmul(a, b), F64)


def test_bmm_errors():
    raises(ValueError, lambda: ts.bmm(ts.zeros(3, 4), ts.zeros(4, 5)), "bmm]")
    raises(ValueError, lambda: ts.bmm(ts.zeros(2, 3, 4), ts.zeros(4, 5)), "bmm]")
    raises(ValueError, lambda: ts.bmm(ts.zeros(1, 2, 3, 4), ts.zeros(1, 2, 4, 5)), "bmm]")
    raises(ValueError, lambda: ts.bmm(ts.zeros(2, 3, 4), ts.zeros(3, 4, 5)), "bmm]")  # no batch broadcast
    raises(ValueError, lambda: ts.bmm(ts.zeros(2, 3, 4), ts.zeros(2, 5, 5)), "bmm]")


@pytest.mark.parametrize("dtype", LINALG_DTYPES, ids=ids)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_mm(dtype, layout):
    a = mat((4, 5), dtype, 3)
    b = mat((5, 3), dtype, 4)
    _, ta = laid_out(a, layout)
    _, tb = laid_out(b, "transposed" if layout == "contiguous" else "contiguous")
    expected = a @ b if dtype == I64 else f64(a) @ f64(b)
    check(ts.mm(ta, tb), expected, dtype, tol=MATMUL_TOL.get(dtype))
    check(ta.mm(tb), expected, dtype, tol=MATMUL_TOL.get(dtype))


def test_mm_empty_and_errors():
    check(ts.mm(ts.zeros(3, 0), ts.zeros(0, 4)), np.zeros((3, 4)), F32)
    check(ts.mm(ts.zeros(0, 2), ts.zeros(2, 4)), np.zeros((0, 4)), F32)
    raises(ValueError, lambda: ts.mm(ts.zeros(2, 3, 4), ts.zeros(2, 4, 5)), "mm]")
    raises(ValueError, lambda: ts.mm(ts.zeros(3), ts.zeros(3, 4)), "mm]")
    raises(ValueError, lambda: ts.mm(ts.zeros(3, 4), ts.zeros(5, 6)), "mm]")


@pytest.mark.parametrize("dtype", LINALG_DTYPES, ids=ids)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_mv(dtype, layout):
    m = mat((4, 6), dtype, 5)
    v = mat((6,), dtype, 6)
    _, tm = laid_out(m, layout)
    _, tv = laid_out(v, "strided" if layout != "strided" else "contiguous")
    expected = m @ v if dtype == I64 else f64(m) @ f64(v)
    check(ts.mv(tm, tv), expected, dtype, tol=MATMUL_TOL.get(dtype))
    check(tm.mv(tv), expected, dtype, tol=MATMUL_TOL.get(dtype))


def test_mv_empty_and_errors():
    check(ts.mv(ts.zeros(3, 0), ts.zeros(0)), np.zeros(3), F32)
    check(ts.mv(ts.zeros(0, 3), ts.zeros(3)), np.zeros(0), F32)
    raises(ValueError, lambda: ts.mv(ts.zeros(3, 4), ts.zeros(5)), "mv]")
    raises(ValueError, lambda: ts.mv(ts.zeros(3, 4), ts.zeros(4, 1)), "mv]")
    raises(ValueError, lambda: ts.mv(ts.zeros(4), ts.zeros(4)), "mv]")


@pytest.mark.parametrize("dtype", [F32, F64], ids=ids)
@pytest.mark.parametrize("input_shape", [(3, 5), (5,), (1, 5), (3, 1), ()], ids=str)
@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2.0), (-1.0, 0.25), (1, 0)])
def test_addmm(dtype, input_shape, beta, alpha):
    inp = make(input_shape, dtype, 7)
    m1, m2 = make((3, 4), dtype, 8), make((4, 5), dtype, 9)
    expected = beta * f64(inp) + alpha * (f64(m1) @ f64(m2))
    t_inp, t1, t2 = ts.tensor(inp), ts.tensor(m1), ts.tensor(m2)
    check(ts.addmm(t_inp, t1, t2, beta=beta, alpha=alpha), expected, dtype, tol=MATMUL_TOL.get(dtype))
    check(t_inp.addmm(t1, t2, beta=beta, alpha=alpha), expected, dtype, tol=MATMUL_TOL.get(dtype))


def test_addmm_defaults_ints_layouts_and_beta_zero():
    inp, m1, m2 = mat((3, 5), I64, 10), mat((3, 4), I64, 11), mat((4, 5), I64, 12)
    check(ts.addmm(ts.tensor(inp), ts.tensor(m1), ts.tensor(m2)), inp + m1 @ m2, I64)
    check(ts.addmm(ts.tensor(inp), ts.tensor(m1), ts.tensor(m2), beta=2, alpha=3), 2 * inp + 3 * (m1 @ m2), I64)
    a, b, c = make((5, 3), F64, 13), make((4, 3), F64, 14), make((5, 4), F64, 15)
    _, ta = laid_out(a, "transposed")      # (3, 5) view
    _, tb = laid_out(b, "strided")
    _, tc = laid_out(c, "transposed")      # (4, 5) view
    check(ts.addmm(ta.t(), tb.t(), tc.t()), a.T + b.T @ c.T, F64, tol=MATMUL_TOL)
    # beta=0: input is ignored, NaN in it does not propagate (PyTorch)
    nan_inp = np.full((3, 5), np.nan)
    m1f, m2f = make((3, 4), F64, 16), make((4, 5), F64, 17)
    check(ts.addmm(ts.tensor(nan_inp), ts.tensor(m1f), ts.tensor(m2f), beta=0), m1f @ m2f, F64, tol=MATMUL_TOL)
    raises(ValueError, lambda: ts.addmm(ts.zeros(3, 5), ts.zeros(3, 4), ts.zeros(5, 5)), "addmm]")
    raises(ValueError, lambda: ts.addmm(ts.zeros(4, 5), ts.zeros(3, 4), ts.zeros(4, 5)), "addmm]")


@pytest.mark.parametrize("dtype", [F32, F64], ids=ids)
@pytest.mark.parametrize("x_shape", [(5,), (3, 5), (2, 3, 5), (0, 5)], ids=str)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("weight_layout", ["contiguous", "transposed"])
def test_linear(dtype, x_shape, bias, weight_layout):
    x, w, b = make(x_shape, dtype, 18), make((4, 5), dtype, 19), make((4,), dtype, 20)
    _, tw = laid_out(w, weight_layout)
    expected = f64(x) @ f64(w).T + (f64(b) if bias else 0)
    got = ts.linear(ts.tensor(x), tw, ts.tensor(b) if bias else None)
    check(got, expected, dtype, tol=MATMUL_TOL.get(dtype))
    if bias:
        check(ts.linear(ts.tensor(x), tw, bias=ts.tensor(b)), expected, dtype, tol=MATMUL_TOL.get(dtype))
    else:
        check(ts.linear(ts.tensor(x), tw), expected, dtype, tol=MATMUL_TOL.get(dtype))


def test_linear_errors():
    raises(ValueError, lambda: ts.linear(ts.zeros(3, 5), ts.zeros(4, 6)), "linear]")
    raises(ValueError, lambda: ts.linear(ts.zeros(3, 5), ts.zeros(4, 5), ts.zeros(3)), "linear]")


@pytest.mark.parametrize("dtype", [F32, F64, I32, I64], ids=ids)
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_dot(dtype, layout):
    a, b = mat((7,), dtype, 21), mat((7,), dtype, 22)
    _, ta = laid_out(a, layout)
    tb = ts.tensor(b)
    expected = np.dot(a, b) if dtype in INTS else np.dot(f64(a), f64(b))
    check(ts.dot(ta, tb), np.asarray(expected), dtype, tol=MATMUL_TOL.get(dtype))
    check(ta.dot(tb), np.asarray(expected), dtype, tol=MATMUL_TOL.get(dtype))


def test_dot_empty_and_errors():
    check(ts.dot(ts.zeros(0), ts.zeros(0)), np.asarray(0.0), F32)
    raises(ValueError, lambda: ts.dot(ts.zeros(3), ts.zeros(4)), "dot]")
    raises(ValueError, lambda: ts.dot(ts.zeros(2, 3), ts.zeros(2, 3)), "dot]")
    raises(ValueError, lambda: ts.dot(ts.zeros(()), ts.zeros(())), "dot]")


@pytest.mark.parametrize("dtype", [ts.complex128, ts.complex64, F64], ids=ids)
def test_vdot(dtype):
    a, b = make((6,), dtype, 23), make((6,), dtype, 24)
    expected = np.vdot(f64(a), f64(b))  # conjugates the first argument
    if dtype != F64:
        assert abs(expected - np.dot(a, b)) > 1e-3  # the conjugation matters for this data
    check(ts.vdot(ts.tensor(a), ts.tensor(b)), np.asarray(expected), dtype, tol=MATMUL_TOL.get(dtype))
    check(ts.tensor(a).vdot(ts.tensor(b)), np.asarray(expected), dtype, tol=MATMUL_TOL.get(dtype))
    # non-contiguous
    _, ta = laid_out(a, "strided")
    check(ts.vdot(ta, ts.tensor(b)), np.asarray(expected), dtype, tol=MATMUL_TOL.get(dtype))
    raises(ValueError, lambda: ts.vdot(ts.tensor(a), ts.tensor(b[:5])), "vdot]")


@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=ids)
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_outer(dtype, layout):
    a, b = mat((4,), dtype, 25), mat((3,), dtype, 26)
    _, ta = laid_out(a, layout)
    expected = np.outer(a, b) if dtype == I64 else np.outer(f64(a), f64(b))
    check(ts.outer(ta, ts.tensor(b)), expected, dtype)
    check(ta.outer(ts.tensor(b)), expected, dtype)
    check(ts.outer(ts.zeros(0), ts.zeros(3)), np.zeros((0, 3)), F32)
    raises(ValueError, lambda: ts.outer(ts.zeros(2, 2), ts.zeros(3)), "outer]")


EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("bhqk,bhkd->bhqd", [(2, 3, 4, 6), (2, 3, 6, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii->", [(4, 4)]),
    ("ij->", [(3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ijk,ikl->ijl", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (2, 3, 5, 6)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),       # ellipsis dims broadcast
    ("...ij,...jk->...ik", [(3, 4), (4, 5)]),          # empty ellipsis
    ("bij,jk->bik", [(2, 3, 4), (4, 5)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 6)]),
    ("ij,jk", [(3, 4), (4, 5)]),                       # implicit output -> 'ik'
]


@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
@pytest.mark.parametrize("equation, shapes", EINSUM_CASES, ids=[f"{e}:{s}" for e, s in EINSUM_CASES])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_einsum(dtype, equation, shapes, layout):
    arrays = [make(s, dtype, 30 + i) for i, s in enumerate(shapes)]
    tensors = [laid_out(a, layout)[1] for a in arrays]
    expected = np.einsum(equation, *[f64(a) for a in arrays])
    check(ts.einsum(equation, *tensors), expected, dtype, tol=MATMUL_TOL.get(dtype))


def test_einsum_int64():
    a, b = mat((3, 4), I64, 40), mat((4, 5), I64, 41)
    check(ts.einsum("ij,jk->ik", ts.tensor(a), ts.tensor(b)), np.einsum("ij,jk->ik", a, b), I64)
    check(ts.einsum("ij->", ts.tensor(a)), np.einsum("ij->", a), I64)


@pytest.mark.parametrize("equation, shapes", [
    ("ij,jk->il", [(3, 4), (4, 5)]),        # output label not in the inputs
    ("ij,jk->ik", [(3, 4)]),                # too few operands
    ("ij->ij", [(3, 4), (3, 4)]),           # too many operands
    ("ijk->i", [(3, 4)]),                   # subscripts do not match the operand's dims
    ("ij,jk->ik", [(3, 4), (5, 6)]),        # sizes of j differ
    ("ij->ii", [(3, 3)]),                   # repeated output label
    ("i1->", [(3, 3)]),                     # not a letter
    ("ij,jk->->ik", [(3, 4), (4, 5)]),      # two arrows
])
def test_einsum_bad_equation(equation, shapes):
    tensors = [ts.zeros(*s) for s in shapes]
    raises(ValueError, lambda: ts.einsum(equation, *tensors), "einsum]")


@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
@pytest.mark.parametrize("sa, sb, dims, axes", [
    ((3, 4, 5), (4, 5, 6), 2, 2),
    ((3, 4, 5), (4, 3, 6), ([1, 0], [0, 1]), ([1, 0], [0, 1])),
    ((3, 4), (4, 5), 1, 1),
    ((3,), (4,), 0, 0),
    ((2, 3), (2, 3), 2, 2),
], ids=["dims2", "lists", "dims1", "dims0", "full"])
def test_tensordot(dtype, sa, sb, dims, axes):
    a, b = make(sa, dtype, 42), make(sb, dtype, 43)
    expected = np.tensordot(f64(a), f64(b), axes=axes)
    check(ts.tensordot(ts.tensor(a), ts.tensor(b), dims), expected, dtype, tol=MATMUL_TOL.get(dtype))
    check(ts.tensordot(ts.tensor(a), ts.tensor(b), dims=dims), expected, dtype, tol=MATMUL_TOL.get(dtype))
    _, ta = laid_out(a, "transposed")
    check(ts.tensordot(ta, ts.tensor(b), dims=dims), expected, dtype, tol=MATMUL_TOL.get(dtype))


def test_tensordot_errors():
    raises(ValueError, lambda: ts.tensordot(ts.zeros(3, 4), ts.zeros(5, 6), dims=1), "tensordot]")
    raises(ValueError, lambda: ts.tensordot(ts.zeros(3, 4), ts.zeros(4, 3), dims=([0], [0])), "tensordot]")


# ================================================================ shape ops
# ---------------------------------------------------------------- split / chunk / unbind

def np_split_sizes(n, sizes):
    bounds = np.cumsum([0] + list(sizes))
    return [(int(bounds[i]), int(bounds[i + 1])) for i in range(len(sizes))]


def take_range(a, axis, lo, hi):
    sl = [slice(None)] * a.ndim
    sl[axis] = slice(lo, hi)
    return a[tuple(sl)]


@pytest.mark.parametrize("spec, dim", [
    (3, 0), (2, 1), (4, -1), (7, 0), (10, 0), (1, 1),
    ([2, 5], 0), ([1, 3, 0, 2], -1), ([6], 1), ([0, 7], 0),
], ids=str)
@pytest.mark.parametrize("dtype", [F32, I64, BOOL], ids=ids)
def test_split(spec, dim, dtype):
    a = make((7, 6), dtype, 44)
    t = ts.tensor(a)
    n = a.shape[dim]
    sizes = spec if isinstance(spec, list) else [min(spec, n - i) for i in range(0, n, spec)]
    parts = ts.split(t, spec, dim)
    assert isinstance(parts, tuple)
    assert len(parts) == len(sizes)
    for p, (lo, hi) in zip(parts, np_split_sizes(n, sizes)):
        check(p, take_range(a, dim, lo, hi), dtype)
    parts_m = t.split(spec, dim=dim)
    assert len(parts_m) == len(sizes)
    for p, (lo, hi) in zip(parts_m, np_split_sizes(n, sizes)):
        check(p, take_range(a, dim, lo, hi), dtype)


def test_split_chunk_unbind_are_views():
    a = np.arange(42.0).reshape(7, 6)
    t = ts.tensor(a)
    ts.split(t, 3)[1].fill_(-1.0)
    ts.chunk(t, 3, dim=1)[2].fill_(-2.0)
    ts.unbind(t, 0)[6].fill_(-3.0)
    e = a.copy()
    e[3:6] = -1.0
    e[:, 4:6] = -2.0
    e[6] = -3.0
    check(t, e, F64)
    # non-contiguous input
    b = make((6, 4), F64, 45)
    _, tb = laid_out(b, "transposed")
    for p, (lo, hi) in zip(ts.split(tb, [1, 3], 1), [(0, 1), (1, 4)]):
        check(p, b[:, lo:hi], F64)


def test_split_errors():
    raises(ValueError, lambda: ts.split(ts.zeros(7, 6), [2, 3], 0), "split]")
    raises(ValueError, lambda: ts.split(ts.zeros(7, 6), [2, 3, 4], 0), "split]")


@pytest.mark.parametrize("n, chunks", [(7, 3), (6, 4), (5, 5), (3, 5), (6, 3), (1, 1), (8, 3), (0, 2)])
@pytest.mark.parametrize("dim", [0, -1])
def test_chunk(n, chunks, dim):
    shape = (n, 3) if dim == 0 else (3, n)
    a = make(shape, F64, 46)
    t = ts.tensor(a)
    size = -(-n // chunks)  # PyTorch: every chunk but the last has ceil(n / chunks) elements
    # an empty dim gives `chunks` empty chunks (PyTorch)
    bounds = [(i, min(i + size, n)) for i in range(0, n, size)] if n else [(0, 0)] * chunks
    parts = ts.chunk(t, chunks, dim)
    assert isinstance(parts, tuple)
    assert len(parts) == len(bounds), (len(parts), bounds)
    for p, (lo, hi) in zip(parts, bounds):
        check(p, take_range(a, dim, lo, hi), F64)
    assert len(t.chunk(chunks, dim=dim)) == len(bounds)


def test_chunk_errors():
    raises(ValueError, lambda: ts.chunk(ts.zeros(4), 0), "chunk]")
    raises(ValueError, lambda: ts.chunk(ts.zeros(4), -1), "chunk]")


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_unbind(dim, layout):
    a, t = laid_out(make((2, 3, 4), F32, 47), layout)
    parts = ts.unbind(t, dim)
    assert isinstance(parts, tuple) and len(parts) == a.shape[dim]
    for i, p in enumerate(parts):
        check(p, np.take(a, i, axis=dim), F32)
    parts = t.unbind(dim)
    assert len(parts) == a.shape[dim]
    check(parts[-1], np.take(a, a.shape[dim] - 1, axis=dim), F32)
    assert ts.unbind(ts.zeros(0, 3)) == ()


# ---------------------------------------------------------------- flip / roll

@pytest.mark.parametrize("dims", [(0,), (1,), (2,), (-1,), (0, 1), (0, 2), (-1, -3), (0, 1, 2), ()], ids=str)
@pytest.mark.parametrize("dtype", [F32, F64, I64, BOOL], ids=ids)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_flip(dims, dtype, layout):
    a, t = laid_out(make((2, 3, 4), dtype, 48), layout)
    expected = np.flip(a, axis=dims)
    check(ts.flip(t, dims), expected, dtype)
    check(t.flip(dims), expected, dtype)
    check(ts.flip(t, list(dims)), expected, dtype)


def test_flip_is_a_copy():
    a = np.arange(6.0).reshape(2, 3)
    t = ts.tensor(a)
    f = ts.flip(t, (1,))
    f.fill_(0.0)
    check(t, a, F64)
    check(ts.flip(ts.zeros(0, 3), (0, 1)), np.zeros((0, 3)), F32)


@pytest.mark.parametrize("shifts, dims", [
    (1, None), (-2, None), (25, None), (1, 0), (-1, 1), (2, -1), (5, 2), (-7, 1),
    ((1, 2), (0, 1)), ((-1, 3), (2, 0)), ((1,), (1,)), ((0, 0), (0, 1)),
], ids=str)
@pytest.mark.parametrize("dtype", [F32, I64, BOOL], ids=ids)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_roll(shifts, dims, dtype, layout):
    a, t = laid_out(make((2, 3, 4), dtype, 49), layout)
    expected = np.roll(a, shifts, axis=dims)
    if dims is None:
        check(ts.roll(t, shifts), expected, dtype)
    check(ts.roll(t, shifts, dims), expected, dtype)
    check(ts.roll(t, shifts=shifts, dims=dims), expected, dtype)
    check(t.roll(shifts, dims), expected, dtype)


def test_roll_empty_and_errors():
    e = np.zeros((0, 3))
    check(ts.roll(ts.tensor(e), 1, 0), np.roll(e, 1, axis=0), F64)
    check(ts.roll(ts.tensor(e), 1), np.roll(e, 1), F64)
    raises(ValueError, lambda: ts.roll(ts.zeros(2, 3), (1, 2), (0,)), "roll]")


# ---------------------------------------------------------------- repeat / tile / repeat_interleave

@pytest.mark.parametrize("sizes", [(1, 1), (2, 2), (1, 3), (3, 1), (2, 1, 3), (2, 2, 2, 2), (0, 2)], ids=str)
@pytest.mark.parametrize("dtype", [F32, I64, BOOL], ids=ids)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_repeat(sizes, dtype, layout):
    a, t = laid_out(make((2, 3), dtype, 50), layout)
    expected = np.tile(a, sizes)
    check(t.repeat(*sizes), expected, dtype)
    check(t.repeat(sizes), expected, dtype)


def test_repeat_errors_and_copy():
    raises(ValueError, lambda: ts.zeros(2, 3).repeat(2), "repeat]")
    a = np.arange(3.0)
    t = ts.tensor(a)
    r = t.repeat(2)
    r.fill_(9.0)
    check(t, a, F64)


@pytest.mark.parametrize("dims", [(2,), (1, 1), (2, 3), (3, 1, 2), (0,)], ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_tile(dims, layout):
    a, t = laid_out(make((2, 3), F64, 51), layout)
    expected = np.tile(a, dims)  # fewer dims than the tensor: leading ones are prepended
    check(ts.tile(t, dims), expected, F64)
    check(t.tile(dims), expected, F64)


@pytest.mark.parametrize("repeats, dim", [
    (2, None), (3, 0), (1, 1), (2, -1), (0, 1),
    ([1, 0, 2], 0), ([2, 1, 3, 0], 1), ([3, 3, 3, 3], -1), ([0, 0, 0], 0),
], ids=str)
@pytest.mark.parametrize("dtype", [F32, I64, BOOL], ids=ids)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_repeat_interleave(repeats, dim, dtype, layout):
    a, t = laid_out(make((3, 4), dtype, 52), layout)
    reps = np.array(repeats, dtype=np.int64) if isinstance(repeats, list) else repeats
    expected = np.repeat(a, reps, axis=dim)
    r = ts.tensor(reps) if isinstance(repeats, list) else repeats
    check(ts.repeat_interleave(t, r, dim), expected, dtype)
    check(ts.repeat_interleave(t, r, dim=dim), expected, dtype)
    check(t.repeat_interleave(r, dim=dim), expected, dtype)


def test_repeat_interleave_flat_tensor_repeats_and_errors():
    a = np.arange(4.0)
    check(ts.repeat_interleave(ts.tensor(a), ts.tensor([1, 2, 0, 3])), np.repeat(a, [1, 2, 0, 3]), F64)
    raises(ValueError, lambda: ts.repeat_interleave(ts.zeros(3, 4), ts.tensor([1, 2]), 0), "repeat_interleave]")


# ================================================================ indexing ops
# ---------------------------------------------------------------- gather

def gather_ref(a, dim, idx):
    dim %= a.ndim
    sl = tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(idx.shape))
    return np.take_along_axis(a[sl], idx, axis=dim)


GATHER_DTYPES = [F32, F64, I64, BOOL]


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("dtype", GATHER_DTYPES, ids=ids)
@pytest.mark.parametrize("small", [False, True], ids=["full", "smaller_index"])
def test_gather(dim, dtype, small):
    a = make((3, 4, 5), dtype, 53)
    shape = [2, 3, 4] if small else list(a.shape)
    shape[dim] = 6  # the index may be longer than the input along dim
    idx = np.random.default_rng(54).integers(0, a.shape[dim], shape)
    t, ti = ts.tensor(a), ts.tensor(idx)
    expected = gather_ref(a, dim, idx)
    check(ts.gather(t, dim, ti), expected, dtype)
    check(ts.gather(t, dim=dim, index=ti), expected, dtype)
    check(t.gather(dim, ti), expected, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("index_layout", ["contiguous", "transposed"])
def test_gather_layouts(layout, index_layout):
    a, t = laid_out(make((4, 6), F64, 55), layout)
    idx, ti = laid_out(np.random.default_rng(56).integers(0, 6, (4, 3)), index_layout)
    check(ts.gather(t, 1, ti), gather_ref(a, 1, idx), F64)
    idx0, ti0 = laid_out(np.random.default_rng(57).integers(0, 4, (5, 6)), index_layout)
    check(ts.gather(t, 0, ti0), gather_ref(a, 0, idx0), F64)


def test_gather_empty_and_errors():
    t = ts.tensor(make((3, 4), F64, 58))
    check(ts.gather(t, 1, ts.zeros(3, 0, dtype=ts.int64)), np.zeros((3, 0)), F64)
    raises(IndexError, lambda: ts.gather(t, 1, ts.tensor([[4]])), "gather]")
    raises(IndexError, lambda: ts.gather(t, 0, ts.tensor([[0, 3]])), "gather]")
    raises(IndexError, lambda: ts.gather(t, 1, ts.tensor([[-1]])), "gather]")  # no negative wrap
    with pytest.raises((ValueError, IndexError, RuntimeError)) as info:
        ts.gather(t, 1, ts.tensor([0, 1]))  # index needs the input's number of dims
    assert "gather]" in str(info.value)


# ---------------------------------------------------------------- scatter / scatter_add

def scatter_ref(a, dim, idx, src, add=False):
    out = a.copy()
    dim %= a.ndim
    for pos in np.ndindex(*idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        v = src if np.ndim(src) == 0 else src[pos]
        if add:
            out[tuple(tgt)] += v
        else:
            out[tuple(tgt)] = v
    return out


def unique_index(self_shape, dim, index_shape, seed):
    """An index of index_shape whose entries along dim are distinct (scatter without
    duplicates is deterministic)."""
    dim %= len(self_shape)
    n = self_shape[dim]
    r = np.random.default_rng(seed)
    full = list(index_shape)
    full[dim] = n
    perm = np.argsort(r.random(full), axis=dim)
    return take_range(perm, dim, 0, index_shape[dim]).copy()


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [F32, F64, I64, BOOL], ids=ids)
@pytest.mark.parametrize("bigger_src", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_scatter(dim, dtype, bigger_src, layout):
    a, t = laid_out(make((4, 5), dtype, 59), layout)
    ishape = [3, 4]
    idx, ti = laid_out(unique_index(a.shape, dim, ishape, 60), layout)
    src, tsrc = laid_out(make((5, 6) if bigger_src else ishape, dtype, 61), layout)
    expected = scatter_ref(a, dim, idx, src)
    check(ts.scatter(t, dim, ti, tsrc), expected, dtype)
    check(t.scatter(dim, ti, tsrc), expected, dtype)
    check(t, a, dtype)  # out of place
    _, u = laid_out(a, layout)  # in place, also into a non-contiguous view
    r = u.scatter_(dim, ti, tsrc)
    check(u, expected, dtype)
    check(r, expected, dtype)


@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("dtype", [F32, F64], ids=ids)
def test_scatter_value(dim, dtype):
    a = make((4, 5), dtype, 62)
    idx = unique_index(a.shape, dim, [2, 3], 63)
    expected = scatter_ref(a, dim, idx, 1.5)
    t = ts.tensor(a)
    check(ts.scatter(t, dim, ts.tensor(idx), value=1.5), expected, dtype)
    check(t.scatter(dim, ts.tensor(idx), value=1.5), expected, dtype)
    u = ts.tensor(a)
    u.scatter_(dim, ts.tensor(idx), value=1.5)
    check(u, expected, dtype)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=ids)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_scatter_add(dim, dtype, layout):
    a, t = laid_out(make((4, 5), dtype, 64), layout)
    idx = np.random.default_rng(65).integers(0, a.shape[dim], (6, 5) if dim == 0 else (4, 7))  # duplicates
    src, tsrc = laid_out(make(idx.shape, dtype, 66), layout)
    expected = scatter_ref(f64(a) if dtype in FLOATS else a, dim, idx, f64(src) if dtype in FLOATS else src, add=True)
    ti = ts.tensor(idx)
    check(ts.scatter_add(t, dim, ti, tsrc), expected, dtype)
    check(t.scatter_add(dim, ti, tsrc), expected, dtype)
    check(t, a, dtype)
    _, u = laid_out(a, layout)
    r = u.scatter_add_(dim, ti, tsrc)
    check(u, expected, dtype)
    check(r, expected, dtype)


def test_scatter_index_add_masked_fill_empty():
    a = make((3, 4), F64, 106)
    t = ts.tensor(a)
    none = ts.zeros(0, 4, dtype=ts.int64)
    check(ts.scatter(t, 0, none, ts.ones(0, 4, dtype=ts.float64)), a, F64)
    check(ts.scatter(t, 0, none, value=2.0), a, F64)
    check(ts.scatter_add(t, 0, none, ts.ones(0, 4, dtype=ts.float64)), a, F64)
    check(ts.index_add(t, 0, ts.zeros(0, dtype=ts.int64), ts.ones(0, 4, dtype=ts.float64)), a, F64)
    e = np.zeros((0, 3))
    check(ts.masked_fill(ts.tensor(e), ts.zeros(0, 3, dtype=ts.bool), 1.0), e, F64)
    check(ts.masked_fill(ts.tensor(e), ts.ones(3, dtype=ts.bool), 1.0), e, F64)
    check(ts.gather(ts.tensor(e), 0, ts.zeros(0, 3, dtype=ts.int64)), e, F64)


def test_scatter_errors():
    t = ts.zeros(3, 4)
    src = ts.ones(3, 4)
    raises(IndexError, lambda: ts.scatter(t, 1, ts.tensor([[4]]), src), "scatter]")
    raises(IndexError, lambda: ts.scatter(t, 0, ts.tensor([[3]]), src), "scatter]")
    raises(IndexError, lambda: ts.scatter(t, 0, ts.tensor([[-1]]), src), "scatter]")
    raises(IndexError, lambda: ts.scatter(t, 1, ts.tensor([[4]]), value=1.0), "scatter]")
    raises(IndexError, lambda: ts.scatter_add(t, 1, ts.tensor([[5]]), src), "scatter_add]")
    raises(IndexError, lambda: t.scatter_(1, ts.tensor([[7]]), src), "scatter")
    raises(IndexError, lambda: t.scatter_add_(0, ts.tensor([[3]]), src), "scatter_add")
    check(t, np.zeros((3, 4), np.float32), F32)  # failed in-place ops leave t alone


# ---------------------------------------------------------------- index_select / index_add

@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("dtype", GATHER_DTYPES, ids=ids)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_index_select(dim, dtype, layout):
    a, t = laid_out(make((3, 4, 5), dtype, 67), layout)
    idx = np.random.default_rng(68).integers(0, a.shape[dim], 7)  # repeats, any order
    expected = np.take(a, idx, axis=dim)
    check(ts.index_select(t, dim, ts.tensor(idx)), expected, dtype)
    check(t.index_select(dim, ts.tensor(idx)), expected, dtype)
    check(ts.index_select(t, dim, ts.tensor(idx.astype(np.int32))), expected, dtype)
    check(ts.index_select(t, dim, ts.zeros(0, dtype=ts.int64)), np.take(a, np.zeros(0, np.int64), axis=dim), dtype)


def test_index_select_errors():
    t = ts.zeros(3, 4)
    raises(IndexError, lambda: ts.index_select(t, 0, ts.tensor([0, 3])), "index_select]")
    raises(IndexError, lambda: ts.index_select(t, 1, ts.tensor([4])), "index_select]")
    raises(IndexError, lambda: ts.index_select(t, 1, ts.tensor([-1])), "index_select]")


def index_add_ref(a, dim, idx, src, alpha):
    out = np.moveaxis(a.copy(), dim, 0)
    np.add.at(out, idx, alpha * np.moveaxis(src, dim, 0))
    return np.moveaxis(out, 0, dim)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype, alpha", [(F32, 1), (F64, 1), (F64, 2.5), (F32, -0.5), (I64, 1), (I64, 3)],
                         ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_index_add(dim, dtype, alpha, layout):
    a, t = laid_out(make((4, 5), dtype, 69), layout)
    idx = np.random.default_rng(70).integers(0, a.shape[dim], 6)  # duplicates accumulate
    sshape = list(a.shape)
    sshape[dim] = 6
    src, tsrc = laid_out(make(sshape, dtype, 71), layout)
    ref_a, ref_s = (f64(a), f64(src)) if dtype in FLOATS else (a, src)
    expected = index_add_ref(ref_a, dim, idx, ref_s, alpha)
    ti = ts.tensor(idx)
    if alpha == 1:
        check(ts.index_add(t, dim, ti, tsrc), expected, dtype)
        check(t.index_add(dim, ti, tsrc), expected, dtype)
    check(ts.index_add(t, dim, ti, tsrc, alpha=alpha), expected, dtype)
    check(t.index_add(dim, ti, tsrc, alpha=alpha), expected, dtype)
    check(t, a, dtype)
    _, u = laid_out(a, layout)
    r = u.index_add_(dim, ti, tsrc, alpha=alpha)
    check(u, expected, dtype)
    check(r, expected, dtype)


def test_index_add_errors():
    t = ts.zeros(3, 4)
    raises(IndexError, lambda: ts.index_add(t, 0, ts.tensor([3]), ts.ones(1, 4)), "index_add]")
    raises(IndexError, lambda: ts.index_add(t, 1, ts.tensor([0, 4]), ts.ones(3, 2)), "index_add]")
    raises(IndexError, lambda: t.index_add_(0, ts.tensor([5]), ts.ones(1, 4)), "index_add")
    check(t, np.zeros((3, 4), np.float32), F32)


# ---------------------------------------------------------------- masked_fill / masked_select

@pytest.mark.parametrize("mask_shape", [(3, 4), (4,), (3, 1), (1, 4), ()], ids=str)
@pytest.mark.parametrize("dtype, value", [(F32, 1.5), (F64, -INF), (F64, np.nan), (I64, 7), (I32, -3), (BOOL, True)],
                         ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_masked_fill(mask_shape, dtype, value, layout):
    a, t = laid_out(make((3, 4), dtype, 72), layout)
    mask = np.asarray(np.random.default_rng(73).random(mask_shape) < 0.5)
    expected = np.where(mask, np.asarray(value).astype(a.dtype), a)
    tm = ts.tensor(mask)
    check(ts.masked_fill(t, tm, value), expected, dtype)
    check(t.masked_fill(tm, value), expected, dtype)
    check(t, a, dtype)
    _, u = laid_out(a, layout)
    r = u.masked_fill_(tm, value)
    check(u, expected, dtype)
    check(r, expected, dtype)


def test_masked_fill_non_bool_mask():
    with pytest.raises(TypeError) as info:
        ts.masked_fill(ts.zeros(3), ts.tensor([1, 0, 1]), 1.0)
    assert "masked_fill" in str(info.value)


@pytest.mark.parametrize("t_shape, mask_shape", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), (3, 1)), ((1, 4), (3, 4)),
                                                 ((3, 1), (1, 4)), ((0, 4), (4,))], ids=str)
@pytest.mark.parametrize("dtype", [F32, I64, BOOL], ids=ids)
def test_masked_select(t_shape, mask_shape, dtype):
    a = make(t_shape, dtype, 74)
    mask = np.random.default_rng(75).random(mask_shape) < 0.5
    ab, mb = np.broadcast_arrays(a, mask)  # both broadcast (PyTorch)
    expected = ab[mb]
    check(ts.masked_select(ts.tensor(a), ts.tensor(mask)), expected, dtype)
    check(ts.tensor(a).masked_select(ts.tensor(mask)), expected, dtype)


def test_masked_select_layouts_and_none():
    a, t = laid_out(make((4, 5), F64, 76), "transposed")
    mask = a > 0
    check(ts.masked_select(t, ts.tensor(mask)), a[mask], F64)
    check(ts.masked_select(t, ts.zeros(4, 5, dtype=ts.bool)), np.zeros(0), F64)


# ---------------------------------------------------------------- take / nonzero

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [F32, I64, BOOL], ids=ids)
def test_take(layout, dtype):
    a, t = laid_out(make((3, 4), dtype, 77), layout)
    idx = np.random.default_rng(78).integers(-12, 12, (2, 5))  # negative indices count from the end
    expected = a.ravel()[idx]
    check(ts.take(t, ts.tensor(idx)), expected, dtype)
    check(t.take(ts.tensor(idx)), expected, dtype)
    check(ts.take(t, ts.zeros(0, dtype=ts.int64)), np.zeros(0, a.dtype), dtype)
    check(ts.take(t, ts.tensor(5)), a.ravel()[5], dtype)  # 0-d index -> 0-d result


def test_take_errors():
    t = ts.zeros(3, 4)
    raises(IndexError, lambda: ts.take(t, ts.tensor([12])), "take]")
    raises(IndexError, lambda: ts.take(t, ts.tensor([-13])), "take]")
    raises(IndexError, lambda: ts.take(ts.zeros(0), ts.tensor([0])), "take]")


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 3, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("dtype", [F32, F64, I64, BOOL], ids=ids)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_nonzero(shape, dtype, layout):
    a = bool_like_input(dtype, 0.5, shape, seed=79)
    a, t = laid_out(a, layout)
    check(ts.nonzero(t), np.argwhere(a), I64)
    check(t.nonzero(), np.argwhere(a), I64)


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 3, 4), (0, 3)], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_nonzero_as_tuple(shape, layout):
    a, t = laid_out(bool_like_input(F64, 0.5, shape, seed=80), layout)
    got = ts.nonzero(t, as_tuple=True)
    expected = np.nonzero(a)
    assert isinstance(got, tuple) and len(got) == len(expected)
    for g, e in zip(got, expected):
        check(g, e, I64)
    got = t.nonzero(as_tuple=True)
    assert len(got) == a.ndim
    for g, e in zip(got, expected):
        check(g, e, I64)


# ================================================================ sorting and selection

def stable_argsort(a, axis, descending=False):
    """Stable (ascending or descending) argsort, NaN largest: last ascending, first descending."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    n = a.shape[axis]
    return n - 1 - np.flip(np.argsort(np.flip(a, axis=axis), axis=axis, kind="stable"), axis=axis)


def sort_input(dtype, shape=(4, 5, 6), seed=81, ties=True):
    r = np.random.default_rng(seed)
    if dtype == BOOL:
        return r.random(shape) < 0.5
    if not ties:
        vals = r.permutation(int(np.prod(shape))).reshape(shape) - 20
        return (vals / 4 if dtype in FLOATS else vals).astype(NP[dtype])
    if dtype in FLOATS:
        return (r.integers(-4, 5, shape) / 2).astype(NP[dtype])
    return r.integers(-4, 5, shape).astype(NP[dtype])


SORT_DTYPES = [F32, F64, I32, I64, BOOL]


@pytest.mark.parametrize("dtype", SORT_DTYPES, ids=ids)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_stable(dtype, dim, descending):
    a = sort_input(dtype)
    t = ts.tensor(a)
    idx = stable_argsort(a, dim, descending)
    values = np.take_along_axis(a, idx, axis=dim)
    v, i = ts.sort(t, dim=dim, descending=descending, stable=True)
    check(v, values, dtype)
    check(i, idx, I64)
    v, i = t.sort(dim=dim, descending=descending, stable=True)
    check(v, values, dtype)
    check(i, idx, I64)
    check(ts.argsort(t, dim=dim, descending=descending, stable=True), idx, I64)
    check(t.argsort(dim=dim, descending=descending, stable=True), idx, I64)


def check_sorted_permutation(a, dim, i, descending, v=None):
    """Unstable sort: values exact, indices a permutation along dim that produces them."""
    values = np.sort(a, axis=dim)
    if descending:
        values = np.flip(values, axis=dim)
    if v is not None:
        check(v, values, v.dtype)
    assert i.dtype == I64
    gi = to_numpy(i)
    np.testing.assert_array_equal(np.take_along_axis(a, gi, axis=dim), values)
    ramp = np.arange(a.shape[dim]).reshape([-1 if d == dim % a.ndim else 1 for d in range(a.ndim)])
    np.testing.assert_array_equal(np.sort(gi, axis=dim), np.broadcast_to(ramp, a.shape))


@pytest.mark.parametrize("dtype", SORT_DTYPES, ids=ids)
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_unstable(dtype, dim, descending):
    a = sort_input(dtype, seed=82)
    t = ts.tensor(a)
    v, i = ts.sort(t, dim, descending)
    check_sorted_permutation(a, dim, i, descending, v)
    check_sorted_permutation(a, dim, ts.argsort(t, dim, descending), descending)


def test_sort_defaults_and_namedtuple():
    a = sort_input(F64, (3, 7), seed=83, ties=False)
    t = ts.tensor(a)
    r = ts.sort(t)  # dim=-1, ascending
    check(r.values, np.sort(a, axis=-1), F64)
    check(r.indices, np.argsort(a, axis=-1), I64)
    check(ts.argsort(t), np.argsort(a, axis=-1), I64)
    check(t.argsort(), np.argsort(a, axis=-1), I64)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_layouts(layout, dim, descending):
    a, t = laid_out(sort_input(F64, (5, 6), seed=84), layout)
    idx = stable_argsort(a, dim, descending)
    v, i = ts.sort(t, dim, descending=descending, stable=True)
    check(v, np.take_along_axis(a, idx, axis=dim), F64)
    check(i, idx, I64)


@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_nan(dtype, descending):
    a = np.array([[3.0, np.nan, 1.0, np.nan, 2.0, -INF, INF, 1.0],
                  [np.nan, np.nan, np.nan, 0.0, -0.5, 0.5, np.nan, -1.0]], dtype=NP[dtype])
    idx = stable_argsort(a, 1, descending)  # NaN sorts last ascending, first descending
    v, i = ts.sort(ts.tensor(a), 1, descending=descending, stable=True)
    check(v, np.take_along_axis(a, idx, axis=1), dtype)
    check(i, idx, I64)
    v, i = ts.sort(ts.tensor(a), 1, descending=descending)
    check(v, np.take_along_axis(a, idx, axis=1), dtype)


def test_sort_empty_and_long():
    for shape, dim in [((0,), 0), ((3, 0), -1), ((0, 4), 1), ((0, 4), 0)]:
        a = np.zeros(shape)
        v, i = ts.sort(ts.tensor(a), dim)
        check(v, a, F64)
        check(i, np.zeros(shape, np.int64), I64)
    a = np.random.default_rng(85).integers(-50, 50, 5000)  # long row, many ties
    v, i = ts.sort(ts.tensor(a), stable=True)
    check(v, np.sort(a), I64)
    check(i, np.argsort(a, kind="stable"), I64)
    v, i = ts.sort(ts.tensor(a), descending=True, stable=True)
    check(i, stable_argsort(a, 0, True), I64)


# ---------------------------------------------------------------- topk / kthvalue

@pytest.mark.parametrize("dtype", [F32, F64, I32, I64], ids=ids)
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("k", [1, 3, "all"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk(dtype, dim, k, largest):
    a = sort_input(dtype, (4, 5, 6), seed=86, ties=False)
    t = ts.tensor(a)
    k = a.shape[dim] if k == "all" else k
    order = np.argsort(-a if largest else a, axis=dim)
    idx = take_range(order, dim % 3, 0, k)
    values = np.take_along_axis(a, idx, axis=dim)
    v, i = ts.topk(t, k, dim=dim, largest=largest, sorted=True)
    check(v, values, dtype)
    check(i, idx, I64)
    r = t.topk(k, dim, largest, True)
    check(r.values, values, dtype)
    check(r.indices, idx, I64)
    # sorted=False: the same set; values and indices consistent
    v, i = ts.topk(t, k, dim=dim, largest=largest, sorted=False)
    gv, gi = to_numpy(v), to_numpy(i)
    np.testing.assert_array_equal(np.take_along_axis(a, gi, axis=dim), gv)
    np.testing.assert_array_equal(np.sort(gi, axis=dim), np.sort(idx, axis=dim))


def test_topk_defaults_layouts_and_edges():
    a, t = laid_out(sort_input(F64, (5, 6), seed=87, ties=False), "transposed")
    v, i = ts.topk(t, 2)  # dim=-1, largest, sorted
    idx = np.argsort(-a, axis=-1)[:, :2]
    check(v, np.take_along_axis(a, idx, axis=-1), F64)
    check(i, idx, I64)
    v, i = ts.topk(t, 0)
    check(v, np.zeros((5, 0)), F64)
    check(i, np.zeros((5, 0), np.int64), I64)
    n = np.array([1.0, np.nan, 3.0, 2.0])  # NaN counts as the largest (PyTorch)
    v, i = ts.topk(ts.tensor(n), 2)
    check(v, n[[1, 2]], F64)
    check(i, np.array([1, 2]), I64)
    with pytest.raises((ValueError, IndexError, RuntimeError)) as info:
        ts.topk(ts.zeros(2, 3), 4)
    assert "topk]" in str(info.value)


@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=ids)
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_kthvalue(dtype, dim, keepdim, layout):
    a, t = laid_out(sort_input(dtype, (4, 5, 6), seed=88, ties=False), layout)
    order = np.argsort(a, axis=dim)
    for k in range(1, a.shape[dim] + 1):
        idx = take_range(order, dim % 3, k - 1, k)
        values = np.take_along_axis(a, idx, axis=dim)
        if not keepdim:
            idx, values = np.squeeze(idx, axis=dim), np.squeeze(values, axis=dim)
        v, i = ts.kthvalue(t, k, dim, keepdim)
        check(v, values, dtype)
        check(i, idx, I64)
        r = t.kthvalue(k, dim=dim, keepdim=keepdim)
        check(r.values, values, dtype)
        check(r.indices, idx, I64)


def test_kthvalue_default_dim_and_errors():
    a = sort_input(F64, (3, 5), seed=89, ties=False)
    v, i = ts.kthvalue(ts.tensor(a), 2)  # dim=-1
    check(v, np.sort(a, axis=-1)[:, 1], F64)
    check(i, np.argsort(a, axis=-1)[:, 1], I64)
    for k in (0, 6):
        with pytest.raises((ValueError, IndexError, RuntimeError)) as info:
            ts.kthvalue(ts.tensor(a), k)
        assert "kthvalue]" in str(info.value)


# ---------------------------------------------------------------- unique

def unique_input(dtype, shape=(4, 5), seed=90):
    r = np.random.default_rng(seed)
    if dtype == BOOL:
        return r.random(shape) < 0.5
    v = r.integers(-3, 4, shape)
    return (v / 2 if dtype in FLOATS else v).astype(NP[dtype])


@pytest.mark.parametrize("dtype", [F32, F64, I32, I64, BOOL], ids=ids)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("shape", [(4, 5), (7,), (2, 3, 4), (0,)], ids=str)
def test_unique(dtype, layout, shape):
    a, t = laid_out(unique_input(dtype, shape), layout)
    vals, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(a.shape)  # PyTorch: the inverse has the input's shape
    check(ts.unique(t), vals, dtype)
    check(t.unique(), vals, dtype)
    check(ts.unique(t, sorted=True), vals, dtype)
    u, inv = ts.unique(t, return_inverse=True)
    check(u, vals, dtype)
    check(inv, inverse, I64)
    u, c = ts.unique(t, return_counts=True)
    check(u, vals, dtype)
    check(c, counts, I64)
    u, inv, c = ts.unique(t, sorted=True, return_inverse=True, return_counts=True)
    check(u, vals, dtype)
    check(inv, inverse, I64)
    check(c, counts, I64)
    u, inv, c = t.unique(return_inverse=True, return_counts=True)
    check(inv, inverse, I64)
    check(c, counts, I64)


@pytest.mark.parametrize("dtype", [F32, F64, I32, I64, BOOL, U8], ids=ids)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("shape,dim", [((6, 3), 0), ((6, 3), 1), ((3, 6), -1), ((4, 3, 2), 1), ((2, 5, 3), 0),
                                       ((5,), 0), ((0, 3), 0), ((3, 0), 0)], ids=str)
def test_unique_dim(dtype, layout, shape, dim):
    # NumPy's unique(axis=) is the oracle: the distinct slices in lexicographic order.
    a = unique_input(dtype, shape, seed=93)
    if dtype != BOOL and a.size:
        a = np.clip(a, -1, 1).astype(a.dtype) if dtype != U8 else (a % 2).astype(a.dtype)  # few values: repeats
    a, t = laid_out(a, layout)
    vals, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=dim)
    u, inv, c = ts.unique(t, return_inverse=True, return_counts=True, dim=dim)
    check(u, vals, dtype)
    check(inv, inverse.reshape(-1), I64)
    check(c, counts, I64)
    check(t.unique(dim=dim), vals, dtype)


def test_unique_dim_nan_and_errors():
    t = ts.tensor([[1.0, float("nan")], [0.0, 2.0], [1.0, float("nan")], [-0.0, 2.0]])
    u, inv, c = ts.unique(t, return_inverse=True, return_counts=True, dim=0)
    assert u.shape == (2, 2) and inv.tolist() == [1, 0, 1, 0] and c.tolist() == [2, 2]  # NaN == NaN, -0 == 0
    assert u[0].tolist() == [0.0, 2.0] and u[1, 0].item() == 1.0 and np.isnan(u[1, 1].item())
    with pytest.raises(IndexError, match="unique"):
        ts.unique(t, dim=2)
    with pytest.raises(ValueError, match="unique"):
        ts.unique(ts.tensor(1.0), dim=0)
    with pytest.raises(TypeError, match="unique"):
        ts.unique(ts.zeros(2, 2, dtype=ts.complex64), dim=0)


def test_unique_unsorted_is_consistent():
    a = unique_input(I64, (6, 7), seed=91)
    u, inv, c = ts.unique(ts.tensor(a), sorted=False, return_inverse=True, return_counts=True)
    gu, ginv, gc = to_numpy(u), to_numpy(inv), to_numpy(c)
    np.testing.assert_array_equal(np.sort(gu), np.unique(a))
    np.testing.assert_array_equal(gu[ginv], a)
    np.testing.assert_array_equal(gc, [(a == x).sum() for x in gu])


# ---------------------------------------------------------------- searchsorted

@pytest.mark.parametrize("dtype", [F32, F64, I32, I64], ids=ids)
@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("values_shape", [(3, 4), (9,), (), (0,)], ids=str)
def test_searchsorted_1d(dtype, right, values_shape):
    r = np.random.default_rng(92)
    seq = np.sort(r.integers(0, 10, 12)).astype(NP[dtype])  # duplicates: left and right differ
    values = np.asarray(r.integers(-1, 12, values_shape)).astype(NP[dtype])
    expected = np.searchsorted(seq, values, side="right" if right else "left").astype(np.int64)
    check(ts.searchsorted(ts.tensor(seq), ts.tensor(values), right=right), expected, I64)
    if not right:
        check(ts.searchsorted(ts.tensor(seq), ts.tensor(values)), expected, I64)


@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=ids)
@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("lead", [(3,), (2, 3)], ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_searchsorted_nd(dtype, right, lead, layout):
    r = np.random.default_rng(93)
    seq = np.sort(r.integers(0, 10, lead + (8,)), axis=-1).astype(NP[dtype])
    values, tv = laid_out(r.integers(-1, 12, lead + (5,)).astype(NP[dtype]), layout)
    side = "right" if right else "left"
    flat_s, flat_v = seq.reshape(-1, 8), values.reshape(-1, 5)
    expected = np.stack([np.searchsorted(s, v, side=side) for s, v in zip(flat_s, flat_v)])
    expected = expected.reshape(lead + (5,)).astype(np.int64)
    _, tseq = laid_out(seq, layout)
    check(ts.searchsorted(tseq, tv, right=right), expected, I64)


def test_searchsorted_float_values():
    seq = np.array([-1.5, 0.0, 0.0, 2.25, 10.0])
    values = np.array([[-2.0, -1.5, 0.0], [1.0, 2.25, 11.0]])
    for right in (False, True):
        check(ts.searchsorted(ts.tensor(seq), ts.tensor(values), right=right),
              np.searchsorted(seq, values, side="right" if right else "left").astype(np.int64), I64)



@pytest.mark.parametrize("m", [0, 1, 2, 3, 7, 8, 9, 64, 1000])
@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_lockstep_lengths_and_nan(m, side):
    # The kernel searches 8 values at a time in lockstep (the halving sequence is
    # the length's): every length up to a few groups, a tail group of 1-7 values,
    # duplicates, NaNs at the end of the sequence (NumPy's order too) and as values.
    r = np.random.default_rng(m)
    seq = np.sort(np.concatenate([r.integers(0, 6, m - m // 4), np.full(m // 4, np.nan)]).astype(np.float32))
    values = np.concatenate([r.integers(-1, 8, 21).astype(np.float32), [np.nan, np.inf, -np.inf]])
    expected = np.searchsorted(seq, values, side=side).astype(np.int64)
    check(ts.searchsorted(ts.tensor(seq), ts.tensor(values), side=side), expected, I64)
    check(ts.searchsorted(ts.tensor(seq), ts.tensor(values[:5]), side=side), expected[:5], I64)


def test_searchsorted_side_is_checked():
    with pytest.raises(ValueError, match="side must be 'left' or 'right'"):
        ts.searchsorted(ts.tensor([1.0, 2.0]), ts.tensor([1.5]), side="middle")

# ---------------------------------------------------------------- pad

NP_PAD_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad_ref(a, pad, mode="constant", value=0):
    widths = [[0, 0] for _ in range(a.ndim)]
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
    sl = tuple(slice(max(-l, 0), a.shape[ax] - max(-r, 0)) for ax, (l, r) in enumerate(widths))
    a = a[sl]  # negative pads crop
    widths = [(max(l, 0), max(r, 0)) for l, r in widths]
    if mode == "constant":
        return np.pad(a, widths, mode="constant", constant_values=value)
    return np.pad(a, widths, mode=NP_PAD_MODE[mode])


@pytest.mark.parametrize("shape, pad", [
    ((5,), (1, 2)), ((3, 4), (1, 2)), ((3, 4), (0, 3)), ((3, 4), (1, 2, 3, 0)),
    ((2, 3, 4), (1, 1, 2, 2, 1, 0)), ((2, 3, 4), (2, 1)), ((2, 3, 4), (0, 0, 1, 2)),
    ((3, 4), (-1, 2)), ((3, 4), (-1, -1, 1, 0)), ((3, 4), (2, -3, -1, 2)), ((3, 4), (0, 0)),
    ((0, 4), (1, 1)), ((0, 4), (1, 1, 2, 0)),
], ids=str)
@pytest.mark.parametrize("dtype, value", [(F32, 0), (F64, 2.5), (F64, -INF), (I64, 7), (I32, 0), (BOOL, True)],
                         ids=str)
def test_pad_constant(shape, pad, dtype, value):
    a = make(shape, dtype, 94)
    expected = pad_ref(a, pad, "constant", value)
    got = ts.pad(ts.tensor(a), pad, mode="constant", value=value)
    check(got, expected, dtype)
    if value == 0:
        check(ts.pad(ts.tensor(a), pad), expected, dtype)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, pad", [
    ((3, 5), (1, 2)), ((2, 3, 5), (2, 0)), ((2, 3, 5), (0, 4)), ((2, 3, 5), (1, 2, 2, 1)),
    ((2, 2, 3, 4), (1, 1, 0, 2)), ((2, 2, 3, 4), (3, 2, 2, 1)), ((1, 2, 3, 4, 5), (1, 2, 2, 1, 1, 0)),
], ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_pad_modes(mode, shape, pad, dtype, layout):
    a, t = laid_out(make(shape, dtype, 95), layout)
    check(ts.pad(t, pad, mode=mode), pad_ref(a, pad, mode), dtype)
    check(ts.pad(t, pad, mode), pad_ref(a, pad, mode), dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pad_constant_layouts(layout):
    a, t = laid_out(make((3, 4), F64, 96), layout)
    check(ts.pad(t, (1, 2, 2, 1), value=-1.0), pad_ref(a, (1, 2, 2, 1), value=-1.0), F64)


def test_pad_errors():
    raises(ValueError, lambda: ts.pad(ts.zeros(3, 4), (1, 2, 3)), "pad]")
    raises(ValueError, lambda: ts.pad(ts.zeros(3, 4), (1, 1, 1, 1, 1, 1, 1, 1)), "pad]")
    raises(ValueError, lambda: ts.pad(ts.zeros(1, 3, 4), (1, 1), mode="bogus"), "pad]")
    raises(ValueError, lambda: ts.pad(ts.zeros(1, 3, 4), (4, 0), mode="reflect"), "pad]")


# ---------------------------------------------------------------- tril / triu

@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 4), (2, 2, 3, 3), (0, 3), (2, 0, 4)], ids=str)
@pytest.mark.parametrize("diagonal", [0, 1, -1, 3, -4])
@pytest.mark.parametrize("dtype", [F32, F64, I64, BOOL], ids=ids)
def test_tril_triu(op, shape, diagonal, dtype):
    a = make(shape, dtype, 97)
    if dtype == BOOL:
        a = np.ones(shape, bool)
    expected = getattr(np, op)(a, k=diagonal)  # NumPy works on the last two dims as well
    t = ts.tensor(a)
    check(getattr(ts, op)(t, diagonal), expected, dtype)
    check(getattr(ts, op)(t, diagonal=diagonal), expected, dtype)
    check(getattr(t, op)(diagonal), expected, dtype)
    if diagonal == 0:
        check(getattr(ts, op)(t), expected, dtype)


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("layout", ["transposed", "strided"])
def test_tril_triu_layouts_and_errors(op, layout):
    a, t = laid_out(make((2, 4, 5), F64, 98), layout)
    for k in (-1, 0, 2):
        check(getattr(ts, op)(t, k), getattr(np, op)(a, k=k), F64)
    check(t, a, F64)  # not in place
    raises(ValueError, lambda: getattr(ts, op)(ts.zeros(4)), op)


# ================================================================ random

@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
def test_bernoulli(dtype):
    ts.manual_seed(1234)
    p = ts.full((100000,), 0.3, dtype=dtype)
    x = ts.bernoulli(p)
    assert x.dtype == dtype and x.shape == (100000,)
    v = x.numpy()
    assert set(np.unique(v).tolist()) <= {0.0, 1.0}
    assert abs(v.mean() - 0.3) < 0.01
    # per-element probabilities, non-contiguous p
    cols = np.array([0.0, 0.25, 0.75, 1.0])
    base = np.ascontiguousarray(np.broadcast_to(cols[:, None], (4, 25000))).astype(NP[dtype])
    pt = ts.tensor(base).t()  # (25000, 4), column j has probability cols[j]
    y = to_numpy(ts.bernoulli(pt))
    assert y.shape == (25000, 4)
    assert (y[:, 0] == 0).all() and (y[:, 3] == 1).all()
    np.testing.assert_allclose(y.mean(axis=0), cols, atol=0.015)
    z = to_numpy(p.bernoulli())
    assert abs(z.mean() - 0.3) < 0.01


def test_bernoulli_seed():
    p = ts.tensor(np.random.default_rng(99).random((50, 40)))
    ts.manual_seed(7)
    a = to_numpy(ts.bernoulli(p))
    ts.manual_seed(7)
    b = to_numpy(ts.bernoulli(p))
    c = to_numpy(ts.bernoulli(p))  # the generator moved on
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    ts.manual_seed(8)
    assert (to_numpy(ts.bernoulli(p)) != a).any()


def multinomial_second_pick(p):
    """P(second draw without replacement == j)."""
    p = np.asarray(p, np.float64)
    p = p / p.sum()
    out = np.zeros_like(p)
    for i in range(len(p)):
        for j in range(len(p)):
            if i != j:
                out[j] += p[i] * p[j] / (1 - p[i])
    return out


@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
def test_multinomial_with_replacement(dtype):
    ts.manual_seed(11)
    for w in ([0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 3.0]):
        w = np.array(w)
        s = ts.multinomial(ts.tensor(w.astype(NP[dtype])), 100000, replacement=True)
        assert s.dtype == I64 and s.shape == (100000,)
        g = s.numpy()
        assert g.min() >= 0 and g.max() < 4
        freq = np.bincount(g, minlength=4) / g.size
        np.testing.assert_allclose(freq, w / w.sum(), atol=0.01)
        assert (freq[w == 0] == 0).all()
    probs = np.random.default_rng(100).random((3, 5))
    probs[1, 2] = 0.0
    s = ts.tensor(probs.astype(NP[dtype])).multinomial(20000, replacement=True)
    assert s.shape == (3, 20000) and s.dtype == I64
    g = to_numpy(s)
    for row in range(3):
        freq = np.bincount(g[row], minlength=5) / 20000
        np.testing.assert_allclose(freq, probs[row] / probs[row].sum(), atol=0.02)
    assert (g[1] != 2).all()


def test_multinomial_without_replacement():
    ts.manual_seed(12)
    w = np.array([0.5, 1.0, 2.0, 0.0, 4.0, 0.25, 3.0, 1.5, 0.75, 2.5])
    s = to_numpy(ts.multinomial(ts.tensor(w), 9))  # replacement=False by default
    assert s.shape == (9,)
    assert len(set(s.tolist())) == 9 and 3 not in s.tolist()  # no repeats, zero weight never drawn
    full = to_numpy(ts.multinomial(ts.tensor(np.ones(10)), 10))
    np.testing.assert_array_equal(np.sort(full), np.arange(10))
    rows = to_numpy(ts.multinomial(ts.tensor(np.random.default_rng(101).random((50, 8))), 8, replacement=False))
    assert rows.shape == (50, 8)
    for r in rows:
        np.testing.assert_array_equal(np.sort(r), np.arange(8))
    # the draw order follows the weights: first pick ~ p, second pick ~ sum_i p_i p_j / (1 - p_i)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    many = to_numpy(ts.multinomial(ts.tensor(np.tile(p, (40000, 1))), 2))
    assert (many[:, 0] != many[:, 1]).all()
    np.testing.assert_allclose(np.bincount(many[:, 0], minlength=4) / 40000, p, atol=0.01)
    np.testing.assert_allclose(np.bincount(many[:, 1], minlength=4) / 40000, multinomial_second_pick(p), atol=0.01)


def test_multinomial_seed_and_errors():
    w = ts.tensor(np.arange(1.0, 11.0))
    ts.manual_seed(13)
    a = to_numpy(ts.multinomial(w, 5))
    b = to_numpy(ts.multinomial(w, 1000, replacement=True))
    ts.manual_seed(13)
    np.testing.assert_array_equal(to_numpy(ts.multinomial(w, 5)), a)
    np.testing.assert_array_equal(to_numpy(ts.multinomial(w, 1000, replacement=True)), b)
    with pytest.raises((ValueError, RuntimeError)) as info:
        ts.multinomial(w, 11)  # more samples than categories without replacement
    assert "multinomial]" in str(info.value)
    with pytest.raises((ValueError, RuntimeError)) as info:
        ts.multinomial(ts.tensor([0.5, -0.1, 0.6]), 1)
    assert "multinomial]" in str(info.value)


@pytest.mark.parametrize("n", [0, 1, 2, 10, 1000, 100000])
def test_randperm(n):
    ts.manual_seed(21)
    p = ts.randperm(n)
    assert p.dtype == I64 and p.shape == (n,)
    g = p.numpy().copy()
    np.testing.assert_array_equal(np.sort(g), np.arange(n))
    ts.manual_seed(21)
    np.testing.assert_array_equal(ts.randperm(n).numpy(), g)
    if n >= 1000:
        assert (g != np.arange(n)).any()
        ts.manual_seed(22)
        assert (ts.randperm(n).numpy() != g).any()


@pytest.mark.parametrize("dtype", FLOATS, ids=ids)
@pytest.mark.parametrize("p", [0.5, 0.2, 0.9])
def test_dropout(dtype, p):
    ts.manual_seed(31)
    x = np.random.default_rng(102).uniform(0.5, 2.0, 100000).astype(NP[dtype])  # no zeros
    t = ts.tensor(x)
    y = to_numpy(ts.dropout(t, p=p, training=True))
    assert y.shape == x.shape
    kept = y != 0
    assert abs((~kept).mean() - p) < 0.01
    np.testing.assert_allclose(y[kept], f64(x[kept]) / (1 - p), rtol=1e-6 if dtype == F32 else 1e-12)
    check(t, x, dtype)  # the input is not modified
    y2 = to_numpy(ts.dropout(t, p, True))
    assert abs((y2 == 0).mean() - p) < 0.01


def test_dropout_edges_and_seed():
    x = np.random.default_rng(103).uniform(0.5, 2.0, (300, 40))
    t = ts.tensor(x)
    check(ts.dropout(t, p=0.5, training=False), x, F64)
    check(ts.dropout(t, p=0.0), x, F64)
    z = to_numpy(ts.dropout(t, p=1.0))
    assert (z == 0).all() and not np.isnan(z).any()
    d = to_numpy(ts.dropout(t))  # p=0.5, training=True by default
    assert abs((d == 0).mean() - 0.5) < 0.03
    ts.manual_seed(41)
    a = to_numpy(ts.dropout(t, 0.3))
    ts.manual_seed(41)
    np.testing.assert_array_equal(to_numpy(ts.dropout(t, 0.3)), a)
    _, tt = laid_out(x, "transposed")
    r = to_numpy(ts.dropout(tt, 0.5))
    kept = r != 0
    np.testing.assert_allclose(r[kept], x[kept] * 2.0, rtol=1e-12)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            ts.dropout(t, p=bad)


# ================================================================ threads

def _rows(seed=104):
    return np.random.default_rng(seed).standard_normal((1000, 1000)).astype(np.float32)


THREAD_CASES = {
    "cumsum_dim0": lambda: [ts.cumsum(ts.tensor(_rows()), 0)],
    "cumsum_dim1": lambda: [ts.cumsum(ts.tensor(_rows()), 1)],
    "cumsum_1d": lambda: [ts.cumsum(ts.tensor(_rows().ravel()), 0)],
    "cumsum_f64_transposed": lambda: [ts.cumsum(ts.tensor(_rows().astype(np.float64)).t(), 1)],
    "sort_rows": lambda: list(ts.sort(ts.tensor(_rows()), 1, stable=True)) + [ts.sort(ts.tensor(_rows()), 1)[0]],
    "sort_cols": lambda: list(ts.sort(ts.tensor(_rows()), 0, descending=True, stable=True)),
    "sort_1d": lambda: list(ts.sort(ts.tensor(_rows().ravel()), stable=True)) + [ts.sort(ts.tensor(_rows().ravel()))[0]],
    "matmul": lambda: [ts.matmul(ts.tensor(_rows()[:512, :384]), ts.tensor(_rows(105)[:384, :640]))],
    "matmul_f64": lambda: [ts.matmul(ts.tensor(_rows()[:256, :300].astype(np.float64)),
                                     ts.tensor(_rows(105)[:300, :200].astype(np.float64)))],
    "mm": lambda: [ts.mm(ts.tensor(_rows()[:512, :384]), ts.tensor(_rows(105)[:384, :640]))],
}


@pytest.mark.parametrize("case", list(THREAD_CASES))
def test_same_result_for_any_thread_count(case):
    results = {}
    for n in (1, 2):
        ts.set_num_threads(n)
        assert ts.get_num_threads() == n
        results[n] = [np.array(r.numpy(), copy=True) for r in THREAD_CASES[case]()]
    for a, b in zip(results[1], results[2]):
        np.testing.assert_array_equal(a, b)
    # and the result is right
    first = results[1][0]
    base = _rows()
    if case == "cumsum_dim0":
        np.testing.assert_allclose(first, np.cumsum(f64(base), 0), rtol=1e-4, atol=1e-3)
    elif case == "cumsum_1d":
        np.testing.assert_allclose(first, np.cumsum(f64(base.ravel())), rtol=1e-3, atol=1.0)
    elif case == "sort_rows":
        np.testing.assert_array_equal(first, np.sort(base, 1))
    elif case == "sort_1d":
        np.testing.assert_array_equal(first, np.sort(base.ravel()))
        np.testing.assert_array_equal(results[1][1], np.argsort(base.ravel(), kind="stable"))
    elif case in ("matmul", "mm"):
        np.testing.assert_allclose(first, f64(base[:512, :384]) @ f64(_rows(105)[:384, :640]), rtol=1e-4, atol=1e-3)
