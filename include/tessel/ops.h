#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "tessel/elementwise.h"
#include "tessel/tensor.h"

namespace tessel {

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = Device(DeviceType::CPU);
  TensorOptions() : dtype(default_float_dtype()) {}
  TensorOptions(DType d) : dtype(d) {}  // NOLINT
  TensorOptions(DType d, Device dev) : dtype(d), device(dev) {}
};

// ---- creation (src/ops/creation.cpp) ----
TESSEL_API Tensor empty(const Shape& shape, TensorOptions opts = {});
TESSEL_API Tensor zeros(const Shape& shape, TensorOptions opts = {});
TESSEL_API Tensor ones(const Shape& shape, TensorOptions opts = {});
TESSEL_API Tensor full(const Shape& shape, const Scalar& value, TensorOptions opts);
TESSEL_API Tensor full(const Shape& shape, const Scalar& value);  // dtype from the value
TESSEL_API Tensor empty_like(const Tensor& t);
TESSEL_API Tensor zeros_like(const Tensor& t);
TESSEL_API Tensor ones_like(const Tensor& t);
TESSEL_API Tensor full_like(const Tensor& t, const Scalar& value);
TESSEL_API Tensor scalar_tensor(const Scalar& value, TensorOptions opts);
// dtype from the arguments as in PyTorch: int64 for integer arguments, else the default float.
TESSEL_API Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, std::optional<DType> dtype = {},
                         Device device = {});
TESSEL_API Tensor arange(const Scalar& end);
TESSEL_API Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
TESSEL_API Tensor eye(int64_t n, std::optional<int64_t> m = {}, TensorOptions opts = {});
// Copies host values into a new tensor of the given shape.
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape);

// ---- random (src/ops/random.cpp): Philox counter-based, so results do not depend on threads ----
TESSEL_API void manual_seed(uint64_t seed);
TESSEL_API uint64_t initial_seed();
TESSEL_API Tensor rand(const Shape& shape, TensorOptions opts = {});
TESSEL_API Tensor randn(const Shape& shape, TensorOptions opts = {});
TESSEL_API Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts = DType::Int64);
TESSEL_API const Tensor& uniform_(const Tensor& t, double from = 0.0, double to = 1.0);
TESSEL_API const Tensor& normal_(const Tensor& t, double mean = 0.0, double std = 1.0);
// 1 with probability p (elementwise), in p's dtype.
TESSEL_API Tensor bernoulli(const Tensor& p);
TESSEL_API const Tensor& bernoulli_(const Tensor& t, double p);
// Indices drawn per row of (unnormalized) weights; without replacement no index repeats in a row.
TESSEL_API Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false);
TESSEL_API Tensor randperm(int64_t n, TensorOptions opts = DType::Int64);
// Zeroes elements with probability p and scales the rest by 1 / (1 - p) (identity unless training).
TESSEL_API Tensor dropout(const Tensor& t, double p = 0.5, bool training = true);

// ---- promotion (src/core/promotion.cpp) ----
// An op's operand for dtype inference: a tensor, or a weak Python-like scalar.
using Operand = std::variant<const Tensor*, Scalar>;
TESSEL_API DType result_type(std::initializer_list<Operand> operands);
TESSEL_API Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
TESSEL_API Tensor broadcast_to(const Tensor& t, const Shape& shape);

