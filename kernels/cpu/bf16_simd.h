#pragma once
// bfloat16 <-> float32 on AVX2 and AVX-512 lanes, inlined into the target("avx2") and
// target("avx512f") loops that convert in registers (copy.cpp's widen/narrow, elementwise.h's
// bfloat16 runs). bfloat16 is float32's top half: widening is a shift, narrowing
// BFloat16::from_float (x + 0x7fff + the kept lsb, NaN made quiet) on every lane, so both
// widths give the scalar constructor's bits. (AVX512-BF16's vcvtneps2bf16 would flush
// subnormal inputs to zero; the integer rounding keeps them.)
#include <immintrin.h>

#include <cstdint>

#define TESSEL_AVX2 __attribute__((target("avx2")))
#define TESSEL_AVX512 __attribute__((target("avx512f")))
// ... and loops the compiler vectorizes itself kept 512 bits wide (GCC; Clang has no such target option)
#if defined(__clang__)
#define TESSEL_AVX512_WIDE TESSEL_AVX512
#else
#define TESSEL_AVX512_WIDE __attribute__((target("avx512f,prefer-vector-width=512")))
#endif

namespace tessel::cpu {

bool has_avx2();    // copy.cpp: checked once
bool has_avx512();  // avx512f, likewise

TESSEL_AVX2 inline __m256 bf16_load8(const uint16_t* a) {
  const __m256i x = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(x, 16));
}

TESSEL_AVX2 inline __m256i bf16_round8(__m256 f) {
  const __m256i x = _mm256_castps_si256(f);
  const __m256i hi = _mm256_srli_epi32(x, 16);
  const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i quiet = _mm256_or_si256(hi, _mm256_set1_epi32(0x40));
  const __m256 nan = _mm256_cmp_ps(f, f, _CMP_UNORD_Q);
  return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(rounded), _mm256_castsi256_ps(quiet), nan));
}

// 16 floats rounded to bfloat16; packus interleaves the 128-bit lanes, the permute restores the order.
TESSEL_AVX2 inline void bf16_store16(uint16_t* o, __m256 lo, __m256 hi) {
  const __m256i p = _mm256_packus_epi32(bf16_round8(lo), bf16_round8(hi));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), _mm256_permute4x64_epi64(p, 0xd8));
}

TESSEL_AVX512 inline __m512 bf16_load16_512(const uint16_t* a) {
  const __m512i x = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(x, 16));
}

// 16 floats rounded to bfloat16 (bf16_round8's steps on 16 lanes), truncated to 16 bits.
TESSEL_AVX512 inline void bf16_store16_512(uint16_t* o, __m512 f) {
  const __m512i x = _mm512_castps_si512(f);
  const __m512i hi = _mm512_srli_epi32(x, 16);
  const __m512i lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7fff)), lsb), 16);
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q), _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), _mm512_cvtepi32_epi16(r));
}

}  // namespace tessel::cpu
