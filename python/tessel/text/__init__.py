"""Text to tensors: UTF-8 and other encodings, Unicode normalization and case,
segmentation, and WordPiece / byte-level BPE tokenizers compatible with
Hugging Face ``tokenizers`` files (vocab.txt, vocab.json + merges.txt,
tokenizer.json). Conventions are in docs/text.md.
"""
from collections import namedtuple

from .. import _C

_t = _C._text

available = _t.available()

__all__ = [
    "available", "decode_utf8", "encode_utf8", "decode_utf8_batch", "encode_utf8_batch", "transcode",
    "decode", "encode", "normalize", "case_fold", "nfkc_casefold", "lower", "upper", "segment", "Segment",
    "Tokenizer", "BatchEncoding", "Encoding",
]

Encoding = _t.Encoding


def decode_utf8(data, errors="strict", replace_control_characters=False):
    """UTF-8 bytes (or str) -> int32 code points; errors: 'strict' | 'replace' | 'ignore'."""
    return _t.decode_utf8(data, errors, replace_control_characters)


def encode_utf8(code_points):
    """int32/int64 code points (tensor or list) -> UTF-8 bytes."""
    from .. import tensor, int64, Tensor
    if not isinstance(code_points, Tensor):
        code_points = tensor(list(code_points), dtype=int64)
    return _t.encode_utf8(code_points)


def decode_utf8_batch(inputs, errors="strict", replace_control_characters=False):
    """A list of UTF-8 strings -> ragged code points (values int32, row_splits int64)."""
    return _t.decode_utf8_batch(inputs, errors, replace_control_characters)


def encode_utf8_batch(values, row_splits):
    """Ragged code points -> a list of UTF-8 bytes."""
    return _t.encode_utf8_batch(values, row_splits)


def transcode(data, from_encoding, to_encoding, errors="strict"):
    """Bytes in one encoding -> bytes in another, through ICU converters."""
    return _t.transcode(data, from_encoding, to_encoding, errors)


def decode(data, encoding="utf-8", errors="strict"):
    """Bytes in `encoding` -> str (like bytes.decode, through ICU)."""
    return _t.transcode(data, encoding, "utf-8", errors).decode("utf-8")


def encode(text, encoding="utf-8", errors="strict"):
    """str -> bytes in `encoding` (like str.encode, through ICU)."""
    return _t.transcode(text, "utf-8", encoding, errors)


def normalize(text, form="NFC"):
    """Unicode normalization: 'NFC' | 'NFD' | 'NFKC' | 'NFKD' (as unicodedata.normalize)."""
    return _t.normalize(text, form)


def case_fold(text):
    """Full Unicode case folding (as str.casefold)."""
    return _t.case_fold(text)


def nfkc_casefold(text):
    """Unicode NFKC_Casefold (as tf.text.case_fold_utf8)."""
    return _t.nfkc_casefold(text)


def lower(text, locale=""):
    """Full lowercase mapping; locale-sensitive for tr, az, lt (e.g. locale='tr')."""
    return _t.lower(text, locale)


def upper(text, locale=""):
    """Full uppercase mapping (ß -> SS); locale-sensitive for tr, az, lt, el."""
    return _t.upper(text, locale)


Segment = namedtuple("Segment", "text start end byte_start byte_end rule_status")
Segment.__doc__ = "A segment of a text; start/end in code points, byte_start/byte_end in UTF-8 bytes."


def segment(text, unit="word", locale="en", words_only=False):
    """Split `text` into graphemes, words, sentences or line-break opportunities (ICU BreakIterator)."""
    segs = _t.segment(text, unit, locale, words_only)
    if isinstance(text, str):
        return [Segment(text[s:e], s, e, bs, be, st) for s, e, bs, be, st in segs]
    return [Segment(bytes(text[bs:be]).decode("utf-8"), s, e, bs, be, st) for s, e, bs, be, st in segs]


class BatchEncoding(dict):
    """Tensors of a batch: input_ids, attention_mask (1 = real token), token_type_ids,
    special_tokens_mask, word_ids (-1 = none) [B, L]; offsets and byte_offsets [B, L, 2];
    values/row_splits: the unpadded ids as a ragged tensor.

    A dict (b["input_ids"], keys(), items(), **b) whose keys are also attributes.
    b.values is b["values"], the ragged ids (docs/text.md), not dict.values:
    use b.items() or dict.values(b) for the mapping's values."""

    @property
    def values(self):
        # A property, so the key wins over dict.values (found on the class before __getattr__).
        if "values" in self:
            return self["values"]
        return dict.values.__get__(self)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _padding_arg(padding):
    if padding is None:
        return None  # the tokenizer's own setting (tokenizer.json's padding section), else 'longest'
    if padding is True or padding == "longest":
        return "longest"
    if padding is False or padding == "do_not_pad":
        return "do_not_pad"
    if padding == "max_length":
        return "max_length"
    raise ValueError(f"[text.encode_batch] padding must be True, False, 'longest' or 'max_length', got {padding!r}")


