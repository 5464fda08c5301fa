"""Shape and type inference at load time (src/onnx/shape_inference.cpp).

The oracle is onnx's own ``onnx.shape_inference.infer_shapes`` (strict mode off):
wherever onnx knows a dim or a dtype, tessel must agree; tessel may know more
(symbolic expressions such as ``batch*seq``), which is checked against the
actual shapes onnxruntime computes for the committed fixtures.
"""
import glob
import os
import re

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")

FIXTURES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "fixtures", "onnx", "*.onnx")))
F, I64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
ONNX_TYPES = {1: "tensor(float)", 2: "tensor(uint8)", 3: "tensor(int8)", 5: "tensor(int16)", 6: "tensor(int32)",
              7: "tensor(int64)", 9: "tensor(bool)", 10: "tensor(float16)", 11: "tensor(double)",
              16: "tensor(bfloat16)"}


def tv(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, opset=17, inits=(), value_info=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits), value_info=list(value_info))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def load(m):
    return ts.onnx.load(m.SerializeToString())


def onnx_inferred(m):
    """{name: (onnx type, shape)} from onnx's inference; shape dims: int, str (a symbol) or None."""
    g = onnx.shape_inference.infer_shapes(m, strict_mode=False).graph
    out = {}
    for v in list(g.value_info) + list(g.output):
        if not v.type.HasField("tensor_type"):
            continue
        t = v.type.tensor_type
        shape = None
        if t.HasField("shape"):
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
        out[v.name] = (ONNX_TYPES.get(t.elem_type), shape)
    return out


def assert_agrees_with_onnx(m):
    """Every dim/dtype onnx knows, tessel knows the same; returns how many dims were compared."""
    got = load(m).value_info
    compared = 0
    for name, (typ, shape) in onnx_inferred(m).items():
        assert name in got, name
        g = got[name]
        if typ is not None:
            assert g.type == typ, (name, g.type, typ)
        if shape is None:
            continue
        assert g.shape is not None and len(g.shape) == len(shape), (name, g.shape, shape)
        for a, b in zip(shape, g.shape):
            # onnx's own unnamed symbols (unk__N) say only "unknown".
            if a is None or (isinstance(a, str) and a.startswith("unk__")):
                continue
            assert a == b, (name, shape, g.shape)
            compared += 1
    return compared


def evaluate(expr, env):
    """Value of a symbolic dim such as '2*batch*seq+1' for the symbols in env."""
    if isinstance(expr, int):
        return expr
    total = 0
    for sign, term in re.findall(r"([+-]?)([^+-]+)", expr):
        v = 1
        for f in term.split("*"):
            v *= int(f) if f.isdigit() else env[f]
        total += -v if sign == "-" else v
    return total


# ---- the committed fixtures --------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=[os.path.basename(p) for p in FIXTURES])
def test_fixtures_agree_with_onnx(path):
    m = onnx.load(path)
    assert assert_agrees_with_onnx(m) > 10


@pytest.mark.parametrize("path", FIXTURES, ids=[os.path.basename(p) for p in FIXTURES])
def test_fixture_shapes_match_onnxruntime(path):
    # Symbolic dims (expressions included) evaluated for batch=2, seq=7 equal what
    # onnxruntime computes for every intermediate value.
    ort = pytest.importorskip("onnxruntime")
    m = onnx.load(path)
    info = ts.onnx.load(path).value_info
    skip = {i.name for i in m.graph.input} | {i.name for i in m.graph.initializer}
    names = [n for n in info if n not in skip and info[n].type in ONNX_TYPES.values()]
    del m.graph.output[:]
    for n in names:
        m.graph.output.append(helper.make_empty_tensor_value_info(n))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    env = {"batch": 2, "seq": 7}
    rng = np.random.default_rng(0)
    feed = {}
    for i in sess.get_inputs():
        shape = [env[d] if isinstance(d, str) else d for d in i.shape]
        feed[i.name] = rng.random(shape, dtype=np.float32) if i.type == "tensor(float)" else np.ones(shape, np.int64)
    checked = 0
    for n, o in zip(names, sess.run(names, feed)):
        shape = info[n].shape
        if shape is None:
            continue
        assert len(shape) == o.ndim, (n, shape, o.shape)
        for a, b in zip(shape, o.shape):
            if a is not None:
                assert evaluate(a, env) == b, (n, shape, o.shape)
                checked += 1
    assert checked > 10


