"""ts.text against Python's codecs/unicodedata/str and Hugging Face `tokenizers`.

Vocabularies are trained inside the tests with `tokenizers` trainers and saved
to tmp_path: nothing is downloaded. Test text sticks to characters of Unicode
<= 9 where HF's Rust category tables and ICU 72 (Unicode 15) agree.
"""
import codecs
import random
import unicodedata

import pytest

import tessel as ts

tt = ts.text
pytestmark = pytest.mark.skipif(not tt.available, reason="tessel built without ICU (TESSEL_WITH_ICU=OFF)")

BASE = [
    "Hello, world! This is a test.",
    "The quick brown fox jumps over the lazy dog.",
    "unaffable playing played don't can't I'm we're they've",
    "Café naïve résumé façade coöperate",
    "e\u0301 a\u0300 o\u0308 n\u0303 combining marks",
    "Ångström Øre ß straße İstanbul ΣΑΣ Ὀδυσσεύς",
    "emoji 😀 😂 👍 ❤️ 👨‍👩‍👧 🇫🇷 👋🏽 done",
    "日本語のテキストです。カタカナ",
    "中文分词测试，你好世界！",
    "한국어 텍스트 안녕하세요",
    "ภาษาไทยสวัสดีครับ",
    "العربية مَرْحَبًا بِكُمْ",
    "עִבְרִית שָׁלוֹם עֲלֵיכֶם",
    "Mixed: hello世界مرحبا שלום 123 Привет",
    "control\x00chars\x01\x02\x7f here\t\ttab\nnewline\r\n end",
    "zero\u200dwidth\u200bspace\ufeffbom",
    "non\u00a0breaking\u3000ideographic\u2003em space",
    "numbers 3.14 1,000 ½ ² ① 2024-01-01",
    "punctuation !?¿¡…—–«»“”‘’ $5 €3 ^~`|<>=+ #@%&*()[]{}",
    "a" * 150,
    "x" + "é" * 120,
    "",
    "   ",
    "\n\t ",
    "URL https://example.com/a?b=c&d=e #tag @user",
    "UPPER lower MiXeD CamelCase",
    "fullwidth ＡＢＣ １２３",
    "Ünïcödé ẞ ﬁ ﬂ ligatures",
    "\ufffd replacement char",
    "Ω∑∆ 𝔘𝔫𝔦 rare symbols ♞ ☃",
]


def _corpus(n, seed=0):
    rng = random.Random(seed)
    words = " ".join(BASE).split()
    out = list(BASE)
    for _ in range(n):
        k = rng.randint(0, 25)
        sep = rng.choice([" ", " ", " ", "  ", "\n", ", ", ". "])
        out.append(sep.join(rng.choice(words) for _ in range(k)))
    return out


TEXTS = _corpus(200, seed=1)


# ---------------------------------------------------------------- encodings

def test_decode_encode_utf8_round_trip():
    for s in BASE:
        cps = tt.decode_utf8(s.encode())
        assert cps.dtype == ts.int32
        assert cps.tolist() == [ord(c) for c in s]
        assert tt.encode_utf8(cps) == s.encode()
        assert tt.encode_utf8([ord(c) for c in s]) == s.encode()


BAD_UTF8 = [b"\x80", b"ab\xffcd", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
            b"\xe0\x80\xaf", b"\xf0\x9f\x98", b"ok\xf0\x9f\x98\x80\xf0", b"\xfe\xff", b"a\xe2\x28\xa1b"]


@pytest.mark.parametrize("data", BAD_UTF8)
def test_decode_utf8_errors_match_python(data):
    for errors in ("replace", "ignore"):
        want = [ord(c) for c in data.decode("utf-8", errors)]
        assert tt.decode_utf8(data, errors).tolist() == want, errors
    with pytest.raises(UnicodeDecodeError) as py_err:
        data.decode("utf-8")
    with pytest.raises(ValueError, match=rf"\[text.decode_utf8\] invalid UTF-8 at byte {py_err.value.start}$"):
        tt.decode_utf8(data)


def test_decode_utf8_random_bytes_match_python():
    rng = random.Random(0)
    for _ in range(300):
        data = bytes(rng.choice([0x41, 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0xed, 0xa0, 0xff])
                     for _ in range(rng.randint(0, 12)))
        assert tt.decode_utf8(data, "replace").tolist() == [ord(c) for c in data.decode("utf-8", "replace")]


