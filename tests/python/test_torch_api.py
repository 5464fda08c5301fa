"""The PyTorch names a ported script reaches for first: ts.Size, return types,
ts.cuda/ts.backends, functional views, creation and comparison helpers, small
math (meshgrid, diag, cdist, bincount, median, mode), set_printoptions,
ts.testing.assert_close and thin Tensor methods. References are NumPy float64,
finite differences, or strings/values produced by PyTorch where stated."""
import math
import pickle
import warnings

import numpy as np
import pytest

import tessel as ts

nan, inf = float("nan"), float("inf")


def N(t):
    return np.asarray(t.tolist(), dtype=np.float64)


# ---------------------------------------------------------------- ts.Size

def test_shape_and_size_are_ts_size():
    x = ts.zeros(2, 3)
    for s in (x.shape, x.size()):
        assert type(s) is ts.Size and isinstance(s, tuple)
        assert s == (2, 3) and s != [2, 3] and tuple(s) == (2, 3)
        assert repr(s) == str(s) == "tessel.Size([2, 3])"
    assert x.size(1) == 3 and type(x.size(1)) is int
    assert repr(ts.zeros(()).shape) == "tessel.Size([])"
    assert hash(x.shape) == hash((2, 3)) and {(2, 3): "a"}[x.shape] == "a"


def test_size_keeps_type_and_numel():
    s = ts.Size([2, 3, 4])
    assert s.numel() == 24 and ts.Size([]).numel() == 1 and ts.Size([0, 5]).numel() == 0
    assert type(s[1:]) is ts.Size and s[1:] == (3, 4) and type(s[0]) is int
    assert type(s + (5,)) is ts.Size and s + (5,) == (2, 3, 4, 5)
    assert type((1,) + s) is ts.Size and (1,) + s == (1, 2, 3, 4)
    assert type(s * 2) is ts.Size and len(s * 2) == 6
    assert ts.Size((2, np.int64(3))) == (2, 3)
    assert pickle.loads(pickle.dumps(s)) == s and type(pickle.loads(pickle.dumps(s))) is ts.Size
    with pytest.raises(TypeError, match="int"):
        ts.Size([2.5])
    # a Size is accepted wherever a shape is
    assert ts.zeros(s).shape == s and ts.ones(2, 3).reshape(ts.Size([3, 2])).shape == (3, 2)


def test_broadcast_shapes_returns_size():
    s = ts.broadcast_shapes((2, 1), (3,))
    assert type(s) is ts.Size and s == (2, 3)


# ---------------------------------------------------------------- return types

@pytest.mark.parametrize("name, call", [
    ("max", lambda x: x.max(1)), ("min", lambda x: ts.min(x, dim=1)), ("sort", lambda x: x.sort(1)),
    ("topk", lambda x: x.topk(2, 1)), ("kthvalue", lambda x: x.kthvalue(2, 1)),
    ("median", lambda x: x.median(1)), ("mode", lambda x: ts.mode(x, 1)),
])
def test_return_types(name, call):
    x = ts.tensor([[3., 1., 2.], [0., 5., 4.]])
    r = call(x)
    assert type(r).__name__ == name and type(r) is getattr(ts.return_types, name)
    assert isinstance(r, tuple) and len(r) == 2
    v, i = r
    assert v is r.values or N(v).tolist() == N(r.values).tolist()
    assert N(i).tolist() == N(r.indices).tolist() and r.indices.dtype == ts.int64
    assert repr(r) == f"tessel.return_types.{name}(\nvalues={r.values!r},\nindices={r.indices!r})"
    assert r == (r[0], r[1])


def test_return_types_values():
    x = ts.tensor([[3., 1., 2.], [0., 5., 4.]])
    a = N(x)
    assert N(x.max(1).values).tolist() == a.max(1).tolist() and N(x.max(1).indices).tolist() == [0, 1]
    assert N(x.min(1).indices).tolist() == a.argmin(1).tolist()
    assert N(x.sort(1).indices).tolist() == np.argsort(a, 1, kind="stable").tolist()


# ---------------------------------------------------------------- cuda / backends

