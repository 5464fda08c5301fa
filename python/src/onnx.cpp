// Bindings for ONNX model import (tessel._C._onnx); the Python-facing API
// (ts.onnx.load, ts.onnx.InferenceSession) is in python/tessel/onnx/.
#include <pybind11/gil_safe_call_once.h>
#include <pybind11/stl.h>

#include <algorithm>

#include "python/src/convert.h"
#include "tessel/onnx.h"
#include "tessel/trace.h"

namespace tessel::python {

namespace {

py::object dim_to_python(const onnx::Dim& d) {
  if (auto* v = std::get_if<int64_t>(&d)) return py::int_(*v);
  const auto& s = std::get<std::string>(d);
  if (s.empty()) return py::none();  // an unknown dim without a name
  return py::str(s);
}

py::list infos(const std::vector<onnx::ValueInfo>& vs) {
  py::list out;
  for (const auto& v : vs) {
    py::object shape = py::none();
    if (v.has_shape) {
      py::list dims;
      for (const auto& d : v.shape) dims.append(dim_to_python(d));
      shape = dims;
    }
    // tensor(string) has no tessel dtype: None.
    out.append(py::make_tuple(v.name, v.onnx_type, v.is_string() ? py::none() : py::cast(v.dtype), shape));
  }
  return out;
}

// A string tensor from Python: (shape, list of str or bytes), row-major.
onnx::StringTensor string_tensor(const std::string& name, const py::tuple& v) {
  if (v.size() != 2) throw TypeError("[onnx.run] input '" + name + "': a string feed is (shape, values)");
  onnx::StringTensor st;
  st.shape = v[0].cast<Shape>();
  py::list items = v[1].cast<py::list>();
  st.data.reserve(items.size());
  for (const auto& it : items) {
    if (py::isinstance<py::bytes>(it) || py::isinstance<py::str>(it)) {
      st.data.push_back(it.cast<std::string>());  // str as UTF-8
    } else {
      const std::string tn = py::str(py::type::of(it).attr("__name__"));
      throw TypeError("[onnx.run] input '" + name + "': string tensor elements must be str or bytes, got " + tn);
    }
  }
  return st;
}

// Strings back to Python as str; bytes that are not UTF-8 come back as bytes.
py::object strings_to_python(const onnx::StringTensor& st) {
  py::list items;
  for (const auto& s : st.data) {
    PyObject* u = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
    if (u) {
      items.append(py::reinterpret_steal<py::object>(u));
    } else {
      PyErr_Clear();
      items.append(py::bytes(s));
    }
  }
  return py::make_tuple(py::cast(st.shape), items);
}

}  // namespace

void init_onnx(py::module_& m) {
  py::module_ o = m.def_submodule("_onnx", "ONNX model import (use tessel.onnx)");
  o.def("available", &onnx::available);
  o.def("import_ops", &onnx::import_ops, "ONNX op types the importer runs (ai.onnx.ml ones as 'ai.onnx.ml.<op>')");
  o.def("export_ops", &onnx::export_ops, "tessel ops (trace names) the exporter maps onto ONNX");
  py::class_<onnx::Model>(o, "Model")
      .def_static(
          "load",
          [](const std::string& path) {
            py::gil_scoped_release nogil;
            return onnx::Model::load(path);
          },
          py::arg("path"))
      .def_static(
          "load_bytes",
          [](const py::bytes& data, const std::string& base_dir) {
            std::string s = data;
            py::gil_scoped_release nogil;
            return onnx::Model::load_bytes(s, base_dir);
          },
          py::arg("data"), py::arg("base_dir") = "")
      .def_property_readonly("inputs", [](const onnx::Model& m) { return infos(m.inputs()); })
      .def_property_readonly("outputs", [](const onnx::Model& m) { return infos(m.outputs()); })
      .def_property_readonly("value_info", [](const onnx::Model& m) { return infos(m.value_info()); })
      .def("memory_stats",
           [](const onnx::Model& m) {
             const auto s = m.memory_stats();
             py::dict d;
             d["pool_hits"] = s.pool_hits;
             d["pool_misses"] = s.pool_misses;
             d["free_bytes"] = s.free_bytes;
             return d;
           })
      .def(
          "memory_estimate",
          [](const onnx::Model& m, const onnx::NamedShapes& shapes) {
            auto e = m.memory_estimate(shapes);
            py::dict d;
            d["peak_bytes"] = e.peak_bytes;
            d["total_bytes"] = e.total_bytes;
            d["peak_node"] = e.peak_node;
            d["unknown"] = e.unknown;
            return d;
          },
          py::arg("input_shapes"))
      .def_property_readonly("opset", &onnx::Model::opset)
      .def_property_readonly("ir_version", &onnx::Model::ir_version)
      .def_property_readonly("producer_name", &onnx::Model::producer_name)
      .def(
          "run",
          [](const onnx::Model& m, const onnx::NamedTensors& feed) {
            py::gil_scoped_release nogil;
            return m.run(feed);
          },
          py::arg("feed"))
      // The fast paths of Model.run and InferenceSession.run (python/tessel/onnx): at batch 1
      // of a small model the Python around run was a third of the time. None: a value
      // needs the general path (strings, sequences, a non-contiguous or foreign array).
      .def("run_dict",
           [](const onnx::Model& m, const py::dict& feed) -> py::object {
             onnx::NamedTensors in;
             in.reserve(feed.size());
             for (auto [k, v] : feed) {
               if (!py::isinstance<Tensor>(v) || !py::isinstance<py::str>(k)) return py::none();
               in.emplace_back(k.cast<std::string>(), v.cast<Tensor>());
             }
             onnx::NamedTensors out;
             {
               py::gil_scoped_release nogil;
               out = m.run(in);
             }
             py::dict d;
             for (auto& [name, t] : out) d[py::str(name)] = py::cast(std::move(t));
             return d;
           },
           py::arg("feed"))
      .def("run_arrays",
           [](const onnx::Model& m, const py::dict& feed, const py::object& names) -> py::object {
             // Looked up once, under the GIL (a plain function static would hold its guard across the import).
             PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<std::pair<py::object, py::object>> np_once;
             const auto& [nd_type, asarray_fn] = np_once.call_once_and_store_result([] {
               py::module_ np = py::module_::import("numpy");
               return std::make_pair(py::object(np.attr("ndarray")), py::object(np.attr("asarray")));
             }).get_stored();
             PyObject* ndarray = nd_type.ptr();
             PyObject* asarray = asarray_fn.ptr();
             onnx::NamedTensors in;
             in.reserve(feed.size());
             for (auto [k, v] : feed) {
               if (Py_TYPE(v.ptr()) != reinterpret_cast<PyTypeObject*>(ndarray) || !py::isinstance<py::str>(k))
                 return py::none();
               try {
                 Tensor t = from_numpy(v);
                 if (!t.is_contiguous()) return py::none();
                 in.emplace_back(k.cast<std::string>(), std::move(t));
               } catch (const std::exception&) {  // a dtype tessel lacks: the general path names it
                 return py::none();
               }
             }
             onnx::NamedTensors out;
             {
               py::gil_scoped_release nogil;
               out = m.run(in);
             }
             auto numpy = [&](const Tensor& t) {
               py::object mv = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(py::cast(t).ptr()));
               if (!mv) throw py::error_already_set();
               return py::reinterpret_borrow<py::object>(asarray)(mv);
             };
             py::list res;
             if (names.is_none()) {
               for (const auto& [name, t] : out) res.append(numpy(t));
               return res;
             }
             for (const auto& n : names) {
               const std::string want = n.cast<std::string>();
               auto it = std::find_if(out.begin(), out.end(), [&](const auto& o) { return o.first == want; });
               if (it == out.end()) {
                 std::string all;
                 for (const auto& o : out) all += (all.empty() ? "'" : ", '") + o.first + "'";
                 throw py::value_error("InferenceSession.run: '" + want + "' is not an output of the model (outputs: [" +
                                       all + "])");
               }
               res.append(numpy(it->second));
             }
             return res;
           },
           py::arg("feed"), py::arg("output_names"))
      // feed: [(name, value)], a value being a Tensor, (shape, [str | bytes])
      // for strings, a list of those for a sequence, or None for an empty
      // optional; results come back in the same forms.
      .def(
          "run_values",
          [](const onnx::Model& m, const py::list& feed) {
            onnx::NamedValues in;
            for (const auto& item : feed) {
              auto pair = item.cast<py::tuple>();
              const std::string name = pair[0].cast<std::string>();
              py::object v = pair[1];
              if (v.is_none()) {
                in.emplace_back(name, onnx::NoValue{});
              } else if (py::isinstance<py::list>(v)) {
                onnx::TensorSequence seq;
                for (const auto& x : v.cast<py::list>()) {
                  if (py::isinstance<py::tuple>(x)) seq.items.emplace_back(string_tensor(name, x.cast<py::tuple>()));
                  else seq.items.emplace_back(x.cast<Tensor>());
                }
                in.emplace_back(name, std::move(seq));
              } else if (py::isinstance<py::tuple>(v)) {
                in.emplace_back(name, string_tensor(name, v.cast<py::tuple>()));
              } else if (py::isinstance<py::dict>(v)) {  // map(K, tensor(T)): {int | str: number}
                onnx::ValueMap mv;
                DType dt = DType::Float32;
                for (const auto& info : m.inputs())
                  if (info.name == name) dt = info.dtype;
                std::vector<double> vals;
                bool first = true;
                for (auto [k, x] : v.cast<py::dict>()) {
                  const bool s = py::isinstance<py::str>(k);
                  if (!s && !py::isinstance<py::int_>(k))
                    throw py::type_error("onnx.run: input '" + name + "': map keys must be int or str, got " +
                                         type_name(k));
                  if (first) mv.by_string = s;
                  else if (s != mv.by_string) throw py::type_error("onnx.run: input '" + name + "': map keys mix int and str");
                  first = false;
                  if (s) mv.string_keys.push_back(k.cast<std::string>());
                  else mv.int_keys.push_back(k.cast<int64_t>());
                  try {
                    vals.push_back(x.cast<double>());
                  } catch (const py::cast_error&) {
                    throw py::type_error("onnx.run: input '" + name + "': map values must be numbers, got " +
                                         type_name(x));
                  }
                }
                mv.values = from_vector<double>(vals, {static_cast<int64_t>(vals.size())}).to(dt);
                in.emplace_back(name, std::move(mv));
              } else {
                in.emplace_back(name, v.cast<Tensor>());
              }
            }
            onnx::NamedValues out;
            {
              py::gil_scoped_release nogil;
              out = m.run_values(in);
            }
            auto dict_of = [](const onnx::ValueMap& m) -> py::object {  // {key: number}, as onnxruntime
              py::dict d;
              const bool ints = is_integral(m.values.dtype());
              const Tensor v = m.values.to(ints ? DType::Int64 : DType::Float64).contiguous();
              for (int64_t k = 0; k < v.numel(); ++k) {
                py::object x = ints ? py::object(py::int_(v.data<int64_t>()[k])) : py::object(py::float_(v.data<double>()[k]));
                if (m.by_string) d[py::str(m.string_keys[static_cast<size_t>(k)])] = x;
                else d[py::int_(m.int_keys[static_cast<size_t>(k)])] = x;
              }
              return std::move(d);
            };
            auto element = [&](const std::variant<Tensor, onnx::StringTensor, onnx::ValueMap>& e) -> py::object {
              if (auto* t = std::get_if<Tensor>(&e)) return py::cast(*t);
              if (auto* m = std::get_if<onnx::ValueMap>(&e)) return dict_of(*m);
              return strings_to_python(std::get<onnx::StringTensor>(e));
            };
            py::list res;
            for (auto& [name, v] : out) {
              py::object o = py::none();
              if (auto* t = std::get_if<Tensor>(&v)) o = py::cast(*t);
              else if (auto* st = std::get_if<onnx::StringTensor>(&v)) o = strings_to_python(*st);
              else if (auto* mv = std::get_if<onnx::ValueMap>(&v)) o = dict_of(*mv);
              else if (auto* seq = std::get_if<onnx::TensorSequence>(&v)) {
                py::list items;
                for (const auto& e : seq->items) items.append(element(e));
                o = items;
              }
              res.append(py::make_tuple(name, o));
            }
            return res;
          },
          py::arg("feed"));

