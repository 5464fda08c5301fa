"""ONNX import of the index and shape ops (src/onnx/ops_index.cpp, ops_shape.cpp):
single-node models built with onnx.helper, run by tessel and by onnxruntime."""
import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")

RNG = np.random.default_rng(0)
ELEM = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE, np.int64: TensorProto.INT64,
        np.int32: TensorProto.INT32, np.uint8: TensorProto.UINT8, np.bool_: TensorProto.BOOL,
        np.int8: TensorProto.INT8}


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def i64(*values):
    return np.array(values, dtype=np.int64)


def node_model(op, feed, consts=None, n_out=1, opset=13, **attrs):
    """A one-node model: `feed` arrays are graph inputs, `consts` initializers
    (None leaves an optional input out); inputs are wired in the given order."""
    consts = consts or {}
    names, inits, inputs = [], [], []
    for name, arr in list(feed.items()) + list(consts.items()):
        names.append(name if arr is not None else "")
    for name, arr in feed.items():
        inputs.append(helper.make_tensor_value_info(name, ELEM[arr.dtype.type], arr.shape))
    for name, arr in consts.items():
        if arr is not None:
            inits.append(numpy_helper.from_array(arr, name))
    outs = [f"y{k}" for k in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    g = helper.make_graph([node], "g", inputs, [helper.make_empty_tensor_value_info(o) for o in outs], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return typed_outputs(m)


def typed_outputs(m):
    # Output dtypes from ONNX shape inference (shapes left out: the runtimes compute them).
    inferred = onnx.shape_inference.infer_shapes(m).graph.output
    for out, inf in zip(m.graph.output, inferred):
        if inf.type.tensor_type.elem_type:
            out.type.tensor_type.elem_type = inf.type.tensor_type.elem_type
    return m


def run_both(m, feed):
    data = m.SerializeToString()
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    got = ts.onnx.InferenceSession(data).run(None, feed)
    return got, want


def compare(m, feed, atol=1e-5, rtol=1e-5):
    got, want = run_both(m, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def run_ts(m, feed):
    return ts.onnx.InferenceSession(m.SerializeToString()).run(None, feed)


# ---- Slice ----

@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([0, 1], [2, 3], [0, 1], [1, 1]),
    ([-1], [-100], [1], [-1]),              # negative step to the front
    ([10], [-10], [2], [-2]),              # clamped start, negative step 2
    ([1, 0], [1000, 2], [-1, 0], [2, 1]),  # clamped end, negative axis
    ([0], [np.iinfo(np.int64).max], [1], [3]),
    ([-3], [np.iinfo(np.int64).min], [2], [-1]),
    ([2], [1], [0], [1]),                  # empty
])
def test_slice_opset13(starts, ends, axes, steps):
    x = f32(3, 5, 6)
    m = node_model("Slice", {"x": x}, {"s": i64(*starts), "e": i64(*ends), "a": i64(*axes), "st": i64(*steps)})
    compare(m, {"x": x})


def test_slice_without_axes_and_steps():
    x = f32(4, 5)
    compare(node_model("Slice", {"x": x}, {"s": i64(1, -4), "e": i64(3, 100)}), {"x": x})


def test_slice_opset1_attributes():
    x = f32(4, 5, 3)
    m = node_model("Slice", {"x": x}, opset=9, starts=[1, -2], ends=[100, -1], axes=[0, 2])
    compare(m, {"x": x})


def test_slice_zero_step_and_repeated_axis_raise():
    x = f32(4, 5)
    m = node_model("Slice", {"x": x}, {"s": i64(0), "e": i64(2), "a": i64(0), "st": i64(0)})
    with pytest.raises(ValueError, match=r"Slice.*steps must not be 0"):
        run_ts(m, {"x": x})
    m = node_model("Slice", {"x": x}, {"s": i64(0, 0), "e": i64(2, 2), "a": i64(1, -1)})
    with pytest.raises(ValueError, match="repeat axis"):
        run_ts(m, {"x": x})
    m = node_model("Slice", {"x": x}, {"s": i64(0), "e": i64(2), "a": i64(5)})
    with pytest.raises(ValueError, match="axis 5 is out of range"):
        run_ts(m, {"x": x})


# ---- Pad ----

@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [[0, 1, 2, 0, 2, 1], [1, 0, 0, 1, 1, 2], [0, -1, 1, 0, 1, -2]])
def test_pad_modes(mode, pads):
    x = f32(2, 4, 5)
    compare(node_model("Pad", {"x": x}, {"p": i64(*pads), "v": np.array(1.5, np.float32)}, mode=mode, opset=19),
            {"x": x})


