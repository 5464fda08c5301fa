// C++ per-op cost of tessel ops (Google Benchmark). The reference in the same
// run is a plain loop over std::vector, so the figure is the op's overhead.
#include <benchmark/benchmark.h>
#include <tessel/tessel.h>

#include <vector>

namespace {

void BM_add(benchmark::State& st) {
  const int64_t n = st.range(0);
  const tessel::Tensor a = tessel::ones({n}), b = tessel::ones({n});
  for (auto _ : st) benchmark::DoNotOptimize(tessel::add(a, b));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_add)->Arg(1)->Arg(1000);

void BM_add_inplace(benchmark::State& st) {
  const int64_t n = st.range(0);
  tessel::Tensor a = tessel::ones({n});
  const tessel::Tensor b = tessel::ones({n});
  for (auto _ : st) benchmark::DoNotOptimize(tessel::add_(a, b));
}
BENCHMARK(BM_add_inplace)->Arg(1)->Arg(1000);

// Reference: allocate a result vector and add, no tensor machinery.
void BM_vector_add(benchmark::State& st) {
  const auto n = static_cast<size_t>(st.range(0));
  const std::vector<float> a(n, 1.0f), b(n, 1.0f);
  for (auto _ : st) {
    std::vector<float> c(n);
    for (size_t i = 0; i < n; ++i) c[i] = a[i] + b[i];
    benchmark::DoNotOptimize(c.data());
  }
}
BENCHMARK(BM_vector_add)->Arg(1)->Arg(1000);

void BM_empty(benchmark::State& st) {
  for (auto _ : st) benchmark::DoNotOptimize(tessel::empty({st.range(0)}));
}
BENCHMARK(BM_empty)->Arg(1)->Arg(1000);

void BM_sum(benchmark::State& st) {
  const tessel::Tensor a = tessel::ones({st.range(0)});
  for (auto _ : st) benchmark::DoNotOptimize(tessel::sum(a));
}
BENCHMARK(BM_sum)->Arg(1)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
