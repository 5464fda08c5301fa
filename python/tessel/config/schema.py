"""The training config schema shared by `tessel train`, the ML agent and the pipelines.

    cfg = TrainConfig.from_file("digits.yaml", overrides=["train.epochs=5"])
    cfg.resolve()        # a plain dict: every section, defaults filled in, round-trips to YAML

Sections: experiment, data, model, optimizer, schedule, train, output (see
docs/config.md, the one place where the keys are documented). Validation runs
up front and reports every problem at once, each naming its full key path:

    data.path: folder 'x' does not exist
    optimizer.lr: expected a number, got 'abc'
    optimizer.lrr: unknown key (did you mean 'lr'?)

Precedence: --set overrides > the file > defaults. Relative data paths are
taken from the config file's folder (from the current folder for --set
values and for configs built from a dict without base_dir); output.dir is
relative to the current folder.
"""
import copy
import difflib
import os

from . import ConfigError

__all__ = ["TrainConfig", "SCHEMA", "MODEL_FAMILIES", "TEXT_FAMILIES", "SOLVER_FAMILIES", "DATA_KINDS", "parse_override",
           "apply_overrides", "resolve_config", "validate", "flatten"]

DATA_KINDS = ("image_folder", "audio_folder", "text", "tabular", "arrays", "sklearn")
TASKS = ("auto", "classification", "regression")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
AUDIO_EXT = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".w64")
ARRAY_EXT = (".npy", ".npz", ".safetensors")
TABLE_EXT = (".csv", ".tsv", ".jsonl", ".json")
_MISSING = object()


class F:
    """One key: its type ('int', 'float', 'str', 'bool', 'list', 'dict', 'any'),
    default, allowed values, bounds, whether None is allowed, and a doc line."""

    def __init__(self, type, default=_MISSING, choices=None, min=None, max=None, nullable=False, doc="",
                 items=None, min_exclusive=False):
        self.type, self.default, self.choices = type, default, choices
        self.min, self.max, self.nullable, self.doc = min, max, nullable, doc
        self.items = items  # type of list items
        self.min_exclusive = min_exclusive

    @property
    def required(self):
        return self.default is _MISSING


def _section(**fields):
    return fields


