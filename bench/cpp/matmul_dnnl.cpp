// oneDNN's f32 matmul called directly, primitive created once, as the
// reference for tessel's matmul. Usage: matmul_dnnl N THREADS -> ms per call.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s N THREADS\n", argv[0]);
    return 2;
  }
  const long n = std::atol(argv[1]);
  omp_set_num_threads(std::atoi(argv[2]));
  using dims = dnnl::memory::dims;
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  const dnnl::memory::desc md(dims{n, n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
  std::vector<float> a(n * n, 1.0f), b(n * n, 0.5f), c(n * n);
  dnnl::memory am(md, eng, a.data()), bm(md, eng, b.data()), cm(md, eng, c.data());
  dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(md, md, md), eng));
  auto run = [&] {
    prim.execute(s, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    s.wait();
  };
  run();  // warm-up
  // Calls per sample so that a sample lasts about 0.1 s; the median of 7 samples.
  auto t0 = std::chrono::steady_clock::now();
  run();
  const double once = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int reps = std::max(1, static_cast<int>(0.1 / std::max(once, 1e-6)));
  std::vector<double> ms;
  for (int k = 0; k < 7; ++k) {
    t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps);
  }
  std::sort(ms.begin(), ms.end());
  if (c[0] != 0.5f * static_cast<float>(n)) {
    std::fprintf(stderr, "wrong result %f\n", c[0]);
    return 1;
  }
  std::printf("%.6f\n", ms[3]);
  return 0;
}
