"""PyTorch type promotion and casts.

The promotion table is built here from PyTorch's rules (not read from tessel):
categories bool < integer < floating < complex; within integers uint8 and int8
meet at int16; float16 and bfloat16 meet at float32; complex takes the width of
the widest float involved."""
import itertools
import math

import numpy as np
import pytest

import tessel as ts
from conftest import to_numpy

B, U8, I8, I16, I32, I64 = ts.bool, ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64
F16, BF16, F32, F64, C64, C128 = ts.float16, ts.bfloat16, ts.float32, ts.float64, ts.complex64, ts.complex128
ALL = [B, U8, I8, I16, I32, I64, F16, BF16, F32, F64, C64, C128]
INTS = [U8, I8, I16, I32, I64]
FLOATS = [F16, BF16, F32, F64]
COMPLEX = [C64, C128]

CAT = {B: 0, **{d: 1 for d in INTS}, **{d: 2 for d in FLOATS}, **{d: 3 for d in COMPLEX}}
BITS = {U8: 8, I8: 8, I16: 16, I32: 32, I64: 64, F16: 16, BF16: 16, F32: 32, F64: 64}
FLOAT_OF_BITS = {16: F16, 32: F32, 64: F64}
COMPLEX_OF_BITS = {16: C64, 32: C64, 64: C128}  # no complex32 in tessel: PyTorch's tables never give it here
COMPLEX_PART_BITS = {C64: 32, C128: 64}


def ref_promote(a, b):
    if a == b:
        return a
    ca, cb = CAT[a], CAT[b]
    if ca != cb:
        hi, lo = (a, b) if ca > cb else (b, a)
        if CAT[hi] == 3 and CAT[lo] == 2:
            return COMPLEX_OF_BITS[max(COMPLEX_PART_BITS[hi], BITS[lo])]
        return hi
    if ca == 1:
        if {a, b} == {U8, I8}:
            return I16
        return a if BITS[a] > BITS[b] else b
    if ca == 2:
        if {a, b} == {F16, BF16}:
            return F32
        return a if BITS[a] > BITS[b] else b
    if ca == 3:
        return C128
    raise AssertionError


def test_reference_table_spot_checks():
    # the reference itself, against values quoted in the PyTorch docs/issues
    assert ref_promote(U8, I8) == I16
    assert ref_promote(I64, F16) == F16
    assert ref_promote(F16, BF16) == F32
    assert ref_promote(C64, F64) == C128
    assert ref_promote(B, U8) == U8
    assert ref_promote(U8, I16) == I16
    assert ref_promote(BF16, C64) == C64
    assert ref_promote(I32, F32) == F32


@pytest.mark.parametrize("a, b", list(itertools.product(ALL, ALL)),
                         ids=lambda d: d.name)
def test_promote_types_all_pairs(a, b):
    assert ts.promote_types(a, b) == ref_promote(a, b)


@pytest.mark.parametrize("a, b", list(itertools.product(ALL, ALL)),
                         ids=lambda d: d.name)
def test_result_type_tensors_all_pairs(a, b):
    ta = ts.zeros(2, dtype=a)
    tb = ts.zeros(2, dtype=b)
    assert ts.result_type(ta, tb) == ref_promote(a, b)
    # 0-d against 0-d: same class, plain promotion
    assert ts.result_type(ts.zeros((), dtype=a), ts.zeros((), dtype=b)) == ref_promote(a, b)


@pytest.mark.parametrize("a, b", list(itertools.product(ALL, ALL)),
                         ids=lambda d: d.name)
def test_add_and_mul_result_dtype_all_pairs(a, b):
    ta = ts.ones(3, dtype=a)
    tb = ts.ones(3, dtype=b)
    expected = ref_promote(a, b)
    assert (ta + tb).dtype == expected
    assert (ta * tb).dtype == expected
    assert (ta == tb).dtype == B


