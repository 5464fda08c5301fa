"""ts.agent.watch: drift of new data against a registered model's training
data; above the threshold, retraining on old + new labelled data and
promotion to champion only when the retrained model scores better on the
held-out data; the decision recorded in the tracking store."""
import csv
import json
import os

import numpy as np
import pytest

import tessel as ts
from tessel import agent
from tessel.agent import watcher


def _table(path, n, seed, shift=0.0):
    # The class is whether x1 exceeds the middle of its own range: after the shift the old boundary is wrong.
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    y = (x1 - shift + 0.3 * x2 > 0).astype(int)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x1", "x2", "y"])
        w.writerows(zip(np.round(x1, 4), np.round(x2, 4), y))
    return str(path)


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """A store with model 'old' trained by the agent (version 1, champion)."""
    d = tmp_path_factory.mktemp("watch")
    store = str(d / "store")
    res = agent.AutoML(n_trials=2, max_epochs=8, seed=0, verbose=False, store=store, ensemble=False,
                       report=False).fit(_table(d / "old.csv", 400, 0), target="y")
    assert res.model_version["version"] == 1
    return d, store


def test_unshifted_data_does_not_retrain(champion, tmp_path):
    d, store = champion
    res = agent.watch("models:/old@champion", _table(tmp_path / "same.csv", 300, 1), threshold=0.2, store=store)
    assert not res.drifted and not res.retrained and not res.promoted
    assert all(f["psi"] < 0.2 for f in res.drift["features"]) and {f["name"] for f in res.drift["features"]} == \
        {"x1", "x2"}
    st = ts.store.open(store)
    try:
        assert st.get_tags(res.run_id)["watch.decision"] == "no drift"
        assert st.get_aliases("old") == {"champion": 1}
        assert len(st.list_versions("old")) == 1
    finally:
        st.close()


def test_shifted_data_retrains_and_promotes_a_better_model(champion, tmp_path):
    d, store = champion
    new = _table(tmp_path / "shifted.csv", 300, 2, shift=3.0)
    res = agent.watch("old", new, threshold=0.2, store=store)
    assert res.drifted and "x1" in [f["name"] for f in res.drift["features"] if f["drifted"]]
    assert not next(f for f in res.drift["features"] if f["name"] == "x1")["p_value"] > 1e-6
    assert res.retrained and res.metric == "accuracy"
    # Held-out: the agent's test split (80 rows) plus 20% of the new labelled rows.
    assert res.n_heldout == 80 + 60
    assert res.new_metric > res.old_metric and res.promoted
    st = ts.store.open(store)
    try:
        assert st.get_aliases("old")["champion"] == res.new_version == 2
        tags = st.get_tags(res.run_id)
        assert tags["watch.decision"] == "promoted"
        arts = {a["path"] for a in st.list_artifacts(res.run_id)}
        assert "decision.json" in arts
    finally:
        st.close()
    dec = json.load(open(os.path.join(os.path.dirname(res.output_dir), "decision.json")))
    assert dec["promoted"] is True and dec["old_metric"] == res.old_metric
    # The promoted version knows its data: a second watch compares against old + new rows.
    info = json.load(open(os.path.join(ts.store.open(store).get_model_version("old", "champion")["folder"],
                                       "agent.json")))
    assert info["reference"].endswith("train.csv") and os.path.isfile(info["heldout"])


def test_a_retrained_model_that_is_not_better_is_not_promoted(tmp_path, monkeypatch):
    store = str(tmp_path / "store")
    agent.AutoML(n_trials=2, max_epochs=8, seed=0, verbose=False, store=store, ensemble=False,
                 report=False).fit(_table(tmp_path / "old.csv", 400, 0), target="y")
    from tessel.train import runner
    real = runner.run

    def crippled(cfg, *a, **kw):  # the retraining gets one epoch at a tiny learning rate: a worse model
        cfg = json.loads(json.dumps(cfg))
        cfg["train"]["epochs"] = 1
        cfg["optimizer"]["lr"] = 1e-7
        return real(cfg, *a, **kw)

    monkeypatch.setattr(runner, "run", crippled)
    res = agent.watch("models:/old@champion", _table(tmp_path / "s.csv", 300, 2, shift=3.0), store=store)
    assert res.drifted and res.retrained and not res.promoted
    assert res.new_metric <= res.old_metric and res.new_version == 2
    st = ts.store.open(store)
    try:
        assert st.get_aliases("old") == {"champion": 1}
        assert st.get_tags(res.run_id)["watch.decision"] == "not promoted"
    finally:
        st.close()
    assert "not better" in res.reason


def test_drift_without_labels_only_reports(champion, tmp_path):
    d, store = champion
    path = _table(tmp_path / "nolabels.csv", 200, 3, shift=3.0)
    rows = list(csv.reader(open(path)))
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([r[:2] for r in rows])
    res = agent.watch("models:/old/1", path, store=store)
    assert res.drifted and not res.retrained and "no labels" in res.reason


def test_folder_summaries_detect_brighter_images(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)

    def folder(root, lo, hi, n=12):
        paths = []
        for i in range(n):
            p = root / f"{i}.png"
            root.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(lo, hi, (8, 8, 3)).astype(np.uint8)).save(p)
            paths.append(str(p))
        return paths

    a, b, c = folder(tmp_path / "a", 0, 128), folder(tmp_path / "b", 0, 128), folder(tmp_path / "c", 128, 256)
    assert not watcher.folder_drift(a, b, "image")["drifted"]
    rep = watcher.folder_drift(a, c, "image")
    assert rep["drifted"] and "pixel_mean" in [f["name"] for f in rep["features"] if f["drifted"]]
    texts = watcher.folder_features(["a b c", "one two two"], "text")
    assert texts["words"] == [3.0, 3.0] and texts["distinct_words"] == [1.0, 2 / 3]


