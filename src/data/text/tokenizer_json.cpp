// Loading tokenizers: vocab.txt (WordPiece), vocab.json + merges.txt
// (byte-level BPE) and Hugging Face tokenizer.json. Every malformed or
// unsupported input raises ValueError naming the file and the line or component.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "src/data/text/tokenizer_impl.h"
#include "src/data/text/utf8.h"
#include "src/io/json.h"
#include "tessel/error.h"
#include "tessel/io.h"

namespace tessel::text {

using detail::Impl;
using io::JsonValue;

namespace detail {

void TokenMap::grow() {
  std::vector<Slot> old = std::move(slots_);
  size_t cap = old.empty() ? 64 : old.size() * 2;
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.id < 0) continue;
    for (uint64_t h = hash(std::string_view(arena_.data() + s.off, s.len)) & mask_;; h = (h + 1) & mask_) {
      if (slots_[h].id < 0) {
        slots_[h] = s;
        break;
      }
    }
  }
}

void TokenMap::insert(std::string_view key, int32_t id) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  for (uint64_t h = hash(key) & mask_;; h = (h + 1) & mask_) {
    Slot& s = slots_[h];
    if (s.id < 0) {
      s.off = static_cast<uint32_t>(arena_.size());
      s.len = static_cast<uint32_t>(key.size());
      s.id = id;
      arena_.append(key);
      ++count_;
      max_len_ = std::max(max_len_, key.size());
      return;
    }
    if (s.len == key.size() && std::string_view(arena_.data() + s.off, s.len) == key) {
      s.id = id;
      return;
    }
  }
}

}  // namespace detail

namespace {

constexpr const char* kOp = "text.tokenizer";
constexpr int64_t kMaxId = int64_t{1} << 24;  // far above any real vocabulary; bounds the id tables

std::string read_whole_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    int e = errno;
    throw FileError(tessel::detail::cat("[", kOp, "] cannot open '", path, "': ", std::strerror(e)), e);
  }
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) throw FileError(tessel::detail::cat("[", kOp, "] cannot read '", path, "'"), EIO);
  return out;
}

const JsonValue* get(const JsonValue& obj, std::string_view key) {
  if (obj.kind != JsonValue::Kind::Object) return nullptr;
  for (const auto& [k, v] : obj.members)
    if (k == key) return &v;
  return nullptr;
}

struct Reader {
  const std::string& name;

  [[noreturn]] void bad(const std::string& what) const { fail<ValueError>(kOp, name, ": ", what); }

  bool boolean(const JsonValue& obj, std::string_view key, bool dflt, const char* where) const {
    const JsonValue* v = get(obj, key);
    if (!v || v->kind == JsonValue::Kind::Null) return dflt;
    if (v->kind != JsonValue::Kind::Bool) bad(tessel::detail::cat(where, ".", key, " must be a boolean"));
    return v->boolean;
  }
  int64_t integer(const JsonValue& v, const std::string& where) const {
    auto x = v.kind == JsonValue::Kind::Number ? v.as_uint64() : std::nullopt;
    if (!x || *x >= static_cast<uint64_t>(kMaxId)) bad(where + " must be an integer in [0, 2^24)");
    return static_cast<int64_t>(*x);
  }
  int64_t integer(const JsonValue& obj, std::string_view key, int64_t dflt, const char* where) const {
    const JsonValue* v = get(obj, key);
    if (!v || v->kind == JsonValue::Kind::Null) return dflt;
    return integer(*v, tessel::detail::cat(where, ".", key));
  }
  std::optional<std::string> string(const JsonValue& obj, std::string_view key, const char* where) const {
    const JsonValue* v = get(obj, key);
    if (!v || v->kind == JsonValue::Kind::Null) return std::nullopt;
    if (v->kind != JsonValue::Kind::String) bad(tessel::detail::cat(where, ".", key, " must be a string"));
    return v->text;
  }
  std::string type(const JsonValue& obj, const char* where) const {
    if (obj.kind != JsonValue::Kind::Object) bad(tessel::detail::cat(where, " must be an object"));
    auto t = string(obj, "type", where);
    if (!t) bad(tessel::detail::cat(where, " has no type"));
    return *t;
  }
};