def test_fixture_symbols_are_kept():
    mod = ts.onnx.load(os.path.join(os.path.dirname(FIXTURES[0]), "gpt2.onnx"))
    info = mod.value_info
    assert info["input_ids"].shape == ["batch", "seq"]
    assert mod.outputs[0].shape == ["batch", "seq", 96]
    # Attention reshapes [batch, seq, hidden] through Shape -> Gather -> Concat -> Reshape
    # to heads, then the scores are [batch, heads, seq, seq].
    shapes = [v.shape for v in info.values() if v.shape and len(v.shape) == 4 and v.type == "tensor(float)"]
    assert ["batch", "seq", 2, 16] in shapes and ["batch", 2, "seq", 16] in shapes
    assert ["batch", 2, "seq", "seq"] in shapes
    assert any(v.shape == ["batch*seq", 32] for v in info.values())  # the Gemm's flattened input


# ---- graphs built with onnx.helper -------------------------------------------------------------


def test_symbolic_flatten_and_reshape():
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"], axis=2),
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
        helper.make_node("Gather", ["s", "i1"], ["q"], axis=0),
        helper.make_node("Mul", ["b", "q"], ["bq"]),
        helper.make_node("Unsqueeze", ["bq", "ax0"], ["bq1"]),
        helper.make_node("Concat", ["bq1", "m1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Reshape", ["x", "keep"], ["r2"]),
        helper.make_node("Concat", ["x", "x"], ["c"], axis=1),
        helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2, 3]),
    ]
    inits = [helper.make_tensor("i0", I64, [], [0]), helper.make_tensor("i1", I64, [], [1]),
             helper.make_tensor("ax0", I64, [1], [0]), helper.make_tensor("m1", I64, [1], [-1]),
             helper.make_tensor("keep", I64, [3], [0, -1, 4])]
    m = model(nodes, [tv("x", F, ["batch", "seq", 3, 4])], [tv("r", F, None), tv("r2", F, None)], inits=inits)
    info = load(m).value_info
    assert info["f"].shape == ["batch*seq", 12]
    assert info["r"].shape == ["batch*seq", 12]
    assert info["r2"].shape == ["batch", "3*seq", 4]
    assert info["c"].shape == ["batch", "2*seq", 3, 4]
    assert info["t"].shape == ["seq", "batch", 3, 4]
    assert info["s"].type == "tensor(int64)" and info["s"].shape == [4]
    assert_agrees_with_onnx(m)
    # Outputs the file leaves without a shape get the inferred one.
    outs = {o.name: o.shape for o in load(m).outputs}
    assert outs == {"r": ["batch*seq", 12], "r2": ["batch", "3*seq", 4]}


def test_untyped_output_gets_inferred_dtype():
    n = helper.make_node("Equal", ["a", "b"], ["y"])
    m = model([n], [tv("a", F, [2, "n"]), tv("b", F, ["n"])], [helper.make_empty_tensor_value_info("y")])
    out = load(m).outputs[0]
    assert out.type == "tensor(bool)" and out.dtype == ts.bool and out.shape == [2, "n"]