# The schema. A nested dict is a section; F is a leaf. Family-specific model
# keys live in MODEL_FAMILIES below (model.name picks which apply).
SCHEMA = {
    "experiment": _section(
        name=F("str", "default", doc="experiment name in the tracking store"),
        run_name=F("str", None, nullable=True, doc="name of the run (default: the store picks one)"),
        tags=F("dict", {}, doc="tags recorded on the run"),
        store=F("str", None, nullable=True, doc="tracking store folder or SQLAlchemy URL "
                                                "(default: $TESSEL_STORE or ./tessel-store)"),
        track=F("bool", True, doc="record the run in the tracking store"),
    ),
    "data": _section(
        kind=F("str", "auto", choices=("auto",) + DATA_KINDS, doc="data source kind; auto: from data.path"),
        path=F("str", doc="folder, file, or sklearn:NAME (digits, iris, wine, breast_cancer, diabetes, ...)"),
        val_path=F("str", None, nullable=True, doc="separate validation data of the same kind"),
        val_split=F("float", 0.2, min=0.0, max=0.9, doc="fraction held out for validation when no val_path"),
        seed=F("int", None, nullable=True, doc="seed of the split (default: train.seed)"),
        preprocess_from=F("str", "train", choices=("train", "all"),
                          doc="rows the table/array recipe (scaling, categories, target scaling) is fit on: the "
                              "training part, or every row of data.path (models of different splits then share "
                              "one recipe)"),
        task=F("str", "auto", choices=TASKS, doc="auto: classification for string/int labels with few values"),
        on_error=F("str", "raise", choices=("raise", "skip"), doc="a corrupt file: stop (raise) or skip and report"),
        label=F("str", "label", doc="label column (text, tabular) or array key (npz/safetensors)"),
        text=F("str", "text", doc="text column (kind: text)"),
        features=F("list", None, nullable=True, items="str", doc="tabular feature columns (default: all but label)"),
        categorical=F("list", None, nullable=True, items="str",
                      doc="tabular columns to one-hot encode (default: non-numeric columns)"),
        inputs=F("str", "x", doc="array key of the inputs (npz/safetensors)"),
        limit=F("int", None, nullable=True, min=1, doc="use at most this many samples: a seeded random subset (quick runs)"),
        num_workers=F("int", 0, min=0, doc="C++ DataLoader worker threads for file data"),
        image=_section(
            size=F("list", [32, 32], items="int", doc="[height, width] after resize"),
            channels=F("int", 3, choices=(1, 3), doc="1: grayscale, 3: RGB"),
            mean=F("list", None, nullable=True, items="float", doc="per-channel mean (default 0.5 each)"),
            std=F("list", None, nullable=True, items="float", doc="per-channel std (default 0.5 each)"),
            augment=F("bool", False, doc="random crop and horizontal flip while training"),
        ),
        audio=_section(
            sample_rate=F("int", 16000, min=1000, doc="resample to this rate"),
            duration=F("float", 1.0, min=0.01, doc="seconds: clips are padded or cut to this length"),
            n_mels=F("int", 40, min=4, doc="mel bands"),
            n_fft=F("int", 512, min=16),
            hop_length=F("int", 160, min=1),
            # Training only (train/augment_audio.py): validation and prediction read the clean log-mel. Mild
            # defaults: 2 masks of 8 bands + 2 of 20 frames, noise at 0-20 dB SNR on half the clips and 0.1 s
            # zero-filled shifts scored 53% against 88% without on the raw-file bench's noisy words (10 epochs).
            augment=_section(
                enabled=F("bool", False, doc="augment the training clips afresh every epoch (seeded by data.seed)"),
                shift=F("float", 0.05, min=0.0, doc="seconds: each clip rotates by up to this much either way"),
                noise=F("float", 0.3, min=0.0, max=1.0, doc="share of the clips that get noise mixed in"),
                snr=F("list", [10.0, 30.0], items="float", doc="[low, high] dB: the noise's signal-to-noise ratio"),
                freq_masks=F("int", 1, min=0, doc="SpecAugment frequency masks per clip"),
                freq_width=F("int", 5, min=0, doc="mel bands: a frequency mask's widest band"),
                time_masks=F("int", 1, min=0, doc="SpecAugment time masks per clip"),
                time_width=F("int", 10, min=0,
                               doc="frames: a time mask's longest span (at most a fifth of the clip's frames)"),
            ),
        ),
        tokenizer=_section(
            kind=F("str", "word", choices=("word", "char"), doc="vocabulary built from the training text: words or characters"),
            vocab_size=F("int", 5000, min=16),
            max_length=F("int", 64, min=2, doc="tokens per text (padded or cut)"),
            lowercase=F("bool", True),
        ),
    ),
    "model": _section(
        name=F("str", "auto", doc="auto (from the modality), a built-in family, or module:function"),
    ),
    "optimizer": _section(
        name=F("str", "adam", choices=("adam", "adamw", "sgd", "rmsprop")),
        lr=F("float", 1e-3, min=0.0, min_exclusive=True),
        weight_decay=F("float", 0.0, min=0.0),
        momentum=F("float", 0.9, min=0.0, max=1.0, doc="sgd and rmsprop only"),
        nesterov=F("bool", False, doc="sgd only"),
        betas=F("list", [0.9, 0.999], items="float", doc="adam and adamw only"),
    ),
    "schedule": _section(
        name=F("str", "none", choices=("none", "step", "cosine", "onecycle", "plateau", "exponential")),
        step_size=F("int", 10, min=1, doc="step: epochs between decays"),
        gamma=F("float", 0.1, min=0.0, doc="step/exponential: decay factor"),
        min_lr=F("float", 0.0, min=0.0, doc="cosine: final lr; plateau: lower bound"),
        max_lr=F("float", None, nullable=True, doc="onecycle: peak lr (default: optimizer.lr * 10)"),
        patience=F("int", 3, min=0, doc="plateau: epochs without improvement"),
        factor=F("float", 0.5, min=0.0, max=1.0, doc="plateau: lr multiplier"),
        monitor=F("str", "val_loss", doc="plateau: metric watched"),
    ),
    "train": _section(
        epochs=F("int", 10, min=1),
        batch_size=F("int", 32, min=1),
        seed=F("int", 0),
        device=F("str", "cpu", doc="cpu or cuda[:N]"),
        loss=F("str", "auto", choices=("auto", "cross_entropy", "mse", "mae", "smooth_l1"),
               doc="auto: cross_entropy for classification, mse for regression"),
        label_smoothing=F("float", 0.0, min=0.0, max=1.0),
        verbose=F("bool", True, doc="one line per epoch on stderr"),
        callbacks=_section(
            early_stopping=_section(
                enabled=F("bool", False),
                monitor=F("str", "val_loss"),
                patience=F("int", 5, min=0),
                min_delta=F("float", 0.0, min=0.0),
                restore_best_weights=F("bool", True),
            ),
            checkpoint=_section(
                enabled=F("bool", False, doc="save checkpoints/epoch-NN.safetensors in the output folder"),
                monitor=F("str", "val_loss"),
                save_best_only=F("bool", True),
            ),
        ),
    ),
    "output": _section(
        dir=F("str", "tessel-runs/{experiment}/{time}",
              doc="output folder; {experiment}, {time} and {run_name} are filled in"),
        overwrite=F("bool", True, doc="write into an existing folder"),
        export_onnx=F("bool", True),
        opset=F("int", 18, min=13, max=21),
        register=F("str", None, nullable=True, doc="registry model name: add a version"),
        alias=F("str", None, nullable=True, doc="alias set on the registered version (e.g. champion)"),
    ),
}

