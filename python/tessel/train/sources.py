"""Data sources of `tessel train` (data.kind): image and audio class folders,
text CSV/JSONL, tabular CSV, NumPy/safetensors arrays and scikit-learn's
bundled datasets.

load_data(cfg) reads the data named by a resolved config, converts it with
tessel's own converters (ts.image / ts.audio transforms on the C++
DataLoader, ts.text tokenizers), splits off the validation part, and returns
a Data: tensors, the task, the classes, and `preprocess`, the recipe that
turns one raw item into one input row (saved in signature.json and replayed
by tessel.train.Predictor through the same functions here).
"""
import csv
import json
import math
import os
import re
from collections import Counter, OrderedDict

import numpy as np

import tessel as ts

from ..config import ConfigError

# scikit-learn's bundled (offline) datasets: name -> (loader function, task).
SKLEARN_DATASETS = {
    "digits": ("load_digits", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "linnerud": ("load_linnerud", "regression"),
}

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Text tables hold whole documents (a man page can pass 128 KiB, the csv module's default field limit,
# and every trial failed on it); one process-wide setting, raised once here.
csv.field_size_limit(2**31 - 1)
_CHUNK = 256  # files decoded per DataLoader pass (a failing pass is retried file by file)


class DataError(ValueError):
    """Data that cannot be used (empty folder, corrupt file, bad column); the message names it."""


class Data:
    """What load_data returns. x_*/y_* are tessel tensors (y None for no
    validation); train_loader, when set, replaces (x_train, y_train) while
    training (image augmentation)."""

    def __init__(self, **kw):
        self.train_loader = None
        self.skipped = []
        self.sources = []
        self.__dict__.update(kw)

    @property
    def num_outputs(self):
        return len(self.classes) if self.task == "classification" else 1

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def input_dtype(self):
        return "int64" if self.x_train.dtype == ts.int64 else "float32"


# ----- helpers ------------------------------------------------------------------------------------------

def _t(a, dtype=None):
    a = np.ascontiguousarray(a if dtype is None else np.asarray(a, dtype=dtype))
    return ts.from_numpy(a)


def _np(t):
    return t.numpy() if isinstance(t, ts.Tensor) else np.asarray(t)


def split_indices(n, val_split, seed, labels=None):
    """(train, val) index arrays: a seeded shuffle; stratified per class when labels are given."""
    rng = np.random.default_rng(seed)
    if not val_split or n < 2:
        return np.arange(n), np.arange(0)
    if labels is not None:
        labels = np.asarray(labels)
        train, val = [], []
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            rng.shuffle(idx)
            k = int(round(len(idx) * val_split))
            if len(idx) > 1:
                k = min(max(k, 1), len(idx) - 1)
            else:
                k = 0
            val.append(idx[:k])
            train.append(idx[k:])
        train, val = np.concatenate(train), np.concatenate(val)
        rng.shuffle(train)
        val.sort()
        if len(val) == 0:
            raise DataError(f"data.val_split={val_split} leaves no validation samples (every class has one sample)")
        return train, val
    perm = rng.permutation(n)
    k = max(1, int(round(n * val_split)))
    if k >= n:
        raise DataError(f"data.val_split={val_split} leaves no training samples of {n}")
    return np.sort(perm[k:]), np.sort(perm[:k])


def _infer_task(task, labels):
    """'classification' or 'regression' from the labels when task is auto."""
    if task != "auto":
        return task
    arr = np.asarray(labels)
    if arr.dtype.kind in "OUSb":
        return "classification"
    if arr.dtype.kind in "iu":
        return "classification" if len(np.unique(arr)) <= max(50, int(0.05 * len(arr))) else "regression"
    if arr.dtype.kind == "f":
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) and len(np.unique(arr)) <= 50:
            return "classification"
        return "regression"
    return "classification"


def _encode_labels(labels, task, classes=None):
    """(y tensor, classes): class indices (int64) with sorted class names, or float32 values."""
    if task == "classification":
        if classes is None:
            uniq = sorted(set(labels), key=lambda v: (isinstance(v, str), v))
            classes = [_label_name(v) for v in uniq]
        index = {c: i for i, c in enumerate(classes)}
        try:
            y = np.array([index[_label_name(v)] for v in labels], dtype=np.int64)
        except KeyError as e:
            raise DataError(f"label {e.args[0]!r} of the validation data is not a class of the training data "
                            f"({', '.join(classes[:20])})") from None
        return y, classes
    try:
        y = np.asarray(labels, dtype=np.float32).reshape(-1, 1)
    except (TypeError, ValueError):
        raise DataError("data.task is regression but the labels are not numbers") from None
    return y, None


def _label_name(v):
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    if isinstance(v, np.generic):
        v = v.item()
    return str(v)


def _take(a, idx):
    if isinstance(a, ts.Tensor):
        return a.index_select(0, ts.from_numpy(np.ascontiguousarray(idx, dtype=np.int64)))
    return a[idx]


def _finish(cfg, modality, x, labels, preprocess, x_val=None, labels_val=None, classes=None, **extra):
    """The split (or the given validation data), label encoding and target scaling."""
    d = cfg["data"]
    task = _infer_task(d["task"], labels if labels_val is None else list(labels) + list(labels_val))
    n = len(labels)
    if n == 0:
        raise DataError(f"data.path: {d['path']!r} holds no samples")
    if x_val is None:
        y_all, classes = _encode_labels(labels, task, classes)
        tr, va = split_indices(n, d["val_split"], d["seed"], y_all if task == "classification" else None)
        x_tr, x_va = _take(x, tr), (_take(x, va) if len(va) else None)
        y_tr, y_va = y_all[tr], (y_all[va] if len(va) else None)
        extra["train_index"] = tr
    else:
        y_tr, classes = _encode_labels(labels, task, classes)
        y_va, _ = _encode_labels(labels_val, task, classes)
        x_tr, x_va = x, x_val
    if task == "classification" and len(classes) < 2:
        raise DataError(f"data.path: {d['path']!r} has {len(classes)} class ({', '.join(classes)}); "
                        f"classification needs at least 2")
    if task == "regression":
        mean, std = float(np.mean(y_tr)), float(np.std(y_tr)) or 1.0
        preprocess["target"] = {"mean": mean, "std": std}
        y_tr = (y_tr - mean) / std
        y_va = None if y_va is None else (y_va - mean) / std
    to_t = (lambda a: a) if isinstance(x_tr, ts.Tensor) else _t
    return Data(modality=modality, task=task, classes=classes, preprocess=preprocess,
                x_train=to_t(x_tr), y_train=_t(y_tr), x_val=None if x_va is None else to_t(x_va),
                y_val=None if y_va is None else _t(y_va), **extra)


# ----- file conversion on the C++ DataLoader -------------------------------------------------------

def convert_files(paths, decode, transform, on_error="raise", num_workers=0, what="file"):
    """(stacked tensor of the good files, indices kept, [{"file", "error"}] skipped).

    The files are decoded and transformed on the C++ DataLoader's threads,
    _CHUNK at a time; when a chunk fails, its files are redone one by one to
    find the bad ones (on_error="raise": the first one's error, naming it)."""
    from ..utils.progress import Progress
    ds = ts.data.FileDataset(list(paths), decode=decode, transform=transform)
    outs, kept, skipped = [], [], []
    # A bar on a terminal for long conversions; nothing in logs (the epoch lines follow).
    bar = Progress(total=len(paths), desc=f"decode {what}s", unit="file",
                   disable=len(paths) <= _CHUNK or not _stderr_tty())
    for start in range(0, len(paths), _CHUNK):
        idx = list(range(start, min(len(paths), start + _CHUNK)))
        try:
            loader = ts.data.DataLoader(ts.data.Subset(ds, idx), batch_size=len(idx), num_workers=num_workers)
            batch = next(iter(loader))
        except Exception:  # noqa: BLE001  (find which file failed, below)
            batch = None
        if batch is not None:
            outs.append(batch)
            kept += idx
            bar.update(len(idx))
            continue
        for i in idx:
            try:
                item = ds[i]
            except Exception as e:  # noqa: BLE001
                msg = str(e)
                if on_error == "raise":
                    raise DataError(f"{what} {paths[i]!r} cannot be read: {msg} (set data.on_error: skip to skip "
                                    f"bad files)") from None
                skipped.append({"file": str(paths[i]), "error": msg})
                continue
            outs.append(item.unsqueeze(0))
            kept.append(i)
        bar.update(len(idx))
    bar.close()
    if not outs:
        raise DataError(f"no {what} could be read ({len(skipped)} skipped; first: {skipped[0]['error']})"
                        if skipped else f"no {what}s")
    return ts.cat(outs), kept, skipped


def _stderr_tty():
    import sys
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _class_folder(path, extensions, kind):
    """(sorted classes, [(file, class index)]) of a folder with one subfolder per class."""
    if not os.path.isdir(path):
        raise DataError(f"data.path: folder {path!r} does not exist")
    classes = sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"data.path: folder {path!r} has no class subfolders (expected {path}/CLASS/FILE)")
    samples = []
    empty = []
    for ci, c in enumerate(classes):
        n0 = len(samples)
        for root, dirs, files in os.walk(os.path.join(path, c), followlinks=True):
            dirs.sort()
            for fn in sorted(files):
                if os.path.splitext(fn)[1].lower() in extensions:
                    samples.append((os.path.join(root, fn), ci))
        if len(samples) == n0:
            empty.append(c)
    if empty:
        raise DataError(f"data.path: class folder(s) {', '.join(repr(c) for c in empty)} of {path!r} hold no "
                        f"{kind} files ({' '.join(extensions)})")
    return classes, samples


