"""ts.data: datasets, collation and loaders (C++ worker threads for FileDataset)."""
import os

import numpy as np
import pytest
from PIL import Image

import tessel as ts
from tessel.data import DataLoader, FileDataset, TensorDataset, default_collate


def as_np(batch):
    if isinstance(batch, (tuple, list)):
        return [as_np(b) for b in batch]
    return batch.numpy()


# ---- Python datasets ----

def test_tensor_dataset_batches_in_order_with_a_short_last_batch():
    x = ts.arange(10).reshape(5, 2).float()
    y = ts.arange(5)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=2))
    assert [tuple(b[0].shape) for b in batches] == [(2, 2), (2, 2), (1, 2)]
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), np.arange(5))
    assert len(DataLoader(TensorDataset(x, y), batch_size=2)) == 3
    assert len(DataLoader(TensorDataset(x, y), batch_size=2, drop_last=True)) == 2
    assert len(list(DataLoader(TensorDataset(x, y), batch_size=2, drop_last=True))) == 2


def test_shuffle_is_a_permutation_reproducible_from_the_seed_and_new_each_epoch():
    ds = TensorDataset(ts.arange(50))
    a = DataLoader(ds, batch_size=7, shuffle=True, seed=3)
    e0 = np.concatenate([b[0].numpy() for b in a])
    e1 = np.concatenate([b[0].numpy() for b in a])
    assert sorted(e0.tolist()) == list(range(50)) and sorted(e1.tolist()) == list(range(50))
    assert e0.tolist() != list(range(50)) and e0.tolist() != e1.tolist()
    b = DataLoader(ds, batch_size=7, shuffle=True, seed=3)
    assert np.concatenate([t[0].numpy() for t in b]).tolist() == e0.tolist()
    c = DataLoader(ds, batch_size=7, shuffle=True, seed=4)
    assert np.concatenate([t[0].numpy() for t in c]).tolist() != e0.tolist()


def test_python_prefetch_threads_give_the_same_batches():
    ds = TensorDataset(ts.randn(37, 3), ts.arange(37))
    ref = [as_np(b) for b in DataLoader(ds, batch_size=5, shuffle=True, seed=1)]
    got = [as_np(b) for b in DataLoader(ds, batch_size=5, shuffle=True, seed=1, num_workers=3, prefetch=2)]
    assert len(ref) == len(got)
    for r, g in zip(ref, got):
        for rr, gg in zip(r, g):
            np.testing.assert_array_equal(rr, gg)


def test_default_collate_handles_dicts_tuples_numbers_and_arrays():
    items = [{"x": ts.ones(2) * i, "y": i, "w": 0.5 * i, "name": f"n{i}", "a": np.full(3, i)} for i in range(4)]
    out = default_collate(items)
    assert tuple(out["x"].shape) == (4, 2) and out["y"].dtype == ts.int64 and out["w"].dtype == ts.float64  # PyTorch: Python floats -> float64
    assert out["name"] == ["n0", "n1", "n2", "n3"]
    np.testing.assert_array_equal(out["a"].numpy()[:, 0], np.arange(4))
    with pytest.raises(ValueError, match=r"\[data.default_collate\] cannot stack tensors of shapes"):
        default_collate([ts.ones(2), ts.ones(3)])


class Flaky(ts.data.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 4:
            raise KeyError("no such record")
        return ts.tensor([float(i)])


@pytest.mark.parametrize("workers", [0, 2])
def test_a_failing_python_item_is_named(workers):
    with pytest.raises(KeyError, match=r"item 4 \(batch 2\) failed"):
        list(DataLoader(Flaky(), batch_size=2, num_workers=workers))


def test_bad_loader_arguments():
    ds = TensorDataset(ts.arange(3))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="rows"):
        TensorDataset(ts.arange(3), ts.arange(4))


# ---- FileDataset: decoding and transforms on C++ threads ----

needs_sndfile = pytest.mark.skipif(not ts.audio.available, reason="tessel built without libsndfile")


@pytest.fixture
def wav_files(tmp_path):
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(11):
        n = 4000 + 500 * i  # different lengths: FixLength makes them batchable
        x = (0.5 * np.sin(2 * np.pi * (200 + 50 * i) * np.arange(n) / 16000)
             + 0.01 * rng.standard_normal(n)).astype(np.float32)
        p = tmp_path / f"clip{i}.wav"
        ts.audio.save(p, ts.tensor(x[None]), 16000)
        paths.append(str(p))
        labels.append(i % 3)
    return paths, labels


