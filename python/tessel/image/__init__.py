"""Images as tensors: decode/encode (OpenCV), resize, geometry, color, transforms.

Conventions (docs/image.md): decoded images are HWC uint8 RGB (``bgr=True``
gives OpenCV's order), gray images HW1, and are *marked* as images; NumPy arrays
are HWC images too (as PIL images and cv2 arrays). Every other tessel Tensor is
``[..., C, H, W]``, as in torchvision (float or uint8, batched or not). A tensor
whose shape only reads as HWC raises instead of being guessed; ``layout=``
("hwc"/"chw") or ``as_image(x)`` says it explicitly.
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
    "pad", "hflip", "vflip", "rotate", "affine", "apply_orientation", "convert_color", "to_tensor", "normalize",
    "to_image", "adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue", "gaussian_blur", "erase",
    "posterize", "solarize", "invert", "autocontrast", "equalize", "adjust_sharpness", "as_image", "is_image",
    "transforms",
]


def _t(x, layout=None):
    """A Tensor from a Tensor or anything NumPy can read (no copy when contiguous).

    NumPy arrays are HWC images (PIL's and cv2's layout): marked as such unless
    layout says otherwise; one whose shape only reads as [C, H, W] raises."""
    if isinstance(x, _C.Tensor):
        return x
    import numpy as np
    a = np.ascontiguousarray(x)
    t = _C.from_numpy(a)
    if layout is None and a.ndim >= 2:
        if a.ndim >= 3 and a.shape[-1] not in (1, 3, 4) and a.shape[-3] in (1, 3, 4):
            raise ValueError(f"[image] ambiguous layout: a NumPy array is read as an [H, W, C] image, but shape "
                             f"{list(a.shape)} looks like [C, H, W]; pass layout='chw' (or convert it to a tensor "
                             f"with ts.from_numpy), or layout='hwc' if it really is [H, W, C]")
        t = _I.as_image(t)
    return t


def _layout(layout):
    if layout not in (None, "hwc", "chw"):
        raise ValueError(f"[image] unknown layout {layout!r}; expected 'hwc', 'chw' or None")
    return layout


def _fill(fill, what="fill"):
    if fill is None:
        return []
    if isinstance(fill, (int, float)):
        return [float(fill)]
    return [float(f) for f in fill]


def as_image(x):
    """x marked as a decoded HWC image ([H, W, C], [..., H, W, C] or [H, W]): a new
    handle on the same elements. decode/read and the HWC results of this module
    are marked already; slices and other ops give plain ([..., C, H, W]) tensors."""
    return _I.as_image(_t(x, "hwc"))


def is_image(x):
    """True for a tensor marked as a decoded HWC image (and for NumPy arrays)."""
    if isinstance(x, _C.Tensor):
        return _I.is_image(x)
    return getattr(x, "ndim", 0) >= 2


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


def _hwc(image, layout, op):
    """The HWC view of an image in either layout (for the codecs)."""
    t = _t(image, _layout(layout))
    if t.dim() >= 3 and _I.resolve_layout(t, layout, op) == "chw":
        if t.dim() != 3:
            raise ValueError(f"[{op}] expected one image, got shape {list(t.shape)}")
        t = t.permute(1, 2, 0)
    return t


def encode(image, format="png", quality=None, *, bgr=False, layout=None):
    """Encodes a uint8 image (1, 3 or 4 channels) as png/jpeg/webp/bmp bytes: a decoded
    HWC image or array, or a [C, H, W] tensor (as torchvision.io.encode_png).
    quality: JPEG/WebP 1..100 (None: JPEG 95, WebP lossless)."""
    return _I.encode(_hwc(image, layout, "image.encode"), format, -1 if quality is None else int(quality), bgr)


def write(path, image, quality=None, *, bgr=False, layout=None):
    """Encodes (format from the extension) and writes a file."""
    _I.write(_os.fspath(path), _hwc(image, layout, "image.write"), -1 if quality is None else int(quality), bgr)


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


def _size_of(t, layout, op):
    """(H, W) of an image in its layout."""
    l = _I.resolve_layout(t, layout, op)
    if l == "chw" or t.dim() == 2:
        return t.shape[-2], t.shape[-1]
    return t.shape[-3], t.shape[-2]


def resize(image, size, interpolation="bilinear", antialias=True, layout=None):
    """Resizes to size=(h, w) (an int: that size for the shorter side, keeping the ratio).

    uint8 or float32, a decoded HWC image or a [..., C, H, W] tensor (layout rule
    in the module docstring; layout="hwc"/"chw" overrides it).
    antialias=True with bilinear/bicubic/lanczos/box/hamming: Pillow's resize
    (= torchvision antialias=True): the filter widens with the downscale factor.
    antialias=False with bilinear/bicubic/lanczos: cv2.resize INTER_LINEAR/
    INTER_CUBIC/INTER_LANCZOS4. nearest (cv2 INTER_NEAREST), nearest_exact
    (Pillow NEAREST, cv2 INTER_NEAREST_EXACT) and area (cv2 INTER_AREA) ignore antialias.
    """
    image = _t(image, _layout(layout))
    if isinstance(size, int) or (isinstance(size, (list, tuple)) and len(size) == 1):
        size = size if isinstance(size, int) else int(size[0])
        h, w = _size_of(image, layout, "image.resize")
        if w <= h:
            size = (int(size * h / w), size)
        else:
            size = (size, int(size * w / h))
    h, w = _hw(size, "size")
    return _I.resize(image, h, w, interpolation, antialias, layout)


def crop(image, top, left, height, width, layout=None):
    """torchvision's crop: image[..., top:top+height, left:left+width]; what lies
    outside the image is zeros."""
    return _I.crop(_t(image, _layout(layout)), int(top), int(left), int(height), int(width), layout)


def center_crop(image, size, layout=None):
    """torchvision's CenterCrop (top = round((H - h) / 2)); zero-padded when the
    crop is larger than the image."""
    h, w = _hw(size, "size")
    return _I.center_crop(_t(image, _layout(layout)), h, w, layout)


def _padding(padding, op):
    """torchvision's padding forms -> (left, top, right, bottom)."""
    if isinstance(padding, int):
        return (padding,) * 4
    padding = tuple(int(p) for p in padding)
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return padding + padding
    if len(padding) == 4:
        return padding
    raise ValueError(f"[{op}] padding must be an int or a sequence of 1, 2 or 4 ints, got {len(padding)}")