def test_pad_axes_input_opset18():
    x = f32(2, 4, 5)
    m = node_model("Pad", {"x": x}, {"p": i64(1, 2, 3, 0), "v": None, "a": i64(-1, 0)}, opset=18, mode="edge")
    compare(m, {"x": x})


def test_pad_opset2_attributes_and_int_values():
    x = f32(3, 4)
    compare(node_model("Pad", {"x": x}, opset=10, pads=[1, 0, 0, 2], value=2.0), {"x": x})
    xi = RNG.integers(-5, 5, (3, 4)).astype(np.int64)
    compare(node_model("Pad", {"x": xi}, {"p": i64(1, 1, 0, 0), "v": np.array(7, np.int64)}), {"x": xi})


def test_pad_errors():
    x = f32(2, 3)
    with pytest.raises(ValueError, match=r"\[onnx.Pad\].*pads .* must have 4 values"):
        run_ts(node_model("Pad", {"x": x}, {"p": i64(1, 1)}), {"x": x})
    with pytest.raises(ValueError, match="reflect pads"):
        run_ts(node_model("Pad", {"x": x}, {"p": i64(0, 3, 0, 0)}, mode="reflect"), {"x": x})
    with pytest.raises(ValueError, match="mode 'bogus'"):
        run_ts(node_model("Pad", {"x": x}, {"p": i64(0, 0, 0, 0)}, mode="bogus"), {"x": x})
    with pytest.raises(ValueError, match="too large"):
        run_ts(node_model("Pad", {"x": x}, {"p": i64(0, 1 << 40, 0, 1 << 40)}), {"x": x})


# ---- Split ----

def test_split_variants():
    x = f32(6, 5)
    compare(node_model("Split", {"x": x}, n_out=3), {"x": x})
    compare(node_model("Split", {"x": x}, {"s": i64(1, 4)}, n_out=2, axis=1), {"x": x})
    compare(node_model("Split", {"x": x}, n_out=2, opset=11, split=[2, 4]), {"x": x})
    compare(node_model("Split", {"x": x}, n_out=2, opset=18, axis=-1, num_outputs=2), {"x": x})
    compare(node_model("Split", {"x": x}, n_out=4, opset=18, num_outputs=4), {"x": x})


def test_split_errors():
    x = f32(5, 2)
    # Shape inference at load may report it first, in its own words; either names the node.
    with pytest.raises(ValueError, match=r"\[onnx.Split\] node .*(does not split evenly|sum)"):
        run_ts(node_model("Split", {"x": x}, n_out=2), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.Split\] node .*sum"):
        run_ts(node_model("Split", {"x": x}, {"s": i64(1, 2)}, n_out=2), {"x": x})


# ---- Gather family, Scatter family ----

def test_gather_negative_indices():
    x = f32(5, 4)
    compare(node_model("Gather", {"x": x}, {"i": i64(-1, 0, -5)}, axis=0), {"x": x})
    compare(node_model("Gather", {"x": x}, {"i": np.array([[-1, 2], [0, 1]], np.int64)}, axis=1), {"x": x})


def test_gather_elements():
    x = f32(3, 4)
    idx = np.array([[0, -1, 2], [1, 0, 3]], np.int64)
    compare(node_model("GatherElements", {"x": x}, {"i": idx}, axis=1), {"x": x})
    idx = np.array([[2, 0, 1, -3]], np.int32)
    compare(node_model("GatherElements", {"x": x}, {"i": idx}, axis=0), {"x": x})
    with pytest.raises(IndexError, match="GatherElements.*index 4 is out of range"):
        run_ts(node_model("GatherElements", {"x": x}, {"i": np.array([[4]], np.int64)}, axis=1), {"x": x})


