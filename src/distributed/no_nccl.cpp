// Built with TESSEL_WITH_NCCL=OFF: backend="nccl" raises a clear error.
#include "src/distributed/internal.h"
#include "tessel/error.h"

namespace tessel::distributed::detail {

bool nccl_built() { return false; }

std::unique_ptr<Communicator> make_nccl(const LaunchInfo&) {
  fail<NotImplementedError>("init_process_group", "tessel was built without NCCL (TESSEL_WITH_NCCL=OFF): it needs "
                                                  "the CUDA toolkit, NCCL's nccl.h and the MPI backend");
}

}  // namespace tessel::distributed::detail
