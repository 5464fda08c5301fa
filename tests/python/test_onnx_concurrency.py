"""The ONNX executor's per-model state under repeated and concurrent runs: the
plan, constants and fused-node attributes are resolved once at load, and each
fused convolution/pooling node keeps a kernel site (kernels/cpu/conv_fused.h)
that reuses its oneDNN objects between calls. Runs from several threads at
once (as the model server does), and runs whose shapes change between calls,
must give onnxruntime's results."""
import threading

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built without ONNX support")

RNG = np.random.default_rng(7)


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def cnn():
    """Conv chain with the fused kinds the passes make: Conv+Clip (blocked out),
    depthwise Conv+Relu, bare 1x1 Conv + residual Add, MaxPool between blocked
    convs, a last Conv+Sigmoid unblocked at the edge, GlobalAveragePool,
    Flatten, Gemm+Relu, MatMul+Add. 24 channels: not a multiple of the block."""
    c, m = 24, 40
    inits = {"W0": f32(c, 3, 3, 3, scale=0.4), "B0": f32(c), "We": f32(m, c, 1, 1, scale=0.3),
             "Wd": f32(m, 1, 3, 3, scale=0.4), "Bd": f32(m), "Wp": f32(c, m, 1, 1, scale=0.3),
             "Wl": f32(c, c, 3, 3, scale=0.2), "Bl": f32(c),
             "G": f32(10, c, scale=0.3), "Gb": f32(10), "M": f32(10, 4, scale=0.3), "Mb": f32(4),
             "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
    n = helper.make_node
    nodes = [n("Conv", ["x", "W0", "B0"], ["a"], pads=[1, 1, 1, 1]), n("Clip", ["a", "lo", "hi"], ["a1"]),
             n("Conv", ["a1", "We"], ["e"]), n("Relu", ["e"], ["e1"]),
             n("Conv", ["e1", "Wd", "Bd"], ["d"], pads=[1, 1, 1, 1], group=m), n("Relu", ["d"], ["d1"]),
             n("Conv", ["d1", "Wp"], ["p"]), n("Add", ["p", "a1"], ["s"]),
             n("MaxPool", ["s"], ["q"], kernel_shape=[2, 2], strides=[2, 2]),
             n("Conv", ["q", "Wl", "Bl"], ["l"], pads=[1, 1, 1, 1]), n("Sigmoid", ["l"], ["l1"]),
             n("GlobalAveragePool", ["l1"], ["g"]), n("Flatten", ["g"], ["f"]),
             n("Gemm", ["f", "G", "Gb"], ["h"], transB=1), n("Relu", ["h"], ["h1"]),
             n("MatMul", ["h1", "M"], ["o0"]), n("Add", ["o0", "Mb"], ["out"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 10])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("l1", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    mp = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    mp.ir_version = 8
    return mp.SerializeToString()


@pytest.fixture(scope="module")
def models():
    data = cnn()
    return ts.onnx.load(data), ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def check(got, ref):
    for name, r in zip(("out", "l1"), ref):
        np.testing.assert_allclose(got[name].numpy(), r, rtol=1e-4, atol=1e-5)


def test_passes_made_the_fused_nodes(monkeypatch, capfd):
    # What the other tests rely on: fused convs, a blocked chain, the MaxPool blocked.
    monkeypatch.setenv("TESSEL_ONNX_PASSES_VERBOSE", "1")
    ts.onnx.load(cnn())
    err = capfd.readouterr().err
    assert "5 Conv+Add/activation fused" in err and "2 MatMul/Gemm+bias/activation fused" in err


def test_shapes_change_between_runs(models):
    # Each batch size refills the nodes' kernel sites; going back must not reuse stale objects.
    tm, sess = models
    for batch in (1, 3, 1, 2, 2, 3, 1):
        x = f32(batch, 3, 12, 10)
        check(tm.run({"x": ts.tensor(x)}), sess.run(None, {"x": x}))


def test_results_kept_by_the_caller_survive_later_runs(models):
    tm, sess = models
    xs = [f32(2, 3, 12, 10) for _ in range(3)]
    kept = [tm.run({"x": ts.tensor(x)}) for x in xs]
    for x, got in zip(xs, kept):
        check(got, sess.run(None, {"x": x}))


@pytest.mark.parametrize("threads", [1, 2])
def test_concurrent_runs_from_several_threads(models, threads):
    # Six Python threads (run releases the GIL) on one model, with batch sizes
    # that differ between threads: each node's site is busy or refilled by
    # another thread while a run needs it.
    tm, sess = models
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        cases = [f32(1 + k % 3, 3, 12, 10) for k in range(12)]
        refs = [sess.run(None, {"x": x}) for x in cases]
        errors = []

        def worker(t):
            try:
                for it in range(15):
                    k = (t * 5 + it) % len(cases)
                    check(tm.run({"x": ts.tensor(cases[k])}), refs[k])
            except Exception as e:  # reported below: an assertion in a thread does not fail the test
                errors.append(e)

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        assert not errors, errors[0]
    finally:
        ts.set_num_threads(old)
