"""tessel.train end to end on tiny generated data: each data kind, each model
family, the output folder contract, ONNX vs onnxruntime, Predictor, tracking
and the registry. Small data so that each test takes seconds."""
import csv
import io
import json
import os
import time

import numpy as np
import pytest
import yaml

import tessel as ts
from tessel.config import ConfigError
from tessel.train import Predictor, run
from tessel.train.sources import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_FILES = {"config.yaml", "model.safetensors", "model.onnx", "signature.json", "metrics.json", "history.csv"}


def base(tmp_path, data, model=None, **sections):
    cfg = {"experiment": {"name": "t", "store": str(tmp_path / "store")}, "data": data,
           "train": {"epochs": 3, "batch_size": 16, "verbose": False},
           "output": {"dir": str(tmp_path / "out")}}
    if model:
        cfg["model"] = model
    for k, v in sections.items():
        cfg[k] = {**cfg.get(k, {}), **v}
    return cfg


# ----- tiny data ---------------------------------------------------------------------------------------

def write_images(root, n=12, size=12, corrupt=False):
    """Two classes told apart by brightness (dark / bright) with noise."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for c, level in (("dark", 40), ("bright", 210)):
        os.makedirs(root / c, exist_ok=True)
        for i in range(n):
            a = np.clip(level + rng.normal(0, 20, (size, size + 2, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root / c / f"{i}.png")
    if corrupt:
        (root / "dark" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def write_audio(root, n=8, sr=8000):
    """Two classes: a low tone and a high tone, at two sample rates, mono and stereo."""
    import soundfile as sf
    rng = np.random.default_rng(1)
    for c, f0 in (("low", 300.0), ("high", 2500.0)):
        os.makedirs(root / c, exist_ok=True)
        for i in range(n):
            rate = sr if i % 2 else 16000
            t = np.arange(int(0.5 * rate)) / rate
            w = 0.5 * np.sin(2 * np.pi * (f0 + rng.normal(0, 20)) * t) + rng.normal(0, 0.01, t.shape)
            if i % 3 == 0:  # some stereo files among the mono ones
                w = np.stack([w, w], axis=1)
            sf.write(str(root / c / f"{i}.wav"), w.astype(np.float32), rate)
    return root


def write_text(path, n=40):
    rng = np.random.default_rng(2)
    pos = ["great", "wonderful", "loved", "excellent", "happy"]
    neg = ["awful", "terrible", "hated", "boring", "sad"]
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(pos if label == "pos" else neg, 3)) + list(rng.choice(["the", "movie", "was"], 3))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    if str(path).endswith(".jsonl"):
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, ["text", "label"])
            w.writeheader()
            w.writerows(rows)
    return path


def write_table(path, n=120, regression=False):
    """x1, x2 numeric, color categorical; label = a function of them."""
    rng = np.random.default_rng(3)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x1", "x2", "color", "y"])
        for _ in range(n):
            x1, x2 = rng.normal(), rng.normal()
            color = rng.choice(["red", "green", "blue"])
            if regression:
                y = 3 * x1 - 2 * x2 + (1.5 if color == "red" else 0.0) + rng.normal(0, 0.05)
                w.writerow([f"{x1:.4f}", f"{x2:.4f}", color, f"{y:.4f}"])
            else:
                w.writerow([f"{x1:.4f}", "" if rng.random() < 0.05 else f"{x2:.4f}", color,
                            "yes" if x1 + (1 if color == "red" else -0.3) > 0 else "no"])
    return path


def check_output_folder(out, task, modality):
    assert OUT_FILES <= set(os.listdir(out))
    sig = json.load(open(os.path.join(out, "signature.json")))
    assert sig["task"] == task and sig["modality"] == modality
    assert sig["inputs"][0]["name"] == "input" and sig["inputs"][0]["shape"][0] == -1
    cfg = yaml.safe_load(open(os.path.join(out, "config.yaml")))
    assert cfg["output"]["dir"] == out
    hist = list(csv.DictReader(open(os.path.join(out, "history.csv"))))
    assert hist and "loss" in hist[0]
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    return sig, metrics


def onnx_matches_onnxruntime(out, x):
    """model.onnx under onnxruntime (the oracle) equals tessel's runtime and the trained model."""
    import onnxruntime as ort
    sess = ort.InferenceSession(os.path.join(out, "model.onnx"), providers=["CPUExecutionProvider"])
    (ref,) = sess.run(None, {"input": x.numpy()})
    got = list(ts.onnx.load(os.path.join(out, "model.onnx")).run({"input": x}).values())[0].numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    return ref


