// CPU kernels for take_offsets, put_offsets (advanced indexing), nonzero and
// by name gather_rows (gather's forward) and index_add_rows (the gather /
// index_select backward).
// Indexing only moves elements, so one kernel per element size serves all dtypes.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"

namespace tessel::cpu {
namespace {

template <class T>
void take(const KernelCall& c) {
  const T* src = static_cast<const T*>(c.in[0].data_ptr());
  for_each<2>({&c.out[0], &c.in[1]}, [src](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      *reinterpret_cast<T*>(p[0] + i * s[0]) = src[*reinterpret_cast<const int64_t*>(p[1] + i * s[1])];
  });
}

template <class T>
void put(const KernelCall& c) {
  T* dst = static_cast<T*>(c.out[0].data_ptr());
  // Serial: with repeated offsets the last write wins, deterministically.
  for_each_serial<2>({&c.in[0], &c.in[1]}, [dst](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      dst[*reinterpret_cast<const int64_t*>(p[1] + i * s[1])] = *reinterpret_cast<const T*>(p[0] + i * s[0]);
  });
}

template <class T>
void put_add(const KernelCall& c) {
  T* dst = static_cast<T*>(c.out[0].data_ptr());
  for_each_serial<2>({&c.in[0], &c.in[1]}, [dst](char** p, const int64_t* s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      T& d = dst[*reinterpret_cast<const int64_t*>(p[1] + i * s[1])];
      const T v = *reinterpret_cast<const T*>(p[0] + i * s[0]);
      if constexpr (std::is_same_v<T, bool>) d = d || v;
      else d = static_cast<T>(acc_t<T>(d) + acc_t<T>(v));
    }
  });
}

// Scatter-add by rows for the backwards of gather and index_select/embedding
// (by name, "index_add_rows"): in g [O, K, I] and index (int64, contiguous):
// either [O, K, I] (gather along the middle dim) or [K] (index_select); out
// [O, N, I] contiguous, written whole (zeros first). Every output element is
// summed by one task, in k order, so the result does not depend on the thread
// count and needs no atomics: tasks are slabs o x column blocks (gather) or
// o x destination-row ranges (index_select: each task scans all K indices and
// adds only the rows it owns). Indices are in range (the forward checked them).
template <class T>
void index_add_rows(const KernelCall& c) {
  const Tensor &g = c.in[0], &ix = c.in[1];
  const Tensor& out = c.out[0];
  const int64_t O = out.shape()[0], N = out.shape()[1], I = out.shape()[2], K = g.shape()[1];
  const T* pg = static_cast<const T*>(g.data_ptr());
  const int64_t* pi = static_cast<const int64_t*>(ix.data_ptr());
  T* po = static_cast<T*>(out.data_ptr());
  const auto add = [](T& d, T v) {
    if constexpr (std::is_same_v<T, bool>) d = d || v;
    else d = static_cast<T>(acc_t<T>(d) + acc_t<T>(v));
  };
  const int64_t nt = std::max<int64_t>(omp_get_max_threads(), 1);
  if (ix.dim() == 1) {
    // Row ranges only split work across threads; with enough slabs one per slab.
    const int64_t rb = O >= nt ? 1 : std::min<int64_t>(N, (nt + O - 1) / O);
    parallel_for(O * rb, (K * I) / std::max<int64_t>(rb, 1) + K + N * I / rb, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t o = t / rb, b = t % rb;
        const int64_t n0 = N * b / rb, n1 = N * (b + 1) / rb;
        T* slab = po + o * N * I;
        std::fill(slab + n0 * I, slab + n1 * I, T(0));
        const T* gs = pg + o * K * I;
        for (int64_t k = 0; k < K; ++k) {
          const int64_t n = pi[k];
          if (n < n0 || n >= n1) continue;
          T* dst = slab + n * I;
          const T* src = gs + k * I;
          for (int64_t i = 0; i < I; ++i) add(dst[i], src[i]);
        }
      }
    });
    return;
  }
  // gather: column blocks of a slab when there are too few slabs to share.
  constexpr int64_t kCols = 256;
  const int64_t cb = O >= nt ? 1 : std::max<int64_t>(1, std::min((I + kCols - 1) / kCols, (nt + O - 1) / O));
  parallel_for(O * cb, K * I / cb * 2, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t o = t / cb, b = t % cb;
      const int64_t i0 = I * b / cb, i1 = I * (b + 1) / cb;
      T* slab = po + o * N * I;
      if (cb == 1) std::fill(slab, slab + N * I, T(0));
      else
        for (int64_t n = 0; n < N; ++n) std::fill(slab + n * I + i0, slab + n * I + i1, T(0));
      for (int64_t k = 0; k < K; ++k) {
        const int64_t* ik = pi + (o * K + k) * I;
        const T* gk = pg + (o * K + k) * I;
        for (int64_t i = i0; i < i1; ++i) add(slab[ik[i] * I + i], gk[i]);
      }
    }
  });
}

