// ONNX image ops: ImageDecoder (encoded bytes -> HWC uint8) through tessel's
// image codec (OpenCV; a build without it raises NotImplementedError), and
// Resize/Upsample (every mode, coordinate transform and nearest rounding of
// the spec, one axis at a time), and the sampling ops AffineGrid, GridSample,
// RoiAlign and MaxRoiPool.
#include <algorithm>
#include <cmath>

#include "src/onnx/internal.h"
#include "tessel/data/image.h"

namespace tessel::onnx {
namespace {

std::vector<Tensor> image_decoder(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dtype() != DType::UInt8) n.error<TypeError>("encoded_stream must be uint8, got ", x.dtype());
  if (x.dim() != 1) n.error("encoded_stream must be 1-D, got shape ", x.shape());
  const std::string fmt = n.s("pixel_format", "RGB");
  if (fmt != "RGB" && fmt != "BGR" && fmt != "Grayscale") n.error("pixel_format must be RGB, BGR or Grayscale");
  Tensor bytes = x.contiguous();
  image::DecodeOptions o;
  o.bgr = fmt == "BGR";
  Tensor img = image::decode(bytes.data_ptr(), static_cast<size_t>(bytes.numel()), o).contiguous();  // HWC uint8
  if (fmt != "Grayscale") return {img};
  // Luma from RGB with ITU-R 601-2 weights in 16-bit fixed point, rounded, as Pillow's convert("L").
  Tensor rgb = img.to(DType::Int64);
  Tensor l = add(add(mul(rgb.select(2, 0), Scalar(int64_t(19595))), mul(rgb.select(2, 1), Scalar(int64_t(38470)))),
                 mul(rgb.select(2, 2), Scalar(int64_t(7471))));
  l = floor_divide(add(l, Scalar(int64_t(0x8000))), Scalar(int64_t(65536)));
  return {l.to(DType::UInt8).unsqueeze(2).contiguous()};
}

// ---- Resize / Upsample ----

struct ResizeAttrs {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double cubic_a = -0.75, extrapolation = 0.0;
  bool exclude_outside = false, antialias = false;
};

int64_t nearest_index(const Node& n, double x, const std::string& how, bool down) {
  if (how == "simple") return down ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(std::floor(x));
  if (how == "floor") return static_cast<int64_t>(std::floor(x));
  if (how == "ceil") return static_cast<int64_t>(std::ceil(x));
  const double f = std::floor(x);
  const bool half = x - f == 0.5;
  if (how == "round_prefer_floor") return static_cast<int64_t>(half ? f : std::round(x));
  if (how == "round_prefer_ceil") return static_cast<int64_t>(half ? f + 1 : std::round(x));
  n.error("nearest_mode '", how, "' must be round_prefer_floor, round_prefer_ceil, floor or ceil");
}

double cubic_weight(double d, double a) {
  d = std::abs(d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

// Resamples one axis: out = sum over taps of w_t * x[idx_t]; out-of-range
// positions in tf_crop_and_resize are recorded in `outside`.
Tensor resize_axis(const Node& n, const Tensor& x, int64_t axis, int64_t out_len, double scale, const ResizeAttrs& a,
                   double roi_start, double roi_end, std::vector<bool>& outside) {
  const int64_t in_len = x.shape()[axis];
  // Antialiased downsampling widens the linear/cubic filter by 1 / scale (onnx's reference).
  const bool wide = a.antialias && a.mode != "nearest" && scale < 1;
  const double fscale = wide ? scale : 1.0;
  const double first = std::floor((a.mode == "linear" ? -1.0 : -2.0) / fscale) + 1;
  if (first < -2048) n.error("antialias with scale ", scale, " needs too wide a filter");
  const int64_t start = wide ? static_cast<int64_t>(first) : (a.mode == "linear" ? 0 : -1);
  const int64_t taps = a.mode == "nearest" ? 1 : 2 - 2 * start;
  std::vector<std::vector<int64_t>> idx(taps, std::vector<int64_t>(out_len));
  std::vector<std::vector<double>> w(taps, std::vector<double>(out_len));
  outside.assign(out_len, false);
  // Coordinates in float32, as onnxruntime computes them (a .5 that float rounds decides nearest).
  const float fs = static_cast<float>(scale), fin = static_cast<float>(in_len), fout = static_cast<float>(out_len);
  const float r0 = static_cast<float>(roi_start), r1 = static_cast<float>(roi_end);
  for (int64_t o = 0; o < out_len; ++o) {
    float xo = 0;
    const float fo = static_cast<float>(o);
    const std::string& c = a.coord;
    if (c == "half_pixel") {
      xo = (fo + 0.5f) / fs - 0.5f;
    } else if (c == "pytorch_half_pixel") {
      xo = out_len > 1 ? (fo + 0.5f) / fs - 0.5f : 0.0f;
    } else if (c == "half_pixel_symmetric") {
      const float adj = fout / (fs * fin), center = fin / 2;
      xo = center * (1 - adj) + (fo + 0.5f) / fs - 0.5f;
    } else if (c == "align_corners") {
      xo = out_len > 1 ? fo * (fin - 1) / (fout - 1) : 0.0f;
    } else if (c == "asymmetric") {
      xo = fo / fs;
    } else if (c == "tf_crop_and_resize") {
      xo = out_len > 1 ? r0 * (fin - 1) + fo * (r1 - r0) * (fin - 1) / (fout - 1) : 0.5f * (r0 + r1) * (fin - 1);
      if (xo < 0 || xo > fin - 1) outside[o] = true;
    } else {
      n.error("coordinate_transformation_mode '", c, "' is not one of half_pixel, half_pixel_symmetric, "
              "pytorch_half_pixel, align_corners, asymmetric, tf_crop_and_resize");
    }
    auto clampi = [&](int64_t i) { return std::clamp<int64_t>(i, 0, in_len - 1); };
    if (a.mode == "nearest") {
      idx[0][o] = clampi(nearest_index(n, xo, a.nearest, scale < 1));
      w[0][o] = 1;
      continue;
    }
    // Taps base + start .. base + start + taps - 1 around xo, base = ceil(xo) - 1 so that
    // the ratio is in (0, 1]; out-of-range taps read the edge (or drop with exclude_outside).
    double x_eff = xo;
    if (a.mode == "linear" && !wide && a.coord != "tf_crop_and_resize") x_eff = std::clamp<double>(xo, 0, in_len - 1);
    const int64_t base = static_cast<int64_t>(std::ceil(x_eff)) - 1;
    const double ratio = x_eff - static_cast<double>(base);
    double sum = 0;
    for (int64_t k = 0; k < taps; ++k) {
      const int64_t i = base + start + k;
      const double arg = fscale * (static_cast<double>(start + k) - ratio);
      double wk = a.mode == "linear" ? std::clamp(1.0 - std::abs(arg), 0.0, 1.0) : cubic_weight(arg, a.cubic_a);
      if (a.exclude_outside && (i < 0 || i >= in_len)) wk = 0;
      idx[k][o] = clampi(i);
      w[k][o] = wk;
      sum += wk;
    }
    if ((wide || a.exclude_outside) && sum != 0)
      for (int64_t k = 0; k < taps; ++k) w[k][o] /= sum;
  }
  Shape wshape(x.dim(), 1);
  wshape[axis] = out_len;
  Tensor y;
  for (int64_t k = 0; k < taps; ++k) {
    Tensor g = index_select(x, axis, from_ints(idx[k]));
    if (taps == 1) return g;
    Tensor wt = from_vector(w[k], {out_len}).to(x.dtype()).reshape(wshape);
    y = k == 0 ? mul(g, wt) : add(y, mul(g, wt));
  }
  return y;
}

Tensor resize_impl(const Node& n, const Tensor& x, std::vector<int64_t> axes, std::vector<double> scales,
                   std::vector<int64_t> sizes, std::vector<double> roi, const ResizeAttrs& a) {
  const int64_t r = x.dim();
  if (a.mode != "nearest" && a.mode != "linear" && a.mode != "cubic")
    n.error("mode '", a.mode, "' must be nearest, linear or cubic");
  if (axes.empty())
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  for (auto& ax : axes) ax = norm_axis(n, ax, r, "axis");
  const size_t k = axes.size();
  if (!scales.empty() && !sizes.empty()) n.error("only one of scales and sizes may be given");
  if (scales.empty() && sizes.empty()) n.error("one of scales and sizes is required");
  if (!scales.empty() && scales.size() != k) n.error("scales must have ", k, " values, got ", scales.size());
  if (!sizes.empty() && sizes.size() != k) n.error("sizes must have ", k, " values, got ", sizes.size());
  Shape out = x.shape();
  std::vector<double> sc(k);
  if (!scales.empty()) {
    for (size_t i = 0; i < k; ++i) {
      if (!(scales[i] > 0) || scales[i] > 1e6) n.error("scales must be positive and finite, got ", scales[i]);
      sc[i] = scales[i];
      // onnxruntime sizes the output in float32, as the scales are float32.
      out[axes[i]] = static_cast<int64_t>(static_cast<float>(scales[i]) * static_cast<float>(x.shape()[axes[i]]));
    }
  } else {
    const std::string policy = n.s("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
      n.error("keep_aspect_ratio_policy '", policy, "' must be stretch, not_larger or not_smaller");
    for (size_t i = 0; i < k; ++i) {
      if (sizes[i] < 0) n.error("sizes must not be negative, got ", sizes);
      sc[i] = static_cast<double>(static_cast<float>(sizes[i]) / static_cast<float>(x.shape()[axes[i]]));
    }
    if (policy != "stretch") {
      double s = policy == "not_larger" ? *std::min_element(sc.begin(), sc.end()) : *std::max_element(sc.begin(), sc.end());
      for (size_t i = 0; i < k; ++i) {
        sc[i] = s;
        sizes[i] = static_cast<int64_t>(std::round(s * x.shape()[axes[i]]));
      }
    }
    for (size_t i = 0; i < k; ++i) out[axes[i]] = sizes[i];
  }
  check_size(n, out, x.dtype());
  if (a.coord == "tf_crop_and_resize" && roi.size() != 2 * k && roi.size() != 2 * static_cast<size_t>(r))
    n.error("tf_crop_and_resize needs roi with ", 2 * k, " values, got ", roi.size());
  const bool integral = !is_floating(x.dtype());
  if (integral && x.dtype() == DType::Bool) n.error<TypeError>("bool input is not supported");
  Tensor y = a.mode != "nearest" && integral ? x.to(DType::Float32) : x;
  Tensor mask;  // positions outside the crop in any axis (tf_crop_and_resize)
  for (size_t i = 0; i < k; ++i) {
    const int64_t ax = axes[i];
    if (out[ax] == x.shape()[ax] && sc[i] == 1.0 && a.coord != "tf_crop_and_resize") continue;
    if (x.shape()[ax] == 0) n.error("cannot resize the empty dim ", ax);
    double rs = 0, re = 1;
    if (!roi.empty()) {
      const size_t j = roi.size() == 2 * k ? i : static_cast<size_t>(ax), half = roi.size() / 2;
      rs = roi[j];
      re = roi[j + half];
    }
    std::vector<bool> outside;
    y = resize_axis(n, y, ax, out[ax], sc[i], a, rs, re, outside);
    if (a.coord == "tf_crop_and_resize") {
      Shape ms(r, 1);
      ms[ax] = out[ax];
      Tensor m = empty({out[ax]}, TensorOptions(DType::Bool));
      for (int64_t o = 0; o < out[ax]; ++o) m.data<bool>()[o] = outside[o];
      m = m.reshape(ms);
      mask = mask.defined() ? logical_or(mask, m) : m;
    }
  }
  if (mask.defined()) y = masked_fill(y, mask, Scalar(a.extrapolation));
  if (y.dtype() != x.dtype()) {
    // Integer images round to the nearest value and saturate, as onnxruntime does.
    const double lo = x.dtype() == DType::UInt8 ? 0 : x.dtype() == DType::Int8 ? -128 : -1e18;
    const double hi = x.dtype() == DType::UInt8 ? 255 : x.dtype() == DType::Int8 ? 127 : 1e18;
    y = clamp(round(y), Scalar(lo), Scalar(hi)).to(x.dtype());
  }
  return y.contiguous();
}

std::vector<double> float_values(const Node& n, const Tensor& t, const char* what) {
  if (!is_floating(t.dtype())) n.error<TypeError>(what, " must be a float tensor, got ", t.dtype());
  return host_doubles(t);
}

std::vector<Tensor> resize(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  ResizeAttrs a;
  a.mode = n.s("mode", "nearest");
  std::vector<double> scales, roi;
  std::vector<int64_t> sizes;
  if (c.opset < 11) {
    // Resize-10 is Upsample generalised: asymmetric coordinates, nearest floors (ceils when shrinking).
    a.coord = "asymmetric";
    a.nearest = "simple";
    scales = float_values(n, input(n, in, 1), "scales");
  } else {
    a.coord = n.s("coordinate_transformation_mode", "half_pixel");
    a.nearest = n.s("nearest_mode", "round_prefer_floor");
    a.cubic_a = n.f("cubic_coeff_a", -0.75);
    a.exclude_outside = n.i("exclude_outside", 0) != 0;
    a.extrapolation = n.f("extrapolation_value", 0.0);
    if (auto t = opt(in, 1); t && t->numel() > 0) roi = float_values(n, *t, "roi");
    if (auto t = opt(in, 2); t && t->numel() > 0) scales = float_values(n, *t, "scales");
    if (auto t = opt(in, 3); t && t->numel() > 0) sizes = int_values(n, *t, "sizes");
  }
  a.antialias = n.i("antialias", 0) != 0;
  return one(resize_impl(n, x, n.ints("axes"), scales, sizes, roi, a));
}

std::vector<Tensor> upsample(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  ResizeAttrs a;
  a.mode = n.s("mode", "nearest");
  if (a.mode == "bilinear") a.mode = "linear";
  a.coord = "asymmetric";
  a.nearest = "simple";
  std::vector<double> scales;
  if (c.opset >= 9) {
    scales = float_values(n, input(n, in, 1), "scales");
  } else {
    auto it = n.attrs.find("scales");
    if (it == n.attrs.end()) n.error("attribute scales is required");
    auto* v = std::get_if<std::vector<double>>(&it->second);
    if (!v) n.error("attribute 'scales' must be a list of floats");
    scales = *v;
  }
  for (double s : scales)
    if (s < 1) n.error("scales must be >= 1, got ", s);
  return one(resize_impl(n, x, {}, scales, {}, {}, a));
}

// ---- sampling: AffineGrid, GridSample, RoiAlign ----

// AffineGrid: theta @ [x, y, (z,) 1] over the normalized output coordinates.
std::vector<Tensor> affine_grid(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& theta = input(n, in, 0);
  const Shape size = int_values(n, input(n, in, 1), "size");
  if (size.size() != 4 && size.size() != 5) n.error("size must be [N, C, H, W] or [N, C, D, H, W], got ", size);
  const int64_t r = static_cast<int64_t>(size.size()) - 2;
  if (theta.dim() != 3 || theta.shape()[0] != size[0] || theta.shape()[1] != r || theta.shape()[2] != r + 1)
    n.error("theta ", theta.shape(), " must be [", size[0], ", ", r, ", ", r + 1, "]");
  if (!is_floating(theta.dtype())) n.error<TypeError>("theta must be a float tensor, got ", theta.dtype());
  const bool align = n.i("align_corners", 0) != 0;
  Shape spatial_size(size.begin() + 2, size.end());
  int64_t points = 1;
  for (int64_t d : spatial_size) {
    if (d < 1 || points > (int64_t{1} << 28) / d) n.error("size ", size, " is invalid or too large");
    points *= d;
  }
  // Base grid [points, r + 1]: the last spatial dim (x) first, then y (, z), then 1.
  Tensor base = empty({points, r + 1}, TensorOptions(DType::Float64));
  double* b = base.data<double>();
  for (int64_t p = 0; p < points; ++p) {
    int64_t rem = p;
    for (int64_t d = r - 1; d >= 0; --d) {
      const int64_t len = spatial_size[d], i = rem % len;
      rem /= len;
      const double c = align ? (len == 1 ? 0.0 : -1.0 + 2.0 * i / (len - 1)) : (2.0 * i + 1) / len - 1;
      b[p * (r + 1) + (r - 1 - d)] = c;
    }
    b[p * (r + 1) + r] = 1.0;
  }
  Tensor grid = matmul(base.to(theta.dtype()), theta.transpose(1, 2));  // [N, points, r]
  Shape out{size[0]};
  out.insert(out.end(), spatial_size.begin(), spatial_size.end());
  out.push_back(r);
  return one(grid.reshape(out).contiguous());
}

double cubic_weight_gs(double d) {
  const double a = -0.75;
  d = std::abs(d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

double gs_reflect(double x, double lo, double hi) {
  const double range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const double dx = lo - x;
    const int64_t k = static_cast<int64_t>(dx / range);
    const double r = dx - k * range;
    return k % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const double dx = x - hi;
    const int64_t k = static_cast<int64_t>(dx / range);
    const double r = dx - k * range;
    return k % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

// GridSample: per output point and spatial dim, the taps (index or -1 for a zero)
// and weights; their products over dims gather from X in one go.
std::vector<Tensor> grid_sample(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& grid = input(n, in, 1);
  const int64_t r = x.dim() - 2;
  if (r < 1 || grid.dim() != r + 2 || grid.shape()[0] != x.shape()[0] || grid.shape()[grid.dim() - 1] != r)
    n.error("X ", x.shape(), " and grid ", grid.shape(), " must be [N, C, spatial...] and [N, out..., ", r, "]");
  if (!is_floating(x.dtype())) n.error<TypeError>("X must be a float tensor, got ", x.dtype());
  std::string mode = n.s("mode", "linear");
  if (mode == "bilinear") mode = "linear";
  if (mode == "bicubic") mode = "cubic";
  if (mode != "linear" && mode != "nearest" && mode != "cubic") n.error("mode '", mode, "' must be linear, nearest or cubic");
  const std::string padding = n.s("padding_mode", "zeros");
  if (padding != "zeros" && padding != "border" && padding != "reflection")
    n.error("padding_mode '", padding, "' must be zeros, border or reflection");
  const bool align = n.i("align_corners", 0) != 0;
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const Shape dims(x.shape().begin() + 2, x.shape().end());
  int64_t plane = 1;
  for (int64_t d : dims) plane *= d;
  const int64_t P = grid.numel() / std::max<int64_t>(N * r, 1);  // output points per batch entry
  const int taps1 = mode == "nearest" ? 1 : mode == "linear" ? 2 : 4;
  int64_t taps = 1;
  for (int64_t d = 0; d < r; ++d) taps *= taps1;
  if (N * P * taps > (int64_t{1} << 31)) n.error("grid ", grid.shape(), " is too large");
  const std::vector<double> g = host_doubles(grid);
  Tensor index = empty({N, 1, P * taps}, TensorOptions(DType::Int64));
  Tensor weight = empty({N, 1, P, taps}, TensorOptions(DType::Float64));
  int64_t* ip = index.data<int64_t>();
  double* wp = weight.data<double>();
  std::vector<std::vector<int64_t>> ti(r, std::vector<int64_t>(taps1));
  std::vector<std::vector<double>> tw(r, std::vector<double>(taps1));
  for (int64_t b = 0; b < N; ++b) {
    for (int64_t p = 0; p < P; ++p) {
      for (int64_t d = 0; d < r; ++d) {
        const int64_t len = dims[d];
        const double lo = align ? 0.0 : -0.5, hi = align ? len - 1.0 : len - 0.5;
        const double c = g[(b * P + p) * r + (r - 1 - d)];  // the grid lists x (the last dim) first
        double xd = align ? (c + 1) / 2 * (len - 1) : ((c + 1) * len - 1) / 2;
        if (mode == "nearest") xd = std::nearbyint(xd);
        if (xd < lo || xd > hi) {
          if (padding == "border") xd = std::clamp<double>(xd, 0, len - 1);
          else if (padding == "reflection") xd = gs_reflect(xd, lo, hi);
        }
        auto tap = [&](int64_t i) -> int64_t {
          if (padding == "zeros") return i >= 0 && i < len ? i : -1;
          if (padding == "border") return std::clamp<int64_t>(i, 0, len - 1);
          return static_cast<int64_t>(gs_reflect(static_cast<double>(i), lo, hi));
        };
        if (mode == "nearest") {
          ti[d][0] = tap(static_cast<int64_t>(xd));
          tw[d][0] = 1;
        } else {
          const int64_t x0 = static_cast<int64_t>(std::floor(xd));
          const double t = xd - x0;
          for (int k = 0; k < taps1; ++k) {
            const int64_t off = mode == "linear" ? k : k - 1;
            ti[d][k] = tap(x0 + off);
            tw[d][k] = mode == "linear" ? (k == 0 ? 1 - t : t) : cubic_weight_gs(t - off);
          }
        }
      }
      for (int64_t q = 0; q < taps; ++q) {
        int64_t flat = 0, rem = q;
        double w = 1;
        bool zero = false;
        for (int64_t d = r - 1; d >= 0; --d) {
          const int64_t k = rem % taps1;
          rem /= taps1;
          if (ti[d][k] < 0) zero = true;
          w *= tw[d][k];
        }
        rem = q;
        int64_t mul_ = 1;
        for (int64_t d = r - 1; d >= 0; --d) {
          const int64_t k = rem % taps1;
          rem /= taps1;
          flat += (ti[d][k] < 0 ? 0 : ti[d][k]) * mul_;
          mul_ *= dims[d];
        }
        ip[b * P * taps + p * taps + q] = flat;
        wp[(b * P + p) * taps + q] = zero ? 0.0 : w;
      }
    }
  }
  Tensor xs = x.reshape({N, C, plane});
  Tensor picked = gather(xs, 2, index.expand({N, C, P * taps}).contiguous()).reshape({N, C, P, taps});
  Tensor y = sum(mul(picked, weight.to(x.dtype())), {3});
  Shape out{N, C};
  out.insert(out.end(), grid.shape().begin() + 1, grid.shape().end() - 1);
  return one(y.reshape(out));
}

// RoiAlign: each output bin averages (or maxes) bilinear samples on a regular grid
// inside its part of the region of interest, following onnxruntime's formulas.
std::vector<Tensor> roi_align(const Node& n, const Inputs& in, const OpContext& c) {
  const Tensor& x = input(n, in, 0);
  const Tensor& rois_t = input(n, in, 1);
  const Tensor& bidx_t = input(n, in, 2);
  if (x.dim() != 4) n.error("X must be [N, C, H, W], got ", x.shape());
  if (!is_floating(x.dtype())) n.error<TypeError>("X must be a float tensor, got ", x.dtype());
  if (rois_t.dim() != 2 || rois_t.shape()[1] != 4) n.error("rois must be [num_rois, 4], got ", rois_t.shape());
  const int64_t R = rois_t.shape()[0];
  std::vector<int64_t> bidx = int_values(n, bidx_t.reshape({-1}), "batch_indices");
  if (static_cast<int64_t>(bidx.size()) != R) n.error("batch_indices must have ", R, " values");
  const std::string mode = n.s("mode", "avg");
  if (mode != "avg" && mode != "max") n.error("mode '", mode, "' must be avg or max");
  const std::string coord = n.s("coordinate_transformation_mode", c.opset >= 16 ? "half_pixel" : "output_half_pixel");
  if (coord != "half_pixel" && coord != "output_half_pixel")
    n.error("coordinate_transformation_mode '", coord, "' must be half_pixel or output_half_pixel");
  const int64_t oh = n.i("output_height", 1), ow = n.i("output_width", 1), ratio = n.i("sampling_ratio", 0);
  if (oh < 1 || ow < 1 || oh > 65536 || ow > 65536) n.error("output_height and output_width must be in [1, 65536]");
  if (ratio < 0 || ratio > 1024) n.error("sampling_ratio ", ratio, " must be in [0, 1024]");
  const double scale = n.f("spatial_scale", 1.0);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const std::vector<double> rois = host_doubles(rois_t);
  Tensor xd = x.to(DType::Float64).contiguous();
  const double* xp = xd.data<double>();
  Tensor y = empty({R, C, oh, ow}, TensorOptions(DType::Float64));
  double* yp = y.data<double>();
  const double off = coord == "half_pixel" ? 0.5 : 0.0;
  struct Tap { int64_t p[4]; double w[4]; };
  for (int64_t r = 0; r < R; ++r) {
    if (bidx[r] < 0 || bidx[r] >= N) n.error<IndexError>("batch index ", bidx[r], " is out of range for N = ", N);
    const double sw = rois[r * 4] * scale - off, sh = rois[r * 4 + 1] * scale - off;
    double rw = rois[r * 4 + 2] * scale - off - sw, rh = rois[r * 4 + 3] * scale - off - sh;
    if (off == 0) {
      rw = std::max(rw, 1.0);
      rh = std::max(rh, 1.0);
    }
    const double bh = rh / oh, bw = rw / ow;
    const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / oh));
    const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / ow));
    if (gh > 4096 || gw > 4096 || oh * ow * gh * gw > (int64_t{1} << 26))
      n.error("region ", r, " needs too many samples (", oh * ow * gh * gw, ")");
    const double count = std::max<double>(static_cast<double>(gh * gw), 1.0);
    // Sample taps per bin, shared by all channels.
    std::vector<Tap> taps;
    taps.reserve(static_cast<size_t>(oh * ow * std::max<int64_t>(gh * gw, 0)));
    for (int64_t ph = 0; ph < oh; ++ph)
      for (int64_t pw = 0; pw < ow; ++pw)
        for (int64_t iy = 0; iy < gh; ++iy)
          for (int64_t ix = 0; ix < gw; ++ix) {
            double yy = sh + ph * bh + (iy + 0.5) * bh / gh, xx = sw + pw * bw + (ix + 0.5) * bw / gw;
            Tap t{{0, 0, 0, 0}, {0, 0, 0, 0}};
            if (!(yy < -1.0 || yy > H || xx < -1.0 || xx > W)) {
              yy = std::max(yy, 0.0);
              xx = std::max(xx, 0.0);
              int64_t y0 = static_cast<int64_t>(yy), x0 = static_cast<int64_t>(xx), y1, x1;
              if (y0 >= H - 1) y1 = y0 = H - 1, yy = static_cast<double>(y0);
              else y1 = y0 + 1;
              if (x0 >= W - 1) x1 = x0 = W - 1, xx = static_cast<double>(x0);
              else x1 = x0 + 1;
              const double ly = yy - y0, lx = xx - x0, hy = 1 - ly, hx = 1 - lx;
              t = Tap{{y0 * W + x0, y0 * W + x1, y1 * W + x0, y1 * W + x1}, {hy * hx, hy * lx, ly * hx, ly * lx}};
            }
            taps.push_back(t);
          }
    const int64_t per_bin = gh * gw;
    for (int64_t ch = 0; ch < C; ++ch) {
      const double* plane = xp + (bidx[r] * C + ch) * H * W;
      for (int64_t b = 0; b < oh * ow; ++b) {
        double acc = 0;
        bool first = true;
        for (int64_t k = 0; k < per_bin; ++k) {
          const Tap& t = taps[b * per_bin + k];
          if (mode == "avg") {
            for (int q = 0; q < 4; ++q) acc += t.w[q] * plane[t.p[q]];
          } else {
            // onnxruntime's max mode: the largest weighted corner of each sample.
            double v = t.w[0] * plane[t.p[0]];
            for (int q = 1; q < 4; ++q) v = std::max(v, t.w[q] * plane[t.p[q]]);
            acc = first ? v : std::max(acc, v);
            first = false;
          }
        }
        yp[(r * C + ch) * oh * ow + b] = mode == "avg" ? acc / count : acc;
      }
    }
  }
  return one(y.to(x.dtype()));
}

// MaxRoiPool (Fast R-CNN's ROI pooling): rois [num_rois, 5] of (batch index, x1, y1,
// x2, y2); each region, scaled and rounded to pixels (inclusive ends, at least one
// pixel), splits into pooled_shape bins of floor/ceil edges, each the max of its
// pixels, 0 for a bin left empty after clipping (onnxruntime's and Caffe's formulas).
std::vector<Tensor> max_roi_pool(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  const Tensor& rois_t = input(n, in, 1);
  if (x.dim() != 4) n.error("X must be [N, C, H, W], got ", x.shape());
  if (!is_floating(x.dtype())) n.error<TypeError>("X must be a float tensor, got ", x.dtype());
  if (rois_t.dim() != 2 || rois_t.shape()[1] != 5) n.error("rois must be [num_rois, 5], got ", rois_t.shape());
  const std::vector<int64_t> pooled = n.ints("pooled_shape");
  if (pooled.size() != 2) n.error("attribute 'pooled_shape' must hold 2 ints, got ", pooled.size());
  const int64_t ph_n = pooled[0], pw_n = pooled[1];
  if (ph_n < 1 || pw_n < 1 || ph_n > 65536 || pw_n > 65536) n.error("pooled_shape must be in [1, 65536]");
  const double scale = n.f("spatial_scale", 1.0);
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3], R = rois_t.shape()[0];
  const std::vector<double> rois = host_doubles(rois_t);
  Tensor xd = x.to(DType::Float64).contiguous();
  const double* xp = xd.data<double>();
  Tensor y = empty({R, C, ph_n, pw_n}, TensorOptions(DType::Float64));
  double* yp = y.data<double>();
  for (int64_t r = 0; r < R; ++r) {
    const double* roi = rois.data() + r * 5;
    if (!std::isfinite(roi[0]) || roi[0] < 0 || roi[0] >= static_cast<double>(N))
      n.error<IndexError>("roi ", r, ": batch index ", roi[0], " is out of range for N = ", N);
    const int64_t b = static_cast<int64_t>(roi[0]);
    int64_t edge[4];
    for (int k = 0; k < 4; ++k) {
      const double v = std::round(roi[k + 1] * scale);
      if (!std::isfinite(v) || std::abs(v) > 1e15) n.error("roi ", r, " has a coordinate out of range: ", roi[k + 1]);
      edge[k] = static_cast<int64_t>(v);
    }
    const int64_t x1 = edge[0], y1 = edge[1], x2 = edge[2], y2 = edge[3];
    const double bin_h = static_cast<double>(std::max<int64_t>(y2 - y1 + 1, 1)) / static_cast<double>(ph_n);
    const double bin_w = static_cast<double>(std::max<int64_t>(x2 - x1 + 1, 1)) / static_cast<double>(pw_n);
    for (int64_t ph = 0; ph < ph_n; ++ph) {
      const int64_t hs = std::clamp<int64_t>(static_cast<int64_t>(std::floor(ph * bin_h)) + y1, 0, H);
      const int64_t he = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((ph + 1) * bin_h)) + y1, 0, H);
      for (int64_t pw = 0; pw < pw_n; ++pw) {
        const int64_t ws = std::clamp<int64_t>(static_cast<int64_t>(std::floor(pw * bin_w)) + x1, 0, W);
        const int64_t we = std::clamp<int64_t>(static_cast<int64_t>(std::ceil((pw + 1) * bin_w)) + x1, 0, W);
        const bool empty_bin = he <= hs || we <= ws;
        for (int64_t ch = 0; ch < C; ++ch) {
          const double* plane = xp + (b * C + ch) * H * W;
          double m = empty_bin ? 0.0 : -INFINITY;
          for (int64_t i = hs; i < he; ++i)
            for (int64_t j = ws; j < we; ++j) m = std::max(m, plane[i * W + j]);
          yp[((r * C + ch) * ph_n + ph) * pw_n + pw] = m;
        }
      }
    }
  }
  return one(y.to(x.dtype()));
}

}  // namespace

void register_image_ops(std::map<std::string, OpFn>& t) {
  t["MaxRoiPool"] = max_roi_pool;
  t["ImageDecoder"] = image_decoder;
  t["Resize"] = resize;
  t["Upsample"] = upsample;
  t["AffineGrid"] = affine_grid;
  t["GridSample"] = grid_sample;
  t["RoiAlign"] = roi_align;
}

}  // namespace tessel::onnx
