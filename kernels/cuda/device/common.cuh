#pragma once
// Device-side helpers shared by the .cu files: dtype codes to C++ types,
// conversions through float for the 16-bit floats, and the strided offsets
// of a Layout (launch.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/launch.h"

namespace tessel::cuda {

template <class T>
inline constexpr bool is_lowp = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

// The type arithmetic runs in: float for the 16-bit floats.
template <class T>
using acc_t = std::conditional_t<is_lowp<T>, float, T>;

template <class To, class From>
__device__ __forceinline__ To convert(From x) {
  if constexpr (std::is_same_v<To, From>) {
    return x;
  } else if constexpr (is_lowp<From>) {
    return convert<To>(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, bool>) {
    return x != From(0);
  } else if constexpr (std::is_same_v<From, bool>) {
    return convert<To>(static_cast<int>(x));
  } else if constexpr (is_lowp<To>) {
    if constexpr (std::is_same_v<From, double>) return To(x);
    else return To(static_cast<float>(x));
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    // The CPU's rule (tessel/cast.h): truncate, NaN gives 0, out of range saturates.
    using U = std::make_unsigned_t<To>;
    constexpr int bits = 8 * sizeof(To);
    const From top = std::is_signed_v<To> ? From(uint64_t{1} << (bits - 1)) : From(2) * From(uint64_t{1} << (bits - 1));
    const From lo = std::is_signed_v<To> ? -top : From(0);
    if (x != x) return To(0);
    if (x <= lo) return std::is_signed_v<To> ? static_cast<To>(U{1} << (bits - 1)) : To(0);
    if (x >= top) return std::is_signed_v<To> ? static_cast<To>((U{1} << (bits - 1)) - 1) : static_cast<To>(~U{0});
    return static_cast<To>(x);
  } else {
    return static_cast<To>(x);
  }
}

// Byte offsets of linear element i for each operand.
template <int N>
__device__ __forceinline__ void offsets_of(const Layout<N>& L, int64_t i, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = L.ndim - 1; d >= 0; --d) {
    const int64_t s = L.sizes[d];
    const int64_t q = i / s;
    const int64_t r = i - q * s;
    i = q;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += r * L.strides[k][d];
  }
}

inline constexpr int kThreads = 256;

// Blocks for n work items of `per_thread` each; grid-stride loops cover the rest.
inline unsigned blocks_for(int64_t n, int per_thread = 1) {
  const int64_t per_block = int64_t{kThreads} * per_thread;
  const int64_t b = (n + per_block - 1) / per_block;
  return static_cast<unsigned>(b < 1 ? 1 : b > (int64_t{1} << 20) ? (int64_t{1} << 20) : b);
}

// A reduction over the block; every thread gets the result. `sh` holds 32 values.
template <class A, class Op>
__device__ __forceinline__ A block_reduce(A v, A identity, Op op, A* sh) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  __syncthreads();  // sh may still be read from a previous call
  if (lane == 0) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    v = lane < static_cast<int>(blockDim.x >> 5) ? sh[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    if (lane == 0) sh[0] = v;
  }
  __syncthreads();
  return sh[0];
}

// Calls f(float{}) or f(double{}) for kernels compiled for those two alone; false otherwise.
template <class F>
bool for_float(int dtype, F&& f) {
  if (dtype == kFloat32) return f(float{}), true;
  if (dtype == kFloat64) return f(double{}), true;
  return false;
}

// Calls f(type_tag) for the C++ type of a dtype code; false for codes not listed.
template <class F>
bool visit_code(int code, F&& f) {
  switch (code) {
    case kBool: f(bool{}); return true;
    case kUInt8: f(uint8_t{}); return true;
    case kInt8: f(int8_t{}); return true;
    case kInt16: f(int16_t{}); return true;
    case kInt32: f(int32_t{}); return true;
    case kInt64: f(int64_t{}); return true;
    case kFloat16: f(__half{}); return true;
    case kBFloat16: f(__nv_bfloat16{}); return true;
    case kFloat32: f(float{}); return true;
    case kFloat64: f(double{}); return true;
    default: return false;
  }
}

}  // namespace tessel::cuda
