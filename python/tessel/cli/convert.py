"""`tessel convert SRC OUT`: a folder of images or audio (one subfolder per
class) or a CSV/JSONL text file into tensor shards (ts.data.ShardDataset),
converted by tessel's own decoders: ts.image read/resize, ts.audio
load/resample/log-mel, ts.text tokenizers."""
import csv
import json
import os

import click

from ._base import emit_json, json_option, log

TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")


def _guess_kind(src):
    from ..data.folder import AUDIO_EXTENSIONS, IMG_EXTENSIONS
    if os.path.isfile(src):
        if src.lower().endswith(TEXT_SUFFIXES):
            return "text"
        raise click.UsageError(f"cannot tell the kind of '{src}': pass --kind (text files end in "
                               f"{', '.join(TEXT_SUFFIXES)})")
    counts = {"image": 0, "audio": 0}
    for _, _, files in os.walk(src, followlinks=True):
        for f in files:
            low = f.lower()
            counts["image"] += low.endswith(IMG_EXTENSIONS)
            counts["audio"] += low.endswith(AUDIO_EXTENSIONS)
    if not any(counts.values()):
        raise click.UsageError(f"'{src}' holds no image or audio file: pass --kind")
    return max(counts, key=counts.get)


def _size(value):
    if value is None:
        return None
    try:
        parts = [int(p) for p in value.lower().replace(",", "x").split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise click.BadParameter(f"expected H or HxW with positive ints, got {value!r}", param_hint="--size")
    return tuple(parts)


# ----- the samples of each kind: (source name, callable giving the tensors) ----------------------------------

def _image_samples(src, opts):
    import tessel as ts
    from ..data.folder import IMG_EXTENSIONS, find_classes, make_dataset
    classes, class_to_idx = find_classes(src)
    files = make_dataset(src, class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
    if not files:
        raise FileNotFoundError(f"no image file ({', '.join(IMG_EXTENSIONS)}) under the class folders of '{src}'")
    size, mode, layout = opts["size"], opts["mode"], opts["layout"]

    def convert(path, label):
        img = ts.image.read(path, mode)
        if size is not None and (img.shape[0], img.shape[1]) != size:
            img = ts.image.resize(img, size, interpolation=opts["interpolation"], antialias=True, layout="hwc")
        if layout == "chw":
            img = img.permute(2, 0, 1).contiguous()
        return img, ts.tensor(label, dtype=ts.int64)

    fields = ["image", "label"]
    return fields, classes, [(p, (lambda p=p, k=k: convert(p, k))) for p, k in files]


def _audio_samples(src, opts):
    import tessel as ts
    from ..data.folder import AUDIO_EXTENSIONS, find_classes, make_dataset
    classes, class_to_idx = find_classes(src)
    files = make_dataset(src, class_to_idx, extensions=AUDIO_EXTENSIONS, allow_empty=True)
    if not files:
        raise FileNotFoundError(f"no audio file ({', '.join(AUDIO_EXTENSIONS)}) under the class folders of '{src}'")
    rate, duration, features = opts["sample_rate"], opts["duration"], opts["features"]

    def convert(path, label):
        wav, sr = ts.audio.load(path, mono=opts["mono"])
        if rate is not None and sr != rate:
            wav = ts.audio.resample(wav, sr, rate)
            sr = rate
        if duration is not None:
            n = int(round(duration * sr))
            if wav.shape[-1] >= n:
                wav = wav[..., :n].contiguous()
            else:
                wav = ts.nn.functional.pad(wav, (0, n - wav.shape[-1]))
        if features == "log-mel":
            mel = ts.audio.mel_spectrogram(wav, sample_rate=sr, n_mels=opts["n_mels"], n_fft=opts["n_fft"],
                                           hop_length=opts["hop_length"])
            wav = ts.audio.power_to_db(mel)
        return wav.contiguous(), ts.tensor(label, dtype=ts.int64)

    fields = ["audio" if features == "waveform" else "log_mel", "label"]
    return fields, classes, [(p, (lambda p=p, k=k: convert(p, k))) for p, k in files]


def _read_rows(src, text_column, label_column):
    """[(where, text, label)] of a CSV/TSV/JSONL file; a bad row raises ValueError naming file:line."""
    rows = []
    low = src.lower()
    with open(src, encoding="utf-8", newline="") as f:
        if low.endswith((".jsonl", ".ndjson")):
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = f"{src}:{n}"
                try:
                    obj = json.loads(line)
                except ValueError as e:
                    raise ValueError(f"{where}: not valid JSON ({e})") from None
                if not isinstance(obj, dict):
                    raise ValueError(f"{where}: expected a JSON object per line")
                rows.append((where, obj.get(text_column, _MISSING), obj.get(label_column, _MISSING)))
        else:
            reader = csv.DictReader(f, delimiter="\t" if low.endswith(".tsv") else ",")
            if reader.fieldnames is None:
                raise ValueError(f"{src}: empty file")
            for col in (text_column, label_column):
                if col not in reader.fieldnames:
                    raise ValueError(f"{src}: no column {col!r} (columns: {', '.join(reader.fieldnames)})")
            for row in reader:
                rows.append((f"{src}:{reader.line_num}", row.get(text_column), row.get(label_column)))
    return rows


_MISSING = object()


def _text_samples(src, opts):
    import tessel as ts
    if not os.path.isfile(src):
        raise FileNotFoundError(f"text conversion reads a CSV, TSV or JSONL file; '{src}' is not a file")
    rows = _read_rows(src, opts["text_column"], opts["label_column"])
    if not rows:
        raise ValueError(f"{src}: no rows")
    labels = [r[2] for r in rows if r[2] is not _MISSING and r[2] is not None and r[2] != ""]
    # Integer labels keep their numeric order (2 before 10); others sort as strings.
    numeric = bool(labels) and all(isinstance(v, int) or (isinstance(v, str) and v.strip().lstrip("-").isdigit())
                                   for v in labels)
    if numeric:
        classes = [str(v) for v in sorted({int(v) for v in labels})]
    else:
        classes = sorted({str(v) for v in labels})
    class_to_idx = {c: i for i, c in enumerate(classes)}
    max_length = opts["max_length"]
    tok = None
    if opts["tokenizer"]:
        tok = ts.text.Tokenizer.from_file(opts["tokenizer"])
    elif opts["vocab"]:
        tok = ts.text.Tokenizer.from_wordpiece_vocab(opts["vocab"], lowercase=opts["lowercase"])

    def convert(where, text, label):
        if text is _MISSING or text is None:
            raise ValueError(f"{where}: no {opts['text_column']!r} value")
        if label is _MISSING or label is None or label == "":
            raise ValueError(f"{where}: no {opts['label_column']!r} value")
        if not isinstance(text, str):
            raise ValueError(f"{where}: {opts['text_column']!r} must be a string, got {type(text).__name__}")
        key = str(int(label)) if numeric else str(label)
        if tok is not None:
            enc = tok.encode_batch([text], padding="max_length", truncation=True, max_length=max_length)
            ids, mask = enc["input_ids"][0], enc["attention_mask"][0]
        else:
            # No tokenizer: Unicode code points (a character-level vocabulary), 0 for padding.
            cps = ts.text.decode_utf8(text.encode("utf-8"))[:max_length].to(ts.int64)
            pad = max_length - cps.shape[0]
            ids = ts.nn.functional.pad(cps, (0, pad))
            mask = ts.nn.functional.pad(ts.ones(cps.shape[0], dtype=ts.int64), (0, pad))
        return ids.to(ts.int64).contiguous(), mask.to(ts.int64).contiguous(), \
            ts.tensor(class_to_idx[key], dtype=ts.int64)

    fields = ["input_ids", "attention_mask", "label"]
    return fields, classes, [(w, (lambda w=w, t=t, lab=lab: convert(w, t, lab))) for w, t, lab in rows]


@click.command("convert")
@click.argument("src", type=click.Path(exists=True))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--kind", type=click.Choice(["image", "audio", "text"]),
              help="What SRC holds (default: from its files).")
@click.option("--shard-size", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Samples per shard file.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="A file or row that cannot be converted stops the conversion (raise) or is left out and listed "
                   "in the index (skip).")
@click.option("--overwrite", is_flag=True, help="Replace a dataset already in OUT.")
@click.option("--size", metavar="H[xW]", help="image: resize every image to this size.")
@click.option("--mode", type=click.Choice(["rgb", "gray"]), default="rgb", show_default=True, help="image: channels.")
@click.option("--layout", type=click.Choice(["chw", "hwc"]), default="chw", show_default=True,
              help="image: tensor layout (uint8).")
@click.option("--interpolation", type=click.Choice(["bilinear", "bicubic", "nearest", "area", "lanczos"]),
              default="bilinear", show_default=True, help="image: resize filter (antialiased, as Pillow's).")
@click.option("--sample-rate", type=click.IntRange(min=1), help="audio: resample to this rate (Hz).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True),
              help="audio: cut or zero-pad every clip to this many seconds.")
@click.option("--mono/--keep-channels", default=True, show_default=True, help="audio: average the channels.")
@click.option("--features", type=click.Choice(["waveform", "log-mel"]), default="waveform", show_default=True,
              help="audio: store the waveform or a log-mel spectrogram (dB).")
@click.option("--n-mels", type=click.IntRange(min=1), default=64, show_default=True, help="audio log-mel: bands.")
@click.option("--n-fft", type=click.IntRange(min=2), default=400, show_default=True, help="audio log-mel: FFT size.")
@click.option("--hop-length", type=click.IntRange(min=1), default=160, show_default=True,
              help="audio log-mel: hop in samples.")
@click.option("--text-column", default="text", show_default=True, help="text: the column (or JSON key) of the text.")
@click.option("--label-column", default="label", show_default=True, help="text: the column of the label.")
@click.option("--tokenizer", type=click.Path(exists=True, dir_okay=False),
              help="text: a Hugging Face tokenizer.json (default: Unicode code points).")
@click.option("--vocab", type=click.Path(exists=True, dir_okay=False), help="text: a WordPiece vocab.txt.")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True, help="text --vocab: lowercase first.")
@click.option("--max-length", type=click.IntRange(min=1), default=128, show_default=True,
              help="text: tokens per sample (truncated and padded).")
