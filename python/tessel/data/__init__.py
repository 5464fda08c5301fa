"""Datasets and data loaders (docs/data.md).

    ds = ts.data.FileDataset(paths, decode="image", labels=labels,
                             transform=T.Compose([T.RandomResizedCrop(224), T.ToTensor()]))
    for images, labels in ts.data.DataLoader(ds, batch_size=64, shuffle=True, seed=0, num_workers=2):
        ...

A FileDataset reads, decodes and transforms on C++ worker threads without the
GIL. Any Python object with __len__ and __getitem__ works too (TensorDataset,
your own Dataset subclass); its items are fetched in Python, prefetched on
threads when num_workers > 0, and collated the same way: tensors and numbers
are stacked, tuples/lists/dicts collated field by field.
"""
import concurrent.futures
import numbers

from .. import _C

__all__ = ["Dataset", "TensorDataset", "FileDataset", "DataLoader", "default_collate", "Transform", "Compose",
           "decoders"]

_d = _C._data

# C++ transforms (ts.image.transforms, ts.audio) derive from Transform: t(x, seed=None).
Transform = _d.Transform


class Compose(_d.Compose):
    """Transforms applied in order, as one C++ transform."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        _d.Compose.__init__(self, self.transforms)


def decoders():
    """Names FileDataset(decode=...) accepts: "bytes", "audio", "image" and any registered from C++."""
    return _d.decoder_names()


class Dataset:
    """Base class of map-style datasets: implement __len__ and __getitem__."""

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError


class TensorDataset(Dataset):
    """Item i is (t[i] for t in tensors); every tensor has the same first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("[data.TensorDataset] needs at least one tensor")
        n = tensors[0].shape[0]
        for k, t in enumerate(tensors):
            if t.shape[0] != n:
                raise ValueError(f"[data.TensorDataset] tensor {k} has {t.shape[0]} rows, tensor 0 has {n}")
        self.tensors = tensors

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)


class FileDataset(Dataset):
    """Files decoded on C++ threads: decode "image" (HWC uint8 RGB), "audio"
    (float32 [channels, samples]) or "bytes" (uint8), see decoders(); transform
    is a C++ transform (ts.image.transforms, ts.audio, Compose); labels (ints)
    become the second field."""

    def __init__(self, paths, decode="image", transform=None, labels=None):
        import os
        self.paths = [os.fspath(p) for p in paths]
        self._impl = _d.FileDataset(self.paths, decode, transform,
                                    None if labels is None else [int(v) for v in labels])

    def __len__(self):
        return len(self._impl)

    def __getitem__(self, index):
        out = self._impl.get(index, 0)
        return out if len(out) > 1 else out[0]


def default_collate(items):
    """Stacks a list of examples: tensors with ts.stack, numbers into a tensor,
    tuples/lists/dicts field by field; anything else is returned as a list."""
    import tessel as ts
    first = items[0]
    if isinstance(first, _C.Tensor):
        shapes = {tuple(t.shape) for t in items}
        if len(shapes) > 1:
            raise ValueError(f"[data.collate] cannot stack tensors of shapes {sorted(shapes)}: resize or crop "
                             "to one size, or pass a collate_fn")
        return ts.stack(list(items))
    if isinstance(first, bool):
        return ts.tensor(list(items), dtype=ts.bool)
    if isinstance(first, numbers.Integral):
        return ts.tensor(list(items), dtype=ts.int64)
    if isinstance(first, numbers.Real):
        return ts.tensor(list(items), dtype=ts.float32)
    if isinstance(first, dict):
        return {k: default_collate([it[k] for it in items]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(it) != len(first) for it in items):
            raise ValueError("[data.collate] examples have different numbers of fields")
        return type(first)(default_collate(list(field)) for field in zip(*items)) if isinstance(first, tuple) \
            else [default_collate(list(field)) for field in zip(*items)]
    try:
        import numpy as np
        if isinstance(first, np.ndarray):
            return ts.tensor(np.stack(items))
    except ImportError:
        pass
    return list(items)


class DataLoader:
    """Batches of a dataset, in order, optionally shuffled with a seed.

    batch_size, shuffle, seed (each epoch reshuffles from (seed, epoch)),
    drop_last, num_workers (C++ threads for a FileDataset; prefetch threads for
    Python datasets), prefetch (batches in flight per worker), collate_fn
    (Python datasets only). An item that fails raises, naming the item.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, seed=0, drop_last=False, num_workers=0,
                 prefetch=2, collate_fn=None):
        if batch_size < 1:
            raise ValueError(f"[data.DataLoader] batch_size must be at least 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"[data.DataLoader] num_workers must be non-negative, got {num_workers}")
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.drop_last, self.num_workers, self.prefetch = drop_last, num_workers, prefetch
        self.collate_fn = collate_fn or default_collate
        self.epoch = 0
        self._native = None
        if isinstance(dataset, FileDataset):
            if collate_fn is not None:
                raise ValueError("[data.DataLoader] a FileDataset collates in C++: collate_fn is not supported")
            o = _d.LoaderOptions()
            o.batch_size, o.shuffle, o.seed, o.drop_last = batch_size, shuffle, seed, drop_last
            o.num_workers, o.prefetch = num_workers, prefetch
            self._native = _d.DataLoader(dataset._impl, o)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self, epoch):
        # The C++ loader's order for (seed, epoch), so both kinds of dataset shuffle alike.
        return _d.epoch_order(len(self.dataset), self.shuffle, self.seed, epoch)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        if self._native is not None:
            self._native.begin_epoch(epoch)
            return _NativeIter(self._native)
        return self._python_iter(epoch)

    def _fetch(self, indices, b):
        items = []
        for i in indices:
            try:
                items.append(self.dataset[i])
            except Exception as e:
                raise type(e)(f"[data.DataLoader] item {i} (batch {b}) failed: {e}") from e
        return self.collate_fn(items)

    def _python_iter(self, epoch):
        order = self._order(epoch)
        batches = [order[k:k + self.batch_size] for k in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.num_workers == 0:
            for b, idx in enumerate(batches):
                yield self._fetch(idx, b)
            return
        window = self.num_workers * self.prefetch
        with concurrent.futures.ThreadPoolExecutor(self.num_workers) as pool:
            futures = {}
            for b in range(min(window, len(batches))):
                futures[b] = pool.submit(self._fetch, batches[b], b)
            for b in range(len(batches)):
                nxt = b + window
                if nxt < len(batches):
                    futures[nxt] = pool.submit(self._fetch, batches[nxt], nxt)
                yield futures.pop(b).result()


class _NativeIter:
    def __init__(self, loader):
        self._loader = loader

    def __iter__(self):
        return self

    def __next__(self):
        out = self._loader.next()
        return out if len(out) > 1 else out[0]
