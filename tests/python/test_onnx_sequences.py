"""ONNX sequences and optionals (src/onnx/ops_sequence.cpp): seq(...) inputs fed
as lists and outputs returned as lists, empty optionals as None, the sequence
ops, SequenceMap's body, a Loop that carries a sequence, and string sequences;
each model against onnxruntime, and bad feeds and positions with errors that
name the input or node."""
import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built without ONNX support")

F = TensorProto.FLOAT
I64 = TensorProto.INT64
STR = TensorProto.STRING


def seq_info(name, elem=F):
    return helper.make_tensor_sequence_value_info(name, elem, None)


def opt_info(name, elem=F):
    return helper.make_value_info(name, helper.make_optional_type_proto(helper.make_tensor_type_proto(elem, None)))


def model(nodes, inputs, outputs, inits=(), opset=18):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def both(m, feed):
    ref = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, feed)
    got = ts.onnx.InferenceSession(m).run(None, feed)
    return got, ref


def assert_same(got, ref):
    assert type(got) is type(ref) or (isinstance(got, np.ndarray) and isinstance(ref, np.ndarray)), (got, ref)
    if isinstance(ref, list):
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            assert_same(g, r)
    elif ref is None:
        assert got is None
    else:
        assert got.shape == ref.shape and got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


def const_i64(name, v):
    return helper.make_tensor(name, I64, [], [v])


def test_sequence_ops_on_a_fed_list():
    nodes = [helper.make_node("SequenceInsert", ["s", "x", "p0"], ["s1"]),  # at the front
             helper.make_node("SequenceInsert", ["s1", "x"], ["s2"]),  # at the back
             helper.make_node("SequenceErase", ["s2", "pm2"], ["s3"]),  # the second last
             helper.make_node("SequenceAt", ["s3", "pm1"], ["last"]),
             helper.make_node("SequenceLength", ["s3"], ["n"]),
             helper.make_node("ConcatFromSequence", ["s3"], ["cat"], axis=0),
             helper.make_node("ConcatFromSequence", ["s3"], ["stacked"], axis=-1, new_axis=1)]
    m = model(nodes, [seq_info("s"), helper.make_tensor_value_info("x", F, [2, 3])],
              [seq_info("s3"), helper.make_tensor_value_info("last", F, None),
               helper.make_tensor_value_info("n", I64, None), helper.make_tensor_value_info("cat", F, None),
               helper.make_tensor_value_info("stacked", F, None)],
              [const_i64("p0", 0), const_i64("pm1", -1), const_i64("pm2", -2)])
    rng = np.random.default_rng(0)
    feed = {"s": [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(3)],
            "x": rng.standard_normal((2, 3)).astype(np.float32)}
    got, ref = both(m, feed)
    for g, r in zip(got, ref):
        assert_same(g, r)
    assert len(got[0]) == 4 and got[2] == 4
    # The session's metadata names the sequence type as onnxruntime does.
    s = ts.onnx.InferenceSession(m)
    assert s.get_inputs()[0].type == ort.InferenceSession(m).get_inputs()[0].type == "seq(tensor(float))"


@pytest.mark.parametrize("split,keepdims", [(None, 1), (None, 0), ("scalar", 1), ("list", 1)])
def test_split_to_sequence(split, keepdims):
    inits, inputs = [], ["x"]
    if split == "scalar":
        inits.append(helper.make_tensor("sp", I64, [], [2]))  # pieces of 2, the last of 1
        inputs.append("sp")
    elif split == "list":
        inits.append(helper.make_tensor("sp", I64, [3], [1, 0, 4]))
        inputs.append("sp")
    nodes = [helper.make_node("SplitToSequence", inputs, ["s"], axis=1, keepdims=keepdims),
             helper.make_node("SequenceLength", ["s"], ["n"])]
    m = model(nodes, [helper.make_tensor_value_info("x", F, [3, 5])],
              [seq_info("s"), helper.make_tensor_value_info("n", I64, None)], inits)
    x = np.arange(15, dtype=np.float32).reshape(3, 5)
    got, ref = both(m, {"x": x})
    assert_same(got[0], ref[0])
    assert_same(got[1], ref[1])


def test_empty_sequence_and_construct():
    nodes = [helper.make_node("SequenceEmpty", [], ["e"], dtype=I64),
             helper.make_node("SequenceLength", ["e"], ["n0"]),
             helper.make_node("SequenceConstruct", ["a", "b", "a"], ["s"]),
             helper.make_node("SequenceAt", ["s", "one"], ["b1"])]
    m = model(nodes, [helper.make_tensor_value_info("a", I64, [2]), helper.make_tensor_value_info("b", I64, [2])],
              [seq_info("e", I64), helper.make_tensor_value_info("n0", I64, None), seq_info("s", I64),
               helper.make_tensor_value_info("b1", I64, None)], [const_i64("one", 1)])
    feed = {"a": np.array([1, 2], np.int64), "b": np.array([3, 4], np.int64)}
    got, ref = both(m, feed)
    assert got[0] == [] and int(got[1]) == 0
    for g, r in zip(got, ref):
        assert_same(g, r)


