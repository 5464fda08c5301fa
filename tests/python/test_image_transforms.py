"""ts.image layouts (decoded HWC images vs [..., C, H, W] tensors), corrupt JPEG
scans, and the augmentation transforms, against Pillow, cv2 and NumPy on
transposed data. Random transforms: seeded through ts.manual_seed / seed=, checked
for their invariants and distributions."""
import io

import numpy as np
import pytest

import tessel as ts

cv2 = pytest.importorskip("cv2")
PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

T = ts.image.transforms
A = np.asarray

pytestmark = pytest.mark.skipif(not ts.image.available(), reason="tessel built without OpenCV")


def noise(h, w, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def chw(a):
    """A [C, H, W] tessel tensor from an HWC NumPy image (torchvision's layout)."""
    return ts.from_numpy(np.ascontiguousarray(np.moveaxis(a, -1, -3)))


def hwc(x):
    return np.moveaxis(A(x), -3, -1)


def pil_jpeg(a, q=90, mode="RGB"):
    buf = io.BytesIO()
    Image.fromarray(a).convert(mode).save(buf, "JPEG", quality=q)
    return buf.getvalue()


# ---------------------------------------------------------------- corrupt JPEG scans

def cut_scan(b):
    """Cuts the entropy-coded scan in the middle and ends with a valid EOI marker."""
    sos = b.find(b"\xff\xda")
    assert sos > 0
    return b[:(sos + len(b)) // 2] + b"\xff\xd9"


@pytest.mark.parametrize("mode", ["rgb", "gray", "bgr", "unchanged"])  # unchanged: the OpenCV path
def test_jpeg_cut_mid_scan_is_refused(mode):
    y, x = np.mgrid[0:64, 0:96]
    a = np.stack([x * 2, y * 3, x + y], -1).astype(np.uint8)
    b = pil_jpeg(a)
    assert ts.image.decode(b, mode).shape[:2] == (64, 96)
    # libjpeg would decode this with a grey bottom half and only a warning.
    with pytest.raises(ValueError, match=r"\[image.decode\] corrupt JPEG data .*premature end of data segment"):
        ts.image.decode(cut_scan(b), mode)


def test_jpeg_cut_mid_scan_cmyk_and_batch():
    a = noise(48, 40)
    cmyk = pil_jpeg(a, mode="CMYK")  # CMYK decodes through OpenCV
    assert ts.image.decode(cmyk).shape == (48, 40, 3)
    with pytest.raises(ValueError, match=r"corrupt JPEG data .*premature end of data segment"):
        ts.image.decode(cut_scan(cmyk))
    good = pil_jpeg(a)
    with pytest.raises(ValueError, match=r"\[image.decode_batch\] item 1: .*corrupt JPEG data"):
        ts.image.decode_batch([good, cut_scan(good)], num_threads=2)


# ---------------------------------------------------------------- the layout rule

def test_issue_cases_chw_tensors():
    a = noise(32, 32)
    x = chw(a)  # [3, 32, 32]
    assert tuple(T.Resize(16)(x).shape) == (3, 16, 16)
    np.testing.assert_array_equal(hwc(T.Resize(16)(x)), A(T.Resize(16)(a)))
    np.testing.assert_array_equal(A(T.RandomHorizontalFlip(1.0)(x)), A(x)[..., ::-1])
    np.testing.assert_array_equal(A(ts.image.hflip(x)), A(x)[..., ::-1])
    np.testing.assert_array_equal(A(ts.image.vflip(x)), A(x)[..., ::-1, :])
    out = T.RandomResizedCrop(8)(x, seed=3)
    assert tuple(out.shape) == (3, 8, 8)
    np.testing.assert_array_equal(hwc(out), A(T.RandomResizedCrop(8)(a, seed=3)))
    # Batched float tensors too.
    batch = ts.from_numpy(np.stack([np.moveaxis(noise(12, 20, seed=s), -1, 0) for s in range(2)]).astype(np.float32))
    r = A(ts.image.resize(batch, (6, 10)))
    assert r.shape == (2, 3, 6, 10)
    np.testing.assert_allclose(r[1], A(ts.image.resize(batch[1], (6, 10))), atol=1e-6)


def test_resize_chw_uint8_matches_pillow_per_channel():
    a = noise(37, 53)
    out = A(ts.image.resize(chw(a), (20, 17)))
    for c in range(3):
        ref = A(Image.fromarray(a[..., c]).resize((17, 20), Image.BILINEAR))
        assert np.abs(out[c].astype(int) - ref).max() <= 1


def test_decoded_images_are_marked_and_hwc():
    a = noise(20, 30)
    b = cv2.imencode(".png", a[..., ::-1])[1].tobytes()
    img = ts.image.decode(b)
    assert ts.image.is_image(img) and img.shape == (20, 30, 3)
    assert tuple(T.Resize(10)(img).shape) == (10, 15, 3)
    assert ts.image.is_image(ts.image.resize(img, 10))  # HWC results stay marked
    assert not ts.image.is_image(ts.image.to_tensor(img))
    assert ts.image.is_image(ts.image.to_image(ts.image.to_tensor(img)))
    batch = ts.image.decode_batch([b, b])
    assert ts.image.is_image(batch) and batch.shape == (2, 20, 30, 3)
    np.testing.assert_array_equal(A(ts.image.hflip(batch))[1], a[:, ::-1])
    pipe = T.Compose([T.Decode(), T.Resize((8, 12)), T.ToTensor()])
    out = pipe(ts.from_numpy(np.frombuffer(b, np.uint8).copy()))
    assert tuple(out.shape) == (3, 8, 12)


def test_ambiguous_layouts_raise():
    a = noise(20, 30)
    plain = ts.from_numpy(a)  # an unmarked [20, 30, 3] tensor: reads only as HWC
    with pytest.raises(ValueError, match=r"\[image.resize\] ambiguous layout.*as_image"):
        ts.image.resize(plain, 10)
    with pytest.raises(ValueError, match=r"\[image.hflip\] ambiguous layout"):
        T.RandomHorizontalFlip(1.0)(plain)
    sliced = ts.image.decode(cv2.imencode(".png", a)[1].tobytes())[:, 2:]  # a slice is a plain tensor again
    with pytest.raises(ValueError, match="ambiguous layout"):
        ts.image.hflip(sliced)
    # Explicit layouts and marks resolve it.
    np.testing.assert_array_equal(A(ts.image.hflip(plain, layout="hwc")), a[:, ::-1])
    np.testing.assert_array_equal(A(ts.image.hflip(ts.image.as_image(plain))), a[:, ::-1])
    assert not ts.image.is_image(plain)  # as_image marks a new handle, not plain
    np.testing.assert_array_equal(A(ts.image.hflip(plain, layout="chw")), a[..., ::-1])
    # A NumPy array is HWC; one that only reads as CHW raises.
    with pytest.raises(ValueError, match=r"ambiguous layout: a NumPy array"):
        ts.image.resize(np.zeros((3, 20, 30), np.uint8), 10)
    np.testing.assert_array_equal(A(ts.image.hflip(np.moveaxis(a, -1, 0), layout="chw")),
                                  np.moveaxis(a, -1, 0)[..., ::-1])
    with pytest.raises(ValueError, match="unknown layout"):
        ts.image.hflip(a, layout="nhwc")


def test_to_tensor_and_normalize_follow_torchvision():
    a = noise(6, 7)
    np.testing.assert_allclose(A(ts.image.to_tensor(a)), np.moveaxis(a, -1, 0) / np.float32(255), rtol=1e-6)
    with pytest.raises(TypeError, match=r"\[image.to_tensor\] expects a decoded HWC image"):
        ts.image.to_tensor(chw(a))
    with pytest.raises(TypeError, match=r"\[image.to_tensor\]"):
        T.ToTensor()(chw(a))
    with pytest.raises(TypeError, match=r"\[image.normalize\] expects a \[..., C, H, W\] tensor, got a decoded"):
        T.Normalize()(ts.image.as_image(ts.from_numpy(a.astype(np.float32))))
    x = ts.from_numpy(np.random.default_rng(0).random((2, 5, 3, 4, 4), dtype=np.float32))
    out = A(ts.image.normalize(x, (0.1, 0.2, 0.3), (1, 2, 4)))
    ref = (A(x) - np.array([0.1, 0.2, 0.3], np.float32)[:, None, None]) / np.array([1, 2, 4], np.float32)[:, None, None]
    np.testing.assert_allclose(out, ref, rtol=1e-6)


GEOMETRY = [
    ("resize", lambda x, l: ts.image.resize(x, (9, 14), layout=l)),
    ("resize_int", lambda x, l: ts.image.resize(x, 9, "bicubic", layout=l)),
    ("crop", lambda x, l: ts.image.crop(x, 2, 3, 5, 7, layout=l)),
    ("crop_outside", lambda x, l: ts.image.crop(x, -2, 20, 6, 9, layout=l)),
    ("center_crop", lambda x, l: ts.image.center_crop(x, (5, 30), layout=l)),
    ("pad", lambda x, l: ts.image.pad(x, (1, 2, 3, 4), fill=(1, 2, 3), layout=l)),
    ("pad_reflect", lambda x, l: ts.image.pad(x, 3, padding_mode="reflect", layout=l)),
    ("hflip", lambda x, l: ts.image.hflip(x, layout=l)),
    ("vflip", lambda x, l: ts.image.vflip(x, layout=l)),
    ("rotate", lambda x, l: ts.image.rotate(x, 33, "bilinear", expand=True, fill=(9, 8, 7), layout=l)),
    ("rotate90", lambda x, l: ts.image.rotate(x, 90, layout=l)),
    ("affine", lambda x, l: ts.image.affine(x, 5, (2, 1), 0.9, (10, 0), layout=l)),
    ("gray", lambda x, l: ts.image.convert_color(x, "rgb", "gray", layout=l)),
    ("hsv", lambda x, l: ts.image.convert_color(x, "rgb", "hsv", layout=l)),
    ("brightness", lambda x, l: ts.image.adjust_brightness(x, 1.3, layout=l)),
    ("contrast", lambda x, l: ts.image.adjust_contrast(x, 0.6, layout=l)),
    ("saturation", lambda x, l: ts.image.adjust_saturation(x, 1.7, layout=l)),
    ("hue", lambda x, l: ts.image.adjust_hue(x, 0.2, layout=l)),
    ("blur", lambda x, l: ts.image.gaussian_blur(x, (5, 3), (1.2, 0.7), layout=l)),
]


@pytest.mark.parametrize("name,f", GEOMETRY, ids=[g[0] for g in GEOMETRY])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_every_op_agrees_on_both_layouts(name, f, dtype):
    a = noise(13, 19).astype(dtype)
    if dtype == np.float32:
        a /= 255
    ref = A(f(a, None))  # NumPy: HWC
    out = A(f(chw(a), None))  # tensor: CHW
    np.testing.assert_array_equal(np.moveaxis(out, 0, -1), ref)
    # Batched [N, C, H, W] == each image.
    b = ts.from_numpy(np.stack([np.moveaxis(a, -1, 0), np.moveaxis(a[::-1].copy(), -1, 0)]))
    ob = A(f(b, None))
    np.testing.assert_array_equal(ob[0], out)
    np.testing.assert_array_equal(np.moveaxis(ob[1], 0, -1), A(f(np.ascontiguousarray(a[::-1]), None)))


def test_color_jitter_same_on_both_layouts():
    a = noise(10, 12)
    t = T.ColorJitter(0.4, 0.4, 0.4, 0.1)
    for s in range(5):
        np.testing.assert_array_equal(hwc(t(chw(a), seed=s)), A(t(a, seed=s)))


# ---------------------------------------------------------------- deterministic transforms

@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_transform(mode):
    a = noise(6, 5)
    kw = {"constant_values": 7} if mode == "constant" else {}
    for padding, np_pad in ((2, ((2, 2), (2, 2))), ((1, 3), ((3, 3), (1, 1))), ((1, 2, 3, 4), ((2, 4), (1, 3)))):
        t = T.Pad(padding, fill=7, padding_mode=mode)
        ref = np.pad(a, np_pad + ((0, 0),), mode, **kw)
        np.testing.assert_array_equal(A(t(a)), ref)
        np.testing.assert_array_equal(hwc(t(chw(a))), ref)
    assert repr(T.Pad(1)) == "Pad(padding=[1, 1, 1, 1], fill=[0], padding_mode=constant)"
    with pytest.raises(ValueError, match="padding must be"):
        T.Pad((1, 2, 3))
    with pytest.raises(ValueError, match="unknown padding mode"):
        T.Pad(1, padding_mode="wrap")


def test_gaussian_blur_vs_cv2_and_numpy():
    a = noise(21, 17)
    for k, s in (((5, 5), (1.0, 1.0)), ((3, 7), (0.8, 2.0))):
        out = A(ts.image.gaussian_blur(a, k, s))
        ref = cv2.GaussianBlur(a, k, sigmaX=s[0], sigmaY=s[1], borderType=cv2.BORDER_REFLECT_101)
        assert np.abs(out.astype(int) - ref).max() <= 1
    # float32 against a float64 NumPy separable convolution with reflect padding.
    f = a.astype(np.float32) / 255
    kx = np.exp(-0.5 * (np.arange(-2, 3) / 1.5) ** 2)
    kx /= kx.sum()
    ky = np.exp(-0.5 * (np.arange(-1, 2) / 0.5) ** 2)
    ky /= ky.sum()
    p = np.pad(f.astype(np.float64), ((1, 1), (2, 2), (0, 0)), "reflect")
    h = sum(kx[i] * p[:, i:i + 17] for i in range(5))
    ref = sum(ky[i] * h[i:i + 21] for i in range(3))
    np.testing.assert_allclose(A(ts.image.gaussian_blur(f, (5, 3), (1.5, 0.5))), ref, atol=2e-6)
    # Default sigma: 0.3 * ((k - 1) * 0.5 - 1) + 0.8 (torchvision).
    np.testing.assert_array_equal(A(ts.image.gaussian_blur(a, 5)), A(ts.image.gaussian_blur(a, 5, 1.1)))
    with pytest.raises(ValueError, match="odd and positive"):
        ts.image.gaussian_blur(a, 4)
    with pytest.raises(ValueError, match="odd and positive"):
        T.GaussianBlur((3, 4))
    with pytest.raises(ValueError, match="sigma"):
        T.GaussianBlur(3, (0, 1))


def test_gaussian_blur_transform_draws_sigma():
    a = noise(15, 15)
    t = T.GaussianBlur(5, (0.5, 3.0))
    outs = {A(t(a, seed=s)).tobytes() for s in range(6)}
    assert len(outs) == 6  # a different sigma each time
    candidates = [A(ts.image.gaussian_blur(a, 5, s)) for s in np.linspace(0.5, 3.0, 2001)]
    out = A(t(a, seed=0))
    # The result is a blur with some sigma in the range (within rounding).
    assert min(np.abs(c.astype(int) - out).max() for c in candidates) <= 1
    np.testing.assert_array_equal(A(T.GaussianBlur(3, 1.0)(a)), A(ts.image.gaussian_blur(a, 3, 1.0)))


def test_grayscale():
    a = noise(9, 11)
    # Decoded images: Pillow's convert("L") (rounded).
    np.testing.assert_array_equal(A(T.Grayscale()(a))[..., 0], A(Image.fromarray(a).convert("L")))
    three = A(T.Grayscale(3)(a))
    assert three.shape == (9, 11, 3)
    np.testing.assert_array_equal(three[..., 1], three[..., 0])
    # Tensors: torchvision's rgb_to_grayscale, 0.2989 R + 0.587 G + 0.114 B in float32, truncated.
    r, g, b = (a[..., i].astype(np.float32) for i in range(3))
    ref = (np.float32(0.2989) * r + np.float32(0.587) * g + np.float32(0.114) * b).astype(np.uint8)
    out = A(T.Grayscale()(chw(a)))
    assert out.shape == (1, 9, 11)
    np.testing.assert_array_equal(out[0], ref)
    np.testing.assert_array_equal(A(T.Grayscale(3)(chw(a))), np.stack([ref] * 3))
    f = chw(a.astype(np.float32) / 255)
    np.testing.assert_allclose(A(T.Grayscale()(f))[0], ref.astype(np.float32) * 0 + (
        np.float32(0.2989) * r / 255 + np.float32(0.587) * g / 255 + np.float32(0.114) * b / 255), atol=1e-6)
    # A 2-D image is one channel in both layouts; 3 output channels follow the layout.
    g2 = a[..., 0].copy()
    assert tuple(T.Grayscale(3)(ts.from_numpy(g2)).shape) == (3, 9, 11)
    np.testing.assert_array_equal(A(T.Grayscale(3)(g2)), np.stack([g2] * 3, -1))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        T.Grayscale()(ts.from_numpy(np.zeros((2, 5, 6), np.uint8)))
    with pytest.raises(ValueError, match="num_output_channels"):
        T.Grayscale(2)


def test_lambda():
    t = T.Lambda(lambda x: ts.image.hflip(x))
    a = noise(4, 6)
    np.testing.assert_array_equal(A(T.Compose([t, T.ToTensor()])(a)), A(ts.image.to_tensor(a[:, ::-1])))
    b = cv2.imencode(".png", a)[1].tobytes()
    out = ts.image.decode_batch([b] * 4, transform=T.Compose([t]), num_threads=2)  # on C++ threads
    assert out.shape == (4, 4, 6, 3)
    with pytest.raises(TypeError, match=r"\[image.Lambda\] the function must return a tessel Tensor"):
        T.Lambda(lambda x: 3)(a)
    with pytest.raises(TypeError, match="callable"):
        T.Lambda(3)


# ---------------------------------------------------------------- random transforms

def test_random_crop_padding_and_uniform_positions():
    a = noise(6, 8)
    t = T.RandomCrop((4, 5))
    seen = set()
    for s in range(300):
        out = A(t(a, seed=s))
        hits = [(i, j) for i in range(3) for j in range(4) if np.array_equal(out, a[i:i + 4, j:j + 5])]
        assert hits
        seen.add(hits[0])
    assert len(seen) == 12  # every window is reachable
    # padding first (left, top, right, bottom), then a window of the padded image.
    t = T.RandomCrop(8, padding=(1, 2, 3, 4), fill=5)
    padded = np.pad(a, ((2, 4), (1, 3), (0, 0)), constant_values=5)
    out = A(t(a, seed=1))
    assert any(np.array_equal(out, padded[i:i + 8, j:j + 8]) for i in range(5) for j in range(5))
    # pad_if_needed: torchvision pads both ends by the whole difference.
    t = T.RandomCrop((10, 12), pad_if_needed=True, padding_mode="edge")
    padded = np.pad(a, ((4, 4), (4, 4), (0, 0)), "edge")
    for s in range(20):
        out = A(t(a, seed=s))
        assert any(np.array_equal(out, padded[i:i + 10, j:j + 12]) for i in range(5) for j in range(5))
    # The same windows on a CHW tensor.
    np.testing.assert_array_equal(hwc(t(chw(a), seed=3)), A(t(a, seed=3)))
    with pytest.raises(ValueError, match=r"\[image.RandomCrop\] required crop size \(10, 12\) is larger"):
        T.RandomCrop((10, 12))(a)


def test_random_vertical_flip_frequency():
    a = noise(5, 4)
    assert np.array_equal(A(T.RandomVerticalFlip(1.0)(a)), a[::-1])
    assert np.array_equal(A(T.RandomVerticalFlip(0.0)(a)), a)
    np.testing.assert_array_equal(A(T.RandomVerticalFlip(1.0)(chw(a))), np.moveaxis(a, -1, 0)[:, ::-1])
    ts.manual_seed(0)
    flips = sum(np.array_equal(A(T.RandomVerticalFlip(0.3)(a)), a[::-1]) for _ in range(2000))
    assert abs(flips / 2000 - 0.3) < 0.04
    with pytest.raises(ValueError, match="p must be in"):
        T.RandomVerticalFlip(1.5)


def test_random_rotation():
    a = noise(15, 15)
    fixed = T.RandomRotation((30, 30))
    # fill=0 is a fill (torchvision passes [0.0] per channel), so bilinear borders blend.
    np.testing.assert_array_equal(A(fixed(a)), A(ts.image.rotate(a, 30, fill=0)))
    np.testing.assert_array_equal(A(T.RandomRotation((20, 20), "bilinear", fill=(1, 2, 3))(chw(a))),
                                  A(ts.image.rotate(chw(a), 20, "bilinear", fill=(1, 2, 3))))
    # The angle is uniform in (-d, d): find it back through a marker pixel.
    m = np.zeros((41, 41, 1), np.uint8)
    m[19:22, 33:36] = 255  # a blob right of the centre
    t = T.RandomRotation(60)
    angles = []
    for s in range(400):
        y, x = np.argwhere(A(t(m, seed=s))[..., 0] == 255).mean(axis=0)
        angles.append(np.degrees(np.arctan2(20 - y, x - 20)))
    angles = np.array(angles)
    assert angles.min() > -62 and angles.max() < 62
    assert abs(angles.mean()) < 5 and abs(angles.std() - 120 / np.sqrt(12)) < 4
    ts.manual_seed(5)
    r1 = A(T.RandomRotation(45, expand=True)(a))
    ts.manual_seed(5)
    np.testing.assert_array_equal(A(T.RandomRotation(45, expand=True)(a)), r1)
    assert repr(T.RandomRotation(10)) == \
        "RandomRotation(degrees=[-10, 10], interpolation=nearest, expand=False, center=None, fill=[0])"
    with pytest.raises(ValueError, match="interpolation must be nearest or bilinear"):
        T.RandomRotation(10, "bicubic")
    with pytest.raises(ValueError, match="degrees must be >= 0"):
        T.RandomRotation(-10)


def test_random_erasing():
    x = chw(noise(40, 50).astype(np.float32) / 255)
    t = T.RandomErasing(p=1.0, value=(7, 8, 9))
    for s in range(50):
        out = A(t(x, seed=s))
        erased = np.all(out == np.array([7, 8, 9], np.float32)[:, None, None], axis=0)
        ys, xs = np.nonzero(erased)
        assert len(ys)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert erased.sum() == h * w  # one rectangle
        assert 0.02 * 2000 - 60 <= h * w <= 0.33 * 2000 + 60
        assert 0.3 * 0.8 <= h / w <= 3.3 * 1.25  # ratio = h / w in torchvision's get_params
        np.testing.assert_array_equal(out[:, ~erased], A(x)[:, ~erased])
    rnd = A(T.RandomErasing(p=1.0, scale=(0.3, 0.3), ratio=(1, 1), value="random")(x, seed=0))
    changed = rnd != A(x)
    vals = rnd[changed]
    assert abs(vals.mean()) < 0.1 and abs(vals.std() - 1) < 0.1  # standard normal noise
    assert np.array_equal(A(T.RandomErasing(p=0.0)(x)), A(x))
    y = ts.from_numpy(A(x).copy())
    T.RandomErasing(p=1.0, inplace=True)(y, seed=1)
    assert (A(y) == 0).all(axis=0).sum() > 0
    with pytest.raises(TypeError, match=r"\[image.RandomErasing\] works on \[..., C, H, W\] tensors"):
        T.RandomErasing(p=1.0)(noise(10, 10))
    with pytest.raises(ValueError, match="value needs 1 number or one per channel"):
        T.RandomErasing(p=1.0, value=(1, 2))(x)
    np.testing.assert_array_equal(A(ts.image.erase(x, 1, 2, 3, 4, 0.5))[:, 1:4, 2:6], 0.5)


def test_random_grayscale_apply_choice():
    a = noise(8, 8)
    g = A(T.RandomGrayscale(1.0)(a))
    assert g.shape == (8, 8, 3) and np.array_equal(g[..., 0], g[..., 2])
    assert np.array_equal(A(T.RandomGrayscale(0.0)(a)), a)
    ts.manual_seed(1)
    n = sum(np.array_equal(A(T.RandomGrayscale(0.25)(a)), g) for _ in range(2000))
    assert abs(n / 2000 - 0.25) < 0.04
    flip = T.RandomApply([T.RandomHorizontalFlip(1.0), T.RandomVerticalFlip(1.0)], p=0.4)
    both = a[::-1, ::-1]
    outs = [A(flip(a, seed=s)) for s in range(2000)]
    assert all(np.array_equal(o, a) or np.array_equal(o, both) for o in outs)
    assert abs(sum(np.array_equal(o, both) for o in outs) / 2000 - 0.4) < 0.04
    choice = T.RandomChoice([T.RandomHorizontalFlip(1.0), T.RandomVerticalFlip(1.0), T.Lambda(lambda x: x)],
                            p=[1, 2, 1])
    counts = np.zeros(3)
    for s in range(2000):
        o = A(choice(a, seed=s))
        counts[[np.array_equal(o, a[:, ::-1]), np.array_equal(o, a[::-1]), np.array_equal(o, a)].index(True)] += 1
    np.testing.assert_allclose(counts / 2000, [0.25, 0.5, 0.25], atol=0.04)
    assert repr(T.RandomApply([T.RandomVerticalFlip()], 0.5)) == \
        "RandomApply(transforms=[RandomVerticalFlip(p=0.5)], p=0.5)"
    with pytest.raises(ValueError, match="one weight per transform"):
        T.RandomChoice([T.RandomVerticalFlip()], p=[1, 2])


def test_random_transforms_in_decode_batch_do_not_depend_on_threads():
    b = [cv2.imencode(".png", noise(30, 40, seed=s))[1].tobytes() for s in range(6)]
    aug = T.Compose([T.RandomCrop(24, padding=2), T.RandomRotation(15), T.RandomGrayscale(0.5),
                     T.RandomApply([T.GaussianBlur(3)], 0.5), T.ToTensor(), T.RandomErasing()])
    one = A(ts.image.decode_batch(b, transform=aug, seed=7, num_threads=1))
    two = A(ts.image.decode_batch(b, transform=aug, seed=7, num_threads=3))
    assert one.shape == (6, 3, 24, 24)
    np.testing.assert_array_equal(one, two)


# ---------------------------------------------------------------- AutoAugment's ops

def test_point_ops_vs_pillow():
    from PIL import ImageOps
    a = noise(17, 23)
    pil = Image.fromarray(a)
    for bits in (1, 4, 7, 8):
        np.testing.assert_array_equal(A(ts.image.posterize(a, bits)), A(ImageOps.posterize(pil, bits)))
    for th in (0, 100, 255):
        np.testing.assert_array_equal(A(ts.image.solarize(a, th)), A(ImageOps.solarize(pil, th)))
    np.testing.assert_array_equal(A(ts.image.invert(a)), A(ImageOps.invert(pil)))
    skew = (a // 3 + 40).astype(np.uint8)  # a narrow histogram
    np.testing.assert_array_equal(A(ts.image.equalize(skew)), A(ImageOps.equalize(Image.fromarray(skew))))
    flat = np.full((5, 5, 3), 77, np.uint8)
    np.testing.assert_array_equal(A(ts.image.equalize(flat)), flat)
    # Both layouts give the same.
    np.testing.assert_array_equal(hwc(ts.image.equalize(chw(skew))), A(ts.image.equalize(skew)))
    np.testing.assert_array_equal(hwc(ts.image.posterize(chw(a), 3)), A(ts.image.posterize(a, 3)))
    f = a.astype(np.float32) / 255
    np.testing.assert_allclose(A(ts.image.solarize(f, 0.5)), np.where(f >= 0.5, 1 - f, f))
    np.testing.assert_allclose(A(ts.image.posterize(f, 2)), np.clip(np.floor(f * 4), 0, 3) / 4)
    with pytest.raises(ValueError, match="bits must be in 0..8"):
        ts.image.posterize(a, 9)


def test_autocontrast_and_sharpness_vs_numpy():
    a = (noise(12, 15) // 2 + 30).astype(np.uint8)
    a[..., 2] = 9  # a flat channel stays as it is
    lo, hi = a.min(axis=(0, 1)).astype(np.float32), a.max(axis=(0, 1)).astype(np.float32)
    flat = lo == hi
    lo[flat], hi[flat] = 0, 255
    ref = np.clip((a.astype(np.float32) - lo) * (np.float32(255) / (hi - lo)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(A(ts.image.autocontrast(a)), ref)
    np.testing.assert_array_equal(hwc(ts.image.autocontrast(chw(a))), ref)
    # torchvision's adjust_sharpness: interior = blend(img, round(conv3x3(img, [1 1 1; 1 5 1; 1 1 1] / 13)), f).
    b = noise(9, 11)
    k = np.ones((3, 3)) / 13
    k[1, 1] = 5 / 13
    x = b.astype(np.float64)
    blur = sum(k[i, j] * x[i:i + 7, j:j + 9] for i in range(3) for j in range(3))
    for factor in (0.0, 0.5, 2.0):
        r = np.float32(factor)
        inner = np.clip(r * b[1:-1, 1:-1].astype(np.float32) + (np.float32(1) - r) * np.round(blur).astype(np.float32),
                        0, 255).astype(np.uint8)
        ref = b.copy()
        ref[1:-1, 1:-1] = inner
        np.testing.assert_array_equal(A(ts.image.adjust_sharpness(b, factor)), ref)
    np.testing.assert_array_equal(A(ts.image.adjust_sharpness(b, 1.0)), b)


def _linspace(end, n, i, start=0.0):
    """torch.linspace's scalar formula in float32 (its vectorized path may differ by an ulp:
    the comparisons below allow 1 level)."""
    f = np.float32
    step = (f(end) - f(start)) / f(n - 1)
    return float(f(start) + step * f(i) if i < n // 2 else f(end) - step * f(n - 1 - i))


def _close(a, b):
    return a.shape == b.shape and np.abs(a.astype(int) - b).max() <= 1


def _apply(x, op, m):
    """torchvision's _apply_op, through ts.image's functional ops."""
    if op == "Identity":
        return x
    if op == "ShearX":
        return ts.image.affine(x, 0, (0, 0), 1, (np.degrees(np.arctan(m)), 0), center=(0, 0))
    if op == "ShearY":
        return ts.image.affine(x, 0, (0, 0), 1, (0, np.degrees(np.arctan(m))), center=(0, 0))
    if op == "TranslateX":
        return ts.image.affine(x, 0, (int(m), 0), 1, (0, 0))
    if op == "TranslateY":
        return ts.image.affine(x, 0, (0, int(m)), 1, (0, 0))
    if op == "Rotate":
        return ts.image.rotate(x, m)
    f = {"Brightness": ts.image.adjust_brightness, "Color": ts.image.adjust_saturation,
         "Contrast": ts.image.adjust_contrast, "Sharpness": ts.image.adjust_sharpness}
    if op in f:
        return f[op](x, 1 + m)
    if op == "Posterize":
        return ts.image.posterize(x, int(m))
    if op == "Solarize":
        return ts.image.solarize(x, m)
    return {"AutoContrast": ts.image.autocontrast, "Equalize": ts.image.equalize, "Invert": ts.image.invert}[op](x)


def _magnitudes(op, bin_, n, h, w):
    """torchvision's _augmentation_space: the (signed) magnitudes of one bin."""
    signed = {"ShearX": 0.3, "ShearY": 0.3, "TranslateX": 150 / 331 * w, "TranslateY": 150 / 331 * h, "Rotate": 30,
              "Brightness": 0.9, "Color": 0.9, "Contrast": 0.9, "Sharpness": 0.9}
    if op in signed:
        m = _linspace(signed[op], n, bin_)
        return [m, -m]
    if op == "Posterize":
        return [8 - int(np.round(np.float32(bin_) / np.float32((n - 1) / 4)))]
    if op == "Solarize":
        return [_linspace(0.0, n, bin_, start=1.0) * 255]
    return [0.0]


RAND_OPS = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
            "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]


def test_rand_augment_picks_each_op_uniformly():
    a = (noise(16, 16, seed=3) * 0.75 + 20).astype(np.uint8)  # not the full range: AutoContrast changes it
    cands = {op: [A(_apply(a, op, m)) for m in _magnitudes(op, 9, 31, 16, 16)] for op in RAND_OPS}
    t = T.RandAugment(num_ops=1, magnitude=9)
    counts = dict.fromkeys(RAND_OPS, 0)
    for s in range(1400):
        out = A(t(a, seed=s))
        hits = [op for op in RAND_OPS if any(np.array_equal(out, c) for c in cands[op])] or \
            [op for op in RAND_OPS if any(_close(out, c) for c in cands[op])]
        assert hits, s
        counts[hits[0]] += 1
    freq = np.array(list(counts.values())) / 1400
    assert np.all(np.abs(freq - 1 / 14) < 0.03), counts
    # num_ops=2 composes two; the result is reproducible through ts.manual_seed.
    ts.manual_seed(3)
    r = A(T.RandAugment()(chw(a)))
    ts.manual_seed(3)
    np.testing.assert_array_equal(A(T.RandAugment()(chw(a))), r)
    assert repr(T.RandAugment()) == \
        "RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31, interpolation=nearest, fill=None)"
    with pytest.raises(ValueError, match=r"magnitude must be in \[0, 30\]"):
        T.RandAugment(magnitude=31)


IMAGENET_POLICY = [
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)), (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)), (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, None)), (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)), (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)), (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
    (("Equalize", 0.0, None), ("Equalize", 0.8, None)), (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)), (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)), (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, None)), (("Color", 0.4, 0), ("Equalize", 0.6, None)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)), (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)), (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
]


