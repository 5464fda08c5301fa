"""The cast-only dtypes (float8, float4_e2m1fn, int4/uint4/int2/uint2): storage, casts bit for bit against
ml_dtypes (and PyTorch's e8m0 rounding through onnx's reference), NumPy sharing, refusals, ONNX files."""
import math

import numpy as np
import pytest

import tessel as ts

ml_dtypes = pytest.importorskip("ml_dtypes")

FLOATS = ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float4_e2m1fn"]
INTS = ["int4", "uint4", "int2", "uint2"]
ALL = FLOATS + ["float8_e8m0fnu"] + INTS


def _probe():
    """Values around every code of the small formats: exact codes, midpoints (ties), neighbours, specials."""
    rng = np.random.default_rng(0)
    exact = np.concatenate([np.arange(256, dtype=np.uint8).view(getattr(ml_dtypes, n)).astype(np.float64)
                            for n in FLOATS[:4]] + [np.arange(16, dtype=np.uint8).view(ml_dtypes.float4_e2m1fn)
                                                    .astype(np.float64)])
    exact = np.unique(exact[np.isfinite(exact)])
    mids = (exact[1:] + exact[:-1]) / 2
    vals = np.concatenate([exact, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf),
                           rng.standard_normal(2000) * 10.0 ** rng.integers(-9, 7, 2000),
                           [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e30, -1e30, 1e-45, 3e38]])
    return vals.astype(np.float32)


@pytest.mark.parametrize("name", FLOATS + INTS)
def test_cast_from_float32_matches_ml_dtypes(name):
    x = _probe()
    with np.errstate(all="ignore"):
        want = x.astype(getattr(ml_dtypes, name)).view(np.uint8)
    got = ts.as_tensor(x).to(getattr(ts, name)).numpy().view(np.uint8)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, f"{name}: {x[bad[:5]]} -> {got[bad[:5]]}, ml_dtypes {want[bad[:5]]}"


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "int4", "uint2"])
@pytest.mark.parametrize("src", ["float16", "float64", "int32", "int64", "bool"])
def test_cast_from_other_dtypes_matches_ml_dtypes(name, src):
    x = _probe()
    with np.errstate(all="ignore"):
        if src == "bool":
            a = x > 0
        elif src.startswith("int"):
            a = np.clip(np.nan_to_num(x), -1000, 1000).astype(src)
        else:
            a = x.astype(src)
        want = a.astype(getattr(ml_dtypes, name)).view(np.uint8)
    got = ts.as_tensor(a).to(getattr(ts, name)).numpy().view(np.uint8)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("name", ALL)
def test_every_code_decodes_as_ml_dtypes(name):
    n = 256 if name.startswith("float8") else 1 << {"float4_e2m1fn": 4, "int4": 4, "uint4": 4}.get(name, 2)
    codes = np.arange(n, dtype=np.uint8).view(getattr(ml_dtypes, name))
    t = ts.as_tensor(codes)
    assert t.dtype == getattr(ts, name)
    for dst in ("float32", "float64", "float16"):
        want = codes.astype(dst)
        got = t.to(getattr(ts, dst)).numpy()
        np.testing.assert_array_equal(got, want)  # NaNs compare equal
    if name in INTS:
        assert t.tolist() == codes.astype(np.int64).tolist()


def test_e8m0_rounds_to_nearest_like_pytorch():
    x = _probe()
    x = x[np.isfinite(x)]
    from onnx import numpy_helper
    want = numpy_helper.to_float8e8m0(x, saturate=False, round_mode="nearest").view(np.uint8)
    got = ts.as_tensor(x).to(ts.float8_e8m0fnu).numpy().view(np.uint8)
    assert np.array_equal(got, want)
    assert ts.tensor([float("nan"), float("inf")]).to(ts.float8_e8m0fnu).numpy().view(np.uint8).tolist() == [255, 255]


def test_numpy_shares_memory_both_ways():
    a = np.array([1.0, -2.0, 0.5], np.float32).astype(ml_dtypes.float8_e4m3fn)
    t = ts.as_tensor(a)
    assert t.dtype == ts.float8_e4m3fn
    a[0] = 4.0  # the tensor sees NumPy's write
    assert t.float().tolist() == [4.0, -2.0, 0.5]
    b = t.numpy()
    assert b.dtype == ml_dtypes.float8_e4m3fn and np.shares_memory(a, b)
    bf = ts.tensor([1.5, 2.0]).to(ts.bfloat16)
    assert bf.numpy().dtype == ml_dtypes.bfloat16 and bf.numpy().astype(np.float32).tolist() == [1.5, 2.0]


def test_storage_ops_work():
    t = ts.arange(12, dtype=ts.float32).reshape(3, 4).to(ts.int4)
    assert t.t().contiguous().to(ts.int64).tolist() == [[((v + 8) % 16) - 8 for v in (c, c + 4, c + 8)]
                                                       for c in range(4)]
    assert t[1:, ::2].clone().to(ts.int64).tolist() == [[4, 6], [-8, -6]]
    assert t[2, 3].item() == -5
    f = ts.zeros(2, 3, dtype=ts.float8_e5m2)
    f.fill_(1.75)
    assert f.float().tolist() == [[1.75] * 3] * 2
    assert f.view(ts.uint8).tolist() == [[0x3F] * 3] * 2
    assert "float8_e5m2" in repr(f)
    assert ts.cat([f, f[:1]]).float().tolist() == [[1.75] * 3] * 3  # cat copies
    assert ts.tensor([1, 2, -3], dtype=ts.int2).tolist() == [1, -2, 1]  # wraps


