// Tokenizer::encode: added tokens -> normalizer -> pre-tokenizer -> model ->
// truncation -> post-processor (-> padding, in batches), and decode.
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>

#include "src/data/text/tokenizer_impl.h"
#include "src/data/text/utf8.h"
#include "tessel/error.h"
#include "tessel/ops.h"

namespace tessel::text {

using detail::Piece;

namespace {

// One input sequence, tokenized: pieces with offsets in input chars, and the
// byte offset of every input char (for byte offsets).
struct Sequence {
  std::string_view text;
  std::vector<Piece> pieces;
  std::vector<int64_t> char_byte;
};

struct Scratch {
  std::vector<char32_t> cps;
  detail::NText ntext;
  std::vector<std::pair<int32_t, int32_t>> words;
  std::string s;
  std::vector<int32_t> char_byte;
};

void decode_input(std::string_view text, Scratch& sc, Sequence& seq) {
  TS_CHECK(text.size() < (1u << 31) - 1, ValueError, "text.encode", "text longer than 2 GiB");
  sc.cps.clear();
  seq.char_byte.clear();
  char32_t c;
  int bad = 0;
  for (size_t i = 0; i < text.size();) {
    seq.char_byte.push_back(static_cast<int64_t>(i));
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      sc.cps.push_back(static_cast<unsigned char>(text[i++]));
      continue;
    }
    int len = detail::decode_one(text, i, c, bad);
    if (len == 0) fail<ValueError>("text.encode", "invalid UTF-8 at byte ", i);
    sc.cps.push_back(c);
    i += static_cast<size_t>(len);
  }
  seq.char_byte.push_back(static_cast<int64_t>(text.size()));
}

void model_segment(const detail::Impl& t, int32_t begin, int32_t end, int32_t& word, Scratch& sc,
                   std::vector<Piece>& out) {
  if (end <= begin) return;
  detail::normalize_into(t, sc.cps.data(), begin, end, sc.ntext);
  detail::pre_tokenize(t, sc.ntext, sc.words);
  for (auto [b, e] : sc.words) {
    if (t.model == detail::Impl::Model::WordPiece)
      detail::wordpiece_word(t, sc.ntext, b, e, word, sc.s, sc.char_byte, out);
    else
      detail::bpe_word(t, sc.ntext, b, e, word, sc.s, out);
    ++word;
  }
}

// single_word: the match must not touch a word char on either side.
bool is_word_char(char32_t c) {
  return c == '_' || (c < 0x80 ? std::isalnum(static_cast<int>(c)) != 0
                               : c > 0x7F && !detail::is_whitespace(c) && !detail::is_bert_punctuation(c));
}

// Added tokens are found in the raw text (leftmost, longest); the text between them goes through the model.
void tokenize_sequence(const detail::Impl& t, std::string_view text, Scratch& sc, Sequence& seq) {
  decode_input(text, sc, seq);
  seq.text = text;
  seq.pieces.clear();
  const int32_t n = static_cast<int32_t>(sc.cps.size());
  int32_t word = 0, from = 0;
  if (!t.added.empty()) {
    for (int32_t i = 0; i < n; ++i) {
      const auto b = static_cast<unsigned char>(text[static_cast<size_t>(seq.char_byte[i])]);
      if (!t.added_first_byte[b]) continue;
      const detail::AddedToken* hit = nullptr;
      for (const auto& a : t.added) {
        if (text.compare(static_cast<size_t>(seq.char_byte[i]), a.content.size(), a.content) != 0) continue;
        if (a.single_word) {
          int64_t after = seq.char_byte[i] + static_cast<int64_t>(a.content.size());
          auto end_char = std::lower_bound(seq.char_byte.begin(), seq.char_byte.end(), after) - seq.char_byte.begin();
          if ((i > 0 && is_word_char(sc.cps[i - 1])) || (end_char < n && is_word_char(sc.cps[end_char]))) continue;
        }
        hit = &a;
        break;
      }
      if (!hit) continue;
      int64_t after = seq.char_byte[i] + static_cast<int64_t>(hit->content.size());
      int32_t s = i, e = static_cast<int32_t>(std::lower_bound(seq.char_byte.begin(), seq.char_byte.end(), after) -
                                              seq.char_byte.begin());
      if (hit->lstrip)
        while (s > from && detail::is_whitespace(sc.cps[s - 1])) --s;
      if (hit->rstrip)
        while (e < n && detail::is_whitespace(sc.cps[e])) ++e;
      model_segment(t, from, s, word, sc, seq.pieces);
      seq.pieces.push_back(Piece{hit->id, s, e, word++, true});
      from = e;
      i = e - 1;
    }
  }
  model_segment(t, from, n, word, sc, seq.pieces);
}

// ByteLevel's trim_offsets: offsets leave out the spaces ('Ġ') a token starts or ends with.
void trim_offsets(const detail::Impl& t, std::vector<Piece>& pieces) {
  static const std::string_view space = "\xC4\xA0";  // U+0120, the byte-level space
  for (size_t i = 0; i < pieces.size(); ++i) {
    Piece& p = pieces[i];
    if (p.id < 0 || static_cast<size_t>(p.id) >= t.id_tokens.size()) continue;
    std::string_view tok = t.id_tokens[static_cast<size_t>(p.id)];
    int32_t lead = 0, trail = 0;
    for (std::string_view v = tok; v.substr(0, 2) == space; v.remove_prefix(2)) ++lead;
    for (std::string_view v = tok; v.size() >= 2 && v.substr(v.size() - 2) == space; v.remove_suffix(2)) ++trail;
    if (lead > 0) {
      bool first = i == 0 || p.start == 0;
      if (!(first && t.trim_add_prefix_space && lead == 1)) p.start = std::min(p.start + lead, p.end);
    }
    if (trail > 0 && p.end >= trail) p.end = std::max(p.end - trail, p.start);
  }
}

void truncate_to(std::vector<Piece>& v, size_t n, bool left) {
  if (v.size() <= n) return;
  if (left)
    v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(n));
  else
    v.resize(n);
}

