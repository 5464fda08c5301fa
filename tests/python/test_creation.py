"""Tensor creation against NumPy float64 / PyTorch's documented semantics."""
import math

import numpy as np
import pytest

import tessel as ts
from conftest import NP, to_numpy

ALL_DTYPES = [ts.bool, ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64, ts.float16,
              ts.bfloat16, ts.float32, ts.float64, ts.complex64, ts.complex128]
NP_DTYPES = [np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16,
             np.float32, np.float64, np.complex64, np.complex128]
TS_OF_NP = {np.dtype(v): k for k, v in NP.items()}

rng = np.random.default_rng(1234)


def np_sample(npdt, shape):
    """Always an ndarray (0-d for shape ()), never a NumPy scalar."""
    return np.asarray(_np_sample(npdt, shape))


def _np_sample(npdt, shape):
    npdt = np.dtype(npdt)
    if npdt == np.bool_:
        return rng.random(shape) > 0.5
    if npdt.kind == "u":
        return rng.integers(0, 256, shape).astype(npdt)
    if npdt.kind == "i":
        info = np.iinfo(npdt)
        return rng.integers(info.min, info.max, shape, dtype=np.int64, endpoint=True).astype(npdt)
    if npdt.kind == "f":
        return (rng.standard_normal(shape) * 100).astype(npdt)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(npdt)


# ---------------------------------------------------------------- ts.tensor(list)

@pytest.mark.parametrize("data, dtype", [
    ([True, False, True], ts.bool),
    ([1, 2, 3], ts.int64),
    ([1.0, 2.0], ts.float32),
    ([1j, 2.0], ts.complex64),
    ([[1, 2], [3, 4]], ts.int64),
    ([True, 2], ts.int64),           # bool + int -> int64
    ([1, 2.5], ts.float32),          # int + float -> float32
    ([True, 2.5], ts.float32),
    ([1, 2.0, 3j], ts.complex64),
    ([[1, 2], [3.0, 4]], ts.float32),
    (True, ts.bool),
    (7, ts.int64),
    (7.5, ts.float32),
    (1 + 2j, ts.complex64),
])
def test_tensor_dtype_inference(data, dtype):
    t = ts.tensor(data)
    assert t.dtype == dtype
    ref = np.array(data)
    assert tuple(t.shape) == ref.shape
    assert t.dim() == ref.ndim
    got = np.array(t.tolist())
    np.testing.assert_allclose(got.astype(np.complex128), ref.astype(np.complex128), rtol=1e-6)


def test_tensor_list_values_roundtrip():
    data = [[[1.5, -2.25, 3.0], [0.0, 1e-3, -7.0]], [[4.0, 5.0, 6.0], [8.0, 9.0, 1e10]]]
    t = ts.tensor(data, dtype=ts.float64)
    assert t.tolist() == data
    assert t.shape == (2, 2, 3)
    t32 = ts.tensor(data)
    np.testing.assert_array_equal(np.array(t32.tolist()), np.array(data, dtype=np.float32).astype(np.float64))


def test_tensor_large_ints_int64():
    data = [2**62, -2**63, 2**63 - 1]
    t = ts.tensor(data)
    assert t.dtype == ts.int64
    assert t.tolist() == data


def test_tensor_explicit_dtype_from_list():
    t = ts.tensor([1, 2, 3], dtype=ts.float64)
    assert t.dtype == ts.float64
    assert t.tolist() == [1.0, 2.0, 3.0]
    t = ts.tensor([1.7, -1.7, 2.5], dtype=ts.int32)
    assert t.dtype == ts.int32
    assert t.tolist() == [1, -1, 2]  # truncation toward zero
    t = ts.tensor([0, 1, 2], dtype=ts.bool)
    assert t.tolist() == [False, True, True]
    t = ts.tensor([1, 2], dtype=ts.complex128)
    assert t.tolist() == [1 + 0j, 2 + 0j]


def test_tensor_empty_list():
    t = ts.tensor([])
    assert t.shape == (0,)
    assert t.dtype == ts.float32  # torch.tensor([]) is float32
    assert t.numel() == 0
    t = ts.tensor([[], []])
    assert t.shape == (2, 0)


def test_tensor_device_arg():
    t = ts.tensor([1.0], device="cpu")
    assert str(t.device) == "cpu"


