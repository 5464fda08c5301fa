"""ONNX import: models built here with onnx.helper, run by tessel and by
onnxruntime (the reference) on the same random inputs."""
import os

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")

RNG = np.random.default_rng(0)


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def init(name, arr):
    return numpy_helper.from_array(arr, name)


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8  # what the installed onnxruntime reads for every opset used here
    onnx.checker.check_model(m)
    return m


def tv(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def compare(m, feed, atol=1e-5):
    data = m.SerializeToString()
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    want = ref.run(None, feed)
    got = ts.onnx.InferenceSession(data).run(None, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=atol)


def mlp():
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("MatMul", ["hr", "W2"], ["o"]),
        helper.make_node("Add", ["o", "b2"], ["o2"]),
        helper.make_node("Sigmoid", ["o2"], ["s"]),
        helper.make_node("Tanh", ["o2"], ["t"]),
        helper.make_node("Mul", ["s", "t"], ["m"]),
        helper.make_node("Sub", ["m", "b2"], ["d"]),
        helper.make_node("Div", ["d", "scale"], ["y"]),
    ]
    inits = [init("W1", f32(16, 8)), init("b1", f32(16)), init("W2", f32(16, 4)), init("b2", f32(4)),
             init("scale", np.full((4,), 2.5, np.float32))]
    return model(nodes, [tv("x", ["batch", 8])], [tv("y", ["batch", 4])], inits)


def test_mlp_matches_onnxruntime():
    compare(mlp(), {"x": f32(5, 8)})


def test_gemm_alpha_beta_trans_a():
    nodes = [helper.make_node("Gemm", ["a", "B", "C"], ["y"], alpha=0.5, beta=2.0, transA=1)]
    m = model(nodes, [tv("a", [3, 4])], [tv("y", [4, 5])], [init("B", f32(3, 5)), init("C", f32(1, 5))])
    compare(m, {"a": f32(3, 4)})


def cnn(pads=(1, 1, 1, 1)):
    c = 4
    nodes = [
        helper.make_node("Conv", ["x", "Wc", "bc"], ["c1"], kernel_shape=[3, 3], pads=list(pads), strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g", "beta", "mu", "var"], ["bn"], epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p", "Wg"], ["c2"], kernel_shape=[3, 3], group=2, auto_pad="SAME_UPPER"),
        helper.make_node("AveragePool", ["c2"], ["ap"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["ap"], ["gp"]),
        helper.make_node("Flatten", ["gp"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "Wf", "bf"], ["y"], transB=1),
    ]
    inits = [init("Wc", f32(c, 3, 3, 3)), init("bc", f32(c)), init("g", f32(c)), init("beta", f32(c)),
             init("mu", f32(c)), init("var", RNG.uniform(0.5, 2, c).astype(np.float32)),
             init("Wg", f32(c, c // 2, 3, 3)), init("Wf", f32(10, c)), init("bf", f32(10))]
    return model(nodes, [tv("x", ["N", 3, 12, 12])], [tv("y", ["N", 10])], inits)


def test_cnn_matches_onnxruntime():
    compare(cnn(), {"x": f32(2, 3, 12, 12)})


def test_conv_asymmetric_pads_match_onnxruntime():
    compare(cnn(pads=(0, 1, 2, 0)), {"x": f32(1, 3, 12, 12)})


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_opset13(axis):
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=axis)], [tv("x", [2, 3, 4])], [tv("y", [2, 3, 4])])
    compare(m, {"x": f32(2, 3, 4)})


def test_softmax_opset11_flattens_from_axis():
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], [tv("x", [2, 3, 4])], [tv("y", [2, 3, 4])],
              opset=11)
    compare(m, {"x": f32(2, 3, 4)})


def test_shape_ops_match_onnxruntime():
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        helper.make_node("Constant", [], ["rest"], value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Concat", ["n1", "rest"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Identity", ["t"], ["t2"]),
        helper.make_node("Gather", ["x", "idx"], ["g"], axis=2),
        helper.make_node("Concat", ["x", "x"], ["c"], axis=-1),
    ]
    inits = [init("zero", np.array(0, np.int64)), init("axes0", np.array([0], np.int64)),
             init("idx", np.array([[0, -1], [2, 1]], np.int64))]
    m = model(nodes, [tv("x", ["N", 3, 4])], [tv("r", ["N", 12]), tv("t2", ["N", 4, 3]), tv("g", ["N", 3, 2, 2]),
                                               tv("c", ["N", 3, 8])], inits)
    compare(m, {"x": f32(2, 3, 4)})