# The CIFAR10 and SVHN policies of the AutoAugment paper (Cubuk et al., 2019), as torchvision lists them.
CIFAR10_POLICY = [
    (("Invert", 0.1, None), ("Contrast", 0.2, 6)), (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)), (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, None), ("Equalize", 0.9, None)), (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)), (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, None), ("Equalize", 0.5, None)), (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)), (("Equalize", 0.3, None), ("AutoContrast", 0.4, None)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)), (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, None)), (("Equalize", 0.2, None), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.2, None), ("Equalize", 0.6, None)), (("Color", 0.9, 9), ("Equalize", 0.6, None)),
    (("AutoContrast", 0.8, None), ("Solarize", 0.2, 8)), (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, None)), (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, None), ("Solarize", 0.8, 3)), (("Equalize", 0.8, None), ("Invert", 0.1, None)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, None)),
]

SVHN_POLICY = [
    (("ShearX", 0.9, 4), ("Invert", 0.2, None)), (("ShearY", 0.9, 8), ("Invert", 0.7, None)),
    (("Equalize", 0.6, None), ("Solarize", 0.6, 6)), (("Invert", 0.9, None), ("Equalize", 0.6, None)),
    (("Equalize", 0.6, None), ("Rotate", 0.9, 3)), (("ShearX", 0.9, 4), ("AutoContrast", 0.8, None)),
    (("ShearY", 0.9, 8), ("Invert", 0.4, None)), (("ShearY", 0.9, 5), ("Solarize", 0.2, 6)),
    (("Invert", 0.9, None), ("AutoContrast", 0.8, None)), (("Equalize", 0.6, None), ("Rotate", 0.9, 3)),
    (("ShearX", 0.9, 4), ("Solarize", 0.3, 3)), (("ShearY", 0.8, 8), ("Invert", 0.7, None)),
    (("Equalize", 0.9, None), ("TranslateY", 0.6, 6)), (("Invert", 0.9, None), ("Equalize", 0.6, None)),
    (("Contrast", 0.3, 3), ("Rotate", 0.8, 4)), (("Invert", 0.8, None), ("TranslateY", 0.0, 2)),
    (("ShearY", 0.7, 6), ("Solarize", 0.4, 8)), (("Invert", 0.6, None), ("Rotate", 0.8, 4)),
    (("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)), (("ShearX", 0.1, 6), ("Invert", 0.6, None)),
    (("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)), (("ShearY", 0.8, 4), ("Invert", 0.8, None)),
    (("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)), (("ShearY", 0.8, 5), ("AutoContrast", 0.7, None)),
    (("ShearX", 0.7, 2), ("Invert", 0.1, None)),
]

POLICIES = {"imagenet": IMAGENET_POLICY, "cifar10": CIFAR10_POLICY, "svhn": SVHN_POLICY}


@pytest.mark.parametrize("name", list(POLICIES))
def test_auto_augment_tables_are_the_published_ones(name):
    table = POLICIES[name]
    assert len(table) == 25
    t = T.AutoAugment(name)
    assert t.policy is T.AutoAugmentPolicy(name) and t.policy == name
    assert len(t.policies) == 25
    assert t.policies == table
    # torchvision's enum spelling, a member and an upper-case name reach the same policy.
    assert T.AutoAugment(T.AutoAugmentPolicy[name.upper()]).policies == table
    assert T.AutoAugment(name.upper()).policy is t.policy


@pytest.mark.parametrize("name", list(POLICIES))
def test_auto_augment_outputs_come_from_the_policy(name):
    table = POLICIES[name]
    h, w = 12, 14  # not square: TranslateX reaches 150/331 of the width, TranslateY of the height
    a = (noise(h, w, seed=5) * 0.75 + 20).astype(np.uint8)
    x = chw(a)
    # Every result of every sub-policy: each op applied or not, each sign.
    cands = []
    for (o1, p1, b1), (o2, p2, b2) in table:
        for m1 in _magnitudes(o1, b1 or 0, 10, h, w):
            for m2 in _magnitudes(o2, b2 or 0, 10, h, w):
                first = [A(x), A(_apply(x, o1, m1))]
                for f in first:
                    cands.append(f)
                    cands.append(A(_apply(ts.from_numpy(f), o2, m2)))
    t = T.AutoAugment(name)
    same = 0
    for s in range(300):
        out = A(t(x, seed=s))
        assert out.shape == A(x).shape and out.dtype == np.uint8
        assert any(_close(out, c) for c in cands), s
        same += np.array_equal(out, A(x))
    # P(nothing applied) = sum over the 25 sub-policies of (1 - p1)(1 - p2) / 25, plus ops that are no-ops here.
    p_none = np.mean([(1 - p1) * (1 - p2) for (_, p1, _), (_, p2, _) in table])
    assert same / 300 >= p_none - 0.06
    assert repr(t) == f"AutoAugment(policy={name}, interpolation=nearest, fill=None)"
    # Seeded calls repeat; ts.manual_seed reproduces unseeded ones.
    np.testing.assert_array_equal(A(t(x, seed=42)), A(t(x, seed=42)))
    ts.manual_seed(9)
    r = A(t(x))
    ts.manual_seed(9)
    np.testing.assert_array_equal(A(t(x)), r)
    # Decoded images take the same path (HWC in, HWC out).
    np.testing.assert_array_equal(A(t(a, seed=11)), hwc(t(x, seed=11)))


def test_auto_augment_policies_differ_and_bad_arguments():
    a = (noise(12, 14, seed=5) * 0.75 + 20).astype(np.uint8)
    outs = {name: [A(T.AutoAugment(name)(a, seed=s)) for s in range(40)] for name in POLICIES}
    assert any(not np.array_equal(c, s) for c, s in zip(outs["cifar10"], outs["svhn"]))
    assert any(not np.array_equal(c, s) for c, s in zip(outs["cifar10"], outs["imagenet"]))
    with pytest.raises(ValueError, match=r"\[image.AutoAugment\] unknown policy 'mnist'; expected imagenet, cifar10"):
        T.AutoAugment("mnist")
    with pytest.raises(TypeError, match="policy must be an AutoAugmentPolicy"):
        T.AutoAugment(3)
    with pytest.raises(ValueError, match="interpolation must be nearest or bilinear"):
        T.AutoAugment("svhn", interpolation="bicubic")
    assert repr(T.AutoAugment(T.AutoAugmentPolicy.SVHN, "bilinear", fill=[1, 2, 3])) == \
        "AutoAugment(policy=svhn, interpolation=bilinear, fill=[1, 2, 3])"


def test_new_transforms_on_the_loader_threads(tmp_path):
    from tessel.data import DataLoader, FileDataset
    paths = []
    for i in range(6):
        p = tmp_path / f"i{i}.png"
        Image.fromarray(noise(30 + i, 34, seed=i)).save(p)  # written by the reference (Pillow)
        paths.append(str(p))
    seen = []

    def note(x):
        seen.append(tuple(x.shape))
        return x

    aug = ts.data.Compose([T.RandomCrop(28, pad_if_needed=True), T.Lambda(note), T.RandAugment(), T.ToTensor(),
                           T.RandomErasing(p=1.0)])
    ds = FileDataset(paths, decode="image", transform=aug)
    ref = [A(b[0] if isinstance(b, (list, tuple)) else b) for b in DataLoader(ds, batch_size=3, seed=4, num_workers=0)]
    got = [A(b[0] if isinstance(b, (list, tuple)) else b) for b in DataLoader(ds, batch_size=3, seed=4, num_workers=2)]
    assert ref[0].shape == (3, 3, 28, 28)
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(r, g)
    assert set(seen) == {(28, 28, 3)} and len(seen) == 12


def test_compose_keeps_python_steps_in_order():
    # Regression: T.Compose used to be the C++-only Compose and dropped Python callables.
    import numpy as np
    x = ts.tensor(np.arange(3 * 8 * 8, dtype=np.float32).reshape(3, 8, 8))
    calls = []
    pipeline = T.Compose([T.Resize(4), lambda t: (calls.append(tuple(t.shape)), t * 2)[1], T.RandomVerticalFlip(p=1.0)])
    out = pipeline(x)
    assert calls == [(3, 4, 4)]
    ref = ts.image.resize(x, (4, 4)) * 2
    np.testing.assert_array_equal(out.numpy(), ref.numpy()[:, ::-1, :])
    # NumPy input is still an HWC image.
    img = np.zeros((6, 10, 3), dtype=np.uint8)
    assert tuple(T.Compose([T.Resize(3), lambda t: t])(img).shape) == (3, 5, 3)


def test_gaussian_blur_kernel_radius_must_be_below_image_size():
    # torch's reflect padding (torchvision's blur pads with it) refuses a radius >= the side:
    # F.pad(x[1, 3, 4, 6], (5, 5), "reflect") works, (6, 6) raises (checked with torch).
    a = chw(noise(4, 6))
    assert tuple(ts.image.gaussian_blur(a, (11, 7), 1.0).shape) == (3, 4, 6)
    with pytest.raises(ValueError, match="gaussian_blur.*kernel_size"):
        ts.image.gaussian_blur(a, (13, 7), 1.0)
    with pytest.raises(ValueError, match="gaussian_blur"):
        ts.image.gaussian_blur(a, (11, 9), 1.0)
    # A huge kernel was one giant allocation (then a loop per pixel): now an error at once.
    with pytest.raises(ValueError, match="gaussian_blur"):
        ts.image.gaussian_blur(a, 2**40 + 1, 1.0)


def test_erase_region_bounds_do_not_overflow():
    a = chw(noise(4, 6)).to(ts.float32)
    with pytest.raises(ValueError, match="image.erase.*outside"):
        ts.image.erase(a, 2**62, 0, 2**62, 1, 0.0)
    np.testing.assert_array_equal(A(ts.image.erase(a, 1, 2, 3, 4, 0.0))[:, 1:4, 2:6], 0)


@pytest.mark.parametrize("t", [T.Resize(8), T.Resize((8, 8)), T.RandomResizedCrop(8)])
def test_resize_transforms_reject_empty_images(t):
    # Resize(int) and RandomResizedCrop divide by the sides (a cast of inf/NaN before).
    with pytest.raises(ValueError, match="empty image"):
        t(ts.zeros((3, 0, 5)))


def test_color_adjustments_take_grayscale_tensors_as_torchvision():
    # torchvision: brightness blends with 0 and contrast with the image's mean on a 1-channel
    # tensor; saturation and hue return it as it is. AutoAugment/RandAugment on grayscale
    # (MNIST-like) tensors raised "expected an RGB image" before.
    g = np.random.default_rng(3).random((1, 5, 7)).astype(np.float32)
    x = ts.from_numpy(g)
    np.testing.assert_allclose(A(ts.image.adjust_brightness(x, 1.7)), np.clip(1.7 * g, 0, 1), rtol=1e-6)
    m = np.float32(g.mean())
    np.testing.assert_allclose(A(ts.image.adjust_contrast(x, 0.4)), np.clip(0.4 * g + 0.6 * m, 0, 1), rtol=1e-5)
    np.testing.assert_array_equal(A(ts.image.adjust_saturation(x, 0.2)), g)
    np.testing.assert_array_equal(A(ts.image.adjust_hue(x, 0.3)), g)
    u = (g * 255).astype(np.uint8)
    np.testing.assert_array_equal(A(ts.image.adjust_brightness(ts.from_numpy(u), 1.5)),
                                  np.clip(np.float32(1.5) * u, 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match="image.adjust_contrast.*1- or 3-channel"):
        ts.image.adjust_contrast(ts.zeros((2, 5, 7)), 0.5)
    ts.manual_seed(0)
    for t in (T.AutoAugment(), T.AutoAugment("svhn"), T.RandAugment(num_ops=4), T.ColorJitter(0.4, 0.4, 0.4, 0.2)):
        for _ in range(20):
            assert tuple(t(ts.from_numpy(u)).shape) == (1, 5, 7)
