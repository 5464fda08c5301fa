// JPEG through libjpeg(-turbo) directly: the hot path of image loading.
// OpenCV 4.6's imdecode decodes to RGB and swaps to BGR in a scalar loop that
// costs as much as the decode itself; libjpeg gives RGB (or BGR) straight into
// the tensor, scales by 1/2, 1/4, 1/8 in the DCT, and reports truncation.
// libjpeg reports errors by longjmp: the functions holding a jmp_buf own only
// trivially destructible state, and errors become exceptions after they return.
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <string>
#include <vector>
// jpeglib.h needs size_t and FILE first.
#include <jerror.h>
#include <jpeglib.h>

#include "src/data/image/image_util.h"

namespace tessel::image::detail {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  bool corrupt;  // a warning that means lost or damaged scan data (first one in `warning`)
  char message[JMSG_LENGTH_MAX];
  char warning[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorMgr*>(c->err);
  (*c->err->format_message)(c, e->message);
  longjmp(e->jump, 1);
}

// libjpeg "recovers" from damaged scan data with a warning and grey (or garbled)
// pixels; those warnings are errors here. Extraneous bytes before a marker (some
// cameras write them) and a bad ICC profile leave the pixels intact.
bool is_corrupt_warning(int code) {
  switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
      return true;
    default:
      return false;
  }
}

// A recorded corrupt-data warning as ValueError, without libjpeg's own prefix.
void check_warnings(const ErrorMgr& e, size_t n) {
  if (!e.corrupt) return;
  const std::string w = e.warning;
  const std::string prefix = "Corrupt JPEG data: ";
  const bool eof = w.rfind("Premature end", 0) == 0;
  fail<ValueError>("image.decode", eof ? "truncated" : "corrupt", " JPEG data (", n,
                   " bytes): ", w.rfind(prefix, 0) == 0 ? w.substr(prefix.size()) : w,
                   eof ? "" : " (the scan data is cut or damaged)");
}

void on_message(j_common_ptr c, int level) {
  auto* e = reinterpret_cast<ErrorMgr*>(c->err);
  if (level >= 0 || e->corrupt || !is_corrupt_warning(c->err->msg_code)) return;
  e->corrupt = true;
  (*c->err->format_message)(c, e->warning);
}

struct Header {
  int width, height, components;
  J_COLOR_SPACE color;
};

void setup(jpeg_decompress_struct& c, ErrorMgr& e) {
  c.err = jpeg_std_error(&e.pub);
  e.pub.error_exit = on_error;
  e.pub.emit_message = on_message;
  e.corrupt = false;
  e.message[0] = e.warning[0] = 0;
}

// 0 on success, else the error message is in e.message.
int read_header(const uint8_t* p, size_t n, int reduce, J_COLOR_SPACE out_space, Header& h, ErrorMgr& e) {
  jpeg_decompress_struct c;
  setup(c, e);
  if (setjmp(e.jump)) {
    jpeg_destroy_decompress(&c);
    return 1;
  }
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, p, static_cast<unsigned long>(n));
  jpeg_read_header(&c, TRUE);
  h.color = c.jpeg_color_space;
  h.components = c.num_components;
  if (out_space != JCS_UNKNOWN) c.out_color_space = out_space;
  c.scale_num = 1, c.scale_denom = static_cast<unsigned>(reduce);
  jpeg_calc_output_dimensions(&c);
  h.width = static_cast<int>(c.output_width), h.height = static_cast<int>(c.output_height);
  jpeg_destroy_decompress(&c);
  return 0;
}

