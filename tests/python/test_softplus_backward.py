"""softplus's and silu's first-order backwards are one kernel each (softplus_backward_fused,
silu_backward_fused, kernels/cpu/activation_backward.cpp), softplus's also under logsigmoid
(-softplus(-x)): contiguous runs, and runs of mixed layouts gathered into blocks, against
float64 NumPy."""
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


def dsilu(x):
    s = 1.0 / (1.0 + np.exp(-x))
    return s * (x * (1.0 - s) + 1.0)  # PyTorch's formula (NaN at +-inf, as PyTorch's)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
def test_silu_gradient(dtype, layout):
    rng = np.random.default_rng(53)
    base = rng.uniform(-12, 12, (40, 1100)).astype(dtype)
    base[0, :6] = [np.inf, -np.inf, np.nan, 0.0, -0.0, 100.0]
    leaf = ts.tensor(base, requires_grad=True)
    x, xn = {"contiguous": (leaf, base), "transposed": (leaf.t(), base.T),
             "sliced": (leaf[:, ::3], base[:, ::3])}[layout]
    g = rng.standard_normal(xn.shape).astype(dtype)
    F.silu(x).backward(ts.tensor(g))
    expect = np.zeros(base.shape)
    view = {"contiguous": expect, "transposed": expect.T, "sliced": expect[:, ::3]}[layout]
    with np.errstate(invalid="ignore", over="ignore"):
        view += g.astype(np.float64) * dsilu(xn.astype(np.float64))
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(leaf.grad.numpy(), expect, rtol=tol, atol=tol, equal_nan=True)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_silu_fused_gradient_has_the_rules_bits(layout):
    # The kernel computes the rule's formula in the rule's order on the same vector sigmoid:
    # first order (the kernel) and create_graph (the ops) give the same bits.
    rng = np.random.default_rng(54)
    base = rng.uniform(-20, 20, (333, 70)).astype(np.float32)
    leaf = ts.tensor(base, requires_grad=True)
    x = leaf if layout == "contiguous" else leaf.t().contiguous().t()
    g = ts.tensor(rng.standard_normal(x.shape).astype(np.float32))
    (ops,) = ts.autograd.grad(F.silu(x), leaf, g, create_graph=True)
    (kernel,) = ts.autograd.grad(F.silu(x), leaf, g)
    assert np.array_equal(kernel.numpy().view(np.uint32), ops.detach().numpy().view(np.uint32))
