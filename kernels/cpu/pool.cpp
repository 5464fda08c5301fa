// CPU kernels for 2-D pooling on contiguous [N, C, H, W] planes: max_pool2d (with and
// without indices) and its backward, avg_pool2d's window sums and their transpose, and
// avg_pool2d of float16/bfloat16 in one kernel. (The blocked-layout pools of the ONNX
// runtime are pool_blocked_*.cpp.)
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/cpu/loops.h"
#include "kernels/cpu/reduced_float.h"
#include "kernels/cpu/register.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

// Separable window folds (max_pool2d without indices, avg_pool2d's sums): for
// each output row, the window's input rows folded elementwise into a row
// (contiguous, vectorizes), then that row's columns folded per output, with the
// kernel offsets as the outer loop so that the outputs' folds are independent
// and pipeline. x [N, C, H, W] contiguous; padding and the ceil_mode overhang
// add nothing (the fold starts from `init`).
template <class T, class Fold>
void pool2d_separable(const KernelCall& c, T init, Fold fold) {
  const PoolParams& p = *static_cast<const PoolParams*>(c.params);
  const Tensor &x = c.in[0], &y = c.out[0];
  const int64_t planes = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t Ho = y.shape()[2], Wo = y.shape()[3];
  const T* px = cptr<T>(x);
  T* py = mptr<T>(y);
  parallel_for(planes, Ho * Wo * p.kernel[0] * p.kernel[1], [&](int64_t lo, int64_t hi) {
    std::vector<T> row(static_cast<size_t>(W));
    for (int64_t pl = lo; pl < hi; ++pl) {
      const T* in = px + pl * H * W;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        T* r = row.data();
        std::fill(r, r + W, init);
        for (int64_t i = 0; i < p.kernel[0]; ++i) {
          const int64_t h = oh * p.stride[0] - p.pad[0] + i * p.dilation[0];
          if (h < 0 || h >= H) continue;
          const T* src = in + h * W;
          for (int64_t w = 0; w < W; ++w) r[w] = fold(r[w], src[w]);
        }
        T* out = py + (pl * Ho + oh) * Wo;
        std::fill(out, out + Wo, init);
        for (int64_t j = 0; j < p.kernel[1]; ++j) {
          const int64_t off = j * p.dilation[1] - p.pad[1];
          const int64_t ow0 = std::max<int64_t>(0, (-off + p.stride[1] - 1) / p.stride[1]);
          const int64_t ow1 = std::min<int64_t>(Wo, off >= W ? 0 : (W - 1 - off) / p.stride[1] + 1);
          for (int64_t ow = ow0; ow < ow1; ++ow) out[ow] = fold(out[ow], r[ow * p.stride[1] + off]);
        }
      }
    }
  });
}

// max_pool2d without the indices output (inference); NaN propagates, as in PyTorch.
template <class T>
void max_pool2d_values(const KernelCall& c) {
  pool2d_separable<T>(c, T(-std::numeric_limits<acc_t<T>>::infinity()),
                      [](T acc, T v) { return select((v > acc) | (v != v), v, acc); });
}

// Window sums for avg_pool2d (by name, "avg_pool2d_sums"; dilation 1): out [N, C,
// Ho, Wo], each the sum of its window's elements inside the input, which the op divides.
template <class T>
void avg_pool2d_sums(const KernelCall& c) {
  pool2d_separable<T>(c, T(0), [](T acc, T v) { return acc + v; });
}

// avg_pool2d of float16/bfloat16 without autograd, whole windows (by name,
// "avg_pool2d_reduced": no ceil_mode overhang, padding counted; dilation 1): the input's
// rows widened as they are folded, float32's window sums divided by the window's size
// and rounded once; the float32 path's bits (its casts and division were three more
// calls: 2x PyTorch's time at 10^3 elements).
template <class T>
void avg_pool2d_reduced(const KernelCall& c) {
  const PoolParams& p = *static_cast<const PoolParams*>(c.params);
  const Tensor &x = c.in[0], &y = c.out[0];
  const int64_t planes = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t Ho = y.shape()[2], Wo = y.shape()[3];
  const float size = static_cast<float>(p.kernel[0] * p.kernel[1]);
  const T* px = cptr<T>(x);
  T* py = mptr<T>(y);
  parallel_for(planes, Ho * Wo * p.kernel[0] * p.kernel[1], [&](int64_t lo, int64_t hi) {
    std::vector<float> row(static_cast<size_t>(W)), src(static_cast<size_t>(W)), out(static_cast<size_t>(Wo));
    for (int64_t pl = lo; pl < hi; ++pl) {
      for (int64_t oh = 0; oh < Ho; ++oh) {
        float* r = row.data();
        std::fill(r, r + W, 0.0f);
        for (int64_t i = 0; i < p.kernel[0]; ++i) {
          const int64_t h = oh * p.stride[0] - p.pad[0] + i;
          if (h < 0 || h >= H) continue;
          widen(src.data(), px + (pl * H + h) * W, W);
          for (int64_t w = 0; w < W; ++w) r[w] += src[w];
        }
        float* o = out.data();
        std::fill(o, o + Wo, 0.0f);
        for (int64_t j = 0; j < p.kernel[1]; ++j) {
          const int64_t off = j - p.pad[1];
          const int64_t ow0 = std::max<int64_t>(0, (-off + p.stride[1] - 1) / p.stride[1]);
          const int64_t ow1 = std::min<int64_t>(Wo, off >= W ? 0 : (W - 1 - off) / p.stride[1] + 1);
          for (int64_t ow = ow0; ow < ow1; ++ow) o[ow] += r[ow * p.stride[1] + off];
        }
        for (int64_t ow = 0; ow < Wo; ++ow) o[ow] /= size;
        narrow(py + (pl * Ho + oh) * Wo, o, Wo);
      }
    }
  });
}

