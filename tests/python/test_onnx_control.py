"""ONNX control flow (If, Loop, Scan) and recurrent ops (LSTM, GRU, RNN):
models built here with onnx.helper, run by tessel and by onnxruntime (the
reference) on the same inputs, plus the loader's checks of subgraphs."""
import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")

RNG = np.random.default_rng(0)
F = TensorProto.FLOAT
I64 = TensorProto.INT64
B = TensorProto.BOOL


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def tv(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, arr):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(arr), name + "_v"))


def model(nodes, inputs, outputs, inits=(), opset=13, check=False):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    if check:
        onnx.checker.check_model(m)
    return m


def run_tessel(data, feed):
    # Through ts.onnx.load rather than InferenceSession, which feeds 0-D arrays as 1-D
    # (np.ascontiguousarray); control-flow models take 0-D M and cond.
    m = ts.onnx.load(data)
    out = m.run({k: ts.as_tensor(v) for k, v in feed.items()})
    return [out[o.name].numpy() for o in m.outputs]


def compare(m, feed, rtol=1e-5, atol=1e-5):
    data = m.SerializeToString()
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    got = run_tessel(data, feed)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


# ---- If ----------------------------------------------------------------------------------------

def if_model():
    # Both branches read the outer values x and w (outer-scope names).
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["t"])], "then", [], [tv("t", [2, 3])])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "w"], ["e"])], "else", [], [tv("e", [2, 3])])
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["c"]),
        helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g),
    ]
    inits = [numpy_helper.from_array(f32(2, 3), "w"), numpy_helper.from_array(np.float32(0), "zero")]
    return model(nodes, [tv("x", [2, 3])], [tv("y", [2, 3])], inits)


@pytest.mark.parametrize("sign", [1, -1])
def test_if_branches_read_outer_values(sign):
    compare(if_model(), {"x": sign * np.abs(f32(2, 3))})


def test_if_output_aliasing_an_initializer_is_a_copy():
    then_g = helper.make_graph([helper.make_node("Identity", ["w"], ["t"])], "then", [], [tv("t", [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["w"], ["n"])], "else", [], [tv("n", [2])])
    n = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)
    m = model([n], [tv("c", [], B)], [tv("y", [2])], [numpy_helper.from_array(np.float32([1, 2]), "w")], check=False)
    sess = ts.onnx.load(m.SerializeToString())
    y = sess.run({"c": ts.tensor(True)})["y"]
    y[0] = 100
    np.testing.assert_array_equal(sess.run({"c": ts.tensor(True)})["y"].numpy(), [1, 2])
    compare(m, {"c": np.array(False)})


def test_if_output_aliasing_a_branch_initializer_is_a_copy():
    then_g = helper.make_graph([helper.make_node("Identity", ["k"], ["t"])], "then", [], [tv("t", [2])],
                               [numpy_helper.from_array(np.float32([3, 4]), "k")])
    else_g = helper.make_graph([helper.make_node("Neg", ["w"], ["n"])], "else", [], [tv("n", [2])])
    n = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)
    m = model([n], [tv("c", [], B)], [tv("y", [2])], [numpy_helper.from_array(np.float32([1, 2]), "w")])
    sess = ts.onnx.load(m.SerializeToString())
    y = sess.run({"c": ts.tensor(True)})["y"]
    y[0] = 100
    np.testing.assert_array_equal(sess.run({"c": ts.tensor(True)})["y"].numpy(), [3, 4])


