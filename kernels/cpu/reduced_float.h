#pragma once
// float16/bfloat16 runs widened to float32 and narrowed back, in vector loops
// (F16C for float16, shifts and integer rounding for bfloat16): the kernels that
// compute reduced floats in float32 do so a block of kReducedBlock at a time
// through these. narrow rounds to nearest even as the Half and BFloat16
// constructors do (float16 NaN payloads may differ). Defined in copy.cpp.
#include <cstdint>

#include "tessel/dtype.h"

namespace tessel::cpu {

inline constexpr int64_t kReducedBlock = 256;  // 1 KiB of float: a few buffers stay in L1

void widen(float* out, const BFloat16* in, int64_t n);
void widen(float* out, const Half* in, int64_t n);
void narrow(BFloat16* out, const float* in, int64_t n);
void narrow(Half* out, const float* in, int64_t n);

}  // namespace tessel::cpu
