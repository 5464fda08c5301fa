"""Tensor shards: a dataset stored as safetensors files plus an index, read
lazily (`tessel convert` writes them; docs/cli.md, "tessel convert").

    folder/
      shard-00000.safetensors   tensors [n, ...] per field ("image", "label", ...)
      shard-00001.safetensors
      index.json                fields (dtype, per-sample shape), classes, shards
                                (file, count, bytes, sha256); written last

    ds = ts.data.ShardDataset("digits-shards")
    for images, labels in ts.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=2):
        ...

A folder without index.json is not a dataset: the writer puts the index last,
atomically (write to a temporary name, then rename), so an interrupted
conversion never looks complete. Reading one sample is one pread() of its
bytes in each field's tensor: no shard is loaded whole, and shuffling costs
no more than reading in order.
"""
import bisect
import hashlib
import json
import os
import threading

from .. import _C
from .dataset import Dataset

__all__ = ["ShardDataset", "ShardWriter", "INDEX_NAME", "FORMAT"]

INDEX_NAME = "index.json"
FORMAT = "tessel-shards"
VERSION = 1

# tessel dtype name -> (safetensors code, bytes per element)
_DTYPES = {"bool": ("BOOL", 1), "uint8": ("U8", 1), "int8": ("I8", 1), "int16": ("I16", 2), "int32": ("I32", 4),
           "int64": ("I64", 8), "float16": ("F16", 2), "bfloat16": ("BF16", 2), "float32": ("F32", 4),
           "float64": ("F64", 8)}
_CODES = {code: name for name, (code, _) in _DTYPES.items()}


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ShardWriter:
    """Writes samples into shards of `shard_size` samples, and the index last.

    fields: the names of each sample's tensors, in item order ("image", "label").
    Every sample of a field must have the same shape and dtype (the index records
    them); a sample that differs raises ValueError naming the field and `source`.

        with ts.data.ShardWriter(out, ["image", "label"], kind="image", classes=names) as w:
            w.add((image, ts.tensor(k)), source=path)
        # leaving the block without an error writes index.json; with an error, the
        # shards written so far are removed and no index is written.
    """

    def __init__(self, root, fields, shard_size=1024, kind=None, classes=None, metadata=None, overwrite=False):
        if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
            raise ValueError(f"[data.ShardWriter] shard_size must be a positive int, got {shard_size!r}")
        fields = list(fields)
        if not fields or not all(isinstance(f, str) and f for f in fields) or len(set(fields)) != len(fields):
            raise ValueError(f"[data.ShardWriter] fields must be distinct non-empty names, got {fields!r}")
        self.root = os.fspath(root)
        self.fields = fields
        self.shard_size = shard_size
        self.kind = kind
        self.classes = list(classes) if classes is not None else None
        self.metadata = dict(metadata or {})
        self.specs = None  # field -> (dtype name, per-sample shape)
        self.shards = []
        self.count = 0
        self._pending = []
        self._written = []
        self._done = False
        index = os.path.join(self.root, INDEX_NAME)
        if os.path.exists(index):
            if not overwrite:
                raise FileExistsError(f"[data.ShardWriter] '{self.root}' already holds a dataset ({INDEX_NAME}); "
                                      "pass overwrite=True (tessel convert --overwrite) to replace it")
            # The index goes first, so that the old shards never look complete again.
            os.remove(index)
        os.makedirs(self.root, exist_ok=True)
        if overwrite:
            for name in os.listdir(self.root):
                if name.startswith("shard-") and (name.endswith(".safetensors") or name.endswith(".tmp")):
                    os.remove(os.path.join(self.root, name))

    def add(self, tensors, source=None):
        """Adds one sample: a tuple of tensors, one per field, in `fields` order."""
        if self._done:
            raise RuntimeError("[data.ShardWriter] add() after close()")
        tensors = tuple(tensors)
        where = f" ({source})" if source is not None else ""
        if len(tensors) != len(self.fields):
            raise ValueError(f"[data.ShardWriter] expected {len(self.fields)} tensors ({', '.join(self.fields)}), "
                             f"got {len(tensors)}{where}")
        specs = []
        for name, t in zip(self.fields, tensors):
            if not isinstance(t, _C.Tensor):
                raise TypeError(f"[data.ShardWriter] field '{name}' must be a Tensor, got {type(t).__name__}{where}")
            if t.dtype.name not in _DTYPES:
                raise TypeError(f"[data.ShardWriter] field '{name}': dtype {t.dtype.name} cannot be stored{where}")
            specs.append((t.dtype.name, list(t.shape)))
        if self.specs is None:
            self.specs = dict(zip(self.fields, specs))
        else:
            for name, spec in zip(self.fields, specs):
                if self.specs[name] != spec:
                    want = self.specs[name]
                    raise ValueError(f"[data.ShardWriter] field '{name}' of the sample{where} is {spec[0]} "
                                     f"{spec[1]}, but earlier samples are {want[0]} {want[1]}: every sample of a "
                                     "field needs the same shape and dtype")
        self._pending.append(tensors)
        if len(self._pending) >= self.shard_size:
            self._flush()

    def _flush(self):
        if not self._pending:
            return
        from .. import stack
        k = len(self.shards)
        name = f"shard-{k:05d}.safetensors"
        path = os.path.join(self.root, name)
        tensors = {f: stack([s[i] for s in self._pending]).contiguous() for i, f in enumerate(self.fields)}
        tmp = path + ".tmp"
        self._written.append(tmp)
        _C._io.save_file(tensors, tmp, {"format": FORMAT, "shard": str(k)})
        os.replace(tmp, path)
        self._written.append(path)
        self.shards.append({"file": name, "count": len(self._pending), "bytes": os.path.getsize(path),
                            "sha256": _sha256(path)})
        self.count += len(self._pending)
        self._pending = []

    def index(self):
        return {"format": FORMAT, "version": VERSION, "kind": self.kind, "count": self.count,
                "fields": {f: {"dtype": d, "shape": s} for f, (d, s) in (self.specs or {}).items()},
                "field_order": self.fields, "classes": self.classes, "shards": self.shards,
                "metadata": self.metadata}

    def close(self):
        """Writes the last shard and then the index (atomically); returns the index."""
        if self._done:
            return self.index()
        self._flush()
        if self.count == 0:
            raise ValueError(f"[data.ShardWriter] no sample was added: nothing to write to '{self.root}'")
        self._done = True
        data = self.index()
        _write_json_atomic(os.path.join(self.root, INDEX_NAME), data)
        return data

    def abort(self):
        """Removes what this writer wrote (no index is written)."""
        self._done = True
        for path in self._written:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        self._pending = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


