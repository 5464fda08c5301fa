"""View ops against NumPy: values, shapes, strides, and storage sharing."""
import numpy as np
import pytest

import tessel as ts
from conftest import to_numpy

rng = np.random.default_rng(99)


def arr(shape, dtype=np.float64):
    """A NumPy array of distinct values and the matching tessel tensor."""
    n = int(np.prod(shape))
    a = (np.arange(n, dtype=np.float64) + rng.random(n).round(3)).reshape(shape).astype(dtype)
    return a, ts.tensor(a)


def np_of(t):
    return to_numpy(t)


def check(t, ref):
    ref = np.asarray(ref)
    assert tuple(t.shape) == ref.shape, (t.shape, ref.shape)
    np.testing.assert_array_equal(np_of(t), ref)


def np_strides(a):
    return tuple(s // a.itemsize for s in a.strides)


def shares(view, base):
    """Writing through the view changes base (tests storage sharing by effect)."""
    before = base.clone()
    view.fill_(-12345)
    changed = (base != before).sum().item()
    base.copy_(before)
    return changed > 0


# ---------------------------------------------------------------- basic attributes

def test_attributes():
    a, t = arr((2, 3, 4))
    assert t.shape == (2, 3, 4)
    assert t.size() == (2, 3, 4)
    assert t.size(1) == 3 and t.size(-1) == 4
    assert t.stride() == (12, 4, 1)
    assert t.stride(0) == 12 and t.stride(-1) == 1
    assert t.numel() == 24
    assert t.dim() == 3 and t.ndim == 3
    assert len(t) == 2
    assert t.is_contiguous()
    assert t.storage_offset() == 0
    assert t.element_size() == 8


def test_len_of_0d_raises():
    with pytest.raises(TypeError):
        len(ts.tensor(1.0))


def test_iteration():
    a, t = arr((3, 2))
    rows = list(t)
    assert len(rows) == 3
    for r, ra in zip(rows, a):
        check(r, ra)
    assert [x.item() for x in ts.tensor([5, 6, 7])] == [5, 6, 7]
    with pytest.raises(TypeError):
        iter(ts.tensor(1.0)).__next__()


def test_item_and_tolist():
    assert ts.tensor(2.5).item() == 2.5
    assert isinstance(ts.tensor(3).item(), int)
    assert isinstance(ts.tensor(3.0).item(), float)
    assert isinstance(ts.tensor(True).item(), bool)
    assert isinstance(ts.tensor(1j).item(), complex)
    assert ts.tensor([[7]]).item() == 7  # one element of any shape
    assert ts.tensor(4).tolist() == 4
    a, t = arr((2, 3, 2))
    assert t.tolist() == a.tolist()
    assert ts.zeros(2, 0).tolist() == [[], []]


# ---------------------------------------------------------------- view / reshape

@pytest.mark.parametrize("src, dst", [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1)),
                                      ((24,), (2, -1, 3)), ((2, 3, 4), (24,)), ((1,), ()),
                                      ((2, 3, 4), (2, 1, 3, 1, 4)), ((0, 3), (3, 0)), ((0, 3), (-1, 3))])
def test_view_reshape(src, dst):
    a, t = arr(src)
    ref = a.reshape(dst)
    v = t.view(*dst) if dst else t.view(())
    check(v, ref)
    assert v.stride() == np_strides(ref)
    check(t.view(dst), ref)
    check(t.reshape(*dst) if dst else t.reshape(()), ref)
    check(t.reshape(dst), ref)
    if t.numel():
        assert shares(v, t)


def test_view_infers_and_rejects():
    _, t = arr((2, 3, 4))
    with pytest.raises((RuntimeError, ValueError)):
        t.view(-1, -1)
    with pytest.raises((RuntimeError, ValueError)):
        t.view(5, 5)
    with pytest.raises((RuntimeError, ValueError)):
        t.reshape(7, -1)


def test_view_on_transposed_raises_reshape_copies():
    a, t = arr((3, 4))
    tt = t.t()
    assert not tt.is_contiguous()
    with pytest.raises((RuntimeError, ValueError)):
        tt.view(12)
    r = tt.reshape(12)
    check(r, a.T.reshape(12))
    assert r.is_contiguous()
    # reshape copied: writing to it does not touch the base
    r.fill_(0)
    check(t, a)


