"""ts.image against Pillow and opencv-python (the references), on generated images.

Tolerances: PNG/BMP/lossless WebP exact; JPEG within 1 level of cv2 (both
libjpeg-turbo) and loose against Pillow; antialiased resize within 1 level of
Pillow; antialias=False within 1 level of cv2.resize.
"""
import colorsys
import io

import numpy as np
import pytest

import tessel as ts

cv2 = pytest.importorskip("cv2")
PIL = pytest.importorskip("PIL")
from PIL import Image, ImageOps  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.image.available(), reason="tessel built without OpenCV")

A = np.asarray


def noise(h, w, c=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w) if c == 0 else (h, w, c)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def photo(h, w, seed=0):
    """Smooth gradients plus mild noise: JPEG-friendly, like a photograph."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 37.0 + y / 53.0), 255 * x / max(w - 1, 1),
                    128 + 90 * np.cos(y / 29.0 - x / 71.0)], axis=-1)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def checker(h, w, k=3):
    y, x = np.mgrid[0:h, 0:w]
    c = (((y // k) + (x // k)) % 2 * 255).astype(np.uint8)
    return np.stack([c, 255 - c, c // 2], axis=-1)


def png(rgb):
    ok, b = cv2.imencode(".png", rgb[..., ::-1] if rgb.ndim == 3 and rgb.shape[2] >= 3 else rgb)
    return b.tobytes()


def jpeg(rgb, q=90):
    return cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()


def maxdiff(a, b):
    return int(np.abs(A(a).astype(np.int64) - A(b).astype(np.int64)).max())


SIZES = [(1, 1), (1, 17), (13, 1), (31, 47), (64, 64), (97, 33)]


# ---------------------------------------------------------------- codec

@pytest.mark.parametrize("h,w", SIZES)
def test_png_decode_exact(h, w):
    a = noise(h, w, seed=h * 100 + w)
    b = png(a)
    np.testing.assert_array_equal(A(ts.image.decode(b)), a)
    np.testing.assert_array_equal(A(ts.image.decode(b)), A(Image.open(io.BytesIO(b)).convert("RGB")))
    np.testing.assert_array_equal(A(ts.image.decode(b, "bgr")), a[..., ::-1])
    np.testing.assert_array_equal(A(ts.image.decode(b, bgr=True)), a[..., ::-1])
    g = A(ts.image.decode(b, "gray"))
    assert g.shape == (h, w, 1)
    np.testing.assert_array_equal(g[..., 0], cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_GRAYSCALE))


@pytest.mark.parametrize("h,w", [(48, 64), (37, 53), (1, 9), (200, 301)])
def test_jpeg_decode_vs_references(h, w):
    a = photo(h, w)
    b = jpeg(a)
    t = A(ts.image.decode(b))
    ref = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert t.shape == (h, w, 3) and t.dtype == np.uint8
    assert maxdiff(t, ref) <= 1
    pil = A(Image.open(io.BytesIO(b)).convert("RGB"))
    assert np.abs(t.astype(int) - pil).mean() < 1.5 and maxdiff(t, pil) <= 12
    g = A(ts.image.decode(b, "gray"))[..., 0]
    assert maxdiff(g, cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_GRAYSCALE)) <= 1


def test_decode_accepts_buffers():
    a = noise(5, 7)
    b = png(a)
    for data in (bytearray(b), memoryview(b), np.frombuffer(b, np.uint8)):
        np.testing.assert_array_equal(A(ts.image.decode(data)), a)


def test_png_alpha_gray_and_16bit():
    rgba = noise(9, 11, 4)
    b = cv2.imencode(".png", rgba[..., [2, 1, 0, 3]])[1].tobytes()
    u = A(ts.image.decode(b, "unchanged"))
    np.testing.assert_array_equal(u, rgba)
    np.testing.assert_array_equal(u, A(Image.open(io.BytesIO(b))))
    np.testing.assert_array_equal(A(ts.image.decode(b, "unchanged", bgr=True)), rgba[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(A(ts.image.decode(b)), rgba[..., :3])  # alpha dropped

    g = noise(6, 8, 0)
    gb = cv2.imencode(".png", g)[1].tobytes()
    gu = A(ts.image.decode(gb, "unchanged"))
    assert gu.shape == (6, 8, 1)
    np.testing.assert_array_equal(gu[..., 0], g)
    np.testing.assert_array_equal(A(ts.image.decode(gb)), np.repeat(g[..., None], 3, axis=2))

    a16 = np.random.default_rng(1).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    b16 = cv2.imencode(".png", a16[..., ::-1])[1].tobytes()
    t16 = ts.image.decode(b16, "unchanged")
    assert t16.dtype == ts.int32
    np.testing.assert_array_equal(A(t16), a16.astype(np.int32))
    assert ts.image.info(b16)["bit_depth"] == 16
    ref8 = cv2.imdecode(np.frombuffer(b16, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    np.testing.assert_array_equal(A(ts.image.decode(b16)), ref8)
    g16 = np.arange(35, dtype=np.uint16).reshape(5, 7) * 1000
    np.testing.assert_array_equal(A(ts.image.decode(cv2.imencode(".png", g16)[1].tobytes(), "unchanged"))[..., 0], g16)


def exif_jpeg(rgb, orientation):
    im = Image.fromarray(rgb)
    ex = Image.Exif()
    ex[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, exif=ex.tobytes())
    return buf.getvalue()


UPRIGHT = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, -1)[::-1],
           8: lambda a: np.rot90(a, 1)}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation(orientation):
    a = photo(24, 40)
    b = exif_jpeg(a, orientation)
    assert ts.image.info(b)["orientation"] == orientation
    stored = A(ts.image.decode(b))
    assert stored.shape == (24, 40, 3)  # off by default (Pillow, torchvision)
    up = A(ts.image.decode(b, apply_exif_orientation=True))
    np.testing.assert_array_equal(up, UPRIGHT[orientation](stored))
    # OpenCV's imdecode applies it by default; Pillow's exif_transpose agrees on the geometry.
    cvu = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert cvu.shape == up.shape and maxdiff(cvu, up) <= 1
    assert A(ImageOps.exif_transpose(Image.open(io.BytesIO(b)))).shape == up.shape
    g = A(ts.image.decode(b, "gray", apply_exif_orientation=True))
    assert g.shape[:2] == up.shape[:2]


def test_info_headers():
    a = photo(30, 50)
    assert ts.image.info(jpeg(a)) == {"width": 50, "height": 30, "channels": 3, "bit_depth": 8, "format": "jpeg",
                                      "orientation": 1}
    assert ts.image.info(png(a))["format"] == "png"
    assert ts.image.info(png(noise(3, 4, 4)))["channels"] == 4
    for ext, fmt in ((".bmp", "bmp"), (".webp", "webp")):
        i = ts.image.info(cv2.imencode(ext, a)[1].tobytes())
        assert (i["width"], i["height"], i["format"]) == (50, 30, fmt)
    lossy = ts.image.info(cv2.imencode(".webp", a, [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes())
    assert (lossy["width"], lossy["height"]) == (50, 30)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "GIF")
    i = ts.image.info(buf.getvalue())
    if i["format"] == "gif":
        assert (i["width"], i["height"]) == (50, 30)


@pytest.mark.parametrize("fmt", ["png", "bmp", "webp"])
def test_encode_lossless_roundtrip(fmt):
    for a in (noise(17, 23), noise(5, 4, 4) if fmt != "bmp" else noise(3, 3), noise(9, 10, 0)):
        b = ts.image.encode(a, fmt)
        mode = "unchanged"
        out = A(ts.image.decode(b, mode))
        ref = a if a.ndim == 3 else a[..., None]
        if fmt == "webp" and ref.shape[2] == 1:
            ref = np.repeat(ref, 3, axis=2)
        np.testing.assert_array_equal(out, ref)
    pil = A(Image.open(io.BytesIO(ts.image.encode(noise(8, 6), "png"))).convert("RGB"))
    np.testing.assert_array_equal(pil, noise(8, 6))


def test_encode_jpeg_and_bgr():
    a = photo(40, 60)
    b = ts.image.encode(a, "jpeg", quality=95)
    assert b[:2] == b"\xff\xd8" and b[-2:] == b"\xff\xd9"
    assert np.abs(A(ts.image.decode(b)).astype(int) - a).mean() < 6  # the noise does not survive JPEG
    assert len(ts.image.encode(a, "jpg", quality=10)) < len(b)
    np.testing.assert_array_equal(A(ts.image.decode(ts.image.encode(a[..., ::-1], "png", bgr=True))), a)
    # A tessel tensor is [C, H, W] (torchvision.io.encode_png); an unmarked HWC-shaped one is refused.
    np.testing.assert_array_equal(A(ts.image.decode(ts.image.encode(ts.tensor(a.transpose(2, 0, 1).copy()), "png"))), a)
    np.testing.assert_array_equal(A(ts.image.decode(ts.image.encode(ts.image.as_image(ts.tensor(a)), "png"))), a)
    with pytest.raises(ValueError, match=r"\[image.encode\] ambiguous layout"):
        ts.image.encode(ts.tensor(a), "png")


def test_read_write(tmp_path):
    a = noise(12, 9)
    p = tmp_path / "x.png"
    ts.image.write(p, a)
    np.testing.assert_array_equal(A(ts.image.read(p)), a)
    np.testing.assert_array_equal(A(Image.open(p)), a)
    ts.image.write(str(tmp_path / "y.jpg"), photo(16, 16), quality=90)
    assert ts.image.read(tmp_path / "y.jpg").shape == (16, 16, 3)
    with pytest.raises(FileNotFoundError):
        ts.image.read(tmp_path / "missing.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(jpeg(photo(32, 32))[:300])
    with pytest.raises(ValueError, match=r"\[image.read\] '.*bad.jpg': truncated JPEG"):
        ts.image.read(bad)
    with pytest.raises(ValueError, match="extension"):
        ts.image.write(tmp_path / "z.xyz", a)
    with pytest.raises(OSError):
        ts.image.write(tmp_path / "no" / "dir.png", a)


def test_decode_errors():
    j = jpeg(photo(64, 64))
    p = png(noise(32, 32))
    with pytest.raises(ValueError, match=r"\[image.decode\] empty"):
        ts.image.decode(b"")
    with pytest.raises(ValueError, match=r"\[image.decode\] unknown image format"):
        ts.image.decode(b"hello world, not an image")
    for cut in (3, 50, len(j) // 2, len(j) - 2):
        with pytest.raises(ValueError, match=r"\[image.decode\] (truncated JPEG|cannot decode)"):
            ts.image.decode(j[:cut])
    for cut in (8, 20, 40, len(p) // 2, len(p) - 5):
        with pytest.raises(ValueError, match=r"\[image.decode\]"):
            ts.image.decode(p[:cut])
    corrupt = bytearray(p)
    corrupt[len(p) // 2: len(p) // 2 + 16] = b"\x00" * 16
    with pytest.raises(ValueError, match=r"\[image.decode\]"):
        ts.image.decode(bytes(corrupt))
    with pytest.raises(ValueError, match="unknown mode"):
        ts.image.decode(p, "cmyk")
    with pytest.raises(ValueError, match=r"\[image.info\]"):
        ts.image.info(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match=r"\[image.encode\] unknown format"):
        ts.image.encode(noise(2, 2), "tga")
    with pytest.raises(ValueError, match="alpha"):
        ts.image.encode(noise(2, 2, 4), "jpeg")
    with pytest.raises(TypeError, match="uint8"):
        ts.image.encode(noise(2, 2).astype(np.float32), "png")
    with pytest.raises(ValueError, match="channels"):
        ts.image.encode(noise(2, 2, 2), "png")


def test_decode_random_garbage_never_crashes():
    rng = np.random.default_rng(7)
    j = jpeg(photo(32, 32))
    for i in range(200):
        b = bytearray(j)
        for k in rng.integers(2, len(b), 4):
            b[k] = rng.integers(0, 256)
        try:
            t = ts.image.decode(bytes(b))  # a damaged header may still decode, to another size
            assert t.dim() == 3 and t.shape[2] == 3
        except ValueError:
            pass


def test_size_hint_reduced_decode():
    a = photo(768, 1024)
    b = jpeg(a)
    t = ts.image.decode(b, size_hint=(224, 224))
    assert t.shape == (384, 512, 3)
    ref = cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_REDUCED_COLOR_2)[..., ::-1]
    assert maxdiff(t, ref) <= 1
    assert ts.image.decode(b, size_hint=(96, 128)).shape == (96, 128, 3)
    assert ts.image.decode(b, size_hint=(700, 10)).shape == (768, 1024, 3)
    assert ts.image.decode(png(noise(64, 64)), size_hint=(8, 8)).shape == (64, 64, 3)  # JPEG only


# ---------------------------------------------------------------- resize

PIL_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS, "box": Image.BOX,
               "hamming": Image.HAMMING}
RESIZES = [((64, 64), (17, 23)), ((31, 47), (31, 20)), ((1, 40), (1, 7)), ((40, 1), (9, 1)), ((13, 17), (40, 51)),
           ((97, 33), (20, 70)), ((768, 1024), (224, 224)), ((8, 9), (8, 9))]


@pytest.mark.parametrize("interp", list(PIL_FILTERS))
@pytest.mark.parametrize("src,dst", RESIZES)
def test_resize_antialias_matches_pillow(interp, src, dst):
    for a in (noise(*src, seed=3), photo(*src), checker(*src)):
        out = ts.image.resize(a, dst, interp)
        ref = A(Image.fromarray(a).resize(dst[::-1], PIL_FILTERS[interp]))
        assert out.shape == (*dst, 3)
        assert maxdiff(out, ref) <= 1, (interp, src, dst)
    g = noise(*src, c=0, seed=5)
    assert maxdiff(ts.image.resize(g, dst, interp), A(Image.fromarray(g).resize(dst[::-1], PIL_FILTERS[interp]))) <= 1


@pytest.mark.parametrize("interp", list(PIL_FILTERS))
def test_resize_antialias_random_sizes(interp):
    # Random up/down combinations exercise Pillow's pass order (it changes bicubic/lanczos clipping).
    rng = np.random.default_rng(1)
    for i in range(80):
        h, w, oh, ow = (int(v) for v in rng.integers(1, 90, 4))
        a = noise(h, w, seed=i)
        ref = A(Image.fromarray(a).resize((ow, oh), PIL_FILTERS[interp]))
        assert maxdiff(ts.image.resize(a, (oh, ow), interp), ref) <= 1, (h, w, oh, ow)


@pytest.mark.parametrize("interp", ["bilinear", "bicubic", "lanczos"])
def test_resize_antialias_float(interp):
    a = np.random.default_rng(2).random((45, 61)).astype(np.float32)
    out = A(ts.image.resize(a, (20, 90), interp))
    ref = A(Image.fromarray(a, "F").resize((90, 20), PIL_FILTERS[interp]))
    np.testing.assert_allclose(out, ref, atol=2e-5)
    rgb = np.random.default_rng(3).random((30, 40, 3)).astype(np.float32)
    out = A(ts.image.resize(rgb, (11, 13), interp))
    for c in range(3):
        np.testing.assert_allclose(out[..., c], A(Image.fromarray(rgb[..., c], "F").resize((13, 11),
                                                                                            PIL_FILTERS[interp])),
                                   atol=2e-5)
    chw = np.ascontiguousarray(rgb.transpose(2, 0, 1))
    np.testing.assert_allclose(A(ts.image.resize(chw, (11, 13), interp, layout="chw")), out.transpose(2, 0, 1),
                               atol=1e-6)


CV_FLAGS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4,
            "area": cv2.INTER_AREA}


@pytest.mark.parametrize("interp", list(CV_FLAGS))
@pytest.mark.parametrize("src,dst", RESIZES)
def test_resize_opencv_family(interp, src, dst):
    for a in (noise(*src, seed=4), photo(*src)):
        out = ts.image.resize(a, dst, interp, antialias=False)
        ref = cv2.resize(a, dst[::-1], interpolation=CV_FLAGS[interp])
        assert maxdiff(out, ref) <= 1, (interp, src, dst)
    f = np.random.default_rng(1).random(src).astype(np.float32)
    np.testing.assert_allclose(A(ts.image.resize(f, dst, interp, antialias=False)),
                               cv2.resize(f, dst[::-1], interpolation=CV_FLAGS[interp]).reshape(dst), atol=1e-4)


@pytest.mark.parametrize("src,dst", RESIZES + [((5, 5), (3, 3)), ((3, 7), (8, 14))])
def test_resize_nearest(src, dst):
    a = noise(*src, seed=9)
    for antialias in (True, False):
        np.testing.assert_array_equal(A(ts.image.resize(a, dst, "nearest", antialias)),
                                      cv2.resize(a, dst[::-1], interpolation=cv2.INTER_NEAREST))
    ex = A(ts.image.resize(a, dst, "nearest_exact"))
    np.testing.assert_array_equal(ex, cv2.resize(a, dst[::-1], interpolation=cv2.INTER_NEAREST_EXACT))
    np.testing.assert_array_equal(ex, A(Image.fromarray(a).resize(dst[::-1], Image.NEAREST)))


def test_resize_shorter_side_and_errors():
    a = noise(30, 60)
    assert ts.image.resize(a, 10).shape == (10, 20, 3)
    assert ts.image.resize(noise(60, 30), 10).shape == (20, 10, 3)
    with pytest.raises(ValueError, match="unknown interpolation"):
        ts.image.resize(a, (5, 5), "bogus")
    with pytest.raises(ValueError, match="antialias=True"):
        ts.image.resize(a, (5, 5), "box", antialias=False)
    with pytest.raises(TypeError, match=r"\[image.resize\] expected a uint8 or float32"):
        ts.image.resize(a.astype(np.int32), (5, 5))
    with pytest.raises(ValueError, match="positive"):
        ts.image.resize(a, (0, 5))
    with pytest.raises(ValueError, match="ambiguous layout"):
        ts.image.resize(np.zeros((2, 3, 4, 5), np.uint8), (5, 5))


# ---------------------------------------------------------------- geometry

def test_crop_center_crop_flip():
    a = noise(11, 14)
    np.testing.assert_array_equal(A(ts.image.crop(a, 2, 3, 5, 7)), a[2:7, 3:10])
    for (h, w) in ((4, 5), (11, 14), (6, 6), (1, 1)):
        top, left = int(round((11 - h) / 2.0)), int(round((14 - w) / 2.0))
        np.testing.assert_array_equal(A(ts.image.center_crop(a, (h, w))), a[top:top + h, left:left + w])
    np.testing.assert_array_equal(A(ts.image.hflip(a)), a[:, ::-1])
    np.testing.assert_array_equal(A(ts.image.vflip(a)), a[::-1])
    np.testing.assert_array_equal(A(ts.image.hflip(a.astype(np.float32))), a[:, ::-1].astype(np.float32))
    g = noise(5, 6, 0)
    np.testing.assert_array_equal(A(ts.image.hflip(g)), g[:, ::-1])
    # torchvision: what lies outside the image is zeros.
    z = np.pad(a, ((1, 4), (2, 2), (0, 0)))
    np.testing.assert_array_equal(A(ts.image.crop(a, 8, 0, 5, 5)), z[9:14, 2:7])
    np.testing.assert_array_equal(A(ts.image.crop(a, -1, -2, 3, 4)), z[0:3, 0:4])
    # center_crop larger than the image pads (torchvision: the odd extra row at the bottom).
    np.testing.assert_array_equal(A(ts.image.center_crop(a, (12, 3))), np.pad(a, ((0, 1), (0, 0), (0, 0)))[:, 6:9])
    with pytest.raises(ValueError, match=r"\[image.crop\] crop size must be positive"):
        ts.image.crop(a, 0, 0, 0, 2)


@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("edge", "edge"), ("reflect", "reflect"),
                                          ("symmetric", "symmetric")])
def test_pad(mode, np_mode):
    a = noise(5, 7)
    out = A(ts.image.pad(a, (1, 2, 3, 4), fill=9, padding_mode=mode))
    kw = {"constant_values": 9} if mode == "constant" else {}
    np.testing.assert_array_equal(out, np.pad(a, ((2, 4), (1, 3), (0, 0)), np_mode, **kw))
    np.testing.assert_array_equal(A(ts.image.pad(a, 2, padding_mode=mode)),
                                  np.pad(a, ((2, 2), (2, 2), (0, 0)), np_mode))
    f = a.astype(np.float32) / 7
    np.testing.assert_array_equal(A(ts.image.pad(f, (3, 1), 0, mode)), np.pad(f, ((1, 1), (3, 3), (0, 0)), np_mode))
    # The same on a [C, H, W] tensor (torchvision's layout).
    chw = ts.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    np.testing.assert_array_equal(A(ts.image.pad(chw, (1, 2, 3, 4), fill=9, padding_mode=mode)),
                                  np.pad(a, ((2, 4), (1, 3), (0, 0)), np_mode, **kw).transpose(2, 0, 1))


# Expected values below were produced by torchvision's tensor path (its
# _get_inverse_affine_matrix / _gen_affine_grid on torch.grid_sample, PyTorch 2),
# on IMG = (arange(35).reshape(1, 5, 7) * 37) % 256 as uint8.
IMG = ((np.arange(35).reshape(1, 5, 7) * 37) % 256).astype(np.uint8)
R30 = [[0, 0, 111, 148, 188, 225, 0], [37, 74, 114, 151, 154, 191, 231], [0, 40, 80, 117, 154, 194, 234],
       [3, 43, 80, 83, 120, 160, 197], [0, 9, 46, 86, 123, 0, 0]]
R45B = [[200, 169, 130, 165, 193, 222, 157], [167, 90, 113, 141, 169, 198, 226], [49, 60, 89, 117, 145, 174, 180],
        [8, 36, 65, 93, 121, 139, 171], [108, 12, 41, 69, 99, 169, 200]]
R30E = [[0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 185, 222, 0, 0], [0, 0, 0, 111, 148, 188, 225, 0, 0],
        [0, 37, 74, 114, 151, 154, 191, 231, 0], [0, 0, 40, 80, 117, 154, 194, 234, 234],
        [0, 3, 43, 80, 83, 120, 160, 197, 0], [0, 0, 9, 46, 86, 123, 0, 0, 0], [0, 0, 12, 49, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0]]
AFF = [[0, 3, 40, 77, 114, 114, 151], [6, 6, 43, 80, 117, 154, 191], [9, 46, 83, 120, 120, 157, 194],
       [12, 49, 86, 123, 160, 197, 234], [0, 0, 0, 0, 0, 0, 0]]
RC = [[37, 37, 77, 114, 151, 191, 228], [3, 40, 80, 117, 154, 194, 231], [6, 43, 80, 120, 157, 197, 197],
      [9, 9, 46, 86, 123, 160, 7], [7, 12, 49, 7, 7, 7, 7]]  # rotate(20, center=[1, 2], fill=[7])
SHX = [[0, 37, 74, 111, 148, 185, 222], [3, 40, 77, 114, 151, 188, 225], [6, 43, 80, 154, 154, 228, 228],
       [46, 83, 120, 157, 194, 231, 0], [49, 86, 123, 160, 197, 234, 0]]  # AutoAugment's ShearX(0.2), center [0, 0]


def test_rotate_affine_vs_torchvision():
    t = ts.from_numpy(IMG)  # [1, 5, 7]: a tensor, so CHW
    np.testing.assert_array_equal(A(ts.image.rotate(t, 30))[0], R30)
    np.testing.assert_array_equal(A(ts.image.rotate(t, 45, "bilinear", fill=200))[0], R45B)
    np.testing.assert_array_equal(A(ts.image.rotate(t, 30, expand=True))[0], R30E)
    np.testing.assert_array_equal(A(ts.image.affine(t, 10, (1, -1), 1.1, (15, 5)))[0], AFF)
    np.testing.assert_array_equal(A(ts.image.rotate(t, 20, center=(1, 2), fill=7))[0], RC)
    shear = (np.degrees(np.arctan(0.2)), 0)
    np.testing.assert_array_equal(A(ts.image.affine(t, 0, (0, 0), 1, shear, center=(0, 0)))[0], SHX)
    # The same on the HWC (decoded) layout and on a float batch.
    hwc = np.ascontiguousarray(IMG.transpose(1, 2, 0))
    np.testing.assert_array_equal(A(ts.image.rotate(hwc, 30))[..., 0], R30)
    batch = ts.from_numpy(np.stack([IMG, IMG]).astype(np.float32))
    out = A(ts.image.rotate(batch, 30, expand=True))
    assert out.shape == (2, 1, 9, 9)
    np.testing.assert_array_equal(out[1, 0], R30E)


def test_rotate():
    a = noise(7, 10)
    for k in range(-3, 5):
        np.testing.assert_array_equal(A(ts.image.rotate(a, 90 * k, expand=True)), np.rot90(a, k))
    sq = noise(9, 9)
    for k in range(4):
        np.testing.assert_array_equal(A(ts.image.rotate(sq, 90 * k)), np.rot90(sq, k))
    # expand=False keeps the size at 90 degrees too (torchvision), corners cut.
    assert ts.image.rotate(a, 90).shape == (7, 10, 3)
    p = photo(64, 80)
    for angle in (30, -45, 137.5):
        out = A(ts.image.rotate(p, angle, "bilinear"))
        ref = A(Image.fromarray(p).rotate(angle, Image.BILINEAR))
        assert out.shape == p.shape
        inner = np.s_[8:-8, 8:-8]
        d = np.abs(out[inner].astype(int) - ref[inner])
        assert np.mean(d <= 1) > 0.97, (angle, d.max(), np.mean(d <= 1))  # the rest: fill edges
    f = A(ts.image.rotate(p.astype(np.float32), 30, fill=-1))
    assert f[0, 0, 0] == -1
    with pytest.raises(ValueError, match=r"\[image.rotate\] interpolation must be nearest or bilinear"):
        ts.image.rotate(p, 30, "bicubic")
    with pytest.raises(ValueError, match=r"\[image.rotate\] fill needs 1 value or one per channel"):
        ts.image.rotate(p, 30, fill=(1, 2))


# ---------------------------------------------------------------- color and tensors

def test_gray_rounding():
    a = noise(40, 50)
    np.testing.assert_array_equal(A(ts.image.convert_color(a, "rgb", "gray"))[..., 0],
                                  A(Image.fromarray(a).convert("L")))
    assert maxdiff(A(ts.image.convert_color(a, "rgb", "gray"))[..., 0], cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)) <= 1
    f = a.astype(np.float32)
    tv = (np.float32(0.2989) * f[..., 0] + np.float32(0.587) * f[..., 1] + np.float32(0.114) * f[..., 2])
    np.testing.assert_array_equal(A(ts.image.convert_color(a, "rgb", "gray", "torchvision"))[..., 0],
                                  tv.astype(np.uint8))
    prim = np.array([[[0, 255, 0], [255, 255, 255]]], np.uint8)
    assert A(ts.image.convert_color(prim, "rgb", "gray")).ravel().tolist() == [150, 255]
    assert A(ts.image.convert_color(prim, "rgb", "gray", "torchvision")).ravel().tolist() == [149, 254]
    np.testing.assert_array_equal(A(ts.image.convert_color(a[..., ::-1], "bgr", "gray")),
                                  A(ts.image.convert_color(a, "rgb", "gray")))
    np.testing.assert_array_equal(A(ts.image.convert_color(a, "rgb", "bgr")), a[..., ::-1])
    g = A(ts.image.convert_color(a, "rgb", "gray"))
    np.testing.assert_array_equal(A(ts.image.convert_color(g, "gray", "rgb")), np.repeat(g, 3, axis=2))
    with pytest.raises(ValueError, match=r"\[image.convert_color\] a gray image has 1 channels"):
        ts.image.convert_color(a, "gray", "rgb")
    with pytest.raises(ValueError, match="unknown color space"):
        ts.image.convert_color(a, "rgb", "lab")


def test_hsv():
    a = noise(30, 30)
    hsv = A(ts.image.convert_color(a, "rgb", "hsv"))
    assert maxdiff(hsv, A(Image.fromarray(a).convert("HSV"))) <= 1
    back = A(ts.image.convert_color(hsv, "hsv", "rgb"))
    assert maxdiff(back, A(Image.fromarray(hsv, "HSV").convert("RGB"))) <= 1
    f = np.random.default_rng(0).random((8, 9, 3)).astype(np.float32)
    fh = A(ts.image.convert_color(f, "rgb", "hsv"))
    ref = np.array([colorsys.rgb_to_hsv(*p) for p in f.reshape(-1, 3)]).reshape(f.shape)
    np.testing.assert_allclose(fh, ref, atol=1e-5)
    np.testing.assert_allclose(A(ts.image.convert_color(fh, "hsv", "rgb")), f, atol=1e-5)


def test_to_tensor_normalize_to_image():
    a = noise(5, 6)
    t = ts.image.to_tensor(a)
    assert t.shape == (3, 5, 6) and t.dtype == ts.float32
    np.testing.assert_array_equal(A(t), a.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    n = A(ts.image.normalize(t, mean, std))
    ref = (A(t) - np.float32(mean)[:, None, None]) / np.float32(std)[:, None, None]
    np.testing.assert_allclose(n, ref, rtol=1e-6)
    np.testing.assert_array_equal(A(ts.image.to_image(t)), a)
    x = np.array([[[-0.5, 0.5, 2.0 / 510, 1.5]]], np.float32)
    assert A(ts.image.to_image(x)).ravel().tolist() == [0, 128, 1, 255]  # 127.5 -> 128, 1.0 -> 1 (half even: 2/510*255=1)
    with pytest.raises(TypeError, match=r"\[image.normalize\]"):
        ts.image.normalize(a, mean, std)
    with pytest.raises(ValueError, match="one value per channel"):
        ts.image.normalize(t, (0.5,), (0.5,))
    with pytest.raises(ValueError, match="std must not contain 0"):
        ts.image.normalize(t, mean, (1, 0, 1))


def tv_gray(x):
    return np.float32(0.2989) * x[..., 0] + np.float32(0.587) * x[..., 1] + np.float32(0.114) * x[..., 2]


def tv_blend(a, b, r, bound):
    out = np.float32(r) * a.astype(np.float32) + np.float32(1.0 - r) * b
    out = np.clip(out, 0, bound)
    return out.astype(np.uint8) if bound == 255 else out


def test_adjust_matches_torchvision_formulas():
    a = noise(20, 24)
    f = a.astype(np.float32) / 255
    for factor in (0.0, 0.6, 1.0, 1.7):
        np.testing.assert_array_equal(A(ts.image.adjust_brightness(a, factor)), tv_blend(a, np.float32(0), factor, 255))
        g8 = tv_gray(a.astype(np.float32)).astype(np.uint8)
        np.testing.assert_array_equal(A(ts.image.adjust_saturation(a, factor)),
                                      tv_blend(a, g8[..., None].astype(np.float32), factor, 255))
        mean = np.float32(g8.astype(np.float32).mean())
        assert maxdiff(ts.image.adjust_contrast(a, factor), tv_blend(a, mean, factor, 255)) <= 1
        np.testing.assert_allclose(A(ts.image.adjust_saturation(f, factor)),
                                   tv_blend(f, tv_gray(f)[..., None], factor, 1.0), atol=1e-6)
    for shift in (-0.5, -0.2, 0.0, 0.3):
        out = A(ts.image.adjust_hue(f, shift))
        hsv = np.array([colorsys.rgb_to_hsv(*p) for p in f.reshape(-1, 3)])
        hsv[:, 0] = (hsv[:, 0] + shift) % 1.0
        ref = np.array([colorsys.hsv_to_rgb(*p) for p in hsv]).reshape(f.shape)
        np.testing.assert_allclose(out, ref, atol=1e-4)
        assert maxdiff(ts.image.adjust_hue(a, shift), np.clip(ref * 255.999, 0, 255).astype(np.uint8)) <= 1
    with pytest.raises(ValueError, match=r"\[image.adjust_hue\]"):
        ts.image.adjust_hue(a, 0.7)
    # 1 channel is fine (torchvision takes grayscale), 2 are not
    with pytest.raises(ValueError, match="1- or 3-channel"):
        ts.image.adjust_brightness(ts.zeros((2, 5, 7)), 1.2)


# ---------------------------------------------------------------- transforms

T = ts.image.transforms


def test_transform_basics_and_repr():
    a = noise(40, 60)
    r = T.Resize(20)
    assert r(a).shape == (20, 30, 3)
    assert repr(r) == "Resize(size=20, interpolation=bilinear, antialias=True)"
    np.testing.assert_array_equal(A(T.Resize((10, 12), "bicubic")(a)), A(ts.image.resize(a, (10, 12), "bicubic")))
    np.testing.assert_array_equal(A(T.CenterCrop(16)(a)), A(ts.image.center_crop(a, 16)))
    c = T.Compose([T.CenterCrop((32, 32)), T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    out = c(a)
    assert out.shape == (3, 32, 32) and out.dtype == ts.float32
    np.testing.assert_allclose(A(out), (A(ts.image.to_tensor(ts.image.center_crop(a, 32))) - 0.5) / 0.5, atol=1e-6)
    assert repr(c).startswith("Compose([CenterCrop(size=[32, 32]), ToTensor(), Normalize(mean=[0.5")
    assert isinstance(c, T.Transform)


def test_decode_transform():
    a = photo(30, 40)
    b = np.frombuffer(jpeg(a), np.uint8)
    pipe = T.Compose([T.Decode(), T.CenterCrop(16), T.ToTensor()])
    out = pipe(b)
    assert out.shape == (3, 16, 16)
    np.testing.assert_array_equal(A(out), A(ts.image.to_tensor(ts.image.center_crop(ts.image.decode(b), 16))))
    assert repr(T.Decode("gray")) == "Decode(mode=gray, bgr=False, apply_exif_orientation=False)"
    with pytest.raises(ValueError, match=r"\[image.Decode\]"):
        T.Decode()(a)


def test_random_horizontal_flip_rate():
    a = noise(4, 5)
    for p in (0.0, 0.3, 1.0):
        f = T.RandomHorizontalFlip(p)
        flips = sum(np.array_equal(A(f(a, seed=s)), a[:, ::-1]) for s in range(2000))
        assert abs(flips / 2000 - p) < 0.04


def tv_rrc_mean_area(H, W, n=20000, seed=0):
    """Mean crop area fraction of torchvision's RandomResizedCrop.get_params (NumPy Monte Carlo)."""
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(n):
        for _ in range(10):
            target = H * W * rng.uniform(0.08, 1.0)
            ar = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            w, h = int(round(np.sqrt(target * ar))), int(round(np.sqrt(target / ar)))
            if 0 < w <= W and 0 < h <= H:
                total += h * w / (H * W)
                break
        else:
            total += min(W, round(H * 4 / 3)) * H / (H * W) if W / H > 4 / 3 else 1.0
    return total / n


