"""hypot, copysign and frac through their CPU kernels (registered by name, kernels/cpu/unary.cpp):
against NumPy float64, special values, broadcasting, non-contiguous views, gradients, export."""
import numpy as np
import pytest

import tessel as ts
from tessel.autograd import gradcheck, gradgradcheck

NP = {ts.float32: np.float32, ts.float64: np.float64}


def ulps(got, want, npd):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    spacing = np.spacing(np.abs(want).astype(npd)).astype(np.float64)
    return np.max(np.abs(got - want) / spacing)


@pytest.mark.parametrize("dtype", [ts.float32, ts.float64])
def test_hypot_within_one_ulp_of_float64_over_wide_range(dtype):
    npd = NP[dtype]
    rng = np.random.default_rng(1)
    big = 30 if dtype == ts.float32 else 300  # exponents up to near overflow / underflow
    x = (rng.standard_normal(20000) * 10.0 ** rng.uniform(-big, big, 20000)).astype(npd)
    y = (rng.standard_normal(20000) * 10.0 ** rng.uniform(-big, big, 20000)).astype(npd)
    got = ts.hypot(ts.tensor(x), ts.tensor(y)).numpy()
    assert got.dtype == npd
    want = np.hypot(x.astype(np.float64), y.astype(np.float64))  # the float64 reference
    if dtype == ts.float64:
        want = np.hypot(x, y)  # libm, correctly rounded to within 1 ulp
    assert ulps(got, want, npd) <= (0.5001 if dtype == ts.float32 else 2.0)
    assert np.isfinite(got).all()  # no overflow in between (near FLT_MAX / DBL_MAX inputs)
    # next to overflow and underflow: half of the largest value, the smallest normal and subnormal
    fi = np.finfo(npd)
    edge = np.array([fi.max / 2, fi.max / 4, fi.tiny, fi.smallest_subnormal * 3], npd)
    got = ts.hypot(ts.tensor(edge), ts.tensor(edge)).numpy()
    want = edge.astype(np.float64) * np.sqrt(2.0) if npd is np.float32 else np.hypot(edge, edge)
    assert np.isfinite(got).all() and ulps(got, want, npd) <= 1.0


@pytest.mark.parametrize("dtype", [ts.float32, ts.float64])
def test_hypot_special_values(dtype):
    npd = NP[dtype]
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, nan, 0.0, -0.0, 3.0, 0.0, nan, 1e30], npd)
    y = np.array([nan, 1.0, -inf, 1.0, 0.0, -0.0, -4.0, 5.0, nan, 1e30], npd)
    got = ts.hypot(ts.tensor(x), ts.tensor(y)).numpy()
    want = np.hypot(x, y)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=2e-7 if npd is np.float32 else 1e-15)


@pytest.mark.parametrize("dtype", [ts.float32, ts.float64])
def test_copysign_bits_match_numpy(dtype):
    npd = NP[dtype]
    x = np.array([1.0, -2.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 3.5, 7.0], npd)
    y = np.array([-0.0, 0.0, -1.0, 2.0, -3.0, 5.0, -1.0, -np.nan, np.inf], npd)
    got = ts.copysign(ts.tensor(x), ts.tensor(y)).numpy()
    assert np.array_equal(got.view(np.uint64 if npd is np.float64 else np.uint32),
                          np.copysign(x, y).view(np.uint64 if npd is np.float64 else np.uint32))


def test_half_types_and_scalars_and_broadcast():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 1)).astype(np.float32)
    y = rng.standard_normal((1, 6)).astype(np.float32)
    for dt in (ts.float16, ts.bfloat16):
        got = ts.hypot(ts.tensor(x).to(dt), ts.tensor(y).to(dt)).to(ts.float64).numpy()
        xr, yr = (ts.tensor(v).to(dt).to(ts.float64).numpy() for v in (x, y))
        np.testing.assert_allclose(got, np.hypot(xr, yr), rtol=1e-2 if dt == ts.bfloat16 else 1e-3)
        got = ts.copysign(ts.tensor(x).to(dt), ts.tensor(y).to(dt)).to(ts.float64).numpy()
        np.testing.assert_array_equal(got, np.copysign(xr, yr))
    np.testing.assert_allclose(ts.hypot(ts.tensor(x), 2.0).numpy(), np.hypot(x, 2.0), rtol=1e-7)
    np.testing.assert_array_equal(ts.copysign(-1.5, ts.tensor(y)).numpy(), np.copysign(np.float32(-1.5), y))
    with pytest.raises(ValueError, match="hypot"):
        ts.hypot(ts.randn(3), ts.randn(4))
    with pytest.raises(ValueError, match="copysign"):
        ts.copysign(ts.randn(3), ts.randn(4))
    with pytest.raises(TypeError, match="hypot"):
        ts.hypot(ts.tensor([1, 2]), ts.tensor([3, 4]))


def test_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 30))
    y = rng.standard_normal((30, 40))
    xt, yt = ts.tensor(x)[:, ::2], ts.tensor(y).t()[:, ::2]
    np.testing.assert_allclose(ts.hypot(xt, yt).numpy(), np.hypot(x[:, ::2], y.T[:, ::2]), rtol=1e-15)
    np.testing.assert_array_equal(ts.copysign(xt, yt).numpy(), np.copysign(x[:, ::2], y.T[:, ::2]))


