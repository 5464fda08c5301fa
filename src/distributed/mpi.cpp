// The MPI communicator on CPU buffers. Every MPI call, MPI_Init_thread and
// MPI_Finalize included, runs on the communication thread (MPI_THREAD_FUNNELED):
// OpenMPI has no progress thread of its own, so this thread is what moves
// messages while the caller computes.
// The C API only: keep the deprecated C++ bindings (and their warnings) out.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "src/distributed/internal.h"
#include "tessel/error.h"

namespace tessel::distributed::detail {
namespace {

// Elements per MPI call: MPI counts are int.
constexpr int64_t kChunk = int64_t(1) << 30;

void mpi_check(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail<Error>(op, "MPI error: ", std::string(msg, static_cast<size_t>(len)));
}

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::Bool: return MPI_C_BOOL;
    case DType::UInt8: return MPI_UINT8_T;
    case DType::Int8: return MPI_INT8_T;
    case DType::Int16: return MPI_INT16_T;
    case DType::Int32: return MPI_INT32_T;
    case DType::Int64: return MPI_INT64_T;
    case DType::UInt16: return MPI_UINT16_T;
    case DType::UInt32: return MPI_UINT32_T;
    case DType::UInt64: return MPI_UINT64_T;
    case DType::Float16:
    case DType::BFloat16: return MPI_UINT16_T;  // reduced with our own MPI_Ops
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    case DType::Complex64: return MPI_C_FLOAT_COMPLEX;
    case DType::Complex128: return MPI_C_DOUBLE_COMPLEX;
    default: break;
  }
  return MPI_UINT8_T;  // the cast-only dtypes: a byte each, moved but never reduced
}

