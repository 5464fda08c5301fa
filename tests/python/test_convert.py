"""`tessel convert` and ts.data.ShardDataset: round trips against Pillow,
soundfile and tokenizers decoding the same files."""
import hashlib
import json
import os

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from PIL import Image

import tessel as ts
from tessel.cli import main


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    for k in list(os.environ):
        if k.startswith("TESSEL_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="tessel", catch_exceptions=False)


def _images(root, per_class=(4, 3), size=(12, 10), seed=0):
    rng = np.random.default_rng(seed)
    files = []
    for c, n in zip(("cat", "dog"), per_class):
        (root / c).mkdir(parents=True)
        for i in range(n):
            a = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            p = root / c / f"{i}.png"
            Image.fromarray(a).save(p)
            files.append((p, c))
    return files


def test_image_round_trip_matches_pillow(tmp_path):
    files = _images(tmp_path / "src")
    r = run("convert", tmp_path / "src", tmp_path / "out", "--shard-size", 3, "--json")
    assert r.exit_code == 0, r.output
    index = json.loads(r.stdout)
    assert index["kind"] == "image" and index["count"] == 7 and index["classes"] == ["cat", "dog"]
    assert [s["count"] for s in index["shards"]] == [3, 3, 1]
    assert index["fields"]["image"] == {"dtype": "uint8", "shape": [3, 12, 10]}
    assert index["fields"]["label"] == {"dtype": "int64", "shape": []}
    for s in index["shards"]:
        data = (tmp_path / "out" / s["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == s["bytes"]
    assert json.loads((tmp_path / "out" / "index.json").read_text()) == index
    assert "wrote 7 samples in 3 shards" in r.stderr

    ds = ts.data.ShardDataset(tmp_path / "out", verify=True)
    assert len(ds) == 7 and ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    for i, (p, c) in enumerate(files):
        img, label = ds[i]
        want = np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1)
        assert img.dtype == ts.uint8 and list(img.shape) == [3, 12, 10]
        np.testing.assert_array_equal(img.numpy(), want)
        assert label.dim() == 0 and label.item() == ds.class_to_idx[c]
    np.testing.assert_array_equal(ds[-1][0].numpy(), ds[6][0].numpy())
    with pytest.raises(IndexError, match="out of range"):
        ds[7]
    with pytest.raises(TypeError, match="int"):
        ds["0"]


def test_image_resize_matches_pillow_and_hwc_gray(tmp_path):
    _images(tmp_path / "src", per_class=(2, 2), size=(40, 30))
    r = run("convert", tmp_path / "src", tmp_path / "out", "--size", "16x12")
    assert r.exit_code == 0, r.output
    ds = ts.data.ShardDataset(tmp_path / "out")
    files = sorted((tmp_path / "src").glob("*/*.png"))
    for i, p in enumerate(files):
        want = np.asarray(Image.open(p).convert("RGB").resize((12, 16), Image.BILINEAR)).transpose(2, 0, 1)
        got = ds[i][0].numpy()
        assert got.shape == (3, 16, 12)
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    r = run("convert", tmp_path / "src", tmp_path / "gray", "--mode", "gray", "--layout", "hwc")
    assert r.exit_code == 0, r.output
    ds = ts.data.ShardDataset(tmp_path / "gray")
    want = np.asarray(Image.open(files[0]).convert("L"))
    got = ds[0][0].numpy()
    assert got.shape == (40, 30, 1)
    assert np.abs(got[..., 0].astype(int) - want.astype(int)).max() <= 1


def test_dataloader_with_workers_and_shuffle(tmp_path):
    files = _images(tmp_path / "src", per_class=(5, 6))
    assert run("convert", tmp_path / "src", tmp_path / "out", "--shard-size", 4).exit_code == 0
    ds = ts.data.ShardDataset(tmp_path / "out")
    want = {tuple(np.asarray(Image.open(p)).transpose(2, 0, 1).ravel()[:16]): c for p, c in files}
    seen = []
    for images, labels in ts.data.DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, seed=3):
        assert list(images.shape)[1:] == [3, 12, 10] and images.dtype == ts.uint8
        for img, lab in zip(images.numpy(), labels.tolist()):
            key = tuple(img.ravel()[:16])
            assert ds.classes[lab] == want[key]
            seen.append(key)
    assert sorted(seen) == sorted(want)


def test_transforms_apply(tmp_path):
    _images(tmp_path / "src", per_class=(1, 1))
    assert run("convert", tmp_path / "src", tmp_path / "out").exit_code == 0
    ds = ts.data.ShardDataset(tmp_path / "out", transform=lambda x: x.float() / 255,
                              target_transform=lambda y: y.item() + 10)
    x, y = ds[1]
    assert x.dtype == ts.float32 and float(x.max()) <= 1.0 and y == 11


def test_corrupt_file_raise_leaves_nothing(tmp_path):
    _images(tmp_path / "src", per_class=(3, 3))
    bad = tmp_path / "src" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    r = run("convert", tmp_path / "src", tmp_path / "out", "--shard-size", 2)
    assert r.exit_code == 1
    assert "broken.png" in r.stderr
    # Shards written before the bad file are removed; no index claims a dataset.
    assert not (tmp_path / "out" / "index.json").exists()
    assert list((tmp_path / "out").glob("shard-*")) == []
    with pytest.raises(FileNotFoundError, match="index.json"):
        ts.data.ShardDataset(tmp_path / "out")


def test_corrupt_file_skip_is_listed(tmp_path):
    _images(tmp_path / "src", per_class=(3, 3))
    (tmp_path / "src" / "cat" / "zz.jpg").write_bytes(b"garbage")
    r = run("convert", tmp_path / "src", tmp_path / "out", "--on-error", "skip", "--json")
    assert r.exit_code == 0, r.output
    index = json.loads(r.stdout)
    assert index["count"] == 6
    (skipped,) = index["metadata"]["skipped"]
    assert skipped["source"].endswith("zz.jpg") and "zz.jpg" in skipped["error"]
    assert "skipped" in r.stderr and "zz.jpg" in r.stderr


def test_mixed_sizes_need_size(tmp_path):
    _images(tmp_path / "src", per_class=(2, 0), size=(8, 8))
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(tmp_path / "src" / "dog" / "odd.png")
    r = run("convert", tmp_path / "src", tmp_path / "out")
    assert r.exit_code == 1 and "odd.png" in r.stderr and "same shape" in r.stderr
    assert run("convert", tmp_path / "src", tmp_path / "out", "--size", 8).exit_code == 0


def test_no_classes_and_existing_output(tmp_path):
    (tmp_path / "empty").mkdir()
    r = run("convert", tmp_path / "empty", tmp_path / "out", "--kind", "image")
    assert r.exit_code == 1 and "class folder" in r.stderr
    _images(tmp_path / "src", per_class=(1, 1))
    assert run("convert", tmp_path / "src", tmp_path / "out").exit_code == 0
    r = run("convert", tmp_path / "src", tmp_path / "out")
    assert r.exit_code == 1 and "--overwrite" in r.stderr
    r = run("convert", tmp_path / "src", tmp_path / "out", "--overwrite", "--size", 4)
    assert r.exit_code == 0
    assert list(ts.data.ShardDataset(tmp_path / "out")[0][0].shape) == [3, 4, 4]
    r = run("convert", tmp_path / "src", tmp_path / "o2", "--size", "0x3")
    assert r.exit_code == 2 and "--size" in r.stderr


def _wavs(root, rate=8000, lengths=(800, 800, 800), channels=1, seed=0):
    rng = np.random.default_rng(seed)
    files = []
    for i, n in enumerate(lengths):
        c = ("no", "yes")[i % 2]
        (root / c).mkdir(parents=True, exist_ok=True)
        a = rng.uniform(-0.8, 0.8, (n, channels)).astype(np.float32)
        p = root / c / f"{i}.wav"
        sf.write(p, a, rate, subtype="PCM_16")
        files.append((p, c))
    return sorted(files, key=lambda f: (f[1], str(f[0])))


def test_audio_round_trip_matches_soundfile(tmp_path):
    files = _wavs(tmp_path / "src")
    r = run("convert", tmp_path / "src", tmp_path / "out", "--json")
    assert r.exit_code == 0, r.output
    index = json.loads(r.stdout)
    assert index["kind"] == "audio" and index["fields"]["audio"] == {"dtype": "float32", "shape": [1, 800]}
    ds = ts.data.ShardDataset(tmp_path / "out")
    for i, (p, c) in enumerate(files):
        want, _ = sf.read(p, dtype="float32")
        wav, label = ds[i]
        np.testing.assert_allclose(wav.numpy()[0], want, atol=1e-6)
        assert ds.classes[label.item()] == c


def test_audio_stereo_duration_and_logmel(tmp_path):
    files = _wavs(tmp_path / "src", lengths=(700, 900), channels=2)
    r = run("convert", tmp_path / "src", tmp_path / "out", "--keep-channels", "--duration", "0.1")
    assert r.exit_code == 0, r.output
    ds = ts.data.ShardDataset(tmp_path / "out")
    for i, (p, _) in enumerate(files):
        want, _ = sf.read(p, dtype="float32")
        want = want.T
        got = ds[i][0].numpy()
        assert got.shape == (2, 800)
        n = min(800, want.shape[1])
        np.testing.assert_allclose(got[:, :n], want[:, :n], atol=1e-6)
        assert (got[:, n:] == 0).all()
    # Mono average, resampled to 4 kHz, log-mel: the same as tessel's functions on soundfile's samples.
    r = run("convert", tmp_path / "src", tmp_path / "mel", "--duration", "0.1", "--sample-rate", 4000,
            "--features", "log-mel", "--n-mels", 16, "--n-fft", 128, "--hop-length", 64)
    assert r.exit_code == 0, r.output
    ds = ts.data.ShardDataset(tmp_path / "mel")
    assert ds.fields == ["log_mel", "label"]
    want, sr = sf.read(files[0][0], dtype="float32")
    mono = ts.from_numpy(np.ascontiguousarray(want.mean(axis=1, keepdims=True).T.astype(np.float32)))
    mono = ts.audio.resample(mono, sr, 4000)[..., :400]
    mono = ts.nn.functional.pad(mono, (0, 400 - mono.shape[-1]))  # 700 samples at 8 kHz: 350 at 4 kHz, padded
    ref = ts.audio.power_to_db(ts.audio.mel_spectrogram(mono, sample_rate=4000, n_mels=16, n_fft=128, hop_length=64))
    got = ds[0][0]
    assert list(got.shape) == list(ref.shape)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-3)


