// CPU kernels for the real FFT pair behind rfft/irfft, stft and the audio features.
// Contract (ops "rfft_real" and "irfft_real", float32/float64, contiguous):
//   rfft_real:  in [B, n] -> out [B, n/2 + 1, 2]  (re, im; unnormalized, e^{-2 pi i jk/n})
//   irfft_real: in [B, n/2 + 1, 2] -> out [B, n]  (includes the 1/n; imaginary parts of the
//               DC and, for even n, Nyquist bins are ignored, as numpy.fft.irfft does)
//   stft_power: see fft::StftPowerParams in tessel/fft.h
//   fft_c2c:    see fft::C2cParams in tessel/fft.h (complex transforms along a middle dim)
// n is read from the shapes. The transforms of one call run in lanes: kLanes
// signals at a time, stored split (re and im arrays, lane index innermost), so
// every butterfly is a plain loop over lanes that the compiler vectorizes. Even
// n runs as one complex FFT of n/2 points (x[2j] + i x[2j+1]) and a split step.
// On AVX-512, float32 rows of 256 points and of multiples of 256 run row by row
// in registers instead (fft_avx512.h: real_rows_avx512, irfft_rows_avx512, c2c_kernel).
#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <type_traits>
#include <vector>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/fft_avx512.h"
#include "kernels/cpu/fft_lanes.h"
#include "kernels/cpu/fft_plan.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"
#include "tessel/fft.h"
#include "tessel/kernel.h"
#include "tessel/registry.h"

