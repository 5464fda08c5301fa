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


COMPARE = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
           "ge": np.greater_equal}


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("name", sorted(COMPARE))
def test_comparisons_give_bool_on_every_tail(name, dtype, np_dtype):
    # bfloat16 compares in registers, 16 at a time, writing bool; NaNs compare as in NumPy
    a, b = _values(1001, seed=13), _values(1001, seed=14)
    b[::3] = a[::3]  # equal pairs
    ta, ar = _reduced(a, dtype, np_dtype)
    tb, br = _reduced(b, dtype, np_dtype)
    fn, ref = getattr(ts, name), COMPARE[name]
    for n in (1, 15, 16, 17, 33, 1001):
        got = fn(ta[:n], tb[:n])
        assert got.dtype == ts.bool
        assert np.array_equal(got.numpy(), ref(ar[:n], br[:n]))
    s, sr = _reduced(np.array([0.5], np.float32), dtype, np_dtype)
    assert np.array_equal(fn(ta, s).numpy(), ref(ar, sr))
    assert np.array_equal(fn(s, ta).numpy(), ref(sr, ar))


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
def test_unary_of_a_broadcast_run(dtype, np_dtype):
    # the inner dim expanded: the run reads one value (step 0) and writes 40
    t, x = _reduced(_values(25, seed=15).reshape(25, 1), dtype, np_dtype)
    for name in ("relu", "sqrt", "square"):
        with np.errstate(all="ignore"):
            want = np.broadcast_to(_ref(UNARY[name], np_dtype, x), (25, 40))
        _same(getattr(ts, name)(t.expand(25, 40)).to(ts.float32).numpy(), want)


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
def test_nan_to_num_on_the_bit_patterns(dtype, np_dtype):
    x = _values(1001, seed=16)
    x[100::7] = np.nan
    x[101::11] = np.inf
    x[102::13] = -np.inf
    t, xr = _reduced(x, dtype, np_dtype)
    for kw in ({}, {"nan": 2.0, "posinf": 5.0, "neginf": -7.0}, {"nan": -0.0, "posinf": 1e30}):
        with np.errstate(all="ignore"):
            big = np.float32(ml_dtypes.finfo(np_dtype).max)  # the dtype's largest finite value, as in PyTorch
            want = np.nan_to_num(xr, nan=kw.get("nan", 0.0), posinf=kw.get("posinf", big),
                                 neginf=kw.get("neginf", -big)).astype(np_dtype).astype(np.float32)
        for n in (1, 15, 16, 17, 1001):
            _same(ts.nan_to_num(t[:n], **kw).to(ts.float32).numpy(), want[:n])
        _same(ts.nan_to_num(t[::2], **kw).to(ts.float32).numpy(), want[::2])  # strided


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
def test_hypot_through_float32(dtype, np_dtype):
    # float32's vector hypot on widened blocks, narrowed once: within one ulp of the
    # float64 result rounded to the dtype; inf beats NaN as in C99
    a, b = _values(1001, seed=17), _values(1001, seed=18)
    a[:4] = [np.inf, np.nan, -np.inf, 0.0]
    b[:4] = [np.nan, np.inf, 3.0, -0.0]
    ta, ar = _reduced(a, dtype, np_dtype)
    tb, br = _reduced(b, dtype, np_dtype)
    with np.errstate(all="ignore"):
        want = np.hypot(ar.astype(np.float64), br.astype(np.float64)).astype(np_dtype)
    for got in (ts.hypot(ta, tb), ts.hypot(ta.reshape(7, 143).t(), tb.reshape(7, 143).t()).t().reshape(1001)):
        g = got.to(ts.float32).numpy().astype(np_dtype)
        assert np.array_equal(np.isnan(g), np.isnan(want))
        assert np.array_equal(g[:4].astype(np.float32), [np.inf, np.inf, np.inf, 0.0])
        ok = ~np.isnan(want)
        ulps = np.abs(g[ok].view(np.int16).astype(np.int32) - want[ok].view(np.int16).astype(np.int32))
        assert ulps.max() <= 1


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


# ---- reductions: float accumulation, each result rounded once ----

def _round(x64, np_dtype):
    with np.errstate(all="ignore"):
        return np.asarray(x64).astype(np.float32).astype(np_dtype).astype(np.float64)


