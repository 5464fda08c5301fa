"""String tensors (tensor(string)) in the ONNX runtime, checked against onnxruntime
on small models built with onnx.helper."""
import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")

S, F, I64, B = TensorProto.STRING, TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _model(nodes, inputs, outputs, inits=(), opset=20, ml=True):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    ops = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", 3)] if ml else [])
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 9
    onnx.checker.check_model(m) if all(o.type.tensor_type.HasField("shape") for o in m.graph.output) else None
    return m.SerializeToString()


def _both(model, feed):
    """Outputs of tessel's InferenceSession and of onnxruntime on the same feed."""
    ours = ts.onnx.InferenceSession(model).run(None, feed)
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feed)
    return ours, ref


def _same(ours, ref):
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape
        if b.dtype == object:
            assert a.dtype == object
            assert a.tolist() == b.tolist()
        else:
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b)


def test_normalizer_label_encoder_to_numbers():
    nodes = [
        helper.make_node("StringNormalizer", ["x"], ["n"], case_change_action="LOWER", stopwords=["the", "A"],
                         locale="C"),
        helper.make_node("LabelEncoder", ["n"], ["ids"], domain="ai.onnx.ml", keys_strings=["cat", "dog", "bird"],
                         values_int64s=[0, 1, 2], default_int64=-1),
        helper.make_node("Cast", ["ids"], ["y"], to=F),
    ]
    m = _model(nodes, [helper.make_tensor_value_info("x", S, [None])], [helper.make_tensor_value_info("y", F, [None])])
    x = np.array(["The", "CAT", "a", "Dog", "fish", "bird"], dtype=object)
    ours, ref = _both(m, {"x": x})
    _same(ours, ref)
    np.testing.assert_array_equal(ours[0], [0, 1, -1, 2])
    # <U arrays and plain lists are string feeds too.
    got = ts.onnx.load(m)(x.astype(str))
    np.testing.assert_array_equal(got.numpy(), [0, 1, -1, 2])


def test_model_returning_strings():
    nodes = [
        helper.make_node("CategoryMapper", ["c"], ["name"], domain="ai.onnx.ml", cats_int64s=[1, 2, 3],
                         cats_strings=["one", "two", "three"], default_string="?"),
        helper.make_node("StringConcat", ["name", "suffix"], ["y"]),
        helper.make_node("Reshape", ["y", "shape"], ["z"]),
        helper.make_node("Transpose", ["z"], ["t"], perm=[1, 0]),
    ]
    inits = [helper.make_tensor("suffix", S, [], [b"!"]), helper.make_tensor("shape", I64, [2], [2, 3])]
    m = _model(nodes, [helper.make_tensor_value_info("c", I64, [6])],
               [helper.make_tensor_value_info("y", S, [6]), helper.make_tensor_value_info("t", S, [3, 2])], inits)
    c = np.array([1, 2, 3, 4, 2, 1], dtype=np.int64)
    ours, ref = _both(m, {"c": c})
    _same(ours, ref)
    assert ours[1].tolist() == [["one!", "?!"], ["two!", "two!"], ["three!", "one!"]]
    info = ts.onnx.load(m)
    assert [o.type for o in info.outputs] == ["tensor(string)", "tensor(string)"]
    assert info.value_info["name"].type == "tensor(string)"
    assert info.value_info["t"].shape == [3, 2]
    assert info.outputs[0].dtype is None and info.inputs[0].dtype == ts.int64  # strings have no tessel dtype


@pytest.mark.parametrize("op,extra,attrs,inits", [
    ("Flatten", [], {"axis": 1}, []),
    ("Squeeze", ["ax"], {}, [helper.make_tensor("ax", I64, [1], [0])]),
    ("Unsqueeze", ["ax"], {}, [helper.make_tensor("ax", I64, [1], [-1])]),
    ("Gather", ["idx"], {"axis": 1}, [helper.make_tensor("idx", I64, [3], [2, -1, 0])]),
    ("Slice", ["st", "en", "ax"], {}, [helper.make_tensor("st", I64, [1], [1]), helper.make_tensor("en", I64, [1], [3]),
                                       helper.make_tensor("ax", I64, [1], [1])]),
    ("Expand", ["sh"], {}, [helper.make_tensor("sh", I64, [3], [2, 1, 3])]),
    ("Tile", ["rep"], {}, [helper.make_tensor("rep", I64, [2], [2, 2])]),
    ("Identity", [], {}, []),
])
def test_shape_ops_on_strings(op, extra, attrs, inits):
    x = np.array([["a", "bb", "ccc"]], dtype=object)
    node = helper.make_node(op, ["x"] + extra, ["y"], **attrs)
    m = _model([node], [helper.make_tensor_value_info("x", S, [1, 3])], [helper.make_tensor_value_info("y", S, None)],
               inits)
    _same(*_both(m, {"x": x}))


def test_where_split_gather_elements_compress_shape():
    nodes = [
        helper.make_node("Where", ["cond", "x", "other"], ["w"]),
        helper.make_node("Split", ["x"], ["s0", "s1"], axis=1, num_outputs=2),
        helper.make_node("GatherElements", ["x", "gi"], ["ge"], axis=1),
        helper.make_node("Compress", ["x", "keep"], ["c"], axis=1),
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Size", ["x"], ["size"]),
    ]
    inits = [helper.make_tensor("other", S, [1], [b"-"]), helper.make_tensor("gi", I64, [2, 2], [3, 0, 1, 1]),
             helper.make_tensor("keep", B, [4], [1, 0, 0, 1])]
    outs = [("w", S), ("s0", S), ("s1", S), ("ge", S), ("c", S), ("shape", I64), ("size", I64)]
    m = _model(nodes, [helper.make_tensor_value_info("cond", B, [2, 4]), helper.make_tensor_value_info("x", S, [2, 4])],
               [helper.make_tensor_value_info(n, t, None) for n, t in outs], inits, opset=18)
    x = np.array([["a", "b", "c", "d"], ["e", "f", "g", "h"]], dtype=object)
    cond = np.array([[True, False, True, False], [False, False, True, True]])
    _same(*_both(m, {"cond": cond, "x": x}))
    info = ts.onnx.load(m)
    assert info.value_info["s1"].type == "tensor(string)" and info.value_info["w"].type == "tensor(string)"
    assert info.value_info["shape"].type == "tensor(int64)"


