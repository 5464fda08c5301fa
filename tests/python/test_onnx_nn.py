"""ONNX import of the neural-network ops (src/onnx/ops_nn.cpp): convolution,
pooling, normalizations, Dropout; one-node models against onnxruntime."""
import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")

RNG = np.random.default_rng(1)
ELEM = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE, np.int64: TensorProto.INT64,
        np.float16: TensorProto.FLOAT16, np.bool_: TensorProto.BOOL, np.uint8: TensorProto.UINT8}


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def node_model(op, feed, consts=None, n_out=1, opset=13, outputs=None, **attrs):
    """One node: `feed` arrays are graph inputs, `consts` initializers (None
    leaves an optional input out), wired in that order."""
    consts = consts or {}
    names = [k if v is not None else "" for k, v in list(feed.items()) + list(consts.items())]
    inputs = [helper.make_tensor_value_info(k, ELEM[v.dtype.type], v.shape) for k, v in feed.items()]
    inits = [numpy_helper.from_array(v, k) for k, v in consts.items() if v is not None]
    outs = outputs or [f"y{k}" for k in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    graph_outs = [o for o in outs if o]
    g = helper.make_graph([node], "g", inputs, [helper.make_empty_tensor_value_info(o) for o in graph_outs], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset < 21 else 10
    inferred = onnx.shape_inference.infer_shapes(m).graph.output
    for out, inf in zip(m.graph.output, inferred):
        if inf.type.tensor_type.elem_type:
            out.type.tensor_type.elem_type = inf.type.tensor_type.elem_type
    return m


def run_ts(m, feed):
    return ts.onnx.InferenceSession(m.SerializeToString()).run(None, feed)


def compare(m, feed, atol=1e-5, rtol=1e-5):
    data = m.SerializeToString()
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    got = ts.onnx.InferenceSession(data).run(None, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# ---- Conv ----

@pytest.mark.parametrize("attrs", [
    {},
    {"strides": [2, 1, 2], "pads": [1, 0, 1, 0, 1, 1], "dilations": [1, 2, 1]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2, 1]},
])
def test_conv3d(attrs):
    x, w, b = f32(2, 4, 5, 6, 7), f32(6, 2, 3, 2, 3), f32(6)
    compare(node_model("Conv", {"x": x}, {"w": w, "b": b}, group=2, **attrs), {"x": x}, atol=1e-4)


@pytest.mark.parametrize("auto_pad", ["SAME_LOWER", "VALID"])
def test_conv2d_grouped_auto_pad(auto_pad):
    x, w = f32(1, 6, 7, 8), f32(9, 2, 3, 2)
    compare(node_model("Conv", {"x": x}, {"w": w}, group=3, auto_pad=auto_pad, strides=[2, 3]), {"x": x}, atol=1e-4)


def test_conv_group_mismatch_names_node():
    x, w = f32(1, 6, 7, 8), f32(9, 4, 3, 3)
    with pytest.raises(ValueError, match=r"\[onnx.Conv\] node .*group.? ?=?3"):
        run_ts(node_model("Conv", {"x": x}, {"w": w}, group=3), {"x": x})


# ---- ConvTranspose ----

@pytest.mark.parametrize("attrs", [
    {},
    {"strides": [2, 2], "pads": [1, 0, 0, 1]},
    {"strides": [2, 3], "output_padding": [1, 2], "pads": [1, 1, 1, 1]},
    {"strides": [2, 2], "dilations": [2, 1]},
    {"strides": [2, 2], "output_shape": [10, 8]},
    {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"strides": [3, 2], "auto_pad": "SAME_LOWER"},
    {"group": 2, "strides": [1, 2]},
])
def test_conv_transpose2d(attrs):
    group = attrs.get("group", 1)
    x, w, b = f32(2, 4, 4, 3), f32(4, 6 // group, 3, 3), f32(6)
    compare(node_model("ConvTranspose", {"x": x}, {"w": w, "b": b}, **attrs), {"x": x}, atol=1e-4)


def test_conv_transpose1d():
    x, w = f32(2, 3, 5), f32(3, 4, 3)
    compare(node_model("ConvTranspose", {"x": x}, {"w": w}, strides=[2], pads=[1, 0], output_padding=[1]), {"x": x},
            atol=1e-4)


def test_conv_transpose_bad_output_padding():
    x, w = f32(1, 2, 4, 4), f32(2, 2, 3, 3)
    with pytest.raises(ValueError, match=r"\[onnx.ConvTranspose\].*output_padding"):
        run_ts(node_model("ConvTranspose", {"x": x}, {"w": w}, output_padding=[2, 2]), {"x": x})


# ---- pooling ----

@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [2, 2], "strides": [2, 2]},
    {"kernel_shape": [3, 2], "pads": [1, 0, 0, 1]},
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [2, 2], "dilations": [2, 1]},
])
def test_max_pool_indices(order, attrs):
    x = f32(2, 3, 6, 5)
    compare(node_model("MaxPool", {"x": x}, n_out=2, opset=12, storage_order=order, **attrs), {"x": x})