def test_tensor_of_tuples():
    t = ts.tensor(((1, 2), (3, 4)))
    assert t.shape == (2, 2)
    assert t.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("data", [
    [[1, 2], [3]],
    [[1, 2], 3],
    [1, [2, 3]],
    [[[1], [2]], [[3]]],
])
def test_ragged_raises_value_error(data):
    with pytest.raises(ValueError):
        ts.tensor(data)


# ---------------------------------------------------------------- ts.tensor(ndarray)

@pytest.mark.parametrize("npdt", NP_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (), (0, 3)])
def test_tensor_from_numpy_dtype_and_values(npdt, shape):
    a = np_sample(npdt, shape)
    t = ts.tensor(a)
    assert t.dtype == TS_OF_NP[np.dtype(npdt)]
    assert tuple(t.shape) == a.shape
    got = to_numpy(t)
    np.testing.assert_array_equal(got, a)
    assert got.dtype == a.dtype


@pytest.mark.parametrize("npdt", NP_DTYPES, ids=lambda d: np.dtype(d).name)
def test_tensor_from_numpy_noncontiguous(npdt):
    base = np_sample(npdt, (6, 8, 5))
    for a in (base[:, ::2, 1:4], base.transpose(2, 0, 1), base[::-1], base[:, ::-2, ::-1],
              base[..., 2], base.T[::3], base[:, None, ::3], np.broadcast_to(base[:1], (3, 8, 5))):
        t = ts.tensor(a)
        assert t.dtype == TS_OF_NP[np.dtype(npdt)]
        assert tuple(t.shape) == a.shape
        np.testing.assert_array_equal(to_numpy(t), a)
        assert t.is_contiguous()


def test_tensor_from_numpy_is_a_copy():
    a = np.arange(6, dtype=np.float64)
    t = ts.tensor(a)
    a[0] = 100.0
    assert t.tolist()[0] == 0.0


def test_tensor_from_numpy_with_dtype():
    a = np.array([1.9, -1.9, 3.5], dtype=np.float64)
    t = ts.tensor(a, dtype=ts.int64)
    assert t.dtype == ts.int64
    assert t.tolist() == [1, -1, 3]
    t = ts.tensor(a, dtype=ts.float32)
    np.testing.assert_array_equal(to_numpy(t), a.astype(np.float32))


def test_tensor_from_numpy_float16_specials():
    a = np.array([np.inf, -np.inf, np.nan, 65504.0, -0.0, 6e-8], dtype=np.float16)
    t = ts.tensor(a)
    got = to_numpy(t)
    np.testing.assert_array_equal(got, a)
    assert math.copysign(1.0, t.tolist()[4]) == -1.0


# ---------------------------------------------------------------- zeros / ones / empty / full

@pytest.mark.parametrize("fn, val", [(ts.zeros, 0), (ts.ones, 1)])
def test_zeros_ones_sizes(fn, val):
    for args in [(2, 3), ((2, 3),), ([2, 3],)]:
        t = fn(*args)
        assert t.shape == (2, 3)
        assert t.dtype == ts.float32
        np.testing.assert_array_equal(to_numpy(t), np.full((2, 3), val, np.float32))
    t = fn(())
    assert t.shape == ()
    assert t.item() == val
    t = fn(0, 4)
    assert t.shape == (0, 4)
    assert t.numel() == 0
    t = fn(5)
    assert t.shape == (5,)


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: d.name)
def test_zeros_ones_full_dtypes(dtype):
    z = ts.zeros(3, 2, dtype=dtype, device="cpu")
    o = ts.ones((3, 2), dtype=dtype)
    assert z.dtype == dtype and o.dtype == dtype
    assert z.shape == (3, 2) and o.shape == (3, 2)
    zl = np.array(z.float().tolist() if dtype == ts.bfloat16 else z.tolist())
    ol = np.array(o.float().tolist() if dtype == ts.bfloat16 else o.tolist())
    assert np.all(zl == 0)
    assert np.all(ol == 1)
    fillv = True if dtype == ts.bool else (3 + 1j if dtype.is_complex else 3)
    f = ts.full((2, 2), fillv, dtype=dtype)
    assert f.dtype == dtype
    fl = np.array(f.float().tolist() if dtype == ts.bfloat16 else f.tolist())
    assert np.all(fl == fillv)
    e = ts.empty(4, 5, dtype=dtype)
    assert e.shape == (4, 5) and e.dtype == dtype
    assert str(e.device) == "cpu"


