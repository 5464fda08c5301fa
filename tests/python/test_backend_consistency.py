"""The backend-consistency harness: every registered (op, device, dtype) runs
against a NumPy float64 reference, on contiguous, broadcast, non-contiguous,
zero-size, 0-d and large (multi-threaded) inputs.

A kernel registered for an op without a spec here fails the suite, so a new
op or backend (CUDA) plugs in by registering kernels and, for a new op, a spec.
Devices other than the CPU run when present; their inputs are made on the CPU
and moved with .to(device)."""
import math

import numpy as np
import pytest

import tessel as ts
from conftest import NP, from_numpy, to_numpy

FLOATS = (ts.float16, ts.bfloat16, ts.float32, ts.float64)
RTOL = {ts.float16: 2e-3, ts.bfloat16: 1.6e-2, ts.float32: 2e-6, ts.float64: 1e-12,
        ts.complex64: 2e-6, ts.complex128: 1e-12}

rng = np.random.default_rng(0)


def sample(dtype, shape, low=-4, high=4, positive=False):
    """Random values representable in dtype (ints small enough not to overflow in the ops)."""
    if dtype == ts.bool:
        return rng.random(shape) > 0.5
    if dtype in (ts.uint8, ts.uint16, ts.uint32, ts.uint64) or positive:
        lo = 1 if positive else 0
        base = rng.integers(lo, high + 1, shape) if not (dtype.is_floating_point or dtype.is_complex) \
            else rng.uniform(0.1, high, shape)
    elif dtype.is_floating_point or dtype.is_complex:
        base = rng.uniform(low, high, shape)
    else:
        base = rng.integers(low, high + 1, shape)
    if dtype.is_complex:
        base = base + 1j * rng.uniform(low if not positive else 0.1, high, shape)
    if dtype == ts.bfloat16:
        return to_numpy(from_numpy(base, ts.bfloat16))  # values exactly representable
    return np.asarray(base).astype(NP[dtype])


def layouts(shape):
    """(name, make) pairs: make(np_array, dtype, device) -> tessel tensor with that layout."""
    def contiguous(a, dt, dev):
        return from_numpy(a, dt).to(dev)

    def transposed(a, dt, dev):  # same values, non-contiguous strides
        return from_numpy(np.ascontiguousarray(a.T), dt).to(dev).t() if a.ndim == 2 else contiguous(a, dt, dev)

    def strided(a, dt, dev):  # every other element of a bigger tensor
        big = np.repeat(a, 2, axis=-1) if a.ndim else a
        t = from_numpy(big, dt).to(dev)
        return t[..., ::2] if a.ndim else t

    return [("contiguous", contiguous), ("transposed", transposed), ("strided", strided)]


SHAPES = [(3, 5), (0, 4), (), (300, 130)]  # the last one crosses the threading grain


def check(out, ref, dtype, scale=None):
    """scale: per-element magnitude of the terms (sums cancel, so rtol applies to it)."""
    got = to_numpy(out)
    assert tuple(out.shape) == tuple(np.shape(ref)), (out.shape, np.shape(ref))
    ref = np.asarray(ref)
    if scale is not None and dtype in RTOL:
        err = np.abs(got.astype(np.complex128) - ref)
        assert np.all(err <= RTOL[dtype] * (np.asarray(scale) + 1e-30)), (err.max(), dtype)
    elif dtype in RTOL and got.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.complex128 if got.dtype.kind == "c" else np.float64),
                                   ref, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, ref)


def ref64(a):
    if a.dtype.kind in "biu":
        return a if a.dtype.kind == "b" else a.astype(np.int64)  # exact, and bitwise ops still apply
    return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)


# ---- specs: one function per op, called as spec(dtype, device) ----

def _nonzero(dtype, shape):
    """Divisors: both signs, never zero."""
    b = sample(dtype, shape)
    if dtype == ts.bool:
        return np.ones(shape, bool)
    if dtype.is_floating_point:  # keep quotients inside float16's range
        return np.where(np.abs(b.astype(np.float64)) < 0.5, np.asarray(0.5).astype(b.dtype), b)
    return np.where(b == 0, np.asarray(1).astype(b.dtype), b)


def _shift_counts(dtype, shape):
    return rng.integers(0, 8 * dtype.itemsize, shape).astype(NP[dtype])


def _binary(name, npf, result_dtype=None, sample_a=sample, sample_b=None):
    sample_b = sample_b or (lambda dt, sh: sample(dt, sh, positive=(name == "div")))

    def spec(dtype, device):
        for shape in SHAPES:
            for lname, make in layouts(shape):
                a, b = sample_a(dtype, shape), sample_b(dtype, shape)
                ta, tb = make(a, dtype, device), make(b, dtype, device)
                out = getattr(ts, name)(ta, tb)
                rd = result_dtype or dtype
                assert out.dtype == rd, (name, lname)
                ref = npf(ref64(a), ref64(b))
                if not (dtype.is_floating_point or dtype.is_complex) and result_dtype is None:
                    ref = ref.astype(NP[dtype]) if dtype != ts.bool else ref.astype(bool)
                check(out.cpu(), ref, dtype)
        # broadcasting a row against a column, and a 0-d operand
        a, b = sample_a(dtype, (4, 1)), sample_b(dtype, (3,))
        out = getattr(ts, name)(from_numpy(a, dtype).to(device), from_numpy(b, dtype).to(device))
        ref = npf(ref64(a), ref64(b))
        if not (dtype.is_floating_point or dtype.is_complex) and result_dtype is None:
            ref = ref.astype(NP[dtype]) if dtype != ts.bool else ref.astype(bool)
        check(out.cpu(), ref, dtype)
        # in place
        if result_dtype is None:
            a, b = sample_a(dtype, (5, 3)), sample_b(dtype, (3,))
            ta = from_numpy(a, dtype).to(device)
            getattr(ta, name + "_")(from_numpy(b, dtype).to(device))
            ref = npf(ref64(a), ref64(b))
            if not (dtype.is_floating_point or dtype.is_complex):
                ref = ref.astype(NP[dtype]) if dtype != ts.bool else ref.astype(bool)
            check(ta.cpu(), ref, dtype)
    return spec


SPECS = {
    "add": _binary("add", np.add),
    "sub": _binary("sub", np.subtract),
    "mul": _binary("mul", np.multiply),
    "div": _binary("div", np.divide),
    "eq": _binary("eq", np.equal, ts.bool),
    "ne": _binary("ne", np.not_equal, ts.bool),
    "lt": _binary("lt", np.less, ts.bool),
    "le": _binary("le", np.less_equal, ts.bool),
    "gt": _binary("gt", np.greater, ts.bool),
    "ge": _binary("ge", np.greater_equal, ts.bool),
    "floor_divide": _binary("floor_divide", np.floor_divide, sample_b=_nonzero),
    "remainder": _binary("remainder", np.remainder, sample_b=_nonzero),
    "fmod": _binary("fmod", np.fmod, sample_b=_nonzero),
    "atan2": _binary("atan2", np.arctan2),
    "maximum": _binary("maximum", np.maximum),
    "minimum": _binary("minimum", np.minimum),
    "logical_and": _binary("logical_and", np.logical_and, ts.bool),
    "logical_or": _binary("logical_or", np.logical_or, ts.bool),
    "logical_xor": _binary("logical_xor", np.logical_xor, ts.bool),
    "bitwise_and": _binary("bitwise_and", np.bitwise_and),
    "bitwise_or": _binary("bitwise_or", np.bitwise_or),
    "bitwise_xor": _binary("bitwise_xor", np.bitwise_xor),
    # counts below the width, where NumPy's shifts are defined (counts past it: test_uint_dtypes.py)
    "bitwise_left_shift": _binary("bitwise_left_shift", np.left_shift, sample_b=_shift_counts),
    "bitwise_right_shift": _binary("bitwise_right_shift", np.right_shift, sample_b=_shift_counts),
}


def _pow_ref(a, b):
    if a.dtype == np.bool_ or (a.dtype.kind == "f" and b.dtype.kind == "f" and False):
        return a
    return np.power(a, b)


def _pow_a(dtype, shape):
    if dtype == ts.bool or not (dtype.is_floating_point or dtype.is_complex):
        return sample(dtype, shape, -3, 3)
    return sample(dtype, shape, positive=True)


def _pow_b(dtype, shape):
    if dtype == ts.bool:
        return sample(dtype, shape)
    if not (dtype.is_floating_point or dtype.is_complex):
        return sample(dtype, shape, 0, 4 if dtype != ts.int8 else 3)
    return sample(dtype, shape, -2, 2)


def _pow_np(x, y):
    if np.iscomplexobj(x) or np.iscomplexobj(y):
        return np.power(x, y)
    if x.dtype == np.float64 and np.all(np.mod(y, 1) == 0) and np.all(y >= 0):
        return np.power(x, y)
    return np.power(x, y)


def spec_pow(dtype, device):
    if dtype == ts.bool:
        a, b = sample(dtype, (4, 5)), sample(dtype, (4, 5))
        out = ts.pow(from_numpy(a).to(device), from_numpy(b).to(device))
        check(out.cpu(), a | ~b, dtype)
        return
    _binary("pow", np.power, sample_a=_pow_a, sample_b=_pow_b)(dtype, device)


SPECS["pow"] = spec_pow


def _unary(name, npf, positive=False, low=-4, high=4, call=None):
    call = call or getattr(ts, name)

    def spec(dtype, device):
        for shape in SHAPES:
            for lname, make in layouts(shape):
                a = sample(dtype, shape, low, high, positive=positive)
                out = call(make(a, dtype, device))
                ref = npf(ref64(a))
                if name == "abs" and dtype.is_complex:
                    assert out.dtype == (ts.float32 if dtype == ts.complex64 else ts.float64)
                    np.testing.assert_allclose(to_numpy(out.cpu()), ref, rtol=RTOL[dtype])
                    continue
                if not (dtype.is_floating_point or dtype.is_complex):
                    ref = ref.astype(NP[dtype])
                check(out.cpu(), ref, dtype)
        if not (name == "abs" and dtype.is_complex) and hasattr(ts.Tensor, name + "_"):
            a = sample(dtype, (4, 3), low, high, positive=positive)
            t = from_numpy(a, dtype).to(device)
            getattr(t, name + "_")()
            ref = npf(ref64(a))
            if not (dtype.is_floating_point or dtype.is_complex):
                ref = ref.astype(NP[dtype])
            check(t.cpu(), ref, dtype)
    return spec


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _erfinv(y):
    lo, hi = np.full(y.shape, -10.0), np.full(y.shape, 10.0)
    for _ in range(80):  # bisection on the float64 erf
        mid = (lo + hi) / 2
        below = _erf(mid) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def spec_linear_bias(dtype, device):  # F.linear with a bias: the matmul with the bias in its epilogue
    for xs, n in (((37, 29), 13), ((2, 3, 5, 7), 4), ((3, 1, 64), 130), ((5, 40), 1)):
        x, w, b = sample(dtype, xs), sample(dtype, (n, xs[-1])), sample(dtype, (n,))
        tx = from_numpy(x, dtype).to(device)
        for xin in (tx, tx.transpose(0, -2) if len(xs) > 2 else tx.t().contiguous().t()):  # strided inputs too
            xr = ref64(to_numpy(xin.cpu()))
            out = ts.nn.functional.linear(xin, from_numpy(w, dtype).to(device), from_numpy(b, dtype).to(device))
            ref = xr @ ref64(w).T + ref64(b)
            check(out.cpu(), ref, dtype, scale=np.abs(xr) @ np.abs(ref64(w)).T + np.abs(ref64(b)))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