def pad(image, padding, fill=0, padding_mode="constant", layout=None):
    """torchvision's pad. padding: int, (left/right, top/bottom) or (left, top, right, bottom).
    padding_mode: "constant" (fill: one value or one per channel), "edge",
    "reflect" (without repeating the edge) or "symmetric" (repeating it)."""
    l, t, r, b = _padding(padding, "image.pad")
    return _I.pad(_t(image, _layout(layout)), t, b, l, r, padding_mode, _fill(fill), layout)


def hflip(image, layout=None):
    """Mirrors left-right (the W axis of either layout)."""
    return _I.hflip(_t(image, _layout(layout)), layout)


def vflip(image, layout=None):
    """Mirrors top-bottom (the H axis of either layout)."""
    return _I.vflip(_t(image, _layout(layout)), layout)


def rotate(image, angle, interpolation="nearest", expand=False, center=None, fill=None, layout=None):
    """torchvision's rotate: counter-clockwise by angle degrees about center ((x, y),
    default the image center). expand=False keeps the size; True grows it to hold
    the whole image. interpolation "nearest" or "bilinear", sampling as
    torchvision's tensor path (grid_sample); fill (a value or one per channel) is
    put outside, None leaves zeros. Multiples of 90 about the center are exact."""
    c = [] if center is None else [float(v) for v in center]
    return _I.rotate(_t(image, _layout(layout)), float(angle), interpolation, bool(expand), c, _fill(fill), layout)


def affine(image, angle, translate, scale, shear, interpolation="nearest", fill=None, center=None, layout=None):
    """torchvision's affine: rotation angle (degrees, clockwise as torchvision), translate
    (tx, ty) pixels, scale, shear (degrees: one value for x, or (sx, sy)), about center
    ((x, y), default the image center); same size, sampled as rotate()."""
    if isinstance(shear, (int, float)):
        shear = (float(shear), 0.0)
    c = [] if center is None else [float(v) for v in center]
    return _I.affine(_t(image, _layout(layout)), float(angle), tuple(map(float, translate)), float(scale),
                     tuple(map(float, shear)), interpolation, _fill(fill), c, layout)


def apply_orientation(image, orientation):
    """The upright image for an EXIF orientation 1..8 (a decoded HWC image)."""
    return _I.apply_orientation(_t(image), orientation)


