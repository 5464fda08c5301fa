"""var/std without autograd through the kernel "var_fused" (kernels/cpu/moments.cpp): two
passes in double over pieces joined by Chan's update, one rounding. Against NumPy float64,
for rows, columns (strips of 64, pieces of 512 rows), middle blocks and transposed inputs;
float16/bfloat16 as accurate as one rounding of the exact variance (the op-by-op form rounded
every step: a bfloat16 variance of values near 100 was 15% off); no result depends on the
thread count."""
import numpy as np
import pytest

import tessel as ts


CASES = [  # shape, dims: rows (one or many pieces), columns (ragged strips, many pieces), blocks
    ((37, 1000), (1,)), ((3, 70000), (-1,)), ((1, 100003), None), ((1300, 70), (0,)),
    ((5, 600, 9), (1,)), ((4, 6, 130), (0, 1)), ((2, 3, 4, 5), (1, 2)), ((20, 30), None),
]


@pytest.mark.parametrize("shape,dims", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matches_numpy_float64(shape, dims, dtype, threads):
    x = (np.random.default_rng(len(shape)).standard_normal(shape) * 2 + 50).astype(dtype)
    t = ts.from_numpy(x)
    for c in (0, 1):
        want = np.var(x.astype(np.float64), axis=dims, ddof=c)
        got = ts.var(t, dims, correction=c).numpy()
        np.testing.assert_allclose(got, want, rtol=2e-7 if dtype == "float32" else 1e-13)
        np.testing.assert_allclose(ts.std(t, dims, correction=c, keepdim=True).numpy(),
                                   np.sqrt(np.var(x.astype(np.float64), axis=dims, ddof=c, keepdims=True)),
                                   rtol=2e-7 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("shape,dims", CASES + [((30, 40, 50), (0, 2))])  # the last: not one block
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("grad", [False, True])
def test_reduced_floats_round_once(shape, dims, dtype, grad):
    # values near 100, spread 1: each rounding of the mean to bfloat16 moved it by up to 0.25
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32) + 100
    t = ts.from_numpy(x).to(getattr(ts, dtype))
    if grad:
        t.requires_grad_()
    exact = t.detach().to(ts.float64).numpy()
    for c in (0, 1):
        want = np.var(exact, axis=dims, ddof=c)
        for got, ref in ((ts.var(t, dims, correction=c), want), (ts.std(t, dims, correction=c), np.sqrt(want))):
            assert got.dtype == getattr(ts, dtype)
            rel = np.abs(got.detach().to(ts.float64).numpy() - ref) / ref
            assert rel.max() <= (2.0 ** -8 if dtype == "bfloat16" else 2.0 ** -11) * 1.01, rel.max()


def test_bits_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(3)
    for shape, dims in (((2, 300000), (1,)), ((3000, 100), (0,)), ((1, 2, 2000000), None)):
        t = ts.from_numpy(rng.standard_normal(shape).astype(np.float32))
        got = []
        for n in (1, 2):
            old = ts.get_num_threads()
            ts.set_num_threads(n)
            try:
                got.append(ts.var(t, dims).numpy())
            finally:
                ts.set_num_threads(old)
        np.testing.assert_array_equal(got[0], got[1])


def test_transposed_and_permuted_inputs_are_read_in_place(threads):
    a = np.random.default_rng(5).standard_normal((6, 70, 90)).astype(np.float32)
    t = ts.from_numpy(a)
    for perm, dims in (((2, 1, 0), (0,)), ((0, 2, 1), (1,)), ((1, 0, 2), (0, 1)), ((2, 0, 1), (2,))):
        np.testing.assert_allclose(ts.var(t.permute(*perm), dims).numpy(),
                                   np.var(a.astype(np.float64).transpose(perm), axis=dims, ddof=1), rtol=2e-7)


def test_edges():
    t = ts.tensor([[1.0, 2.0, 4.0], [3.0, np.nan, 1.0]])
    got = ts.var(t, 1).numpy()
    assert got[0] == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1)) and np.isnan(got[1])
    one = ts.var(ts.tensor([[5.0]]), 1).numpy()  # N - correction = 0, no spread: 0 / 0
    assert np.isnan(one).all()
    assert np.isinf(ts.var(ts.tensor([1.0, 2.0]), 0, correction=3).numpy())  # spread over a count of 0
    inf = ts.var(ts.tensor([1.0, np.inf, 2.0]), 0).numpy()
    assert np.isnan(inf)
    with pytest.raises(Exception, match="var"):
        ts.var(ts.zeros((2, 3)), 2)


def test_gradients_still_flow():
    x = np.random.default_rng(11).standard_normal((5, 40))
    t = ts.tensor(x, requires_grad=True)
    ts.var(t, 1).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * (x - x.mean(1, keepdims=True)) / 39, rtol=1e-12)
