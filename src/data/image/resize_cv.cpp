// The OpenCV-compatible resize family (antialias=false, and area): cv::resize
// on tessel's buffers, so the result is OpenCV's to the bit.
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "src/data/image/image_util.h"

namespace tessel::image::detail {

void resize_opencv(const Tensor& src, int64_t h, int64_t w, int64_t c, Tensor& dst, int64_t oh, int64_t ow,
                   Interpolation interp) {
  const char* op = "image.resize";
  int flag = cv::INTER_LINEAR;
  switch (interp) {
    case Interpolation::Bilinear:
      flag = cv::INTER_LINEAR;
      break;
    case Interpolation::Bicubic:
      flag = cv::INTER_CUBIC;
      break;
    case Interpolation::Lanczos:
      flag = cv::INTER_LANCZOS4;
      break;
    case Interpolation::Area:
      flag = cv::INTER_AREA;
      break;
    default:
      fail<ValueError>(op, to_string(interp), " has no OpenCV counterpart");
  }
  TS_CHECK(c <= CV_CN_MAX && h <= INT_MAX && w <= INT_MAX && oh <= INT_MAX && ow <= INT_MAX, ValueError, op,
           "image too large for OpenCV (", h, "x", w, "x", c, ")");
  const int depth = src.dtype() == DType::UInt8 ? CV_8U : CV_32F;
  const int type = CV_MAKETYPE(depth, static_cast<int>(c));
  try {
    const cv::Mat s(static_cast<int>(h), static_cast<int>(w), type, src.data_ptr());
    cv::Mat d(static_cast<int>(oh), static_cast<int>(ow), type, dst.data_ptr());
    cv::resize(s, d, d.size(), 0, 0, flag);
    TS_CHECK(d.data == dst.data_ptr(), ValueError, op, "OpenCV reallocated the output");
  } catch (const cv::Exception& e) {
    fail<ValueError>(op, "OpenCV: ", e.msg);
  }
}

}  // namespace tessel::image::detail
