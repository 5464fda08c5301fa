// Pre-tokenizers: split normalized text into words. The GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// is matched by hand with ICU character classes: no regex engine on the hot path.
#include <unicode/uchar.h>

#include "src/data/text/tokenizer_impl.h"

namespace tessel::text::detail {

namespace {

using Words = std::vector<std::pair<int32_t, int32_t>>;

enum Class : uint8_t { Letter, Number, Space, Other };

Class gpt2_class(char32_t c) {
  if (c < 0x80) {
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return Letter;
    if (c >= '0' && c <= '9') return Number;
    if (c == ' ' || (c >= '\t' && c <= '\r')) return Space;
    return Other;
  }
  if (is_whitespace(c)) return Space;
  uint32_t m = U_GET_GC_MASK(static_cast<UChar32>(c));
  if (m & U_GC_L_MASK) return Letter;
  if (m & U_GC_N_MASK) return Number;
  return Other;
}

// Length of the contraction at i ('s 't 'm 'd 're 've 'll), or 0.
int contraction(const NText& t, int32_t i, int32_t end) {
  if (t.cps[i] != '\'' || i + 1 >= end) return 0;
  char32_t a = t.cps[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= end) return 0;
  char32_t b = t.cps[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

void split_gpt2(const NText& t, int32_t begin, int32_t end, Words& out) {
  int32_t i = begin;
  while (i < end) {
    if (int c = contraction(t, i, end)) {
      out.emplace_back(i, i + c);
      i += c;
      continue;
    }
    Class k = gpt2_class(t.cps[i]);
    int32_t j = i;
    if (t.cps[i] == ' ' && i + 1 < end && gpt2_class(t.cps[i + 1]) != Space) {
      j = i + 1;  // " ?" takes the space when a letter, number or other run follows
      k = gpt2_class(t.cps[j]);
    }
    if (k != Space) {
      int32_t e = j + 1;
      while (e < end && gpt2_class(t.cps[e]) == k) ++e;
      out.emplace_back(i, e);
      i = e;
      continue;
    }
    // \s+(?!\S) leaves the last space of a run for the next word; \s+ takes a lone one.
    int32_t e = i + 1;
    while (e < end && gpt2_class(t.cps[e]) == Space) ++e;
    if (e < end && e - i > 1) --e;
    out.emplace_back(i, e);
    i = e;
  }
}

void split_bert(const NText& t, int32_t begin, int32_t end, Words& out) {
  int32_t w = -1;
  for (int32_t i = begin; i < end; ++i) {
    char32_t c = t.cps[i];
    if (is_whitespace(c)) {
      if (w >= 0) out.emplace_back(w, i), w = -1;
    } else if (is_bert_punctuation(c)) {
      if (w >= 0) out.emplace_back(w, i), w = -1;
      out.emplace_back(i, i + 1);
    } else if (w < 0) {
      w = i;
    }
  }
  if (w >= 0) out.emplace_back(w, end);
}

void split_whitespace(const NText& t, int32_t begin, int32_t end, Words& out) {
  int32_t w = -1;
  for (int32_t i = begin; i < end; ++i) {
    if (is_whitespace(t.cps[i])) {
      if (w >= 0) out.emplace_back(w, i), w = -1;
    } else if (w < 0) {
      w = i;
    }
  }
  if (w >= 0) out.emplace_back(w, end);
}

// \w+|[^\w\s]+ with Oniguruma's Unicode \w, that of UTS #18: Alphabetic,
// marks, decimal digits, connector punctuation, and the joiners ZWNJ/ZWJ.
void split_word_chars(const NText& t, int32_t begin, int32_t end, Words& out) {
  auto cls = [](char32_t c) {
    if (is_whitespace(c)) return 0;
    if (c == '_' || c == 0x200C || c == 0x200D) return 1;
    if (c < 0x80) return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ? 1 : 2;
    uint32_t m = U_GET_GC_MASK(static_cast<UChar32>(c));
    return u_isUAlphabetic(static_cast<UChar32>(c)) || (m & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) ? 1 : 2;
  };
  int32_t i = begin;
  while (i < end) {
    int k = cls(t.cps[i]);
    int32_t e = i + 1;
    while (e < end && cls(t.cps[e]) == k) ++e;
    if (k != 0) out.emplace_back(i, e);
    i = e;
  }
}

}  // namespace

namespace {
void split(const PreTokStep& st, const NText& text, int32_t b, int32_t e, Words& out) {
  switch (st.kind) {
    case PreTokStep::Kind::Bert:
      split_bert(text, b, e, out);
      break;
    case PreTokStep::Kind::WhitespaceSplit:
      split_whitespace(text, b, e, out);
      break;
    case PreTokStep::Kind::Whitespace:
      split_word_chars(text, b, e, out);
      break;
    case PreTokStep::Kind::ByteLevel:
      if (st.use_regex)
        split_gpt2(text, b, e, out);
      else if (e > b)
        out.emplace_back(b, e);
      break;
  }
}
}  // namespace

void pre_tokenize(const Impl& t, NText& text, Words& words) {
  words.clear();
  if (t.pre_tokenizers.empty()) {
    if (!text.cps.empty()) words.emplace_back(0, static_cast<int32_t>(text.size()));
    return;
  }
  const PreTokStep& first = t.pre_tokenizers[0];
  if (first.kind == PreTokStep::Kind::ByteLevel && first.add_prefix_space && !text.cps.empty() && text.cps[0] != ' ') {
    // The added space maps to the first char, as in HF.
    text.cps.insert(text.cps.begin(), U' ');
    text.start.insert(text.start.begin(), text.start[0]);
    text.end.insert(text.end.begin(), text.end[0]);
  }
  split(first, text, 0, static_cast<int32_t>(text.size()), words);
  if (t.pre_tokenizers.size() == 1) return;
  Words next;
  for (size_t k = 1; k < t.pre_tokenizers.size(); ++k) {
    next.clear();
    for (auto [b, e] : words) split(t.pre_tokenizers[k], text, b, e, next);
    std::swap(words, next);
  }
}

}  // namespace tessel::text::detail
