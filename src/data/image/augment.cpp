// Filters and augmentation ops with torchvision's semantics (its tensor path).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "src/data/image/image_util.h"

namespace tessel::image {
namespace {

// torchvision's _get_gaussian_kernel1d: exp(-x^2 / 2 sigma^2) at the integer
// offsets -(k-1)/2 .. (k-1)/2, normalized.
std::vector<double> gaussian_kernel(int64_t k, double sigma) {
  std::vector<double> out(static_cast<size_t>(k));
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    const double x = (i - (k - 1) * 0.5) / sigma;
    sum += out[i] = std::exp(-0.5 * x * x);
  }
  for (double& v : out) v /= sum;
  return out;
}

// Reflect without repeating the edge (torch's "reflect" padding).
int64_t reflect(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  const int64_t k = ((i % period) + period) % period;
  return k < n ? k : period - k;
}

template <class T>
void blur(const T* in, T* out, int64_t h, int64_t w, int64_t c, const std::vector<double>& kx,
          const std::vector<double>& ky) {
  const auto rx = static_cast<int64_t>(kx.size() / 2), ry = static_cast<int64_t>(ky.size() / 2);
  std::vector<double> tmp(static_cast<size_t>(h * w * c));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < c; ++k) {
        double s = 0.0;
        for (int64_t j = -rx; j <= rx; ++j) s += kx[j + rx] * in[(y * w + reflect(x + j, w)) * c + k];
        tmp[(y * w + x) * c + k] = s;
      }
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < c; ++k) {
        double s = 0.0;
        for (int64_t j = -ry; j <= ry; ++j) s += ky[j + ry] * tmp[(reflect(y + j, h) * w + x) * c + k];
        if constexpr (std::is_same_v<T, uint8_t>)
          out[(y * w + x) * c + k] = static_cast<uint8_t>(std::clamp(std::nearbyint(s), 0.0, 255.0));
        else
          out[(y * w + x) * c + k] = static_cast<T>(s);
      }
}

enum class PointOp { Posterize, Solarize, Invert };

template <class T>
Tensor point_one(const detail::View& v, PointOp op, double arg) {
  constexpr bool u8 = std::is_same_v<T, uint8_t>;
  const double bound = u8 ? 255.0 : 1.0;
  Tensor out = detail::new_like(v, v.h, v.w, v.c, v.t.dtype());
  const T* in = v.t.data<T>();
  T* o = out.data<T>();
  const int64_t n = v.h * v.w * v.c;
  const int bits = static_cast<int>(arg);
  const auto mask = static_cast<uint8_t>(~((1 << (8 - bits)) - 1) & 0xFF);
  const double levels = static_cast<double>(1 << bits);
  for (int64_t i = 0; i < n; ++i) {
    const T x = in[i];
    if (op == PointOp::Invert) {
      o[i] = static_cast<T>(bound - x);
    } else if (op == PointOp::Solarize) {
      o[i] = x >= arg ? static_cast<T>(bound - x) : x;
    } else if constexpr (u8) {
      o[i] = static_cast<uint8_t>(x & mask);
    } else {  // float posterize: torchvision v2's floor(x * levels) / levels
      o[i] = static_cast<T>(std::clamp(std::floor(x * levels), 0.0, levels - 1) / levels);
    }
  }
  return out;
}

// f(view, T{}) on every image of a uint8 (T = uint8_t) or float32 (T = float)
// input in the given layout: the shared front of the ops below.
template <class F>
Tensor per_image(const Tensor& image, Layout layout, const char* op, F&& f) {
  const Layout l = resolve_layout(image, layout, op);
  TS_CHECK(image.dtype() == DType::UInt8 || image.dtype() == DType::Float32, TypeError, op,
           "expected a uint8 or float32 image, got ", image.dtype());
  return detail::map_images(
      image, l,
      [&](const Tensor& one) {
        const detail::View v = detail::hwc_view(one, op);
        return one.dtype() == DType::UInt8 ? f(v, uint8_t{}) : f(v, float{});
      },
      op);
}

Tensor point(const Tensor& image, const char* op, PointOp kind, double arg, Layout layout) {
  return per_image(image, layout, op, [&](const detail::View& v, auto t) {
    return point_one<decltype(t)>(v, kind, arg);
  });
}

// torchvision's _blend: ratio * a + (1 - ratio) * b in float32, clamped, truncated for uint8.
template <class T>
T blend(float a, float b, float ratio) {
  const float x = ratio * a + (1.0f - ratio) * b;
  if constexpr (std::is_same_v<T, uint8_t>)
    return static_cast<uint8_t>(std::clamp(x, 0.0f, 255.0f));
  else
    return std::clamp(x, 0.0f, 1.0f);
}