def test_full_dtype_inference():
    # torch.full infers the dtype from the fill value
    assert ts.full((2,), 1.5).dtype == ts.float32
    assert ts.full((2,), 7).dtype == ts.int64
    assert ts.full((2,), True).dtype == ts.bool
    assert ts.full((2,), 1j).dtype == ts.complex64
    assert ts.full((2, 3), 7).tolist() == [[7] * 3] * 2
    assert ts.full((2,), 2.5).tolist() == [2.5, 2.5]


def test_empty_varargs_and_tuple():
    assert ts.empty(2, 3).shape == (2, 3)
    assert ts.empty((2, 3)).shape == (2, 3)
    assert ts.empty(2, 3).dtype == ts.float32


def test_negative_size_raises():
    with pytest.raises(ValueError):
        ts.zeros(2, -1)
    with pytest.raises(ValueError):
        ts.empty((-3,))


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda d: d.name)
def test_like_forms(dtype):
    src = ts.zeros(3, 4, dtype=dtype).t()  # non-contiguous source
    for fn in (ts.zeros_like, ts.ones_like, ts.empty_like):
        r = fn(src)
        assert r.shape == (4, 3)
        assert r.dtype == dtype
    assert np.all(np.array(ts.ones_like(src).float().tolist() if dtype == ts.bfloat16
                           else ts.ones_like(src).tolist()) == 1)
    assert np.all(np.array(ts.zeros_like(src).float().tolist() if dtype == ts.bfloat16
                           else ts.zeros_like(src).tolist()) == 0)
    fv = True if dtype == ts.bool else 2
    f = ts.full_like(src, fv)
    assert f.dtype == dtype and f.shape == (4, 3)
    assert np.all(np.array(f.float().tolist() if dtype == ts.bfloat16 else f.tolist()) == fv)


def test_like_with_dtype_override():
    src = ts.zeros(2, 2, dtype=ts.int32)
    assert ts.zeros_like(src, dtype=ts.float64).dtype == ts.float64
    assert ts.ones_like(src, dtype=ts.float16).dtype == ts.float16
    assert ts.full_like(src, 2.5, dtype=ts.float32).tolist() == [[2.5, 2.5]] * 2
    # full_like keeps the source dtype: 2.7 truncates into int32
    assert ts.full_like(src, 2.7).dtype == ts.int32


# ---------------------------------------------------------------- arange / linspace / eye

@pytest.mark.parametrize("args, dtype", [
    ((5,), ts.int64),
    ((2, 9), ts.int64),
    ((2, 9, 3), ts.int64),
    ((10, 0, -3), ts.int64),
    ((0, 1, 0.1), ts.float32),
    ((0.0, 5), ts.float32),
    ((5.0,), ts.float32),
    ((1, 2.5, 0.5), ts.float32),
    ((-1.0, 1.0, 0.25), ts.float32),
    ((3, -2, -0.5), ts.float32),
    ((0, 0), ts.int64),
])
def test_arange(args, dtype):
    t = ts.arange(*args)
    assert t.dtype == dtype
    if dtype == ts.int64:
        ref = np.arange(*args)
    else:
        # torch: size = ceil((end - start) / step), values start + i * step
        start, end, step = (0, args[0], 1) if len(args) == 1 else (args + (1,))[:3]
        n = math.ceil((end - start) / step)
        ref = start + np.arange(n) * step
    assert t.shape == (len(ref),)
    np.testing.assert_allclose(np.array(t.tolist(), dtype=np.float64), ref, rtol=1e-6, atol=1e-6)


def test_arange_point_one_has_ten_elements():
    t = ts.arange(0, 1, 0.1)
    assert t.numel() == 10
    assert t.dtype == ts.float32
    np.testing.assert_allclose(t.tolist(), np.arange(10) * 0.1, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64,
                                   ts.float16, ts.bfloat16, ts.float32, ts.float64],
                         ids=lambda d: d.name)
