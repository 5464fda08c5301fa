"""The backwards of gather and index_select/embedding through the "index_add_rows" kernel
(a scatter-add by rows, no atomics): against NumPy float64 (np.add.at), finite differences,
the op-by-op scatter_add path, and across thread counts."""
import numpy as np
import pytest

import tessel as ts
import tessel.nn.functional as F
from tessel.autograd import gradcheck


def gather_grad_ref(shape, dim, idx, g):
    out = np.zeros(shape, np.float64)
    pos = list(np.indices(idx.shape))
    pos[dim] = idx
    np.add.at(out, tuple(pos), np.asarray(g, np.float64))
    return out


def index_select_grad_ref(shape, dim, idx, g):
    out = np.zeros(shape, np.float64)
    sl = [slice(None)] * len(shape)
    sl[dim] = idx
    np.add.at(out, tuple(sl), np.asarray(g, np.float64))
    return out


def close(got, want, tol):
    np.testing.assert_allclose(got.numpy().astype(np.float64), want, rtol=tol,
                               atol=tol * max(1.0, float(np.abs(want).max())))


DTYPES = [(ts.float64, np.float64, 1e-12), (ts.float32, np.float32, 2e-6)]


@pytest.mark.parametrize("dtype,npd,tol", DTYPES)
@pytest.mark.parametrize("shape,dim", [((7,), 0), ((5, 9), 0), ((5, 9), 1), ((5, 9), -1), ((3, 4, 6), 1),
                                       ((2, 3, 700), 2), ((600, 3), 0), ((1, 1), 0)])
def test_gather_backward_matches_float64(dtype, npd, tol, shape, dim):
    rng = np.random.default_rng(len(shape) * 10 + dim)
    xn = rng.standard_normal(shape).astype(npd)
    d = dim % len(shape)
    ishape = list(shape)
    ishape[d] = max(1, shape[d] + 2)  # longer than the input along dim: repeats
    idx = rng.integers(0, shape[d], size=ishape)
    gn = rng.standard_normal(ishape).astype(npd)
    x = ts.tensor(xn).requires_grad_()
    y = ts.gather(x, dim, ts.tensor(idx))
    y.backward(ts.tensor(gn))
    close(x.grad, gather_grad_ref(shape, d, idx, gn), tol)


@pytest.mark.parametrize("dtype,npd,tol", DTYPES)
@pytest.mark.parametrize("shape,dim,k", [((6,), 0, 10), ((8, 5), 0, 13), ((8, 5), 1, 3), ((3, 4, 5), 1, 9),
                                         ((3, 4, 5), 2, 7), ((300, 64), 0, 150), ((4, 2), 0, 0)])
def test_index_select_backward_matches_float64(dtype, npd, tol, shape, dim, k):
    rng = np.random.default_rng(k + dim)
    xn = rng.standard_normal(shape).astype(npd)
    idx = rng.integers(0, shape[dim], size=k)
    oshape = list(shape)
    oshape[dim] = k
    gn = rng.standard_normal(oshape).astype(npd)
    x = ts.tensor(xn).requires_grad_()
    ts.index_select(x, dim, ts.tensor(idx)).backward(ts.tensor(gn))
    close(x.grad, index_select_grad_ref(shape, dim, idx, gn), tol)


def test_embedding_backward_matches_float64_and_keeps_padding_row_at_zero():
    rng = np.random.default_rng(3)
    wn = rng.standard_normal((50, 16)).astype(np.float32)
    idx = rng.integers(0, 50, size=(7, 11))
    idx[0, 0] = 4
    gn = rng.standard_normal((7, 11, 16)).astype(np.float32)
    w = ts.tensor(wn).requires_grad_()
    F.embedding(ts.tensor(idx), w).backward(ts.tensor(gn))
    close(w.grad, index_select_grad_ref((50, 16), 0, idx.reshape(-1), gn.reshape(-1, 16)), 2e-6)
    w2 = ts.tensor(wn).requires_grad_()
    F.embedding(ts.tensor(idx), w2, padding_idx=4).backward(ts.tensor(gn))
    want = index_select_grad_ref((50, 16), 0, idx.reshape(-1), gn.reshape(-1, 16))
    want[4] = 0
    close(w2.grad, want, 2e-6)


def test_non_contiguous_input_grad_and_int32_index():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((9, 6))
    x = ts.tensor(base).requires_grad_()
    xt = x.t()  # [6, 9], transposed strides
    idx = rng.integers(0, 9, size=(6, 12)).astype(np.int32)
    y = ts.gather(xt, 1, ts.tensor(idx))
    gn = rng.standard_normal((12, 6))
    y.backward(ts.tensor(gn).t())  # a transposed incoming gradient
    want = gather_grad_ref((6, 9), 1, idx.astype(np.int64), gn.T)
    close(x.grad.t(), want, 1e-12)
    x2 = ts.tensor(base).requires_grad_()
    sel = rng.integers(0, 6, size=8).astype(np.int32)
    ts.index_select(x2.t(), 0, ts.tensor(sel)).backward(ts.tensor(rng.standard_normal((9, 8))).t())
    assert x2.grad.shape == (9, 6)


def test_matches_the_op_by_op_scatter_add_bitwise():
    # Same summation order (k order per element) as the serial put_offsets_add path.
    rng = np.random.default_rng(8)
    xn = rng.standard_normal((40, 300)).astype(np.float32)
    idx = rng.integers(0, 300, size=(40, 300))
    gn = rng.standard_normal((40, 300)).astype(np.float32)
    x = ts.tensor(xn).requires_grad_()
    ts.gather(x, 1, ts.tensor(idx)).backward(ts.tensor(gn))
    ref = ts.scatter_add(ts.zeros(40, 300), 1, ts.tensor(idx), ts.tensor(gn))
    assert np.array_equal(x.grad.numpy(), ref.numpy())


