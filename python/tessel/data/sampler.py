"""Samplers: which dataset indices a DataLoader visits, and in which batches
(torch.utils.data names and defaults). Random samplers draw one seed per epoch
from their generator (None: tessel's default generator, so ts.manual_seed
reproduces them)."""
import math
import numbers
import random

from .. import _C
from ._seed import draw_seed

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]


def _permutation(n, seed, k=0):
    return _C._data.epoch_order(n, True, seed, k)


def _positive_int(value, name, where):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"[data.{where}] {name} should be a positive integer value, but got {name}={value!r}")
    return int(value)


def _check_bool(value, name, where, kind=TypeError):
    if not isinstance(value, bool):
        raise kind(f"[data.{where}] {name} should be a boolean value, but got {name}={value!r}")


class Sampler:
    """Base class: implement __iter__ (dataset indices) and, if known, __len__."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices; with replacement=True, num_samples
    independent draws; without, num_samples > len gives whole permutations
    followed by part of one."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        _check_bool(replacement, "replacement", "RandomSampler")
        self.data_source, self.replacement, self._num_samples, self.generator = (data_source, replacement,
                                                                                  num_samples, generator)
        if num_samples is not None:
            _positive_int(num_samples, "num_samples", "RandomSampler")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, count = len(self.data_source), self.num_samples
        seed = draw_seed(self.generator)
        if n == 0:
            return iter(())
        if self.replacement:
            rng = random.Random(seed)
            return iter([rng.randrange(n) for _ in range(count)])
        out = []
        for k in range(count // n):
            out += _permutation(n, seed, k)
        if count % n:
            out += _permutation(n, seed, count // n)[:count % n]
        return iter(out)

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        perm = _permutation(len(self.indices), draw_seed(self.generator))
        return iter([self.indices[i] for i in perm])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices drawn with probability proportional to weights; without
    replacement, each index at most once."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        _positive_int(num_samples, "num_samples", "WeightedRandomSampler")
        _check_bool(replacement, "replacement", "WeightedRandomSampler", ValueError)
        if hasattr(weights, "tolist"):
            weights = weights.tolist()
        weights = list(weights)
        if any(isinstance(w, (list, tuple)) for w in weights):
            shape = (len(weights), len(weights[0]))
            raise ValueError(f"[data.WeightedRandomSampler] weights should be a 1d sequence but given weights have "
                             f"shape {shape}")
        weights = [float(w) for w in weights]
        for i, w in enumerate(weights):
            if not math.isfinite(w) or w < 0:
                raise ValueError(f"[data.WeightedRandomSampler] weights must be finite and non-negative, got {w} "
                                 f"at index {i}")
        if not weights or sum(weights) <= 0:
            raise ValueError("[data.WeightedRandomSampler] weights must contain a positive value")
        positive = sum(1 for w in weights if w > 0)
        if not replacement and num_samples > positive:
            raise ValueError(f"[data.WeightedRandomSampler] cannot draw {num_samples} samples without replacement "
                             f"from {positive} non-zero weights")
        self.weights, self.num_samples, self.replacement, self.generator = (weights, int(num_samples),
                                                                             replacement, generator)

    def __iter__(self):
        rng = random.Random(draw_seed(self.generator))
        n = len(self.weights)
        if self.replacement:
            return iter(rng.choices(range(n), weights=self.weights, k=self.num_samples))
        # Without replacement: the num_samples largest keys u ** (1 / w) (Efraimidis-Spirakis),
        # compared as log(u) / w, which cannot underflow.
        keys = [(math.log(1.0 - rng.random()) / w, i) for i, w in enumerate(self.weights) if w > 0]
        keys.sort(reverse=True)
        return iter([i for _, i in keys[:self.num_samples]])

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of batch_size (the last one
    shorter unless drop_last)."""

    def __init__(self, sampler, batch_size, drop_last):
        _positive_int(batch_size, "batch_size", "BatchSampler")
        _check_bool(drop_last, "drop_last", "BatchSampler", ValueError)
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
