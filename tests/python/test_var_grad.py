"""var (and std, its square root) of real inputs has one derivative rule,
g * 2 / (N - correction) * (x - mean) (src/autograd/rules_reduce.cpp), instead
of the gradients of mean, sub, square and sum. Checked against the closed form
in float64, and its second derivative against finite differences of the gradient
(under create_graph the rule takes the mean again from x)."""
import numpy as np
import pytest

import tessel as ts


@pytest.mark.parametrize("dims,correction,keepdim", [((1,), 1, False), ((0, 2), 0, True), ((), 1, False),
                                                     ((-1,), 2, True)])
def test_gradient_is_the_closed_form(dims, correction, keepdim):
    x = np.random.default_rng(51).standard_normal((3, 4, 5))
    t = ts.tensor(x, requires_grad=True)
    axes = tuple(range(3)) if dims == () else tuple(d % 3 for d in dims)
    y = ts.var(t, list(axes), correction=correction, keepdim=keepdim)
    want = x.var(axis=axes, ddof=correction, keepdims=keepdim)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
    g = np.random.default_rng(52).standard_normal(want.shape)
    y.backward(ts.tensor(g))
    n = np.prod([x.shape[a] for a in axes]) - correction
    gk = g.reshape(x.mean(axis=axes, keepdims=True).shape)
    np.testing.assert_allclose(t.grad.numpy(), gk * 2 / n * (x - x.mean(axis=axes, keepdims=True)), rtol=1e-12)


@pytest.mark.parametrize("fn", ["var", "std"])
def test_second_derivative_matches_finite_differences(fn):
    rng = np.random.default_rng(53)
    x, v = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    w = np.arange(1, 6, dtype=np.float64)

    def grad_at(z, create_graph=False):
        t = ts.tensor(z, requires_grad=True)
        y = (getattr(ts, fn)(t, [1]) * ts.tensor(w)).sum()
        (g,) = ts.autograd.grad(y, t, create_graph=create_graph)
        return t, g

    t, g = grad_at(x, create_graph=True)
    (hv,) = ts.autograd.grad((g * ts.tensor(v)).sum(), t)
    e = 1e-6
    fd = (grad_at(x + e * v)[1].numpy() - grad_at(x - e * v)[1].numpy()) / (2 * e)
    np.testing.assert_allclose(hv.numpy(), fd, rtol=1e-6, atol=1e-8)


def test_float32_transposed_and_std():
    x = np.random.default_rng(54).standard_normal((6, 9)).astype(np.float32)
    t = ts.tensor(x.T.copy(), requires_grad=True)
    ts.std(t.t(), [0]).sum().backward()  # over dim 0 of a transposed view
    x64 = x.astype(np.float64)
    m, s = x64.mean(0, keepdims=True), x64.std(0, ddof=1, keepdims=True)
    assert t.grad.dtype == ts.float32
    np.testing.assert_allclose(t.grad.numpy().T, (x64 - m) / (s * (x.shape[0] - 1)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("call,axes,ddof,keep", [
    (lambda f, t: f(t), None, 1, False),
    (lambda f, t: f(t, 0), 0, 1, False),
    (lambda f, t: f(t, -1, keepdim=True), -1, 1, True),
    (lambda f, t: f(t, 1, False), 1, 0, False),  # PyTorch's unbiased, positional
    (lambda f, t: f(t, 2, correction=2), 2, 2, False),
    (lambda f, t: f(t, False), None, 0, False),  # PyTorch's std(x, unbiased)
    (lambda f, t: f(t, axis=(0, 2), keepdims=True), (0, 2), 1, True),
    (lambda f, t: f(t, dim=[1, -1], correction=0), (1, 2), 0, False),
])
def test_python_forms_match_numpy(fn, call, axes, ddof, keep):
    """The Python wrapper's forms (an int dim takes a shortcut to the C++ op, the
    others the general path) agree with NumPy in float64."""
    x = np.random.default_rng(54).standard_normal((3, 4, 5))
    got = call(getattr(ts, fn), ts.tensor(x)).numpy()
    want = getattr(np, fn)(x, axis=axes, ddof=ddof, keepdims=keep)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(IndexError, match=fn):
        getattr(ts, fn)(ts.tensor(x), 3)
