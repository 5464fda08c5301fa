"""Saving and loading tensors in the safetensors format (docs/serialization.md).

    ts.save({"weight": w, "bias": b}, "model.safetensors", metadata={"step": "100"})
    state = ts.load("model.safetensors")          # {"weight": ..., "bias": ...}
    ts.save({"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 3}, "ckpt.safetensors")

A flat dict of str -> Tensor is written exactly as the `safetensors` package
writes it. Anything else (nested dicts, lists, tuples, numbers, strings, None)
is a checkpoint: its tensors are stored as safetensors tensors and the
structure as JSON in the header's metadata (_checkpoint.py). Nothing is ever
unpickled, so loading an untrusted file cannot run code.
"""
import os
from collections.abc import Mapping

from . import _C
from ._checkpoint import CHECKPOINT_KEY, decode, encode, foreign_format_error, is_flat

__all__ = ["save", "load", "save_file", "load_file"]

_io = _C._io


def _to_device(tensors, device):
    if device is None:
        return tensors
    return {k: v.to(device) for k, v in tensors.items()}


def _device_arg(device, map_location):
    if map_location is None:
        return device
    if device is not None:
        raise TypeError("load() got both device and map_location; pass one")
    if callable(map_location) or isinstance(map_location, Mapping):
        raise TypeError("load(): map_location must be a device or a str such as 'cpu' (tessel takes no "
                        "functions or dicts there)")
    return map_location


def save(obj, f, metadata=None):
    """Saves tensors, or a checkpoint, to `f` in the safetensors format.

    obj: a Tensor (stored under the name "tensor": ts.load(f)["tensor"]), a
        dict of str -> Tensor (written exactly as the safetensors package
        writes it), or any nesting of dicts, lists and tuples of tensors,
        int, float, bool, str and None (a checkpoint: optimizer and scheduler
        state_dicts, epoch, RNG state, ...). ts.load gives it back, tuples as
        tuples and int dict keys as ints.
    f: a path (str or os.PathLike) or a binary file object with write().
    metadata: None or a dict of str -> str, stored in the header.

    Tensors may live on any device and have any strides; complex128 raises
    TypeError (safetensors' only complex dtype is complex64).
    """
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError("metadata must be a dict of str -> str or None")
        if CHECKPOINT_KEY in metadata:
            raise ValueError(f"save(): metadata key {CHECKPOINT_KEY!r} is reserved for the checkpoint structure")
    if isinstance(obj, _C.Tensor):
        tensors = {"tensor": obj}
    elif is_flat(obj):
        tensors = dict(obj)
    else:
        tensors, structure = encode(obj)
        metadata = {**(metadata or {}), CHECKPOINT_KEY: structure}
    if hasattr(f, "write"):
        f.write(_io.save(tensors, metadata))
    else:
        _io.save_file(tensors, f, metadata)


def load(f, device=None, *, return_metadata=False, map_location=None, weights_only=None):
    """Loads what ts.save wrote: a dict of str -> Tensor for a safetensors file
    (in the order of the file's header; a file saved from one Tensor gives
    {"tensor": t}), or the saved object for a checkpoint.

    f: a path (str or os.PathLike) or a binary file object with read().
    device: where to put the tensors (None: the CPU, without a copy).
        map_location= is accepted as another name for it (a device or str).
    return_metadata: also return the header's metadata, as (obj, metadata).
    weights_only: accepted for code written for torch.load and ignored: tessel
        never unpickles, so loading cannot run code whatever its value.

    Malformed files raise ValueError naming the file (a torch.save or pickle
    file gets one that says how to convert it); dtypes tessel lacks (U16, U32,
    U64, float8, ...) raise TypeError.
    """
    del weights_only
    device = _device_arg(device, map_location)
    if hasattr(f, "read"):
        data = f.read()
        where = f"'{f.name}'" if isinstance(getattr(f, "name", None), str) else "<file object>"
        try:
            tensors, metadata = _io.load(data, return_metadata=True)
        except ValueError:
            foreign_format_error(data, where)
            raise
    else:
        where = None
        try:
            tensors, metadata = _io.load_file(f, return_metadata=True)
        except ValueError:
            foreign_format_error(f, None)
            raise
    structure = metadata.pop(CHECKPOINT_KEY, None)
    if structure is None:
        obj = _to_device(tensors, device)
    else:
        if where is None:
            where = f"'{os.fsdecode(f)}'"
        obj = decode(structure, tensors, device, where)
    return (obj, metadata) if return_metadata else obj


def save_file(tensors, filename, metadata=None):
    """As safetensors.torch.save_file: writes a dict of str -> Tensor to `filename`."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"save_file() expects a dict of str -> Tensor, got {type(tensors).__name__}")
    _io.save_file(dict(tensors), filename, metadata)


def load_file(filename, device="cpu"):
    """As safetensors.torch.load_file: reads `filename` into a dict of str -> Tensor on `device`."""
    return _to_device(_io.load_file(filename), device)
