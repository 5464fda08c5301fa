"""The agent on raw audio and text files: the audio_cnn family's mean+max
pooling and per-clip centering, the audio families searched, the audio
conversion settings the agent picks (native sample rate, bounded frames), the
per-process cache of converted audio, and bench/bench_agent_raw.py's man-page text (no label in the text)."""
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import tessel as ts
from tessel.agent import plan
from tessel.agent.prepare import prepare
from tessel.agent.profile import profile
from tessel.config.schema import TrainConfig
from tessel.models import AudioCNN, build_model
from tessel.train import sources as S

ROOT = Path(__file__).resolve().parents[2]


def _wavs(root, rates, seconds=0.25, n=3):
    import soundfile as sf
    for c, f in (("low", 300.0), ("high", 1200.0)):
        os.makedirs(root / c, exist_ok=True)
        for i in range(n):
            sr = rates[i % len(rates)]
            t = np.arange(int(sr * seconds)) / sr
            sf.write(str(root / c / f"{i}.wav"), (0.4 * np.sin(2 * np.pi * (f + 15 * i) * t)).astype(np.float32), sr)
    return str(root)


def test_audio_cnn_meanmax_and_centering():
    ts.manual_seed(0)
    m = AudioCNN(1, 4, channels=(4, 8), pool="meanmax", center=True)
    m.eval()
    x = ts.randn(3, 1, 10, 12)
    y = m(x)
    assert tuple(y.shape) == (3, 4) and tuple(m.head.weight.shape) == (4, 16)
    # A louder recording adds a constant to the log-mel (dB): centering removes it.
    np.testing.assert_allclose(m(x + 9.0).numpy(), y.numpy(), rtol=1e-5, atol=1e-5)
    # The head sees [mean, max] of the last feature map.
    h = m.features(x - x.mean((1, 2, 3), keepdim=True))
    z = np.concatenate([h.numpy().mean((2, 3)), h.numpy().max((2, 3))], 1)
    ref = z @ m.head.weight.numpy().T + m.head.bias.numpy()
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)
    # The defaults are the old family (mean pooling, no centering): saved models keep loading.
    old = AudioCNN(1, 4, channels=(4, 8))
    assert old.pool == "mean" and not old.center and tuple(old.head.weight.shape) == (4, 8)
    with pytest.raises(ValueError, match="pool must be"):
        AudioCNN(1, 4, pool="sum")


def test_audio_cnn_meanmax_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    ts.manual_seed(1)
    m = build_model({"name": "audio_cnn", "channels": [4, 8], "dropout": 0.1, "pool": "meanmax", "center": True},
                    (1, 10, 12), 3)
    m.eval()
    x = ts.randn(2, 1, 10, 12)
    path = str(tmp_path / "m.onnx")
    ts.onnx.export(m, (x,), path, input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}})
    got = ort.InferenceSession(path).run(None, {"x": x.numpy()})[0]
    np.testing.assert_allclose(got, m(x).numpy(), rtol=1e-4, atol=1e-5)


def test_plan_audio_cnn_config_validates(tmp_path):
    p = plan.defaults("audio_cnn")
    assert p["audio_cnn.depth"] == 4 and p["audio_cnn.pool"] == "meanmax"
    cfg = plan.to_config({"data": {"kind": "audio_folder", "path": _wavs(tmp_path, (8000,))}}, p, 3)
    assert cfg["model"] == {"name": "audio_cnn", "channels": [16, 32, 64, 128], "dropout": 0.2, "pool": "meanmax",
                            "center": True}
    model = TrainConfig(cfg).resolve()["model"]
    assert model["pool"] == "meanmax" and model["center"] is True
    # A point without the (newer) pool parameter, e.g. from an older study, still builds a config.
    del p["audio_cnn.pool"]
    assert plan.to_config({}, p, 1)["model"]["pool"] == "mean"