template <class T, ReduceOp Op>
void user_op(void* in, void* inout, int* len, MPI_Datatype*) {
  combine(static_cast<const T*>(in), static_cast<T*>(inout), *len, Op);
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const LaunchInfo& info) {
    (void)info;
    start_thread([this] { init(); });
  }
  ~MpiCommunicator() override { shutdown(); }
  std::string backend() const override { return "mpi"; }

  [[noreturn]] void abort(int code) override {
    // MPI_Abort is safe from any thread in OpenMPI; it ends every rank of the job.
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 protected:
  void run_all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op) override {
    char* p = static_cast<char*>(buf);
    const size_t item = itemsize(dtype);
    for (int64_t done = 0; done < count; done += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, count - done));
      mpi_check(MPI_Allreduce(MPI_IN_PLACE, p + done * item, n, mpi_type(dtype), mpi_op(dtype, op), comm_),
                "all_reduce");
    }
    if (op == ReduceOp::Avg) divide(buf, count, dtype, world_size_);
  }

  void run_broadcast(void* buf, int64_t count, DType dtype, int root) override {
    char* p = static_cast<char*>(buf);
    const size_t item = itemsize(dtype);
    for (int64_t done = 0; done < count; done += kChunk) {
      const int n = static_cast<int>(std::min(kChunk, count - done));
      mpi_check(MPI_Bcast(p + done * item, n, mpi_type(dtype), root, comm_), "broadcast");
    }
  }

  void run_all_gather(const void* send, void* recv, int64_t count, DType dtype) override {
    TS_CHECK(count <= INT_MAX, ValueError, "all_gather", "at most ", INT_MAX, " elements per rank, got ", count);
    const size_t bytes = static_cast<size_t>(count) * itemsize(dtype);
    std::vector<char> copy = copy_if_overlapping(send, recv, bytes, static_cast<size_t>(world_size_) * bytes);
    mpi_check(MPI_Allgather(copy.empty() ? send : copy.data(), static_cast<int>(count), mpi_type(dtype), recv,
                            static_cast<int>(count), mpi_type(dtype), comm_),
              "all_gather");
  }

  void run_reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) override {
    TS_CHECK(count <= INT_MAX, ValueError, "reduce_scatter", "at most ", INT_MAX, " elements per rank, got ", count);
    const size_t bytes = static_cast<size_t>(count) * itemsize(dtype);
    std::vector<char> copy = copy_if_overlapping(send, recv, static_cast<size_t>(world_size_) * bytes, bytes);
    mpi_check(MPI_Reduce_scatter_block(copy.empty() ? send : copy.data(), recv, static_cast<int>(count),
                                       mpi_type(dtype), mpi_op(dtype, op), comm_),
              "reduce_scatter");
    if (op == ReduceOp::Avg) divide(recv, count, dtype, world_size_);
  }

  void run_barrier() override { mpi_check(MPI_Barrier(comm_), "barrier"); }

  void run_shutdown() override {
    for (MPI_Op& op : user_ops_) MPI_Op_free(&op);
    user_ops_.clear();
    if (local_ != MPI_COMM_NULL) MPI_Comm_free(&local_);
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_init_ && !finalized) MPI_Finalize();
  }

 private:
  void init() {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    TS_CHECK(!finalized, Error, "init_process_group",
             "MPI was finalized by an earlier destroy_process_group() and cannot start again in this process");
    if (!initialized) {
      // This thread waits inside MPI while the rank computes: yielding the core while it
      // polls (OpenMPI's mpi_yield_when_idle) keeps it from slowing backward down. The
      // user's own setting wins.
      setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
      int provided = 0;
      mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init_process_group");
      owns_init_ = true;
    } else {
      // Started by someone else (mpi4py, the program's own MPI_Init) on another thread:
      // calling MPI from this thread then needs MPI_THREAD_MULTIPLE.
      int level = 0;
      MPI_Query_thread(&level);
      TS_CHECK(level == MPI_THREAD_MULTIPLE, Error, "init_process_group",
               "MPI was initialized before init_process_group() with a thread level below MPI_THREAD_MULTIPLE; "
               "initialize it with MPI_Init_thread(MPI_THREAD_MULTIPLE) (mpi4py's default) or let tessel do it");
    }
    // Our own communicator: errors come back as codes (raised as exceptions), and a
    // user's own MPI traffic on MPI_COMM_WORLD cannot match ours.
    mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "init_process_group");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &world_size_);
    mpi_check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local_), "init_process_group");
    MPI_Comm_rank(local_, &local_rank_);
    add_ops<Half>(half_ops_);
    add_ops<BFloat16>(bf16_ops_);
  }

  template <class T>
  void add_ops(MPI_Op (&ops)[5]) {
    MPI_Op_create(&user_op<T, ReduceOp::Sum>, 1, &ops[0]);
    MPI_Op_create(&user_op<T, ReduceOp::Product>, 1, &ops[2]);
    MPI_Op_create(&user_op<T, ReduceOp::Min>, 1, &ops[3]);
    MPI_Op_create(&user_op<T, ReduceOp::Max>, 1, &ops[4]);
    ops[1] = ops[0];  // AVG sums, then divides
    for (int i : {0, 2, 3, 4}) user_ops_.push_back(ops[i]);
  }

  MPI_Op mpi_op(DType dtype, ReduceOp op) const {
    if (dtype == DType::Float16) return half_ops_[static_cast<int>(op)];
    if (dtype == DType::BFloat16) return bf16_ops_[static_cast<int>(op)];
    if (dtype == DType::Bool) return (op == ReduceOp::Sum || op == ReduceOp::Max) ? MPI_LOR : MPI_LAND;
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Avg: return MPI_SUM;
      case ReduceOp::Product: return MPI_PROD;
      case ReduceOp::Min: return MPI_MIN;
      case ReduceOp::Max: break;
    }
    return MPI_MAX;
  }

  // MPI forbids overlapping send and receive buffers (outside MPI_IN_PLACE).
  static std::vector<char> copy_if_overlapping(const void* send, void* recv, size_t send_bytes, size_t recv_bytes) {
    const char *s = static_cast<const char*>(send), *r = static_cast<const char*>(recv);
    if (send_bytes == 0 || recv_bytes == 0 || s + send_bytes <= r || r + recv_bytes <= s) return {};
    return std::vector<char>(s, s + send_bytes);
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm local_ = MPI_COMM_NULL;
  MPI_Op half_ops_[5] = {};
  MPI_Op bf16_ops_[5] = {};
  std::vector<MPI_Op> user_ops_;
  bool owns_init_ = false;
};

}  // namespace

bool mpi_built() { return true; }

std::unique_ptr<Communicator> make_mpi(const LaunchInfo& info) { return std::make_unique<MpiCommunicator>(info); }

}  // namespace tessel::distributed::detail