def test_random_resized_crop_distribution():
    t = T.RandomResizedCrop(32)
    H, W = 200, 300
    areas, ratios = [], []
    for s in range(3000):
        top, left, h, w = t.params(H, W, s)
        assert 0 <= top and top + h <= H and 0 <= left and left + w <= W
        areas.append(h * w / (H * W))
        ratios.append(w / h)
    areas, ratios = np.array(areas), np.array(ratios)
    assert areas.min() >= 0.07 and areas.max() <= 1.0
    assert abs(areas.mean() - tv_rrc_mean_area(H, W)) < 0.02
    assert ratios.min() > 0.7 and ratios.max() < 1.4
    sq = np.array([(lambda p: p[3] / p[2])(t.params(256, 256, s)) for s in range(3000)])
    assert np.mean(np.log(sq) < 0) == pytest.approx(0.5, abs=0.04)  # log-uniform ratio, symmetric on a square
    # No try fits: center crop with the ratio clamped (torchvision's fallback).
    big = T.RandomResizedCrop(8, scale=(2.0, 3.0))
    assert tuple(big.params(100, 400, 1)) == (0, 133, 100, 133)
    assert tuple(big.params(50, 50, 1)) == (0, 0, 50, 50)
    out = t(noise(64, 80), seed=3)
    assert out.shape == (32, 32, 3)


