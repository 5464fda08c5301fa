// CPU kernels for optimizer updates: one pass over each parameter and its
// state, with PyTorch's update equations (torch.optim, single-tensor form).
// Contract: all tensors contiguous, one shape, dtype T; updated in place.
#include <cmath>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

template <class T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

// Loops keep branches out of the body (template flags, loop-invariant
// selects) and use restrict pointers so that the compiler vectorizes them.
// The element loops are plain functions with restrict pointers (through a
// lambda's captures the compiler loses them and does not vectorize).
template <class T, bool Momentum>
TESSEL_CLONES void sgd_range(const T* __restrict g, T* __restrict p, T* __restrict buf, int64_t lo, int64_t hi, T lr, T wd, T mom,
               T damp, T sign, T first, T nest) {
  for (int64_t i = lo; i < hi; ++i) {
    T d = sign * g[i] + wd * p[i];
    if constexpr (Momentum) {
      const T b = first * d + (T(1) - first) * (mom * buf[i] + damp * d);
      buf[i] = b;
      d = nest * (d + mom * b) + (T(1) - nest) * b;
    }
    p[i] -= lr * d;
  }
}

template <class T, bool Momentum>
void sgd_loop(const OptimParams& o, const T* g, T* p, T* buf, int64_t n) {
  const T lr = T(o.lr), wd = T(o.weight_decay), mom = T(o.momentum), damp = T(1 - o.dampening);
  const T sign = o.maximize ? T(-1) : T(1), first = o.first_step ? T(1) : T(0), nest = o.nesterov ? T(1) : T(0);
  parallel_for(n, 4, [&](int64_t lo, int64_t hi) {
    sgd_range<T, Momentum>(g, p, buf, lo, hi, lr, wd, mom, damp, sign, first, nest);
  });
}

template <class T>
void sgd_kernel(const KernelCall& c) {
  const OptimParams& o = *static_cast<const OptimParams*>(c.params);
  const int64_t n = c.out[0].numel();
  if (o.momentum != 0) sgd_loop<T, true>(o, ptr<T>(c.in[0]), ptr<T>(c.out[0]), ptr<T>(c.out[1]), n);
  else sgd_loop<T, false>(o, ptr<T>(c.in[0]), ptr<T>(c.out[0]), nullptr, n);
}

template <class T, bool Amsgrad>
TESSEL_CLONES void adam_range(const T* __restrict g, T* __restrict p, T* __restrict m, T* __restrict v, T* __restrict vmax,
                int64_t lo, int64_t hi, T b1, T b2, T eps, T sign, T step_size, T inv_sqrt_bc2, T wd, T decay) {
  for (int64_t i = lo; i < hi; ++i) {
    const T d = sign * g[i] + wd * p[i];
    const T mi = m[i] + (T(1) - b1) * (d - m[i]);  // lerp, as PyTorch
    const T vi = b2 * v[i] + (T(1) - b2) * d * d;
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (Amsgrad) {
      second = std::max(vmax[i], vi);
      vmax[i] = second;
    }
    p[i] = p[i] * decay - step_size * mi / (std::sqrt(second) * inv_sqrt_bc2 + eps);
  }
}

template <class T, bool Amsgrad>
void adam_loop(const OptimParams& o, const T* g, T* p, T* m, T* v, T* vmax, int64_t n) {
  const double t = static_cast<double>(o.step);
  const T b1 = T(o.beta1), b2 = T(o.beta2), eps = T(o.eps), sign = o.maximize ? T(-1) : T(1);
  const T step_size = T(o.lr / (1 - std::pow(o.beta1, t)));
  const T inv_sqrt_bc2 = T(1 / std::sqrt(1 - std::pow(o.beta2, t)));
  const T wd = o.decoupled_weight_decay ? T(0) : T(o.weight_decay);
  const T decay = o.decoupled_weight_decay ? T(1 - o.lr * o.weight_decay) : T(1);
  parallel_for(n, 8, [&](int64_t lo, int64_t hi) {
    adam_range<T, Amsgrad>(g, p, m, v, vmax, lo, hi, b1, b2, eps, sign, step_size, inv_sqrt_bc2, wd, decay);
  });
}

template <class T>
void adam_kernel(const KernelCall& c) {
  const OptimParams& o = *static_cast<const OptimParams*>(c.params);
  const T* g = ptr<T>(c.in[0]);
  T *p = ptr<T>(c.out[0]), *m = ptr<T>(c.out[1]), *v = ptr<T>(c.out[2]);
  if (o.amsgrad) adam_loop<T, true>(o, g, p, m, v, ptr<T>(c.out[3]), c.out[0].numel());
  else adam_loop<T, false>(o, g, p, m, v, nullptr, c.out[0].numel());
}

template <class T, bool Momentum, bool Centered>
TESSEL_CLONES void rmsprop_range(const T* __restrict g, T* __restrict p, T* __restrict sq, T* __restrict buf,
                                 T* __restrict gavg, int64_t lo, int64_t hi, T lr, T wd, T a, T eps, T mom, T sign) {
  for (int64_t i = lo; i < hi; ++i) {
    const T d = sign * g[i] + wd * p[i];
    sq[i] = a * sq[i] + (1 - a) * d * d;
    T avg;
    if constexpr (Centered) {
      gavg[i] += (1 - a) * (d - gavg[i]);
      avg = std::sqrt(sq[i] - gavg[i] * gavg[i]) + eps;
    } else {
      avg = std::sqrt(sq[i]) + eps;
    }
    if constexpr (Momentum) {
      buf[i] = mom * buf[i] + d / avg;
      p[i] -= lr * buf[i];
    } else {
      p[i] -= lr * d / avg;
    }
  }
}

template <class T, bool Momentum, bool Centered>
void rmsprop_loop(const OptimParams& o, const KernelCall& c) {
  size_t k = 2;
  T* buf = Momentum ? ptr<T>(c.out[k++]) : nullptr;
  T* gavg = Centered ? ptr<T>(c.out[k++]) : nullptr;
  const T lr = T(o.lr), wd = T(o.weight_decay), a = T(o.alpha), eps = T(o.eps), mom = T(o.momentum);
  const T sign = o.maximize ? T(-1) : T(1);
  const T* g = ptr<T>(c.in[0]);
  T *p = ptr<T>(c.out[0]), *sq = ptr<T>(c.out[1]);
  parallel_for(c.out[0].numel(), 8, [&](int64_t lo, int64_t hi) {
    rmsprop_range<T, Momentum, Centered>(g, p, sq, buf, gavg, lo, hi, lr, wd, a, eps, mom, sign);
  });
}

template <class T>
void rmsprop_kernel(const KernelCall& c) {
  const OptimParams& o = *static_cast<const OptimParams*>(c.params);
  const bool m = o.momentum > 0;
  if (m && o.centered) rmsprop_loop<T, true, true>(o, c);
  else if (m) rmsprop_loop<T, true, false>(o, c);
  else if (o.centered) rmsprop_loop<T, false, true>(o, c);
  else rmsprop_loop<T, false, false>(o, c);
}

[[maybe_unused]] const bool registered = [] {
  using Types = TypeList<float, double>;
  register_for(Types{}, op::sgd_step, []<class T>(std::type_identity<T>) -> Kernel { return sgd_kernel<T>; });
  register_for(Types{}, op::adam_step, []<class T>(std::type_identity<T>) -> Kernel { return adam_kernel<T>; });
  register_for(Types{}, op::rmsprop_step, []<class T>(std::type_identity<T>) -> Kernel { return rmsprop_kernel<T>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