def test_cuda_and_backends():
    assert ts.cuda.is_available() is (ts.cuda.device_count() > 0)
    assert ts.backends.mkldnn.is_available() is True
    assert ts.backends.mps.is_available() is False
    cuda_kernels = any(dev == "cuda" for _, dev, _, _ in ts.registry())
    assert ts.backends.cuda.is_built() is cuda_kernels and ts.backends.openmp.is_available() is True
    # cuDNN: available where a CUDA build finds libcudnn.so.9 (with or without a GPU), as torch's
    v = ts.backends.cudnn.version()
    assert ts.backends.cudnn.is_available() is (v is not None)
    assert v is None or (cuda_kernels and v >= 90000), v
    old = ts.backends.cudnn.deterministic, ts.backends.cudnn.benchmark
    try:
        ts.backends.cudnn.deterministic = True
        ts.backends.cudnn.benchmark = False
        assert ts.backends.cudnn.deterministic is True and ts.backends.cudnn.benchmark is False
    finally:
        ts.backends.cudnn.deterministic, ts.backends.cudnn.benchmark = old
    # The TF32 flags: off by default, read by the CUDA matmul and convolutions, restorable.
    assert ts.backends.cuda.matmul.allow_tf32 is False and ts.backends.cudnn.allow_tf32 is False
    try:
        ts.backends.cuda.matmul.allow_tf32 = True
        ts.backends.cudnn.allow_tf32 = 1
        assert ts.backends.cuda.matmul.allow_tf32 is True and ts.backends.cudnn.allow_tf32 is True
        assert ts._C._cuda.matmul_allow_tf32() and ts._C._cuda.cudnn_allow_tf32()
    finally:
        ts.backends.cuda.matmul.allow_tf32 = False
        ts.backends.cudnn.allow_tf32 = False
    device = "cuda" if ts.cuda.is_available() else "cpu"  # the usual opening line of a script
    assert ts.zeros(2, device=device).device == ("cuda:0" if ts.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- functional views

def test_functional_views_match_methods():
    a = np.arange(24.).reshape(2, 3, 4)
    x = ts.tensor(a)
    assert N(ts.flatten(x)).tolist() == a.reshape(-1).tolist()
    assert ts.flatten(x, 1).shape == (2, 12) and ts.flatten(x, start_dim=0, end_dim=1).shape == (6, 4)
    assert N(ts.reshape(x, (4, 6))).tolist() == a.reshape(4, 6).tolist()
    assert N(ts.transpose(x, 0, 2)).tolist() == a.transpose(2, 1, 0).tolist()
    assert N(ts.permute(x, (2, 0, 1))).tolist() == a.transpose(2, 0, 1).tolist()
    assert ts.squeeze(ts.zeros(1, 2, 1)).shape == (2,) and ts.squeeze(ts.zeros(1, 2, 1), 0).shape == (2, 1)
    assert ts.squeeze(ts.zeros(1, 2, 1), (0, 2)).shape == (2,)
    assert ts.unsqueeze(x, -1).shape == (2, 3, 4, 1)
    assert N(ts.narrow(x, 2, 1, 2)).tolist() == a[:, :, 1:3].tolist()
    assert N(ts.diagonal(x, 0, 1, 2)).tolist() == np.diagonal(a, 0, 1, 2).tolist()
    assert ts.numel(x) == 24 and x.nelement() == 24
    assert ts.reshape(input=x, shape=(24,)).shape == (24,)
    with pytest.raises(TypeError):
        ts.flatten(None)
    with pytest.raises((ValueError, IndexError)):
        ts.narrow(x, 0, 1, 5)


def test_functional_views_share_storage_and_grad():
    x = ts.arange(6.).requires_grad_()
    y = ts.transpose(ts.reshape(x, (2, 3)), 0, 1)
    y.sum().backward()
    assert N(x.grad).tolist() == [1.0] * 6
    base = ts.zeros(2, 3)
    ts.flatten(base)[1] = 5.0
    assert base[0, 1].item() == 5.0


# ---------------------------------------------------------------- creation helpers

def test_as_tensor_shares_or_copies():
    x = ts.ones(3)
    assert ts.as_tensor(x) is x and ts.as_tensor(x, dtype=ts.float32) is x
    y = ts.as_tensor(x, dtype=ts.float64)
    assert y.dtype == ts.float64 and y is not x
    a = np.zeros(3, dtype=np.float32)
    t = ts.as_tensor(a)
    a[1] = 7.0  # shares memory with the array
    assert t.dtype == ts.float32 and t[1].item() == 7.0
    t2 = ts.as_tensor(a, dtype=ts.float64)
    a[2] = 3.0  # a converted copy does not
    assert t2.dtype == ts.float64 and t2[2].item() == 0.0
    assert ts.as_tensor([1, 2]).dtype == ts.int64 and ts.as_tensor(1.5).dtype == ts.float32
    assert ts.as_tensor([[1., 2.]], device="cpu").shape == (1, 2)
    x.requires_grad_()
    z = x * 2
    assert ts.as_tensor(z) is z and z.grad_fn is not None


def test_is_tensor():
    assert ts.is_tensor(ts.zeros(1)) and not ts.is_tensor(np.zeros(1)) and not ts.is_tensor([1])


def test_rand_like():
    x = ts.zeros(200, 50, dtype=ts.float64)
    r, n = ts.rand_like(x), ts.randn_like(x)
    assert r.shape == n.shape == x.shape and r.dtype == n.dtype == ts.float64
    a, b = N(r), N(n)
    assert a.min() >= 0 and a.max() < 1 and abs(a.mean() - 0.5) < 0.02
    assert abs(b.mean()) < 0.03 and abs(b.std() - 1) < 0.03
    assert ts.randn_like(x, dtype=ts.float32).dtype == ts.float32
    assert ts.rand_like(x, requires_grad=True).requires_grad
    ts.manual_seed(3)
    u = N(ts.randn_like(x))
    ts.manual_seed(3)
    assert (N(ts.randn_like(x)) == u).all()
    with pytest.raises(TypeError):
        ts.randn_like([1.0])


# ---------------------------------------------------------------- isclose / allclose

def test_isclose_matches_numpy():
    a = np.array([1.0, 1.0 + 1e-6, 1.0 + 1e-3, inf, -inf, inf, nan, 0.0, 1e-9])
    b = np.array([1.0, 1.0, 1.0, inf, inf, 1.0, nan, 1e-9, 0.0])
    for kw in (dict(), dict(rtol=1e-2, atol=0.0), dict(equal_nan=True)):
        got = ts.isclose(ts.tensor(a), ts.tensor(b), **kw)
        assert got.dtype == ts.bool
        assert got.tolist() == np.isclose(a, b, **kw).tolist()
    assert ts.allclose(ts.tensor(a[:2]), ts.tensor(b[:2])) is True
    assert ts.allclose(ts.tensor(a), ts.tensor(b)) is False
    assert ts.allclose(ts.tensor([1., nan]), ts.tensor([1., nan]), equal_nan=True)
    # broadcasting, integers, promotion
    assert ts.isclose(ts.tensor([[1.0], [2.0]]), ts.tensor([1.0, 2.0])).tolist() == [[True, False], [False, True]]
    assert ts.isclose(ts.tensor([1, 2]), ts.tensor([1, 3])).tolist() == [True, False]
    assert ts.isclose(ts.tensor([10, 20]), ts.tensor([11, 20]), rtol=0.1, atol=0).tolist() == [True, True]
    assert ts.allclose(ts.tensor([1, 2]), ts.tensor([1.0, 2.0]))
    assert ts.tensor([1.0]).allclose(ts.tensor([1.0 + 1e-9]))
    with pytest.raises(ValueError, match="rtol"):
        ts.isclose(ts.ones(1), ts.ones(1), rtol=-1)
    with pytest.raises(ValueError):
        ts.allclose(ts.ones(2), ts.ones(3))


# ---------------------------------------------------------------- meshgrid / diag

def test_meshgrid_matches_numpy():
    a, b, c = np.arange(2.), np.arange(3.) + 10, np.arange(4.) - 5
    for indexing in ("ij", "xy"):
        got = ts.meshgrid(ts.tensor(a), ts.tensor(b), ts.tensor(c), indexing=indexing)
        want = np.meshgrid(a, b, c, indexing=indexing)
        assert isinstance(got, tuple) and len(got) == 3
        for g, w in zip(got, want):
            assert g.shape == w.shape and (N(g) == w).all()
    got = ts.meshgrid([ts.tensor(a), ts.tensor(b)], indexing="xy")  # a list works too
    assert [g.shape for g in got] == [(3, 2), (3, 2)]
    g = ts.meshgrid(ts.tensor(3), ts.arange(2), indexing="ij")  # 0-d counts as one element
    assert g[0].shape == (1, 2) and g[0].tolist() == [[3, 3]]


def test_meshgrid_warns_without_indexing_and_checks_input():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        g = ts.meshgrid(ts.arange(2), ts.arange(3))
    assert [x.shape for x in g] == [(2, 3), (2, 3)]  # 'ij'
    assert len(w) == 1 and w[0].category is UserWarning and "indexing" in str(w[0].message)
    with pytest.raises(ValueError, match="indexing"):
        ts.meshgrid(ts.arange(2), indexing="foo")
    with pytest.raises(ValueError, match="0-d or 1-d"):
        ts.meshgrid(ts.zeros(2, 2), indexing="ij")
    with pytest.raises(TypeError):
        ts.meshgrid(ts.arange(2), ts.arange(2.), indexing="ij")


def test_meshgrid_gradient():
    x = ts.tensor([1., 2.], dtype=ts.float64, requires_grad=True)
    y = ts.tensor([3., 4., 5.], dtype=ts.float64, requires_grad=True)
    def f(a, b):
        gx, gy = ts.meshgrid(a, b, indexing="xy")
        return gx * gy
    assert ts.autograd.gradcheck(f, (x, y))


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_diag_matches_numpy(k):
    v = np.array([1.5, -2.0, 3.0])
    m = np.arange(12.).reshape(3, 4)
    d = ts.diag(ts.tensor(v), k)
    assert d.shape == np.diag(v, k).shape and (N(d) == np.diag(v, k)).all()
    assert N(ts.diag(ts.tensor(m), k)).tolist() == np.diag(m, k).tolist()
    assert ts.diag(ts.tensor([1, 2]), k).dtype == ts.int64


def test_diag_copies_checks_and_differentiates():
    m = ts.zeros(2, 2)
    d = ts.diag(m)
    d[0] = 5.0
    assert m[0, 0].item() == 0.0  # a new tensor, not a view
    with pytest.raises(ValueError, match="1-d or 2-d"):
        ts.diag(ts.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="1-d or 2-d"):
        ts.diag(ts.tensor(1.0))
    v = ts.tensor([1., 2., 3.], dtype=ts.float64, requires_grad=True)
    assert ts.autograd.gradcheck(lambda a: ts.diag(a, 1) * 2.0, (v,))
    assert ts.autograd.gradcheck(lambda a: ts.diag(ts.diag(a)), (v,))


# ---------------------------------------------------------------- cdist

def _cdist_np(a, b, p):
    d = a[..., :, None, :] - b[..., None, :, :]
    if p == 0:
        return (d != 0).sum(-1).astype(np.float64)
    if p == inf:
        return np.abs(d).max(-1)
    return (np.abs(d) ** p).sum(-1) ** (1.0 / p)


@pytest.mark.parametrize("p", [0, 0.5, 1, 1.5, 2, 3, inf])
def test_cdist_matches_numpy(p):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    got = ts.cdist(ts.tensor(a), ts.tensor(b), p=p)
    assert got.shape == (4, 5) and got.dtype == ts.float64
    np.testing.assert_allclose(N(got), _cdist_np(a, b, p), rtol=1e-12, atol=1e-12)


def test_cdist_batched_and_mm_path():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 1, 30, 4)), rng.normal(size=(3, 40, 4))
    want = _cdist_np(a, b, 2)
    for mode in ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        got = ts.cdist(ts.tensor(a), ts.tensor(b), compute_mode=mode)
        assert got.shape == (2, 3, 30, 40)
        np.testing.assert_allclose(N(got), want, rtol=1e-10, atol=1e-10)
    f = ts.cdist(ts.tensor(a, dtype=ts.float32), ts.tensor(b, dtype=ts.float32), p=1)
    assert f.dtype == ts.float32
    np.testing.assert_allclose(N(f), _cdist_np(a, b, 1), rtol=1e-5, atol=1e-5)


