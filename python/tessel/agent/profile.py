"""Profiling: what the data is before anything is planned.

    p = ts.agent.profile("train.csv", target="price")
    print(p)                 # a readable table: task, size, one row per column
    p.to_json()              # the same as JSON; Profile.from_json() reads it back

Takes a CSV/TSV/JSONL table, a folder with one subfolder per class (image,
audio or text files), .npy/.npz arrays, or in-memory arrays ((X, y), X with
target=y, or a dict of columns). Pure Python and NumPy: pandas is not needed.
"""
import collections
import csv
import dataclasses
import difflib
import io
import json
import math
import os
import time

import numpy as np

from ..config.schema import AUDIO_EXT, IMAGE_EXT
from ..train.sources import MISSING_TOKENS, is_missing as _missing  # one set of missing-cell tokens
from .errors import DataError
from .leaderboard import fmt as _g

__all__ = ["profile", "Profile", "ColumnProfile", "TargetProfile", "MISSING_TOKENS"]

TEXT_EXT = (".txt", ".md")
TABLE_EXT = (".csv", ".tsv", ".jsonl")
ARRAY_EXT = (".npy", ".npz")
# A numeric target with integer values and at most this many distinct values is a class label.
MAX_CLASSES_FOR_INT_TARGET = 20
_SAMPLE_FILES = 4  # files per class whose headers are read
_MAX_PRINTED_COLUMNS = 25


@dataclasses.dataclass
class ColumnProfile:
    name: str
    modality: str          # numeric, categorical, text, image, audio, array
    dtype: str             # float, int, string, or the array dtype
    missing: int = 0
    unique: int = 0
    stats: dict = dataclasses.field(default_factory=dict)

    def summary(self):
        s = self.stats
        if self.modality == "numeric":
            return f"min {_g(s.get('min'))}  max {_g(s.get('max'))}  mean {_g(s.get('mean'))}"
        if self.modality == "categorical":
            return "top: " + ", ".join(f"{v} ({c})" for v, c in s.get("top", [])[:3])
        if self.modality == "text":
            return f"{_g(s.get('mean_words'))} words on average"
        if self.modality in ("image", "audio"):
            return f"{s.get('found', 0)}/{s.get('checked', 0)} files found"
        if self.modality == "array":
            return f"shape {tuple(s.get('shape', ()))}"
        return ""


@dataclasses.dataclass
class TargetProfile:
    name: str
    task: str                      # classification or regression
    missing: int = 0
    classes: dict = None           # label -> count (classification)
    imbalance: float = None        # largest class / smallest class
    stats: dict = None             # min, max, mean, std (regression)