def test_transforms_deterministic_and_thread_independent():
    imgs = [photo(48 + i, 64 - i, seed=i) for i in range(12)]
    aug = T.Compose([T.RandomResizedCrop((24, 24)), T.RandomHorizontalFlip(), T.ColorJitter(0.4, 0.4, 0.4, 0.1),
                     T.ToTensor()])
    np.testing.assert_array_equal(A(aug(imgs[0], seed=5)), A(aug(imgs[0], seed=5)))
    assert not np.array_equal(A(aug(imgs[0], seed=5)), A(aug(imgs[0], seed=6)))
    ts.manual_seed(123)
    x = A(aug(imgs[1]))
    ts.manual_seed(123)
    np.testing.assert_array_equal(A(aug(imgs[1])), x)
    one = T.apply_batch(aug, imgs, seed=9, num_threads=1)
    two = T.apply_batch(aug, imgs, seed=9, num_threads=2)
    for u, v in zip(one, two):
        np.testing.assert_array_equal(A(u), A(v))
    assert not np.array_equal(A(one[0]), A(one[1])[:, :, :])  # different items, different draws


def test_color_jitter():
    a = photo(16, 16)
    np.testing.assert_array_equal(A(T.ColorJitter()(a, seed=1)), a)
    b = T.ColorJitter(brightness=0.5)
    ratios = []
    for s in range(200):
        out = A(b(a.astype(np.float32) / 255, seed=s))
        ratios.append(out.sum() / (a.astype(np.float32) / 255).sum())
    assert 0.5 <= min(ratios) and max(ratios) <= 1.5 and np.std(ratios) > 0.2
    with pytest.raises(ValueError, match="hue"):
        T.ColorJitter(hue=0.6)
    f = A(T.ColorJitter(0.3, 0.3, 0.3, 0.2)(a.astype(np.float32) / 255, seed=4))
    assert f.dtype == np.float32 and f.min() >= 0 and f.max() <= 1