using Entries = std::vector<std::pair<std::string, int32_t>>;

// Tables derived once everything is read: ids, continuation pieces, byte symbols, added tokens.
void finish(Impl& t, const Entries& vocab) {
  static std::atomic<uint64_t> next_uid{1};
  t.uid = next_uid++;
  size_t n = 0;
  for (const auto& [tok, id] : vocab) n = std::max(n, static_cast<size_t>(id) + 1);
  for (const auto& a : t.added) n = std::max(n, static_cast<size_t>(a.id) + 1);
  // Real vocabularies are dense; a sparse one would only make the id tables huge.
  if (n > vocab.size() + t.added.size() + 65536)
    fail<ValueError>(kOp, t.name, ": ids up to ", n - 1, " for ", vocab.size() + t.added.size(),
                     " tokens (too sparse)");
  t.id_tokens.assign(n, std::string());
  t.id_present.assign(n, 0);
  t.id_special.assign(n, 0);
  for (const auto& [tok, id] : vocab) {
    t.vocab.insert(tok, id);
    t.token_ids.insert(tok, id);
    t.id_tokens[static_cast<size_t>(id)] = tok;
    t.id_present[static_cast<size_t>(id)] = 1;
    if (t.model == Impl::Model::WordPiece && !t.wp_prefix.empty() && tok.size() > t.wp_prefix.size() &&
        tok.compare(0, t.wp_prefix.size(), t.wp_prefix) == 0)
      t.continuing.insert(std::string_view(tok).substr(t.wp_prefix.size()), id);
  }
  if (t.model == Impl::Model::WordPiece && t.wp_prefix.empty())
    for (const auto& [tok, id] : vocab) t.continuing.insert(tok, id);
  for (const auto& a : t.added) {
    t.token_ids.insert(a.content, a.id);
    t.id_tokens[static_cast<size_t>(a.id)] = a.content;
    t.id_present[static_cast<size_t>(a.id)] = 1;
    t.id_special[static_cast<size_t>(a.id)] = a.special;
  }
  t.added.erase(std::remove_if(t.added.begin(), t.added.end(), [](const auto& a) { return a.content.empty(); }),
                t.added.end());
  std::stable_sort(t.added.begin(), t.added.end(),
                   [](const auto& a, const auto& b) { return a.content.size() > b.content.size(); });
  t.added_first_byte.fill(0);
  for (const auto& a : t.added) t.added_first_byte[static_cast<unsigned char>(a.content[0])] = 1;
  const auto& b2c = detail::bytes_to_chars();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    detail::append_utf8(s, b2c[static_cast<size_t>(b)]);
    t.byte_ids[static_cast<size_t>(b)] = t.vocab.find(s);
  }
  auto pad = t.padding.pad_id;
  if (pad && *pad >= static_cast<int64_t>(n))
    fail<ValueError>(kOp, t.name, ": padding.pad_id ", *pad, " is not in the vocabulary");
  if (pad)
    t.pad_id = *pad;
  else if (int32_t p = t.token_ids.find("[PAD]"); p >= 0)
    t.pad_id = p;
  else if (int32_t q = t.token_ids.find("<pad>"); q >= 0)
    t.pad_id = q;
  else
    t.pad_id = 0;
  if (t.pad_id >= static_cast<int64_t>(n)) t.pad_id = 0;
}

Entries read_vocab_object(const Reader& r, const JsonValue& v, const char* where) {
  if (v.kind != JsonValue::Kind::Object) r.bad(tessel::detail::cat(where, " must be an object of token -> id"));
  Entries out;
  out.reserve(v.members.size());
  for (const auto& [tok, id] : v.members)
    out.emplace_back(tok, static_cast<int32_t>(r.integer(id, tessel::detail::cat(where, "['", tok, "']"))));
  return out;
}

