"""index_select / embedding on a contiguous CPU tensor: the block-copy path (issue 16;
rows along dim 0, blocks or single elements along later dims) against NumPy, with the
shapes and dtypes around it."""
import numpy as np
import pytest

import tessel as ts


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("shape", [(7,), (7, 5), (7, 3, 4), (7, 0)])
def test_index_select_rows_match_numpy(dtype, shape):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    for idx in [np.array([6, 0, 0, 3]), np.array([], np.int64), np.arange(7)[::-1].copy(), np.array([2], np.int32)]:
        got = ts.index_select(ts.from_numpy(x), 0, ts.from_numpy(idx)).numpy()
        assert got.dtype == x.dtype and got.shape == x[idx].shape
        assert np.array_equal(got, x[idx])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.bool_, np.complex128, np.uint8])
@pytest.mark.parametrize("shape", [(4, 7), (3, 7, 2), (2, 3, 7), (7,), (2, 0, 7)])
def test_index_select_along_every_dim_matches_numpy_take(dtype, shape):
    # Every dim of the tensor: blocks of 1, 2 (int16 pairs: a 4-byte block at 2-byte
    # alignment), 8 and 16 bytes and odd sizes, and empty outer extents.
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    for dim in range(len(shape)):
        n = shape[dim]
        for idx in [np.array([n - 1, 0, 0] if n else [], np.int64), np.arange(n)[::-1].copy()]:
            got = ts.index_select(ts.from_numpy(x), dim, ts.from_numpy(idx)).numpy()
            want = np.take(x, idx, axis=dim)
            assert got.dtype == x.dtype and got.shape == want.shape
            assert np.array_equal(got, want)
    with pytest.raises(IndexError, match="index_select"):
        ts.index_select(ts.from_numpy(x), x.ndim - 1, ts.tensor([shape[-1]]))


def test_index_select_large_blocks_in_parallel_match_numpy():
    # Over 1 MiB copied: the copies run on the thread pool.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 50, 40)).astype(np.float32)
    idx = rng.integers(0, 50, 120)
    for dim, ix in ((1, idx), (2, idx % 40), (0, idx % 300)):
        got = ts.index_select(ts.from_numpy(x), dim, ts.from_numpy(ix)).numpy()
        assert np.array_equal(got, np.take(x, ix, axis=dim))


def test_index_select_rows_of_views_and_scalar_index():
    x = np.arange(60, dtype=np.float32).reshape(6, 10)
    t = ts.from_numpy(x)
    idx = ts.tensor([5, 1, 1])
    assert np.array_equal(ts.index_select(t[1:5], 0, ts.tensor([3, 0])).numpy(), x[1:5][[3, 0]])  # offset view
    assert np.array_equal(ts.index_select(t.t(), 0, idx).numpy(), x.T[[5, 1, 1]])  # non-contiguous: old path
    assert np.array_equal(ts.index_select(t, 0, ts.tensor(4)).numpy(), x[[4]])  # 0-d index: one row
    with pytest.raises(IndexError):
        ts.index_select(t, 0, ts.tensor([6]))
    with pytest.raises(IndexError):
        ts.index_select(t, 0, ts.tensor([-1]))


def test_embedding_rows_and_gradient():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((9, 4))
    ids = np.array([[1, 8, 1], [0, 3, 3]])
    wt = ts.from_numpy(w).requires_grad_()
    out = ts.nn.functional.embedding(ts.from_numpy(ids), wt)
    assert np.array_equal(out.detach().numpy(), w[ids])
    g = rng.standard_normal(out.shape)
    out.backward(ts.from_numpy(g))
    want = np.zeros_like(w)
    np.add.at(want, ids.reshape(-1), g.reshape(-1, 4))
    assert np.allclose(wt.grad.numpy(), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_index_select_range_checked_along_the_copy(threads):
    # the range check rides along the row copies: a bad index anywhere (first, last, in a
    # large parallel copy, negative) raises and names it; no row is read from outside the
    # table; an empty outer extent still checks the index
    x = ts.from_numpy(np.random.default_rng(4).standard_normal((4000, 96)).astype(np.float32)).to(ts.bfloat16)
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        for bad in (4000, -1, 1 << 40):
            for where in (0, 2999, 5999):
                idx = np.random.default_rng(where).integers(0, 4000, 6000)
                idx[where] = bad
                with pytest.raises(IndexError, match="index_select"):
                    ts.index_select(x, 0, ts.from_numpy(idx))
                with pytest.raises(IndexError, match="embedding"):
                    ts.nn.functional.embedding(ts.from_numpy(idx), x)
        with pytest.raises(IndexError, match="index_select"):
            ts.index_select(ts.zeros((0, 5, 3)), 1, ts.tensor([5]))
        good = np.random.default_rng(5).integers(0, 4000, 6000)
        got = ts.index_select(x, 0, ts.from_numpy(good)).to(ts.float32).numpy()
        assert np.array_equal(got, x.to(ts.float32).numpy()[good])
    finally:
        ts.set_num_threads(old)
