// CUDA kernels for softmax/log_softmax along a dim, the fused SGD and Adam
// steps, and the offset gathers/scatters behind indexing (take_offsets,
// put_offsets, put_offsets_add). Contracts: include/tessel/kernel.h.
#include <cmath>

#include "kernels/cuda/device/common.cuh"
#include "kernels/cuda/launch_nn.h"

namespace tessel::cuda {
namespace {

// One block per row (grid-stride over rows): max, sum of exp(x - max), write.
template <class T, bool Log>
__global__ void softmax_rows(Layout<2> rows, int64_t len, int64_t so, int64_t sa) {
  using A = acc_t<T>;
  __shared__ A sh[32];
  for (int64_t r = blockIdx.x; r < rows.numel; r += gridDim.x) {
    int64_t off[2];
    offsets_of<2>(rows, r, off);
    char* y = rows.ptrs[0] + off[0];
    const char* x = rows.ptrs[1] + off[1];
    const auto at = [&](int64_t j) { return convert<A>(*reinterpret_cast<const T*>(x + j * sa)); };
    A m = -INFINITY;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) m = fmax(m, at(j));
    m = block_reduce<A>(m, A(-INFINITY), [](A a, A b) { return fmax(a, b); }, sh);
    if (isinf(m) && m < 0) m = 0;  // an all -inf row: no inf - inf (the CPU's rule)
    A sum = 0;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) sum += exp(at(j) - m);
    sum = block_reduce<A>(sum, A(0), [](A a, A b) { return a + b; }, sh);
    if constexpr (Log) {
      const A lse = m + log(sum);
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x)
        *reinterpret_cast<T*>(y + j * so) = convert<T>(at(j) - lse);
    } else {
      const A inv = A(1) / sum;
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x)
        *reinterpret_cast<T*>(y + j * so) = convert<T>(exp(at(j) - m) * inv);
    }
  }
}

template <class A>
__device__ __forceinline__ bool better(A v, A best, bool is_max) {  // the CPU's rule
  if constexpr (std::is_floating_point_v<A>) {
    if (isnan(best)) return false;
    if (isnan(v)) return true;
  }
  return is_max ? v > best : v < best;
}

// (value, index) of b replaces a's when better, or as good with a smaller index.
template <class A>
__device__ __forceinline__ void take_better(A& v, int64_t& i, A v2, int64_t i2, bool is_max) {
  if (i2 < 0) return;
  if (i < 0 || better(v2, v, is_max) || (!better(v, v2, is_max) && i2 < i)) v = v2, i = i2;
}

template <class T>
__global__ void extreme_rows(bool is_max, Layout<3> rows, int64_t len, int64_t step) {
  using A = acc_t<T>;
  __shared__ A sv[32];
  __shared__ int64_t si[32];
  for (int64_t r = blockIdx.x; r < rows.numel; r += gridDim.x) {
    int64_t off[3];
    offsets_of<3>(rows, r, off);
    const char* x = rows.ptrs[2] + off[2];
    A v = A(0);
    int64_t i = -1;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x)
      take_better(v, i, convert<A>(*reinterpret_cast<const T*>(x + j * step)), j, is_max);
    for (int o = 16; o > 0; o >>= 1) {
      const A v2 = __shfl_down_sync(0xffffffffu, v, o);
      const int64_t i2 = __shfl_down_sync(0xffffffffu, i, o);
      take_better(v, i, v2, i2, is_max);
    }
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) sv[w] = v, si[w] = i;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int k = 1; k < static_cast<int>(blockDim.x >> 5); ++k) take_better(v, i, sv[k], si[k], is_max);
      *reinterpret_cast<T*>(rows.ptrs[0] + off[0]) = convert<T>(v);
      *reinterpret_cast<int64_t*>(rows.ptrs[1] + off[1]) = i;
    }
  }
}

// Whether (ka, ia) comes before (kb, ib): padding (index >= len) last, then the
// key order (NaN largest), then the index (stable).
template <class A>
__device__ __forceinline__ bool before(A ka, int64_t ia, A kb, int64_t ib, int64_t len, bool desc) {
  if (ia >= len || ib >= len) return ia < ib;
  bool na = false, nb = false;
  if constexpr (std::is_floating_point_v<A>) na = isnan(ka), nb = isnan(kb);
  if (na || nb) {
    if (na && nb) return ia < ib;
    return desc ? na : nb;  // NaN first descending, last ascending
  }
  if (ka != kb) return desc ? ka > kb : ka < kb;
  return ia < ib;
}

