// Linear algebra: matmul with NumPy/PyTorch semantics (1-D, 2-D, batched with broadcasting).
#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel {

namespace {
// A [B, R, C] operand whose rows or columns are unit-stride, as kernels
// expect; strides of size-1 dims (arbitrary in views) are made canonical.
Tensor as_batched(const Tensor& t, const Shape& batch) {
  Shape full = batch;
  full.push_back(t.shape()[t.dim() - 2]);
  full.push_back(t.shape()[t.dim() - 1]);
  const int64_t R = full[full.size() - 2], C = full.back();
  Tensor x = broadcast_to(t, full).reshape({shape_numel(batch), R, C});
  Shape st = x.strides();
  const bool row_major = (C == 1 || st[2] == 1) && (R == 1 || st[1] >= C);
  const bool col_major = (R == 1 || st[1] == 1) && (C == 1 || st[2] >= R);
  if ((!row_major && !col_major) || (x.shape()[0] > 1 && st[0] == 0)) {
    x = x.contiguous();
    st = {R * C, C, 1};
  } else if (row_major) {
    st = {x.shape()[0] > 1 ? st[0] : R * C, R == 1 ? C : st[1], 1};
  } else {
    st = {x.shape()[0] > 1 ? st[0] : R * C, 1, C == 1 ? R : st[2]};
  }
  return x.as_strided(x.shape(), st, x.offset());
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  TS_CHECK(a.defined() && b.defined(), ValueError, "matmul", "got an undefined tensor");
  TS_CHECK(a.dim() >= 1 && b.dim() >= 1, ValueError, "matmul", "both arguments need at least 1 dim, got shapes ",
           a.shape(), " and ", b.shape());
  TS_CHECK(a.dtype() == b.dtype(), TypeError, "matmul", "expected both operands to have the same dtype, got ",
           a.dtype(), " and ", b.dtype());
  TS_CHECK(a.device() == b.device(), ValueError, "matmul", "expected both operands on one device, got ", a.device(),
           " and ", b.device());
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const int64_t M = a2.shape()[a2.dim() - 2], K = a2.shape()[a2.dim() - 1];
  const int64_t K2 = b2.shape()[b2.dim() - 2], N = b2.shape()[b2.dim() - 1];
  TS_CHECK(K == K2, ValueError, "matmul", "shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (", K,
           " != ", K2, ")");
  const Shape ba(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
  const Shape batch = broadcast_shapes("matmul", ba, bb);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out;
  if (K == 0 || shape_numel(out_shape) == 0) {
    out = zeros(out_shape, TensorOptions(a.dtype(), a.device()));
  } else {
    const Tensor in[2] = {as_batched(a2, batch), as_batched(b2, batch)};
    out = empty(out_shape, TensorOptions(a.dtype(), a.device()));
    Tensor out3 = out.view({shape_numel(batch), M, N});
    dispatch(op::matmul, a.dtype(), in, {&out3, 1});
  }
  if (a.dim() == 1) out = out.squeeze(-2);
  if (b.dim() == 1) out = out.squeeze(-1);
  return out;
}

}  // namespace tessel
