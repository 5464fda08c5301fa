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
  dm.def("init_process_group", [](const std::string& backend) {
    py::gil_scoped_release nogil;
    d::init_process_group(backend);
  }, py::arg("backend") = "auto");
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
}

}  // namespace tessel::python