def test_decode_utf8_replace_control_characters():
    out = tt.decode_utf8(b"a\x00b\x1fc\x7f", "strict", replace_control_characters=True).tolist()
    assert out == [ord("a"), 0xFFFD, ord("b"), 0xFFFD, ord("c"), 0x7F]


def test_encode_utf8_rejects_invalid_code_points():
    with pytest.raises(ValueError, match=r"\[text.encode_utf8\] invalid code point 55296 at index 1"):
        tt.encode_utf8([65, 0xD800])
    with pytest.raises(ValueError, match="1114112"):
        tt.encode_utf8(ts.tensor([0x110000], dtype=ts.int32))
    with pytest.raises(ValueError, match="-1"):
        tt.encode_utf8([-1])


def test_utf8_batch_ragged():
    strs = ["héllo", "", "😀x"]
    values, splits = tt.decode_utf8_batch([s.encode() for s in strs])
    assert splits.tolist() == [0, 5, 5, 7]
    assert values.tolist() == [ord(c) for c in "".join(strs)]
    assert tt.encode_utf8_batch(values, splits) == [s.encode() for s in strs]
    with pytest.raises(ValueError, match=r"invalid UTF-8 at byte 1 \(row 1\)"):
        tt.decode_utf8_batch([b"ok", b"a\xff", b"\xff"])
    many = [("é" * (i % 7)).encode() for i in range(3000)]  # the parallel path
    values, splits = tt.decode_utf8_batch(many)
    assert splits.tolist() == [sum(i % 7 for i in range(k)) for k in range(3001)]
    with pytest.raises(ValueError, match="row_splits"):
        tt.encode_utf8_batch(values, ts.tensor([0, 3], dtype=ts.int64))


ENCODINGS = ["latin-1", "utf-16-le", "utf-16-be", "utf-32-le", "shift_jis", "gbk", "cp1252", "euc-kr", "koi8-r",
             "big5"]
SAMPLES = {"latin-1": "Café naïve ßÿ", "cp1252": "Café “quoted” €5 —", "shift_jis": "日本語のテキスト カタカナ",
           "gbk": "中文测试 你好", "euc-kr": "한국어 텍스트", "koi8-r": "Привет мир", "big5": "繁體中文"}


@pytest.mark.parametrize("enc", ENCODINGS)
def test_transcode_matches_python_codecs(enc):
    s = SAMPLES.get(enc, "Hello 😀 日本 é")
    assert tt.encode(s, enc) == s.encode(enc)
    assert tt.decode(s.encode(enc), enc) == s
    assert tt.transcode(s.encode(enc), enc, "utf-8") == s.encode()


def test_transcode_errors():
    s = "a日b"
    with pytest.raises(ValueError, match=r"\[text.transcode\] character 1 cannot be encoded in latin-1"):
        tt.encode(s, "latin-1")
    assert tt.encode(s, "latin-1", "replace") == s.encode("latin-1", "replace")
    assert tt.encode(s, "latin-1", "ignore") == s.encode("latin-1", "ignore")
    for bad in ("日本".encode("shift_jis")[:3], b"ab\x81\x20"):  # truncated; bad trail byte
        with pytest.raises(ValueError, match=r"\[text.transcode\] invalid shift_jis at byte 2$"):
            tt.decode(bad, "shift_jis")
    assert tt.decode(b"ab\xffcd", "utf-8", "ignore") == "abcd"
    assert tt.decode(b"ab\xffcd", "utf-8", "replace") == "ab\ufffdcd"
    with pytest.raises(ValueError, match="unknown encoding 'no-such-codec'"):
        tt.transcode(b"x", "no-such-codec", "utf-8")
    with pytest.raises(ValueError, match="errors must be"):
        tt.decode(b"x", "utf-8", "bogus")
    codecs.lookup("latin-1")  # the names above are Python's too


# ---------------------------------------------------------------- normalization

NORM_TEXT = ("Café e\u0301 ﬁ ﬂ ² ½ Ⅻ ＡＢＣ ｶﾀｶﾅ 가\u11a8 \u1100\u1161 Å Ω µ ſ ǅ "
             "o\u0308\u0323 q\u0307\u0323 ẛ\u0323 ΣΑΣ straße İ ŉ ﬃ")


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD"])
def test_normalize_matches_unicodedata(form):
    for s in [NORM_TEXT] + BASE:
        assert tt.normalize(s, form) == unicodedata.normalize(form, s)


