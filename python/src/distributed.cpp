// Bindings for tessel::distributed (tessel._C._distributed); the Python API is
// python/tessel/distributed. Collectives run without the GIL.
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/distributed.h"

namespace tessel::python {

void init_distributed(py::module_& m) {
  namespace d = tessel::distributed;
  auto dm = m.def_submodule("_distributed", "tessel::distributed: collective communication");

  py::enum_<d::ReduceOp>(dm, "ReduceOp", "How all_reduce and reduce_scatter combine the ranks' values.")
      .value("SUM", d::ReduceOp::Sum)
      .value("AVG", d::ReduceOp::Avg)
      .value("PRODUCT", d::ReduceOp::Product)
      .value("MIN", d::ReduceOp::Min)
      .value("MAX", d::ReduceOp::Max);

  py::class_<d::Work, d::WorkPtr>(dm, "Work", "The handle of a collective started with async_op=True.")
      .def("wait", [](d::Work& w) {
        py::gil_scoped_release nogil;
        w.wait();
        return true;
      }, "Blocks until the collective is done (raises its error, if any); returns True.")
      .def("is_completed", &d::Work::is_completed)
      .def("is_success", &d::Work::is_success)
      .def("_timing", [](const d::Work& w) { return py::make_tuple(w.started_at(), w.finished_at()); },
           "(started, finished) on the communication thread, in time.monotonic() seconds (0 until then).");

  dm.def("detect_launch", [] {
    const d::LaunchInfo i = d::detect_launch();
    py::dict r;
    r["launcher"] = i.launcher;
    r["rank"] = i.rank;
    r["world_size"] = i.world_size;
    r["local_rank"] = i.local_rank;
    r["local_world_size"] = i.local_world_size;
    r["mpi"] = i.mpi;
    return r;
  }, "The launcher's view of this process, from the environment.");
  dm.def("is_mpi_available", &d::is_mpi_available);
  dm.def("is_nccl_available", &d::is_nccl_available);
  dm.def("init_process_group", [](const std::string& backend, double timeout_s) {
    py::gil_scoped_release nogil;
    d::init_process_group(backend, timeout_s);
  }, py::arg("backend") = "auto", py::arg("timeout_s") = 0.0);
  dm.def("is_initialized", &d::is_initialized);
  dm.def("destroy_process_group", [] {
    py::gil_scoped_release nogil;
    d::destroy_process_group();
  });
  dm.def("get_backend", [] { return d::default_group().backend(); });
  dm.def("get_rank", &d::get_rank);
  dm.def("get_world_size", &d::get_world_size);
  dm.def("get_local_rank", &d::get_local_rank);
  dm.def("abort", [](int code) { d::default_group().abort(code); }, py::arg("code"));

  const auto nogil = py::call_guard<py::gil_scoped_release>();
  dm.def("all_reduce", &d::all_reduce, py::arg("tensor"), py::arg("op"), py::arg("async_op"), nogil);
  dm.def("broadcast", &d::broadcast, py::arg("tensor"), py::arg("src"), py::arg("async_op"), nogil);
  dm.def("all_gather", &d::all_gather, py::arg("tensor_list"), py::arg("tensor"), py::arg("async_op"), nogil);
  dm.def("all_gather_into_tensor", &d::all_gather_into_tensor, py::arg("output_tensor"), py::arg("input_tensor"),
         py::arg("async_op"), nogil);
  dm.def("reduce_scatter", &d::reduce_scatter, py::arg("output"), py::arg("input_list"), py::arg("op"),
         py::arg("async_op"), nogil);
  dm.def("reduce_scatter_tensor", &d::reduce_scatter_tensor, py::arg("output"), py::arg("input"), py::arg("op"),
         py::arg("async_op"), nogil);
  dm.def("barrier", &d::barrier, py::arg("async_op"), nogil);

  // The bucket engine of ts.nn.parallel.DistributedDataParallel (C++ hooks: backward
  // never enters Python for it).
  py::class_<d::Reducer>(dm, "Reducer", "Gradient buckets averaged over the ranks while backward runs.")
      .def(py::init([](std::vector<Tensor> params, std::vector<std::string> names, int64_t bucket_cap_bytes,
                       bool find_unused_parameters) {
             d::ReducerOptions o;
             o.bucket_cap_bytes = bucket_cap_bytes;
             o.find_unused_parameters = find_unused_parameters;
             py::gil_scoped_release nogil;
             return std::make_unique<d::Reducer>(std::move(params), std::move(names), o);
           }),
           py::arg("params"), py::arg("names"), py::arg("bucket_cap_bytes"), py::arg("find_unused_parameters"))
      .def("check_finished", &d::Reducer::check_finished)
      .def("prepare_for_backward", &d::Reducer::prepare_for_backward, py::arg("outputs"), nogil)
      .def("disarm", &d::Reducer::disarm)
      .def("buckets", &d::Reducer::buckets)
      .def("stats", [](const d::Reducer& r) {
        const d::ReducerStats s = r.stats();
        py::dict out;
        out["steps"] = s.steps;
        out["comm_s"] = s.comm_s;
        out["hidden_s"] = s.hidden_s;
        return out;
      })
      .def("reset_stats", &d::Reducer::reset_stats);
  dm.def("broadcast_tensors", &d::broadcast_tensors, py::arg("tensors"), py::arg("src") = 0, nogil);
}

}  // namespace tessel::python
