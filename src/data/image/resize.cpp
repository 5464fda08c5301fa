// Resize. Two families (docs/image.md):
// - antialiased (Pillow / torchvision antialias=True): a separable convolution
//   whose filter support is scaled by the downscale factor, weights normalized
//   per output pixel; two passes through a uint8 intermediate in Pillow's
//   order (see v_first), with 22-bit fixed-point weights for uint8 (Pillow's choice:
//   255 * sum|w| * 2^22 stays inside int32).
// - OpenCV-compatible (antialias=false): cv::resize, in resize_cv.cpp.
// Nearest and nearest-exact are index maps and live here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <type_traits>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/clones.h"
#include "src/data/image/image_util.h"

namespace tessel::image {
namespace {

constexpr const char* kOp = "image.resize";
constexpr int kPrecision = 22;

double box_filter(double x) { return x > -0.5 && x <= 0.5 ? 1.0 : 0.0; }
double triangle_filter(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
// Keys cubic with a = -0.5 (Pillow, torchvision antialias).
double cubic_filter(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}
double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= std::numbers::pi;
  return std::sin(x) / x;
}
double lanczos_filter(double x) { return x > -3.0 && x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0; }
double hamming_filter(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x *= std::numbers::pi;
  // Pillow's constants are single precision (0.54f, 0.46f); the last bit shows in uint8 ties.
  return std::sin(x) / x * (static_cast<double>(0.54f) + static_cast<double>(0.46f) * std::cos(x));
}

struct Filter {
  double support;
  double (*fn)(double);
};

Filter filter_of(Interpolation i) {
  switch (i) {
    case Interpolation::Box:
      return {0.5, box_filter};
    case Interpolation::Bilinear:
      return {1.0, triangle_filter};
    case Interpolation::Hamming:
      return {1.0, hamming_filter};
    case Interpolation::Bicubic:
      return {2.0, cubic_filter};
    case Interpolation::Lanczos:
      return {3.0, lanczos_filter};
    default:
      fail<ValueError>(kOp, to_string(i), " is not a convolution filter");
  }
}

// Per output index: the first input index, the tap count, and `taps` weights.
struct Coeffs {
  int64_t taps = 0;
  std::vector<int64_t> start, count;
  std::vector<double> w;       // out x taps, normalized
  std::vector<int32_t> fixed;  // the same in fixed point (uint8 path)
};

Coeffs make_coeffs(int64_t in, int64_t out, const Filter& f) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double fscale = std::max(scale, 1.0);  // widen the filter only when shrinking
  const double support = f.support * fscale;
  Coeffs c;
  c.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.start.resize(out), c.count.resize(out);
  c.w.assign(out * c.taps, 0.0);
  c.fixed.assign(out * c.taps, 0);
  for (int64_t x = 0; x < out; ++x) {
    const double center = (static_cast<double>(x) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in);
    const int64_t n = std::min(hi - lo, c.taps);
    double* w = &c.w[x * c.taps];
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      w[j] = f.fn((static_cast<double>(j + lo) - center + 0.5) / fscale);
      sum += w[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      if (sum != 0.0) w[j] /= sum;
      const double s = w[j] * (1 << kPrecision);
      c.fixed[x * c.taps + j] = static_cast<int32_t>(s < 0 ? std::trunc(s - 0.5) : std::trunc(s + 0.5));
    }
    c.start[x] = lo, c.count[x] = n;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecision;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Horizontal pass over `rows` rows: in is rows x iw x C, out rows x ow x C.
// C is a template constant for the usual 1/3/4 channels (0: runtime nc).
template <int C>
[[gnu::always_inline]] inline void hpass_u8(const uint8_t* in, uint8_t* out, int64_t rows, int64_t iw, int64_t ow,
                                            int64_t nc, const Coeffs& k) {
  const int64_t ch = C ? C : nc;
  for (int64_t y = 0; y < rows; ++y) {
    const uint8_t* row = in + y * iw * ch;
    uint8_t* dst = out + y * ow * ch;
    for (int64_t x = 0; x < ow; ++x) {
      const uint8_t* src = row + k.start[x] * ch;
      const int32_t* w = &k.fixed[x * k.taps];
      const int64_t n = k.count[x];
      if constexpr (C != 0) {
        int32_t acc[C];
        for (int c = 0; c < C; ++c) acc[c] = 1 << (kPrecision - 1);
        for (int64_t j = 0; j < n; ++j)
          for (int c = 0; c < C; ++c) acc[c] += src[j * C + c] * w[j];
        for (int c = 0; c < C; ++c) dst[x * C + c] = clip8(acc[c]);
      } else {
        for (int64_t c = 0; c < ch; ++c) {
          int32_t acc = 1 << (kPrecision - 1);
          for (int64_t j = 0; j < n; ++j) acc += src[j * ch + c] * w[j];
          dst[x * ch + c] = clip8(acc);
        }
      }
    }
  }
}

// Vertical pass: each output row is a weighted sum of whole input rows, so the
// inner loop runs over row_len contiguous samples and vectorizes.
TESSEL_CLONES void vpass_u8(const uint8_t* in, uint8_t* out, int64_t row_len, int64_t oh, int64_t first_row,
                            const Coeffs& k) {
  std::vector<int32_t> acc(row_len);
  for (int64_t y = 0; y < oh; ++y) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecision - 1));
    int32_t* __restrict a = acc.data();
    for (int64_t j = 0; j < k.count[y]; ++j) {
      const uint8_t* __restrict src = in + (k.start[y] + j - first_row) * row_len;
      const int32_t w = k.fixed[y * k.taps + j];
      for (int64_t i = 0; i < row_len; ++i) a[i] += src[i] * w;
    }
    uint8_t* __restrict dst = out + y * row_len;
    for (int64_t i = 0; i < row_len; ++i) dst[i] = clip8(a[i]);
  }
}

