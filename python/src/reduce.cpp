// Bindings for reductions, scans and softmax: ts.sum(t, ...) and t.sum(...).
#include <pybind11/stl.h>

#include <cmath>

#include "python/src/convert.h"

namespace tessel::python {

namespace {
// tessel.return_types.<name> (values, indices): looked up on first use, kept for the process.
py::object return_type(const char* name) { return py::module_::import("tessel.return_types").attr(name); }

double norm_p(py::handle p) {
  if (py::isinstance<py::str>(p)) {
    if (py::cast<std::string>(p) == "fro") return 2.0;
    throw py::value_error("[norm] unsupported p '" + py::cast<std::string>(p) + "' (use a number, inf or 'fro')");
  }
  return py::cast<double>(p);
}

std::optional<int64_t> opt_dim(py::handle dim) {
  if (dim.is_none()) return std::nullopt;
  return py::cast<int64_t>(dim);
}
}  // namespace

void init_reduce(py::module_& m) {
  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  const auto dim = py::arg("dim") = py::none();
  const auto keepdim = py::arg("keepdim") = false;

  def_both(m, c, "sum", [](const Tensor& t, py::handle d, bool k, std::optional<DType> dt) {
    return sum(t, dims_arg(d), k, dt);
  }, dim, keepdim, py::kw_only(), py::arg("dtype") = py::none());
  def_both(m, c, "mean", [](const Tensor& t, py::handle d, bool k, std::optional<DType> dt) {
    return mean(t, dims_arg(d), k, dt);
  }, dim, keepdim, py::kw_only(), py::arg("dtype") = py::none());
  def_both(m, c, "prod", [](const Tensor& t, py::handle d, bool k, std::optional<DType> dt) {
    return prod(t, dims_arg(d), k, dt);
  }, dim, keepdim, py::kw_only(), py::arg("dtype") = py::none());
  def_both(m, c, "amax", [](const Tensor& t, py::handle d, bool k) { return amax(t, dims_arg(d), k); }, dim, keepdim);
  def_both(m, c, "amin", [](const Tensor& t, py::handle d, bool k) { return amin(t, dims_arg(d), k); }, dim, keepdim);
  def_both(m, c, "max", [](const Tensor& t, py::handle d, bool k) -> py::object {
    if (d.is_none()) return py::cast(max(t));
    static auto* type = new py::object(return_type("max"));
    auto [v, i] = max(t, py::cast<int64_t>(d), k);
    return (*type)(v, i);
  }, dim, keepdim);
  def_both(m, c, "min", [](const Tensor& t, py::handle d, bool k) -> py::object {
    if (d.is_none()) return py::cast(min(t));
    static auto* type = new py::object(return_type("min"));
    auto [v, i] = min(t, py::cast<int64_t>(d), k);
    return (*type)(v, i);
  }, dim, keepdim);
  def_both(m, c, "argmax", [](const Tensor& t, py::handle d, bool k) { return argmax(t, opt_dim(d), k); }, dim,
           keepdim);
  def_both(m, c, "argmin", [](const Tensor& t, py::handle d, bool k) { return argmin(t, opt_dim(d), k); }, dim,
           keepdim);
  auto var_std = [](bool is_std) {
    return [is_std](const Tensor& t, py::handle d, py::handle unbiased, std::optional<double> correction, bool k) {
      // PyTorch's (input, unbiased) overload: a bool in the dim position is `unbiased` over all dims.
      if (PyBool_Check(d.ptr()) && unbiased.is_none()) {
        unbiased = d;
        d = py::none();
      }
      double corr = correction.value_or(1.0);
      if (!unbiased.is_none()) corr = py::cast<bool>(unbiased) ? 1.0 : 0.0;
      return is_std ? tessel::std(t, dims_arg(d), corr, k) : var(t, dims_arg(d), corr, k);
    };
  };
  def_both(m, c, "var", var_std(false), dim, py::arg("unbiased") = py::none(), py::kw_only(),
           py::arg("correction") = py::none(), keepdim);
  def_both(m, c, "std", var_std(true), dim, py::arg("unbiased") = py::none(), py::kw_only(),
           py::arg("correction") = py::none(), keepdim);
  def_both(m, c, "norm", [](const Tensor& t, py::handle p, py::handle d, bool k) {
    return norm(t, norm_p(p), dims_arg(d), k);
  }, py::arg("p") = "fro", dim, keepdim);
  def_both(m, c, "logsumexp", [](const Tensor& t, py::handle d, bool k) { return logsumexp(t, dims_arg(d), k); },
           py::arg("dim"), keepdim);
  def_both(m, c, "all", [](const Tensor& t, py::handle d, bool k) { return all(t, dims_arg(d), k); }, dim, keepdim);
  def_both(m, c, "any", [](const Tensor& t, py::handle d, bool k) { return any(t, dims_arg(d), k); }, dim, keepdim);
  def_both(m, c, "count_nonzero", [](const Tensor& t, py::handle d) { return count_nonzero(t, dims_arg(d)); }, dim);
  def_both(m, c, "cumsum", [](const Tensor& t, int64_t d, std::optional<DType> dt) { return cumsum(t, d, dt); },
           py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
  def_both(m, c, "cumprod", [](const Tensor& t, int64_t d, std::optional<DType> dt) { return cumprod(t, d, dt); },
           py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
  def_both(m, c, "softmax", [](const Tensor& t, int64_t d, std::optional<DType> dt) { return softmax(t, d, dt); },
           py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
  def_both(m, c, "log_softmax",
           [](const Tensor& t, int64_t d, std::optional<DType> dt) { return log_softmax(t, d, dt); }, py::arg("dim"),
           py::kw_only(), py::arg("dtype") = py::none());
}

}  // namespace tessel::python
