// libFuzzer target for the ONNX loader: any bytes must give a Model or a
// tessel::Error, never a crash, hang or leak; a model that loads is then run
// once on zero inputs of its declared shapes when those are small and fixed,
// which exercises the graph checks and the op adapters. Public API only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

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
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const onnx::Model m = onnx::Model::load_bytes(bytes);
    // Metadata accessors must work on anything that loaded.
    (void)m.opset();
    (void)m.ir_version();
    (void)m.producer_name();
    (void)m.outputs();
    onnx::NamedTensors feed;
    for (const onnx::ValueInfo& v : m.inputs()) {
      tessel::Shape shape;
      if (!small_fixed_shape(v, shape)) return 0;
      feed.emplace_back(v.name, tessel::zeros(shape, v.dtype));
    }
    (void)m.run(feed);
  } catch (const tessel::Error&) {
  }
  return 0;
}
