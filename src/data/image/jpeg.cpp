// JPEG through libjpeg(-turbo) directly: the hot path of image loading.
// OpenCV 4.6's imdecode decodes to RGB and swaps to BGR in a scalar loop that
// costs as much as the decode itself; libjpeg gives RGB (or BGR) straight into
// the tensor, scales by 1/2, 1/4, 1/8 in the DCT, and reports truncation.
// libjpeg reports errors by longjmp: the functions holding a jmp_buf own only
// trivially destructible state, and errors become exceptions after they return.
#include <algorithm>
#include <csetjmp>
#include <cstdio>
// jpeglib.h needs size_t and FILE first.
#include <jerror.h>
#include <jpeglib.h>

#include "src/data/image/image_util.h"

namespace tessel::image::detail {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  bool truncated;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorMgr*>(c->err);
  (*c->err->format_message)(c, e->message);
  longjmp(e->jump, 1);
}

// Warnings are recoverable corruption; only "premature end" means missing data.
void on_message(j_common_ptr c, int level) {
  auto* e = reinterpret_cast<ErrorMgr*>(c->err);
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) e->truncated = true;
}

struct Header {
  int width, height, components;
  J_COLOR_SPACE color;
};

void setup(jpeg_decompress_struct& c, ErrorMgr& e) {
  c.err = jpeg_std_error(&e.pub);
  e.pub.error_exit = on_error;
  e.pub.emit_message = on_message;
  e.truncated = false;
  e.message[0] = 0;
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

int decode_into(const uint8_t* p, size_t n, int reduce, J_COLOR_SPACE out_space, uint8_t* out, int width, int height,
                int channels, ErrorMgr& e) {
  jpeg_decompress_struct c;
  setup(c, e);
  if (setjmp(e.jump)) {
    jpeg_destroy_decompress(&c);
    return 1;
  }
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, p, static_cast<unsigned long>(n));
  jpeg_read_header(&c, TRUE);
  c.out_color_space = out_space;
  c.scale_num = 1, c.scale_denom = static_cast<unsigned>(reduce);
  c.dct_method = JDCT_ISLOW;  // OpenCV's and Pillow's choice
  jpeg_start_decompress(&c);
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

}  // namespace

bool decode_jpeg(const uint8_t* p, size_t n, const DecodeOptions& o, int reduce, Tensor& out) {
  const char* op = "image.decode";
  if (o.mode == ColorMode::Unchanged) return false;  // OpenCV's rules for "as stored"
#ifdef JCS_EXTENSIONS
  const J_COLOR_SPACE bgr = JCS_EXT_BGR;  // libjpeg-turbo writes BGR itself
#else
  if (o.bgr && o.mode == ColorMode::Color) return false;  // plain libjpeg: let OpenCV swap
  const J_COLOR_SPACE bgr = JCS_RGB;
#endif
  const J_COLOR_SPACE space = o.mode == ColorMode::Gray ? JCS_GRAYSCALE : (o.bgr ? bgr : JCS_RGB);
  const int channels = o.mode == ColorMode::Gray ? 1 : 3;
  ErrorMgr e;
  Header h{};
  if (read_header(p, n, reduce, space, h, e) != 0) fail<ValueError>(op, "corrupt JPEG data: ", e.message);
  // libjpeg does not convert CMYK/YCCK (Adobe) to RGB; OpenCV does.
  if (h.color == JCS_CMYK || h.color == JCS_YCCK) return false;
  TS_CHECK(h.width > 0 && h.height > 0, ValueError, op, "JPEG of size ", h.width, "x", h.height);
  Tensor t = empty({h.height, h.width, channels}, DType::UInt8);
  if (decode_into(p, n, reduce, space, t.data<uint8_t>(), h.width, h.height, channels, e) != 0)
    fail<ValueError>(op, "corrupt JPEG data: ", e.message);
  TS_CHECK(!e.truncated, ValueError, op, "truncated JPEG data (", n, " bytes, premature end of file)");
  out = std::move(t);
  return true;
}

}  // namespace tessel::image::detail
