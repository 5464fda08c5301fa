"""ts.data with torch.utils.data's names: tessel.utils.data, samplers, dataset
combinators, workers (threads), DataLoader arguments and errors, folder datasets.

Expected values marked "PyTorch" were produced by torch.utils.data (2.x) on the
same inputs (they involve no random numbers).
"""
import collections
import os
import threading
import time

import numpy as np
import pytest

import tessel as ts
from tessel.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, DistributedSampler,
                               IterableDataset, RandomSampler, Sampler, SequentialSampler, Subset,
                               SubsetRandomSampler, TensorDataset, WeightedRandomSampler, default_collate,
                               default_convert, get_worker_info, random_split)


def order(loader):
    return np.concatenate([np.atleast_1d(b[0].numpy()) for b in loader]).tolist()


class Range(IterableDataset):
    """start..end-1, sharded across workers with get_worker_info (PyTorch's documented pattern)."""

    def __init__(self, start, end, shard=True):
        self.start, self.end, self.shard = start, end, shard

    def __iter__(self):
        info = get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.start, self.end))
        return iter(range(self.start + info.id, self.end, info.num_workers))

    def __len__(self):
        return self.end - self.start


# ---- tessel.utils.data ----

def test_utils_data_is_ts_data():
    import tessel.utils.data as tud
    from tessel.utils.data.distributed import DistributedSampler as DS
    from tessel.utils.data.sampler import RandomSampler as RS
    assert tud is ts.data and ts.utils.data is ts.data
    assert DS is DistributedSampler and RS is RandomSampler and tud.DataLoader is DataLoader


# ---- the seed bug: shuffling follows ts.manual_seed / generator ----

def test_shuffle_follows_manual_seed():
    ds = TensorDataset(ts.arange(30))
    ts.manual_seed(1)
    a = order(DataLoader(ds, batch_size=4, shuffle=True))
    ts.manual_seed(1)
    b = order(DataLoader(ds, batch_size=4, shuffle=True))
    ts.manual_seed(2)
    c = order(DataLoader(ds, batch_size=4, shuffle=True))
    assert sorted(a) == list(range(30)) and a != list(range(30))
    assert a == b and a != c
    loader = DataLoader(ds, batch_size=4, shuffle=True)
    assert order(loader) != order(loader)  # a new order every epoch


def test_shuffle_with_a_generator():
    ds = TensorDataset(ts.arange(30))
    a = DataLoader(ds, batch_size=5, shuffle=True, generator=ts.Generator().manual_seed(7))
    b = DataLoader(ds, batch_size=5, shuffle=True, generator=ts.Generator().manual_seed(7))
    c = DataLoader(ds, batch_size=5, shuffle=True, generator=ts.Generator().manual_seed(8))
    a0, a1 = order(a), order(a)
    ts.manual_seed(123)  # the default generator plays no part
    assert [a0, a1] == [order(b), order(b)] and a0 != a1 and order(c) != a0
    g = ts.Generator().manual_seed(7)
    d = DataLoader(ds, batch_size=5, shuffle=True, generator=g)
    assert order(d) == a0
    g.manual_seed(7)  # reseeding the generator replays the epochs
    assert order(d) == a0
    with pytest.raises(TypeError, match="generator"):
        list(DataLoader(ds, shuffle=True, generator=3))
    with pytest.raises(ValueError, match="seed or generator"):
        DataLoader(ds, seed=1, generator=ts.Generator())


def test_file_dataset_shuffle_follows_manual_seed_like_a_python_dataset(tmp_path):
    paths = []
    for i in range(12):
        p = tmp_path / f"{i}.bin"
        p.write_bytes(bytes([i]))
        paths.append(str(p))
    fds = ts.data.FileDataset(paths, decode="bytes")
    runs = []
    for seed in (5, 5, 6):
        ts.manual_seed(seed)
        runs.append([int(b[0, 0]) for b in DataLoader(fds, batch_size=1, shuffle=True, num_workers=2)])
    assert runs[0] == runs[1] and runs[0] != runs[2] and sorted(runs[0]) == list(range(12))
    ts.manual_seed(5)
    assert order(DataLoader(TensorDataset(ts.arange(12)), batch_size=1, shuffle=True)) == runs[0]


