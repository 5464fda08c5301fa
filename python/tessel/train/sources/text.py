"""Text tables (data.kind: text): a WordPiece vocabulary from the training part, encoded by the C++ tokenizer."""
import json
import re
from collections import Counter

import tessel as ts

from .common import (DataError, _column, _encode_labels, _finish, _infer_task, _label_values, _np, read_table,
                     split_indices)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

_WORD = re.compile(r"\w+|[^\w\s]")


def build_tokenizer(texts, kind="word", vocab_size=5000, lowercase=True):
    """tokenizer.json (a dict) with a vocabulary of the training texts' most
    frequent words (or characters), WordPiece model and BERT normalizer/pre-tokenizer."""
    counts = Counter()
    for t in texts:
        t = t.lower() if lowercase else t
        if kind == "char":
            for w in _WORD.findall(t):
                counts[w[0]] += 1
                counts.update("##" + ch for ch in w[1:])
        else:
            counts.update(_WORD.findall(t))
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:max(0, vocab_size - len(SPECIALS))]
    vocab = {t: i for i, t in enumerate(SPECIALS + [w for w in words if w not in SPECIALS])}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False,
                              "rstrip": False, "normalized": False} for i, t in enumerate(SPECIALS)],
            "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                           "strip_accents": None, "lowercase": bool(lowercase)},
            "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": None,
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": 100, "vocab": vocab}}


_TOKENIZERS = {}


def tokenizer_from(pre):
    key = id(pre["tokenizer"])
    tok = _TOKENIZERS.get(key)
    if tok is None or tok[0] is not pre["tokenizer"]:
        tok = (pre["tokenizer"], ts.text.Tokenizer.from_str(json.dumps(pre["tokenizer"])))
        _TOKENIZERS[key] = tok
    return tok[1]


def encode_texts(texts, pre):
    """int64 [N, max_length] token ids (0 = [PAD]) through the C++ tokenizer."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"text item {i} is not a string: {t!r}")
    if not texts:
        return ts.zeros(0, pre["max_length"], dtype=ts.int64)
    b = tokenizer_from(pre).encode_batch(list(texts), padding="max_length", truncation=True,
                                         max_length=pre["max_length"])
    return b.input_ids


def load_text(cfg):
    """data.kind: text."""
    d = cfg["data"]
    path, val_path = d["path"], d["val_path"]
    rows = read_table(path, d["limit"], d["seed"])
    texts = [str(v) for v in _column(rows, d["text"], path, "text")]
    labels = _label_values(_column(rows, d["label"], path, "label"))
    tk = d["tokenizer"]
    if val_path:
        vrows = read_table(val_path)
        vtexts = [str(v) for v in _column(vrows, d["text"], val_path, "text")]
        vlabels = _label_values(_column(vrows, d["label"], val_path, "label"))
        fit_texts = texts
    else:
        # The vocabulary comes from the training part only (split first, same seed as _finish).
        task = _infer_task(d["task"], labels)
        y, _ = _encode_labels(labels, task) if task == "classification" else (None, None)
        tr, _va = split_indices(len(texts), d["val_split"], d["seed"], y)
        fit_texts = [texts[i] for i in tr]
        vtexts = vlabels = None
    pre = {"kind": "text", "max_length": tk["max_length"],
           "tokenizer": build_tokenizer(fit_texts, tk["kind"], tk["vocab_size"], tk["lowercase"])}
    x = _np(encode_texts(texts, pre))
    xv = None if vtexts is None else _np(encode_texts(vtexts, pre))
    return _finish(cfg, "text", x, labels, pre, xv, vlabels, sources=[path] + ([val_path] if val_path else []))
