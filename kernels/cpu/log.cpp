// float32 kernels for log, log2 and log10: the vecmath table's (own float-lane kernels,
// kernels/cpu/vecmath_body.inc) where the CPU has AVX2, else the loop below. glibc's logf/log10f are scalar calls
// (about 12 ns each here, which made power_to_db the slowest step of a log-mel
// spectrogram); this one is branch-free so the loop vectorizes, and computes in
// double, so results stay within 1 ulp of the float64 reference. Other dtypes
// keep the std:: functions (kernels/cpu/unary.cpp, which leaves float32 to this file).
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/kernel.h"
#include "tessel/registry.h"

namespace tessel::cpu {
namespace {


// ln(x) * scale for every float, with log's special values (0 -> -inf,
// negative or NaN -> NaN, inf -> inf).
// Every operation runs unconditionally and `?:` only picks values, so the
// compiler if-converts the whole body (a conditional multiply would stay a branch).
inline float scaled_log(float x, double scale) {
  const bool sub = x < 1.17549435e-38f;  // subnormal (zero and negatives are fixed below)
  const float up = x * 8388608.0f;       // * 2^23 makes a subnormal normal
  const int32_t bits = std::bit_cast<int32_t>(sub ? up : x);
  const int32_t e0 = ((bits >> 23) & 0xff) - 127 - (sub ? 23 : 0);
  const float m1 = std::bit_cast<float>((bits & 0x007fffff) | 0x3f800000);  // mantissa in [1, 2)
  const float half = m1 * 0.5f;
  const bool high = m1 > 1.41421356f;  // fold to [sqrt(1/2), sqrt(2))
  const double m = high ? half : m1;
  const double e = double(e0 + (high ? 1 : 0));
  // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716: seven odd terms reach 1e-12.
  const double s = (m - 1.0) / (m + 1.0), z = s * s;
  const double p = 1.0 + z * (1.0 / 3 + z * (1.0 / 5 + z * (1.0 / 7 + z * (1.0 / 9 + z * (1.0 / 11 + z / 13)))));
  const float r = static_cast<float>((e * 0.69314718055994530942 + 2.0 * s * p) * scale);
  constexpr float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float special = x == 0.0f ? -inf : x == inf ? inf : nan;
  return x > 0.0f && x < inf ? r : special;  // zero, inf, negative or NaN
}

// Output and input are the same buffer or do not overlap (elementwise ops).
TESSEL_CLONES void log_contiguous(float* o, const float* a, int64_t n, double scale) {
#pragma GCC ivdep
  for (int64_t i = 0; i < n; ++i) o[i] = scaled_log(a[i], scale);
}

template <int Base>
void log_kernel(const KernelCall& c) {
  // vecmath's float lanes (0.7 ulp; this file's double evaluation 0.5) where the CPU has
  // them: several times the throughput of the double-precision loop below.
  constexpr vecmath::Fn fn = Base == 2 ? vecmath::Log2 : Base == 10 ? vecmath::Log10 : vecmath::Log;
  if (vecmath::unary(c, static_cast<int>(DType::Float32), fn, {})) return;
  constexpr double scale = Base == 2 ? 1.4426950408889634074 : Base == 10 ? 0.43429448190325182765 : 1.0;
  for_each<2>({&c.out[0], &c.in[0]}, [](char** p, const int64_t* s, int64_t n) {
    auto* o = reinterpret_cast<float*>(p[0]);
    const auto* a = reinterpret_cast<const float*>(p[1]);
    if (s[0] == sizeof(float) && s[1] == sizeof(float)) {
      log_contiguous(o, a, n, scale);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<float*>(p[0] + i * s[0]) =
            scaled_log(*reinterpret_cast<const float*>(p[1] + i * s[1]), scale);
    }
  }, 20);
}

const bool registered = [] {
  auto& r = Registry::get();
  r.add(op::log, DeviceType::CPU, DType::Float32, &log_kernel<0>);
  r.add(op::log2, DeviceType::CPU, DType::Float32, &log_kernel<2>);
  r.add(op::log10, DeviceType::CPU, DType::Float32, &log_kernel<10>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
