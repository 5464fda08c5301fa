"""float32 softmax / log_softmax over contiguous rows: the vector-exp path (issue 16) against
NumPy float64, every row length around the 8-wide loops, and the special rows."""
import numpy as np
import pytest

import tessel as ts

F = ts.nn.functional


def _ref(x, log):
    x = x.astype(np.float64)
    m = x.max(-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(-1, keepdims=True))
    return x - lse if log else np.exp(x - lse)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("length", [1, 7, 8, 9, 17, 100, 1000])
def test_rows_match_float64(log, length):
    x = (np.random.default_rng(length).standard_normal((13, length)) * 8).astype(np.float32)
    got = (F.log_softmax if log else F.softmax)(ts.from_numpy(x), dim=-1).numpy()
    want = _ref(x, log)
    if log:
        assert np.max(np.abs(got - want)) <= 4e-6 * (1 + np.max(np.abs(want)))
    else:
        # x - max is rounded to float first (as in PyTorch): relative error ~ |log p| * 2^-24
        assert np.all(np.abs(got - want) <= want * 3e-7 * (4 + np.abs(np.log(want)))), length
        assert np.allclose(got.sum(-1), 1, atol=2e-6)


@pytest.mark.parametrize("log", [False, True])
def test_special_rows(log):
    x = np.array([[0.0, -np.inf, 1.0, -np.inf, 2.0, 3.0, 4.0, 5.0, 6.0],
                  [np.nan] + [1.0] * 8,
                  [-np.inf] * 9,
                  [1e30, -1e30] + [0.0] * 7], np.float32)
    got = (F.log_softmax if log else F.softmax)(ts.from_numpy(x), dim=-1).numpy()
    with np.errstate(all="ignore"):
        want = _ref(x[[0, 3]], log)
    assert np.allclose(got[[0, 3]], want, rtol=2e-6, atol=0)  # -inf entries give 0 (softmax) / -inf (log)
    assert np.all(np.isnan(got[1])) and np.all(np.isnan(got[2]))  # NaN row; all--inf row: 0/0
