"""Checkpoints inside safetensors files (docs/serialization.md, "Checkpoints").

ts.save of anything but a flat dict of str -> Tensor stores the tensors as
safetensors tensors, named by their path ("optim.state.0.exp_avg"), and the
structure as JSON in the header's metadata under CHECKPOINT_KEY:

    {"format": 1, "root": NODE}

A NODE is JSON null, true/false, an integer, a finite number, a string, a list
of NODEs, or an object with one tag:
    {"dict": [[KEY, NODE], ...]}    keys are NODEs without tensors (int keys stay ints)
    {"tuple": [NODE, ...]}
    {"tensor": NAME}                 plus "requires_grad": true when set
    {"float": "nan" | "inf" | "-inf"}
    {"complex": [NODE, NODE]}
    {"dtype": "float32"}, {"device": "cuda:0"}
Nothing is unpickled and no name is looked up in Python, so a file can only
describe data.
"""
import io
import json
import math
import numbers
import zipfile
from collections.abc import Mapping

from . import _C

CHECKPOINT_KEY = "tessel.checkpoint"
FORMAT = 1
# Deeper nesting is refused on save and on load (a container holding itself
# ends here too); real checkpoints are a few levels deep.
MAX_DEPTH = 200

_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_SUPPORTED = ("checkpoints hold Tensors, dicts, lists, tuples, int, float, bool, complex, str, None, "
              "ts.dtype and ts.device")


def is_flat(obj):
    """A dict of str -> Tensor: written as a plain safetensors file."""
    return isinstance(obj, Mapping) and all(isinstance(k, str) and isinstance(v, _C.Tensor) for k, v in obj.items())


def _path_str(path):
    return "obj" + "".join(f"[{p!r}]" for p in path)


class _Encoder:
    def __init__(self):
        self.tensors = {}  # name -> Tensor
        self.names = {}    # id(Tensor) -> name: a tensor saved twice is stored once

    def tensor(self, t, path):
        name = self.names.get(id(t))
        if name is None:
            base = ".".join(str(p) for p in path) or "tensor"
            try:
                base.encode("utf-8")
            except UnicodeEncodeError:  # a key with a lone surrogate: fine in JSON, not as a tensor name
                base = "tensor"
            name, n = base, 1
            while name in self.tensors or name == "__metadata__":
                n += 1
                name = f"{base}#{n}"
            self.tensors[name] = t
            self.names[id(t)] = name
        node = {"tensor": name}
        if t.requires_grad:
            node["requires_grad"] = True
        return node

    def key(self, k, path):
        if k is None or isinstance(k, (bool, str)):
            return k
        if isinstance(k, numbers.Integral):
            return int(k)
        if isinstance(k, (numbers.Real, complex)):
            return self.node(k, path, 0)
        if isinstance(k, tuple):
            return {"tuple": [self.key(x, path) for x in k]}
        raise TypeError(f"save(): cannot save the dict key {k!r} ({type(k).__name__}) in {_path_str(path)}; "
                        "keys may be None, bool, int, float, str or tuples of them")

    def node(self, obj, path, depth):
        if depth > MAX_DEPTH:
            raise ValueError(f"save(): {_path_str(path[:8])}... is nested deeper than {MAX_DEPTH} levels "
                             "(does a container hold itself?)")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, _C.Tensor):
            return self.tensor(obj, path)
        if isinstance(obj, Mapping):
            return {"dict": [[self.key(k, path), self.node(v, path + [k], depth + 1)] for k, v in obj.items()]}
        if isinstance(obj, list):
            return [self.node(v, path + [i], depth + 1) for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"tuple": [self.node(v, path + [i], depth + 1) for i, v in enumerate(obj)]}
        if isinstance(obj, numbers.Integral):  # int, IntEnum, NumPy integers
            return int(obj)
        if isinstance(obj, numbers.Real):  # float, NumPy floats
            v = float(obj)
            return v if math.isfinite(v) else {"float": repr(v)}
        if isinstance(obj, numbers.Complex):
            v = complex(obj)
            return {"complex": [self.node(v.real, path, depth + 1), self.node(v.imag, path, depth + 1)]}
        if isinstance(obj, _C.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, _C.device):
            return {"device": str(obj)}
        raise TypeError(f"save(): cannot save a {type(obj).__name__} at {_path_str(path)}; {_SUPPORTED}")


