#pragma once
// The model repository of tessel-serve: models found in --model-repository DIR
// (NAME/VERSION/model.onnx, optional NAME/config.pbtxt) or given with
// --model NAME=PATH, each version loaded into a ModelVersion with its own
// batcher. Polling picks up new and removed versions; handles are shared_ptrs,
// so a version taken out of service stays alive until its last request is done.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "serve/batcher.h"
#include "serve/config.h"
#include "serve/metrics.h"
#include "serve/types.h"

namespace tessel::serve {

struct TensorMetadata {
  std::string name;
  std::string datatype;        // OIP name
  std::vector<int64_t> shape;  // -1: variable (the batch dim first when max_batch_size > 0)
};

// OIP model metadata (GET /v2/models/NAME[/versions/V]).
struct VersionMetadata {
  std::string name;
  std::vector<std::string> versions;  // the model's available (ready) versions, ascending
  std::string platform;               // "onnxruntime_onnx" unless the config says otherwise
  std::vector<TensorMetadata> inputs, outputs;
};

// Triton's version states: READY, UNAVAILABLE (failed or unloaded), LOADING, UNLOADING.
enum class LoadState { Loading, Ready, Unavailable, Unloading };
const char* state_name(LoadState s);

// One row of the repository index (POST /v2/repository/index) and of a model's status.
struct VersionStatus {
  std::string name;
  std::string version;  // "" for a model with no loadable version
  LoadState state = LoadState::Unavailable;
  std::string reason;  // why it is not ready
  double load_seconds = 0;
};

class ModelVersion {
 public:
  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }  // decimal, e.g. "3"
  int64_t version_number() const { return number_; }
  bool ready() const { return ready_; }
  // A placeholder while the version loads (LOADING): not ready, requests get 503 with Retry-After.
  bool loading() const { return loading_; }
  const std::string& error() const { return error_; }  // why it is not ready ("" when ready)
  double load_seconds() const { return load_seconds_; }
  // The effective config (the model's inputs/outputs filled in when ready).
  const ModelConfig& config() const { return config_; }
  // Throws HttpError 400 when the version is not ready.
  VersionMetadata metadata() const;

  // Validates the request (HttpError 400 naming the input or output: unknown,
  // missing or repeated names, datatype, shape, batch size over max_batch_size,
  // a bad "timeout" parameter) and queues it (HttpError 503 with Retry-After
  // when the queue is full; 400 when the version is not ready). Errors past the
  // queue (504 timeout, model failure 400/500) reach `done`, which is called
  // exactly once for every request that this call accepted.
  void infer_async(InferRequest request, InferCallback done);
  // The same with a future; immediate refusals are thrown from infer() itself.
  std::future<InferResponse> infer(InferRequest request);

  // Counts a request that the HTTP side refused before infer_async (a body or
  // shape check of its own) in tessel_inference_requests_total{status}; requests
  // that reach infer_async are counted there, whatever their outcome.
  void count_request(int status) const { metrics_.count(status); }

  size_t queue_depth() const;
  bool idle() const;  // nothing queued or running
  // Stops accepting, finishes the queued requests (graceful shutdown).
  void drain();
  void begin_drain();  // the same without waiting (Batcher::begin_stop)

  ~ModelVersion();

  // Loads `file` (never throws: a failure gives a version that is not ready).
  static std::shared_ptr<ModelVersion> load(const std::string& name, int64_t version, const std::string& file,
                                            ModelConfig config, std::shared_ptr<MetricsRegistry> metrics,
                                            size_t default_max_queue_size,
                                            std::shared_ptr<std::vector<std::string>> versions,
                                            std::shared_ptr<std::mutex> versions_mu, bool log = false,
                                            int default_intra_op_threads = 1);
  // The LOADING placeholder of a version whose load has started (replaced when it ends).
  static std::shared_ptr<ModelVersion> placeholder(const std::string& name, int64_t version, ModelConfig config,
                                                   std::shared_ptr<MetricsRegistry> metrics);
  // A version that cannot load (bad config, ...), reported with `error`.
  static std::shared_ptr<ModelVersion> failed(const std::string& name, int64_t version, ModelConfig config,
                                              std::string error, std::shared_ptr<MetricsRegistry> metrics);

 private:
  ModelVersion() = default;
  std::string name_, version_, error_, file_;
  int64_t number_ = 0;
  bool ready_ = false;
  bool loading_ = false;
  double load_seconds_ = 0;
  ModelConfig config_;
  std::shared_ptr<MetricsRegistry> registry_;
  ModelMetrics metrics_;
  std::unique_ptr<onnx::Model> model_;
  std::unique_ptr<Batcher> batcher_;
  std::shared_ptr<std::vector<std::string>> versions_;  // shared with the repository's entry
  std::shared_ptr<std::mutex> versions_mu_;
};