# ----- images ----------------------------------------------------------------------------------------------

def image_preprocess(cfg):
    im = cfg["data"]["image"]
    c = im["channels"]
    return {"kind": "image", "size": list(im["size"]), "channels": c,
            "mean": list(im["mean"] or [0.5] * c), "std": list(im["std"] or [0.5] * c)}


def image_transform(pre, augment=False):
    """The C++ transform: decoded HWC uint8 -> normalized float [C, H, W]."""
    T = ts.image.transforms
    steps = [T.Resize(tuple(pre["size"]))]
    if augment:
        steps += [T.RandomCrop(tuple(pre["size"]), padding=4, padding_mode="reflect"), T.RandomHorizontalFlip()]
    if pre["channels"] == 1:
        steps.append(T.Grayscale(1))
    steps += [T.ToTensor(), T.Normalize(tuple(pre["mean"]), tuple(pre["std"]))]
    return ts.data.Compose(steps)


def _image_folder(cfg, path):
    from ..config.schema import IMAGE_EXT
    d = cfg["data"]
    classes, samples = _class_folder(path, IMAGE_EXT, "image")
    samples = [samples[i] for i in subset(len(samples), d["limit"], d["seed"])]
    pre = image_preprocess(cfg)
    x, kept, skipped = convert_files([p for p, _ in samples], "image", image_transform(pre), d["on_error"],
                                     d["num_workers"], "image file")
    labels = [classes[samples[i][1]] for i in kept]
    return x, labels, classes, skipped, [samples[i][0] for i in kept]