def test_arange_dtype_arg(dtype):
    t = ts.arange(0, 10, 2, dtype=dtype)
    assert t.dtype == dtype
    vals = t.float().tolist() if dtype == ts.bfloat16 else t.tolist()
    assert vals == [0, 2, 4, 6, 8]


@pytest.mark.parametrize("dtype,npt", [(ts.float32, np.float32), (ts.float64, np.float64)], ids=["f32", "f64"])
@pytest.mark.parametrize("start,end,step", [(0, 100_003, 1), (-3.25, 7.0, 1e-4), (1e6, -1e6, -0.37), (0.1, 0.2, 0.1)])
def test_arange_float_is_start_plus_i_step_in_double(dtype, npt, start, end, step):
    # Vector lanes on every thread: each value is start + i * step rounded once from double.
    n = math.ceil((end - start) / step)
    want = (start + np.arange(n, dtype=np.float64) * step).astype(npt)
    before = ts.get_num_threads()
    try:
        for threads in (1, 2, 3):
            ts.set_num_threads(threads)
            got = ts.arange(start, end, step, dtype=dtype).numpy()
            assert got.shape == want.shape and np.array_equal(got, want), threads
    finally:
        ts.set_num_threads(before)


@pytest.mark.parametrize("dtype,npt", [(ts.int64, np.int64), (ts.int32, np.int32), (ts.int16, np.int16)],
                         ids=["i64", "i32", "i16"])
def test_arange_int_exact_on_every_thread_count(dtype, npt):
    cases = [(0, 100_003, 1), (3, 3 * 10**5, 7)] if npt != np.int64 else [(-(10**15), 10**15, 19_999_999_999)]
    before = ts.get_num_threads()
    try:
        for start, end, step in cases:
            want = np.arange(start, end, step, dtype=np.int64).astype(npt)  # C++20: narrowing wraps
            for threads in (1, 2, 3):
                ts.set_num_threads(threads)
                got = ts.arange(start, end, step, dtype=dtype).numpy()
                assert got.dtype == npt and np.array_equal(got, want), (start, step, threads)
    finally:
        ts.set_num_threads(before)


def test_arange_zero_step_raises():
    with pytest.raises((ValueError, RuntimeError)):
        ts.arange(0, 5, 0)


def test_arange_wrong_sign_raises():
    # torch: "upper bound and larger bound inconsistent with step sign"
    with pytest.raises((ValueError, RuntimeError)):
        ts.arange(0, 5, -1)


@pytest.mark.parametrize("start, end, steps", [(0, 1, 5), (-3.5, 2.0, 12), (1, 1, 4), (0, 10, 1),
                                               (5, -5, 7), (0, 1, 0), (0, 1000, 101)])
def test_linspace(start, end, steps):
    t = ts.linspace(start, end, steps)
    assert t.dtype == ts.float32
    assert t.shape == (steps,)
    np.testing.assert_allclose(np.array(t.tolist(), dtype=np.float64),
                               np.linspace(start, end, steps), rtol=1e-6, atol=1e-5)


def test_linspace_float64():
    t = ts.linspace(0, 1, 11, dtype=ts.float64)
    assert t.dtype == ts.float64
    np.testing.assert_allclose(t.tolist(), np.linspace(0, 1, 11), rtol=1e-15, atol=1e-15)
    # endpoints are exact
    assert t.tolist()[0] == 0.0 and t.tolist()[-1] == 1.0


@pytest.mark.parametrize("args", [(3,), (3, 5), (5, 3), (1,), (0,), (4, 4), (2, 0)])
def test_eye(args):
    t = ts.eye(*args)
    assert t.dtype == ts.float32
    np.testing.assert_array_equal(np.array(t.tolist(), dtype=np.float64).reshape(t.shape), np.eye(*args))


def test_eye_dtype():
    t = ts.eye(3, dtype=ts.int32)
    assert t.dtype == ts.int32
    assert t.tolist() == np.eye(3, dtype=np.int32).tolist()
    t = ts.eye(2, 3, dtype=ts.bool)
    assert t.tolist() == np.eye(2, 3, dtype=bool).tolist()


# ---------------------------------------------------------------- random

def test_manual_seed_reproducible_small():
    for fn in (lambda: ts.rand(5, 7), lambda: ts.randn(5, 7), lambda: ts.randint(0, 100, (5, 7))):
        ts.manual_seed(42)
        a = fn().tolist()
        ts.manual_seed(42)
        b = fn().tolist()
        assert a == b
        ts.manual_seed(43)
        c = fn().tolist()
        assert a != c


