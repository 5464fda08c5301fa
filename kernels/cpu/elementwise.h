#pragma once
// Loop bodies shared by the elementwise kernels: contiguous and scalar-operand
// fast paths the compiler vectorizes, and a strided fallback.
#include <algorithm>
#include <type_traits>

#include "kernels/cpu/bf16_simd.h"
#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduced_float.h"
#include "kernels/cpu/register.h"

namespace tessel::cpu {

// The runs the compiler vectorizes, each operand contiguous (step 1) or one value (step 0), built for
// AVX2 too (TESSEL_CLONES: the SSE2 baseline's 4 lanes ran neg at 10^5 in 1.5x PyTorch's time). Op is each
// kernel's own lambda, so every instantiation is local to its file.
template <class T, class R, int SA, int SB, class Op>
TESSEL_CLONES_WIDE void binary_run(R* __restrict o, const T* __restrict a, const T* __restrict b, int64_t n, Op op) {
  using C = acc_t<T>;
  for (int64_t i = 0; i < n; ++i) o[i] = static_cast<R>(op(C(a[i * SA]), C(b[i * SB])));
}

template <class T, class R, int SA, class Op>
TESSEL_CLONES void unary_run(R* __restrict o, const T* __restrict a, int64_t n, Op op) {
  using C = acc_t<T>;
  for (int64_t i = 0; i < n; ++i) o[i] = static_cast<R>(op(C(a[i * SA])));
}

// float16/bfloat16 runs: blocks widened to float32, the op on float's run (which vectorizes),
// float results narrowed back; the same values as converting each element (neg of 10^5
// bfloat16 was a scalar loop at 4.4x PyTorch's time). A step-0 operand is widened once;
// SB < 0: a unary op.
template <class T, class R, int SA, int SB, class Op>
void run_reduced(R* o, const T* a, const T* b, int64_t n, Op op) {
  float x[kReducedBlock], y[SB < 0 ? 1 : kReducedBlock];
  using F = std::conditional_t<std::is_same_v<R, T>, float, R>;  // the float run's output
  F r[kReducedBlock];
  if constexpr (SA == 0) x[0] = static_cast<float>(a[0]);
  if constexpr (SB == 0) y[0] = static_cast<float>(b[0]);
  const auto run = [&](F* out, int64_t m) {
    if constexpr (SB < 0)
      unary_run<float, F, SA>(out, x, m, op);
    else
      binary_run<float, F, SA, SB>(out, x, y, m, op);
  };
  for (int64_t i = 0; i < n; i += kReducedBlock) {
    const int64_t m = std::min(kReducedBlock, n - i);
    if constexpr (SA == 1) widen(x, a + i, m);
    if constexpr (SB == 1) widen(y, b + i, m);
    if constexpr (std::is_same_v<R, T>) {
      run(r, m);
      narrow(o + i, r, m);
    } else {
      run(o + i, m);
    }
  }
}

// What both bfloat16 runs below share: one value widened, the op on lane j of the float
// buffers, and the elements past the last whole vector.
[[gnu::always_inline]] inline float bf16_value(uint16_t h) { return static_cast<float>(BFloat16::from_bits(h)); }
template <int SB, class Op>
[[gnu::always_inline]] inline auto bf16_at(const Op& op, const float* xs, const float* ys, int64_t j) {
  if constexpr (SB < 0)
    return op(xs[j]);
  else
    return op(xs[j], ys[j]);
}
template <class R, int SA, int SB, class Op>
[[gnu::always_inline]] inline void bf16_tail(R* o, const uint16_t* a, const uint16_t* b, int64_t i, int64_t n,
                                             const Op& op, float* x, float* y) {
  for (; i < n; ++i) {
    x[0] = bf16_value(a[i * SA]);
    if constexpr (SB >= 0) y[0] = bf16_value(b[i * SB]);
    o[i] = static_cast<R>(bf16_at<SB>(op, x, y, 0));
  }
}

// bfloat16 runs convert in registers: 16 values widened by shifts, the op on float's lanes,
// rounded and packed, one pass (the block path above makes three over L1: add of 10^5 ran
// 1.3-1.9x PyTorch's time, this 0.6x). Each input has step 1, or 0 for one value; SB < 0:
// a unary op. Without AVX2, and for float16, the block path.
template <class R, int SA, int SB, class Op>
TESSEL_AVX2 void run_bf16(R* o, const uint16_t* a, const uint16_t* b, int64_t n, Op op) {
  constexpr int V = 16;
  alignas(32) float x[V], y[V];
  if constexpr (SA == 0) std::fill_n(x, V, bf16_value(a[0]));
  if constexpr (SB == 0) std::fill_n(y, V, bf16_value(b[0]));
  int64_t i = 0;
  for (; i + V <= n; i += V) {
    if constexpr (SA == 1) {
      _mm256_store_ps(x, bf16_load8(a + i));
      _mm256_store_ps(x + 8, bf16_load8(a + i + 8));
    }
    if constexpr (SB == 1) {
      _mm256_store_ps(y, bf16_load8(b + i));
      _mm256_store_ps(y + 8, bf16_load8(b + i + 8));
    }
    if constexpr (std::is_same_v<R, BFloat16>) {
      alignas(32) float r[V];
      for (int j = 0; j < V; ++j) r[j] = bf16_at<SB>(op, x, y, j);
      bf16_store16(reinterpret_cast<uint16_t*>(o + i), _mm256_load_ps(r), _mm256_load_ps(r + 8));
    } else {
      for (int j = 0; j < V; ++j) o[i + j] = static_cast<R>(bf16_at<SB>(op, x, y, j));
    }
  }
  bf16_tail<R, SA, SB>(o, a, b, i, n, op, x, y);
}

// run_bf16 on AVX-512: 16 values per 512-bit register (reciprocal and square of 10^5
// bfloat16 ran 1.7-1.8x PyTorch's time on AVX2 lanes on an AVX-512 CPU).
template <class R, int SA, int SB, class Op>
TESSEL_AVX512_WIDE void run_bf16_512(R* o, const uint16_t* a, const uint16_t* b, int64_t n, Op op) {
  constexpr int V = 16;
  alignas(64) float x[V], y[V], r[V];
  if constexpr (SA == 0) std::fill_n(x, V, bf16_value(a[0]));
  if constexpr (SB == 0) std::fill_n(y, V, bf16_value(b[0]));
  int64_t i = 0;
  for (; i + V <= n; i += V) {
    if constexpr (SA == 1) _mm512_store_ps(x, bf16_load16_512(a + i));
    if constexpr (SB == 1) _mm512_store_ps(y, bf16_load16_512(b + i));
    if constexpr (std::is_same_v<R, BFloat16>) {
      // One 512-bit vector of the op: r is read back as it was stored. GCC left to itself
      // vectorized some ops' loops 256 bits wide, and a 512-bit load of two 256-bit stores
      // misses store forwarding (x + 1.0 of 10^5 took 47 us so, 13 on the AVX2 form).
#pragma omp simd simdlen(16)
      for (int j = 0; j < V; ++j) r[j] = bf16_at<SB>(op, x, y, j);
      bf16_store16_512(reinterpret_cast<uint16_t*>(o + i), _mm512_load_ps(r));
    } else {
      for (int j = 0; j < V; ++j) o[i + j] = static_cast<R>(bf16_at<SB>(op, x, y, j));
    }
  }
  bf16_tail<R, SA, SB>(o, a, b, i, n, op, x, y);
}

// The run of an elementwise op: in registers for bfloat16, in float blocks for float16,
// else the direct loop.
template <class T, class R, int SA, int SB, class Op>
void reduced_any(R* o, const T* a, const T* b, int64_t n, Op op) {
  if constexpr (std::is_same_v<T, BFloat16>) {
    if (has_avx512())
      return run_bf16_512<R, SA, SB>(o, reinterpret_cast<const uint16_t*>(a), reinterpret_cast<const uint16_t*>(b), n,
                                     op);
    if (has_avx2())
      return run_bf16<R, SA, SB>(o, reinterpret_cast<const uint16_t*>(a), reinterpret_cast<const uint16_t*>(b), n, op);
  }
  run_reduced<T, R, SA, SB>(o, a, b, n, op);
}
template <class T, class R, int SA, int SB, class Op>
void binary_any(R* o, const T* a, const T* b, int64_t n, Op op) {
  if constexpr (is_reduced_float_v<T>)
    reduced_any<T, R, SA, SB>(o, a, b, n, op);
  else
    binary_run<T, R, SA, SB>(o, a, b, n, op);
}
template <class T, class R, int SA, class Op>
void unary_any(R* o, const T* a, int64_t n, Op op) {
  if constexpr (is_reduced_float_v<T>)
    reduced_any<T, R, SA, -1>(o, a, nullptr, n, op);
  else
    unary_run<T, R, SA>(o, a, n, op);
}

template <class T, class R, class Op>
void binary_loop(const KernelCall& c, Op op) {
  for_each<3>({&c.out[0], &c.in[0], &c.in[1]}, [op](char** p, const int64_t* s, int64_t n) {
    using C = acc_t<T>;
    auto* o = reinterpret_cast<R*>(p[0]);
    const auto* a = reinterpret_cast<const T*>(p[1]);
    const auto* b = reinterpret_cast<const T*>(p[2]);
    constexpr int64_t st = sizeof(T), so = sizeof(R);
    if (s[0] == so && s[1] == st && s[2] == st) {
      binary_any<T, R, 1, 1>(o, a, b, n, op);
    } else if (s[0] == so && s[1] == st && s[2] == 0) {
      binary_any<T, R, 1, 0>(o, a, b, n, op);
    } else if (s[0] == so && s[1] == 0 && s[2] == st) {
      binary_any<T, R, 0, 1>(o, a, b, n, op);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        *reinterpret_cast<R*>(p[0] + i * s[0]) = static_cast<R>(
            op(C(*reinterpret_cast<const T*>(p[1] + i * s[1])), C(*reinterpret_cast<const T*>(p[2] + i * s[2]))));
      }
    }
  });
}

