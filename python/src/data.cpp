// Bindings for tessel::data (tessel._C._data): the Transform base class and
// Compose (shared by ts.image and ts.audio transforms), FileDataset and the C++
// DataLoader, whose next() runs without the GIL. The Python-facing classes are
// in python/tessel/data.
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/data/loader.h"

namespace tessel::python {

namespace {
py::tuple as_tuple(const std::vector<Tensor>& v) {
  py::tuple t(v.size());
  for (size_t i = 0; i < v.size(); ++i) t[i] = py::cast(v[i]);
  return t;
}
}  // namespace

void init_data(py::module_& m) {
  using namespace data;
  auto d = m.def_submodule("_data", "tessel::data (transforms, datasets and a loader on C++ threads)");
  py::class_<Transform, std::shared_ptr<Transform>>(d, "Transform")
      .def(
          "__call__",
          [](const Transform& t, py::handle x, std::optional<uint64_t> seed) {
            // A Tensor, or anything ts.tensor accepts (NumPy arrays, nested lists).
            const Tensor* p = as_tensor_ptr(x);
            const Tensor in = p ? *p : tensor_from_data(x, std::nullopt, Device(DeviceType::CPU));
            const uint64_t s = seed ? *seed : draw_seed();
            py::gil_scoped_release nogil;
            Rng rng(s);
            return t.apply(in, rng);
          },
          py::arg("x"), py::arg("seed") = py::none(),
          "Applies the transform; seed=None draws one from tessel's generator (ts.manual_seed reproduces it).")
      .def("__repr__", &Transform::repr);
  py::class_<Compose, Transform, std::shared_ptr<Compose>>(d, "Compose")
      .def(py::init([](const std::vector<std::shared_ptr<Transform>>& ts) {
             return std::make_shared<Compose>(std::vector<TransformPtr>(ts.begin(), ts.end()));
           }),
           py::arg("transforms"));

  py::class_<Dataset, std::shared_ptr<Dataset>>(d, "Dataset")
      .def("__len__", &Dataset::size)
      .def("get", [](const Dataset& ds, int64_t i, uint64_t seed) {
        TS_CHECK(i >= -ds.size() && i < ds.size(), IndexError, "data.Dataset", "index ", i, " out of range for ",
                 ds.size(), " items");
        Example ex;
        {
          py::gil_scoped_release nogil;
          Rng rng(seed);
          ex = ds.get(i < 0 ? i + ds.size() : i, rng);
        }
        return as_tuple(ex);
      });
  py::class_<FileDataset, Dataset, std::shared_ptr<FileDataset>>(d, "FileDataset")
      .def(py::init([](std::vector<std::string> paths, std::string decode, std::shared_ptr<Transform> transform,
                       std::optional<std::vector<int64_t>> labels) {
             return std::make_shared<FileDataset>(std::move(paths), std::move(decode), std::move(transform),
                                                  std::move(labels));
           }),
           py::arg("paths"), py::arg("decode"), py::arg("transform") = nullptr, py::arg("labels") = py::none());
  d.def("decoder_names", &decoder_names);
  d.def("epoch_order", &epoch_order, py::arg("n"), py::arg("shuffle"), py::arg("seed"), py::arg("epoch"));
  d.def("item_seed", &item_seed, py::arg("seed"), py::arg("epoch"), py::arg("index"));
  py::class_<LoaderOptions>(d, "LoaderOptions")
      .def(py::init<>())
      .def_readwrite("batch_size", &LoaderOptions::batch_size)
      .def_readwrite("shuffle", &LoaderOptions::shuffle)
      .def_readwrite("seed", &LoaderOptions::seed)
      .def_readwrite("drop_last", &LoaderOptions::drop_last)
      .def_readwrite("num_workers", &LoaderOptions::num_workers)
      .def_readwrite("prefetch", &LoaderOptions::prefetch)
      .def_readwrite("collate", &LoaderOptions::collate);
  py::class_<DataLoader, std::shared_ptr<DataLoader>>(d, "DataLoader")
      .def(py::init([](std::shared_ptr<Dataset> ds, const LoaderOptions& o) {
        return std::make_shared<DataLoader>(std::move(ds), o);
      }))
      .def("__len__", &DataLoader::num_batches)
      .def("begin_epoch", py::overload_cast<uint64_t>(&DataLoader::begin_epoch), py::arg("epoch"),
           py::call_guard<py::gil_scoped_release>())
      .def("begin_epoch", py::overload_cast<BatchPlan, uint64_t, uint64_t>(&DataLoader::begin_epoch),
           py::arg("batches"), py::arg("seed"), py::arg("epoch"), py::call_guard<py::gil_scoped_release>())
      .def(
          "next",
          [](DataLoader& l, double timeout) {
            std::optional<std::vector<Tensor>> b;
            {
              py::gil_scoped_release nogil;
              b = l.next(timeout);
            }
            if (!b) throw py::stop_iteration();
            return as_tuple(*b);
          },
          py::arg("timeout") = 0.0)
      .def(
          "next_items",
          [](DataLoader& l, double timeout) {
            std::optional<std::vector<Example>> b;
            {
              py::gil_scoped_release nogil;
              b = l.next_items(timeout);
            }
            if (!b) throw py::stop_iteration();
            py::list out;
            for (const auto& ex : *b) out.append(as_tuple(ex));
            return out;
          },
          py::arg("timeout") = 0.0);
}

}  // namespace tessel::python
