"""uint16/uint32/uint64 in ONNX graphs: import (typed data fields, ops) against onnxruntime, and export."""
import io

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

TYPES = [(np.uint16, TensorProto.UINT16), (np.uint32, TensorProto.UINT32), (np.uint64, TensorProto.UINT64)]
IDS = ["uint16", "uint32", "uint64"]


def both(model, feeds, want=None):
    """tessel's outputs, equal to onnxruntime's (or to `want` where onnxruntime has no kernel for the type)."""
    data = model.SerializeToString()
    if want is None:
        want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    got = ts.onnx.InferenceSession(data).run(None, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_array_equal(g, w)
    return got


def model_of(nodes, inputs, outputs, initializers=(), opset=21):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(m, full_check=True)
    return m


@pytest.mark.parametrize("npd,code", TYPES, ids=IDS)
def test_arithmetic_bitwise_and_casts(npd, code):
    info = np.iinfo(npd)
    rng = np.random.default_rng(0)
    x = rng.integers(0, info.max, (3, 5), dtype=npd, endpoint=True)
    y = rng.integers(1, info.max, (3, 5), dtype=npd, endpoint=True)
    s = (np.arange(15, dtype=npd) % (8 * x.itemsize)).reshape(3, 5)
    t = lambda n: helper.make_tensor_value_info(n, code, [3, 5])  # noqa: E731
    nodes = [
        helper.make_node("Add", ["x", "y"], ["add"]), helper.make_node("Sub", ["x", "y"], ["sub"]),
        helper.make_node("Mul", ["x", "y"], ["mul"]), helper.make_node("Div", ["x", "y"], ["div"]),
        helper.make_node("Mod", ["x", "y"], ["mod"]),
        helper.make_node("BitShift", ["x", "s"], ["shl"], direction="LEFT"),
        helper.make_node("BitShift", ["x", "s"], ["shr"], direction="RIGHT"),
        helper.make_node("BitwiseAnd", ["x", "y"], ["band"]), helper.make_node("BitwiseNot", ["x"], ["bnot"]),
        helper.make_node("Less", ["x", "y"], ["lt"]),
        helper.make_node("Cast", ["x"], ["f64"], to=TensorProto.DOUBLE),
        helper.make_node("Cast", ["f64"], ["back"], to=code),
    ]
    outs = [t(n) for n in ("add", "sub", "mul", "div", "mod", "shl", "shr", "band", "bnot", "back")]
    outs += [helper.make_tensor_value_info("lt", TensorProto.BOOL, [3, 5]),
             helper.make_tensor_value_info("f64", TensorProto.DOUBLE, [3, 5])]
    both(model_of(nodes, [t("x"), t("y"), t("s")], outs), {"x": x, "y": y, "s": s})
    # ops onnxruntime has no kernels for at some of these types (Max, ReduceMax, ReduceSum): NumPy's values
    red, outs, want = [helper.make_node("Max", ["x", "y"], ["max"])], [t("max")], [np.maximum(x, y)]
    if npd is not np.uint16:  # the ONNX schemas of these take no uint16
        red += [helper.make_node("ReduceSum", ["x"], ["rsum"], keepdims=0),
                helper.make_node("ReduceMax", ["x"], ["rmax"], keepdims=0),
                helper.make_node("ArgMax", ["x"], ["amax"], axis=1, keepdims=0)]
        outs += [helper.make_tensor_value_info("rsum", code, []), helper.make_tensor_value_info("rmax", code, []),
                 helper.make_tensor_value_info("amax", TensorProto.INT64, [3])]
        with np.errstate(over="ignore"):
            want += [np.array(x.sum(dtype=npd)), np.array(x.max()), x.argmax(1)]
    both(model_of(red, [t("x"), t("y")], outs), {"x": x, "y": y}, want)


@pytest.mark.parametrize("npd,code", TYPES, ids=IDS)
def test_initializers_in_their_typed_fields(npd, code):
    # uint16 travels in int32_data, uint32 and uint64 in uint64_data; raw_data for the second
    vals = [0, 1, int(np.iinfo(npd).max), 7]
    typed = helper.make_tensor("w", code, [4], vals, raw=False)
    raw = helper.make_tensor("r", code, [4], np.array(vals, dtype=npd).tobytes(), raw=True)
    x = helper.make_tensor_value_info("x", code, [4])
    out = [helper.make_tensor_value_info(n, code, [4]) for n in ("a", "b")]
    m = model_of([helper.make_node("BitwiseXor", ["x", "w"], ["a"]), helper.make_node("Add", ["x", "r"], ["b"])],
                 [x], out, [typed, raw])
    got = both(m, {"x": np.array([5, 6, 7, 8], dtype=npd)})
    assert got[0].tolist() == [5, 7, int(np.iinfo(npd).max) ^ 7, 15]


def test_metadata_names_the_unsigned_types():
    x = helper.make_tensor_value_info("x", TensorProto.UINT32, ["n"])
    y = helper.make_tensor_value_info("y", TensorProto.UINT32, ["n"])
    sess = ts.onnx.InferenceSession(model_of([helper.make_node("Identity", ["x"], ["y"])], [x], [y]).SerializeToString())
    assert sess.get_inputs()[0].type == "tensor(uint32)" and sess.get_outputs()[0].type == "tensor(uint32)"


def test_export_of_unsigned_shifts_and_sums():
    def f(x, s):
        return (x << s) | (x >> 1), ts.sum(x, dim=1)

    x = ts.from_numpy(np.array([[1, 2**32 - 1, 9], [4, 5, 6]], dtype=np.uint32))
    s = ts.from_numpy(np.array([[1, 4, 31], [0, 2, 3]], dtype=np.uint32))
    buf = io.BytesIO()
    ts.onnx.export(f, (x, s), buf, input_names=["x", "s"])
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m, full_check=True)
    assert "BitShift" in {n.op_type for n in m.graph.node}
    want = [w.numpy() for w in f(x, s)]
    assert want[1].dtype == np.uint64
    both(m, {"x": x.numpy(), "s": s.numpy()}, want)  # onnxruntime has no ReduceSum for uint64
    shifts_only = io.BytesIO()
    ts.onnx.export(lambda a, b: (a << b) | (a >> 1), (x, s), shifts_only, input_names=["x", "s"])
    both(onnx.load_from_string(shifts_only.getvalue()), {"x": x.numpy(), "s": s.numpy()})
    with pytest.raises(Exception, match="BitShift takes unsigned"):
        ts.onnx.export(lambda a: a << 1, (ts.ones(2, dtype=ts.int32),), io.BytesIO())