def _layouts(x, dtype, np_dtype):
    """(tessel view, NumPy float64 values) for a contiguous, a transposed and a broadcast input."""
    with np.errstate(all="ignore"):
        xr = x.astype(np_dtype).astype(np.float64)
    t = ts.from_numpy(xr.astype(np.float32)).to(dtype)
    yield t, xr
    yield ts.from_numpy(np.ascontiguousarray(xr.T).astype(np.float32)).to(dtype).t(), xr  # a transposed view
    row = ts.from_numpy(xr[1:2].astype(np.float32)).to(dtype).expand(*xr.shape)
    yield row, np.broadcast_to(xr[1:2], xr.shape)


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("shape", [(300, 70), (5, 2100)])  # past 64 rows (pairwise halves), past a 1024 leaf
@pytest.mark.parametrize("dim", [0, -1, None])
def test_sum_and_mean_accumulate_in_float(dtype, np_dtype, shape, dim):
    x = np.random.default_rng(5).uniform(0.5, 2.0, shape)
    for t, xr in _layouts(x, dtype, np_dtype):
        for name, ref in (("sum", xr.sum(axis=dim)), ("mean", xr.mean(axis=dim))):
            got = (getattr(ts, name)(t, dim) if dim is not None else getattr(ts, name)(t))
            assert got.dtype == dtype
            got = got.to(ts.float64).numpy()
            # float32 accumulation is far below the reduced dtype's ulp: the rounded exact result,
            # or its neighbour where the exact value lies within float32 error of a tie
            want = _round(ref, np_dtype)
            ulp = np.exp2(np.floor(np.log2(np.abs(want))) - (7 if dtype == ts.bfloat16 else 10))
            assert np.all(np.abs(got - want) <= ulp), (name, float(np.max(np.abs(got - want) / ulp)))
        wide = (ts.sum(t, dim, dtype=ts.float32) if dim is not None else ts.sum(t, dtype=ts.float32))
        assert wide.dtype == ts.float32
        np.testing.assert_allclose(wide.numpy(), xr.sum(axis=dim), rtol=2e-6)


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("dim", [0, -1, None])
def test_extremes_and_prod(dtype, np_dtype, dim):
    x = np.random.default_rng(6).uniform(0.9, 1.1, (130, 40))
    x[7, 3] = 9.0
    for t, xr in _layouts(x, dtype, np_dtype):
        for name, ref in (("amax", xr.max(axis=dim)), ("amin", xr.min(axis=dim))):
            got = getattr(ts, name)(t, dim) if dim is not None else getattr(ts, name)(t)
            np.testing.assert_array_equal(got.to(ts.float64).numpy(), ref)  # exact: a max is one of the values
        got = (ts.prod(t, dim) if dim is not None else ts.prod(t)).to(ts.float64).numpy()
        np.testing.assert_allclose(got, _round(xr.prod(axis=dim), np_dtype), rtol=2 ** -7)


# ---- softmax, the norms, logsumexp: computed in float32, rounded once, differentiable ----

def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_layer_norm(x, eps=1e-5):
    m = x.mean(-1, keepdims=True)
    return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + eps)


F = ts.nn.functional
FLOAT_OPS = {
    "softmax": (lambda t: F.softmax(t, -1), lambda x: _np_softmax(x, -1)),
    "log_softmax": (lambda t: F.log_softmax(t, 0), lambda x: np.log(_np_softmax(x, 0))),
    "logsumexp": (lambda t: ts.logsumexp(t, -1), lambda x: np.log(np.exp(x).sum(-1))),
    "layer_norm": (lambda t: F.layer_norm(t, (t.shape[-1],)), _np_layer_norm),
    "rms_norm": (lambda t: F.rms_norm(t, (t.shape[-1],), eps=1e-6),
                 lambda x: x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6)),
    "batch_norm": (lambda t: F.batch_norm(t.reshape(6, 4, 50), None, None, training=True).reshape(24, 50),
                   lambda x: _np_layer_norm(x.reshape(6, 4, 50).transpose(1, 0, 2).reshape(4, 300))
                   .reshape(4, 6, 50).transpose(1, 0, 2).reshape(24, 50)),
    "norm": (lambda t: ts.norm(t), lambda x: np.sqrt((x ** 2).sum())),
}


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("name", sorted(FLOAT_OPS))
def test_float_computed_ops_round_once(dtype, np_dtype, name):
    op, ref = FLOAT_OPS[name]
    x = np.random.default_rng(7).uniform(-3, 3, (24, 50))
    with np.errstate(all="ignore"):
        xr = x.astype(np_dtype).astype(np.float64)
    t = ts.from_numpy(xr.astype(np.float32)).to(dtype)
    got = op(t)
    assert got.dtype == dtype
    want = ref(xr)
    # one rounding of a float32 result: within one ulp of the reduced dtype (2^-7 or 2^-10 relative)
    rel = 2.0 ** (-7 if dtype == ts.bfloat16 else -10)
    np.testing.assert_allclose(got.to(ts.float64).numpy(), want, rtol=rel, atol=rel * np.abs(want).max() * 1e-2)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "layer_norm", "rms_norm", "batch_norm", "logsumexp"])
def test_float_computed_ops_gradients(name):
    op, _ = FLOAT_OPS[name]
    x = np.random.default_rng(8).uniform(-2, 2, (24, 50)).astype(ml_dtypes.bfloat16).astype(np.float32)
    w = np.random.default_rng(9).uniform(-1, 1, (24, 50) if name != "logsumexp" else (24,)).astype(np.float32)
    grads = []
    for dt in (ts.bfloat16, ts.float32):
        t = ts.from_numpy(x).to(dt)
        t.requires_grad_(True)
        (op(t) * ts.from_numpy(w).to(dt)).sum().backward()
        assert t.grad.dtype == dt
        grads.append(t.grad.to(ts.float32).numpy())
    # the bfloat16 gradient is the float32 one rounded, up to the rounded forward terms it multiplies
    np.testing.assert_allclose(grads[0], grads[1], rtol=2 ** -6, atol=2 ** -6 * np.abs(grads[1]).max())


