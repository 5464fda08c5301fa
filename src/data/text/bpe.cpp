// Byte-pair encoding: merges applied lowest rank first (leftmost on ties)
// with a heap, so long words stay O(n log n); GPT-2's byte <-> char map.
#include <queue>

#include "src/data/text/tokenizer_impl.h"
#include "src/data/text/utf8.h"

namespace tessel::text::detail {

const std::array<char32_t, 256>& bytes_to_chars() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> m{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      m[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
    return m;
  }();
  return table;
}

namespace {
struct Sym {
  int32_t id, first, last;  // first/last: normalized chars covered
  int32_t prev, next;
  bool alive;
};
struct Cand {
  int32_t rank, pos, left, right;
  bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};
int to_utf8(char32_t c, unsigned char* b) {
  std::string s;
  if (c < 0x80) {
    b[0] = static_cast<unsigned char>(c);
    return 1;
  }
  append_utf8(s, c);
  for (size_t k = 0; k < s.size(); ++k) b[k] = static_cast<unsigned char>(s[k]);
  return static_cast<int>(s.size());
}
uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
}  // namespace

namespace {
// Words repeat: each thread keeps the result of words up to 64 chars for the
// tokenizer it last served (ids and the chars each token covers, relative to
// the word), as HF's BPE cache does.
struct WordCache {
  uint64_t owner = 0;
  std::unordered_map<std::string, std::vector<std::array<int32_t, 3>>> words;
};
constexpr int32_t kCacheMaxChars = 64;
constexpr size_t kCacheMaxWords = 1 << 16;
}  // namespace

void bpe_word(const Impl& t, const NText& text, int32_t begin, int32_t end, int32_t word, std::string& scratch,
              std::vector<Piece>& out) {
  if (end <= begin) return;
  thread_local WordCache cache;
  thread_local std::string key;
  const bool cacheable = end - begin <= kCacheMaxChars;
  if (cacheable) {
    if (cache.owner != t.uid || cache.words.size() >= kCacheMaxWords) {
      cache.words.clear();
      cache.owner = t.uid;
    }
    key.clear();
    for (int32_t i = begin; i < end; ++i) append_utf8(key, text.cps[i]);
    auto hit = cache.words.find(key);
    if (hit != cache.words.end()) {
      for (const auto& [id, f, l] : hit->second)
        out.push_back(Piece{id, text.start[begin + f], text.end[begin + l], word});
      return;
    }
  }
  auto remember = [&](std::initializer_list<std::array<int32_t, 3>> one = {}) {
    if (cacheable) cache.words[key].assign(one.begin(), one.end());
  };
  thread_local std::vector<Sym> syms;
  syms.clear();
  auto push = [&](int32_t id, int32_t ci) {
    int32_t k = static_cast<int32_t>(syms.size());
    syms.push_back(Sym{id, ci, ci, k - 1, k + 1, true});
  };
  const auto& b2c = bytes_to_chars();
  if (t.ignore_merges) {  // a word that is itself in the vocabulary is one token
    scratch.clear();
    for (int32_t i = begin; i < end; ++i) {
      if (t.byte_level) {
        unsigned char b[4];
        for (int k = 0, n = to_utf8(text.cps[i], b); k < n; ++k) append_utf8(scratch, b2c[b[k]]);
      } else {
        append_utf8(scratch, text.cps[i]);
      }
    }
    int32_t id = t.vocab.find(scratch);
    if (id >= 0) {
      out.push_back(Piece{id, text.start[begin], text.end[end - 1], word});
      remember({{id, 0, end - 1 - begin}});
      return;
    }
  }
  for (int32_t i = begin; i < end; ++i) {
    char32_t c = text.cps[i];
    if (t.byte_level) {
      unsigned char b[4];
      for (int k = 0, len = to_utf8(c, b); k < len; ++k) {
        int32_t id = t.byte_ids[b[k]];
        if (id >= 0)
          push(id, i);
        else if (t.unk_id >= 0)
          push(t.unk_id, i);
      }
    } else {
      scratch.clear();
      append_utf8(scratch, c);
      int32_t id = t.vocab.find(scratch);
      if (id >= 0)
        push(id, i);
      else if (t.unk_id >= 0)
        push(t.unk_id, i);
    }
  }
  const int32_t n = static_cast<int32_t>(syms.size());
  if (n == 0) {
    remember();
    return;
  }
  syms.back().next = -1;

  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto consider = [&](int32_t a) {
    if (a < 0) return;
    int32_t b = syms[a].next;
    if (b < 0) return;
    auto it = t.merges.find(pair_key(syms[a].id, syms[b].id));
    if (it != t.merges.end()) heap.push(Cand{it->second.first, a, syms[a].id, syms[b].id});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    Sym& a = syms[c.pos];
    if (!a.alive || a.id != c.left || a.next < 0) continue;
    Sym& b = syms[a.next];
    if (b.id != c.right) continue;
    a.id = t.merges.find(pair_key(c.left, c.right))->second.second;
    a.last = b.last;
    b.alive = false;
    a.next = b.next;
    if (b.next >= 0) syms[b.next].prev = c.pos;
    consider(a.prev);
    consider(c.pos);
  }
  std::vector<std::array<int32_t, 3>>* entry = cacheable ? &cache.words[key] : nullptr;
  if (entry) entry->clear();
  for (int32_t i = 0; i >= 0; i = syms[i].next) {
    out.push_back(Piece{syms[i].id, text.start[syms[i].first], text.end[syms[i].last], word});
    if (entry) entry->push_back({syms[i].id, syms[i].first - begin, syms[i].last - begin});
  }
}

// Tokens -> bytes through the inverse byte map (a token with a char outside
// the map keeps its own UTF-8), then lossy UTF-8 (U+FFFD per maximal subpart).
std::string byte_level_decode(const std::vector<std::string>& tokens) {
  static const std::unordered_map<char32_t, unsigned char> inverse = [] {
    std::unordered_map<char32_t, unsigned char> m;
    const auto& b2c = bytes_to_chars();
    for (int b = 0; b < 256; ++b) m[b2c[static_cast<size_t>(b)]] = static_cast<unsigned char>(b);
    return m;
  }();
  std::string bytes, tok;
  for (const std::string& s : tokens) {
    tok.clear();
    bool ok = true;
    char32_t c;
    int bad;
    for (size_t i = 0; i < s.size();) {
      int len = decode_one(s, i, c, bad);
      auto it = len > 0 ? inverse.find(c) : inverse.end();
      if (it == inverse.end()) {
        ok = false;
        break;
      }
      tok += static_cast<char>(it->second);
      i += static_cast<size_t>(len);
    }
    bytes += ok ? tok : s;
  }
  std::string out;
  out.reserve(bytes.size());
  char32_t c;
  int bad = 0;
  for (size_t i = 0; i < bytes.size();) {
    int len = decode_one(bytes, i, c, bad);
    if (len == 0) {
      append_utf8(out, 0xFFFD);
      i += static_cast<size_t>(bad);
    } else {
      out.append(bytes, i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    }
  }
  return out;
}

}  // namespace tessel::text::detail