def test_bad_input(champion, tmp_path):
    d, store = champion
    with pytest.raises(ValueError, match="threshold"):
        agent.watch("old", str(d / "old.csv"), threshold=0, store=store)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        agent.watch("old", str(tmp_path / "nope.csv"), store=store)
    with pytest.raises(ValueError, match="no model version"):
        agent.watch("models:/missing@champion", str(d / "old.csv"), store=store)


def _cli(args):
    from click.testing import CliRunner
    from tessel.cli import main
    return CliRunner().invoke(main, args, prog_name="tessel")


def test_cli_agent_watch(champion, tmp_path):
    d, store = champion
    same = _table(tmp_path / "same.csv", 300, 1)
    r = _cli(["--store", store, "agent", "watch", "models:/old/1", same, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["drifted"] is False and out["retrained"] is False and out["version"] == 1
    shifted = _table(tmp_path / "shifted.csv", 300, 2, shift=3.0)
    r = _cli(["--store", store, "agent", "watch", "models:/old/1", shifted, "--no-retrain", "--fail-on-drift"])
    assert r.exit_code == 1 and "DRIFT" in r.stdout and "retraining is off" in r.stdout


def _images(root, n, bright_offset, seed, size=(12, 12)):
    # cat: dark, dog: bright (learnable); bright_offset moves every pixel (a camera change).
    rng = np.random.default_rng(seed)
    for c, base in (("cat", 40), ("dog", 160)):
        os.makedirs(root / c, exist_ok=True)
        for i in range(n):
            px = np.clip(rng.normal(base + bright_offset, 20, (*size, 3)), 0, 255).astype(np.uint8)
            ts.image.write(str(root / c / f"{seed}-{i}.png"), ts.image.as_image(ts.from_numpy(px)))
    return str(root)


def test_image_folder_drift_retrains_on_old_and_new_files(tmp_path):
    store = str(tmp_path / "store")
    res0 = agent.AutoML(n_trials=1, max_epochs=2, seed=0, verbose=False, store=store, ensemble=False,
                        report=False).fit(_images(tmp_path / "old", 15, 0, 0), task="classification")
    name = res0.model_version["name"]
    same = agent.watch(name, _images(tmp_path / "same", 15, 0, 1), store=store)
    assert not same.drifted and not same.retrained
    res = agent.watch(name, _images(tmp_path / "new", 15, 60, 2), store=store)
    assert res.drifted and "pixel_mean" in [f["name"] for f in res.drift["features"] if f["drifted"]]
    assert res.retrained and res.metric == "accuracy"
    # Held-out: the agent's 6 test files plus 20% of the 30 new ones; training: the old 24 + the other 24 new.
    assert res.n_heldout == 6 + 6
    train_dir = os.path.join(os.path.dirname(res.output_dir), "data", "train")
    assert sum(len(os.listdir(os.path.join(train_dir, c))) for c in ("cat", "dog")) == 24 + 24
    st = ts.store.open(store)
    try:
        champion = st.get_aliases(name)["champion"]
    finally:
        st.close()
    assert champion == (2 if res.new_metric > res.old_metric else 1) and res.promoted == (champion == 2)


def test_text_table_drift_uses_length_and_vocabulary(tmp_path):
    pos, neg = "good great fine nice lovely".split(), "bad awful poor sad grim".split()

    def table(path, n, words_per_row, seed):
        r = np.random.default_rng(seed)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            for i in range(n):
                lab = ("pos", "neg")[i % 2]
                w.writerow([" ".join(r.choice(pos if lab == "pos" else neg, words_per_row)), lab])
        return str(path)

    store = str(tmp_path / "store")
    res0 = agent.AutoML(n_trials=1, max_epochs=2, seed=0, verbose=False, store=store, ensemble=False, report=False,
                        families=["text_bag"]).fit(table(tmp_path / "reviews.csv", 80, 4, 0), target="label")
    assert res0.config["data"]["kind"] == "text"
    same = agent.watch("reviews", table(tmp_path / "same.csv", 60, 4, 1), store=store)
    assert not same.drifted
    res = agent.watch("reviews", table(tmp_path / "long.csv", 60, 30, 2), store=store)
    drifted = [f["name"] for f in res.drift["features"] if f["drifted"]]
    assert "text.words" in drifted and "text.chars" in drifted
    assert res.retrained and res.n_heldout == 16 + 12 and res.metric == "accuracy"


def test_audio_summaries_detect_a_louder_noisier_source(tmp_path):
    import soundfile as sf
    rng = np.random.default_rng(0)

    def clips(name, amp, noise, n=30):
        out = []
        for i in range(n):
            t = np.arange(8000) / 8000
            x = amp * np.sin(2 * np.pi * rng.uniform(200, 400) * t) + noise * rng.normal(size=t.size)
            p = tmp_path / f"{name}{i}.wav"
            sf.write(p, x.astype(np.float32), 8000)
            out.append(str(p))
        return out

    a, b = clips("a", 0.1, 0.001), clips("b", 0.1, 0.001)
    c = clips("c", 0.5, 0.1)
    feats = watcher.folder_features(a[:1], "audio")
    assert feats["seconds"] == [1.0] and len([k for k in feats if k.startswith("logmel_")]) == 8
    assert feats["rms"][0] == pytest.approx(0.1 / np.sqrt(2), rel=0.05)
    assert not watcher.folder_drift(a, b, "audio")["drifted"]
    rep = watcher.folder_drift(a, c, "audio")
    assert rep["drifted"] and "rms" in [f["name"] for f in rep["features"] if f["drifted"]]
