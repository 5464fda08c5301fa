#pragma once
// The parts of a Tokenizer (normalizer, pre-tokenizer, model, post-processor,
// decoder) as plain data, and the functions that run each stage. Internal.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessel/data/text.h"

namespace tessel::text::detail {

// A string -> id table with open addressing over string_views into one arena:
// the WordPiece inner loop is one hash and usually one compare per probe.
class TokenMap {
 public:
  void insert(std::string_view key, int32_t id);  // the later id wins on duplicates
  int32_t find(std::string_view key) const {      // -1 when absent
    if (slots_.empty()) return -1;
    for (uint64_t h = hash(key) & mask_;; h = (h + 1) & mask_) {
      const Slot& s = slots_[h];
      if (s.id < 0) return -1;
      if (s.len == key.size() && std::string_view(arena_.data() + s.off, s.len) == key) return s.id;
    }
  }
  size_t size() const { return count_; }
  size_t max_key_bytes() const { return max_len_; }

  static uint64_t hash(std::string_view s) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    uint64_t w = 0;
    __builtin_memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * 0x94D049BB133111EBull;
    return h ^ (h >> 29);
  }

 private:
  struct Slot {
    uint32_t off = 0, len = 0;
    int32_t id = -1;
  };
  void grow();
  std::string arena_;
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  size_t count_ = 0, max_len_ = 0;
};

// Text after normalization: each char remembers the range of input chars it came from.
struct NText {
  std::vector<char32_t> cps;
  std::vector<int32_t> start, end;  // input char indices
  void push(char32_t c, int32_t s, int32_t e) {
    cps.push_back(c);
    start.push_back(s);
    end.push_back(e);
  }
  size_t size() const { return cps.size(); }
};

struct NormStep {
  enum class Kind { Bert, Lowercase, NFC, NFD, NFKC, NFKD, StripAccents } kind;
  bool clean_text = true, handle_chinese_chars = true, strip_accents = true, lowercase = true;  // Bert
};

struct PreTokStep {
  enum class Kind { Bert, ByteLevel, Whitespace, WhitespaceSplit } kind;
  bool add_prefix_space = false, use_regex = true;  // ByteLevel
};

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = true, lstrip = false, rstrip = false, single_word = false;
};

// A template piece: a special token (ids) or sequence A/B, with its type id.
struct TemplatePiece {
  bool special = false;
  int sequence = 0;
  std::vector<int32_t> ids;
  int64_t type_id = 0;
};

struct Impl {
  std::string name;  // the file, for messages
  uint64_t uid = 0;  // unique per loaded tokenizer: keys the per-thread BPE word caches

  // ---- ids ----
  std::vector<std::string> id_tokens;  // id -> token ("" where no token has that id)
  std::vector<uint8_t> id_present, id_special;
  TokenMap token_ids;  // every token (model vocabulary and added tokens)

  // ---- model ----
  enum class Model { WordPiece, BPE } model = Model::WordPiece;
  TokenMap vocab;       // the model's vocabulary
  TokenMap continuing;  // WordPiece: tokens that start with the prefix, without it
  std::string wp_prefix = "##";
  int32_t unk_id = -1;
  int64_t max_input_chars_per_word = 100;
  bool byte_level = false;  // BPE symbols are the bytes of each char (GPT-2 alphabet)
  bool ignore_merges = false;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (left, right) -> (rank, merged id)
  std::array<int32_t, 256> byte_ids{};  // byte-level: the id of each byte's symbol (-1 if absent)

  // ---- pipeline ----
  std::vector<NormStep> normalizers;
  std::vector<PreTokStep> pre_tokenizers;
  std::vector<AddedToken> added;  // longest first
  std::array<uint8_t, 256> added_first_byte{};
  bool has_template = false;
  std::vector<TemplatePiece> single, pair;
  bool trim_offsets = false, trim_add_prefix_space = false;
  enum class Decoder { None, WordPiece, ByteLevel } decoder = Decoder::None;
  bool decoder_cleanup = true;
  std::string decoder_prefix = "##";

  TruncationOptions truncation;
  PaddingOptions padding;
  int64_t pad_id = 0;
};

// A token of one sequence before post-processing; offsets in input chars.
struct Piece {
  int32_t id;
  int32_t start, end;
  int32_t word;
  bool added = false;  // an added token found in the text (its token string is what matched)
};

// Stages (normalizer.cpp, pretokenize.cpp, wordpiece.cpp, bpe.cpp).
void normalize_into(const Impl& t, const char32_t* cps, int32_t begin, int32_t end, NText& out);
// Word ranges [first, last) over `text`; may insert a prefix space into text.
void pre_tokenize(const Impl& t, NText& text, std::vector<std::pair<int32_t, int32_t>>& words);
void wordpiece_word(const Impl& t, const NText& text, int32_t begin, int32_t end, int32_t word, std::string& scratch,
                    std::vector<int32_t>& char_at, std::vector<Piece>& out);
void bpe_word(const Impl& t, const NText& text, int32_t begin, int32_t end, int32_t word, std::string& scratch,
              std::vector<Piece>& out);
std::string wordpiece_decode(const Impl& t, const std::vector<std::string>& tokens);
std::string byte_level_decode(const std::vector<std::string>& tokens);

// GPT-2's byte <-> printable char map.
const std::array<char32_t, 256>& bytes_to_chars();
bool is_bert_punctuation_slow(char32_t c);
bool is_whitespace_slow(char32_t c);
// ASCII inline: these run once per char on the encode path.
inline bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
  return is_whitespace_slow(c);
}
inline bool is_bert_punctuation(char32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return is_bert_punctuation_slow(c);
}

}  // namespace tessel::text::detail

namespace tessel::text {
struct Tokenizer::Impl : detail::Impl {};
}  // namespace tessel::text
