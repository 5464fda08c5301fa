// Bindings for tessel::data (tessel._C._data); the Python-facing API is python/tessel/data.
#include "python/src/convert.h"

namespace tessel::python {

void init_data(py::module_& m) {
  auto sub = m.def_submodule("_data", "tessel::data (C++ worker threads)");
  (void)sub;
}

}  // namespace tessel::python
