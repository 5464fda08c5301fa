"""Training-time audio augmentation (data.audio.augment, tessel/train/augment_audio.py):
shapes and dtypes, determinism given the seed, the clean features at evaluation,
mask bounds, the SNR of the mixed noise, the config key's validation and the
agent's plan switching it on."""
import math

import numpy as np
import pytest

import tessel as ts
from tessel.agent import plan
from tessel.config import ConfigError
from tessel.config.schema import resolve_config
from tessel.train import augment_audio as A
from tessel.train import sources as S

SR = 8000
AUDIO = {"sample_rate": SR, "duration": 0.25, "n_mels": 16, "n_fft": 256, "hop_length": 80}


def _wavs(root, n=4, seconds=0.2):
    """Two classes of tones (low/high pitch), n files each, different lengths and phases."""
    rng = np.random.default_rng(1)
    for c, f0 in (("low", 300.0), ("high", 1800.0)):
        (root / c).mkdir(parents=True)
        for i in range(n):
            t = np.arange(int(SR * seconds * (0.6 + 0.1 * i))) / SR
            x = 0.5 * np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6)) + 0.01 * rng.standard_normal(t.size)
            ts.audio.save(str(root / c / f"{c}{i}.wav"), ts.from_numpy(x[None].astype(np.float32)), SR)
    return str(root)


def _cfg(path, augment=None, seed=0, **train):
    audio = dict(AUDIO, augment=augment) if augment is not None else dict(AUDIO)
    return resolve_config({"experiment": {"track": False},
                           "data": {"kind": "audio_folder", "path": path, "seed": seed, "val_split": 0.25,
                                    "audio": audio},
                           "model": {"name": "audio_cnn", "channels": [4, 8]},
                           "train": dict({"batch_size": 3, "epochs": 1, "verbose": False}, **train)})


def _batches(loader):
    return [(x.numpy().copy(), y.numpy().copy()) for x, y in loader]


def test_loader_shapes_dtypes_and_clean_evaluation(tmp_path):
    path = _wavs(tmp_path / "w")
    clean = S.load_data(_cfg(path))
    assert clean.train_loader is None  # off by default
    d = S.load_data(_cfg(path, True))
    # Validation and the training tensors (evaluation, final metrics) are the clean features.
    np.testing.assert_array_equal(d.x_train.numpy(), clean.x_train.numpy())
    np.testing.assert_array_equal(d.x_val.numpy(), clean.x_val.numpy())
    assert d.preprocess == clean.preprocess and "output" not in d.preprocess
    n = d.x_train.shape[0]
    assert len(d.train_loader) == math.ceil(n / 3)
    got = _batches(d.train_loader)
    assert sum(len(y) for _, y in got) == n and sorted(np.concatenate([y for _, y in got])) == \
        sorted(d.y_train.numpy())
    for x, y in got:
        assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape[1:] == tuple(d.x_train.shape[1:])
        assert np.isfinite(x).all()


def test_nothing_on_gives_the_clean_features(tmp_path):
    """No shift, noise or masks: the loader's log-mel of the cached waveforms is the clean features."""
    off = {"enabled": True, "shift": 0.0, "noise": 0.0, "freq_masks": 0, "time_masks": 0}
    d = S.load_data(_cfg(_wavs(tmp_path / "w"), off))
    L = d.train_loader
    idx = np.arange(d.x_train.shape[0])
    np.testing.assert_allclose(L.batch(idx, np.random.default_rng(0)).numpy(), d.x_train.numpy(), atol=1e-5)


def test_same_seed_same_batches(tmp_path):
    path = _wavs(tmp_path / "w")
    a, b, c = (S.load_data(_cfg(path, True, seed=s)).train_loader for s in (3, 3, 4))
    ea, eb, ec = _batches(a), _batches(b), _batches(c)
    for (xa, ya), (xb, yb) in zip(ea, eb):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(ea, ec))
    # A new epoch draws new augmentations (and order).
    assert any(not np.array_equal(x1, x2) for (x1, _), (x2, _) in zip(ea, _batches(a)))


def test_shift_rotates_each_clip_within_bounds():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 1, 50)).astype(np.float32)
    out = A.shift(w, 7, np.random.default_rng(5))
    ks = np.random.default_rng(5).integers(-7, 8, size=6)
    assert ks.min() < 0 < ks.max()  # both directions are exercised
    for b, k in enumerate(ks):
        ref = np.concatenate([w[b, 0, 50 - k:], w[b, 0, :50 - k]]) if k >= 0 else \
            np.concatenate([w[b, 0, -k:], w[b, 0, :-k]])
        np.testing.assert_array_equal(out[b, 0], ref)


def test_noise_at_the_drawn_snr():
    rng = np.random.default_rng(0)
    t = np.arange(4000) / SR
    w = np.stack([a * np.sin(2 * np.pi * 440 * t) for a in (0.5, 0.05, 0.0)])[:, None].astype(np.float32)
    bank = A.noise_bank(4, 4000, rng)
    np.testing.assert_allclose(np.sqrt((bank.astype(np.float64) ** 2).mean(1)), 1.0, rtol=1e-4)
    out = A.mix_noise(w, 1.0, (10.0, 10.0), rng, bank)
    noise = out.astype(np.float64) - w
    for b in range(2):
        snr = 20 * np.log10(np.sqrt((w[b].astype(np.float64) ** 2).mean()) / np.sqrt((noise[b] ** 2).mean()))
        assert abs(snr - 10.0) < 0.01
    np.testing.assert_array_equal(out[2], 0.0)  # a silent clip stays silent
    np.testing.assert_array_equal(A.mix_noise(w, 0.0, (0.0, 5.0), rng, bank), w)


