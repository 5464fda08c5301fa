"""Audio class folders (data.kind: audio_folder): log-mel features on the C++ DataLoader, cached per
process, and the training part's waveforms for data.audio.augment."""
import json
import os
from collections import OrderedDict

import tessel as ts

from .common import DataError, _class_folder, _finish, convert_files, subset


def audio_preprocess(cfg):
    a = cfg["data"]["audio"]
    return {"kind": "audio", "sample_rate": a["sample_rate"], "num_samples": int(round(a["duration"] * a["sample_rate"])),
            "n_fft": a["n_fft"], "hop_length": a["hop_length"], "n_mels": a["n_mels"], "top_db": 80.0,
            "mean": 0.0, "std": 1.0}


def audio_mel(pre):
    """The log-mel (dB) transform of the recipe: [..., samples] -> [..., n_mels, frames]."""
    return ts.audio.MelSpectrogram(sample_rate=pre["sample_rate"], n_fft=pre["n_fft"], hop_length=pre["hop_length"],
                                   n_mels=pre["n_mels"], to_db=True, top_db=pre["top_db"])


def audio_transform(pre, orig_rate):
    """The C++ transform for files at orig_rate: resample, pad/cut, log-mel -> [channels, n_mels, frames];
    pre["output"] == "waveform" stops before the log-mel: [channels, samples] (augmentation's input)."""
    steps = []
    if orig_rate != pre["sample_rate"]:
        steps.append(ts.audio.Resample(orig_rate, pre["sample_rate"]))
    steps.append(ts.audio.FixLength(pre["num_samples"]))
    if pre.get("output") != "waveform":
        steps.append(audio_mel(pre))
    return ts.data.Compose(steps)


# Converted audio folders, so that the runs of one process (the agent's trials, its final
# retrain) decode and convert each file once: key = the files (path, size, mtime) and the
# conversion settings; the last few folders are kept.
_AUDIO_CACHE = OrderedDict()
_AUDIO_CACHE_SIZE = 4


def _audio_cache_key(paths, pre, on_error):
    if not all(isinstance(p, str) for p in paths):
        return None
    try:
        stats = tuple((p, st.st_size, st.st_mtime_ns) for p in paths for st in (os.stat(p),))
    except OSError:
        return None  # a missing file: the conversion reports it
    settings = json.dumps({k: v for k, v in pre.items() if k not in ("mean", "std")}, sort_keys=True, default=str)
    return stats, settings, on_error


def audio_features(paths_or_bytes, pre, on_error="raise", num_workers=0):
    """(features [N, 1, n_mels, frames] before mean/std scaling, kept indices, skipped):
    files grouped by sample rate and channel count (read from the headers), each group
    converted on the C++ DataLoader, channels averaged. Files converted before with the
    same settings (unchanged on disk) come from a per-process cache."""
    key = _audio_cache_key(paths_or_bytes, pre, on_error)
    if key is not None and key in _AUDIO_CACHE:
        _AUDIO_CACHE.move_to_end(key)
        x, kept, skipped = _AUDIO_CACHE[key]
        return x, list(kept), [dict(s) for s in skipped]
    out = _audio_features(paths_or_bytes, pre, on_error, num_workers)
    if key is not None:
        _AUDIO_CACHE[key] = (out[0], tuple(out[1]), tuple(dict(s) for s in out[2]))
        while len(_AUDIO_CACHE) > _AUDIO_CACHE_SIZE:
            _AUDIO_CACHE.popitem(last=False)
    return out


def _audio_features(paths_or_bytes, pre, on_error, num_workers):
    groups = {}
    skipped = []
    for i, p in enumerate(paths_or_bytes):
        try:
            info = ts.audio.info(p)
        except Exception as e:  # noqa: BLE001
            name = p if isinstance(p, str) else f"item {i}"
            if on_error == "raise":
                raise DataError(f"audio file {name!r} cannot be read: {e} (set data.on_error: skip to skip bad "
                                f"files)") from None
            skipped.append({"file": str(name), "error": str(e)})
            continue
        # one group per (rate, channels): a group is converted (and stacked) in one pass
        groups.setdefault((info.sample_rate, info.num_channels), []).append(i)
    feats = [None] * len(paths_or_bytes)
    for (sr, _channels), idx in groups.items():
        items = [paths_or_bytes[i] for i in idx]
        if all(isinstance(p, str) for p in items):
            x, kept, sk = convert_files(items, "audio", audio_transform(pre, sr), on_error, num_workers, "audio file")
            skipped += sk
            for j, row in zip(kept, x.mean(1, keepdim=True).unbind(0)):
                feats[idx[j]] = row
        else:  # bytes (the try-a-model page): decoded here, same transform
            tr = audio_transform(pre, sr)
            for j, b in zip(idx, items):
                w, _ = ts.audio.load(b)
                feats[j] = tr(w).mean(0, keepdim=True)
    kept = [i for i, f in enumerate(feats) if f is not None]
    if not kept:
        raise DataError("no audio file could be read" + (f" (first error: {skipped[0]['error']})" if skipped else ""))
    return ts.stack([feats[i] for i in kept]), kept, skipped


def _audio_folder(cfg, path, pre):
    from ...config.schema import AUDIO_EXT
    d = cfg["data"]
    classes, samples = _class_folder(path, AUDIO_EXT, "audio")
    samples = [samples[i] for i in subset(len(samples), d["limit"], d["seed"])]
    x, kept, skipped = audio_features([p for p, _ in samples], pre, d["on_error"], d["num_workers"])
    labels = [classes[samples[i][1]] for i in kept]
    return x, labels, classes, skipped, [samples[i][0] for i in kept]


def _audio_augment_loader(cfg, pre, data, files):
    """The training part's clips as waveforms (decoded once per process, cached like the features),
    augmented afresh every epoch (train/augment_audio.py)."""
    from ..augment_audio import AudioAugmentLoader
    d = cfg["data"]
    tr = getattr(data, "train_index", None)
    files_tr = files if tr is None else [files[i] for i in tr]
    wave, kept, _ = audio_features(files_tr, dict(pre, output="waveform"), d["on_error"], d["num_workers"])
    if len(kept) != len(files_tr):  # these files converted a moment ago
        raise DataError(f"{len(files_tr) - len(kept)} training audio file(s) could not be read again for "
                        f"data.audio.augment")
    return AudioAugmentLoader(wave, data.y_train, pre, d["audio"]["augment"], cfg["train"]["batch_size"],
                              seed=d["seed"])


def load_audio_folder(cfg):
    """data.kind: audio_folder. Features scaled by one mean/std over the training part's log-mel values."""
    d = cfg["data"]
    path, val_path = d["path"], d["val_path"]
    pre = audio_preprocess(cfg)
    x, labels, classes, skipped, files = _audio_folder(cfg, path, pre)
    vx = vlabels = None
    if val_path:
        vx, vlabels, _vc, vsk, _ = _audio_folder(cfg, val_path, pre)
        skipped += vsk
    # The split is redone in _finish (same seed); mean/std come from its training part.
    data = _finish(cfg, "audio", x, labels, pre, vx, vlabels, classes=classes)
    m = float(data.x_train.mean())
    s = float(data.x_train.std()) or 1.0
    pre["mean"], pre["std"] = m, s
    data.x_train = (data.x_train - m) / s
    if data.x_val is not None:
        data.x_val = (data.x_val - m) / s
    if d["audio"]["augment"]["enabled"]:
        data.train_loader = _audio_augment_loader(cfg, pre, data, files)
    data.skipped = skipped
    data.sources = [path] + ([val_path] if val_path else [])
    return data