void truncate(const TruncationOptions& o, int64_t added, std::vector<Piece>& a, std::vector<Piece>* b) {
  if (o.strategy == TruncationStrategy::None) return;
  const char* op = "text.truncate";
  const size_t max = static_cast<size_t>(std::max<int64_t>(o.max_length - added, 0));
  const size_t total = a.size() + (b ? b->size() : 0);
  if (total <= max) return;
  const size_t to_remove = total - max;
  if (!b || o.strategy == TruncationStrategy::LongestFirst) {
    if (!b) {
      truncate_to(a, max, o.left);
      return;
    }
    // Shorten the longer side first; when both must shrink, split max_length evenly.
    size_t n1 = a.size(), n2 = b->size();
    bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);
    n2 = n1 > max ? n1 : std::max(n1, max - n1);
    if (n1 + n2 > max) {
      n1 = max / 2;
      n2 = n1 + max % 2;
    }
    if (swap) std::swap(n1, n2);
    truncate_to(a, n1, o.left);
    truncate_to(*b, n2, o.left);
    return;
  }
  std::vector<Piece>& target = o.strategy == TruncationStrategy::OnlyFirst ? a : *b;
  TS_CHECK(target.size() > to_remove, ValueError, op, "the sequence to truncate is too short (", target.size(),
           " tokens) to respect max_length=", o.max_length);
  truncate_to(target, target.size() - to_remove, o.left);
}

void append_sequence(const detail::Impl& t, Encoding& e, const Sequence& s, int seq, int64_t type_id, bool tokens) {
  for (const Piece& p : s.pieces) {
    e.ids.push_back(p.id);
    e.type_ids.push_back(type_id);
    e.attention_mask.push_back(1);
    e.special_tokens_mask.push_back(0);
    e.offsets.emplace_back(p.start, p.end);
    e.byte_offsets.emplace_back(s.char_byte[static_cast<size_t>(p.start)], s.char_byte[static_cast<size_t>(p.end)]);
    e.word_ids.push_back(p.word);
    e.sequence_ids.push_back(seq);
    if (!tokens) continue;
    if (p.added) {  // as HF: what matched, stripped spaces included
      int64_t b = s.char_byte[static_cast<size_t>(p.start)], end = s.char_byte[static_cast<size_t>(p.end)];
      e.tokens.emplace_back(s.text.substr(static_cast<size_t>(b), static_cast<size_t>(end - b)));
    } else {
      e.tokens.push_back(t.id_tokens[static_cast<size_t>(p.id)]);
    }
  }
}

