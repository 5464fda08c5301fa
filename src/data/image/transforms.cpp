// Image transforms for the data loader: immutable after construction, all
// randomness from the per-item Rng, so any thread count gives the same items.
#include <cmath>
#include <sstream>

#include "src/data/image/image_util.h"
#include "tessel/data/loader.h"

namespace tessel::image {
namespace {

// FileDataset(..., decode="image"): HWC uint8 RGB.
const bool registered = [] {
  data::register_decoder("image", [](const std::string& path) { return read(path); });
  return true;
}();

// torchvision's rule for one requested side: the shorter side becomes `size`,
// the longer one int(size * long / short).
std::array<int64_t, 2> shorter_side(int64_t h, int64_t w, int64_t size) {
  if (w <= h) return {static_cast<int64_t>(static_cast<double>(size) * h / w), size};
  return {size, static_cast<int64_t>(static_cast<double>(size) * w / h)};
}

}  // namespace

namespace detail {
std::array<int64_t, 2> image_hw(const Tensor& x, Layout l) {
  if (l == Layout::CHW || x.dim() == 2) return {x.size(-2), x.size(-1)};
  return {x.size(-3), x.size(-2)};
}

std::string py_bool(bool b) { return b ? "True" : "False"; }

std::string list_repr(const std::vector<double>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str() + "]";
}

void check_nearest_or_bilinear(Interpolation interp, const char* op) {
  TS_CHECK(interp == Interpolation::Nearest || interp == Interpolation::Bilinear, ValueError, op,
           "interpolation must be nearest or bilinear, got ", to_string(interp));
}
}  // namespace detail

namespace {}  // namespace

Tensor Decode::apply(const Tensor& x, data::Rng&) const {
  const char* op = "image.Decode";
  TS_CHECK(x.defined() && x.device().is_cpu() && x.dtype() == DType::UInt8 && x.dim() == 1, ValueError, op,
           "expects the encoded bytes as a 1-D uint8 CPU tensor");
  const Tensor bytes = x.contiguous();
  return decode(bytes.data_ptr(), static_cast<size_t>(bytes.numel()), opts_);
}

std::string Decode::repr() const {
  const char* mode = opts_.mode == ColorMode::Gray ? "gray" : opts_.mode == ColorMode::Unchanged ? "unchanged" : "rgb";
  return tessel::detail::cat("Decode(mode=", mode, ", bgr=", detail::py_bool(opts_.bgr),
                             ", apply_exif_orientation=", detail::py_bool(opts_.apply_exif_orientation), ")");
}

Resize::Resize(int64_t h, int64_t w, Interpolation interp, bool antialias)
    : h_(h), w_(w), interp_(interp), antialias_(antialias) {
  TS_CHECK(h >= 1 && w >= 0, ValueError, "image.Resize", "size must be positive, got (", h, ", ", w, ")");
}

Tensor Resize::apply(const Tensor& x, data::Rng&) const {
  const Layout l = resolve_layout(x, Layout::Auto, "image.Resize");
  const auto [h, w] = detail::image_hw(x, l);
  // shorter_side divides by the sides
  TS_CHECK(h > 0 && w > 0, ValueError, "image.Resize", "empty image of shape ", x.shape());
  const auto [oh, ow] = w_ == 0 ? shorter_side(h, w, h_) : std::array<int64_t, 2>{h_, w_};
  return resize(x, oh, ow, interp_, antialias_, l);
}

std::string Resize::repr() const {
  std::ostringstream os;
  os << "Resize(size=";
  if (w_ == 0)
    os << h_;
  else
    os << "[" << h_ << ", " << w_ << "]";
  os << ", interpolation=" << to_string(interp_) << ", antialias=" << detail::py_bool(antialias_) << ")";
  return os.str();
}

CenterCrop::CenterCrop(int64_t h, int64_t w) : h_(h), w_(w) {
  TS_CHECK(h >= 1 && w >= 1, ValueError, "image.CenterCrop", "size must be positive, got (", h, ", ", w, ")");
}
Tensor CenterCrop::apply(const Tensor& x, data::Rng&) const { return center_crop(x, h_, w_); }
std::string CenterCrop::repr() const { return tessel::detail::cat("CenterCrop(size=[", h_, ", ", w_, "])"); }

RandomResizedCrop::RandomResizedCrop(int64_t h, int64_t w, std::array<double, 2> scale, std::array<double, 2> ratio,
                                     Interpolation interp, bool antialias)
    : h_(h), w_(w), scale_(scale), ratio_(ratio), interp_(interp), antialias_(antialias) {
  const char* op = "image.RandomResizedCrop";
  TS_CHECK(h >= 1 && w >= 1, ValueError, op, "size must be positive, got (", h, ", ", w, ")");
  TS_CHECK(scale[0] > 0 && scale[0] <= scale[1], ValueError, op, "scale must be (min, max) with 0 < min <= max, got (",
           scale[0], ", ", scale[1], ")");
  TS_CHECK(ratio[0] > 0 && ratio[0] <= ratio[1], ValueError, op, "ratio must be (min, max) with 0 < min <= max, got (",
           ratio[0], ", ", ratio[1], ")");
}

std::array<int64_t, 4> RandomResizedCrop::params(int64_t height, int64_t width, data::Rng& rng) const {
  const double area = static_cast<double>(height) * width;
  const double log_lo = std::log(ratio_[0]), log_hi = std::log(ratio_[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale_[0], scale_[1]);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    // Python's round(): half to even.
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target * aspect)));
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int64_t top = rng.integer(0, height - h), left = rng.integer(0, width - w);
      return {top, left, h, w};
    }
  }
  // Fallback: the whole image, or its center with the ratio clamped.
  const double in_ratio = static_cast<double>(width) / height;
  int64_t w = width, h = height;
  if (in_ratio < ratio_[0])
    h = static_cast<int64_t>(std::nearbyint(w / ratio_[0]));
  else if (in_ratio > ratio_[1])
    w = static_cast<int64_t>(std::nearbyint(h * ratio_[1]));
  return {(height - h) / 2, (width - w) / 2, h, w};
}

