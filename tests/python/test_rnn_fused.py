"""The fused LSTM/GRU recurrence (kernels/cpu/rnn.cpp, "rnn_fused" / "rnn_fused_backward",
used by nn.LSTM/nn.GRU): outputs and every gradient against a NumPy float64 forward and
backward through time, finite differences (gradcheck, and gradgradcheck for the
create_graph path), the module's per-step loop in float64, layouts and thread counts."""
import numpy as np
import pytest

import tessel as ts
from tessel import nn
from tessel.autograd import gradcheck, gradgradcheck


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def np_forward(gru, xp, h0, c0, w, b, reverse):
    """One layer and direction in float64; returns out, h_n, c_n and the per-step values."""
    L, H = xp.shape[0], w.shape[1]
    h, c = h0, c0
    out = np.zeros((L,) + h0.shape)
    steps = {}
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        hh = h @ w.T + b
        if gru:
            r = sigmoid(xp[t][:, :H] + hh[:, :H])
            z = sigmoid(xp[t][:, H:2 * H] + hh[:, H:2 * H])
            n = np.tanh(xp[t][:, 2 * H:] + r * hh[:, 2 * H:])
            steps[t] = (h, r, z, n, hh[:, 2 * H:])
            h = (1 - z) * n + z * h
        else:
            a = xp[t] + hh
            i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
            cn = f * c + i * g
            steps[t] = (h, c, i, f, g, o, np.tanh(cn))
            c = cn
            h = o * np.tanh(c)
        out[t] = h
    return out, h, c, steps


