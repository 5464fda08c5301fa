// conv2d (+ both backwards) and batch_norm (+ backward) on CUDA through cuDNN 9's
// legacy-style API, float32/float64. libcudnn.so.9 is dlopen'ed on first use like
// cuBLAS (matmul.cpp), so libtessel loads without it; only these ops then fail,
// with an error naming the op. The convolution algorithm is chosen once per
// (op, shape, geometry, dtype) by cuDNN's heuristics and cached.
#include <cudnn.h>
#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "src/cuda/runtime.h"
#include "tessel/cuda.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel::cuda {
namespace {

#define TS_CUDNN_FNS(X)                                                                                            \
  X(cudnnGetVersion) X(cudnnCreate) X(cudnnSetStream) X(cudnnGetErrorString) X(cudnnCreateTensorDescriptor)                           \
  X(cudnnDestroyTensorDescriptor) X(cudnnSetTensor4dDescriptor) X(cudnnCreateFilterDescriptor)                     \
  X(cudnnDestroyFilterDescriptor) X(cudnnSetFilter4dDescriptor) X(cudnnCreateConvolutionDescriptor)                \
  X(cudnnDestroyConvolutionDescriptor) X(cudnnSetConvolution2dDescriptor) X(cudnnSetConvolutionGroupCount)         \
  X(cudnnSetConvolutionMathType) X(cudnnGetConvolutionForwardAlgorithm_v7)                                         \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7) X(cudnnGetConvolutionBackwardFilterAlgorithm_v7)                  \
  X(cudnnConvolutionForward) X(cudnnConvolutionBackwardData) X(cudnnConvolutionBackwardFilter)                     \
  X(cudnnConvolutionBackwardBias) X(cudnnAddTensor) X(cudnnBatchNormalizationForwardTraining)                      \
  X(cudnnBatchNormalizationBackward) X(cudnnGetConvolutionForwardWorkspaceSize)                               \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize) X(cudnnGetConvolutionBackwardFilterWorkspaceSize)

struct Cudnn {
#define TS_FIELD(f) decltype(&::f) f = nullptr;
  TS_CUDNN_FNS(TS_FIELD)
#undef TS_FIELD
  std::string error;  // why it could not be loaded
};

void* open_cudnn(std::string& tried) {
  std::vector<std::string> dirs{""};
  // CUDNN_HOME may be a pip wheel's nvidia/cudnn folder (lib/, not lib64/).
  if (const char* v = std::getenv("CUDNN_HOME")) dirs.insert(dirs.end(), {std::string(v) + "/lib/", std::string(v) + "/lib64/"});
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* v = std::getenv(var)) dirs.push_back(std::string(v) + "/lib64/");
  dirs.push_back("/usr/local/cuda/lib64/");
  for (const std::string& d : dirs) {
    const std::string name = d + "libcudnn.so.9";
    if (void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    tried += (tried.empty() ? "" : ", ") + name;
  }
  return nullptr;
}

