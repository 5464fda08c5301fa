#pragma once
// The complex FFT engine behind kernels/cpu/fft.cpp (its only includer): plans
// (mixed-radix Stockham, Bluestein past radix 64) cached per length, and the
// transform of L signals at once, stored split (re and im arrays, [row][L],
// lane index innermost), so every butterfly is a plain loop over lanes that
// the compiler vectorizes.
#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <vector>

#include "kernels/cpu/clones.h"

namespace tessel::cpu::fft_engine {

// Lane loops: the buffers never overlap, which the compiler cannot prove.
#define TS_FOR_LANES(l) _Pragma("GCC ivdep") for (int l = 0; l < L; ++l)

template <class T>
constexpr int kLanes = 128 / sizeof(T);

// Prime factors above this run through Bluestein's algorithm instead of a
// direct p-point DFT (whose cost and root table grow as p^2).
constexpr int kMaxDirectRadix = 64;

// A mixed-radix Stockham plan for complex transforms of length m (autosort:
// no bit reversal; each stage reads one buffer and writes the other). With a
// prime factor > kMaxDirectRadix, the transform is instead a convolution of
// length M (a power of two >= 2m - 1) run by `sub` (Bluestein).
template <class T>
struct Plan {
  int64_t n = 0;  // transform length (of the real signal for the real transforms)
  int64_t m = 0;  // complex length: n / 2 for even real n, else n
  std::vector<int> radix;
  std::vector<std::vector<std::complex<T>>> twiddle;  // per stage: [j * p + k] = w_N^{jk}
  std::vector<std::vector<std::complex<T>>> root;     // per stage: [r * p + k] = w_p^{rk}
  std::vector<std::complex<T>> split;                 // e^{-2 pi i k / n}, k = 0..m (even real n)
  // Bluestein: X_k = c_k sum_j (x_j c_j) conj(c_{k-j}), c_j = e^{-i pi j^2 / m}.
  int64_t M = 0;
  std::unique_ptr<const Plan> sub;
  std::vector<std::complex<T>> chirp;  // c_j, j < m
  std::vector<T> filt_r, filt_i;       // FFT_M of conj(c) laid out circularly, times 1/M
  int64_t rows = 0;                    // rows (of L lanes) each work buffer needs

  Plan(int64_t n_, bool complex_input) : n(n_), m(complex_input || n_ % 2 != 0 ? n_ : n_ / 2) {
    int64_t rest = m;
    while (rest % 4 == 0) radix.push_back(4), rest /= 4;
    for (int p : {2, 3, 5})
      while (rest % p == 0) radix.push_back(p), rest /= p;
    for (int64_t p = 7; rest > 1; p += 2) {
      if (p * p > rest) p = rest;  // what is left is prime
      while (rest % p == 0) radix.push_back(static_cast<int>(std::min<int64_t>(p, INT32_MAX))), rest /= p;
    }
    const double two_pi = 2 * std::numbers::pi;
    rows = m;
    if (!radix.empty() && *std::max_element(radix.begin(), radix.end()) > kMaxDirectRadix) {
      radix.clear();
      init_bluestein();
    } else {
      int64_t N = m;
      for (int p : radix) {
        const int64_t len = N / p;
        std::vector<std::complex<T>> tw(static_cast<size_t>(len * p)), rt(static_cast<size_t>(p * p));
        for (int64_t j = 0; j < len; ++j)
          for (int k = 0; k < p; ++k)
            tw[j * p + k] = std::complex<T>(std::polar(1.0, -two_pi * double(j * k) / double(N)));
        for (int r = 0; r < p; ++r)
          for (int k = 0; k < p; ++k)
            rt[r * p + k] = std::complex<T>(std::polar(1.0, -two_pi * double((r * k) % p) / p));
        twiddle.push_back(std::move(tw));
        root.push_back(std::move(rt));
        N = len;
      }
    }
    if (!complex_input && n % 2 == 0)
      for (int64_t k = 0; k <= m; ++k)
        split.push_back(std::complex<T>(std::polar(1.0, -two_pi * double(k) / double(n))));
  }

