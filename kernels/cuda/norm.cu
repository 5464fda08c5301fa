// Scans (cumsum, cumprod) along a dim, and layer_norm over rows and its backward on CUDA ("layer_norm_fused",
// "layer_norm_fused_backward"; float32 and float64, the CPU's contract in
// kernels/cpu/norm.cpp). One block per row: the mean, then the centered sum of
// squares (two passes over a row that stays in L1/L2, no cancellation), then
// the output. The backward's dx is one block per row; dweight and dbias are
// column sums: per-chunk partials of 64 rows, then one sum per column.
#include "kernels/cuda/device/common.cuh"
#include "kernels/cuda/launch_norm.h"

namespace tessel::cuda {
namespace {

constexpr int64_t kChunkRows = 64;

struct Sum {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
};

template <class T>
__global__ void ln_forward(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                           T* __restrict__ y, T* __restrict__ mean, T* __restrict__ rstd, int64_t R, int64_t D,
                           T eps) {
  __shared__ T sh[32];
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    T s = 0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) s += xr[j];
    const T mu = block_reduce<T>(s, T(0), Sum{}, sh) / T(D);
    T v = 0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      const T d = xr[j] - mu;
      v += d * d;
    }
    const T rs = T(1) / sqrt(block_reduce<T>(v, T(0), Sum{}, sh) / T(D) + eps);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
    if (threadIdx.x == 0) mean[r] = mu, rstd[r] = rs;
  }
}

// dx = rstd * (g w - mean(g w) - xhat * mean(g w xhat)) per row.
template <class T>
__global__ void ln_backward_rows(const T* __restrict__ g, const T* __restrict__ x, const T* __restrict__ mean,
                                 const T* __restrict__ rstd, const T* __restrict__ w, T* __restrict__ dx, int64_t R,
                                 int64_t D) {
  __shared__ T sh[32];
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
    const T *gr = g + r * D, *xr = x + r * D;
    const T mu = mean[r], rs = rstd[r];
    T s1 = 0, s2 = 0;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) {
      const T gw = gr[j] * w[j];
      s1 += gw;
      s2 += gw * (xr[j] - mu) * rs;
    }
    s1 = block_reduce<T>(s1, T(0), Sum{}, sh) / T(D);
    s2 = block_reduce<T>(s2, T(0), Sum{}, sh) / T(D);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x)
      dx[r * D + j] = rs * (gr[j] * w[j] - s1 - (xr[j] - mu) * rs * s2);
  }
}

// Partial column sums of g * xhat (dweight) and g (dbias) over kChunkRows rows per blockIdx.y.
template <class T>
__global__ void ln_backward_cols(const T* __restrict__ g, const T* __restrict__ x, const T* __restrict__ mean,
                                 const T* __restrict__ rstd, T* __restrict__ part, int64_t R, int64_t D,
                                 int64_t chunks) {
  const int64_t j = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (j >= D) return;
  for (int64_t ch = blockIdx.y; ch < chunks; ch += gridDim.y) {  // grid.y stops at 65535
    const int64_t r0 = ch * kChunkRows, r1 = r0 + kChunkRows < R ? r0 + kChunkRows : R;
    T sw = 0, sb = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const T gv = g[r * D + j];
      sw += gv * (x[r * D + j] - mean[r]) * rstd[r];
      sb += gv;
    }
    part[ch * D + j] = sw;
    part[(chunks + ch) * D + j] = sb;
  }
}

template <class T>
__global__ void sum_chunks(const T* __restrict__ part, T* __restrict__ dw, T* __restrict__ db, int64_t chunks,
                           int64_t D) {
  const int64_t j = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (j >= D) return;
  T sw = 0, sb = 0;
  for (int64_t c = 0; c < chunks; ++c) sw += part[c * D + j], sb += part[(chunks + c) * D + j];
  dw[j] = sw;
  db[j] = sb;
}

unsigned row_blocks(int64_t R) { return static_cast<unsigned>(R < 65535 ? R : 65535); }

// A thread per row walks it in order: the CPU's summation order, and enough
// threads whenever rows are many (a long single row is slow: a block scan would serve it).
template <bool Prod, class T, class Out>
__global__ void scan_rows(Layout<2> rows, int64_t len, int64_t so, int64_t sa) {
  using A = std::conditional_t<std::is_same_v<Out, int64_t>, int64_t, acc_t<T>>;
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t r = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; r < rows.numel; r += step) {
    int64_t off[2];
    offsets_of<2>(rows, r, off);
    char* y = rows.ptrs[0] + off[0];
    const char* x = rows.ptrs[1] + off[1];
    A acc = Prod ? A(1) : A(0);
    for (int64_t j = 0; j < len; ++j) {
      const A v = convert<A>(*reinterpret_cast<const T*>(x + j * sa));
      acc = Prod ? acc * v : acc + v;
      *reinterpret_cast<Out*>(y + j * so) = convert<Out>(acc);
    }
  }
}

}  // namespace

bool launch_scan(bool prod, int dtype, const Layout<2>& rows, int64_t len, int64_t so, int64_t sa, cudaStream_t s) {
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, uint8_t> && !std::is_same_v<T, int8_t> && !std::is_same_v<T, int16_t>) {
      using Out = std::conditional_t<std::is_integral_v<T>, int64_t, T>;  // bool, int32, int64 -> int64
      if (prod) scan_rows<true, T, Out><<<blocks_for(rows.numel), kThreads, 0, s>>>(rows, len, so, sa);
      else scan_rows<false, T, Out><<<blocks_for(rows.numel), kThreads, 0, s>>>(rows, len, so, sa);
      ok = true;
    }
  });
  return ok;
}

int64_t layer_norm_backward_chunks(int64_t R) { return (R + kChunkRows - 1) / kChunkRows; }

bool launch_layer_norm(int dtype, int64_t R, int64_t D, double eps, const void* x, const void* w, const void* b,
                       void* y, void* mean, void* rstd, cudaStream_t s) {
  return for_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    ln_forward<T><<<row_blocks(R), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(w),
                                                     static_cast<const T*>(b), static_cast<T*>(y),
                                                     static_cast<T*>(mean), static_cast<T*>(rstd), R, D, T(eps));
  });
}

bool launch_layer_norm_backward(int dtype, int64_t R, int64_t D, const void* g, const void* x, const void* mean,
                                const void* rstd, const void* w, void* dx, void* dw, void* db, void* scratch,
                                cudaStream_t s) {
  return for_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *gt = static_cast<const T*>(g), *xt = static_cast<const T*>(x), *mt = static_cast<const T*>(mean),
            *rt = static_cast<const T*>(rstd);
    ln_backward_rows<T><<<row_blocks(R), kThreads, 0, s>>>(gt, xt, mt, rt, static_cast<const T*>(w),
                                                           static_cast<T*>(dx), R, D);
    if (!dw) return;
    const int64_t chunks = layer_norm_backward_chunks(R);
    const dim3 grid(static_cast<unsigned>((D + kThreads - 1) / kThreads),
                    static_cast<unsigned>(chunks < 65535 ? chunks : 65535));
    ln_backward_cols<T><<<grid, kThreads, 0, s>>>(gt, xt, mt, rt, static_cast<T*>(scratch), R, D, chunks);
    sum_chunks<T><<<static_cast<unsigned>((D + kThreads - 1) / kThreads), kThreads, 0, s>>>(
        static_cast<const T*>(scratch), static_cast<T*>(dw), static_cast<T*>(db), chunks, D);
  });
}

}  // namespace tessel::cuda
