// Single-precision FMA peak of this machine, measured (not taken from a spec sheet).
//
// Used by bench/bench_matmul.py to report "% of peak": the script compiles it
// into a temp dir with  g++ -O3 -march=native -fopenmp  and runs it.
//
// Each thread runs ACC independent dependency chains  acc = acc * b + c  on
// GCC vector-extension vectors of W floats (16 with AVX-512, 8 with AVX/AVX2,
// 4 otherwise). With -march=native and GCC's default -ffp-contract=fast every
// chain step is one vector FMA; ACC chains hide the FMA latency on two FMA
// pipes (latency 4-5 cycles -> at least 8-10 chains in flight). No intrinsics
// or __builtin_ia32 calls: portable GNU C++.
//
//   usage: fma_peak THREADS [SECONDS_PER_RUN=0.2] [RUNS=3]
//   prints one line, e.g.
//   fma_peak threads=2 width=8 accumulators=12 iters=123 seconds=0.2 gflops=190.5
// gflops is the best of RUNS runs: 2 * W * ACC * iters * THREADS / seconds / 1e9.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
constexpr int W = 16;
#elif defined(__AVX__)
constexpr int W = 8;
#else
constexpr int W = 4;
#endif
constexpr int ACC = 12;  // 12 accumulators + b + c = 14 of 16 ymm registers (AVX2): no spills

typedef float vf __attribute__((vector_size(W * sizeof(float))));

static double now() {
  using clk = std::chrono::steady_clock;
  return std::chrono::duration<double>(clk::now().time_since_epoch()).count();
}

// b slightly below 1 and c small: every chain converges to c / (1 - b), so the
// values stay normal floats (no denormal slow paths, no overflow).
__attribute__((noinline)) static float chains(long iters, float seed) {
  vf b, c;
  vf a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
  for (int i = 0; i < W; ++i) {
    b[i] = 0.999999f - 1e-9f * seed;
    c[i] = 1e-6f * (1.0f + 0.01f * i);
    a0[i] = seed + 0.0f; a1[i] = seed + 0.1f; a2[i] = seed + 0.2f; a3[i] = seed + 0.3f;
    a4[i] = seed + 0.4f; a5[i] = seed + 0.5f; a6[i] = seed + 0.6f; a7[i] = seed + 0.7f;
    a8[i] = seed + 0.8f; a9[i] = seed + 0.9f; a10[i] = seed + 1.0f; a11[i] = seed + 1.1f;
  }
  for (long it = 0; it < iters; ++it) {
    a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
    a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
    a8 = a8 * b + c; a9 = a9 * b + c; a10 = a10 * b + c; a11 = a11 * b + c;
  }
  vf s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
  float r = 0.0f;
  for (int i = 0; i < W; ++i) r += s[i];
  return r;  // returned and printed: the loop cannot be optimised away
}

// Runs `threads` copies of chains() at once; returns the wall time.
static double run(int threads, long iters, std::vector<float>& sink) {
  double t0 = now();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num();
    sink[t] = chains(iters, 1.0f + t);
  }
#else
  (void)threads;
  sink[0] = chains(iters, 1.0f);
#endif
  return now() - t0;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  double target = argc > 2 ? std::atof(argv[2]) : 0.2;
  int runs = argc > 3 ? std::atoi(argv[3]) : 3;
#ifndef _OPENMP
  if (threads != 1) {
    std::fprintf(stderr, "fma_peak: built without OpenMP, only 1 thread is supported\n");
    return 2;
  }
#endif
  if (threads < 1 || target <= 0 || runs < 1) {
    std::fprintf(stderr, "usage: fma_peak THREADS [SECONDS_PER_RUN] [RUNS]\n");
    return 2;
  }
  std::vector<float> sink(threads, 0.0f);

  // calibrate on all threads (also starts the OpenMP pool and wakes the cores)
  long iters = 1L << 16;
  for (;;) {
    double dt = run(threads, iters, sink);
    if (dt >= target / 4) {
      iters = (long)(iters * target / dt) + 1;
      break;
    }
    iters *= 4;
  }

  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    double dt = run(threads, iters, sink);
    if (dt < best) best = dt;
  }
  double flops = 2.0 * W * ACC * (double)iters * threads;
  float check = 0.0f;
  for (float v : sink) check += v;
  std::printf("fma_peak threads=%d width=%d accumulators=%d iters=%ld seconds=%.6f gflops=%.3f check=%g\n",
              threads, W, ACC, iters, best, flops / best / 1e9, (double)check);
  return 0;
}
