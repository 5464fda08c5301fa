#pragma once
// tessel::text: UTF-8 <-> code points and other encodings, Unicode
// normalization and case mapping, segmentation, and WordPiece / byte-level BPE
// tokenizers that read the usual vocabulary files and tokenizer.json.
//
// Conventions (docs/text.md): strings are UTF-8 bytes; offsets come in code
// points ("chars", as Hugging Face tokenizers and Python str report them) and
// in UTF-8 bytes (as tf.text reports them); attention_mask is 1 for real tokens.
// Built on ICU; with TESSEL_WITH_ICU=OFF every function throws NotImplementedError.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tessel/data/transform.h"
#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel::text {

// Whether tessel was built with ICU (false: every function below throws).
TESSEL_API bool available();

// ---- encodings (src/data/text/encoding.cpp) ----

// What to do with malformed input: raise ValueError naming the byte offset,
// substitute (U+FFFD when decoding, '?' when encoding to a legacy charset), or skip.
enum class Errors { Strict, Replace, Ignore };
TESSEL_API Errors parse_errors(std::string_view name);  // "strict" | "replace" | "ignore"

// UTF-8 -> int32 code points [n]. Replace follows the "maximal subpart"
// practice of Unicode (one U+FFFD per maximal ill-formed subsequence), as
// Python's bytes.decode does. replace_control_characters maps C0 controls
// (U+0000-U+001F) to U+FFFD, as tf.strings.unicode_decode does.
TESSEL_API Tensor decode_utf8(std::string_view bytes, Errors errors = Errors::Strict,
                              bool replace_control_characters = false);
// int32/int64 code points [n] -> UTF-8; surrogates and values outside
// [0, 0x10FFFF] raise ValueError naming the index and value.
TESSEL_API std::string encode_utf8(const Tensor& code_points);

// Ragged rows: row i is values[row_splits[i]:row_splits[i+1]] (tf.RaggedTensor).
struct Ragged {
  Tensor values;      // int32 code points or int64 ids
  Tensor row_splits;  // int64 [rows + 1]
};
TESSEL_API Ragged decode_utf8_batch(const std::vector<std::string>& inputs, Errors errors = Errors::Strict,
                                    bool replace_control_characters = false);
TESSEL_API std::vector<std::string> encode_utf8_batch(const Ragged& code_points);

// Converts between any two encodings ICU knows ("utf-8", "latin-1",
// "utf-16le", "shift_jis", "gbk", "windows-1252", ...). Unknown names raise
// ValueError naming them; malformed input follows `errors`.
TESSEL_API std::string transcode(std::string_view bytes, const std::string& from, const std::string& to,
                                 Errors errors = Errors::Strict);

// ---- normalization and case (src/data/text/normalize.cpp); UTF-8 in and out ----

enum class NormalizationForm { NFC, NFD, NFKC, NFKD };
TESSEL_API NormalizationForm parse_normalization_form(std::string_view name);
TESSEL_API std::string normalize(std::string_view text, NormalizationForm form = NormalizationForm::NFC);
TESSEL_API std::string case_fold(std::string_view text);      // full case folding (str.casefold)
TESSEL_API std::string nfkc_casefold(std::string_view text);  // Unicode NFKC_Casefold (tf.text case_fold_utf8)
TESSEL_API std::string lower(std::string_view text, const std::string& locale = "");
TESSEL_API std::string upper(std::string_view text, const std::string& locale = "");

// ---- segmentation (src/data/text/segment.cpp) ----

enum class SegmentUnit { Grapheme, Word, Sentence, Line };
TESSEL_API SegmentUnit parse_segment_unit(std::string_view name);

struct Segment {
  int64_t start = 0, end = 0;            // code points
  int64_t byte_start = 0, byte_end = 0;  // UTF-8 bytes
  int32_t rule_status = 0;               // ICU rule status (words: >= 100 letters, numbers, kana, ideographs)
};
// ICU BreakIterator segments covering `text` (words_only keeps word segments
// with rule status >= 100: no spaces or punctuation). Thai, Lao, Khmer,
// Burmese, Chinese and Japanese words come from ICU's dictionaries.
TESSEL_API std::vector<Segment> segment(std::string_view text, SegmentUnit unit, const std::string& locale = "en",
                                        bool words_only = false);

// ---- tokenizers (src/data/text/tokenizer*.cpp, wordpiece.cpp, bpe.cpp) ----

enum class TruncationStrategy { None, LongestFirst, OnlyFirst, OnlySecond };
enum class PaddingStrategy { None, Longest, MaxLength };

