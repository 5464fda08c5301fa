// Audio file I/O when tessel is built without libsndfile (TESSEL_WITH_SNDFILE=OFF):
// the same functions, each raising a clear error. Spectral features still work.
#include "tessel/data/audio.h"

namespace tessel::audio {
namespace {
[[noreturn]] void missing(const char* op) {
  fail<NotImplementedError>(op, "tessel was built without libsndfile (TESSEL_WITH_SNDFILE=OFF)");
}
}  // namespace

bool available() { return false; }
Info info(const std::string&) { missing("audio.info"); }
Info info_bytes(const std::string&) { missing("audio.info"); }
Audio load(const std::string&, const LoadOptions&) { missing("audio.load"); }
Audio load_bytes(const std::string&, const LoadOptions&) { missing("audio.load"); }
void save(const std::string&, const Tensor&, int64_t, const std::string&, const std::string&, bool) {
  missing("audio.save");
}
std::string save_bytes(const Tensor&, int64_t, const std::string&, const std::string&, bool) {
  missing("audio.save");
}

}  // namespace tessel::audio