# ----- data kinds end to end ------------------------------------------------------------------------------

def test_sklearn_digits_fast_and_accurate(tmp_path):
    # examples/configs/digits.yaml must reach > 90% validation accuracy in < 60 s.
    cfg = yaml.safe_load(open(os.path.join(ROOT, "examples", "configs", "digits.yaml")))
    cfg["experiment"]["store"] = str(tmp_path / "store")
    cfg["output"] = {"dir": str(tmp_path / "out"), "register": "digits", "alias": "champion"}
    cfg["train"]["verbose"] = False
    t0 = time.perf_counter()
    r = run(cfg)
    assert time.perf_counter() - t0 < 60
    assert r.metrics["val_accuracy"] > 0.90
    sig, metrics = check_output_folder(r.output_dir, "classification", "tabular")
    assert sig["classes"] == [str(i) for i in range(10)]
    assert metrics["val_accuracy"] == r.metrics["val_accuracy"]
    assert len(metrics["val_confusion_matrix"]) == 10
    # the registry version folder holds the same files and predicts the same
    mv = r.model_version
    assert mv["aliases"] == ["champion"]
    assert {"model.onnx", "weights.safetensors", "config.json", "signature.json", "metrics.json"} <= \
        set(os.listdir(mv["folder"]))
    from sklearn.datasets import load_digits
    b = load_digits()
    rows = [dict(zip(b.feature_names, r)) for r in b.data[:50]]
    p1, p2 = Predictor.load(r.output_dir), Predictor.load(mv["folder"])
    a, c = p1.predict(rows), p2.predict(rows)
    assert [x["label"] for x in a] == [x["label"] for x in c]
    assert np.mean([x["label"] == str(t) for x, t in zip(a, b.target[:50])]) > 0.9
    assert abs(sum(a[0]["probabilities"].values()) - 1) < 1e-5
    onnx_matches_onnxruntime(r.output_dir, p1.preprocess(rows))


def test_tracking_run_recorded(tmp_path):
    from tessel import store as tstore
    r = run(base(tmp_path, {"path": "sklearn:iris"}, experiment={"name": "iris", "run_name": "first"},
                 train={"epochs": 4}))
    st = tstore.open(str(tmp_path / "store"))
    try:
        runinfo = st.get_run(r.run_id).to_dict()
        assert runinfo["status"] == "FINISHED" and runinfo["name"] == "first"
        params = st.get_params(r.run_id)
        assert float(params["optimizer.lr"]) == 1e-3 and int(params["train.epochs"]) == 4
        assert params["data.path"] == "sklearn:iris"
        hist = st.metric_history(r.run_id, "val_accuracy")
        assert len(hist) == 4
        arts = {a["path"] for a in st.list_artifacts(r.run_id)}
        assert {"output/" + f for f in OUT_FILES} <= arts
        assert st.get_tags(r.run_id)["output_dir"] == r.output_dir
    finally:
        st.close()


def test_image_folder_cnn_and_resnet(tmp_path):
    data = write_images(tmp_path / "imgs")
    for name in ("cnn", "resnet"):
        r = run(base(tmp_path, {"path": str(data), "val_split": 0.25, "image": {"size": [12, 12]}},
                     {"name": name, "channels": [8, 16]}, train={"epochs": 6}, optimizer={"lr": 0.01},
                     output={"dir": str(tmp_path / name)}))
        assert r.metrics["val_accuracy"] > 0.7, (name, r.metrics)
        sig, _ = check_output_folder(r.output_dir, "classification", "image")
        assert sig["classes"] == ["bright", "dark"] and sig["inputs"][0]["shape"] == [-1, 3, 12, 12]
        p = Predictor.load(r.output_dir)
        files = [str(data / "dark" / "0.png"), (data / "bright" / "1.png").read_bytes()]
        x = p.preprocess(files)
        assert list(x.shape) == [2, 3, 12, 12]
        ref = onnx_matches_onnxruntime(r.output_dir, x)
        with ts.no_grad():
            np.testing.assert_allclose(r.model(x).numpy(), ref, rtol=1e-4, atol=1e-5)  # the trained model
        assert [q["label"] for q in p.predict(files)] == ["dark", "bright"]


