#pragma once
// The interface between the host side of the CUDA kernels (register.cpp,
// which sees tessel tensors) and the .cu files (which see only this): plain
// structs of iterator metadata and launch functions. Keeping tessel headers
// out of nvcc keeps the .cu files quick to compile.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace tessel::cuda {

// cpu::StridedLayout's content (kernels/cpu/strided_layout.h) plus base
// pointers: dims innermost last, strides in bytes; operand 0 is the output.
inline constexpr int kMaxDims = 16;
template <int N>
struct Layout {
  int ndim = 0;
  int64_t numel = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
  char* ptrs[N];
  // Every operand is dense and in order, so element i is at i * itemsize.
  bool contiguous = false;
};

// dtype codes: the values of tessel::DType (bool ... uint64; copy and fill alone take the last five).
enum Code : int { kBool, kUInt8, kInt8, kInt16, kInt32, kInt64, kFloat16, kBFloat16, kFloat32, kFloat64,
                  kComplex64, kComplex128, kUInt16, kUInt32, kUInt64 };

// gelu*_backward: a = the gradient, b = gelu's input.
// pow atan2 hypot copysign and the backward ones: floats alone; the bitwise ones: bool
// and the integers up to int64 (shifts: not bool).
enum class Binary : int { add, sub, mul, div, maximum, minimum, relu_backward, remainder, floor_divide, gelu_backward,
                          gelu_tanh_backward, pow, atan2, hypot, copysign, bit_and, bit_or, bit_xor, shl, shr, fmod };
// Bool out. logical_not and the predicates (isnan isinf isfinite) read one operand: they are
// launched with it as both a and b.
enum class Compare : int { eq, ne, lt, le, gt, ge, logical_and, logical_or, logical_xor, logical_not, isnan, isinf, isfinite };
enum class Unary : int {
  neg, exp, log, relu, tanh, sigmoid, reciprocal, square, sqrt, rsqrt, abs, erf, gelu, gelu_tanh, silu, erfinv,
  bit_not,  // bool and the integers
  // with UnaryArgs (kernel.h's UnaryParams / ClampParams); sign and clamp take integers too
  leaky_relu, elu, softplus, hardsigmoid, hardswish, round, nan_to_num, sign, clamp,
  // libdevice's functions, float32 or float64 (16-bit floats through float32)
  sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, log2, log10, log1p, expm1, exp2, erfc, floor, ceil, trunc
};
enum class Reduce : int { sum, amax, amin, prod };

// Each returns false when the (op, dtype) pair is not compiled in.
bool launch_copy(int src, int dst, const Layout<2>& L, cudaStream_t s);
// value: itemsize bytes (1, 2, 4, 8 or 16), already in the output's dtype.
bool launch_fill(int itemsize, const void* value, const Layout<1>& L, cudaStream_t s);
bool launch_binary(Binary op, int dtype, const Layout<3>& L, cudaStream_t s);
// The parameters of leaky_relu (a), elu (a), softplus (a = beta, b = threshold), round (a =
// decimals), nan_to_num (a, b, c) and clamp (lo/hi as double for floats, as int64 for integers).
struct UnaryArgs {
  double a = 0, b = 0, c = 0, lo = 0, hi = 0;
  int64_t ilo = 0, ihi = 0;
  bool has_lo = false, has_hi = false;
};
bool launch_unary(Unary op, int dtype, const Layout<2>& L, cudaStream_t s, const UnaryArgs& args = {});
// out (bool) = a <op> b, a and b of `dtype`.
bool launch_compare(Compare op, int dtype, const Layout<3>& L, cudaStream_t s);
// out = cond ? a : b; operands out, cond (bool), a, b.
bool launch_where(int dtype, const Layout<4>& L, cudaStream_t s);
// out = lerp(start, end, weight) (floats); operands out, start, end, weight.
bool launch_lerp(int dtype, const Layout<4>& L, cudaStream_t s);

// A reduction: out[o] = reduce over inner of in[o, inner]. `outer` walks the
// output (operand 0) and the input (operand 1) over kept dims; `inner` walks
// the input over reduced dims (its ptrs[0] unused). `scratch` holds at least
// reduce_scratch_bytes() bytes of device memory.
size_t reduce_scratch_bytes();
bool launch_reduce(Reduce op, int dtype, const Layout<2>& outer, const Layout<1>& inner, void* scratch,
                   cudaStream_t s);

}  // namespace tessel::cuda
