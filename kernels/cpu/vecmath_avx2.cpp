// The AVX2 (+FMA) copy of the vectorized math kernels (vecmath_body.inc). Built
// with -mavx2 -mfma and only ever called after vecmath.cpp has checked the CPU.
#define VM_NS avx2
#define VM_ISA_NAME "avx2"
#define VM_BYTES 32
#define VM_MF __m256
#define VM_MD __m256d
#define VM_F(fn, u) Sleef_##fn##f8_##u##avx2
#define VM_D(fn, u) Sleef_##fn##d4_##u##avx2
#define VM_TABLE avx2_table
#include "kernels/cpu/vecmath_body.inc"
