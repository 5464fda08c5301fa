#pragma once
// Shared by the image files; not installed.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tessel/data/image.h"
#include "tessel/error.h"
#include "tessel/ops.h"

namespace tessel::image::detail {

// A CPU image viewed as H x W x C (HW is C = 1), made contiguous.
struct View {
  Tensor t;  // contiguous
  int64_t h = 0, w = 0, c = 1;
  bool hw = false;  // the input was 2-D
};
View hwc_view(const Tensor& image, const char* op);
// A new image of the same rank convention as `v` (HW stays HW).
Tensor new_like(const View& v, int64_t h, int64_t w, int64_t c, DType dtype);
void check_dtype(const Tensor& t, const char* op, bool allow_float);

// ---- layout (layout.cpp) ----
// Marks t (a fresh result) as a decoded HWC image and returns it.
Tensor mark(Tensor t);
// f (an HWC or HW image -> an HWC or HW image) on every image of x in layout l
// (resolved): [..., H, W, C] or [..., C, H, W], HW as is; the results are put
// back in the same layout (HWC ones marked).
Tensor map_images(const Tensor& x, Layout l, const std::function<Tensor(const Tensor&)>& f, const char* op);
// (H, W) of x in layout l (transforms.cpp).
std::array<int64_t, 2> image_hw(const Tensor& x, Layout l);
// Pieces of the transforms' Python-style reprs (transforms.cpp): True/False, [a, b, ...].
std::string py_bool(bool b);
std::string list_repr(const std::vector<double>& v);
// The affine family (rotate, AutoAugment's shears) takes nearest or bilinear only.
void check_nearest_or_bilinear(Interpolation interp, const char* op);

// ---- header parsing (sniff.cpp): plain byte parsing, no OpenCV ----
// "jpeg", "png", "webp", "bmp", "gif", "tiff", or "" when unknown.
std::string sniff_format(const uint8_t* p, size_t n);
// Walks the JPEG markers; false when the data ends before the EOI marker.
bool jpeg_complete(const uint8_t* p, size_t n);
// Fills width/height/channels/bit depth (and orientation for JPEG) from the
// header; false when the header is too short or malformed.
bool read_header(const uint8_t* p, size_t n, const std::string& format, ImageInfo& out);
// EXIF orientation of a JPEG (1 when absent or unreadable).
int jpeg_orientation(const uint8_t* p, size_t n);

// ---- JPEG through libjpeg (jpeg.cpp) ----
// Fills `out` and returns true, or returns false when OpenCV should decode
// (mode Unchanged, CMYK/YCCK, or a build without libjpeg). `reduce`: 1, 2, 4, 8.
bool decode_jpeg(const uint8_t* p, size_t n, const DecodeOptions& o, int reduce, Tensor& out);

// ---- the OpenCV-compatible resize family (resize_cv.cpp, or no_opencv.cpp) ----
// `src` is contiguous h x w x c (uint8 or float32), `dst` preallocated.
void resize_opencv(const Tensor& src, int64_t h, int64_t w, int64_t c, Tensor& dst, int64_t oh, int64_t ow,
                   Interpolation interp);

}  // namespace tessel::image::detail
