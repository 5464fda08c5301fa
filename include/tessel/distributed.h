#pragma once
// Collective communication for data-parallel training (docs/distributed.md).
//
// A Communicator joins the processes of one job: the MPI one (CPU buffers,
// built with TESSEL_WITH_MPI), the TCP one (CPU buffers, for torchrun-style
// launches without MPI: src/distributed/tcp.cpp), the NCCL one (CUDA buffers) or
// the single-process one (world size 1). Its
// collectives return a Work at once; they run in call order on the
// communicator's own thread (OpenMPI has no asynchronous progress thread, so
// that thread is what lets communication overlap with backward), and
// Work::wait() returns when the result is in place.
//
// The free functions below act on the default group, as torch.distributed
// does: init_process_group("auto") reads the launcher's environment (mpirun,
// PMI, torchrun, Slurm) and never initializes MPI unless an MPI launcher
// started the process.
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tessel/dtype.h"
#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel::distributed {

// AVG is SUM divided by the world size (floating and complex dtypes only).
// On bool, SUM and MAX are logical or, PRODUCT and MIN logical and.
enum class ReduceOp : uint8_t { Sum, Avg, Product, Min, Max };
TESSEL_API const char* reduce_op_name(ReduceOp op);  // "sum"

// Who started this process and where it sits, read from the launcher's environment.
struct LaunchInfo {
  std::string launcher;  // "mpirun", "pmi", "torchrun", "slurm", or "" when none did
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  bool mpi = false;  // an MPI launcher (MPI_Init can join its job)
};
// `getenv` looks up one variable (null: std::getenv); a malformed value is a ValueError.
using EnvLookup = std::function<const char*(const char*)>;
TESSEL_API LaunchInfo detect_launch(const EnvLookup& getenv = nullptr);

// The handle of one submitted collective.
class TESSEL_API Work {
 public:
  Work();
  ~Work();
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;
  void wait();  // blocks until done; rethrows the collective's error
  bool is_completed() const;
  bool is_success() const;  // completed without error
  // When the communication thread started and finished running it, in seconds of
  // std::chrono::steady_clock (CLOCK_MONOTONIC on Linux: Python's time.monotonic());
  // 0 until then. DDP uses them to tell communication hidden behind backward.
  double started_at() const;
  double finished_at() const;

  // For communicators: the tensors and scratch memory the collective uses stay alive with it.
  std::vector<Tensor> keep;
  std::vector<char> scratch;
  void start();  // stamps started_at (the communication thread calls it)
  void finish(std::exception_ptr error);

 private:
  struct State;
  std::unique_ptr<State> state_;
};
using WorkPtr = std::shared_ptr<Work>;

class TESSEL_API Communicator {
 public:
  Communicator();
  virtual ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual std::string backend() const = 0;  // "mpi", "tcp", "nccl", "single"
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }

  // `count` elements of `dtype` per rank. all_gather: recv holds world_size * count;
  // reduce_scatter: send holds world_size * count. The buffers must stay valid until
  // the Work completes (a Work's `keep` holds tensors for that).
  WorkPtr all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op, WorkPtr work = nullptr);
  WorkPtr broadcast(void* buf, int64_t count, DType dtype, int root, WorkPtr work = nullptr);
  WorkPtr all_gather(const void* send, void* recv, int64_t count, DType dtype, WorkPtr work = nullptr);
  WorkPtr reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op,
                         WorkPtr work = nullptr);
  WorkPtr barrier();
  // Runs fn on the communication thread after everything submitted before it.
  WorkPtr submit(std::function<void()> fn, WorkPtr work = nullptr);

  // Ends every process of the job with `code` (after an uncaught error on one rank).
  [[noreturn]] virtual void abort(int code) = 0;
  // Finishes the queued work, then releases the backend (MPI_Finalize). Idempotent.
  void shutdown();

 protected:
  // Run on the communication thread (or inline when none was started).
  virtual void run_all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op) = 0;
  virtual void run_broadcast(void* buf, int64_t count, DType dtype, int root) = 0;
  virtual void run_all_gather(const void* send, void* recv, int64_t count, DType dtype) = 0;
  virtual void run_reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) = 0;
  virtual void run_barrier() = 0;
  virtual void run_shutdown() {}
  // Starts the thread that runs every collective; `init` runs first on it (MPI_Init_thread).
  void start_thread(std::function<void()> init);
  void check(const char* op, DType dtype, ReduceOp reduce) const;

  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;

 private:
  struct Queue;
  std::unique_ptr<Queue> queue_;
  bool shut_down_ = false;
};