// ---- reductions (src/ops/reduce.cpp); empty `dims` means all dims ----
TESSEL_API Tensor sum(const Tensor& a, const Shape& dims = {}, bool keepdim = false, std::optional<DType> dtype = {});
TESSEL_API Tensor mean(const Tensor& a, const Shape& dims = {}, bool keepdim = false, std::optional<DType> dtype = {});
TESSEL_API Tensor amax(const Tensor& a, const Shape& dims = {}, bool keepdim = false);
TESSEL_API Tensor amin(const Tensor& a, const Shape& dims = {}, bool keepdim = false);
TESSEL_API Tensor max(const Tensor& a);  // all elements
TESSEL_API Tensor min(const Tensor& a);
// Values and int64 indices along one dim (first occurrence; NaN wins, as in PyTorch).
TESSEL_API std::tuple<Tensor, Tensor> max(const Tensor& a, int64_t dim, bool keepdim = false);
TESSEL_API std::tuple<Tensor, Tensor> min(const Tensor& a, int64_t dim, bool keepdim = false);
TESSEL_API Tensor prod(const Tensor& a, const Shape& dims = {}, bool keepdim = false, std::optional<DType> dtype = {});
// Index of the first extreme; without a dim, into the flattened tensor.
TESSEL_API Tensor argmax(const Tensor& a, std::optional<int64_t> dim = {}, bool keepdim = false);
TESSEL_API Tensor argmin(const Tensor& a, std::optional<int64_t> dim = {}, bool keepdim = false);
// Two-pass variance: sum((x - mean)^2) / max(N - correction, 0).
TESSEL_API Tensor var(const Tensor& a, const Shape& dims = {}, double correction = 1, bool keepdim = false);
TESSEL_API Tensor std(const Tensor& a, const Shape& dims = {}, double correction = 1, bool keepdim = false);
// Vector p-norm over dims (all elements by default): p = 0, 1, 2, inf, -inf or any other real.
TESSEL_API Tensor norm(const Tensor& a, double p = 2, const Shape& dims = {}, bool keepdim = false);
TESSEL_API Tensor logsumexp(const Tensor& a, const Shape& dims, bool keepdim = false);
TESSEL_API Tensor all(const Tensor& a, const Shape& dims = {}, bool keepdim = false);
TESSEL_API Tensor any(const Tensor& a, const Shape& dims = {}, bool keepdim = false);
TESSEL_API Tensor count_nonzero(const Tensor& a, const Shape& dims = {});
TESSEL_API Tensor cumsum(const Tensor& a, int64_t dim, std::optional<DType> dtype = {});
TESSEL_API Tensor cumprod(const Tensor& a, int64_t dim, std::optional<DType> dtype = {});
TESSEL_API Tensor softmax(const Tensor& a, int64_t dim, std::optional<DType> dtype = {});
TESSEL_API Tensor log_softmax(const Tensor& a, int64_t dim, std::optional<DType> dtype = {});

// ---- linear algebra (src/ops/linalg.cpp) ----
TESSEL_API Tensor matmul(const Tensor& a, const Tensor& b);
TESSEL_API Tensor mm(const Tensor& a, const Tensor& b);   // 2-D only
TESSEL_API Tensor bmm(const Tensor& a, const Tensor& b);  // 3-D only, equal batch
TESSEL_API Tensor mv(const Tensor& m, const Tensor& v);
TESSEL_API Tensor dot(const Tensor& a, const Tensor& b);   // 1-D, no promotion
TESSEL_API Tensor vdot(const Tensor& a, const Tensor& b);  // conj(a) . b
TESSEL_API Tensor outer(const Tensor& a, const Tensor& b);
// beta * input + alpha * (m1 @ m2); with beta = 0, input is not read.
TESSEL_API Tensor addmm(const Tensor& input, const Tensor& m1, const Tensor& m2, const Scalar& beta = 1,
                        const Scalar& alpha = 1);
// beta * input + alpha * (b1 @ b2) for batches of matrices [B, n, m] @ [B, m, p].
TESSEL_API Tensor baddbmm(const Tensor& input, const Tensor& b1, const Tensor& b2, const Scalar& beta = 1,
                          const Scalar& alpha = 1);
// x @ weight^T + bias (weight [out, in]); transposed weights need no copy.
TESSEL_API Tensor linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias = {});
// Contracts the last `dims` dims of a with the first `dims` of b.
TESSEL_API Tensor tensordot(const Tensor& a, const Tensor& b, int64_t dims = 2);
TESSEL_API Tensor tensordot(const Tensor& a, const Tensor& b, const Shape& dims_a, const Shape& dims_b);
// Einstein summation ("bij,bjk->bik", "...ij,...jk", implicit output, repeated
// indices for diagonals); contractions run as batched matmuls.
TESSEL_API Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands);

