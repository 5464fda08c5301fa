"""Watch a registered model: compare new data with the data it was trained
on, and above the threshold retrain (the same train config, on the old plus
the new labelled data) and promote the new version to the alias only if it
scores better on held-out data. Every decision is a run in the tracking store
(experiment "agent-watch": drift scores, old and new metric, promoted or not).

    res = ts.agent.watch("models:/houses@champion", "this_week.csv", threshold=0.2)   # this module: watcher
    res.drifted, res.retrained, res.promoted, res.old_metric, res.new_metric

Tables: PSI per numeric/categorical feature and KS per numeric one
(tessel.agent.monitor). Folders of images, audio or text files: per-file
summary features (images: size and mean/std of the pixels per channel; audio:
duration, RMS level and the means of 8 log-spectrum bands; text: length in
words and characters, mean word length, share of distinct words), each
compared with PSI and the two-sample KS test; and the embedding drift of the
model's input tensors (tessel.agent.embedding: MMD with a permutation
threshold). Inputs logged by the server (tessel.agent.input_log): tables
decoded back to their columns (PSI/KS), other inputs by embedding drift;
logged inputs carry no labels, so they are reported on, not retrained on.

Held-out data: the model's own held-out split (the agent's test split) plus a
seeded `holdout` share of the new labelled data, which the retraining does not
see. Both models are scored on it: accuracy (higher is better) for
classification, RMSE (lower is better) for regression.
"""
import csv
import dataclasses
import json
import math
import os
import re
import time

import numpy as np

from .embedding import embedding_drift
from .errors import DataError
from .input_log import is_input_log, read_input_log
from .monitor import drift as table_drift, ks_2samp, psi
from .prepare import _link
from .profile import AUDIO_EXT, IMAGE_EXT, TEXT_EXT, _missing, _read_table

__all__ = ["watch", "WatchResult", "resolve_model", "folder_features", "folder_drift", "AGENT_FILE"]

AGENT_FILE = "agent.json"  # written by the agent into the registered version: where its data is


@dataclasses.dataclass
class WatchResult:
    model: str                 # registry name
    version: int               # the version compared (the alias's target before the watch)
    alias: str
    drift: dict                # {"features": [...], "drifted": bool, "threshold": ...}
    drifted: bool
    retrained: bool = False
    promoted: bool = False
    new_version: int = None    # the retrained version (registered without the alias unless promoted)
    metric: str = None         # held-out metric name (accuracy or rmse)
    old_metric: float = None
    new_metric: float = None
    n_heldout: int = 0
    reason: str = ""
    run_id: str = None         # the decision's run in the tracking store
    output_dir: str = None     # the retrained model's folder

    def to_dict(self):
        return dataclasses.asdict(self)

    def __str__(self):
        s = f"{self.model} version {self.version} ({self.alias}): "
        s += "drift" if self.drifted else "no drift"
        if self.retrained:
            s += (f"; retrained as version {self.new_version}: {self.metric} {self.old_metric:.4g} -> "
                  f"{self.new_metric:.4g}; {'promoted' if self.promoted else 'not promoted'}")
        return s + (f" ({self.reason})" if self.reason else "")


def resolve_model(store, model, alias="champion"):
    """(name, version dict) of "models:/NAME@ALIAS", "models:/NAME/3", "NAME@ALIAS" or "NAME" (its `alias`)."""
    if not isinstance(model, str) or not model:
        raise TypeError(f"watch: model must be 'models:/NAME@ALIAS' or a registry name, got {model!r}")
    ref = model[len("models:/"):] if model.startswith("models:/") else model
    m = re.fullmatch(r"([^@/]+)(?:@([^@/]+)|/(\d+))?", ref)
    if not m:
        raise ValueError(f"watch: cannot read model reference {model!r} (use models:/NAME@ALIAS or models:/NAME/N)")
    name, al, num = m.group(1), m.group(2), m.group(3)
    which = int(num) if num else (al or alias)
    try:
        return name, store.get_model_version(name, which)
    except (KeyError, LookupError, ValueError) as e:
        raise ValueError(f"watch: no model version {model!r} in the registry ({e})") from None


