"""Planning: candidate model families per modality, their search spaces, and
the train configs (tessel.config schema) that a trial's parameters become.

A search space is a list of Dims; `sample(trial, space)` asks Optuna for each
and `to_config(base, params)` turns the flat parameters into a config dict that
`tessel.train.run` validates and runs. Parameter names are prefixed with the
family (mlp.width) so that TPE keeps the families' spaces apart.
"""
import copy
import dataclasses

__all__ = ["Dim", "CANDIDATES", "SPACES", "COMMON", "COMMON_DEFAULTS", "NO_COMMON", "MAX_EPOCHS", "TREES_PER_EPOCH",
           "VAL_REPEATS", "candidates", "max_epochs", "val_repeats",
           "sample", "to_config", "defaults"]

# Families tried per modality, best first (the first one's defaults are trial 0).
CANDIDATES = {
    # Boosted trees first: on the 13-table bench the MLP alone lost most tables with categorical columns to the
    # tree ensembles of FLAML and AutoGluon (bench/README.md).
    # linear (ridge / logistic regression, solved in well under a second) is the third view of a table: it wins
    # where the signal is close to linear and adds what the trees lack to the ensemble.
    "tabular": ("boosted_trees", "mlp", "linear"),
    "array": ("boosted_trees", "mlp", "linear"),
    "mixed": ("boosted_trees", "mlp", "linear"),
    "image": ("cnn", "resnet"),
    # resnet reads the log-mel image as a picture: on the raw-file bench it never won (val loss 0.64 against
    # audio_cnn's 0.006 on digits, 2.6 against 0.6-0.9 on noisy words) and its 12-40 s trials ran the search past
    # the budget; it stays available through families=.
    "audio": ("audio_cnn",),
    # text_linear (TF-IDF-style logistic regression, solved in a second or two) first: the baseline that the
    # hand-written anchor of the raw-file bench is (96.5% on man pages against text_tf's 94.8% by Adam).
    "text": ("text_linear", "text_tf", "text_bag", "text_transformer"),
}

# Epochs per trial at most, per modality (AutoML's max_epochs=None; others 10). Audio trains with its clips
# augmented (audio_cnn.augment's default), which needs about twice the epochs to pay off: on noisy words with
# held-out voices (bench_agent_raw.py hard_speech, 120 s budget, seeds 0/1/2) 10 epochs without augmentation
# scored 85.6/82.8/88.4% and 20 with it 88.1/86.2/90.6%, in 91-109 s.
MAX_EPOCHS = {"audio": 20}
DEFAULT_MAX_EPOCHS = 10
# A boosted-trees trial's "epoch" (its reporting step, what the schedule counts and the pruner compares) is
# this many trees: 10 epochs grow at most 1,000, with early stopping on the validation split.
TREES_PER_EPOCH = 100


# Train/validation splits per trial for small tables (AutoML's val_repeats=None), by rows: one 20% split of a
# few hundred rows is a noisy judge, and hundreds of cheap trials then pick the luckiest (on diabetes, 442
# rows, 347 trials of boosted trees scored val 0.30 and test RMSE 64 against 57.5 before). Each split is a
# seeded shuffle (data.seed + r); the trial's value is their mean.
VAL_REPEATS = ((1500, 5), (4000, 3))


def val_repeats(profile):
    """Train/validation splits per trial for this data (VAL_REPEATS; tables only)."""
    if profile.modality not in ("tabular", "array"):  # mixed tables with text train a tokenizer per split
        return 1
    for rows, repeats in VAL_REPEATS:
        if profile.n_samples < rows:
            return repeats
    return 1


def max_epochs(profile):
    """The epochs per trial at most for this data (MAX_EPOCHS)."""
    return MAX_EPOCHS.get(profile.modality, DEFAULT_MAX_EPOCHS)


@dataclasses.dataclass(frozen=True)
class Dim:
    name: str
    kind: str            # int, float, log, cat
    low: object = None
    high: object = None
    choices: tuple = ()
    default: object = None