def test_cdist_gradient():
    rng = np.random.default_rng(2)
    a = ts.tensor(rng.normal(size=(2, 3, 2)), requires_grad=True)
    b = ts.tensor(rng.normal(size=(2, 4, 2)), requires_grad=True)
    for p in (1.5, 2.0, 3.0):
        assert ts.autograd.gradcheck(lambda x, y: ts.cdist(x, y, p=p), (a, b))
    assert ts.autograd.gradcheck(lambda x, y: ts.cdist(x, y, compute_mode="use_mm_for_euclid_dist"), (a, b))


def test_cdist_zero_distance_has_zero_gradient():
    # PyTorch gives a zero subgradient at distance 0 (values from torch.cdist(...).sum().backward())
    a = ts.tensor([[0., 0.], [1., 1.]], requires_grad=True)
    b = ts.tensor([[0., 0.], [3., 4.], [1., 1.]])
    ts.cdist(a, b).sum().backward()
    np.testing.assert_allclose(N(a.grad), [[-1.3071, -1.5071], [0.1524, -0.1249]], atol=1e-4)
    assert np.isfinite(N(a.grad)).all()


def test_cdist_errors():
    a = ts.zeros(2, 2)
    with pytest.raises(ValueError, match="columns"):
        ts.cdist(a, ts.zeros(2, 3))
    with pytest.raises(ValueError, match="non-negative"):
        ts.cdist(a, a, p=-1)
    with pytest.raises(ValueError, match="2 dims"):
        ts.cdist(ts.zeros(3), a)
    with pytest.raises(TypeError, match="floating"):
        ts.cdist(ts.zeros(2, 2, dtype=ts.int64), ts.zeros(2, 2, dtype=ts.int64))
    with pytest.raises(ValueError, match="compute_mode"):
        ts.cdist(a, a, compute_mode="fast")


