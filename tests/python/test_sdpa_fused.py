"""scaled_dot_product_attention's fused flash-style CPU kernel (kernels/cpu/attention.cpp,
float32/float64, no dropout) and its backward against a NumPy float64 oracle."""
import numpy as np
import pytest

import tessel as ts
import tessel.nn.functional as F
from tessel.autograd import gradcheck, gradgradcheck


@pytest.fixture(autouse=True)
def fused_everywhere(monkeypatch):
    """The kernel runs for causal attention by default; TESSEL_SDPA_FUSED=all takes it for
    masks and full attention too, so that every case here checks the kernel."""
    monkeypatch.setenv("TESSEL_SDPA_FUSED", "all")


def ref(q, k, v, g, mask=None, causal=False, scale=None):
    """Attention and its gradients in float64 (mask: bool keep-mask or additive)."""
    q, k, v, g = (np.asarray(a, np.float64) for a in (q, k, v, g))
    L, S, E = q.shape[-2], k.shape[-2], q.shape[-1]
    sc = 1.0 / np.sqrt(E) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * sc
    if causal:
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    elif mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = s.max(-1, keepdims=True)
    e = np.exp(s - m)
    p = e / e.sum(-1, keepdims=True)
    o = p @ v
    dv = np.swapaxes(p, -1, -2) @ g
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True))
    dq = ds @ k * sc
    dk = np.swapaxes(ds, -1, -2) @ q * sc
    return o, dq, dk, dv


def run(qn, kn, vn, gn, dtype, **kw):
    q, k, v = (ts.tensor(a, dtype=dtype).requires_grad_() for a in (qn, kn, vn))
    mask = kw.pop("mask", None)
    tmask = None if mask is None else ts.tensor(mask if mask.dtype == bool else mask.astype(np.float64), dtype=(
        ts.bool if mask.dtype == bool else dtype))
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=tmask, **kw)
    o.backward(ts.tensor(gn, dtype=dtype))
    return [a.detach().numpy().astype(np.float64) for a in (o, q.grad, k.grad, v.grad)]


def check(got, want, tol):
    for a, b in zip(got, want):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


SHAPES = [  # (batch dims, L, S, E, Ev): blocks of 64 keys, ragged ends, long rows, tiny heads
    ((2, 3), 5, 7, 4, 4),
    ((4,), 64, 64, 32, 32),
    ((1, 2), 100, 130, 16, 24),
    ((2,), 65, 200, 33, 9),
    ((), 1, 1, 1, 1),
    ((3,), 130, 70, 8, 40),
]


@pytest.mark.parametrize("dtype,tol", [(ts.float64, 1e-10), (ts.float32, 3e-5)])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [False, True])
def test_matches_float64_oracle(dtype, tol, shape, causal):
    bd, L, S, E, Ev = shape
    rng = np.random.default_rng(L * 1000 + S)
    qn, kn = rng.standard_normal(bd + (L, E)) * 1.5, rng.standard_normal(bd + (S, E))
    vn, gn = rng.standard_normal(bd + (S, Ev)), rng.standard_normal(bd + (L, Ev))
    check(run(qn, kn, vn, gn, dtype, is_causal=causal), ref(qn, kn, vn, gn, causal=causal), tol)


@pytest.mark.parametrize("dtype,tol", [(ts.float64, 1e-10), (ts.float32, 3e-5)])
@pytest.mark.parametrize("kind", ["bool_shared", "bool_per_batch", "additive_shared", "additive_per_head"])
def test_masks(dtype, tol, kind):
    rng = np.random.default_rng(7)
    N, H, L, S, E = 2, 3, 70, 90, 16
    qn, kn, vn = rng.standard_normal((N, H, L, E)), rng.standard_normal((N, H, S, E)), rng.standard_normal((N, H, S, E))
    gn = rng.standard_normal((N, H, L, E))
    if kind == "bool_shared":
        mask = rng.random((L, S)) > 0.3
    elif kind == "bool_per_batch":  # key padding: [N, 1, 1, S]
        mask = np.ones((N, 1, 1, S), bool)
        mask[0, ..., 60:] = False
        mask[1, ..., 10:20] = False
    elif kind == "additive_shared":
        mask = rng.standard_normal((1, 1, L, S)) * 2
    else:
        mask = rng.standard_normal((N, H, L, S))
        mask[:, :, :, ::7] = -np.inf
    mask[..., 0] = True if mask.dtype == bool else 0.0  # every row sees a key
    check(run(qn, kn, vn, gn, dtype, mask=mask), ref(qn, kn, vn, gn, mask=mask), tol)


