// LSTM and GRU over a whole sequence (one layer, one direction) as two kernels,
// forward and backward through time, registered by name ("rnn_fused",
// "rnn_fused_backward") and called by src/nn/rnn.cpp. Per step: one gemm
// h_{t-1} @ W_hh^T, then the gate math in vector loops; the backward runs the
// steps in reverse with one gemm dgates @ W_hh per step and forms dW_hh with a
// single gemm over all steps. Time steps are indexed by t (the position in the
// input); `reverse` runs them from t = L-1 down to 0.
//
// Layouts (all contiguous, T = float or double):
//   xp [L, N, G*H]: x W_ih^T + b_ih; W_hh [G*H, H]; b_hh [G*H]; G = 4 (i, f, g, o) or 3 (r, z, n).
//   gates [L, N, 5H] (LSTM: i, f, g, o after their activations, tanh(c_t)) or
//         [L, N, 4H] (GRU: r, z, n, W_hn h_{t-1} + b_hn);
//   hprev, cprev [L, N, H]: the state step t started from (h0/c0 at the first step).
#include <oneapi/dnnl/dnnl.hpp>
#include <Eigen/Core>

#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/error.h"
#include "tessel/kernel.h"
#include "tessel/registry.h"

namespace tessel::cpu {
namespace {

// C[M, N] = op(A) op(B) + beta C, row-major; op(X) = X^T when tX. float32 through
// oneDNN's sgemm (the gemm behind its matmul primitive, without a primitive to
// create or look up per call), float64 through Eigen as the float64 matmul.
template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
          T beta, T* C, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    const dnnl::status st = dnnl::sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
    TS_CHECK(st == dnnl::status::success, Error, "rnn_fused", "oneDNN sgemm failed (status ",
             static_cast<int>(st), ")");
  } else {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Str = Eigen::OuterStride<>;
    Eigen::Map<Mat, 0, Str> Cm(C, M, N, Str(ldc));
    // A stored [M, K] (lda) or, transposed, [K, M].
    Eigen::Map<const Mat, 0, Str> Am(A, ta ? K : M, ta ? M : K, Str(lda));
    Eigen::Map<const Mat, 0, Str> Bm(B, tb ? N : K, tb ? K : N, Str(ldb));
    if (beta == T(0)) Cm.setZero();
    if (ta && tb) Cm.noalias() += Am.transpose() * Bm.transpose();
    else if (ta) Cm.noalias() += Am.transpose() * Bm;
    else if (tb) Cm.noalias() += Am * Bm.transpose();
    else Cm.noalias() += Am * Bm;
  }
}

// In-place sigmoid / tanh on a contiguous run, vectorized where vecmath has a table.
template <class T>
void vsigmoid(T* p, int64_t n, const vecmath::Table* vt) {
  if (vt) {
    if constexpr (std::is_same_v<T, float>) vt->f32[vecmath::Sigmoid](p, p, n, {});
    else vt->f64[vecmath::Sigmoid](p, p, n, {});
    return;
  }
  for (int64_t j = 0; j < n; ++j) p[j] = T(1) / (T(1) + std::exp(-p[j]));
}
template <class T>
void vtanh(T* p, int64_t n, const vecmath::Table* vt) {
  if (vt) {
    if constexpr (std::is_same_v<T, float>) vt->f32[vecmath::Tanh](p, p, n, {});
    else vt->f64[vecmath::Tanh](p, p, n, {});
    return;
  }
  for (int64_t j = 0; j < n; ++j) p[j] = std::tanh(p[j]);
}

