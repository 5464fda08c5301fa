"""Built-in model families of `tessel train` (model.name), one small family per modality.

    build_model({"name": "mlp", "hidden": [64]}, input_shape=(64,), num_outputs=10)

Every family exports to ONNX with ts.onnx.export (plain conv/linear/norm/
attention ops, batch dimension dynamic). boosted_trees is grown by
BoostingTrainer (tessel.models.trees) and linear and text_linear fit by
LinearTrainer (tessel.models.linear), the others by gradient steps (solver_trainer says which). `module:function` names user code:
the function gets the config's model keys (name aside) plus, when its
signature takes them, input_shape, num_inputs, num_outputs, task, modality.
"""
import importlib
import inspect
import os
import sys

from ..config import ConfigError
from ..config.schema import TEXT_FAMILIES
from .families import MLP, AudioCNN, SmallCNN, SmallResNet, TextBag, TextTF, TextTransformer
from .linear import LinearModel, LinearTrainer, TextLinear
from .trees import BoostedTrees, BoostingTrainer

__all__ = ["build_model", "model_keys", "solver_trainer", "MLP", "SmallCNN", "SmallResNet", "AudioCNN",
           "TextTransformer", "TextBag", "TextTF", "BoostedTrees", "BoostingTrainer", "LinearModel", "TextLinear",
           "LinearTrainer"]


def solver_trainer(model, task):
    """The trainer of a model fit by a solver rather than by gradient steps
    (boosted_trees, linear: no optimizer, no schedule, cpu only), else None."""
    if isinstance(model, BoostedTrees):
        return BoostingTrainer(model, task)
    if isinstance(model, (LinearModel, TextLinear)):
        return LinearTrainer(model, task)
    return None


def model_keys(model_cfg, modality, preprocess):
    """The `model` section plus what the data decides: a text family's
    vocab_size is its trained tokenizer's (preprocess: the data's recipe, as
    signature.json keeps it)."""
    m = dict(model_cfg)
    if modality == "text" and m["name"] in TEXT_FAMILIES:
        m["vocab_size"] = len(preprocess["tokenizer"]["model"]["vocab"])
    return m


def build_model(model_cfg, input_shape, num_outputs, task="classification", modality=None, search_path=None):
    """A ts.nn.Module from the resolved `model` section."""
    cfg = dict(model_cfg)
    name = cfg.pop("name")
    input_shape = tuple(int(s) for s in input_shape)
    if name == "mlp":
        n = 1
        for s in input_shape:
            n *= s
        return MLP(n, num_outputs, **cfg)
    if name in ("boosted_trees", "linear"):
        n = 1
        for s in input_shape:
            n *= s
        return (BoostedTrees if name == "boosted_trees" else LinearModel)(n, num_outputs, **cfg)
    if name in ("cnn", "resnet"):
        if len(input_shape) != 3:
            raise ConfigError(f"model.name: {name} takes images or spectrograms [C, H, W], the data gives "
                              f"{list(input_shape)}")
        return (SmallCNN if name == "cnn" else SmallResNet)(input_shape[0], num_outputs, **cfg)
    if name == "audio_cnn":
        return AudioCNN(input_shape[0], num_outputs, **cfg)
    if name == "text_transformer":
        return TextTransformer(cfg.pop("vocab_size"), input_shape[0], num_outputs, **cfg)
    if name == "text_bag":
        return TextBag(cfg.pop("vocab_size"), num_outputs, **cfg)
    if name == "text_tf":
        return TextTF(cfg.pop("vocab_size"), num_outputs, **cfg)
    if name == "text_linear":
        return TextLinear(cfg.pop("vocab_size"), num_outputs, **cfg)
    if ":" in name:
        return _user_model(name, cfg, input_shape, num_outputs, task, modality, search_path)
    raise ConfigError(f"model.name: unknown model {name!r}")


def _user_model(name, cfg, input_shape, num_outputs, task, modality, search_path):
    from .. import nn
    mod_name, _, fn_name = name.partition(":")
    added = []
    for p in (search_path, os.getcwd()):
        if p and p not in sys.path:
            sys.path.insert(0, p)
            added.append(p)
    try:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as e:
            raise ConfigError(f"model.name: cannot import module {mod_name!r}: {e}") from None
    finally:
        for p in added:
            sys.path.remove(p)
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise ConfigError(f"model.name: module {mod_name!r} has no function {fn_name!r}")
    n = 1
    for s in input_shape:
        n *= s
    offer = {"input_shape": input_shape, "num_inputs": n, "num_outputs": num_outputs, "task": task,
             "modality": modality}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): pass the config's keys only
        params = None
    if params is None:
        kwargs = {}
    else:
        var_kw = any(p.kind == p.VAR_KEYWORD for p in params.values())
        kwargs = {k: v for k, v in offer.items() if var_kw or k in params}
        for k in cfg:
            if not var_kw and k not in params:
                raise ConfigError(f"model.{k}: {name} takes no argument {k!r} (it takes {', '.join(params)})")
    kwargs.update(cfg)
    model = fn(**kwargs)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model.name: {name} returned {type(model).__name__}, not a ts.nn.Module")
    return model
