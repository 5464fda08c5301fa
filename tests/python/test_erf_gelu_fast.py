"""The float32-lane erfc and gelu (erf form) kernels (kernels/cpu/vecmath_body.inc) and the
fused softmax/log_softmax row kernel with its inline exp (kernels/cpu/softmax.cpp), against
NumPy/SciPy float64: ulp bounds over dense grids, tails of every length, extreme inputs,
non-contiguous views, results independent of neighbours and of the thread count."""
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import special as sp

import tessel as ts

F = ts.nn.functional

# Measured maxima on AVX2 (docs/numerics.md): gelu 1.82, erfc 1.95 ulp.
BOUND = {"gelu": 1.9, "erfc": 2.0}
REF = {"gelu": lambda x: 0.5 * x * sp.erfc(-x / np.sqrt(2)), "erfc": sp.erfc}
FN = {"gelu": F.gelu, "erfc": ts.erfc}
VECTOR = ts.backends.cpu.get_cpu_capability() != "DEFAULT"


def ulps32(got, ref):
    ref = np.asarray(ref, np.float64)
    spacing = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - ref) / spacing


def check(name, x):
    got = FN[name](ts.from_numpy(x)).numpy()
    with np.errstate(all="ignore"):
        r = REF[name](x.astype(np.float64))
    assert np.array_equal(np.isnan(got), np.isnan(r)), x[np.isnan(got) != np.isnan(r)]
    fin = np.isfinite(r)
    assert np.array_equal(got[~fin], r[~fin].astype(np.float32))
    # ulps of the result; below 2^-126 the spacing is 2^-149, the same bound in those units
    err = ulps32(got[fin], r[fin])
    assert err.max() <= BOUND[name], (name, float(err.max()), float(x[fin][np.argmax(err)]))
    return got


@pytest.mark.parametrize("name", ["gelu", "erfc"])
def test_dense_grid_within_bound(name):
    # every 499th float32 bit pattern below 16 in magnitude (both signs, subnormals), and
    # 400,001 points over the range where both polynomial forms and the switch at u = 3 lie
    b = np.arange(0, 0x41800000, 499, dtype=np.uint32).view(np.float32)
    busy = np.random.default_rng(11).uniform(-15, 15, 400_001).astype(np.float32)
    check(name, np.concatenate([b, -b, busy]))


@pytest.mark.parametrize("name", ["gelu", "erfc"])
def test_switch_points_and_underflow(name):
    # u = 3 (gelu: |x| = 3, erfc: |x| = 3 / sqrt 2), the clamps (14.5, 10.5), the
    # gelu/erfc underflow to subnormals and zero, and the x > 10 shortcut of gelu
    pts = np.array([3.0, 3 / np.sqrt(2), 10.0, 10.05, 10.06, 10.5, 13.2, 14.0, 14.2, 14.5, 20.0, 1e30])
    p32 = pts.astype(np.float32)
    x = np.concatenate([p32, np.nextafter(p32, np.float32(0)), np.nextafter(p32, np.float32(np.inf))])
    check(name, np.concatenate([x, -x]))


@pytest.mark.parametrize("name", ["gelu", "erfc"])
def test_special_values(name):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-38, -1e-38, 3e38, -3e38], np.float32)
    got = FN[name](ts.from_numpy(x)).numpy()
    if name == "gelu":
        # gelu(+inf) = inf, gelu(-inf) = -inf * 0 = NaN (as PyTorch), -0 keeps its sign,
        # the far negative tail is -0
        want = np.array([0.0, -0.0, np.inf, np.nan, np.nan, 0.0, -0.0, 5e-39, -5e-39, 3e38, -0.0], np.float32)
        np.testing.assert_array_equal(np.signbit(got[[0, 1, 6, 10]]), [False, True, True, True])
    else:
        want = np.array([1, 1, 0, 2, np.nan, 1, 1, 1, 1, 0, 2], np.float32)
    # gelu(2^-149) = 2^-150 is a tie: either neighbour is within the bound
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=2.0 ** -149)


