#pragma once
// Images as tensors: decode/encode (OpenCV), resize in two named families,
// geometry, color and tensor conversions. Conventions (docs/image.md): decoded
// images are HWC uint8 RGB, marked as images (as_image); every other tensor is
// [..., C, H, W] as in torchvision. OpenCV types never cross this header.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessel/data/transform.h"
#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel::image {

// False when tessel was built with TESSEL_WITH_OPENCV=OFF: decode, encode and
// the OpenCV-compatible resize family then throw NotImplementedError.
TESSEL_API bool available();

// ---- codec (src/data/image/codec.cpp) ----

enum class ColorMode {
  Color,      // 3 channels, RGB (BGR with bgr=true); alpha dropped, 16-bit scaled to 8
  Gray,       // 1 channel (HW1), ITU-R 601-2 luma as computed by libjpeg/OpenCV
  Unchanged,  // as stored: 1, 3 or 4 channels (RGBA, or BGRA with bgr=true); 16-bit as int32
};

struct DecodeOptions {
  ColorMode mode = ColorMode::Color;
  bool bgr = false;
  // Off by default, as in Pillow and torchvision (OpenCV's imread applies it).
  bool apply_exif_orientation = false;
  // JPEG in Color/Gray mode: when > 0, libjpeg decodes at the smallest scale of
  // 1/8, 1/4, 1/2 that keeps both sides >= this size (Pillow's draft()). Faster;
  // the result is a DCT-domain downscale, so it differs from a full decode + resize.
  int64_t size_hint_h = 0, size_hint_w = 0;
};

struct ImageInfo {
  int64_t width = 0, height = 0;  // as stored, before any EXIF orientation
  int64_t channels = 0;           // as stored in the file (gray+alpha PNG: 2)
  int64_t bit_depth = 8;          // per channel
  std::string format;             // "jpeg", "png", "webp", "bmp", ...
  int orientation = 1;            // EXIF orientation (1 = none), JPEG only
};

// Decompression-bomb guard: decode refuses an image whose header declares more
// pixels than this (before allocating anything). The default, 178,956,970, is
// Pillow's DecompressionBombError threshold; 0 turns the check off.
TESSEL_API void set_max_pixels(int64_t n);
TESSEL_API int64_t max_pixels();

// Malformed, truncated, empty or unknown input: ValueError "[image.decode] ...".
TESSEL_API Tensor decode(const void* data, size_t size, const DecodeOptions& opts = {});
// As decode; a missing file is FileError, a bad one ValueError naming the path.
TESSEL_API Tensor read(const std::string& path, const DecodeOptions& opts = {});
// Reads only the header (JPEG, PNG, GIF, BMP, WebP; TIFF is decoded).
TESSEL_API ImageInfo info(const void* data, size_t size);

// "png", "jpeg"/"jpg", "webp" or "bmp". quality: JPEG/WebP 1..100 (-1: the
// encoder's default: JPEG 95, WebP lossless); ignored for PNG/BMP. The image
// is HW, HW1, HWC3 (RGB) or HWC4 (RGBA) uint8; bgr=true means it is BGR(A).
TESSEL_API std::string encode(const Tensor& image, const std::string& format, int quality = -1, bool bgr = false);
// Format from the extension.
TESSEL_API void write(const std::string& path, const Tensor& image, int quality = -1, bool bgr = false);

// Decodes each item (and applies `transform`, seeded with item_seed(seed, 0, i))
// on up to num_threads threads (0: all cores). Errors name the item index.
TESSEL_API std::vector<Tensor> decode_batch(const std::vector<std::string_view>& items, const DecodeOptions& opts,
                                            const data::TransformPtr& transform, uint64_t seed, int num_threads);
// decode_batch of files, read on the worker threads too. A missing file is FileError.
TESSEL_API std::vector<Tensor> read_batch(const std::vector<std::string>& paths, const DecodeOptions& opts,
                                          const data::TransformPtr& transform, uint64_t seed, int num_threads);
// The same for decoded images: transform(images[i]) with item_seed(seed, 0, i).
TESSEL_API std::vector<Tensor> apply_batch(const data::TransformPtr& transform, const std::vector<Tensor>& images,
                                           uint64_t seed, int num_threads);

