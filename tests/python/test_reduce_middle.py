"""Sums over leading or middle dims of contiguous float tensors: the row-accumulating path
(issue 16) against NumPy float64."""
import numpy as np
import pytest

import tessel as ts


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("shape,dims", [((300, 7), (0,)), ((4, 200, 9), (1,)), ((3, 5, 6, 7), (1, 2)),
                                        ((5, 1, 4), (0,)), ((2, 3, 1, 4), (1, 2)), ((129, 2, 3), (0, 1)),
                                        ((6, 1000, 2), (1,)), ((2, 3), (0,))])
def test_sum_over_leading_and_middle_dims(dtype, tol, shape, dims):
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype)
    for keepdim in (False, True):
        got = ts.sum(ts.from_numpy(x), dim=dims, keepdim=keepdim).numpy()
        want = x.astype(np.float64).sum(axis=dims, keepdims=keepdim)
        assert got.dtype == x.dtype and got.shape == want.shape
        scale = np.abs(x.astype(np.float64)).sum(axis=dims, keepdims=keepdim)
        assert np.all(np.abs(got - want) <= tol * scale + 1e-30), (shape, dims)
    mean = ts.mean(ts.from_numpy(x), dim=dims).numpy()
    assert np.allclose(mean, x.astype(np.float64).mean(axis=dims), rtol=0, atol=10 * tol)


def test_sum_many_rows_stays_accurate():
    # 200,000 rows: pairwise halves keep the float32 error near log2(n) roundings, not n.
    x = (np.random.default_rng(3).random((200_000, 3)) + 1).astype(np.float32)
    got = ts.sum(ts.from_numpy(x), dim=0).numpy().astype(np.float64)
    want = x.astype(np.float64).sum(0)
    assert np.all(np.abs(got - want) <= 2e-6 * want), (got, want)


def test_sum_middle_special_values_and_views():
    x = np.ones((4, 3, 5), np.float32)
    x[1, 0, 2], x[2, 1, 3], x[0, 2, 4], x[3, 2, 4] = np.nan, np.inf, np.inf, -np.inf
    got = ts.sum(ts.from_numpy(x), dim=0).numpy()
    want = x.sum(0)
    assert np.array_equal(got, want, equal_nan=True)
    t = ts.from_numpy(np.arange(24, dtype=np.float32).reshape(4, 6))
    assert np.array_equal(ts.sum(t.t(), dim=0).numpy(), np.arange(24, dtype=np.float32).reshape(4, 6).T.sum(0))
    assert np.array_equal(ts.sum(t[:, 1:4], dim=0).numpy(), np.arange(24, dtype=np.float32).reshape(4, 6)[:, 1:4].sum(0))


