// Dynamic batching: workers take the oldest request plus the queued requests
// that can share its batch, waiting up to max_queue_delay for a full or
// preferred batch size.
#include "serve/batcher.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "tessel/autograd.h"
#include "tessel/error.h"
#include "tessel/ops.h"
#include "tessel/version.h"

namespace tessel::serve {

using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void deliver(BatchItem& item, std::exception_ptr err, InferResponse resp, const ModelMetrics& m) {
  int status = 200;
  if (err) {
    try {
      std::rethrow_exception(err);
    } catch (const HttpError& e) {
      status = e.status;
    } catch (...) {
      status = 500;
    }
  }
  m.count(status);
  m.request_time->observe(seconds(Clock::now() - item.enqueued));
  m.in_flight->dec();
  try {
    item.done(err, std::move(resp));
  } catch (...) {
    // A failing callback must not take the worker down.
  }
}

}  // namespace

ModelMetrics ModelMetrics::create(MetricsRegistry& r, const std::string& model, const std::string& version) {
  ModelMetrics m;
  m.model = model;
  m.version = version;
  const std::vector<std::string> mv = {model, version};
  m.requests = &r.counter("tessel_inference_requests_total", "Inference requests by final HTTP status.",
                          {"model", "version", "status"});
  m.success = m.requests->with({model, version, "200"});
  m.executions =
      r.counter("tessel_inference_executions_total", "Model executions (one per batch).", {"model", "version"})
          .with(mv);
  m.inferences = r.counter("tessel_inference_count_total", "Inferences performed (samples, batch dims summed).",
                           {"model", "version"})
                     .with(mv);
  auto& rej = r.counter("tessel_inference_rejected_total", "Requests rejected by the queue, by reason.",
                        {"model", "version", "reason"});
  m.rejected_full = rej.with({model, version, "queue_full"});
  m.rejected_timeout = rej.with({model, version, "timeout"});
  m.request_time =
      r.histogram("tessel_inference_request_duration_seconds", "Time from the request's admission to its result.",
                  {"model", "version"}, latency_buckets())
          .with(mv);
  m.queue_time = r.histogram("tessel_inference_queue_duration_seconds", "Time requests wait in the queue.",
                             {"model", "version"}, latency_buckets())
                     .with(mv);
  m.compute_time = r.histogram("tessel_inference_compute_duration_seconds",
                               "Time of one model execution (a batch), inputs merged to outputs split.",
                               {"model", "version"}, latency_buckets())
                       .with(mv);
  m.batch_size = r.histogram("tessel_inference_batch_size", "Samples per model execution.", {"model", "version"},
                             batch_size_buckets())
                     .with(mv);
  m.in_flight =
      r.gauge("tessel_inference_in_flight_requests", "Requests admitted and not yet answered.", {"model", "version"})
          .with(mv);
  m.queue_depth =
      r.gauge("tessel_inference_queue_depth", "Requests waiting in the queue.", {"model", "version"}).with(mv);
  m.load_time =
      r.gauge("tessel_model_load_duration_seconds", "Time the model version took to load.", {"model", "version"})
          .with(mv);
  m.ready =
      r.gauge("tessel_model_ready", "1 when the model version is loaded and serving.", {"model", "version"}).with(mv);
  return m;
}

void ModelMetrics::count(int status) const {
  if (status == 200)
    success->inc();
  else
    requests->with({model, version, std::to_string(status)})->inc();
}

void ModelMetrics::remove(MetricsRegistry& r) const {
  const std::vector<std::string> mv = {model, version};
  for (const char* name : {"tessel_inference_executions_total", "tessel_inference_count_total"})
    r.counter(name, "", {"model", "version"}).remove(mv);
  for (const char* name : {"tessel_inference_request_duration_seconds", "tessel_inference_queue_duration_seconds",
                           "tessel_inference_compute_duration_seconds"})
    r.histogram(name, "", {"model", "version"}, latency_buckets()).remove(mv);
  r.histogram("tessel_inference_batch_size", "", {"model", "version"}, batch_size_buckets()).remove(mv);
  for (const char* name : {"tessel_inference_in_flight_requests", "tessel_inference_queue_depth",
                           "tessel_model_load_duration_seconds", "tessel_model_ready"})
    r.gauge(name, "", {"model", "version"}).remove(mv);
  auto& rej = r.counter("tessel_inference_rejected_total", "", {"model", "version", "reason"});
  rej.remove({model, version, "queue_full"});
  rej.remove({model, version, "timeout"});
  for (const auto& [values, c] : requests->series())
    if (values[0] == model && values[1] == version) requests->remove(values);
}

