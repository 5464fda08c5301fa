"""What can be done with a trained model folder (a `tessel train` output folder
or a registry version folder) besides predicting: evaluate it on labeled data,
and export it to ONNX again. `tessel evaluate`/`tessel export` and the
automation tasks are thin wrappers around these."""
import os

import numpy as np

from .sources import DataError

__all__ = ["evaluate", "export"]


def evaluate(folder, data=None, on_error="raise", batch_size=256):
    """Metrics of the model in `folder` (through its model.onnx) on labeled
    `data` (default: its config's data.val_path, else data.path): accuracy,
    macro precision/recall/F1 and the confusion matrix (classification), or
    MAE, RMSE and R^2 (regression). Returns {"model", "data", "task", ...}."""
    from .inputs import load_labeled
    from .metrics import classification_metrics, regression_metrics
    from .predictor import Predictor, read_config
    folder = os.fspath(folder)
    p = Predictor.load(folder)
    cfg = read_config(folder)
    path = os.fspath(data) if data is not None else (cfg["data"].get("val_path") or cfg["data"]["path"])
    x, labels = load_labeled(path, p.signature, cfg["data"], on_error)
    outs = np.concatenate([p.run(x[s:s + batch_size]) for s in range(0, x.shape[0], batch_size)])
    if p.task == "classification":
        index = {c: i for i, c in enumerate(p.classes)}
        y = []
        for v in labels:
            name = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
            if name not in index:
                raise DataError(f"label {name!r} in {path} is not a class of the model "
                                f"({', '.join(p.classes[:20])})")
            y.append(index[name])
        m = classification_metrics(outs, y, p.classes)
    else:
        t = p.signature["preprocess"].get("target") or {"mean": 0.0, "std": 1.0}
        m = regression_metrics(outs[:, 0] * t["std"] + t["mean"], np.asarray(labels, dtype=np.float64))
    return {"model": folder, "data": path, "task": p.task, **m}


def export(folder, out, opset=None, check=True):
    """The model of `folder` (its weights and config) to the ONNX file `out`,
    batch dimension dynamic. check: run the file on a sample and compare with
    the model (ValueError when they differ). Returns {"model", "onnx", "opset"
    [, "max_abs_diff"]}."""
    import tessel as ts

    from .predictor import load_module
    from .runner import export_onnx
    folder = os.fspath(folder)
    module, sig, cfg = load_module(folder)
    opset = opset or cfg.get("output", {}).get("opset", 18)
    shape = sig["inputs"][0]["shape"][1:]
    ints = sig["inputs"][0]["dtype"] == "int64"
    example = ts.ones(1, *shape, dtype=ts.int64) if ints else ts.zeros(1, *shape)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    export_onnx(module, example, os.fspath(out), opset)
    result = {"model": folder, "onnx": os.path.abspath(out), "opset": opset}
    if check:
        x = example if ints else ts.randn(2, *shape)
        with ts.no_grad():
            ref = module(x).numpy()
        got = list(ts.onnx.load(os.fspath(out)).run({"input": x}).values())[0].numpy()
        err = float(np.abs(ref - got).max())
        result["max_abs_diff"] = err
        if not err <= 1e-4 * max(1.0, float(np.abs(ref).max())):
            raise ValueError(f"the model exported to {out} differs from the trained one by {err:.3g}")
    return result
