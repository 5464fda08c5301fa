// CPU kernels for cumsum and cumprod along one dim.
// Contract: in a (T); out same shape (int64 for bool/integers, else T); params ReduceDimParams.
#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"
#include "tessel/cast.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

template <class T, bool Prod>
void scan_kernel(const KernelCall& c) {
  using O = std::conditional_t<std::is_integral_v<T>, int64_t, T>;
  using A = std::conditional_t<std::is_integral_v<T>, int64_t, acc_t<T>>;
  const Tensor &a = c.in[0], &out = c.out[0];
  const int64_t dim = static_cast<const ReduceDimParams*>(c.params)->dim;
  const int64_t len = a.shape()[dim];
  const int64_t sa = a.strides()[dim] * static_cast<int64_t>(sizeof(T));
  const int64_t so = out.strides()[dim] * static_cast<int64_t>(sizeof(O));
  // One scan per position of the other dims: iterate over the dim's first slice.
  const Tensor a0 = a.narrow(dim, 0, 1), o0 = out.narrow(dim, 0, 1);
  for_each<2>({&o0, &a0}, [&](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const char* x = p[1] + i * s[1];
      char* y = p[0] + i * s[0];
      A acc = Prod ? A(1) : A(0);
      for (int64_t j = 0; j < len; ++j) {
        const A v = A(*reinterpret_cast<const T*>(x + j * sa));
        if constexpr (Prod) acc *= v;
        else acc += v;
        *reinterpret_cast<O*>(y + j * so) = cast_value<O>(acc);
      }
    }
  }, len);
}

const bool registered = [] {
  register_for(AllTypes{}, op::cumsum, []<class T>(std::type_identity<T>) -> Kernel { return &scan_kernel<T, false>; });
  register_for(AllTypes{}, op::cumprod, []<class T>(std::type_identity<T>) -> Kernel { return &scan_kernel<T, true>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
