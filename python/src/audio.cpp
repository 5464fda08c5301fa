// Bindings for tessel::audio (tessel._C._audio); the Python-facing API is python/tessel/audio.
#include "python/src/convert.h"

namespace tessel::python {

void init_audio(py::module_& m) {
  auto sub = m.def_submodule("_audio", "tessel::audio (libsndfile)");
  (void)sub;
}

}  // namespace tessel::python
