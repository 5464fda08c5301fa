"""Mixed precision: ts.autocast (state, op lists, casts, gradients, training)
and the reduced-precision oneDNN convolution kernels it leans on."""
import threading
import warnings

import numpy as np
import pytest

import tessel as ts
from tessel import nn
import tessel.nn.functional as F

BF16_EPS = 2.0 ** -8   # unit roundoff of bfloat16 (8 significand bits)
FP16_EPS = 2.0 ** -11


def npy(t):
    return np.array(t.detach().float().tolist(), dtype=np.float64) if t.dtype != ts.float64 else \
        np.array(t.detach().tolist(), dtype=np.float64)


def rand(*shape, seed=0, dtype=ts.float32):
    rng = np.random.default_rng(seed)
    return ts.tensor(rng.standard_normal(shape).astype(np.float32)).to(dtype)


def same(a, b):
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_array_equal(npy(a), npy(b))


# ----- state and API --------------------------------------------------------------------------

def test_state_defaults_and_restore():
    assert not ts.is_autocast_enabled() and not ts.is_autocast_enabled("cpu")
    assert ts.get_autocast_dtype("cpu") == ts.bfloat16
    assert ts.get_autocast_dtype("cuda") == ts.float16
    with ts.autocast("cpu"):
        assert ts.is_autocast_enabled("cpu") and ts.is_autocast_enabled()
        assert not ts.is_autocast_enabled("cuda")
        assert ts.get_autocast_dtype("cpu") == ts.bfloat16
        with ts.autocast("cpu", dtype=ts.float16):
            assert ts.get_autocast_dtype("cpu") == ts.float16
        assert ts.get_autocast_dtype("cpu") == ts.bfloat16
    assert not ts.is_autocast_enabled("cpu")


def test_device_type_keyword_and_aliases():
    x, w = rand(4, 8), rand(3, 8, seed=1)
    for ctx in (ts.autocast(device_type="cpu"), ts.amp.autocast("cpu"), ts.cpu.amp.autocast(),
                ts.autocast("cpu", dtype=ts.bfloat16, enabled=True, cache_enabled=False)):
        with ctx:
            assert ts.is_autocast_enabled("cpu")
            assert F.linear(x, w).dtype == ts.bfloat16
        assert not ts.is_autocast_enabled("cpu")
    with ts.cpu.amp.autocast(dtype=ts.float16):
        assert F.linear(x, w).dtype == ts.float16


def test_decorator():
    @ts.autocast("cpu")
    def f(a, b):
        return ts.is_autocast_enabled("cpu"), a @ b

    on, y = f(rand(2, 3), rand(3, 4))
    assert on and y.dtype == ts.bfloat16
    assert not ts.is_autocast_enabled("cpu")

    @ts.cpu.amp.autocast(enabled=False)
    def g(a, b):
        return a @ b

    with ts.autocast("cpu"):
        assert g(rand(2, 3), rand(3, 4)).dtype == ts.float32


def test_bad_arguments():
    with pytest.raises(TypeError):
        ts.autocast()  # device_type is required, as in PyTorch
    with pytest.raises(ValueError, match="device_type"):
        ts.autocast("tpu")
    with pytest.raises(ValueError, match="device_type"):
        ts.autocast("cuda:0")
    with pytest.raises(TypeError, match="dtype"):
        ts.autocast("cpu", dtype="bfloat16")
    with pytest.raises(TypeError, match="enabled"):
        ts.autocast("cpu", enabled="yes")
    with pytest.raises(ValueError, match="device_type"):
        ts.get_autocast_dtype("tpu")
    with pytest.raises(TypeError, match="bfloat16 or float16"):
        ts.amp.set_autocast_dtype("cpu", ts.float64)
    # As in PyTorch: an unsupported target dtype warns and leaves autocast off.
    with pytest.warns(UserWarning, match="not supported"):
        ctx = ts.autocast("cpu", dtype=ts.float32)
    with ctx:
        assert not ts.is_autocast_enabled("cpu")
        assert (rand(2, 2) @ rand(2, 2)).dtype == ts.float32