@dataclasses.dataclass
class Profile:
    """What profile() found. kind is the train schema's data.kind (tabular,
    text, image_folder, audio_folder, arrays); modality the input's overall
    modality (tabular, text, image, audio, array, mixed)."""
    source: str
    kind: str
    modality: str
    task: str
    n_samples: int
    n_features: int
    size_bytes: int
    columns: list
    target: TargetProfile = None
    warnings: list = dataclasses.field(default_factory=list)
    details: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    # ----- serialisation ---------------------------------------------------------------------------

    def to_dict(self):
        return _clean(dataclasses.asdict(self))

    def to_json(self, indent=2):
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())
        return path

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["columns"] = [ColumnProfile(**c) for c in d.get("columns") or []]
        if d.get("target") is not None:
            d["target"] = TargetProfile(**d["target"])
        return cls(**d)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def log(self, store, run_id, artifact_path="profile.json"):
        """Records the profile in the tracking store: profile.json as an
        artifact of `run_id` and the headline numbers as its parameters."""
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = self.save(os.path.join(d, "profile.json"))
            store.log_artifact(run_id, path, artifact_path)
        params = {"profile.task": self.task, "profile.kind": self.kind, "profile.modality": self.modality,
                  "profile.n_samples": self.n_samples, "profile.n_features": self.n_features}
        if self.target is not None:
            params["profile.target"] = self.target.name
        store.log_params(run_id, params)

    # ----- printing --------------------------------------------------------------------------------

    def __str__(self):
        out = io.StringIO()
        w = out.write
        w(f"Profile of {self.source}\n")
        w(f"  kind {self.kind}, modality {self.modality}, task {self.task}\n")
        w(f"  {self.n_samples} samples, {self.n_features} features, {_size(self.size_bytes)}\n")
        if self.target is not None:
            t = self.target
            if t.task == "classification":
                counts = ", ".join(f"{k}: {v}" for k, v in list(t.classes.items())[:10])
                more = f", ... ({len(t.classes)} classes)" if len(t.classes) > 10 else ""
                w(f"  target {t.name!r}: {len(t.classes)} classes ({counts}{more}); imbalance "
                  f"{_g(t.imbalance)}:1\n")
            else:
                s = t.stats or {}
                w(f"  target {t.name!r}: regression, min {_g(s.get('min'))} max {_g(s.get('max'))} "
                  f"mean {_g(s.get('mean'))} std {_g(s.get('std'))}\n")
            if t.missing:
                w(f"  target missing in {t.missing} rows\n")
        if self.columns:
            rows = [("column", "modality", "dtype", "missing", "unique", "summary")]
            for c in self.columns[:_MAX_PRINTED_COLUMNS]:
                rows.append((c.name, c.modality, c.dtype, str(c.missing), str(c.unique), c.summary()))
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
            for i, r in enumerate(rows):
                w("  " + "  ".join(v.ljust(wd) for v, wd in zip(r, widths)) + "  " + r[-1] + "\n")
                if i == 0:
                    w("  " + "  ".join("-" * wd for wd in widths) + "  -------\n")
            if len(self.columns) > _MAX_PRINTED_COLUMNS:
                w(f"  ... {len(self.columns) - _MAX_PRINTED_COLUMNS} more columns (to_json() has them all)\n")
        for msg in self.warnings:
            w(f"  warning: {msg}\n")
        return out.getvalue().rstrip("\n")

    def _repr_html_(self):  # notebooks
        import html
        return "<pre>" + html.escape(str(self)) + "</pre>"