def test_dtype_objects():
    for d in ALL:
        assert ts.promote_types(d, d) == d
        assert d.is_floating_point == (d in FLOATS)
        assert d.is_complex == (d in COMPLEX)
    sizes = {B: 1, U8: 1, I8: 1, I16: 2, I32: 4, I64: 8, F16: 2, BF16: 2, F32: 4, F64: 8, C64: 8, C128: 16}
    for d, n in sizes.items():
        assert d.itemsize == n
        assert ts.zeros(1, dtype=d).element_size() == n
    assert ts.float == F32 and ts.double == F64 and ts.half == F16 and ts.long == I64
    assert ts.int == I32 and ts.short == I16 and ts.cfloat == C64 and ts.cdouble == C128


# ---------------------------------------------------------------- weak scalars and 0-d tensors

def t1(dtype):
    return ts.tensor([1, 2, 3], dtype=dtype)


@pytest.mark.parametrize("expr, expected", [
    (lambda: t1(I8) + 1.5, F32),
    (lambda: t1(F16) * 2.0, F16),
    (lambda: t1(BF16) * 2.0, BF16),
    (lambda: t1(I8) + 1000, I8),
    (lambda: t1(U8) + 1, U8),
    (lambda: t1(B) + 1, I64),
    (lambda: t1(B) + True, B),
    (lambda: t1(B) + 1.5, F32),
    (lambda: t1(F64) + 1j, C128),
    (lambda: t1(F32) + 1j, C64),
    (lambda: t1(I64) + 1j, C64),
    (lambda: t1(I32) / 2, F32),
    (lambda: t1(I32) / t1(I32), F32),
    (lambda: t1(I64) / 2.0, F32),
    (lambda: t1(F64) / 2, F64),
    (lambda: t1(F16) / 2, F16),
    (lambda: t1(B) / t1(B), F32),
    (lambda: t1(I16) * True, I16),
    (lambda: t1(F32) - 1, F32),
    (lambda: 1.5 + t1(I32), F32),
    (lambda: 2 - t1(U8), U8),
    (lambda: 3 * t1(F16), F16),
    (lambda: 1 / t1(I32), F32),
    (lambda: t1(C64) + 1.5, C64),
    (lambda: t1(C64) * 2, C64),
    # 0-d tensors matter only when their category is higher
    (lambda: t1(I8) + ts.tensor(1.5, dtype=F64), F64),
    (lambda: t1(F32) + ts.tensor(1.5, dtype=F64), F32),
    (lambda: t1(I8) + ts.tensor(1, dtype=I64), I8),
    (lambda: t1(B) + ts.tensor(1, dtype=I32), I32),
    (lambda: t1(F16) + ts.tensor(1, dtype=I64), F16),
    # a float tensor meeting a higher-category complex keeps its own width (combine_categories)
    (lambda: t1(F32) + ts.tensor(1j, dtype=C128), C64),
    (lambda: t1(F64) + ts.tensor(1j, dtype=C64), C128),
    (lambda: t1(I64) + ts.tensor(1j, dtype=C128), C128),
    (lambda: t1(I64) + ts.tensor(1.0, dtype=F16), F16),
    (lambda: t1(U8) + ts.tensor(-1, dtype=I8), U8),
    # 0-d tensor vs Python number: the 0-d tensor is the higher class
    (lambda: ts.tensor(1, dtype=I32) + 1.5, F32),
    (lambda: ts.tensor(1.0, dtype=F64) + 1.5, F64),
    (lambda: ts.tensor(1, dtype=I16) + 5, I16),
    (lambda: ts.tensor(1.0, dtype=F16) + ts.tensor(1, dtype=I64), F16),
    (lambda: ts.tensor(1, dtype=I16) + ts.tensor(1, dtype=U8), I16),
    (lambda: ts.tensor(1, dtype=U8) + ts.tensor(1, dtype=I8), I16),
])
def test_weak_scalar_and_0d_promotion(expr, expected):
    assert expr().dtype == expected


