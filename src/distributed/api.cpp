// The default process group and the tensor collectives on it (torch.distributed's API).
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "src/distributed/internal.h"
#include "tessel/error.h"

namespace tessel::distributed {
namespace {

std::mutex g_mu;
std::unique_ptr<Communicator> g_group;

// A tensor a collective may read or write in place.
void check_tensor(const char* op, const char* what, const Tensor& t) {
  TS_CHECK(t.defined(), ValueError, op, what, " is an undefined tensor");
  const bool nccl = default_group().backend() == "nccl";
  TS_CHECK(t.device().is_cpu() != nccl, ValueError, op, what, " is on ", t.device(), "; the ",
           default_group().backend(), " backend takes ", nccl ? "CUDA" : "CPU", " tensors");
  TS_CHECK(t.is_contiguous(), ValueError, op, what, " must be contiguous (call .contiguous() first)");
}

void check_same(const char* op, const char* what, const Tensor& t, const Tensor& ref) {
  TS_CHECK(t.dtype() == ref.dtype(), TypeError, op, what, " has dtype ", t.dtype(), " but the input has ",
           ref.dtype());
}

WorkPtr finish(WorkPtr w, bool async_op) {
  if (!async_op) w->wait();
  return w;
}

}  // namespace

bool is_mpi_available() { return detail::mpi_built(); }
bool is_nccl_available() { return detail::nccl_built(); }

namespace {

// Seconds a TCP rendezvous or collective may wait: the argument, else TESSEL_DIST_TIMEOUT, else 600.
double timeout_seconds(double given) {
  if (given > 0) return given;
  const char* v = std::getenv("TESSEL_DIST_TIMEOUT");
  if (v == nullptr || *v == '\0') return 600;
  char* end = nullptr;
  const double t = std::strtod(v, &end);
  TS_CHECK(end != v && *end == '\0' && t > 0, ValueError, "init_process_group", "environment variable TESSEL_DIST_TIMEOUT='",
           v, "' is not a positive number of seconds");
  return t;
}

bool master_addr_set() {
  const char* v = std::getenv("MASTER_ADDR");
  return v != nullptr && *v != '\0';
}

}  // namespace

void init_process_group(const std::string& backend, double timeout_s) {
  std::lock_guard<std::mutex> lock(g_mu);
  TS_CHECK(!g_group, ValueError, "init_process_group", "trying to initialize the default process group twice");
  TS_CHECK(timeout_s >= 0, ValueError, "init_process_group", "timeout must be positive, got ", timeout_s, " s");
  const LaunchInfo info = detect_launch();
  std::string chosen = backend;
  if (backend == "auto") {
    if (info.mpi && detail::mpi_built()) {
      chosen = "mpi";
    } else if (info.world_size == 1) {
      chosen = "single";
    } else if (info.launcher == "torchrun" || master_addr_set()) {
      chosen = "tcp";  // torchrun's rendezvous variables: no MPI launcher, so no MPI
    } else {
      fail<ValueError>("init_process_group", info.launcher, " started ", info.world_size,
                       " processes without MASTER_ADDR/MASTER_PORT (for backend=\"tcp\") or an MPI launcher",
                       detail::mpi_built() ? " (mpirun, `tessel launch`)" : " (tessel was built without MPI)");
    }
  }
  if (chosen == "mpi") {
    if (detail::mpi_built()) {
      TS_CHECK(info.mpi, ValueError, "init_process_group",
               "backend=\"mpi\" needs a process started by an MPI launcher (mpirun, `tessel launch`, srun "
               "--mpi=pmix); none of OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK is set");
    }
    g_group = detail::make_mpi(info);
  } else if (chosen == "tcp") {
    g_group = detail::make_tcp(info, timeout_seconds(timeout_s));
  } else if (chosen == "single") {
    TS_CHECK(info.world_size == 1, ValueError, "init_process_group", "backend=\"single\" in a job of ",
             info.world_size, " processes (", info.launcher, "): every rank would train alone");
    g_group = detail::make_single();
  } else if (chosen == "nccl") {
    if (detail::nccl_built()) {
      TS_CHECK(info.mpi, ValueError, "init_process_group",
               "backend=\"nccl\" is bootstrapped over MPI and needs a process started by an MPI launcher (mpirun, "
               "`tessel launch`)");
    }
    g_group = detail::make_nccl(info);
  } else {
    fail<ValueError>("init_process_group", "unknown backend \"", backend,
                     "\" (expected \"auto\", \"mpi\", \"tcp\", \"nccl\" or \"single\")");
  }
}

bool is_initialized() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_group != nullptr;
}

void destroy_process_group() {
  std::unique_ptr<Communicator> g;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g = std::move(g_group);
  }
  TS_CHECK(g != nullptr, ValueError, "destroy_process_group", "the default process group has not been initialized");
  g->shutdown();
}

Communicator& default_group() {
  std::lock_guard<std::mutex> lock(g_mu);
  TS_CHECK(g_group != nullptr, ValueError, "distributed",
           "the default process group has not been initialized: call init_process_group() first");
  return *g_group;
}

int get_rank() { return default_group().rank(); }
int get_world_size() { return default_group().world_size(); }
int get_local_rank() { return default_group().local_rank(); }