def test_concat_equal_cast():
    nodes = [
        helper.make_node("Concat", ["a", "b"], ["c"], axis=0),
        helper.make_node("Equal", ["c", "k"], ["eq"]),
        helper.make_node("Cast", ["c"], ["num"], to=TensorProto.DOUBLE),
        helper.make_node("Cast", ["num"], ["back"], to=S),
        helper.make_node("Cast", ["eq"], ["eqs"], to=S),
    ]
    inits = [helper.make_tensor("k", S, [1], [b"2.5"])]
    m = _model(nodes, [helper.make_tensor_value_info("a", S, [2]), helper.make_tensor_value_info("b", S, [None])],
               [helper.make_tensor_value_info(n, t, None) for n, t in
                [("eq", B), ("num", TensorProto.DOUBLE), ("back", S), ("eqs", S)]], inits)
    feed = {"a": np.array(["1", "2.5"], dtype=object), "b": np.array(["-3e2", "0.125", "7"], dtype=object)}
    _same(*_both(m, feed))


def test_tfidf_over_strings():
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="TF", min_gram_length=1, max_gram_length=2,
                            max_skip_count=0, ngram_counts=[0, 3], ngram_indexes=[0, 1, 2, 3, 4],
                            pool_strings=["a", "b", "c", "a", "b", "b", "c"])
    m = _model([node], [helper.make_tensor_value_info("x", S, [2, 4])], [helper.make_tensor_value_info("y", F, None)])
    x = np.array([["a", "b", "c", "a"], ["b", "c", "z", "b"]], dtype=object)
    _same(*_both(m, {"x": x}))


def test_string_ops_opset20():
    nodes = [
        helper.make_node("StringSplit", ["x"], ["parts", "count"], delimiter=","),
        helper.make_node("RegexFullMatch", ["x"], ["m"], pattern=r"[a-z]+(,[a-z]+)*"),
    ]
    m = _model(nodes, [helper.make_tensor_value_info("x", S, [3])],
               [helper.make_tensor_value_info("parts", S, None), helper.make_tensor_value_info("count", I64, None),
                helper.make_tensor_value_info("m", B, None)], ml=False)
    x = np.array(["a,b,c", "x", "no match,1,"], dtype=object)
    ours = ts.onnx.InferenceSession(m).run(None, {"x": x})
    assert ours[0].tolist() == [["a", "b", "c"], ["x", "", ""], ["no match", "1", ""]]
    assert ours[1].tolist() == [3, 1, 3]
    assert ours[2].tolist() == [True, True, False]
    try:
        ref = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    except Exception:  # an onnxruntime without these opset-20 kernels
        return
    _same(ours, ref)


def test_string_input_errors_name_the_input():
    node = helper.make_node("Identity", ["x"], ["y"])
    m = ts.onnx.load(_model([node], [helper.make_tensor_value_info("x", S, [2])],
                            [helper.make_tensor_value_info("y", S, [2])]))
    with pytest.raises(TypeError, match="'x'.*tensor\\(string\\)"):
        m.run({"x": ts.tensor([1.0, 2.0])})
    with pytest.raises(ValueError, match="'x' dim 0 must be 2"):
        m.run({"x": np.array(["a"], dtype=object)})
    num = ts.onnx.load(_model([helper.make_node("Identity", ["x"], ["y"])], [helper.make_tensor_value_info("x", F, [2])],
                              [helper.make_tensor_value_info("y", F, [2])]))
    with pytest.raises(TypeError, match="'x' must be tensor\\(float\\), got strings"):
        num.run({"x": np.array(["a", "b"], dtype=object)})
    # A numeric op handed strings names the node and the input.
    bad = ts.onnx.load(_model([helper.make_node("Relu", ["x"], ["y"])], [helper.make_tensor_value_info("x", F, [2])],
                              [helper.make_tensor_value_info("y", F, [2])]))
    with pytest.raises(TypeError):
        bad.run({"x": np.array(["a", "b"], dtype=object)})


def test_skl2onnx_pipeline_with_string_category():
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    cats = np.array(["red", "green", "blue"], dtype=object)[rng.integers(0, 3, 60)].reshape(-1, 1)
    num = rng.normal(size=(60, 2)).astype(np.float32)
    y = (num[:, 0] > 0).astype(np.int64)
    import pandas as pd

    df = pd.DataFrame({"c": cats[:, 0], "a": num[:, 0], "b": num[:, 1]})
    pipe = Pipeline([("pre", ColumnTransformer([("oh", OneHotEncoder(), ["c"])], remainder="passthrough")),
                     ("lr", LogisticRegression())]).fit(df, y)
    onx = skl2onnx.convert_sklearn(pipe, initial_types=[("c", StringTensorType([None, 1])),
                                                        ("a", FloatTensorType([None, 1])),
                                                        ("b", FloatTensorType([None, 1]))],
                                  options={LogisticRegression: {"zipmap": False}})
    feed = {"c": cats, "a": num[:, :1], "b": num[:, 1:]}
    ours, ref = _both(onx.SerializeToString(), feed)
    np.testing.assert_array_equal(ours[0], ref[0])
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-5, atol=1e-6)
