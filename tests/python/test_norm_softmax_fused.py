"""The fused CPU kernels of log_softmax's backward and rms_norm (forward and backward),
and layer_norm's AVX2 row loops, against NumPy float64 and finite differences."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tessel as ts
import tessel.nn.functional as F
from tessel.autograd import gradcheck, gradgradcheck


def log_softmax_grad_ref(x, g):
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    e = np.exp(x - x.max(-1, keepdims=True))
    return g - e / e.sum(-1, keepdims=True) * g.sum(-1, keepdims=True)


def rms_ref(x, w, g, eps):
    x, w, g = (np.asarray(a, np.float64) for a in (x, w, g))
    rs = 1.0 / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    gw = g * w
    dx = rs * gw - x * rs ** 3 * (gw * x).mean(-1, keepdims=True)
    return x * rs * w, dx, (g * x * rs).reshape(-1, x.shape[-1]).sum(0)


def close(got, want, tol):
    got = got.detach().numpy().astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())))


# ---- log_softmax backward ----

@pytest.mark.parametrize("dtype,tol", [(ts.float64, 1e-12), (ts.float32, 3e-6)])
@pytest.mark.parametrize("shape", [(1, 1), (4, 1), (3, 7), (2, 5, 64), (2, 1024), (3, 1025), (2, 3000)])
def test_log_softmax_backward_matches_float64(dtype, tol, shape):
    rng = np.random.default_rng(sum(shape))
    xn, gn = rng.standard_normal(shape) * 4, rng.standard_normal(shape)
    x = ts.tensor(xn, dtype=dtype).requires_grad_()
    F.log_softmax(x, dim=-1).backward(ts.tensor(gn, dtype=dtype))
    close(x.grad, log_softmax_grad_ref(ts.tensor(xn, dtype=dtype).numpy(), gn), tol)


def test_log_softmax_backward_of_a_transposed_input_and_other_dims():
    rng = np.random.default_rng(5)
    xn, gn = rng.standard_normal((9, 6)), rng.standard_normal((6, 9))
    x = ts.tensor(xn).requires_grad_()
    F.log_softmax(x.t(), dim=-1).backward(ts.tensor(gn))  # non-contiguous rows
    close(x.grad, log_softmax_grad_ref(xn.T, gn).T, 1e-12)
    x2 = ts.tensor(xn).requires_grad_()
    F.log_softmax(x2, dim=0).backward(ts.tensor(gn.T))  # not the last dim: the op-by-op rule
    close(x2.grad, log_softmax_grad_ref(xn.T, gn).T, 1e-12)


def test_log_softmax_backward_with_minus_inf_entries():
    xn = np.array([[0.0, -np.inf, 1.0, 2.0], [-np.inf, -np.inf, 3.0, -1.0]])
    gn = np.array([[1.0, 2.0, -1.0, 0.5], [0.25, 1.0, 2.0, -3.0]])
    x = ts.tensor(xn).requires_grad_()
    F.log_softmax(x, dim=-1).backward(ts.tensor(gn))
    # exp(-inf) = 0: the masked entries pass g through unchanged
    close(x.grad, log_softmax_grad_ref(xn, gn), 1e-12)


def test_log_softmax_gradcheck_and_create_graph():
    x = ts.randn(3, 2, 13, dtype=ts.float64).requires_grad_()
    assert gradcheck(lambda a: F.log_softmax(a, dim=-1), [x])
    assert gradgradcheck(lambda a: F.log_softmax(a, dim=-1), [x])


def test_log_softmax_half_types_keep_the_op_rule():
    rng = np.random.default_rng(6)
    xn, gn = rng.standard_normal((3, 40)), rng.standard_normal((3, 40))
    for dtype in (ts.float16, ts.bfloat16):
        x = ts.tensor(xn, dtype=ts.float32).to(dtype).requires_grad_()
        F.log_softmax(x, dim=-1).backward(ts.tensor(gn, dtype=ts.float32).to(dtype))
        got = x.grad.to(ts.float32).numpy()
        np.testing.assert_allclose(got, log_softmax_grad_ref(xn, gn), rtol=0.05, atol=0.1)


# ---- rms_norm ----

@pytest.mark.parametrize("dtype,tol", [(ts.float64, 1e-11), (ts.float32, 2e-5)])
@pytest.mark.parametrize("rows,d", [(1, 1), (5, 1), (3, 7), (4, 16), (2, 17), (2, 769), (3, 4096), (300, 33)])
def test_rms_norm_forward_and_backward_match_float64(dtype, tol, rows, d):
    rng = np.random.default_rng(rows * 7919 + d)
    xn = rng.standard_normal((rows, d)) * 3 + 0.5
    wn, gn = rng.standard_normal(d), rng.standard_normal((rows, d))
    x = ts.tensor(xn, dtype=dtype).requires_grad_()
    w = ts.tensor(wn, dtype=dtype).requires_grad_()
    y = F.rms_norm(x, (d,), w, eps=1e-6)
    y.backward(ts.tensor(gn, dtype=dtype))
    ey, edx, edw = rms_ref(ts.tensor(xn, dtype=dtype).numpy(), ts.tensor(wn, dtype=dtype).numpy(), gn, 1e-6)
    for got, want in ((y, ey), (x.grad, edx), (w.grad, edw)):
        close(got, want, tol)


def test_rms_norm_default_eps_no_weight_and_2d_normalized_shape():
    rng = np.random.default_rng(7)
    xn, gn = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
    x = ts.tensor(xn, dtype=ts.float32).requires_grad_()
    y = F.rms_norm(x, (3, 5))  # eps defaults to finfo(float32).eps
    y.backward(ts.tensor(gn, dtype=ts.float32))
    x32 = xn.astype(np.float32).reshape(4, 15)
    ey, edx, _ = rms_ref(x32, np.ones(15), gn.reshape(4, 15), float(np.finfo(np.float32).eps))
    close(y, ey.reshape(4, 3, 5), 2e-6)
    close(x.grad, edx.reshape(4, 3, 5), 2e-5)


@pytest.mark.parametrize("dtype", [ts.bfloat16, ts.float16])
def test_rms_norm_default_eps_of_reduced_floats_is_float32s(dtype):
    # PyTorch's kernels take the compute dtype's epsilon (float32's), whatever its docs say;
    # bfloat16's own 2^-7 moved rows of magnitude 1e-3 by up to 2 ulps against its results
    x = ts.tensor(np.random.default_rng(9).standard_normal((8, 64)) * 1e-3, dtype=ts.float32).to(dtype)
    f32 = float(np.finfo(np.float32).eps)
    assert np.array_equal(F.rms_norm(x, (64,)).to(ts.float32).numpy(), F.rms_norm(x, (64,), eps=f32).to(ts.float32).numpy())
    own = 2.0 ** -7 if dtype == ts.bfloat16 else 2.0 ** -10
    assert not np.array_equal(F.rms_norm(x, (64,)).to(ts.float32).numpy(),
                              F.rms_norm(x, (64,), eps=own).to(ts.float32).numpy())


def test_rms_norm_non_contiguous_input_and_weight_without_grad():
    rng = np.random.default_rng(8)
    xn, wn, gn = rng.standard_normal((6, 5, 9)), rng.standard_normal(9), rng.standard_normal((5, 6, 9))
    x = ts.tensor(xn).requires_grad_()
    w = ts.tensor(wn)  # no grad: only dx
    y = F.rms_norm(x.permute(1, 0, 2), (9,), w, eps=1e-5)
    y.backward(ts.tensor(gn))
    ey, edx, _ = rms_ref(xn.transpose(1, 0, 2), wn, gn, 1e-5)
    close(y, ey, 1e-12)
    close(x.grad, edx.transpose(1, 0, 2), 1e-12)
    assert w.grad is None


def test_rms_norm_weight_grad_only():
    rng = np.random.default_rng(9)
    xn, wn, gn = rng.standard_normal((7, 12)), rng.standard_normal(12), rng.standard_normal((7, 12))
    w = ts.tensor(wn).requires_grad_()
    F.rms_norm(ts.tensor(xn), (12,), w, eps=1e-6).backward(ts.tensor(gn))
    close(w.grad, rms_ref(xn, wn, gn, 1e-6)[2], 1e-12)


def test_rms_norm_gradcheck_and_create_graph():
    x = ts.randn(3, 2, 6, dtype=ts.float64).requires_grad_()
    w = ts.randn(6, dtype=ts.float64).requires_grad_()
    fn = lambda a, b: F.rms_norm(a, (6,), b, eps=1e-3)  # noqa: E731
    assert gradcheck(fn, [x, w])
    assert gradgradcheck(fn, [x, w])


@pytest.mark.parametrize("dtype", [ts.float16, ts.bfloat16])
def test_rms_norm_half_types_take_the_op_path(dtype):
    rng = np.random.default_rng(10)
    xn = rng.standard_normal((4, 33))
    y = F.rms_norm(ts.tensor(xn, dtype=ts.float32).to(dtype), (33,), eps=1e-6)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.to(ts.float32).numpy(), rms_ref(xn, np.ones(33), xn, 1e-6)[0], rtol=0.05, atol=0.05)


def test_rms_norm_bad_shapes_name_the_op():
    with pytest.raises(ValueError, match="rms_norm"):
        F.rms_norm(ts.randn(3, 4), (5,))
    with pytest.raises(ValueError, match="rms_norm"):
        F.rms_norm(ts.randn(3, 4), (4,), ts.randn(3))


def test_rms_norm_result_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(11)
    xn = rng.standard_normal((257, 768)).astype(np.float32)
    outs = []
    before = ts.get_num_threads()
    try:
        for n in (1, 2, 3):
            ts.set_num_threads(n)
            x = ts.tensor(xn).requires_grad_()
            w = ts.ones(768).requires_grad_()
            y = F.rms_norm(x, (768,), w, eps=1e-6)
            (y * y).sum().backward()
            outs.append([y.detach().numpy(), x.grad.numpy(), w.grad.numpy()])
    finally:
        ts.set_num_threads(before)
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            assert np.array_equal(a, b)


# ---- the AVX2 clones of the row loops round exactly as the baseline ones ----

_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, tessel as ts, tessel.nn.functional as F
    rng = np.random.default_rng(12)
    out = []
    for d in (7, 64, 769):
        xn, gn = rng.standard_normal((5, d)).astype(np.float32), rng.standard_normal((5, d)).astype(np.float32)
        for fn in (lambda x, w: F.layer_norm(x, (d,), w, w), lambda x, w: F.rms_norm(x, (d,), w, eps=1e-6)):
            x, w = ts.tensor(xn).requires_grad_(), ts.ones(d).requires_grad_()
            y = fn(x, w)
            y.backward(ts.tensor(gn))
            out += [y.detach().numpy(), x.grad.numpy(), w.grad.numpy()]
    np.savez(sys.argv[1], *out)
""")