// A merge "a b" -> (rank, id of ab); both parts and the result must be in the vocabulary.
void add_merge(Impl& t, const Reader& r, std::string_view a, std::string_view b, int32_t rank,
               const std::string& where) {
  int32_t ia = t.vocab.find(a), ib = t.vocab.find(b);
  std::string ab(a);
  ab += b;
  int32_t iab = t.vocab.find(ab);
  if (ia < 0 || ib < 0 || iab < 0)
    r.bad(tessel::detail::cat(where, ": merge '", a, " ", b, "' uses a token that is not in the vocabulary"));
  t.merges.emplace((static_cast<uint64_t>(static_cast<uint32_t>(ia)) << 32) | static_cast<uint32_t>(ib),
                   std::pair<int32_t, int32_t>{rank, iab});
}

void read_merges_txt(Impl& t, const Reader& r, std::string_view text) {
  int32_t rank = 0;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size() ||
        line.find(' ', sp + 1) != std::string_view::npos)
      r.bad(tessel::detail::cat("line ", line_no, ": a merge must be two tokens separated by one space"));
    add_merge(t, r, line.substr(0, sp), line.substr(sp + 1), rank++, tessel::detail::cat("line ", line_no));
  }
}

// ---- tokenizer.json components ----

void read_normalizer(Impl& t, const Reader& r, const JsonValue& v) {
  if (v.kind == JsonValue::Kind::Null) return;
  std::string type = r.type(v, "normalizer");
  using K = detail::NormStep::Kind;
  detail::NormStep s{K::Bert};
  if (type == "BertNormalizer") {
    s.clean_text = r.boolean(v, "clean_text", true, "normalizer");
    s.handle_chinese_chars = r.boolean(v, "handle_chinese_chars", true, "normalizer");
    s.lowercase = r.boolean(v, "lowercase", true, "normalizer");
    s.strip_accents = r.boolean(v, "strip_accents", s.lowercase, "normalizer");
  } else if (type == "Lowercase") {
    s.kind = K::Lowercase;
  } else if (type == "NFC") {
    s.kind = K::NFC;
  } else if (type == "NFD") {
    s.kind = K::NFD;
  } else if (type == "NFKC") {
    s.kind = K::NFKC;
  } else if (type == "NFKD") {
    s.kind = K::NFKD;
  } else if (type == "StripAccents") {
    s.kind = K::StripAccents;
  } else if (type == "Sequence") {
    const JsonValue* list = get(v, "normalizers");
    if (!list || list->kind != JsonValue::Kind::Array) r.bad("normalizer Sequence needs a list 'normalizers'");
    for (const auto& item : list->items) read_normalizer(t, r, item);
    return;
  } else {
    r.bad(tessel::detail::cat("unsupported normalizer type '", type, "'"));
  }
  t.normalizers.push_back(s);
}

void read_pre_tokenizer(Impl& t, const Reader& r, const JsonValue& v) {
  if (v.kind == JsonValue::Kind::Null) return;
  std::string type = r.type(v, "pre_tokenizer");
  using K = detail::PreTokStep::Kind;
  detail::PreTokStep s{K::Bert};
  if (type == "BertPreTokenizer") {
  } else if (type == "ByteLevel") {
    s.kind = K::ByteLevel;
    s.add_prefix_space = r.boolean(v, "add_prefix_space", true, "pre_tokenizer");
    s.use_regex = r.boolean(v, "use_regex", true, "pre_tokenizer");
    if (!t.pre_tokenizers.empty() && s.add_prefix_space)
      r.bad("pre_tokenizer ByteLevel with add_prefix_space is supported only as the first pre-tokenizer");
    t.byte_level = true;
  } else if (type == "Whitespace") {
    s.kind = K::Whitespace;
  } else if (type == "WhitespaceSplit") {
    s.kind = K::WhitespaceSplit;
  } else if (type == "Sequence") {
    const JsonValue* list = get(v, "pretokenizers");
    if (!list || list->kind != JsonValue::Kind::Array) r.bad("pre_tokenizer Sequence needs a list 'pretokenizers'");
    for (const auto& item : list->items) read_pre_tokenizer(t, r, item);
    return;
  } else {
    r.bad(tessel::detail::cat("unsupported pre_tokenizer type '", type, "'"));
  }
  t.pre_tokenizers.push_back(s);
}