def test_view_noncontiguous_compatible():
    # splitting/merging dims that are contiguous among themselves is a view even when the tensor is not
    a, t = arr((4, 6, 5))
    s = t[:, :, 1:3]  # non-contiguous
    v = s.view(24, 2)
    check(v, a[:, :, 1:3].reshape(24, 2))
    assert shares(v, t)
    p = t.permute(2, 0, 1)  # (5, 4, 6) strides (1, 30, 5)
    v = p.view(5, 24)
    check(v, a.transpose(2, 0, 1).reshape(5, 24))
    assert v.stride() == (1, 5)


def test_reshape_is_view_when_possible():
    _, t = arr((4, 6))
    r = t.reshape(2, 12)
    assert shares(r, t)


def test_view_as_reshape_as():
    a, t = arr((2, 6))
    o = ts.zeros(3, 4)
    check(t.view_as(o), a.reshape(3, 4))
    check(t.reshape_as(o), a.reshape(3, 4))


# ---------------------------------------------------------------- permute / transpose

@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0), (-1, 0, -2)])
def test_permute(perm):
    a, t = arr((2, 3, 4))
    p = t.permute(*perm)
    ref = a.transpose(perm)
    check(p, ref)
    assert p.stride() == np_strides(ref)
    check(t.permute(perm), ref)
    assert shares(p, t)


def test_permute_bad():
    _, t = arr((2, 3, 4))
    with pytest.raises((RuntimeError, ValueError, IndexError)):
        t.permute(0, 0, 1)
    with pytest.raises((RuntimeError, ValueError, IndexError)):
        t.permute(0, 1)
    with pytest.raises(IndexError):
        t.permute(0, 1, 3)


def test_transpose_t_mT_T():
    a, t = arr((2, 3, 4))
    check(t.transpose(0, 2), a.swapaxes(0, 2))
    check(t.transpose(-1, -2), a.swapaxes(-1, -2))
    check(t.transpose(1, 1), a)
    check(t.mT, a.swapaxes(-1, -2))
    assert t.mT.stride() == (12, 1, 4)
    b, u = arr((3, 5))
    check(u.t(), b.T)
    check(u.T, b.T)
    check(u.mT, b.T)
    assert u.t().stride() == (1, 5)
    v, vt = arr((4,))
    check(vt.t(), v)  # t() of 1-d is itself
    check(ts.tensor(2.0).t(), np.array(2.0))
    with pytest.raises((RuntimeError, ValueError)):
        t.t()  # t() needs <= 2 dims
    with pytest.raises((RuntimeError, ValueError, IndexError)):
        vt.mT  # mT needs >= 2 dims
    with pytest.raises(IndexError):
        t.transpose(0, 3)


def test_T_reverses_dims():
    # Tensor.T on ndim != 2 is deprecated in PyTorch but still reverses all dims
    a, t = arr((2, 3, 4))
    check(t.T, a.T)


# ---------------------------------------------------------------- squeeze / unsqueeze

def test_squeeze():
    a, t = arr((1, 3, 1, 4, 1))
    check(t.squeeze(), a.squeeze())
    check(t.squeeze(0), a.squeeze(0))
    check(t.squeeze(-1), a.squeeze(-1))
    check(t.squeeze(1), a)  # size != 1: unchanged
    check(t.squeeze((0, 2)), a.squeeze((0, 2)))
    assert shares(t.squeeze(), t)
    check(ts.tensor([5.0]).squeeze(), np.array(5.0))
    with pytest.raises(IndexError):
        t.squeeze(5)


@pytest.mark.parametrize("d", [0, 1, 2, 3, -1, -2, -4])
def test_unsqueeze(d):
    a, t = arr((2, 3, 4))
    u = t.unsqueeze(d)
    ref = np.expand_dims(a, d)
    check(u, ref)
    assert shares(u, t)


def test_unsqueeze_bad():
    _, t = arr((2, 3))
    with pytest.raises(IndexError):
        t.unsqueeze(3)
    with pytest.raises(IndexError):
        t.unsqueeze(-4)
    check(ts.tensor(1.0).unsqueeze(0), np.array([1.0], np.float32))


# ---------------------------------------------------------------- expand / broadcast_to

def test_expand():
    a, t = arr((3, 1))
    e = t.expand(3, 4)
    check(e, np.broadcast_to(a, (3, 4)))
    assert e.stride() == (1, 0)
    e2 = t.expand(2, -1, 5)
    check(e2, np.broadcast_to(a, (2, 3, 5)))
    assert e2.stride() == (0, 1, 0)
    check(t.expand((3, 4)), np.broadcast_to(a, (3, 4)))
    assert not e.is_contiguous()
    with pytest.raises((RuntimeError, ValueError)):
        t.expand(4, 4)
    with pytest.raises((RuntimeError, ValueError)):
        t.expand(4)  # fewer dims than the tensor


