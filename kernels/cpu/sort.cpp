// CPU kernels for sort, topk and searchsorted along one dim.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
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

// Radix sort for 32- and 64-bit numbers: unsigned keys in less_nan's order (NaN
// last and all equal, -0 equal to +0; descending: the keys inverted), sorted with
// their positions by bytes, least significant first. Each pass is stable, so equal
// values keep their input order, as stable_sort's. No compare branches: a
// comparison sort of random rows mispredicts about every other compare (a row of
// 256 floats: ~11 us with stable_sort, ~2.3 us here).
// 16-bit types take two passes (bfloat16 rows of 10^5 by stable_sort: 1.2-1.3x PyTorch's time).
template <class T>
constexpr bool radix_sortable = std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int32_t> ||
                                std::is_same_v<T, int64_t> || std::is_same_v<T, int16_t> || is_reduced_float_v<T>;
template <class T>
using radix_key_t =
    std::conditional_t<sizeof(T) == 2, uint16_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;

template <class T, class U = radix_key_t<T>>
inline U radix_key(T v) {
  constexpr U sign = U(1) << (sizeof(U) * 8 - 1);
  if constexpr (std::is_floating_point_v<T> || is_reduced_float_v<T>) {
    if (v != v) return ~U(0);
    const U b = v == T(0) ? U(0) : std::bit_cast<U>(v);
    return (b & sign) ? ~b : (b | sign);
  } else {
    return static_cast<U>(v) ^ sign;
  }
}

// Sorts key[0, n) with pos alongside; the result ends in key/pos (the buffers are swapped as needed).
template <class U>
void radix_sort(std::vector<U>& key, std::vector<uint32_t>& pos, std::vector<U>& key2, std::vector<uint32_t>& pos2) {
  constexpr int kPasses = sizeof(U);
  const size_t n = key.size();
  uint32_t count[kPasses * 256] = {};
  for (size_t i = 0; i < n; ++i)
    for (int p = 0; p < kPasses; ++p) ++count[p * 256 + ((key[i] >> (8 * p)) & 255)];
  for (int p = 0; p < kPasses; ++p) {
    uint32_t* c = count + p * 256;
    if (c[(key[0] >> (8 * p)) & 255] == n) continue;  // one byte value: the pass would keep the order
    uint32_t sum = 0;
    for (int d = 0; d < 256; ++d) {
      const uint32_t k = c[d];
      c[d] = sum;
      sum += k;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint32_t at = c[(key[i] >> (8 * p)) & 255]++;
      key2[at] = key[i];
      pos2[at] = pos[i];
    }
    key.swap(key2);
    pos.swap(pos2);
  }
}

