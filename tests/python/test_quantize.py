"""int8/uint8 affine quantization against NumPy (float64, round half to even)."""
import numpy as np
import pytest

import tessel as ts

rng = np.random.default_rng(0)
RANGE = {ts.int8: (-128, 127), ts.uint8: (0, 255)}
NPT = {ts.int8: np.int8, ts.uint8: np.uint8}


def np_quantize(x, scale, zp, dtype, axis=None):
    lo, hi = RANGE[dtype]
    if axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = np.reshape(scale, shape), np.reshape(zp, shape)
    return np.clip(np.rint(x.astype(np.float64) / scale) + zp, lo, hi).astype(NPT[dtype])


@pytest.mark.parametrize("dtype", [ts.int8, ts.uint8])
@pytest.mark.parametrize("src", [ts.float32, ts.float64])
def test_per_tensor_matches_numpy(dtype, src):
    x = rng.uniform(-3, 3, (7, 11)).astype(np.float64)
    zp = 3 if dtype == ts.int8 else 128
    q = ts.quantize_per_tensor(ts.tensor(x, dtype=src), 0.02, zp, dtype)
    assert q.dtype == dtype
    ref = np_quantize(np.asarray(ts.tensor(x, dtype=src).to(ts.float64)), 0.02, zp, dtype)
    np.testing.assert_array_equal(q.numpy(), ref)
    back = ts.dequantize(q, 0.02, zp)
    assert back.dtype == ts.float32
    np.testing.assert_allclose(back.numpy(), (ref.astype(np.float64) - zp) * 0.02, rtol=1e-6, atol=1e-7)


def test_rounds_half_to_even_and_saturates():
    x = ts.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 1000.0, -1000.0], dtype=ts.float64)
    assert ts.quantize_per_tensor(x, 1.0, 0, ts.int8).tolist() == [0, 2, 2, 0, -2, 127, -128]
    assert ts.quantize_per_tensor(x, 1.0, 10, ts.uint8).tolist() == [10, 12, 12, 10, 8, 255, 0]


def test_round_trip_error_is_at_most_half_a_step():
    x = rng.uniform(-1, 1, 1000)
    scale = 2 / 255
    back = ts.dequantize(ts.quantize_per_tensor(ts.tensor(x), scale, 0, ts.int8), scale, 0, dtype=ts.float64)
    assert np.max(np.abs(back.numpy() - x)) <= scale / 2 + 1e-9


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", [ts.int8, ts.uint8])
def test_per_channel_matches_numpy(axis, dtype):
    x = rng.uniform(-4, 4, (3, 5, 4))
    n = x.shape[axis]
    scales = rng.uniform(0.01, 0.1, n)
    lo, hi = RANGE[dtype]
    zps = rng.integers(lo // 2, hi // 2 + 1, n)
    q = ts.quantize_per_channel(ts.tensor(x), ts.tensor(scales), ts.tensor(zps), axis, dtype)
    ref = np_quantize(x, scales, zps, dtype, axis=axis % 3)
    np.testing.assert_array_equal(q.numpy(), ref)
    back = ts.dequantize_per_channel(q, ts.tensor(scales), ts.tensor(zps), axis, dtype=ts.float64)
    shape = [1, 1, 1]
    shape[axis % 3] = -1
    np.testing.assert_allclose(back.numpy(), (ref - zps.reshape(shape)) * scales.reshape(shape), rtol=1e-12)


def test_clear_errors():
    x = ts.randn(4, 3)
    with pytest.raises(TypeError, match=r"\[quantize_per_tensor\].*int8 or uint8"):
        ts.quantize_per_tensor(x, 0.1, 0, ts.int16)
    with pytest.raises(ValueError, match=r"\[quantize_per_tensor\].*scale must be positive"):
        ts.quantize_per_tensor(x, 0.0, 0)
    with pytest.raises(ValueError, match=r"zero_point 300 is outside \[0, 255\]"):
        ts.quantize_per_tensor(x, 0.1, 300, ts.uint8)
    with pytest.raises(TypeError, match=r"\[quantize_per_tensor\].*floating"):
        ts.quantize_per_tensor(ts.arange(3), 0.1, 0)
    with pytest.raises(ValueError, match=r"\[quantize_per_channel\] expected 3 scales"):
        ts.quantize_per_channel(x, ts.ones(4), ts.zeros(4, dtype=ts.int64), 1)
    with pytest.raises(ValueError, match=r"scales must be positive"):
        ts.quantize_per_channel(x, ts.tensor([0.1, -0.1, 0.1]), ts.zeros(3, dtype=ts.int64), 1)
    with pytest.raises(ValueError, match=r"zero points must lie in \[-128, 127\]"):
        ts.quantize_per_channel(x, ts.ones(3), ts.tensor([0, 200, 0]), 1)
    with pytest.raises(TypeError, match=r"\[dequantize\].*integer"):
        ts.dequantize(x, 0.1, 0)