def convert_color(image, src, dst, gray_rounding="pillow", layout=None):
    """Between "rgb", "bgr", "gray" and "hsv" (uint8 or float32, either layout).
    rgb->gray: gray_rounding="pillow" rounds 0.299R+0.587G+0.114B (Pillow's
    convert("L"), OpenCV); "torchvision" truncates 0.2989R+0.587G+0.114B.
    hsv: uint8 as Pillow's "HSV" mode (all channels 0..255); float32 as
    torchvision (all in [0, 1])."""
    return _I.convert_color(_t(image, _layout(layout)), src, dst, gray_rounding, layout)


def to_tensor(image):
    """A decoded HWC image or NumPy array -> CHW float32 (uint8 / 255), torchvision's
    ToTensor. A tessel tensor that is not marked as an image raises TypeError."""
    return _I.to_tensor(_t(image))


def normalize(x, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)):
    """(x - mean[c]) / std[c] on a [..., C, H, W] float32 tensor (ImageNet's by default)."""
    return _I.normalize(_t(x, "chw"), list(mean), list(std))


def to_image(x):
    """CHW float in [0, 1] -> HWC uint8 (marked as an image), clamped and rounded (half to even)."""
    return _I.to_image(_t(x, "chw"))


def adjust_brightness(image, factor, layout=None):
    return _I.adjust_brightness(_t(image, _layout(layout)), float(factor), layout)


def adjust_contrast(image, factor, layout=None):
    return _I.adjust_contrast(_t(image, _layout(layout)), float(factor), layout)


def adjust_saturation(image, factor, layout=None):
    return _I.adjust_saturation(_t(image, _layout(layout)), float(factor), layout)


def adjust_hue(image, hue_shift, layout=None):
    return _I.adjust_hue(_t(image, _layout(layout)), float(hue_shift), layout)


def gaussian_blur(image, kernel_size, sigma=None, layout=None):
    """torchvision's gaussian_blur: kernel_size int or (kx, ky), odd; sigma a value or
    (sx, sy) (None: 0.3 * ((k - 1) * 0.5 - 1) + 0.8); reflect padding; uint8 rounded."""
    kx, ky = (kernel_size, kernel_size) if isinstance(kernel_size, int) else map(int, kernel_size)
    if sigma is None:
        sigma = [0.3 * ((k - 1) * 0.5 - 1) + 0.8 for k in (kx, ky)]
    elif isinstance(sigma, (int, float)):
        sigma = [float(sigma)] * 2
    sx, sy = (float(s) for s in sigma)
    return _I.gaussian_blur(_t(image, _layout(layout)), (kx, ky), (sx, sy), layout)


def posterize(image, bits, layout=None):
    """Keeps the top `bits` bits of each uint8 value (float: floor(x * 2**bits) / 2**bits)."""
    return _I.posterize(_t(image, _layout(layout)), int(bits), layout)


def solarize(image, threshold, layout=None):
    """Inverts the values >= threshold (bound - x; bound 255 for uint8, 1.0 for float)."""
    return _I.solarize(_t(image, _layout(layout)), float(threshold), layout)


def invert(image, layout=None):
    return _I.invert(_t(image, _layout(layout)), layout)


def autocontrast(image, layout=None):
    """Per channel, stretches [min, max] to the full range (torchvision; uint8 truncated)."""
    return _I.autocontrast(_t(image, _layout(layout)), layout)


def equalize(image, layout=None):
    """Per-channel histogram equalization, as Pillow's ImageOps.equalize / torchvision."""
    return _I.equalize(_t(image, _layout(layout)), layout)


def adjust_sharpness(image, sharpness_factor, layout=None):
    """torchvision's adjust_sharpness: blends with the 3x3-smoothed image (borders kept);
    0 blurs, 1 is the image, 2 sharpens."""
    return _I.adjust_sharpness(_t(image, _layout(layout)), float(sharpness_factor), layout)


def erase(image, top, left, height, width, value, inplace=False):
    """torchvision's erase on a [..., C, H, W] tensor: the region set to value (a number,
    one per channel, or a [C, h, w] tensor)."""
    if not isinstance(value, _C.Tensor):
        import numpy as np
        value = _C.from_numpy(np.ascontiguousarray(np.asarray(value, dtype=np.float64).reshape(-1)))
    return _I.erase(_t(image, "chw"), int(top), int(left), int(height), int(width), value, bool(inplace))


from . import transforms  # noqa: E402