struct RepositoryOptions {
  std::string repository;                                   // --model-repository DIR ("" for none)
  std::vector<std::pair<std::string, std::string>> models;  // --model NAME=PATH (served as version 1)
  // none: load everything at start; poll: also rescan every poll_interval;
  // explicit: load only `startup_models`, then load()/unload() (Triton's --model-control-mode).
  enum class Control { None, Poll, Explicit };
  Control control = Control::None;
  std::chrono::milliseconds poll_interval{5000};
  std::vector<std::string> startup_models;  // explicit mode: --load-model NAME
  size_t default_max_queue_size = 1024;     // when a config sets no max_queue_size
  // Threads per model instance when its config sets no intra_op_thread_count. One
  // by default: a server gets its parallelism from instances, batching and the
  // I/O threads, and small ops split across threads only contend with them.
  int intra_op_threads = 1;
  // ready() also needs every model to have a ready version (Triton's --strict-readiness).
  bool strict_readiness = true;
  bool log_loads = true;  // one line on stderr per version loaded or failed
  // Load the start-up models on the repository's thread instead of in the
  // constructor, so that the server can listen meanwhile: not ready(), versions
  // LOADING as their turn comes, and models not reached yet answer 503.
  bool background_startup = false;
  // Called before each version's load starts, with the version already LOADING
  // in index()/status()/get() (tests hold a load here to observe that state).
  std::function<void(const std::string& name, int64_t version)> before_load;
};

class ModelRepository {
 public:
  // Loads the models (a model that fails is reported not ready; the rest are
  // served). Throws ValueError for bad options: an invalid model name in
  // --model, a missing --model file or repository folder.
  ModelRepository(RepositoryOptions options, std::shared_ptr<MetricsRegistry> metrics);
  ~ModelRepository();  // stops polling, drains every version
  ModelRepository(const ModelRepository&) = delete;
  ModelRepository& operator=(const ModelRepository&) = delete;

  // The version to serve: `version` "" is the highest ready version (else the
  // highest one, not ready). HttpError 404 "unknown model 'NAME'" / "model 'NAME'
  // has no version 'V'" (also for names that could never be valid).
  std::shared_ptr<ModelVersion> get(const std::string& name, const std::string& version = "") const;
  // The versions of every known model (and, in explicit mode, the repository's
  // models not loaded, as UNAVAILABLE "unloaded"); `ready_only` keeps READY ones.
  std::vector<VersionStatus> index(bool ready_only = false) const;
  // One model's versions (TF-Serving's model status); HttpError 404 when unknown.
  std::vector<VersionStatus> status(const std::string& name) const;
  // Server readiness: not stopping and, with strict_readiness, every model found
  // has at least one ready version (so one broken model keeps the server unready).
  bool ready() const;

  // Explicit model control only (HttpError 403 otherwise). load() (re)reads the
  // model's folder and config; HttpError 400 for an invalid name or a model with
  // no version that loads, 404 when the folder does not exist. unload() takes the
  // model's versions out of service (in-flight requests finish); 404 when unknown.
  void load(const std::string& name);
  void unload(const std::string& name);
  RepositoryOptions::Control control() const { return opt_.control; }

  // Rescans the repository now (what each poll does).
  void poll();
  // Graceful shutdown: stops polling, refuses new requests (503), finishes queued ones.
  void stop();
  // At the start of a shutdown, from any thread, without waiting: queued requests
  // run at once instead of at the end of their batching delay. stop() follows.
  void begin_stop();

  MetricsRegistry& metrics() { return *metrics_; }

 private:
  struct Entry;
  void sync(const std::string& name);
  void retire(std::shared_ptr<ModelVersion> v);
  void purge_retired();
  void housekeeping();

  RepositoryOptions opt_;
  std::shared_ptr<MetricsRegistry> metrics_;
  mutable std::mutex mu_;  // models_ and retired_
  std::mutex sync_mu_;     // one sync at a time (poll thread, load/unload calls)
  std::map<std::string, std::shared_ptr<Entry>> models_;
  std::vector<std::shared_ptr<ModelVersion>> retired_;  // out of service, waiting to go idle
  std::thread thread_;
  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> starting_{false};  // background start-up loads still running
};

// Model names: [A-Za-z0-9_.-]+, not "." or "..", at most 255 characters.
bool valid_model_name(const std::string& name);

}  // namespace tessel::serve