def test_layer_norm_and_rms_norm_match_bitwise_with_and_without_the_vector_table(tmp_path):
    if ts._C._cpu_capability() == "scalar":
        pytest.skip("no vector table on this CPU: only the baseline loops run")
    files = []
    for mode in ("", "scalar"):
        env = dict(os.environ)
        env.pop("TESSEL_VECMATH", None)
        if mode:
            env["TESSEL_VECMATH"] = mode
        f = tmp_path / f"out{mode or 'vec'}.npz"
        subprocess.run([sys.executable, "-c", _SCRIPT, str(f)], env=env, check=True, timeout=120)
        files.append(np.load(f))
    a, b = files
    assert len(a.files) == 18
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k


# ---- gelu backward (gelu_backward_fused) ----

def gelu_grad_ref(x, g, approximate):
    from math import erf, sqrt, pi
    x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
    if approximate == "tanh":
        k, c = sqrt(2.0 / pi), 0.044715
        t = np.tanh(k * (x + c * x ** 3))
        d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x)
    else:
        cdf = 0.5 * (1 + np.vectorize(erf)(x / sqrt(2.0)))
        d = cdf + x * np.exp(-0.5 * x * x) / sqrt(2 * pi)
    return g * d


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype,tol", [(ts.float64, 1e-13), (ts.float32, 3e-6)])
@pytest.mark.parametrize("n", [1, 7, 512, 513, 5000])
def test_gelu_backward_matches_float64(approximate, dtype, tol, n):
    rng = np.random.default_rng(n)
    xn = rng.standard_normal(n) * 3
    xn[: min(n, 4)] = [0.0, -12.0, 12.0, -0.5][: min(n, 4)]  # zero and saturated tails
    gn = rng.standard_normal(n)
    x = ts.tensor(xn, dtype=dtype).requires_grad_()
    F.gelu(x, approximate=approximate).backward(ts.tensor(gn, dtype=dtype))
    close(x.grad, gelu_grad_ref(ts.tensor(xn, dtype=dtype).numpy(), gn, approximate), tol)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_backward_strided_input_and_broadcast_grad(approximate):
    rng = np.random.default_rng(13)
    xn = rng.standard_normal((40, 30))
    x = ts.tensor(xn).requires_grad_()
    F.gelu(x.t(), approximate=approximate).sum().backward()  # x.t() strided, g an expanded scalar
    close(x.grad, gelu_grad_ref(xn, np.ones_like(xn), approximate), 1e-13)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck_and_create_graph(approximate):
    x = ts.randn(4, 9, dtype=ts.float64).requires_grad_()
    assert gradcheck(lambda a: F.gelu(a, approximate=approximate), [x])
    assert gradgradcheck(lambda a: F.gelu(a, approximate=approximate), [x])