def test_image_grayscale_and_augment(tmp_path):
    data = write_images(tmp_path / "imgs", n=8)
    r = run(base(tmp_path, {"path": str(data), "image": {"size": [10, 10], "channels": 1, "augment": True}},
                 {"name": "cnn", "channels": [8]}, train={"epochs": 5}, optimizer={"lr": 0.02}))
    sig, _ = check_output_folder(r.output_dir, "classification", "image")
    assert sig["inputs"][0]["shape"] == [-1, 1, 10, 10]
    assert r.data.train_loader is not None and len(r.history.history["loss"]) == 5
    files = [str(data / c / f"{i}.png") for c in ("bright", "dark") for i in range(8)]
    first = files[r.data.train_index[0]]
    got = Predictor.load(r.output_dir).preprocess([first])[0].numpy()
    np.testing.assert_allclose(got, r.data.x_train[0].numpy(), rtol=1e-6, atol=1e-6)


def test_corrupt_image_raise_names_file_and_skip(tmp_path):
    data = write_images(tmp_path / "imgs", n=5, corrupt=True)
    with pytest.raises(DataError, match=r"broken\.png"):
        run(base(tmp_path, {"path": str(data)}, train={"epochs": 1}))
    r = run(base(tmp_path, {"path": str(data), "on_error": "skip"}, train={"epochs": 1}))
    assert len(r.metrics["skipped"]) == 1 and r.metrics["skipped"][0]["file"].endswith("broken.png")
    assert json.load(open(os.path.join(r.output_dir, "metrics.json")))["skipped"][0]["file"].endswith("broken.png")


def test_empty_folders(tmp_path):
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "readme.txt").write_text("x")
    with pytest.raises(ConfigError, match="data.kind: cannot tell the kind"):
        run(base(tmp_path, {"path": str(tmp_path / "none")}))
    with pytest.raises(DataError, match="has no class subfolders"):
        run(base(tmp_path, {"path": str(tmp_path / "none"), "kind": "image_folder"}))
    data = write_images(tmp_path / "imgs", n=2)
    (data / "empty_class").mkdir()
    with pytest.raises(DataError, match="'empty_class'.*hold no image files"):
        run(base(tmp_path, {"path": str(data)}))


