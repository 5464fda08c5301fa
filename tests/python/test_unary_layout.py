"""A unary op on a permuted dense tensor (a transpose) returns a tensor of the same
layout, as PyTorch does (src/ops/elementwise.cpp, empty_same_layout): the kernel
then runs over input and output in memory order. Values against NumPy float64;
views with gaps, broadcast views and 1-D inputs keep contiguous outputs. An input
broadcast over its leading dims is computed once over its distinct block, which is
then copied (src/ops/unary.cpp, on_broadcast_block): the same bits as the op on the
materialized input."""
import numpy as np
import pytest

import tessel as ts

rng = np.random.default_rng(7)


def strides_of(t):
    return tuple(t.stride())


@pytest.mark.parametrize("op,ref", [
    ("exp", np.exp), ("tanh", np.tanh), ("sqrt", lambda a: np.sqrt(np.abs(a))), ("neg", np.negative),
    ("sigmoid", lambda a: 1 / (1 + np.exp(-a))), ("abs", np.abs),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_input_gives_transposed_output(op, ref, dtype):
    a = rng.standard_normal((67, 129)).astype(dtype)
    src = np.abs(a) if op == "sqrt" else a
    x = ts.tensor(src).t()
    y = getattr(ts, op)(x)
    assert y.shape == x.shape and strides_of(y) == strides_of(x) and not y.is_contiguous()
    np.testing.assert_allclose(y.numpy(), ref(src.T.astype(np.float64)), rtol=2e-6 if dtype == np.float32 else 1e-12,
                               atol=1e-7)


def test_permuted_3d_and_size_one_dims():
    a = rng.standard_normal((5, 1, 7, 9)).astype(np.float32)
    x = ts.tensor(a).permute(3, 1, 0, 2)
    y = ts.exp(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), np.exp(a.transpose(3, 1, 0, 2).astype(np.float64)), rtol=2e-6)
    # same memory order as the input: the same element order when both are read by stride
    assert [s for s, n in zip(y.stride(), y.shape) if n > 1] == [s for s, n in zip(x.stride(), x.shape) if n > 1]


@pytest.mark.parametrize("make", [
    lambda t: t[:, ::2],                 # gaps
    lambda t: t[:1].expand(40, 30),      # broadcast
    lambda t: t.t()[::3],                # transposed with gaps
])
def test_views_that_are_not_dense_give_contiguous_outputs(make):
    base = ts.tensor(rng.standard_normal((40, 30)).astype(np.float32))
    x = make(base)
    y = ts.exp(x)
    assert y.is_contiguous()
    np.testing.assert_allclose(y.numpy(), np.exp(x.numpy().astype(np.float64)), rtol=2e-6)


def test_gradients_and_in_place_after_a_transposed_unary():
    a = rng.standard_normal((6, 4)).astype(np.float64)
    x = ts.tensor(a, requires_grad=True)
    y = ts.tanh(x.t())
    z = y * 2
    z.add_(1)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - np.tanh(a) ** 2), rtol=1e-12)
    w = ts.exp(ts.tensor(a).t())
    w.add_(1)  # the strided output is a tensor of its own, not a view
    np.testing.assert_allclose(w.numpy(), np.exp(a.T) + 1, rtol=1e-12)
    assert w.contiguous().is_contiguous() and w.reshape(-1).shape == (24,)


def test_binary_ops_keep_a_shared_layout():
    a = rng.standard_normal((33, 65)).astype(np.float32)
    b = rng.standard_normal((33, 65)).astype(np.float32)
    x, y = ts.tensor(a).t(), ts.tensor(b).t()
    for got, want in [(x * 2, a.T * 2), (3 - x, 3 - a.T), (x - ts.tanh(x), a.T - np.tanh(a.T.astype(np.float64))),
                      (x + y, a.T + b.T), (x < y, a.T < b.T)]:
        assert strides_of(got) == strides_of(x), got
        np.testing.assert_allclose(got.numpy(), want, rtol=2e-6, atol=1e-6)


def test_binary_ops_with_mixed_layouts_give_contiguous_outputs():
    a = rng.standard_normal((33, 65)).astype(np.float32)
    x, c = ts.tensor(a).t(), ts.tensor(np.ascontiguousarray(a.T))
    for got in [x + c, c + x]:
        assert got.is_contiguous()
    # a row broadcast down x's outer memory dim walks memory in x's order: x's layout
    assert strides_of(x * ts.tensor(a[:, :1].T.copy())) == strides_of(x)
    np.testing.assert_allclose((x + c).numpy(), 2 * a.T, rtol=1e-6)
    np.testing.assert_allclose((x * ts.tensor(a[:, :1].T.copy())).numpy(), a.T * a[:, :1].T, rtol=1e-6)


