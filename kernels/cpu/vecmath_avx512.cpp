// The AVX-512 copy of the vectorized math kernels (vecmath_body.inc). Built
// with -mavx512f and only ever called after vecmath.cpp has checked the CPU.
#define VM_NS avx512
#define VM_ISA_NAME "avx512"
#define VM_BYTES 64
#define VM_MF __m512
#define VM_MD __m512d
#define VM_F(fn, u) Sleef_##fn##f16_##u##avx512f
#define VM_D(fn, u) Sleef_##fn##d8_##u##avx512f
#define VM_TABLE avx512_table
#include "kernels/cpu/vecmath_body.inc"
