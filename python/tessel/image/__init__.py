"""Images as tensors: decode/encode (OpenCV), resize, geometry, color, transforms.

Conventions (docs/image.md): images are HWC uint8 RGB (``bgr=True`` gives
OpenCV's order), gray images HW1, model inputs CHW float32 (``to_tensor``).
EXIF orientation is applied only when asked (``apply_exif_orientation=True``),
as in Pillow and torchvision. Resize has two named families: ``antialias=True``
matches Pillow / torchvision, ``antialias=False`` matches OpenCV's cv2.resize.
16-bit PNGs decode (mode="unchanged") to int32, tessel having no uint16.

Every function takes a tessel Tensor or a NumPy array and returns Tensors.
"""
import os as _os

from .. import _C

_I = _C._image

__all__ = [
    "available", "set_max_pixels", "max_pixels", "decode", "read", "info", "encode", "write", "decode_batch", "read_batch", "resize", "crop", "center_crop",
    "pad", "hflip", "vflip", "rotate", "apply_orientation", "convert_color", "to_tensor", "normalize", "to_image",
    "adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue", "transforms",
]


def _t(x):
    """A Tensor from a Tensor or anything NumPy can read (no copy when contiguous)."""
    if isinstance(x, _C.Tensor):
        return x
    import numpy as np
    return _C.from_numpy(np.ascontiguousarray(x))


def _hw(size, what):
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def available():
    """True when tessel was built with OpenCV; otherwise decode/encode and the
    antialias=False resize family raise NotImplementedError."""
    return _I.available()


def decode(data, mode="rgb", *, bgr=False, apply_exif_orientation=False, size_hint=None):
    """Decodes JPEG/PNG/WebP/BMP/GIF/TIFF bytes to an HWC tensor.

    mode: "rgb" (3 channels, uint8), "bgr", "gray" (HW1), or "unchanged" (as
    stored: alpha kept as RGBA, or BGRA with bgr=True; 16-bit PNG as int32).
    apply_exif_orientation: rotate/flip JPEGs per their EXIF tag (off by default,
    as Pillow and torchvision; OpenCV's imread applies it).
    size_hint=(h, w): JPEG only, decode at the smallest 1/2, 1/4 or 1/8 scale
    still >= (h, w) (like Pillow's draft()): faster, slightly different pixels.
    Malformed, truncated or unknown data raises ValueError.
    """
    return _I.decode(data, mode, bgr, apply_exif_orientation, None if size_hint is None else _hw(size_hint, "size_hint"))


def read(path, mode="rgb", *, bgr=False, apply_exif_orientation=False, size_hint=None):
    """decode() of a file. A missing file raises FileNotFoundError (OSError)."""
    return _I.read(_os.fspath(path), mode, bgr, apply_exif_orientation,
                   None if size_hint is None else _hw(size_hint, "size_hint"))


def set_max_pixels(n):
    """Decompression-bomb guard: decode refuses images whose header declares more than n
    pixels (default 178,956,970, Pillow's DecompressionBombError threshold; 0 = no limit)."""
    _I.set_max_pixels(int(n))


def max_pixels():
    return _I.max_pixels()


def info(data):
    """{width, height, channels, bit_depth, format, orientation} from the header
    (JPEG, PNG, WebP, BMP; other formats are decoded). channels is as stored."""
    return _I.info(data)


def encode(image, format="png", quality=None, *, bgr=False):
    """Encodes an HWC uint8 image (1, 3 or 4 channels) as png/jpeg/webp/bmp bytes.
    quality: JPEG/WebP 1..100 (None: JPEG 95, WebP lossless)."""
    return _I.encode(_t(image), format, -1 if quality is None else int(quality), bgr)


def write(path, image, quality=None, *, bgr=False):
    """Encodes (format from the extension) and writes a file."""
    _I.write(_os.fspath(path), _t(image), -1 if quality is None else int(quality), bgr)


def decode_batch(items, mode="rgb", transform=None, num_threads=0, *, seed=None, bgr=False,
                 apply_exif_orientation=False, size_hint=None):
    """Decodes (and transforms) a list of encoded images on C++ threads.

    Returns one [N, ...] tensor when all results have the same shape, else a
    list. Item i's transform randomness is seeded from (seed, i), so results do
    not depend on num_threads (0: all cores). seed=None draws one from tessel's
    generator. Errors name the item index.
    """
    return _I.decode_batch(list(items), mode, bgr, apply_exif_orientation,
                           None if size_hint is None else _hw(size_hint, "size_hint"), transform, seed, num_threads)


