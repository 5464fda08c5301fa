// Built with TESSEL_WITH_MPI=OFF: backend="mpi" raises a clear error.
#include "src/distributed/internal.h"
#include "tessel/error.h"

namespace tessel::distributed::detail {

bool mpi_built() { return false; }

std::unique_ptr<Communicator> make_mpi(const LaunchInfo&) {
  fail<NotImplementedError>("init_process_group",
                            "tessel was built without MPI (TESSEL_WITH_MPI=OFF): install libopenmpi-dev and "
                            "rebuild, or use backend=\"single\"");
}

}  // namespace tessel::distributed::detail
