// Bindings for autocast (tessel.amp builds the context manager on these).
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/amp.h"

namespace tessel::python {

namespace {
DeviceType device_type(const std::string& s) {
  if (s == "cpu") return DeviceType::CPU;
  if (s == "cuda") return DeviceType::CUDA;
  fail<ValueError>("autocast", "device_type must be 'cpu' or 'cuda', got '", s, "'");
}

const char* policy_name(amp::CastPolicy p) {
  switch (p) {
    case amp::CastPolicy::LowerPrecision: return "lower";
    case amp::CastPolicy::Float32: return "float32";
    case amp::CastPolicy::Promote: return "promote";
  }
  return "?";
}
}  // namespace

void init_amp(py::module_& m) {
  py::module_ a = m.def_submodule("_amp", "autocast state (per thread)");
  a.def("is_autocast_enabled", [](const std::string& d) { return amp::is_autocast_enabled(device_type(d)); });
  a.def("set_autocast_enabled",
        [](const std::string& d, bool on) { amp::set_autocast_enabled(device_type(d), on); });
  a.def("get_autocast_dtype", [](const std::string& d) { return amp::get_autocast_dtype(device_type(d)); });
  a.def("set_autocast_dtype", [](const std::string& d, DType t) { amp::set_autocast_dtype(device_type(d), t); });
  a.def("is_autocast_cache_enabled", &amp::is_autocast_cache_enabled);
  a.def("set_autocast_cache_enabled", &amp::set_autocast_cache_enabled);
  a.def("clear_autocast_cache", &amp::clear_autocast_cache);
  a.def("increment_nesting", &amp::increment_nesting);
  a.def("decrement_nesting", &amp::decrement_nesting);
  // The op list with each op's policy: [(name, "lower" | "float32" | "promote")].
  a.def("ops", [] {
    std::vector<std::pair<std::string, std::string>> r;
#define TESSEL_AMP_ROW(name) r.emplace_back(#name, policy_name(amp::policy(amp::Op::name)));
    TESSEL_AUTOCAST_LOWER_OPS(TESSEL_AMP_ROW)
    TESSEL_AUTOCAST_FLOAT32_OPS(TESSEL_AMP_ROW)
    TESSEL_AUTOCAST_PROMOTE_OPS(TESSEL_AMP_ROW)
#undef TESSEL_AMP_ROW
    return r;
  });
}

}  // namespace tessel::python
