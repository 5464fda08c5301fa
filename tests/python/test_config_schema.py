"""The training config schema (tessel.config.schema): defaults, validation
errors naming the key, --set overrides, path anchoring and YAML round trip."""

import pytest
import yaml

from tessel.config import ConfigError, TrainConfig, resolve_config
from tessel.config.schema import SCHEMA, flatten, parse_override

DIGITS = {"data": {"path": "sklearn:digits"}}


def errors_of(raw, overrides=(), base_dir=None):
    with pytest.raises(ConfigError) as e:
        resolve_config(raw, overrides, base_dir=base_dir)
    return e.value.errors


def test_defaults_filled_and_sections_in_order():
    cfg = resolve_config(DIGITS)
    assert list(cfg) == list(SCHEMA)
    assert cfg["optimizer"] == {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "momentum": 0.9,
                                "nesterov": False, "betas": [0.9, 0.999]}
    assert cfg["train"]["epochs"] == 10 and cfg["train"]["batch_size"] == 32
    assert cfg["data"]["kind"] == "sklearn"          # inferred from the path
    assert cfg["data"]["seed"] == cfg["train"]["seed"] == 0
    assert cfg["model"]["name"] == "mlp"             # the tabular default family
    assert cfg["model"]["hidden"] == [128, 64]
    assert cfg["train"]["callbacks"]["early_stopping"]["enabled"] is False


def test_resolved_config_round_trips_through_yaml():
    cfg = resolve_config(DIGITS, ["schedule.name=cosine"])
    text = yaml.safe_dump(cfg, sort_keys=False)
    assert yaml.safe_load(text) == cfg
    assert resolve_config(yaml.safe_load(text)) == cfg  # resolving again changes nothing


def test_missing_data_path():
    assert errors_of({}) == ["data.path: required key is missing"]


def test_data_folder_does_not_exist(tmp_path):
    errs = errors_of({"data": {"path": "x"}}, base_dir=str(tmp_path))
    assert len(errs) == 1 and errs[0].startswith("data.path: folder 'x'") and "does not exist" in errs[0]


def test_wrong_type_names_key_and_value():
    errs = errors_of({**DIGITS, "optimizer": {"lr": "abc"}})
    assert errs == ["optimizer.lr: expected a number, got 'abc'"]
    assert errors_of({**DIGITS, "train": {"epochs": 2.5}}) == ["train.epochs: expected an integer, got 2.5"]
    assert errors_of({**DIGITS, "train": {"epochs": True}}) == ["train.epochs: expected an integer, got True"]


def test_unknown_key_did_you_mean():
    assert errors_of({**DIGITS, "optimizer": {"lrr": 0.1}}) == ["optimizer.lrr: unknown key (did you mean 'lr'?)"]
    assert errors_of({**DIGITS, "trian": {}}) == ["trian: unknown section (did you mean 'train'?)"]
    errs = errors_of({**DIGITS, "model": {"name": "mlp", "hiden": [3]}})
    assert errs == ["model.hiden: unknown key (did you mean 'hidden'?)"]


def test_all_errors_reported_at_once():
    errs = errors_of({**DIGITS, "optimizer": {"lr": -1, "name": "adamm"}, "train": {"batch_size": 0}})
    assert "optimizer.lr: must be > 0.0, got -1.0" in errs
    assert "optimizer.name: 'adamm' is not one of 'adam', 'adamw', 'sgd', 'rmsprop' (did you mean 'adam'?)" in errs
    assert "train.batch_size: must be >= 1, got 0" in errs


def test_choices_and_bounds():
    assert errors_of({**DIGITS, "data": {"path": "sklearn:digits", "val_split": 0.95}}) == \
        ["data.val_split: must be <= 0.9, got 0.95"]
    assert errors_of({**DIGITS, "data": {"path": "sklearn:digits", "on_error": "ignore"}})[0].startswith(
        "data.on_error: 'ignore' is not one of 'raise', 'skip'")


