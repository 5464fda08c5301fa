// tessel::build_info(): the build options as the binary itself knows them.
// An optional component is "enabled" when its real implementation (not the
// no_*.cpp stub) was compiled in; its version comes from the library loaded
// with libtessel, looked up through weak references so that a build without
// the library still links (the reference is then null).
#include "tessel/build_info.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdio>
#include <string>

#include "tessel/data/audio.h"
#include "tessel/data/image.h"
#include "tessel/data/text.h"
#include "tessel/distributed.h"
#include "tessel/onnx.h"

#if __has_include(<unicode/uvernum.h>)
#include <unicode/uvernum.h>
#endif
#if __has_include(<google/protobuf/stubs/common.h>)
#include <google/protobuf/stubs/common.h>
#endif

extern "C" {
const char* sf_version_string(void) __attribute__((weak));
int MPI_Get_library_version(char* version, int* resultlen) __attribute__((weak));
int cudaRuntimeGetVersion(int* version) __attribute__((weak));
size_t cudnnGetVersion(void) __attribute__((weak));
}
namespace cv {
std::string getVersionString() __attribute__((weak));  // cv::String is std::string since OpenCV 4
}

namespace tessel {
namespace {

std::string dnnl_isa_name(int isa) {
  // dnnl_cpu_isa_t values (oneDNN 2.x/3.x): each ISA's bits include those of the ones it extends.
  switch (isa) {
    case 0x0: return "all";
    case 0x1: return "sse41";
    case 0x3: return "avx";
    case 0x7: return "avx2";
    case 0xf: return "avx512_mic";
    case 0x1f: return "avx512_mic_4ops";
    case 0x27: return "avx512_core";
    case 0x67: return "avx512_core_vnni";
    case 0xe7: return "avx512_core_bf16";
    case 0x1e7: return "avx512_core_fp16";
    case 0x3e7: return "avx512_core_amx";
    case 0x407: return "avx2_vnni";
    case 0xc07: return "avx2_vnni_2";
    case 0x7e7: return "avx512_core_amx_fp16";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "isa 0x%x", isa);
      return buf;
    }
  }
}

std::string dnnl_runtime_name(unsigned r) {
  switch (r) {
    case 0: return "none";
    case 1: return "sequential";
    case 2: return "OpenMP";
    case 4: return "TBB";
    case 8: return "threadpool";
    case 256: return "OpenCL";
    case 512: return "SYCL";
    default: return std::to_string(r);
  }
}

std::string dotted(long v, long major_div, long minor_div) {
  return std::to_string(v / major_div) + "." + std::to_string(v / minor_div % (major_div / minor_div)) + "." +
         std::to_string(v % minor_div);
}

}  // namespace

std::vector<BuildComponent> build_info() {
  std::vector<BuildComponent> out;

  BuildComponent dnnl{"oneDNN", true, "", {}};
  const dnnl_version_t* v = dnnl_version();
  dnnl.version = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  dnnl.details = {{"headers", std::to_string(DNNL_VERSION_MAJOR) + "." + std::to_string(DNNL_VERSION_MINOR) + "." +
                                  std::to_string(DNNL_VERSION_PATCH)},
                  {"commit", v->hash ? v->hash : ""},
                  {"cpu_runtime", dnnl_runtime_name(v->cpu_runtime)},
                  {"isa", dnnl_isa_name(static_cast<int>(dnnl_get_effective_cpu_isa()))}};
  out.push_back(std::move(dnnl));

  BuildComponent omp{"OpenMP", true, "", {}};
#ifdef _OPENMP
  omp.version = std::to_string(_OPENMP);  // the spec date, e.g. 201511 = OpenMP 4.5
#endif
  omp.details = {{"max_threads", std::to_string(omp_get_max_threads())}};
  out.push_back(std::move(omp));

  BuildComponent cv{"OpenCV", image::available(), "", {}};
  if (cv.enabled && cv::getVersionString) cv.version = cv::getVersionString();
  out.push_back(std::move(cv));

  BuildComponent icu{"ICU", text::available(), "", {}};
#ifdef U_ICU_VERSION
  if (icu.enabled) icu.version = U_ICU_VERSION;
#endif
  out.push_back(std::move(icu));

  BuildComponent snd{"libsndfile", audio::available(), "", {}};
  if (snd.enabled && sf_version_string) {
    std::string s = sf_version_string();  // "libsndfile-1.2.0"
    auto dash = s.rfind('-');
    snd.version = dash == std::string::npos ? s : s.substr(dash + 1);
  }
  out.push_back(std::move(snd));

  BuildComponent onnx_c{"ONNX", onnx::available(), "", {}};
#ifdef GOOGLE_PROTOBUF_VERSION
  if (onnx_c.enabled) onnx_c.details = {{"protobuf", dotted(GOOGLE_PROTOBUF_VERSION, 1000000, 1000)}};
#endif
  out.push_back(std::move(onnx_c));

  BuildComponent mpi{"MPI", distributed::is_mpi_available(), "", {}};
  if (mpi.enabled && MPI_Get_library_version) {
    char buf[8192];  // MPI_MAX_LIBRARY_VERSION_STRING in Open MPI; callable before MPI_Init
    int len = 0;
    if (MPI_Get_library_version(buf, &len) == 0 && len > 0) {
      std::string s(buf, static_cast<size_t>(len) < sizeof buf ? static_cast<size_t>(len) : sizeof buf - 1);
      mpi.version = s.substr(0, s.find_first_of(",\n"));  // "Open MPI v4.1.4"
    }
  }
  out.push_back(std::move(mpi));
  out.push_back({"NCCL", distributed::is_nccl_available(), "", {}});

  BuildComponent cuda{"CUDA", cudaRuntimeGetVersion != nullptr, "", {}};
  int cv_int = 0;
  if (cuda.enabled && cudaRuntimeGetVersion(&cv_int) == 0)  // 12040 = 12.4
    cuda.version = std::to_string(cv_int / 1000) + "." + std::to_string(cv_int % 1000 / 10);
  out.push_back(std::move(cuda));
  BuildComponent cudnn{"cuDNN", cudnnGetVersion != nullptr, "", {}};
  if (cudnn.enabled) cudnn.version = std::to_string(cudnnGetVersion());
  out.push_back(std::move(cudnn));

  BuildComponent cc{"compiler", true, "", {}};
#if defined(__clang__)
  cc.version = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  cc.version = std::string("gcc ") + __VERSION__;
#endif
  cc.details = {{"cxx_standard", std::to_string(__cplusplus)},
#ifdef NDEBUG
                {"assertions", "off"},
#else
                {"assertions", "on"},
#endif
#ifdef __OPTIMIZE__
                {"optimized", "yes"}};
#else
                {"optimized", "no"}};
#endif
  out.push_back(std::move(cc));
  return out;
}

}  // namespace tessel