def test_expand_as_and_broadcast_to():
    a, t = arr((4,))
    o = ts.zeros(2, 3, 4)
    check(t.expand_as(o), np.broadcast_to(a, (2, 3, 4)))
    b = ts.broadcast_to(t, (3, 4))
    check(b, np.broadcast_to(a, (3, 4)))
    assert b.stride() == (0, 1)
    check(t.broadcast_to((2, 4)), np.broadcast_to(a, (2, 4)))
    with pytest.raises((RuntimeError, ValueError)):
        ts.broadcast_to(t, (3, 5))


def test_expand_writes_visible():
    t = ts.zeros(1, 3)
    e = t.expand(4, 3)
    t.fill_(2.0)
    assert e.tolist() == [[2.0] * 3] * 4
    # contiguous() of an expanded tensor materializes the values
    c = e.contiguous()
    assert c.is_contiguous() and c.stride() == (3, 1)
    check(c, np.full((4, 3), 2.0, np.float32))


def test_broadcast_shapes():
    assert tuple(ts.broadcast_shapes((2, 1, 3), (4, 1))) == np.broadcast_shapes((2, 1, 3), (4, 1))
    with pytest.raises((RuntimeError, ValueError)):
        ts.broadcast_shapes((2, 3), (4,))


# ---------------------------------------------------------------- flatten / unflatten

@pytest.mark.parametrize("start, end", [(0, -1), (1, 2), (0, 1), (2, 3), (1, -1), (3, 3)])
def test_flatten(start, end):
    a, t = arr((2, 3, 4, 5))
    f = t.flatten(start, end)
    s, e = start % 4, end % 4
    ref = a.reshape(a.shape[:s] + (-1,) + a.shape[e + 1:])
    check(f, ref)
    assert shares(f, t)


def test_flatten_defaults_and_0d():
    a, t = arr((2, 3, 4))
    check(t.flatten(), a.reshape(-1))
    check(t.flatten(1), a.reshape(2, -1))
    check(t.permute(2, 1, 0).flatten(), a.transpose(2, 1, 0).reshape(-1))


def test_flatten_0d():
    f = ts.tensor(3.0).flatten()
    assert f.shape == (1,)  # 0-d flattens to 1-d in PyTorch
    assert f.tolist() == [3.0]


def test_view_0d_as_1():
    t = ts.tensor(3.0)
    assert t.view(1).shape == (1,)
    assert t.view(-1).shape == (1,)
    assert t.reshape(1, 1).tolist() == [[3.0]]
    assert t.view(1, 1, 1).shape == (1, 1, 1)


def test_unflatten():
    a, t = arr((2, 12, 5))
    check(t.unflatten(1, (3, 4)), a.reshape(2, 3, 4, 5))
    check(t.unflatten(1, (-1, 2)), a.reshape(2, 6, 2, 5))
    check(t.unflatten(-1, (5, 1)), a.reshape(2, 12, 5, 1))
    assert shares(t.unflatten(1, (3, 4)), t)
    with pytest.raises((RuntimeError, ValueError)):
        t.unflatten(1, (5, 3))


# ---------------------------------------------------------------- select / narrow

def test_select():
    a, t = arr((3, 4, 5))
    for d in range(-3, 3):
        for i in (0, 1, -1):
            check(t.select(d, i), np.take(a, i, axis=d))
    s = t.select(1, 2)
    assert s.stride() == (20, 1)
    assert s.storage_offset() == 10
    assert shares(s, t)
    with pytest.raises(IndexError):
        t.select(1, 4)
    with pytest.raises(IndexError):
        t.select(1, -5)
    with pytest.raises(IndexError):
        t.select(3, 0)


def test_narrow():
    a, t = arr((5, 6))
    check(t.narrow(0, 1, 3), a[1:4])
    check(t.narrow(1, 2, 4), a[:, 2:6])
    check(t.narrow(-1, 0, 0), a[:, 0:0])
    check(t.narrow(1, -3, 2), a[:, 3:5])  # negative start wraps
    n = t.narrow(1, 2, 3)
    assert n.storage_offset() == 2
    assert shares(n, t)
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        t.narrow(0, 3, 3)


