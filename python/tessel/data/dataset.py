"""Map-style and iterable datasets and their combinators (torch.utils.data names)."""
import bisect
import math
import numbers
import warnings

from ._seed import draw_seed

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset", "Subset",
           "random_split"]


class Dataset:
    """Base class of map-style datasets: implement __getitem__ (and __len__ for
    the default samplers). `a + b` concatenates."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of datasets read as a stream: implement __iter__. With
    num_workers > 0 every worker iterates its own copy: shard the stream with
    get_worker_info() (or every item comes once per worker). `a + b` chains."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Item i is (t[i] for t in tensors); every tensor has the same first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("[data.TensorDataset] needs at least one tensor")
        n = tensors[0].shape[0]
        for k, t in enumerate(tensors):
            if t.shape[0] != n:
                raise ValueError(f"[data.TensorDataset] size mismatch between tensors: tensor {k} has "
                                 f"{t.shape[0]} rows, tensor 0 has {n}")
        self.tensors = tensors

    def __len__(self):
        return self.tensors[0].shape[0]

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)


class ConcatDataset(Dataset):
    """The items of several map-style datasets, one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("[data.ConcatDataset] datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("[data.ConcatDataset] does not support IterableDataset (use ChainDataset)")
        self.cumulative_sizes, total = [], 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError(f"[data.ConcatDataset] absolute value of index {idx} should not exceed dataset "
                                 f"length {n}")
            idx += n
        if idx >= n:
            raise IndexError(f"[data.ConcatDataset] index {idx} out of range for {n} items")
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[d][idx - (self.cumulative_sizes[d - 1] if d else 0)]


class ChainDataset(IterableDataset):
    """The items of several iterable datasets, one stream after the other."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"[data.ChainDataset] only IterableDatasets can be chained, got {type(d).__name__}")
            yield from d

    def __len__(self):
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"[data.ChainDataset] only IterableDatasets can be chained, got {type(d).__name__}")
            total += len(d)
        return total


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        inner = getattr(self.dataset, "__getitems__", None)
        if callable(inner):
            return inner([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self):
        return len(self.indices)


def _permutation(n, generator):
    from .. import _C
    return _C._data.epoch_order(n, True, draw_seed(generator), 0)


def random_split(dataset, lengths, generator=None):
    """Splits `dataset` into non-overlapping Subsets of the given lengths (ints
    summing to len(dataset), or fractions summing to 1: floor(n * f) each, the
    remainder handed out one by one from the first). generator=None draws from
    tessel's default generator (ts.manual_seed reproduces the split)."""
    n = len(dataset)
    lengths = list(lengths)
    for k, v in enumerate(lengths):
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or v < 0 or not math.isfinite(v):
            raise ValueError(f"[data.random_split] lengths must be non-negative ints or fractions, got {v!r} at "
                             f"index {k}")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, s in enumerate(sizes):
            if s == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.")
        lengths = sizes
    if any(not float(v).is_integer() for v in lengths):
        raise ValueError(f"[data.random_split] lengths must be ints, or fractions summing to 1, got {lengths}")
    lengths = [int(v) for v in lengths]
    if sum(lengths) != n:
        raise ValueError(f"[data.random_split] sum of input lengths ({sum(lengths)}) does not equal the length of "
                         f"the input dataset ({n})")
    perm = _permutation(n, generator)
    out, offset = [], 0
    for size in lengths:
        out.append(Subset(dataset, perm[offset:offset + size]))
        offset += size
    return out