// The transpose of avg_pool2d_sums (by name, "avg_pool2d_sums_backward"): in g [N, C,
// Ho, Wo] contiguous; out dx [N, C, H, W] contiguous, each element the sum of g over
// the windows that hold it; params PoolParams (dilation 1). Per output row, the
// window's columns are gathered into a row buffer, which is added to the window's
// rows. The composite's backward (the unfold view's scatter of an expanded
// gradient) took 1.34x PyTorch's time for fwd+bwd of 10^5 elements.
template <class T>
void avg_pool2d_sums_backward(const KernelCall& c) {
  const PoolParams& p = *static_cast<const PoolParams*>(c.params);
  const Tensor &g = c.in[0], &dx = c.out[0];
  const int64_t planes = dx.shape()[0] * dx.shape()[1], H = dx.shape()[2], W = dx.shape()[3];
  const int64_t Ho = g.shape()[2], Wo = g.shape()[3];
  const T* pg = cptr<T>(g);
  T* pd = mptr<T>(dx);
  parallel_for(planes, H * W + Ho * Wo * (p.kernel[0] + p.kernel[1]), [&](int64_t lo, int64_t hi) {
    std::vector<T> r(static_cast<size_t>(W));
    for (int64_t pl = lo; pl < hi; ++pl) {
      T* out = pd + pl * H * W;
      std::fill(out, out + H * W, T(0));
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const T* grow = pg + (pl * Ho + oh) * Wo;
        std::fill(r.begin(), r.end(), T(0));
        for (int64_t j = 0; j < p.kernel[1]; ++j) {
          const int64_t off = j - p.pad[1];
          const int64_t ow0 = std::max<int64_t>(0, (-off + p.stride[1] - 1) / p.stride[1]);
          const int64_t ow1 = std::min<int64_t>(Wo, off >= W ? 0 : (W - 1 - off) / p.stride[1] + 1);
          for (int64_t ow = ow0; ow < ow1; ++ow) r[ow * p.stride[1] + off] += grow[ow];
        }
        for (int64_t i = 0; i < p.kernel[0]; ++i) {
          const int64_t h = oh * p.stride[0] - p.pad[0] + i;
          if (h < 0 || h >= H) continue;
          T* dst = out + h * W;
          for (int64_t w = 0; w < W; ++w) dst[w] += r[w];
        }
      }
    }
  });
}