def test_prepare_audio_at_the_files_rate(tmp_path):
    folder = _wavs(tmp_path / "same", (8000,))
    prep = prepare(profile(folder), folder, None, str(tmp_path / "w1"), 0.34, 0)
    assert prep.data["audio"] == {"duration": 0.25, "sample_rate": 8000, "n_fft": 512, "hop_length": 80}
    # Mixed rates: resampled to the default 16 kHz, 10 ms hops.
    folder = _wavs(tmp_path / "mixed", (8000, 22050))
    prep = prepare(profile(folder), folder, None, str(tmp_path / "w2"), 0.34, 0)
    assert "sample_rate" not in prep.data["audio"] and prep.data["audio"]["hop_length"] == 160
    # Clips of 1.6 s: 10 ms hops still, the clip's length as the duration.
    folder = _wavs(tmp_path / "long", (8000,), seconds=1.6)
    a = prepare(profile(folder), folder, None, str(tmp_path / "w3"), 0.34, 0).data["audio"]
    assert a["hop_length"] == 80 and a["duration"] == pytest.approx(1.6)


def test_audio_features_cache(tmp_path):
    import soundfile as sf
    folder = _wavs(tmp_path / "a", (8000,))
    files = sorted(str(p) for p in Path(folder).rglob("*.wav"))
    pre = {"kind": "audio", "sample_rate": 8000, "num_samples": 2000, "n_fft": 256, "hop_length": 80, "n_mels": 16,
           "top_db": 80.0, "mean": 0.0, "std": 1.0}
    x1, kept1, _ = S.audio_features(files, pre)
    x2, kept2, _ = S.audio_features(files, dict(pre, mean=3.0, std=2.0))  # scaling is applied later: same entry
    assert x2 is x1 and kept2 == kept1
    assert S.audio_features(files, dict(pre, n_mels=8))[0].shape[2] == 8  # other settings: converted again
    # A file that changed on disk is converted again.
    t = np.arange(2000) / 8000
    sf.write(files[0], (0.1 * np.sin(2 * np.pi * 2000 * t)).astype(np.float32), 8000)
    x3, _, _ = S.audio_features(files, pre)
    assert x3 is not x1 and not np.allclose(x3.numpy()[0], x1.numpy()[0])
    np.testing.assert_array_equal(x3.numpy()[1:], x1.numpy()[1:])


def test_bench_man_page_text_has_no_label():
    spec = importlib.util.spec_from_file_location("bench_agent_raw", ROOT / "bench" / "bench_agent_raw.py")
    B = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec.loader.exec_module(B)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    src = "\n".join([
        '.\\" Copyright 1993 someone',
        '.TH READ 2 2022-12-04 "Linux man-pages 6.03"',
        ".SH NAME", r"read \- read from a file descriptor",
        ".SH SEE ALSO", ".BR close (2),", r"\fBopen\fP(2), fcntl(2)",
        ".de XX", "junk inside a macro definition", "..",
        ".Xr stat 2 ,", r"\fIbuf\fR holds \(em the bytes",
    ])
    text = B.roff_text(src)
    assert "READ 2" not in text and "Copyright" not in text and "junk" not in text and "(2)" not in text
    assert "read - read from a file descriptor" in text
    assert "close," in text and "open, fcntl" in text and "stat" in text and "buf holds" in text


def test_plan_text_bag_length_sets_the_tokenizer():
    p = plan.defaults("text_bag")
    assert p["text_bag.length"] == 64
    p["text_bag.length"] = 1024
    cfg = plan.to_config({"data": {"kind": "text", "path": "x.csv", "tokenizer": {"vocab_size": 300}}}, p, 2)
    assert cfg["data"]["tokenizer"] == {"vocab_size": 300, "max_length": 1024}
    p["text_bag.length"] = 64
    assert plan.to_config({"data": {"kind": "text"}}, p, 2)["data"]["tokenizer"]["max_length"] == 64
    # The transformer keeps the data section's length (attention costs the square of it).
    cfg = plan.to_config({"data": {"kind": "text"}}, plan.defaults("text_transformer"), 2)
    assert "tokenizer" not in cfg["data"]


def test_text_table_with_a_field_over_128_kib(tmp_path):
    # A whole document in one cell (a long man page): the csv module's default limit refused it.
    long = " ".join(f"word{i % 50}" for i in range(30000))
    rows = [("short text about cats and dogs here", "a"), (long, "b")] * 4
    path = tmp_path / "t.csv"
    import csv
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    assert len(long) > 131072
    got = S.read_table(str(path))
    assert len(got) == 8 and got[1]["text"] == long