template <class T>
__global__ void sort_init(const T* __restrict__ in, T* __restrict__ keys, int64_t* __restrict__ idx, int64_t rows,
                          int64_t len, int64_t padded) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * padded; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / padded, j = i - r * padded;
    idx[i] = j;
    keys[i] = j < len ? in[r * len + j] : T();
  }
}

// One compare-exchange stage (k, j) of the bitonic network over every row.
template <class T>
__global__ void sort_stage(T* __restrict__ keys, int64_t* __restrict__ idx, int64_t rows, int64_t len,
                           int64_t padded, int64_t k, int64_t j, bool desc) {
  using A = acc_t<T>;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * padded; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / padded, p = i - r * padded, q = p ^ j;
    if (q <= p) continue;
    const int64_t a = r * padded + p, b = r * padded + q;
    const bool up = (p & k) == 0;
    const bool b_first = before(convert<A>(keys[b]), idx[b], convert<A>(keys[a]), idx[a], len, desc);
    if (up == b_first) {
      const T tk = keys[a];
      keys[a] = keys[b], keys[b] = tk;
      const int64_t ti = idx[a];
      idx[a] = idx[b], idx[b] = ti;
    }
  }
}

template <class T>
__global__ void sort_finish(const T* __restrict__ keys, const int64_t* __restrict__ idx, T* __restrict__ values,
                            int64_t* __restrict__ indices, int64_t rows, int64_t len, int64_t padded) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * len; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / len, j = i - r * len;
    values[i] = keys[r * padded + j];
    indices[i] = idx[r * padded + j];
  }
}

template <class T, bool Momentum>
__global__ void sgd(SgdArgs a, const T* __restrict__ g, T* __restrict__ p, T* __restrict__ buf, int64_t n) {
  const T lr = T(a.lr), wd = T(a.wd), mom = T(a.mom), damp = T(a.damp), sign = T(a.sign), first = T(a.first),
          nest = T(a.nest);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    T d = sign * g[i] + wd * p[i];
    if constexpr (Momentum) {
      const T b = first * d + (T(1) - first) * (mom * buf[i] + damp * d);
      buf[i] = b;
      d = nest * (d + mom * b) + (T(1) - nest) * b;
    }
    p[i] -= lr * d;
  }
}

template <class T, bool Amsgrad>
__global__ void adam(AdamArgs a, const T* __restrict__ g, T* __restrict__ p, T* __restrict__ m, T* __restrict__ v,
                     T* __restrict__ vmax, int64_t n) {
  const T b1 = T(a.b1), b2 = T(a.b2), eps = T(a.eps), sign = T(a.sign), step_size = T(a.step_size),
          inv_sqrt_bc2 = T(a.inv_sqrt_bc2), wd = T(a.wd), decay = T(a.decay);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const T d = sign * g[i] + wd * p[i];
    const T mi = m[i] + (T(1) - b1) * (d - m[i]);
    const T vi = b2 * v[i] + (T(1) - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (Amsgrad) {
      second = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = second;
    }
    p[i] = p[i] * decay - step_size * mi / (sqrt(second) * inv_sqrt_bc2 + eps);
  }
}

// The CPU's update (kernels/cpu/optim.cpp), element by element.
template <class T, bool Momentum, bool Centered>
__global__ void rmsprop(RmspropArgs a, const T* __restrict__ g, T* __restrict__ p, T* __restrict__ sq,
                        T* __restrict__ buf, T* __restrict__ gavg, int64_t n) {
  const T lr = T(a.lr), wd = T(a.wd), al = T(a.alpha), eps = T(a.eps), mom = T(a.mom), sign = T(a.sign);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const T d = sign * g[i] + wd * p[i];
    const T s2 = al * sq[i] + (T(1) - al) * d * d;
    sq[i] = s2;
    T avg;
    if constexpr (Centered) {
      const T ga = gavg[i] + (T(1) - al) * (d - gavg[i]);
      gavg[i] = ga;
      avg = sqrt(s2 - ga * ga) + eps;
    } else {
      avg = sqrt(s2) + eps;
    }
    if constexpr (Momentum) {
      const T b = mom * buf[i] + d / avg;
      buf[i] = b;
      p[i] -= lr * b;
    } else {
      p[i] -= lr * d / avg;
    }
  }
}

template <int N>
struct Bytes {
  alignas(N) unsigned char b[N];
};

