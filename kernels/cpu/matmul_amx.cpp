// bfloat16 matmul on AMX tiles, for large products: oneDNN 2.6's AMX matmul (Debian's) reaches
// 300-550 GF/s on one core of an Intel AMX machine where PyTorch's oneDNN 3.x reaches 750-890,
// and this kernel 700-860 (bench/README.md, "bfloat16 matmul on AMX").
//
// b is packed in panels of columns (about 512 KB each, so a panel stays in L2), each pair of its
// rows interleaved (VNNI: the tile's row p holds b[2p][n], b[2p+1][n] for 16 n), 32 columns'
// worth of one 32-deep step being two contiguous 1 KB tiles. For each panel and each strip of 32
// rows of a, four accumulator tiles (32 x 32 outputs, float32) take 256 of K at a time (the
// strip's 16 KB of a stay in L1 across the panel's columns), then round to bfloat16 (round to
// nearest even, as BFloat16::from_float). a's tiles are read in place where K is a multiple of
// 32, else from a zero-padded copy in tile order.
#include "kernels/cpu/matmul_amx.h"

#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "kernels/cpu/loops.h"

namespace tessel::cpu {
namespace {

// Columns of b per packed panel: about 512 KB of it, at least 128 (K = 3168: 128 measured best,
// 512 1.6x slower; K = 256: all of b, 1024 columns, so a strip's tiles stay in L1 across it).
int64_t panel_width(int64_t N, int64_t KS) {
  const int64_t fit = std::max<int64_t>(128, (512 << 10) / (KS * 64 * 32) * 32);
  return std::min(fit, (N + 31) / 32 * 32);
}
constexpr int64_t kKSteps = 8;  // 32-deep steps per accumulation block (256 of K)

// AMX-BF16 and AVX512-BF16 on the CPU, and the kernel's leave to use the tile registers
// (Linux hands out the 8 KB tile state only on request, arch_prctl ARCH_REQ_XCOMP_PERM).
bool amx_usable() {
  static const bool ok = [] {
    if (const char* env = std::getenv("TESSEL_AMX"); env && std::strcmp(env, "0") == 0) return false;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, avx512bw = (b >> 30) & 1;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
    const bool avx512_bf16 = (a >> 5) & 1;
    if (!(amx_bf16 && amx_tile && avx512bw && avx512_bf16)) return false;
    constexpr long kReqXcompPerm = 0x1023, kXtileData = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
  }();
  return ok;
}

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint16_t[], FreeDeleter>;
Buffer buffer(int64_t elements) {
  auto* p = static_cast<uint16_t*>(std::aligned_alloc(64, (elements * 2 + 63) / 64 * 64));
  if (!p) throw std::bad_alloc();
  return Buffer(p);
}

// 32 bfloat16 from p, zeros past the first n
inline __m512i load32(const uint16_t* p, int64_t n) {
  return n >= 32 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1ull << n) - 1), p);
}

