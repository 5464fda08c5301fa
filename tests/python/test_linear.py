"""The `linear` family: ridge and multinomial logistic regression fit by a solver
(tessel.models.linear), against scikit-learn's solutions of the same objective."""
import os

import numpy as np
import pytest

import tessel as ts
from tessel.models import LinearModel, LinearTrainer

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def _t(a):
    return ts.from_numpy(np.ascontiguousarray(a))


def _softmax(z):
    z = z - z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def _scaled(loader):
    x, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(x).astype(np.float32), y


@pytest.mark.parametrize("loader", [load_wine, load_breast_cancer])
@pytest.mark.parametrize("l2", [1e-3, 1e-1])
def test_logistic_regression_matches_scikit_learn(loader, l2):
    # mean cross entropy + l2/2 |W|^2  ==  scikit-learn's C * sum + 1/2 |W|^2 with C = 1 / (l2 N)
    x, y = _scaled(loader)
    k = int(y.max()) + 1
    m = LinearModel(x.shape[1], k, l2=l2, iterations=500)
    tr = LinearTrainer(m, "classification")
    tr.fit(_t(x), _t(y.astype(np.int64)), epochs=5)
    sk = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-12, max_iter=100000).fit(x.astype(np.float64), y)
    want = sk.predict_proba(x)
    np.testing.assert_allclose(_softmax(m(_t(x)).numpy().astype(np.float64)), want, atol=2e-4)
    assert tr.converged


@pytest.mark.parametrize("l2", [1e-4, 1e-2, 1.0])
def test_ridge_matches_scikit_learn(l2):
    x, y = _scaled(load_diabetes)
    y = ((y - y.mean()) / y.std()).astype(np.float32)
    m = LinearModel(x.shape[1], 1, l2=l2)
    tr = LinearTrainer(m, "regression")
    h = tr.fit(_t(x), _t(y), epochs=10)
    sk = Ridge(alpha=l2 * len(y), tol=1e-12).fit(x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(m(_t(x)).numpy().ravel(), sk.predict(x), atol=1e-5)
    # solved exactly: one reporting step, whatever `epochs` asks
    assert h.epoch == [0] and tr.converged
    r = m(_t(x)).numpy().ravel().astype(np.float64) - y
    # logged as the mean squared error, the scale of the other families' losses (the agent ranks them together)
    assert h.history["loss"][0] == pytest.approx(np.mean(r * r), rel=1e-5)


def test_stronger_penalty_shrinks_the_weights_and_leaves_the_bias_free():
    x, y = _scaled(load_wine)
    norms = []
    for l2 in (1e-4, 1e-2, 1.0, 100.0):
        m = LinearModel(x.shape[1], 3, l2=l2, iterations=300)
        LinearTrainer(m, "classification").fit(_t(x), _t(y.astype(np.int64)), epochs=3)
        norms.append(float((m.linear.weight * m.linear.weight).sum()))
    assert norms == sorted(norms, reverse=True) and norms[-1] < 1e-3 * norms[0]
    # with the weights near 0 the bias alone fits the class frequencies
    p = _softmax(m(_t(x)).numpy().astype(np.float64))
    np.testing.assert_allclose(p.mean(0), np.bincount(y) / len(y), atol=0.02)


def test_epochs_report_loss_and_val_loss_and_honour_stop_training():
    x, y = _scaled(load_breast_cancer)
    seen = []

    class Stop(ts.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))
            self.trainer.stop_training = True

    m = LinearModel(x.shape[1], 2, l2=1e-5, iterations=400)
    tr = LinearTrainer(m, "classification")
    h = tr.fit(_t(x[:400]), _t(y[:400].astype(np.int64)), epochs=20,
               validation_data=(_t(x[400:]), _t(y[400:].astype(np.int64))), callbacks=[Stop()])
    assert h.epoch == [0] and set(seen[0]) == {"loss", "val_loss"} and not tr.converged
    # the model holds the solver's point at the end of the epoch it stopped at
    z = m(_t(x[400:])).numpy().astype(np.float64)
    ce = -np.mean(np.log(_softmax(z)[np.arange(len(z)), y[400:]]))
    assert seen[0]["val_loss"] == pytest.approx(ce, rel=1e-4)
    # run to the end: the solver goes on from where each epoch left it, and stops at convergence
    tr2 = LinearTrainer(LinearModel(x.shape[1], 2, l2=1e-5, iterations=400), "classification")
    h2 = tr2.fit(_t(x[:400]), _t(y[:400].astype(np.int64)), epochs=20)
    losses = h2.history["loss"]
    assert (tr2.converged or len(losses) == 20) and len(losses) > 1 and losses[-1] < 0.6 * losses[0]


