// Normalizers with alignments: every output char keeps the input-char range it
// came from, so token offsets point into the caller's text (as HF's do).
#include <algorithm>
#include <cstdint>

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include "src/data/text/tokenizer_impl.h"
#include "tessel/error.h"

namespace tessel::text::detail {

namespace {
// HF tokenizers takes the categories behind clean_text, punctuation and
// strip_accents from tables of Unicode 8.0 (whitespace, case and NFD are
// current): a char assigned later is "unassigned" there, so it is neither
// removed, split off nor stripped. Measured over all code points against
// tokenizers 0.23; see docs/text.md.
bool in_unicode_8(char32_t c) {
  UVersionInfo v;
  u_charAge(static_cast<UChar32>(c), v);
  return v[0] < 8 || (v[0] == 8 && v[1] == 0);
}
// Its NFD (combining classes) is Unicode 9.0.
bool in_unicode_9(char32_t c) {
  UVersionInfo v;
  u_charAge(static_cast<UChar32>(c), v);
  return v[0] < 9 || (v[0] == 9 && v[1] == 0);
}
}  // namespace

bool is_whitespace_slow(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)); }

// U+166D and U+111C9 were punctuation in Unicode 8.0 (So and Mn now).
bool is_bert_punctuation_slow(char32_t c) {
  if (c == 0x166D || c == 0x111C9) return true;
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_P_MASK) != 0 && in_unicode_8(c);
}

namespace {

// Categories Cc, Cf, Co (Cs cannot occur), except \t \n \r which BERT treats
// as whitespace. Unassigned chars (Cn) stay, as in HF.
bool is_other(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK)) != 0 &&
         in_unicode_8(c);
}

// The CJK Unified Ideographs blocks that BERT's handle_chinese_chars spaces out
// (not kana, not Hangul). Extension E starts at U+2B920 here, not U+2B820:
// HF's range, measured (BERT's original code has U+2B820).
bool is_chinese(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// U+1734 was Mn in Unicode 8.0 (Mc now); U+1885/U+1886 were Lo, U+A9BD Mc and
// U+111C9 Po (Mn now).
bool is_nonspacing_mark(char32_t c) {
  if (c == 0x1734) return true;
  if (c == 0x1885 || c == 0x1886 || c == 0xA9BD || c == 0x111C9) return false;
  return u_charType(static_cast<UChar32>(c)) == U_NON_SPACING_MARK && in_unicode_8(c);
}

// HF's StripAccents drops every combining mark (Mn, Mc, Me), as its
// normalization crate (Unicode 9.0) knows them; BERT's strip_accents drops Mn only.
// U+111C9 was punctuation in Unicode 9.0 (Mn now); U+1CF2/U+1CF3 were Mc (Lo now).
bool is_combining_mark(char32_t c) {
  if (c == 0x111C9) return false;
  if (c == 0x1CF2 || c == 0x1CF3) return true;
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_M_MASK) != 0 && in_unicode_9(c);
}

const icu::Normalizer2& instance(NormStep::Kind k) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (k) {
    case NormStep::Kind::NFC:
      n = icu::Normalizer2::getNFCInstance(err);
      break;
    case NormStep::Kind::NFKC:
      n = icu::Normalizer2::getNFKCInstance(err);
      break;
    case NormStep::Kind::NFKD:
      n = icu::Normalizer2::getNFKDInstance(err);
      break;
    default:
      n = icu::Normalizer2::getNFDInstance(err);
      break;
  }
  if (U_FAILURE(err) || !n) fail<ValueError>("text.tokenizer", "ICU normalizer unavailable");
  return *n;
}

template <class F>
void for_each_code_point(const icu::UnicodeString& s, F&& f) {
  for (int32_t i = 0; i < s.length();) {
    UChar32 c = s.char32At(i);
    f(static_cast<char32_t>(c));
    i += U16_LENGTH(c);
  }
}

