#pragma once
// The small JSON reader and writer that safetensors headers need. Internal:
// not part of the public headers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessel::io {

// A parsed JSON value. Objects keep their members in file order (duplicates
// included: the caller decides whether they are an error). Numbers keep their
// source text; as_uint64() interprets the ones that are plain integers.
struct JsonMember;

struct JsonValue {
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;  // String: the decoded UTF-8; Number: the token as written
  std::vector<JsonValue> items;
  std::vector<JsonMember> members;  // (not std::pair: that needs JsonValue complete here under Clang)

  // The value of a non-negative integer token without fraction or exponent
  // that fits in 64 bits; nullopt for anything else.
  std::optional<uint64_t> as_uint64() const;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

// Parses one JSON document (RFC 8259; surrounding whitespace allowed). On
// malformed input returns false and sets `error` to a message with the byte
// offset. The input must be valid UTF-8 (see is_valid_utf8); nesting deeper
// than 128 levels is refused so that hostile input cannot exhaust the stack.
bool parse_json(std::string_view text, JsonValue& out, std::string& error);

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Appends `s` as a quoted JSON string, escaped as serde_json does (the
// reference safetensors writer): \" \\ \b \f \n \r \t, other control
// characters as \u00XX, everything else (non-ASCII included) verbatim.
void append_json_string(std::string& out, std::string_view s);

}  // namespace tessel::io
