"""The attention fusion of the ONNX importer (src/onnx/passes.cpp's
fuse_attention, kernels/cpu/matmul.cpp's attention_probs): MatMul(Q, Kt)
[* or / scale] [+ mask] -> Softmax(-1) -> MatMul(., V) runs as one
ai.tessel.Attention node; results match onnxruntime and the unfused graph
(TESSEL_ONNX_FUSE=0)."""
import re

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built without ONNX support")

RNG = np.random.default_rng(0)
B, H, L, S, D = 2, 3, 5, 7, 4


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def model(nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def fused_count(capfd):
    m = re.search(r"(\d+) attention fused", capfd.readouterr().err)
    return int(m.group(1)) if m else None


def check(data, feed, monkeypatch, capfd, rtol=1e-4, atol=1e-5):
    """Runs fused and unfused against onnxruntime; returns the fused count."""
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    monkeypatch.setenv("TESSEL_ONNX_PASSES", "1")
    monkeypatch.setenv("TESSEL_ONNX_PASSES_VERBOSE", "1")
    monkeypatch.setenv("TESSEL_ONNX_FUSE", "1")
    on = ts.onnx.load(data)
    n = fused_count(capfd)
    monkeypatch.setenv("TESSEL_ONNX_FUSE", "0")
    off = ts.onnx.load(data)
    assert fused_count(capfd) == 0
    tfeed = {k: ts.tensor(v) for k, v in feed.items()}
    for mod in (on, off):
        got = mod.run(tfeed)
        for o, r in zip(mod.outputs, ref):
            np.testing.assert_allclose(got[o.name].numpy(), r, rtol=rtol, atol=atol)
    return n


def attention_model(scale_op="Mul", mask_shape=(B, 1, 1, S), softmax_axis=-1, scale_first=False,
                    qshape=(B, H, L, D), ktshape=(B, H, D, S), vshape=(B, H, S, D), extra_output=False):
    inits = {"c": np.array(0.5 if scale_op == "Mul" else 2.0, np.float32)}
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["s"])]
    cur = "s"
    if scale_op:
        ins = ["c", cur] if scale_first else [cur, "c"]
        nodes.append(helper.make_node(scale_op, ins, ["ss"]))
        cur = "ss"
    inputs = [vi("q", list(qshape)), vi("kt", list(ktshape)), vi("v", list(vshape))]
    if mask_shape is not None:
        nodes.append(helper.make_node("Add", [cur, "mask"], ["sm"]))
        inputs.append(vi("mask", list(mask_shape)))
        cur = "sm"
    nodes.append(helper.make_node("Softmax", [cur], ["p"], axis=softmax_axis))
    nodes.append(helper.make_node("MatMul", ["p", "v"], ["out"]))
    outputs = [vi("out", None)] + ([vi("s", None)] if extra_output else [])
    return model(nodes, inputs, outputs, inits)


def feed_for(qshape=(B, H, L, D), ktshape=(B, H, D, S), vshape=(B, H, S, D), mask_shape=(B, 1, 1, S)):
    feed = {"q": f32(*qshape), "kt": f32(*ktshape), "v": f32(*vshape)}
    if mask_shape is not None:
        mask = np.zeros(mask_shape, np.float32)
        mask[..., -2:] = np.finfo(np.float32).min  # a padded tail, as exporters write it
        feed["mask"] = mask + f32(*mask_shape, scale=0.1)
    return feed


@pytest.mark.parametrize("scale_op,scale_first", [("Mul", False), ("Mul", True), ("Div", False), (None, False)])
@pytest.mark.parametrize("mask_shape", [(B, 1, 1, S), (1, 1, L, S), (B, H, L, S), (1, H, 1, 1), None])
def test_attention_fused(monkeypatch, capfd, scale_op, scale_first, mask_shape):
    data = attention_model(scale_op, mask_shape, scale_first=scale_first)
    assert check(data, feed_for(mask_shape=mask_shape), monkeypatch, capfd) == 1


def test_transposed_key_view_and_bert_shapes(monkeypatch, capfd):
    # BERT-base's attention at batch 1: 12 heads of 64 over 128 tokens.
    shp = dict(qshape=(1, 12, 128, 64), ktshape=(1, 12, 64, 128), vshape=(1, 12, 128, 64))
    data = attention_model("Mul", (1, 1, 1, 128), **shp)
    assert check(data, feed_for(mask_shape=(1, 1, 1, 128), **shp), monkeypatch, capfd) == 1


def test_three_dim_operands_run_the_composed_ops(monkeypatch, capfd):
    # Fused, but the oneDNN path takes 4-D operands only: the node composes the ops.
    shp = dict(qshape=(H, L, D), ktshape=(H, D, S), vshape=(H, S, D))
    data = attention_model("Div", (1, L, S), **shp)
    assert check(data, feed_for(mask_shape=(1, L, S), **shp), monkeypatch, capfd) == 1


def test_broadcast_value_runs_the_composed_ops(monkeypatch, capfd):
    shp = dict(vshape=(1, H, S, D))
    data = attention_model("Mul", (B, 1, 1, S), **shp)
    assert check(data, feed_for(mask_shape=(B, 1, 1, S), **shp), monkeypatch, capfd) == 1


def test_softmax_over_another_axis_not_fused(monkeypatch, capfd):
    data = attention_model("Mul", (B, 1, 1, S), softmax_axis=2)
    assert check(data, feed_for(), monkeypatch, capfd) == 0


def test_scores_read_elsewhere_not_fused(monkeypatch, capfd):
    data = attention_model("Mul", (B, 1, 1, S), extra_output=True)
    assert check(data, feed_for(), monkeypatch, capfd) == 0


def test_opset_12_softmax_not_fused(monkeypatch, capfd):
    # Before opset 13 Softmax flattened its input from `axis` on: not the pattern.
    inits = {"c": np.array(0.5, np.float32)}
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Mul", ["s", "c"], ["ss"]),
             helper.make_node("Softmax", ["ss"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "v"], ["out"])]
    data = model(nodes, [vi("q", [B, H, L, D]), vi("kt", [B, H, D, S]), vi("v", [B, H, S, D])],
                 [vi("out", None)], inits, opset=12)
    assert check(data, feed_for(mask_shape=None), monkeypatch, capfd) == 0


def test_attention_fusion_off_by_env(monkeypatch, capfd):
    data = attention_model("Mul", (B, 1, 1, S))
    monkeypatch.setenv("TESSEL_ONNX_ATTENTION", "0")
    assert check(data, feed_for(), monkeypatch, capfd) == 0
