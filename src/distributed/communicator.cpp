// Work handles and the Communicator base: argument checks and the thread that
// runs every collective in submission order.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "src/distributed/internal.h"
#include "tessel/error.h"

namespace tessel::distributed {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Avg: return "avg";
    case ReduceOp::Product: return "product";
    case ReduceOp::Min: return "min";
    case ReduceOp::Max: break;
  }
  return "max";
}

// ---- Work ----

struct Work::State {
  mutable std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
  double started = 0, finished = 0;
};

namespace {
double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Work::Work() : state_(std::make_unique<State>()) {}
Work::~Work() = default;

void Work::start() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->started = monotonic_seconds();
}

double Work::started_at() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->started;
}

double Work::finished_at() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->finished;
}

void Work::finish(std::exception_ptr error) {
  const double now = monotonic_seconds();
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->started == 0) state_->started = now;
    state_->finished = now;
    state_->done = true;
    state_->error = std::move(error);
  }
  state_->cv.notify_all();
}

void Work::wait() {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->done; });
  if (state_->error) std::rethrow_exception(state_->error);
}

bool Work::is_completed() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->done;
}

bool Work::is_success() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->done && !state_->error;
}

// ---- the communication thread ----

struct Communicator::Queue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::function<void()>, WorkPtr>> tasks;
  bool stop = false;
  std::thread thread;

  void loop() {
    for (;;) {
      std::pair<std::function<void()>, WorkPtr> task;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop || !tasks.empty(); });
        if (tasks.empty()) return;  // stop, and nothing left to run
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      std::exception_ptr error;
      task.second->start();
      try {
        task.first();
      } catch (...) {
        error = std::current_exception();
      }
      task.first = nullptr;
      task.second->finish(error);
    }
  }
};

Communicator::Communicator() = default;

Communicator::~Communicator() {
  // A derived destructor calls shutdown(); here only a thread nobody stopped is left.
  if (queue_ && queue_->thread.joinable()) {
    {
      std::lock_guard<std::mutex> lock(queue_->mu);
      queue_->stop = true;
    }
    queue_->cv.notify_all();
    queue_->thread.join();
  }
}

void Communicator::start_thread(std::function<void()> init) {
  queue_ = std::make_unique<Queue>();
  auto work = std::make_shared<Work>();
  queue_->tasks.emplace_back(std::move(init), work);
  queue_->thread = std::thread([q = queue_.get()] { q->loop(); });
  work->wait();
}

WorkPtr Communicator::submit(std::function<void()> fn, WorkPtr work) {
  if (!work) work = std::make_shared<Work>();
  TS_CHECK(!shut_down_, ValueError, "distributed", "the process group was destroyed");
  if (!queue_) {  // no thread: run now
    std::exception_ptr error;
    work->start();
    try {
      fn();
    } catch (...) {
      error = std::current_exception();
    }
    work->finish(error);
    return work;
  }
  {
    std::lock_guard<std::mutex> lock(queue_->mu);
    queue_->tasks.emplace_back(std::move(fn), work);
  }
  queue_->cv.notify_one();
  return work;
}

void Communicator::shutdown() {
  if (shut_down_) return;
  // The backend's own release runs last on the thread that owns it.
  auto done = submit([this] { run_shutdown(); });
  shut_down_ = true;
  if (queue_) {
    {
      std::lock_guard<std::mutex> lock(queue_->mu);
      queue_->stop = true;
    }
    queue_->cv.notify_all();
    if (queue_->thread.joinable()) queue_->thread.join();
  }
  done->wait();
}

void Communicator::check(const char* op, DType dtype, ReduceOp reduce) const {
  if (is_cast_only(dtype)) fail_cast_only(op, dtype);  // float8, int4, ...: moved, never reduced
  if (reduce == ReduceOp::Avg) {
    TS_CHECK(is_floating(dtype) || is_complex(dtype), TypeError, op,
             "ReduceOp.AVG needs a floating point or complex tensor, got ", dtype);
  }
  if (reduce == ReduceOp::Min || reduce == ReduceOp::Max) {
    TS_CHECK(!is_complex(dtype), TypeError, op, "ReduceOp.", reduce == ReduceOp::Min ? "MIN" : "MAX",
             " is not defined for complex tensors (", dtype, ")");
  }
}

WorkPtr Communicator::all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op, WorkPtr work) {
  TS_CHECK(count >= 0, ValueError, "all_reduce", "count must be >= 0, got ", count);
  check("all_reduce", dtype, op);
  return submit([=, this] { run_all_reduce(buf, count, dtype, op); }, std::move(work));
}

WorkPtr Communicator::broadcast(void* buf, int64_t count, DType dtype, int root, WorkPtr work) {
  TS_CHECK(count >= 0, ValueError, "broadcast", "count must be >= 0, got ", count);
  TS_CHECK(root >= 0 && root < world_size_, ValueError, "broadcast", "src rank ", root,
           " is out of range for a world of size ", world_size_);
  return submit([=, this] { run_broadcast(buf, count, dtype, root); }, std::move(work));
}

WorkPtr Communicator::all_gather(const void* send, void* recv, int64_t count, DType dtype, WorkPtr work) {
  TS_CHECK(count >= 0, ValueError, "all_gather", "count must be >= 0, got ", count);
  return submit([=, this] { run_all_gather(send, recv, count, dtype); }, std::move(work));
}

WorkPtr Communicator::reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op,
                                     WorkPtr work) {
  TS_CHECK(count >= 0, ValueError, "reduce_scatter", "count must be >= 0, got ", count);
  check("reduce_scatter", dtype, op);
  return submit([=, this] { run_reduce_scatter(send, recv, count, dtype, op); }, std::move(work));
}

WorkPtr Communicator::barrier() {
  return submit([this] { run_barrier(); });
}

namespace detail {

void divide(void* buf, int64_t count, DType dtype, int world_size) {
  if (world_size == 1) return;
  visit_dtype(dtype, [&]<class T>(std::type_identity<T>) {
    if constexpr (is_complex_v<T>) {
      using R = typename T::value_type;
      T* p = static_cast<T*>(buf);
      for (int64_t i = 0; i < count; ++i) p[i] /= static_cast<R>(world_size);
    } else if constexpr (is_reduced_float_v<T>) {
      T* p = static_cast<T*>(buf);
      for (int64_t i = 0; i < count; ++i) p[i] = T(static_cast<float>(p[i]) / static_cast<float>(world_size));
    } else if constexpr (std::is_floating_point_v<T>) {
      T* p = static_cast<T*>(buf);
      for (int64_t i = 0; i < count; ++i) p[i] /= static_cast<T>(world_size);
    }
  });
}

}  // namespace detail
}  // namespace tessel::distributed