def test_broadcast_matmul_gemm():
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("MatMul", ["a", "w"], ["mm"]),
             helper.make_node("MatMul", ["v", "w"], ["vm"]), helper.make_node("Gemm", ["g", "w"], ["gm"], transA=1)]
    m = model(nodes, [tv("a", F, ["n", 1, 5]), tv("b", F, [3, 1]), tv("w", F, [5, 6]), tv("v", F, [5]),
                      tv("g", F, [5, "k"])], [tv("s", F, None), tv("mm", F, None)])
    info = load(m).value_info
    assert info["s"].shape == ["n", 3, 5]
    assert info["mm"].shape == ["n", 1, 6]
    assert info["vm"].shape == [6]
    assert info["gm"].shape == ["k", 6]
    assert_agrees_with_onnx(m)


@pytest.mark.parametrize("kw,x,out", [
    ({"kernel_shape": [3, 3]}, [1, 2, 10, 10], [1, 2, 8, 8]),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, [1, 2, 10, 10], [1, 2, 5, 5]),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}, [1, 2, 11, 11], [1, 2, 6, 6]),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"}, [1, 2, 10, 9], [1, 2, 4, 4]),
    ({"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, [1, 2, 9, 9], [1, 2, 5, 5]),
    ({"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}, [1, 1, 6, 6], [1, 1, 4, 4]),
    ({"kernel_shape": [3, 3], "dilations": [2, 2]}, [1, 2, 10, 10], [1, 2, 6, 6]),
])
def test_pool_arithmetic(kw, x, out):
    n = helper.make_node("MaxPool", ["x"], ["y"], **kw)
    m = model([n], [tv("x", F, x)], [tv("y", F, None)])
    assert load(m).value_info["y"].shape == out
    assert_agrees_with_onnx(m)


def test_conv_symbolic_and_fixed():
    w = helper.make_tensor("w", F, [4, 2, 3, 3], np.zeros(72, np.float32))
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x", "w"], ["z"], strides=[2, 2])]
    m = model(nodes, [tv("x", F, ["n", 2, "h", 9])], [tv("y", F, None), tv("z", F, None)], inits=[w])
    info = load(m).value_info
    assert info["y"].shape == ["n", 4, "h", 9]
    assert info["z"].shape == ["n", 4, None, 4]
    assert_agrees_with_onnx(m)


def test_slice_squeeze_unsqueeze_split_topk_reduce():
    c = lambda name, vals: helper.make_tensor(name, I64, [len(vals)], vals)  # noqa: E731
    nodes = [
        helper.make_node("Slice", ["x", "st", "en", "ax"], ["sl"]),
        helper.make_node("Unsqueeze", ["x", "u"], ["us"]),
        helper.make_node("Squeeze", ["us", "u"], ["sq"]),
        helper.make_node("Split", ["x", "sp"], ["p0", "p1"], axis=2),
        helper.make_node("TopK", ["x", "k"], ["tv", "ti"], axis=1),
        helper.make_node("ReduceSum", ["x", "rax"], ["rs"], keepdims=0),
        helper.make_node("ReduceMean", ["x"], ["rm"], axes=[-1]),
        helper.make_node("ArgMax", ["x"], ["am"], axis=0, keepdims=0),
        helper.make_node("Softmax", ["x"], ["sm"]),
        helper.make_node("Cast", ["x"], ["ci"], to=I64),
        helper.make_node("Expand", ["x", "es"], ["ex"]),
    ]
    inits = [c("st", [1]), c("en", [-1]), c("ax", [2]), c("u", [1]), c("sp", [2, 4]), c("k", [3]), c("rax", [1]),
             c("es", [2, 1, 1, 1])]
    m = model(nodes, [tv("x", F, ["n", 5, 6])], [tv("sl", F, None)], opset=17, inits=inits)
    info = load(m).value_info
    assert info["sl"].shape == ["n", 5, 4]
    assert info["us"].shape == ["n", 1, 5, 6] and info["sq"].shape == ["n", 5, 6]
    assert info["p0"].shape == ["n", 5, 2] and info["p1"].shape == ["n", 5, 4]
    assert info["tv"].shape == ["n", 3, 6] and info["ti"].type == "tensor(int64)"
    assert info["rs"].shape == ["n", 6] and info["rm"].shape == ["n", 5, 1]
    assert info["am"].shape == [5, 6] and info["am"].type == "tensor(int64)"
    assert info["ci"].type == "tensor(int64)" and info["ex"].shape == [2, "n", 5, 6]
    assert_agrees_with_onnx(m)


def test_range_constant_of_shape_where_resize_gather():
    nodes = [
        helper.make_node("Range", ["r0", "r1", "r2"], ["rg"]),
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["z"], value=helper.make_tensor("v", I64, [1], [7])),
        helper.make_node("Greater", ["x", "y"], ["gt"]),
        helper.make_node("Where", ["gt", "x", "y"], ["w"]),
        helper.make_node("Resize", ["x", "", "sc"], ["rz"], mode="nearest"),
        helper.make_node("Gather", ["x", "idx"], ["ga"], axis=1),
    ]
    inits = [helper.make_tensor("r0", I64, [], [2]), helper.make_tensor("r1", I64, [], [11]),
             helper.make_tensor("r2", I64, [], [3]), helper.make_tensor("sc", F, [4], [1, 1, 2, 0.5]),
             helper.make_tensor("idx", I64, [2, 3], [0, 1, 0, 1, 0, 1])]
    m = model(nodes, [tv("x", F, ["n", 2, 4, 6]), tv("y", F, [4, 1])], [tv("w", F, None)], inits=inits)
    info = load(m).value_info
    assert info["rg"].shape == [3]
    assert info["z"].shape == ["n", 2, 4, 6] and info["z"].type == "tensor(int64)"
    assert info["gt"].type == "tensor(bool)" and info["w"].shape == ["n", 2, 4, 6]
    assert info["rz"].shape == ["n", 2, 8, 3]
    assert info["ga"].shape == ["n", 2, 3, 4, 6]
    assert_agrees_with_onnx(m)


def test_if_merges_branches_and_loop_scan_bodies():
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [tv("t", F, None)])
    els = helper.make_graph([helper.make_node("Transpose", ["x"], ["e"])], "else", [], [tv("e", F, None)])
    nodes = [helper.make_node("If", ["c"], ["o"], then_branch=then, else_branch=els)]
    m = model(nodes, [tv("c", BOOL, []), tv("x", F, [3, 3])], [tv("o", F, None)])
    assert load(m).value_info["o"].shape == [3, 3]
    els2 = helper.make_graph([helper.make_node("Unsqueeze", ["x", "a0"], ["e"])], "else", [], [tv("e", F, None)],
                             initializer=[helper.make_tensor("a0", I64, [1], [0])])
    m = model([helper.make_node("If", ["c"], ["o"], then_branch=then, else_branch=els2)],
              [tv("c", BOOL, []), tv("x", F, [3, 3])], [tv("o", F, None)])
    info = load(m).value_info
    assert info["o"].shape is None and info["o"].type == "tensor(float)"
    # Scan: a state of shape [2] and scan outputs stacked along the sequence axis.
    body = helper.make_graph([helper.make_node("Add", ["s", "xs"], ["s2"]), helper.make_node("Identity", ["s2"], ["o"])],
                             "body", [tv("s", F, [2]), tv("xs", F, [2])], [tv("s2", F, [2]), tv("o", F, [2])])
    n = helper.make_node("Scan", ["s0", "x"], ["sf", "os"], body=body, num_scan_inputs=1)
    m = model([n], [tv("s0", F, [2]), tv("x", F, ["T", 2])], [tv("sf", F, None), tv("os", F, None)])
    info = load(m).value_info
    assert info["sf"].shape == [2] and info["os"].shape == ["T", 2]
    assert info["s2"].shape == [2]