def test_case_mapping_matches_python():
    for s in [NORM_TEXT] + BASE:
        assert tt.case_fold(s) == s.casefold()
        assert tt.lower(s) == s.lower()
        assert tt.upper(s) == s.upper()
    assert tt.lower("DİYARBAKIR", "tr") == "diyarbakır"
    assert tt.upper("istanbul", "tr") == "İSTANBUL"
    s = "ﬁ Straße ΣΑΣ Ⅻ ＡＢＣ"
    assert tt.nfkc_casefold(s) == unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())
    with pytest.raises(ValueError, match="form must be"):
        tt.normalize("x", "NFX")
    with pytest.raises(ValueError, match=r"\[text.normalize\] invalid UTF-8 at byte 1"):
        tt.normalize(b"a\xff", "NFC")


# ---------------------------------------------------------------- segmentation

def _check_cover(text, segs):
    pos = 0
    for g in segs:
        assert g.start == pos and g.end > g.start
        assert g.text == text[g.start:g.end]
        assert g.byte_start == len(text[:g.start].encode()) and g.byte_end == len(text[:g.end].encode())
        pos = g.end
    assert pos == len(text)


def test_graphemes():
    clusters = ["e\u0301", "👨‍👩‍👧", "🇫🇷", "🇩🇪", "\u1100\u1161\u11a8", "각", "👋🏽", "a", "\r\n", "ก\u0e34", "❤️"]
    text = "".join(clusters)
    segs = tt.segment(text, "grapheme")
    _check_cover(text, segs)
    assert [g.text for g in segs] == clusters


def test_words_sentences_lines():
    text = "Hello, world! It's 42.5 degrees. Mr. Smith isn't here?"
    for unit in ("grapheme", "word", "sentence", "line"):
        _check_cover(text, tt.segment(text, unit))
    words = [g.text for g in tt.segment(text, "word", words_only=True)]
    assert words == ["Hello", "world", "It's", "42.5", "degrees", "Mr", "Smith", "isn't", "here"]
    assert len(tt.segment("Hello there. How are you? Fine.", "sentence")) == 3
    thai = "ภาษาไทยสวัสดีครับ"
    tw = tt.segment(thai, "word", locale="th")
    _check_cover(thai, tw)
    assert len(tw) >= 3 and all(g.rule_status >= 100 for g in tw)
    zh = "我喜欢学习中文"
    zw = tt.segment(zh, "word", locale="zh")
    _check_cover(zh, zw)
    assert 2 <= len(zw) < len(zh)
    mixed = "日本語のテキスト😀 and ελληνικά"
    segs = tt.segment(mixed.encode(), "word")  # bytes in, same offsets
    _check_cover(mixed, segs)
    with pytest.raises(ValueError, match="unit must be"):
        tt.segment("x", "paragraph")
    with pytest.raises(ValueError, match=r"\[text.segment\] invalid UTF-8 at byte 0"):
        tt.segment(b"\xff", "word")
    with pytest.raises(ValueError, match="words_only"):
        tt.segment("x", "sentence", words_only=True)


# ---------------------------------------------------------------- tokenizers

tokenizers = pytest.importorskip("tokenizers", reason="HF `tokenizers` is not installed: conformance tests skipped")
from tokenizers import (AddedToken, BertWordPieceTokenizer, ByteLevelBPETokenizer, Tokenizer, decoders,  # noqa: E402
                        models, normalizers, pre_tokenizers, processors, trainers)


def _compare(hf_enc, ts_enc, text, what):
    assert ts_enc.ids == hf_enc.ids, (what, repr(text), hf_enc.tokens, ts_enc.tokens)
    assert ts_enc.tokens == hf_enc.tokens, (what, repr(text))
    assert ts_enc.type_ids == hf_enc.type_ids, (what, repr(text))
    assert ts_enc.attention_mask == hf_enc.attention_mask, (what, repr(text))
    assert ts_enc.special_tokens_mask == hf_enc.special_tokens_mask, (what, repr(text))
    assert ts_enc.offsets == [tuple(o) for o in hf_enc.offsets], (what, repr(text), hf_enc.tokens)
    assert ts_enc.word_ids == hf_enc.word_ids, (what, repr(text))


def _check_byte_offsets(enc, text, pair=None):
    for (s, e), (bs, be), seq in zip(enc.offsets, enc.byte_offsets, enc.sequence_ids):
        src = pair if seq == 1 else text
        assert (bs, be) == (len(src[:s].encode()), len(src[:e].encode()))


