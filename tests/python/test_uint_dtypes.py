"""uint16, uint32 and uint64: creation, NumPy/DLPack, arithmetic, promotion and reductions against NumPy."""
import itertools

import numpy as np
import pytest

import tessel as ts

UNSIGNED = [(ts.uint16, np.uint16), (ts.uint32, np.uint32), (ts.uint64, np.uint64)]
INTS = [(ts.uint8, np.uint8), (ts.int8, np.int8), (ts.int16, np.int16), (ts.int32, np.int32),
        (ts.int64, np.int64)] + UNSIGNED
IDS = [t.name for t, _ in UNSIGNED]


def values(npd, n=64, seed=0):
    """n values spread over the whole range of npd, its extremes included."""
    info = np.iinfo(npd)
    rng = np.random.default_rng(seed)
    a = rng.integers(info.min, info.max, n, dtype=npd, endpoint=True)
    a[:4] = [info.min, info.max, 1, info.max // 2]
    return a


@pytest.mark.parametrize("td,npd", UNSIGNED, ids=IDS)
def test_dtype_facts(td, npd):
    assert td.name == np.dtype(npd).name and td.itemsize == np.dtype(npd).itemsize
    assert not td.is_signed and not td.is_floating_point and not td.is_complex
    info = ts.iinfo(td)
    assert (info.min, info.max, info.bits) == (0, np.iinfo(npd).max, np.iinfo(npd).bits)
    assert ts.isdtype(td, "unsigned integer") and ts.isdtype(td, "integral") and not ts.isdtype(td, "signed integer")
    assert ts.__array_namespace_info__().dtypes(kind="unsigned integer")[td.name] == td


@pytest.mark.parametrize("td,npd", UNSIGNED, ids=IDS)
def test_numpy_and_lists_both_ways(td, npd):
    a = values(npd)
    t = ts.from_numpy(a)
    assert t.dtype == td and np.array_equal(t.numpy(), a)
    assert np.shares_memory(t.numpy(), a)
    assert ts.tensor(a.tolist(), dtype=td).tolist() == a.tolist()
    assert np.array_equal(np.from_dlpack(t), a) and np.array_equal(ts.from_dlpack(a).numpy(), a)
    assert t[1].item() == np.iinfo(npd).max and isinstance(t[1].item(), int)
    assert repr(ts.tensor([1, 2], dtype=td)) == f"tensor([1, 2], dtype=tessel.{td.name})"


def test_python_ints_past_int64_are_uint64():
    big = 2**64 - 1
    assert ts.tensor(big).dtype == ts.uint64 and ts.tensor(big).item() == big
    t = ts.tensor([2**63, 5])
    assert t.dtype == ts.uint64 and t.tolist() == [2**63, 5]
    with pytest.raises(ValueError, match="neither int64 .* nor uint64"):
        ts.tensor([2**63, -1])
    with pytest.raises(ValueError, match="too large"):
        ts.tensor(2**64)
    u = ts.zeros(2, dtype=ts.uint64)
    u[0] = big  # a scalar above int64 written into uint64
    assert u.tolist() == [big, 0]
    assert (ts.full((2,), big, dtype=ts.uint64) == big).all()


def test_promotion_follows_numpy():
    for (ta, na), (tb, nb) in itertools.product(INTS, INTS):
        want = np.result_type(na, nb)
        got = ts.promote_types(ta, tb)
        assert got.name == want.name, (ta, tb, got, want)
        x = ts.ones(2, dtype=ta) + ts.ones(2, dtype=tb)
        assert x.dtype == got
    # Python scalars are weak: the tensor's unsigned dtype stays
    assert (ts.ones(2, dtype=ts.uint32) + 5).dtype == ts.uint32
    assert (ts.ones(2, dtype=ts.uint64) * 2.5).dtype == ts.get_default_dtype()


OPS = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),  # wraps modulo 2**bits, as NumPy
    "mul": (lambda a, b: a * b, np.multiply),
    "floor_divide": (lambda a, b: a // b, np.floor_divide),
    "remainder": (lambda a, b: a % b, np.remainder),
    "and": (lambda a, b: a & b, np.bitwise_and),
    "or": (lambda a, b: a | b, np.bitwise_or),
    "xor": (lambda a, b: a ^ b, np.bitwise_xor),
    "maximum": (ts.maximum, np.maximum),
    "minimum": (ts.minimum, np.minimum),
    "eq": (lambda a, b: a == b, np.equal),
    "lt": (lambda a, b: a < b, np.less),
    "ge": (lambda a, b: a >= b, np.greater_equal),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("td,npd", UNSIGNED, ids=IDS)
def test_binary_ops_match_numpy(td, npd, name):
    ours, ref = OPS[name]
    a, b = values(npd, seed=1), values(npd, seed=2)
    if name in ("floor_divide", "remainder"):
        b[b == 0] = 3
    with np.errstate(over="ignore"):
        want = ref(a, b)
    got = ours(ts.from_numpy(a), ts.from_numpy(b))
    assert got.dtype.name == want.dtype.name
    assert np.array_equal(got.numpy(), want)


@pytest.mark.parametrize("td,npd", UNSIGNED, ids=IDS)
def test_unary_ops_and_casts(td, npd):
    a = values(npd)
    t = ts.from_numpy(a)
    assert np.array_equal((~t).numpy(), ~a)
    assert np.array_equal(ts.abs(t).numpy(), a)  # abs of an unsigned value is itself
    assert np.array_equal((-t).numpy(), (0 - a.astype(object)) % (1 << (8 * a.itemsize)))  # wraps, as NumPy
    assert np.array_equal(ts.sign(t).numpy(), np.sign(a))
    assert np.array_equal(t.to(ts.float64).numpy(), a.astype(np.float64))
    assert np.array_equal(t.to(ts.int64).numpy(), a.astype(np.int64))  # wraps past int64, as NumPy
    # float -> unsigned truncates toward zero and saturates; NaN -> 0 (docs/tensors.md)
    f = ts.tensor([-5.0, 3.9, 1e30, float("nan"), float("inf")], dtype=ts.float64)
    assert f.to(td).tolist() == [0, 3, np.iinfo(npd).max, 0, np.iinfo(npd).max]
    assert ts.tensor([2.0**64], dtype=ts.float64).to(ts.uint64).item() == 2**64 - 1


@pytest.mark.parametrize("td,npd", UNSIGNED, ids=IDS)
def test_shifts_match_numpy(td, npd):
    a = values(npd)
    bits = 8 * np.dtype(npd).itemsize
    s = np.arange(len(a), dtype=npd) % bits
    t, ts_s = ts.from_numpy(a), ts.from_numpy(s)
    assert np.array_equal((t << ts_s).numpy(), a << s)
    assert np.array_equal((t >> ts_s).numpy(), a >> s)
    assert np.array_equal(ts.bitwise_left_shift(t, 3).numpy(), a << npd(3))
    # a count of the width or more shifts every bit out
    assert (t << bits).tolist() == [0] * len(a) and (t >> (bits + 5)).tolist() == [0] * len(a)


def test_shifts_of_signed_types():
    a = np.array([-8, -1, 5, 127, -128], dtype=np.int8)
    t = ts.from_numpy(a)
    assert np.array_equal((t >> 1).numpy(), a >> 1)  # arithmetic
    assert np.array_equal((t << 1).numpy(), (a.astype(np.int16) << 1).astype(np.int8))  # wraps
    assert (t >> 8).tolist() == [-1, -1, 0, 0, -1] and (t << 8).tolist() == [0] * 5
    assert (t >> -1).tolist() == [-1, -1, 0, 0, -1] and (t << -1).tolist() == [0] * 5
    b = ts.ones(2, dtype=ts.bool)
    assert (b << 1).tolist() == [2, 2]  # a Python int makes it int64, as in PyTorch
    with pytest.raises(TypeError, match="bitwise_left_shift.*integer"):
        b << b
    with pytest.raises(TypeError, match="bitwise_right_shift.*integer"):
        ts.ones(2) >> 1
    x = ts.tensor([1, 2], dtype=ts.int32)
    x <<= 2
    assert x.tolist() == [4, 8] and x.dtype == ts.int32


@pytest.mark.parametrize("td,npd", UNSIGNED, ids=IDS)
def test_reductions_accumulate_in_uint64(td, npd):
    a = values(npd).reshape(8, 8)
    t = ts.from_numpy(a)
    with np.errstate(over="ignore"):
        assert t.sum().dtype == ts.uint64 and t.sum().item() == int(a.sum(dtype=np.uint64))
        assert np.array_equal(t.sum(1).numpy(), a.sum(1, dtype=np.uint64))
        assert np.array_equal(t.prod(0).numpy(), a.prod(0, dtype=np.uint64))
        assert np.array_equal(t.cumsum(1).numpy(), a.cumsum(1, dtype=np.uint64))
    assert t.amax().item() == a.max() and t.amin().item() == a.min()
    assert np.array_equal(t.argmax(1).numpy(), a.argmax(1))
    v, i = t.sort(1)
    assert np.array_equal(v.numpy(), np.sort(a, 1))
    assert np.array_equal(np.take_along_axis(a, i.numpy(), 1), np.sort(a, 1))
    assert np.array_equal(ts.unique(t).numpy(), np.unique(a))
    assert np.array_equal(ts.where(t > a.mean(), t, ts.zeros_like(t)).numpy(), np.where(a > a.mean(), a, 0))
    assert np.array_equal(ts.cat([t, t]).numpy(), np.concatenate([a, a]))
    assert np.array_equal(t[t % 2 == 1].numpy(), a[a % 2 == 1])
    assert np.array_equal(t.t().contiguous().numpy(), a.T)
    # uint8 keeps PyTorch's int64 sum; the array API namespace's sum gives the standard's uint64
    assert ts.ones(3, dtype=ts.uint8).sum().dtype == ts.int64


def test_array_api_functions_on_unsigned():
    a = np.array([3, 2**64 - 1, 0], dtype=np.uint64)
    t = ts.asarray(a)
    assert ts.sum(ts.asarray(np.array([1, 2], np.uint8)), axis=0).dtype == ts.uint64
    assert ts.result_type(ts.uint32, ts.int32) == ts.int64 and ts.result_type(ts.uint64, ts.int8) == ts.float64
    assert ts.max(t).item() == 2**64 - 1
    assert ts.bitwise_right_shift(t, ts.asarray(np.array([1, 63, 64], np.uint64))).tolist() == [1, 1, 0]
