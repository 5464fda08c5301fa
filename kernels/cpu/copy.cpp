// CPU kernels for copy (with dtype casts), fill and arange.
#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/bf16_simd.h"
#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduced_float.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/strided_layout.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/cast.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

// o[i] = start + i * step for i in [b, e), in double, four at a time on GCC
// vectors: the indices are exact as doubles, so the values are the scalar
// loop's (1e5 float32: 30 us serial and scalar, 1.4x PyTorch's time on 2 threads).
template <class T>
TESSEL_CLONES void arange_float(T* o, int64_t b, int64_t e, double start, double step) {
  typedef double D __attribute__((vector_size(32)));
  typedef T O __attribute__((vector_size(4 * sizeof(T))));
  const double f = static_cast<double>(b);
  D idx = {f, f + 1, f + 2, f + 3};
  const D four = {4, 4, 4, 4};
  int64_t i = b;
  for (; i + 4 <= e; i += 4, idx += four) {
    const O v = __builtin_convertvector(start + idx * step, O);
    std::memcpy(o + i, &v, sizeof(O));
  }
  for (; i < e; ++i) o[i] = static_cast<T>(start + static_cast<double>(i) * step);
}

// The same for integers, exact in int64 (wrapping like the scalar product): an
// induction of four lanes (the scalar loop inside parallel_for's lambda ran 1.4x
// slower than it did outside).
template <class T>
TESSEL_CLONES void arange_int(T* o, int64_t b, int64_t e, int64_t start, int64_t step) {
  typedef uint64_t V __attribute__((vector_size(32)));
  typedef T O __attribute__((vector_size(4 * sizeof(T))));
  const uint64_t s = static_cast<uint64_t>(step), f = static_cast<uint64_t>(start) + static_cast<uint64_t>(b) * s;
  V v = {f, f + s, f + 2 * s, f + 3 * s};
  const V s4 = {4 * s, 4 * s, 4 * s, 4 * s};
  int64_t i = b;
  for (; i + 4 <= e; i += 4, v += s4) {
    const O w = __builtin_convertvector(v, O);
    std::memcpy(o + i, &w, sizeof(O));
  }
  for (; i < e; ++i) o[i] = static_cast<T>(start + i * step);
}

// float32 <-> float16 with F16C: 8 values per instruction, IEEE round to
// nearest even like cast_value (NaN payloads may differ); 6x the software path.
// (cpuid directly: Clang 14's __builtin_cpu_supports does not know "f16c".)
bool has_f16c() {
  static const bool yes = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!(osxsave && avx && f16c)) return false;
    unsigned lo = 0, hi = 0;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6u) == 6u;  // the OS saves the YMM registers
  }();
  return yes;
}
__attribute__((target("avx,f16c"))) void to_half_f16c(Half* out, const float* a, int64_t n) {
  auto* o = reinterpret_cast<uint16_t*>(out);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o + i), _mm256_cvtps_ph(_mm256_loadu_ps(a + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) o[i] = _cvtss_sh(a[i], _MM_FROUND_TO_NEAREST_INT);
}
__attribute__((target("avx,f16c"))) void from_half_f16c(float* o, const Half* in, int64_t n) {
  const auto* a = reinterpret_cast<const uint16_t*>(in);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(o + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i))));
  for (; i < n; ++i) o[i] = _cvtsh_ss(a[i]);
}

// bfloat16 through bf16_simd.h's lanes. The auto-vectorized loop of the scalar form took
// 29 us for 10^5 values (its unsigned compare emulated in three steps), these 16 (the
// scalar one 150).
TESSEL_AVX2 void widen_bf16_avx2(float* o, const uint16_t* a, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, bf16_load8(a + i));
  for (; i < n; ++i) o[i] = static_cast<float>(BFloat16::from_bits(a[i]));
}
TESSEL_AVX2 void narrow_bf16_avx2(uint16_t* o, const float* a, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) bf16_store16(o + i, _mm256_loadu_ps(a + i), _mm256_loadu_ps(a + i + 8));
  for (; i < n; ++i) o[i] = BFloat16::from_float(a[i]);
}
TESSEL_AVX512 void widen_bf16_avx512(float* o, const uint16_t* a, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(o + i, bf16_load16_512(a + i));
  for (; i < n; ++i) o[i] = static_cast<float>(BFloat16::from_bits(a[i]));
}
TESSEL_AVX512 void narrow_bf16_avx512(uint16_t* o, const float* a, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) bf16_store16_512(o + i, _mm512_loadu_ps(a + i));
  for (; i < n; ++i) o[i] = BFloat16::from_float(a[i]);
}