struct Batcher::State {
  BatcherOptions opt;
  RunFn run;
  ModelMetrics metrics;
  mutable std::mutex mu;
  std::condition_variable cv, idle_cv;
  std::deque<BatchItem> queue;
  int64_t rows = 0;  // dim-0 rows queued, all keys (wakes a waiting worker once a batch could be full)
  int busy = 0;
  bool stopping = false;

  void worker();
  // Answers requests at their deadline even while every worker is running a batch.
  void reaper();
  // Picks the next batch from the queue (mu held); empty when it should wait until `wake`.
  std::vector<BatchItem> pick(Clock::time_point now, Clock::time_point& wake);
  // Takes the requests past their deadline out of the queue (mu held) ...
  std::vector<BatchItem> expire(Clock::time_point now);
  // ... and answers them 504 (mu not held: callbacks may drop the last owner).
  void reject_expired(std::vector<BatchItem>& expired, Clock::time_point now);
  // Whether queueing `item` must wake the waiting workers and reaper (mu held).
  bool wakes_for(const BatchItem& item) const;
  void execute(std::vector<BatchItem>& batch);
  void execute_one_by_one(std::vector<BatchItem>& batch);
};

std::vector<BatchItem> Batcher::State::expire(Clock::time_point now) {
  std::vector<BatchItem> expired;
  if (opt.queue_policy.timeout_action == QueuePolicy::TimeoutAction::Delay) return expired;
  for (auto it = queue.begin(); it != queue.end();) {
    if (it->deadline <= now) {
      rows -= it->batch;
      expired.push_back(std::move(*it));
      it = queue.erase(it);
    } else {
      ++it;
    }
  }
  metrics.queue_depth->set(static_cast<double>(queue.size()));
  return expired;
}

void Batcher::State::reject_expired(std::vector<BatchItem>& expired, Clock::time_point now) {
  for (auto& item : expired) {
    metrics.rejected_timeout->inc();
    metrics.queue_time->observe(seconds(now - item.enqueued));
    deliver(item,
            std::make_exception_ptr(HttpError(504, "request for model '" + metrics.model + "' version " +
                                                       metrics.version + " timed out in the queue")),
            {}, metrics);
  }
  expired.clear();
}

std::vector<BatchItem> Batcher::State::pick(Clock::time_point now, Clock::time_point& wake) {
  std::vector<BatchItem> batch;
  if (queue.empty()) return batch;
  if (!opt.dynamic) {
    rows -= queue.front().batch;
    batch.push_back(std::move(queue.front()));
    queue.pop_front();
    return batch;
  }
  // Requests that can join the oldest one, in arrival order, up to max_batch_size.
  const std::string& key = queue.front().key;
  std::vector<size_t> idx;
  std::vector<int64_t> sums;
  int64_t total = 0;
  for (size_t i = 0; i < queue.size() && total < opt.max_batch_size; ++i) {
    if (queue[i].key != key || total + queue[i].batch > opt.max_batch_size) continue;
    total += queue[i].batch;
    idx.push_back(i);
    sums.push_back(total);
  }
  const auto& pref = opt.preferred_batch_size;
  const bool full = total >= opt.max_batch_size || (!pref.empty() && total >= pref.back());
  const Clock::time_point due = queue.front().enqueued + opt.max_queue_delay;
  if (!full && now < due && !stopping) {
    wake = std::min(wake, due);
    return batch;
  }
  // Prefer the longest prefix whose size is a preferred batch size.
  size_t take = idx.size();
  for (size_t k = idx.size(); k-- > 0;) {
    if (std::binary_search(pref.begin(), pref.end(), sums[k])) {
      take = k + 1;
      break;
    }
  }
  idx.resize(take);
  for (size_t i : idx) {
    rows -= queue[i].batch;
    batch.push_back(std::move(queue[i]));
  }
  for (size_t k = idx.size(); k-- > 0;) queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(idx[k]));
  return batch;
}

