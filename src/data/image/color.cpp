// Color conversions, torchvision's color adjustments, and the HWC uint8 <->
// CHW float conversions. Arithmetic is float32 where the reference computes in
// float32 (torchvision), so that results agree to the bit.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "src/data/image/image_util.h"

namespace tessel::image {
namespace {

constexpr const char* kConvert = "image.convert_color";

void check_u8_f32(const Tensor& t, const char* op) {
  TS_CHECK(t.dtype() == DType::UInt8 || t.dtype() == DType::Float32, TypeError, op,
           "expected a uint8 or float32 image, got ", t.dtype());
}

int64_t channels_of(Color c) { return c == Color::Gray ? 1 : 3; }

const char* name_of(Color c) {
  switch (c) {
    case Color::RGB:
      return "rgb";
    case Color::BGR:
      return "bgr";
    case Color::Gray:
      return "gray";
    case Color::HSV:
      return "hsv";
  }
  return "?";
}

// ITU-R 601-2 luma. Pillow rounds (R*19595 + G*38470 + B*7471 + 0x8000) >> 16;
// torchvision computes 0.2989 R + 0.587 G + 0.114 B in float32 and truncates.
template <class T>
T luma(T r, T g, T b, GrayRounding mode) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    if (mode == GrayRounding::Pillow) return static_cast<uint8_t>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
    return static_cast<uint8_t>(0.2989f * r + 0.587f * g + 0.114f * b);
  } else {
    if (mode == GrayRounding::Pillow) return 0.299f * r + 0.587f * g + 0.114f * b;
    return 0.2989f * r + 0.587f * g + 0.114f * b;
  }
}

// h, s, v in [0, 1] (torchvision's _rgb2hsv).
void rgb_to_hsv_f(float r, float g, float b, float& h, float& s, float& v) {
  const float mx = std::max({r, g, b}), mn = std::min({r, g, b});
  v = mx;
  if (mx == mn) {
    h = 0.0f, s = 0.0f;
    return;
  }
  const float cr = mx - mn;
  s = cr / mx;
  const float rc = (mx - r) / cr, gc = (mx - g) / cr, bc = (mx - b) / cr;
  float hh;
  if (mx == r)
    hh = bc - gc;
  else if (mx == g)
    hh = 2.0f + rc - bc;
  else
    hh = 4.0f + gc - rc;
  h = std::fmod(hh / 6.0f + 1.0f, 1.0f);
}

void hsv_to_rgb_f(float h, float s, float v, float& r, float& g, float& b) {
  const float h6 = h * 6.0f;
  const float fl = std::floor(h6);
  const float f = h6 - fl;
  const int i = static_cast<int>(std::fmod(std::fmod(fl, 6.0f) + 6.0f, 6.0f));
  const float p = std::clamp(v * (1.0f - s), 0.0f, 1.0f);
  const float q = std::clamp(v * (1.0f - s * f), 0.0f, 1.0f);
  const float t = std::clamp(v * (1.0f - s * (1.0f - f)), 0.0f, 1.0f);
  switch (i) {
    case 0:
      r = v, g = t, b = p;
      break;
    case 1:
      r = q, g = v, b = p;
      break;
    case 2:
      r = p, g = v, b = t;
      break;
    case 3:
      r = p, g = q, b = v;
      break;
    case 4:
      r = t, g = p, b = v;
      break;
    default:
      r = v, g = p, b = q;
      break;
  }
}

// Pillow's "HSV" mode: every channel 0..255, hue and saturation truncated.
void rgb_to_hsv_u8(const uint8_t* in, uint8_t* out) {
  const int r = in[0], g = in[1], b = in[2];
  const int mx = std::max({r, g, b}), mn = std::min({r, g, b});
  out[2] = static_cast<uint8_t>(mx);
  if (mx == mn) {
    out[0] = out[1] = 0;
    return;
  }
  const float cr = static_cast<float>(mx - mn);
  const float s = cr / mx;
  const float rc = (mx - r) / cr, gc = (mx - g) / cr, bc = (mx - b) / cr;
  float h = r == mx ? bc - gc : g == mx ? 2.0f + rc - bc : 4.0f + gc - rc;
  h = std::fmod(h / 6.0f + 1.0f, 1.0f);
  out[0] = static_cast<uint8_t>(std::clamp(static_cast<int>(h * 255.0f), 0, 255));
  out[1] = static_cast<uint8_t>(std::clamp(static_cast<int>(s * 255.0f), 0, 255));
}