# amax, amin and prod: vector lanes over contiguous runs and whole rows over leading or
# middle dims (kernels/cpu/reduce.cpp). max/min are exact; prod is within a few roundings.
_FOLD_SHAPES = [((300, 7), (0,)), ((4, 200, 9), (1,)), ((3, 5, 6, 7), (1, 2)), ((129, 2, 3), (0, 1)),
                ((6, 1000, 2), (1,)), ((2, 3), (0,)), ((7, 531), (1,)), ((3, 37), (-1,)), ((1000, 70), (0,)),
                ((2, 600, 300), (1,)), ((5, 33), (0, 1))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dims", _FOLD_SHAPES)
def test_amax_amin_prod_over_runs_and_middle_dims(dtype, shape, dims):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    p = rng.uniform(0.95, 1.05, shape).astype(dtype)
    for keepdim in (False, True):
        for name, npf in (("amax", np.max), ("amin", np.min)):
            got = getattr(ts, name)(ts.from_numpy(x), dim=dims, keepdim=keepdim).numpy()
            assert np.array_equal(got, npf(x, axis=dims, keepdims=keepdim)), (name, shape, dims)
        got = ts.prod(ts.from_numpy(p), dim=dims, keepdim=keepdim).numpy()
        want = p.astype(np.float64).prod(axis=dims, keepdims=keepdim)
        n = np.prod([shape[d] for d in dims])
        eps = np.finfo(dtype).eps
        assert np.all(np.abs(got - want) <= 2 * n * eps * np.abs(want)), (shape, dims)


@pytest.mark.parametrize("dims", [(0,), (1,), (2,), (0, 2)])
def test_amax_amin_prod_special_values(dims):
    x = np.random.default_rng(9).standard_normal((40, 33, 20)).astype(np.float32)
    x[3, 4, 5], x[10, 0, 0], x[39, 32, 19] = np.nan, np.inf, -np.inf
    x[20, 7, :] = np.nan  # a NaN in every column of one row
    near_one = np.where(np.isfinite(x), 1 + 0.001 * x, x)  # products stay finite in float32
    for name, npf in (("amax", np.max), ("amin", np.min), ("prod", np.prod)):
        v = near_one if name == "prod" else x
        got = getattr(ts, name)(ts.from_numpy(v), dim=dims).numpy()
        want = npf(v.astype(np.float64), axis=dims)
        same_nan = np.array_equal(np.isnan(got), np.isnan(want))
        assert same_nan, (name, dims)
        fin = np.isfinite(want)
        assert np.array_equal(got[~fin & ~np.isnan(want)], want[~fin & ~np.isnan(want)].astype(np.float32)), name
        if name != "prod":
            assert np.array_equal(got[fin], want[fin].astype(np.float32)), name
    z = np.array([[-0.0, 0.0], [0.0, -0.0]], np.float32)
    assert np.array_equal(ts.amax(ts.from_numpy(z), dim=0).numpy(), [0.0, 0.0])


def test_amax_amin_prod_independent_of_threads():
    x = np.random.default_rng(10).uniform(0.99, 1.01, (64, 3000)).astype(np.float32)
    t = ts.from_numpy(x)
    before = ts.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            ts.set_num_threads(n)
            outs.append([f(t, dim=d).numpy() for f in (ts.amax, ts.amin, ts.prod) for d in (0, 1)])
            outs[-1].append(ts.prod(t.reshape(-1), dim=0).numpy())
        for o in outs[1:]:
            for a, b in zip(outs[0], o):
                assert np.array_equal(a, b)
    finally:
        ts.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reductions_of_transposed_and_broadcast_views(dtype):
    # Views whose reduced dims are neither runs nor a middle block go through a contiguous
    # copy (kernels/cpu/reduce.cpp): same values as NumPy, at any thread count.
    rng = np.random.default_rng(14)
    base = rng.standard_normal((300, 70)).astype(dtype)
    near = rng.uniform(0.99, 1.01, (300, 70)).astype(dtype)
    eps = np.finfo(dtype).eps
    cases = [(lambda x: ts.from_numpy(x.T.copy()).t(), lambda x: x),                       # transposed
             (lambda x: ts.from_numpy(x[:1].copy()).expand(300, 70), lambda x: np.broadcast_to(x[:1], (300, 70))),
             (lambda x: ts.from_numpy(x.reshape(30, 10, 70).transpose(1, 0, 2).copy()).permute(1, 0, 2).reshape(300, 70),
              lambda x: x)]
    before = ts.get_num_threads()
    try:
        for make, ref in cases:
            for dims in [(0,), (1,), (0, 1)]:
                for threads in (1, 2):
                    ts.set_num_threads(threads)
                    t, x = make(base), ref(base).astype(np.float64)
                    s = ts.sum(t, dim=dims).numpy()
                    assert np.all(np.abs(s - x.sum(axis=dims)) <= 32 * eps * np.abs(x).sum(axis=dims) + 1e-30)
                    assert np.array_equal(ts.amax(t, dim=dims).numpy(), x.max(axis=dims).astype(dtype))
                    assert np.array_equal(ts.amin(t, dim=dims).numpy(), x.min(axis=dims).astype(dtype))
                    p = ts.prod(make(near), dim=dims).numpy()
                    want = ref(near).astype(np.float64).prod(axis=dims)
                    assert np.all(np.abs(p - want) <= 2 * 21000 * eps * np.abs(want))
    finally:
        ts.set_num_threads(before)


# Fewer output rows than threads: the top of each pairwise tree runs as separate tasks (and
# columns are split when the rows are few), added up in the same tree, so every thread count
# gives the bits of one thread.
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("shape,dims", [((3000, 700), (0,)), ((40, 9000), (0,)), ((2, 300, 900), (1,)),
                                        ((3, 500, 130), (1,)), ((130, 3, 300), (0, 1)), ((257, 65), (0,))])
def test_sum_over_leading_dims_independent_of_threads(dtype, tol, shape, dims):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype)
    t = ts.from_numpy(x)
    want = x.astype(np.float64).sum(axis=dims)
    scale = np.abs(x.astype(np.float64)).sum(axis=dims)
    before = ts.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3, 4):
            ts.set_num_threads(n)
            outs.append((ts.sum(t, dim=dims).numpy(), ts.mean(t, dim=dims).numpy(),
                         ts.sum(t.transpose(0, -1), dim=[-1 - d for d in dims]).numpy()))
        got, mean, tsum = outs[0]
        assert np.all(np.abs(got - want) <= tol * scale), (shape, dims)
        assert np.allclose(mean, want / np.prod([shape[d] for d in dims]), rtol=0, atol=10 * tol)
        if len(shape) == 2:
            assert np.array_equal(tsum, got)
        for o in outs[1:]:
            for a, b in zip(outs[0], o):
                assert np.array_equal(a, b), (shape, dims)
    finally:
        ts.set_num_threads(before)
