// CPU kernels for softmax and log_softmax along one dim.
// Contract: in a (floating T); out same shape and dtype; params ReduceDimParams.
#include <cmath>
#include <vector>

#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

template <class T, bool Log>
void softmax_kernel(const KernelCall& c) {
  using A = acc_t<T>;
  const Tensor &a = c.in[0], &out = c.out[0];
  const int64_t dim = static_cast<const ReduceDimParams*>(c.params)->dim;
  const int64_t len = a.shape()[dim];
  const int64_t sa = a.strides()[dim], so = out.strides()[dim];
  const Tensor a0 = a.narrow(dim, 0, 1), o0 = out.narrow(dim, 0, 1);
  for_each<2>({&o0, &a0}, [&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const T* x = reinterpret_cast<const T*>(p[1] + i * s[1]);
      T* y = reinterpret_cast<T*>(p[0] + i * s[0]);
      // Max first, so that exp never overflows; -inf rows stay NaN-free below.
      A m = -INFINITY;
      for (int64_t j = 0; j < len; ++j) m = std::max(m, A(x[j * sa]));
      if (std::isinf(m) && m < 0) m = 0;
      A sum = 0;
      if (sa == 1 && so == 1 && !Log && std::is_floating_point_v<T>) {  // one exp per element
        for (int64_t j = 0; j < len; ++j) {
          const A e = std::exp(A(x[j]) - m);
          y[j] = static_cast<T>(e);
          sum += e;
        }
        const A inv = A(1) / sum;
        for (int64_t j = 0; j < len; ++j) y[j] = static_cast<T>(A(y[j]) * inv);
        continue;
      }
      for (int64_t j = 0; j < len; ++j) sum += std::exp(A(x[j * sa]) - m);
      if constexpr (Log) {
        const A lse = m + std::log(sum);
        for (int64_t j = 0; j < len; ++j) y[j * so] = static_cast<T>(A(x[j * sa]) - lse);
      } else {
        const A inv = A(1) / sum;
        for (int64_t j = 0; j < len; ++j) y[j * so] = static_cast<T>(std::exp(A(x[j * sa]) - m) * inv);
      }
    }
  }, len * 4);
}

const bool registered = [] {
  register_for(FloatTypes{}, op::softmax, []<class T>(std::type_identity<T>) -> Kernel {
    return &softmax_kernel<T, false>;
  });
  register_for(FloatTypes{}, op::log_softmax, []<class T>(std::type_identity<T>) -> Kernel {
    return &softmax_kernel<T, true>;
  });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