def test_audio_corrupt_names_file(tmp_path):
    _wavs(tmp_path / "src")
    (tmp_path / "src" / "yes" / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    r = run("convert", tmp_path / "src", tmp_path / "out")
    assert r.exit_code == 1 and "bad.wav" in r.stderr
    assert not (tmp_path / "out" / "index.json").exists()


def test_text_code_points_csv_and_jsonl(tmp_path):
    rows = [("héllo world", "pos"), ("bad", "neg"), ("a much longer sentence here", "pos")]
    csv_path = tmp_path / "t.csv"
    with open(csv_path, "w", encoding="utf-8") as f:
        f.write("text,label\n")
        for t, lab in rows:
            f.write(f'"{t}",{lab}\n')
    jl = tmp_path / "t.jsonl"
    jl.write_text("".join(json.dumps({"body": t, "y": lab}) + "\n" for t, lab in rows), encoding="utf-8")
    for src, extra in ((csv_path, []), (jl, ["--text-column", "body", "--label-column", "y"])):
        out = tmp_path / ("o" + src.suffix)
        r = run("convert", src, out, "--max-length", 8, *extra)
        assert r.exit_code == 0, r.output
        ds = ts.data.ShardDataset(out)
        assert ds.classes == ["neg", "pos"] and ds.fields == ["input_ids", "attention_mask", "label"]
        for i, (t, lab) in enumerate(rows):
            ids, mask, label = ds[i]
            want = [ord(ch) for ch in t][:8]
            assert ids.tolist() == want + [0] * (8 - len(want))
            assert mask.tolist() == [1] * len(want) + [0] * (8 - len(want))
            assert ds.classes[label.item()] == lab


def test_text_wordpiece_matches_tokenizers(tmp_path):
    from tokenizers import BertWordPieceTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "##s", "dog", "a"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    texts = ["The cat sat on the mat", "dogs", "A cat sat on a dog on a mat on the mat"]
    labels = [2, 10, 2]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n"
                                              for t, y in zip(texts, labels)))
    r = run("convert", tmp_path / "t.jsonl", tmp_path / "out", "--vocab", tmp_path / "vocab.txt",
            "--max-length", 10)
    assert r.exit_code == 0, r.output
    ref = BertWordPieceTokenizer(str(tmp_path / "vocab.txt"), lowercase=True)
    ref.enable_truncation(10)
    ref.enable_padding(length=10)
    ds = ts.data.ShardDataset(tmp_path / "out")
    assert ds.classes == ["2", "10"]  # integer labels in numeric order
    for i, t in enumerate(texts):
        enc = ref.encode(t)
        ids, mask, label = ds[i]
        assert ids.tolist() == enc.ids and mask.tolist() == enc.attention_mask
        assert ds.classes[label.item()] == str(labels[i])