@needs_sndfile
@pytest.mark.parametrize("workers", [0, 1, 2, 3])
def test_audio_files_decode_and_transform_identically_on_any_thread_count(wav_files, workers):
    paths, labels = wav_files
    t = ts.audio.FixLength(6000, random=True)  # per-item randomness from (seed, epoch, index)
    ds = FileDataset(paths, decode="audio", transform=t, labels=labels)
    ref = [as_np(b) for b in DataLoader(ds, batch_size=4, shuffle=True, seed=7, num_workers=0)]
    got = [as_np(b) for b in DataLoader(ds, batch_size=4, shuffle=True, seed=7, num_workers=workers, prefetch=1)]
    assert [r[0].shape for r in ref] == [(4, 1, 6000), (4, 1, 6000), (3, 1, 6000)]
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(r[0], g[0])
        np.testing.assert_array_equal(r[1], g[1])
    order = _order(len(paths), batch_size=4, seed=7)  # a Python dataset shuffles identically
    np.testing.assert_array_equal(np.concatenate([r[1] for r in ref]), np.array(labels)[order])


@needs_sndfile
def test_audio_items_match_a_direct_load(wav_files):
    paths, _ = wav_files
    ds = FileDataset(paths, decode="audio")
    for i in (0, 5, 10):
        np.testing.assert_array_equal(ds[i].numpy(), ts.audio.load(paths[i])[0].numpy())
    mel = ts.audio.MelSpectrogram(to_db=True, n_mels=40)
    batch = next(iter(DataLoader(FileDataset(paths[:3], "audio", ts.audio.FixLength(4000)), batch_size=3)))
    feats = next(iter(DataLoader(FileDataset(paths[:3], "audio", _Chain(ts.audio.FixLength(4000), mel)),
                                 batch_size=3)))
    for k in range(3):
        np.testing.assert_allclose(feats[k].numpy(), mel(batch[k], seed=0).numpy(), rtol=1e-5, atol=1e-4)


def _order(n, batch_size, seed):
    """The first epoch's order of a shuffled loader over n items."""
    loader = DataLoader(TensorDataset(ts.arange(n)), batch_size=batch_size, shuffle=True, seed=seed)
    return np.concatenate([b[0].numpy() for b in loader])


def _Chain(a, b):
    return ts.data.Compose([a, b])


@needs_sndfile
def test_loader_errors_name_the_item_and_file(wav_files, tmp_path):
    paths, _ = wav_files
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    ds = FileDataset(paths[:3] + [str(bad)] + paths[3:5], decode="audio", transform=ts.audio.FixLength(4000))
    for workers in (0, 2):
        with pytest.raises(ValueError, match=r"\[data.DataLoader\] item 3 \(file '.*corrupt.wav'\) failed: "
                                             r"\[audio.load\]"):
            list(DataLoader(ds, batch_size=2, num_workers=workers))
    missing = FileDataset([paths[0], str(tmp_path / "nope.wav")], decode="audio")
    with pytest.raises(FileNotFoundError, match=r"item 1 \(file '.*nope.wav'\)"):
        list(DataLoader(missing, batch_size=1, num_workers=2))
    ragged = FileDataset(paths[:2], decode="audio")
    with pytest.raises(ValueError, match=r"\[data.DataLoader\] batch 0 .*field 0 of example 1 has shape"):
        list(DataLoader(ragged, batch_size=2, num_workers=1))


def test_file_dataset_arguments(tmp_path):
    with pytest.raises(ValueError, match=r'unknown decoder "video" \(registered: .*audio.*bytes'):
        FileDataset(["a"], decode="video")
    assert {"audio", "bytes"} <= set(ts.data.decoders())
    with pytest.raises(ValueError, match="labels for"):
        FileDataset(["a", "b"], decode="bytes", labels=[1])


def test_bytes_decoding(tmp_path):
    p = tmp_path / "blob.bin"
    p.write_bytes(bytes(range(7)))
    ds = FileDataset([str(p)] * 3, decode="bytes", labels=[5, 6, 7])
    x, y = next(iter(DataLoader(ds, batch_size=3, num_workers=2)))
    assert x.dtype == ts.uint8 and x.numpy().tolist() == [list(range(7))] * 3 and y.numpy().tolist() == [5, 6, 7]


