"""Small fused nodes run on the calling thread alone when tessel has more threads
(src/onnx/passes_fused.cpp, kernels/cpu/serial.h): results match onnxruntime, with
tiny and large convolutions, pooling and Gemm in one graph, and the thread
count the caller set is back after every run (also after a failing run)."""
import subprocess
import sys
import textwrap

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


def mixed_model():
    """Conv 1->8 on 16x16 (37 kFLOP per image: serial below batch ~56), Conv 8->64
    (2.4 MFLOP per image: parallel), MaxPool and Gemm (serial at batch 1 and 4,
    parallel at 64), under the 2 MFLOP default threshold."""
    inits = {"w1": f32(8, 1, 3, 3, scale=0.3), "b1": f32(8), "w2": f32(64, 8, 3, 3, scale=0.1), "b2": f32(64),
             "wg": f32(10, 64 * 8 * 8, scale=0.02), "bg": f32(10)}
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["y"], transB=1),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 4, 64])
def test_matches_onnxruntime_and_restores_threads(threads, batch):
    data = mixed_model()
    x = f32(batch, 1, 16, 16)
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        m = ts.onnx.load(data)
        for _ in range(2):  # the second run takes the kernels' cached sites
            got = m.run({"x": ts.tensor(x)})["y"].numpy()
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
            assert ts.get_num_threads() == threads
    finally:
        ts.set_num_threads(old)


def test_threads_restored_after_a_failing_run():
    data = mixed_model()
    old = ts.get_num_threads()
    ts.set_num_threads(2)
    try:
        m = ts.onnx.load(data)
        with pytest.raises(Exception):
            m.run({"x": ts.tensor(f32(2, 3, 16, 16))})  # 3 channels for a 1-channel conv
        assert ts.get_num_threads() == 2
    finally:
        ts.set_num_threads(old)


@pytest.mark.parametrize("setting", ["0", "1e15"])
def test_switch_off_and_all_serial(setting, tmp_path):
    """TESSEL_SMALL_SERIAL=0 (never serial) and a huge threshold (always
    serial) give onnxruntime's results too; read once per process, hence a subprocess."""
    path = tmp_path / "m.onnx"
    path.write_bytes(mixed_model())
    code = textwrap.dedent(f"""
        import numpy as np, onnxruntime as ort, tessel as ts
        x = np.random.default_rng(1).standard_normal((4, 1, 16, 16)).astype(np.float32)
        ref = ort.InferenceSession({str(path)!r}, providers=["CPUExecutionProvider"]).run(None, {{"x": x}})[0]
        ts.set_num_threads(2)
        m = ts.onnx.load({str(path)!r})
        for _ in range(2):
            got = m.run({{"x": ts.tensor(x)}})["y"].numpy()
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
            assert ts.get_num_threads() == 2
        print("ok")
    """)
    import os
    env = dict(os.environ, TESSEL_SMALL_SERIAL=setting)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