def test_sequence_map_body_runs_per_element():
    # body(x_i, y) = (x_i + y, Shape(x_i)) over a fed sequence and a whole tensor.
    body = helper.make_graph(
        [helper.make_node("Add", ["xi", "y"], ["o"]), helper.make_node("Shape", ["xi"], ["sh"])], "body",
        [helper.make_tensor_value_info("xi", F, None), helper.make_tensor_value_info("y", F, None)],
        [helper.make_tensor_value_info("o", F, None), helper.make_tensor_value_info("sh", I64, None)])
    nodes = [helper.make_node("SequenceMap", ["s", "y"], ["out", "shapes"], body=body)]
    m = model(nodes, [seq_info("s"), helper.make_tensor_value_info("y", F, [1])],
              [seq_info("out"), seq_info("shapes", I64)])
    rng = np.random.default_rng(1)
    feed = {"s": [rng.standard_normal(k).astype(np.float32) for k in (1, 4, 2)], "y": np.array([10], np.float32)}
    got, ref = both(m, feed)
    for g, r in zip(got, ref):
        assert_same(g, r)
    got, ref = both(m, {"s": [], "y": feed["y"]})  # no elements: empty results
    assert got == ref == [[], []]


def test_loop_carries_a_sequence():
    # for i in range(M): s.append(x * i); then concatenated.
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F), helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("SequenceInsert", ["s_in", "xi"], ["s_out"]), helper.make_node("Identity", ["c"], ["c_out"])],
        "body", [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                 seq_info("s_in")],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), seq_info("s_out")])
    nodes = [helper.make_node("SequenceEmpty", [], ["s0"], dtype=F),
             helper.make_node("Loop", ["M", "", "s0"], ["s"], body=body),
             helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=0)]
    m = model(nodes, [helper.make_tensor_value_info("M", I64, []), helper.make_tensor_value_info("x", F, [2])],
              [helper.make_tensor_value_info("y", F, None), seq_info("s")])
    feed = {"M": np.array(4, np.int64), "x": np.array([1.5, -2], np.float32)}
    got, ref = both(m, feed)
    for g, r in zip(got, ref):
        assert_same(g, r)


def test_optional_inputs_none_and_value():
    nodes = [helper.make_node("OptionalHasElement", ["o"], ["has"]),
             helper.make_node("If", ["has"], ["y"],
                              then_branch=helper.make_graph(
                                  [helper.make_node("OptionalGetElement", ["o"], ["v"])], "then", [],
                                  [helper.make_tensor_value_info("v", F, None)]),
                              else_branch=helper.make_graph(
                                  [helper.make_node("Constant", [], ["z"], value=helper.make_tensor("z", F, [1], [-1]))],
                                  "else", [], [helper.make_tensor_value_info("z", F, None)]))]
    m = model(nodes, [opt_info("o")], [helper.make_tensor_value_info("has", TensorProto.BOOL, None),
                                       helper.make_tensor_value_info("y", F, None)])
    for v in (None, np.array([3.0, 4.0], np.float32)):
        got, ref = both(m, {"o": v})
        for g, r in zip(got, ref):
            assert_same(g, r)
    assert ts.onnx.InferenceSession(m).get_inputs()[0].type == "optional(tensor(float))"


def test_optional_output_empty_is_none():
    opt_t = helper.make_optional_type_proto(helper.make_tensor_type_proto(F, None))
    nodes = [helper.make_node("Optional", [], ["o"], type=helper.make_tensor_type_proto(F, None))]
    m = model(nodes, [helper.make_tensor_value_info("unused", F, [1])], [helper.make_value_info("o", opt_t)])
    got = ts.onnx.InferenceSession(m).run(None, {"unused": np.zeros(1, np.float32)})
    ref = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"unused": np.zeros(1, np.float32)})
    assert got == ref == [None]


