#pragma once
// Derivative rules: one function per differentiable op (or family), called by
// the op after its forward when autograd::needs_grad held. Each records one
// node whose backward is written with tessel ops, so it is differentiable too.
#include <functional>
#include <optional>

#include "tessel/autograd.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel::autograd {

// Runs `forward` below autograd when `rec` (its inner ops record nothing),
// then hands the result to `rule`.
template <class F, class R>
auto recorded(bool rec, F&& forward, R&& rule) {
  if (!rec) return forward();
  auto out = [&] {
    NoGradGuard guard;
    return forward();
  }();
  rule(out);
  return out;
}

// An in-place op on `self` under autograd: computes f(self) out of place (on
// a copy when f reads self, so that values saved for backward stay intact),
// writes the result into self and moves its history onto self.
const Tensor& inplace(const char* name, const Tensor& self, bool reads_self,
                      const std::function<Tensor(const Tensor&)>& f);

// A scalar or tensor operand kept for backward.
struct SavedOperand {
  SavedOperand() = default;
  explicit SavedOperand(const Operand& o);
  Tensor get(DType dtype, Device device) const;  // scalars as 0-d tensors
  SavedTensor tensor;
  Scalar scalar;
  bool is_tensor = false;
};

// 1 - t, common in derivative formulas.
inline Tensor rsub_one(const Tensor& t) { return sub(Scalar(1.0), t); }

namespace rules {
// elementwise (rules_elementwise.cpp)
void binary(OpId id, const Operand& a, const Operand& b, const Tensor& out);
void where(const Tensor& cond, const Operand& a, const Operand& b, const Tensor& out);
void lerp(const Tensor& start, const Tensor& end, const Operand& weight, const Tensor& out);
void unary(OpId id, const Tensor& a, const Tensor& out, const void* params);
void clamp(const Tensor& a, const std::optional<Scalar>& min, const std::optional<Scalar>& max, const Tensor& out);
// reductions (rules_reduce.cpp)
void sum(const Tensor& a, const Shape& dims, bool keepdim, const Tensor& out, double scale = 1.0);
void extreme(const char* name, const Tensor& a, const Shape& dims, bool keepdim, const Tensor& out);
void extreme_dim(const char* name, const Tensor& a, int64_t dim, bool keepdim, const Tensor& values,
                 const Tensor& indices);
void norm2(const Tensor& a, const Shape& dims, bool keepdim, const Tensor& out);
void logsumexp(const Tensor& a, const Shape& dims, const Tensor& out);  // real a
// var of real a with `mean` its mean over dims (kept dims) and `scale` 2 / (N - correction).
void var(const Tensor& a, const Shape& dims, const Tensor& mean, double scale, const Tensor& out);
void prod(const Tensor& a, const Shape& dims, bool keepdim, const Tensor& out);
void cumsum(const Tensor& a, int64_t dim, const Tensor& out);
void cumprod(const Tensor& a, int64_t dim, const Tensor& out);
void softmax(const Tensor& a, int64_t dim, const Tensor& out);
void log_softmax(const Tensor& a, int64_t dim, const Tensor& out);
// linear algebra (rules_linalg.cpp)
void matmul(const Tensor& a, const Tensor& b, const Tensor& out);
void linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias, const Tensor& out);
// fused nn kernels (rules_nn.cpp); `reference` recomputes the op with
// differentiable ops, for create_graph
void conv2d(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias, const ConvParams& p,
            const Tensor& out,
            std::function<Tensor(const Tensor&, const Tensor&, const std::optional<Tensor>&)> reference);
// mean and invstd: the batch statistics the forward kernel returned (constants)
void batch_norm(const Tensor& x, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
                const Tensor& mean, const Tensor& invstd, double eps, const Tensor& out);
// nll_loss over [N, C] scores (target [N], the class weights or none, the summed
// weight the forward returned); the gradient is linear in g, written with ops
// under create_graph
void nll_loss(const Tensor& x, const Tensor& target, const std::optional<Tensor>& weight, int64_t ignore_index,
              bool mean, const Tensor& wsum, const Tensor& out);
// avg_pool2d's window sums (avg_pool2d_sums): a linear map of x, whose first-order
// backward is its transpose kernel; `reference` recomputes the sums with ops from
// a given input, for create_graph
void avg_pool2d_sums(const Tensor& x, const PoolParams& p, const Tensor& out,
                     std::function<Tensor(const Tensor&)> reference);
// indices: per output, the flat position (h * W + w) of its maximum in the input plane
void max_pool2d(const Tensor& x, const Tensor& indices, const Tensor& out);
// shape, views and copies (rules_shape.cpp)
void cat(const Tensors& tensors, int64_t dim, const Tensor& out);
void flip(const Tensor& a, const Shape& dims, const Tensor& out);
void pad(const Tensor& a, const Shape& pads, const Tensor& out);
void reshape(const char* name, const Tensor& a, const Tensor& out);
void permute(const Tensor& a, const Shape& dims, const Tensor& out);
void expand(const Tensor& a, const Tensor& out);
// A view whose elements are picked by `view_fn` (slice, select, diagonal, ...).
void view(const char* name, const Tensor& a, const Tensor& out, std::function<Tensor(const Tensor&)> view_fn,
          bool may_overlap = false);
void copy(const char* name, const Tensor& a, const Tensor& out);  // clone, to(dtype), to(device)
// indexing and sorting (rules_index.cpp)
void index(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& out);
void index_put(const Tensor& t, const std::vector<TensorIndex>& indices, const Tensor& value, const Tensor& out);
void gather(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& out);
void index_select(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& out);
void scatter(const char* name, const Tensor& t, int64_t dim, const Tensor& index, const Tensor& src, bool add,
             const Tensor& out);
void index_add(const Tensor& t, int64_t dim, const Tensor& index, const Tensor& source, const Scalar& alpha,
               const Tensor& out);
void sort(const char* name, const Tensor& a, int64_t dim, const Tensor& values, const Tensor& indices);
}  // namespace rules

}  // namespace tessel::autograd