# ---------------------------------------------------------------- bincount / median / mode

def test_bincount_matches_numpy():
    x = np.array([0, 1, 1, 3, 7, 3, 3])
    w = np.array([0.5, 0.25, 1.0, 2.0, -1.0, 0.125, 3.0])
    got = ts.bincount(ts.tensor(x))
    assert got.dtype == ts.int64 and got.tolist() == np.bincount(x).tolist()
    assert ts.bincount(ts.tensor(x), minlength=10).tolist() == np.bincount(x, minlength=10).tolist()
    gw = ts.bincount(ts.tensor(x), weights=ts.tensor(w))
    assert gw.dtype == ts.float64 and N(gw).tolist() == np.bincount(x, w).tolist()
    assert ts.bincount(ts.tensor(x), weights=ts.tensor(w, dtype=ts.float32)).dtype == ts.float32
    assert ts.bincount(ts.tensor(x), weights=ts.tensor(x)).dtype == ts.float64  # integer weights
    assert ts.bincount(ts.tensor(x, dtype=ts.uint8)).tolist() == np.bincount(x).tolist()
    assert ts.bincount(ts.tensor([], dtype=ts.int64)).shape == (0,)
    assert ts.bincount(ts.tensor([], dtype=ts.int64), minlength=3).tolist() == [0, 0, 0]
    assert ts.tensor(x).bincount().tolist() == np.bincount(x).tolist()


