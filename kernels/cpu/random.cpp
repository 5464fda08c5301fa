// CPU kernels for uniform, normal and randint. Each element i draws from
// Philox4x32-10 at counter (offset + i), or a fixed share of one (narrow
// normals in pairs, narrow uniforms in groups of 32), so values depend only on
// the seed and the element, never on the thread split or the ISA.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/loops.h"
#include "kernels/cpu/vecmath.h"
#include "kernels/cpu/register.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

struct Words {
  uint32_t w[4];
};

// Philox4x32 with 10 rounds (Salmon et al., SC'11), the constants of the paper.
inline Words philox(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Words{{c0, c1, c2, c3}};
}

inline double unit_double(const Words& x) {  // [0, 1) with 53 random bits
  const uint64_t v = (static_cast<uint64_t>(x.w[0]) << 32) | x.w[1];
  return static_cast<double>(v >> 11) * 0x1.0p-53;
}

constexpr int64_t kBlock = 256;

// The Philox words of counters ctr .. ctr + n - 1 (n <= kBlock), word k of
// counter ctr + j at w[k * n + j]: on SIMD lanes when vecmath has a table.
inline void philox_block(uint32_t* w, uint64_t seed, uint64_t ctr, int64_t n) {
  if (const vecmath::Table* vt = vecmath::table(); vt && vt->philox) return vt->philox(w, seed, ctr, n);
  for (int64_t j = 0; j < n; ++j) {
    const Words x = philox(seed, ctr + static_cast<uint64_t>(j));
    for (int k = 0; k < 4; ++k) w[k * n + j] = x.w[k];
  }
}

template <class T, class Gen>
void generate(const KernelCall& c, Gen gen) {
  const auto& ps = *static_cast<const RandomParams*>(c.params);
  T* o = static_cast<T*>(c.out[0].data_ptr());
  parallel_for(c.out[0].numel(), 8, [&](int64_t b, int64_t e) {
    uint32_t w[4 * kBlock];
    for (int64_t i0 = b; i0 < e; i0 += kBlock) {
      const int64_t m = std::min(kBlock, e - i0);
      philox_block(w, ps.seed, ps.offset + static_cast<uint64_t>(i0), m);
      for (int64_t j = 0; j < m; ++j) o[i0 + j] = gen(Words{{w[j], w[m + j], w[2 * m + j], w[3 * m + j]}}, ps);
    }
  });
}

// normal: Box-Muller on words 2 and 3 of a Philox block. float64 draws in
// double, element i from counter offset + i: u1 = (w2 + 1) 2^-32 in (0, 1], so
// that log stays finite, in blocks of 256 whose log and cos go through the
// vectorized math table (SLEEF's 1-ulp double functions; glibc's when this CPU
// has no table). Narrower dtypes in float, as PyTorch's CPU normal, and in
// pairs: counter offset + k gives elements 2k (r cos) and 2k + 1 (r sin), with
// u1 rounded once to float and u2 from the top 24 bits of w3; the table's
// normal_pairs_f32 runs the whole draw on SIMD lanes.
inline void normal_pair(uint32_t w2, uint32_t w3, float mean, float std, float* o) {
  const float u1 = static_cast<float>(w2 >> 8) * 0x1.0p-24f + static_cast<float>((w2 & 255u) + 1u) * 0x1.0p-32f;
  const float theta = 6.2831855f * (static_cast<float>(w3 >> 8) * 0x1.0p-24f);
  const float r = std::sqrt(-2.0f * std::log(u1));
  o[0] = mean + std * (r * std::cos(theta));
  o[1] = mean + std * (r * std::sin(theta));
}

void normal_double(const KernelCall& c) {
  const auto& ps = *static_cast<const RandomParams*>(c.params);
  double* o = static_cast<double*>(c.out[0].data_ptr());
  const vecmath::Table* vt = vecmath::table();
  parallel_for(c.out[0].numel(), 8, [&](int64_t b, int64_t e) {
    double lg[kBlock], cs[kBlock];
    uint32_t w[4 * kBlock];
    for (int64_t i0 = b; i0 < e; i0 += kBlock) {
      const int64_t m = std::min(kBlock, e - i0);
      philox_block(w, ps.seed, ps.offset + static_cast<uint64_t>(i0), m);
      for (int64_t j = 0; j < m; ++j) {
        lg[j] = (static_cast<double>(w[2 * m + j]) + 1.0) * 0x1.0p-32;
        cs[j] = 6.283185307179586 * (static_cast<double>(w[3 * m + j]) * 0x1.0p-32);
      }
      if (vt) {
        vt->f64[vecmath::Log](lg, lg, m, {});
        vt->f64[vecmath::Cos](cs, cs, m, {});
      } else {
        for (int64_t j = 0; j < m; ++j) lg[j] = std::log(lg[j]), cs[j] = std::cos(cs[j]);
      }
      for (int64_t j = 0; j < m; ++j) o[i0 + j] = ps.a + ps.b * (std::sqrt(-2.0 * lg[j]) * cs[j]);
    }
  });
}

