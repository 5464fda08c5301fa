// libFuzzer target: audio decoding from untrusted bytes (scripts/fuzz.sh runs it).
// Any input must decode or raise tessel::Error; crashes, leaks and sanitizer
// reports are failures.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tessel/data/audio.h"
#include "tessel/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    tessel::audio::info_bytes(bytes);
  } catch (const tessel::Error&) {
  }
  for (int variant = 0; variant < 3; ++variant) {
    tessel::audio::LoadOptions o;
    o.normalize = variant != 1;
    o.mono = variant == 2;
    o.frame_offset = variant == 2 ? 7 : 0;
    o.num_frames = variant == 2 ? 100 : -1;
    try {
      tessel::audio::load_bytes(bytes, o);
    } catch (const tessel::Error&) {
    }
  }
  return 0;
}