def test_max_pool_1d_with_indices_and_avg_pool_1d():
    x = f32(2, 3, 9)
    compare(node_model("MaxPool", {"x": x}, n_out=2, opset=12, kernel_shape=[3], strides=[2], pads=[1, 0]), {"x": x})
    compare(node_model("AveragePool", {"x": x}, kernel_shape=[3], strides=[2], pads=[1, 1]), {"x": x})


def test_avg_pool_asymmetric_pads_excluding_padding():
    x = f32(1, 2, 6, 7)
    compare(node_model("AveragePool", {"x": x}, kernel_shape=[3, 2], pads=[0, 1, 2, 0], strides=[2, 1]), {"x": x})


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool_and_global(p):
    x = f32(2, 3, 6, 5)
    compare(node_model("LpPool", {"x": x}, opset=11, p=p, kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1]),
            {"x": x}, atol=1e-4)
    compare(node_model("GlobalLpPool", {"x": x}, p=p), {"x": x}, atol=1e-4)


def test_global_pools_3d():
    x = f32(2, 3, 4, 5, 2)
    compare(node_model("GlobalAveragePool", {"x": x}), {"x": x})
    compare(node_model("GlobalMaxPool", {"x": x}), {"x": x})


# ---- normalizations ----

@pytest.mark.parametrize("axis", [-1, 1, -2])
def test_layer_norm_with_stash_outputs(axis):
    x = f32(2, 3, 4)
    scale_shape = x.shape[axis:]
    m = node_model("LayerNormalization", {"x": x}, {"s": f32(*scale_shape), "b": f32(*scale_shape)}, n_out=3,
                   opset=17, axis=axis, epsilon=1e-3)
    compare(m, {"x": x}, atol=1e-5)
    m = node_model("LayerNormalization", {"x": x}, {"s": f32(*scale_shape)}, opset=17, axis=axis)
    compare(m, {"x": x}, atol=1e-5)


def test_layer_norm_broadcast_scale_and_float16():
    x = f32(2, 3, 4)
    compare(node_model("LayerNormalization", {"x": x}, {"s": f32(1), "b": f32(4)}, opset=17), {"x": x})
    xh = f32(2, 8).astype(np.float16)
    m = node_model("LayerNormalization", {"x": xh}, {"s": f32(8).astype(np.float16)}, opset=17)
    compare(m, {"x": xh}, atol=2e-3, rtol=2e-3)


def test_instance_norm():
    x = f32(2, 3, 4, 5)
    compare(node_model("InstanceNormalization", {"x": x}, {"s": f32(3), "b": f32(3)}, epsilon=1e-3), {"x": x},
            atol=1e-5)