namespace {

// A model loaded through the load API is loaded on an event-loop thread, and its
// workers would inherit that loop's SCHED_BATCH (HttpOptions::io_sched_batch): the
// model's runs would then no longer start as soon as a request wakes them. Workers
// take the process's main-thread policy back (SCHED_BATCH <-> SCHED_OTHER needs no
// privilege; other policies are left alone).
void compute_thread_policy() {
#ifdef SCHED_BATCH
  const int main_policy = ::sched_getscheduler(::getpid());
  int policy = 0;
  sched_param p{};
  if (main_policy != SCHED_OTHER || ::pthread_getschedparam(::pthread_self(), &policy, &p) != 0 ||
      policy != SCHED_BATCH)
    return;
  p.sched_priority = 0;
  ::pthread_setschedparam(::pthread_self(), SCHED_OTHER, &p);
#endif
}

}  // namespace

void Batcher::State::worker() {
  compute_thread_policy();
  // The thread count is per calling thread: set it in each worker.
  if (opt.intra_op_threads > 0) set_num_threads(opt.intra_op_threads);
  std::unique_lock<std::mutex> lk(mu);
  for (;;) {
    const auto now = Clock::now();
    std::vector<BatchItem> expired = expire(now);
    if (!expired.empty()) {
      ++busy;
      lk.unlock();
      reject_expired(expired, now);
      lk.lock();
      --busy;
      continue;
    }
    if (queue.empty()) {
      if (stopping) return;
      cv.wait(lk);
      continue;
    }
    Clock::time_point wake = Clock::time_point::max();
    // Deadlines wake the worker only when they reject (DELAY keeps late requests queued).
    if (opt.queue_policy.timeout_action == QueuePolicy::TimeoutAction::Reject)
      for (const auto& it : queue) wake = std::min(wake, it.deadline);
    std::vector<BatchItem> batch = pick(now, wake);
    if (batch.empty()) {
      cv.wait_until(lk, wake);
      continue;
    }
    metrics.queue_depth->set(static_cast<double>(queue.size()));
    ++busy;
    lk.unlock();
    execute(batch);
    batch.clear();  // callbacks and their captures go before the lock is retaken
    lk.lock();
    --busy;
    if (queue.empty() && busy == 0) idle_cv.notify_all();
    // Another worker may be waiting on a batch this one's exit made possible.
    cv.notify_all();
  }
}

namespace {

// Item j's rows of a string output (all of it when the batch has one item), as BYTES.
NamedTensor string_output(const std::string& name, const onnx::StringTensor& st, const std::vector<BatchItem>& batch,
                          size_t j, int64_t total, bool has_batch_dim) {
  if (batch.size() == 1 && !has_batch_dim) return NamedTensor{name, "BYTES", st.shape, {}, st.data};
  if (st.shape.empty() || st.shape[0] != total)
    throw HttpError(500, "output '" + name + "' has shape " + detail::cat(st.shape) + ", not a batch of " +
                             std::to_string(total) + " along dim 0");
  const int64_t row = total > 0 ? st.numel() / total : 0;
  int64_t off = 0;
  for (size_t k = 0; k < j; ++k) off += batch[k].batch;
  NamedTensor out{name, "BYTES", st.shape, {}, {}};
  out.shape[0] = batch[j].batch;
  out.bytes.assign(st.data.begin() + off * row, st.data.begin() + (off + batch[j].batch) * row);
  return out;
}

// Runs one batch; returns per-item outputs or throws.
std::vector<std::vector<NamedTensor>> run_batch(const Batcher::RunFn& run, const std::vector<BatchItem>& batch,
                                                bool has_batch_dim) {
  const auto& first = batch.front().request;
  onnx::NamedValues feed;
  int64_t total = 0;
  for (const auto& b : batch) total += b.batch;
  for (size_t i = 0; i < first.inputs.size(); ++i) {
    if (first.inputs[i].datatype == "BYTES") {
      // Strings concatenate along dim 0 by appending: their rows are contiguous.
      onnx::StringTensor st;
      st.shape = first.inputs[i].shape;
      if (batch.size() > 1) st.shape.at(0) = total;
      for (const auto& b : batch)
        st.data.insert(st.data.end(), b.request.inputs[i].bytes.begin(), b.request.inputs[i].bytes.end());
      feed.emplace_back(first.inputs[i].name, std::move(st));
    } else if (batch.size() == 1) {
      feed.emplace_back(first.inputs[i].name, first.inputs[i].tensor);
    } else {
      std::vector<Tensor> parts;
      for (const auto& b : batch) parts.push_back(b.request.inputs[i].tensor);
      feed.emplace_back(first.inputs[i].name, cat(parts, 0));
    }
  }
  onnx::NamedValues out;
  {
    autograd::NoGradGuard ng;
    out = run(feed);
  }
  std::vector<std::vector<NamedTensor>> res(batch.size());
  for (size_t j = 0; j < batch.size(); ++j) {
    for (const auto& name : batch[j].outputs) {
      auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == name; });
      if (it == out.end()) throw HttpError(500, "the model did not produce output '" + name + "'");
      if (auto* st = std::get_if<onnx::StringTensor>(&it->second)) {
        res[j].push_back(string_output(name, *st, batch, j, total, has_batch_dim));
        continue;
      }
      Tensor t = std::get<Tensor>(it->second);
      if (batch.size() > 1 || has_batch_dim) {
        if (t.dim() < 1 || t.size(0) != total)
          throw HttpError(500, "output '" + name + "' has shape " + detail::cat(t.shape()) + ", not a batch of " +
                                   std::to_string(total) + " along dim 0");
      }
      if (batch.size() > 1) {
        int64_t off = 0;
        for (size_t k = 0; k < j; ++k) off += batch[k].batch;
        t = t.narrow(0, off, batch[j].batch);
      }
      t = t.contiguous();
      const std::string dt = dtype_to_oip(t.dtype());
      if (dt.empty()) throw HttpError(500, "output '" + name + "' has a dtype OIP cannot carry");
      res[j].push_back(NamedTensor{name, dt, t.shape(), t, {}});
    }
  }
  return res;
}

