"""Datasets and data loaders, with torch.utils.data's names (docs/data.md).

    ds = ts.data.ImageFolder("train/", transform=T.Compose([T.RandomResizedCrop(224), T.ToTensor()]))
    for images, labels in ts.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=2):
        ...

A FileDataset (ImageFolder, AudioFolder, DatasetFolder) reads, decodes and
transforms on C++ worker threads without the GIL. Any Python dataset works
too (TensorDataset, a Dataset or IterableDataset subclass, Subset,
ConcatDataset...): its items are fetched in Python, on worker threads when
num_workers > 0, and collated by default_collate. Shuffling follows
ts.manual_seed, or generator=ts.Generator().manual_seed(s), or seed=s.
Also importable as tessel.utils.data.
"""
from . import distributed  # noqa: F401
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                      random_split)
from .distributed import DistributedSampler
from .files import Compose, FileDataset, Transform, decoders, _d  # noqa: F401  (_d: tests use epoch_order)
from .folder import AUDIO_EXTENSIONS, IMG_EXTENSIONS, AudioFolder, DatasetFolder, ImageFolder
from .shards import ShardDataset, ShardWriter
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .worker import WorkerInfo, get_worker_info

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset", "Subset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "DataLoader", "default_collate",
           "default_convert", "get_worker_info", "WorkerInfo", "FileDataset", "DatasetFolder", "ImageFolder",
           "AudioFolder", "IMG_EXTENSIONS", "AUDIO_EXTENSIONS", "Transform", "Compose", "decoders",
           "ShardDataset", "ShardWriter"]