def test_exception_inside_restores_state():
    with pytest.raises(RuntimeError):
        with ts.autocast("cpu"):
            raise RuntimeError("boom")
    assert not ts.is_autocast_enabled("cpu")


def test_state_is_per_thread():
    seen = {}

    def worker():
        seen["enabled"] = ts.is_autocast_enabled("cpu")
        seen["dtype"] = (rand(2, 3) @ rand(3, 2)).dtype

    with ts.autocast("cpu"):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == {"enabled": False, "dtype": ts.float32}


def test_op_list_is_exposed():
    ops = ts.amp.autocast_ops()
    for name in ("matmul", "mm", "bmm", "baddbmm", "addmm", "linear", "conv1d", "conv2d", "conv_transpose2d",
                 "scaled_dot_product_attention"):
        assert ops[name] == "lower"
    for name in ("softmax", "log_softmax", "layer_norm", "group_norm", "batch_norm", "cross_entropy", "nll_loss",
                 "mse_loss", "binary_cross_entropy", "exp", "log", "pow", "sum", "prod", "cumsum", "norm"):
        assert ops[name] == "float32"
    assert ops["dot"] == "promote"


# ----- what each op computes in ---------------------------------------------------------------

def lower_cases():
    x, w, b = rand(4, 8), rand(5, 8, seed=1), rand(5, seed=2)
    a3, b3, c3 = rand(2, 3, 4, seed=3), rand(2, 4, 5, seed=4), rand(2, 3, 5, seed=5)
    img, cw, cb = rand(2, 3, 7, 7, seed=6), rand(4, 3, 3, 3, seed=7), rand(4, seed=8)
    sig, k1 = rand(2, 3, 9, seed=9), rand(4, 3, 3, seed=10)
    tw = rand(3, 2, 3, 3, seed=11)
    q, k, v = rand(2, 4, 8, seed=12), rand(2, 6, 8, seed=13), rand(2, 6, 8, seed=14)
    return {
        "matmul": (lambda x, w: ts.matmul(x, w.t()), (x, w)),
        "@": (lambda x, w: x @ w.t(), (x, w)),
        "mm": (lambda x, w: ts.mm(x, w.t()), (x, w)),
        "bmm": (ts.bmm, (a3, b3)),
        "baddbmm": (lambda c, a, b: ts.baddbmm(c, a, b, beta=0.5, alpha=2.0), (c3, a3, b3)),
        "addmm": (lambda b, x, w: ts.addmm(b, x, w.t()), (b, x, w)),
        "linear": (F.linear, (x, w, b)),
        "conv1d": (lambda s, k: F.conv1d(s, k, padding=1), (sig, k1)),
        "conv2d": (lambda i, w, b: F.conv2d(i, w, b, stride=2, padding=1), (img, cw, cb)),
        "conv_transpose2d": (lambda i, w: F.conv_transpose2d(i, w, stride=2), (img, tw)),
        "sdpa": (F.scaled_dot_product_attention, (q, k, v)),
    }


@pytest.mark.parametrize("name", list(lower_cases()))
@pytest.mark.parametrize("dtype", [ts.bfloat16, ts.float16])
def test_lower_precision_ops_equal_manual_casts(name, dtype):
    fn, args = lower_cases()[name]
    with ts.autocast("cpu", dtype=dtype):
        y = fn(*args)
    assert y.dtype == dtype
    # The same op on inputs cast by hand (outside autocast) gives the same bits.
    same(y, fn(*[a.to(dtype) for a in args]))