def test_metadata_with_symbolic_batch_dim():
    data = mlp().SerializeToString()
    m = ts.onnx.load(data)
    assert [i.name for i in m.inputs] == ["x"] and m.inputs[0].shape == ["batch", 8]
    assert m.inputs[0].type == "tensor(float)" and m.inputs[0].dtype == ts.float32
    assert m.outputs[0].shape == ["batch", 4]
    assert m.opset == 13 and m.ir_version == 8
    sess = ts.onnx.InferenceSession(data)
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for mine, theirs in [(sess.get_inputs(), ref.get_inputs()), (sess.get_outputs(), ref.get_outputs())]:
        assert [(a.name, a.type, a.shape) for a in mine] == [(a.name, a.type, a.shape) for a in theirs]


def test_callable_model_returns_tensor():
    data = mlp().SerializeToString()
    m = ts.onnx.load(data)
    x = f32(3, 8)
    y = m(ts.as_tensor(x))
    assert isinstance(y, ts.Tensor) and tuple(y.shape) == (3, 4)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)


def test_bad_feeds_raise():
    m = ts.onnx.load(mlp().SerializeToString())
    with pytest.raises(ValueError, match="was not fed"):
        m.run({})
    with pytest.raises(ValueError, match="'nope' is not an input"):
        m.run({"x": ts.ones([2, 8]), "nope": ts.ones([1])})
    with pytest.raises(ValueError, match="dim 1 must be 8"):
        m.run({"x": ts.ones([2, 7])})
    with pytest.raises(TypeError, match="tensor\\(float\\)"):
        m.run({"x": ts.ones([2, 8], dtype=ts.float64)})


def test_unknown_op_names_op_and_node():
    n = helper.make_node("NoSuchOp", ["x"], ["y"], name="my_op")  # every default-domain ONNX op runs now
    m = helper.make_model(helper.make_graph([n], "g", [tv("x", [2])], [tv("y", [2])]),
                          opset_imports=[helper.make_opsetid("", 13)])  # (not checked: onnx knows no such op)
    loaded = ts.onnx.load(m.SerializeToString())
    with pytest.raises(NotImplementedError, match="my_op.*'NoSuchOp'"):
        loaded.run({"x": ts.ones([2])})


def test_typed_field_initializers():
    # float_data / int64_data instead of raw_data.
    W = helper.make_tensor("W", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [4])
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Reshape", ["y", "shape"], ["z"])]
    m = model(nodes, [tv("x", [2, 2])], [tv("z", [4])], [W, shape])
    compare(m, {"x": f32(2, 2)})


def _save_external(tmp_path, location):
    m = mlp()
    w = m.graph.initializer[0]
    arr = numpy_helper.to_array(w)
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in [("location", location), ("offset", "0"), ("length", str(arr.nbytes))]:
        e = w.external_data.add()
        e.key, e.value = k, v
    return m, arr


def test_external_data_inside_folder(tmp_path):
    m, arr = _save_external(tmp_path, "weights.bin")
    (tmp_path / "weights.bin").write_bytes(arr.tobytes())
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    x = f32(2, 8)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = ts.onnx.InferenceSession(str(path)).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_external_data_outside_folder_refused(tmp_path):
    sub = tmp_path / "model"
    sub.mkdir()
    m, arr = _save_external(tmp_path, "../x.bin")
    (tmp_path / "x.bin").write_bytes(arr.tobytes())
    path = sub / "m.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(ValueError, match="outside the model's folder"):
        ts.onnx.load(str(path))
    m2, _ = _save_external(tmp_path, str(tmp_path / "x.bin"))
    path.write_bytes(m2.SerializeToString())
    with pytest.raises(ValueError, match="relative path"):
        ts.onnx.load(str(path))


def test_external_data_from_bytes_refused(tmp_path):
    m, _ = _save_external(tmp_path, "weights.bin")
    with pytest.raises(ValueError, match="external data"):
        ts.onnx.load(m.SerializeToString())


def test_external_data_short_file(tmp_path):
    m, arr = _save_external(tmp_path, "weights.bin")
    (tmp_path / "weights.bin").write_bytes(arr.tobytes()[:10])
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(ValueError, match="initializer 'W1'.*fewer than"):
        ts.onnx.load(str(path))


def test_truncated_file_raises_value_error(tmp_path):
    data = cnn().SerializeToString()
    path = tmp_path / "trunc.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="trunc.onnx"):
        ts.onnx.load(str(path))