// The gate math of one batch row, in loops over j that vectorize (restrict: the
// buffers never overlap); an AVX2 clone without FMA, so every CPU rounds alike.
template <class T>
TESSEL_CLONES void add3(T* __restrict o, const T* __restrict x, const T* __restrict a, const T* __restrict b,
                        int64_t n) {
  for (int64_t j = 0; j < n; ++j) o[j] = x[j] + a[j] + b[j];
}
// c_t = f * c_{t-1} + i * g into cn and tc (tanh taken after).
template <class T>
TESSEL_CLONES void lstm_cell(const T* __restrict g, const T* __restrict cp, T* __restrict cn, T* __restrict tc,
                             int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const T cv = g[H + j] * cp[j] + g[j] * g[2 * H + j];
    cn[j] = cv;
    tc[j] = cv;
  }
}
template <class T>
TESSEL_CLONES void mul_to2(const T* __restrict a, const T* __restrict b, T* __restrict o1, T* __restrict o2,
                           int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const T v = a[j] * b[j];
    o1[j] = v;
    o2[j] = v;
  }
}
// n's pre-activation x_n + r * (W_hn h + b_hn), keeping W_hn h + b_hn in hhn.
template <class T>
TESSEL_CLONES void gru_n(const T* __restrict x, const T* __restrict a, const T* __restrict b, const T* __restrict r,
                         T* __restrict hhn, T* __restrict gn, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const T v = a[j] + b[j];
    hhn[j] = v;
    gn[j] = x[j] + r[j] * v;
  }
}
// h = n + z * (h_{t-1} - n), to the output and the next step's state.
template <class T>
TESSEL_CLONES void gru_h(const T* __restrict gn, const T* __restrict z, const T* __restrict hp, T* __restrict o1,
                         T* __restrict o2, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const T v = gn[j] + z[j] * (hp[j] - gn[j]);
    o1[j] = v;
    o2[j] = v;
  }
}
// One row of the LSTM backward step: dh, dc carry the state gradients (dc updated in place).
template <class T>
TESSEL_CLONES void lstm_bwd_row(const T* __restrict g, const T* __restrict go, const T* __restrict dh,
                                T* __restrict dc, const T* __restrict cp, T* __restrict da, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j], tc = g[4 * H + j];
    const T dhj = go[j] + dh[j];
    const T dcj = dc[j] + dhj * o * (T(1) - tc * tc);
    da[j] = dcj * gg * i * (T(1) - i);
    da[H + j] = dcj * cp[j] * f * (T(1) - f);
    da[2 * H + j] = dcj * i * (T(1) - gg * gg);
    da[3 * H + j] = dhj * tc * o * (T(1) - o);
    dc[j] = dcj * f;
  }
}
// One row of the GRU backward step; dh becomes z * dh (the direct path h_{t-1} -> h_t),
// to which the gemm adds the gates' part.
template <class T>
TESSEL_CLONES void gru_bwd_row(const T* __restrict g, const T* __restrict go, T* __restrict dh,
                               const T* __restrict hp, T* __restrict da, T* __restrict dr, int64_t H) {
  for (int64_t j = 0; j < H; ++j) {
    const T r = g[j], z = g[H + j], nn = g[2 * H + j], hn = g[3 * H + j];
    const T dhj = go[j] + dh[j];
    const T dan = dhj * (T(1) - z) * (T(1) - nn * nn);
    const T dar = dan * hn * r * (T(1) - r);
    const T daz = dhj * (hp[j] - nn) * z * (T(1) - z);
    da[j] = dar;
    dr[j] = dar;
    da[H + j] = daz;
    dr[H + j] = daz;
    da[2 * H + j] = dan;
    dr[2 * H + j] = dan * r;
    dh[j] = dhj * z;
  }
}
// Column sums of [R, C] rows (ld apart) in double, rows in order.
template <class T>
TESSEL_CLONES void col_sums(const T* __restrict m, int64_t R, int64_t C, int64_t ld, double* __restrict s) {
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = 0; j < C; ++j) s[j] += static_cast<double>(m[r * ld + j]);
}

// Rows of the batch are independent through the whole recurrence: with this many
// threads (0: fewer than two) each runs every step on a slice of the rows, in one
// parallel region with no barrier per step (oneDNN's sgemm runs on the calling
// thread inside it). Step by step with the team, a gemm and a layer of cells each
// forked and joined per step: 14% of a 2-thread LSTM training step was in libgomp.
// At least 8 rows a thread, so that each slice's gemm stays efficient.
inline int row_slices(int64_t L, int64_t N, int64_t GH, int64_t H) {
  const int64_t nt = std::min<int64_t>(threads_for(L * N * GH * H / 16), N / 8);
  return nt >= 2 ? static_cast<int>(nt) : 0;
}

// body(lo, hi, team) for every slice of the rows [0, N): on `slices` threads, or
// once for all rows with team = true (the steps then use the team inside).
template <class F>
void over_row_slices(int slices, int64_t N, F&& body) {
  if (slices < 2) return body(int64_t{0}, N, true);
#pragma omp parallel num_threads(slices)
  {
    const int i = omp_get_thread_num(), k = omp_get_num_threads();
    body(N * i / k, N * (i + 1) / k, false);
  }
}

struct Dims {
  int64_t L, N, H;
  bool gru, reverse;
  int64_t G() const { return gru ? 3 : 4; }
  int64_t S() const { return gru ? 4 : 5; }  // gate slots saved per row
  int64_t t_of(int64_t s) const { return reverse ? L - 1 - s : s; }
};

Dims dims_of(const KernelCall& c, const Tensor& w_hh) {
  const auto* p = static_cast<const UnaryParams*>(c.params);
  Dims d;
  d.gru = p->a != 0, d.reverse = p->b != 0;
  d.H = w_hh.shape()[1];
  return d;
}

