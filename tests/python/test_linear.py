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
