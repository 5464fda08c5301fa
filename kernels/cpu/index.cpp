// CPU kernels for take_offsets, put_offsets (advanced indexing) and nonzero.
// Indexing only moves elements, so one kernel per element size serves all dtypes.
#include <cstring>

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

template <class T>
void nonzero(const KernelCall& c) {
  const Tensor& a = c.in[0];
  const int64_t nd = a.dim();
  int64_t* out = c.out[0].data<int64_t>();
  const int64_t count = c.out[0].shape()[0];
  std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
  const char* base = static_cast<const char*>(a.data_ptr());
  int64_t k = 0;
  for (int64_t lin = 0; lin < a.numel() && k < count; ++lin) {
    int64_t off = 0;
    for (int64_t d = 0; d < nd; ++d) off += idx[d] * a.strides()[d];
    const T v = *reinterpret_cast<const T*>(base + off * static_cast<int64_t>(sizeof(T)));
    bool nz;
    if constexpr (is_reduced_float_v<T>) nz = static_cast<float>(v) != 0.0f;
    else nz = v != T(0);
    if (nz) {
      for (int64_t d = 0; d < nd; ++d) out[k * nd + d] = idx[d];
      ++k;
    }
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < a.shape()[d]) break;
      idx[d] = 0;
    }
  }
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
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
