// Run-time choice of the vectorized math table, and the strided/reduced-float
// drivers around it: contiguous float32/float64 runs go straight to the table;
// strided runs and float16/bfloat16 go through a block buffer of float32 (or
// float64), so every layout gives the same bits as the contiguous path.
#include "kernels/cpu/vecmath.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduced_float.h"
#include "tessel/kernel.h"
#include "tessel/registry.h"

namespace tessel::cpu::vecmath {
namespace {

bool env_is(const char* isa) {
  const char* env = std::getenv("TESSEL_VECMATH");
  return env && std::strcmp(env, isa) == 0;
}

const Table* pick() {
#if defined(TESSEL_HAVE_SLEEF) && defined(__x86_64__)
  const bool want_scalar = env_is("scalar");
  const bool want_avx2 = env_is("avx2");
  if (want_scalar) return nullptr;
  __builtin_cpu_init();
  if (!want_avx2 && __builtin_cpu_supports("avx512f")) return avx512_table();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2_table();
#endif
  return nullptr;
}

template <class T>
using compute_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class T>
bool run_unary(const KernelCall& c, Fn fn, Params p) {
  const Table* t = table();
  if (!t) return false;
  using S = compute_t<T>;
  void (*f)(S*, const S*, int64_t, Params);
  if constexpr (std::is_same_v<S, double>) f = t->f64[fn];
  else f = t->f32[fn];
  if constexpr (is_reduced_float_v<T>) {
    if (t->f32_reduced[fn]) f = t->f32_reduced[fn];
  }
  if (!f) return false;
  // erfinv costs several transcendental calls per element: threads pay earlier.
  const int64_t cost = fn == Erfinv ? 8 : 1;
  [[maybe_unused]] const UnaryBF16 h = std::is_same_v<T, BFloat16> ? t->bf16[fn] : nullptr;
  for_each<2>(
      {&c.out[0], &c.in[0]},
      [f, h, p](char** ptr, const int64_t* s, int64_t n) {
        if constexpr (std::is_same_v<T, BFloat16>) {
          if (h && s[0] == sizeof(T) && s[1] == sizeof(T)) {
            h(reinterpret_cast<uint16_t*>(ptr[0]), reinterpret_cast<const uint16_t*>(ptr[1]), n, p);
            return;
          }
        }
        if constexpr (std::is_same_v<S, T>) {
          if (s[0] == sizeof(T) && s[1] == sizeof(T)) {
            f(reinterpret_cast<T*>(ptr[0]), reinterpret_cast<const T*>(ptr[1]), n, p);
            return;
          }
        }
        S buf[kReducedBlock];
        for (int64_t i = 0; i < n; i += kReducedBlock) {
          const int64_t m = std::min(kReducedBlock, n - i);
          load_block<T>(buf, ptr[1] + i * s[1], s[1], m);
          f(buf, buf, m, p);
          store_block<T>(ptr[0] + i * s[0], s[0], buf, m);
        }
      },
      cost);
  return true;
}

template <class T>
bool run_binary(const KernelCall& c, BinFn fn) {
  const Table* t = table();
  if (!t) return false;
  using S = compute_t<T>;
  void (*f)(S*, const S*, const S*, int64_t);
  if constexpr (std::is_same_v<S, double>) f = t->bin_f64[fn];
  else f = t->bin_f32[fn];
  if (!f) return false;
  for_each<3>({&c.out[0], &c.in[0], &c.in[1]}, [f](char** ptr, const int64_t* s, int64_t n) {
    if constexpr (std::is_same_v<S, T>) {
      if (s[0] == sizeof(T) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
        f(reinterpret_cast<T*>(ptr[0]), reinterpret_cast<const T*>(ptr[1]), reinterpret_cast<const T*>(ptr[2]), n);
        return;
      }
    }
    S ba[kReducedBlock], bb[kReducedBlock];  // a broadcast operand (stride 0) is simply copied m times
    for (int64_t i = 0; i < n; i += kReducedBlock) {
      const int64_t m = std::min(kReducedBlock, n - i);
      load_block<T>(ba, ptr[1] + i * s[1], s[1], m);
      load_block<T>(bb, ptr[2] + i * s[2], s[2], m);
      f(ba, ba, bb, m);
      store_block<T>(ptr[0] + i * s[0], s[0], ba, m);
    }
  });
  return true;
}

}  // namespace

const Table* table() {
  static const Table* t = pick();
  return t;
}

bool capped_at_avx2() {
  static const bool v = env_is("avx2") || env_is("scalar");
  return v;
}

const char* isa_name() {
  const Table* t = table();
  return t ? t->isa : "scalar";
}

bool unary(const KernelCall& c, int dtype, Fn fn, Params p) {
  switch (static_cast<DType>(dtype)) {
    case DType::Float32: return run_unary<float>(c, fn, p);
    case DType::Float64: return run_unary<double>(c, fn, p);
    case DType::Float16: return run_unary<Half>(c, fn, p);
    case DType::BFloat16: return run_unary<BFloat16>(c, fn, p);
    default: return false;
  }
}

bool binary(const KernelCall& c, int dtype, BinFn fn) {
  switch (static_cast<DType>(dtype)) {
    case DType::Float32: return run_binary<float>(c, fn);
    case DType::Float64: return run_binary<double>(c, fn);
    case DType::Float16: return run_binary<Half>(c, fn);
    case DType::BFloat16: return run_binary<BFloat16>(c, fn);
    default: return false;
  }
}

#if !defined(TESSEL_HAVE_SLEEF) || !defined(__x86_64__)
// Built without SLEEF: no vector tables (pick() never asks for them).
const Table* avx512_table() { return nullptr; }
const Table* avx2_table() { return nullptr; }
#endif

}  // namespace tessel::cpu::vecmath