struct TruncationOptions {
  TruncationStrategy strategy = TruncationStrategy::None;
  int64_t max_length = 512;
  bool left = false;  // direction: drop tokens from the start instead of the end
};

struct PaddingOptions {
  PaddingStrategy strategy = PaddingStrategy::None;
  int64_t max_length = 0;          // MaxLength pads to this
  int64_t pad_to_multiple_of = 0;  // 0 = none
  bool left = false;               // padding_side="left"
  std::optional<int64_t> pad_id;   // default: the tokenizer's pad token
  int64_t pad_type_id = 0;
};

// One encoded sequence (or pair), as Hugging Face's Encoding.
struct Encoding {
  std::vector<int64_t> ids, type_ids, attention_mask, special_tokens_mask;
  std::vector<std::pair<int64_t, int64_t>> offsets;       // chars of the input (pairs: of their own input)
  std::vector<std::pair<int64_t, int64_t>> byte_offsets;  // UTF-8 bytes of the same
  std::vector<int64_t> word_ids;                          // -1: special token or padding
  std::vector<int64_t> sequence_ids;                      // 0, 1, or -1 for special tokens and padding
  std::vector<std::string> tokens;
};

// A batch as int64 tensors [B, L] (offsets [B, L, 2]); with PaddingStrategy::None
// and rows of different lengths only the ragged values/row_splits are defined.
struct BatchEncoding {
  Tensor input_ids, attention_mask, token_type_ids, special_tokens_mask, offsets, byte_offsets, word_ids;
  Ragged ids;                       // unpadded ids
  std::vector<Encoding> encodings;  // per row, unpadded (tokens left empty)
};

class TESSEL_API Tokenizer {
 public:
  // vocab.txt (one token per line, id = line index). lowercase also strips
  // accents, as BertWordPieceTokenizer does.
  static Tokenizer from_wordpiece_vocab(const std::string& path, bool lowercase = true,
                                        const std::string& unk_token = "[UNK]", int64_t max_input_chars_per_word = 100);
  static Tokenizer from_wordpiece_vocab_string(std::string_view vocab, bool lowercase = true,
                                               const std::string& unk_token = "[UNK]",
                                               int64_t max_input_chars_per_word = 100);
  // GPT-2/RoBERTa byte-level BPE: vocab.json + merges.txt.
  static Tokenizer from_bpe_files(const std::string& vocab_json, const std::string& merges_txt,
                                  bool add_prefix_space = false);
  static Tokenizer from_bpe_strings(std::string_view vocab_json, std::string_view merges_txt,
                                    bool add_prefix_space = false);
  // Hugging Face tokenizer.json; unsupported components raise ValueError naming the file and type.
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_json_string(std::string_view json, const std::string& name = "<string>");

  Encoding encode(std::string_view text, const std::optional<std::string_view>& pair = std::nullopt,
                  bool add_special_tokens = true) const;
  Encoding encode(std::string_view text, const std::optional<std::string_view>& pair, bool add_special_tokens,
                  const TruncationOptions& truncation) const;
  // Runs on num_threads C++ threads (0 = all). pairs is empty or as long as texts.
  BatchEncoding encode_batch(const std::vector<std::string>& texts, const std::vector<std::string>& pairs,
                             bool add_special_tokens, const TruncationOptions& truncation,
                             const PaddingOptions& padding, int num_threads = 0) const;
  // Ids out of range raise ValueError naming the id.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true) const;

  std::optional<int64_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int64_t id) const;  // ValueError when out of range
  int64_t vocab_size() const;
  int64_t num_special_tokens_to_add(bool pair) const;
  // The truncation/padding sections of tokenizer.json (None when absent).
  const TruncationOptions& default_truncation() const;
  const PaddingOptions& default_padding() const;

  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  const Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

// ---- for the data loader (src/data/text/transforms.cpp) ----
// FileDataset(..., decode="text") gives a file's UTF-8 bytes as uint8 [n]
// (invalid UTF-8 raises, naming the byte); Tokenize turns them into
// int64 [2, max_length]: row 0 the input ids, row 1 the attention mask,
// truncated and padded to max_length so that items batch.
class TESSEL_API Tokenize final : public data::Transform {
 public:
  Tokenize(Tokenizer tokenizer, int64_t max_length, bool add_special_tokens = true)
      : tokenizer_(std::move(tokenizer)), max_length_(max_length), add_special_tokens_(add_special_tokens) {}
  Tensor apply(const Tensor& bytes, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  Tokenizer tokenizer_;
  int64_t max_length_;
  bool add_special_tokens_;
};

}  // namespace tessel::text