def _agent_info(version):
    """Where the model's training data and held-out split are: agent.json in
    the version folder, else the train config's data section."""
    p = os.path.join(version["folder"], AGENT_FILE)
    if os.path.isfile(p):
        with open(p) as f:
            return json.load(f)
    cfg = version.get("config") or {}
    d = cfg.get("data") or {}
    if not d.get("path"):
        raise DataError(f"model {version['name']} version {version['version']} records no training data "
                        f"(no {AGENT_FILE}, no data.path in its config)")
    heldout = d.get("val_path")
    if not heldout:
        cand = os.path.join(os.path.dirname(d["path"]), "test" + os.path.splitext(d["path"])[1])
        heldout = cand if os.path.exists(cand) else None
    # The task the model was trained for: signature.json has it resolved (the
    # config may say `auto`).
    task = (version.get("signature") or {}).get("task")
    if task not in ("classification", "regression"):
        task = d.get("task")
    return {"reference": d["path"], "heldout": heldout, "target": d.get("label"), "task": task,
            "kind": d.get("kind")}


# ----- summary features of files ------------------------------------------------------------------------

def _image_features(path):
    import tessel as ts
    a = ts.image.read(path).numpy().astype(np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[0] <= 4 and a.shape[-1] > 4:  # CHW
        a = np.moveaxis(a, 0, -1)
    g = a.mean(axis=2)
    return {"height": a.shape[0], "width": a.shape[1], "pixel_mean": float(a.mean()), "pixel_std": float(a.std()),
            "gray_p10": float(np.percentile(g, 10)), "gray_p90": float(np.percentile(g, 90))}


def _audio_features(path):
    import tessel as ts
    wav, sr = ts.audio.load(path, mono=True)
    x = np.asarray(wav.numpy(), dtype=np.float64).reshape(-1)
    out = {"seconds": x.size / sr, "rms": float(np.sqrt(np.mean(x * x))) if x.size else 0.0}
    n = 512
    if x.size >= n:
        frames = x[: (x.size // n) * n].reshape(-1, n) * np.hanning(n)
        spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        # 8 bands equally spaced on the mel scale: a coarse log-mel mean per band.
        mel = 2595 * np.log10(1 + np.fft.rfftfreq(n, 1 / sr) / 700)
        edges = np.linspace(0, mel[-1], 9)
        for b in range(8):
            sel = (mel >= edges[b]) & (mel < edges[b + 1] if b < 7 else mel <= edges[b + 1])
            e = spec[:, sel].sum(axis=1) if sel.any() else np.zeros(len(spec))
            out[f"logmel_{b}"] = float(np.mean(np.log(e + 1e-10)))
    return out


def _text_features(text):
    words = text.split()
    return {"words": len(words), "chars": len(text),
            "word_length": float(np.mean([len(w) for w in words])) if words else 0.0,
            "distinct_words": len(set(words)) / len(words) if words else 0.0}


def folder_features(items, modality):
    """{feature: [values]} over files (paths) or texts (strings)."""
    feats = {}
    for it in items:
        if modality == "image":
            f = _image_features(it)
        elif modality == "audio":
            f = _audio_features(it)
        elif modality == "text":
            if len(it) < 4096 and "\n" not in it and os.path.isfile(it):
                with open(it, encoding="utf-8", errors="replace") as fh:
                    it = fh.read()
            f = _text_features(it)
        else:
            raise ValueError(f"folder_features: modality must be image, audio or text, got {modality!r}")
        for k, v in f.items():
            feats.setdefault(k, []).append(float(v))
    return feats


def folder_drift(reference_items, current_items, modality, threshold=0.2, alpha=0.01):
    """Drift of the summary features of two sets of files: PSI and KS per
    feature. A feature drifts when its PSI is over `threshold` AND the KS
    test rejects equal distributions at `alpha`: folders are often small, and
    PSI alone over a few dozen files is noise (bins shrink with the sample too)."""
    ref = folder_features(reference_items, modality)
    cur = folder_features(current_items, modality)
    bins = int(min(10, max(2, min(len(reference_items), len(current_items)) // 10)))
    features = []
    for k in ref:
        if k not in cur:
            continue
        p = psi(ref[k], cur[k], bins)
        d, pv = ks_2samp(ref[k], cur[k])
        features.append({"name": k, "kind": f"{modality} summary", "psi": p, "ks": d, "p_value": pv,
                         "drifted": bool(p > threshold and pv < alpha)})
    return {"features": features, "drifted": any(f["drifted"] for f in features), "threshold": float(threshold),
            "n_reference": len(reference_items), "n_current": len(current_items)}


def _class_files(root, exts):
    """[(path, class)] of a class-folder tree (or [(path, None)] of a flat folder)."""
    out = []
    subdirs = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    for c in subdirs or [None]:
        base = root if c is None else os.path.join(root, c)
        for d, dirs, names in os.walk(base):
            dirs[:] = sorted(x for x in dirs if not x.startswith("."))
            if c is None and d != root:
                continue
            for fn in sorted(names):
                if not fn.startswith(".") and os.path.splitext(fn)[1].lower() in exts:
                    out.append((os.path.join(d, fn), c))
    return out


# ----- the watch -------------------------------------------------------------------------------------------

def _split(n, share, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    k = int(round(n * share)) if n >= 2 else 0
    return np.sort(order[k:]), np.sort(order[:k])


def _score(folder, items, labels, task):
    from ..train import Predictor
    preds = Predictor.load(folder).predict(items)
    if task == "classification":
        return "accuracy", float(np.mean([str(p["label"]) == str(y) for p, y in zip(preds, labels)]))
    err = np.array([p["value"] for p in preds], dtype=np.float64) - np.asarray(labels, dtype=np.float64)
    return "rmse", float(np.sqrt(np.mean(err * err)))


def _table_items(header, rows, target, features, categorical=()):
    ti = header.index(target)
    items, labels = [], []
    for r in rows:
        if _missing(r[ti]):
            continue
        row = {}
        for c in features:
            v = r[header.index(c)]
            row[c] = None if _missing(v) else (v if c in categorical else float(v))
        items.append(row)
        labels.append(r[ti].strip())
    return items, labels


def _write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def _norm_label(v, task):
    if task != "classification":
        return v
    try:
        x = float(v)
        return str(int(x)) if x == round(x) else v
    except ValueError:
        return v


def watch(model, data, threshold=0.2, store=None, alias="champion", retrain=True, holdout=0.2, seed=0,
          work_dir=None, experiment="agent-watch", verbose=False):
    """Compares `data` (a table file, or a folder of image/audio/text files,
    by class when labelled) with the training data of `model`
    ("models:/NAME@champion", "models:/NAME/3" or a registry name), and above
    `threshold` (PSI) retrains and promotes only a better model. Returns a
    WatchResult; the decision is also a run in `experiment`."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ValueError(f"watch: threshold must be a positive number, got {threshold!r}")
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"watch: holdout must be in (0, 1), got {holdout!r}")
    if not isinstance(data, (str, os.PathLike)) or not os.path.exists(data):
        raise FileNotFoundError(f"watch: new data {data!r} does not exist (a table file or a folder)")
    data = os.fspath(data)
    from .. import store as tstore
    st = store if isinstance(store, tstore.Store) else tstore.open(store)
    try:
        return _watch(st, model, data, float(threshold), alias, retrain, holdout, seed, work_dir, experiment,
                      verbose)
    finally:
        if st is not store:
            st.close()


def _watch(st, model, data, threshold, alias, retrain, holdout, seed, work_dir, experiment, verbose):
    name, version = resolve_model(st, model, alias)
    info = _agent_info(version)
    kind = info.get("kind")
    log = (lambda m: print(f"[watch] {m}", flush=True)) if verbose else (lambda m: None)
    run_id = st.start_run(experiment, name=f"watch {name}", tags={"source": "tessel agent watch"},
                          params={"watch.model": name, "watch.version": version["version"], "watch.alias": alias,
                                  "watch.data": data, "watch.threshold": threshold})
    status = "FAILED"
    try:
        work = os.path.abspath(work_dir or os.path.join(st.artifact_root, "agent-watch", run_id))
        os.makedirs(work, exist_ok=True)
        res = WatchResult(name, version["version"], alias, {}, False)
        res.run_id = run_id
        data_cfg = (version.get("config") or {}).get("data") or {}
        if not info.get("target") and data_cfg.get("label") and not os.path.isdir(info["reference"]):
            info = dict(info, target=data_cfg["label"])  # a text folder the agent turned into a text table
        if is_input_log(data):
            plan_ = _log_plan(info, version, data, threshold, work, log)
        elif kind in ("image_folder", "audio_folder") or os.path.isdir(data):
            plan_ = _folder_plan(info, data, threshold, kind, version["folder"], log)
        else:
            plan_ = _table_plan(info, data, threshold, data_cfg.get("text") if kind == "text" else None,
                                version["folder"], log)
        res.drift = plan_["drift"]
        res.drifted = bool(plan_["drift"]["drifted"])
        feats = res.drift["features"]
        psis = [f["psi"] for f in feats if f.get("psi") is not None]
        points = [(f"drift/psi/{f['name']}", 0, float(f["psi"])) for f in feats
                  if f.get("psi") is not None and math.isfinite(f["psi"])]
        points += [(f"drift/{f['name']}/mmd2", 0, float(f["mmd2"])) for f in feats if "mmd2" in f]
        points += [(f"drift/{f['name']}/p_value", 0, float(f["p_value"])) for f in feats if "mmd2" in f]
        max_psi = max(psis or [0.0])
        points.append(("drift/max_psi", 0, max_psi))
        points.append(("drift/drifted_features", 0, float(sum(f["drifted"] for f in feats))))
        st.log_metrics(run_id, points)
        log(f"{name} v{version['version']}: {'drift' if res.drifted else 'no drift'} (max PSI {max_psi:.4g}"
            + "".join(f"; {f['name']} MMD^2 {f['mmd2']:.3g}, p {f['p_value']:.3g}" for f in feats if "mmd2" in f)
            + ")")
        if not res.drifted:
            res.reason = "no feature over the threshold"
        elif not retrain:
            res.reason = "retraining is off"
        elif not plan_["new_labelled"]:
            res.reason = ("inputs logged by the server carry no labels to retrain on" if plan_["kind"] == "log"
                          else "the new data has no labels to retrain on")
        else:
            _retrain(st, res, version, info, plan_, holdout, seed, work, run_id, log)
        st.set_tags(run_id, {"watch.decision": "promoted" if res.promoted else
                             ("not promoted" if res.retrained else ("no drift" if not res.drifted else "no retrain")),
                             "watch.reason": res.reason})
        path = os.path.join(work, "decision.json")
        with open(path, "w") as f:
            json.dump(res.to_dict(), f, indent=1, default=float)
        st.log_artifact(run_id, path)
        status = "FINISHED"
        return res
    finally:
        st.end_run(run_id, status)


def _table_plan(info, data, threshold, text_column=None, model_folder=None, log=None):
    ref, target = info["reference"], info.get("target")
    rep = table_drift(ref, data, target=target, threshold=threshold)
    d = rep.to_dict()
    rh, rrows = _read_table(ref, None)
    nh, nrows = _read_table(data, None)
    if text_column and text_column in rh and text_column in nh:
        # A text column: the drift of its summary features (length, vocabulary), as for text folders.
        tr = folder_drift([r[rh.index(text_column)] or "" for r in rrows],
                          [r[nh.index(text_column)] or "" for r in nrows], "text", threshold)
        if model_folder is not None:
            tr["features"] += _embedding_entries(model_folder, [r[rh.index(text_column)] or "" for r in rrows],
                                                 [r[nh.index(text_column)] or "" for r in nrows], log)
        for f in tr["features"]:
            f["name"] = f"{text_column}.{f['name']}"
        d["features"] = [f for f in d["features"] if f["name"] != text_column] + tr["features"]
        d["drifted"] = any(f["drifted"] for f in d["features"])
    labelled = target is not None and target in nh and any(not _missing(r[nh.index(target)]) for r in nrows)
    return {"drift": {"features": d["features"], "drifted": d["drifted"], "threshold": threshold,
                      "n_reference": d["n_reference"], "n_current": d["n_current"]},
            "kind": "table", "new_labelled": labelled, "ref_header": rh, "ref_rows": rrows, "new_header": nh,
            "new_rows": nrows}


def _modality(kind, info):
    if kind == "image_folder":
        return "image"
    if kind == "audio_folder":
        return "audio"
    return "text"


def _folder_plan(info, data, threshold, kind, model_folder=None, log=None):
    modality = _modality(kind, info)
    exts = {"image": IMAGE_EXT, "audio": AUDIO_EXT, "text": TEXT_EXT}[modality]
    ref = info["reference"]
    if os.path.isdir(ref):
        ref_items = [p for p, _ in _class_files(ref, exts)]
    else:  # the agent turned a text folder into a CSV with a text column
        h, rows = _read_table(ref, None)
        ref_items = [r[h.index("text")] for r in rows]
    new = _class_files(data, exts)
    if not new:
        raise DataError(f"watch: {data} has no {modality} files")
    rep = folder_drift(ref_items, [p for p, _ in new], modality, threshold)
    if model_folder is not None:
        rep["features"] += _embedding_entries(model_folder, ref_items, [p for p, _ in new], log)
        rep["drifted"] = any(f["drifted"] for f in rep["features"])
    labelled = os.path.isdir(ref) and all(c is not None for _, c in new)
    return {"drift": rep, "kind": "folder", "new_labelled": labelled, "new_files": new, "exts": exts}


# ----- embedding drift and inputs logged by the server ---------------------------------------------------

_EMBED_MAX = 300  # files or rows per side converted for the embedding drift (seeded sample)


def _sample(items, n, seed=0):
    if len(items) <= n:
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), n, replace=False))
    return [items[i] for i in keep]


def _model_inputs(pred, items, batch=64):
    """The model's input tensors (NumPy) of raw items: its own conversion (Predictor.preprocess)."""
    if pred.signature["preprocess"]["kind"] == "text":
        items = [_read_text(it) for it in items]
    return np.concatenate([pred.preprocess(items[s:s + batch]).numpy() for s in range(0, len(items), batch)])


def _read_text(it):
    if len(it) < 4096 and "\n" not in it and os.path.isfile(it):
        with open(it, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    return it


def _embedding_entries(model_folder, ref_items, cur_items, log=None):
    """[the embedding drift entry] of two sets of raw items through the model's conversion; [] for a model
    that converts no images, audio or text, or has no ONNX file to convert with (said in the log)."""
    from ..train import Predictor
    try:
        pred = Predictor.load(model_folder)
    except FileNotFoundError as e:
        if log:
            log(f"no embedding drift: {e}")
        return []
    kind = pred.signature["preprocess"]["kind"]
    if kind not in ("image", "audio", "text"):
        return []
    ref = _model_inputs(pred, _sample(ref_items, _EMBED_MAX))
    cur = _model_inputs(pred, _sample(cur_items, _EMBED_MAX))
    return [embedding_drift(ref, cur, kind, max_samples=_EMBED_MAX)]


def _decode_rows(x, columns):
    """Table rows (strings, '' for missing) of encoded inputs [N, F]: numeric columns unscaled, one-hot
    categories back to their names (encode_rows inverted)."""
    rows = []
    for v in x:
        row, j = [], 0
        for c in columns:
            if c["type"] == "numeric":
                row.append("" if not np.isfinite(v[j]) else repr(float(v[j]) * c["std"] + c["mean"]))
                j += 1
            else:
                k = len(c["categories"])
                hot = v[j:j + k]
                row.append(c["categories"][int(np.argmax(hot))] if k and np.nanmax(hot) > 0.5 else "")
                j += k
        rows.append(row)
    return rows


def _log_plan(info, version, data, threshold, work, log):
    """Drift of the inputs the server logged (tessel.agent.input_log) against the training data."""
    from ..train import Predictor
    pred = Predictor.load(version["folder"])
    x, li = read_input_log(data, model=version["name"], input_name=pred.input_name)
    want = pred.signature["inputs"][0]["shape"][1:]
    if len(want) != x.ndim - 1 or any(w not in (-1, None) and w != g for w, g in zip(want, x.shape[1:])):
        raise DataError(f"watch: the logged inputs are [N, {', '.join(map(str, x.shape[1:]))}] but model "
                        f"{version['name']} version {version['version']} takes {pred.signature['inputs'][0]['shape']}"
                        f" (another model's log?)")
    log(f"input log: {li['rows']} rows in {li['requests']} requests from {len(li['files'])} file(s)")
    pre = pred.signature["preprocess"]
    kind = pre["kind"]
    if kind == "tabular":
        cols = pre["columns"]
        names = [c["name"] for c in cols]
        rh, rrows = _read_table(info["reference"], None)
        missing = [n for n in names if n not in rh]
        if missing:
            raise DataError(f"watch: the training data {info['reference']} lacks the model's columns {missing}")
        # Both sides as tables of the model's columns: the reference may hold others (the target, ignored ones).
        ref_csv, cur_csv = os.path.join(work, "reference_columns.csv"), os.path.join(work, "logged_inputs.csv")
        _write_csv(ref_csv, names, [[r[rh.index(n)] or "" for n in names] for r in rrows])
        _write_csv(cur_csv, names, _decode_rows(x, cols))
        d = table_drift(ref_csv, cur_csv, threshold=threshold).to_dict()
        features = d["features"]
    elif kind in ("image", "audio", "text"):
        if os.path.isdir(info["reference"]):
            ref_items = [p for p, _ in _class_files(info["reference"], {"image": IMAGE_EXT, "audio": AUDIO_EXT,
                                                                         "text": TEXT_EXT}[kind])]
        else:  # a text table: its text column
            h, rows = _read_table(info["reference"], None)
            col = ((version.get("config") or {}).get("data") or {}).get("text") or "text"
            ref_items = [r[h.index(col)] or "" for r in rows]
        ref = _model_inputs(pred, _sample(ref_items, _EMBED_MAX))
        features = [embedding_drift(ref, x, kind, max_samples=_EMBED_MAX)]
    else:
        raise DataError(f"watch: logged inputs of a {kind!r} model are not compared yet (tables, images, audio "
                        f"and text are)")
    return {"drift": {"features": features, "drifted": any(f["drifted"] for f in features), "threshold": threshold,
                      "n_reference": None, "n_current": int(len(x)), "source": "input log",
                      "requests": li["requests"]},
            "kind": "log", "new_labelled": False}


def _retrain(st, res, version, info, plan_, holdout, seed, work, run_id, log):
    from ..train import runner
    task, target = info.get("task"), info.get("target")
    cfg = json.loads(json.dumps(version["config"]))
    data_dir = os.path.join(work, "data")
    os.makedirs(data_dir, exist_ok=True)
    if plan_["kind"] == "table":
        nh, nrows = plan_["new_header"], plan_["new_rows"]
        rh = plan_["ref_header"]
        ti = nh.index(target)
        nrows = [r for r in nrows if not _missing(r[ti])]
        missing = [c for c in rh if c not in nh]
        if missing:
            raise DataError(f"watch: the new data lacks columns {missing} of the training data")
        nrows = [[r[nh.index(c)] for c in rh] for r in nrows]  # the training data's column order
        tri = rh.index(target)
        for r in nrows:
            r[tri] = _norm_label(r[tri].strip(), task)
        keep, held = _split(len(nrows), holdout, seed)
        combined = os.path.join(data_dir, "train.csv")
        _write_csv(combined, rh, plan_["ref_rows"] + [nrows[i] for i in keep])
        hh, hrows = (_read_table(info["heldout"], None) if info.get("heldout") and os.path.isfile(info["heldout"])
                     else (rh, []))
        hrows = [[r[hh.index(c)] for c in rh] for r in hrows] + [nrows[i] for i in held]
        heldout = os.path.join(data_dir, "heldout.csv")
        _write_csv(heldout, rh, hrows)
        if cfg["data"].get("kind") == "text":  # the model takes the text itself
            ti_, xi = rh.index(target), rh.index(cfg["data"]["text"])
            items = [r[xi] for r in hrows if not _missing(r[ti_])]
            labels = [r[ti_].strip() for r in hrows if not _missing(r[ti_])]
        else:
            feats = cfg["data"].get("features") or [c for c in rh if c != target]
            items, labels = _table_items(rh, hrows, target, feats, set(cfg["data"].get("categorical") or ()))
        if task != "classification":
            labels = [float(v) for v in labels]
    else:
        new = plan_["new_files"]
        keep, held = _split(len(new), holdout, seed)
        combined = os.path.join(data_dir, "train")
        for k, (p, c) in enumerate(_class_files(info["reference"], plan_["exts"])):
            _link(p, os.path.join(combined, c, f"r{k:06d}-{os.path.basename(p)}"))
        for i in keep:
            p, c = new[i]
            _link(p, os.path.join(combined, c, f"n{i:06d}-{os.path.basename(p)}"))
        heldout = os.path.join(data_dir, "heldout")
        ho = _class_files(info["heldout"], plan_["exts"]) if info.get("heldout") and \
            os.path.isdir(info["heldout"]) else []
        ho += [new[i] for i in held]
        for k, (p, c) in enumerate(ho):
            _link(p, os.path.join(heldout, c, f"{k:06d}-{os.path.basename(p)}"))
        items, labels = [p for p, _ in ho], [c for _, c in ho]
    if not items:
        raise DataError("watch: no held-out data to compare the models on")
    cfg["data"]["path"], cfg["data"]["val_path"] = combined, heldout
    cfg.pop("ensemble", None)
    cfg.pop("refit", None)  # a refit champion: the retrain is one run on the data below
    cfg["experiment"] = dict(cfg.get("experiment") or {}, run_name=f"watch {res.model} retrain",
                             tags={"agent.watch": run_id, "agent.role": "retrain"})
    cfg["output"] = dict(cfg.get("output") or {}, dir=os.path.join(work, "retrained"), export_onnx=True,
                         register=res.model, alias=None)
    t0 = time.perf_counter()
    out = runner.run(cfg, store=st)
    res.retrained, res.output_dir = True, out.output_dir
    res.new_version = out.model_version["version"] if out.model_version else None
    res.metric, res.old_metric = _score(version["folder"], items, labels, task)
    _, res.new_metric = _score(out.output_dir, items, labels, task)
    res.n_heldout = len(items)
    better = res.new_metric > res.old_metric if res.metric == "accuracy" else res.new_metric < res.old_metric
    if better and res.new_version is not None:
        st.set_alias(res.model, res.alias, res.new_version)
        res.promoted = True
        res.reason = f"{res.metric} {res.old_metric:.4g} -> {res.new_metric:.4g} on {len(items)} held-out samples"
        # The promoted version carries where its data is, for the next watch.
        folder = st.get_model_version(res.model, res.new_version)["folder"]
        with open(os.path.join(folder, AGENT_FILE), "w") as f:
            json.dump(dict(info, reference=combined, heldout=heldout), f, indent=1)
    else:
        res.reason = (f"the retrained model is not better: {res.metric} {res.old_metric:.4g} -> "
                      f"{res.new_metric:.4g} on {len(items)} held-out samples")
    st.log_metrics(run_id, [(f"heldout/old_{res.metric}", 0, res.old_metric),
                            (f"heldout/new_{res.metric}", 0, res.new_metric),
                            ("watch/promoted", 0, float(res.promoted)),
                            ("watch/retrain_seconds", 0, time.perf_counter() - t0)])
    log(res.reason)