@pytest.mark.parametrize("call", [lambda t: t + t, lambda t: t * 2, lambda t: t.sum(), lambda t: ts.exp(t),
                                  lambda t: t.max(), lambda t: ts.sqrt(t), lambda t: t @ t.reshape(3, 1)])
def test_compute_ops_refuse_by_name(call):
    t = ts.ones(3).to(ts.float8_e4m3fn)
    with pytest.raises(TypeError, match="float8_e4m3fn only stores and casts"):
        call(t)


def test_promotion_refuses_and_dtype_facts():
    with pytest.raises(TypeError, match="only stores and casts"):
        ts.promote_types(ts.float8_e4m3fn, ts.float32)
    assert not ts.can_cast(ts.float32, ts.int4)
    assert ts.float8_e4m3fn.is_floating_point and ts.float8_e4m3fn.is_cast_only
    assert not ts.int4.is_floating_point and ts.int4.is_cast_only and ts.int4.is_signed and not ts.uint4.is_signed
    assert not ts.float32.is_cast_only and ts.uint64.is_signed is False
    assert ts.int4.itemsize == 1
    with pytest.raises(ValueError, match="one size"):
        ts.ones(2).view(ts.int4)
    with pytest.raises(TypeError, match="DLPack"):
        ts.ones(2).to(ts.int4).__dlpack__()


onnx = pytest.importorskip("onnx")


def _cast_model(frm, to, opset, **attrs):
    from onnx import TensorProto, helper
    node = helper.make_node("Cast", ["x"], ["y"], to=to, **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", frm, [None])],
                          [helper.make_tensor_value_info("y", to, [None])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_onnx_initializers_unpack_odd_counts():
    """Sub-byte initializers are packed two (or four) to a byte in the file, lowest bits first."""
    from onnx import TensorProto, helper
    for name, tp, vals in [("int4", TensorProto.INT4, [-8, 7, -1, 3, 0]), ("uint2", TensorProto.UINT2, [3, 1, 2]),
                           ("float4_e2m1fn", TensorProto.FLOAT4E2M1, [0.5, -6.0, 1.5])]:
        arr = np.array(vals, np.float32).astype(getattr(ml_dtypes, name))
        init = onnx.numpy_helper.from_array(arr, "w")
        node = helper.make_node("Cast", ["w"], ["y"], to=TensorProto.FLOAT)
        g = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [len(vals)])],
                              initializer=[init])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 25)])
        y = ts.onnx.load(m.SerializeToString()).run({})["y"]
        assert y.tolist() == [float(v) for v in vals], name
    bad = onnx.numpy_helper.from_array(np.zeros(5, ml_dtypes.int4), "w")
    bad.raw_data = bad.raw_data[:2]  # 5 values need 3 bytes
    node = helper.make_node("Cast", ["w"], ["y"], to=TensorProto.FLOAT)
    g = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])],
                          initializer=[bad])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 25)])
    with pytest.raises(ValueError, match="raw_data holds 2 bytes .* need 3"):
        ts.onnx.load(m.SerializeToString())


def test_onnx_cast_saturates_unless_told_not_to():
    from onnx import TensorProto
    x = np.array([1e6, -np.inf, 0.3, np.nan], np.float32)
    sat = ts.onnx.load(_cast_model(TensorProto.FLOAT, TensorProto.FLOAT8E4M3FN, 19).SerializeToString())
    no = ts.onnx.load(_cast_model(TensorProto.FLOAT, TensorProto.FLOAT8E4M3FN, 19, saturate=0).SerializeToString())
    y = sat.run({"x": ts.as_tensor(x)})["y"].float().tolist()
    assert y[:3] == [448.0, -448.0, 0.3125] and math.isnan(y[3])
    assert [math.isnan(v) for v in no.run({"x": ts.as_tensor(x)})["y"].float().tolist()] == [True, True, False, True]


class _Quant(ts.nn.Module):
    def forward(self, x):
        # onnxruntime returns no int4 arrays, and rounds (half away) where ONNX's reference and tessel truncate
        return x.to(ts.float8_e4m3fn).float() * 2, x.round().to(ts.int4).to(ts.int8)


def test_export_casts_round_trip_through_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    import io
    x = ts.as_tensor(np.array([[0.3, 500.0, -7.6, 2.5]], np.float32))
    buf = io.BytesIO()
    ts.onnx.export(_Quant(), (x,), buf, input_names=["x"], output_names=["f", "i"], opset_version=21)
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model, full_check=True)
    casts = [n for n in model.graph.node if n.op_type == "Cast" and n.attribute[0].i != 1]
    assert {a.name: a.i for a in casts[0].attribute}.get("saturate") == 0  # tessel's cast does not saturate
    want_f, want_i = _Quant()(x)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    f, i = sess.run(None, {"x": x.numpy()})
    np.testing.assert_array_equal(f, want_f.numpy())  # NaN for 500 in both
    assert i.dtype == np.int8 and i.tolist() == want_i.tolist() == [[0, 4, -8, 2]]  # 500 wraps to 4
    f2, i2 = ts.onnx.load(buf.getvalue()).run({"x": x}).values()
    np.testing.assert_array_equal(f2.numpy(), want_f.numpy())
    assert i2.tolist() == want_i.tolist()
    with pytest.raises(NotImplementedError, match="int4 from opset 21"):
        ts.onnx.export(_Quant(), (x,), io.BytesIO(), opset_version=20)


def test_tensor_copies_ml_dtypes_arrays():
    a = np.array([1.0, 2.0, -3.0], np.float32).astype(ml_dtypes.float8_e4m3fn)
    t = ts.tensor(a)  # a copy, as torch.tensor makes
    a[0] = 4.0
    assert t.dtype == ts.float8_e4m3fn and t.float().tolist() == [1.0, 2.0, -3.0]
