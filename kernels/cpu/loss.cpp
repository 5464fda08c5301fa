// nll_loss over [N, C] scores in one pass (by name, "nll_loss_fused"), and its
// first-order backward ("nll_loss_fused_backward"). The composite (ne, where,
// gather, two casts, mul, neg, two sums, div) took 1.8x PyTorch's time for a
// [10, 100] cross_entropy, all of it per-op overhead.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/register.h"
#include "tessel/error.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

template <class I>
int64_t target_at(const Tensor& t, int64_t i) {
  return static_cast<int64_t>(static_cast<const I*>(t.data_ptr())[i * t.strides()[0]]);
}

// The class of row i, or -1 when it is ignore_index; an out-of-range class is an
// IndexError naming nll_loss (as the composite's gather reported it).
inline int64_t class_of(const Tensor& t, int64_t i, int64_t C, int64_t ignore_index) {
  const int64_t v = t.dtype() == DType::Int64 ? target_at<int64_t>(t, i) : target_at<int32_t>(t, i);
  if (v == ignore_index) return -1;
  TS_CHECK(v >= 0 && v < C, IndexError, "nll_loss", "target ", v, " is out of bounds for ", C, " classes");
  return v;
}

// in x [N, C] (unit column stride), target [N] (int32/int64), weight [C] or an
// empty tensor; out loss and the summed weight (0-d each, the sum kept for the
// backward of the mean); params NllLossParams. Serial, in row order, in double:
// one read per row.
template <class T>
void nll_loss_kernel(const KernelCall& c) {
  const Tensor &x = c.in[0], &t = c.in[1], &w = c.in[2];
  const auto& p = *static_cast<const NllLossParams*>(c.params);
  const int64_t N = x.shape()[0], C = x.shape()[1], ld = x.strides()[0];
  const T* px = static_cast<const T*>(x.data_ptr());
  const T* pw = w.numel() ? static_cast<const T*>(w.data_ptr()) : nullptr;
  double loss = 0, wsum = 0;
  for (int64_t i = 0; i < N; ++i) {
    const int64_t k = class_of(t, i, C, p.ignore_index);
    if (k < 0) continue;
    const double wk = pw ? static_cast<double>(pw[k]) : 1.0;
    loss -= wk * static_cast<double>(px[i * ld + k]);
    wsum += wk;
  }
  *static_cast<T*>(c.out[0].data_ptr()) = static_cast<T>(p.mean ? loss / wsum : loss);
  *static_cast<T*>(c.out[1].data_ptr()) = static_cast<T>(wsum);
}

// in g (0-d), target [N], weight [C] or empty, the summed weight (0-d); out dx
// [N, C] contiguous: zero but for -w[t_i] * g (/ the summed weight for the mean)
// at (i, t_i); ignored rows stay zero.
template <class T>
void nll_loss_backward_kernel(const KernelCall& c) {
  const Tensor &g = c.in[0], &t = c.in[1], &w = c.in[2], &ws = c.in[3];
  const auto& p = *static_cast<const NllLossParams*>(c.params);
  Tensor& dx = c.out[0];
  const int64_t N = dx.shape()[0], C = dx.shape()[1];
  const T* pw = w.numel() ? static_cast<const T*>(w.data_ptr()) : nullptr;
  T scale = -*static_cast<const T*>(g.data_ptr());
  if (p.mean) scale /= *static_cast<const T*>(ws.data_ptr());
  T* pd = static_cast<T*>(dx.data_ptr());
  std::fill(pd, pd + N * C, T(0));
  for (int64_t i = 0; i < N; ++i) {
    const int64_t k = class_of(t, i, C, p.ignore_index);
    if (k >= 0) pd[i * C + k] = pw ? scale * pw[k] : scale;
  }
}

const bool registered = [] {
  register_for(TypeList<float, double>{}, Registry::get().op_id("nll_loss_fused"),
               []<class T>(std::type_identity<T>) -> Kernel { return nll_loss_kernel<T>; });
  register_for(TypeList<float, double>{}, Registry::get().op_id("nll_loss_fused_backward"),
               []<class T>(std::type_identity<T>) -> Kernel { return nll_loss_backward_kernel<T>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