# Built-in model families: their keys (model.<key>) and the modalities they take.
MODEL_FAMILIES = {
    "mlp": {"modalities": ("tabular", "array"), "keys": _section(
        hidden=F("list", [128, 64], items="int", doc="hidden layer widths"),
        dropout=F("float", 0.1, min=0.0, max=0.95),
        activation=F("str", "relu", choices=("relu", "gelu", "tanh", "silu")),
        batch_norm=F("bool", False),
        residual=F("bool", False, doc="residual blocks (hidden widths must be equal)"),
    )},
    "cnn": {"modalities": ("image", "audio"), "keys": _section(
        channels=F("list", [32, 64], items="int", doc="conv widths, one 3x3 conv + pool per entry"),
        dropout=F("float", 0.2, min=0.0, max=0.95),
        batch_norm=F("bool", True),
    )},
    "resnet": {"modalities": ("image", "audio"), "keys": _section(
        channels=F("list", [32, 64, 128], items="int", doc="stage widths; each stage halves the size after the first"),
        blocks=F("int", 1, min=1, max=8, doc="residual blocks per stage"),
        dropout=F("float", 0.0, min=0.0, max=0.95),
    )},
    "audio_cnn": {"modalities": ("audio",), "keys": _section(
        channels=F("list", [16, 32, 64], items="int", doc="conv widths on the log-mel image"),
        dropout=F("float", 0.2, min=0.0, max=0.95),
        pool=F("str", "mean", choices=("mean", "meanmax"), doc="mean over frequency and time, or mean and max"),
        center=F("bool", False, doc="subtract each clip's mean log-mel level (gain invariance)"),
    )},
    "text_transformer": {"modalities": ("text",), "keys": _section(
        dim=F("int", 64, min=8),
        heads=F("int", 4, min=1),
        layers=F("int", 2, min=1, max=12),
        ff_dim=F("int", 128, min=8),
        dropout=F("float", 0.1, min=0.0, max=0.95),
    )},
    "text_bag": {"modalities": ("text",), "keys": _section(
        dim=F("int", 64, min=8, doc="embedding size, averaged over the tokens"),
        hidden=F("int", 64, min=0, doc="hidden layer after the average (0: none)"),
        dropout=F("float", 0.1, min=0.0, max=0.95),
    )},
    "text_tf": {"modalities": ("text",), "keys": _section(
        hidden=F("int", 0, min=0, doc="hidden layer after the log-count vector (0: a linear model)"),
        dropout=F("float", 0.1, min=0.0, max=0.95),
        pairs=F("int", 0, min=0, doc="columns for adjacent token pairs, hashed (0: single tokens only)"),
        idf=F("bool", False, doc="weight each column by its inverse document frequency in the training texts"),
    )},
    # Not trained by gradient steps: the optimizer and schedule sections do not apply; train.epochs splits
    # the trees into that many reporting steps (callbacks, pruning, history).
    "boosted_trees": {"modalities": ("tabular", "array"), "keys": _section(
        trees=F("int", 1000, min=1, doc="trees at most (fewer when early stopping fires)"),
        depth=F("int", 6, min=1, max=12, doc="levels per (oblivious) tree: 2^depth leaves"),
        learning_rate=F("float", 0.1, min=0.0, min_exclusive=True, doc="shrinkage of each tree's leaves"),
        l2=F("float", 1.0, min=0.0, doc="L2 penalty on leaf values"),
        subsample=F("float", 1.0, min=0.0, max=1.0, min_exclusive=True, doc="rows drawn per tree"),
        colsample=F("float", 1.0, min=0.0, max=1.0, min_exclusive=True, doc="features drawn per tree"),
        max_bins=F("int", 255, min=2, max=256, doc="bins per feature (quantile borders of the training rows)"),
        early_stopping=F("int", 50, min=0, doc="trees without a better validation loss before growing stops "
                                                "(0: never; the best count is kept)"),
    )},
    # Ridge or multinomial logistic regression, solved (like boosted_trees, no optimizer section); train.epochs
    # splits the solver's iterations into reporting steps.
    "linear": {"modalities": ("tabular", "array"), "keys": _section(
        l2=F("float", 1e-3, min=0.0, doc="L2 penalty on the weights: mean loss + l2/2 |W|^2 (the bias is free)"),
        iterations=F("int", 200, min=1, doc="L-BFGS iterations at most (classification; regression is solved "
                                            "exactly)"),
    )},
    # TF-IDF + logistic regression on text: text_tf's features with one solved linear head.
    "text_linear": {"modalities": ("text",), "keys": _section(
        pairs=F("int", 0, min=0, doc="columns for adjacent token pairs, hashed (0: single tokens only)"),
        idf=F("bool", False, doc="weight each column by its inverse document frequency in the training texts"),
        l2=F("float", 1e-3, min=0.0, doc="L2 penalty on the weights: mean loss + l2/2 |W|^2 (the bias is free)"),
        iterations=F("int", 200, min=1, doc="L-BFGS iterations at most (classification; regression is solved "
                                            "exactly)"),
    )},
}
# Families fit by a solver (tessel.models.trees, tessel.models.linear), not by an optimizer's steps.
SOLVER_FAMILIES = ("boosted_trees", "linear", "text_linear")
# Families over token ids: their vocab_size is the trained tokenizer's.
TEXT_FAMILIES = tuple(f for f, spec in MODEL_FAMILIES.items() if "text" in spec["modalities"])
DEFAULT_FAMILY = {"image": "cnn", "audio": "audio_cnn", "text": "text_transformer", "tabular": "mlp", "array": "mlp"}
MODALITY_OF_KIND = {"image_folder": "image", "audio_folder": "audio", "text": "text", "tabular": "tabular",
                    "arrays": "array"}  # sklearn: tabular