def test_cast_keeps_a_transposed_layout():
    # .to(dtype) of a permuted dense tensor keeps its layout, as PyTorch's does (the cast then
    # runs in memory order); other views come back contiguous
    x = np.random.default_rng(10).standard_normal((4, 5, 6)).astype(np.float32)
    t = ts.from_numpy(x).permute(2, 0, 1)
    for dt in (ts.bfloat16, ts.float64):
        y = t.to(dt)
        assert y.shape == t.shape and tuple(y.stride()) == tuple(t.stride())
        np.testing.assert_array_equal(y.to(ts.float32).numpy(), t.contiguous().to(dt).to(ts.float32).numpy())
        np.testing.assert_allclose(y.to(ts.float64).numpy(), x.transpose(2, 0, 1), rtol=2 ** -8)
    s = ts.from_numpy(x)[:, ::2]
    assert s.to(ts.float64).is_contiguous()
    assert ts.from_numpy(x[:1]).expand(3, 5, 6).to(ts.float64).is_contiguous()


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
def test_lerp_in_float_blocks(dtype, np_dtype):
    a, b = _values(1001, seed=11), _values(1001, seed=12)
    a, b = np.clip(a, -1e4, 1e4), np.clip(b, -1e4, 1e4)
    ta, ar = _reduced(np.nan_to_num(a), dtype, np_dtype)
    tb, br = _reduced(np.nan_to_num(b), dtype, np_dtype)
    for w in (0.3, 0.7):
        with np.errstate(all="ignore"):
            w32 = np.float32(w).astype(np_dtype).astype(np.float32)  # the weight in the tensors' dtype
            want = np.where(abs(w32) < 0.5, ar + w32 * (br - ar), br - (br - ar) * (np.float32(1) - w32))
        _same(ts.lerp(ta, tb, w).to(ts.float32).numpy(), _ref(lambda x: x, np_dtype, want.astype(np.float32)))
        # either end one value along the run (a broadcast column)
        a2, b2 = ar.reshape(7, 143), br[:7].reshape(7, 1)
        for x, y, tx, ty in ((a2, b2, ta.reshape(7, 143), tb[:7].reshape(7, 1).expand(7, 143)),
                             (b2, a2, tb[:7].reshape(7, 1).expand(7, 143), ta.reshape(7, 143))):
            with np.errstate(all="ignore"):
                want = np.where(abs(w32) < 0.5, x + w32 * (y - x), y - (y - x) * (np.float32(1) - w32))
            _same(ts.lerp(tx, ty, w).to(ts.float32).numpy(), _ref(lambda v: v, np_dtype, want.astype(np.float32)))
    tw, wr = _reduced(np.linspace(0, 1, 1001), dtype, np_dtype)
    with np.errstate(all="ignore"):
        want = np.where(np.abs(wr) < 0.5, ar + wr * (br - ar), br - (br - ar) * (np.float32(1) - wr)).astype(np.float32)
    _same(ts.lerp(ta, tb, tw).to(ts.float32).numpy(), _ref(lambda x: x, np_dtype, want))


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_trig_in_float_within_a_rounding(name, dtype, np_dtype):
    # float16/bfloat16 take SLEEF's 3.5-ulp float kernels: the float64 result rounded to the
    # dtype, or its neighbour where the exact value lies within a few float ulps of a tie
    x = np.random.default_rng(19).uniform(-10, 10, 1001).astype(np.float32)
    x[:3] = [0.0, np.inf, np.nan]
    t, xr = _reduced(x, dtype, np_dtype)
    got = getattr(ts, name)(t).to(ts.float32).numpy().astype(np_dtype)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(xr.astype(np.float64)).astype(np_dtype)
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(got[1:3]).all()
    ok = ~np.isnan(want)
    ulps = np.abs(got[ok].view(np.int16).astype(np.int32) - want[ok].view(np.int16).astype(np.int32))
    assert ulps.max() <= 1 and (ulps == 0).mean() > 0.99


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, ceil_mode=True, count_include_pad=False, padding=1),
                                dict(kernel_size=3, divisor_override=5), dict(kernel_size=2),
                                dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0))])
def test_avg_pool2d_rounds_once(dtype, np_dtype, kw):
    # the window sums and the division in float32, one rounding at the end, as PyTorch does
    # (without autograd and with whole windows, one kernel: the same bits)
    import tessel.nn.functional as F
    x = np.random.default_rng(20).uniform(-2, 2, (2, 3, 9, 10)).astype(np.float32)
    t, xr = _reduced(x, dtype, np_dtype)
    want = F.avg_pool2d(ts.from_numpy(xr), **kw).numpy().astype(np_dtype)
    got = F.avg_pool2d(t, **kw)
    assert got.dtype == dtype
    _same(got.to(ts.float32).numpy(), want.astype(np.float32))
    _same(F.avg_pool2d(t[1], **kw).to(ts.float32).numpy(), want[1].astype(np.float32))  # unbatched [C, H, W]
    tg = t.to(ts.float32).to(dtype).requires_grad_()
    F.avg_pool2d(tg, **kw).sum().backward()
    assert tg.grad.dtype == dtype
    tf = ts.from_numpy(xr).requires_grad_()
    F.avg_pool2d(tf, **kw).sum().backward()
    _same(tg.grad.to(ts.float32).numpy(), tf.grad.numpy().astype(np_dtype).astype(np.float32))


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                dict(kernel_size=3, stride=2, dilation=2, ceil_mode=True)])
def test_max_pool2d_exact_with_float_gradients(dtype, np_dtype, kw):
    # the kernel picks values (exact); overlapping windows' gradients add in float, rounded once
    import tessel.nn.functional as F
    x = np.random.default_rng(21).uniform(-2, 2, (2, 3, 11, 12)).astype(np.float32)
    x[0, 0, 3, 4] = np.nan  # NaN wins its windows, as in PyTorch
    t, xr = _reduced(x, dtype, np_dtype)
    tf = ts.from_numpy(xr).requires_grad_()
    want = F.max_pool2d(tf, **kw)
    _same(F.max_pool2d(t, **kw).to(ts.float32).numpy(), want.detach().numpy())  # inference form
    tg = t.to(ts.float32).to(dtype).requires_grad_()
    got = F.max_pool2d(tg, **kw)
    assert got.dtype == dtype
    _same(got.to(ts.float32).numpy(), want.detach().numpy())
    gy = np.random.default_rng(22).uniform(0.5, 1.5, tuple(want.shape)).astype(np.float32)
    gyt, gyr = _reduced(gy, dtype, np_dtype)
    got.backward(gyt)
    want.backward(ts.from_numpy(gyr))
    assert tg.grad.dtype == dtype
    _same(tg.grad.to(ts.float32).numpy(), tf.grad.numpy().astype(np_dtype).astype(np.float32))


