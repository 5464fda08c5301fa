// libFuzzer target for the image decoders: any bytes must give a tensor or a
// tessel::Error, never a crash, hang or leak. Public API only.
//   clang++ -fsanitize=fuzzer,address -std=c++20 -Iinclude tests/fuzz/fuzz_image.cpp -Lbuild -ltessel
#include <cstddef>
#include <cstdint>

#include "tessel/data/image.h"
#include "tessel/error.h"

namespace img = tessel::image;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)img::info(data, size);
  } catch (const tessel::Error&) {
  }
  for (img::ColorMode mode : {img::ColorMode::Color, img::ColorMode::Gray, img::ColorMode::Unchanged}) {
    for (bool exif : {false, true}) {
      img::DecodeOptions o;
      o.mode = mode;
      o.apply_exif_orientation = exif;
      o.bgr = exif;  // both channel orders, without doubling the runs
      try {
        const tessel::Tensor t = img::decode(data, size, o);
        if (t.dim() != 3 || t.size(0) <= 0 || t.size(1) <= 0) __builtin_trap();
      } catch (const tessel::Error&) {
      }
    }
  }
  // The DCT-domain reduced decode (JPEG only) takes another code path.
  img::DecodeOptions small;
  small.size_hint_h = small.size_hint_w = 8;
  try {
    (void)img::decode(data, size, small);
  } catch (const tessel::Error&) {
  }
  return 0;
}
