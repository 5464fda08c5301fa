// Crops, pads, flips and rotations of HWC (or HW) images. Index maps copy
// whole pixels, so they work for every dtype; only the bilinear rotation reads
// the values (uint8 and float32).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <type_traits>
#include <vector>

#include "src/data/image/image_util.h"

namespace tessel::image {

namespace detail {

View hwc_view(const Tensor& image, const char* op) {
  TS_CHECK(image.defined(), ValueError, op, "expected an image tensor, got an undefined tensor");
  TS_CHECK(image.device().is_cpu(), ValueError, op, "expected a CPU image, got a tensor on ", image.device());
  TS_CHECK(image.dim() == 2 || image.dim() == 3, ValueError, op, "expected an HWC or HW image, got shape ",
           image.shape());
  View v;
  v.t = image.contiguous();
  v.h = image.size(0), v.w = image.size(1), v.c = image.dim() == 3 ? image.size(2) : 1;
  v.hw = image.dim() == 2;
  TS_CHECK(v.h > 0 && v.w > 0 && v.c > 0, ValueError, op, "empty image of shape ", image.shape());
  return v;
}

Tensor new_like(const View& v, int64_t h, int64_t w, int64_t c, DType dtype) {
  return v.hw && c == 1 ? empty({h, w}, dtype) : empty({h, w, c}, dtype);
}

}  // namespace detail

namespace {

// out[y][x] = in[sy][sx] with (sy, sx) = swap ? (x, y) : (y, x), then each
// flipped in the source: covers flips, 90-degree turns, transpose, transverse.
template <size_t PX>
void dihedral_px(const uint8_t* in, uint8_t* out, int64_t h, int64_t w, size_t px, bool swap, bool fy, bool fx) {
  const size_t n = PX ? PX : px;
  const int64_t oh = swap ? w : h, ow = swap ? h : w;
  for (int64_t y = 0; y < oh; ++y) {
    uint8_t* dst = out + y * ow * n;
    for (int64_t x = 0; x < ow; ++x) {
      int64_t sy = swap ? x : y, sx = swap ? y : x;
      if (fy) sy = h - 1 - sy;
      if (fx) sx = w - 1 - sx;
      std::memcpy(dst + x * n, in + (sy * w + sx) * n, n);
    }
  }
}

Tensor dihedral(const Tensor& image, const char* op, bool swap, bool fy, bool fx) {
  const detail::View v = detail::hwc_view(image, op);
  Tensor out = detail::new_like(v, swap ? v.w : v.h, swap ? v.h : v.w, v.c, image.dtype());
  const auto* in = static_cast<const uint8_t*>(v.t.data_ptr());
  auto* o = static_cast<uint8_t*>(out.data_ptr());
  const size_t px = static_cast<size_t>(v.c) * v.t.itemsize();
  switch (px) {
    case 1:
      dihedral_px<1>(in, o, v.h, v.w, px, swap, fy, fx);
      break;
    case 3:
      dihedral_px<3>(in, o, v.h, v.w, px, swap, fy, fx);
      break;
    case 4:
      dihedral_px<4>(in, o, v.h, v.w, px, swap, fy, fx);
      break;
    case 12:
      dihedral_px<12>(in, o, v.h, v.w, px, swap, fy, fx);
      break;
    default:
      dihedral_px<0>(in, o, v.h, v.w, px, swap, fy, fx);
  }
  return out;
}

// Source index of padded position i (may be outside [0, n)).
int64_t pad_index(int64_t i, int64_t n, PadMode mode) {
  if (i >= 0 && i < n) return i;
  if (mode == PadMode::Edge) return i < 0 ? 0 : n - 1;
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);  // reflect without repeating the edge (NumPy "reflect")
  int64_t k = ((i % period) + period) % period;
  return k < n ? k : period - k;
}

template <class T>
void rotate_bilinear(const T* in, T* out, int64_t h, int64_t w, int64_t c, double angle, double fill) {
  const double t = angle * std::numbers::pi / 180.0;
  const double cs = std::cos(t), sn = std::sin(t);
  const double cx = w / 2.0, cy = h / 2.0;
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      // Inverse map of the output pixel's centre (counter-clockwise on screen, y down).
      const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      const double sx = cs * dx - sn * dy + cx - 0.5, sy = sn * dx + cs * dy + cy - 0.5;
      T* o = out + (y * w + x) * c;
      const double fx0 = std::floor(sx), fy0 = std::floor(sy);
      if (fx0 < -1 || fx0 >= w || fy0 < -1 || fy0 >= h) {
        for (int64_t k = 0; k < c; ++k) o[k] = static_cast<T>(fill);
        continue;
      }
      const int64_t x0 = static_cast<int64_t>(fx0), y0 = static_cast<int64_t>(fy0);
      const double ax = sx - fx0, ay = sy - fy0;
      // Neighbours outside the image repeat the edge (the border half-pixel).
      const int64_t xa = std::clamp<int64_t>(x0, 0, w - 1), xb = std::clamp<int64_t>(x0 + 1, 0, w - 1);
      const int64_t ya = std::clamp<int64_t>(y0, 0, h - 1), yb = std::clamp<int64_t>(y0 + 1, 0, h - 1);
      for (int64_t k = 0; k < c; ++k) {
        const double top = in[(ya * w + xa) * c + k] * (1 - ax) + in[(ya * w + xb) * c + k] * ax;
        const double bot = in[(yb * w + xa) * c + k] * (1 - ax) + in[(yb * w + xb) * c + k] * ax;
        const double v = top * (1 - ay) + bot * ay;
        if constexpr (std::is_same_v<T, uint8_t>)
          o[k] = static_cast<uint8_t>(std::clamp(std::nearbyint(v), 0.0, 255.0));
        else
          o[k] = static_cast<T>(v);
      }
    }
  }
}

}  // namespace