# ops whose bfloat16 kernel runs float32's vector formula on lanes widened and rounded in registers
# (vecmath's Table::bf16): the float32 result, rounded once, on every tail length
_LANE_OPS = {
    "exp": ts.exp, "exp2": ts.exp2, "sigmoid": ts.sigmoid, "floor": ts.floor, "ceil": ts.ceil,
    "trunc": ts.trunc, "round": ts.round, "frac": ts.frac, "sqrt": ts.sqrt, "rsqrt": ts.rsqrt, "sign": ts.sign,
    "asinh": ts.asinh, "atan": ts.atan,
    "leaky_relu": lambda t: ts.nn.functional.leaky_relu(t, 0.07),
    "hardswish": ts.nn.functional.hardswish, "hardsigmoid": ts.nn.functional.hardsigmoid,
    "silu": ts.nn.functional.silu, "gelu_tanh": lambda t: ts.nn.functional.gelu(t, approximate="tanh"),
    # the own float32 kernels through lanes of float blocks (vecmath_body.inc's k_bf16_via_f32)
    "erf": ts.erf, "erfc": ts.erfc, "tanh": ts.tanh, "expm1": ts.expm1, "gelu": ts.nn.functional.gelu,
    "softplus": ts.nn.functional.softplus, "elu": ts.nn.functional.elu, "lgamma": ts.lgamma,
    "digamma": ts.digamma, "log": ts.log, "log2": ts.log2, "log10": ts.log10, "log1p": ts.log1p,
    "erfinv": ts.erfinv,
    # elementwise.h's bfloat16 runs in registers
    "reciprocal": ts.reciprocal, "square": ts.square,
}
_DOMAIN = {"sqrt": np.abs, "rsqrt": np.abs, "log": np.abs, "log2": np.abs, "log10": np.abs, "log1p": np.abs,
           "erfinv": lambda v: np.tanh(v / 8)}


@pytest.mark.parametrize("name", sorted(_LANE_OPS))
def test_bfloat16_lane_kernels_round_float32_once(name):
    fn = _LANE_OPS[name]
    x = np.clip(_values(1001, seed=23), -60, 60)
    with np.errstate(all="ignore"):
        x = _DOMAIN.get(name, lambda v: v)(x).astype(np.float32)
    t = ts.from_numpy(x).to(ts.bfloat16)
    for n in list(range(1, 18)) + [31, 33, 1001]:
        got = fn(t[:n])
        want = fn(t[:n].to(ts.float32)).to(ts.bfloat16)
        _same(got.to(ts.float32).numpy(), want.to(ts.float32).numpy())