SPECS.update({
    "exp2": _unary("exp2", np.exp2),
    "expm1": _unary("expm1", np.expm1),
    "log2": _unary("log2", np.log2, positive=True),
    "log10": _unary("log10", np.log10, positive=True),
    "log1p": _unary("log1p", np.log1p, positive=True),
    "rsqrt": _unary("rsqrt", lambda x: 1 / np.sqrt(x), positive=True),
    "reciprocal": _unary("reciprocal", lambda x: 1 / x, positive=True),
    "square": _unary("square", np.square, low=-3, high=3),
    "sin": _unary("sin", np.sin), "cos": _unary("cos", np.cos), "tan": _unary("tan", np.tan, low=-1, high=1),
    "asin": _unary("asin", np.arcsin, low=-0.9, high=0.9), "acos": _unary("acos", np.arccos, low=-0.9, high=0.9),
    "atan": _unary("atan", np.arctan), "sinh": _unary("sinh", np.sinh), "cosh": _unary("cosh", np.cosh),
    "tanh": _unary("tanh", np.tanh), "asinh": _unary("asinh", np.arcsinh),
    "acosh": _unary("acosh", np.arccosh, low=1.1, high=5), "atanh": _unary("atanh", np.arctanh, low=-0.9, high=0.9),
    "sigmoid": _unary("sigmoid", _sigmoid, low=-2, high=2),  # complex poles sit at imag = pi
    "erf": _unary("erf", _erf), "erfc": _unary("erfc", lambda x: 1 - _erf(x), low=-2, high=2),
    "erfinv": _unary("erfinv", _erfinv, low=-0.99, high=0.99),
    # Away from lgamma's and digamma's zeros (~1.46, ~2, -2.46, ...), where a relative check
    # on the value means nothing: positive arguments past 2.5.
    "lgamma": _unary("lgamma", lambda x: __import__("scipy.special").special.gammaln(x), low=2.5, high=40),
    "digamma": _unary("digamma", lambda x: __import__("scipy.special").special.digamma(x), low=2.5, high=40),
    "polygamma": _unary("polygamma", lambda x: __import__("scipy.special").special.polygamma(2, x), low=-3.7,
                        high=-3.2, call=lambda t: ts.polygamma(2, t)),
    "relu": _unary("relu", lambda x: np.maximum(x, 0)),
    "silu": _unary("silu", lambda x: x * _sigmoid(x)),
    "hardsigmoid": _unary("hardsigmoid", lambda x: np.clip(x + 3, 0, 6) / 6, low=-5, high=5),
    "hardswish": _unary("hardswish", lambda x: x * np.clip(x + 3, 0, 6) / 6, low=-5, high=5),
    "sign": _unary("sign", lambda x: x if x.dtype == np.bool_ else np.sign(x)),
    "floor": _unary("floor", np.floor), "ceil": _unary("ceil", np.ceil), "trunc": _unary("trunc", np.trunc),
    "bitwise_not": _unary("bitwise_not", np.invert),
    "leaky_relu": _unary("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x),
                         call=lambda t: ts.leaky_relu(t, 0.2)),
    "elu": _unary("elu", lambda x: np.where(x > 0, x, 1.5 * np.expm1(x)), call=lambda t: ts.elu(t, 1.5)),
    "softplus": _unary("softplus", lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2),
                       call=lambda t: ts.softplus(t, 2.0, 3.0)),
})


def spec_gelu(dtype, device):
    _unary("gelu", lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))))(dtype, device)
    k = math.sqrt(2 / math.pi)
    _unary("gelu", lambda x: 0.5 * x * (1 + np.tanh(k * (x + 0.044715 * x ** 3))),
           call=lambda t: ts.gelu(t, approximate="tanh"))(dtype, device)


def _special_values(dtype, shape):
    a = sample(dtype, shape)
    if a.size and (dtype.is_floating_point or dtype.is_complex):
        flat = a.reshape(-1)
        flat[::3] = np.nan
        flat[1::5] = np.inf
        flat[2::7] = -np.inf
    return a


def _predicate(name, npf):
    def spec(dtype, device):
        for shape in SHAPES:
            a = _special_values(dtype, shape)
            out = getattr(ts, name)(from_numpy(a, dtype).to(device))
            assert out.dtype == ts.bool
            check(out.cpu(), npf(a), ts.bool)
    return spec


def spec_logical_not(dtype, device):
    for shape in SHAPES:
        a = sample(dtype, shape, -1, 1)
        check(ts.logical_not(from_numpy(a, dtype).to(device)).cpu(), np.logical_not(a), ts.bool)


def spec_nan_to_num(dtype, device):
    a = _special_values(dtype, (6, 7))
    t = from_numpy(a, dtype).to(device)
    check(ts.nan_to_num(t, nan=1.5, posinf=100.0, neginf=-100.0).cpu(),
          np.nan_to_num(ref64(a), nan=1.5, posinf=100.0, neginf=-100.0), dtype)
    big = to_numpy(ts.nan_to_num(t).cpu()).astype(np.float64)
    assert np.all(np.isfinite(big))


def spec_round(dtype, device):
    a = sample(dtype, (50, 7), -10, 10)
    a.reshape(-1)[:8] = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 3.5, -2.5, 4.5])  # ties go to even
    t = from_numpy(a, dtype).to(device)
    check(ts.round(t).cpu(), np.round(ref64(a)), dtype)
    if dtype in (ts.float32, ts.float64):
        check(ts.round(t, decimals=2).cpu(), np.round(ref64(a), 2), dtype)


def spec_clamp(dtype, device):
    for shape in SHAPES:
        for lname, make in layouts(shape):
            a = sample(dtype, shape, -5, 5)
            t = make(a, dtype, device)
            lo, hi = (1, 3) if dtype in (ts.uint8, ts.uint16, ts.uint32, ts.uint64) else (-2, 3)
            check(ts.clamp(t, lo, hi).cpu(), np.clip(ref64(a), lo, hi).astype(NP.get(dtype, np.float32)), dtype)
            check(ts.clamp(t, min=lo).cpu(), np.maximum(ref64(a), lo).astype(NP.get(dtype, np.float32)), dtype)


def spec_lerp(dtype, device):
    for shape in SHAPES:
        a, b = sample(dtype, shape), sample(dtype, shape)
        w = sample(ts.float64, shape, 0, 1).astype(np.float64)
        ta, tb = from_numpy(a, dtype).to(device), from_numpy(b, dtype).to(device)
        for wt in (0.25, 0.75):  # the two formulas (a + w (b - a) below 0.5, b - (b - a)(1 - w) above)
            check(ts.lerp(ta, tb, wt).cpu(), ref64(a) + wt * (ref64(b) - ref64(a)), dtype,
                  np.abs(ref64(a)) + np.abs(ref64(b)))
        tw = from_numpy(w.astype(np.float32) if dtype != ts.float64 else w, None).to(dtype).to(device)
        wr = ref64(to_numpy(tw.cpu()))
        check(ts.lerp(ta, tb, tw).cpu(), ref64(a) + wr * (ref64(b) - ref64(a)), dtype,
              np.abs(ref64(a)) + np.abs(ref64(b)))
    assert ts.lerp(ts.tensor([1.0]), ts.tensor([3.0]), 1.0).item() == 3.0  # weight 1 is exact
    a, b = np.random.default_rng(1).standard_normal((2, 40, 24)).astype(np.float32)
    for wt, want in ((0.0, a), (1.0, b)):  # exact at both ends, on vector runs and a broadcast row
        np.testing.assert_array_equal(ts.lerp(ts.tensor(a), ts.tensor(b), wt).numpy(), want)
        np.testing.assert_array_equal(ts.lerp(ts.tensor(a[:1]).expand(40, 24), ts.tensor(b), wt).numpy(),
                                      np.broadcast_to(a[:1], (40, 24)) if wt == 0.0 else b)


SPECS.update({
    "conj": _unary("conj", np.conj),
    "gelu": spec_gelu, "isnan": _predicate("isnan", np.isnan), "isinf": _predicate("isinf", np.isinf),
    "isfinite": _predicate("isfinite", np.isfinite), "logical_not": spec_logical_not,
    "nan_to_num": spec_nan_to_num, "round": spec_round, "clamp": spec_clamp, "lerp": spec_lerp,
})

SPECS.update({
    "neg": _unary("neg", np.negative),
    "abs": _unary("abs", np.abs),
    "exp": _unary("exp", np.exp),
    "log": _unary("log", np.log, positive=True),
    "sqrt": _unary("sqrt", np.sqrt, positive=True),
})


def spec_where(dtype, device):
    for shape in SHAPES:
        c = rng.random(shape) > 0.5
        a, b = sample(dtype, shape), sample(dtype, (shape[-1],) if shape else ())
        out = ts.where(from_numpy(c).to(device), from_numpy(a, dtype).to(device), from_numpy(b, dtype).to(device))
        check(out.cpu(), np.where(c, a, b), dtype)


def _reduction(name, npf, sampler=sample, shapes=((3, 5), (4, 3, 6), (), (1000, 70))):
    def spec(dtype, device):
        for shape in shapes:
            for lname, make in layouts(shape):
                a = sampler(dtype, shape)
                t = make(a, dtype, device)
                dims = [None] + list(range(len(shape))) + ([(0, len(shape) - 1)] if len(shape) > 1 else [])
                for dim in dims:
                    for keepdim in (False, True):
                        out = getattr(ts, name)(t, dim, keepdim)
                        ref = npf(ref64(a), axis=dim, keepdims=keepdim)
                        if name in ("sum", "prod") and not (dtype.is_floating_point or dtype.is_complex):
                            # the namespace's sum/prod: the standard's uint64 for unsigned input, else int64
                            want = ts.uint64 if dtype in (ts.uint8, ts.uint16, ts.uint32, ts.uint64) else ts.int64
                            assert out.dtype == want
                            ref = ref.astype(NP[want])
                        elif name != "sum" and not (dtype.is_floating_point or dtype.is_complex):
                            ref = ref.astype(NP[dtype])
                        scale = {"sum": lambda: np.sum(np.abs(ref64(a)), axis=dim, keepdims=keepdim),
                                 "prod": lambda: np.prod(np.abs(ref64(a)), axis=dim, keepdims=keepdim) * 2 * a.size
                                 }.get(name, lambda: None)()
                        check(out.cpu(), ref, dtype, scale)
    return spec


def _near_one(dtype, shape):
    """Factors for prod: small integers, or floats near 1 so that products stay finite."""
    if dtype == ts.bool or not (dtype.is_floating_point or dtype.is_complex):
        return sample(dtype, shape, -2, 2)
    return sample(dtype, shape, 0.9, 1.1) if not dtype.is_complex else sample(dtype, shape, -1, 1) * 0.1 + 1


def _scan(name, npf):
    def spec(dtype, device):
        for shape in [(3, 5), (4, 3, 6), (), (300, 130)]:
            for lname, make in layouts(shape):
                a = _near_one(dtype, shape) if name == "cumprod" else sample(dtype, shape)
                t = make(a, dtype, device)
                for dim in range(-len(shape), len(shape)) if shape else [0]:
                    out = getattr(ts, name)(t, dim)
                    ref = npf(ref64(a), axis=dim if shape else None).reshape(np.shape(a))
                    exact = not (dtype.is_floating_point or dtype.is_complex)
                    if exact:  # PyTorch's int64, or NumPy's uint64 for uint16/32/64
                        want = ts.uint64 if dtype in (ts.uint16, ts.uint32, ts.uint64) else ts.int64
                        assert out.dtype == want
                        check(out.cpu(), ref.astype(NP[want]), dtype)
                    else:
                        # sequential scans: the error grows with the length of the scanned dim
                        n = shape[dim] if shape else 1
                        check(out.cpu(), ref, dtype,
                              n * npf(np.abs(ref64(a)), axis=dim if shape else None).reshape(np.shape(a)))
    return spec


def _softmax(log):
    def ref(x, axis):
        m = x.max(axis=axis, keepdims=True)
        e = np.exp(x - m)
        s = e.sum(axis=axis, keepdims=True)
        return (x - m - np.log(s)) if log else e / s

    def spec(dtype, device):
        name = "log_softmax" if log else "softmax"
        for shape in [(3, 5), (4, 3, 6), (300, 130)]:
            for lname, make in layouts(shape):
                a = sample(dtype, shape, -8, 8)
                t = make(a, dtype, device)
                for dim in range(-len(shape), len(shape)):
                    out = getattr(ts, name)(t, dim)
                    r = ref(ref64(a), dim)
                    check(out.cpu(), r, dtype, np.abs(r) + (np.abs(ref64(a)) if log else 1e-3))
    return spec


