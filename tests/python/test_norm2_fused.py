"""The 2-norm of a contiguous float tensor over its last dims (or all) in one
pass (the by-name kernel "sum_squares", src/ops/reduce.cpp norm2_fused), and
the layouts that keep the composite: against NumPy in float64, with keepdim,
odd sizes, broadcast and transposed inputs, gradients and thread counts."""
import numpy as np
import pytest

import tessel as ts

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dims", [((100003,), None), ((37, 1029), -1), ((37, 1029), None),
                                        ((6, 7, 513), (-2, -1)), ((6, 7, 513), -1), ((6, 7, 513), 0),
                                        ((6, 7, 513), (0, 2)), ((3, 1, 5), 1)])
def test_vector_norm_matches_numpy(dtype, shape, dims):
    a = RNG.standard_normal(shape).astype(dtype)
    x = ts.tensor(a)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for keepdim in (False, True):
        got = ts.linalg.vector_norm(x, 2, dim=dims, keepdim=keepdim)
        want = np.sqrt(np.sum(a.astype(np.float64) ** 2, axis=dims, keepdims=keepdim))
        assert got.dtype == x.dtype
        np.testing.assert_allclose(np.asarray(got.tolist()), want, rtol=tol)
        assert list(got.shape) == list(np.shape(want))


def test_views_and_special_values():
    a = RNG.standard_normal((300, 200)).astype(np.float32)
    for x, ref in ((ts.tensor(a).t(), a.T), (ts.tensor(a[:1]).expand(300, 200), np.broadcast_to(a[:1], (300, 200)))):
        for dim in (None, -1, 0):
            got = np.asarray(ts.linalg.vector_norm(x, 2, dim=dim).tolist())
            np.testing.assert_allclose(got, np.linalg.norm(ref.astype(np.float64), axis=dim), rtol=2e-6)
    b = np.ones(5000, np.float32)
    b[17] = np.nan
    assert np.isnan(float(ts.linalg.vector_norm(ts.tensor(b))))
    b[17] = np.inf
    assert float(ts.linalg.vector_norm(ts.tensor(b))) == np.inf
    assert float(ts.linalg.vector_norm(ts.zeros(4096))) == 0.0


def test_gradient_and_threads():
    a = RNG.standard_normal((64, 700))
    x = ts.tensor(a, requires_grad=True)
    n = ts.linalg.vector_norm(x, 2, dim=-1)
    n.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad.tolist()), a / np.linalg.norm(a, axis=-1, keepdims=True),
                               rtol=1e-12)
    z = ts.zeros(3, 4096, requires_grad=True)  # the gradient at 0 is 0, not NaN
    ts.linalg.vector_norm(z, 2, dim=-1).sum().backward()
    assert not np.isnan(np.asarray(z.grad.tolist())).any()
    big = ts.tensor(RNG.standard_normal(300000).astype(np.float32))
    res = []
    for t in (1, 2):
        ts.set_num_threads(t)
        res.append((float(ts.linalg.vector_norm(big)), ts.linalg.vector_norm(big.view(300, 1000), dim=-1).tolist()))
    assert res[0] == res[1]
