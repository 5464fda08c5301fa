// Unicode normalization and case mapping through ICU, UTF-8 in and out
// (ICU's UTF-8 entry points: no UTF-16 round trip).
#include <unicode/bytestream.h>
#include <unicode/casemap.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include "src/data/text/utf8.h"
#include "tessel/data/text.h"
#include "tessel/error.h"

namespace tessel::text {

NormalizationForm parse_normalization_form(std::string_view name) {
  if (name == "NFC") return NormalizationForm::NFC;
  if (name == "NFD") return NormalizationForm::NFD;
  if (name == "NFKC") return NormalizationForm::NFKC;
  if (name == "NFKD") return NormalizationForm::NFKD;
  fail<ValueError>("text.normalize", "form must be 'NFC', 'NFD', 'NFKC' or 'NFKD', got '", name, "'");
}

namespace {

const icu::Normalizer2& normalizer(NormalizationForm form) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormalizationForm::NFC:
      n = icu::Normalizer2::getNFCInstance(err);
      break;
    case NormalizationForm::NFD:
      n = icu::Normalizer2::getNFDInstance(err);
      break;
    case NormalizationForm::NFKC:
      n = icu::Normalizer2::getNFKCInstance(err);
      break;
    case NormalizationForm::NFKD:
      n = icu::Normalizer2::getNFKDInstance(err);
      break;
  }
  TS_CHECK(U_SUCCESS(err) && n, ValueError, "text.normalize", "ICU normalizer unavailable: ", u_errorName(err));
  return *n;
}

std::string run_normalizer(const icu::Normalizer2& n, std::string_view text, const char* op) {
  detail::check_utf8(text, op);
  std::string out;
  out.reserve(text.size());
  icu::StringByteSink<std::string> sink(&out);
  UErrorCode err = U_ZERO_ERROR;
  n.normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, nullptr, err);
  TS_CHECK(U_SUCCESS(err), ValueError, op, "ICU error ", u_errorName(err));
  return out;
}

template <class F>
std::string run_case_map(std::string_view text, const char* op, F&& f) {
  detail::check_utf8(text, op);
  TS_CHECK(text.size() < (1u << 31), ValueError, op, "text longer than 2 GiB");
  std::string out;
  out.reserve(text.size());
  icu::StringByteSink<std::string> sink(&out);
  UErrorCode err = U_ZERO_ERROR;
  f(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, err);
  TS_CHECK(U_SUCCESS(err), ValueError, op, "ICU error ", u_errorName(err));
  return out;
}

}  // namespace

std::string normalize(std::string_view text, NormalizationForm form) {
  return run_normalizer(normalizer(form), text, "text.normalize");
}

std::string nfkc_casefold(std::string_view text) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFKCCasefoldInstance(err);
  TS_CHECK(U_SUCCESS(err) && n, ValueError, "text.nfkc_casefold", "ICU normalizer unavailable");
  return run_normalizer(*n, text, "text.nfkc_casefold");
}

std::string case_fold(std::string_view text) {
  return run_case_map(text, "text.case_fold", [](icu::StringPiece s, icu::ByteSink& sink, UErrorCode& err) {
    icu::CaseMap::utf8Fold(U_FOLD_CASE_DEFAULT, s, sink, nullptr, err);
  });
}

std::string lower(std::string_view text, const std::string& locale) {
  return run_case_map(text, "text.lower", [&](icu::StringPiece s, icu::ByteSink& sink, UErrorCode& err) {
    icu::CaseMap::utf8ToLower(locale.c_str(), 0, s, sink, nullptr, err);
  });
}

std::string upper(std::string_view text, const std::string& locale) {
  return run_case_map(text, "text.upper", [&](icu::StringPiece s, icu::ByteSink& sink, UErrorCode& err) {
    icu::CaseMap::utf8ToUpper(locale.c_str(), 0, s, sink, nullptr, err);
  });
}

}  // namespace tessel::text
