// Rank discovery from the launcher's environment: mpirun (OpenMPI), PMI
// (MPICH/Intel MPI Hydra, Slurm's PMI), torchrun, Slurm. MPI's own
// MPI_Comm_rank stays authoritative once MPI runs.
#include <cerrno>
#include <cstdlib>
#include <string>

#include "tessel/distributed.h"
#include "tessel/error.h"

namespace tessel::distributed {
namespace {

// The variable as an int >= `min`; false when unset.
bool read_int(const EnvLookup& get, const char* name, int min, int& out) {
  const char* v = get(name);
  if (v == nullptr || *v == '\0') return false;
  errno = 0;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  TS_CHECK(errno == 0 && end != v && *end == '\0' && x >= min && x <= (1L << 30), ValueError,
           "distributed", "environment variable ", name, "='", v, "' is not an integer >= ", min);
  out = static_cast<int>(x);
  return true;
}

bool present(const EnvLookup& get, const char* name) {
  const char* v = get(name);
  return v != nullptr && *v != '\0';
}

}  // namespace

LaunchInfo detect_launch(const EnvLookup& lookup) {
  const EnvLookup get = lookup ? lookup : EnvLookup([](const char* n) -> const char* { return std::getenv(n); });
  LaunchInfo info;
  // One launcher's variables, in the order of how much they can be trusted to mean "this job".
  struct Names {
    const char* launcher;
    const char *rank, *size, *local_rank, *local_size;
    bool mpi;
  };
  const Names launchers[] = {
      {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
       "OMPI_COMM_WORLD_LOCAL_SIZE", true},
      {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS", true},
      {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", false},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr, false},
  };
  for (const Names& n : launchers) {
    if (!present(get, n.rank) || !present(get, n.size)) continue;
    info.launcher = n.launcher;
    read_int(get, n.size, 1, info.world_size);
    read_int(get, n.rank, 0, info.rank);
    TS_CHECK(info.rank < info.world_size, ValueError, "distributed", n.rank, "=", info.rank,
             " is out of range for ", n.size, "=", info.world_size);
    if (!read_int(get, n.local_rank, 0, info.local_rank)) info.local_rank = info.rank;
    if (n.local_size == nullptr || !read_int(get, n.local_size, 1, info.local_world_size)) {
      info.local_world_size = info.world_size;
    }
    // srun --mpi=pmix starts the ranks of an MPI job without OMPI_/PMI_ variables.
    info.mpi = n.mpi || (info.launcher == "slurm" && present(get, "PMIX_RANK"));
    return info;
  }
  return info;
}

}  // namespace tessel::distributed
