// Bindings for random numbers: ts.Generator, the default generator's seed and
// state, and the random ops, each with generator= as in PyTorch (docs/random.md).
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/random.h"

namespace tessel::python {

namespace {

// generator=None is the default generator.
Generator& gen_of(py::handle g, const char* op) {
  if (g.is_none()) return default_generator();
  if (!py::isinstance<Generator>(g)) {
    throw py::type_error(std::string(op) + "(): generator must be a tessel.Generator or None, got " + type_name(g));
  }
  return py::cast<Generator&>(g);
}

// A seed as PyTorch takes it: an integer in [-2**63, 2**64); a negative seed
// is taken modulo 2**64.
uint64_t seed_of(py::handle s) {
  if (PyBool_Check(s.ptr()) || !PyIndex_Check(s.ptr())) {
    throw py::type_error("manual_seed(): seed must be an int, got " + type_name(s));
  }
  auto v = py::reinterpret_steal<py::object>(PyNumber_Index(s.ptr()));
  if (!v) throw py::error_already_set();
  int overflow = 0;
  const long long as_signed = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow == 0 && !PyErr_Occurred()) return static_cast<uint64_t>(as_signed);
  PyErr_Clear();
  if (overflow > 0) {
    const unsigned long long as_unsigned = PyLong_AsUnsignedLongLong(v.ptr());
    if (!PyErr_Occurred()) return as_unsigned;
    PyErr_Clear();
  }
  throw py::value_error("manual_seed(): seed must be in [-2**63, 2**64), got " + py::str(v).cast<std::string>());
}

Tensor state_arg(py::handle state, const char* op) {
  if (!py::isinstance<Tensor>(state)) {
    throw py::type_error(std::string(op) + "(): the RNG state must be a uint8 tessel.Tensor, got " + type_name(state));
  }
  return py::cast<Tensor>(state);
}

}  // namespace