@pytest.mark.parametrize("opset", [18, 21])
def test_group_norm_per_opset(opset):
    x = f32(2, 6, 4, 3)
    n = 3 if opset == 18 else 6  # -18 scales per group, -21 per channel
    m = node_model("GroupNormalization", {"x": x}, {"s": f32(n), "b": f32(n)}, opset=opset, num_groups=3)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    got = run_ts(m, {"x": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_group_norm_wrong_scale_size_names_opset():
    x = f32(2, 6, 4, 3)
    m = node_model("GroupNormalization", {"x": x}, {"s": f32(6), "b": f32(6)}, opset=18, num_groups=3)
    with pytest.raises(ValueError, match=r"\[onnx.GroupNormalization\].*must be \[3\] at opset 18"):
        run_ts(m, {"x": x})


@pytest.mark.parametrize("p,axis", [(1, -1), (2, 0), (2, 1)])
def test_lp_normalization(p, axis):
    x = f32(3, 4)
    compare(node_model("LpNormalization", {"x": x}, p=p, axis=axis), {"x": x})


@pytest.mark.parametrize("size", [1, 3, 4, 5])
def test_lrn(size):
    x = f32(2, 6, 3, 3)
    m = node_model("LRN", {"x": x}, size=size, alpha=1e-2, beta=0.6, bias=2.0)
    if size % 2:
        compare(m, {"x": x})
    else:
        # onnxruntime takes odd sizes only (and onnx's reference loops over the batch, not
        # the channels): the spec's formula in NumPy, window [c - 1, c + 2] for size 4.
        x64 = x.astype(np.float64)
        sq = np.stack([(x64[:, max(0, c - 1):c + 3] ** 2).sum(1) for c in range(6)], 1)
        want = x64 / (2.0 + 1e-2 / size * sq) ** 0.6
        np.testing.assert_allclose(run_ts(m, {"x": x})[0], want, rtol=1e-5)


def test_mean_variance_normalization():
    x = f32(2, 3, 4, 5)
    compare(node_model("MeanVarianceNormalization", {"x": x}), {"x": x}, atol=1e-4)
    compare(node_model("MeanVarianceNormalization", {"x": x}, axes=[1, -1]), {"x": x}, atol=1e-4)


def test_batch_norm_training_mode():
    x = f32(2, 3, 4, 5)
    c = {"s": f32(3), "b": f32(3), "m": f32(3), "v": np.abs(f32(3))}
    compare(node_model("BatchNormalization", {"x": x}, c, opset=15), {"x": x})
    # Training mode: batch statistics (biased variance) over N, H, W, and the running
    # statistics blended by momentum, as the spec's reference (NumPy, float64).
    y, rm, rv = run_ts(node_model("BatchNormalization", {"x": x}, c, n_out=3, opset=15, training_mode=1,
                                  momentum=0.8, epsilon=1e-3), {"x": x})
    x64 = x.astype(np.float64)
    mu, var = x64.mean((0, 2, 3)), x64.var((0, 2, 3))
    b = (1, 3, 1, 1)
    want = (x64 - mu.reshape(b)) / np.sqrt(var.reshape(b) + 1e-3) * c["s"].reshape(b) + c["b"].reshape(b)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rm, c["m"] * 0.8 + mu * 0.2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, c["v"] * 0.8 + var * 0.2, rtol=1e-5, atol=1e-6)


# ---- Dropout ----

def test_dropout_inference_identity_and_mask():
    x = f32(3, 4)
    compare(node_model("Dropout", {"x": x}, {"r": np.array(0.3, np.float32)}, n_out=2, opset=13), {"x": x})
    # Dropout-10: the spec (and onnx's reference) keep everything; onnxruntime's mask is all False.
    m = node_model("Dropout", {"x": x}, n_out=2, opset=10, ratio=0.2)
    got, want = run_ts(m, {"x": x}), ReferenceEvaluator(m).run(None, {"x": x})
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1].dtype == np.bool_ and got[1].all() and want[1].all()
    m = node_model("Dropout", {"x": x}, {"r": np.array(0.3, np.float32), "t": np.array(True)}, opset=13)
    with pytest.raises(NotImplementedError, match=r"\[onnx.Dropout\].*training_mode=true with a non-zero ratio"):
        run_ts(m, {"x": x})