def test_narrower_gather_index_and_create_graph_keep_the_op_path():
    rng = np.random.default_rng(9)
    xn = rng.standard_normal((5, 7))
    idx = rng.integers(0, 7, size=(3, 4))  # narrower than x in dim 0: op path
    gn = rng.standard_normal((3, 4))
    x = ts.tensor(xn).requires_grad_()
    ts.gather(x, 1, ts.tensor(idx)).backward(ts.tensor(gn))
    close(x.grad, gather_grad_ref((5, 7), 1, idx, gn), 1e-12)
    x = ts.tensor(xn).requires_grad_()
    w = ts.tensor(rng.standard_normal((5, 7))).requires_grad_()
    y = ts.gather(x * w, 1, ts.tensor(rng.integers(0, 7, size=(5, 7))))
    (gx,) = ts.autograd.grad(y.sum(), [x], create_graph=True)
    (gw,) = ts.autograd.grad(gx.sum(), [w])
    assert gw.shape == (5, 7)


def test_gradcheck():
    rng = np.random.default_rng(10)
    x = ts.tensor(rng.standard_normal((4, 6))).requires_grad_()
    gi = ts.tensor(rng.integers(0, 6, size=(4, 9)))
    si = ts.tensor(rng.integers(0, 4, size=7))
    assert gradcheck(lambda a: ts.gather(a, 1, gi), (x,))
    assert gradcheck(lambda a: ts.index_select(a, 0, si), (x,))
    assert gradcheck(lambda a: ts.index_select(a, 1, gi[0]), (x,))


@pytest.mark.parametrize("case", ["gather_rows", "gather_cols", "select_rows", "select_mid"])
def test_result_does_not_depend_on_the_thread_count(case):
    rng = np.random.default_rng(12)
    outs = []
    for n in (1, 2, 3):
        ts.set_num_threads(n)
        if case == "gather_rows":  # many slabs
            x = ts.tensor(rng.standard_normal((512, 256)).astype(np.float32)).requires_grad_()
            i = ts.tensor(np.random.default_rng(1).integers(0, 256, size=(512, 256)))
            g = np.random.default_rng(2).standard_normal((512, 256)).astype(np.float32)
            ts.gather(x, 1, i).backward(ts.tensor(g))
        elif case == "gather_cols":  # one slab, column blocks
            x = ts.tensor(rng.standard_normal((300, 1000)).astype(np.float32)).requires_grad_()
            i = ts.tensor(np.random.default_rng(1).integers(0, 300, size=(300, 1000)))
            g = np.random.default_rng(2).standard_normal((300, 1000)).astype(np.float32)
            ts.gather(x, 0, i).backward(ts.tensor(g))
        elif case == "select_rows":  # embedding-like: row ranges
            x = ts.tensor(rng.standard_normal((4000, 64)).astype(np.float32)).requires_grad_()
            i = ts.tensor(np.random.default_rng(1).integers(0, 40, size=20000))  # many repeats
            g = np.random.default_rng(2).standard_normal((20000, 64)).astype(np.float32)
            ts.index_select(x, 0, i).backward(ts.tensor(g))
        else:
            x = ts.tensor(rng.standard_normal((3, 2000, 40)).astype(np.float32)).requires_grad_()
            i = ts.tensor(np.random.default_rng(1).integers(0, 2000, size=3000))
            g = np.random.default_rng(2).standard_normal((3, 3000, 40)).astype(np.float32)
            ts.index_select(x, 1, i).backward(ts.tensor(g))
        outs.append(x.grad.numpy())
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])
    assert np.abs(outs[0]).sum() > 0


@pytest.mark.parametrize("shape,dim", [((7,), 0), ((5, 9), 0), ((5, 9), -1), ((3, 4, 6), 1), ((2, 3, 700), 2)])
@pytest.mark.parametrize("npd", [np.float32, np.float64, np.int64, np.bool_])
def test_gather_forward_matches_numpy(shape, dim, npd):
    rng = np.random.default_rng(len(shape) + dim)
    xn = (rng.standard_normal(shape) * 10).astype(npd)
    d = dim % len(shape)
    ishape = list(shape)
    ishape[d] = shape[d] + 3
    idx = rng.integers(0, shape[d], size=ishape)
    got = ts.gather(ts.tensor(xn), dim, ts.tensor(idx)).numpy()
    assert np.array_equal(got, np.take_along_axis(xn, idx, d))
    # a transposed (non-contiguous) input takes the offset path: same values
    xv = ts.tensor(np.ascontiguousarray(np.swapaxes(xn, 0, -1))).transpose(0, -1)
    assert len(shape) == 1 or not xv.is_contiguous()
    assert np.array_equal(ts.gather(xv, dim, ts.tensor(idx)).numpy(), np.take_along_axis(xn, idx, d))


@pytest.mark.parametrize("bad", [9, -1, 1 << 40])
def test_gather_out_of_range_index_raises_naming_the_op(bad):
    idx = np.zeros((3, 4), np.int64)
    idx[2, 1] = bad
    with pytest.raises(IndexError, match=rf"gather.*{bad}.*out of bounds"):
        ts.gather(ts.randn(3, 9), 1, ts.tensor(idx))
