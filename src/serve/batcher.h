#pragma once
// The per-model-version scheduler: a bounded queue served by `instances` worker
// threads. With dynamic batching, requests queued together whose inputs agree
// beyond dim 0 run as one batch (concatenated along dim 0, results split back).
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "serve/config.h"
#include "serve/metrics.h"
#include "serve/types.h"
#include "tessel/onnx.h"

namespace tessel::serve {

// Receives a request's outputs, or an HttpError (504 queue timeout, 500/400 from
// the model) as `error`. Runs on a worker thread: keep it short (post to an I/O loop).
using InferCallback = std::function<void(std::exception_ptr error, InferResponse response)>;

// The series one model version updates (created by ModelMetrics::create).
struct ModelMetrics {
  Family<Counter>* requests = nullptr;  // {model, version, status}
  std::shared_ptr<Counter> success;     // the status="200" series, cached
  std::shared_ptr<Counter> executions, inferences;
  std::shared_ptr<Counter> rejected_full, rejected_timeout;
  std::shared_ptr<Histogram> request_time, queue_time, compute_time, batch_size;
  std::shared_ptr<Gauge> in_flight, queue_depth, load_time, ready;
  std::string model, version;

  static ModelMetrics create(MetricsRegistry& registry, const std::string& model, const std::string& version);
  void count(int status) const;
  void remove(MetricsRegistry& registry) const;  // drops the version's series (unloaded)
};

struct BatcherOptions {
  int64_t max_batch_size = 0;                 // 0: inputs have no batch dim; each request runs alone
  bool dynamic = false;                       // dynamic_batching present
  std::vector<int64_t> preferred_batch_size;  // sorted
  std::chrono::microseconds max_queue_delay{0};
  QueuePolicy queue_policy;  // its max_queue_size already resolved (> 0)
  int instances = 1;
  int intra_op_threads = 0;  // > 0: each worker runs its ops on this many threads (0: tessel's default)
};

// A validated request waiting in the queue.
struct BatchItem {
  InferRequest request;                                      // inputs in the model's input order
  std::vector<std::string> outputs;                          // names to return
  int64_t batch = 1;                                         // dim 0 of the inputs (1 without a batch dim)
  std::string key;                                           // dtypes and shapes beyond dim 0: only equal keys merge
  std::chrono::steady_clock::time_point enqueued, deadline;  // deadline: max() when none
  InferCallback done;
};

class Batcher {
 public:
  // BYTES inputs are fed (and string outputs come back) as onnx::StringTensor.
  using RunFn = std::function<onnx::NamedValues(const onnx::NamedValues&)>;
  Batcher(BatcherOptions options, RunFn run, ModelMetrics metrics);
  // A model function over numeric tensors only (string inputs are refused).
  using TensorRunFn = std::function<onnx::NamedTensors(const onnx::NamedTensors&)>;
  Batcher(BatcherOptions options, TensorRunFn run, ModelMetrics metrics);
  // Finishes what is queued, then joins the workers.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues the item; throws HttpError 503 (Retry-After: 1) when the queue is
  // full or the batcher is stopping. The callback is called exactly once.
  void submit(BatchItem item);
  // Stops accepting, runs what is queued, joins the workers. Idempotent.
  void stop();
  // The same without waiting: the queued requests run now, without their batching
  // delay (nothing more will come to fill a batch); stop() joins later.
  void begin_stop();
  size_t queue_depth() const;
  bool idle() const;  // nothing queued or running
  const BatcherOptions& options() const;

  struct State;

 private:
  std::shared_ptr<State> state_;  // shared with the workers (they never touch *this)
  std::vector<std::thread> workers_;
};

}  // namespace tessel::serve