def test_result_type_with_scalars():
    assert ts.result_type(t1(I8), 1.5) == F32
    assert ts.result_type(t1(F16), 2.0) == F16
    assert ts.result_type(t1(I8), 1000) == I8
    assert ts.result_type(t1(B), 1) == I64
    assert ts.result_type(t1(F64), 1j) == C128
    assert ts.result_type(1.5, t1(I8)) == F32
    assert ts.result_type(t1(I8), ts.tensor(1.5, dtype=F64)) == F64
    assert ts.result_type(t1(F32), ts.tensor(1.5, dtype=F64)) == F32
    assert ts.result_type(1, 2) == I64
    assert ts.result_type(1, 2.0) == F32
    assert ts.result_type(True, False) == B
    assert ts.result_type(1, 1j) == C64


def test_comparison_computes_in_promoted_type():
    t = ts.tensor([1, 2], dtype=I8)
    assert (t < 1.5).dtype == B
    assert (t < 1.5).tolist() == [True, False]
    assert (t == 1.0).tolist() == [True, False]
    u = ts.tensor([255], dtype=U8)
    assert (u > ts.tensor([-1], dtype=I8)).tolist() == [True]  # computed in int16
    f = ts.tensor([0.5], dtype=F32)
    assert (f > 0).tolist() == [True]


def test_mixed_values_computed_in_promoted_dtype():
    a = np.array([200, 100, 255], np.uint8)
    b = np.array([-100, 100, 127], np.int8)
    r = ts.tensor(a) + ts.tensor(b)
    assert r.dtype == I16
    assert r.tolist() == (a.astype(np.int64) + b.astype(np.int64)).tolist()
    # int8 + float64 0-d computes in float64
    x = ts.tensor([1, 2, 3], dtype=I8) + ts.tensor(0.1, dtype=F64)
    np.testing.assert_array_equal(to_numpy(x), np.array([1, 2, 3]) + 0.1)
    # int32 / 2 is true division
    y = ts.tensor([1, 2, 3, -7], dtype=I32) / 2
    assert y.tolist() == [0.5, 1.0, 1.5, -3.5]
    # int8 * 1.5 computes in float
    z = ts.tensor([1, 3], dtype=I8) * 1.5
    assert z.tolist() == [1.5, 4.5]
    # float32 tensor + float64 0-d: result float32, values as float32 arithmetic on the rounded scalar
    w = ts.tensor([1.0], dtype=F32) + ts.tensor(1e-10, dtype=F64)
    assert w.dtype == F32 and w.tolist() == [1.0]
    # bool + bool stays bool (logical or)
    bb = ts.tensor([True, False, False]) + ts.tensor([True, True, False])
    assert bb.dtype == B and bb.tolist() == [True, True, False]
    # complex scalar
    c = ts.tensor([1.0, 2.0], dtype=F64) * 1j
    assert c.tolist() == [1j, 2j]


def test_int64_scalar_precision_kept():
    # an int64 tensor plus a Python int must not round through float
    big = 2**53 + 1
    t = ts.tensor([big], dtype=I64) + 2
    assert t.tolist() == [big + 2]
    assert (ts.tensor([0], dtype=I64) + big).tolist() == [big]


def test_where_cat_promote():
    c = ts.tensor([True, False])
    assert ts.where(c, ts.tensor([1, 2], dtype=I32), ts.tensor([1.0, 2.0], dtype=F64)).dtype == F64
    assert ts.cat([ts.tensor([1], dtype=I8), ts.tensor([2.5], dtype=F32)]).dtype == F32
    assert ts.cat([ts.tensor([1], dtype=I8), ts.tensor([2.5], dtype=F32)]).tolist() == [1.0, 2.5]
    assert ts.stack([ts.tensor([1], dtype=U8), ts.tensor([2], dtype=I8)]).dtype == I16


# ---------------------------------------------------------------- in-place ops

