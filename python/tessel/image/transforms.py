"""Image transforms (torchvision-like) implemented in C++: the same objects run on
the data loader's worker threads. Call one as ``t(img)`` (randomness drawn from
tessel's generator, so ``ts.manual_seed`` reproduces it) or ``t(img, seed=...)``.
Transforms take decoded HWC images (ts.image.decode/read, NumPy arrays) and
[..., C, H, W] tensors, as torchvision takes PIL images and tensors (the rule is
in ts.image's docstring); ToTensor turns a decoded image into CHW float32.
"""
import enum
import numbers

from .. import _C
from . import _t, _hw, _fill, _padding
from ..data.files import Compose as _DataCompose

_I = _C._image

__all__ = ["Transform", "Compose", "Decode", "Resize", "CenterCrop", "RandomResizedCrop", "RandomHorizontalFlip",
           "ColorJitter", "Normalize", "ToTensor", "Pad", "RandomCrop", "RandomVerticalFlip", "RandomRotation",
           "RandomErasing", "GaussianBlur", "Grayscale", "RandomGrayscale", "RandomApply", "RandomChoice", "Lambda",
           "AutoAugment", "AutoAugmentPolicy", "RandAugment", "apply_batch", "IMAGENET_MEAN", "IMAGENET_STD"]

# The base class and Compose are shared with ts.audio and ts.data.
Transform = _C._data.Transform


class _Call:
    def __call__(self, x, seed=None):
        return Transform.__call__(self, _t(x), seed)


class Compose(_DataCompose):
    """ts.data.Compose (C++ steps on the loader's threads, then any Python
    callables in order) that reads NumPy input as HWC images."""

    def __call__(self, x, seed=None):
        return _DataCompose.__call__(self, _t(x), seed)


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
    """A decoded HWC image (or NumPy array) -> CHW float32, uint8 scaled by 1/255."""

    def __init__(self):
        _I.ToTensor.__init__(self)


def _pair(x, what):
    if isinstance(x, numbers.Number):
        return float(x), float(x)
    a, b = x
    return float(a), float(b)


class Pad(_Call, _I.Pad):
    """torchvision's Pad: padding int, (left/right, top/bottom) or (left, top, right, bottom);
    padding_mode constant (fill), edge, reflect or symmetric."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        _I.Pad.__init__(self, _padding(padding, "image.Pad"), _fill(fill), padding_mode)


class RandomCrop(_Call, _I.RandomCrop):
    """torchvision's RandomCrop: pads by `padding` first (if given); pad_if_needed pads a
    side shorter than size by the difference on both ends; then a uniform crop."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        h, w = _hw(size, "size")
        p = (0, 0, 0, 0) if padding is None else _padding(padding, "image.RandomCrop")
        _I.RandomCrop.__init__(self, h, w, p, bool(pad_if_needed), _fill(fill), padding_mode)


class RandomVerticalFlip(_Call, _I.RandomVerticalFlip):
    def __init__(self, p=0.5):
        _I.RandomVerticalFlip.__init__(self, float(p))


class RandomRotation(_Call, _I.RandomRotation):
    """torchvision's RandomRotation: degrees d means (-d, d); the angle is uniform in it.
    interpolation "nearest" or "bilinear"; see ts.image.rotate."""

    def __init__(self, degrees, interpolation="nearest", expand=False, center=None, fill=0):
        if isinstance(degrees, numbers.Number):
            if degrees < 0:
                raise ValueError("[image.RandomRotation] degrees must be >= 0 when a single number")
            degrees = (-degrees, degrees)
        lo, hi = _pair(degrees, "degrees")
        c = [] if center is None else [float(v) for v in center]
        _I.RandomRotation.__init__(self, lo, hi, interpolation, bool(expand), c, _fill(fill))


class RandomErasing(_Call, _I.RandomErasing):
    """torchvision's RandomErasing on [..., C, H, W] tensors (after ToTensor). value: a
    number, one per channel, or "random" (standard normal noise)."""

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False):
        rand = isinstance(value, str)
        if rand and value != "random":
            raise ValueError(f"[image.RandomErasing] value must be a number, a sequence or 'random', got {value!r}")
        _I.RandomErasing.__init__(self, float(p), _pair(scale, "scale"), _pair(ratio, "ratio"),
                                  [] if rand else _fill(value), rand, bool(inplace))