namespace tessel::cpu {
namespace {

using namespace fft_engine;  // Plan, plan_for, complex_fft, kLanes, TS_FOR_LANES (fft_plan.h)

// The split step of a real transform of even n = 2m, one bin at a time: from
// a = Z_k and b = Z_{m-k} of the m-point FFT Z of z_j = x[2j] + i x[2j+1] and
// w = e^{-2 pi i k/n}, X_k = E_k + w O_k, E_k = (a + conj(b)) / 2, O_k = (a - conj(b)) / 2i.
template <class T>
inline void split_bin(T ar, T ai, T br, T bi, T wr, T wi, T& xr, T& xi) {
  const T er = (ar + br) / 2, ei = (ai - bi) / 2;
  const T od_r = (ai + bi) / 2, od_i = (br - ar) / 2;
  xr = er + wr * od_r - wi * od_i;
  xi = ei + wr * od_i + wi * od_r;
}
// Its inverse, from a = X_k and b = X_{m-k}: Z_k = E_k + i O_k with
// E_k = (a + conj(b)) / 2 and O_k = (a - conj(b)) / 2 * conj(w).
template <class T>
inline void unsplit_bin(T ar, T ai, T br, T bi, T wr, T wi, T& zr, T& zi) {
  const T er = (ar + br) / 2, ei = (ai - bi) / 2, dr = (ar - br) / 2, di = (ai + bi) / 2;
  const T or_ = dr * wr + di * wi, oi = di * wr - dr * wi;
  zr = er - oi;
  zi = ei + or_;
}

// Forward real FFTs of `count` signals, L at a time: fill(q, frame) writes the
// n samples of signal q (q < count) to frame; emit(q0, nq, Xr, Xi) receives the
// bins of signals q0 .. q0 + nq - 1 as [bins][L] arrays (lane l = signal q0 + l;
// emit may overwrite Xr).
// rows, when given (even n only), holds the signals contiguously, n samples
// each: read as complex pairs straight into the lanes, fill unused.
// One thread's chunks [c0, c1) of L signals.
template <class T, class Fill, class Emit>
TESSEL_CLONES_WIDE void forward_chunks(const Plan<T>& plan, int64_t count, Fill& fill, Emit& emit, const T* rows, int64_t c0,
                                  int64_t c1) {
  constexpr int L = kLanes<T>;
  const int64_t n = plan.n, m = plan.m, bins = n / 2 + 1, len = (std::max(m + 1, plan.rows)) * L;
  const WorkArrays<T> w(5, len);  // the last holds one frame of n <= len samples
  T *re = w[0], *im = w[1], *tr = w[2], *ti = w[3], *frame = w[4];
  for (int64_t ch = c0; ch < c1; ++ch) {
    const int64_t q0 = ch * L, nq = std::min<int64_t>(L, count - q0);
    // Signal q0 + l goes to lane l (even n: x[2j] + i x[2j+1]); missing lanes are zeros
    // (from rows: repeats of the last signal, never emitted).
    if (rows && n % 2 == 0) {
      const T* from[L];
      for (int l = 0; l < L; ++l) from[l] = rows + (q0 + std::min<int64_t>(l, nq - 1)) * n;
      fft_lanes::gather<T, L>(from, 0, m, T(1), re, im);
    } else {
      for (int l = 0; l < L; ++l) {
        if (l < nq) {
          fill(q0 + l, frame);
        } else {
          std::fill(frame, frame + n, T(0));
        }
        if (n % 2 == 0) {
          for (int64_t j = 0; j < m; ++j) re[j * L + l] = frame[2 * j], im[j * L + l] = frame[2 * j + 1];
        } else {
          for (int64_t j = 0; j < m; ++j) re[j * L + l] = frame[j], im[j * L + l] = 0;
        }
      }
    }
    const bool sw = complex_fft<T, L>(plan, re, im, tr, ti);
    const T* zr = sw ? tr : re;
    const T* zi = sw ? ti : im;
    T* xr = sw ? re : tr;  // the other pair of buffers receives the bins
    T* xi = sw ? im : ti;
    if (n % 2 == 0) {
      for (int64_t k = 0; k < bins; ++k) {
        const int64_t a = k == m ? 0 : k, b = k == 0 ? 0 : m - k;  // k and m - k mod m, without a division
        const T* ar = zr + a * L;
        const T* ai = zi + a * L;
        const T* br = zr + b * L;
        const T* bi = zi + b * L;
        const T wr = plan.split[k].real(), wi = plan.split[k].imag();
        T* oxr = xr + k * L;
        T* oxi = xi + k * L;
        TS_FOR_LANES(l) split_bin(ar[l], ai[l], br[l], bi[l], wr, wi, oxr[l], oxi[l]);
      }
      emit(q0, nq, xr, static_cast<const T*>(xi));
    } else {
      std::copy(zr, zr + bins * L, xr);  // odd n: the complex FFT's first bins are the result
      emit(q0, nq, xr, static_cast<const T*>(zi));
    }
  }
}

// Chunks of signals run on threads when the work pays for them, and with no
// OpenMP region at all when not: a team of one still cost libgomp futex calls
// (fft of a complex [62, 16]: 4 system calls, about a third of its time).
template <class T, class Fill, class Emit>
void forward_driver(const Plan<T>& plan, int64_t count, int64_t work, Fill fill, Emit emit, const T* rows = nullptr) {
  const int64_t chunks = (count + kLanes<T> - 1) / kLanes<T>;
  parallel_for(chunks, std::max<int64_t>(work / std::max<int64_t>(chunks, 1), 1),
               [&](int64_t c0, int64_t c1) { forward_chunks<T>(plan, count, fill, emit, rows, c0, c1); });
}

template <class T>
void c2c_any(const fft::C2cParams& p, const T* src, T* dst, int64_t outer, int64_t n_in, int64_t n, int64_t inner);

// The split steps of one signal, interleaved: Z [m][2] -> X [m + 1][2], and
// back (the imaginary parts of X_0 and X_m ignored, as numpy.fft.irfft does).
template <class T>
void split_forward(const Plan<T>& plan, const T* Z, T* X) {
  const int64_t m = plan.m;
  for (int64_t k = 0; k <= m; ++k) {
    const int64_t a = k == m ? 0 : k, b = k == 0 ? 0 : m - k;  // indices mod m
    split_bin(Z[2 * a], Z[2 * a + 1], Z[2 * b], Z[2 * b + 1], plan.split[k].real(), plan.split[k].imag(), X[2 * k],
              X[2 * k + 1]);
  }
}
template <class T>
void split_inverse(const Plan<T>& plan, const T* X, T* Z) {
  const int64_t m = plan.m;
  auto im = [&](int64_t k) { return k == 0 || k == m ? T(0) : X[2 * k + 1]; };
  for (int64_t k = 0; k < m; ++k)
    unsplit_bin(X[2 * k], im(k), X[2 * (m - k)], im(m - k), plan.split[k].real(), plan.split[k].imag(), Z[2 * k],
                Z[2 * k + 1]);
}

// Fewer signals than half the lanes: the real kernels would mostly transform
// empty lanes, so the complex kernel (which sizes its lanes to the count, and
// splits one long signal four-step) runs instead: on the m = n/2 points and a
// split step for even n, on the full n points (twice the work) for odd n.
template <class T>
bool few_signals(int64_t B) {
  return 2 * B < kLanes<T>;
}

std::shared_ptr<const std::vector<float>> rows_twiddles(int64_t n);

// Rows [0, B) of m-point complex transforms on AVX-512 (m a multiple of 256, up to 4096), on
// threads: per_row(r, z, rows) with z a work row of 2 m floats and rows(in, out, sign, scale)
// fft_avx512::c2c_rows on one interleaved row (sign -1: the inverse), its R = m/16-point DFTs
// by the lane engine.
template <class PerRow>
void complex_rows(int64_t m, int64_t B, PerRow&& per_row) {
  const int64_t R = m / 16;
  const auto plan = plan_for<float>(R, true);
  const auto tw = rows_twiddles(m);
  parallel_for(B, 4 * m, [&](int64_t b0, int64_t b1) {
    const WorkArrays<float> w(5, 2 * m);
    float *re = w[0], *im = w[1], *tr = w[2], *ti = w[3], *z = w[4];
    auto rows = [&](const float* in, float* out, float sign, float scale) {
      fft_avx512::c2c_rows(in, 1, m, out, sign, scale, tw->data(), tw->data() + m, re, im, [&](float* a, float* b) {
        const bool sw = complex_fft<float, 16>(*plan, a, b, tr, ti);
        return std::pair<const float*, const float*>(sw ? tr : a, sw ? ti : b);
      });
    };
    for (int64_t r = b0; r < b1; ++r) per_row(r, z, rows);
  });
}

// float32 real rows on AVX-512 (fft_avx512.h): 256 samples two rows at a time in
// registers; n = 2 m with m a multiple of 256 up to 4096 as the m-point complex
// rows kernel on the row read as pairs, then the split step. Rows [0, B) of src
// to rows of dst (stride ostride), times sr (re) and si (im). False: not handled.
template <class T>
bool real_rows_avx512(const T* src, int64_t B, int64_t n, T* dst, int64_t ostride, T sr, T si) {
  if constexpr (std::is_same_v<T, float>) {
    if (!has_avx512()) return false;
    if (n == 256) {
      const auto tw = rows_twiddles(128);
      parallel_for((B + 1) / 2, 2 * n, [&](int64_t p0, int64_t p1) {
        const int64_t r0 = 2 * p0, r1 = std::min(B, 2 * p1);
        fft_avx512::rfft256_rows(src + r0 * n, r1 - r0, dst + r0 * ostride, ostride, sr, si, tw->data());
      });
      return true;
    }
    const int64_t m = n / 2;
    if (n % 2 != 0 || m % 256 != 0 || m > 4096) return false;
    const float* ws = reinterpret_cast<const float*>(plan_for<float>(n)->split.data());  // e^{-2 pi i k / n}
    complex_rows(m, B, [&](int64_t r, float* z, auto& rows) {
      rows(src + r * n, z, 1.0f, 1.0f);
      fft_avx512::split_row(z, m, ws, dst + r * ostride, sr, si);
    });
    return true;
  }
  return false;
}

template <class T>
void rfft_kernel(const KernelCall& c) {
  constexpr int L = kLanes<T>;
  const Tensor &x = c.in[0], &out = c.out[0];
  const int64_t B = x.shape()[0], n = x.shape()[1], bins = n / 2 + 1;
  const T* src = x.data<T>();
  T* dst = out.data<T>();
  if (real_rows_avx512<T>(src, B, n, dst, bins * 2, T(1), T(1))) return;
  if (few_signals<T>(B) && n % 2 == 0) {
    // A row of n samples is, as memory, m = n/2 complex values z_j = x[2j] + i x[2j+1]:
    // their m-point FFT and the split step give the bins, half the work of an n-point one.
    const auto plan = plan_for<T>(n);
    const int64_t m = n / 2;
    std::vector<T> z(static_cast<size_t>(B * m * 2));
    c2c_any<T>(fft::C2cParams{false, false, 1.0}, src, z.data(), B, m, m, 1);
    for (int64_t b = 0; b < B; ++b) split_forward<T>(*plan, z.data() + b * m * 2, dst + b * bins * 2);
    return;
  }
  if (few_signals<T>(B)) {  // odd n: the full complex transform of the real signal
    std::vector<T> full(static_cast<size_t>(B * n * 2));
    c2c_any<T>(fft::C2cParams{false, true, 1.0}, src, full.data(), B, n, n, 1);
    for (int64_t b = 0; b < B; ++b) std::copy(full.data() + b * n * 2, full.data() + b * n * 2 + bins * 2, dst + b * bins * 2);
    return;
  }
  forward_driver<T>(
      *plan_for<T>(n), B, B * n, [&](int64_t q, T* frame) { std::copy(src + q * n, src + (q + 1) * n, frame); },
      [&](int64_t q0, int64_t nq, T* xr, const T* xi) {  // [bins][L] -> one row of (re, im) per signal
        T* to[L];
        for (int64_t l = 0; l < nq; ++l) to[l] = dst + (q0 + l) * bins * 2;
        fft_lanes::scatter<T, L>(xr, xi, 0, bins, nq, T(1), T(1), to);
      },
      src);
}

// Fused power spectrogram (op "stft_power", contract in tessel/fft.h): frames
// of the padded signal are gathered straight into the FFT lanes, windowed, and
// only |X|^power is written, so no frame, padding or (re, im) tensor exists.
template <class T>
void stft_power_kernel(const KernelCall& c) {
  constexpr int L = kLanes<T>;
  const auto& p = *static_cast<const fft::StftPowerParams*>(c.params);
  const Tensor &x = c.in[0], &win = c.in[1], &out = c.out[0];
  const bool project = c.in.size() > 2;
  const int64_t n = win.shape()[0], bins = n / 2 + 1, N = x.shape()[1];
  const int64_t F = project ? out.shape()[2] : out.shape()[1];
  const T *src = x.data<T>(), *w = win.data<T>();
  T* dst = out.data<T>();
  const int64_t hop = p.hop, pad = p.pad;
  const int mode = p.pad_mode;
  const T power = static_cast<T>(p.power);
  // Projection columns (mel filters) are mostly zero: keep each one's nonzero band.
  const int64_t P = project ? c.in[2].shape()[1] : 0;
  const T* W = project ? c.in[2].data<T>() : nullptr;
  std::vector<int64_t> lo(static_cast<size_t>(P), 0), hi(static_cast<size_t>(P), 0);
  for (int64_t m = 0; m < P; ++m) {
    int64_t a = 0, b = bins;
    while (a < bins && W[a * P + m] == T(0)) ++a;
    while (b > a && W[(b - 1) * P + m] == T(0)) --b;
    lo[m] = a, hi[m] = b;
  }
  forward_driver<T>(
      *plan_for<T>(n), x.shape()[0] * F, x.shape()[0] * F * n,
      [&](int64_t q, T* frame) {
        const T* row = src + (q / F) * N;
        const int64_t start = (q % F) * hop - pad;
        if (start >= 0 && start + n <= N) {  // inside the signal: no padding to apply
          for (int64_t j = 0; j < n; ++j) frame[j] = w[j] * row[start + j];
          return;
        }
        for (int64_t j = 0; j < n; ++j) {
          int64_t i = start + j;
          T v;
          if (i >= 0 && i < N) v = row[i];
          else if (mode == 0) v = 0;
          else if (mode == 1) v = row[i < 0 ? -i : 2 * (N - 1) - i];  // reflect (pad < N checked by the op)
          else v = row[i < 0 ? 0 : N - 1];                           // replicate
          frame[j] = w[j] * v;
        }
      },
      [&](int64_t q0, int64_t nq, T* xr, const T* xi) {
        // |X|^power in place over the [bins][L] block.
        for (int64_t k = 0; k < bins; ++k) {
          T* a = xr + k * L;
          const T* b = xi + k * L;
          TS_FOR_LANES(l) a[l] = a[l] * a[l] + b[l] * b[l];
          if (power == T(1))
            TS_FOR_LANES(l) a[l] = std::sqrt(a[l]);
          else if (power != T(2))
            TS_FOR_LANES(l) a[l] = std::pow(a[l], power / 2);
        }
        if (!project) {  // one contiguous row of bins per frame, in blocks of 16 bins that stay in L1
          for (int64_t k0 = 0; k0 < bins; k0 += 16) {
            const int64_t k1 = std::min<int64_t>(bins, k0 + 16);
            for (int64_t l = 0; l < nq; ++l) {
              T* row = dst + (q0 + l) * bins;
              for (int64_t k = k0; k < k1; ++k) row[k] = xr[k * L + l];
            }
          }
          return;
        }
        int64_t at[L];  // where frame q0 + l goes in [B, P, F]
        for (int64_t l = 0; l < nq; ++l) at[l] = ((q0 + l) / F) * P * F + (q0 + l) % F;
        for (int64_t m = 0; m < P; ++m) {
          T acc[L] = {};
          for (int64_t k = lo[m]; k < hi[m]; ++k) {
            const T wk = W[k * P + m];
            const T* a = xr + k * L;
            TS_FOR_LANES(l) acc[l] += a[l] * wk;
          }
          for (int64_t l = 0; l < nq; ++l) dst[at[l] + m * F] = acc[l];
        }
      });
}

template <class T>
TESSEL_CLONES_WIDE void irfft_chunks(const Plan<T>& plan, const T* src, T* dst, int64_t B, int64_t c0, int64_t c1);

// irfft of float32 rows of n = 2 m samples on AVX-512, m a multiple of 256 up to 4096: the
// inverse split step, then the complex rows kernel backwards, whose m complex outputs read
// as memory are the samples. False: not handled.
template <class T>
bool irfft_rows_avx512(const T* src, int64_t B, int64_t n, T* dst) {
  if constexpr (std::is_same_v<T, float>) {
    const int64_t m = n / 2, bins = m + 1;
    if (n % 2 != 0 || m % 256 != 0 || m > 4096 || !has_avx512()) return false;
    const float* ws = reinterpret_cast<const float*>(plan_for<float>(n)->split.data());
    complex_rows(m, B, [&](int64_t r, float* z, auto& rows) {
      fft_avx512::unsplit_row(src + r * bins * 2, m, ws, z);
      rows(z, dst + r * n, -1.0f, 1.0f / float(m));
    });
    return true;
  }
  return false;
}

template <class T>
void irfft_kernel(const KernelCall& c) {
  constexpr int L = kLanes<T>;
  const Tensor &X = c.in[0], &out = c.out[0];
  const int64_t B = out.shape()[0], n = out.shape()[1], bins = n / 2 + 1;
  const T* src = X.data<T>();
  T* dst = out.data<T>();
  if (irfft_rows_avx512<T>(src, B, n, dst)) return;
  if (few_signals<T>(B) && n % 2 == 0) {
    // The inverse split step makes the m = n/2 complex values whose inverse FFT,
    // read as memory, is the signal (x[2j] + i x[2j+1]): written straight to dst.
    const auto plan = plan_for<T>(n);
    const int64_t m = n / 2;
    std::vector<T> z(static_cast<size_t>(B * m * 2));
    for (int64_t b = 0; b < B; ++b) split_inverse<T>(*plan, src + b * bins * 2, z.data() + b * m * 2);
    c2c_any<T>(fft::C2cParams{true, false, 1.0 / double(m)}, z.data(), dst, B, m, m, 1);
    return;
  }
  if (few_signals<T>(B)) {  // odd n: the full Hermitian spectrum, inverted as complex; the real parts are the signal
    std::vector<T> full(static_cast<size_t>(B * n * 2)), back(static_cast<size_t>(B * n * 2));
    for (int64_t b = 0; b < B; ++b) {
      const T* h = src + b * bins * 2;
      T* z = full.data() + b * n * 2;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t at = k < bins ? k : n - k;
        const bool real_only = at == 0 || (n % 2 == 0 && at == bins - 1);
        z[2 * k] = h[2 * at];
        z[2 * k + 1] = real_only ? T(0) : (k < bins ? h[2 * at + 1] : -h[2 * at + 1]);
      }
    }
    c2c_any<T>(fft::C2cParams{true, false, 1.0 / double(n)}, full.data(), back.data(), B, n, n, 1);
    for (int64_t i = 0; i < B * n; ++i) dst[i] = back[2 * i];
    return;
  }
  const auto plan = plan_for<T>(n);
  parallel_for((B + L - 1) / L, L * n, [&](int64_t c0, int64_t c1) { irfft_chunks<T>(*plan, src, dst, B, c0, c1); });
}

// One thread's chunks [c0, c1) of L signals of irfft_kernel's lanes.
// The inverse runs forward on conjugated input: ifft(Z) = conj(fft(conj(Z))) / m.
// Bins are gathered into lanes in blocks of 16 that stay in L1 (as rfft's
// emit), the split step is one plain loop over lanes, and the samples go
// back in blocks of rows the same way.
template <class T>
TESSEL_CLONES_WIDE void irfft_chunks(const Plan<T>& plan, const T* src, T* dst, int64_t B, int64_t c0, int64_t c1) {
  constexpr int L = kLanes<T>;
  const int64_t n = plan.n, m = plan.m, bins = n / 2 + 1;
  const int64_t len = std::max(m + 1, plan.rows) * L;
  const WorkArrays<T> w(4, len);
  T *re = w[0], *im = w[1], *tr = w[2], *ti = w[3];
  for (int64_t ch = c0; ch < c1; ++ch) {
    const int64_t b0 = ch * L, nb = std::min<int64_t>(L, B - b0);
    T *xr = tr, *xi = ti;  // the bins, [bins][L]; free again before the transform
    const T* from[L];
    for (int64_t l = 0; l < L; ++l)
      from[l] = src + (b0 + std::min(l, nb - 1)) * bins * 2;  // missing lanes repeat the last
    fft_lanes::gather<T, L>(from, 0, bins, T(1), xr, xi);
    // numpy.fft.irfft ignores the imaginary parts of the DC and (even n) Nyquist bins.
    std::fill(xi, xi + L, T(0));
    if (n % 2 == 0) std::fill(xi + m * L, xi + (m + 1) * L, T(0));
    if (n % 2 == 0) {
      for (int64_t k = 0; k < m; ++k) {  // Z_k = E_k + i O_k, E/O the even/odd halves of X
        const T *ar = xr + k * L, *ai = xi + k * L, *br = xr + (m - k) * L, *bi = xi + (m - k) * L;
        const T wr = plan.split[k].real(), wi = plan.split[k].imag();
        T *zr = re + k * L, *zi = im + k * L;
        TS_FOR_LANES(l) {
          unsplit_bin(ar[l], ai[l], br[l], bi[l], wr, wi, zr[l], zi[l]);
          zi[l] = -zi[l];  // conjugated: the inverse runs forward
        }
      }
    } else {
      for (int64_t k = 0; k < n; ++k) {  // the full Hermitian spectrum, conjugated
        const bool mirror = k >= bins;
        const T *ar = xr + (mirror ? n - k : k) * L, *ai = xi + (mirror ? n - k : k) * L;
        const T sgn = mirror ? T(1) : T(-1);
        T *zr = re + k * L, *zi = im + k * L;
        TS_FOR_LANES(l) {
          zr[l] = ar[l];
          zi[l] = sgn * ai[l];
        }
      }
    }
    const bool sw = complex_fft<T, L>(plan, re, im, tr, ti);
    const T* zr = sw ? tr : re;
    const T* zi = sw ? ti : im;
    const T scale = T(1) / T(m);  // even n: the split step's halves make 1/m the whole 1/n
    if (n % 2 == 0) {             // samples 2j, 2j + 1 = Re, -Im of z_j: the complex scatter
      T* to[L];
      for (int64_t l = 0; l < nb; ++l) to[l] = dst + (b0 + l) * n;
      fft_lanes::scatter<T, L>(zr, zi, 0, m, nb, scale, -scale, to);
    } else {
      for (int64_t j0 = 0; j0 < m; j0 += 16) {
        const int64_t j1 = std::min<int64_t>(m, j0 + 16);
        for (int64_t l = 0; l < nb; ++l)
          for (int64_t j = j0; j < j1; ++j) dst[(b0 + l) * n + j] = zr[j * L + l] * scale;
      }
    }
  }
}

// Complex transforms (op "fft_c2c", contract in tessel/fft.h): signal (o, i)
// of the [outer, n_in, inner] layout goes to a lane; lanes read and write
// with stride `inner`, so a transform along any dim needs no transpose. The
// inverse runs forward on conjugates: ifft(x) = conj(fft(conj(x))).
template <class T, int L>
TESSEL_CLONES_WIDE void c2c_chunks(const Plan<T>& plan, const fft::C2cParams& p, const T* src, T* dst, int64_t n_in,
                              int64_t inner, int64_t first, int64_t count, int64_t c0, int64_t c1) {
  const int64_t n = plan.m, len = plan.rows * L;
  const int64_t copy = std::min(n, n_in);
  const int64_t cin = p.real_input ? 1 : 2, in_step = inner * cin, out_step = inner * 2;
  const T sign = p.inverse ? T(-1) : T(1), scale = static_cast<T>(p.scale);
  const WorkArrays<T> w(4, len);
  T *re = w[0], *im = w[1], *tr = w[2], *ti = w[3];
  for (int64_t ch = c0; ch < c1; ++ch) {
    const int64_t q0 = first + ch * L, nq = std::min<int64_t>(L, first + count - q0);
    const T* from[L];
    T* to[L];
    for (int l = 0; l < L; ++l) {  // missing lanes repeat the last signal and are not written back
      const int64_t q = q0 + std::min<int64_t>(l, nq - 1), o = q / inner, i = q % inner;
      from[l] = src + (o * n_in * inner + i) * cin;
      to[l] = dst + (o * n * inner + i) * 2;
    }
    // Strided signals whose L lanes are L neighbouring columns of one slab (a
    // transform along a leading dim) read and write each row as one run.
    const bool run = inner > 1 && nq == L && q0 / inner == (q0 + L - 1) / inner;
    if (inner == 1 && !p.real_input) {  // interleaved rows: register transposes
      fft_lanes::gather<T, L>(from, 0, copy, sign, re, im);
    } else if (inner == 1) {
      // Real rows are read lane by lane in blocks of rows: reading across lanes
      // would touch L lines n samples apart, which share one cache set when n
      // is a multiple of 1 KiB.
      for (int64_t j0 = 0; j0 < copy; j0 += 64) {
        const int64_t j1 = std::min<int64_t>(copy, j0 + 64);
        for (int l = 0; l < L; ++l)
          for (int64_t j = j0; j < j1; ++j) re[j * L + l] = from[l][j], im[j * L + l] = T(0);
      }
    } else {
      for (int64_t j = 0; j < copy; ++j) {
        T *a = re + j * L, *b = im + j * L;
        const int64_t at = j * in_step;
        if (run) {  // the lanes are neighbouring columns: one contiguous run per row
          const T* f = from[0] + at;
          if (p.real_input) {
            TS_FOR_LANES(l) a[l] = f[l], b[l] = T(0);
          } else if constexpr (L % fft_lanes::Vec<T>::W == 0) {
            fft_lanes::split_run<T, L>(f, sign, a, b);
          } else {
            TS_FOR_LANES(l) a[l] = f[2 * l], b[l] = sign * f[2 * l + 1];
          }
        } else if (p.real_input) {
          for (int l = 0; l < L; ++l) a[l] = from[l][at], b[l] = T(0);
        } else {
          for (int l = 0; l < L; ++l) a[l] = from[l][at], b[l] = sign * from[l][at + 1];
        }
      }
    }
    std::fill(re + copy * L, re + n * L, T(0));  // zero-padded to n
    std::fill(im + copy * L, im + n * L, T(0));
    const bool sw = complex_fft<T, L>(plan, re, im, tr, ti);
    const T* zr = sw ? tr : re;
    const T* zi = sw ? ti : im;
    const T iscale = sign * scale;
    if (inner == 1) {
      fft_lanes::scatter<T, L>(zr, zi, 0, n, nq, scale, iscale, to);
    } else {
      for (int64_t k = 0; k < n; ++k) {
        const T *a = zr + k * L, *b = zi + k * L;
        const int64_t at = k * out_step;
        if (run) {
          T* o = to[0] + at;
          if constexpr (L % fft_lanes::Vec<T>::W == 0)
            fft_lanes::join_run<T, L>(a, b, scale, iscale, o);
          else
            TS_FOR_LANES(l) o[2 * l] = a[l] * scale, o[2 * l + 1] = b[l] * iscale;
        } else {
          for (int64_t l = 0; l < nq; ++l) to[l][at] = a[l] * scale, to[l][at + 1] = b[l] * iscale;
        }
      }
    }
  }
}

// Signals first .. first + count - 1, L at a time, on threads when the work pays.
template <class T, int L>
void c2c_lanes(const Plan<T>& plan, const fft::C2cParams& p, const T* src, T* dst, int64_t n_in, int64_t inner,
               int64_t first, int64_t count) {
  parallel_for((count + L - 1) / L, L * plan.m,
               [&](int64_t c0, int64_t c1) { c2c_chunks<T, L>(plan, p, src, dst, n_in, inner, first, count, c0, c1); });
}

// fft_avx512::c2c_rows's twiddles w_n^{e k_v} for n = 16 R: cos [R][16], then -sin [R][16], cached per n.
std::shared_ptr<const std::vector<float>> rows_twiddles(int64_t n) {
  static std::mutex mu;
  static std::map<int64_t, std::shared_ptr<const std::vector<float>>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& t = cache[n];
  if (!t) {
    auto w = std::make_shared<std::vector<float>>(static_cast<size_t>(2 * n));
    for (int64_t kv = 0; kv < n / 16; ++kv)
      for (int64_t e = 0; e < 16; ++e) {
        const double a = 2 * std::numbers::pi * double(e * kv) / double(n);
        (*w)[16 * kv + e] = float(std::cos(a)), (*w)[n + 16 * kv + e] = float(-std::sin(a));
      }
    t = std::move(w);
  }
  return t;
}

// w_n^{k1 j2} for the four-step split n = n1 * n2, [k1][j2], cached per n.
template <class T>
std::shared_ptr<const std::vector<std::complex<T>>> four_step_twiddles(int64_t n, int64_t n1) {
  static std::mutex mu;
  static std::map<int64_t, std::shared_ptr<const std::vector<std::complex<T>>>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& t = cache[n];
  if (!t) {
    const int64_t n2 = n / n1;
    auto w = std::make_shared<std::vector<std::complex<T>>>(static_cast<size_t>(n));
    for (int64_t k1 = 0; k1 < n1; ++k1)
      for (int64_t j2 = 0; j2 < n2; ++j2)
        (*w)[k1 * n2 + j2] = std::complex<T>(std::polar(1.0, -2 * std::numbers::pi * double((k1 * j2) % n) / double(n)));
    t = std::move(w);
  }
  return t;
}

// One long signal would run in a single lane, without SIMD. Split n = n1 n2
// instead (the "four-step" FFT): n2 transforms of length n1 along the first
// dim of x as [n1, n2] (lanes over j2), twiddles w_n^{k1 j2}, n1 transforms
// of length n2 (lanes over k1), then X[k1 + n1 k2] = B[k1][k2].
template <class T>
bool four_step(const fft::C2cParams& p, const T* src, T* dst, int64_t n_in, int64_t n) {
  if (n < 4096) return false;
  int64_t n1 = 0;
  for (auto d = static_cast<int64_t>(std::sqrt(double(n))); d >= 16; --d)
    if (n % d == 0) {
      n1 = d;
      break;
    }
  if (n1 == 0 || n / n1 < 16) return false;  // prime or nearly: the plain path (Bluestein)
  const int64_t n2 = n / n1, cin = p.real_input ? 1 : 2;
  std::vector<T> padded;
  if (n_in != n) {  // cut or zero-pad first
    padded.assign(static_cast<size_t>(n * cin), T(0));
    std::copy(src, src + std::min(n, n_in) * cin, padded.data());
    src = padded.data();
  }
  std::vector<T> a(static_cast<size_t>(2 * n)), b(static_cast<size_t>(2 * n));
  c2c_any<T>(fft::C2cParams{p.inverse, p.real_input, 1.0}, src, a.data(), 1, n1, n1, n2);
  const auto w = four_step_twiddles<T>(n, n1);
  const T sign = p.inverse ? T(-1) : T(1);  // the inverse's roots are the conjugates
  for (int64_t i = 0; i < n; ++i) {
    const T xr = a[2 * i], xi = a[2 * i + 1], wr = (*w)[i].real(), wi = sign * (*w)[i].imag();
    a[2 * i] = xr * wr - xi * wi;
    a[2 * i + 1] = xr * wi + xi * wr;
  }
  c2c_any<T>(fft::C2cParams{p.inverse, false, p.scale}, a.data(), b.data(), n1, n2, n2, 1);
  constexpr int64_t tile = 32;  // transposed in tiles that stay in L1
  for (int64_t t1 = 0; t1 < n1; t1 += tile)
    for (int64_t t2 = 0; t2 < n2; t2 += tile)
      for (int64_t k2 = t2; k2 < std::min(n2, t2 + tile); ++k2)
        for (int64_t k1 = t1; k1 < std::min(n1, t1 + tile); ++k1) {
          dst[2 * (k1 + n1 * k2)] = b[2 * (k1 * n2 + k2)];
          dst[2 * (k1 + n1 * k2) + 1] = b[2 * (k1 * n2 + k2) + 1];
        }
  return true;
}

template <class T>
void c2c_any(const fft::C2cParams& p, const T* src, T* dst, int64_t outer, int64_t n_in, int64_t n, int64_t inner) {
  if (outer * inner == 1 && four_step<T>(p, src, dst, n_in, n)) return;
  const auto plan = plan_for<T>(n, true);
  // Few signals get few lanes: lanes that hold no signal would cost as much as
  // full ones. So does the last part of many ([390, 256]: 12 full chunks and 6 signals).
  const int64_t count = outer * inner, full = count / kLanes<T> * kLanes<T>;
  if (full > 0) c2c_lanes<T, kLanes<T>>(*plan, p, src, dst, n_in, inner, 0, full);
  const int64_t rest = count - full;
  if (rest > 4)
    c2c_lanes<T, 8>(*plan, p, src, dst, n_in, inner, full, rest);
  else if (rest > 1)
    c2c_lanes<T, 4>(*plan, p, src, dst, n_in, inner, full, rest);
  else if (rest == 1)
    c2c_lanes<T, 1>(*plan, p, src, dst, n_in, inner, full, rest);
}

// The bins past n/2 of a real signal's n-point DFT row (interleaved pairs): X_{n-k} = conj(X_k).
template <class T>
void mirror_bins(T* row, int64_t n) {
  for (int64_t k = n / 2 + 1; k < n; ++k) row[2 * k] = row[2 * (n - k)], row[2 * k + 1] = -row[2 * (n - k) + 1];
}

// The complex transform of many real rows along their contiguous dim (fft of a
// real tensor): rfft's lanes (half the work of a complex transform) write the
// bins into each output row, and the bins past n/2 are their mirrored conjugates
// (X_{n-k} = conj(X_k) for a real signal; the inverse is the conjugate, scaled).
// fft of a real [390, 256] float32, 1 thread: 315 -> 144 us (PyTorch 101-105);
// [4882, 2048]: 46 -> 19.5 ms (PyTorch 55).
template <class T>
void real_rows_c2c(const fft::C2cParams& p, const T* src, T* dst, int64_t B, int64_t n) {
  constexpr int L = kLanes<T>;
  const int64_t bins = n / 2 + 1;
  const T sr = T(p.scale), si = p.inverse ? -T(p.scale) : T(p.scale);
  if (real_rows_avx512<T>(src, B, n, dst, n * 2, sr, si)) {
    parallel_for(B, n, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) mirror_bins(dst + b * n * 2, n);
    });
    return;
  }
  forward_driver<T>(
      *plan_for<T>(n), B, B * n, [&](int64_t q, T* frame) { std::copy(src + q * n, src + (q + 1) * n, frame); },
      [&](int64_t q0, int64_t nq, T* xr, const T* xi) {
        T* to[L];
        for (int64_t l = 0; l < nq; ++l) to[l] = dst + (q0 + l) * n * 2;
        fft_lanes::scatter<T, L>(xr, xi, 0, bins, nq, sr, si, to);
        for (int64_t l = 0; l < nq; ++l) mirror_bins(to[l], n);
      },
      src);
}