def test_if_cond_must_be_bool_with_one_element():
    then_g = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [], [tv("t", [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [tv("e", [2])])
    n = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="branch")
    m = model([n], [tv("c", None, B), tv("x", [2])], [tv("y", [2])])
    sess = ts.onnx.load(m.SerializeToString())
    with pytest.raises(ValueError, match="branch.*one element"):
        sess.run({"c": ts.tensor([True, False]), "x": ts.ones([2])})


def test_if_nested_three_levels_reads_every_enclosing_scope():
    # The innermost branch reads a (main graph), b (outer If's branch) and c (middle).
    inner_then = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["ab"]), helper.make_node("Mul", ["ab", "c"], ["r1"])],
        "inner_then", [], [tv("r1", [3])])
    inner_else = helper.make_graph([helper.make_node("Sub", ["c", "a"], ["r2"])], "inner_else", [], [tv("r2", [3])])
    middle = helper.make_graph(
        [helper.make_node("Mul", ["b", "b"], ["c"]),
         helper.make_node("If", ["p2"], ["m"], then_branch=inner_then, else_branch=inner_else)],
        "middle", [], [tv("m", [3])])
    outer_then = helper.make_graph(
        [helper.make_node("Neg", ["a"], ["b"]),
         helper.make_node("If", ["p1"], ["o"], then_branch=middle, else_branch=inner_else_outer())],
        "outer_then", [], [tv("o", [3])])
    outer_else = helper.make_graph([helper.make_node("Identity", ["a"], ["z"])], "outer_else", [], [tv("z", [3])])
    n = helper.make_node("If", ["p0"], ["y"], then_branch=outer_then, else_branch=outer_else)
    m = model([n], [tv("a", [3]), tv("p0", [], B), tv("p1", [], B), tv("p2", [], B)], [tv("y", [3])])
    for p in [(True, True, True), (True, True, False), (True, False, False), (False, True, True)]:
        compare(m, {"a": f32(3), "p0": np.array(p[0]), "p1": np.array(p[1]), "p2": np.array(p[2])})


def inner_else_outer():
    return helper.make_graph([helper.make_node("Add", ["a", "b"], ["q"])], "else_b", [], [tv("q", [3])])


# ---- Loop --------------------------------------------------------------------------------------

def loop_body(with_cond_limit=None):
    # (i, cond, acc) -> (cond', acc + x * i, scan: acc); x is read from the outer graph.
    nodes = [
        helper.make_node("Cast", ["i"], ["fi"], to=F),
        helper.make_node("Mul", ["x", "fi"], ["xi"]),
        helper.make_node("Add", ["acc", "xi"], ["acc2"]),
        helper.make_node("Identity", ["acc"], ["scan"]),
    ]
    if with_cond_limit is None:
        nodes.append(helper.make_node("Identity", ["cond"], ["cond2"]))
    else:
        nodes += [const("lim", np.int64(with_cond_limit)), helper.make_node("Less", ["i", "lim"], ["cond2"])]
    return helper.make_graph(nodes, "body", [tv("i", [], I64), tv("cond", [], B), tv("acc", [3])],
                             [tv("cond2", [], B), tv("acc2", [3]), tv("scan", [3])])


@pytest.mark.parametrize("trips,cond,limit", [
    (5, None, None),     # M only (for loop)
    (0, None, None),     # zero trips: scan output [0, 3]
    (None, True, 3),     # cond only (while loop), stops when the body says so
    (10, True, 3),       # both: the cond stops first
    (2, True, 7),        # both: M stops first
    (4, False, None),    # initial cond false: no iteration
    (6, None, 2),        # M only: the body's cond still ends the loop (as onnxruntime)
])
def test_loop_trip_count_and_cond(trips, cond, limit):
    inputs = [tv("x", [3]), tv("acc0", [3])]
    names = ["", ""]
    feed = {"x": f32(3), "acc0": f32(3)}
    if trips is not None:
        inputs.append(tv("M", [], I64))
        names[0] = "M"
        feed["M"] = np.array(trips, dtype=np.int64)
    if cond is not None:
        inputs.append(tv("c", [], B))
        names[1] = "c"
        feed["c"] = np.array(cond)
    n = helper.make_node("Loop", names + ["acc0"], ["acc_final", "scans"], body=loop_body(limit))
    m = model([n], inputs, [tv("acc_final", [3]), tv("scans", None)])
    compare(m, feed)


def test_loop_carried_shape_grows_and_scan_of_scalars():
    # acc grows by one element per iteration (Concat); the scan output stacks 0-D values.
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F),
         helper.make_node("Unsqueeze", ["fi", "ax"], ["fi1"]),
         helper.make_node("Concat", ["acc", "fi1"], ["acc2"], axis=0),
         helper.make_node("ReduceSum", ["acc2"], ["s"], keepdims=0),
         helper.make_node("Identity", ["cond"], ["cond2"])],
        "body", [tv("i", [], I64), tv("cond", [], B), tv("acc", None)],
        [tv("cond2", [], B), tv("acc2", None), tv("s", [])])
    n = helper.make_node("Loop", ["M", "", "acc0"], ["acc_final", "sums"], body=body)
    m = model([n], [tv("M", [], I64), tv("acc0", [1])], [tv("acc_final", None), tv("sums", None)],
              [numpy_helper.from_array(np.int64([0]), "ax")])
    compare(m, {"M": np.array(4, dtype=np.int64), "acc0": f32(1)})