def test_bincount_errors():
    with pytest.raises(ValueError, match="non-negative"):
        ts.bincount(ts.tensor([-1, 2]))
    with pytest.raises(ValueError, match="1-d"):
        ts.bincount(ts.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="integers"):
        ts.bincount(ts.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="minlength"):
        ts.bincount(ts.tensor([1, 2]), minlength=-1)
    with pytest.raises(ValueError, match="weights"):
        ts.bincount(ts.tensor([1, 2]), weights=ts.tensor([1.0]))


def _lower_median(a, axis):
    s = np.sort(a, axis=axis)
    return np.take(s, (a.shape[axis] - 1) // 2, axis=axis)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_median_matches_numpy(dim, keepdim):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 6))
    r = ts.median(ts.tensor(a), dim, keepdim=keepdim)
    want = _lower_median(a, dim)
    if keepdim:
        want = np.expand_dims(want, dim)
    assert r.values.shape == want.shape and r.indices.shape == want.shape
    assert (N(r.values) == want).all()
    # the index points at the median value
    idx = r.indices if keepdim else r.indices.unsqueeze(dim)
    assert (N(ts.tensor(a).gather(dim % 2, idx)) == N(r.values if keepdim else r.values.unsqueeze(dim))).all()


def test_median_whole_tensor_nan_and_grad():
    a = np.array([[1., 4., 2., 3.], [5., 9., 1., 0.]])
    assert ts.median(ts.tensor(a)).item() == _lower_median(a.reshape(-1), 0) and ts.tensor(a).median().dim() == 0
    # NaN propagates, at the first NaN's index (as torch.median([[1,4,2,3],[5,nan,1,0]], 1))
    r = ts.median(ts.tensor([[1., 4., 2., 3.], [5., nan, 1., nan]]), 1)
    assert r.values[0].item() == 2.0 and math.isnan(r.values[1].item()) and r.indices.tolist() == [2, 1]
    assert math.isnan(ts.median(ts.tensor([1., nan, 2.])).item())
    assert ts.median(ts.tensor([3, 1, 2])).item() == 2
    assert ts.median(ts.tensor(5.0), 0).values.item() == 5.0
    x = ts.tensor(np.random.default_rng(4).normal(size=(3, 5)), requires_grad=True)
    assert ts.autograd.gradcheck(lambda t: ts.median(t, 1).values, (x,))
    with pytest.raises(IndexError):
        ts.median(ts.zeros(2, 3), 2)
    with pytest.raises(IndexError, match="size 0"):
        ts.median(ts.zeros(2, 0), 1)


def test_mode_matches_expectations():
    # ties go to the smallest value; the index is the value's last occurrence (as torch.mode)
    r = ts.mode(ts.tensor([[1, 2, 2, 3, 3, 0], [5, 5, 1, 1, 0, 9]]), 1)
    assert r.values.tolist() == [2, 1] and r.indices.tolist() == [2, 3]
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, size=(5, 7))
    r = ts.mode(ts.tensor(a), 0, keepdim=True)
    assert r.values.shape == (1, 7)
    for j in range(7):
        vals, counts = np.unique(a[:, j], return_counts=True)
        v = vals[counts == counts.max()].min()
        assert r.values[0, j].item() == v and r.indices[0, j].item() == np.nonzero(a[:, j] == v)[0].max()
    r = ts.mode(ts.tensor([1., nan, nan, 2.]))  # NaN != NaN: each NaN counts once
    assert r.values.item() == 1.0 and r.indices.item() == 0
    assert ts.tensor([4., 4., 1.]).mode().values.item() == 4.0


# ---------------------------------------------------------------- set_printoptions

@pytest.fixture
def printoptions():
    yield
    ts.set_printoptions(profile="default")


# expected strings produced by torch.set_printoptions(...) and repr(torch.tensor(...)), 'torch.' -> 'tessel.'
@pytest.mark.parametrize("opts, make, expected", [
    (dict(precision=2), lambda: ts.tensor([1.12345, 2.5]), "tensor([1.12, 2.50])"),
    (dict(precision=2), lambda: ts.tensor([1e-5, 1.0]), "tensor([1.00e-05, 1.00e+00])"),
    (dict(threshold=5), lambda: ts.arange(10), "tensor([0, 1, 2,  ..., 7, 8, 9])"),
    (dict(sci_mode=True), lambda: ts.tensor([1.5, 2.]), "tensor([1.5000e+00, 2.0000e+00])"),
    (dict(sci_mode=False), lambda: ts.tensor([1e-5, 1e5]), "tensor([     0.0000, 100000.0000])"),
    (dict(profile="short"), lambda: ts.tensor([1.23456]), "tensor([1.23])"),
    (dict(profile="short"), lambda: ts.arange(3000.),
     "tensor([0.00e+00, 1.00e+00,  ..., 3.00e+03, 3.00e+03])"),
    (dict(linewidth=30), lambda: ts.arange(20.),
     "tensor([ 0.,  1.,  2.,  3.,\n         4.,  5.,  6.,  7.,\n         8.,  9., 10., 11.,\n"
     "        12., 13., 14., 15.,\n        16., 17., 18., 19.])"),
    (dict(edgeitems=1), lambda: ts.arange(2000.).reshape(40, 50),
     "tensor([[   0.,  ...,   49.],\n        ...,\n        [1950.,  ..., 1999.]])"),
    (dict(precision=0), lambda: ts.tensor([1.6, 2.2]), "tensor([2, 2])"),
])
def test_set_printoptions_matches_torch(printoptions, opts, make, expected):
    ts.set_printoptions(**opts)
    assert repr(make()) == expected


