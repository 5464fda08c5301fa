#pragma once
// JSON for tessel-serve: parsing with simdjson's DOM (hostile input: depth
// limit, invalid UTF-8 and NaN/Infinity tokens refused by the parser) and a
// small writer that appends to one string.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace tessel::serve::json {

inline constexpr size_t kMaxDepth = 64;

// Parses `text` with this thread's parser; the element stays valid until the next
// parse on the same thread. Throws HttpError(400) naming the problem.
simdjson::dom::element parse(std::string_view text);

std::string_view type_name(simdjson::dom::element_type t);

// Standard base64 (RFC 4648, padding optional on decode); decode throws HttpError(400).
std::string base64_decode(std::string_view in, std::string_view what);
std::string base64_encode(std::string_view in);

class Writer {
 public:
  std::string out;

  Writer& raw(std::string_view s) {
    out.append(s);
    return *this;
  }
  Writer& c(char ch) {
    out.push_back(ch);
    return *this;
  }
  // A JSON string; invalid UTF-8 bytes are written as U+FFFD.
  Writer& str(std::string_view s);
  Writer& key(std::string_view k) {
    comma();
    str(k);
    out.push_back(':');
    fresh_ = true;
    return *this;
  }
  Writer& begin_object() {
    comma();
    out.push_back('{');
    fresh_ = true;
    return *this;
  }
  Writer& end_object() {
    out.push_back('}');
    fresh_ = false;
    return *this;
  }
  Writer& begin_array() {
    comma();
    out.push_back('[');
    fresh_ = true;
    return *this;
  }
  Writer& end_array() {
    out.push_back(']');
    fresh_ = false;
    return *this;
  }
  Writer& value(std::string_view s) {
    comma();
    return str(s);
  }
  Writer& value(const char* s) { return value(std::string_view(s)); }
  Writer& value(const std::string& s) { return value(std::string_view(s)); }
  Writer& value(bool b) {
    comma();
    out.append(b ? "true" : "false");
    return *this;
  }
  Writer& null() {
    comma();
    out.append("null");
    return *this;
  }
  template <class T>
  requires std::is_arithmetic_v<T> &&(!std::is_same_v<T, bool>)Writer& value(T v) {
    comma();
    number(v);
    return *this;
  }
  // A number without a separator (arrays written in bulk call sep() themselves).
  template <class T>
  void number(T v) {
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(v)) {  // JSON has no NaN/Infinity: null, as JavaScript's JSON.stringify does
        out.append("null");
        return;
      }
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
  // Before a value written straight into `out`: the separator it needs.
  void sep() { comma(); }

 private:
  void comma() {
    if (!fresh_) out.push_back(',');
    fresh_ = false;
  }
  bool fresh_ = true;
};

// {"error": message}
std::string error_body(std::string_view message);

}  // namespace tessel::serve::json