@pytest.mark.parametrize("batch_dims,idx", [
    (0, [[0, 1], [1, -1]]),
    (0, [[1], [0]]),
    (1, [[1], [0]]),
    (1, [[[0, 1]], [[1, 2]]]),
    (0, [[[0, 0, 1]], [[1, 2, 3]]]),
])
def test_gather_nd(batch_dims, idx):
    x = f32(2, 3, 4)
    compare(node_model("GatherND", {"x": x}, {"i": np.array(idx, np.int64)}, batch_dims=batch_dims), {"x": x})


@pytest.mark.parametrize("reduction,opset", [("none", 13), ("add", 16), ("mul", 16), ("max", 18), ("min", 18)])
def test_scatter_elements(reduction, opset):
    x = f32(3, 4)
    idx = np.array([[1, 0, 2, -1], [0, 2, 1, 1]], np.int64)
    upd = f32(2, 4)
    attrs = {} if reduction == "none" else {"reduction": reduction}
    compare(_scatter_model("ScatterElements", x, idx, upd, opset, axis=0, **attrs), {"x": x, "u": upd})


def _scatter_model(op, x, idx, upd, opset, **attrs):
    # data, indices, updates in ONNX's input order.
    g = helper.make_graph(
        [helper.make_node(op, ["x", "i", "u"], ["y"], **attrs)], "g",
        [helper.make_tensor_value_info("x", ELEM[x.dtype.type], x.shape),
         helper.make_tensor_value_info("u", ELEM[upd.dtype.type], upd.shape)],
        [helper.make_tensor_value_info("y", ELEM[x.dtype.type], None)], [numpy_helper.from_array(idx, "i")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("reduction,opset", [("none", 13), ("add", 16), ("mul", 16), ("max", 18), ("min", 18)])
def test_scatter_nd(reduction, opset):
    x = f32(4, 3, 2)
    idx = np.array([[1, 2], [3, -1]], np.int64)
    upd = f32(2, 2)
    attrs = {} if reduction == "none" else {"reduction": reduction}
    compare(_scatter_model("ScatterND", x, idx, upd, opset, **attrs), {"x": x, "u": upd})
    xi = RNG.integers(-9, 9, (5,)).astype(np.int64)
    ui = RNG.integers(-9, 9, (2,)).astype(np.int64)
    compare(_scatter_model("ScatterND", xi, np.array([[4], [0]], np.int64), ui, opset, **attrs), {"x": xi, "u": ui})


def test_scatter_errors():
    x = f32(3)
    m = _scatter_model("ScatterElements", x, np.array([3], np.int64), f32(1), 13, axis=0)
    with pytest.raises(IndexError, match="ScatterElements"):
        run_ts(m, {"x": x, "u": f32(1)})
    m = _scatter_model("ScatterND", x, np.array([[0]], np.int64), f32(1), 16, reduction="sub")
    with pytest.raises(ValueError, match="reduction 'sub'"):
        run_ts(m, {"x": x, "u": f32(1)})


# ---- OneHot, NonZero, TopK, Trilu, Compress, ReverseSequence ----

@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(axis):
    idx = np.array([[0, 3, -1], [4, -5, 7]], np.int64)  # 7 is out of range: all off
    m = node_model("OneHot", {"i": idx}, {"d": np.array(5, np.int64), "v": np.array([0.5, 2], np.float32)}, axis=axis)
    compare(m, {"i": idx})


def test_one_hot_float_indices_and_bad_depth():
    idx = np.array([1.0, 2.7, 0.0], np.float32)
    compare(node_model("OneHot", {"i": idx}, {"d": np.array([4.0], np.float32), "v": np.array([0, 1], np.float32)}),
            {"i": idx})
    with pytest.raises(ValueError, match="depth"):
        run_ts(node_model("OneHot", {"i": idx}, {"d": np.array(0, np.int64), "v": i64(0, 1)}), {"i": idx})


def test_nonzero():
    x = np.array([[0, 1.5, 0], [2, 0, -1]], np.float32)
    compare(node_model("NonZero", {"x": x}), {"x": x})
    b = np.array([True, False, True])
    compare(node_model("NonZero", {"x": b}), {"x": b})


@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("axis", [-1, 0])
def test_top_k(largest, axis):
    x = np.array([[3, 1, 3, 2], [1, 1, 0, 5], [2, 2, 2, 2]], np.float32)  # ties pick the lower index
    compare(node_model("TopK", {"x": x}, {"k": i64(2)}, n_out=2, axis=axis, largest=largest, opset=11), {"x": x})


def test_top_k_opset1_and_errors():
    x = f32(3, 5)
    compare(node_model("TopK", {"x": x}, n_out=2, opset=9, k=3), {"x": x})
    with pytest.raises(ValueError, match="K 6 is out of range"):
        run_ts(node_model("TopK", {"x": x}, {"k": i64(6)}, n_out=2), {"x": x})


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, -1, 2, 10, -10])
def test_trilu(upper, k):
    x = f32(2, 3, 4)
    consts = {} if k is None else {"k": np.array(k, np.int64)}
    compare(node_model("Trilu", {"x": x}, consts, upper=upper, opset=14), {"x": x})


