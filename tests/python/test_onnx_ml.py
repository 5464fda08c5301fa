"""ONNX-ML (ai.onnx.ml) models: scikit-learn pipelines converted by skl2onnx,
run by tessel and checked against onnxruntime and scikit-learn itself; hand-built
tree ensembles for the modes, aggregates and missing values exporters rarely
write; malformed ensembles refused with the node named."""
import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper as H

import tessel as ts

ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
from sklearn import ensemble, impute, linear_model, pipeline, preprocessing, svm, tree  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built without ONNX support")


def _data(kind, seed=0):
    if kind == "reg":
        x, y = make_regression(240, 7, random_state=seed)
    else:
        x, y = make_classification(240, 7, n_informative=5, n_classes=int(kind[-1]), random_state=seed)
    return x.astype(np.float32), y


def _convert(model, x):
    last = model.steps[-1][1] if isinstance(model, pipeline.Pipeline) else model
    opts = {id(last): {"zipmap": False}} if hasattr(last, "classes_") else None
    return skl2onnx.to_onnx(model, x[:1], options=opts, target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()


def _both(model_bytes, feed):
    ref = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    ours = ts.onnx.InferenceSession(model_bytes)
    assert [o.name for o in ours.get_outputs()] == [o.name for o in ref.get_outputs()]
    return ours.run(None, feed), ref.run(None, feed)


def _assert_same(ours, ref):
    for a, b in zip(ours, ref):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(a, b)


CASES = {
    "random_forest_2": (lambda: ensemble.RandomForestClassifier(8, max_depth=5, random_state=0), "cls2"),
    "random_forest_3": (lambda: ensemble.RandomForestClassifier(8, max_depth=5, random_state=0), "cls3"),
    "extra_trees_3": (lambda: ensemble.ExtraTreesClassifier(8, max_depth=5, random_state=0), "cls3"),
    "gradient_boosting_2": (lambda: ensemble.GradientBoostingClassifier(n_estimators=8, max_depth=3), "cls2"),
    "gradient_boosting_3": (lambda: ensemble.GradientBoostingClassifier(n_estimators=8, max_depth=3), "cls3"),
    "decision_tree_3": (lambda: tree.DecisionTreeClassifier(max_depth=4), "cls3"),
    "logistic_2": (lambda: linear_model.LogisticRegression(), "cls2"),
    "logistic_3": (lambda: linear_model.LogisticRegression(), "cls3"),
    "ridge_classifier_2": (lambda: linear_model.RidgeClassifier(), "cls2"),
    "random_forest_regressor": (lambda: ensemble.RandomForestRegressor(8, max_depth=5, random_state=0), "reg"),
    "gradient_boosting_regressor": (lambda: ensemble.GradientBoostingRegressor(n_estimators=8), "reg"),
    "linear_regression": (lambda: linear_model.LinearRegression(), "reg"),
    "scaled_normalized_logistic": (lambda: pipeline.make_pipeline(
        preprocessing.StandardScaler(), preprocessing.Normalizer(), linear_model.LogisticRegression()), "cls3"),
    "minmax_maxabs_forest": (lambda: pipeline.make_pipeline(
        preprocessing.MinMaxScaler(), preprocessing.MaxAbsScaler(), ensemble.RandomForestRegressor(4, random_state=0)), "reg"),
    "l1_linear": (lambda: pipeline.make_pipeline(preprocessing.Normalizer("l1"), linear_model.LinearRegression()), "reg"),
    "imputed_boosting": (lambda: pipeline.make_pipeline(
        impute.SimpleImputer(), ensemble.GradientBoostingClassifier(n_estimators=5)), "cls2"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sklearn_model_matches_onnxruntime_and_sklearn(name):
    make, kind = CASES[name]
    x, y = _data(kind)
    model = make().fit(x, y)
    xt = x.copy()
    if name.startswith("imputed"):
        xt[::5, 2] = np.nan  # the Imputer fills them with the training mean
    onx = _convert(model, x)
    ours, ref = _both(onx, {"X": xt})
    _assert_same(ours, ref)
    for rows in (xt[:1], xt[:65]):  # one row (trees walked eight at a time), and a last block of one row
        _assert_same(*_both(onx, {"X": rows}))
    # scikit-learn itself: the same labels (float32 features; ties at a split are not in this data)
    # and, for classifiers, the same probabilities up to float32 rounding.
    if kind == "reg":
        np.testing.assert_allclose(ours[0].ravel(), model.predict(xt), rtol=1e-4, atol=1e-3 * np.abs(y).max())
    else:
        np.testing.assert_array_equal(ours[0], model.predict(xt))
        if hasattr(model, "predict_proba"):
            np.testing.assert_allclose(ours[1], model.predict_proba(xt), atol=1e-5)


SVM_CASES = {
    "svc_rbf_2": (lambda: svm.SVC(), "cls2"),
    "svc_rbf_3_proba": (lambda: svm.SVC(probability=True, random_state=0), "cls3"),
    "svc_poly_4": (lambda: svm.SVC(kernel="poly"), "cls4"),
    "svc_linear_2_proba": (lambda: svm.SVC(kernel="linear", probability=True, random_state=0), "cls2"),
    "svc_sigmoid_3": (lambda: svm.SVC(kernel="sigmoid"), "cls3"),
    "nu_svc_3_proba": (lambda: svm.NuSVC(probability=True, random_state=0), "cls3"),
    "svr_rbf": (lambda: svm.SVR(), "reg"),
    "nu_svr_poly": (lambda: svm.NuSVR(kernel="poly"), "reg"),
    "svr_linear": (lambda: svm.SVR(kernel="linear"), "reg"),
}


@pytest.mark.filterwarnings("ignore::FutureWarning")  # scikit-learn 1.9 deprecates SVC(probability=True)
@pytest.mark.parametrize("name", sorted(SVM_CASES))
def test_sklearn_svm_matches_onnxruntime_and_sklearn(name):
    make, kind = SVM_CASES[name]
    x, y = _data(kind)
    model = make().fit(x, y)
    onx = _convert(model, x)
    ours, ref = _both(onx, {"X": x})
    _assert_same(ours, ref)  # one-vs-one votes, pair scores and the libsvm probability coupling
    for rows in (x[:1], x[5:8]):  # a few rows take the kernel's direct dot products, not the matmul
        _assert_same(*_both(onx, {"X": rows}))
    if kind == "reg":
        np.testing.assert_allclose(ours[0].ravel(), model.predict(x), rtol=1e-4, atol=1e-3 * np.abs(y).max())
    else:
        np.testing.assert_array_equal(ours[0], model.predict(x))


def test_one_class_svm_and_malformed_svms():
    x, _ = _data("cls3")
    model = svm.OneClassSVM(gamma=0.1).fit(x)
    onx = skl2onnx.to_onnx(model, x[:1], target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()
    ours, ref = _both(onx, {"X": x})
    _assert_same(ours, ref)
    np.testing.assert_array_equal(ours[0].ravel(), model.predict(x))
    node = H.make_node("SVMClassifier", ["X"], ["L", "S"], domain="ai.onnx.ml", classlabels_ints=[0, 1, 2],
                       vectors_per_class=[1, 1, 1], support_vectors=[1.0] * 9, coefficients=[1.0] * 6, rho=[0.0],
                       kernel_type="RBF", kernel_params=[0.5, 0.0, 3.0])
    with pytest.raises(ValueError, match=r"SVMClassifier.*rho has 1 values for 3 class pairs"):
        ts.onnx.InferenceSession(_model([node], 3, outputs=(("L", TP.INT64), ("S", TP.FLOAT)))).run(None, {"X": X3})
    node = H.make_node("SVMRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_supports=2, support_vectors=[1.0] * 6,
                       coefficients=[1.0, 2.0], rho=[0.5], kernel_type="LINEAR")
    with pytest.raises(ValueError, match=r"SVMRegressor.*X has 2 features; the model has 3"):
        ts.onnx.InferenceSession(_model([node], 2)).run(None, {"X": X3[:, :2]})
    node = H.make_node("SVMRegressor", ["X"], ["Y"], domain="ai.onnx.ml", n_supports=4, support_vectors=[1.0] * 6,
                       coefficients=[1.0] * 4, rho=[0.5])
    with pytest.raises(ValueError, match=r"support_vectors has 6 values, not a multiple of the 4 support vectors"):
        ts.onnx.InferenceSession(_model([node], 3))


def test_string_class_labels():
    x, y = _data("cls3")
    labels = np.array(["cat", "dog", "eel"])[y]
    for model in (ensemble.RandomForestClassifier(6, max_depth=4, random_state=0), linear_model.LogisticRegression()):
        model.fit(x, labels)
        ours, ref = _both(_convert(model, x), {"X": x})
        assert ours[0].dtype == object and ours[0].tolist() == ref[0].tolist() == model.predict(x).tolist()
        np.testing.assert_allclose(ours[1], ref[1], rtol=1e-5, atol=1e-6)


def test_normalizer_max_is_max_abs_like_sklearn():
    # onnxruntime 1.32 divides by the signed row max; scikit-learn and the ONNX reference by max |x|.
    x = np.array([[1, -4, 2], [-1, -3, -0.5], [3, 1, 2]], np.float32)
    m = _model([H.make_node("Normalizer", ["X"], ["Y"], domain="ai.onnx.ml", norm="MAX")], 3)
    (y,) = ts.onnx.InferenceSession(m).run(None, {"X": x})
    np.testing.assert_allclose(y, preprocessing.Normalizer("max").fit_transform(x), rtol=1e-6)


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
@pytest.mark.parametrize("dtype", [TP.FLOAT, TP.DOUBLE])
def test_normalizer_and_scaler_rows_with_nan_and_zeros(norm, dtype):
    # float32 runs the one-pass loops, float64 the op path: both against NumPy in float64
    # (a zero row stays zero, a row holding NaN is all NaN).
    x = np.array([[1, -4, 2], [0, 0, 0], [np.nan, 1, 2], [3, 1e-3, -2]])
    npd = np.float32 if dtype == TP.FLOAT else np.float64
    d = {"MAX": np.abs(x).max(1), "L1": np.abs(x).sum(1), "L2": np.sqrt((x * x).sum(1))}[norm]
    m = _model([H.make_node("Normalizer", ["X"], ["Y"], domain="ai.onnx.ml", norm=norm)], 3, dtype=dtype)
    (y,) = ts.onnx.InferenceSession(m).run(None, {"X": x.astype(npd)})
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x / np.maximum(d, 1e-30)[:, None], rtol=1e-6, equal_nan=True)
    assert np.isnan(y[2]).all() and not np.isnan(np.delete(y, 2, 0)).any()
    m = _model([H.make_node("Scaler", ["X"], ["Y"], domain="ai.onnx.ml", offset=[1.0, 0.5, -2.0], scale=[2.0])], 3,
               dtype=dtype)
    (y,) = ts.onnx.InferenceSession(m).run(None, {"X": x.astype(npd)})
    np.testing.assert_allclose(y, (x - [1.0, 0.5, -2.0]) * 2.0, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("dtype", [TP.FLOAT, TP.DOUBLE, TP.INT64, TP.INT32])
@pytest.mark.parametrize("rows", [None, 1, 4])
def test_array_feature_extractor_matches_onnxruntime(dtype, rows):
    # Picks entries of the last axis, repeats and any order allowed; a 1-D X gives [1, k].
    npd = {TP.FLOAT: np.float32, TP.DOUBLE: np.float64, TP.INT64: np.int64, TP.INT32: np.int32}[dtype]
    x = (np.arange(5 * (rows or 1)).reshape(rows, 5) if rows else np.arange(5) * 3).astype(npd)
    g = H.make_graph([H.make_node("ArrayFeatureExtractor", ["X", "I"], ["Y"], domain="ai.onnx.ml")], "g",
                     [H.make_tensor_value_info("X", dtype, None), H.make_tensor_value_info("I", TP.INT64, None)],
                     [H.make_tensor_value_info("Y", dtype, None)])
    m = H.make_model(g, opset_imports=[H.make_opsetid("", 17), H.make_opsetid("ai.onnx.ml", 3)],
                     ir_version=9).SerializeToString()
    for idx in (np.array([4, 0, 0, 2]), np.array([[3]]), np.array([1])):
        ours, ref = _both(m, {"X": x, "I": idx})
        assert ours[0].dtype == ref[0].dtype and ours[0].shape == ref[0].shape
        np.testing.assert_array_equal(ours[0], ref[0])
    with pytest.raises(ValueError, match="ArrayFeatureExtractor.*index 5 is out of range"):
        ts.onnx.InferenceSession(m).run(None, {"X": x, "I": np.array([5])})


def _model(nodes, features, outputs=(("Y", TP.FLOAT),), ml_opset=3, dtype=TP.FLOAT):
    g = H.make_graph(nodes, "g", [H.make_tensor_value_info("X", dtype, [None, features])],
                     [H.make_tensor_value_info(n, t, None) for n, t in outputs])
    return H.make_model(g, opset_imports=[H.make_opsetid("", 17), H.make_opsetid("ai.onnx.ml", ml_opset)],
                        ir_version=9).SerializeToString()


# Two trees over 3 features. Tree 0: x0 <mode> 0.5 ? (x1 <= -1 ? leaf 3 : leaf 4) : leaf 2.
# Tree 1: x2 <= 0 ? leaf 1 : leaf 2. Votes go to two targets.
def _regressor(mode="BRANCH_LEQ", agg="SUM", base=None, missing=(0, 0, 0, 0, 0, 0, 0, 0), n_targets=2, post="NONE"):
    kw = dict(base_values=base) if base is not None else {}
    return H.make_node(
        "TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml",
        nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
        nodes_featureids=[0, 1, 0, 0, 0, 2, 0, 0], nodes_values=[0.5, -1.0, 0, 0, 0, 0.0, 0, 0],
        nodes_modes=[mode, "BRANCH_LEQ", "LEAF", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"],
        nodes_truenodeids=[1, 3, 0, 0, 0, 1, 0, 0], nodes_falsenodeids=[2, 4, 0, 0, 0, 2, 0, 0],
        nodes_missing_value_tracks_true=list(missing),
        target_treeids=[0, 0, 0, 0, 1, 1], target_nodeids=[2, 3, 4, 4, 1, 2],
        target_ids=[0, 0, 0, 1, 1, 0] if n_targets == 2 else [0] * 6,
        # One target: leaf 4's second vote is 0 (onnxruntime keeps only a leaf's first vote then;
        # tessel sums them, as the spec says).
        target_weights=[1.5, -2.0, 4.0, 0.25 if n_targets == 2 else 0.0, -3.0, 7.0],
        n_targets=n_targets, aggregate_function=agg, post_transform=post, **kw)


X3 = np.array([[0.1, -2, -1], [0.5, 0, 1], [0.9, -5, 0], [np.nan, -2, np.nan], [0.5, np.nan, -0.5],
               [-7, 3, 2]], np.float32)


@pytest.mark.parametrize("mode", ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"])
@pytest.mark.parametrize("agg", ["SUM", "AVERAGE", "MIN", "MAX"])
def test_tree_regressor_modes_and_aggregates(mode, agg):
    m = _model([_regressor(mode, agg)], 3)
    _assert_same(*_both(m, {"X": X3}))
    for r in range(len(X3)):  # each row alone: its trees walked side by side
        _assert_same(*_both(m, {"X": X3[r:r + 1]}))


@pytest.mark.parametrize("kw", [dict(base=[10.0, -1.0]), dict(base=[0.5], n_targets=1),
                                dict(missing=(1, 1, 0, 0, 0, 1, 0, 0)), dict(post="LOGISTIC"),
                                dict(post="SOFTMAX", agg="AVERAGE", base=[1.0, 2.0])])
def test_tree_regressor_base_values_missing_and_transforms(kw):
    m = _model([_regressor(**kw)], 3)
    _assert_same(*_both(m, {"X": X3}))


def test_tree_regressor_float64_input():
    m = _model([_regressor(agg="AVERAGE")], 3, dtype=TP.DOUBLE)
    _assert_same(*_both(m, {"X": X3.astype(np.float64)}))


def test_tree_ensemble_v5_members_and_output_dtype():
    # ai.onnx.ml 5: x0 in {1, 3} ? leaf 0 : (x1 < 2 ? leaf 1 : leaf 2), one tree, float64 in and out.
    node = H.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=2, aggregate_function=1, post_transform=0,
        nodes_featureids=[0, 1], nodes_modes=H.make_tensor("m", TP.UINT8, [2], [6, 1]),
        nodes_splits=H.make_tensor("s", TP.DOUBLE, [2], [np.nan, 2.0]),
        nodes_truenodeids=[0, 1], nodes_trueleafs=[1, 1], nodes_falsenodeids=[1, 2], nodes_falseleafs=[0, 1],
        membership_values=H.make_tensor("mv", TP.DOUBLE, [3], [3.0, 1.0, np.nan]),
        leaf_targetids=[0, 1, 0], leaf_weights=H.make_tensor("w", TP.DOUBLE, [3], [10.0, 20.0, 30.0]),
        tree_roots=[0])
    x = np.array([[1, 5], [2, 1], [3, 9], [2, 9]], np.float64)
    (y,) = ts.onnx.InferenceSession(_model([node], 2, ml_opset=5, dtype=TP.DOUBLE, outputs=(("Y", TP.DOUBLE),))).run(
        None, {"X": x})
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[10, 0], [0, 20], [10, 0], [30, 0]])


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"])
def test_linear_classifier_one_score_column(post):
    # One coefficient row for two classes: onnxruntime's binary form [1 - p, p], p = s or σ(s).
    node = H.make_node("LinearClassifier", ["X"], ["L", "S"], domain="ai.onnx.ml", coefficients=[0.5, 0.25],
                       intercepts=[0.1], classlabels_strings=["no", "yes"], post_transform=post)
    m = _model([node], 2, outputs=(("L", TP.STRING), ("S", TP.FLOAT)), ml_opset=1)
    x = np.array([[1, 2], [-1, -3], [0, 0], [-0.2, 0]], np.float32)
    ours, ref = _both(m, {"X": x})
    assert ours[0].tolist() == ref[0].tolist()
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-6, atol=1e-7)


def _bad(nodes, features=3, match=None, exc=Exception, feed=None):
    with pytest.raises(exc, match=match):
        s = ts.onnx.InferenceSession(_model(nodes, features))
        s.run(None, {"X": feed if feed is not None else X3})


def test_malformed_tree_ensembles_are_refused():
    cyc = _regressor()
    for a in cyc.attribute:
        if a.name == "nodes_truenodeids":
            a.ints[1] = 0  # node 1's true child is the root: a cycle
    _bad([cyc], match=r"TreeEnsembleRegressor.*reached twice")
    dangling = _regressor()
    for a in dangling.attribute:
        if a.name == "nodes_falsenodeids":
            a.ints[0] = 9
    _bad([dangling], match=r"false child 9 does not exist")
    short = _regressor()
    for a in short.attribute:
        if a.name == "nodes_values":
            del a.floats[-1]
    _bad([short], match=r"nodes_values has 7 values")
    target = _regressor(n_targets=1)
    for a in target.attribute:
        if a.name == "target_ids":
            a.ints[0] = 3
    _bad([target], match=r"target id 3 is out of range for 1 targets")
    _bad([_regressor(agg="MEDIAN")], match=r"aggregate_function 'MEDIAN'")
    _bad([_regressor(mode="BRANCH_SOMETIMES")], match=r"unknown mode 'BRANCH_SOMETIMES'")
    # A feature the trees read that X lacks: refused at run, not read out of bounds.
    _bad([_regressor()], features=2, match=r"read feature 2 but X has 2 features", feed=X3[:, :2])
    leaf_vote = _regressor()
    for a in leaf_vote.attribute:
        if a.name == "target_nodeids":
            a.ints[0] = 1  # a vote on a split
    _bad([leaf_vote], match=r"node 1 of tree 0 is not a LEAF")


def test_malformed_linear_models_are_refused():
    lc = H.make_node("LinearClassifier", ["X"], ["L", "S"], domain="ai.onnx.ml", coefficients=[1.0] * 6,
                     classlabels_ints=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"LinearClassifier.*2 score columns for 4 class labels"):
        ts.onnx.InferenceSession(_model([lc], 3, outputs=(("L", TP.INT64), ("S", TP.FLOAT)))).run(None, {"X": X3})
    lr = H.make_node("LinearRegressor", ["X"], ["Y"], domain="ai.onnx.ml", coefficients=[1.0] * 5)
    with pytest.raises(ValueError, match=r"LinearRegressor.*5 values, not a multiple of the 3 features"):
        ts.onnx.InferenceSession(_model([lr], 3)).run(None, {"X": X3})
    sc = H.make_node("Scaler", ["X"], ["Y"], domain="ai.onnx.ml", offset=[1.0, 2.0], scale=[1.0])
    with pytest.raises(ValueError, match=r"Scaler.*offset has 2 values for 3 features"):
        ts.onnx.InferenceSession(_model([sc], 3)).run(None, {"X": X3})


def test_one_hot_encoder_numbers_strings_and_unknowns():
    x = np.array([[1, 3], [7, 1], [5, 3], [3, 9]], np.int64)
    enc = preprocessing.OneHotEncoder(handle_unknown="ignore").fit(np.array([[1, 3], [7, 1], [3, 1]]))
    onx = skl2onnx.to_onnx(enc, x[:1], target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()
    ours, ref = _both(onx, {"X": x})
    _assert_same(ours, ref)
    np.testing.assert_array_equal(ours[0], enc.transform(x).toarray())  # unknown 5 and 9: all zeros
    node = H.make_node("OneHotEncoder", ["X"], ["Y"], domain="ai.onnx.ml", cats_strings=["a", "b"], zeros=0)
    g = H.make_graph([node], "g", [H.make_tensor_value_info("X", TP.STRING, [None])],
                     [H.make_tensor_value_info("Y", TP.FLOAT, None)])
    m = H.make_model(g, opset_imports=[H.make_opsetid("", 17), H.make_opsetid("ai.onnx.ml", 1)]).SerializeToString()
    s = ts.onnx.InferenceSession(m)
    np.testing.assert_array_equal(s.run(None, {"X": np.array(["b", "a"], object)})[0], [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"OneHotEncoder.*element 1 of X is not one of the 2 categories"):
        s.run(None, {"X": np.array(["a", "c"], object)})
    with pytest.raises(TypeError, match=r"OneHotEncoder.*X is numbers but the categories are strings"):
        ts.onnx.InferenceSession(_model([node], 2)).run(None, {"X": X3[:, :2]})


@pytest.mark.parametrize("string_labels", [False, True])
def test_default_export_with_zipmap_gives_dicts(string_labels):
    # skl2onnx's default classifier output: seq(map(label, float)), a list of dicts as in onnxruntime.
    x, y = _data("cls3")
    labels = np.array(["cat", "dog", "eel"])[y] if string_labels else y
    model = ensemble.RandomForestClassifier(4, max_depth=4, random_state=0).fit(x, labels)
    onx = skl2onnx.to_onnx(model, x[:1], target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()
    s = ts.onnx.InferenceSession(onx)
    assert s.get_outputs()[1].type == f"seq(map({'string' if string_labels else 'int64'},tensor(float)))"
    ours, ref = _both(onx, {"X": x[:20]})
    assert ours[0].tolist() == ref[0].tolist()
    assert isinstance(ours[1], list) and len(ours[1]) == 20
    for a, b, p in zip(ours[1], ref[1], model.predict_proba(x[:20])):
        assert list(a) == list(b) == list(model.classes_)
        np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-6)
        np.testing.assert_allclose(list(a.values()), p, atol=1e-6)


def _v5_node():
    return H.make_node(
        "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=2, aggregate_function=1, post_transform=0,
        nodes_featureids=[0, 1, 2], nodes_modes=H.make_tensor("m", TP.UINT8, [3], [0, 6, 3]),
        nodes_splits=H.make_tensor("s", TP.FLOAT, [3], [0.5, np.nan, -1.0]),
        nodes_truenodeids=[1, 0, 1], nodes_trueleafs=[0, 1, 1], nodes_falsenodeids=[2, 1, 2], nodes_falseleafs=[0, 1, 1],
        membership_values=H.make_tensor("mv", TP.FLOAT, [3], [-2.0, 3.0, np.nan]),
        leaf_targetids=[0, 1, 0], leaf_weights=H.make_tensor("w", TP.FLOAT, [3], [1.0, 2.0, 3.0]), tree_roots=[0])


def test_randomly_corrupted_tree_ensembles_load_or_raise():
    # Hostile attribute values (ids out of range, cycles, short lists): every model loads
    # and runs or raises tessel's error naming the op; none crashes or hangs.
    rng = np.random.default_rng(7)
    outcomes = {"ran": 0, "refused": 0}
    for k in range(400):
        node = _regressor() if k % 2 == 0 else _v5_node()
        ints = [a for a in node.attribute if a.type == a.INTS]
        for _ in range(int(rng.integers(1, 4))):
            a = ints[int(rng.integers(len(ints)))]
            if len(a.ints) and rng.random() < 0.2:
                del a.ints[int(rng.integers(len(a.ints)))]
            elif len(a.ints):
                a.ints[int(rng.integers(len(a.ints)))] = int(rng.integers(-3, 12))
        m = _model([node], 3, ml_opset=3 if k % 2 == 0 else 5)
        try:
            (y,) = ts.onnx.InferenceSession(m).run(None, {"X": X3})
            assert y.shape == (len(X3), 2)
            outcomes["ran"] += 1
        except (ValueError, TypeError, IndexError, NotImplementedError) as e:
            assert "TreeEnsemble" in str(e) or "onnx" in str(e), e
            outcomes["refused"] += 1
    assert outcomes["ran"] > 20 and outcomes["refused"] > 100, outcomes


def test_tessel_serve_runs_a_sklearn_forest(tmp_path):
    # A skl2onnx forest with string labels behind tessel-serve (OIP, real socket): the labels come
    # back as BYTES and the probabilities as onnxruntime's; a ZipMap export is refused at load.
    from test_serve import SERVER, Server
    if SERVER is None:
        pytest.skip("tessel-serve was not built (TESSEL_WITH_SERVE=OFF)")
    x, y = _data("cls3")
    labels = np.array(["cat", "dog", "eel"])[y]
    model = ensemble.RandomForestClassifier(6, max_depth=5, random_state=0).fit(x, labels)
    repo = tmp_path / "repo"
    (repo / "forest" / "1").mkdir(parents=True)
    onx = _convert(model, x)
    (repo / "forest" / "1" / "model.onnx").write_bytes(onx)
    srv = Server(["--model-repository", str(repo)], tmp_path)
    try:
        body = {"inputs": [{"name": "X", "shape": [4, 7], "datatype": "FP32", "data": x[:4].ravel().tolist()}]}
        status, out = srv.json("POST", "/v2/models/forest/infer", body)
        assert status == 200, out
        got = {o["name"]: o for o in out["outputs"]}
        ref = ort.InferenceSession(onx).run(None, {"X": x[:4]})
        assert got["label"]["datatype"] == "BYTES" and got["label"]["data"] == ref[0].tolist()
        np.testing.assert_allclose(np.array(got["probabilities"]["data"]).reshape(4, 3), ref[1], rtol=1e-6)
    finally:
        assert srv.stop() == 0
    zipped = skl2onnx.to_onnx(model, x[:1], target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()
    (repo / "forest" / "1" / "model.onnx").write_bytes(zipped)
    srv = Server(["--model-repository", str(repo)], tmp_path)
    try:
        assert srv.json("GET", "/v2/models/forest/ready") == (503, {"name": "forest", "ready": False})
        status, err = srv.json("GET", "/v2/models/forest")
        assert status == 404 and "seq(map(string,tensor(float))), which tessel-serve cannot serve" in err["error"]
    finally:
        assert srv.stop() == 0


def test_error_messages_stay_utf8_when_attributes_are_not():
    # Found by scripts/fuzz.sh: an attribute string with a stray byte was echoed into the
    # message, which Python then could not decode. The byte comes back as \xff.
    node = H.make_node("LinearClassifier", ["X"], ["L", "S"], domain="ai.onnx.ml", coefficients=[1.0] * 6,
                       classlabels_ints=[0, 1], post_transform=b"LOGIS\xffIC")
    m = _model([node], 3, outputs=(("L", TP.INT64), ("S", TP.FLOAT)))
    with pytest.raises(ValueError, match=r"post_transform 'LOGIS\\xffIC' is not one of"):
        ts.onnx.InferenceSession(m).run(None, {"X": X3})


def _map_model(node, key, value, out_type):
    mt = onnx.TypeProto()
    mt.map_type.key_type = key
    mt.map_type.value_type.tensor_type.elem_type = value
    g = H.make_graph([node], "g", [H.make_value_info("m", mt)], [H.make_tensor_value_info("y", out_type, None)])
    return H.make_model(g, opset_imports=[H.make_opsetid("", 17), H.make_opsetid("ai.onnx.ml", 3)]).SerializeToString()


onnx = pytest.importorskip("onnx")


@pytest.mark.parametrize("case", [
    ("DictVectorizer", dict(string_vocabulary=["a", "b", "c"]), TP.STRING, TP.FLOAT, TP.FLOAT,
     {"b": 2.0, "zz": 5.0, "a": 1.5}),
    ("DictVectorizer", dict(int64_vocabulary=[1, 3, 7]), TP.INT64, TP.FLOAT, TP.FLOAT, {3: 2.0, 8: 1.0, 7: -1.0}),
    ("CastMap", {}, TP.INT64, TP.FLOAT, TP.FLOAT, {3: 2.0, 1: 5.0, 2: -1.0}),
    ("CastMap", dict(map_form="SPARSE", max_map=5), TP.INT64, TP.FLOAT, TP.FLOAT, {3: 2.0, 1: 5.0}),
    ("CastMap", dict(cast_to="TO_INT64"), TP.INT64, TP.FLOAT, TP.INT64, {3: 2.7, 1: -5.5}),
    ("CastMap", dict(cast_to="TO_STRING"), TP.INT64, TP.FLOAT, TP.STRING, {3: 2.7, 1: -5.5}),
    ("CastMap", dict(cast_to="TO_STRING", map_form="SPARSE", max_map=4), TP.INT64, TP.FLOAT, TP.STRING, {1: 2.5}),
], ids=lambda c: c[0] + "-" + "-".join(f"{k}={v}" for k, v in c[1].items()))
def test_map_inputs_match_onnxruntime(case):
    """DictVectorizer and CastMap take a dict, as onnxruntime does (skl2onnx's DictVectorizer pipelines)."""
    op, attrs, key, value, out, feed = case
    model = _map_model(H.make_node(op, ["m"], ["y"], domain="ai.onnx.ml", **attrs), key, value, out)
    (want,) = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"m": feed})
    (got,) = ts.onnx.InferenceSession(model).run(None, {"m": feed})
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tolist() == want.tolist()
    assert ts.onnx.load(model).inputs[0].type.startswith("map(")


def test_map_values_keep_their_declared_type():
    # onnxruntime's Python binding makes only map(K, float) from a dict; the values' type is the input's.
    for value, feed, want in ((TP.DOUBLE, {"y": 0.1}, [[0.0, 0.1]]), (TP.INT64, {"x": 4, "y": -2}, [[4, -2]])):
        model = _map_model(H.make_node("DictVectorizer", ["m"], ["y"], domain="ai.onnx.ml", string_vocabulary=["x", "y"]),
                           TP.STRING, value, value)
        (got,) = ts.onnx.InferenceSession(model).run(None, {"m": feed})
        assert got.dtype == (np.float64 if value == TP.DOUBLE else np.int64) and got.tolist() == want


def test_map_inputs_refuse_what_does_not_fit():
    model = _map_model(H.make_node("DictVectorizer", ["m"], ["y"], domain="ai.onnx.ml", string_vocabulary=["a"]),
                       TP.STRING, TP.FLOAT, TP.FLOAT)
    sess = ts.onnx.InferenceSession(model)
    with pytest.raises(TypeError, match="map.*int64 keys"):
        sess.run(None, {"m": {1: 2.0}})
    with pytest.raises(TypeError, match="map keys mix int and str"):
        sess.run(None, {"m": {"a": 1.0, 2: 2.0}})
    with pytest.raises(TypeError, match="map values must be numbers"):
        sess.run(None, {"m": {"a": "x"}})
    with pytest.raises(TypeError, match="must be map"):
        sess.run(None, {"m": np.zeros(2, np.float32)})


def test_dict_vectorizer_pipeline_from_skl2onnx():
    from skl2onnx.common.data_types import DictionaryType, FloatTensorType, StringTensorType
    from sklearn.feature_extraction import DictVectorizer

    rows = [{"age": 3.0, "h": 1.5}, {"age": 7.0, "w": 2.0}, {"h": 0.5, "w": 1.0}, {"age": 1.0}] * 5
    y = np.array([0, 1, 1, 0] * 5)
    pipe = pipeline.make_pipeline(DictVectorizer(sparse=False), linear_model.LogisticRegression()).fit(rows, y)
    model = skl2onnx.convert_sklearn(pipe, initial_types=[("m", DictionaryType(StringTensorType([1]),
                                                                               FloatTensorType([1])))],
                                     options={id(pipe): {"zipmap": False}}).SerializeToString()
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    mine = ts.onnx.InferenceSession(model)
    for row in rows[:4]:
        want, got = sess.run(None, {"m": row}), mine.run(None, {"m": row})
        assert got[0].tolist() == want[0].tolist() == pipe.predict([row]).tolist()
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
