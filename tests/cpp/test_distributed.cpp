// tessel::distributed from C++: launcher detection, the single-process group,
// and (when this binary runs under mpirun: ctest's distributed_mpi) MPI collectives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "tessel/distributed.h"
#include "tessel/nn/parallel.h"
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

// The DistributedRanks tests run as the ranks of a job: under mpirun (ctest's distributed_mpi,
// distributed_mpi_np3) or as processes given torchrun's variables (distributed_tcp, through
// tests/cpp/run_ranks.sh). MPI starts once per process: the tests share one group, ended after the last.
struct GroupEnd : ::testing::Environment {
  void TearDown() override {
    if (d::is_initialized() && d::default_group().backend() != "single") d::destroy_process_group();
  }
};
const auto* const group_end = ::testing::AddGlobalTestEnvironment(new GroupEnd);

bool join_job() {
  const d::LaunchInfo info = d::detect_launch();
  if (info.world_size == 1 || (info.mpi && !d::is_mpi_available())) return false;
  if (!d::is_initialized()) d::init_process_group();  // "auto": mpi under mpirun, tcp under torchrun's variables
  return true;
}

TEST(DistributedRanks, Collectives) {
  if (!join_job()) GTEST_SKIP() << "not started as a rank of a job (ctest runs distributed_mpi, distributed_tcp)";
  const int r = d::get_rank(), n = d::get_world_size();
  EXPECT_EQ(d::default_group().backend(), d::detect_launch().mpi ? "mpi" : "tcp");
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
}

// ---- nn::DistributedDataParallel ----
namespace {

// Four parallel branches summed in the order given: each rank's backward then produces
// the gradients (and fills the buckets) in a different order.
class Branches : public nn::Module {
 public:
  explicit Branches(std::vector<int> order) : order_(std::move(order)) {
    inp = register_module("inp", std::make_shared<nn::Linear>(4, 6));
    for (int i = 0; i < 4; ++i) branches.push_back(register_module(std::to_string(i), std::make_shared<nn::Linear>(6, 3)));
  }
  Tensor forward(const Tensor& x) override {
    const Tensor h = tanh((*inp)(x));
    Tensor out;
    for (int i : order_) out = out.defined() ? add(out, (*branches[i])(h)) : (*branches[i])(h);
    return out;
  }
  std::shared_ptr<nn::Linear> inp;
  std::vector<std::shared_ptr<nn::Linear>> branches;

 private:
  std::vector<int> order_;
};

std::shared_ptr<Branches> make_branches(std::vector<int> order, uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<Branches>(std::move(order));
}

// K steps of SGD with momentum; step(model) runs forward and backward.
template <class Step>
void train(nn::Module& model, Step step) {
  optim::SGD opt(model.parameters(), 0.1, 0.9);
  for (int k = 0; k < 5; ++k) {
    opt.zero_grad();
    step();
    opt.step();
  }
}

void expect_same_weights(nn::Module& got, nn::Module& want, const char* what) {
  const NamedTensors g = got.named_parameters(), w = want.named_parameters();
  ASSERT_EQ(g.size(), w.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const std::vector<double> a = vals(g[i].second), b = vals(w[i].second);
    for (size_t j = 0; j < a.size(); ++j)
      ASSERT_NEAR(a[j], b[j], 1e-6 + 1e-5 * std::abs(b[j])) << what << " " << g[i].first << "[" << j << "]";
  }
}

}  // namespace