def float32_cases():
    x = rand(4, 6)
    probs = ts.softmax(rand(4, 6, seed=1), -1)
    target = ts.tensor([0, 2, 5, 1])
    img = rand(2, 4, 3, 3, seed=2)
    return {
        "softmax": (lambda x: ts.softmax(x, -1), (x,)),
        "log_softmax": (lambda x: x.log_softmax(-1), (x,)),
        "exp": (ts.exp, (x,)),
        "log": (ts.log, (x.abs() + 1,)),
        "pow": (lambda x: x ** 2, (x,)),
        "pow_tensor": (ts.pow, (x.abs(), rand(4, 6, seed=3))),
        "sum": (ts.sum, (x,)),
        "sum_dim": (lambda x: x.sum(1), (x,)),
        "prod": (lambda x: ts.prod(x, 1), (x,)),
        "cumsum": (lambda x: ts.cumsum(x, 1), (x,)),
        "norm": (ts.norm, (x,)),
        "logsumexp": (lambda x: ts.logsumexp(x, 1), (x,)),
        "layer_norm": (lambda x: F.layer_norm(x, (6,), ts.ones(6), ts.zeros(6)), (x,)),
        "group_norm": (lambda i: F.group_norm(i, 2), (img,)),
        "batch_norm": (lambda i: F.batch_norm(i, ts.zeros(4), ts.ones(4), training=False), (img,)),
        "cross_entropy": (lambda x: F.cross_entropy(x, target), (x,)),
        "cross_entropy_probs": (lambda x, p: F.cross_entropy(x, p), (x, probs)),
        "nll_loss": (lambda x: F.nll_loss(x.log_softmax(-1), target), (x,)),
        "mse_loss": (F.mse_loss, (x, rand(4, 6, seed=4))),
        "l1_loss": (F.l1_loss, (x, rand(4, 6, seed=4))),
        "smooth_l1_loss": (F.smooth_l1_loss, (x, rand(4, 6, seed=4))),
        "binary_cross_entropy": (lambda p, t: F.binary_cross_entropy(p, t), (probs, (probs > 0.2).float())),
        "bce_with_logits": (F.binary_cross_entropy_with_logits, (x, (probs > 0.2).float())),
    }


@pytest.mark.parametrize("name", list(float32_cases()))
def test_float32_ops_upcast_reduced_inputs(name):
    fn, args = float32_cases()[name]
    low = [a.to(ts.bfloat16) for a in args]
    with ts.autocast("cpu"):
        y = fn(*low)
    assert y.dtype == ts.float32
    same(y, fn(*[a.float() for a in low]))


def test_other_ops_keep_their_dtype_and_mixed_inputs_promote():
    a, b = rand(3, 4, dtype=ts.bfloat16), rand(3, 4, seed=1)
    with ts.autocast("cpu"):
        assert ts.relu(a).dtype == ts.bfloat16
        assert ts.tanh(a).dtype == ts.bfloat16
        assert (a * 2).dtype == ts.bfloat16
        assert (a + b).dtype == ts.float32
        assert ts.cat([a, b]).dtype == ts.float32
        assert ts.stack([a, b]).dtype == ts.float32
        assert ts.where(b > 0, a, b).dtype == ts.float32
        # dot demands equal dtypes outside autocast; inside, it promotes to the widest.
        d = ts.dot(a[0], b[0])
        assert d.dtype == ts.float32
        np.testing.assert_allclose(npy(d), npy(a[0]) @ npy(b[0]), rtol=1e-6)
        assert ts.tensordot(a, b.t(), 1).dtype == ts.float32
    with pytest.raises(TypeError):
        ts.dot(a[0], b[0])


def test_float64_and_integers_are_left_alone():
    x64, w64 = rand(3, 4, dtype=ts.float64), rand(5, 4, seed=1, dtype=ts.float64)
    with ts.autocast("cpu"):
        assert F.linear(x64, w64).dtype == ts.float64
        assert ts.softmax(x64, -1).dtype == ts.float64
        i = ts.arange(6).reshape(2, 3)
        assert (i @ i.t()).dtype == ts.int64
        assert ts.sum(i).dtype == ts.int64
        # Ops with an explicit dtype keep it.
        assert ts.softmax(rand(2, 3, dtype=ts.bfloat16), -1, dtype=ts.bfloat16).dtype == ts.bfloat16


