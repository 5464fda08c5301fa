#pragma once
// ONNX model import: load a .onnx file (or its bytes) and run it with tessel's
// ops. No protobuf type appears here; the parsed graph lives behind a pimpl.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel::nn {
class Module;
}

namespace tessel::onnx {

// A dimension: a fixed size, or a symbolic name ("batch"); an unnamed unknown is "".
using Dim = std::variant<int64_t, std::string>;

struct ValueInfo {
  std::string name;
  DType dtype = DType::Float32;
  std::string onnx_type;  // ONNX's element type name, e.g. "tensor(float)"
  std::vector<Dim> shape;
  bool has_shape = false;  // false: rank unknown
  bool is_string() const { return onnx_type == "tensor(string)"; }  // `dtype` is meaningless then
  // seq(tensor(T)) / optional(...) values (`dtype`: a sequence's element type when numeric).
  bool is_sequence() const { return onnx_type.rfind("seq(", 0) == 0; }
  bool is_optional() const { return onnx_type.rfind("optional(", 0) == 0; }
  bool is_map() const { return onnx_type.rfind("map(", 0) == 0; }  // dtype: the values' type
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// An ONNX tensor(string): tessel's Tensor has no string dtype, so string
// inputs, outputs and intermediates of a model are held apart as row-major
// byte strings (UTF-8 as ONNX requires; not re-validated here).
struct StringTensor {
  Shape shape;
  std::vector<std::string> data;  // prod(shape) elements, row-major
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};
// An ONNX map(K, V) with int64 or string keys and one number per key: the rows
// of ZipMap's seq(map(...)) output, and the input of DictVectorizer and CastMap
// (a dict in Python, as onnxruntime takes and gives).
struct ValueMap {
  bool by_string = false;
  std::vector<int64_t> int_keys;         // when !by_string
  std::vector<std::string> string_keys;  // when by_string
  Tensor values;                         // 1-D, one per key, in key order
};
// An ONNX sequence, seq(tensor(T)): numeric tensors of one dtype, or string
// tensors; as an output also seq(map(K, V)) (ValueMap items).
struct TensorSequence {
  std::vector<std::variant<Tensor, StringTensor, ValueMap>> items;
};
// An ONNX optional(...) that holds no value (None in Python). An optional that
// holds one is fed and returned as the value itself, as onnxruntime does.
struct NoValue {};
// A feed or result of Model::run_values.
using RunValue = std::variant<Tensor, StringTensor, TensorSequence, NoValue, ValueMap>;
using NamedValues = std::vector<std::pair<std::string, RunValue>>;
using NamedShapes = std::vector<std::pair<std::string, Shape>>;

// Bytes of intermediate values (node outputs; not inputs or weights) for one
// feed's shapes, under the executor's free-after-last-use order.
struct MemoryEstimate {
  int64_t peak_bytes = 0;   // the most alive at once
  int64_t total_bytes = 0;  // the sum over all intermediates (no reuse)
  std::string peak_node;    // the node after which the peak is reached
  std::vector<std::string> unknown;  // values whose size inference could not tell (counted as 0)
};

// The buffers of a model's runs (Model::memory_stats): intermediates and
// outputs of 64 KiB and more come from a per-model pool that the graph's
// values return to after their last use; from the second run of the same
// shapes on, hits grow and misses stay.
struct MemoryStats {
  int64_t pool_hits = 0;    // buffers reused from the pool
  int64_t pool_misses = 0;  // buffers asked from the system
  int64_t free_bytes = 0;   // bytes the pool holds free now (at most 1 GiB)
};

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
  // Dtypes and shapes inferred at load for the graph inputs and every node output
  // (subgraphs included), by name; symbolic dims are names or expressions of the
  // inputs' dims ("batch", "batch*seq"), "" when unknown. onnx_type "unknown":
  // the dtype could not be inferred.
  std::vector<ValueInfo> value_info() const;
  std::optional<ValueInfo> value_info(const std::string& name) const;
  // Peak memory of intermediates for inputs of the given shapes (symbolic dims
  // bound from them), as the graph runs after the load-time passes.
  MemoryEstimate memory_estimate(const NamedShapes& input_shapes) const;
  MemoryStats memory_stats() const;

  // Runs the graph; every graph input must be fed. Returns the graph outputs in order.
  // String, sequence and empty optional outputs are refused here (use run_values).
  NamedTensors run(const NamedTensors& feed) const;
  // The same with string tensors, sequences and optionals allowed among inputs and outputs. (Not an
  // overload of run: `run({{"x", t}})` would then be ambiguous.)
  NamedValues run_values(const NamedValues& feed) const;

  struct Impl;

 private:
  explicit Model(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// ---- Export: trace a function at the op level and write an ONNX model ----

struct ExportOptions {
  std::vector<std::string> input_names;   // default input_0, input_1, ...
  std::vector<std::string> output_names;  // default output_0, ...
  // {input or output name: {dim: symbolic name}}, e.g. {"x": {{0, "batch"}}}.
  std::map<std::string, std::map<int64_t, std::string>> dynamic_axes;
  int64_t opset = 18;  // 13..23
  bool external_data = false;  // weights to "<path>.data"; automatic past external_threshold bytes
  size_t external_threshold = size_t{2} << 30;
  std::string producer_name = "tessel";
  std::string graph_name = "tessel_graph";
};

using TracedFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Runs `fn(args)` once (twice with dynamic axes) recording the ops it dispatches,
// and returns the ONNX model. `params` name constant tensors (weights) that appear
// in the graph as initializers. Errors name the op that has no ONNX mapping.
TESSEL_API std::string export_bytes(const TracedFn& fn, const std::vector<Tensor>& args, const NamedTensors& params,
                                    const ExportOptions& opts = {});
TESSEL_API void export_function(const TracedFn& fn, const std::vector<Tensor>& args, const NamedTensors& params,
                                const std::string& path, const ExportOptions& opts = {});
// A module in eval mode (restored after), its parameters and buffers named by path.
TESSEL_API void export_model(nn::Module& module, const Tensor& example, const std::string& path,
                             const ExportOptions& opts = {});
TESSEL_API void export_model(nn::Module& module, const TracedFn& fn, const std::vector<Tensor>& args,
                             const std::string& path, const ExportOptions& opts = {});

// ONNX op types the importer runs (ai.onnx.ml ones as "ai.onnx.ml.<op>"), and tessel ops the exporter maps.
TESSEL_API std::vector<std::string> import_ops();
TESSEL_API std::vector<std::string> export_ops();

// Whether tessel was built with ONNX support (TESSEL_WITH_ONNX).
TESSEL_API bool available();

}  // namespace tessel::onnx
