"""nan_to_num over contiguous float32/float64 runs compares bit patterns as
integers (kernels/cpu/unary.cpp): NaN of either sign and any payload, the two
infinities, and everything else (zeros of both signs, subnormals, the largest
finite values) against NumPy's nan_to_num, with default and given replacements,
in whole vectors and tails."""
import numpy as np
import pytest

import tessel as ts


def specials(dtype, n):
    info = np.finfo(dtype)
    u = np.uint32 if dtype == np.float32 else np.uint64
    neg_nan = np.array([np.nan], dtype).view(u) | u(1) << u(8 * np.dtype(dtype).itemsize - 1)
    payload = np.array([np.nan], dtype).view(u) | u(5)
    vals = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, info.max, -info.max, info.tiny / 8, -info.tiny / 8, 1.5],
                    dtype)
    vals = np.concatenate([vals, neg_nan.view(dtype), payload.view(dtype)])
    rng = np.random.default_rng(n)
    return rng.choice(vals, n).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 16, 37, 1000])
@pytest.mark.parametrize("repl", [None, (0.5, 7.0, -9.0), (np.nan, -1.0, 2.0)])
def test_matches_numpy(dtype, n, repl):
    x = specials(dtype, n)
    if repl is None:
        got, ref = ts.nan_to_num(ts.tensor(x)), np.nan_to_num(x)
    else:
        nan, pos, neg = repl
        got = ts.nan_to_num(ts.tensor(x), nan=nan, posinf=pos, neginf=neg)
        ref = np.nan_to_num(x, nan=nan, posinf=pos, neginf=neg)
    g = got.numpy()
    assert g.dtype == dtype
    np.testing.assert_array_equal(g, ref)  # NaN replacements compare equal as NaN
    zeros = x == 0
    np.testing.assert_array_equal(np.signbit(g[zeros]), np.signbit(x[zeros]))  # -0 stays -0
