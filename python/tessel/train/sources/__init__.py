"""Data sources of `tessel train` (data.kind): image and audio class folders,
text CSV/JSONL, tabular CSV, NumPy/safetensors arrays and scikit-learn's
bundled datasets, one module per kind (common.py holds what they share).

load_data(cfg) reads the data named by a resolved config, converts it with
tessel's own converters (ts.image / ts.audio transforms on the C++
DataLoader, ts.text tokenizers), splits off the validation part, and returns
a Data: tensors, the task, the classes, and `preprocess`, the recipe that
turns one raw item into one input row (saved in signature.json and replayed
by tessel.train.Predictor through the same functions here).
"""
from ...config import ConfigError
from .audio import audio_features, audio_mel, audio_preprocess, audio_transform, load_audio_folder
from .common import (Data, DataError, _class_folder, _column, _label_values, convert_files, read_table,
                     split_indices, subset)
from .image import image_preprocess, image_transform, load_image_folder
from .tabular import (MISSING_TOKENS, SKLEARN_DATASETS, _read_arrays, encode_arrays, encode_rows, fit_tabular,
                      is_missing, load_arrays, load_sklearn, load_tabular)
from .text import build_tokenizer, encode_texts, load_text, tokenizer_from

_LOADERS = {"image_folder": load_image_folder, "audio_folder": load_audio_folder, "text": load_text,
            "tabular": load_tabular, "arrays": load_arrays, "sklearn": load_sklearn}


def load_data(cfg):
    """A Data from a resolved config (dict)."""
    d = cfg["data"]
    load = _LOADERS.get(d["kind"])
    if load is None:
        raise ConfigError(f"data.kind: unknown kind {d['kind']!r}")
    return load(cfg)
