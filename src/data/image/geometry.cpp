// Crops, pads, flips and rotations of HWC (or HW) images. Index maps copy
// whole pixels, so they work for every dtype; only the bilinear rotation reads
// the values (uint8 and float32).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>
#include <type_traits>
#include <utility>
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
  if (mode == PadMode::Symmetric) {  // the edge repeated (NumPy "symmetric")
    const int64_t period = 2 * n;
    const int64_t k = ((i % period) + period) % period;
    return k < n ? k : period - 1 - k;
  }
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);  // reflect without repeating the edge (NumPy "reflect")
  int64_t k = ((i % period) + period) % period;
  return k < n ? k : period - k;
}

// torchvision's _get_inverse_affine_matrix: output -> input, in coordinates
// centred on the image (pixel centres at +-0.5, ...), y down.
std::array<double, 6> inverse_affine(double cx, double cy, double angle, double tx, double ty, double scale, double shx,
                                     double shy) {
  const double rad = std::numbers::pi / 180.0;
  const double rot = angle * rad, sx = shx * rad, sy = shy * rad;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::array<double, 6> m = {d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0};
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty) + cx;
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty) + cy;
  return m;
}

// grid_sample(align_corners=False, zeros padding) of an affine grid, as
// torchvision's tensor path. With a fill, a sampled mask blends it in
// (nearest: mask < 0.5 takes the fill); without one, outside is 0.
template <class T>
void warp(const T* in, T* out, int64_t h, int64_t w, int64_t c, int64_t oh, int64_t ow, const std::array<double, 6>& m,
          bool nearest, const std::vector<double>& fill) {
  const bool has_fill = !fill.empty();
  // The float32 rows of torchvision's rescaled theta (theta / (w/2, h/2)).
  const float hw = static_cast<float>(w) * 0.5f, hh = static_cast<float>(h) * 0.5f;
  const float rx[3] = {static_cast<float>(m[0]) / hw, static_cast<float>(m[1]) / hw, static_cast<float>(m[2]) / hw};
  const float ry[3] = {static_cast<float>(m[3]) / hh, static_cast<float>(m[4]) / hh, static_cast<float>(m[5]) / hh};
  auto fill_of = [&](int64_t k) { return has_fill ? fill[fill.size() == 1 ? 0 : k] : 0.0; };
  auto store = [&](T* o, double v) {
    if constexpr (std::is_same_v<T, uint8_t>)
      *o = static_cast<uint8_t>(std::clamp(std::nearbyint(v), 0.0, 255.0));
    else
      *o = static_cast<T>(v);
  };
  for (int64_t y = 0; y < oh; ++y) {
    for (int64_t x = 0; x < ow; ++x) {
      const double xo = x + 0.5 - ow * 0.5, yo = y + 0.5 - oh * 0.5;
      const double sx = m[0] * xo + m[1] * yo + m[2] + w * 0.5 - 0.5;
      const double sy = m[3] * xo + m[4] * yo + m[5] + h * 0.5 - 0.5;
      T* o = out + (y * ow + x) * c;
      if (nearest) {
        // Ties (x.5) are common (30 degrees, odd/even sizes): round them as torchvision does,
        // float32 grid -> normalized -> unnormalized, then half to even.
        const float gx = static_cast<float>(xo) * rx[0] + static_cast<float>(yo) * rx[1] + rx[2];
        const float gy = static_cast<float>(xo) * ry[0] + static_cast<float>(yo) * ry[1] + ry[2];
        const float ix = std::nearbyint(((gx + 1.0f) * static_cast<float>(w) - 1.0f) / 2.0f);
        const float iy = std::nearbyint(((gy + 1.0f) * static_cast<float>(h) - 1.0f) / 2.0f);
        if (ix >= 0 && ix < w && iy >= 0 && iy < h) {
          const T* p = in + (static_cast<int64_t>(iy) * w + static_cast<int64_t>(ix)) * c;
          for (int64_t k = 0; k < c; ++k) o[k] = p[k];
        } else {
          for (int64_t k = 0; k < c; ++k) store(o + k, fill_of(k));
        }
        continue;
      }
      const double fx0 = std::floor(sx), fy0 = std::floor(sy);
      const double ax = sx - fx0, ay = sy - fy0;
      const int64_t x0 = static_cast<int64_t>(fx0), y0 = static_cast<int64_t>(fy0);
      const double wts[4] = {(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay};
      const int64_t xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
      double mask = 0.0;
      for (int j = 0; j < 4; ++j)
        if (xs[j] >= 0 && xs[j] < w && ys[j] >= 0 && ys[j] < h) mask += wts[j];
      for (int64_t k = 0; k < c; ++k) {
        double v = 0.0;
        for (int j = 0; j < 4; ++j)
          if (xs[j] >= 0 && xs[j] < w && ys[j] >= 0 && ys[j] < h) v += wts[j] * in[(ys[j] * w + xs[j]) * c + k];
        if (has_fill) v = mask * (v - fill_of(k)) + fill_of(k);
        store(o + k, v);
      }
    }
  }
}

// Dims of H and W in layout l.
std::array<int64_t, 2> hw_dims(const Tensor& x, Layout l) {
  if (l == Layout::CHW || x.dim() == 2) return {x.dim() - 2, x.dim() - 1};
  return {x.dim() - 3, x.dim() - 2};
}

Tensor finish(Tensor t, Layout l) { return l == Layout::HWC ? detail::mark(std::move(t)) : t; }

void check_fill(const std::vector<double>& fill, const char* op) {
  for (double f : fill) TS_CHECK(std::isfinite(f), ValueError, op, "fill must be finite, got ", f);
}

Tensor warp_image(const Tensor& image, Layout l, const std::array<double, 6>& m, int64_t oh, int64_t ow,
                  Interpolation interp, const std::vector<double>& fill, const char* op) {
  TS_CHECK(interp == Interpolation::Nearest || interp == Interpolation::Bilinear, ValueError, op,
           "interpolation must be nearest or bilinear, got ", to_string(interp));
  TS_CHECK(image.dtype() == DType::UInt8 || image.dtype() == DType::Float32, TypeError, op,
           "expected a uint8 or float32 image, got ", image.dtype());
  check_fill(fill, op);
  return detail::map_images(
      image, l,
      [&](const Tensor& one) {
        const detail::View v = detail::hwc_view(one, op);
        TS_CHECK(fill.size() <= 1 || static_cast<int64_t>(fill.size()) == v.c, ValueError, op,
                 "fill needs 1 value or one per channel (", v.c, "), got ", fill.size());
        Tensor out = detail::new_like(v, oh, ow, v.c, one.dtype());
        if (one.dtype() == DType::UInt8)
          warp(v.t.data<uint8_t>(), out.data<uint8_t>(), v.h, v.w, v.c, oh, ow, m, interp == Interpolation::Nearest,
               fill);
        else
          warp(v.t.data<float>(), out.data<float>(), v.h, v.w, v.c, oh, ow, m, interp == Interpolation::Nearest, fill);
        return out;
      },
      op);
}

}  // namespace

