#pragma once
// What this libtessel was built with and what it runs on: the optional
// components (OpenCV, ICU, libsndfile, ONNX/protobuf, MPI, CUDA), oneDNN's
// version, runtime and effective ISA, the compiler and the build type.
// `tessel info` prints it (python/tessel/cli/info.py).
#include <string>
#include <utility>
#include <vector>

#include "tessel/export.h"

namespace tessel {

struct BuildComponent {
  std::string name;     // "oneDNN", "OpenCV", "ICU", "libsndfile", "ONNX", "MPI", "CUDA", "cuDNN", "OpenMP", "compiler"
  bool enabled = false; // compiled in (and, for a library, linked)
  std::string version;  // as the library reports it at run time, else its headers at build time; "" if unknown
  std::vector<std::pair<std::string, std::string>> details;  // e.g. {"isa", "avx512_core_vnni"}
};

TESSEL_API std::vector<BuildComponent> build_info();

}  // namespace tessel
