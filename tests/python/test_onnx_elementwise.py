"""ONNX elementwise, reduction and math ops: opset-version semantics and bad
input. Models are built with onnx.helper and run by tessel and by onnxruntime
(the reference); conformance at large is test_onnx_backend.py's job."""
import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")

RNG = np.random.default_rng(1)
F, I32, I64, B, U8 = TensorProto.FLOAT, TensorProto.INT32, TensorProto.INT64, TensorProto.BOOL, TensorProto.UINT8


def model(nodes, inputs, outputs, opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 9  # what the installed onnxruntime reads for these opsets
    # Outputs are declared without a shape; the checker wants one, so it is inferred (or,
    # for the deliberately broken models, left as "rank unknown" would be: a scalar placeholder).
    m = onnx.shape_inference.infer_shapes(m)
    for o in m.graph.output:
        if not o.type.tensor_type.HasField("shape"):
            o.type.tensor_type.shape.SetInParent()
    onnx.checker.check_model(m)
    return m


def tv(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def run_both(m, feed):
    data = m.SerializeToString()
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    got = tessel_run(m, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    return got


def tessel_run(m, feed):
    # Through Model.run, which keeps 0-d inputs 0-d (InferenceSession makes them 1-d).
    loaded = ts.onnx.load(m.SerializeToString())
    out = loaded.run({k: ts.as_tensor(np.asarray(v)) for k, v in feed.items()})
    return [out[o.name].numpy() for o in loaded.outputs]


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def unary_model(op, opset=13, elem=F, shape=(3, 4), out_elem=None, **attrs):
    return model([helper.make_node(op, ["x"], ["y"], name="n0", **attrs)], [tv("x", elem, list(shape))],
                 [tv("y", elem if out_elem is None else out_elem, None)], opset)


# ---- opset-version semantics ----------------------------------------------------------------------------


def test_clip_bounds_are_attributes_before_opset_11():
    x = f32(3, 4)
    run_both(unary_model("Clip", opset=6, min=-0.5, max=0.25), {"x": x})
    run_both(unary_model("Clip", opset=6, max=0.0), {"x": x})


def test_clip_bounds_are_inputs_from_opset_11():
    x = f32(3, 4)
    n = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
    m = model([n], [tv("x", F, [3, 4]), tv("lo", F, []), tv("hi", F, [])], [tv("y", F, None)])
    run_both(m, {"x": x, "lo": np.array(-0.5, np.float32), "hi": np.array(0.5, np.float32)})
    # min > max: every value becomes max.
    y = run_both(m, {"x": x, "lo": np.array(1.0, np.float32), "hi": np.array(-1.0, np.float32)})[0]
    assert (y == -1.0).all()
    # An omitted min (empty name), integer input (opset 12+).
    n = helper.make_node("Clip", ["x", "", "hi"], ["y"])
    m = model([n], [tv("x", I32, [5]), tv("hi", I32, [])], [tv("y", I32, None)])
    run_both(m, {"x": np.array([-3, 0, 2, 7, 9], np.int32), "hi": np.array(4, np.int32)})


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare"])
def test_reduce_axes_attribute_then_input(op):
    x = f32(2, 3, 4)
    # Before opset 18 axes is an attribute...
    run_both(unary_model(op, opset=13, shape=(2, 3, 4), axes=[0, -1], keepdims=0), {"x": x})
    # ...from opset 18 an input.
    n = helper.make_node(op, ["x", "axes"], ["y"], keepdims=1)
    m = model([n], [tv("x", F, [2, 3, 4]), tv("axes", I64, [2])], [tv("y", F, None)], opset=18)
    run_both(m, {"x": x, "axes": np.array([0, -1], np.int64)})


def test_reduce_sum_axes_input_from_opset_13():
    x = f32(2, 3)
    run_both(unary_model("ReduceSum", opset=11, shape=(2, 3), axes=[1]), {"x": x})
    n = helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)
    m = model([n], [tv("x", F, [2, 3]), tv("axes", I64, [1])], [tv("y", F, None)], opset=13)
    run_both(m, {"x": x, "axes": np.array([1], np.int64)})


@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_empty_axes(noop):
    # No axes: all dims reduced, or (noop_with_empty_axes) nothing but the elementwise part.
    x = f32(2, 3)
    n = helper.make_node("ReduceSumSquare", ["x"], ["y"], noop_with_empty_axes=noop)
    m = model([n], [tv("x", F, [2, 3])], [tv("y", F, None)], opset=18)
    y = run_both(m, {"x": x})[0]
    assert y.shape == ((2, 3) if noop else (1, 1))


def test_reduce_sum_keeps_integer_dtype():
    x = RNG.integers(-50, 50, (3, 4)).astype(np.int32)
    run_both(unary_model("ReduceSum", opset=11, elem=I32, shape=(3, 4), axes=[1]), {"x": x})
    run_both(unary_model("ReduceProd", opset=13, elem=I32, shape=(3, 4), axes=[0]), {"x": x % 5})


def test_softmax_and_hardmax_axis_semantics_changed_at_opset_13():
    x = f32(2, 3, 4)
    for op in ("Softmax", "LogSoftmax", "Hardmax"):
        # Opset 11: over the flattened dims from axis on; opset 13: along axis alone.
        a = run_both(unary_model(op, opset=11, shape=(2, 3, 4), axis=1), {"x": x})[0]
        b = run_both(unary_model(op, opset=13, shape=(2, 3, 4), axis=1), {"x": x})[0]
        assert not np.allclose(a, b)


def test_hardmax_first_maximum_wins():
    x = np.array([[1, 3, 3, 0], [2, 2, 2, 2]], np.float32)
    y = run_both(unary_model("Hardmax", opset=13, shape=(2, 4)), {"x": x})[0]
    np.testing.assert_array_equal(y, [[0, 1, 0, 0], [1, 0, 0, 0]])


@pytest.mark.parametrize("last", [0, 1])
@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
def test_argmax_select_last_index(op, last):
    x = np.array([[2, 5, 5, 1], [1, 1, 0, 0]], np.float32)
    run_both(unary_model(op, shape=(2, 4), axis=1, keepdims=0, select_last_index=last,
                         out_elem=I64), {"x": x})
    run_both(unary_model(op, shape=(2, 4), axis=0, select_last_index=last, out_elem=I64), {"x": x})


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
def test_cumsum_exclusive_reverse(exclusive, reverse):
    n = helper.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)
    m = model([n], [tv("x", I32, [2, 5]), tv("axis", I64, [])], [tv("y", I32, None)])
    run_both(m, {"x": RNG.integers(-9, 9, (2, 5)).astype(np.int32), "axis": np.array(-1, np.int64)})


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset_20(approximate):
    run_both(unary_model("Gelu", opset=20, approximate=approximate), {"x": f32(3, 4) * 3})


@pytest.mark.parametrize("op,attrs", [
    ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.5}), ("Selu", {}), ("Celu", {"alpha": 2.0}),
    ("ThresholdedRelu", {"alpha": 0.3}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}),
    ("Softplus", {}), ("Softsign", {}), ("Mish", {}), ("Shrink", {"lambd": 0.4, "bias": 0.1}),
])
def test_activations_with_attributes(op, attrs):
    opset = 18 if op == "Mish" else 14
    run_both(unary_model(op, opset=opset, **attrs), {"x": f32(3, 4) * 2})