def test_loader_can_stop_early_and_restart(tmp_path):
    p = tmp_path / "b.bin"
    p.write_bytes(b"abc")
    loader = DataLoader(FileDataset([str(p)] * 40, decode="bytes"), batch_size=2, num_workers=2, prefetch=4)
    it = iter(loader)
    next(it)
    next(it)
    assert len(list(loader)) == 20  # a new epoch while the old one's workers still hold batches


needs_opencv = pytest.mark.skipif(not ts.image.available(), reason="tessel built without OpenCV")


@needs_opencv
@pytest.mark.parametrize("workers", [1, 2])
def test_images_decode_and_augment_on_worker_threads(tmp_path, workers):
    import tessel.image.transforms as T
    rng = np.random.default_rng(1)
    paths = []
    for i in range(9):
        img = rng.integers(0, 255, (40 + 3 * i, 50 + 2 * i, 3), dtype=np.uint8)
        p = tmp_path / f"img{i}.png"
        Image.fromarray(img).save(p)  # written by the reference (Pillow)
        paths.append(str(p))
    t = ts.data.Compose([T.RandomResizedCrop(24), T.RandomHorizontalFlip(), T.ToTensor()])
    ds = FileDataset(paths, decode="image", transform=t, labels=list(range(9)))
    ref = [as_np(b) for b in DataLoader(ds, batch_size=4, shuffle=True, seed=2, num_workers=0)]
    got = [as_np(b) for b in DataLoader(ds, batch_size=4, shuffle=True, seed=2, num_workers=workers)]
    assert [r[0].shape for r in ref] == [(4, 3, 24, 24), (4, 3, 24, 24), (1, 3, 24, 24)]
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(r[0], g[0])
        np.testing.assert_array_equal(r[1], g[1])
    first = ref[0][0][0]
    assert first.dtype == np.float32 and 0.0 <= first.min() and first.max() <= 1.0
    order = _order(9, batch_size=4, seed=2)
    np.testing.assert_array_equal(ref[0][1], order[:4])
    # Without a transform an item is the decoded file.
    plain = FileDataset(paths, decode="image")
    np.testing.assert_array_equal(plain[order[0]].numpy(), np.asarray(Image.open(paths[order[0]]).convert("RGB")))


@needs_opencv
def test_a_corrupt_image_is_named(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ds = FileDataset([str(good), str(bad)], decode="image")
    with pytest.raises(ValueError, match=r"item 1 \(file '.*bad.jpg'\) failed: \[image"):
        list(DataLoader(ds, batch_size=1, num_workers=2))


needs_icu = pytest.mark.skipif(not ts.text.available, reason="tessel built without ICU")


@needs_icu
@pytest.mark.parametrize("workers", [0, 2])
def test_text_files_tokenize_on_worker_threads(tmp_path, workers):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "##s", "a", ",", "."]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = ts.text.Tokenizer.from_wordpiece_vocab(str(tmp_path / "vocab.txt"))
    texts = ["The cat sat.", "A cat, the mats", "the the the the the the the the the the the", "dog"]
    paths = []
    for i, t in enumerate(texts):
        p = tmp_path / f"t{i}.txt"
        p.write_text(t, encoding="utf-8")
        paths.append(str(p))
    ds = FileDataset(paths, decode="text", transform=ts.text.Tokenize(tok, max_length=8), labels=[0, 1, 0, 1])
    x, y = next(iter(DataLoader(ds, batch_size=4, num_workers=workers)))
    assert x.shape == (4, 2, 8) and x.dtype == ts.int64 and y.numpy().tolist() == [0, 1, 0, 1]
    ref = tok(texts, padding="max_length", truncation=True, max_length=8)
    np.testing.assert_array_equal(x.numpy()[:, 0], ref["input_ids"].numpy())
    np.testing.assert_array_equal(x.numpy()[:, 1], ref["attention_mask"].numpy())
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"item 0 \(file '.*latin1.txt'\) failed: \[text.decode_utf8\]"):
        list(DataLoader(FileDataset([str(bad)], decode="text"), batch_size=1, num_workers=workers))
