#pragma once
// Typed front of the LAPACK/BLAS routines the linalg kernels call (Fortran
// ABI, 32-bit integers as Debian's liblapack3 and libopenblas0 use). The
// trailing size_t arguments are the hidden lengths gfortran passes for
// character arguments. Only kernels/cpu/linalg_lapack.cpp includes this.
#include <complex>
#include <cstddef>

namespace tessel::cpu::lapack {

using c64 = std::complex<float>;
using c128 = std::complex<double>;
using L = std::size_t;

extern "C" {
#define TS_LAPACK_REAL(p, T)                                                                                       \
  void p##gesv_(const int*, const int*, T*, const int*, int*, T*, const int*, int*);                               \
  void p##getrf_(const int*, const int*, T*, const int*, int*, int*);                                              \
  void p##getrs_(const char*, const int*, const int*, const T*, const int*, const int*, T*, const int*, int*, L);  \
  void p##potrf_(const char*, const int*, T*, const int*, int*, L);                                                \
  void p##geqrt_(const int*, const int*, const int*, T*, const int*, T*, const int*, T*, int*);                    \
  void p##larfb_(const char*, const char*, const char*, const char*, const int*, const int*, const int*, const T*, \
                 const int*, const T*, const int*, T*, const int*, T*, const int*, L, L, L, L);                    \
  void p##trsm_(const char*, const char*, const char*, const char*, const int*, const int*, const T*, const T*,    \
                const int*, T*, const int*, L, L, L, L);
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*,
            const float*, const int*, const float*, float*, const int*, L, L);
// Bidiagonal reduction and its SVD (svd's own gebrd, linalg_bidiag.h), and
// syevd's three phases (eigh with its back-transformation split over threads).
#define TS_LAPACK_BIDIAG(p, T)                                                                                        \
  void p##gemm_(const char*, const char*, const int*, const int*, const int*, const T*, const T*, const int*,         \
                const T*, const int*, const T*, T*, const int*, L, L);                                                \
  void p##larfg_(const int*, T*, T*, const int*, T*);                                                                 \
  void p##gebrd_(const int*, const int*, T*, const int*, T*, T*, T*, T*, T*, const int*, int*);                       \
  void p##bdsdc_(const char*, const char*, const int*, T*, T*, T*, const int*, T*, const int*, T*, int*, T*, int*,    \
                 int*, L, L);                                                                                         \
  void p##ormbr_(const char*, const char*, const char*, const int*, const int*, const int*, T*, const int*, const T*, \
                 T*, const int*, T*, const int*, int*, L, L, L);                                                      \
  void p##sytrd_(const char*, const int*, T*, const int*, T*, T*, T*, T*, const int*, int*, L);                       \
  void p##stedc_(const char*, const int*, T*, T*, T*, const int*, T*, const int*, int*, const int*, int*, L);         \
  void p##laed1_(const int*, T*, T*, const int*, int*, T*, const int*, T*, int*, int*);                               \
  void p##ormtr_(const char*, const char*, const char*, const int*, const int*, T*, const int*, const T*, T*,         \
                 const int*, T*, const int*, int*, L, L, L);
TS_LAPACK_BIDIAG(s, float)
TS_LAPACK_BIDIAG(d, double)
#undef TS_LAPACK_BIDIAG
TS_LAPACK_REAL(s, float)
TS_LAPACK_REAL(d, double)
TS_LAPACK_REAL(c, c64)
TS_LAPACK_REAL(z, c128)
#undef TS_LAPACK_REAL
// Bunch-Kaufman LDL^T (sytr*) and LDL^H (hetr*, complex only).
void ssytrf_(const char*, const int*, float*, const int*, int*, float*, const int*, int*, L);
void dsytrf_(const char*, const int*, double*, const int*, int*, double*, const int*, int*, L);
void csytrf_(const char*, const int*, c64*, const int*, int*, c64*, const int*, int*, L);
void zsytrf_(const char*, const int*, c128*, const int*, int*, c128*, const int*, int*, L);
void chetrf_(const char*, const int*, c64*, const int*, int*, c64*, const int*, int*, L);
void zhetrf_(const char*, const int*, c128*, const int*, int*, c128*, const int*, int*, L);
void ssytrs_(const char*, const int*, const int*, const float*, const int*, const int*, float*, const int*, int*, L);
void dsytrs_(const char*, const int*, const int*, const double*, const int*, const int*, double*, const int*, int*,
             L);
void csytrs_(const char*, const int*, const int*, const c64*, const int*, const int*, c64*, const int*, int*, L);
void zsytrs_(const char*, const int*, const int*, const c128*, const int*, const int*, c128*, const int*, int*, L);
void chetrs_(const char*, const int*, const int*, const c64*, const int*, const int*, c64*, const int*, int*, L);
void zhetrs_(const char*, const int*, const int*, const c128*, const int*, const int*, c128*, const int*, int*, L);
// Q's columns from unblocked reflectors (?org2r, ?ung2r).
void sorg2r_(const int*, const int*, const int*, float*, const int*, const float*, float*, int*);
void dorg2r_(const int*, const int*, const int*, double*, const int*, const double*, double*, int*);
void cung2r_(const int*, const int*, const int*, c64*, const int*, const c64*, c64*, int*);
void zung2r_(const int*, const int*, const int*, c128*, const int*, const c128*, c128*, int*);
void ssyevd_(const char*, const char*, const int*, float*, const int*, float*, float*, const int*, int*, const int*,
             int*, L, L);