def test_printoptions_profiles_and_reset(printoptions):
    ts.set_printoptions(profile="full")
    assert "..." not in repr(ts.arange(3000)) and ts.get_printoptions()["threshold"] == inf
    ts.set_printoptions(profile="short", precision=3)  # explicit values override the profile
    assert ts.get_printoptions()["precision"] == 3 and ts.get_printoptions()["edgeitems"] == 2
    ts.set_printoptions(linewidth=100)  # other values are kept
    assert ts.get_printoptions()["precision"] == 3
    ts.set_printoptions(profile="default")
    assert ts.get_printoptions() == dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)
    assert repr(ts.tensor([1.12345])) == "tensor([1.1235])" and "..." in repr(ts.arange(3000))
    with pytest.raises(ValueError, match="profile"):
        ts.set_printoptions(profile="long")
    with pytest.raises(ValueError, match="precision"):
        ts.set_printoptions(precision=-1)
    with pytest.raises(ValueError, match="sci_mode"):
        ts.set_printoptions(sci_mode="yes")


# ---------------------------------------------------------------- ts.testing.assert_close

def _fails(actual, expected, **kw):
    with pytest.raises(AssertionError) as e:
        ts.testing.assert_close(actual, expected, **kw)
    return str(e.value)


def test_assert_close_passes_within_default_tolerances():
    ac = ts.testing.assert_close
    ac(ts.tensor([1., 2.]), ts.tensor([1., 2. + 1e-6]))  # float32: rtol 1.3e-6, atol 1e-5
    ac(ts.tensor([1., 2.], dtype=ts.float16), ts.tensor([1., 2.002], dtype=ts.float16))
    ac(ts.tensor([1., 2.], dtype=ts.float64), ts.tensor([1., 2. + 1e-7], dtype=ts.float64))
    ac(ts.tensor([inf, -inf]), ts.tensor([inf, -inf]))
    ac(ts.tensor([1., nan]), ts.tensor([1., nan]), equal_nan=True)
    ac(np.array([1., 2.]), np.array([1., 2.]))
    ac(1.0, 1.0 + 1e-8)
    ac(np.float64(1.0), 1.0)
    ac(ts.tensor([1., 2.]), ts.tensor([1, 2], dtype=ts.float64), check_dtype=False)
    ac(ts.tensor([1., 2.]), ts.tensor([1., 2.1]), rtol=0.1, atol=0.0)
    ac([ts.tensor(1.), {"k": (ts.tensor([2.]), 3)}], [ts.tensor(1.), {"k": [ts.tensor([2.]), 3]}])
    ac(ts.tensor([1.], requires_grad=True) * 1, ts.tensor([1.]))
    ac(None, None)


