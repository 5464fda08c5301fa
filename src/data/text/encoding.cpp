// UTF-8 <-> code points (by hand: the hot path of everything else) and
// transcoding between other encodings through ICU converters.
#include <unicode/ucnv.h>
#include <unicode/ucnv_err.h>

#include <cstring>
#include <memory>

#include "src/data/text/utf8.h"
#include "tessel/data/text.h"
#include "tessel/error.h"
#include "tessel/ops.h"

namespace tessel::text {

bool available() { return true; }

Errors parse_errors(std::string_view name) {
  if (name == "strict") return Errors::Strict;
  if (name == "replace") return Errors::Replace;
  if (name == "ignore") return Errors::Ignore;
  fail<ValueError>("text.errors", "errors must be 'strict', 'replace' or 'ignore', got '", name, "'");
}

namespace detail {
void check_utf8(std::string_view s, const char* op) {
  char32_t cp;
  int bad = 0;
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    int len = decode_one(s, i, cp, bad);
    if (len == 0) fail<ValueError>(op, "invalid UTF-8 at byte ", i);
    i += static_cast<size_t>(len);
  }
}
}  // namespace detail

namespace {

// Appends the code points of `s` to out; the shared core of decode_utf8(_batch).
void decode_into(std::string_view s, Errors errors, bool replace_control, std::vector<int32_t>& out) {
  char32_t cp;
  int bad = 0;
  for (size_t i = 0; i < s.size();) {
    int len = detail::decode_one(s, i, cp, bad);
    if (len == 0) {
      if (errors == Errors::Strict) fail<ValueError>("text.decode_utf8", "invalid UTF-8 at byte ", i);
      if (errors == Errors::Replace) out.push_back(0xFFFD);
      i += static_cast<size_t>(bad);
      continue;
    }
    if (replace_control && cp < 0x20) cp = 0xFFFD;
    out.push_back(static_cast<int32_t>(cp));
    i += static_cast<size_t>(len);
  }
}

Tensor to_tensor(const std::vector<int32_t>& v) {
  Tensor t = empty({static_cast<int64_t>(v.size())}, DType::Int32);
  if (!v.empty()) std::memcpy(t.data<int32_t>(), v.data(), v.size() * sizeof(int32_t));
  return t;
}

// Code points as int64 whatever the integer dtype of the tensor (a contiguous copy).
std::vector<int64_t> code_points_of(const Tensor& t, const char* op) {
  TS_CHECK(t.defined(), ValueError, op, "code points must be a tensor");
  TS_CHECK(t.dtype() == DType::Int32 || t.dtype() == DType::Int64, TypeError, op,
           "code points must be int32 or int64, got ", t.dtype());
  TS_CHECK(t.device().is_cpu(), ValueError, op, "code points must be on the CPU");
  Tensor c = t.contiguous();
  std::vector<int64_t> out(static_cast<size_t>(c.numel()));
  if (c.dtype() == DType::Int32) {
    const int32_t* p = c.data<int32_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
  } else {
    const int64_t* p = c.data<int64_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
  }
  return out;
}

void encode_into(const int64_t* cps, size_t n, size_t base, std::string& out) {
  for (size_t i = 0; i < n; ++i) {
    int64_t c = cps[i];
    if (c < 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
      fail<ValueError>("text.encode_utf8", "invalid code point ", c, " at index ", base + i);
    detail::append_utf8(out, static_cast<char32_t>(c));
  }
}

}  // namespace

Tensor decode_utf8(std::string_view bytes, Errors errors, bool replace_control_characters) {
  std::vector<int32_t> out;
  out.reserve(bytes.size());
  decode_into(bytes, errors, replace_control_characters, out);
  return to_tensor(out);
}

std::string encode_utf8(const Tensor& code_points) {
  TS_CHECK(!code_points.defined() || code_points.dim() <= 1, ValueError, "text.encode_utf8",
           "code points must be 1-D, got shape ", code_points.shape());
  std::vector<int64_t> cps = code_points_of(code_points, "text.encode_utf8");
  std::string out;
  out.reserve(cps.size());
  encode_into(cps.data(), cps.size(), 0, out);
  return out;
}

Ragged decode_utf8_batch(const std::vector<std::string>& inputs, Errors errors, bool replace_control_characters) {
  // Rows decode in parallel into their own buffers, then are concatenated; an
  // error names the first bad row whatever the thread order.
  const int64_t n = static_cast<int64_t>(inputs.size());
  std::vector<std::vector<int32_t>> rows(inputs.size());
  int64_t bad_row = n;
  std::string bad_what;
#pragma omp parallel for schedule(dynamic, 64) if (n > 256)
  for (int64_t i = 0; i < n; ++i) {
    try {
      rows[static_cast<size_t>(i)].reserve(inputs[static_cast<size_t>(i)].size());
      decode_into(inputs[static_cast<size_t>(i)], errors, replace_control_characters, rows[static_cast<size_t>(i)]);
    } catch (const ValueError& e) {
#pragma omp critical(tessel_text_decode_error)
      if (i < bad_row) bad_row = i, bad_what = e.what();
    }
  }
  if (bad_row < n) throw ValueError(bad_what + " (row " + std::to_string(bad_row) + ")");
  Tensor splits = empty({n + 1}, DType::Int64);
  int64_t* rs = splits.data<int64_t>();
  rs[0] = 0;
  for (int64_t i = 0; i < n; ++i) rs[i + 1] = rs[i] + static_cast<int64_t>(rows[static_cast<size_t>(i)].size());
  Tensor values = empty({rs[n]}, DType::Int32);
  for (int64_t i = 0; i < n; ++i) {
    const auto& r = rows[static_cast<size_t>(i)];
    if (!r.empty()) std::memcpy(values.data<int32_t>() + rs[i], r.data(), r.size() * sizeof(int32_t));
  }
  return {values, splits};
}

std::vector<std::string> encode_utf8_batch(const Ragged& code_points) {
  const char* op = "text.encode_utf8";
  std::vector<int64_t> cps = code_points_of(code_points.values, op);
  TS_CHECK(code_points.row_splits.defined() && code_points.row_splits.dtype() == DType::Int64 &&
               code_points.row_splits.dim() == 1 && code_points.row_splits.numel() >= 1,
           ValueError, op, "row_splits must be a 1-D int64 tensor with at least one element");
  Tensor rs_t = code_points.row_splits.contiguous();
  const int64_t* rs = rs_t.data<int64_t>();
  const int64_t rows = rs_t.numel() - 1;
  TS_CHECK(rs[0] == 0 && rs[rows] == static_cast<int64_t>(cps.size()), ValueError, op,
           "row_splits must start at 0 and end at len(values) = ", cps.size());
  std::vector<std::string> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    TS_CHECK(rs[r] <= rs[r + 1], ValueError, op, "row_splits must be non-decreasing (row ", r, ")");
    encode_into(cps.data() + rs[r], static_cast<size_t>(rs[r + 1] - rs[r]), static_cast<size_t>(rs[r]),
                out[static_cast<size_t>(r)]);
  }
  return out;
}