WorkPtr all_reduce(const Tensor& tensor, ReduceOp op, bool async_op) {
  Communicator& g = default_group();
  check_tensor("all_reduce", "tensor", tensor);
  auto w = std::make_shared<Work>();
  w->keep = {tensor};
  tensor.bump_version();
  return finish(g.all_reduce(tensor.data_ptr(), tensor.numel(), tensor.dtype(), op, w), async_op);
}

WorkPtr broadcast(const Tensor& tensor, int src, bool async_op) {
  Communicator& g = default_group();
  check_tensor("broadcast", "tensor", tensor);
  auto w = std::make_shared<Work>();
  w->keep = {tensor};
  if (g.rank() != src) tensor.bump_version();
  return finish(g.broadcast(tensor.data_ptr(), tensor.numel(), tensor.dtype(), src, w), async_op);
}

WorkPtr all_gather_into_tensor(const Tensor& output, const Tensor& input, bool async_op) {
  Communicator& g = default_group();
  check_tensor("all_gather_into_tensor", "input", input);
  check_tensor("all_gather_into_tensor", "output", output);
  check_same("all_gather_into_tensor", "output", output, input);
  TS_CHECK(output.numel() == input.numel() * g.world_size(), ValueError, "all_gather_into_tensor",
           "output has ", output.numel(), " elements; world size ", g.world_size(), " x input ", input.numel(),
           " = ", input.numel() * g.world_size(), " expected");
  auto w = std::make_shared<Work>();
  w->keep = {output, input};
  output.bump_version();
  return finish(g.all_gather(input.data_ptr(), output.data_ptr(), input.numel(), input.dtype(), w), async_op);
}

WorkPtr all_gather(const std::vector<Tensor>& outputs, const Tensor& input, bool async_op) {
  Communicator& g = default_group();
  check_tensor("all_gather", "input", input);
  TS_CHECK(static_cast<int>(outputs.size()) == g.world_size(), ValueError, "all_gather", "tensor_list has ",
           outputs.size(), " tensors; the world size is ", g.world_size());
  for (const Tensor& o : outputs) {
    check_tensor("all_gather", "a tensor of tensor_list", o);
    check_same("all_gather", "a tensor of tensor_list", o, input);
    TS_CHECK(o.numel() == input.numel(), ValueError, "all_gather", "a tensor of tensor_list has ", o.numel(),
             " elements, the input ", input.numel());
    o.bump_version();
  }
  // Gather into scratch memory, then copy each rank's part out, on the communication thread.
  auto w = std::make_shared<Work>();
  w->keep = outputs;
  w->keep.push_back(input);
  const size_t bytes = input.nbytes();
  w->scratch.resize(bytes * outputs.size());
  g.all_gather(input.data_ptr(), w->scratch.data(), input.numel(), input.dtype(), w);
  // The copy runs right after the gather (same queue); its own Work is what callers wait on.
  auto out = std::make_shared<Work>();
  auto gathered = w;
  g.submit([gathered, bytes] {
    gathered->wait();
    for (size_t r = 0; r + 1 < gathered->keep.size(); ++r) {
      if (bytes) std::memcpy(gathered->keep[r].data_ptr(), gathered->scratch.data() + r * bytes, bytes);
    }
  }, out);
  return finish(out, async_op);
}

WorkPtr reduce_scatter_tensor(const Tensor& output, const Tensor& input, ReduceOp op, bool async_op) {
  Communicator& g = default_group();
  check_tensor("reduce_scatter_tensor", "input", input);
  check_tensor("reduce_scatter_tensor", "output", output);
  check_same("reduce_scatter_tensor", "output", output, input);
  TS_CHECK(input.numel() == output.numel() * g.world_size(), ValueError, "reduce_scatter_tensor", "input has ",
           input.numel(), " elements; world size ", g.world_size(), " x output ", output.numel(), " = ",
           output.numel() * g.world_size(), " expected");
  auto w = std::make_shared<Work>();
  w->keep = {output, input};
  output.bump_version();
  return finish(g.reduce_scatter(input.data_ptr(), output.data_ptr(), output.numel(), output.dtype(), op, w),
                async_op);
}

WorkPtr reduce_scatter(const Tensor& output, const std::vector<Tensor>& inputs, ReduceOp op, bool async_op) {
  Communicator& g = default_group();
  check_tensor("reduce_scatter", "output", output);
  TS_CHECK(static_cast<int>(inputs.size()) == g.world_size(), ValueError, "reduce_scatter", "input_list has ",
           inputs.size(), " tensors; the world size is ", g.world_size());
  auto w = std::make_shared<Work>();
  const size_t bytes = output.nbytes();
  w->scratch.resize(bytes * inputs.size());
  for (size_t r = 0; r < inputs.size(); ++r) {
    check_tensor("reduce_scatter", "a tensor of input_list", inputs[r]);
    check_same("reduce_scatter", "a tensor of input_list", inputs[r], output);
    TS_CHECK(inputs[r].numel() == output.numel(), ValueError, "reduce_scatter", "a tensor of input_list has ",
             inputs[r].numel(), " elements, the output ", output.numel());
    if (bytes) std::memcpy(w->scratch.data() + r * bytes, inputs[r].data_ptr(), bytes);
  }
  w->keep = {output};
  output.bump_version();
  return finish(g.reduce_scatter(w->scratch.data(), output.data_ptr(), output.numel(), output.dtype(), op, w),
                async_op);
}

WorkPtr barrier(bool async_op) { return finish(default_group().barrier(), async_op); }

}  // namespace tessel::distributed