SPECS.update({
    "prod": _reduction("prod", np.prod, _near_one, ((3, 5), (4, 3, 6), (), (100, 70))),
    "cumsum": _scan("cumsum", np.cumsum), "cumprod": _scan("cumprod", np.cumprod),
    "softmax": _softmax(False), "log_softmax": _softmax(True),
    "sum": _reduction("sum", np.sum),
    "amax": _reduction("amax", np.max),
    "amin": _reduction("amin", np.min),
})


def _extreme_dim(name, npf, argf):
    def spec(dtype, device):
        for shape in [(3, 5), (4, 3, 6), (1000, 70)]:
            for lname, make in layouts(shape):
                a = sample(dtype, shape, low=-2, high=2)  # small range -> ties: the first index wins
                t = make(a, dtype, device)
                for dim in range(len(shape)):
                    values, indices = getattr(t, name)(dim)
                    check(values.cpu(), npf(ref64(a), axis=dim).astype(NP.get(dtype, np.float32))
                          if not dtype.is_floating_point else npf(ref64(a), axis=dim), dtype)
                    np.testing.assert_array_equal(to_numpy(indices.cpu()), argf(ref64(a), axis=dim))
    return spec


SPECS["max_dim"] = _extreme_dim("max", np.max, np.argmax)
SPECS["min_dim"] = _extreme_dim("min", np.min, np.argmin)


def spec_matmul(dtype, device):
    cases = [((5, 7), (7, 3)), ((7,), (7,)), ((2, 5, 4), (4, 6)), ((3, 1, 4, 2), (5, 2, 3)), ((4, 3), (3,)),
             ((0, 3), (3, 2)), ((130, 70), (70, 90))]
    exact = not (dtype.is_floating_point or dtype.is_complex)

    def verify(out, a64, b64):
        ref = np.matmul(a64, b64)
        if exact:
            check(out.cpu(), ref.astype(NP[dtype]), dtype)
        else:  # sums of products cancel: the error bound scales with |a| @ |b|
            check(out.cpu(), ref, dtype, np.matmul(np.abs(a64), np.abs(b64)))

    for sa, sb in cases:
        a, b = sample(dtype, sa, -2, 2), sample(dtype, sb, -2, 2)
        verify(ts.matmul(from_numpy(a, dtype).to(device), from_numpy(b, dtype).to(device)), ref64(a), ref64(b))
    # transposed operands go to the kernel without a copy
    a = sample(dtype, (6, 4), -2, 2)
    ta = from_numpy(a, dtype).to(device)
    verify(ts.matmul(ta.t(), ta), ref64(a).T, ref64(a))


def _cast_only_array(dtype, shape):
    """Values of a cast-only dtype as an ml_dtypes array (the oracle of their casts)."""
    ml = pytest.importorskip("ml_dtypes")
    vals = rng.uniform(-3, 3, shape).astype(np.float32)
    if dtype.name == "float8_e8m0fnu":
        vals = np.abs(vals) + 0.1  # powers of two, no sign or zero
    return vals.astype(getattr(ml, dtype.name))


def spec_copy_cast_only(dtype, device):
    # Every destination, compute and cast-only, against ml_dtypes' casts of the same bytes.
    a = _cast_only_array(dtype, (4, 6))
    t = ts.as_tensor(a).to(device)
    for dst in ts.dtype.__members__.values():
        if dst.is_complex or (dst.name == "bfloat16" and device != "cpu"):
            continue
        out = t.t().to(dst).cpu()  # strided source
        np_dst = getattr(__import__("ml_dtypes"), dst.name) if dst.is_cast_only or dst.name == "bfloat16" else dst.name
        if dst.name == "float8_e8m0fnu":  # PyTorch's rounding (nearest, sign dropped), as onnx's helper has it
            from onnx.numpy_helper import to_float8e8m0
            ref = to_float8e8m0(a.T.astype(np.float32), saturate=False, round_mode="nearest")
        elif dst.is_cast_only or dst.name == "bfloat16":
            ref = a.T.astype(np.float32).astype(np_dst)
        elif dtype.is_floating_point and dst.name not in ("bool", "float16", "float32", "float64"):
            info = np.iinfo(np_dst)  # tessel's documented rule: truncate, then saturate
            ref = np.clip(np.trunc(a.T.astype(np.float64)), info.min, info.max).astype(np_dst)
        else:
            ref = a.T.astype(np_dst)
        got, ref = np.ascontiguousarray(out.numpy()), np.ascontiguousarray(ref)
        assert got.dtype == ref.dtype and np.array_equal(got.view(np.uint8), ref.view(np.uint8)), (dtype, dst)


def spec_copy(dtype, device):
    if dtype.is_cast_only:
        return spec_copy_cast_only(dtype, device)
    # Every destination dtype, from in-range values so the NumPy cast is the oracle.
    a = sample(dtype, (4, 6), -3, 3)
    t = from_numpy(a, dtype).to(device)
    for dst in NP:
        out = t.t().to(dst)  # strided source
        if dtype.is_complex and not dst.is_complex:
            ref = ref64(a).T.real
        else:
            ref = ref64(a).T
        if dst == ts.bool:
            ref = ref != 0
        elif not (dst.is_floating_point or dst.is_complex) and (dtype.is_floating_point or dtype.is_complex):
            info = np.iinfo(NP[dst])  # tessel's documented rule: truncate, then saturate
            ref = np.clip(np.trunc(ref.real), info.min, info.max)
        check(out.cpu(), ref.astype(NP[dst]) if dst != ts.bool else ref, dst)
    out = t.to(ts.bfloat16)
    ref = to_numpy(from_numpy(ref64(a).real.astype(np.float32), ts.bfloat16))
    check(out.cpu(), ref, ts.bfloat16)


def spec_fill(dtype, device):
    if dtype.is_cast_only:  # 1 and 0.5-steps are exact in each (e8m0 has no 0), against ml_dtypes' bytes
        ml = pytest.importorskip("ml_dtypes")
        t = ts.full((4, 6), 1, dtype=dtype, device=device)
        t[:, ::2] = 2 if dtype.name != "uint2" else 3
        ref = np.ones((4, 6), np.float32)
        ref[:, ::2] = 2 if dtype.name != "uint2" else 3
        ref = ref.astype(getattr(ml, dtype.name))
        if dtype.name == "int2":
            ref = np.where(ref.astype(np.float32) == 2, -2, ref.astype(np.float32)).astype(ml.int2)  # 2 wraps to -2
        assert np.array_equal(t.cpu().numpy().view(np.uint8), ref.view(np.uint8))
        return
    for value in (0, 1, True):
        out = ts.full((3, 4), value, dtype=dtype, device=device)
        check(out.cpu(), np.full((3, 4), value).astype(NP.get(dtype, np.float32)), dtype)
    t = ts.zeros(4, 6, dtype=dtype, device=device)
    t[:, ::2] = 1  # strided fill
    ref = np.zeros((4, 6))
    ref[:, ::2] = 1
    check(t.cpu(), ref.astype(NP.get(dtype, np.float32)), dtype)


def spec_arange(dtype, device):
    out = ts.arange(0, 10, 3, dtype=dtype, device=device)
    check(out.cpu(), np.arange(0, 10, 3).astype(NP.get(dtype, np.float32)), dtype)
    if dtype.is_floating_point:
        out = ts.arange(-1, 1, 0.25, dtype=dtype, device=device)
        check(out.cpu(), np.arange(-1, 1, 0.25), dtype)


def spec_take_offsets(dtype, device):
    a = sample(dtype, (5, 4, 3))
    t = from_numpy(a, dtype).to(device)
    idx = np.array([4, 0, -1, 2])
    check(t[ts.tensor(idx)].cpu(), a[idx], dtype)
    check(t[:, ts.tensor([1, 3])].cpu(), a[:, [1, 3]], dtype)
    mask = rng.random((5, 4)) > 0.5
    check(t[ts.tensor(mask)].cpu(), a[mask], dtype)
    check(t[ts.tensor([0, 2]), :, ts.tensor([1, 0])].cpu(), a[[0, 2], :, [1, 0]], dtype)


def spec_put_offsets(dtype, device):
    a = sample(dtype, (5, 4))
    v = sample(dtype, (2, 4))
    t = from_numpy(a, dtype).to(device)
    t[ts.tensor([3, 1])] = from_numpy(v, dtype).to(device)
    ref = a.copy()
    ref[[3, 1]] = v
    check(t.cpu(), ref, dtype)
    mask = rng.random((5, 4)) > 0.5
    t[ts.tensor(mask)] = from_numpy(np.zeros((), NP.get(dtype, np.float32)), dtype).to(device)
    ref[mask] = 0
    check(t.cpu(), ref, dtype)


def spec_nonzero(dtype, device):
    for shape in [(5, 4), (7,), (0, 3), (2, 3, 4)]:
        a = sample(dtype, shape, -1, 1)
        out = ts.nonzero(from_numpy(a, dtype).to(device))
        np.testing.assert_array_equal(to_numpy(out.cpu()).reshape(-1, len(shape)),
                                      np.argwhere(a).reshape(-1, len(shape)))


def _moments(t):
    x = to_numpy(t.cpu()).astype(np.float64).ravel()
    return x.mean(), x.std(), x.min(), x.max()


def spec_uniform(dtype, device):
    ts.manual_seed(3)
    t = ts.rand(50000, dtype=dtype, device=device)
    m, s, lo, hi = _moments(t)
    assert abs(m - 0.5) < 0.01 and abs(s - math.sqrt(1 / 12)) < 0.01 and lo >= 0 and hi < 1
    ts.manual_seed(3)
    check(ts.rand(50000, dtype=dtype, device=device).cpu(), to_numpy(t.cpu()), dtype)


def spec_normal(dtype, device):
    ts.manual_seed(4)
    t = ts.randn(50000, dtype=dtype, device=device)
    m, s, _, _ = _moments(t)
    assert abs(m) < 0.02 and abs(s - 1) < 0.02


def spec_randint(dtype, device):
    ts.manual_seed(5)
    hi = 2 if dtype == ts.int8 else 50
    lo = 0 if dtype in (ts.uint8, ts.uint16, ts.uint32, ts.uint64) else -2
    t = ts.randint(lo, hi, (20000,), dtype=dtype, device=device)
    x = to_numpy(t.cpu())
    assert x.min() == lo and x.max() == hi - 1
    counts = np.bincount((x.astype(np.int64) - lo))
    assert counts.min() > 0.8 * counts.mean()


def spec_put_offsets_add(dtype, device):
    a = sample(dtype, (5, 4))
    src = sample(dtype, (3, 4))
    idx = np.array([[0, 1, 2, 3], [0, 1, 2, 3], [4, 4, 4, 4]])  # repeated targets accumulate
    t = from_numpy(a, dtype).to(device)
    out = ts.scatter_add(t, 0, ts.tensor(idx).to(device), from_numpy(src, dtype).to(device))
    ref = ref64(a).copy()
    if dtype == ts.bool:
        ref = a.copy()
        for i in range(3):
            for j in range(4):
                ref[idx[i, j], j] |= src[i, j]
    else:
        np.add.at(ref, (idx, np.arange(4)[None, :].repeat(3, 0)), ref64(src))
        if not (dtype.is_floating_point or dtype.is_complex):
            ref = ref.astype(NP[dtype])
    check(out.cpu(), ref, dtype, np.abs(ref64(a)) + 3 * np.abs(ref64(src)).max() if dtype in RTOL else None)


def _with_nans(dtype, shape):
    a = sample(dtype, shape, -3, 3)
    if dtype.is_floating_point and a.size:
        a.reshape(-1)[::7] = np.nan
    return a