# ---------------------------------------------------------------- batch

def test_decode_batch():
    imgs = [photo(40, 50, seed=i) for i in range(6)]
    data = [jpeg(x) for x in imgs]
    out = ts.image.decode_batch(data, num_threads=2)
    assert out.shape == (6, 40, 50, 3)
    for i, b in enumerate(data):
        np.testing.assert_array_equal(A(out)[i], A(ts.image.decode(b)))
    mixed = ts.image.decode_batch(data[:2] + [png(noise(7, 9))])
    assert isinstance(mixed, list) and mixed[2].shape == (7, 9, 3)
    aug = T.Compose([T.RandomResizedCrop(16), T.RandomHorizontalFlip()])
    one = ts.image.decode_batch(data, transform=aug, num_threads=1, seed=3)
    two = ts.image.decode_batch(data, transform=aug, num_threads=2, seed=3)
    assert one.shape == (6, 16, 16, 3)
    np.testing.assert_array_equal(A(one), A(two))
    g = ts.image.decode_batch(data, "gray", T.Resize((8, 8)))
    assert g.shape == (6, 8, 8, 1)
    with pytest.raises(ValueError, match=r"\[image.decode_batch\] item 2: .*truncated JPEG"):
        ts.image.decode_batch(data[:2] + [data[2][:100]] + data[3:])
    assert ts.image.decode_batch([]) == []