// ["[SEP]", 102] as in BertProcessing/RobertaProcessing.
int32_t token_pair(const Reader& r, const JsonValue& v, const char* key) {
  const JsonValue* p = get(v, key);
  if (!p || p->kind != JsonValue::Kind::Array || p->items.size() != 2 || p->items[0].kind != JsonValue::Kind::String)
    r.bad(tessel::detail::cat("post_processor.", key, " must be [token, id]"));
  return static_cast<int32_t>(r.integer(p->items[1], tessel::detail::cat("post_processor.", key, "[1]")));
}

void read_template(Impl& t, const Reader& r, const JsonValue& v) {
  std::unordered_map<std::string, std::vector<int32_t>> ids;
  if (const JsonValue* st = get(v, "special_tokens"); st && st->kind == JsonValue::Kind::Object) {
    for (const auto& [name, tok] : st->members) {
      const JsonValue* list = get(tok, "ids");
      if (!list || list->kind != JsonValue::Kind::Array)
        r.bad(tessel::detail::cat("post_processor special token '", name, "' has no ids"));
      auto& out = ids[name];
      for (const auto& id : list->items)
        out.push_back(static_cast<int32_t>(r.integer(id, "post_processor special token id")));
    }
  }
  auto read = [&](const char* key, std::vector<detail::TemplatePiece>& out) {
    const JsonValue* list = get(v, key);
    if (!list || list->kind != JsonValue::Kind::Array)
      r.bad(tessel::detail::cat("post_processor.", key, " must be a list"));
    for (const auto& item : list->items) {
      detail::TemplatePiece p;
      if (const JsonValue* s = get(item, "SpecialToken")) {
        auto id = r.string(*s, "id", "post_processor");
        if (!id || !ids.count(*id)) r.bad(tessel::detail::cat("post_processor.", key, ": unknown special token"));
        p.special = true;
        p.ids = ids[*id];
        p.type_id = r.integer(*s, "type_id", 0, "post_processor");
      } else if (const JsonValue* q = get(item, "Sequence")) {
        auto id = r.string(*q, "id", "post_processor");
        if (!id || (*id != "A" && *id != "B"))
          r.bad(tessel::detail::cat("post_processor.", key, ": sequence id must be A or B"));
        p.sequence = *id == "A" ? 0 : 1;
        p.type_id = r.integer(*q, "type_id", 0, "post_processor");
      } else {
        r.bad(tessel::detail::cat("post_processor.", key, ": pieces must be SpecialToken or Sequence"));
      }
      out.push_back(std::move(p));
    }
  };
  read("single", t.single);
  read("pair", t.pair);
  t.has_template = true;
}