def test_text_tokenizer_json_matches_tokenizers(tmp_path):
    from tokenizers import BertWordPieceTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "very", "##s", "not"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertWordPieceTokenizer(str(tmp_path / "vocab.txt")).save(str(tmp_path / "tokenizer.json"))
    texts = ["very good movies", "not good", "bad bad bad bad bad bad bad"]
    with open(tmp_path / "t.tsv", "w") as f:
        f.write("label\ttext\n" + "".join(f"{'pos' if 'good' in t else 'neg'}\t{t}\n" for t in texts))
    r = run("convert", tmp_path / "t.tsv", tmp_path / "out", "--tokenizer", tmp_path / "tokenizer.json",
            "--max-length", 6)
    assert r.exit_code == 0, r.output
    from tokenizers import Tokenizer
    ref = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    ref.enable_truncation(6)
    ref.enable_padding(length=6)
    ds = ts.data.ShardDataset(tmp_path / "out")
    for i, t in enumerate(texts):
        enc = ref.encode(t)
        ids, mask, _ = ds[i]
        assert ids.tolist() == enc.ids and mask.tolist() == enc.attention_mask


def test_text_bad_rows_name_the_line(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"text": "ok", "label": "a"}\n{"text": oops}\n')
    r = run("convert", p, tmp_path / "out")
    assert r.exit_code == 1 and "t.jsonl:2" in r.stderr and "JSON" in r.stderr
    p.write_text('{"text": "ok", "label": "a"}\n{"label": "b"}\n{"text": "fine", "label": "b"}\n')
    r = run("convert", p, tmp_path / "out", "--on-error", "skip", "--json")
    assert r.exit_code == 0, r.output
    index = json.loads(r.stdout)
    assert index["count"] == 2 and index["metadata"]["skipped"][0]["source"].endswith("t.jsonl:2")
    c = tmp_path / "t.csv"
    c.write_text("body,label\nx,1\n")
    r = run("convert", c, tmp_path / "o3")
    assert r.exit_code == 1 and "no column 'text'" in r.stderr