def test_chained_views_storage_offset():
    a, t = arr((4, 5, 6))
    v = t[1:, ::2, 3].narrow(0, 1, 2).select(1, 1)
    check(v, a[1:, ::2, 3][1:3][:, 1])
    assert v.storage_offset() == (2 * 30 + 2 * 6 + 3)
    assert v.stride() == (30,)


# ---------------------------------------------------------------- diagonal

@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 4), (3, 4, 5)])
@pytest.mark.parametrize("offset", [0, 1, -1, 2, -3, 7])
def test_diagonal(shape, offset):
    a, t = arr(shape)
    nd = len(shape)
    for d1, d2 in [(0, 1), (1, 0), (-1, -2), (0, nd - 1)]:
        if d1 % nd == d2 % nd:
            continue
        ref = np.diagonal(a, offset, d1, d2)
        check(t.diagonal(offset, d1, d2), ref)
        check(t.diagonal(offset=offset, dim1=d1, dim2=d2), ref)
    check(t.diagonal(), np.diagonal(a, 0, 0, 1))


def test_diagonal_is_view():
    t = ts.zeros(3, 3)
    d = t.diagonal()
    d.fill_(1.0)
    check(t, np.eye(3, dtype=np.float32))
    assert d.stride() == (4,)
    with pytest.raises((RuntimeError, ValueError, IndexError)):
        t.diagonal(0, 1, 1)


# ---------------------------------------------------------------- unfold

def np_unfold(a, dim, size, step):
    dim %= a.ndim
    n = (a.shape[dim] - size) // step + 1
    pieces = [np.take(a, np.arange(i * step, i * step + size), axis=dim) for i in range(n)]
    # stack windows along dim, window contents as a new last dim
    st = np.stack(pieces, axis=dim)  # (..., n, ..., size at dim+1 ...)
    return np.moveaxis(st, dim + 1, -1)


@pytest.mark.parametrize("shape, dim, size, step", [((10,), 0, 3, 1), ((10,), 0, 3, 2), ((10,), 0, 10, 1),
                                                     ((4, 7), 1, 2, 3), ((4, 7), 0, 2, 1), ((3, 8, 2), 1, 4, 4),
                                                     ((3, 8, 2), -2, 3, 2), ((5,), 0, 1, 1), ((4, 7), 1, 7, 5)])
def test_unfold(shape, dim, size, step):
    a, t = arr(shape)
    u = t.unfold(dim, size, step)
    ref = np_unfold(a, dim, size, step)
    check(u, ref)
    assert shares(u, t)


def test_unfold_strides_and_errors():
    _, t = arr((10,))
    u = t.unfold(0, 3, 2)
    assert u.shape == (4, 3)
    assert u.stride() == (2, 1)
    with pytest.raises((RuntimeError, ValueError)):
        t.unfold(0, 11, 1)
    with pytest.raises((RuntimeError, ValueError)):
        t.unfold(0, 2, 0)


# ---------------------------------------------------------------- as_strided

def test_as_strided_matches_numpy_and_shares_storage():
    a, t = arr((4, 6))
    for size, stride, off in [((3, 2), (1, 3), 1), ((2, 2, 3), (12, 1, 2), 0), ((5,), (0,), 7), ((0, 4), (9, 9), 23)]:
        v = t.as_strided(size, stride, off)
        ref = np.lib.stride_tricks.as_strided(a.reshape(-1)[off:], size, [s * a.itemsize for s in stride])
        np.testing.assert_array_equal(v.numpy(), ref)
        assert v.stride() == stride and v.shape == size
    assert ts.as_strided(t, (2,), (1,)).tolist() == t.reshape(-1)[:2].tolist()
    s = t[1:]  # the offset defaults to the tensor's own
    assert s.as_strided((2,), (1,)).tolist() == a[1, :2].tolist()
    w = t.as_strided((2,), (5,), 1)
    w.fill_(-1.0)
    assert t.reshape(-1)[1].item() == -1.0 and t.reshape(-1)[6].item() == -1.0


