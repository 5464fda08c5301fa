// Built instead of the OpenCV-backed image files when TESSEL_WITH_OPENCV=OFF:
// the same functions, each throwing a clear error. Everything else in
// tessel::image (antialiased resize, geometry, color, transforms) still works.
#include "src/data/image/image_util.h"

namespace tessel::image {
namespace {
[[noreturn]] void no_opencv(const char* op) {
  fail<NotImplementedError>(op, "tessel was built without OpenCV (TESSEL_WITH_OPENCV=OFF)");
}
}  // namespace

bool available() { return false; }
Tensor decode(const void*, size_t, const DecodeOptions&) { no_opencv("image.decode"); }
Tensor read(const std::string&, const DecodeOptions&) { no_opencv("image.read"); }
ImageInfo info(const void*, size_t) { no_opencv("image.info"); }
std::string encode(const Tensor&, const std::string&, int, bool) { no_opencv("image.encode"); }
void write(const std::string&, const Tensor&, int, bool) { no_opencv("image.write"); }

namespace detail {
void resize_opencv(const Tensor&, int64_t, int64_t, int64_t, Tensor&, int64_t, int64_t, Interpolation) {
  no_opencv("image.resize");
}
}  // namespace detail

}  // namespace tessel::image