def test_assert_close_message_matches_torch():
    # messages produced by torch.testing.assert_close on the same inputs ('torch.' -> 'tessel.'),
    # except the difference values, which tessel computes in float64
    msg = _fails(ts.tensor([[1., 2.], [3., 4.]]), ts.tensor([[1., 2.], [3.5, 4.5]]))
    assert msg == ("Tensor-likes are not close!\n\nMismatched elements: 2 / 4 (50.0%)\n"
                   "Greatest absolute difference: 0.5 at index (1, 0) (up to 1e-05 allowed)\n"
                   "Greatest relative difference: 0.14285714285714285 at index (1, 0) (up to 1.3e-06 allowed)")
    msg = _fails(ts.tensor([1, 2]), ts.tensor([1, 3]))
    assert msg == ("Tensor-likes are not equal!\n\nMismatched elements: 1 / 2 (50.0%)\n"
                   "Greatest absolute difference: 1 at index (1,)\n"
                   "Greatest relative difference: 0.3333333333333333 at index (1,)")
    msg = _fails(1.0, 1.5)
    assert msg == ("Scalars are not close!\n\nExpected 1.5 but got 1.0.\n"
                   "Absolute difference: 0.5 (up to 1e-07 allowed)\nRelative difference: 0.3333333333333333 "
                   "(up to 1e-07 allowed)")
    assert _fails(1, 2) == \
        "Scalars are not equal!\n\nExpected 2 but got 1.\nAbsolute difference: 1\nRelative difference: 0.5"
    msg = _fails(ts.tensor(1.), ts.tensor(2.))
    assert msg.startswith("Scalars are not close!\n\nExpected 2.0 but got 1.0.\nAbsolute difference: 1.0 (up to 1e-05")
    msg = _fails(ts.tensor([1., nan]), ts.tensor([1., 2.]))
    assert "Greatest absolute difference: nan at index (1,)" in msg
    assert _fails(ts.tensor([1., 2.]), ts.tensor([1., 2.], dtype=ts.float64)) == \
        "The values for attribute 'dtype' do not match: tessel.float32 != tessel.float64."
    assert _fails(ts.tensor([1., 2.]), ts.tensor([1., 2., 3.])) == \
        "The values for attribute 'shape' do not match: tessel.Size([2]) != tessel.Size([3])."
    assert _fails(ts.zeros(2, 3).t(), ts.zeros(3, 2), check_stride=True) == \
        "The values for attribute 'stride()' do not match: (1, 3) != (2, 1)."
    assert _fails(1, 1.0) == "The (d)types do not match: <class 'int'> != <class 'float'>."
    assert _fails([1, 2], [1, 2, 3]) == "The length of the sequences mismatch: 2 != 3"
    assert _fails({"a": 1, "b": 2}, {"b": 2, "c": 3, "d": 1}) == (
        "The keys of the mappings do not match:\nMissing keys in the actual mapping: ['c', 'd']\n"
        "Additional keys in the actual mapping: ['a']")
    msg = _fails([ts.tensor(1.), {"k": [ts.tensor(2.)]}], [ts.tensor(1.), {"k": [ts.tensor(3.)]}])
    assert msg.endswith("\n\nThe failure occurred for item [1]['k'][0]")
    assert _fails(ts.tensor([1.]), ts.tensor([1.5]), msg="custom") == "custom"
    assert _fails(ts.tensor([1.]), ts.tensor([1.5]), msg=lambda m: "X " + m).startswith("X Tensor-likes")
    assert "Mismatched elements: 1 / 2" in _fails(np.array([1., 2.]), np.array([1., 2.5]))


def test_assert_close_type_errors():
    with pytest.raises(TypeError, match="No comparison pair"):
        ts.testing.assert_close(ts.tensor([1.]), np.array([1.]))
    with pytest.raises(TypeError, match="No comparison pair"):
        ts.testing.assert_close(ts.tensor(1.), 1.0)
    with pytest.raises(TypeError, match="No comparison pair"):
        ts.testing.assert_close("a", "a")
    with pytest.raises(ValueError, match="atol"):
        ts.testing.assert_close(ts.ones(1), ts.ones(1), rtol=0.1)


# ---------------------------------------------------------------- Tensor methods

def test_new_constructors():
    x = ts.tensor([[1, 2], [3, 4]], dtype=ts.int32)
    assert x.new_zeros(2, 3).shape == (2, 3) and x.new_zeros((2,)).dtype == ts.int32
    assert x.new_zeros(x.shape).shape == (2, 2) and x.new_zeros(()).shape == ()
    assert x.new_ones([1]).tolist() == [1] and x.new_empty(4).shape == (4,)
    assert x.new_full((2,), 7).tolist() == [7, 7] and x.new_full((2,), 7).dtype == ts.int32
    assert x.new_full((2,), 1.5).tolist() == [1, 1]  # the value is cast to int32, as in PyTorch
    assert x.new_tensor([1.5, 2]).tolist() == [1, 2] and x.new_tensor([1.5]).dtype == ts.int32
    assert x.new_zeros(2, dtype=ts.float64).dtype == ts.float64
    assert x.new_ones(2, dtype=ts.float32, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="floating point"):
        x.new_ones(2, requires_grad=True)  # an int32 tensor cannot require grad
    y = ts.ones(2, requires_grad=True)
    t = x.float().new_tensor(y)
    assert not t.requires_grad and t.grad_fn is None
    with pytest.raises(TypeError, match="tuple"):
        x.new_full(2, 1)
    with pytest.raises(TypeError):
        x.new_zeros(2.5)


def test_dtype_predicates_type_as_nelement():
    assert ts.zeros(1).is_floating_point() and ts.zeros(1, dtype=ts.bfloat16).is_floating_point()
    assert not ts.zeros(1, dtype=ts.int64).is_floating_point() and not ts.zeros(1).is_complex()
    assert ts.zeros(1, dtype=ts.complex64).is_complex()
    x = ts.tensor([1, 2])
    assert x.type_as(ts.zeros(1, dtype=ts.float64)).dtype == ts.float64
    assert x.type_as(ts.zeros(1, dtype=ts.float64)).tolist() == [1.0, 2.0]
    assert ts.zeros(3, 4).nelement() == 12
    assert repr(ts.float32) == str(ts.float32) == "tessel.float32" and repr(ts.int64) == "tessel.int64"