def test_audio_searches_audio_cnn_only_unless_asked():
    from types import SimpleNamespace
    prof = SimpleNamespace(modality="audio", kind="audio_folder")
    assert plan.candidates(prof) == ("audio_cnn",)
    # resnet still takes audio when the user names it.
    assert plan.candidates(prof, ("audio_cnn", "resnet")) == ("audio_cnn", "resnet")
    with pytest.raises(ValueError, match="text_bag"):
        plan.candidates(prof, "text_bag")


def test_audio_trials_are_augmented_and_train_twice_as_long(tmp_path):
    from types import SimpleNamespace
    assert plan.max_epochs(SimpleNamespace(modality="audio")) == 20
    for m in ("tabular", "image", "text", "array"):
        assert plan.max_epochs(SimpleNamespace(modality=m)) == 10
    p = plan.defaults("audio_cnn")
    assert p["audio_cnn.augment"] is True
    folder = _wavs(tmp_path / "w", (8000,))
    cfg = plan.to_config({"data": {"kind": "audio_folder", "path": folder, "audio": {"duration": 0.25}}}, p, 20)
    assert cfg["data"]["audio"]["augment"]["enabled"] is True and cfg["train"]["epochs"] == 20
    assert TrainConfig(cfg).resolve()["data"]["audio"]["augment"]["enabled"] is True

    # max_epochs=None takes the data's default; a number the user gives wins.
    def epochs(**kw):
        res = ts.agent.AutoML(n_trials=1, seed=0, verbose=False, store=str(tmp_path / "s"), ensemble=False,
                              register=False, export=False, report=False, **kw).fit(folder)
        return [r["epochs"] for r in res.leaderboard]
    assert epochs() == [20]
    assert epochs(max_epochs=2) == [2]
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match="max_epochs"):
            ts.agent.AutoML(n_trials=1, max_epochs=bad)
        with pytest.raises(ValueError, match="min_epochs"):
            ts.agent.AutoML(n_trials=1, min_epochs=bad)
    # min_epochs above the data's default max_epochs is clipped to it.
    assert epochs(min_epochs=50) == [20]


@pytest.mark.parametrize("pairs", [0, 7])
def test_text_tf_is_log_counts_at_unit_length_then_linear(pairs):
    from tessel.models import TextTF
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 12, size=(5, 9))
    ids[0] = 0  # an empty text: all padding
    ids[1, 4:] = 0
    m = TextTF(12, 3, hidden=0, dropout=0.0, pairs=pairs)
    m.eval()
    got = m(ts.tensor(ids)).numpy()
    counts = np.zeros((5, 12 + pairs))
    for i, row in enumerate(ids):
        for k, t in enumerate(row):
            if t:
                counts[i, t] += 1
            if pairs and k + 1 < len(row) and t and row[k + 1]:  # a pair of tokens, hashed past the vocabulary
                counts[i, 12 + (int(t) * 1000003 + int(row[k + 1])) % pairs] += 1
    tf = np.log1p(counts)
    x = tf / np.maximum(np.linalg.norm(tf, axis=1, keepdims=True), 1e-12)
    lin = m.head[-1]
    want = x @ lin.weight.numpy().astype(np.float64).T + lin.bias.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.allclose(got[0], lin.bias.numpy())  # nothing counted: the bias alone