def test_loop_inside_loop_reads_outer_values_and_iteration_numbers():
    # The inner body reads the outer body's iteration number (oi) and the main graph's w.
    inner = helper.make_graph(
        [helper.make_node("Add", ["ii", "oi"], ["s"]), helper.make_node("Cast", ["s"], ["fs"], to=F),
         helper.make_node("Mul", ["fs", "w"], ["d"]), helper.make_node("Add", ["a", "d"], ["a2"]),
         helper.make_node("Identity", ["c"], ["c2"])],
        "inner", [tv("ii", [], I64), tv("c", [], B), tv("a", [2])], [tv("c2", [], B), tv("a2", [2])])
    outer = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "acc"], ["acc2"], body=inner), helper.make_node("Identity", ["cond"], ["c2"])],
        "outer", [tv("oi", [], I64), tv("cond", [], B), tv("acc", [2])], [tv("c2", [], B), tv("acc2", [2])])
    n = helper.make_node("Loop", ["M", "", "acc0"], ["y"], body=outer)
    m = model([n], [tv("M", [], I64), tv("acc0", [2]), tv("w", [2])], [tv("y", [2])])
    compare(m, {"M": np.array(3, dtype=np.int64), "acc0": f32(2), "w": f32(2)})


def test_loop_value_used_only_by_a_subgraph_stays_alive():
    # h is produced in the main graph and read only inside the loop body: it must
    # not be released before the Loop node runs.
    body = helper.make_graph(
        [helper.make_node("Add", ["a", "h"], ["a2"]), helper.make_node("Identity", ["cond"], ["c2"])],
        "body", [tv("i", [], I64), tv("cond", [], B), tv("a", [2])], [tv("c2", [], B), tv("a2", [2])])
    nodes = [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Neg", ["x"], ["nx"]),
             helper.make_node("Loop", ["M", "", "nx"], ["y"], body=body)]
    m = model(nodes, [tv("M", [], I64), tv("x", [2])], [tv("y", [2])])
    compare(m, {"M": np.array(3, dtype=np.int64), "x": f32(2)})


def test_loop_errors_name_the_node():
    body = loop_body()
    n = helper.make_node("Loop", ["M", ""], ["acc_final"], body=body, name="myloop")
    m = model([n], [tv("M", [], I64), tv("x", [3])], [tv("acc_final", [3])], check=False)
    sess = ts.onnx.load(m.SerializeToString())
    with pytest.raises(ValueError, match="myloop.*body must take 2 \\+ 0 inputs"):
        sess.run({"M": ts.tensor(2), "x": ts.ones(3)})
    n = helper.make_node("Loop", ["M", "", "a"], ["y"], body=body, name="myloop")
    m = model([n], [tv("M", [], TensorProto.INT32), tv("a", [3]), tv("x", [3])], [tv("y", [3])], check=False)
    with pytest.raises(TypeError, match="myloop.*M must be an int64"):
        ts.onnx.load(m.SerializeToString()).run({"M": ts.tensor(2, dtype=ts.int32), "a": ts.ones(3), "x": ts.ones(3)})


# ---- Scan --------------------------------------------------------------------------------------

def scan_model(in_axes=None, in_dirs=None, out_axes=None, out_dirs=None, opset=16):
    # state s [2]; scan inputs x (slices [2]) and y (slices [2]) -> s + x * y, scan outputs s and x - y.
    body = helper.make_graph(
        [helper.make_node("Mul", ["xs", "ys"], ["p"]), helper.make_node("Add", ["s", "p"], ["s2"]),
         helper.make_node("Sub", ["xs", "ys"], ["d"]), helper.make_node("Identity", ["s2"], ["o"])],
        "body", [tv("s", [2]), tv("xs", [2]), tv("ys", [2])], [tv("s2", [2]), tv("o", [2]), tv("d", [2])])
    attrs = {"num_scan_inputs": 2}
    for k, v in [("scan_input_axes", in_axes), ("scan_input_directions", in_dirs),
                 ("scan_output_axes", out_axes), ("scan_output_directions", out_dirs)]:
        if v is not None:
            attrs[k] = v
    n = helper.make_node("Scan", ["s0", "x", "y"], ["s_final", "os", "ds"], body=body, **attrs)
    xs = [4, 2] if in_axes is None or in_axes[0] == 0 else [2, 4]
    ys = [4, 2] if in_axes is None or in_axes[1] in (0, -2) else [2, 4]
    return model(n and [n], [tv("s0", [2]), tv("x", xs), tv("y", ys)],
                 [tv("s_final", [2]), tv("os", None), tv("ds", None)], opset=opset), xs, ys


