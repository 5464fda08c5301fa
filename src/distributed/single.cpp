// The single-process group: world size 1, every collective a local copy.
#include <cstdlib>
#include <cstring>

#include "src/distributed/internal.h"

namespace tessel::distributed::detail {
namespace {

class SingleCommunicator final : public Communicator {
 public:
  ~SingleCommunicator() override { shutdown(); }
  std::string backend() const override { return "single"; }
  [[noreturn]] void abort(int code) override { std::_Exit(code); }

 protected:
  void run_all_reduce(void*, int64_t, DType, ReduceOp) override {}
  void run_broadcast(void*, int64_t, DType, int) override {}
  void run_all_gather(const void* send, void* recv, int64_t count, DType dtype) override {
    if (send != recv && count > 0) std::memmove(recv, send, static_cast<size_t>(count) * itemsize(dtype));
  }
  void run_reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp) override {
    if (send != recv && count > 0) std::memmove(recv, send, static_cast<size_t>(count) * itemsize(dtype));
  }
  void run_barrier() override {}
};

}  // namespace

std::unique_ptr<Communicator> make_single() { return std::make_unique<SingleCommunicator>(); }

}  // namespace tessel::distributed::detail
