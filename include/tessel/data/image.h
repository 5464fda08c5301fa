#pragma once
// Images as tensors: decode/encode (OpenCV), resize in two named families,
// geometry, color and tensor conversions. Conventions (docs/image.md): images
// are HWC uint8 RGB (or float32 in [0, 1]); gray images are HW1; "CHW" tensors
// are float32 for models. OpenCV types never cross this header.
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

enum class Layout { HWC, CHW };

// Resizes to (h, w). uint8 or float32; HWC (or HW) by default, CHW with layout=CHW.
// antialias=true (bilinear, bicubic, lanczos, box, hamming): Pillow's separable
// convolution whose support grows with the downscale factor (matches
// PIL.Image.resize and torchvision's antialias=True). antialias=false: OpenCV's
// cv::resize (INTER_LINEAR, INTER_CUBIC, INTER_LANCZOS4). nearest (OpenCV's
// floor rule), nearest_exact (Pillow's centred rule) and area (cv INTER_AREA)
// do not depend on antialias.
TESSEL_API Tensor resize(const Tensor& image, int64_t h, int64_t w, Interpolation interp = Interpolation::Bilinear,
                         bool antialias = true, Layout layout = Layout::HWC);

// ---- geometry (src/data/image/geometry.cpp); HWC/HW, any dtype ----

TESSEL_API Tensor crop(const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w);
// torchvision's rounding: top = round((H - h) / 2).
TESSEL_API Tensor center_crop(const Tensor& image, int64_t h, int64_t w);
enum class PadMode { Constant, Edge, Reflect };
TESSEL_API PadMode pad_mode_from_string(std::string_view name);
TESSEL_API Tensor pad(const Tensor& image, int64_t top, int64_t bottom, int64_t left, int64_t right,
                      PadMode mode = PadMode::Constant, double value = 0.0);
TESSEL_API Tensor hflip(const Tensor& image);
TESSEL_API Tensor vflip(const Tensor& image);
// Counter-clockwise by `angle` degrees about the center, same size (Pillow's
// rotate(expand=False)). Multiples of 90 are exact (and 90/270 swap H and W);
// other angles sample bilinearly, `fill` outside.
TESSEL_API Tensor rotate(const Tensor& image, double angle, double fill = 0.0);
// EXIF orientation 1..8 -> the upright image.
TESSEL_API Tensor apply_orientation(const Tensor& image, int orientation);

// ---- color and tensor conversions (src/data/image/color.cpp) ----

enum class Color { RGB, BGR, Gray, HSV };
TESSEL_API Color color_from_string(std::string_view name);
// How rgb -> gray rounds 0.299 R + 0.587 G + 0.114 B on uint8.
enum class GrayRounding {
  Pillow,       // round to nearest (Pillow's convert("L"), OpenCV)
  Torchvision,  // truncate, with weights 0.2989/0.587/0.114 (torchvision rgb_to_grayscale)
};
// HWC uint8 or float32. gray is HW1. HSV: uint8 as Pillow's "HSV" mode (each
// channel 0..255); float32 as torchvision (all in [0, 1]).
TESSEL_API Tensor convert_color(const Tensor& image, Color from, Color to,
                                GrayRounding rounding = GrayRounding::Pillow);

// HWC uint8 -> CHW float32 / 255 (torchvision ToTensor). HW gives 1HW.
TESSEL_API Tensor to_tensor(const Tensor& image);
// CHW (or NCHW) float: (x - mean[c]) / std[c].
TESSEL_API Tensor normalize(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& std);
// CHW float in [0, 1] -> HWC uint8, rounded half to even after clamping.
TESSEL_API Tensor to_image(const Tensor& x);

// torchvision's color adjustments (its tensor path, float32 arithmetic) on HWC
// RGB uint8 (results truncated, as torchvision does) or float32 in [0, 1].
TESSEL_API Tensor adjust_brightness(const Tensor& image, double factor);
TESSEL_API Tensor adjust_contrast(const Tensor& image, double factor);
TESSEL_API Tensor adjust_saturation(const Tensor& image, double factor);
TESSEL_API Tensor adjust_hue(const Tensor& image, double hue_shift);  // in [-0.5, 0.5]

// ---- transforms (src/data/image/transforms.cpp): immutable, thread-safe ----

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

}  // namespace tessel::image