def test_inplace_refuses_category_downcast():
    with pytest.raises(TypeError):
        ts.tensor([1, 2]).add_(0.5)
    with pytest.raises(TypeError):
        ts.tensor([1, 2], dtype=I32).mul_(ts.tensor([1.5, 2.0]))
    with pytest.raises(TypeError):
        t = ts.tensor([1, 2])
        t += 0.5
    with pytest.raises(TypeError):
        ts.tensor([1.0, 2.0]).add_(1j)
    with pytest.raises(TypeError):
        ts.tensor([True, False]).add_(1)
    with pytest.raises(TypeError):
        ts.tensor([1, 2], dtype=I32).div_(2)  # true division gives float
    with pytest.raises(TypeError):
        ts.tensor([1.0], dtype=F32).sub_(ts.tensor([1j]))


def test_inplace_keeps_dtype_when_allowed():
    t = ts.tensor([1.0, 2.0], dtype=F32)
    t.add_(ts.tensor([1e-10, 0.5], dtype=F64))  # same category: keeps float32
    assert t.dtype == F32
    assert t.tolist() == [1.0, 2.5]
    i = ts.tensor([100, 1], dtype=I8)
    i.add_(ts.tensor([100, 1], dtype=I64))  # computed in int64, stored back wrapping into int8
    assert i.dtype == I8
    assert i.tolist() == [np.int64(200).astype(np.int8).item(), 2]
    h = ts.tensor([1.0, 3.0], dtype=F16)
    h *= 2.5
    assert h.dtype == F16 and h.tolist() == [2.5, 7.5]
    f = ts.tensor([1.0], dtype=F32)
    f += 1  # int into float is fine
    assert f.tolist() == [2.0]
    c = ts.tensor([1 + 1j], dtype=C64)
    c.mul_(2.0)
    assert c.tolist() == [2 + 2j]
    b = ts.tensor([1, 2], dtype=I64)
    b.mul_(True)
    assert b.tolist() == [1, 2]


def test_can_cast():
    # torch.can_cast: a same-or-higher category is allowed, a lower one is not
    for a, b in itertools.product(ALL, ALL):
        assert ts.can_cast(a, b) == (CAT[a] <= CAT[b]), (a, b)


# ---------------------------------------------------------------- casts

rng = np.random.default_rng(77)
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


def test_float_to_int_out_of_range_documented_saturation():
    # PyTorch leaves this undefined; tessel documents saturation and NaN -> 0 (docs/tensors.md)
    t = ts.tensor([1e10, -1e10, float("inf"), float("-inf"), float("nan"), 300.7, -300.7], dtype=F64)
    assert t.to(I32).tolist() == [2**31 - 1, -2**31, 2**31 - 1, -2**31, 0, 300, -300]
    assert t.to(I8).tolist() == [127, -128, 127, -128, 0, 127, -128]
    assert t.to(U8).tolist() == [255, 0, 255, 0, 0, 255, 0]
    assert t.to(I64).tolist() == [10**10, -10**10, 2**63 - 1, -2**63, 0, 300, -300]


def test_float_to_int_truncates_toward_zero():
    vals = [2.7, -2.7, 0.5, -0.5, 1.0, -1.0, 99.99, -99.99, 0.0, -0.0]
    t = ts.tensor(vals, dtype=F64)
    for dt, npdt in [(I8, np.int8), (I16, np.int16), (I32, np.int32), (I64, np.int64)]:
        r = t.to(dt)
        assert r.dtype == dt
        assert r.tolist() == np.trunc(vals).astype(npdt).tolist()
    assert ts.tensor([3.9, 0.2], dtype=F32).to(U8).tolist() == [3, 0]
    assert ts.tensor([-3.9], dtype=F16).long().tolist() == [-3]
    assert ts.tensor([-3.9]).to(BF16).int().tolist() == [-3]
    assert ts.tensor([1.5 + 2j, -2.5 - 1j]).to(I32).tolist() == [1, -2]  # complex drops imag


