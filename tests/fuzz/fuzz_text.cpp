// libFuzzer target for tessel::text: every entry point that reads untrusted
// bytes (UTF-8 decoding in all modes, transcoding, normalization, case
// mapping, segmentation, tokenizer.json / vocab.txt / vocab.json+merges.txt
// parsing, and encoding with what was parsed). Only the public API; tessel
// errors are expected, anything else (a crash, a sanitizer report) is a bug.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_text.cpp \
//     -Iinclude -Lbuild -ltessel -o fuzz_text && ./fuzz_text
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tessel/data/text.h"
#include "tessel/error.h"

namespace {

using namespace tessel::text;

template <class F>
void guarded(F&& f) {
  try {
    f();
  } catch (const tessel::Error&) {
  }
}

// The first byte picks the target; the rest is the input.
void run(uint8_t selector, std::string_view in) {
  static const char* const kEncodings[] = {"utf-8", "latin-1",      "utf-16le", "utf-16be", "shift_jis",
                                           "gbk",   "windows-1252", "utf-32",   "euc-kr",   "big5"};
  const Errors errors[] = {Errors::Strict, Errors::Replace, Errors::Ignore};
  switch (selector % 9) {
    case 0:
      for (Errors e : errors) {
        guarded([&] {
          tessel::Tensor cps = decode_utf8(in, e, selector & 16);
          (void)encode_utf8(cps);  // what decode returns, encode accepts
        });
      }
      guarded([&] {
        (void)decode_utf8_batch({std::string(in), std::string(in.substr(in.size() / 2))}, Errors::Replace);
      });
      break;
    case 1:
      guarded([&] {
        const char* from = kEncodings[(selector >> 4) % 10];
        const char* to = kEncodings[(selector >> 2) % 10];
        (void)transcode(in, from, to, errors[selector % 3]);
      });
      break;
    case 2:
      for (auto f : {NormalizationForm::NFC, NormalizationForm::NFD, NormalizationForm::NFKC, NormalizationForm::NFKD})
        guarded([&] { (void)normalize(in, f); });
      guarded([&] { (void)case_fold(in); });
      guarded([&] { (void)nfkc_casefold(in); });
      guarded([&] { (void)lower(in, (selector & 16) ? "tr" : ""); });
      guarded([&] { (void)upper(in, (selector & 32) ? "el" : ""); });
      break;
    case 3:
      for (auto u : {SegmentUnit::Grapheme, SegmentUnit::Word, SegmentUnit::Sentence, SegmentUnit::Line})
        guarded(
            [&] { (void)segment(in, u, (selector & 16) ? "th" : "en", u == SegmentUnit::Word && (selector & 32)); });
      break;
    case 4:
    case 5: {  // tokenizer.json, then encode a little text with it
      guarded([&] {
        size_t cut = in.size() > 16 ? in.size() - 16 : in.size();
        Tokenizer t = Tokenizer::from_json_string(in.substr(0, cut), "<fuzz>");
        std::string_view text = in.substr(cut);
        Encoding e = t.encode(text, text, true);
        (void)t.decode(e.ids, selector & 16);
        PaddingOptions pad;
        pad.strategy = PaddingStrategy::Longest;
        TruncationOptions tr;
        tr.strategy = TruncationStrategy::LongestFirst;
        tr.max_length = selector % 7;
        (void)t.encode_batch({std::string(text), "hello"}, {}, true, tr, pad, 1);
      });
      break;
    }
    case 6:
      guarded([&] {
        Tokenizer t = Tokenizer::from_wordpiece_vocab_string(in, selector & 16);
        (void)t.encode(in.substr(0, 64));
      });
      break;
    case 7: {
      size_t mid = in.find('\0');
      if (mid == std::string_view::npos) mid = in.size() / 2;
      guarded([&] {
        Tokenizer t =
            Tokenizer::from_bpe_strings(in.substr(0, mid), in.substr(std::min(mid + 1, in.size())), selector & 16);
        Encoding e = t.encode(in.substr(0, 64));
        (void)t.decode(e.ids, false);
      });
      break;
    }
    case 8: {  // encode arbitrary text with a fixed small tokenizer of each kind
      static const Tokenizer wp =
          Tokenizer::from_wordpiece_vocab_string("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb\n##a\n##b\nab\n");
      static const Tokenizer bpe = Tokenizer::from_bpe_strings(
          R"({"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120a": 4})", "#version: 0.2\na b\n\u0120 a\n", true);
      guarded([&] {
        Encoding e = wp.encode(in, in.substr(in.size() / 2));
        (void)wp.decode(e.ids);
      });
      guarded([&] {
        Encoding e = bpe.encode(in);
        (void)bpe.decode(e.ids);
      });
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  run(data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