void hsv_to_rgb_u8(const uint8_t* in, uint8_t* out) {
  const float s = in[1] / 255.0f;
  const int v = in[2];
  if (in[1] == 0) {
    out[0] = out[1] = out[2] = static_cast<uint8_t>(v);
    return;
  }
  const float h6 = in[0] * 6.0f / 255.0f;
  const int i = static_cast<int>(std::floor(h6));
  const float f = h6 - i;
  auto rnd = [](float x) { return static_cast<uint8_t>(std::clamp(static_cast<int>(std::lround(x)), 0, 255)); };
  const uint8_t p = rnd(v * (1.0f - s)), q = rnd(v * (1.0f - s * f)), t = rnd(v * (1.0f - s * (1.0f - f)));
  const auto V = static_cast<uint8_t>(v);
  switch (i % 6) {
    case 0:
      out[0] = V, out[1] = t, out[2] = p;
      break;
    case 1:
      out[0] = q, out[1] = V, out[2] = p;
      break;
    case 2:
      out[0] = p, out[1] = V, out[2] = t;
      break;
    case 3:
      out[0] = p, out[1] = q, out[2] = V;
      break;
    case 4:
      out[0] = t, out[1] = p, out[2] = V;
      break;
    default:
      out[0] = V, out[1] = p, out[2] = q;
      break;
  }
}

// Applies f(in_pixel, out_pixel) to every pixel; ci/co channels.
template <class T, class F>
Tensor map_pixels(const detail::View& v, int64_t co, F&& f) {
  Tensor out = detail::new_like(v, v.h, v.w, co, v.t.dtype());
  const T* in = v.t.data<T>();
  T* o = out.data<T>();
  const int64_t n = v.h * v.w;
  for (int64_t i = 0; i < n; ++i) f(in + i * v.c, o + i * co);
  return out;
}

template <class T>
Tensor convert_typed(const detail::View& v, Color from, Color to, GrayRounding rounding) {
  constexpr bool u8 = std::is_same_v<T, uint8_t>;
  // Index of red and blue in an rgb-like input.
  const int ri = from == Color::BGR ? 2 : 0, bi = from == Color::BGR ? 0 : 2;
  if ((from == Color::RGB || from == Color::BGR) && (to == Color::RGB || to == Color::BGR)) {
    return map_pixels<T>(v, v.c, [&](const T* p, T* o) {
      for (int64_t k = 0; k < v.c; ++k) o[k] = p[k];
      std::swap(o[0], o[2]);
    });
  }
  if (from == Color::Gray) {
    if (to == Color::HSV) return map_pixels<T>(v, 3, [](const T* p, T* o) { o[0] = 0, o[1] = 0, o[2] = p[0]; });
    return map_pixels<T>(v, 3, [](const T* p, T* o) { o[0] = o[1] = o[2] = p[0]; });
  }
  if (from == Color::HSV) {
    const int oi = to == Color::BGR ? 2 : 0;
    return map_pixels<T>(v, channels_of(to), [&](const T* p, T* o) {
      T rgb[3];
      if constexpr (u8) {
        hsv_to_rgb_u8(p, rgb);
      } else {
        hsv_to_rgb_f(p[0], p[1], p[2], rgb[0], rgb[1], rgb[2]);
      }
      if (to == Color::Gray) {
        o[0] = luma<T>(rgb[0], rgb[1], rgb[2], rounding);
      } else {
        o[oi] = rgb[0], o[1] = rgb[1], o[2 - oi] = rgb[2];
      }
    });
  }
  // from RGB or BGR
  if (to == Color::Gray)
    return map_pixels<T>(v, 1, [&](const T* p, T* o) { o[0] = luma<T>(p[ri], p[1], p[bi], rounding); });
  return map_pixels<T>(v, 3, [&](const T* p, T* o) {  // to HSV
    if constexpr (u8) {
      const uint8_t rgb[3] = {p[ri], p[1], p[bi]};
      rgb_to_hsv_u8(rgb, o);
    } else {
      rgb_to_hsv_f(p[ri], p[1], p[bi], o[0], o[1], o[2]);
    }
  });
}

