"""Sums over leading or middle dims of contiguous float tensors: the row-accumulating path
(issue 16) against NumPy float64."""
import numpy as np
import pytest

import tessel as ts


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("shape,dims", [((300, 7), (0,)), ((4, 200, 9), (1,)), ((3, 5, 6, 7), (1, 2)),
                                        ((5, 1, 4), (0,)), ((2, 3, 1, 4), (1, 2)), ((129, 2, 3), (0, 1)),
                                        ((6, 1000, 2), (1,)), ((2, 3), (0,))])
def test_sum_over_leading_and_middle_dims(dtype, tol, shape, dims):
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype)
    for keepdim in (False, True):
        got = ts.sum(ts.from_numpy(x), dim=dims, keepdim=keepdim).numpy()
        want = x.astype(np.float64).sum(axis=dims, keepdims=keepdim)
        assert got.dtype == x.dtype and got.shape == want.shape
        scale = np.abs(x.astype(np.float64)).sum(axis=dims, keepdims=keepdim)
        assert np.all(np.abs(got - want) <= tol * scale + 1e-30), (shape, dims)
    mean = ts.mean(ts.from_numpy(x), dim=dims).numpy()
    assert np.allclose(mean, x.astype(np.float64).mean(axis=dims), rtol=0, atol=10 * tol)


def test_sum_many_rows_stays_accurate():
    # 200,000 rows: pairwise halves keep the float32 error near log2(n) roundings, not n.
    x = (np.random.default_rng(3).random((200_000, 3)) + 1).astype(np.float32)
    got = ts.sum(ts.from_numpy(x), dim=0).numpy().astype(np.float64)
    want = x.astype(np.float64).sum(0)
    assert np.all(np.abs(got - want) <= 2e-6 * want), (got, want)


def test_sum_middle_special_values_and_views():
    x = np.ones((4, 3, 5), np.float32)
    x[1, 0, 2], x[2, 1, 3], x[0, 2, 4], x[3, 2, 4] = np.nan, np.inf, np.inf, -np.inf
    got = ts.sum(ts.from_numpy(x), dim=0).numpy()
    want = x.sum(0)
    assert np.array_equal(got, want, equal_nan=True)
    t = ts.from_numpy(np.arange(24, dtype=np.float32).reshape(4, 6))
    assert np.array_equal(ts.sum(t.t(), dim=0).numpy(), np.arange(24, dtype=np.float32).reshape(4, 6).T.sum(0))
    assert np.array_equal(ts.sum(t[:, 1:4], dim=0).numpy(), np.arange(24, dtype=np.float32).reshape(4, 6)[:, 1:4].sum(0))