@pytest.fixture(scope="module")
def wordpiece(tmp_path_factory):
    d = tmp_path_factory.mktemp("wordpiece")
    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(_corpus(2000, seed=2), vocab_size=1500, min_frequency=1)
    trainer.save_model(str(d))
    vocab = d / "vocab.txt"
    hf = BertWordPieceTokenizer(str(vocab), lowercase=True)
    hf.save(str(d / "tokenizer.json"))
    hf_cased = BertWordPieceTokenizer(str(vocab), lowercase=False)
    hf_cased.save(str(d / "cased.json"))
    return d, hf, hf_cased


@pytest.fixture(scope="module")
def bytelevel(tmp_path_factory):
    d = tmp_path_factory.mktemp("bpe")
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(_corpus(2000, seed=3), vocab_size=1200, min_frequency=1,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    trainer.save_model(str(d))
    return d


def test_wordpiece_vocab_txt_matches_hf(wordpiece):
    d, hf, _ = wordpiece
    tok = tt.Tokenizer.from_wordpiece_vocab(d / "vocab.txt")
    assert tok.vocab_size == hf.get_vocab_size()
    for text in TEXTS:
        e = tok.encode(text)
        _compare(hf.encode(text), e, text, "single")
        _check_byte_offsets(e, text)
        ids = e.ids
        assert tok.decode(ids) == hf.decode(ids), repr(text)
        assert tok.decode(ids, skip_special_tokens=False) == hf.decode(ids, skip_special_tokens=False)
        assert tok.encode(text, add_special_tokens=False).ids == hf.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize("name", ["tokenizer.json", "cased.json"])
def test_wordpiece_tokenizer_json_matches_hf(wordpiece, name):
    d, hf, hf_cased = wordpiece
    ref = hf if name == "tokenizer.json" else hf_cased
    tok = tt.Tokenizer.from_file(d / name)
    rng = random.Random(4)
    for text in TEXTS:
        _compare(ref.encode(text), tok.encode(text), text, name)
        pair = rng.choice(TEXTS)
        e = tok.encode(text, pair)
        _compare(ref.encode(text, pair), e, (text, pair), "pair")
        _check_byte_offsets(e, text, pair)
    specials = "[CLS] hello [MASK] world [SEP][PAD]"
    _compare(ref.encode(specials), tok.encode(specials), specials, "added tokens")
    ids = ref.encode(specials).ids
    assert tok.decode(ids, False) == ref.decode(ids, False)


@pytest.mark.parametrize("add_prefix_space", [False, True])
def test_bytelevel_bpe_files_match_hf(bytelevel, add_prefix_space):
    d = bytelevel
    hf = ByteLevelBPETokenizer(str(d / "vocab.json"), str(d / "merges.txt"), add_prefix_space=add_prefix_space)
    tok = tt.Tokenizer.from_bpe_files(d / "vocab.json", d / "merges.txt", add_prefix_space=add_prefix_space)
    assert tok.vocab_size == hf.get_vocab_size()
    for text in TEXTS:
        e = tok.encode(text)
        _compare(hf.encode(text), e, text, "bpe")
        _check_byte_offsets(e, text)
        assert tok.decode(e.ids) == hf.decode(e.ids)
        assert tok.decode(e.ids) == (" " + text if add_prefix_space and text[:1] != " " and text else text)


@pytest.mark.parametrize("post", ["roberta", "bytelevel_trim", "template"])
def test_bytelevel_tokenizer_json_matches_hf(bytelevel, tmp_path, post):
    d = bytelevel
    hf = ByteLevelBPETokenizer(str(d / "vocab.json"), str(d / "merges.txt"), add_prefix_space=True,
                               trim_offsets=True)
    hf.add_special_tokens(["<s>", "</s>", "<pad>", "<mask>"])
    s, e = hf.token_to_id("<s>"), hf.token_to_id("</s>")
    if post == "roberta":
        hf.post_processor = processors.RobertaProcessing(("</s>", e), ("<s>", s))
    elif post == "template":
        hf.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1", special_tokens=[("<s>", s), ("</s>", e)])
    hf.save(str(tmp_path / "tok.json"))
    tok = tt.Tokenizer.from_file(tmp_path / "tok.json")
    rng = random.Random(5)
    for text in TEXTS + ["hello<s>world</s> <mask> x"]:
        _compare(hf.encode(text), tok.encode(text), text, post)
        pair = rng.choice(TEXTS)
        _compare(hf.encode(text, pair), tok.encode(text, pair), (text, pair), post + " pair")
        ids = hf.encode(text, pair).ids
        assert tok.decode(ids) == hf.decode(ids)
        assert tok.decode(ids, False) == hf.decode(ids, False)


def _pipeline(name):
    """Other tokenizer.json pipelines built with the `tokenizers` API and trained here."""
    corpus = _corpus(1000, seed=7)
    if name == "wordpiece_nfd_lowercase_stripaccents_whitespace":
        hf = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        hf.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()])
        hf.pre_tokenizer = pre_tokenizers.Whitespace()
        hf.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=800,
                                                                 special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]"]))
        cls, sep = hf.token_to_id("[CLS]"), hf.token_to_id("[SEP]")
        hf.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        hf.decoder = decoders.WordPiece()
    elif name == "bpe_nfkc_whitespacesplit_unk":
        hf = Tokenizer(models.BPE(unk_token="<unk>"))
        hf.normalizer = normalizers.NFKC()
        hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        hf.train_from_iterator(corpus[:300], trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>"]))
    elif name == "bytelevel_nfc_lowercase":
        hf = Tokenizer(models.BPE())
        hf.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        hf.decoder = decoders.ByteLevel()
        hf.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=900, special_tokens=["<|endoftext|>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        hf.post_processor = processors.ByteLevel(trim_offsets=False)
    else:  # cased BERT normalizer without CJK spacing, max 20 chars a word, [MASK] with lstrip/rstrip
        hf = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=20))
        hf.normalizer = normalizers.BertNormalizer(lowercase=False, handle_chinese_chars=False, strip_accents=True)
        hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        hf.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=900,
                                                                 special_tokens=["[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
        hf.add_special_tokens([AddedToken("[MASK]", lstrip=True, rstrip=True)])
        hf.post_processor = processors.BertProcessing(("[SEP]", hf.token_to_id("[SEP]")),
                                                      ("[CLS]", hf.token_to_id("[CLS]")))
        hf.decoder = decoders.WordPiece()
    return hf


@pytest.mark.parametrize("name", ["wordpiece_nfd_lowercase_stripaccents_whitespace", "bpe_nfkc_whitespacesplit_unk",
                                  "bytelevel_nfc_lowercase", "bert_cased_mask_lstrip"])
def test_other_pipelines_match_hf(tmp_path, name):
    hf = _pipeline(name)
    hf.save(str(tmp_path / "tok.json"))
    tok = tt.Tokenizer.from_file(tmp_path / "tok.json")
    rng = random.Random(8)
    for text in TEXTS + ["hello [MASK] world", "x  [MASK]  y", "[MASK]"]:
        pair = rng.choice(TEXTS)
        for args in [(text,), (text, pair)]:
            a, b = hf.encode(*args), tok.encode(*args)
            _compare(a, b, args, name)
            assert tok.decode(b.ids) == hf.decode(a.ids), args


def _random_text(rng):
    """Random code points over all planes, weighted to ASCII, spaces, controls, joiners and
    combining marks. Only chars assigned by Python's Unicode 14 (or in the private-use and
    tag planes): HF's regex engine knows Unicode 16, ICU 72 only 15."""
    def one():
        r = rng.random()
        if r < 0.3:
            return chr(rng.randint(0x20, 0x7E))
        if r < 0.5:
            return chr(rng.choice([0x20, 0x0A, 0x09, 0x300, 0x301, 0x200D, 0x200B, 0xFEFF, 0x3000, 0xA0, 0x85, 0,
                                   0x1F, 0x7F]))
        while True:
            c = rng.randint(0x80, 0x3000) if r < 0.8 else rng.randint(0x80, 0x10FFFF)
            if (c >= 0xE0000 or unicodedata.category(chr(c)) != "Cn") and not 0xD800 <= c <= 0xDFFF:
                return chr(c)
    return "".join(one() for _ in range(rng.randint(0, 40)))


def test_random_code_points_match_hf(wordpiece, bytelevel):
    d, hf_wp, _ = wordpiece
    wp = tt.Tokenizer.from_wordpiece_vocab(d / "vocab.txt")
    hf_bpe = ByteLevelBPETokenizer(str(bytelevel / "vocab.json"), str(bytelevel / "merges.txt"))
    bpe = tt.Tokenizer.from_bpe_files(bytelevel / "vocab.json", bytelevel / "merges.txt")
    rng = random.Random(0)
    for _ in range(1500):
        s = _random_text(rng)
        e = bpe.encode(s)
        _compare(hf_bpe.encode(s), e, s, "bpe")
        assert bpe.decode(e.ids) == s  # byte-level BPE round-trips any text
        _compare(hf_wp.encode(s, s[::-1]), wp.encode(s, s[::-1]), s, "wordpiece")


TRUNC_PAD = [
    dict(truncation="longest_first", max_length=16, padding="longest"),
    dict(truncation="longest_first", max_length=9, padding="max_length", pad_to_multiple_of=None),
    dict(truncation="only_first", max_length=40, padding="longest", pad_to_multiple_of=8),
    dict(truncation="only_second", max_length=40, padding="longest", padding_side="left"),
    dict(truncation=None, max_length=None, padding="longest", pad_to_multiple_of=16, padding_side="left"),
]


# only_second truncates the second sequence of pairs: it has no single-sequence case.
TRUNC_PAD_CASES = [pytest.param(cfg, pairs, id=f"{i}-{'pairs' if pairs else 'single'}")
                   for i, cfg in enumerate(TRUNC_PAD) for pairs in (False, True)
                   if pairs or cfg["truncation"] != "only_second"]


@pytest.mark.parametrize("cfg,pairs", TRUNC_PAD_CASES)
def test_batch_truncation_padding_match_hf(wordpiece, cfg, pairs):
    d, _, _ = wordpiece
    hf = BertWordPieceTokenizer(str(d / "vocab.txt"), lowercase=True)
    tok = tt.Tokenizer.from_file(d / "tokenizer.json")
    texts = [t for t in TEXTS if len(t) > 30][:40]
    others = list(reversed(texts)) if pairs else None
    if pairs and cfg["truncation"] == "only_first":
        others = [t[:12] for t in others]  # only the first may shrink: keep the second short
    if pairs and cfg["truncation"] == "only_second":
        texts = [t[:12] for t in texts]
    if cfg["truncation"]:
        hf.enable_truncation(cfg["max_length"], strategy=cfg["truncation"])
    side = cfg.get("padding_side", "right")
    hf.enable_padding(pad_id=hf.token_to_id("[PAD]"), pad_token="[PAD]", direction=side,
                      length=cfg["max_length"] if cfg["padding"] == "max_length" else None,
                      pad_to_multiple_of=cfg.get("pad_to_multiple_of"))
    ref = hf.encode_batch(list(zip(texts, others)) if pairs else texts)
    out = tok.encode_batch(texts, others, truncation=cfg["truncation"] or False, max_length=cfg["max_length"],
                           padding=cfg["padding"], pad_to_multiple_of=cfg.get("pad_to_multiple_of"),
                           padding_side=side)
    assert out.input_ids.tolist() == [e.ids for e in ref]
    assert out.attention_mask.tolist() == [e.attention_mask for e in ref]
    assert out.token_type_ids.tolist() == [e.type_ids for e in ref]
    assert out.special_tokens_mask.tolist() == [e.special_tokens_mask for e in ref]
    assert out.offsets.tolist() == [[list(o) for o in e.offsets] for e in ref]
    assert out.word_ids.tolist() == [[-1 if w is None else w for w in e.word_ids] for e in ref]
    assert out.input_ids.dtype == ts.int64 and out.offsets.shape == (len(texts), out.input_ids.shape[1], 2)
    lengths = [sum(e.attention_mask) for e in ref]
    assert out.row_splits.tolist()[1:] == [sum(lengths[:i + 1]) for i in range(len(lengths))]


def test_batch_threads_and_call(wordpiece):
    d, hf, _ = wordpiece
    tok = tt.Tokenizer.from_wordpiece_vocab(d / "vocab.txt")
    a = tok.encode_batch(TEXTS, num_threads=1)
    b = tok.encode_batch(TEXTS, num_threads=0)
    for k in ("input_ids", "attention_mask", "offsets", "byte_offsets", "values", "row_splits"):
        assert a[k].tolist() == b[k].tolist(), k
    assert a.input_ids.tolist() == [e.ids + [0] * (a.input_ids.shape[1] - len(e.ids)) for e in hf.encode_batch(TEXTS)]
    out = tok(["short", "a longer text here"], padding=True, truncation=True, max_length=4)
    n = len(tok.encode("short").ids)
    assert out.input_ids.shape == (2, 4) and sum(out.attention_mask.tolist()[0]) == min(n, 4)
    ragged = tok(["short", "a longer text here"])  # no padding: ragged only
    assert ragged.input_ids is None and ragged.row_splits.shape == (3,)
    assert tok.decode_batch([e.ids for e in hf.encode_batch(TEXTS[:3])]) == hf.decode_batch(
        [e.ids for e in hf.encode_batch(TEXTS[:3])])
    assert tok.token_to_id("[CLS]") == hf.token_to_id("[CLS]") and tok.token_to_id("no-such") is None
    assert tok.id_to_token(tok.token_to_id("[SEP]")) == "[SEP]"
    assert tok.num_special_tokens_to_add(True) == 3


# ---------------------------------------------------------------- bad input

def test_bad_vocab_files(tmp_path):
    p = tmp_path / "vocab.txt"
    p.write_bytes(b"[UNK]\nhello\n\nworld\n")
    with pytest.raises(ValueError, match=r"\[text.tokenizer\] .*vocab.txt: line 3: empty token"):
        tt.Tokenizer.from_wordpiece_vocab(p)
    p.write_bytes(b"[UNK]\nhel\xfflo\n")
    with pytest.raises(ValueError, match="line 2: invalid UTF-8"):
        tt.Tokenizer.from_wordpiece_vocab(p)
    p.write_bytes(b"hello\nworld\n")
    with pytest.raises(ValueError, match=r"unknown token '\[UNK\]' is not in the vocabulary"):
        tt.Tokenizer.from_wordpiece_vocab(p)
    with pytest.raises(FileNotFoundError):
        tt.Tokenizer.from_wordpiece_vocab(tmp_path / "missing.txt")
    v, m = tmp_path / "vocab.json", tmp_path / "merges.txt"
    v.write_text('{"a": 0, "b": 1, "ab": 2}')
    m.write_text("#version: 0.2\na b\nab c\n")
    with pytest.raises(ValueError, match=r"merges.txt: line 3: merge 'ab c' uses a token"):
        tt.Tokenizer.from_bpe_files(v, m)
    m.write_text("a b c\n")
    with pytest.raises(ValueError, match="line 1: a merge must be two tokens"):
        tt.Tokenizer.from_bpe_files(v, m)
    v.write_text('{"a": -1}')
    with pytest.raises(ValueError, match=r"vocab.json: vocabulary\['a'\] must be an integer"):
        tt.Tokenizer.from_bpe_files(v, m)
    v.write_text('{"a": 0,')
    with pytest.raises(ValueError, match="vocab.json: malformed JSON"):
        tt.Tokenizer.from_bpe_files(v, m)


def test_bad_tokenizer_json(wordpiece, tmp_path):
    import json
    d, _, _ = wordpiece
    doc = json.loads((d / "tokenizer.json").read_text())
    cases = [
        ("normalizer", {"type": "Replace", "pattern": "a", "content": "b"}, "unsupported normalizer type 'Replace'"),
        ("pre_tokenizer", {"type": "Metaspace"}, "unsupported pre_tokenizer type 'Metaspace'"),
        ("post_processor", {"type": "Whatever"}, "unsupported post_processor type 'Whatever'"),
        ("decoder", {"type": "Metaspace"}, "unsupported decoder type 'Metaspace'"),
        ("model", {"type": "Unigram", "vocab": {}}, "unsupported model type 'Unigram'"),
        ("model", {"type": "WordPiece", "vocab": {"a": 0}}, r"model.unk_token '\[UNK\]' is not in the vocabulary"),
        ("truncation", {"max_length": 5, "strategy": "Sideways"}, "unsupported truncation strategy"),
    ]
    for key, value, msg in cases:
        bad = dict(doc, **{key: value})
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=r"\[text.tokenizer\] .*bad.json: " + msg):
            tt.Tokenizer.from_file(p)
    with pytest.raises(ValueError, match="malformed JSON"):
        tt.Tokenizer.from_str('{"model": ')
    with pytest.raises(ValueError, match="no model"):
        tt.Tokenizer.from_str("{}")
    with pytest.raises(FileNotFoundError):
        tt.Tokenizer.from_file(tmp_path / "nope.json")