def test_text_tf_idf_is_scikit_learns_smooth_sublinear_tfidf(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from tessel.models import TextTF
    docs = ["a b b c", "a a d", "c e e e e", "b", "d d a e", ""]
    vocab = {w: i + 1 for i, w in enumerate("abcde")}  # id 0 is padding
    ids = np.zeros((len(docs), 6), np.int64)
    for i, d in enumerate(docs):
        toks = [vocab[w] for w in d.split()]
        ids[i, :len(toks)] = toks
    m = TextTF(6, 2, idf=True)
    m.adapt(ts.tensor(ids[:5]), chunk=2)  # the texts it counts: five, two at a time
    sk = TfidfVectorizer(sublinear_tf=True, smooth_idf=True, token_pattern=r"\S+", vocabulary=list("abcde"))
    sk.fit(docs[:5])
    np.testing.assert_allclose(m.idf.numpy()[1:], sk.idf_, rtol=1e-6)
    # features: log(1 + count) (scikit-learn's 1 + log(count) differs; both at unit length) times idf
    counts = np.stack([[d.split().count(w) for w in "abcde"] for d in docs]).astype(np.float64)
    tf = np.log1p(counts) * sk.idf_
    want = tf / np.maximum(np.linalg.norm(tf, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(m.features(ts.tensor(ids)).numpy()[:, 1:], want, rtol=1e-5, atol=1e-7)
    # saved and loaded with the model; a state dict from before the buffer reads as idf off
    path = str(tmp_path / "m.safetensors")
    ts.save(m.state_dict(), path)
    m2 = TextTF(6, 2, idf=True)
    m2.load_state_dict(ts.load(path))
    np.testing.assert_array_equal(m2.idf.numpy(), m.idf.numpy())
    old = {k: v for k, v in m.state_dict().items() if k != "idf"}
    m2.load_state_dict(old)
    assert (m2.idf.numpy() == 1).all()
    # idf off: adapt leaves the weights at 1
    m3 = TextTF(6, 2)
    m3.adapt(ts.tensor(ids))
    assert (m3.idf.numpy() == 1).all()


def test_tessel_train_adapts_text_tf_to_the_training_texts(tmp_path):
    from tessel.train import run
    table = tmp_path / "t.csv"
    rows = ["text,label"] + [f"good film {i % 3},pos" for i in range(20)] + [f"bad film {i % 2},neg" for i in range(20)]
    table.write_text("\n".join(rows) + "\n")
    cfg = {"experiment": {"name": "idf", "track": False}, "data": {"kind": "text", "path": str(table)},
           "model": {"name": "text_tf", "idf": True}, "train": {"epochs": 2, "verbose": False},
           "output": {"dir": str(tmp_path / "out"), "export_onnx": False}}
    res = run(cfg)
    idf = res.model.idf.numpy()
    # "film" is in every training text (idf 1), "good" in about half (idf log((1 + n) / (1 + df)) + 1 > 1)
    assert idf.min() == pytest.approx(1.0) and idf.max() > 1.5
    on_disk = ts.load(os.path.join(res.output_dir, "model.safetensors"))["idf"].numpy()
    np.testing.assert_array_equal(on_disk, idf)


def test_text_tf_exports_to_onnx_with_a_dynamic_batch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from tessel.models import TextTF
    m = TextTF(50, 4, hidden=8, dropout=0.2, pairs=16)
    m.eval()
    path = str(tmp_path / "tf.onnx")
    ids = ts.tensor(np.random.default_rng(1).integers(0, 50, size=(3, 20)))
    ts.onnx.export(m, (ids,), path, input_names=["ids"], output_names=["y"], dynamic_axes={"ids": {0: "n"}})
    for n in (1, 6):
        x = np.random.default_rng(n).integers(0, 50, size=(n, 20))
        got = ort.InferenceSession(path).run(None, {"ids": x})[0]
        np.testing.assert_allclose(got, m(ts.tensor(x)).numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ts.onnx.load(path)(ts.tensor(x)).numpy(), got, rtol=1e-4, atol=1e-5)


def test_plan_text_tf_first_trial(tmp_path):
    from types import SimpleNamespace
    assert plan.candidates(SimpleNamespace(modality="text", kind="text"))[:2] == ("text_linear", "text_tf")
    p = plan.defaults("text_tf")
    assert p["lr"] == 3e-2 and p["text_tf.hidden"] == 0 and p["text_tf.length"] == 1024
    assert p["text_tf.pairs"] == 16384
    assert plan.defaults("text_bag")["lr"] == 3e-3  # the shared default for the others
    table = tmp_path / "t.csv"
    table.write_text("text,label\nnice film,pos\nbad film,neg\n")
    cfg = plan.to_config({"data": {"kind": "text", "path": str(table)}}, p, 2)
    assert cfg["model"] == {"name": "text_tf", "hidden": 0, "dropout": 0.1, "pairs": 16384}
    assert cfg["data"]["tokenizer"]["max_length"] == 1024 and cfg["optimizer"]["lr"] == 3e-2
    assert TrainConfig(cfg).resolve()["model"]["name"] == "text_tf"
