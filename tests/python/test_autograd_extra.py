"""Function.setup_context (forward without ctx), once_differentiable, and
Module full backward hooks; gradients checked against closed forms and
finite differences."""
import numpy as np
import pytest

import tessel as ts
from tessel import nn
from tessel.autograd.function import once_differentiable


def npy(t):
    return np.array(t.detach().tolist(), dtype=np.float64)


# ----- setup_context -----

class ScaledMul(ts.autograd.Function):
    @staticmethod
    def forward(x, y, scale=2.0):
        return x * y * scale

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, y, scale = inputs
        ctx.save_for_backward(x, y)
        ctx.scale = scale
        ctx.output_shape = output.shape

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        assert ctx.output_shape == grad.shape
        return grad * y * ctx.scale, grad * x * ctx.scale, None


class SplitHalves(ts.autograd.Function):
    """Two outputs; setup_context sees the output tuple."""

    @staticmethod
    def forward(x):
        return x[:2] * 3.0, x[2:] ** 2

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        assert isinstance(output, tuple) and len(output) == 2
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, g1, g2):
        (x,) = ctx.saved_tensors
        return ts.cat([g1 * 3.0, g2 * 2 * x[2:]])


def test_setup_context_style_gradients():
    rng = np.random.default_rng(0)
    x = ts.tensor(rng.standard_normal(4), requires_grad=True)
    y = ts.tensor(rng.standard_normal(4), requires_grad=True)
    out = ScaledMul.apply(x, y, scale=3.0)  # keyword argument bound to its position
    np.testing.assert_allclose(npy(out), npy(x) * npy(y) * 3.0)
    out.sum().backward()
    np.testing.assert_allclose(npy(x.grad), npy(y) * 3.0)
    np.testing.assert_allclose(npy(y.grad), npy(x) * 3.0)
    x.grad = y.grad = None
    ScaledMul.apply(x, y).sum().backward()  # the default scale
    np.testing.assert_allclose(npy(x.grad), npy(y) * 2.0)
    assert ts.autograd.gradcheck(lambda a, b: ScaledMul.apply(a, b, 0.5), (x, y))


def test_setup_context_with_several_outputs():
    x = ts.tensor([1.0, -2.0, 3.0, 0.5], dtype=ts.float64, requires_grad=True)
    a, b = SplitHalves.apply(x)
    (a.sum() + (b * ts.tensor([1.0, 10.0], dtype=ts.float64)).sum()).backward()
    np.testing.assert_allclose(npy(x.grad), [3.0, 3.0, 6.0, 10.0])
    assert ts.autograd.gradcheck(lambda t: SplitHalves.apply(t), (x,))


def test_setup_context_bad_arguments():
    x = ts.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="ScaledMul"):
        ScaledMul.apply(x)  # y missing
    with pytest.raises(TypeError, match="ScaledMul"):
        ScaledMul.apply(x, x, 1.0, unknown=1)


