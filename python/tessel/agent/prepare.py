"""Held-out split and conversion into data that `tessel train` reads.

The agent keeps a test split that no trial sees: tables become train.csv and
test.csv, class folders become train/ and test/ trees of links to the files
(text files become a text CSV), arrays become train.npz and test.npz. The
`data` section of the train config then points at the training part. Tables
and arrays also get all.csv / all.npz (both parts), which the refit trains on
once the final model has been evaluated (tessel.agent.refit).
"""
import csv
import dataclasses
import os
import shutil

import numpy as np

from .errors import DataError
from .profile import _missing, _read_table

__all__ = ["Prepared", "prepare", "split_indices"]


@dataclasses.dataclass
class Prepared:
    data: dict          # the train config's data section (path = the training part)
    train_path: str
    test_path: str
    n_train: int
    n_test: int
    test_inputs: list   # items tessel.train.Predictor takes, one per test sample
    test_labels: list   # class names (str) or numbers
    all_path: str = None  # training and held-out rows in one file, for the refit (tables and arrays)


def split_indices(labels, test_size, seed, stratify):
    """(train, test) index arrays: a seeded shuffle, per class when `stratify`
    (each class with at least 2 samples keeps one on each side)."""
    n = len(labels)
    rng = np.random.default_rng(seed)
    if not stratify:
        order = rng.permutation(n)
        k = max(1, int(round(n * test_size)))
        return np.sort(order[k:]), np.sort(order[:k])
    by = {}
    for i, y in enumerate(labels):
        by.setdefault(y, []).append(i)
    train, test = [], []
    for y in sorted(by, key=str):
        idx = np.asarray(by[y])[rng.permutation(len(by[y]))]
        k = int(round(len(idx) * test_size))
        k = min(max(k, 1), len(idx) - 1) if len(idx) >= 2 else 0
        test += idx[:k].tolist()
        train += idx[k:].tolist()
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(test, dtype=np.int64))


def prepare(profile, data, target, work_dir, test_size=0.2, seed=0):
    """Splits `data` (as profiled) into train/test under work_dir/data and
    returns a Prepared with the train config's data section."""
    if not 0.0 < test_size < 0.9:
        raise ValueError(f"test_size must be in (0, 0.9), got {test_size!r}")
    out = os.path.join(work_dir, "data")
    os.makedirs(out, exist_ok=True)
    kind = profile.kind
    if kind in ("tabular", "text") and isinstance(data, (str, os.PathLike)) and os.path.isfile(data):
        return _prepare_table(profile, os.fspath(data), target, out, test_size, seed)
    if kind in ("image_folder", "audio_folder", "text_folder"):
        return _prepare_folder(profile, os.fspath(data), out, test_size, seed)
    return _prepare_arrays(profile, data, target, out, test_size, seed)