# ---- samplers ----

def test_sequential_and_batch_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3] and len(SequentialSampler(range(4))) == 4
    # PyTorch's documented examples.
    assert list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False)) == [
        [0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=True)) == [
        [0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(BatchSampler(range(10), 3, False)) == 4 and len(BatchSampler(range(10), 3, True)) == 3
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, 1)
    with pytest.raises(NotImplementedError):
        iter(Sampler())


def test_random_sampler():
    ts.manual_seed(0)
    p = list(RandomSampler(range(50)))
    assert sorted(p) == list(range(50)) and p != list(range(50))
    ts.manual_seed(0)
    assert list(RandomSampler(range(50))) == p
    g = ts.Generator().manual_seed(3)
    s = RandomSampler(range(50), generator=g)
    e0, e1 = list(s), list(s)
    assert e0 != e1 and list(RandomSampler(range(50), generator=ts.Generator().manual_seed(3))) == e0
    r = list(RandomSampler(range(5), replacement=True, num_samples=2000))
    assert len(r) == 2000 and set(r) == set(range(5))
    counts = np.bincount(r, minlength=5)
    assert counts.min() > 300 and counts.max() < 500
    # Without replacement, num_samples > n: whole permutations, then part of one.
    m = list(RandomSampler(range(4), num_samples=10))
    assert sorted(m[:4]) == sorted(m[4:8]) == [0, 1, 2, 3] and len(set(m[8:])) == 2 and len(m) == 10
    assert len(RandomSampler(range(4))) == 4 and len(RandomSampler(range(4), num_samples=9)) == 9
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)


def test_subset_random_sampler():
    idx = [10, 20, 30, 40, 50]
    s = list(SubsetRandomSampler(idx, generator=ts.Generator().manual_seed(1)))
    assert sorted(s) == idx and len(SubsetRandomSampler(idx)) == 5


def test_weighted_random_sampler():
    g = ts.Generator().manual_seed(0)
    draws = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 8000, generator=g))
    assert set(draws) == {1, 3}
    assert abs(draws.count(3) / 8000 - 0.75) < 0.03
    no_rep = list(WeightedRandomSampler(ts.tensor([1.0, 0.0, 2.0, 5.0, 1.0]), 4, replacement=False))
    assert len(set(no_rep)) == 4 and 1 not in no_rep
    # Heavy weights come first more often without replacement.
    firsts = [next(iter(WeightedRandomSampler([1.0, 9.0], 2, replacement=False, generator=g))) for _ in range(400)]
    assert firsts.count(1) > 300
    assert len(WeightedRandomSampler([1, 2], 5)) == 5
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        WeightedRandomSampler([1.0, 2.0], 3, replacement=1)
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights have shape \(1, 2\)"):
        WeightedRandomSampler([[1.0, 2.0]], 3)
    with pytest.raises(ValueError, match="non-negative, got -2.0 at index 1"):
        WeightedRandomSampler([1.0, -2.0], 3)
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement from 2 non-zero weights"):
        WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False)