def test_audio_folder_audio_cnn(tmp_path):
    data = write_audio(tmp_path / "wavs", n=12)
    r = run(base(tmp_path, {"path": str(data), "val_split": 0.25,
                            "audio": {"sample_rate": 8000, "duration": 0.5, "n_mels": 20, "n_fft": 256,
                                      "hop_length": 128}},
                 {"channels": [8, 16]}, train={"epochs": 10, "batch_size": 8}, optimizer={"lr": 0.01}))
    assert r.config["model"]["name"] == "audio_cnn" and r.config["data"]["kind"] == "audio_folder"
    sig, _ = check_output_folder(r.output_dir, "classification", "audio")
    assert sig["inputs"][0]["shape"][:3] == [-1, 1, 20]
    assert r.metrics["val_accuracy"] >= 0.75, r.metrics
    p = Predictor.load(r.output_dir)
    # the Predictor replays the training conversion: a training file gives its training row
    files = [str(data / c / f"{i}.wav") for c in ("high", "low") for i in sorted(range(12), key=str)]
    first = files[r.data.train_index[0]]
    np.testing.assert_allclose(p.preprocess([first])[0].numpy(), r.data.x_train[0].numpy(), rtol=1e-5, atol=1e-5)
    items = [str(data / "low" / "0.wav"), (data / "high" / "1.wav").read_bytes()]
    x = p.preprocess(items)
    assert np.isfinite(x.numpy()).all()
    onnx_matches_onnxruntime(r.output_dir, x)
    assert [q["label"] for q in p.predict(items)] == ["low", "high"]
    # a ResNet on the same spectrograms
    r = run(base(tmp_path, r.config["data"], {"name": "resnet", "channels": [8, 16]}, train={"epochs": 6,
                                                                                          "batch_size": 8},
                 optimizer={"lr": 0.01}, output={"dir": str(tmp_path / "res")}))
    assert r.metrics["val_accuracy"] >= 0.75, r.metrics
    onnx_matches_onnxruntime(r.output_dir, x)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_transformer_and_bag(tmp_path, fmt):
    path = write_text(tmp_path / f"reviews.{fmt}")
    models = {"text_transformer": {"dim": 16, "heads": 2, "ff_dim": 32, "layers": 1}, "text_bag": {"dim": 16},
              "text_tf": {"hidden": 0, "pairs": 64}}
    for name, keys in models.items():
        r = run(base(tmp_path, {"path": str(path), "tokenizer": {"max_length": 12}}, {"name": name, **keys},
                     train={"epochs": 12}, optimizer={"lr": 0.03 if name == "text_tf" else 0.01},
                     output={"dir": str(tmp_path / name)}))
        assert r.metrics["val_accuracy"] >= 0.85, (name, r.metrics)
        sig, _ = check_output_folder(r.output_dir, "classification", "text")
        assert sig["inputs"][0]["dtype"] == "int64" and sig["inputs"][0]["shape"] == [-1, 12]
        p = Predictor.load(r.output_dir)
        x = p.preprocess(["what a wonderful movie", "terrible and boring"])
        assert x.dtype == ts.int64
        onnx_matches_onnxruntime(r.output_dir, x)
        assert [q["label"] for q in p.predict(["great happy loved", "awful sad hated"])] == ["pos", "neg"]


def test_char_tokenizer(tmp_path):
    path = write_text(tmp_path / "reviews.csv")
    r = run(base(tmp_path, {"path": str(path), "tokenizer": {"kind": "char", "max_length": 40}},
                 {"name": "text_bag", "dim": 16}, train={"epochs": 2}))
    vocab = r.data.preprocess["tokenizer"]["model"]["vocab"]
    assert "w" in vocab and "##o" in vocab and "wonderful" not in vocab


def test_tabular_classification_with_categorical_and_missing(tmp_path):
    path = write_table(tmp_path / "t.csv")
    r = run(base(tmp_path, {"path": str(path), "label": "y"}, {"hidden": [32, 32], "residual": True},
                 train={"epochs": 30}, optimizer={"lr": 0.01}))
    assert r.config["data"]["kind"] == "tabular" and r.config["model"]["name"] == "mlp"
    sig, _ = check_output_folder(r.output_dir, "classification", "tabular")
    cols = sig["preprocess"]["columns"]
    assert [c["name"] for c in cols] == ["x1", "x2", "color"]
    assert cols[2] == {"name": "color", "type": "categorical", "categories": ["blue", "green", "red"]}
    assert cols[0]["type"] == "numeric" and abs(cols[0]["mean"]) < 0.5
    assert sig["inputs"][0]["shape"] == [-1, 5]
    assert r.metrics["val_accuracy"] >= 0.8, r.metrics
    p = Predictor.load(r.output_dir)
    x = p.preprocess([{"x1": 2.0, "x2": "", "color": "red"}, [-2.0, 0.0, "purple"]])
    row = x.numpy()
    assert row[0, 4] == 1.0 and row[1, 2:].tolist() == [0.0, 0.0, 0.0]  # one-hot; unknown category: zeros
    assert abs(row[0, 1]) < 1e-6  # missing numeric: the training mean, standardized to 0
    assert [q["label"] for q in p.predict([{"x1": 3, "x2": 0, "color": "red"}, {"x1": -3, "x2": 0, "color": "blue"}])] \
        == ["yes", "no"]