TESSEL_CLONES void hpass_f32(const float* in, float* out, int64_t rows, int64_t iw, int64_t ow, int64_t ch,
                             const std::vector<float>& w, const Coeffs& k) {
  for (int64_t y = 0; y < rows; ++y) {
    const float* row = in + y * iw * ch;
    float* dst = out + y * ow * ch;
    for (int64_t x = 0; x < ow; ++x) {
      const float* src = row + k.start[x] * ch;
      const float* wx = &w[x * k.taps];
      for (int64_t c = 0; c < ch; ++c) {
        float acc = 0.0f;
        for (int64_t j = 0; j < k.count[x]; ++j) acc += src[j * ch + c] * wx[j];
        dst[x * ch + c] = acc;
      }
    }
  }
}

TESSEL_CLONES void vpass_f32(const float* in, float* out, int64_t row_len, int64_t oh, int64_t first_row,
                             const std::vector<float>& w, const Coeffs& k) {
  for (int64_t y = 0; y < oh; ++y) {
    float* __restrict dst = out + y * row_len;
    std::fill(dst, dst + row_len, 0.0f);
    for (int64_t j = 0; j < k.count[y]; ++j) {
      const float* __restrict src = in + (k.start[y] + j - first_row) * row_len;
      const float wj = w[y * k.taps + j];
      for (int64_t i = 0; i < row_len; ++i) dst[i] += src[i] * wj;
    }
  }
}

TESSEL_CLONES void hpass_u8_scalar(const uint8_t* in, uint8_t* out, int64_t rows, int64_t iw, int64_t ow, int64_t c,
                                   const Coeffs& k);