// A copy whose source walks memory across the destination's order (x.t().contiguous(),
// a transposed view written into a contiguous tensor or into stack's strided slot,
// x.t().to(float64)): 16 x 16 blocks through an L1 buffer, each read along the
// source's rows and written along the destination's (with the cast), so both touch
// whole cache lines. The generic loop read one element per line, and a power-of-two
// row length put every line in one L1 set: 2048 x 1024 floats 10.4 ms (PyTorch 1.4-2.3).
template <class S, class D>
bool transpose_copy(const Tensor& dst, const Tensor& src) {
  // 16 x 16, and a whole 64-byte line per row for narrower types (bfloat16 at 16 x 16 read
  // half lines: x.t().contiguous() of 10^5 took 94 us, float32's 38)
  constexpr int64_t B = sizeof(S) >= 4 ? 16 : 64 / int64_t{sizeof(S)};
  if (src.numel() < 4096 || (src.is_contiguous() && dst.is_contiguous())) return false;  // before the layout
  StridedLayout<2> L = make_layout<2>({&dst, &src});
  if (L.ndim < 2) return false;
  const int last = L.ndim - 1, inner2 = last - 1;
  // The destination's inner stride within a cache line (stack of a few parts writes
  // every few elements), the source's at least a line.
  const int64_t dl = L.strides[0][last];
  if (dl <= 0 || dl > 64 || dl % int64_t{sizeof(D)} != 0 || std::llabs(L.strides[1][last]) < 64) return false;
  int k = -1;
  for (int d = 0; d < last; ++d)
    if (L.strides[1][d] == int64_t{sizeof(S)}) k = d;
  if (k < 0) return false;
  for (int d = 0; d <= last; ++d)
    if (L.strides[0][d] == 0 || L.strides[1][d] == 0) return false;
  move_to_inner2(L, k);
  const int64_t nk = L.sizes[inner2], nl = L.sizes[last], kb = (nk + B - 1) / B;
  int64_t outer = 1;
  for (int d = 0; d < inner2; ++d) outer *= L.sizes[d];
  const std::array<char*, 2> base{static_cast<char*>(dst.data_ptr()), static_cast<char*>(src.data_ptr())};
  const int64_t dk = L.strides[0][inner2], sl = L.strides[1][last], step = dl / int64_t{sizeof(D)};
  parallel_for(outer * kb, nl * B, [&](int64_t r0, int64_t r1) {
    S buf[B][B];
    for (int64_t r = r0; r < r1; ++r) {
      const auto [d0, s0] = address_at<2>(L, inner2, r / kb, base);
      const int64_t k0 = (r % kb) * B, bk = std::min(B, nk - k0);
      for (int64_t l0 = 0; l0 < nl; l0 += B) {
        const int64_t bl = std::min(B, nl - l0);
        const char* s = s0 + l0 * sl + k0 * int64_t{sizeof(S)};
        if (bk == B)  // source rows, contiguous along k: a whole row a compile-time size, inlined
          for (int64_t l = 0; l < bl; ++l) std::memcpy(static_cast<void*>(buf[l]), s + l * sl, B * sizeof(S));
        else
          for (int64_t l = 0; l < bl; ++l)
            std::memcpy(static_cast<void*>(buf[l]), s + l * sl, static_cast<size_t>(bk) * sizeof(S));
        for (int64_t kk = 0; kk < bk; ++kk) {  // destination rows: along l
          D* o = reinterpret_cast<D*>(d0 + (k0 + kk) * dk + l0 * dl);
          if (bl == B && step == 1)
            for (int64_t l = 0; l < B; ++l) o[l] = cast_value<D>(buf[l][kk]);
          else if (bl == B)
            for (int64_t l = 0; l < B; ++l) o[l * step] = cast_value<D>(buf[l][kk]);
          else
            for (int64_t l = 0; l < bl; ++l) o[l * step] = cast_value<D>(buf[l][kk]);
        }
      }
    }
  });
  return true;
}

