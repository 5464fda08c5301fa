// The augmentation transforms of the usual training recipes, with torchvision's
// arguments, defaults and sampling. All randomness comes from the per-item Rng.
#include <cmath>
#include <numbers>

#include "src/data/image/image_util.h"

namespace tessel::image {
namespace {

using detail::list_repr;
using detail::py_bool;

const char* mode_name(PadMode m) {
  switch (m) {
    case PadMode::Constant:
      return "constant";
    case PadMode::Edge:
      return "edge";
    case PadMode::Reflect:
      return "reflect";
    case PadMode::Symmetric:
      return "symmetric";
  }
  return "?";
}

void check_p(double p, const char* op) { TS_CHECK(p >= 0 && p <= 1, ValueError, op, "p must be in [0, 1], got ", p); }

std::string list_repr(const std::vector<data::TransformPtr>& ts) {
  std::string s = "[";
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i) s += ", ";
    s += ts[i]->repr();
  }
  return s + "]";
}

// Channels of x in layout l (1 for HW).
int64_t channels(const Tensor& x, Layout l) {
  if (x.dim() == 2) return 1;
  return l == Layout::CHW ? x.size(-3) : x.size(-1);
}

}  // namespace

// ---- Pad ----

Pad::Pad(std::array<int64_t, 4> padding, std::vector<double> fill, PadMode mode)
    : padding_(padding), fill_(std::move(fill)), mode_(mode) {
  for (int64_t p : padding_)
    TS_CHECK(p >= 0, ValueError, "image.Pad", "padding must be >= 0, got (", padding_[0], ", ", padding_[1], ", ",
             padding_[2], ", ", padding_[3], ")");
  TS_CHECK(!fill_.empty(), ValueError, "image.Pad", "fill needs at least one value");
}

Tensor Pad::apply(const Tensor& x, data::Rng&) const {
  return pad(x, padding_[1], padding_[3], padding_[0], padding_[2], mode_, fill_);
}

std::string Pad::repr() const {
  return tessel::detail::cat("Pad(padding=[", padding_[0], ", ", padding_[1], ", ", padding_[2], ", ", padding_[3],
                             "], fill=", list_repr(fill_), ", padding_mode=", mode_name(mode_), ")");
}

// ---- RandomCrop ----

RandomCrop::RandomCrop(int64_t h, int64_t w, std::array<int64_t, 4> padding, bool pad_if_needed,
                       std::vector<double> fill, PadMode mode)
    : h_(h), w_(w), padding_(padding), pad_if_needed_(pad_if_needed), fill_(std::move(fill)), mode_(mode) {
  const char* op = "image.RandomCrop";
  TS_CHECK(h >= 1 && w >= 1, ValueError, op, "size must be positive, got (", h, ", ", w, ")");
  for (int64_t p : padding_) TS_CHECK(p >= 0, ValueError, op, "padding must be >= 0");
  TS_CHECK(!fill_.empty(), ValueError, op, "fill needs at least one value");
}

Tensor RandomCrop::apply(const Tensor& x, data::Rng& rng) const {
  const char* op = "image.RandomCrop";
  const Layout l = resolve_layout(x, Layout::Auto, op);
  Tensor y = x;
  if (padding_[0] || padding_[1] || padding_[2] || padding_[3])
    y = pad(y, padding_[1], padding_[3], padding_[0], padding_[2], mode_, fill_, l);
  auto [h, w] = detail::image_hw(y, l);
  // torchvision pads both ends by the whole difference.
  if (pad_if_needed_ && w < w_) y = pad(y, 0, 0, w_ - w, w_ - w, mode_, fill_, l);
  if (pad_if_needed_ && h < h_) y = pad(y, h_ - h, h_ - h, 0, 0, mode_, fill_, l);
  std::tie(h, w) = std::pair{detail::image_hw(y, l)[0], detail::image_hw(y, l)[1]};
  TS_CHECK(h >= h_ && w >= w_, ValueError, op, "required crop size (", h_, ", ", w_,
           ") is larger than the input image size (", h, ", ", w, ")");
  const int64_t top = rng.integer(0, h - h_), left = rng.integer(0, w - w_);
  return crop(y, top, left, h_, w_, l);
}