// out == nullptr: decode in the file's own color space into `scratch` rows, only
// to see libjpeg's warnings (the OpenCV path, which ignores them).
int decode_into(const uint8_t* p, size_t n, int reduce, J_COLOR_SPACE out_space, uint8_t* out, int width, int height,
                int channels, ErrorMgr& e, uint8_t* scratch = nullptr) {
  jpeg_decompress_struct c;
  setup(c, e);
  if (setjmp(e.jump)) {
    jpeg_destroy_decompress(&c);
    return 1;
  }
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, p, static_cast<unsigned long>(n));
  jpeg_read_header(&c, TRUE);
  if (out_space != JCS_UNKNOWN) c.out_color_space = out_space;
  c.scale_num = 1, c.scale_denom = static_cast<unsigned>(reduce);
  c.dct_method = JDCT_ISLOW;  // OpenCV's and Pillow's choice
  jpeg_start_decompress(&c);
  if (!out) {
    // `width` is the scratch size in bytes here.
    JSAMPROW row = scratch;
    if (static_cast<size_t>(c.output_width) * c.output_components <= static_cast<size_t>(width))
      while (c.output_scanline < c.output_height) jpeg_read_scanlines(&c, &row, 1);
    jpeg_abort_decompress(&c);
    jpeg_destroy_decompress(&c);
    return 0;
  }
  if (static_cast<int>(c.output_width) != width || static_cast<int>(c.output_height) != height ||
      c.output_components != channels) {
    jpeg_destroy_decompress(&c);
    std::snprintf(e.message, sizeof e.message, "inconsistent JPEG header");
    return 1;
  }
  const size_t stride = static_cast<size_t>(width) * channels;
  JSAMPROW rows[16];
  while (c.output_scanline < c.output_height) {
    const unsigned k = std::min<unsigned>(16, c.output_height - c.output_scanline);
    for (unsigned i = 0; i < k; ++i) rows[i] = out + (c.output_scanline + i) * stride;
    jpeg_read_scanlines(&c, rows, k);
  }
  jpeg_finish_decompress(&c);
  jpeg_destroy_decompress(&c);
  return 0;
}

// The OpenCV path ignores libjpeg's warnings: decode once more here only to see them.
void check_scan(const uint8_t* p, size_t n) {
  const char* op = "image.decode";
  ErrorMgr e;
  Header h{};
  if (read_header(p, n, 1, JCS_UNKNOWN, h, e) != 0) fail<ValueError>(op, "corrupt JPEG data: ", e.message);
  if (h.width <= 0 || h.height <= 0) return;  // OpenCV reports it
  std::vector<uint8_t> row(static_cast<size_t>(h.width) * std::max(4, h.components));
  if (decode_into(p, n, 1, JCS_UNKNOWN, nullptr, static_cast<int>(row.size()), 0, 1, e, row.data()) != 0)
    fail<ValueError>(op, "corrupt JPEG data: ", e.message);
  check_warnings(e, n);
}

}  // namespace

bool decode_jpeg(const uint8_t* p, size_t n, const DecodeOptions& o, int reduce, Tensor& out) {
  const char* op = "image.decode";
  if (o.mode == ColorMode::Unchanged) {  // OpenCV's rules for "as stored"
    check_scan(p, n);
    return false;
  }
#ifdef JCS_EXTENSIONS
  const J_COLOR_SPACE bgr = JCS_EXT_BGR;  // libjpeg-turbo writes BGR itself
#else
  if (o.bgr && o.mode == ColorMode::Color) {  // plain libjpeg: let OpenCV swap
    check_scan(p, n);
    return false;
  }
  const J_COLOR_SPACE bgr = JCS_RGB;
#endif
  const J_COLOR_SPACE space = o.mode == ColorMode::Gray ? JCS_GRAYSCALE : (o.bgr ? bgr : JCS_RGB);
  const int channels = o.mode == ColorMode::Gray ? 1 : 3;
  ErrorMgr e;
  Header h{};
  if (read_header(p, n, reduce, space, h, e) != 0) fail<ValueError>(op, "corrupt JPEG data: ", e.message);
  // libjpeg does not convert CMYK/YCCK (Adobe) to RGB; OpenCV does.
  if (h.color == JCS_CMYK || h.color == JCS_YCCK) {
    check_scan(p, n);
    return false;
  }
  TS_CHECK(h.width > 0 && h.height > 0, ValueError, op, "JPEG of size ", h.width, "x", h.height);
  Tensor t = empty({h.height, h.width, channels}, DType::UInt8);
  if (decode_into(p, n, reduce, space, t.data<uint8_t>(), h.width, h.height, channels, e) != 0)
    fail<ValueError>(op, "corrupt JPEG data: ", e.message);
  check_warnings(e, n);
  out = std::move(t);
  return true;
}

}  // namespace tessel::image::detail
