"""Winograd F(2x2, 3x3) for blocked 3x3 convolutions (kernels/cpu/conv_blocked.cpp,
winograd_conv): taken on AVX2 CPUs (channels blocked by 8) for a 3x3 stride-1
convolution inside a chain of convolutions, with at least 16 input and output
channels (below 128 of either, the 16 products run in our register-blocked
kernel rather than oneDNN's sgemm). Checked against a NumPy float64 convolution: odd and partial tiles,
asymmetric pads, channel counts that are not multiples of 8, bias or none,
fused activations, a fused residual; and, where the path applies, that it ran
(the middle convolution is absent from oneDNN's convolution calls) and that
TESSEL_ONNX_WINOGRAD=0 gives the direct kernel's result to the same tolerance."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import tessel as ts
from conftest import cpu_flags

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built without ONNX support")

RNG = np.random.default_rng(7)


_FLAGS = cpu_flags()
# Where the kernel applies: AVX2 with FMA and no AVX-512 (oneDNN then blocks by 8).
WINOGRAD_CPU = {"avx2", "fma"} <= _FLAGS and "avx512f" not in _FLAGS


def conv_ref(x, w, b, pads):
    """float64 NCHW convolution, stride 1; pads = (top, left, bottom, right) as ONNX orders them."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    t, l, bo, r = pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    win = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))  # N C Ho Wo kh kw
    y = np.einsum("nchwij,ocij->nohw", win, w)
    return y if b is None else y + b.astype(np.float64)[None, :, None, None]


def act_ref(y, act):
    if act == "Relu":
        return np.maximum(y, 0)
    if act == "Clip":
        return np.clip(y, -0.5, 0.75)
    if act == "LeakyRelu":
        return np.where(y > 0, y, 0.1 * y)
    return y