# ---- bad input ----

def test_pool_bad_attributes_raise():
    x = f32(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"\[onnx.MaxPool\].*storage_order 2"):
        run_ts(node_model("MaxPool", {"x": x}, kernel_shape=[2, 2], storage_order=2), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.LpPool\].*kernel_shape must have 2 values"):
        run_ts(node_model("LpPool", {"x": x}, kernel_shape=[2]), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.LRN\].*attribute 'size' must be an int"):
        run_ts(node_model("LRN", {"x": x}, size=2.5), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.LayerNormalization\].*axis 4 is out of range"):
        run_ts(node_model("LayerNormalization", {"x": x}, {"s": f32(4)}, opset=17, axis=4), {"x": x})


# ---- the generic N-D pooling path (3-D, dilated average/Lp, integer data, wide pads) ----

@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", {"kernel_shape": [2, 3, 2], "strides": [1, 2, 1], "pads": [1, 0, 1, 0, 1, 1]}),
    ("MaxPool", {"kernel_shape": [2, 2, 2], "dilations": [2, 1, 2], "ceil_mode": 1, "strides": [2, 2, 2]}),
    ("AveragePool", {"kernel_shape": [3, 2, 2], "pads": [1, 1, 0, 1, 0, 1]}),
    ("AveragePool", {"kernel_shape": [3, 2, 2], "pads": [1, 1, 0, 1, 0, 1], "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [2, 2, 2], "strides": [2, 2, 2], "ceil_mode": 1}),
    ("LpPool", {"kernel_shape": [2, 2, 2], "p": 3}),
])
def test_pool3d(op, attrs):
    x = f32(2, 2, 5, 6, 5)
    compare(node_model(op, {"x": x}, opset=19, **attrs), {"x": x}, atol=1e-4)


@pytest.mark.parametrize("include_pad", [0, 1])
def test_avg_and_lp_pool_dilated(include_pad):
    x = f32(1, 2, 7, 8)
    attrs = {"kernel_shape": [2, 3], "dilations": [2, 2], "pads": [1, 0, 1, 2], "strides": [1, 2]}
    compare(node_model("AveragePool", {"x": x}, opset=19, count_include_pad=include_pad, **attrs), {"x": x})
    compare(node_model("LpPool", {"x": x}, opset=19, **attrs), {"x": x}, atol=1e-4)


def test_pools_with_pads_over_half_the_kernel():
    x = f32(1, 2, 5, 5)
    attrs = {"kernel_shape": [3, 3], "pads": [2, 2, 2, 2]}
    compare(node_model("MaxPool", {"x": x}, **attrs), {"x": x})
    compare(node_model("AveragePool", {"x": x}, **attrs), {"x": x})
    compare(node_model("AveragePool", {"x": x}, count_include_pad=1, **attrs), {"x": x})


def test_max_pool_uint8():
    x = RNG.integers(0, 255, (1, 2, 5, 6)).astype(np.uint8)
    compare(node_model("MaxPool", {"x": x}, opset=12, kernel_shape=[2, 2], pads=[1, 1, 0, 0]), {"x": x})


def test_conv_transpose3d():
    x, w, b = f32(1, 4, 3, 4, 2), f32(4, 3, 2, 3, 2), f32(6)
    attrs = {"strides": [2, 1, 2], "pads": [1, 0, 0, 0, 1, 1], "group": 2, "dilations": [1, 2, 1]}
    compare(node_model("ConvTranspose", {"x": x}, {"w": w, "b": b}, **attrs), {"x": x}, atol=1e-4)