void dsyevd_(const char*, const char*, const int*, double*, const int*, double*, double*, const int*, int*,
             const int*, int*, L, L);
void cheevd_(const char*, const char*, const int*, c64*, const int*, float*, c64*, const int*, float*, const int*,
             int*, const int*, int*, L, L);
void zheevd_(const char*, const char*, const int*, c128*, const int*, double*, c128*, const int*, double*,
             const int*, int*, const int*, int*, L, L);
void sgesdd_(const char*, const int*, const int*, float*, const int*, float*, float*, const int*, float*, const int*,
             float*, const int*, int*, int*, L);
void dgesdd_(const char*, const int*, const int*, double*, const int*, double*, double*, const int*, double*,
             const int*, double*, const int*, int*, int*, L);
void cgesdd_(const char*, const int*, const int*, c64*, const int*, float*, c64*, const int*, c64*, const int*, c64*,
             const int*, float*, int*, int*, L);
void zgesdd_(const char*, const int*, const int*, c128*, const int*, double*, c128*, const int*, c128*, const int*,
             c128*, const int*, double*, int*, int*, L);
void sgeev_(const char*, const char*, const int*, float*, const int*, float*, float*, float*, const int*, float*,
            const int*, float*, const int*, int*, L, L);
void dgeev_(const char*, const char*, const int*, double*, const int*, double*, double*, double*, const int*,
            double*, const int*, double*, const int*, int*, L, L);
void cgeev_(const char*, const char*, const int*, c64*, const int*, c64*, c64*, const int*, c64*, const int*, c64*,
            const int*, float*, int*, L, L);
void zgeev_(const char*, const char*, const int*, c128*, const int*, c128*, c128*, const int*, c128*, const int*,
            c128*, const int*, double*, int*, L, L);
}

