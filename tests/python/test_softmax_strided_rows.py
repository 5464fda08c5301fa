"""softmax / log_softmax of float32 rows with a stride along the dim (transposed views): the
strided rows go through the same vector row kernel as contiguous ones (kernels/cpu/softmax.cpp)."""
import numpy as np
import pytest

import tessel as ts
import tessel.nn.functional as F


def ref(x, log):
    x = np.asarray(x, np.float64)
    m = x.max(-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.exp(x - m)
    s = e.sum(-1, keepdims=True)
    return (x - m - np.log(s)) if log else e / s


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", [(3, 1), (7, 5), (64, 33), (316, 316), (2, 1100)])
def test_transposed_rows_match_float64_and_the_contiguous_bits(log, shape):
    rng = np.random.default_rng(sum(shape))
    xn = (rng.standard_normal(shape) * 4).astype(np.float32)
    xt = ts.tensor(np.ascontiguousarray(xn.T)).t()  # xn's values, stride != 1 along dim -1
    assert shape[1] == 1 or not xt.is_contiguous()
    fn = F.log_softmax if log else F.softmax
    got = fn(xt, -1).numpy()
    want = ref(xn, log)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * max(1.0, np.abs(want).max()))
    assert np.array_equal(got, fn(ts.tensor(xn), -1).numpy())  # same row kernel, same bits


@pytest.mark.parametrize("log", [False, True])
def test_transposed_rows_special_values(log):
    xn = np.array([[-np.inf, -np.inf, -np.inf], [1.0, np.nan, 2.0], [np.inf, 0.0, 1.0], [0.0, -np.inf, 3.0]],
                  np.float32)
    fn = F.log_softmax if log else F.softmax
    got = fn(ts.tensor(np.ascontiguousarray(xn.T)).t(), -1).numpy()
    assert np.array_equal(got, fn(ts.tensor(xn), -1).numpy(), equal_nan=True)
    assert np.isnan(got[1]).all()
    np.testing.assert_allclose(got[3], ref(xn[3:4], log)[0], rtol=1e-6)
