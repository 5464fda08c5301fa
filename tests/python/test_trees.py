"""Gradient-boosted oblivious trees: tessel::trees::Booster (src/trees/boost.cpp) and the boosted_trees family
(tessel.models.trees). Oracles: NumPy float64 (prediction, the Newton leaf values, the losses),
scikit-learn's HistGradientBoosting (quality), onnxruntime (the exported graph)."""
import json
import os

import numpy as np
import pytest

import tessel as ts
from tessel.models import BoostedTrees, BoostingTrainer

Booster = ts._C._trees.Booster


def _t(a, dtype=None):
    return ts.from_numpy(np.ascontiguousarray(a if dtype is None else np.asarray(a, dtype=dtype)))


def _predict_np(features, thresholds, leaves, bias, x):
    """sum_t leaves[t, sum_l (x[f_tl] > thr_tl) << l] + bias, in float64, tree by tree."""
    out = np.tile(bias.astype(np.float64), (x.shape[0], 1))
    for t in range(features.shape[0]):
        leaf = np.zeros(x.shape[0], np.int64)
        for lv in range(features.shape[1]):
            leaf |= (x[:, features[t, lv]] > thresholds[t, lv]).astype(np.int64) << lv
        out += leaves[t][leaf]
    return out


def _ensemble_np(b, trees=None):
    return [a.numpy() for a in b.ensemble(trees)]


def test_forward_matches_numpy_for_a_random_ensemble():
    rng = np.random.default_rng(0)
    for depth, k, t in ((1, 1, 1), (3, 4, 7), (6, 2, 30)):
        m = BoostedTrees(5, k, depth=depth)
        f = rng.integers(0, 5, (t, depth))
        thr = rng.normal(size=(t, depth)).astype(np.float32)
        lv = rng.normal(size=(t, 1 << depth, k)).astype(np.float32)
        bias = rng.normal(size=k).astype(np.float32)
        m.set_trees(_t(f, np.int64), _t(thr), _t(lv), _t(bias))
        x = rng.normal(size=(13, 5)).astype(np.float32)
        x[0, :] = thr[0, 0]  # on a threshold: not greater, goes left
        x[1, 2] = np.nan     # NaN goes left
        got = m(_t(x)).numpy()
        np.testing.assert_allclose(got, _predict_np(f, thr, lv, bias, x), rtol=1e-5, atol=1e-5)


def test_no_trees_predicts_the_bias():
    m = BoostedTrees(3, 2)
    out = m(_t(np.zeros((4, 3), np.float32))).numpy()
    assert out.shape == (4, 2) and not out.any()


def test_depth_one_tree_is_the_newton_step_at_the_best_border():
    # y jumps at x = 4.5: the one split is there, its leaves -lr * G / (H + l2) with G, H from the bias.
    x = np.repeat(np.arange(10, dtype=np.float32), 3)[:, None]
    y = np.where(x[:, 0] > 4.5, 2.0, -1.0).astype(np.float32)
    lr, l2 = 0.3, 2.0
    b = Booster(_t(x), _t(y), depth=1, learning_rate=lr, l2=l2)
    assert b.grow(1) == 1
    f, thr, lv, bias = _ensemble_np(b)
    assert f.tolist() == [[0]] and thr[0, 0] == pytest.approx(4.5)
    g = bias[0] - y.astype(np.float64)  # squared error: g = f - y, h = 1
    left, right = x[:, 0] <= 4.5, x[:, 0] > 4.5
    want = [-lr * g[s].sum() / (s.sum() + l2) for s in (left, right)]
    np.testing.assert_allclose(lv[0, :, 0], want, rtol=1e-6)
    assert bias[0] == pytest.approx(y.mean())
    pred = _predict_np(f, thr, lv, bias, x)[:, 0]
    assert b.train_loss == pytest.approx(np.mean((pred - y) ** 2), rel=1e-6)


def test_classification_losses_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    xv = rng.normal(size=(100, 4)).astype(np.float32)
    for classes in (2, 3):
        w = rng.normal(size=(4, classes))
        y, yv = (x @ w).argmax(1), (xv @ w).argmax(1)
        b = Booster(_t(x), _t(y, np.int64), _t(xv), _t(yv, np.int64), loss="log_loss", num_classes=classes,
                    depth=3, learning_rate=0.2)
        b.grow(20)
        ens = _ensemble_np(b)
        assert ens[2].shape == (20, 8, classes) and ens[3].shape == (classes,)
        if classes == 2:  # one logistic output: class 0's logit is 0
            assert not ens[2][:, :, 0].any() and ens[3][0] == 0
        for xs, ys, loss in ((x, y, b.train_loss), (xv, yv, b.val_loss)):
            z = _predict_np(*ens, xs)
            lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
            assert loss == pytest.approx(np.mean(lse - z[np.arange(len(ys)), ys]), rel=1e-5)
        assert b.val_loss < 0.5 * np.log(classes)