def _size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _clean(o):
    """JSON-safe: NaN/inf -> None, NumPy scalars -> Python, tuples -> lists."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


# ----- entry point -----------------------------------------------------------------------------------

def profile(data, target=None, task="auto", max_rows=None):
    """Profiles `data` and returns a Profile.

    data: a path (CSV/TSV/JSONL table, .npy/.npz arrays, or a folder with one
    subfolder per class), a tuple (X, y), an array X (with target=y, an
    array), or a dict of columns (with target=a column name). target: the
    column to predict (tables); for class folders the folder names are the
    target. task: 'auto' (from the target's type and cardinality),
    'classification' or 'regression'. max_rows: profile only the first rows.
    Raises DataError (a ValueError) for an empty or unreadable dataset or a
    target column that does not exist, FileNotFoundError for a missing path.
    """
    if task not in ("auto", "classification", "regression"):
        raise ValueError(f"profile: task must be 'auto', 'classification' or 'regression', got {task!r}")
    t0 = time.perf_counter()
    if isinstance(data, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(data))
        if not os.path.exists(path):
            raise FileNotFoundError(f"profile: no such file or folder: {os.fspath(data)}")
        if os.path.isdir(path):
            p = _profile_folder(path, target)
        else:
            ext = os.path.splitext(path)[1].lower()
            if ext in ARRAY_EXT:
                p = _profile_array_file(path, target, task)
            else:
                p = _profile_table(path, target, task, max_rows)
    elif isinstance(data, dict):
        p = _profile_columns({str(k): _as_list(v) for k, v in data.items()}, target, task, "dict of columns",
                             _nbytes(data.values()))
    elif isinstance(data, tuple) and len(data) == 2 and target is None:
        p = _profile_arrays(data[0], data[1], task)
    elif hasattr(data, "shape") or isinstance(data, list):
        p = _profile_arrays(data, target, task)
    else:
        raise TypeError(f"profile: data must be a path, a (X, y) tuple, an array or a dict of columns, "
                        f"got {type(data).__name__}")
    p.seconds = time.perf_counter() - t0
    return p


# ----- tables ----------------------------------------------------------------------------------------

def _read_table(path, max_rows):
    """(header, rows as lists of strings or None) of a CSV/TSV/JSONL file."""
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"profile: cannot read {path}: {e.strerror or e}") from None
    if b"\0" in raw[:4096]:
        raise DataError(f"profile: {path} is not a text table (it holds binary data); give a CSV, TSV or JSONL "
                        f"file, a folder of class folders or .npy/.npz arrays")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"profile: {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise DataError(f"profile: dataset {path} is empty")
    if ext == ".jsonl" or (ext == ".json" and text.lstrip().startswith("{")):
        header, rows = [], []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"profile: {path} line {i} is not valid JSON: {e.msg}") from None
            if not isinstance(obj, dict):
                raise DataError(f"profile: {path} line {i} is not a JSON object")
            for k in obj:
                if k not in header:
                    header.append(k)
            rows.append(obj)
            if max_rows and len(rows) >= max_rows:
                break
        rows = [[None if r.get(k) is None else str(r.get(k)) for k in header] for r in rows]
        return header, rows
    if ext == ".tsv":
        delim = "\t"
    else:
        try:
            delim = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
        except csv.Error:
            delim = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header = next(reader, None)
    if not header:
        raise DataError(f"profile: dataset {path} is empty")
    header = [h.strip() for h in header]
    rows = []
    for i, row in enumerate(reader, 2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"profile: {path} line {i} has {len(row)} fields, the header has {len(header)}")
        rows.append(row)
        if max_rows and len(rows) >= max_rows:
            break
    return header, rows


def _profile_table(path, target, task, max_rows):
    header, rows = _read_table(path, max_rows)
    if not rows:
        raise DataError(f"profile: dataset {path} has a header but no rows")
    columns = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    p = _profile_columns(columns, target, task, path, os.path.getsize(path), base_dir=os.path.dirname(path))
    return p




def _as_float(v):
    if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
        return float(v)
    try:
        return float(str(v).strip())
    except ValueError:
        return None


def _as_list(v):
    if hasattr(v, "tolist"):
        v = v.tolist()
    return list(v)


def _nbytes(values):
    return int(sum(getattr(v, "nbytes", 0) for v in values))


def _check_target(target, names, source):
    if target is None:
        return
    if not isinstance(target, str):
        raise TypeError(f"profile: target must be a column name (str), got {type(target).__name__}")
    if target not in names:
        close = difflib.get_close_matches(target, names, n=1, cutoff=0.6)
        if not close:  # a case slip
            close = [n for n in names if n.lower() == target.lower()][:1]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")
        raise DataError(f"profile: target column {target!r} is not in {source}{hint}; columns: {shown}")


def _profile_columns(columns, target, task, source, size_bytes, base_dir=None):
    names = list(columns)
    if not names:
        raise DataError(f"profile: dataset {source} has no columns")
    _check_target(target, names, source)
    n = len(columns[names[0]])
    if n == 0:
        raise DataError(f"profile: dataset {source} is empty (no rows)")
    warnings = []
    cols = []
    for name in names:
        if name == target:
            continue
        c = _column(name, columns[name], base_dir)
        cols.append(c)
        frac = c.missing / n
        if frac >= 0.5:
            warnings.append(f"column {name!r} is {frac:.0%} missing")
        if c.unique == n and c.dtype in ("int", "string") and c.modality in ("numeric", "categorical") and n >= 20:
            warnings.append(f"column {name!r} has a distinct value in every row: an identifier? "
                            f"(it carries no signal for new rows)")
        if c.unique <= 1 and c.missing < n:
            warnings.append(f"column {name!r} is constant")
    tp = _target(target, columns[target], task) if target is not None else None
    if tp is not None:
        warnings += _target_warnings(tp)
    mods = collections.Counter(c.modality for c in cols)
    modality, kind = _overall(mods)
    if modality == "mixed":
        warnings.append("mixed modalities (" + ", ".join(f"{k}: {v}" for k, v in sorted(mods.items())) +
                        "); the planner uses the " + ("text column" if kind == "text" else "tabular columns"))
    return Profile(source=source, kind=kind, modality=modality, task=tp.task if tp else "unknown", n_samples=n,
                   n_features=len(cols), size_bytes=int(size_bytes), columns=cols, target=tp, warnings=warnings)


def _overall(mods):
    """(modality, train data.kind) from the column modalities (target excluded)."""
    tab = mods.get("numeric", 0) + mods.get("categorical", 0)
    other = {k: v for k, v in mods.items() if k not in ("numeric", "categorical")}
    if not other:
        return "tabular", "tabular"
    if len(other) == 1 and tab == 0:
        only = next(iter(other))
        if only == "text" and other[only] == 1:
            return "text", "text"
        return only, {"text": "tabular", "image": "tabular", "audio": "tabular", "array": "arrays"}[only]
    if tab:
        return "mixed", "tabular"
    return "mixed", "text" if "text" in other else "tabular"


def _column(name, values, base_dir):
    present = [v for v in values if not _missing(v)]
    missing = len(values) - len(present)
    if present and all(isinstance(v, (list, tuple)) for v in present[:50]):
        shape = np.asarray(present[0]).shape
        return ColumnProfile(name, "array", "float", missing, 0, {"shape": list(shape)})
    nums = [_as_float(v) for v in present]
    if present and all(x is not None for x in nums):
        arr = np.asarray(nums, dtype=np.float64)
        integral = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
        finite = arr[np.isfinite(arr)]
        stats = {"min": float(finite.min()) if finite.size else None,
                 "max": float(finite.max()) if finite.size else None,
                 "mean": float(finite.mean()) if finite.size else None,
                 "std": float(finite.std()) if finite.size else None}
        return ColumnProfile(name, "numeric", "int" if integral else "float", missing, len(set(nums)), stats)
    strs = [str(v) for v in present]
    unique = len(set(strs))
    if not strs:
        return ColumnProfile(name, "categorical", "string", missing, 0, {"top": []})
    exts = collections.Counter(os.path.splitext(s.strip().lower())[1] for s in strs)
    n_img = sum(c for e, c in exts.items() if e in IMAGE_EXT)
    n_aud = sum(c for e, c in exts.items() if e in AUDIO_EXT)
    for mod, count in (("image", n_img), ("audio", n_aud)):
        if count >= 0.8 * len(strs):
            checked = strs[:50]
            found = sum(os.path.exists(s if os.path.isabs(s) else os.path.join(base_dir or ".", s)) for s in checked)
            return ColumnProfile(name, mod, "string", missing, unique, {"checked": len(checked), "found": found})
    words = [len(s.split()) for s in strs]
    mean_words = sum(words) / len(words)
    if mean_words >= 4 and unique >= 0.5 * len(strs):
        return ColumnProfile(name, "text", "string", missing, unique,
                             {"mean_words": mean_words, "max_words": max(words),
                              "mean_chars": sum(map(len, strs)) / len(strs)})
    top = collections.Counter(strs).most_common(5)
    return ColumnProfile(name, "categorical", "string", missing, unique, {"top": [[v, c] for v, c in top]})


def _target(name, values, task):
    present = [v for v in values if not _missing(v)]
    missing = len(values) - len(present)
    if not present:
        raise DataError(f"profile: target column {name!r} has no values (all {len(values)} are missing)")
    nums = [_as_float(v) for v in present]
    numeric = all(x is not None for x in nums)
    if task == "auto":
        if not numeric:
            task = "classification"
        else:
            arr = np.asarray(nums)
            integral = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
            distinct = len(set(nums))
            task = "classification" if integral and (distinct <= MAX_CLASSES_FOR_INT_TARGET or distinct == 2) \
                else "regression"
    if task == "regression":
        if not numeric:
            bad = next(v for v, x in zip(present, nums) if x is None)
            raise DataError(f"profile: target column {name!r} has non-numeric values (e.g. {bad!r}); "
                            f"regression needs numbers")
        arr = np.asarray(nums, dtype=np.float64)
        return TargetProfile(name, "regression", missing, stats={"min": float(arr.min()), "max": float(arr.max()),
                                                                 "mean": float(arr.mean()), "std": float(arr.std())})
    labels = [_label(v, x) for v, x in zip(present, nums)] if numeric else [str(v).strip() for v in present]
    counts = collections.Counter(labels)
    classes = dict(sorted(counts.items(), key=lambda kv: _label_key(kv[0])))
    imbalance = max(counts.values()) / min(counts.values())
    return TargetProfile(name, "classification", missing, classes=classes, imbalance=imbalance)


def _label(v, x):
    # 1, 1.0 and "1" are the same class; keep the text of a non-integral number.
    return str(int(x)) if x is not None and math.isfinite(x) and x == round(x) else str(v).strip()


def _label_key(s):
    x = _as_float(s)
    return (0, x, "") if x is not None else (1, 0.0, s)


def _target_warnings(tp):
    out = []
    if tp.missing:
        out.append(f"target {tp.name!r} is missing in {tp.missing} rows (they are left out of training)")
    if tp.task == "classification":
        if len(tp.classes) < 2:
            out.append(f"target {tp.name!r} has a single class ({next(iter(tp.classes))!r}): nothing to learn")
        elif tp.imbalance >= 5:
            small = min(tp.classes, key=tp.classes.get)
            out.append(f"class imbalance {tp.imbalance:.1f}:1 (smallest class {small!r}: {tp.classes[small]} samples)")
        if min(tp.classes.values()) < 2:
            out.append("some classes have a single sample: they cannot appear in both training and validation")
    return out


# ----- arrays ----------------------------------------------------------------------------------------

def _profile_arrays(x, y, task, source="arrays", size_bytes=None):
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"profile: {source} is empty (no samples)")
    if y is not None and isinstance(y, str):
        raise TypeError("profile: with array data, target must be an array of labels (or pass (X, y))")
    n = x.shape[0]
    size = int(x.nbytes) if size_bytes is None else size_bytes
    warnings = []
    if x.ndim == 1:
        x = x.reshape(n, 1)
    if x.ndim == 2 and x.dtype.kind in "biuf":
        cols = [_column(f"x{i}", x[:, i].tolist(), None) for i in range(x.shape[1])]
        modality, kind = "tabular", "arrays"
        n_features = x.shape[1]
        if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
            warnings.append(f"{int(np.isnan(x).sum())} missing (NaN) values in X")
    elif x.dtype.kind in "biuf":
        cols = [ColumnProfile("x", "array", str(x.dtype), 0, 0, {"shape": list(x.shape[1:])})]
        modality = "image" if x.ndim in (3, 4) else "array"
        kind = "arrays"
        n_features = int(np.prod(x.shape[1:]))
    else:
        raise DataError(f"profile: X must hold numbers, got dtype {x.dtype}")
    tp = None
    if y is not None:
        y = np.asarray(y)
        if y.shape[0] != n:
            raise DataError(f"profile: X has {n} samples but y has {y.shape[0]}")
        if y.ndim > 1 and not (y.ndim == 2 and y.shape[1] == 1):
            raise DataError(f"profile: y must be one value per sample, got shape {y.shape}")
        tp = _target("y", y.reshape(-1).tolist(), task)
        size += int(y.nbytes)
        warnings += _target_warnings(tp)
    return Profile(source=source, kind=kind, modality=modality, task=tp.task if tp else "unknown", n_samples=n,
                   n_features=n_features, size_bytes=size, columns=cols, target=tp, warnings=warnings)


def _profile_array_file(path, target, task):
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001  (NumPy raises several types for a bad file)
        raise DataError(f"profile: cannot read {path} as NumPy data: {e}") from None
    if isinstance(loaded, np.ndarray):
        if target is not None and not hasattr(target, "shape"):
            raise DataError(f"profile: {path} holds one array; give the labels as target=array")
        return _profile_arrays(loaded, target, task, path, os.path.getsize(path))
    with loaded:
        keys = list(loaded.files)
        if not keys:
            raise DataError(f"profile: dataset {path} is empty (no arrays)")
        xkey = "x" if "x" in keys else ("X" if "X" in keys else keys[0])
        ykey = target if isinstance(target, str) else ("label" if "label" in keys else ("y" if "y" in keys else None))
        if isinstance(target, str) and target not in keys:
            _check_target(target, keys, path)
        x = loaded[xkey]
        y = loaded[ykey] if ykey is not None else None
    p = _profile_arrays(x, y, task, path, os.path.getsize(path))
    p.details["arrays"] = {"inputs": xkey, "label": ykey}
    if p.target is not None:
        p.target.name = ykey
    return p


# ----- class folders ---------------------------------------------------------------------------------

def _profile_folder(path, target):
    if target is not None:
        raise DataError(f"profile: {path} is a folder of class folders: the folder names are the target, "
                        f"drop target={target!r}")
    try:
        entries = sorted(os.listdir(path))
    except OSError as e:
        raise DataError(f"profile: cannot read folder {path}: {e.strerror or e}") from None
    class_dirs = [e for e in entries if os.path.isdir(os.path.join(path, e)) and not e.startswith(".")]
    if not class_dirs:
        tables = [e for e in entries if os.path.splitext(e)[1].lower() in TABLE_EXT]
        hint = f" (to profile a table, give the file: {os.path.join(path, tables[0])})" if tables else ""
        raise DataError(f"profile: folder {path} has no class subfolders (one folder of files per class){hint}")
    files, counts, size, other = {}, {}, 0, collections.Counter()
    kinds = collections.Counter()
    for c in class_dirs:
        got = []
        for root, dirs, names in os.walk(os.path.join(path, c)):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for fn in sorted(names):
                if fn.startswith("."):
                    continue
                full = os.path.join(root, fn)
                e = os.path.splitext(fn)[1].lower()
                mod = "image" if e in IMAGE_EXT else "audio" if e in AUDIO_EXT else "text" if e in TEXT_EXT else None
                if mod is None:
                    other[e or "(none)"] += 1
                    continue
                kinds[mod] += 1
                got.append((full, mod))
                size += os.path.getsize(full)
        files[c] = got
        counts[c] = len(got)
    if not kinds:
        raise DataError(f"profile: folder {path} holds no image, audio or text files in its class folders "
                        f"({', '.join(class_dirs[:10])})")
    modality = kinds.most_common(1)[0][0]
    warnings = []
    if len(kinds) > 1:
        warnings.append("class folders mix file types (" + ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())) +
                        f"); only the {modality} files are used")
    if other:
        warnings.append("files of unknown type left out: " + ", ".join(f"{e} ({n})" for e, n in other.most_common(5)))
    empty = [c for c in class_dirs if not any(m == modality for _, m in files[c])]
    if empty:
        warnings.append(f"class folders without {modality} files (left out): {', '.join(empty)}")
    classes = {c: sum(1 for _, m in files[c] if m == modality) for c in class_dirs if c not in empty}
    n = sum(classes.values())
    tp = TargetProfile("class", "classification", 0, classes=classes,
                       imbalance=max(classes.values()) / min(classes.values()))
    warnings += _target_warnings(tp)
    sample = []
    for c in classes:
        sample += [f for f, m in files[c] if m == modality][:_SAMPLE_FILES]
    col, details, bad = _sample_files(modality, sample)
    if bad:
        warnings.append(f"{len(bad)} of {len(sample)} sampled files cannot be read, e.g. {bad[0]}")
    kind = {"image": "image_folder", "audio": "audio_folder", "text": "text_folder"}[modality]
    return Profile(source=path, kind=kind, modality=modality, task="classification", n_samples=n, n_features=1,
                   size_bytes=size, columns=[col], target=tp, warnings=warnings, details=details)


def _sample_files(modality, sample):
    """(ColumnProfile, details, unreadable files) from the headers of a few files per class."""
    bad, stats = [], collections.defaultdict(list)
    for f in sample:
        try:
            if modality == "image":
                from .. import image as timage
                with open(f, "rb") as fh:
                    info = timage.info(fh.read())
                stats["height"].append(info["height"])
                stats["width"].append(info["width"])
                stats["channels"].append(info["channels"])
            elif modality == "audio":
                from .. import audio as taudio
                info = taudio.info(f)
                sr = _get(info, "sample_rate")
                stats["sample_rate"].append(sr)
                stats["seconds"].append(_get(info, "num_frames") / sr if sr else 0.0)
                stats["channels"].append(_get(info, "num_channels"))
            else:
                with open(f, encoding="utf-8") as fh:
                    stats["words"].append(len(fh.read().split()))
        except Exception:  # noqa: BLE001  (any decoder error makes the file unreadable here)
            bad.append(f)
    summary = {}
    for k, v in stats.items():
        if v:
            summary[k] = {"min": min(v), "max": max(v), "mean": sum(v) / len(v)}
    col = ColumnProfile("file", modality, "string", 0, len(sample),
                        {"checked": len(sample), "found": len(sample) - len(bad), **summary})
    return col, {"sampled_files": len(sample), "unreadable": bad[:10], modality: summary}, bad


def _get(info, key):
    v = info.get(key) if isinstance(info, dict) else getattr(info, key, None)
    if v is None and not isinstance(info, dict):
        alt = {"num_frames": "frames", "num_channels": "channels"}.get(key)
        v = getattr(info, alt, None) if alt else None
    elif v is None:
        alt = {"num_frames": "frames", "num_channels": "channels"}.get(key)
        v = info.get(alt) if alt else None
    return v