template <class T>
inline bool is_nonzero(T v) {
  if constexpr (is_reduced_float_v<T>)
    return static_cast<float>(v) != 0.0f;
  else
    return v != T(0);
}

// The row-major indices of a's nonzero elements. A contiguous input is walked
// row by row (of its last dim) and written branch-free (random masks mispredict
// half the time) in blocks: each element's index row goes to a scratch block,
// the cursor moves past it when the element is nonzero, and the kept rows are
// copied out.
template <class T>
void nonzero(const KernelCall& c) {
  const Tensor& a = c.in[0];
  const int64_t nd = a.dim();
  int64_t* out = c.out[0].data<int64_t>();
  const int64_t count = c.out[0].shape()[0];
  std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
  if (a.is_contiguous() && nd >= 1) {
    // Rows of the last dim; idx holds the outer dims' index of the current row.
    const T* x = static_cast<const T*>(a.data_ptr());
    constexpr int64_t kBlock = 512;
    std::vector<int64_t> rows(static_cast<size_t>((kBlock + 1) * nd));
    int64_t* r = rows.data();
    const int64_t last = a.shape()[nd - 1], outer = a.numel() / last;
    int64_t k = 0;
    for (int64_t o = 0; o < outer && k < count; ++o) {
      const T* xo = x + o * last;
      for (int64_t j0 = 0; j0 < last && k < count; j0 += kBlock) {
        const int64_t m = std::min(kBlock, last - j0);
        int64_t kept = 0;
        if (nd == 1) {
          for (int64_t j = 0; j < m; ++j) {
            r[kept] = j0 + j;
            kept += is_nonzero(xo[j0 + j]);
          }
        } else if (nd == 2) {
          for (int64_t j = 0; j < m; ++j) {
            r[2 * kept] = o;
            r[2 * kept + 1] = j0 + j;
            kept += is_nonzero(xo[j0 + j]);
          }
        } else {
          for (int64_t j = 0; j < m; ++j) {
            int64_t* row = r + kept * nd;
            for (int64_t d = 0; d + 1 < nd; ++d) row[d] = idx[d];
            row[nd - 1] = j0 + j;
            kept += is_nonzero(xo[j0 + j]);
          }
        }
        kept = std::min(kept, count - k);
        std::copy(r, r + kept * nd, out + k * nd);
        k += kept;
      }
      for (int64_t d = nd - 2; d >= 0 && ++idx[d] == a.shape()[d]; --d) idx[d] = 0;
    }
    return;
  }
  const char* base = static_cast<const char*>(a.data_ptr());
  int64_t k = 0;
  for (int64_t lin = 0; lin < a.numel() && k < count; ++lin) {
    int64_t off = 0;
    for (int64_t d = 0; d < nd; ++d) off += idx[d] * a.strides()[d];
    if (is_nonzero(*reinterpret_cast<const T*>(base + off * static_cast<int64_t>(sizeof(T))))) {
      for (int64_t d = 0; d < nd; ++d) out[k * nd + d] = idx[d];
      ++k;
    }
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < a.shape()[d]) break;
      idx[d] = 0;
    }
  }
}

