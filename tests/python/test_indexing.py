"""__getitem__ / __setitem__ against NumPy on random shapes.

PyTorch follows NumPy's indexing, with two differences these tests stay clear of
(or check PyTorch's side explicitly): slices need positive steps, and an int next
to advanced indices is applied as a select() first (so `t[0, :, [1, 2]]` has
shape (3, 2) in PyTorch and (2, 3) in NumPy)."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tessel as ts
from conftest import to_numpy

rng = np.random.default_rng(2024)


def check(t, ref):
    ref = np.asarray(ref)
    assert tuple(t.shape) == ref.shape, (t.shape, ref.shape)
    np.testing.assert_array_equal(to_numpy(t), ref)


def make(shape, dtype=np.float64):
    a = rng.standard_normal(shape).round(3).astype(dtype) if dtype != np.int64 else \
        rng.integers(-50, 50, shape)
    return a, ts.tensor(a)


def to_ts_index(idx):
    """NumPy index -> tessel index: ndarrays become tessel tensors, the rest stays."""
    if isinstance(idx, tuple):
        return tuple(to_ts_index(i) for i in idx)
    if isinstance(idx, np.ndarray):
        return ts.tensor(idx)
    return idx


def to_np_index(idx):
    if isinstance(idx, tuple):
        return tuple(to_np_index(i) for i in idx)
    if isinstance(idx, list):
        return np.array(idx)
    return idx


# ---------------------------------------------------------------- basic indexing

def rand_slice(n):
    start = rng.choice([None, int(rng.integers(-n - 2, n + 3))])
    stop = rng.choice([None, int(rng.integers(-n - 2, n + 3))])
    step = rng.choice([None, 1, 2, 3])
    return slice(start, stop, step)


def rand_basic_index(shape):
    items, dim = [], 0
    used_ellipsis = False
    while dim < len(shape):
        r = rng.random()
        if r < 0.15:
            items.append(None)
            continue
        if r < 0.22 and not used_ellipsis:
            used_ellipsis = True
            items.append(Ellipsis)
            skip = int(rng.integers(0, len(shape) - dim + 1))
            dim += skip
            continue
        n = shape[dim]
        if r < 0.5 and n > 0:
            items.append(int(rng.integers(-n, n)))
        elif r < 0.9 or used_ellipsis:  # after '...' every remaining dim is indexed
            items.append(rand_slice(n))
        else:
            break  # trailing dims left implicit
        dim += 1
    if rng.random() < 0.2:
        items.append(None)
    return tuple(items)


@pytest.mark.parametrize("seed", range(60))
def test_basic_indexing_random(seed):
    global rng
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(1, 5)))
    a, t = make(shape)
    for _ in range(10):
        idx = rand_basic_index(shape)
        ref = a[idx]
        got = t[idx]
        check(got, ref)
        # basic indexing is a view: writing through it reaches the base
        if ref.size:
            b = a.copy()
            b[idx] = 42.0
            got.fill_(42.0)
            check(t, b)
            t.copy_(ts.tensor(a))


@pytest.mark.parametrize("seed", range(20))
def test_basic_indexing_random_noncontiguous_base(seed):
    global rng
    rng = np.random.default_rng(500 + seed)
    shape = tuple(int(s) for s in rng.integers(2, 6, rng.integers(2, 5)))
    a0, t0 = make(shape)
    perm = tuple(int(p) for p in rng.permutation(len(shape)))
    a, t = a0.transpose(perm)[::2], t0.permute(*perm)[::2]
    for _ in range(8):
        idx = rand_basic_index(a.shape)
        check(t[idx], a[idx])
        if a[idx].size:
            a[idx] = -7.0
            t[idx] = -7.0
            check(t0, a0)


def test_single_int_and_negative():
    a, t = make((4, 5))
    for i in range(-4, 4):
        check(t[i], a[i])
        check(t[:, i], a[:, i])
    assert t[1, 2].item() == a[1, 2]
    assert t[-1, -1].item() == a[-1, -1]
    assert t[1, 2].shape == ()


def test_slices_with_steps():
    a, t = make((10, 7))
    for s in [slice(None, None, 2), slice(1, None, 3), slice(-8, -1, 2), slice(2, 100, 4),
              slice(-100, 3), slice(5, 2), slice(None, None, 11)]:
        check(t[s], a[s])
        check(t[:, s], a[:, s])
        check(t[s, s], a[s, s])
    assert t[::3].stride() == (21, 1)
    assert t[:, 1::2].stride() == (7, 2)


def test_negative_step_raises():
    _, t = make((5,))
    with pytest.raises(ValueError):
        t[::-1]


def test_zero_step_raises():
    _, t = make((5,))
    with pytest.raises(ValueError):
        t[::0]


def test_none_and_ellipsis():
    a, t = make((2, 3, 4))
    for idx in [(None,), (..., None), (None, ..., None), (Ellipsis,), (0, ...), (..., 1),
                (None, 1, None, ..., 2, None), (..., None, 0), (slice(None), None, Ellipsis, 1)]:
        check(t[idx], a[idx])
    check(t[...], a)
    check(t[None], a[None])


def test_0d_indexing():
    t = ts.tensor(5.0)
    assert t[()].item() == 5.0
    assert t[...].shape == ()
    assert t[None].shape == (1,)
    with pytest.raises(IndexError):
        t[0]


# ---------------------------------------------------------------- advanced indexing

def rand_int_index(n, shape):
    return rng.integers(-n, n, shape)


@pytest.mark.parametrize("seed", range(40))
def test_single_advanced_random(seed):
    global rng
    rng = np.random.default_rng(1000 + seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(1, 5)))
    a, t = make(shape)
    d = int(rng.integers(0, len(shape)))
    ishape = tuple(int(s) for s in rng.integers(1, 4, rng.integers(0, 3)))
    if ishape == ():
        ishape = (2,)
    ind = rand_int_index(shape[d], ishape)
    pre = [slice(None)] * d
    idx = tuple(pre) + (ind,)
    check(t[to_ts_index(idx)], a[idx])
    # as a list, for 1-d indices
    lst = ind.reshape(-1).tolist()
    idx_l = tuple(pre) + (lst,)
    check(t[idx_l], a[tuple(pre) + (np.array(lst),)])
    # after an ellipsis
    if d == len(shape) - 1:
        check(t[..., ts.tensor(ind)], a[..., ind])


@pytest.mark.parametrize("seed", range(40))
def test_two_advanced_adjacent_and_separated(seed):
    global rng
    rng = np.random.default_rng(2000 + seed)
    shape = tuple(int(s) for s in rng.integers(1, 5, 4))
    a, t = make(shape)
    i0 = rand_int_index(shape[1], (3, 1))
    i1 = rand_int_index(shape[2], (2,))
    i2 = rand_int_index(shape[3], (1, 2))
    cases = [
        (slice(None), i0, i1),               # adjacent: dims stay in place
        (slice(None), i0, i1, slice(None)),
        (slice(None), i0, slice(None), i2),  # separated by a slice: moved to front
        (rand_int_index(shape[0], (2,)), slice(None), slice(None), i2),
        (rand_int_index(shape[0], (3, 1)), i0, i1, i2),
        (slice(None), i0, slice(1, None), i2),
        (Ellipsis, i1, i2),
        (rand_int_index(shape[0], (2,)), Ellipsis, i2),
        (None, slice(None), i0, i1),
        (slice(None), i0, i1, None),
    ]
    for idx in cases:
        ref = a[idx]
        got = t[to_ts_index(idx)]
        check(got, ref)


def test_advanced_with_adjacent_int():
    # an int adjacent to the advanced block gives the same result in NumPy and PyTorch
    a, t = make((3, 4, 5))
    check(t[0, [1, 2]], a[0, [1, 2]])
    check(t[[1, 2], 0], a[[1, 2], 0])
    check(t[:, 0, [1, 3]], a[:, 0, [1, 3]])
    check(t[1, [0, 2], [3, 4]], a[1, [0, 2], [3, 4]])


def test_int_separated_from_advanced_follows_pytorch():
    # PyTorch applies the int as select() first: t[0, :, [1, 2]] is (4, 2), NumPy gives (2, 4)
    a, t = make((3, 4, 5))
    check(t[0, :, [1, 2]], a[0][:, [1, 2]])


def test_list_of_lists_index():
    a, t = make((4, 5))
    check(t[[[0, 1], [3, 2]]], a[np.array([[0, 1], [3, 2]])])
    check(t[[0, 1], [2, 3]], a[[0, 1], [2, 3]])
    check(t[[-1, 0, -4]], a[[-1, 0, -4]])


def test_empty_index():
    a, t = make((4, 5))
    e = ts.tensor(np.zeros(0, dtype=np.int64))
    check(t[e], a[np.zeros(0, dtype=np.int64)])
    check(t[:, e], a[:, np.zeros(0, dtype=np.int64)])


def test_int_index_dtypes():
    a, t = make((6, 3))
    for dt in (ts.int8, ts.int16, ts.int32, ts.int64):  # uint8 indices are masks in PyTorch
        idx = ts.tensor([0, 5, 2], dtype=dt)
        check(t[idx], a[[0, 5, 2]])


def test_0d_int_tensor_index():
    a, t = make((3, 4))
    check(t[ts.tensor(1)], a[1])
    check(t[:, ts.tensor(-1)], a[:, -1])


def test_advanced_indexing_is_a_copy():
    a, t = make((4, 5))
    c = t[[0, 1]]
    c.fill_(0.0)
    check(t, a)


def test_noncontiguous_source():
    a, t = make((5, 6, 4))
    tp = t.permute(2, 0, 1)[:, ::2]
    ap = a.transpose(2, 0, 1)[:, ::2]
    idx = np.array([2, 0, 1, 2])
    check(tp[:, ts.tensor(idx)], ap[:, idx])
    check(tp[ts.tensor([3, 0]), :, ts.tensor([5, 1])], ap[[3, 0], :, [5, 1]])
    m = ap > 0
    check(tp[ts.tensor(m)], ap[m])


# ---------------------------------------------------------------- boolean masks

@pytest.mark.parametrize("seed", range(30))
def test_bool_masks_random(seed):
    global rng
    rng = np.random.default_rng(3000 + seed)
    shape = tuple(int(s) for s in rng.integers(1, 6, rng.integers(1, 5)))
    a, t = make(shape)
    # full-shape mask
    m = rng.random(shape) > 0.5
    check(t[ts.tensor(m)], a[m])
    # comparison-produced mask
    check(t[t > 0], a[a > 0])
    # leading partial mask
    k = int(rng.integers(1, len(shape) + 1))
    mk = rng.random(shape[:k]) > 0.4
    check(t[ts.tensor(mk)], a[mk])
    # a 1-d mask on a later dim
    d = int(rng.integers(0, len(shape)))
    md = rng.random(shape[d]) > 0.5
    idx = (slice(None),) * d + (md,)
    check(t[to_ts_index(idx)], a[idx])
    # mask given as a Python list of bools
    idx_l = (slice(None),) * d + (md.tolist(),)
    check(t[idx_l], a[idx])
    # mask + trailing ellipsis + None
    check(t[ts.tensor(mk), ..., None], a[mk, ..., None])


def test_bool_mask_all_false_and_all_true():
    a, t = make((3, 4))
    f = np.zeros((3, 4), bool)
    check(t[ts.tensor(f)], a[f])
    check(t[ts.tensor(~f)], a[~f])


def test_bool_mask_with_int_index():
    a, t = make((3, 4, 5))
    m = np.array([True, False, True, True])
    idx = np.array([4, 0])
    # a mask with 2 True entries broadcasts with a 2-element index tensor
    m2 = np.array([True, False, False, True])
    check(t[:, ts.tensor(m2), ts.tensor(idx)], a[:, m2, idx])
    check(t[ts.tensor([True, False, True]), :, ts.tensor([1, 3])], a[[True, False, True], :, [1, 3]])
    check(t[:, ts.tensor(m)], a[:, m])


def test_bool_scalar_index():
    a, t = make((2, 3))
    check(t[True], a[True])
    check(t[False], a[False])


def test_mask_shape_mismatch_raises():
    _, t = make((3, 4))
    with pytest.raises(IndexError):
        t[ts.tensor([True, False])]
    with pytest.raises(IndexError):
        t[ts.tensor(np.ones((3, 5), bool))]


# ---------------------------------------------------------------- assignment

def test_setitem_basic():
    a, t = make((4, 5, 3))
    for idx, val in [((1,), 3.0), ((slice(None), 2), -1.0), ((Ellipsis, 0), 7.5),
                     ((slice(1, None, 2), slice(None), slice(0, 2)), 0.25), ((0, 0, 0), 9.0),
                     ((None, 2), 1.5)]:
        a[idx] = val
        t[idx] = val
        check(t, a)


def test_setitem_tensor_values_broadcast():
    a, t = make((4, 5, 3))
    v = rng.standard_normal(3).round(2)
    a[:, 1] = v
    t[:, 1] = ts.tensor(v)
    check(t, a)
    v = rng.standard_normal((4, 1, 3)).round(2)
    a[:, 1:3] = v
    t[:, 1:3] = ts.tensor(v)
    check(t, a)
    # value of another dtype is cast
    a[0] = 2
    t[0] = ts.tensor(2, dtype=ts.int32)
    check(t, a)
    with pytest.raises((ValueError, RuntimeError)):
        t[:, 1] = ts.zeros(4)


def test_setitem_mask():
    a, t = make((5, 6))
    m = a > 0
    a[m] = 0
    t[ts.tensor(m)] = 0
    check(t, a)
    a2, t2 = make((5, 6))
    t2[t2 < 0] = -1.0
    a2[a2 < 0] = -1.0
    check(t2, a2)
    # mask assignment with a tensor of the selected elements
    a3, t3 = make((5, 6))
    m = a3 > 0.5
    vals = np.arange(m.sum(), dtype=np.float64)
    a3[m] = vals
    t3[ts.tensor(m)] = ts.tensor(vals)
    check(t3, a3)
    # partial mask with broadcast row
    a4, t4 = make((5, 6))
    mr = np.array([True, False, True, True, False])
    row = np.arange(6.0)
    a4[mr] = row
    t4[ts.tensor(mr)] = ts.tensor(row)
    check(t4, a4)


def test_setitem_int_index():
    a, t = make((4, 6))
    idx = np.array([5, 0, 3])
    v = rng.standard_normal((4, 3)).round(2)
    a[:, idx] = v
    t[:, ts.tensor(idx)] = ts.tensor(v)
    check(t, a)
    a[:, idx] = 1.5
    t[:, [5, 0, 3]] = 1.5
    check(t, a)
    a[[1, 2], [0, 4]] = [10.0, 20.0]
    t[[1, 2], [0, 4]] = ts.tensor([10.0, 20.0], dtype=ts.float64)
    check(t, a)
    # broadcast a column into the advanced selection
    col = np.array([[1.0], [2.0], [3.0], [4.0]])
    a[:, idx] = col
    t[:, ts.tensor(idx)] = ts.tensor(col)
    check(t, a)


def test_setitem_casts_and_noncontiguous_values():
    a, t = make((4, 6))
    v = np.arange(8, dtype=np.int32).reshape(2, 4)
    a[:, [1, 4]] = v.T
    t[:, [1, 4]] = ts.tensor(v).t()  # int32, transposed view
    check(t, a)
    a[[0, 3]] = 2.5
    t[[0, 3]] = ts.tensor([2.5]).expand(6)  # expanded (stride 0) value
    check(t, a)
    ti = ts.zeros(3, 3, dtype=ts.int64)
    ti[ti == 0] = ts.tensor(1.0, dtype=ts.float64)  # PyTorch casts the value to the target dtype
    assert ti.dtype == ts.int64 and ti.tolist() == [[1] * 3] * 3


def test_setitem_value_with_leading_ones():
    # NumPy and PyTorch (slicePrefix1sSize) drop leading size-1 dims of the value
    a, t = make((2, 3))
    a[0] = np.ones((1, 1, 3))
    t[0] = ts.ones(1, 1, 3, dtype=ts.float64)
    check(t, a)
    a[:, [0, 1]] = np.full((1, 2, 2), 5.0)
    t[:, [0, 1]] = ts.full((1, 2, 2), 5.0, dtype=ts.float64)
    check(t, a)
    m = a > 1
    a[m] = np.full((m.sum(),), 9.0)  # NumPy refuses the (1, n) form for masks; PyTorch accepts it
    t[ts.tensor(m)] = ts.full((1, int(m.sum())), 9.0, dtype=ts.float64)
    check(t, a)


def test_setitem_separated_advanced():
    a, t = make((3, 4, 5))
    i, j = np.array([0, 2]), np.array([1, 4])
    v = rng.standard_normal((2, 4)).round(2)  # advanced dims first
    a[i, :, j] = v
    t[ts.tensor(i), :, ts.tensor(j)] = ts.tensor(v)
    check(t, a)


def test_setitem_duplicates_last_wins():
    t = ts.zeros(4)
    t[ts.tensor([1, 1, 1])] = ts.tensor([1.0, 2.0, 3.0])
    assert t.tolist() == [0.0, 3.0, 0.0, 0.0]


@pytest.mark.parametrize("op", ["+=", "-=", "*="])
def test_augmented_assign_through_index(op):
    a, t = make((4, 6))
    idx = np.array([5, 0, 3])
    exec(f"a[:, idx] {op} 2.0")
    exec(f"t[:, ts.tensor(idx)] {op} 2.0")
    check(t, a)
    exec(f"a[a > 0] {op} 1.5")
    exec(f"t[t > 0] {op} 1.5")
    check(t, a)
    exec(f"a[1:3, ::2] {op} 3.0")
    exec(f"t[1:3, ::2] {op} 3.0")
    check(t, a)
    exec(f"a[:, 1] {op} a[:, 2]")
    exec(f"t[:, 1] {op} t[:, 2]")
    check(t, a)


def test_augmented_assign_int_tensor():
    t = ts.zeros(3, 4, dtype=ts.int32)
    a = np.zeros((3, 4), np.int32)
    t[:, [1, 3]] += 1
    a[:, [1, 3]] += 1
    check(t, a)
    assert t.dtype == ts.int32


def test_setitem_on_noncontiguous_target():
    a, t = make((5, 6))
    tv, av = t.t(), a.T
    m = av > 0
    tv[ts.tensor(m)] = 0.0
    av[m] = 0.0
    check(t, a)
    tv[[0, 2], 1:4] = 5.0
    av[[0, 2], 1:4] = 5.0
    check(t, a)


def test_setitem_dtypes():
    for npdt in (np.int8, np.uint8, np.int64, np.float16, np.float32, np.complex64, np.bool_):
        a = np.zeros((3, 4), npdt)
        t = ts.tensor(a)
        val = np.ones(1, npdt)[0]
        a[:, [0, 2]] = val
        t[:, [0, 2]] = val.item()
        check(t, a)


# ---------------------------------------------------------------- errors

def test_out_of_range_int_raises():
    _, t = make((3, 4))
    for idx in [3, -4, (0, 4), (0, -5), (slice(None), 10)]:
        with pytest.raises(IndexError):
            t[idx]
    with pytest.raises(IndexError):
        t[3] = 1.0


def test_out_of_range_tensor_index_raises():
    _, t = make((3, 4))
    with pytest.raises(IndexError):
        t[ts.tensor([0, 3])]
    with pytest.raises(IndexError):
        t[:, [-5]]
    with pytest.raises(IndexError):
        t[ts.tensor([0, 5])] = 0.0


def test_too_many_indices_raises():
    _, t = make((3, 4))
    with pytest.raises(IndexError):
        t[0, 0, 0]
    with pytest.raises(IndexError):
        t[:, :, :]
    with pytest.raises(IndexError):
        t[..., 0, 0, 0]


def test_two_ellipses_raise():
    _, t = make((3, 4))
    with pytest.raises(IndexError):
        t[..., ...]


def test_float_index_raises_type_error():
    _, t = make((3, 4))
    with pytest.raises(TypeError):
        t[1.0]
    with pytest.raises(TypeError):
        t[0, 1.5]
    with pytest.raises(TypeError):
        t[1.0] = 0.0


def test_float_tensor_index_raises():
    _, t = make((3, 4))
    with pytest.raises(IndexError):
        t[ts.tensor([0.0, 1.0])]


def test_unbroadcastable_index_tensors_raise():
    _, t = make((3, 4))
    with pytest.raises(IndexError):
        t[[0, 1], [0, 1, 2]]


def _run_isolated(code):
    """Runs code in a fresh interpreter (a crash must not take pytest down)."""
    full = "import numpy as np\nimport tessel as ts\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, timeout=60)


def test_numpy_array_as_index_does_not_crash():
    # PyTorch accepts NumPy integer/bool arrays as indices (same result as a tensor index)
    r = _run_isolated("""
        t = ts.arange(24).reshape(2, 3, 4)
        assert t[np.array([1, 0])].tolist() == t[ts.tensor([1, 0])].tolist()
        assert t[:, np.array([True, False, True])].shape == (2, 2, 4)
        t[np.array([0])] = 0
        assert t[0].sum().item() == 0
    """)
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stderr[-2000:]}"
