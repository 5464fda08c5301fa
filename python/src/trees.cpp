// Bindings for tessel::trees (tessel._C._trees): the boosted-trees trainer
// that python/tessel/models/trees.py drives.
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/trees.h"

namespace tessel::python {

void init_trees(py::module_& m) {
  using namespace trees;
  auto t = m.def_submodule("_trees", "tessel::trees: gradient-boosted oblivious trees");
  py::class_<Booster>(t, "Booster")
      .def(py::init([](const Tensor& x, const Tensor& y, std::optional<Tensor> x_val, std::optional<Tensor> y_val,
                       const std::string& loss, int64_t num_classes, int64_t depth, double learning_rate, double l2,
                       double subsample, double colsample, int64_t max_bins, int64_t early_stopping, uint64_t seed) {
             BoostOptions o;
             o.loss = loss;
             o.num_classes = num_classes;
             o.depth = depth;
             o.learning_rate = learning_rate;
             o.l2 = l2;
             o.subsample = subsample;
             o.colsample = colsample;
             o.max_bins = max_bins;
             o.early_stopping = early_stopping;
             o.seed = seed;
             py::gil_scoped_release nogil;  // binning a large table takes a while
             return std::make_unique<Booster>(x, y, x_val, y_val, o);
           }),
           py::arg("x"), py::arg("y"), py::arg("x_val") = py::none(), py::arg("y_val") = py::none(),
           py::arg("loss") = "squared_error", py::arg("num_classes") = 0, py::arg("depth") = 6,
           py::arg("learning_rate") = 0.1, py::arg("l2") = 1.0, py::arg("subsample") = 1.0,
           py::arg("colsample") = 1.0, py::arg("max_bins") = 255, py::arg("early_stopping") = 0,
           py::arg("seed") = 0)
      .def(
          "grow",
          [](Booster& b, int64_t rounds) {
            py::gil_scoped_release nogil;
            return b.grow(rounds);
          },
          py::arg("rounds"), "Grows up to `rounds` more trees (fewer when early stopping fires); returns how many.")
      .def_property_readonly("num_trees", &Booster::num_trees)
      .def_property_readonly("best_trees", &Booster::best_trees)
      .def_property_readonly("stopped", &Booster::stopped)
      .def_property_readonly("has_validation", &Booster::has_validation)
      .def_property_readonly("train_loss", &Booster::train_loss)
      .def_property_readonly("val_loss", &Booster::val_loss)
      .def_property_readonly("best_val_loss", &Booster::best_val_loss)
      .def(
          "ensemble",
          [](const Booster& b, std::optional<int64_t> trees) {
            Ensemble e = b.ensemble(trees);
            return py::make_tuple(e.features, e.thresholds, e.leaves, e.bias);
          },
          py::arg("trees") = py::none(),
          "(features int64 [T, depth], thresholds float32 [T, depth], leaves float32 [T, 2^depth, K], bias [K]) "
          "of the first `trees` trees (default the best count).");
}

}  // namespace tessel::python
