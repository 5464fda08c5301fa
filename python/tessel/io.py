"""Saving and loading tensors in the safetensors format (docs/serialization.md).

    ts.save({"weight": w, "bias": b}, "model.safetensors", metadata={"step": "100"})
    state = ts.load("model.safetensors")          # {"weight": ..., "bias": ...}

Files are byte-compatible with the `safetensors` package in both directions.
"""
from collections.abc import Mapping

from . import _C

__all__ = ["save", "load", "save_file", "load_file"]

_io = _C._io


def _tensor_dict(obj, fn):
    if isinstance(obj, _C.Tensor):
        return {"tensor": obj}
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"{fn}() expects a Tensor or a dict of str -> Tensor, got {type(obj).__name__}")


def _to_device(tensors, device):
    if device is None:
        return tensors
    return {k: v.to(device) for k, v in tensors.items()}


def save(obj, f, metadata=None):
    """Saves tensors to `f` in the safetensors format.

    obj: a dict (any mapping) of str -> Tensor, or a single Tensor, which is
        stored under the name "tensor" (ts.load(f)["tensor"] gives it back).
    f: a path (str or os.PathLike) or a binary file object with write().
    metadata: None or a dict of str -> str, stored in the header.

    Tensors may live on any device and have any strides; complex128 raises
    TypeError (safetensors' only complex dtype is complex64).
    """
    tensors = _tensor_dict(obj, "save")
    if hasattr(f, "write"):
        f.write(_io.save(tensors, metadata))
    else:
        _io.save_file(tensors, f, metadata)


def load(f, device=None, *, return_metadata=False):
    """Loads a safetensors file: a dict of str -> Tensor in the order of the
    file's header (always a dict, even for a file written from one Tensor).

    f: a path (str or os.PathLike) or a binary file object with read().
    device: where to put the tensors (None: the CPU, without a copy).
    return_metadata: also return the header's metadata, as (tensors, metadata).

    Malformed files raise ValueError naming the file; dtypes tessel lacks
    (U16, U32, U64, float8, ...) raise TypeError.
    """
    if hasattr(f, "read"):
        tensors, metadata = _io.load(f.read(), return_metadata=True)
    else:
        tensors, metadata = _io.load_file(f, return_metadata=True)
    tensors = _to_device(tensors, device)
    return (tensors, metadata) if return_metadata else tensors


def save_file(tensors, filename, metadata=None):
    """As safetensors.torch.save_file: writes a dict of str -> Tensor to `filename`."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save_file() expects a dict of str -> Tensor, got {type(tensors).__name__}")
    _io.save_file(dict(tensors), filename, metadata)


def load_file(filename, device="cpu"):
    """As safetensors.torch.load_file: reads `filename` into a dict of str -> Tensor on `device`."""
    return _to_device(_io.load_file(filename), device)