def test_cuda_autocast_leaves_cpu_tensors_alone():
    with ts.autocast("cuda"):
        assert ts.is_autocast_enabled("cuda") and not ts.is_autocast_enabled("cpu")
        assert (rand(2, 3) @ rand(3, 2)).dtype == ts.float32


def test_nested_disabled_region():
    x, w = rand(4, 8), rand(5, 8, seed=1)
    with ts.autocast("cpu"):
        assert F.linear(x, w).dtype == ts.bfloat16
        with ts.autocast("cpu", enabled=False):
            assert not ts.is_autocast_enabled("cpu")
            y = F.linear(x, w)
            assert y.dtype == ts.float32
            same(y, F.linear(x, w))
            with ts.autocast("cpu"):
                assert F.linear(x, w).dtype == ts.bfloat16
            assert F.linear(x, w).dtype == ts.float32
        assert ts.is_autocast_enabled("cpu")
        assert F.linear(x, w).dtype == ts.bfloat16


def test_inner_ops_of_a_listed_op_are_not_cast_again():
    # sdpa's inner softmax stays in bfloat16 (it is part of a lower-precision op).
    q, k, v = rand(1, 3, 4), rand(1, 5, 4, seed=1), rand(1, 5, 4, seed=2)
    with ts.autocast("cpu"):
        y = F.scaled_dot_product_attention(q, k, v)
    qb, kb, vb = (t.to(ts.bfloat16) for t in (q, k, v))
    manual = ts.softmax((qb @ kb.transpose(-2, -1)) * 0.5, -1) @ vb
    same(y, manual)


# ----- gradients ------------------------------------------------------------------------------

def test_float32_parameters_get_float32_gradients():
    x = rand(4, 8)
    w = rand(5, 8, seed=1).requires_grad_()
    b = rand(5, seed=2).requires_grad_()
    with ts.autocast("cpu"):
        y = F.linear(x, w, b)
        assert y.dtype == ts.bfloat16
        loss = F.mse_loss(y, rand(4, 5, seed=3))
        assert loss.dtype == ts.float32
    loss.backward()
    assert w.grad.dtype == ts.float32 and b.grad.dtype == ts.float32
    # The same graph built by hand with explicit casts.
    w2 = rand(5, 8, seed=1).requires_grad_()
    b2 = rand(5, seed=2).requires_grad_()
    y2 = F.linear(x.to(ts.bfloat16), w2.to(ts.bfloat16), b2.to(ts.bfloat16))
    F.mse_loss(y2.float(), rand(4, 5, seed=3)).backward()
    same(w.grad, w2.grad)
    same(b.grad, b2.grad)


def test_backward_inside_the_region_matches_backward_outside():
    def grads(inside):
        w = rand(3, 2, 3, 3, seed=1).requires_grad_()
        x = rand(2, 2, 6, 6)
        with ts.autocast("cpu"):
            loss = F.conv2d(x, w, padding=1).square().mean()
            if inside:
                loss.backward()
        if not inside:
            loss.backward()
        return w.grad

    same(grads(True), grads(False))


def test_gradient_close_to_float64_within_bf16_rounding():
    # d/dw sum(linear(x, w)^2) through the bf16 casts, against the float64 formula 2 (x w^T)^T x.
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal((6, 5))
    w64 = rng.standard_normal((4, 5))
    x = ts.tensor(x64.astype(np.float32))
    w = ts.tensor(w64.astype(np.float32)).requires_grad_()
    with ts.autocast("cpu"):
        loss = F.linear(x, w).float().square().sum()
    loss.backward()
    exact = 2 * (x64 @ w64.T).T @ x64
    # A few bf16 roundings (inputs, y, dL/dy, the product) on magnitudes bounded by these.
    bound = 2 * (np.abs(x64) @ np.abs(w64).T).T @ np.abs(x64)
    np.testing.assert_array_less(np.abs(npy(w.grad) - exact), 6 * BF16_EPS * bound)
    assert not np.allclose(npy(w.grad), exact, rtol=1e-6, atol=0)  # it did run in bf16


