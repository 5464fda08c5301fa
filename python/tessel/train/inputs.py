"""Inputs of `tessel evaluate` and `tessel predict`: labeled data and raw
files converted with a model's saved recipe (signature.json's preprocess),
nothing re-fitted."""
import os

import numpy as np

import tessel as ts

from .sources import (SKLEARN_DATASETS, DataError, _class_folder, _column, _label_values, _read_arrays,
                      audio_features, convert_files, encode_arrays, encode_rows, encode_texts, image_transform,
                      read_table)


def load_labeled(path, signature, data_cfg, on_error="raise"):
    """(x tensor, labels) of labeled data at `path`, converted with the saved
    preprocess of `signature` (nothing is re-fitted): class folders, text/tabular
    tables, arrays or sklearn:NAME, read with the keys of the model's data config."""
    from ..config.schema import AUDIO_EXT, IMAGE_EXT
    pre = signature["preprocess"]
    kind = pre["kind"]
    if isinstance(path, str) and not path.startswith("sklearn:") and not os.path.exists(path):
        raise DataError(f"--data: {path!r} does not exist")
    if kind == "image":
        classes, samples = _class_folder(path, IMAGE_EXT, "image")
        x, kept, _ = convert_files([p for p, _ in samples], "image", image_transform(pre), on_error, 0, "image file")
        return x, [classes[samples[i][1]] for i in kept]
    if kind == "audio":
        classes, samples = _class_folder(path, AUDIO_EXT, "audio")
        x, kept, _ = audio_features([p for p, _ in samples], pre, on_error)
        return (x - pre["mean"]) / pre["std"], [classes[samples[i][1]] for i in kept]
    if kind == "text":
        rows = read_table(path)
        texts = [str(v) for v in _column(rows, data_cfg["text"], path, "text")]
        return encode_texts(texts, pre), _label_values(_column(rows, data_cfg["label"], path, "label"))
    if kind == "tabular":
        if path.startswith("sklearn:"):
            name = path.split(":", 1)[1]
            if name not in SKLEARN_DATASETS:
                raise DataError(f"--data: unknown scikit-learn dataset {name!r}")
            import sklearn.datasets
            bunch = getattr(sklearn.datasets, SKLEARN_DATASETS[name][0])()
            names = list(getattr(bunch, "feature_names", None) or [f"x{i}" for i in range(bunch.data.shape[1])])
            rows = [dict(zip(names, r)) for r in np.asarray(bunch.data).tolist()]
            y = np.asarray(bunch.target)
            y = y[:, 0] if y.ndim > 1 else y
            tn = getattr(bunch, "target_names", None)
            if signature["task"] == "classification":
                labels = [str(tn[int(v)]) if tn is not None else str(int(v)) for v in y]
            else:
                labels = [float(v) for v in y]
        else:
            rows = read_table(path)
            labels = _label_values(_column(rows, data_cfg["label"], path, "label"))
        return ts.from_numpy(encode_rows(rows, pre["columns"])), labels
    if kind == "array":
        x, y = _read_arrays(path, data_cfg["inputs"], data_cfg["label"])
        return ts.from_numpy(encode_arrays(x, pre)), [v.item() for v in y]
    raise DataError(f"signature.json: unknown preprocess kind {kind!r}")


def expand_inputs(paths, modality, data_cfg=None, array_shape=None):
    """Raw items and their names from files and folders, for `tessel predict`:
    image/audio files (folders walked), a text per .txt file or per row of a
    .csv/.jsonl, tabular rows of a .csv/.jsonl, arrays from .npy files."""
    from ..config.schema import AUDIO_EXT, IMAGE_EXT
    exts = {"image": IMAGE_EXT, "audio": AUDIO_EXT, "text": (".txt",) + (".csv", ".tsv", ".jsonl", ".json"),
            "tabular": (".csv", ".tsv", ".jsonl", ".json"), "array": (".npy",)}[modality]
    files = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p, followlinks=True):
                dirs.sort()
                files += [os.path.join(root, n) for n in sorted(names) if os.path.splitext(n)[1].lower() in exts]
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise DataError(f"input {p!r} does not exist")
    items, names = [], []
    label_col = (data_cfg or {}).get("label", "label")
    for f in files:
        ext = os.path.splitext(f)[1].lower()
        if modality in ("image", "audio"):
            items.append(f)
            names.append(f)
        elif modality == "text" and ext == ".txt":
            with open(f, encoding="utf-8") as fh:
                items.append(fh.read())
            names.append(f)
        elif modality in ("text", "tabular"):
            rows = read_table(f)
            for i, r in enumerate(rows):
                if modality == "text":
                    key = (data_cfg or {}).get("text", "text")
                    if key not in r:
                        raise DataError(f"{f}: row {i + 1} has no column {key!r}")
                    items.append(str(r[key]))
                else:
                    items.append({k: v for k, v in r.items() if k != label_col})
                names.append(f"{f}:{i + 1}")
        elif modality == "array":
            a = np.load(f, allow_pickle=False)
            if array_shape is not None and list(a.shape[1:]) == list(array_shape):
                items += list(a)  # a batch of samples
                names += [f"{f}:{i}" for i in range(len(a))]
            else:
                items.append(a)
                names.append(f)
    if not items:
        raise DataError(f"no {modality} inputs found in {', '.join(map(str, paths))}")
    return items, names