// ---- resize (src/data/image/resize.cpp) ----

enum class Interpolation { Nearest, NearestExact, Bilinear, Bicubic, Area, Lanczos, Box, Hamming };
TESSEL_API Interpolation interpolation_from_string(std::string_view name);
TESSEL_API std::string to_string(Interpolation i);

// ---- layout (src/data/image/layout.cpp) ----
// HWC: a decoded image, [H, W, C] (or [..., H, W, C], or HW). CHW: torchvision's
// tensor layout [..., C, H, W] (or HW). Auto: HWC when the tensor is marked as an
// image (decode, read, as_image and the HWC results of this module), else CHW;
// an unmarked tensor whose shape reads as [H, W, C] but not as [C, H, W] raises
// instead of being guessed.
enum class Layout { HWC, CHW, Auto };
// A new handle on x's elements, marked as a decoded (HWC) image. The mark belongs
// to this handle: views and results of other ops are plain tensors again.
TESSEL_API Tensor as_image(const Tensor& x);
TESSEL_API bool is_image(const Tensor& x);
// The layout `requested` stands for (Auto resolved as above); checks the rank.
TESSEL_API Layout resolve_layout(const Tensor& x, Layout requested, const char* op);

// Resizes to (h, w). uint8 or float32; HWC (or HW) by default, CHW with layout=CHW.
// antialias=true (bilinear, bicubic, lanczos, box, hamming): Pillow's separable
// convolution whose support grows with the downscale factor (matches
// PIL.Image.resize and torchvision's antialias=True). antialias=false: OpenCV's
// cv::resize (INTER_LINEAR, INTER_CUBIC, INTER_LANCZOS4). nearest (OpenCV's
// floor rule), nearest_exact (Pillow's centred rule) and area (cv INTER_AREA)
// do not depend on antialias.
TESSEL_API Tensor resize(const Tensor& image, int64_t h, int64_t w, Interpolation interp = Interpolation::Bilinear,
                         bool antialias = true, Layout layout = Layout::Auto);

// ---- geometry (src/data/image/geometry.cpp); either layout, any dtype ----

// torchvision's crop: the parts outside the image are zeros.
TESSEL_API Tensor crop(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w,
                       Layout layout = Layout::Auto);
// torchvision's rounding: top = round((H - h) / 2); zero-padded when larger than the image.
TESSEL_API Tensor center_crop(const Tensor& image, int64_t h, int64_t w, Layout layout = Layout::Auto);
enum class PadMode { Constant, Edge, Reflect, Symmetric };
TESSEL_API PadMode pad_mode_from_string(std::string_view name);
// value: one fill for every channel, or one per channel.
TESSEL_API Tensor pad(const Tensor& image, int64_t top, int64_t bottom, int64_t left, int64_t right,
                      PadMode mode = PadMode::Constant, std::vector<double> value = {0.0},
                      Layout layout = Layout::Auto);
TESSEL_API Tensor hflip(const Tensor& image, Layout layout = Layout::Auto);
TESSEL_API Tensor vflip(const Tensor& image, Layout layout = Layout::Auto);
// torchvision's rotate: counter-clockwise by `angle` degrees about `center`
// ((x, y) in pixels; empty: the image center). expand=false keeps the size;
// true grows it to hold the whole turned image. nearest or bilinear sampling
// of pixel centres (torchvision's tensor path); `fill` (one value, or one per
// channel) outside. Multiples of 90 about the center are exact.
TESSEL_API Tensor rotate(const Tensor& image, double angle, Interpolation interp = Interpolation::Nearest,
                         bool expand = false, std::vector<double> center = {}, std::vector<double> fill = {0.0},
                         Layout layout = Layout::Auto);
// torchvision's affine: rotation `angle` (clockwise, as torchvision), translation
// (tx, ty) pixels, `scale`, shear (sx, sy) degrees, about `center` ((x, y); empty:
// the image center); same size.
TESSEL_API Tensor affine(const Tensor& image, double angle, std::array<double, 2> translate, double scale,
                         std::array<double, 2> shear, Interpolation interp = Interpolation::Nearest,
                         std::vector<double> fill = {0.0}, std::vector<double> center = {},
                         Layout layout = Layout::Auto);
