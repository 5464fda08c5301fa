// The NCCL communicator on CUDA buffers, bootstrapped over MPI: rank 0's
// ncclUniqueId reaches the other ranks with an MPI broadcast. libnccl and
// libcudart are loaded with dlopen when a job asks for backend="nccl", so
// libtessel itself depends on neither (libnccl alone is ~200 MB).
// Every CUDA and NCCL call runs on this communicator's own thread, whose
// device is cudaSetDevice(local_rank % device_count).
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nccl.h>

#include <cstdlib>
#include <string>

#include "src/distributed/internal.h"
#include "tessel/error.h"

namespace tessel::distributed::detail {
namespace {

// The library functions this file calls, resolved once.
struct Api {
  decltype(&::cudaGetDeviceCount) getDeviceCount = nullptr;
  decltype(&::cudaSetDevice) setDevice = nullptr;
  decltype(&::cudaStreamCreate) streamCreate = nullptr;
  decltype(&::cudaStreamDestroy) streamDestroy = nullptr;
  decltype(&::cudaStreamSynchronize) streamSynchronize = nullptr;
  decltype(&::cudaGetErrorString) cudaError = nullptr;
  decltype(&::ncclGetUniqueId) getUniqueId = nullptr;
  decltype(&::ncclCommInitRank) commInitRank = nullptr;
  decltype(&::ncclCommDestroy) commDestroy = nullptr;
  decltype(&::ncclCommAbort) commAbort = nullptr;
  decltype(&::ncclAllReduce) allReduce = nullptr;
  decltype(&::ncclBroadcast) broadcast = nullptr;
  decltype(&::ncclAllGather) allGather = nullptr;
  decltype(&::ncclReduceScatter) reduceScatter = nullptr;
  decltype(&::ncclGetErrorString) ncclError = nullptr;
};

void* open_first(std::initializer_list<const char*> names, const char* what) {
  std::string tried;
  for (const char* n : names) {
    if (void* h = dlopen(n, RTLD_NOW | RTLD_LOCAL)) return h;
    tried += std::string(tried.empty() ? "" : ", ") + n;
  }
  fail<Error>("init_process_group", "backend=\"nccl\" needs ", what, " (tried ", tried, "): ", dlerror());
}

template <class F>
void resolve(void* lib, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  TS_CHECK(out != nullptr, Error, "init_process_group", "backend=\"nccl\": ", name, " is missing from its library");
}

const Api& api() {
  static const Api a = [] {
    Api r;
    void* cudart = open_first({"libcudart.so", "libcudart.so.13", "libcudart.so.12"}, "the CUDA runtime");
    void* nccl = open_first({"libnccl.so.2", "libnccl.so"}, "NCCL (libnccl2)");
    resolve(cudart, "cudaGetDeviceCount", r.getDeviceCount);
    resolve(cudart, "cudaSetDevice", r.setDevice);
    resolve(cudart, "cudaStreamCreate", r.streamCreate);
    resolve(cudart, "cudaStreamDestroy", r.streamDestroy);
    resolve(cudart, "cudaStreamSynchronize", r.streamSynchronize);
    resolve(cudart, "cudaGetErrorString", r.cudaError);
    resolve(nccl, "ncclGetUniqueId", r.getUniqueId);
    resolve(nccl, "ncclCommInitRank", r.commInitRank);
    resolve(nccl, "ncclCommDestroy", r.commDestroy);
    resolve(nccl, "ncclCommAbort", r.commAbort);
    resolve(nccl, "ncclAllReduce", r.allReduce);
    resolve(nccl, "ncclBroadcast", r.broadcast);
    resolve(nccl, "ncclAllGather", r.allGather);
    resolve(nccl, "ncclReduceScatter", r.reduceScatter);
    resolve(nccl, "ncclGetErrorString", r.ncclError);
    return r;
  }();
  return a;
}

void cuda_check(cudaError_t rc, const char* op) {
  if (rc != cudaSuccess) fail<Error>(op, "CUDA error: ", api().cudaError(rc));
}

void nccl_check(ncclResult_t rc, const char* op) {
  if (rc != ncclSuccess) fail<Error>(op, "NCCL error: ", api().ncclError(rc));
}

// NCCL's element type and count for `count` elements of `dtype` (complex as pairs of reals).
std::pair<ncclDataType_t, size_t> nccl_type(const char* op, DType d, int64_t count) {
  const size_t n = static_cast<size_t>(count);
  switch (d) {
    case DType::Bool:
    case DType::UInt8: return {ncclUint8, n};
    case DType::Int8: return {ncclInt8, n};
    case DType::Int32: return {ncclInt32, n};
    case DType::Int64: return {ncclInt64, n};
    case DType::UInt32: return {ncclUint32, n};
    case DType::UInt64: return {ncclUint64, n};
    case DType::Float16: return {ncclFloat16, n};
    case DType::BFloat16: return {ncclBfloat16, n};
    case DType::Float32: return {ncclFloat32, n};
    case DType::Float64: return {ncclFloat64, n};
    case DType::Complex64: return {ncclFloat32, 2 * n};
    case DType::Complex128: return {ncclFloat64, 2 * n};
    case DType::Int16:
    case DType::UInt16: break;
    default: return {ncclUint8, n};  // the cast-only dtypes: a byte each, moved but never reduced
  }
  fail<TypeError>(op, "the nccl backend has no ", d, " type");
}

ncclRedOp_t nccl_op(const char* op, DType d, ReduceOp r) {
  if (d == DType::Bool) return (r == ReduceOp::Sum || r == ReduceOp::Max) ? ncclMax : ncclMin;  // or / and
  TS_CHECK(!(is_complex(d) && r == ReduceOp::Product), TypeError, op,
           "the nccl backend cannot multiply complex tensors (ReduceOp.PRODUCT)");
  switch (r) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Avg: return ncclAvg;
    case ReduceOp::Product: return ncclProd;
    case ReduceOp::Min: return ncclMin;
    case ReduceOp::Max: break;
  }
  return ncclMax;
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const LaunchInfo& info) : mpi_(make_mpi(info)) {
    rank_ = mpi_->rank();
    world_size_ = mpi_->world_size();
    local_rank_ = mpi_->local_rank();
    start_thread([this] { init(); });
  }
  ~NcclCommunicator() override { shutdown(); }
  std::string backend() const override { return "nccl"; }