def test_mod_fmod_and_integer_sign_rules():
    a = np.array([-7, 7, -7, 7, 5], np.int32)
    b = np.array([3, -3, -3, 3, 5], np.int32)
    for fmod in (0, 1):
        n = helper.make_node("Mod", ["a", "b"], ["y"], fmod=fmod)
        m = model([n], [tv("a", I32, [5]), tv("b", I32, [5])], [tv("y", I32, None)])
        run_both(m, {"a": a, "b": b})


def test_pow_exponent_of_another_type():
    n = helper.make_node("Pow", ["x", "e"], ["y"])
    m = model([n], [tv("x", F, [4]), tv("e", I64, [4])], [tv("y", F, None)], opset=15)
    run_both(m, {"x": f32(4), "e": np.array([0, 1, 2, 3], np.int64)})
    m = model([n], [tv("x", I64, [4]), tv("e", F, [4])], [tv("y", I64, None)], opset=15)
    run_both(m, {"x": np.array([1, 2, 3, 4], np.int64), "e": np.array([2.0, 0.5, 1.0, 3.0], np.float32)})


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift_uint8(direction):
    n = helper.make_node("BitShift", ["x", "s"], ["y"], direction=direction)
    m = model([n], [tv("x", U8, [4]), tv("s", U8, [4])], [tv("y", U8, None)], opset=11)
    run_both(m, {"x": np.array([1, 200, 255, 16], np.uint8), "s": np.array([1, 2, 7, 4], np.uint8)})