template <class T>
Tensor sharpness_one(const detail::View& v, double factor) {
  Tensor out = detail::new_like(v, v.h, v.w, v.c, v.t.dtype());
  const T* in = v.t.data<T>();
  T* o = out.data<T>();
  const int64_t c = v.c, w = v.w;
  std::copy(in, in + v.h * v.w * c, o);
  if (v.h <= 2 || v.w <= 2) return out;
  const auto r = static_cast<float>(factor);
  // Interior only: the 3x3 smoothing kernel (1 1 1 / 1 5 1 / 1 1 1) / 13; borders keep the image.
  for (int64_t y = 1; y < v.h - 1; ++y)
    for (int64_t x = 1; x < w - 1; ++x)
      for (int64_t k = 0; k < c; ++k) {
        double s = 4.0 * in[(y * w + x) * c + k];
        for (int64_t dy = -1; dy <= 1; ++dy)
          for (int64_t dx = -1; dx <= 1; ++dx) s += in[((y + dy) * w + x + dx) * c + k];
        double blurred = s / 13.0;
        if constexpr (std::is_same_v<T, uint8_t>) blurred = std::nearbyint(blurred);
        o[(y * w + x) * c + k] = blend<T>(static_cast<float>(in[(y * w + x) * c + k]), static_cast<float>(blurred), r);
      }
  return out;
}

template <class T>
Tensor autocontrast_one(const detail::View& v) {
  constexpr float bound = std::is_same_v<T, uint8_t> ? 255.0f : 1.0f;
  Tensor out = detail::new_like(v, v.h, v.w, v.c, v.t.dtype());
  const T* in = v.t.data<T>();
  T* o = out.data<T>();
  const int64_t n = v.h * v.w;
  for (int64_t k = 0; k < v.c; ++k) {
    float lo = static_cast<float>(in[k]), hi = lo;
    for (int64_t i = 0; i < n; ++i)
      lo = std::min(lo, static_cast<float>(in[i * v.c + k])), hi = std::max(hi, static_cast<float>(in[i * v.c + k]));
    if (lo == hi) lo = 0.0f, hi = bound;  // torchvision leaves a flat channel as it is
    const float scale = bound / (hi - lo);
    for (int64_t i = 0; i < n; ++i) {
      const float y = std::clamp((static_cast<float>(in[i * v.c + k]) - lo) * scale, 0.0f, bound);
      o[i * v.c + k] = static_cast<T>(y);
    }
  }
  return out;
}

// torchvision's (and Pillow's ImageOps.equalize) histogram equalization of uint8 channels.
void equalize_u8(const uint8_t* in, uint8_t* o, int64_t n, int64_t c) {
  for (int64_t k = 0; k < c; ++k) {
    int64_t hist[256] = {};
    for (int64_t i = 0; i < n; ++i) ++hist[in[i * c + k]];
    int last = 255;
    while (last > 0 && hist[last] == 0) --last;
    const int64_t step = (n - hist[last]) / 255;  // the pixels not in the last non-empty bin
    if (step == 0) {
      for (int64_t i = 0; i < n; ++i) o[i * c + k] = in[i * c + k];
      continue;
    }
    uint8_t lut[256];
    int64_t cum = 0;
    for (int b = 0; b < 256; ++b) {
      lut[b] = static_cast<uint8_t>(std::min<int64_t>(255, (cum + step / 2) / step));
      cum += hist[b];
    }
    for (int64_t i = 0; i < n; ++i) o[i * c + k] = lut[in[i * c + k]];
  }
}

}  // namespace

Tensor posterize(const Tensor& image, int64_t bits, Layout layout) {
  TS_CHECK(bits >= 0 && bits <= 8, ValueError, "image.posterize", "bits must be in 0..8, got ", bits);
  return point(image, "image.posterize", PointOp::Posterize, static_cast<double>(bits), layout);
}

Tensor solarize(const Tensor& image, double threshold, Layout layout) {
  TS_CHECK(std::isfinite(threshold), ValueError, "image.solarize", "threshold must be finite, got ", threshold);
  return point(image, "image.solarize", PointOp::Solarize, threshold, layout);
}

Tensor invert(const Tensor& image, Layout layout) { return point(image, "image.invert", PointOp::Invert, 0, layout); }

Tensor adjust_sharpness(const Tensor& image, double factor, Layout layout) {
  const char* op = "image.adjust_sharpness";
  TS_CHECK(std::isfinite(factor) && factor >= 0, ValueError, op, "factor must be a non-negative number, got ", factor);
  return per_image(image, layout, op,
                   [&](const detail::View& v, auto t) { return sharpness_one<decltype(t)>(v, factor); });
}