def test_binary_op_with_a_keepdim_reduction_keeps_the_layout():
    a = rng.standard_normal((40, 70)).astype(np.float64)
    x = ts.tensor(a).t()  # [70, 40], memory order: dim 1 outer
    m = ts.amax(x, 0, True)  # [1, 40]: broadcast along dim 0
    got = x - m
    assert strides_of(got) == strides_of(x)
    np.testing.assert_allclose(got.numpy(), a.T - a.T.max(0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(ts.logsumexp(x, 0).numpy(), np.log(np.exp(a.T).sum(0)), rtol=1e-12)
    np.testing.assert_allclose(ts.logsumexp(x, 1).numpy(), np.log(np.exp(a.T).sum(1)), rtol=1e-12)
    # a full operand in another dim order still gives a contiguous result
    c = ts.tensor(np.ascontiguousarray(a.T))
    assert (x - c).is_contiguous()


# (source shape, broadcast shape): leading stride-0 dims (the block path: one row, a
# scalar, a plane) and layouts it must leave alone (a stride-0 dim inside, a trailing one).
BROADCASTS = [((1, 1000), (64, 1000)), ((1,), (3, 5, 7)), ((1, 1, 6, 5), (4, 3, 6, 5)), ((1, 3), (2, 3)),
              ((20, 1, 30), (20, 17, 30)), ((300, 1), (300, 50)), ((1, 7, 1), (5, 7, 9))]


@pytest.mark.parametrize("src,shape", BROADCASTS)
@pytest.mark.parametrize("op", ["neg", "abs", "relu", "exp", "sigmoid", "tanh", "gelu", "lgamma", "frac", "isnan",
                                "nan_to_num", "sign", "round"])
def test_broadcast_input_gives_the_bits_of_the_materialized_input(src, shape, op):
    a = rng.standard_normal(src).astype(np.float32) * 3
    a.flat[0] = np.nan
    if a.size > 2:
        a.flat[1], a.flat[2] = np.inf, -np.inf
    x = ts.tensor(a).expand(*shape)
    assert not x.is_contiguous()
    fn = getattr(ts, op)
    got, want = fn(x), fn(x.contiguous())
    assert got.shape == tuple(shape) and got.dtype == want.dtype and got.is_contiguous()
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.complex64])
def test_broadcast_block_other_dtypes(dtype):
    a = (rng.standard_normal((1, 2, 33)) * 5).astype(dtype)
    if dtype == np.complex64:
        a = a + 1j * (rng.standard_normal((1, 2, 33)) * 5).astype(np.float32)
    x = ts.tensor(a).expand(9, 2, 33)
    for op, ref in [("neg", np.negative), ("abs", np.abs)]:
        got, want = getattr(ts, op)(x), getattr(ts, op)(x.contiguous())
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        np.testing.assert_allclose(got.numpy(), ref(np.broadcast_to(a, (9, 2, 33))), rtol=1e-6)


def test_gradient_through_a_broadcast_unary():
    a = rng.standard_normal((1, 5)).astype(np.float64)
    x = ts.tensor(a, requires_grad=True)
    y = ts.tanh(x.expand(4, 5))
    (y * ts.tensor(np.arange(20.0).reshape(4, 5))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (1 - np.tanh(a) ** 2) * np.arange(20.0).reshape(4, 5).sum(0),
                               rtol=1e-12)


def test_broadcast_output_is_its_own_storage():
    x = ts.tensor(np.arange(6, dtype=np.float32)).expand(3, 6)
    y = ts.neg(x)
    y[1, 2] = 100.0  # the copied blocks are independent elements
    assert y[0, 2].item() == -2.0 and y[2, 2].item() == -2.0 and y[1, 2].item() == 100.0


def test_clamp_and_relu6_of_a_broadcast_input():
    a = rng.standard_normal((1, 300)).astype(np.float32) * 8
    a[0, :3] = [np.nan, np.inf, -np.inf]
    x = ts.tensor(a).expand(50, 300)
    for got, want in [(ts.clamp(x, -1.0, 2.0), ts.clamp(x.contiguous(), -1.0, 2.0)),
                      (ts.clamp(x, min=0.5), ts.clamp(x.contiguous(), min=0.5)),
                      (ts.nn.functional.relu6(x), ts.nn.functional.relu6(x.contiguous()))]:
        assert got.is_contiguous()
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(ts.clamp(x, -1.0, 2.0).numpy(), np.broadcast_to(np.clip(a, -1, 2), (50, 300)))