// EXIF orientation 1..8 -> the upright image (HWC).
TESSEL_API Tensor apply_orientation(const Tensor& image, int orientation);

// ---- color and tensor conversions (src/data/image/color.cpp) ----

enum class Color { RGB, BGR, Gray, HSV };
TESSEL_API Color color_from_string(std::string_view name);
// How rgb -> gray rounds 0.299 R + 0.587 G + 0.114 B on uint8.
enum class GrayRounding {
  Pillow,       // round to nearest (Pillow's convert("L"), OpenCV)
  Torchvision,  // truncate, with weights 0.2989/0.587/0.114 (torchvision rgb_to_grayscale)
};
// uint8 or float32, either layout. gray has 1 channel. HSV: uint8 as Pillow's
// "HSV" mode (each channel 0..255); float32 as torchvision (all in [0, 1]).
TESSEL_API Tensor convert_color(const Tensor& image, Color from, Color to, GrayRounding rounding = GrayRounding::Pillow,
                                Layout layout = Layout::Auto);

// A decoded HWC image (uint8: / 255; float32 kept) -> CHW float32 (torchvision
// ToTensor). HW gives 1HW. A [..., C, H, W] tensor is refused (TypeError).
TESSEL_API Tensor to_tensor(const Tensor& image);
// [..., C, H, W] float: (x - mean[c]) / std[c]. A decoded image is refused.
TESSEL_API Tensor normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std);
// CHW float in [0, 1] -> HWC uint8 (marked as an image), rounded half to even after clamping.
TESSEL_API Tensor to_image(const Tensor& x);

// torchvision's color adjustments (its tensor path, float32 arithmetic) on RGB
// uint8 (results truncated, as torchvision does) or float32 in [0, 1].
TESSEL_API Tensor adjust_brightness(const Tensor& image, double factor, Layout layout = Layout::Auto);
TESSEL_API Tensor adjust_contrast(const Tensor& image, double factor, Layout layout = Layout::Auto);
TESSEL_API Tensor adjust_saturation(const Tensor& image, double factor, Layout layout = Layout::Auto);
TESSEL_API Tensor adjust_hue(const Tensor& image, double hue_shift, Layout layout = Layout::Auto);  // [-0.5, 0.5]

// ---- filters and augmentation ops (src/data/image/augment.cpp); either layout ----

// torchvision's gaussian_blur: separable, odd kernel sizes, reflect padding; uint8 rounded.
TESSEL_API Tensor gaussian_blur(const Tensor& image, std::array<int64_t, 2> kernel_size, std::array<double, 2> sigma,
                                Layout layout = Layout::Auto);

// AutoAugment's point ops, torchvision semantics (bound: 255 for uint8, 1 for float32).
// posterize keeps the top `bits` bits (float: floor(x * 2^bits) / 2^bits).
TESSEL_API Tensor posterize(const Tensor& image, int64_t bits, Layout layout = Layout::Auto);
// x >= threshold -> bound - x.
TESSEL_API Tensor solarize(const Tensor& image, double threshold, Layout layout = Layout::Auto);
TESSEL_API Tensor invert(const Tensor& image, Layout layout = Layout::Auto);
// Per channel: (x - min) * bound / (max - min), truncated for uint8; flat channels unchanged.
TESSEL_API Tensor autocontrast(const Tensor& image, Layout layout = Layout::Auto);
// Per-channel histogram equalization (Pillow's ImageOps.equalize); float through 8-bit levels.
TESSEL_API Tensor equalize(const Tensor& image, Layout layout = Layout::Auto);
// Blends with the 3x3 smoothed image (borders kept): 0 blurs, 1 is the image, 2 sharpens.
TESSEL_API Tensor adjust_sharpness(const Tensor& image, double factor, Layout layout = Layout::Auto);

// Sets image[..., top:top+h, left:left+w] (a [..., C, H, W] tensor) to `value`
// (one value, one per channel, or a [C, h, w] tensor); a copy unless inplace.
TESSEL_API Tensor erase(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, const Tensor& value,
                        bool inplace = false);