std::exception_ptr as_http_error(const std::string& model, const std::string& version) {
  try {
    throw;
  } catch (const HttpError&) {
    return std::current_exception();
  } catch (const ValueError& e) {  // the model refused these input values (its shape rules, an index)
    return std::make_exception_ptr(
        HttpError(400, "model '" + model + "' version " + version + " failed on the input: " + e.what()));
  } catch (const IndexError& e) {
    return std::make_exception_ptr(
        HttpError(400, "model '" + model + "' version " + version + " failed on the input: " + e.what()));
  } catch (const std::exception& e) {
    return std::make_exception_ptr(HttpError(500, "model '" + model + "' version " + version + " failed: " + e.what()));
  }
}

}  // namespace

void Batcher::State::execute(std::vector<BatchItem>& batch) {
  const auto start = Clock::now();
  for (const auto& b : batch) metrics.queue_time->observe(seconds(start - b.enqueued));
  int64_t total = 0;
  for (const auto& b : batch) total += b.batch;
  std::vector<std::vector<NamedTensor>> outs;
  try {
    outs = run_batch(run, batch, opt.max_batch_size > 0);
  } catch (...) {
    auto err = as_http_error(metrics.model, metrics.version);
    if (batch.size() > 1) {
      // One bad request must not fail the others merged with it: run each alone.
      execute_one_by_one(batch);
      return;
    }
    metrics.executions->inc();
    deliver(batch[0], err, {}, metrics);
    return;
  }
  metrics.compute_time->observe(seconds(Clock::now() - start));
  metrics.executions->inc();
  metrics.inferences->inc(static_cast<double>(total));
  metrics.batch_size->observe(static_cast<double>(total));
  for (size_t j = 0; j < batch.size(); ++j) {
    InferResponse r{batch[j].request.model, batch[j].request.version, batch[j].request.id, std::move(outs[j])};
    deliver(batch[j], nullptr, std::move(r), metrics);
  }
}

void Batcher::State::execute_one_by_one(std::vector<BatchItem>& batch) {
  for (auto& b : batch) {
    std::vector<BatchItem> one;
    one.push_back(std::move(b));
    execute(one);
  }
}

namespace {
Batcher::RunFn values_fn(Batcher::TensorRunFn run) {
  return [run = std::move(run)](const onnx::NamedValues& feed) {
    onnx::NamedTensors in;
    for (const auto& [name, v] : feed) {
      const Tensor* t = std::get_if<Tensor>(&v);
      if (!t) throw HttpError(400, "input '" + name + "': this model takes no strings");
      in.emplace_back(name, *t);
    }
    onnx::NamedValues out;
    for (auto& [name, t] : run(in)) out.emplace_back(name, std::move(t));
    return out;
  };
}
}  // namespace