const Cudnn& cudnn(const char* op) {
  static const Cudnn c = [] {
    Cudnn r;
    std::string tried;
    void* h = open_cudnn(tried);
    if (!h) {
      r.error = "cuDNN 9 could not be loaded (tried " + tried + ")";
      return r;
    }
#define TS_LOAD(f)                                                                     \
  r.f = reinterpret_cast<decltype(r.f)>(dlsym(h, #f));                                 \
  if (!r.f && r.error.empty()) r.error = "libcudnn.so.9 lacks " #f;
    TS_CUDNN_FNS(TS_LOAD)
#undef TS_LOAD
    return r;
  }();
  TS_CHECK(c.error.empty(), Error, op, c.error);
  return c;
}

void check_cudnn(cudnnStatus_t rc, const char* op) {
  if (rc != CUDNN_STATUS_SUCCESS) fail<Error>(op, "cuDNN error: ", cudnn(op).cudnnGetErrorString(rc));
}

// One handle per thread and device, set to the current stream at each call.
cudnnHandle_t handle(int device, const char* op) {
  thread_local std::vector<cudnnHandle_t> handles;
  if (handles.size() <= static_cast<size_t>(device)) handles.resize(static_cast<size_t>(device) + 1, nullptr);
  cudnnHandle_t& h = handles[static_cast<size_t>(device)];
  if (!h) check_cudnn(cudnn(op).cudnnCreate(&h), op);
  check_cudnn(cudnn(op).cudnnSetStream(h, current_stream(device)), op);
  return h;
}

cudnnDataType_t data_type(DType t) {
  switch (t) {
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
  }
}
bool lowp(DType t) { return t == DType::Float16 || t == DType::BFloat16; }

// Descriptors live for one call.
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(const char* op, DType t, int64_t n, int64_t c, int64_t h, int64_t w) {
    for (int64_t v : {n, c, h, w})
      TS_CHECK(v < INT_MAX && n * c * h * w < INT_MAX, ValueError, op, "cuDNN takes tensors under 2^31 elements, got [",
               n, ", ", c, ", ", h, ", ", w, "]");
    check_cudnn(cudnn(op).cudnnCreateTensorDescriptor(&d), op);
    check_cudnn(cudnn(op).cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, data_type(t), int(n), int(c), int(h), int(w)), op);
  }
  ~TensorDesc() { cudnn("").cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

TensorDesc nchw(const char* op, const Tensor& t) {
  return TensorDesc(op, t.dtype(), t.shape()[0], t.shape()[1], t.shape()[2], t.shape()[3]);
}

struct ConvDescs {
  const char* op;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  ConvDescs(const char* op_, const Tensor& weight, const ConvParams& p) : op(op_) {
    const Cudnn& L = cudnn(op);
    const auto& s = weight.shape();
    check_cudnn(L.cudnnCreateFilterDescriptor(&w), op);
    check_cudnn(L.cudnnSetFilter4dDescriptor(w, data_type(weight.dtype()), CUDNN_TENSOR_NCHW, int(s[0]), int(s[1]),
                                             int(s[2]), int(s[3])),
                op);
    check_cudnn(L.cudnnCreateConvolutionDescriptor(&conv), op);
    check_cudnn(L.cudnnSetConvolution2dDescriptor(conv, int(p.pad[0]), int(p.pad[2]), int(p.stride[0]), int(p.stride[1]),
                                                  int(p.dilation[0]), int(p.dilation[1]), CUDNN_CROSS_CORRELATION,
                                                  // 16-bit data accumulates in float32
                                                  weight.dtype() == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT),
                op);
    check_cudnn(L.cudnnSetConvolutionGroupCount(conv, int(p.groups)), op);
    // Full float32 math (results comparable with the CPU's) unless TF32 is allowed
    // (ts.backends.cudnn.allow_tf32); the algorithm cache keys on the choice.
    // float16/bfloat16 (autocast's dtypes) on tensor cores.
    const bool tc = lowp(weight.dtype()) || (weight.dtype() == DType::Float32 && cudnn_allow_tf32());
    check_cudnn(L.cudnnSetConvolutionMathType(conv, tc ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH), op);
  }
  ~ConvDescs() {
    cudnn(op).cudnnDestroyFilterDescriptor(w);
    cudnn(op).cudnnDestroyConvolutionDescriptor(conv);
  }
  ConvDescs(const ConvDescs&) = delete;
  ConvDescs& operator=(const ConvDescs&) = delete;
};

// cuDNN pads symmetrically: other padding is applied to x first (zeros).
bool symmetric(const ConvParams& p) { return p.pad[0] == p.pad[1] && p.pad[2] == p.pad[3]; }

Tensor padded(const Tensor& x, const ConvParams& p) {
  const auto& s = x.shape();
  Tensor xp = zeros({s[0], s[1], s[2] + p.pad[0] + p.pad[1], s[3] + p.pad[2] + p.pad[3]}, TensorOptions(x.dtype(), x.device()));
  xp.narrow(2, p.pad[0], s[2]).narrow(3, p.pad[2], s[3]).copy_(x);
  return xp;
}

ConvParams unpadded(ConvParams p) {
  for (int64_t& v : p.pad) v = 0;
  return p;
}

// The algorithm cache: heuristics' first choice whose workspace fits, per problem.
using AlgoKey = std::tuple<int, int, std::vector<int64_t>>;

std::vector<int64_t> key_of(const Tensor& x, const Tensor& w, const Tensor& y, const ConvParams& p) {
  std::vector<int64_t> k;
  for (const Tensor* t : {&x, &w, &y}) k.insert(k.end(), t->shape().begin(), t->shape().end());
  k.insert(k.end(), {p.stride[0], p.stride[1], p.pad[0], p.pad[2], p.dilation[0], p.dilation[1], p.groups,
                     static_cast<int64_t>(x.dtype()), int64_t{cudnn_allow_tf32()}});
  return k;
}

template <class Perf, class Get>
int cached_algo(int kind, int device, std::vector<int64_t> key, const char* op, Get&& get) {
  static std::mutex mu;
  static std::map<AlgoKey, int> cache;
  const AlgoKey k{kind, device, std::move(key)};
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(k); it != cache.end()) return it->second;
  }
  Perf perf[16];
  int n = 0;
  check_cudnn(get(16, &n, perf), op);
  int algo = -1;
  for (int i = 0; i < n && algo < 0; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) algo = static_cast<int>(perf[i].algo);
  TS_CHECK(algo >= 0, NotImplementedError, op, "cuDNN has no algorithm for this convolution");
  std::lock_guard<std::mutex> lock(mu);
  cache.emplace(k, algo);
  return algo;
}

