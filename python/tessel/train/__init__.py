"""tessel.train: declarative training from a config (`tessel train CONFIG.yaml`).

    from tessel.train import run, Predictor
    result = run("digits.yaml", overrides=["train.epochs=5"])   # -> output folder, run id, metrics
    p = Predictor.load(result.output_dir)                        # or a registry version folder
    p.predict(["cat.png"])                                       # [{"label": "cat", "probabilities": {...}}]
    register(result.output_dir, "cats", alias="champion")       # a registry version of that folder

The output folder holds config.yaml (resolved), model.safetensors,
model.onnx, signature.json, metrics.json and history.csv; see docs/config.md.
"""
__all__ = ["run", "register", "evaluate", "export", "Predictor", "TrainResult", "load_data", "build_model"]


def __getattr__(name):
    # Lazy: the schema imports tessel.train.sources; the rest pulls in the runtime.
    if name in ("run", "register", "TrainResult"):
        from . import runner
        return getattr(runner, name)
    if name in ("evaluate", "export"):
        from . import folder_ops
        return getattr(folder_ops, name)
    if name == "Predictor":
        from .predictor import Predictor
        return Predictor
    if name == "load_data":
        from .sources import load_data
        return load_data
    if name == "build_model":
        from ..models import build_model
        return build_model
    raise AttributeError(f"module 'tessel.train' has no attribute {name!r}")