def test_distributed_sampler():
    # PyTorch: shuffle=False pads with the first indices; drop_last drops the tail.
    assert [list(DistributedSampler(range(10), 3, r, shuffle=False)) for r in range(3)] == [
        [0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert [list(DistributedSampler(range(10), 3, r, shuffle=False, drop_last=True)) for r in range(3)] == [
        [0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert [list(DistributedSampler(range(2), 5, r, shuffle=False)) for r in range(5)] == [[0], [1], [0], [1], [0]]
    shards = [DistributedSampler(range(20), 4, r, seed=3) for r in range(4)]
    e0 = [list(s) for s in shards]
    assert sorted(sum(e0, [])) == list(range(20)) and e0[0] != [0, 4, 8, 12, 16]
    assert [list(s) for s in shards] == e0  # same epoch, same order
    for s in shards:
        s.set_epoch(1)
    e1 = [list(s) for s in shards]
    assert e1 != e0 and sorted(sum(e1, [])) == list(range(20))
    assert len(shards[0]) == 5 and len(DistributedSampler(range(10), 3, 0, drop_last=True)) == 3
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match=r"Invalid rank -1"):
        DistributedSampler(range(4), num_replicas=2, rank=-1)


def test_distributed_sampler_reads_the_environment(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ValueError, match="num_replicas and rank are needed"):
        DistributedSampler(range(4))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    s = DistributedSampler(range(4), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (2, 1, [1, 3])


def test_loader_with_distributed_sampler_and_set_epoch():
    ds = TensorDataset(ts.arange(12))
    s = DistributedSampler(ds, num_replicas=2, rank=0, seed=1)
    loader = DataLoader(ds, batch_size=3, sampler=s)
    a, b = order(loader), order(loader)
    s.set_epoch(1)
    assert a == b and order(loader) != a and len(loader) == 2


# ---- datasets ----

def test_random_split():
    ts.manual_seed(0)
    a, b = random_split(range(10), [3, 7])
    assert len(a) == 3 and len(b) == 7 and sorted(list(a) + list(b)) == list(range(10))
    ts.manual_seed(0)
    assert [list(x) for x in random_split(range(10), [3, 7])] == [list(a), list(b)]
    g1, g2 = ts.Generator().manual_seed(4), ts.Generator().manual_seed(4)
    assert [list(x) for x in random_split(range(10), [5, 5], generator=g1)] == \
        [list(x) for x in random_split(range(10), [5, 5], generator=g2)]
    # Fractions: floor(n * f), the remainder one by one from the first split (PyTorch: sizes 4, 3, 3).
    assert [len(x) for x in random_split(range(10), [0.33, 0.33, 0.34])] == [4, 3, 3]
    assert [len(x) for x in random_split(range(10), [0.3, 0.7])] == [3, 7]
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(3), [1.0, 0.0])
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="lengths must be ints, or fractions summing to 1"):
        random_split(range(10), [0.5, 0.6])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(range(10), [-1, 11])


def test_subset_concat_and_chain():
    base = TensorDataset(ts.arange(10) * 10)
    sub = Subset(base, [9, 0, 4])
    assert [int(sub[i][0]) for i in range(3)] == [90, 0, 40] and len(sub) == 3
    cat = ConcatDataset([Subset(base, [1, 2]), base])
    assert len(cat) == 12 and cat.cumulative_sizes == [2, 12]
    assert int(cat[0][0]) == 10 and int(cat[2][0]) == 0 and int(cat[-1][0]) == 90
    assert len(base + base) == 20 and isinstance(base + base, ConcatDataset)
    with pytest.raises(IndexError):
        cat[12]
    with pytest.raises(ValueError, match="absolute value of index"):
        cat[-13]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="does not support IterableDataset"):
        ConcatDataset([Range(0, 3)])
    chain = Range(0, 3) + Range(10, 12)
    assert isinstance(chain, ChainDataset) and list(chain) == [0, 1, 2, 10, 11] and len(chain) == 5
    with pytest.raises(TypeError, match="only IterableDatasets"):
        list(ChainDataset([Range(0, 2), base]))
    with pytest.raises(NotImplementedError):
        Dataset()[0]


# ---- DataLoader arguments ----

def test_incompatible_arguments_raise_as_in_pytorch():
    ds = TensorDataset(ts.arange(10))
    bs = BatchSampler(SequentialSampler(ds), 2, False)
    for kw in (dict(batch_size=3), dict(shuffle=True), dict(drop_last=True), dict(sampler=SequentialSampler(ds))):
        with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                             "sampler, and drop_last"):
            DataLoader(ds, batch_sampler=bs, **kw)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified shuffle option, but got shuffle=True"):
        DataLoader(Range(0, 5), shuffle=True)
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified sampler option"):
        DataLoader(Range(0, 5), sampler=SequentialSampler(ds))
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified batch_sampler option"):
        DataLoader(Range(0, 5), batch_sampler=bs)
    with pytest.raises(ValueError, match="batch_size=None option disables auto-batching and is mutually exclusive "
                                         "with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but got batch_size=0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        DataLoader(ds, timeout=-1)
    with pytest.raises(ValueError, match="timeout .* needs num_workers > 0"):
        DataLoader(ds, timeout=1)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified with worker threads"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="prefetch_factor option should be a positive integer"):
        DataLoader(ds, num_workers=1, prefetch_factor=0)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="multiprocessing_context can only be used with worker loading"):
        DataLoader(ds, multiprocessing_context="spawn")
    with pytest.raises(TypeError, match="worker_init_fn must be callable"):
        DataLoader(ds, num_workers=1, worker_init_fn=3)
    with pytest.raises(TypeError, match="collate_fn must be callable"):
        DataLoader(ds, collate_fn="stack")
    # Accepted: shuffle=False with an IterableDataset, pin_memory (a no-op on CPU), a context with workers.
    DataLoader(Range(0, 5), shuffle=False)
    pinned = DataLoader(ds, batch_size=4, pin_memory=True, num_workers=1, multiprocessing_context="spawn")
    assert order(pinned) == list(range(10)) and pinned.pin_memory is True