@pytest.mark.parametrize("dtype,np_dtype", REDUCED + [(ts.int16, np.int16)])
@pytest.mark.parametrize("length", [5, 50, 3000])  # insertion rows, radix rows
@pytest.mark.parametrize("descending", [False, True])
def test_sort_16_bit_by_radix(dtype, np_dtype, length, descending):
    # two byte passes; the same order as float32's (NaN largest, -0 equal to +0, stable)
    rng = np.random.default_rng(24)
    x = rng.integers(-40, 40, (3, length)).astype(np.float32) / 4  # many ties
    if dtype != ts.int16:
        x[0, ::7] = np.nan
        x[1, ::5] = -0.0
        x[2, :3] = [np.inf, -np.inf, 65504]
    t = ts.from_numpy(x).to(dtype)
    v, i = ts.sort(t, dim=-1, descending=descending, stable=True)
    vf, i_f = ts.sort(t.to(ts.float32), dim=-1, descending=descending, stable=True)
    assert v.dtype == dtype
    assert np.array_equal(i.numpy(), i_f.numpy())
    _same(v.to(ts.float32).numpy(), vf.numpy())


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("shape", [(70, 300), (3, 37, 40), (5, 40)])
def test_row_folds_in_float_strips(dtype, np_dtype, shape):
    # amax/amin/prod over leading dims: rows widened per strip and folded in float, in order,
    # rounded once: float32's fold of the same values, bit for bit; NaN propagates
    x = np.random.default_rng(25).uniform(0.95, 1.05, shape).astype(np.float32)
    x.reshape(-1)[[5, 77]] = np.nan
    t, _ = _reduced(x, dtype, np_dtype)
    dim = 1 if len(shape) == 3 else 0
    for name in ("amax", "amin", "prod"):
        got = getattr(ts, name)(t, dim)
        want = getattr(ts, name)(t.to(ts.float32), dim).to(dtype)
        _same(got.to(ts.float32).numpy(), want.to(ts.float32).numpy())


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
def test_copysign_on_the_bits(dtype, np_dtype):
    # magnitude of x, sign of y, on every layout (signed zeros and NaNs included)
    a, b = _values(1001, seed=26), _values(1001, seed=27)[::-1].copy()
    ta, ar = _reduced(a, dtype, np_dtype)
    tb, br = _reduced(b, dtype, np_dtype)

    def same_bits(got, want):
        g = got.to(ts.float32).numpy()
        assert np.array_equal(np.signbit(g), np.signbit(want))
        assert np.array_equal(np.abs(g), np.abs(want), equal_nan=True)

    same_bits(ts.copysign(ta, tb), np.copysign(ar, br))
    for s in (-0.0, 2.0):
        ts_s, sr = _reduced(np.array([s], np.float32), dtype, np_dtype)
        same_bits(ts.copysign(ta, ts_s), np.copysign(ar, sr))
        same_bits(ts.copysign(ts_s, ta), np.copysign(sr, ar))
    m, n = ta[:1000].reshape(40, 25), tb[:1000].reshape(40, 25)
    same_bits(ts.copysign(m.t(), n.t()), np.copysign(ar[:1000].reshape(40, 25).T, br[:1000].reshape(40, 25).T))


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("shape", [(3, 7), (200, 33), (4, 5, 1100)])
def test_layer_norm_inference_kernel_matches_the_float32_path(dtype, np_dtype, shape):
    # without autograd the reduced-float kernel widens rows itself; the bits of the float32
    # kernel on a float32 copy, rounded once (the path with autograd, checked above)
    x = np.random.default_rng(28).standard_normal(shape).astype(np.float32) * 3 + 1
    t, _ = _reduced(x, dtype, np_dtype)
    D = shape[-1]
    w, _ = _reduced(np.linspace(0.5, 1.5, D).astype(np.float32), dtype, np_dtype)
    b, _ = _reduced(np.linspace(-1, 1, D).astype(np.float32), dtype, np_dtype)
    for args in ((None, None), (w, b)):
        got = F.layer_norm(t, (D,), *args)
        want = F.layer_norm(t.to(ts.float32), (D,), *(a.to(ts.float32) if a is not None else None for a in args))
        assert got.dtype == dtype
        _same(got.to(ts.float32).numpy(), want.to(dtype).to(ts.float32).numpy())
    tg = t.to(ts.float32).to(dtype).requires_grad_()  # with autograd: the float32 copies, same values
    _same(F.layer_norm(tg, (D,)).detach().to(ts.float32).numpy(), F.layer_norm(t, (D,)).to(ts.float32).numpy())


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (8, 4, 33), (2, 3, 4200), (5, 2), (3, 2, 40000)])
def test_batch_norm_statistics_kernel_matches_the_float32_path(dtype, np_dtype, shape):
    # training statistics without autograd: the reduced-float kernel reads the rows in
    # place; float32's kernel on a float32 copy rounded once, bit for bit (the same sums
    # in the same pieces, rows longer than a piece included)
    x = np.random.default_rng(35).standard_normal(shape).astype(np.float32) * 2 + 0.5
    t, _ = _reduced(x, dtype, np_dtype)
    C = shape[1]
    w, _ = _reduced(np.linspace(0.5, 1.5, C).astype(np.float32), dtype, np_dtype)
    b, _ = _reduced(np.linspace(-1, 1, C).astype(np.float32), dtype, np_dtype)
    for args in ((None, None), (w, b)):
        rm, rv = ts.zeros([C]), ts.ones([C])
        rm32, rv32 = ts.zeros([C]), ts.ones([C])
        got = F.batch_norm(t, rm, rv, *args, training=True, momentum=0.3)
        want = F.batch_norm(t.to(ts.float32), rm32, rv32, *(a.to(ts.float32) if a is not None else None for a in args),
                            training=True, momentum=0.3)
        assert got.dtype == dtype and got.shape == t.shape
        _same(got.to(ts.float32).numpy(), want.to(dtype).to(ts.float32).numpy())
        _same(rm.numpy(), rm32.numpy())
        np.testing.assert_allclose(rv.numpy(), rv32.numpy(), rtol=1e-5)
    tg = t.to(ts.float32).to(dtype).requires_grad_()  # with autograd: the float32 copies, same values
    yg = F.batch_norm(tg, None, None, training=True)
    yg.sum().backward()
    assert tg.grad is not None and tg.grad.dtype == dtype
    _same(yg.detach().to(ts.float32).numpy(), F.batch_norm(t, None, None, training=True).to(ts.float32).numpy())


def _onednn_bf16_dot():
    isa = {name: details for name, _, _, details in ts._C._build_info()}["oneDNN"]["isa"]
    return "bf16" in isa or "amx" in isa