def test_deterministic():
    x, y = _scaled(load_wine)
    outs = []
    for _ in range(2):
        m = LinearModel(x.shape[1], 3, l2=1e-3)
        LinearTrainer(m, "classification").fit(_t(x), _t(y.astype(np.int64)), epochs=4, seed=1)
        outs.append(m(_t(x)).numpy())
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("make, match", [
    (lambda: LinearModel(3, 2, l2=-1.0), "linear: l2 must be a finite number >= 0"),
    (lambda: LinearModel(3, 2, l2=float("nan")), "linear: l2 must be a finite number >= 0"),
    (lambda: LinearModel(3, 2, iterations=0), "linear: iterations must be >= 1"),
    (lambda: LinearTrainer(LinearModel(3, 2), "ranking"), "task must be classification or regression"),
    (lambda: LinearTrainer(LinearModel(3, 2), "regression"), "linear: regression takes one output"),
    (lambda: LinearTrainer(LinearModel(3, 2), "classification").fit(_t(np.zeros((4, 5), np.float32)),
                                                                     _t(np.zeros(4, np.int64))),
     "linear: x have 5 features, the model takes 3"),
    (lambda: LinearTrainer(LinearModel(3, 2), "classification").fit(_t(np.zeros((4, 3), np.float32)),
                                                                     _t(np.array([0, 1, 2, 0]))),
     r"linear: y must be class ids in \[0, 2\)"),
    (lambda: LinearTrainer(LinearModel(3, 2), "classification").fit(_t(np.zeros((4, 3), np.float32)),
                                                                     _t(np.zeros(3, np.int64))),
     "linear: y have 3 rows, the inputs 4"),
    (lambda: LinearTrainer(LinearModel(3, 2), "classification").fit(
        _t(np.array([[0, 1, np.nan]] * 4, np.float32)), _t(np.zeros(4, np.int64))),
     "linear: x hold NaN or infinite values"),
])
def test_bad_input_is_refused_by_name(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
    with pytest.raises(TypeError, match="LinearTrainer fits a LinearModel"):
        LinearTrainer(ts.nn.Linear(3, 2), "classification")


def test_onnx_export_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    x, y = _scaled(load_wine)
    m = LinearModel(x.shape[1], 3, l2=1e-2)
    LinearTrainer(m, "classification").fit(_t(x), _t(y.astype(np.int64)), epochs=2)
    path = str(tmp_path / "linear.onnx")
    ts.onnx.export(m, (_t(x[:1]),), path, input_names=["input"], output_names=["output"],
                   dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    np.testing.assert_allclose(ort.InferenceSession(path).run(None, {"input": x})[0], m(_t(x)).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_tessel_train_runs_the_family(tmp_path):
    from tessel.config import ConfigError
    from tessel.train import Predictor, run
    cfg = {"experiment": {"name": "linear", "track": False},
           "data": {"kind": "sklearn", "path": "sklearn:iris", "val_split": 0.25},
           "model": {"name": "linear", "l2": 1e-3},
           "train": {"epochs": 5, "verbose": False},
           "output": {"dir": str(tmp_path / "out"), "export_onnx": True}}
    res = run(cfg)
    assert res.metrics["val_accuracy"] >= 0.9 and "trees" not in res.metrics
    assert {"config.yaml", "model.onnx", "model.safetensors", "signature.json"} <= set(os.listdir(res.output_dir))
    with open(os.path.join(res.output_dir, "history.csv")) as f:
        assert f.readline().strip().split(",")[:3] == ["epoch", "loss", "val_loss"]
    from sklearn.datasets import load_iris
    iris = load_iris()
    rows = [dict(zip(iris.feature_names, r)) for r in iris.data[:30]]
    pred = Predictor.load(res.output_dir).predict(rows)
    assert sum(r["label"] == iris.target_names[t] for r, t in zip(pred, iris.target[:30])) >= 29
    reg = dict(cfg, data={"kind": "sklearn", "path": "sklearn:diabetes", "val_split": 0.25},
               output={"dir": str(tmp_path / "reg"), "export_onnx": False})
    r2 = run(reg)
    assert 40 < r2.metrics["val_rmse"] < 70  # diabetes: a linear model's RMSE is in the 50s
    # val_loss on every family's scale: the mean squared error of the standardized target (the agent ranks
    # trials of all families by it)
    std = r2.data.preprocess["target"]["std"]
    assert r2.history.history["val_loss"][-1] * std ** 2 == pytest.approx(r2.metrics["val_rmse"] ** 2, rel=1e-4)
    assert res.history.history["val_loss"][-1] == pytest.approx(res.metrics["val_loss"], rel=1e-5)
    with pytest.raises(ConfigError, match="train.device: linear trains on the cpu"):
        run(dict(cfg, output={"dir": str(tmp_path / "bad")}, train={"epochs": 1, "device": "cuda:0"}))
    with pytest.raises(ConfigError, match="train.loss mae: linear fits squared error"):
        run(dict(reg, train={"epochs": 1, "loss": "mae"}, output={"dir": str(tmp_path / "bad3")}))
    with pytest.raises(ConfigError, match="train.label_smoothing: linear fits"):
        run(dict(cfg, train={"epochs": 1, "label_smoothing": 0.1}, output={"dir": str(tmp_path / "bad4")}))
    with pytest.raises(ConfigError, match="model.l2"):
        run(dict(cfg, model={"name": "linear", "l2": -1}, output={"dir": str(tmp_path / "bad2")}))


# ----- text_linear: the same solved head on text_tf's bag-of-words vector -----------------------------------

def _docs():
    rng = np.random.default_rng(0)
    topics = [["cat", "dog", "pet", "fur"], ["car", "road", "wheel", "fuel"], ["tax", "bank", "loan", "rate"]]
    common = ["the", "a", "of", "and", "is"]
    docs, labels = [], []
    for i in range(90):
        k = i % 3
        words = list(rng.choice(topics[k], 3)) + list(rng.choice(topics[(k + 1) % 3], 1)) + list(rng.choice(common, 4))
        rng.shuffle(words)
        docs.append(" ".join(words))
        labels.append(k)
    vocab = {w: i + 1 for i, w in enumerate(sorted({w for d in docs for w in d.split()}))}  # 0: padding
    ids = np.zeros((len(docs), 10), np.int64)
    for i, d in enumerate(docs):
        t = [vocab[w] for w in d.split()]
        ids[i, :len(t)] = t
    return docs, np.array(labels), vocab, ids


@pytest.mark.parametrize("idf", [False, True])
def test_text_linear_is_logistic_regression_on_text_tf_features(idf):
    from tessel.models import TextLinear, TextTF
    _, y, vocab, ids = _docs()
    l2 = 1e-3
    m = TextLinear(len(vocab) + 1, 3, pairs=5, idf=idf, l2=l2, iterations=500)
    m.adapt(ts.tensor(ids))
    tr = LinearTrainer(m, "classification")
    tr.fit(ts.tensor(ids), _t(y.astype(np.int64)), epochs=5)
    assert tr.converged
    # the features are text_tf's (its idf too), and the head is scikit-learn's logistic regression on them
    ref = TextTF(len(vocab) + 1, 3, pairs=5, idf=idf)
    ref.adapt(ts.tensor(ids))
    x = ref.features(ts.tensor(ids)).numpy().astype(np.float64)
    np.testing.assert_allclose(m.solver_inputs(ts.tensor(ids)).numpy(), x, rtol=1e-6, atol=1e-7)
    sk = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-12, max_iter=100000).fit(x, y)
    np.testing.assert_allclose(_softmax(m(ts.tensor(ids)).numpy().astype(np.float64)), sk.predict_proba(x), atol=2e-4)


def test_wide_ridge_is_solved_in_the_dual():
    # more columns than rows (text): the N x N system gives scikit-learn's ridge solution
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 300)).astype(np.float32)
    y = (x[:, :5].sum(1) + 0.1 * rng.normal(size=40)).astype(np.float32)
    for l2 in (1e-3, 1e-1):
        m = LinearModel(300, 1, l2=l2)
        LinearTrainer(m, "regression").fit(_t(x), _t(y), epochs=1)
        sk = Ridge(alpha=l2 * len(y), tol=1e-12).fit(x.astype(np.float64), y.astype(np.float64))
        np.testing.assert_allclose(m.linear.weight.numpy().ravel(), sk.coef_, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(m(_t(x)).numpy().ravel(), sk.predict(x), atol=1e-4)


def test_tessel_train_runs_text_linear_and_exports_it(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from tessel.config import ConfigError
    from tessel.train import Predictor, run
    docs, y, _, _ = _docs()
    table = tmp_path / "t.csv"
    names = ["pets", "cars", "money"]
    table.write_text("text,label\n" + "".join(f"{d},{names[k]}\n" for d, k in zip(docs, y)))
    cfg = {"experiment": {"name": "tl", "track": False},
           "data": {"kind": "text", "path": str(table), "val_split": 0.2},
           "model": {"name": "text_linear", "l2": 1e-4, "pairs": 64, "idf": True},
           "train": {"epochs": 3, "verbose": False},
           "output": {"dir": str(tmp_path / "out"), "export_onnx": True}}
    res = run(cfg)
    assert res.metrics["val_accuracy"] >= 0.9
    assert type(res.model).__name__ == "TextLinear" and res.model.idf.numpy().max() > 1.0  # adapted
    pred = Predictor.load(res.output_dir)
    got = pred.predict(docs[:12])
    assert sum(p["label"] == names[k] for p, k in zip(got, y[:12])) >= 11
    x = pred.preprocess(docs[:12]).numpy()
    onnx_out = ort.InferenceSession(os.path.join(res.output_dir, "model.onnx")).run(None, {pred.input_name: x})[0]
    np.testing.assert_allclose(onnx_out, res.model(ts.tensor(x)).numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="model.l2"):
        run(dict(cfg, model={"name": "text_linear", "l2": -1}, output={"dir": str(tmp_path / "bad")}))
    with pytest.raises(ConfigError, match="text_linear"):
        run(dict(cfg, data={"kind": "sklearn", "path": "sklearn:iris"}, output={"dir": str(tmp_path / "bad2")}))


def test_wide_logistic_regression_is_solved_in_the_dual():
    # more columns than rows: L-BFGS on W = A X against the N x N Gram matrix gives scikit-learn's solution
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 400)).astype(np.float32)
    y = (x[:, :3] @ np.array([2.0, -1.0, 1.5]) + 0.3 * rng.normal(size=60) > 0).astype(np.int64)
    y3 = np.digitize(x[:, 0] + x[:, 1], [-0.7, 0.7]).astype(np.int64)
    for labels, l2 in ((y, 1e-2), (y3, 1e-3)):
        k = int(labels.max()) + 1
        m = LinearModel(400, k, l2=l2, iterations=1000)
        tr = LinearTrainer(m, "classification")
        tr.fit(_t(x), _t(labels), epochs=5)
        sk = LogisticRegression(C=1 / (l2 * len(labels)), tol=1e-12, max_iter=100000).fit(x.astype(np.float64),
                                                                                         labels)
        np.testing.assert_allclose(_softmax(m(_t(x)).numpy().astype(np.float64)), sk.predict_proba(x), atol=5e-4)
        xt = rng.normal(size=(20, 400)).astype(np.float32)  # and off the training rows: the same weights
        np.testing.assert_allclose(_softmax(m(_t(xt)).numpy().astype(np.float64)), sk.predict_proba(xt), atol=5e-4)