def test_tabular_missing_tokens_keep_a_column_numeric(tmp_path):
    # NA, ?, null, N/A and nan mark missing cells (the agent's profiler reads the same set):
    # x2 stays numeric, its missing cells become the training mean.
    rng = np.random.default_rng(4)
    path = tmp_path / "na.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x1", "x2", "y"])
        for k in range(80):
            x1, x2 = rng.normal(), rng.normal()
            w.writerow([f"{x1:.4f}", ["NA", "?", "null", "N/A", "nan"][k % 5] if k % 4 == 0 else f"{x2:.4f}",
                        "a" if x1 > 0 else "b"])
    r = run(base(tmp_path, {"path": str(path), "label": "y"}, train={"epochs": 2}))
    sig, _ = check_output_folder(r.output_dir, "classification", "tabular")
    assert [c["type"] for c in sig["preprocess"]["columns"]] == ["numeric", "numeric"]
    x = Predictor.load(r.output_dir).preprocess([{"x1": 0.0, "x2": "NA"}]).numpy()
    assert abs(x[0, 1]) < 1e-6
    from tessel.agent.profile import MISSING_TOKENS
    from tessel.train.sources import MISSING_TOKENS as TRAIN_TOKENS
    assert MISSING_TOKENS is TRAIN_TOKENS


def test_predictor_takes_uploaded_files(tmp_path):
    # What the web UI's try-a-model page passes: the uploaded file's bytes.
    path = write_table(tmp_path / "t.csv", n=60)
    r = run(base(tmp_path, {"path": str(path), "label": "y"}, train={"epochs": 2}))
    p = Predictor.load(r.output_dir)
    text = "x1,x2,color\n1.0,0.5,red\n-1.0,,blue\n"
    a = p.predict([text.encode()])
    b = p.predict([{"x1": "1.0", "x2": "0.5", "color": "red"}, {"x1": -1.0, "x2": None, "color": "blue"}])
    assert len(a) == 2 and a == b
    (tmp_path / "rows.csv").write_text(text)
    assert p.predict([str(tmp_path / "rows.csv")]) == a
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=x, label=(x[:, 0] > 0).astype(np.int64))
    r = run(base(tmp_path, {"path": str(tmp_path / "a.npz")}, train={"epochs": 2},
                 output={"dir": str(tmp_path / "arr")}))
    p = Predictor.load(r.output_dir)
    buf = io.BytesIO()
    np.save(buf, x[:5])
    assert p.predict([buf.getvalue()]) == p.predict(list(x[:5]))


def test_limit_and_no_validation(tmp_path):
    data = write_images(tmp_path / "imgs", n=10)
    r = run(base(tmp_path, {"path": str(data), "limit": 8, "val_split": 0.0}, {"name": "cnn", "channels": [4]},
                 train={"epochs": 2}))
    assert r.data.x_train.shape[0] == 8 and r.data.x_val is None
    assert sorted(set(r.data.y_train.tolist())) == [0, 1]  # a random subset keeps both classes
    assert "train_accuracy" in r.metrics and not any(k.startswith("val_") for k in r.metrics)
    path = write_table(tmp_path / "t.csv", n=100)
    r = run(base(tmp_path, {"path": str(path), "label": "y", "limit": 30}, train={"epochs": 1}))
    assert r.data.x_train.shape[0] + r.data.x_val.shape[0] == 30


def test_untracked_and_no_onnx(tmp_path):
    r = run(base(tmp_path, {"path": "sklearn:iris"}, experiment={"track": False}, output={"export_onnx": False}))
    assert r.run_id is None and not os.path.exists(tmp_path / "store")
    assert "model.onnx" not in os.listdir(r.output_dir)
    with pytest.raises(FileNotFoundError, match="no model.onnx"):
        Predictor.load(r.output_dir)


def test_tabular_regression(tmp_path):
    path = write_table(tmp_path / "r.csv", n=200, regression=True)
    r = run(base(tmp_path, {"path": str(path), "label": "y"}, {"hidden": [32], "dropout": 0.0},
                 train={"epochs": 60, "batch_size": 32}, optimizer={"lr": 0.01}))
    sig, metrics = check_output_folder(r.output_dir, "regression", "tabular")
    assert sig["classes"] is None and sig["outputs"][0]["shape"] == [-1, 1]
    assert metrics["val_r2"] > 0.9 and metrics["val_mae"] < 0.6, metrics
    p = Predictor.load(r.output_dir)
    v = p.predict([{"x1": 1.0, "x2": 0.0, "color": "red"}])[0]["value"]
    assert abs(v - 4.5) < 1.0  # 3*1 - 0 + 1.5, in the label's units