def _truncation_arg(truncation):
    if truncation is None:
        return None  # the tokenizer's own setting (tokenizer.json's truncation section)
    if truncation is True:
        return "longest_first"
    if truncation is False:
        return "do_not_truncate"
    return truncation


def _ids_list(ids):
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    return list(ids)


class Tokenizer:
    """A WordPiece or byte-level BPE tokenizer (normalizer -> pre-tokenizer -> model ->
    post-processor, as Hugging Face tokenizers), running in C++ threads."""

    def __init__(self, impl):
        self._impl = impl

    @classmethod
    def from_file(cls, path):
        """A Hugging Face tokenizer.json."""
        return cls(_t.Tokenizer.from_file(str(path)))

    @classmethod
    def from_str(cls, json):
        return cls(_t.Tokenizer.from_str(json))

    @classmethod
    def from_wordpiece_vocab(cls, path, lowercase=True, unk_token="[UNK]", max_input_chars_per_word=100):
        """A BERT vocab.txt, set up as Hugging Face's BertWordPieceTokenizer."""
        return cls(_t.Tokenizer.from_wordpiece_vocab(str(path), lowercase, unk_token, max_input_chars_per_word))

    @classmethod
    def from_bpe_files(cls, vocab, merges, add_prefix_space=False):
        """GPT-2/RoBERTa vocab.json + merges.txt, as Hugging Face's ByteLevelBPETokenizer."""
        return cls(_t.Tokenizer.from_bpe_files(str(vocab), str(merges), add_prefix_space))

    def encode(self, text, text_pair=None, add_special_tokens=True, truncation=None, max_length=None):
        """One text (and optional pair) -> Encoding (ids, type_ids, attention_mask,
        special_tokens_mask, offsets in chars, byte_offsets, word_ids, tokens)."""
        return self._impl.encode(text, text_pair, add_special_tokens, _truncation_arg(truncation), max_length)

    def encode_batch(self, texts, pairs=None, add_special_tokens=True, padding=None, truncation=None,
                     max_length=None, pad_to_multiple_of=None, padding_side=None, truncation_side=None,
                     pad_id=None, num_threads=0):
        """A list of texts -> BatchEncoding of int64 tensors, encoded on num_threads C++ threads (0 = all).
        padding, truncation and the sides left as None keep tokenizer.json's settings (its "direction"
        included); without a padding section the batch is padded to its longest sequence."""
        d = self._impl.encode_batch(texts, pairs, add_special_tokens, _truncation_arg(truncation), max_length,
                                    _padding_arg(padding), pad_to_multiple_of, padding_side, pad_id,
                                    truncation_side, num_threads)
        return BatchEncoding(d)

    def __call__(self, text, text_pair=None, add_special_tokens=True, padding=False, truncation=False,
                 max_length=None, pad_to_multiple_of=None, padding_side=None, return_tensors="ts",
                 num_threads=0):
        """The transformers-style entry point: a str or list of str -> BatchEncoding.
        padding_side=None keeps tokenizer.json's padding direction (as transformers does)."""
        if return_tensors not in ("ts", "pt", "np", None):
            raise ValueError(f"return_tensors must be 'ts', 'np' or None, got {return_tensors!r}")
        if isinstance(text, (str, bytes)):
            text = [text]
            text_pair = None if text_pair is None else [text_pair]
        out = self.encode_batch(text, text_pair, add_special_tokens, padding, truncation, max_length,
                                pad_to_multiple_of, padding_side, num_threads=num_threads)
        if return_tensors == "np":
            for k, v in list(out.items()):
                if v is not None:
                    out[k] = v.numpy()
        return out

    def decode(self, ids, skip_special_tokens=True):
        return self._impl.decode(_ids_list(ids), skip_special_tokens)

    def decode_batch(self, sequences, skip_special_tokens=True):
        return [self.decode(s, skip_special_tokens) for s in sequences]

    def token_to_id(self, token):
        return self._impl.token_to_id(token)

    def id_to_token(self, id):
        return self._impl.id_to_token(id)

    @property
    def vocab_size(self):
        return self._impl.vocab_size

    def num_special_tokens_to_add(self, pair=False):
        return self._impl.num_special_tokens_to_add(pair)

    def __repr__(self):
        return f"Tokenizer(vocab_size={self.vocab_size})"


class Tokenize(_C._text.Tokenize):
    """A data-loader transform: a text file's UTF-8 bytes (FileDataset(..., decode="text"))
    -> int64 [2, max_length], row 0 the input ids, row 1 the attention mask (1 = token),
    truncated and padded to max_length. Runs on the loader's C++ threads."""

    def __init__(self, tokenizer, max_length, add_special_tokens=True):
        self.tokenizer = tokenizer
        _C._text.Tokenize.__init__(self, tokenizer._impl, int(max_length), add_special_tokens)


__all__.append("Tokenize")