def test_gradcheck_float64_is_untouched_by_autocast():
    x = rand(3, 4, dtype=ts.float64).requires_grad_()
    w = rand(2, 4, seed=1, dtype=ts.float64).requires_grad_()
    with ts.autocast("cpu"):
        assert ts.autograd.gradcheck(lambda x, w: F.linear(x, w).softmax(-1), (x, w))


def test_cache_reuses_parameter_casts_within_a_region():
    w = rand(3, 4).requires_grad_()
    x = rand(2, 4)

    def cast_nodes(cache):
        with ts.autocast("cpu", cache_enabled=cache):
            y1, y2 = F.linear(x, w), F.linear(x, w)
        n1 = [f for f, _ in y1.grad_fn.next_functions if f is not None]
        n2 = [f for f, _ in y2.grad_fn.next_functions if f is not None]
        return n1, n2

    n1, n2 = cast_nodes(True)
    assert len(n1) == 1 and n1[0] is n2[0]  # one cast of w, shared
    n1, n2 = cast_nodes(False)
    assert n1[0] is not n2[0]
    # A new region casts again (the cache is cleared on leaving the outermost one).
    a, _ = cast_nodes(True)
    b, _ = cast_nodes(True)
    assert a[0] is not b[0]


def test_cache_sees_in_place_updates():
    w = rand(3, 4).requires_grad_()
    x = rand(2, 4)
    with ts.autocast("cpu"):
        y1 = F.linear(x, w)
        with ts.no_grad():
            w.mul_(2)
        y2 = F.linear(x, w)
    same(y2, F.linear(x.to(ts.bfloat16), (w.detach()).to(ts.bfloat16)))
    assert not np.array_equal(npy(y1), npy(y2))


# ----- training -------------------------------------------------------------------------------

def _train(model, x, y, steps, loss_fn):
    opt = ts.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        with ts.autocast("cpu"):
            loss = loss_fn(model(x), y)
        assert loss.dtype == ts.float32
        loss.backward()
        for p in model.parameters():
            assert p.dtype == ts.float32 and p.grad.dtype == ts.float32
        opt.step()
        losses.append(loss.item())
    return losses


def test_mlp_trains_under_autocast():
    ts.manual_seed(0)
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((64, 10)).astype(np.float32)
    yn = (xn[:, 0] + xn[:, 1] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.LayerNorm(32), nn.Linear(32, 2))
    losses = _train(model, ts.tensor(xn), ts.tensor(yn), 20, F.cross_entropy)
    assert losses[-1] < 0.6 * losses[0]


def test_cnn_trains_under_autocast():
    ts.manual_seed(0)
    rng = np.random.default_rng(1)
    xn = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    yn = (xn[:, 0, :4].mean((1, 2)) > xn[:, 0, 4:].mean((1, 2))).astype(np.int64)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    losses = _train(model, ts.tensor(xn), ts.tensor(yn), 15, F.cross_entropy)
    assert losses[-1] < 0.6 * losses[0]


# ----- reduced-precision conv2d kernels against float64 ----------------------------------------

