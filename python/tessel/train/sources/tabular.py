"""Tabular CSV/JSONL (data.kind: tabular), NumPy/safetensors arrays (arrays) and scikit-learn's bundled
datasets (sklearn): columns standardized or one-hot encoded from the training part."""
import math
import os

import numpy as np

import tessel as ts

from .common import (DataError, _column, _encode_labels, _finish, _infer_task, _label_values, read_table,
                     split_indices, subset)

# scikit-learn's bundled (offline) datasets: name -> (loader function, task).
SKLEARN_DATASETS = {
    "digits": ("load_digits", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "linnerud": ("load_linnerud", "regression"),
}

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
    if vrows is None and d.get("preprocess_from", "train") == "train":
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


def load_tabular(cfg):
    """data.kind: tabular."""
    d = cfg["data"]
    path, val_path = d["path"], d["val_path"]
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


def load_arrays(cfg):
    """data.kind: arrays."""
    d = cfg["data"]
    path, val_path = d["path"], d["val_path"]
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
    elif d.get("preprocess_from", "train") == "all":
        fit, xv, yv = x, None, None
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


def load_sklearn(cfg):
    """data.kind: sklearn (data.path is sklearn:NAME)."""
    path = cfg["data"]["path"]
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