// Full (possibly multi-char) lowercase of one char, without context, as Rust's char::to_lowercase.
template <class F>
void lower_char(char32_t c, F&& push) {
  if (c < 0x80) {
    push(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  UChar src[2];
  int32_t n = 0;
  U16_APPEND_UNSAFE(src, n, static_cast<UChar32>(c));
  UChar dst[8];
  UErrorCode err = U_ZERO_ERROR;
  int32_t m = u_strToLower(dst, 8, src, n, "", &err);
  if (U_FAILURE(err)) {
    push(c);
    return;
  }
  for (int32_t i = 0; i < m;) {
    UChar32 d;
    U16_NEXT_UNSAFE(dst, i, d);
    push(static_cast<char32_t>(d));
  }
}

// BERT per char: clean_text, handle_chinese_chars, strip_accents, lowercase.
// With decompose_only, strip_accents stops after NFD (marks kept, no lowercase).
void bert_char(const NormStep& st, char32_t c, int32_t s, int32_t e, NText& out, bool decompose_only = false) {
  if (c < 0x80) {
    if (st.clean_text) {
      if (c == '\t' || c == '\n' || c == '\r')
        c = ' ';
      else if (c < 0x20 || c == 0x7F)
        return;
    }
    if (st.lowercase && c >= 'A' && c <= 'Z') c += 32;
    out.push(c, s, e);
    return;
  }
  if (st.clean_text) {
    if (c == 0xFFFD || is_other(c)) return;
    if (is_whitespace(c)) c = ' ';
  }
  const bool cjk = st.handle_chinese_chars && is_chinese(c);
  if (cjk) out.push(' ', s, e);
  auto finish = [&](char32_t d) {
    if (decompose_only)
      out.push(d, s, e);
    else if (st.lowercase)
      lower_char(d, [&](char32_t l) { out.push(l, s, e); });
    else
      out.push(d, s, e);
  };
  if (st.strip_accents) {
    static const icu::Normalizer2& nfd = instance(NormStep::Kind::NFD);
    icu::UnicodeString dec;
    if (in_unicode_9(c) && nfd.getDecomposition(static_cast<UChar32>(c), dec)) {
      for_each_code_point(dec, [&](char32_t d) {
        if (decompose_only || !is_nonspacing_mark(d)) finish(d);
      });
    } else if (decompose_only || !is_nonspacing_mark(c)) {
      finish(c);
    }
  } else {
    finish(c);
  }
  if (cjk) out.push(' ', s, e);
}

// HF's combining classes are Unicode 9.0: a later char is a starter there.
uint8_t hf_ccc(char32_t c) { return c < 0x300 || !in_unicode_9(c) ? 0 : u_getCombiningClass(static_cast<UChar32>(c)); }

// NFD's canonical reordering within a run of marks (stable by combining
// class, HF's classes being Unicode 9.0). Alignments follow HF's NFD: each
// char keeps "first char of its source" or "added after it" through the
// sort, then sources are consumed in order, so a moved mark can take the
// position of its neighbour's source.
void reorder_marks(NText& t) {
  auto ccc = hf_ccc;
  std::vector<std::pair<char32_t, bool>> run;  // (char, added after the first char of its source)
  std::vector<std::pair<int32_t, int32_t>> sources;
  for (size_t i = 0; i < t.size();) {
    if (ccc(t.cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < t.size() && ccc(t.cps[j]) != 0) ++j;
    if (j - i > 1) {
      run.clear(), sources.clear();
      for (size_t k = i; k < j; ++k) {
        bool added = k > 0 && t.start[k] == t.start[k - 1] && t.end[k] == t.end[k - 1];
        run.emplace_back(t.cps[k], added);
        if (!added) sources.emplace_back(t.start[k], t.end[k]);
      }
      std::stable_sort(run.begin(), run.end(),
                       [&](const auto& a, const auto& b) { return ccc(a.first) < ccc(b.first); });
      std::pair<int32_t, int32_t> cur =
          i > 0 ? std::pair<int32_t, int32_t>{t.start[i - 1], t.end[i - 1]} : sources.front();
      size_t next = 0;
      for (size_t k = i; k < j; ++k) {
        if (!run[k - i].second && next < sources.size()) cur = sources[next++];
        t.cps[k] = run[k - i].first;
        t.start[k] = cur.first;
        t.end[k] = cur.second;
      }
    }
    i = j;
  }
}

// BERT over a text. Marks from different chars can only meet (and need
// reordering before they are stripped) when the text holds a combining mark
// itself; then decompose, reorder, filter. Otherwise one fused pass per char.
template <class Get>
void bert(const NormStep& st, size_t n, Get get, NText& out) {
  bool marks = false;
  for (size_t i = 0; st.strip_accents && i < n && !marks; ++i) {
    char32_t c = get(i).c;
    marks = c >= 0x300 && u_getCombiningClass(static_cast<UChar32>(c)) != 0;
  }
  if (!marks) {
    for (size_t i = 0; i < n; ++i) {
      auto x = get(i);
      bert_char(st, x.c, x.s, x.e, out);
    }
    return;
  }
  thread_local NText dec;
  dec.cps.clear(), dec.start.clear(), dec.end.clear();
  for (size_t i = 0; i < n; ++i) {
    auto x = get(i);
    bert_char(st, x.c, x.s, x.e, dec, true);
  }
  reorder_marks(dec);
  for (size_t k = 0; k < dec.size(); ++k) {
    if (is_nonspacing_mark(dec.cps[k])) continue;
    if (st.lowercase)
      lower_char(dec.cps[k], [&](char32_t l) { out.push(l, dec.start[k], dec.end[k]); });
    else
      out.push(dec.cps[k], dec.start[k], dec.end[k]);
  }
}

struct CharAt {
  char32_t c;
  int32_t s, e;
};

// NFx as HF's normalizers, alignments included. Each output char carries a
// change: 0 = replaces the next input char, +1 = inserted after it (later
// chars of a decomposition), -k = replaces the next input char and drops k
// more. Decomposing gives 0 then +1s; canonical ordering moves changes with
// their chars; a composition adds the changes of its two parts minus one. The
// changes are then applied in order over the input chars, so a mark left over
// after a composition maps to the input char after the ones composed
// ("e\u0301\u0301" -> "\u00e9\u0301": \u00e9 -> 0, \u0301 -> 2). Chunks between
// normalization boundaries are independent.
struct Piece {
  char32_t c;
  int32_t change;
};

void unicode_normalize(NormStep::Kind k, const NText& in, NText& out) {
  const icu::Normalizer2& n = instance(k);
  const bool compose = k == NormStep::Kind::NFC || k == NormStep::Kind::NFKC;
  const icu::Normalizer2& dec =
      instance(k == NormStep::Kind::NFC || k == NormStep::Kind::NFD ? NormStep::Kind::NFD : NormStep::Kind::NFKD);
  thread_local std::vector<Piece> buf, done;
  size_t i = 0;
  while (i < in.size()) {
    size_t j = i + 1;
    while (j < in.size() && !n.hasBoundaryBefore(static_cast<UChar32>(in.cps[j]))) ++j;
    if (j == i + 1 && n.isInert(static_cast<UChar32>(in.cps[i]))) {
      out.push(in.cps[i], in.start[i], in.end[i]);
      i = j;
      continue;
    }
    buf.clear();
    for (size_t q = i; q < j; ++q) {
      icu::UnicodeString d;
      // HF's tables are Unicode 9.0: later chars neither decompose nor compose.
      if (in_unicode_9(in.cps[q]) && dec.getDecomposition(static_cast<UChar32>(in.cps[q]), d)) {
        int32_t change = 0;
        for_each_code_point(d, [&](char32_t c) {
          buf.push_back({c, change});
          change = 1;
        });
      } else {
        buf.push_back({in.cps[q], 0});
      }
    }
    for (size_t a = 0; a < buf.size();) {
      size_t b = a;
      while (b < buf.size() && hf_ccc(buf[b].c) != 0) ++b;
      if (b - a > 1)
        std::stable_sort(buf.begin() + a, buf.begin() + b,
                         [](const Piece& x, const Piece& y) { return hf_ccc(x.c) < hf_ccc(y.c); });
      a = b == a ? a + 1 : b;
    }
    std::vector<Piece>* res = &buf;
    if (compose) {
      // Canonical composition: a char joins the last starter unless a char
      // between them (left uncomposed) has a class of 0 or >= its own.
      done.clear();
      size_t starter = SIZE_MAX;
      int last = -1;  // largest class left between the starter and here; -1 = adjacent
      for (const Piece& p : buf) {
        const int cc = hf_ccc(p.c);
        if (starter != SIZE_MAX && last < cc) {
          UChar32 r = n.composePair(static_cast<UChar32>(done[starter].c), static_cast<UChar32>(p.c));
          if (r >= 0 && in_unicode_9(static_cast<char32_t>(r))) {
            done[starter] = {static_cast<char32_t>(r), done[starter].change + p.change - 1};
            continue;
          }
        }
        if (cc == 0) {
          starter = done.size();
          last = -1;
        } else {
          last = cc;
        }
        done.push_back(p);
      }
      res = &done;
    }
    size_t off = i;  // the next input char
    for (const Piece& p : *res) {
      size_t src = p.change > 0 ? (off > 0 ? off - 1 : 0) : off;
      src = std::min(src, j - 1);
      out.push(p.c, in.start[src], in.end[src]);
      if (p.change <= 0) off += static_cast<size_t>(1 - p.change);
    }
    i = j;
  }
}

void apply(const NormStep& st, const NText& in, NText& out) {
  out.cps.clear(), out.start.clear(), out.end.clear();
  switch (st.kind) {
    case NormStep::Kind::Bert:
      bert(
          st, in.size(),
          [&](size_t i) {
            return CharAt{in.cps[i], in.start[i], in.end[i]};
          },
          out);
      break;
    case NormStep::Kind::Lowercase:
      for (size_t i = 0; i < in.size(); ++i)
        lower_char(in.cps[i], [&](char32_t l) { out.push(l, in.start[i], in.end[i]); });
      break;
    case NormStep::Kind::StripAccents:
      for (size_t i = 0; i < in.size(); ++i)
        if (!is_combining_mark(in.cps[i])) out.push(in.cps[i], in.start[i], in.end[i]);
      break;
    default:
      unicode_normalize(st.kind, in, out);
      break;
  }
}

}  // namespace

void normalize_into(const Impl& t, const char32_t* cps, int32_t begin, int32_t end, NText& out) {
  out.cps.clear(), out.start.clear(), out.end.clear();
  if (t.normalizers.size() == 1 && t.normalizers[0].kind == NormStep::Kind::Bert) {
    bert(
        t.normalizers[0], static_cast<size_t>(end - begin),
        [&](size_t i) {
          int32_t k = begin + static_cast<int32_t>(i);
          return CharAt{cps[k], k, k + 1};
        },
        out);
    return;
  }
  for (int32_t i = begin; i < end; ++i) out.push(cps[i], i, i + 1);
  thread_local NText tmp;
  for (const NormStep& st : t.normalizers) {
    apply(st, out, tmp);
    std::swap(out, tmp);
  }
}

}  // namespace tessel::text::detail
