#pragma once
// The per-model config of tessel-serve: NAME/config.pbtxt in Triton's text format
// and vocabulary (see model_config.proto), parsed into plain structs so that no
// protobuf type leaks out of config.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessel/dtype.h"

namespace tessel::onnx {
class Model;
}

namespace tessel::serve {

// OIP datatype names (BOOL UINT8..UINT64 INT8..INT64 FP16 BF16 FP32 FP64) <-> tessel dtypes.
// BYTES has no tessel dtype: oip_to_dtype returns nullopt for it.
std::optional<DType> oip_to_dtype(const std::string& datatype);
std::string dtype_to_oip(DType dtype);
// Whether `datatype` is one of OIP's names (BYTES included).
bool is_oip_datatype(const std::string& datatype);

struct TensorConfig {
  std::string name;
  std::string datatype;       // OIP name (config's TYPE_FP32 -> "FP32", TYPE_STRING -> "BYTES")
  std::vector<int64_t> dims;  // without the batch dim when max_batch_size > 0; -1 is variable
};

struct QueuePolicy {
  enum class TimeoutAction { Reject, Delay };
  TimeoutAction timeout_action = TimeoutAction::Reject;
  uint64_t default_timeout_us = 0;      // 0: requests never time out in the queue
  bool allow_timeout_override = false;  // a request's "timeout" parameter (microseconds) wins
  uint32_t max_queue_size = 0;          // 0: the server's default bound (RepositoryOptions)
};

struct DynamicBatching {
  std::vector<int64_t> preferred_batch_size;
  uint64_t max_queue_delay_us = 0;
  QueuePolicy default_queue_policy;
};

struct VersionPolicy {
  enum class Kind { Latest, All, Specific };
  Kind kind = Kind::Latest;
  uint32_t num_versions = 1;      // Latest
  std::vector<int64_t> versions;  // Specific
};

struct ModelConfig {
  std::string name;
  std::string platform;        // "onnxruntime_onnx" (the default), or "tessel_onnx"
  std::string backend;         // "onnxruntime" or "tessel" when set
  int64_t max_batch_size = 0;  // > 0: dim 0 of every input and output is the batch
  std::vector<TensorConfig> input, output;
  std::optional<DynamicBatching> dynamic_batching;
  int instance_count = 1;  // sum of instance_group counts (KIND_CPU / KIND_AUTO)
  VersionPolicy version_policy;
  std::string default_model_filename = "model.onnx";
  // Threads each instance's ops may use (parameters { key: "intra_op_thread_count" ... });
  // 0: the server's default (RepositoryOptions::intra_op_threads).
  int intra_op_threads = 0;
  bool has_file = false;  // read from a config.pbtxt (else the defaults)
};

// Parses config.pbtxt text; `path` names the file in errors. Throws ValueError
// "<path>:<line>:<col>: ..." for syntax errors, unknown fields (named), wrong
// value types and unsupported settings (GPU instances, a bad version policy).
ModelConfig parse_model_config(const std::string& text, const std::string& path);
// Reads and parses the file.
ModelConfig load_model_config(const std::string& path);

// Checks the config against the loaded model and fills what it leaves out:
// inputs/outputs omitted from the config come from the model (symbolic dims as
// -1). Every model input must appear in the config when it lists inputs; listed
// outputs must exist; datatypes and dims must agree; max_batch_size > 0 needs a
// variable first dim on every input and output. Throws ValueError naming the
// tensor and `path`.
void complete_model_config(ModelConfig& config, const onnx::Model& model, const std::string& path);

// The config as JSON in Triton's field names (GET /v2/models/NAME/config).
std::string model_config_json(const ModelConfig& config);

}  // namespace tessel::serve
