// CPU kernels for max_dim and min_dim: the extreme along one dim and its first index.
// Contract (kernel.h): out[0] values and out[1] int64 indices have the keepdim shape.
#include <cstring>
#include <limits>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduce_util.h"
#include "kernels/cpu/register.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"

namespace tessel::cpu {
namespace {

// The selects below keep 32-byte vectors inside inlined loops; GCC's ABI note for
// the SSE2 build (-Wpsabi) would report their instantiations.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

// bfloat16 compares as its float32 widening (exact): lanes of float, loaded by a shift
// (through the generic loop's per-element conversions, max(dim=-1) of 10^7 bfloat16 ran
// 1.5x PyTorch's time).
template <class T>
using lane_t = std::conditional_t<std::is_same_v<T, BFloat16>, float, T>;
typedef uint16_t Bf16x8 __attribute__((vector_size(16)));
typedef uint32_t U32x8 __attribute__((vector_size(32)));
template <class V, class T>  // V: 32 bytes
inline V load_lanes(const T* p) {
  V v;
  if constexpr (std::is_same_v<T, BFloat16>) {
    using H = Bf16x8;
    using U = U32x8;
    H h;
    std::memcpy(&h, p, sizeof(H));
    const U u = __builtin_convertvector(h, U) << 16;
    std::memcpy(&v, &u, sizeof(V));
  } else {
    std::memcpy(&v, p, sizeof(V));
  }
  return v;
}

// max/min with indices over rows: outputs [0, n) contiguous in x, the reduced
// dim `row` elements apart (a reduction along a transposed view's last dim).
// Four vectors of outputs keep their value and index in registers down the rows,
// with better()'s rule as selects (first NaN, else the first extreme, wins);
// walking each output's column one element at a time was ~1.35x PyTorch's time.
template <class T, bool IsMax>
TESSEL_CLONES void extreme_rows(const T* x, int64_t n, int64_t len, int64_t row, T* out, int64_t so, int64_t* oi,
                                int64_t si) {
  using C = lane_t<T>;
  using I = std::conditional_t<sizeof(C) == 4, int32_t, int64_t>;  // the compare's mask type
  typedef C V __attribute__((vector_size(32)));
  typedef I VI __attribute__((vector_size(32)));
  constexpr int64_t W = sizeof(V) / sizeof(C), B = 4;
  int64_t i = 0;
  for (; i + B * W <= n; i += B * W) {
    V best[B];
    VI idx[B];
    for (int64_t b = 0; b < B; ++b) {
      best[b] = load_lanes<V>(x + i + b * W);
      idx[b] = VI{};
    }
    for (int64_t j = 1; j < len; ++j) {
      const T* r = x + j * row + i;
      const VI jv = VI{} + static_cast<I>(j);
      for (int64_t b = 0; b < B; ++b) {
        const V v = load_lanes<V>(r + b * W);
        const VI take = (best[b] == best[b]) & ((v != v) | (IsMax ? v > best[b] : v < best[b]));
        best[b] = take ? v : best[b];
        idx[b] = take ? jv : idx[b];
      }
    }
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < W; ++k) {
        out[(i + b * W + k) * so] = static_cast<T>(best[b][k]);
        oi[(i + b * W + k) * si] = idx[b][k];
      }
  }
  for (; i < n; ++i) {
    C best = static_cast<C>(x[i]);
    int64_t bi = 0;
    for (int64_t j = 1; j < len; ++j)
      if (better(static_cast<C>(x[j * row + i]), best, IsMax)) best = static_cast<C>(x[j * row + i]), bi = j;
    out[i * so] = static_cast<T>(best);
    oi[i * si] = bi;
  }
}

// max/min with its index over one contiguous row: 4W lanes each keep their first
// NaN or first extreme (extreme_rows' selects), then the lanes are merged: the
// first NaN, else the extreme with the lowest index; the tail continues in order.
template <class T, bool IsMax>
TESSEL_CLONES void extreme_row(const T* x, int64_t len, T* out, int64_t* oi) {
  using C = lane_t<T>;
  using I = std::conditional_t<sizeof(C) == 4, int32_t, int64_t>;
  typedef C V __attribute__((vector_size(32)));
  typedef I VI __attribute__((vector_size(32)));
  constexpr int64_t W = sizeof(V) / sizeof(C), B = 4;
  C best = static_cast<C>(x[0]);
  int64_t bi = 0, j = 1;
  if (len >= 2 * B * W && len <= std::numeric_limits<I>::max()) {
    V bv[B];
    VI bx[B], lane;
    for (int64_t k = 0; k < W; ++k) lane[k] = static_cast<I>(k);
    for (int64_t b = 0; b < B; ++b) {
      bv[b] = load_lanes<V>(x + b * W);
      bx[b] = lane + static_cast<I>(b * W);
    }
    for (j = B * W; j + B * W <= len; j += B * W)
      for (int64_t b = 0; b < B; ++b) {
        const V v = load_lanes<V>(x + j + b * W);
        const VI take = (bv[b] == bv[b]) & ((v != v) | (IsMax ? v > bv[b] : v < bv[b]));
        bv[b] = take ? v : bv[b];
        bx[b] = take ? lane + static_cast<I>(j + b * W) : bx[b];
      }
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < W; ++k) {
        const C v = bv[b][k];
        const int64_t vi = bx[b][k];
        const bool take =
            best != best ? (v != v && vi < bi) : (v != v || (IsMax ? v > best : v < best) || (v == best && vi < bi));
        if (take) best = v, bi = vi;
      }
  }
  for (; j < len; ++j)
    if (better(static_cast<C>(x[j]), best, IsMax)) best = static_cast<C>(x[j]), bi = j;
  *out = static_cast<T>(best);
  *oi = bi;
}

