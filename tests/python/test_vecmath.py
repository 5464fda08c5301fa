"""The vectorized CPU math kernels (kernels/cpu/vecmath*, SLEEF on AVX-512/AVX2, issue 16)
against NumPy/SciPy float64, in ulps, with the special values, every layout, the reduced
floats, and the AVX2 and scalar paths (TESSEL_VECMATH in a subprocess)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import special as sp

import tessel as ts

F = ts.nn.functional


def _sig(x):
    return sp.expit(x)


# name -> (tessel fn, float64 reference, domain of the random sample, float32 ulp bound)
# Bounds: SLEEF's u10 functions are within 1 ulp (erfc: 1.5); composites add a few roundings.
FNS = {
    "exp": (ts.exp, np.exp, (-100, 88), 1),
    "exp2": (ts.exp2, np.exp2, (-140, 127), 1),
    "expm1": (ts.expm1, np.expm1, (-20, 20), 1),
    "log": (ts.log, np.log, (0, 1e6), 1),
    "log1p": (ts.log1p, np.log1p, (-1, 1e6), 1),
    "log2": (ts.log2, np.log2, (0, 1e6), 1),
    "log10": (ts.log10, np.log10, (0, 1e6), 1),
    "sin": (ts.sin, np.sin, (-1e4, 1e4), 1),
    "cos": (ts.cos, np.cos, (-1e4, 1e4), 1),
    "tan": (ts.tan, np.tan, (-100, 100), 1),
    "asin": (ts.asin, np.arcsin, (-1, 1), 1),
    "acos": (ts.acos, np.arccos, (-1, 1), 1),
    "atan": (ts.atan, np.arctan, (-1e3, 1e3), 1),
    "sinh": (ts.sinh, np.sinh, (-89, 89), 2.5),
    "cosh": (ts.cosh, np.cosh, (-89, 89), 2.5),
    "tanh": (ts.tanh, np.tanh, (-12, 12), 1.4),  # float32: own; AVX2's exp form 1.33 ulp, AVX-512's table 0.61
    "asinh": (ts.asinh, np.arcsinh, (-1e4, 1e4), 1),
    "acosh": (ts.acosh, np.arccosh, (1, 1e4), 1),
    "atanh": (ts.atanh, np.arctanh, (-1, 1), 1),
    "erf": (ts.erf, sp.erf, (-6, 6), 1.2),  # float32: own float polynomials + exp, 1.08 ulp measured
    "erfc": (ts.erfc, sp.erfc, (-6, 11), 2.0),  # float32: own, in float lanes (1.95 measured; 0.52 in double before)
    "erfinv": (ts.erfinv, sp.erfinv, (-1, 1), 0.6),  # float32: own, evaluated in double (0.51 measured)
    "sigmoid": (ts.sigmoid, _sig, (-100, 30), 3),
    "silu": (F.silu, lambda x: x * _sig(x), (-80, 30), 4),
    "gelu": (F.gelu, lambda x: 0.5 * x * sp.erfc(-x / np.sqrt(2)), (-14, 12), 1.9),  # float32: float lanes, 1.82
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"),
                  lambda x: x * _sig(2 * np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)), (-5, 9), 40),
    "softplus": (F.softplus, lambda x: np.where(x > 20, x, np.logaddexp(0.0, x)), (-80, 30), 2),
    "softplus_b2": (lambda t: F.softplus(t, beta=2.0, threshold=5.0),
                    lambda x: np.where(2 * x > 5, x, np.log1p(np.exp(2 * x)) / 2), (-40, 10), 2),
    "elu": (F.elu, lambda x: np.where(x > 0, x, np.expm1(x)), (-20, 5), 1),
}
# gelu_tanh's polynomial is rounded in the input's precision first, as in the scalar kernel
# and PyTorch, and the steep negative tail magnifies that rounding by ~x^2: the bound holds on
# the sampled domain and grows with |x| past it. float32 gelu (erf form) carries x^2 exactly
# (kernels/cpu/vecmath_body.inc), so no rounding of -x/sqrt(2) is magnified there.


def ulps32(got, ref):
    """|got - ref| in float32 ulps of ref (normal results; subnormals by the 2^-149 spacing)."""
    ref = np.asarray(ref, np.float64)
    spacing = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - ref) / spacing


def sample(dom, n, rng, dtype):
    lo, hi = dom
    x = rng.uniform(lo, hi, n)
    if lo < 0 < hi:  # plus small magnitudes of both signs, down to the subnormals
        x = np.concatenate([x, np.sign(rng.uniform(-1, 1, 500)) * 10.0 ** rng.uniform(-44, 0, 500)])
    return x.astype(dtype)


@pytest.mark.parametrize("name", list(FNS))
def test_float32_within_ulp_bound(name):
    fn, ref, dom, bound = FNS[name]
    x = sample(dom, 20_003, np.random.default_rng(1), np.float32)  # odd length: the vector tail too
    got = fn(ts.from_numpy(x)).numpy()
    with np.errstate(all="ignore"):
        r = ref(x.astype(np.float64))
    keep = np.abs(r) >= 1e-30  # below, an intermediate is subnormal: checked in absolute terms
    err = ulps32(got[keep], r[keep])
    assert np.all(np.isfinite(got[keep])), name
    assert err.max() <= bound + 0.01, (name, float(err.max()), float(x[keep][np.argmax(err)]))
    rest = ulps32(got[~keep], r[~keep])  # in ulps of the (maybe subnormal) result: 2^-149 at the bottom
    assert np.all(rest <= 200), (name, float(rest.max()))


@pytest.mark.parametrize("name", list(FNS))
def test_float64_close_to_reference(name):
    fn, ref, dom, _ = FNS[name]
    dom = {"gelu": (-5, 12)}.get(name, dom)  # float64 gelu keeps SLEEF's erfc: the argument's rounding grows past -5
    x = sample(dom, 5_001, np.random.default_rng(2), np.float64)
    got = fn(ts.from_numpy(x)).numpy()
    with np.errstate(all="ignore"):
        r = ref(x)
    keep = np.abs(r) >= 1e-290
    # NumPy/SciPy float64 are themselves within ~1 ulp (SciPy's erfc: ~60 past x = 8, where
    # bench/vecmath_accuracy.py checks against mpmath instead): a few ulps of slack on SLEEF's 1.
    tol = {"gelu": 64, "gelu_tanh": 64, "erfc": 80}.get(name, 6)
    err = np.abs(got[keep] - r[keep]) / np.spacing(np.abs(r[keep]))
    assert err.max() <= tol, (name, float(err.max()), float(x[keep][np.argmax(err)]))


SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45, 1e-40, 3e38, -3e38, 88.9, -88.9,
                    89.3, -89.3, 0.5, -0.5], np.float32)


@pytest.mark.parametrize("name", list(FNS))
def test_special_values_match_numpy(name):
    # NaN, +-inf, +-0 (with the sign), huge and subnormal inputs: the C99 results NumPy gives.
    fn, ref, _, _ = FNS[name]
    got = fn(ts.from_numpy(SPECIAL)).numpy()
    with np.errstate(all="ignore"):
        r64 = np.asarray(ref(SPECIAL.astype(np.float64)), np.float64)
    want = r64.astype(np.float32)
    if name == "erfinv":
        want = np.copysign(want, SPECIAL)  # SciPy drops the sign of erfinv(-0); C and PyTorch keep it
    fin = np.isfinite(want)
    assert np.array_equal(got[~fin], want[~fin], equal_nan=True), (name, SPECIAL[~fin], got[~fin], want[~fin])
    assert np.all(ulps32(got[fin], r64[fin]) <= 8), (name, SPECIAL[fin], got[fin], want[fin])
    zero = want == 0
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), (name, SPECIAL[zero], got[zero])


def test_large_arguments_stay_finite():
    # SLEEF alone overflows in these ranges; the kernels switch to large-argument forms.
    x = np.array([3e38, 1e20, 89.0, -89.0, 89.4], np.float32)
    t = ts.from_numpy(x)
    with np.errstate(all="ignore"):
        for fn, ref in ((ts.log1p, np.log1p), (ts.asinh, np.arcsinh), (ts.sinh, np.sinh), (ts.cosh, np.cosh)):
            got, want = fn(t).numpy(), ref(x.astype(np.float64))
            fin = np.isfinite(want.astype(np.float32))
            assert np.all(ulps32(got[fin], want[fin]) <= 2.5), (fn, got, want)
    assert np.isfinite(ts.acosh(ts.from_numpy(np.array([3e38], np.float32))).item())
    big = np.array([1e300, -1e300, 710.0, -710.0])
    got = ts.sinh(ts.from_numpy(big)).numpy()
    assert np.isfinite(got[2]) and abs(got[2] / np.sinh(710.0) - 1) < 1e-15
    assert abs(ts.asinh(ts.from_numpy(big)).numpy()[0] / np.arcsinh(1e300) - 1) < 1e-15


def test_erfinv_tails_and_roundtrip():
    y = np.array([1 - 2.0 ** -24, -(1 - 2.0 ** -24), 1 - 2.0 ** -20, 1e-30, -1e-38, 1e-45], np.float32)
    got = ts.erfinv(ts.from_numpy(y)).numpy()
    assert np.all(ulps32(got, sp.erfinv(y.astype(np.float64))) <= 1)
    x = np.linspace(-5.5, 5.5, 10_001)
    back = ts.erfinv(ts.erf(ts.from_numpy(x))).numpy()
    assert np.allclose(back, x, rtol=0, atol=1e-9 * np.maximum(1, 1 / np.maximum(np.exp(-x * x), 1e-300)))
    y64 = np.array([1 - 2.0 ** -53, 1 - 1e-12, 0.5, 1e-300, -0.999999])
    r = ts.erfinv(ts.from_numpy(y64)).numpy()
    assert np.all(np.abs(r - sp.erfinv(y64)) <= 4 * np.spacing(np.abs(sp.erfinv(y64)))), r


def test_gelu_tanh_far_tail_does_not_flush():
    # x * sigmoid(2u) with the stable sigmoid: down to ~1e-37 instead of -0 past x = -9.7
    x = np.array([-8.0, -9.0, -10.0], np.float32)
    got = F.gelu(ts.from_numpy(x), approximate="tanh").numpy()
    want = FNS["gelu_tanh"][1](x.astype(np.float64))
    assert np.all(got < 0) and np.allclose(got, want, rtol=1e-4, atol=0), (got, want)


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "erfinv", "gelu", "softplus_b2", "log1p"])
def test_layouts_and_tails_give_the_same_bits(name):
    fn = FNS[name][0]
    lo, hi = FNS[name][2]
    base = np.random.default_rng(3).uniform(max(lo, -30), min(hi, 30), (37, 41)).astype(np.float32)
    whole = fn(ts.from_numpy(base)).numpy()
    # every length 1..40 (vector tails), a transposed view, a strided slice, a broadcast view, in place
    for n in range(1, 41):
        assert np.array_equal(fn(ts.from_numpy(base[0, :n].copy())).numpy(), whole[0, :n]), n
    assert np.array_equal(fn(ts.from_numpy(base.T.copy()).t()).numpy(), whole)
    assert np.array_equal(fn(ts.from_numpy(base)[:, ::3]).numpy(), whole[:, ::3])
    row = ts.from_numpy(base[:1].copy()).expand(5, 41)
    assert np.array_equal(fn(row).numpy(), np.broadcast_to(whole[:1], (5, 41)))


@pytest.mark.parametrize("dtype,np_round", [(ts.bfloat16, None), (ts.float16, np.float16)])
@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "erf", "gelu", "silu"])
def test_reduced_floats_round_the_float32_result(name, dtype, np_round):
    fn = FNS[name][0]
    x32 = np.random.default_rng(4).uniform(-4, 4, 1001).astype(np.float32)
    t = ts.from_numpy(x32).to(dtype)
    xr = t.to(ts.float32)  # the inputs as the reduced float holds them
    want = fn(xr).to(dtype).to(ts.float32).numpy()
    got = fn(t).to(ts.float32).numpy()
    assert np.array_equal(got, want), name
    got_t = fn(t.reshape(7, 143).t()).t().reshape(-1).to(ts.float32).numpy()  # strided reduced floats
    assert np.array_equal(got_t, want), name


def test_cpu_capability_names_the_widest_simd():
    cap = ts.backends.cpu.get_cpu_capability()
    assert cap in ("AVX512", "AVX2", "DEFAULT")
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if " avx512f" in flags and "TESSEL_VECMATH" not in os.environ:
        assert cap == "AVX512"


_CHILD = r"""
import numpy as np, tessel as ts
print(ts.backends.cpu.get_cpu_capability())
x = np.random.default_rng(5).uniform(-6, 6, 4099).astype(np.float32)
t = ts.from_numpy(x)
F = ts.nn.functional
outs = [ts.exp(t), ts.tanh(t), ts.sigmoid(t), ts.erf(t), ts.erfinv(t / 6.001), F.gelu(t), F.silu(t),
        F.softplus(t), ts.sin(t), ts.log1p(ts.abs(t)), F.gelu(t, approximate="tanh")]