template <class T>
void c2c_kernel(const KernelCall& c) {
  const Tensor &x = c.in[0], &out = c.out[0];
  const auto& p = *static_cast<const fft::C2cParams*>(c.params);
  const int64_t B = out.shape()[0], n = out.shape()[1];
  if constexpr (std::is_same_v<T, float>) {  // complex rows of 256 k points on AVX-512: fft_avx512.h
    if (n % 256 == 0 && n <= 4096 && !p.real_input && out.shape()[2] == 1 && x.shape()[1] == n && has_avx512()) {
      const float sign = p.inverse ? -1.0f : 1.0f, scale = static_cast<float>(p.scale);
      const float* src = x.data<float>();
      float* dst = out.data<float>();
      if (n == 256) {  // all in registers: [390, 256] 1 thread 68-76 us, 87-110 the general way
        const auto tw = rows_twiddles(256);
        parallel_for(B, 4 * n, [&](int64_t b0, int64_t b1) {
          fft_avx512::c2c256_rows(src + b0 * 2 * n, b1 - b0, dst + b0 * 2 * n, sign, scale, tw->data());
        });
        return;
      }
      complex_rows(n, B, [&](int64_t r, float*, auto& rows) { rows(src + r * 2 * n, dst + r * 2 * n, sign, scale); });
      return;
    }
  }
  if (p.real_input && out.shape()[2] == 1 && x.shape()[1] == n && !few_signals<T>(B))
    return real_rows_c2c<T>(p, x.data<T>(), out.data<T>(), B, n);
  c2c_any<T>(*static_cast<const fft::C2cParams*>(c.params), x.data<T>(), out.data<T>(), out.shape()[0], x.shape()[1],
             out.shape()[1], out.shape()[2]);
}

const bool registered = [] {
  auto& reg = Registry::get();
  const OpId rfft = reg.op_id("rfft_real"), irfft = reg.op_id("irfft_real");
  reg.add(rfft, DeviceType::CPU, DType::Float32, &rfft_kernel<float>);
  reg.add(rfft, DeviceType::CPU, DType::Float64, &rfft_kernel<double>);
  reg.add(irfft, DeviceType::CPU, DType::Float32, &irfft_kernel<float>);
  reg.add(irfft, DeviceType::CPU, DType::Float64, &irfft_kernel<double>);
  const OpId power = reg.op_id("stft_power");
  reg.add(power, DeviceType::CPU, DType::Float32, &stft_power_kernel<float>);
  reg.add(power, DeviceType::CPU, DType::Float64, &stft_power_kernel<double>);
  const OpId c2c = reg.op_id("fft_c2c");
  reg.add(c2c, DeviceType::CPU, DType::Float32, &c2c_kernel<float>);
  reg.add(c2c, DeviceType::CPU, DType::Float64, &c2c_kernel<double>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