def test_quality_against_scikit_learn():
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    x, y = load_breast_cancer(return_X_y=True)
    xa, xt, ya, yt = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    xa, xv, ya, yv = train_test_split(xa, ya, test_size=0.2, random_state=0, stratify=ya)
    b = Booster(_t(xa, np.float32), _t(ya, np.int64), _t(xv, np.float32), _t(yv, np.int64), loss="log_loss",
                num_classes=2, learning_rate=0.05, early_stopping=50)
    b.grow(1000)
    z = _predict_np(*_ensemble_np(b), xt.astype(np.float32))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ours = log_loss(yt, p)
    ref = log_loss(yt, HistGradientBoostingClassifier(random_state=0).fit(np.vstack([xa, xv]),
                                                                           np.r_[ya, yv]).predict_proba(xt))
    assert ours < 1.25 * ref, (ours, ref)
    x, y = load_diabetes(return_X_y=True)
    xa, xt, ya, yt = train_test_split(x, y, test_size=0.25, random_state=0)
    xa, xv, ya, yv = train_test_split(xa, ya, test_size=0.2, random_state=0)
    mu, sd = ya.mean(), ya.std()
    b = Booster(_t(xa, np.float32), _t((ya - mu) / sd, np.float32), _t(xv, np.float32),
                _t((yv - mu) / sd, np.float32), depth=4, learning_rate=0.05, l2=3.0, early_stopping=50)
    b.grow(1000)
    pred = _predict_np(*_ensemble_np(b), xt.astype(np.float32))[:, 0] * sd + mu
    ours = np.sqrt(np.mean((pred - yt) ** 2))
    ref = np.sqrt(np.mean((HistGradientBoostingRegressor(random_state=0).fit(np.vstack([xa, xv]), np.r_[ya, yv])
                           .predict(xt) - yt) ** 2))
    assert ours < 1.1 * ref, (ours, ref)


def test_early_stopping_keeps_the_best_count():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x[:, 0] + rng.normal(scale=2.0, size=200)).astype(np.float32)  # mostly noise: overfits fast
    xv = rng.normal(size=(100, 3)).astype(np.float32)
    yv = (xv[:, 0] + rng.normal(scale=2.0, size=100)).astype(np.float32)
    b = Booster(_t(x), _t(y), _t(xv), _t(yv), learning_rate=0.3, early_stopping=10)
    grown = b.grow(500)
    assert b.stopped and grown == b.num_trees < 500 and b.num_trees == b.best_trees + 10
    assert b.grow(5) == 0  # stopped stays stopped
    ens = _ensemble_np(b)
    pred = _predict_np(*ens, xv)[:, 0]
    assert b.best_val_loss == pytest.approx(np.mean((pred - yv) ** 2), rel=1e-5) and b.best_val_loss <= b.val_loss
    assert ens[0].shape[0] == b.best_trees and _ensemble_np(b, b.num_trees)[0].shape[0] == b.num_trees
    # without early stopping every tree counts, whatever the validation loss says
    c = Booster(_t(x), _t(y), _t(xv), _t(yv), learning_rate=0.3)
    c.grow(60)
    assert not c.stopped and c.best_trees == 60 and c.best_val_loss == c.val_loss


def test_deterministic_and_independent_of_threads():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 12)).astype(np.float32)
    y = (np.sin(x[:, 0]) + x[:, 1] * x[:, 2] > 0).astype(np.int64)
    runs = []
    old = ts.get_num_threads()
    try:
        for threads in (1, 2, 2):
            ts.set_num_threads(threads)
            b = Booster(_t(x), _t(y), loss="log_loss", num_classes=2, subsample=0.7, colsample=0.5, seed=5)
            b.grow(15)
            runs.append(_ensemble_np(b))
    finally:
        ts.set_num_threads(old)
    for other in runs[1:]:
        for a, c in zip(runs[0], other):
            np.testing.assert_array_equal(a, c)
    b = Booster(_t(x), _t(y), loss="log_loss", num_classes=2, subsample=0.7, colsample=0.5, seed=6)
    b.grow(15)
    assert not np.array_equal(_ensemble_np(b)[0], runs[0][0])  # the seed draws the rows and features