TEST(DistributedSingle, DataParallelIsThePlainModule) {
  if (d::detect_launch().world_size > 1) GTEST_SKIP() << "launched as one rank of several";
  EXPECT_THROW(nn::DistributedDataParallel(std::make_shared<nn::Linear>(2, 2)), ValueError);  // no group
  d::init_process_group("single");
  EXPECT_THROW(nn::DistributedDataParallel(nullptr), ValueError);
  EXPECT_THROW(nn::DistributedDataParallel(std::make_shared<nn::ReLU>()), Error);  // nothing to train
  manual_seed(0);
  auto net = std::make_shared<nn::Linear>(3, 2);
  manual_seed(0);
  nn::Linear ref(3, 2);
  nn::DistributedDataParallel ddp(net);
  EXPECT_EQ(ddp.named_parameters()[0].first, "module.weight");
  const Tensor x = randn({4, 3});
  sum(ddp(x)).backward();
  sum(ref(x)).backward();
  EXPECT_EQ(vals(net->weight.grad()), vals(ref.weight.grad()));
  EXPECT_EQ(vals(net->bias.grad()), vals(ref.bias.grad()));
  {
    auto guard = ddp.no_sync();
    sum(ddp(x)).backward();  // accumulates locally
  }
  EXPECT_EQ(vals(net->bias.grad()), vals(mul(ref.bias.grad(), 2.0)));
  d::destroy_process_group();
}

TEST(DistributedRanks, DataParallelMatchesOneProcessOnTheFullBatch) {
  if (!join_job()) GTEST_SKIP() << "not started as a rank of a job (ctest runs distributed_mpi, distributed_tcp)";
  const int r = d::get_rank(), n = d::get_world_size();
  const int64_t B = 12, per = B / n, lo = r * per;
  ASSERT_EQ(B % n, 0) << "run with 2, 3, 4 or 6 ranks";
  manual_seed(7);
  const Tensor X = randn({B, 4}), Y = randn({B, 3});
  const Tensor xs = X.slice(0, lo, lo + per), ys = Y.slice(0, lo, lo + per);

  auto ref = make_branches({0, 1, 2, 3}, 100);  // one process on the full batch
  train(*ref, [&] { nn::functional::mse_loss((*ref)(X), Y).backward(); });

  // Ranks start from different weights (rank 0's are broadcast), in a rank-dependent order, tiny buckets.
  std::vector<int> order = {0, 1, 2, 3};
  std::rotate(order.begin(), order.begin() + r % 4, order.end());
  if (r % 2) std::reverse(order.begin(), order.end());
  nn::DistributedDataParallelOptions opts;
  opts.bucket_cap_mb = 0.00005;  // ~52 bytes: several buckets, in flight while backward goes on
  auto net = make_branches(order, 100 + r);
  nn::DistributedDataParallel ddp(net, opts);
  EXPECT_GT(ddp.reducer().buckets().size(), 3u);
  train(ddp, [&] { nn::functional::mse_loss(ddp(xs), ys).backward(); });
  expect_same_weights(*net, *ref, "ddp");
  EXPECT_EQ(ddp.reducer().stats().steps, 5);

  // no_sync: the first half of the local batch accumulates locally, the second synchronizes.
  auto net2 = make_branches(order, 100 + 7 * r);
  nn::DistributedDataParallel ddp2(net2, opts);
  const int64_t half = per / 2;
  train(ddp2, [&] {
    {
      auto guard = ddp2.no_sync();
      mul(nn::functional::mse_loss(ddp2(xs.slice(0, 0, half)), ys.slice(0, 0, half)),
          static_cast<double>(half) / static_cast<double>(per)).backward();
    }
    // Local gradients, not averaged yet: they differ between ranks.
    const Tensor g = net2->inp->weight.grad().reshape({-1}).contiguous();
    Tensor every = zeros({n * g.numel()});
    d::all_gather_into_tensor(every, g);
    EXPECT_NE(vals(every.slice(0, 0, g.numel())), vals(every.slice(0, g.numel(), 2 * g.numel())));
    mul(nn::functional::mse_loss(ddp2(xs.slice(0, half, per)), ys.slice(0, half, per)),
        static_cast<double>(per - half) / static_cast<double>(per)).backward();
  });
  expect_same_weights(*net2, *ref, "no_sync");
  EXPECT_EQ(ddp2.reducer().stats().steps, 5);  // the no_sync backwards are not counted
}
