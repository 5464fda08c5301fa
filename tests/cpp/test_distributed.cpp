// tessel::distributed from C++: launcher detection, the single-process group,
// and (when this binary runs under mpirun: ctest's distributed_mpi) MPI collectives.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tessel/distributed.h"
#include "tessel/tessel.h"

using namespace tessel;
namespace d = tessel::distributed;

namespace {
d::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

std::vector<double> vals(const Tensor& t) {
  const Tensor c = t.to(DType::Float64).contiguous();
  return std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
}
}  // namespace

TEST(DistributedLaunch, ReadsEachLauncher) {
  d::LaunchInfo none = d::detect_launch(env_of({}));
  EXPECT_EQ(none.launcher, "");
  EXPECT_EQ(none.world_size, 1);
  EXPECT_FALSE(none.mpi);
  d::LaunchInfo ompi = d::detect_launch(env_of({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "4"},
                                                {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"RANK", "9"}}));
  EXPECT_EQ(ompi.launcher, "mpirun");
  EXPECT_EQ(ompi.rank, 2);
  EXPECT_EQ(ompi.world_size, 4);
  EXPECT_EQ(ompi.local_rank, 0);
  EXPECT_TRUE(ompi.mpi);
  d::LaunchInfo torchrun = d::detect_launch(env_of({{"RANK", "1"}, {"WORLD_SIZE", "3"}}));
  EXPECT_EQ(torchrun.launcher, "torchrun");
  EXPECT_EQ(torchrun.local_rank, 1);  // no LOCAL_RANK: the global rank
  EXPECT_FALSE(torchrun.mpi);
  d::LaunchInfo slurm = d::detect_launch(env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"PMIX_RANK", "0"}}));
  EXPECT_EQ(slurm.launcher, "slurm");
  EXPECT_TRUE(slurm.mpi);
  EXPECT_THROW(d::detect_launch(env_of({{"PMI_RANK", "1"}, {"PMI_SIZE", "one"}})), ValueError);
  EXPECT_THROW(d::detect_launch(env_of({{"RANK", "3"}, {"WORLD_SIZE", "3"}})), ValueError);
}

TEST(DistributedSingle, CollectivesAndErrors) {
  if (d::detect_launch().world_size > 1) GTEST_SKIP() << "launched as one rank of several";
  EXPECT_FALSE(d::is_initialized());
  EXPECT_THROW(d::get_rank(), ValueError);
  EXPECT_THROW(d::init_process_group("gloo"), ValueError);
  d::init_process_group("single");
  EXPECT_THROW(d::init_process_group(), ValueError);  // twice
  EXPECT_EQ(d::default_group().backend(), "single");
  EXPECT_EQ(d::get_world_size(), 1);
  Tensor t = from_vector<float>({1, 2, 3}, {3});
  d::all_reduce(t, d::ReduceOp::Avg);
  EXPECT_EQ(vals(t), (std::vector<double>{1, 2, 3}));
  d::WorkPtr w = d::broadcast(t, 0, /*async_op=*/true);
  w->wait();
  EXPECT_TRUE(w->is_completed() && w->is_success());
  Tensor out = zeros({3});
  d::all_gather({out}, t);
  EXPECT_EQ(vals(out), vals(t));
  EXPECT_THROW(d::all_reduce(from_vector<int32_t>({1}, {1}), d::ReduceOp::Avg), TypeError);
  EXPECT_THROW(d::all_reduce(zeros({2, 3}).t()), ValueError);  // not contiguous
  EXPECT_THROW(d::broadcast(t, 1), ValueError);
  // Buffer level: a submitted function runs in order and its error reaches wait().
  d::WorkPtr bad = d::default_group().submit([] { throw ValueError("[test] on purpose"); });
  EXPECT_THROW(bad->wait(), ValueError);
  d::destroy_process_group();
  EXPECT_FALSE(d::is_initialized());
}

TEST(DistributedMpi, Collectives) {
  const d::LaunchInfo info = d::detect_launch();
  if (!info.mpi || !d::is_mpi_available()) GTEST_SKIP() << "not started by mpirun (ctest runs distributed_mpi)";
  d::init_process_group();
  const int r = d::get_rank(), n = d::get_world_size();
  EXPECT_EQ(d::default_group().backend(), "mpi");
  for (DType dt : {DType::Int32, DType::Float16, DType::BFloat16, DType::Float64}) {
    Tensor t = full({5}, static_cast<double>(r + 1), TensorOptions(dt));
    d::all_reduce(t, d::ReduceOp::Sum);
    EXPECT_EQ(vals(t), std::vector<double>(5, n * (n + 1) / 2.0)) << dt;
    Tensor m = full({5}, static_cast<double>(r), TensorOptions(dt));
    d::all_reduce(m, d::ReduceOp::Max);
    EXPECT_EQ(vals(m), std::vector<double>(5, n - 1)) << dt;
  }
  Tensor b = full({4}, static_cast<double>(r), TensorOptions(DType::Float32));
  d::broadcast(b, n - 1);
  EXPECT_EQ(vals(b), std::vector<double>(4, n - 1));
  Tensor mine = full({2}, static_cast<double>(r), TensorOptions(DType::Float32));
  Tensor every = zeros({2 * n});
  d::all_gather_into_tensor(every, mine);
  for (int k = 0; k < n; ++k) EXPECT_EQ(vals(every)[2 * k], k);
  Tensor part = zeros({2});
  d::reduce_scatter_tensor(part, ones({2 * n}), d::ReduceOp::Sum);
  EXPECT_EQ(vals(part), std::vector<double>(2, n));
  d::barrier();
  d::destroy_process_group();
}