# Family keys: the model section of the config is built from these (see to_config).
SPACES = {
    "mlp": (Dim("width", "cat", choices=(32, 64, 128, 256), default=128),
            Dim("depth", "int", 1, 3, default=2),
            Dim("dropout", "float", 0.0, 0.5, default=0.1),
            Dim("activation", "cat", choices=("relu", "gelu", "silu"), default="relu"),
            Dim("batch_norm", "cat", choices=(False, True), default=False),
            Dim("residual", "cat", choices=(False, True), default=False)),
    "cnn": (Dim("base", "cat", choices=(16, 32, 64), default=32),
            Dim("depth", "int", 2, 3, default=2),
            Dim("dropout", "float", 0.0, 0.5, default=0.2)),
    "resnet": (Dim("base", "cat", choices=(16, 32), default=16),
               Dim("depth", "int", 2, 3, default=3),
               Dim("blocks", "int", 1, 2, default=1),
               Dim("dropout", "float", 0.0, 0.3, default=0.0)),
    # Spoken words need the 4th stage's receptive field, mean+max pooling and per-clip centering:
    # on noisy words with unseen voices 3 stages and mean pooling stayed near chance for 5 epochs.
    "audio_cnn": (Dim("base", "cat", choices=(8, 16, 32), default=16),
                  Dim("depth", "int", 3, 4, default=4),
                  Dim("dropout", "float", 0.0, 0.5, default=0.2),
                  Dim("pool", "cat", choices=("meanmax", "mean"), default="meanmax"),
                  # data.audio.augment (shift, noise, SpecAugment masks while training), on in the first trial
                  # with twice the epochs (MAX_EPOCHS): at 10 epochs it scored 86.2% against 88.1% without on
                  # noisy words (held-out voices), at 20 91.9% against 89.7% (bench/README.md).
                  Dim("augment", "cat", choices=(False, True), default=True)),
    # length: tokens read per text (data.tokenizer.max_length), cheap for a bag of embeddings; searched, not
    # the default: on man pages 1024 tokens gave a worse first trial (val loss 0.66 vs 0.51 at 64).
    "text_bag": (Dim("dim", "cat", choices=(32, 64, 128), default=64),
                 Dim("hidden", "cat", choices=(0, 64, 128), default=64),
                 Dim("dropout", "float", 0.0, 0.5, default=0.1),
                 Dim("length", "cat", choices=(64, 256, 1024), default=64)),
    # length: tokens read per text; the log-count vector of the whole text is what TF-IDF baselines read.
    "text_tf": (Dim("hidden", "cat", choices=(0, 64, 256), default=0),
                Dim("pairs", "cat", choices=(0, 16384), default=16384),
                Dim("dropout", "float", 0.0, 0.5, default=0.1),
                Dim("length", "cat", choices=(256, 1024, 4096), default=1024)),
    # Not trained by an optimizer: COMMON does not apply (NO_COMMON).
    "boosted_trees": (Dim("depth", "int", 3, 8, default=6),
                      Dim("learning_rate", "log", 0.02, 0.3, default=0.1),
                      Dim("l2", "log", 0.1, 30.0, default=1.0),
                      Dim("subsample", "float", 0.5, 1.0, default=1.0),
                      Dim("colsample", "float", 0.3, 1.0, default=1.0)),
    # The penalty of the mean loss on standardized inputs; 1e-3 is scikit-learn's C = 1 at about 1,000 rows.
    "linear": (Dim("l2", "log", 1e-6, 1.0, default=1e-3),),
    # The same on text_tf's unit-length vectors, whose small per-word values need a smaller penalty.
    "text_linear": (Dim("l2", "log", 1e-6, 1e-1, default=1e-4),
                    Dim("pairs", "cat", choices=(0, 16384), default=16384),
                    Dim("idf", "cat", choices=(False, True), default=True),
                    Dim("length", "cat", choices=(256, 1024, 4096), default=1024)),
    "text_transformer": (Dim("dim", "cat", choices=(32, 64), default=64),
                         Dim("heads", "cat", choices=(2, 4), default=4),
                         Dim("layers", "int", 1, 2, default=2),
                         Dim("dropout", "float", 0.0, 0.3, default=0.1)),
}

# Shared by every family.
COMMON = (Dim("optimizer", "cat", choices=("adam", "adamw"), default="adam"),
          Dim("lr", "log", 1e-4, 3e-2, default=3e-3),
          Dim("weight_decay", "log", 1e-6, 1e-2, default=1e-4),
          Dim("batch_size", "cat", choices=(32, 64, 128), default=64),
          Dim("schedule", "cat", choices=("none", "cosine"), default="none"))

# A family's own defaults for shared dims (its first trial). text_tf's unit-length log-count vectors spread
# over thousands of words give small per-word inputs, so its weights must grow far: at lr 3e-3 its first trial
# ended 10 epochs at val loss 0.96 on man pages, at 3e-2 (the top of the lr range) 0.23.
COMMON_DEFAULTS = {"text_tf": {"lr": 3e-2}}
# Families without the COMMON dims (fit by a solver: no optimizer, schedule or batches).
NO_COMMON = ("boosted_trees", "linear", "text_linear")


