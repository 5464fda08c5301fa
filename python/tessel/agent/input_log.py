"""Inputs logged by the model server, for `tessel agent watch`.

The format (what tessel-serve writes with `--input-log DIR`; see
docs/agent.md "Inputs logged by the server"): one JSON object per line, in
files DIR/MODEL/VERSION/inputs.jsonl, rotated by size to
inputs-YYYYMMDDTHHMMSSZ-NNNNNN.jsonl beside it (older first by name). A record is
the request's OIP input tensors, decoded (binary ones too), with where and
when it was served:

    {"time": "2026-12-03T03:30:00.123Z", "model": "iris", "version": "1", "id": "42",
     "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "data": [0.1, ...]}]}

`data` is flat and row-major (NaN and infinities as null, as the server's
JSON outputs write them). Only answered requests (HTTP 200) are logged, so a
record matches the model's inputs. A last line without its newline is a
record being written and is skipped.
"""
import json
import os

import numpy as np

from .errors import DataError

__all__ = ["read_input_log", "is_input_log", "log_files"]

_DTYPES = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
           "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
           "FP32": np.float32, "FP64": np.float64}


def _is_record(obj):
    ins = obj.get("inputs") if isinstance(obj, dict) else None
    return isinstance(ins, list) and bool(ins) and all(isinstance(t, dict) and {"name", "datatype", "shape"} <= set(t)
                                                        for t in ins)


def _rank(path):
    # Rotated files (inputs-<UTC time>.jsonl) sort by their time; the file being written comes last.
    base = os.path.basename(path)
    return (os.path.dirname(path), base == "inputs.jsonl", base)


def log_files(path):
    """The log files of `path` (one .jsonl file, or a folder searched for
    inputs*.jsonl), oldest first."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    out = []
    for d, dirs, names in os.walk(path):
        dirs.sort()
        out += [os.path.join(d, n) for n in names if n.startswith("inputs") and n.endswith(".jsonl")]
    return sorted(out, key=_rank)


def is_input_log(path):
    """Whether `path` is a server input log (a .jsonl file of records, or a
    folder holding such files): the first complete line decides."""
    files = log_files(path) if os.path.exists(path) else []
    if not files or not all(f.endswith(".jsonl") for f in files):
        return False
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            line = fh.readline()
        if line.strip():
            try:
                return _is_record(json.loads(line))
            except ValueError:
                return False
    return False


def read_input_log(path, model=None, version=None, input_name=None):
    """(array [N, ...], info) of the logged inputs of `model` (registry or
    served name; None: the only model in the log) at `version` (None: any):
    the requests' tensors of input `input_name` (None: the first input)
    concatenated along the batch axis. info: files, requests, models seen."""
    files = log_files(path)
    if not files:
        raise DataError(f"input log: {path} holds no inputs*.jsonl files")
    records, models = [], {}
    for f in files:
        with open(f, encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        # The last element is '' after a final newline, else a line still being written.
        for i, line in enumerate(lines[:-1], 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise DataError(f"input log {f}:{i}: not a JSON object ({e})") from None
            if not _is_record(rec):
                raise DataError(f"input log {f}:{i}: not a logged request (needs 'inputs': a list of tensors "
                                f"with name, datatype, shape and data)")
            name = str(rec.get("model"))
            models[name] = models.get(name, 0) + 1
            records.append((f, i, rec))
    if model is not None and str(model) not in models and len(models) == 1:
        model = None  # served under another name than the registry's: the log's only model is it
    if model is None and len(models) > 1:
        raise DataError(f"input log {path}: requests of several models ({', '.join(sorted(models))}); "
                        f"say which one")
    chosen = [(f, i, r) for f, i, r in records if (model is None or str(r.get("model")) == str(model)) and
              (version is None or str(r.get("version")) == str(version))]
    if not chosen:
        raise DataError(f"input log {path}: no requests of model {model!r}"
                        + (f" version {version}" if version is not None else "")
                        + f" (models in the log: {', '.join(sorted(models)) or 'none'})")
    parts, row_shape = [], None
    for f, i, rec in chosen:
        t = next((t for t in rec["inputs"] if input_name is None or t["name"] == input_name), None)
        if t is None:
            raise DataError(f"input log {f}:{i}: no input named {input_name!r} "
                            f"(inputs: {', '.join(str(x['name']) for x in rec['inputs'])})")
        dt = _DTYPES.get(t["datatype"])
        if dt is None:
            raise DataError(f"input log {f}:{i}: input {t['name']!r} has datatype {t['datatype']!r}; the watch "
                            f"reads numeric tensors ({', '.join(_DTYPES)})")
        shape = t["shape"]
        if not isinstance(shape, list) or not shape or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise DataError(f"input log {f}:{i}: input {t['name']!r} has shape {shape!r}; expected a list of "
                            f"sizes, the batch first")
        data = t.get("data")
        if not isinstance(data, list):
            raise DataError(f"input log {f}:{i}: input {t['name']!r} has no 'data' list")
        flat = np.array([np.nan if v is None else v for v in data], dtype=np.float64 if dt != np.bool_ else dt)
        if flat.size != int(np.prod(shape)):
            raise DataError(f"input log {f}:{i}: input {t['name']!r} has {flat.size} values for shape {shape}")
        if row_shape is not None and list(shape[1:]) != row_shape:
            raise DataError(f"input log {f}:{i}: input {t['name']!r} has shape {shape}; earlier requests had "
                            f"[N, {', '.join(map(str, row_shape))}]")
        row_shape = list(shape[1:])
        parts.append(flat.reshape(shape))
    x = np.concatenate(parts)
    return x, {"files": files, "requests": len(chosen), "rows": len(x), "models": models}
