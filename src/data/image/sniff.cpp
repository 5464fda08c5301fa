// Container-level parsing of image headers: format by magic bytes, JPEG marker
// walk (completeness, SOF size, EXIF orientation), PNG IHDR, BMP and WebP
// headers. Every read is bounds-checked: the bytes are untrusted.
#include <atomic>
#include <cstring>

#include "src/data/image/image_util.h"

namespace tessel::image::detail {
namespace {

uint32_t be16(const uint8_t* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t be32(const uint8_t* p) { return (be16(p) << 16) | be16(p + 2); }
uint32_t le16(const uint8_t* p) { return (uint32_t(p[1]) << 8) | p[0]; }
uint32_t le24(const uint8_t* p) { return le16(p) | (uint32_t(p[2]) << 16); }
uint32_t le32(const uint8_t* p) { return le16(p) | (le16(p + 2) << 16); }

// SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
bool is_sof(uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

// Calls on_segment(marker, payload, length) for each marker segment up to the
// first scan; returns the offset of the SOS payload end (or 0 if not reached).
template <class F>
size_t walk_jpeg_headers(const uint8_t* p, size_t n, F&& on_segment) {
  if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) return 0;
  size_t i = 2;
  while (i < n) {
    if (p[i] != 0xFF) return 0;
    while (i < n && p[i] == 0xFF) ++i;  // fill bytes
    if (i >= n) return 0;
    const uint8_t m = p[i++];
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no payload
    if (m == 0xD9 || i + 2 > n) return 0;
    const size_t len = be16(p + i);
    if (len < 2 || i + len > n) return 0;
    if (!on_segment(m, p + i + 2, len - 2)) return 0;
    i += len;
    if (m == 0xDA) return i;
  }
  return 0;
}

int exif_orientation(const uint8_t* d, size_t n) {
  if (n < 14 || std::memcmp(d, "Exif\0\0", 6) != 0) return 0;
  const uint8_t* t = d + 6;
  const size_t tn = n - 6;
  const bool le = t[0] == 'I' && t[1] == 'I';
  if (!le && !(t[0] == 'M' && t[1] == 'M')) return 0;
  auto u16 = [&](size_t o) { return le ? le16(t + o) : be16(t + o); };
  auto u32 = [&](size_t o) { return le ? le32(t + o) : be32(t + o); };
  if (u16(2) != 42) return 0;
  const size_t ifd = u32(4);
  if (ifd + 2 > tn) return 0;
  const size_t count = u16(ifd);
  for (size_t k = 0; k < count; ++k) {
    const size_t e = ifd + 2 + 12 * k;
    if (e + 12 > tn) return 0;
    if (u16(e) == 0x0112 && u16(e + 2) == 3) {
      const int v = static_cast<int>(u16(e + 8));
      return v >= 1 && v <= 8 ? v : 0;
    }
  }
  return 0;
}

}  // namespace

std::string sniff_format(const uint8_t* p, size_t n) {
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return "jpeg";
  if (n >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
  if (n >= 12 && std::memcmp(p, "RIFF", 4) == 0 && std::memcmp(p + 8, "WEBP", 4) == 0) return "webp";
  if (n >= 2 && p[0] == 'B' && p[1] == 'M') return "bmp";
  if (n >= 6 && (std::memcmp(p, "GIF87a", 6) == 0 || std::memcmp(p, "GIF89a", 6) == 0)) return "gif";
  if (n >= 4 && (std::memcmp(p, "II*\0", 4) == 0 || std::memcmp(p, "MM\0*", 4) == 0)) return "tiff";
  return "";
}

bool jpeg_complete(const uint8_t* p, size_t n) {
  size_t i = walk_jpeg_headers(p, n, [](uint8_t, const uint8_t*, size_t) { return true; });
  if (i == 0) return false;
  // Entropy-coded data: 0xFF is followed by 0x00 (stuffing) or RSTn; anything
  // else is the next marker. Progressive files have several scans.
  while (i < n) {
    const void* q = std::memchr(p + i, 0xFF, n - i);
    if (!q) return false;
    size_t j = static_cast<size_t>(static_cast<const uint8_t*>(q) - p);
    while (j + 1 < n && p[j + 1] == 0xFF) ++j;
    if (j + 1 >= n) return false;
    const uint8_t m = p[j + 1];
    if (m == 0x00 || (m >= 0xD0 && m <= 0xD7)) {
      i = j + 2;
      continue;
    }
    if (m == 0xD9) return true;
    // A marker segment between scans (DHT, SOS, DRI, ...).
    if (j + 4 > n) return false;
    const size_t len = be16(p + j + 2);
    if (len < 2 || j + 2 + len > n) return false;
    i = j + 2 + len;
  }
  return false;
}

int jpeg_orientation(const uint8_t* p, size_t n) {
  int orientation = 1;
  walk_jpeg_headers(p, n, [&](uint8_t m, const uint8_t* d, size_t len) {
    if (m == 0xE1) {
      if (int o = exif_orientation(d, len)) orientation = o;
    }
    return true;
  });
  return orientation;
}

bool read_header(const uint8_t* p, size_t n, const std::string& format, ImageInfo& out) {
  out.format = format;
  if (format == "jpeg") {
    bool found = false;
    walk_jpeg_headers(p, n, [&](uint8_t m, const uint8_t* d, size_t len) {
      if (m == 0xE1) {
        if (int o = exif_orientation(d, len)) out.orientation = o;
      } else if (is_sof(m) && len >= 6) {
        out.bit_depth = d[0];
        out.height = be16(d + 1);
        out.width = be16(d + 3);
        out.channels = d[5];
        found = true;
        return false;  // stop: the frame header is all we need
      }
      return true;
    });
    return found && out.width > 0 && out.height > 0;
  }
  if (format == "png") {
    if (n < 8 + 8 + 13 || std::memcmp(p + 12, "IHDR", 4) != 0) return false;
    out.width = be32(p + 16);
    out.height = be32(p + 20);
    out.bit_depth = p[24];
    switch (p[25]) {
      case 0:
        out.channels = 1;
        break;
      case 2:
        out.channels = 3;
        break;
      case 3:
        out.channels = 3, out.bit_depth = 8;
        break;  // palette: expanded to RGB
      case 4:
        out.channels = 2;
        break;
      case 6:
        out.channels = 4;
        break;
      default:
        return false;
    }
    return out.width > 0 && out.height > 0;
  }
  if (format == "bmp") {
    if (n < 26) return false;
    const uint32_t dib = le32(p + 14);
    uint32_t bpp = 0;
    if (dib == 12) {
      out.width = le16(p + 18), out.height = le16(p + 20), bpp = le16(p + 24);
    } else if (dib >= 40 && n >= 30) {
      out.width = static_cast<int32_t>(le32(p + 18));
      out.height = static_cast<int32_t>(le32(p + 22));
      if (out.height < 0) out.height = -out.height;  // top-down rows
      bpp = le16(p + 28);
    } else {
      return false;
    }
    out.channels = bpp == 32 ? 4 : 3;
    return out.width > 0 && out.height > 0;
  }
  if (format == "gif") {  // logical screen size; frames are palette-coded RGB
    if (n < 10) return false;
    out.width = le16(p + 6), out.height = le16(p + 8), out.channels = 3;
    return out.width > 0 && out.height > 0;
  }
  if (format == "webp") {
    if (n < 30) return false;
    if (std::memcmp(p + 12, "VP8X", 4) == 0) {
      out.channels = (p[20] & 0x10) ? 4 : 3;
      out.width = le24(p + 24) + 1;
      out.height = le24(p + 27) + 1;
    } else if (std::memcmp(p + 12, "VP8 ", 4) == 0) {
      if (p[23] != 0x9D || p[24] != 0x01 || p[25] != 0x2A) return false;
      out.channels = 3;
      out.width = le16(p + 26) & 0x3FFF;
      out.height = le16(p + 28) & 0x3FFF;
    } else if (std::memcmp(p + 12, "VP8L", 4) == 0) {
      if (p[20] != 0x2F) return false;
      const uint32_t b = le32(p + 21);
      out.width = (b & 0x3FFF) + 1;
      out.height = ((b >> 14) & 0x3FFF) + 1;
      out.channels = ((b >> 28) & 1) ? 4 : 3;
    } else {
      return false;
    }
    return out.width > 0 && out.height > 0;
  }
  return false;
}

}  // namespace tessel::image::detail

namespace tessel::image {
namespace {
std::atomic<int64_t> g_max_pixels{178956970};
}  // namespace

void set_max_pixels(int64_t n) {
  TS_CHECK(n >= 0, ValueError, "image.set_max_pixels", "the limit must be >= 0 (0: none), got ", n);
  g_max_pixels = n;
}
int64_t max_pixels() { return g_max_pixels; }

}  // namespace tessel::image