  // Export: `fn(list[Tensor]) -> list[Tensor]` is traced (the GIL stays held: it is Python).
  o.def(
      "export",
      [](const py::function& fn, const std::vector<Tensor>& args, const NamedTensors& params,
         const std::vector<std::string>& input_names, const std::vector<std::string>& output_names,
         const std::map<std::string, std::map<int64_t, std::string>>& dynamic_axes, int64_t opset,
         bool external_data, const std::string& path) -> py::object {
        onnx::ExportOptions o;
        o.input_names = input_names;
        o.output_names = output_names;
        o.dynamic_axes = dynamic_axes;
        o.opset = opset;
        o.external_data = external_data;
        auto call = [&](const std::vector<Tensor>& a) { return fn(a).cast<std::vector<Tensor>>(); };
        if (path.empty()) return py::bytes(onnx::export_bytes(call, args, params, o));
        onnx::export_function(call, args, params, path, o);
        return py::none();
      },
      py::arg("fn"), py::arg("args"), py::arg("params"), py::arg("input_names"), py::arg("output_names"),
      py::arg("dynamic_axes"), py::arg("opset"), py::arg("external_data"), py::arg("path"));
  o.def("tracing", &trace::active, "Whether this thread is recording an export trace");
  // A composite op written in Python (an LSTM's time loop) recorded as one call:
  // `fn()` computes the outputs; the ops it runs are not recorded.
  o.def(
      "traced_call",
      [](const std::string& name, const py::function& fn, const std::vector<std::optional<Tensor>>& inputs,
         const py::dict& attrs) {
        trace::Op t{name.c_str()};
        if (!t) return fn().cast<std::vector<Tensor>>();
        for (const auto& i : inputs) t.in(i);
        for (const auto& [k, v] : attrs) {
          const std::string key = py::str(k);
          if (py::isinstance<py::bool_>(v) || py::isinstance<py::int_>(v)) t.attr(key.c_str(), v.cast<int64_t>());
          else if (py::isinstance<py::float_>(v)) t.attr(key.c_str(), v.cast<double>());
          else if (py::isinstance<py::str>(v)) t.attr(key.c_str(), v.cast<std::string>());
          else t.attr(key.c_str(), v.cast<std::vector<int64_t>>());
        }
        return t.out(fn().cast<std::vector<Tensor>>());
      },
      py::arg("name"), py::arg("fn"), py::arg("inputs"), py::arg("attrs"));
}

}  // namespace tessel::python
