"""index_select / embedding along dim 0 of a contiguous CPU tensor: the row-copy path
(issue 16) against NumPy, with the shapes and dtypes around it."""
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