@pytest.mark.parametrize("name", ["gelu", "erfc"])
def test_tails_neighbours_and_layouts_give_the_same_bits(name):
    # Large, tiny and NaN neighbours switch a block to the long forms; each result must
    # still depend only on its own input, at every length and in every layout.
    rng = np.random.default_rng(12)
    base = rng.uniform(-4, 4, (41, 300)).astype(np.float32)
    base[3, 7], base[5, 100], base[9, 299], base[20, 3] = 30.0, -16.0, np.nan, -1e-40
    fn = FN[name]
    whole = fn(ts.from_numpy(base)).numpy()
    alone = np.stack([fn(ts.from_numpy(base[i].copy())).numpy() for i in range(41)])
    assert np.array_equal(whole, alone, equal_nan=True)
    row = base[0].copy()
    for n in list(range(1, 40)) + [255, 256, 257, 300]:
        assert np.array_equal(fn(ts.from_numpy(row[:n].copy())).numpy(), whole[0, :n]), n
    mixed = row.copy()
    mixed[::7] = 50.0  # every 7th element past u = 3: the others keep their bits
    got = fn(ts.from_numpy(mixed)).numpy()
    keep = np.arange(300) % 7 != 0
    assert np.array_equal(got[keep], whole[0][keep])
    assert np.array_equal(fn(ts.from_numpy(np.ascontiguousarray(base.T)).t()).numpy(), whole, equal_nan=True)
    assert np.array_equal(fn(ts.from_numpy(base)[:, ::3]).numpy(), whole[:, ::3], equal_nan=True)
    bc = ts.from_numpy(base[:1].copy()).expand(6, 300)
    assert np.array_equal(fn(bc).numpy(), np.broadcast_to(whole[:1], (6, 300)))


def test_gelu_backward_float32_relative_in_the_tails():
    # float32's exact-form backward runs in float lanes (vecmath's GeluBackward): Phi(-|x|)
    # from the same exp as phi, so the negative tail keeps its relative accuracy (the
    # erf-based sum lost it entirely past x = -5.5, and most of it from x = -1.5: 1.9e5 ulp).
    x = np.concatenate([np.linspace(-13, -1.5, 40_001), np.linspace(1.5, 13, 4_001),
                        np.linspace(-1.5, 1.5, 30_001)]).astype(np.float32)
    for n in (len(x), 1, 7, 9, 17):  # every vector tail takes the same path
        t = ts.from_numpy(x[:n].copy()).requires_grad_(True)
        F.gelu(t).backward(ts.ones_like(t))
        got = t.grad.numpy().astype(np.float64)
        if n == len(x):
            whole = got
        else:
            assert np.array_equal(got, whole[:n])
    xd = x.astype(np.float64)
    want = 0.5 * sp.erfc(-xd / np.sqrt(2)) + xd * np.exp(-0.5 * xd * xd) / np.sqrt(2 * np.pi)
    err = np.abs(whole - want)
    tails = np.abs(xd) >= 1.5  # results above float's normal range (|x| < 13.1)
    assert (err[tails] / np.spacing(np.abs(want[tails]).astype(np.float32))).max() <= 6
    assert err.max() <= 2.5e-7  # near the root at x = -0.7518 only absolutely
    g = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)
    t = ts.from_numpy(x).requires_grad_(True)
    F.gelu(t).backward(ts.from_numpy(g))
    np.testing.assert_array_equal(t.grad.numpy(), (g * whole.astype(np.float32)).astype(np.float32))
    # strided inputs are gathered into blocks for the same kernel: the same bits
    x2 = x[:74_000].reshape(370, 200)
    t = ts.from_numpy(np.ascontiguousarray(x2.T)).requires_grad_(True)
    F.gelu(t.t()).backward(ts.ones(370, 200))
    np.testing.assert_array_equal(t.grad.numpy().T, whole[:74_000].reshape(370, 200).astype(np.float32))


def test_gelu_backward_still_matches_float64():
    # the forward it pairs with in training: both against float64.
    x = np.random.default_rng(13).uniform(-6, 6, 4099).astype(np.float32)
    t = ts.from_numpy(x).requires_grad_(True)
    y = F.gelu(t)
    y.backward(ts.ones_like(y))
    xd = x.astype(np.float64)
    want = 0.5 * sp.erfc(-xd / np.sqrt(2)) + xd * np.exp(-0.5 * xd * xd) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.detach().numpy(), REF["gelu"](xd), rtol=3e-7, atol=1e-37)


# ---- softmax / log_softmax rows ----