# ----- audio ----------------------------------------------------------------------------------------------

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
    from ..config.schema import AUDIO_EXT
    d = cfg["data"]
    classes, samples = _class_folder(path, AUDIO_EXT, "audio")
    samples = [samples[i] for i in subset(len(samples), d["limit"], d["seed"])]
    x, kept, skipped = audio_features([p for p, _ in samples], pre, d["on_error"], d["num_workers"])
    labels = [classes[samples[i][1]] for i in kept]
    return x, labels, classes, skipped, [samples[i][0] for i in kept]


def _audio_augment_loader(cfg, pre, data, files):
    """The training part's clips as waveforms (decoded once per process, cached like the features),
    augmented afresh every epoch (train/augment_audio.py)."""
    from .augment_audio import AudioAugmentLoader
    d = cfg["data"]
    tr = getattr(data, "train_index", None)
    files_tr = files if tr is None else [files[i] for i in tr]
    wave, kept, _ = audio_features(files_tr, dict(pre, output="waveform"), d["on_error"], d["num_workers"])
    if len(kept) != len(files_tr):  # these files converted a moment ago
        raise DataError(f"{len(files_tr) - len(kept)} training audio file(s) could not be read again for "
                        f"data.audio.augment")
    return AudioAugmentLoader(wave, data.y_train, pre, d["audio"]["augment"], cfg["train"]["batch_size"],
                              seed=d["seed"])