// torchvision's _blend: ratio * a + (1 - ratio) * b in float32, clamped to
// [0, bound], truncated back to uint8.
template <class T>
T blend(float a, float b, float ratio, float one_minus) {
  const float x = ratio * a + one_minus * b;
  if constexpr (std::is_same_v<T, uint8_t>)
    return static_cast<uint8_t>(std::clamp(x, 0.0f, 255.0f));
  else
    return std::clamp(x, 0.0f, 1.0f);
}

detail::View rgb_view(const Tensor& image, const char* op) {
  detail::View v = detail::hwc_view(image, op);
  check_u8_f32(image, op);
  TS_CHECK(v.c == 3, ValueError, op, "expected an RGB image (3 channels), got shape ", image.shape());
  return v;
}

enum class Adjust { Brightness, Contrast, Saturation };
Tensor hue_one(const Tensor& image, double hue_shift, const char* op);

// v has 1 or 3 channels (torchvision takes grayscale images too).
template <class T>
Tensor adjust_typed(const detail::View& v, Adjust kind, double factor) {
  const auto r = static_cast<float>(factor), r1 = static_cast<float>(1.0 - factor);
  const int64_t c = v.c;
  if (kind == Adjust::Brightness)
    return map_pixels<T>(v, c, [&](const T* p, T* o) {
      for (int64_t k = 0; k < c; ++k) o[k] = blend<T>(p[k], 0.0f, r, r1);
    });
  if (kind == Adjust::Saturation) {
    if (c == 1) return map_pixels<T>(v, 1, [](const T* p, T* o) { o[0] = p[0]; });  // torchvision: as it is
    return map_pixels<T>(v, 3, [&](const T* p, T* o) {
      const float g = luma<T>(p[0], p[1], p[2], GrayRounding::Torchvision);
      for (int k = 0; k < 3; ++k) o[k] = blend<T>(p[k], g, r, r1);
    });
  }
  // contrast: blend with the mean of the (torchvision) grayscale image, of the image itself for 1 channel
  const T* in = v.t.data<T>();
  double sum = 0.0;
  for (int64_t i = 0; i < v.h * v.w; ++i)
    sum += c == 1 ? static_cast<float>(in[i])
                  : static_cast<float>(luma<T>(in[3 * i], in[3 * i + 1], in[3 * i + 2], GrayRounding::Torchvision));
  const auto mean = static_cast<float>(sum / static_cast<double>(v.h * v.w));
  return map_pixels<T>(v, c, [&](const T* p, T* o) {
    for (int64_t k = 0; k < c; ++k) o[k] = blend<T>(p[k], mean, r, r1);
  });
}

Tensor adjust(const Tensor& image, const char* op, Adjust kind, double factor, Layout layout) {
  TS_CHECK(std::isfinite(factor) && factor >= 0, ValueError, op, "factor must be a non-negative number, got ", factor);
  const Layout l = resolve_layout(image, layout, op);
  return detail::map_images(
      image, l,
      [&](const Tensor& one) {
        const detail::View v = detail::hwc_view(one, op);
        check_u8_f32(one, op);
        TS_CHECK(v.c == 1 || v.c == 3, ValueError, op, "expected a 1- or 3-channel image, got shape ", one.shape());
        return one.dtype() == DType::UInt8 ? adjust_typed<uint8_t>(v, kind, factor)
                                           : adjust_typed<float>(v, kind, factor);
      },
      op);
}

}  // namespace

