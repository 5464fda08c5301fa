"""Zero-copy exchange with NumPy (buffer protocol, __array__, from_numpy) and DLPack."""
import gc

import numpy as np
import pytest

import tessel as ts
from conftest import NP

NUMPY_DTYPES = [d for d in NP]


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: d.name)
def test_numpy_views_share_memory(dtype):
    t = ts.zeros(3, 4, dtype=dtype)
    a = np.asarray(t)
    assert a.dtype == NP[dtype] and a.shape == (3, 4)
    a[1, 2] = 1
    assert t[1, 2].item() == 1  # written through NumPy, seen by tessel
    v = t.t()[1:]  # strided view
    av = v.numpy()
    assert av.strides == tuple(s * dtype.itemsize for s in v.stride())
    t.fill_(1)
    assert np.all(av == 1)


def test_buffer_protocol_details():
    t = ts.arange(6, dtype=ts.float32).reshape(2, 3)
    m = memoryview(t)
    assert (m.format, m.shape, m.strides, m.readonly) == ("f", (2, 3), (12, 4), False)
    assert np.asarray(ts.tensor(2.5)).shape == ()
    with pytest.raises((BufferError, TypeError, ValueError)):
        memoryview(ts.ones(2, dtype=ts.bfloat16))


def test_array_protocol_copy_semantics():
    t = ts.arange(4, dtype=ts.float32)
    a = t.__array__()
    a[0] = 7
    assert t[0].item() == 7
    c = t.__array__(copy=True)
    c[1] = 9
    assert t[1].item() == 1
    assert t.__array__(dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="copy"):
        t.__array__(dtype=np.float64, copy=False)
    assert np.array(t, copy=False).ctypes.data == t.data_ptr()


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: d.name)
def test_from_numpy_shares_memory(dtype):
    a = np.zeros((4, 5), dtype=NP[dtype])
    t = ts.from_numpy(a)
    assert t.dtype == dtype and t.shape == (4, 5) and t.data_ptr() == a.ctypes.data
    t[2, 3] = 1
    assert a[2, 3] == 1
    s = ts.from_numpy(a[::2, 1:])  # non-contiguous
    assert s.stride() == (10, 1) and s.data_ptr() == a[::2, 1:].ctypes.data


def test_from_numpy_keeps_the_array_alive_and_rejects_bad_input():
    t = ts.from_numpy(np.arange(100000, dtype=np.float64))
    gc.collect()
    assert t[-1].item() == 99999.0
    with pytest.raises(ValueError, match="negative strides"):
        ts.from_numpy(np.arange(4.0)[::-1])
    with pytest.raises(TypeError):
        ts.from_numpy([1, 2, 3])
    with pytest.raises(TypeError, match="format"):
        ts.from_numpy(np.zeros(2, dtype=np.float128))


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: d.name)
def test_dlpack_with_numpy_both_ways(dtype):
    t = ts.ones(3, 4, dtype=dtype).t()
    a = np.from_dlpack(t)
    assert a.ctypes.data == t.data_ptr() and a.shape == (4, 3) and a.dtype == NP[dtype]
    b = np.ones((5, 6), dtype=NP[dtype])[:, ::2]
    u = ts.from_dlpack(b)
    assert u.data_ptr() == b.ctypes.data and u.stride() == (6, 2) and u.dtype == dtype


def test_dlpack_negative_strides():
    # NumPy exports reversed views with negative strides: the storage must cover the
    # elements below the first one, so views of the import (flip, as_strided) stay inside it.
    a = np.arange(6.0)[::-1]
    t = ts.from_dlpack(a)
    assert t.stride() == (-1,) and t.tolist() == a.tolist()
    assert t.flip(0).tolist() == list(range(6)) and (t * 2).tolist() == (a * 2).tolist()
    b = np.arange(12.0).reshape(3, 4)[::-1, ::2]
    u = ts.from_dlpack(b)
    assert u.tolist() == b.tolist() and u.flip(1).tolist() == b[:, ::-1].tolist()
    assert u.contiguous().tolist() == b.tolist()


def test_dlpack_capsules_and_round_trip_without_copies():
    base = ts.randn(4, 6).to(ts.bfloat16)
    t = base[:, 1::2]  # bfloat16 and strided
    assert t.__dlpack_device__() == (1, 0)
    for kwargs, name in [({"max_version": (1, 0)}, "dltensor_versioned"), ({}, "dltensor")]:
        cap = t.__dlpack__(**kwargs)
        assert name in repr(cap)
        u = ts.from_dlpack(cap)
        assert u.data_ptr() == t.data_ptr() and u.stride() == t.stride() and u.dtype == ts.bfloat16
        with pytest.raises(ValueError):
            ts.from_dlpack(cap)  # a consumed capsule cannot be used twice
    u = ts.from_dlpack(t)
    base.fill_(2)
    assert u.float().tolist() == [[2.0] * 3] * 4
    c = ts.from_dlpack(t.__dlpack__(max_version=(1, 0), copy=True))
    assert c.data_ptr() != t.data_ptr()
    del t, base, u
    gc.collect()  # the capsule deleters run without crashing


def test_dlpack_with_torch_when_installed():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional; benchmarks install it)")
    x = torch.arange(12, dtype=torch.bfloat16).reshape(3, 4)[:, ::2]
    t = ts.from_dlpack(x)
    assert t.data_ptr() == x.data_ptr() and t.stride() == x.stride()
    y = torch.from_dlpack(t)
    assert y.data_ptr() == x.data_ptr()
