"""Reductions of broadcast views (stride-0 dims, kernels/cpu/reduce.cpp
fold_broadcast): each repeated slice is reduced once, a reduced stride-0 dim
scales a sum by its size, a kept one is expanded into the output. Checked
against NumPy in float64 on the same broadcast values, with NaN and inf,
mixed with transposes, and at several thread counts."""
import numpy as np
import pytest

import tessel as ts

RNG = np.random.default_rng(3)

# (source shape, broadcast shape): stride-0 dims first, last, in the middle, several.
CASES = [((1, 1000), (64, 1000)), ((300, 1), (300, 50)), ((20, 1, 30), (20, 17, 30)),
         ((1, 40, 1), (9, 40, 13)), ((1,), (10007,))]
REDUCTIONS = [("sum", np.sum), ("mean", np.mean), ("amax", np.max), ("amin", np.min)]


def dims_for(ndim):
    out = [None]
    for d in range(ndim):
        out += [d, -1 - d]
    if ndim >= 2:
        out.append((0, ndim - 1))
    return out


@pytest.mark.parametrize("src,shape", CASES)
@pytest.mark.parametrize("name,ref", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_broadcast_view_reductions_match_numpy(src, shape, name, ref, dtype):
    a = RNG.standard_normal(src).astype(dtype)
    x = ts.tensor(a).expand(*shape)
    b = np.broadcast_to(a.astype(np.float64), shape)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for dim in dims_for(len(shape)):
        for keepdim in (False, True):
            if dim is None:
                got = getattr(x, name)()
                want = ref(b)
                if keepdim:
                    continue
            else:
                got = getattr(x, name)(dim=dim, keepdim=keepdim)
                want = ref(b, axis=dim, keepdims=keepdim)
            got = np.asarray(got.tolist(), dtype=np.float64)
            assert got.shape == np.shape(want), (dim, keepdim)
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(b).max() * b.size ** 0.5,
                                       err_msg=f"{name} dim={dim} keepdim={keepdim}")


def test_nan_and_inf_survive_the_fold():
    a = RNG.standard_normal((1, 4096)).astype(np.float32)
    a[0, 7], a[0, 9] = np.nan, np.inf
    x = ts.tensor(a).expand(8, 4096)
    assert np.isnan(float(x.sum())) and np.isnan(float(x.amax())) and np.isnan(float(x.amin()))
    s = np.asarray(x.sum(dim=0).tolist())
    assert np.isnan(s[7]) and s[9] == np.inf
    np.testing.assert_allclose(np.delete(s, [7, 9]), 8 * np.delete(a[0].astype(np.float64), [7, 9]), rtol=1e-6)


def test_broadcast_and_transposed_together():
    a = RNG.standard_normal((50, 1, 70)).astype(np.float32)
    x = ts.tensor(a).expand(50, 30, 70).transpose(0, 2)  # [70, 30, 50]: stride-0 middle dim, permuted
    b = np.broadcast_to(a.astype(np.float64), (50, 30, 70)).transpose(2, 1, 0)
    for dim in (0, 1, 2, (0, 1), None):
        got = x.sum() if dim is None else x.sum(dim=dim)
        want = b.sum() if dim is None else b.sum(axis=dim)
        np.testing.assert_allclose(np.asarray(got.tolist()), want, rtol=1e-5, atol=1e-3)


def test_result_does_not_depend_on_threads():
    a = RNG.standard_normal((1, 20000)).astype(np.float32)
    x = ts.tensor(a).expand(40, 20000)
    res = []
    for n in (1, 2):
        ts.set_num_threads(n)
        res.append((x.sum().item(), x.sum(dim=0).tolist(), x.amax(dim=1).tolist()))
    assert res[0] == res[1]


def test_gradient_through_a_broadcast_sum():
    a = ts.tensor(RNG.standard_normal((1, 5000)), requires_grad=True)
    (a.expand(30, 5000).sum() * 2).backward()
    np.testing.assert_allclose(np.asarray(a.grad.tolist()), np.full((1, 5000), 60.0))


@pytest.mark.parametrize("src,shape", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prod_of_broadcast_views(src, shape, dtype):
    # NumPy's values in float64 for every dim; where the reduced dims are exactly the expanded
    # block with the kept dims contiguous after it, prod folds the one row in place rows times
    # (no copy): the same products in the same order as on the contiguous copy, so the same bits.
    a = RNG.uniform(0.999, 1.001, src).astype(dtype)
    x = ts.tensor(a).expand(*shape)
    b = np.broadcast_to(a.astype(np.float64), shape)
    for dim in [d for d in dims_for(len(shape)) if not isinstance(d, tuple)]:
        got = x.prod() if dim is None else x.prod(dim=dim)
        want = np.prod(b) if dim is None else np.prod(b, axis=dim)
        # n products in order: float32's error grows as sqrt(n) eps
        np.testing.assert_allclose(got.numpy(), want, rtol=2e-4 if dtype == np.float32 else 1e-12)
    block = {((1, 1000), (64, 1000)): 0, ((20, 1, 30), (20, 17, 30)): 1}.get((src, shape))
    if block is not None:
        assert np.array_equal(x.prod(dim=block).numpy(), x.contiguous().prod(dim=block).numpy())