void read_post_processor(Impl& t, const Reader& r, const JsonValue& v) {
  if (v.kind == JsonValue::Kind::Null) return;
  std::string type = r.type(v, "post_processor");
  using P = detail::TemplatePiece;
  if (type == "TemplateProcessing") {
    read_template(t, r, v);
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    int32_t sep = token_pair(r, v, "sep"), cls = token_pair(r, v, "cls");
    const bool bert = type == "BertProcessing";
    t.single = {P{true, 0, {cls}, 0}, P{false, 0, {}, 0}, P{true, 0, {sep}, 0}};
    if (bert)
      t.pair = {P{true, 0, {cls}, 0}, P{false, 0, {}, 0}, P{true, 0, {sep}, 0}, P{false, 1, {}, 1},
                P{true, 0, {sep}, 1}};
    else
      t.pair = {P{true, 0, {cls}, 0}, P{false, 0, {}, 0}, P{true, 0, {sep, sep}, 0}, P{false, 1, {}, 0},
                P{true, 0, {sep}, 0}};
    t.has_template = true;
    if (!bert && r.boolean(v, "trim_offsets", true, "post_processor")) {
      t.trim_offsets = true;
      t.trim_add_prefix_space = r.boolean(v, "add_prefix_space", true, "post_processor");
    }
  } else if (type == "ByteLevel") {
    if (r.boolean(v, "trim_offsets", true, "post_processor")) {
      t.trim_offsets = true;
      t.trim_add_prefix_space = r.boolean(v, "add_prefix_space", true, "post_processor");
    }
  } else if (type == "Sequence") {
    const JsonValue* list = get(v, "processors");
    if (!list || list->kind != JsonValue::Kind::Array) r.bad("post_processor Sequence needs a list 'processors'");
    for (const auto& item : list->items) read_post_processor(t, r, item);
  } else {
    r.bad(tessel::detail::cat("unsupported post_processor type '", type, "'"));
  }
}

void read_decoder(Impl& t, const Reader& r, const JsonValue& v) {
  if (v.kind == JsonValue::Kind::Null) return;
  std::string type = r.type(v, "decoder");
  if (type == "WordPiece") {
    t.decoder = Impl::Decoder::WordPiece;
    t.decoder_prefix = r.string(v, "prefix", "decoder").value_or("##");
    t.decoder_cleanup = r.boolean(v, "cleanup", true, "decoder");
  } else if (type == "ByteLevel") {
    t.decoder = Impl::Decoder::ByteLevel;
  } else {
    r.bad(tessel::detail::cat("unsupported decoder type '", type, "'"));
  }
}

void read_model(Impl& t, const Reader& r, const JsonValue& m, Entries& vocab) {
  if (m.kind != JsonValue::Kind::Object) r.bad("model must be an object");
  std::string type = r.string(m, "type", "model").value_or(get(m, "merges") ? "BPE" : "WordPiece");
  const JsonValue* v = get(m, "vocab");
  if (!v) r.bad("model has no vocab");
  vocab = read_vocab_object(r, *v, "model.vocab");
  if (type == "WordPiece") {
    t.model = Impl::Model::WordPiece;
    t.wp_prefix = r.string(m, "continuing_subword_prefix", "model").value_or("##");
    t.max_input_chars_per_word = r.integer(m, "max_input_chars_per_word", 100, "model");
    std::string unk = r.string(m, "unk_token", "model").value_or("[UNK]");
    auto it = std::find_if(vocab.begin(), vocab.end(), [&](const auto& e) { return e.first == unk; });
    if (it == vocab.end()) r.bad(tessel::detail::cat("model.unk_token '", unk, "' is not in the vocabulary"));
    t.unk_id = it->second;
  } else if (type == "BPE") {
    t.model = Impl::Model::BPE;
    if (auto d = get(m, "dropout"); d && d->kind != JsonValue::Kind::Null) r.bad("unsupported BPE option dropout");
    if (r.boolean(m, "byte_fallback", false, "model")) r.bad("unsupported BPE option byte_fallback");
    if (!r.string(m, "continuing_subword_prefix", "model").value_or("").empty())
      r.bad("unsupported BPE option continuing_subword_prefix");
    if (!r.string(m, "end_of_word_suffix", "model").value_or("").empty())
      r.bad("unsupported BPE option end_of_word_suffix");
    t.ignore_merges = r.boolean(m, "ignore_merges", false, "model");
    if (auto unk = r.string(m, "unk_token", "model")) {
      auto it = std::find_if(vocab.begin(), vocab.end(), [&](const auto& e) { return e.first == *unk; });
      if (it == vocab.end()) r.bad(tessel::detail::cat("model.unk_token '", *unk, "' is not in the vocabulary"));
      t.unk_id = it->second;
    }
  } else {
    r.bad(tessel::detail::cat("unsupported model type '", type, "'"));
  }
}

