"""sort along a dim: rows of 64 or more 32/64-bit numbers take the radix sort
(kernels/cpu/sort.cpp), shorter rows an insertion of the same radix keys, other
dtypes the stable comparison sort.
Both must give NumPy's stable argsort: NaN last (first when descending), -0.0
equal to 0.0, equal values in their input order (descending too), any layout."""
import numpy as np
import pytest

import tessel as ts

RNG = np.random.default_rng(11)


def reference(a, axis, descending):
    """Stable order with NaN largest and -0 == 0; descending keeps ties in input order."""
    if a.dtype.kind != "f":
        return np.argsort(~a if descending else a, axis=axis, kind="stable")  # ~x = -x - 1: no overflow
    nan = np.isnan(a)
    num = np.where(nan | (a == 0), 0, a)
    if descending:  # NaN first, then the numbers from the largest (lexsort: the last key is the primary one)
        return np.lexsort((-num, ~nan), axis=axis)
    return np.lexsort((num, nan), axis=axis)


def special(dtype, shape):
    if np.dtype(dtype).kind == "f":
        a = RNG.integers(-4, 5, size=shape).astype(dtype) * 0.5  # many ties
        flat = a.reshape(-1)
        k = flat.size
        flat[RNG.choice(k, k // 10, replace=False)] = np.nan
        flat[RNG.choice(k, k // 10, replace=False)] = -0.0
        flat[RNG.choice(k, k // 20, replace=False)] = np.inf
        flat[RNG.choice(k, k // 20, replace=False)] = -np.inf
        flat[RNG.choice(k, k // 20, replace=False)] = np.finfo(dtype).tiny / 4  # subnormal
        return a
    info = np.iinfo(dtype)
    a = RNG.integers(-5, 6, size=shape).astype(dtype)
    a.reshape(-1)[:3] = [info.min, info.max, 0]
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.int16])
@pytest.mark.parametrize("length", [5, 63, 64, 257, 3000])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_a_stable_reference(dtype, length, descending):
    a = special(dtype, (4, length))
    v, i = ts.sort(ts.tensor(a), -1, descending=descending)
    order = reference(a, -1, descending)
    np.testing.assert_array_equal(i.numpy(), order)
    np.testing.assert_array_equal(v.numpy(), np.take_along_axis(a, order, -1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_rows_and_layouts(dtype):
    a = RNG.standard_normal((37, 300)).astype(dtype)
    for x, ref in [(ts.tensor(a), a), (ts.tensor(a.T.copy()).t(), a), (ts.tensor(a[:1].copy()).expand(37, 300), np.broadcast_to(a[:1], (37, 300)))]:
        v, i = ts.sort(x, -1)
        np.testing.assert_array_equal(v.numpy(), np.sort(ref, -1))
        np.testing.assert_array_equal(i.numpy(), np.argsort(ref, -1, kind="stable"))
    # along dim 0 (strided rows), descending
    v, i = ts.sort(ts.tensor(a), 0, descending=True)
    order = np.argsort(-a, 0, kind="stable")
    np.testing.assert_array_equal(i.numpy(), order)
    np.testing.assert_array_equal(v.numpy(), np.take_along_axis(a, order, 0))


def test_one_long_row_and_threads():
    a = RNG.standard_normal(200_003).astype(np.float32)
    want = np.argsort(a, kind="stable")
    for n in (1, 2):
        ts.set_num_threads(n)
        np.testing.assert_array_equal(ts.sort(ts.tensor(a)).indices.numpy(), want)
    np.testing.assert_array_equal(ts.argsort(ts.tensor(a), descending=True).numpy(), np.argsort(-a, kind="stable"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("k", [1, 3, 8, 16, 17])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("length", [17, 40, 1000])
def test_topk_is_the_head_of_the_stable_order(dtype, k, largest, length):
    """topk for k <= 16 keeps a sorted buffer in one pass (kernels/cpu/sort.cpp: topk_small), larger k the
    partial sort: both the first k of the stable order (ties: lower index first; NaN largest)."""
    a = special(dtype, (5, length))
    x = ts.tensor(a)
    v, i = ts.topk(x, k, -1, largest=largest)
    order = reference(a, -1, descending=largest)[:, :k]
    np.testing.assert_array_equal(i.numpy(), order)
    np.testing.assert_array_equal(v.numpy(), np.take_along_axis(a, order, -1))
    vt, it = ts.topk(ts.tensor(np.ascontiguousarray(a.T)).t(), k, -1, largest=largest)  # strided rows
    np.testing.assert_array_equal(it.numpy(), order)


def test_topk_edge_sizes():
    a = np.array([[3.0, np.nan, 3.0, -1.0]], dtype=np.float32)
    x = ts.tensor(a)
    assert ts.topk(x, 0, -1).indices.shape == (1, 0)
    np.testing.assert_array_equal(ts.topk(x, 4, -1).indices.numpy(), [[1, 0, 2, 3]])
    np.testing.assert_array_equal(ts.topk(x, 4, -1, largest=False).indices.numpy(), [[3, 0, 2, 1]])
    np.testing.assert_array_equal(ts.topk(x, 2, -1).values.numpy(), [[np.nan, 3.0]])