# ----- --set overrides -----------------------------------------------------------------------------------

def parse_override(text):
    """'a.b=c' -> (['a', 'b'], value) with the value parsed as a YAML scalar
    ('3' -> 3, 'true' -> True, '[1, 2]' -> [1, 2], 'abc' -> 'abc')."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. optimizer.lr=0.01")
    key, raw = text.split("=", 1)
    key = key.strip()
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"--set {text!r}: the key must be dotted names, e.g. train.epochs")
    import yaml
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML: {e}") from None
    return parts, value


def apply_overrides(raw, overrides, cwd=None):
    """A copy of `raw` with each 'a.b=c' set (sections created as needed)."""
    out = copy.deepcopy(raw)
    for text in overrides or ():
        parts, value = parse_override(text)
        if cwd is not None and parts[0] == "data" and len(parts) == 2 and parts[1] in ("path", "val_path") \
                and isinstance(value, str) and not _is_special_path(value):
            value = os.path.abspath(os.path.join(cwd, value))
        node = out
        for i, p in enumerate(parts[:-1]):
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            elif not isinstance(nxt, dict):
                raise ConfigError(f"--set {'.'.join(parts)}: {'.'.join(parts[:i + 1])} is not a section "
                                  f"(it is {nxt!r})")
            node = nxt
        node[parts[-1]] = value
    return out


# ----- validation ----------------------------------------------------------------------------------------

def _tname(v):
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "null"}.get(type(v), type(v).__name__)


def _check_scalar(kind, v):
    """(ok, converted value)."""
    if kind == "any":
        return True, v
    if kind == "bool":
        return isinstance(v, bool), v
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool), v
    if kind == "float":
        if isinstance(v, bool):
            return False, v
        if isinstance(v, (int, float)):
            return True, float(v)
        return False, v
    if kind == "str":
        return isinstance(v, str), v
    if kind == "list":
        return isinstance(v, (list, tuple)), list(v) if isinstance(v, (list, tuple)) else v
    if kind == "dict":
        return isinstance(v, dict), v
    raise AssertionError(kind)


_EXPECT = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false", "list": "a list",
           "dict": "a mapping"}


def _check_field(f, v, key, errors):
    if v is None:
        if f.nullable:
            return None
        errors.append(f"{key}: expected {_EXPECT.get(f.type, f.type)}, got null")
        return v
    ok, v = _check_scalar(f.type, v)
    if not ok:
        errors.append(f"{key}: expected {_EXPECT.get(f.type, f.type)}, got {v!r}")
        return v
    if f.type == "list" and f.items:
        fixed = []
        for i, item in enumerate(v):
            ok, item = _check_scalar(f.items, item)
            if not ok:
                errors.append(f"{key}[{i}]: expected {_EXPECT[f.items]}, got {item!r}")
            fixed.append(item)
        v = fixed
    if f.choices is not None and v not in f.choices:
        close = difflib.get_close_matches(str(v), [str(c) for c in f.choices], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        errors.append(f"{key}: {v!r} is not one of {', '.join(repr(c) for c in f.choices)}{hint}")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if f.min is not None and (v < f.min or (f.min_exclusive and v == f.min)):
            errors.append(f"{key}: must be {'>' if f.min_exclusive else '>='} {f.min}, got {v!r}")
        if f.max is not None and v > f.max:
            errors.append(f"{key}: must be <= {f.max}, got {v!r}")
    return v


def _validate_section(spec, raw, prefix, errors, extra_ok=False):
    """Defaults filled in, types checked; unknown keys reported with a did-you-mean."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors.append(f"{prefix}: expected a mapping of keys, got {raw!r}")
        raw = {}
    out = {}
    for k, v in raw.items():
        if not isinstance(k, str):
            errors.append(f"{prefix}.{k}: keys must be strings")
            continue
        if k not in spec:
            if extra_ok:
                out[k] = copy.deepcopy(v)
                continue
            close = difflib.get_close_matches(k, list(spec), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(spec)})"
            errors.append(f"{prefix}.{k}: unknown key{hint}")
    for k, f in spec.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(f, dict):
            v = raw.get(k)
            if k in ("early_stopping", "checkpoint", "augment"):  # a dict `augment` is data.audio's
                v = _shorthand_callback(v)
            out[k] = _validate_section(f, v, key, errors)
        elif k in raw:
            out[k] = _check_field(f, raw[k], key, errors)
        elif f.required:
            errors.append(f"{key}: required key is missing")
        else:
            out[k] = copy.deepcopy(f.default)
    return out


