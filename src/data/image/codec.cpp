// Decode/encode through OpenCV's imgcodecs (libjpeg-turbo, libpng, libwebp).
// OpenCV applies EXIF orientation and gives BGR; we always ask it not to rotate
// (the flag is ours to apply) and convert to RGB unless bgr is asked for.
// Every OpenCV call is wrapped: cv::Exception never leaves this file.
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "src/data/image/image_util.h"
#include "tessel/io.h"

namespace tessel::image {
namespace {

constexpr const char* kDecode = "image.decode";

// The largest libjpeg scale 1/f (f in 8, 4, 2) that keeps both sides >= the hint.
// The JPEG reduction (1, 2, 4 or 8) that still covers the size hint, from the parsed header.
int reduce_factor(const ImageInfo* hdr, const DecodeOptions& o) {
  if ((o.size_hint_h <= 0 && o.size_hint_w <= 0) || !hdr) return 1;
  for (int f : {8, 4, 2}) {
    const int64_t h = (hdr->height + f - 1) / f, w = (hdr->width + f - 1) / f;
    if (h >= o.size_hint_h && w >= o.size_hint_w) return f;
  }
  return 1;
}

int imread_flags(ColorMode mode, int reduce) {
  if (mode == ColorMode::Unchanged) return cv::IMREAD_UNCHANGED;  // never rotates
  int flags = mode == ColorMode::Gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR;
  if (reduce == 2) flags = mode == ColorMode::Gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2;
  if (reduce == 4) flags = mode == ColorMode::Gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4;
  if (reduce == 8) flags = mode == ColorMode::Gray ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8;
  return flags | cv::IMREAD_IGNORE_ORIENTATION;
}

// cv::Mat -> HWC tensor; 3/4 channels swapped to RGB(A) unless bgr.
Tensor from_mat(const cv::Mat& m, bool bgr, const std::string& fmt) {
  const int c = m.channels();
  const int depth = m.depth();
  TS_CHECK(c == 1 || c == 3 || c == 4, ValueError, kDecode, "unsupported channel count ", c, " in ", fmt, " data");
  TS_CHECK(depth == CV_8U || depth == CV_16U, ValueError, kDecode, "unsupported sample type (OpenCV depth ", depth,
           ") in ", fmt, " data; tessel decodes 8- and 16-bit images");
  const bool swap = !bgr && c >= 3;
  if (depth == CV_8U) {
    Tensor t = empty({m.rows, m.cols, c}, DType::UInt8);
    cv::Mat dst(m.rows, m.cols, CV_8UC(c), t.data<uint8_t>());
    if (swap)
      cv::cvtColor(m, dst, c == 3 ? cv::COLOR_BGR2RGB : cv::COLOR_BGRA2RGBA);
    else
      m.copyTo(dst);
    return t;
  }
  // No uint16 dtype: 16-bit samples widen to int32.
  cv::Mat src;
  if (swap)
    cv::cvtColor(m, src, c == 3 ? cv::COLOR_BGR2RGB : cv::COLOR_BGRA2RGBA);
  else
    src = m;
  Tensor t = empty({m.rows, m.cols, c}, DType::Int32);
  cv::Mat dst(m.rows, m.cols, CV_32SC(c), t.data<int32_t>());
  src.convertTo(dst, CV_32S);
  return t;
}

std::string strip_op(const std::string& what) {
  const size_t k = what.find("] ");
  return what.rfind("[", 0) == 0 && k != std::string::npos ? what.substr(k + 2) : what;
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string read_file(const std::string& path, const char* op) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw FileError(tessel::detail::cat("[", op, "] cannot open '", path, "': ", std::strerror(errno)), errno);
  std::string out;
  char buf[1 << 16];
  size_t k;
  while ((k = std::fread(buf, 1, sizeof buf, f.get())) > 0) out.append(buf, k);
  if (std::ferror(f.get()))
    throw FileError(tessel::detail::cat("[", op, "] cannot read '", path, "': ", std::strerror(errno)), errno);
  return out;
}

}  // namespace

#ifndef TESSEL_HAVE_LIBJPEG
bool detail::decode_jpeg(const uint8_t*, size_t, const DecodeOptions&, int, Tensor&) { return false; }
#endif

bool available() { return true; }

Tensor decode(const void* data, size_t size, const DecodeOptions& o) {
  TS_CHECK(size > 0, ValueError, kDecode, "empty input (0 bytes)");
  TS_CHECK(size <= static_cast<size_t>(INT_MAX), ValueError, kDecode, "input of ", size, " bytes is over 2 GiB");
  TS_CHECK(o.size_hint_h >= 0 && o.size_hint_w >= 0, ValueError, kDecode, "size_hint must be >= 0");
  const auto* p = static_cast<const uint8_t*>(data);
  const std::string fmt = detail::sniff_format(p, size);
  TS_CHECK(!fmt.empty(), ValueError, kDecode, "unknown image format (", size,
           " bytes, not JPEG, PNG, WebP, BMP, GIF or TIFF)");
  // libjpeg "recovers" a truncated file by filling the rest with grey: refuse it.
  TS_CHECK(fmt != "jpeg" || detail::jpeg_complete(p, size), ValueError, kDecode, "truncated JPEG data (", size,
           " bytes, no end-of-image marker)");
  // The header, parsed once: refuse decompression bombs before any decoder allocates (a
  // 740-byte JPEG may declare 65535 x 65535). Headers without a parser (TIFF) or unreadable
  // ones are left to OpenCV's own limit.
  ImageInfo header;
  const bool parsed = detail::read_header(p, size, fmt, header);
  const int64_t limit = max_pixels();
  TS_CHECK(!parsed || limit == 0 || header.width * header.height <= limit, ValueError, kDecode, fmt, " image of ",
           header.width, " x ", header.height, " = ", header.width * header.height, " pixels exceeds the limit of ",
           limit, " (a decompression bomb?); raise it with image.set_max_pixels");
  const int reduce = fmt == "jpeg" ? reduce_factor(parsed ? &header : nullptr, o) : 1;
  Tensor out;
  if (fmt != "jpeg" || !detail::decode_jpeg(p, size, o, reduce, out)) {
    try {
      const cv::Mat buf(1, static_cast<int>(size), CV_8UC1, const_cast<void*>(data));
      cv::Mat m = cv::imdecode(buf, imread_flags(o.mode, reduce));
      TS_CHECK(!m.empty(), ValueError, kDecode, "cannot decode ", fmt, " data (", size,
               " bytes): corrupt or unsupported");
      out = from_mat(m, o.bgr, fmt);
    } catch (const cv::Exception& e) {
      fail<ValueError>(kDecode, "cannot decode ", fmt, " data (", size, " bytes): ", e.msg);
    }
  }
  if (o.apply_exif_orientation && fmt == "jpeg") {
    const int orientation = detail::jpeg_orientation(p, size);
    if (orientation != 1) out = apply_orientation(out, orientation);
  }
  return detail::mark(out);
}

Tensor read(const std::string& path, const DecodeOptions& o) {
  const std::string bytes = read_file(path, "image.read");
  try {
    return decode(bytes.data(), bytes.size(), o);
  } catch (const ValueError& e) {
    fail<ValueError>("image.read", "'", path, "': ", strip_op(e.what()));
  }
}

ImageInfo info(const void* data, size_t size) {
  const char* op = "image.info";
  TS_CHECK(size > 0, ValueError, op, "empty input (0 bytes)");
  const auto* p = static_cast<const uint8_t*>(data);
  ImageInfo out;
  out.format = detail::sniff_format(p, size);
  TS_CHECK(!out.format.empty(), ValueError, op, "unknown image format (", size, " bytes)");
  if (detail::read_header(p, size, out.format, out)) return out;
  TS_CHECK(out.format == "tiff", ValueError, op, "malformed ", out.format, " header (", size, " bytes)");
  // No header parser for TIFF: decode as stored.
  DecodeOptions o;
  o.mode = ColorMode::Unchanged;
  Tensor t = decode(data, size, o);
  out.height = t.size(0), out.width = t.size(1), out.channels = t.size(2);
  out.bit_depth = t.dtype() == DType::UInt8 ? 8 : 16;
  return out;
}

std::string encode(const Tensor& image, const std::string& format, int quality, bool bgr) {
  const char* op = "image.encode";
  const detail::View v = detail::hwc_view(image, op);
  TS_CHECK(image.dtype() == DType::UInt8, TypeError, op, "expected a uint8 image, got ", image.dtype());
  TS_CHECK(v.c == 1 || v.c == 3 || v.c == 4, ValueError, op, "expected 1, 3 or 4 channels, got ", v.c);
  const std::string f = lower(format);
  std::string ext;
  std::vector<int> params;
  if (f == "png") {
    ext = ".png";
  } else if (f == "bmp") {
    ext = ".bmp";
  } else if (f == "jpeg" || f == "jpg") {
    ext = ".jpg";
    TS_CHECK(v.c != 4, ValueError, op, "JPEG has no alpha channel: drop it first (image[..., :3])");
    TS_CHECK(quality == -1 || (quality >= 1 && quality <= 100), ValueError, op, "quality must be in 1..100, got ",
             quality);
    if (quality != -1) params = {cv::IMWRITE_JPEG_QUALITY, quality};
  } else if (f == "webp") {
    ext = ".webp";
    TS_CHECK(quality == -1 || (quality >= 1 && quality <= 100), ValueError, op, "quality must be in 1..100, got ",
             quality);
    if (quality != -1) params = {cv::IMWRITE_WEBP_QUALITY, quality};
  } else {
    fail<ValueError>(op, "unknown format '", format, "'; expected png, jpeg, webp or bmp");
  }
  TS_CHECK(v.h <= INT_MAX && v.w <= INT_MAX, ValueError, op, "image too large");
  std::vector<uchar> buf;
  try {
    cv::Mat m(static_cast<int>(v.h), static_cast<int>(v.w), CV_8UC(static_cast<int>(v.c)), v.t.data<uint8_t>());
    cv::Mat src;  // a new buffer: the caller's image must not change
    if (!bgr && v.c >= 3)
      cv::cvtColor(m, src, v.c == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_RGBA2BGRA);
    else
      src = m;
    TS_CHECK(cv::imencode(ext, src, buf, params), ValueError, op, "OpenCV could not encode ", f);
  } catch (const cv::Exception& e) {
    fail<ValueError>(op, "cannot encode ", f, ": ", e.msg);
  }
  return std::string(buf.begin(), buf.end());
}

void write(const std::string& path, const Tensor& image, int quality, bool bgr) {
  const char* op = "image.write";
  const size_t dot = path.find_last_of('.');
  const std::string ext = dot == std::string::npos ? "" : lower(path.substr(dot + 1));
  TS_CHECK(ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "webp" || ext == "bmp", ValueError, op,
           "cannot tell the format of '", path, "' from its extension (.png, .jpg, .jpeg, .webp, .bmp)");
  const std::string bytes = encode(image, ext, quality, bgr);
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
  if (!f) throw FileError(tessel::detail::cat("[", op, "] cannot open '", path, "': ", std::strerror(errno)), errno);
  if (std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    throw FileError(tessel::detail::cat("[", op, "] cannot write '", path, "': ", std::strerror(errno)), errno);
}

}  // namespace tessel::image