def test_sampler_batch_sampler_and_collate_fn():
    ds = TensorDataset(ts.arange(10) * 2)
    assert order(DataLoader(ds, batch_size=2, sampler=[9, 1, 3])) == [18, 2, 6]
    batches = list(DataLoader(ds, batch_sampler=[[0, 1, 2], [7]]))
    assert [b[0].tolist() for b in batches] == [[0, 2, 4], [14]]
    got = list(DataLoader(ds, batch_size=4, collate_fn=lambda items: [int(x[0]) for x in items]))
    assert got == [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18]]
    assert len(DataLoader(ds, batch_sampler=[[0, 1, 2], [7]])) == 2 and len(DataLoader(ds, sampler=[1, 2, 3])) == 3


def test_batch_size_none_yields_items_converted():
    class Arrays(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {"x": np.full(2, i, dtype=np.float32), "i": i}

    items = list(DataLoader(Arrays(), batch_size=None))
    assert isinstance(items[1]["x"], ts.Tensor) and items[1]["x"].tolist() == [1.0, 1.0] and items[1]["i"] == 1
    assert len(DataLoader(Arrays(), batch_size=None)) == 3
    assert [x for x in DataLoader(Range(0, 4), batch_size=None)] == [0, 1, 2, 3]


def test_default_collate_follows_pytorch():
    Point = collections.namedtuple("Point", "x y")
    out = default_collate([Point(1, 2.5), Point(3, 4.5)])
    assert isinstance(out, Point) and out.x.dtype == ts.int64 and out.y.dtype == ts.float64
    assert default_collate([True, False]).dtype == ts.bool
    assert default_collate(["a", "b"]) == ["a", "b"]
    assert default_collate([np.float32(1.5), np.float32(2.0)]).dtype == ts.float32
    assert default_collate([[1, 2], [3, 4]])[0].tolist() == [1, 3]
    with pytest.raises(TypeError, match="batch must contain tensors, numpy arrays, numbers, dicts or lists"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    assert default_convert((np.arange(2), "s"))[0].tolist() == [0, 1]


# ---- workers (threads) ----

def test_iterable_dataset_sharded_across_workers():
    # PyTorch's order: batches taken from the workers in turn.
    assert [b.tolist() for b in DataLoader(Range(0, 10), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert [b.tolist() for b in DataLoader(Range(0, 10), batch_size=3, num_workers=2)] == [
        [0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]
    assert [b.tolist() for b in DataLoader(Range(0, 10), batch_size=3, num_workers=2, drop_last=True)] == [
        [0, 2, 4], [1, 3, 5]]
    # Unsharded, every worker yields the whole stream (as in PyTorch).
    dup = [b.tolist() for b in DataLoader(Range(0, 3, shard=False), batch_size=3, num_workers=2)]
    assert dup == [[0, 1, 2], [0, 1, 2]]
    assert len(DataLoader(Range(0, 10), batch_size=3)) == 4 and len(DataLoader(Range(0, 10), batch_size=3,
                                                                           drop_last=True)) == 3


def test_worker_init_fn_and_worker_info():
    seen, lock = [], threading.Lock()

    class Where(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            info = get_worker_info()
            return ts.tensor([i, info.id, info.num_workers])

    def init(worker_id):
        info = get_worker_info()
        with lock:
            seen.append((worker_id, info.id, info.num_workers, info.seed))

    assert get_worker_info() is None
    batches = list(DataLoader(Where(), batch_size=2, num_workers=2, worker_init_fn=init))
    rows = np.concatenate([b.numpy() for b in batches])
    assert rows[:, 0].tolist() == list(range(8)) and set(rows[:, 2]) == {2}
    assert [b.numpy()[0, 1] for b in batches] == [0, 1, 0, 1]  # batch b goes to worker b % num_workers
    assert sorted(s[:3] for s in seen) == [(0, 0, 2), (1, 1, 2)]
    seeds = sorted(s[3] for s in seen)
    assert seeds[1] == seeds[0] + 1  # base seed + worker id
    info = ts.data.WorkerInfo(0, 1, 5, None)
    with pytest.raises(AttributeError, match="read-only"):
        info.id = 3


def test_worker_init_fn_configures_its_own_dataset_copy():
    # PyTorch's documented pattern: worker_init_fn narrows its worker's copy of the dataset.
    def init(worker_id):
        info = get_worker_info()
        ds = info.dataset
        per = -(-(ds.end - ds.start) // info.num_workers)
        ds.start, ds.end = ds.start + worker_id * per, min(ds.start + (worker_id + 1) * per, ds.end)

    full = Range(3, 10, shard=False)
    got = sorted(int(x) for x in DataLoader(full, num_workers=2, worker_init_fn=init))
    assert got == list(range(3, 10)) and (full.start, full.end) == (3, 10)


def test_persistent_workers_keep_their_state():
    calls = []

    def init(worker_id):
        calls.append(worker_id)

    ds = TensorDataset(ts.arange(6))
    loader = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True, worker_init_fn=init)
    for _ in range(3):
        assert order(loader) == list(range(6))
    assert sorted(calls) == [0, 1]
    it = iter(loader)
    next(it)  # an epoch left early does not disturb the next one
    assert order(loader) == list(range(6))
    del it, loader
    import gc
    gc.collect()
    deadline = time.monotonic() + 5  # the loader's end stops its persistent threads
    while any(t.name.startswith("tessel-data-worker") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name.startswith("tessel-data-worker") for t in threading.enumerate())
    fresh = DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=init)
    calls.clear()
    order(fresh), order(fresh)
    assert sorted(calls) == [0, 0, 1, 1]


def test_timeout_and_errors_from_workers():
    class Slow(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            time.sleep(0.5)
            return i

    with pytest.raises(RuntimeError, match=r"timed out after 0.05 seconds"):
        list(DataLoader(Slow(), num_workers=1, timeout=0.05))

    def bad_init(worker_id):
        raise KeyError("no config")

    with pytest.raises(KeyError, match="worker_init_fn failed in worker"):
        list(DataLoader(TensorDataset(ts.arange(4)), num_workers=2, worker_init_fn=bad_init))

    class Broken(IterableDataset):
        def __iter__(self):
            yield 1
            raise OSError("stream closed")

    with pytest.raises(OSError, match="stream closed"):
        list(DataLoader(Broken(), num_workers=2))


def test_getitems_is_used_for_whole_batches():
    class Batched(Dataset):
        calls = 0

        def __len__(self):
            return 5

        def __getitem__(self, i):
            raise AssertionError("__getitems__ should be used")

        def __getitems__(self, idx):
            Batched.calls += 1
            return [i * 10 for i in idx]

    assert [b.tolist() for b in DataLoader(Batched(), batch_size=2)] == [[0, 10], [20, 30], [40]]
    assert Batched.calls == 3
    assert [b.tolist() for b in DataLoader(Subset(Batched(), [4, 0]), batch_size=2)] == [[40, 0]]


# ---- FileDataset: samplers, Subsets and Python transforms with the C++ loader ----

@pytest.fixture
def byte_files(tmp_path):
    paths = []
    for i in range(10):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(bytes([i, 2 * i]))
        paths.append(str(p))
    return paths


@pytest.mark.parametrize("workers", [0, 2])
def test_file_dataset_with_samplers(byte_files, workers):
    ds = ts.data.FileDataset(byte_files, decode="bytes", labels=list(range(100, 110)))
    x, y = next(iter(DataLoader(ds, sampler=[7, 2, 9], batch_size=3, num_workers=workers)))
    assert x[:, 0].tolist() == [7, 2, 9] and y.tolist() == [107, 102, 109]
    got = [b[1].tolist() for b in DataLoader(ds, batch_sampler=[[1], [3, 4]], num_workers=workers)]
    assert got == [[101], [103, 104]]
    single = list(DataLoader(ds, batch_size=None, sampler=[5], num_workers=workers))
    assert single[0][0].tolist() == [5, 10] and single[0][1] == 105
    train, val = random_split(ds, [7, 3], generator=ts.Generator().manual_seed(0))
    seen = [int(v) for b in DataLoader(val, batch_size=2, num_workers=workers) for v in b[1]]
    assert seen == [ds.labels[i] for i in val.indices]
    with pytest.raises(IndexError, match="the sampler gave index 10"):
        list(DataLoader(ds, sampler=[10], num_workers=workers))
    with pytest.raises(IndexError, match="the sampler gave index 3 for a Subset of 3 items"):
        list(DataLoader(val, sampler=[3], num_workers=workers))
    # Negative indices count from the end, through the Python steps too.
    last = next(iter(DataLoader(ts.data.FileDataset(byte_files, "bytes", transform=lambda x: x + 1),
                                sampler=[-1], batch_size=1, num_workers=workers)))
    assert last.tolist() == [[10, 19]]


def test_file_dataset_python_transforms_run_after_the_cpp_decode(byte_files):
    calls = []

    def double(x):
        calls.append(threading.current_thread() is threading.main_thread())
        return x.to(ts.int64) * 2

    ds = ts.data.FileDataset(byte_files, decode="bytes", transform=double, labels=list(range(10)),
                             target_transform=lambda y: y + 1000)
    assert ds[3][0].tolist() == [6, 12] and ds[3][1] == 1003
    x, y = next(iter(DataLoader(ds, batch_size=4, num_workers=2)))
    assert x.tolist() == [[0, 0], [2, 4], [4, 8], [6, 12]] and y.tolist() == [1000, 1001, 1002, 1003]
    assert calls and all(calls)  # in the thread that iterates, holding the GIL
    # A Compose mixing C++ and Python steps keeps their order.
    steps = ts.data.Compose([lambda x: x.to(ts.float32), lambda x: x + 0.5])
    ds2 = ts.data.FileDataset(byte_files[:2], decode="bytes", transform=steps)
    assert next(iter(DataLoader(ds2, batch_size=2))).tolist() == [[0.5, 0.5], [1.5, 2.5]]
    assert "Compose([" in repr(steps)
    collated = next(iter(DataLoader(ts.data.FileDataset(byte_files[:3], decode="bytes"), batch_size=3,
                                    collate_fn=lambda items: [t.tolist() for t in items])))
    assert collated == [[0, 0], [1, 2], [2, 4]]
    with pytest.raises(TypeError, match=r"\[data.FileDataset\] transform must be a C\+\+ transform .* got int"):
        ts.data.FileDataset(byte_files, decode="bytes", transform=3)
    with pytest.raises(TypeError, match=r"\[data.Compose\] transform 1 is not callable"):
        ts.data.Compose([double, "resize"])


needs_sndfile = pytest.mark.skipif(not ts.audio.available, reason="tessel built without libsndfile")


@needs_sndfile
def test_cpp_transform_after_a_python_step_is_reproducible(tmp_path):
    paths = []
    for i in range(4):
        p = tmp_path / f"c{i}.wav"
        ts.audio.save(p, ts.tensor(np.linspace(-0.5, 0.5, 3000 + 100 * i, dtype=np.float32)[None]), 8000)
        paths.append(str(p))
    t = ts.data.Compose([lambda x: x * 0.5, ts.audio.FixLength(2000, random=True)])
    ds = ts.data.FileDataset(paths, decode="audio", transform=t)
    a = [b.numpy() for b in DataLoader(ds, batch_size=2, seed=3, num_workers=2)]
    b = [b.numpy() for b in DataLoader(ds, batch_size=2, seed=3, num_workers=0)]
    assert a[0].shape == (2, 1, 2000)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


# ---- folder datasets ----

needs_opencv = pytest.mark.skipif(not ts.image.available(), reason="tessel built without OpenCV")


def _tree(root, spec):
    """spec: {class: [file names]}; PNG files get a small image whose pixels encode (class, index)."""
    from PIL import Image
    for c, names in spec.items():
        os.makedirs(root / c, exist_ok=True)
        for k, n in enumerate(names):
            path = root / c / n
            if n.lower().endswith(".png"):
                arr = np.full((4 + k, 5, 3), 10 * k + len(c), dtype=np.uint8)
                Image.fromarray(arr).save(path, format="PNG")
            else:
                path.write_bytes(b"not an image")


@needs_opencv
def test_image_folder(tmp_path):
    from PIL import Image
    _tree(tmp_path, {"dog": ["b.png", "a.PNG", "notes.txt"], "cat": ["z.png"], "cow": ["x.png"]})
    os.makedirs(tmp_path / "cow" / "sub")
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(tmp_path / "cow" / "sub" / "y.png")
    ds = ts.data.ImageFolder(tmp_path)
    assert ds.classes == ["cat", "cow", "dog"] and ds.class_to_idx == {"cat": 0, "cow": 1, "dog": 2}
    # torchvision's order: sorted os.walk (a folder's files before its subfolders'), files sorted.
    rel = [(os.path.relpath(p, tmp_path), c) for p, c in ds.samples]
    assert rel == [("cat/z.png", 0), ("cow/x.png", 1), ("cow/sub/y.png", 1), ("dog/a.PNG", 2), ("dog/b.png", 2)]
    assert ds.targets == [0, 1, 1, 2, 2] and ds.imgs == ds.samples and len(ds) == 5
    for i, (path, target) in enumerate(ds.samples):
        img, y = ds[i]
        np.testing.assert_array_equal(img.numpy(), np.asarray(Image.open(path).convert("RGB")))  # Pillow's pixels
        assert y == target and isinstance(y, int)
    import tessel.image.transforms as T
    resized = ts.data.ImageFolder(tmp_path, transform=T.Compose([T.Resize((4, 4)), T.ToTensor()]),
                                  target_transform=lambda y: y * 10)
    x, y = next(iter(DataLoader(resized, batch_size=5, num_workers=2)))
    assert x.shape == (5, 3, 4, 4) and x.dtype == ts.float32 and y.tolist() == [0, 10, 10, 20, 20]
    only_b = ts.data.ImageFolder(tmp_path, is_valid_file=lambda p: p.endswith("b.png"), allow_empty=True)
    assert [os.path.basename(p) for p, _ in only_b.samples] == ["b.png"]
    with pytest.raises(ValueError, match="exactly one of extensions and is_valid_file"):
        ts.data.ImageFolder(tmp_path, extensions=(".png",), is_valid_file=lambda p: True)


def test_dataset_folder_errors_and_bytes(tmp_path):
    _tree(tmp_path, {"a": ["1.dat", "2.DAT"], "b": ["3.txt"]})
    with pytest.raises(FileNotFoundError, match=r"found no valid file for the classes b\. Supported extensions "
                                                r"are: \.dat"):
        ts.data.DatasetFolder(tmp_path, "bytes", extensions=".dat")
    ds = ts.data.DatasetFolder(tmp_path, "bytes", extensions=".dat", allow_empty=True)
    assert ds.classes == ["a", "b"] and ds.targets == [0, 0] and bytes(ds[0][0].numpy()) == b"not an image"
    with pytest.raises(FileNotFoundError, match="couldn't find any class folder"):
        ts.data.DatasetFolder(tmp_path / "a", "bytes", extensions=".dat")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        ts.data.ImageFolder(tmp_path / "missing")
    with pytest.raises(TypeError, match="loader must name a C\\+\\+ decoder"):
        ts.data.DatasetFolder(tmp_path, loader=open, extensions=".dat")
    with pytest.raises(ValueError, match='unknown decoder "video"'):
        ts.data.DatasetFolder(tmp_path, "video", extensions=".dat")


@needs_sndfile
def test_audio_folder(tmp_path):
    import soundfile as sf
    rng = np.random.default_rng(0)
    for c, n in (("no", 2), ("yes", 3)):
        os.makedirs(tmp_path / c)
        for k in range(n):
            sf.write(tmp_path / c / f"{k}.wav", (0.1 * rng.standard_normal(800)).astype(np.float32), 16000,
                     subtype="FLOAT")
    (tmp_path / "yes" / "readme.md").write_text("skip me")
    ds = ts.data.AudioFolder(tmp_path, transform=ts.audio.FixLength(500))
    assert ds.classes == ["no", "yes"] and ds.targets == [0, 0, 1, 1, 1]
    x, y = next(iter(DataLoader(ds, batch_size=5, num_workers=2)))
    assert x.shape == (5, 1, 500) and y.tolist() == [0, 0, 1, 1, 1]
    ref, sr = sf.read(ds.samples[2][0], dtype="float32")
    np.testing.assert_array_equal(ts.data.AudioFolder(tmp_path)[2][0].numpy()[0], ref)


def test_file_dataset_timeout_does_not_wait_for_a_stuck_read(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes
    loader = DataLoader(ts.data.FileDataset([str(fifo)], decode="bytes"), num_workers=1, timeout=0.2)
    with pytest.raises(RuntimeError, match=r"\[data.DataLoader\] timed out after 0.2 seconds"):
        next(iter(loader))
    os.close(os.open(fifo, os.O_WRONLY))  # lets the worker finish (empty file) so the loader can be freed
    del loader


def test_loader_attributes_are_fixed_after_init_and_one_file_epoch_at_a_time(byte_files):
    loader = DataLoader(TensorDataset(ts.arange(4)), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 3
    loader.num_workers = 0  # others may change, as in PyTorch
    files = DataLoader(ts.data.FileDataset(byte_files, decode="bytes"), batch_size=2, num_workers=2)
    first = iter(files)
    next(first)
    assert len(list(files)) == 5
    with pytest.raises(RuntimeError, match="superseded by a newer iteration"):
        next(first)


def test_any_object_with_the_generator_interface():
    class MyGenerator:  # manual_seed / initial_seed only, as torch.Generator has
        def __init__(self):
            self.s = 0

        def manual_seed(self, s):
            self.s = s
            return self

        def initial_seed(self):
            return self.s

    ds = TensorDataset(ts.arange(20))
    a = DataLoader(ds, batch_size=5, shuffle=True, generator=MyGenerator().manual_seed(1))
    b = DataLoader(ds, batch_size=5, shuffle=True, generator=MyGenerator().manual_seed(1))
    c = DataLoader(ds, batch_size=5, shuffle=True, generator=MyGenerator().manual_seed(2))
    a0, a1 = order(a), order(a)
    assert [a0, a1] == [order(b), order(b)] and a0 != a1 and order(c) != a0


def test_seed_is_a_generator_seeded_with_it():
    ds = TensorDataset(ts.arange(25))
    a = DataLoader(ds, batch_size=5, shuffle=True, seed=11)
    b = DataLoader(ds, batch_size=5, shuffle=True, generator=ts.Generator().manual_seed(11))
    assert [order(a), order(a)] == [order(b), order(b)]
