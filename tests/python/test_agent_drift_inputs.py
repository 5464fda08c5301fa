"""Embedding drift (tessel.agent.embedding: a fixed feature extractor of the
model's input tensors, MMD with a permutation threshold) for images, audio
and text, and drift of the inputs logged by the server
(tessel.agent.input_log's JSON-lines format) in `ts.agent.watch`."""
import csv
import json
import os

import numpy as np
import pytest

import tessel as ts
from tessel import agent
from tessel.agent import embedding as emb, input_log
from tessel.agent.errors import DataError
from tessel.train import Predictor


# ----- the test itself, on tensors ------------------------------------------------------------------------

def test_mmd_separates_a_shift_from_a_resample():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(60, 3, 16, 16)), rng.normal(size=(60, 3, 16, 16))
    c = rng.normal(size=(60, 3, 16, 16))
    c[:, :, :8] += 0.5  # the top half brighter: the layout moves, not only the mean
    same, moved = emb.embedding_drift(a, b, "image"), emb.embedding_drift(a, c, "image")
    assert not same["drifted"] and same["p_value"] > 0.05 and same["mmd2"] < same["mmd2_threshold"]
    assert moved["drifted"] and moved["p_value"] < 0.01 and moved["mmd2"] > moved["mmd2_threshold"]
    # Seeded: the same call gives the same answer.
    assert emb.embedding_drift(a, c, "image") == moved


def test_mmd_on_token_ids_and_spectrograms():
    rng = np.random.default_rng(3)  # (seed 1's two samples differ at p = 0.013: a level-1% test's tail)
    t1, t2 = rng.integers(1, 100, (50, 20)), rng.integers(1, 100, (50, 20))
    t3 = rng.integers(1, 100, (50, 20))
    t3[:, 10:] = 0  # the same words, shorter texts (padding)
    assert not emb.embedding_drift(t1, t2, "text")["drifted"]
    assert emb.embedding_drift(t1, t3, "text")["drifted"]
    f = emb.embed(t3[:2], "text")
    assert f.shape == (2, 65) and np.allclose(f[:, :64].sum(axis=1), 1.0)
    s1, s2 = rng.normal(size=(40, 1, 32, 20)), rng.normal(size=(40, 32, 20))
    s3 = rng.normal(size=(40, 32, 20))
    s3[:, 16:] += 1.0  # energy moved to the high mel bands
    assert emb.embed(s1, "audio").shape == (40, 17) and emb.embed(s2, "audio").shape == (40, 17)
    assert not emb.embedding_drift(s1, s2, "audio")["drifted"]
    assert emb.embedding_drift(s1, s3, "audio")["drifted"]


def test_mmd_bad_input():
    with pytest.raises(ValueError, match="at least 2 rows"):
        emb.mmd_test(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\[m, D\] and \[n, D\]"):
        emb.mmd_test(np.zeros((4, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="must be"):
        emb.embed(np.zeros((4, 2, 2, 2, 2)), "image")


# ----- the server's input log ----------------------------------------------------------------------------

def write_log(root, model, x, version="1", per_request=8, rotate_after=None, datatype="FP32"):
    """Writes x [N, ...] as tessel-serve --input-log DIR writes it: DIR/MODEL/VERSION/inputs.jsonl, one
    request per line, older requests rotated to inputs-<UTC time>.jsonl."""
    d = os.path.join(root, model, version)
    os.makedirs(d, exist_ok=True)
    lines = []
    for k, s in enumerate(range(0, len(x), per_request)):
        part = np.asarray(x[s:s + per_request])
        data = [None if not np.isfinite(v) else (int(v) if datatype.startswith("INT") else float(v))
                for v in part.reshape(-1)]
        lines.append(json.dumps({"time": f"2026-12-03T03:30:{k % 60:02d}Z", "model": model, "version": version,
                                 "id": str(k), "inputs": [{"name": "input", "datatype": datatype,
                                                           "shape": list(part.shape), "data": data}]}))
    if rotate_after:
        with open(os.path.join(d, "inputs-20261203T032000Z.jsonl"), "w") as f:
            f.write("\n".join(lines[:rotate_after]) + "\n")
        lines = lines[rotate_after:]
    with open(os.path.join(d, "inputs.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root


def test_read_input_log_order_partial_lines_and_errors(tmp_path):
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    root = write_log(str(tmp_path / "log"), "m", x, per_request=3, rotate_after=2)
    d = os.path.join(root, "m", "1")
    assert [os.path.basename(p) for p in input_log.log_files(root)] == ["inputs-20261203T032000Z.jsonl",
                                                                          "inputs.jsonl"]
    with open(os.path.join(d, "inputs.jsonl"), "a") as f:
        f.write('{"model": "m", "inputs": [{"name": "in')  # a record the server is still writing
    got, info = input_log.read_input_log(root)
    assert np.array_equal(got, x) and info["requests"] == 7 and info["models"] == {"m": 7}
    assert input_log.is_input_log(root) and input_log.is_input_log(os.path.join(d, "inputs.jsonl"))
    table = tmp_path / "t.jsonl"
    table.write_text('{"a": 1, "b": 2}\n')
    assert not input_log.is_input_log(str(table))  # a JSONL table is not a log

    write_log(root, "other", x[:4])
    with pytest.raises(DataError, match="several models"):
        input_log.read_input_log(root)
    with pytest.raises(DataError, match=r"no requests of model 'nope'.*models in the log: m, other"):
        input_log.read_input_log(root, model="nope")
    assert input_log.read_input_log(root, model="other")[0].shape == (4, 2)
    bad = tmp_path / "bad" / "inputs.jsonl"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"model": "m", "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3],
                                                         "data": [1, 2]}]}) + "\n")
    with pytest.raises(DataError, match=r"inputs.jsonl:1: input 'input' has 2 values for shape \[1, 3\]"):
        input_log.read_input_log(str(bad))
    bad.write_text(json.dumps({"model": "m", "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2],
                                                         "data": [1, 2]}]}) + "\nnot json\n")
    with pytest.raises(DataError, match=r"inputs.jsonl:2: not a JSON object"):
        input_log.read_input_log(str(bad))


