#pragma once
// ONNX model import: load a .onnx file (or its bytes) and run it with tessel's
// ops. No protobuf type appears here; the parsed graph lives behind a pimpl.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel::onnx {

// A dimension: a fixed size, or a symbolic name ("batch"); an unnamed unknown is "".
using Dim = std::variant<int64_t, std::string>;

struct ValueInfo {
  std::string name;
  DType dtype = DType::Float32;
  std::string onnx_type;  // ONNX's element type name, e.g. "tensor(float)"
  std::vector<Dim> shape;
  bool has_shape = false;  // false: rank unknown
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class TESSEL_API Model {
 public:
  // Parses and checks the model; external data is resolved inside the model's folder.
  static Model load(const std::string& path);
  // `base_dir` resolves external data ("" refuses models that have any).
  static Model load_bytes(const std::string& bytes, const std::string& base_dir = "");

  const std::vector<ValueInfo>& inputs() const;
  const std::vector<ValueInfo>& outputs() const;
  int64_t opset() const;  // of the default ("" / "ai.onnx") domain
  int64_t ir_version() const;
  const std::string& producer_name() const;

  // Runs the graph; every graph input must be fed. Returns the graph outputs in order.
  NamedTensors run(const NamedTensors& feed) const;

  struct Impl;

 private:
  explicit Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Whether tessel was built with ONNX support (TESSEL_WITH_ONNX).
TESSEL_API bool available();

}  // namespace tessel::onnx