def test_hypot_gradients():
    rng = np.random.default_rng(4)
    a = ts.tensor(rng.standard_normal((3, 4))).requires_grad_()
    b = ts.tensor(rng.standard_normal((4,))).requires_grad_()
    assert gradcheck(ts.hypot, (a, b))
    assert gradgradcheck(ts.hypot, (a, b))
    # against the float64 formula, and 0 at the origin (as the op-by-op form gave)
    x = ts.tensor([0.0, 3.0, -1e-200], dtype=ts.float64).requires_grad_()
    y = ts.tensor([0.0, -4.0, 1e-200], dtype=ts.float64).requires_grad_()
    ts.hypot(x, y).backward(ts.tensor([2.0, 2.0, 1.0], dtype=ts.float64))
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.2, -np.sqrt(0.5)], rtol=1e-14)
    np.testing.assert_allclose(y.grad.numpy(), [0.0, -1.6, np.sqrt(0.5)], rtol=1e-14)
    # only one input needing grad
    c = ts.tensor(rng.standard_normal(5)).requires_grad_()
    ts.hypot(c, ts.tensor(rng.standard_normal(5))).sum().backward()
    assert c.grad.shape == (5,)


def test_permuted_inputs_give_values_in_their_layout():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    y = rng.standard_normal((4, 5, 6)).astype(np.float32)
    xp, yp = ts.tensor(x).permute(2, 0, 1), ts.tensor(y).permute(2, 0, 1)
    want_h = np.hypot(x.astype(np.float64), y.astype(np.float64)).transpose(2, 0, 1)
    got = ts.hypot(xp, yp)
    np.testing.assert_allclose(got.numpy(), want_h, rtol=1e-7)
    assert np.array_equal(ts.copysign(xp, yp).numpy(), np.copysign(x, y).transpose(2, 0, 1))
    assert np.array_equal((got + 0).numpy(), got.numpy())  # usable by other ops
    # a transposed first input with a contiguous second one
    np.testing.assert_allclose(ts.hypot(xp, ts.tensor(np.ascontiguousarray(y.transpose(2, 0, 1)))).numpy(), want_h, rtol=1e-7)
    a = ts.tensor(x).permute(2, 0, 1).requires_grad_()
    assert gradcheck(lambda t: ts.hypot(t.permute(2, 0, 1), yp.to(ts.float64)), (ts.tensor(x.astype(np.float64)).requires_grad_(),))
    ts.hypot(a, yp).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), (x / np.hypot(x, y)).transpose(2, 0, 1), rtol=1e-6)


@pytest.mark.parametrize("dtype", [ts.float32, ts.float64, ts.float16, ts.bfloat16], ids=str)
def test_frac_one_pass_kernel(dtype):
    # frac is one kernel by name ("frac", kernels/cpu/unary.cpp): x - trunc(x), exact, on any layout
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((37, 41)) * 10.0 ** rng.uniform(-3, 8, (37, 41))).astype(np.float64)
    t = ts.tensor(x).to(dtype)
    xv = t.to(ts.float64).numpy()
    for v, ref in ((t, xv), (t.t(), xv.T), (t[:, :1].expand(37, 41), np.broadcast_to(xv[:, :1], (37, 41))),
                   (t[::2, ::3], xv[::2, ::3])):
        got = ts.frac(v)
        assert got.dtype == dtype and got.shape == v.shape
        with np.errstate(invalid="ignore"):  # inf - inf (float16 overflows past 65504): NaN, as PyTorch
            want = ref - np.trunc(ref)  # exact, and representable in the dtype
        np.testing.assert_array_equal(got.to(ts.float64).numpy(), want)
    special = ts.tensor([np.inf, -np.inf, np.nan, -0.0, -3.0, 2.5], dtype=dtype).frac().to(ts.float64).numpy()
    assert np.isnan(special[:3]).all() and special[4] == 0 and special[5] == 0.5


def test_frac_gradient_is_one():
    x = ts.tensor(np.array([0.3, -1.7, 6.5, -0.4]), dtype=ts.float64).requires_grad_()
    assert gradcheck(ts.frac, (x,))
    y = (ts.frac(x) * ts.tensor([1.0, 2.0, 3.0, 4.0], dtype=ts.float64)).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0, 4.0])


def test_export_records_frac_hypot_copysign_as_ops(tmp_path):
    # The kernels are called by name, which an export trace does not see: while tracing these
    # take their op compositions, so the graph computes from its inputs (before, copysign's
    # NumPy sign bits were baked into the graph as a constant).
    ort = pytest.importorskip("onnxruntime")

    class M(ts.nn.Module):
        def forward(self, x, y):
            return ts.frac(x * 3.7) + ts.hypot(x, y) + ts.copysign(x, y)

    x, y = ts.randn(4, 5), ts.randn(4, 5)
    path = str(tmp_path / "m.onnx")
    ts.onnx.export(M(), (x, y), path, input_names=["x", "y"])
    s = ort.InferenceSession(path)
    x2, y2 = ts.randn(4, 5), ts.randn(4, 5)
    got = s.run(None, {"x": x2.numpy(), "y": y2.numpy()})[0]
    np.testing.assert_allclose(got, M()(x2, y2).numpy(), rtol=1e-6, atol=1e-6)