#if defined(__x86_64__)
// AVX2 horizontal pass for 3 and 4 channels, in the same 22-bit arithmetic as
// the scalar loop (so the same results): each pixel widens to 4 int32 lanes,
// two pixels per register, four taps per step against weights laid out per lane.
// Taps are padded to a multiple of 4 with zero weights; an output whose padded
// taps would read past the end of its row takes the scalar loop.
template <int C>
__attribute__((target("avx2"))) void hpass_u8_avx2(const uint8_t* in, uint8_t* out, int64_t rows, int64_t iw,
                                                   int64_t ow, const Coeffs& k) {
  static_assert(C == 3 || C == 4);
  const int64_t groups = (k.taps + 3) / 4;
  // weights[x][g]: 16 int32, the weights of taps 4g .. 4g+3, each repeated in 4 lanes.
  std::vector<int32_t> weights(ow * groups * 16);
  std::vector<uint8_t> safe(ow);
  for (int64_t x = 0; x < ow; ++x) {
    for (int64_t g = 0; g < groups; ++g) {
      for (int t = 0; t < 4; ++t) {
        const int64_t j = 4 * g + t;
        const int32_t w = j < k.count[x] ? k.fixed[x * k.taps + j] : 0;
        for (int lane = 0; lane < 4; ++lane) weights[(x * groups + g) * 16 + 4 * t + lane] = w;
      }
    }
    // The last 16-byte load of this output starts at pixel start + 4 (groups - 1).
    safe[x] = (k.start[x] + 4 * (groups - 1)) * C + 16 <= iw * C;
  }
  const __m128i spread = C == 3 ? _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1)
                                : _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m128i half = _mm_set1_epi32(1 << (kPrecision - 1));
  for (int64_t y = 0; y < rows; ++y) {
    const uint8_t* row = in + y * iw * C;
    uint8_t* dst = out + y * ow * C;
    for (int64_t x = 0; x < ow; ++x) {
      const uint8_t* src = row + k.start[x] * C;
      if (!safe[x]) {
        const int32_t* w = &k.fixed[x * k.taps];
        for (int c = 0; c < C; ++c) {
          int32_t acc = 1 << (kPrecision - 1);
          for (int64_t j = 0; j < k.count[x]; ++j) acc += src[j * C + c] * w[j];
          dst[x * C + c] = clip8(acc);
        }
        continue;
      }
      const int32_t* w = &weights[x * groups * 16];
      __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
      for (int64_t g = 0; g < groups; ++g) {
        const __m128i px = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 4 * g * C)), spread);
        const __m256i w01 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16 * g));
        const __m256i w23 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16 * g + 8));
        acc0 = _mm256_add_epi32(acc0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(px), w01));
        acc1 = _mm256_add_epi32(acc1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(px, 8)), w23));
      }
      const __m256i acc = _mm256_add_epi32(acc0, acc1);
      __m128i v = _mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1)), half);
      v = _mm_srai_epi32(v, kPrecision);
      v = _mm_packus_epi16(_mm_packs_epi32(v, v), v);  // clamp to [0, 255] as clip8
      const int32_t packed = _mm_cvtsi128_si32(v);
      std::memcpy(dst + x * C, &packed, C);
    }
  }
}
#endif

void hpass_u8_any(const uint8_t* in, uint8_t* out, int64_t rows, int64_t iw, int64_t ow, int64_t c, const Coeffs& k) {
#if defined(__x86_64__)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && c == 3) return hpass_u8_avx2<3>(in, out, rows, iw, ow, k);
  if (avx2 && c == 4) return hpass_u8_avx2<4>(in, out, rows, iw, ow, k);
#endif
  hpass_u8_scalar(in, out, rows, iw, ow, c, k);
}

TESSEL_CLONES void hpass_u8_scalar(const uint8_t* in, uint8_t* out, int64_t rows, int64_t iw, int64_t ow, int64_t c,
                                   const Coeffs& k) {
  switch (c) {
    case 1:
      return hpass_u8<1>(in, out, rows, iw, ow, c, k);
    case 3:
      return hpass_u8<3>(in, out, rows, iw, ow, c, k);
    case 4:
      return hpass_u8<4>(in, out, rows, iw, ow, c, k);
    default:
      return hpass_u8<0>(in, out, rows, iw, ow, c, k);
  }
}