def test_arrays_npz_npy_safetensors(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(150, 6)).astype(np.float32) * 5 + 10
    y = (x[:, 0] > 10).astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, label=y)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    ts.save({"feats": ts.from_numpy(x), "target": ts.from_numpy(y)}, str(tmp_path / "d.safetensors"))
    for data in ({"path": str(tmp_path / "d.npz")}, {"path": str(tmp_path / "x.npy"), "label": "y.npy"},
                 {"path": str(tmp_path / "d.safetensors"), "inputs": "feats", "label": "target"}):
        r = run(base(tmp_path, data, train={"epochs": 10}, optimizer={"lr": 0.01}))
        assert r.config["data"]["kind"] == "arrays"
        sig, _ = check_output_folder(r.output_dir, "classification", "array")
        assert sig["classes"] == ["0", "1"] and sig["preprocess"]["shape"] == [6]
        assert r.metrics["val_accuracy"] > 0.85, (data, r.metrics)
    p = Predictor.load(r.output_dir)
    assert p.predict([x[0], x[1]])[0]["label"] == str(y[0])
    with pytest.raises(DataError, match="no array 'nope'"):
        run(base(tmp_path, {"path": str(tmp_path / "d.npz"), "inputs": "nope"}))


def test_val_path_and_regression_sklearn(tmp_path):
    r = run(base(tmp_path, {"path": "sklearn:diabetes"}, train={"epochs": 5}))
    assert r.data.task == "regression" and "val_rmse" in r.metrics and "val_r2" in r.metrics
    tr = write_text(tmp_path / "train.csv", 30)
    va = write_text(tmp_path / "val.csv", 10)
    r = run(base(tmp_path, {"path": str(tr), "val_path": str(va)}, {"name": "text_bag"}, train={"epochs": 2}))
    assert r.data.x_val.shape[0] == 10 and r.data.x_train.shape[0] == 30


def test_split_is_seeded_and_stratified(tmp_path):
    from tessel.train.sources import split_indices
    labels = np.array([0] * 30 + [1] * 10)
    a = split_indices(40, 0.25, 7, labels)
    b = split_indices(40, 0.25, 7, labels)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    assert (labels[a[1]] == 1).sum() == 2 or (labels[a[1]] == 1).sum() == 3
    assert len(set(a[0]) & set(a[1])) == 0 and len(a[0]) + len(a[1]) == 40
    c = split_indices(40, 0.25, 8, labels)
    assert not (np.sort(a[1]) == np.sort(c[1])).all()


def test_optimizers_schedules_callbacks(tmp_path):
    for opt, sched in (("sgd", "step"), ("adamw", "cosine"), ("rmsprop", "exponential"), ("adam", "onecycle"),
                       ("adam", "plateau")):
        r = run(base(tmp_path, {"path": "sklearn:iris"}, optimizer={"name": opt, "lr": 0.01},
                     schedule={"name": sched, "step_size": 1, "gamma": 0.5}, train={"epochs": 3}))
        hist = r.history.history
        assert len(hist["loss"]) == 3
        if sched in ("step", "exponential"):
            assert hist["lr"][1] == pytest.approx(hist["lr"][0] * 0.5)
    # early stopping stops; checkpoints are written
    r = run(base(tmp_path, {"path": "sklearn:iris"}, optimizer={"lr": 1e-6},
                 train={"epochs": 30, "callbacks": {"early_stopping": {"patience": 1, "min_delta": 0.5},
                                                    "checkpoint": {"save_best_only": False}}}))
    assert r.metrics["epochs_run"] < 30 and "stopped_epoch" in r.metrics
    ck = os.listdir(os.path.join(r.output_dir, "checkpoints"))
    assert len(ck) == r.metrics["epochs_run"]


def test_extra_callbacks_see_each_epoch_and_can_stop(tmp_path):
    from tessel.training import Callback

    class Prune(Callback):  # what a tuner's pruning callback does
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append(logs["val_loss"])
            if epoch == 1:
                self.trainer.stop_training = True

    cb = Prune()
    r = run(base(tmp_path, {"path": "sklearn:iris"}, train={"epochs": 10}), callbacks=[cb])
    assert len(cb.seen) == 2 and r.metrics["epochs_run"] == 2
    assert cb.seen == r.history.history["val_loss"]


