// CPU kernels for affine quantization (ops "quantize_affine", "dequantize_affine",
// keyed by the float dtype; src/ops/quantize.cpp validates and reshapes):
//   quantize_affine:   in x [outer, C, inner] float, scales [C] float64, zero points [C] int64
//                      -> out int8/uint8 [outer, C, inner]: clamp(rint(x / s) + z), in double,
//                      NaN -> 0 (as the cast does)
//   dequantize_affine: in q [outer, C, inner] int8/uint8, scales, zero points -> out float:
//                      (q - z) * s in double
// One pass instead of the five tensor ops the composite took.
#include <cmath>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"
#include "tessel/kernel.h"
#include "tessel/registry.h"

namespace tessel::cpu {
namespace {


template <class T>
double as_double(T v) {
  if constexpr (std::is_same_v<T, double>) return v;
  else return static_cast<double>(static_cast<float>(v));  // float, Half, BFloat16
}

constexpr int64_t kBlock = 16384;

template <class T, class Q>
TESSEL_CLONES void quantize_row(Q* __restrict o, const T* __restrict a, int64_t n, double s, double z, double lo,
                                double hi) {
  for (int64_t i = 0; i < n; ++i) {
    double v = std::nearbyint(as_double(a[i]) / s) + z;  // x / s in double, as PyTorch: rounding ties to even
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    o[i] = static_cast<Q>(v == v ? v : 0.0);  // NaN -> 0
  }
}

template <class T>
void quantize_kernel(const KernelCall& c) {
  const Tensor &x = c.in[0], &out = c.out[0];
  const int64_t outer = x.shape()[0], C = x.shape()[1], inner = x.shape()[2];
  const double* s = c.in[1].data<double>();
  const int64_t* z = c.in[2].data<int64_t>();
  const T* src = static_cast<const T*>(x.data_ptr());
  const bool i8 = out.dtype() == DType::Int8;
  char* dst = static_cast<char*>(out.data_ptr());
  // Work items are blocks of a row, so that one per-tensor row still spreads over the threads.
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  cpu::for_each_index(outer * C * blocks, outer * C * inner > 65536, [&](int64_t w) {
    const int64_t r = w / blocks, lo = (w % blocks) * kBlock, n = std::min(kBlock, inner - lo);
    const int64_t ch = r % C, at = r * inner + lo;
    if (i8) quantize_row(reinterpret_cast<int8_t*>(dst) + at, src + at, n, s[ch], double(z[ch]), -128.0, 127.0);
    else quantize_row(reinterpret_cast<uint8_t*>(dst) + at, src + at, n, s[ch], double(z[ch]), 0.0, 255.0);
  });
}

template <class T>
void dequantize_kernel(const KernelCall& c) {
  const Tensor &q = c.in[0], &out = c.out[0];
  const int64_t outer = q.shape()[0], C = q.shape()[1], inner = q.shape()[2];
  const double* s = c.in[1].data<double>();
  const int64_t* z = c.in[2].data<int64_t>();
  T* dst = static_cast<T*>(out.data_ptr());
  const bool i8 = q.dtype() == DType::Int8;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  cpu::for_each_index(outer * C * blocks, outer * C * inner > 65536, [&](int64_t w) {
    const int64_t r = w / blocks, lo = (w % blocks) * kBlock, n = std::min(kBlock, inner - lo);
    const int64_t ch = r % C, at = r * inner + lo;
    const double sc = s[ch], zp = double(z[ch]);
    T* o = dst + at;
    if (i8) {
      const int8_t* a = static_cast<const int8_t*>(q.data_ptr()) + at;
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>((double(a[i]) - zp) * sc);
    } else {
      const uint8_t* a = static_cast<const uint8_t*>(q.data_ptr()) + at;
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>((double(a[i]) - zp) * sc);
    }
  });
}

const bool registered = [] {
  auto& reg = Registry::get();
  const OpId qid = reg.op_id("quantize_affine"), did = reg.op_id("dequantize_affine");
  register_for(FloatTypes{}, qid, []<class T>(std::type_identity<T>) -> Kernel { return &quantize_kernel<T>; });
  register_for(FloatTypes{}, did, []<class T>(std::type_identity<T>) -> Kernel { return &dequantize_kernel<T>; });
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