def test_compress():
    x = f32(3, 4)
    c = np.array([True, False, True])
    compare(node_model("Compress", {"x": x}, {"c": c}, axis=0), {"x": x})
    compare(node_model("Compress", {"x": x}, {"c": np.array([False, True, True, False, True])}), {"x": x})
    compare(node_model("Compress", {"x": x}, {"c": np.array([True, False])}, axis=-1), {"x": x})


@pytest.mark.parametrize("batch_axis,time_axis", [(1, 0), (0, 1)])
def test_reverse_sequence(batch_axis, time_axis):
    x = f32(4, 4, 2) if batch_axis == 1 else f32(4, 4, 2)
    lens = i64(4, 1, 0, 3)
    compare(node_model("ReverseSequence", {"x": x}, {"l": lens}, batch_axis=batch_axis, time_axis=time_axis,
                       opset=10), {"x": x})


# ---- shape family: Expand, Tile, Range, ConstantOfShape, Size, Shape, EyeLike, DepthToSpace ----

def test_expand_tile():
    x = f32(3, 1)
    compare(node_model("Expand", {"x": x}, {"s": i64(2, 1, 4)}), {"x": x})
    compare(node_model("Expand", {"x": x}, {"s": i64(1)}), {"x": x})
    compare(node_model("Tile", {"x": x}, {"r": i64(2, 3)}), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.Expand\] node .*broadcast"):
        run_ts(node_model("Expand", {"x": x}, {"s": i64(2, 4)}), {"x": x})
    with pytest.raises(ValueError, match="too large"):
        run_ts(node_model("Expand", {"x": x}, {"s": i64(1 << 40, 3, 1 << 20)}), {"x": x})


@pytest.mark.parametrize("dtype,start,limit,delta", [
    (np.int64, 1, 10, 3), (np.int32, 10, -3, -4), (np.float32, 0.5, 3.2, 0.7), (np.float64, 1, 0, 1),
    (np.int64, 0, 0, 1)])
def test_range(dtype, start, limit, delta):
    # Scalars as initializers (the graph then has no inputs at all).
    consts = {"s": np.array(start, dtype), "l": np.array(limit, dtype), "d": np.array(delta, dtype)}
    compare(node_model("Range", {}, consts, opset=11), {})


def test_range_zero_delta_raises():
    consts = {"s": np.array(0, np.int64), "l": np.array(5, np.int64), "d": np.array(0, np.int64)}
    with pytest.raises(ValueError, match="delta must not be 0"):
        run_ts(node_model("Range", {}, consts, opset=11), {})


