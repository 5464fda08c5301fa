// tessel::text from C++ (the Python suite tests conformance against HF
// tokenizers and Python's unicodedata; this checks the C++ surface).
#include <gtest/gtest.h>
#include <tessel/data/text.h>
#include <tessel/tessel.h>

using namespace tessel;
using namespace tessel::text;

TEST(Text, Available) { EXPECT_TRUE(available()); }

TEST(Text, DecodeEncodeUtf8) {
  Tensor cps = decode_utf8("G\xc3\xb6\xf0\x9f\x98\x80");
  ASSERT_EQ(cps.numel(), 3);
  EXPECT_EQ(cps.data<int32_t>()[1], 0xF6);
  EXPECT_EQ(cps.data<int32_t>()[2], 0x1F600);
  EXPECT_EQ(encode_utf8(cps), "G\xc3\xb6\xf0\x9f\x98\x80");
  EXPECT_EQ(decode_utf8("a\xe2\x82", Errors::Replace).numel(), 2);  // one U+FFFD for the truncated sequence
  EXPECT_EQ(decode_utf8("a\xff"
                        "b",
                        Errors::Ignore)
                .numel(),
            2);
  try {
    decode_utf8("ab\xff");
    FAIL() << "no error";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "[text.decode_utf8] invalid UTF-8 at byte 2");
  }
}

TEST(Text, TranscodeNormalizeCase) {
  EXPECT_EQ(transcode("caf\xc3\xa9", "utf-8", "latin-1"), "caf\xe9");
  EXPECT_THROW(transcode("x", "utf-8", "no-such"), ValueError);
  EXPECT_EQ(normalize("e\xcc\x81", NormalizationForm::NFC), "\xc3\xa9");
  EXPECT_EQ(case_fold("Stra\xc3\x9f"
                      "e"),
            "strasse");
  EXPECT_EQ(upper("stra\xc3\x9f"
                  "e"),
            "STRASSE");
}

TEST(Text, Segment) {
  auto words = segment("Hello, world 42.", SegmentUnit::Word, "en", true);
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words[1].start, 7);
  EXPECT_EQ(words[1].end, 12);
  auto g = segment("e\xcc\x81x", SegmentUnit::Grapheme);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].end, 2);
  EXPECT_EQ(g[0].byte_end, 3);
}

TEST(Text, WordPieceTokenizer) {
  Tokenizer t = Tokenizer::from_wordpiece_vocab_string("[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\nhello\n!\n");
  Encoding e = t.encode("Unaffable hello!");
  EXPECT_EQ(e.ids, (std::vector<int64_t>{2, 4, 5, 6, 7, 8, 3}));
  EXPECT_EQ(e.offsets[1], (std::pair<int64_t, int64_t>{0, 2}));
  EXPECT_EQ(e.word_ids, (std::vector<int64_t>{-1, 0, 0, 0, 1, 2, -1}));
  EXPECT_EQ(t.decode(e.ids), "unaffable hello!");
  EXPECT_EQ(t.encode("xyz").ids[1], 1);  // [UNK]
  TruncationOptions tr;
  PaddingOptions pad;
  pad.strategy = PaddingStrategy::Longest;
  BatchEncoding b = t.encode_batch({"hello", "unaffable hello"}, {}, true, tr, pad, 2);
  EXPECT_EQ(b.input_ids.shape(), (Shape{2, 6}));
  EXPECT_EQ(b.attention_mask.data<int64_t>()[3], 0);
  EXPECT_THROW(t.decode({100}), ValueError);
  EXPECT_THROW(Tokenizer::from_wordpiece_vocab_string("a\n\nb\n"), ValueError);
}

TEST(Text, ByteLevelBpeTokenizer) {
  Tokenizer t = Tokenizer::from_bpe_strings(R"({"h": 0, "i": 1, "hi": 2, "\u0120": 3, "\u0120hi": 4})",
                                            "#version: 0.2\nh i\n\xc4\xa0 hi\n");
  Encoding e = t.encode("hi hi");
  EXPECT_EQ(e.ids, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(e.offsets[1], (std::pair<int64_t, int64_t>{2, 5}));
  EXPECT_EQ(t.decode(e.ids), "hi hi");
  EXPECT_THROW(Tokenizer::from_json_string("{\"model\": {\"type\": \"Unigram\", \"vocab\": {}}}"), ValueError);
}