def test_bad_encode_decode_arguments(wordpiece):
    d, _, _ = wordpiece
    tok = tt.Tokenizer.from_file(d / "tokenizer.json")
    with pytest.raises(ValueError, match=r"\[text.decode\] id 99999 is not in the vocabulary"):
        tok.decode([1, 99999])
    with pytest.raises(ValueError, match=r"id -1 is not in the vocabulary"):
        tok.decode([-1])
    with pytest.raises(ValueError, match=r"\[text.encode\] invalid UTF-8 at byte 2"):
        tok.encode(b"ab\xff")
    with pytest.raises(ValueError, match="padding must be"):
        tok.encode_batch(["a"], padding="sideways")
    with pytest.raises(ValueError, match="too short"):
        tok.encode_batch(["a b c d e f"], ["x"], truncation="only_second", max_length=6)
    with pytest.raises(TypeError):
        tok.encode(3)
    with pytest.raises(ValueError, match="got 2 texts and 1 pairs"):
        tok.encode_batch(["a", "b"], ["c"])


def test_concurrent_python_threads(wordpiece):
    """One Tokenizer shared by Python threads (the GIL is released while C++ encodes)."""
    from concurrent.futures import ThreadPoolExecutor
    d, hf, _ = wordpiece
    tok = tt.Tokenizer.from_file(d / "tokenizer.json")
    want = tok.encode_batch(TEXTS, num_threads=1).input_ids.tolist()
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: tok.encode_batch(TEXTS, num_threads=2).input_ids.tolist(), range(8)))
    assert all(o == want for o in outs)