@pytest.mark.parametrize("m", [1, 2, 4, 5])
@pytest.mark.parametrize("k,n", [(16, 16), (37, 130), (300, 17)])
@pytest.mark.parametrize("weight", ["row_major", "linear"])
def test_bfloat16_products_of_few_rows_read_the_weight_in_place(m, k, n, weight):
    # One row against a row-major weight, and 1-4 rows against a Linear weight, stream the
    # bfloat16 weight in place and sum in float32: float32's product of the same (exactly
    # widened) values rounded once, bit for bit. A Linear weight on AVX512-BF16 goes through
    # vdpbf16ps, which adds the products in pairs: its float sums differ from float32's in
    # their last bits, so its bfloat16 result is within one bfloat16 step of float32's.
    # The other products go to oneDNN's bfloat16 matmul where the CPU has one (else to the
    # float32 copies, bit for bit); on AVX512-BF16 or AMX it too adds products in pairs.
    in_place = (weight == "row_major" and m == 1) or (weight == "linear" and m <= 4)
    pairs = (weight == "linear" and m <= 4) or (not in_place and _onednn_bf16_dot())

    def same(got, want):
        g, w = got.to(ts.float32).numpy(), want.to(ts.float32).numpy()
        if not pairs:
            return _same(g, w)
        step = np.exp2(np.floor(np.log2(np.maximum(np.abs(w), 1e-30))) - 7)
        assert np.all(np.abs(g - w) <= step), np.max(np.abs(g - w) / step)

    rng = np.random.default_rng(m * 1000 + k + n)
    a, _ = _reduced(rng.standard_normal((m, k)).astype(np.float32), ts.bfloat16, ml_dtypes.bfloat16)
    if weight == "row_major":
        b, _ = _reduced(rng.standard_normal((k, n)).astype(np.float32), ts.bfloat16, ml_dtypes.bfloat16)
    else:  # a Linear layer's weight [n, k], transposed view
        wt, _ = _reduced(rng.standard_normal((n, k)).astype(np.float32), ts.bfloat16, ml_dtypes.bfloat16)
        b = wt.t()
    got = ts.matmul(a, b)
    want = ts.matmul(a.to(ts.float32), b.to(ts.float32)).to(ts.bfloat16)
    assert got.dtype == ts.bfloat16 and got.shape == (m, n)
    same(got, want)
    ref = a.to(ts.float32).numpy().astype(np.float64) @ b.to(ts.float32).numpy().astype(np.float64)
    np.testing.assert_allclose(got.to(ts.float32).numpy(), ref, rtol=1e-2, atol=1e-2 * np.sqrt(k))
    # batched, a weight shared by the batch, and F.linear's 1-row form
    a3 = ts.stack([a, a * 2])
    same(ts.matmul(a3, b), ts.matmul(a3.to(ts.float32), b.to(ts.float32)).to(ts.bfloat16))
    if weight == "linear":
        same(F.linear(a[0], wt), F.linear(a[0].to(ts.float32), wt.to(ts.float32)).to(ts.bfloat16))


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_bfloat16_product_with_k_and_m_past_a_multiple_of_32(shared, threads):
    # On AMX, products this large with K and M not multiples of 32 read K zero-padded copies
    # (matmul.cpp, amx_padded), and on 2 threads M zero-padded too, the extra rows dropped;
    # elsewhere the plain path. The float64 product of the same bfloat16 values is the
    # reference, within bfloat16's rounding of float32 sums.
    rng = np.random.default_rng(77)
    m, k, n = 600, 301, 800
    a, _ = _reduced(rng.standard_normal((2, m, k) if shared else (m, k)).astype(np.float32), ts.bfloat16,
                    ml_dtypes.bfloat16)
    b, _ = _reduced(rng.standard_normal((k, n)).astype(np.float32), ts.bfloat16, ml_dtypes.bfloat16)
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        got = ts.matmul(a, b).to(ts.float32).numpy()
    finally:
        ts.set_num_threads(old)
    ref = a.to(ts.float32).numpy().astype(np.float64) @ b.to(ts.float32).numpy().astype(np.float64)
    assert got.shape == ref.shape
    step = np.exp2(np.floor(np.log2(np.maximum(np.abs(ref), 1e-30))) - 7)
    assert np.all(np.abs(got - ref) <= step + 1e-5 * np.sqrt(k)), np.max(np.abs(got - ref) / step)