np.save(__import__("sys").argv[1], np.stack([o.numpy() for o in outs]))
"""


@pytest.mark.parametrize("isa,cap", [("avx2", "AVX2"), ("scalar", "DEFAULT")])
def test_narrower_paths_agree(tmp_path, isa, cap):
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if isa == "avx2" and " avx2" not in flags:
        pytest.skip("this CPU has no AVX2")
    outs = {}
    for name, env in (("native", None), (isa, isa)):
        e = dict(os.environ)
        e.pop("TESSEL_VECMATH", None)
        if env:
            e["TESSEL_VECMATH"] = env
        path = tmp_path / f"{name}.npy"
        p = subprocess.run([sys.executable, "-c", _CHILD, str(path)], env=e, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        if env:
            assert p.stdout.strip() == cap
        outs[name] = np.load(path)
    a, b = outs["native"], outs[isa]
    # Every path is within a few ulps of float64; paths may differ in the last bits (AVX2 and
    # AVX-512 give the same bits here; the scalar path is glibc's).
    err = np.abs(a.astype(np.float64) - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(np.float32))
    assert np.nanmax(err[:-1]) <= 8, float(np.nanmax(err[:-1]))
    if isa == "avx2":  # erf, erfinv, gelu: the same own algorithm on both widths
        assert np.nanmax(err[3:6]) <= 1, float(np.nanmax(err[3:6]))
    assert np.nanmax(err[-1]) <= FNS["gelu_tanh"][3], float(np.nanmax(err[-1]))  # its steep tail: see FNS
    assert np.array_equal(np.isnan(a), np.isnan(b))


def _dense_float32(step):
    """Every step-th float32 bit pattern below inf, both signs (all magnitudes, subnormals)."""
    x = np.arange(0, 0x7F800000, step, dtype=np.uint32).view(np.float32)
    return np.concatenate([x, -x])


@pytest.mark.parametrize("name,bound", [("erf", 1.1), ("erfc", 2.0), ("erfinv", 0.52), ("gelu", 1.9)])
def test_erf_family_float32_dense(name, bound):
    # The own float32 erf/erfc/erfinv/gelu kernels (fitted polynomials, bench/fit_erf.py) over
    # every 997th bit pattern plus their busy ranges; subnormal results within 0.52 * 2^-149.
    fn, ref, _, _ = FNS[name]
    rng = np.random.default_rng(7)
    busy = {"erf": (-4, 4), "erfc": (-2, 10.1), "erfinv": (-1, 1), "gelu": (-14, 6)}[name]
    x = np.concatenate([_dense_float32(997), rng.uniform(*busy, 300_001).astype(np.float32)])
    if name == "erfinv":
        x = np.concatenate([x[np.abs(x) <= 1], (1 - rng.uniform(0, 1e-4, 50_000)).astype(np.float32)])
    got = fn(ts.from_numpy(x)).numpy()
    with np.errstate(all="ignore"):
        r = ref(x.astype(np.float64))
    assert np.array_equal(np.isnan(got), np.isnan(r)), name
    fin = np.isfinite(r)
    assert np.array_equal(got[~fin], r[~fin].astype(np.float32)), name
    normal = fin & (np.abs(r) >= 2.0 ** -126)
    err = ulps32(got[normal], r[normal])
    assert err.max() <= bound, (name, float(err.max()), float(x[normal][np.argmax(err)]))
    sub = fin & ~normal
    assert np.all(np.abs(got[sub] - r[sub]) <= max(bound, 0.52) * 2.0 ** -149), name


def test_erf_family_switch_points():
    # Both sides of each polynomial's switch point (erf: a = 1 and 3.92; erfc: 0.75;
    # erfinv: w = 5, |y| ~ 0.99662; gelu: x = -0.75 * sqrt 2) and the erfc underflow near 10.05.
    pts = np.array([1.0, 3.92, 0.75, 10.05, 9.2, 0.75 * np.sqrt(2)], np.float64)
    x = np.concatenate([np.nextafter(pts.astype(np.float32), np.float32(k)) for k in (0, 100)] + [pts.astype(np.float32)])
    x = np.concatenate([x, -x])
    y = np.float32(np.sqrt(1 - np.exp(-5.0)))
    ys = np.array([np.nextafter(y, np.float32(0)), y, np.nextafter(y, np.float32(1))], np.float32)
    for fn, ref, v, bound in [(ts.erf, sp.erf, x, 1.1), (ts.erfc, sp.erfc, x, 2.0),
                              (F.gelu, FNS["gelu"][1], x, 1.9), (ts.erfinv, sp.erfinv, np.concatenate([ys, -ys]), 0.52)]:
        got = fn(ts.from_numpy(v)).numpy()
        r = ref(v.astype(np.float64))
        keep = np.abs(r) >= 2.0 ** -126
        assert np.all(ulps32(got[keep], r[keep]) <= bound), (fn, v, got, r)
        assert np.all(np.abs(got[~keep] - r[~keep]) <= max(bound, 0.52) * 2.0 ** -149), (fn, v[~keep], got[~keep])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_abs_clears_the_sign_of_zero(dtype):
    # IEEE abs (and numpy.abs, torch.abs): abs(-0.) is +0., the array API's special case
    x = ts.tensor([-0.0, 0.0, -1.5, 2.0], dtype=getattr(ts, dtype))
    out = ts.abs(x).to(ts.float64).numpy()
    np.testing.assert_array_equal(np.signbit(out), [False, False, False, False])
    np.testing.assert_array_equal(out, [0.0, 0.0, 1.5, 2.0])


# The cheap ops on the vector table (round instructions, sqrt, selects): exact, so every
# path must give NumPy's float64-derived bits, special values and signed zeros included.
EXACT = {
    "floor": (ts.floor, np.floor), "ceil": (ts.ceil, np.ceil), "trunc": (ts.trunc, np.trunc),
    "round": (ts.round, np.rint), "sqrt": (ts.sqrt, np.sqrt), "sign": (ts.sign, np.sign),
    "rsqrt": (ts.rsqrt, lambda x: 1 / np.sqrt(x)),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.1), lambda x: np.where(x > 0, x, x * x.dtype.type(0.1))),
}
_EXACT_SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 1e-45, -1e-45, 3e38, -3e38,
                  8388607.5, -8388607.5, 16777217.0, 4.0, 2.0 ** -126]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(EXACT))
def test_rounding_sqrt_sign_leaky_exact(name, dtype):
    fn, ref = EXACT[name]
    rng = np.random.default_rng(6)
    x = np.concatenate([np.array(_EXACT_SPECIAL), rng.uniform(-40, 40, 2001), rng.standard_normal(333) * 1e6,
                        np.sign(rng.uniform(-1, 1, 300)) * 10.0 ** rng.uniform(-40, 30, 300)]).astype(dtype)
    with np.errstate(all="ignore"):
        want = ref(x).astype(dtype)
    got = fn(ts.from_numpy(x)).numpy()
    assert got.dtype == dtype
    assert np.array_equal(got, want, equal_nan=True), (name, x[got != want], got[got != want], want[got != want])
    zero = want == 0
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), (name, x[zero], got[zero])
    # vector tails, a transposed and a strided view give the same bits
    for n in range(1, 40):
        assert np.array_equal(fn(ts.from_numpy(x[:n].copy())).numpy(), got[:n], equal_nan=True), n
    m = x[:2000].reshape(40, 50)
    assert np.array_equal(fn(ts.from_numpy(m.T.copy()).t()).numpy(), got[:2000].reshape(40, 50), equal_nan=True)
    assert np.array_equal(fn(ts.from_numpy(m)[:, ::3]).numpy(), got[:2000].reshape(40, 50)[:, ::3], equal_nan=True)


def test_round_to_decimals_keeps_its_scalar_path():
    x = np.array([1.2345, -2.5551, 0.125, 1e30], np.float32)
    got = ts.round(ts.from_numpy(x), decimals=2).numpy()
    assert np.allclose(got, np.round(x.astype(np.float64), 2), rtol=1e-6), got


@pytest.mark.parametrize("name,fn,ref,bound", [
    ("atan2", ts.atan2, np.arctan2, 1),
    ("pow", ts.pow, np.power, 1),  # float32: SLEEF's float pow but for small integer exponents
])
def test_binary_vector_kernels(name, fn, ref, bound):
    rng = np.random.default_rng(7)
    a = rng.uniform(0 if name == "pow" else -50, 50, 4001).astype(np.float32)
    b = rng.uniform(-8, 8, 4001).astype(np.float32)
    got = fn(ts.from_numpy(a), ts.from_numpy(b)).numpy()
    with np.errstate(all="ignore"):
        r = ref(a.astype(np.float64), b.astype(np.float64))
    keep = np.isfinite(r) & (np.abs(r) >= 1e-30) & (np.abs(r) < 3e38)
    assert np.all(ulps32(got[keep], r[keep]) <= bound + 0.01), name
    # a broadcast operand and the special values C99 (and NumPy) define
    sp_a = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -8.0, 0.0], np.float32)
    sp_b = np.array([-0.0, 0.0, np.inf, 2.0, 0.0, np.nan, np.inf, -np.inf, 1 / 3, -1.0], np.float32)
    with np.errstate(all="ignore"):
        want = ref(sp_a.astype(np.float64), sp_b.astype(np.float64)).astype(np.float32)
    got = fn(ts.from_numpy(sp_a), ts.from_numpy(sp_b)).numpy()
    assert np.array_equal(got, want, equal_nan=True), (name, got, want)
    row = fn(ts.from_numpy(a[:7].copy()).expand(3, 7), ts.from_numpy(b[:21].reshape(3, 7).copy())).numpy()
    with np.errstate(all="ignore"):
        r2 = ref(np.broadcast_to(a[:7], (3, 7)).astype(np.float64), b[:21].reshape(3, 7).astype(np.float64))
    assert np.all(ulps32(row, r2) <= bound + 0.01)


def test_pow_integer_exponents_are_correctly_rounded():
    # float32 pow with |y| <= 15 an integer: binary powering in double lanes, equal to NumPy's
    # float64 power rounded to float32 (ties included: integer bases whose cubes need 25 bits),
    # for tensor and scalar exponents, with the sign of odd powers of negative bases and -0.
    rng = np.random.default_rng(12)
    a = np.concatenate([rng.uniform(-1e3, 1e3, 20000), 10 ** rng.uniform(-12, 12, 20000), np.arange(-400, 400),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0]]).astype(np.float32)
    for y in (2, 3, 5, 7, 15, -1, -2, -3, 0):
        got = ts.pow(ts.from_numpy(a), float(y)).numpy()
        with np.errstate(all="ignore"):
            want = np.power(a.astype(np.float64), float(y)).astype(np.float32)
        assert np.array_equal(got, want, equal_nan=True), y
        assert np.array_equal(np.signbit(got), np.signbit(want)), y
    b = rng.integers(-15, 16, a.size).astype(np.float32)
    with np.errstate(all="ignore"):
        want = np.power(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
    assert np.array_equal(ts.pow(ts.from_numpy(a), ts.from_numpy(b)).numpy(), want, equal_nan=True)
    np.testing.assert_array_equal(ts.pow(ts.from_numpy(a[:5000]), 0.5).numpy()[a[:5000] > 0],
                                  np.sqrt(a[:5000][a[:5000] > 0]))


def test_pow_positive_bases_are_correctly_rounded():
    # other exponents with x > 0 finite: exp(y log x) in double lanes, rounded once; equal to
    # NumPy's float64 power rounded to float32 (SLEEF's 1-ulp float pow, used before, was off
    # by 1 ulp for ~1.7% of these), overflow to inf and underflow through the subnormals
    # included; the special bases keep C's results.
    rng = np.random.default_rng(21)
    x = np.concatenate([rng.uniform(0.5, 2, 40000), 10 ** rng.uniform(-40, 38.5, 40000),
                        rng.uniform(0.999, 1.001, 10000), [1e-45, 3.4e38]]).astype(np.float32)
    y = np.concatenate([rng.uniform(-10, 10, 40000), rng.uniform(-3, 3, 40000),
                        rng.uniform(-1e4, 1e4, 10000), [0.5001, -0.25]]).astype(np.float32)
    for n in (x.size, 5, 13):  # tails of the vector loop take the same path
        got = ts.pow(ts.from_numpy(x[:n].copy()), ts.from_numpy(y[:n].copy())).numpy()
        with np.errstate(all="ignore"):
            want = np.power(x[:n].astype(np.float64), y[:n].astype(np.float64)).astype(np.float32)
        assert np.array_equal(got, want), np.flatnonzero(got != want)[:5]
    sp = np.array([0.0, -0.0, -2.0, np.inf, np.nan, 1.0], np.float32)
    for e in (2.5, -1.5, np.inf, -np.inf):
        got = ts.pow(ts.from_numpy(sp), ts.from_numpy(np.full(sp.shape, e, np.float32))).numpy()
        with np.errstate(all="ignore"):
            want = np.power(sp.astype(np.float64), e).astype(np.float32)
        assert np.array_equal(got, want, equal_nan=True), (e, got, want)


_CHILD_EXACT = r"""
import sys, numpy as np, tessel as ts
F = ts.nn.functional
x = np.concatenate([np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 2.5, -2.5, 1e-45]),
                    np.random.default_rng(8).uniform(-40, 40, 1001)]).astype(np.float32)
