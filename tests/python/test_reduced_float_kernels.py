"""float16/bfloat16 kernels that compute in float32 blocks (kernels/cpu/reduced_float.h):
the casts round to nearest even as ml_dtypes and NumPy do, on every tail length and
across blocks, and the elementwise ops give float32's correctly rounded result
narrowed once, on contiguous, broadcast and transposed operands."""
import ml_dtypes
import numpy as np
import pytest

import tessel as ts

REDUCED = [(ts.bfloat16, ml_dtypes.bfloat16), (ts.float16, np.float16)]


def _specials():
    f = np.float32
    bits = np.array([0x3f808000, 0x3f818000, 0x3f80ffff, 0x3f808001,  # bfloat16 ties (to even) and near ties
                     0x7f7fffff, 0x00000001, 0x00810000, 0x807fffff,  # max (rounds to inf), subnormals
                     0x7f800001, 0xffc00000, 0x7fbfffff],  # NaNs: signalling with a low payload, quiet
                    dtype=np.uint32).view(f)
    return np.concatenate([bits, np.array([0.0, -0.0, np.inf, -np.inf, 65504, 65520, 6e-8, 1e-8], f)])


def _values(n, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * np.exp2(rng.integers(-20, 20, n))).astype(np.float32)
    s = _specials()
    x[: min(n, s.size)] = s[: min(n, s.size)]
    return x


def _same(got, want):
    with np.errstate(all="ignore"):
        got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    assert got.shape == want.shape
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
def test_casts_round_to_nearest_even_on_every_tail(dtype, np_dtype):
    x = _values(1001)
    for n in list(range(1, 41)) + [255, 256, 257, 1001]:  # vector tails, one block and across blocks
        got = ts.from_numpy(x[:n].copy()).to(dtype).to(ts.float32).numpy()
        with np.errstate(all="ignore"):
            _same(got, x[:n].astype(np_dtype).astype(np.float32))
    # NaN stays NaN through both casts (a payload in the low bits must not round to inf)
    nan_in = _specials()[8:11]
    assert np.isnan(ts.from_numpy(nan_in).to(dtype).to(ts.float32).numpy()).all()


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
def test_widening_is_exact(dtype, np_dtype):
    with np.errstate(all="ignore"):
        x = _values(777, seed=1).astype(np_dtype)
    t = ts.from_numpy(x.astype(np.float32)).to(dtype)
    _same(t.to(ts.float32).numpy(), x.astype(np.float32))
    _same(t.to(ts.float64).numpy(), x.astype(np.float64))


UNARY = {
    "neg": np.negative, "abs": np.abs, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc,
    "sqrt": np.sqrt, "square": np.square, "reciprocal": np.reciprocal,
    "relu": lambda a: np.where((a > 0) | np.isnan(a), a, np.float32(0)).astype(np.float32),  # NaN stays, as in PyTorch
}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
          "maximum": np.maximum, "minimum": np.minimum}


def _ref(fn, np_dtype, *xs):
    with np.errstate(all="ignore"):
        return fn(*[x.astype(np.float32) for x in xs]).astype(np.float32).astype(np_dtype).astype(np.float32)


def _reduced(x, dtype, np_dtype):
    """x rounded to the reduced dtype, as a tessel tensor and as NumPy float32 values."""
    with np.errstate(all="ignore"):  # float16 overflows to inf, as the cast in tessel does
        xr = x.astype(np_dtype).astype(np.float32)
    return ts.from_numpy(xr).to(dtype), xr


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops_narrow_the_float32_result(name, dtype, np_dtype):
    fn, ref = getattr(ts, name), UNARY[name]
    x = _values(1001, seed=2)
    if name == "sqrt":
        x = np.abs(x)
    t, xr = _reduced(x, dtype, np_dtype)
    _same(fn(t).to(ts.float32).numpy(), _ref(ref, np_dtype, xr))
    # transposed view, and a broadcast (stride 0) input
    t2, x2 = _reduced(x[:1000].reshape(25, 40), dtype, np_dtype)
    _same(fn(t2.t()).to(ts.float32).numpy(), _ref(ref, np_dtype, x2.T))
    row = t2[3:4].expand(7, 40)
    _same(fn(row).to(ts.float32).numpy(), np.broadcast_to(_ref(ref, np_dtype, x2[3:4]), (7, 40)))


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_narrow_the_float32_result(name, dtype, np_dtype):
    fn, ref = getattr(ts, name), BINARY[name]
    a, b = _values(1001, seed=3), _values(1001, seed=4)[::-1].copy()
    ta, ar = _reduced(a, dtype, np_dtype)
    tb, br = _reduced(b, dtype, np_dtype)
    _same(fn(ta, tb).to(ts.float32).numpy(), _ref(ref, np_dtype, ar, br))
    # one operand a single value (step 0 along the run), on either side
    s, sr = _reduced(np.array([1.7], np.float32), dtype, np_dtype)
    _same(fn(ta, s).to(ts.float32).numpy(), _ref(ref, np_dtype, ar, sr))
    _same(fn(s, ta).to(ts.float32).numpy(), _ref(ref, np_dtype, sr, ar))
    # transposed operands
    m, mr = _reduced(a[:1000].reshape(40, 25), dtype, np_dtype)
    n, nr = _reduced(b[:1000].reshape(40, 25), dtype, np_dtype)
    _same(fn(m.t(), n.t()).to(ts.float32).numpy(), _ref(ref, np_dtype, mr.T, nr.T))


@pytest.mark.parametrize("dtype", [ts.bfloat16, ts.float16])
def test_neg_and_abs_on_the_sign_bit(dtype):
    t = ts.from_numpy(np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf], np.float32)).to(dtype)
    neg = ts.neg(t).to(ts.float32).numpy()
    ab = ts.abs(t).to(ts.float32).numpy()
    assert np.array_equal(np.signbit(neg), [True, False, True, False, True, False])
    assert np.array_equal(neg, [-0.0, 0.0, -1.5, 2.25, -np.inf, np.inf])
    assert not np.signbit(ab).any() and np.array_equal(ab, [0, 0, 1.5, 2.25, np.inf, np.inf])
    nan = ts.from_numpy(np.array([np.nan, -np.nan], np.float32)).to(dtype)
    assert np.isnan(ts.neg(nan).to(ts.float32).numpy()).all()
    assert np.isnan(ts.abs(nan).to(ts.float32).numpy()).all()