@pytest.mark.parametrize("m", [1, 3, 64, 301])
@pytest.mark.parametrize("threads", [1, 2])
def test_bfloat16_linear_with_bias_rounds_once(m, threads):
    # bfloat16 F.linear with a bias is one kernel (matmul.cpp, "linear_bias"): the float32 sums
    # and the bias, rounded once to bfloat16. A matmul rounded to bfloat16 and then the bias
    # added (a second rounding) differs from the once-rounded float64 result in ~1/4 of the
    # elements here, where the bias is as large as the products; the once-rounded kernel only
    # where float32 sums land within a hair of a bfloat16 rounding boundary.
    rng = np.random.default_rng(m)
    k, n = 256, 96
    x, _ = _reduced(rng.standard_normal((m, k)).astype(np.float32), ts.bfloat16, ml_dtypes.bfloat16)
    w, _ = _reduced((rng.standard_normal((n, k)) / 16).astype(np.float32), ts.bfloat16, ml_dtypes.bfloat16)
    b, _ = _reduced(rng.standard_normal(n).astype(np.float32), ts.bfloat16, ml_dtypes.bfloat16)
    f64 = [t.to(ts.float32).numpy().astype(np.float64) for t in (x, w, b)]
    ref = (f64[0] @ f64[1].T + f64[2]).astype(ml_dtypes.bfloat16).astype(np.float64)
    scale = np.abs(f64[0]) @ np.abs(f64[1]).T + np.abs(f64[2])
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        for xin in (x, x.t().contiguous().t()):
            got = ts.nn.functional.linear(xin, w, b)
            assert got.dtype == ts.bfloat16 and got.shape == (m, n)
            g = got.to(ts.float32).numpy().astype(np.float64)
            # a bfloat16 step, plus float32's rounding of the sums where they nearly cancel
            bound = np.exp2(np.floor(np.log2(np.maximum(np.abs(ref), 1e-30))) - 7) + 2.0 ** -23 * scale
            assert np.all(np.abs(g - ref) <= bound), np.max(np.abs(g - ref) / bound)
            assert np.mean(g != ref) <= 0.02, np.mean(g != ref)
    finally:
        ts.set_num_threads(old)


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("shape,dim", [((1001,), None), ((37, 300), None), ((37, 300), -1), ((5, 6, 7), (1, 2)),
                                       ((3, 70000), -1), ((3, 70000), None)])
def test_two_norm_sums_squares_in_place(dtype, np_dtype, shape, dim):
    # without autograd the squares of float16/bfloat16 are summed in float32 lanes read in
    # place: the float32 path's bits (its leaves, its order), the root rounded once
    x = np.random.default_rng(36).standard_normal(shape).astype(np.float32) * 4
    t, xr = _reduced(x, dtype, np_dtype)
    for view in (t, t.t() if t.dim() == 2 else t):
        for keepdim in (False, True):
            got = ts.norm(view, 2, dim=dim, keepdim=keepdim) if dim is not None else ts.norm(view)
            want = (ts.norm(view.to(ts.float32), 2, dim=dim, keepdim=keepdim) if dim is not None
                    else ts.norm(view.to(ts.float32)))
            assert got.dtype == dtype
            _same(got.to(ts.float32).numpy(), want.to(dtype).to(ts.float32).numpy())
            if dim is None:
                break
    ref = np.sqrt((xr.astype(np.float64) ** 2).sum())
    np.testing.assert_allclose(float(ts.norm(t).to(ts.float32).item()), ref, rtol=1e-2)
    # with autograd: the float32 copies and the gradient back in the input's dtype
    tg = t.to(ts.float32).to(dtype).requires_grad_()
    ts.norm(tg).backward()
    assert tg.grad.dtype == dtype


@pytest.mark.parametrize("shape,dim", [((50, 1000), -1), ((50, 1000), None), ((3, 4, 333), (1, 2)),
                                       ((2, 70001), -1), ((70001 * 2,), None), ((9, 31), -1)])