def candidates(profile, families=None):
    """The families to search for a profile (or the given ones, checked against
    the train schema and the data's modality)."""
    from ..config.schema import MODEL_FAMILIES
    modality = profile.modality
    if modality == "mixed":
        modality = "text" if profile.kind == "text" else "tabular"
    allowed = tuple(f for f, spec in MODEL_FAMILIES.items()
                    if modality in spec["modalities"] or (modality == "array" and "array" in spec["modalities"]))
    if families is None:
        fams = CANDIDATES.get(modality)
        if not fams:
            raise ValueError(f"the agent has no model family for {modality} data")
        return tuple(fams)
    if isinstance(families, str):
        families = (families,)
    fams = tuple(families)
    for f in fams:
        if f not in SPACES:
            import difflib
            close = difflib.get_close_matches(str(f), list(SPACES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"families: unknown family {f!r}{hint}; known: {', '.join(SPACES)}")
        if f not in allowed:
            raise ValueError(f"families: {f!r} does not take {modality} data; use one of {', '.join(allowed)}")
    if not fams:
        raise ValueError("families: give at least one family")
    return fams


def _suggest(trial, name, d):
    if d.kind == "cat":
        return trial.suggest_categorical(name, list(d.choices))
    if d.kind == "int":
        return trial.suggest_int(name, d.low, d.high)
    return trial.suggest_float(name, d.low, d.high, log=d.kind == "log")


def sample(trial, families, space=None):
    """Flat parameters {family, <family>.<key>, <common>} from an Optuna trial.
    space: {param name: Dim} replacing those dims (the advisor's changes)."""
    space = space or {}
    fam = trial.suggest_categorical("family", list(families)) if len(families) > 1 else families[0]
    params = {"family": fam}
    for d in SPACES[fam]:
        name = f"{fam}.{d.name}"
        params[name] = _suggest(trial, name, space.get(name, d))
    for d in () if fam in NO_COMMON else COMMON:
        params[d.name] = _suggest(trial, d.name, space.get(d.name, d))
    return params


def defaults(family, with_family=True, space=None):
    """The default point of a family (enqueued as its first trial)."""
    space = space or {}
    p = {"family": family} if with_family else {}
    p.update({f"{family}.{d.name}": space.get(f"{family}.{d.name}", d).default for d in SPACES[family]})
    own = COMMON_DEFAULTS.get(family, {})
    p.update({d.name: space[d.name].default if d.name in space else own.get(d.name, d.default)
              for d in (() if family in NO_COMMON else COMMON)})
    return p


def _model(fam, p):
    g = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith(fam + ".")}
    if fam == "mlp":
        return {"name": "mlp", "hidden": [g["width"]] * g["depth"], "dropout": g["dropout"],
                "activation": g["activation"], "batch_norm": g["batch_norm"], "residual": g["residual"]}
    if fam == "cnn":
        return {"name": fam, "channels": [g["base"] * 2 ** i for i in range(g["depth"])], "dropout": g["dropout"]}
    if fam == "audio_cnn":
        return {"name": fam, "channels": [g["base"] * 2 ** i for i in range(g["depth"])], "dropout": g["dropout"],
                "pool": g.get("pool", "mean"), "center": True}
    if fam == "resnet":
        return {"name": "resnet", "channels": [g["base"] * 2 ** i for i in range(g["depth"])],
                "blocks": g["blocks"], "dropout": g["dropout"]}
    if fam == "text_bag":
        return {"name": "text_bag", "dim": g["dim"], "hidden": g["hidden"], "dropout": g["dropout"]}
    if fam == "text_tf":
        return {"name": "text_tf", "hidden": g["hidden"], "dropout": g["dropout"], "pairs": g.get("pairs", 0)}
    if fam == "boosted_trees":
        return {"name": fam, "depth": g["depth"], "learning_rate": g["learning_rate"], "l2": g["l2"],
                "subsample": g["subsample"], "colsample": g["colsample"]}
    if fam == "linear":
        return {"name": fam, "l2": g["l2"]}
    if fam == "text_linear":
        return {"name": fam, "l2": g["l2"], "pairs": g["pairs"], "idf": g["idf"]}
    if fam == "text_transformer":
        return {"name": "text_transformer", "dim": g["dim"], "heads": g["heads"], "layers": g["layers"],
                "ff_dim": 2 * g["dim"], "dropout": g["dropout"]}
    raise ValueError(f"unknown family {fam!r}")


def to_config(base, params, epochs):
    """A train config dict: `base` (experiment, data, output, ...) with the
    model, optimizer, schedule and train sections from the parameters."""
    cfg = copy.deepcopy(base)
    fam = params["family"]
    cfg["model"] = _model(fam, params)
    train = cfg.setdefault("train", {})
    train["epochs"] = int(epochs)
    if f"{fam}.length" in params:  # text: the tokens read
        tok = cfg.setdefault("data", {}).setdefault("tokenizer", {})
        tok["max_length"] = int(params[f"{fam}.length"])
    if fam in NO_COMMON:
        if fam == "boosted_trees":
            cfg["model"]["trees"] = TREES_PER_EPOCH * int(epochs)
        return cfg
    opt = {"name": params["optimizer"], "lr": float(params["lr"])}
    if params["optimizer"] == "adamw":
        opt["weight_decay"] = float(params["weight_decay"])
    cfg["optimizer"] = opt
    cfg["schedule"] = {"name": params["schedule"]}
    if f"{fam}.augment" in params:  # audio: augmentation of the training clips, the rest of the section kept
        audio = cfg.setdefault("data", {}).setdefault("audio", {})
        aug = audio.setdefault("augment", {})
        aug["enabled"] = bool(params[f"{fam}.augment"])
        if aug["enabled"]:  # the default shift, or a fifth of a shorter clip
            aug.setdefault("shift", round(min(0.05, float(audio.get("duration", 1.0)) / 5), 4))
    train["batch_size"] = int(params["batch_size"])
    return cfg