void read_truncation_padding(Impl& t, const Reader& r, const JsonValue& doc) {
  if (const JsonValue* tr = get(doc, "truncation"); tr && tr->kind != JsonValue::Kind::Null) {
    if (tr->kind != JsonValue::Kind::Object) r.bad("truncation must be an object");
    t.truncation.max_length = r.integer(*tr, "max_length", 512, "truncation");
    std::string s = r.string(*tr, "strategy", "truncation").value_or("LongestFirst");
    if (s == "LongestFirst")
      t.truncation.strategy = TruncationStrategy::LongestFirst;
    else if (s == "OnlyFirst")
      t.truncation.strategy = TruncationStrategy::OnlyFirst;
    else if (s == "OnlySecond")
      t.truncation.strategy = TruncationStrategy::OnlySecond;
    else
      r.bad(tessel::detail::cat("unsupported truncation strategy '", s, "'"));
    t.truncation.left = r.string(*tr, "direction", "truncation").value_or("Right") == "Left";
    if (r.integer(*tr, "stride", 0, "truncation") != 0) r.bad("unsupported truncation stride (must be 0)");
  }
  if (const JsonValue* pd = get(doc, "padding"); pd && pd->kind != JsonValue::Kind::Null) {
    if (pd->kind != JsonValue::Kind::Object) r.bad("padding must be an object");
    const JsonValue* s = get(*pd, "strategy");
    if (s && s->kind == JsonValue::Kind::Object && get(*s, "Fixed")) {
      t.padding.strategy = PaddingStrategy::MaxLength;
      t.padding.max_length = r.integer(*get(*s, "Fixed"), "padding.strategy.Fixed");
    } else {
      t.padding.strategy = PaddingStrategy::Longest;
    }
    t.padding.left = r.string(*pd, "direction", "padding").value_or("Right") == "Left";
    t.padding.pad_to_multiple_of = r.integer(*pd, "pad_to_multiple_of", 0, "padding");
    t.padding.pad_type_id = r.integer(*pd, "pad_type_id", 0, "padding");
    if (get(*pd, "pad_id")) t.padding.pad_id = r.integer(*pd, "pad_id", 0, "padding");
  }
}

void check_ids(const Reader& r, const Impl& t) {
  if (t.unk_id >= static_cast<int32_t>(t.id_tokens.size())) r.bad("unk id out of range");
  for (const auto* list : {&t.single, &t.pair})
    for (const auto& p : *list)
      for (int32_t id : p.ids)
        if (id < 0 || id >= static_cast<int32_t>(t.id_tokens.size()) || !t.id_present[static_cast<size_t>(id)])
          r.bad(tessel::detail::cat("post_processor special token id ", id, " is not in the vocabulary"));
}

Entries read_vocab_txt(const Reader& r, std::string_view text) {
  Entries out;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (!io::is_valid_utf8(line)) r.bad(tessel::detail::cat("line ", line_no, ": invalid UTF-8"));
    if (line.empty()) r.bad(tessel::detail::cat("line ", line_no, ": empty token"));
    if (static_cast<int64_t>(out.size()) >= kMaxId) r.bad(tessel::detail::cat("line ", line_no, ": too many tokens"));
    out.emplace_back(std::string(line), static_cast<int32_t>(out.size()));
  }
  if (out.empty()) r.bad("empty vocabulary");
  return out;
}

}  // namespace