// ---- transcode ----

namespace {

struct ConverterCloser {
  void operator()(UConverter* c) const { ucnv_close(c); }
};
using Converter = std::unique_ptr<UConverter, ConverterCloser>;

Converter open_converter(const std::string& name) {
  TS_CHECK(!name.empty() && name.find('\0') == std::string::npos, ValueError, "text.transcode", "unknown encoding '",
           name, "'");
  UErrorCode err = U_ZERO_ERROR;
  Converter c(ucnv_open(name.c_str(), &err));
  if (U_FAILURE(err) || !c) fail<ValueError>("text.transcode", "unknown encoding '", name, "'");
  return c;
}

}  // namespace

std::string transcode(std::string_view bytes, const std::string& from, const std::string& to, Errors errors) {
  const char* op = "text.transcode";
  Converter src = open_converter(from), dst = open_converter(to);
  UErrorCode err = U_ZERO_ERROR;
  switch (errors) {
    case Errors::Strict:
      ucnv_setToUCallBack(src.get(), UCNV_TO_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &err);
      ucnv_setFromUCallBack(dst.get(), UCNV_FROM_U_CALLBACK_STOP, nullptr, nullptr, nullptr, &err);
      break;
    case Errors::Replace: {
      ucnv_setToUCallBack(src.get(), UCNV_TO_U_CALLBACK_SUBSTITUTE, nullptr, nullptr, nullptr, &err);
      ucnv_setFromUCallBack(dst.get(), UCNV_FROM_U_CALLBACK_SUBSTITUTE, nullptr, nullptr, nullptr, &err);
      // '?' as Python's encode(errors="replace") writes, where the charset has it.
      static const UChar question[] = {u'?'};
      UErrorCode e2 = U_ZERO_ERROR;
      ucnv_setSubstString(dst.get(), question, 1, &e2);
      break;
    }
    case Errors::Ignore:
      ucnv_setToUCallBack(src.get(), UCNV_TO_U_CALLBACK_SKIP, nullptr, nullptr, nullptr, &err);
      ucnv_setFromUCallBack(dst.get(), UCNV_FROM_U_CALLBACK_SKIP, nullptr, nullptr, nullptr, &err);
      break;
  }
  TS_CHECK(U_SUCCESS(err), ValueError, op, "cannot set up the converters: ", u_errorName(err));

  // Step 1: bytes -> UTF-16, reporting the offset of the first malformed byte.
  std::u16string u16(bytes.size() + 16, u'\0');
  const char* s = bytes.data();
  const char* s_end = bytes.data() + bytes.size();
  UChar* t = reinterpret_cast<UChar*>(u16.data());
  for (;;) {
    UChar* t_end = reinterpret_cast<UChar*>(u16.data()) + u16.size();
    err = U_ZERO_ERROR;
    ucnv_toUnicode(src.get(), &t, t_end, &s, s_end, nullptr, true, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      size_t used = static_cast<size_t>(t - reinterpret_cast<UChar*>(u16.data()));
      u16.resize(u16.size() * 2);
      t = reinterpret_cast<UChar*>(u16.data()) + used;
      continue;
    }
    if (U_FAILURE(err)) {
      char invalid[32];
      int8_t len = sizeof(invalid);
      UErrorCode e2 = U_ZERO_ERROR;
      ucnv_getInvalidChars(src.get(), invalid, &len, &e2);
      auto at = static_cast<int64_t>(s - bytes.data()) - (U_SUCCESS(e2) ? len : 0);
      fail<ValueError>(op, "invalid ", from, " at byte ", at < 0 ? 0 : at);
    }
    break;
  }
  u16.resize(static_cast<size_t>(t - reinterpret_cast<UChar*>(u16.data())));

  // Step 2: UTF-16 -> the target, reporting the index of an unencodable character.
  std::string out(u16.size() * 2 + 16, '\0');
  const UChar* us = reinterpret_cast<const UChar*>(u16.data());
  const UChar* us_end = us + u16.size();
  char* o = out.data();
  for (;;) {
    char* o_end = out.data() + out.size();
    err = U_ZERO_ERROR;
    ucnv_fromUnicode(dst.get(), &o, o_end, &us, us_end, nullptr, true, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      size_t used = static_cast<size_t>(o - out.data());
      out.resize(out.size() * 2);
      o = out.data() + used;
      continue;
    }
    if (U_FAILURE(err)) {
      // Count code points up to the failing one (us is past it).
      int64_t chars = 0;
      const UChar* base = reinterpret_cast<const UChar*>(u16.data());
      for (const UChar* p = base; p < us; ++p)
        if ((*p & 0xFC00) != 0xDC00) ++chars;
      fail<ValueError>(op, "character ", chars > 0 ? chars - 1 : 0, " cannot be encoded in ", to);
    }
    break;
  }
  out.resize(static_cast<size_t>(o - out.data()));
  return out;
}

}  // namespace tessel::text