def test_gelu_backward_half_types_keep_the_ops():
    rng = np.random.default_rng(14)
    xn, gn = rng.standard_normal(64), rng.standard_normal(64)
    for dtype in (ts.float16, ts.bfloat16):
        x = ts.tensor(xn, dtype=ts.float32).to(dtype).requires_grad_()
        F.gelu(x, approximate="tanh").backward(ts.tensor(gn, dtype=ts.float32).to(dtype))
        np.testing.assert_allclose(x.grad.to(ts.float32).numpy(), gelu_grad_ref(xn, gn, "tanh"), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("rows,length", [(16, 40), (37, 300), (5, 33), (64, 1)])
def test_softmax_over_a_strided_dim_in_tiles(fn, rows, length):
    # softmax along a dim whose neighbours lie side by side in memory (over the columns of
    # a contiguous matrix): rows copied 16 at a time, a cache line per step; each row
    # through the same row kernel, so the contiguous rows' bits, and float64's values
    x = np.random.default_rng(38).standard_normal((length, rows)).astype(np.float32) * 3
    x[0, 0] = -np.inf
    t = ts.from_numpy(x)
    got = fn(t.t(), -1)  # [rows, length], the softmax dim has stride `rows`
    want = fn(ts.from_numpy(np.ascontiguousarray(x.T)), -1)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    got0 = fn(t, 0)  # the same over dim 0 of the contiguous matrix
    np.testing.assert_array_equal(got0.numpy(), want.numpy().T)
    x64 = x.T.astype(np.float64)
    e = np.exp(x64 - x64.max(-1, keepdims=True))
    ref = e / e.sum(-1, keepdims=True)
    if fn is F.log_softmax:
        with np.errstate(divide="ignore"):
            ref = np.log(ref)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 70001), (40, 2, 1000), (3, 2, 5, 7)])