Tokenizer Tokenizer::from_json_string(std::string_view json, const std::string& name) {
  Reader r{name};
  if (!io::is_valid_utf8(json)) r.bad("not valid UTF-8");
  JsonValue doc;
  std::string error;
  if (!io::parse_json(json, doc, error)) r.bad("malformed JSON: " + error);
  if (doc.kind != JsonValue::Kind::Object) r.bad("the top level must be an object");
  auto t = std::make_shared<Tokenizer::Impl>();
  t->name = name;
  const JsonValue* model = get(doc, "model");
  if (!model) r.bad("no model");
  Entries vocab;
  JsonValue null;
  read_normalizer(*t, r, get(doc, "normalizer") ? *get(doc, "normalizer") : null);
  read_pre_tokenizer(*t, r, get(doc, "pre_tokenizer") ? *get(doc, "pre_tokenizer") : null);
  read_model(*t, r, *model, vocab);
  read_post_processor(*t, r, get(doc, "post_processor") ? *get(doc, "post_processor") : null);
  read_decoder(*t, r, get(doc, "decoder") ? *get(doc, "decoder") : null);
  read_truncation_padding(*t, r, doc);
  if (const JsonValue* added = get(doc, "added_tokens"); added && added->kind != JsonValue::Kind::Null) {
    if (added->kind != JsonValue::Kind::Array) r.bad("added_tokens must be a list");
    for (const auto& a : added->items) {
      detail::AddedToken tok;
      auto content = r.string(a, "content", "added_tokens");
      if (!content || content->empty()) r.bad("added_tokens entries need a non-empty content");
      tok.content = *content;
      tok.id = static_cast<int32_t>(r.integer(a, "id", 0, "added_tokens"));
      if (!get(a, "id")) r.bad(tessel::detail::cat("added token '", tok.content, "' has no id"));
      tok.special = r.boolean(a, "special", false, "added_tokens");
      tok.lstrip = r.boolean(a, "lstrip", false, "added_tokens");
      tok.rstrip = r.boolean(a, "rstrip", false, "added_tokens");
      tok.single_word = r.boolean(a, "single_word", false, "added_tokens");
      t->added.push_back(std::move(tok));
    }
  }
  if (t->model == Impl::Model::BPE) {
    // merges need the vocabulary's map first.
    for (const auto& [tok, id] : vocab) t->vocab.insert(tok, id);
    const JsonValue* merges = get(*model, "merges");
    if (!merges || merges->kind != JsonValue::Kind::Array) r.bad("model.merges must be a list");
    int32_t rank = 0;
    for (const auto& m : merges->items) {
      std::string where = tessel::detail::cat("model.merges[", rank, "]");
      if (m.kind == JsonValue::Kind::String) {
        size_t sp = m.text.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 >= m.text.size()) r.bad(where + ": a merge must be 'a b'");
        add_merge(*t, r, std::string_view(m.text).substr(0, sp), std::string_view(m.text).substr(sp + 1), rank, where);
      } else if (m.kind == JsonValue::Kind::Array && m.items.size() == 2 &&
                 m.items[0].kind == JsonValue::Kind::String && m.items[1].kind == JsonValue::Kind::String) {
        add_merge(*t, r, m.items[0].text, m.items[1].text, rank, where);
      } else {
        r.bad(where + ": a merge must be 'a b' or [a, b]");
      }
      ++rank;
    }
    t->vocab = detail::TokenMap();
  }
  finish(*t, vocab);
  check_ids(r, *t);
  return Tokenizer(std::move(t));
}

Tokenizer Tokenizer::from_file(const std::string& path) { return from_json_string(read_whole_file(path), path); }