# ----- tables (text and tabular) ---------------------------------------------------------------------------

def subset(n, limit, seed):
    """Sorted indices of a seeded random subset of `limit` of n items (all when limit is None or >= n),
    so that data.limit keeps every class of a sorted folder or table."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def read_table(path, limit=None, seed=0):
    """[dict] rows of a .csv/.tsv (header line) or .jsonl/.json (one object per line, or a list)."""
    ext = os.path.splitext(path)[1].lower()
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            if ext in (".jsonl", ".json"):
                text = f.read()
                if ext == ".json" and text.lstrip().startswith("["):
                    rows = json.loads(text)
                else:
                    for ln, line in enumerate(text.splitlines(), 1):
                        if line.strip():
                            try:
                                rows.append(json.loads(line))
                            except json.JSONDecodeError as e:
                                raise DataError(f"{path}: line {ln} is not JSON: {e}") from None
            else:
                rows = list(csv.DictReader(f, delimiter="\t" if ext == ".tsv" else ","))
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text: {e}") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise DataError(f"{path}: row {i + 1} is not an object of columns")
    if limit:
        rows = [rows[i] for i in subset(len(rows), limit, seed)]
    if not rows:
        raise DataError(f"data.path: {path!r} has no rows")
    return rows


def _column(rows, key, path, what):
    out = []
    for i, r in enumerate(rows):
        if key not in r:
            raise DataError(f"data.{what}: column {key!r} is missing in row {i + 1} of {path!r}")
        out.append(r[key])
    return out


def _label_values(values):
    """CSV strings that are all numbers become numbers (so regression and int classes work)."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return values
    try:
        nums = [float(v) for v in values]
    except (TypeError, ValueError):
        return [str(v) for v in values]
    return [int(v) if v.is_integer() else v for v in nums]


_WORD = re.compile(r"\w+|[^\w\s]")


def build_tokenizer(texts, kind="word", vocab_size=5000, lowercase=True):
    """tokenizer.json (a dict) with a vocabulary of the training texts' most
    frequent words (or characters), WordPiece model and BERT normalizer/pre-tokenizer."""
    counts = Counter()
    for t in texts:
        t = t.lower() if lowercase else t
        if kind == "char":
            for w in _WORD.findall(t):
                counts[w[0]] += 1
                counts.update("##" + ch for ch in w[1:])
        else:
            counts.update(_WORD.findall(t))
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:max(0, vocab_size - len(SPECIALS))]
    vocab = {t: i for i, t in enumerate(SPECIALS + [w for w in words if w not in SPECIALS])}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False,
                              "rstrip": False, "normalized": False} for i, t in enumerate(SPECIALS)],
            "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                           "strip_accents": None, "lowercase": bool(lowercase)},
            "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": None,
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab}}


_TOKENIZERS = {}


def tokenizer_from(pre):
    key = id(pre["tokenizer"])
    tok = _TOKENIZERS.get(key)
    if tok is None or tok[0] is not pre["tokenizer"]:
        tok = (pre["tokenizer"], ts.text.Tokenizer.from_str(json.dumps(pre["tokenizer"])))
        _TOKENIZERS[key] = tok
    return tok[1]