def chain(cin, c, o, h, w, pads, bias, act, residual):
    """x -> 1x1 conv (cin -> c) + Relu -> the 3x3 conv (c -> o; bias, pads, [+ r], act)
    -> 1x1 conv (o -> 5): the 3x3 conv reads and writes the blocked layout. With a
    residual, r = 1x1 conv (cin -> o) of x, blocked as well. Returns the model and
    a float64 reference function."""
    w1 = (RNG.standard_normal((c, cin, 1, 1)) * 0.3).astype(np.float32)
    w3 = (RNG.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b3 = (RNG.standard_normal(o) * 0.2).astype(np.float32) if bias else None
    wr = (RNG.standard_normal((o, cin, 1, 1)) * 0.3).astype(np.float32)
    w2 = (RNG.standard_normal((5, o, 1, 1)) * 0.1).astype(np.float32)
    inits = {"W1": w1, "W3": w3, "W2": w2, "Wr": wr, "lo": np.array(-0.5, np.float32),
             "hi": np.array(0.75, np.float32)}
    if bias:
        inits["B3"] = b3
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"]), helper.make_node("Relu", ["a"], ["ar"]),
             helper.make_node("Conv", ["ar", "W3"] + (["B3"] if bias else []), ["z"], pads=list(pads),
                              kernel_shape=[3, 3])]
    v = "z"
    if residual:
        nodes += [helper.make_node("Conv", ["x", "Wr"], ["r"]), helper.make_node("Add", [v, "r"], ["s"])]
        v = "s"
    if act == "Clip":
        nodes.append(helper.make_node("Clip", [v, "lo", "hi"], ["act"]))
    elif act == "LeakyRelu":
        nodes.append(helper.make_node("LeakyRelu", [v], ["act"], alpha=0.1))
    elif act:
        nodes.append(helper.make_node(act, [v], ["act"]))
    nodes.append(helper.make_node("Conv", ["act" if act else v, "W2"], ["out"]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", cin, h, w])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(val, k) for k, val in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8

    def ref(x):
        y = conv_ref(np.maximum(conv_ref(x, w1, None, (0, 0, 0, 0)), 0), w3, b3, pads)
        if residual:
            y = y + conv_ref(x, wr, None, (0, 0, 0, 0))
        return conv_ref(act_ref(y, act), w2, None, (0, 0, 0, 0))

    return m.SerializeToString(), ref


CASES = [  # cin, c, o, h, w, pads (t, l, b, r), bias, act, residual
    (3, 128, 128, 13, 11, (1, 1, 1, 1), True, "Relu", False),
    (5, 130, 131, 9, 14, (0, 1, 2, 0), False, "Clip", False),
    (4, 136, 129, 12, 12, (2, 2, 2, 2), True, "LeakyRelu", False),
    (3, 128, 136, 15, 7, (0, 0, 0, 0), True, None, False),
    (6, 131, 133, 11, 13, (1, 1, 1, 1), True, "Relu", True),
    (3, 128, 128, 10, 9, (1, 2, 1, 0), False, None, True),
    # small channel counts (our products kernel): the digits CNN's 16 -> 32 at 8x8,
    # 8-wide column tails (o = 24, 40), channels padded to 8, tiles not a multiple of 6
    (1, 16, 32, 8, 8, (1, 1, 1, 1), True, "Relu", False),
    (3, 16, 24, 7, 9, (2, 2, 2, 2), True, "Clip", False),
    (2, 21, 37, 11, 10, (0, 1, 2, 0), False, "LeakyRelu", False),
    (3, 64, 40, 9, 9, (1, 1, 1, 1), True, None, True),
    (4, 100, 200, 6, 6, (1, 1, 1, 1), True, "Relu", True),
]


@pytest.mark.parametrize("cin,c,o,h,w,pads,bias,act,residual", CASES)
@pytest.mark.parametrize("n", [1, 3])
def test_winograd_matches_float64(cin, c, o, h, w, pads, bias, act, residual, n):
    data, ref = chain(cin, c, o, h, w, pads, bias, act, residual)
    x = RNG.standard_normal((n, cin, h, w)).astype(np.float32)
    got = ts.onnx.load(data).run({"x": ts.tensor(x)})["out"].numpy()
    want = ref(x)
    assert got.shape == want.shape
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert err < 2e-5, err


def _run_in_child(data, x, env):
    """Runs the model in a fresh process (the switches are read once per process)
    and returns its output and oneDNN's verbose lines."""
    with tempfile.TemporaryDirectory() as d:
        mp, xp, yp = (os.path.join(d, f) for f in ("m.onnx", "x.npy", "y.npy"))
        with open(mp, "wb") as f:
            f.write(data)
        np.save(xp, x)
        code = ("import sys, numpy as np, tessel as ts\n"
                "m = ts.onnx.load(open(sys.argv[1], 'rb').read())\n"
                "y = m.run({'x': ts.tensor(np.load(sys.argv[2]))})['out'].numpy()\n"
                "np.save(sys.argv[3], y)\n")
        p = subprocess.run([sys.executable, "-c", code, mp, xp, yp], env={**os.environ, **env},
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        return np.load(yp), p.stdout + p.stderr


@pytest.mark.skipif(not WINOGRAD_CPU, reason="the Winograd path serves AVX2 CPUs without AVX-512")
def test_winograd_runs_and_matches_the_direct_kernel():
    data, ref = chain(3, 130, 131, 13, 11, (1, 1, 1, 1), True, "Relu", True)
    x = RNG.standard_normal((2, 3, 13, 11)).astype(np.float32)
    on, log_on = _run_in_child(data, x, {"ONEDNN_VERBOSE": "1", "TESSEL_ONNX_WINOGRAD": "1"})
    off, log_off = _run_in_child(data, x, {"ONEDNN_VERBOSE": "1", "TESSEL_ONNX_WINOGRAD": "0"})
    mid = "ic130oc131_ih13oh13kh3"  # the 3x3 conv's problem in oneDNN's verbose lines

    def conv_calls(log):
        return [ln for ln in log.splitlines() if ln.startswith("onednn_verbose,exec,cpu,convolution") and mid in ln]

    assert conv_calls(log_off), "the direct kernel should run with TESSEL_ONNX_WINOGRAD=0"
    assert not conv_calls(log_on), "the Winograd path should replace oneDNN's convolution"
    want = ref(x)
    for got in (on, off):
        assert np.max(np.abs(got - want)) / np.max(np.abs(want)) < 2e-5
    assert not np.array_equal(on, off)  # two algorithms: equal only to rounding


@pytest.mark.skipif(not WINOGRAD_CPU, reason="the Winograd path serves AVX2 CPUs without AVX-512")
@pytest.mark.skipif(not WINOGRAD_CPU, reason="the Winograd path serves AVX2 CPUs without AVX-512")
@pytest.mark.parametrize("c,o", [(16, 32), (64, 64)])
def test_small_channel_winograd_runs_and_matches_the_direct_kernel(c, o):
    data, ref = chain(1, c, o, 8, 8, (1, 1, 1, 1), True, "Relu", False)
    x = RNG.standard_normal((32, 1, 8, 8)).astype(np.float32)
    on, log_on = _run_in_child(data, x, {"ONEDNN_VERBOSE": "1"})
    off, log_off = _run_in_child(data, x, {"ONEDNN_VERBOSE": "1", "TESSEL_ONNX_WINOGRAD": "0"})
    mid = f"ic{c}oc{o}_ih8oh8kh3"

    def conv_calls(log):
        return [ln for ln in log.splitlines() if ln.startswith("onednn_verbose,exec,cpu,convolution") and mid in ln]

    assert conv_calls(log_off) and not conv_calls(log_on)
    want = ref(x)
    for got in (on, off):
        assert np.max(np.abs(got - want)) / np.max(np.abs(want)) < 2e-5
    assert not np.array_equal(on, off)


@pytest.mark.skipif(not WINOGRAD_CPU, reason="the Winograd path serves AVX2 CPUs without AVX-512")
def test_narrow_or_strided_convs_keep_the_direct_kernel():
    # 8 input channels (below the threshold): oneDNN's convolution runs.
    data, ref = chain(3, 8, 64, 13, 11, (1, 1, 1, 1), True, "Relu", False)
    x = RNG.standard_normal((2, 3, 13, 11)).astype(np.float32)
    got, log = _run_in_child(data, x, {"ONEDNN_VERBOSE": "1"})
    assert any("ic8oc64_ih13oh13kh3" in ln for ln in log.splitlines() if "exec,cpu,convolution" in ln)
    want = ref(x)
    assert np.max(np.abs(got - want)) / np.max(np.abs(want)) < 2e-5