def test_constant_of_shape():
    s = i64(2, 3)
    compare(node_model("ConstantOfShape", {"s": s}), {"s": s})
    m = node_model("ConstantOfShape", {"s": s}, value=numpy_helper.from_array(np.array([7], np.int64)))
    compare(m, {"s": s})
    with pytest.raises(ValueError, match="too large"):
        run_ts(node_model("ConstantOfShape", {"s": i64(1 << 40, 1 << 40)}), {"s": i64(1 << 40, 1 << 40)})


def test_size_shape_start_end():
    x = f32(2, 3, 4)
    compare(node_model("Size", {"x": x}), {"x": x})
    compare(node_model("Shape", {"x": x}, opset=15, start=1), {"x": x})
    compare(node_model("Shape", {"x": x}, opset=15, start=-2, end=-1), {"x": x})


def test_eye_like():
    x = f32(3, 4)
    compare(node_model("EyeLike", {"x": x}, k=1), {"x": x})
    compare(node_model("EyeLike", {"x": x}, k=-2, dtype=TensorProto.INT64), {"x": x})


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_and_back(mode):
    x = f32(2, 8, 3, 2)
    compare(node_model("DepthToSpace", {"x": x}, blocksize=2, mode=mode), {"x": x})
    y = f32(1, 3, 4, 6)
    compare(node_model("SpaceToDepth", {"x": y}, blocksize=2), {"x": y})
    with pytest.raises(ValueError, match="blocksize"):
        run_ts(node_model("SpaceToDepth", {"x": y}, blocksize=5), {"x": y})


def test_squeeze_unsqueeze_both_forms():
    x = f32(3, 1, 4)
    compare(node_model("Squeeze", {"x": x}, opset=11, axes=[1]), {"x": x})
    compare(node_model("Squeeze", {"x": x}, {"a": i64(-2)}), {"x": x})
    compare(node_model("Unsqueeze", {"x": x}, opset=11, axes=[0, -1]), {"x": x})
    compare(node_model("Unsqueeze", {"x": x}, {"a": i64(4, 0)}), {"x": x})


def test_flatten_identity():
    x = f32(2, 3, 4)
    compare(node_model("Flatten", {"x": x}, axis=0), {"x": x})
    compare(node_model("Flatten", {"x": x}, axis=-1), {"x": x})
    compare(node_model("Identity", {"x": x}), {"x": x})


# ---- Resize / Upsample ----

RESIZE_CASES = [
    ("nearest", "asymmetric", "floor", [1, 1, 2, 2]),       # torch's nearest export
    ("nearest", "half_pixel", "round_prefer_floor", [1, 1, 1.5, 0.5]),
    ("nearest", "align_corners", "round_prefer_ceil", [1, 1, 2.5, 1.7]),
    ("nearest", "tf_half_pixel_for_nn", None, None),          # rejected below
    ("linear", "pytorch_half_pixel", None, [1, 1, 2, 0.5]),  # torch bilinear, align_corners=False
    ("linear", "align_corners", None, [1, 1, 1.6, 3]),
    ("linear", "half_pixel", None, [1, 1, 0.6, 2]),
    ("linear", "asymmetric", None, [1, 1, 2, 2]),
    ("cubic", "pytorch_half_pixel", None, [1, 1, 2, 1.5]),
    ("cubic", "half_pixel", None, [1, 1, 0.5, 2]),
    ("cubic", "align_corners", None, [1, 1, 2, 2]),
]