// One h x w x c image (src, dst contiguous) through the antialiased family.
template <class T>
void resize_conv(const T* src, T* dst, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow, const Filter& f) {
  const bool do_h = ow != w, do_v = oh != h;
  if (!do_h && !do_v) {
    std::memcpy(dst, src, sizeof(T) * h * w * c);
    return;
  }
  Coeffs kx, ky;
  int64_t first = 0, rows = h;
  if (do_v) {
    ky = make_coeffs(h, oh, f);
    first = ky.start[0];
    rows = ky.start[oh - 1] + ky.count[oh - 1] - first;  // only the rows the vertical pass reads
  }
  if (do_h) kx = make_coeffs(w, ow, f);
  // The uint8 rounding depends on the pass order, so take Pillow's: vertical
  // first when it removes more than twice as many rows as the horizontal pass
  // removes columns (measured against Pillow 13; it never runs first when enlarging).
  const bool v_first = do_h && do_v && oh < h && (h - oh) > 2 * (w - ow);
  if constexpr (std::is_same_v<T, uint8_t>) {
    if (!do_v) return hpass_u8_any(src, dst, h, w, ow, c, kx);
    if (!do_h) return vpass_u8(src, dst, w * c, oh, 0, ky);
    if (v_first) {
      std::vector<uint8_t> tmp(oh * w * c);
      vpass_u8(src, tmp.data(), w * c, oh, 0, ky);
      return hpass_u8_any(tmp.data(), dst, oh, w, ow, c, kx);
    }
    std::vector<uint8_t> tmp(rows * ow * c);
    hpass_u8_any(src + first * w * c, tmp.data(), rows, w, ow, c, kx);
    vpass_u8(tmp.data(), dst, ow * c, oh, first, ky);
  } else {
    const std::vector<float> wx(kx.w.begin(), kx.w.end()), wy(ky.w.begin(), ky.w.end());
    if (!do_v) return hpass_f32(src, dst, h, w, ow, c, wx, kx);
    if (!do_h) return vpass_f32(src, dst, w * c, oh, 0, wy, ky);
    if (v_first) {
      std::vector<float> tmp(oh * w * c);
      vpass_f32(src, tmp.data(), w * c, oh, 0, wy, ky);
      return hpass_f32(tmp.data(), dst, oh, w, ow, c, wx, kx);
    }
    std::vector<float> tmp(rows * ow * c);
    hpass_f32(src + first * w * c, tmp.data(), rows, w, ow, c, wx, kx);
    vpass_f32(tmp.data(), dst, ow * c, oh, first, wy, ky);
  }
}

// Nearest: OpenCV's INTER_NEAREST takes floor(x * in / out) (in double, as
// OpenCV does); nearest-exact takes the pixel under the output pixel's center,
// (x + 0.5) * in / out, accumulated in double as Pillow does: that rounding
// decides exact ties, and Pillow and INTER_NEAREST_EXACT agree on it.
std::vector<int64_t> nearest_map(int64_t in, int64_t out, bool exact) {
  std::vector<int64_t> m(out);
  const double inv = 1.0 / (static_cast<double>(out) / static_cast<double>(in));
  const double step = static_cast<double>(in) / static_cast<double>(out);
  double center = step * 0.5;
  for (int64_t x = 0; x < out; ++x, center += step) {
    const auto s = static_cast<int64_t>(exact ? center : std::floor(x * inv));
    m[x] = std::min(s, in - 1);
  }
  return m;
}

template <class T>
void resize_nearest(const T* src, T* dst, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow, bool exact) {
  const auto my = nearest_map(h, oh, exact), mx = nearest_map(w, ow, exact);
  for (int64_t y = 0; y < oh; ++y) {
    const T* row = src + my[y] * w * c;
    T* out = dst + y * ow * c;
    for (int64_t x = 0; x < ow; ++x)
      for (int64_t k = 0; k < c; ++k) out[x * c + k] = row[mx[x] * c + k];
  }
}

