// Grapheme/word/sentence/line segmentation with ICU BreakIterator over a
// UTF-8 UText, so boundaries come out in bytes and are counted into chars once.
#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/utext.h>

#include <memory>

#include "src/data/text/utf8.h"
#include "tessel/data/text.h"
#include "tessel/error.h"

namespace tessel::text {

SegmentUnit parse_segment_unit(std::string_view name) {
  if (name == "grapheme" || name == "character") return SegmentUnit::Grapheme;
  if (name == "word") return SegmentUnit::Word;
  if (name == "sentence") return SegmentUnit::Sentence;
  if (name == "line") return SegmentUnit::Line;
  fail<ValueError>("text.segment", "unit must be 'grapheme', 'word', 'sentence' or 'line', got '", name, "'");
}

std::vector<Segment> segment(std::string_view text, SegmentUnit unit, const std::string& locale, bool words_only) {
  const char* op = "text.segment";
  detail::check_utf8(text, op);
  TS_CHECK(text.size() < (1u << 31), ValueError, op, "text longer than 2 GiB");
  TS_CHECK(locale.find('\0') == std::string::npos, ValueError, op, "invalid locale");
  TS_CHECK(!words_only || unit == SegmentUnit::Word, ValueError, op, "words_only applies to unit='word' only");
  icu::Locale loc(locale.c_str());
  TS_CHECK(!loc.isBogus(), ValueError, op, "invalid locale '", locale, "'");
  UErrorCode err = U_ZERO_ERROR;
  std::unique_ptr<icu::BreakIterator> it;
  switch (unit) {
    case SegmentUnit::Grapheme:
      it.reset(icu::BreakIterator::createCharacterInstance(loc, err));
      break;
    case SegmentUnit::Word:
      it.reset(icu::BreakIterator::createWordInstance(loc, err));
      break;
    case SegmentUnit::Sentence:
      it.reset(icu::BreakIterator::createSentenceInstance(loc, err));
      break;
    case SegmentUnit::Line:
      it.reset(icu::BreakIterator::createLineInstance(loc, err));
      break;
  }
  TS_CHECK(U_SUCCESS(err) && it, ValueError, op, "ICU break iterator unavailable for '", locale, "'");

  UText* ut = utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &err);
  TS_CHECK(U_SUCCESS(err), ValueError, op, "ICU error ", u_errorName(err));
  std::unique_ptr<UText, decltype(&utext_close)> guard(ut, &utext_close);
  it->setText(ut, err);
  TS_CHECK(U_SUCCESS(err), ValueError, op, "ICU error ", u_errorName(err));

  std::vector<Segment> out;
  int64_t chars = 0;  // code points before `prev`
  int32_t prev = it->first();
  for (int32_t b = it->next(); b != icu::BreakIterator::DONE; prev = b, b = it->next()) {
    int64_t n = 0;  // code points in [prev, b): count the non-continuation bytes
    for (int32_t i = prev; i < b; ++i) n += (static_cast<unsigned char>(text[static_cast<size_t>(i)]) & 0xC0) != 0x80;
    int32_t status = it->getRuleStatus();
    if (!words_only || status >= 100) out.push_back(Segment{chars, chars + n, prev, b, status});
    chars += n;
  }
  return out;
}

}  // namespace tessel::text