Batcher::Batcher(BatcherOptions options, TensorRunFn run, ModelMetrics metrics)
    : Batcher(std::move(options), values_fn(std::move(run)), std::move(metrics)) {}

Batcher::Batcher(BatcherOptions options, RunFn run, ModelMetrics metrics) : state_(std::make_shared<State>()) {
  state_->opt = std::move(options);
  state_->run = std::move(run);
  state_->metrics = std::move(metrics);
  for (int i = 0; i < std::max(1, state_->opt.instances); ++i) workers_.emplace_back([s = state_] { s->worker(); });
  const auto& q = state_->opt.queue_policy;
  if (q.timeout_action == QueuePolicy::TimeoutAction::Reject && (q.default_timeout_us > 0 || q.allow_timeout_override))
    workers_.emplace_back([s = state_] { s->reaper(); });
}

void Batcher::State::reaper() {
  std::unique_lock<std::mutex> lk(mu);
  for (;;) {
    if (stopping && queue.empty()) return;
    Clock::time_point next = Clock::time_point::max();
    for (const auto& it : queue) next = std::min(next, it.deadline);
    if (next == Clock::time_point::max()) {
      cv.wait(lk);
      continue;
    }
    cv.wait_until(lk, next);
    const auto now = Clock::now();
    std::vector<BatchItem> expired = expire(now);
    if (expired.empty()) continue;
    ++busy;
    lk.unlock();
    reject_expired(expired, now);
    lk.lock();
    --busy;
    if (queue.empty() && busy == 0) idle_cv.notify_all();
  }
}

Batcher::~Batcher() { stop(); }

void Batcher::submit(BatchItem item) {
  bool wake = true;
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    const auto& m = state_->metrics;
    if (state_->stopping) {
      m.count(503);
      throw HttpError(503, "model '" + m.model + "' version " + m.version + " is unloading", "1");
    }
    if (state_->queue.size() >= state_->opt.queue_policy.max_queue_size) {
      m.rejected_full->inc();
      m.count(503);
      throw HttpError(503,
                      "the queue of model '" + m.model + "' version " + m.version + " is full (" +
                          std::to_string(state_->opt.queue_policy.max_queue_size) + " requests)",
                      "1");
    }
    m.in_flight->inc();
    wake = state_->wakes_for(item);
    state_->rows += item.batch;
    state_->queue.push_back(std::move(item));
    m.queue_depth->set(static_cast<double>(state_->queue.size()));
  }
  if (wake) state_->cv.notify_all();
}

bool Batcher::State::wakes_for(const BatchItem& item) const {
  // A worker waiting out max_queue_delay gains nothing from being woken by a
  // request that cannot complete its batch, and each wake-up costs two context
  // switches (the I/O thread and the worker share a core in a pinned server).
  if (!opt.dynamic || queue.empty() || stopping) return true;
  const int64_t full = opt.preferred_batch_size.empty() ? opt.max_batch_size
                                                        : std::min(opt.max_batch_size, opt.preferred_batch_size.back());
  if (rows + item.batch >= full) return true;
  // Only a deadline earlier than every queued one moves the time the worker and the reaper wait for.
  if (item.deadline == Clock::time_point::max() ||
      opt.queue_policy.timeout_action != QueuePolicy::TimeoutAction::Reject)
    return false;
  return std::none_of(queue.begin(), queue.end(), [&](const BatchItem& q) { return q.deadline <= item.deadline; });
}

void Batcher::begin_stop() {
  {
    std::lock_guard<std::mutex> lk(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
}

void Batcher::stop() {
  begin_stop();
  for (auto& t : workers_) {
    if (!t.joinable()) continue;
    // A callback may drop the last owner of this batcher on a worker thread.
    if (t.get_id() == std::this_thread::get_id())
      t.detach();
    else
      t.join();
  }
}

size_t Batcher::queue_depth() const {
  std::lock_guard<std::mutex> lk(state_->mu);
  return state_->queue.size();
}

bool Batcher::idle() const {
  std::lock_guard<std::mutex> lk(state_->mu);
  return state_->queue.empty() && state_->busy == 0;
}

const BatcherOptions& Batcher::options() const { return state_->opt; }

}  // namespace tessel::serve