def read_batch(paths, mode="rgb", transform=None, num_threads=0, *, seed=None, bgr=False,
               apply_exif_orientation=False, size_hint=None):
    """decode_batch() of files, which are read on the C++ threads too."""
    return _I.read_batch([_os.fspath(p) for p in paths], mode, bgr, apply_exif_orientation,
                         None if size_hint is None else _hw(size_hint, "size_hint"), transform, seed, num_threads)


def resize(image, size, interpolation="bilinear", antialias=True, layout="hwc"):
    """Resizes to size=(h, w) (an int: that size for the shorter side, keeping the ratio).

    uint8 or float32; layout "hwc" (HWC or HW) or "chw" (CHW).
    antialias=True with bilinear/bicubic/lanczos/box/hamming: Pillow's resize
    (= torchvision antialias=True): the filter widens with the downscale factor.
    antialias=False with bilinear/bicubic/lanczos: cv2.resize INTER_LINEAR/
    INTER_CUBIC/INTER_LANCZOS4. nearest (cv2 INTER_NEAREST), nearest_exact
    (Pillow NEAREST, cv2 INTER_NEAREST_EXACT) and area (cv2 INTER_AREA) ignore antialias.
    """
    image = _t(image)
    if isinstance(size, int):
        h, w = (image.shape[0], image.shape[1]) if layout == "hwc" else (image.shape[1], image.shape[2])
        if w <= h:
            size = (int(size * h / w), size)
        else:
            size = (size, int(size * w / h))
    h, w = _hw(size, "size")
    return _I.resize(image, h, w, interpolation, antialias, layout)


def crop(image, top, left, height, width):
    return _I.crop(_t(image), top, left, height, width)


def center_crop(image, size):
    """torchvision's CenterCrop (top = round((H - h) / 2)); the crop must fit."""
    h, w = _hw(size, "size")
    return _I.center_crop(_t(image), h, w)


def pad(image, padding, mode="constant", value=0):
    """padding: int, (left/right, top/bottom) or (left, top, right, bottom), as torchvision.
    mode: "constant" (value), "edge", "reflect" (without repeating the edge)."""
    if isinstance(padding, int):
        l = t = r = b = padding
    elif len(padding) == 2:
        l, t = padding
        r, b = padding
    else:
        l, t, r, b = padding
    return _I.pad(_t(image), t, b, l, r, mode, float(value))


def hflip(image):
    return _I.hflip(_t(image))


def vflip(image):
    return _I.vflip(_t(image))


def rotate(image, angle, fill=0):
    """Counter-clockwise by angle degrees. Multiples of 90 are exact (90/270 swap
    H and W, like numpy.rot90); other angles keep the size, sample bilinearly
    about the center (as PIL's rotate) and put `fill` outside."""
    return _I.rotate(_t(image), float(angle), float(fill))


def apply_orientation(image, orientation):
    """The upright image for an EXIF orientation 1..8."""
    return _I.apply_orientation(_t(image), orientation)


def convert_color(image, src, dst, gray_rounding="pillow"):
    """Between "rgb", "bgr", "gray" and "hsv" (HWC uint8 or float32).
    rgb->gray: gray_rounding="pillow" rounds 0.299R+0.587G+0.114B (Pillow's
    convert("L"), OpenCV); "torchvision" truncates 0.2989R+0.587G+0.114B.
    hsv: uint8 as Pillow's "HSV" mode (all channels 0..255); float32 as
    torchvision (all in [0, 1])."""
    return _I.convert_color(_t(image), src, dst, gray_rounding)


def to_tensor(image):
    """HWC uint8 -> CHW float32 / 255 (torchvision's ToTensor)."""
    return _I.to_tensor(_t(image))


def normalize(x, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    """(x - mean[c]) / std[c] on a CHW or NCHW float32 tensor (ImageNet's by default)."""
    return _I.normalize(_t(x), list(mean), list(std))


def to_image(x):
    """CHW float in [0, 1] -> HWC uint8, clamped and rounded (half to even)."""
    return _I.to_image(_t(x))


def adjust_brightness(image, factor):
    return _I.adjust_brightness(_t(image), float(factor))


def adjust_contrast(image, factor):
    return _I.adjust_contrast(_t(image), float(factor))


def adjust_saturation(image, factor):
    return _I.adjust_saturation(_t(image), float(factor))


def adjust_hue(image, hue_shift):
    return _I.adjust_hue(_t(image), float(hue_shift))


from . import transforms  # noqa: E402
