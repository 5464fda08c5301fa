#pragma once
// The routes' view of the model side, and the protocol handlers (OIP v2 in
// oip.cpp, TF-Serving in tfserving.cpp, routing/auth/CORS/logging in routes.cpp).
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serve/http.h"
#include "serve/types.h"

namespace tessel::serve {

struct TensorSpec {
  std::string name;
  std::string datatype;        // OIP name
  std::vector<int64_t> shape;  // -1: any size
  bool has_shape = true;       // false: any rank
};

struct ModelMetadata {
  std::string name;
  std::string version;                // the version this describes
  std::vector<std::string> versions;  // every available version
  std::string platform = "onnx";
  std::vector<TensorSpec> inputs, outputs;
};

struct VersionState {
  std::string version;
  std::string state;  // TF-Serving's: AVAILABLE, LOADING, UNLOADING, END, START
  std::string error;  // why it failed to load, "" if fine
};

// What the HTTP side needs from the models. Model names and versions arrive
// checked (no path characters). Version "" is the model's default (newest) one.
class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  virtual bool ready() const = 0;
  // Throws HttpError(404) for an unknown model or version.
  virtual ModelMetadata metadata(const std::string& name, const std::string& version) const = 0;
  virtual bool model_ready(const std::string& name, const std::string& version) const = 0;
  // Every version known for the model (404 if none).
  virtual std::vector<VersionState> versions(const std::string& name) const = 0;
  // `done` is called once, from any thread, with a response or an exception
  // (HttpError for statuses such as 503 queue full or 504 queue timeout).
  using Done = std::function<void(InferResponse&&, std::exception_ptr)>;
  virtual void infer(InferRequest&& req, Done done) = 0;
  // Prometheus text for /metrics ("" when the backend keeps none).
  virtual std::string metrics_text() const { return {}; }
  // Triton's model configuration as JSON (GET /v2/models/NAME/config).
  virtual std::string config_json(const std::string& name, const std::string& version) const {
    metadata(name, version);
    return "{}";
  }
  // The repository extension (POST /v2/repository/...): every model version and its state.
  struct IndexEntry {
    std::string name, version, state, reason;
  };
  virtual std::vector<IndexEntry> index(bool /*ready_only*/) const { return {}; }
  // Explicit model control; HttpError 403 unless the server runs with --model-control explicit.
  virtual void load(const std::string&) { throw HttpError(403, "model control is off (--model-control explicit)"); }
  virtual void unload(const std::string&) { throw HttpError(403, "model control is off (--model-control explicit)"); }
  // Counts an inference request of a known model that the HTTP side refused
  // before infer() (bad body, shapes, datatypes): infer() counts the others.
  virtual void count_refused(const std::string& /*name*/, const std::string& /*version*/, int /*status*/) {}
  // Called for each answered request (for request metrics).
  virtual void observe_request(std::string_view /*model*/, std::string_view /*version*/, int /*status*/,
                               double /*seconds*/) {}
};

class ModelRepository;
// The backend over servecore's model repository (backend_repository.cpp).
std::unique_ptr<ModelBackend> make_repository_backend(std::shared_ptr<ModelRepository> repo);

// ---- helpers shared by the protocols ----

// Whether `name` is acceptable as a model name or version (letters, digits, "_-.", not "." or "..").
bool valid_name(std::string_view name);

// Checks the request against the model's inputs/outputs (names, datatypes, ranks,
// fixed sizes); throws HttpError(400).
void check_request(const InferRequest& req, const ModelMetadata& meta);

// Bytes per element of an OIP datatype, 0 for BYTES; throws HttpError(400) for an unknown one.
size_t datatype_size(std::string_view datatype);
// The OIP datatype of a tessel tensor's dtype.
std::string datatype_of(DType dtype);
// The output of a model as a NamedTensor (codec.cpp).
NamedTensor named_output(std::string name, const Tensor& t);

// The current UTC time as ISO 8601 with milliseconds ("2026-12-03T03:30:00.123Z"), for logs.
std::string utc_timestamp();

Response json_response(int status, std::string body);
Response error_response(int status, std::string_view message);
// The response for an exception thrown by a handler or the backend.
Response exception_response(std::exception_ptr e);

struct Context {
  ModelBackend& models;
  std::string server_version;
};

// Each returns false when the path is not theirs.
bool oip_route(Context& ctx, Request& req, Reply& reply);
bool tfserving_route(Context& ctx, Request& req, Reply& reply);

struct RouterOptions {
  std::string auth_token;           // "": no auth
  std::string cors_origin;          // "": CORS off; "*" or an origin
  std::string log_format = "json";  // json | text | none
};

// The full HTTP handler: routing, auth, CORS, access log.
Handler make_router(ModelBackend& models, RouterOptions opts);

}  // namespace tessel::serve
