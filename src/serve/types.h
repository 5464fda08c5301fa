#pragma once
// The contract between the network side (http, routes, oip, tfserving) and the
// model side (repository, batcher, metrics) of tessel-serve.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessel/tensor.h"

namespace tessel::serve {

// An error that maps onto an HTTP status; `retry_after` (seconds) goes out as
// the Retry-After header when set (503 on a full queue).
struct HttpError : std::runtime_error {
  int status;
  std::string retry_after;
  HttpError(int status_, const std::string& message, std::string retry_after_ = {})
      : std::runtime_error(message), status(status_), retry_after(std::move(retry_after_)) {}
};

struct NamedTensor {
  std::string name;
  std::string datatype;  // OIP name, e.g. FP32, BYTES
  std::vector<int64_t> shape;
  Tensor tensor;                   // numeric datatypes
  std::vector<std::string> bytes;  // BYTES, row-major
};

struct InferRequest {
  std::string model, version, id;
  std::vector<NamedTensor> inputs;
  std::vector<std::string> outputs;               // empty: all of the model's outputs
  std::map<std::string, std::string> parameters;  // raw JSON values
};

struct InferResponse {
  std::string model, version, id;
  std::vector<NamedTensor> outputs;
};

}  // namespace tessel::serve