// ---- transforms (src/data/image/transforms.cpp, transforms_aug.cpp): immutable, thread-safe ----
// Each takes decoded HWC images and [..., C, H, W] tensors (the layout rule above).

// Encoded bytes (a 1-D uint8 tensor, e.g. a file read by the loader) -> HWC
// image: lets the loader decode on its worker threads through a Compose.
class TESSEL_API Decode final : public data::Transform {
 public:
  explicit Decode(DecodeOptions opts = {}) : opts_(opts) {}
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  DecodeOptions opts_;
};

// size (h, w); or one side (w = 0): the shorter side becomes h, the other keeps the ratio.
class TESSEL_API Resize final : public data::Transform {
 public:
  Resize(int64_t h, int64_t w, Interpolation interp = Interpolation::Bilinear, bool antialias = true);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  int64_t h_, w_;
  Interpolation interp_;
  bool antialias_;
};

class TESSEL_API CenterCrop final : public data::Transform {
 public:
  CenterCrop(int64_t h, int64_t w);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  int64_t h_, w_;
};

// torchvision's RandomResizedCrop: 10 tries of (area, log-uniform ratio), then
// a center crop with the ratio clamped.
class TESSEL_API RandomResizedCrop final : public data::Transform {
 public:
  RandomResizedCrop(int64_t h, int64_t w, std::array<double, 2> scale = {0.08, 1.0},
                    std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0},
                    Interpolation interp = Interpolation::Bilinear, bool antialias = true);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;
  // (top, left, h, w) of the crop for an image of (height, width).
  std::array<int64_t, 4> params(int64_t height, int64_t width, data::Rng& rng) const;

 private:
  int64_t h_, w_;
  std::array<double, 2> scale_, ratio_;
  Interpolation interp_;
  bool antialias_;
};

class TESSEL_API RandomHorizontalFlip final : public data::Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  double p_;
};

// torchvision semantics: factors uniform in [max(0, 1 - b), 1 + b] (hue in
// [-h, h]), the four adjustments in a random order; 0 disables one.
class TESSEL_API ColorJitter final : public data::Transform {
 public:
  ColorJitter(double brightness = 0, double contrast = 0, double saturation = 0, double hue = 0);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  double brightness_, contrast_, saturation_, hue_;
};

class TESSEL_API Normalize final : public data::Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> std);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  std::vector<double> mean_, std_;
};

class TESSEL_API ToTensor final : public data::Transform {
 public:
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override { return "ToTensor()"; }
};

// torchvision's Pad: padding (left, top, right, bottom).
class TESSEL_API Pad final : public data::Transform {
 public:
  Pad(std::array<int64_t, 4> padding, std::vector<double> fill = {0.0}, PadMode mode = PadMode::Constant);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  std::array<int64_t, 4> padding_;
  std::vector<double> fill_;
  PadMode mode_;
};

// torchvision's RandomCrop: optional padding (left, top, right, bottom) first;
// pad_if_needed pads a side shorter than the crop by the difference on both ends.
class TESSEL_API RandomCrop final : public data::Transform {
 public:
  RandomCrop(int64_t h, int64_t w, std::array<int64_t, 4> padding = {0, 0, 0, 0}, bool pad_if_needed = false,
             std::vector<double> fill = {0.0}, PadMode mode = PadMode::Constant);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  int64_t h_, w_;
  std::array<int64_t, 4> padding_;
  bool pad_if_needed_;
  std::vector<double> fill_;
  PadMode mode_;
};

class TESSEL_API RandomVerticalFlip final : public data::Transform {
 public:
  explicit RandomVerticalFlip(double p = 0.5);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  double p_;
};

// torchvision's RandomRotation: angle uniform in [lo, hi] degrees, then rotate().
class TESSEL_API RandomRotation final : public data::Transform {
 public:
  RandomRotation(double lo, double hi, Interpolation interp = Interpolation::Nearest, bool expand = false,
                 std::vector<double> center = {}, std::vector<double> fill = {0.0});
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  double lo_, hi_;
  Interpolation interp_;
  bool expand_;
  std::vector<double> center_, fill_;
};