def encode(obj):
    """(tensors by name, the structure's JSON) for ts.save."""
    enc = _Encoder()
    root = enc.node(obj, [], 0)
    doc = json.dumps({"format": FORMAT, "root": root}, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return enc.tensors, doc


class _Decoder:
    def __init__(self, tensors, device, where):
        self.tensors = tensors
        self.device = device
        self.where = where
        self.done = {}  # name -> the loaded tensor (shared by every reference)

    def fail(self, message):
        raise ValueError(f"[load] {self.where}: invalid checkpoint structure: {message}")

    def tensor(self, node):
        name = node["tensor"]
        if not isinstance(name, str) or set(node) - {"tensor", "requires_grad"}:
            self.fail(f"bad tensor node {json.dumps(node)[:200]}")
        requires_grad = node.get("requires_grad", False)
        if not isinstance(requires_grad, bool):
            self.fail(f"tensor '{name}': requires_grad must be true or false")
        t = self.done.get(name)
        if t is None:
            if name not in self.tensors:
                self.fail(f"tensor '{name}' is not in the file")
            t = self.tensors[name]
            if self.device is not None:
                t = t.to(self.device)
            if requires_grad:
                if not (t.dtype.is_floating_point or t.dtype.is_complex):
                    self.fail(f"tensor '{name}' is {t.dtype.name}, which cannot require grad")
                t.requires_grad_(True)
            self.done[name] = t
        return t

    def key(self, k, depth):
        v = self.node(k, depth)
        try:
            hash(v)
        except TypeError:
            self.fail(f"a dict key is a {type(v).__name__}, which cannot be a key")
        if isinstance(v, _C.Tensor) or (isinstance(v, tuple) and not _plain_key(v)):
            self.fail("a dict key holds a tensor")
        return v

    def node(self, node, depth):
        if depth > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH} levels")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.node(v, depth + 1) for v in node]
        if not isinstance(node, dict) or not node:
            self.fail(f"unexpected value {json.dumps(node)[:200]}")
        if "tensor" in node:
            return self.tensor(node)
        if len(node) != 1:
            self.fail(f"a node has several tags: {sorted(node)[:10]}")
        (tag, value), = node.items()
        if tag == "dict":
            if not isinstance(value, list):
                self.fail("a dict node must hold a list of [key, value] pairs")
            out = {}
            for pair in value:
                if not isinstance(pair, list) or len(pair) != 2:
                    self.fail("a dict node must hold a list of [key, value] pairs")
                out[self.key(pair[0], depth + 1)] = self.node(pair[1], depth + 1)
            return out
        if tag == "tuple":
            if not isinstance(value, list):
                self.fail("a tuple node must hold a list")
            return tuple(self.node(v, depth + 1) for v in value)
        if tag == "float":
            if not isinstance(value, str) or value not in _NONFINITE:
                self.fail(f"bad float {value!r} (expected 'nan', 'inf' or '-inf')")
            return _NONFINITE[value]
        if tag == "complex":
            if not isinstance(value, list) or len(value) != 2:
                self.fail("a complex node must hold [real, imag]")
            parts = [self.node(v, depth + 1) for v in value]
            if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in parts):
                self.fail("a complex node must hold two numbers")
            return complex(*parts)
        if tag == "dtype":
            if not isinstance(value, str) or value not in _C.dtype.__members__:
                self.fail(f"unknown dtype {value!r}")
            return _C.dtype.__members__[value]
        if tag == "device":
            try:
                return _C.device(value)
            except (TypeError, ValueError, RuntimeError):
                self.fail(f"bad device {value!r}")
        self.fail(f"unknown node type {tag!r}")


def _plain_key(t):
    return all(not isinstance(x, _C.Tensor) and (not isinstance(x, tuple) or _plain_key(x)) for x in t)


def decode(structure, tensors, device, where):
    """The object ts.save wrote, from the structure's JSON and the file's tensors."""
    dec = _Decoder(tensors, device, where)
    try:
        doc = json.loads(structure)
    except (ValueError, RecursionError) as e:
        dec.fail(f"not valid JSON ({e})")
    if not isinstance(doc, dict) or "root" not in doc or "format" not in doc:
        dec.fail('expected {"format": ..., "root": ...}')
    version = doc["format"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        dec.fail(f"bad format {version!r}")
    if version > FORMAT:
        raise ValueError(f"[load] {where}: checkpoint format {version} is newer than this tessel reads "
                         f"(format {FORMAT}); upgrade tessel")
    obj = dec.node(doc["root"], 0)
    unused = [name for name in tensors if name not in dec.done]
    if unused:
        dec.fail(f"tensor '{unused[0]}' is in the file but not in the structure")
    return obj


# ---- files from other libraries ----

_TORCH_HOWTO = (
    "tessel never unpickles (loading a pickle can run any code). Convert the file once where PyTorch is "
    "installed, if you trust it:\n"
    "    import torch\n"
    "    from safetensors.torch import save_file\n"
    "    state = torch.load(PATH, weights_only=True)  # e.g. a model's state_dict (a dict of tensors)\n"
    "    save_file({k: v.contiguous() for k, v in state.items()}, 'model.safetensors')\n"
    "then ts.load('model.safetensors').")


def _head(src, n=8):
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src[:n])
    try:
        with open(src, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _zip_names(src):
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(src)) if isinstance(src, (bytes, bytearray, memoryview)) else src) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return []


def foreign_format_error(src, where):
    """Raises a ValueError that names a torch.save, pickle or NumPy file and says
    how to convert it; returns if `src` (a path or bytes) is none of those."""
    import os

    if where is None:
        where = f"'{os.fsdecode(src)}'"
    head = _head(src)
    what = None
    if head[:2] == b"PK":
        names = _zip_names(src)
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            what = "a PyTorch file written by torch.save (a zip archive holding data.pkl)"
        elif names and all(n.endswith(".npy") for n in names):
            raise ValueError(f"[load] {where} is a NumPy .npz archive, not a safetensors file; read it with "
                             "numpy.load and convert with ts.from_numpy / ts.tensor") from None
        elif names:
            raise ValueError(f"[load] {where} is a zip archive, not a safetensors file") from None
    elif len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        what = ("a pickle file (written by torch.save with _use_new_zipfile_serialization=False, "
                "or by pickle.dump)")
    elif head[:6] == b"\x93NUMPY":
        raise ValueError(f"[load] {where} is a NumPy .npy file, not a safetensors file; read it with numpy.load "
                         "and convert with ts.from_numpy / ts.tensor") from None
    if what is not None:
        raise ValueError(f"[load] {where} is {what}, not a safetensors file. {_TORCH_HOWTO}") from None