def test_variadic_max_min_sum_mean():
    xs = [f32(3, 1), f32(1, 4), f32(3, 4)]
    for op in ("Max", "Min", "Sum", "Mean"):
        n = helper.make_node(op, ["a", "b", "c"], ["y"])
        m = model([n], [tv("a", F, [3, 1]), tv("b", F, [1, 4]), tv("c", F, [3, 4])], [tv("y", F, None)])
        run_both(m, dict(zip("abc", xs)))


def test_cast_and_castlike():
    x = np.array([-2.7, -0.5, 0.0, 0.5, 1.5, 100.25], np.float32)  # in range: out-of-range is undefined
    for to in (TensorProto.INT32, TensorProto.INT8, TensorProto.INT64, TensorProto.BOOL,
               TensorProto.FLOAT16, TensorProto.DOUBLE):
        m = model([helper.make_node("Cast", ["x"], ["y"], to=to)], [tv("x", F, [6])], [tv("y", to, None)])
        run_both(m, {"x": x})
    n = helper.make_node("CastLike", ["x", "like"], ["y"])
    m = model([n], [tv("x", F, [6]), tv("like", I32, [1])], [tv("y", I32, None)], opset=15)
    run_both(m, {"x": x, "like": np.zeros(1, np.int32)})


def test_isinf_detect_sign():
    x = np.array([-np.inf, np.inf, 0.0, np.nan], np.float32)
    for neg, pos in ((1, 1), (1, 0), (0, 1), (0, 0)):
        m = model([helper.make_node("IsInf", ["x"], ["y"], detect_negative=neg, detect_positive=pos)],
                  [tv("x", F, [4])], [tv("y", B, None)], opset=10)
        run_both(m, {"x": x})


def test_einsum_and_det():
    n = helper.make_node("Einsum", ["a", "b"], ["y"], equation="bij, bjk -> bik")
    m = model([n], [tv("a", F, [2, 3, 4]), tv("b", F, [2, 4, 5])], [tv("y", F, None)], opset=12)
    run_both(m, {"a": f32(2, 3, 4), "b": f32(2, 4, 5)})
    m = model([helper.make_node("Det", ["x"], ["y"])], [tv("x", F, [2, 3, 3])], [tv("y", F, None)], opset=11)
    run_both(m, {"x": f32(2, 3, 3)})


# ---- bad input: clear errors that name the node ---------------------------------------------------------


def test_mixed_dtypes_are_a_type_error():
    for op in ("Add", "Mul", "Less", "Max", "BitwiseAnd"):
        n = helper.make_node(op, ["a", "b"], ["y"], name="mixed")
        elem = I32 if op == "BitwiseAnd" else F
        m = model([n], [tv("a", elem, [2]), tv("b", I64, [2])], [tv("y", F, None)], opset=18)
        a = np.ones(2, np.int32 if op == "BitwiseAnd" else np.float32)
        with pytest.raises(TypeError, match=rf"\[onnx\.{op}\] node 'mixed'.*same dtype"):
            tessel_run(m, {"a": a, "b": np.ones(2, np.int64)})