Color color_from_string(std::string_view s) {
  if (s == "rgb") return Color::RGB;
  if (s == "bgr") return Color::BGR;
  if (s == "gray" || s == "grey" || s == "l") return Color::Gray;
  if (s == "hsv") return Color::HSV;
  fail<ValueError>(kConvert, "unknown color space '", std::string(s), "'; expected rgb, bgr, gray or hsv");
}

Tensor convert_color(const Tensor& image, Color from, Color to, GrayRounding rounding, Layout layout) {
  const Layout l = resolve_layout(image, layout, kConvert);
  check_u8_f32(image, kConvert);
  return detail::map_images(
      image, l,
      [&](const Tensor& one) {
        const detail::View v = detail::hwc_view(one, kConvert);
        const bool swap_only = (from == Color::RGB || from == Color::BGR) && (to == Color::RGB || to == Color::BGR);
        TS_CHECK(v.c == channels_of(from) || (swap_only && v.c == 4), ValueError, kConvert, "a ", name_of(from),
                 " image has ", channels_of(from), " channels, got ", v.c, " (shape ", image.shape(), ")");
        if (from == to) return v.t.clone();
        return one.dtype() == DType::UInt8 ? convert_typed<uint8_t>(v, from, to, rounding)
                                           : convert_typed<float>(v, from, to, rounding);
      },
      kConvert);
}

Tensor to_tensor(const Tensor& image) {
  const char* op = "image.to_tensor";
  // torchvision's ToTensor takes PIL images and arrays, never tensors.
  TS_CHECK(!image.defined() || is_image(image), TypeError, op,
           "expects a decoded HWC image (ts.image.decode/read, a NumPy array, or ts.image.as_image(x)); got an "
           "unmarked tensor of shape ",
           image.shape(), ", which is already [..., C, H, W]");
  const detail::View v = detail::hwc_view(image, op);
  check_u8_f32(image, op);
  Tensor out = empty({v.c, v.h, v.w}, DType::Float32);
  float* o = out.data<float>();
  const int64_t n = v.h * v.w;
  if (image.dtype() == DType::UInt8) {
    const uint8_t* in = v.t.data<uint8_t>();
    for (int64_t k = 0; k < v.c; ++k)
      for (int64_t i = 0; i < n; ++i) o[k * n + i] = static_cast<float>(in[i * v.c + k]) / 255.0f;
  } else {
    const float* in = v.t.data<float>();
    for (int64_t k = 0; k < v.c; ++k)
      for (int64_t i = 0; i < n; ++i) o[k * n + i] = in[i * v.c + k];
  }
  return out;
}

Tensor normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std) {
  const char* op = "image.normalize";
  TS_CHECK(x.defined() && x.device().is_cpu(), ValueError, op, "expected a CPU tensor");
  TS_CHECK(x.dtype() == DType::Float32, TypeError, op, "expected a float32 CHW tensor, got ", x.dtype(),
           " (convert with to_tensor first)");
  TS_CHECK(!is_image(x), TypeError, op, "expects a [..., C, H, W] tensor, got a decoded HWC image of shape ", x.shape(),
           " (convert it with to_tensor first)");
  TS_CHECK(x.dim() >= 3, ValueError, op, "expected a [..., C, H, W] tensor, got shape ", x.shape());
  const int64_t c = x.size(-3);
  TS_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c, ValueError, op,
           "mean and std need one value per channel (", c, "), got ", mean.size(), " and ", std.size());
  for (double s : std) TS_CHECK(s != 0.0, ValueError, op, "std must not contain 0");
  const Tensor src = x.contiguous();
  Tensor out = empty(x.shape(), DType::Float32);
  const float* in = src.data<float>();
  float* o = out.data<float>();
  const int64_t plane = x.size(-1) * x.size(-2), batches = x.numel() / (c * plane);
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t k = 0; k < c; ++k) {
      const auto m = static_cast<float>(mean[k]), s = static_cast<float>(std[k]);
      const int64_t base = (b * c + k) * plane;
      for (int64_t i = 0; i < plane; ++i) o[base + i] = (in[base + i] - m) / s;
    }
  return out;
}