@pytest.mark.parametrize("mode,coord,nearest,scales", [c for c in RESIZE_CASES if c[3] is not None])
def test_resize_scales(mode, coord, nearest, scales):
    x = f32(1, 2, 5, 6)
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    if nearest:
        attrs["nearest_mode"] = nearest
    m = node_model("Resize", {"x": x}, {"roi": None, "sc": np.array(scales, np.float32)}, opset=13, **attrs)
    compare(m, {"x": x}, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_sizes_and_exclude_outside(mode):
    x = f32(2, 3, 4, 5)
    m = node_model("Resize", {"x": x}, {"roi": None, "sc": None, "sz": i64(2, 3, 7, 3)}, opset=13, mode=mode,
                   exclude_outside=1 if mode == "cubic" else 0, cubic_coeff_a=-0.5)
    compare(m, {"x": x})


def test_resize_tf_crop_and_resize():
    x = f32(1, 1, 6, 6)
    roi = np.array([0, 0, -0.2, 0.3, 1, 1, 0.8, 1.4], np.float32)
    for mode in ["linear", "nearest"]:
        m = node_model("Resize", {"x": x}, {"roi": roi, "sc": None, "sz": i64(1, 1, 4, 5)}, opset=13, mode=mode,
                       coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=9.0)
        compare(m, {"x": x})


def test_resize_opset18_axes_and_aspect_policy():
    x = f32(1, 2, 4, 6)
    for policy in ["not_larger", "not_smaller"]:
        m = node_model("Resize", {"x": x}, {"roi": None, "sc": None, "sz": i64(6, 6)}, opset=18, mode="linear",
                       axes=[2, 3], keep_aspect_ratio_policy=policy)
        compare(m, {"x": x})


def test_resize_opset10_and_upsample():
    x = f32(1, 1, 3, 4)
    compare(node_model("Resize", {"x": x}, {"sc": np.array([1, 1, 2, 3], np.float32)}, opset=10), {"x": x})
    compare(node_model("Resize", {"x": x}, {"sc": np.array([1, 1, 2, 1.5], np.float32)}, opset=10, mode="linear"),
            {"x": x})
    compare(node_model("Upsample", {"x": x}, {"sc": np.array([1, 1, 2, 2], np.float32)}, opset=9), {"x": x})


def test_resize_uint8_linear():
    x = RNG.integers(0, 255, (1, 3, 4, 4)).astype(np.uint8)
    m = node_model("Resize", {"x": x}, {"roi": None, "sc": np.array([1, 1, 1.5, 2], np.float32)}, opset=13,
                   mode="linear")
    got, want = run_both(m, {"x": x})
    assert got[0].dtype == np.uint8 and got[0].shape == want[0].shape
    assert np.abs(got[0].astype(int) - want[0].astype(int)).max() <= 1  # rounding of exact halves may differ


def test_resize_errors():
    x = f32(1, 1, 3, 4)
    m = node_model("Resize", {"x": x}, {"roi": None, "sc": np.array([1, 1, 2], np.float32)}, opset=13)
    with pytest.raises(ValueError, match=r"\[onnx.Resize\].*scales must have 4 values"):
        run_ts(m, {"x": x})
    m = node_model("Resize", {"x": x}, {"roi": None, "sc": np.array([1, 1, 2, 2], np.float32)}, opset=13,
                   coordinate_transformation_mode="tf_half_pixel_for_nn")
    with pytest.raises(ValueError, match="coordinate_transformation_mode"):
        run_ts(m, {"x": x})
    m = node_model("Resize", {"x": x}, {"roi": None, "sc": np.array([1, 1, 1e9, 1e9], np.float32)}, opset=13)
    with pytest.raises(ValueError, match="too large|scales must be"):
        run_ts(m, {"x": x})
    m = node_model("Resize", {"x": x}, {"roi": None, "sc": np.array([1, 1, 2, 2], np.float32)}, opset=13, mode="area")
    with pytest.raises(ValueError, match="mode 'area'"):
        run_ts(m, {"x": x})


def test_wrong_attribute_type_names_node():
    x = f32(4, 6)
    m = node_model("Split", {"x": x}, n_out=2, axis=1.5)
    with pytest.raises(ValueError, match=r"\[onnx.Split\] node .*attribute 'axis' must be an int"):
        run_ts(m, {"x": x})
    m = node_model("Trilu", {"x": x}, upper="yes", opset=14)
    with pytest.raises(ValueError, match="attribute 'upper' must be an int"):
        run_ts(m, {"x": x})


@pytest.mark.parametrize("mode,sizes", [("linear", [1, 2, 3, 4]), ("cubic", [1, 2, 2, 5]), ("linear", [1, 2, 7, 2])])
def test_resize_antialias_downsampling(mode, sizes):
    x = f32(1, 2, 8, 9)
    m = node_model("Resize", {"x": x}, {"roi": None, "sc": None, "sz": i64(*sizes)}, opset=18, mode=mode, antialias=1)
    compare(m, {"x": x}, atol=1e-5)


def test_space_to_depth_crd_mode_opset28():
    x = f32(1, 3, 4, 6)
    m = node_model("SpaceToDepth", {"x": x}, opset=28, blocksize=2, mode="CRD")
    compare(m, {"x": x})


@pytest.mark.parametrize("shape,axes", [([3, 8], None), ([6, 3], [-1, 0]), ([5], [1])])
def test_center_crop_pad(shape, axes):
    x = f32(4, 5)
    attrs = {} if axes is None else {"axes": axes}
    m = node_model("CenterCropPad", {"x": x}, {"s": i64(*shape)}, opset=18, **attrs)
    from onnx.reference import ReferenceEvaluator
    np.testing.assert_array_equal(run_ts(m, {"x": x})[0], ReferenceEvaluator(m).run(None, {"x": x})[0])


@pytest.mark.parametrize("sorted_", [0, 1])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_unique(sorted_, axis):
    x = np.array([[2, 1, 2, 1], [0, 3, 0, 3], [2, 1, 2, 1]], np.float32)
    attrs = {"sorted": sorted_}
    if axis is not None:
        attrs["axis"] = axis
    m = node_model("Unique", {"x": x}, n_out=4, opset=11, **attrs)
    compare(m, {"x": x})
    xi = RNG.integers(-3, 3, (10,)).astype(np.int64)
    compare(node_model("Unique", {"x": xi}, n_out=4, opset=11, **attrs) if axis in (None, 0, -1) else
            node_model("Unique", {"x": xi}, n_out=4, opset=11, sorted=sorted_), {"x": xi})


@pytest.mark.parametrize("center", [0, 1])
def test_non_max_suppression(center):
    rng = np.random.default_rng(3)
    xy = rng.random((2, 12, 2)) * 10
    wh = rng.random((2, 12, 2)) * 4 + 0.5
    boxes = (np.concatenate([xy, wh], -1) if center else np.concatenate([xy, xy + wh], -1)).astype(np.float32)
    scores = rng.random((2, 3, 12)).astype(np.float32)
    scores[0, 0, 3] = scores[0, 0, 5]  # a tie: the lower box index goes first
    consts = {"m": i64(4), "iou": np.array([0.3], np.float32), "st": np.array([0.2], np.float32)}
    m = node_model("NonMaxSuppression", {"b": boxes, "s": scores}, consts, opset=11, center_point_box=center)
    compare(m, {"b": boxes, "s": scores})
    m = node_model("NonMaxSuppression", {"b": boxes, "s": scores}, {"m": i64(10)}, opset=11)
    compare(m, {"b": boxes, "s": scores})


def test_absurd_sizes_raise_cleanly():
    x = f32(2, 3)
    big = np.iinfo(np.int64).max
    with pytest.raises(ValueError, match=r"\[onnx.Tile\].*too large"):
        run_ts(node_model("Tile", {"x": x}, {"r": i64(1 << 40, 1 << 40)}), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.Pad\].*too large"):
        run_ts(node_model("Pad", {"x": x}, {"p": i64(np.iinfo(np.int64).min, 0, 0, 0)}), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.OneHot\].*depth"):
        run_ts(node_model("OneHot", {"i": i64(1)}, {"d": np.array(big, np.int64), "v": i64(0, 1)}), {"i": i64(1)})
    y = f32(1, 4, 2, 2)
    with pytest.raises(ValueError, match=r"\[onnx.DepthToSpace\].*blocksize"):
        run_ts(node_model("DepthToSpace", {"x": y}, blocksize=1 << 32), {"x": y})
    with pytest.raises(ValueError, match=r"\[onnx.Range\].*too large"):
        run_ts(node_model("Range", {}, {"s": np.array(0, np.int64), "l": np.array(big, np.int64),
                                        "d": np.array(1, np.int64)}, opset=11), {})