def test_colored_noise_slopes():
    rng = np.random.default_rng(0)
    x = A.colored_noise((2, 8192), rng, [0.0, 2.0])
    p = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    low, high = p[:, 10:100].mean(1), p[:, 3000:4000].mean(1)
    assert 0.5 < low[0] / high[0] < 2.0        # white: flat
    assert low[1] / high[1] > 100.0             # brown: power falls with frequency


def test_masks_are_bands_within_bounds():
    x = ts.ones([40, 1, 16, 30])
    y = A.spec_masks(x, 1, 5, 1, 20, np.random.default_rng(2)).numpy()[:, 0]
    assert set(np.unique(y)) <= {0.0, 1.0}
    widths = []
    for clip in y:
        zero = clip == 0
        rows = np.flatnonzero(zero.all(1))      # masked mel bands
        cols = np.flatnonzero(zero.all(0))      # masked frames
        # every zero is in a masked band or frame: nothing outside the two masks changed
        assert not (zero & ~(np.isin(np.arange(16), rows)[:, None] | np.isin(np.arange(30), cols)[None])).any()
        for idx, limit in ((rows, 5), (cols, int(A.TIME_SHARE * 30))):
            if idx.size:
                assert idx.size <= limit and idx[-1] - idx[0] == idx.size - 1  # one contiguous band
        widths.append(rows.size)
    assert max(widths) > 0 and len(set(widths)) > 1  # masks drawn per clip


def test_trains_with_augmentation(tmp_path):
    r = ts.train.run(dict(_cfg(_wavs(tmp_path / "w"), True, epochs=2), output={"dir": str(tmp_path / "out"),
                                                                               "export_onnx": False}))
    assert r.config["data"]["audio"]["augment"]["enabled"] is True
    assert isinstance(r.data.train_loader, A.AudioAugmentLoader) and r.data.train_loader.epoch == 2  # one pass an epoch
    assert len(r.history.history["loss"]) == 2 and all(math.isfinite(v) for v in r.history.history["loss"])


def test_config_key_validated(tmp_path):
    path = _wavs(tmp_path / "w")
    on = _cfg(path, True)["data"]["audio"]["augment"]
    assert on["enabled"] is True and on["snr"] == [10.0, 30.0]           # `augment: true` shorthand
    assert _cfg(path, {"snr": [5, 10]})["data"]["audio"]["augment"]["enabled"] is True
    assert _cfg(path)["data"]["audio"]["augment"]["enabled"] is False
    bad = [({"snr": [20, 5]}, "data.audio.augment.snr: expected [low, high]"),
           ({"snr": [1, 2, 3]}, "data.audio.augment.snr"),
           ({"noise": 1.5}, "data.audio.augment.noise"),
           ({"freq_width": 17}, "data.audio.augment.freq_width: 17 bands is more than data.audio.n_mels (16)"),
           ({"shift": 0.25}, "data.audio.augment.shift: 0.25 s is not shorter than data.audio.duration"),
           ({"snrr": [0, 1]}, "data.audio.augment.snrr: unknown key (did you mean 'snr'?)"),
           ("yes", "data.audio.augment: expected a mapping")]
    for aug, msg in bad:
        with pytest.raises(ConfigError) as e:
            _cfg(path, aug)
        assert msg in str(e.value), (aug, str(e.value))
    # Disabled, the widths are not held against the clip.
    assert _cfg(path, {"enabled": False, "freq_width": 17})["data"]["audio"]["augment"]["freq_width"] == 17


def test_agent_plan_searches_it_for_audio(tmp_path):
    assert plan.defaults("audio_cnn")["audio_cnn.augment"] is True  # searched; on in the first trial (20 epochs)
    p = plan.defaults("audio_cnn")
    base = {"data": {"kind": "audio_folder", "path": _wavs(tmp_path / "w"), "audio": {"duration": 0.2}}}
    cfg = plan.to_config(base, p, 2)
    assert cfg["data"]["audio"]["augment"] == {"enabled": True, "shift": 0.04}  # a fifth of a short clip
    long = plan.to_config({"data": {"kind": "audio_folder", "audio": {"duration": 1.6}}}, p, 2)
    assert long["data"]["audio"]["augment"]["shift"] == 0.05
    assert resolve_config(cfg)["data"]["audio"]["augment"]["enabled"] is True
    off = plan.to_config(base, dict(p, **{"audio_cnn.augment": False}), 2)
    assert off["data"]["audio"]["augment"] == {"enabled": False}
    assert "augment" not in base["data"]["audio"]  # the base is not changed
    assert "audio" not in plan.to_config({"data": {"kind": "tabular"}}, plan.defaults("mlp"), 1)["data"]
