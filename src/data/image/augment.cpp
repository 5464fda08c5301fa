// Filters and augmentation ops with torchvision's semantics (its tensor path).
#include <algorithm>
#include <cmath>
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

}  // namespace

Tensor gaussian_blur(const Tensor& image, std::array<int64_t, 2> kernel_size, std::array<double, 2> sigma,
                     Layout layout) {
  const char* op = "image.gaussian_blur";
  const Layout l = resolve_layout(image, layout, op);
  for (int64_t k : kernel_size)
    TS_CHECK(k > 0 && k % 2 == 1, ValueError, op, "kernel_size must be odd and positive, got (", kernel_size[0],
             ", ", kernel_size[1], ")");
  for (double s : sigma)
    TS_CHECK(s > 0 && std::isfinite(s), ValueError, op, "sigma must be positive, got (", sigma[0], ", ", sigma[1],
             ")");
  TS_CHECK(image.dtype() == DType::UInt8 || image.dtype() == DType::Float32, TypeError, op,
           "expected a uint8 or float32 image, got ", image.dtype());
  const std::vector<double> kx = gaussian_kernel(kernel_size[0], sigma[0]), ky = gaussian_kernel(kernel_size[1], sigma[1]);
  return detail::map_images(
      image, l,
      [&](const Tensor& one) {
        const detail::View v = detail::hwc_view(one, op);
        Tensor out = detail::new_like(v, v.h, v.w, v.c, one.dtype());
        if (one.dtype() == DType::UInt8)
          blur(v.t.data<uint8_t>(), out.data<uint8_t>(), v.h, v.w, v.c, kx, ky);
        else
          blur(v.t.data<float>(), out.data<float>(), v.h, v.w, v.c, kx, ky);
        return out;
      },
      op);
}

Tensor erase(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, const Tensor& value, bool inplace) {
  const char* op = "image.erase";
  TS_CHECK(image.defined() && image.device().is_cpu(), ValueError, op, "expected a CPU tensor");
  TS_CHECK(!is_image(image), TypeError, op, "works on [..., C, H, W] tensors, got a decoded HWC image of shape ",
           image.shape(), " (convert it with to_tensor first)");
  TS_CHECK(image.dim() >= 3, ValueError, op, "expected a [..., C, H, W] tensor, got shape ", image.shape());
  const int64_t C = image.size(-3), H = image.size(-2), W = image.size(-1);
  TS_CHECK(h >= 0 && w >= 0 && top >= 0 && left >= 0 && top + h <= H && left + w <= W, ValueError, op, "region (top=",
           top, ", left=", left, ", h=", h, ", w=", w, ") is outside the ", H, "x", W, " image");
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