std::string RandomCrop::repr() const {
  return tessel::detail::cat("RandomCrop(size=[", h_, ", ", w_, "], padding=[", padding_[0], ", ", padding_[1], ", ",
                             padding_[2], ", ", padding_[3], "], pad_if_needed=", py_bool(pad_if_needed_),
                             ", fill=", list_repr(fill_), ", padding_mode=", mode_name(mode_), ")");
}

// ---- RandomVerticalFlip ----

RandomVerticalFlip::RandomVerticalFlip(double p) : p_(p) { check_p(p, "image.RandomVerticalFlip"); }
Tensor RandomVerticalFlip::apply(const Tensor& x, data::Rng& rng) const { return rng.bernoulli(p_) ? vflip(x) : x; }
std::string RandomVerticalFlip::repr() const { return tessel::detail::cat("RandomVerticalFlip(p=", p_, ")"); }

// ---- RandomRotation ----

RandomRotation::RandomRotation(double lo, double hi, Interpolation interp, bool expand, std::vector<double> center,
                               std::vector<double> fill)
    : lo_(lo), hi_(hi), interp_(interp), expand_(expand), center_(std::move(center)), fill_(std::move(fill)) {
  const char* op = "image.RandomRotation";
  TS_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, ValueError, op,
           "degrees must be (min, max) with min <= max, got (", lo, ", ", hi, ")");
  detail::check_nearest_or_bilinear(interp, op);
  TS_CHECK(center_.empty() || center_.size() == 2, ValueError, op, "center must be (x, y)");
  TS_CHECK(!fill_.empty(), ValueError, op, "fill needs at least one value");
}

Tensor RandomRotation::apply(const Tensor& x, data::Rng& rng) const {
  const double angle = rng.uniform(lo_, hi_);
  return rotate(x, angle, interp_, expand_, center_, fill_);
}

std::string RandomRotation::repr() const {
  std::string c = center_.empty() ? "None" : list_repr(center_);
  return tessel::detail::cat("RandomRotation(degrees=[", lo_, ", ", hi_, "], interpolation=", to_string(interp_),
                             ", expand=", py_bool(expand_), ", center=", c, ", fill=", list_repr(fill_), ")");
}

// ---- RandomErasing ----

RandomErasing::RandomErasing(double p, std::array<double, 2> scale, std::array<double, 2> ratio,
                             std::vector<double> value, bool random_value, bool inplace)
    : p_(p), scale_(scale), ratio_(ratio), value_(std::move(value)), random_value_(random_value), inplace_(inplace) {
  const char* op = "image.RandomErasing";
  check_p(p, op);
  TS_CHECK(scale[0] >= 0 && scale[0] <= scale[1] && scale[1] <= 1, ValueError, op,
           "scale must be (min, max) with 0 <= min <= max <= 1, got (", scale[0], ", ", scale[1], ")");
  TS_CHECK(ratio[0] > 0 && ratio[0] <= ratio[1], ValueError, op, "ratio must be (min, max) with 0 < min <= max, got (",
           ratio[0], ", ", ratio[1], ")");
  TS_CHECK(random_value_ || !value_.empty(), ValueError, op, "value needs at least one number");
}