template <class S, class D>
void cast_loop(const Tensor& dst, const Tensor& src) {
  if constexpr (sizeof(S) <= 8 && sizeof(D) <= 8) {
    if (transpose_copy<S, D>(dst, src)) return;
  }
  for_each<2>({&dst, &src}, [](char** p, const int64_t* s, int64_t n) {
    if constexpr (std::is_same_v<S, D>) {
      if (s[0] == sizeof(D) && s[1] == sizeof(S)) {
        std::memcpy(p[0], p[1], static_cast<size_t>(n) * sizeof(D));
        return;
      }
    }
    if (s[0] == sizeof(D) && s[1] == sizeof(S)) {
      auto* o = reinterpret_cast<D*>(p[0]);
      const auto* a = reinterpret_cast<const S*>(p[1]);
      if constexpr (std::is_same_v<S, float> && is_reduced_float_v<D>) return narrow(o, a, n);
      if constexpr (is_reduced_float_v<S> && std::is_same_v<D, float>) return widen(o, a, n);
      for (int64_t i = 0; i < n; ++i) o[i] = cast_value<D>(a[i]);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<D*>(p[0] + i * s[0]) = cast_value<D>(*reinterpret_cast<const S*>(p[1] + i * s[1]));
    }
  });
}

const bool registered = [] {
  // copy is keyed by the source dtype; the destination dtype is a second switch.
  register_for(StorageTypes{}, op::copy, []<class S>(std::type_identity<S>) -> Kernel {
    return [](const KernelCall& c) {
      visit_any_dtype(c.out[0].dtype(), [&]<class D>(std::type_identity<D>) { cast_loop<S, D>(c.out[0], c.in[0]); });
    };
  });
  register_for(StorageTypes{}, op::fill, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      const T v = static_cast<const Scalar*>(c.params)->to<T>();
      for_each<1>({&c.out[0]}, [v](char** p, const int64_t* s, int64_t n) {
        if (s[0] == sizeof(T)) {
          auto* o = reinterpret_cast<T*>(p[0]);
          for (int64_t i = 0; i < n; ++i) o[i] = v;
        } else {
          for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p[0] + i * s[0]) = v;
        }
      });
    };
  });
  // arange: start + i * step computed in the widest type of its category, so
  // that large int64 ranges stay exact and float ranges do not drift.
  register_for(RealTypes{}, op::arange, []<class T>(std::type_identity<T>) -> Kernel {
    return [](const KernelCall& c) {
      const auto& ps = *static_cast<const ArangeParams*>(c.params);
      T* o = c.out[0].data<T>();
      const int64_t n = c.out[0].numel();
      if constexpr (std::is_integral_v<T>) {
        const int64_t a = ps.start.to<int64_t>(), st = ps.step.to<int64_t>();
        parallel_for(n, 1, [&](int64_t b, int64_t e) { arange_int(o, b, e, a, st); });
      } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        const double a = ps.start.to<double>(), st = ps.step.to<double>();
        parallel_for(n, 1, [&](int64_t b, int64_t e) { arange_float(o, b, e, a, st); });
      } else {
        const double a = ps.start.to<double>(), st = ps.step.to<double>();
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(a + static_cast<double>(i) * st);
      }
    };
  });
  return true;
}();

}  // namespace

bool has_avx2() {
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
  }();
  return yes;
}
bool has_avx512() {  // TESSEL_VECMATH=avx2 (or scalar) keeps these loops on AVX2 as well
  static const bool yes = [] {
    __builtin_cpu_init();
    return !vecmath::capped_at_avx2() && __builtin_cpu_supports("avx512f") != 0;
  }();
  return yes;
}

void widen(float* out, const BFloat16* in, int64_t n) {
  if (has_avx512()) return widen_bf16_avx512(out, reinterpret_cast<const uint16_t*>(in), n);
  if (has_avx2()) return widen_bf16_avx2(out, reinterpret_cast<const uint16_t*>(in), n);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}
void narrow(BFloat16* out, const float* in, int64_t n) {
  if (has_avx512()) return narrow_bf16_avx512(reinterpret_cast<uint16_t*>(out), in, n);
  if (has_avx2()) return narrow_bf16_avx2(reinterpret_cast<uint16_t*>(out), in, n);
  for (int64_t i = 0; i < n; ++i) out[i] = BFloat16(in[i]);
}
void widen(float* out, const Half* in, int64_t n) {
  if (has_f16c()) return from_half_f16c(out, in, n);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]);
}
void narrow(Half* out, const float* in, int64_t n) {
  if (has_f16c()) return to_half_f16c(out, in, n);
  for (int64_t i = 0; i < n; ++i) out[i] = Half(in[i]);
}

}  // namespace tessel::cpu