void append_special(const detail::Impl& t, Encoding& e, const std::vector<int32_t>& ids, int64_t type_id, bool tokens) {
  for (int32_t id : ids) {
    e.ids.push_back(id);
    e.type_ids.push_back(type_id);
    e.attention_mask.push_back(1);
    e.special_tokens_mask.push_back(1);
    e.offsets.emplace_back(0, 0);
    e.byte_offsets.emplace_back(0, 0);
    e.word_ids.push_back(-1);
    e.sequence_ids.push_back(-1);
    if (tokens) e.tokens.push_back(t.id_tokens[static_cast<size_t>(id)]);
  }
}

int64_t added_count(const detail::Impl& t, bool pair) {
  if (!t.has_template) return 0;
  int64_t n = 0;
  for (const auto& p : pair ? t.pair : t.single)
    if (p.special) n += static_cast<int64_t>(p.ids.size());
  return n;
}

Encoding encode_one(const detail::Impl& t, std::string_view text, const std::optional<std::string_view>& pair,
                    bool add_special, const TruncationOptions& trunc, bool tokens) {
  // Reused per thread: the per-text buffers cost no allocation once warm.
  thread_local Scratch sc;
  thread_local Sequence a, b;
  b.pieces.clear();
  tokenize_sequence(t, text, sc, a);
  if (pair) tokenize_sequence(t, *pair, sc, b);
  truncate(trunc, add_special ? added_count(t, pair.has_value()) : 0, a.pieces, pair ? &b.pieces : nullptr);
  if (t.trim_offsets) {
    trim_offsets(t, a.pieces);
    if (pair) trim_offsets(t, b.pieces);
  }
  Encoding e;
  size_t cap = a.pieces.size() + b.pieces.size() + 4;
  e.ids.reserve(cap), e.type_ids.reserve(cap), e.attention_mask.reserve(cap), e.special_tokens_mask.reserve(cap);
  e.offsets.reserve(cap), e.byte_offsets.reserve(cap), e.word_ids.reserve(cap), e.sequence_ids.reserve(cap);
  if (t.has_template && add_special) {
    for (const auto& p : pair ? t.pair : t.single) {
      if (p.special)
        append_special(t, e, p.ids, p.type_id, tokens);
      else
        append_sequence(t, e, p.sequence == 0 ? a : b, p.sequence, p.type_id, tokens);
    }
  } else {
    append_sequence(t, e, a, 0, 0, tokens);
    if (pair) append_sequence(t, e, b, 1, 1, tokens);
  }
  return e;
}

}  // namespace

Encoding Tokenizer::encode(std::string_view text, const std::optional<std::string_view>& pair,
                           bool add_special_tokens) const {
  return encode(text, pair, add_special_tokens, impl_->truncation);
}

Encoding Tokenizer::encode(std::string_view text, const std::optional<std::string_view>& pair, bool add_special_tokens,
                           const TruncationOptions& truncation) const {
  Encoding e = encode_one(*impl_, text, pair, add_special_tokens, truncation, true);
  // tokenizer.json's padding applies to single encodings too, as in HF
  // (a fixed length, or pad_to_multiple_of).
  const PaddingOptions& p = impl_->padding;
  if (p.strategy == PaddingStrategy::None) return e;
  size_t len = p.strategy == PaddingStrategy::MaxLength ? static_cast<size_t>(p.max_length) : e.ids.size();
  if (p.pad_to_multiple_of > 0) {
    size_t m = static_cast<size_t>(p.pad_to_multiple_of);
    len = (len + m - 1) / m * m;
  }
  if (e.ids.size() >= len) return e;
  const size_t n = len - e.ids.size();
  const int64_t pad_id = p.pad_id.value_or(impl_->pad_id);
  auto fill = [&](auto& v, auto value) { v.insert(p.left ? v.begin() : v.end(), n, value); };
  fill(e.ids, pad_id);
  fill(e.type_ids, p.pad_type_id);
  fill(e.attention_mask, int64_t{0});
  fill(e.special_tokens_mask, int64_t{1});
  fill(e.offsets, std::pair<int64_t, int64_t>{0, 0});
  fill(e.byte_offsets, std::pair<int64_t, int64_t>{0, 0});
  fill(e.word_ids, int64_t{-1});
  fill(e.sequence_ids, int64_t{-1});
  fill(e.tokens, impl_->id_tokens[static_cast<size_t>(pad_id)]);
  return e;
}