def test_borders_are_quantiles_and_constant_features_never_split():
    rng = np.random.default_rng(4)
    x = np.c_[rng.normal(size=5000), np.full(5000, 7.0)].astype(np.float32)
    y = (x[:, 0] > 0.3).astype(np.float32)
    b = Booster(_t(x), _t(y), depth=2, max_bins=16)
    b.grow(3)
    f, thr, _, _ = _ensemble_np(b)
    assert (f == 0).all()  # the constant column has no border
    # the best of 15 quantile borders lies near the jump
    assert abs(thr[0, 0] - 0.3) < 0.15
    only_constant = Booster(_t(x[:, 1:]), _t(y), depth=2)
    only_constant.grow(2)
    f, thr, lv, bias = _ensemble_np(only_constant)
    assert np.isinf(thr).all() and np.allclose(lv, 0, atol=1e-7)  # nothing to split: every row in leaf 0


@pytest.mark.parametrize("kwargs, match", [
    ({"x": np.zeros(4, np.float32)}, r"\[trees.Booster\] x must be \[rows, features\]"),
    ({"y": np.zeros(3, np.float32)}, r"y must have shape \[4\]"),
    ({"loss": "hinge"}, "loss must be squared_error or log_loss"),
    ({"loss": "log_loss", "num_classes": 1}, "num_classes >= 2"),
    ({"loss": "log_loss", "num_classes": 2, "y": np.array([0, 1, 2, 0])}, r"y\[2\] is 2: class ids"),
    ({"loss": "log_loss", "num_classes": 2, "y": np.array([0, 1, -1, 0])}, r"y\[2\] is -1"),
    ({"y": np.array([0, np.nan, 1, 1], np.float32)}, r"y\[1\] is nan: targets must be finite"),
    ({"depth": 0}, r"depth must be in \[1, 12\]"),
    ({"depth": 13}, r"depth must be in \[1, 12\]"),
    ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ({"l2": -1.0}, "l2 must be >= 0"),
    ({"subsample": 0.0}, r"subsample must be in \(0, 1\]"),
    ({"colsample": 1.5}, r"colsample must be in \(0, 1\]"),
    ({"max_bins": 300}, r"max_bins must be in \[2, 256\]"),
    ({"early_stopping": -1}, "early_stopping must be >= 0"),
    ({"x_val": np.zeros((2, 2), np.float32)}, "give both x_val and y_val"),
    ({"x_val": np.zeros((2, 3), np.float32), "y_val": np.zeros(2, np.float32)}, "x_val has 3 features, x has 2"),
    ({"x_val": np.zeros((2, 2), np.float32), "y_val": np.zeros(3, np.float32)}, r"y_val must have shape \[2\]"),
])
def test_bad_input_is_refused_by_name(kwargs, match):
    args = {"x": np.zeros((4, 2), np.float32), "y": np.zeros(4, np.float32)}
    args.update(kwargs)
    for k in ("x", "y", "x_val", "y_val"):
        if k in args:
            args[k] = _t(args[k])
    with pytest.raises(ValueError, match=match):
        Booster(**args)


def test_float_labels_for_log_loss_are_a_type_error():
    with pytest.raises(TypeError, match=r"\[trees.Booster\] y must hold integer class ids"):
        Booster(_t(np.zeros((4, 2), np.float32)), _t(np.zeros(4, np.float32)), loss="log_loss", num_classes=2)
    b = Booster(_t(np.zeros((4, 2), np.float32)), _t(np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match="rounds must be >= 0"):
        b.grow(-1)
    with pytest.raises(ValueError, match="ensemble of 5 trees: 0 were grown"):
        b.ensemble(5)


def test_set_trees_and_state_dict_checks():
    m = BoostedTrees(3, 2, depth=2)
    with pytest.raises(ValueError, match=r"boosted_trees: leaves must have shape \[1, 4, 2\]"):
        m.set_trees(ts.zeros(1, 2, dtype=ts.int64), ts.zeros(1, 2), ts.zeros(1, 4, 3), ts.zeros(2))
    with pytest.raises(ValueError, match="features must index the 3 inputs"):
        m.set_trees(ts.full((1, 2), 3, dtype=ts.int64), ts.zeros(1, 2), ts.zeros(1, 4, 2), ts.zeros(2))
    with pytest.raises(ValueError, match="depth must be in"):
        BoostedTrees(3, 2, depth=0)
    with pytest.raises(ValueError, match="validation inputs have 4 features, the model takes 3"):
        BoostingTrainer(m, "classification").fit(np.zeros((5, 3), np.float32), np.zeros(5, np.int64),
                                                 validation_data=(np.zeros((2, 4), np.float32), np.zeros(2)))


def _trained(task="classification", n=400, trees=40, epochs=4, callbacks=()):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] - x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    if task == "regression":
        y = (x[:, 0] * 2 + np.sin(x[:, 1])).astype(np.float32)
    k = 3 if task == "classification" else 1
    m = BoostedTrees(6, k, trees=trees, depth=4, learning_rate=0.2, early_stopping=0)
    h = BoostingTrainer(m, task).fit(_t(x[:300]), _t(y[:300]), epochs=epochs,
                                     validation_data=(_t(x[300:]), _t(y[300:])), callbacks=list(callbacks))
    return m, h, x, y


