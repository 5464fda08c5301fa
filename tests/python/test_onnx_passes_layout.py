"""The blocked layout kept between convolutions (src/onnx/passes.cpp's
block_conv_chains, kernels/cpu/conv_fused.h): a chain of convolutions passes
its values (and those of pooling nodes between them) in oneDNN's
channel-blocked layout; results match onnxruntime and
the same model loaded with TESSEL_ONNX_BLOCKED=0, and no other op, nor a graph
output, ever receives a blocked value."""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import tessel as ts
from conftest import cpu_flags

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built without ONNX support")

RNG = np.random.default_rng(0)


# oneDNN blocks channels by 16 with AVX-512 and by 8 with AVX2; without either
# the pass keeps everything NCHW (its count is then 0).
BLOCKING = "avx2" in cpu_flags()


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def model(nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m.SerializeToString()


def load(data, monkeypatch, blocked):
    monkeypatch.setenv("TESSEL_ONNX_PASSES", "1")
    monkeypatch.setenv("TESSEL_ONNX_PASSES_VERBOSE", "1")
    monkeypatch.setenv("TESSEL_ONNX_BLOCKED", "1" if blocked else "0")
    return ts.onnx.load(data)


def blocked_count(capfd):
    m = re.search(r"(\d+) values kept blocked", capfd.readouterr().err)
    assert m is not None
    return int(m.group(1))


def check(data, feed, monkeypatch, capfd, rtol=1e-4, atol=1e-5):
    """Runs blocked and unblocked against onnxruntime; returns the blocked count."""
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    on = load(data, monkeypatch, True)
    n_on = blocked_count(capfd)
    off = load(data, monkeypatch, False)
    assert blocked_count(capfd) == 0
    tfeed = {k: ts.tensor(v) for k, v in feed.items()}
    for mod in (on, off):
        got = mod.run(tfeed)
        for o, r in zip(mod.outputs, ref):
            out = got[o.name].numpy()
            assert out.shape == r.shape  # never a blocked tensor at the graph's edge
            np.testing.assert_allclose(out, r, rtol=rtol, atol=atol)
    return n_on


def mobile_block(c_in, c_mid, act="Clip"):
    """An inverted residual block with channel counts that are not multiples of
    16: expand (1x1 + activation), depthwise 3x3 (+ activation), project (bare
    1x1), residual Add, then a last 3x3 conv whose output is the graph's output."""
    inits = {"We": f32(c_mid, c_in, 1, 1, scale=0.4), "Be": f32(c_mid),
             "Wd": f32(c_mid, 1, 3, 3, scale=0.4), "Bd": f32(c_mid),
             "Wp": f32(c_in, c_mid, 1, 1, scale=0.3),
             "Wl": f32(5, c_in, 3, 3, scale=0.3), "Bl": f32(5),
             "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}

    def activation(x, y):
        if act == "Clip":
            return helper.make_node("Clip", [x, "lo", "hi"], [y])
        return helper.make_node(act, [x], [y])

    nodes = [helper.make_node("Conv", ["x", "W0"], ["x0"], pads=[1, 1, 1, 1]),  # input conv
             helper.make_node("Conv", ["x0", "We", "Be"], ["e"]),
             activation("e", "ea"),
             helper.make_node("Conv", ["ea", "Wd", "Bd"], ["d"], pads=[1, 1, 1, 1], group=c_mid),
             activation("d", "da"),
             helper.make_node("Conv", ["da", "Wp"], ["p"]),
             helper.make_node("Add", ["p", "x0"], ["s"]),
             helper.make_node("Conv", ["s", "Wl", "Bl"], ["out"], pads=[0, 1, 2, 1], strides=[2, 1])]
    inits["W0"] = f32(c_in, 3, 3, 3, scale=0.4)
    return model(nodes, [vi("x", ["N", 3, 11, 9])], [vi("out", None)], inits)


@pytest.mark.parametrize("c_in,c_mid", [(24, 40), (16, 32), (5, 7), (3, 33)])
@pytest.mark.parametrize("act", ["Clip", "Sigmoid", "Relu"])
def test_inverted_residual_block_blocked(monkeypatch, capfd, c_in, c_mid, act):
    # Sigmoid(0) = 0.5: the padded channels of a blocked value must still read as zero.
    data = mobile_block(c_in, c_mid, act)
    n = check(data, {"x": f32(2, 3, 11, 9)}, monkeypatch, capfd)
    # x0 (an X and a residual), e, d, p+x0: four conv outputs stay blocked.
    assert n == (4 if BLOCKING else 0)


DW_ACTS = {
    None: None,
    "Relu": lambda i, o: helper.make_node("Relu", [i], [o]),
    "Clip": lambda i, o: helper.make_node("Clip", [i, "lo", "hi"], [o]),
    "ClipAbove0": lambda i, o: helper.make_node("Clip", [i, "hi", "hi2"], [o]),  # 0 maps to 0.7: oneDNN's path
    "LeakyRelu": lambda i, o: helper.make_node("LeakyRelu", [i], [o], alpha=0.3),
}


@pytest.mark.parametrize("k,stride,pads", [(3, 1, [1, 1, 1, 1]), (3, 2, [1, 1, 1, 1]), (3, 1, [0, 2, 1, 0]),
                                           (5, 2, [2, 1, 2, 3]), (3, (2, 1), [1, 0, 0, 1]), (1, 1, [0, 0, 0, 0])])
@pytest.mark.parametrize("act", sorted(DW_ACTS, key=str))
@pytest.mark.parametrize("c,w", [(20, 13), (32, 4), (7, 21)])
def test_depthwise_between_convolutions(monkeypatch, capfd, k, stride, pads, act, c, w):
    # conv -> depthwise conv (+ activation) -> conv: the depthwise layer reads and
    # writes blocked values through kernels/cpu/pool_blocked_body.inc (four windows
    # at a time where they are whole, one at a time near the edges); the same graph
    # with TESSEL_ONNX_DEPTHWISE=0 takes oneDNN's kernel.
    s = list(stride) if isinstance(stride, tuple) else [stride, stride]
    inits = {"W1": f32(c, 3, 3, 3, scale=0.3), "Wd": f32(c, 1, k, k, scale=0.3), "Bd": f32(c),
             "W2": f32(6, c, 1, 1, scale=0.3), "lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32),
             "hi2": np.array(1.5, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "Wd", "Bd"], ["d"], pads=pads, strides=s, group=c),
             helper.make_node("Conv", ["da" if act else "d", "W2"], ["out"])]
    if act:
        nodes.insert(2, DW_ACTS[act]("d", "da"))
    data = model(nodes, [vi("x", ["N", 3, 9, w])], [vi("out", None)], inits)
    feed = {"x": f32(2, 3, 9, w)}
    assert check(data, feed, monkeypatch, capfd) == (2 if BLOCKING else 0)
    ours = load(data, monkeypatch, True).run({"x": ts.tensor(feed["x"])})["out"].numpy()
    monkeypatch.setenv("TESSEL_ONNX_DEPTHWISE", "0")
    code = ("import sys, numpy as np, tessel as ts; x = np.load(sys.argv[2]); "
            "np.save(sys.argv[3], ts.onnx.load(sys.argv[1]).run({'x': ts.tensor(x)})['out'].numpy())")
    with tempfile.TemporaryDirectory() as d:  # the switch is read once per process
        open(os.path.join(d, "m.onnx"), "wb").write(data)
        np.save(os.path.join(d, "x.npy"), feed["x"])
        subprocess.run([sys.executable, "-c", code, os.path.join(d, "m.onnx"), os.path.join(d, "x.npy"),
                        os.path.join(d, "y.npy")], check=True, env=dict(os.environ))
        onednn = np.load(os.path.join(d, "y.npy"))
    np.testing.assert_allclose(ours, onednn, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("c,h,w,stride", [(96, 40, 40, 2), (96, 60, 40, 2), (40, 31, 9, 1), (24, 29, 30, 1)])
def test_depthwise_two_threads_and_large_plane(monkeypatch, capfd, c, h, w, stride):
    # MobileNetV2's shape of layer (96 channels, 3x3 stride 2 on 40x40): rows of
    # every channel block spread over two threads; from 28 output rows up
    # (60 -> 30, 31, 29) each thread takes a range of rows of every plane.
    inits = {"W1": f32(c, 3, 1, 1, scale=0.3), "Wd": f32(c, 1, 3, 3, scale=0.3), "Bd": f32(c),
             "W2": f32(8, c, 1, 1, scale=0.1), "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"]),
             helper.make_node("Conv", ["a", "Wd", "Bd"], ["d"], pads=[1, 1, 1, 1], strides=[stride, stride],
                              group=c),
             helper.make_node("Clip", ["d", "lo", "hi"], ["da"]),
             helper.make_node("Conv", ["da", "W2"], ["out"])]
    data = model(nodes, [vi("x", ["N", 3, h, w])], [vi("out", None)], inits)
    old = ts.get_num_threads()
    ts.set_num_threads(2)
    try:
        assert check(data, {"x": f32(3, 3, h, w)}, monkeypatch, capfd) == (2 if BLOCKING else 0)
    finally:
        ts.set_num_threads(old)