BatchEncoding Tokenizer::encode_batch(const std::vector<std::string>& texts, const std::vector<std::string>& pairs,
                                      bool add_special_tokens, const TruncationOptions& truncation,
                                      const PaddingOptions& padding, int num_threads) const {
  const char* op = "text.encode_batch";
  TS_CHECK(pairs.empty() || pairs.size() == texts.size(), ValueError, op, "got ", texts.size(), " texts and ",
           pairs.size(), " pairs");
  TS_CHECK(num_threads >= 0, ValueError, op, "num_threads must be >= 0, got ", num_threads);
  TS_CHECK(padding.strategy != PaddingStrategy::MaxLength || padding.max_length > 0, ValueError, op,
           "padding='max_length' needs max_length > 0");
  TS_CHECK(padding.pad_to_multiple_of >= 0, ValueError, op, "pad_to_multiple_of must be >= 0");
  const detail::Impl& t = *impl_;
  const int64_t pad_id = padding.pad_id.value_or(t.pad_id);
  TS_CHECK(pad_id >= 0 && pad_id < static_cast<int64_t>(t.id_tokens.size()), ValueError, op, "pad id ", pad_id,
           " out of range");
  BatchEncoding out;
  const int64_t B = static_cast<int64_t>(texts.size());
  out.encodings.resize(texts.size());
  std::exception_ptr error;
  const int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads) if (B > 1)
  for (int64_t i = 0; i < B; ++i) {
    try {
      std::optional<std::string_view> p;
      if (!pairs.empty()) p = pairs[static_cast<size_t>(i)];
      out.encodings[static_cast<size_t>(i)] =
          encode_one(t, texts[static_cast<size_t>(i)], p, add_special_tokens, truncation, false);
    } catch (...) {
#pragma omp critical(tessel_text_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);

  // Ragged ids before padding.
  Tensor splits = empty({B + 1}, DType::Int64);
  int64_t* rs = splits.data<int64_t>();
  rs[0] = 0;
  size_t longest = 0;
  bool equal = true;
  for (int64_t i = 0; i < B; ++i) {
    size_t n = out.encodings[static_cast<size_t>(i)].ids.size();
    rs[i + 1] = rs[i] + static_cast<int64_t>(n);
    if (i > 0 && n != longest) equal = false;
    longest = std::max(longest, n);
  }
  Tensor values = empty({rs[B]}, DType::Int64);
  for (int64_t i = 0; i < B; ++i) {
    const auto& ids = out.encodings[static_cast<size_t>(i)].ids;
    if (!ids.empty()) std::memcpy(values.data<int64_t>() + rs[i], ids.data(), ids.size() * sizeof(int64_t));
  }
  out.ids = {values, splits};

  size_t len = longest;
  if (padding.strategy == PaddingStrategy::MaxLength) len = static_cast<size_t>(padding.max_length);
  if (padding.strategy != PaddingStrategy::None && padding.pad_to_multiple_of > 0) {
    size_t m = static_cast<size_t>(padding.pad_to_multiple_of);
    len = (len + m - 1) / m * m;
  }
  if (padding.strategy == PaddingStrategy::None && !equal) return out;
  // A row longer than max_length (no truncation) leaves the rows ragged: keep only the ragged form.
  for (const auto& e : out.encodings)
    if (e.ids.size() > len) return out;

  // Dense [B, L] tensors written row by row in parallel, padding included
  // (the per-row vectors stay unpadded: no inserts, one pass over the output).
  const int64_t L = static_cast<int64_t>(len);
  Tensor ids = empty({B, L}, DType::Int64), mask = empty({B, L}, DType::Int64), types = empty({B, L}, DType::Int64),
         special = empty({B, L}, DType::Int64), words = empty({B, L}, DType::Int64),
         offs = empty({B, L, 2}, DType::Int64), boffs = empty({B, L, 2}, DType::Int64);
  int64_t *p_ids = ids.data<int64_t>(), *p_mask = mask.data<int64_t>(), *p_types = types.data<int64_t>(),
          *p_special = special.data<int64_t>(), *p_words = words.data<int64_t>(), *p_offs = offs.data<int64_t>(),
          *p_boffs = boffs.data<int64_t>();
  const int64_t pad_type = padding.pad_type_id;
  const bool left = padding.left;
#pragma omp parallel for schedule(static) num_threads(threads) if (B * L > 65536)
  for (int64_t i = 0; i < B; ++i) {
    const Encoding& e = out.encodings[static_cast<size_t>(i)];
    const int64_t n = static_cast<int64_t>(e.ids.size());
    const int64_t first = left ? L - n : 0;  // where the real tokens start
    auto row = [&](int64_t* p, const std::vector<int64_t>& v, int64_t pad_value) {
      p += i * L;
      std::fill(p, p + L, pad_value);
      if (n) std::memcpy(p + first, v.data(), static_cast<size_t>(n) * sizeof(int64_t));
    };
    row(p_ids, e.ids, pad_id);
    row(p_mask, e.attention_mask, 0);
    row(p_types, e.type_ids, pad_type);
    row(p_special, e.special_tokens_mask, 1);
    row(p_words, e.word_ids, -1);
    auto pairs = [&](int64_t* p, const std::vector<std::pair<int64_t, int64_t>>& v) {
      p += i * L * 2;
      std::fill(p, p + 2 * L, 0);
      for (int64_t j = 0; j < n; ++j) {
        p[(first + j) * 2] = v[static_cast<size_t>(j)].first;
        p[(first + j) * 2 + 1] = v[static_cast<size_t>(j)].second;
      }
    };
    pairs(p_offs, e.offsets);
    pairs(p_boffs, e.byte_offsets);
  }
  out.input_ids = ids, out.attention_mask = mask, out.token_type_ids = types, out.special_tokens_mask = special;
  out.word_ids = words, out.offsets = offs, out.byte_offsets = boffs;
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const detail::Impl& t = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    TS_CHECK(id >= 0 && id < static_cast<int64_t>(t.id_tokens.size()) && t.id_present[static_cast<size_t>(id)],
             ValueError, "text.decode", "id ", id, " is not in the vocabulary (size ", t.id_tokens.size(), ")");
    if (skip_special_tokens && t.id_special[static_cast<size_t>(id)]) continue;
    tokens.push_back(t.id_tokens[static_cast<size_t>(id)]);
  }
  switch (t.decoder) {
    case detail::Impl::Decoder::WordPiece:
      return detail::wordpiece_decode(t, tokens);
    case detail::Impl::Decoder::ByteLevel:
      return detail::byte_level_decode(tokens);
    case detail::Impl::Decoder::None:
      break;
  }
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ' ';
    out += tokens[i];
  }
  return out;
}

std::optional<int64_t> Tokenizer::token_to_id(std::string_view token) const {
  int32_t id = impl_->token_ids.find(token);
  if (id < 0) return std::nullopt;
  return id;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  const detail::Impl& t = *impl_;
  TS_CHECK(id >= 0 && id < static_cast<int64_t>(t.id_tokens.size()) && t.id_present[static_cast<size_t>(id)],
           ValueError, "text.id_to_token", "id ", id, " is not in the vocabulary (size ", t.id_tokens.size(), ")");
  return t.id_tokens[static_cast<size_t>(id)];
}

int64_t Tokenizer::vocab_size() const { return static_cast<int64_t>(impl_->token_ids.size()); }
int64_t Tokenizer::num_special_tokens_to_add(bool pair) const { return added_count(*impl_, pair); }
const TruncationOptions& Tokenizer::default_truncation() const { return impl_->truncation; }
const PaddingOptions& Tokenizer::default_padding() const { return impl_->padding; }

}  // namespace tessel::text