// "rnn_fused": in xp, h0, c0 (LSTM; GRU: ignored), w_hh, b_hh; params UnaryParams
// (a: 0 LSTM, 1 GRU; b: 1 reverse). out: out [L, N, H], h_n, c_n (GRU: ignored), gates,
// hprev, cprev (GRU: ignored).
template <class T>
void rnn_forward_kernel(const KernelCall& c) {
  Dims d = dims_of(c, c.in[3]);
  d.L = c.in[0].shape()[0], d.N = c.in[0].shape()[1];
  const int64_t L = d.L, N = d.N, H = d.H, GH = d.G() * H, S = d.S() * H;
  const T *xp = cptr<T>(c.in[0]), *h0 = cptr<T>(c.in[1]), *c0 = cptr<T>(c.in[2]), *w = cptr<T>(c.in[3]),
          *b = cptr<T>(c.in[4]);
  T *out = mptr<T>(c.out[0]), *hn = mptr<T>(c.out[1]), *cn = mptr<T>(c.out[2]), *gates = mptr<T>(c.out[3]),
    *hprev = mptr<T>(c.out[4]), *cprev = mptr<T>(c.out[5]);
  const vecmath::Table* vt = vecmath::table();
  std::vector<T> hh(static_cast<size_t>(N * GH));
  // W_hh^T [H, G*H] once: the per-step product then reads plain rows (oneDNN's sgemm
  // measured 91 vs 95-107 us for [64, 128] @ [128, 512] against W_hh with 'T').
  std::vector<T> wt(static_cast<size_t>(GH * H));
  for (int64_t i = 0; i < GH; ++i)
    for (int64_t j = 0; j < H; ++j) wt[j * GH + i] = w[i * H + j];
  std::memcpy(hprev + d.t_of(0) * N * H, h0, sizeof(T) * N * H);
  if (!d.gru) std::memcpy(cprev + d.t_of(0) * N * H, c0, sizeof(T) * N * H);
  const auto cells = [&](int64_t s, int64_t lo, int64_t hi) {
    const int64_t t = d.t_of(s);
    const bool last = s == L - 1;
    const int64_t tn = last ? 0 : d.t_of(s + 1);
    const T* hp = hprev + t * N * H;
    for (int64_t n = lo; n < hi; ++n) {
      const T* x = xp + (t * N + n) * GH;
      const T* a = hh.data() + n * GH;
      T* g = gates + (t * N + n) * S;
      T* ho = out + (t * N + n) * H;
      T* hnext = last ? hn + n * H : hprev + (tn * N + n) * H;
      if (!d.gru) {
        add3(g, x, a, b, 4 * H);
        vsigmoid(g, 2 * H, vt);
        vtanh(g + 2 * H, H, vt);
        vsigmoid(g + 3 * H, H, vt);
        T* tc = g + 4 * H;
        lstm_cell(g, cprev + (t * N + n) * H, last ? cn + n * H : cprev + (tn * N + n) * H, tc, H);
        vtanh(tc, H, vt);
        mul_to2(g + 3 * H, tc, ho, hnext, H);
      } else {
        add3(g, x, a, b, 2 * H);
        vsigmoid(g, 2 * H, vt);
        gru_n(x + 2 * H, a + 2 * H, b + 2 * H, g, g + 3 * H, g + 2 * H, H);
        vtanh(g + 2 * H, H, vt);
        gru_h(g + 2 * H, g + H, hp + n * H, ho, hnext, H);
      }
    }
  };
  over_row_slices(row_slices(L, N, GH, H), N, [&](int64_t lo, int64_t hi, bool team) {
    for (int64_t s = 0; s < L; ++s) {
      const T* hp = hprev + d.t_of(s) * N * H;
      gemm<T>(false, false, hi - lo, GH, H, hp + lo * H, H, wt.data(), GH, T(0), hh.data() + lo * GH, GH);
      if (team)
        parallel_for(hi - lo, S * 8, [&](int64_t a, int64_t e) { cells(s, lo + a, lo + e); });
      else
        cells(s, lo, hi);
    }
  });
}

