// CPU kernels for sort, topk and searchsorted along one dim.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/cpu/loops.h"
#include "src/core/nan_order.h"
#include "kernels/cpu/register.h"
#include "tessel/kernel.h"

namespace tessel::cpu {
namespace {

using tessel::detail::less_nan;  // NaN as the largest value (src/core/nan_order.h)

// Calls body(row_in, row_out...) for every position of the other dims, with
// the element stride along `dim` in elements.
template <class T, class Body>
void rows(const Tensor& a, const Tensor& v, const Tensor& i, int64_t dim, int64_t cost, Body body) {
  const Tensor a0 = a.narrow(dim, 0, std::min<int64_t>(a.shape()[dim], 1));
  const Tensor v0 = v.narrow(dim, 0, std::min<int64_t>(v.shape()[dim], 1));
  const Tensor i0 = i.narrow(dim, 0, std::min<int64_t>(i.shape()[dim], 1));
  if (a0.numel() == 0 || v0.numel() == 0) return;
  for_each<3>({&v0, &i0, &a0}, [&](char** p, const int64_t* s, int64_t n) {
    for (int64_t r = 0; r < n; ++r) {
      body(reinterpret_cast<const T*>(p[2] + r * s[2]), reinterpret_cast<T*>(p[0] + r * s[0]),
           reinterpret_cast<int64_t*>(p[1] + r * s[1]));
    }
  }, cost);
}

// Writes the first n entries of a row's ordering as values and indices.
template <class T>
void write_order(const std::vector<int64_t>& order, int64_t n, const T* x, int64_t sa, T* y, int64_t sv,
                 int64_t* yi, int64_t si) {
  for (int64_t j = 0; j < n; ++j) {
    y[j * sv] = x[order[j] * sa];
    yi[j * si] = order[j];
  }
}

inline std::vector<int64_t> identity_order(int64_t len) {
  std::vector<int64_t> order(static_cast<size_t>(len));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

template <class T>
void sort_kernel(const KernelCall& c) {
  using A = acc_t<T>;
  const auto& ps = *static_cast<const SortParams*>(c.params);
  const Tensor &a = c.in[0], &vals = c.out[0], &idx = c.out[1];
  const int64_t len = a.shape()[ps.dim], sa = a.strides()[ps.dim], sv = vals.strides()[ps.dim],
                si = idx.strides()[ps.dim];
  rows<T>(a, vals, idx, ps.dim, len * 16, [&](const T* x, T* y, int64_t* yi) {
    std::vector<int64_t> order = identity_order(len);
    auto key = [&](int64_t j) { return A(x[j * sa]); };
    if (ps.descending) {
      std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return less_nan(key(q), key(p)); });
    } else {
      std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return less_nan(key(p), key(q)); });
    }
    write_order(order, len, x, sa, y, sv, yi, si);
  });
}

template <class T>
void topk_kernel(const KernelCall& c) {
  using A = acc_t<T>;
  const auto& ps = *static_cast<const TopkParams*>(c.params);
  const Tensor &a = c.in[0], &vals = c.out[0], &idx = c.out[1];
  const int64_t len = a.shape()[ps.dim], sa = a.strides()[ps.dim], sv = vals.strides()[ps.dim],
                si = idx.strides()[ps.dim], k = ps.k;
  rows<T>(a, vals, idx, ps.dim, len * 4, [&](const T* x, T* y, int64_t* yi) {
    std::vector<int64_t> order = identity_order(len);
    auto key = [&](int64_t j) { return A(x[j * sa]); };
    // Ties keep the lower index first, so the result is deterministic.
    auto cmp = [&](int64_t p, int64_t q) {
      const A kp = key(p), kq = key(q);
      if (ps.largest ? less_nan(kq, kp) : less_nan(kp, kq)) return true;
      if (ps.largest ? less_nan(kp, kq) : less_nan(kq, kp)) return false;
      return p < q;
    };
    std::partial_sort(order.begin(), order.begin() + k, order.end(), cmp);
    write_order(order, k, x, sa, y, sv, yi, si);
  });
}

template <class T>
void searchsorted_kernel(const KernelCall& c) {
  using A = acc_t<T>;
  const bool right = static_cast<const SearchParams*>(c.params)->right;
  const Tensor &seq = c.in[0], &vals = c.in[1], &out = c.out[0];
  const int64_t m = seq.shape().back(), n = vals.shape().back();
  const int64_t rows_n = vals.numel() / std::max<int64_t>(n, 1);
  const bool shared = seq.dim() == 1;  // one sequence for every row of values
  // reshape may copy a strided input: take strides from the reshaped views.
  const Tensor v2 = vals.reshape({rows_n, n}), o2 = out.view({rows_n, n});
  const Tensor s2 = shared ? seq.unsqueeze(0) : seq.reshape({rows_n, m});
  const int64_t ss = s2.strides()[1], sv = v2.strides()[1], so = o2.strides()[1];
  parallel_for(rows_n, n * 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* sp = static_cast<const T*>(s2.data_ptr()) + (shared ? 0 : r * s2.strides()[0]);
      const T* vp = static_cast<const T*>(v2.data_ptr()) + r * v2.strides()[0];
      int64_t* op = static_cast<int64_t*>(o2.data_ptr()) + r * o2.strides()[0];
      for (int64_t j = 0; j < n; ++j) {
        const A x = A(vp[j * sv]);
        int64_t lo = 0, hi = m;  // first position whose element is > x (right) or >= x (left)
        while (lo < hi) {
          const int64_t mid = (lo + hi) / 2;
          const A s = A(sp[mid * ss]);
          const bool go_right = right ? !less_nan(x, s) : less_nan(s, x);
          if (go_right) lo = mid + 1;
          else hi = mid;
        }
        op[j * so] = lo;
      }
    }
  });
}

const bool registered = [] {
  register_for(BoolType{} + RealTypes{}, op::sort, []<class T>(std::type_identity<T>) -> Kernel { return &sort_kernel<T>; });
  register_for(BoolType{} + RealTypes{}, op::topk, []<class T>(std::type_identity<T>) -> Kernel { return &topk_kernel<T>; });
  register_for(RealTypes{}, op::searchsorted,
               []<class T>(std::type_identity<T>) -> Kernel { return &searchsorted_kernel<T>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