def test_lstm_shapes():
    n = helper.make_node("LSTM", ["x", "w", "r"], ["y", "yh", "yc"], hidden_size=5, direction="bidirectional")
    m = model([n], [tv("x", F, ["T", "b", 3]), tv("w", F, [2, 20, 3]), tv("r", F, [2, 20, 5])], [tv("y", F, None)])
    info = load(m).value_info
    assert info["y"].shape == ["T", 2, "b", 5]
    assert info["yh"].shape == [2, "b", 5] and info["yc"].shape == [2, "b", 5]
    assert_agrees_with_onnx(m)


def test_unknown_ops_give_unknown_shapes():
    n = helper.make_node("NotAnOp", ["x"], ["y"])
    m = model([n, helper.make_node("Relu", ["y"], ["z"])], [tv("x", F, [2])], [tv("z", F, None)])
    m.graph.node[0].domain = "com.example"
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    info = load(m).value_info
    assert info["y"].shape is None and info["y"].type == "unknown"
    assert info["z"].shape is None


# ---- load-time errors --------------------------------------------------------------------------


def test_matmul_inner_dims_mismatch_fails_at_load():
    n = helper.make_node("MatMul", ["a", "b"], ["y"], name="proj")
    m = model([n], [tv("a", F, ["n", 3]), tv("b", F, [4, 5])], [tv("y", F, None)])
    with pytest.raises(ValueError, match=r"\[onnx\.MatMul\] node 'proj'.*inner dims"):
        load(m)