// One product: a [M, K] (row stride lda), b [K, N] (b[k][n] at b + k sk + n sn, sk or sn 1), c [M, N]
// (row stride ldc), plus bias [N] (or null) before the rounding.
void gemm(const uint16_t* a, int64_t lda, const uint16_t* b, int64_t sk, int64_t sn, const uint16_t* bias, uint16_t* c,
          int64_t ldc, int64_t M, int64_t N, int64_t K) {
  const int64_t KS = (K + 31) / 32, strips = (M + 31) / 32;
  // a's tiles are read in place where K is a multiple of 32 (16 rows of 64 bytes, a's row
  // stride apart), else from a copy in tile order; a short last strip is always copied.
  const bool in_place = K % 32 == 0;
  const int64_t first_copied = in_place ? (M % 32 ? strips - 1 : strips) : 0;
  Buffer ap = buffer((strips - first_copied) * KS * 1024);  // [strip][k step][32 rows][32]
  parallel_for(strips - first_copied, KS * 1024, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      for (int64_t ks = 0; ks < KS; ++ks)
        for (int64_t r = 0; r < 32; ++r) {
          const int64_t m = (first_copied + s) * 32 + r;
          const __m512i v = m < M ? load32(a + m * lda + ks * 32, K - ks * 32) : _mm512_setzero_si512();
          _mm512_store_si512(ap.get() + ((s * KS + ks) * 32 + r) * 32, v);
        }
  });
  // interleave two rows of b: the first 16 columns' pairs, then the last 16's
  alignas(64) uint16_t lo_idx[32], hi_idx[32];
  for (int j = 0; j < 16; ++j) {
    lo_idx[2 * j] = j, lo_idx[2 * j + 1] = 32 + j;
    hi_idx[2 * j] = 16 + j, hi_idx[2 * j + 1] = 48 + j;
  }
  const __m512i lo = _mm512_load_si512(lo_idx), hi = _mm512_load_si512(hi_idx);
  const int64_t panel = panel_width(N, KS);
  // A product past the caches is written around them (streaming stores: no read of each line
  // before its write; 39062 x 256 x 256 on one thread 7.2-7.6 -> 6.2-6.6 ms).
  const bool stream = M * N * 2 > (int64_t{8} << 20);
  Buffer bp = buffer(KS * 1024 * (panel / 32));                  // [32 columns][k step][2 tiles][16 pairs][32]
  Buffer accs = buffer(2 * panel * 32 * omp_get_max_threads());  // per thread [32 columns][32 rows][32], float32
  for (int64_t n0 = 0; n0 < N; n0 += panel) {
    const int64_t width = std::min(panel, N - n0), blocks = (width + 31) / 32;
    parallel_for(blocks, KS * 1024, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j)
        for (int64_t ks = 0; ks < KS; ++ks) {
          uint16_t* dst = bp.get() + (j * KS + ks) * 1024;
          const int64_t cols = width - j * 32;
          if (sn == 1) {  // rows of b: two rows' 32 values interleaved into the two tiles' row p
            for (int64_t p = 0; p < 16; ++p) {
              const int64_t k = ks * 32 + 2 * p;
              const uint16_t* row = b + k * sk + n0 + j * 32;
              const __m512i r0 = k < K ? load32(row, cols) : _mm512_setzero_si512();
              const __m512i r1 = k + 1 < K ? load32(row + sk, cols) : _mm512_setzero_si512();
              _mm512_store_si512(dst + p * 32, _mm512_permutex2var_epi16(r0, lo, r1));
              _mm512_store_si512(dst + 512 + p * 32, _mm512_permutex2var_epi16(r0, hi, r1));
            }
            continue;
          }
          // columns of b (a Linear weight's rows): a pair b[k][n], b[k + 1][n] is 4 adjacent bytes,
          // gathered for 16 n at a time; a lone last k (K odd) takes its 2 bytes alone
          for (int64_t t = 0; t < 2; ++t) {
            const int64_t n = n0 + j * 32 + t * 16;
            const auto live = static_cast<__mmask16>(cols - t * 16 >= 16 ? 0xFFFF
                                                     : cols > t * 16     ? (1u << (cols - t * 16)) - 1
                                                                         : 0);
            const __m512i at =
                _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                   _mm512_set1_epi32(static_cast<int>(sn)));
            for (int64_t p = 0; p < 16; ++p) {
              const int64_t k = ks * 32 + 2 * p;
              __m512i v = _mm512_setzero_si512();
              if (k + 1 < K) {
                v = _mm512_mask_i32gather_epi32(v, live, at, b + k + n * sn, 2);
              } else if (k < K) {
                alignas(64) uint32_t one[16] = {};
                for (int64_t i = 0; i < 16; ++i)
                  if ((live >> i) & 1) one[i] = b[k + (n + i) * sn];
                v = _mm512_load_si512(one);
              }
              _mm512_store_si512(dst + t * 512 + p * 32, v);
            }
          }
        }
    });
    parallel_for(strips, KS * 1024 * blocks, [&](int64_t s0, int64_t s1) {
      TileConfig cfg;  // tiles 0-3 the accumulators, 4-5 a's, 6-7 b's: all 16 rows of 64 bytes
      for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
      _tile_loadconfig(&cfg);
      float* const acc = reinterpret_cast<float*>(accs.get()) + omp_get_thread_num() * panel * 32;
      for (int64_t s = s0; s < s1; ++s) {
        // strip s's tiles: k step ks's upper tile at as + ks * step, the lower half further
        const bool copied = s >= first_copied;
        const uint16_t* as = copied ? ap.get() + (s - first_copied) * KS * 1024 : a + s * 32 * lda;
        const int64_t step = copied ? 1024 : 32, half = copied ? 512 : 16 * lda, stride = copied ? 64 : lda * 2;
        if (s + 1 < s1 && s + 1 < first_copied)  // the next strip read in place: into L2 while this one computes
          for (int64_t r = 0; r < 32; ++r)
            for (int64_t k = 0; k < K; k += 32)
              _mm_prefetch(reinterpret_cast<const char*>(a + ((s + 1) * 32 + r) * lda + k), _MM_HINT_T1);
        for (int64_t k0 = 0; k0 < KS; k0 += kKSteps) {
          const int64_t k1 = std::min(KS, k0 + kKSteps);
          for (int64_t j = 0; j < blocks; ++j) {
            const uint16_t* bs = bp.get() + j * KS * 1024;
            float* cs = acc + j * 1024;
            if (k0 == 0) {
              _tile_zero(0);
              _tile_zero(1);
              _tile_zero(2);
              _tile_zero(3);
            } else {
              _tile_loadd(0, cs, 128);
              _tile_loadd(1, cs + 16, 128);
              _tile_loadd(2, cs + 512, 128);
              _tile_loadd(3, cs + 528, 128);
            }
            for (int64_t ks = k0; ks < k1; ++ks) {
              _tile_loadd(4, as + ks * step, stride);
              _tile_loadd(6, bs + ks * 1024, 64);
              _tile_dpbf16ps(0, 4, 6);
              _tile_loadd(7, bs + ks * 1024 + 512, 64);
              _tile_dpbf16ps(1, 4, 7);
              _tile_loadd(5, as + ks * step + half, stride);
              _tile_dpbf16ps(2, 5, 6);
              _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(0, cs, 128);
            _tile_stored(1, cs + 16, 128);
            _tile_stored(2, cs + 512, 128);
            _tile_stored(3, cs + 528, 128);
          }
        }
        const int64_t rows = std::min<int64_t>(32, M - s * 32);
        for (int64_t j = 0; j < blocks; ++j) {
          const int64_t cols = std::min<int64_t>(32, width - j * 32);
          const auto mask = static_cast<__mmask32>(cols >= 32 ? ~0u : (1u << cols) - 1);
          __m512 bias_lo = _mm512_setzero_ps(), bias_hi = _mm512_setzero_ps();  // float32 from bfloat16: a shift
          if (bias) {
            const __m512i v = _mm512_maskz_loadu_epi16(mask, bias + n0 + j * 32);
            bias_lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(v)), 16));
            bias_hi =
                _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(v, 1)), 16));
          }
          for (int64_t r = 0; r < rows; ++r) {
            const float* row = acc + j * 1024 + r * 32;
            const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_add_ps(_mm512_load_ps(row + 16), bias_hi),
                                                   _mm512_add_ps(_mm512_load_ps(row), bias_lo));
            uint16_t* to = c + (s * 32 + r) * ldc + n0 + j * 32;
            if (stream && cols == 32 && reinterpret_cast<uintptr_t>(to) % 64 == 0)
              _mm512_stream_si512(reinterpret_cast<__m512i*>(to), reinterpret_cast<__m512i>(v));
            else
              _mm512_mask_storeu_epi16(to, mask, reinterpret_cast<__m512i>(v));
          }
        }
      }
      _tile_release();
      if (stream) _mm_sfence();  // the streamed rows visible before the team's barrier
    });
  }
}

}  // namespace