// Overloads by element type, so the kernels are written once.
#define TS_LAPACK_OVERLOADS(p, T)                                                                                  \
  inline void gesv(int n, int k, T* a, int* ipiv, T* b, int* info) { p##gesv_(&n, &k, a, &n, ipiv, b, &n, info); } \
  inline void getrf(int m, int n, T* a, int* ipiv, int* info) { p##getrf_(&m, &n, a, &m, ipiv, info); }            \
  inline void getrs(char t, int n, int k, const T* a, const int* ipiv, T* b, int* info) {                          \
    p##getrs_(&t, &n, &k, a, &n, ipiv, b, &n, info, 1);                                                            \
  }                                                                                                                \
  inline void potrf(char uplo, int n, T* a, int* info) { p##potrf_(&uplo, &n, a, &n, info, 1); }                   \
  inline void geqrt(int m, int n, int nb, T* a, int lda, T* t, T* work, int* info) {                               \
    p##geqrt_(&m, &n, &nb, a, &lda, t, &nb, work, info);                                                           \
  }                                                                                                                \
  /* c <- H c, H = I - V T V^H the block reflector of k columns v (dlarfb). */                                     \
  inline void larfb_left(int m, int n, int k, const T* v, int ldv, const T* t, T* c, int ldc, T* work) {           \
    const char side = 'L', trans = 'N', direct = 'F', storev = 'C';                                                \
    p##larfb_(&side, &trans, &direct, &storev, &m, &n, &k, v, &ldv, t, &k, c, &ldc, work, &n, 1, 1, 1, 1);         \
  }                                                                                                                \
  inline void trsm(char side, char uplo, char diag, int m, int n, const T* a, int lda, T* b, int ldb) {            \
    const T one(1);                                                                                                \
    const char t = 'N';                                                                                            \
    p##trsm_(&side, &uplo, &t, &diag, &m, &n, &one, a, &lda, b, &ldb, 1, 1, 1, 1);                                 \
  }
TS_LAPACK_OVERLOADS(s, float)
TS_LAPACK_OVERLOADS(d, double)
TS_LAPACK_OVERLOADS(c, c64)
TS_LAPACK_OVERLOADS(z, c128)
#undef TS_LAPACK_OVERLOADS

// LDL: hermitian picks ?hetr* for complex types (real types have only ?sytr*).
#define TS_LDL_OVERLOADS(T, SYTRF, SYTRS, HETRF, HETRS)                                                             \
  inline void ldl_factor(bool herm, int n, T* a, int* ipiv, T* work, int lwork, int* info) {                        \
    const char u = 'L';                                                                                              \
    (herm ? HETRF : SYTRF)(&u, &n, a, &n, ipiv, work, &lwork, info, 1);                                             \
  }                                                                                                                  \
  inline void ldl_solve(bool herm, int n, int k, const T* a, const int* ipiv, T* b, int* info) {                    \
    const char u = 'L';                                                                                              \
    (herm ? HETRS : SYTRS)(&u, &n, &k, a, &n, ipiv, b, &n, info, 1);                                                \
  }
TS_LDL_OVERLOADS(float, ssytrf_, ssytrs_, ssytrf_, ssytrs_)
TS_LDL_OVERLOADS(double, dsytrf_, dsytrs_, dsytrf_, dsytrs_)
TS_LDL_OVERLOADS(c64, csytrf_, csytrs_, chetrf_, chetrs_)
TS_LDL_OVERLOADS(c128, zsytrf_, zsytrs_, zhetrf_, zhetrs_)
#undef TS_LDL_OVERLOADS

// Real overloads for the bidiagonal SVD (column-major, leading dimensions given).
#define TS_BIDIAG_OVERLOADS(p, T)                                                                                      \
  inline void gemm(char ta, char tb, int m, int n, int k, T alpha, const T* a, int lda, const T* b, int ldb, T beta,   \
                   T* c, int ldc) {                                                                                    \
    p##gemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &beta, c, &ldc, 1, 1);                                    \
  }                                                                                                                    \
  inline void larfg(int n, T* alpha, T* x, T* tau) {                                                                   \
    const int one = 1;                                                                                                 \
    p##larfg_(&n, alpha, x, &one, tau);                                                                                \
  }                                                                                                                    \
  inline void gebrd(int m, int n, T* a, int lda, T* d, T* e, T* tq, T* tp, T* w, int lw, int* info) {                  \
    p##gebrd_(&m, &n, a, &lda, d, e, tq, tp, w, &lw, info);                                                            \
  }                                                                                                                    \
  inline void bdsdc(char uplo, char compq, int n, T* d, T* e, T* u, int ldu, T* vt, int ldvt, T* w, int* iw,           \
                    int* info) {                                                                                       \
    p##bdsdc_(&uplo, &compq, &n, d, e, u, &ldu, vt, &ldvt, nullptr, nullptr, w, iw, info, 1, 1);                       \
  }                                                                                                                    \
  /* a is written and restored (the unblocked steps set a diagonal entry to 1). */                                     \
  inline void ormbr(char vect, char side, char trans, int m, int n, int k, T* a, int lda, const T* tau, T* c, int ldc, \
                    T* w, int lw, int* info) {                                                                         \
    p##ormbr_(&vect, &side, &trans, &m, &n, &k, a, &lda, tau, c, &ldc, w, &lw, info, 1, 1, 1);                         \
  }                                                                                                                    \
  inline void sytrd(char uplo, int n, T* a, T* d, T* e, T* tau, T* w, int lw, int* info) {                             \
    p##sytrd_(&uplo, &n, a, &n, d, e, tau, w, &lw, info, 1);                                                           \
  }                                                                                                                    \
  inline void stedc(char compz, int n, T* d, T* e, T* z, int ldz, T* w, int lw, int* iw, int liw, int* info) {         \
    p##stedc_(&compz, &n, d, e, z, &ldz, w, &lw, iw, &liw, info, 1);                                                   \
  }                                                                                                                    \
  /* The rank-one merge of stedc's divide and conquer; rho is overwritten. */                                          \
  inline void laed1(int n, T* d, T* q, int ldq, int* indxq, T rho, int cut, T* w, int* iw, int* info) {                \
    p##laed1_(&n, d, q, &ldq, indxq, &rho, &cut, w, iw, info);                                                         \
  }                                                                                                                    \
  /* a is written and restored, as for ormbr. */                                                                       \
  inline void ormtr(char uplo, int n, int cols, T* a, const T* tau, T* c, T* w, int lw, int* info) {                   \
    const char side = 'L', trans = 'N';                                                                                \
    p##ormtr_(&side, &uplo, &trans, &n, &cols, a, &n, tau, c, &n, w, &lw, info, 1, 1, 1);                              \
  }
TS_BIDIAG_OVERLOADS(s, float)
TS_BIDIAG_OVERLOADS(d, double)
#undef TS_BIDIAG_OVERLOADS
inline void org2r(int m, int n, int k, float* a, int lda, const float* tau, float* w, int* info) {
  sorg2r_(&m, &n, &k, a, &lda, tau, w, info);
}
inline void org2r(int m, int n, int k, double* a, int lda, const double* tau, double* w, int* info) {
  dorg2r_(&m, &n, &k, a, &lda, tau, w, info);
}
inline void org2r(int m, int n, int k, c64* a, int lda, const c64* tau, c64* w, int* info) {
  cung2r_(&m, &n, &k, a, &lda, tau, w, info);
}
inline void org2r(int m, int n, int k, c128* a, int lda, const c128* tau, c128* w, int* info) {
  zung2r_(&m, &n, &k, a, &lda, tau, w, info);
}

}  // namespace tessel::cpu::lapack