def test_which_path_runs(monkeypatch):
    q = ts.tensor(np.random.default_rng(14).standard_normal((2, 3, 4)), dtype=ts.float32).requires_grad_()
    fused = "ScaledDotProductAttentionBackward"

    def name(**kw):
        return F.scaled_dot_product_attention(q, q, q, **kw).grad_fn.name()
    assert name() == fused and name(is_causal=True) == fused
    assert name(dropout_p=0.5) != fused  # dropout keeps the composite
    monkeypatch.delenv("TESSEL_SDPA_FUSED")  # the default: causal attention only
    assert name(is_causal=True) == fused and name() != fused
    monkeypatch.setenv("TESSEL_SDPA_FUSED", "0")
    assert name(is_causal=True) != fused


def test_scale_argument():
    rng = np.random.default_rng(8)
    qn, kn, vn, gn = (rng.standard_normal((2, 40, 12)) for _ in range(4))
    check(run(qn, kn, vn, gn, ts.float64, scale=0.37), ref(qn, kn, vn, gn, scale=0.37), 1e-10)


def test_non_contiguous_inputs():
    # MultiheadAttention's layout: [N, L, H, E] viewed as [N, H, L, E]
    rng = np.random.default_rng(9)
    N, L, H, E = 3, 70, 4, 8
    base = [rng.standard_normal((N, L, H, E)) for _ in range(3)]
    gn = rng.standard_normal((N, H, L, E))
    ts_in = [ts.tensor(b).requires_grad_() for b in base]
    views = [t.transpose(1, 2) for t in ts_in]
    assert not views[0].is_contiguous()
    o = F.scaled_dot_product_attention(*views, is_causal=True)
    o.backward(ts.tensor(gn))
    np_views = [b.transpose(0, 2, 1, 3) for b in base]
    eo, dq, dk, dv = ref(*np_views, gn, causal=True)
    check([o.detach().numpy()] + [t.grad.numpy().transpose(0, 2, 1, 3) for t in ts_in], [eo, dq, dk, dv], 1e-10)


def test_fully_masked_row_is_nan_like_the_composite(monkeypatch):
    q = ts.tensor(np.random.default_rng(13).standard_normal((1, 2, 3, 4)), dtype=ts.float32)
    mask = ts.tensor(np.array([[True, True, True], [False, False, False], [True, False, False]]))
    fused = F.scaled_dot_product_attention(q, q, q, attn_mask=mask).numpy()
    monkeypatch.setenv("TESSEL_SDPA_FUSED", "0")  # the composite, for comparison
    composite = F.scaled_dot_product_attention(q, q, q, attn_mask=mask).numpy()
    assert np.isnan(fused[:, :, 1]).all() and np.isfinite(fused[:, :, [0, 2]]).all()
    np.testing.assert_array_equal(np.isnan(fused), np.isnan(composite))
    np.testing.assert_allclose(fused[:, :, [0, 2]], composite[:, :, [0, 2]], rtol=1e-6, atol=1e-6)


def test_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(10)
    q, k, v = (ts.tensor(rng.standard_normal((2, 5, 3)), dtype=ts.float64).requires_grad_() for _ in range(3))
    for causal in (False, True):
        def f(a, b, c):
            return F.scaled_dot_product_attention(a, b, c, is_causal=causal)
        assert gradcheck(f, [q, k, v])
        # second order runs the composite's gradient formula written with ops
        assert gradgradcheck(f, [q, k, v])
    mask = ts.tensor(rng.standard_normal((5, 5)), dtype=ts.float64)
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=mask), [q, k, v])


def test_dropout_and_other_dtypes_keep_the_composite():
    rng = np.random.default_rng(11)
    qn = rng.standard_normal((2, 6, 8))
    q = ts.tensor(qn, dtype=ts.bfloat16)
    o = F.scaled_dot_product_attention(q, q, q).to(ts.float32).numpy()
    eo = ref(qn, qn, qn, np.zeros_like(qn))[0]
    np.testing.assert_allclose(o, eo, rtol=0.05, atol=0.05)
    ts.manual_seed(0)
    x = ts.tensor(qn, dtype=ts.float32)
    od = F.scaled_dot_product_attention(x, x, x, dropout_p=0.5).numpy()
    assert od.shape == (2, 6, 8) and np.isfinite(od).all()


def test_result_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal((8, 130, 32)).astype(np.float32) for _ in range(4)]
    outs = []
    before = ts.get_num_threads()
    try:
        for n in (1, 2, 3):
            ts.set_num_threads(n)
            q, k, v = (ts.tensor(a).requires_grad_() for a in arrays[:3])
            F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(ts.tensor(arrays[3]))
            outs.append([q.grad.numpy(), k.grad.numpy(), v.grad.numpy()])
    finally:
        ts.set_num_threads(before)
    for o in outs[1:]:
        for a, b in zip(outs[0], o):
            assert np.array_equal(a, b)
