#pragma once
// Small calls on the calling thread alone. oneDNN's and OpenBLAS's OpenMP
// kernels split their work statically, so a call of a few microseconds pays a
// fork/join, and on a busy machine waits for a descheduled second thread: the
// digits CNN at 2 threads took 0.24 ms per image against 0.04 ms for
// onnxruntime, whose pool lets the caller do the work alone (bench/README.md,
// AVX2 machine); an eager 3x3 conv of 16 channels at 7x7 (0.23 MFLOP) 23 us on
// two threads against 19 on one.
//
// omp_set_num_threads changes only the calling thread's setting, and the
// kernels key their oneDNN primitives by omp_get_max_threads(), so a
// one-thread primitive is cached apart.
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace tessel::cpu {

// FLOPs below which a call runs on one thread. The threshold follows how idle
// OpenMP threads wait: spinning (libgomp's default, which `import tessel` keeps
// on an idle machine) wakes them within a microsecond, so calls from 0.5 MFLOP
// up gain from the second thread (MobileNetV2 b1 at 2 threads: 1.12-1.15x
// onnxruntime's time with 2 MFLOP, 0.98-1.03x with 0.625; the digits CNN's
// first conv at batch 32, 0.56 MFLOP, 6.7 us on two threads against 9.4-14.9
// us on one, AMD VM); a short spin or a passive policy (a loaded machine,
// where a wake-up costs ~25 us) keeps 2 MFLOP. TESSEL_SMALL_SERIAL=0 turns it
// off; another number sets the threshold.
inline double serial_flops() {
  static const double v = [] {
    const char* e = std::getenv("TESSEL_SMALL_SERIAL");
    if (e && *e) return std::max(0.0, std::atof(e));
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    const bool passive = policy && (std::strcmp(policy, "passive") == 0 || std::strcmp(policy, "PASSIVE") == 0);
    const bool short_spin = spin && std::isdigit(static_cast<unsigned char>(*spin)) && std::atof(spin) < 1e5;
    return passive || short_spin ? 2.0 * 1024 * 1024 : 0.5 * 1024 * 1024;
  }();
  return v;
}

// One OpenMP thread for this scope when `serial`, then the caller's count again.
class OneThreadIf {
 public:
  explicit OneThreadIf(bool serial) {
    if (serial && (saved_ = omp_get_max_threads()) > 1) omp_set_num_threads(1);
  }
  ~OneThreadIf() {
    if (saved_ > 1) omp_set_num_threads(saved_);
  }
  OneThreadIf(const OneThreadIf&) = delete;
  OneThreadIf& operator=(const OneThreadIf&) = delete;

 private:
  int saved_ = 0;
};

// True for work (FLOPs; 0: unknown) small enough for one thread.
inline bool small_work(double flops) { return flops > 0 && flops < serial_flops(); }

}  // namespace tessel::cpu