// "rnn_fused_backward": in dout [L, N, H] (empty: no gradient), dh_n, dc_n (GRU: ignored),
// w_hh, gates, hprev, cprev (GRU: ignored); params as the forward. out: dxp [L, N, G*H], dh0,
// dc0 (GRU: ignored), dw_hh [G*H, H], db_hh [G*H].
template <class T>
void rnn_backward_kernel(const KernelCall& c) {
  Dims d = dims_of(c, c.in[3]);
  d.L = c.in[4].shape()[0], d.N = c.in[4].shape()[1];  // from gates: dout may be empty
  const int64_t L = d.L, N = d.N, H = d.H, GH = d.G() * H, S = d.S() * H;
  // dout empty: the output sequence got no gradient (zeros, not read).
  const T* dout = c.in[0].numel() ? cptr<T>(c.in[0]) : nullptr;
  const T *w = cptr<T>(c.in[3]), *gates = cptr<T>(c.in[4]), *hprev = cptr<T>(c.in[5]), *cprev = cptr<T>(c.in[6]);
  T *dxp = mptr<T>(c.out[0]), *dh0 = mptr<T>(c.out[1]), *dc0 = mptr<T>(c.out[2]), *dw = mptr<T>(c.out[3]),
    *db = mptr<T>(c.out[4]);
  // The gradient w.r.t. the pre-activations of the recurrent product h W_hh^T + b_hh:
  // dxp itself for the LSTM; for the GRU its n part is r * dxp_n, kept apart.
  std::unique_ptr<T[]> dhh_gru;  // every element written before it is read
  if (d.gru) dhh_gru = std::make_unique_for_overwrite<T[]>(static_cast<size_t>(L * N * GH));
  T* dhh = d.gru ? dhh_gru.get() : dxp;
  // dh0/dc0 carry the gradient w.r.t. the state between steps; at the end they hold h0's and c0's.
  std::memcpy(dh0, cptr<T>(c.in[1]), sizeof(T) * N * H);
  if (!d.gru) std::memcpy(dc0, cptr<T>(c.in[2]), sizeof(T) * N * H);
  // db_hh: column sums in double, each step's rows while they are in cache, steps and rows
  // in a fixed order (any thread count gives the same bits).
  std::vector<double> sums(static_cast<size_t>(GH), 0.0);
  const std::vector<T> zrow(static_cast<size_t>(H), T(0));
  const auto rows = [&](int64_t t, int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      const T* g = gates + (t * N + n) * S;
      const T* go = dout ? dout + (t * N + n) * H : zrow.data();
      T* dh = dh0 + n * H;
      T* da = dxp + (t * N + n) * GH;
      if (!d.gru)
        lstm_bwd_row(g, go, dh, dc0 + n * H, cprev + (t * N + n) * H, da, H);
      else
        gru_bwd_row(g, go, dh, hprev + (t * N + n) * H, da, dhh + (t * N + n) * GH, H);
    }
  };
  over_row_slices(row_slices(L, N, GH, H), N, [&](int64_t lo, int64_t hi, bool team) {
    for (int64_t s = L - 1; s >= 0; --s) {
      const int64_t t = d.t_of(s);
      if (team)
        parallel_for(hi - lo, S * 8, [&](int64_t a, int64_t e) { rows(t, lo + a, lo + e); });
      else
        rows(t, lo, hi);
      gemm<T>(false, false, hi - lo, H, GH, dhh + (t * N + lo) * GH, GH, w, H, d.gru ? T(1) : T(0), dh0 + lo * H, H);
      if (team) col_sums(dhh + t * N * GH, N, GH, GH, sums.data());  // while the step is in cache
    }
    if (team) return;
      // Every slice done: db's sums split by columns, each in the one-thread order.
#pragma omp barrier
    const int i = omp_get_thread_num(), k = omp_get_num_threads();
    const int64_t j0 = GH * i / k, j1 = GH * (i + 1) / k;
    for (int64_t s = L - 1; s >= 0; --s) col_sums(dhh + d.t_of(s) * N * GH + j0, N, j1 - j0, GH, sums.data() + j0);
  });
  // dW_hh = sum over steps and rows of dhh^T h_{t-1}: one gemm over all L*N rows, formed
  // transposed (hprev^T dhh, [H, G*H]) and copied back: oneDNN's sgemm ran the
  // transposed product 1.3x faster at these shapes (K = L*N = 3200, 1 thread, AVX2).
  auto dwt = std::make_unique_for_overwrite<T[]>(static_cast<size_t>(GH * H));
  gemm<T>(true, false, H, GH, L * N, hprev, H, dhh, GH, T(0), dwt.get(), GH);
  for (int64_t i = 0; i < GH; ++i)
    for (int64_t j = 0; j < H; ++j) dw[i * H + j] = dwt[j * GH + i];
  for (int64_t j = 0; j < GH; ++j) db[j] = static_cast<T>(sums[j]);
}

const bool registered = [] {
  auto& reg = Registry::get();
  const OpId f = reg.op_id("rnn_fused"), b = reg.op_id("rnn_fused_backward");
  reg.add(f, DeviceType::CPU, DType::Float32, &rnn_forward_kernel<float>);
  reg.add(f, DeviceType::CPU, DType::Float64, &rnn_forward_kernel<double>);
  reg.add(b, DeviceType::CPU, DType::Float32, &rnn_backward_kernel<float>);
  reg.add(b, DeviceType::CPU, DType::Float64, &rnn_backward_kernel<double>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