// torchvision's RandomErasing, on [..., C, H, W] tensors. value: one value or one
// per channel; random_value: standard normal noise instead.
class TESSEL_API RandomErasing final : public data::Transform {
 public:
  RandomErasing(double p = 0.5, std::array<double, 2> scale = {0.02, 0.33}, std::array<double, 2> ratio = {0.3, 3.3},
                std::vector<double> value = {0.0}, bool random_value = false, bool inplace = false);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  double p_;
  std::array<double, 2> scale_, ratio_;
  std::vector<double> value_;
  bool random_value_, inplace_;
};

// torchvision's GaussianBlur: kernel (kx, ky), sigma uniform in [lo, hi].
class TESSEL_API GaussianBlur final : public data::Transform {
 public:
  GaussianBlur(std::array<int64_t, 2> kernel_size, std::array<double, 2> sigma = {0.1, 2.0});
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  std::array<int64_t, 2> kernel_;
  std::array<double, 2> sigma_;
};

// torchvision's Grayscale: 1 or 3 output channels. Decoded images round as
// Pillow's convert("L"); tensors truncate as torchvision's rgb_to_grayscale.
class TESSEL_API Grayscale final : public data::Transform {
 public:
  explicit Grayscale(int64_t num_output_channels = 1);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  int64_t n_;
};

// Grayscale with as many channels as the input, with probability p.
class TESSEL_API RandomGrayscale final : public data::Transform {
 public:
  explicit RandomGrayscale(double p = 0.1);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  double p_;
};

// The transforms in order with probability p, else the input.
class TESSEL_API RandomApply final : public data::Transform {
 public:
  RandomApply(std::vector<data::TransformPtr> transforms, double p = 0.5);
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  std::vector<data::TransformPtr> transforms_;
  double p_;
};

// One of the transforms, picked with the given weights (empty: uniform).
class TESSEL_API RandomChoice final : public data::Transform {
 public:
  RandomChoice(std::vector<data::TransformPtr> transforms, std::vector<double> p = {});
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  std::vector<data::TransformPtr> transforms_;
  std::vector<double> cum_;  // cumulative weights
};

// The AutoAugment paper's learned policies (torchvision's AutoAugmentPolicy):
// "imagenet", "cifar10", "svhn".
enum class AutoAugmentPolicy { ImageNet, Cifar10, Svhn };
TESSEL_API AutoAugmentPolicy autoaugment_policy_from_string(std::string_view name);
TESSEL_API std::string to_string(AutoAugmentPolicy p);
// One op of a sub-policy: torchvision's op name, its probability and its
// magnitude bin of 10 (-1: the op has no magnitude).
struct AutoAugmentStep {
  std::string op;
  double p;
  int bin;
};
// The policy's table: its sub-policies of two steps, in the paper's order.
TESSEL_API std::vector<std::array<AutoAugmentStep, 2>> autoaugment_policies(AutoAugmentPolicy p);

// torchvision's AutoAugment: one sub-policy of the policy's table drawn
// uniformly, its two ops each applied with its probability
// (src/data/image/autoaugment.cpp). fill: empty is torchvision's None (zeros
// outside after a geometric op).
class TESSEL_API AutoAugment final : public data::Transform {
 public:
  explicit AutoAugment(AutoAugmentPolicy policy = AutoAugmentPolicy::ImageNet,
                       Interpolation interp = Interpolation::Nearest, std::vector<double> fill = {});
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  AutoAugmentPolicy policy_;
  Interpolation interp_;
  std::vector<double> fill_;
};

// torchvision's RandAugment: num_ops ops drawn uniformly from 14, all at bin
// `magnitude` of num_magnitude_bins, signs random.
class TESSEL_API RandAugment final : public data::Transform {
 public:
  RandAugment(int64_t num_ops = 2, int64_t magnitude = 9, int64_t num_magnitude_bins = 31,
              Interpolation interp = Interpolation::Nearest, std::vector<double> fill = {});
  Tensor apply(const Tensor& x, data::Rng& rng) const override;
  std::string repr() const override;

 private:
  int64_t num_ops_, magnitude_, bins_;
  Interpolation interp_;
  std::vector<double> fill_;
};

}  // namespace tessel::image
