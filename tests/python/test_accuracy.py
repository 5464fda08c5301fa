"""Float reductions are as accurate as NumPy's pairwise summation."""
import numpy as np

import tessel as ts


def test_float32_sum_of_1e7_values_is_within_numpys_error():
    a = np.random.default_rng(0).random(10_000_000, dtype=np.float32)
    exact = a.astype(np.float64).sum()  # float64 pairwise: error ~1e-16 relative, exact enough here
    err_numpy = abs(float(a.sum()) - exact)
    t = ts.from_numpy(a)
    for threads in (1, 2):
        ts.set_num_threads(threads)
        err = abs(t.sum().item() - exact)
        # Naive float32 accumulation is off by ~1e-3 relative here; pairwise stays near 1e-7.
        assert err <= max(2 * err_numpy, 1e-6 * exact), (err, err_numpy, exact)


def test_float32_mean_and_var_of_offset_data():
    # Large offset: a one-pass E[x^2] - E[x]^2 variance would cancel catastrophically.
    a = (1e4 + np.random.default_rng(1).standard_normal(1_000_000)).astype(np.float32)
    t = ts.from_numpy(a)
    assert abs(t.mean().item() - a.astype(np.float64).mean()) < 1e-3
    assert abs(t.var().item() - a.astype(np.float64).var(ddof=1)) < 1e-2
