// Bindings for tessel::image (tessel._C._image); the Python-facing API is python/tessel/image.
#include "python/src/convert.h"

namespace tessel::python {

void init_image(py::module_& m) {
  auto sub = m.def_submodule("_image", "tessel::image (OpenCV)");
  (void)sub;
}

}  // namespace tessel::python