def test_dropout_training_with_zero_ratio_is_identity():
    x = f32(3, 4)
    m = node_model("Dropout", {"x": x}, {"r": np.array(0.0, np.float32), "t": np.array(True)}, n_out=2, opset=13)
    compare(m, {"x": x})



# ---- MaxUnpool, Col2Im, AffineGrid, GridSample ----

def test_max_unpool_round_trip():
    x = f32(1, 2, 4, 6)
    pool = node_model("MaxPool", {"x": x}, n_out=2, opset=12, kernel_shape=[2, 2], strides=[2, 2])
    y, idx = run_ts(pool, {"x": x})
    g = helper.make_graph(
        [helper.make_node("MaxUnpool", ["y", "i"], ["z"], kernel_shape=[2, 2], strides=[2, 2])], "g",
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y.shape),
         helper.make_tensor_value_info("i", TensorProto.INT64, idx.shape)],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)])
    m.ir_version = 8
    data = m.SerializeToString()
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"y": y, "i": idx})[0]
    np.testing.assert_array_equal(ts.onnx.InferenceSession(data).run(None, {"y": y, "i": idx})[0], want)
    bad = idx.copy()
    bad[0, 0, 0, 0] = 10_000
    with pytest.raises(IndexError, match=r"\[onnx.MaxUnpool\].*outside the output"):
        ts.onnx.InferenceSession(data).run(None, {"y": y, "i": bad})


@pytest.mark.parametrize("attrs", [{}, {"strides": [2, 1], "pads": [1, 0, 1, 1], "dilations": [1, 2]}])
def test_col2im(attrs):
    image, block = np.array([6, 5], np.int64), np.array([2, 3], np.int64)
    s, p, d = attrs.get("strides", [1, 1]), attrs.get("pads", [0] * 4), attrs.get("dilations", [1, 1])
    L = 1
    for i in range(2):
        L *= (image[i] + p[i] + p[i + 2] - ((block[i] - 1) * d[i] + 1)) // s[i] + 1
    x = f32(2, 3 * 6, L)
    compare(node_model("Col2Im", {"x": x}, {"im": image, "bl": block}, opset=18, **attrs), {"x": x})


