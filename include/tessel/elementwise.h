#pragma once
// Elementwise ops (src/ops/elementwise.cpp, src/ops/unary.cpp). All broadcast
// like NumPy and promote like PyTorch (docs/tensors.md); `name_` forms work in
// place and keep the tensor's dtype.
#include <optional>
#include <string>

#include "tessel/scalar.h"
#include "tessel/tensor.h"

namespace tessel {

#define TESSEL_BINARY_DECL(name)                                          \
  TESSEL_API Tensor name(const Tensor& a, const Tensor& b);               \
  TESSEL_API Tensor name(const Tensor& a, const Scalar& b);               \
  TESSEL_API Tensor name(const Scalar& a, const Tensor& b);               \
  TESSEL_API const Tensor& name##_(const Tensor& a, const Tensor& b);     \
  TESSEL_API const Tensor& name##_(const Tensor& a, const Scalar& b);
// Arithmetic: add sub mul div (true division) floor_divide remainder (sign of
// the divisor, like Python) fmod (C's: sign of the dividend, exact) pow atan2
// maximum minimum (NaN propagates).
#define TESSEL_BINARY_OPS(X) \
  X(add) X(sub) X(mul) X(div) X(floor_divide) X(remainder) X(fmod) X(pow) X(atan2) X(maximum) X(minimum)
// Comparisons and logical ops return bool; bitwise ops take integers and bool
// (shifts integers only). A shift by a negative count or by the bit width or
// more gives 0 (>> of a negative value: -1); >> is arithmetic for signed types.
#define TESSEL_COMPARE_OPS(X) X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(logical_and) X(logical_or) X(logical_xor)
#define TESSEL_BITWISE_OPS(X) \
  X(bitwise_and) X(bitwise_or) X(bitwise_xor) X(bitwise_left_shift) X(bitwise_right_shift)
TESSEL_BINARY_OPS(TESSEL_BINARY_DECL)
TESSEL_COMPARE_OPS(TESSEL_BINARY_DECL)
TESSEL_BITWISE_OPS(TESSEL_BINARY_DECL)
#undef TESSEL_BINARY_DECL

#define TESSEL_UNARY_DECL(name)              \
  TESSEL_API Tensor name(const Tensor& a);   \
  TESSEL_API const Tensor& name##_(const Tensor& a);
// Floating math: integer and bool inputs compute in the default float dtype.
#define TESSEL_FLOAT_UNARY_OPS(X)                                                                       \
  X(exp) X(log) X(sqrt) X(exp2) X(expm1) X(log2) X(log10) X(log1p) X(rsqrt) X(reciprocal) X(sin) X(cos) \
  X(tan) X(asin) X(acos) X(atan) X(sinh) X(cosh) X(tanh) X(asinh) X(acosh) X(atanh) X(sigmoid) X(erf)   \
  X(erfc) X(erfinv) X(lgamma) X(digamma)
// Same dtype in and out (floor/ceil/trunc/round of integers are copies).
#define TESSEL_SAME_UNARY_OPS(X) \
  X(neg) X(abs) X(square) X(relu) X(sign) X(floor) X(ceil) X(trunc) X(bitwise_not) X(silu) X(hardsigmoid) \
  X(hardswish)
TESSEL_FLOAT_UNARY_OPS(TESSEL_UNARY_DECL)
// The n-th derivative of digamma (n >= 0; polygamma(0, x) is digamma(x)); a float op.
TESSEL_API Tensor polygamma(int64_t n, const Tensor& a);
TESSEL_SAME_UNARY_OPS(TESSEL_UNARY_DECL)
#undef TESSEL_UNARY_DECL

// Complex conjugate; real tensors are returned as they are (no copy), as in PyTorch.
TESSEL_API Tensor conj(const Tensor& a);
TESSEL_API Tensor logical_not(const Tensor& a);  // bool result
TESSEL_API const Tensor& logical_not_(const Tensor& a);
TESSEL_API Tensor isnan(const Tensor& a);
TESSEL_API Tensor isinf(const Tensor& a);
TESSEL_API Tensor isfinite(const Tensor& a);

// Activations with parameters (floating tensors only).
TESSEL_API Tensor leaky_relu(const Tensor& a, double negative_slope = 0.01);
TESSEL_API const Tensor& leaky_relu_(const Tensor& a, double negative_slope = 0.01);
TESSEL_API Tensor elu(const Tensor& a, double alpha = 1.0);
TESSEL_API const Tensor& elu_(const Tensor& a, double alpha = 1.0);
// approximate: "none" (exact, with erf) or "tanh".
TESSEL_API Tensor gelu(const Tensor& a, const std::string& approximate = "none");
TESSEL_API Tensor softplus(const Tensor& a, double beta = 1.0, double threshold = 20.0);

// Round half to even; `decimals` rounds to that many decimal places.
TESSEL_API Tensor round(const Tensor& a, int64_t decimals = 0);
TESSEL_API const Tensor& round_(const Tensor& a, int64_t decimals = 0);
// NaN -> nan, +inf -> posinf (default: the dtype's max), -inf -> neginf (default: lowest).
TESSEL_API Tensor nan_to_num(const Tensor& a, double nan = 0.0, std::optional<double> posinf = {},
                             std::optional<double> neginf = {});
TESSEL_API const Tensor& nan_to_num_(const Tensor& a, double nan = 0.0, std::optional<double> posinf = {},
                                     std::optional<double> neginf = {});
// At least one bound; NaN stays NaN.
TESSEL_API Tensor clamp(const Tensor& a, const std::optional<Scalar>& min, const std::optional<Scalar>& max);
TESSEL_API Tensor clamp(const Tensor& a, const std::optional<Tensor>& min, const std::optional<Tensor>& max);
TESSEL_API const Tensor& clamp_(const Tensor& a, const std::optional<Scalar>& min, const std::optional<Scalar>& max);
// start + weight * (end - start), computed so that weight 0 and 1 give start and end exactly.
TESSEL_API Tensor lerp(const Tensor& start, const Tensor& end, const Scalar& weight);
TESSEL_API Tensor lerp(const Tensor& start, const Tensor& end, const Tensor& weight);
TESSEL_API const Tensor& lerp_(const Tensor& start, const Tensor& end, const Scalar& weight);

TESSEL_API Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
TESSEL_API Tensor where(const Tensor& cond, const Scalar& a, const Tensor& b);
TESSEL_API Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b);
TESSEL_API Tensor where(const Tensor& cond, const Scalar& a, const Scalar& b);

}  // namespace tessel