Tensor workspace(size_t bytes, const Device& dev) {
  return empty({static_cast<int64_t>(bytes)}, TensorOptions(DType::UInt8, dev));
}

template <class T>
struct One {
  T one = 1, zero = 0;
};

// A 1x1 convolution with unit stride, no padding and one group is a matrix
// product per image: cuDNN's legacy heuristics pick slow kernels for these
// (0.26-0.41x PyTorch's time on an H200, ResNet-50's 1x1 layers), cuBLAS's
// strided-batched GEMM does not. Its float32 precision follows the matmul flag
// (ts.backends.cuda.matmul.allow_tf32), not cuDNN's. The weight gradient goes
// through per-image products ([N, Cout, Cin] scratch) summed over the batch.
bool pointwise(const Tensor& w, const ConvParams& p) {
  return w.shape()[2] == 1 && w.shape()[3] == 1 && p.groups == 1 && p.stride[0] == 1 && p.stride[1] == 1 &&
         p.dilation[0] == 1 && p.dilation[1] == 1 && p.pad[0] == 0 && p.pad[1] == 0 && p.pad[2] == 0 && p.pad[3] == 0;
}

// out[n] = a[n] @ b[n] through the cuda matmul kernel (a batch stride of 0 broadcasts).
void gemm(const Tensor& a, const Tensor& b, Tensor out) {
  const Tensor in[2] = {a, b};
  dispatch(op::matmul, out.dtype(), in, {&out, 1});
}

