// Bindings for tessel::text (tessel._C._text); the Python-facing API is python/tessel/text.
#include "python/src/convert.h"

namespace tessel::python {

void init_text(py::module_& m) {
  auto sub = m.def_submodule("_text", "tessel::text (ICU)");
  (void)sub;
}

}  // namespace tessel::python