def test_unknown_sklearn_dataset():
    errs = errors_of({"data": {"path": "sklearn:digts"}})
    assert errs[0].startswith("data.path: unknown scikit-learn dataset 'digts' (did you mean 'sklearn:digits'?)")


def test_model_family_checks():
    errs = errors_of({**DIGITS, "model": {"name": "cnn"}})
    assert errs[0].startswith("model.name: 'cnn' takes image/audio data, but data.kind 'sklearn' is tabular")
    assert errs[0].endswith("use 'mlp'")
    assert errors_of({**DIGITS, "model": {"name": "mlpp"}})[0].startswith(
        "model.name: unknown model 'mlpp' (did you mean 'mlp'?)")
    cfg = resolve_config({**DIGITS, "model": {"name": "mymod:build", "width": 3}})
    assert cfg["model"] == {"name": "mymod:build", "width": 3}  # user functions take any keys
    assert errors_of({**DIGITS, "model": {"name": "mlp", "residual": True, "hidden": [8, 4]}}) == \
        ["model.hidden: residual blocks need equal widths, got [8, 4]"]


def test_list_items_typed():
    assert errors_of({**DIGITS, "model": {"hidden": [64, "x"]}}) == ["model.hidden[1]: expected an integer, got 'x'"]


def test_set_overrides_parse_yaml_scalars():
    assert parse_override("optimizer.lr=0.01") == (["optimizer", "lr"], 0.01)
    assert parse_override("train.verbose=false") == (["train", "verbose"], False)
    assert parse_override("model.hidden=[32, 16]") == (["model", "hidden"], [32, 16])
    assert parse_override("experiment.name=a=b") == (["experiment", "name"], "a=b")
    assert parse_override("output.register=null") == (["output", "register"], None)
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("train.epochs")
    with pytest.raises(ConfigError, match="dotted names"):
        parse_override("train..epochs=3")


def test_set_beats_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  path: sklearn:iris\ntrain:\n  epochs: 4\n")
    cfg = TrainConfig.from_file(p, ["train.epochs=7", "optimizer.lr=0.5"]).resolve()
    assert cfg["train"]["epochs"] == 7 and cfg["optimizer"]["lr"] == 0.5
    # a wrong key through --set is caught the same way
    with pytest.raises(ConfigError, match=r"optimizer\.lrr: unknown key \(did you mean 'lr'\?\)"):
        TrainConfig.from_file(p, ["optimizer.lrr=1"])
    with pytest.raises(ConfigError, match=r"train\.epochs: expected an integer, got 'abc'"):
        TrainConfig.from_file(p, ["train.epochs=abc"])


def test_set_paths_are_relative_to_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "cfgdir").mkdir()
    (tmp_path / "here" / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "here" / "imgs" / "a" / "1.png").write_bytes(b"x")
    p = tmp_path / "cfgdir" / "c.yaml"
    p.write_text("data:\n  path: imgs\n")
    monkeypatch.chdir(tmp_path / "here")
    cfg = TrainConfig.from_file(p, ["data.path=imgs"]).resolve()
    assert cfg["data"]["path"] == str(tmp_path / "here" / "imgs")
    with pytest.raises(ConfigError, match="data.path: folder 'imgs'"):
        TrainConfig.from_file(p)  # from the file: relative to cfgdir, where there is none


def test_json_and_toml_configs(tmp_path):
    (tmp_path / "c.json").write_text('{"data": {"path": "sklearn:iris"}, "train": {"epochs": 2}}')
    (tmp_path / "c.toml").write_text('[data]\npath = "sklearn:iris"\n[train]\nepochs = 2\n')
    a = TrainConfig.from_file(tmp_path / "c.json").resolve()
    b = TrainConfig.from_file(tmp_path / "c.toml").resolve()
    assert a == b and a["train"]["epochs"] == 2


