// torchvision's AutoAugment (ImageNet, CIFAR10 and SVHN policies) and RandAugment:
// the same op set, magnitude bins and sampling; the randomness comes from the
// per-item Rng.
#include <cmath>
#include <numbers>
#include <span>

#include "src/data/image/image_util.h"

namespace tessel::image {
namespace {

enum class Op {
  Identity,
  ShearX,
  ShearY,
  TranslateX,
  TranslateY,
  Rotate,
  Brightness,
  Color,
  Contrast,
  Sharpness,
  Posterize,
  Solarize,
  AutoContrast,
  Equalize,
  Invert,
};

// torchvision's op names (autoaugment_policies lists the tables with them).
const char* op_name(Op op) {
  switch (op) {
    case Op::Identity:
      return "Identity";
    case Op::ShearX:
      return "ShearX";
    case Op::ShearY:
      return "ShearY";
    case Op::TranslateX:
      return "TranslateX";
    case Op::TranslateY:
      return "TranslateY";
    case Op::Rotate:
      return "Rotate";
    case Op::Brightness:
      return "Brightness";
    case Op::Color:
      return "Color";
    case Op::Contrast:
      return "Contrast";
    case Op::Sharpness:
      return "Sharpness";
    case Op::Posterize:
      return "Posterize";
    case Op::Solarize:
      return "Solarize";
    case Op::AutoContrast:
      return "AutoContrast";
    case Op::Equalize:
      return "Equalize";
    case Op::Invert:
      return "Invert";
  }
  return "?";
}

// torch.linspace(start, end, n)[i] in float32 (its two-sided formula).
double linspace(float start, float end, int64_t n, int64_t i) {
  if (n == 1) return start;
  const float step = (end - start) / static_cast<float>(n - 1);
  return i < n / 2 ? start + step * static_cast<float>(i) : end - step * static_cast<float>(n - 1 - i);
}

// The magnitude of bin `bin` of `n`, and whether its sign is random (torchvision's _augmentation_space).
std::pair<double, bool> magnitude(Op op, int64_t bin, int64_t n, int64_t h, int64_t w, bool is_float) {
  switch (op) {
    case Op::ShearX:
    case Op::ShearY:
      return {linspace(0.0f, 0.3f, n, bin), true};
    case Op::TranslateX:
      return {linspace(0.0f, static_cast<float>(150.0 / 331.0 * w), n, bin), true};
    case Op::TranslateY:
      return {linspace(0.0f, static_cast<float>(150.0 / 331.0 * h), n, bin), true};
    case Op::Rotate:
      return {linspace(0.0f, 30.0f, n, bin), true};
    case Op::Brightness:
    case Op::Color:
    case Op::Contrast:
    case Op::Sharpness:
      return {linspace(0.0f, 0.9f, n, bin), true};
    case Op::Posterize:
      return {8 - std::nearbyint(static_cast<float>(bin) / (static_cast<float>(n - 1) / 4.0f)), false};
    case Op::Solarize:  // a threshold from the top of the range down to 0
      return {linspace(1.0f, 0.0f, n, bin) * (is_float ? 1.0 : 255.0), false};
    default:
      return {0.0, false};
  }
}

Tensor apply_op(const Tensor& x, Layout l, Op op, double m, Interpolation interp, const std::vector<double>& fill) {
  const double deg = 180.0 / std::numbers::pi;
  switch (op) {
    case Op::Identity:
      return x;
    case Op::ShearX:  // about the top-left corner, as torchvision (center=[0, 0])
      return affine(x, 0.0, {0, 0}, 1.0, {std::atan(m) * deg, 0.0}, interp, fill, {0.0, 0.0}, l);
    case Op::ShearY:
      return affine(x, 0.0, {0, 0}, 1.0, {0.0, std::atan(m) * deg}, interp, fill, {0.0, 0.0}, l);
    case Op::TranslateX:
      return affine(x, 0.0, {std::trunc(m), 0}, 1.0, {0.0, 0.0}, interp, fill, {}, l);
    case Op::TranslateY:
      return affine(x, 0.0, {0, std::trunc(m)}, 1.0, {0.0, 0.0}, interp, fill, {}, l);
    case Op::Rotate:
      return rotate(x, m, interp, false, {}, fill, l);
    case Op::Brightness:
      return adjust_brightness(x, 1.0 + m, l);
    case Op::Color:
      return adjust_saturation(x, 1.0 + m, l);
    case Op::Contrast:
      return adjust_contrast(x, 1.0 + m, l);
    case Op::Sharpness:
      return adjust_sharpness(x, 1.0 + m, l);
    case Op::Posterize:
      return posterize(x, static_cast<int64_t>(m), l);
    case Op::Solarize:
      return solarize(x, m, l);
    case Op::AutoContrast:
      return autocontrast(x, l);
    case Op::Equalize:
      return equalize(x, l);
    case Op::Invert:
      return invert(x, l);
  }
  return x;
}

struct Step {
  Op op;
  double p;
  int bin;  // -1: no magnitude
};

// The policies of the AutoAugment paper (Cubuk et al., 2019), as torchvision lists
// them: 25 sub-policies each. The tables are unsized so that their length is
// what autoaugment_policies reports (and the tests check).
const Step kImageNet[][2] = {
    {{Op::Posterize, 0.4, 8}, {Op::Rotate, 0.6, 9}},    {{Op::Solarize, 0.6, 5}, {Op::AutoContrast, 0.6, -1}},
    {{Op::Equalize, 0.8, -1}, {Op::Equalize, 0.6, -1}}, {{Op::Posterize, 0.6, 7}, {Op::Posterize, 0.6, 6}},
    {{Op::Equalize, 0.4, -1}, {Op::Solarize, 0.2, 4}},  {{Op::Equalize, 0.4, -1}, {Op::Rotate, 0.8, 8}},
    {{Op::Solarize, 0.6, 3}, {Op::Equalize, 0.6, -1}},  {{Op::Posterize, 0.8, 5}, {Op::Equalize, 1.0, -1}},
    {{Op::Rotate, 0.2, 3}, {Op::Solarize, 0.6, 8}},     {{Op::Equalize, 0.6, -1}, {Op::Posterize, 0.4, 6}},
    {{Op::Rotate, 0.8, 8}, {Op::Color, 0.4, 0}},        {{Op::Rotate, 0.4, 9}, {Op::Equalize, 0.6, -1}},
    {{Op::Equalize, 0.0, -1}, {Op::Equalize, 0.8, -1}}, {{Op::Invert, 0.6, -1}, {Op::Equalize, 1.0, -1}},
    {{Op::Color, 0.6, 4}, {Op::Contrast, 1.0, 8}},      {{Op::Rotate, 0.8, 8}, {Op::Color, 1.0, 2}},
    {{Op::Color, 0.8, 8}, {Op::Solarize, 0.8, 7}},      {{Op::Sharpness, 0.4, 7}, {Op::Invert, 0.6, -1}},
    {{Op::ShearX, 0.6, 5}, {Op::Equalize, 1.0, -1}},    {{Op::Color, 0.4, 0}, {Op::Equalize, 0.6, -1}},
    {{Op::Equalize, 0.4, -1}, {Op::Solarize, 0.2, 4}},  {{Op::Solarize, 0.6, 5}, {Op::AutoContrast, 0.6, -1}},
    {{Op::Invert, 0.6, -1}, {Op::Equalize, 1.0, -1}},   {{Op::Color, 0.6, 4}, {Op::Contrast, 1.0, 8}},
    {{Op::Equalize, 0.8, -1}, {Op::Equalize, 0.6, -1}},
};

const Step kCifar10[][2] = {
    {{Op::Invert, 0.1, -1}, {Op::Contrast, 0.2, 6}},         {{Op::Rotate, 0.7, 2}, {Op::TranslateX, 0.3, 9}},
    {{Op::Sharpness, 0.8, 1}, {Op::Sharpness, 0.9, 3}},      {{Op::ShearY, 0.5, 8}, {Op::TranslateY, 0.7, 9}},
    {{Op::AutoContrast, 0.5, -1}, {Op::Equalize, 0.9, -1}},  {{Op::ShearY, 0.2, 7}, {Op::Posterize, 0.3, 7}},
    {{Op::Color, 0.4, 3}, {Op::Brightness, 0.6, 7}},         {{Op::Sharpness, 0.3, 9}, {Op::Brightness, 0.7, 9}},
    {{Op::Equalize, 0.6, -1}, {Op::Equalize, 0.5, -1}},      {{Op::Contrast, 0.6, 7}, {Op::Sharpness, 0.6, 5}},
    {{Op::Color, 0.7, 7}, {Op::TranslateX, 0.5, 8}},         {{Op::Equalize, 0.3, -1}, {Op::AutoContrast, 0.4, -1}},
    {{Op::TranslateY, 0.4, 3}, {Op::Sharpness, 0.2, 6}},     {{Op::Brightness, 0.9, 6}, {Op::Color, 0.2, 8}},
    {{Op::Solarize, 0.5, 2}, {Op::Invert, 0.0, -1}},         {{Op::Equalize, 0.2, -1}, {Op::AutoContrast, 0.6, -1}},
    {{Op::Equalize, 0.2, -1}, {Op::Equalize, 0.6, -1}},      {{Op::Color, 0.9, 9}, {Op::Equalize, 0.6, -1}},
    {{Op::AutoContrast, 0.8, -1}, {Op::Solarize, 0.2, 8}},   {{Op::Brightness, 0.1, 3}, {Op::Color, 0.7, 0}},
    {{Op::Solarize, 0.4, 5}, {Op::AutoContrast, 0.9, -1}},   {{Op::TranslateY, 0.9, 9}, {Op::TranslateY, 0.7, 9}},
    {{Op::AutoContrast, 0.9, -1}, {Op::Solarize, 0.8, 3}},   {{Op::Equalize, 0.8, -1}, {Op::Invert, 0.1, -1}},
    {{Op::TranslateY, 0.7, 9}, {Op::AutoContrast, 0.9, -1}},
};

const Step kSvhn[][2] = {
    {{Op::ShearX, 0.9, 4}, {Op::Invert, 0.2, -1}},        {{Op::ShearY, 0.9, 8}, {Op::Invert, 0.7, -1}},
    {{Op::Equalize, 0.6, -1}, {Op::Solarize, 0.6, 6}},    {{Op::Invert, 0.9, -1}, {Op::Equalize, 0.6, -1}},
    {{Op::Equalize, 0.6, -1}, {Op::Rotate, 0.9, 3}},      {{Op::ShearX, 0.9, 4}, {Op::AutoContrast, 0.8, -1}},
    {{Op::ShearY, 0.9, 8}, {Op::Invert, 0.4, -1}},        {{Op::ShearY, 0.9, 5}, {Op::Solarize, 0.2, 6}},
    {{Op::Invert, 0.9, -1}, {Op::AutoContrast, 0.8, -1}}, {{Op::Equalize, 0.6, -1}, {Op::Rotate, 0.9, 3}},
    {{Op::ShearX, 0.9, 4}, {Op::Solarize, 0.3, 3}},       {{Op::ShearY, 0.8, 8}, {Op::Invert, 0.7, -1}},
    {{Op::Equalize, 0.9, -1}, {Op::TranslateY, 0.6, 6}},  {{Op::Invert, 0.9, -1}, {Op::Equalize, 0.6, -1}},
    {{Op::Contrast, 0.3, 3}, {Op::Rotate, 0.8, 4}},       {{Op::Invert, 0.8, -1}, {Op::TranslateY, 0.0, 2}},
    {{Op::ShearY, 0.7, 6}, {Op::Solarize, 0.4, 8}},       {{Op::Invert, 0.6, -1}, {Op::Rotate, 0.8, 4}},
    {{Op::ShearY, 0.3, 7}, {Op::TranslateX, 0.9, 3}},     {{Op::ShearX, 0.1, 6}, {Op::Invert, 0.6, -1}},
    {{Op::Solarize, 0.7, 2}, {Op::TranslateY, 0.6, 7}},   {{Op::ShearY, 0.8, 4}, {Op::Invert, 0.8, -1}},
    {{Op::ShearX, 0.7, 9}, {Op::TranslateY, 0.8, 3}},     {{Op::ShearY, 0.8, 5}, {Op::AutoContrast, 0.7, -1}},
    {{Op::ShearX, 0.7, 2}, {Op::Invert, 0.1, -1}},
};

std::span<const Step[2]> table(AutoAugmentPolicy p) {
  switch (p) {
    case AutoAugmentPolicy::ImageNet:
      return kImageNet;
    case AutoAugmentPolicy::Cifar10:
      return kCifar10;
    case AutoAugmentPolicy::Svhn:
      return kSvhn;
  }
  return kImageNet;
}

constexpr Op kRandOps[] = {Op::Identity,  Op::ShearX,     Op::ShearY,       Op::TranslateX, Op::TranslateY,
                           Op::Rotate,    Op::Brightness, Op::Color,        Op::Contrast,   Op::Sharpness,
                           Op::Posterize, Op::Solarize,   Op::AutoContrast, Op::Equalize};

std::string fill_repr(const std::vector<double>& fill) { return fill.empty() ? "None" : detail::list_repr(fill); }

}  // namespace

AutoAugmentPolicy autoaugment_policy_from_string(std::string_view name) {
  if (name == "imagenet") return AutoAugmentPolicy::ImageNet;
  if (name == "cifar10") return AutoAugmentPolicy::Cifar10;
  if (name == "svhn") return AutoAugmentPolicy::Svhn;
  fail<ValueError>("image.AutoAugment", "unknown policy '", std::string(name), "'; expected imagenet, cifar10 or svhn");
}

std::string to_string(AutoAugmentPolicy p) {
  switch (p) {
    case AutoAugmentPolicy::ImageNet:
      return "imagenet";
    case AutoAugmentPolicy::Cifar10:
      return "cifar10";
    case AutoAugmentPolicy::Svhn:
      return "svhn";
  }
  return "?";
}

std::vector<std::array<AutoAugmentStep, 2>> autoaugment_policies(AutoAugmentPolicy p) {
  std::vector<std::array<AutoAugmentStep, 2>> out;
  for (const auto& row : table(p))
    out.push_back({AutoAugmentStep{op_name(row[0].op), row[0].p, row[0].bin},
                   AutoAugmentStep{op_name(row[1].op), row[1].p, row[1].bin}});
  return out;
}

AutoAugment::AutoAugment(AutoAugmentPolicy policy, Interpolation interp, std::vector<double> fill)
    : policy_(policy), interp_(interp), fill_(std::move(fill)) {
  detail::check_nearest_or_bilinear(interp, "image.AutoAugment");
}

Tensor AutoAugment::apply(const Tensor& x, data::Rng& rng) const {
  const Layout l = resolve_layout(x, Layout::Auto, "image.AutoAugment");
  const auto [h, w] = detail::image_hw(x, l);
  const auto rows = table(policy_);
  const int64_t policy = rng.integer(0, static_cast<int64_t>(rows.size()) - 1);
  const double probs[2] = {rng.uniform(), rng.uniform()};
  const bool negative[2] = {rng.integer(0, 1) == 0, rng.integer(0, 1) == 0};
  Tensor y = x;
  for (int i = 0; i < 2; ++i) {
    const Step& s = rows[policy][i];
    if (probs[i] > s.p) continue;
    auto [m, is_signed] =
        s.bin < 0 ? std::pair{0.0, false} : magnitude(s.op, s.bin, 10, h, w, x.dtype() != DType::UInt8);
    if (is_signed && negative[i]) m = -m;
    y = apply_op(y, l, s.op, m, interp_, fill_);
  }
  return y;
}

std::string AutoAugment::repr() const {
  return tessel::detail::cat("AutoAugment(policy=", to_string(policy_), ", interpolation=", to_string(interp_),
                             ", fill=", fill_repr(fill_), ")");
}

RandAugment::RandAugment(int64_t num_ops, int64_t magnitude, int64_t num_magnitude_bins, Interpolation interp,
                         std::vector<double> fill)
    : num_ops_(num_ops), magnitude_(magnitude), bins_(num_magnitude_bins), interp_(interp), fill_(std::move(fill)) {
  const char* op = "image.RandAugment";
  detail::check_nearest_or_bilinear(interp, op);
  TS_CHECK(num_ops >= 0, ValueError, op, "num_ops must be >= 0, got ", num_ops);
  TS_CHECK(num_magnitude_bins >= 2, ValueError, op, "num_magnitude_bins must be >= 2, got ", num_magnitude_bins);
  TS_CHECK(magnitude >= 0 && magnitude < num_magnitude_bins, ValueError, op, "magnitude must be in [0, ",
           num_magnitude_bins - 1, "], got ", magnitude);
}

Tensor RandAugment::apply(const Tensor& x, data::Rng& rng) const {
  const Layout l = resolve_layout(x, Layout::Auto, "image.RandAugment");
  const auto [h, w] = detail::image_hw(x, l);
  constexpr int64_t n_ops = static_cast<int64_t>(sizeof kRandOps / sizeof kRandOps[0]);
  Tensor y = x;
  for (int64_t k = 0; k < num_ops_; ++k) {
    const Op op = kRandOps[rng.integer(0, n_ops - 1)];
    auto [m, is_signed] = magnitude(op, magnitude_, bins_, h, w, x.dtype() != DType::UInt8);
    if (is_signed && rng.integer(0, 1) == 1) m = -m;
    y = apply_op(y, l, op, m, interp_, fill_);
  }
  return y;
}

std::string RandAugment::repr() const {
  return tessel::detail::cat("RandAugment(num_ops=", num_ops_, ", magnitude=", magnitude_,
                             ", num_magnitude_bins=", bins_, ", interpolation=", to_string(interp_),
                             ", fill=", fill_repr(fill_), ")");
}

}  // namespace tessel::image
