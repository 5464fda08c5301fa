"""Seed corpora for the fuzz targets: small valid files of every format each
decoder reads (scripts/fuzz.sh). Usage: make_corpus.py OUT_DIR"""
import io
import os
import sys

import numpy as np


def audio(out):
    import soundfile as sf
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(np.arange(800) / 5)[:, None] + 0.01 * rng.standard_normal((800, 2))).astype(np.float32)
    for fmt, sub, ch in [("WAV", "PCM_16", 1), ("WAV", "PCM_24", 2), ("WAV", "FLOAT", 2), ("WAV", "PCM_U8", 1),
                         ("FLAC", "PCM_16", 2), ("OGG", "VORBIS", 1), ("AIFF", "PCM_16", 1)]:
        b = io.BytesIO()
        sf.write(b, x[:, :ch], 8000, format=fmt, subtype=sub)
        open(os.path.join(out, f"{fmt}_{sub}_{ch}"), "wb").write(b.getvalue())


def image(out):
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (9, 7, 3), dtype=np.uint8)
    for name, img, fmt in [("png_rgb", Image.fromarray(rgb), "PNG"), ("png_rgba", Image.fromarray(rgb).convert("RGBA"), "PNG"),
                           ("png_gray", Image.fromarray(rgb[..., 0]), "PNG"),
                           ("png16", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG"),
                           ("jpeg", Image.fromarray(rgb), "JPEG"), ("bmp", Image.fromarray(rgb), "BMP"),
                           ("webp", Image.fromarray(rgb), "WEBP")]:
        b = io.BytesIO()
        img.save(b, format=fmt)
        open(os.path.join(out, name), "wb").write(b.getvalue())


def text(out):
    seeds = ["hello world", "Grüße, naïve café", "日本語のテキスト", "ภาษาไทย", "مرحبا", "👩‍👩‍👧 🇯🇵",
             "[CLS] un ##aff ##able [SEP]", '{"model": {"type": "WordPiece", "vocab": {"a": 0}}}',
             "\xff\xfe invalid", "a\u0301e\u0308"]
    for i, s in enumerate(seeds):
        open(os.path.join(out, f"text_{i}"), "wb").write(s.encode("utf-8", "surrogateescape"))


if __name__ == "__main__":
    root = sys.argv[1]
    for kind, fn in [("audio", audio), ("image", image), ("text", text)]:
        os.makedirs(os.path.join(root, kind), exist_ok=True)
        fn(os.path.join(root, kind))
    print(f"[fuzz] seed corpora in {root}")
