"""float32 products up to 128^3 multiply-adds go through oneDNN's sgemm call
(kernels/cpu/matmul.cpp, small_sgemm): every layout it takes (row-major,
transposed, leading dims wider than the rows, a batch broadcast with stride 0)
and the ones it leaves to the primitive, against NumPy in float64."""
import numpy as np
import pytest

import tessel as ts

rng = np.random.default_rng(21)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def check(got, a, b):
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-5 * np.sqrt(a.shape[-1]))


@pytest.mark.parametrize("m,k,n", [(5, 7, 3), (32, 32, 32), (128, 128, 128), (1, 300, 9), (200, 3, 40), (129, 128, 128)])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_layouts(m, k, n, ta, tb):
    a = f32(k, m).T if ta else f32(m, k)
    b = f32(n, k).T if tb else f32(k, n)
    xa = ts.tensor(np.ascontiguousarray(a.T)).mT if ta else ts.tensor(a)
    xb = ts.tensor(np.ascontiguousarray(b.T)).mT if tb else ts.tensor(b)
    check(ts.matmul(xa, xb), a, b)


def test_wider_leading_dim_and_column_slices():
    big_a, big_b = f32(20, 50), f32(50, 30)
    a, b = big_a[:, 3:40], big_b[3:40, ::2]  # b's columns 2 apart: the primitive's layout
    check(ts.tensor(big_a)[:, 3:40] @ ts.tensor(big_b)[3:40, ::2], a, b)
    check(ts.tensor(big_a)[:, 3:40] @ ts.tensor(big_b)[3:40, 5:25], a, big_b[3:40, 5:25])


def test_batches_and_a_broadcast_weight():
    a, b = f32(4, 6, 8), f32(8, 5)
    check(ts.tensor(a) @ ts.tensor(b), a, b)  # b broadcast over the batch
    a2, b2 = f32(3, 1, 7, 4), f32(2, 4, 6)
    check(ts.tensor(a2) @ ts.tensor(b2), a2, b2)


def test_gradients_of_a_small_product():
    a, b = f32(9, 12), f32(12, 7)
    ta, tb = ts.tensor(a, requires_grad=True), ts.tensor(b, requires_grad=True)
    g = f32(9, 7)
    (ta @ tb).backward(ts.tensor(g))
    np.testing.assert_allclose(ta.grad.numpy(), g.astype(np.float64) @ b.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tb.grad.numpy(), a.T.astype(np.float64) @ g, rtol=1e-5, atol=1e-5)


def test_empty_inner_dimension():
    out = ts.matmul(ts.zeros(3, 0), ts.zeros(0, 4))
    assert out.shape == (3, 4) and np.all(out.numpy() == 0)