@pytest.mark.parametrize("kw", [
    {},
    {"in_dirs": [1, 0]},
    {"in_axes": [1, -2], "in_dirs": [0, 1]},
    {"out_dirs": [1, 0]},
    {"out_axes": [1, -1], "out_dirs": [0, 1]},
    {"in_axes": [1, 1], "in_dirs": [1, 1], "out_axes": [-2, 1], "out_dirs": [1, 1]},
])
def test_scan_axes_and_directions(kw):
    m, xs, ys = scan_model(**kw)
    compare(m, {"s0": f32(2), "x": f32(*xs), "y": f32(*ys)})


def test_scan_length_mismatch_and_opset8():
    m, _, _ = scan_model()
    for k in (1, 2):
        m.graph.input[k].type.tensor_type.shape.dim[0].dim_param = "L"
    sess = ts.onnx.load(m.SerializeToString())
    with pytest.raises(ValueError, match="same length"):
        sess.run({"s0": ts.ones(2), "x": ts.ones([4, 2]), "y": ts.ones([3, 2])})
    m.opset_import[0].version = 8
    with pytest.raises(NotImplementedError, match="opset 8"):
        ts.onnx.load(m.SerializeToString()).run({"s0": ts.ones(2), "x": ts.ones([4, 2]), "y": ts.ones([4, 2])})


# ---- load-time checks of subgraphs -------------------------------------------------------------