def test_as_strided_stays_inside_the_storage():
    _, t = arr((4, 6))
    with pytest.raises(ValueError, match=r"as_strided.*outside the storage's 24 elements"):
        t.as_strided((5, 5), (5, 1), 0)
    with pytest.raises(ValueError, match=r"as_strided.*outside the storage"):
        t.as_strided((2,), (1,), 23)
    with pytest.raises(ValueError, match=r"as_strided.*strides must be >= 0"):
        t.as_strided((2,), (-1,), 5)
    with pytest.raises(ValueError, match=r"as_strided.*sizes must be >= 0"):
        t.as_strided((-2,), (1,), 0)
    with pytest.raises(ValueError, match=r"as_strided.*2 sizes and 1 strides"):
        t.as_strided((2, 2), (1,), 0)
    assert t.as_strided((0,), (1,), 24).numel() == 0  # an empty view may sit at the end
    with pytest.raises(ValueError, match=r"as_strided.*overflow"):
        t.as_strided((3,), (2**62,), 0)  # (3 - 1) * 2^62 wraps to a negative offset
    with pytest.raises(ValueError, match=r"as_strided.*overflow"):
        t.as_strided((2**40, 2**40), (2**40, 2**30), 0)


# ---------------------------------------------------------------- contiguous / clone

def test_contiguous():
    a, t = arr((3, 4))
    assert t.contiguous().data_ptr() == t.data_ptr()  # already contiguous: same tensor
    tt = t.t()
    c = tt.contiguous()
    assert c.is_contiguous()
    assert c.stride() == (3, 1)
    assert c.data_ptr() != t.data_ptr()
    check(c, a.T)
    c.fill_(0)
    check(t, a)


def test_is_contiguous_cases():
    assert ts.zeros(3, 4).is_contiguous()
    assert not ts.zeros(3, 4)[:, ::2].is_contiguous()
    assert ts.zeros(3, 4)[1:].is_contiguous()
    assert not ts.zeros(3, 4).t().is_contiguous()
    # size-1 dims do not matter for contiguity
    assert ts.zeros(3, 1).t().is_contiguous()
    assert ts.zeros(1, 4).expand(1, 4).is_contiguous()


def test_clone_is_independent():
    a, t = arr((3, 4))
    c = t.t().clone()
    check(c, a.T)
    c.fill_(0)
    check(t, a)


# ---------------------------------------------------------------- writes through views

def test_fill_through_slice():
    a, t = arr((4, 5))
    t[1:3, ::2].fill_(7.0)
    a[1:3, ::2] = 7.0
    check(t, a)


def test_setitem_through_view():
    a, t = arr((4, 5))
    v = t.t()
    v[1] = ts.tensor([1.0, 2.0, 3.0, 4.0], dtype=ts.float64)
    a.T[1] = [1, 2, 3, 4]
    check(t, a)
    v[..., 0] = 9.0
    a.T[..., 0] = 9.0
    check(t, a)


def test_inplace_add_through_views():
    a, t = arr((3, 4, 5))
    t.select(1, 2).add_(1.0)
    a[:, 2] += 1.0
    check(t, a)
    t.permute(2, 0, 1)[1:3].mul_(2.0)
    a.transpose(2, 0, 1)[1:3] *= 2.0
    check(t, a)
    t.diagonal(0, 0, 2).sub_(ts.tensor([1.0, 2.0, 3.0], dtype=ts.float64))
    for i in range(3):
        a[i, :, i] -= i + 1.0
    check(t, a)
    v = t.view(12, 5)
    v += 1
    a += 1
    check(t, a)
    t.unfold(2, 2, 3).zero_()
    a[..., 0:2] = 0
    a[..., 3:5] = 0
    check(t, a)


def test_copy_into_view():
    a, t = arr((4, 6))
    src = np.arange(12.0).reshape(3, 4)
    t[1:, 2:].copy_(ts.tensor(src))
    a[1:, 2:] = src
    check(t, a)
    # copy_ broadcasts and casts
    t[0].copy_(ts.tensor([1, 2, 3, 4, 5, 6], dtype=ts.int32))
    a[0] = [1, 2, 3, 4, 5, 6]
    check(t, a)
    t[:, 0].copy_(ts.tensor(5.5, dtype=ts.float32))
    a[:, 0] = 5.5
    check(t, a)


def test_unsqueeze_view_write():
    a, t = arr((3,))
    u = t.unsqueeze(0).unsqueeze(2)
    u[0, 1, 0] = 100.0
    a[1] = 100.0
    check(t, a)


def test_view_dtype_preserved():
    for dt in (ts.int8, ts.float16, ts.complex64, ts.bool):
        t = ts.zeros(2, 3, dtype=dt)
        assert t.t().dtype == dt and t.view(6).dtype == dt and t[0].dtype == dt
