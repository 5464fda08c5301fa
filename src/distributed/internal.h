#pragma once
// Shared by the communicators in src/distributed (not installed).
#include <algorithm>
#include <cstdint>
#include <memory>

#include "tessel/distributed.h"

namespace tessel::distributed::detail {

// Each backend's factory; mpi.cpp or no_mpi.cpp defines the MPI one.
std::unique_ptr<Communicator> make_single();
std::unique_ptr<Communicator> make_mpi(const LaunchInfo& info);
bool mpi_built();
std::unique_ptr<Communicator> make_tcp(const LaunchInfo& info, double timeout_s);  // tcp.cpp
std::unique_ptr<Communicator> make_nccl(const LaunchInfo& info);  // nccl.cpp or no_nccl.cpp
bool nccl_built();

// inout[i] = op(inout[i], in[i]) for the dtypes MPI has no type for (float16, bfloat16).
template <class T>
void combine(const T* in, T* inout, int64_t n, ReduceOp op) {
  for (int64_t i = 0; i < n; ++i) {
    const float a = static_cast<float>(in[i]), b = static_cast<float>(inout[i]);
    float r = b;
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Avg: r = a + b; break;
      case ReduceOp::Product: r = a * b; break;
      case ReduceOp::Min: r = (a < b || a != a) ? a : b; break;  // NaN wins, as torch.minimum
      case ReduceOp::Max: r = (a > b || a != a) ? a : b; break;
    }
    inout[i] = T(r);
  }
}

// AVG: the sum divided by the world size, in the buffer's own dtype.
void divide(void* buf, int64_t count, DType dtype, int world_size);

}  // namespace tessel::distributed::detail