def test_shard_dataset_detects_damage(tmp_path):
    _images(tmp_path / "src", per_class=(2, 2))
    assert run("convert", tmp_path / "src", tmp_path / "out", "--shard-size", 2).exit_code == 0
    shard = tmp_path / "out" / "shard-00001.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    ds = ts.data.ShardDataset(tmp_path / "out")
    ds[0]  # the intact shard reads
    with pytest.raises(ValueError, match="shard-00001.*SHA-256"):
        ds.verify()
    with pytest.raises(ValueError, match="SHA-256"):
        ts.data.ShardDataset(tmp_path / "out", verify=True)[2]
    shard.write_bytes(bytes(data[:-10]))
    with pytest.raises(ValueError, match="truncated"):
        ts.data.ShardDataset(tmp_path / "out")[3]
    os.remove(shard)
    with pytest.raises(FileNotFoundError, match="missing"):
        ts.data.ShardDataset(tmp_path / "out")[3]
    (tmp_path / "out" / "index.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not a tessel-shards index"):
        ts.data.ShardDataset(tmp_path / "out")


def test_shard_writer_python_api(tmp_path):
    with ts.data.ShardWriter(tmp_path / "w", ["x", "y"], shard_size=2, kind="custom") as w:
        for i in range(5):
            w.add((ts.full((2, 3), float(i)), ts.tensor(i)))
    ds = ts.data.ShardDataset(tmp_path / "w")
    assert len(ds) == 5 and ds.classes is None
    x, y = ds[4]
    assert x.tolist() == [[4.0] * 3] * 2 and y.item() == 4
    with pytest.raises(ValueError, match="field 'x'"):
        with ts.data.ShardWriter(tmp_path / "w2", ["x"]) as w:
            w.add((ts.zeros(2),))
            w.add((ts.zeros(3),), source="third.bin")
    assert not os.path.exists(tmp_path / "w2" / "index.json")
    with pytest.raises(ValueError, match="shard_size"):
        ts.data.ShardWriter(tmp_path / "w3", ["x"], shard_size=0)
    with pytest.raises(ValueError, match="no sample"):
        ts.data.ShardWriter(tmp_path / "w4", ["x"]).close()


def test_help():
    r = run("convert", "--help")
    assert r.exit_code == 0 and "--shard-size" in r.output and "ShardDataset" in r.output