def test_corrupt_file_raises_value_error(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\xff\xfe not a protobuf at all \x00\x01" * 8)
    with pytest.raises(ValueError, match="corrupt.onnx"):
        ts.onnx.load(str(path))
    with pytest.raises(ValueError, match="no such file"):
        ts.onnx.load(str(tmp_path / "missing.onnx"))


def test_dangling_input_names_node():
    n = helper.make_node("Relu", ["nowhere"], ["y"], name="r1")
    g = helper.make_graph([n], "g", [tv("x", [2])], [tv("y", [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ValueError, match="node 'r1'.*'nowhere'"):
        ts.onnx.load(m.SerializeToString())


def test_raw_data_size_mismatch_names_initializer():
    m = mlp()
    m.graph.initializer[1].raw_data = b"\x00" * 3
    with pytest.raises(ValueError, match="initializer 'b1'.*raw_data"):
        ts.onnx.load(m.SerializeToString())


def test_absurd_declared_size_fails_cleanly():
    # Declares ~2^38 floats with 4 bytes of data: an error, not an allocation.
    W = helper.make_tensor("W", TensorProto.FLOAT, [1], [1.0])
    W.dims[:] = [1 << 19, 1 << 19]
    g = helper.make_graph([helper.make_node("Identity", ["W"], ["y"])], "g", [], [tv("y", None)], [W])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ValueError, match="initializer 'W'.*float_data holds 1 values"):
        ts.onnx.load(m.SerializeToString())


@pytest.mark.parametrize("attr,value", [("value_float", 2.5), ("value_int", 7), ("value_ints", [1, 2, 3]),
                                        ("value_floats", [0.5, -1.0])])
def test_constant_value_attributes(attr, value):
    const = helper.make_node("Constant", [], ["c"], **{attr: value})
    elem = TensorProto.INT64 if "int" in attr else TensorProto.FLOAT
    shape = [] if attr in ("value_float", "value_int") else [len(value)]
    m = model([const, helper.make_node("Identity", ["x"], ["y"])], [tv("x", [1])], [tv("c", shape, elem), tv("y", [1])])
    compare(m, {"x": f32(1)})


def test_wrong_attribute_type_names_node():
    # Constant's value_int given as a string: a clear error, not a crash.
    const = helper.make_node("Constant", [], ["c"], name="k")
    const.attribute.append(helper.make_attribute("value_int", "seven"))
    g = helper.make_graph([const], "g", [], [tv("c", [], TensorProto.INT64)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    loaded = ts.onnx.load(m.SerializeToString())
    with pytest.raises(ValueError, match="node 'k'.*'value_int' must be an int"):
        loaded.run({})


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0])),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[3, 3], auto_pad="SAME_LOWER")),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[2, 3], pads=[1, 0, 0, 1], count_include_pad=1)),
    ("GlobalMaxPool", {}),
])
def test_pooling_variants(op, attrs):
    m = model([helper.make_node(op, ["x"], ["y"], **attrs)], [tv("x", [2, 3, 7, 7])], [tv("y", [None] * 4)])
    compare(m, {"x": f32(2, 3, 7, 7)})


def test_conv1d_strided_dilated():
    m = model([helper.make_node("Conv", ["x", "W"], ["y"], strides=[2], dilations=[2], pads=[1, 2])],
              [tv("x", [1, 2, 11])], [tv("y", [None] * 3)], [init("W", f32(4, 2, 3))])
    compare(m, {"x": f32(1, 2, 11)})


def test_outputs_do_not_alias_inputs_or_weights():
    nodes = [helper.make_node("Identity", ["x"], ["y"]), helper.make_node("Reshape", ["W", "s"], ["w"])]
    m = model(nodes, [tv("x", [2])], [tv("y", [2]), tv("w", [4])],
              [init("W", np.arange(4, dtype=np.float32).reshape(2, 2)), init("s", np.array([4], np.int64))])
    sess = ts.onnx.InferenceSession(m.SerializeToString())
    x = np.ones(2, np.float32)
    y, w = sess.run(None, {"x": x})
    y[0], w[0] = 5.0, 9.0
    assert x[0] == 1.0
    y2, w2 = sess.run(None, {"x": x})
    np.testing.assert_array_equal(w2, [0, 1, 2, 3])


# Found by tests/fuzz/fuzz_onnx.cpp: SAME_* auto_pad divided by a zero stride (SIGFPE).
POOL_ZERO_STRIDE = (
    b'\x08\x08:\x80\x01\nS\n\x01x\x12\x01y"\x07MaxPool*\x19\n\x08auto_pad"\nSAME_LOWER\xa0\x01\x03*\x15\n'
    b'\x0ckernel_shape@\x02@\x02\xa0\x01\x07*\x10\n\x07strides@\x00@\x00\xa0\x01\x07\x12\x01gZ\x1b\n\x01x\x12\x16'
    b'\n\x14\x08\x01\x12\x10\n\x02\x08\x01\n\x02\x08\x01\n\x02\x08\x05\n\x02\x08\x05b\t\n\x01y\x12\x04\n\x02\x08'
    b'\x01B\x04\n\x00\x10\r')