def _shorthand_callback(v):
    # `early_stopping: true` / `early_stopping: {patience: 3}` enable it; `false`/null disable it.
    if isinstance(v, bool):
        return {"enabled": v}
    if isinstance(v, dict) and v and "enabled" not in v and not any(isinstance(x, dict) for x in v.values()):
        return {"enabled": True, **v}
    return v


def _is_special_path(p):
    return p.startswith("sklearn:") or "://" in p


def _anchor(p, base_dir):
    if p is None or _is_special_path(p) or os.path.isabs(p):
        return p
    return os.path.normpath(os.path.join(base_dir or os.getcwd(), os.path.expanduser(p)))


def _infer_kind(path):
    """The data kind from a path: sklearn:NAME, an array or table file, or a folder of class folders."""
    if path.startswith("sklearn:"):
        return "sklearn"
    ext = os.path.splitext(path)[1].lower()
    if os.path.isfile(path):
        if ext in ARRAY_EXT:
            return "arrays"
        if ext in TABLE_EXT:
            return None  # text or tabular: decided by the columns (see _infer_table_kind)
        return None
    if os.path.isdir(path):
        n_img = n_aud = 0
        for root, _dirs, files in os.walk(path):
            for fn in files:
                e = os.path.splitext(fn)[1].lower()
                n_img += e in IMAGE_EXT
                n_aud += e in AUDIO_EXT
            if n_img + n_aud > 50:
                break
        if n_img or n_aud:
            return "image_folder" if n_img >= n_aud else "audio_folder"
    return None