def _conv_ref(x, w, b, stride, pad):
    """float64 conv2d (groups 1) forward and its two gradients for upstream g, with NumPy."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    y = np.einsum("nchwij,ocij->nohw", win, w) + b[None, :, None, None]
    return y, win


@pytest.mark.parametrize("dtype,eps", [(ts.bfloat16, BF16_EPS), (ts.float16, FP16_EPS)])
@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 0)])
def test_reduced_conv2d_forward_backward_close_to_float64(dtype, eps, stride, pad):
    xt = rand(2, 5, 9, 9, dtype=dtype).requires_grad_()
    wt = rand(6, 5, 3, 3, seed=1, dtype=dtype).requires_grad_()
    bt = rand(6, seed=2, dtype=dtype).requires_grad_()
    y = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
    assert y.dtype == dtype
    g = rand(*y.shape, seed=3, dtype=dtype)
    y.backward(g)
    assert xt.grad.dtype == wt.grad.dtype == bt.grad.dtype == dtype
    # Reference on the very same (already rounded) values, in float64.
    x, w, b, gn = npy(xt), npy(wt), npy(bt), npy(g)
    ref, win = _conv_ref(x, w, b, stride, pad)
    bound, _ = _conv_ref(np.abs(x), np.abs(w), np.abs(b), stride, pad)
    # One rounding of the result plus float32 accumulation.
    np.testing.assert_array_less(np.abs(npy(y) - ref), eps * bound + 1e-30)
    gw_ref = np.einsum("nchwij,nohw->ocij", win, gn)
    gw_bound = np.einsum("nchwij,nohw->ocij", np.abs(win), np.abs(gn))
    np.testing.assert_array_less(np.abs(npy(wt.grad) - gw_ref), eps * gw_bound + 1e-30)
    np.testing.assert_array_less(np.abs(npy(bt.grad) - gn.sum((0, 2, 3))), eps * np.abs(gn).sum((0, 2, 3)) + 1e-30)
    # d/dx: scatter each kernel tap's contribution back (the adjoint of the windows).
    kh, kw = w.shape[2:]
    ho, wo = gn.shape[2:]
    gx = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * pad, x.shape[3] + 2 * pad))
    gxb = np.zeros_like(gx)
    for i in range(kh):
        for j in range(kw):
            sl = (slice(None), slice(None), slice(i, i + stride * ho, stride), slice(j, j + stride * wo, stride))
            gx[sl] += np.einsum("nohw,oc->nchw", gn, w[:, :, i, j])
            gxb[sl] += np.einsum("nohw,oc->nchw", np.abs(gn), np.abs(w[:, :, i, j]))
    crop = (slice(None), slice(None), slice(pad, pad + x.shape[2]), slice(pad, pad + x.shape[3]))
    np.testing.assert_array_less(np.abs(npy(xt.grad) - gx[crop]), eps * gxb[crop] + 1e-30)


def test_bf16_conv2d_close_to_float32():
    x, w = rand(2, 8, 12, 12), rand(16, 8, 3, 3, seed=1)
    y32 = npy(F.conv2d(x, w, padding=1))
    y16 = npy(F.conv2d(x.to(ts.bfloat16), w.to(ts.bfloat16), padding=1))
    bound, _ = _conv_ref(np.abs(npy(x)), np.abs(npy(w)), np.zeros(16), 1, 1)
    # Both inputs rounded (2 eps per product) and the output rounded once.
    np.testing.assert_array_less(np.abs(y16 - y32), 3 * BF16_EPS * bound)


def test_baddbmm_values_and_errors():
    c, a, b = rand(2, 3, 5), rand(2, 3, 4, seed=1), rand(2, 4, 5, seed=2)
    y = ts.baddbmm(c, a, b, beta=0.5, alpha=2.0)
    np.testing.assert_allclose(npy(y), 0.5 * npy(c) + 2.0 * npy(a) @ npy(b), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(npy(c.baddbmm(a, b)), npy(c) + npy(a) @ npy(b), rtol=1e-5, atol=1e-5)
    # beta = 0 ignores input (NaN included), as in PyTorch.
    nan = ts.full((2, 3, 5), float("nan"))
    np.testing.assert_allclose(npy(ts.baddbmm(nan, a, b, beta=0)), npy(a) @ npy(b), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="baddbmm"):
        ts.baddbmm(c, a[0], b[0])
    with pytest.raises(ValueError, match="baddbmm"):
        ts.baddbmm(rand(3, 3), a, b)
    xs = [t.double().requires_grad_() for t in (c, a, b)]
    assert ts.autograd.gradcheck(lambda c, a, b: ts.baddbmm(c, a, b, beta=0.5, alpha=2.0), xs)