def test_added_token_options_match_hf(tmp_path):
    """single_word, lstrip and rstrip of added tokens, with a hand-made vocabulary."""
    vocab = {"[UNK]": 0, "a": 1, "b": 2, "x": 3, "é": 4, "1": 5, "_": 6}
    hf = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf.add_tokens([AddedToken("ab", single_word=True), AddedToken("xx", lstrip=True),
                   AddedToken("bb", rstrip=True, single_word=True)])
    hf.save(str(tmp_path / "tok.json"))
    tok = tt.Tokenizer.from_file(tmp_path / "tok.json")
    for s in ["ab", "xab", "ab x", "a ab b", "éab", "abé", "1ab", "_ab", "ab,", "(ab)", "  xx  ab", "bb  a", "abbb",
              "a bb  b", "xxab", "ab ab"]:
        _compare(hf.encode(s), tok.encode(s), s, "added tokens")
        assert tok.decode(tok.encode(s).ids) == hf.decode(hf.encode(s).ids)


@pytest.mark.parametrize("pad", [dict(length=24), dict(pad_to_multiple_of=8, direction="left")])
def test_tokenizer_json_truncation_padding_sections(wordpiece, tmp_path, pad):
    d, _, _ = wordpiece
    hf = BertWordPieceTokenizer(str(d / "vocab.txt"), lowercase=True)
    hf.enable_truncation(20)
    hf.enable_padding(pad_id=hf.token_to_id("[PAD]"), pad_token="[PAD]", **pad)
    hf.save(str(tmp_path / "tok.json"))
    tok = tt.Tokenizer.from_file(tmp_path / "tok.json")
    for text in TEXTS[:60]:
        _compare(hf.encode(text), tok.encode(text), text, "sections")
        _compare(hf.encode(text, text), tok.encode(text, text), text, "sections pair")


def test_batch_encoding_values_are_the_ragged_ids(wordpiece):
    # Regression: b.values returned dict.values; docs/text.md promises the unpadded ids.
    d, hf, _ = wordpiece
    tok = tt.Tokenizer.from_wordpiece_vocab(d / "vocab.txt")
    b = tok.encode_batch(TEXTS[:5])
    ref = [e.ids for e in hf.encode_batch(TEXTS[:5])]
    assert isinstance(b.values, ts.Tensor) and b.values.tolist() == sum(ref, [])
    assert b.row_splits.tolist() == [sum(len(r) for r in ref[:i]) for i in range(6)]
    # Still a dict: keys, items, item access, ** and dict.values all work.
    assert b["values"] is b.values and isinstance(b, dict)
    assert {"input_ids", "attention_mask", "values", "row_splits"} <= set(b.keys())
    assert len(dict.values(b)) == len(b) and dict(**b)["input_ids"] is b.input_ids
    assert [k for k, _ in b.items()] == list(b)
    with pytest.raises(AttributeError):
        b.no_such_field
    assert list(tt.BatchEncoding({"a": 1}).values()) == [1]  # without a "values" key: the dict method
