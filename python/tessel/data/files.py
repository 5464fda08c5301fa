"""FileDataset: files read, decoded and transformed on the loader's C++ worker
threads; and Compose, which may end in Python callables (run after the C++
steps, in the loader's calling thread, holding the GIL)."""
import os

from .. import _C
from ._seed import draw_seed
from .dataset import Dataset

__all__ = ["Transform", "Compose", "FileDataset", "decoders"]

_d = _C._data

# C++ transforms (ts.image.transforms, ts.audio, ts.text.Tokenize) derive from Transform: t(x, seed=None).
Transform = _d.Transform


def decoders():
    """Names FileDataset(decode=...) accepts: "bytes", "audio", "image", "text" and any registered from C++."""
    return _d.decoder_names()


def _steps(transforms):
    # Nested Composes are flattened so that their Python steps are seen.
    out = []
    for t in transforms:
        inner = getattr(t, "transforms", None)
        if isinstance(t, _d.Compose) and inner is not None:
            out += _steps(inner)
        else:
            out.append(t)
    return out


def _split(transform, what):
    """(the leading C++ transforms as one, the steps after them)."""
    if transform is None:
        return None, []
    if isinstance(transform, Compose):
        return transform._cpp, transform._tail
    if isinstance(transform, _d.Transform):
        return transform, []
    if callable(transform):
        return None, [transform]
    raise TypeError(f"[data.{what}] transform must be a C++ transform (ts.image.transforms, ts.audio, "
                    f"ts.text.Tokenize, ts.data.Compose), a Python callable or None, got {type(transform).__name__}")


def _run_tail(tail, x, seed):
    # C++ transforms after a Python step still get a seed of their own, from the item's.
    for k, step in enumerate(tail):
        x = step(x, seed=_d.item_seed(seed, k + 1, 0)) if isinstance(step, _d.Transform) else step(x)
    return x


class Compose(_d.Compose):
    """Transforms applied in order. C++ transforms only: one C++ transform, run
    on the loader's worker threads. With Python callables too, the C++ steps
    before the first Python one run on the worker threads and the rest run in
    Python, in order, in the thread that iterates the loader."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        flat = _steps(self.transforms)
        for k, t in enumerate(flat):
            if not isinstance(t, _d.Transform) and not callable(t):
                raise TypeError(f"[data.Compose] transform {k} is not callable: {type(t).__name__}")
        first_py = next((k for k, t in enumerate(flat) if not isinstance(t, _d.Transform)), len(flat))
        cpp, self._tail = flat[:first_py], flat[first_py:]
        _d.Compose.__init__(self, cpp)
        self._cpp = None if not cpp else (self if not self._tail else _d.Compose(cpp))

    def __call__(self, x, seed=None):
        if not self._tail:
            return _d.Transform.__call__(self, x, seed)
        seed = draw_seed() if seed is None else seed
        if self._cpp is not None:
            x = _d.Transform.__call__(self._cpp, x, seed)
        return _run_tail(self._tail, x, seed)

    def __repr__(self):
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class FileDataset(Dataset):
    """Files decoded on C++ threads by the decoder named `decode`: "image" (HWC
    uint8 RGB), "audio" (float32 [channels, samples]), "text" (checked UTF-8
    bytes) or "bytes" (uint8), see decoders(). `transform`: a C++ transform
    (runs on the worker threads), a Python callable, or a Compose of both (the
    Python part runs in the calling thread after the C++ decode). `labels`
    (ints) become the second field, passed through target_transform (Python)."""

    def __init__(self, paths, decode="image", transform=None, labels=None, target_transform=None):
        self.paths = [os.fspath(p) for p in paths]
        self.decode, self.transform, self.target_transform = decode, transform, target_transform
        if target_transform is not None and not callable(target_transform):
            raise TypeError(f"[data.FileDataset] target_transform must be callable or None, got "
                            f"{type(target_transform).__name__}")
        if target_transform is not None and labels is None:
            raise ValueError("[data.FileDataset] target_transform needs labels")
        cpp, self._tail = _split(transform, type(self).__name__)
        self.labels = None if labels is None else [int(v) for v in labels]
        self._impl = _d.FileDataset(self.paths, decode, cpp, self.labels)

    @property
    def _python_steps(self):
        """Whether items need Python work after the C++ part."""
        return bool(self._tail) or self.target_transform is not None

    def _finish(self, fields, seed):
        # The C++ part's output (x,) or (x, label) -> the item as __getitem__ returns it.
        x = _run_tail(self._tail, fields[0], seed) if self._tail else fields[0]
        if len(fields) == 1:
            return x
        y = int(fields[1].item())
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __len__(self):
        return len(self._impl)

    def __getitem__(self, index):
        # Randomness from tessel's generator: ts.manual_seed reproduces an item.
        seed = draw_seed()
        return self._finish(self._impl.get(index, seed), seed)