Tensor crop(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, Layout layout) {
  const char* op = "image.crop";
  const Layout l = resolve_layout(image, layout, op);
  TS_CHECK(h >= 1 && w >= 1, ValueError, op, "crop size must be positive, got (", h, ", ", w, ")");
  const auto [dh, dw] = hw_dims(image, l);
  const int64_t H = image.size(dh), W = image.size(dw);
  TS_CHECK(H > 0 && W > 0, ValueError, op, "empty image of shape ", image.shape());
  if (top >= 0 && left >= 0 && top + h <= H && left + w <= W)
    return finish(image.slice(dh, top, top + h).slice(dw, left, left + w).clone(), l);
  // torchvision: what lies outside the image is zeros.
  const int64_t pt = std::max<int64_t>(0, -top), pb = std::max<int64_t>(0, top + h - H);
  const int64_t pl = std::max<int64_t>(0, -left), pr = std::max<int64_t>(0, left + w - W);
  const Tensor padded = pad(image, pt, pb, pl, pr, PadMode::Constant, {0.0}, l);
  return crop(padded, top + pt, left + pl, h, w, l);
}

Tensor center_crop(const Tensor& image, int64_t h, int64_t w, Layout layout) {
  const char* op = "image.center_crop";
  const Layout l = resolve_layout(image, layout, op);
  TS_CHECK(h >= 1 && w >= 1, ValueError, op, "crop size must be positive, got (", h, ", ", w, ")");
  const auto [dh, dw] = hw_dims(image, l);
  const int64_t H = image.size(dh), W = image.size(dw);
  // torchvision: int(round((H - h) / 2.0)), Python's round (half to even); a
  // larger crop pads first (zeros, the extra row/column at the bottom/right).
  if (h > H || w > W) {
    const int64_t ph = std::max<int64_t>(0, h - H), pw = std::max<int64_t>(0, w - W);
    const Tensor padded = pad(image, ph / 2, (ph + 1) / 2, pw / 2, (pw + 1) / 2, PadMode::Constant, {0.0}, l);
    return center_crop(padded, h, w, l);
  }
  const auto top = static_cast<int64_t>(std::nearbyint((H - h) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((W - w) / 2.0));
  return crop(image, top, left, h, w, l);
}

PadMode pad_mode_from_string(std::string_view s) {
  if (s == "constant") return PadMode::Constant;
  if (s == "edge" || s == "replicate") return PadMode::Edge;
  if (s == "reflect") return PadMode::Reflect;
  if (s == "symmetric") return PadMode::Symmetric;
  fail<ValueError>("image.pad", "unknown padding mode '", std::string(s),
                   "'; expected constant, edge, reflect or symmetric");
}

Tensor pad(const Tensor& image, int64_t top, int64_t bottom, int64_t left, int64_t right, PadMode mode,
           std::vector<double> value, Layout layout) {
  const char* op = "image.pad";
  const Layout l = resolve_layout(image, layout, op);
  TS_CHECK(top >= 0 && bottom >= 0 && left >= 0 && right >= 0, ValueError, op, "padding must be >= 0, got (", top, ", ",
           bottom, ", ", left, ", ", right, ")");
  TS_CHECK(!value.empty(), ValueError, op, "fill needs at least one value");
  check_fill(value, op);
  return detail::map_images(
      image, l,
      [&](const Tensor& one) {
        const detail::View v = detail::hwc_view(one, op);
        TS_CHECK(value.size() == 1 || static_cast<int64_t>(value.size()) == v.c, ValueError, op,
                 "fill needs 1 value or one per channel (", v.c, "), got ", value.size());
        const int64_t oh = v.h + top + bottom, ow = v.w + left + right;
        Tensor out = detail::new_like(v, oh, ow, v.c, one.dtype());
        const size_t px = static_cast<size_t>(v.c) * v.t.itemsize();
        const auto* in = static_cast<const uint8_t*>(v.t.data_ptr());
        auto* o = static_cast<uint8_t*>(out.data_ptr());
        // The fill pixel in the image's dtype.
        Tensor fill = empty({v.c}, DType::Float64);
        for (int64_t k = 0; k < v.c; ++k) fill.data<double>()[k] = value[value.size() == 1 ? 0 : k];
        fill = fill.to(one.dtype());
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
      },
      op);
}

Tensor hflip(const Tensor& image, Layout layout) {
  const Layout l = resolve_layout(image, layout, "image.hflip");
  return finish(flip(image, {hw_dims(image, l)[1]}), l);
}

Tensor vflip(const Tensor& image, Layout layout) {
  const Layout l = resolve_layout(image, layout, "image.vflip");
  return finish(flip(image, {hw_dims(image, l)[0]}), l);
}

Tensor rotate(const Tensor& image, double angle, Interpolation interp, bool expand, std::vector<double> center,
              std::vector<double> fill, Layout layout) {
  const char* op = "image.rotate";
  const Layout l = resolve_layout(image, layout, op);
  TS_CHECK(std::isfinite(angle), ValueError, op, "angle must be finite, got ", angle);
  TS_CHECK(center.empty() || center.size() == 2, ValueError, op, "center must be (x, y), got ", center.size(),
           " values");
  const auto [dh, dw] = hw_dims(image, l);
  const int64_t H = image.size(dh), W = image.size(dw);
  TS_CHECK(H > 0 && W > 0, ValueError, op, "empty image of shape ", image.shape());
  const double turns = angle / 90.0;
  if (center.empty() && turns == std::floor(turns)) {
    // Exact: pixel centres land on pixel centres.
    const int k = static_cast<int>(std::fmod(std::fmod(turns, 4.0) + 4.0, 4.0));
    if (k == 0) return finish(image.contiguous().clone(), l);
    if (k == 2) return finish(flip(image, {dh, dw}), l);
    if (expand || H == W) {
      // 90 counter-clockwise: transpose, then flip the rows (numpy.rot90).
      const Tensor t = image.transpose(dh, dw);
      return finish(flip(t, {k == 1 ? dh : dw}), l);
    }
  }
  const double cx = center.empty() ? 0.0 : center[0] - W * 0.5, cy = center.empty() ? 0.0 : center[1] - H * 0.5;
  const std::array<double, 6> m = inverse_affine(cx, cy, -angle, 0, 0, 1, 0, 0);
  int64_t oh = H, ow = W;
  if (expand) {
    // torchvision's _compute_affine_output_size: the corners through the matrix.
    double lo[2] = {1e300, 1e300}, hi[2] = {-1e300, -1e300};
    for (const auto& [px, py] :
         {std::pair{-0.5 * W, -0.5 * H}, {-0.5 * W, 0.5 * H}, {0.5 * W, 0.5 * H}, {0.5 * W, -0.5 * H}}) {
      const double qx = m[0] * px + m[1] * py + m[2], qy = m[3] * px + m[4] * py + m[5];
      lo[0] = std::min(lo[0], qx), hi[0] = std::max(hi[0], qx);
      lo[1] = std::min(lo[1], qy), hi[1] = std::max(hi[1], qy);
    }
    const double tol = 1e-4, half[2] = {W * 0.5, H * 0.5};
    int64_t size[2];
    for (int i = 0; i < 2; ++i) {
      const double cmax = std::ceil(std::trunc((hi[i] + half[i]) / tol) * tol);
      const double cmin = std::floor(std::trunc((lo[i] + half[i]) / tol) * tol);
      size[i] = static_cast<int64_t>(cmax - cmin);
    }
    ow = size[0], oh = size[1];
  }
  return warp_image(image, l, m, oh, ow, interp, fill, op);
}

Tensor affine(const Tensor& image, double angle, std::array<double, 2> translate, double scale,
              std::array<double, 2> shear, Interpolation interp, std::vector<double> fill, std::vector<double> center,
              Layout layout) {
  const char* op = "image.affine";
  const Layout l = resolve_layout(image, layout, op);
  TS_CHECK(std::isfinite(angle) && std::isfinite(translate[0]) && std::isfinite(translate[1]) &&
               std::isfinite(shear[0]) && std::isfinite(shear[1]),
           ValueError, op, "angle, translate and shear must be finite");
  TS_CHECK(scale > 0 && std::isfinite(scale), ValueError, op, "scale must be positive, got ", scale);
  TS_CHECK(center.empty() || center.size() == 2, ValueError, op, "center must be (x, y), got ", center.size(),
           " values");
  const auto [dh, dw] = hw_dims(image, l);
  const int64_t H = image.size(dh), W = image.size(dw);
  const double cx = center.empty() ? 0.0 : center[0] - W * 0.5, cy = center.empty() ? 0.0 : center[1] - H * 0.5;
  const std::array<double, 6> m = inverse_affine(cx, cy, angle, translate[0], translate[1], scale, shear[0], shear[1]);
  return warp_image(image, l, m, image.size(dh), image.size(dw), interp, fill, op);
}

Tensor apply_orientation(const Tensor& image, int orientation) {
  const char* op = "image.apply_orientation";
  switch (orientation) {
    case 1:
      return image;
    case 2:
      return detail::mark(dihedral(image, op, false, false, true));  // mirrored
    case 3:
      return detail::mark(dihedral(image, op, false, true, true));  // 180
    case 4:
      return detail::mark(dihedral(image, op, false, true, false));  // mirrored vertically
    case 5:
      return detail::mark(dihedral(image, op, true, false, false));  // transpose
    case 6:
      return detail::mark(dihedral(image, op, true, true, false));  // stored turned left: turn 90 clockwise
    case 7:
      return detail::mark(dihedral(image, op, true, true, true));  // transverse
    case 8:
      return detail::mark(dihedral(image, op, true, false, true));  // turn 90 counter-clockwise
    default:
      fail<ValueError>(op, "EXIF orientation must be 1..8, got ", orientation);
  }
}

}  // namespace tessel::image
