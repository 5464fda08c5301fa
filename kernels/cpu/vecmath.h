#pragma once
// Vectorized transcendental functions for the CPU kernels (issue 16): SLEEF's
// 1-ulp (u10) vector functions plus composites built on them (sigmoid, silu,
// gelu, softplus, elu, erfinv), on the widest SIMD this CPU has, chosen once
// at run time (AVX-512, AVX2, or none: the kernels keep their scalar loops).
//
// This header is included by the per-ISA files (vecmath_avx512.cpp,
// vecmath_avx2.cpp), which are compiled with -mavx512f / -mavx2: it must stay
// free of inline C++ library code, or the linker could keep an AVX-512 copy of
// an inline function for every caller. Hence plain C types only.
#include <cstdint>

#include "tessel/export.h"

namespace tessel {
struct KernelCall;
}

namespace tessel::cpu::vecmath {

enum Fn : int {
  Exp, Exp2, Expm1, Log, Log1p, Log2, Log10,
  Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Tanh, Asinh, Acosh, Atanh,
  Erf, Erfc, Erfinv,
  Lgamma, Digamma,  // float32 only
  Sigmoid, Silu, GeluErf, GeluTanh,
  Softplus,  // params: a = beta, b = threshold
  Elu,       // params: a = alpha
  Floor, Ceil, Trunc, Round,  // Round: nearbyint, ties to even
  Frac,                       // x - trunc(x)
  Sqrt, Rsqrt, Sign,
  LeakyRelu,  // params: a = negative slope
  Hardsigmoid, Hardswish,
  kNumUnary,
};
enum BinFn : int {
  Atan2,
  Pow,
  Remainder,
  FloorDivide,   // Python's: the result takes the divisor's sign (float32 only)
  Fmod,          // C's fmod: the dividend's sign, exact (float32 only)
  Hypot,         // float32 only
  GeluBackward,  // g * d gelu(x) / dx (erf form) for a = g, b = x (float32 only; not through binary())
  kNumBinary,
};

// ln 2 in two parts (Cody-Waite): kLn2Hi has 16 significant bits, so k * kLn2Hi is
// exact for |k| < 2^8; kLn2Hi + kLn2Lo is ln 2 to ~2^-40.
constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.428606765330187045e-06f;
// The inline float exp's polynomial: e^r = 1 + r + r^2 Q(r), Q of degree 5 fitted to
// (e^r - 1 - r) / r^2 on |r| <= 0.37 (bench/fit_erfc_float.py, 3.3e-9 there); highest
// degree first. vecmath's float kernels and softmax.cpp's row kernel share it.
constexpr float kExpQ[] = {0.00019916801829822361f, 0.001393990940414369f, 0.00833327230066061f,
                           0.04166640341281891f,    0.1666666716337204f,   0.5f};

struct Params {
  double a = 0, b = 0;
};

// Contiguous arrays; o may be a (in place). Any n >= 0.
using UnaryF = void (*)(float* o, const float* a, int64_t n, Params p);
using UnaryD = void (*)(double* o, const double* a, int64_t n, Params p);
using UnaryBF16 = void (*)(uint16_t* o, const uint16_t* a, int64_t n, Params p);  // bfloat16 bits
using BinaryF = void (*)(float* o, const float* a, const float* b, int64_t n);
using BinaryD = void (*)(double* o, const double* a, const double* b, int64_t n);

struct Table {
  const char* isa;  // "avx512" or "avx2"
  UnaryF f32[kNumUnary];
  // float16/bfloat16 results: cheaper float kernels where rounding to 11 or 8 bits hides
  // the difference (SLEEF's 3.5-ulp sin, cos and tan: sin of 10^5 bfloat16 1.4x -> 0.9x
  // PyTorch's time, which uses the same); null: f32's.
  UnaryF f32_reduced[kNumUnary];
  // bfloat16 in and out, widened and rounded in registers around the float lanes (one pass: the
  // float blocks' widen and narrow passes put floor of 10^5 at 1.3x PyTorch's time); null: blocks.
  UnaryBF16 bf16[kNumUnary];
  UnaryD f64[kNumUnary];
  BinaryF bin_f32[kNumBinary];
  BinaryD bin_f64[kNumBinary];
  // Philox4x32-10 (kernels/cpu/random.cpp's generator) for the n counters ctr, ctr + 1, ...:
  // word k of counter ctr + j goes to w[k * n + j].
  void (*philox)(uint32_t* w, uint64_t seed, uint64_t ctr, int64_t n);
  // uniform draws on [a, b): float32 elements first .. first + n - 1 of a draw at `offset`
  // (groups of 32 elements from 8 counters, random.cpp's uniform_narrow), float64 of
  // counters ctr .. ctr + n - 1; normal(mean a, std b) pairs of counters ctr .. ctr +
  // pairs - 1 (2 * pairs floats): the formulas of random.cpp's scalar kernels computed
  // straight from the Philox lanes.
  void (*uniform_f32)(float* o, uint64_t seed, uint64_t offset, int64_t first, int64_t n, double a, double b);
  void (*uniform_f64)(double* o, uint64_t seed, uint64_t ctr, int64_t n, double a, double b);
  void (*normal_pairs_f32)(float* o, uint64_t seed, uint64_t ctr, int64_t pairs, double a, double b);
  void (*randint_i64)(int64_t* o, uint64_t seed, uint64_t ctr, int64_t n, int64_t low, uint64_t range);
};

// The table for this CPU, or nullptr when there is no vector path (no AVX2,
// SLEEF missing at build time, or TESSEL_VECMATH=scalar in the environment;
// TESSEL_VECMATH=avx2 forces the AVX2 table on an AVX-512 machine, for tests).
const Table* table();
// "avx512", "avx2" or "scalar": what table() picked.
TESSEL_API const char* isa_name();  // exported for ts.backends.cpu.get_cpu_capability()
// TESSEL_VECMATH=avx2 or =scalar (read once): the vector code stays at or below AVX2, the
// 512-bit loops outside the table too (copy.cpp's has_avx512).
bool capped_at_avx2();

// Runs unary fn over c.in[0] -> c.out[0] for dtype `dtype` (float32, float64,
// float16, bfloat16; any strides). False when there is no vector path for it:
// the caller then runs its scalar loop.
bool unary(const KernelCall& c, int dtype, Fn fn, Params p);
// Same for binary ops (out, a, b of one dtype, broadcast views allowed).
bool binary(const KernelCall& c, int dtype, BinFn fn);

// Defined by the per-ISA files.
const Table* avx512_table();
const Table* avx2_table();

}  // namespace tessel::cpu::vecmath