template <class T, class R, class Op>
void unary_loop(const KernelCall& c, Op op) {
  for_each<2>({&c.out[0], &c.in[0]}, [op](char** p, const int64_t* s, int64_t n) {
    using C = acc_t<T>;
    auto* o = reinterpret_cast<R*>(p[0]);
    const auto* a = reinterpret_cast<const T*>(p[1]);
    if (s[0] == sizeof(R) && s[1] == sizeof(T)) {
      unary_any<T, R, 1>(o, a, n, op);
    } else if (s[0] == sizeof(R) && s[1] == 0) {  // a broadcast input: one value along the run
      unary_any<T, R, 0>(o, a, n, op);
    } else {
      for (int64_t i = 0; i < n; ++i)
        *reinterpret_cast<R*>(p[0] + i * s[0]) = static_cast<R>(op(C(*reinterpret_cast<const T*>(p[1] + i * s[1]))));
    }
  });
}

// Kernel makers for register_for: maker(type_identity<T>) -> Kernel.
template <class Op>
auto binary(Op op) {
  return [op]<class T>(std::type_identity<T>) -> Kernel {
    return [op](const KernelCall& c) { binary_loop<T, T>(c, op); };
  };
}
template <class Op>
auto compare(Op op) {
  return [op]<class T>(std::type_identity<T>) -> Kernel {
    return [op](const KernelCall& c) { binary_loop<T, bool>(c, op); };
  };
}
template <class Op>
auto unary(Op op) {
  return [op]<class T>(std::type_identity<T>) -> Kernel {
    return [op](const KernelCall& c) { unary_loop<T, T>(c, op); };
  };
}
// op(x, const P& params): unary ops with parameters from kernel.h.
template <class P, class Op>
auto unary_with(Op op) {
  return [op]<class T>(std::type_identity<T>) -> Kernel {
    return [op](const KernelCall& c) {
      const P& p = *static_cast<const P*>(c.params);
      unary_loop<T, T>(c, [&](auto x) { return op(x, p); });
    };
  };
}
template <class Op>
auto predicate(Op op) {
  return [op]<class T>(std::type_identity<T>) -> Kernel {
    return [op](const KernelCall& c) { unary_loop<T, bool>(c, op); };
  };
}

}  // namespace tessel::cpu
