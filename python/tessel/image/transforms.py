"""Image transforms (torchvision-like) implemented in C++: the same objects run on
the data loader's worker threads. Call one as ``t(img)`` (randomness drawn from
tessel's generator, so ``ts.manual_seed`` reproduces it) or ``t(img, seed=...)``.
Image transforms take HWC images; ToTensor turns them into CHW float32.
"""
from .. import _C
from . import _t, _hw

_I = _C._image

__all__ = ["Transform", "Compose", "Decode", "Resize", "CenterCrop", "RandomResizedCrop", "RandomHorizontalFlip",
           "ColorJitter", "Normalize", "ToTensor", "apply_batch", "IMAGENET_MEAN", "IMAGENET_STD"]

# The base class and Compose are shared with ts.audio and ts.data.
Transform = _C._data.Transform
_Compose = _C._data.Compose


class _Call:
    def __call__(self, x, seed=None):
        return Transform.__call__(self, _t(x), seed)


class Compose(_Call, _Compose):
    """Runs transforms in order (each may be any C++-backed transform)."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        _Compose.__init__(self, self.transforms)


class Decode(_Call, _I.Decode):
    """Encoded bytes (a 1-D uint8 tensor or array) -> HWC image, for loader pipelines."""

    def __init__(self, mode="rgb", *, bgr=False, apply_exif_orientation=False):
        _I.Decode.__init__(self, mode, bgr, apply_exif_orientation)


class Resize(_Call, _I.Resize):
    """size=(h, w), or an int: the shorter side becomes size (torchvision)."""

    def __init__(self, size, interpolation="bilinear", antialias=True):
        h, w = (size, 0) if isinstance(size, int) else _hw(size, "size")
        _I.Resize.__init__(self, h, w, interpolation, antialias)


class CenterCrop(_Call, _I.CenterCrop):
    def __init__(self, size):
        _I.CenterCrop.__init__(self, *_hw(size, "size"))


class RandomResizedCrop(_Call, _I.RandomResizedCrop):
    """torchvision's RandomResizedCrop (10 tries, then a center crop)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation="bilinear",
                 antialias=True):
        h, w = _hw(size, "size")
        _I.RandomResizedCrop.__init__(self, h, w, tuple(map(float, scale)), tuple(map(float, ratio)),
                                      interpolation, antialias)


class RandomHorizontalFlip(_Call, _I.RandomHorizontalFlip):
    def __init__(self, p=0.5):
        _I.RandomHorizontalFlip.__init__(self, float(p))


class ColorJitter(_Call, _I.ColorJitter):
    """torchvision semantics: factors in [max(0, 1 - x), 1 + x], hue in [-hue, hue],
    applied in a random order."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        _I.ColorJitter.__init__(self, float(brightness), float(contrast), float(saturation), float(hue))


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalize(_Call, _I.Normalize):
    """(x - mean) / std per channel of a CHW float tensor; ImageNet's statistics by default."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        _I.Normalize.__init__(self, [float(m) for m in mean], [float(s) for s in std])


class ToTensor(_Call, _I.ToTensor):
    def __init__(self):
        _I.ToTensor.__init__(self)


def apply_batch(transform, images, seed=None, num_threads=0):
    """transform(images[i]) for each i on C++ threads; image i is seeded from (seed, i)."""
    return _I.apply_batch(transform, [_t(x) for x in images], seed, num_threads)