// Values and first index of the extreme along one dim.
template <class T, bool IsMax>
void extreme_dim_kernel(const KernelCall& c) {
  using A = acc_t<T>;
  const Tensor& a = c.in[0];
  const int64_t dim = static_cast<const ReduceDimParams*>(c.params)->dim;
  const int64_t len = a.shape()[dim], step = a.strides()[dim] * static_cast<int64_t>(sizeof(T));
  const Tensor av = a.select(dim, 0).unsqueeze(dim);
  for_each<3>(
      {&c.out[0], &c.out[1], &av},
      [&](char** p, const int64_t* s, int64_t n) {
        if constexpr (lanes_v<T> || std::is_same_v<T, BFloat16>) {
          if (s[2] == sizeof(T) && len > 1 && s[0] % sizeof(T) == 0 && s[1] % sizeof(int64_t) == 0 &&
              step % sizeof(T) == 0) {
            return extreme_rows<T, IsMax>(reinterpret_cast<const T*>(p[2]), n, len, step / int64_t{sizeof(T)},
                                          reinterpret_cast<T*>(p[0]), s[0] / int64_t{sizeof(T)},
                                          reinterpret_cast<int64_t*>(p[1]), s[1] / int64_t{sizeof(int64_t)});
          }
          if (step == sizeof(T)) {
            for (int64_t i = 0; i < n; ++i)
              extreme_row<T, IsMax>(reinterpret_cast<const T*>(p[2] + i * s[2]), len,
                                    reinterpret_cast<T*>(p[0] + i * s[0]), reinterpret_cast<int64_t*>(p[1] + i * s[1]));
            return;
          }
        }
        for (int64_t i = 0; i < n; ++i) {
          const char* x = p[2] + i * s[2];
          A best = A(*reinterpret_cast<const T*>(x));
          int64_t bi = 0;
          for (int64_t j = 1; j < len; ++j) {
            const A v = A(*reinterpret_cast<const T*>(x + j * step));
            if (better(v, best, IsMax)) {
              best = v;
              bi = j;
            }
          }
          *reinterpret_cast<T*>(p[0] + i * s[0]) = static_cast<T>(best);
          *reinterpret_cast<int64_t*>(p[1] + i * s[1]) = bi;
        }
      },
      len);
}

const bool registered = [] {
  register_for(BoolType{} + RealTypes{}, op::max_dim,
               []<class T>(std::type_identity<T>) -> Kernel { return &extreme_dim_kernel<T, true>; });
  register_for(BoolType{} + RealTypes{}, op::min_dim,
               []<class T>(std::type_identity<T>) -> Kernel { return &extreme_dim_kernel<T, false>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