template <class T>
__global__ void take(const T* __restrict__ src, Layout<2> L) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < L.numel; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[2];
    offsets_of<2>(L, i, off);
    *reinterpret_cast<T*>(L.ptrs[0] + off[0]) = src[*reinterpret_cast<const int64_t*>(L.ptrs[1] + off[1])];
  }
}

template <class T, bool Add>
__global__ void put(T* __restrict__ dst, Layout<2> L) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < L.numel; i += int64_t{gridDim.x} * blockDim.x) {
    int64_t off[2];
    offsets_of<2>(L, i, off);
    const T v = *reinterpret_cast<const T*>(L.ptrs[0] + off[0]);
    T* d = dst + *reinterpret_cast<const int64_t*>(L.ptrs[1] + off[1]);
    if constexpr (!Add) *d = v;
    else if constexpr (std::is_same_v<T, int64_t>)
      atomicAdd(reinterpret_cast<unsigned long long*>(d), static_cast<unsigned long long>(v));  // two's complement
    else atomicAdd(d, v);
  }
}

template <class T, class V>
__global__ void arange(T* __restrict__ out, V start, V step, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = static_cast<T>(start + static_cast<V>(i) * step);
}

// Philox4x32 with 10 rounds, word for word the CPU's (kernels/cpu/random.cpp).
struct Words {
  uint32_t w[4];
};
__device__ __forceinline__ Words philox(uint64_t seed, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Words{{c0, c1, c2, c3}};
}

// The CPU's formulas with explicit roundings (_rn): nvcc would otherwise fuse
// a + b * c into one fma and round differently from the host.
template <class T>
__global__ void random_kernel(Random kind, RandomArgs r, T* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    // Narrow normals come in pairs: counter offset + i / 2, cos for even i, sin for odd.
    // Narrow uniforms in groups of 32: counter offset + 8 (i / 32) + i % 8, word (i % 32) / 8.
    const bool pair = kind == Random::normal && !std::is_same_v<T, double>;
    const bool quad = kind == Random::uniform && !std::is_same_v<T, double>;
    const int64_t ctr = pair ? i / 2 : quad ? 8 * (i / 32) + i % 8 : i;
    const Words x = philox(r.seed, r.offset + static_cast<uint64_t>(ctr));
    if (kind == Random::randint) {
      if constexpr (std::is_integral_v<T> || std::is_floating_point_v<T>) {
        const uint64_t range = static_cast<uint64_t>(r.high) - static_cast<uint64_t>(r.low);
        const uint64_t v = (static_cast<uint64_t>(x.w[0]) << 32) | x.w[1];
        out[i] = static_cast<T>(static_cast<int64_t>(static_cast<uint64_t>(r.low) + __umul64hi(v, range)));
      }
    } else if constexpr (!std::is_integral_v<T>) {
      if (kind == Random::uniform) {
        if constexpr (std::is_same_v<T, double>) {
          const uint64_t v = (static_cast<uint64_t>(x.w[0]) << 32) | x.w[1];
          out[i] = __dadd_rn(r.a, __dmul_rn(r.b - r.a, static_cast<double>(v >> 11) * 0x1.0p-53));
        } else {
          const float u = static_cast<float>(x.w[(i % 32) / 8] >> 8) * 0x1.0p-24f;
          const float v = __fadd_rn(static_cast<float>(r.a), __fmul_rn(static_cast<float>(r.b - r.a), u));
          const T t = convert<T>(v);
          out[i] = convert<float>(t) >= static_cast<float>(r.b) ? convert<T>(static_cast<float>(r.a)) : t;
        }
      } else if constexpr (std::is_same_v<T, double>) {
        const double lg = log(__dmul_rn(static_cast<double>(x.w[2]) + 1.0, 0x1.0p-32));
        const double cs = cos(__dmul_rn(6.283185307179586, static_cast<double>(x.w[3]) * 0x1.0p-32));
        out[i] = convert<T>(__dadd_rn(r.a, __dmul_rn(r.b, __dmul_rn(sqrt(-2.0 * lg), cs))));
      } else {
        const float u1 = __fadd_rn(static_cast<float>(x.w[2] >> 8) * 0x1.0p-24f,
                                   static_cast<float>((x.w[2] & 255u) + 1u) * 0x1.0p-32f);
        const float theta = __fmul_rn(6.2831855f, static_cast<float>(x.w[3] >> 8) * 0x1.0p-24f);
        const float rad = sqrtf(__fmul_rn(-2.0f, logf(u1)));
        const float z = __fmul_rn(rad, (i & 1) ? sinf(theta) : cosf(theta));
        out[i] = convert<T>(__fadd_rn(static_cast<float>(r.a), __fmul_rn(static_cast<float>(r.b), z)));
      }
    }
  }
}