void init_random(py::module_& m) {
  py::class_<Generator> g(m, "Generator",
                          "A Philox random stream (seed + offset), as torch.Generator: pass it as generator= to "
                          "the random ops. Its numbers do not depend on the device or the thread count.");
  g.def(py::init(
            [](py::handle device) { return std::make_unique<Generator>(Generator::kDefaultSeed, to_device(device)); }),
        py::arg("device") = "cpu")
      .def_property_readonly("device", &Generator::device)
      .def(
          "manual_seed",
          [](py::object self, py::handle seed) {
            py::cast<Generator&>(self).manual_seed(seed_of(seed));
            return self;
          },
          py::arg("seed"), "Restarts the stream from `seed`; returns the generator.")
      .def("seed", &Generator::seed, "Restarts the stream from a non-deterministic seed and returns it.")
      .def("initial_seed", &Generator::initial_seed, "The seed the stream started from.")
      .def("get_state", &Generator::get_state, "A uint8 tensor of 16 bytes: the seed and offset, little-endian.")
      .def(
          "set_state",
          [](py::object self, py::handle state) {
            py::cast<Generator&>(self).set_state(state_arg(state, "set_state"));
            return self;
          },
          py::arg("new_state"), "Restores a state from get_state(); returns the generator.")
      .def("__repr__",
           [](const Generator& gen) {
             return "<tessel.Generator initial_seed=" + std::to_string(gen.initial_seed()) +
                    " offset=" + std::to_string(gen.offset()) + ">";
           })
      .def(py::pickle([](const Generator& gen) { return py::make_tuple(gen.device().str(), gen.get_state()); },
                      [](const py::tuple& t) {
                        if (t.size() != 2) throw py::value_error("Generator: invalid pickled state");
                        auto gen = std::make_unique<Generator>(Generator::kDefaultSeed, to_device(t[0]));
                        gen->set_state(py::cast<Tensor>(t[1]));
                        return gen;
                      }));
  m.attr("default_generator") = py::cast(&default_generator(), py::return_value_policy::reference);

  m.def(
      "manual_seed",
      [](py::handle seed) {
        default_generator().manual_seed(seed_of(seed));
        return py::cast(&default_generator(), py::return_value_policy::reference);
      },
      py::arg("seed"), "Seeds the default generator; returns it.");
  m.def(
      "seed", [] { return default_generator().seed(); },
      "Seeds the default generator non-deterministically and returns the seed.");
  m.def(
      "initial_seed", [] { return default_generator().initial_seed(); }, "The default generator's seed.");
  m.def(
      "get_rng_state", [] { return default_generator().get_state(); },
      "The default generator's state: a uint8 tensor of 16 bytes (seed and offset).");
  m.def(
      "set_rng_state", [](py::handle state) { default_generator().set_state(state_arg(state, "set_rng_state")); },
      py::arg("new_state"), "Restores the default generator's state from get_rng_state().");

  m.def(
      "rand",
      [](py::args size, py::handle gen, std::optional<DType> dtype, py::handle device, bool requires_grad) {
        return with_grad_flag(
            rand(shape_from_args(size, "rand"), opts(dtype, device, default_float_dtype()), gen_of(gen, "rand")),
            requires_grad);
      },
      py::arg("generator") = py::none(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
      py::arg("requires_grad") = false);
  m.def(
      "randn",
      [](py::args size, py::handle gen, std::optional<DType> dtype, py::handle device, bool requires_grad) {
        return with_grad_flag(
            randn(shape_from_args(size, "randn"), opts(dtype, device, default_float_dtype()), gen_of(gen, "randn")),
            requires_grad);
      },
      py::arg("generator") = py::none(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
      py::arg("requires_grad") = false);
  m.def(
      "randint",
      [](py::args args, py::handle gen, std::optional<DType> dtype, py::handle device, bool requires_grad) {
        // randint(high, size) or randint(low, high, size), as in PyTorch.
        if (args.size() != 2 && args.size() != 3) throw py::type_error("randint(low=0, high, size)");
        const int64_t low = args.size() == 3 ? py::cast<int64_t>(args[0]) : 0;
        const int64_t high = py::cast<int64_t>(args[args.size() - 2]);
        return with_grad_flag(randint(low, high, to_shape(args[args.size() - 1]), opts(dtype, device, DType::Int64),
                                      gen_of(gen, "randint")),
                              requires_grad);
      },
      py::arg("generator") = py::none(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
      py::arg("requires_grad") = false);
  m.def(
      "randperm",
      [](int64_t n, py::handle gen, std::optional<DType> dtype, py::handle device, bool requires_grad) {
        return with_grad_flag(randperm(n, opts(dtype, device, DType::Int64), gen_of(gen, "randperm")), requires_grad);
      },
      py::arg("n"), py::kw_only(), py::arg("generator") = py::none(), py::arg("dtype") = py::none(),
      py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def(
      "uniform_",
      [](const Tensor& t, double a, double b, py::handle gen) { return uniform_(t, a, b, gen_of(gen, "uniform_")); },
      py::arg("tensor"), py::arg("a") = 0.0, py::arg("b") = 1.0, py::kw_only(), py::arg("generator") = py::none());
  m.def(
      "normal_",
      [](const Tensor& t, double mean, double std, py::handle gen) {
        return normal_(t, mean, std, gen_of(gen, "normal_"));
      },
      py::arg("tensor"), py::arg("mean") = 0.0, py::arg("std") = 1.0, py::kw_only(), py::arg("generator") = py::none());

  auto c = py::reinterpret_borrow<py::class_<Tensor>>(m.attr("Tensor"));
  c.def(
      "uniform_",
      [](const Tensor& t, double a, double b, py::handle gen) {
        uniform_(t, a, b, gen_of(gen, "uniform_"));
        return self_of(t);
      },
      py::arg("from_") = 0.0, py::arg("to") = 1.0, py::kw_only(), py::arg("generator") = py::none());
  c.def(
      "normal_",
      [](const Tensor& t, double mean, double std, py::handle gen) {
        normal_(t, mean, std, gen_of(gen, "normal_"));
        return self_of(t);
      },
      py::arg("mean") = 0.0, py::arg("std") = 1.0, py::kw_only(), py::arg("generator") = py::none());
  def_both(
      m, c, "bernoulli", [](const Tensor& p, py::handle gen) { return bernoulli(p, gen_of(gen, "bernoulli")); },
      py::kw_only(), py::arg("generator") = py::none());
  c.def(
      "bernoulli_",
      [](const Tensor& t, double p, py::handle gen) {
        bernoulli_(t, p, gen_of(gen, "bernoulli_"));
        return self_of(t);
      },
      py::arg("p") = 0.5, py::kw_only(), py::arg("generator") = py::none());
  def_both(
      m, c, "multinomial",
      [](const Tensor& p, int64_t n, bool r, py::handle gen) {
        return multinomial(p, n, r, gen_of(gen, "multinomial"));
      },
      py::arg("num_samples"), py::arg("replacement") = false, py::kw_only(), py::arg("generator") = py::none());
  m.def(
      "dropout", [](const Tensor& t, double p, bool training) { return dropout(t, p, training); }, py::arg("input"),
      py::arg("p") = 0.5, py::arg("training") = true);
}

}  // namespace tessel::python
