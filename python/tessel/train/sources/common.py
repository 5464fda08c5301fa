"""What every data source shares: Data and DataError, the seeded split, label
encoding (_finish), file conversion on the C++ DataLoader, class folders and
tables (read_table)."""
import csv
import json
import os

import numpy as np

import tessel as ts

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
        y_fit = y_tr if x_val is not None or d.get("preprocess_from", "train") == "train" else y_all
        mean, std = float(np.mean(y_fit)), float(np.std(y_fit)) or 1.0
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
    from ...utils.progress import Progress
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