def test_user_model_function(tmp_path):
    (tmp_path / "mymodels.py").write_text(
        "import tessel.nn as nn\n"
        "def tiny(num_inputs, num_outputs, width=8):\n"
        "    return nn.Sequential(nn.Linear(num_inputs, width), nn.ReLU(), nn.Linear(width, num_outputs))\n")
    cfgfile = tmp_path / "c.yaml"
    cfgfile.write_text(yaml.safe_dump(base(tmp_path, {"path": "sklearn:iris"}, {"name": "mymodels:tiny",
                                                                                "width": 5})))
    r = run(str(cfgfile))
    assert r.model[0].out_features == 5
    check_output_folder(r.output_dir, "classification", "tabular")
    with pytest.raises(ConfigError, match="model.depth: mymodels:tiny takes no argument 'depth'"):
        run(str(cfgfile), ["model.depth=3"])
    with pytest.raises(ConfigError, match="cannot import module 'nomodule'"):
        run(str(cfgfile), ["model.name=nomodule:f"])


def test_output_dir_placeholders_and_overwrite(tmp_path):
    cfg = base(tmp_path, {"path": "sklearn:iris"}, output={"dir": str(tmp_path / "runs" / "{experiment}-{time}")})
    r = run(cfg)
    assert os.path.basename(r.output_dir).startswith("t-20")
    r2 = run(cfg)  # a second run in the same second gets its own folder
    assert r2.output_dir != r.output_dir and os.path.exists(os.path.join(r.output_dir, "model.onnx"))
    bad = base(tmp_path, {"path": str(tmp_path / "x.npz")}, output={"dir": str(tmp_path / "b" / "{time}")})
    np.savez(tmp_path / "x.npz", x=np.zeros((4, 2)))
    with pytest.raises(DataError):
        run(bad)
    assert os.listdir(tmp_path / "b") == []  # the claimed folder is given back when the data fails
    cfg = base(tmp_path, {"path": "sklearn:iris"}, output={"dir": r.output_dir, "overwrite": False})
    with pytest.raises(ConfigError, match="is not empty"):
        run(cfg)


def test_failed_run_is_marked(tmp_path):
    from tessel import store as tstore

    # A user model whose forward fails on the second epoch's first batch: the run ends FAILED.
    (tmp_path / "bad.py").write_text(
        "import tessel.nn as nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self, n, k):\n"
        "        super().__init__(); self.l = nn.Linear(n, k); self.calls = 0\n"
        "    def forward(self, x):\n"
        "        self.calls += 1\n"
        "        if self.calls > 12: raise RuntimeError('boom')\n"
        "        return self.l(x)\n"
        "def make(num_inputs, num_outputs):\n"
        "    return M(num_inputs, num_outputs)\n")
    cfgfile = tmp_path / "c.yaml"
    cfgfile.write_text(yaml.safe_dump(base(tmp_path, {"path": "sklearn:iris"}, {"name": "bad:make"})))
    with pytest.raises(RuntimeError, match="boom"):
        run(str(cfgfile))
    st = tstore.open(str(tmp_path / "store"))
    try:
        runs = st.search_runs("t")
        assert runs and runs[0].to_dict()["status"] == "FAILED"
    finally:
        st.close()


def test_examples_validate():
    from tessel.config import TrainConfig
    folder = os.path.join(ROOT, "examples", "configs")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".yaml"))
    assert {"digits.yaml", "images.yaml", "audio.yaml", "text.yaml", "tabular.yaml"} <= set(names)
    for n in names:
        raw = yaml.safe_load(open(os.path.join(folder, n)))
        raw["data"]["kind"] = raw["data"].get("kind", "auto")
        if raw["data"]["path"].startswith("sklearn:"):
            TrainConfig.from_file(os.path.join(folder, n))
        else:  # the data folders are the user's: check everything but the path
            from tessel.config.schema import _validate_section, SCHEMA
            errors = []
            for k in SCHEMA:
                if k != "model":
                    _validate_section(SCHEMA[k], raw.get(k), k, errors)
            assert not errors, (n, errors)