class _Files:
    """Open descriptors of the shard files, shared by a dataset and its worker copies."""

    def __init__(self):
        self.fds = {}
        self.lock = threading.Lock()

    def fd(self, path):
        fd = self.fds.get(path)
        if fd is None:
            with self.lock:
                fd = self.fds.get(path)
                if fd is None:
                    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                    self.fds[path] = fd
        return fd

    def close(self):
        with self.lock:
            for fd in self.fds.values():
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.fds.clear()

    def __del__(self):
        self.close()


def _read_header(path):
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"[data.ShardDataset] '{path}' is truncated (no safetensors header)")
        n = int.from_bytes(head, "little")
        if n <= 0 or n > 100_000_000:
            raise ValueError(f"[data.ShardDataset] '{path}' is not a safetensors file")
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise ValueError(f"[data.ShardDataset] '{path}' has a corrupt safetensors header") from None
    return 8 + n, header


class ShardDataset(Dataset):
    """A map-style dataset over a folder of tensor shards (see the module docs).

    Item i is a tuple of its fields in the index's order, e.g. (image, label) or
    (input_ids, attention_mask, label); each field a tensor of the per-sample
    shape recorded in the index (the label a 0-d int64 tensor).
    transform runs on the first field, target_transform on the field named "label".
    verify=True checks each shard's SHA-256 against the index when it is first read.
    Attributes: classes, class_to_idx, fields, index, root.
    Works with ts.data.DataLoader, worker threads included.
    """

    def __init__(self, root, transform=None, target_transform=None, verify=False):
        self.root = os.fspath(root)
        path = os.path.join(self.root, INDEX_NAME)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"[data.ShardDataset] no such folder: '{self.root}'")
        if not os.path.exists(path):
            raise FileNotFoundError(f"[data.ShardDataset] '{self.root}' has no {INDEX_NAME}: not a shard folder, or "
                                    "its conversion did not finish")
        try:
            with open(path, encoding="utf-8") as f:
                index = json.load(f)
        except ValueError as e:
            raise ValueError(f"[data.ShardDataset] '{path}' is not valid JSON ({e})") from None
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise ValueError(f"[data.ShardDataset] '{path}' is not a {FORMAT} index")
        if index.get("version", 0) > VERSION:
            raise ValueError(f"[data.ShardDataset] '{path}' has format version {index['version']}; this tessel "
                             f"reads up to {VERSION}")
        self.index = index
        self.fields = list(index.get("field_order") or index["fields"])
        self.specs = {}
        for f in self.fields:
            spec = index["fields"][f]
            if spec["dtype"] not in _DTYPES:
                raise ValueError(f"[data.ShardDataset] '{path}': field '{f}' has unknown dtype {spec['dtype']!r}")
            numel = 1
            for d in spec["shape"]:
                numel *= int(d)
            self.specs[f] = (_C.dtype.__members__[spec["dtype"]], list(spec["shape"]),
                             numel * _DTYPES[spec["dtype"]][1])
        self.classes = index.get("classes")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)} if self.classes is not None else None
        self.transform = transform
        self.target_transform = target_transform
        self.verify_on_read = bool(verify)
        self._shards = index["shards"]
        self._starts = []
        total = 0
        for s in self._shards:
            self._starts.append(total)
            total += int(s["count"])
        if total != index.get("count", total):
            raise ValueError(f"[data.ShardDataset] '{path}': shard counts add up to {total}, the index says "
                             f"{index['count']}")
        self._len = total
        self._layout = {}  # shard number -> {field: absolute byte offset of the field's data}
        self._layout_lock = threading.Lock()
        self._files = _Files()

    def __len__(self):
        return self._len

    def _shard_path(self, k):
        return os.path.join(self.root, self._shards[k]["file"])

    def _offsets(self, k):
        layout = self._layout.get(k)
        if layout is not None:
            return layout
        with self._layout_lock:
            layout = self._layout.get(k)
            if layout is not None:
                return layout
            path = self._shard_path(k)
            if not os.path.exists(path):
                raise FileNotFoundError(f"[data.ShardDataset] shard '{path}' is missing")
            if self.verify_on_read:
                digest = _sha256(path)
                if digest != self._shards[k]["sha256"]:
                    raise ValueError(f"[data.ShardDataset] shard '{path}' does not match its SHA-256 in the index "
                                     "(changed or corrupt)")
            base, header = _read_header(path)
            count = int(self._shards[k]["count"])
            size = os.path.getsize(path)
            layout = {}
            for f in self.fields:
                entry = header.get(f)
                dtype, shape, nbytes = self.specs[f]
                want = [count] + shape
                if (not isinstance(entry, dict) or entry.get("shape") != want
                        or _CODES.get(entry.get("dtype")) != dtype.name):
                    raise ValueError(f"[data.ShardDataset] shard '{path}': field '{f}' is "
                                     f"{entry and entry.get('dtype')} {entry and entry.get('shape')}, the index "
                                     f"says {dtype.name} {want}")
                start, end = entry["data_offsets"]
                if end - start != count * nbytes or base + end > size:
                    raise ValueError(f"[data.ShardDataset] shard '{path}' is truncated or corrupt (field '{f}')")
                layout[f] = base + start
            self._layout[k] = layout
            return layout

    def locate(self, i):
        """(shard number, position in the shard) of item i."""
        k = bisect.bisect_right(self._starts, i) - 1
        return k, i - self._starts[k]

    def _read(self, i):
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TypeError(f"[data.ShardDataset] index must be an int, got {type(i).__name__}")
        i = i.__index__()
        n = self._len
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"[data.ShardDataset] index {i} is out of range for {n} samples")
        k, j = self.locate(i)
        layout = self._offsets(k)
        fd = self._files.fd(self._shard_path(k))
        out = []
        for f in self.fields:
            dtype, shape, nbytes = self.specs[f]
            data = os.pread(fd, nbytes, layout[f] + j * nbytes)
            if len(data) != nbytes:
                raise ValueError(f"[data.ShardDataset] shard '{self._shard_path(k)}' is truncated")
            out.append(_C._io.tensor_from_bytes(data, dtype, shape))
        return out

    def __getitem__(self, i):
        out = self._read(i)
        if self.transform is not None:
            out[0] = self.transform(out[0])
        if self.target_transform is not None and "label" in self.fields:
            k = self.fields.index("label")
            out[k] = self.target_transform(out[k])
        return tuple(out)

    def verify(self):
        """Checks every shard against the SHA-256 in the index; raises ValueError naming the first bad one."""
        for k, s in enumerate(self._shards):
            path = self._shard_path(k)
            if not os.path.exists(path):
                raise FileNotFoundError(f"[data.ShardDataset] shard '{path}' is missing")
            if _sha256(path) != s["sha256"]:
                raise ValueError(f"[data.ShardDataset] shard '{path}' does not match its SHA-256 in the index")
        return True

    def close(self):
        self._files.close()

    def __repr__(self):
        fields = ", ".join(f"{f}: {self.specs[f][0].name}{self.specs[f][1]}" for f in self.fields)
        return f"ShardDataset('{self.root}', {self._len} samples in {len(self._shards)} shards; {fields})"
