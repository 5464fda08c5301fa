"""logsumexp of real inputs has one derivative rule, g exp(x - y) (src/autograd/
rules_reduce.cpp), instead of the gradients of its eight forward ops; the
finite differences of the gradient itself are in test_gradcheck.py."""
import numpy as np
import pytest

import tessel as ts


@pytest.mark.parametrize("dims,keepdim", [(1, False), ((0, 2), True), ((), False), (-1, True)])
def test_gradient_is_the_softmax_over_the_reduced_dims(dims, keepdim):
    x = np.random.default_rng(41).standard_normal((3, 4, 5))
    t = ts.tensor(x, requires_grad=True)
    y = ts.logsumexp(t, dims, keepdim=keepdim) if dims != () else ts.logsumexp(t, tuple(range(3)))
    g = np.random.default_rng(42).standard_normal(y.shape)
    y.backward(ts.tensor(g))
    axes = tuple(range(3)) if dims == () else (dims if isinstance(dims, tuple) else (dims,))
    lse = np.log(np.exp(x).sum(axis=axes, keepdims=True))
    gk = g.reshape(lse.shape)
    np.testing.assert_allclose(t.grad.numpy(), gk * np.exp(x - lse), rtol=1e-12)


def test_minus_infinity_entries_get_no_gradient():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]])
    t = ts.tensor(x, requires_grad=True)
    ts.logsumexp(t, 1).sum().backward()
    e = np.exp(x - np.log(np.exp(x).sum(1, keepdims=True)))
    np.testing.assert_allclose(t.grad.numpy(), e, rtol=1e-12)
    assert t.grad.numpy()[0, 1] == 0 and t.grad.numpy()[1, 1] == 1


def test_float32_and_integer_inputs():
    t = ts.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    ts.logsumexp(t, 1).sum().backward()
    assert t.grad.dtype == ts.float32
    np.testing.assert_allclose(t.grad.numpy().sum(1), [1, 1], rtol=1e-6)
    i = ts.logsumexp(ts.tensor([[1, 2], [3, 4]]), 1)  # integers compute in the default float dtype
    np.testing.assert_allclose(i.numpy(), np.log(np.exp([[1, 2], [3, 4]]).sum(1)), rtol=1e-6)