@pytest.mark.parametrize("align", [0, 1])
def test_affine_grid(align):
    theta = f32(2, 2, 3)
    m = node_model("AffineGrid", {"t": theta}, {"s": np.array([2, 3, 4, 5], np.int64)}, opset=20, align_corners=align)
    np.testing.assert_allclose(run_ts(m, {"t": theta})[0], ReferenceEvaluator(m).run(None, {"t": theta})[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample(mode, padding, align):
    x = f32(2, 3, 5, 6)
    grid = (RNG.random((2, 4, 7, 2)) * 2.6 - 1.3).astype(np.float32)  # some points outside [-1, 1]
    m = node_model("GridSample", {"x": x, "g": grid}, opset=16, mode=mode, padding_mode=padding, align_corners=align)
    if (mode, padding) != ("bicubic", "border"):
        compare(m, {"x": x, "g": grid}, atol=1e-4)
        return
    # onnxruntime computes bicubic+border taps from the unclamped coordinate; the spec (and
    # onnx's reference, which the backend tests use) clamps the coordinate first.
    m20 = node_model("GridSample", {"x": x, "g": grid}, opset=20, mode="cubic", padding_mode=padding,
                     align_corners=align)
    want = ReferenceEvaluator(m20).run(None, {"x": x, "g": grid})[0]
    np.testing.assert_allclose(run_ts(m, {"x": x, "g": grid})[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("coord", ["half_pixel", "output_half_pixel"])
def test_roi_align(mode, coord):
    x = f32(2, 3, 8, 9)
    rois = np.array([[0.5, 1, 6, 7.5], [2, 0, 3, 2], [-1, -1, 10, 11], [4, 4, 4.2, 4.1]], np.float32)
    bidx = np.array([0, 1, 1, 0], np.int64)
    m = node_model("RoiAlign", {"x": x, "r": rois, "b": bidx}, opset=16, mode=mode, output_height=3, output_width=2,
                   spatial_scale=0.8, coordinate_transformation_mode=coord)
    compare(m, {"x": x, "r": rois, "b": bidx}, atol=1e-5)
    m = node_model("RoiAlign", {"x": x, "r": rois, "b": bidx}, opset=16, mode=mode, sampling_ratio=2)
    compare(m, {"x": x, "r": rois, "b": bidx}, atol=1e-5)


def test_absurd_geometry_raises_cleanly():
    x, w = f32(1, 2, 4, 4), f32(2, 2, 3, 3)
    with pytest.raises(ValueError, match=r"\[onnx.ConvTranspose\].*absurdly large"):
        run_ts(node_model("ConvTranspose", {"x": x}, {"w": w}, strides=[1 << 40, 1]), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.MaxPool\].*absurdly large"):
        run_ts(node_model("MaxPool", {"x": x}, kernel_shape=[2, 2], dilations=[1 << 62, 1]), {"x": x})
    with pytest.raises(ValueError, match=r"\[onnx.ConvTranspose\].*too large"):
        run_ts(node_model("ConvTranspose", {"x": x}, {"w": w}, output_shape=[1 << 20, 1 << 20]), {"x": x})


@pytest.mark.parametrize("with_mask", [False, True])
def test_deform_conv(with_mask):
    x, w, b = f32(2, 4, 5, 6), f32(6, 2, 2, 3), f32(6)
    attrs = {"group": 2, "offset_group": 2, "strides": [1, 2], "pads": [1, 1, 0, 1], "dilations": [1, 1]}
    oh, ow = (5 + 1 - 2) // 1 + 1, (6 + 2 - 3) // 2 + 1
    feed = {"x": x, "w": w, "o": f32(2, 2 * 2 * 6, oh, ow), "b": b}
    if with_mask:
        feed["m"] = RNG.random((2, 2 * 6, oh, ow)).astype(np.float32)
    m = node_model("DeformConv", feed, opset=19, **attrs)
    want = ReferenceEvaluator(m).run(None, feed)[0]
    np.testing.assert_allclose(run_ts(m, feed)[0], want, rtol=1e-4, atol=1e-5)


def test_conv_with_an_empty_kernel_is_a_value_error():
    # Found by scripts/fuzz.sh onnx: a weight with a 0 kernel dim reached oneDNN, whose
    # dnnl::error escaped as a non-tessel exception (std::terminate in C++, RuntimeError here).
    from onnx import TensorProto as TP
    from onnx import helper as H
    w = H.make_tensor("w", TP.FLOAT, [4, 2, 0, 3], [])
    # Conv + Relu: the fused node (the plain Conv op checks kernel_shape itself).
    g = H.make_graph([H.make_node("Conv", ["x", "w"], ["c"], name="c0"), H.make_node("Relu", ["c"], ["y"])], "g",
                     [H.make_tensor_value_info("x", TP.FLOAT, [1, 2, 8, 8])],
                     [H.make_tensor_value_info("y", TP.FLOAT, None)], [w])
    m = H.make_model(g, opset_imports=[H.make_opsetid("", 17)], ir_version=9).SerializeToString()
    with pytest.raises(ValueError, match=r"node 'c0/fused'.*no convolution for input \[1, 2, 8, 8\], weight \[4, 2, 0, 3\]"):
        ts.onnx.InferenceSession(m).run(None, {"x": np.zeros((1, 2, 8, 8), np.float32)})
    with pytest.raises(ValueError, match=r"\[conv2d\] the kernel must be at least 1x1"):
        ts.nn.functional.conv2d(ts.zeros(1, 2, 8, 8), ts.zeros(4, 2, 0, 3))
