"""The array API layer's own behaviour (python/tessel/_array_api*.py): both spellings of shared names,
PyTorch's defaults kept, the new functions against NumPy float64, and clear errors. The standard's
conformance suite runs in test_array_api.py."""
import math

import numpy as np
import pytest

import tessel as ts


def N(t):
    return np.asarray(t.numpy())


A = np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]])


# ---------------------------------------------------------------- namespace

def test_namespace_version_and_info():
    x = ts.asarray(A)
    assert x.__array_namespace__() is ts
    assert ts.__array_api_version__ == "2024.12"
    with pytest.raises(ValueError, match="api_version"):
        x.__array_namespace__(api_version="1999.01")
    info = ts.__array_namespace_info__()
    assert info.default_device() == x.device and info.devices() == [x.device]
    assert set(info.dtypes()) == {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                                  "float32", "float64", "complex64", "complex128"}
    assert set(info.dtypes(kind="unsigned integer")) == {"uint8", "uint16", "uint32", "uint64"}
    assert set(info.dtypes(kind=("bool", "complex floating"))) == {"bool", "complex64", "complex128"}
    assert info.default_dtypes()["integral"] == ts.int64
    assert info.capabilities()["boolean indexing"] is True
    with pytest.raises(ValueError, match="kind"):
        info.dtypes(kind="floats")
    with pytest.raises(ValueError, match="device"):
        info.dtypes(device="cuda:0")
    assert x.to_device("cpu") is x
    assert math.isclose(ts.pi, math.pi) and ts.newaxis is None and math.isinf(ts.inf) and math.isnan(ts.nan)


def test_dtype_functions():
    assert ts.isdtype(ts.int8, "signed integer") and not ts.isdtype(ts.uint8, "signed integer")
    assert ts.isdtype(ts.float64, ("integral", "real floating")) and ts.isdtype(ts.bool, ts.bool)
    with pytest.raises(TypeError, match=r"\[isdtype\]"):
        ts.isdtype(np.float64, "real floating")
    assert ts.result_type(ts.int8, ts.int16, ts.uint8) == ts.int16
    assert ts.result_type(ts.asarray([1], dtype=ts.float32), 1.5) == ts.float32
    assert ts.result_type(ts.int32, 1.5) == ts.get_default_dtype()
    assert ts.can_cast(ts.asarray([1], dtype=ts.int8), ts.int64) and not ts.can_cast(ts.float64, ts.int32)
    x = ts.asarray([1, 2], dtype=ts.int32)
    assert ts.astype(x, ts.float64).dtype == ts.float64
    assert ts.astype(x, ts.int32, copy=False) is x and ts.astype(x, ts.int32) is not x


def test_finfo_iinfo_take_tensors_and_dtype_objects():
    fi = ts.finfo(ts.asarray([1.0], dtype=ts.float64))
    assert fi.dtype == ts.float64 and fi.dtype == "float64"  # the object, equal to PyTorch's name string
    assert fi.eps == np.finfo(np.float64).eps and isinstance(fi.smallest_normal, float)
    assert ts.finfo(ts.complex64).dtype == ts.float32
    ii = ts.iinfo(ts.asarray([1], dtype=ts.int16))
    assert (ii.min, ii.max, ii.bits) == (-32768, 32767, 16) and ii.dtype == ts.int16
    assert ts.float32 != "float64" and hash(ts.float32) == hash(ts.float32)


# ---------------------------------------------------------------- creation