def test_trainer_reports_epochs_and_honours_stop_training():
    class Stop(ts.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append(dict(logs))
            if epoch == 1:
                self.trainer.stop_training = True

    cb = Stop()
    m, h, _, _ = _trained(callbacks=[cb])
    assert h.epoch == [0, 1] and [s["trees"] for s in cb.seen] == [10, 20] and m.num_trees == 20
    assert h.history["val_loss"][1] < h.history["val_loss"][0] and set(cb.seen[0]) == {"loss", "val_loss", "trees"}


def test_state_dict_round_trip_takes_the_saved_tree_count(tmp_path):
    m, _, x, _ = _trained(trees=24)
    path = str(tmp_path / "m.safetensors")
    ts.save(m.state_dict(), path)
    fresh = BoostedTrees(6, 3, depth=4)
    assert fresh.num_trees == 0
    fresh.load_state_dict(ts.load(path))
    assert fresh.num_trees == 24
    np.testing.assert_array_equal(fresh(_t(x)).numpy(), m(_t(x)).numpy())


def test_onnx_export_matches_onnxruntime_and_tessels_runtime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    for task in ("classification", "regression"):
        m, _, x, _ = _trained(task)
        path = str(tmp_path / f"{task}.onnx")
        ts.onnx.export(m, (_t(x[:1]),), path, input_names=["input"], output_names=["output"],
                       dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        sess = ort.InferenceSession(path)
        ours = ts.onnx.load(path)
        for n in (1, 7, 100):
            want = m(_t(x[:n])).numpy()
            np.testing.assert_allclose(sess.run(None, {"input": x[:n]})[0], want, rtol=1e-5, atol=1e-5)
            got = ours(ts.from_numpy(x[:n]))
            got = got["output"] if isinstance(got, dict) else got
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_tessel_train_runs_the_family(tmp_path):
    from tessel.config import ConfigError
    from tessel.train import Predictor, run
    cfg = {"experiment": {"name": "trees", "track": False},
           "data": {"kind": "sklearn", "path": "sklearn:iris", "val_split": 0.25},
           "model": {"name": "boosted_trees", "trees": 200, "depth": 3, "learning_rate": 0.1},
           "train": {"epochs": 4, "verbose": False},
           "output": {"dir": str(tmp_path / "out"), "export_onnx": True}}
    res = run(cfg)
    assert res.metrics["val_accuracy"] >= 0.9 and 0 < res.metrics["trees"] <= 200
    assert {"config.yaml", "model.onnx", "model.safetensors", "signature.json"} <= set(os.listdir(res.output_dir))
    with open(os.path.join(res.output_dir, "history.csv")) as f:
        assert f.readline().strip().split(",")[:3] == ["epoch", "loss", "val_loss"]
    p = Predictor.load(res.output_dir)
    from sklearn.datasets import load_iris
    iris = load_iris()
    rows = [dict(zip(iris.feature_names, r)) for r in iris.data[:20]]
    pred = p.predict(rows)
    assert sum(r["label"] == iris.target_names[t] for r, t in zip(pred, iris.target[:20])) >= 19
    with open(os.path.join(res.output_dir, "signature.json")) as f:
        assert json.load(f)["output_kind"] == "logits"
    bad = dict(cfg, output={"dir": str(tmp_path / "bad")}, train={"epochs": 1, "device": "cuda:0"})
    with pytest.raises(ConfigError, match="train.device: boosted_trees trains on the cpu"):
        run(bad)
    with pytest.raises(ConfigError, match="model.depth"):
        run(dict(cfg, model={"name": "boosted_trees", "depth": 20}, output={"dir": str(tmp_path / "bad2")}))


def test_no_l2_leaves_empty_leaves_and_sides_at_zero():
    # With l2 = 0 a leaf or a split side without rows is 0 / 0: it must count as 0, not NaN.
    rng = np.random.default_rng(8)
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = rng.normal(size=20).astype(np.float32)
    b = Booster(_t(x), _t(y), depth=8, l2=0.0)  # 256 leaves for 20 rows
    b.grow(5)
    f, thr, lv, bias = _ensemble_np(b)
    assert np.isfinite(lv).all() and np.isfinite(b.train_loss)
    pred = _predict_np(f, thr, lv, bias, x)[:, 0]
    assert b.train_loss == pytest.approx(np.mean((pred - y) ** 2), rel=1e-5) and b.train_loss < 0.5 * y.var()
