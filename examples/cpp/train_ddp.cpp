// Data-parallel training from C++: each rank trains on its share of every batch and
// nn::DistributedDataParallel averages the gradients, so all ranks keep the same weights.
//   mpirun -np 2 build/examples/train_ddp        (or: tessel launch -n 2 build/examples/train_ddp)
// Without a launcher it runs as one process (world size 1).
#include <cstdio>

#include <tessel/distributed.h>
#include <tessel/nn/parallel.h>
#include <tessel/tessel.h>

using namespace tessel;
namespace dist = tessel::distributed;

int main() {
  try {
    dist::init_process_group();  // "auto": MPI under mpirun, else a single process
    const int rank = dist::get_rank(), world = dist::get_world_size();
    // A synthetic regression, the same on every rank (same seed): y = x A + noise.
    manual_seed(0);
    const int64_t n = 512, batch = 64;
    const Tensor x = randn({n, 8}), y = add(matmul(x, randn({8, 2})), mul(randn({n, 2}), 0.1));

    manual_seed(1 + rank);  // different initial weights per rank: the wrapper broadcasts rank 0's
    auto model = std::make_shared<nn::Sequential>();
    model->add(std::make_shared<nn::Linear>(8, 32)).add(std::make_shared<nn::ReLU>())
        .add(std::make_shared<nn::Linear>(32, 2));
    nn::DistributedDataParallel ddp(model);
    optim::SGD opt(ddp.parameters(), 0.05, 0.9);

    const int64_t per = batch / world;  // this rank's share of each batch
    for (int epoch = 0; epoch < 10; ++epoch) {
      double total = 0;
      for (int64_t i = 0; i + batch <= n; i += batch) {
        const int64_t lo = i + rank * per;
        const Tensor loss = nn::functional::mse_loss(ddp(x.slice(0, lo, lo + per)), y.slice(0, lo, lo + per));
        opt.zero_grad();
        loss.backward();  // the gradients arrive averaged over the ranks
        opt.step();
        total += loss.item<double>();
      }
      Tensor t = full({1}, total / static_cast<double>(n / batch), TensorOptions(DType::Float64));
      dist::all_reduce(t, dist::ReduceOp::Avg);  // the mean loss over ranks, for the log
      if (rank == 0) std::printf("epoch %2d  loss %.4f  (%d ranks)\n", epoch + 1, t.item<double>(), world);
    }
    dist::destroy_process_group();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