def spec_sort(dtype, device):
    for shape in [(5, 7), (4, 3, 6), (0, 3), (300, 130)]:
        for lname, make in layouts(shape):
            a = _with_nans(dtype, shape)
            t = make(a, dtype, device)
            for dim in range(-len(shape), len(shape)):
                for desc in (False, True):
                    v, i = ts.sort(t, dim, descending=desc)
                    if not desc:
                        key = ref64(a)  # NumPy's argsort puts NaN last, as tessel does
                    elif dtype == ts.bool:
                        key = ~a
                    else:  # descending: NaN first, then larger values first
                        key = np.where(np.isnan(ref64(a).astype(np.float64)), -np.inf, -ref64(a).astype(np.float64))
                    ri = np.argsort(key, axis=dim, kind="stable")
                    np.testing.assert_array_equal(to_numpy(i.cpu()), ri)
                    check(v.cpu(), np.take_along_axis(a, ri, axis=dim), dtype)


def spec_topk(dtype, device):
    for shape in [(5, 7), (4, 3, 6), (300, 130)]:
        a = sample(dtype, shape, -50, 50)
        t = from_numpy(a, dtype).to(device)
        for dim in range(len(shape)):
            k = min(3, shape[dim])
            for largest in (True, False):
                v, i = ts.topk(t, k, dim, largest=largest)
                key = -ref64(a) if largest and dtype != ts.bool else ref64(a)
                if largest and dtype == ts.bool:
                    key = ~a
                ri = np.take(np.argsort(key, axis=dim, kind="stable"), np.arange(k), axis=dim)
                check(v.cpu(), np.take_along_axis(a, ri, axis=dim), dtype)
                np.testing.assert_array_equal(to_numpy(i.cpu()), ri)


def spec_searchsorted(dtype, device):
    seq = np.sort(sample(dtype, (4, 20), -20, 20), axis=1)
    vals = sample(dtype, (4, 9), -25, 25)
    for right in (False, True):
        out = ts.searchsorted(from_numpy(seq, dtype).to(device), from_numpy(vals, dtype).to(device), right=right)
        ref = np.stack([np.searchsorted(seq[r], vals[r], side="right" if right else "left") for r in range(4)])
        np.testing.assert_array_equal(to_numpy(out.cpu()), ref)
        out1 = ts.searchsorted(from_numpy(seq[0], dtype).to(device), from_numpy(vals, dtype).to(device), right=right)
        np.testing.assert_array_equal(to_numpy(out1.cpu()),
                                      np.searchsorted(seq[0], vals, side="right" if right else "left"))


SPECS.update({
    "put_offsets_add": spec_put_offsets_add, "sort": spec_sort, "topk": spec_topk, "searchsorted": spec_searchsorted,
    "where": spec_where, "matmul": spec_matmul, "copy": spec_copy, "fill": spec_fill, "arange": spec_arange,
    "take_offsets": spec_take_offsets, "put_offsets": spec_put_offsets, "nonzero": spec_nonzero,
    "uniform": spec_uniform, "normal": spec_normal, "randint": spec_randint,
})


# ---- optimizer updates: several steps against NumPy versions of torch.optim's equations ----

def _optim_case(dtype, device, shape, n_states):
    p = sample(dtype, shape).astype(np.float64)
    grads = [sample(dtype, shape).astype(np.float64) for _ in range(3)]
    tp = from_numpy(p, dtype).to(device)
    states = [ts.zeros(*shape, dtype=dtype, device=device) for _ in range(n_states)]
    return p, grads, tp, states


def _steps(dtype, device, shape, options, n_states, ts_step, np_step):
    p, grads, tp, states = _optim_case(dtype, device, shape, n_states)
    ref_states = [np.zeros(shape) for _ in range(n_states)]
    for i, g in enumerate(grads):
        ts_step(tp, from_numpy(g.astype(NP[dtype]), dtype).to(device), states, i + 1, options)
        p = np_step(p, g, ref_states, i + 1, options)
    # Updates subtract nearly equal numbers: errors scale with the parameters' magnitude.
    check(tp.cpu(), p, dtype, scale=np.abs(p) + 1.0)


def spec_sgd_step(dtype, device):
    def ts_step(tp, g, st, k, o):
        ts._C._optim.sgd_([tp], [g], st[:1] if o["momentum"] else [], o["lr"], o["momentum"], o["dampening"],
                          o["wd"], o["nesterov"], o["maximize"], k == 1)

    def np_step(p, g, st, k, o):
        d = (-g if o["maximize"] else g) + o["wd"] * p
        if o["momentum"]:
            st[0] = d.copy() if k == 1 else o["momentum"] * st[0] + (1 - o["dampening"]) * d
            d = d + o["momentum"] * st[0] if o["nesterov"] else st[0]
        return p - o["lr"] * d
    for o in ({"lr": 0.1, "momentum": 0.0, "dampening": 0.0, "wd": 0.0, "nesterov": False, "maximize": False},
              {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "wd": 0.01, "nesterov": False, "maximize": True},
              {"lr": 0.05, "momentum": 0.9, "dampening": 0.0, "wd": 0.0, "nesterov": True, "maximize": False}):
        for shape in ((7, 3), (300, 130)):
            _steps(dtype, device, shape, o, 1, ts_step, np_step)


def spec_adam_step(dtype, device):
    def ts_step(tp, g, st, k, o):
        ts._C._optim.adam_([tp], [g], [st[0]], [st[1]], [st[2]] if o["amsgrad"] else [], k, o["lr"], 0.9, 0.999,
                           1e-8, o["wd"], o["amsgrad"], o["maximize"], o["decoupled"])

    def np_step(p, g, st, k, o):
        d = -g if o["maximize"] else g
        if o["decoupled"]:
            p = p * (1 - o["lr"] * o["wd"])
        else:
            d = d + o["wd"] * p
        st[0] = 0.9 * st[0] + 0.1 * d
        st[1] = 0.999 * st[1] + 0.001 * d * d
        v = st[1]
        if o["amsgrad"]:
            st[2] = np.maximum(st[2], st[1])
            v = st[2]
        denom = np.sqrt(v) / math.sqrt(1 - 0.999 ** k) + 1e-8
        return p - o["lr"] / (1 - 0.9 ** k) * st[0] / denom
    for o in ({"lr": 0.01, "wd": 0.0, "amsgrad": False, "maximize": False, "decoupled": False},
              {"lr": 0.01, "wd": 0.1, "amsgrad": True, "maximize": True, "decoupled": False},
              {"lr": 0.01, "wd": 0.1, "amsgrad": False, "maximize": False, "decoupled": True}):
        for shape in ((7, 3), (300, 130)):
            _steps(dtype, device, shape, o, 3, ts_step, np_step)


def spec_rmsprop_step(dtype, device):
    def ts_step(tp, g, st, k, o):
        ts._C._optim.rmsprop_([tp], [g], [st[0]], [st[1]] if o["momentum"] else [], [st[2]] if o["centered"] else [],
                              o["lr"], 0.9, 1e-8, o["wd"], o["momentum"], o["centered"], False)

    def np_step(p, g, st, k, o):
        d = g + o["wd"] * p
        st[0] = 0.9 * st[0] + 0.1 * d * d
        if o["centered"]:
            st[2] = 0.9 * st[2] + 0.1 * d
            avg = np.sqrt(st[0] - st[2] ** 2) + 1e-8
        else:
            avg = np.sqrt(st[0]) + 1e-8
        if o["momentum"]:
            st[1] = o["momentum"] * st[1] + d / avg
            return p - o["lr"] * st[1]
        return p - o["lr"] * d / avg
    for o in ({"lr": 0.01, "wd": 0.0, "momentum": 0.0, "centered": False},
              {"lr": 0.01, "wd": 0.05, "momentum": 0.5, "centered": True}):
        for shape in ((7, 3), (300, 130)):
            _steps(dtype, device, shape, o, 3, ts_step, np_step)


SPECS.update({"sgd_step": spec_sgd_step, "adam_step": spec_adam_step, "rmsprop_step": spec_rmsprop_step})


# ---- convolution kernels (oneDNN on CPU) against a NumPy float64 convolution ----