Tensor RandomResizedCrop::apply(const Tensor& x, data::Rng& rng) const {
  const Layout l = resolve_layout(x, Layout::Auto, "image.RandomResizedCrop");
  const auto [height, width] = detail::image_hw(x, l);
  // params divides by the sides
  TS_CHECK(height > 0 && width > 0, ValueError, "image.RandomResizedCrop", "empty image of shape ", x.shape());
  const auto [top, left, h, w] = params(height, width, rng);
  return resize(crop(x, top, left, h, w, l), h_, w_, interp_, antialias_, l);
}

std::string RandomResizedCrop::repr() const {
  return tessel::detail::cat("RandomResizedCrop(size=[", h_, ", ", w_, "], scale=(", scale_[0], ", ", scale_[1],
                             "), ratio=(", ratio_[0], ", ", ratio_[1], "), interpolation=", to_string(interp_),
                             ", antialias=", detail::py_bool(antialias_), ")");
}

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  TS_CHECK(p >= 0 && p <= 1, ValueError, "image.RandomHorizontalFlip", "p must be in [0, 1], got ", p);
}
Tensor RandomHorizontalFlip::apply(const Tensor& x, data::Rng& rng) const { return rng.bernoulli(p_) ? hflip(x) : x; }
std::string RandomHorizontalFlip::repr() const { return tessel::detail::cat("RandomHorizontalFlip(p=", p_, ")"); }

ColorJitter::ColorJitter(double brightness, double contrast, double saturation, double hue)
    : brightness_(brightness), contrast_(contrast), saturation_(saturation), hue_(hue) {
  const char* op = "image.ColorJitter";
  TS_CHECK(brightness >= 0 && contrast >= 0 && saturation >= 0, ValueError, op,
           "brightness, contrast and saturation must be >= 0");
  TS_CHECK(hue >= 0 && hue <= 0.5, ValueError, op, "hue must be in [0, 0.5], got ", hue);
}

Tensor ColorJitter::apply(const Tensor& x, data::Rng& rng) const {
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[i], order[rng.integer(0, i)]);  // Fisher-Yates
  // Factors are drawn in a fixed order (b, c, s, h), as torchvision's get_params.
  const double b = brightness_ > 0 ? rng.uniform(std::max(0.0, 1 - brightness_), 1 + brightness_) : 1.0;
  const double c = contrast_ > 0 ? rng.uniform(std::max(0.0, 1 - contrast_), 1 + contrast_) : 1.0;
  const double s = saturation_ > 0 ? rng.uniform(std::max(0.0, 1 - saturation_), 1 + saturation_) : 1.0;
  const double h = hue_ > 0 ? rng.uniform(-hue_, hue_) : 0.0;
  Tensor y = x;
  for (int k : order) {
    if (k == 0 && brightness_ > 0) y = adjust_brightness(y, b);
    if (k == 1 && contrast_ > 0) y = adjust_contrast(y, c);
    if (k == 2 && saturation_ > 0) y = adjust_saturation(y, s);
    if (k == 3 && hue_ > 0) y = adjust_hue(y, h);
  }
  return y;
}

std::string ColorJitter::repr() const {
  return tessel::detail::cat("ColorJitter(brightness=", brightness_, ", contrast=", contrast_,
                             ", saturation=", saturation_, ", hue=", hue_, ")");
}

Normalize::Normalize(std::vector<double> mean, std::vector<double> std) : mean_(std::move(mean)), std_(std::move(std)) {
  TS_CHECK(!mean_.empty() && mean_.size() == std_.size(), ValueError, "image.Normalize",
           "mean and std must be non-empty and of the same length");
}
Tensor Normalize::apply(const Tensor& x, data::Rng&) const { return normalize(x, mean_, std_); }
std::string Normalize::repr() const { return "Normalize(mean=" + detail::list_repr(mean_) + ", std=" + detail::list_repr(std_) + ")"; }

Tensor ToTensor::apply(const Tensor& x, data::Rng&) const { return to_tensor(x); }

}  // namespace tessel::image