def test_read_batch(tmp_path):
    paths = []
    for i in range(5):
        p = tmp_path / f"{i}.png"
        ts.image.write(p, noise(6, 8, seed=i))
        paths.append(p)
    out = ts.image.read_batch(paths, num_threads=2)
    assert out.shape == (5, 6, 8, 3)
    np.testing.assert_array_equal(A(out)[3], noise(6, 8, seed=3))
    with pytest.raises(FileNotFoundError, match=r"item 2: .*missing.png"):
        ts.image.read_batch(paths[:2] + [tmp_path / "missing.png"])


def test_decompression_bombs_are_refused_before_decoding():
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    # A 70-byte PNG that declares 100000 x 100000 RGB pixels (30 GB decoded).
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))
    assert ts.image.info(png)["width"] == 100000
    with pytest.raises(ValueError, match=r"\[image.decode\] png image of 100000 x 100000 = 10000000000 pixels "
                                         r"exceeds the limit of 178956970"):
        ts.image.decode(png)
    old = ts.image.max_pixels()
    try:
        ts.image.set_max_pixels(10)
        with pytest.raises(ValueError, match="exceeds the limit of 10"):
            ts.image.decode(ts.image.encode(np.zeros((4, 4, 3), np.uint8), "png"))
        with pytest.raises(ValueError, match="set_max_pixels"):
            ts.image.set_max_pixels(-1)
    finally:
        ts.image.set_max_pixels(old)
    assert ts.image.max_pixels() == old


def test_a_bare_tiff_header_is_an_error_not_a_recursion():
    # Found by fuzz_image: info() decodes TIFFs (no header parser) and decode() read the header through info().
    for fn in (ts.image.decode, ts.image.info):
        with pytest.raises(ValueError, match=r"\[image\.(decode|info)\]"):
            fn(b"MM\x00*")