  [[noreturn]] void abort(int code) override {
    if (comm_ != nullptr) api().commAbort(comm_);
    mpi_->abort(code);
    std::_Exit(code);  // not reached: MPI_Abort ends the process
  }

 protected:
  void run_all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op) override {
    auto [type, n] = nccl_type("all_reduce", dtype, count);
    nccl_check(api().allReduce(buf, buf, n, type, nccl_op("all_reduce", dtype, op), comm_, stream_), "all_reduce");
    sync("all_reduce");
  }
  void run_broadcast(void* buf, int64_t count, DType dtype, int root) override {
    auto [type, n] = nccl_type("broadcast", dtype, count);
    nccl_check(api().broadcast(buf, buf, n, type, root, comm_, stream_), "broadcast");
    sync("broadcast");
  }
  void run_all_gather(const void* send, void* recv, int64_t count, DType dtype) override {
    auto [type, n] = nccl_type("all_gather", dtype, count);
    nccl_check(api().allGather(send, recv, n, type, comm_, stream_), "all_gather");
    sync("all_gather");
  }
  void run_reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) override {
    auto [type, n] = nccl_type("reduce_scatter", dtype, count);
    nccl_check(api().reduceScatter(send, recv, n, type, nccl_op("reduce_scatter", dtype, op), comm_, stream_),
               "reduce_scatter");
    sync("reduce_scatter");
  }
  void run_barrier() override { mpi_->barrier()->wait(); }
  void run_shutdown() override {
    if (comm_ != nullptr) api().commDestroy(comm_);
    if (stream_ != nullptr) api().streamDestroy(stream_);
    comm_ = nullptr;
    stream_ = nullptr;
    mpi_->shutdown();
  }

 private:
  void init() {
    const Api& a = api();
    int devices = 0;
    cuda_check(a.getDeviceCount(&devices), "init_process_group");
    TS_CHECK(devices > 0, Error, "init_process_group", "backend=\"nccl\" found no CUDA device");
    cuda_check(a.setDevice(local_rank_ % devices), "init_process_group");
    ncclUniqueId id{};
    if (rank_ == 0) nccl_check(a.getUniqueId(&id), "init_process_group");
    mpi_->broadcast(&id, sizeof(id), DType::UInt8, 0)->wait();
    nccl_check(a.commInitRank(&comm_, world_size_, id, rank_), "init_process_group");
    cuda_check(a.streamCreate(&stream_), "init_process_group");
  }
  void sync(const char* op) { cuda_check(api().streamSynchronize(stream_), op); }

  std::unique_ptr<Communicator> mpi_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

bool nccl_built() { return true; }

std::unique_ptr<Communicator> make_nccl(const LaunchInfo& info) { return std::make_unique<NcclCommunicator>(info); }

}  // namespace tessel::distributed::detail
