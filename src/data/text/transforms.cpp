// Text for the data loader: the "text" decoder (a file's UTF-8 bytes, checked)
// and the Tokenize transform. Only the public API is used, so this file builds
// without ICU too (the functions it calls then raise).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "tessel/data/loader.h"
#include "tessel/data/text.h"
#include "tessel/io.h"
#include "tessel/ops.h"

namespace tessel::text {
namespace {

std::string_view bytes_of(const char* op, const Tensor& t) {
  TS_CHECK(t.dtype() == DType::UInt8 && t.dim() == 1, TypeError, op, "expects UTF-8 bytes as a 1-d uint8 tensor, got ",
           t.dtype(), " of shape ", t.shape());
  const Tensor c = t.contiguous();
  return {static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.numel())};
}

const bool registered = [] {
  data::register_decoder("text", [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      const int e = errno;
      throw FileError(detail::cat("[text.read] cannot open '", path, "': ", std::strerror(e)), e);
    }
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    decode_utf8(s, Errors::Strict);  // invalid UTF-8 raises here, naming the byte
    Tensor t = empty({static_cast<int64_t>(s.size())}, DType::UInt8);
    std::copy(s.begin(), s.end(), static_cast<char*>(t.data_ptr()));
    return t;
  });
  return true;
}();

}  // namespace

Tensor Tokenize::apply(const Tensor& bytes, data::Rng&) const {
  TS_CHECK(max_length_ > 0, ValueError, "text.Tokenize", "max_length must be positive, got ", max_length_);
  const Tensor c = bytes.contiguous();
  const std::string_view text = bytes_of("text.Tokenize", c);
  // Truncated and padded to max_length on the sides tokenizer.json names ("direction").
  TruncationOptions trunc = tokenizer_.default_truncation();
  trunc.strategy = TruncationStrategy::LongestFirst;
  trunc.max_length = max_length_;
  PaddingOptions pad = tokenizer_.default_padding();
  pad.strategy = PaddingStrategy::MaxLength;
  pad.max_length = max_length_;
  pad.pad_to_multiple_of = 0;
  const BatchEncoding b = tokenizer_.encode_batch({std::string(text)}, {}, add_special_tokens_, trunc, pad, 1);
  return stack({b.input_ids.reshape({max_length_}), b.attention_mask.reshape({max_length_})}, 0);
}

std::string Tokenize::repr() const {
  return detail::cat("Tokenize(max_length=", max_length_, ", vocab_size=", tokenizer_.vocab_size(), ")");
}

}  // namespace tessel::text
