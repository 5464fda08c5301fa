"""sort and rms_norm of inputs broadcast over their leading dims compute the
distinct block once and copy it over the rest (src/ops/broadcast_block.h): the
results must equal those of the same values laid out contiguously."""
import numpy as np
import pytest

import tessel as ts

F = ts.nn.functional
rng = np.random.default_rng(31)


def layouts(row, shape):
    """(description, the broadcast view) of a block expanded to `shape`."""
    t = ts.tensor(row)
    return t.expand(*shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("block,shape", [((1, 50), (7, 50)), ((1, 300), (5, 300)), ((1, 3, 20), (4, 3, 20)),
                                         ((1, 1, 9), (2, 3, 9)), ((20,), (6, 20))])
def test_sort_of_a_broadcast_block(dtype, descending, block, shape):
    row = (rng.standard_normal(block) * 10).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        row.reshape(-1)[::7] = np.nan
        row.reshape(-1)[1::11] = row.reshape(-1)[0]  # ties keep index order
    x = layouts(row, shape)
    v, i = ts.sort(x, dim=-1, descending=descending)
    dense = ts.tensor(np.ascontiguousarray(np.broadcast_to(row, shape)))
    v2, i2 = ts.sort(dense, dim=-1, descending=descending)
    np.testing.assert_array_equal(v.numpy(), v2.numpy())
    np.testing.assert_array_equal(i.numpy(), i2.numpy())
    assert v.is_contiguous() and i.is_contiguous()


def test_sort_along_a_broadcast_dim_takes_the_plain_kernel():
    row = rng.standard_normal((1, 8)).astype(np.float32)
    x = ts.tensor(row).expand(5, 8)
    v, i = ts.sort(x, dim=0)
    np.testing.assert_array_equal(v.numpy(), np.broadcast_to(row, (5, 8)))
    np.testing.assert_array_equal(i.numpy(), np.broadcast_to(np.arange(5)[:, None], (5, 8)))


def test_sort_gradient_of_a_broadcast_input():
    row = rng.standard_normal((1, 6))
    leaf = ts.tensor(row, requires_grad=True)
    v, _ = ts.sort(leaf.expand(4, 6), dim=-1)
    g = rng.standard_normal((4, 6))
    v.backward(ts.tensor(g))
    order = np.argsort(row[0], kind="stable")
    expect = np.zeros(6)
    for r in range(4):
        expect[order] += g[r]
    np.testing.assert_allclose(leaf.grad.numpy()[0], expect, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block,shape,k", [((1, 64), (9, 64), 1), ((1, 3, 16), (5, 3, 16), 1),
                                           ((1, 4, 8), (3, 4, 8), 2), ((1, 1, 7), (2, 6, 7), 1)])
@pytest.mark.parametrize("weighted", [False, True])
def test_rms_norm_of_a_broadcast_block(dtype, block, shape, k, weighted):
    row = rng.standard_normal(block).astype(dtype)
    norm = shape[-k:]
    w = ts.tensor(rng.standard_normal(norm).astype(dtype)) if weighted else None
    got = F.rms_norm(ts.tensor(row).expand(*shape), norm, w, eps=1e-6)
    dense = F.rms_norm(ts.tensor(np.ascontiguousarray(np.broadcast_to(row, shape))), norm, w, eps=1e-6)
    np.testing.assert_array_equal(got.numpy(), dense.numpy())
    x64 = np.broadcast_to(row, shape).astype(np.float64)
    axes = tuple(range(len(shape) - k, len(shape)))
    ref = x64 / np.sqrt((x64 * x64).mean(axis=axes, keepdims=True) + 1e-6) * (w.numpy() if weighted else 1.0)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_rms_norm_over_the_broadcast_dims_reads_every_row():
    # normalized over all dims: the block is not whole rows of the normalization
    row = rng.standard_normal((1, 5)).astype(np.float32)
    got = F.rms_norm(ts.tensor(row).expand(3, 5), (3, 5), eps=1e-6)
    x = np.broadcast_to(row, (3, 5)).astype(np.float64)
    np.testing.assert_allclose(got.numpy(), x / np.sqrt((x * x).mean() + 1e-6), rtol=1e-5)