template <class T>
bool by_size(int itemsize, T&& f) {
  switch (itemsize) {
    case 1: f(Bytes<1>{}); return true;
    case 2: f(Bytes<2>{}); return true;
    case 4: f(Bytes<4>{}); return true;
    case 8: f(Bytes<8>{}); return true;
    case 16: f(Bytes<16>{}); return true;
    default: return false;
  }
}

}  // namespace

bool launch_softmax(bool log, int dtype, const Layout<2>& rows, int64_t len, int64_t so, int64_t sa, cudaStream_t s) {
  const unsigned grid = rows.numel < (int64_t{1} << 20) ? static_cast<unsigned>(rows.numel) : 1u << 20;
  const unsigned threads = len >= 1024 ? 512 : len > 128 ? 256 : 64;  // a multiple of 32
  return visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T> || is_lowp<T>) {
      if (log) softmax_rows<T, true><<<grid, threads, 0, s>>>(rows, len, so, sa);
      else softmax_rows<T, false><<<grid, threads, 0, s>>>(rows, len, so, sa);
    }
  }) && (dtype == kFloat16 || dtype == kBFloat16 || dtype == kFloat32 || dtype == kFloat64);
}

bool launch_extreme_dim(bool is_max, int dtype, const Layout<3>& rows, int64_t len, int64_t step, cudaStream_t s) {
  const unsigned grid = rows.numel < (int64_t{1} << 20) ? static_cast<unsigned>(rows.numel) : 1u << 20;
  const unsigned threads = len >= 1024 ? 512 : len > 64 ? 128 : 32;
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> || std::is_floating_point_v<T> ||
                  is_lowp<T>) {
      extreme_rows<T><<<grid, threads, 0, s>>>(is_max, rows, len, step);
      ok = true;
    }
  });
  return ok;
}

bool launch_sort(int dtype, bool descending, const void* in, void* keys, int64_t* idx, void* values,
                 int64_t* indices, int64_t rows, int64_t len, int64_t padded, cudaStream_t s) {
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> || std::is_floating_point_v<T> ||
                  is_lowp<T>) {
      const unsigned grid = blocks_for(rows * padded);
      T* k = static_cast<T*>(keys);
      sort_init<T><<<grid, kThreads, 0, s>>>(static_cast<const T*>(in), k, idx, rows, len, padded);
      for (int64_t kk = 2; kk <= padded; kk <<= 1)
        for (int64_t j = kk >> 1; j > 0; j >>= 1)
          sort_stage<T><<<grid, kThreads, 0, s>>>(k, idx, rows, len, padded, kk, j, descending);
      sort_finish<T><<<blocks_for(rows * len), kThreads, 0, s>>>(k, idx, static_cast<T*>(values), indices, rows, len,
                                                               padded);
      ok = true;
    }
  });
  return ok;
}

bool launch_sgd(int dtype, const SgdArgs& a, const void* g, void* p, void* buf, int64_t n, cudaStream_t s) {
  const auto go = [&](auto tag) {
    using T = decltype(tag);
    if (a.momentum)
      sgd<T, true><<<blocks_for(n), kThreads, 0, s>>>(a, static_cast<const T*>(g), static_cast<T*>(p),
                                                       static_cast<T*>(buf), n);
    else
      sgd<T, false><<<blocks_for(n), kThreads, 0, s>>>(a, static_cast<const T*>(g), static_cast<T*>(p), nullptr, n);
  };
  if (dtype == kFloat32) return go(float{}), true;
  if (dtype == kFloat64) return go(double{}), true;
  return false;
}

bool launch_adam(int dtype, const AdamArgs& a, const void* g, void* p, void* m, void* v, void* vmax, int64_t n,
                 cudaStream_t s) {
  const auto go = [&](auto tag) {
    using T = decltype(tag);
    const T* gg = static_cast<const T*>(g);
    T *pp = static_cast<T*>(p), *mm = static_cast<T*>(m), *vv = static_cast<T*>(v), *xx = static_cast<T*>(vmax);
    if (a.amsgrad) adam<T, true><<<blocks_for(n), kThreads, 0, s>>>(a, gg, pp, mm, vv, xx, n);
    else adam<T, false><<<blocks_for(n), kThreads, 0, s>>>(a, gg, pp, mm, vv, nullptr, n);
  };
  if (dtype == kFloat32) return go(float{}), true;
  if (dtype == kFloat64) return go(double{}), true;
  return false;
}