def test_concat_of_different_ranks_fails_at_load():
    n = helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=0)
    m = model([n], [tv("a", F, [2, 3]), tv("b", F, [2, 3, 1])], [tv("y", F, None)])
    with pytest.raises(ValueError, match=r"\[onnx\.Concat\] node 'cat'.*different ranks"):
        load(m)
    n = helper.make_node("Concat", ["a", "b"], ["y"], name="cat", axis=0)
    m = model([n], [tv("a", F, [2, 3]), tv("b", F, [2, 4])], [tv("y", F, None)])
    with pytest.raises(ValueError, match=r"node 'cat'.*differ in dim 1"):
        load(m)


def test_broadcast_and_reshape_conflicts_fail_at_load():
    n = helper.make_node("Add", ["a", "b"], ["y"], name="plus")
    m = model([n], [tv("a", F, [2, 3]), tv("b", F, [4])], [tv("y", F, None)])
    with pytest.raises(ValueError, match=r"\[onnx\.Add\] node 'plus'.*cannot broadcast"):
        load(m)
    n = helper.make_node("Reshape", ["a", "s"], ["y"], name="rs")
    m = model([n], [tv("a", F, [2, 3])], [tv("y", F, None)], inits=[helper.make_tensor("s", I64, [2], [4, 2])])
    with pytest.raises(ValueError, match=r"\[onnx\.Reshape\] node 'rs'.*cannot reshape"):
        load(m)
    w = helper.make_tensor("w", F, [4, 3, 3, 3], np.zeros(108, np.float32))
    n = helper.make_node("Conv", ["x", "w"], ["y"], name="c1")
    m = model([n], [tv("x", F, [1, 2, 8, 8])], [tv("y", F, None)], inits=[w])
    with pytest.raises(ValueError, match=r"\[onnx\.Conv\] node 'c1'.*2 channels"):
        load(m)


def test_declared_shape_or_dtype_conflict_fails_at_load():
    nodes = [helper.make_node("Relu", ["x"], ["h"], name="act"), helper.make_node("Neg", ["h"], ["y"])]
    m = model(nodes, [tv("x", F, ["n", 3])], [tv("y", F, None)], value_info=[tv("h", F, ["n", 4])])
    with pytest.raises(ValueError, match=r"\[onnx\.Relu\] node 'act'.*value 'h'.*declared.*\[n, 4\].*\[n, 3\]"):
        load(m)
    m = model(nodes, [tv("x", F, ["n", 3])], [tv("y", F, None)], value_info=[tv("h", I64, ["n", 3])])
    with pytest.raises(TypeError, match=r"node 'act'.*value 'h' is declared tensor\(int64\)"):
        load(m)
    # Declarations add names where inference has none; they do not contradict.
    nodes = [helper.make_node("NonZero", ["x"], ["h"]), helper.make_node("Identity", ["h"], ["y"])]
    m = model(nodes, [tv("x", F, ["n", 3])], [tv("y", I64, None)], value_info=[tv("h", I64, [2, "nnz"])])
    assert load(m).value_info["y"].shape == [2, "nnz"]