def test_clamp_min_max_and_where():
    a = np.array([-1.0, 0.5, 2.0])
    f = ts.tensor(a)
    assert N(f.clamp_min(0)).tolist() == np.maximum(a, 0).tolist()
    assert N(f.clamp_max(1)).tolist() == np.minimum(a, 1).tolist()
    assert N(ts.clamp_min(f, ts.tensor([0., 1., 0.], dtype=ts.float64))).tolist() == [0., 1., 2.]
    assert N(ts.clamp_max(f, 0.0)).tolist() == [-1.0, 0.0, 0.0]
    g = f.clone()
    assert g.clamp_min_(0) is g and N(g).tolist() == [0.0, 0.5, 2.0]
    g.clamp_max_(1)
    assert N(g).tolist() == [0.0, 0.5, 1.0]
    assert N(f.where(f > 0, ts.tensor(9.))).tolist() == np.where(a > 0, a, 9.0).tolist()
    assert N(f.where(f > 0, 9)).tolist() == [9.0, 0.5, 2.0]
    leaf = ts.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        leaf.clamp_min_(0)


def test_addcmul_addcdiv():
    rng = np.random.default_rng(6)
    a, b, c = rng.normal(size=3), rng.normal(size=(2, 3)), rng.uniform(1, 2, size=3)
    x, y, z = ts.tensor(a), ts.tensor(b), ts.tensor(c)
    np.testing.assert_allclose(N(x.addcmul(y, z, value=0.5)), a + 0.5 * b * c, rtol=1e-15)
    np.testing.assert_allclose(N(ts.addcmul(x, y, z)), a + b * c, rtol=1e-15)
    np.testing.assert_allclose(N(x.addcdiv(y, z, value=2)), a + 2 * b / c, rtol=1e-15)
    np.testing.assert_allclose(N(ts.addcdiv(x, y, z)), a + b / c, rtol=1e-15)
    w = ts.tensor(b)
    v0 = w._version
    assert w.addcmul_(y, z, value=-1) is w and w._version > v0
    np.testing.assert_allclose(N(w), b - b * c, rtol=1e-15)
    w.addcdiv_(y, z)
    np.testing.assert_allclose(N(w), b - b * c + b / c, rtol=1e-13)
    # integers: addcmul with an integer value keeps the dtype, addcdiv of integers is refused
    i = ts.ones(3, dtype=ts.int64)
    assert i.addcmul(ts.tensor([1, 2, 3]), ts.tensor([2, 2, 2]), value=2).tolist() == [5, 9, 13]
    with pytest.raises(TypeError, match="integer"):
        i.addcdiv(ts.tensor([1, 2, 3]), ts.tensor([2, 2, 2]))
    with pytest.raises(TypeError, match="value"):
        i.addcmul(ts.tensor([1, 2, 3]), ts.tensor([2, 2, 2]), value=0.5)
    with pytest.raises((TypeError, RuntimeError)):
        i.addcmul_(ts.tensor([1., 2., 3.]), ts.tensor([2, 2, 2]))  # float result into an int tensor
    with pytest.raises((ValueError, RuntimeError)):
        ts.ones(1).addcmul_(ts.ones(3), ts.ones(3))  # the result does not fit self's shape


def test_addcmul_addcdiv_gradients_and_inplace_autograd():
    rng = np.random.default_rng(7)
    args = [ts.tensor(rng.uniform(1, 2, size=(2, 3)), requires_grad=True) for _ in range(3)]
    assert ts.autograd.gradcheck(lambda a, b, c: ts.addcmul(a, b, c, value=0.3), args)
    assert ts.autograd.gradcheck(lambda a, b, c: ts.addcdiv(a, b, c, value=-2), args)
    assert ts.autograd.gradcheck(lambda a, b, c: (a * 1).addcdiv_(b, c, value=0.7), args)
    leaf = ts.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        leaf.addcmul_(ts.ones(3), ts.ones(3))
    # a tensor saved for backward, then changed in place: backward reports it
    x = ts.ones(3, requires_grad=True)
    y = x * 2
    z = y * y
    y.addcmul_(ts.ones(3), ts.ones(3))
    with pytest.raises(RuntimeError):
        z.sum().backward()


def test_swapaxes_swapdims_movedim():
    a = np.arange(120.).reshape(2, 3, 4, 5)
    x = ts.tensor(a)
    assert N(x.swapaxes(0, 2)).tolist() == np.swapaxes(a, 0, 2).tolist()
    assert N(ts.swapdims(x, 1, -1)).tolist() == np.swapaxes(a, 1, -1).tolist()
    assert N(ts.swapaxes(x, 3, 0)).tolist() == np.swapaxes(a, 3, 0).tolist()
    for src, dst in [(0, -1), (-1, 0), ((0, 1), (2, 3)), ((0, 3), (3, 0)), ((1, 2), (0, 1)), ([], [])]:
        want = np.moveaxis(a, src, dst)
        assert N(x.movedim(src, dst)).tolist() == want.tolist()
        assert N(ts.moveaxis(x, src, dst)).tolist() == want.tolist()
    with pytest.raises(ValueError, match="repeated"):
        x.movedim((0, 0), (1, 2))
    with pytest.raises(ValueError, match="same number"):
        x.movedim((0, 1), (1,))
    with pytest.raises(IndexError, match="out of range"):
        x.movedim(4, 0)
