"""softplus's first-order backward is one kernel (softplus_backward_fused,
kernels/cpu/norm.cpp), also under logsigmoid (-softplus(-x)): contiguous runs,
and runs of mixed layouts gathered into blocks, against float64 NumPy."""
import numpy as np
import pytest

import tessel as ts

F = ts.nn.functional


def dsoftplus(x, beta, threshold):
    z = beta * x
    return np.where(z > threshold, 1.0, 1.0 / (1.0 + np.exp(-z)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 3.0), (0.5, 1.0)])
def test_softplus_gradient(dtype, layout, beta, threshold):
    rng = np.random.default_rng(51)
    base = rng.uniform(-8, 8, (40, 1100)).astype(dtype)
    leaf = ts.tensor(base, requires_grad=True)
    x, xn = {"contiguous": (leaf, base), "transposed": (leaf.t(), base.T),
             "sliced": (leaf[:, ::3], base[:, ::3])}[layout]
    g = rng.standard_normal(xn.shape).astype(dtype)
    F.softplus(x, beta, threshold).backward(ts.tensor(g))  # g contiguous: mixed layouts but for 'contiguous'
    expect = np.zeros(base.shape)
    view = {"contiguous": expect, "transposed": expect.T, "sliced": expect[:, ::3]}[layout]
    view += g.astype(np.float64) * dsoftplus(xn.astype(np.float64), beta, threshold)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(leaf.grad.numpy(), expect, rtol=tol, atol=tol)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_logsigmoid_gradient(layout):
    rng = np.random.default_rng(52)
    base = rng.uniform(-30, 30, (300, 70)).astype(np.float32)
    leaf = ts.tensor(base, requires_grad=True)
    x, xn = (leaf, base) if layout == "contiguous" else (leaf.t(), base.T)
    F.logsigmoid(x).sum().backward()
    expect = 1.0 / (1.0 + np.exp(xn.astype(np.float64)))  # d/dx log(sigmoid(x)) = sigmoid(-x)
    got = leaf.grad.numpy() if layout == "contiguous" else leaf.grad.numpy().T
    np.testing.assert_allclose(got, expect, rtol=2e-6, atol=1e-7)