Tensor autocontrast(const Tensor& image, Layout layout) {
  const char* op = "image.autocontrast";
  return per_image(image, layout, op, [](const detail::View& v, auto t) { return autocontrast_one<decltype(t)>(v); });
}

Tensor equalize(const Tensor& image, Layout layout) {
  const char* op = "image.equalize";
  return per_image(image, layout, op, [](const detail::View& v, auto t) {
    Tensor out = detail::new_like(v, v.h, v.w, v.c, v.t.dtype());
    const int64_t n = v.h * v.w, total = n * v.c;
    if constexpr (std::is_same_v<decltype(t), uint8_t>) {
      equalize_u8(v.t.data<uint8_t>(), out.data<uint8_t>(), n, v.c);
    } else {  // float: through uint8 levels (round(x * 255)) and back.
      std::vector<uint8_t> q(static_cast<size_t>(total)), r(static_cast<size_t>(total));
      const float* in = v.t.data<float>();
      for (int64_t i = 0; i < total; ++i)
        q[i] = static_cast<uint8_t>(std::nearbyint(std::clamp(in[i], 0.0f, 1.0f) * 255.0f));
      equalize_u8(q.data(), r.data(), n, v.c);
      float* o = out.data<float>();
      for (int64_t i = 0; i < total; ++i) o[i] = r[i] / 255.0f;
    }
    return out;
  });
}

Tensor gaussian_blur(const Tensor& image, std::array<int64_t, 2> kernel_size, std::array<double, 2> sigma,
                     Layout layout) {
  const char* op = "image.gaussian_blur";
  for (int64_t k : kernel_size)
    TS_CHECK(k > 0 && k % 2 == 1, ValueError, op, "kernel_size must be odd and positive, got (", kernel_size[0], ", ",
             kernel_size[1], ")");
  for (double s : sigma)
    TS_CHECK(s > 0 && std::isfinite(s), ValueError, op, "sigma must be positive, got (", sigma[0], ", ", sigma[1], ")");
  // torch's reflect padding needs radius < size: this also bounds the kernel
  // (a huge kernel_size was one giant allocation and a loop per pixel).
  const auto [h, w] = detail::image_hw(image, resolve_layout(image, layout, op));
  TS_CHECK(h == 0 || w == 0 || (kernel_size[0] / 2 < w && kernel_size[1] / 2 < h), ValueError, op, "kernel_size (", kernel_size[0], ", ",
           kernel_size[1], ") needs a radius below the ", h, "x", w, " image's size (reflect padding)");
  const std::vector<double> kx = gaussian_kernel(kernel_size[0], sigma[0]),
                            ky = gaussian_kernel(kernel_size[1], sigma[1]);
  return per_image(image, layout, op, [&](const detail::View& v, auto t) {
    using T = decltype(t);
    Tensor out = detail::new_like(v, v.h, v.w, v.c, v.t.dtype());
    blur(v.t.data<T>(), out.data<T>(), v.h, v.w, v.c, kx, ky);
    return out;
  });
}

Tensor erase(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, const Tensor& value, bool inplace) {
  const char* op = "image.erase";
  TS_CHECK(image.defined() && image.device().is_cpu(), ValueError, op, "expected a CPU tensor");
  TS_CHECK(!is_image(image), TypeError, op, "works on [..., C, H, W] tensors, got a decoded HWC image of shape ",
           image.shape(), " (convert it with to_tensor first)");
  TS_CHECK(image.dim() >= 3, ValueError, op, "expected a [..., C, H, W] tensor, got shape ", image.shape());
  const int64_t C = image.size(-3), H = image.size(-2), W = image.size(-1);
  TS_CHECK(h >= 0 && w >= 0 && top >= 0 && left >= 0 && top <= H - h && left <= W - w, ValueError, op,
           "region (top=", top, ", left=", left, ", h=", h, ", w=", w, ") is outside the ", H, "x", W, " image");
  TS_CHECK(value.defined(), ValueError, op, "expected a value tensor");
  Tensor v = value;
  if (value.numel() == C && value.dim() <= 1)
    v = value.reshape({C, 1, 1});
  else
    TS_CHECK(value.numel() == 1 || (value.dim() == 3 && value.size(0) == C && value.size(1) == h && value.size(2) == w),
             ValueError, op, "value must be one number, one per channel (", C, ") or [C, h, w], got shape ",
             value.shape());
  Tensor out = inplace ? image : image.clone();
  if (h == 0 || w == 0) return out;
  Tensor region = out.slice(-2, top, top + h).slice(-1, left, left + w);
  region.copy_(v);
  return out;
}

}  // namespace tessel::image