def test_random_float_to_int_truncation():
    x = rng.uniform(-1e6, 1e6, 5000)
    got = ts.tensor(x).to(I64).tolist()
    assert got == np.trunc(x).astype(np.int64).tolist()
    x32 = x.astype(np.float32)
    got = ts.tensor(x32).int().tolist()
    assert got == np.trunc(x32).astype(np.int32).tolist()


def test_int_to_narrower_int_wraps():
    vals = np.array([300, -1, 255, 256, -129, 128, 2**31 + 5, -2**40 - 3, 65535, 32768], np.int64)
    t = ts.tensor(vals)
    for dt, npdt in [(U8, np.uint8), (I8, np.int8), (I16, np.int16), (I32, np.int32)]:
        assert t.to(dt).tolist() == vals.astype(npdt).tolist(), dt
    assert ts.tensor([300]).to(U8).tolist() == [44]
    u = ts.tensor(np.array([200, 255], np.uint8))
    assert u.to(I8).tolist() == [-56, -1]
    assert ts.tensor([-1], dtype=I8).to(U8).tolist() == [255]
    assert ts.tensor([-1], dtype=I8).to(I64).tolist() == [-1]  # sign extension
    assert ts.tensor([255], dtype=U8).to(I64).tolist() == [255]  # zero extension


def test_int_to_float():
    vals = np.array([0, 1, -7, 2**24 + 1, 2**53 + 1, -2**62], np.int64)
    t = ts.tensor(vals)
    assert to_numpy(t.double()).tolist() == vals.astype(np.float64).tolist()
    assert to_numpy(t.float()).tolist() == vals.astype(np.float32).tolist()
    assert to_numpy(t.half()).tolist() == vals.astype(np.float16).tolist()


def test_float32_to_float16_bit_exact():
    # many random float32 values across float16's range, including subnormals and overflow
    parts = [
        rng.standard_normal(20000).astype(np.float32),
        (rng.standard_normal(20000) * 1e4).astype(np.float32),
        (rng.standard_normal(20000) * 1e-5).astype(np.float32),  # float16 subnormals
        (rng.standard_normal(5000) * 1e-8).astype(np.float32),   # underflow to zero
        rng.uniform(60000, 70000, 5000).astype(np.float32),      # around the max / overflow
        rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32),  # any bits
    ]
    x = np.concatenate(parts)
    x = x[~np.isnan(x)]
    # exact ties: halfway between two float16 values
    h = rng.standard_normal(5000).astype(np.float16)
    nxt = np.nextafter(h, np.float16(np.inf))
    ties = ((h.astype(np.float64) + nxt.astype(np.float64)) / 2).astype(np.float32)
    x = np.concatenate([x, ties[np.isfinite(ties)]])
    ref = x.astype(np.float16)
    got = to_numpy(ts.tensor(x).to(F16))
    assert got.dtype == np.float16
    bad = np.nonzero(got.view(np.uint16) != ref.view(np.uint16))[0]
    assert bad.size == 0, [(float(x[i]), float(got[i]), float(ref[i])) for i in bad[:5]]


def test_float16_specials():
    x = np.array([np.inf, -np.inf, np.nan, 65504, 65520, -65520, 65519.99, 6e-8, 2.98e-8, -0.0], np.float32)
    got = to_numpy(ts.tensor(x).half())
    ref = x.astype(np.float16)
    np.testing.assert_array_equal(got, ref)
    assert np.signbit(got[-1])


def ref_bfloat16(x32):
    """float32 -> bfloat16 (as float32), round to nearest even, NaN kept."""
    bits = x32.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    out = rounded.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x32), np.float32(np.nan), out)


def test_float32_to_bfloat16_rne():
    x = np.concatenate([
        rng.standard_normal(20000).astype(np.float32),
        (rng.standard_normal(10000) * 1e30).astype(np.float32),
        (rng.standard_normal(10000) * 1e-38).astype(np.float32),
        np.array([3.3895314e38, -3.3895314e38, 3.4028235e38], np.float32),  # rounds to inf
    ])
    # exact ties
    base = rng.integers(0, 2**16, 2000, dtype=np.uint64).astype(np.uint32) << 16
    base = base[(base & 0x7F800000) != 0x7F800000]
    ties = (base | 0x8000).view(np.float32)
    x = np.concatenate([x, ties])
    got = to_numpy(ts.tensor(x).to(BF16).float())
    ref = ref_bfloat16(x)
    bad = np.nonzero(got.view(np.uint32) != ref.view(np.uint32))[0]
    assert bad.size == 0, [(float(x[i]), float(got[i]), float(ref[i])) for i in bad[:5]]