def test_dangling_name_in_subgraph_names_node_and_attribute():
    then_g = helper.make_graph([helper.make_node("Neg", ["nowhere"], ["t"], name="inner")], "then", [],
                               [tv("t", [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [tv("e", [2])])
    n = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="iffy")
    m = model([n], [tv("c", [], B), tv("x", [2])], [tv("y", [2])], check=False)
    with pytest.raises(ValueError, match="node 'iffy' \\(If\\) attribute 'then_branch'.*'inner'.*'nowhere'"):
        ts.onnx.load(m.SerializeToString())


def test_subgraph_reading_its_own_nodes_output_is_a_cycle():
    then_g = helper.make_graph([helper.make_node("Neg", ["y"], ["t"])], "then", [], [tv("t", [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [tv("e", [2])])
    n = helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g, name="selfref")
    m = model([n], [tv("c", [], B), tv("x", [2])], [tv("y", [2])], check=False)
    with pytest.raises(ValueError, match="cycle.*selfref"):
        ts.onnx.load(m.SerializeToString())


def test_cycle_inside_a_subgraph():
    body = helper.make_graph([helper.make_node("Neg", ["b"], ["a"]), helper.make_node("Neg", ["a"], ["b"])],
                             "then", [], [tv("a", [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [tv("e", [2])])
    n = helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=else_g, name="iffy")
    m = model([n], [tv("c", [], B), tv("x", [2])], [tv("y", [2])], check=False)
    with pytest.raises(ValueError, match="iffy.*then_branch.*cycle"):
        ts.onnx.load(m.SerializeToString())


def nested_ifs(depth):
    g = helper.make_graph([helper.make_node("Neg", ["x"], ["o0"])], "leaf", [], [tv("o0", [2])])
    for k in range(1, depth + 1):
        leaf = helper.make_graph([helper.make_node("Abs", ["x"], [f"e{k}"])], "leaf", [], [tv(f"e{k}", [2])])
        g = helper.make_graph([helper.make_node("If", ["c"], [f"o{k}"], then_branch=g, else_branch=leaf)],
                              f"level{k}", [], [tv(f"o{k}", [2])])
    return model(list(g.node), [tv("c", [], B), tv("x", [2])], [tv(f"o{depth}", [2])], check=False)


def test_nesting_depth_limit():
    m = nested_ifs(10)
    compare(m, {"c": np.array(True), "x": f32(2)})
    with pytest.raises(ValueError, match="nest deeper than 16"):
        ts.onnx.load(nested_ifs(18).SerializeToString())


def _ld(field, payload):
    # A length-delimited protobuf field (wire type 2).
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _varint(v):
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


@pytest.mark.parametrize("depth", [40, 2000])
def test_very_deep_nesting_fails_cleanly(depth):
    # Encoded by hand (onnx's Python protobuf refuses this depth): protobuf's own
    # recursion limit or tessel's refuses it, without a crash or a stack overflow.
    vi = lambda name: tv(name, [2]).SerializeToString()  # noqa: E731
    leaf = helper.make_graph([helper.make_node("Neg", ["x"], ["o"])], "leaf", [], [tv("o", [2])]).SerializeToString()
    g = leaf
    for _ in range(depth):
        attrs = b"".join(_ld(5, _ld(1, name) + _ld(6, body) + _varint(20 << 3) + _varint(5))
                         for name, body in [(b"then_branch", g), (b"else_branch", leaf)])
        g = _ld(1, _ld(1, b"c") + _ld(2, b"o") + _ld(4, b"If") + attrs) + _ld(2, b"g") + _ld(12, vi("o"))
    g += _ld(11, tv("c", [], B).SerializeToString()) + _ld(11, vi("x"))
    data = _varint(1 << 3) + _varint(8) + _ld(7, g) + _ld(8, _ld(1, b"") + _varint(2 << 3) + _varint(13))
    with pytest.raises(ValueError, match="nest deeper|not a valid ONNX model"):
        ts.onnx.load(data)


def test_missing_graph_attribute_and_wrong_type():
    n = helper.make_node("If", ["c"], ["y"], name="lonely", then_branch=helper.make_graph(
        [helper.make_node("Neg", ["x"], ["t"])], "then", [], [tv("t", [2])]))
    m = model([n], [tv("c", [], B), tv("x", [2])], [tv("y", [2])], check=False)
    with pytest.raises(ValueError, match="lonely.*else_branch.*required"):
        ts.onnx.load(m.SerializeToString()).run({"c": ts.tensor(False), "x": ts.ones(2)})
    n = helper.make_node("Loop", ["M", "", "x"], ["y"], name="badloop", body=3)
    m = model([n], [tv("M", [], I64), tv("x", [2])], [tv("y", [2])], check=False)
    with pytest.raises(ValueError, match="badloop.*'body' must be a graph"):
        ts.onnx.load(m.SerializeToString()).run({"M": ts.tensor(1), "x": ts.ones(2)})


# ---- RNN, GRU, LSTM ----------------------------------------------------------------------------

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def rnn_model(op, direction="forward", layout=0, lens=False, init=False, peep=False, bias=True, S=5, Bt=3, I=4,
              H=6, **attrs):
    D = 2 if direction == "bidirectional" else 1
    G = GATES[op]
    inits = [numpy_helper.from_array(f32(D, G * H, I) * 0.5, "W"), numpy_helper.from_array(f32(D, G * H, H) * 0.5, "R")]
    names = ["X", "W", "R", "", "", ""]
    feed = {"X": f32(Bt, S, I) if layout else f32(S, Bt, I)}
    if bias:
        inits.append(numpy_helper.from_array(f32(D, 2 * G * H) * 0.5, "B"))
        names[3] = "B"
    if lens:
        inits.append(numpy_helper.from_array(np.int32([S, 2, 1][:Bt]), "L"))
        names[4] = "L"
    state = [Bt, D, H] if layout else [D, Bt, H]
    if init:
        names[5] = "h0"
        feed["h0"] = f32(*state)
        if op == "LSTM":
            names.append("c0")
            feed["c0"] = f32(*state)
    if peep:
        names += [""] * (7 - len(names)) + ["P"]
        inits.append(numpy_helper.from_array(f32(D, 3 * H), "P"))
    while names and names[-1] == "":
        names.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    n = helper.make_node(op, names, outs, direction=direction, hidden_size=H, layout=layout, **attrs)
    ins = [tv(k, list(v.shape)) for k, v in feed.items()]
    m = model([n], ins, [tv(o, None) for o in outs], inits, opset=14)
    return m, feed


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
@pytest.mark.parametrize("lens,init", [(False, False), (True, True)])
def test_recurrent_directions_layouts_lengths(op, direction, layout, lens, init):
    m, feed = rnn_model(op, direction, layout, lens, init)
    if layout == 0:
        compare(m, feed, rtol=1e-4, atol=1e-5)
        return
    # onnxruntime has no batch-major kernel (and onnx's reference evaluator ignores
    # sequence_lens): the oracle is the same model with layout 0 on transposed data.
    got = run_tessel(m.SerializeToString(), feed)
    m0 = onnx.ModelProto()
    m0.CopyFrom(m)
    for a in m0.graph.node[0].attribute:
        if a.name == "layout":
            a.i = 0
    for v in m0.graph.input:
        v.type.tensor_type.ClearField("shape")
    feed0 = {k: np.ascontiguousarray(v.swapaxes(0, 1)) for k, v in feed.items()}
    want = ort.InferenceSession(m0.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed0)
    np.testing.assert_allclose(got[0], want[0].transpose(2, 0, 1, 3), rtol=1e-4, atol=1e-5)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w.swapaxes(0, 1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_lstm_peepholes_and_input_forget(direction):
    m, feed = rnn_model("LSTM", direction, peep=True, init=True)
    compare(m, feed, rtol=1e-4, atol=1e-5)
    m, feed = rnn_model("LSTM", direction, input_forget=1)
    compare(m, feed, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lbr", [0, 1])
@pytest.mark.parametrize("bias", [True, False])
def test_gru_linear_before_reset(lbr, bias):
    m, feed = rnn_model("GRU", "bidirectional", init=True, bias=bias, linear_before_reset=lbr)
    compare(m, feed, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,acts,alpha,beta", [
    ("RNN", ["Relu"], None, None),
    ("RNN", ["LeakyRelu", "Affine"], [0.2, 0.5], [0.1]),
    ("GRU", ["HardSigmoid", "Softsign"], [0.3], [0.4]),
    ("GRU", ["Sigmoid", "ScaledTanh", "HardSigmoid", "Tanh"], [0.7, 0.25], [1.3, 0.6]),
    ("LSTM", ["Sigmoid", "Elu", "Softplus"], None, None),
    ("LSTM", ["HardSigmoid", "Tanh", "ThresholdedRelu"], [0.3, 0.1], [0.4]),
])
def test_recurrent_activations(op, acts, alpha, beta):
    attrs = {"activations": acts}
    if alpha:
        attrs["activation_alpha"] = alpha
    if beta:
        attrs["activation_beta"] = beta
    direction = "bidirectional" if len(acts) == 2 * {"RNN": 1, "GRU": 2, "LSTM": 3}[op] else "forward"
    m, feed = rnn_model(op, direction, **attrs)
    compare(m, feed, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_recurrent_clip(op):
    m, feed = rnn_model(op, "bidirectional", init=True, clip=0.4)
    compare(m, feed, rtol=1e-4, atol=1e-5)


def test_recurrent_without_hidden_size_and_optional_outputs():
    # hidden_size comes from R; only Y_h is requested.
    W, R = f32(1, 9, 3), f32(1, 9, 3)
    n = helper.make_node("GRU", ["X", "W", "R"], ["", "Y_h"])
    m = model([n], [tv("X", [4, 2, 3])], [tv("Y_h", None)],
              [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")])
    x = f32(4, 2, 3)
    (got,) = run_tessel(m.SerializeToString(), {"X": x})
    m.graph.node[0].attribute.append(helper.make_attribute("hidden_size", 3))
    (want,) = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_recurrent_bad_shapes_name_the_node():
    m, _ = rnn_model("LSTM")
    m.graph.node[0].name = "lstm0"
    sess = ts.onnx.load(m.SerializeToString())
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 5
    sess = ts.onnx.load(m.SerializeToString())
    with pytest.raises(ValueError, match="lstm0.*W must have shape"):
        sess.run({"X": ts.ones([5, 3, 5])})
    m, _ = rnn_model("RNN", activations=["Bogus"])
    with pytest.raises(ValueError, match="activation 'Bogus'"):
        ts.onnx.load(m.SerializeToString()).run({"X": ts.ones([5, 3, 4])})
    m, _ = rnn_model("GRU", lens=True)
    m.graph.initializer[-1].CopyFrom(numpy_helper.from_array(np.int32([9, 1, 1]), "L"))
    with pytest.raises(ValueError, match="sequence_lens values must be in \\[0, 5\\]"):
        ts.onnx.load(m.SerializeToString()).run({"X": ts.ones([5, 3, 4])})