bool launch_rmsprop(int dtype, const RmspropArgs& a, const void* g, void* p, void* sq, void* buf, void* gavg,
                    int64_t n, cudaStream_t s) {
  return for_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* gg = static_cast<const T*>(g);
    T *pp = static_cast<T*>(p), *ss = static_cast<T*>(sq), *bb = static_cast<T*>(buf), *aa = static_cast<T*>(gavg);
    const unsigned grid = blocks_for(n);
    if (a.momentum && a.centered) rmsprop<T, true, true><<<grid, kThreads, 0, s>>>(a, gg, pp, ss, bb, aa, n);
    else if (a.momentum) rmsprop<T, true, false><<<grid, kThreads, 0, s>>>(a, gg, pp, ss, bb, aa, n);
    else if (a.centered) rmsprop<T, false, true><<<grid, kThreads, 0, s>>>(a, gg, pp, ss, bb, aa, n);
    else rmsprop<T, false, false><<<grid, kThreads, 0, s>>>(a, gg, pp, ss, bb, aa, n);
  });
}

bool launch_arange(int dtype, int64_t start_i, int64_t step_i, double start_d, double step_d, void* out, int64_t n,
                   cudaStream_t s) {
  const unsigned grid = blocks_for(n);
  switch (dtype) {
    case kInt32: arange<int32_t, int64_t><<<grid, kThreads, 0, s>>>(static_cast<int32_t*>(out), start_i, step_i, n); return true;
    case kInt64: arange<int64_t, int64_t><<<grid, kThreads, 0, s>>>(static_cast<int64_t*>(out), start_i, step_i, n); return true;
    case kFloat32: arange<float, double><<<grid, kThreads, 0, s>>>(static_cast<float*>(out), start_d, step_d, n); return true;
    case kFloat64: arange<double, double><<<grid, kThreads, 0, s>>>(static_cast<double*>(out), start_d, step_d, n); return true;
    default: return false;
  }
}

bool launch_random(Random kind, int dtype, const RandomArgs& r, void* out, int64_t n, cudaStream_t s) {
  const unsigned grid = blocks_for(n);
  const bool ints = kind == Random::randint;
  switch (dtype) {
    case kInt32: if (!ints) return false; random_kernel<int32_t><<<grid, kThreads, 0, s>>>(kind, r, static_cast<int32_t*>(out), n); return true;
    case kInt64: if (!ints) return false; random_kernel<int64_t><<<grid, kThreads, 0, s>>>(kind, r, static_cast<int64_t*>(out), n); return true;
    case kFloat16: if (ints) return false; random_kernel<__half><<<grid, kThreads, 0, s>>>(kind, r, static_cast<__half*>(out), n); return true;
    case kBFloat16: if (ints) return false; random_kernel<__nv_bfloat16><<<grid, kThreads, 0, s>>>(kind, r, static_cast<__nv_bfloat16*>(out), n); return true;
    case kFloat32: random_kernel<float><<<grid, kThreads, 0, s>>>(kind, r, static_cast<float*>(out), n); return true;
    case kFloat64: random_kernel<double><<<grid, kThreads, 0, s>>>(kind, r, static_cast<double*>(out), n); return true;
    default: return false;
  }
}

bool launch_take(int itemsize, const void* src, const Layout<2>& L, cudaStream_t s) {
  return by_size(itemsize, [&](auto tag) {
    using T = decltype(tag);
    take<T><<<blocks_for(L.numel), kThreads, 0, s>>>(static_cast<const T*>(src), L);
  });
}

bool launch_put(int itemsize, void* dst, const Layout<2>& L, cudaStream_t s) {
  return by_size(itemsize, [&](auto tag) {
    using T = decltype(tag);
    put<T, false><<<blocks_for(L.numel), kThreads, 0, s>>>(static_cast<T*>(dst), L);
  });
}

bool launch_put_add(int dtype, void* dst, const Layout<2>& L, cudaStream_t s) {
  bool ok = false;
  visit_code(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t> || std::is_same_v<T, float> ||
                  std::is_same_v<T, double> || is_lowp<T>) {
      put<T, true><<<blocks_for(L.numel), kThreads, 0, s>>>(static_cast<T*>(dst), L);
      ok = true;
    }
  });
  return ok;
}

}  // namespace tessel::cuda