namespace {
Tokenizer wordpiece_from_entries(const std::string& name, Entries vocab, bool lowercase, const std::string& unk_token,
                                 int64_t max_chars) {
  Reader r{name};
  TS_CHECK(max_chars > 0, ValueError, kOp, "max_input_chars_per_word must be > 0, got ", max_chars);
  auto t = std::make_shared<Tokenizer::Impl>();
  t->name = name;
  t->model = Impl::Model::WordPiece;
  t->max_input_chars_per_word = max_chars;
  detail::NormStep n{detail::NormStep::Kind::Bert};
  n.lowercase = n.strip_accents = lowercase;
  t->normalizers.push_back(n);
  t->pre_tokenizers.push_back(detail::PreTokStep{detail::PreTokStep::Kind::Bert});
  t->decoder = Impl::Decoder::WordPiece;
  auto find = [&](const std::string& tok) -> int32_t {
    int32_t id = -1;
    for (const auto& [k, v] : vocab)
      if (k == tok) id = v;
    return id;
  };
  t->unk_id = find(unk_token);
  if (t->unk_id < 0) r.bad(tessel::detail::cat("the unknown token '", unk_token, "' is not in the vocabulary"));
  for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    if (int32_t id = find(s); id >= 0) t->added.push_back(detail::AddedToken{s, id});
  if (unk_token != "[UNK]") t->added.push_back(detail::AddedToken{unk_token, t->unk_id});
  int32_t cls = find("[CLS]"), sep = find("[SEP]");
  if (cls >= 0 && sep >= 0) {
    using P = detail::TemplatePiece;
    t->single = {P{true, 0, {cls}, 0}, P{false, 0, {}, 0}, P{true, 0, {sep}, 0}};
    t->pair = {P{true, 0, {cls}, 0}, P{false, 0, {}, 0}, P{true, 0, {sep}, 0}, P{false, 1, {}, 1},
               P{true, 0, {sep}, 1}};
    t->has_template = true;
  }
  finish(*t, vocab);
  return Tokenizer(std::move(t));
}
}  // namespace

Tokenizer Tokenizer::from_wordpiece_vocab_string(std::string_view vocab, bool lowercase, const std::string& unk_token,
                                                 int64_t max_input_chars_per_word) {
  Reader r{"<vocab>"};
  return wordpiece_from_entries("<vocab>", read_vocab_txt(r, vocab), lowercase, unk_token, max_input_chars_per_word);
}

Tokenizer Tokenizer::from_wordpiece_vocab(const std::string& path, bool lowercase, const std::string& unk_token,
                                          int64_t max_input_chars_per_word) {
  Reader r{path};
  return wordpiece_from_entries(path, read_vocab_txt(r, read_whole_file(path)), lowercase, unk_token,
                                max_input_chars_per_word);
}

namespace {
Tokenizer bpe_from(const std::string& vocab_name, std::string_view vocab_json, const std::string& merges_name,
                   std::string_view merges_txt, bool add_prefix_space) {
  Reader rv{vocab_name}, rm{merges_name};
  if (!io::is_valid_utf8(vocab_json)) rv.bad("not valid UTF-8");
  if (!io::is_valid_utf8(merges_txt)) rm.bad("not valid UTF-8");
  JsonValue doc;
  std::string error;
  if (!io::parse_json(vocab_json, doc, error)) rv.bad("malformed JSON: " + error);
  Entries vocab = read_vocab_object(rv, doc, "vocabulary");
  auto t = std::make_shared<Tokenizer::Impl>();
  t->name = vocab_name;
  t->model = Impl::Model::BPE;
  t->byte_level = true;
  detail::PreTokStep p{detail::PreTokStep::Kind::ByteLevel};
  p.add_prefix_space = add_prefix_space;
  t->pre_tokenizers.push_back(p);
  t->decoder = Impl::Decoder::ByteLevel;
  for (const auto& [tok, id] : vocab) t->vocab.insert(tok, id);
  read_merges_txt(*t, rm, merges_txt);
  t->vocab = detail::TokenMap();
  finish(*t, vocab);
  return Tokenizer(std::move(t));
}
}  // namespace

Tokenizer Tokenizer::from_bpe_strings(std::string_view vocab_json, std::string_view merges_txt, bool add_prefix_space) {
  return bpe_from("<vocab.json>", vocab_json, "<merges.txt>", merges_txt, add_prefix_space);
}

Tokenizer Tokenizer::from_bpe_files(const std::string& vocab_json, const std::string& merges_txt,
                                    bool add_prefix_space) {
  return bpe_from(vocab_json, read_whole_file(vocab_json), merges_txt, read_whole_file(merges_txt), add_prefix_space);
}

}  // namespace tessel::text
