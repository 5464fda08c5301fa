#pragma once
// Large float32 products through OpenBLAS's sgemm, where tessel links it (the LAPACK of
// linalg_lapack.cpp; linalg_no_lapack.cpp and a non-OpenBLAS LAPACK return false). oneDNN 2.6's
// float32 matmul (Debian's) runs some large sizes at a third to two thirds of OpenBLAS's speed on
// AVX-512: 3,162^3 one thread 706 against 434 ms, 3,072^3 1,186 against 406 (4 KB-aliased rows).
#include <cstdint>

namespace tessel::cpu {

// Row-major c [M, N] (row stride ldc) = op(a) op(b), op 'N' (as stored, row stride ld) or 'T'
// (stored transposed). False, having done nothing, without OpenBLAS or past 32-bit sizes.
bool blas_sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b,
                int64_t ldb, float* c, int64_t ldc);

}  // namespace tessel::cpu