def test_bfloat16_specials():
    x = np.array([np.inf, -np.inf, np.nan, 1.0, -0.0, 1.00390625, 1.01171875], np.float32)
    got = to_numpy(ts.tensor(x).bfloat16().float())
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2])
    assert got[3] == 1.0 and np.signbit(got[4])
    assert got[5] == 1.0          # tie, rounds to even (down)
    assert got[6] == 1.015625     # tie, rounds to even (up)


def test_float64_to_float32_rounding():
    x = rng.standard_normal(10000) * 10.0 ** rng.integers(-30, 30, 10000)
    got = to_numpy(ts.tensor(x).float())
    np.testing.assert_array_equal(got, x.astype(np.float32))


def test_bool_conversions():
    x = ts.tensor([0.0, -0.0, 0.5, -2.0, float("nan"), float("inf")])
    assert x.bool().tolist() == [False, False, True, True, True, True]
    assert ts.tensor([0, 3, -1, 256]).to(B).tolist() == [False, True, True, True]
    assert ts.tensor([0j, 1j, 1 + 0j]).bool().tolist() == [False, True, True]
    assert ts.tensor([0.0, 0.001], dtype=F16).bool().tolist() == [False, True]
    b = ts.tensor([True, False])
    assert b.int().tolist() == [1, 0]
    assert b.float().tolist() == [1.0, 0.0]
    assert b.to(U8).tolist() == [1, 0]
    assert b.to(C64).tolist() == [1 + 0j, 0j]
    assert b.half().float().tolist() == [1.0, 0.0]
    # int 256 -> uint8 is 0, but -> bool is True (bool is != 0, not a narrowing wrap)
    assert ts.tensor([256]).to(B).tolist() == [True]


def test_to_same_dtype_and_complex():
    t = ts.tensor([1.0, 2.0])
    assert t.to(F32).dtype == F32
    c = t.to(C128)
    assert c.dtype == C128 and c.tolist() == [1 + 0j, 2 + 0j]
    assert ts.tensor([1.5 + 2.5j], dtype=C128).to(F64).tolist() == [1.5]
    assert ts.tensor([1.5 + 2.5j], dtype=C128).to(C64).tolist() == [1.5 + 2.5j]


def test_to_device_and_dtype():
    t = ts.tensor([1.5])
    assert str(t.to("cpu").device) == "cpu"
    assert t.to("cpu", F64).dtype == F64 if _accepts_two_args() else True
    assert t.double().dtype == F64 and t.half().dtype == F16 and t.bfloat16().dtype == BF16
    assert t.int().dtype == I32 and t.long().dtype == I64 and t.bool().dtype == B
    assert t.to(dtype=I16).dtype == I16


def _accepts_two_args():
    try:
        ts.tensor([1.0]).to("cpu", ts.float64)
        return True
    except TypeError:
        return False


@pytest.mark.parametrize("src", ALL, ids=lambda d: d.name)
def test_cast_roundtrip_small_ints_all_pairs(src):
    # small non-negative integers are exact in every dtype
    vals = [0, 1, 2, 5, 7, 100] if src != B else [0, 1, 1, 0]
    t = ts.tensor(vals).to(src)
    for dst in ALL:
        r = t.to(dst)
        assert r.dtype == dst
        got = r.float().tolist() if dst == BF16 else r.tolist()
        ref = [bool(v) for v in vals] if dst == B else vals
        assert [complex(g) for g in got] == [complex(v) for v in ref], (src, dst)