def _table_columns(path):
    ext = os.path.splitext(path)[1].lower()
    import csv
    import json
    try:
        with open(path, newline="", encoding="utf-8") as f:
            if ext in (".jsonl", ".json"):
                first = f.readline()
                row = json.loads(first) if first.strip() else {}
                return list(row) if isinstance(row, dict) else []
            return next(csv.reader(f, delimiter="\t" if ext == ".tsv" else ","), [])
    except (OSError, UnicodeDecodeError, ValueError):
        return []


def _check_data(d, errors, given=None):
    def shown(p):  # the path as the user wrote it, with the resolved one when they differ
        g = (given or {}).get(p, p)
        return repr(g) if g == p else f"{g!r} ({p})"

    path = d.get("path")
    if not isinstance(path, str):
        return
    if path.startswith("sklearn:"):
        from ..train.sources import SKLEARN_DATASETS
        name = path.split(":", 1)[1]
        if name not in SKLEARN_DATASETS:
            close = difflib.get_close_matches(name, list(SKLEARN_DATASETS), n=1)
            hint = f" (did you mean 'sklearn:{close[0]}'?)" if close else ""
            errors.append(f"data.path: unknown scikit-learn dataset {name!r}{hint}; known: "
                          f"{', '.join(SKLEARN_DATASETS)}")
            return
    elif not os.path.exists(path):
        what = "file" if os.path.splitext(path)[1] else "folder"
        errors.append(f"data.path: {what} {shown(path)} does not exist")
        return
    for key in ("val_path",):
        p = d.get(key)
        if isinstance(p, str) and not _is_special_path(p) and not os.path.exists(p):
            errors.append(f"data.{key}: {shown(p)} does not exist")
    kind = d.get("kind")
    if kind == "auto":
        kind = _infer_kind(path)
        if kind is None and os.path.isfile(path) and os.path.splitext(path)[1].lower() in TABLE_EXT:
            cols = _table_columns(path)
            kind = "text" if d.get("text") in cols else "tabular"
        if kind is None:
            errors.append(f"data.kind: cannot tell the kind of {path!r} (no image or audio files in class "
                          f"folders, not a .csv/.jsonl/.npy/.npz/.safetensors file): set data.kind to one of "
                          f"{', '.join(DATA_KINDS)}")
            return
        d["kind"] = kind
    if kind in ("image_folder", "audio_folder") and not os.path.isdir(path):
        errors.append(f"data.path: {kind} needs a folder with one subfolder per class, {path!r} is a file")
    if kind in ("text", "tabular") and os.path.isfile(path):
        cols = _table_columns(path)
        if cols:
            for key in (("label", "text") if kind == "text" else ("label",)):
                if d.get(key) not in cols:
                    close = difflib.get_close_matches(str(d.get(key)), cols, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    errors.append(f"data.{key}: column {d.get(key)!r} is not in {path!r}{hint}; columns: "
                                  f"{', '.join(cols[:20])}")
            for key in ("features", "categorical"):
                for c in d.get(key) or ():
                    if c not in cols:
                        errors.append(f"data.{key}: column {c!r} is not in {path!r}")
    if kind == "sklearn" and not path.startswith("sklearn:"):
        errors.append(f"data.path: kind sklearn needs a path like 'sklearn:digits', got {path!r}")
    img = d.get("image") or {}
    size = img.get("size")
    if isinstance(size, list) and (len(size) != 2 or any(not isinstance(s, int) or s < 4 for s in size)):
        errors.append(f"data.image.size: expected [height, width] of integers >= 4, got {size!r}")
    for key in ("mean", "std"):
        v = img.get(key)
        if isinstance(v, list) and len(v) != img.get("channels", 3):
            errors.append(f"data.image.{key}: expected {img.get('channels', 3)} values (one per channel), got {v!r}")


def _check_audio_augment(a, errors):
    """data.audio.augment against the clip it augments: an SNR range, and (when enabled) frequency masks
    narrower than the mel bands and a shift shorter than the clip (time masks are capped by the loader)."""
    aug = a.get("augment") if isinstance(a, dict) else None
    if not isinstance(aug, dict):
        return
    snr = aug.get("snr")
    if isinstance(snr, list) and (len(snr) != 2 or snr[0] > snr[1]):
        errors.append(f"data.audio.augment.snr: expected [low, high] dB with low <= high, got {snr!r}")
    if aug.get("enabled") is not True:
        return
    n_mels, width = a.get("n_mels"), aug.get("freq_width")
    if isinstance(n_mels, int) and isinstance(width, int) and width > n_mels:
        errors.append(f"data.audio.augment.freq_width: {width} bands is more than data.audio.n_mels ({n_mels})")
    dur, shift = a.get("duration"), aug.get("shift")
    if isinstance(shift, (int, float)) and isinstance(dur, (int, float)) and shift >= dur:
        errors.append(f"data.audio.augment.shift: {shift:g} s is not shorter than data.audio.duration ({dur:g} s)")


def modality_of(kind):
    return "tabular" if kind == "sklearn" else MODALITY_OF_KIND.get(kind)


def _check_model(raw_model, kind, errors):
    """The model section: name, then the family's keys (user functions take any keys)."""
    if raw_model is None:
        raw_model = {}
    if not isinstance(raw_model, dict):
        errors.append(f"model: expected a mapping of keys, got {raw_model!r}")
        raw_model = {}
    name = raw_model.get("name", "auto")
    if not isinstance(name, str):
        errors.append(f"model.name: expected a string, got {name!r}")
        return {"name": name}
    modality = modality_of(kind) if kind else None
    if name == "auto":
        if modality is None:
            return {"name": name, **{k: v for k, v in raw_model.items() if k != "name"}}
        name = DEFAULT_FAMILY[modality]
    if ":" in name:
        mod, _, fn = name.partition(":")
        if not mod or not fn:
            errors.append(f"model.name: {name!r} must be module:function")
        return {"name": name, **{k: copy.deepcopy(v) for k, v in raw_model.items() if k != "name"}}
    if name not in MODEL_FAMILIES:
        close = difflib.get_close_matches(name, list(MODEL_FAMILIES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        errors.append(f"model.name: unknown model {name!r}{hint}; built-in: {', '.join(MODEL_FAMILIES)}, "
                      f"or module:function")
        return {"name": name}
    fam = MODEL_FAMILIES[name]
    if modality is not None and modality not in fam["modalities"]:
        errors.append(f"model.name: {name!r} takes {'/'.join(fam['modalities'])} data, but data.kind "
                      f"{kind!r} is {modality}; use {DEFAULT_FAMILY[modality]!r}")
    body = {k: v for k, v in raw_model.items() if k != "name"}
    out = {"name": name}
    out.update(_validate_section(fam["keys"], body, "model", errors))
    return out


def validate(raw, base_dir=None):
    """The full resolved config (a plain dict) from a raw mapping; ConfigError
    lists every problem, each naming its key."""
    errors = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping of sections, got {type(raw).__name__}")
    raw = copy.deepcopy(raw)
    # Data paths are anchored before anything looks at the file system.
    given = {}
    if isinstance(raw.get("data"), dict):
        for key in ("path", "val_path"):
            if isinstance(raw["data"].get(key), str):
                given[raw["data"][key]] = _anchor(raw["data"][key], base_dir)
                raw["data"][key] = given[raw["data"][key]]
    # Top level: unknown sections first, then each section.
    out = {}
    for k in raw:
        if k not in SCHEMA:
            close = difflib.get_close_matches(str(k), list(SCHEMA), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (sections: {', '.join(SCHEMA)})"
            errors.append(f"{k}: unknown section{hint}")
    for k, sec in SCHEMA.items():
        if k == "model":
            continue
        out[k] = _validate_section(sec, raw.get(k), k, errors)
    if not any(e.startswith("data") for e in errors):  # the data section is well-typed: look at the files
        _check_data(out["data"], errors, {v: k for k, v in given.items()})
    kind = out["data"].get("kind")
    out["model"] = _check_model(raw.get("model"), None if kind == "auto" else kind, errors)
    out = {k: out[k] for k in SCHEMA}  # section order as documented
    _check_cross(out, errors)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors), errors)
    return out


def _check_cross(cfg, errors):
    o, s, m = cfg["optimizer"], cfg["schedule"], cfg["model"]
    if len(o.get("betas") or []) != 2:
        errors.append(f"optimizer.betas: expected two numbers, got {o.get('betas')!r}")
    if s.get("max_lr") is not None and s["max_lr"] <= 0:
        errors.append(f"schedule.max_lr: must be > 0, got {s['max_lr']!r}")
    if m.get("name") == "mlp" and m.get("residual") and len(set(m.get("hidden") or [])) > 1:
        errors.append(f"model.hidden: residual blocks need equal widths, got {m['hidden']!r}")
    if m.get("name") == "text_transformer" and isinstance(m.get("dim"), int) and isinstance(m.get("heads"), int) \
            and m["heads"] and m["dim"] % m["heads"]:
        errors.append(f"model.heads: dim {m['dim']} must be divisible by heads {m['heads']}")
    for key in ("hidden", "channels"):
        v = m.get(key)
        if isinstance(v, list) and any(isinstance(x, int) and x < 1 for x in v):
            errors.append(f"model.{key}: widths must be >= 1, got {v!r}")
    _check_audio_augment(cfg["data"].get("audio"), errors)
    if cfg["data"].get("seed") is None:
        cfg["data"]["seed"] = cfg["train"]["seed"]
    reg = cfg["output"].get("register")
    if reg is not None:
        from ..store.registry import check_model_name
        try:
            check_model_name(reg)
        except ValueError as e:
            errors.append(f"output.register: {e}")
    if cfg["output"].get("alias") is not None and reg is None:
        errors.append("output.alias: needs output.register (the model name)")


def resolve_config(raw, overrides=(), base_dir=None):
    """validate(apply_overrides(raw, overrides)) — the resolved plain dict."""
    return validate(apply_overrides(raw, overrides, cwd=os.getcwd()), base_dir=base_dir)


def flatten(cfg, prefix=""):
    """{'optimizer.lr': 0.001, ...}: the run's params in the tracking store."""
    out = {}
    for k, v in cfg.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


class TrainConfig:
    """A validated training config. `raw` is what was given (file + --set),
    `base_dir` anchors relative data paths; resolve() is the full plain dict."""

    def __init__(self, raw=None, overrides=(), base_dir=None, source=None):
        self.source = source
        self.base_dir = base_dir
        self.raw = apply_overrides(raw or {}, overrides, cwd=os.getcwd())
        self._resolved = validate(self.raw, base_dir=base_dir)

    @classmethod
    def from_file(cls, path, overrides=()):
        from . import load_file
        path = os.fspath(path)
        if not os.path.exists(path):
            raise ConfigError(f"config file {path} does not exist")
        raw = load_file(path)
        try:
            return cls(raw, overrides, base_dir=os.path.dirname(os.path.abspath(path)), source=path)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}", getattr(e, "errors", None)) from None

    def resolve(self):
        return copy.deepcopy(self._resolved)

    def __getitem__(self, key):
        return self._resolved[key]

    def to_yaml(self):
        import yaml
        return yaml.safe_dump(self._resolved, sort_keys=False)

    def __repr__(self):
        return f"TrainConfig({self.source or 'dict'})"