@pytest.mark.parametrize("nan", [False, True])
def test_bfloat16_runs_fold_in_place(shape, dim, nan):
    # amax/amin/prod along contiguous runs (and over everything) read bfloat16 in float
    # lanes in place: float32's fold of the same values, bit for bit (a product's order
    # too), the run's first NaN when it has one; a transposed input in its memory order
    x = np.random.default_rng(37).uniform(0.99, 1.01, shape).astype(np.float32)
    x.reshape(-1)[[3, 1000 % x.size]] = [0.25, 4.0]
    if nan:
        x.reshape(-1)[[40, 2500 % x.size]] = np.nan
    t, _ = _reduced(x, ts.bfloat16, ml_dtypes.bfloat16)
    views = [(t, dim)] + ([(t.t(), 0 if dim == -1 else dim)] if t.dim() == 2 else [])
    for v, d in views:
        for name in ("amax", "amin", "prod"):
            got = getattr(ts, name)(v, d) if d is not None else getattr(ts, name)(v)
            want = (getattr(ts, name)(v.to(ts.float32), d) if d is not None
                    else getattr(ts, name)(v.to(ts.float32))).to(ts.bfloat16)
            assert got.dtype == ts.bfloat16
            _same(got.to(ts.float32).numpy(), want.to(ts.float32).numpy())


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "broadcast", "dim0"])
def test_softmax_without_autograd_reads_the_reduced_dtype(dtype, np_dtype, name, layout):
    # without autograd the kernel widens each row itself (other layouts: float32 copies
    # inside the kernel): float32's result on the same values, rounded once, bit for bit
    fn = getattr(F, name)
    x = np.random.default_rng(39).uniform(-6, 6, (37, 300)).astype(np.float32)
    x[3, :5] = -np.inf
    t, _ = _reduced(x, dtype, np_dtype)
    v, dim = {"contiguous": (t, -1), "transposed": (t.t(), -1), "broadcast": (t[:1].expand(5, 300), -1),
              "dim0": (t, 0)}[layout]
    got = fn(v, dim)
    assert got.dtype == dtype
    want = fn(v.to(ts.float32), dim).to(dtype)
    _same(got.to(ts.float32).numpy(), want.to(ts.float32).numpy())


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("shape,expand", [((1, 300), (40, 300)), ((3, 1, 64), (3, 5, 64)), ((1, 1, 7), (4, 6, 7))])
def test_layer_norm_of_repeated_rows_normalizes_the_distinct_ones(dtype, np_dtype, shape, expand):
    # an input broadcast over its leading dims: the distinct rows normalized once and
    # copied; the float32 path's bits on the expanded tensor
    x = np.random.default_rng(40).standard_normal(shape).astype(np.float32) * 2 + 1
    t, _ = _reduced(x, dtype, np_dtype)
    v = t.expand(*expand)
    D = expand[-1]
    w, _ = _reduced(np.linspace(0.5, 1.5, D).astype(np.float32), dtype, np_dtype)
    for args in ((None, None), (w, None)):
        got = F.layer_norm(v, (D,), *args)
        assert got.dtype == dtype and got.shape == tuple(expand) and got.is_contiguous()
        want = F.layer_norm(v.to(ts.float32).contiguous(), (D,),
                            *(a.to(ts.float32) if a is not None else None for a in args)).to(dtype)
        _same(got.to(ts.float32).numpy(), want.to(ts.float32).numpy())


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("grad", [False, True])
def test_group_norm_rounds_once(dtype, np_dtype, grad):
    # in float32 and rounded once: values near 100 with spread 1, where a mean rounded to the
    # reduced dtype shifts every output (0.11 off in bfloat16 before)
    x = np.random.default_rng(31).standard_normal((4, 8, 10, 10)).astype(np.float32) + 100
    t, _ = _reduced(x, dtype, np_dtype)
    w, _ = _reduced(np.linspace(0.5, 2, 8).astype(np.float32), dtype, np_dtype)
    b, _ = _reduced(np.linspace(-1, 1, 8).astype(np.float32), dtype, np_dtype)
    if grad:
        t.requires_grad_()
    got = F.group_norm(t, 2, w, b)
    assert got.dtype == dtype
    want = F.group_norm(t.detach().to(ts.float64), 2, w.to(ts.float64), b.to(ts.float64)).numpy()
    err = np.abs(got.detach().to(ts.float64).numpy() - want)
    p = 8 if dtype == ts.bfloat16 else 11  # one rounding: half an ulp <= |want| 2^-p (slack near ties and 0)
    assert np.all(err <= 2.0 ** -p * (np.abs(want) + 0.01)), err.max()


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("shape,expand", [((1, 16), (62, 16)), ((3, 1, 5), (3, 40, 5)), ((1, 300), (7, 300))])
def test_sum_of_a_broadcast_input_folds_the_distinct_values(dtype, np_dtype, shape, expand):
    # the distinct values summed in float32, times the repeat count in float32, rounded once:
    # the float32 path's bits (a float32 copy of the distinct values through the float32 kernel)
    x = np.random.default_rng(17).standard_normal(shape).astype(np.float32) * 5
    t, _ = _reduced(x, dtype, np_dtype)
    v = t.expand(*expand)
    f = t.to(ts.float32).expand(*expand)
    for dims in ((0,), (1,), (0, 1), tuple(range(len(expand)))):
        got = v.sum(dims)
        assert got.dtype == dtype
        _same(got.to(ts.float32).numpy(), f.sum(dims).to(dtype).to(ts.float32).numpy())
        _same(v.mean(dims).to(ts.float32).numpy(), f.mean(dims).to(dtype).to(ts.float32).numpy())
        _same(v.sum(dims, dtype=ts.float32).numpy(), f.sum(dims).numpy())


@pytest.mark.parametrize("dtype,np_dtype", REDUCED)
@pytest.mark.parametrize("name", ["logsumexp", "var", "std"])
@pytest.mark.parametrize("dim", [0, 1])
def test_float_computed_reductions_of_a_broadcast_row(dtype, np_dtype, name, dim):
    # a row expanded to 40 rows: only its distinct values are widened (float_compute.h,
    # widened_view), the result and the gradient as for the same values laid out in full
    row = np.random.default_rng(12).uniform(-3, 3, (1, 50)).astype(np_dtype).astype(np.float32)
    full = np.repeat(row.astype(np.float64), 40, axis=0)
    op = {"logsumexp": lambda t: ts.logsumexp(t, dim=dim), "var": lambda t: ts.var(t, dim=dim),
          "std": lambda t: ts.std(t, dim=dim)}[name]
    with np.errstate(all="ignore"):
        want = {"logsumexp": lambda x: np.log(np.exp(x).sum(axis=dim)), "var": lambda x: x.var(axis=dim, ddof=1),
                "std": lambda x: x.std(axis=dim, ddof=1)}[name](full)
    t = ts.from_numpy(row).to(dtype)
    t.requires_grad_(True)
    got = op(t.expand(40, 50))
    assert got.dtype == dtype and tuple(got.shape) == want.shape
    rel = 2.0 ** (-7 if dtype == ts.bfloat16 else -10)
    np.testing.assert_allclose(got.to(ts.float64).numpy(), want, rtol=rel, atol=rel * 1e-2)
    got.to(ts.float32).sum().backward()
    c = ts.from_numpy(np.repeat(row, 40, axis=0)).to(dtype)
    c.requires_grad_(True)
    op(c).to(ts.float32).sum().backward()
    want_grad = c.grad.to(ts.float64).numpy().sum(axis=0, keepdims=True)  # the expand's rows summed
    np.testing.assert_allclose(t.grad.to(ts.float64).numpy(), want_grad, rtol=2 ** -5, atol=2 ** -5 * np.abs(want_grad).max())