@json_option
def convert(src, out, kind, shard_size, on_error, overwrite, size, mode, layout, interpolation, sample_rate, duration,
            mono, features, n_mels, n_fft, hop_length, text_column, label_column, tokenizer, vocab, lowercase,
            max_length, as_json):
    """Convert SRC (a folder with one subfolder per class of images or audio
    files, or a CSV/TSV/JSONL text file with a label column) into tensor
    shards in OUT: safetensors files and an index.json (written last) that
    ts.data.ShardDataset(OUT) streams.

    \b
      tessel convert photos/ shards/ --size 64 --shard-size 2048
      tessel convert speech/ shards/ --sample-rate 16000 --duration 1 --features log-mel
      tessel convert reviews.csv shards/ --tokenizer tokenizer.json --max-length 256
    """
    from ..data.shards import ShardWriter
    from ..utils.progress import Progress
    if tokenizer and vocab:
        raise click.UsageError("pass --tokenizer or --vocab, not both")
    kind = kind or _guess_kind(src)
    opts = {"size": _size(size), "mode": mode, "layout": layout, "interpolation": interpolation,
            "sample_rate": sample_rate, "duration": duration, "mono": mono, "features": features, "n_mels": n_mels,
            "n_fft": n_fft, "hop_length": hop_length, "text_column": text_column, "label_column": label_column,
            "tokenizer": tokenizer, "vocab": vocab, "lowercase": lowercase, "max_length": max_length}
    fields, classes, samples = {"image": _image_samples, "audio": _audio_samples, "text": _text_samples}[kind](src,
                                                                                                               opts)
    used = {"image": ("size", "mode", "layout", "interpolation"),
            "audio": ("sample_rate", "duration", "mono", "features") + (("n_mels", "n_fft", "hop_length")
                                                                         if features == "log-mel" else ()),
            "text": ("text_column", "label_column", "tokenizer", "vocab", "lowercase", "max_length")}[kind]
    meta = {"source": os.path.abspath(src), "options": {k: opts[k] for k in used}}
    skipped = []
    writer = ShardWriter(out, fields, shard_size=shard_size, kind=kind, classes=classes, metadata=meta,
                         overwrite=overwrite)
    unit = "row" if kind == "text" else "file"
    with writer, Progress(samples, desc=f"convert {kind}", unit=unit) as bar:
        for where, make in bar:
            try:
                tensors = make()
                writer.add(tensors, source=where)
            except (ValueError, OSError, RuntimeError, TypeError) as e:
                message = str(e)
                if where not in message:
                    message = f"{where}: {message}"
                if on_error == "raise":
                    raise click.ClickException(f"{message} (nothing written: --on-error skip leaves such files "
                                               "out)") from None
                skipped.append({"source": where, "error": message})
                log(f"skipped {message}")
        if skipped:
            writer.metadata["skipped"] = skipped
        if writer.count + len(writer._pending) == 0:
            raise click.ClickException(f"no sample of '{src}' could be converted ({len(skipped)} skipped)")
    index = writer.index()
    log(f"wrote {index['count']} samples in {len(index['shards'])} shards to {out}"
        + (f" ({len(skipped)} skipped)" if skipped else ""))
    if as_json:
        emit_json(index)