bool amx_bf16_matmul(const Tensor& a, const Tensor& b, const Tensor& out, const Tensor& bias) {
  const int64_t B = a.shape()[0], M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  // Below these oneDNN measured as fast (1 thread: 1024 x 256 x 256 0.18 ms both ways).
  if (M < 256 || N < 256 || K < 256 || double(M) * double(N) * double(K) < double(1 << 28)) return false;
  const int64_t sk = b.strides()[1], sn = b.strides()[2];
  const bool b_ok = sn == 1 || (sk == 1 && sn * (N - 1) + K < (int64_t{1} << 31));  // gather offsets are int32
  if (a.strides()[2] != 1 || !b_ok || !out.is_contiguous() || !amx_usable()) return false;
  if (bias.defined() && !(bias.dim() == 1 && bias.shape()[0] == N && bias.is_contiguous())) return false;
  const auto* pbias = bias.defined() ? static_cast<const uint16_t*>(bias.data_ptr()) : nullptr;
  const auto* pa = static_cast<const uint16_t*>(a.data_ptr());
  const auto* pb = static_cast<const uint16_t*>(b.data_ptr());
  auto* pc = static_cast<uint16_t*>(out.data_ptr());
  for (int64_t i = 0; i < B; ++i)
    gemm(pa + i * a.strides()[0], a.strides()[1], pb + i * b.strides()[0], sk, sn, pbias, pc + i * M * N, N, M, N, K);
  return true;
}

}  // namespace tessel::cpu