def test_asarray_copy_semantics_and_inference():
    a = np.arange(6.0)
    shared = ts.asarray(a)
    a[0] = 42.0
    assert shared[0].item() == 42.0  # copy=None shares a writable contiguous NumPy array
    copied = ts.asarray(a, copy=True)
    a[1] = -1.0
    assert copied[1].item() == 1.0
    with pytest.raises(ValueError, match="copy=False"):
        ts.asarray([1, 2], copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        ts.asarray(shared, dtype=ts.float32, copy=False)
    assert ts.asarray([True, False]).dtype == ts.bool and ts.asarray([1, 2]).dtype == ts.int64
    assert ts.asarray([1, 2.5]).dtype == ts.get_default_dtype() and ts.asarray(1j).dtype.is_complex
    with pytest.raises(OverflowError):
        ts.asarray(2 ** 70)
    assert N(ts.asarray([ts.asarray(True), ts.asarray(False)], dtype=ts.bool)).tolist() == [True, False]
    assert N(ts.asarray([1.7, -1.2], dtype=ts.int32)).tolist() == [1, -1]
    t = ts.asarray([1.0, 2.0])
    assert ts.asarray(t) is t and ts.asarray(t, copy=True) is not t


def test_creation_spellings():
    assert ts.zeros((2, 3)).shape == (2, 3) and ts.zeros(2, 3).shape == (2, 3) and ts.ones(size=(4,)).shape == (4,)
    assert ts.empty((0, 2)).shape == (0, 2)
    assert ts.full((2,), True).dtype == ts.bool and ts.full(size=(2,), fill_value=3).dtype == ts.int64
    assert N(ts.eye(3, 4, k=1)).tolist() == np.eye(3, 4, k=1).tolist()
    assert N(ts.eye(3, k=-2)).tolist() == np.eye(3, k=-2).tolist()
    np.testing.assert_allclose(N(ts.linspace(0, 1, 4, endpoint=False)), np.linspace(0, 1, 4, endpoint=False),
                               rtol=1e-6)
    np.testing.assert_allclose(N(ts.linspace(0, 1, steps=5)), np.linspace(0, 1, 5), rtol=1e-6)
    np.testing.assert_allclose(N(ts.linspace(start=0, end=2, steps=3)), [0, 1, 2])
    assert N(ts.arange(start=1, end=4)).tolist() == [1, 2, 3] and N(ts.arange(1, stop=7, step=3)).tolist() == [1, 4]
    with pytest.raises((ValueError, RuntimeError)):
        ts.arange(1, 0, 1)  # PyTorch's rule kept
    # a zero remainder takes the divisor's sign (Python, NumPy and the standard)
    z = ts.remainder(ts.tensor([-0.0, 0.0, 3.0, -3.0]), ts.tensor([1.0, -1.0, -1.5, 1.5]))
    assert np.signbit(N(z)).tolist() == [False, True, True, False]
    assert np.signbit(N(ts.tensor([-0.0], dtype=ts.float64) % 2.0)).tolist() == [False]
    x = ts.asarray(np.arange(9.0).reshape(3, 3))
    assert N(ts.tril(x, k=-1)).tolist() == np.tril(np.arange(9.0).reshape(3, 3), -1).tolist()
    assert N(ts.triu(x, 1)).tolist() == np.triu(np.arange(9.0).reshape(3, 3), 1).tolist()
    with pytest.raises(TypeError, match="both"):
        ts.tril(x, 1, k=1)
    with pytest.raises((ValueError, RuntimeError), match="device"):  # the core's error for a device not built
        ts.zeros(2, device="cuda")


# ---------------------------------------------------------------- elementwise

def test_new_elementwise_functions_match_numpy():
    a = np.array([-3.0, -0.0, 0.0, 2.5, np.inf])
    b = np.array([4.0, -1.0, 1.0, -0.0, 1.0])
    x, y = ts.asarray(a), ts.asarray(b)
    np.testing.assert_array_equal(N(ts.copysign(x, y)), np.copysign(a, b))
    np.testing.assert_array_equal(N(ts.signbit(x)), np.signbit(a))
    np.testing.assert_allclose(N(ts.hypot(x, y)), np.hypot(a, b))
    np.testing.assert_allclose(N(ts.logaddexp(x, y)), np.logaddexp(a, b))
    np.testing.assert_array_equal(N(ts.nextafter(x, y)), np.nextafter(a, b))
    assert ts.nextafter(ts.asarray(0.0), ts.asarray(1.0)).shape == ()
    big = ts.asarray(np.array([1e300, 1e-300]))  # no overflow or underflow in between
    np.testing.assert_allclose(N(ts.hypot(big, big)), np.hypot([1e300, 1e-300], [1e300, 1e-300]))
    for f, g in ((ts.greater, np.greater), (ts.less_equal, np.less_equal), (ts.not_equal, np.not_equal)):
        np.testing.assert_array_equal(N(f(x, y)), g(a, b))
        np.testing.assert_array_equal(N(f(2.0, y)), g(2.0, b))  # a Python scalar on either side
    with pytest.raises(TypeError, match="floating"):
        ts.hypot(ts.asarray([1]), ts.asarray([2]))


def test_complex_parts_and_complex_expm1_log1p_sign():
    z = np.array([1e-9 + 2e-9j, 0.5 - 1.5j, -2.0 + 0.25j])
    t = ts.asarray(z)
    np.testing.assert_array_equal(N(ts.real(t)), z.real)
    np.testing.assert_array_equal(N(ts.imag(t)), z.imag)
    np.testing.assert_allclose(N(ts.expm1(t)), np.expm1(z), rtol=1e-12)
    np.testing.assert_allclose(N(ts.log1p(t))[1:], np.log1p(z[1:]), rtol=1e-12)
    # near 0 the series z - z**2/2 is the reference (NumPy's complex log1p loses digits there)
    np.testing.assert_allclose(N(ts.log1p(t))[0], z[0] - z[0] ** 2 / 2, rtol=1e-12)
    np.testing.assert_allclose(N(ts.sign(t)), z / np.abs(z), rtol=1e-12)
    assert N(ts.imag(ts.asarray([1.0]))).tolist() == [0.0]
    assert N(ts.positive(ts.asarray([-1]))).tolist() == [-1]


def test_shifts_and_bitwise_names():
    a = np.array([-8, -1, 3, 100], dtype=np.int16)
    s = np.array([1, 2, 3, 20], dtype=np.int16)
    x, y = ts.asarray(a), ts.asarray(s)
    np.testing.assert_array_equal(N(x >> y), np.right_shift(a, np.minimum(s, 15)))
    np.testing.assert_array_equal(N(ts.bitwise_left_shift(x, y)), np.where(s >= 16, 0, np.left_shift(a, s)))
    np.testing.assert_array_equal(N(2 << ts.asarray([1, 3])), [4, 16])
    np.testing.assert_array_equal(N(ts.bitwise_invert(x)), ~a)
    z = ts.asarray([1, 2], dtype=ts.uint8)
    z <<= 7
    assert N(z).tolist() == [128, 0] and z.dtype == ts.uint8
    with pytest.raises(TypeError, match="integer"):
        ts.asarray([1.0]) << 1


def test_clip_keeps_dtype():
    x = ts.asarray([-5, 0, 5], dtype=ts.int8)
    out = ts.clip(x, -2, 300)
    assert out.dtype == ts.int8 and N(out).tolist() == [-2, 0, 5]
    f = ts.asarray([-1.0, 0.5, 3.0])
    assert N(ts.clip(f, max=1.0)).tolist() == [-1.0, 0.5, 1.0]
    assert N(ts.clip(f, ts.asarray([0.0, 0.0, 0.0]))).tolist() == [0.0, 0.5, 3.0]


# ---------------------------------------------------------------- statistical

def test_reductions_take_axis_and_dim():
    x = ts.asarray(A)
    np.testing.assert_allclose(N(ts.sum(x, axis=0)), A.sum(0))
    np.testing.assert_allclose(N(ts.sum(x, 1, True)), A.sum(1, keepdims=True))
    np.testing.assert_allclose(N(ts.mean(x, axis=(0, 1), keepdims=True)), A.mean(keepdims=True))
    np.testing.assert_allclose(N(ts.prod(x, dim=1)), A.prod(1))
    np.testing.assert_allclose(N(ts.sum(x, axis=())), A)  # no axis: each element on its own
    assert ts.sum(ts.asarray([200, 100], dtype=ts.uint8)).item() == 300
    with pytest.raises(TypeError, match="both"):
        ts.sum(x, 0, axis=0)
    with pytest.raises(IndexError, match=r"\[sum\]"):
        ts.sum(x, axis=5)


def test_max_min_keep_pytorchs_forms():
    x = ts.asarray(A)
    values, indices = ts.max(x, 1)  # PyTorch: (values, indices)
    assert N(values).tolist() == A.max(1).tolist() and N(indices).tolist() == A.argmax(1).tolist()
    assert N(ts.max(x, axis=1)).tolist() == A.max(1).tolist()  # the standard: the values
    assert N(ts.min(x, axis=(0, 1), keepdims=True)).tolist() == A.min(keepdims=True).tolist()
    assert ts.max(x).item() == A.max()
    assert N(ts.max(x, ts.zeros(2, 3, dtype=ts.float64))).tolist() == np.maximum(A, 0).tolist()


def test_std_var_correction_defaults_to_pytorchs():
    x = ts.asarray(A)
    np.testing.assert_allclose(N(ts.std(x, axis=1)), A.std(1, ddof=1))  # PyTorch's default
    np.testing.assert_allclose(N(ts.var(x, axis=0, correction=0)), A.var(0))
    np.testing.assert_allclose(ts.var(x, True).item(), A.var(ddof=1))  # PyTorch's positional unbiased
    np.testing.assert_allclose(N(ts.std(x, axis=(), correction=0)), np.zeros_like(A))


def test_cumulative_sum_prod():
    x = ts.asarray(A)
    np.testing.assert_allclose(N(ts.cumulative_sum(x, axis=1)), np.cumsum(A, 1))
    np.testing.assert_allclose(N(ts.cumulative_prod(x, axis=0, include_initial=True)),
                               np.concatenate([np.ones((1, 3)), np.cumprod(A, 0)]))
    with pytest.raises(ValueError, match="axis"):
        ts.cumulative_sum(x)


# ---------------------------------------------------------------- manipulation

def test_manipulation_spellings():
    x = ts.asarray(A)
    assert N(ts.concat([x, x], axis=None)).tolist() == np.concatenate([A, A], axis=None).tolist()
    assert ts.concat([x, ts.asarray([[1, 2, 3]], dtype=ts.int8)]).dtype == ts.float64  # promotes
    assert ts.stack([x, x], axis=1).shape == (2, 2, 3) and ts.stack([x, x], 2).shape == (2, 3, 2)
    assert ts.expand_dims(x, axis=-1).shape == (2, 3, 1)
    with pytest.raises(IndexError, match="expand_dims"):
        ts.expand_dims(x, axis=4)
    assert ts.permute_dims(x, (1, 0)).shape == (3, 2)
    assert N(ts.flip(x)).tolist() == np.flip(A).tolist() and N(ts.flip(x, dims=[1])).tolist() == A[:, ::-1].tolist()
    assert N(ts.roll(x, 1)).tolist() == np.roll(A, 1).tolist()
    assert N(ts.roll(x, shift=1, axis=1)).tolist() == np.roll(A, 1, 1).tolist()
    assert N(ts.roll(x, shifts=1, dims=0)).tolist() == np.roll(A, 1, 0).tolist()
    assert N(ts.repeat(x, 2, axis=0)).tolist() == np.repeat(A, 2, 0).tolist()
    assert ts.reshape(x, (3, 2), copy=True).shape == (3, 2)
    with pytest.raises(ValueError, match="copy=False"):
        ts.reshape(x.mT, (6,), copy=False)
    assert ts.squeeze(ts.zeros(1, 2, 1), axis=0).shape == (2, 1)
    assert ts.squeeze(ts.zeros(1, 2, 1), 1).shape == (1, 2, 1)  # PyTorch leaves a non-1 dim
    assert [t.shape for t in ts.unstack(x, axis=1)] == [(2,)] * 3
    a, b = ts.broadcast_arrays(ts.zeros(3), ts.zeros(2, 1))
    assert a.shape == b.shape == (2, 3)
    assert ts.broadcast_to(ts.zeros(3), shape=(2, 3)).shape == (2, 3)
    assert ts.broadcast_to(ts.zeros(3), size=(2, 3)).shape == (2, 3)


# ---------------------------------------------------------------- searching, sets, sorting, utility

def test_searching_and_sorting():
    x = ts.asarray(A)
    assert N(ts.argmax(x, axis=1, keepdims=True)).tolist() == A.argmax(1)[:, None].tolist()
    assert N(ts.argmin(x, keepdims=True)).tolist() == [[A.argmin()]]
    assert N(ts.count_nonzero(ts.asarray([[0, 1], [2, 0]]), axis=0)).tolist() == [1, 1]
    s = ts.asarray([5.0, 1.0, 3.0])
    order = ts.argsort(s)
    assert N(ts.searchsorted(s, ts.asarray([2.0, 4.0]), sorter=order)).tolist() == [1, 2]
    assert N(ts.searchsorted(ts.asarray([1, 2, 3]), 2, side="right")).tolist() == 2
    values, indices = ts.sort(s, axis=0)  # PyTorch's (values, indices)
    assert N(values).tolist() == [1.0, 3.0, 5.0] and N(indices).tolist() == [1, 2, 0]
    stable = ts.argsort(ts.asarray([1, 0, 1, 0]), descending=True)
    assert N(stable).tolist() == [0, 2, 1, 3]


def test_unique_family_matches_numpy():
    a = np.array([3.0, np.nan, 1.0, 3.0, np.nan, 2.0])
    v, i, inv, c = ts.unique_all(ts.asarray(a))
    assert N(v)[:3].tolist() == [1.0, 2.0, 3.0] and np.isnan(N(v)[3:]).all()  # each NaN is distinct
    assert N(c).tolist() == [1, 1, 2, 1, 1]
    np.testing.assert_array_equal(N(v)[N(inv)], a)
    np.testing.assert_array_equal(a[N(i)], N(v))
    b = np.array([[2, 1], [2, 5]])
    assert N(ts.unique_values(ts.asarray(b))).tolist() == [1, 2, 5]
    assert ts.unique_inverse(ts.asarray(b)).inverse_indices.shape == (2, 2)
    assert N(ts.unique_counts(ts.asarray(b)).counts).tolist() == [1, 2, 1]


def test_all_any_diff():
    b = ts.asarray([[True, False], [True, True]])
    assert N(ts.all(b, axis=0)).tolist() == [True, False] and N(ts.any(b, axis=1, keepdims=True)).tolist() == [[True], [True]]
    x = ts.asarray(A)
    np.testing.assert_allclose(N(ts.diff(x, axis=1, n=2)), np.diff(A, 2, axis=1))
    np.testing.assert_allclose(N(ts.diff(x, axis=0, prepend=ts.zeros(1, 3, dtype=ts.float64))),
                               np.diff(A, axis=0, prepend=0))


# ---------------------------------------------------------------- linear algebra, indexing, Tensor

def test_linear_algebra_and_indexing():
    x = ts.asarray(A)
    assert ts.matrix_transpose(x).shape == (3, 2)
    with pytest.raises(ValueError, match="matrix_transpose"):
        ts.matrix_transpose(ts.zeros(3))
    np.testing.assert_allclose(N(ts.tensordot(x, x.mT, axes=1)), A @ A.T)
    np.testing.assert_allclose(N(ts.tensordot(x, x, dims=([0, 1], [0, 1]))), np.tensordot(A, A, 2))
    z = np.array([[1 + 2j, 3 - 1j]])
    np.testing.assert_allclose(N(ts.vecdot(ts.asarray(z), ts.asarray(z))), np.vecdot(z, z))
    np.testing.assert_allclose(N(ts.asarray(z).mH), z.conj().T)
    idx = ts.asarray([2, 0])
    assert N(ts.take(x, idx, axis=1)).tolist() == A[:, [2, 0]].tolist()
    assert N(ts.take(x, idx)).tolist() == A.reshape(-1)[[2, 0]].tolist()  # torch.take: flattened
    ii = ts.asarray([[0], [2]])
    assert N(ts.take_along_axis(x, ii, axis=1)).tolist() == np.take_along_axis(A, np.array([[0], [2]]), 1).tolist()


def test_scikit_learn_style_namespace_round_trip():
    x = ts.asarray(A)
    xp = x.__array_namespace__()
    out = xp.mean(xp.astype(x, xp.float32), axis=0)
    assert isinstance(out, ts.Tensor) and out.dtype == xp.float32
    assert +x is not x and N(+x).tolist() == A.tolist()