class GaussianBlur(_Call, _I.GaussianBlur):
    """torchvision's GaussianBlur: kernel_size int or (kx, ky) (odd); sigma a value or
    (min, max), drawn uniformly for each image."""

    def __init__(self, kernel_size, sigma=(0.1, 2.0)):
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(map(int, kernel_size))
        _I.GaussianBlur.__init__(self, k, _pair(sigma, "sigma"))


class Grayscale(_Call, _I.Grayscale):
    """1 or 3 output channels. Decoded images round as Pillow's convert("L"); tensors
    truncate 0.2989 R + 0.587 G + 0.114 B as torchvision's rgb_to_grayscale."""

    def __init__(self, num_output_channels=1):
        _I.Grayscale.__init__(self, int(num_output_channels))


class RandomGrayscale(_Call, _I.RandomGrayscale):
    """Grayscale with as many channels as the input, with probability p."""

    def __init__(self, p=0.1):
        _I.RandomGrayscale.__init__(self, float(p))


class RandomApply(_Call, _I.RandomApply):
    """The transforms in order with probability p."""

    def __init__(self, transforms, p=0.5):
        self.transforms = list(transforms)
        _I.RandomApply.__init__(self, self.transforms, float(p))


class RandomChoice(_Call, _I.RandomChoice):
    """One transform picked at random (p: weights, None for uniform)."""

    def __init__(self, transforms, p=None):
        self.transforms = list(transforms)
        _I.RandomChoice.__init__(self, self.transforms, [] if p is None else [float(w) for w in p])


class Lambda(_Call, _I.Lambda):
    """A Python function as a transform (it must return a tessel Tensor). It runs with
    the GIL held, so it serializes the loader's worker threads."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"[image.Lambda] expected a callable, got {type(lambd).__name__}")
        self.lambd = lambd
        _I.Lambda.__init__(self, lambd, getattr(lambd, "__name__", type(lambd).__name__))


class AutoAugmentPolicy(str, enum.Enum):
    """torchvision's policy names (the members are also their strings)."""
    IMAGENET = "imagenet"
    CIFAR10 = "cifar10"
    SVHN = "svhn"


class AutoAugment(_Call, _I.AutoAugment):
    """torchvision's AutoAugment: one of the policy's 25 two-op sub-policies
    (``self.policies``, as torchvision lists them) drawn per image, each op applied
    with its probability at its magnitude bin of 10. policy: an AutoAugmentPolicy,
    its string, or torchvision's enum. interpolation "nearest" or "bilinear"; fill
    None leaves zeros outside geometric ops."""

    def __init__(self, policy=AutoAugmentPolicy.IMAGENET, interpolation="nearest", fill=None):
        name = getattr(policy, "value", policy)
        if not isinstance(name, str):
            raise TypeError(f"[image.AutoAugment] policy must be an AutoAugmentPolicy or its name, "
                            f"got {type(policy).__name__}")
        _I.AutoAugment.__init__(self, name.lower(), interpolation, _fill(fill))
        self.policy = AutoAugmentPolicy(name.lower())
        self.policies = _I.autoaugment_policies(self.policy.value)


class RandAugment(_Call, _I.RandAugment):
    """torchvision's RandAugment: num_ops ops drawn from 14 (Identity, ShearX/Y, TranslateX/Y,
    Rotate, Brightness, Color, Contrast, Sharpness, Posterize, Solarize, AutoContrast,
    Equalize), each at bin `magnitude` of num_magnitude_bins, with a random sign."""

    def __init__(self, num_ops=2, magnitude=9, num_magnitude_bins=31, interpolation="nearest", fill=None):
        _I.RandAugment.__init__(self, int(num_ops), int(magnitude), int(num_magnitude_bins), interpolation,
                                _fill(fill))


def apply_batch(transform, images, seed=None, num_threads=0):
    """transform(images[i]) for each i on C++ threads; image i is seeded from (seed, i)."""
    return _I.apply_batch(transform, [_t(x) for x in images], seed, num_threads)
