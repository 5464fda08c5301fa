"""The ONNX runtime's buffers: values return to a per-model pool after their last use, so later
nodes and later runs reuse them (Model.memory_stats), without ever handing out memory a caller holds."""
import threading

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def chain_model(n=256, layers=6):
    """x [b, n] through `layers` of MatMul + Relu + Add(residual): every intermediate is b*n*4 bytes."""
    rng = np.random.default_rng(0)
    nodes, inits, cur = [], [], "x"
    for k in range(layers):
        w = numpy_helper.from_array((rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32), f"w{k}")
        inits.append(w)
        nodes += [helper.make_node("MatMul", [cur, f"w{k}"], [f"m{k}"]),
                  helper.make_node("Relu", [f"m{k}"], [f"r{k}"]),
                  helper.make_node("Add", [f"r{k}", cur], [f"a{k}"])]
        cur = f"a{k}"
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", n])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_second_run_takes_every_buffer_from_the_pool():
    data = chain_model()
    m = ts.onnx.load(data)
    x = np.random.default_rng(1).standard_normal((128, 256)).astype(np.float32)  # 128 KiB values
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    first = m.run({"x": ts.from_numpy(x)})["y"].numpy().copy()
    s1 = m.memory_stats()
    assert s1["pool_misses"] > 0
    assert s1["pool_hits"] > 0  # the dead values of the first run already fed its later nodes
    second = m.run({"x": ts.from_numpy(x)})["y"].numpy()
    s2 = m.memory_stats()
    assert s2["pool_misses"] == s1["pool_misses"] and s2["pool_hits"] > s1["pool_hits"]
    np.testing.assert_allclose(first, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(second, first)


def test_held_outputs_are_never_reused():
    m = ts.onnx.load(chain_model())
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((128, 256)).astype(np.float32) for _ in range(4)]
    held = [m.run({"x": ts.from_numpy(x)})["y"] for x in xs]  # kept alive across the later runs
    copies = [h.numpy().copy() for h in held]
    for x in xs:
        m.run({"x": ts.from_numpy(x)})
    for h, c in zip(held, copies):
        np.testing.assert_array_equal(h.numpy(), c)
    assert len({h.data_ptr() for h in held}) == len(held)


def test_other_shapes_and_threads_share_the_pool_safely():
    data = chain_model()
    m = ts.onnx.load(data)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(5):
                b = int(rng.integers(64, 200))
                x = rng.standard_normal((b, 256)).astype(np.float32)
                got = m.run({"x": ts.from_numpy(x)})["y"].numpy()
                np.testing.assert_allclose(got, sess.run(None, {"x": x})[0], rtol=1e-4, atol=1e-4)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert m.memory_stats()["free_bytes"] <= 1 << 30


def test_small_values_do_not_use_the_pool():
    m = ts.onnx.load(chain_model(n=16, layers=2))
    m.run({"x": ts.ones(4, 16)})
    assert m.memory_stats() == {"pool_hits": 0, "pool_misses": 0, "free_bytes": 0}