def test_string_sequences():
    nodes = [helper.make_node("SplitToSequence", ["x"], ["s"], axis=0),
             helper.make_node("SequenceInsert", ["s", "w"], ["s2"]),
             helper.make_node("ConcatFromSequence", ["s2"], ["y"], axis=0),
             helper.make_node("SequenceAt", ["s2", "zero"], ["first"])]
    m = model(nodes, [helper.make_tensor_value_info("x", STR, [3, 2]), helper.make_tensor_value_info("w", STR, [1, 2])],
              [seq_info("s2", STR), helper.make_tensor_value_info("y", STR, None),
               helper.make_tensor_value_info("first", STR, None)], [const_i64("zero", 0)])
    feed = {"x": np.array([["a", "bb"], ["ccc", "d"], ["é", "f"]], dtype=object),
            "w": np.array([["x", "yz"]], dtype=object)}
    got, ref = both(m, feed)
    for g, r in zip(got, ref):
        assert_same(g, r)
    # A sequence of strings fed in: items are string arrays.
    m2 = model([helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=0, new_axis=1)], [seq_info("s", STR)],
               [helper.make_tensor_value_info("y", STR, None)])
    feed2 = {"s": [np.array(["p", "q"], dtype=object), np.array(["r", "s"], dtype=object)]}
    got, ref = both(m2, feed2)
    assert_same(got[0], ref[0])


def _seq_model():
    return model([helper.make_node("SequenceAt", ["s", "p"], ["y"])], [seq_info("s"),
                 helper.make_tensor_value_info("p", I64, [])], [helper.make_tensor_value_info("y", F, None)])


def test_bad_feeds_name_the_input():
    sess = ts.onnx.InferenceSession(_seq_model())
    x = np.zeros(2, np.float32)
    with pytest.raises(TypeError, match="input 's' must be seq\\(tensor\\(float\\)\\), got a float32 tensor"):
        sess.run(None, {"s": x, "p": np.array(0)})
    with pytest.raises(TypeError, match="input 's' item 1 is a int64 tensor"):
        sess.run(None, {"s": [x, np.zeros(2, np.int64)], "p": np.array(0)})
    with pytest.raises(TypeError, match="input 's' is seq\\(tensor\\(float\\)\\) and must have a value"):
        sess.run(None, {"s": None, "p": np.array(0)})
    with pytest.raises(ValueError, match="input 'p' must have 0 dims"):  # a list for a tensor: NumPy's array
        sess.run(None, {"s": [x], "p": [np.array(0)]})


def test_bad_positions_name_the_node():
    sess = ts.onnx.InferenceSession(_seq_model())
    x = np.zeros(2, np.float32)
    with pytest.raises(IndexError, match=r"\[onnx.SequenceAt\] node .*position 2 is out of range for a sequence of 2"):
        sess.run(None, {"s": [x, x], "p": np.array(2)})
    with pytest.raises(IndexError, match="position -3 is out of range"):
        sess.run(None, {"s": [x, x], "p": np.array(-3)})
    cat = ts.onnx.InferenceSession(model([helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=0)],
                                         [seq_info("s")], [helper.make_tensor_value_info("y", F, None)]))
    with pytest.raises(ValueError, match="cannot concatenate an empty sequence"):
        cat.run(None, {"s": []})
    with pytest.raises(ValueError, match="ConcatFromSequence"):  # shapes that do not fit, named by the node
        cat.run(None, {"s": [np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)]})
    erase = ts.onnx.InferenceSession(model([helper.make_node("SequenceErase", ["s"], ["t"])], [seq_info("s")],
                                           [seq_info("t")]))
    with pytest.raises(ValueError, match="cannot erase from an empty sequence"):
        erase.run(None, {"s": []})
    split = ts.onnx.InferenceSession(model(
        [helper.make_node("SplitToSequence", ["x", "sp"], ["s"])],
        [helper.make_tensor_value_info("x", F, [4]), helper.make_tensor_value_info("sp", I64, [2])], [seq_info("s")]))
    with pytest.raises(ValueError, match="split sizes add up to 5 but dim 0 has 4"):
        split.run(None, {"x": np.zeros(4, np.float32), "sp": np.array([2, 3])})


def test_tensor_run_refuses_sequence_outputs():
    m = ts.onnx.load(model([helper.make_node("SplitToSequence", ["x"], ["s"])],
                           [helper.make_tensor_value_info("x", F, [2])], [seq_info("s")]))
    out = m.run({"x": ts.tensor([1.0, 2.0])})  # run() returns sequences as lists
    assert [t.tolist() for t in out["s"]] == [[1.0], [2.0]]
    with pytest.raises(TypeError, match="output 's' is a sequence; use Model::run_values"):
        m._m.run([("x", ts.tensor([1.0, 2.0]))])  # the tensor-only binding names what it cannot return


def test_sequence_outputs_do_not_alias_the_feed():
    m = model([helper.make_node("Identity", ["s"], ["t"])], [seq_info("s")], [seq_info("t")])
    x = ts.tensor([1.0, 2.0])
    out = ts.onnx.load(m).run({"s": [x]})
    out["t"][0].add_(1.0)  # writing to a result must not change the caller's input
    assert x.tolist() == [1.0, 2.0]
