#pragma once
// float16/bfloat16 runs widened to float32 and narrowed back, in vector loops
// (F16C for float16, shifts and integer rounding for bfloat16): the kernels that
// compute reduced floats in float32 do so a block of kReducedBlock at a time
// through these. narrow rounds to nearest even as the Half and BFloat16
// constructors do (float16 NaN payloads may differ). widen/narrow are defined in copy.cpp.
#include <cstdint>

#include "tessel/dtype.h"

namespace tessel::cpu {

inline constexpr int64_t kReducedBlock = 256;  // 1 KiB of float: a few buffers stay in L1

void widen(float* out, const BFloat16* in, int64_t n);
void widen(float* out, const Half* in, int64_t n);
void narrow(BFloat16* out, const float* in, int64_t n);
void narrow(Half* out, const float* in, int64_t n);

// A block of m elements of a run of T with byte stride st into a compute buffer of S and
// back: contiguous float16/bfloat16 through the vector conversions, other runs a strided loop.
template <class T, class S>
void load_block(S* buf, const char* a, int64_t st, int64_t m) {
  if constexpr (is_reduced_float_v<T>) {
    if (st == sizeof(T)) return widen(buf, reinterpret_cast<const T*>(a), m);
  }
  for (int64_t j = 0; j < m; ++j) buf[j] = S(*reinterpret_cast<const T*>(a + j * st));
}
template <class T, class S>
void store_block(char* o, int64_t st, const S* buf, int64_t m) {
  if constexpr (is_reduced_float_v<T>) {
    if (st == sizeof(T)) return narrow(reinterpret_cast<T*>(o), buf, m);
  }
  for (int64_t j = 0; j < m; ++j) *reinterpret_cast<T*>(o + j * st) = T(buf[j]);
}

}  // namespace tessel::cpu