void conv2d_kernel(const KernelCall& c) {
  const char* op = "conv2d";
  const ConvParams& p0 = *static_cast<const ConvParams*>(c.params);
  Tensor& y = c.out[0];
  if (y.numel() == 0) return;
  if (pointwise(c.in[1], p0)) {  // y[n] (Cout x HW) = w (Cout x Cin) @ x[n] (Cin x HW)
    const Tensor &x = c.in[0], &w = c.in[1];
    const int64_t N = x.shape()[0], Ci = x.shape()[1], Co = w.shape()[0], HW = x.shape()[2] * x.shape()[3];
    gemm(w.view({1, Co, Ci}).expand({N, Co, Ci}), x.contiguous().view({N, Ci, HW}), y.view({N, Co, HW}));
    if (c.in.size() > 2 && c.in[2].defined()) add_(y, c.in[2].view({1, Co, 1, 1}));
    return;
  }
  const bool sym = symmetric(p0);
  const Tensor x = sym ? c.in[0] : padded(c.in[0], p0);
  const ConvParams p = sym ? p0 : unpadded(p0);
  const Tensor& w = c.in[1];
  const int dev = y.device().index;
  DeviceGuard g(dev);
  const Cudnn& L = cudnn(op);
  cudnnHandle_t h = handle(dev, op);
  const TensorDesc xd = nchw(op, x), yd = nchw(op, y);
  const ConvDescs cd(op, w, p);
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(cached_algo<cudnnConvolutionFwdAlgoPerf_t>(
      0, dev, key_of(x, w, y, p), op, [&](int want, int* got, cudnnConvolutionFwdAlgoPerf_t* perf) {
        return L.cudnnGetConvolutionForwardAlgorithm_v7(h, xd.d, cd.w, cd.conv, yd.d, want, got, perf);
      }));
  size_t bytes = 0;
  check_cudnn(L.cudnnGetConvolutionForwardWorkspaceSize(h, xd.d, cd.w, cd.conv, yd.d, algo, &bytes), op);
  const Tensor ws = workspace(bytes, y.device());
  const bool f64 = y.dtype() == DType::Float64;
  const One<double> d;
  const One<float> f;
  const void* one = f64 ? static_cast<const void*>(&d.one) : &f.one;
  const void* zero = f64 ? static_cast<const void*>(&d.zero) : &f.zero;
  check_cudnn(L.cudnnConvolutionForward(h, one, xd.d, x.data_ptr(), cd.w, w.data_ptr(), cd.conv, algo, ws.data_ptr(),
                                        bytes, zero, yd.d, y.data_ptr()),
              op);
  if (c.in.size() > 2 && c.in[2].defined()) {
    if (lowp(y.dtype())) {  // the elementwise kernel (float math) rather than cuDNN's 16-bit AddTensor
      add_(y, c.in[2].view({1, y.shape()[1], 1, 1}));
    } else {
      const TensorDesc bd(op, y.dtype(), 1, y.shape()[1], 1, 1);
      check_cudnn(L.cudnnAddTensor(h, one, bd.d, c.in[2].data_ptr(), one, yd.d, y.data_ptr()), op);
    }
  }
}

void conv2d_backward_input_kernel(const KernelCall& c) {
  const char* op = "conv2d_backward_input";
  const ConvParams& p0 = *static_cast<const ConvParams*>(c.params);
  Tensor& gx0 = c.out[0];
  if (gx0.numel() == 0) return;
  const Tensor &gy = c.in[0], &w = c.in[1];
  if (gy.numel() == 0) {
    gx0.zero_();
    return;
  }
  if (pointwise(w, p0) && gx0.is_contiguous()) {  // gx[n] (Cin x HW) = w^T (Cin x Cout) @ gy[n] (Cout x HW)
    const int64_t N = gy.shape()[0], Co = gy.shape()[1], Ci = gx0.shape()[1], HW = gy.shape()[2] * gy.shape()[3];
    gemm(w.view({1, Co, Ci}).transpose(1, 2).expand({N, Ci, Co}), gy.contiguous().view({N, Co, HW}),
         gx0.view({N, Ci, HW}));
    return;
  }
  const bool sym = symmetric(p0);
  const ConvParams p = sym ? p0 : unpadded(p0);
  const auto& s = gx0.shape();
  // Asymmetric padding: the gradient of the padded input, then its interior.
  const Tensor gx = sym ? gx0
                        : empty({s[0], s[1], s[2] + p0.pad[0] + p0.pad[1], s[3] + p0.pad[2] + p0.pad[3]},
                                TensorOptions(gx0.dtype(), gx0.device()));
  const int dev = gx.device().index;
  DeviceGuard g(dev);
  const Cudnn& L = cudnn(op);
  cudnnHandle_t h = handle(dev, op);
  const TensorDesc xd = nchw(op, gx), yd = nchw(op, gy);
  const ConvDescs cd(op, w, p);
  const auto algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(cached_algo<cudnnConvolutionBwdDataAlgoPerf_t>(
      1, dev, key_of(gx, w, gy, p), op, [&](int want, int* got, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
        return L.cudnnGetConvolutionBackwardDataAlgorithm_v7(h, cd.w, yd.d, cd.conv, xd.d, want, got, perf);
      }));
  size_t bytes = 0;
  check_cudnn(L.cudnnGetConvolutionBackwardDataWorkspaceSize(h, cd.w, yd.d, cd.conv, xd.d, algo, &bytes), op);
  const Tensor ws = workspace(bytes, gx.device());
  const bool f64 = gx.dtype() == DType::Float64;
  const One<double> d;
  const One<float> f;
  const void* one = f64 ? static_cast<const void*>(&d.one) : &f.one;
  const void* zero = f64 ? static_cast<const void*>(&d.zero) : &f.zero;
  check_cudnn(L.cudnnConvolutionBackwardData(h, one, cd.w, w.data_ptr(), yd.d, gy.data_ptr(), cd.conv, algo,
                                             ws.data_ptr(), bytes, zero, xd.d, gx.data_ptr()),
              op);
  if (!sym) gx0.copy_(gx.narrow(2, p0.pad[0], s[2]).narrow(3, p0.pad[2], s[3]));
}

