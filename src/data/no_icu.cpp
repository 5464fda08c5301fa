// tessel::text without ICU (TESSEL_WITH_ICU=OFF): every function exists and
// throws NotImplementedError, so callers link and learn why at run time.
#include "tessel/data/text.h"
#include "tessel/error.h"

namespace tessel::text {

namespace {
[[noreturn]] void no_icu(const char* op) {
  fail<NotImplementedError>(op, "tessel was built without ICU (TESSEL_WITH_ICU=OFF)");
}
}  // namespace

bool available() { return false; }
Errors parse_errors(std::string_view) { no_icu("text.errors"); }
Tensor decode_utf8(std::string_view, Errors, bool) { no_icu("text.decode_utf8"); }
std::string encode_utf8(const Tensor&) { no_icu("text.encode_utf8"); }
Ragged decode_utf8_batch(const std::vector<std::string>&, Errors, bool) { no_icu("text.decode_utf8"); }
std::vector<std::string> encode_utf8_batch(const Ragged&) { no_icu("text.encode_utf8"); }
std::string transcode(std::string_view, const std::string&, const std::string&, Errors) { no_icu("text.transcode"); }
NormalizationForm parse_normalization_form(std::string_view) { no_icu("text.normalize"); }
std::string normalize(std::string_view, NormalizationForm) { no_icu("text.normalize"); }
std::string case_fold(std::string_view) { no_icu("text.case_fold"); }
std::string nfkc_casefold(std::string_view) { no_icu("text.nfkc_casefold"); }
std::string lower(std::string_view, const std::string&) { no_icu("text.lower"); }
std::string upper(std::string_view, const std::string&) { no_icu("text.upper"); }
SegmentUnit parse_segment_unit(std::string_view) { no_icu("text.segment"); }
std::vector<Segment> segment(std::string_view, SegmentUnit, const std::string&, bool) { no_icu("text.segment"); }

struct Tokenizer::Impl {};

Tokenizer Tokenizer::from_wordpiece_vocab(const std::string&, bool, const std::string&, int64_t) {
  no_icu("text.tokenizer");
}
Tokenizer Tokenizer::from_wordpiece_vocab_string(std::string_view, bool, const std::string&, int64_t) {
  no_icu("text.tokenizer");
}
Tokenizer Tokenizer::from_bpe_files(const std::string&, const std::string&, bool) { no_icu("text.tokenizer"); }
Tokenizer Tokenizer::from_bpe_strings(std::string_view, std::string_view, bool) { no_icu("text.tokenizer"); }
Tokenizer Tokenizer::from_file(const std::string&) { no_icu("text.tokenizer"); }
Tokenizer Tokenizer::from_json_string(std::string_view, const std::string&) { no_icu("text.tokenizer"); }
Encoding Tokenizer::encode(std::string_view, const std::optional<std::string_view>&, bool) const {
  no_icu("text.encode");
}
Encoding Tokenizer::encode(std::string_view, const std::optional<std::string_view>&, bool,
                           const TruncationOptions&) const {
  no_icu("text.encode");
}
BatchEncoding Tokenizer::encode_batch(const std::vector<std::string>&, const std::vector<std::string>&, bool,
                                      const TruncationOptions&, const PaddingOptions&, int) const {
  no_icu("text.encode_batch");
}
std::string Tokenizer::decode(const std::vector<int64_t>&, bool) const { no_icu("text.decode"); }
std::optional<int64_t> Tokenizer::token_to_id(std::string_view) const { no_icu("text.token_to_id"); }
std::string Tokenizer::id_to_token(int64_t) const { no_icu("text.id_to_token"); }
int64_t Tokenizer::vocab_size() const { no_icu("text.vocab_size"); }
int64_t Tokenizer::num_special_tokens_to_add(bool) const { no_icu("text.tokenizer"); }
const TruncationOptions& Tokenizer::default_truncation() const { no_icu("text.tokenizer"); }
const PaddingOptions& Tokenizer::default_padding() const { no_icu("text.tokenizer"); }

}  // namespace tessel::text