def _np_conv_windows(x, kh, kw, stride, pad, dil):
    """xp windows [N, C, Ho, Wo, kh, kw] of x zero-padded by pad = (top, bottom, left, right)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    H, W = xp.shape[2], xp.shape[3]
    Ho = (H - dil[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.empty(x.shape[:2] + (Ho, Wo, kh, kw))
    for i in range(kh):
        for j in range(kw):
            out[..., i, j] = xp[:, :, i * dil[0]: i * dil[0] + stride[0] * (Ho - 1) + 1: stride[0],
                                j * dil[1]: j * dil[1] + stride[1] * (Wo - 1) + 1: stride[1]]
    return out


def _np_conv2d(x, w, stride, pad, dil, groups):
    win = _np_conv_windows(x, w.shape[2], w.shape[3], stride, pad, dil)
    N, C, Ho, Wo = win.shape[:4]
    O, G = w.shape[0], groups
    win = win.reshape(N, G, C // G, Ho, Wo, w.shape[2], w.shape[3])
    return np.einsum("ngchwij,gocij->ngohw", win, w.reshape(G, O // G, C // G, w.shape[2], w.shape[3])) \
        .reshape(N, O, Ho, Wo)


CONV_CASES = [  # (x shape, w shape, stride, padding (t, b, l, r), dilation, groups)
    ((2, 3, 9, 8), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((2, 4, 10, 7), (6, 2, 3, 2), (2, 1), (0, 1, 2, 0), (1, 2), 2),
    ((1, 8, 12, 12), (8, 1, 5, 5), (1, 2), (2, 2, 2, 2), (2, 1), 8),
]


def _conv_params(x_shape, w_shape, stride, pad, dil, groups):
    # The op's padding is symmetric; asymmetric cases go through F.conv2d(..., padding='same') below.
    return dict(stride=stride, padding=(pad[0], pad[2]), dilation=dil, groups=groups)


def spec_conv2d(dtype, device):
    import tessel.nn.functional as F
    for xs, ws, stride, pad, dil, groups in CONV_CASES:
        pad = (pad[0], pad[0], pad[2], pad[2])  # symmetric
        x, w, b = sample(dtype, xs), sample(dtype, ws), sample(dtype, (ws[0],))
        out = F.conv2d(from_numpy(x, dtype).to(device), from_numpy(w, dtype).to(device),
                       from_numpy(b, dtype).to(device), **_conv_params(xs, ws, stride, pad, dil, groups))
        ref = _np_conv2d(ref64(x), ref64(w), stride, pad, dil, groups) + ref64(b)[None, :, None, None]
        scale = _np_conv2d(np.abs(ref64(x)), np.abs(ref64(w)), stride, pad, dil, groups) + np.abs(ref64(b))[None, :, None, None]
        check(out.cpu(), ref, dtype, scale=scale)
    # 'same' with an even kernel pads asymmetrically (extra row/column at the bottom/right)
    x, w = sample(dtype, (1, 2, 6, 5)), sample(dtype, (3, 2, 4, 2))
    out = F.conv2d(from_numpy(x, dtype).to(device), from_numpy(w, dtype).to(device), padding="same")
    ref = _np_conv2d(ref64(x), ref64(w), (1, 1), (1, 2, 0, 1), (1, 1), 1)
    check(out.cpu(), ref, dtype, scale=_np_conv2d(np.abs(ref64(x)), np.abs(ref64(w)), (1, 1), (1, 2, 0, 1), (1, 1), 1))


def _conv_grads(dtype, device):
    """(kernel grads of x, w, b) and NumPy's, for each case, from one backward of a random output gradient."""
    import tessel.nn.functional as F
    for xs, ws, stride, pad, dil, groups in CONV_CASES:
        pad = (pad[0], pad[0], pad[2], pad[2])
        x, w, b = sample(dtype, xs), sample(dtype, ws), sample(dtype, (ws[0],))
        tx, tw, tb = (from_numpy(a, dtype).to(device).requires_grad_() for a in (x, w, b))
        out = F.conv2d(tx, tw, tb, **_conv_params(xs, ws, stride, pad, dil, groups))
        g = sample(dtype, tuple(out.shape))
        out.backward(from_numpy(g, dtype).to(device))
        # NumPy: d/dx and d/dw of sum(g * conv(x, w)) through the windows.
        G = groups
        xw = _np_conv_windows(ref64(x), ws[2], ws[3], stride, pad, dil)
        N, C, Ho, Wo = xw.shape[:4]
        g64 = ref64(g).reshape(N, G, ws[0] // G, Ho, Wo)
        gw = np.einsum("ngohw,ngchwij->gocij", g64, xw.reshape(N, G, C // G, Ho, Wo, ws[2], ws[3])).reshape(ws)
        dwin = np.einsum("ngohw,gocij->ngchwij", g64, ref64(w).reshape(G, ws[0] // G, C // G, ws[2], ws[3]))
        dwin = dwin.reshape(N, C, Ho, Wo, ws[2], ws[3])
        gxp = np.zeros((N, C, xs[2] + pad[0] + pad[1], xs[3] + pad[2] + pad[3]))
        for i in range(ws[2]):
            for j in range(ws[3]):
                gxp[:, :, i * dil[0]: i * dil[0] + stride[0] * (Ho - 1) + 1: stride[0],
                    j * dil[1]: j * dil[1] + stride[1] * (Wo - 1) + 1: stride[1]] += dwin[..., i, j]
        gx = gxp[:, :, pad[0]: pad[0] + xs[2], pad[2]: pad[2] + xs[3]]
        yield (tx.grad, tw.grad, tb.grad), (gx, gw, ref64(g).sum((0, 2, 3)))


def spec_conv2d_backward_input(dtype, device):
    for (gx, _, _), (rx, _, _) in _conv_grads(dtype, device):
        check(gx.cpu(), rx, dtype, scale=np.abs(rx).max() + 1)


def spec_conv2d_backward_weight(dtype, device):
    for (_, gw, gb), (_, rw, rb) in _conv_grads(dtype, device):
        check(gw.cpu(), rw, dtype, scale=np.abs(rw).max() + 1)
        check(gb.cpu(), rb, dtype, scale=np.abs(rb).max() + 1)


SPECS.update({"conv2d": spec_conv2d, "conv2d_backward_input": spec_conv2d_backward_input,
              "conv2d_backward_weight": spec_conv2d_backward_weight})


# ---- fused batch norm and relu backward kernels ----

def _bn_case(dtype, device, shape):
    x, w, b = sample(dtype, shape), sample(dtype, (shape[1],)), sample(dtype, (shape[1],))
    tx, tw, tb = (from_numpy(a, dtype).to(device).requires_grad_() for a in (x, w, b))
    import tessel.nn.functional as F
    out = F.batch_norm(tx, None, None, tw, tb, True, 0.1, 1e-5)
    dims = (0,) + tuple(range(2, len(shape)))
    cs = (1, shape[1]) + (1,) * (len(shape) - 2)
    x64 = ref64(x)
    mu, var = x64.mean(dims, keepdims=True), x64.var(dims, keepdims=True)
    xhat = (x64 - mu) / np.sqrt(var + 1e-5)
    return out, (tx, tw, tb), xhat, ref64(w).reshape(cs), ref64(b).reshape(cs), dims, var


def spec_batch_norm(dtype, device):
    for shape in ((4, 3, 5, 2), (64, 16, 8, 8), (7, 5)):
        out, _, xhat, w, b, _, _ = _bn_case(dtype, device, shape)
        check(out.detach().cpu(), xhat * w + b, dtype, scale=np.abs(xhat * w) + np.abs(b) + 1)


def spec_batch_norm_backward(dtype, device):
    for shape in ((4, 3, 5, 2), (64, 16, 8, 8)):
        out, (tx, tw, tb), xhat, w, b, dims, var = _bn_case(dtype, device, shape)
        g = sample(dtype, shape)
        out.backward(from_numpy(g, dtype).to(device))
        g64 = ref64(g)
        gx = w / np.sqrt(var + 1e-5) * (g64 - g64.mean(dims, keepdims=True)
                                         - xhat * (g64 * xhat).mean(dims, keepdims=True))
        check(tx.grad.cpu(), gx, dtype, scale=np.abs(gx).max() + 1)
        check(tw.grad.cpu(), (g64 * xhat).sum(dims), dtype, scale=np.abs(g64).sum(dims) * 4 + 1)
        check(tb.grad.cpu(), g64.sum(dims), dtype, scale=np.abs(g64).sum(dims) + 1)


def spec_relu_backward(dtype, device):
    for shape in ((3, 5), (300, 130)):
        x, g = sample(dtype, shape), sample(dtype, shape)
        tx = from_numpy(x, dtype).to(device).requires_grad_()
        tx.relu().backward(from_numpy(g, dtype).to(device))
        check(tx.grad.cpu(), np.where(ref64(x) > 0, ref64(g), 0.0), dtype)


SPECS.update({"batch_norm": spec_batch_norm, "batch_norm_backward": spec_batch_norm_backward,
              "relu_backward": spec_relu_backward})


# ---- fused layer norm (by name: layer_norm_fused, layer_norm_fused_backward) ----

def _ln_case(dtype, device, shape):
    d = shape[-1]
    x, w, b = sample(dtype, shape), sample(dtype, (d,)), sample(dtype, (d,))
    tx, tw, tb = (from_numpy(a, dtype).to(device).requires_grad_() for a in (x, w, b))
    import tessel.nn.functional as F
    out = F.layer_norm(tx, (d,), tw, tb)
    x64 = ref64(x)
    mu, var = x64.mean(-1, keepdims=True), x64.var(-1, keepdims=True)
    return out, (tx, tw, tb), (x64 - mu) / np.sqrt(var + 1e-5), ref64(w), ref64(b), var


LN_SHAPES = ((3, 7), (2, 5, 64), (4, 1), (2, 769))


def spec_layer_norm_fused(dtype, device):
    for shape in LN_SHAPES:
        out, _, xhat, w, b, _ = _ln_case(dtype, device, shape)
        check(out.detach().cpu(), xhat * w + b, dtype, scale=np.abs(xhat * w) + np.abs(b) + 1)


def spec_layer_norm_fused_backward(dtype, device):
    for shape in LN_SHAPES:
        out, (tx, tw, tb), xhat, w, b, var = _ln_case(dtype, device, shape)
        g = sample(dtype, shape)
        out.backward(from_numpy(g, dtype).to(device))
        g64, gw = ref64(g), ref64(g) * w
        gx = (gw - gw.mean(-1, keepdims=True) - xhat * (gw * xhat).mean(-1, keepdims=True)) / np.sqrt(var + 1e-5)
        rows = tuple(range(len(shape) - 1))
        check(tx.grad.cpu(), gx, dtype, scale=np.abs(gx).max() + 1)
        check(tw.grad.cpu(), (g64 * xhat).sum(rows), dtype, scale=np.abs(g64).sum(rows) * 4 + 1)
        check(tb.grad.cpu(), g64.sum(rows), dtype, scale=np.abs(g64).sum(rows) + 1)


SPECS.update({"layer_norm_fused": spec_layer_norm_fused, "layer_norm_fused_backward": spec_layer_norm_fused_backward})


def spec_softmax_backward_fused(dtype, device):
    for shape in ((3, 7), (2, 5, 64), (4, 1), (2, 769)):
        x, g = sample(dtype, shape), sample(dtype, shape)
        tx = from_numpy(x, dtype).to(device).requires_grad_()
        tx.softmax(-1).backward(from_numpy(g, dtype).to(device))
        x64, g64 = ref64(x), ref64(g)
        e = np.exp(x64 - x64.max(-1, keepdims=True))
        y = e / e.sum(-1, keepdims=True)
        gx = y * (g64 - (g64 * y).sum(-1, keepdims=True))
        check(tx.grad.cpu(), gx, dtype, scale=np.abs(g64).max() + 1)


SPECS.update({"softmax_backward_fused": spec_softmax_backward_fused})


def spec_log_softmax_backward_fused(dtype, device):
    for shape in ((3, 7), (2, 5, 64), (4, 1), (2, 1500)):
        x, g = sample(dtype, shape), sample(dtype, shape)
        tx = from_numpy(x, dtype).to(device).requires_grad_()
        tx.log_softmax(-1).backward(from_numpy(g, dtype).to(device))
        x64, g64 = ref64(x), ref64(g)
        e = np.exp(x64 - x64.max(-1, keepdims=True))
        gx = g64 - e / e.sum(-1, keepdims=True) * g64.sum(-1, keepdims=True)
        check(tx.grad.cpu(), gx, dtype, scale=np.abs(g64).sum(-1, keepdims=True) + 1)


def _rms_case(dtype, device, shape):
    d = shape[-1]
    x, w = sample(dtype, shape), sample(dtype, (d,))
    tx, tw = (from_numpy(a, dtype).to(device).requires_grad_() for a in (x, w))
    import tessel.nn.functional as F
    out = F.rms_norm(tx, (d,), tw, eps=1e-6)
    x64 = ref64(x)
    rs = 1.0 / np.sqrt((x64 * x64).mean(-1, keepdims=True) + 1e-6)
    return out, (tx, tw), x64, rs, ref64(w)


def spec_rms_norm_fused(dtype, device):
    for shape in LN_SHAPES:
        out, _, x64, rs, w = _rms_case(dtype, device, shape)
        check(out.detach().cpu(), x64 * rs * w, dtype, scale=np.abs(x64 * rs * w) + 1)


def spec_rms_norm_fused_backward(dtype, device):
    for shape in LN_SHAPES:
        out, (tx, tw), x64, rs, w = _rms_case(dtype, device, shape)
        g = sample(dtype, shape)
        out.backward(from_numpy(g, dtype).to(device))
        g64 = ref64(g)
        gw = g64 * w
        gx = rs * gw - x64 * rs ** 3 * (gw * x64).mean(-1, keepdims=True)
        rows = tuple(range(len(shape) - 1))
        check(tx.grad.cpu(), gx, dtype, scale=np.abs(gx).max() + 1)
        check(tw.grad.cpu(), (g64 * x64 * rs).sum(rows), dtype, scale=np.abs(g64).sum(rows) * 4 + 1)


def spec_gelu_backward_fused(dtype, device):
    from math import erf, sqrt, pi
    for approximate in ("none", "tanh"):
        for shape in ((7,), (3, 600)):
            x, g = sample(dtype, shape), sample(dtype, shape)
            tx = from_numpy(x, dtype).to(device).requires_grad_()
            ts.gelu(tx, approximate=approximate).backward(from_numpy(g, dtype).to(device))
            x64, g64 = ref64(x), ref64(g)
            if approximate == "tanh":
                k, c = sqrt(2.0 / pi), 0.044715
                t = np.tanh(k * (x64 + c * x64 ** 3))
                d = 0.5 * (1 + t) + 0.5 * x64 * (1 - t * t) * k * (1 + 3 * c * x64 * x64)
            else:
                d = 0.5 * (1 + np.vectorize(erf)(x64 / sqrt(2.0))) + x64 * np.exp(-0.5 * x64 * x64) / sqrt(2 * pi)
            check(tx.grad.cpu(), g64 * d, dtype, scale=np.abs(g64) * 2 + 1)


SPECS.update({"gelu_backward_fused": spec_gelu_backward_fused})


def _spec_hard_backward(fn, deriv):
    def spec(dtype, device):
        for shape in ((7,), (3, 600)):
            x, g = sample(dtype, shape, -5, 5), sample(dtype, shape)
            tx = from_numpy(x, dtype).to(device).requires_grad_()
            fn(tx).backward(from_numpy(g, dtype).to(device))
            check(tx.grad.cpu(), ref64(g) * deriv(ref64(x)), dtype, scale=np.abs(ref64(g)) + 1)
    return spec


SPECS.update({
    "hardsigmoid_backward_fused": _spec_hard_backward(ts.hardsigmoid, lambda x: np.where(np.abs(x) < 3, 1 / 6, 0.0)),
    "hardswish_backward_fused": _spec_hard_backward(
        ts.hardswish, lambda x: np.where(x < -3, 0.0, np.where(x <= 3, x / 3 + 0.5, 1.0))),
    "softplus_backward_fused": _spec_hard_backward(
        lambda t: ts.softplus(t, 1.5, 3.0), lambda x: np.where(1.5 * x > 3.0, 1.0, 1 / (1 + np.exp(-1.5 * x)))),
    "silu_backward_fused": _spec_hard_backward(
        ts.nn.functional.silu, lambda x: (1 / (1 + np.exp(-x))) * (x * (1 - 1 / (1 + np.exp(-x))) + 1)),
})
def _nll_case(dtype, device, weighted):
    import tessel.nn.functional as F
    x = sample(dtype, (23, 9))
    t = np.random.default_rng(11).integers(0, 9, 23)
    t[[3, 17]] = -100
    w = sample(dtype, (9,), 0.5, 2) if weighted else None
    tx = from_numpy(x, dtype).to(device).requires_grad_()
    tw = from_numpy(w, dtype).to(device) if weighted else None
    loss = F.nll_loss(tx, ts.tensor(t).to(device), weight=tw)
    keep = t != -100
    wt = np.where(keep, ref64(w)[np.where(keep, t, 0)] if weighted else 1.0, 0.0)
    return loss, tx, ref64(x), t, wt


def spec_nll_loss_fused(dtype, device):
    for weighted in (False, True):
        loss, _, x64, t, wt = _nll_case(dtype, device, weighted)
        ref = -(wt * x64[np.arange(len(t)), np.where(t >= 0, t, 0)]).sum() / wt.sum()
        check(loss.detach().cpu(), np.array(ref), dtype, scale=np.abs(x64).max() + 1)


def spec_nll_loss_fused_backward(dtype, device):
    for weighted in (False, True):
        loss, tx, x64, t, wt = _nll_case(dtype, device, weighted)
        loss.backward()
        gx = np.zeros_like(x64)
        gx[np.arange(len(t)), np.where(t >= 0, t, 0)] = -wt / wt.sum()
        check(tx.grad.cpu(), gx, dtype, scale=1.0)


SPECS.update({"nll_loss_fused": spec_nll_loss_fused, "nll_loss_fused_backward": spec_nll_loss_fused_backward})
SPECS.update({"log_softmax_backward_fused": spec_log_softmax_backward_fused,
              "rms_norm_fused": spec_rms_norm_fused, "rms_norm_fused_backward": spec_rms_norm_fused_backward})



def spec_gather_rows(dtype, device):  # gather's forward over contiguous rows
    for shape, dim in (((5, 9), 1), ((5, 9), 0), ((3, 4, 6), 1), ((300, 130), 1)):
        a = sample(dtype, shape)
        ishape = list(shape)
        ishape[dim] += 2
        idx = rng.integers(0, shape[dim], ishape)
        out = ts.gather(from_numpy(a, dtype).to(device), dim, ts.tensor(idx).to(device))
        check(out.cpu(), np.take_along_axis(a, idx, dim), dtype)


def spec_index_add_rows(dtype, device):  # the gather / index_select backwards
    for shape, dim, k in (((5, 9), 1, 12), ((6, 4), 0, 9), ((3, 4, 5), 1, 7), ((300, 130), 0, 400)):
        a = sample(dtype, shape)
        t = from_numpy(a, dtype).to(device).requires_grad_()
        idx = rng.integers(0, shape[dim], k)
        gshape = list(shape)
        gshape[dim] = k
        g = sample(dtype, gshape)
        ts.index_select(t, dim, ts.tensor(idx).to(device)).backward(from_numpy(g, dtype).to(device))
        want = np.zeros(shape)
        sl = [slice(None)] * len(shape)
        sl[dim] = idx
        np.add.at(want, tuple(sl), ref64(g))
        check(t.grad.cpu(), want, dtype, scale=np.abs(want) + 8 * np.abs(ref64(g)).max())
        t2 = from_numpy(a, dtype).to(device).requires_grad_()
        gi = rng.integers(0, shape[dim], shape)
        g2 = sample(dtype, shape)
        ts.gather(t2, dim, ts.tensor(gi).to(device)).backward(from_numpy(g2, dtype).to(device))
        want2 = np.zeros(shape)
        pos = list(np.indices(shape))
        pos[dim] = gi
        np.add.at(want2, tuple(pos), ref64(g2))
        check(t2.grad.cpu(), want2, dtype, scale=np.abs(want2) + 8 * np.abs(ref64(g2)).max())


def spec_hypot(dtype, device):
    for name, make in layouts((300, 130)):
        a, b = sample(dtype, (300, 130)), sample(dtype, (300, 130))
        out = ts.hypot(make(a, dtype, device), make(b, dtype, device))
        check(out.cpu(), np.hypot(ref64(a), ref64(b)), dtype, scale=np.hypot(ref64(a), ref64(b)) + 1e-30)


def spec_hypot_backward(dtype, device):
    a, b, g = (sample(dtype, (7, 33)) for _ in range(3))
    ta, tb = (from_numpy(v, dtype).to(device).requires_grad_() for v in (a, b))
    ts.hypot(ta, tb).backward(from_numpy(g, dtype).to(device))
    a64, b64, g64 = ref64(a), ref64(b), ref64(g)
    r = np.hypot(a64, b64)
    ga = np.where(r == 0, 0, g64 * a64 / np.where(r == 0, 1, r))
    gb = np.where(r == 0, 0, g64 * b64 / np.where(r == 0, 1, r))
    check(ta.grad.cpu(), ga, dtype, scale=np.abs(g64) * 2 + 1e-30)
    check(tb.grad.cpu(), gb, dtype, scale=np.abs(g64) * 2 + 1e-30)


def spec_copysign(dtype, device):
    for name, make in layouts((300, 130)):
        a, b = sample(dtype, (300, 130)), sample(dtype, (300, 130))
        out = ts.copysign(make(a, dtype, device), make(b, dtype, device))
        check(out.cpu(), np.copysign(ref64(a), ref64(b)), dtype)


def spec_frac(dtype, device):
    for name, make in layouts((300, 130)):
        a = sample(dtype, (300, 130), low=-28, high=28)
        out = ts.frac(make(a, dtype, device))
        check(out.cpu(), ref64(a) - np.trunc(ref64(a)), dtype)


SPECS.update({"gather_rows": spec_gather_rows, "index_add_rows": spec_index_add_rows, "hypot": spec_hypot,
              "hypot_backward": spec_hypot_backward, "copysign": spec_copysign, "frac": spec_frac})

# ---- max pooling kernels against NumPy windows ----

POOL_CASES = [  # (shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 7, 8), 3, 2, 1, 1, False), ((1, 2, 8, 9), 2, 2, 0, 2, True), ((2, 1, 5, 5), (2, 3), (1, 2), (1, 1), 1, True),
    ((2, 3, 8, 9), 2, 2, 0, 1, False), ((300, 4, 6, 6), 2, 2, 0, 1, False),  # the 2x2 fast path, serial and threaded
]


def _np_max_pool(x, k, s, p, d, ceil):
    k, s, p, d = ((v, v) if isinstance(v, int) else v for v in (k, s, p, d))
    N, C, H, W = x.shape
    out_sz = []
    for i, n in enumerate((H, W)):
        span = n + 2 * p[i] - d[i] * (k[i] - 1) - 1
        o = (-(-span // s[i]) if ceil else span // s[i]) + 1
        if ceil and (o - 1) * s[i] >= n + p[i]:
            o -= 1
        out_sz.append(o)
    y = np.full((N, C) + tuple(out_sz), -np.inf)
    idx = np.zeros((N, C) + tuple(out_sz), np.int64)
    for oh in range(out_sz[0]):
        for ow in range(out_sz[1]):
            for i in range(k[0]):
                for j in range(k[1]):
                    h, w = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
                    if 0 <= h < H and 0 <= w < W:
                        v = x[:, :, h, w]
                        better = v > y[:, :, oh, ow]
                        y[:, :, oh, ow] = np.where(better, v, y[:, :, oh, ow])
                        idx[:, :, oh, ow] = np.where(better, h * W + w, idx[:, :, oh, ow])
    return y, idx


def _np_avg_pool(x, k, s, p, ceil, include_pad):
    # PyTorch's avg_pool2d: window sums over the input (zero padding), divided by k*k, or with
    # ceil_mode / count_include_pad=False by the window's elements inside (padded) input.
    k, s, p = ((v, v) if isinstance(v, int) else v for v in (k, s, p))
    N, C, H, W = x.shape
    out_sz = []
    for i, n in enumerate((H, W)):
        span = n + 2 * p[i] - (k[i] - 1) - 1
        o = (-(-span // s[i]) if ceil else span // s[i]) + 1
        if ceil and (o - 1) * s[i] >= n + p[i]:
            o -= 1
        out_sz.append(o)
    y = np.zeros((N, C) + tuple(out_sz))
    for oh in range(out_sz[0]):
        for ow in range(out_sz[1]):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            count = (h1 - h0) * (w1 - w0) if include_pad else None
            hs, ws = max(h0, 0), max(w0, 0)
            he, we = min(h1, H), min(w1, W)
            if count is None:
                count = (he - hs) * (we - ws)
            y[:, :, oh, ow] = x[:, :, hs:he, ws:we].sum(axis=(2, 3)) / count
    return y


def spec_avg_pool2d_sums(dtype, device):
    # through F.avg_pool2d without a gradient (the kernel's only caller)
    import tessel.nn.functional as F
    for shape, k, s, p, _, ceil in POOL_CASES:
        x = sample(dtype, shape)
        for include_pad in (True, False):
            out = F.avg_pool2d(from_numpy(x, dtype).to(device), k, s, p, ceil, include_pad)
            check(out.cpu(), _np_avg_pool(ref64(x), k, s, p, ceil, include_pad), dtype,
                  scale=_np_avg_pool(np.abs(ref64(x)), k, s, p, ceil, include_pad) + 1e-30)  # cancellation


def spec_avg_pool2d_reduced(dtype, device):
    # float16/bfloat16 through F.avg_pool2d without a gradient, whole windows (no ceil_mode
    # overhang, padding counted): the kernel's only caller
    import tessel.nn.functional as F
    for shape, k, s, p, _, ceil in POOL_CASES:
        if ceil:
            continue
        x = sample(dtype, shape)
        out = F.avg_pool2d(from_numpy(x, dtype).to(device), k, s, p, False, True)
        check(out.cpu(), _np_avg_pool(ref64(x), k, s, p, False, True), dtype,
              scale=_np_avg_pool(np.abs(ref64(x)), k, s, p, False, True) + 1e-30)


def spec_logsumexp_rows(dtype, device):
    # through ts.logsumexp over the last dim of contiguous input (float16/bfloat16 without a
    # gradient): rows long and short, one value, a 3-d block, rows with -inf, inf and NaN
    for shape in ((7, 33), (3, 5, 300), (4, 1), (1, 1000)):
        x = sample(dtype, shape)
        t = from_numpy(x, dtype).to(device)
        r = ref64(x)
        m = r.max(axis=-1, keepdims=True)
        want = (m + np.log(np.exp(r - m).sum(axis=-1, keepdims=True)))[..., 0]
        check(ts.logsumexp(t, -1).cpu(), want, dtype)
        check(ts.logsumexp(t, -1, keepdim=True).cpu(), want[..., None], dtype)
    x = np.array([[1, np.inf, 2], [-np.inf, -np.inf, -np.inf], [1, np.nan, 2], [0, -np.inf, 0]], np.float32)
    got = ts.logsumexp(from_numpy(x, dtype).to(device), -1).cpu().to(ts.float64).numpy()
    np.testing.assert_array_equal(got[:3], [np.inf, -np.inf, np.nan])
    np.testing.assert_allclose(got[3], np.log(2), rtol=1e-2)


def spec_var_fused(dtype, device):
    # through ts.var/ts.std without a gradient (the kernel's callers): rows, columns, a middle
    # block, a transposed input, over everything, with and without the correction
    for shape, dims in (((7, 33), (1,)), ((40, 9), (0,)), ((3, 50, 4), (1,)), ((4, 6, 5), (0, 1)), ((300, 130), None)):
        x = sample(dtype, shape)
        t = from_numpy(x, dtype).to(device)
        for c in (0, 1):
            want = np.var(ref64(x), axis=dims, ddof=c)
            check(ts.var(t, dims, correction=c).cpu(), want, dtype)
            check(ts.std(t, dims, correction=c).cpu(), np.sqrt(want), dtype)
        xt = sample(dtype, shape[::-1])
        check(ts.var(from_numpy(xt, dtype).to(device).mT, 0).cpu(), np.var(np.swapaxes(ref64(xt), -1, -2), axis=0, ddof=1),
              dtype)


def spec_avg_pool2d_sums_backward(dtype, device):
    # the gradient of avg_pool2d: each output's g / count spread over its window
    import tessel.nn.functional as F
    for shape, k, s, p, _, ceil in POOL_CASES:
        x = sample(dtype, shape)
        for include_pad in (True, False):
            tx = from_numpy(x, dtype).to(device).requires_grad_()
            out = F.avg_pool2d(tx, k, s, p, ceil, include_pad)
            g = sample(dtype, tuple(out.shape))
            out.backward(from_numpy(g, dtype).to(device))
            # the reference's gradient by linearity: the map applied to unit inputs, transposed
            n = int(np.prod(shape[2:]))
            basis = np.eye(n).reshape((n, 1, 1) + tuple(shape[2:]))
            cols = np.stack([_np_avg_pool(b, k, s, p, ceil, include_pad)[0, 0] for b in basis])  # [n, Ho, Wo]
            ref = np.einsum("qhw,nchw->ncq", cols, ref64(g)).reshape(shape)
            check(tx.grad.cpu(), ref, dtype, scale=np.abs(ref) + 1)


def spec_max_pool2d(dtype, device):
    import tessel.nn.functional as F
    for shape, k, s, p, d, ceil in POOL_CASES:
        x = sample(dtype, shape)
        v, i = F.max_pool2d(from_numpy(x, dtype).to(device), k, s, p, d, ceil, return_indices=True)
        rv, ri = _np_max_pool(ref64(x), k, s, p, d, ceil)
        check(v.cpu(), rv, dtype)
        np.testing.assert_array_equal(to_numpy(i.cpu()), ri)


def spec_max_pool2d_backward(dtype, device):
    import tessel.nn.functional as F
    for shape, k, s, p, d, ceil in POOL_CASES:
        x = sample(dtype, shape)
        tx = from_numpy(x, dtype).to(device).requires_grad_()
        out = F.max_pool2d(tx, k, s, p, d, ceil)
        g = sample(dtype, tuple(out.shape))
        out.backward(from_numpy(g, dtype).to(device))
        _, ri = _np_max_pool(ref64(x), k, s, p, d, ceil)
        ref = np.zeros((shape[0], shape[1], shape[2] * shape[3]))
        for n in range(shape[0]):
            for c in range(shape[1]):
                np.add.at(ref[n, c], ri[n, c].ravel(), ref64(g)[n, c].ravel())
        check(tx.grad.cpu(), ref.reshape(shape), dtype)


SPECS.update({"max_pool2d": spec_max_pool2d, "max_pool2d_backward": spec_max_pool2d_backward,
              "avg_pool2d_sums": spec_avg_pool2d_sums, "avg_pool2d_reduced": spec_avg_pool2d_reduced,
              "var_fused": spec_var_fused, "logsumexp_rows": spec_logsumexp_rows,
              "avg_pool2d_sums_backward": spec_avg_pool2d_sums_backward})

def spec_rfft_real(dtype, device):
    for shape in [(1,), (3, 2), (4, 5), (2, 3, 12), (17, 400), (2, 97), (1, 1024)]:
        x = sample(dtype, shape)
        y = ts.fft.rfft_real(from_numpy(x, dtype).to(device))
        ref = np.fft.rfft(ref64(x))
        scale = np.broadcast_to(np.abs(ref64(x)).sum(-1)[..., None, None], y.shape)  # the sums cancel
        check(y.cpu(), np.stack([ref.real, ref.imag], -1), dtype, scale=scale)


def spec_irfft_real(dtype, device):
    for shape, n in [((1, 2), 1), ((3, 2, 2), 2), ((4, 3, 2), 5), ((2, 7, 2), 12), ((17, 201, 2), 400), ((2, 49, 2), 97)]:
        X = sample(dtype, shape)
        y = ts.fft.irfft_real(from_numpy(X, dtype).to(device), n)
        scale = np.broadcast_to(2 * np.abs(ref64(X)).sum((-2, -1))[..., None] / n, y.shape)
        check(y.cpu(), np.fft.irfft(ref64(X)[..., 0] + 1j * ref64(X)[..., 1], n), dtype, scale=scale)


def spec_fft_c2c(dtype, device):
    # Through fft_real / ifft_real on (re, im) pairs: lengths cut, padded, Bluestein (97), dims in the middle.
    for shape, n, dim in [((1, 2), None, 0), ((3, 5, 2), 8, 1), ((4, 6, 3, 2), 4, 1), ((2, 97, 2), None, -1),
                          ((33, 12, 2), 12, 0)]:
        x = sample(dtype, shape)
        z = ref64(x)[..., 0] + 1j * ref64(x)[..., 1]
        scale_z = np.abs(z).sum(dim, keepdims=True)  # the sums cancel
        for f, g, div in [(ts.fft.fft_real, np.fft.fft, 1), (ts.fft.ifft_real, np.fft.ifft, n or shape[dim])]:
            y = f(from_numpy(x, dtype).to(device), n=n, dim=dim)
            ref = g(z, n=n, axis=dim)
            scale = np.broadcast_to((scale_z / div)[..., None], y.shape)
            check(y.cpu(), np.stack([ref.real, ref.imag], -1), dtype, scale=scale)


def spec_stft_power(dtype, device):
    # Through ts.audio.spectrogram, which takes the fused kernel when no gradient is needed.
    for shape, n_fft, hop, center, mode, power in [((50,), 16, 4, True, "reflect", 2.0), ((2, 3, 37), 9, 5, True,
                                                   "constant", 1.0), ((2, 64), 20, 20, False, "reflect", 0.5),
                                                  ((1, 400), 400, 160, True, "replicate", 2.0)]:
        x = sample(dtype, shape)
        got = ts.audio.spectrogram(from_numpy(x, dtype).to(device), n_fft=n_fft, hop_length=hop, center=center,
                                   pad_mode=mode, power=power)
        xr = ref64(x)
        if center:
            pad = [(0, 0)] * (xr.ndim - 1) + [(n_fft // 2, n_fft // 2)]
            xr = np.pad(xr, pad, mode={"reflect": "reflect", "constant": "constant", "replicate": "edge"}[mode])
        win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
        frames = np.lib.stride_tricks.sliding_window_view(xr, n_fft, axis=-1)[..., ::hop, :] * win
        ref = np.swapaxes(np.abs(np.fft.rfft(frames)) ** power, -1, -2)
        scale = np.broadcast_to((np.abs(frames).sum(-1) ** power)[..., None, :], ref.shape)
        check(got.cpu(), ref, dtype, scale=scale)
        # With a projection (mel filters): the kernel's [B, P, frames] output.
        fb = ts.audio.mel_filterbank(n_fft // 2 + 1, 0.0, 4000.0, 5, 8000, dtype=dtype)
        mel = ts.audio.mel_spectrogram(from_numpy(x, dtype).to(device), sample_rate=8000, n_fft=n_fft,
                                       hop_length=hop, center=center, pad_mode=mode, power=power, n_mels=5)
        proj = np.swapaxes(np.swapaxes(ref, -1, -2) @ ref64(fb.numpy()), -1, -2)
        check(mel.cpu(), proj, dtype, scale=np.broadcast_to(np.swapaxes(np.swapaxes(scale, -1, -2) @ np.abs(
            ref64(fb.numpy())), -1, -2), proj.shape))


def spec_quantize_affine(dtype, device):
    # Through ts.quantize_per_tensor / quantize_per_channel; the float64 reference rounds ties to even.
    x = sample(dtype, (3, 4, 5), low=-40, high=40)
    xr = ref64(x)
    for qd, lo, hi, zp in [(ts.int8, -128, 127, 3), (ts.uint8, 0, 255, 128)]:
        q = ts.quantize_per_tensor(from_numpy(x, dtype).to(device), 0.25, zp, qd)
        np.testing.assert_array_equal(to_numpy(q.cpu()), np.clip(np.rint(xr / 0.25) + zp, lo, hi))
        s, z = np.array([0.1, 0.5, 0.3, 2.0]), np.array([0, 1, 2, 3])
        q = ts.quantize_per_channel(from_numpy(x, dtype).to(device), ts.tensor(s), ts.tensor(z), 1, qd)
        np.testing.assert_array_equal(to_numpy(q.cpu()), np.clip(np.rint(xr / s[:, None]) + z[:, None], lo, hi))


def spec_dequantize_affine(dtype, device):
    q = np.arange(-128, 127, dtype=np.int8).reshape(5, 51)
    s, z = np.array([0.1, 0.5, 0.3, 2.0, 1.5]), np.array([0, 1, -2, 3, 4])
    got = ts.dequantize_per_channel(ts.tensor(q).to(device), ts.tensor(s), ts.tensor(z), 0, dtype=dtype)
    check(got.cpu(), (q.astype(np.float64) - z[:, None]) * s[:, None], dtype)
    got = ts.dequantize(ts.tensor(q).to(device), 0.25, 7, dtype=dtype)
    check(got.cpu(), (q.astype(np.float64) - 7) * 0.25, dtype)


SPECS.update({"rfft_real": spec_rfft_real, "irfft_real": spec_irfft_real, "stft_power": spec_stft_power,
              "fft_c2c": spec_fft_c2c,
              "quantize_affine": spec_quantize_affine, "dequantize_affine": spec_dequantize_affine})

# ---- fused kernels added in the seventh session: the 2-norm's sum of squares, LSTM/GRU over a
# sequence, flash-style attention; each through its public op against NumPy float64 ----

def spec_sum_squares(dtype, device):  # through the 2-norm (sum_squares, then sqrt)
    for shape, dim in (((100003,), None), ((37, 1029), -1), ((6, 7, 513), (-2, -1))):
        a = sample(dtype, shape)
        out = ts.linalg.vector_norm(from_numpy(a, dtype).to(device), 2, dim=dim)
        ref = np.sqrt(np.sum(ref64(a) ** 2, axis=dim))
        check(out.cpu(), ref, dtype, scale=ref)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _lstm_ref(xp, h, c, w, b):
    outs = []
    for t in range(xp.shape[0]):
        g = xp[t] + h @ w.T + b
        i, f, gg, o = np.split(g, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
        h = _sigmoid(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs)


def _lstm_case(dtype, device):
    L, N, H = 5, 3, 6
    xp, h, c = sample(dtype, (L, N, 4 * H), -1, 1), sample(dtype, (N, H), -1, 1), sample(dtype, (N, H), -1, 1)
    w, b = sample(dtype, (4 * H, H), -0.5, 0.5), sample(dtype, (4 * H,), -0.5, 0.5)
    ts_in = [from_numpy(v, dtype).to(device).requires_grad_() for v in (xp, h, c, w, b)]
    return (xp, h, c, w, b), ts_in


def spec_rnn_fused(dtype, device):
    ref_in, (txp, th, tc, tw, tb) = _lstm_case(dtype, device)
    out = ts._C._nn._rnn_fused(False, txp, th, tc, tw, tb, False)[0]
    ref = _lstm_ref(*[ref64(v) for v in ref_in])
    # h = o tanh(c), c = f c' + i g: a sum of terms below 1 that may cancel, so the error
    # is relative to those terms (as the backward's), not to a small h.
    check(out.detach().cpu(), ref, dtype, scale=np.abs(ref) + 1.0)


def _lstm_bptt(xp, h, c, w, b):
    """d(sum of the outputs)/d(xp) by backpropagation through time, in float64."""
    saved = []
    for t in range(xp.shape[0]):
        g = xp[t] + h @ w.T + b
        i, f, gg, o = (_sigmoid(x) if k != 2 else np.tanh(x) for k, x in enumerate(np.split(g, 4, axis=-1)))
        c_prev, c = c, f * c + i * gg
        h = o * np.tanh(c)
        saved.append((i, f, gg, o, c_prev, c))
    dxp, dh_next, dc_next = np.zeros_like(xp), np.zeros_like(h), np.zeros_like(c)
    for t in reversed(range(xp.shape[0])):
        i, f, gg, o, c_prev, c = saved[t]
        dh = 1.0 + dh_next
        tc = np.tanh(c)
        dc = dc_next + dh * o * (1 - tc ** 2)
        dg = np.concatenate([dc * gg * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - gg ** 2),
                             dh * tc * o * (1 - o)], axis=-1)
        dxp[t] = dg
        dh_next, dc_next = dg @ w, dc * f
    return dxp


def spec_rnn_fused_backward(dtype, device):
    ref_in, (txp, th, tc, tw, tb) = _lstm_case(dtype, device)
    ts._C._nn._rnn_fused(False, txp, th, tc, tw, tb, False)[0].sum().backward()
    g = _lstm_bptt(*[ref64(v) for v in ref_in])
    check(txp.grad.cpu(), g, dtype, scale=np.abs(g) + 1.0)


def _sdpa_ref(q, k, v):  # causal, scale 1/sqrt(E)
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    L, S = s.shape[-2:]
    s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


def _sdpa_case(dtype, device):
    q, k, v = (sample(dtype, (2, 3, 70, 16), -1, 1) for _ in range(3))
    return (q, k, v), [from_numpy(x, dtype).to(device).requires_grad_() for x in (q, k, v)]


def spec_sdpa_flash(dtype, device):
    ref_in, (tq, tk, tv) = _sdpa_case(dtype, device)
    out = ts.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
    q, k, v = (ref64(x) for x in ref_in)
    check(out.detach().cpu(), _sdpa_ref(q, k, v), dtype, scale=_sdpa_ref(q, k, np.abs(v)) + 1.0)


def spec_sdpa_flash_backward(dtype, device):  # d(sum(out * w))/dv = P^T w, exact in float64
    ref_in, (tq, tk, tv) = _sdpa_case(dtype, device)
    w = sample(dtype, (2, 3, 70, 16))
    (ts.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True) * from_numpy(w, dtype).to(device)).sum().backward()
    q, k, v = (ref64(x) for x in ref_in)
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    check(tv.grad.cpu(), np.swapaxes(p, -1, -2) @ ref64(w), dtype, scale=np.swapaxes(p, -1, -2) @ np.abs(ref64(w)) + 1.0)


SPECS.update({"sum_squares": spec_sum_squares, "rnn_fused": spec_rnn_fused, "linear_bias": spec_linear_bias,
              "rnn_fused_backward": spec_rnn_fused_backward, "sdpa_flash": spec_sdpa_flash,
              "sdpa_flash_backward": spec_sdpa_flash_backward})

ENTRIES = [(op, dev, dt) for op, dev, dt, src in ts.registry() if src == "builtin"]


@pytest.mark.parametrize("op,device,dtype", ENTRIES, ids=[f"{o}-{d}-{t.name}" for o, d, t in ENTRIES])
def test_kernel_matches_numpy(op, device, dtype):
    assert op in SPECS, f"no harness spec for op '{op}': add one to {__file__}"
    if device == "cuda" and not ts.cuda.is_available():
        pytest.skip(f"needs a CUDA GPU ({ts._C._cuda.unavailable_reason()})")
    SPECS[op](dtype, device)


def test_every_builtin_op_has_a_spec():
    assert {e[0] for e in ENTRIES} <= set(SPECS)


def test_multithreaded_results_match_single_thread():
    a = sample(ts.float32, (512, 300))
    t = from_numpy(a, ts.float32)
    ts.set_num_threads(2)
    two = [(t + t * 2).tolist(), t.sum(1).tolist(), t.t().contiguous().tolist()]
    ts.set_num_threads(1)
    one = [(t + t * 2).tolist(), t.sum(1).tolist(), t.t().contiguous().tolist()]
    assert one == two


# ---- linalg (LAPACK): factorizations are checked through what defines them (a reconstruction and the
# factor's structure) and the unique parts (values, solutions) against NumPy float64. Well-conditioned
# inputs (diagonally dominant), so float32's error stays within a small multiple of its rtol.

def _matrix(dtype, shape, dominant=True, hermitian=False):
    a = sample(dtype, shape, low=-1, high=1)
    if hermitian:
        a = (ref64(a) + np.conj(np.swapaxes(ref64(a), -1, -2))) / 2
    if dominant:
        a = ref64(a) + shape[-1] * 2 * np.eye(shape[-1])
    return np.asarray(a).astype(NP[dtype])


def _close(got, ref, dtype, k=50):
    """|got - ref| within k * rtol of the reference's largest entry (LAPACK's backward-stable error)."""
    ref = np.asarray(ref)
    check(got, ref, dtype, scale=np.broadcast_to(k * (np.abs(ref).max() + 1), ref.shape))


def _t(a, dtype, device):
    return from_numpy(a, dtype).to(device)


def _mT(x):
    return np.conj(np.swapaxes(x, -1, -2))


def spec_linalg_solve(dtype, device):
    for a_shape, b_shape in [((3, 3), (3, 2)), ((2, 4, 4), (2, 4, 1)), ((5, 5), (5, 5))]:
        a, b = _matrix(dtype, a_shape), sample(dtype, b_shape)
        _close(ts.linalg.solve(_t(a, dtype, device), _t(b, dtype, device)).cpu(),
               np.linalg.solve(ref64(a), ref64(b)), dtype)


def spec_linalg_lu_factor(dtype, device):
    for shape in [(3, 3), (2, 5, 5)]:
        a = _matrix(dtype, shape, dominant=False)
        P, L, U = ts.linalg.lu(_t(a, dtype, device))
        _close(P.cpu() @ L.cpu() @ U.cpu(), ref64(a), dtype)
        np.testing.assert_array_equal(np.triu(to_numpy(L.cpu()), 1), 0)
        np.testing.assert_array_equal(np.tril(to_numpy(U.cpu()), -1), 0)


def spec_linalg_lu_solve(dtype, device):
    a, b = _matrix(dtype, (2, 4, 4)), sample(dtype, (2, 4, 3))
    LU, piv = ts.linalg.lu_factor(_t(a, dtype, device))
    _close(ts.linalg.lu_solve(LU, piv, _t(b, dtype, device)).cpu(), np.linalg.solve(ref64(a), ref64(b)), dtype)


def spec_linalg_cholesky(dtype, device):
    for shape in [(3, 3), (2, 4, 4)]:
        a = _matrix(dtype, shape, hermitian=True)
        _close(ts.linalg.cholesky(_t(a, dtype, device)).cpu(), np.linalg.cholesky(ref64(a)), dtype)


def spec_linalg_qr(dtype, device):
    for shape in [(4, 3), (3, 3), (2, 5, 2)]:
        a = _matrix(dtype, shape, dominant=False)
        Q, R = ts.linalg.qr(_t(a, dtype, device))
        q, r = ref64(to_numpy(Q.cpu())), ref64(to_numpy(R.cpu()))
        _close(Q.cpu() @ R.cpu(), ref64(a), dtype)
        _close(_t(_mT(q) @ q, ts.complex128 if dtype.is_complex else ts.float64, "cpu"),
               np.broadcast_to(np.eye(q.shape[-1]), q.shape[:-2] + (q.shape[-1],) * 2), dtype)
        np.testing.assert_array_equal(np.tril(r, -1), 0)


def spec_linalg_eigh(dtype, device):
    for shape in [(3, 3), (2, 4, 4)]:
        a = _matrix(dtype, shape, dominant=False, hermitian=True)
        w, V = ts.linalg.eigh(_t(a, dtype, device))
        _close(w.cpu(), np.linalg.eigvalsh(ref64(a)), dtype)
        v = ref64(to_numpy(V.cpu()))
        _close(_t(v @ (ref64(to_numpy(w.cpu()))[..., None] * _mT(v)), ts.complex128 if dtype.is_complex
                  else ts.float64, "cpu"), ref64(a), dtype)


def spec_linalg_svd(dtype, device):
    for shape in [(4, 3), (3, 5), (2, 3, 3)]:
        a = _matrix(dtype, shape, dominant=False)
        U, S, Vh = ts.linalg.svd(_t(a, dtype, device), full_matrices=False)
        _close(S.cpu(), np.linalg.svd(ref64(a), compute_uv=False), dtype)
        u, s, vh = (ref64(to_numpy(t.cpu())) for t in (U, S, Vh))
        _close(_t(u @ (s[..., None] * vh), ts.complex128 if dtype.is_complex else ts.float64, "cpu"), ref64(a), dtype)


def spec_linalg_eig(dtype, device):
    for shape in [(3, 3), (2, 4, 4)]:
        a = _matrix(dtype, shape, dominant=False)
        w, V = ts.linalg.eig(_t(a, dtype, device))
        w, v = ref64(to_numpy(w.cpu())), ref64(to_numpy(V.cpu()))
        _close(_t(ref64(a).astype(np.complex128) @ v, ts.complex128, "cpu"), v * w[..., None, :], dtype)
        np.testing.assert_allclose(np.sort_complex(w.reshape(-1, shape[-1])),
                                   np.sort_complex(np.linalg.eigvals(ref64(a)).reshape(-1, shape[-1])),
                                   rtol=100 * RTOL[dtype], atol=100 * RTOL[dtype])


def spec_linalg_solve_triangular(dtype, device):
    for upper, left in [(True, True), (False, True), (True, False)]:
        a = _matrix(dtype, (4, 4))
        a = np.triu(a) if upper else np.tril(a)
        b = sample(dtype, (4, 2) if left else (2, 4))
        got = ts.linalg.solve_triangular(_t(a, dtype, device), _t(b, dtype, device), upper=upper, left=left)
        ref = np.linalg.solve(ref64(a), ref64(b)) if left else ref64(b) @ np.linalg.inv(ref64(a))
        _close(got.cpu(), ref, dtype)


def _ldl_input(dtype, shape):
    # symmetric (Hermitian) and indefinite, so Bunch-Kaufman pivots (2x2 blocks for most draws)
    return _matrix(dtype, shape, dominant=False, hermitian=True) + 0


def spec_linalg_ldl_factor(dtype, device):
    from scipy.linalg import lapack
    herm = bool(dtype.is_complex)
    for shape in [(4, 4), (2, 5, 5)]:
        a = _ldl_input(dtype, shape)
        LD, piv = ts.linalg.ldl_factor(_t(a, dtype, device), hermitian=herm)
        ld, p = to_numpy(LD.cpu()), to_numpy(piv.cpu())
        fn = lapack.get_lapack_funcs("hetrf" if herm else "sytrf", (a,))
        for i, m in enumerate(a.reshape((-1,) + shape[-2:])):  # LAPACK's own layout, same precision
            ref, ipiv, info = fn(m, lower=1)
            np.testing.assert_array_equal(p.reshape(-1, shape[-1])[i], ipiv)
            _close(_t(ld.reshape((-1,) + shape[-2:])[i], dtype, "cpu"), np.tril(ref64(ref)), dtype)


def spec_linalg_ldl_solve(dtype, device):
    herm = bool(dtype.is_complex)
    a, b = _ldl_input(dtype, (2, 4, 4)), sample(dtype, (2, 4, 3))
    LD, piv = ts.linalg.ldl_factor(_t(a, dtype, device), hermitian=herm)
    _close(ts.linalg.ldl_solve(LD, piv, _t(b, dtype, device), hermitian=herm).cpu(),
           np.linalg.solve(ref64(a), ref64(b)), dtype, k=500)


SPECS.update({"linalg_ldl_factor": spec_linalg_ldl_factor, "linalg_ldl_solve": spec_linalg_ldl_solve})
SPECS.update({"linalg_solve": spec_linalg_solve, "linalg_lu_factor": spec_linalg_lu_factor,
              "linalg_lu_solve": spec_linalg_lu_solve, "linalg_cholesky": spec_linalg_cholesky,
              "linalg_qr": spec_linalg_qr, "linalg_eigh": spec_linalg_eigh, "linalg_svd": spec_linalg_svd,
              "linalg_eig": spec_linalg_eig, "linalg_solve_triangular": spec_linalg_solve_triangular})