def test_set_into_non_section():
    with pytest.raises(ConfigError, match="train.epochs is not a section"):
        resolve_config({**DIGITS, "train": {"epochs": 3}}, ["train.epochs.x=1"])


def test_file_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("optimizer: {lr: abc}\ndata: {path: sklearn:iris}\n")
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_file(p)
    assert str(p) in str(e.value) and "optimizer.lr: expected a number, got 'abc'" in str(e.value)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_file(tmp_path / "nope.yaml")


def test_relative_data_paths_from_config_folder(tmp_path):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "a" / "1.png").write_bytes(b"x")
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  path: imgs\n")
    cfg = TrainConfig.from_file(p).resolve()
    assert cfg["data"]["path"] == str(tmp_path / "imgs")
    assert cfg["data"]["kind"] == "image_folder" and cfg["model"]["name"] == "cnn"


def test_kind_inferred_from_columns(tmp_path):
    text = tmp_path / "t.csv"
    text.write_text("text,label\nhello,a\n")
    table = tmp_path / "n.csv"
    table.write_text("x1,x2,y\n1,2,3\n")
    assert resolve_config({"data": {"path": str(text)}})["data"]["kind"] == "text"
    assert resolve_config({"data": {"path": str(text)}})["model"]["name"] == "text_transformer"
    cfg = resolve_config({"data": {"path": str(table), "label": "y"}})
    assert cfg["data"]["kind"] == "tabular"
    errs = errors_of({"data": {"path": str(table), "label": "target"}})
    assert errs[0].startswith("data.label: column 'target' is not in")
    errs = errors_of({"data": {"path": str(table), "label": "y", "features": ["x3"]}})
    assert errs[0].startswith("data.features: column 'x3' is not in")


def test_unknown_kind(tmp_path):
    (tmp_path / "empty").mkdir()
    errs = errors_of({"data": {"path": str(tmp_path / "empty")}})
    assert errs[0].startswith("data.kind: cannot tell the kind of")


def test_callback_shorthand():
    cfg = resolve_config({**DIGITS, "train": {"callbacks": {"early_stopping": {"patience": 2}}}})
    es = cfg["train"]["callbacks"]["early_stopping"]
    assert es["enabled"] is True and es["patience"] == 2
    cfg = resolve_config({**DIGITS, "train": {"callbacks": {"checkpoint": True}}})
    assert cfg["train"]["callbacks"]["checkpoint"]["enabled"] is True


def test_register_name_and_alias():
    assert errors_of({**DIGITS, "output": {"register": "bad name"}})[0].startswith("output.register: model name")
    assert errors_of({**DIGITS, "output": {"alias": "champion"}}) == ["output.alias: needs output.register "
                                                                      "(the model name)"]


def test_flatten():
    flat = flatten(resolve_config(DIGITS))
    assert flat["optimizer.lr"] == 1e-3 and flat["train.callbacks.early_stopping.patience"] == 5
    assert flat["experiment.tags"] == {}


def test_every_key_is_documented():
    """docs/config.md is the one place the schema is documented: every key of every section and family is there."""
    import os

    from tessel.config.schema import MODEL_FAMILIES
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    doc = open(os.path.join(root, "docs", "config.md")).read()

    def keys(spec, prefix=""):
        for k, v in spec.items():
            if isinstance(v, dict):
                yield from keys(v, f"{prefix}{k}.")
            else:
                yield prefix + k, k

    missing = []
    for section, spec in SCHEMA.items():
        for full, leaf in keys(spec):
            if f"`{leaf}`" not in doc and f"`{full}`" not in doc and f"`{full.split('.')[-2]}.{leaf}`" not in doc:
                missing.append(f"{section}.{full}")
    for fam, info in MODEL_FAMILIES.items():
        if f"`{fam}`" not in doc:
            missing.append(f"model family {fam}")
        for full, leaf in keys(info["keys"]):
            if f"`{leaf}`" not in doc:
                missing.append(f"model.{leaf} ({fam})")
    assert not missing, missing
