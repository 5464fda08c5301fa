"""cat and stack of contiguous CPU parts (src/ops/shape.cpp): blocks of every small byte size
(copied as fixed-size moves), two equal parts interleaved in one pass (stack along the last
dim, ts.complex), the generic memcpy path and the threaded one, against NumPy exactly."""
import numpy as np
import pytest

import tessel as ts

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64, np.complex64])
@pytest.mark.parametrize("widths", [(1, 1), (2, 2), (3, 1), (1, 2, 5), (4, 4), (6, 2), (8, 8), (16, 3), (17, 40)])
@pytest.mark.parametrize("rows", [1, 7, 300])
def test_cat_along_the_last_dim(dtype, widths, rows):
    parts = [(RNG.standard_normal((rows, w)) * 50).astype(dtype) for w in widths]
    got = ts.cat([ts.tensor(p) for p in parts], -1).numpy()
    assert got.dtype == dtype and np.array_equal(got, np.concatenate(parts, -1))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.float16, np.float32, np.float64, np.int32,
                                   np.complex64])
@pytest.mark.parametrize("shape", [(5,), (390, 256), (3, 4, 1), (700_000,)])  # last two: > 256 KiB, threads
def test_stack_along_the_last_dim(dtype, shape):
    a, b, c = ((RNG.standard_normal(shape) * 9).astype(dtype) for _ in range(3))
    for parts in ((a, b), (a, b, c), (a,)):
        got = ts.stack([ts.tensor(p) for p in parts], -1).numpy()
        assert np.array_equal(got, np.stack(parts, -1)), (shape, len(parts))


def test_stack_of_bfloat16_pairs():
    # 2-byte blocks interleaved in one pass, bfloat16 bits kept
    a, b = (ts.tensor(RNG.standard_normal((333, 77)).astype(np.float32)).to(ts.bfloat16) for _ in range(2))
    got = ts.stack([a, b], -1)
    assert got.dtype == ts.bfloat16
    want = np.stack([a.to(ts.float32).numpy(), b.to(ts.float32).numpy()], -1)
    assert np.array_equal(got.to(ts.float32).numpy(), want)


def test_complex_interleaves_real_and_imag():
    re, im = RNG.standard_normal((390, 256)), RNG.standard_normal((390, 256))
    for dt, cdt in ((np.float32, np.complex64), (np.float64, np.complex128)):
        got = ts.complex(ts.tensor(re.astype(dt)), ts.tensor(im.astype(dt))).numpy()
        assert got.dtype == cdt and np.array_equal(got, re.astype(dt) + 1j * im.astype(dt))