// ---- shape (src/ops/shape.cpp) ----
TESSEL_API Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
TESSEL_API Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Views: pieces of `split_size` (the last may be smaller), or of the given sizes.
TESSEL_API std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim = 0);
TESSEL_API std::vector<Tensor> split(const Tensor& t, const Shape& sizes, int64_t dim = 0);
TESSEL_API std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim = 0);
TESSEL_API std::vector<Tensor> unbind(const Tensor& t, int64_t dim = 0);
TESSEL_API Tensor flip(const Tensor& t, const Shape& dims);
// Without dims, rolls the flattened tensor and restores the shape.
TESSEL_API Tensor roll(const Tensor& t, const Shape& shifts, const Shape& dims = {});
TESSEL_API Tensor repeat(const Tensor& t, const Shape& repeats);  // Tensor.repeat
TESSEL_API Tensor tile(const Tensor& t, const Shape& reps);
TESSEL_API Tensor repeat_interleave(const Tensor& t, int64_t repeats, std::optional<int64_t> dim = {});
TESSEL_API Tensor repeat_interleave(const Tensor& t, const Tensor& repeats, std::optional<int64_t> dim = {});
TESSEL_API Tensor tril(const Tensor& t, int64_t diagonal = 0);
TESSEL_API Tensor triu(const Tensor& t, int64_t diagonal = 0);
// pad = (left, right) for the last dim, then (top, bottom) for the one before, ...
// mode: constant (negative pads crop), reflect, replicate, circular.
TESSEL_API Tensor pad(const Tensor& t, const Shape& pad, const std::string& mode = "constant", double value = 0);

// ---- indexing (src/ops/index.cpp) ----
// One entry of a subscript, as Python's t[...] accepts.
struct TensorIndex {
  enum class Kind : uint8_t { Int, Slice, None, Ellipsis, Tensor };
  Kind kind = Kind::Ellipsis;
  int64_t i = 0;  // Int
  std::optional<int64_t> start, stop, step;  // Slice
  tessel::Tensor tensor;  // bool mask or integer indices

  static TensorIndex integer(int64_t v) { TensorIndex x; x.kind = Kind::Int; x.i = v; return x; }
  static TensorIndex slice(std::optional<int64_t> a = {}, std::optional<int64_t> b = {},
                           std::optional<int64_t> s = {}) {
    TensorIndex x; x.kind = Kind::Slice; x.start = a; x.stop = b; x.step = s; return x;
  }
  static TensorIndex none() { TensorIndex x; x.kind = Kind::None; return x; }
  static TensorIndex ellipsis() { return TensorIndex{}; }
  static TensorIndex with(tessel::Tensor t) { TensorIndex x; x.kind = Kind::Tensor; x.tensor = std::move(t); return x; }
};
// t[indices]: a view for basic indexing, a copy when a tensor index is present.
TESSEL_API Tensor index(const Tensor& t, const std::vector<TensorIndex>& indices);
// t[indices] = value (value broadcast to the indexed shape and cast to t's dtype).
TESSEL_API Tensor index_put(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& value);
TESSEL_API void index_put_(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& value);
TESSEL_API Tensor nonzero(const Tensor& t);  // [n, ndim] int64
TESSEL_API Tensor gather(const Tensor& t, int64_t dim, const Tensor& index);
TESSEL_API Tensor scatter(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);
TESSEL_API Tensor scatter(const Tensor& t, int64_t dim, const Tensor& index, const Scalar& value);
TESSEL_API Tensor scatter_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);
TESSEL_API const Tensor& scatter_(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);
TESSEL_API const Tensor& scatter_(const Tensor& t, int64_t dim, const Tensor& index, const Scalar& value);
TESSEL_API const Tensor& scatter_add_(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src);
TESSEL_API Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index);
TESSEL_API Tensor index_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& source,
                            const Scalar& alpha = 1);