def test_subsequent_draws_differ():
    ts.manual_seed(0)
    a = ts.rand(100).tolist()
    b = ts.rand(100).tolist()
    assert a != b


@pytest.mark.parametrize("fn", ["rand", "randn", "randint"])
def test_seed_reproducible_across_threads(fn):
    n = 200000
    make = {"rand": lambda: ts.rand(n), "randn": lambda: ts.randn(n),
            "randint": lambda: ts.randint(-1000, 1000, (n,))}[fn]
    ts.set_num_threads(1)
    ts.manual_seed(7)
    a = make()
    ts.set_num_threads(2)
    ts.manual_seed(7)
    b = make()
    assert a.dtype == b.dtype
    assert a.tolist() == b.tolist()


def test_randn_stats():
    ts.manual_seed(1)
    x = np.array(ts.randn(200000).tolist())
    assert abs(x.mean()) < 0.02
    assert abs(x.std() - 1.0) < 0.02
    # roughly normal: ~68% within one sigma
    assert abs(np.mean(np.abs(x) < 1.0) - 0.6827) < 0.01
    assert np.all(np.isfinite(x))


def test_rand_range_and_stats():
    ts.manual_seed(2)
    t = ts.rand(200000)
    assert t.dtype == ts.float32
    x = np.array(t.tolist())
    assert x.min() >= 0.0 and x.max() < 1.0
    assert abs(x.mean() - 0.5) < 0.01
    assert abs(x.var() - 1 / 12) < 0.005
    # not degenerate: lots of distinct values
    assert len(np.unique(x)) > 100000


@pytest.mark.parametrize("dtype", [ts.float16, ts.bfloat16, ts.float64])
def test_rand_dtypes_in_range(dtype):
    ts.manual_seed(3)
    t = ts.rand(50000, dtype=dtype)
    assert t.dtype == dtype
    x = np.array(t.float().tolist())
    assert x.min() >= 0.0 and x.max() < 1.0
    y = np.array(ts.randn(50000, dtype=dtype).float().tolist())
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05


def test_rand_shapes():
    assert ts.rand(2, 3).shape == (2, 3)
    assert ts.rand((2, 3)).shape == (2, 3)
    assert ts.randn(4).shape == (4,)
    assert ts.randn((4, 1, 2)).shape == (4, 1, 2)
    assert ts.rand(0).numel() == 0


def test_randint_low_high():
    ts.manual_seed(5)
    t = ts.randint(-5, 7, (100000,))
    assert t.dtype == ts.int64
    x = np.array(t.tolist())
    assert x.min() == -5 and x.max() == 6
    counts = np.bincount(x + 5)
    assert len(counts) == 12
    assert counts.min() > 100000 / 12 * 0.9


def test_randint_high_only():
    ts.manual_seed(6)
    t = ts.randint(10, (3, 4000))
    assert t.shape == (3, 4000)
    assert t.dtype == ts.int64
    x = np.array(t.tolist())
    assert x.min() == 0 and x.max() == 9


def test_randint_dtype():
    t = ts.randint(0, 5, (1000,), dtype=ts.uint8)
    assert t.dtype == ts.uint8
    x = np.array(t.tolist())
    assert x.min() >= 0 and x.max() <= 4


def test_randint_large_range():
    ts.manual_seed(8)
    t = ts.randint(0, 2**40, (10000,))
    x = np.array(t.tolist())
    assert x.min() >= 0 and x.max() < 2**40
    assert x.max() > 2**39  # uses the whole range, not just 32 bits


def test_randint_full_int64_range():
    # high - low overflows int64 here; PyTorch computes the range in uint64
    ts.manual_seed(9)
    x = np.array(ts.randint(-2**63, 2**63 - 1, (1000,)).tolist())
    assert len(np.unique(x)) > 990
    assert (x < 0).sum() > 400 and (x > 0).sum() > 400


def test_randint_empty_range_raises():
    with pytest.raises((ValueError, RuntimeError)):
        ts.randint(5, 5, (3,))


def test_initial_seed():
    ts.manual_seed(1234)
    assert ts.initial_seed() == 1234