template <class T>
void sort_kernel(const KernelCall& c) {
  using A = acc_t<T>;
  const auto& ps = *static_cast<const SortParams*>(c.params);
  const Tensor &a = c.in[0], &vals = c.out[0], &idx = c.out[1];
  const int64_t len = a.shape()[ps.dim], sa = a.strides()[ps.dim], sv = vals.strides()[ps.dim],
                si = idx.strides()[ps.dim];
  if constexpr (radix_sortable<T>) {
    // Short rows: insertion of each element's radix key (its order as an unsigned
    // number, NaN last, flipped for descending) into a sorted buffer on the stack;
    // strict compares keep equal keys in index order. 31 rows of 32 float32: 12.2 ->
    // 7.2 us (PyTorch 8.9); the indirect compares of the stable sort cost more.
    if (len < 64) {
      using U = radix_key_t<T>;
      rows<T>(a, vals, idx, ps.dim, len * 8, [&](const T* x, T* y, int64_t* yi) {
        U key[64];
        int64_t pos[64];
        const U flip = ps.descending ? ~U(0) : U(0);
        for (int64_t j = 0; j < len; ++j) {
          const U kj = radix_key(x[j * sa]) ^ flip;
          int64_t i = j;
          for (; i > 0 && key[i - 1] > kj; --i) key[i] = key[i - 1], pos[i] = pos[i - 1];
          key[i] = kj, pos[i] = j;
        }
        for (int64_t j = 0; j < len; ++j) {
          y[j * sv] = x[pos[j] * sa];
          yi[j * si] = pos[j];
        }
      });
      return;
    }
    // Short rows: the 256-bucket passes cost more than the compares.
    if (len >= 64 && len <= int64_t{UINT32_MAX}) {
      using U = radix_key_t<T>;
      rows<T>(a, vals, idx, ps.dim, len * 8, [&](const T* x, T* y, int64_t* yi) {
        std::vector<U> key(static_cast<size_t>(len)), key2(key.size());
        std::vector<uint32_t> pos(key.size()), pos2(key.size());
        const U flip = ps.descending ? ~U(0) : U(0);
        for (int64_t j = 0; j < len; ++j) {
          key[j] = radix_key(x[j * sa]) ^ flip;
          pos[j] = static_cast<uint32_t>(j);
        }
        radix_sort(key, pos, key2, pos2);
        for (int64_t j = 0; j < len; ++j) {
          y[j * sv] = x[pos[j] * sa];
          yi[j * si] = pos[j];
        }
      });
      return;
    }
  }
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

// topk for k <= kSmallTopk: one pass in index order keeping the k best in a
// sorted buffer; an element enters only when strictly better than the k-th, and
// goes after equal ones, so ties keep the lower index first, as the partial sort's
// order. No order vector per row (10^3 rows of 32: 1.45x PyTorch's time before).
constexpr int64_t kSmallTopk = 16;
template <class T, bool Largest>
void topk_small(const T* x, int64_t len, int64_t sa, int64_t k, T* y, int64_t sv, int64_t* yi, int64_t si) {
  using A = acc_t<T>;
  const auto better = [](A u, A v) { return Largest ? less_nan(v, u) : less_nan(u, v); };
  A bv[kSmallTopk];
  int64_t bi[kSmallTopk];
  int64_t m = 0;
  for (int64_t j = 0; j < len; ++j) {
    const A v = A(x[j * sa]);
    if (m == k) {
      if (!better(v, bv[k - 1])) continue;
      --m;  // the k-th leaves
    }
    int64_t p = m;
    for (; p > 0 && better(v, bv[p - 1]); --p) bv[p] = bv[p - 1], bi[p] = bi[p - 1];
    bv[p] = v, bi[p] = j, ++m;
  }
  for (int64_t j = 0; j < k; ++j) {
    y[j * sv] = x[bi[j] * sa];
    yi[j * si] = bi[j];
  }
}

template <class T>
void topk_kernel(const KernelCall& c) {
  using A = acc_t<T>;
  const auto& ps = *static_cast<const TopkParams*>(c.params);
  const Tensor &a = c.in[0], &vals = c.out[0], &idx = c.out[1];
  const int64_t len = a.shape()[ps.dim], sa = a.strides()[ps.dim], sv = vals.strides()[ps.dim],
                si = idx.strides()[ps.dim], k = ps.k;
  if (k == 0) return;
  if (k <= kSmallTopk && k <= len) {
    rows<T>(a, vals, idx, ps.dim, len * 2, [&](const T* x, T* y, int64_t* yi) {
      if (ps.largest)
        topk_small<T, true>(x, len, sa, k, y, sv, yi, si);
      else
        topk_small<T, false>(x, len, sa, k, y, sv, yi, si);
    });
    return;
  }
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

// Binary searches of 8 values at a time in lockstep: the halving sequence
// depends on the length alone, so each step is one compare and a multiply-add
// per value, no branch (random values mispredicted every other step of the
// branchy loop) and 8 independent load chains in flight. 125 random float32
// values in 1000: 3.4 -> 1.6 us a call (PyTorch 2.3).
template <class T>
void searchsorted_kernel(const KernelCall& c) {
  // Compared as T where T is a C++ float or integer (exact), else (half types) as float.
  using A = std::conditional_t<std::is_arithmetic_v<T>, T, acc_t<T>>;
  const bool right = static_cast<const SearchParams*>(c.params)->right;
  const Tensor &seq = c.in[0], &vals = c.in[1], &out = c.out[0];
  const int64_t m = seq.shape().back(), n = vals.shape().back();
  const int64_t rows_n = vals.numel() / std::max<int64_t>(n, 1);
  const bool shared = seq.dim() == 1;  // one sequence for every row of values
  // reshape may copy a strided input: take strides from the reshaped views.
  const Tensor v2 = vals.reshape({rows_n, n}), o2 = out.view({rows_n, n});
  const Tensor s2 = shared ? seq.unsqueeze(0) : seq.reshape({rows_n, m});
  const int64_t ss = s2.strides()[1], sv = v2.strides()[1], so = o2.strides()[1];
  // True while s lies before x's position: s > x (right) or s >= x (left) ends it.
  const auto before = [right](A s, A x) -> int64_t { return right ? !less_nan(x, s) : less_nan(s, x); };
  // With no NaN among the values searched (NaN sorts last), that is s <= x or s < x:
  // one compare, no NaN tests (125 float32 values in 1000: 2.8 -> 2.2 us a call
  // through `_C`, PyTorch 2.25; compared as float, not double, too).
  const auto le = [](A s, A x) -> int64_t { return s <= x; };
  const auto lt = [](A s, A x) -> int64_t { return s < x; };
  constexpr int64_t G = 8;
  // Narrows base[k] to the last step for the G values x; returns the length left (1, or 0 when m is 0).
  const auto search = [&](const T* sp, const A* x, int64_t* base, auto cmp) {
    int64_t len = m;  // the position lies in [base, base + len]
    for (; len > 1; len -= len / 2) {
      const int64_t half = len / 2;
      for (int64_t k = 0; k < G; ++k) base[k] += half * cmp(A(sp[(base[k] + half - 1) * ss]), x[k]);
    }
    return len;
  };
  parallel_for(rows_n, n * 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* sp = static_cast<const T*>(s2.data_ptr()) + (shared ? 0 : r * s2.strides()[0]);
      const T* vp = static_cast<const T*>(v2.data_ptr()) + r * v2.strides()[0];
      int64_t* op = static_cast<int64_t*>(o2.data_ptr()) + r * o2.strides()[0];
      for (int64_t j0 = 0; j0 < n; j0 += G) {
        const int64_t g = std::min(G, n - j0);
        A x[G];
        int64_t base[G] = {};
        bool plain = true;
        for (int64_t k = 0; k < G; ++k) {
          x[k] = A(vp[std::min(j0 + k, n - 1) * sv]);  // the tail repeats a value
          if constexpr (std::is_floating_point_v<A>) plain = plain && !std::isnan(x[k]);
        }
        const int64_t len = !plain  ? search(sp, x, base, before)
                            : right ? search(sp, x, base, le)
                                    : search(sp, x, base, lt);
        for (int64_t k = 0; k < g; ++k)
          op[(j0 + k) * so] = base[k] + (len == 1 ? before(A(sp[base[k] * ss]), x[k]) : 0);
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