void conv2d_backward_weight_kernel(const KernelCall& c) {
  const char* op = "conv2d_backward_weight";
  const ConvParams& p0 = *static_cast<const ConvParams*>(c.params);
  Tensor& gw = c.out[0];
  const Tensor& gy = c.in[0];
  if (gy.numel() == 0) {
    for (Tensor& t : c.out) t.zero_();
    return;
  }
  if (pointwise(gw, p0)) {  // gw (Cout x Cin) = sum over n of gy[n] (Cout x HW) @ x[n]^T (HW x Cin)
    const Tensor& x = c.in[1];
    const int64_t N = gy.shape()[0], Co = gy.shape()[1], Ci = x.shape()[1], HW = gy.shape()[2] * gy.shape()[3];
    if (gw.numel() > 0) {
      Tensor per_image = empty({N, Co, Ci}, TensorOptions(gw.dtype(), gw.device()));
      gemm(gy.contiguous().view({N, Co, HW}), x.contiguous().view({N, Ci, HW}).transpose(1, 2), per_image);
      gw.copy_(sum(per_image, {0}).view(gw.shape()));
    }
    if (c.out.size() > 1) c.out[1].copy_(sum(gy, {0, 2, 3}));
    return;
  }
  const bool sym = symmetric(p0);
  const Tensor x = sym ? c.in[1] : padded(c.in[1], p0);
  const ConvParams p = sym ? p0 : unpadded(p0);
  const int dev = gy.device().index;
  DeviceGuard g(dev);
  const Cudnn& L = cudnn(op);
  cudnnHandle_t h = handle(dev, op);
  const bool f64 = gy.dtype() == DType::Float64;
  const One<double> d;
  const One<float> f;
  const void* one = f64 ? static_cast<const void*>(&d.one) : &f.one;
  const void* zero = f64 ? static_cast<const void*>(&d.zero) : &f.zero;
  const TensorDesc xd = nchw(op, x), yd = nchw(op, gy);
  if (gw.numel() > 0) {
    const ConvDescs cd(op, gw, p);
    const auto algo = static_cast<cudnnConvolutionBwdFilterAlgo_t>(cached_algo<cudnnConvolutionBwdFilterAlgoPerf_t>(
        2, dev, key_of(x, gw, gy, p), op, [&](int want, int* got, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
          return L.cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, xd.d, yd.d, cd.conv, cd.w, want, got, perf);
        }));
    size_t bytes = 0;
    check_cudnn(L.cudnnGetConvolutionBackwardFilterWorkspaceSize(h, xd.d, yd.d, cd.conv, cd.w, algo, &bytes), op);
    const Tensor ws = workspace(bytes, gw.device());
    check_cudnn(L.cudnnConvolutionBackwardFilter(h, one, xd.d, x.data_ptr(), yd.d, gy.data_ptr(), cd.conv, algo,
                                                 ws.data_ptr(), bytes, zero, cd.w, gw.data_ptr()),
                op);
  }
  if (c.out.size() > 1) {
    if (lowp(gy.dtype())) {  // our sum accumulates 16-bit values in float32
      c.out[1].copy_(sum(gy, {0, 2, 3}));
    } else {
      const TensorDesc bd(op, gy.dtype(), 1, gy.shape()[1], 1, 1);
      check_cudnn(L.cudnnConvolutionBackwardBias(h, one, yd.d, gy.data_ptr(), zero, bd.d, c.out[1].data_ptr()), op);
    }
  }
}