def test_mixed_dtypes_fail_at_load_as_type_error():
    n = helper.make_node("Add", ["a", "b"], ["y"], name="mix")
    m = model([n], [tv("a", F, [2]), tv("b", I64, [2])], [tv("y", F, None)])
    with pytest.raises(TypeError, match=r"\[onnx\.Add\] node 'mix'.*same dtype"):
        load(m)


def test_invalid_nodes_are_left_to_run_time():
    # An axis out of range: inference leaves the output unknown, run time names the error.
    n = helper.make_node("Softmax", ["x"], ["y"], axis=7, name="sm")
    m = model([n], [tv("x", F, [2, 3])], [tv("y", F, None)])
    mod = load(m)
    assert mod.value_info["y"].shape is None
    with pytest.raises(Exception, match="sm"):
        mod.run({"x": ts.ones(2, 3)})


def test_hostile_dims_do_not_crash():
    big = 2 ** 62
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=0), helper.make_node("Concat", ["x", "x"], ["c"], axis=0),
             helper.make_node("Tile", ["x", "rep"], ["t"])]
    m = model(nodes, [tv("x", F, [big, big, 3])], [tv("f", F, None)],
              inits=[helper.make_tensor("rep", I64, [3], [big, 4, 1])])
    info = load(m).value_info
    assert info["f"].shape == [1, None]  # the product overflows int64: unknown
    assert info["c"].shape == [None, big, 3]
    assert info["t"].shape == [None, None, 3]


# ---- memory estimate by liveness ---------------------------------------------------------------


def test_memory_estimate_chain_frees_after_last_use():
    # x -> a -> b -> c -> y (each [n, 100] float32): at most two intermediates alive at
    # once while a node runs (its input and its output); y, a graph output, stays.
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
             helper.make_node("Abs", ["b"], ["c"]), helper.make_node("Exp", ["c"], ["y"])]
    m = model(nodes, [tv("x", F, ["n", 100])], [tv("y", F, None)])
    est = load(m).memory_estimate({"x": [8, 100]})
    one = 8 * 100 * 4
    assert est["total_bytes"] == 4 * one
    assert est["peak_bytes"] == 2 * one
    assert est["unknown"] == []
    # A value used again at the end stays alive: a -> b -> c, then y = a + c.
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
             helper.make_node("Abs", ["b"], ["c"]), helper.make_node("Add", ["a", "c"], ["y"])]
    m = model(nodes, [tv("x", F, ["n", 100])], [tv("y", F, None)])
    est = load(m).memory_estimate({"x": [8, 100]})
    assert est["peak_bytes"] == 3 * one and est["total_bytes"] == 4 * one
    # Sizes follow the symbolic dims.
    assert load(m).memory_estimate({"x": [2, 100]})["peak_bytes"] == 3 * 2 * 100 * 4


def test_memory_estimate_fixture_and_errors():
    mod = ts.onnx.load(os.path.join(os.path.dirname(FIXTURES[0]), "resnet18.onnx"))
    small = mod.memory_estimate({"input": [1, 3, 64, 64]})
    big = mod.memory_estimate({"input": [4, 3, 64, 64]})
    assert small["unknown"] == [] and 0 < small["peak_bytes"] < small["total_bytes"]
    assert big["peak_bytes"] == 4 * small["peak_bytes"]
    with pytest.raises(ValueError, match="not an input"):
        mod.memory_estimate({"nope": [1]})
    with pytest.raises(ValueError, match="4 dims"):
        mod.memory_estimate({"input": [1, 3]})
    with pytest.raises(TypeError, match="dict"):
        mod.memory_estimate([1, 3, 64, 64])