def softmax_ref(x, log, axis=-1):
    x = np.asarray(x, np.float64)
    m = x.max(axis, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.exp(x - m)
    s = e.sum(axis, keepdims=True)
    with np.errstate(all="ignore"):
        return (x - m - np.log(s)) if log else e / s


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("cols", [1, 3, 7, 8, 9, 15, 16, 17, 33, 255, 256, 257, 2048, 2051])
def test_softmax_rows_match_float64(log, cols):
    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((5, cols)) * 4).astype(np.float32)
    fn = F.log_softmax if log else F.softmax
    got = fn(ts.from_numpy(x), -1).numpy()
    want = softmax_ref(x, log)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6 * max(1.0, np.abs(want).max()))
    # non-contiguous rows (a transposed view) through the same row kernel: the same bits
    xt = ts.from_numpy(np.ascontiguousarray(x.T)).t()
    assert np.array_equal(fn(xt, -1).numpy(), got)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_extreme_rows(log):
    # a row of -inf (NaN: 0/0, as NumPy and PyTorch), a NaN, +inf, -inf entries, entries
    # 100 and 1000 below the max (exp underflows to subnormals, then 0), huge magnitudes
    rows = [[-np.inf] * 11, [1.0, np.nan] + [2.0] * 9, [np.inf, 0.0] + [1.0] * 9,
            [0.0, -np.inf, 3.0] + [1.0] * 8, [0.0, -100.0, -1000.0, -87.5, -103.0, -104.5] + [-50.0] * 5,
            [3e38, -3e38] + [0.0] * 9, [-1e30] * 11]
    x = np.array(rows, np.float32)
    fn = F.log_softmax if log else F.softmax
    got = fn(ts.from_numpy(x), -1).numpy()
    want = softmax_ref(x, log)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    if log:
        with np.errstate(over="ignore"):  # -3e38 - 3e38 is -inf in float32
            assert np.array_equal(np.isinf(got[ok]), np.isinf(want[ok].astype(np.float32)))
        fin = ok & np.isfinite(got)
        np.testing.assert_allclose(got[fin], want[fin], rtol=2e-6, atol=2e-6 * np.abs(want[fin]).max())
    else:
        # relative where the result is normal, else within a subnormal spacing or two
        normal = ok & (np.abs(want) >= 2.0 ** -126)
        np.testing.assert_allclose(got[normal], want[normal], rtol=2e-6)
        np.testing.assert_allclose(got[ok & ~normal], want[ok & ~normal], rtol=0, atol=2 * 2.0 ** -149)


def test_softmax_exp_is_within_an_ulp():
    # The row kernel's inline exp, seen through a 2-element row [0, z]: softmax's second
    # entry is exp(z) / (1 + exp(z)), i.e. exp(z) itself when exp(z) < 2^-24.
    z = -np.linspace(17.0, 87.0, 200_003, dtype=np.float64).astype(np.float32)
    x = np.stack([np.zeros_like(z), z], 1)
    got = F.softmax(ts.from_numpy(x), -1).numpy()[:, 1]
    want = np.exp(z.astype(np.float64)) / (1 + np.exp(z.astype(np.float64)))
    assert ulps32(got, want).max() <= 1.05  # 1.03 measured (SLEEF's u10 exp: 0.98)


_CHILD = r"""
import sys, numpy as np, tessel as ts
ts.set_num_threads(int(sys.argv[2]))
F = ts.nn.functional
rng = np.random.default_rng(21)
x = rng.uniform(-5, 5, (999, 257)).astype(np.float32)
x[5, 3] = 40.0
t = ts.from_numpy(x)
outs = [F.gelu(t), ts.erfc(t), F.softmax(t, -1), F.log_softmax(t, -1), F.softmax(t, 0), F.log_softmax(t.t(), -1)]
np.save(sys.argv[1], np.stack([o.numpy().reshape(-1) for o in outs]))
"""


def test_thread_count_independence(tmp_path):
    outs = []
    for n in (1, 2, 3):
        path = tmp_path / f"t{n}.npy"
        p = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(n)], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ))
        assert p.returncode == 0, p.stderr
        outs.append(np.load(path))
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2])


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(2, 2), (17, 33), (16, 16), (250, 3), (5, 1001)])
def test_transposed_views_same_bits(shape, dtype):
    # Transposed 2-D views (with a storage offset) through vecmath's unary dispatch
    # (kernels/cpu/vecmath.cpp): every op there gives the contiguous result's bits.
    rng = np.random.default_rng(sum(shape))
    x = rng.uniform(-5, 5, (shape[1] + 3, shape[0] + 2)).astype(np.float32)
    base = ts.from_numpy(x).to(getattr(ts, dtype))
    view = base[3:, 2:].t()  # shape `shape`, stride 1 along dim 0, an offset
    assert tuple(view.shape) == shape and not view.is_contiguous()
    dense = view.contiguous()
    for fn in (ts.exp, ts.tanh, ts.erf, ts.erfc, F.gelu, ts.sigmoid, lambda t: F.gelu(t, approximate="tanh")):
        got = fn(view).to(ts.float32).numpy()
        want = fn(dense).to(ts.float32).numpy()
        assert np.array_equal(got, want), (fn, shape, dtype)