t = ts.from_numpy(x)
d = ts.from_numpy(np.random.default_rng(9).uniform(-6, 6, 1009).astype(np.float32))
outs = [ts.floor(t), ts.ceil(t), ts.trunc(t), ts.round(t), ts.sqrt(t), ts.rsqrt(t), ts.sign(t),
        F.leaky_relu(t, 0.1), ts.amax(t.reshape(1009, 1), 0), ts.amin(t, 0), ts.remainder(t, d),
        ts.floor_divide(t, d), ts.remainder(t * 1e30, d)]
# bfloat16 rounding and widening in lanes (AVX-512, AVX2) and the ops on them: ties to even,
# subnormals kept, NaN quiet
ties = np.tile(np.array([0x3F808000, 0x3F818000, 0x3F807FFF, 0x3F808001, 0x00018000, 0x80008000, 0x7F808001,
                         0xFFC12345], np.uint32).view(np.float32), 8)
b = (t * 1e-33).to(ts.bfloat16)
outs += [ts.from_numpy(ties).to(ts.bfloat16).to(ts.float32)]
outs += [o.to(ts.float32) for o in (t.to(ts.bfloat16), b, ts.reciprocal(b), ts.square(b), b * b)]
# SIMD kernels whose AVX-512 and AVX2 forms round alike (the scalar path is another formula):
# bfloat16 through vecmath's lanes, layer_norm and batch_norm rows (norm.cpp, moments.cpp; row
# tails, pieces), softmax rows with the AVX2 kernel's lanes (every length around the 16 and 8 steps)
simd = [o.to(ts.float32) for o in (ts.erf(b), F.gelu(b), ts.tanh(b), ts.log1p(ts.abs(b)))]
h = t[8:].to(ts.bfloat16)
simd += [o.to(ts.float32) for o in (F.layer_norm(h[:999].reshape(27, 37), (37,)),
                                    F.layer_norm(h[:768].reshape(3, 256), (256,)),
                                    F.batch_norm(h[:999].reshape(3, 9, 37), None, None, training=True))]
