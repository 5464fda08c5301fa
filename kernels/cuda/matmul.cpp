// matmul on CUDA through cuBLAS (float32, float64, and float16/bfloat16 on
// tensor cores with float accumulation). libcublas is dlopen'ed on the first
// matmul, so libtessel loads where it is absent; a machine without it gets a
// clear error from matmul alone.
#include <cublas_v2.h>
#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "src/cuda/runtime.h"
#include "tessel/cuda.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel::cuda {
namespace {

using GemmFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                  const void*, cudaDataType, int, long long, const void*, cudaDataType, int,
                                  long long, const void*, void*, cudaDataType, int, long long, int,
                                  cublasComputeType_t, cublasGemmAlgo_t);

struct Cublas {
  cublasStatus_t (*create)(cublasHandle_t*) = nullptr;
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t) = nullptr;
  const char* (*status_string)(cublasStatus_t) = nullptr;
  GemmFn gemm = nullptr;
  std::string error;  // why it could not be loaded
};

// libcublasLt first from the same folder: libcublas needs it and has no rpath.
void* open_cublas(std::string& tried) {
  std::vector<std::string> dirs{""};
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* v = std::getenv(var)) dirs.push_back(std::string(v) + "/lib64/");
  dirs.push_back("/usr/local/cuda/lib64/");
  for (const std::string& d : dirs) {
    for (const char* ver : {".13", ""}) {
      dlopen((d + "libcublasLt.so" + ver).c_str(), RTLD_NOW | RTLD_GLOBAL);
      const std::string name = d + "libcublas.so" + ver;
      if (void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
      tried += (tried.empty() ? "" : ", ") + name;
    }
  }
  return nullptr;
}

const Cublas& cublas() {
  static const Cublas c = [] {
    Cublas r;
    std::string tried;
    void* h = open_cublas(tried);
    if (!h) {
      r.error = "cuBLAS could not be loaded (tried " + tried + ")";
      return r;
    }
    r.create = reinterpret_cast<decltype(r.create)>(dlsym(h, "cublasCreate_v2"));
    r.set_stream = reinterpret_cast<decltype(r.set_stream)>(dlsym(h, "cublasSetStream_v2"));
    r.status_string = reinterpret_cast<decltype(r.status_string)>(dlsym(h, "cublasGetStatusString"));
    r.gemm = reinterpret_cast<GemmFn>(dlsym(h, "cublasGemmStridedBatchedEx"));
    if (!r.create || !r.set_stream || !r.status_string || !r.gemm) r.error = "libcublas lacks cublasGemmStridedBatchedEx";
    return r;
  }();
  TS_CHECK(c.error.empty(), Error, "matmul", c.error);
  return c;
}

void check_cublas(cublasStatus_t rc) {
  if (rc != CUBLAS_STATUS_SUCCESS) fail<Error>("matmul", "cuBLAS error: ", cublas().status_string(rc));
}

// One handle per thread and device (a handle is not to be shared by threads).
cublasHandle_t handle(int device) {
  thread_local std::vector<cublasHandle_t> handles;
  if (handles.size() <= static_cast<size_t>(device)) handles.resize(static_cast<size_t>(device) + 1, nullptr);
  cublasHandle_t& h = handles[static_cast<size_t>(device)];
  if (!h) check_cublas(cublas().create(&h));
  return h;
}

// A matrix as cuBLAS sees it (column-major): the operation and leading dim that
// read a row-major [rows, cols] view with these strides, or false when neither does.
bool as_operand(int64_t rows, int64_t cols, int64_t s_row, int64_t s_col, bool& transpose, int64_t& ld) {
  if (s_col == 1 && s_row >= std::max<int64_t>(cols, 1)) {
    transpose = false;
    ld = s_row;
    return true;
  }
  if (s_row == 1 && s_col >= std::max<int64_t>(rows, 1)) {
    transpose = true;
    ld = s_col;
    return true;
  }
  if (rows == 1 && s_col == 1) {  // a single row: any row stride reads it
    transpose = false;
    ld = std::max<int64_t>(cols, 1);
    return true;
  }
  if (cols == 1 && s_row == 1) {
    transpose = true;
    ld = std::max<int64_t>(rows, 1);
    return true;
  }
  return false;
}

cudaDataType data_type(DType t) {
  switch (t) {
    case DType::Float16: return CUDA_R_16F;
    case DType::BFloat16: return CUDA_R_16BF;
    case DType::Float64: return CUDA_R_64F;
    default: return CUDA_R_32F;
  }
}

// Row-major C = A B is column-major C^T = B^T A^T: cuBLAS gets b as its first operand.
void matmul_kernel(const KernelCall& c) {
  Tensor a = c.in[0], b = c.in[1];
  Tensor& out = c.out[0];
  const int64_t B = out.shape()[0], M = out.shape()[1], N = out.shape()[2], K = a.shape()[2];
  if (out.numel() == 0) return;
  if (K == 0) {
    out.zero_();
    return;
  }
  TS_CHECK(M < INT_MAX && N < INT_MAX && K < INT_MAX && B < INT_MAX, ValueError, "matmul",
           "dims past 2^31 are not supported on cuda, got [", B, ", ", M, ", ", N, "] with K = ", K);
  bool ta = false, tb = false;
  int64_t lda = 0, ldb = 0;
  if (!as_operand(M, K, a.strides()[1], a.strides()[2], ta, lda)) a = a.contiguous(), as_operand(M, K, K, 1, ta, lda);
  if (!as_operand(K, N, b.strides()[1], b.strides()[2], tb, ldb)) b = b.contiguous(), as_operand(K, N, N, 1, tb, ldb);
  const int dev = out.device().index;
  DeviceGuard g(dev);
  cublasHandle_t h = handle(dev);
  check_cublas(cublas().set_stream(h, current_stream(dev)));
  const cudaDataType dt = data_type(out.dtype());
  const bool f64 = out.dtype() == DType::Float64;
  const double alpha64 = 1, beta64 = 0;
  const float alpha32 = 1, beta32 = 0;
  const void* alpha = f64 ? static_cast<const void*>(&alpha64) : &alpha32;
  const void* beta = f64 ? static_cast<const void*>(&beta64) : &beta32;
  // float32 on TF32 tensor cores only when asked (ts.backends.cuda.matmul.allow_tf32).
  const cublasComputeType_t compute = f64 ? CUBLAS_COMPUTE_64F
                                      : out.dtype() == DType::Float32 && matmul_allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                                             : CUBLAS_COMPUTE_32F;
  check_cublas(cublas().gemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(N),
                             static_cast<int>(M), static_cast<int>(K), alpha, b.data_ptr(), dt, static_cast<int>(ldb),
                             B > 1 ? b.strides()[0] : 0, a.data_ptr(), dt, static_cast<int>(lda),
                             B > 1 ? a.strides()[0] : 0, beta, out.data_ptr(), dt, static_cast<int>(N), M * N,
                             static_cast<int>(B), compute, CUBLAS_GEMM_DEFAULT));
}

const bool registered = [] {
  for (DType t : {DType::Float16, DType::BFloat16, DType::Float32, DType::Float64})
    Registry::get().add(op::matmul, DeviceType::CUDA, t, &matmul_kernel);
  return true;
}();

}  // namespace
}  // namespace tessel::cuda