// gather along the middle dim of contiguous [O, N, I] rows (by name,
// "gather_rows"): in t [O, N, I], index [O, K, I] (int64, contiguous); out
// [O, K, I] and a 1-element int64 flag set to 1 when an index lies outside
// [0, N) (that element reads index 0, an in-bounds load without a branch, and
// the caller raises): the range check and
// the copy in one pass, without the offset tensor take_offsets needs.
template <class T>
void gather_rows(const KernelCall& c) {
  const Tensor &t = c.in[0], &ix = c.in[1];
  const int64_t O = t.shape()[0], N = t.shape()[1], I = t.shape()[2], K = ix.shape()[1];
  const T* pt = static_cast<const T*>(t.data_ptr());
  const int64_t* pi = static_cast<const int64_t*>(ix.data_ptr());
  T* po = static_cast<T*>(c.out[0].data_ptr());
  std::atomic<bool> bad{false};
  parallel_for(O * K, I * 2, [&](int64_t lo, int64_t hi) {
    bool b = false;
    int64_t o = lo / K, k = lo % K;  // stepped along, no division per row
    for (int64_t r = lo; r < hi;) {
      const T* src = pt + o * N * I;
      const int64_t end = std::min(hi, r + (K - k));  // the rest of slab o
      const int64_t* ir = pi + r * I;
      T* dst = po + r * I;
      if (I == 1) {  // gather along the last dim: one run over the slab
        for (int64_t j = 0; j < end - r; ++j) {
          const int64_t n = ir[j];
          const bool ok = static_cast<uint64_t>(n) < static_cast<uint64_t>(N);
          b |= !ok;
          dst[j] = src[ok ? n : 0];
        }
      } else {
        for (int64_t j = 0; j < (end - r) * I; j += I)
          for (int64_t i = 0; i < I; ++i) {
            const int64_t n = ir[j + i];
            const bool ok = static_cast<uint64_t>(n) < static_cast<uint64_t>(N);
            b |= !ok;
            dst[j + i] = src[(ok ? n : 0) * I + i];
          }
      }
      r = end;
      ++o;
      k = 0;
    }
    if (b) bad.store(true, std::memory_order_relaxed);
  });
  *static_cast<int64_t*>(c.out[1].data_ptr()) = bad.load() ? 1 : 0;
}

// Same-size stand-ins: moving bytes needs no arithmetic.
template <size_t N>
struct Bytes {
  unsigned char b[N];
};

const bool registered = [] {
  register_for(AllTypes{}, op::take_offsets, []<class T>(std::type_identity<T>) -> Kernel {
    return &take<Bytes<sizeof(T)>>;
  });
  register_for(AllTypes{}, op::put_offsets, []<class T>(std::type_identity<T>) -> Kernel {
    return &put<Bytes<sizeof(T)>>;
  });
  register_for(AllTypes{}, op::put_offsets_add, []<class T>(std::type_identity<T>) -> Kernel { return &put_add<T>; });
  register_for(AllTypes{}, op::nonzero, []<class T>(std::type_identity<T>) -> Kernel { return &nonzero<T>; });
  // By name: registry.h's builtin op list stays as it is. index_add_rows serves
  // gradients only, so floating types.
  const OpId rows = Registry::get().op_id("index_add_rows");
  const OpId gr = Registry::get().op_id("gather_rows");
  register_for(AllTypes{}, gr, []<class T>(std::type_identity<T>) -> Kernel { return &gather_rows<Bytes<sizeof(T)>>; });
  register_for(FloatTypes{}, rows, []<class T>(std::type_identity<T>) -> Kernel { return &index_add_rows<T>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