for n in list(range(1, 41)) + [100]:
    r = t[: 3 * n].reshape(3, n) / 10
    simd += [F.softmax(r, -1), F.log_softmax(r, -1), F.log_softmax(r.to(ts.bfloat16), -1).to(ts.float32)]
np.save(sys.argv[1] + ".simd.npy", np.concatenate([o.reshape(-1).numpy() for o in simd]))
np.save(sys.argv[1], np.concatenate([o.reshape(-1).numpy() for o in outs]))
"""


@pytest.mark.parametrize("isa", ["avx2", "scalar"])
def test_exact_ops_same_bits_on_every_path(tmp_path, isa):
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if isa == "avx2" and " avx2" not in flags:
        pytest.skip("this CPU has no AVX2")
    outs, simd = [], []
    for env in (None, isa):
        e = dict(os.environ)
        e.pop("TESSEL_VECMATH", None)
        if env:
            e["TESSEL_VECMATH"] = env
        path = tmp_path / f"{env}.npy"
        p = subprocess.run([sys.executable, "-c", _CHILD_EXACT, str(path)], env=e, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        outs.append(np.load(path))
        simd.append(np.load(str(path) + ".simd.npy"))
    assert np.array_equal(outs[0], outs[1], equal_nan=True)
    assert np.array_equal(np.signbit(outs[0]), np.signbit(outs[1]))
    if isa == "avx2":  # AVX-512 against AVX2 (the same path twice on a CPU without AVX-512)
        assert np.array_equal(simd[0], simd[1], equal_nan=True)
        assert np.array_equal(np.signbit(simd[0]), np.signbit(simd[1]))


def test_sqrt_float32_every_float():
    # float32 sqrt is the correctly rounded root on every one of the 2^32 bit patterns: on
    # AVX-512 every other vector takes rsqrt14 and a Newton step, certified lane by lane and
    # redone on vsqrtps where the certificate fails (vecmath_body.inc, k_sqrt_f). NumPy's
    # sqrt is IEEE's. Chunks of 2^24, each also read at an odd offset (the other half of the
    # vectors to each path) and through a transposed view.
    step = 1 << 24
    base = np.arange(step, dtype=np.uint32)
    bits, want = np.empty(step, np.uint32), np.empty(step, np.float32)
    for start in range(0, 1 << 32, step):
        np.add(base, np.uint32(start), out=bits)
        x = bits.view(np.float32)
        np.sqrt(x, out=want)
        got = ts.sqrt(ts.from_numpy(x)).numpy()
        bad = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
        assert bad.size == 0, [hex(b) for b in bits[bad[:5]]]
        if start % (1 << 30) == 0:
            got = ts.sqrt(ts.from_numpy(x)[17:]).numpy()
            assert np.array_equal(got.view(np.uint32), want[17:].view(np.uint32))
            got = ts.sqrt(ts.from_numpy(x[: 4096 * 64].reshape(4096, 64)).t()).numpy()
            assert np.array_equal(got.view(np.uint32), want[: 4096 * 64].view(np.uint32).reshape(4096, 64).T)


def test_remainder_and_floor_divide_float32_exact():
    # The vector kernels (fmod in double lanes) against NumPy, bit for bit: Python's signs (fmod:
    # C's), a zero remainder with the divisor's sign, huge quotients (the fmodf fallback), b = 0, inf, NaN.
    rng = np.random.default_rng(11)
    sa = [0.0, -0.0, np.inf, -np.inf, np.nan, 5, -5, 7.5, -7.5, 1e-45, 3e38, -3e38, 4, -4, -4, 4, 1.0, 6.0,
          0.0, -0.0, 0.0, -0.0, 1e-45, -1e-45]
    sb = [3, 3, 2, 2, 1, np.inf, -np.inf, 0, -0.0, 1e-45, 1e-45, 7, 2, -2, 2, -2, np.nan, 0.1,
          np.inf, np.inf, -np.inf, -np.inf, 3e38, 3e38]  # zero quotients: the sign of a / b
    a = np.concatenate([rng.uniform(-50, 50, 20001), rng.standard_normal(999) * 1e30, sa]).astype(np.float32)
    b = np.concatenate([rng.uniform(-8, 8, 20001), rng.standard_normal(999) * 1e-3, sb]).astype(np.float32)
    A, B = ts.from_numpy(a), ts.from_numpy(b)
    with np.errstate(all="ignore"):
        for fn, ref in ((ts.remainder, np.remainder), (ts.floor_divide, np.floor_divide), (ts.fmod, np.fmod)):
            got, want = fn(A, B).numpy(), ref(a, b)
            assert np.array_equal(got, want, equal_nan=True), (fn, a[got != want][:5], b[got != want][:5])
            zero = want == 0
            assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), fn
            assert np.array_equal(fn(A[::3], B[::3]).numpy(), want[::3], equal_nan=True)  # strided: block path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fmod_is_exact_where_the_quotient_rounds_up(dtype):
    # a / b = 80.99999... rounds to 81 in float: a - trunc(a / b) b would give 0 (the old composite
    # did); the exact fmod is a + 80 |b|, just below |b| in magnitude, with a's sign.
    a = np.array([-1.0424654, 1.0424654, -1.0424654, 7.0, -7.0, 0.0, -0.0], dtype=dtype)
    b = np.array([0.012869944, 0.012869944, -0.012869944, 2.0, 2.0, 3.0, -3.0], dtype=dtype)
    got = ts.fmod(ts.from_numpy(a), ts.from_numpy(b)).numpy()
    assert np.array_equal(got, np.fmod(a, b)), got
    assert np.array_equal(np.signbit(got), np.signbit(np.fmod(a, b)))
    assert np.array_equal(ts.from_numpy(a).fmod(ts.from_numpy(b)).numpy(), got)  # the method
    assert np.array_equal(ts.fmod(ts.from_numpy(a), 2.5).numpy(), np.fmod(a, dtype(2.5)))  # a scalar divisor


def test_fmod_integers_and_division_by_zero():
    a = np.array([7, -7, 7, -7, np.iinfo(np.int64).min], dtype=np.int64)
    b = np.array([2, 2, -2, -2, -1], dtype=np.int64)
    assert np.array_equal(ts.fmod(ts.from_numpy(a), ts.from_numpy(b)).numpy(), np.fmod(a, b))
    with pytest.raises(Exception, match="fmod"):
        ts.fmod(ts.from_numpy(a), ts.from_numpy(np.zeros(5, np.int64)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8, np.int16, np.int64, np.bool_])
def test_where_runs_with_contiguous_and_broadcast_operands(dtype):
    # where's vectorized runs (kernels/cpu/elementwise.cpp): both operands contiguous, either one
    # broadcast, both broadcast, odd lengths for the vector tails; a strided mask takes the old loop.
    rng = np.random.default_rng(12)
    for n in (1, 7, 33, 1001):
        a, b = (rng.standard_normal(n) * 10).astype(dtype), (rng.standard_normal(n) * 10).astype(dtype)
        m = rng.random(n) > 0.5
        A, B, M = ts.from_numpy(a), ts.from_numpy(b), ts.from_numpy(m)
        assert np.array_equal(ts.where(M, A, B).numpy(), np.where(m, a, b))
        assert np.array_equal(ts.where(M, A[:1].expand(n), B).numpy(), np.where(m, a[0], b))
        assert np.array_equal(ts.where(M, A, B[:1].expand(n)).numpy(), np.where(m, a, b[0]))
        assert np.array_equal(ts.where(M, A[:1].expand(n), B[:1].expand(n)).numpy(), np.where(m, a[0], b[0]))
    m2 = rng.random((40, 30)) > 0.5
    x, y = (rng.standard_normal((2, 40, 30)) * 10).astype(dtype)
    assert np.array_equal(ts.where(ts.from_numpy(m2.T.copy()).t(), ts.from_numpy(x), ts.from_numpy(y)).numpy(),
                          np.where(m2, x, y))



def test_sin_cos_tan_float32_dense_and_near_multiples_of_half_pi():
    # float32 sin, cos and tan below |x| = 2^16 are tessel's own (vecmath_float.inc): every float
    # there measured within 0.79, 0.77, 0.93 ulp (bench/vecmath_accuracy.py --sweep 65536). Here every
    # 61st float up to 2^16 and the hard cases: the floats nearest each multiple of pi/2 (r tiny,
    # where a reduction in plain float loses every digit) and their neighbours; -x by symmetry.
    grid = np.arange(0, int(np.float32(65536).view(np.uint32)) + 1, 61, dtype=np.uint32).view(np.float32)
    k = np.arange(1, 41723, dtype=np.float64)
    near = (k * (np.pi / 2)).astype(np.float32).view(np.uint32)
    near = (near[:, None] + np.arange(-3, 4, dtype=np.int64).astype(np.uint32)).ravel().view(np.float32)
    x = np.concatenate([grid, near])
    x = np.concatenate([x, -x])
    for fn, ref, bound in ((ts.sin, np.sin, 0.8), (ts.cos, np.cos, 0.8), (ts.tan, np.tan, 0.93)):
        got = fn(ts.from_numpy(x)).numpy()
        r = ref(x.astype(np.float64))
        err = ulps32(got, r)
        assert err.max() <= bound, (fn.__name__, x[np.argmax(err)], err.max())
        assert np.array_equal(np.signbit(fn(ts.tensor([-0.0] * 17)).numpy()), [fn is not ts.cos] * 17)


def test_log_family_float32_every_61st_positive_float():
    # AVX-512: table-driven float32 log, log2, log10 (vecmath_float.inc, k_log_table_f), every
    # positive float measured within 0.59 ulp (bench/vecmath_accuracy.py --sweep 3.4028235e38);
    # the AVX2 path (division form) 0.63, 0.74, 0.66. Every 61st bit pattern, subnormals included.
    bound = 0.6 if ts.backends.cpu.get_cpu_capability() == "AVX512" else 0.75
    x = np.arange(1, 0x7F800000, 61, dtype=np.uint32).view(np.float32)
    x64 = x.astype(np.float64)
    for fn, ref in ((ts.log, np.log), (ts.log2, np.log2), (ts.log10, np.log10)):
        got = fn(ts.from_numpy(x)).numpy()
        err = ulps32(got, ref(x64))
        assert err.max() <= bound, (fn.__name__, x[np.argmax(err)], err.max())


def test_exp2_float32_every_61st_float_of_its_range():
    # AVX-512: float32 exp2 is tessel's own (vecmath_float.inc, k_exp2_f): every float with a
    # normal result within 0.80 ulp, subnormal results 0.87 (/tmp sweeps in the fortieth
    # session); AVX2 keeps SLEEF's u10 (0.85). Integers are exact; both saturations, NaN.
    x = np.concatenate([np.arange(0, 0x43010000, 61, dtype=np.uint32),
                        np.arange(0x80000000, 0xC3180000, 61, dtype=np.uint32)]).view(np.float32)
    got = ts.exp2(ts.from_numpy(x)).numpy().astype(np.float64)
    ref = np.exp2(x.astype(np.float64))
    keep = (ref >= 2.0 ** -149) & (ref < 3.4e38)
    step = np.maximum(np.spacing(ref[keep].astype(np.float32)).astype(np.float64), 2.0 ** -149)
    err = np.abs(got[keep] - ref[keep]) / step
    assert err.max() <= 0.88, (x[keep][np.argmax(err)], err.max())
    k = np.arange(-149, 128, dtype=np.float32)
    assert np.array_equal(ts.exp2(ts.from_numpy(k)).numpy(), np.exp2(k.astype(np.float64)).astype(np.float32))
    special = ts.exp2(ts.from_numpy(np.float32([np.inf, -np.inf, np.nan, 128.0, -151.0] * 4))).numpy()
    assert special[0] == np.inf and special[1] == 0 and np.isnan(special[2]) and special[3] == np.inf
    assert special[4] == 0


def test_tanh_float32_every_61st_float():
    # AVX-512: float32 tanh by 30 table-driven polynomials (vecmath_float.inc, k_tanh_table_f),
    # every float in [0, 20] measured within 0.61 ulp (bench/vecmath_accuracy.py --fns tanh
    # --sweep 20; past 9 it is 1); AVX2's exp/division form (k_tanh_f) 1.33. Both signs, every
    # interval's ends, the clamp at 16, subnormals.
    bound = 0.61 if ts.backends.cpu.get_cpu_capability() == "AVX512" else 1.34
    x = np.arange(0, 0x7F800001, 61, dtype=np.uint32).view(np.float32)
    ends = np.float32([2.0 ** e * (1 + m / 4) for e in range(-3, 5) for m in range(4)])
    ends = np.concatenate([ends, np.nextafter(ends, np.float32(0))])
    x = np.concatenate([x, ends, np.float32([16.0, 1e30, 3.4e38, 1e-45])])
    x = np.concatenate([x, -x])
    got = ts.tanh(ts.from_numpy(x)).numpy()
    fin = np.isfinite(x)
    err = ulps32(got[fin], np.tanh(x[fin].astype(np.float64)))
    assert err.max() <= bound, (x[fin][np.argmax(err)], err.max())
    special = ts.tanh(ts.from_numpy(np.float32([np.inf, -np.inf, np.nan, -0.0] * 5))).numpy()
    assert np.array_equal(special[:2], [1.0, -1.0]) and np.isnan(special[2]) and np.signbit(special[3])


def test_atan_float32_every_61st_float():
    # float32 atan is tessel's own (vecmath_float.inc, atan_f): 0.961 ulp over every float
    # (bench/vecmath_accuracy.py --fns atan --sweep 3.4028235e38); SLEEF's u10 was 0.94.
    x = np.arange(0, 0x7F800001, 61, dtype=np.uint32).view(np.float32)
    x = np.concatenate([x, -x, np.float32([1.0, -1.0, np.inf, -np.inf, np.nan])])
    got = ts.atan(ts.from_numpy(x)).numpy()
    want = np.arctan(x.astype(np.float64))
    fin = np.isfinite(x)
    err = ulps32(got[fin], want[fin])
    assert err.max() <= 0.97, (x[fin][np.argmax(err)], err.max())
    assert np.array_equal(got[~fin][:2], np.float32([np.pi / 2, -np.pi / 2])) and np.isnan(got[-1])
    assert np.array_equal(np.signbit(ts.atan(ts.tensor([-0.0] * 17)).numpy()), [True] * 17)


def test_asin_acos_float32_every_61st_float_of_the_domain():
    # float32 asin and acos are tessel's own (vecmath_float.inc, asin_acos_f): every float in
    # [-1, 1] measured within 0.62 ulp (SLEEF's u10: 0.75, 0.66). Both branches, both signs.
    x = np.arange(0, 0x3F800001, 61, dtype=np.uint32).view(np.float32)
    x = np.concatenate([x, -x, np.float32([0.5, -0.5, 1.0, -1.0])])
    for fn, ref in ((ts.asin, np.arcsin), (ts.acos, np.arccos)):
        got = fn(ts.from_numpy(x)).numpy()
        err = ulps32(got, ref(x.astype(np.float64)))
        assert err.max() <= 0.62, (fn.__name__, x[np.argmax(err)], err.max())
    bad = np.float32([1.5, -1.5, np.inf, np.nan])
    assert np.isnan(ts.asin(ts.from_numpy(bad)).numpy()).all() and np.isnan(ts.acos(ts.from_numpy(bad)).numpy()).all()
    assert np.array_equal(np.signbit(ts.asin(ts.tensor([-0.0] * 17)).numpy()), [True] * 17)