// ---- the default group, as torch.distributed ----
TESSEL_API bool is_mpi_available();   // built with TESSEL_WITH_MPI
TESSEL_API bool is_nccl_available();  // built with TESSEL_WITH_NCCL
// backend: "auto" (MPI when an MPI launcher started this process; TCP when torchrun's variables
// say several processes: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; else single), "mpi", "tcp",
// "nccl" or "single". timeout_s bounds the TCP rendezvous and each TCP collective's waits
// (0: TESSEL_DIST_TIMEOUT, else 600 s).
TESSEL_API void init_process_group(const std::string& backend = "auto", double timeout_s = 0);
TESSEL_API bool is_initialized();
TESSEL_API void destroy_process_group();
TESSEL_API Communicator& default_group();  // ValueError when not initialized
TESSEL_API int get_rank();
TESSEL_API int get_world_size();
TESSEL_API int get_local_rank();

// Tensor collectives on the default group: contiguous CPU tensors, written in place.
// With async_op the returned Work completes later; otherwise it has completed.
TESSEL_API WorkPtr all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::Sum, bool async_op = false);
TESSEL_API WorkPtr broadcast(const Tensor& tensor, int src, bool async_op = false);
TESSEL_API WorkPtr all_gather(const std::vector<Tensor>& outputs, const Tensor& input, bool async_op = false);
TESSEL_API WorkPtr all_gather_into_tensor(const Tensor& output, const Tensor& input, bool async_op = false);
TESSEL_API WorkPtr reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs,
                                  ReduceOp op = ReduceOp::Sum, bool async_op = false);
TESSEL_API WorkPtr reduce_scatter_tensor(const Tensor& output, const Tensor& input, ReduceOp op = ReduceOp::Sum,
                                         bool async_op = false);
TESSEL_API WorkPtr barrier(bool async_op = false);

// ---- gradient buckets for data-parallel training ----
// The engine behind DistributedDataParallel, in C++ (tessel::nn, tessel/nn/parallel.h)
// and in Python (ts.nn.parallel): one copy of the logic, after PyTorch's design note.
// Gradients are packed into buckets of about bucket_cap_bytes in reverse registration
// order (one dtype per bucket). A hook on each parameter copies its gradient (plus
// whatever .grad holds: no_sync accumulation) into its bucket when backward produces
// it; buckets are averaged (all_reduce AVG) on the communicator's thread while backward
// goes on, always issued in index order, so ranks whose gradients arrive in different
// orders issue the same collectives. The last gradient's hook waits for every bucket
// and writes the averages into each parameter's .grad.
struct ReducerOptions {
  int64_t bucket_cap_bytes = int64_t(25) << 20;
  bool find_unused_parameters = false;  // walk the graph after each forward for parameters it left out
};

// Seconds summed over the synchronized backwards: comm_s the buckets' all-reduces took on
// the communication thread, hidden_s the part that ran before the last gradient arrived.
struct ReducerStats {
  int64_t steps = 0;
  double comm_s = 0, hidden_s = 0;
};

class TESSEL_API Reducer {
 public:
  // `params` (leaves requiring grad, no duplicates) in registration order, `names` for messages.
  // Checks that every rank holds the same parameter shapes (a collective: every rank constructs).
  Reducer(std::vector<Tensor> params, std::vector<std::string> names, ReducerOptions options = {});
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Before a forward: raises when the previous synchronized backward left parameters without a gradient.
  void check_finished() const;
  // After a forward whose backward must average the gradients; `outputs` are where the
  // graph walk of find_unused_parameters starts.
  void prepare_for_backward(const std::vector<Tensor>& outputs);
  // After a forward whose backward must not average (no_sync, no grad mode): the hooks stay idle.
  void disarm();
  ReducerStats stats() const;
  void reset_stats();
  // Parameter indices of each bucket, in the order the buckets are issued.
  std::vector<std::vector<int64_t>> buckets() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Copies rank `src`'s values into `tensors` on every rank (DDP's parameters and buffers):
// all broadcasts in flight together; non-contiguous tensors through a contiguous copy.
TESSEL_API void broadcast_tensors(const std::vector<Tensor>& tensors, int src = 0);

}  // namespace tessel::distributed