def test_batch_of_zero_runs_the_composed_ops(monkeypatch, capfd):
    data = mobile_block(24, 40)
    check(data, {"x": f32(0, 3, 11, 9)}, monkeypatch, capfd)


def test_value_read_by_another_op_stays_nchw(monkeypatch, capfd):
    # y feeds a conv and a Relu; z is a graph output: neither is blocked. Only
    # the first conv's output (read by the second conv alone) is.
    w = f32(16, 16, 3, 3, scale=0.2)
    data = model([helper.make_node("Conv", ["x", "W"], ["a"], pads=[1, 1, 1, 1]),
                  helper.make_node("Conv", ["a", "W"], ["y"], pads=[1, 1, 1, 1]),
                  helper.make_node("Conv", ["y", "W"], ["z"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["y"], ["r"])],
                 [vi("x", [1, 16, 6, 7])], [vi("z", None), vi("r", None)], {"W": w})
    n = check(data, {"x": f32(1, 16, 6, 7)}, monkeypatch, capfd)
    assert n == (1 if BLOCKING else 0)


def test_conv_output_used_as_weight_is_not_blocked(monkeypatch, capfd):
    # The second conv reads the first one's output as its weight: NCHW.
    data = model([helper.make_node("Conv", ["x", "W"], ["k"]),
                  helper.make_node("Conv", ["x", "k"], ["out"])],
                 [vi("x", [2, 2, 2, 2])], [vi("out", None)], {"W": f32(2, 2, 1, 1)})
    assert check(data, {"x": f32(2, 2, 2, 2)}, monkeypatch, capfd) == 0


def test_fused_residual_chain_two_threads(monkeypatch, capfd):
    # ResNet-like: conv-relu, conv + blocked residual + relu, twice; at 2 threads
    # (oneDNN partitions work by thread count; the primitives are per count).
    c = 32
    inits = {f"W{i}": f32(c, c, 3, 3, scale=0.1) for i in range(4)}
    nodes, cur = [], "x"
    for i in (0, 2):
        nodes += [helper.make_node("Conv", [cur, f"W{i}"], [f"a{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"a{i}"], [f"r{i}"]),
                  helper.make_node("Conv", [f"r{i}", f"W{i + 1}"], [f"b{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Add", [f"b{i}", cur], [f"s{i}"]),
                  helper.make_node("Relu", [f"s{i}"], [f"o{i}"])]
        cur = f"o{i}"
    nodes.append(helper.make_node("GlobalAveragePool", [cur], ["out"]))
    data = model(nodes, [vi("x", ["N", c, 8, 8])], [vi("out", None)], inits)
    old = ts.get_num_threads()
    ts.set_num_threads(2)
    try:
        n = check(data, {"x": f32(3, c, 8, 8)}, monkeypatch, capfd)
    finally:
        ts.set_num_threads(old)
    # r0, o0 (X and residual of the second block), r2, o2 (into GlobalAveragePool).
    assert n == (4 if BLOCKING else 0)


@pytest.mark.parametrize("later", [False, True])
@pytest.mark.parametrize("hw", [(6, 5), (48, 40)])  # the larger outputs come from the reused-buffer pool
def test_residual_read_after_the_fused_conv_keeps_its_values(monkeypatch, capfd, later, hw):
    # s = Conv_b(a) + a, where `a` is blocked. When `a` dies at that conv its
    # buffer takes the sum in place; when a later conv still reads `a`, it must
    # see the old values (later=True).
    c = 16
    inits = {"Wa": f32(c, 3, 3, 3, scale=0.3), "Wb": f32(c, c, 3, 3, scale=0.1),
             "Wc": f32(c, c, 1, 1, scale=0.2)}
    nodes = [helper.make_node("Conv", ["x", "Wa"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "Wb"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["b", "a"], ["s"])]
    if later:
        nodes += [helper.make_node("Conv", ["a", "Wc"], ["t"]), helper.make_node("Add", ["s", "t"], ["out"])]
    else:
        nodes += [helper.make_node("Conv", ["s", "Wc"], ["out"])]
    data = model(nodes, [vi("x", [2, 3, *hw])], [vi("out", None)], inits)
    n = check(data, {"x": f32(2, 3, *hw)}, monkeypatch, capfd)
    assert n == (2 if BLOCKING else 0)  # a, and s (the input or the residual of the last conv)


POOLS = {
    "max": lambda i, o: helper.make_node("MaxPool", [i], [o], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "max_asym": lambda i, o: helper.make_node("MaxPool", [i], [o], kernel_shape=[2, 3], strides=[1, 2],
                                              pads=[0, 1, 1, 2]),
    "avg": lambda i, o: helper.make_node("AveragePool", [i], [o], kernel_shape=[3, 3], strides=[2, 2],
                                         pads=[1, 1, 1, 1]),
    "avg_incl": lambda i, o: helper.make_node("AveragePool", [i], [o], kernel_shape=[3, 3], strides=[2, 2],
                                              pads=[1, 1, 1, 1], count_include_pad=1),
    "gap": lambda i, o: helper.make_node("GlobalAveragePool", [i], [o]),
}


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("c", [16, 20])
@pytest.mark.parametrize("then_conv", [False, True])
def test_pooling_between_convolutions(monkeypatch, capfd, pool, c, then_conv):
    # conv -> pool (-> conv): the pool reads the blocked conv output and, when a
    # conv follows, hands over a blocked result too; Sigmoid leaves non-zero
    # values where the padded channels would be if they were not kept zero.
    inits = {"W1": f32(c, 3, 3, 3, scale=0.3), "W2": f32(8, c, 1, 1, scale=0.3)}
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["a"], ["s"]),
             POOLS[pool]("s", "p" if then_conv else "out")]
    if then_conv:
        nodes.append(helper.make_node("Conv", ["p", "W2"], ["out"]))
    data = model(nodes, [vi("x", ["N", 3, 9, 11])], [vi("out", None)], inits)
    n = check(data, {"x": f32(2, 3, 9, 11)}, monkeypatch, capfd)
    assert n == ((2 if then_conv else 1) if BLOCKING else 0)


@pytest.mark.parametrize("c", [8, 16, 5])
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pool_unblocked_in_row_bands_two_threads(monkeypatch, capfd, c, pool):
    # Batch 1 and one or two channel blocks at 2 threads: the pool splits each plane
    # into row bands, and each band is unblocked into the NCHW output from its own
    # first row (the 8-lane transposes and the tail, kernels/cpu/conv_blocked.cpp).
    inits = {"W1": f32(c, 3, 3, 3, scale=0.3)}
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"], pads=[1, 1, 1, 1]), POOLS[pool]("a", "out")]
    data = model(nodes, [vi("x", [1, 3, 66, 50])], [vi("out", None)], inits)
    old = ts.get_num_threads()
    ts.set_num_threads(2)
    try:
        n = check(data, {"x": f32(1, 3, 66, 50)}, monkeypatch, capfd)
    finally:
        ts.set_num_threads(old)
    assert n == (1 if BLOCKING else 0)


def _max_pool_nchw(x, k, s, pads):
    """NumPy max pooling (float64, NaN-propagating like np.max) with -inf padding."""
    n, c, h, w = x.shape
    xp = np.full((n, c, h + pads[0] + pads[2], w + pads[1] + pads[3]), -np.inf)
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    ho, wo = (xp.shape[2] - k[0]) // s[0] + 1, (xp.shape[3] - k[1]) // s[1] + 1
    out = np.empty((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = xp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].max(axis=(2, 3))
    return out


@pytest.mark.parametrize("c", [16, 20])
def test_blocked_max_pool_propagates_nan(monkeypatch, capfd, c):
    # A NaN pixel of the input spreads through the conv to its 3x3 neighbourhood in
    # every channel; each pooling window that reads one of them is NaN (as
    # np.max and PyTorch's max_pool2d), the others are the plain max.
    inits = {"W1": f32(c, 3, 3, 3, scale=0.3)}
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"], pads=[1, 1, 1, 1]),
             POOLS["max"]("a", "out")]
    data = model(nodes, [vi("x", [1, 3, 12, 12])], [vi("out", None)], inits)
    conv_only = model(nodes[:1], [vi("x", [1, 3, 12, 12])], [vi("a", None)], inits)
    x = f32(1, 3, 12, 12)
    x[0, 1, 5, 7] = np.nan
    conv = ts.onnx.load(conv_only).run({"x": ts.tensor(x)})["a"].numpy().astype(np.float64)
    want = _max_pool_nchw(conv, (3, 3), (2, 2), (1, 1, 1, 1))
    assert np.isnan(want).any() and not np.isnan(want).all()
    got = load(data, monkeypatch, True).run({"x": ts.tensor(x)})["out"].numpy()
    assert blocked_count(capfd) == (1 if BLOCKING else 0)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, equal_nan=True)


def test_pool_with_ceil_mode_stays_nchw(monkeypatch, capfd):
    inits = {"W1": f32(16, 3, 3, 3, scale=0.3)}
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["a"], ["out"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)]
    data = model(nodes, [vi("x", [1, 3, 7, 7])], [vi("out", None)], inits)
    assert check(data, {"x": f32(1, 3, 7, 7)}, monkeypatch, capfd) == 0


def test_pool_with_unknown_channels_stays_nchw(monkeypatch, capfd):
    # The weight is fed at run time: the conv is not fused, its output channels unknown.
    nodes = [helper.make_node("Conv", ["x", "W"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p", "W2"], ["out"])]
    data = model(nodes, [vi("x", [1, 3, 8, 8]), vi("W", ["O", 3, 3, 3])], [vi("out", None)],
                 {"W2": f32(4, 16, 1, 1)})
    assert check(data, {"x": f32(1, 3, 8, 8), "W": f32(16, 3, 3, 3)}, monkeypatch, capfd) == 0


@pytest.mark.parametrize("reuse", ["1", "0"])
def test_outputs_kept_by_the_caller_are_not_reused(monkeypatch, reuse):
    # Conv outputs of 512 KB and more come from a pool of reused buffers
    # (TESSEL_ONNX_REUSE=0: fresh ones): a result the caller still holds (as a
    # tensor or as a NumPy array) must keep its values through later runs.
    monkeypatch.setenv("TESSEL_ONNX_REUSE", reuse)
    c = 64
    inits = {"W1": f32(c, 3, 3, 3, scale=0.3), "W2": f32(c, c, 1, 1, scale=0.1)}
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "W2"], ["out"]),
             helper.make_node("Conv", ["a", "W2"], ["out2"])]
    data = model(nodes, [vi("x", ["N", 3, 32, 32])], [vi("out", None), vi("out2", None)], inits)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    m = ts.onnx.load(data)
    feeds = [{"x": f32(2, 3, 32, 32)} for _ in range(3)]
    lone = m.run({"x": ts.tensor(feeds[0]["x"])})["out"].numpy()  # the tensor itself is dropped at once
    kept, arrays = [], []
    for feed in feeds:
        got = m.run({"x": ts.tensor(feed["x"])})
        kept.append(got)
        arrays.append(got["out"].numpy())
        del got
    for feed, got, arr in zip(feeds, kept, arrays):
        ref = sess.run(None, feed)
        np.testing.assert_allclose(got["out"].numpy(), ref[0], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got["out2"].numpy(), ref[1], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(arr, ref[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(lone, sess.run(None, feeds[0])[0], rtol=1e-4, atol=1e-5)
    # Dropped results free their buffers for the next runs: still right.
    kept.clear()
    for feed in feeds:
        got = m.run({"x": ts.tensor(feed["x"])})
        np.testing.assert_allclose(got["out"].numpy(), sess.run(None, feed)[0], rtol=1e-4, atol=1e-5)


def test_winograd_3x3_chain_matches_onnxruntime(monkeypatch, capfd):
    # 3x3 stride-1 float32 convolutions of the fused path run oneDNN's Winograd
    # F(2x2, 3x3) where it has one (TESSEL_ONNX_WINOGRAD=0: the direct kernel);
    # bias + Relu, and a residual sum, at ResNet's sizes, within the usual 1e-4.
    c, hw = 64, 28
    inits = {f"W{i}": f32(c, c, 3, 3, scale=0.06) for i in range(3)}
    inits.update({f"B{i}": f32(c, scale=0.1) for i in range(3)})
    nodes = [helper.make_node("Conv", ["x", "W0", "B0"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Conv", ["r", "W1", "B1"], ["b"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["b", "x"], ["s"]),
             helper.make_node("Relu", ["s"], ["t"]),
             helper.make_node("Conv", ["t", "W2", "B2"], ["out"], pads=[1, 1, 1, 1])]
    data = model(nodes, [vi("x", [1, c, hw, hw])], [vi("out", None)], inits)
    feed = {"x": f32(1, c, hw, hw)}
    check(data, feed, monkeypatch, capfd)
    code = ("import sys, numpy as np, tessel as ts; m = ts.onnx.load(sys.stdin.buffer.read()); "
            "np.save(sys.argv[1], m.run({'x': ts.tensor(np.load(sys.argv[2]))})['out'].numpy())")
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)[0]
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), feed["x"])
        env = dict(os.environ, TESSEL_ONNX_WINOGRAD="0")
        subprocess.run([sys.executable, "-c", code, os.path.join(d, "y.npy"), os.path.join(d, "x.npy")], input=data,
                       env=env, check=True)
        np.testing.assert_allclose(np.load(os.path.join(d, "y.npy")), ref, rtol=1e-4, atol=1e-5)
