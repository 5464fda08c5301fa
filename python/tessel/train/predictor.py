"""Predictor: a trained model folder (train output or registry version) in,
predictions out, through model.onnx in the Python-free runtime (ts.onnx.load)
and the preprocessing recipe of signature.json.

    p = Predictor.load("tessel-runs/digits/20261202-141500")
    p.predict(["a.png", b"...png bytes..."])   # [{"label": "cat", "probabilities": {...}}]
"""
import csv
import io
import json
import os

import numpy as np

import tessel as ts

from . import sources as S
from .metrics import softmax

__all__ = ["Predictor", "read_signature", "weights_file", "config_file"]


def read_signature(folder):
    path = os.path.join(folder, "signature.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder} is not a trained model folder: no signature.json (expected the output "
                                f"folder of `tessel train` or a registry version folder)")
    with open(path) as f:
        sig = json.load(f)
    if "preprocess" not in sig or "task" not in sig:
        raise ValueError(f"{path} was not written by tessel train (no 'task'/'preprocess')")
    return sig


def weights_file(folder):
    for name in ("model.safetensors", "weights.safetensors"):
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError(f"{folder} has no model.safetensors (or weights.safetensors)")


def config_file(folder):
    for name in ("config.yaml", "config.json"):
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError(f"{folder} has no config.yaml (or config.json)")


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


class Predictor:
    """Holds signature.json and the ONNX model of one folder."""

    def __init__(self, folder, signature, model):
        self.folder = folder
        self.signature = signature
        self.model = model
        self.task = signature["task"]
        self.modality = signature["modality"]
        self.classes = signature.get("classes")
        self.input_name = signature["inputs"][0]["name"]
        self.output_name = signature["outputs"][0]["name"]

    @classmethod
    def load(cls, folder):
        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"model folder {folder} does not exist")
        sig = read_signature(folder)
        onnx_path = os.path.join(folder, "model.onnx")
        if not os.path.isfile(onnx_path):
            raise FileNotFoundError(f"{folder} has no model.onnx (trained with output.export_onnx: false? "
                                    f"run `tessel export {folder}`)")
        return cls(folder, sig, ts.onnx.load(onnx_path))

    # ----- raw items -> input tensor --------------------------------------------------------------------

    def preprocess(self, items):
        """The model's input tensor for a list of raw items: image/audio paths
        or bytes, text strings, tabular rows (dicts or lists in column order),
        arrays (NumPy or .npy paths)."""
        if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__len__"):
            items = [items]
        items = list(items)
        if not items:
            raise ValueError("preprocess: no items")
        pre = self.signature["preprocess"]
        kind = pre["kind"]
        if kind == "image":
            tr = S.image_transform(pre)
            return ts.stack([tr(self._image(it, i)) for i, it in enumerate(items)])
        if kind == "audio":
            for i, it in enumerate(items):
                if not (isinstance(it, (str, os.PathLike)) or _is_bytes(it)):
                    raise TypeError(f"audio item {i}: expected a path or the file's bytes, got {type(it).__name__}")
            items = [os.fspath(it) if isinstance(it, os.PathLike) else (bytes(it) if _is_bytes(it) else it)
                     for it in items]
            x, _, _ = S.audio_features(items, pre)
            return (x - pre["mean"]) / pre["std"]
        if kind == "text":
            texts = [it.decode("utf-8") if _is_bytes(it) else it for it in items]
            return S.encode_texts(texts, pre)
        if kind == "tabular":
            return ts.from_numpy(S.encode_rows(self._rows(items), pre["columns"]))
        if kind == "array":
            arrs = []
            for it in items:
                if isinstance(it, (str, os.PathLike)):
                    it = np.load(os.fspath(it), allow_pickle=False)
                elif _is_bytes(it):  # an uploaded .npy file
                    it = np.load(io.BytesIO(bytes(it)), allow_pickle=False)
                it = np.asarray(it)
                # a .npy of several samples gives one row each
                arrs += list(it) if list(it.shape[1:]) == list(pre["shape"]) else [it]
            return ts.from_numpy(S.encode_arrays(np.stack(arrs), pre))
        raise ValueError(f"signature.json: unknown preprocess kind {kind!r}")

    @staticmethod
    def _rows(items):
        """Table rows: dicts and lists as they are; a .csv/.jsonl path, or CSV
        text/bytes with a header line (an uploaded file), gives its rows."""
        rows = []
        for it in items:
            if _is_bytes(it):
                it = bytes(it).decode("utf-8")
            if isinstance(it, os.PathLike) or (isinstance(it, str) and "\n" not in it and os.path.isfile(it)):
                rows += S.read_table(os.fspath(it))
            elif isinstance(it, str):
                rows += list(csv.DictReader(io.StringIO(it)))
            else:
                rows.append(it)
        return rows

    @staticmethod
    def _image(it, i):
        if isinstance(it, (str, os.PathLike)):
            return ts.image.read(os.fspath(it))
        if _is_bytes(it):
            return ts.image.decode(ts.from_numpy(np.frombuffer(bytes(it), dtype=np.uint8).copy()))
        if isinstance(it, np.ndarray) and it.ndim == 3:
            return ts.image.as_image(ts.from_numpy(np.ascontiguousarray(it, dtype=np.uint8)))
        raise TypeError(f"image item {i}: expected a path, the file's bytes or an HWC uint8 array, "
                        f"got {type(it).__name__}")

    # ----- running -------------------------------------------------------------------------------------

    def run(self, x):
        """The raw model output (logits or scaled values) as a NumPy array."""
        out = self.model.run({self.input_name: x})
        y = out[self.output_name] if self.output_name in out else list(out.values())[0]
        return y.numpy()

    def predict(self, items, batch_size=256):
        """[{"label", "probabilities"}] (classification) or [{"value"}] (regression), one per item."""
        if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__len__"):
            items = [items]
        items = list(items)
        results = []
        for s in range(0, len(items), batch_size):
            results += self.decode(self.run(self.preprocess(items[s:s + batch_size])))
        return results

    def decode(self, out):
        if self.task == "classification":
            p = softmax(out)
            return [{"label": self.classes[int(row.argmax())],
                     "probabilities": {c: float(v) for c, v in zip(self.classes, row)}} for row in p]
        t = self.signature["preprocess"].get("target") or {"mean": 0.0, "std": 1.0}
        return [{"value": float(v) * t["std"] + t["mean"]} for v in np.asarray(out).reshape(len(out), -1)[:, 0]]

    def __repr__(self):
        return f"Predictor({self.folder!r}, task={self.task}, modality={self.modality})"


def read_config(folder):
    """The resolved config saved with a model (config.yaml, or the registry's config.json)."""
    from ..config import load_file
    return load_file(config_file(folder))


def load_module(folder):
    """The trained ts.nn.Module of a folder: rebuilt from its config and signature, weights loaded."""
    from ..models import build_model, model_keys
    sig = read_signature(folder)
    cfg = read_config(folder)
    m = model_keys(cfg["model"], sig["modality"], sig["preprocess"])
    shape = sig["inputs"][0]["shape"][1:]
    num_outputs = sig["outputs"][0]["shape"][-1]
    model = build_model(m, shape, num_outputs, sig["task"], sig["modality"])
    state = ts.load(weights_file(folder))
    model.load_state_dict(state)
    model.eval()
    return model, sig, cfg