Tensor to_image(const Tensor& x) {
  const char* op = "image.to_image";
  TS_CHECK(x.defined() && x.device().is_cpu(), ValueError, op, "expected a CPU tensor");
  TS_CHECK(x.dtype() == DType::Float32, TypeError, op, "expected a float32 [C, H, W] tensor, got ", x.dtype());
  TS_CHECK(x.dim() == 3 && x.numel() > 0, ValueError, op, "expected a [C, H, W] tensor, got shape ", x.shape());
  const Tensor src = x.contiguous();
  const int64_t c = x.size(0), h = x.size(1), w = x.size(2), n = h * w;
  Tensor out = empty({h, w, c}, DType::UInt8);
  const float* in = src.data<float>();
  uint8_t* o = out.data<uint8_t>();
  for (int64_t k = 0; k < c; ++k)
    for (int64_t i = 0; i < n; ++i) {
      const float v = in[k * n + i];
      // NaN maps to 0.
      o[i * c + k] = static_cast<uint8_t>(v > 0.0f ? std::nearbyint(std::min(v, 1.0f) * 255.0f) : 0.0f);
    }
  return detail::mark(out);
}

Tensor adjust_brightness(const Tensor& image, double factor, Layout layout) {
  return adjust(image, "image.adjust_brightness", Adjust::Brightness, factor, layout);
}
Tensor adjust_contrast(const Tensor& image, double factor, Layout layout) {
  return adjust(image, "image.adjust_contrast", Adjust::Contrast, factor, layout);
}
Tensor adjust_saturation(const Tensor& image, double factor, Layout layout) {
  return adjust(image, "image.adjust_saturation", Adjust::Saturation, factor, layout);
}

Tensor adjust_hue(const Tensor& image, double hue_shift, Layout layout) {
  const char* op = "image.adjust_hue";
  TS_CHECK(hue_shift >= -0.5 && hue_shift <= 0.5, ValueError, op, "hue shift must be in [-0.5, 0.5], got ", hue_shift);
  const Layout l = resolve_layout(image, layout, op);
  return detail::map_images(
      image, l, [&](const Tensor& one) { return hue_one(one, hue_shift, op); }, op);
}

namespace {
Tensor hue_one(const Tensor& image, double hue_shift, const char* op) {
  if (image.dim() == 2 || image.size(-1) == 1) {  // torchvision returns a grayscale image as it is
    check_u8_f32(image, op);
    return detail::hwc_view(image, op).t.clone();
  }
  const detail::View v = rgb_view(image, op);
  const auto shift = static_cast<float>(hue_shift);
  auto shifted = [&](float r, float g, float b, float* o) {
    float h, s, val;
    rgb_to_hsv_f(r, g, b, h, s, val);
    h = std::fmod(h + shift, 1.0f);
    if (h < 0) h += 1.0f;  // Python's %: the sign of the divisor
    hsv_to_rgb_f(h, s, val, o[0], o[1], o[2]);
  };
  if (image.dtype() == DType::Float32)
    return map_pixels<float>(v, 3, [&](const float* p, float* o) { shifted(p[0], p[1], p[2], o); });
  // torchvision: to float / 255, shift, back with x * (256 - 1e-3) truncated.
  return map_pixels<uint8_t>(v, 3, [&](const uint8_t* p, uint8_t* o) {
    float f[3];
    shifted(p[0] / 255.0f, p[1] / 255.0f, p[2] / 255.0f, f);
    for (int k = 0; k < 3; ++k) o[k] = static_cast<uint8_t>(std::clamp(f[k] * 255.999f, 0.0f, 255.0f));
  });
}
}  // namespace

}  // namespace tessel::image
