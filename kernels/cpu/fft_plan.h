#pragma once
// The complex FFT engine behind kernels/cpu/fft.cpp (its only includer): plans
// (mixed-radix Stockham, Bluestein past radix 64) cached per length, and the
// transform of L signals at once, stored split (re and im arrays, [row][L],
// lane index innermost), so every butterfly is a plain loop over lanes that
// the compiler vectorizes.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <type_traits>
#include <vector>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/fft_avx512.h"  // stage16: radix-16 stages on AVX-512

namespace tessel::cpu::fft_engine {

// Lane loops: the buffers never overlap, which the compiler cannot prove.
#define TS_FOR_LANES(l) _Pragma("GCC ivdep") for (int l = 0; l < L; ++l)

// One 64-byte row a lane set: a 256-point chunk's four work arrays fit L1, and
// AVX-512's register stages (fft_avx512.h's stage16) read a row as one register.
template <class T>
constexpr int kLanes = 64 / sizeof(T);

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
    while (rest % 16 == 0) radix.push_back(16), rest /= 16;
    if (rest % 8 == 0) radix.push_back(8), rest /= 8;
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

// A thread's work arrays: `count` arrays of `len` values, kept from call to
// call. A fresh vector per call cost page faults and a memset, and where it
// began (hence which L1 sets the arrays shared) varied from run to run: fft
// of a complex [390, 256] took 181 or 306 us by the luck of malloc. Each array
// starts a cache line past a multiple of 4 KiB from the last, so same-index
// rows of different arrays, which one butterfly touches together, do not all
// fall into one set. A second user on the same thread while the first holds
// them (a transform inside a transform) gets arrays of its own.
template <class T>
class WorkArrays {
 public:
  WorkArrays(int count, int64_t len) : stride_(len + kLine) {
    const auto need = static_cast<size_t>(count * stride_ + kLine);
    Kept& k = kept();
    std::vector<T>* v = &own_;
    if (!k.busy && need * sizeof(T) <= kKeepBytes) {
      k.busy = held_ = true;
      v = &k.v;
    }
    if (v->size() < need) v->resize(need);
    const auto at = reinterpret_cast<std::uintptr_t>(v->data());
    base_ = v->data() + (kLine - at / sizeof(T) % kLine) % kLine;  // 64-byte aligned
  }
  ~WorkArrays() {
    if (held_) kept().busy = false;
  }
  WorkArrays(const WorkArrays&) = delete;
  WorkArrays& operator=(const WorkArrays&) = delete;
  T* operator[](int i) const { return base_ + i * stride_; }