// x [N,C,S] is NCHW with H = S, W = 1; spatial mode keeps one mean per channel.
// cuDNN's saved inverse variance is 1 / sqrt(var + eps): the contract's invstd.
void batch_norm_kernel(const KernelCall& c) {
  const char* op = "batch_norm";
  const Tensor& x = c.in[0];
  Tensor& y = c.out[0];
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2];
  if (x.numel() == 0) return;
  const double eps = static_cast<const UnaryParams*>(c.params)->a;
  const int dev = x.device().index;
  DeviceGuard g(dev);
  const Cudnn& L = cudnn(op);
  cudnnHandle_t h = handle(dev, op);
  const TensorDesc xd(op, x.dtype(), N, C, S, 1), pd(op, x.dtype(), 1, C, 1, 1);
  const bool f64 = x.dtype() == DType::Float64;
  const One<double> d;
  const One<float> f;
  const void* one = f64 ? static_cast<const void*>(&d.one) : &f.one;
  const void* zero = f64 ? static_cast<const void*>(&d.zero) : &f.zero;
  check_cudnn(L.cudnnBatchNormalizationForwardTraining(h, CUDNN_BATCHNORM_SPATIAL, one, zero, xd.d, x.data_ptr(), xd.d,
                                                       y.data_ptr(), pd.d, c.in[1].data_ptr(), c.in[2].data_ptr(), 0.0,
                                                       nullptr, nullptr, eps, c.out[1].data_ptr(), c.out[2].data_ptr()),
              op);
}

void batch_norm_backward_kernel(const KernelCall& c) {
  const char* op = "batch_norm_backward";
  const Tensor &gy = c.in[0], &x = c.in[1];
  const int64_t N = x.shape()[0], C = x.shape()[1], S = x.shape()[2];
  if (x.numel() == 0) {
    for (Tensor& t : c.out) t.zero_();
    return;
  }
  const int dev = x.device().index;
  DeviceGuard g(dev);
  const Cudnn& L = cudnn(op);
  cudnnHandle_t h = handle(dev, op);
  const TensorDesc xd(op, x.dtype(), N, C, S, 1), pd(op, x.dtype(), 1, C, 1, 1);
  const bool f64 = x.dtype() == DType::Float64;
  const One<double> d;
  const One<float> f;
  const void* one = f64 ? static_cast<const void*>(&d.one) : &f.one;
  const void* zero = f64 ? static_cast<const void*>(&d.zero) : &f.zero;
  // With the saved statistics given, cuDNN does not use epsilon.
  check_cudnn(L.cudnnBatchNormalizationBackward(h, CUDNN_BATCHNORM_SPATIAL, one, zero, one, zero, xd.d, x.data_ptr(),
                                                xd.d, gy.data_ptr(), xd.d, c.out[0].data_ptr(), pd.d,
                                                c.in[4].data_ptr(), c.out[1].data_ptr(), c.out[2].data_ptr(), 0.0,
                                                c.in[2].data_ptr(), c.in[3].data_ptr()),
              op);
}

const bool registered = [] {
  Registry& r = Registry::get();
  for (DType t : {DType::Float16, DType::BFloat16, DType::Float32, DType::Float64}) {
    r.add(op::conv2d, DeviceType::CUDA, t, &conv2d_kernel);
    r.add(op::conv2d_backward_input, DeviceType::CUDA, t, &conv2d_backward_input_kernel);
    r.add(op::conv2d_backward_weight, DeviceType::CUDA, t, &conv2d_backward_weight_kernel);
  }
  for (DType t : {DType::Float32, DType::Float64}) {
    r.add(op::batch_norm, DeviceType::CUDA, t, &batch_norm_kernel);
    r.add(op::batch_norm_backward, DeviceType::CUDA, t, &batch_norm_backward_kernel);
  }
  return true;
}();

}  // namespace
}  // namespace tessel::cuda

namespace tessel::cuda {
int cudnn_version() {
  try {
    return static_cast<int>(cudnn("cudnn_version").cudnnGetVersion());
  } catch (const Error&) {
    return 0;
  }
}
}  // namespace tessel::cuda