def test_rms_norm_of_a_broadcast_input_with_grad_keeps_its_gradient():
    row = rng.standard_normal((1, 10))
    leaf = ts.tensor(row, requires_grad=True)
    F.rms_norm(leaf.expand(4, 10), (10,), eps=1e-6).sum().backward()
    x = row[0]
    r = 1 / np.sqrt((x * x).mean() + 1e-6)
    g1 = r * np.ones(10) - x * r ** 3 * x.sum() / 10  # d/dx of sum(x * r) for one row
    np.testing.assert_allclose(leaf.grad.numpy()[0], 4 * g1, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frac_by_name_on_a_broadcast_block(dtype):
    # ts.frac calls its kernel by name (_C._call_plain); a broadcast input runs on its block.
    row = (rng.standard_normal((1, 3, 17)) * 5).astype(dtype)
    x = ts.tensor(row).expand(4, 3, 17)
    got = ts.frac(x)
    np.testing.assert_array_equal(got.numpy(), np.broadcast_to(row - np.trunc(row), (4, 3, 17)))
    assert got.shape == (4, 3, 17) and got.is_contiguous()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("a_shape,b_shape", [((390, 129, 2), (129, 1)), ((5, 7, 3), (7, 1)), ((4, 6, 2, 3), (6, 2, 1)),
                                             ((3, 1, 8, 4), (8, 1)), ((2, 9, 2), (1, 9, 1)), ((6, 2), (6, 1)),
                                             ((3, 3, 4, 2), (3, 1, 4, 1))])  # broadcast in the middle (kron)
def test_binary_ops_with_an_operand_broadcast_along_a_short_last_dim(dtype, a_shape, b_shape):
    # The operand broadcast along the short last dim is materialized over its trailing
    # dims first (src/ops/elementwise.cpp); results and gradients must not change.
    a = (rng.standard_normal(a_shape) * 5).astype(dtype)
    b = (rng.standard_normal(b_shape) * 5 + 20).astype(dtype)
    ta, tb = ts.tensor(a), ts.tensor(b)
    for op, ref in [(lambda x, y: x + y, np.add), (lambda x, y: x * y, np.multiply), (lambda x, y: y - x, None),
                    (lambda x, y: x < y, np.less)]:
        want = ref(a, b) if ref is not None else b - a
        assert np.array_equal(op(ta, tb).numpy(), want)
    assert np.array_equal(ts.where(ta > 0, ta, tb).numpy(), np.where(a > 0, a, b))
    assert np.array_equal(ts.where(tb > 20, tb, ta).numpy(), np.where(b > 20, b, a))
    if dtype != np.int64:
        np.testing.assert_allclose(ts.lerp(ta, tb, 0.25).numpy(), a + 0.25 * (b - a), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ts.lerp(tb, ta, tb / 40).numpy(), b + b / 40 * (a - b), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose((ta / tb).numpy(), a / b, rtol=1e-6)
        t = ts.tensor(a.copy())
        t /= tb  # in place, the broadcast operand second
        np.testing.assert_allclose(t.numpy(), a / b, rtol=1e-6)
        ga, gb = ts.tensor(a, requires_grad=True), ts.tensor(b, requires_grad=True)
        (ga * gb).sum().backward()
        np.testing.assert_allclose(ga.grad.numpy(), np.broadcast_to(b, a_shape), rtol=1e-6)
        g = a * np.ones(np.broadcast_shapes(a_shape, b_shape))  # d(sum a * b)/db, summed back to b's shape
        while g.ndim > len(b_shape):
            g = g.sum(0)
        g = g.sum(tuple(i for i, s in enumerate(b_shape) if s == 1), keepdims=True)
        atol = 1e-3 if dtype == np.float32 else 1e-9  # float32 sums of up to 780 terms of size ~5
        np.testing.assert_allclose(gb.grad.numpy(), g, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("block,shape", [((1, 4000), (700, 4000)), ((1, 3), (50001, 3)), ((1, 2, 333), (97, 2, 333))])
def test_copies_of_the_block_over_the_threads(threads, block, shape):
    # the first block's copies are split over the threads in chunks; every repeat is the block
    row = rng.standard_normal(block).astype(np.float32)
    before = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        got = ts.neg(ts.tensor(row).expand(*shape)).numpy()
        got_bf = ts.exp(ts.tensor(row).to(ts.bfloat16).expand(*shape)).to(ts.float32).numpy()
    finally:
        ts.set_num_threads(before)
    np.testing.assert_array_equal(got, np.broadcast_to(-row, shape))
    want_bf = ts.exp(ts.tensor(row).to(ts.bfloat16)).to(ts.float32).numpy()
    np.testing.assert_array_equal(got_bf, np.broadcast_to(want_bf, shape))