def encode_texts(texts, pre):
    """int64 [N, max_length] token ids (0 = [PAD]) through the C++ tokenizer."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"text item {i} is not a string: {t!r}")
    if not texts:
        return ts.zeros(0, pre["max_length"], dtype=ts.int64)
    b = tokenizer_from(pre).encode_batch(list(texts), padding="max_length", truncation=True,
                                         max_length=pre["max_length"])
    return b.input_ids


def _text(cfg, path, val_path):
    d = cfg["data"]
    rows = read_table(path, d["limit"], d["seed"])
    texts = [str(v) for v in _column(rows, d["text"], path, "text")]
    labels = _label_values(_column(rows, d["label"], path, "label"))
    tk = d["tokenizer"]
    if val_path:
        vrows = read_table(val_path)
        vtexts = [str(v) for v in _column(vrows, d["text"], val_path, "text")]
        vlabels = _label_values(_column(vrows, d["label"], val_path, "label"))
        fit_texts = texts
    else:
        # The vocabulary comes from the training part only (split first, same seed as _finish).
        task = _infer_task(d["task"], labels)
        y, _ = _encode_labels(labels, task) if task == "classification" else (None, None)
        tr, _va = split_indices(len(texts), d["val_split"], d["seed"], y)
        fit_texts = [texts[i] for i in tr]
        vtexts = vlabels = None
    pre = {"kind": "text", "max_length": tk["max_length"],
           "tokenizer": build_tokenizer(fit_texts, tk["kind"], tk["vocab_size"], tk["lowercase"])}
    x = _np(encode_texts(texts, pre))
    xv = None if vtexts is None else _np(encode_texts(vtexts, pre))
    return _finish(cfg, "text", x, labels, pre, xv, vlabels, sources=[path] + ([val_path] if val_path else []))


# Table cells read as missing (compared stripped and lower-case); the agent's
# profiler reads tables with the same set.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


def is_missing(v):
    return v is None or (isinstance(v, str) and v.strip().lower() in MISSING_TOKENS) or \
        (isinstance(v, float) and math.isnan(v))


def _is_number(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
        return True
    if is_missing(v):
        return None  # missing: says nothing about the column's type
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False



def fit_tabular(rows, features, categorical=None):
    """The column recipe (numeric: mean/std/fill; categorical: categories) from training rows."""
    cols = []
    for name in features:
        vals = [r.get(name) for r in rows]
        kinds = [_is_number(v) for v in vals]
        is_cat = (categorical is not None and name in categorical) or \
                 (categorical is None and any(k is False for k in kinds))
        if is_cat:
            cats = sorted({str(v) for v in vals if not is_missing(v)})
            cols.append({"name": name, "type": "categorical", "categories": cats})
        else:
            nums = np.array([float(v) for v in vals if not is_missing(v)], dtype=np.float64)
            mean = float(nums.mean()) if len(nums) else 0.0
            std = float(nums.std()) if len(nums) else 1.0
            cols.append({"name": name, "type": "numeric", "mean": mean, "std": std if std > 1e-12 else 1.0,
                         "fill": mean})
    return cols


def encode_rows(rows, columns):
    """float32 [N, F]: numeric columns standardized, categorical ones one-hot. A
    row is a dict, or a list/tuple in column order."""
    width = sum(1 if c["type"] == "numeric" else len(c["categories"]) for c in columns)
    out = np.zeros((len(rows), width), dtype=np.float32)
    names = [c["name"] for c in columns]
    for i, r in enumerate(rows):
        if isinstance(r, (list, tuple, np.ndarray)):
            if len(r) != len(columns):
                raise DataError(f"row {i}: expected {len(columns)} values ({', '.join(names)}), got {len(r)}")
            r = dict(zip(names, r))
        elif not isinstance(r, dict):
            raise DataError(f"row {i}: expected a dict of columns or a list of values, got {type(r).__name__}")
        j = 0
        for c in columns:
            v = r.get(c["name"])
            if c["type"] == "numeric":
                if is_missing(v):
                    v = c["fill"]
                try:
                    out[i, j] = (float(v) - c["mean"]) / c["std"]
                except (TypeError, ValueError):
                    raise DataError(f"row {i}: column {c['name']!r} must be a number, got {v!r}") from None
                j += 1
            else:
                cats = c["categories"]
                if not is_missing(v) and str(v) in cats:
                    out[i, j + cats.index(str(v))] = 1.0
                j += len(cats)
    return out


def _tabular_rows(cfg, rows, path, features, labels, vrows=None, vlabels=None):
    d = cfg["data"]
    if vrows is None:
        task = _infer_task(d["task"], labels)
        y, _ = _encode_labels(labels, task) if task == "classification" else (None, None)
        tr, _ = split_indices(len(rows), d["val_split"], d["seed"], y)
        fit_rows = [rows[i] for i in tr]
    else:
        fit_rows = rows
    cols = fit_tabular(fit_rows, features, d["categorical"])
    pre = {"kind": "tabular", "columns": cols}
    x = encode_rows(rows, cols)
    xv = None if vrows is None else encode_rows(vrows, cols)
    return _finish(cfg, "tabular", x, labels, pre, xv, vlabels, sources=[path])


def _tabular(cfg, path, val_path):
    d = cfg["data"]
    rows = read_table(path, d["limit"], d["seed"])
    labels = _label_values(_column(rows, d["label"], path, "label"))
    features = d["features"] or [k for k in rows[0] if k != d["label"]]
    if not features:
        raise DataError(f"data.features: {path!r} has no column besides the label {d['label']!r}")
    vrows = vlabels = None
    if val_path:
        vrows = read_table(val_path)
        vlabels = _label_values(_column(vrows, d["label"], val_path, "label"))
    return _tabular_rows(cfg, rows, path, features, labels, vrows, vlabels)


# ----- arrays and scikit-learn ---------------------------------------------------------------------------

def _read_arrays(path, inputs, label):
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            x = np.load(path, allow_pickle=False)
            ypath = label if os.path.isabs(label) else os.path.join(os.path.dirname(path), label)
            if not os.path.exists(ypath):
                raise DataError(f"data.label: labels file {ypath!r} does not exist (for a .npy of inputs, "
                                f"data.label names the .npy file of labels)")
            y = np.load(ypath, allow_pickle=False)
        else:
            if ext == ".npz":
                with np.load(path, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
            else:
                arrays = {k: v.numpy() for k, v in ts.load(path).items()}
            for key, what in ((inputs, "inputs"), (label, "label")):
                if key not in arrays:
                    raise DataError(f"data.{what}: no array {key!r} in {path!r} (it has {', '.join(arrays)})")
            x, y = arrays[inputs], arrays[label]
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001
        raise DataError(f"cannot read arrays from {path!r}: {e}") from None
    if y.ndim == 0 or x.ndim == 0 or x.shape[0] != y.shape[0]:
        raise DataError(f"{path!r}: inputs have {x.shape[0]} samples but labels {y.shape[0] if y.ndim else 0}")
    return x, y.reshape(-1) if y.ndim > 1 and y.shape[1] == 1 else y


def _arrays(cfg, path, val_path):
    d = cfg["data"]
    x, y = _read_arrays(path, d["inputs"], d["label"])
    if d["limit"]:
        keep = subset(len(y), d["limit"], d["seed"])
        x, y = x[keep], y[keep]
    if y.ndim != 1:
        raise DataError(f"{path!r}: labels must be one value per sample, got shape {list(y.shape)}")
    x = x.astype(np.float32)
    if val_path:
        xv, yv = _read_arrays(val_path, d["inputs"], d["label"])
        xv = xv.astype(np.float32)
        fit = x
    else:
        task = _infer_task(d["task"], y)
        lab, _ = _encode_labels(list(y), task) if task == "classification" else (None, None)
        tr, _ = split_indices(len(y), d["val_split"], d["seed"], lab)
        fit, xv, yv = x[tr], None, None
    if x.ndim == 2:
        mean, std = fit.mean(0), fit.std(0)
        std[std < 1e-12] = 1.0
        mean, std = mean.astype(np.float64).tolist(), std.astype(np.float64).tolist()
    else:
        mean, std = float(fit.mean()), float(fit.std()) or 1.0
    pre = {"kind": "array", "shape": list(x.shape[1:]), "mean": mean, "std": std}
    x = encode_arrays(x, pre)
    xv = None if xv is None else encode_arrays(xv, pre)
    labels = [v.item() for v in y]
    vlabels = None if yv is None else [v.item() for v in yv]
    return _finish(cfg, "array", x, labels, pre, xv, vlabels, sources=[path])


def encode_arrays(x, pre):
    x = np.asarray(x, dtype=np.float32)
    if list(x.shape[1:]) != list(pre["shape"]):
        raise DataError(f"array input of shape {list(x.shape[1:])} per sample, the model takes {pre['shape']}")
    return ((x - np.asarray(pre["mean"], dtype=np.float32)) / np.asarray(pre["std"], dtype=np.float32)) \
        .astype(np.float32)


def _sklearn(cfg, path):
    name = path.split(":", 1)[1]
    fn, task = SKLEARN_DATASETS[name]
    import sklearn.datasets
    bunch = getattr(sklearn.datasets, fn)()
    x, y = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
    if y.ndim > 1:
        y = y[:, 0]  # linnerud: the first target
    names = list(getattr(bunch, "feature_names", None) or [f"x{i}" for i in range(x.shape[1])])
    if cfg["data"]["limit"]:
        keep = subset(len(y), cfg["data"]["limit"], cfg["data"]["seed"])
        x, y = x[keep], y[keep]
    rows = [dict(zip(names, r)) for r in x.tolist()]
    if task == "classification":
        tn = getattr(bunch, "target_names", None)
        labels = [str(tn[int(v)]) if tn is not None else str(int(v)) for v in y]
        classes = [str(t) for t in tn] if tn is not None else None
    else:
        labels = [float(v) for v in y]
        classes = None
    if cfg["data"]["task"] == "auto":
        cfg = {**cfg, "data": {**cfg["data"], "task": task}}
    data = _tabular_rows(cfg, rows, path, names, labels)
    if classes is not None:
        data.classes = [c for c in classes if c in set(data.classes)] or data.classes
    return data


# ----- entry ---------------------------------------------------------------------------------------------

def load_data(cfg):
    """A Data from a resolved config (dict)."""
    d = cfg["data"]
    kind, path, val_path = d["kind"], d["path"], d["val_path"]
    if kind == "sklearn":
        return _sklearn(cfg, path)
    if kind == "text":
        return _text(cfg, path, val_path)
    if kind == "tabular":
        return _tabular(cfg, path, val_path)
    if kind == "arrays":
        return _arrays(cfg, path, val_path)
    if kind in ("image_folder", "audio_folder"):
        if kind == "image_folder":
            pre = image_preprocess(cfg)
            x, labels, classes, skipped, files = _image_folder(cfg, path)
            vx = vlabels = None
            if val_path:
                vx, vlabels, vclasses, vsk, _ = _image_folder(cfg, val_path)
                skipped += vsk
        else:
            pre = audio_preprocess(cfg)
            x, labels, classes, skipped, files = _audio_folder(cfg, path, pre)
            vx = vlabels = None
            if val_path:
                vx, vlabels, _vc, vsk, _ = _audio_folder(cfg, val_path, pre)
                skipped += vsk
        if kind == "audio_folder":
            # One mean/std over the training part's log-mel values (the split is redone in _finish, same seed).
            data = _finish(cfg, "audio", x, labels, pre, vx, vlabels, classes=classes)
            m = float(data.x_train.mean())
            s = float(data.x_train.std()) or 1.0
            pre["mean"], pre["std"] = m, s
            data.x_train = (data.x_train - m) / s
            if data.x_val is not None:
                data.x_val = (data.x_val - m) / s
            if d["audio"]["augment"]["enabled"]:
                data.train_loader = _audio_augment_loader(cfg, pre, data, files)
        else:
            data = _finish(cfg, "image", x, labels, pre, vx, vlabels, classes=classes)
            if d["image"]["augment"]:
                tr = getattr(data, "train_index", None)
                files_tr = files if tr is None else [files[i] for i in tr]
                ytr = data.y_train.tolist()
                ds = ts.data.FileDataset(files_tr, decode="image", transform=image_transform(pre, augment=True),
                                         labels=ytr)
                data.train_loader = ts.data.DataLoader(ds, batch_size=cfg["train"]["batch_size"], shuffle=True,
                                                       num_workers=d["num_workers"], seed=d["seed"])
        data.skipped = skipped
        data.sources = [path] + ([val_path] if val_path else [])
        return data
    raise ConfigError(f"data.kind: unknown kind {kind!r}")

