// WordPiece: greedy longest-match-first over each word, continuation pieces
// looked up without their "##" (a second table) so no string is built per probe.
#include "src/data/text/tokenizer_impl.h"
#include "src/data/text/utf8.h"

namespace tessel::text::detail {

void wordpiece_word(const Impl& t, const NText& text, int32_t begin, int32_t end, int32_t word, std::string& scratch,
                    std::vector<int32_t>& char_byte, std::vector<Piece>& out) {
  const int32_t n = end - begin;
  if (n <= 0) return;
  if (n > t.max_input_chars_per_word) {
    out.push_back(Piece{t.unk_id, text.start[begin], text.end[end - 1], word});
    return;
  }
  scratch.clear();
  char_byte.resize(static_cast<size_t>(n) + 1);
  for (int32_t i = 0; i < n; ++i) {
    char_byte[static_cast<size_t>(i)] = static_cast<int32_t>(scratch.size());
    char32_t c = text.cps[static_cast<size_t>(begin + i)];
    if (c < 0x80)
      scratch += static_cast<char>(c);
    else
      append_utf8(scratch, c);
  }
  char_byte[static_cast<size_t>(n)] = static_cast<int32_t>(scratch.size());

  const size_t mark = out.size();
  int32_t s = 0;
  while (s < n) {
    const TokenMap& m = s == 0 ? t.vocab : t.continuing;
    const int32_t limit = static_cast<int32_t>(m.max_key_bytes());
    int32_t e = n;
    while (e > s && char_byte[e] - char_byte[s] > limit) --e;
    int32_t id = -1;
    for (; e > s; --e) {
      id = m.find(std::string_view(scratch.data() + char_byte[s], static_cast<size_t>(char_byte[e] - char_byte[s])));
      if (id >= 0) break;
    }
    if (id < 0) {  // one unknown piece makes the whole word [UNK]
      out.resize(mark);
      out.push_back(Piece{t.unk_id, text.start[begin], text.end[end - 1], word});
      return;
    }
    out.push_back(Piece{id, text.start[begin + s], text.end[begin + e - 1], word});
    s = e;
  }
}

namespace {
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}
}  // namespace

// Joins pieces ("##" glues to the previous one) and, with cleanup, removes
// the space that joining puts before punctuation and English contractions.
std::string wordpiece_decode(const Impl& t, const std::vector<std::string>& tokens) {
  std::string out, tok;
  for (size_t i = 0; i < tokens.size(); ++i) {
    tok.clear();
    const std::string& s = tokens[i];
    if (i != 0) {
      if (!t.decoder_prefix.empty() && s.compare(0, t.decoder_prefix.size(), t.decoder_prefix) == 0)
        tok.append(s, t.decoder_prefix.size());
      else
        tok.append(" ").append(s);
    } else {
      tok = s;
    }
    if (t.decoder_cleanup) {
      replace_all(tok, " .", ".");
      replace_all(tok, " ?", "?");
      replace_all(tok, " !", "!");
      replace_all(tok, " ,", ",");
      replace_all(tok, " ' ", "'");
      replace_all(tok, " n't", "n't");
      replace_all(tok, " 'm", "'m");
      replace_all(tok, " do not", " don't");
      replace_all(tok, " 's", "'s");
      replace_all(tok, " 've", "'ve");
      replace_all(tok, " 're", "'re");
    }
    out += tok;
  }
  return out;
}

}  // namespace tessel::text::detail
