"""float32 and bfloat16 matmuls of 1 to 4 rows (kernels/cpu/gemv.cpp): one row against a
row-major weight, 1-4 rows against a transposed view (a Linear weight), batched
and broadcast weights, sizes that are not multiples of the 16-column pieces or
of the four-row steps, 1 and 2 threads; every case against the float64 product.
Operands it does not take (5 rows, strided rows) go through oneDNN: same result.
float32 products of 2-4 rows within small_sgemm's sizes (M N K <= 128^3) go to
oneDNN's sgemm first (kernels/cpu/matmul.cpp, dnnl_matmul and the linear's bias);
(600, 1800) keeps 2-4 rows on the gemv."""
import numpy as np
import pytest

import tessel as ts

RNG = np.random.default_rng(11)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def check(a, b, got):
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == want.shape
    # float32 sums of k products of standard normals: errors grow like sqrt(k) eps times the
    # sums themselves (~sqrt(k)); oneDNN's primitive on 2 threads reached 5.4e-5 at k = 600
    # and 7.8e-5 at k = 1024.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=4e-6 * np.sqrt(a.shape[-1]))


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("k,n", [(16, 16), (17, 33), (130, 1000), (1027, 70), (64, 9000), (600, 1800)])
@pytest.mark.parametrize("threads", [1, 2])
def test_rows_against_row_major_and_transposed_weights(m, k, n, threads):
    a = f32(m, k)
    w = f32(k, n)
    wt = f32(n, k)  # a Linear layer's weight, used as wt.T
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        check(a, w, ts.matmul(ts.tensor(a), ts.tensor(w)).numpy())
        check(a, wt.T, ts.matmul(ts.tensor(a), ts.tensor(wt).T).numpy())
        check(a, wt.T, ts.nn.functional.linear(ts.tensor(a), ts.tensor(wt)).numpy())
        bias = f32(n)
        got = ts.nn.functional.linear(ts.tensor(a), ts.tensor(wt), ts.tensor(bias)).numpy() - bias
        np.testing.assert_allclose(got, a.astype(np.float64) @ wt.T.astype(np.float64), rtol=1e-5,
                                   atol=4e-6 * np.sqrt(k) + 1e-6 * np.abs(bias).max())
    finally:
        ts.set_num_threads(old)


@pytest.mark.parametrize("transposed", [False, True])
def test_batched_and_broadcast_weights(transposed):
    a = f32(3, 1, 200)
    w = f32(3, 200, 48) if not transposed else np.swapaxes(f32(3, 48, 200), 1, 2)
    tw = ts.tensor(w) if not transposed else ts.tensor(np.ascontiguousarray(np.swapaxes(w, 1, 2))).transpose(1, 2)
    check(a, w, ts.matmul(ts.tensor(a), tw).numpy())
    shared = f32(200, 48)
    check(a, np.broadcast_to(shared, (3, 200, 48)), ts.matmul(ts.tensor(a), ts.tensor(shared)).numpy())
    a4 = f32(2, 4, 200)
    check(a4, np.broadcast_to(shared, (2, 200, 48)), ts.matmul(ts.tensor(a4), ts.tensor(shared)).numpy())


def test_strided_rows_and_views_of_larger_buffers():
    big = f32(4, 600)
    a = ts.tensor(big)[:, ::2]  # rows with stride 2 along K: not this path
    w = f32(300, 40)
    check(big[:, ::2], w, ts.matmul(a, ts.tensor(w)).numpy())
    wfull = f32(300, 100)
    view = ts.tensor(wfull)[:, 10:50]  # rows 100 floats apart, 40 used
    check(big[:1, :300], wfull[:, 10:50], ts.matmul(ts.tensor(big[:1, :300]), view).numpy())
    tfull = f32(64, 320)
    tview = ts.tensor(tfull)[:, :300].T  # a transposed view whose rows are 320 floats apart
    check(big[:2, :300], tfull[:, :300].T, ts.matmul(ts.tensor(big[:2, :300]), tview).numpy())


def test_special_values_propagate():
    a = f32(1, 64)
    w = f32(64, 32)
    a[0, 5] = np.nan
    w[7, 3] = np.inf
    got = ts.matmul(ts.tensor(a), ts.tensor(w)).numpy()
    assert np.isnan(got).all()  # the NaN times every column
    a[0, 5] = 1.0
    got = ts.matmul(ts.tensor(a), ts.tensor(w)).numpy()
    want = a.astype(np.float64) @ w.astype(np.float64)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))


def test_one_row_backward_matches_numpy():
    a = ts.tensor(f32(1, 300), requires_grad=True)
    w = ts.tensor(f32(70, 300), requires_grad=True)
    y = ts.nn.functional.linear(a, w)
    g = f32(1, 70)
    y.backward(ts.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), g.astype(np.float64) @ w.numpy().astype(np.float64), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), g.T.astype(np.float64) @ a.numpy().astype(np.float64), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("m", [1, 2, 4])
@pytest.mark.parametrize("k,n", [(16, 16), (31, 17), (32, 33), (33, 70), (1000, 37), (4099, 21)])
@pytest.mark.parametrize("threads", [1, 2])
def test_bfloat16_rows(m, k, n, threads):
    # bfloat16 rows against a Linear weight (AVX512-BF16's pair products where the CPU has them,
    # else widened to float lanes; k not a multiple of the 32-value steps) and a row-major
    # weight: the float64 product of the same bfloat16 values, rounded once to bfloat16
    a = ts.tensor(f32(m, k)).to(ts.bfloat16)
    wt = ts.tensor(f32(n, k)).to(ts.bfloat16)
    a64, wt64 = a.to(ts.float64).numpy(), wt.to(ts.float64).numpy()
    want = a64 @ wt64.T
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        for got in (ts.nn.functional.linear(a, wt), ts.matmul(a, wt.T), ts.matmul(a, wt.T.contiguous())):
            assert got.dtype == ts.bfloat16
            g = got.to(ts.float64).numpy()
            # one bfloat16 rounding of the result plus float32 sums of k products
            bound = 2.0 ** -8 * np.abs(want) + 1e-6 * k * (np.abs(a64) @ np.abs(wt64).T)
            assert np.all(np.abs(g - want) <= bound), np.max(np.abs(g - want) / (bound + 1e-30))
    finally:
        ts.set_num_threads(old)