 private:
  void init_bluestein();
};

template <class T, int L>
bool complex_fft(const Plan<T>& plan, T* re, T* im, T* tr, T* ti);

template <class T>
void Plan<T>::init_bluestein() {
  M = 1;
  while (M < 2 * m - 1) M *= 2;
  rows = M;
  sub = std::make_unique<const Plan<T>>(M, true);
  // c_j from j^2 mod 2m, exact in integers, so large j lose no phase accuracy.
  std::vector<std::complex<double>> c(static_cast<size_t>(m));
  for (int64_t j = 0; j < m; ++j) {
    const auto j2 = static_cast<int64_t>((static_cast<unsigned __int128>(j) * j) % static_cast<unsigned>(2 * m));
    c[j] = std::polar(1.0, -std::numbers::pi * double(j2) / double(m));
    chirp.push_back(std::complex<T>(c[j]));
  }
  // The filter's spectrum in float64 whatever T is (one transform per plan).
  const Plan<double> dsub(M, true);
  std::vector<double> hr(static_cast<size_t>(2 * M), 0.0), hi(static_cast<size_t>(2 * M), 0.0);
  for (int64_t d = 0; d < m; ++d) {
    hr[d] = c[d].real(), hi[d] = -c[d].imag();
    if (d > 0) hr[M - d] = c[d].real(), hi[M - d] = -c[d].imag();
  }
  const bool sw = complex_fft<double, 1>(dsub, hr.data(), hi.data(), hr.data() + M, hi.data() + M);
  for (int64_t k = 0; k < M; ++k) {
    filt_r.push_back(static_cast<T>((sw ? hr[M + k] : hr[k]) / double(M)));
    filt_i.push_back(static_cast<T>((sw ? hi[M + k] : hi[k]) / double(M)));
  }
}

template <class T>
std::shared_ptr<const Plan<T>> plan_for(int64_t n, bool complex_input = false) {
  static std::mutex mu;
  static std::map<std::pair<int64_t, bool>, std::shared_ptr<const Plan<T>>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& p = cache[{n, complex_input}];
  if (!p) p = std::make_shared<const Plan<T>>(n, complex_input);
  return p;
}

// One stage: N = p * len points per transform, s = product of earlier radices.
// y[q + s (p j + k)] = w_N^{jk} sum_r x[q + s (j + r len)] w_p^{rk}, for every lane.
template <class T, int L>
TESSEL_CLONES void stage(const Plan<T>& plan, size_t st, int64_t N, int64_t s, const T* xr, const T* xi, T* yr, T* yi) {
  const int p = plan.radix[st];
  const int64_t len = N / p;
  const auto& tw = plan.twiddle[st];
  for (int64_t j = 0; j < len; ++j) {
    for (int64_t q = 0; q < s; ++q) {
      auto in = [&](int r) { return (q + s * (j + r * len)) * L; };
      auto out = [&](int k) { return (q + s * (p * j + k)) * L; };
      if (p == 2) {
        const std::complex<T> w = tw[j * 2 + 1];
        const T *ar = xr + in(0), *ai = xi + in(0), *br = xr + in(1), *bi = xi + in(1);
        T *y0r = yr + out(0), *y0i = yi + out(0), *y1r = yr + out(1), *y1i = yi + out(1);
        TS_FOR_LANES(l) {
          const T dr = ar[l] - br[l], di = ai[l] - bi[l];
          y0r[l] = ar[l] + br[l];
          y0i[l] = ai[l] + bi[l];
          y1r[l] = dr * w.real() - di * w.imag();
          y1i[l] = dr * w.imag() + di * w.real();
        }
      } else if (p == 4) {
        const std::complex<T> w1 = tw[j * 4 + 1], w2 = tw[j * 4 + 2], w3 = tw[j * 4 + 3];
        const T *a0r = xr + in(0), *a0i = xi + in(0), *a1r = xr + in(1), *a1i = xi + in(1);
        const T *a2r = xr + in(2), *a2i = xi + in(2), *a3r = xr + in(3), *a3i = xi + in(3);
        T *y0r = yr + out(0), *y0i = yi + out(0), *y1r = yr + out(1), *y1i = yi + out(1);
        T *y2r = yr + out(2), *y2i = yi + out(2), *y3r = yr + out(3), *y3i = yi + out(3);
        TS_FOR_LANES(l) {
          const T b0r = a0r[l] + a2r[l], b0i = a0i[l] + a2i[l];
          const T b1r = a0r[l] - a2r[l], b1i = a0i[l] - a2i[l];
          const T b2r = a1r[l] + a3r[l], b2i = a1i[l] + a3i[l];
          const T b3r = a1i[l] - a3i[l], b3i = a3r[l] - a1r[l];  // (a1 - a3) * (-i)
          const T c1r = b1r + b3r, c1i = b1i + b3i, c2r = b0r - b2r, c2i = b0i - b2i;
          const T c3r = b1r - b3r, c3i = b1i - b3i;
          y0r[l] = b0r + b2r;
          y0i[l] = b0i + b2i;
          y1r[l] = c1r * w1.real() - c1i * w1.imag();
          y1i[l] = c1r * w1.imag() + c1i * w1.real();
          y2r[l] = c2r * w2.real() - c2i * w2.imag();
          y2i[l] = c2r * w2.imag() + c2i * w2.real();
          y3r[l] = c3r * w3.real() - c3i * w3.imag();
          y3i[l] = c3r * w3.imag() + c3i * w3.real();
        }
      } else if (p == 3) {
        constexpr T sn = T(0.86602540378443864676);  // sin(2 pi / 3)
        const std::complex<T> w1 = tw[j * 3 + 1], w2 = tw[j * 3 + 2];
        const T *a0r = xr + in(0), *a0i = xi + in(0), *a1r = xr + in(1), *a1i = xi + in(1);
        const T *a2r = xr + in(2), *a2i = xi + in(2);
        T *y0r = yr + out(0), *y0i = yi + out(0), *y1r = yr + out(1), *y1i = yi + out(1);
        T *y2r = yr + out(2), *y2i = yi + out(2);
        TS_FOR_LANES(l) {
          const T tr = a1r[l] + a2r[l], ti = a1i[l] + a2i[l];
          const T dr = (a1r[l] - a2r[l]) * sn, di = (a1i[l] - a2i[l]) * sn;
          const T br = a0r[l] - tr / 2, bi = a0i[l] - ti / 2;
          const T c1r = br + di, c1i = bi - dr, c2r = br - di, c2i = bi + dr;  // b -+ i d
          y0r[l] = a0r[l] + tr;
          y0i[l] = a0i[l] + ti;
          y1r[l] = c1r * w1.real() - c1i * w1.imag();
          y1i[l] = c1r * w1.imag() + c1i * w1.real();
          y2r[l] = c2r * w2.real() - c2i * w2.imag();
          y2i[l] = c2r * w2.imag() + c2i * w2.real();
        }
      } else if (p == 5) {
        constexpr T c1 = T(0.30901699437494742410), c2 = T(-0.80901699437494742410);  // cos(2 pi k / 5)
        constexpr T s1 = T(0.95105651629515357212), s2 = T(0.58778525229247312917);   // sin(2 pi k / 5)
        const std::complex<T> w1 = tw[j * 5 + 1], w2 = tw[j * 5 + 2], w3 = tw[j * 5 + 3], w4 = tw[j * 5 + 4];
        const T *a0r = xr + in(0), *a0i = xi + in(0), *a1r = xr + in(1), *a1i = xi + in(1);
        const T *a2r = xr + in(2), *a2i = xi + in(2), *a3r = xr + in(3), *a3i = xi + in(3);
        const T *a4r = xr + in(4), *a4i = xi + in(4);
        T *y0r = yr + out(0), *y0i = yi + out(0), *y1r = yr + out(1), *y1i = yi + out(1);
        T *y2r = yr + out(2), *y2i = yi + out(2), *y3r = yr + out(3), *y3i = yi + out(3);
        T *y4r = yr + out(4), *y4i = yi + out(4);
        TS_FOR_LANES(l) {
          const T t1r = a1r[l] + a4r[l], t1i = a1i[l] + a4i[l], t2r = a2r[l] + a3r[l], t2i = a2i[l] + a3i[l];
          const T t3r = a1r[l] - a4r[l], t3i = a1i[l] - a4i[l], t4r = a2r[l] - a3r[l], t4i = a2i[l] - a3i[l];
          const T b1r = a0r[l] + c1 * t1r + c2 * t2r, b1i = a0i[l] + c1 * t1i + c2 * t2i;
          const T b2r = a0r[l] + c2 * t1r + c1 * t2r, b2i = a0i[l] + c2 * t1i + c1 * t2i;
          const T d1r = s1 * t3r + s2 * t4r, d1i = s1 * t3i + s2 * t4i;
          const T d2r = s2 * t3r - s1 * t4r, d2i = s2 * t3i - s1 * t4i;
          const T e1r = b1r + d1i, e1i = b1i - d1r, e4r = b1r - d1i, e4i = b1i + d1r;  // b1 -+ i d1
          const T e2r = b2r + d2i, e2i = b2i - d2r, e3r = b2r - d2i, e3i = b2i + d2r;  // b2 -+ i d2
          y0r[l] = a0r[l] + t1r + t2r;
          y0i[l] = a0i[l] + t1i + t2i;
          y1r[l] = e1r * w1.real() - e1i * w1.imag();
          y1i[l] = e1r * w1.imag() + e1i * w1.real();
          y2r[l] = e2r * w2.real() - e2i * w2.imag();
          y2i[l] = e2r * w2.imag() + e2i * w2.real();
          y3r[l] = e3r * w3.real() - e3i * w3.imag();
          y3i[l] = e3r * w3.imag() + e3i * w3.real();
          y4r[l] = e4r * w4.real() - e4i * w4.imag();
          y4i[l] = e4r * w4.imag() + e4i * w4.real();
        }
      } else {  // any other radix: a direct p-point DFT per lane block
        const auto& rt = plan.root[st];
        for (int k = 0; k < p; ++k) {
          T accr[L] = {}, acci[L] = {};
          for (int r = 0; r < p; ++r) {
            const std::complex<T> w = rt[r * p + k];
            const T *ar = xr + in(r), *ai = xi + in(r);
            TS_FOR_LANES(l) {
              accr[l] += ar[l] * w.real() - ai[l] * w.imag();
              acci[l] += ar[l] * w.imag() + ai[l] * w.real();
            }
          }
          const std::complex<T> w = tw[j * p + k];
          T *or_ = yr + out(k), *oi = yi + out(k);
          TS_FOR_LANES(l) {
            or_[l] = accr[l] * w.real() - acci[l] * w.imag();
            oi[l] = accr[l] * w.imag() + acci[l] * w.real();
          }
        }
      }
    }
  }
}

// Forward complex FFT of L lanes in (re, im), [rows][L]; (tr, ti) is scratch
// of the same size. Returns whether the result ended in the scratch buffers.
template <class T, int L>
bool stockham(const Plan<T>& plan, T* re, T* im, T* tr, T* ti) {
  int64_t N = plan.m, s = 1;
  bool in_scratch = false;
  for (size_t st = 0; st < plan.radix.size(); ++st) {
    if (in_scratch)
      stage<T, L>(plan, st, N, s, tr, ti, re, im);
    else
      stage<T, L>(plan, st, N, s, re, im, tr, ti);
    in_scratch = !in_scratch;
    N /= plan.radix[st];
    s *= plan.radix[st];
  }
  return in_scratch;
}

// The same through Bluestein when the plan has one (m rows in, plan.rows of room).
template <class T, int L>
bool complex_fft(const Plan<T>& plan, T* re, T* im, T* tr, T* ti) {
  if (!plan.sub) return stockham<T, L>(plan, re, im, tr, ti);
  const int64_t m = plan.m, M = plan.M;
  for (int64_t j = 0; j < m; ++j) {
    const T cr = plan.chirp[j].real(), ci = plan.chirp[j].imag();
    T *a = re + j * L, *b = im + j * L;
    TS_FOR_LANES(l) {
      const T xr = a[l], xi = b[l];
      a[l] = xr * cr - xi * ci;
      b[l] = xr * ci + xi * cr;
    }
  }
  std::fill(re + m * L, re + M * L, T(0));
  std::fill(im + m * L, im + M * L, T(0));
  bool sw = stockham<T, L>(*plan.sub, re, im, tr, ti);
  T *zr = sw ? tr : re, *zi = sw ? ti : im, *wr = sw ? re : tr, *wi = sw ? im : ti;
  // Times the filter, conjugated: the inverse transform runs forward on conj.
  for (int64_t k = 0; k < M; ++k) {
    const T hr = plan.filt_r[k], hi = plan.filt_i[k];
    T *a = zr + k * L, *b = zi + k * L;
    TS_FOR_LANES(l) {
      const T xr = a[l], xi = b[l];
      a[l] = xr * hr - xi * hi;
      b[l] = -(xr * hi + xi * hr);
    }
  }
  sw = stockham<T, L>(*plan.sub, zr, zi, wr, wi);
  const T *yr = sw ? wr : zr, *yi = sw ? wi : zi;
  for (int64_t k = 0; k < m; ++k) {  // X_k = c_k conj(y_k)
    const T cr = plan.chirp[k].real(), ci = plan.chirp[k].imag();
    const T *a = yr + k * L, *b = yi + k * L;
    T *oa = re + k * L, *ob = im + k * L;
    TS_FOR_LANES(l) {
      const T xr = a[l], xi = -b[l];
      oa[l] = xr * cr - xi * ci;
      ob[l] = xr * ci + xi * cr;
    }
  }
  return false;
}

}  // namespace tessel::cpu::fft_engine
