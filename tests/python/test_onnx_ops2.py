"""ONNX attention, loss and quantization ops (src/onnx/ops_attention.cpp,
ops_loss.cpp, ops_quant.cpp): models built with onnx.helper, run by tessel and
by onnxruntime on the same inputs, plus bad input that must raise."""
import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")

RNG = np.random.default_rng(0)
F, F16, I64, U8, I8, BOOL = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT64, TensorProto.UINT8,
                             TensorProto.INT8, TensorProto.BOOL)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def tv(name, elem, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def one_node(op, inputs, outputs, opset=23, **attrs):
    """A model of one node; inputs/outputs are (name, elem type) pairs ('' skips an optional input)."""
    node = helper.make_node(op, [n for n, _ in inputs], [n for n, _ in outputs], **attrs)
    g = helper.make_graph([node], "g", [tv(n, t) for n, t in inputs if n], [tv(n, t) for n, t in outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m.SerializeToString()


def compare(data, feed, rtol=1e-5, atol=1e-5):
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    got = ts.onnx.InferenceSession(data).run(None, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol)
    return got


def run(data, feed):
    return ts.onnx.InferenceSession(data).run(None, feed)


# ---- Attention ----

ATT_OUT = [("y", F), ("pk", F), ("pv", F), ("qk", F)]


@pytest.mark.parametrize("attrs", [{}, {"is_causal": 1}, {"scale": 0.3}, {"softcap": 2.0},
                                   {"qk_matmul_output_mode": 3}])
def test_attention_4d(attrs):
    q, k, v = f32(2, 3, 4, 8), f32(2, 3, 6, 8), f32(2, 3, 6, 5)
    data = one_node("Attention", [("q", F), ("k", F), ("v", F)], [("y", F)], **attrs)
    compare(data, {"q": q, "k": k, "v": v})


def test_attention_4d_matches_numpy_softmax():
    # Independent of onnxruntime: softmax(q k^T / sqrt(d)) v in float64.
    q, k, v = f32(1, 2, 3, 4), f32(1, 2, 5, 4), f32(1, 2, 5, 4)
    (y,) = run(one_node("Attention", [("q", F), ("k", F), ("v", F)], [("y", F)]), {"q": q, "k": k, "v": v})
    s = q.astype(np.float64) @ np.swapaxes(k, -1, -2) / 2.0
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(y, p @ v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask_kind", ["bool", "float", "short"])
def test_attention_masks_and_past(mask_kind):
    q, k, v = f32(2, 4, 3, 8), f32(2, 4, 3, 8), f32(2, 4, 3, 8)
    pk, pv = f32(2, 4, 5, 8), f32(2, 4, 5, 8)
    total = 8 if mask_kind != "short" else 6
    if mask_kind == "bool":
        mask, mt = RNG.random((3, total)) > 0.3, BOOL
        mask[:, 0] = True
    else:
        mask, mt = f32(2, 1, 3, total), F
    # Mode 2 returns the scores with the mask added; onnxruntime writes a bool mask's
    # masked cells as the lowest float where the spec (and tessel) has -inf, so bool uses mode 0.
    data = one_node("Attention", [("q", F), ("k", F), ("v", F), ("m", mt), ("past_k", F), ("past_v", F)],
                    [("y", F), ("pk", F), ("pv", F), ("qk", F)], qk_matmul_output_mode=0 if mask_kind == "bool" else 2)
    feed = {"q": q, "k": k, "v": v, "m": mask, "past_k": pk, "past_v": pv}
    if mask_kind != "short":
        compare(data, feed)
        return
    # onnxruntime refuses a mask shorter than the keys; the spec pads it with -inf: check against onnx's reference.
    from onnx.reference import ReferenceEvaluator

    want = ReferenceEvaluator(onnx.load_from_string(data)).run(None, feed)
    got = run(data, feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("causal", [0, 1])
def test_attention_3d_gqa(causal):
    # 3-D inputs: hidden = heads * head_size; 6 query heads share 2 KV heads.
    q, k, v = f32(2, 4, 6 * 8), f32(2, 5, 2 * 8), f32(2, 5, 2 * 4)
    data = one_node("Attention", [("q", F), ("k", F), ("v", F)], [("y", F)], q_num_heads=6, kv_num_heads=2,
                    is_causal=causal)
    (y,) = compare(data, {"q": q, "k": k, "v": v})
    assert y.shape == (2, 4, 6 * 4)


def test_attention_fp16():
    q, k, v = (f32(1, 2, 4, 8).astype(np.float16) for _ in range(3))
    data = one_node("Attention", [("q", F16), ("k", F16), ("v", F16)], [("y", F16)], is_causal=1)
    compare(data, {"q": q, "k": k, "v": v}, rtol=2e-3, atol=2e-3)


def test_attention_fully_masked_row_is_zero():
    q, k, v = f32(1, 1, 2, 4), f32(1, 1, 3, 4), f32(1, 1, 3, 4)
    mask = np.array([[True, True, False], [False, False, False]])
    data = one_node("Attention", [("q", F), ("k", F), ("v", F), ("m", BOOL)], [("y", F)])
    (y,) = run(data, {"q": q, "k": k, "v": v, "m": mask})
    assert np.all(y[0, 0, 1] == 0) and np.all(np.isfinite(y))


def test_attention_bad_input():
    q, k, v = f32(1, 2, 3, 4), f32(1, 2, 3, 4), f32(1, 2, 3, 4)
    data = one_node("Attention", [("q", F), ("k", F16), ("v", F)], [("y", F)])
    with pytest.raises(TypeError, match=r"\[onnx.Attention\].*K has dtype float16"):
        run(data, {"q": q, "k": k.astype(np.float16), "v": v})
    data = one_node("Attention", [("q", F), ("k", F), ("v", F)], [("y", F)])
    with pytest.raises(ValueError, match=r"\[onnx.Attention\].*head size"):
        run(data, {"q": q, "k": f32(1, 2, 3, 5), "v": v})
    data = one_node("Attention", [("q", F), ("k", F), ("v", F)], [("y", F)])  # 3-D without head counts
    with pytest.raises(ValueError, match="q_num_heads"):
        run(data, {"q": f32(1, 3, 8), "k": f32(1, 3, 8), "v": f32(1, 3, 8)})
    data = one_node("Attention", [("q", F), ("k", F), ("v", F), ("m", F)], [("y", F)])
    with pytest.raises(ValueError, match="total sequence length"):
        run(data, {"q": q, "k": k, "v": v, "m": f32(3, 7)})


# ---- RotaryEmbedding, RMSNormalization ----

@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rot_dim", [0, 4])
def test_rotary_embedding_position_ids(interleaved, rot_dim):
    x = f32(2, 3, 5, 8)  # [B, H, S, D]
    half = (rot_dim or 8) // 2
    cos, sin = f32(10, half), f32(10, half)
    pos = RNG.integers(0, 10, (2, 5)).astype(np.int64)
    data = one_node("RotaryEmbedding", [("x", F), ("cos", F), ("sin", F), ("pos", I64)], [("y", F)],
                    interleaved=interleaved, rotary_embedding_dim=rot_dim)
    compare(data, {"x": x, "cos": cos, "sin": sin, "pos": pos})


def test_rotary_embedding_3d_numpy():
    # Without position_ids the caches are [B, S, D / 2]; checked against the rotation in NumPy.
    x, cos, sin = f32(1, 2, 2 * 4), f32(1, 2, 2), f32(1, 2, 2)
    data = one_node("RotaryEmbedding", [("x", F), ("cos", F), ("sin", F)], [("y", F)], num_heads=2)
    (y,) = run(data, {"x": x, "cos": cos, "sin": sin})
    xr = x.reshape(1, 2, 2, 4)
    x1, x2 = xr[..., :2], xr[..., 2:]
    c, s = cos[:, :, None], sin[:, :, None]
    want = np.concatenate([c * x1 - s * x2, s * x1 + c * x2], -1).reshape(1, 2, 8)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(IndexError, match="position_ids"):
        d2 = one_node("RotaryEmbedding", [("x", F), ("cos", F), ("sin", F), ("pos", I64)], [("y", F)])
        run(d2, {"x": f32(1, 1, 2, 4), "cos": f32(3, 2), "sin": f32(3, 2), "pos": np.array([[0, 3]])})


@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_normalization(axis):
    x, scale = f32(2, 3, 4), f32(3, 4) if axis == 1 else f32(4)
    data = one_node("RMSNormalization", [("x", F), ("s", F)], [("y", F)], axis=axis, epsilon=1e-3)
    (y,) = compare(data, {"x": x, "s": scale})
    dims = tuple(range(axis % 3, 3))
    want = x / np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=dims, keepdims=True) + 1e-3) * scale
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


# ---- losses ----

@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, 1])
def test_nll_loss(reduction, weighted, ignore):
    x, t = f32(3, 4, 5), RNG.integers(0, 4, (3, 5)).astype(np.int64)
    ins, feed = [("x", F), ("t", I64)], {"x": x, "t": t}
    if weighted:
        ins.append(("w", F))
        feed["w"] = RNG.random(4).astype(np.float32)
    attrs = {"reduction": reduction} | ({} if ignore is None else {"ignore_index": ignore})
    compare(one_node("NegativeLogLikelihoodLoss", ins, [("y", F)], opset=13, **attrs), feed)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_softmax_cross_entropy_log_prob(reduction):
    x, t = f32(4, 6, 2, 3), RNG.integers(0, 6, (4, 2, 3)).astype(np.int64)
    t[0, 0, 0] = -1  # ignored
    w = RNG.random(6).astype(np.float32)
    data = one_node("SoftmaxCrossEntropyLoss", [("x", F), ("t", I64), ("w", F)], [("y", F), ("lp", F)], opset=13,
                    reduction=reduction, ignore_index=-1)
    compare(data, {"x": x, "t": t, "w": w})


def test_loss_bad_input():
    data = one_node("NegativeLogLikelihoodLoss", [("x", F), ("t", I64)], [("y", F)], opset=13)
    with pytest.raises(IndexError, match=r"\[onnx.NegativeLogLikelihoodLoss\].*target values"):
        run(data, {"x": f32(2, 3), "t": np.array([0, 3])})
    with pytest.raises(ValueError, match="target"):
        run(data, {"x": f32(2, 3), "t": np.array([0, 1, 2])})
    data = one_node("SoftmaxCrossEntropyLoss", [("x", F), ("t", I64), ("w", F16)], [("y", F)], opset=13)
    with pytest.raises(TypeError, match=r"\[onnx.SoftmaxCrossEntropyLoss\].*weight has dtype float16"):
        run(data, {"x": f32(2, 3), "t": np.array([0, 1]), "w": np.ones(3, np.float16)})


# ---- quantization ----

@pytest.mark.parametrize("zp_type", [U8, I8, None])
def test_quantize_dequantize_per_tensor(zp_type):
    x = (f32(3, 4) * 50).astype(np.float32)
    x[0, :3] = [0.5, 1.5, 2.5]  # ties round to even
    ins, feed = [("x", F), ("s", F)], {"x": x, "s": np.array(0.5, np.float32)}
    if zp_type is not None:
        ins.append(("z", zp_type))
        feed["z"] = np.array(3, np.uint8 if zp_type == U8 else np.int8)
    out = zp_type or U8
    (q,) = compare(one_node("QuantizeLinear", ins, [("q", out)], opset=21), feed)
    dq_feed = {"x": q, "s": feed["s"]} | ({"z": feed["z"]} if zp_type else {})
    compare(one_node("DequantizeLinear", [("x", out)] + ins[1:], [("y", F)], opset=21), dq_feed)


def test_quantize_per_axis_and_blocked():
    x = f32(2, 6) * 10
    s, z = np.array([0.1, 0.2], np.float32), np.array([1, -2], np.int8)
    compare(one_node("QuantizeLinear", [("x", F), ("s", F), ("z", I8)], [("q", I8)], opset=21, axis=0),
            {"x": x, "s": s, "z": z})
    sb, zb = RNG.random((2, 3)).astype(np.float32) + 0.1, np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    compare(one_node("QuantizeLinear", [("x", F), ("s", F), ("z", U8)], [("q", U8)], opset=21, axis=1,
                     block_size=2), {"x": x, "s": sb, "z": zb})
    q = RNG.integers(-128, 128, (2, 6)).astype(np.int8)
    compare(one_node("DequantizeLinear", [("x", I8), ("s", F)], [("y", F)], opset=21, axis=1, block_size=2),
            {"x": q, "s": sb})


def test_dynamic_quantize_linear():
    x = f32(4, 5) * 3
    compare(one_node("DynamicQuantizeLinear", [("x", F)], [("y", U8), ("s", F), ("z", U8)], opset=11), {"x": x})


def test_quantize_bad_input():
    data = one_node("QuantizeLinear", [("x", F), ("s", F), ("z", U8)], [("q", U8)], opset=21)
    with pytest.raises(ValueError, match=r"\[onnx.QuantizeLinear\].*y_scale"):
        run(data, {"x": f32(2, 3), "s": np.ones(4, np.float32), "z": np.array(0, np.uint8)})
    data = one_node("DequantizeLinear", [("x", U8), ("s", F), ("z", I8)], [("y", F)], opset=21)
    with pytest.raises(TypeError, match=r"\[onnx.DequantizeLinear\].*x_zero_point has dtype int8"):
        run(data, {"x": np.zeros(3, np.uint8), "s": np.array(1, np.float32), "z": np.array(0, np.int8)})
    data = one_node("DynamicQuantizeLinear", [("x", TensorProto.DOUBLE)], [("y", U8), ("s", F), ("z", U8)], opset=11)
    with pytest.raises(TypeError, match="float32"):
        run(data, {"x": np.zeros(3)})


# ---- LinearAttention, CausalConvWithState, SwiGLU (opsets 27-28) and TensorScatter ----

def compare_ref(data, feed, rtol=1e-5, atol=1e-5):
    """Against onnx's reference evaluator, for ops newer than the installed onnxruntime."""
    from onnx.reference import ReferenceEvaluator

    want = ReferenceEvaluator(onnx.load_from_string(data)).run(None, feed)
    got = run(data, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta"])
def test_linear_attention(rule):
    B, T, hq, hkv, dk, dv = 2, 5, 4, 2, 3, 4
    feed = {"q": f32(B, T, hq * dk), "k": f32(B, T, hkv * dk) * 0.5, "v": f32(B, T, hkv * dv),
            "s": f32(B, hkv, dk, dv)}
    ins = [("q", F), ("k", F), ("v", F), ("s", F)]
    if rule in ("gated", "gated_delta"):
        feed["g"] = -RNG.random((B, T, hkv)).astype(np.float32)
    ins.append(("g", F) if "g" in feed else ("", F))
    if rule in ("delta", "gated_delta"):
        feed["b"] = RNG.random((B, T, 1)).astype(np.float32)
        ins.append(("b", F))
    data = one_node("LinearAttention", ins, [("y", F), ("state", F)], opset=27, q_num_heads=hq, kv_num_heads=hkv,
                    update_rule=rule)
    compare_ref(data, feed)


def test_linear_attention_bad_input():
    data = one_node("LinearAttention", [("q", F), ("k", F), ("v", F)], [("y", F), ("s", F)], opset=27,
                    q_num_heads=2, kv_num_heads=2, update_rule="gated")
    with pytest.raises(ValueError, match=r"\[onnx.LinearAttention\].*requires the decay"):
        run(data, {"q": f32(1, 2, 4), "k": f32(1, 2, 4), "v": f32(1, 2, 4)})


@pytest.mark.parametrize("activation", ["none", "silu"])
@pytest.mark.parametrize("with_state", [False, True])
def test_causal_conv_with_state(activation, with_state):
    x, w, b = f32(2, 3, 6), f32(3, 1, 4), f32(3)
    ins, feed = [("x", F), ("w", F), ("b", F)], {"x": x, "w": w, "b": b}
    if with_state:
        ins.append(("s", F))
        feed["s"] = f32(2, 3, 3)
    data = one_node("CausalConvWithState", ins, [("y", F), ("state", F)], opset=27, activation=activation)
    compare_ref(data, feed)


def test_swiglu_and_bad_shapes():
    a, b = f32(3, 4), f32(3, 4)
    data = one_node("SwiGLU", [("a", F), ("b", F)], [("y", F)], opset=28, alpha=1.5)
    (y,) = compare_ref(data, {"a": a, "b": b})
    np.testing.assert_allclose(y, a / (1 + np.exp(-1.5 * a)) * b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[onnx.SwiGLU\].*same shape"):
        run(data, {"a": a, "b": f32(3, 1)})


@pytest.mark.parametrize("mode", ["linear", "circular"])
def test_tensor_scatter(mode):
    cache, upd = f32(2, 3, 5, 4), f32(2, 3, 2, 4)
    idx = np.array([1, 4 if mode == "circular" else 3], np.int64)
    data = one_node("TensorScatter", [("c", F), ("u", F), ("i", I64)], [("y", F)], opset=24, mode=mode)
    (y,) = compare_ref(data, {"c": cache, "u": upd, "i": idx})
    assert np.array_equal(y[0, :, 1:3], upd[0])
    if mode == "linear":
        with pytest.raises(IndexError, match=r"\[onnx.TensorScatter\]"):
            run(data, {"c": cache, "u": upd, "i": np.array([0, 4])})


# ---- DFT, STFT, windows, MelWeightMatrix (ops_signal.cpp), BitCast ----

@pytest.mark.parametrize("inverse,onesided,complex_in", [(0, 0, False), (0, 1, False), (0, 0, True), (1, 0, True),
                                                           (1, 1, True)])
def test_dft_numpy(inverse, onesided, complex_in):
    # Opset 20: axis is an input. Checked against numpy.fft in float64.
    x = RNG.standard_normal((2, 6, 3, 2 if complex_in else 1))
    z = x[..., 0] + 1j * x[..., 1] if complex_in else x[..., 0]
    n_len = 8
    data = one_node("DFT", [("x", TensorProto.DOUBLE), ("n", I64), ("a", I64)], [("y", TensorProto.DOUBLE)],
                    opset=20, inverse=inverse, onesided=onesided)
    (y,) = run(data, {"x": x, "n": np.array(n_len), "a": np.array(1)})
    if inverse and onesided:
        want = np.fft.irfft(z, n=n_len, axis=1)[..., None]
    elif inverse:
        w = np.fft.ifft(z, n=n_len, axis=1)
        want = np.stack([w.real, w.imag], -1)
    else:
        w = np.fft.fft(z, n=n_len, axis=1)
        w = w[:, : n_len // 2 + 1] if onesided else w
        want = np.stack([w.real, w.imag], -1)
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)


def test_dft_opset17_and_stft_vs_onnxruntime():
    x = f32(2, 7, 1)
    compare(one_node("DFT", [("x", F)], [("y", F)], opset=17, axis=1, onesided=1), {"x": x}, atol=1e-4)
    sig, win = f32(2, 32, 1), np.hanning(8).astype(np.float32)
    data = one_node("STFT", [("s", F), ("step", I64), ("w", F)], [("y", F)], opset=17)
    compare(data, {"s": sig, "step": np.array(3), "w": win}, atol=1e-4)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_windows(op, periodic):
    compare(one_node(op, [("n", I64)], [("y", F)], opset=17, periodic=periodic), {"n": np.array(10)}, atol=1e-6)


def test_mel_weight_matrix():
    data = one_node("MelWeightMatrix", [("m", I64), ("d", I64), ("r", I64), ("lo", F), ("hi", F)], [("y", F)], opset=17)
    compare(data, {"m": np.array(8), "d": np.array(64), "r": np.array(8000), "lo": np.array(0, np.float32),
                   "hi": np.array(3500, np.float32)})


def test_signal_bad_input():
    data = one_node("DFT", [("x", F), ("n", I64), ("a", I64)], [("y", F)], opset=20)
    with pytest.raises(ValueError, match=r"\[onnx.DFT\].*last"):
        run(data, {"x": f32(2, 4, 1), "n": np.array(4), "a": np.array(-1)})
    with pytest.raises(ValueError, match=r"\[onnx.DFT\].*\[\.\.\., n, 1\]"):
        run(data, {"x": f32(2, 4, 3), "n": np.array(4), "a": np.array(1)})
    data = one_node("STFT", [("s", F), ("step", I64), ("w", TensorProto.DOUBLE)], [("y", F)], opset=17)
    with pytest.raises(TypeError, match=r"\[onnx.STFT\].*window has dtype float64"):
        run(data, {"s": f32(1, 16, 1), "step": np.array(2), "w": np.ones(4)})


@pytest.mark.parametrize("src,dst,to", [(np.float32, np.int32, TensorProto.INT32),
                                        (np.int64, np.float64, TensorProto.DOUBLE),
                                        (np.int8, np.uint8, TensorProto.UINT8)])
def test_bitcast(src, dst, to):
    x = (RNG.standard_normal((3, 4)) * 100).astype(src)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(src))
    (y,) = run(one_node("BitCast", [("x", elem)], [("y", to)], opset=26, to=to), {"x": x})
    assert y.dtype == dst and np.array_equal(y.view(np.uint8), x.view(np.uint8))


def test_bitcast_size_mismatch():
    data = one_node("BitCast", [("x", F)], [("y", I64)], opset=26, to=TensorProto.INT64)
    with pytest.raises(TypeError, match=r"\[onnx.BitCast\].*4 bytes"):
        run(data, {"x": f32(2)})


# ---- ConvInteger, QLinearConv ----

@pytest.mark.parametrize("pads,strides,group", [([0, 0, 0, 0], [1, 1], 1), ([1, 0, 2, 1], [2, 1], 1),
                                                ([1, 1, 1, 1], [1, 1], 2)])
def test_conv_integer(pads, strides, group):
    x = RNG.integers(0, 256, (2, 4, 7, 6)).astype(np.uint8)
    w = RNG.integers(0, 256, (6, 4 // group, 3, 3)).astype(np.uint8)
    data = one_node("ConvInteger", [("x", U8), ("w", U8), ("xz", U8), ("wz", U8)], [("y", TensorProto.INT32)],
                    opset=10, pads=pads, strides=strides, group=group)
    compare(data, {"x": x, "w": w, "xz": np.array(128, np.uint8), "wz": np.array(3, np.uint8)})


def test_qlinear_conv_per_channel():
    x = RNG.integers(0, 256, (1, 3, 6, 6)).astype(np.uint8)
    w = RNG.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8)
    feed = {"x": x, "xs": np.array(0.02, np.float32), "xz": np.array(120, np.uint8), "w": w,
            "ws": (RNG.random(4) * 0.01 + 0.001).astype(np.float32), "wz": np.zeros(4, np.int8),
            "ys": np.array(0.05, np.float32), "yz": np.array(7, np.uint8),
            "b": RNG.integers(-500, 500, 4).astype(np.int32)}
    ins = [("x", U8), ("xs", F), ("xz", U8), ("w", I8), ("ws", F), ("wz", I8), ("ys", F), ("yz", U8),
           ("b", TensorProto.INT32)]
    # The oracle is the standard's formula in float64, not onnxruntime: on CPUs without
    # AVX-512/VNNI its u8 x s8 kernel sums pairs of products in saturating int16
    # (vpmaddubsw) and was off by up to 16 here (an AVX2 AMD EPYC).
    y = run(one_node("QLinearConv", ins, [("y", U8)], opset=10, pads=[1, 1, 1, 1]), feed)[0]
    xp = np.pad(x.astype(np.float64) - 120, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # [1, 3, 6, 6, 3, 3]
    acc = np.einsum("nchwij,ocij->nohw", windows, w.astype(np.float64)) + feed["b"][None, :, None, None]
    scale = 0.02 * feed["ws"].astype(np.float64) / 0.05
    want = np.clip(np.rint(acc * scale[None, :, None, None]) + 7, 0, 255)
    assert y.shape == (1, 4, 6, 6) and y.dtype == np.uint8
    np.testing.assert_array_equal(y, want)


def test_conv_integer_bad_input():
    data = one_node("ConvInteger", [("x", U8), ("w", I8), ("xz", I8)], [("y", TensorProto.INT32)], opset=10)
    with pytest.raises(TypeError, match=r"\[onnx.ConvInteger\].*zero point has dtype int8"):
        run(data, {"x": np.zeros((1, 1, 3, 3), np.uint8), "w": np.zeros((1, 1, 2, 2), np.int8),
                   "xz": np.array(0, np.int8)})


# ---- TfIdfVectorizer (ops_text.cpp) ----

@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("lo,hi,skip", [(1, 1, 0), (2, 2, 0), (1, 2, 3)])
def test_tfidf_vectorizer(mode, lo, hi, skip):
    x = RNG.integers(0, 6, (3, 12)).astype(np.int64)
    # 4 unigrams then 3 bigrams; output columns permuted, weights per column.
    attrs = dict(mode=mode, min_gram_length=lo, max_gram_length=hi, max_skip_count=skip, ngram_counts=[0, 4],
                 ngram_indexes=[6, 0, 2, 4, 1, 5, 3], pool_int64s=[0, 2, 3, 5, 1, 2, 3, 3, 4, 0],
                 weights=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    data = one_node("TfIdfVectorizer", [("x", I64)], [("y", F)], opset=9, **attrs)
    compare(data, {"x": x})
    (y1,) = compare(data, {"x": x[0]})  # 1-D input: one row, 1-D output
    assert y1.shape == (7,)


def test_tfidf_vectorizer_bad_input():
    data = one_node("TfIdfVectorizer", [("x", I64)], [("y", F)], opset=9, mode="TF", min_gram_length=1,
                    max_gram_length=1, max_skip_count=0, ngram_counts=[0], ngram_indexes=[0, 1], pool_int64s=[1, 2])
    with pytest.raises(ValueError, match=r"\[onnx.TfIdfVectorizer\].*\[C\] or \[B, C\]"):
        run(data, {"x": np.zeros((1, 2, 3), np.int64)})


# ---- ImageDecoder (ops_image.cpp), against Pillow ----

@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP"])
@pytest.mark.parametrize("pixel_format", ["RGB", "BGR", "Grayscale"])
def test_image_decoder(fmt, pixel_format):
    import io

    PIL = pytest.importorskip("PIL.Image")
    if not ts.image.available():
        pytest.skip("tessel built without OpenCV")
    arr = (RNG.random((9, 13, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    PIL.fromarray(arr).save(buf, format=fmt)
    enc = np.frombuffer(buf.getvalue(), np.uint8)
    data = one_node("ImageDecoder", [("x", U8)], [("y", U8)], opset=20, pixel_format=pixel_format)
    (y,) = run(data, {"x": enc})
    img = PIL.open(io.BytesIO(buf.getvalue()))
    want = {"RGB": lambda: np.array(img), "BGR": lambda: np.array(img)[:, :, ::-1],
            "Grayscale": lambda: np.array(img.convert("L"))[:, :, None]}[pixel_format]()
    assert y.shape == want.shape and y.dtype == np.uint8
    assert np.array_equal(y, want)


def test_image_decoder_bad_input():
    data = one_node("ImageDecoder", [("x", U8)], [("y", U8)], opset=20)
    with pytest.raises(ValueError, match=r"\[onnx.ImageDecoder\]"):
        run(data, {"x": np.frombuffer(b"not an image at all", np.uint8)})
    data = one_node("ImageDecoder", [("x", I8)], [("y", U8)], opset=20)
    with pytest.raises(TypeError, match=r"\[onnx.ImageDecoder\].*uint8"):
        run(data, {"x": np.zeros(4, np.int8)})