def test_wrong_attribute_type():
    # An INT attribute where the schema wants a FLOAT (the checker would refuse it, so it is skipped).
    n = helper.make_node("LeakyRelu", ["x"], ["y"], name="n0", alpha=1)
    g = helper.make_graph([n], "g", [tv("x", F, [3, 4])], [tv("y", F, [3, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ValueError, match=r"\[onnx\.LeakyRelu\] node 'n0'.*'alpha' must be a float"):
        tessel_run(m, {"x": f32(3, 4)})


def test_input_dtype_the_op_does_not_accept():
    m = unary_model("Exp", elem=I32)
    with pytest.raises(TypeError, match=r"\[onnx\.Exp\] node 'n0'.*int32"):
        tessel_run(m, {"x": np.ones((3, 4), np.int32)})
    n = helper.make_node("Where", ["c", "a", "b"], ["y"], name="w")
    m = model([n], [tv("c", F, [2]), tv("a", F, [2]), tv("b", F, [2])], [tv("y", F, None)])
    with pytest.raises(TypeError, match="condition must be bool"):
        tessel_run(m, {"c": f32(2), "a": f32(2), "b": f32(2)})


@pytest.mark.parametrize("elem,x", [
    (F, np.array([0.1, -2.5, 1e-7, 3e20, np.nan, np.inf, -np.inf, 100.0, 0.0, 1 / 3], np.float32)),
    (TensorProto.DOUBLE, np.array([0.1, 1 / 3, -1e300, 2.0 ** 60], np.float64)),
    (TensorProto.INT64, np.array([0, -5, 123456789012], np.int64)),
    (TensorProto.BOOL, np.array([True, False])),
])
def test_cast_to_string_matches_onnxruntime(elem, x):
    # Strings are a runtime value of their own (tessel's Tensor has no string dtype).
    m = model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.STRING, name="c")], [tv("x", elem, [None])],
              [tv("y", TensorProto.STRING, None)])
    data = m.SerializeToString()
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = ts.onnx.InferenceSession(data).run(None, {"x": x})[0]
    assert got.dtype == object and got.tolist() == want.tolist()


def test_bad_attribute_values():
    n = helper.make_node("BitShift", ["x", "s"], ["y"], direction="UP", name="b")
    m = model([n], [tv("x", U8, [1]), tv("s", U8, [1])], [tv("y", U8, None)], opset=11)
    with pytest.raises(ValueError, match="direction"):
        tessel_run(m, {"x": np.ones(1, np.uint8), "s": np.ones(1, np.uint8)})
    m = unary_model("ReduceSum", opset=11, axes=[0, 0])
    with pytest.raises(ValueError, match="repeated axis"):
        tessel_run(m, {"x": f32(3, 4)})
    m = unary_model("ArgMax", axis=5)
    with pytest.raises(ValueError, match=r"\[onnx\.ArgMax\].*axis 5 is out of range"):
        tessel_run(m, {"x": f32(3, 4)})


def test_axes_attribute_after_it_became_an_input():
    m = unary_model("ReduceMean", opset=13, axes=[0])
    m.opset_import[0].version = 18
    m.ir_version = 9
    with pytest.raises(ValueError, match="axes is an input since opset 18"):
        tessel_run(m, {"x": f32(3, 4)})


def test_clip_bound_must_be_scalar_of_input_dtype():
    n = helper.make_node("Clip", ["x", "lo"], ["y"], name="c")
    m = model([n], [tv("x", F, [3]), tv("lo", TensorProto.DOUBLE, [])], [tv("y", F, None)])
    with pytest.raises(TypeError, match="min must have the input's dtype"):
        tessel_run(m, {"x": f32(3), "lo": np.array(0.0)})
    m = model([n], [tv("x", F, [3]), tv("lo", F, [2])], [tv("y", F, None)])
    with pytest.raises(ValueError, match="min must be a scalar"):
        tessel_run(m, {"x": f32(3), "lo": f32(2)})