def test_fuzz_pool_zero_stride_same_pad_raises():
    m = ts.onnx.load(POOL_ZERO_STRIDE)
    with pytest.raises(ValueError, match="MaxPool.*strides \\[0, 0\\] must be positive"):
        m.run({"x": ts.zeros([1, 1, 5, 5])})


@pytest.mark.parametrize("attrs, msg", [
    (dict(strides=[0, 1], auto_pad="SAME_UPPER"), "strides .* must be positive"),
    (dict(strides=[1, 0]), "strides .* must be positive"),
    (dict(dilations=[0, 1], auto_pad="SAME_LOWER"), "dilations .* must be positive"),
    (dict(kernel_shape=[3], auto_pad="SAME_UPPER"), "kernel_shape \\[3\\] differs"),
    (dict(kernel_shape=[5, 5]), "kernel_shape \\[5, 5\\] differs"),
])
def test_conv_bad_stride_dilation_kernel_raise(attrs, msg):
    g = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], **attrs)], "g", [tv("x", [1, 1, 5, 5])],
                          [tv("y", None)], [init("W", f32(2, 1, 3, 3))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])  # invalid on purpose: no checker
    loaded = ts.onnx.load(m.SerializeToString())
    with pytest.raises(ValueError, match="Conv.*" + msg):
        loaded.run({"x": ts.zeros([1, 1, 5, 5])})


# Found by tests/fuzz/fuzz_onnx.cpp: protobuf does not check that names are UTF-8,
# and such bytes in a name or an echoed attribute broke the Python error/str
# conversion (UnicodeDecodeError instead of a ValueError naming the field).
@pytest.mark.parametrize("where", ["node_name", "op_type", "input_name", "dim_param", "producer"])
def test_names_that_are_not_utf8_raise_value_error(where):
    # The Python protobuf refuses such strings, so a placeholder is swapped in the bytes.
    n = helper.make_node("Relu", ["x"], ["y"], name="relu")
    m = model([n], [tv("x", [2])], [tv("y", [2])])
    if where == "node_name":
        m.graph.node[0].name = "QQQQ"
    elif where == "op_type":
        m.graph.node[0].op_type = "QQQQ"
    elif where == "input_name":
        m.graph.node[0].input[0] = m.graph.input[0].name = "QQQQ"
    elif where == "dim_param":
        m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "QQQQ"
    else:
        m.producer_name = "QQQQ"
    data = m.SerializeToString().replace(b"QQQQ", b"x\xd3\xfb\xff")
    with pytest.raises(ValueError, match="is not valid UTF-8") as e:
        ts.onnx.load(data)
    assert not isinstance(e.value, UnicodeDecodeError)


def test_auto_pad_bytes_not_echoed():
    n = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], auto_pad="SAME_QQQQ")
    m = model([n], [tv("x", [1, 1, 4, 4])], [tv("y", [None] * 4)])
    loaded = ts.onnx.load(m.SerializeToString().replace(b"QQQQ", b"x\xd3\xfb\xff"))
    with pytest.raises(ValueError, match="auto_pad \\(not text\\) must be NOTSET") as e:
        loaded.run({"x": ts.zeros([1, 1, 4, 4])})
    assert not isinstance(e.value, UnicodeDecodeError)


@pytest.mark.parametrize("scale,pooled", [(1.0, [2, 3]), (0.5, [3, 3]), (0.25, [1, 1]), (1.0, [4, 2])])
def test_max_roi_pool_matches_onnxruntime(scale, pooled):
    # regions inside, rounded, a single pixel, partly outside (clipped), wholly outside (zeros)
    n = helper.make_node("MaxRoiPool", ["x", "rois"], ["y"], pooled_shape=pooled, spatial_scale=scale)
    m = model([n], [tv("x", [2, 3, 9, 11]), tv("rois", [5, 5])], [tv("y", [5, 3] + pooled)])
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 11)).astype(np.float32)
    rois = np.array([[0, 0, 0, 10, 8], [1, 2.4, 1.6, 7.5, 6.5], [0, 5, 5, 5, 5], [1, -3, -2, 4, 20],
                     [0, 12, 12, 30, 30]], np.float32)
    feed = {"x": x, "rois": rois}
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    got = ts.onnx.InferenceSession(m.SerializeToString()).run(None, feed)[0]
    np.testing.assert_array_equal(got, want)
    bad = dict(feed, rois=np.array([[2, 0, 0, 1, 1]] * 5, np.float32))
    with pytest.raises(IndexError, match="MaxRoiPool.*roi 0: batch index 2 is out of range"):
        ts.onnx.InferenceSession(m.SerializeToString()).run(None, bad)