def test_ctx_style_still_works():
    class Cube(ts.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = ts.tensor([2.0, -1.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    assert npy(x.grad).tolist() == [12.0, 3.0]


# ----- once_differentiable -----

class Square(ts.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        # no graph is recorded here, even though x requires grad
        assert not ts.is_grad_enabled()
        return 2 * x * grad


def test_once_differentiable_first_backward():
    x = ts.tensor([1.5, -2.0], requires_grad=True)
    Square.apply(x).sum().backward()
    assert npy(x.grad).tolist() == [3.0, -4.0]
    assert Square.backward.__name__ == "backward"  # functools.wraps


def test_once_differentiable_second_backward_raises():
    x = ts.tensor([1.5, -2.0], requires_grad=True)
    v = ts.ones(2, requires_grad=True)
    (g,) = ts.autograd.grad(Square.apply(x), x, grad_outputs=v, create_graph=True)
    assert npy(g).tolist() == [3.0, -4.0]
    assert g.requires_grad
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()
    # without create_graph nothing is recorded
    (g,) = ts.autograd.grad(Square.apply(x).sum(), x)
    assert not g.requires_grad


# ----- Module full backward hooks -----

def test_full_backward_hook_sees_grad_input_and_grad_output():
    ts.manual_seed(0)
    lin = nn.Linear(3, 2).double()
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append((module, [npy(g) for g in grad_input], [npy(g) for g in grad_output]))

    lin.register_full_backward_hook(hook)
    x = ts.tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
    w = ts.tensor(np.random.default_rng(2).standard_normal((4, 2)))
    (lin(x) * w).sum().backward()
    assert len(seen) == 1 and seen[0][0] is lin
    _, grad_input, grad_output = seen[0]
    np.testing.assert_allclose(grad_output[0], npy(w))
    np.testing.assert_allclose(grad_input[0], npy(w) @ npy(lin.weight))
    np.testing.assert_allclose(npy(x.grad), grad_input[0])


def test_full_backward_hook_can_replace_grad_input():
    lin = nn.Linear(3, 2).double()
    x = ts.ones(2, 3, dtype=ts.float64, requires_grad=True)
    lin(x).sum().backward()
    plain = npy(x.grad)
    x.grad = None
    handle = lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 10,))
    lin(x).sum().backward()
    np.testing.assert_allclose(npy(x.grad), plain * 10)
    # the parameters' gradients are not grad_input: unchanged
    lin.weight.grad = None
    x.grad = None
    lin(x).sum().backward()
    np.testing.assert_allclose(npy(lin.weight.grad), np.full((2, 3), 2.0))
    handle.remove()
    x.grad = None
    lin(x).sum().backward()
    np.testing.assert_allclose(npy(x.grad), plain)


def test_full_backward_pre_hook_can_replace_grad_output():
    seq = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    x = ts.tensor(np.random.default_rng(3).standard_normal((5, 3)), requires_grad=True)
    seq(x).sum().backward()
    base_x, base_w = npy(x.grad), npy(seq[0].weight.grad)
    seq.zero_grad()
    x.grad = None
    calls = []
    seq[2].register_full_backward_pre_hook(lambda m, go: (calls.append(len(go)), (go[0] * 0.5,))[1])
    seq(x).sum().backward()
    assert calls == [1]
    # everything below the hooked layer gets half the gradient
    np.testing.assert_allclose(npy(x.grad), base_x * 0.5)
    np.testing.assert_allclose(npy(seq[0].weight.grad), base_w * 0.5)


def test_full_backward_hook_when_inputs_take_no_gradient():
    lin = nn.Linear(3, 2)
    seen = []
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
    lin(ts.ones(4, 3)).sum().backward()  # the data does not require grad; the weights do
    assert len(seen) == 1 and seen[0][0] == (None,) and tuple(seen[0][1]) == (4, 2)
    assert lin.weight.grad is not None


def test_full_backward_hook_order_prepend_and_non_tensor_args():
    class Scale(nn.Module):
        def forward(self, x, factor, y):
            return x * factor + y

    m = Scale()
    order = []
    m.register_full_backward_hook(lambda mod, gi, go: order.append("a"))
    m.register_full_backward_hook(lambda mod, gi, go: (order.append("b"), gi)[1], prepend=True)
    grads = []
    m.register_full_backward_hook(lambda mod, gi, go: grads.append(gi))
    x = ts.ones(2, requires_grad=True)
    y = ts.ones(2)
    m(x, 3.0, y).sum().backward()
    assert order == ["b", "a"]
    gi = grads[0]
    assert len(gi) == 3 and gi[1] is None and gi[2] is None and npy(gi[0]).tolist() == [3.0, 3.0]


def test_full_backward_hook_bad_return():
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    x = ts.ones(1, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid number of grad_input"):
        lin(x).sum().backward()


def test_no_hooks_run_without_grad_mode():
    lin = nn.Linear(2, 2)
    seen = []
    lin.register_full_backward_hook(lambda m, gi, go: seen.append(1))
    with ts.no_grad():
        out = lin(ts.ones(1, 2, requires_grad=True))
    assert not out.requires_grad and seen == []