TESSEL_API const Tensor& index_add_(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& source,
                                    const Scalar& alpha = 1);
TESSEL_API Tensor masked_fill(const Tensor& t, const Tensor& mask, const Scalar& value);
TESSEL_API const Tensor& masked_fill_(const Tensor& t, const Tensor& mask, const Scalar& value);
TESSEL_API Tensor masked_select(const Tensor& t, const Tensor& mask);
TESSEL_API Tensor take(const Tensor& t, const Tensor& index);  // into the flattened tensor

// ---- sorting and searching (src/ops/sort.cpp); sorts are stable, NaN is the largest value ----
TESSEL_API std::tuple<Tensor, Tensor> sort(const Tensor& t, int64_t dim = -1, bool descending = false);
TESSEL_API Tensor argsort(const Tensor& t, int64_t dim = -1, bool descending = false);
// Values and indices of the k largest (or smallest), in sorted order.
TESSEL_API std::tuple<Tensor, Tensor> topk(const Tensor& t, int64_t k, int64_t dim = -1, bool largest = true);
// The k-th smallest (1-based) along dim.
TESSEL_API std::tuple<Tensor, Tensor> kthvalue(const Tensor& t, int64_t k, int64_t dim = -1, bool keepdim = false);
// Sorted unique values of the flattened tensor, the inverse indices (input's shape) and counts.
TESSEL_API std::tuple<Tensor, Tensor, Tensor> unique(const Tensor& t);
// The distinct slices along `dim` in lexicographic order (torch.unique(dim=)):
// the slices stacked along dim, the inverse indices [size(dim)] and counts.
// NaNs compare equal to each other here, as in unique above.
TESSEL_API std::tuple<Tensor, Tensor, Tensor> unique(const Tensor& t, int64_t dim);
// Insertion points of values in sorted rows (the last dim), like numpy.searchsorted.
TESSEL_API Tensor searchsorted(const Tensor& sorted, const Tensor& values, bool right = false);

// ---- quantization (src/ops/quantize.cpp): int8/uint8, round half to even, saturating ----
// q = clamp(round(x / scale) + zero_point, qmin, qmax); dequantize: (q - zero_point) * scale.
TESSEL_API Tensor quantize_per_tensor(const Tensor& x, double scale, int64_t zero_point, DType dtype = DType::Int8);
TESSEL_API Tensor dequantize(const Tensor& q, double scale, int64_t zero_point, DType dtype = DType::Float32);
// One scale and zero point per index of `axis` (scales floating, zero points integer, both 1-D).
TESSEL_API Tensor quantize_per_channel(const Tensor& x, const Tensor& scales, const Tensor& zero_points, int64_t axis,
                                       DType dtype = DType::Int8);
TESSEL_API Tensor dequantize_per_channel(const Tensor& q, const Tensor& scales, const Tensor& zero_points,
                                         int64_t axis, DType dtype = DType::Float32);

// ---- C++ operators ----
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, const Scalar& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Scalar& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Scalar& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Scalar& b) { return div(a, b); }
inline Tensor operator+(const Scalar& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Scalar& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Scalar& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Scalar& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
// Compound assignment works in place (PyTorch's semantics: the tensor's dtype is kept).
inline Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
inline Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
inline Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
inline Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }
inline Tensor& operator+=(Tensor& a, const Scalar& b) { return a.add_(b); }
inline Tensor& operator-=(Tensor& a, const Scalar& b) { return a.sub_(b); }
inline Tensor& operator*=(Tensor& a, const Scalar& b) { return a.mul_(b); }
inline Tensor& operator/=(Tensor& a, const Scalar& b) { return a.div_(b); }

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  TS_CHECK(shape_numel(shape) == static_cast<int64_t>(values.size()), ValueError, "from_vector", "shape ", shape,
           " needs ", shape_numel(shape), " values, got ", values.size());
  Tensor t = empty(shape, TensorOptions(dtype_v<T>));
  T* p = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}

}  // namespace tessel
