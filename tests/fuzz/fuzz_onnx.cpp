// libFuzzer target for the ONNX loader: any bytes must give a Model or a
// tessel::Error, never a crash, hang or leak; a model that loads is then run
// once on zero inputs of its declared shapes when those are small and fixed,
// which exercises the graph checks and the op adapters. Names and error
// messages must be UTF-8 too: Python receives them as str. Public API only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "tessel/error.h"
#include "tessel/onnx.h"
#include "tessel/ops.h"

namespace onnx = tessel::onnx;

namespace {
// Keeps each run fast: bigger (or symbolic / rank-unknown) inputs are not fed.
constexpr int64_t kMaxElems = 4096;

bool small_fixed_shape(const onnx::ValueInfo& v, tessel::Shape& shape) {
  if (!v.has_shape) return false;
  int64_t n = 1;
  for (const onnx::Dim& d : v.shape) {
    const int64_t* s = std::get_if<int64_t>(&d);
    if (s == nullptr || *s < 0 || *s > kMaxElems) return false;
    n *= *s;
    if (n > kMaxElems) return false;
    shape.push_back(*s);
  }
  return true;
}
// Well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF), written
// independently of the loader's check so the two cannot share a bug.
bool utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    int len = 0;
    uint32_t lo = 0;
    if (b < 0x80) { ++i; continue; }
    if (b >= 0xC2 && b <= 0xDF) len = 2, lo = 0x80;
    else if (b >= 0xE0 && b <= 0xEF) len = 3, lo = 0x800;
    else if (b >= 0xF0 && b <= 0xF4) len = 4, lo = 0x10000;
    else return false;
    if (i + len > s.size()) return false;
    uint32_t cp = b & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) {
      const unsigned char c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < lo || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

void check_names(const std::vector<onnx::ValueInfo>& vs) {
  for (const onnx::ValueInfo& v : vs) {
    if (!utf8(v.name) || !utf8(v.onnx_type)) __builtin_trap();
    for (const onnx::Dim& d : v.shape)
      if (const std::string* p = std::get_if<std::string>(&d); p && !utf8(*p)) __builtin_trap();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const onnx::Model m = onnx::Model::load_bytes(bytes);
    // Metadata accessors must work on anything that loaded.
    (void)m.opset();
    (void)m.ir_version();
    if (!utf8(m.producer_name())) __builtin_trap();
    check_names(m.inputs());
    check_names(m.outputs());
    onnx::NamedTensors feed;
    for (const onnx::ValueInfo& v : m.inputs()) {
      tessel::Shape shape;
      if (!small_fixed_shape(v, shape)) return 0;
      feed.emplace_back(v.name, tessel::zeros(shape, v.dtype));
    }
    (void)m.run(feed);
  } catch (const tessel::Error& e) {
    if (!utf8(e.what())) __builtin_trap();
  }
  return 0;
}