template <class T>
void normal_narrow(const KernelCall& c) {
  const auto& ps = *static_cast<const RandomParams*>(c.params);
  T* o = static_cast<T*>(c.out[0].data_ptr());
  const vecmath::Table* vt = vecmath::table();
  const float mean = static_cast<float>(ps.a), std = static_cast<float>(ps.b);
  parallel_for(c.out[0].numel(), 8, [&](int64_t b, int64_t e) {
    // The pairs of elements b .. e - 1 (the first or last pair may be half outside), kBlock at a time.
    float buf[2 * kBlock];
    uint32_t w[4 * kBlock];
    for (int64_t k0 = b / 2; 2 * k0 < e; k0 += kBlock) {
      const int64_t m = std::min(kBlock, (e + 1) / 2 - k0);
      const uint64_t ctr = ps.offset + static_cast<uint64_t>(k0);
      if (vt) {
        vt->normal_pairs_f32(buf, ps.seed, ctr, m, ps.a, ps.b);
      } else {
        philox_block(w, ps.seed, ctr, m);
        for (int64_t j = 0; j < m; ++j) normal_pair(w[2 * m + j], w[3 * m + j], mean, std, buf + 2 * j);
      }
      const int64_t lo = std::max(b, 2 * k0), hi = std::min(e, 2 * (k0 + m));
      for (int64_t i = lo; i < hi; ++i) o[i] = static_cast<T>(buf[i - 2 * k0]);
    }
  });
}

// Narrow uniforms (float32, float16, bfloat16) take all four words of a Philox block:
// counter offset + 8g + j gives elements 32g + 8k + j from its word k (the table's
// uniform_f32 computes the same on SIMD lanes; docs/random.md). One word per element
// left three quarters of each block unused, and the block is what costs.
template <class T>
void uniform_narrow(const KernelCall& c) {
  const auto& ps = *static_cast<const RandomParams*>(c.params);
  T* o = static_cast<T*>(c.out[0].data_ptr());
  const float a = static_cast<float>(ps.a), span = static_cast<float>(ps.b - ps.a), b = static_cast<float>(ps.b);
  parallel_for(c.out[0].numel(), 8, [&](int64_t lo, int64_t hi) {
    uint32_t w[32];  // word k of counter offset + 8g + j at w[8k + j]: element 32g + r reads w[r]
    for (int64_t g = lo / 32; 32 * g < hi; ++g) {
      philox_block(w, ps.seed, ps.offset + static_cast<uint64_t>(8 * g), 8);
      for (int64_t i = std::max(lo, 32 * g); i < std::min(hi, 32 * g + 32); ++i) {
        // Round down into [a, b): float rounding of a + (b - a) * u can reach b.
        const float v = a + span * (static_cast<float>(w[i - 32 * g] >> 8) * 0x1.0p-24f);
        const T r = static_cast<T>(v);
        o[i] = static_cast<float>(r) >= b ? static_cast<T>(a) : r;
      }
    }
  });
}

// uniform for float32 and float64 on the table's SIMD lanes (the formulas of the scalar lambdas below).
template <class T>
bool uniform_vector(const KernelCall& c) {
  const vecmath::Table* vt = vecmath::table();
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    if (!vt) return false;
    const auto& ps = *static_cast<const RandomParams*>(c.params);
    T* o = static_cast<T*>(c.out[0].data_ptr());
    parallel_for(c.out[0].numel(), 8, [&](int64_t b, int64_t e) {
      if constexpr (std::is_same_v<T, float>)
        vt->uniform_f32(o + b, ps.seed, ps.offset, b, e - b, ps.a, ps.b);
      else
        vt->uniform_f64(o + b, ps.seed, ps.offset + static_cast<uint64_t>(b), e - b, ps.a, ps.b);
    });
    return true;
  }
  return false;
}

// randint on the table's SIMD lanes: int64 draws (the scalar lambda's below), cast to T.
template <class T>
bool randint_vector(const KernelCall& c) {
  const vecmath::Table* vt = vecmath::table();
  if (!vt) return false;
  const auto& ps = *static_cast<const RandomParams*>(c.params);
  const uint64_t range = static_cast<uint64_t>(ps.high) - static_cast<uint64_t>(ps.low);
  T* o = static_cast<T*>(c.out[0].data_ptr());
  parallel_for(c.out[0].numel(), 8, [&](int64_t b, int64_t e) {
    int64_t buf[kBlock];
    for (int64_t i0 = b; i0 < e; i0 += kBlock) {
      const int64_t m = std::min(kBlock, e - i0);
      int64_t* dst = std::is_same_v<T, int64_t> ? reinterpret_cast<int64_t*>(o + i0) : buf;
      vt->randint_i64(dst, ps.seed, ps.offset + static_cast<uint64_t>(i0), m, ps.low, range);
      if constexpr (!std::is_same_v<T, int64_t>)
        for (int64_t j = 0; j < m; ++j) o[i0 + j] = static_cast<T>(buf[j]);
    }
  });
  return true;
}

const bool registered = [] {
  register_for(FloatTypes{}, op::uniform, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      if (uniform_vector<T>(c)) return;
      if constexpr (std::is_same_v<T, double>)
        generate<T>(c, [](const Words& x, const RandomParams& p) { return p.a + (p.b - p.a) * unit_double(x); });
      else
        uniform_narrow<T>(c);
    };
  });
  register_for(FloatTypes{}, op::normal, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      if constexpr (std::is_same_v<T, double>)
        normal_double(c);
      else
        normal_narrow<T>(c);
    };
  });
  register_for(RealTypes{}, op::randint, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      if (randint_vector<T>(c)) return;
      generate<T>(c, [](const Words& x, const RandomParams& p) {
        // The range in unsigned arithmetic: [INT64_MIN, INT64_MAX) does not overflow.
        const uint64_t range = static_cast<uint64_t>(p.high) - static_cast<uint64_t>(p.low);
        const uint64_t v = (static_cast<uint64_t>(x.w[0]) << 32) | x.w[1];
        // Multiply-shift maps 64 random bits onto [0, range) with bias below range / 2^64.
        const auto r = static_cast<uint64_t>((static_cast<unsigned __int128>(v) * range) >> 64);
        return static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(p.low) + r));
      });
    };
  });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