def _table(path, n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(shift, 1.0, n), rng.normal(0.0, 1.0, n)
    col = rng.choice(["red", "blue"], n)
    y = (x1 - shift + 0.3 * x2 > 0).astype(int)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x1", "x2", "color", "y"])
        w.writerows(zip(np.round(x1, 4), np.round(x2, 4), col, y))
    return str(path)


@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("logtable")
    store = str(d / "store")
    res = agent.AutoML(n_trials=1, max_epochs=2, seed=0, verbose=False, store=store, ensemble=False,
                       report=False, register="tab").fit(_table(d / "old.csv", 300, 0), target="y")
    return d, store, res.model_version["folder"]


def _logged_rows(folder, table):
    with open(table) as f:
        rows = [{k: v for k, v in r.items() if k != "y"} for r in csv.DictReader(f)]
    return Predictor.load(folder).preprocess(rows).numpy()


def test_watch_reads_the_servers_table_log(table_model, tmp_path):
    d, store, folder = table_model
    same = write_log(str(tmp_path / "same"), "tab", _logged_rows(folder, _table(tmp_path / "s.csv", 200, 1)))
    res = agent.watch("models:/tab@champion", same, store=store)
    assert not res.drifted and not res.retrained
    assert {f["name"] for f in res.drift["features"]} == {"x1", "x2", "color"}
    assert res.drift["source"] == "input log" and res.drift["n_current"] == 200
    # Served under another name (the log's only model): still read; x1 moved by 3 standard deviations.
    moved = write_log(str(tmp_path / "moved"), "served-tab",
                      _logged_rows(folder, _table(tmp_path / "m.csv", 200, 2, shift=3.0)))
    res = agent.watch("tab", moved, store=store)
    assert res.drifted and [f["name"] for f in res.drift["features"] if f["drifted"]] == ["x1"]
    assert not res.retrained and "carry no labels" in res.reason
    x1 = next(f for f in res.drift["features"] if f["name"] == "x1")
    assert x1["psi"] > 1.0 and x1["p_value"] < 1e-6


def test_watch_refuses_a_log_of_another_shape(table_model, tmp_path):
    d, store, folder = table_model
    root = write_log(str(tmp_path / "log"), "tab", np.zeros((4, 7), np.float32))
    with pytest.raises(DataError, match=r"logged inputs are \[N, 7\] but model tab version 1 takes"):
        agent.watch("tab", root, store=store)


# ----- images, audio and text through the model's own conversion -----------------------------------------

def _images(root, n, seed, top_bright, size=(12, 12)):
    # cat: dark, dog: bright; top_bright puts the light in the top half instead of the bottom half, with the
    # same pixel mean and spread: the per-file summaries do not see it, the embedding does.
    rng = np.random.default_rng(seed)
    for c, base in (("cat", 60), ("dog", 150)):
        os.makedirs(root / c, exist_ok=True)
        for i in range(n):
            px = rng.normal(base, 15, (*size, 3))
            h = size[0] // 2
            if top_bright:
                px[:h] += 40
            else:
                px[h:] += 40
            ts.image.write(str(root / c / f"{seed}-{i}.png"),
                           ts.image.as_image(ts.from_numpy(np.clip(px, 0, 255).astype(np.uint8))))
    return str(root)


def test_image_embedding_drift_in_folders_and_logs(tmp_path):
    store = str(tmp_path / "store")
    res0 = agent.AutoML(n_trials=1, max_epochs=1, seed=0, verbose=False, store=store, ensemble=False,
                        report=False, register="pics").fit(_images(tmp_path / "old", 20, 0, False))
    same = agent.watch("pics", _images(tmp_path / "same", 20, 1, False), store=store, retrain=False)
    e = next(f for f in same.drift["features"] if f["name"] == "embedding")
    assert e["kind"] == "image embedding (MMD)" and not e["drifted"] and not same.drifted
    flipped = agent.watch("pics", _images(tmp_path / "flip", 20, 2, True), store=store, retrain=False)
    by = {f["name"]: f for f in flipped.drift["features"]}
    assert by["embedding"]["drifted"] and by["embedding"]["p_value"] < 0.01 and flipped.drifted
    assert not by["pixel_mean"]["drifted"]  # the summaries alone miss the change
    # The same images as the server would log them (the model's input tensors).
    pred = Predictor.load(res0.model_version["folder"])
    files = sorted(str(p) for p in (tmp_path / "flip").rglob("*.png"))
    log = write_log(str(tmp_path / "log"), "pics", pred.preprocess(files).numpy())
    res = agent.watch("pics", log, store=store)
    assert res.drifted and [f["name"] for f in res.drift["features"]] == ["embedding"] and not res.retrained
    files = sorted(str(p) for p in (tmp_path / "same").rglob("*.png"))
    log = write_log(str(tmp_path / "log2"), "pics", pred.preprocess(files).numpy())
    assert not agent.watch("pics", log, store=store).drifted


def test_audio_embedding_drift(tmp_path):
    import soundfile as sf
    sr = 8000
    t = np.arange(int(sr * 0.25)) / sr
    rng = np.random.default_rng(0)

    def clips(root, n, freqs, seed):
        r = np.random.default_rng(seed)
        for c, f in (("low", freqs[0]), ("high", freqs[1])):
            os.makedirs(root / c, exist_ok=True)
            for i in range(n):
                x = 0.3 * np.sin(2 * np.pi * (f + r.uniform(-30, 30)) * t) + 0.01 * r.normal(size=t.size)
                sf.write(str(root / c / f"{seed}-{i}.wav"), x.astype(np.float32), sr)
        return str(root)

    store = str(tmp_path / "store")
    agent.AutoML(n_trials=1, max_epochs=1, seed=0, verbose=False, store=store, ensemble=False, report=False,
                 register="tones", families=["audio_cnn"]).fit(clips(tmp_path / "old", 15, (300, 1200), 0))
    same = agent.watch("tones", clips(tmp_path / "same", 15, (300, 1200), 1), store=store, retrain=False)
    assert not next(f for f in same.drift["features"] if f["name"] == "embedding")["drifted"]
    # The same loudness and length, other pitches: where the energy sits on the mel axis moves.
    moved = agent.watch("tones", clips(tmp_path / "moved", 15, (600, 2400), 2), store=store, retrain=False)
    e = next(f for f in moved.drift["features"] if f["name"] == "embedding")
    assert e["kind"] == "audio embedding (MMD)" and e["drifted"] and moved.drifted
    del rng


def test_text_embedding_drift(tmp_path):
    pos, neg = "good great fine nice lovely".split(), "bad awful poor sad grim".split()
    other = "table chair window door floor".split()

    def table(path, n, seed, words=None):
        r = np.random.default_rng(seed)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            for i in range(n):
                lab = ("pos", "neg")[i % 2]
                w.writerow([" ".join(r.choice(words or (pos if lab == "pos" else neg), 4)), lab])
        return str(path)

    store = str(tmp_path / "store")
    agent.AutoML(n_trials=1, max_epochs=1, seed=0, verbose=False, store=store, ensemble=False, report=False,
                 families=["text_bag"]).fit(table(tmp_path / "reviews.csv", 80, 0), target="label")
    same = agent.watch("reviews", table(tmp_path / "same.csv", 60, 1), store=store, retrain=False)
    e = next(f for f in same.drift["features"] if f["name"] == "text.embedding")
    assert not e["drifted"] and not same.drifted
    # Other words of the same length: the length summaries stay, the tokens move.
    res = agent.watch("reviews", table(tmp_path / "other.csv", 60, 2, words=other), store=store, retrain=False)
    by = {f["name"]: f for f in res.drift["features"]}
    assert by["text.embedding"]["drifted"] and by["text.embedding"]["kind"] == "text embedding (MMD)"
    assert res.drifted