def np_backward(gru, xp, w, steps, dout, dhn, dcn, reverse):
    """Backward through time in float64: grads of xp, h0, c0, w_hh, b_hh."""
    L, H = xp.shape[0], w.shape[1]
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros(w.shape[0])
    dh, dc = dhn.copy(), (None if gru else dcn.copy())
    for t in (range(L) if reverse else range(L - 1, -1, -1)):
        dh = dh + dout[t]
        if gru:
            hp, r, z, n, hn = steps[t]
            dn = dh * (1 - z) * (1 - n * n)
            dz = dh * (hp - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            dxp[t] = np.concatenate([dr, dz, dn], 1)
            dhh = np.concatenate([dr, dz, dn * r], 1)
            dh_prev = dh * z + dhh @ w
        else:
            hp, cp, i, f, g, o, tc = steps[t]
            dcc = dc + dh * o * (1 - tc * tc)
            dhh = np.concatenate([dcc * g * i * (1 - i), dcc * cp * f * (1 - f), dcc * i * (1 - g * g),
                                  dh * tc * o * (1 - o)], 1)
            dxp[t] = dhh
            dc = dcc * f
            dh_prev = dhh @ w
        dw += dhh.T @ hp
        db += dhh.sum(0)
        dh = dh_prev
    return dxp, dh, dc, dw, db


def T(a, dtype, rg=True):
    return ts.tensor(np.asarray(a), dtype=dtype, requires_grad=rg)


def close(got, want, tol):
    got = np.asarray(got.numpy() if hasattr(got, "numpy") else got, np.float64)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("gru", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype,tol", [(ts.float64, 1e-12), (ts.float32, 2e-5)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("L,N,H", [(7, 5, 6), (1, 1, 3), (3, 1, 17)])  # one step, one row, a vector tail
def test_op_vs_numpy(gru, reverse, dtype, tol, bias, L, N, H):
    rng = np.random.default_rng(1 + 2 * gru + reverse)
    G = 3 if gru else 4
    xp, h0, c0 = rng.standard_normal((L, N, G * H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    w, b = rng.standard_normal((G * H, H)) * 0.4, rng.standard_normal(G * H) * 0.5
    out, hn, cn, steps = np_forward(gru, xp, h0, None if gru else c0, w, b if bias else np.zeros(G * H), reverse)
    txp, th0, tc0, tw, tb = T(xp, dtype), T(h0, dtype), T(c0, dtype), T(w, dtype), T(b, dtype)
    res = ts._C._nn._rnn_fused(gru, txp, th0, None if gru else tc0, tw, tb if bias else None, reverse)
    assert res is not None and len(res) == (2 if gru else 3)
    assert res[0].grad_fn.name() == ("GruFusedBackward" if gru else "LstmFusedBackward")
    close(res[0], out, tol)
    close(res[1], hn, tol)
    if not gru:
        close(res[2], cn, tol)
    dout, dhn, dcn = rng.standard_normal(out.shape), rng.standard_normal(hn.shape), rng.standard_normal(hn.shape)
    seeds = [T(dout, dtype, False), T(dhn, dtype, False)] + ([] if gru else [T(dcn, dtype, False)])
    inputs = [txp, th0] + ([] if gru else [tc0]) + [tw] + ([tb] if bias else [])
    got = ts.autograd.grad(list(res), inputs, seeds)
    dxp, dh0, dc0, dw, db = np_backward(gru, xp, w, steps, dout, dhn, dcn, reverse)
    want = [dxp, dh0] + ([] if gru else [dc0]) + [dw] + ([db] if bias else [])
    for g, r in zip(got, want):
        close(g, r, tol)


@pytest.mark.parametrize("gru", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype,tol", [(ts.float64, 1e-12), (ts.float32, 2e-5)])
def test_op_vs_numpy_on_row_slices(gru, reverse, dtype, tol):
    # 40 rows on 3 threads: each thread runs the whole recurrence on a slice of the rows
    # (13, 13, 14: a slice's gemm and its db column sums split by thread).
    prev = ts.get_num_threads()
    try:
        ts.set_num_threads(3)
        test_op_vs_numpy(gru, reverse, dtype, tol, True, 9, 40, 40)
    finally:
        ts.set_num_threads(prev)


@pytest.mark.parametrize("gru", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_op_gradcheck_and_gradgradcheck(gru, reverse):
    rng = np.random.default_rng(7)
    L, N, H = 4, 2, 3
    G = 3 if gru else 4
    xp, h0, c0 = (T(rng.standard_normal(s), ts.float64) for s in ((L, N, G * H), (N, H), (N, H)))
    w, b = T(rng.standard_normal((G * H, H)) * 0.5, ts.float64), T(rng.standard_normal(G * H) * 0.5, ts.float64)

    def f(xp, h0, c0, w, b):
        r = ts._C._nn._rnn_fused(gru, xp, h0, None if gru else c0, w, b, reverse)
        # Every output, weighted so that no gradient term cancels.
        return sum(((o * (k + 1.5)).sin()).sum() for k, o in enumerate(r))

    assert gradcheck(f, (xp, h0, c0, w, b))
    assert gradgradcheck(f, (xp, h0, c0, w, b))


def loop_path(monkeypatch):
    monkeypatch.setattr(ts._C._nn, "_rnn_fused", lambda *a: None)


def clone_module(m, dtype):
    m2 = type(m)(m.input_size, m.hidden_size, num_layers=m.num_layers, bias=m.bias, batch_first=m.batch_first,
                 bidirectional=m.bidirectional, dtype=dtype)
    for name, p in m.named_parameters():
        getattr(m2, name).data.copy_(ts.tensor(p.detach().numpy().astype(np.float64), dtype=dtype))
    return m2


def run_module(m, x, hx):
    out, st = m(x, hx)
    st = list(st) if isinstance(st, tuple) else [st]
    rng = np.random.default_rng(3)
    loss = sum(((o * ts.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype)).sum()) for o in [out] + st)
    params = list(m.parameters())
    inputs = [x] + ([h for h in (hx if isinstance(hx, tuple) else (hx,))] if hx is not None else [])
    grads = ts.autograd.grad(loss, inputs + params)
    return [out] + st + list(grads)


CONFIGS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(batch_first=True, bias=False),
]


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("kw", CONFIGS)
@pytest.mark.parametrize("dtype,tol", [(ts.float32, 3e-5), (ts.float64, 1e-12)])
def test_module_vs_loop_float64(monkeypatch, cls, kw, dtype, tol):
    """The module on the fused path (float32/float64) against its own per-step loop in float64."""
    rng = np.random.default_rng(5)
    L, N, I, H = 6, 4, 5, 7
    m = cls(I, H, **kw, dtype=dtype)
    D = 2 if m.bidirectional else 1
    xs = rng.standard_normal((N, L, I) if m.batch_first else (L, N, I))
    h0 = rng.standard_normal((m.num_layers * D, N, H))
    c0 = rng.standard_normal((m.num_layers * D, N, H))

    def inputs(dt):
        x = T(xs, dt)
        hx = (T(h0, dt), T(c0, dt)) if cls is nn.LSTM else T(h0, dt)
        return x, hx

    fused = ts._C._nn._rnn_fused
    calls = []

    def counting(*a):
        r = fused(*a)
        calls.append(r is not None)
        return r

    monkeypatch.setattr(ts._C._nn, "_rnn_fused", counting)
    x, hx = inputs(dtype)
    got = run_module(m, x, hx)
    assert calls == [True] * (m.num_layers * D)  # every layer and direction took the kernel
    m64 = clone_module(m, ts.float64)
    loop_path(monkeypatch)
    x64, hx64 = inputs(ts.float64)
    want = run_module(m64, x64, hx64)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        close(g, w.numpy(), tol)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("use", ["last_state", "sequence"])
def test_outputs_without_a_gradient(monkeypatch, cls, use):
    """A classifier reads h_n only (the output sequence gets no gradient: the kernel skips it), a
    tagger the sequence only (the final states get none): both match the per-step loop."""
    rng = np.random.default_rng(11)
    m = cls(5, 7, num_layers=2, batch_first=True, dtype=ts.float64)
    x = T(rng.standard_normal((4, 6, 5)), ts.float64)
    wts = T(rng.standard_normal((4, 6, 7)), ts.float64)

    def grads():
        out, st = m(x)
        h = st[0] if cls is nn.LSTM else st
        loss = (h[-1] * wts[:, 0]).sum() if use == "last_state" else (out * wts).sum()
        return ts.autograd.grad(loss, [x] + list(m.parameters()))

    got = grads()
    loop_path(monkeypatch)
    want = grads()
    for g, w in zip(got, want):
        close(g, w.numpy(), 1e-12)


@pytest.mark.parametrize("gru", [False, True])
def test_gradgradcheck_with_unused_outputs(gru):
    rng = np.random.default_rng(8)
    G = 3 if gru else 4
    xp, h0, c0 = (T(rng.standard_normal(s), ts.float64) for s in ((3, 2, G * 3), (2, 3), (2, 3)))
    w = T(rng.standard_normal((G * 3, 3)) * 0.5, ts.float64)

    def f(xp, h0, c0, w):
        return (ts._C._nn._rnn_fused(gru, xp, h0, None if gru else c0, w, None, False)[1].sin()).sum()

    assert gradcheck(f, (xp, h0, c0, w))
    assert gradgradcheck(f, (xp, h0, c0, w))


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_default_state_unbatched_and_no_grad(cls):
    rng = np.random.default_rng(9)
    m = cls(3, 4, dtype=ts.float64)
    x = T(rng.standard_normal((5, 2, 3)), ts.float64, False)
    with ts.no_grad():
        out, st = m(x)
    assert out.grad_fn is None
    out2, st2 = m(x)  # with grad (parameters require it)
    np.testing.assert_array_equal(out.numpy(), out2.numpy())
    # Unbatched input: a batch of one (the gemm of one row may round differently).
    o1, _ = m(x[:, 0])
    close(o1, out2[:, 0].numpy(), 1e-14)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_non_contiguous_input(cls):
    """A strided view (every other step of a batch-first input, one slice of a wider tensor)
    gives the results and gradients of its contiguous copy."""
    rng = np.random.default_rng(11)
    m = cls(4, 5, batch_first=True)
    big = T(rng.standard_normal((3, 8, 2, 4)), ts.float32)
    x = big[:, ::2, 1]
    assert not x.is_contiguous()
    got = run_module(m, x, None)
    want = run_module(m, T(x.detach().numpy(), ts.float32), None)
    for u, v in zip(got, want):
        close(u, v.numpy(), 1e-6)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_thread_count_independent(cls):
    """The gate math is per element and the bias sum runs in a fixed order; the gemms
    (oneDNN) may split their sums differently by thread count: compared to 1e-6."""
    rng = np.random.default_rng(13)
    m = cls(16, 64, num_layers=2, bidirectional=True)
    x = rng.standard_normal((20, 48, 16))
    prev = ts.get_num_threads()
    res = {}
    try:
        for n in (1, 2, 3):
            ts.set_num_threads(n)
            res[n] = [t.numpy() for t in run_module(m, T(x, ts.float32), None)]
    finally:
        ts.set_num_threads(prev)
    for n in (2, 3):
        for a, b in zip(res[1], res[n]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * max(1.0, float(np.abs(a).max())))


def test_bad_arguments_name_the_op():
    xp = ts.zeros(3, 2, 16)
    h0 = ts.zeros(2, 4)
    w = ts.zeros(16, 4)
    with pytest.raises(ValueError, match="LSTM.*c0"):
        ts._C._nn._rnn_fused(False, xp, h0, None, w, None, False)
    with pytest.raises(ValueError, match="GRU.*weight_hh"):
        ts._C._nn._rnn_fused(True, xp, h0, None, w, None, False)
    with pytest.raises(ValueError, match="LSTM.*h0"):
        ts._C._nn._rnn_fused(False, xp, ts.zeros(3, 4), ts.zeros(2, 4), w, None, False)
    with pytest.raises(ValueError, match="LSTM.*bias_hh"):
        ts._C._nn._rnn_fused(False, xp, h0, ts.zeros(2, 4), w, ts.zeros(12), False)


def test_other_dtypes_and_empty_fall_back():
    """No kernel for float16: None, and the module runs its loop."""
    xp = ts.zeros(3, 2, 16, dtype=ts.float16)
    h = ts.zeros(2, 4, dtype=ts.float16)
    w = ts.zeros(16, 4, dtype=ts.float16)
    assert ts._C._nn._rnn_fused(False, xp, h, h, w, None, False) is None
    # Empty sequence, batch or state: None too (the module's loop handles or rejects them).
    assert ts._C._nn._rnn_fused(True, ts.zeros(0, 2, 6), ts.zeros(2, 2), None, ts.zeros(6, 2), None, False) is None
    assert ts._C._nn._rnn_fused(True, ts.zeros(3, 0, 6), ts.zeros(0, 2), None, ts.zeros(6, 2), None, False) is None
    assert ts._C._nn._rnn_fused(False, ts.zeros(3, 2, 0), ts.zeros(2, 0), ts.zeros(2, 0), ts.zeros(0, 0), None,
                                False) is None


def test_weight_modified_before_backward_is_refused():
    m = nn.LSTM(3, 4)
    out, _ = m(ts.randn(5, 2, 3))
    with ts.no_grad():
        m.weight_hh_l0.add_(1.0)
    with pytest.raises(Exception):
        out.sum().backward()