Tensor crop(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w) {
  const char* op = "image.crop";
  const detail::View v = detail::hwc_view(image, op);
  TS_CHECK(h >= 1 && w >= 1, ValueError, op, "crop size must be positive, got (", h, ", ", w, ")");
  TS_CHECK(top >= 0 && left >= 0 && top + h <= v.h && left + w <= v.w, ValueError, op, "crop (top=", top,
           ", left=", left, ", h=", h, ", w=", w, ") is outside the ", v.h, "x", v.w, " image");
  return image.slice(0, top, top + h).slice(1, left, left + w).contiguous();
}

Tensor center_crop(const Tensor& image, int64_t h, int64_t w) {
  const char* op = "image.center_crop";
  const detail::View v = detail::hwc_view(image, op);
  TS_CHECK(h >= 1 && w >= 1 && h <= v.h && w <= v.w, ValueError, op, "crop size (", h, ", ", w,
           ") must be positive and fit the ", v.h, "x", v.w, " image");
  // torchvision: int(round((H - h) / 2.0)), Python's round (half to even).
  const auto top = static_cast<int64_t>(std::nearbyint((v.h - h) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((v.w - w) / 2.0));
  return crop(image, top, left, h, w);
}

PadMode pad_mode_from_string(std::string_view s) {
  if (s == "constant") return PadMode::Constant;
  if (s == "edge" || s == "replicate") return PadMode::Edge;
  if (s == "reflect") return PadMode::Reflect;
  fail<ValueError>("image.pad", "unknown padding mode '", std::string(s), "'; expected constant, edge or reflect");
}

Tensor pad(const Tensor& image, int64_t top, int64_t bottom, int64_t left, int64_t right, PadMode mode, double value) {
  const char* op = "image.pad";
  const detail::View v = detail::hwc_view(image, op);
  TS_CHECK(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, ValueError, op, "padding must be >= 0, got (", top, ", ",
           bottom, ", ", left, ", ", right, ")");
  const int64_t oh = v.h + top + bottom, ow = v.w + left + right;
  Tensor out = detail::new_like(v, oh, ow, v.c, image.dtype());
  const size_t px = static_cast<size_t>(v.c) * v.t.itemsize();
  const auto* in = static_cast<const uint8_t*>(v.t.data_ptr());
  auto* o = static_cast<uint8_t*>(out.data_ptr());
  // The fill pixel in the image's dtype.
  const Tensor fill = full({v.c}, Scalar(value), TensorOptions(image.dtype()));
  const auto* fp = static_cast<const uint8_t*>(fill.data_ptr());
  std::vector<int64_t> xs(ow);
  for (int64_t x = 0; x < ow; ++x) xs[x] = pad_index(x - left, v.w, mode);
  for (int64_t y = 0; y < oh; ++y) {
    uint8_t* dst = o + y * ow * px;
    const int64_t sy = y - top;
    if (mode == PadMode::Constant && (sy < 0 || sy >= v.h)) {
      for (int64_t x = 0; x < ow; ++x) std::memcpy(dst + x * px, fp, px);
      continue;
    }
    const uint8_t* row = in + pad_index(sy, v.h, mode) * v.w * px;
    for (int64_t x = 0; x < ow; ++x) {
      const bool outside = x < left || x >= left + v.w;
      std::memcpy(dst + x * px, mode == PadMode::Constant && outside ? fp : row + xs[x] * px, px);
    }
  }
  return out;
}

Tensor hflip(const Tensor& image) { return dihedral(image, "image.hflip", false, false, true); }
Tensor vflip(const Tensor& image) { return dihedral(image, "image.vflip", false, true, false); }

Tensor rotate(const Tensor& image, double angle, double fill) {
  const char* op = "image.rotate";
  TS_CHECK(std::isfinite(angle), ValueError, op, "angle must be finite, got ", angle);
  const double turns = angle / 90.0;
  if (turns == std::floor(turns)) {
    const int k = static_cast<int>(std::fmod(std::fmod(turns, 4.0) + 4.0, 4.0));
    if (k == 0) return detail::hwc_view(image, op).t.clone();
    if (k == 1) return dihedral(image, op, true, false, true);  // counter-clockwise
    if (k == 2) return dihedral(image, op, false, true, true);
    return dihedral(image, op, true, true, false);
  }
  const detail::View v = detail::hwc_view(image, op);
  TS_CHECK(image.dtype() == DType::UInt8 || image.dtype() == DType::Float32, TypeError, op,
           "arbitrary angles need a uint8 or float32 image, got ", image.dtype());
  Tensor out = detail::new_like(v, v.h, v.w, v.c, image.dtype());
  if (image.dtype() == DType::UInt8)
    rotate_bilinear(v.t.data<uint8_t>(), out.data<uint8_t>(), v.h, v.w, v.c, angle, fill);
  else
    rotate_bilinear(v.t.data<float>(), out.data<float>(), v.h, v.w, v.c, angle, fill);
  return out;
}

Tensor apply_orientation(const Tensor& image, int orientation) {
  const char* op = "image.apply_orientation";
  switch (orientation) {
    case 1:
      return image;
    case 2:
      return dihedral(image, op, false, false, true);  // mirrored
    case 3:
      return dihedral(image, op, false, true, true);  // 180
    case 4:
      return dihedral(image, op, false, true, false);  // mirrored vertically
    case 5:
      return dihedral(image, op, true, false, false);  // transpose
    case 6:
      return dihedral(image, op, true, true, false);  // stored turned left: turn 90 clockwise
    case 7:
      return dihedral(image, op, true, true, true);  // transverse
    case 8:
      return dihedral(image, op, true, false, true);  // turn 90 counter-clockwise
    default:
      fail<ValueError>(op, "EXIF orientation must be 1..8, got ", orientation);
  }
}

}  // namespace tessel::image