def _number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _prepare_table(profile, path, target, out, test_size, seed):
    if target is None:
        raise DataError("the agent needs a target column to predict (target=...)")
    header, rows = _read_table(path, None)
    ti = header.index(target)
    rows = [r for r in rows if not _missing(r[ti])]
    task = profile.task
    labels = [r[ti].strip() for r in rows]
    if task == "classification":
        # 1, 1.0 and "1" are one class (as the profile counts them).
        labels = [str(int(x)) if (x := _number(v)) is not None and x == round(x) else v for v in labels]
    stratify = task == "classification"
    tr, te = split_indices(labels, test_size, seed, stratify)
    if len(tr) < 2 or len(te) < 1:
        raise DataError(f"{path}: {len(rows)} rows with a target are too few to hold out a test split")
    train_csv, test_csv, all_csv = (os.path.join(out, f"{n}.csv") for n in ("train", "test", "all"))
    for fname, idx in ((train_csv, tr), (test_csv, te), (all_csv, np.sort(np.concatenate([tr, te])))):
        with open(fname, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            for i in idx:
                # Missing tokens (NA, nan, ?, ...) become empty cells, which the train sources read as missing.
                r = ["" if _missing(v) else v for v in rows[i]]
                r[ti] = labels[i]
                w.writerow(r)
    cols = {c.name: c for c in profile.columns}
    data = {"kind": profile.kind, "path": train_csv, "label": target, "task": task}
    if profile.kind == "text":
        text_col = next(c.name for c in profile.columns if c.modality == "text")
        data["text"] = text_col
        inputs = [rows[i][header.index(text_col)] for i in te]
    else:
        feats = [c.name for c in profile.columns if c.modality in ("numeric", "categorical")]
        if not feats:
            raise DataError(f"{path}: no numeric or categorical columns to learn from")
        data["features"] = feats
        data["categorical"] = [c for c in feats if cols[c].modality == "categorical"]
        inputs = []
        for i in te:
            row = {}
            for c in feats:
                v = rows[i][header.index(c)]
                if _missing(v):
                    v = None
                elif cols[c].modality == "numeric":
                    v = float(v)
                row[c] = v
            inputs.append(row)
    test_labels = [labels[i] if task == "classification" else float(labels[i]) for i in te]
    return Prepared(data, train_csv, test_csv, len(tr), len(te), inputs, test_labels, all_csv)


def _link(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.lexists(dst):
        os.remove(dst)
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError:  # no symlinks on this file system
        shutil.copyfile(src, dst)


def _prepare_folder(profile, root, out, test_size, seed):
    modality = profile.modality
    from .profile import AUDIO_EXT, IMAGE_EXT, TEXT_EXT
    exts = {"image": IMAGE_EXT, "audio": AUDIO_EXT, "text": TEXT_EXT}[modality]
    files, labels = [], []
    for c in profile.target.classes:
        for d, dirs, names in os.walk(os.path.join(root, c)):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            for fn in sorted(names):
                if not fn.startswith(".") and os.path.splitext(fn)[1].lower() in exts:
                    files.append(os.path.join(d, fn))
                    labels.append(c)
    tr, te = split_indices(labels, test_size, seed, True)
    if len(te) == 0:
        raise DataError(f"{root}: too few files per class to hold out a test split (need 2 in a class)")
    if modality == "text":
        paths = {}
        for name, idx in (("train", tr), ("test", te), ("all", np.sort(np.concatenate([tr, te])))):
            paths[name] = os.path.join(out, f"{name}.csv")
            with open(paths[name], "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["text", "label"])
                for i in idx:
                    w.writerow([_read_text(files[i]), labels[i]])
        data = {"kind": "text", "path": paths["train"], "text": "text", "label": "label",
                "task": "classification"}
        inputs = [_read_text(files[i]) for i in te]
        return Prepared(data, paths["train"], paths["test"], len(tr), len(te), inputs, [labels[i] for i in te],
                        paths["all"])
    # No all/ tree for images and audio: their refit would convert every file again (not measured by any
    # trial, so not budgeted).
    for name, idx in (("train", tr), ("test", te)):
        base = os.path.join(out, name)
        shutil.rmtree(base, ignore_errors=True)
        for k, i in enumerate(idx):
            # A numbered name keeps files of the same name in nested folders apart.
            _link(files[i], os.path.join(base, labels[i], f"{k:06d}-{os.path.basename(files[i])}"))
    kind = "image_folder" if modality == "image" else "audio_folder"
    data = {"kind": kind, "path": os.path.join(out, "train"), "task": "classification"}
    if modality == "image":
        img = (profile.details or {}).get("image") or {}
        chans = (img.get("channels") or {}).get("max", 3)
        h = (img.get("height") or {}).get("mean", 32)
        w_ = (img.get("width") or {}).get("mean", 32)
        side = 28 if max(h, w_) <= 28 else 32  # small inputs stay small: trials must be cheap
        data["image"] = {"size": [side, side], "channels": 1 if chans == 1 else 3}
    else:
        aud = (profile.details or {}).get("audio") or {}
        secs = (aud.get("seconds") or {}).get("max", 1.0)
        duration = float(min(max(secs, 0.1), 2.0))
        rate = aud.get("sample_rate") or {}
        sr = 16000
        data["audio"] = {"duration": duration}
        if rate.get("min") == rate.get("max") and 8000 <= (rate.get("max") or 0) <= 48000:
            # Every sampled file has one rate: log-mel at that rate costs no resampling, which was
            # most of the conversion's time.
            sr = int(rate["max"])
            data["audio"].update(sample_rate=sr, n_fft=512 if sr <= 24000 else 1024)
        # 10 ms hops (speech's usual frames; 16 ms ones, ~100 frames a clip, scored 73% against 82% on the
        # raw-file bench's noisy words).
        data["audio"]["hop_length"] = round(sr / 100)
    return Prepared(data, os.path.join(out, "train"), os.path.join(out, "test"), len(tr), len(te),
                    [files[i] for i in te], [labels[i] for i in te])


def _read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return " ".join(f.read().split())


def _prepare_arrays(profile, data, target, out, test_size, seed):
    if isinstance(data, (str, os.PathLike)):
        loaded = np.load(os.fspath(data), allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            x, y = loaded, target
        else:
            keys = (profile.details or {}).get("arrays") or {}
            with loaded:
                x = loaded[keys.get("inputs", "x")]
                y = loaded[keys["label"]] if keys.get("label") else None
    elif isinstance(data, tuple):
        x, y = data
    elif isinstance(data, dict):
        if target is None:
            raise DataError("the agent needs a target column to predict (target=...)")
        cols = [k for k in data if k != target]
        x = np.stack([np.asarray(data[k], dtype=np.float64) for k in cols], axis=1)
        y = np.asarray(data[target])
    else:
        x, y = data, target
    if y is None:
        raise DataError("the agent needs labels to predict: pass (X, y) or target=y")
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    if profile.task == "classification":
        y = np.asarray([str(int(v)) if isinstance(v, (int, float, np.number)) and float(v) == round(float(v))
                        else str(v) for v in y.tolist()])
        # Integer class ids keep the arrays numeric for the runner.
        names = sorted(set(y.tolist()), key=lambda s: (_number(s) is None, _number(s) or 0.0, s))
        ids = {s: i for i, s in enumerate(names)}
        y_store = np.asarray([ids[s] for s in y.tolist()], dtype=np.int64)
        labels = y.tolist()
    else:
        y_store = y.astype(np.float64)
        labels = y_store.tolist()
    tr, te = split_indices(labels, test_size, seed, profile.task == "classification")
    paths = {}
    for name, idx in (("train", tr), ("test", te), ("all", np.sort(np.concatenate([tr, te])))):
        paths[name] = os.path.join(out, f"{name}.npz")
        np.savez(paths[name], x=x[idx].astype(np.float32), label=y_store[idx])
    data = {"kind": "arrays", "path": paths["train"], "inputs": "x", "label": "label", "task": profile.task}
    test_labels = [labels[i] for i in te]
    if profile.task == "classification":
        test_labels = [str(int(y_store[i])) for i in te]
    return Prepared(data, paths["train"], paths["test"], len(tr), len(te), [x[i].astype(np.float32) for i in te],
                    test_labels, paths["all"])