 private:
  static constexpr int64_t kLine = 64 / sizeof(T);
  static constexpr size_t kKeepBytes = size_t(8) << 20;  // larger needs are not kept
  struct Kept {
    std::vector<T> v;
    bool busy = false;
  };
  static Kept& kept() {
    static thread_local Kept k;
    return k;
  }
  int64_t stride_;
  std::vector<T> own_;
  T* base_ = nullptr;
  bool held_ = false;
};

// (cr + i ci) w into (yr, yi).
template <class T>
[[gnu::always_inline]] inline void cmul(T cr, T ci, std::complex<T> w, T& yr, T& yi) {
  yr = cr * w.real() - ci * w.imag();
  yi = cr * w.imag() + ci * w.real();
}

// The butterflies over L lanes; no twiddles for j = 0, whose are all 1 (the
// whole last stage, where len = 1).
template <bool Tw, class T, int L>
[[gnu::always_inline]] inline void radix2(const T* ar, const T* ai, const T* br, const T* bi, T* y0r, T* y0i, T* y1r,
                                          T* y1i, std::complex<T> w) {
  TS_FOR_LANES(l) {
    const T dr = ar[l] - br[l], di = ai[l] - bi[l];
    y0r[l] = ar[l] + br[l];
    y0i[l] = ai[l] + bi[l];
    if constexpr (Tw) {
      cmul(dr, di, w, y1r[l], y1i[l]);
    } else {
      y1r[l] = dr;
      y1i[l] = di;
    }
  }
}
// x, y: re and im of inputs 0..3 and outputs 0..3. Output k is then times
// w[k * ws]: Tw = 0 none, 1 outputs 1..3 (w[0] = 1), 2 all four.
template <int Tw, class T, int L>
[[gnu::always_inline]] inline void radix4(const T* const* x, T* const* y, const std::complex<T>* w, int ws = 1) {
  const T *a0r = x[0], *a0i = x[1], *a1r = x[2], *a1i = x[3], *a2r = x[4], *a2i = x[5], *a3r = x[6], *a3i = x[7];
  T *y0r = y[0], *y0i = y[1], *y1r = y[2], *y1i = y[3], *y2r = y[4], *y2i = y[5], *y3r = y[6], *y3i = y[7];
  std::complex<T> w0 = 1, w1 = 1, w2 = 1, w3 = 1;
  if constexpr (Tw > 0) w0 = w[0], w1 = w[ws], w2 = w[2 * ws], w3 = w[3 * ws];
  TS_FOR_LANES(l) {
    const T b0r = a0r[l] + a2r[l], b0i = a0i[l] + a2i[l];
    const T b1r = a0r[l] - a2r[l], b1i = a0i[l] - a2i[l];
    const T b2r = a1r[l] + a3r[l], b2i = a1i[l] + a3i[l];
    const T b3r = a1i[l] - a3i[l], b3i = a3r[l] - a1r[l];  // (a1 - a3) * (-i)
    const T c0r = b0r + b2r, c0i = b0i + b2i, c1r = b1r + b3r, c1i = b1i + b3i;
    const T c2r = b0r - b2r, c2i = b0i - b2i, c3r = b1r - b3r, c3i = b1i - b3i;
    if constexpr (Tw == 2) {
      cmul(c0r, c0i, w0, y0r[l], y0i[l]);
    } else {
      y0r[l] = c0r, y0i[l] = c0i;
    }
    if constexpr (Tw > 0) {
      cmul(c1r, c1i, w1, y1r[l], y1i[l]);
      cmul(c2r, c2i, w2, y2r[l], y2i[l]);
      cmul(c3r, c3i, w3, y3r[l], y3i[l]);
    } else {
      y1r[l] = c1r, y1i[l] = c1i, y2r[l] = c2r, y2i[l] = c2i, y3r[l] = c3r, y3i[l] = c3i;
    }
  }
}

// The last layer of radix16 (G = 4) and radix8 (G = 2): 4-point DFTs of the first
// layer's b[G i + k1], i = 0..3 (re and im rows 2 e, 2 e + 1 of b), into outputs k1 + G i,
// each times the stage's twiddle w[k1 + G i] (Tw).
template <bool Tw, int G, class T, int L>
[[gnu::always_inline]] inline void last_layer(const T (*b)[L], T* const* y, const std::complex<T>* w) {
  for (int k1 = 0; k1 < G; ++k1) {
    const T* bs[8];
    T* ys[8];
    for (int i = 0; i < 4; ++i) {
      bs[2 * i] = b[2 * (G * i + k1)], bs[2 * i + 1] = b[2 * (G * i + k1) + 1];
      ys[2 * i] = y[2 * (k1 + G * i)], ys[2 * i + 1] = y[2 * (k1 + G * i) + 1];
    }
    if constexpr (Tw)
      radix4<2, T, L>(bs, ys, w + k1, G);
    else
      radix4<0, T, L>(bs, ys, nullptr);
  }
}

// Radix 16 as 4 x 4 (X_{k1 + 4 k2} = sum_r2 w16^{r2 k1} w4^{r2 k2} sum_r1
// a_{4 r1 + r2} w4^{r1 k1}): two layers of radix-4 butterflies through a 4 KiB
// buffer that stays in L1, so a length-256 transform makes two passes over its
// work arrays (which do not fit in L1) instead of four. x, y: re and im of
// inputs and outputs 0..15; w: the stage's twiddles 0..15 (Tw), w16: the
// stage's roots, w16^{rk} at [16 r + k].
template <bool Tw, class T, int L>
[[gnu::always_inline]] inline void radix16(const T* const* x, T* const* y, const std::complex<T>* w,
                                           const std::complex<T>* w16) {
  alignas(64) T b[32][L];  // re and im of b[4 r2 + k1]
  for (int r2 = 0; r2 < 4; ++r2) {
    const T* xs[8];
    T* bs[8];
    for (int i = 0; i < 4; ++i) {
      xs[2 * i] = x[2 * (4 * i + r2)], xs[2 * i + 1] = x[2 * (4 * i + r2) + 1];
      bs[2 * i] = b[2 * (4 * r2 + i)], bs[2 * i + 1] = b[2 * (4 * r2 + i) + 1];
    }
    if (r2 == 0)
      radix4<0, T, L>(xs, bs, nullptr);
    else
      radix4<1, T, L>(xs, bs, w16 + 16 * r2);
  }
  last_layer<Tw, 4, T, L>(b, y, w);
}

// Radix 8 as 2 x 4 (X_{k1 + 2 k2} = sum_r2 w8^{r2 k1} w4^{r2 k2} sum_r1
// a_{4 r1 + r2} w2^{r1 k1}), as radix16: a power-of-two length whose last
// factor after the 16s is 8 (m = 128: 16 x 8) makes one pass over its work
// arrays for it, not two (4 x 2). w8: the stage's roots, w8^{rk} at [8 r + k].
template <bool Tw, class T, int L>
[[gnu::always_inline]] inline void radix8(const T* const* x, T* const* y, const std::complex<T>* w,
                                          const std::complex<T>* w8) {
  alignas(64) T b[16][L];  // re and im of b[2 r2 + k1]
  for (int r2 = 0; r2 < 4; ++r2) {
    const T *ar = x[2 * r2], *ai = x[2 * r2 + 1], *br = x[2 * (4 + r2)], *bi = x[2 * (4 + r2) + 1];
    T *y0r = b[4 * r2], *y0i = b[4 * r2 + 1], *y1r = b[4 * r2 + 2], *y1i = b[4 * r2 + 3];
    if (r2 == 0)
      radix2<false, T, L>(ar, ai, br, bi, y0r, y0i, y1r, y1i, w8[8]);
    else
      radix2<true, T, L>(ar, ai, br, bi, y0r, y0i, y1r, y1i, w8[8 + r2]);
  }
  last_layer<Tw, 2, T, L>(b, y, w);
}

// One stage: N = p * len points per transform, s = product of earlier radices.
// y[q + s (p j + k)] = w_N^{jk} sum_r x[q + s (j + r len)] w_p^{rk}, for every lane.
template <class T, int L>
TESSEL_CLONES_WIDE void stage(const Plan<T>& plan, size_t st, int64_t N, int64_t s, const T* xr, const T* xi, T* yr,
                              T* yi) {
  const int p = plan.radix[st];
  const int64_t len = N / p;
  const auto& tw = plan.twiddle[st];
  if constexpr (std::is_same_v<T, float> && L == 16) {
    if (p == 16 && has_avx512())
      return fft_avx512::stage16(xr, xi, yr, yi, len, s, reinterpret_cast<const float*>(tw.data()));
  }
  for (int64_t j = 0; j < len; ++j) {
    for (int64_t q = 0; q < s; ++q) {
      auto in = [&](int r) { return (q + s * (j + r * len)) * L; };
      auto out = [&](int k) { return (q + s * (p * j + k)) * L; };
      if (p == 2) {
        const T *x0r = xr + in(0), *x0i = xi + in(0), *x1r = xr + in(1), *x1i = xi + in(1);
        T *y0r = yr + out(0), *y0i = yi + out(0), *y1r = yr + out(1), *y1i = yi + out(1);
        if (j == 0)
          radix2<false, T, L>(x0r, x0i, x1r, x1i, y0r, y0i, y1r, y1i, tw[1]);
        else
          radix2<true, T, L>(x0r, x0i, x1r, x1i, y0r, y0i, y1r, y1i, tw[j * 2 + 1]);
      } else if (p == 4) {
        const T* x[8] = {xr + in(0), xi + in(0), xr + in(1), xi + in(1),
                         xr + in(2), xi + in(2), xr + in(3), xi + in(3)};
        T* y[8] = {yr + out(0), yi + out(0), yr + out(1), yi + out(1),
                   yr + out(2), yi + out(2), yr + out(3), yi + out(3)};
        if (j == 0)
          radix4<0, T, L>(x, y, nullptr);
        else
          radix4<1, T, L>(x, y, tw.data() + j * 4);
      } else if (p == 16 || p == 8) {  // re and im of each input and output, then the two-layer butterfly
        const T* x[32];
        T* y[32];
        for (int r = 0; r < p; ++r) x[2 * r] = xr + in(r), x[2 * r + 1] = xi + in(r);
        for (int k = 0; k < p; ++k) y[2 * k] = yr + out(k), y[2 * k + 1] = yi + out(k);
        const std::complex<T>*w = tw.data() + j * p, *roots = plan.root[st].data();
        if (p == 16)
          j == 0 ? radix16<false, T, L>(x, y, nullptr, roots) : radix16<true, T, L>(x, y, w, roots);
        else
          j == 0 ? radix8<false, T, L>(x, y, nullptr, roots) : radix8<true, T, L>(x, y, w, roots);
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
          cmul(c1r, c1i, w1, y1r[l], y1i[l]);
          cmul(c2r, c2i, w2, y2r[l], y2i[l]);
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
          cmul(e1r, e1i, w1, y1r[l], y1i[l]);
          cmul(e2r, e2i, w2, y2r[l], y2i[l]);
          cmul(e3r, e3i, w3, y3r[l], y3i[l]);
          cmul(e4r, e4i, w4, y4r[l], y4i[l]);
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
          TS_FOR_LANES(l) { cmul(accr[l], acci[l], w, or_[l], oi[l]); }
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