Tensor RandomErasing::apply(const Tensor& x, data::Rng& rng) const {
  const char* op = "image.RandomErasing";
  TS_CHECK(x.defined() && !is_image(x), TypeError, op, "works on [..., C, H, W] tensors, got a decoded HWC image",
           " (convert it with ToTensor first)");
  TS_CHECK(x.dim() >= 3, ValueError, op, "expected a [..., C, H, W] tensor, got shape ", x.shape());
  const int64_t C = x.size(-3), H = x.size(-2), W = x.size(-1);
  TS_CHECK(random_value_ || value_.size() == 1 || static_cast<int64_t>(value_.size()) == C, ValueError, op,
           "value needs 1 number or one per channel (", C, "), got ", value_.size());
  if (!rng.bernoulli(p_)) return x;
  const double area = static_cast<double>(H) * W;
  const double log_lo = std::log(ratio_[0]), log_hi = std::log(ratio_[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(scale_[0], scale_[1]);
    const double aspect = std::exp(rng.uniform(log_lo, log_hi));
    // torchvision: h from area * ratio, w from area / ratio; round half to even.
    const auto h = static_cast<int64_t>(std::nearbyint(std::sqrt(target * aspect)));
    const auto w = static_cast<int64_t>(std::nearbyint(std::sqrt(target / aspect)));
    if (!(h < H && w < W)) continue;
    Tensor v;
    if (random_value_) {
      v = empty({C, h, w}, DType::Float32);
      float* p = v.data<float>();
      for (int64_t i = 0; i < v.numel(); ++i) {  // Box-Muller
        const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
        p[i] = static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
      }
    } else {
      v = empty({static_cast<int64_t>(value_.size())}, DType::Float64);
      for (size_t i = 0; i < value_.size(); ++i) v.data<double>()[i] = value_[i];
    }
    const int64_t top = rng.integer(0, H - h), left = rng.integer(0, W - w);
    return erase(x, top, left, h, w, v, inplace_);
  }
  return x;
}

std::string RandomErasing::repr() const {
  return tessel::detail::cat("RandomErasing(p=", p_, ", scale=(", scale_[0], ", ", scale_[1], "), ratio=(", ratio_[0],
                             ", ", ratio_[1], "), value=", random_value_ ? "random" : list_repr(value_),
                             ", inplace=", py_bool(inplace_), ")");
}

// ---- GaussianBlur ----

GaussianBlur::GaussianBlur(std::array<int64_t, 2> kernel_size, std::array<double, 2> sigma)
    : kernel_(kernel_size), sigma_(sigma) {
  const char* op = "image.GaussianBlur";
  for (int64_t k : kernel_)
    TS_CHECK(k > 0 && k % 2 == 1, ValueError, op, "kernel_size must be odd and positive, got (", kernel_[0], ", ",
             kernel_[1], ")");
  TS_CHECK(sigma[0] > 0 && sigma[0] <= sigma[1], ValueError, op,
           "sigma must be positive, (min, max) with min <= max, got (", sigma[0], ", ", sigma[1], ")");
}

Tensor GaussianBlur::apply(const Tensor& x, data::Rng& rng) const {
  const double s = sigma_[0] == sigma_[1] ? sigma_[0] : rng.uniform(sigma_[0], sigma_[1]);
  return gaussian_blur(x, kernel_, {s, s});
}

std::string GaussianBlur::repr() const {
  return tessel::detail::cat("GaussianBlur(kernel_size=(", kernel_[0], ", ", kernel_[1], "), sigma=(", sigma_[0], ", ",
                             sigma_[1], "))");
}

// ---- Grayscale, RandomGrayscale ----

namespace {
Tensor to_gray(const Tensor& x, int64_t n, const char* op) {
  const Layout l = resolve_layout(x, Layout::Auto, op);
  const int64_t c = channels(x, l);
  TS_CHECK(c == 1 || c == 3, ValueError, op, "expected 1 or 3 channels, got ", c, " (shape ", x.shape(), ")");
  // Decoded images are Pillow-like (convert("L") rounds); tensors truncate as torchvision.
  const GrayRounding r = l == Layout::HWC ? GrayRounding::Pillow : GrayRounding::Torchvision;
  Tensor g = c == 1 ? x : convert_color(x, Color::RGB, Color::Gray, r, l);
  if (n == 1) return c == 1 ? (l == Layout::HWC ? as_image(x.clone()) : x.clone()) : g;
  return convert_color(g, Color::Gray, Color::RGB, GrayRounding::Pillow, l);
}
}  // namespace

Grayscale::Grayscale(int64_t num_output_channels) : n_(num_output_channels) {
  TS_CHECK(n_ == 1 || n_ == 3, ValueError, "image.Grayscale", "num_output_channels must be 1 or 3, got ", n_);
}
Tensor Grayscale::apply(const Tensor& x, data::Rng&) const { return to_gray(x, n_, "image.Grayscale"); }
std::string Grayscale::repr() const { return tessel::detail::cat("Grayscale(num_output_channels=", n_, ")"); }

RandomGrayscale::RandomGrayscale(double p) : p_(p) { check_p(p, "image.RandomGrayscale"); }
Tensor RandomGrayscale::apply(const Tensor& x, data::Rng& rng) const {
  const char* op = "image.RandomGrayscale";
  const Layout l = resolve_layout(x, Layout::Auto, op);
  const int64_t c = channels(x, l);
  TS_CHECK(c == 1 || c == 3, ValueError, op, "expected 1 or 3 channels, got ", c, " (shape ", x.shape(), ")");
  return rng.bernoulli(p_) ? to_gray(x, c, op) : x;
}
std::string RandomGrayscale::repr() const { return tessel::detail::cat("RandomGrayscale(p=", p_, ")"); }

// ---- RandomApply, RandomChoice ----

RandomApply::RandomApply(std::vector<data::TransformPtr> transforms, double p)
    : transforms_(std::move(transforms)), p_(p) {
  check_p(p, "image.RandomApply");
  for (const auto& t : transforms_) TS_CHECK(t != nullptr, ValueError, "image.RandomApply", "a transform is None");
}

Tensor RandomApply::apply(const Tensor& x, data::Rng& rng) const {
  if (!rng.bernoulli(p_)) return x;
  Tensor y = x;
  for (const auto& t : transforms_) y = t->apply(y, rng);
  return y;
}

std::string RandomApply::repr() const {
  return tessel::detail::cat("RandomApply(transforms=", list_repr(transforms_), ", p=", p_, ")");
}

RandomChoice::RandomChoice(std::vector<data::TransformPtr> transforms, std::vector<double> p)
    : transforms_(std::move(transforms)) {
  const char* op = "image.RandomChoice";
  TS_CHECK(!transforms_.empty(), ValueError, op, "needs at least one transform");
  for (const auto& t : transforms_) TS_CHECK(t != nullptr, ValueError, op, "a transform is None");
  TS_CHECK(p.empty() || p.size() == transforms_.size(), ValueError, op, "p needs one weight per transform (",
           transforms_.size(), "), got ", p.size());
  if (p.empty()) p.assign(transforms_.size(), 1.0);
  double sum = 0.0;
  for (double w : p) {
    TS_CHECK(w >= 0 && std::isfinite(w), ValueError, op, "weights must be >= 0, got ", w);
    cum_.push_back(sum += w);
  }
  TS_CHECK(sum > 0, ValueError, op, "the weights sum to 0");
}

Tensor RandomChoice::apply(const Tensor& x, data::Rng& rng) const {
  const double u = rng.uniform(0.0, cum_.back());
  size_t i = 0;
  while (i + 1 < cum_.size() && u >= cum_[i]) ++i;
  return transforms_[i]->apply(x, rng);
}

std::string RandomChoice::repr() const {
  std::vector<double> p;
  for (size_t i = 0; i < cum_.size(); ++i) p.push_back(cum_[i] - (i ? cum_[i - 1] : 0.0));
  return tessel::detail::cat("RandomChoice(transforms=", list_repr(transforms_), ", p=", list_repr(p), ")");
}

}  // namespace tessel::image
