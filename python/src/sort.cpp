// Bindings for sorting and searching: sort argsort topk kthvalue unique searchsorted.
#include <pybind11/stl.h>

#include "python/src/convert.h"

namespace tessel::python {

namespace {
// tessel.return_types.<Name> (values, indices), as torch.return_types; one lookup per op, kept for the process.
template <const char* Name>
py::object named(const std::tuple<Tensor, Tensor>& r) {
  static auto* type = new py::object(py::module_::import("tessel.return_types").attr(Name));
  return (*type)(std::get<0>(r), std::get<1>(r));
}
constexpr char kSort[] = "sort";
constexpr char kTopk[] = "topk";
constexpr char kKthvalue[] = "kthvalue";
}  // namespace

void init_sort(py::module_& m) {
  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  def_both(m, c, "sort", [](const Tensor& t, int64_t dim, bool desc, bool stable) {
    (void)stable;  // every tessel sort is stable
    return named<kSort>(sort(t, dim, desc));
  }, py::arg("dim") = -1, py::arg("descending") = false, py::kw_only(), py::arg("stable") = false);
  def_both(m, c, "argsort", [](const Tensor& t, int64_t dim, bool desc, bool stable) {
    (void)stable;
    return argsort(t, dim, desc);
  }, py::arg("dim") = -1, py::arg("descending") = false, py::kw_only(), py::arg("stable") = false);
  def_both(m, c, "topk", [](const Tensor& t, int64_t k, int64_t dim, bool largest, bool sorted) {
    (void)sorted;  // results always come sorted
    return named<kTopk>(topk(t, k, dim, largest));
  }, py::arg("k"), py::arg("dim") = -1, py::arg("largest") = true, py::arg("sorted") = true);
  def_both(m, c, "kthvalue", [](const Tensor& t, int64_t k, int64_t dim, bool keepdim) {
    return named<kKthvalue>(kthvalue(t, k, dim, keepdim));
  }, py::arg("k"), py::arg("dim") = -1, py::arg("keepdim") = false);
  def_both(m, c, "unique", [](const Tensor& t, bool sorted, bool ret_inv, bool ret_counts, py::handle dim) -> py::object {
    (void)sorted;  // always sorted
    auto [u, inv, counts] = dim.is_none() ? unique(t) : unique(t, dim.cast<int64_t>());
    if (!ret_inv && !ret_counts) return py::cast(u);
    py::list out;
    out.append(u);
    if (ret_inv) out.append(inv);
    if (ret_counts) out.append(counts);
    return py::tuple(out);
  }, py::arg("sorted") = true, py::arg("return_inverse") = false, py::arg("return_counts") = false,
           py::arg("dim") = py::none());
  m.def("searchsorted", [](const Tensor& s, py::handle v, bool right, std::optional<std::string> side) {
    if (side) {
      if (*side != "left" && *side != "right")
        throw py::value_error("[searchsorted] side must be 'left' or 'right', got '" + *side + "'");
      right = *side == "right";
    }
    if (const Tensor* vt = as_tensor_ptr(v)) return searchsorted(s, *vt, right);
    Scalar x;
    if (!to_scalar(v, x)) throw py::type_error("[searchsorted] values must be a tensor or a number");
    return searchsorted(s, scalar_tensor(x, TensorOptions(s.dtype(), s.device())), right);
  }, py::arg("sorted_sequence"), py::arg("values"), py::kw_only(), py::arg("right") = false,
        py::arg("side") = py::none());
}

}  // namespace tessel::python