template <class T>
void max_pool2d_kernel(const KernelCall& c) {
  if (c.out.size() < 2) return max_pool2d_values<T>(c);
  const PoolParams& p = *static_cast<const PoolParams*>(c.params);
  const Tensor &x = c.in[0], &y = c.out[0];
  const int64_t planes = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t Ho = y.shape()[2], Wo = y.shape()[3];
  const T* px = cptr<T>(x);
  T* py = mptr<T>(y);
  int64_t* pi = mptr<int64_t>(c.out[1]);
  // The common 2x2 window with stride 2: four loads and three compares per output.
  const bool two_by_two = p.kernel[0] == 2 && p.kernel[1] == 2 && p.stride[0] == 2 && p.stride[1] == 2 &&
                          p.pad[0] == 0 && p.pad[1] == 0 && p.dilation[0] == 1 && p.dilation[1] == 1 &&
                          2 * Ho <= H && 2 * Wo <= W;
  parallel_for(planes, Ho * Wo * p.kernel[0] * p.kernel[1], [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi && two_by_two; ++pl) {
      const T* in = px + pl * H * W;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const T* r0 = in + 2 * oh * W;
        const T* r1 = r0 + W;
        T* out = py + (pl * Ho + oh) * Wo;
        int64_t* at = pi + (pl * Ho + oh) * Wo;
        for (int64_t ow = 0; ow < Wo; ++ow) {
          const int64_t k0 = 2 * oh * W + 2 * ow;
          T b = r0[2 * ow];
          int64_t a = k0;
          const T cand[3] = {r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
          const int64_t pos[3] = {k0 + 1, k0 + W, k0 + W + 1};
          for (int k = 0; k < 3; ++k) {
            const T v = cand[k];
            const bool take = ((v > b) | (v != v)) & (b == b);  // first maximum; NaN wins
            b = select(take, v, b);
            a = select(take, pos[k], a);
          }
          out[ow] = b;
          at[ow] = a;
        }
      }
    }
    for (int64_t pl = lo; pl < hi && !two_by_two; ++pl) {
      const T* in = px + pl * H * W;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        T* best = py + (pl * Ho + oh) * Wo;
        int64_t* at = pi + (pl * Ho + oh) * Wo;
        for (int64_t ow = 0; ow < Wo; ++ow) at[ow] = -1, best[ow] = T(0);
        for (int64_t i = 0; i < p.kernel[0]; ++i) {
          const int64_t h = oh * p.stride[0] - p.pad[0] + i * p.dilation[0];
          if (h < 0 || h >= H) continue;
          for (int64_t j = 0; j < p.kernel[1]; ++j) {
            const int64_t off = j * p.dilation[1] - p.pad[1];
            // Columns whose window position j falls inside the row.
            const int64_t ow0 = std::max<int64_t>(0, (-off + p.stride[1] - 1) / p.stride[1]);
            const int64_t ow1 = std::min<int64_t>(Wo, off >= W ? 0 : (W - 1 - off) / p.stride[1] + 1);
            for (int64_t ow = ow0; ow < ow1; ++ow) {
              const int64_t w = ow * p.stride[1] + off;
              const T v = in[h * W + w];
              // The first maximum wins ties; NaN wins over numbers, as in PyTorch.
              const T b = best[ow];
              const bool take = (at[ow] < 0) | (((v > b) | (v != v)) & (b == b));
              best[ow] = select(take, v, best[ow]);
              at[ow] = select(take, h * W + w, at[ow]);
            }
          }
        }
      }
    }
  });
}

template <class T>
void max_pool2d_backward_kernel(const KernelCall& c) {
  const Tensor &g = c.in[0], &gx = c.out[0];
  const int64_t planes = gx.shape()[0] * gx.shape()[1], HW = gx.shape()[2] * gx.shape()[3];
  const int64_t HoWo = g.shape()[2] * g.shape()[3];
  const T* pg = cptr<T>(g);
  const int64_t* pi = cptr<int64_t>(c.in[1]);
  T* out = mptr<T>(gx);
  parallel_for(planes, HW + HoWo, [&](int64_t lo, int64_t hi) {
    // float16/bfloat16 gather overlapping windows' gradients in float, rounded once
    std::vector<acc_t<T>> acc(is_reduced_float_v<T> ? HW : 0);
    for (int64_t pl = lo; pl < hi; ++pl) {
      if constexpr (is_reduced_float_v<T>) {
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t k = 0; k < HoWo; ++k) acc[pi[pl * HoWo + k]] += static_cast<float>(pg[pl * HoWo + k]);
        narrow(out + pl * HW, acc.data(), HW);
      } else {
        T* o = out + pl * HW;
        for (int64_t k = 0; k < HW; ++k) o[k] = T(0);
        for (int64_t k = 0; k < HoWo; ++k) o[pi[pl * HoWo + k]] += pg[pl * HoWo + k];
      }
    }
  });
}

const bool registered = [] {
  // max_pool2d picks values, exact in any float dtype (float16/bfloat16 through the window
  // view ran 1.6-2.2x PyTorch's time at 10^3)
  using PoolTypes = TypeList<float, double, Half, BFloat16>;
  register_for(PoolTypes{}, op::max_pool2d,
               []<class T>(std::type_identity<T>) -> Kernel { return max_pool2d_kernel<T>; });
  register_for(PoolTypes{}, op::max_pool2d_backward,
               []<class T>(std::type_identity<T>) -> Kernel { return max_pool2d_backward_kernel<T>; });
  // By name (as plugins do), so the builtin op list in registry.h stays as it is.
  auto& reg = Registry::get();
  register_for(TypeList<float, double>{}, reg.op_id("avg_pool2d_sums"),
               []<class T>(std::type_identity<T>) -> Kernel { return avg_pool2d_sums<T>; });
  register_for(TypeList<float, double>{}, reg.op_id("avg_pool2d_sums_backward"),
               []<class T>(std::type_identity<T>) -> Kernel { return avg_pool2d_sums_backward<T>; });
  const OpId apr = reg.op_id("avg_pool2d_reduced");
  reg.add(apr, DeviceType::CPU, DType::BFloat16, &avg_pool2d_reduced<BFloat16>);
  reg.add(apr, DeviceType::CPU, DType::Float16, &avg_pool2d_reduced<Half>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