def test_batch_norm_statistics_of_channels_longer_than_a_piece(shape):
    # channels over 32768 values are summed in pieces (two passes each, in L2) combined by
    # Chan's formula: float64's mean and variance, an offset far from zero included
    rng = np.random.default_rng(41)
    x = (rng.standard_normal(shape) * 0.5 + 1000.0).astype(np.float32)
    x64 = x.astype(np.float64)
    axes = (0,) + tuple(range(2, len(shape)))
    m = x64.mean(axis=axes, keepdims=True)
    v = x64.var(axis=axes, keepdims=True)
    for dt, tol in ((ts.float32, 2e-4), (ts.float64, 1e-10)):
        rm, rv = ts.zeros([shape[1]], dtype=dt), ts.ones([shape[1]], dtype=dt)
        y = F.batch_norm(ts.from_numpy(x).to(dt), rm, rv, training=True, momentum=1.0)
        np.testing.assert_allclose(y.to(ts.float64).numpy(), (x64 - m) / np.sqrt(v + 1e-5), rtol=tol, atol=tol)
        n = x.size // shape[1]
        np.testing.assert_allclose(rm.to(ts.float64).numpy(), m.reshape(-1), rtol=1e-7)
        np.testing.assert_allclose(rv.to(ts.float64).numpy(), v.reshape(-1) * n / (n - 1), rtol=1e-5)