// One contiguous h x w x c plane set; dispatches on the family.
void resize_one(const Tensor& src, Tensor& dst, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow,
                Interpolation interp, bool antialias) {
  const bool u8 = src.dtype() == DType::UInt8;
  if (interp == Interpolation::Nearest || interp == Interpolation::NearestExact) {
    const bool exact = interp == Interpolation::NearestExact;
    if (u8) return resize_nearest(src.data<uint8_t>(), dst.data<uint8_t>(), h, w, c, oh, ow, exact);
    return resize_nearest(src.data<float>(), dst.data<float>(), h, w, c, oh, ow, exact);
  }
  const bool conv = antialias && interp != Interpolation::Area;
  if (!conv) {
    TS_CHECK(interp != Interpolation::Box && interp != Interpolation::Hamming, ValueError, kOp, to_string(interp),
             " exists only with antialias=True (Pillow's filter); use area for OpenCV's box average");
    return detail::resize_opencv(src, h, w, c, dst, oh, ow, interp);
  }
  const Filter f = filter_of(interp);
  if (u8) return resize_conv(src.data<uint8_t>(), dst.data<uint8_t>(), h, w, c, oh, ow, f);
  resize_conv(src.data<float>(), dst.data<float>(), h, w, c, oh, ow, f);
}

}  // namespace

Interpolation interpolation_from_string(std::string_view s) {
  if (s == "nearest") return Interpolation::Nearest;
  if (s == "nearest_exact" || s == "nearest-exact") return Interpolation::NearestExact;
  if (s == "bilinear" || s == "linear") return Interpolation::Bilinear;
  if (s == "bicubic" || s == "cubic") return Interpolation::Bicubic;
  if (s == "area") return Interpolation::Area;
  if (s == "lanczos") return Interpolation::Lanczos;
  if (s == "box") return Interpolation::Box;
  if (s == "hamming") return Interpolation::Hamming;
  fail<ValueError>(kOp, "unknown interpolation '", std::string(s),
                   "'; expected nearest, nearest_exact, bilinear, bicubic, area, lanczos, box or hamming");
}

std::string to_string(Interpolation i) {
  switch (i) {
    case Interpolation::Nearest:
      return "nearest";
    case Interpolation::NearestExact:
      return "nearest_exact";
    case Interpolation::Bilinear:
      return "bilinear";
    case Interpolation::Bicubic:
      return "bicubic";
    case Interpolation::Area:
      return "area";
    case Interpolation::Lanczos:
      return "lanczos";
    case Interpolation::Box:
      return "box";
    case Interpolation::Hamming:
      return "hamming";
  }
  return "?";
}

Tensor resize(const Tensor& image, int64_t h, int64_t w, Interpolation interp, bool antialias, Layout layout) {
  TS_CHECK(image.defined() && image.device().is_cpu(), ValueError, kOp, "expected a CPU image tensor");
  TS_CHECK(image.dtype() == DType::UInt8 || image.dtype() == DType::Float32, TypeError, kOp,
           "expected a uint8 or float32 image, got ", image.dtype());
  TS_CHECK(h >= 1 && w >= 1, ValueError, kOp, "output size must be positive, got (", h, ", ", w, ")");
  const Layout l = resolve_layout(image, layout, kOp);
  if (l == Layout::CHW && image.dim() >= 3) {
    // Every [H, W] plane on its own: channels and batch dims alike.
    const int64_t ih = image.size(-2), iw = image.size(-1);
    TS_CHECK(image.numel() > 0, ValueError, kOp, "empty image of shape ", image.shape());
    const Tensor src = image.reshape({-1, ih, iw}).contiguous();
    const int64_t n = src.size(0);
    Tensor out = empty({n, h, w}, image.dtype());
    for (int64_t k = 0; k < n; ++k) {
      Tensor dst = out.select(0, k);
      resize_one(src.select(0, k), dst, ih, iw, 1, h, w, interp, antialias);
    }
    Shape os(image.shape().begin(), image.shape().end() - 2);
    os.push_back(h), os.push_back(w);
    return out.reshape(os);
  }
  return detail::map_images(
      image, l,
      [&](const Tensor& one) {
        const detail::View v = detail::hwc_view(one, kOp);
        Tensor out = detail::new_like(v, h, w, v.c, one.dtype());
        resize_one(v.t, out, v.h, v.w, v.c, h, w, interp, antialias);
        return out;
      },
      kOp);
}

}  // namespace tessel::image
